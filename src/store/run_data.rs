//! Reading what runs hold: their rows with typed results, a claimed run's inputs, results,
//! held-out predictions, epoch histories, checkpoints and ensemble members.

use super::runs::Claimed;
use crate::domain::dataset::{Column, SequenceValues};
use crate::domain::finding::RunDiagnosis;
use crate::domain::heldout::HeldOut;
use crate::domain::job::{JobSpec, Strategy};
use crate::domain::results::{RunKind, RunResult, RunState};
use crate::engine::train::EpochRecord;

/// A run as stored, with its result.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: String,
    pub kind: RunKind,
    /// The imbalance strategy (a comparison's final run: once it has chosen the winner).
    pub strategy: Option<Strategy>,
    /// The model variant (index into a `model` list).
    pub variant: u32,
    pub fold: Option<u32>,
    pub repeat: Option<u32>,
    pub state: RunState,
    pub attempt: u32,
    pub epochs_done: u64,
    pub error: Option<String>,
    pub result: Option<RunResult>,
    /// What diagnosing its epochs found so far.
    pub diagnosis: RunDiagnosis,
    /// The kernel set it trained on (`engine::kernels`), once it started.
    pub kernels: Option<String>,
    /// Other kernel sets later attempts resumed on (their last bits may differ).
    pub resumed_on_kernels: Vec<String>,
}

/// How much of each run's stored result `runs_of_job` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// `RunResult::summarized`: what most readers need.
    Summary,
    /// Everything stored.
    Full,
}

/// What a claimed run trains on, read in one transaction: the job's spec, the dataset's
/// columns, the recorded fold assignment, and the state to resume from.
#[derive(Debug)]
pub struct RunInputs {
    pub spec: JobSpec,
    pub columns: Vec<Column>,
    /// A sequence dataset's sequences.
    pub sequences: Option<SequenceValues>,
    /// Per repeat, the fold each row is held out in (`split::TEST_SET` for the test set).
    pub assignment: Vec<Vec<u32>>,
    /// The last epoch checkpoint and an ensemble's finished members, when resuming.
    pub resume: Option<(Vec<u8>, Vec<Vec<u8>>)>,
    /// Fine-tuning: the source run's checkpoint.
    pub init: Option<Vec<u8>>,
    /// `pretrain.dataset_id`: that dataset's columns.
    pub pretrain_columns: Option<Vec<Column>>,
    /// The final run of a job with `validation.test_dataset_id`: that dataset's columns.
    pub test_columns: Option<Vec<Column>>,
}

/// Why a claimed run's inputs cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum InputsError {
    /// The stored spec does not parse, or the dataset was deleted: retrying cannot help.
    #[error("{0}")]
    Gone(String),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

super::dispatch! { run_data:
    /// The runs of a job, in creation order, with their results (held-out predictions are read
    /// one run at a time with `heldout`: they can be megabytes per run). Each result is trimmed as
    /// soon as it is parsed, so `Detail::Summary` never holds more than one full result.
    pub async fn runs_of_job(job_id: &str, detail: Detail) -> anyhow::Result<Vec<RunRow>>;
    /// The results of a job's finished fold runs, summarized.
    pub async fn fold_results(job_id: &str) -> anyhow::Result<Vec<RunResult>>;
    /// A page of a job's runs in creation order: at most `limit` after the run numbered
    /// `after_seq`, and the cursor of the next page if there is one.
    pub async fn runs_page(
        job_id: &str,
        detail: Detail,
        after_seq: i64,
        limit: u32,
    ) -> anyhow::Result<(Vec<RunRow>, Option<i64>)>;
    /// The inputs of `claimed` (see `RunInputs`).
    pub async fn run_inputs(claimed: &Claimed) -> Result<RunInputs, InputsError>;
    /// A run's stored result in full (`None`: not finished, or no such run).
    pub async fn result(run_id: &str) -> anyhow::Result<Option<RunResult>>;
    /// The full results of a job's finished fold runs, in creation order, with each run's id,
    /// fold and repeat: read and handed to `each` one run at a time (a 1,000-class run's result
    /// holds a million-cell confusion matrix).
    pub async fn each_fold_result(
        job_id: &str,
        each: impl FnMut(&str, Option<u32>, Option<u32>, RunResult) -> anyhow::Result<()>,
    ) -> anyhow::Result<()>;
    /// A run's held-out predictions (`None`: none stored, or the run does not exist). Predictions
    /// an earlier version stored as JSON are read too; ones it cannot read (non-finite
    /// probabilities stored as null) are logged and treated as absent.
    pub async fn heldout(run_id: &str) -> anyhow::Result<Option<HeldOut>>;
    /// A run's pretraining epochs (layer by layer, each layer's in order); empty without them.
    pub async fn pretrain_history(run_id: &str) -> anyhow::Result<Vec<EpochRecord>>;
    /// A run's per-epoch history (the classifier's epochs, not pretraining's); `None` if there is
    /// no such run.
    pub async fn epoch_history(run_id: &str) -> anyhow::Result<Option<Vec<EpochRecord>>>;
    /// A run's checkpoint bytes and state; outer `None` if there is no such run.
    pub async fn checkpoint(run_id: &str) -> anyhow::Result<Option<(RunState, Option<Vec<u8>>)>>;
    /// An ensemble run's finished members as written by `append_epochs`, in order.
    pub async fn members(run_id: &str) -> anyhow::Result<Vec<Vec<u8>>>;
}
