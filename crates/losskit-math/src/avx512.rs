//! Hand-written AVX-512 kernels, where the lane-generic source of
//! [`crate::lanes`] leaves speed on the table.
//!
//! BCE is compute-bound with the generic logarithm (two per element): its
//! range reduction and degree-8 polynomial cost more than the memory traffic.
//! Here the logarithm uses what AVX-512 has and the generic code cannot reach:
//! `vgetexpps`/`vgetmantps` for the exponent and mantissa (subnormals
//! included), and `vpermps` as a 16-entry in-register table, which shrinks the
//! polynomial to degree 6.
//!
//! The softmax rows' exponential (`x ≤ 0`) uses the same kind of table:
//! `e^x = 2^(k/16)·e^r` with `k = round(16x/ln 2)`, `2^((k mod 16)/16)` from a
//! `vpermps` table, and a degree-3 polynomial for `e^r`, `|r| ≤ ln 2/32`: about
//! a quarter fewer multiply-adds than the generic degree-6 form.
//!
//! The short-row softmax tiles ([`crate::lanes::small_stats`]) transpose with
//! `vgatherdps` here: the generic transpose assembles each column from scalars
//! and stalls on store forwarding.
//!
//! `ln x = e·ln 2 + ln c_j + ln(1 + r)` with `m = x·2^-e ∈ [0.75, 1.5)`, `j` the
//! top four mantissa bits of `m` (sixteenths of `[1, 1.5)`, thirty-seconds of
//! `[0.75, 1)`), `1/c_j` an `f32` near the reciprocal of the centre of `m`'s
//! sub-interval, `r = m·(1/c_j) - 1` (one rounding, by FMA) and
//! `ln c_j = -ln(1/c_j)` in two parts. The two table entries next to 1 have
//! `1/c_j = 1`, so `r = m - 1` exactly there and `ln 1 = 0`. `|r| < 1/16`.

#![allow(unsafe_op_in_unsafe_fn, clippy::missing_safety_doc)]

use core::arch::x86_64::{
    __m512, __m512i, __mmask16, _mm512_add_epi32, _mm512_add_ps, _mm512_castps_si512, _mm512_castsi512_ps,
    _mm512_cmp_ps_mask, _mm512_div_ps, _mm512_fmadd_ps, _mm512_fnmadd_ps, _mm512_getexp_ps,
    _mm512_getmant_ps, _mm512_loadu_ps, _mm512_mask_add_ps, _mm512_mask_blend_ps, _mm512_mask_i32gather_ps,
    _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_maskz_mov_ps, _mm512_max_ps, _mm512_mul_ps,
    _mm512_mullo_epi32, _mm512_or_si512, _mm512_permutexvar_ps, _mm512_set1_epi32, _mm512_set1_ps,
    _mm512_setr_epi32, _mm512_setzero_ps, _mm512_slli_epi32, _mm512_srai_epi32, _mm512_srli_epi32,
    _mm512_storeu_ps, _mm512_sub_epi32, _mm512_sub_ps, _mm512_xor_si512, _mm_prefetch, _CMP_GE_OQ,
    _CMP_LE_OQ, _CMP_LT_OQ, _MM_HINT_T1, _MM_MANT_NORM_P75_1P5, _MM_MANT_SIGN_ZERO,
};
use std::sync::OnceLock;

use crate::lanes::{small_stats_cols, BCE_EPS, BLOCK, EXP_NEG_LO, TILE};

const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// `1/c_j`, `ln c_j` (high part) and its remainder, indexed by the top four
/// mantissa bits of `m ∈ [0.75, 1.5)`: 0–7 cover `[1, 1.5)` in sixteenths,
/// 8–15 cover `[0.75, 1)` in thirty-seconds.
struct Table {
    inv: [f32; 16],
    hi: [f32; 16],
    lo: [f32; 16],
    /// `2^(j/16)`, for the exponential.
    exp2: [f32; 16],
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = Table { inv: [1.0; 16], hi: [0.0; 16], lo: [0.0; 16], exp2: [1.0; 16] };
        for j in 0..16 {
            #[allow(clippy::cast_precision_loss)]
            let jf = j as f64;
            let centre = if j < 8 { 1.0 + (jf + 0.5) / 16.0 } else { 0.5 + (jf + 0.5) / 32.0 };
            // Next to 1 the reciprocal is 1 itself: r = m - 1 is then exact.
            #[allow(clippy::cast_possible_truncation)]
            let inv = if j == 0 || j == 15 { 1.0 } else { (1.0 / centre) as f32 };
            let lnc = -f64::from(inv).ln();
            #[allow(clippy::cast_possible_truncation)]
            let hi = lnc as f32;
            #[allow(clippy::cast_possible_truncation)]
            let lo = (lnc - f64::from(hi)) as f32;
            t.inv[j] = inv;
            t.hi[j] = hi;
            t.lo[j] = lo;
            #[allow(clippy::cast_possible_truncation)]
            {
                t.exp2[j] = (jf / 16.0).exp2() as f32;
            }
        }
        t
    })
}

/// The table in registers, loaded once per kernel call.
#[derive(Clone, Copy)]
struct Regs {
    inv: __m512,
    hi: __m512,
    lo: __m512,
}

#[target_feature(enable = "avx512f")]
unsafe fn regs() -> Regs {
    let t = table();
    Regs {
        inv: _mm512_loadu_ps(t.inv.as_ptr()),
        hi: _mm512_loadu_ps(t.hi.as_ptr()),
        lo: _mm512_loadu_ps(t.lo.as_ptr()),
    }
}

/// `ln x` for `x ∈ [0, +inf)` finite (BCE's validated inputs): within 2 ULP
/// for `x > 0` (tested); about −111 (finite, below BCE's −100 clamp) for `x = ±0`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn ln16(x: __m512, tab: Regs) -> __m512 {
    let m = _mm512_getmant_ps::<_MM_MANT_NORM_P75_1P5, _MM_MANT_SIGN_ZERO>(x);
    // getexp(0) = -inf would meet +inf in e·LN2_LO; -160 keeps ln 0 finite
    // (about -111, below BCE's clamp) and leaves every subnormal's exponent.
    let e = _mm512_max_ps(_mm512_getexp_ps(x), _mm512_set1_ps(-160.0));
    // getexp is for [1, 2); a mantissa folded into [0.75, 1) belongs one up.
    let below = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(m, _mm512_set1_ps(1.0));
    let e = _mm512_mask_add_ps(e, below, e, _mm512_set1_ps(1.0));
    let j = _mm512_srli_epi32::<19>(_mm512_castps_si512(m));
    let inv = _mm512_permutexvar_ps(j, tab.inv);
    let hi = _mm512_permutexvar_ps(j, tab.hi);
    let lo = _mm512_permutexvar_ps(j, tab.lo);
    let r = _mm512_fmadd_ps(m, inv, _mm512_set1_ps(-1.0));
    // ln(1 + r) - r = r²·(-1/2 + r/3 - r²/4 + r³/5 - r⁴/6), |r| < 1/16.
    let mut p = _mm512_fmadd_ps(_mm512_set1_ps(-1.0 / 6.0), r, _mm512_set1_ps(0.2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(-0.25));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0 / 3.0));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(-0.5));
    let r2 = _mm512_mul_ps(r, r);
    let low = _mm512_fmadd_ps(e, _mm512_set1_ps(LN2_LO), lo);
    let low = _mm512_fmadd_ps(r2, p, low);
    let high = _mm512_fmadd_ps(e, _mm512_set1_ps(LN2_HI), hi);
    _mm512_add_ps(high, _mm512_add_ps(r, low))
}

/// `ln(1 - x)` for `x ∈ [0, 1]`, as [`crate::lanes::ln_1m_unit`]: `u = 1 - x`
/// and its exact rounding error `c`, `ln u + c·(2 - u)`; about −111 at `x = 1`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn ln_1m16(x: __m512, tab: Regs) -> __m512 {
    let one = _mm512_set1_ps(1.0);
    let u = _mm512_sub_ps(one, x);
    let c = _mm512_sub_ps(_mm512_sub_ps(one, u), x);
    _mm512_fmadd_ps(c, _mm512_sub_ps(_mm512_set1_ps(2.0), u), ln16(u, tab))
}

/// BCE's loss and gradient over 16 lanes. A lane whose `x` or `t` is outside
/// `[0, 1]` or NaN gets a NaN loss (as the portable kernel does), so that a
/// forward pass can check the range as it goes.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn bce16(x: __m512, t: __m512, tab: Regs) -> (__m512, __m512) {
    let one = _mm512_set1_ps(1.0);
    let clamp = _mm512_set1_ps(-100.0);
    let lx = _mm512_max_ps(ln16(x, tab), clamp);
    let l1x = _mm512_max_ps(ln_1m16(x, tab), clamp);
    // (t - 1)·l1x - t·lx, rounded as the portable kernel rounds it.
    let l = _mm512_sub_ps(_mm512_mul_ps(_mm512_sub_ps(t, one), l1x), _mm512_mul_ps(t, lx));
    let l = _mm512_mask_blend_ps(in_unit16(x, t), _mm512_set1_ps(f32::NAN), l);
    (l, bce_grad16(x, t))
}

/// BCE's gradient before the upstream scale: `(x - t)/max(x(1 - x), ε)`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn bce_grad16(x: __m512, t: __m512) -> __m512 {
    let d = _mm512_max_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_set1_ps(1.0), x), x), _mm512_set1_ps(BCE_EPS));
    _mm512_div_ps(_mm512_sub_ps(x, t), d)
}

/// `16/ln 2`, and `ln 2/16` in two parts (`LN2_HI/16` has few significant bits:
/// its products with `k` are exact).
const LOG2E_16: f32 = 16.0 * std::f32::consts::LOG2_E;
const LN2_16_HI: f32 = LN2_HI / 16.0;
const LN2_16_LO: f32 = LN2_LO / 16.0;
/// 1.5·2^23: adding it rounds to an integer, read off the low mantissa bits.
const SHIFTER: f32 = 12_582_912.0;

/// `e^x` for `x ≤ 0`, as [`crate::lanes::exp_neg`]: within 2 ULP (tested),
/// flushed to 0 below [`crate::lanes::EXP_NEG_LO`], `e^-inf = 0`, NaN stays NaN
/// (any payload: `2^(k>>4)` is applied as a factor).
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn exp_neg16(x: __m512, exp2: __m512) -> __m512 {
    let shifted = _mm512_fmadd_ps(x, _mm512_set1_ps(LOG2E_16), _mm512_set1_ps(SHIFTER));
    let kf = _mm512_sub_ps(shifted, _mm512_set1_ps(SHIFTER));
    let r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(LN2_16_HI), x);
    let r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(LN2_16_LO), r);
    // k in the low mantissa bits of `shifted`: vpermps takes k mod 16 from them.
    let bits = _mm512_castps_si512(shifted);
    let t = _mm512_permutexvar_ps(bits, exp2);
    // 2^(k >> 4) as a float: its exponent field is (k >> 4) + 127.
    #[allow(clippy::cast_possible_wrap)]
    let k = _mm512_sub_epi32(bits, _mm512_set1_epi32(SHIFTER.to_bits() as i32));
    let scale = _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(
        _mm512_srai_epi32::<4>(k),
        _mm512_set1_epi32(127),
    )));
    let t = _mm512_mul_ps(t, scale);
    // e^r - 1 = r + r²·(1/2 + r/6), |r| ≤ ln 2/32.
    let q = _mm512_fmadd_ps(r, _mm512_set1_ps(1.0 / 6.0), _mm512_set1_ps(0.5));
    let p = _mm512_fmadd_ps(_mm512_mul_ps(r, r), q, r);
    let v = _mm512_fmadd_ps(t, p, t);
    let flush = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, _mm512_set1_ps(EXP_NEG_LO));
    _mm512_mask_blend_ps(flush, v, _mm512_setzero_ps())
}

#[target_feature(enable = "avx512f")]
unsafe fn exp2_table() -> __m512 {
    _mm512_loadu_ps(table().exp2.as_ptr())
}

/// Adds the 16 lanes into `f64`, in lane order.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn hsum(v: __m512) -> f64 {
    let mut a = [0.0f32; 16];
    _mm512_storeu_ps(a.as_mut_ptr(), v);
    a.iter().map(|&v| f64::from(v)).sum()
}

/// The lanes of a 16-lane step with `left` elements to go: all, or the first `left`.
#[inline]
fn lanes_left(left: usize) -> u16 {
    #[allow(clippy::cast_possible_truncation)]
    if left >= 16 {
        u16::MAX
    } else {
        ((1u32 << left) - 1) as u16
    }
}

/// The float sign bit in every lane.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn sign_bits() -> __m512i {
    #[allow(clippy::cast_possible_wrap)]
    _mm512_set1_epi32(0x8000_0000_u32 as i32)
}

/// The lanes where both `x` and `t` are in `[0, 1]` (not NaN): BCE's range.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn in_unit16(x: __m512, t: __m512) -> __mmask16 {
    let (zero, one) = (_mm512_setzero_ps(), _mm512_set1_ps(1.0));
    _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, zero)
        & _mm512_cmp_ps_mask::<_CMP_LE_OQ>(x, one)
        & _mm512_cmp_ps_mask::<_CMP_GE_OQ>(t, zero)
        & _mm512_cmp_ps_mask::<_CMP_LE_OQ>(t, one)
}

/// The loop of [`crate::lanes::elementwise`] around a 16-lane loss `f`
/// (`(x, t) -> (loss, gradient before the scale)`): per block of [`BLOCK`]
/// elements a per-lane `f32` sum added into `f64`; masked loads and stores for
/// a block's last few elements, which keep their own lanes (the generic kernel
/// adds them into lane 0).
///
/// # Safety
/// The CPU has AVX-512F; `x`, `t` valid for `n` reads; `out`, `grad` (if `OUT`,
/// `GRAD`) for `n` writes; `grad` may equal `x`, no other output overlaps an input.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn elementwise16<const OUT: bool, const GRAD: bool>(
    x: *const f32,
    t: *const f32,
    n: usize,
    out: *mut f32,
    grad: *mut f32,
    scale: f32,
    f: impl Fn(__m512, __m512) -> (__m512, __m512),
) -> f64 {
    let sv = _mm512_set1_ps(scale);
    let mut total = 0.0f64;
    let mut s = 0;
    while s < n {
        let e = (s + BLOCK).min(n);
        let mut acc = _mm512_setzero_ps();
        let mut k = s;
        while k < e {
            let mask = lanes_left(e - k);
            let (l, g) = f(_mm512_maskz_loadu_ps(mask, x.add(k)), _mm512_maskz_loadu_ps(mask, t.add(k)));
            acc = _mm512_add_ps(acc, _mm512_maskz_mov_ps(mask, l));
            if OUT {
                _mm512_mask_storeu_ps(out.add(k), mask, l);
            }
            if GRAD {
                _mm512_mask_storeu_ps(grad.add(k), mask, _mm512_mul_ps(g, sv));
            }
            k += 16;
        }
        total += hsum(acc);
        s = e;
    }
    total
}

/// [`crate::lanes::sum_exp`] with [`exp_neg16`]: `sum(exp(x - m))`, per block
/// of [`BLOCK`] two 16-lane `f32` sums added into `f64` in lane order; `next`
/// (if not null) is prefetched, a line per 16 floats consumed.
///
/// # Safety
/// The CPU has AVX-512F; `next`, if not null, points into an allocation of at
/// least `x.len()` floats (a hint only, never dereferenced).
#[target_feature(enable = "avx512f")]
pub unsafe fn sum_exp(x: &[f32], m: f32, next: *const f32) -> f64 {
    let exp2 = exp2_table();
    let mv = _mm512_set1_ps(m);
    let n = x.len();
    let xp = x.as_ptr();
    let mut total = 0.0f64;
    let mut s = 0;
    while s < n {
        let e = (s + BLOCK).min(n);
        let (mut a0, mut a1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let mut k = s;
        while k + 32 <= e {
            if !next.is_null() {
                _mm_prefetch::<_MM_HINT_T1>(next.wrapping_add(k).cast::<i8>());
                _mm_prefetch::<_MM_HINT_T1>(next.wrapping_add(k + 16).cast::<i8>());
            }
            a0 = _mm512_add_ps(a0, exp_neg16(_mm512_sub_ps(_mm512_loadu_ps(xp.add(k)), mv), exp2));
            a1 = _mm512_add_ps(a1, exp_neg16(_mm512_sub_ps(_mm512_loadu_ps(xp.add(k + 16)), mv), exp2));
            k += 32;
        }
        while k < e {
            let mask = lanes_left(e - k);
            let v = exp_neg16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, xp.add(k)), mv), exp2);
            a0 = _mm512_add_ps(a0, _mm512_maskz_mov_ps(mask, v));
            k += 16;
        }
        total += hsum(a0) + hsum(a1);
        s = e;
    }
    total
}

/// [`crate::lanes::exp_scale`] with [`exp_neg16`]: `g = a·exp(x - m)`, or
/// `fma(a, exp(x - m), -(b·w))`.
///
/// # Safety
/// The CPU has AVX-512F; the contract of [`crate::lanes::exp_scale`].
#[target_feature(enable = "avx512f")]
pub unsafe fn exp_scale(x: *const f32, g: *mut f32, n: usize, m: f32, a: f32, bw: Option<(f32, *const f32)>) {
    let exp2 = exp2_table();
    let (mv, av) = (_mm512_set1_ps(m), _mm512_set1_ps(a));
    let mut k = 0;
    while k < n {
        let mask = lanes_left(n - k);
        let e = exp_neg16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x.add(k)), mv), exp2);
        let v = match bw {
            None => _mm512_mul_ps(av, e),
            Some((b, w)) => _mm512_fmadd_ps(
                av,
                e,
                // -(b·w) by flipping the sign bit, as the generic form negates
                // (0 - b·w would give +0 where it gives -0).
                _mm512_castsi512_ps(_mm512_xor_si512(
                    _mm512_castps_si512(_mm512_mul_ps(
                        _mm512_set1_ps(b),
                        _mm512_maskz_loadu_ps(mask, w.add(k)),
                    )),
                    sign_bits(),
                )),
            ),
        };
        _mm512_mask_storeu_ps(g.add(k), mask, v);
        k += 16;
    }
}

/// [`crate::lanes::elementwise`] for BCE, through [`elementwise16`].
///
/// # Safety
/// As [`elementwise16`]. Out-of-range inputs give NaN losses and unspecified
/// gradients.
#[target_feature(enable = "avx512f")]
pub unsafe fn bce<const OUT: bool, const GRAD: bool>(
    x: *const f32,
    t: *const f32,
    n: usize,
    out: *mut f32,
    grad: *mut f32,
    scale: f32,
) -> f64 {
    let tab = regs();
    // SAFETY: AVX-512F per the contract (the closure runs inside this function).
    elementwise16::<OUT, GRAD>(x, t, n, out, grad, scale, |x, t| unsafe { bce16(x, t, tab) })
}

/// BCE-with-logits' loss and gradient over 16 lanes, as the generic
/// `pointwise` form (`(1 - t)·x + m + ln(1 + e^-|x|)`, `m = max(-x, 0)`,
/// gradient `σ(x) - t`), with the table exponential and logarithm.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn bce_logits16(x: __m512, t: __m512, tab: Regs, exp2: __m512) -> (__m512, __m512) {
    let one = _mm512_set1_ps(1.0);
    let zero = _mm512_setzero_ps();
    // -|x| (the sign bit set; NaN stays NaN), and max(-x, 0) (0 for NaN, as the generic select).
    let ax = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(x), sign_bits()));
    let m = _mm512_max_ps(_mm512_sub_ps(zero, x), zero);
    let e = exp_neg16(ax, exp2);
    let s = _mm512_add_ps(one, e);
    let l = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(one, t), x), m), ln16(s, tab));
    let neg = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, zero);
    let sig = _mm512_div_ps(_mm512_mask_blend_ps(neg, one, e), s);
    (l, _mm512_sub_ps(sig, t))
}

/// [`crate::lanes::elementwise`] for BCE-with-logits, through [`elementwise16`].
///
/// # Safety
/// As [`elementwise16`].
#[target_feature(enable = "avx512f")]
pub unsafe fn bce_logits<const OUT: bool, const GRAD: bool>(
    x: *const f32,
    t: *const f32,
    n: usize,
    out: *mut f32,
    grad: *mut f32,
    scale: f32,
) -> f64 {
    let (tab, exp2) = (regs(), exp2_table());
    // SAFETY: AVX-512F per the contract (the closure runs inside this function).
    elementwise16::<OUT, GRAD>(x, t, n, out, grad, scale, |x, t| unsafe { bce_logits16(x, t, tab, exp2) })
}

/// What a [`bce_split`] pass computes.
pub mod pass {
    /// Both sums, nothing written (a forward pass).
    pub const BOTH: u8 = 0;
    /// The range check and `A` (the first pass of a forward + grad).
    pub const CHECK: u8 = 1;
    /// The gradient and `B` (the second pass, after the check).
    pub const GRAD: u8 = 2;
}

/// BCE's loss as two sums, `A = Σ t·max(ln x, −100)` and
/// `B = Σ (t − 1)·max(ln(1 − x), −100)` (the loss sum is `B − A`), each kept
/// in per-lane `f32` sums over [`BLOCK`] elements added into `f64`, so that
/// every pass gives the same `A` and `B`. A forward + grad then takes two
/// passes that each need one logarithm, and each is about as long as its
/// memory traffic: the first checks the range while it sums `A` (nothing is
/// written, so an error leaves every buffer as it was), the second writes the
/// gradient (`scale·(x − t)/max(x(1 − x), ε)`) while it sums `B`. `A` is NaN
/// when an `x` or `t` is outside `[0, 1]` or NaN (passes [`pass::BOTH`] and
/// [`pass::CHECK`]).
///
/// # Safety
/// The CPU has AVX-512F; `x`, `t` valid for `n` reads; for [`pass::GRAD`],
/// `grad` valid for `n` writes (it may equal `x`, nothing else may overlap) and
/// every `x`, `t` in `[0, 1]`.
#[target_feature(enable = "avx512f")]
pub unsafe fn bce_split<const PASS: u8>(
    x: *const f32,
    t: *const f32,
    n: usize,
    grad: *mut f32,
    scale: f32,
) -> (f64, f64) {
    let tab = regs();
    let one = _mm512_set1_ps(1.0);
    let zero = _mm512_setzero_ps();
    let clamp = _mm512_set1_ps(-100.0);
    let sv = _mm512_set1_ps(scale);
    let (mut ta, mut tb) = (0.0f64, 0.0f64);
    let mut s = 0;
    while s < n {
        let e = (s + BLOCK).min(n);
        let (mut aa, mut ab) = (zero, zero);
        let mut k = s;
        while k < e {
            let mask = lanes_left(e - k);
            let xv = _mm512_maskz_loadu_ps(mask, x.add(k));
            let tv = _mm512_maskz_loadu_ps(mask, t.add(k));
            if PASS != pass::GRAD {
                let a = _mm512_mul_ps(tv, _mm512_max_ps(ln16(xv, tab), clamp));
                let a = _mm512_mask_blend_ps(in_unit16(xv, tv), _mm512_set1_ps(f32::NAN), a);
                aa = _mm512_add_ps(aa, _mm512_maskz_mov_ps(mask, a));
            }
            if PASS != pass::CHECK {
                let b = _mm512_mul_ps(_mm512_sub_ps(tv, one), _mm512_max_ps(ln_1m16(xv, tab), clamp));
                ab = _mm512_add_ps(ab, _mm512_maskz_mov_ps(mask, b));
            }
            if PASS == pass::GRAD {
                _mm512_mask_storeu_ps(grad.add(k), mask, _mm512_mul_ps(bce_grad16(xv, tv), sv));
            }
            k += 16;
        }
        ta += hsum(aa);
        tb += hsum(ab);
        s = e;
    }
    (ta, tb)
}

/// A 16-lane function of this module, for [`apply`].
#[derive(Clone, Copy, Debug)]
pub enum Op {
    /// [`ln16`].
    Ln,
    /// [`ln_1m16`].
    Ln1m,
    /// [`exp_neg16`].
    ExpNeg,
}

/// `op` over a slice (for the accuracy tests).
///
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
pub unsafe fn apply(op: Op, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "apply {op:?}: x and out differ in length");
    let (tab, exp2) = (regs(), exp2_table());
    for (o, c) in out.chunks_mut(16).zip(x.chunks(16)) {
        let mask = lanes_left(c.len());
        let v = _mm512_maskz_loadu_ps(mask, c.as_ptr());
        let y = match op {
            Op::Ln => ln16(v, tab),
            Op::Ln1m => ln_1m16(v, tab),
            Op::ExpNeg => exp_neg16(v, exp2),
        };
        _mm512_mask_storeu_ps(o.as_mut_ptr(), mask, y);
    }
}

/// [`crate::lanes::small_stats`] with the tile transposed by gathers: lane `l`
/// of column `k` is `x[l·c + k]` (0 past `rows`).
///
/// # Safety
/// The CPU has AVX-512F, AVX2 and FMA; the contract of
/// [`crate::lanes::small_stats`].
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn small_stats(
    x: *const f32,
    rows: usize,
    c: usize,
    e: *mut f32,
    m: *mut f32,
    s: *mut f32,
    ln_s: *mut f32,
) {
    const _: () = assert!(TILE == 16);
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
    let idx = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(c as i32),
    );
    #[allow(clippy::cast_possible_truncation)]
    let mask: u16 = if rows >= 16 { u16::MAX } else { ((1u32 << rows) - 1) as u16 };
    for k in 0..c {
        let col = _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), mask, idx, x.add(k));
        _mm512_storeu_ps(e.add(k * TILE), col);
    }
    small_stats_cols::<true>(c, e, m, s, ln_s);
}
