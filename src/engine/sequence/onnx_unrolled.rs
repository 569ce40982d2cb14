//! A recurrent stack unrolled over a fixed number of steps as plain ONNX nodes, for runtimes
//! that read ONNX's `GRU`/`LSTM` only with a constant `sequence_lens` (tract): each step's
//! cell (`Cell::onnx_step`) on PyTorch's weights as they are; a step past a sequence's length
//! keeps the state and outputs 0, so the forward direction ends at the last valid step and
//! the reverse one starts there, as the stack reads them.

use super::cell::{Cell, CellWeights};
use super::classifier::RnnClassifier;
use crate::engine::onnx::graph::{Attr, Graph};
use crate::engine::onnx::steps::{unsqueeze, valid_steps};

impl<C: Cell> RnnClassifier<C> {
    /// The top layer's states (batch × `steps` × W) and the final state (batch × W) of `x`
    /// (batch × `steps` × channels) whose sequences have `lengths`.
    pub(super) fn unrolled(
        &self,
        g: &mut Graph,
        x: &str,
        lengths: &str,
        steps: usize,
    ) -> (String, String) {
        let first = g.ints("index", &[], vec![0]);
        let x0 = g.op("Gather", &[x, &first], vec![("axis", Attr::Int(2))]);
        let valid = valid_steps(g, &x0, lengths);
        let at = |g: &mut Graph, of: &str, t: usize| {
            let t = g.ints("step", &[], vec![t as i64]);
            g.op("Gather", &[of, &t], vec![("axis", Attr::Int(1))])
        };
        let valid: Vec<String> = (0..steps)
            .map(|t| {
                let v = at(g, &valid, t);
                unsqueeze(g, &v, 1)
            })
            .collect();
        let mut xs: Vec<String> = (0..steps).map(|t| at(g, x, t)).collect();
        let mut last = Vec::new();
        for dirs in self.cells() {
            let passes: Vec<(Vec<String>, String)> = (dirs.iter().enumerate())
                .map(|(k, cell)| self.direction(g, cell, (&xs, &valid), k == 1))
                .collect();
            xs = (0..steps)
                .map(|t| {
                    let outs: Vec<&str> = passes.iter().map(|p| p.0[t].as_str()).collect();
                    concat(g, &outs, 1)
                })
                .collect();
            last = passes.into_iter().map(|p| p.1).collect();
        }
        let last: Vec<&str> = last.iter().map(String::as_str).collect();
        let s = concat(g, &last, 1);
        let each: Vec<String> = xs.iter().map(|o| unsqueeze(g, o, 1)).collect();
        let each: Vec<&str> = each.iter().map(String::as_str).collect();
        (concat(g, &each, 1), s)
    }

    /// One direction of one layer over `xs` (per step, batch × D): its outputs per step
    /// (batch × H, 0 past each length) and its final state.
    fn direction(
        &self,
        g: &mut Graph,
        cell: &CellWeights<'_>,
        (xs, valid): (&[String], &[String]),
        reverse: bool,
    ) -> (Vec<String>, String) {
        let (h_n, gates) = (cell.hidden, C::GATES * cell.hidden);
        let w_ih = g.floats("weight_ih", &[gates, cell.input], cell.weight_ih.to_vec());
        let w_hh = g.floats("weight_hh", &[gates, h_n], cell.weight_hh.to_vec());
        let b_ih = g.floats("bias_ih", &[gates], cell.bias_ih.to_vec());
        let b_hh = g.floats("bias_hh", &[gates], cell.bias_hh.to_vec());
        let zeros = g.floats("zeros", &[1, h_n], vec![0.0; h_n]);
        // Zeros of batch × H, whatever the inputs hold.
        let mut h = g.op("Where", &[&valid[0], &zeros, &zeros], vec![]);
        let mut c = (C::GATES == 4).then(|| h.clone());
        let mut outs = vec![String::new(); xs.len()];
        let order: Vec<usize> = match reverse {
            true => (0..xs.len()).rev().collect(),
            false => (0..xs.len()).collect(),
        };
        let t_b = vec![("transB", Attr::Int(1))];
        for t in order {
            let gi = g.op("Gemm", &[&xs[t], &w_ih, &b_ih], t_b.clone());
            let gh = g.op("Gemm", &[&h, &w_hh, &b_hh], t_b.clone());
            let (h_new, c_new) = C::onnx_step(g, (&gi, &gh), (&h, c.as_deref()), h_n);
            h = g.op("Where", &[&valid[t], &h_new, &h], vec![]);
            if let (Some(c_old), Some(c_new)) = (c.as_ref(), c_new) {
                c = Some(g.op("Where", &[&valid[t], &c_new, c_old], vec![]));
            }
            outs[t] = g.op("Where", &[&valid[t], &h_new, &zeros], vec![]);
        }
        (outs, h)
    }
}

/// `parts` joined along `axis` (the part itself when there is one).
fn concat(g: &mut Graph, parts: &[&str], axis: i64) -> String {
    match parts {
        [one] => (*one).to_owned(),
        _ => g.op("Concat", parts, vec![("axis", Attr::Int(axis))]),
    }
}
