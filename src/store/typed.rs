//! The store's typed reads of what it keeps as JSON text: the job spec is parsed here and
//! nowhere else (a layout test holds it), checked again against every rule of what is
//! trainable. A job's spec never changes once stored, so each process parses it once: the
//! parsed spec is kept by job id with its text, and a read of the same text is a copy.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use anyhow::Context;

use crate::domain::job::JobSpec;

/// Specs kept at most; past it the cache starts over (a parse is milliseconds at worst).
const CACHED_SPECS: usize = 1024;

/// Parsed specs by job id, with the text they were parsed from.
static SPECS: LazyLock<Mutex<HashMap<String, (String, JobSpec)>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Job `job_id`'s stored spec, `text`.
pub(crate) fn spec(job_id: &str, text: &str) -> anyhow::Result<JobSpec> {
    if let Some((kept, spec)) = cache().get(job_id)
        && kept == text
    {
        return Ok(spec.clone());
    }
    let spec = JobSpec::from_stored(text)
        .map_err(|e| anyhow::anyhow!(e))
        .context("the stored spec is unreadable")?;
    remember(job_id, text, &spec);
    Ok(spec)
}

/// Keeps `spec`, stored as `text` for job `job_id`, so reading it back parses nothing.
pub(crate) fn remember(job_id: &str, text: &str, spec: &JobSpec) {
    let mut cache = cache();
    if cache.len() >= CACHED_SPECS {
        cache.clear();
    }
    cache.insert(job_id.to_owned(), (text.to_owned(), spec.clone()));
}

fn cache() -> std::sync::MutexGuard<'static, HashMap<String, (String, JobSpec)>> {
    SPECS.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// What insert keeps is what a restarted process would parse from the stored text.
    #[test]
    fn a_kept_spec_equals_its_stored_text_parsed_again() {
        let specs = [
            json!({"dataset_id": "d"}),
            json!({"dataset_id": "d", "label": "y", "seed": 7,
                   "model": [{"hidden_layers": [64, 32], "dropout": 0.1, "batch_norm": true},
                             {"kind": "gru", "hidden_size": 16, "bidirectional": true}],
                   "optimizer": {"kind": "adamw", "learning_rate": 0.003, "weight_decay": 0.01},
                   "schedule": {"decay": "cosine", "warmup_epochs": 3},
                   "training": {"epochs": 40, "l2": 1e-4, "clip_grad_norm": 1.0,
                                "early_stopping": {"patience": 5}},
                   "imbalance": {"strategy": ["none", "smote"], "rank_by": "log_loss",
                                 "class_weights": {"a": 2.5}},
                   "validation": {"folds": 3, "repeats": 2},
                   "final_model": {"epochs": "cv"}}),
        ];
        for value in specs {
            let spec = JobSpec::from_json(value.clone()).unwrap();
            let text = serde_json::to_string(&spec).unwrap();
            remember("job_round_trip", &text, &spec);
            assert_eq!(JobSpec::from_stored(&text).unwrap(), spec, "{value}");
            assert_eq!(super::spec("job_round_trip", &text).unwrap(), spec);
        }
    }

    #[test]
    fn another_text_under_the_same_id_is_parsed_not_served_from_the_cache() {
        let a = JobSpec::from_json(json!({"dataset_id": "a"})).unwrap();
        let b = JobSpec::from_json(json!({"dataset_id": "b"})).unwrap();
        remember("job_same_id", &serde_json::to_string(&a).unwrap(), &a);
        let read = super::spec("job_same_id", &serde_json::to_string(&b).unwrap()).unwrap();
        assert_eq!(read.dataset_id, "b");
    }
}
