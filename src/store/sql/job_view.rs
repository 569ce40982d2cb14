use anyhow::Context;
use sqlx::Row;

use super::Pool;
use super::job_list::Bind;
use crate::domain::finding::Finding;
use crate::domain::job::JobStatus;
use crate::domain::job_filter::{JobQuery, OrderKey};
use crate::domain::job_meta::JobMeta;
use crate::store::job_view::{JobView, Progress, RunProgress, StoredRemedies};

/// The columns of a job's view: the job's own and its runs' counts, in one query (so a page of
/// jobs is one query, not one per job).
macro_rules! view_select {
    () => {
        concat!(
            "SELECT j.seq, j.id, j.status, j.spec_json, j.dataset_id, j.created_at, j.started_at,
           j.finished_at, j.error, j.summary_json, j.diagnostics_json, j.remedy_of, j.outer_of,
           j.remedy_findings_json, j.name, j.description, j.tags_json,
           (SELECT d.name FROM datasets d WHERE d.id = j.dataset_id) AS dataset_name,
           (SELECT MAX(r.attempt) FROM runs r WHERE r.job_id = j.id) AS attempts,
           ",
            runs_json!(),
            " AS runs
         FROM jobs j"
        )
    };
}

/// A job's stored findings; ones that do not read are left out (logged): they are advice, and
/// are recomputed at the next change, so they must never make a job unreadable.
fn findings_of(row: &super::Row) -> Vec<Finding> {
    let Some(text) = row.get::<Option<String>, _>("diagnostics_json") else {
        return Vec::new();
    };
    serde_json::from_str(&text).unwrap_or_else(|e| {
        tracing::warn!(job_id = %row.get::<String, _>("id"), error = %e, "a job's stored findings do not read; left out");
        Vec::new()
    })
}

/// One job as the API shows it.
pub async fn get_job(pool: &Pool, id: &str) -> anyhow::Result<Option<JobView>> {
    let row = sqlx::query(concat!(view_select!(), " WHERE j.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(view).transpose()
}

fn view(row: &super::Row) -> anyhow::Result<JobView> {
    let id: String = row.get("id");
    let spec = crate::store::typed::spec(&id, &row.get::<String, _>("spec_json"))
        .with_context(|| format!("job {id}"))?;
    let status: String = row.get("status");
    let runs: Vec<RunProgress> =
        serde_json::from_str(&row.get::<String, _>("runs")).context("a job's runs' progress")?;
    let applied: Option<StoredRemedies> = row
        .get::<Option<String>, _>("remedy_findings_json")
        .map(|s| serde_json::from_str(&s))
        .transpose()
        .context("a job's remedied findings")?;
    let started_at: Option<String> = row.get("started_at");
    let progress = Progress::of(&spec, &runs, started_at.as_deref());
    Ok(JobView {
        status: JobStatus::parse(&status).context("a stored job status")?,
        spec,
        dataset_id: row.get("dataset_id"),
        created_at: row.get("created_at"),
        started_at,
        finished_at: row.get("finished_at"),
        attempts: row.get::<Option<i64>, _>("attempts").unwrap_or(0) as u64,
        error: row.get("error"),
        progress,
        summary: row
            .get::<Option<String>, _>("summary_json")
            .map(|s| serde_json::from_str(&s))
            .transpose()?,
        diagnostics: findings_of(row),
        remedy_of: row.get("remedy_of"),
        outer_of: row.get("outer_of"),
        meta: JobMeta {
            name: row.get("name"),
            description: row.get("description"),
            tags: row
                .get::<Option<String>, _>("tags_json")
                .map(|s| serde_json::from_str(&s))
                .transpose()
                .context("a job's tags")?
                .unwrap_or_default(),
        },
        dataset_name: row.get("dataset_name"),
        remedies: applied.as_ref().map(|a| a.ids()),
        applied_remedies: applied.and_then(StoredRemedies::applied),
        id,
    })
}

/// The jobs made from job `id` by `POST …/remedy`, oldest first.
pub async fn remedies_of(pool: &Pool, id: &str) -> anyhow::Result<Vec<JobView>> {
    made_from(
        pool,
        concat!(view_select!(), " WHERE j.remedy_of = $1 ORDER BY j.seq"),
        id,
    )
    .await
}

/// The outer folds' jobs of nested job `id`: made in fold order, in one transaction.
pub async fn outer_jobs_of(pool: &Pool, id: &str) -> anyhow::Result<Vec<JobView>> {
    made_from(
        pool,
        concat!(view_select!(), " WHERE j.outer_of = $1 ORDER BY j.seq"),
        id,
    )
    .await
}

/// The jobs `sql` selects by the job `id` they were made from.
async fn made_from(pool: &Pool, sql: &'static str, id: &str) -> anyhow::Result<Vec<JobView>> {
    let rows = sqlx::query(sql).bind(id).fetch_all(pool).await?;
    rows.iter().map(view).collect()
}

/// A page of the jobs `query` keeps, in its order, after `cursor`: one query.
pub async fn list_jobs(
    pool: &Pool,
    query: &JobQuery,
    limit: u32,
    cursor: Option<i64>,
) -> anyhow::Result<(Vec<JobView>, Option<i64>)> {
    let page = super::job_list::page(query, limit, cursor);
    let text = format!(
        "{} JOIN ({}) page ON page.seq = j.seq ORDER BY page.pos",
        view_select!(),
        page.text
    );
    let mut sql = sqlx::query(sqlx::AssertSqlSafe(text));
    for bind in page.binds {
        sql = match bind {
            Bind::Text(t) => sql.bind(t),
            Bind::Real(x) => sql.bind(x),
            Bind::Int(i) => sql.bind(i),
        };
    }
    let rows = sql.fetch_all(pool).await?;
    let more = rows.len() > limit as usize;
    let items = rows
        .iter()
        .take(limit as usize)
        .map(view)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let next = match (more, query.order.key) {
        (false, _) => None,
        (true, OrderKey::CreatedAt) => rows.get(limit as usize - 1).map(|r| r.get::<i64, _>("seq")),
        (true, _) => Some(cursor.unwrap_or(0) + i64::from(limit)),
    };
    Ok((items, next))
}
