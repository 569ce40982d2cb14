//! The loops under the dense MLP step: matrix products on `gemm` (runtime-dispatched AVX-512
//! kernels, one thread), activations and their derivatives one loop per kind so each
//! vectorizes, lane-wise sums, and softmax fused with the cross-entropy gradient.

use crate::domain::spec::Activation;

/// `dst (m × n, row-major) = [dst +] a · b`, `a` (m × k) and `b` (k × n) given by their row and
/// column strides (a transpose is a swap of the two).
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    accumulate: bool,
    a: &[f32],
    (a_rs, a_cs): (usize, usize),
    b: &[f32],
    (b_rs, b_cs): (usize, usize),
) {
    assert!(dst.len() >= m * n, "dst holds m × n");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    assert!(a.len() > (m - 1) * a_rs + (k - 1) * a_cs, "a holds m × k");
    assert!(b.len() > (k - 1) * b_rs + (n - 1) * b_cs, "b holds k × n");
    // SAFETY: the asserts above keep every index gemm reads or writes inside the slices, and
    // `dst` does not alias `a` or `b` (it is borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `a = act(y)` elementwise; one loop per activation, so each vectorizes.
pub fn activate(act: Activation, y: &[f32], a: &mut Vec<f32>) {
    a.resize(y.len(), 0.0);
    let a = &mut a[..y.len()];
    match act {
        Activation::Relu => a.iter_mut().zip(y).for_each(|(a, &y)| *a = y.max(0.0)),
        Activation::LeakyRelu => a
            .iter_mut()
            .zip(y)
            .for_each(|(a, &y)| *a = if y > 0.0 { y } else { 0.01 * y }),
        Activation::Elu => a
            .iter_mut()
            .zip(y)
            .for_each(|(a, &y)| *a = y.max(0.0) + ((-(-y).max(0.0)).exp() - 1.0)),
        Activation::Gelu => a
            .iter_mut()
            .zip(y)
            .for_each(|(a, &y)| *a = y * normal_cdf(y)),
        Activation::Sigmoid => a
            .iter_mut()
            .zip(y)
            .for_each(|(a, &y)| *a = 1.0 / (1.0 + (-y).exp())),
        Activation::Tanh => a.iter_mut().zip(y).for_each(|(a, &y)| *a = y.tanh()),
    }
}

/// `d *= act'(y)` elementwise (times dropout's `mask` when it ran), given `a = act(y)`.
pub fn through_activation(act: Activation, d: &mut [f32], y: &[f32], a: &[f32], mask: &[f32]) {
    if !mask.is_empty() {
        d.iter_mut().zip(mask).for_each(|(d, m)| *d *= m);
    }
    let it = d.iter_mut().zip(y.iter().zip(a));
    match act {
        Activation::Relu => it.for_each(|(d, (&y, _))| *d = if y > 0.0 { *d } else { 0.0 }),
        Activation::LeakyRelu => it.for_each(|(d, (&y, _))| *d *= if y > 0.0 { 1.0 } else { 0.01 }),
        Activation::Elu => it.for_each(|(d, (&y, _))| *d *= if y > 0.0 { 1.0 } else { y.exp() }),
        Activation::Gelu => it.for_each(|(d, (&y, _))| {
            let x = f64::from(y);
            let density = (x * (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()) as f32;
            *d *= normal_cdf(y) + density;
        }),
        Activation::Sigmoid => it.for_each(|(d, (_, &a))| *d *= a * (1.0 - a)),
        Activation::Tanh => it.for_each(|(d, (_, &a))| *d *= 1.0 - a * a),
    }
}

/// Φ(y), in f64 then rounded (as `layers::gelu` computes it).
fn normal_cdf(y: f32) -> f32 {
    (0.5 * (1.0 + libm::erf(f64::from(y) / std::f64::consts::SQRT_2))) as f32
}

/// The sum of `v` over eight lanes, so it vectorizes.
pub fn sum(v: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = v.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (l, x) in lanes.iter_mut().zip(c) {
            *l += x;
        }
    }
    lanes.iter().sum::<f32>() + rest
}

/// `log Σ_c exp(logits[c, b])` of sample `b`'s column of `logits` (k × batch), stably.
pub fn log_sum_exp(logits: &[f32], k: usize, batch: usize, b: usize) -> f32 {
    let max = (0..k)
        .map(|c| logits[c * batch + b])
        .fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = (0..k).map(|c| (logits[c * batch + b] - max).exp()).sum();
    max + sum.ln()
}

/// The class-weighted mean cross-entropy of `logits` (classes × batch) and its gradient into
/// `d`: `(softmax − onehot) · w_y / Σ w_y` per sample.
pub fn softmax_cross_entropy(
    logits: &[f32],
    d: &mut [f32],
    labels: &[u32],
    class_weights: &[f32],
    k: usize,
    batch: usize,
) -> f32 {
    let total: f64 = labels
        .iter()
        .map(|&y| f64::from(class_weights[y as usize]))
        .sum();
    if total <= 0.0 {
        return 0.0;
    }
    let mut loss = 0.0f32;
    for (b, &y) in labels.iter().enumerate() {
        let y = y as usize;
        let factor = (f64::from(class_weights[y]) / total) as f32;
        let lse = log_sum_exp(logits, k, batch, b);
        loss -= factor * (logits[y * batch + b] - lse);
        for c in 0..k {
            let p = (logits[c * batch + b] - lse).exp();
            d[c * batch + b] = factor * (p - f32::from(u8::from(c == y)));
        }
    }
    loss
}
