//! What each epoch of a run recorded, and how the run ended.

use serde::{Deserialize, Serialize};

/// One epoch of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: u64,
    /// Mean class-weighted loss over the epoch's batches.
    pub train_loss: f64,
    /// Inner validation split (early stopping only): loss and accuracy.
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    /// The run's held-out rows, for learning curves.
    pub holdout_loss: Option<f64>,
    pub holdout_accuracy: Option<f64>,
    pub learning_rate: f64,
    /// Global gradient norm before clipping, mean over the epoch's steps.
    pub grad_norm: f64,
    /// Per layer (hidden layers, then output), mean over the epoch's steps.
    pub layer_grad_norms: Vec<f64>,
    /// Per layer, at the epoch's end: the L2 norm of its weights (not biases or batch norm).
    #[serde(default)]
    pub layer_weight_norms: Vec<f64>,
    /// Per layer: how far the epoch moved its weights, `‖W_end − W_start‖ / ‖W_start‖`.
    #[serde(default)]
    pub layer_update_ratios: Vec<f64>,
    /// Per hidden layer, ReLU family only (else empty): the share of units whose input was
    /// never positive in the epoch's training batches (dead units).
    #[serde(default)]
    pub dead_unit_fractions: Vec<f64>,
    /// Per hidden layer, sigmoid and tanh only (else empty): the share of the epoch's training
    /// activations where the derivative is below `SATURATED_SLOPE` (saturated units).
    #[serde(default)]
    pub saturated_fractions: Vec<f64>,
    pub seconds: f64,
    /// Rows trained on this epoch (after resampling, without the early-stopping split).
    #[serde(default)]
    pub samples: u64,
    /// Ensembles: the member (0-based) this epoch trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<u64>,
    /// `pretrain`: this epoch trained hidden layer `layer`'s autoencoder (its own numbering,
    /// 1-based per layer), not the classifier.
    #[serde(default)]
    pub phase: Phase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<u64>,
}

/// What an epoch trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// An autoencoder of one hidden layer (greedy layer-wise pretraining).
    Pretrain,
    /// The network itself.
    #[default]
    Train,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pretrain => "pretrain",
            Phase::Train => "train",
        }
    }
}

/// How training ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// Every epoch ran.
    Completed,
    /// Early stopping ran out of patience.
    EarlyStopped,
    /// The cancel flag was set.
    Cancelled,
    /// A search's rung: the leg ended at its epoch, the state checkpointed, to go on if the
    /// search promotes it (`Leg::PauseAt`).
    Paused,
    /// A search stopped it at a rung: it ends with the epochs it had (`Leg::Halt`).
    Halted,
    /// Its training loss reached the target it trained to (`Leg::ToLoss`).
    ReachedLoss,
}
