//! Optimization: the optimizer (`optimizer`, dispatching to one file per family: `sgd`,
//! `adaptive`, `adam`), its per-parameter buffers (`state`), Adam's update in pieces the run's
//! cores share (`pieces`), the learning-rate schedule, gradient clipping and the L1/L2
//! penalties.

pub mod adam;
pub mod adaptive;
pub mod clip;
pub mod optimizer;
pub mod penalties;
mod pieces;
pub mod schedule;
pub mod sgd;
pub mod state;
