//! Running a pass built for AVX2 where the CPU has it: the recurrent cells' gate loops are
//! element-wise over H lanes, and the baseline x86-64 build runs them 4 lanes wide (SSE2)
//! where AVX2 runs 8. The same operations in the same order, without FMA contraction, so
//! both builds give the same bits (`lstm/tests.rs` and `gru/tests.rs` check it).
//!
//! A macro, not a generic `run(|| body(..))`: a closure's captured references lose the
//! aliasing facts a function's parameters carry, and the LSTM's backward gate loop stopped
//! vectorizing that way (the whole GunPoint run 1.22× slower, 15 pairs).

/// `dispatch!(pub fn name / name_avx2 => body(arg: Type, …) -> Ret)` defines `name`, which
/// runs `name_avx2` (the `#[inline(always)]` `body` compiled with AVX2 enabled) when the CPU
/// has AVX2, and `body` itself otherwise.
macro_rules! dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident / $wide:ident => $body:ident
        ($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2, checked just above.
                return unsafe { $wide($($arg),*) };
            }
            $body($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn $wide($($arg: $ty),*) -> $ret {
            $body($($arg),*)
        }
    };
}

pub(super) use dispatch;

/// Random weights, inputs and upstream gradients for comparing a cell's two builds: a hidden
/// size that is not a multiple of the 8 lanes, and sequences of three lengths.
#[cfg(all(test, target_arch = "x86_64"))]
pub(super) mod fixture {
    use rand::{Rng, SeedableRng, rngs::StdRng};

    use super::super::batch::Batch;
    use super::super::cell::{CellGrads, CellWeights};

    pub struct Fixture {
        weights: [Vec<f32>; 4],
        x: Vec<f32>,
        pub d_outputs: Vec<f32>,
        pub d_last: Vec<f32>,
    }

    const D: usize = 3;
    const H: usize = 13;
    const STEPS: usize = 9;
    const LENGTHS: [usize; 3] = [9, 5, 1];

    impl Fixture {
        pub fn new(gates: usize) -> Self {
            let mut rng = StdRng::seed_from_u64(7);
            let mut draw =
                |n: usize| -> Vec<f32> { (0..n).map(|_| rng.gen_range(-1.5..1.5)).collect() };
            let g = gates * H;
            let b = LENGTHS.len();
            Self {
                weights: [draw(g * D), draw(g * H), draw(g), draw(g)],
                x: draw(b * STEPS * D),
                d_outputs: draw(b * STEPS * H),
                d_last: draw(b * H),
            }
        }

        pub fn weights(&self) -> CellWeights<'_> {
            let [w_ih, w_hh, b_ih, b_hh] = &self.weights;
            CellWeights {
                input: D,
                hidden: H,
                weight_ih: w_ih,
                weight_hh: w_hh,
                bias_ih: b_ih,
                bias_hh: b_hh,
            }
        }

        pub fn batch(&self) -> Batch<'_> {
            Batch {
                x: &self.x,
                batch: LENGTHS.len(),
                steps: STEPS,
                lengths: &LENGTHS,
            }
        }
    }

    pub fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Every gradient of the two builds, bit for bit, and not all 0.
    pub fn assert_same_grads(base: &CellGrads, wide: &CellGrads) {
        for (a, b) in [
            (&base.weight_ih, &wide.weight_ih),
            (&base.weight_hh, &wide.weight_hh),
            (&base.bias_ih, &wide.bias_ih),
            (&base.bias_hh, &wide.bias_hh),
            (&base.x, &wide.x),
        ] {
            assert_eq!(bits(a), bits(b));
        }
        assert!(base.weight_hh.iter().any(|&v| v != 0.0), "gradients all 0");
    }
}
