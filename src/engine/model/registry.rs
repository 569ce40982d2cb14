//! The families, listed once: the one place that maps a spec's `kind` (and the run's
//! objective) to a network, and a checkpoint's recorded kind back to one.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::Model;
use super::recurrent::Recurrent;
use super::table::TableNet;
use crate::domain::spec::{ModelKind, ModelSpec};
use crate::engine::conv::family::ConvFamily;
use crate::engine::conv::parameters::ConvShape;
use crate::engine::sequence::gru::Gru;
use crate::engine::sequence::lstm::Lstm;

/// What a run's model learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learns {
    /// The class of each row or sequence.
    Classes(usize),
    /// The row itself (`one_class`'s autoencoder, of `spec`'s already mirrored layers).
    Reconstruction,
}

/// A freshly initialized network of `spec`'s family reading `inputs` features or channels.
pub fn build(spec: &ModelSpec, inputs: usize, learns: Learns, rng: &mut ChaCha8Rng) -> Model {
    match (learns, spec.kind) {
        (Learns::Reconstruction, _) => {
            Model::new(Box::new(TableNet::autoencoder(spec, inputs, rng)))
        }
        (Learns::Classes(classes), ModelKind::Mlp) => {
            Model::new(Box::new(TableNet::classifier(spec, inputs, classes, rng)))
        }
        (Learns::Classes(classes), ModelKind::Gru) => {
            Model::new(Box::new(Recurrent::<Gru>::new(spec, inputs, classes, rng)))
        }
        (Learns::Classes(classes), ModelKind::Lstm) => {
            Model::new(Box::new(Recurrent::<Lstm>::new(spec, inputs, classes, rng)))
        }
        (Learns::Classes(classes), ModelKind::Fcn | ModelKind::Resnet1d) => {
            let shape = conv_shape(spec);
            let net = ConvFamily::new(spec.kind.name(), spec, &shape, inputs, classes, rng);
            Model::new(Box::new(net))
        }
    }
}

/// A model of the kind a checkpoint recorded and of this shape, with placeholder weights for
/// the checkpoint to fill in; `None` for a kind no family has.
pub fn blank(kind: &str, spec: &ModelSpec, inputs: usize, outputs: usize) -> Option<Model> {
    let mut rng = ChaCha8Rng::seed_from_u64(0); // overwritten
    let learns = match kind {
        "autoencoder" => Learns::Reconstruction,
        k if k == spec.kind.name() => Learns::Classes(outputs),
        _ => return None,
    };
    Some(build(spec, inputs, learns, &mut rng))
}

/// A convolutional family's blocks from its spec (defaults for what it leaves out).
fn conv_shape(spec: &ModelSpec) -> ConvShape {
    let to_usize = |v: Vec<u64>| v.into_iter().map(|n| n as usize).collect();
    ConvShape {
        filters: to_usize(spec.conv_filters()),
        kernels: to_usize(spec.conv_kernels()),
        residual: spec.kind.convolution().is_some_and(|c| c.2),
    }
}
