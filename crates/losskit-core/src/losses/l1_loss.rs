//! `F.l1_loss`: `|x − t|`, gradient `sign(x − t)` (0 at a tie, as PyTorch's `sgn`).

use crate::call::Args;
use crate::pointwise::{self, Math, Pointwise};
use crate::{Real, Result};

#[derive(Clone, Copy)]
pub struct L1;

impl Pointwise for L1 {
    #[inline(always)]
    fn eval<M: Math>(&self, x: M::V, t: M::V) -> (M::V, M::V) {
        let d = x - t;
        (M::abs(d), M::sign(d))
    }
}

/// # Errors
/// See [`pointwise::run`].
pub fn run<T: Real>(a: Args<'_, T>) -> Result<f64> {
    pointwise::run(&L1, a)
}
