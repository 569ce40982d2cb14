//! Reading what runs hold: their rows with typed results, a claimed run's inputs, results,
//! held-out predictions, epoch histories, checkpoints and ensemble members.

use super::artifacts::Blob;
use super::blobs::fetch;
use std::sync::Arc;

use super::dataset_cache::DatasetValues;
use super::memo::JobInputs;
use super::runs::Claimed;
use super::{Db, on_backend};
use crate::domain::dataset::Column;
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

/// What a claimed run trains on: the job's spec, the dataset's values, the recorded fold
/// assignment, and the state to resume from.
#[derive(Debug)]
pub struct RunInputs {
    pub spec: JobSpec,
    /// The job's dataset, shared with the other runs this process trains on it.
    pub data: Arc<DatasetValues>,
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

/// Where a claimed run's checkpoints are: the one it resumes from with its ensemble members,
/// and the model it is fine-tuned from.
#[derive(Debug)]
pub struct RunBlobs {
    pub resume: Option<(Blob, Vec<Blob>)>,
    pub init: Option<Blob>,
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
    /// The job a run belongs to and the run's state (`None`: no such run).
    pub async fn run_owner(run_id: &str) -> anyhow::Result<Option<(String, RunState)>>;
    /// A run's stored result in full (`None`: not finished, or no such run).
    pub async fn result(run_id: &str) -> anyhow::Result<Option<RunResult>>;
    /// The full results of a job's finished fold runs, in creation order, with each run's id,
    /// fold and repeat: read and handed to `each` one run at a time (a 1,000-class run's result
    /// holds a million-cell confusion matrix).
    pub async fn each_fold_result(
        job_id: &str,
        each: impl FnMut(&str, Option<u32>, Option<u32>, RunResult) -> anyhow::Result<()>,
    ) -> anyhow::Result<()>;
    /// A run's pretraining epochs (layer by layer, each layer's in order); empty without them.
    pub async fn pretrain_history(run_id: &str) -> anyhow::Result<Vec<EpochRecord>>;
    /// A run's per-epoch history (the classifier's epochs, not pretraining's); `None` if there is
    /// no such run.
    pub async fn epoch_history(run_id: &str) -> anyhow::Result<Option<Vec<EpochRecord>>>;
}

/// The inputs of `claimed` (see `RunInputs`): its checkpoints read from wherever they are,
/// its datasets' values from this process's cache or the database (`datasets::values`).
pub async fn run_inputs(db: &Db, claimed: &Claimed) -> Result<RunInputs, InputsError> {
    let job = job_inputs(db, &claimed.job_id).await?;
    let init_run = job.spec.init.as_ref().map(|i| i.run.as_str());
    let stored = on_backend!(db, run_data::run_blobs(claimed, init_run))?;
    let resume = match stored.resume {
        Some((checkpoint, members)) => {
            let mut bytes = Vec::with_capacity(members.len());
            for member in members {
                bytes.push(fetch(db, member).await?);
            }
            Some((fetch(db, checkpoint).await?, bytes))
        }
        None => None,
    };
    let init = match stored.init {
        Some(blob) => Some(fetch(db, blob).await?),
        None => None,
    };
    let spec = job.spec.clone();
    // A job's datasets cannot be deleted while it has runs to train.
    let values = dataset(db, &spec.dataset_id, "").await?;
    let pretrain = match spec.pretrain.as_ref().and_then(|p| p.dataset_id.as_deref()) {
        Some(id) => Some(dataset(db, id, "pretraining ").await?),
        None => None,
    };
    // Only the final model scores the test dataset.
    let test_id = spec.validation.test_dataset_id.as_deref();
    let test = match test_id.filter(|_| claimed.kind == RunKind::Final) {
        Some(id) => Some(dataset(db, id, "test ").await?),
        None => None,
    };
    Ok(RunInputs {
        data: values,
        assignment: job.assignment.clone(),
        resume,
        init,
        pretrain_columns: pretrain.map(|v| v.columns.clone()),
        test_columns: test.map(|v| v.columns.clone()),
        spec,
    })
}

/// A job's spec and folds, from this process's memo when it has read them before.
pub async fn job_inputs(db: &Db, job_id: &str) -> Result<Arc<JobInputs>, InputsError> {
    if let Some(job) = db.memo().job(job_id) {
        return Ok(job);
    }
    let job = Arc::new(on_backend!(db, run_data::job_inputs(job_id))?);
    db.memo().keep_job(job_id, job.clone());
    Ok(job)
}

/// The values of dataset `id`, the run's `what` dataset: a job's datasets cannot be deleted
/// while it has runs to train, so a missing one means the job cannot go on.
async fn dataset(db: &Db, id: &str, what: &str) -> Result<Arc<DatasetValues>, InputsError> {
    super::datasets::values(db, id)
        .await?
        .ok_or_else(|| InputsError::Gone(format!("the {what}dataset {id} was deleted")))
}

/// A run's held-out predictions (`None`: none stored, or the run does not exist). Predictions
/// an earlier version stored as JSON are read too; ones it cannot read (non-finite
/// probabilities stored as null) are logged and treated as absent.
pub async fn heldout(db: &Db, run_id: &str) -> anyhow::Result<Option<HeldOut>> {
    let decoded = match on_backend!(db, run_data::heldout(run_id))? {
        Some((Some(blob), _)) => HeldOut::from_bytes(&fetch(db, blob).await?),
        Some((None, Some(json))) => HeldOut::from_legacy_json(
            &serde_json::from_str(&json).unwrap_or(serde_json::Value::Null),
        ),
        _ => return Ok(None),
    };
    match decoded {
        Ok(h) => Ok(Some(h)),
        Err(e) => {
            tracing::warn!(run_id, error = %e, "skipping unreadable held-out predictions");
            Ok(None)
        }
    }
}

/// A run's checkpoint bytes and state; outer `None` if there is no such run.
pub async fn checkpoint(
    db: &Db,
    run_id: &str,
) -> anyhow::Result<Option<(RunState, Option<Vec<u8>>)>> {
    match on_backend!(db, run_data::checkpoint(run_id))? {
        Some((state, Some(blob))) => Ok(Some((state, Some(fetch(db, blob).await?)))),
        Some((state, None)) => Ok(Some((state, None))),
        None => Ok(None),
    }
}

/// An ensemble run's finished members as written by `append_epochs`, in order.
pub async fn members(db: &Db, run_id: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut members = Vec::new();
    for blob in on_backend!(db, run_data::members(run_id))? {
        members.push(fetch(db, blob).await?);
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids;
    use crate::ingest::{IngestOptions, parse_upload};
    use crate::store::jobs::{NewJob, NewRun};
    use crate::store::{Backend, query_count};

    /// A store with one job of two fold runs on a four-row dataset, both runs claimed.
    async fn two_claimed_runs() -> (tempfile::TempDir, Db, Vec<Claimed>) {
        let (dir, pool) = crate::store::sqlite::test_pool().await;
        let db = Db::new(Backend::Sqlite(pool));
        let parsed = parse_upload(
            &b"x,label\n1,a\n2,b\n3,a\n4,b\n"[..],
            &IngestOptions::csv("label"),
        )
        .unwrap();
        let summary = parsed.summary("ds_m".into(), "m".into(), ids::now_rfc3339());
        crate::store::datasets::insert_dataset(&db, summary, &parsed, None)
            .await
            .unwrap();
        let run = |f: u32| NewRun::test_fold(format!("run_m_{f}"), f);
        let job = NewJob {
            id: "job_m".into(),
            dataset_id: "ds_m".into(),
            spec: JobSpec::from_json(serde_json::json!({"dataset_id": "ds_m"})).unwrap(),
            folds: vec![vec![0, 1, 0, 1]],
            runs: vec![run(0), run(1)],
            created_at: ids::now_rfc3339(),
            remedy_of: None,
            classes: vec!["a".into(), "b".into()],
            meta: Default::default(),
            outer_of: None,
            outer_jobs: Vec::new(),
        };
        crate::store::jobs::insert_job(&db, &job, None)
            .await
            .unwrap();
        let mut claimed = Vec::new();
        while let Some(c) = crate::store::runs::claim_next(&db, "w", 60_000, "test")
            .await
            .unwrap()
        {
            claimed.push(c);
        }
        (dir, db, claimed)
    }

    #[tokio::test]
    async fn a_process_reads_a_jobs_spec_folds_and_dataset_once_for_all_its_runs() {
        let (_dir, db, claimed) = two_claimed_runs().await;
        assert_eq!(claimed.len(), 2);
        let (first, queries) = query_count::of_jobs(run_inputs(&db, &claimed[0])).await;
        assert_eq!(queries, 1, "the first run reads its job");
        let (second, queries) = query_count::of_jobs(run_inputs(&db, &claimed[1])).await;
        assert_eq!(
            queries, 0,
            "a later run of the same job reads neither jobs nor runs"
        );
        let (first, second) = (first.unwrap(), second.unwrap());
        assert_eq!(first.assignment, vec![vec![0, 1, 0, 1]]);
        assert_eq!(
            (&first.spec, &first.assignment),
            (&second.spec, &second.assignment)
        );
        assert_eq!(second.data.columns.len(), 2);
        assert!(
            Arc::ptr_eq(&first.data, &second.data),
            "the second run shares the dataset the first read"
        );
    }
}
