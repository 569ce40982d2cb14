//! What every model is made of: named parameters (the flat f32 master copies the optimizer
//! updates), batch-norm statistics, the training/evaluation mode, and the dfdx device and
//! tensor types the forward passes use.

use dfdx::prelude::*;

/// The CPU device.
pub type Dev = Cpu;
pub type Traced = OwnedTape<f32, Dev>;
/// A features × batch matrix on the tape.
pub type Mat = Tensor<(usize, usize), f32, Dev, Traced>;
pub type Plain2 = Tensor<(usize, usize), f32, Dev>;
pub type Plain1 = Tensor<(usize,), f32, Dev>;

/// One named parameter (PyTorch-style names, row-major, `(out, in)` for weights).
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    /// Whether L1/L2 penalties apply (weights, not biases or batch-norm parameters).
    pub penalized: bool,
}

/// Running statistics of one batch-norm layer.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningStats {
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
}

/// Training (batch statistics, dropout) or evaluation (running statistics, no dropout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// Row-major `rows × cols` to row-major `cols × rows`.
pub fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}
