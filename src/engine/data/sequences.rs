//! Sequences as the engine trains on them: per-channel standardization fitted on a fold's
//! training sequences only (`SequenceScaling`), and the packed row every sampler, split and
//! batch handles like a table's row:
//!
//! ```text
//! [length, x(0,0) … x(0,D−1), x(1,0) …, x(T−1,D−1)]      width 1 + T·D
//! ```
//!
//! `T` is the longest sequence packed together; steps past a sequence's length, and missing
//! values (the channel's training mean), are 0. The GRU reads the length back and masks the
//! padding, so the padding never reaches any output or gradient.

use serde::{Deserialize, Serialize};

use crate::domain::dataset::SequenceValues;

/// A sequence dataset's values with each sequence's first value's offset.
#[derive(Debug, Clone)]
pub struct Sequences<'a> {
    pub values: &'a SequenceValues,
    starts: Vec<usize>,
}

impl<'a> Sequences<'a> {
    pub fn new(values: &'a SequenceValues) -> Self {
        let mut starts = Vec::with_capacity(values.lengths.len());
        let mut at = 0usize;
        for &l in &values.lengths {
            starts.push(at);
            at += l as usize * values.channels;
        }
        Self { values, starts }
    }

    pub fn channels(&self) -> usize {
        self.values.channels
    }

    /// Sequence `i`'s steps × channels values, step-major (`NaN` missing).
    pub fn steps(&self, i: usize) -> &'a [f32] {
        let n = self.values.lengths[i] as usize * self.values.channels;
        &self.values.values[self.starts[i]..self.starts[i] + n]
    }

    pub fn len(&self, i: usize) -> usize {
        self.values.lengths[i] as usize
    }

    /// The longest sequence's steps.
    pub fn max_len(&self) -> usize {
        self.values.lengths.iter().max().map_or(0, |&l| l as usize)
    }

    /// Whether every sequence has the same number of steps (SMOTE and NearMiss then see them
    /// as vectors).
    pub fn equal_lengths(&self) -> bool {
        self.values.lengths.windows(2).all(|w| w[0] == w[1])
    }
}

/// Per-channel mean and (population) standard deviation of the training steps, as the
/// reference script's `(x − mean) / std`; a constant channel scales by 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceScaling {
    pub channels: usize,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl SequenceScaling {
    /// Fits on the present values of `rows`' sequences.
    pub fn fit(seqs: &Sequences<'_>, rows: &[usize]) -> Self {
        let d = seqs.channels();
        let (mut sum, mut sq, mut n) = (vec![0.0f64; d], vec![0.0f64; d], vec![0u64; d]);
        for &r in rows {
            for step in seqs.steps(r).chunks_exact(d) {
                for (c, &v) in step.iter().enumerate() {
                    if !v.is_nan() {
                        sum[c] += f64::from(v);
                        n[c] += 1;
                    }
                }
            }
        }
        let mean: Vec<f64> = sum
            .iter()
            .zip(&n)
            .map(|(s, &n)| s / n.max(1) as f64)
            .collect();
        for &r in rows {
            for step in seqs.steps(r).chunks_exact(d) {
                for (c, &v) in step.iter().enumerate() {
                    if !v.is_nan() {
                        sq[c] += (f64::from(v) - mean[c]).powi(2);
                    }
                }
            }
        }
        let std = sq
            .iter()
            .zip(&n)
            .map(|(s, &n)| {
                let sd = (s / n.max(1) as f64).sqrt();
                if sd > 1e-12 { sd } else { 1.0 }
            })
            .collect();
        Self {
            channels: d,
            mean,
            std,
        }
    }

    /// The packed width of sequences of at most `steps` steps.
    pub fn width(&self, steps: usize) -> usize {
        1 + steps * self.channels
    }

    /// Packs sequences (each steps × channels, step-major) into rows of `width(steps)`.
    pub fn pack<'s>(
        &self,
        seqs: impl ExactSizeIterator<Item = &'s [f32]>,
        steps: usize,
    ) -> Vec<f32> {
        let (d, width) = (self.channels, self.width(steps));
        let mut out = vec![0.0f32; seqs.len() * width];
        for (row, seq) in out.chunks_exact_mut(width).zip(seqs) {
            let len = seq.len() / d;
            row[0] = len as f32;
            for (dst, (i, &v)) in row[1..].iter_mut().zip(seq.iter().enumerate()) {
                let c = i % d;
                *dst = if v.is_nan() {
                    0.0
                } else {
                    ((f64::from(v) - self.mean[c]) / self.std[c]) as f32
                };
            }
            debug_assert!(len <= steps);
        }
        out
    }

    /// Packs `rows` of a dataset, padded to its longest sequence.
    pub fn pack_rows(&self, seqs: &Sequences<'_>, rows: &[usize]) -> Vec<f32> {
        self.pack(rows.iter().map(|&r| seqs.steps(r)), seqs.max_len())
    }
}

/// Packed rows gathered as features × batch, unpacked: the steps (B × T × C), each
/// sequence's length and `T`.
pub fn unpacked(xt: &[f32], batch: usize, channels: usize) -> (Vec<f32>, Vec<usize>, usize) {
    let (mut x, mut lengths) = (Vec::new(), Vec::new());
    let steps = unpack(xt, batch, channels, &mut x, &mut lengths);
    (x, lengths, steps)
}

/// A packed batch unpacked for the GRU: batch × steps × channels (steps the batch's longest)
/// and each sequence's length. `xt` is packed rows gathered as features × batch.
pub fn unpack(
    xt: &[f32],
    batch: usize,
    channels: usize,
    x: &mut Vec<f32>,
    lengths: &mut Vec<usize>,
) -> usize {
    let width = xt.len() / batch.max(1);
    let max_steps = (width.saturating_sub(1)) / channels.max(1);
    lengths.clear();
    // Packed lengths are whole numbers; clamping keeps a corrupt row from indexing past it.
    lengths.extend(
        xt[..batch]
            .iter()
            .map(|&v| (v.round().max(1.0) as usize).min(max_steps)),
    );
    let steps = lengths.iter().copied().max().unwrap_or(0);
    x.clear();
    x.resize(batch * steps * channels, 0.0);
    for (b, &len) in lengths.iter().enumerate() {
        for k in 0..len * channels {
            x[b * steps * channels + k] = xt[(1 + k) * batch + b];
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> SequenceValues {
        // Two sequences of 2 channels: 3 steps and 1 step, one value missing.
        SequenceValues {
            channels: 2,
            lengths: vec![3, 1],
            values: vec![1.0, 10.0, 2.0, f32::NAN, 3.0, 30.0, 6.0, 20.0],
        }
    }

    #[test]
    fn scaling_is_fitted_per_channel_on_present_values_of_the_given_rows() {
        let v = values();
        let seqs = Sequences::new(&v);
        let s = SequenceScaling::fit(&seqs, &[0, 1]);
        // Channel 0: 1, 2, 3, 6 → mean 3, population std √3.5; channel 1: 10, 30, 20.
        assert_eq!(s.mean, vec![3.0, 20.0]);
        assert!((s.std[0] - 3.5f64.sqrt()).abs() < 1e-12);
        assert!((s.std[1] - (200.0f64 / 3.0).sqrt()).abs() < 1e-12);
        let only_first = SequenceScaling::fit(&seqs, &[0]);
        assert_eq!(only_first.mean, vec![2.0, 20.0]);
    }

    #[test]
    fn packing_pads_and_unpacking_gives_the_batch_back() {
        let v = values();
        let seqs = Sequences::new(&v);
        let s = SequenceScaling {
            channels: 2,
            mean: vec![0.0, 0.0],
            std: vec![1.0, 10.0],
        };
        let packed = s.pack_rows(&seqs, &[0, 1]);
        assert_eq!(
            packed,
            vec![
                3.0, 1.0, 1.0, 2.0, 0.0, 3.0, 3.0, 1.0, 6.0, 2.0, 0.0, 0.0, 0.0, 0.0
            ]
        );
        // Gathered as features × batch, the batch of the second row alone has one step.
        let xt: Vec<f32> = packed[7..].to_vec();
        let (mut x, mut lengths) = (Vec::new(), Vec::new());
        assert_eq!(unpack(&xt, 1, 2, &mut x, &mut lengths), 1);
        assert_eq!((x, lengths), (vec![6.0, 2.0], vec![1]));
    }
}
