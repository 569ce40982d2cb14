//! A job's findings: its runs' findings merged per kind and variant, and the rules that need
//! several runs: class imbalance (scores against the class counts), degradation (a deeper
//! variant training worse than a shallower one), fold variance; the final model's in `final_rule`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::draft::{Draft, folds_of};
use super::remedy::{advice_for, remedy};
use super::rule::explains;
use crate::config::Limits;
use crate::domain::finding::{Finding, Kind, RunFinding, Severity};
use crate::domain::job::{DecisionThreshold, JobSpec, Strategy};
use crate::domain::results::{Variant, variants};
use crate::engine::eval::summary::summarize;
use crate::store::run_data::RunRow;

/// Class imbalance: the largest class at least this many times the smallest…
pub const IMBALANCE_RATIO: f64 = 10.0;
/// …and, with no strategy, balanced accuracy this far below accuracy (mean over folds).
pub const IMBALANCE_GAP: f64 = 0.1;
/// Degradation: the deeper variant's last training loss at least this multiple of the
/// shallower one's, and this much above it.
pub const DEGRADATION_FACTOR: f64 = 2.0;
pub const DEGRADATION_MIN_GAP: f64 = 0.05;
/// Fold variance: the ranked metric's std across folds at least this, and this share of its
/// mean, over at least `FOLD_VARIANCE_FOLDS` folds.
pub const FOLD_VARIANCE_STD: f64 = 0.05;
pub const FOLD_VARIANCE_SHARE: f64 = 0.1;
pub const FOLD_VARIANCE_FOLDS: usize = 3;

/// Kinds one run can show by chance: a warning only when most of the variant's runs show it.
fn needs_most_runs(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Overfitting
            | Kind::Underfitting
            | Kind::UnstableTraining
            | Kind::DeadUnits
            | Kind::SaturatedUnits
    )
}

/// The job's findings, most severe first, then in `Kind`'s order of causes; each remedy is one
/// this server would accept (`checked_remedy`).
pub fn job_findings(spec: &JobSpec, runs: &[RunRow], limits: &Limits) -> Vec<Finding> {
    let mut drafts = merged(runs);
    drafts.extend(class_imbalance(spec, runs));
    let degraded = degradation(spec, runs);
    owned_by_degradation(&mut drafts, &degraded);
    drafts.extend(degraded);
    drafts.extend(fold_variance(spec, runs, &drafts));
    drafts.extend(super::final_rule::final_model(runs));
    drafts.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.kind.cmp(&b.kind))
            .then(a.variant.cmp(&b.variant))
    });
    drafts
        .into_iter()
        .map(|d| {
            let mut folds: Vec<u32> = d.runs.iter().filter_map(|r| r.1).collect();
            folds.sort_unstable();
            folds.dedup();
            Finding {
                id: Finding::id_of(d.kind, d.variant, d.strategy),
                kind: d.kind,
                severity: d.severity,
                variant: d.variant,
                strategy: d.strategy,
                runs_affected: d.runs.len(),
                run_ids: d.runs.into_iter().map(|r| r.0).collect(),
                folds,
                runs_checked: d.runs_checked,
                first_epoch: d.first_epoch,
                layer: d.layer,
                evidence: d.evidence,
                advice: advice_for(d.kind, spec.variant_model(d.variant).kind).to_owned(),
                remedy: checked_remedy(spec, remedy(spec, d.kind, d.variant, limits), limits),
            }
        })
        .collect()
}

/// Each variant's architecture.
fn architectures(spec: &JobSpec) -> impl Iterator<Item = String> + '_ {
    (0..spec.variant_count()).map(|v| spec.variant_model(v).architecture())
}

/// `patch` when the spec it gives is one this server accepts (every field within `limits`, and
/// a fine-tuned job's architecture unchanged, as `init` needs); else `{}`: a remedy that would
/// be a 422 is not offered.
fn checked_remedy(spec: &JobSpec, patch: Value, limits: &Limits) -> Value {
    if patch.as_object().is_some_and(|o| o.is_empty()) {
        return patch;
    }
    let mut patched = serde_json::to_value(spec).unwrap_or(Value::Null);
    json_patch::merge(&mut patched, &patch);
    let valid = JobSpec::from_json(patched).is_ok_and(|p| {
        p.validate(limits).is_empty()
            && (spec.init.is_none() || architectures(&p).eq(architectures(spec)))
    });
    if valid { patch } else { json!({}) }
}

/// A finding's kind, model variant and strategy: what the job's list has one entry for.
type GroupKey = (Kind, usize, Option<Strategy>);

/// Runs' findings, one per kind and variant: the most severe, strongest run's evidence.
fn merged(runs: &[RunRow]) -> Vec<Draft> {
    let mut checked: BTreeMap<(usize, Option<Strategy>), usize> = BTreeMap::new();
    let mut groups: BTreeMap<GroupKey, Vec<(&RunRow, &RunFinding)>> = BTreeMap::new();
    for run in runs {
        let d = &run.diagnosis;
        if d.epochs == 0 && d.findings.is_empty() {
            continue;
        }
        let key = (run.variant as usize, run.strategy);
        *checked.entry(key).or_default() += 1;
        for f in &d.findings {
            groups
                .entry((f.kind, key.0, key.1))
                .or_default()
                .push((run, f));
        }
    }
    groups
        .into_iter()
        .map(|((kind, variant, strategy), found)| {
            let of = checked.get(&(variant, strategy)).copied().unwrap_or(1);
            let warned = found
                .iter()
                .filter(|(_, f)| f.severity >= Severity::Warning)
                .count();
            let mut severity = found
                .iter()
                .map(|(_, f)| f.severity)
                .max()
                .unwrap_or(Severity::Info);
            if needs_most_runs(kind) && warned * 2 < of {
                severity = Severity::Info;
            }
            let (_, top) = found
                .iter()
                .max_by(|a, b| {
                    a.1.severity
                        .cmp(&b.1.severity)
                        .then(a.1.strength.total_cmp(&b.1.strength))
                })
                .expect("a group has a finding");
            let mut evidence = top.evidence.clone();
            evidence.summary = format!(
                "{} of {of} runs; the clearest: {}",
                found.len(),
                evidence.summary
            );
            Draft {
                kind,
                severity,
                variant,
                strategy,
                runs: found.iter().map(|(r, _)| (r.id.clone(), r.fold)).collect(),
                runs_checked: of,
                first_epoch: found.iter().filter_map(|(_, f)| f.first_epoch).min(),
                layer: top.layer,
                evidence,
            }
        })
        .collect()
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| sum / n as f64)
}

fn class_imbalance(spec: &JobSpec, runs: &[RunRow]) -> Vec<Draft> {
    let mut out = Vec::new();
    for v in variants(spec) {
        let found = folds_of(runs, v);
        let Some((_, first)) = found.first() else {
            continue;
        };
        let counts: Vec<u64> = first
            .train_class_counts
            .iter()
            .zip(&first.validation_class_counts)
            .map(|(a, b)| a + b)
            .collect();
        let (Some(&most), Some(&least)) = (counts.iter().max(), counts.iter().min()) else {
            continue;
        };
        let ratio = most as f64 / least.max(1) as f64;
        let scores: Vec<_> = found
            .iter()
            .filter_map(|(_, r)| r.metrics.as_ref())
            .collect();
        let (Some(acc), Some(bal)) = (
            mean(scores.iter().map(|s| s.accuracy)),
            mean(scores.iter().map(|s| s.balanced_accuracy)),
        ) else {
            continue;
        };
        if ratio < IMBALANCE_RATIO {
            continue;
        }
        let tuned = spec.imbalance.threshold == DecisionThreshold::Tuned;
        let handled = v.strategy != Strategy::None || tuned;
        let gap = acc - bal;
        let severity = if !handled && gap >= IMBALANCE_GAP {
            Severity::Warning
        } else {
            Severity::Info
        };
        let note = match (v.strategy, tuned) {
            (Strategy::None, true) => "; a tuned decision threshold already addresses it".into(),
            (Strategy::None, false) => String::new(),
            (s, _) => format!("; the {} strategy already addresses it", s.as_str()),
        };
        let summary = format!(
            "the largest class has {ratio:.1} times the rows of the smallest; accuracy {acc:.3} \
             but balanced accuracy {bal:.3} (mean over {} folds){note}",
            found.len()
        );
        let values = [
            ("imbalance_ratio", ratio),
            ("accuracy", acc),
            ("balanced_accuracy", bal),
        ];
        out.push(Draft::of_variant(
            Kind::ClassImbalance,
            severity,
            v,
            &found,
            summary,
            &values,
        ));
    }
    out
}

/// For each strategy, a deeper model whose runs end at a clearly worse training loss than a
/// shallower one's.
/// A deeper variant's high training loss is degradation's own symptom: its unstable or
/// underfitting runs are info beside it, not warnings of their own.
fn owned_by_degradation(drafts: &mut [Draft], degraded: &[Draft]) {
    let symptom = |d: &Draft| explains(Kind::Degradation, d.kind);
    for d in drafts.iter_mut().filter(|d| symptom(d)) {
        if degraded
            .iter()
            .any(|g| (g.variant, g.strategy) == (d.variant, d.strategy))
        {
            d.severity = Severity::Info;
            d.evidence.summary = format!("a symptom of degradation: {}", d.evidence.summary);
        }
    }
}

fn degradation(spec: &JobSpec, runs: &[RunRow]) -> Vec<Draft> {
    let models: Vec<crate::domain::spec::ModelSpec> = (0..spec.variant_count())
        .map(|v| spec.variant_model(v))
        .collect();
    let mut out = Vec::new();
    for strategy in spec.imbalance.strategy.list() {
        let loss_of = |model: usize| {
            let found = folds_of(runs, Variant { model, strategy });
            let loss = mean(found.iter().filter_map(|(r, _)| r.diagnosis.train_loss));
            (loss, found)
        };
        for deep in 0..models.len() {
            let (Some(deep_loss), found) = loss_of(deep) else {
                continue;
            };
            // The shallower variant that trains best.
            let best = (0..models.len())
                .filter(|&m| models[m].hidden_layers.len() < models[deep].hidden_layers.len())
                .filter_map(|m| loss_of(m).0.map(|l| (m, l)))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let Some((shallow, shallow_loss)) = best else {
                continue;
            };
            if deep_loss < DEGRADATION_FACTOR * shallow_loss
                || deep_loss - shallow_loss < DEGRADATION_MIN_GAP
            {
                continue;
            }
            let (d, s) = (
                models[deep].hidden_layers.len(),
                models[shallow].hidden_layers.len(),
            );
            let summary = format!(
                "variant {deep} ({d} hidden layers) ends at a training loss of {deep_loss:.4}, \
                 variant {shallow} ({s} hidden layers) at {shallow_loss:.4}: the deeper network \
                 fits its own training rows worse"
            );
            let values = [
                ("train_loss", deep_loss),
                ("shallower_train_loss", shallow_loss),
                ("hidden_layers", d as f64),
                ("shallower_hidden_layers", s as f64),
                ("shallower_variant", shallow as f64),
            ];
            let v = Variant {
                model: deep,
                strategy,
            };
            out.push(Draft::of_variant(
                Kind::Degradation,
                Severity::Warning,
                v,
                &found,
                summary,
                &values,
            ));
        }
    }
    out
}

/// The ranked metric's spread across a variant's folds; `info` when the variant has another
/// warning that explains it.
fn fold_variance(spec: &JobSpec, runs: &[RunRow], others: &[Draft]) -> Vec<Draft> {
    let metric = spec.imbalance.rank_by.name();
    let mut out = Vec::new();
    for v in variants(spec) {
        let found = folds_of(runs, v);
        let scores: Vec<_> = found
            .iter()
            .filter_map(|(_, r)| r.metrics.as_ref())
            .collect();
        if scores.len() < FOLD_VARIANCE_FOLDS {
            continue;
        }
        let n = scores.len();
        let Some(stat) = summarize(scores).get(metric).copied() else {
            continue;
        };
        let (m, std) = (stat.mean, stat.std);
        if std < FOLD_VARIANCE_STD || std < FOLD_VARIANCE_SHARE * m.abs() {
            continue;
        }
        let explained = others.iter().any(|d| {
            d.variant == v.model
                && d.strategy.is_none_or(|s| s == v.strategy)
                && d.severity >= Severity::Warning
                && explains(d.kind, Kind::FoldVariance)
        });
        let severity = if explained {
            Severity::Info
        } else {
            Severity::Warning
        };
        let summary = format!(
            "{metric} is {m:.3} ± {std:.3} (std) across {n} folds, from {:.3} to {:.3}",
            stat.min, stat.max
        );
        out.push(Draft::of_variant(
            Kind::FoldVariance,
            severity,
            v,
            &found,
            summary,
            &[("mean", m), ("std", std)],
        ));
    }
    out
}
