//! The training engine: plain data, a spec, a seed, a cancel flag and a progress callback in;
//! per-epoch history, weights and predictions out. No tokio, no SQL, no HTTP here.

pub mod clip;
pub mod model;
pub mod optim;
pub mod schedule;
pub mod weights;
