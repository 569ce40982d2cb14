//! Class-imbalance handling on a fold's training rows: the per-strategy plan, class weights,
//! the samplers, the under-sampling ensembles and the one-class autoencoder with its
//! calibration.

pub mod calibration;
pub mod ensemble;
pub mod one_class;
pub mod plan;
pub mod priors;
pub mod samplers;
pub mod weights;
