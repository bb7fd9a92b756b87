//! `F.margin_ranking_loss(input1, input2, target, margin)`:
//! `max(0, −y·(x1 − x2) + margin)`; gradients `∓y` where the hinge is open
//! (PyTorch's `clamp_min` passes the gradient where its input is `>= 0`).

use crate::call::Args;
use crate::pointwise::{self, Math, Pointwise};
use crate::{Real, Result};

/// Evaluated as a ternary pointwise loss over `(x1, y, x2)`: `d/dx1` and `d/dx2`.
#[derive(Clone, Copy)]
struct MarginRanking {
    margin: f64,
}

impl Pointwise for MarginRanking {
    const TERNARY: bool = true;
    #[inline(always)]
    fn eval<M: Math>(&self, _x: M::V, _t: M::V) -> (M::V, M::V) {
        unreachable!("a ternary loss is evaluated by eval3")
    }
    #[inline(always)]
    fn eval3<M: Math>(&self, x1: M::V, y: M::V, x2: M::V) -> (M::V, M::V, M::V) {
        let zero = M::c(0.0);
        let z = -y * (x1 - x2) + M::c(self.margin);
        // clamp_min keeps NaN; its gradient flows where z >= 0.
        // As autograd: the target times the clamp's 0/1 factor (so a NaN
        // target gives NaN gradients even where the hinge is closed).
        let open = M::sel(z >= zero, M::c(1.0), zero);
        (M::sel(z < zero, zero, z), -y * open, y * open)
    }
}

/// Slots: 0 `input1`, 1 `input2` (with a gradient), 2 `target`. Options: `[margin]`.
///
/// # Errors
/// See [`pointwise::run_with`].
pub fn run<T: Real>(mut a: Args<'_, T>) -> Result<f64> {
    let (x2, _) = a.float(1, "input2")?;
    let (y, _) = a.float(2, "target")?;
    let g2 = a.grads[0].take();
    let p = MarginRanking { margin: a.param(0)? };
    pointwise::run_with(&p, a, y, Some(x2), g2)
}
