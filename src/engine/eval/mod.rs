//! Scoring predictions: the metrics of one set (`scores`, equal to scikit-learn's) and their
//! statistics across folds (`summary`), and a binary decision threshold tuned on held-out
//! predictions (`threshold`).

pub mod curves;
pub mod scores;
pub mod summary;
pub mod threshold;
