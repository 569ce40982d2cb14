//! The kernel set this process's matrix products run on. `gemm` 0.19 picks its microkernels at
//! run time (with the `x86-v4` feature: AVX-512F, else FMA, else scalar on x86; NEON or scalar
//! on aarch64), and each sums in its own order, so results differ in the last bits between
//! sets. A run records the set it trained on; bit-identical resume is promised per set.

/// The set `gemm` dispatches to here, as it decides it.
pub fn kernel_set() -> &'static str {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            "avx512f"
        } else if std::arch::is_x86_feature_detected!("fma") {
            "fma"
        } else {
            "scalar"
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            "neon"
        } else {
            "scalar"
        }
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "scalar"
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_kernel_set_is_one_gemm_dispatches_to() {
        let set = super::kernel_set();
        assert!(["avx512f", "fma", "neon", "scalar"].contains(&set), "{set}");
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            set == "avx512f",
            std::arch::is_x86_feature_detected!("avx512f")
        );
    }
}
