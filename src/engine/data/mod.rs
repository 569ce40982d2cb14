//! Data as the engine trains on it: the table of a dataset's columns (`table`), the feature
//! encoding fitted per fold (`encode`), stratified folds and the test set (`split`), and dense
//! rows with their batches (`rows`).

pub mod encode;
pub mod rows;
pub mod split;
pub mod table;
