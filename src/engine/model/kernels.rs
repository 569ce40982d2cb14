//! The loops under the dense MLP step: matrix products on `gemm` (runtime-dispatched AVX-512
//! kernels, one thread), activations and their derivatives one loop per kind so each
//! vectorizes, lane-wise sums, and softmax fused with the cross-entropy gradient.

use crate::domain::spec::Activation;

/// `dst (m × n, row-major) = [dst +] a · b`, `a` (m × k) and `b` (k × n) given by their row and
/// column strides (a transpose is a swap of the two). A large product is cut into tiles by its
/// shape (`tiles`) and takes as many cores as the thread's share allows (`engine::cores`).
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
    let (along_rows, side) = tiles(m, n, k);
    // The last tile takes the rest: a sliver of one row would be a product `gemm` sums in
    // another order (a matrix-vector product).
    let count = ((if along_rows { m } else { n }) / side).max(1);
    if count == 1 || crate::engine::cores::current_width() == 1 {
        // SAFETY: as a tile's below, for the whole product.
        unsafe {
            gemm_block(
                (m, n, k),
                dst.as_mut_ptr(),
                n,
                accumulate,
                (a, a_rs, a_cs),
                (b, b_rs, b_cs),
            )
        };
        return;
    }
    let out = Cells(dst.as_mut_ptr());
    let tile = |t: usize| {
        let long = if along_rows { m } else { n };
        let (lo, hi) = (t * side, if t + 1 == count { long } else { (t + 1) * side });
        let (rows, cols, d, a, b) = if along_rows {
            (hi - lo, n, lo * n, &a[lo * a_rs..], b)
        } else {
            (m, hi - lo, lo, a, &b[lo * b_cs..])
        };
        // SAFETY: the asserts above keep every index inside the slices (a tile is a sub-block
        // of the whole product), tiles write disjoint cells of `dst`, and `dst` does not alias
        // `a` or `b` (it is borrowed mutably for this call).
        unsafe {
            gemm_block(
                (rows, cols, k),
                out.at(d),
                n,
                accumulate,
                (a, a_rs, a_cs),
                (b, b_rs, b_cs),
            )
        }
    };
    crate::engine::cores::for_each_tile(count, &tile);
}

/// Products under about this many multiply-adds a tile are not cut: sharing them costs more
/// than it saves.
const TILE_WORK: usize = 1 << 20;
/// The fewest columns (or rows) of a tile, and the multiple its side is rounded to.
const TILE_SIDE: usize = 64;
const MAX_TILES: usize = 16;

/// How a product is cut, by its shape alone: along the columns of `dst` (each tile then reads
/// its own columns of `b`), or along the rows when there are too few columns; in tiles of this
/// many (the last holds the rest too).
///
/// A tile's arithmetic must be the whole product's: `gemm` 0.19 blocks `k` by `k` alone, except
/// for a product of at most 64 × 64 (`k` in blocks of 512, not of `k / ⌈k / 512⌉`) and for one
/// row or column (a matrix-vector product). So a tile is never one row or column (the last
/// takes the rest) and never 64 × 64 or smaller unless the whole product is.
fn tiles(m: usize, n: usize, k: usize) -> (bool, usize) {
    let along_rows = n < 2 * TILE_SIDE && m > n;
    let (long, short) = if along_rows { (m, n) } else { (n, m) };
    let least = if short <= 64 {
        2 * TILE_SIDE
    } else {
        TILE_SIDE
    };
    let wanted = (m * n * k / TILE_WORK)
        .clamp(1, MAX_TILES)
        .min(long / least)
        .max(1);
    let side = long.div_ceil(wanted).max(least).next_multiple_of(TILE_SIDE);
    (along_rows, side.min(long))
}

/// `dst` cells a tile writes through (tiles write disjoint cells, so sharing is sound).
#[derive(Clone, Copy)]
struct Cells(*mut f32);
// SAFETY: only used by `matmul`, whose tiles write disjoint cells of one exclusively borrowed
// slice and end before it returns.
unsafe impl Sync for Cells {}
unsafe impl Send for Cells {}

impl Cells {
    /// # Safety
    /// `offset` is inside the slice `self` points into.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        unsafe { self.0.add(offset) }
    }
}

/// One block on `gemm`, one thread.
///
/// # Safety
/// `dst` holds `m` rows of `dst_rs` cells with `n` written per row, `a` and `b` hold the
/// blocks their strides describe, and nothing else writes those `dst` cells meanwhile.
unsafe fn gemm_block(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    (a, a_rs, a_cs): (&[f32], usize, usize),
    (b, b_rs, b_cs): (&[f32], usize, usize),
) {
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::cores::Cores;
    use rand::{Rng, SeedableRng};

    /// The whole product as one `gemm` call, untiled.
    fn whole(
        (m, n, k): (usize, usize, usize),
        dst: &mut [f32],
        a: (&[f32], usize, usize),
        b: (&[f32], usize, usize),
    ) {
        // SAFETY: the test's slices hold the blocks their strides describe.
        unsafe { gemm_block((m, n, k), dst.as_mut_ptr(), n, true, a, b) }
    }

    #[test]
    fn a_tiled_product_equals_the_whole_product_bit_for_bit_at_every_width() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let shapes = [
            (256, 256, 256),
            (256, 96, 185),
            (85, 1024, 64),
            (1000, 37, 300),
            (33, 1400, 129),
            (64, 2048, 32),
            (1, 8192, 600),
            (128, 320, 3072),
            (64, 384, 1500),
            (40, 1000, 2000),
            (1000, 50, 1500),
            (600, 200, 1100),
            (2, 4096, 600),
            (7, 4096, 300),
            (513, 511, 257),
        ];
        let random = (0..16).map(|_| {
            let n = rng.gen_range(160..2000);
            let m = rng.gen_range(1..700).max(8192 / n + 1);
            let least = 2 * TILE_WORK / (m * n) + 1;
            let k = rng.gen_range(least..least + 1500);
            if rng.gen_bool(0.5) {
                (m, n, k)
            } else {
                (n, m, k)
            }
        });
        let shapes: Vec<_> = shapes
            .into_iter()
            .chain(random.collect::<Vec<_>>())
            .collect();
        let cores = Cores::new(3);
        for (m, n, k) in shapes {
            assert!(tiles(m, n, k).1 < m.max(n), "{m}×{n}×{k} is cut");
            let a: Vec<f32> = (0..m * k).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let init: Vec<f32> = (0..m * n).map(|_| rng.gen_range(-1.0..1.0)).collect();
            // `a` read transposed too, as the backward pass reads weights.
            // Either operand read transposed too, as the backward passes read them.
            let layouts = [(k, 1, n, 1), (1, m, n, 1), (k, 1, 1, k), (1, m, 1, k)];
            for (a_rs, a_cs, b_rs, b_cs) in layouts {
                let (a, b) = ((&a[..], a_rs, a_cs), (&b[..], b_rs, b_cs));
                let mut expected = init.clone();
                whole((m, n, k), &mut expected, a, b);
                for width in [1, 2, 3] {
                    let shares: Vec<_> = (0..4 - width).map(|_| cores.share()).collect();
                    assert_eq!(shares[0].width(), width);
                    let mut got = init.clone();
                    shares[0].install(|| {
                        matmul(
                            (m, n, k),
                            &mut got,
                            true,
                            a.0,
                            (a_rs, a_cs),
                            b.0,
                            (b_rs, b_cs),
                        )
                    });
                    let same = got
                        .iter()
                        .zip(&expected)
                        .all(|(x, y)| x.to_bits() == y.to_bits());
                    let layout = (a_rs, a_cs, b_rs, b_cs);
                    assert!(same, "{m}×{n}×{k} {layout:?} at width {width}");
                }
            }
        }
    }

    #[test]
    fn small_products_are_one_tile_and_tiles_are_whole_multiples() {
        assert_eq!(tiles(2, 64, 64), (false, 64));
        assert_eq!(
            tiles(128, 128, 64),
            (false, 128),
            "2²⁰ multiply-adds stay whole"
        );
        assert_eq!(
            tiles(256, 256, 256),
            (false, 64),
            "2²⁴: four tiles of 64 columns"
        );
        assert_eq!(
            tiles(1000, 37, 300),
            (true, 192),
            "few columns: cut along the rows"
        );
    }
}
