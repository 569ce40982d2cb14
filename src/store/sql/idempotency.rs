use super::{Conn, Pool};
use crate::store::idempotency::UsedKey;

/// Looks up a key of a route (`scope`).
pub async fn find_key(pool: &Pool, scope: &str, key: &str) -> Result<Option<UsedKey>, sqlx::Error> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT request_hash, resource_id FROM idempotency_keys WHERE scope = $1 AND key = $2",
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
    conn: &mut Conn,
    scope: &str,
    key: &str,
    request_hash: &str,
    resource_id: &str,
    created_at: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, request_hash, resource_id, created_at)
         VALUES ($1, $2, $3, $4, $5)",
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
pub(crate) async fn forget_resource(conn: &mut Conn, resource_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM idempotency_keys WHERE resource_id = $1")
        .bind(resource_id)
        .execute(conn)
        .await?;
    Ok(())
}
