//! `idempotency_keys`: which object a POST with an `Idempotency-Key` created.

use sqlx::{SqliteConnection, SqlitePool};

/// A key already used: the request it came with and what it created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedKey {
    pub request_hash: String,
    pub resource_id: String,
}

/// Looks up a key of a route (`scope`).
pub async fn find_key(
    pool: &SqlitePool,
    scope: &str,
    key: &str,
) -> Result<Option<UsedKey>, sqlx::Error> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT request_hash, resource_id FROM idempotency_keys WHERE scope = ? AND key = ?",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(request_hash, resource_id)| UsedKey {
        request_hash,
        resource_id,
    }))
}

/// Records a key inside the transaction that creates its object; fails with a unique violation
/// if another request took the key first.
pub(crate) async fn record_key(
    conn: &mut SqliteConnection,
    scope: &str,
    key: &str,
    request_hash: &str,
    resource_id: &str,
    created_at: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, request_hash, resource_id, created_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(scope)
    .bind(key)
    .bind(request_hash)
    .bind(resource_id)
    .bind(created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets the keys that created `resource_id` (when it is deleted).
pub(crate) async fn forget_resource(
    conn: &mut SqliteConnection,
    resource_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM idempotency_keys WHERE resource_id = ?")
        .bind(resource_id)
        .execute(conn)
        .await?;
    Ok(())
}
