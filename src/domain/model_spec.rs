//! The `model` block of a training spec: an MLP's or a GRU's architecture, with its defaults.

use serde::{Deserialize, Serialize};

/// The network: a multi-layer perceptron (`mlp`, for tables) or a GRU (`gru`, for sequences).
/// The MLP's fields are ignored by a GRU and the GRU's by an MLP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSpec {
    /// `mlp` (default) or `gru`.
    pub kind: ModelKind,
    /// Widths of the hidden layers, input to output. Default `[64, 64]`.
    pub hidden_layers: Vec<u64>,
    /// Default `relu`.
    pub activation: Activation,
    /// Batch normalization after each hidden linear layer. Default off.
    pub batch_norm: bool,
    /// Identity (or projected) skip around each hidden layer. Default off.
    pub residual: bool,
    /// Dropout after each hidden activation, in training only. Default 0.
    pub dropout: f64,
    /// Dropout on the inputs, in training only. Default 0.
    pub input_dropout: f64,
    /// Default `auto`: He for the ReLU family, Xavier for sigmoid and tanh.
    pub init: Init,
    /// GRU: the state's width. Default 64.
    pub hidden_size: u64,
    /// GRU: stacked layers, each reading the states of the one below. Default 1.
    pub layers: u64,
    /// GRU: also read each sequence backwards. Default false.
    pub bidirectional: bool,
    /// GRU: how the states are pooled into the head's input. Default `none`.
    pub attention: AttentionKind,
}

impl ModelSpec {
    /// What makes two models' weights interchangeable (everything but regularization): what
    /// fine-tuning (`init`) needs to be the same.
    pub fn architecture(&self) -> String {
        match self.kind {
            ModelKind::Mlp => format!(
                "mlp hidden_layers {:?}, activation {:?}, batch_norm {}, residual {}",
                self.hidden_layers, self.activation, self.batch_norm, self.residual
            ),
            ModelKind::Gru => format!(
                "gru hidden_size {}, layers {}, bidirectional {}, attention {:?}",
                self.hidden_size, self.layers, self.bidirectional, self.attention
            ),
        }
    }
}

/// How a GRU's states are pooled; the query is each sequence's last valid state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttentionKind {
    /// The last valid state alone.
    None,
    /// Bahdanau: `e_j = vᵀ tanh(W_s s + W_h h_j)`.
    Additive,
    /// Luong's general form: `e_j = sᵀ W h_j`.
    Multiplicative,
    /// Luong's dot form: `e_j = sᵀ h_j`.
    Dot,
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self {
            kind: ModelKind::Mlp,
            hidden_layers: vec![64, 64],
            activation: Activation::Relu,
            batch_norm: false,
            residual: false,
            dropout: 0.0,
            input_dropout: 0.0,
            init: Init::Auto,
            hidden_size: 64,
            layers: 1,
            bidirectional: false,
            attention: AttentionKind::None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Mlp,
    Gru,
}

/// What each family is, declared once: the rest of the service asks the kind, never matches
/// on it (`tests/layout.rs` holds that).
impl ModelKind {
    pub const ALL: [ModelKind; 2] = [ModelKind::Mlp, ModelKind::Gru];

    /// The name a spec and a checkpoint give the family.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Gru => "gru",
        }
    }

    /// Whether the family reads sequences (a table otherwise).
    pub fn reads_sequences(self) -> bool {
        match self {
            ModelKind::Mlp => false,
            ModelKind::Gru => true,
        }
    }

    /// Whether the family is recurrent: its gradients vanish through time, attention gives
    /// every step a direct path to the output, depth is its layers.
    pub fn is_recurrent(self) -> bool {
        match self {
            ModelKind::Mlp => false,
            ModelKind::Gru => true,
        }
    }

    /// The spec field that sizes the family's model.
    pub fn width_field(self) -> &'static str {
        match self {
            ModelKind::Mlp => "model.hidden_layers",
            ModelKind::Gru => "model.hidden_size",
        }
    }

    /// Whether autoencoder pretraining applies (it trains an MLP's hidden layers).
    pub fn pretrainable(self) -> bool {
        match self {
            ModelKind::Mlp => true,
            ModelKind::Gru => false,
        }
    }

    /// The families that read tables (`false`) or sequences (`true`), as a spec names them.
    pub fn names_reading(sequences: bool) -> String {
        let names: Vec<String> = Self::ALL
            .iter()
            .filter(|k| k.reads_sequences() == sequences)
            .map(|k| format!("\"{}\"", k.name()))
            .collect();
        names.join(" or ")
    }
}

/// Hidden-layer activation. leaky_relu has slope 0.01, elu alpha 1, gelu is the exact erf form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Relu,
    LeakyRelu,
    Elu,
    Gelu,
    Sigmoid,
    Tanh,
}

impl Activation {
    /// Whether He initialization suits it (the ReLU family).
    pub fn is_relu_family(self) -> bool {
        matches!(
            self,
            Activation::Relu | Activation::LeakyRelu | Activation::Elu | Activation::Gelu
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    Auto,
    He,
    Xavier,
}
