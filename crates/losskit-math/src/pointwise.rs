//! Pointwise losses written once, run as SIMD float32 and as float64.
//!
//! A loss of one element, `(x, t) -> (loss, d loss / d x)`, implements
//! [`Pointwise`] over an abstract [`Math`]: the same source is instantiated
//! with [`Lane`] (float32, this crate's `exp`/`ln`, compiled per ISA by
//! [`crate::simd::run`]) and with [`F64`] (float64, `std`). [`pointwise`] is
//! the one loop over memory: loss, optional `'none'` output, optional gradient
//! (scaled by one number or by a per-element upstream gradient), and the sum
//! in fixed blocks (deterministic whatever the thread count).

use crate::lanes::{self, BLOCK};
use std::ops::{Add, Div, Mul, Neg, Sub};

/// The arithmetic a pointwise loss is written in.
pub trait Math: Copy {
    /// The element type.
    type V: Copy
        + PartialOrd
        + Add<Output = Self::V>
        + Sub<Output = Self::V>
        + Mul<Output = Self::V>
        + Div<Output = Self::V>
        + Neg<Output = Self::V>;
    /// A constant (or a loss parameter) in the element type.
    fn c(v: f64) -> Self::V;
    /// Widens for the sums.
    fn wide(v: Self::V) -> f64;
    /// `e^x`.
    fn exp(x: Self::V) -> Self::V;
    /// `ln x` (`-inf` at 0, NaN below).
    fn ln(x: Self::V) -> Self::V;
    /// `if c { a } else { b }`, branch-free in lane loops.
    #[inline(always)]
    fn sel(c: bool, a: Self::V, b: Self::V) -> Self::V {
        if c {
            a
        } else {
            b
        }
    }
    /// `|x|`.
    #[inline(always)]
    fn abs(x: Self::V) -> Self::V {
        Self::sel(x < Self::c(0.0), -x, x)
    }
    /// `sign(x)`: 1, -1, or 0 at ±0 and NaN (PyTorch's `sign`: `(0 < x) - (x < 0)`).
    #[inline(always)]
    fn sign(x: Self::V) -> Self::V {
        Self::sel(x > Self::c(0.0), Self::c(1.0), Self::sel(x < Self::c(0.0), Self::c(-1.0), Self::c(0.0)))
    }
}

/// Float32 lanes with this crate's `exp` and `ln` (2 ULP); `FMA` as the ISA has it.
#[derive(Clone, Copy)]
pub struct Lane<const FMA: bool>;

impl<const FMA: bool> Math for Lane<FMA> {
    type V = f32;
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)]
    fn c(v: f64) -> f32 {
        v as f32
    }
    #[inline(always)]
    fn wide(v: f32) -> f64 {
        f64::from(v)
    }
    #[inline(always)]
    fn exp(x: f32) -> f32 {
        lanes::exp::<FMA>(x)
    }
    #[inline(always)]
    fn ln(x: f32) -> f32 {
        lanes::ln::<FMA>(x)
    }
}

/// Float64 with `std`'s `exp` and `ln`.
#[derive(Clone, Copy)]
pub struct F64;

impl Math for F64 {
    type V = f64;
    #[inline(always)]
    fn c(v: f64) -> f64 {
        v
    }
    #[inline(always)]
    fn wide(v: f64) -> f64 {
        v
    }
    #[inline(always)]
    fn exp(x: f64) -> f64 {
        x.exp()
    }
    #[inline(always)]
    fn ln(x: f64) -> f64 {
        x.ln()
    }
}

/// One element of a loss: `(x, t) -> (loss, d loss / d x)`, before reduction
/// and upstream scaling. Implementations are `#[inline(always)]` so that the
/// lane loop of [`pointwise`] vectorises around them.
pub trait Pointwise: Copy + Send + Sync {
    fn eval<M: Math>(&self, x: M::V, t: M::V) -> (M::V, M::V);
}

/// Where the gradient's upstream factor comes from.
#[derive(Clone, Copy)]
pub enum Scale<V> {
    /// No gradient wanted.
    None,
    /// One factor for every element (`gradOutput / denominator`).
    Uniform(V),
    /// One factor per element (`'none'` with a tensor `gradOutput`).
    PerElement(*const V),
}

/// Runs `p` over `n` elements: returns the sum of the losses (lane sums over
/// blocks of [`BLOCK`] elements, added into an `f64` block by block), writes
/// each loss to `out` and the scaled gradient to `grad` when they are not null.
///
/// # Safety
/// `x`, `t` valid for `n` reads; `out`, `grad` (if not null) and a per-element
/// scale for `n` writes / reads; `grad` may equal `x` (each element is read
/// before it is written), no other output overlaps an input.
#[inline(always)]
#[allow(clippy::many_single_char_names)]
pub unsafe fn pointwise<M: Math, const L: usize, P: Pointwise>(
    p: &P,
    x: *const M::V,
    t: *const M::V,
    n: usize,
    out: *mut M::V,
    grad: *mut M::V,
    scale: Scale<M::V>,
) -> f64 {
    // One monomorphic loop per combination of outputs, so each vectorises.
    // SAFETY: forwarded contract (all arms).
    unsafe {
        match (out.is_null(), scale) {
            (true, Scale::None) => run::<M, L, P, false, 0>(p, x, t, n, out, grad, None),
            (false, Scale::None) => run::<M, L, P, true, 0>(p, x, t, n, out, grad, None),
            (true, Scale::Uniform(s)) => {
                run::<M, L, P, false, 1>(p, x, t, n, out, grad, Some((s, std::ptr::null())))
            }
            (false, Scale::Uniform(s)) => {
                run::<M, L, P, true, 1>(p, x, t, n, out, grad, Some((s, std::ptr::null())))
            }
            (true, Scale::PerElement(g)) => {
                run::<M, L, P, false, 2>(p, x, t, n, out, grad, Some((M::c(0.0), g)))
            }
            (false, Scale::PerElement(g)) => {
                run::<M, L, P, true, 2>(p, x, t, n, out, grad, Some((M::c(0.0), g)))
            }
        }
    }
}

/// `G`: 0 no gradient, 1 a uniform scale, 2 a per-element scale.
#[inline(always)]
unsafe fn run<M: Math, const L: usize, P: Pointwise, const OUT: bool, const G: u8>(
    p: &P,
    x: *const M::V,
    t: *const M::V,
    n: usize,
    out: *mut M::V,
    grad: *mut M::V,
    scale: Option<(M::V, *const M::V)>,
) -> f64 {
    let (su, sp) = scale.unwrap_or((M::c(0.0), std::ptr::null()));
    let zero = M::c(0.0);
    let mut total = 0.0f64;
    let mut s = 0;
    while s < n {
        let e = (s + BLOCK).min(n);
        let mut acc = [zero; L];
        let mut k = s;
        while k + L <= e {
            let mut lv = [zero; L];
            let mut gv = [zero; L];
            for i in 0..L {
                // SAFETY: k + i < n.
                let (l, g) = p.eval::<M>(unsafe { *x.add(k + i) }, unsafe { *t.add(k + i) });
                lv[i] = l;
                gv[i] = match G {
                    // SAFETY: k + i < n.
                    2 => g * unsafe { *sp.add(k + i) },
                    _ => g * su,
                };
            }
            for i in 0..L {
                acc[i] = acc[i] + lv[i];
                // SAFETY: k + i < n; the inputs at k + i were read above.
                unsafe {
                    if OUT {
                        *out.add(k + i) = lv[i];
                    }
                    if G != 0 {
                        *grad.add(k + i) = gv[i];
                    }
                }
            }
            k += L;
        }
        while k < e {
            // SAFETY: k < n.
            unsafe {
                let (l, g) = p.eval::<M>(*x.add(k), *t.add(k));
                acc[0] = acc[0] + l;
                if OUT {
                    *out.add(k) = l;
                }
                match G {
                    1 => *grad.add(k) = g * su,
                    2 => *grad.add(k) = g * *sp.add(k),
                    _ => {}
                }
            }
            k += 1;
        }
        for v in acc {
            total += M::wide(v);
        }
        s = e;
    }
    total
}

/// A float32 [`pointwise`] call, for [`crate::simd::run`].
pub(crate) struct LaneCall<'a, P> {
    pub p: &'a P,
    pub x: *const f32,
    pub t: *const f32,
    pub n: usize,
    pub out: *mut f32,
    pub grad: *mut f32,
    pub scale: Scale<f32>,
}

impl<P: Pointwise> crate::simd::LaneKernel for LaneCall<'_, P> {
    type Out = f64;
    #[inline(always)]
    fn run<const FMA: bool, const L: usize>(self) -> f64 {
        // SAFETY: the pointers obey `pointwise`'s contract (the caller of
        // `Real::pointwise` promised it).
        unsafe {
            pointwise::<Lane<FMA>, L, P>(self.p, self.x, self.t, self.n, self.out, self.grad, self.scale)
        }
    }
}
