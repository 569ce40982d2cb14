//! Adam, AMSGrad and AdamW (`torch.optim.Adam`, `AdamW`).

use super::state::ParamState;

/// Adam and AdamW (`decoupled`): bias-corrected moments, optional AMSGrad maximum.
#[allow(clippy::too_many_arguments)]
pub fn step(
    param: &mut [f32],
    grad: &[f32],
    state: &mut ParamState,
    lr: f64,
    t: u64,
    betas: [f64; 2],
    epsilon: f64,
    weight_decay: f64,
    decoupled: bool,
    amsgrad: bool,
) {
    let n = param.len();
    let m_i = state.buf("exp_avg", n);
    let v_i = state.buf("exp_avg_sq", n);
    let max_i = if amsgrad {
        Some(state.buf("max_exp_avg_sq", n))
    } else {
        None
    };
    let (b1, b2) = (betas[0] as f32, betas[1] as f32);
    // Bias corrections in f64, as PyTorch computes them from Python floats.
    let bc1 = 1.0 - betas[0].powi(t as i32);
    let bc2_sqrt = (1.0 - betas[1].powi(t as i32)).sqrt();
    let step_size = (lr / bc1) as f32;
    let (eps, wd, lr32) = (epsilon as f32, weight_decay as f32, lr as f32);
    let bc2_sqrt = bc2_sqrt as f32;
    // Take the buffers out so the loop runs over plain slices and vectorizes.
    let mut m_buf = std::mem::take(&mut state.buffers[m_i].1);
    let mut v_buf = std::mem::take(&mut state.buffers[v_i].1);
    let mut max_buf = max_i.map(|i| std::mem::take(&mut state.buffers[i].1));
    let mut no_max = Vec::new();
    let maxes = max_buf.as_mut().unwrap_or(&mut no_max);
    let step = |p: &mut f32, g: f32, m: &mut f32, v: &mut f32, vmax: Option<&mut f32>| {
        let mut g = g;
        if decoupled {
            *p *= 1.0 - lr32 * wd;
        } else {
            g += wd * *p;
        }
        *m = b1 * *m + (1.0 - b1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        let v_used = match vmax {
            Some(vmax) => {
                *vmax = vmax.max(*v);
                *vmax
            }
            None => *v,
        };
        *p -= step_size * *m / (v_used.sqrt() / bc2_sqrt + eps);
    };
    let it = param
        .iter_mut()
        .zip(grad)
        .zip(m_buf.iter_mut().zip(v_buf.iter_mut()));
    if amsgrad {
        for (((p, &g), (m, v)), vmax) in it.zip(maxes.iter_mut()) {
            step(p, g, m, v, Some(vmax));
        }
    } else {
        for ((p, &g), (m, v)) in it {
            step(p, g, m, v, None);
        }
    }
    state.buffers[m_i].1 = m_buf;
    state.buffers[v_i].1 = v_buf;
    if let (Some(i), Some(buf)) = (max_i, max_buf) {
        state.buffers[i].1 = buf;
    }
    debug_assert_eq!(state.buffers[m_i].1.len(), n);
}
