//! Why a submit stored nothing: invalid fields (every one at once), an idempotency key reused
//! with another request, or the store failing.

use crate::domain::spec::SpecError;

/// Why a submit stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The spec, against its datasets and the limits: every invalid field.
    #[error("invalid spec")]
    Invalid(Vec<SpecError>),
    /// The idempotency key was used before with another request.
    #[error("this Idempotency-Key was already used with a different request")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl SubmitError {
    /// One invalid field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        SubmitError::Invalid(vec![SpecError::new(field, message)])
    }
}
