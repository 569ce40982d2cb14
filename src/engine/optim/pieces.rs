//! A step's update of every parameter in pieces the run's cores share (`engine::cores`): each
//! parameter cut into runs of `PIECE` elements, taken as tiles. The rules update each element
//! on its own, so a parameter updated in pieces is the same bits as updated whole, at any width.

use std::ptr::null_mut;

use super::adam::{self, Rule};
use super::state::ParamState;
use crate::engine::cores::for_each_tile;
use crate::engine::model::param::Param;

/// Elements a tile updates.
const PIECE: usize = 1 << 14;

/// A run of one parameter's elements, with the same run of its gradient and buffers.
struct Piece {
    param: *mut f32,
    grad: *const f32,
    m: *mut f32,
    v: *mut f32,
    /// AMSGrad's maximum, or null.
    vmax: *mut f32,
    len: usize,
}

/// The pieces, shared by the threads that take them.
struct Pieces(Vec<Piece>);
// SAFETY: each piece points into a distinct run of elements of slices borrowed mutably (the
// gradient shared) for as long as `adam` runs, and each is taken by one thread only.
unsafe impl Sync for Pieces {}

impl Pieces {
    // Through a method, so a closure captures the whole `Pieces` (which is `Sync`), not its Vec.
    fn get(&self, t: usize) -> &Piece {
        &self.0[t]
    }
}

/// Adam's or AdamW's update (`rule`) of every parameter not `frozen`, in pieces.
pub fn adam(
    (rule, amsgrad): (Rule, bool),
    params: &mut [Param],
    grads: &[Vec<f32>],
    states: &mut [ParamState],
    frozen: &[bool],
) {
    let mut pieces = Vec::new();
    let each = params.iter_mut().zip(grads).zip(states.iter_mut());
    for (((p, g), s), &frozen) in each.zip(frozen) {
        if frozen {
            continue;
        }
        let n = p.data.len();
        assert_eq!(g.len(), n, "a gradient per element");
        // Every buffer first: taking their pointers after would be undone by a reallocation.
        let (m, v, max) = adam::buffers(s, n, amsgrad);
        let (m, v) = (s.buffers[m].1.as_mut_ptr(), s.buffers[v].1.as_mut_ptr());
        let vmax = max.map_or(null_mut(), |i| s.buffers[i].1.as_mut_ptr());
        for start in (0..n).step_by(PIECE) {
            // SAFETY: `start < n`, and every slice holds `n` elements.
            pieces.push(unsafe {
                Piece {
                    param: p.data.as_mut_ptr().add(start),
                    grad: g.as_ptr().add(start),
                    m: m.add(start),
                    v: v.add(start),
                    vmax: if vmax.is_null() {
                        vmax
                    } else {
                        vmax.add(start)
                    },
                    len: PIECE.min(n - start),
                }
            });
        }
    }
    let pieces = Pieces(pieces);
    for_each_tile(pieces.0.len(), &|t| {
        let p = pieces.get(t);
        // SAFETY: see `Pieces`; `len` elements follow each pointer.
        unsafe {
            let vmax = (!p.vmax.is_null()).then(|| std::slice::from_raw_parts_mut(p.vmax, p.len));
            rule.apply(
                std::slice::from_raw_parts_mut(p.param, p.len),
                std::slice::from_raw_parts(p.grad, p.len),
                (
                    std::slice::from_raw_parts_mut(p.m, p.len),
                    std::slice::from_raw_parts_mut(p.v, p.len),
                ),
                vmax,
            );
        }
    });
}
