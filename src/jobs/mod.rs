//! A job's life outside HTTP and the queue: submitting it (checked, resolved and planned once,
//! then stored), what its runs add up to (computed when it settles and stored typed), and what
//! reading its results and models takes. `http/` only parses requests and shapes responses;
//! `queue/` only claims, leases and runs.

pub mod compare;
pub mod export;
pub mod feed;
pub mod halving;
pub mod heldout;
mod inputs;
pub mod list_feed;
pub mod metrics;
pub mod models;
pub mod nested;
pub mod plan;
pub mod predict;
mod rejected;
pub mod results;
pub mod settle;
pub mod submit;
pub mod thresholds;
pub mod views;
