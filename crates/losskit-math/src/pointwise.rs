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
    /// `ln(1 + x)`.
    fn ln_1p(x: Self::V) -> Self::V;
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
    #[inline(always)]
    fn ln_1p(x: f32) -> f32 {
        lanes::ln_1p::<FMA>(x)
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
    #[inline(always)]
    fn ln_1p(x: f64) -> f64 {
        x.ln_1p()
    }
}

/// One element of a loss: `(x, t) -> (loss, d loss / d x)`, before reduction
/// and upstream scaling; or, for a loss of three tensors ([`Pointwise::TERNARY`]),
/// `(x, t, v) -> (loss, d/dx, d/dv)`. Implementations are `#[inline(always)]`
/// so that the lane loop of [`pointwise`] vectorises around them.
pub trait Pointwise: Copy + Send + Sync {
    /// Reads a third operand `v` and has a gradient with respect to it.
    const TERNARY: bool = false;
    fn eval<M: Math>(&self, x: M::V, t: M::V) -> (M::V, M::V);
    /// The three-operand form (defaults to [`Pointwise::eval`], ignoring `v`).
    #[inline(always)]
    fn eval3<M: Math>(&self, x: M::V, t: M::V, _v: M::V) -> (M::V, M::V, M::V) {
        let (l, g) = self.eval::<M>(x, t);
        (l, g, M::c(0.0))
    }
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

/// The buffers of one [`pointwise`] call. Null pointers mean "absent"; `v` and
/// `gv` are read and written only by [`Pointwise::TERNARY`] losses.
#[derive(Clone, Copy)]
pub struct Bufs<V> {
    pub x: *const V,
    pub t: *const V,
    pub v: *const V,
    pub out: *mut V,
    pub grad: *mut V,
    pub gv: *mut V,
}

impl<V> Bufs<V> {
    /// The same buffers from element `s` on (null pointers stay null).
    #[must_use]
    pub fn at(self, s: usize) -> Self {
        let add = |p: *const V| if p.is_null() { p } else { p.wrapping_add(s) };
        let add_mut = |p: *mut V| if p.is_null() { p } else { p.wrapping_add(s) };
        Self {
            x: add(self.x),
            t: add(self.t),
            v: add(self.v),
            out: add_mut(self.out),
            grad: add_mut(self.grad),
            gv: add_mut(self.gv),
        }
    }
}

/// Runs `p` over `n` elements: returns the sum of the losses (lane sums over
/// blocks of [`BLOCK`] elements, added into an `f64` block by block), writes
/// each loss to `out` and the scaled gradients to `grad` (and `gv`) when they
/// are not null.
///
/// # Safety
/// `x`, `t` (and `v` for a ternary loss) valid for `n` reads; `out`, `grad`,
/// `gv` (if not null) and a per-element scale valid for `n` writes / reads;
/// `grad` may equal `x` (each element is read before it is written), no other
/// output overlaps an input; a ternary loss given `grad` is given `gv` too.
#[inline(always)]
pub unsafe fn pointwise<M: Math, const L: usize, P: Pointwise>(
    p: &P,
    b: Bufs<M::V>,
    n: usize,
    scale: Scale<M::V>,
) -> f64 {
    let none = std::ptr::null();
    // One monomorphic loop per combination of outputs, so each vectorises.
    // SAFETY: forwarded contract (all arms).
    unsafe {
        match (b.out.is_null(), scale) {
            (true, Scale::None) => run::<M, L, P, false, 0>(p, b, n, M::c(0.0), none),
            (false, Scale::None) => run::<M, L, P, true, 0>(p, b, n, M::c(0.0), none),
            (true, Scale::Uniform(s)) => run::<M, L, P, false, 1>(p, b, n, s, none),
            (false, Scale::Uniform(s)) => run::<M, L, P, true, 1>(p, b, n, s, none),
            (true, Scale::PerElement(g)) => run::<M, L, P, false, 2>(p, b, n, M::c(0.0), g),
            (false, Scale::PerElement(g)) => run::<M, L, P, true, 2>(p, b, n, M::c(0.0), g),
        }
    }
}

/// Element `i` of `p` (reading `v` only for a ternary loss).
///
/// # Safety
/// `x`, `t` (and `v` for a ternary loss) valid at `i`.
#[inline(always)]
unsafe fn eval_at<M: Math, P: Pointwise>(p: &P, b: &Bufs<M::V>, i: usize) -> (M::V, M::V, M::V) {
    // SAFETY: per the contract.
    unsafe {
        if P::TERNARY {
            p.eval3::<M>(*b.x.add(i), *b.t.add(i), *b.v.add(i))
        } else {
            let (l, g) = p.eval::<M>(*b.x.add(i), *b.t.add(i));
            (l, g, M::c(0.0))
        }
    }
}

/// Writes element `i`'s outputs: the loss (`OUT`), the gradients scaled by
/// `s` (`G != 0`).
///
/// # Safety
/// The outputs wanted are valid at `i`.
#[inline(always)]
unsafe fn store<M: Math, P: Pointwise, const OUT: bool, const G: u8>(
    b: &Bufs<M::V>,
    i: usize,
    (l, gx, gv): (M::V, M::V, M::V),
    s: M::V,
) {
    // SAFETY: per the contract.
    unsafe {
        if OUT {
            *b.out.add(i) = l;
        }
        if G != 0 {
            *b.grad.add(i) = gx * s;
            if P::TERNARY {
                *b.gv.add(i) = gv * s;
            }
        }
    }
}

/// `G`: 0 no gradient, 1 a uniform scale `su`, 2 a per-element scale at `sp`.
#[inline(always)]
unsafe fn run<M: Math, const L: usize, P: Pointwise, const OUT: bool, const G: u8>(
    p: &P,
    b: Bufs<M::V>,
    n: usize,
    su: M::V,
    sp: *const M::V,
) -> f64 {
    let zero = M::c(0.0);
    let mut total = 0.0f64;
    let mut s = 0;
    while s < n {
        let e = (s + BLOCK).min(n);
        let mut acc = [zero; L];
        let mut k = s;
        while k + L <= e {
            // All lanes are computed before any is stored (an in-place
            // gradient must not overwrite inputs still to be read), into one
            // array per quantity, so that the lane loop vectorises.
            let mut lv = [zero; L];
            let mut gx = [zero; L];
            let mut g3 = [zero; L];
            for i in 0..L {
                // SAFETY: k + i < n.
                (lv[i], gx[i], g3[i]) = unsafe { eval_at::<M, P>(p, &b, k + i) };
            }
            if G == 2 {
                for i in 0..L {
                    // SAFETY: k + i < n.
                    let s = unsafe { *sp.add(k + i) };
                    gx[i] = gx[i] * s;
                    g3[i] = g3[i] * s;
                }
            } else {
                for i in 0..L {
                    gx[i] = gx[i] * su;
                    g3[i] = g3[i] * su;
                }
            }
            for i in 0..L {
                acc[i] = acc[i] + lv[i];
            }
            // One block copy per output (element-wise stores to several
            // outputs that might alias would not vectorise).
            // SAFETY: k + L <= n; the inputs at k..k + L were read above.
            unsafe {
                if OUT {
                    std::ptr::copy_nonoverlapping(lv.as_ptr(), b.out.add(k), L);
                }
                if G != 0 {
                    std::ptr::copy_nonoverlapping(gx.as_ptr(), b.grad.add(k), L);
                    if P::TERNARY {
                        std::ptr::copy_nonoverlapping(g3.as_ptr(), b.gv.add(k), L);
                    }
                }
            }
            k += L;
        }
        while k < e {
            // SAFETY: k < n.
            unsafe {
                let r = eval_at::<M, P>(p, &b, k);
                acc[0] = acc[0] + r.0;
                let sc = if G == 2 { *sp.add(k) } else { su };
                store::<M, P, OUT, G>(&b, k, r, sc);
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
    pub b: Bufs<f32>,
    pub n: usize,
    pub scale: Scale<f32>,
}

impl<P: Pointwise> crate::simd::LaneKernel for LaneCall<'_, P> {
    type Out = f64;
    #[inline(always)]
    fn run<const FMA: bool, const L: usize>(self) -> f64 {
        // SAFETY: the pointers obey `pointwise`'s contract (the caller of
        // `Real::pointwise` promised it).
        unsafe { pointwise::<Lane<FMA>, L, P>(self.p, self.b, self.n, self.scale) }
    }
}
