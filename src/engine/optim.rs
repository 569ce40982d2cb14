//! Optimizers on flat f32 parameter slices, following `torch.optim`'s documented update rules
//! (SGD with momentum/dampening/Nesterov, Adagrad, Adadelta, RMSprop, Adam/AMSGrad, AdamW).
//! dfdx's kernels lack SGD dampening and AMSGrad, so all live here, one rule set, pinned to
//! PyTorch's values by tests.

use crate::domain::spec::OptimizerSpec;

/// One parameter's optimizer state buffers (zeroed at start, as PyTorch's).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamState {
    /// Named buffers: momentum, squares, …; their names go into checkpoints.
    pub buffers: Vec<(&'static str, Vec<f32>)>,
}

impl ParamState {
    fn buf(&mut self, name: &'static str, len: usize) -> usize {
        match self.buffers.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                self.buffers.push((name, vec![0.0; len]));
                self.buffers.len() - 1
            }
        }
    }
}

/// An optimizer: its spec and the number of steps taken (PyTorch's `step`, from 1).
#[derive(Debug, Clone)]
pub struct Optimizer {
    pub spec: OptimizerSpec,
    pub step: u64,
}

impl Optimizer {
    pub fn new(spec: OptimizerSpec) -> Self {
        Self { spec, step: 0 }
    }

    /// Counts a step; call once per batch, before `update` on each parameter.
    pub fn begin_step(&mut self) {
        self.step += 1;
    }

    /// Updates one parameter from its gradient with learning rate `lr`.
    pub fn update(&self, lr: f64, param: &mut [f32], grad: &[f32], state: &mut ParamState) {
        let t = self.step.max(1);
        let n = param.len();
        let lr32 = lr as f32;
        match self.spec {
            OptimizerSpec::Sgd {
                momentum,
                dampening,
                nesterov,
                weight_decay,
                ..
            } => {
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
            OptimizerSpec::Adagrad {
                epsilon,
                weight_decay,
                ..
            } => {
                let (eps, wd) = (epsilon as f32, weight_decay as f32);
                let s = state.buf("sum", n);
                let sum = &mut state.buffers[s].1;
                for ((p, &g), s) in param.iter_mut().zip(grad).zip(sum.iter_mut()) {
                    let g = g + wd * *p;
                    *s += g * g;
                    *p -= lr32 * g / (s.sqrt() + eps);
                }
            }
            OptimizerSpec::Adadelta {
                rho,
                epsilon,
                weight_decay,
                ..
            } => {
                let (rho, eps, wd) = (rho as f32, epsilon as f32, weight_decay as f32);
                let sq = state.buf("square_avg", n);
                let ac = state.buf("acc_delta", n);
                let (a, b) = two(&mut state.buffers, sq, ac);
                for (((p, &g), v), u) in param
                    .iter_mut()
                    .zip(grad)
                    .zip(a.iter_mut())
                    .zip(b.iter_mut())
                {
                    let g = g + wd * *p;
                    *v = rho * *v + (1.0 - rho) * g * g;
                    let delta = (*u + eps).sqrt() / (*v + eps).sqrt() * g;
                    *u = rho * *u + (1.0 - rho) * delta * delta;
                    *p -= lr32 * delta;
                }
            }
            OptimizerSpec::Rmsprop {
                alpha,
                epsilon,
                momentum,
                centered,
                weight_decay,
                ..
            } => {
                let (alpha, eps, mu, wd) = (
                    alpha as f32,
                    epsilon as f32,
                    momentum as f32,
                    weight_decay as f32,
                );
                let sq = state.buf("square_avg", n);
                let ga = if centered {
                    Some(state.buf("grad_avg", n))
                } else {
                    None
                };
                let mb = if mu > 0.0 {
                    Some(state.buf("momentum_buffer", n))
                } else {
                    None
                };
                for i in 0..n {
                    let g = grad[i] + wd * param[i];
                    let v = &mut state.buffers[sq].1[i];
                    *v = alpha * *v + (1.0 - alpha) * g * g;
                    let mut avg = *v;
                    if let Some(ga) = ga {
                        let m = &mut state.buffers[ga].1[i];
                        *m = alpha * *m + (1.0 - alpha) * g;
                        avg -= *m * *m;
                    }
                    let step = g / (avg.sqrt() + eps);
                    match mb {
                        Some(mb) => {
                            let b = &mut state.buffers[mb].1[i];
                            *b = mu * *b + step;
                            param[i] -= lr32 * *b;
                        }
                        None => param[i] -= lr32 * step,
                    }
                }
            }
            OptimizerSpec::Adam {
                beta1,
                beta2,
                epsilon,
                weight_decay,
                amsgrad,
                ..
            }
            | OptimizerSpec::Adamw {
                beta1,
                beta2,
                epsilon,
                weight_decay,
                amsgrad,
                ..
            } => {
                // AdamW decouples the weight decay from the gradient; Adam adds it (L2).
                let decoupled = matches!(self.spec, OptimizerSpec::Adamw { .. });
                let betas = [beta1, beta2];
                adam(
                    param,
                    grad,
                    state,
                    lr,
                    t,
                    betas,
                    epsilon,
                    weight_decay,
                    decoupled,
                    amsgrad,
                )
            }
        }
    }
}

/// Adam and AdamW (`decoupled`): bias-corrected moments, optional AMSGrad maximum.
#[allow(clippy::too_many_arguments)]
fn adam(
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

/// Two distinct buffers mutably at once.
fn two<'a>(
    buffers: &'a mut [(&'static str, Vec<f32>)],
    a: usize,
    b: usize,
) -> (&'a mut Vec<f32>, &'a mut Vec<f32>) {
    assert_ne!(a, b);
    if a < b {
        let (lo, hi) = buffers.split_at_mut(b);
        (&mut lo[a].1, &mut hi[0].1)
    } else {
        let (lo, hi) = buffers.split_at_mut(a);
        (&mut hi[0].1, &mut lo[b].1)
    }
}
