//! What a sequence family trains and predicts on: a padded batch of sequences with each one's
//! valid steps (batch-major, B × T × D).

/// A padded batch: `batch` sequences of `steps` steps, `lengths[b] ≤ steps` valid each.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    pub x: &'a [f32],
    pub batch: usize,
    pub steps: usize,
    pub lengths: &'a [usize],
}
