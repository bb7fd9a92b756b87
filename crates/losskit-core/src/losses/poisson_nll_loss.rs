//! `F.poisson_nll_loss(input, target, log_input, full, eps)`:
//! `e^x − t·x` (gradient `e^x − t`) with `log_input`, else
//! `x − t·ln(x + eps)` (gradient `1 − t/(x + eps)`); `full` adds Stirling's
//! `t·ln t − t + ½·ln(2πt)` where `t > 1` (it does not depend on `x`).

use crate::call::Args;
use crate::pointwise::{self, Math, Pointwise};
use crate::{Real, Result};

#[derive(Clone, Copy)]
pub struct PoissonNll {
    pub log_input: bool,
    pub full: bool,
    pub eps: f64,
}

impl Pointwise for PoissonNll {
    #[inline(always)]
    fn eval<M: Math>(&self, x: M::V, t: M::V) -> (M::V, M::V) {
        let (l, g) = if self.log_input {
            let e = M::exp(x);
            (e - t * x, e - t)
        } else {
            let xe = x + M::c(self.eps);
            (x - t * M::ln(xe), M::c(1.0) - t / xe)
        };
        if self.full {
            // PyTorch masks where t <= 1, so a NaN target keeps its NaN term.
            let s = t * M::ln(t) - t + M::c(0.5) * M::ln(M::c(2.0 * std::f64::consts::PI) * t);
            (l + M::sel(t <= M::c(1.0), M::c(0.0), s), g)
        } else {
            (l, g)
        }
    }
}

/// Options: `[logInput, full, eps]`.
///
/// # Errors
/// See [`pointwise::run`].
pub fn run<T: Real>(a: Args<'_, T>) -> Result<f64> {
    let p = PoissonNll { log_input: a.flag(0)?, full: a.flag(1)?, eps: a.param(2)? };
    // One monomorphic kernel per flag pair keeps the branches out of the lane loop.
    match (p.log_input, p.full) {
        (true, false) => pointwise::run(&Fixed::<true, false>(p), a),
        (true, true) => pointwise::run(&Fixed::<true, true>(p), a),
        (false, false) => pointwise::run(&Fixed::<false, false>(p), a),
        (false, true) => pointwise::run(&Fixed::<false, true>(p), a),
    }
}

/// [`PoissonNll`] with its flags fixed at compile time.
#[derive(Clone, Copy)]
struct Fixed<const LOG: bool, const FULL: bool>(PoissonNll);

impl<const LOG: bool, const FULL: bool> Pointwise for Fixed<LOG, FULL> {
    #[inline(always)]
    fn eval<M: Math>(&self, x: M::V, t: M::V) -> (M::V, M::V) {
        PoissonNll { log_input: LOG, full: FULL, eps: self.0.eps }.eval::<M>(x, t)
    }
}
