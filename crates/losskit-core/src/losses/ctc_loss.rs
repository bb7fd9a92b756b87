//! `F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank,
//! reduction, zero_infinity)`: the connectionist temporal classification loss,
//! with PyTorch's value and gradient formula (which assumes `log_probs` came
//! from a log-softmax: `∂/∂lp[t, c] = e^lp − Σ_{s: l'(s) = c} α_t(s)β_t(s) / (P·e^lp)`).
//!
//! Per sample, parallel over the batch (each sample independent, the batch
//! reduced in order: the same bits for any thread count). Two recursions:
//! - the fast one keeps every cell as a mantissa in [1, 2) and its own binary
//!   exponent (an integer in an `f64`; [`super::ctc_lanes::ExtStep`]), in
//!   SIMD lanes across the extended target, its blank cells and its label
//!   cells in rows of their own: one `exp` per `(t, c)`, then per label cell
//!   three scalings by powers of two (bit operations), two FMAs, a product
//!   and a renormalisation, per blank cell two scalings and one FMA (it has
//!   two sources and the step's one blank probability) — no `exp` or `ln`
//!   per cell; the strided rows of the batch are prefetched;
//! - where it does not apply (a log-probability that is NaN, above 700 or
//!   below −1e9 but not −∞, or an infeasible alignment, `P = 0`), the sample
//!   is computed by the log-space recursion PyTorch uses (log-sum-exp per
//!   cell), vectorised the same way ([`super::ctc_lanes`]).
//!
//! Accuracy: the extended form has log space's range — no cell underflows or
//! overflows, however far a path falls behind the leading ones (a per-step
//! rescaling of the whole row, Graves' method, would lose such paths) — and
//! each cell is a sum of at most three terms times a probability, so it adds
//! a relative error of a few `f64` ulps, as log space's log-sum-exp does.
//! A term more than 2^1022 below the largest of its sum is dropped, where log
//! space's `exp` of the difference underflows to 0 as well. Over `T` steps
//! the error of `ln P` grows at most linearly, ~`T·4e-16`; tested against a
//! plain log-space recursion to 1e-10 relative up to T = 3000 and with
//! log-probabilities down to about −1000, past `f64`'s `exp` range.

use super::ctc_lanes::{self, Cells, CellsMut, Row, RowMut};
use crate::call::{Args, Indices};
use crate::error::{Error, Result};
use crate::par::map_chunks;
use crate::{Real, Reduction};

/// One sample's data, as views into the batch.
struct Sample<'a, T> {
    /// `lp[t·stride + c]`, `t < len`.
    lp: &'a [T],
    stride: usize,
    len: usize,
    /// The extended target `l'`: blank, y1, blank, y2, …, blank.
    ext: &'a [usize],
    blank: usize,
}

/// `ln(e^a + e^b + e^c)` with PyTorch's guard (all −∞ gives −∞).
fn lse3(a: f64, b: f64, c: f64) -> f64 {
    let m = a.max(b).max(c);
    if m == f64::NEG_INFINITY {
        return m;
    }
    ((a - m).exp() + (b - m).exp() + (c - m).exp()).ln() + m
}

fn lse2(a: f64, b: f64) -> f64 {
    lse3(a, b, f64::NEG_INFINITY)
}

impl<T: Real> Sample<'_, T> {
    fn at(&self, t: usize, c: usize) -> f64 {
        self.lp[t * self.stride + c].to_f64()
    }

    /// Whether `l'(s)` may be reached from `l'(s − 2)`: PyTorch's rule, a
    /// different class (a target equal to the blank class is not special).
    fn jumps(&self, s: usize) -> bool {
        s >= 2 && self.ext[s] != self.ext[s - 2]
    }

    /// PyTorch's last-frame quirk: its backward assigns the last frame's two
    /// terms instead of adding them, so where the last label is the blank
    /// class only the label's term counts for it. Whether that applies.
    fn last_overwrites(&self) -> bool {
        let sl = self.ext.len();
        sl > 1 && self.ext[sl - 2] == self.ext[sl - 1]
    }

    /// The log-space recursion (PyTorch's, one log-sum-exp per cell), each
    /// time step vectorised across the extended target
    /// ([`super::ctc_lanes`]): `nll` and, into `grad` (`len × C`,
    /// `grad[t·C + c]`), `∂nll/∂lp` unscaled. `w` holds the scratch.
    #[allow(clippy::many_single_char_names)]
    fn log_space(&self, w: &mut Scratch, grad: Option<&mut [f64]>, c: usize) -> f64 {
        let (tl, sl) = (self.len, self.ext.len());
        let wd = sl + 2;
        let ninf = f64::NEG_INFINITY;
        w.grow(tl, wd);
        let Scratch { alpha, beta, lpg, jump_a, jump_b, ab, acc, .. } = w;
        jump_a.clear();
        jump_a.extend((0..sl).map(|s| if self.jumps(s) { 0.0 } else { ninf }));
        jump_b.clear();
        jump_b.extend((0..sl).map(|s| if s + 2 < sl && self.jumps(s + 2) { 0.0 } else { ninf }));
        lpg.resize(sl, 0.0);
        // α rows are padded at the front: cell s of step t at alpha[t·wd + 2 + s].
        alpha[..wd].fill(ninf);
        alpha[2] = self.at(0, self.blank);
        if sl > 1 {
            alpha[3] = self.at(0, self.ext[1]);
        }
        for t in 1..tl {
            for s in 0..sl {
                lpg[s] = self.at(t, self.ext[s]);
            }
            let (prev, cur) = alpha[(t - 1) * wd..(t + 1) * wd].split_at_mut(wd);
            ctc_lanes::step(ctc_lanes::Step { alpha: true, from: prev, to: cur, skip: jump_a, lp: lpg });
            cur[0] = ninf;
            cur[1] = ninf;
        }
        let last = &alpha[(tl - 1) * wd + 2..tl * wd];
        let nll = -(if sl > 1 { lse2(last[sl - 1], last[sl - 2]) } else { last[0] });
        let Some(grad) = grad else { return nll };
        // β rows are padded at the end: cell s of step t at beta[t·wd + s].
        let lastb = &mut beta[(tl - 1) * wd..tl * wd];
        lastb.fill(ninf);
        lastb[sl - 1] = self.at(tl - 1, self.blank);
        if sl > 1 {
            lastb[sl - 2] = self.at(tl - 1, self.ext[sl - 2]);
        }
        for t in (0..tl - 1).rev() {
            for s in 0..sl {
                lpg[s] = self.at(t, self.ext[s]);
            }
            let (cur, next) = beta[t * wd..(t + 2) * wd].split_at_mut(wd);
            ctc_lanes::step(ctc_lanes::Step { alpha: false, from: next, to: cur, skip: jump_b, lp: lpg });
            cur[sl] = ninf;
            cur[sl + 1] = ninf;
        }
        // Per step, Σ_{s: l'(s) = k} α·β in log space: the terms relative to
        // their maximum, exponentiated in lanes, summed per class.
        ab.resize(sl, 0.0);
        lpg.resize(sl.max(c), 0.0);
        for t in 0..tl {
            let mut m = ninf;
            for s in 0..sl {
                let v = alpha[t * wd + 2 + s] + beta[t * wd + s];
                ab[s] = v;
                m = m.max(v);
            }
            acc.clear();
            acc.resize(c, 0.0);
            if m > ninf {
                ctc_lanes::exps(ctc_lanes::ExpShifted { x: &mut ab[..sl], m });
                for s in 0..sl {
                    acc[self.ext[s]] += ab[s];
                }
                if t == tl - 1 && self.last_overwrites() {
                    acc[self.blank] = ab[sl - 2];
                }
            }
            for k in 0..c {
                lpg[k] = self.at(t, k);
            }
            ctc_lanes::grad(ctc_lanes::GradRow {
                lp: &lpg[..c],
                acc,
                m,
                nll,
                out: &mut grad[t * c..(t + 1) * c],
            });
        }
        nll
    }

    /// The extended-exponent recursion (each cell a mantissa and its own
    /// binary exponent, [`ctc_lanes::ExtStep`]): log space's range and sums,
    /// without an `exp` or `ln` per cell. The blank cells and the label cells
    /// are kept in rows of their own (a blank cell has one probability per
    /// step and two sources). β is kept two rows at a time, each step's
    /// gradient row taken as soon as its β is known. `None` where it does
    /// not apply (an `lp` that is NaN, above 700 or below −1e9 but not −∞,
    /// or `P = 0`, an infeasible alignment): the caller then takes
    /// [`Self::log_space`].
    #[allow(clippy::too_many_lines)]
    fn ext(&self, w: &mut Scratch, grad: Option<&mut [f64]>, c: usize) -> Option<f64> {
        use ctc_lanes::{Emission, ExtStep, Probs, NO_JUMP};
        let tl = self.len;
        // S labels; blank rows of S + 1 cells, label rows of S cells and a padding cell.
        let ns = self.ext.len() / 2;
        let wd = ns + 1;
        w.ext_alpha.grow(tl, wd);
        w.ext_beta.grow(2, wd);
        for v in [&mut w.pm, &mut w.pe, &mut w.lpf] {
            at_least(v, tl * c);
        }
        for v in [&mut w.em, &mut w.ee, &mut w.ab, &mut w.rl, &mut w.jump_a, &mut w.jump_b] {
            at_least(v, wd);
        }
        at_least(&mut w.acc, c);
        let Scratch {
            ext_alpha: alpha,
            ext_beta: beta,
            pm,
            pe,
            lpf,
            jump_a,
            jump_b,
            em,
            ee,
            ab: rb,
            rl,
            acc,
            idx,
            ..
        } = w;
        // The sample's log-probabilities, contiguous in f64 (read once from the
        // strided batch), then their probabilities in extended form.
        for t in 0..tl {
            prefetch_row(self.lp.as_ptr().wrapping_add((t + AHEAD) * self.stride), c);
            let row = &self.lp[t * self.stride..t * self.stride + c];
            for (d, v) in lpf[t * c..(t + 1) * c].iter_mut().zip(row) {
                *d = v.to_f64();
            }
        }
        if !ctc_lanes::emit(ctc_lanes::Emit {
            lp: &lpf[..tl * c],
            m: &mut pm[..tl * c],
            e: &mut pe[..tl * c],
        }) {
            return None;
        }
        // Label j is l'(2j + 1); it may follow label j − 1 directly where the
        // two differ (PyTorch's rule: a label equal to the blank class is not special).
        let label = |j: usize| self.ext[2 * j + 1];
        for j in 0..ns {
            jump_a[j] = if j >= 1 && label(j) != label(j - 1) { 0.0 } else { NO_JUMP };
            jump_b[j] = if j + 1 < ns && label(j + 1) != label(j) { 0.0 } else { NO_JUMP };
        }
        idx.clear();
        #[allow(clippy::cast_possible_truncation)]
        idx.extend((0..ns).map(|j| label(j) as u32));
        assert!(idx.iter().all(|&k| (k as usize) < c), "a label is out of the class range");
        let (em, ee) = (&mut em[..ns], &mut ee[..ns]);
        let blank = self.blank;
        // Step t's emission probabilities: the labels' gathered into em, ee, and the blank's.
        let gather = |t: usize, em: &mut [f64], ee: &mut [f64]| -> (f64, f64) {
            let row = t * c..(t + 1) * c;
            // SAFETY: every index is below C, checked above.
            unsafe { ctc_lanes::gather(&pm[row.clone()], &pe[row], idx, em, ee) };
            (pm[t * c + blank], pe[t * c + blank])
        };
        // α, T rows.
        let (bm, be) = gather(0, em, ee);
        alpha.row_mut(0, wd).start(true, Probs { bm, be, lm: em, le: ee });
        for t in 1..tl {
            let (bm, be) = gather(t, em, ee);
            let (from, to) = alpha.pair(t - 1, t, wd);
            let p = Probs { bm, be, lm: em, le: ee };
            ctc_lanes::ext_step(ExtStep { alpha: true, from, to, skip: &jump_a[..ns], p });
        }
        // P: the last blank and the last label at the last step.
        let last = alpha.row(tl - 1, wd);
        let (p_m, p_e) = ctc_lanes::ext_sum(last.b.m[ns], last.b.e[ns], last.l.m[ns], last.l.e[ns]);
        if p_m <= 0.0 {
            return None;
        }
        let nll = -(p_m.ln() + p_e * std::f64::consts::LN_2);
        let Some(grad) = grad else { return Some(nll) };
        // β two rows at a time (step t in row t mod 2), each step's gradient
        // row taken as soon as its β is known.
        let ipm = 1.0 / p_m;
        for t in (0..tl).rev() {
            let (bm, be) = gather(t, em, ee);
            let p = Probs { bm, be, lm: em, le: ee };
            let cur = t % 2;
            if t == tl - 1 {
                beta.row_mut(cur, wd).start(false, p);
            } else {
                let (from, to) = beta.pair(1 - cur, cur, wd);
                ctc_lanes::ext_step(ExtStep { alpha: false, from, to, skip: &jump_b[..ns], p });
            }
            let (a, b) = (alpha.row(t, wd), beta.row(cur, wd));
            ctc_lanes::occupancy(ctc_lanes::Occupancy {
                a: a.b,
                b: b.b,
                p: Emission::One(bm, be),
                ipm,
                pe: p_e,
                r: &mut rb[..wd],
            });
            // α's label j at index j + 1, β's at j.
            ctc_lanes::occupancy(ctc_lanes::Occupancy {
                a: Row { m: &a.l.m[1..], e: &a.l.e[1..] },
                b: b.l,
                p: Emission::Each(em, ee),
                ipm,
                pe: p_e,
                r: &mut rl[..ns],
            });
            let acc = &mut acc[..c];
            acc.fill(0.0);
            // The blank cells in one sum, then the labels'.
            acc[blank] = crate::rowsum::sum(&rb[..wd]);
            for (&k, &r) in idx.iter().zip(&rl[..ns]) {
                // SAFETY: every label is below C, checked above.
                unsafe { *acc.get_unchecked_mut(k as usize) += r };
            }
            if t == tl - 1 && self.last_overwrites() {
                acc[blank] = rl[ns - 1];
            }
            let row = t * c..(t + 1) * c;
            ctc_lanes::grad_acc(ctc_lanes::GradAcc {
                m: &pm[row.clone()],
                e: &pe[row.clone()],
                acc,
                out: &mut grad[row],
            });
        }
        Some(nll)
    }
}

/// How many rows ahead a sample's strided rows of the batch are prefetched
/// (each row a few cache lines, `N·C` values apart: the hardware's stream
/// prefetcher does not follow them).
const AHEAD: usize = 8;

/// Hints the `c` values at `p` into the cache (a hint: `p` may lie past the data).
fn prefetch_row<T>(p: *const T, c: usize) {
    let per_line = (64 / std::mem::size_of::<T>()).max(1);
    for k in (0..c).step_by(per_line) {
        losskit_math::lanes::prefetch(p.wrapping_add(k));
    }
    losskit_math::lanes::prefetch(p.wrapping_add(c.saturating_sub(1)));
}

/// Grows `v` to at least `n` values.
fn at_least(v: &mut Vec<f64>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

/// Where sample `b`'s target starts in `targets` and its labels.
fn target_of(
    targets: &Indices<'_>,
    padded: Option<usize>,
    offsets: &[usize],
    b: usize,
    len: usize,
    out: &mut Vec<usize>,
) {
    let start = padded.map_or(offsets[b], |s| b * s);
    out.clear();
    #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
    out.extend((start..start + len).map(|i| targets.get(i) as usize));
}

/// Slots: 0 `logProbs` `(T, N, C)` or `(T, C)`, 1 `targets` (padded `(N, S)`
/// or concatenated 1-D; `(S)` for an unbatched call), 2 `inputLengths`,
/// 3 `targetLengths` (`(N)`, or 0-d for an unbatched call). Options:
/// `[blank, zeroInfinity]`.
///
/// # Errors
/// Lengths, classes or `blank` out of range (`RangeError`, naming the
/// sample), shapes that do not fit — all before any work.
#[allow(clippy::too_many_lines, clippy::many_single_char_names)]
pub fn run<T: Real>(mut a: Args<'_, T>) -> Result<f64> {
    let shape = a.shape();
    let (tmax, n, c, unbatched) = match *shape {
        [t, n, c] => (t, n, c, false),
        [t, c] => (t, 1, c, true),
        _ => {
            return Err(Error::value(format!(
                "logProbs must have shape (T, N, C) or (T, C), got [{}]",
                shape.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            )))
        }
    };
    if a.x.len() != tmax * n * c {
        return Err(Error::value("logProbs has a length that does not fit its shape"));
    }
    if tmax * n * c == 0 {
        return Err(Error::value("logProbs is empty (PyTorch rejects an empty CTC input)"));
    }
    let targets = a.indices(1, "targets")?;
    let il = a.indices(2, "inputLengths")?;
    let tlen = a.indices(3, "targetLengths")?;
    for (name, v) in [("inputLengths", &il), ("targetLengths", &tlen)] {
        if v.len() != n {
            return Err(Error::value(format!(
                "{name} has {} values, expected one per sample ({n})",
                v.len()
            )));
        }
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let blank = {
        let b = a.param(0)?;
        if !(b >= 0.0 && b < c as f64 && b.fract() == 0.0) {
            return Err(Error::range(format!("blank = {b} is out of range for {c} classes")));
        }
        b as usize
    };
    let zero_infinity = a.flag(1)?;
    let tshape = a.shapes[1];
    // Padded (N, S) targets, else concatenated (as PyTorch, one unbatched
    // sample's (S) targets are concatenated: S must be its target length).
    let padded = if !unbatched && tshape.len() == 2 { Some(tshape[1]) } else { None };
    if !unbatched && tshape.len() == 2 && tshape[0] != n {
        return Err(Error::value(format!(
            "targets of shape [{}, {}] must have one row per sample ({n})",
            tshape[0], tshape[1]
        )));
    }
    let mut offsets = vec![0usize; n];
    let mut total = 0usize;
    #[allow(clippy::cast_possible_wrap)]
    for b in 0..n {
        let li = il.get(b);
        let lt = tlen.get(b);
        if li < 0 || li > tmax as i64 {
            return Err(Error::range(format!(
                "inputLengths[{b}] = {li} is out of range: it must be in [0, {tmax}] (T)"
            )));
        }
        if lt < 0 {
            return Err(Error::range(format!("targetLengths[{b}] = {lt} is out of range: it must be >= 0")));
        }
        #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
        let lt = lt as usize;
        if let Some(s) = padded {
            if lt > s {
                return Err(Error::range(format!(
                    "targetLengths[{b}] = {lt} is out of range: the targets have {s} per sample"
                )));
            }
        }
        offsets[b] = total;
        total += lt;
    }
    if padded.is_none() && total > targets.len() {
        return Err(Error::range(format!(
            "targetLengths sum to {total}, more than the {} concatenated targets",
            targets.len()
        )));
    }
    if padded.is_none() && total != targets.len() {
        return Err(Error::value(format!(
            "targetLengths sum to {total} but the concatenated targets hold {} (PyTorch requires them equal)",
            targets.len()
        )));
    }
    for b in 0..n {
        #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
        let lt = tlen.get(b) as usize;
        let start = padded.map_or(offsets[b], |s| b * s);
        for i in start..start + lt {
            let k = targets.get(i);
            #[allow(clippy::cast_possible_wrap)]
            if k < 0 || k >= c as i64 {
                return Err(Error::range(format!(
                    "targets[{i}] = {k} (sample {b}) is out of range for {c} classes"
                )));
            }
        }
    }
    let out = a.take_out(n)?;
    let reduction = a.reduction;
    if reduction == Reduction::BatchMean {
        return Err(Error::value("reduction 'batchmean' is only valid for klDiv"));
    }
    #[allow(clippy::cast_precision_loss)]
    let nf = n as f64;
    let scale = a.grad_scale(1.0);
    let x = &a.x;
    let has_grad = x.has_grad();
    // Each sample: its loss and (with a gradient) its rows of the gradient.
    let per_sample = |b: usize, bufs: &mut Bufs, tgt: &mut Vec<usize>, ext: &mut Vec<usize>| -> f64 {
        #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
        let (li, lt) = (il.get(b) as usize, tlen.get(b) as usize);
        target_of(&targets, padded, &offsets, b, lt, tgt);
        let sl = 2 * lt + 1;
        ext.clear();
        for s in 0..sl {
            ext.push(if s % 2 == 0 { blank } else { tgt[s / 2] });
        }
        // SAFETY: the whole input is readable until this sample's gradient
        // rows are written, below; samples own disjoint rows (t, b, ·).
        let lp = unsafe { std::slice::from_raw_parts(x.x_ptr().add(b * c), tmax * n * c - b * c) };
        let smp = Sample { lp, stride: n * c, len: li, ext, blank };
        let (nll, grad_ok) = if li == 0 {
            // PyTorch ≥ 2.4: loss 0 for an empty target, else infinity; zero gradient.
            (if lt == 0 { 0.0 } else { f64::INFINITY }, false)
        } else {
            at_least(&mut bufs.grad, li * c);
            let need = li * c;
            let g = if has_grad { Some(&mut bufs.grad[..need]) } else { None };
            let nll = match smp.ext(&mut bufs.rec, g, c) {
                Some(v) => v,
                None => {
                    let g = if has_grad { Some(&mut bufs.grad[..need]) } else { None };
                    smp.log_space(&mut bufs.rec, g, c)
                }
            };
            (nll, has_grad)
        };
        let zeroed = zero_infinity && nll == f64::INFINITY;
        let loss = if zeroed { 0.0 } else { nll };
        if has_grad {
            #[allow(clippy::cast_precision_loss)]
            let g = match reduction {
                Reduction::None => scale.at(b),
                Reduction::Sum => scale.at(0),
                _ => scale.at(0) / (nf * (lt.max(1) as f64)),
            };
            let rows = if grad_ok && !zeroed { li } else { 0 };
            for t in 0..tmax {
                let at = (t * n + b) * c;
                prefetch_row(x.g_ptr().wrapping_add(at + AHEAD * n * c).cast_const(), c);
                if t < rows {
                    for (k, &v) in bufs.grad[t * c..(t + 1) * c].iter().enumerate() {
                        // SAFETY: (t, b, k) is this sample's element; it was read above.
                        unsafe { x.set_g(at + k, T::from_f64(v * g)) };
                    }
                } else {
                    for k in 0..c {
                        // SAFETY: as above.
                        unsafe { x.set_g(at + k, T::from_f64(0.0)) };
                    }
                }
            }
        }
        loss
    };
    // A sample's work in elements' worth: its T·C log-probabilities read and
    // written, and T·(2S + 1) cells forward and backward, each several
    // elements' worth of operations. Sized from the shapes only (the chunks,
    // and so the bits, do not depend on the thread count); a large sample is
    // a chunk of its own, so the samples spread evenly over the threads.
    #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
    let smax = padded.unwrap_or_else(|| (0..n).map(|b| tlen.get(b) as usize).max().unwrap_or(0));
    let sample_cost = tmax * c + tmax * (2 * smax + 1) * 16;
    let losses = map_chunks(n, sample_cost, |bs, be| {
        // Scratch kept per thread across calls: fresh memory for the recursion
        // (megabytes per sample) would cost more in page faults than the work.
        SCRATCH.with(|cell| {
            let mut bufs = cell.take();
            let (mut tgt, mut ext) = (Vec::new(), Vec::new());
            let r = (bs..be).map(|b| per_sample(b, &mut bufs, &mut tgt, &mut ext)).collect::<Vec<f64>>();
            bufs.trim();
            cell.set(bufs);
            r
        })
    });
    let mut sum = 0.0;
    for (b, l) in losses.into_iter().flatten().enumerate() {
        match out {
            // SAFETY: b < n = out.len().
            Some(o) => unsafe { *o.ptr().add(b) = T::from_f64(l) },
            None => {
                #[allow(
                    clippy::cast_sign_loss,
                    clippy::cast_possible_truncation,
                    clippy::cast_precision_loss
                )]
                let d = if reduction == Reduction::Mean { tlen.get(b).max(1) as f64 } else { 1.0 };
                sum += l / d;
            }
        }
    }
    Ok(match reduction {
        Reduction::None => f64::NAN,
        Reduction::Sum => sum,
        _ => sum / nf,
    })
}

thread_local! {
    static SCRATCH: std::cell::Cell<Bufs> = std::cell::Cell::new(Bufs::default());
}

/// Most scratch a thread keeps between calls (bytes); above it the buffers are freed.
const KEEP_BYTES: usize = 64 << 20;

/// The recursions' scratch (see [`Sample::ext`] and [`Sample::log_space`]).
#[derive(Default)]
struct Scratch {
    /// log α, `T` padded rows (log space).
    alpha: Vec<f64>,
    /// log β, `T` padded rows (log space).
    beta: Vec<f64>,
    /// α, `T` rows of cells (extended-exponent form).
    ext_alpha: Grid,
    /// β, two rows of cells (extended-exponent form).
    ext_beta: Grid,
    /// `e^lp` per `(t, c)` in extended form: mantissa and exponent.
    pm: Vec<f64>,
    pe: Vec<f64>,
    /// A step's emission probabilities of the target's labels.
    em: Vec<f64>,
    ee: Vec<f64>,
    /// The target's labels, as `u32`.
    idx: Vec<u32>,
    /// The sample's log-probabilities, `lpf[t·C + c]` (extended-exponent form).
    lpf: Vec<f64>,
    lpg: Vec<f64>,
    jump_a: Vec<f64>,
    jump_b: Vec<f64>,
    /// Occupation terms: log space's α·β, or the blank cells' (extended-exponent form).
    ab: Vec<f64>,
    /// The label cells' occupation terms (extended-exponent form).
    rl: Vec<f64>,
    acc: Vec<f64>,
}

impl Scratch {
    /// Room for `t` steps of `wd` padded cells (log space).
    fn grow(&mut self, t: usize, wd: usize) {
        for v in [&mut self.alpha, &mut self.beta] {
            at_least(v, t * wd);
        }
    }

    /// Bytes held by the buffers that grow with `T`.
    fn bytes(&self) -> usize {
        let vecs = 8 * [&self.alpha, &self.beta, &self.pm, &self.pe, &self.lpf]
            .iter()
            .map(|v| v.capacity())
            .sum::<usize>();
        vecs + self.ext_alpha.bytes()
    }
}

/// Rows of cells in the extended-exponent form ([`ctc_lanes::Cells`]): the
/// blank cells' and the label cells' mantissas and exponents, `wd` cells a row.
#[derive(Default)]
struct Grid {
    bm: Vec<f64>,
    be: Vec<f64>,
    lm: Vec<f64>,
    le: Vec<f64>,
}

impl Grid {
    /// Room for `rows` rows of `wd` cells.
    fn grow(&mut self, rows: usize, wd: usize) {
        for v in [&mut self.bm, &mut self.be, &mut self.lm, &mut self.le] {
            at_least(v, rows * wd);
        }
    }

    fn row(&self, r: usize, wd: usize) -> Cells<'_> {
        let at = r * wd..(r + 1) * wd;
        Cells {
            b: Row { m: &self.bm[at.clone()], e: &self.be[at.clone()] },
            l: Row { m: &self.lm[at.clone()], e: &self.le[at] },
        }
    }

    fn row_mut(&mut self, r: usize, wd: usize) -> CellsMut<'_> {
        let at = r * wd..(r + 1) * wd;
        CellsMut {
            b: RowMut { m: &mut self.bm[at.clone()], e: &mut self.be[at.clone()] },
            l: RowMut { m: &mut self.lm[at.clone()], e: &mut self.le[at] },
        }
    }

    /// Row `from` to read and row `to` (another one) to write.
    fn pair(&mut self, from: usize, to: usize, wd: usize) -> (Cells<'_>, CellsMut<'_>) {
        let [(bm, tbm), (be, tbe), (lm, tlm), (le, tle)] =
            [&mut self.bm, &mut self.be, &mut self.lm, &mut self.le].map(|v| rows_of(v, from, to, wd));
        let from = Cells { b: Row { m: bm, e: be }, l: Row { m: lm, e: le } };
        let to = CellsMut { b: RowMut { m: tbm, e: tbe }, l: RowMut { m: tlm, e: tle } };
        (from, to)
    }

    fn bytes(&self) -> usize {
        8 * [&self.bm, &self.be, &self.lm, &self.le].iter().map(|v| v.capacity()).sum::<usize>()
    }
}

/// Row `from` of `v` to read and row `to` (another one) to write, `wd` values each.
fn rows_of(v: &mut [f64], from: usize, to: usize, wd: usize) -> (&[f64], &mut [f64]) {
    if from < to {
        let (a, b) = v.split_at_mut(to * wd);
        (&a[from * wd..(from + 1) * wd], &mut b[..wd])
    } else {
        let (a, b) = v.split_at_mut(from * wd);
        (&b[..wd], &mut a[to * wd..(to + 1) * wd])
    }
}

/// Per-thread scratch, grown to the largest sample it has seen.
#[derive(Default)]
struct Bufs {
    rec: Scratch,
    /// This sample's gradient, `grad[t·C + c]`.
    grad: Vec<f64>,
}

impl Bufs {
    /// Frees the buffers when they hold more than [`KEEP_BYTES`].
    fn trim(&mut self) {
        let bytes = self.rec.bytes() + 8 * self.grad.capacity();
        if bytes > KEEP_BYTES {
            *self = Self::default();
        }
    }
}
