//! A classifier's linear head on pooled features and its loss: logits `F · Wᵀ + b`, the
//! log-softmax, and the class-weighted mean cross-entropy with its gradients (PyTorch's
//! `CrossEntropyLoss(weight=…)`: the sum of weighted losses over the sum of the weights).

use super::kernels::matmul;

/// Logits (B × K) of features (B × F): `W` is K × F, `b` K.
pub fn logits(w: &[f32], bias: &[f32], features: &[f32], classes: usize) -> Vec<f32> {
    let f_n = w.len() / classes.max(1);
    let rows = features.len() / f_n.max(1);
    let mut z: Vec<f32> = (0..rows).flat_map(|_| bias.iter().copied()).collect();
    matmul(
        (rows, classes, f_n),
        &mut z,
        true,
        features,
        (f_n, 1),
        w,
        (1, f_n),
    );
    z
}

/// Each row of `z` (B × K) to its log-probabilities.
pub fn log_softmax(z: &mut [f32], classes: usize) {
    for row in z.chunks_exact_mut(classes) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f32>().ln();
        row.iter_mut().for_each(|v| *v -= lse);
    }
}

/// The loss and its gradient with respect to the logits.
pub fn cross_entropy(
    logits: &[f32],
    labels: &[u32],
    class_weights: &[f32],
    classes: usize,
) -> (f32, Vec<f32>) {
    let total: f32 = labels.iter().map(|&y| class_weights[y as usize]).sum();
    let mut loss = 0.0f32;
    let mut d = vec![0.0f32; logits.len()];
    for (b, &y) in labels.iter().enumerate() {
        let row = &logits[b * classes..(b + 1) * classes];
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
        let w = class_weights[y as usize] / total;
        loss -= w * (row[y as usize] - max - sum.ln());
        for k in 0..classes {
            let p = (row[k] - max).exp() / sum;
            d[b * classes + k] = w * (p - f32::from(k == y as usize));
        }
    }
    (loss, d)
}

/// The head's backward pass: `dW = dzᵀ · F`, `db = Σ dz`, `dF = dz · W`.
pub fn backward(
    d_logits: &[f32],
    features: &[f32],
    w: &[f32],
    classes: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let f_n = w.len() / classes.max(1);
    let rows = d_logits.len() / classes.max(1);
    let mut d_w = vec![0.0f32; classes * f_n];
    matmul(
        (classes, f_n, rows),
        &mut d_w,
        false,
        d_logits,
        (1, classes),
        features,
        (f_n, 1),
    );
    let mut d_b = vec![0.0f32; classes];
    for row in d_logits.chunks_exact(classes) {
        d_b.iter_mut().zip(row).for_each(|(s, v)| *s += v);
    }
    let mut d_f = vec![0.0f32; features.len()];
    matmul(
        (rows, f_n, classes),
        &mut d_f,
        false,
        d_logits,
        (classes, 1),
        w,
        (f_n, 1),
    );
    (d_w, d_b, d_f)
}
