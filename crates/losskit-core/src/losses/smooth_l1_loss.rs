//! `F.smooth_l1_loss(beta)`: with `d = x − t`, `0.5·d²/β` where `|d| < β`,
//! else `|d| − 0.5·β`; gradient `d/β` clamped to `[−1, 1]`. `β = 0` is L1.

use crate::call::Args;
use crate::losses::l1_loss::L1;
use crate::pointwise::{self, Math, Pointwise};
use crate::{Real, Result};

#[derive(Clone, Copy)]
pub struct SmoothL1 {
    pub beta: f64,
}

impl Pointwise for SmoothL1 {
    /// For `β > 0` (`β = 0` runs [`L1`]), PyTorch's branches exactly: the
    /// loss from `|d|`, the gradient `−1`, `1` or `d/β` (NaN where `d` is).
    #[inline(always)]
    fn eval<M: Math>(&self, x: M::V, t: M::V) -> (M::V, M::V) {
        let beta = M::c(self.beta);
        let d = x - t;
        let ad = M::abs(d);
        let l = M::sel(ad < beta, M::c(0.5) * d * d / beta, ad - M::c(0.5) * beta);
        let g = M::sel(d < -beta, M::c(-1.0), M::sel(d > beta, M::c(1.0), d / beta));
        (l, g)
    }
}

/// Options: `[beta]` (checked `>= 0` by the TypeScript layer). `β = 0` is
/// exactly L1, gradient included (0 at a tie and where `d` is NaN, as
/// PyTorch ≥ 2.1, which routes it to `l1_loss`; 1.13 divided by 0 there).
///
/// # Errors
/// See [`pointwise::run`].
pub fn run<T: Real>(a: Args<'_, T>) -> Result<f64> {
    let beta = a.param(0)?;
    if beta == 0.0 {
        return pointwise::run(&L1, a);
    }
    pointwise::run(&SmoothL1 { beta }, a)
}
