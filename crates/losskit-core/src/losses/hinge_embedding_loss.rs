//! `F.hinge_embedding_loss(input, target, margin)`, as PyTorch computes it:
//! `where(y ≠ 1, max(margin − x, 0), 0) + where(y ≠ −1, x, 0)` — a target of
//! neither ±1 gets both terms.

use crate::call::Args;
use crate::pointwise::{self, Math, Pointwise};
use crate::{Real, Result};

#[derive(Clone, Copy)]
struct HingeEmbedding {
    margin: f64,
}

impl Pointwise for HingeEmbedding {
    #[inline(always)]
    fn eval<M: Math>(&self, x: M::V, y: M::V) -> (M::V, M::V) {
        let (zero, one) = (M::c(0.0), M::c(1.0));
        let z = M::c(self.margin) - x;
        let not_pos = y != one;
        let not_neg = y != -one;
        // clamp_min keeps NaN; its gradient flows where z >= 0.
        let hinge = M::sel(z < zero, zero, z);
        let l = M::sel(not_pos, hinge, zero) + M::sel(not_neg, x, zero);
        let g = M::sel(not_pos & (z >= zero), -one, zero) + M::sel(not_neg, one, zero);
        (l, g)
    }
}

/// Options: `[margin]`.
///
/// # Errors
/// See [`pointwise::run`].
pub fn run<T: Real>(a: Args<'_, T>) -> Result<f64> {
    let p = HingeEmbedding { margin: a.param(0)? };
    pointwise::run(&p, a)
}
