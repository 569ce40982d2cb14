//! L1 and L2 penalties on the weights (not biases or batch-norm parameters), added to the
//! gradients.

use std::sync::Mutex;

use crate::engine::cores::for_each_tile;
use crate::engine::model::param::Param;

/// L1 (subgradient `l1·sign(w)`) and L2 (`l2·w`) on penalized parameters (weights).
pub fn add_penalties(params: &[Param], grads: &mut [Vec<f32>], l1: f64, l2: f64) {
    if l1 == 0.0 && l2 == 0.0 {
        return;
    }
    let (l1, l2) = (l1 as f32, l2 as f32);
    // One parameter a tile, on the run's cores (each element on its own: the same bits).
    let penalized: Vec<_> = params
        .iter()
        .zip(grads.iter_mut())
        .filter(|(p, _)| p.penalized)
        .map(|(p, g)| Mutex::new((p, g)))
        .collect();
    for_each_tile(penalized.len(), &|i| {
        let mut pair = penalized[i].lock().unwrap_or_else(|e| e.into_inner());
        let (p, g) = &mut *pair;
        for (gv, &w) in g.iter_mut().zip(&p.data) {
            let sign = if w > 0.0 {
                1.0
            } else if w < 0.0 {
                -1.0
            } else {
                0.0
            };
            *gv += l1 * sign + l2 * w;
        }
    });
}
