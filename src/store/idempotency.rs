//! `idempotency_keys`: which object a POST with an `Idempotency-Key` created.

/// A key already used: the request it came with and what it created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedKey {
    pub request_hash: String,
    pub resource_id: String,
}

super::dispatch! { idempotency:
    /// Looks up a key of a route (`scope`).
    pub async fn find_key(scope: &str, key: &str) -> Result<Option<UsedKey>, sqlx::Error>;
}
