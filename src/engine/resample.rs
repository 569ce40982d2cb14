//! Class-imbalance samplers applied to a fold's (encoded) training rows only, following
//! imbalanced-learn: random over-sampling (optionally with a smoothed bootstrap, `shrinkage`),
//! random under-sampling, SMOTE, and NearMiss 1/2/3. Targets follow imbalanced-learn's
//! `sampling_strategy`: "auto" (ratio 1.0) resamples every class but the majority (over) or but
//! the minority (under); a ratio r is minority/majority after resampling.
//!
//! Nearest neighbours are exact brute force (matrix multiplication shortlists, exact f64
//! distances decide) with Euclidean distance, ties broken by row order (as a stable sort).

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// Rows as a dense matrix view: row `i` is `x[i*d..(i+1)*d]`.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    pub x: &'a [f32],
    pub d: usize,
}

impl<'a> Matrix<'a> {
    fn row(&self, i: usize) -> &'a [f32] {
        &self.x[i * self.d..(i + 1) * self.d]
    }
}

/// Squared Euclidean distance in f64, with four accumulators so the loop vectorizes.
fn squared_distance(a: &[f32], b: &[f32]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..4 {
            let d = f64::from(x[i]) - f64::from(y[i]);
            acc[i] += d * d;
        }
    }
    let mut sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in ra.iter().zip(rb) {
        let d = f64::from(*x) - f64::from(*y);
        sum += d * d;
    }
    sum
}

/// Candidates kept per query beyond `k` by the fast pass, re-ranked with exact distances.
const MARGIN: usize = 8;
/// Query and reference rows per distance block: the block of dot products stays in cache and
/// memory stays linear in the rows.
const BLOCK_QUERIES: usize = 128;
const BLOCK_REFS: usize = 1024;

/// For each query row, the `k` nearest reference rows (indices into `refs`) and their
/// distances, nearest first, ties by reference order; `skip_self` drops a reference equal to
/// the query's own index.
///
/// Brute force through matrix multiplication: `|q − r|² = |q|² + |r|² − 2 q·r`, with the dot
/// products of a block of queries against a block of references as one f64 GEMM. That
/// expansion can misorder near-ties by rounding, so it only shortlists `k + MARGIN` candidates;
/// their exact distances decide the answer, as the direct computation would.
pub fn knn(
    m: Matrix<'_>,
    queries: &[usize],
    refs: &[usize],
    k: usize,
    skip_self: bool,
) -> Vec<Vec<(usize, f64)>> {
    let keep = k + MARGIN;
    if keep >= refs.len() {
        return queries
            .iter()
            .map(|&q| exact_nearest(m, q, refs, (0..refs.len()).collect(), k, skip_self))
            .collect();
    }
    let d = m.d;
    let (ref_x, ref_norms) = gather_f64(m, refs);
    let mut dots = vec![0.0f64; BLOCK_QUERIES * BLOCK_REFS];
    let mut out = Vec::with_capacity(queries.len());
    for block in queries.chunks(BLOCK_QUERIES) {
        let (q_x, q_norms) = gather_f64(m, block);
        let mut shortlist: Vec<Vec<(f64, usize)>> = vec![Vec::with_capacity(keep + 1); block.len()];
        for start in (0..refs.len()).step_by(BLOCK_REFS) {
            let nr = BLOCK_REFS.min(refs.len() - start);
            // SAFETY: every pointer addresses a live buffer whose extent covers the strides
            // given: dots is block.len() × nr (row-major, nr ≤ BLOCK_REFS), q_x is
            // block.len() × d, and the reference block is nr × d read as its transpose.
            unsafe {
                gemm::gemm(
                    block.len(),
                    nr,
                    d,
                    dots.as_mut_ptr(),
                    1,
                    nr as isize,
                    false,
                    q_x.as_ptr(),
                    1,
                    d as isize,
                    ref_x[start * d..].as_ptr(),
                    d as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            for (i, list) in shortlist.iter_mut().enumerate() {
                let row = &dots[i * nr..(i + 1) * nr];
                for (j, &dot) in row.iter().enumerate() {
                    let sq = q_norms[i] + ref_norms[start + j] - 2.0 * dot;
                    if list.len() == keep && sq >= list[keep - 1].0 {
                        continue;
                    }
                    if skip_self && refs[start + j] == block[i] {
                        continue;
                    }
                    // References arrive in order, so an equal distance goes after its ties.
                    let at = list.partition_point(|c| c.0 <= sq);
                    list.insert(at, (sq, start + j));
                    list.truncate(keep);
                }
            }
        }
        for (&q, list) in block.iter().zip(shortlist) {
            let candidates = list.into_iter().map(|(_, j)| j).collect();
            out.push(exact_nearest(m, q, refs, candidates, k, skip_self));
        }
    }
    out
}

/// The `k` nearest of `candidates` (indices into `refs`) to row `q` by exact distance, ties by
/// reference order.
fn exact_nearest(
    m: Matrix<'_>,
    q: usize,
    refs: &[usize],
    candidates: Vec<usize>,
    k: usize,
    skip_self: bool,
) -> Vec<(usize, f64)> {
    let order = |a: &(usize, f64), b: &(usize, f64)| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0));
    let mut d: Vec<(usize, f64)> = candidates
        .into_iter()
        .filter(|&j| !(skip_self && refs[j] == q))
        .map(|j| (j, squared_distance(m.row(q), m.row(refs[j]))))
        .collect();
    if k < d.len() {
        d.select_nth_unstable_by(k, order);
        d.truncate(k);
    }
    d.sort_by(order);
    d.into_iter().map(|(j, sq)| (j, sq.sqrt())).collect()
}

/// `rows` of `m` as a contiguous f64 matrix, and each row's squared norm.
fn gather_f64(m: Matrix<'_>, rows: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let x: Vec<f64> = rows
        .iter()
        .flat_map(|&r| m.row(r).iter().map(|&v| f64::from(v)))
        .collect();
    let norms = match m.d {
        0 => vec![0.0; rows.len()],
        d => x.chunks(d).map(|r| r.iter().map(|v| v * v).sum()).collect(),
    };
    (x, norms)
}

/// Rows per class after over-sampling: every class but the majority is raised to
/// `ratio × majority` (imbalanced-learn: `int(n_majority × ratio − n)` new rows).
pub fn over_targets(counts: &[u64], ratio: f64) -> Vec<u64> {
    let majority = counts.iter().copied().max().unwrap_or(0);
    let major_class = counts.iter().position(|&c| c == majority).unwrap_or(0);
    counts
        .iter()
        .enumerate()
        .map(|(c, &n)| {
            if c == major_class || n == 0 {
                n
            } else {
                n + ((majority as f64 * ratio - n as f64).max(0.0) as u64)
            }
        })
        .collect()
}

/// Rows per class after under-sampling: every class but the minority is cut to
/// `minority / ratio` (imbalanced-learn: `int(n_minority / ratio)`), never raised.
pub fn under_targets(counts: &[u64], ratio: f64) -> Vec<u64> {
    let minority = counts.iter().copied().filter(|&c| c > 0).min().unwrap_or(0);
    let minor_class = counts.iter().position(|&c| c == minority).unwrap_or(0);
    counts
        .iter()
        .enumerate()
        .map(|(c, &n)| {
            if c == minor_class {
                n
            } else {
                n.min((minority as f64 / ratio) as u64)
            }
        })
        .collect()
}

fn rows_of(y: &[u32], class: usize) -> Vec<usize> {
    (0..y.len()).filter(|&i| y[i] as usize == class).collect()
}

/// Random under-sampling: the kept row indices, sorted.
pub fn undersample(y: &[u32], classes: usize, ratio: f64, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let counts = class_counts(y, classes);
    let targets = under_targets(&counts, ratio);
    let mut kept = Vec::new();
    for (c, &target) in targets.iter().enumerate() {
        let mut rows = rows_of(y, c);
        rows.shuffle(rng);
        rows.truncate(target as usize);
        kept.extend(rows);
    }
    kept.sort_unstable();
    kept
}

/// Per-class row counts.
pub fn class_counts(y: &[u32], classes: usize) -> Vec<u64> {
    let mut counts = vec![0u64; classes];
    for &c in y {
        counts[c as usize] += 1;
    }
    counts
}

/// The smoothed-bootstrap bandwidth of imbalanced-learn's `RandomOverSampler(shrinkage)`:
/// `h = (4 / ((d + 2)·n))^(1 / (d + 4))`, `n` every row passed to the sampler.
pub fn shrinkage_bandwidth(n: usize, d: usize) -> f64 {
    (4.0 / ((d as f64 + 2.0) * n as f64)).powf(1.0 / (d as f64 + 4.0))
}

/// Random over-sampling with replacement; with `shrinkage` > 0 each copy gets gaussian noise of
/// std `shrinkage · h · std_class` per feature. Returns the original rows followed by the new
/// ones (features, labels).
pub fn oversample(
    m: Matrix<'_>,
    y: &[u32],
    classes: usize,
    ratio: f64,
    shrinkage: f64,
    rng: &mut ChaCha8Rng,
) -> (Vec<f32>, Vec<u32>) {
    let counts = class_counts(y, classes);
    let targets = over_targets(&counts, ratio);
    let h = shrinkage_bandwidth(y.len(), m.d);
    let (mut x, mut out_y) = (m.x.to_vec(), y.to_vec());
    for c in 0..classes {
        let rows = rows_of(y, c);
        let extra = (targets[c] - counts[c]) as usize;
        if extra == 0 || rows.is_empty() {
            continue;
        }
        let std = class_std(m, &rows);
        for _ in 0..extra {
            let r = rows[rng.gen_range(0..rows.len())];
            for (j, &v) in m.row(r).iter().enumerate() {
                let z: f64 = if shrinkage > 0.0 {
                    rng.sample(StandardNormal)
                } else {
                    0.0
                };
                x.push((f64::from(v) + z * shrinkage * h * std[j]) as f32);
            }
            out_y.push(c as u32);
        }
    }
    (x, out_y)
}

fn class_std(m: Matrix<'_>, rows: &[usize]) -> Vec<f64> {
    let n = rows.len() as f64;
    (0..m.d)
        .map(|j| {
            let mean = rows.iter().map(|&r| f64::from(m.row(r)[j])).sum::<f64>() / n;
            (rows
                .iter()
                .map(|&r| (f64::from(m.row(r)[j]) - mean).powi(2))
                .sum::<f64>()
                / n)
                .sqrt()
        })
        .collect()
}

/// SMOTE's neighbour sets: for each row of `class`, its `k` nearest rows of the same class
/// (indices into that class's rows), nearest first.
pub fn smote_neighbors(m: Matrix<'_>, y: &[u32], class: usize, k: usize) -> Vec<Vec<usize>> {
    let rows = rows_of(y, class);
    knn(m, &rows, &rows, k, true)
        .into_iter()
        .map(|n| n.into_iter().map(|(j, _)| j).collect())
        .collect()
}

/// SMOTE: each class but the majority gets `x_i + u·(x_nn − x_i)`, `u ~ U[0, 1)`, between a
/// random row and one of its `k` nearest same-class rows, up to its target.
pub fn smote(
    m: Matrix<'_>,
    y: &[u32],
    classes: usize,
    ratio: f64,
    k: usize,
    rng: &mut ChaCha8Rng,
) -> (Vec<f32>, Vec<u32>) {
    let counts = class_counts(y, classes);
    let targets = over_targets(&counts, ratio);
    let (mut x, mut out_y) = (m.x.to_vec(), y.to_vec());
    for c in 0..classes {
        let extra = (targets[c] - counts[c]) as usize;
        let rows = rows_of(y, c);
        if extra == 0 || rows.len() < 2 {
            continue;
        }
        let neighbors = smote_neighbors(m, y, c, k.min(rows.len() - 1));
        for _ in 0..extra {
            let i = rng.gen_range(0..rows.len());
            let nn = rows[neighbors[i][rng.gen_range(0..neighbors[i].len())]];
            let u: f32 = rng.r#gen();
            for (a, b) in m.row(rows[i]).iter().zip(m.row(nn)) {
                x.push(a + u * (b - a));
            }
            out_y.push(c as u32);
        }
    }
    (x, out_y)
}

/// NearMiss (versions 1, 2, 3): the kept row indices, sorted. Every class but the minority is
/// cut to its target, choosing rows by their distances to the minority class.
pub fn nearmiss(
    m: Matrix<'_>,
    y: &[u32],
    classes: usize,
    version: u8,
    n_neighbors: usize,
    n_neighbors_ver3: usize,
    ratio: f64,
) -> Vec<usize> {
    let counts = class_counts(y, classes);
    let targets = under_targets(&counts, ratio);
    let minority = counts.iter().copied().filter(|&c| c > 0).min().unwrap_or(0);
    let minor_class = counts.iter().position(|&c| c == minority).unwrap_or(0);
    let minority_rows = rows_of(y, minor_class);
    let mut kept = minority_rows.clone();
    // The sum of the last (farthest) `n_neighbors` distances, as imbalanced-learn scores rows.
    let score = |n: &Vec<(usize, f64)>| n.iter().rev().take(n_neighbors).map(|p| p.1).sum::<f64>();
    for c in (0..classes).filter(|&c| c != minor_class) {
        let rows = rows_of(y, c);
        let take = targets[c] as usize;
        let chosen: Vec<usize> = match version {
            1 | 2 => {
                let k = if version == 1 {
                    n_neighbors
                } else {
                    minority_rows.len()
                };
                let scores: Vec<f64> = knn(m, &rows, &minority_rows, k, false)
                    .iter()
                    .map(score)
                    .collect();
                let mut order: Vec<usize> = (0..rows.len()).collect();
                order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
                order.into_iter().take(take).map(|i| rows[i]).collect()
            }
            _ => {
                // Keep the majority rows that are among some minority row's nearest, then the
                // ones whose nearest minority rows are farthest.
                let mut near: Vec<usize> = knn(m, &minority_rows, &rows, n_neighbors_ver3, false)
                    .into_iter()
                    .flatten()
                    .map(|(j, _)| j)
                    .collect();
                near.sort_unstable();
                near.dedup();
                let candidates: Vec<usize> = near.iter().map(|&j| rows[j]).collect();
                let scores: Vec<f64> = knn(m, &candidates, &minority_rows, n_neighbors, false)
                    .iter()
                    .map(score)
                    .collect();
                let mut order: Vec<usize> = (0..candidates.len()).collect();
                // Descending and stable, as Python's sorted(reverse=True).
                order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
                order
                    .into_iter()
                    .take(take)
                    .map(|i| candidates[i])
                    .collect()
            }
        };
        kept.extend(chosen);
    }
    kept.sort_unstable();
    kept
}
