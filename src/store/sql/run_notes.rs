use super::Pool;
use crate::domain::finding::RunDiagnosis;
use crate::domain::job::Strategy;

/// Records the variant a comparison's final run chose (the leaderboard's winner: a model and a
/// strategy), if the lease is still held; `false` if it is not.
pub async fn set_variant(
    pool: &Pool,
    run_id: &str,
    token: i64,
    variant: u32,
    strategy: Strategy,
) -> anyhow::Result<bool> {
    let set = sqlx::query(
        "UPDATE runs SET strategy = $1, variant = $2
         WHERE id = $3 AND lease_token = $4 AND state = 'running'",
    )
    .bind(strategy.as_str())
    .bind(i64::from(variant))
    .bind(run_id)
    .bind(token)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(set > 0)
}

/// Records what diagnosing the run's epochs found, if the lease is still held; `false` if not.
pub async fn set_diagnosis(
    pool: &Pool,
    run_id: &str,
    token: i64,
    diagnosis: &RunDiagnosis,
) -> anyhow::Result<bool> {
    // Not `health::noted`: a few hundred bytes of advice going through says nothing about
    // whether a checkpoint fits, so it neither sets nor clears the database's fault.
    let set = sqlx::query(
        "UPDATE runs SET findings_json = $1 WHERE id = $2 AND lease_token = $3 AND state = 'running'",
    )
    .bind(serde_json::to_string(diagnosis)?)
    .bind(run_id)
    .bind(token)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(set > 0)
}
