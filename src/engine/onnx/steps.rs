//! Which steps of a padded batch are within each sequence's length, for the sequence
//! families' masks.

use super::graph::{Attr, Graph};
use super::proto::FLOAT;

/// Per sequence and step of `like` (batch × steps, float), whether the step is within the
/// sequence's `lengths` (int64, batch): bool, batch × steps. The step numbers are a running
/// sum of ones shaped like `like` (whatever its values, NaN and infinities included) rather
/// than `Range` over its shape, which tract types as a shape dimension.
pub fn valid_steps(g: &mut Graph, like: &str, lengths: &str) -> String {
    let any = g.op("Equal", &[like, like], vec![]);
    let one = g.scalar("one", 1.0);
    let ones = g.op("Where", &[&any, &one, &one], vec![]);
    let axis = g.ints("axis", &[], vec![1]);
    let step = g.op("CumSum", &[&ones, &axis], vec![]);
    let lengths = g.op("Cast", &[lengths], vec![("to", Attr::Int(FLOAT.into()))]);
    let lengths = unsqueeze(g, &lengths, 1);
    g.op("LessOrEqual", &[&step, &lengths], vec![])
}

/// `x` with a dimension of 1 inserted at `axis`.
pub fn unsqueeze(g: &mut Graph, x: &str, axis: i64) -> String {
    let axes = g.ints("axes", &[1], vec![axis]);
    g.op("Unsqueeze", &[x, &axes], vec![])
}
