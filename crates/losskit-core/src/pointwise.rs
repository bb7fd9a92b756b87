//! The driver of every [`Pointwise`] loss (input and target of one shape, and
//! for a ternary loss a third tensor of that shape): checks, then one parallel
//! pass over fixed chunks that sums the losses and writes the `'none'` output
//! and the gradients.

use crate::call::{Args, GradScale};
use crate::error::{check_len, Error, Result};
use crate::par::map_chunks;
use crate::Real;
use losskit_math::pointwise::{Bufs, Scale};
pub use losskit_math::pointwise::{Math, Pointwise};

/// Runs the pointwise loss `p` over `a` (slot 1: the target, the input's shape).
///
/// # Errors
/// A target of another type or length, outputs that do not fit.
pub fn run<T: Real, P: Pointwise>(p: &P, a: Args<'_, T>) -> Result<f64> {
    let (t, _) = a.float(1, "target")?;
    run_with(p, a, t, None, None)
}

/// The buffers of a call, shared by the chunks (each writes its own range).
#[derive(Clone, Copy)]
struct Shared<T>(Bufs<T>);
// SAFETY: chunks read the inputs and write disjoint ranges of the outputs.
unsafe impl<T> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// The buffers (a method, so closures capture the whole `Send` wrapper).
    fn get(self) -> Bufs<T> {
        self.0
    }
}

/// [`run`] with the target `t` given, and for a ternary loss its third tensor
/// `v` (the input's length) and `gv`, where its gradient goes (required when
/// the input's gradient is).
///
/// # Errors
/// As [`run`]; `v` or `gv` of another length, a gradient without `gv`.
pub fn run_with<T: Real, P: Pointwise>(
    p: &P,
    mut a: Args<'_, T>,
    t: &[T],
    v: Option<&[T]>,
    gv: Option<&mut [T]>,
) -> Result<f64> {
    let numel = a.numel();
    check_len("input", a.x.len(), numel)?;
    check_len("target", t.len(), numel)?;
    if let Some(v) = v {
        check_len("the third tensor", v.len(), numel)?;
    }
    if let Some(g) = &gv {
        check_len("its gradient buffer", g.len(), numel)?;
    }
    if P::TERNARY && (v.is_none() || (a.x.has_grad() && gv.is_none())) {
        return Err(Error::value(
            "a three-tensor loss needs its third tensor and, with a gradient, its buffer",
        ));
    }
    let denom = a.denominator(numel, false)?;
    let out = a.take_out(numel)?;
    let scale = a.grad_scale(denom);
    let x = &a.x;
    let bufs = Shared(Bufs {
        x: x.x_ptr(),
        t: t.as_ptr(),
        v: v.map_or(std::ptr::null(), <[T]>::as_ptr),
        out: out.map_or(std::ptr::null_mut(), |o| o.ptr()),
        grad: if x.has_grad() { x.g_ptr() } else { std::ptr::null_mut() },
        gv: gv.map_or(std::ptr::null_mut(), <[T]>::as_mut_ptr),
    });
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
        unsafe { T::pointwise(p, bufs.get().at(s), e - s, sc) }
    });
    Ok(a.reduction.apply(parts.iter().sum(), denom))
}
