//! `F.mse_loss`: `(x − t)²`, gradient `2(x − t)`.

use crate::call::Args;
use crate::pointwise::{self, Math, Pointwise};
use crate::{Real, Result};

#[derive(Clone, Copy)]
pub struct Mse;

impl Pointwise for Mse {
    #[inline(always)]
    fn eval<M: Math>(&self, x: M::V, t: M::V) -> (M::V, M::V) {
        let d = x - t;
        (d * d, d + d)
    }
}

/// # Errors
/// See [`pointwise::run`].
pub fn run<T: Real>(a: Args<'_, T>) -> Result<f64> {
    pointwise::run(&Mse, a)
}
