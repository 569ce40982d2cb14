//! Every network crossfold trains, behind one type: the trainer, the optimizer, the checkpoint
//! format and the predictor reach a model only through `Model` (its parameters, buffers,
//! forward pass and loss). A new family — a GRU, attention — is a new variant here with its own
//! file beside `mlp.rs`.

pub mod activity;
pub mod autoencoder;
pub mod dense;
pub mod infer;
pub mod kernels;
pub mod layers;
pub mod mlp;
pub mod param;
pub mod pass;

use rand_chacha::ChaCha8Rng;

use self::dense::Workspace;
use self::mlp::Mlp;
use self::param::{Dev, Param};
use crate::domain::spec::ModelSpec;

/// A network and what its outputs mean.
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    /// Classes from features: softmax outputs, class-weighted cross-entropy.
    Mlp(Mlp),
    /// Features from features (`one_class`): an MLP of the mirrored architecture
    /// (`autoencoder::architecture`), one output per input, mean squared error.
    Autoencoder(Mlp),
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

    /// The name checkpoints record.
    pub fn kind(&self) -> &'static str {
        match self {
            Model::Mlp(_) => "mlp",
            Model::Autoencoder(_) => "autoencoder",
        }
    }

    /// A model of this kind and shape with placeholder weights, for a checkpoint to fill in.
    pub fn blank(kind: &str, spec: &ModelSpec, inputs: usize, outputs: usize) -> Option<Self> {
        let mut rng = rand::SeedableRng::seed_from_u64(0); // overwritten
        match kind {
            "mlp" => Some(Model::mlp(spec, inputs, outputs, &mut rng)),
            "autoencoder" => Some(Model::autoencoder(spec, inputs, &mut rng)),
            _ => None,
        }
    }

    fn net(&self) -> &Mlp {
        match self {
            Model::Mlp(m) | Model::Autoencoder(m) => m,
        }
    }

    fn net_mut(&mut self) -> &mut Mlp {
        match self {
            Model::Mlp(m) | Model::Autoencoder(m) => m,
        }
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.net().spec
    }

    pub fn inputs(&self) -> usize {
        self.net().inputs
    }

    /// Classes for a classifier, inputs for an autoencoder.
    pub fn outputs(&self) -> usize {
        self.net().outputs
    }

    /// This model's network as the kind `like` is (the same weights): a checkpoint written
    /// before checkpoints named their model kind reads as `mlp`, and the run's objective, not
    /// the file, decides what it is.
    pub fn as_kind_of(self, like: &Model) -> Model {
        let (Model::Mlp(net) | Model::Autoencoder(net)) = self;
        match like {
            Model::Mlp(_) => Model::Mlp(net),
            Model::Autoencoder(_) => Model::Autoencoder(net),
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
        &self.net().params
    }

    pub fn params_mut(&mut self) -> &mut [Param] {
        &mut self.net_mut().params
    }

    /// Layers, for per-layer statistics: hidden layers, then the output layer.
    pub fn layer_count(&self) -> usize {
        self.net().layers.len()
    }

    /// The layer (as `layer_count` numbers them) each parameter belongs to.
    pub fn layer_of(&self) -> Vec<usize> {
        let net = self.net();
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
        for (i, stats) in self.net().running.iter().enumerate() {
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
        for (i, stats) in self.net_mut().running.iter_mut().enumerate() {
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
        let reconstruct = matches!(self, Model::Autoencoder(_));
        self.net_mut()
            .dense_step(ws, x, batch, labels, class_weights, reconstruct, rng)
    }

    /// Log class probabilities (batch × classes, row-major) of `x` (features × batch), in eval
    /// mode; an autoencoder's outputs are not probabilities, so this is for classifiers.
    pub fn log_proba(&mut self, _dev: &Dev, x: &[f32], batch: usize) -> Vec<f32> {
        self.net_mut()
            .dense_log_proba(&mut Workspace::default(), x, batch)
    }

    /// The raw outputs (batch × outputs, row-major) of `x` (features × batch), in eval mode:
    /// an autoencoder's reconstruction.
    pub fn raw_outputs(&mut self, _dev: &Dev, x: &[f32], batch: usize) -> Vec<f32> {
        self.net_mut()
            .dense_outputs(&mut Workspace::default(), x, batch)
    }
}
