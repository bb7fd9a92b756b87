//! `F.soft_margin_loss(input, target)`: `ln(1 + e^(−y·x))` as PyTorch computes
//! it (not in a stable form: `−y·x` above ~88 in float32 gives `inf`), gradient
//! `−y·e/(1 + e)` with `e = e^(−y·x)`.

use crate::call::Args;
use crate::pointwise::{self, Math, Pointwise};
use crate::{Real, Result};

#[derive(Clone, Copy)]
struct SoftMargin;

impl Pointwise for SoftMargin {
    #[inline(always)]
    fn eval<M: Math>(&self, x: M::V, y: M::V) -> (M::V, M::V) {
        let e = M::exp(-(x * y));
        (M::ln_1p(e), -y * e / (M::c(1.0) + e))
    }
}

/// # Errors
/// See [`pointwise::run`].
pub fn run<T: Real>(a: Args<'_, T>) -> Result<f64> {
    pointwise::run(&SoftMargin, a)
}
