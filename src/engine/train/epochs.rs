//! The epoch loop: batches, forward and backward, penalties, clipping, the optimizer step, the
//! learning-rate schedule, early stopping on an inner validation split, and the per-epoch
//! history, with divergence (a non-finite value) ending the run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::early::EarlyStop;
use super::history::{EpochRecord, Stop};
use super::request::{Objective, TrainRequest};
use super::state::TrainState;
use super::trained::{Progress, Trained};
use crate::domain::spec::BatchSize;
use crate::engine::EngineError;
use crate::engine::data::rows::{self, Rows};
use crate::engine::model::Model;
use crate::engine::model::dense::Workspace;
use crate::engine::model::infer::{log_proba_rows, predict_rows, reconstruction_errors};
use crate::engine::model::param::{Dev, Param};
use crate::engine::optim::optimizer::Optimizer;
use crate::engine::optim::penalties::add_penalties;
use crate::engine::optim::state::ParamState;
use crate::engine::optim::{clip, schedule};

/// Trains on the calling thread (`train::train` gives it a one-thread pool first).
pub fn run(
    req: &TrainRequest<'_>,
    cancel: &AtomicBool,
    progress: &mut Progress<'_>,
) -> Result<Trained, EngineError> {
    let spec = req.spec;
    let dev = Dev::default();
    let mut rng = ChaCha8Rng::seed_from_u64(req.seed);
    let features = req.train.features;
    let model = match (req.objective, req.channels) {
        (Objective::Classify, Some(channels)) => {
            Model::gru(&spec.model, channels, req.classes, &mut rng)
        }
        (Objective::Classify, None) => Model::mlp(&spec.model, features, req.classes, &mut rng),
        (Objective::Reconstruct, _) => Model::autoencoder(&spec.model, features, &mut rng),
    };
    // Fine-tuning: the fresh model (its RNG draws as from scratch) takes the source's weights,
    // but for the output layer when it is reset or of another shape.
    let model = match &req.warm {
        Some(warm) => super::warm::warm_started(model, warm),
        None => model,
    };
    let frozen: Vec<bool> = {
        let of = model.layer_of();
        let k = req.warm.as_ref().map_or(0, |w| w.freeze_layers);
        of.iter().map(|&l| l < k).collect()
    };
    // A packed sequence's first value is its length: noise never touches it.
    let clean_prefix = usize::from(req.channels.is_some());
    let early = spec.training.early_stopping.clone();
    let all: Vec<usize> = (0..req.train.len()).collect();
    let (train_base, val_idx) = match &early {
        Some(es) => {
            rows::stratified_split(req.train.y, req.classes, es.validation_fraction, &mut rng)
        }
        None => (all, Vec::new()),
    };
    let batch_size = match spec.training.batch_size {
        BatchSize::Rows(n) => (n as usize).clamp(1, train_base.len()),
        BatchSize::Full(_) => train_base.len(),
    };
    let layer_of: Vec<usize> = model.layer_of();
    let n_layers = model.layer_count();
    let mut stop = Stop::Completed;
    // Buffers every step reuses (sized by the first batch).
    let mut ws = Workspace::default();
    let (mut xt, mut yb) = (Vec::new(), Vec::new());

    // Set-up above consumed the RNG exactly as the original run did; a resume takes its state.
    let mut st = match req.resume.clone() {
        Some(mut resumed) => {
            resumed.model = resumed.model.as_kind_of(&model);
            if let Some(best) = resumed.best.as_mut() {
                best.model = best.model.clone().as_kind_of(&model);
            }
            if resumed.spec != *spec || !resumed.model.same_shape(&model) {
                return Err(EngineError::InvalidInput(
                    "the checkpoint is of another spec or data".into(),
                ));
            }
            resumed
        }
        None => TrainState {
            spec: spec.clone(),
            optimizer: Optimizer::new(spec.optimizer.clone()),
            states: vec![ParamState::default(); model.params().len()],
            model,
            rng,
            epochs_done: 0,
            history: Vec::new(),
            best: None,
            waited: 0,
            members: Vec::new(),
            epoch_offset: 0,
        },
    };
    let early_stop = early.as_ref().map(EarlyStop::new);
    // A run that early-stopped at its last checkpoint stays stopped when resumed.
    let stopped_early = early_stop.as_ref().is_some_and(|e| e.exhausted(st.waited));
    if stopped_early {
        stop = Stop::EarlyStopped;
    }
    let start = st.epochs_done;
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
        ws.begin_epoch();
        // Where the weights start, for how far the epoch moves them.
        let start_weights: Vec<Vec<f32>> = st
            .model
            .params()
            .iter()
            .map(|p| {
                if p.penalized {
                    p.data.clone()
                } else {
                    Vec::new()
                }
            })
            .collect();
        train_idx.shuffle(&mut st.rng);
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        let (mut norm_sum, mut layer_sums, mut steps) = (0.0f64, vec![0.0f64; n_layers], 0usize);
        for chunk in train_idx.chunks(batch_size) {
            if cancel.load(Ordering::Relaxed) {
                stop = Stop::Cancelled;
                break 'epochs;
            }
            rows::gather_into(
                req.train,
                chunk,
                spec.training.augment.gaussian_noise,
                clean_prefix,
                &mut st.rng,
                &mut xt,
                &mut yb,
            );
            let loss = st.model.step(
                &mut ws,
                &xt,
                chunk.len(),
                &yb,
                &req.class_weights,
                &mut st.rng,
            );
            let grads = &mut ws.grads;
            add_penalties(st.model.params(), grads, spec.training.l1, spec.training.l2);
            let mut per_layer = vec![0.0f64; n_layers];
            for (g, &l) in grads.iter().zip(&layer_of) {
                per_layer[l] += squares(g);
            }
            // The first non-finite value ends the run: every later step would spread it.
            if !loss.is_finite() {
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
                clip::clip_by_value(grads, v);
            }
            if let Some(n) = spec.training.clip_grad_norm {
                clip::clip_by_norm(grads, n);
            }
            st.optimizer.begin_step();
            let params = st.model.params_mut();
            for (((p, g), s), &frozen) in params
                .iter_mut()
                .zip(grads.iter())
                .zip(st.states.iter_mut())
                .zip(&frozen)
            {
                if !frozen {
                    st.optimizer.update(lr, &mut p.data, g, s);
                }
            }
            loss_sum += f64::from(loss) * chunk.len() as f64;
            seen += chunk.len();
        }
        // A step can overflow the weights even from finite gradients (a huge learning rate).
        if !st
            .model
            .params()
            .iter()
            .all(|p| p.data.iter().all(|v| v.is_finite()))
        {
            return Err(diverged(epoch, "a weight"));
        }
        let val =
            (!val_idx.is_empty()).then(|| evaluate(&mut st.model, &dev, req, req.train, &val_idx));
        if val.is_some_and(|v| !v.0.is_finite()) {
            return Err(diverged(epoch, "the validation loss"));
        }
        let holdout = req.holdout.map(|h| {
            let idx: Vec<usize> = (0..h.len()).collect();
            evaluate(&mut st.model, &dev, req, h, &idx)
        });
        if holdout.is_some_and(|v| !v.0.is_finite()) {
            return Err(diverged(epoch, "the held-out loss"));
        }
        let moved = weight_movement(st.model.params(), &start_weights, &layer_of, n_layers);
        st.history.push(EpochRecord {
            epoch: epoch + 1,
            train_loss: loss_sum / seen.max(1) as f64,
            val_loss: val.map(|v| v.0),
            val_accuracy: val.and_then(|v| v.1),
            holdout_loss: holdout.map(|v| v.0),
            holdout_accuracy: holdout.and_then(|v| v.1),
            learning_rate: lr,
            grad_norm: norm_sum / steps.max(1) as f64,
            layer_grad_norms: layer_sums.iter().map(|s| s / steps.max(1) as f64).collect(),
            layer_weight_norms: moved.norms,
            layer_update_ratios: moved.ratios,
            dead_unit_fractions: ws.dead_fractions(),
            saturated_fractions: ws.saturated_fractions(),
            seconds: started.elapsed().as_secs_f64(),
            samples: seen as u64,
            member: None,
            phase: Default::default(),
            layer: None,
        });
        st.epochs_done = epoch + 1;
        let stopping = match (&early_stop, val) {
            (Some(e), Some((vloss, vacc))) => e.observe(&mut st, epoch + 1, vloss, vacc),
            _ => false,
        };
        let record = st.history.last().expect("just pushed");
        let due = req.checkpoint_every > 0 && (epoch + 1) % req.checkpoint_every == 0;
        progress(record, due.then_some(&st));
        if stopping {
            stop = Stop::EarlyStopped;
            break;
        }
    }
    let mut best_epoch = st.history.len() as u64;
    if let (Some(es), Some(b)) = (&early, st.best.take())
        && es.restore_best
    {
        st.model = b.model;
        best_epoch = b.epoch;
    }
    let holdout_proba = req
        .holdout
        .filter(|_| req.objective == Objective::Classify)
        .map(|h| predict_rows(&mut st.model, &dev, h, &(0..h.len()).collect::<Vec<_>>()));
    if holdout_proba
        .as_ref()
        .is_some_and(|p| !p.iter().all(|v| v.is_finite()))
    {
        return Err(diverged(
            st.history.len().saturating_sub(1) as u64,
            "a held-out probability",
        ));
    }
    st.epochs_done = st.history.len() as u64;
    Ok(Trained {
        history: st.history.clone(),
        best_epoch,
        stop,
        holdout_proba,
        calibration: None,
        state: st,
    })
}

/// Per layer: its weights' L2 norm, and how far they moved from `start` (relative).
struct Movement {
    norms: Vec<f64>,
    ratios: Vec<f64>,
}

fn weight_movement(
    params: &[Param],
    start: &[Vec<f32>],
    layer_of: &[usize],
    layers: usize,
) -> Movement {
    let (mut now, mut before, mut moved) =
        (vec![0.0; layers], vec![0.0; layers], vec![0.0; layers]);
    for ((p, s), &l) in params.iter().zip(start).zip(layer_of) {
        if !p.penalized {
            continue;
        }
        now[l] += squares(&p.data);
        before[l] += squares(s);
        let delta: Vec<f32> = p.data.iter().zip(s).map(|(a, b)| a - b).collect();
        moved[l] += squares(&delta);
    }
    Movement {
        norms: now.iter().map(|v: &f64| v.sqrt()).collect(),
        ratios: moved
            .iter()
            .zip(&before)
            .map(|(m, b): (&f64, &f64)| m.sqrt() / b.sqrt().max(f64::MIN_POSITIVE))
            .collect(),
    }
}

/// `Σ v²` in f64 over eight lanes, so it vectorizes.
fn squares(v: &[f32]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = v.chunks_exact(8);
    let rest: f64 = chunks
        .remainder()
        .iter()
        .map(|&x| f64::from(x).powi(2))
        .sum();
    for c in chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l += f64::from(x) * f64::from(x);
        }
    }
    lanes.iter().sum::<f64>() + rest
}

/// The error of a run whose `epoch` (0-based) produced a non-finite `quantity`.
fn diverged(epoch: u64, quantity: &'static str) -> EngineError {
    EngineError::Diverged {
        epoch: epoch + 1,
        quantity,
    }
}

/// The mean loss of `idx` rows in eval mode (class-weighted cross-entropy, or the mean squared
/// reconstruction error) and, when classifying, their accuracy.
fn evaluate(
    model: &mut Model,
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
    let k = model.outputs();
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
