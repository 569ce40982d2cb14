//! How much memory a job will need, estimated from its spec and its dataset's shape before it
//! is queued, so a spec within every per-field limit still cannot take the machine down. Each
//! term counts the copies the engine really makes (see the comments); the total is checked
//! against measured peak RSS by `cargo bench --bench memory`.

use serde::Serialize;

use crate::domain::spec::{AttentionKind, ModelKind, ModelSpec, OptimizerSpec, TrainingSpec};

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

/// A GRU classifier's parameters (`sequence::classifier` builds them).
fn gru_parameters(model: &ModelSpec, channels: u64, classes: u64) -> u64 {
    let dirs = if model.bidirectional { 2 } else { 1 };
    let one = model.hidden_size;
    let h = one * dirs;
    // Per direction: 3H × (input + H + 2); layers above the first read H · directions.
    let layer = |input: u64| {
        3u64.saturating_mul(one)
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

/// Floats a GRU keeps per sequence step: the input projections (3H) and the states and gates
/// (6H) of the forward pass, the backward pass's gradients of both (4H), attention (3H).
const GRU_FLOATS_PER_STEP: u64 = 16;

/// The memory a job needs at its peak.
pub fn estimate(m: &MemoryInputs<'_>) -> MemoryEstimate {
    let spec = m.spec;
    let outputs = if m.reconstruct { m.inputs } else { m.classes };
    let widths = widths(&spec.model, m.inputs, outputs, m.reconstruct);
    let gru = m.sequence.filter(|_| spec.model.kind == ModelKind::Gru);
    let params = match gru {
        Some((channels, _)) => gru_parameters(&spec.model, channels, m.classes),
        None => parameters(&spec.model, &widths),
    };
    let state = optimizer_buffers(&spec.optimizer);
    // Weights, their gradients, the tensors a step builds from them and the autodiff tape
    // keeps, the best epoch's copy; a resume checkpoint (weights, optimizer state, best) is
    // cloned for the writer while the loop goes on, and serialized (one more copy) when
    // written. Twelve for the first group is what `cargo bench --bench hostile` measures for
    // wide models (the allocator keeps freed tensors for reuse).
    let copies = 12 + 3 * (2 + state) + state;
    let model = params.saturating_mul(F32).saturating_mul(copies);
    // Finished ensemble members: kept, in the checkpoint, and serialized.
    let members = m
        .members
        .saturating_sub(1)
        .saturating_mul(params)
        .saturating_mul(F32 * 3);
    let batch = match spec.training.batch_size {
        crate::domain::spec::BatchSize::Rows(n) => n.min(m.train_rows.max(1)),
        crate::domain::spec::BatchSize::Full(_) => m.train_rows.max(1),
    };
    let all_widths: u64 = widths.iter().sum();
    let widest = widths.iter().copied().max().unwrap_or(1);
    // Per row of a batch: each layer's input, pre-activation, activation and their gradients
    // (the autodiff tape), in both layouts the matmuls use.
    let activations = match gru {
        // Evaluation chunks are sized to `infer::SEQUENCE_EVAL_FLOATS`.
        Some((_, steps)) => batch
            .saturating_mul(steps)
            .saturating_mul(spec.model.hidden_size)
            .saturating_mul(spec.model.layers.max(1) * (1 + u64::from(spec.model.bidirectional)))
            .saturating_mul(GRU_FLOATS_PER_STEP * F32)
            .saturating_add(crate::engine::model::infer::SEQUENCE_EVAL_FLOATS as u64 * F32),
        None => batch
            .saturating_mul(all_widths)
            .saturating_mul(F32 * 6)
            .saturating_add(EVAL_ROWS.saturating_mul(widest).saturating_mul(F32 * 6)),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(spec: &TrainingSpec) -> MemoryInputs<'_> {
        MemoryInputs {
            spec,
            inputs: 10,
            classes: 2,
            dataset_rows: 100,
            dataset_columns: 11,
            train_rows: 80,
            holdout_rows: 20,
            members: 1,
            reconstruct: false,
            concurrent_runs: 1,
            sequence: None,
            sequence_values: 0,
            pretrain: None,
            test: None,
        }
    }

    #[test]
    fn parameters_are_counted_as_the_model_builds_them() {
        let mut spec = TrainingSpec::default();
        spec.model.hidden_layers = vec![4, 3];
        // 10·4+4 + 4·3+3 + 3·2+2
        let w = widths(&spec.model, 10, 2, false);
        assert_eq!(parameters(&spec.model, &w), 44 + 15 + 8);
        spec.model.batch_norm = true;
        spec.model.residual = true;
        // + batch norm 4·(4+3) + projections 10·4 + 4·3 (hidden layers only)
        assert_eq!(parameters(&spec.model, &w), 67 + 28 + 52);
    }

    #[test]
    fn a_grus_parameters_are_counted_as_pytorch_counts_them() {
        let mut spec = TrainingSpec::default();
        spec.model.kind = ModelKind::Gru;
        spec.model.hidden_size = 64;
        spec.model.attention = AttentionKind::Additive;
        // nn.GRU(1, 64): 3·64·(1 + 64 + 2) = 12,864; W_s, W_h 2·64², v 64; Linear(128, 2) 258.
        assert_eq!(gru_parameters(&spec.model, 1, 2), 12_864 + 8_192 + 64 + 258);
        spec.model.attention = AttentionKind::None;
        assert_eq!(gru_parameters(&spec.model, 1, 2), 12_864 + 130);
        // nn.GRU(3, 8, num_layers=2, bidirectional=True): 2·24·(3+8+2) + 2·24·(16+8+2);
        // Linear(16, 4) 68.
        spec.model.hidden_size = 8;
        spec.model.layers = 2;
        spec.model.bidirectional = true;
        assert_eq!(gru_parameters(&spec.model, 3, 4), 624 + 1_248 + 68);
    }

    #[test]
    fn sixty_four_layers_of_4096_are_far_beyond_a_machine() {
        let mut spec = TrainingSpec::default();
        spec.model.hidden_layers = vec![4096; 64];
        let e = estimate(&inputs(&spec));
        assert!(e.bytes > 64 << 30, "{}", e.bytes);
        assert!(e.biggest().name.starts_with("model"));
    }

    #[test]
    fn concurrent_runs_and_members_multiply_what_one_run_needs() {
        let spec = TrainingSpec::default();
        let one = estimate(&inputs(&spec));
        let mut two = inputs(&spec);
        two.concurrent_runs = 2;
        let two = estimate(&two);
        assert_eq!(two.bytes - BASE, 2 * (one.bytes - BASE));
        let mut ensemble = inputs(&spec);
        ensemble.members = 10;
        assert!(estimate(&ensemble).per_run_bytes > one.per_run_bytes);
    }

    #[test]
    fn many_short_sequences_cost_their_rows_bookkeeping() {
        // 10⁷ one-step sequences of one channel, two classes, 2 folds.
        let mut spec = TrainingSpec::default();
        spec.model.kind = ModelKind::Gru;
        let m = MemoryInputs {
            inputs: 2,
            dataset_rows: 10_000_000,
            dataset_columns: 1,
            train_rows: 10_000_000,
            holdout_rows: 5_000_000,
            sequence: Some((1, 1)),
            sequence_values: 10_000_000,
            ..inputs(&spec)
        };
        let e = estimate(&m);
        let term = |name: &str| {
            e.terms
                .iter()
                .find(|t| t.name.starts_with(name))
                .unwrap()
                .bytes
        };
        // By hand: 32 bytes a row; (2 classes × 16 + 16) bytes a held-out row.
        assert_eq!(term("rows'"), 10_000_000 * 32 + 5_000_000 * 48);
        // The label (4 bytes a row) and the values (4 bytes a step).
        assert_eq!(term("dataset"), 10_000_000 * 4 + 10_000_000 * 4);
    }

    #[test]
    fn pretraining_counts_each_layers_input_copy_and_output_over_its_rows() {
        let mut spec = TrainingSpec::default();
        spec.model.hidden_layers = vec![1024, 8];
        let m = MemoryInputs {
            inputs: 30,
            pretrain: Some(PretrainShape {
                rows: 300_000,
                extra_rows: 299_715,
                extra_columns: 31,
            }),
            ..inputs(&spec)
        };
        let e = estimate(&m);
        let term = e
            .terms
            .iter()
            .find(|t| t.name.starts_with("pretraining"))
            .unwrap();
        // By hand: layer 1 holds its 1024-wide input and standardized copy (its 8-wide output is
        // smaller): 30 + 2048 floats a row; the extra dataset's 31 columns; the first layer's
        // autoencoder, 30·1024·2 + 30 + 1024 = 62,494 weights (the second's is 17,416), as a
        // model's 26 copies (Adam: 12 + 3 · (2 + 2) + 2).
        let want = 300_000 * (30 + 2048) * 4 + 299_715 * 31 * 4 + 62_494 * 4 * 26;
        assert_eq!(term.bytes, want);
    }
}
