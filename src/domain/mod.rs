//! Validated domain types shared by the HTTP layer, the store and (later) the engine.

pub mod dataset;
pub mod final_model;
pub mod finding;
pub mod finding_kind;
pub mod heldout;
pub mod ids;
pub mod init;
pub mod job;
pub mod job_filter;
pub mod job_meta;
pub mod job_rules;
mod job_variants;
pub mod learning_rate;
pub mod metric;
pub mod model_choice;
pub mod model_spec;
pub mod nested;
pub mod parses;
pub mod pretrain;
pub mod results;
pub mod search;
pub mod spec;
pub mod spec_rules;
pub mod validation;
