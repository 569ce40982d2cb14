//! `search`: a space over the training spec's fields, sampled into trials; each trial is a
//! variant of the job, trained on the job's identical folds and ranked on its leaderboard.
//! Sampled once, at planning, with the job's seed (`sampled` is what the dry run shows), so
//! every worker and every restart trains the same trials.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model_spec::significant;
use super::spec::{SpecError, TrainingSpec};

/// Most trials a search may hold (times the job's strategies).
pub const MAX_TRIALS: usize = 32;
/// Largest reduction factor η.
const MAX_REDUCTION: u64 = 8;
/// What a space may search: the training spec's blocks.
const SEARCHABLE: [&str; 4] = ["model.", "optimizer.", "schedule.", "training."];

/// One trial: a value for each searched field, by its dotted path.
pub type Trial = BTreeMap<String, Value>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSpec {
    pub method: SearchMethod,
    /// `random`: how many trials (default 10). `grid`: every combination, so none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trials: Option<u64>,
    /// Each searched field's values, by its dotted path (`optimizer.learning_rate`).
    pub space: BTreeMap<String, Dimension>,
    /// `asha`: a rung promotes the best 1/η of the trials that reached it (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduction_factor: Option<u64>,
    /// `asha`: the first rung's epochs (default: `training.epochs` / η³, at least 1); each
    /// further rung η times more, the last `training.epochs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_epochs: Option<u64>,
    /// The trials, written in at planning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled: Option<Vec<Trial>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMethod {
    /// Every combination of the `choice` and `int` dimensions.
    Grid,
    /// `trials` draws, each field independently.
    Random,
    /// `trials` random draws, trained rung by rung: each pauses at a rung's epochs until it is
    /// among the best 1/η there (asynchronous successive halving, `asha`).
    Asha,
}

/// A searched field's values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Dimension {
    /// From `lo` to `hi`, uniform in the logarithm (both > 0).
    LogUniform([f64; 2]),
    /// From `lo` to `hi`, uniform.
    Uniform([f64; 2]),
    /// An integer from `lo` to `hi`, both included.
    Int([i64; 2]),
    /// One of these values (any JSON the field takes).
    Choice(Vec<Value>),
}

impl Dimension {
    /// Its problem, if any (grid takes only what it can list).
    fn problem(&self, method: SearchMethod) -> Option<String> {
        let range = |lo: f64, hi: f64| lo.is_finite() && hi.is_finite() && lo < hi;
        match self {
            Dimension::LogUniform([lo, hi]) if !(range(*lo, *hi) && *lo > 0.0) => {
                Some("log_uniform: [lo, hi] with 0 < lo < hi".into())
            }
            Dimension::Uniform([lo, hi]) if !range(*lo, *hi) => {
                Some("uniform: [lo, hi] with lo < hi".into())
            }
            Dimension::Int([lo, hi]) if lo > hi || hi - lo >= MAX_TRIALS as i64 => Some(format!(
                "int: [lo, hi] with lo ≤ hi, at most {MAX_TRIALS} values"
            )),
            Dimension::Choice(v) if v.is_empty() || v.len() > MAX_TRIALS => {
                Some(format!("choice: 1 to {MAX_TRIALS} values"))
            }
            Dimension::LogUniform(_) | Dimension::Uniform(_) if method == SearchMethod::Grid => {
                Some("grid lists choice and int values; use random for a range".into())
            }
            _ => None,
        }
    }

    /// How many values a grid takes from it.
    fn grid_len(&self) -> usize {
        match self {
            Dimension::Int([lo, hi]) => (hi - lo + 1).max(0) as usize,
            Dimension::Choice(v) => v.len(),
            _ => 1,
        }
    }

    /// Grid value `i`.
    fn grid_value(&self, i: usize) -> Value {
        match self {
            Dimension::Int([lo, _]) => Value::from(lo + i as i64),
            Dimension::Choice(v) => v[i].clone(),
            _ => Value::Null,
        }
    }

    fn draw(&self, rng: &mut ChaCha8Rng) -> Value {
        match self {
            Dimension::LogUniform([lo, hi]) => Value::from((rng.gen_range(lo.ln()..hi.ln())).exp()),
            Dimension::Uniform([lo, hi]) => Value::from(rng.gen_range(*lo..*hi)),
            Dimension::Int([lo, hi]) => Value::from(rng.gen_range(*lo..=*hi)),
            Dimension::Choice(v) => v[rng.gen_range(0..v.len())].clone(),
        }
    }
}

impl SearchSpec {
    /// The problems of the search itself (not yet of its trials), each at its path.
    pub fn validate(&self) -> Vec<SpecError> {
        let mut errors = self.halving_problems();
        if self.space.is_empty() {
            errors.push(SpecError::new(
                "search.space",
                "at least one field to search",
            ));
        }
        for (path, dim) in &self.space {
            let field = format!("search.space.{path}");
            if !SEARCHABLE.iter().any(|p| path.starts_with(p)) {
                errors.push(SpecError::new(
                    field.clone(),
                    "a field of model, optimizer, schedule or training (a dotted path)",
                ));
            }
            errors.extend(dim.problem(self.method).map(|m| SpecError::new(field, m)));
        }
        let count = self.count();
        match self.method {
            SearchMethod::Grid if self.trials.is_some() => errors.push(SpecError::new(
                "search.trials",
                "a grid trains every combination: leave trials out",
            )),
            _ if count == 0 || count > MAX_TRIALS => errors.push(SpecError::new(
                "search.trials",
                format!("1 to {MAX_TRIALS} trials (this search makes {count})"),
            )),
            _ => {}
        }
        errors
    }

    /// The halving settings' problems: only `asha` halves, η from 2 to 8, at least one epoch.
    fn halving_problems(&self) -> Vec<SpecError> {
        let mut errors = Vec::new();
        let settings = [
            ("reduction_factor", self.reduction_factor, 2..=MAX_REDUCTION),
            ("min_epochs", self.min_epochs, 1..=u64::MAX),
        ];
        for (name, value, range) in settings {
            let field = format!("search.{name}");
            match value {
                Some(_) if self.method != SearchMethod::Asha => {
                    errors.push(SpecError::new(field, "only asha halves: method asha"))
                }
                Some(v) if !range.contains(&v) => errors.push(SpecError::new(
                    field,
                    format!("from {} to {}", range.start(), range.end()),
                )),
                _ => {}
            }
        }
        let eta = self.eta() as usize;
        if self.method == SearchMethod::Asha && self.count() < eta {
            errors.push(SpecError::new(
                "search.trials",
                format!("asha needs at least reduction_factor ({eta}) trials to promote one"),
            ));
        }
        errors
    }

    /// The reduction factor η.
    pub fn eta(&self) -> u64 {
        self.reduction_factor.unwrap_or(3)
    }

    /// The epochs at which trials pause to be compared, the last `epochs` (one rung, `epochs`,
    /// unless `asha`).
    pub fn rungs(&self, epochs: u64) -> Vec<u64> {
        if self.method != SearchMethod::Asha {
            return vec![epochs];
        }
        let eta = self.eta();
        let first = self
            .min_epochs
            .unwrap_or_else(|| epochs / eta.pow(3))
            .max(1);
        let mut rungs: Vec<u64> = std::iter::successors(Some(first), |r| r.checked_mul(eta))
            .take_while(|&r| r < epochs)
            .collect();
        rungs.push(epochs);
        rungs
    }

    /// How many trials it makes.
    pub fn count(&self) -> usize {
        match self.method {
            SearchMethod::Grid => self
                .space
                .values()
                .map(Dimension::grid_len)
                .fold(1usize, |n, k| n.saturating_mul(k)),
            _ => self.trials.unwrap_or(10) as usize,
        }
    }

    /// The trials: those written in at planning, else drawn with `seed` (the same ones).
    pub fn trials(&self, seed: u64) -> Vec<Trial> {
        if let Some(sampled) = &self.sampled {
            return sampled.clone();
        }
        match self.method {
            SearchMethod::Grid => self.grid(),
            _ => {
                let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x005E_A2C4);
                (0..self.count())
                    .map(|_| {
                        self.space
                            .iter()
                            .map(|(p, d)| (p.clone(), d.draw(&mut rng)))
                            .collect()
                    })
                    .collect()
            }
        }
    }

    /// Every combination, the last field varying fastest.
    fn grid(&self) -> Vec<Trial> {
        (0..self.count().min(MAX_TRIALS))
            .map(|mut i| {
                let mut trial = Trial::new();
                for (path, dim) in self.space.iter().rev() {
                    let k = dim.grid_len().max(1);
                    trial.insert(path.clone(), dim.grid_value(i % k));
                    i /= k;
                }
                trial
            })
            .collect()
    }
}

/// `base` with the trial's values set at their paths; a value the field does not take (or a
/// path it does not have) is the error, at `search.space.<path>`.
pub fn apply(base: &TrainingSpec, trial: &Trial) -> Result<TrainingSpec, SpecError> {
    let mut value =
        serde_json::to_value(base).map_err(|e| SpecError::new("search", e.to_string()))?;
    for (path, v) in trial {
        let mut at = &mut value;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            let Some(object) = at.as_object_mut() else {
                return Err(SpecError::new(
                    format!("search.space.{path}"),
                    "no such field",
                ));
            };
            if parts.peek().is_none() {
                object.insert(part.to_owned(), v.clone());
                break;
            }
            at = object
                .entry(part)
                .or_insert_with(|| Value::Object(Default::default()));
        }
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = trial
            .keys()
            .find(|p| inner.starts_with(p.as_str()))
            .cloned()
            .unwrap_or(inner);
        SpecError::new(format!("search.space.{path}"), e.inner().to_string())
    })
}

/// A trial in words, for leaderboards: `learning_rate 0.0031 · hidden_layers [128,64]`.
pub fn describe(trial: &Trial) -> String {
    trial
        .iter()
        .map(|(path, v)| {
            let name = path.rsplit('.').next().unwrap_or(path);
            match v.as_f64().filter(|_| v.is_f64()) {
                Some(x) => format!("{name} {}", significant(x)),
                None => format!("{name} {v}"),
            }
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

pub mod asha;
pub mod learning_curve;
#[cfg(test)]
mod tests;
