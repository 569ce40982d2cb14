//! Class-imbalance samplers applied to a fold's (encoded) training rows only, following
//! imbalanced-learn: random over-sampling (optionally with a smoothed bootstrap, `shrinkage`),
//! random under-sampling, SMOTE, and NearMiss 1/2/3. Targets follow imbalanced-learn's
//! `sampling_strategy`: "auto" (ratio 1.0) resamples every class but the majority (over) or but
//! the minority (under); a ratio r is minority/majority after resampling.
//!
//! Nearest neighbours are exact brute force (matrix multiplication shortlists, exact f64
//! distances decide) with Euclidean distance, ties broken by row order (as a stable sort).

pub mod nearmiss;
pub mod neighbors;
pub mod random;
pub mod smote;
pub mod targets;

pub use self::nearmiss::nearmiss;
pub use self::neighbors::{Matrix, knn};
pub use self::random::{oversample, shrinkage_bandwidth, undersample};
pub use self::smote::{smote, smote_neighbors};
pub use self::targets::{class_counts, over_targets, under_targets};
