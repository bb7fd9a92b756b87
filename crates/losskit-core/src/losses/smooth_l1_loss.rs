//! `F.smooth_l1_loss(beta)`: with `d = x − t`, `0.5·d²/β` where `|d| < β`,
//! else `|d| − 0.5·β`; gradient `d/β` or `sign(d)`. `β = 0` never takes the
//! quadratic branch, so it is exactly L1, gradient included (0 at a tie, as
//! PyTorch ≥ 2.1; 1.13 divided 0 by 0 there).

use crate::call::Args;
use crate::pointwise::{self, Math, Pointwise};
use crate::{Real, Result};

#[derive(Clone, Copy)]
pub struct SmoothL1 {
    pub beta: f64,
}

impl Pointwise for SmoothL1 {
    #[inline(always)]
    fn eval<M: Math>(&self, x: M::V, t: M::V) -> (M::V, M::V) {
        let beta = M::c(self.beta);
        let d = x - t;
        let ad = M::abs(d);
        let quad = ad < beta;
        // A division by β only where the quadratic branch is taken (β > 0 there).
        let b = M::sel(quad, beta, M::c(1.0));
        let l = M::sel(quad, M::c(0.5) * d * d / b, ad - M::c(0.5) * beta);
        let g = M::sel(quad, d / b, M::sign(d));
        (l, g)
    }
}

/// Options: `[beta]` (checked `>= 0` by the TypeScript layer).
///
/// # Errors
/// See [`pointwise::run`].
pub fn run<T: Real>(a: Args<'_, T>) -> Result<f64> {
    let p = SmoothL1 { beta: a.param(0)? };
    pointwise::run(&p, a)
}
