//! Adam, AMSGrad and AdamW (`torch.optim.Adam`, `AdamW`).

use super::state::ParamState;

/// Adam and AdamW (`rule`): bias-corrected moments, optional AMSGrad maximum.
pub fn step(
    param: &mut [f32],
    grad: &[f32],
    state: &mut ParamState,
    (rule, amsgrad): (Rule, bool),
) {
    let (m_i, v_i, max_i) = buffers(state, param.len(), amsgrad);
    // Take the buffers out so the loop runs over plain slices and vectorizes.
    let mut m_buf = std::mem::take(&mut state.buffers[m_i].1);
    let mut v_buf = std::mem::take(&mut state.buffers[v_i].1);
    let mut max_buf = max_i.map(|i| std::mem::take(&mut state.buffers[i].1));
    rule.apply(
        param,
        grad,
        (&mut m_buf, &mut v_buf),
        max_buf.as_deref_mut(),
    );
    state.buffers[m_i].1 = m_buf;
    state.buffers[v_i].1 = v_buf;
    if let (Some(i), Some(buf)) = (max_i, max_buf) {
        state.buffers[i].1 = buf;
    }
}

/// The indices of a parameter's moment buffers (and AMSGrad's maximum), created zeroed.
pub fn buffers(state: &mut ParamState, n: usize, amsgrad: bool) -> (usize, usize, Option<usize>) {
    let m = state.buf("exp_avg", n);
    let v = state.buf("exp_avg_sq", n);
    let max = amsgrad.then(|| state.buf("max_exp_avg_sq", n));
    (m, v, max)
}

/// One step's constants; `apply` updates any run of a parameter's elements (each element on its
/// own, so a parameter updated in pieces is the same bits as updated whole).
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    b1: f32,
    b2: f32,
    step_size: f32,
    bc2_sqrt: f32,
    eps: f32,
    wd: f32,
    lr: f32,
    decoupled: bool,
}

impl Rule {
    pub fn new(
        lr: f64,
        t: u64,
        betas: [f64; 2],
        epsilon: f64,
        weight_decay: f64,
        decoupled: bool,
    ) -> Self {
        // Bias corrections in f64, as PyTorch computes them from Python floats.
        let bc1 = 1.0 - betas[0].powi(t as i32);
        let bc2_sqrt = (1.0 - betas[1].powi(t as i32)).sqrt();
        Self {
            b1: betas[0] as f32,
            b2: betas[1] as f32,
            step_size: (lr / bc1) as f32,
            bc2_sqrt: bc2_sqrt as f32,
            eps: epsilon as f32,
            wd: weight_decay as f32,
            lr: lr as f32,
            decoupled,
        }
    }

    /// Updates `param` and its moments `(m, v)` (and `vmax` with AMSGrad) from `grad`.
    pub fn apply(
        &self,
        param: &mut [f32],
        grad: &[f32],
        (m, v): (&mut [f32], &mut [f32]),
        vmax: Option<&mut [f32]>,
    ) {
        let Self {
            b1,
            b2,
            step_size,
            bc2_sqrt,
            eps,
            wd,
            lr,
            decoupled,
        } = *self;
        let step = |p: &mut f32, g: f32, m: &mut f32, v: &mut f32, vmax: Option<&mut f32>| {
            let mut g = g;
            if decoupled {
                *p *= 1.0 - lr * wd;
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
            .zip(m.iter_mut().zip(v.iter_mut()));
        match vmax {
            Some(maxes) => {
                for (((p, &g), (m, v)), vmax) in it.zip(maxes.iter_mut()) {
                    step(p, g, m, v, Some(vmax));
                }
            }
            None => {
                for ((p, &g), (m, v)) in it {
                    step(p, g, m, v, None);
                }
            }
        }
    }
}
