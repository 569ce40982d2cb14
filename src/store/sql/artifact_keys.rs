//! The keys of every object the database points to.

use super::Pool;

/// Every artifact key a run or an ensemble member holds.
pub async fn all(pool: &Pool) -> anyhow::Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT checkpoint_key FROM runs WHERE checkpoint_key IS NOT NULL
         UNION ALL SELECT heldout_key FROM runs WHERE heldout_key IS NOT NULL
         UNION ALL SELECT weights_key FROM run_members WHERE weights_key IS NOT NULL",
    )
    .fetch_all(pool)
    .await?)
}
