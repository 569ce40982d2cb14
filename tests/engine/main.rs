//! Engine tests: numerics pinned to PyTorch / scikit-learn values in `tests/fixtures/*.json`
//! (copied from the reference material, never regenerated from our code), and training
//! behaviour on real data.

mod averaging;
mod backward;
mod checkpoints;
mod control;
mod conv;
mod cores;
mod cv;
mod data;
mod dense;
mod ensembles;
mod golden;
mod group_folds;
mod helpers;
mod lstm;
mod metrics;
mod phenomena;
mod rate_range;
mod resample;
mod sequence;
mod training;
