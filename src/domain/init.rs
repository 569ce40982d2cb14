//! `init` of a job: start every run from an earlier job's model (fine-tuning) — its weights, not
//! its optimizer state — with the first layers frozen and the output layer re-initialized if
//! asked (or when the classes differ).

use serde::{Deserialize, Serialize};

/// `{"job_id", "run": "final" | "run_…", "freeze_layers": k, "reset_output": false}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitSpec {
    pub job_id: String,
    /// `final` (the job's final model) or one of its run ids; resolved to the run id when the
    /// job is accepted.
    #[serde(default = "final_run")]
    pub run: String,
    /// The first `k` layers (MLP hidden layers, GRU layers) keep the source's weights exactly.
    #[serde(default)]
    pub freeze_layers: u64,
    /// Re-initialize the output layer (it is anyway when the classes differ).
    #[serde(default)]
    pub reset_output: bool,
}

fn final_run() -> String {
    "final".into()
}
