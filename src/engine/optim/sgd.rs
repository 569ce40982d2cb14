//! SGD with momentum, dampening and Nesterov (`torch.optim.SGD`).

use super::state::ParamState;

/// One step; `t` is the step number (from 1).
#[allow(clippy::too_many_arguments)]
pub fn step(
    param: &mut [f32],
    grad: &[f32],
    state: &mut ParamState,
    lr32: f32,
    t: u64,
    momentum: f64,
    dampening: f64,
    nesterov: bool,
    weight_decay: f64,
) {
    let n = param.len();
    let (mu, damp, wd) = (momentum as f32, dampening as f32, weight_decay as f32);
    if mu == 0.0 {
        for (p, &g) in param.iter_mut().zip(grad) {
            *p -= lr32 * (g + wd * *p);
        }
        return;
    }
    let b = state.buf("momentum_buffer", n);
    let buf = &mut state.buffers[b].1;
    for ((p, &g), v) in param.iter_mut().zip(grad).zip(buf.iter_mut()) {
        let g = g + wd * *p;
        *v = if t == 1 {
            g
        } else {
            mu * *v + (1.0 - damp) * g
        };
        let d = if nesterov { g + mu * *v } else { *v };
        *p -= lr32 * d;
    }
}
