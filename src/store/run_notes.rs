//! What a running run records about itself besides its epochs: the variant a comparison's
//! final run chose, what diagnosing its epochs found, and the kernel set it trains on. All
//! fenced by the lease token.

use crate::domain::finding::RunDiagnosis;
use crate::domain::job::Strategy;

super::dispatch! { run_notes:
    /// Records the variant a comparison's final run chose (the leaderboard's winner: a model and a
    /// strategy), if the lease is still held; `false` if it is not.
    pub async fn set_variant(
        run_id: &str,
        token: i64,
        variant: u32,
        strategy: Strategy,
    ) -> anyhow::Result<bool>;
    /// Records what diagnosing the run's epochs found, if the lease is still held; `false` if not.
    pub async fn set_diagnosis(
        run_id: &str,
        token: i64,
        diagnosis: &RunDiagnosis,
    ) -> anyhow::Result<bool>;
}
