//! Gradient clipping, as `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_`.

/// The L2 norm of all gradients together.
pub fn global_norm(grads: &[Vec<f32>]) -> f64 {
    grads
        .iter()
        .flat_map(|g| g.iter())
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt()
}

/// Scales all gradients so their global norm is at most `max_norm` (PyTorch's 1e-6 guard);
/// returns the norm before clipping.
pub fn clip_by_norm(grads: &mut [Vec<f32>], max_norm: f64) -> f64 {
    let total = global_norm(grads);
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        for g in grads.iter_mut() {
            for v in g.iter_mut() {
                *v = (f64::from(*v) * coef) as f32;
            }
        }
    }
    total
}

/// Clamps every gradient element to `[-clip, clip]`.
pub fn clip_by_value(grads: &mut [Vec<f32>], clip: f64) {
    let c = clip as f32;
    for g in grads.iter_mut() {
        for v in g.iter_mut() {
            *v = v.clamp(-c, c);
        }
    }
}
