//! Lane-generic float32 kernels.
//!
//! Every function here is written once, over fixed-size arrays of `L` lanes,
//! branch-free, and marked `#[inline(always)]`: [`crate::simd`] instantiates it
//! inside functions compiled with `#[target_feature(enable = …)]` (AVX-512,
//! AVX2+FMA) and once for the baseline target (SSE2 on x86-64, NEON on arm64),
//! and the compiler turns the lane loops into vector instructions of that width.
//! The same source is thus the AVX-512, AVX2, NEON and portable kernel.
//!
//! Sums are kept per lane in `f32` over blocks of [`BLOCK`] elements and added
//! into an `f64` total block by block, in a fixed order.

// Lane loops index several arrays in step on purpose (that is what vectorises),
// and the polynomial coefficients are kept digit for digit as published.
#![allow(clippy::needless_range_loop, clippy::excessive_precision)]

/// Elements per `f32` partial-sum block.
pub const BLOCK: usize = 512;

#[inline(always)]
fn fma<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[inline(always)]
fn select(c: bool, a: f32, b: f32) -> f32 {
    if c {
        a
    } else {
        b
    }
}

// ---------------------------------------------------------------------------
// exp
// ---------------------------------------------------------------------------

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in a part with few significant bits (exact products with k) and the rest.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 · 2^23: adding it rounds a float in (-2^22, 2^22) to an integer.
const SHIFTER: f32 = 12_582_912.0;
/// Above this, exp overflows to +inf.
const EXP_HI: f32 = 88.722_84;
/// Below this, exp underflows to +0.
const EXP_LO: f32 = -103.972_08;

/// `e^x` in float32, at most 2 ULP from the correctly rounded result over the
/// whole range (subnormal results included; tested against `f64::exp`).
/// `exp(NaN) = NaN`, `exp(+inf) = +inf`, `exp(-inf) = 0`.
///
/// Method: `x = k·ln2 + r`, `|r| ≤ ln2/2` (Cody–Waite, two-part ln2), a degree-6
/// polynomial for `e^r` (Cephes `expf` coefficients), and `2^k` applied as two
/// exact power-of-two factors so that results near overflow and subnormal
/// results are scaled without intermediate overflow.
#[inline(always)]
pub fn exp<const FMA: bool>(x: f32) -> f32 {
    let xc = select(x < EXP_LO, EXP_LO, x);
    let xc = select(xc > 89.0, 89.0, xc);
    let (k, y) = exp_reduced::<FMA>(xc);
    let k1 = k >> 1;
    let k2 = k - k1;
    #[allow(clippy::cast_sign_loss)]
    let s1 = f32::from_bits(((k1 + 127) as u32) << 23);
    #[allow(clippy::cast_sign_loss)]
    let s2 = f32::from_bits(((k2 + 127) as u32) << 23);
    let v = y * s1 * s2;
    let v = select(x > EXP_HI, f32::INFINITY, v);
    let v = select(x < EXP_LO, 0.0, v);
    select(x.is_nan(), x, v)
}

/// `torch.sigmoid` in float32: `e/(1 + e)` for `x < 0` and `1/(1 + e)`
/// otherwise, with `e = exp(-|x|)` (the full-range [`exp`], so results down to
/// the subnormals are kept): one division, no overflow, within 3 ULP (tested).
/// `σ(±inf) = 1 or 0`, NaN propagates.
#[inline(always)]
pub fn sigmoid<const FMA: bool>(x: f32) -> f32 {
    let e = exp::<FMA>(-x.abs());
    select(x < 0.0, e, 1.0) / (1.0 + e)
}

/// The shared core of [`exp`] and [`exp_neg`]: `x = k·ln2 + r` with
/// `|r| ≤ ln2/2` (Cody–Waite, two-part ln2; `k` read off the shifted float's
/// low mantissa bits, no float→int conversion), and `y = e^r` by Horner's rule
/// with Cephes `expf`'s degree-6 coefficients. Returns `(k, y)`.
#[inline(always)]
fn exp_reduced<const FMA: bool>(x: f32) -> (i32, f32) {
    let shifted = fma::<FMA>(x, LOG2E, SHIFTER);
    let kf = shifted - SHIFTER;
    let r = fma::<FMA>(kf, -LN2_HI, x);
    let r = fma::<FMA>(kf, -LN2_LO, r);
    let mut p = 1.987_569_1e-4_f32;
    p = fma::<FMA>(p, r, 1.398_2e-3);
    p = fma::<FMA>(p, r, 8.333_452e-3);
    p = fma::<FMA>(p, r, 4.166_579_6e-2);
    p = fma::<FMA>(p, r, 1.666_666_5e-1);
    p = fma::<FMA>(p, r, 5.000_000_1e-1);
    p = fma::<FMA>(p, r, 1.0);
    #[allow(clippy::cast_possible_wrap)]
    // Wrapping: far below the range (flushed or clamped by the callers) the
    // difference overflows, harmlessly.
    let k = (shifted.to_bits() as i32).wrapping_sub(SHIFTER.to_bits() as i32);
    (k, fma::<FMA>(p, r, 1.0))
}

/// Below this, `exp_neg` flushes to zero (`e^x` < 1.9e-38 ≈ 2^-125.4): above it,
/// `k ≥ -125`, so `2^k` and `y·2^k` for `y ∈ [0.7, 1.5]` are normal numbers.
pub const EXP_NEG_LO: f32 = -86.9;

/// `e^x` for `x ≤ 0` (the shifted logits `x - max` of a softmax, or `-|x|`):
/// [`exp`] without the overflow handling and the two-step scaling, and with
/// results below about 1.9e-38 flushed to zero. Other results are within 2 ULP;
/// a flushed result is off by less than 1.9e-38 absolutely, which no sum or
/// gradient built from it can show at float32 tolerance. NaN propagates (any
/// payload), `exp_neg(-inf) = 0`. Not for `x > 0`.
#[inline(always)]
pub fn exp_neg<const FMA: bool>(x: f32) -> f32 {
    // No input clamp: wherever x < EXP_NEG_LO (−inf included) the garbage the
    // reduction produces is replaced by 0 at the end.
    let (k, y) = exp_reduced::<FMA>(x);
    // 2^k applied as an exact power-of-two factor: wherever x is not flushed,
    // k ∈ [-125, 0], so 2^k and y·2^k (y ∈ [0.7, 1.5]) are normal. A factor,
    // not an add to y's exponent field: a NaN's payload bits reach k, and the
    // add could turn the NaN into a number; NaN·2^k stays NaN.
    #[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
    let v = y * f32::from_bits(((k + 127) as u32) << 23);
    select(x < EXP_NEG_LO, 0.0, v)
}

// ---------------------------------------------------------------------------
// ln
// ---------------------------------------------------------------------------

/// `ln x` in float32, at most 2 ULP from the correctly rounded result for all
/// positive finite inputs, subnormal ones included (tested against `f64::ln`).
/// `ln 0 = -inf`, `ln(+inf) = +inf`, `ln x = NaN` for `x < 0` or NaN.
///
/// Method: `x = m·2^e` with `m ∈ [√½, √2)`, `ln x = e·ln2 + ln(1 + f)`,
/// `f = m - 1`, `ln(1 + f) = f - f²/2 + f³·P(f)` with Cephes `logf`'s
/// degree-8 polynomial.
#[inline(always)]
pub fn ln<const FMA: bool>(x: f32) -> f32 {
    let v = ln_unit::<FMA>(x);
    let v = select(x == 0.0, f32::NEG_INFINITY, v);
    let v = select(x == f32::INFINITY, f32::INFINITY, v);
    select((x < 0.0) | x.is_nan(), f32::NAN, v)
}

/// [`ln`] without its special cases, for BCE's validated inputs in `[0, 1]`,
/// whose logarithms are clamped at −100: the same value for `x ∈ (0, 1]`, and
/// about −104 (not −inf) for `x = 0`, which the clamp maps to −100 all the same.
#[inline(always)]
pub fn ln_unit<const FMA: bool>(x: f32) -> f32 {
    // Subnormals: scale into the normal range first.
    let tiny = x < f32::MIN_POSITIVE;
    let xs = select(tiny, x * 8_388_608.0, x); // 2^23
    let bits = xs.to_bits();
    #[allow(clippy::cast_possible_wrap)]
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    e -= if tiny { 23 } else { 0 };
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let big = m > std::f32::consts::SQRT_2;
    m = select(big, m * 0.5, m);
    e += i32::from(big);
    let f = m - 1.0;
    #[allow(clippy::cast_precision_loss)]
    let ef = e as f32;
    ln_reduced::<FMA>(f, ef)
}

/// `e·ln 2 + ln(1 + f)` for `f ∈ [√½ - 1, √2 - 1]`: `f - f²/2 + f³·P(f)` with
/// Cephes `logf`'s degree-8 polynomial, `ln 2` in two parts.
#[inline(always)]
fn ln_reduced<const FMA: bool>(f: f32, ef: f32) -> f32 {
    let z = f * f;
    let mut p = 7.037_683_6e-2_f32;
    p = fma::<FMA>(p, f, -1.151_461e-1);
    p = fma::<FMA>(p, f, 1.167_699_9e-1);
    p = fma::<FMA>(p, f, -1.242_014_1e-1);
    p = fma::<FMA>(p, f, 1.424_932_3e-1);
    p = fma::<FMA>(p, f, -1.666_805_8e-1);
    p = fma::<FMA>(p, f, 2.000_071_4e-1);
    p = fma::<FMA>(p, f, -2.499_999_4e-1);
    p = fma::<FMA>(p, f, 3.333_333_1e-1);
    let mut y = f * z * p;
    y = fma::<FMA>(ef, LN2_LO, y);
    y = fma::<FMA>(z, -0.5, y);
    fma::<FMA>(ef, LN2_HI, f + y)
}

/// `ln s` for `s ∈ [1, 2]` or NaN (the `ln(e^-m + e^(-x-m))` of BCE-with-logits,
/// where one term is exactly 1 and the other in (0, 1]): [`ln`] without the
/// exponent extraction and the special cases it cannot meet. Same polynomial,
/// same accuracy.
#[inline(always)]
pub fn ln_1_2<const FMA: bool>(s: f32) -> f32 {
    let big = s > std::f32::consts::SQRT_2;
    let m = select(big, s * 0.5, s);
    let ef = select(big, 1.0, 0.0);
    let f = m - 1.0;
    ln_reduced::<FMA>(f, ef)
}

/// `ln(1 + y)` in float32, at most 2 ULP from the correctly rounded result for
/// `y > -1` (tested against `f64::ln_1p`): `u = 1 + y` is rounded, so
/// `ln_1p(y) = ln(u) + c / u` where `c` is the rounding error of `u`, computed
/// exactly (fdlibm's correction).
#[inline(always)]
pub fn ln_1p<const FMA: bool>(y: f32) -> f32 {
    let u = 1.0 + y;
    let c = select(u >= 2.0, 1.0 - (u - y), y - (u - 1.0));
    let v = ln::<FMA>(u) + c / u;
    let v = select(u == f32::INFINITY, f32::INFINITY, v);
    let v = select(u == 0.0, f32::NEG_INFINITY, v);
    select((u < 0.0) | y.is_nan(), f32::NAN, v)
}

/// `ln(1 - x)` for `x ∈ [0, 1]` (BCE's second logarithm): `u = 1 - x` is
/// rounded, its rounding error `c = (1 - u) - x` is exact, and
/// `ln(1 - x) = ln u + c/u`, with `1/u` replaced by `2 - u`: the correction is
/// tiny except where `u ≈ 1`, and there `2 - u ≈ 1/u` to second order — no
/// division. Within 2 ULP on [0, 1] (tested); NaN propagates, `ln_1m(1) = -inf`.
#[inline(always)]
pub fn ln_1m<const FMA: bool>(x: f32) -> f32 {
    select(x == 1.0, f32::NEG_INFINITY, ln_1m_unit::<FMA>(x))
}

/// [`ln_1m`] for BCE's validated `x ∈ [0, 1]`, as [`ln_unit`]: about −104 at
/// `x = 1`, which BCE's −100 clamp maps to −100 as it would −inf.
#[inline(always)]
pub fn ln_1m_unit<const FMA: bool>(x: f32) -> f32 {
    let u = 1.0 - x;
    let c = (1.0 - u) - x;
    fma::<FMA>(c, 2.0 - u, ln_unit::<FMA>(u))
}

// ---------------------------------------------------------------------------
// Row primitives (softmax family)
// ---------------------------------------------------------------------------

/// Largest element, NaN ignored; `-inf` for an empty row. Four independent
/// vector accumulators, so the loop is not bound by the latency of one `max`.
#[inline(always)]
pub fn max<const L: usize>(x: &[f32]) -> f32 {
    let mut acc = [[f32::NEG_INFINITY; L]; 4];
    let mut chunks = x.chunks_exact(4 * L);
    for c in &mut chunks {
        for j in 0..4 {
            for i in 0..L {
                let v = c[j * L + i];
                acc[j][i] = select(v > acc[j][i], v, acc[j][i]);
            }
        }
    }
    let mut m = f32::NEG_INFINITY;
    for &v in chunks.remainder().iter().chain(acc.iter().flatten()) {
        m = select(v > m, v, m);
    }
    m
}

/// Asks for the cache line at `p` to be brought into L2 (a hint: never faults,
/// a no-op off x86-64). Used to stream the next softmax row in from memory while
/// the current one is computed from cache, and CTC's strided rows.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it does not dereference `p`.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T1 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[inline(always)]
fn hsum<const L: usize>(acc: &[f32; L]) -> f64 {
    let mut s = 0.0f64;
    for &v in acc {
        s += f64::from(v);
    }
    s
}

/// `sum(exp(x - m))`, with `f32` lane sums per block added into an `f64`
/// (two vector accumulators per block). When `next` is not null, the
/// `x.len()` floats at `next` (the next row) are prefetched along the way.
#[inline(always)]
pub fn sum_exp<const L: usize, const FMA: bool>(x: &[f32], m: f32, next: *const f32) -> f64 {
    let mut total = 0.0f64;
    let pf = !next.is_null();
    for (b, block) in x.chunks(BLOCK).enumerate() {
        let mut acc = [[0.0f32; L]; 2];
        let mut chunks = block.chunks_exact(2 * L);
        let mut off = b * BLOCK;
        for c in &mut chunks {
            if pf {
                // Spread out, one hint per cache line consumed, so the hardware
                // keeps them all in flight.
                for j in (0..2 * L).step_by(16) {
                    prefetch(next.wrapping_add(off + j));
                }
            }
            off += 2 * L;
            for j in 0..2 {
                for i in 0..L {
                    acc[j][i] += exp_neg::<FMA>(c[j * L + i] - m);
                }
            }
        }
        for &v in chunks.remainder() {
            acc[0][0] += exp_neg::<FMA>(v - m);
        }
        total += hsum(&acc[0]) + hsum(&acc[1]);
    }
    total
}

/// `g[k] = a·exp(x[k] - m)`, or with `bw = (b, w)` `a·exp(x[k] - m) - b·w[k]`
/// (one rounding, by FMA where the path has it): a softmax-gradient row. The
/// exponentials are recomputed from `x`, which the [`sum_exp`] pass has just
/// brought into cache, rather than stored and read back: writing them and then
/// rescaling them costs more memory traffic than a second `exp` costs compute.
/// The same `exp` as [`sum_exp`], so `g` is consistent with its sum.
///
/// # Safety
/// `x` valid for `n` reads, `g` for `n` writes, `w` (if given) for `n` reads;
/// `g` equal to `x` (each element is read before it is written) or disjoint.
#[inline(always)]
pub unsafe fn exp_scale<const L: usize, const FMA: bool>(
    x: *const f32,
    g: *mut f32,
    n: usize,
    m: f32,
    a: f32,
    bw: Option<(f32, *const f32)>,
) {
    let mut k = 0;
    // SAFETY: every index is below n; the contract covers the rest.
    unsafe {
        while k + L <= n {
            let mut v = [0.0f32; L];
            for i in 0..L {
                v[i] = exp_neg::<FMA>(*x.add(k + i) - m);
            }
            match bw {
                None => {
                    for i in 0..L {
                        *g.add(k + i) = a * v[i];
                    }
                }
                Some((b, w)) => {
                    for i in 0..L {
                        *g.add(k + i) = fma::<FMA>(a, v[i], -(b * *w.add(k + i)));
                    }
                }
            }
            k += L;
        }
        while k < n {
            let v = exp_neg::<FMA>(*x.add(k) - m);
            *g.add(k) = match bw {
                None => a * v,
                Some((b, w)) => fma::<FMA>(a, v, -(b * *w.add(k))),
            };
            k += 1;
        }
    }
}

// ---------------------------------------------------------------------------
// Elementwise losses
// ---------------------------------------------------------------------------

/// Which elementwise loss, for [`elementwise`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// `xlogy(t, t) - t·x`; gradient `-t`.
    Kl,
    /// `exp(t)·(t - x)`; gradient `-exp(t)`.
    KlLogTarget,
    /// `(t-1)·max(ln(1-x), -100) - t·max(ln x, -100)`; gradient `(x-t)/max(x(1-x), ε)`.
    /// NaN loss where `x` or `t` is outside `[0, 1]` or NaN.
    Bce,
    /// `(1-t)·x + m + ln(e^-m + e^(-x-m))`, `m = max(-x, 0)`; gradient `σ(x) - t`.
    BceLogits,
}

impl Loss {
    #[inline(always)]
    const fn from_code(k: u8) -> Self {
        match k {
            0 => Self::Kl,
            1 => Self::KlLogTarget,
            2 => Self::Bce,
            _ => Self::BceLogits,
        }
    }
}

/// PyTorch's BCE gradient epsilon (a float32 `1e-12`).
pub const BCE_EPS: f32 = 1e-12;

/// Loss and gradient (before the upstream scale) of one element.
#[inline(always)]
fn pointwise<const FMA: bool, const K: u8>(x: f32, t: f32) -> (f32, f32) {
    match Loss::from_code(K) {
        Loss::Kl => {
            let xlogy = select(t == 0.0, 0.0, t * ln::<FMA>(t));
            let xlogy = select(t.is_nan(), t, xlogy);
            (xlogy - t * x, -t)
        }
        Loss::KlLogTarget => {
            let et = exp::<FMA>(t);
            (et * (t - x), -et)
        }
        Loss::Bce => {
            // The logarithms have no special cases: they are right for x ∈ [0, 1].
            // An x or t outside [0, 1] (or NaN) gives a NaN loss, so that a
            // forward pass can check the range as it goes.
            let lx = ln_unit::<FMA>(x);
            let l1x = ln_1m_unit::<FMA>(x);
            let lx = select(lx < -100.0, -100.0, lx);
            let l1x = select(l1x < -100.0, -100.0, l1x);
            let l = (t - 1.0) * l1x - t * lx;
            #[allow(clippy::manual_range_contains)] // `&`, not `&&`: no branches in the lane loop
            let valid = (x >= 0.0) & (x <= 1.0) & (t >= 0.0) & (t <= 1.0);
            let l = select(valid, l, f32::NAN);
            let d = (1.0 - x) * x;
            let d = select(d < BCE_EPS, BCE_EPS, d);
            (l, (x - t) / d)
        }
        Loss::BceLogits => {
            // One of e^-m and e^(-x-m) is exactly 1; the other is e^-|x|.
            let m = select(-x > 0.0, -x, 0.0);
            let ax = select(x < 0.0, x, -x); // -|x|
            let e = exp_neg::<FMA>(ax);
            let s = 1.0 + e;
            let l = (1.0 - t) * x + m + ln_1_2::<FMA>(s);
            let sig = select(x < 0.0, e, 1.0) / s;
            (l, sig - t)
        }
    }
}

/// One elementwise loss over `n` elements: writes the per-element loss to `out`
/// and `scale ×` the gradient to `grad` when they are given, and returns the
/// sum of the losses (blocks of `f32` lane sums added into `f64`).
///
/// # Safety
/// `x`, `t` valid for `n` reads; `out`, `grad` (if given) for `n` writes;
/// `grad` may equal `x`, otherwise no output overlaps an input.
#[inline(always)]
pub unsafe fn elementwise<const L: usize, const FMA: bool, const OUT: bool, const GRAD: bool>(
    loss: Loss,
    x: *const f32,
    t: *const f32,
    n: usize,
    out: *mut f32,
    grad: *mut f32,
    scale: f32,
) -> f64 {
    // One monomorphic loop per loss, so that each vectorises on its own.
    // SAFETY: forwarded contract.
    unsafe {
        match loss {
            Loss::Kl => elementwise_k::<L, FMA, OUT, GRAD, 0>(x, t, n, out, grad, scale),
            Loss::KlLogTarget => elementwise_k::<L, FMA, OUT, GRAD, 1>(x, t, n, out, grad, scale),
            Loss::Bce => elementwise_k::<L, FMA, OUT, GRAD, 2>(x, t, n, out, grad, scale),
            Loss::BceLogits => elementwise_k::<L, FMA, OUT, GRAD, 3>(x, t, n, out, grad, scale),
        }
    }
}

#[inline(always)]
unsafe fn elementwise_k<const L: usize, const FMA: bool, const OUT: bool, const GRAD: bool, const K: u8>(
    x: *const f32,
    t: *const f32,
    n: usize,
    out: *mut f32,
    grad: *mut f32,
    scale: f32,
) -> f64 {
    let mut total = 0.0f64;
    let mut s = 0;
    while s < n {
        let e = (s + BLOCK).min(n);
        let mut acc = [0.0f32; L];
        let mut k = s;
        while k + L <= e {
            let mut lv = [0.0f32; L];
            let mut gv = [0.0f32; L];
            for i in 0..L {
                // SAFETY: k + i < n.
                let (l, g) = pointwise::<FMA, K>(unsafe { *x.add(k + i) }, unsafe { *t.add(k + i) });
                lv[i] = l;
                gv[i] = g * scale;
            }
            for i in 0..L {
                acc[i] += lv[i];
                // SAFETY: k + i < n; inputs at k + i were read above.
                unsafe {
                    if OUT {
                        *out.add(k + i) = lv[i];
                    }
                    if GRAD {
                        *grad.add(k + i) = gv[i];
                    }
                }
            }
            k += L;
        }
        while k < e {
            // SAFETY: k < n.
            unsafe {
                let (l, g) = pointwise::<FMA, K>(*x.add(k), *t.add(k));
                acc[0] += l;
                if OUT {
                    *out.add(k) = l;
                }
                if GRAD {
                    *grad.add(k) = g * scale;
                }
            }
            k += 1;
        }
        total += hsum(&acc);
        s = e;
    }
    total
}

// ---------------------------------------------------------------------------
// Short rows (softmax over few classes): lanes = rows
// ---------------------------------------------------------------------------

/// Rows per tile of the short-row kernels.
pub const TILE: usize = 16;
/// Longest row the short-row kernels take.
pub const SMALL_C: usize = 32;

/// For a tile of `rows ≤ TILE` contiguous rows of `c ≤ SMALL_C` elements:
/// per row its max `m`, `s = sum(exp(x - m))` and `ln s`, and the
/// exponentials stored transposed (`e[k * TILE + row]`). Rows shorter than a
/// vector would leave lanes idle; here one lane works on one row, so a (32, 10)
/// batch is a few vector operations.
///
/// # Safety
/// `rows ≤ TILE`, `1 ≤ c ≤ SMALL_C`; `x` valid for `rows * c` reads; `e` for
/// `SMALL_C * TILE` writes; `m`, `s`, `ln_s` for `TILE` writes.
#[inline(always)]
pub unsafe fn small_stats<const FMA: bool>(
    x: *const f32,
    rows: usize,
    c: usize,
    e: *mut f32,
    m: *mut f32,
    s: *mut f32,
    ln_s: *mut f32,
) {
    debug_assert!(rows <= TILE && c <= SMALL_C, "small_stats: tile of {rows} x {c}");
    // SAFETY: per the contract.
    unsafe {
        // Transpose into `e` (column k of the tile at e[k * TILE..]); lanes past
        // `rows` hold 0. The exponentials then overwrite it column by column.
        for k in 0..c {
            let mut col = [0.0f32; TILE];
            for (l, v) in col.iter_mut().enumerate().take(rows) {
                *v = *x.add(l * c + k);
            }
            std::ptr::copy_nonoverlapping(col.as_ptr(), e.add(k * TILE), TILE);
        }
        small_stats_cols::<FMA>(c, e, m, s, ln_s);
    }
}

/// [`small_stats`] after the transpose: `e` holds the tile's `c` columns.
///
/// # Safety
/// As [`small_stats`], with `e` holding `c · TILE` values.
#[inline(always)]
pub unsafe fn small_stats_cols<const FMA: bool>(
    c: usize,
    e: *mut f32,
    m: *mut f32,
    s: *mut f32,
    ln_s: *mut f32,
) {
    // SAFETY: per the contract.
    unsafe {
        let mut mx = [f32::NEG_INFINITY; TILE];
        for k in 0..c {
            for l in 0..TILE {
                let v = *e.add(k * TILE + l);
                mx[l] = select(v > mx[l], v, mx[l]);
            }
        }
        let mut sum = [0.0f32; TILE];
        for k in 0..c {
            let mut ev = [0.0f32; TILE];
            std::ptr::copy_nonoverlapping(e.add(k * TILE), ev.as_mut_ptr(), TILE);
            for l in 0..TILE {
                ev[l] = exp_neg::<FMA>(ev[l] - mx[l]);
                sum[l] += ev[l];
            }
            std::ptr::copy_nonoverlapping(ev.as_ptr(), e.add(k * TILE), TILE);
        }
        let mut ls = [0.0f32; TILE];
        for l in 0..TILE {
            ls[l] = ln::<FMA>(sum[l]);
        }
        std::ptr::copy_nonoverlapping(mx.as_ptr(), m, TILE);
        std::ptr::copy_nonoverlapping(sum.as_ptr(), s, TILE);
        std::ptr::copy_nonoverlapping(ls.as_ptr(), ln_s, TILE);
    }
}

/// `g[r * c + k] = a[r] * e[k * TILE + r]`: the gradient rows of a tile from
/// the stored exponentials of [`small_stats`].
///
/// # Safety
/// `g` valid for `rows * c` writes; `e`, `a` as written by [`small_stats`] /
/// the caller.
#[inline(always)]
pub unsafe fn small_grad(g: *mut f32, rows: usize, c: usize, e: *const f32, a: *const f32) {
    // SAFETY: per the contract.
    unsafe {
        for k in 0..c {
            let mut v = [0.0f32; TILE];
            for l in 0..TILE {
                v[l] = *a.add(l) * *e.add(k * TILE + l);
            }
            for (r, &val) in v.iter().enumerate().take(rows) {
                *g.add(r * c + k) = val;
            }
        }
    }
}
