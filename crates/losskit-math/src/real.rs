//! The two float types the kernels compute in.

use std::fmt::Debug;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// `f32` or `f64`. Per-element work happens in `Self`; per-row scalars and all
/// reductions are carried in `f64`.
pub trait Real:
    Copy
    + Send
    + Sync
    + Debug
    + PartialOrd
    + Default
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    const NEG_INFINITY: Self;
    /// Machine epsilon (`torch.finfo(dtype).eps`).
    const EPSILON: Self;
    /// Name used in messages.
    const NAME: &'static str;
    /// Whether [`Real::fused_elementwise`] has a kernel for this type.
    const HAS_FUSED: bool = false;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn is_nan(self) -> bool;
    /// `max` that ignores NaN (NaN is caught later by the sum of exponentials).
    #[inline(always)]
    fn max_nn(self, other: Self) -> Self {
        if other > self {
            other
        } else {
            self
        }
    }

    // Row and elementwise kernels. The defaults are the portable scalar
    // reference; `f32` overrides them with the run-time-dispatched SIMD kernels.

    /// Largest element, NaN ignored.
    fn row_max(x: &[Self]) -> Self {
        crate::rows::max(x)
    }
    /// `sum(exp(x - m))` in `f64`; `next` (or null) is the next row, which a
    /// kernel may prefetch.
    fn row_sum_exp(x: &[Self], m: Self, _next: *const Self) -> f64 {
        crate::rows::sum_exp(x, m)
    }
    /// `g = a·exp(x - m)`, minus `b·w` when `bw = (b, w)` is given: a
    /// softmax-gradient row.
    ///
    /// # Safety
    /// `x` valid for `n` reads, `g` for `n` writes (equal to `x` or disjoint),
    /// `w` for `n` reads.
    unsafe fn row_exp_scale(
        x: *const Self,
        g: *mut Self,
        n: usize,
        m: Self,
        a: Self,
        bw: Option<(Self, *const Self)>,
    ) {
        for k in 0..n {
            // SAFETY: per the contract; x[k] is read before g[k] is written.
            unsafe {
                let v = a * (*x.add(k) - m).exp();
                *g.add(k) = match bw {
                    None => v,
                    Some((b, w)) => v - b * *w.add(k),
                };
            }
        }
    }
    /// Short rows: see [`crate::lanes::small_stats`]. Returns false (doing
    /// nothing) where this type has no such kernel.
    ///
    /// # Safety
    /// As [`crate::lanes::small_stats`].
    unsafe fn small_stats(
        _x: *const Self,
        _rows: usize,
        _c: usize,
        _e: *mut Self,
        _m: *mut Self,
        _s: *mut Self,
        _ln_s: *mut Self,
    ) -> bool {
        false
    }
    /// See [`crate::lanes::small_grad`].
    ///
    /// # Safety
    /// As [`crate::lanes::small_grad`].
    unsafe fn small_grad(_g: *mut Self, _rows: usize, _c: usize, _e: *const Self, _a: *const Self) {}

    /// `torch.sigmoid` over a slice (`out.len() == x.len()`): in `f64`, then
    /// rounded, unless the type has a SIMD kernel.
    fn sigmoid_slice(x: &[Self], out: &mut [Self]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = Self::from_f64(1.0 / (1.0 + (-v.to_f64()).exp()));
        }
    }

    /// BCE as two sums in passes (`[both, check, grad]`, see
    /// [`crate::avx512::bce_split`]), where the type and path have it.
    #[allow(clippy::type_complexity)]
    fn bce_split() -> Option<[unsafe fn(*const Self, *const Self, usize, *mut Self, f32) -> (f64, f64); 3]> {
        None
    }

    /// A [`crate::pointwise::Pointwise`] loss over `n` elements (see
    /// [`crate::pointwise::pointwise`]): SIMD for `f32`, scalar for `f64`.
    ///
    /// # Safety
    /// As [`crate::pointwise::pointwise`].
    unsafe fn pointwise<P: crate::pointwise::Pointwise>(
        p: &P,
        b: crate::pointwise::Bufs<Self>,
        n: usize,
        scale: crate::pointwise::Scale<Self>,
    ) -> f64;

    /// The fused elementwise loss kernel, where one exists for this type
    /// (see [`crate::lanes::elementwise`]); `None` means "use the generic path".
    ///
    /// # Safety
    /// As [`crate::lanes::elementwise`]; null `out`/`grad` mean "not wanted".
    #[allow(clippy::too_many_arguments)]
    unsafe fn fused_elementwise(
        _loss: crate::lanes::Loss,
        _x: *const Self,
        _t: *const Self,
        _n: usize,
        _out: *mut Self,
        _grad: *mut Self,
        _scale: f64,
    ) -> Option<f64> {
        None
    }
}

macro_rules! impl_real {
    ($t:ty, $name:literal $(, $extra:item)*) => {
        impl Real for $t {
            $($extra)*
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            const EPSILON: Self = <$t>::EPSILON;
            const NAME: &'static str = $name;
            #[inline(always)]
            #[allow(clippy::cast_possible_truncation)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
    };
}
impl_real!(
    f32,
    "float32",
    const HAS_FUSED: bool = true;,
    #[inline]
    fn row_max(x: &[f32]) -> f32 {
        (crate::simd::kernels().max)(x)
    },
    #[inline]
    fn row_sum_exp(x: &[f32], m: f32, next: *const f32) -> f64 {
        (crate::simd::kernels().sum_exp)(x, m, next)
    },
    #[inline]
    unsafe fn row_exp_scale(
        x: *const f32,
        g: *mut f32,
        n: usize,
        m: f32,
        a: f32,
        bw: Option<(f32, *const f32)>,
    ) {
        // SAFETY: forwarded contract.
        unsafe { (crate::simd::kernels().exp_scale)(x, g, n, m, a, bw) }
    },
    #[inline]
    unsafe fn pointwise<P: crate::pointwise::Pointwise>(
        p: &P,
        b: crate::pointwise::Bufs<f32>,
        n: usize,
        scale: crate::pointwise::Scale<f32>,
    ) -> f64 {
        crate::simd::run(crate::pointwise::LaneCall { p, b, n, scale })
    },
    #[inline]
    fn bce_split() -> Option<[crate::simd::BceSplit; 3]> {
        crate::simd::kernels().bce_split
    },
    #[inline]
    fn sigmoid_slice(x: &[f32], out: &mut [f32]) {
        (crate::simd::kernels().sigmoid)(x, out);
    },
    #[inline]
    unsafe fn small_stats(
        x: *const f32,
        rows: usize,
        c: usize,
        e: *mut f32,
        m: *mut f32,
        s: *mut f32,
        l: *mut f32,
    ) -> bool {
        // SAFETY: forwarded contract.
        unsafe { (crate::simd::kernels().small_stats)(x, rows, c, e, m, s, l) };
        true
    },
    #[inline]
    unsafe fn small_grad(g: *mut f32, rows: usize, c: usize, e: *const f32, a: *const f32) {
        // SAFETY: forwarded contract.
        unsafe { (crate::simd::kernels().small_grad)(g, rows, c, e, a) }
    },
    #[inline]
    #[allow(clippy::cast_possible_truncation)]
    unsafe fn fused_elementwise(
        loss: crate::lanes::Loss,
        x: *const f32,
        t: *const f32,
        n: usize,
        out: *mut f32,
        grad: *mut f32,
        scale: f64,
    ) -> Option<f64> {
        let f = crate::simd::kernels().elementwise[usize::from(!out.is_null())][usize::from(!grad.is_null())];
        // SAFETY: forwarded contract.
        Some(unsafe { f(loss, x, t, n, out, grad, scale as f32) })
    }
);
impl_real!(
    f64,
    "float64",
    #[inline]
    unsafe fn pointwise<P: crate::pointwise::Pointwise>(
        p: &P,
        b: crate::pointwise::Bufs<f64>,
        n: usize,
        scale: crate::pointwise::Scale<f64>,
    ) -> f64 {
        // SAFETY: forwarded contract.
        unsafe { crate::pointwise::pointwise::<crate::pointwise::F64, 4, P>(p, b, n, scale) }
    }
);
