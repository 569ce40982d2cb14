//! Data as the engine trains on it: the table of a dataset's columns (`table`), the feature
//! encoding fitted per fold (`encode`), stratified folds and the test set (`split`), dense
//! rows with their batches (`rows`), and sequences packed into rows (`sequences`).

pub mod encode;
pub mod group_split;
pub mod labels;
pub mod rows;
pub mod sequences;
pub mod split;
pub mod table;
