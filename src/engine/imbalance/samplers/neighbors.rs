//! Exact nearest neighbours for SMOTE and NearMiss: brute force through matrix
//! multiplication shortlists, exact f64 Euclidean distances decide, ties broken by row order
//! (as a stable sort).

/// Rows as a dense matrix view: row `i` is `x[i*d..(i+1)*d]`.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    pub x: &'a [f32],
    pub d: usize,
}

impl<'a> Matrix<'a> {
    pub fn row(&self, i: usize) -> &'a [f32] {
        &self.x[i * self.d..(i + 1) * self.d]
    }
}

/// Squared Euclidean distance in f64, with four accumulators so the loop vectorizes.
pub fn squared_distance(a: &[f32], b: &[f32]) -> f64 {
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
