//! The per-parameter adaptive rates before Adam: Adagrad, Adadelta and RMSprop
//! (`torch.optim.Adagrad`, `Adadelta`, `RMSprop`).

use super::state::{ParamState, two};

pub fn adagrad(
    param: &mut [f32],
    grad: &[f32],
    state: &mut ParamState,
    lr32: f32,
    epsilon: f64,
    weight_decay: f64,
) {
    let n = param.len();
    let (eps, wd) = (epsilon as f32, weight_decay as f32);
    let s = state.buf("sum", n);
    let sum = &mut state.buffers[s].1;
    for ((p, &g), s) in param.iter_mut().zip(grad).zip(sum.iter_mut()) {
        let g = g + wd * *p;
        *s += g * g;
        *p -= lr32 * g / (s.sqrt() + eps);
    }
}

pub fn adadelta(
    param: &mut [f32],
    grad: &[f32],
    state: &mut ParamState,
    lr32: f32,
    rho: f64,
    epsilon: f64,
    weight_decay: f64,
) {
    let n = param.len();
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

#[allow(clippy::too_many_arguments)]
pub fn rmsprop(
    param: &mut [f32],
    grad: &[f32],
    state: &mut ParamState,
    lr32: f32,
    alpha: f64,
    epsilon: f64,
    momentum: f64,
    centered: bool,
    weight_decay: f64,
) {
    let n = param.len();
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
