//! The store's typed reads of what it keeps as JSON text: the job spec is parsed here and
//! nowhere else (a layout test holds it), checked again against every rule of what is
//! trainable.

use anyhow::Context;

use crate::domain::job::JobSpec;

/// A stored job spec.
pub(crate) fn spec(text: &str) -> anyhow::Result<JobSpec> {
    JobSpec::from_stored(text)
        .map_err(|e| anyhow::anyhow!(e))
        .context("the stored spec is unreadable")
}
