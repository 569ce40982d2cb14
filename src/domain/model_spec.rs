//! The `model` block of a training spec: an MLP's, a GRU's, an LSTM's, an FCN's or a
//! ResNet-1D's architecture, with its defaults, and what each family (`ModelKind`) is.

use serde::{Deserialize, Serialize};

/// The network: a multi-layer perceptron (`mlp`, for tables), a recurrent network (`gru`,
/// `lstm`) or a convolutional one (`fcn`, `resnet1d`), for sequences. Each family reads its own
/// fields (`ModelKind::fields`) and refuses the others' (`foreign_fields`); every field has
/// one default, so a spec stored before a family refused a field still reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSpec {
    /// `mlp` (default), `gru`, `lstm`, `fcn` or `resnet1d`.
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
    /// GRU, LSTM: the state's width. Default 64.
    pub hidden_size: u64,
    /// GRU, LSTM: stacked layers, each reading the states of the one below. Default 1.
    pub layers: u64,
    /// GRU, LSTM: also read each sequence backwards. Default false.
    pub bidirectional: bool,
    /// GRU, LSTM: how the states are pooled into the head's input. Default `none`.
    pub attention: AttentionKind,
    /// LSTM: the forget gate's bias starts at 1 (Keras' default), not PyTorch's uniform draw.
    /// Default false.
    pub unit_forget_bias: bool,
    /// FCN: each convolution block's filters (default `[128, 256, 128]`); ResNet-1D: each
    /// residual block's (default `[64, 128, 128]`). `null` until planned: the family's default.
    pub filters: Option<Vec<u64>>,
    /// FCN: each block's kernel (default `[8, 5, 3]`, one per block); ResNet-1D: the kernels of
    /// the convolutions inside every residual block (default `[8, 5, 3]`).
    pub kernel_sizes: Option<Vec<u64>>,
}

/// A value's name as the spec writes it (`"leaky_relu"`).
fn spec_name(v: impl Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Three significant digits (at most: `0.2` stays `0.2`).
pub(crate) fn significant(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return x.to_string();
    }
    let digits = (2 - x.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{x:.digits$}");
    match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.').to_owned(),
        false => text,
    }
}

impl ModelSpec {
    /// A short description of the architecture, for leaderboards and plots: `mlp 64-64 relu`,
    /// `gru 64×2 bi additive`, `fcn 128-256-128`.
    pub fn describe(&self) -> String {
        let widths = |w: &[u64]| w.iter().map(u64::to_string).collect::<Vec<_>>().join("-");
        let mut parts = vec![self.kind.name().to_owned()];
        if self.kind.is_recurrent() {
            parts.push(format!("{}×{}", self.hidden_size, self.layers));
            if self.bidirectional {
                parts.push("bi".into());
            }
            if self.attention != AttentionKind::None {
                parts.push(spec_name(self.attention));
            }
        } else if self.kind.convolution().is_some() {
            parts.push(widths(&self.conv_filters()));
        } else {
            parts.push(widths(&self.hidden_layers));
            parts.push(spec_name(self.activation));
            for (on, what) in [(self.batch_norm, "bn"), (self.residual, "residual")] {
                if on {
                    parts.push(what.into());
                }
            }
        }
        if self.dropout > 0.0 {
            parts.push(format!("dropout {}", significant(self.dropout)));
        }
        parts.join(" ")
    }

    /// A convolutional family's filters: the spec's, else the family's default.
    pub fn conv_filters(&self) -> Vec<u64> {
        let default = self.kind.convolution().map_or(&[][..], |c| c.0);
        self.filters.clone().unwrap_or_else(|| default.to_vec())
    }

    /// A convolutional family's kernels: the spec's, else the family's default.
    pub fn conv_kernels(&self) -> Vec<u64> {
        let default = self.kind.convolution().map_or(&[][..], |c| c.1);
        self.kernel_sizes
            .clone()
            .unwrap_or_else(|| default.to_vec())
    }

    /// This spec with its family's defaults written in (what a dry run shows).
    pub fn resolved(mut self) -> Self {
        if self.kind.convolution().is_some() {
            self.filters = Some(self.conv_filters());
            self.kernel_sizes = Some(self.conv_kernels());
        }
        self
    }

    /// Fields set away from their defaults that this family does not read: refused, so a
    /// value is never silently ignored (a GRU given `hidden_layers`, an MLP `hidden_size`).
    pub fn foreign_fields(&self) -> Vec<&'static str> {
        let own = self.kind.fields();
        (self.set_fields().into_iter())
            .filter(|f| !own.contains(f))
            .collect()
    }

    /// The fields (other than `kind`) set away from their defaults.
    fn set_fields(&self) -> Vec<&'static str> {
        let d = ModelSpec::default();
        let set = [
            ("hidden_layers", self.hidden_layers != d.hidden_layers),
            ("activation", self.activation != d.activation),
            ("batch_norm", self.batch_norm),
            ("residual", self.residual),
            ("dropout", self.dropout != d.dropout),
            ("input_dropout", self.input_dropout != d.input_dropout),
            ("init", self.init != d.init),
            ("hidden_size", self.hidden_size != d.hidden_size),
            ("layers", self.layers != d.layers),
            ("bidirectional", self.bidirectional),
            ("attention", self.attention != d.attention),
            ("unit_forget_bias", self.unit_forget_bias),
            ("filters", self.filters.is_some()),
            ("kernel_sizes", self.kernel_sizes.is_some()),
        ];
        set.iter().filter(|(_, on)| *on).map(|(f, _)| *f).collect()
    }

    /// What makes two models' weights interchangeable (everything but regularization): what
    /// fine-tuning (`init`) needs to be the same.
    pub fn architecture(&self) -> String {
        match self.kind {
            ModelKind::Mlp => format!(
                "mlp hidden_layers {:?}, activation {:?}, batch_norm {}, residual {}",
                self.hidden_layers, self.activation, self.batch_norm, self.residual
            ),
            ModelKind::Fcn | ModelKind::Resnet1d => format!(
                "{} filters {:?}, kernel_sizes {:?}",
                self.kind.name(),
                self.conv_filters(),
                self.conv_kernels()
            ),
            ModelKind::Gru | ModelKind::Lstm => format!(
                "{} hidden_size {}, layers {}, bidirectional {}, attention {:?}",
                self.kind.name(),
                self.hidden_size,
                self.layers,
                self.bidirectional,
                self.attention
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

/// The largest convolution kernel a spec may ask for.
pub const MAX_KERNEL: u64 = 64;

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
            unit_forget_bias: false,
            filters: None,
            kernel_sizes: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Mlp,
    Gru,
    Lstm,
    Fcn,
    Resnet1d,
}

/// What each family is, declared once: the rest of the service asks the kind, never matches
/// on it (`tests/layout.rs` holds that).
impl ModelKind {
    pub const ALL: [ModelKind; 5] = [
        ModelKind::Mlp,
        ModelKind::Gru,
        ModelKind::Lstm,
        ModelKind::Fcn,
        ModelKind::Resnet1d,
    ];

    /// The name a spec and a checkpoint give the family.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Gru => "gru",
            ModelKind::Lstm => "lstm",
            ModelKind::Fcn => "fcn",
            ModelKind::Resnet1d => "resnet1d",
        }
    }

    /// Whether the family reads sequences (a table otherwise).
    pub fn reads_sequences(self) -> bool {
        self != ModelKind::Mlp
    }

    /// Whether the family is recurrent: its gradients vanish through time, attention gives
    /// every step a direct path to the output, depth is its layers.
    pub fn is_recurrent(self) -> bool {
        self.recurrent_gates() > 0
    }

    /// A recurrent family's gates per layer (GRU 3, LSTM 4); 0 for the others.
    pub fn recurrent_gates(self) -> usize {
        match self {
            ModelKind::Mlp | ModelKind::Fcn | ModelKind::Resnet1d => 0,
            ModelKind::Gru => 3,
            ModelKind::Lstm => 4,
        }
    }

    /// A convolutional family's default filters and kernels, and whether its blocks are
    /// residual (Wang et al. 2017); `None` for the others.
    pub fn convolution(self) -> Option<(&'static [u64], &'static [u64], bool)> {
        match self {
            ModelKind::Fcn => Some((&[128, 256, 128], &[8, 5, 3], false)),
            ModelKind::Resnet1d => Some((&[64, 128, 128], &[8, 5, 3], true)),
            ModelKind::Mlp | ModelKind::Gru | ModelKind::Lstm => None,
        }
    }

    /// The family whose residual structure remedies this one's degradation (FCN → ResNet-1D).
    pub fn residual_counterpart(self) -> Option<ModelKind> {
        (self == ModelKind::Fcn).then_some(ModelKind::Resnet1d)
    }

    /// The `model` fields the family reads besides `kind`; a spec that sets another is refused.
    pub fn fields(self) -> &'static [&'static str] {
        // A GRU reads the LSTM's fields but the last: it has no forget gate.
        const RECURRENT: [&str; 6] = [
            "hidden_size",
            "layers",
            "bidirectional",
            "attention",
            "dropout",
            "unit_forget_bias",
        ];
        match self {
            ModelKind::Mlp => &[
                "hidden_layers",
                "activation",
                "batch_norm",
                "residual",
                "dropout",
                "input_dropout",
                "init",
            ],
            ModelKind::Gru => &RECURRENT[..5],
            ModelKind::Lstm => &RECURRENT,
            ModelKind::Fcn | ModelKind::Resnet1d => &["filters", "kernel_sizes"],
        }
    }

    /// The spec field that sizes the family's model.
    pub fn width_field(self) -> &'static str {
        match self {
            ModelKind::Mlp => "model.hidden_layers",
            ModelKind::Gru | ModelKind::Lstm => "model.hidden_size",
            ModelKind::Fcn | ModelKind::Resnet1d => "model.filters",
        }
    }

    /// Whether autoencoder pretraining applies (it trains an MLP's hidden layers).
    pub fn pretrainable(self) -> bool {
        match self {
            ModelKind::Mlp => true,
            ModelKind::Gru | ModelKind::Lstm | ModelKind::Fcn | ModelKind::Resnet1d => false,
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
