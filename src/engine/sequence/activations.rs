//! The GRU's and attention's sigmoid and tanh over slices, branch-free so each loop
//! vectorizes: libm's `expf`/`tanhf` are calls the compiler cannot vectorize, and they were
//! a fifth of a GRU step. Cephes' single-precision approximations: within 2 ulp of
//! `f32::exp`, 3 of `f32::tanh` and 4 of the sigmoid (tested below), well inside the f32 tolerance the golden tests use.

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 in two parts, so `x − n·ln 2` keeps its low bits.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 · 2²³: adding and subtracting it rounds to the nearest integer (SSE2 has no round).
const ROUND: f32 = 12_582_912.0;

/// `e^x`, for `x` clamped to where `e^x` is a finite, normal f32.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.3);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    er * pow2(n)
}

/// 2ⁿ for an integer-valued `n` in [−126, 127], built from the bits: `n + 127 + 1.5·2²³` holds
/// n + 127 in its low mantissa bits. Not `n as i32`: Rust's cast saturates and maps NaN to 0,
/// which the compiler did one lane at a time (about 40% of the LSTM's forward gate loops).
#[inline(always)]
fn pow2(n: f32) -> f32 {
    f32::from_bits((n + (127.0 + ROUND)).to_bits() << 23)
}

/// `1 / (1 + e^−x)`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh x`: an odd polynomial near 0 (where `1 − 2/(e^2x + 1)` would cancel), that form
/// beyond.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let mut p = -5.704_988_7e-3f32;
    p = p * z + 2.063_908_8e-2;
    p = p * z - 5.373_971_6e-2;
    p = p * z + 1.333_144_2e-1;
    p = p * z - 3.333_328e-1;
    let small = x + x * z * p;
    let large = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    if a < 0.625 { small } else { large.copysign(x) }
}

pub fn tanh_in_place(v: &mut [f32]) {
    for x in v {
        *x = tanh(*x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn pow2_is_two_to_the_n_over_the_normal_exponents() {
        for n in -126..=127 {
            assert_eq!(pow2(n as f32), 2f32.powi(n), "2^{n}");
        }
    }

    #[test]
    fn exp_sigmoid_and_tanh_are_within_a_few_ulp_of_std() {
        let mut worst = (0u32, 0u32, 0u32);
        let mut x = -30.0f32;
        while x < 30.0 {
            worst.0 = worst.0.max(ulps(exp(x), x.exp()));
            let s = 1.0 / (1.0 + (-x).exp());
            worst.1 = worst.1.max(ulps(sigmoid(x), s));
            worst.2 = worst.2.max(ulps(tanh(x), x.tanh()));
            x += 0.000_37;
        }
        assert!(worst.0 <= 2, "exp: {} ulp", worst.0);
        assert!(worst.1 <= 4, "sigmoid: {} ulp", worst.1);
        assert!(worst.2 <= 3, "tanh: {} ulp", worst.2);
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(tanh(-100.0), -1.0);
        assert_eq!(sigmoid(-200.0).min(1e-30), sigmoid(-200.0));
        assert!(exp(1000.0).is_finite() && exp(-1000.0) > 0.0);
    }
}
