//! How much memory a job will need, estimated from its spec and its dataset's shape before it
//! is queued, so a spec within every per-field limit still cannot take the machine down. Each
//! term counts the copies the engine really makes (see the comments); the total is checked
//! against measured peak RSS by `cargo bench --bench memory`.

use serde::Serialize;

use crate::domain::spec::{AttentionKind, ModelSpec, OptimizerSpec, TrainingSpec};

/// Bytes of one f32.
const F32: u64 = 4;
/// Rows evaluated at once (validation, holdout, prediction).
const EVAL_ROWS: u64 = 4096;
/// The process itself: runtime, pool, allocator slack (an idle server measures 11 to 17 MiB).
const BASE: u64 = 16 << 20;

/// The shape of the work, from the spec and the dataset.
#[derive(Debug, Clone)]
pub struct MemoryInputs<'a> {
    pub spec: &'a TrainingSpec,
    /// Model inputs after one-hot encoding.
    pub inputs: u64,
    pub classes: u64,
    /// The dataset as a run loads it: rows × columns, 4 bytes a cell.
    pub dataset_rows: u64,
    pub dataset_columns: u64,
    /// Most rows one model trains on (after resampling) and scores.
    pub train_rows: u64,
    pub holdout_rows: u64,
    /// Most models one run trains (ensembles: `n_subsets`).
    pub members: u64,
    /// An autoencoder (its output is as wide as its input) instead of a classifier.
    pub reconstruct: bool,
    /// Runs of the job that train at the same time on this node.
    pub concurrent_runs: u64,
    /// Sequences: (channels, longest sequence's steps); `inputs` is then the packed width.
    pub sequence: Option<(u64, u64)>,
    /// A sequence dataset's values (steps × channels, all sequences).
    pub sequence_values: u64,
    /// Layer-wise pretraining: its rows (a fold's and the extra dataset's) and the extra
    /// dataset's cells as loaded.
    pub pretrain: Option<PretrainShape>,
    /// The final model's test dataset: its rows and columns (scored once, by one run).
    pub test: Option<(u64, u64)>,
}

/// What pretraining reads: rows encoded, and the extra dataset as loaded.
#[derive(Debug, Clone, Copy)]
pub struct PretrainShape {
    pub rows: u64,
    pub extra_rows: u64,
    pub extra_columns: u64,
}

/// One part of the estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryTerm {
    pub name: &'static str,
    /// For one run.
    pub bytes: u64,
}

/// The estimate: per run, its terms, and the job's total for its concurrent runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct MemoryEstimate {
    pub bytes: u64,
    pub per_run_bytes: u64,
    pub concurrent_runs: u64,
    pub terms: Vec<MemoryTerm>,
    /// The largest checkpoint a run writes: weights, optimizer state and the best copy (a
    /// resume checkpoint), or every ensemble member (the final one).
    pub checkpoint_bytes: u64,
}

impl MemoryEstimate {
    /// The largest term: what to shrink first.
    pub fn biggest(&self) -> &MemoryTerm {
        self.terms
            .iter()
            .max_by_key(|t| t.bytes)
            .expect("the estimate has terms")
    }
}

/// The layer widths of the model, input to output (an autoencoder mirrors its hidden layers
/// around a code layer of a quarter of its inputs, as `one_class` builds it).
fn widths(model: &ModelSpec, inputs: u64, outputs: u64, reconstruct: bool) -> Vec<u64> {
    let mut w = vec![inputs];
    w.extend(&model.hidden_layers);
    if reconstruct {
        w.push((inputs / 4).max(1));
        w.extend(model.hidden_layers.iter().rev());
    }
    w.push(outputs);
    w
}

/// Trainable values: weights and biases, batch-norm scales, shifts and running statistics,
/// residual projections where widths differ.
fn parameters(model: &ModelSpec, widths: &[u64]) -> u64 {
    let mut p = 0u64;
    let layers = widths.len() - 1;
    for (l, pair) in widths.windows(2).enumerate() {
        let (i, o) = (pair[0], pair[1]);
        p = p.saturating_add(i.saturating_mul(o).saturating_add(o));
        // Batch norm and skips wrap hidden layers, not the output layer.
        if l + 1 == layers {
            continue;
        }
        if model.batch_norm {
            p = p.saturating_add(4 * o);
        }
        if model.residual && i != o {
            p = p.saturating_add(i.saturating_mul(o));
        }
    }
    p
}

/// Optimizer buffers per parameter, as PyTorch keeps them.
fn optimizer_buffers(optimizer: &OptimizerSpec) -> u64 {
    match *optimizer {
        OptimizerSpec::Sgd { momentum, .. } => u64::from(momentum > 0.0),
        OptimizerSpec::Adagrad { .. } => 1,
        OptimizerSpec::Adadelta { .. } => 2,
        OptimizerSpec::Rmsprop {
            momentum, centered, ..
        } => 1 + u64::from(momentum > 0.0) + u64::from(centered),
        OptimizerSpec::Adam { amsgrad, .. } | OptimizerSpec::Adamw { amsgrad, .. } => {
            2 + u64::from(amsgrad)
        }
    }
}

/// A recurrent classifier's parameters (`sequence::classifier` builds them).
fn recurrent_parameters(model: &ModelSpec, channels: u64, classes: u64) -> u64 {
    let gates = model.kind.recurrent_gates() as u64;
    let dirs = if model.bidirectional { 2 } else { 1 };
    let one = model.hidden_size;
    let h = one * dirs;
    // Per direction: G·H × (input + H + 2); layers above the first read H · directions.
    let layer = |input: u64| {
        gates
            .saturating_mul(one)
            .saturating_mul(input.saturating_add(one).saturating_add(2))
            .saturating_mul(dirs)
    };
    let gru =
        layer(channels).saturating_add(layer(h).saturating_mul(model.layers.saturating_sub(1)));
    let (attention, features) = match model.attention {
        AttentionKind::None => (0, h),
        AttentionKind::Dot => (0, 2 * h),
        AttentionKind::Multiplicative => (h.saturating_mul(h), 2 * h),
        AttentionKind::Additive => (h.saturating_mul(2 * h).saturating_add(h), 2 * h),
    };
    gru.saturating_add(attention)
        .saturating_add(classes.saturating_mul(features.saturating_add(1)))
}

/// A convolutional network's parameters without its head, the floats a training step keeps
/// per sequence step (per unit: its im2col and that's gradient, 2·in·k; the convolution's
/// output, batch norm's normalized values, the unit's output and two gradients, 5·out; a
/// shortcut's three), and the pooled features' width.
fn conv_units(model: &ModelSpec, channels: u64) -> (u64, u64, u64) {
    let (filters, kernels) = (model.conv_filters(), model.conv_kernels());
    let residual = model.kind.convolution().is_some_and(|c| c.2);
    let (mut params, mut per_step, mut from) = (0u64, 0u64, channels);
    for (i, &f) in filters.iter().enumerate() {
        // An FCN block has one kernel: its own, else the last one given.
        let own = kernels.get(i).or(kernels.last()).copied().unwrap_or(1);
        let ks: Vec<u64> = if residual { kernels.clone() } else { vec![own] };
        let block_in = from;
        for &k in &ks {
            params = params.saturating_add(from.saturating_mul(k).saturating_mul(f) + 2 * f);
            per_step = per_step.saturating_add(2 * from * k + 5 * f);
            from = f;
        }
        if residual {
            let projection = if block_in != f {
                block_in.saturating_mul(f)
            } else {
                0
            };
            params = params.saturating_add(projection + 2 * f);
            per_step = per_step.saturating_add(3 * f);
        }
    }
    (params, per_step, from)
}

/// The rows of a training batch.
fn batch_rows(m: &MemoryInputs<'_>) -> u64 {
    match m.spec.training.batch_size {
        crate::domain::spec::BatchSize::Rows(n) => n.min(m.train_rows.max(1)),
        crate::domain::spec::BatchSize::Full(_) => m.train_rows.max(1),
    }
}

/// A convolutional network's batch activations (`conv_units`' floats per step) and the
/// evaluation chunk, sized to `infer::SEQUENCE_EVAL_FLOATS`.
fn conv_activations(m: &MemoryInputs<'_>, channels: u64, steps: u64) -> u64 {
    let batch = batch_rows(m);
    let (_, per_step, _) = conv_units(&m.spec.model, channels);
    batch
        .saturating_mul(steps)
        .saturating_mul(per_step)
        .saturating_mul(F32)
        .saturating_add(crate::engine::model::infer::SEQUENCE_EVAL_FLOATS as u64 * F32)
}

/// Per row of the dataset, besides its values: its label, its class as training reads it, its
/// fold mark as stored and as parsed, and run row indices (8 bytes); per held-out row its
/// probabilities as scored, corrected and stored, its index and label.
fn bookkeeping(m: &MemoryInputs<'_>) -> u64 {
    let per_row = 4 * F32 + 2 * 8;
    let per_holdout = m
        .classes
        .saturating_mul(4 * F32)
        .saturating_add(2 * F32 + 8);
    m.dataset_rows
        .saturating_mul(per_row)
        .saturating_add(m.holdout_rows.saturating_mul(per_holdout))
}

/// Pretraining's peak: its rows encoded; for each hidden layer in turn its input (the rows
/// themselves for the first), the standardized copy its autoencoder trains on, then its output;
/// the extra dataset as loaded; the largest autoencoder's weights as a model's `copies`.
fn pretraining(m: &MemoryInputs<'_>, widths: &[u64], p: PretrainShape, copies: u64) -> u64 {
    let hidden = &widths[1..widths.len() - 1];
    let mut floats = 0u64;
    let mut autoencoder = 0u64;
    for (l, &out) in hidden.iter().enumerate() {
        let w_in = widths[l];
        let input = if l == 0 { 0 } else { w_in };
        floats = floats.max(input.saturating_add(w_in.max(out)));
        autoencoder = autoencoder.max(w_in.saturating_mul(out).saturating_mul(2) + w_in + out);
    }
    let rows = p
        .rows
        .saturating_mul(m.inputs.saturating_add(floats))
        .saturating_mul(F32);
    let extra = p
        .extra_rows
        .saturating_mul(p.extra_columns)
        .saturating_mul(F32);
    rows.saturating_add(extra)
        .saturating_add(autoencoder.saturating_mul(F32).saturating_mul(copies))
}

/// Floats a recurrent layer keeps per state value and step, of `gates` per layer: the input
/// projections (G) and the states and gates of the forward pass (G + 2 for the GRU's, G + 3
/// for the LSTM's), the backward pass's gradients (G + 1), attention (3): 16 for the GRU.
fn floats_per_step(gates: u64) -> u64 {
    4 * gates + 4
}

/// The memory a job needs at its peak.
pub fn estimate(m: &MemoryInputs<'_>) -> MemoryEstimate {
    let spec = m.spec;
    let outputs = if m.reconstruct { m.inputs } else { m.classes };
    let widths = widths(&spec.model, m.inputs, outputs, m.reconstruct);
    let gru = m.sequence.filter(|_| spec.model.kind.is_recurrent());
    let conv = m
        .sequence
        .filter(|_| spec.model.kind.convolution().is_some());
    let params = match (gru, conv) {
        (Some((channels, _)), _) => recurrent_parameters(&spec.model, channels, m.classes),
        (_, Some((channels, _))) => {
            let (units, _, width) = conv_units(&spec.model, channels);
            units.saturating_add(m.classes.saturating_mul(width + 1))
        }
        _ => parameters(&spec.model, &widths),
    };
    let state = optimizer_buffers(&spec.optimizer);
    // Weights, their gradients, the tensors a step builds from them and the autodiff tape
    // keeps, the best epoch's copy; a resume checkpoint (weights, optimizer state, best) is
    // cloned for the writer while the loop goes on, and serialized (one more copy) when
    // written. Twelve for the first group is what `cargo bench --bench hostile` measures for
    // wide models (the allocator keeps freed tensors for reuse).
    // Weight averaging's running average: in the state, the writer's clone and the file.
    let averaged = 3 * u64::from(spec.training.swa_epochs.is_some());
    let copies = 12 + 3 * (2 + state) + state + averaged;
    let model = params.saturating_mul(F32).saturating_mul(copies);
    // Finished ensemble members: kept, in the checkpoint, and serialized.
    let members = m
        .members
        .saturating_sub(1)
        .saturating_mul(params)
        .saturating_mul(F32 * 3);
    let activations = match conv {
        Some((channels, steps)) => conv_activations(m, channels, steps),
        None => activations(m, &widths, gru),
    };
    // The fold's encoded matrix, the resampled copy the model trains on, and the holdout.
    let encoded = (m.train_rows.saturating_mul(2))
        .saturating_add(m.holdout_rows)
        .saturating_mul(m.inputs)
        .saturating_mul(F32);
    let dataset = m
        .dataset_rows
        .saturating_mul(m.dataset_columns)
        .saturating_add(m.sequence_values)
        .saturating_mul(F32);
    let terms = vec![
        MemoryTerm {
            name: "model (weights, gradients, optimizer state, best copy, checkpoint)",
            bytes: model,
        },
        MemoryTerm {
            name: "ensemble members",
            bytes: members,
        },
        MemoryTerm {
            name: "batch activations",
            bytes: activations,
        },
        MemoryTerm {
            name: "encoded rows (one-hot, resampled)",
            bytes: encoded,
        },
        MemoryTerm {
            name: "dataset columns",
            bytes: dataset,
        },
        MemoryTerm {
            name: "rows' labels, fold marks, indices and held-out probabilities",
            bytes: bookkeeping(m),
        },
        MemoryTerm {
            name: "pretraining rows (each layer's input, standardized copy and output)",
            bytes: m.pretrain.map_or(0, |p| pretraining(m, &widths, p, copies)),
        },
        MemoryTerm {
            name: "test dataset (loaded, appended, encoded, scored)",
            bytes: m.test.map_or(0, |(rows, columns)| {
                rows.saturating_mul(2 * columns + m.inputs + 4 * m.classes + 8)
                    .saturating_mul(F32)
            }),
        },
    ];
    let per_run = terms
        .iter()
        .fold(0u64, |acc, t| acc.saturating_add(t.bytes));
    let concurrent = m.concurrent_runs.max(1);
    let checkpoint = params
        .saturating_mul(F32)
        .saturating_mul((2 + state).max(m.members));
    MemoryEstimate {
        bytes: per_run.saturating_mul(concurrent).saturating_add(BASE),
        per_run_bytes: per_run,
        concurrent_runs: concurrent,
        terms,
        checkpoint_bytes: checkpoint,
    }
}

/// A batch's activations: per row, each layer's input, pre-activation, activation and their
/// gradients (the autodiff tape), in both layouts the matmuls use; a recurrent network's per
/// step.
fn activations(m: &MemoryInputs<'_>, widths: &[u64], gru: Option<(u64, u64)>) -> u64 {
    let spec = m.spec;
    let batch = batch_rows(m);
    let all_widths: u64 = widths.iter().sum();
    let widest = widths.iter().copied().max().unwrap_or(1);
    match gru {
        // Evaluation chunks are sized to `infer::SEQUENCE_EVAL_FLOATS`.
        Some((_, steps)) => batch
            .saturating_mul(steps)
            .saturating_mul(spec.model.hidden_size)
            .saturating_mul(spec.model.layers.max(1) * (1 + u64::from(spec.model.bidirectional)))
            .saturating_mul(floats_per_step(spec.model.kind.recurrent_gates() as u64) * F32)
            .saturating_add(crate::engine::model::infer::SEQUENCE_EVAL_FLOATS as u64 * F32),
        None => batch
            .saturating_mul(all_widths)
            .saturating_mul(F32 * 6)
            .saturating_add(EVAL_ROWS.saturating_mul(widest).saturating_mul(F32 * 6)),
    }
}

#[cfg(test)]
mod tests;
