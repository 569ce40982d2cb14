//! Scoring predictions: the metrics of one set (`scores`, equal to scikit-learn's) and their
//! statistics across folds (`summary`).

pub mod curves;
pub mod scores;
pub mod summary;
