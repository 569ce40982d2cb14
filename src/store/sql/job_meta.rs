use std::collections::BTreeMap;

use super::{Conn, Pool};
use crate::domain::job::JobSpec;
use crate::domain::job_meta::{JobMeta, MetaPatch};
use crate::domain::results::Summary;
use anyhow::Context;

/// The job's model families between commas (`,mlp,gru,`), for `family =` filters.
pub(crate) fn families(spec: &JobSpec) -> String {
    let mut kinds: Vec<&str> = (0..spec.variant_count())
        .map(|v| spec.variant_model(v).kind.name())
        .collect();
    kinds.dedup();
    format!(",{},", kinds.join(","))
}

/// Stores `tags` as job `job_id`'s, replacing any it had.
pub(crate) async fn insert_tags(
    conn: &mut Conn,
    job_id: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM job_tags WHERE job_id = $1")
        .bind(job_id)
        .execute(&mut *conn)
        .await?;
    for (key, value) in tags {
        sqlx::query("INSERT INTO job_tags (job_id, key, value) VALUES ($1, $2, $3)")
            .bind(job_id)
            .bind(key)
            .bind(value)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Stores each metric's mean of a settled job's summary, for filters and sorts.
pub(crate) async fn insert_scores(
    conn: &mut Conn,
    job_id: &str,
    summary: &Summary,
) -> Result<(), sqlx::Error> {
    for (metric, stat) in summary.iter().filter(|(_, s)| s.mean.is_finite()) {
        sqlx::query("INSERT INTO job_scores (job_id, metric, mean) VALUES ($1, $2, $3)")
            .bind(job_id)
            .bind(metric)
            .bind(stat.mean)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Applies `patch` to job `job_id`'s name, description and tags in one transaction: the job's
/// meta after it (`None`: no such job).
pub async fn update_meta(
    pool: &Pool,
    job_id: &str,
    patch: MetaPatch,
) -> anyhow::Result<Option<JobMeta>> {
    super::noted(pool, async move {
        let mut tx = super::write_tx(pool).await?;
        let row: Option<(Option<String>, Option<String>, Option<String>)> =
            sqlx::query_as(concat!(
                "SELECT name, description, tags_json FROM jobs WHERE id = $1",
                for_update!()
            ))
            .bind(job_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((name, description, tags)) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let tags = tags
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .context("a job's tags")?;
        let before = JobMeta {
            name,
            description,
            tags: tags.unwrap_or_default(),
        };
        let meta = patch.apply(before);
        sqlx::query("UPDATE jobs SET name = $1, description = $2, tags_json = $3 WHERE id = $4")
            .bind(&meta.name)
            .bind(&meta.description)
            .bind(serde_json::to_string(&meta.tags)?)
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        insert_tags(&mut tx, job_id, &meta.tags).await?;
        super::notify(&mut *tx, super::EVENTS_CHANNEL, job_id).await?;
        tx.commit().await?;
        Ok(Some(meta))
    })
    .await
}
