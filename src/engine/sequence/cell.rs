//! What a recurrent layer is to the stack and the classifier above it: a cell kind with its
//! gate count, PyTorch's parameter prefix, and its forward and backward through time over a
//! padded batch. The GRU (`gru.rs`) and the LSTM (`lstm.rs`) are the two, as candle's
//! `trait RNN` has them; the stack, the attention and the head are shared.

use super::batch::Batch;
use crate::engine::model::kernels::matmul;
use crate::engine::onnx::graph::{Attr, Graph};

/// One direction of one layer's weights, borrowed, in PyTorch's layout: gates stacked along
/// the rows of `weight_ih` (G·H × D) and `weight_hh` (G·H × H), biases G·H each.
#[derive(Debug, Clone, Copy)]
pub struct CellWeights<'a> {
    pub input: usize,
    pub hidden: usize,
    pub weight_ih: &'a [f32],
    pub weight_hh: &'a [f32],
    pub bias_ih: &'a [f32],
    pub bias_hh: &'a [f32],
}

/// A layer's gradients: weights as `CellWeights` lays them out, and the inputs (B × T × D).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellGrads {
    pub weight_ih: Vec<f32>,
    pub weight_hh: Vec<f32>,
    pub bias_ih: Vec<f32>,
    pub bias_hh: Vec<f32>,
    pub x: Vec<f32>,
}

impl CellGrads {
    pub(super) fn zeros(gates: usize, input: usize, hidden: usize, batch: &Batch<'_>) -> Self {
        let g = gates * hidden;
        Self {
            weight_ih: vec![0.0; g * input],
            weight_hh: vec![0.0; g * hidden],
            bias_ih: vec![0.0; g],
            bias_hh: vec![0.0; g],
            x: vec![0.0; batch.batch * batch.steps * input],
        }
    }

    /// From every step's gate pre-activation gradients (B·T × G·H) at once: the input
    /// projection's weights (`dgiᵀ · x`) and bias (`Σ dgi`), and the inputs (`dgi · W_ih`).
    pub(super) fn add_input_projection(
        &mut self,
        w: &CellWeights<'_>,
        batch: &Batch<'_>,
        dgi: &[f32],
    ) {
        let (d, g) = (w.input, self.bias_ih.len());
        let rows = batch.batch * batch.steps;
        matmul(
            (g, d, rows),
            &mut self.weight_ih,
            false,
            dgi,
            (1, g),
            batch.x,
            (d, 1),
        );
        matmul(
            (rows, d, g),
            &mut self.x,
            false,
            dgi,
            (g, 1),
            w.weight_ih,
            (d, 1),
        );
        for row in dgi.chunks_exact(g) {
            for (s, v) in self.bias_ih.iter_mut().zip(row) {
                *s += v;
            }
        }
    }
}

/// A recurrent cell kind. Past a sequence's length its state is carried unchanged, its outputs
/// are 0 and its padded inputs get no gradient, so padding changes nothing.
pub trait Cell: std::fmt::Debug + Clone + Copy + PartialEq + Send + Sync + 'static {
    /// PyTorch's module name, the parameters' prefix and the family's `kind`.
    const NAME: &'static str;
    /// Gates stacked in the weights (GRU 3: r, z, n; LSTM 4: i, f, g, o).
    const GATES: usize;
    /// ONNX's operator for the layer (`GRU`, `LSTM`).
    const ONNX_OP: &'static str;
    /// ONNX's gate order as PyTorch's gate indices (GRU: z, r, h from r, z, n; LSTM: i, o, f,
    /// c from i, f, g, o).
    const ONNX_GATES: &'static [usize];
    /// The operator's attributes that make it compute as PyTorch does.
    const ONNX_ATTRS: &'static [(&'static str, i64)];

    /// One step unrolled as ONNX nodes: the new state `(h, c)` (`c` for an LSTM) from the
    /// input and recurrent projections with their biases (`gi`, `gh`: batch × G·H, PyTorch's
    /// gate order) and the state before it.
    fn onnx_step(
        g: &mut Graph,
        projections: (&str, &str),
        state: (&str, Option<&str>),
        hidden: usize,
    ) -> (String, Option<String>);
    /// What the forward pass keeps for the backward pass, and its outputs.
    type Pass: std::fmt::Debug + Clone + Default + Send + Sync;

    fn forward(w: &CellWeights<'_>, batch: &Batch<'_>) -> Self::Pass;
    /// From the loss's gradients of the outputs (B × T × H, ignored past each length) and of
    /// the last states (B × H).
    fn backward(
        w: &CellWeights<'_>,
        batch: &Batch<'_>,
        pass: &Self::Pass,
        d_outputs: &[f32],
        d_last: &[f32],
    ) -> CellGrads;
    /// B × T × H: each step's output (0 past a sequence's length).
    fn outputs(pass: &Self::Pass) -> &[f32];
    /// B × H: each sequence's output at its last valid step.
    fn last(pass: &Self::Pass) -> &[f32];
}

/// `x` (batch × N·H) split into its `N` gates of `hidden` columns each.
pub fn gates<const N: usize>(g: &mut Graph, x: &str, hidden: usize) -> [String; N] {
    let sizes = g.ints("split", &[N], vec![hidden as i64; N]);
    let attrs = vec![("axis", Attr::Int(1))];
    let parts = g.op_n("Split", &[x, &sizes], attrs, N);
    std::array::from_fn(|k| parts[k].clone())
}
