//! `pretrain` of a job: greedy layer-wise pretraining. Each hidden layer is first trained as an
//! autoencoder of the previous layer's output (the fold's training rows, plus an optional
//! unlabeled dataset), then the whole network is trained as usual: the seed's remedy for
//! vanishing gradients in deep sigmoid networks.

use serde::{Deserialize, Serialize};

/// `{"kind": "autoencoder", "epochs": n, "dataset_id": optional}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainSpec {
    pub kind: PretrainKind,
    /// Epochs of each layer's autoencoder.
    pub epochs: u64,
    /// Also pretrain on this dataset's rows (its labels, if any, are ignored); it must have
    /// every feature column the job trains on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PretrainKind {
    Autoencoder,
}
