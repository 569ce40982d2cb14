//! The LSTM passes' AVX2 build against the baseline build.

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::*;

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The AVX2 build and the baseline build of both passes give the same bits, on a hidden
/// size that is not a multiple of the 8 lanes and sequences of three lengths.
#[test]
fn the_avx2_passes_give_the_baseline_passes_bits() {
    if !std::arch::is_x86_feature_detected!("avx2") {
        eprintln!("no AVX2 on this CPU: only the baseline passes run here");
        return;
    }
    let (d, hs, b_n, t_n) = (3, 13, 3, 9);
    let mut rng = StdRng::seed_from_u64(7);
    let mut draw = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.gen_range(-1.5..1.5)).collect() };
    let (w_ih, w_hh, b_ih, b_hh) = (
        draw(4 * hs * d),
        draw(4 * hs * hs),
        draw(4 * hs),
        draw(4 * hs),
    );
    let (x, d_out, d_last) = (draw(b_n * t_n * d), draw(b_n * t_n * hs), draw(b_n * hs));
    let w = CellWeights {
        input: d,
        hidden: hs,
        weight_ih: &w_ih,
        weight_hh: &w_hh,
        bias_ih: &b_ih,
        bias_hh: &b_hh,
    };
    let lengths = [9, 5, 1];
    let batch = Batch {
        x: &x,
        batch: b_n,
        steps: t_n,
        lengths: &lengths,
    };
    let (base, wide) = (forward_body(&w, &batch), unsafe {
        forward_avx2(&w, &batch)
    });
    assert_eq!(bits(&base.outputs), bits(&wide.outputs));
    assert_eq!(bits(&base.last_cell), bits(&wide.last_cell));
    let g = backward_body(&w, &batch, &base, &d_out, &d_last);
    let h = unsafe { backward_avx2(&w, &batch, &base, &d_out, &d_last) };
    for (a, b) in [(&g.weight_ih, &h.weight_ih), (&g.weight_hh, &h.weight_hh)] {
        assert_eq!(bits(a), bits(b));
    }
    assert_eq!(
        (bits(&g.bias_ih), bits(&g.x)),
        (bits(&h.bias_ih), bits(&h.x))
    );
    assert!(
        g.weight_hh.iter().any(|&v| v != 0.0),
        "the gradients are not all 0"
    );
}
