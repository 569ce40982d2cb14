//! The autoencoder's architecture: an MLP whose hidden layers narrow to a code and widen back,
//! trained to reproduce its input (`Model::Autoencoder`).

use crate::domain::spec::ModelSpec;

/// The spec's hidden layers, a code layer of a quarter of the inputs (at least 2), then the
/// hidden layers mirrored.
pub fn architecture(spec: &ModelSpec, inputs: usize) -> ModelSpec {
    let mut ae = spec.clone();
    let hidden = &spec.hidden_layers;
    let code = (inputs as u64 / 4).max(2);
    ae.hidden_layers = hidden
        .iter()
        .copied()
        .chain(std::iter::once(code))
        .chain(hidden.iter().rev().copied())
        .collect();
    ae
}
