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
/// kept). `x < −800` gives 0, `−∞` gives 0, NaN gives NaN.
#[inline(always)]
#[must_use]
pub fn exp<const F: bool>(x: f64) -> f64 {
    let xc = sel(x < -800.0, -800.0, x);
    let (p, kf) = exp_parts::<F>(xc);
    let v = times_pow2(p, kf);
    let v = sel(x < -800.0, 0.0, v);
    sel(x.is_nan(), x, v)
}

/// `p · 2^k` for an integer-valued `k <= 1023` and `p` in [√½, √2] (or 0),
/// as two exact factors (so a subnormal result is rounded once); `k` below
/// −1100 counts as −1100 (the result is then 0).
#[inline(always)]
fn times_pow2(p: f64, kf: f64) -> f64 {
    let kf = sel(kf < -1100.0, -1100.0, kf);
    // k = kf, read from the shifted sum's low bits (no float-to-int conversion).
    #[allow(clippy::cast_possible_wrap)]
    let k = ((kf + SHIFT).to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64);
    let k1 = k >> 1;
    let k2 = k - k1;
    #[allow(clippy::cast_sign_loss)]
    let s1 = f64::from_bits(((k1 + 1023) as u64) << 52);
    #[allow(clippy::cast_sign_loss)]
    let s2 = f64::from_bits(((k2 + 1023) as u64) << 52);
    p * s1 * s2
}

/// `e^x = p · 2^k` for a finite `x` with `|x·log2 e| < 2^51`: `k` the nearest
/// integer to `x·log2 e` (as an `f64`), `p = e^r`, `r = x − k·ln 2`
/// (`|r| <= ln2/2`, so `p` in [√½, √2]), by a degree-12 Taylor polynomial
/// (error < 2e-17 relative).
#[inline(always)]
fn exp_parts<const F: bool>(x: f64) -> (f64, f64) {
    let shifted = fma::<F>(x, LOG2E, SHIFT);
    let kf = shifted - SHIFT;
    let r = fma::<F>(kf, -LN2_HI, x);
    let r = fma::<F>(kf, -LN2_LO, r);
    let mut p: f64 = 1.0 / 479_001_600.0;
    for d in [39_916_800.0, 3_628_800.0, 362_880.0, 40_320.0, 5_040.0, 720.0, 120.0, 24.0, 6.0, 2.0, 1.0, 1.0]
    {
        p = fma::<F>(p, r, 1.0 / d);
    }
    (p, kf)
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

// ---------------------------------------------------------------------------
// The extended-exponent recursion: each cell is `m · 2^e` with a mantissa `m`
// in [1, 2) (or 0) and its own exponent `e`, an integer held in an `f64`. It
// has log space's range (no cell ever underflows: a zero cell is `m = 0`,
// `e = ZE`) and the probability domain's cost: a label cell is three scalings
// by powers of two (bit operations), two FMAs, a product and a
// renormalisation, a blank cell (two sources) two scalings and one FMA; no
// `exp` or `ln`.

/// The exponent of a zero cell: so far below any real exponent that a
/// difference to it clamps to `2^-1023` = 0.
pub const ZE: f64 = -1e300;
/// Added to a jump's exponent where the jump is not allowed: the term then
/// sits below even a zero cell's [`ZE`] (where the other two sources are 0,
/// a term at `ZE` would tie with them and count).
pub const NO_JUMP: f64 = -1e303;
/// 2^52: adding it to a small integer-valued `f64` puts the integer in the low mantissa bits.
const TWO52: f64 = 4_503_599_627_370_496.0;

/// `2^d` for an integer-valued `d <= 1023`; `d <= -1023` gives 0 (a term that
/// far below the largest of its sum cannot change it).
#[inline(always)]
fn pow2(d: f64) -> f64 {
    let d = sel(d < -1023.0, -1023.0, d);
    // d + 1023 + 2^52 holds d + 1023 in its low bits; shifted up, they become the exponent field.
    f64::from_bits((d + (1023.0 + TWO52)).to_bits() << 52)
}

/// `v >= 0` (normal or 0) as a mantissa in [1, 2) and its unbiased exponent.
#[inline(always)]
fn split(v: f64) -> (f64, f64) {
    let b = v.to_bits();
    let ex = f64::from_bits(0x4330_0000_0000_0000 | (b >> 52)) - (TWO52 + 1023.0);
    let m = f64::from_bits((b & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    (m, ex)
}

/// `(m0·2^e0 + m1·2^e1 + m2·2^e2) · em·2^ee`, renormalised (mantissas in
/// [1, 2) or 0; the largest exponent's term is never 0 unless all are).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn cell<const F: bool>(m0: f64, e0: f64, m1: f64, e1: f64, m2: f64, e2: f64, em: f64, ee: f64) -> (f64, f64) {
    let a = sel(e0 > e1, e0, e1);
    let mx = sel(a > e2, a, e2);
    let v = fma::<F>(m2, pow2(e2 - mx), fma::<F>(m1, pow2(e1 - mx), m0 * pow2(e0 - mx))) * em;
    renormalised(v, mx + ee)
}

/// `(m0·2^e0 + m1·2^e1) · em·2^ee`, renormalised: [`cell`] with two terms.
#[inline(always)]
fn cell2<const F: bool>(m0: f64, e0: f64, m1: f64, e1: f64, em: f64, ee: f64) -> (f64, f64) {
    let mx = sel(e0 > e1, e0, e1);
    let v = fma::<F>(m1, pow2(e1 - mx), m0 * pow2(e0 - mx)) * em;
    renormalised(v, mx + ee)
}

/// `v · 2^e` (`v >= 0` normal or 0) as a mantissa in [1, 2) and its
/// exponent; `(0, ZE)` for 0.
#[inline(always)]
fn renormalised(v: f64, e: f64) -> (f64, f64) {
    let (m, x) = split(v);
    let z = v == 0.0;
    (sel(z, 0.0, m), sel(z, ZE, e + x))
}

/// A row of cells in mantissa / exponent form.
pub struct Row<'a> {
    pub m: &'a [f64],
    pub e: &'a [f64],
}

/// A row being written.
pub struct RowMut<'a> {
    pub m: &'a mut [f64],
    pub e: &'a mut [f64],
}

/// One step's cells: the extended target's blank cells (`l'(2j)`, `j <= S`)
/// and its label cells (`l'(2j + 1)`, `j < S`), each in a row of `S + 1`
/// cells: the label row has one padding cell, at the front for α (label `j`
/// at index `j + 1`), at the end for β (label `j` at index `j`).
pub struct Cells<'a> {
    pub b: Row<'a>,
    pub l: Row<'a>,
}

/// One step's cells being written (see [`Cells`]).
pub struct CellsMut<'a> {
    pub b: RowMut<'a>,
    pub l: RowMut<'a>,
}

/// One step's emission probabilities: the blank's, and the labels' (`lm[j]`,
/// `le[j]` for label `j`), each as mantissa and exponent.
#[derive(Clone, Copy)]
pub struct Probs<'a> {
    pub bm: f64,
    pub be: f64,
    pub lm: &'a [f64],
    pub le: &'a [f64],
}

impl CellsMut<'_> {
    /// A recursion's first step: every cell zero but the two where its paths
    /// start, which hold their probabilities — α: the first blank and the
    /// first label; β: the last blank and the last label.
    pub fn start(mut self, alpha: bool, p: Probs<'_>) {
        let ns = p.lm.len();
        for r in [&mut self.b, &mut self.l] {
            r.m.fill(0.0);
            r.e.fill(ZE);
        }
        let b = if alpha { 0 } else { ns };
        (self.b.m[b], self.b.e[b]) = ext_sum(p.bm, p.be, 0.0, ZE);
        if ns > 0 {
            // Label j sits at index j + 1 in α's rows, at j in β's.
            let (j, at) = if alpha { (0, 1) } else { (ns - 1, ns - 1) };
            (self.l.m[at], self.l.e[at]) = ext_sum(p.lm[j], p.le[j], 0.0, ZE);
        }
    }
}

/// One step of either extended-exponent recursion over a step's [`Cells`]. A
/// blank cell has two sources and the step's one blank probability; a label
/// cell three (the jump from the previous label where it is allowed) and its
/// label's probability.
/// - α (`alpha`): `B[j] = (B'[j] + L'[j − 1])·p(blank)`,
///   `L[j] = (L'[j] + B'[j] + L'[j − 1]·[skip j])·p(y_j)`;
/// - β: `B[j] = (B'[j] + L'[j])·p(blank)`,
///   `L[j] = (L'[j] + B'[j + 1] + L'[j + 1]·[skip j])·p(y_j)`.
///
/// `skip[j]` is 0 where the jump is allowed and [`NO_JUMP`] where not. The
/// label row's padding cell is written as a zero cell.
pub struct ExtStep<'a> {
    pub alpha: bool,
    pub from: Cells<'a>,
    pub to: CellsMut<'a>,
    pub skip: &'a [f64],
    pub p: Probs<'a>,
}

impl LaneKernel for ExtStep<'_> {
    type Out = ();
    #[inline(always)]
    fn run<const FMA: bool, const L: usize>(self) {
        let Self { alpha, from, to, skip, p } = self;
        let n = p.lm.len();
        let w = n + 1;
        let (bm, be) = (&from.b.m[..w], &from.b.e[..w]);
        let (lm, le) = (&from.l.m[..w], &from.l.e[..w]);
        let (tbm, tbe) = (&mut to.b.m[..w], &mut to.b.e[..w]);
        for j in 0..w {
            (tbm[j], tbe[j]) = cell2::<FMA>(bm[j], be[j], lm[j], le[j], p.bm, p.be);
        }
        // (output, near, blank, jump) offsets of label j's cells.
        let (out, near, mid, jump) = if alpha { (1, 1, 0, 0) } else { (0, 0, 1, 1) };
        let (skip, pm, pe) = (&skip[..n], &p.lm[..n], &p.le[..n]);
        let (nm, ne) = (&lm[near..near + n], &le[near..near + n]);
        let (mm, me) = (&bm[mid..mid + n], &be[mid..mid + n]);
        let (jm, je) = (&lm[jump..jump + n], &le[jump..jump + n]);
        let pad = if alpha { 0 } else { n };
        to.l.m[pad] = 0.0;
        to.l.e[pad] = ZE;
        let (tm, te) = (&mut to.l.m[out..out + n], &mut to.l.e[out..out + n]);
        for j in 0..n {
            (tm[j], te[j]) = cell::<FMA>(nm[j], ne[j], mm[j], me[j], jm[j], je[j] + skip[j], pm[j], pe[j]);
        }
    }
}

/// `m1·2^e1 + m2·2^e2` in extended form (renormalised; `(0, ZE)` for 0);
/// with `(m2, e2) = (0, ZE)`, renormalises `m1·2^e1`.
#[must_use]
pub fn ext_sum(m1: f64, e1: f64, m2: f64, e2: f64) -> (f64, f64) {
    cell2::<false>(m1, e1, m2, e2, 1.0, 0.0)
}

/// Runs an [`ExtStep`].
pub fn ext_step(k: ExtStep<'_>) {
    simd::run(k);
}

/// Emission probabilities of a row of cells: one for all (the blank's) or
/// one per cell (the labels'), each as mantissa and exponent.
#[derive(Clone, Copy)]
pub enum Emission<'a> {
    One(f64, f64),
    Each(&'a [f64], &'a [f64]),
}

/// A step's occupation terms `r[s] = α_t(s)·β_t(s) / (p_t(l'(s))·P)` over a
/// row of cells, each in [0, 1] (over all cells they sum to 1): `a`, `b` the
/// cells' α and β, `p` their emission probabilities, `ipm`/`pe` the inverse
/// mantissa and the exponent of `P`.
pub struct Occupancy<'a> {
    pub a: Row<'a>,
    pub b: Row<'a>,
    pub p: Emission<'a>,
    pub ipm: f64,
    pub pe: f64,
    pub r: &'a mut [f64],
}

#[inline(always)]
fn occupancy_with(k: Occupancy<'_>, p: impl Fn(usize) -> (f64, f64)) {
    let n = k.r.len();
    let (am, ae, bm, be) = (&k.a.m[..n], &k.a.e[..n], &k.b.m[..n], &k.b.e[..n]);
    for s in 0..n {
        let (em, ee) = p(s);
        let d = ae[s] + be[s] - ee - k.pe;
        let v = am[s] * bm[s] * k.ipm * pow2(sel(d > 1023.0, 1023.0, d)) / em;
        // A zero probability has zero α and β: its term is 0 (not 0/0).
        k.r[s] = sel(em == 0.0, 0.0, v);
    }
}

impl LaneKernel for Occupancy<'_> {
    type Out = ();
    #[inline(always)]
    fn run<const FMA: bool, const L: usize>(self) {
        match self.p {
            Emission::One(m, e) => occupancy_with(self, |_| (m, e)),
            Emission::Each(m, e) => {
                let n = self.r.len();
                let (m, e) = (&m[..n], &e[..n]);
                occupancy_with(self, |s| (m[s], e[s]));
            }
        }
    }
}

/// Runs an [`Occupancy`].
pub fn occupancy(k: Occupancy<'_>) {
    simd::run(k);
}

/// The emission probabilities `e^lp` in extended form: `m` (mantissa in
/// [√½, √2], 0 for `lp = −∞`) and `e` (exponent, [`ZE`] for `lp = −∞`).
/// Returns whether every `lp` is in the form's range: `−∞` or finite in
/// [−1e9, 700] (else the caller takes the log-space recursion).
pub struct Emit<'a> {
    pub lp: &'a [f64],
    pub m: &'a mut [f64],
    pub e: &'a mut [f64],
}

impl LaneKernel for Emit<'_> {
    type Out = bool;
    #[inline(always)]
    fn run<const FMA: bool, const L: usize>(self) -> bool {
        let n = self.lp.len();
        let (lp, m, e) = (&self.lp[..n], &mut self.m[..n], &mut self.e[..n]);
        let mut bad = 0u64;
        for k in 0..n {
            let x = lp[k];
            let zero = x == f64::NEG_INFINITY;
            bad |= u64::from(!(zero || (-1e9..=700.0).contains(&x)));
            let (p, kf) = exp_parts::<FMA>(sel(zero, 0.0, x));
            m[k] = sel(zero, 0.0, p);
            e[k] = sel(zero, ZE, kf);
        }
        bad == 0
    }
}

/// Runs an [`Emit`].
pub fn emit(k: Emit<'_>) -> bool {
    simd::run(k)
}

/// `em[j] = m[idx[j]]`, `ee[j] = e[idx[j]]`: a step's emission probabilities
/// of the target's labels, from its row of classes.
///
/// # Safety
/// Every index must be below `m.len()` and `e.len()`.
pub unsafe fn gather(m: &[f64], e: &[f64], idx: &[u32], em: &mut [f64], ee: &mut [f64]) {
    let n = idx.len();
    let (em, ee) = (&mut em[..n], &mut ee[..n]);
    for j in 0..n {
        let k = idx[j] as usize;
        // SAFETY: the caller's promise.
        unsafe {
            em[j] = *m.get_unchecked(k);
            ee[j] = *e.get_unchecked(k);
        }
    }
}

/// A gradient row from the class sums: `out[k] = e^lp[k] − acc[k]`, with
/// `e^lp` from its extended form (`m`, `e`, as [`Emit`] wrote them; the same
/// bits as [`exp`] of `lp`).
pub struct GradAcc<'a> {
    pub m: &'a [f64],
    pub e: &'a [f64],
    pub acc: &'a [f64],
    pub out: &'a mut [f64],
}

impl LaneKernel for GradAcc<'_> {
    type Out = ();
    #[inline(always)]
    fn run<const FMA: bool, const L: usize>(self) {
        let n = self.out.len();
        let (m, e, acc) = (&self.m[..n], &self.e[..n], &self.acc[..n]);
        for k in 0..n {
            self.out[k] = times_pow2(m[k], e[k]) - acc[k];
        }
    }
}

/// Runs a [`GradAcc`].
pub fn grad_acc(k: GradAcc<'_>) {
    simd::run(k);
}

#[cfg(test)]
mod tests {
    use super::{cell, exp as exp_f, ext_sum, ln as ln_f, pow2, split, NO_JUMP, ZE};
    use losskit_math::simd::{self, LaneKernel};

    #[test]
    fn extended_form_helpers() {
        for d in -1022..=1023 {
            assert_eq!(pow2(f64::from(d)), 2f64.powi(d), "2^{d}");
        }
        for d in [-1023.0, -1024.0, -5000.0, ZE, 2.0 * ZE, NO_JUMP] {
            assert_eq!(pow2(d), 0.0, "2^{d}");
        }
        let mut v = 1e-300;
        while v < 1e300 {
            let (m, x) = split(v);
            assert!((1.0..2.0).contains(&m), "mantissa of {v:e}");
            assert_eq!(m * 2f64.powi(x as i32), v, "{v:e}");
            v *= 3.7;
        }
        // m·2^e with exponents far apart (beyond f64's range) and a third term.
        let (m, e) = cell::<true>(1.5, -5000.0, 1.25, -5001.0, 1.0, -5003.0, 1.0, 10.0);
        let want = 1.5 + 1.25 / 2.0 + 1.0 / 8.0;
        let (wm, wx) = split(want);
        assert_eq!((m, e), (wm, -5000.0 + 10.0 + wx));
        // A term 2^1100 below the others does not count; a zero cell is (0, ZE).
        assert_eq!(cell::<true>(1.0, 0.0, 1.0, -1100.0, 0.0, ZE, 1.0, 0.0), (1.0, 0.0));
        assert_eq!(cell::<true>(0.0, ZE, 0.0, ZE, 0.0, ZE, 1.3, -4.0), (0.0, ZE));
        // A forbidden jump from a live cell, where the other two sources are 0,
        // stays 0 (at ZE it would tie with them and count).
        assert_eq!(cell::<true>(0.0, ZE, 0.0, ZE, 1.5, -7.0 + NO_JUMP, 1.0, 0.0), (0.0, ZE));
        // An emission probability of 0 (lp = −∞) gives a zero cell.
        assert_eq!(cell::<true>(1.5, -3.0, 1.0, -2.0, 0.0, ZE, 0.0, ZE), (0.0, ZE));
        assert_eq!(ext_sum(1.0, 3.0, 1.0, 3.0), (1.0, 4.0));
    }

    #[test]
    fn gradient_rows_take_the_same_exp_as_exp() {
        // GradAcc's e^lp from Emit's extended form is exp(lp), bit for bit,
        // over the form's whole range (subnormal results and 0 included).
        let mut lp = vec![f64::NEG_INFINITY, -1e9, -1e5, -800.0, -745.1, -745.0, -744.9, -708.5, 0.0, 700.0];
        let mut x = -760.0;
        while x < 700.0 {
            lp.push(x);
            x += 0.0137;
        }
        let (mut m, mut e) = (vec![0.0; lp.len()], vec![0.0; lp.len()]);
        assert!(super::emit(super::Emit { lp: &lp, m: &mut m, e: &mut e }));
        let acc = vec![0.0; lp.len()];
        let mut out = vec![0.0; lp.len()];
        super::grad_acc(super::GradAcc { m: &m, e: &e, acc: &acc, out: &mut out });
        // exp on the same ISA path (with or without FMA) as the kernels above.
        let mut want = vec![0.0; lp.len()];
        simd::run(ExpAll { x: &lp, out: &mut want });
        for (k, &x) in lp.iter().enumerate() {
            assert_eq!(out[k].to_bits(), want[k].to_bits(), "e^{x}");
        }
    }

    struct ExpAll<'a> {
        x: &'a [f64],
        out: &'a mut [f64],
    }

    impl LaneKernel for ExpAll<'_> {
        type Out = ();
        fn run<const FMA: bool, const L: usize>(self) {
            for (o, &x) in self.out.iter_mut().zip(self.x) {
                *o = exp_f::<FMA>(x);
            }
        }
    }

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
