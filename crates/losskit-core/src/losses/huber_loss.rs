//! `F.huber_loss(delta)`: with `d = x − t`, `0.5·d²` where `|d| < δ`, else
//! `δ·(|d| − 0.5·δ)`; gradient `d` clamped to `[−δ, δ]` (NaN propagates).
//! Huber(δ) = δ·SmoothL1(β = δ).

use crate::call::Args;
use crate::pointwise::{self, Math, Pointwise};
use crate::{Real, Result};

#[derive(Clone, Copy)]
pub struct Huber {
    pub delta: f64,
}

impl Pointwise for Huber {
    #[inline(always)]
    fn eval<M: Math>(&self, x: M::V, t: M::V) -> (M::V, M::V) {
        let delta = M::c(self.delta);
        let d = x - t;
        let ad = M::abs(d);
        let l = M::sel(ad < delta, M::c(0.5) * d * d, delta * (ad - M::c(0.5) * delta));
        let g = M::sel(d < -delta, -delta, M::sel(d > delta, delta, d));
        (l, g)
    }
}

/// Options: `[delta]` (checked `> 0` by the TypeScript layer).
///
/// # Errors
/// See [`pointwise::run`].
pub fn run<T: Real>(a: Args<'_, T>) -> Result<f64> {
    let p = Huber { delta: a.param(0)? };
    pointwise::run(&p, a)
}
