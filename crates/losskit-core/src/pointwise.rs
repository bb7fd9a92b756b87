//! The driver of every [`Pointwise`] loss (input and target of one shape):
//! checks, then one parallel pass over fixed chunks that sums the losses and
//! writes the `'none'` output and the gradient.

use crate::call::{Args, GradScale};
use crate::error::{check_len, Result};
use crate::par::map_chunks;
use crate::Real;
use losskit_math::pointwise::Scale;
pub use losskit_math::pointwise::{Math, Pointwise};

/// Runs the pointwise loss `p` over `a` (slot 1: the target, the input's shape).
///
/// # Errors
/// A target of another type or length, outputs that do not fit.
pub fn run<T: Real, P: Pointwise>(p: &P, mut a: Args<'_, T>) -> Result<f64> {
    let (t, _) = a.float(1, "target")?;
    let numel = a.numel();
    check_len("input", a.x.len(), numel)?;
    check_len("target", t.len(), numel)?;
    let denom = a.denominator(numel, false)?;
    let out = a.take_out(numel)?;
    let scale = a.grad_scale(denom);
    let x = &a.x;
    let parts = map_chunks(numel, 1, |s, e| {
        let sc = if !x.has_grad() {
            Scale::None
        } else {
            match scale {
                GradScale::Uniform(g) => Scale::Uniform(T::from_f64(g)),
                // SAFETY: the length was checked against numel (take_out).
                GradScale::PerElement(v) => Scale::PerElement(unsafe { v.as_ptr().add(s) }),
            }
        };
        // SAFETY: s..e is within every buffer (lengths checked above); chunks
        // are disjoint; an in-place gradient reads each element before writing it.
        unsafe {
            let o = out.map_or(std::ptr::null_mut(), |o| o.ptr().add(s));
            let g = if x.has_grad() { x.g_ptr().add(s) } else { std::ptr::null_mut() };
            T::pointwise(p, x.x_ptr().add(s), t.as_ptr().add(s), e - s, o, g, sc)
        }
    });
    Ok(a.reduction.apply(parts.iter().sum(), denom))
}
