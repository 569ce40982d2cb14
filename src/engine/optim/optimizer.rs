//! The optimizer: its spec and step count, dispatching each parameter's update to its family's
//! rule. All follow `torch.optim`'s documented update rules; dfdx's kernels lack SGD dampening
//! and AMSGrad, so the rules live here, pinned to PyTorch's values by tests.

use super::state::ParamState;
use super::{adam, adaptive, pieces, sgd};
use crate::domain::spec::OptimizerSpec;
use crate::engine::model::param::Param;

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

    /// Updates every parameter not `frozen` from its gradient with learning rate `lr`: Adam's
    /// and AdamW's in pieces when the run has more than one core (the same bits), the others
    /// one parameter after another.
    pub fn update_all(
        &self,
        lr: f64,
        params: &mut [Param],
        grads: &[Vec<f32>],
        states: &mut [ParamState],
        frozen: &[bool],
    ) {
        match self.adam_rule(lr) {
            Some(rule) if crate::engine::cores::current_width() > 1 => {
                pieces::adam(rule, params, grads, states, frozen)
            }
            _ => {
                let each = params.iter_mut().zip(grads).zip(states.iter_mut());
                for (((p, g), s), &frozen) in each.zip(frozen) {
                    if !frozen {
                        self.update(lr, &mut p.data, g, s);
                    }
                }
            }
        }
    }

    /// Adam's or AdamW's constants for this step (and whether AMSGrad), or `None`.
    fn adam_rule(&self, lr: f64) -> Option<(adam::Rule, bool)> {
        match self.spec {
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
                let t = self.step.max(1);
                let rule = adam::Rule::new(lr, t, [beta1, beta2], epsilon, weight_decay, decoupled);
                Some((rule, amsgrad))
            }
            _ => None,
        }
    }

    /// Updates one parameter from its gradient with learning rate `lr`.
    pub fn update(&self, lr: f64, param: &mut [f32], grad: &[f32], state: &mut ParamState) {
        let t = self.step.max(1);
        let lr32 = lr as f32;
        match self.spec {
            OptimizerSpec::Sgd {
                momentum,
                dampening,
                nesterov,
                weight_decay,
                ..
            } => sgd::step(
                param,
                grad,
                state,
                lr32,
                t,
                momentum,
                dampening,
                nesterov,
                weight_decay,
            ),
            OptimizerSpec::Adagrad {
                epsilon,
                weight_decay,
                ..
            } => adaptive::adagrad(param, grad, state, lr32, epsilon, weight_decay),
            OptimizerSpec::Adadelta {
                rho,
                epsilon,
                weight_decay,
                ..
            } => adaptive::adadelta(param, grad, state, lr32, rho, epsilon, weight_decay),
            OptimizerSpec::Rmsprop {
                alpha,
                epsilon,
                momentum,
                centered,
                weight_decay,
                ..
            } => adaptive::rmsprop(
                param,
                grad,
                state,
                lr32,
                alpha,
                epsilon,
                momentum,
                centered,
                weight_decay,
            ),
            OptimizerSpec::Adam { .. } | OptimizerSpec::Adamw { .. } => {
                if let Some(rule) = self.adam_rule(lr) {
                    adam::step(param, grad, state, rule);
                }
            }
        }
    }
}
