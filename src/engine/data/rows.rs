//! Rows in, batches out: the stratified inner validation split, per-epoch shuffles, and
//! gathering rows into the features × batch layout the model takes (with optional noise).

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// A dense dataset: `x` is rows × features, row-major; `y` the class index of each row.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    pub x: &'a [f32],
    pub y: &'a [u32],
    pub features: usize,
}

impl Rows<'_> {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
}

/// Splits row indices into (train, validation), stratified: each class gives
/// `round(fraction × count)` rows to validation but keeps at least one for training.
pub fn stratified_split(
    y: &[u32],
    classes: usize,
    fraction: f64,
    rng: &mut ChaCha8Rng,
) -> (Vec<usize>, Vec<usize>) {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &c) in y.iter().enumerate() {
        by_class[c as usize].push(i);
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for mut rows in by_class {
        rows.shuffle(rng);
        let take =
            ((fraction * rows.len() as f64).round() as usize).min(rows.len().saturating_sub(1));
        val.extend_from_slice(&rows[..take]);
        train.extend_from_slice(&rows[take..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
}

/// Gathers `idx` rows into features × batch (row-major) and their labels; adds gaussian noise
/// of std `noise` when it is positive.
pub fn gather(
    rows: Rows<'_>,
    idx: &[usize],
    noise: f64,
    rng: &mut ChaCha8Rng,
) -> (Vec<f32>, Vec<u32>) {
    let (mut xt, mut y) = (Vec::new(), Vec::new());
    gather_into(rows, idx, noise, 0, rng, &mut xt, &mut y);
    (xt, y)
}

/// As `gather`, into buffers a loop reuses (no allocation once they have grown); the first
/// `clean_prefix` features get no noise.
pub fn gather_into(
    rows: Rows<'_>,
    idx: &[usize],
    noise: f64,
    clean_prefix: usize,
    rng: &mut ChaCha8Rng,
    xt: &mut Vec<f32>,
    y: &mut Vec<u32>,
) {
    let (b, d) = (idx.len(), rows.features);
    xt.clear();
    xt.resize(d * b, 0.0);
    // A transpose in blocks of rows: the block's rows stay in cache across the features, and
    // each feature's values are written contiguously.
    const BLOCK: usize = 16;
    for (n, block) in idx.chunks(BLOCK).enumerate() {
        let j0 = n * BLOCK;
        for k in 0..d {
            let dst = &mut xt[k * b + j0..k * b + j0 + block.len()];
            for (v, &r) in dst.iter_mut().zip(block) {
                *v = rows.x[r * d + k];
            }
        }
    }
    if noise > 0.0 {
        let normal = Normal::new(0.0, noise).expect("a finite, positive std");
        for v in xt[clean_prefix.min(d) * b..].iter_mut() {
            *v += normal.sample(rng) as f32;
        }
    }
    y.clear();
    y.extend(idx.iter().map(|&r| rows.y[r]));
}
