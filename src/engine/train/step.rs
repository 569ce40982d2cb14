//! One training step: a batch gathered (noise added), forward and backward, the penalties, the
//! gradient's statistics (a non-finite loss or gradient ends the run), clipping, and the
//! optimizer's update of every unfrozen parameter.

use std::sync::atomic::{AtomicU64, Ordering};

use super::measure::{diverged, squares};
use super::request::TrainRequest;
use super::state::TrainState;
use crate::engine::EngineError;
use crate::engine::cores::for_each_tile;
use crate::engine::data::rows;
use crate::engine::model::dense::Workspace;
use crate::engine::optim::clip;
use crate::engine::optim::penalties::add_penalties;

/// What every step of a run shares.
pub(super) struct Shape {
    /// Per parameter: left as it is (fine-tuning's frozen layers).
    pub frozen: Vec<bool>,
    /// Per parameter: its layer.
    pub layer_of: Vec<usize>,
    pub layers: usize,
    /// Leading values of a row that noise never touches (a packed sequence's length).
    pub clean_prefix: usize,
}

/// Buffers every step reuses (sized by the first batch).
#[derive(Default)]
pub(super) struct Buffers {
    pub ws: Workspace,
    xt: Vec<f32>,
    yb: Vec<u32>,
}

/// An epoch's sums over its steps.
pub(super) struct StepStats {
    loss_sum: f64,
    pub seen: usize,
    norm_sum: f64,
    layer_sums: Vec<f64>,
    steps: usize,
}

impl StepStats {
    pub fn new(layers: usize) -> Self {
        Self {
            loss_sum: 0.0,
            seen: 0,
            norm_sum: 0.0,
            layer_sums: vec![0.0; layers],
            steps: 0,
        }
    }

    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.seen.max(1) as f64
    }

    /// The mean over steps of the whole gradient's L2 norm.
    pub fn grad_norm(&self) -> f64 {
        self.norm_sum / self.steps.max(1) as f64
    }

    /// Per layer, the mean over steps of its gradient's L2 norm.
    pub fn layer_grad_norms(&self) -> Vec<f64> {
        let steps = self.steps.max(1) as f64;
        self.layer_sums.iter().map(|s| s / steps).collect()
    }
}

/// Trains on the rows `chunk` of the training set at learning rate `lr`, in epoch `epoch`.
pub(super) fn step(
    (req, shape): (&TrainRequest<'_>, &Shape),
    st: &mut TrainState,
    bufs: &mut Buffers,
    chunk: &[usize],
    (epoch, lr): (u64, f64),
    stats: &mut StepStats,
) -> Result<(), EngineError> {
    let training = &req.spec.training;
    let noise = training.augment.gaussian_noise;
    let (xt, yb) = (&mut bufs.xt, &mut bufs.yb);
    rows::gather_into(
        req.train,
        chunk,
        noise,
        shape.clean_prefix,
        &mut st.rng,
        xt,
        yb,
    );
    let ws = &mut bufs.ws;
    let loss = st
        .model
        .step(ws, xt, chunk.len(), yb, &req.class_weights, &mut st.rng);
    let grads = &mut ws.grads;
    add_penalties(st.model.params(), grads, training.l1, training.l2);
    statistics(grads, shape, loss, epoch, stats)?;
    if let Some(v) = training.clip_grad_value {
        clip::clip_by_value(grads, v);
    }
    if let Some(n) = training.clip_grad_norm {
        clip::clip_by_norm(grads, n);
    }
    st.optimizer.begin_step();
    let params = st.model.params_mut();
    st.optimizer
        .update_all(lr, params, grads, &mut st.states, &shape.frozen);
    stats.loss_sum += f64::from(loss) * chunk.len() as f64;
    stats.seen += chunk.len();
    Ok(())
}

/// Adds a step's gradient norms to `stats`; the first non-finite value ends the run, since
/// every later step would spread it.
fn statistics(
    grads: &[Vec<f32>],
    shape: &Shape,
    loss: f32,
    epoch: u64,
    stats: &mut StepStats,
) -> Result<(), EngineError> {
    // Each parameter's sum of squares on the run's cores, then added in parameter order: the
    // same bits at any width.
    let sums: Vec<AtomicU64> = grads.iter().map(|_| AtomicU64::new(0)).collect();
    for_each_tile(grads.len(), &|i| {
        sums[i].store(squares(&grads[i]).to_bits(), Ordering::Relaxed)
    });
    let mut per_layer = vec![0.0f64; shape.layers];
    for (sum, &l) in sums.iter().zip(&shape.layer_of) {
        per_layer[l] += f64::from_bits(sum.load(Ordering::Relaxed));
    }
    if !loss.is_finite() {
        return Err(diverged(epoch, "the training loss"));
    }
    if !per_layer.iter().all(|v| v.is_finite()) {
        return Err(diverged(epoch, "the gradient"));
    }
    stats.norm_sum += per_layer.iter().sum::<f64>().sqrt();
    for (s, v) in stats.layer_sums.iter_mut().zip(&per_layer) {
        *s += v.sqrt();
    }
    stats.steps += 1;
    Ok(())
}
