//! Diagnostics: what went wrong in training, with the evidence, the advice and a remedy.
//! `run_rules` reads one run's epoch history as it grows; `job_rules` merges the runs'
//! findings and compares runs (class imbalance, degradation, fold variance, a final model
//! that did not converge as its folds did: `final_rule`); `remedy` says why
//! each kind matters and which spec change addresses it. Pure: the worker calls it and the
//! store keeps what it returns.

pub mod candidates;
mod draft;
pub mod final_rule;
pub mod gradient_rules;
pub mod job_rules;
pub mod remedy;
pub mod rule;
pub mod run_rules;

/// The mean training loss of predicting class frequencies: `-Σ w_c n_c ln p_c / Σ w_c n_c`
/// with `p_c ∝ w_c n_c` (the best constant prediction under class weights `w`), which a model
/// that learned nothing from the features reaches.
pub fn chance_loss(counts: &[u64], weights: &[f64]) -> Option<f64> {
    let mass: Vec<f64> = counts
        .iter()
        .enumerate()
        .map(|(c, &n)| n as f64 * weights.get(c).copied().unwrap_or(1.0))
        .collect();
    let total: f64 = mass.iter().sum();
    if total.is_nan() || total <= 0.0 {
        return None;
    }
    Some(
        -mass
            .iter()
            .filter(|&&m| m > 0.0)
            .map(|&m| m / total * (m / total).ln())
            .sum::<f64>(),
    )
}

#[cfg(test)]
mod tests;
