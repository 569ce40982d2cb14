//! The LSTM passes' AVX2 build against the baseline build.

use super::super::avx2::fixture::{Fixture, assert_same_grads, bits};
use super::*;

/// The AVX2 build and the baseline build of both passes give the same bits.
#[test]
fn the_avx2_passes_give_the_baseline_passes_bits() {
    if !std::arch::is_x86_feature_detected!("avx2") {
        eprintln!("no AVX2 on this CPU: only the baseline passes run here");
        return;
    }
    let f = Fixture::new(4);
    let (w, batch) = (f.weights(), f.batch());
    // SAFETY: the CPU has AVX2, checked above.
    let (base, wide) = (forward_body(&w, &batch), unsafe {
        forward_avx2(&w, &batch)
    });
    assert_eq!(bits(&base.outputs), bits(&wide.outputs));
    assert_eq!(bits(&base.last_cell), bits(&wide.last_cell));
    let g = backward_body(&w, &batch, &base, &f.d_outputs, &f.d_last);
    // SAFETY: as above.
    let h = unsafe { backward_avx2(&w, &batch, &base, &f.d_outputs, &f.d_last) };
    assert_same_grads(&g, &h);
}
