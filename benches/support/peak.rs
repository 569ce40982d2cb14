//! This core's single-thread product peak on the kernel every family's products run on: GFLOP/s
//! of a 512 × 512 × 512 `matmul`, the best of several timed repeats, measured in the run that
//! reports a fraction of it.

use std::time::Instant;

use crossfold::engine::model::kernels::matmul;

pub fn product_peak() -> f64 {
    let n = 512;
    let a: Vec<f32> = (0..n * n).map(|i| (i % 7) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; n * n];
    let mut best = f64::MAX;
    for _ in 0..20 {
        let start = Instant::now();
        matmul((n, n, n), &mut c, false, &a, (n, 1), &a, (n, 1));
        best = best.min(start.elapsed().as_secs_f64());
    }
    2.0 * (n * n * n) as f64 / best / 1e9
}
