//! The epoch loop: batches, forward and backward, penalties, clipping, the optimizer step, the
//! learning-rate schedule, early stopping on an inner validation split, and the per-epoch
//! history. Runs on its own 1-thread rayon pool (so matmuls use one core and runs scale by
//! running side by side), blocking the caller until done.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::batch::{self, Rows};
use super::checkpoint::Checkpoint;
use super::model::{Dev, Mlp, Mode};
use super::optim::{Optimizer, ParamState};
use super::{EngineError, clip, schedule};
use crate::domain::spec::{BatchSize, TrainingSpec};

/// Rows evaluated at once (bounds memory on large validation sets).
const EVAL_CHUNK: usize = 4096;

/// What to train on.
#[derive(Debug, Clone)]
pub struct TrainRequest<'a> {
    pub spec: &'a TrainingSpec,
    pub train: Rows<'a>,
    /// The rows a run is scored on: their loss is recorded for learning curves, never used to
    /// decide anything.
    pub holdout: Option<Rows<'a>>,
    pub classes: usize,
    /// Per-class loss weights (1 for every class when unweighted).
    pub class_weights: Vec<f32>,
    pub seed: u64,
    /// Continue from this checkpoint (of the same spec, data and seed) instead of starting.
    pub resume: Option<Checkpoint>,
    /// Hand a checkpoint to `progress` every this many epochs (0 = never).
    pub checkpoint_every: u64,
    pub objective: Objective,
}

/// What the model learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Objective {
    /// The class of each row: softmax outputs, (weighted) cross-entropy.
    #[default]
    Classify,
    /// The row itself: one output per feature, mean squared error (an autoencoder; labels and
    /// class weights are ignored).
    Reconstruct,
}

/// One epoch of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: u64,
    /// Mean class-weighted loss over the epoch's batches.
    pub train_loss: f64,
    /// Inner validation split (early stopping only): loss and accuracy.
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    /// The run's held-out rows, for learning curves.
    pub holdout_loss: Option<f64>,
    pub holdout_accuracy: Option<f64>,
    pub learning_rate: f64,
    /// Global gradient norm before clipping, mean over the epoch's steps.
    pub grad_norm: f64,
    /// Per layer (hidden layers, then output), mean over the epoch's steps.
    pub layer_grad_norms: Vec<f64>,
    pub seconds: f64,
    /// Rows trained on this epoch (after resampling, without the early-stopping split).
    #[serde(default)]
    pub samples: u64,
    /// Ensembles: the member (0-based) this epoch trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<u64>,
}

/// How training ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// Every epoch ran.
    Completed,
    /// Early stopping ran out of patience.
    EarlyStopped,
    /// The cancel flag was set.
    Cancelled,
}

/// A trained model and what happened.
#[derive(Debug, Clone)]
pub struct Trained {
    pub model: Mlp,
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights `model` holds (1-based).
    pub best_epoch: u64,
    pub stop: Stop,
    /// Class probabilities of the holdout rows (rows × classes) from the returned weights.
    pub holdout_proba: Option<Vec<f32>>,
    /// The returned weights with the final optimizer and RNG state, for export.
    pub checkpoint: Checkpoint,
}

impl Trained {
    /// Scores `holdout` with the checkpoint as predict scores rows: for an ensemble or a
    /// one-class model, after their members or calibration are in the checkpoint.
    pub fn score_holdout(&mut self, dev: &Dev, holdout: Option<Rows<'_>>) {
        self.holdout_proba = holdout.map(|h| {
            let ck = &mut self.checkpoint;
            ck.proba(dev, h.x, h.len())
                .into_iter()
                .map(|p| p as f32)
                .collect()
        });
    }
}

/// Called after each epoch with its record and, every `checkpoint_every` epochs, the state to
/// persist (the run resumes from it exactly).
pub type Progress<'p> = dyn FnMut(&EpochRecord, Option<&Checkpoint>) + Send + 'p;

/// Trains a model. `cancel` is checked before every batch; `progress` sees each epoch.
pub fn train(
    req: &TrainRequest<'_>,
    cancel: &AtomicBool,
    progress: &mut Progress<'_>,
) -> Result<Trained, EngineError> {
    check(req)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| EngineError::Internal(format!("building the training thread pool: {e}")))?;
    pool.install(|| run(req, cancel, progress))
}

fn check(req: &TrainRequest<'_>) -> Result<(), EngineError> {
    let bad = |m: String| Err(EngineError::InvalidInput(m));
    for (name, rows) in std::iter::once(("training", &req.train))
        .chain(req.holdout.as_ref().map(|h| ("holdout", h)))
    {
        if rows.x.len() != rows.len() * rows.features || rows.features != req.train.features {
            return bad(format!(
                "{name} rows: x has {} values for {} rows",
                rows.x.len(),
                rows.len()
            ));
        }
        if let Some(&c) = rows.y.iter().find(|&&c| c as usize >= req.classes) {
            return bad(format!(
                "{name} rows: class {c} with only {} classes",
                req.classes
            ));
        }
        if rows.x.iter().any(|v| !v.is_finite()) {
            return bad(format!(
                "{name} rows: non-finite input (impute and scale before training)"
            ));
        }
    }
    if req.train.is_empty() {
        return bad("no training rows".into());
    }
    if req.train.features == 0 {
        return bad("no input features (the dataset has only its label column)".into());
    }
    if req.objective == Objective::Classify
        && (req.class_weights.len() != req.classes || req.classes < 2)
    {
        return bad(format!(
            "{} class weights for {} classes",
            req.class_weights.len(),
            req.classes
        ));
    }
    Ok(())
}

/// The best weights seen so far (parameters and batch-norm statistics).
struct Snapshot {
    model: Mlp,
    epoch: u64,
    value: f64,
}

fn run(
    req: &TrainRequest<'_>,
    cancel: &AtomicBool,
    progress: &mut Progress<'_>,
) -> Result<Trained, EngineError> {
    let spec = req.spec;
    let dev = Dev::default();
    let mut rng = ChaCha8Rng::seed_from_u64(req.seed);
    let outputs = match req.objective {
        Objective::Classify => req.classes,
        Objective::Reconstruct => req.train.features,
    };
    let mut model = Mlp::new(&spec.model, req.train.features, outputs, &mut rng);
    let mut optimizer = Optimizer::new(spec.optimizer.clone());
    let mut states = vec![ParamState::default(); model.params.len()];
    let early = spec.training.early_stopping.clone();
    let all: Vec<usize> = (0..req.train.len()).collect();
    let (train_base, val_idx) = match &early {
        Some(es) => {
            batch::stratified_split(req.train.y, req.classes, es.validation_fraction, &mut rng)
        }
        None => (all, Vec::new()),
    };
    let batch_size = match spec.training.batch_size {
        BatchSize::Rows(n) => (n as usize).clamp(1, train_base.len()),
        BatchSize::Full(_) => train_base.len(),
    };
    let lower_is_better = early.as_ref().is_none_or(|es| es.monitor == "val_loss");
    let mut best: Option<Snapshot> = None;
    let mut waited = 0u64;
    let mut history: Vec<EpochRecord> = Vec::new();
    let mut stop = Stop::Completed;
    let layer_of: Vec<usize> = layer_index(&model);
    let n_layers = model.layers.len();

    let mut start = 0;
    // Set-up above consumed the RNG exactly as the original run did; now take its state.
    if let Some(ck) = req.resume.clone() {
        if ck.spec != *spec || ck.model.inputs != model.inputs || ck.model.classes != model.classes
        {
            return Err(EngineError::InvalidInput(
                "the checkpoint is of another spec or data".into(),
            ));
        }
        model = ck.model;
        optimizer = ck.optimizer;
        states = ck.states;
        rng = ck.rng;
        start = ck.epochs_done;
        history = ck.history;
        best = ck.best.map(|(model, epoch, value)| Snapshot {
            model,
            epoch,
            value,
        });
        waited = ck.waited;
    }
    // A run that early-stopped at its last checkpoint stays stopped when resumed.
    let stopped_early = early.as_ref().is_some_and(|es| waited >= es.patience);
    if stopped_early {
        stop = Stop::EarlyStopped;
    }

    let last = if stopped_early {
        start
    } else {
        spec.training.epochs
    };
    'epochs: for epoch in start..last {
        let started = Instant::now();
        let lr = schedule::learning_rate(
            &spec.schedule,
            spec.optimizer.learning_rate(),
            epoch,
            spec.training.epochs,
        );
        // A fresh shuffle of a fixed order: the RNG state alone decides it, so resumes match.
        let mut train_idx = train_base.clone();
        train_idx.shuffle(&mut rng);
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        let (mut norm_sum, mut layer_sums, mut steps) = (0.0f64, vec![0.0f64; n_layers], 0usize);
        for chunk in train_idx.chunks(batch_size) {
            if cancel.load(Ordering::Relaxed) {
                stop = Stop::Cancelled;
                break 'epochs;
            }
            let (xt, yb) = batch::gather(
                req.train,
                chunk,
                spec.training.augment.gaussian_noise,
                &mut rng,
            );
            let pass = model.forward(&dev, &xt, chunk.len(), Mode::Train, &mut rng);
            let step = match req.objective {
                Objective::Classify => pass.backward(&dev, &yb, &req.class_weights),
                Objective::Reconstruct => pass.backward_reconstruction(&dev, &xt),
            };
            let mut grads = step.grads;
            add_penalties(&model, &mut grads, spec.training.l1, spec.training.l2);
            let mut per_layer = vec![0.0f64; n_layers];
            for (g, &l) in grads.iter().zip(&layer_of) {
                per_layer[l] += g.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>();
            }
            // The first non-finite value ends the run: every later step would spread it.
            if !step.loss.is_finite() {
                return Err(diverged(epoch, "the training loss"));
            }
            if !per_layer.iter().all(|v| v.is_finite()) {
                return Err(diverged(epoch, "the gradient"));
            }
            norm_sum += per_layer.iter().sum::<f64>().sqrt();
            for (s, v) in layer_sums.iter_mut().zip(&per_layer) {
                *s += v.sqrt();
            }
            steps += 1;
            if let Some(v) = spec.training.clip_grad_value {
                clip::clip_by_value(&mut grads, v);
            }
            if let Some(n) = spec.training.clip_grad_norm {
                clip::clip_by_norm(&mut grads, n);
            }
            optimizer.begin_step();
            for ((p, g), s) in model.params.iter_mut().zip(&grads).zip(states.iter_mut()) {
                optimizer.update(lr, &mut p.data, g, s);
            }
            loss_sum += f64::from(step.loss) * chunk.len() as f64;
            seen += chunk.len();
        }
        // A step can overflow the weights even from finite gradients (a huge learning rate).
        if !model
            .params
            .iter()
            .all(|p| p.data.iter().all(|v| v.is_finite()))
        {
            return Err(diverged(epoch, "a weight"));
        }
        let val =
            (!val_idx.is_empty()).then(|| evaluate(&mut model, &dev, req, req.train, &val_idx));
        if val.is_some_and(|v| !v.0.is_finite()) {
            return Err(diverged(epoch, "the validation loss"));
        }
        let holdout = req.holdout.map(|h| {
            let idx: Vec<usize> = (0..h.len()).collect();
            evaluate(&mut model, &dev, req, h, &idx)
        });
        if holdout.is_some_and(|v| !v.0.is_finite()) {
            return Err(diverged(epoch, "the held-out loss"));
        }
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: loss_sum / seen.max(1) as f64,
            val_loss: val.map(|v| v.0),
            val_accuracy: val.and_then(|v| v.1),
            holdout_loss: holdout.map(|v| v.0),
            holdout_accuracy: holdout.and_then(|v| v.1),
            learning_rate: lr,
            grad_norm: norm_sum / steps.max(1) as f64,
            layer_grad_norms: layer_sums.iter().map(|s| s / steps.max(1) as f64).collect(),
            seconds: started.elapsed().as_secs_f64(),
            samples: seen as u64,
            member: None,
        };
        history.push(record);
        let mut stopping = false;
        if let (Some(es), Some((vloss, vacc))) = (&early, val) {
            // A reconstruction has no accuracy: its loss decides.
            let lower_is_better = lower_is_better || vacc.is_none();
            let value = if lower_is_better {
                vloss
            } else {
                vacc.unwrap_or(vloss)
            };
            let improved = match &best {
                None => value.is_finite(),
                Some(b) if lower_is_better => value < b.value - es.min_delta,
                Some(b) => value > b.value + es.min_delta,
            };
            if improved {
                best = Some(Snapshot {
                    model: model.clone(),
                    epoch: epoch + 1,
                    value,
                });
                waited = 0;
            } else {
                waited += 1;
                stopping = waited >= es.patience;
            }
        }
        let record = history.last().expect("just pushed");
        if req.checkpoint_every > 0 && (epoch + 1) % req.checkpoint_every == 0 {
            let ck = Checkpoint {
                spec: spec.clone(),
                model: model.clone(),
                optimizer: optimizer.clone(),
                states: states.clone(),
                rng: rng.clone(),
                epochs_done: epoch + 1,
                history: history.clone(),
                best: best.as_ref().map(|b| (b.model.clone(), b.epoch, b.value)),
                waited,
                encoding: None,
                members: Vec::new(),
                epoch_offset: 0,
                one_class: None,
            };
            progress(record, Some(&ck));
        } else {
            progress(record, None);
        }
        if stopping {
            stop = Stop::EarlyStopped;
            break;
        }
    }
    let mut best_epoch = history.len() as u64;
    if let (Some(es), Some(b)) = (&early, best)
        && es.restore_best
    {
        model = b.model;
        best_epoch = b.epoch;
    }
    let holdout_proba = req
        .holdout
        .filter(|_| req.objective == Objective::Classify)
        .map(|h| predict_rows(&mut model, &dev, h, &(0..h.len()).collect::<Vec<_>>()));
    if holdout_proba
        .as_ref()
        .is_some_and(|p| !p.iter().all(|v| v.is_finite()))
    {
        return Err(diverged(
            history.len().saturating_sub(1) as u64,
            "a held-out probability",
        ));
    }
    let checkpoint = Checkpoint {
        spec: spec.clone(),
        model: model.clone(),
        optimizer,
        states,
        rng,
        epochs_done: history.len() as u64,
        history: history.clone(),
        best: None,
        waited,
        encoding: None,
        members: Vec::new(),
        epoch_offset: 0,
        one_class: None,
    };
    Ok(Trained {
        model,
        history,
        best_epoch,
        stop,
        holdout_proba,
        checkpoint,
    })
}

/// The error of a run whose `epoch` (0-based) produced a non-finite `quantity`.
fn diverged(epoch: u64, quantity: &'static str) -> EngineError {
    EngineError::Diverged {
        epoch: epoch + 1,
        quantity,
    }
}

/// Which layer (hidden layers, then output) each parameter belongs to.
fn layer_index(model: &Mlp) -> Vec<usize> {
    let mut of = vec![0; model.params.len()];
    for (l, layer) in model.layers.iter().enumerate() {
        of[layer.weight] = l;
        of[layer.bias] = l;
        if let Some((g, b)) = layer.bn {
            of[g] = l;
            of[b] = l;
        }
        if let Some(Some(p)) = layer.skip {
            of[p] = l;
        }
    }
    of
}

/// L1 (subgradient `l1·sign(w)`) and L2 (`l2·w`) on penalized parameters (weights).
fn add_penalties(model: &Mlp, grads: &mut [Vec<f32>], l1: f64, l2: f64) {
    if l1 == 0.0 && l2 == 0.0 {
        return;
    }
    let (l1, l2) = (l1 as f32, l2 as f32);
    for (p, g) in model.params.iter().zip(grads.iter_mut()) {
        if !p.penalized {
            continue;
        }
        for (gv, &w) in g.iter_mut().zip(&p.data) {
            let sign = if w > 0.0 {
                1.0
            } else if w < 0.0 {
                -1.0
            } else {
                0.0
            };
            *gv += l1 * sign + l2 * w;
        }
    }
}

/// The mean loss of `idx` rows in eval mode (class-weighted cross-entropy, or the mean squared
/// reconstruction error) and, when classifying, their accuracy.
fn evaluate(
    model: &mut Mlp,
    dev: &Dev,
    req: &TrainRequest<'_>,
    rows: Rows<'_>,
    idx: &[usize],
) -> (f64, Option<f64>) {
    if req.objective == Objective::Reconstruct {
        let errors = reconstruction_errors(model, dev, rows, idx);
        return (
            errors.iter().sum::<f64>() / errors.len().max(1) as f64,
            None,
        );
    }
    let weights = &req.class_weights;
    let log_proba = log_proba_rows(model, dev, rows, idx);
    let k = model.classes;
    let (mut loss, mut wsum, mut correct) = (0.0f64, 0.0f64, 0usize);
    for (i, &r) in idx.iter().enumerate() {
        let y = rows.y[r] as usize;
        let lp = &log_proba[i * k..(i + 1) * k];
        let w = f64::from(weights[y]);
        loss -= w * f64::from(lp[y]);
        wsum += w;
        let argmax = lp
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(c, _)| c);
        correct += usize::from(argmax == y);
    }
    (
        loss / wsum.max(f64::MIN_POSITIVE),
        Some(correct as f64 / idx.len().max(1) as f64),
    )
}

/// The mean squared reconstruction error of each of `idx` rows (an autoencoder's outputs
/// against its inputs), in eval mode.
pub fn reconstruction_errors(
    model: &mut Mlp,
    dev: &Dev,
    rows: Rows<'_>,
    idx: &[usize],
) -> Vec<f64> {
    let d = rows.features;
    let mut out = Vec::with_capacity(idx.len());
    let mut rng = ChaCha8Rng::seed_from_u64(0); // eval mode draws nothing
    for chunk in idx.chunks(EVAL_CHUNK) {
        let (xt, _) = batch::gather(rows, chunk, 0.0, &mut rng);
        let recon = model.outputs(dev, &xt, chunk.len());
        out.extend(chunk.iter().enumerate().map(|(i, &r)| {
            let sq: f64 = recon[i * d..(i + 1) * d]
                .iter()
                .zip(&rows.x[r * d..(r + 1) * d])
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum();
            sq / d.max(1) as f64
        }));
    }
    out
}

fn log_proba_rows(model: &mut Mlp, dev: &Dev, rows: Rows<'_>, idx: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(idx.len() * model.classes);
    let mut rng = ChaCha8Rng::seed_from_u64(0); // eval mode draws nothing
    for chunk in idx.chunks(EVAL_CHUNK) {
        let (xt, _) = batch::gather(rows, chunk, 0.0, &mut rng);
        out.extend(model.log_proba(dev, &xt, chunk.len()));
    }
    out
}

/// Class probabilities (rows × classes) of `idx` rows.
pub fn predict_rows(model: &mut Mlp, dev: &Dev, rows: Rows<'_>, idx: &[usize]) -> Vec<f32> {
    log_proba_rows(model, dev, rows, idx)
        .into_iter()
        .map(f32::exp)
        .collect()
}
