//! Jobs side by side: where their specs differ, their summaries with the fold spread, and each
//! job's mean learning curves over its folds, to overlay.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::domain::results::RunKind;
use crate::engine::eval::summary::Stat;
use crate::engine::train::EpochRecord;
use crate::store::Db;

use super::views::{self, JobView};

/// The most jobs one comparison holds.
pub const MAX_COMPARED: usize = 10;

/// A spec field whose value is not the same in every job, with each job's value (`null` where
/// a job's spec lacks it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    pub field: String,
    pub values: Vec<Value>,
}

/// A job's mean losses per epoch over its fold runs (a loss averaged over the runs that reached
/// the epoch), model variant 0's.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Curves {
    pub train_loss: Vec<(u64, f64)>,
    pub holdout_loss: Vec<(u64, f64)>,
}

/// What `GET /v1/compare` answers.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub jobs: Vec<JobView>,
    pub differences: Vec<Difference>,
    /// Per metric, each job's mean and spread across folds (`null` before it succeeded).
    pub summaries: BTreeMap<String, Vec<Option<Stat>>>,
    pub curves: Vec<Curves>,
}

/// The comparison of `jobs` (each found), reading their runs' histories.
pub async fn compare(pool: &Db, jobs: Vec<JobView>) -> anyhow::Result<Comparison> {
    let mut curves = Vec::with_capacity(jobs.len());
    for job in &jobs {
        let mut histories = Vec::new();
        for run in views::runs(pool, &job.id).await? {
            if run.kind == RunKind::Fold && run.variant == 0 {
                histories.push(views::epochs(pool, &run.id).await?.unwrap_or_default());
            }
        }
        curves.push(mean_curves(histories.iter().map(Vec::as_slice)));
    }
    let specs: Vec<Value> = (jobs.iter())
        .map(|j| serde_json::to_value(&j.spec))
        .collect::<Result<_, _>>()?;
    let mut summaries: BTreeMap<String, Vec<Option<Stat>>> = BTreeMap::new();
    for (i, job) in jobs.iter().enumerate() {
        for (metric, stat) in job.summary.iter().flatten() {
            summaries
                .entry(metric.clone())
                .or_insert_with(|| vec![None; jobs.len()])[i] = Some(*stat);
        }
    }
    Ok(Comparison {
        differences: differences(&specs),
        summaries,
        curves,
        jobs,
    })
}

/// The leaf fields (dotted paths; arrays are leaves) whose values differ among `specs`.
pub fn differences(specs: &[Value]) -> Vec<Difference> {
    let flat: Vec<BTreeMap<String, Value>> = (specs.iter())
        .map(|s| {
            let mut out = BTreeMap::new();
            flatten("", s, &mut out);
            out
        })
        .collect();
    let fields: std::collections::BTreeSet<&String> = flat.iter().flat_map(|f| f.keys()).collect();
    fields
        .into_iter()
        .filter_map(|field| {
            let values: Vec<Value> = (flat.iter())
                .map(|f| f.get(field).cloned().unwrap_or(Value::Null))
                .collect();
            let differ = values.iter().any(|v| *v != values[0]);
            differ.then(|| Difference {
                field: field.clone(),
                values,
            })
        })
        .collect()
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        _ => {
            out.insert(prefix.to_string(), value.clone());
        }
    }
}

/// Per epoch, the mean of each loss over the histories that have it.
pub fn mean_curves<'a>(histories: impl IntoIterator<Item = &'a [EpochRecord]>) -> Curves {
    let mut train: BTreeMap<u64, (f64, u32)> = BTreeMap::new();
    let mut holdout: BTreeMap<u64, (f64, u32)> = BTreeMap::new();
    for r in histories.into_iter().flatten() {
        let add = |to: &mut BTreeMap<u64, (f64, u32)>, v: f64| {
            if v.is_finite() {
                let e = to.entry(r.epoch).or_default();
                (e.0, e.1) = (e.0 + v, e.1 + 1);
            }
        };
        add(&mut train, r.train_loss);
        if let Some(h) = r.holdout_loss {
            add(&mut holdout, h);
        }
    }
    let mean = |m: BTreeMap<u64, (f64, u32)>| {
        m.into_iter()
            .map(|(e, (s, n))| (e, s / f64::from(n)))
            .collect()
    };
    Curves {
        train_loss: mean(train),
        holdout_loss: mean(holdout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_fields_that_differ_are_listed_with_every_jobs_value() {
        let specs = [
            json!({"model": {"hidden_layers": [64, 64], "dropout": 0.0}, "seed": 0, "optimizer": {"kind": "adam"}}),
            json!({"model": {"hidden_layers": [64, 64], "dropout": 0.2}, "seed": 0, "optimizer": {"kind": "adam"}}),
            json!({"model": {"hidden_layers": [32], "dropout": 0.0}, "seed": 0, "optimizer": {"kind": "sgd", "momentum": 0.9}}),
        ];
        let d = differences(&specs);
        let fields: Vec<&str> = d.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "model.dropout",
                "model.hidden_layers",
                "optimizer.kind",
                "optimizer.momentum"
            ]
        );
        assert_eq!(d[3].values, [Value::Null, Value::Null, json!(0.9)]);
    }

    #[test]
    fn curves_average_the_runs_that_reached_each_epoch() {
        let rec = |epoch, train_loss, holdout| EpochRecord {
            epoch,
            train_loss,
            holdout_loss: holdout,
            ..serde_json::from_value(json!({"epoch": 1, "train_loss": 0.0, "learning_rate": 0.1,
                "grad_norm": 0.0, "layer_grad_norms": [], "seconds": 0.0, "samples": 0}))
            .unwrap()
        };
        let a = vec![rec(1, 1.0, Some(2.0)), rec(2, 0.5, Some(1.0))];
        let b = vec![rec(1, 3.0, None)];
        let c = mean_curves([a.as_slice(), b.as_slice()]);
        assert_eq!(c.train_loss, [(1, 2.0), (2, 0.5)]);
        assert_eq!(c.holdout_loss, [(1, 2.0), (2, 1.0)]);
    }
}
