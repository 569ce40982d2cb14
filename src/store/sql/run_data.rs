use anyhow::Context;
use sqlx::Row;

use super::Pool;
use super::runs::{kind_of, strategy_of};
use crate::domain::finding::RunDiagnosis;
use crate::domain::results::{RunKind, RunResult, RunState};
use crate::engine::train::EpochRecord;
use crate::store::artifacts::Blob;
use crate::store::memo::JobInputs;
use crate::store::run_data::{Detail, InputsError, RunBlobs, RunRow};
use crate::store::runs::Claimed;

/// The columns a `RunRow` is read from.
macro_rules! run_columns {
    () => {
        "SELECT seq, id, kind, fold, repeat, state, attempt, epochs_done, last_error, result_json,
                strategy, variant, findings_json, kernels, resumed_on_kernels
         FROM runs"
    };
}

/// The runs of a job, in creation order, with their results (held-out predictions are read
/// one run at a time with `heldout`: they can be megabytes per run). Each result is trimmed as
/// soon as it is parsed, so `Detail::Summary` never holds more than one full result.
pub async fn runs_of_job(pool: &Pool, job_id: &str, detail: Detail) -> anyhow::Result<Vec<RunRow>> {
    let (runs, _) = runs_page(pool, job_id, detail, 0, u32::MAX).await?;
    Ok(runs)
}

/// The results of a job's finished fold runs, summarized.
pub async fn fold_results(pool: &Pool, job_id: &str) -> anyhow::Result<Vec<RunResult>> {
    let runs = runs_of_job(pool, job_id, Detail::Summary).await?;
    Ok(runs
        .into_iter()
        .filter(|r| r.kind == RunKind::Fold)
        .filter_map(|r| r.result)
        .collect())
}

/// A page of a job's runs in creation order: at most `limit` after the run numbered
/// `after_seq`, and the cursor of the next page if there is one.
pub async fn runs_page(
    pool: &Pool,
    job_id: &str,
    detail: Detail,
    after_seq: i64,
    limit: u32,
) -> anyhow::Result<(Vec<RunRow>, Option<i64>)> {
    let rows = sqlx::query(concat!(
        run_columns!(),
        " WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    ))
    .bind(job_id)
    .bind(after_seq)
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await?;
    let more = rows.len() > limit as usize;
    let next = more.then(|| rows[limit as usize - 1].get::<i64, _>("seq"));
    let runs = parse_runs(&rows[..rows.len().min(limit as usize)], detail)?;
    Ok((runs, next))
}

/// Every run of a job, summarized, read inside the caller's transaction.
pub(super) async fn runs_in(conn: &mut super::Conn, job_id: &str) -> anyhow::Result<Vec<RunRow>> {
    let rows = sqlx::query(concat!(run_columns!(), " WHERE job_id = $1 ORDER BY seq"))
        .bind(job_id)
        .fetch_all(conn)
        .await?;
    parse_runs(&rows, Detail::Summary)
}

/// A run's stored findings; ones that do not read are skipped (logged): findings are advice,
/// and must never stop a job from settling.
fn diagnosis_of(row: &super::Row) -> RunDiagnosis {
    let Some(text) = row.get::<Option<String>, _>("findings_json") else {
        return RunDiagnosis::default();
    };
    serde_json::from_str(&text).unwrap_or_else(|e| {
        tracing::warn!(run_id = %row.get::<String, _>("id"), error = %e, "a run's stored findings do not read; ignored");
        RunDiagnosis::default()
    })
}

fn parse_runs(rows: &[super::Row], detail: Detail) -> anyhow::Result<Vec<RunRow>> {
    rows.iter()
        .map(|row| {
            let mut result: Option<RunResult> = row
                .get::<Option<String>, _>("result_json")
                .map(|s| serde_json::from_str(&s))
                .transpose()
                .context("a stored run result")?;
            if detail == Detail::Summary {
                result = result.map(RunResult::summarized);
            }
            let state: String = row.get("state");
            Ok(RunRow {
                id: row.get("id"),
                kind: kind_of(row)?,
                strategy: strategy_of(row)?.or(result.as_ref().map(|r| r.strategy)),
                variant: row.get::<i64, _>("variant") as u32,
                fold: row.get::<Option<i64>, _>("fold").map(|v| v as u32),
                repeat: row.get::<Option<i64>, _>("repeat").map(|v| v as u32),
                state: RunState::parse(&state)
                    .with_context(|| format!("a stored run state {state:?}"))?,
                attempt: row.get::<i64, _>("attempt") as u32,
                epochs_done: row.get::<i64, _>("epochs_done") as u64,
                error: row.get("last_error"),
                result,
                diagnosis: diagnosis_of(row),
                kernels: row.get("kernels"),
                resumed_on_kernels: row
                    .get::<Option<String>, _>("resumed_on_kernels")
                    .map(|k| k.split(',').map(str::to_owned).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// A job's spec and fold assignment, which never change after it is created.
pub async fn job_inputs(pool: &Pool, job_id: &str) -> Result<JobInputs, InputsError> {
    let (spec_json, folds_json): (String, String) =
        sqlx::query_as("SELECT spec_json, folds_json FROM jobs WHERE id = $1")
            .bind(job_id)
            .fetch_optional(pool)
            .await
            .map_err(anyhow::Error::from)?
            .with_context(|| format!("job {job_id} of the run"))?;
    let spec = crate::store::typed::spec(job_id, &spec_json)
        .map_err(|e| InputsError::Gone(format!("{e:#}")))?;
    let assignment: Vec<Vec<u32>> =
        serde_json::from_str(&folds_json).context("the stored fold assignment")?;
    Ok(JobInputs { spec, assignment })
}

/// Where `claimed`'s checkpoints are: the one it resumes from with its members, and the model
/// of `init_run` it is fine-tuned from.
pub async fn run_blobs(
    pool: &Pool,
    claimed: &Claimed,
    init_run: Option<&str>,
) -> Result<RunBlobs, InputsError> {
    let init = match init_run {
        Some(run) => Some(
            checkpoint(pool, run)
                .await?
                .and_then(|c| c.1)
                .ok_or_else(|| {
                    InputsError::Gone(format!("the init run {run} has no model any more"))
                })?,
        ),
        None => None,
    };
    let resume = match claimed.checkpoint.clone() {
        Some(checkpoint) => Some((checkpoint, members(pool, &claimed.id).await?)),
        None => None,
    };
    Ok(RunBlobs { resume, init })
}

/// A run's stored result in full (`None`: not finished, or no such run).
pub async fn result(pool: &Pool, run_id: &str) -> anyhow::Result<Option<RunResult>> {
    let json: Option<Option<String>> =
        sqlx::query_scalar("SELECT result_json FROM runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(pool)
            .await?;
    json.flatten()
        .map(|text| serde_json::from_str(&text).context("a stored run result"))
        .transpose()
}

/// The full results of a job's finished fold runs, in creation order, with each run's id,
/// fold and repeat: read and handed to `each` one run at a time (a 1,000-class run's result
/// holds a million-cell confusion matrix).
pub async fn each_fold_result(
    pool: &Pool,
    job_id: &str,
    mut each: impl FnMut(&str, Option<u32>, Option<u32>, RunResult) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use futures_util::TryStreamExt;
    let mut rows = sqlx::query(
        "SELECT id, fold, repeat, result_json FROM runs
         WHERE job_id = $1 AND kind = 'fold' AND result_json IS NOT NULL ORDER BY seq",
    )
    .bind(job_id)
    .fetch(pool);
    while let Some(row) = rows.try_next().await? {
        let text: String = row.get("result_json");
        let result: RunResult = serde_json::from_str(&text).context("a stored run result")?;
        drop(text);
        let (fold, repeat) = (
            row.get::<Option<i64>, _>("fold").map(|v| v as u32),
            row.get::<Option<i64>, _>("repeat").map(|v| v as u32),
        );
        each(row.get("id"), fold, repeat, result)?;
    }
    Ok(())
}

/// A run's held-out predictions as stored: the blob, or JSON an earlier version wrote (`None`:
/// no such run).
pub async fn heldout(
    pool: &Pool,
    run_id: &str,
) -> anyhow::Result<Option<(Option<Blob>, Option<String>)>> {
    let row = sqlx::query("SELECT heldout, heldout_key, predictions_json FROM runs WHERE id = $1")
        .bind(run_id)
        .fetch_optional(pool)
        .await?;
    let row = row.map(|r| {
        (
            r.get("heldout"),
            r.get("heldout_key"),
            r.get("predictions_json"),
        )
    });
    Ok(row.map(|(bytes, key, json)| (Blob::from_columns(bytes, key), json)))
}

/// A run's pretraining epochs (layer by layer, each layer's in order); empty without them.
pub async fn pretrain_history(pool: &Pool, run_id: &str) -> anyhow::Result<Vec<EpochRecord>> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT record_json FROM pretrain_epochs WHERE run_id = $1 ORDER BY layer, epoch",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| serde_json::from_str(r).map_err(Into::into))
        .collect()
}

/// A run's per-epoch history (the classifier's epochs, not pretraining's); `None` if there is
/// no such run.
pub async fn epoch_history(pool: &Pool, run_id: &str) -> anyhow::Result<Option<Vec<EpochRecord>>> {
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM runs WHERE id = $1")
        .bind(run_id)
        .fetch_optional(pool)
        .await?;
    if exists.is_none() {
        return Ok(None);
    }
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT record_json FROM epoch_metrics WHERE run_id = $1 ORDER BY epoch",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| serde_json::from_str(r).map_err(Into::into))
        .collect::<anyhow::Result<Vec<_>>>()
        .map(Some)
}

/// The job a run belongs to and the run's state (`None`: no such run).
pub async fn run_owner(pool: &Pool, run_id: &str) -> anyhow::Result<Option<(String, RunState)>> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT job_id, state FROM runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(pool)
            .await?;
    row.map(|(job, state)| {
        let state =
            RunState::parse(&state).with_context(|| format!("a stored run state {state:?}"))?;
        Ok((job, state))
    })
    .transpose()
}

/// A run's checkpoint and state; outer `None` if there is no such run.
pub async fn checkpoint(
    pool: &Pool,
    run_id: &str,
) -> anyhow::Result<Option<(RunState, Option<Blob>)>> {
    let row = sqlx::query(
        "SELECT r.state, c.checkpoint, r.checkpoint_key
         FROM runs r LEFT JOIN run_checkpoints c ON c.run_id = r.id WHERE r.id = $1",
    )
    .bind(run_id)
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        let state: String = r.get("state");
        let state =
            RunState::parse(&state).with_context(|| format!("a stored run state {state:?}"))?;
        Ok((
            state,
            Blob::from_columns(r.get("checkpoint"), r.get("checkpoint_key")),
        ))
    })
    .transpose()
}

/// An ensemble run's finished members as written by `append_epochs`, in order.
pub async fn members(pool: &Pool, run_id: &str) -> anyhow::Result<Vec<Blob>> {
    let rows: Vec<(Vec<u8>, Option<String>)> = sqlx::query_as(
        "SELECT weights, weights_key FROM run_members WHERE run_id = $1 ORDER BY member",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(bytes, key)| key.map_or(Blob::Inline(bytes), Blob::Object))
        .collect())
}
