//! crossfold: an HTTP service that trains neural-network classifiers with stratified k-fold
//! cross-validation. The binary (`main.rs`) is a thin CLI over this library, so integration
//! tests link against the same code.

pub mod catalog;
pub mod compute;
pub mod config;
pub mod diagnose;
pub mod domain;
pub mod engine;
pub mod error;
pub mod health;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod plots;
pub mod queue;
pub mod startup;
pub mod store;
pub mod telemetry;

/// The handle to the database every layer passes along (its reads and writes are in `store`).
pub use store::Db;
