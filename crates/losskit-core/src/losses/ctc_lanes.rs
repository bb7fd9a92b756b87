//! CTC's log-space recursion written to vectorise across the extended target:
//! each time step's cells depend only on the previous step's, so the loop over
//! `s` runs in SIMD lanes (compiled for the machine's ISA through
//! `losskit_math::simd::run`), with branch-free `f64` `exp` and `ln` that are
//! within a few ulps (tested against `std`). This is PyTorch's recursion, one
//! log-sum-exp per cell, without its scalar `exp`/`log` calls.

use losskit_math::simd::{self, LaneKernel};

// ln 2 in two parts (fdlibm's): the high part has trailing zero bits, so k·LN2_HI is exact.
#[allow(clippy::excessive_precision)]
const LN2_HI: f64 = 6.931_471_803_691_238_2e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
const LOG2E: f64 = std::f64::consts::LOG2_E;
/// 1.5·2^52: adding it rounds to an integer held in the low mantissa bits.
const SHIFT: f64 = 6_755_399_441_055_744.0;

/// `a·b + c`, fused where the ISA has FMA (a call into libm elsewhere).
#[inline(always)]
fn fma<const F: bool>(a: f64, b: f64, c: f64) -> f64 {
    if F {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[inline(always)]
fn sel(c: bool, a: f64, b: f64) -> f64 {
    if c {
        a
    } else {
        b
    }
}

/// `e^x` for `x <= ~0.5` (the arguments here are differences to a maximum):
/// `x = k·ln2 + r`, a degree-12 Taylor polynomial for `e^r` (`|r| <= ln2/2`,
/// error < 2e-17 relative), `2^k` as two exact factors (subnormal results
/// kept). `x < −745` gives 0, `−∞` gives 0, NaN gives NaN.
#[inline(always)]
#[must_use]
pub fn exp<const F: bool>(x: f64) -> f64 {
    let xc = sel(x < -745.0, -745.0, x);
    let shifted = fma::<F>(xc, LOG2E, SHIFT);
    let kf = shifted - SHIFT;
    let r = fma::<F>(kf, -LN2_HI, xc);
    let r = fma::<F>(kf, -LN2_LO, r);
    let mut p: f64 = 1.0 / 479_001_600.0;
    for d in [39_916_800.0, 3_628_800.0, 362_880.0, 40_320.0, 5_040.0, 720.0, 120.0, 24.0, 6.0, 2.0, 1.0, 1.0]
    {
        p = fma::<F>(p, r, 1.0 / d);
    }
    #[allow(clippy::cast_possible_wrap)]
    let k = (shifted.to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64);
    let k1 = k >> 1;
    let k2 = k - k1;
    #[allow(clippy::cast_sign_loss)]
    let s1 = f64::from_bits(((k1 + 1023) as u64) << 52);
    #[allow(clippy::cast_sign_loss)]
    let s2 = f64::from_bits(((k2 + 1023) as u64) << 52);
    let v = p * s1 * s2;
    let v = sel(x < -745.0, 0.0, v);
    sel(x.is_nan(), x, v)
}

/// `ln y` for a positive normal `y` (here a sum of exponentials in `[1, 3]`):
/// `y = m·2^e`, `m ∈ [√½, √2)`, `ln m = 2·atanh(z)`, `z = (m − 1)/(m + 1)`,
/// `|z| <= 0.172`, by its series to `z^23` (error < 1e-17 relative).
#[inline(always)]
#[must_use]
pub fn ln<const F: bool>(y: f64) -> f64 {
    let bits = y.to_bits();
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    // The biased exponent as a float without an integer conversion instruction.
    let eb = f64::from_bits(0x4330_0000_0000_0000 | ((bits >> 52) & 0x7ff)) - 4_503_599_627_370_496.0;
    let big = m > std::f64::consts::SQRT_2;
    let m = sel(big, m * 0.5, m);
    let e = eb - 1023.0 + sel(big, 1.0, 0.0);
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let mut p: f64 = 1.0 / 23.0;
    for d in [21.0, 19.0, 17.0, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0] {
        p = fma::<F>(p, z2, 1.0 / d);
    }
    fma::<F>(e, LN2_HI, fma::<F>(e, LN2_LO, 2.0 * z * p))
}

/// `ln(e^a + e^b + e^c)`, `−∞` when all are `−∞`.
#[inline(always)]
fn lse3<const F: bool>(a: f64, b: f64, c: f64) -> f64 {
    let m = a.max(b).max(c);
    let v = m + ln::<F>(exp::<F>(a - m) + exp::<F>(b - m) + exp::<F>(c - m));
    sel(m == f64::NEG_INFINITY, m, v)
}

/// One α step: `cur[s] = lse(prev[s], prev[s−1], prev[s−2] + skip[s]) + lp[s]`
/// over padded rows (`prev[0..2]` are −∞ and the cells start at index 2;
/// `skip[s]` is 0 where `l'(s)` may follow `l'(s−2)`, else −∞).
#[inline(always)]
fn alpha_step<const F: bool>(prev: &[f64], cur: &mut [f64], skip: &[f64], lp: &[f64]) {
    let n = lp.len();
    let (p0, p1, p2) = (&prev[..n], &prev[1..=n], &prev[2..n + 2]);
    for s in 0..n {
        let v = lse3::<F>(p2[s], p1[s], p0[s] + skip[s]);
        cur[s + 2] = sel(v == f64::NEG_INFINITY, v, v + lp[s]);
    }
}

/// One β step: `cur[s] = lse(next[s], next[s+1], next[s+2] + skip[s]) + lp[s]`
/// over rows padded at the end (`next[n..n+2]` are −∞; `skip[s]` for `s + 2`).
#[inline(always)]
fn beta_step<const F: bool>(next: &[f64], cur: &mut [f64], skip: &[f64], lp: &[f64]) {
    let n = lp.len();
    let (n0, n1, n2) = (&next[..n], &next[1..=n], &next[2..n + 2]);
    for s in 0..n {
        let v = lse3::<F>(n0[s], n1[s], n2[s] + skip[s]);
        cur[s] = sel(v == f64::NEG_INFINITY, v, v + lp[s]);
    }
}

/// `x[i] = exp(x[i] − m)`, in place.
#[inline(always)]
fn exp_shifted<const F: bool>(x: &mut [f64], m: f64) {
    for v in x.iter_mut() {
        *v = exp::<F>(*v - m);
    }
}

/// One step's gradient row: `out[k] = e^lp[k] − e^(lcab[k] + nll − lp[k])`
/// with `lcab[k] = ln(acc[k]) + m` (−∞ where `acc[k]` is 0).
#[inline(always)]
fn grad_row<const F: bool>(lp: &[f64], acc: &[f64], m: f64, nll: f64, out: &mut [f64]) {
    for k in 0..lp.len() {
        let lcab = sel(acc[k] > 0.0, ln::<F>(acc[k]) + m, f64::NEG_INFINITY);
        out[k] = exp::<F>(lp[k]) - exp::<F>(lcab + nll - lp[k]);
    }
}

/// A step of either recursion, run on the chosen ISA.
pub struct Step<'a> {
    pub alpha: bool,
    pub from: &'a [f64],
    pub to: &'a mut [f64],
    pub skip: &'a [f64],
    pub lp: &'a [f64],
}

impl LaneKernel for Step<'_> {
    type Out = ();
    #[inline(always)]
    fn run<const FMA: bool, const L: usize>(self) {
        if self.alpha {
            alpha_step::<FMA>(self.from, self.to, self.skip, self.lp);
        } else {
            beta_step::<FMA>(self.from, self.to, self.skip, self.lp);
        }
    }
}

/// `x[i] = exp(x[i] − m)` in place, on the chosen ISA.
pub struct ExpShifted<'a> {
    pub x: &'a mut [f64],
    pub m: f64,
}

impl LaneKernel for ExpShifted<'_> {
    type Out = ();
    #[inline(always)]
    fn run<const FMA: bool, const L: usize>(self) {
        exp_shifted::<FMA>(self.x, self.m);
    }
}

/// A gradient row (see [`grad_row`]) on the chosen ISA.
pub struct GradRow<'a> {
    pub lp: &'a [f64],
    pub acc: &'a [f64],
    pub m: f64,
    pub nll: f64,
    pub out: &'a mut [f64],
}

impl LaneKernel for GradRow<'_> {
    type Out = ();
    #[inline(always)]
    fn run<const FMA: bool, const L: usize>(self) {
        grad_row::<FMA>(self.lp, self.acc, self.m, self.nll, self.out);
    }
}

/// Runs [`GradRow`].
pub fn grad(k: GradRow<'_>) {
    simd::run(k);
}

/// Runs a step (see [`Step`]).
pub fn step(k: Step<'_>) {
    simd::run(k);
}

/// Runs [`ExpShifted`].
pub fn exps(k: ExpShifted<'_>) {
    simd::run(k);
}

#[cfg(test)]
mod tests {
    use super::{exp as exp_f, ln as ln_f};
    fn exp(x: f64) -> f64 {
        exp_f::<true>(x)
    }
    fn ln(x: f64) -> f64 {
        ln_f::<true>(x)
    }

    #[test]
    fn exp_and_ln_within_a_few_ulps() {
        let mut worst: f64 = 0.0;
        let mut x = -744.0;
        while x < 0.7 {
            let (got, want) = (exp(x), x.exp());
            if want >= f64::MIN_POSITIVE {
                worst = worst.max(((got - want) / want).abs());
            } else {
                // subnormal results: a few units of the smallest subnormal
                assert!((got - want).abs() <= 4.0 * 5e-324, "exp({x}) = {got:e}, want {want:e}");
            }
            x += 0.000_731;
        }
        assert!(worst < 4e-16, "exp: worst relative error {worst:e}");
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(-800.0), 0.0);
        assert!(exp(f64::NAN).is_nan());
        let mut worst: f64 = 0.0;
        let mut y = 1e-300;
        while y < 1e300 {
            let (got, want) = (ln(y), y.ln());
            worst = worst.max((got - want).abs() / want.abs().max(1.0));
            y *= 1.000_37;
        }
        assert!(worst < 4e-16, "ln: worst error {worst:e}");
        for y in [1.0, 2.0, 3.0, 1.5, std::f64::consts::SQRT_2] {
            assert!((ln(y) - y.ln()).abs() <= 4e-16 * y.ln().abs().max(1.0), "ln({y})");
        }
    }
}
