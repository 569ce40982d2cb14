//! What changed in a job since a follower last looked: its status, progress, each run's new
//! epochs and its findings as they appear or change, read from the store (so work done by any
//! worker on any node shows). `http::event_hub` polls this for the `/events` streams.

use std::collections::HashMap;

use crate::store::Db;
use serde_json::{Value, json};

use crate::store;

/// What changed, as one poll saw it.
#[derive(Debug, Clone)]
pub enum Change {
    /// The `n`th epoch (1-based count) of a run.
    Epoch {
        run_id: String,
        n: usize,
        data: Value,
    },
    Progress(Value),
    /// A finding that is new, or changed severity or reach.
    Diagnostic {
        key: String,
        state: String,
        data: Value,
    },
    Status {
        status: String,
        ended: bool,
        data: Value,
    },
}

/// What one follower has seen.
#[derive(Debug, Default)]
pub struct Seen {
    status: Option<String>,
    progress: Option<Value>,
    epochs: HashMap<String, usize>,
    findings: HashMap<String, String>,
}

impl Seen {
    /// Whether `change` is new to this follower (and records it).
    pub fn take(&mut self, change: &Change) -> bool {
        match change {
            Change::Epoch { run_id, n, .. } => {
                let seen = self.epochs.entry(run_id.clone()).or_default();
                if *n <= *seen {
                    return false;
                }
                *seen = *n;
                true
            }
            Change::Diagnostic { key, state, .. } => {
                if self.findings.get(key) == Some(state) {
                    return false;
                }
                self.findings.insert(key.clone(), state.clone());
                true
            }
            Change::Progress(p) => {
                if self.progress.as_ref() == Some(p) {
                    return false;
                }
                self.progress = Some(p.clone());
                true
            }
            Change::Status { status, .. } => {
                if self.status.as_deref() == Some(status) {
                    return false;
                }
                self.status = Some(status.clone());
                true
            }
        }
    }
}

/// What changed since `seen` (and records it); `None` if the job is gone.
pub async fn poll(pool: &Db, id: &str, seen: &mut Seen) -> Option<Vec<Change>> {
    let job = store::jobs::get_job(pool, id).await.ok()??;
    let mut changes = Vec::new();
    if let Ok(runs) = store::run_data::runs_of_job(pool, id, store::run_data::Detail::Summary).await
    {
        for run in runs {
            let already = seen.epochs.get(&run.id).copied().unwrap_or(0);
            if (run.epochs_done as usize) <= already {
                continue;
            }
            if let Ok(Some(history)) = store::run_data::epoch_history(pool, &run.id).await {
                for (i, record) in history.into_iter().enumerate().skip(already) {
                    let data = json!({"run_id": run.id, "fold": run.fold, "repeat": run.repeat,
                                      "kind": run.kind, "variant": run.variant,
                                      "strategy": run.strategy, "record": record});
                    changes.push(Change::Epoch {
                        run_id: run.id.clone(),
                        n: i + 1,
                        data,
                    });
                }
            }
        }
    }
    for f in &job.diagnostics {
        changes.push(Change::Diagnostic {
            key: format!("{}/{}/{:?}", f.kind.as_str(), f.variant, f.strategy),
            state: format!("{:?}/{}", f.severity, f.runs_affected),
            data: serde_json::to_value(f).unwrap_or_default(),
        });
    }
    changes.push(Change::Progress(
        serde_json::to_value(&job.progress).unwrap_or_default(),
    ));
    let status = job.status.as_str().to_owned();
    changes.push(Change::Status {
        data: json!({"status": status, "error": job.error, "summary": job.summary}),
        status,
        ended: job.status.is_finished(),
    });
    changes.retain(|c| seen.take(c));
    Some(changes)
}
