//! Every network crossfold trains, behind one type: the trainer, the optimizer, the checkpoint
//! format and the predictor reach a model only through `Model` (its parameters, buffers,
//! forward pass and loss). Each family is a variant here with its own file: `mlp.rs` for the
//! MLP and the autoencoder, `recurrent.rs` for the GRU.

pub mod activity;
pub mod autoencoder;
pub mod dense;
pub mod infer;
pub mod kernels;
pub mod layers;
pub mod mlp;
pub mod param;
pub mod pass;
pub mod recurrent;

use rand_chacha::ChaCha8Rng;

use self::dense::Workspace;
use self::mlp::Mlp;
use self::param::{Dev, Param};
use self::recurrent::Recurrent;
use crate::domain::spec::ModelSpec;

/// A network and what its outputs mean.
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    /// Classes from features: softmax outputs, class-weighted cross-entropy.
    Mlp(Mlp),
    /// Features from features (`one_class`): an MLP of the mirrored architecture
    /// (`autoencoder::architecture`), one output per input, mean squared error.
    Autoencoder(Mlp),
    /// Classes from sequences (packed rows, `data::sequences`): a GRU with attention pooling,
    /// class-weighted cross-entropy.
    Gru(Recurrent),
}

impl Model {
    /// A freshly initialized classifier (weights by `spec.init`, biases zero).
    pub fn mlp(spec: &ModelSpec, inputs: usize, classes: usize, rng: &mut ChaCha8Rng) -> Self {
        Model::Mlp(Mlp::new(spec, inputs, classes, rng))
    }

    /// A freshly initialized autoencoder of `spec`'s layers (already mirrored).
    pub fn autoencoder(spec: &ModelSpec, inputs: usize, rng: &mut ChaCha8Rng) -> Self {
        Model::Autoencoder(Mlp::new(spec, inputs, inputs, rng))
    }

    /// A freshly initialized GRU classifier of sequences of `channels`.
    pub fn gru(spec: &ModelSpec, channels: usize, classes: usize, rng: &mut ChaCha8Rng) -> Self {
        Model::Gru(Recurrent::new(spec, channels, classes, rng))
    }

    /// The name checkpoints record.
    pub fn kind(&self) -> &'static str {
        match self {
            Model::Mlp(_) => "mlp",
            Model::Autoencoder(_) => "autoencoder",
            Model::Gru(_) => "gru",
        }
    }

    /// A model of this kind and shape with placeholder weights, for a checkpoint to fill in.
    pub fn blank(kind: &str, spec: &ModelSpec, inputs: usize, outputs: usize) -> Option<Self> {
        let mut rng = rand::SeedableRng::seed_from_u64(0); // overwritten
        match kind {
            "mlp" => Some(Model::mlp(spec, inputs, outputs, &mut rng)),
            "autoencoder" => Some(Model::autoencoder(spec, inputs, &mut rng)),
            "gru" => Some(Model::gru(spec, inputs, outputs, &mut rng)),
            _ => None,
        }
    }

    /// The MLP under an MLP or an autoencoder.
    fn mlp_net(&self) -> Option<&Mlp> {
        match self {
            Model::Mlp(m) | Model::Autoencoder(m) => Some(m),
            Model::Gru(_) => None,
        }
    }

    pub fn spec(&self) -> &ModelSpec {
        match self {
            Model::Mlp(m) | Model::Autoencoder(m) => &m.spec,
            Model::Gru(g) => &g.spec,
        }
    }

    /// Input features; a GRU's channels.
    pub fn inputs(&self) -> usize {
        match self {
            Model::Mlp(m) | Model::Autoencoder(m) => m.inputs,
            Model::Gru(g) => g.net.input,
        }
    }

    /// Classes for a classifier, inputs for an autoencoder.
    pub fn outputs(&self) -> usize {
        match self {
            Model::Mlp(m) | Model::Autoencoder(m) => m.outputs,
            Model::Gru(g) => g.net.classes,
        }
    }

    /// This model's network as the kind `like` is (the same weights): a checkpoint written
    /// before checkpoints named their model kind reads as `mlp`, and the run's objective, not
    /// the file, decides what it is.
    pub fn as_kind_of(self, like: &Model) -> Model {
        match (self, like) {
            (Model::Mlp(net) | Model::Autoencoder(net), Model::Mlp(_)) => Model::Mlp(net),
            (Model::Mlp(net) | Model::Autoencoder(net), Model::Autoencoder(_)) => {
                Model::Autoencoder(net)
            }
            (other, _) => other,
        }
    }

    /// Whether `other` has this kind and shape (a checkpoint of it can be continued here).
    pub fn same_shape(&self, other: &Model) -> bool {
        self.kind() == other.kind()
            && self.inputs() == other.inputs()
            && self.outputs() == other.outputs()
            && self.params().len() == other.params().len()
    }

    pub fn params(&self) -> &[Param] {
        match self {
            Model::Mlp(m) | Model::Autoencoder(m) => &m.params,
            Model::Gru(g) => g.params(),
        }
    }

    pub fn params_mut(&mut self) -> &mut [Param] {
        match self {
            Model::Mlp(m) | Model::Autoencoder(m) => &mut m.params,
            Model::Gru(g) => g.params_mut(),
        }
    }

    /// Layers, for per-layer statistics: hidden layers, then the output layer (a GRU: the
    /// recurrent layer, the attention, the output layer).
    pub fn layer_count(&self) -> usize {
        match self {
            Model::Mlp(m) | Model::Autoencoder(m) => m.layers.len(),
            Model::Gru(g) => g.layer_count(),
        }
    }

    /// The layer (as `layer_count` numbers them) each parameter belongs to.
    pub fn layer_of(&self) -> Vec<usize> {
        let net = match self {
            Model::Mlp(m) | Model::Autoencoder(m) => m,
            Model::Gru(g) => return g.layer_of(),
        };
        let mut of = vec![0; net.params.len()];
        for (l, layer) in net.layers.iter().enumerate() {
            of[layer.weight] = l;
            of[layer.bias] = l;
            if let Some((g, b)) = layer.bn {
                of[g] = l;
                of[b] = l;
            }
            if let Some(Some(p)) = layer.skip {
                of[p] = l;
            }
        }
        of
    }

    /// State that is not a parameter (batch-norm running statistics), by checkpoint name.
    pub fn buffers(&self) -> Vec<(String, &[f32])> {
        let mut out = Vec::new();
        let Some(net) = self.mlp_net() else {
            return out;
        };
        for (i, stats) in net.running.iter().enumerate() {
            if let Some(s) = stats {
                out.push((format!("hidden.{i}.bn.running_mean"), s.mean.as_slice()));
                out.push((format!("hidden.{i}.bn.running_var"), s.var.as_slice()));
            }
        }
        out
    }

    /// As `buffers`, to fill in.
    pub fn buffers_mut(&mut self) -> Vec<(String, &mut [f32])> {
        let mut out = Vec::new();
        let (Model::Mlp(net) | Model::Autoencoder(net)) = self else {
            return out;
        };
        for (i, stats) in net.running.iter_mut().enumerate() {
            if let Some(s) = stats {
                out.push((format!("hidden.{i}.bn.running_mean"), s.mean.as_mut_slice()));
                out.push((format!("hidden.{i}.bn.running_var"), s.var.as_mut_slice()));
            }
        }
        out
    }

    /// One training step on `x` (features × batch): the loss, with the gradients in
    /// `ws.grads` (parameter order). Cross-entropy against `labels` weighted by
    /// `class_weights`, or an autoencoder's squared error against `x`. `rng` draws dropout.
    pub fn step(
        &mut self,
        ws: &mut Workspace,
        x: &[f32],
        batch: usize,
        labels: &[u32],
        class_weights: &[f32],
        rng: &mut ChaCha8Rng,
    ) -> f32 {
        match self {
            Model::Mlp(m) => m.dense_step(ws, x, batch, labels, class_weights, false, rng),
            Model::Autoencoder(m) => m.dense_step(ws, x, batch, labels, class_weights, true, rng),
            Model::Gru(g) => g.step(ws, x, batch, labels, class_weights, rng),
        }
    }

    /// Log class probabilities (batch × classes, row-major) of `x` (features × batch), in eval
    /// mode; an autoencoder's outputs are not probabilities, so this is for classifiers.
    pub fn log_proba(&mut self, _dev: &Dev, x: &[f32], batch: usize) -> Vec<f32> {
        match self {
            Model::Mlp(m) | Model::Autoencoder(m) => {
                m.dense_log_proba(&mut Workspace::default(), x, batch)
            }
            Model::Gru(g) => g.log_proba(x, batch),
        }
    }

    /// The raw outputs (batch × outputs, row-major) of `x` (features × batch), in eval mode:
    /// an autoencoder's reconstruction.
    pub fn raw_outputs(&mut self, dev: &Dev, x: &[f32], batch: usize) -> Vec<f32> {
        match self {
            Model::Mlp(m) | Model::Autoencoder(m) => {
                m.dense_outputs(&mut Workspace::default(), x, batch)
            }
            Model::Gru(_) => self.log_proba(dev, x, batch),
        }
    }
}
