//! A job's name, description and tags, changed after submit (submit stores them with the job).

use crate::domain::job_meta::{JobMeta, MetaPatch};

super::dispatch! { job_meta:
    /// Applies `patch` to job `job_id`'s name, description and tags: the result (`None`: no
    /// such job).
    pub async fn update_meta(job_id: &str, patch: MetaPatch) -> anyhow::Result<Option<JobMeta>>;
}
