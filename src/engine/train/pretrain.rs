//! Greedy layer-wise pretraining: each hidden layer in turn is trained as a one-layer
//! autoencoder (the spec's width and activation, a linear decoder, mean squared error, the
//! run's optimizer and batch size) of the previous layer's output on the pretraining rows; its
//! encoder becomes the classifier's layer, which then trains as a whole from there.
//!
//! Each autoencoder reads its input standardized (per unit, over the pretraining rows), and the
//! standardization is folded into the layer's weights afterwards, so the classifier computes the
//! same function on raw activations. Without it a deep sigmoid stack's upper layers see inputs
//! with almost no variance left, and their autoencoders have nothing to reconstruct.

use std::sync::atomic::AtomicBool;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::history::{EpochRecord, Phase, Stop};
use super::request::{Leg, Objective, Pretraining, TrainRequest, WarmStart};
use super::state::TrainState;
use super::trained::Progress;
use crate::domain::spec::{Activation, Augment, ModelSpec, ScheduleSpec, TrainingSpec};
use crate::engine::EngineError;
use crate::engine::data::rows::Rows;
use crate::engine::model::kernels::{activate, matmul};
use crate::engine::model::registry::{self, Learns};

/// The RNG stream of layer `i`'s autoencoder: apart from the classifier's own draws, so a
/// pretrained run initializes its output layer as the same run from scratch does.
fn layer_rng(seed: u64, layer: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(0x7072_6574_0000 + layer as u64);
    rng
}

/// Pretrains `req`'s MLP layer by layer; the result starts the classifier (its output layer
/// fresh). Each autoencoder epoch goes to `progress` marked `phase: pretrain` with its layer.
/// A cancel stops after the current layer's epoch; training then sees it at once.
pub(super) fn pretrain(
    req: &TrainRequest<'_>,
    p: &Pretraining<'_>,
    cancel: &AtomicBool,
    progress: &mut Progress<'_>,
) -> Result<WarmStart, EngineError> {
    let spec = req.spec;
    let mut width = req.train.features;
    let rows = p.x.len() / width.max(1);
    if rows == 0 {
        return Err(EngineError::InvalidInput("no rows to pretrain on".into()));
    }
    // Plan checks admit only an MLP here: its hidden layers are what pretraining trains.
    let mut model = registry::build(
        &spec.model,
        width,
        Learns::Classes(req.classes),
        &mut layer_rng(req.seed, usize::MAX >> 16),
    );
    let no_labels = vec![0u32; rows];
    // The layer's input: the pretraining rows themselves for the first (no copy).
    let mut h = std::borrow::Cow::Borrowed(p.x);
    for (layer, &out) in spec.model.hidden_layers.iter().enumerate() {
        let out = out as usize;
        let (mean, inv) = standardizer(&h, width);
        // Its standardized copy lives only while its autoencoder trains.
        let z: Vec<f32> = h
            .chunks_exact(width)
            .flat_map(|r| (0..width).map(|j| (r[j] - mean[j]) * inv[j]))
            .collect();
        let ae = autoencoder_spec(spec, out, p.epochs);
        let sub = TrainRequest {
            spec: &ae,
            train: Rows {
                x: &z,
                y: &no_labels,
                features: width,
            },
            holdout: None,
            classes: 1,
            class_weights: vec![1.0],
            seed: req.seed,
            resume: None,
            checkpoint_every: 0,
            objective: Objective::Reconstruct,
            channels: None,
            warm: None,
            pretrain: None,
            leg: Leg::ToTheEnd,
        };
        let mut tagged = |r: &EpochRecord, _: Option<&TrainState>| {
            let mut r = r.clone();
            r.phase = Phase::Pretrain;
            r.layer = Some(layer as u64);
            progress(&r, None);
        };
        let trained = run_layer(&sub, layer, cancel, &mut tagged)?;
        drop(z);
        if trained.stop == Stop::Cancelled {
            break;
        }
        let encoder = trained.state.model.params();
        let (w, b) = (
            param(encoder, "hidden.0.weight")?,
            param(encoder, "hidden.0.bias")?,
        );
        let (mut w, mut b) = (w.to_vec(), b.to_vec());
        fold_standardization(&mut w, &mut b, &mean, &inv);
        h = std::borrow::Cow::Owned(layer_output(
            &w,
            &b,
            &h,
            (rows, width, out),
            spec.model.activation,
        ));
        for (name, data) in [
            (format!("hidden.{layer}.weight"), w),
            (format!("hidden.{layer}.bias"), b),
        ] {
            let target = model
                .params_mut()
                .iter_mut()
                .find(|q| q.name == name)
                .ok_or_else(|| EngineError::Internal(format!("the classifier has no {name}")))?;
            target.data = data;
        }
        width = out;
    }
    Ok(WarmStart {
        model,
        freeze_layers: 0,
        reset_output: true,
    })
}

/// One layer's autoencoder trains from its own RNG stream; divergence names the layer.
fn run_layer(
    sub: &TrainRequest<'_>,
    layer: usize,
    cancel: &AtomicBool,
    progress: &mut Progress<'_>,
) -> Result<super::trained::Trained, EngineError> {
    let mut seeded = sub.clone();
    seeded.seed = rand::RngCore::next_u64(&mut layer_rng(sub.seed, layer));
    super::epochs::run(&seeded, None, cancel, progress).map_err(|e| match e {
        EngineError::Diverged { epoch, quantity } => EngineError::InvalidInput(format!(
            "pretraining hidden layer {layer} diverged in epoch {epoch}: {quantity} is not \
             finite; try a lower optimizer.learning_rate or training.clip_grad_norm"
        )),
        other => other,
    })
}

/// Layer `width`'s autoencoder: a plain hidden layer as the spec's, a linear decoder, the run's
/// optimizer at a constant learning rate, no early stopping or noise.
fn autoencoder_spec(spec: &TrainingSpec, width: usize, epochs: u64) -> TrainingSpec {
    TrainingSpec {
        model: ModelSpec {
            hidden_layers: vec![width as u64],
            batch_norm: false,
            residual: false,
            dropout: 0.0,
            input_dropout: 0.0,
            ..spec.model.clone()
        },
        optimizer: spec.optimizer.clone(),
        schedule: ScheduleSpec::default(),
        training: crate::domain::spec::TrainingOptions {
            epochs,
            early_stopping: None,
            augment: Augment::default(),
            stop_on: Vec::new(),
            // The average is the job's model's; an autoencoder keeps its last weights.
            swa_epochs: None,
            ..spec.training.clone()
        },
    }
}

fn param<'m>(
    params: &'m [crate::engine::model::param::Param],
    name: &str,
) -> Result<&'m [f32], EngineError> {
    params
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.data.as_slice())
        .ok_or_else(|| EngineError::Internal(format!("the autoencoder has no {name}")))
}

/// Per column of `x` (rows × width): its mean, and 1/std (population), or 0 for a column that
/// does not vary (it then reads as 0).
fn standardizer(x: &[f32], width: usize) -> (Vec<f32>, Vec<f32>) {
    let rows = (x.len() / width) as f64;
    let mut sum = vec![0.0f64; width];
    let mut sq = vec![0.0f64; width];
    for r in x.chunks_exact(width) {
        for j in 0..width {
            sum[j] += f64::from(r[j]);
            sq[j] += f64::from(r[j]) * f64::from(r[j]);
        }
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / rows).collect();
    let inv = sq
        .iter()
        .zip(&mean)
        .map(|(s, m)| {
            let std = (s / rows - m * m).max(0.0).sqrt();
            if std > 1e-6 { (1.0 / std) as f32 } else { 0.0 }
        })
        .collect();
    (mean.iter().map(|&m| m as f32).collect(), inv)
}

/// A layer reading standardized inputs as one reading raw ones:
/// W·((h − μ)·inv) + b = (W·diag(inv))·h + (b − W·diag(inv)·μ).
fn fold_standardization(w: &mut [f32], b: &mut [f32], mean: &[f32], inv: &[f32]) {
    for (row, bias) in w.chunks_exact_mut(mean.len()).zip(b) {
        for ((wj, &s), &m) in row.iter_mut().zip(inv).zip(mean) {
            *wj *= s;
            *bias -= *wj * m;
        }
    }
}

/// `act(x·Wᵀ + b)` (rows × out) for `x` (rows × width) and `w` (out × width).
fn layer_output(
    w: &[f32],
    b: &[f32],
    x: &[f32],
    (rows, width, out): (usize, usize, usize),
    act: Activation,
) -> Vec<f32> {
    let mut y = vec![0.0f32; rows * out];
    matmul(
        (rows, out, width),
        &mut y,
        false,
        x,
        (width, 1),
        w,
        (1, width),
    );
    for r in y.chunks_exact_mut(out) {
        r.iter_mut().zip(b).for_each(|(v, &bj)| *v += bj);
    }
    // Activated a block at a time into `y` itself: one rows × out matrix, not two.
    let mut a = Vec::new();
    for block in y.chunks_mut(1 << 16) {
        activate(act, block, &mut a);
        block.copy_from_slice(&a);
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_the_standardization_gives_the_same_layer_output() {
        // x: 3 rows × 2 columns; the second column is constant (reads as 0).
        let x = [1.0f32, 5.0, 3.0, 5.0, 8.0, 5.0];
        let (mean, inv) = standardizer(&x, 2);
        assert!((mean[0] - 4.0).abs() < 1e-6 && inv[1] == 0.0);
        let std0 = ((9.0f32 + 1.0 + 16.0) / 3.0).sqrt();
        assert!((inv[0] - 1.0 / std0).abs() < 1e-6);
        let (w, b) = (vec![0.5f32, -1.0, 2.0, 0.25], vec![0.1f32, -0.2]);
        let z: Vec<f32> = x
            .chunks_exact(2)
            .flat_map(|r| (0..2).map(|j| (r[j] - mean[j]) * inv[j]))
            .collect();
        let on_z = layer_output(&w, &b, &z, (3, 2, 2), Activation::Sigmoid);
        let (mut wf, mut bf) = (w.clone(), b.clone());
        fold_standardization(&mut wf, &mut bf, &mean, &inv);
        let folded = layer_output(&wf, &bf, &x, (3, 2, 2), Activation::Sigmoid);
        for (a, e) in folded.iter().zip(&on_z) {
            assert!((a - e).abs() < 1e-6, "{a} vs {e}");
        }
        // By hand: row 0 on z is sigmoid(0.5·(1−4)/std0 + 0.1).
        let expect = 1.0 / (1.0 + (-(0.5 * -3.0 / std0 + 0.1)).exp());
        assert!((on_z[0] - expect).abs() < 1e-6);
    }
}
