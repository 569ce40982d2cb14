//! Batch norm over a sequence batch's valid steps, as `torch.nn.BatchNorm1d` over (B, C, T)
//! when every sequence has the batch's length: per channel, the mean and biased variance of
//! every valid step of every sequence normalize (training), the unbiased variance and the mean
//! move the running statistics with momentum 0.1; evaluation uses the running statistics.
//! Steps past a sequence's length are excluded from the statistics and come out 0.

use crate::engine::model::layers::{BN_EPS, BN_MOMENTUM};
use crate::engine::model::param::{Mode, RunningStats};

/// What the backward pass needs: the normalized values and 1/σ per channel.
#[derive(Debug, Clone, Default)]
pub struct NormPass {
    pub xhat: Vec<f32>,
    pub inv_std: Vec<f32>,
}

#[allow(clippy::too_many_arguments)]
/// `valid[r]`: whether row `r` (a step of a sequence) is within its sequence's length.
pub fn forward(
    x: &[f32],
    channels: usize,
    valid: &[bool],
    (gamma, beta): (&[f32], &[f32]),
    stats: &mut RunningStats,
    mode: Mode,
    pass: &mut NormPass,
    out: &mut Vec<f32>,
) {
    let c_n = channels;
    let (mean, var) = match mode {
        Mode::Train => batch_stats(x, c_n, valid, stats),
        Mode::Eval => (stats.mean.clone(), stats.var.clone()),
    };
    pass.inv_std = var.iter().map(|v| 1.0 / (v + BN_EPS).sqrt()).collect();
    pass.xhat.clear();
    pass.xhat.resize(x.len(), 0.0);
    out.clear();
    out.resize(x.len(), 0.0);
    for (r, &ok) in valid.iter().enumerate() {
        if !ok {
            continue;
        }
        let (row, xh, o) = (
            &x[r * c_n..(r + 1) * c_n],
            &mut pass.xhat[r * c_n..(r + 1) * c_n],
            &mut out[r * c_n..(r + 1) * c_n],
        );
        for c in 0..c_n {
            xh[c] = (row[c] - mean[c]) * pass.inv_std[c];
            o[c] = gamma[c] * xh[c] + beta[c];
        }
    }
}

/// The valid rows' mean and biased variance per channel (f64 sums), moving `stats`.
fn batch_stats(
    x: &[f32],
    c_n: usize,
    valid: &[bool],
    stats: &mut RunningStats,
) -> (Vec<f32>, Vec<f32>) {
    let (mut sum, mut sq) = (vec![0.0f64; c_n], vec![0.0f64; c_n]);
    let mut n = 0usize;
    for (r, _) in valid.iter().enumerate().filter(|(_, ok)| **ok) {
        n += 1;
        for (c, &v) in x[r * c_n..(r + 1) * c_n].iter().enumerate() {
            sum[c] += f64::from(v);
        }
    }
    let nf = n.max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / nf).collect();
    for (r, _) in valid.iter().enumerate().filter(|(_, ok)| **ok) {
        for (c, &v) in x[r * c_n..(r + 1) * c_n].iter().enumerate() {
            sq[c] += (f64::from(v) - mean[c]).powi(2);
        }
    }
    let var: Vec<f64> = sq.iter().map(|s| s / nf).collect();
    let unbiased = nf / (nf - 1.0).max(1.0);
    let m = f64::from(BN_MOMENTUM);
    for c in 0..c_n {
        stats.mean[c] = ((1.0 - m) * f64::from(stats.mean[c]) + m * mean[c]) as f32;
        stats.var[c] = ((1.0 - m) * f64::from(stats.var[c]) + m * var[c] * unbiased) as f32;
    }
    (
        mean.iter().map(|&v| v as f32).collect(),
        var.iter().map(|&v| v as f32).collect(),
    )
}

/// The training-mode backward pass: `d_x = γ/σ · (d_y − mean(d_y) − x̂ · mean(d_y · x̂))` over
/// the valid rows (0 elsewhere); `d_gamma += Σ d_y · x̂`, `d_beta += Σ d_y`.
pub fn backward(
    d_y: &[f32],
    channels: usize,
    valid: &[bool],
    gamma: &[f32],
    pass: &NormPass,
    (d_gamma, d_beta): (&mut [f32], &mut [f32]),
    d_x: &mut Vec<f32>,
) {
    let c_n = channels;
    let (mut sum_dy, mut sum_dy_xhat) = (vec![0.0f64; c_n], vec![0.0f64; c_n]);
    let mut n = 0usize;
    for (r, _) in valid.iter().enumerate().filter(|(_, ok)| **ok) {
        n += 1;
        for c in 0..c_n {
            let (g, xh) = (d_y[r * c_n + c], pass.xhat[r * c_n + c]);
            sum_dy[c] += f64::from(g);
            sum_dy_xhat[c] += f64::from(g * xh);
        }
    }
    for c in 0..c_n {
        d_gamma[c] += sum_dy_xhat[c] as f32;
        d_beta[c] += sum_dy[c] as f32;
    }
    let nf = n.max(1) as f64;
    let mean_dy: Vec<f32> = sum_dy.iter().map(|s| (s / nf) as f32).collect();
    let mean_dy_xhat: Vec<f32> = sum_dy_xhat.iter().map(|s| (s / nf) as f32).collect();
    d_x.clear();
    d_x.resize(d_y.len(), 0.0);
    for (r, _) in valid.iter().enumerate().filter(|(_, ok)| **ok) {
        for c in 0..c_n {
            let k = r * c_n + c;
            let scale = gamma[c] * pass.inv_std[c];
            d_x[k] = scale * (d_y[k] - mean_dy[c] - pass.xhat[k] * mean_dy_xhat[c]);
        }
    }
}
