//! The graph's inputs, encoded as `data::encode` encodes them for predict. Sequences: `sequences`
//! (float, batch × steps × channels; NaN missing, anything past a length) and `lengths` (int64,
//! batch), each channel standardized as a numeric column is. A table's raw feature columns: a numeric column (float, batch × 1, as predict reads a cell) standardized in double
//! precision and cast back to float, a missing value (NaN) imputed with the training mean (0
//! once standardized); a categorical column (string, batch × 1) one-hot over the training
//! categories, a missing (empty) or unseen category all zeros.

use crate::engine::data::encode::{Encoding, FeatureEncoding};
use crate::engine::onnx::graph::{Attr, Dim, Graph};
use crate::engine::onnx::proto::{DOUBLE, FLOAT, INT64, STRING};

/// A sequence model's inputs.
pub const SEQUENCES: &str = "sequences";
pub const LENGTHS: &str = "lengths";

/// Declares the inputs: `sequences` (of exactly `steps` steps, when given) and `lengths`, or
/// one per feature column of `encoding`, named as the column.
pub fn declare(g: &mut Graph, encoding: &Encoding, steps: Option<usize>) {
    if let Some(scaling) = &encoding.sequence {
        let channels = Dim::Fixed(scaling.channels);
        let steps = steps.map_or(Dim::Steps, Dim::Fixed);
        g.input(SEQUENCES, FLOAT, &[Dim::Batch, steps, channels]);
        g.input(LENGTHS, INT64, &[Dim::Batch]);
        return;
    }
    for f in &encoding.features {
        match f {
            FeatureEncoding::Numeric { name, .. } => {
                g.input(name, FLOAT, &[Dim::Batch, Dim::Fixed(1)])
            }
            FeatureEncoding::Categorical { name, .. } => {
                g.input(name, STRING, &[Dim::Batch, Dim::Fixed(1)])
            }
        }
    }
}

/// The declared inputs encoded by `encoding` (a fold's own statistics and categories): the
/// matrix (batch × width), or the scaled sequences and their lengths.
pub fn encoded(g: &mut Graph, encoding: &Encoding) -> (String, Option<String>) {
    if let Some(scaling) = &encoding.sequence {
        let x = standardized(g, SEQUENCES, (&scaling.mean, &scaling.std));
        return (x, Some(LENGTHS.to_owned()));
    }
    let parts: Vec<String> = encoding
        .features
        .iter()
        .map(|f| match f {
            FeatureEncoding::Numeric { name, mean, std } => {
                standardized(g, name, (&[*mean], &[*std]))
            }
            FeatureEncoding::Categorical { name, categories } => categorical(g, name, categories),
        })
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    (g.op("Concat", &parts, vec![("axis", Attr::Int(1))]), None)
}

/// Input `name` standardized along its last axis by `mean` and `std` (one per column or
/// channel), NaN as 0.
fn standardized(g: &mut Graph, name: &str, (mean, std): (&[f64], &[f64])) -> String {
    let n = mean.len();
    let (m, s) = (
        g.doubles("mean", &[n], mean.to_vec()),
        g.doubles("std", &[n], std.to_vec()),
    );
    let wide = g.op("Cast", &[name], vec![("to", Attr::Int(DOUBLE.into()))]);
    let centered = g.op("Sub", &[&wide, &m], vec![]);
    let scaled = g.op("Div", &[&centered, &s], vec![]);
    let scaled = g.op("Cast", &[&scaled], vec![("to", Attr::Int(FLOAT.into()))]);
    // NaN is the one value not equal to itself (tract types `IsNaN`'s output as its input's).
    let present = g.op("Equal", &[name, name], vec![]);
    let zero = g.scalar("zero", 0.0);
    g.op("Where", &[&present, &scaled, &zero], vec![])
}

fn categorical(g: &mut Graph, name: &str, categories: &[String]) -> String {
    let k = categories.len();
    let codes = g.op_ml(
        "CategoryMapper",
        &[name],
        vec![
            ("cats_strings", Attr::Strs(categories.to_vec())),
            ("cats_int64s", Attr::Ints((0..k as i64).collect())),
            ("default_int64", Attr::Int(-1)),
        ],
    );
    let slots = g.ints("slots", &[k], (0..k as i64).collect());
    let hot = g.op("Equal", &[&codes, &slots], vec![]);
    g.op("Cast", &[&hot], vec![("to", Attr::Int(FLOAT.into()))])
}
