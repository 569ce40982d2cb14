//! API tests: each spawns the real application on port 0 with its own temporary database.

mod auth;
mod browser;
mod calibration;
mod cli;
mod contract;
mod crash;
mod datasets;
mod diagnostics;
mod external;
mod fencing;
mod final_model;
mod fine_tuning;
mod helpers;
mod hostile;
mod imbalance;
mod jobs;
mod limits;
mod memory;
mod openapi;
mod plots;
mod pretraining;
mod protocol;
mod sequence_jobs;
mod sequences;
mod service;
mod storage;
