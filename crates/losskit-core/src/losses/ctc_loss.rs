//! `F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank,
//! reduction, zero_infinity)`: the connectionist temporal classification loss,
//! with PyTorch's value and gradient formula (which assumes `log_probs` came
//! from a log-softmax: `∂/∂lp[t, c] = e^lp − Σ_{s: l'(s) = c} α_t(s)β_t(s) / (P·e^lp)`).
//!
//! Per sample, parallel over the batch (each sample independent, the batch
//! reduced in order: the same bits for any thread count). Two recursions:
//! - the fast one runs in the probability domain, in `f64`, each time step
//!   rescaled to sum 1 (its log kept): one `exp` per `(t, c)`, then only
//!   multiplications and additions per cell;
//! - where a step's sum is 0 or not finite (an infeasible alignment), or a
//!   cell or probability falls below `f64`'s normal range, the sample is
//!   recomputed by the log-space recursion PyTorch uses (log-sum-exp per
//!   cell), vectorised across the extended target ([`super::ctc_lanes`]),
//!   which is exact there too.
//!
//! Accuracy: every cell of the fast recursion is a sum of at most three
//! non-negative terms times a probability, then one multiplication by the
//! step's inverse sum, so each step adds a relative error of a few `f64` ulps
//! (~1e-16); over `T` steps the error of `ln P` grows at most linearly,
//! ~`T·4e-16` (4e-13 at T = 1000), far below float32's and below the float64
//! tests' 1e-9 (tested to 1e-10 up to T = 3000). What the probability domain
//! cannot do is keep a path more than ~e^708 behind the leading ones — in log
//! space it survives and may catch up. So any cell that is not 0 but falls
//! below `f64`'s normal range, or any probability that does, sends the sample
//! to the log-space recursion: the fast path never drops a term.

use super::ctc_lanes;
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
        w.grow(tl, wd, c);
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

    /// The probability-domain recursion with per-step rescaling; `None` when a
    /// step's sum is 0 or not finite (the caller then takes the log-space one).
    /// `ep` is scratch of `len · C` (the probabilities), `alpha`/`beta` of
    /// `len · (2S + 1)`.
    fn scaled(
        &self,
        ep: &mut [f64],
        alpha: &mut [f64],
        beta: &mut [f64],
        grad: Option<&mut [f64]>,
        c: usize,
    ) -> Option<f64> {
        let (tl, sl) = (self.len, self.ext.len());
        const TINY: f64 = f64::MIN_POSITIVE;
        for t in 0..tl {
            for k in 0..c {
                let lp = self.at(t, k);
                let e = lp.exp();
                // A probability below f64's normal range (but not an exact 0,
                // lp = −∞): only the log-space recursion keeps it.
                if e < TINY && lp > f64::NEG_INFINITY {
                    return None;
                }
                ep[t * c + k] = e;
            }
        }
        let mut log_p = 0.0;
        alpha[..sl].fill(0.0);
        alpha[0] = ep[self.blank];
        if sl > 1 {
            alpha[1] = ep[self.ext[1]];
        }
        // Rescales a step to sum 1. A cell that is not 0 but falls below f64's
        // normal range (a path far behind the leading ones, which may yet
        // catch up) would be lost: the sample then takes the log-space path.
        let norm = |row: &mut [f64], log_p: &mut f64| -> Option<()> {
            let sum: f64 = row.iter().sum();
            if !(sum > 0.0 && sum.is_finite()) {
                return None;
            }
            let inv = 1.0 / sum;
            let mut lost = false;
            for v in row.iter_mut() {
                let w = *v * inv;
                lost |= *v > 0.0 && w < TINY;
                *v = w;
            }
            *log_p += sum.ln();
            if lost {
                None
            } else {
                Some(())
            }
        };
        norm(&mut alpha[..sl], &mut log_p)?;
        for t in 1..tl {
            let (prev, cur) = alpha[(t - 1) * sl..(t + 1) * sl].split_at_mut(sl);
            let e = &ep[t * c..(t + 1) * c];
            for s in 0..sl {
                let mut v = prev[s];
                if s > 0 {
                    v += prev[s - 1];
                }
                if self.jumps(s) {
                    v += prev[s - 2];
                }
                let w = v * e[self.ext[s]];
                if v > 0.0 && w < TINY && e[self.ext[s]] > 0.0 {
                    return None;
                }
                cur[s] = w;
            }
            norm(cur, &mut log_p)?;
        }
        let last = &alpha[(tl - 1) * sl..tl * sl];
        let end = if sl > 1 { last[sl - 1] + last[sl - 2] } else { last[0] };
        if end.is_nan() || end <= 0.0 {
            return None;
        }
        let nll = -(end.ln() + log_p);
        let Some(grad) = grad else { return Some(nll) };
        // β, rescaled per step the same way (its scale is not needed: the
        // gradient only uses α_t·β_t normalised over s at each t).
        beta[..tl * sl].fill(0.0);
        let e = &ep[(tl - 1) * c..tl * c];
        beta[(tl - 1) * sl + sl - 1] = e[self.blank];
        if sl > 1 {
            beta[(tl - 1) * sl + sl - 2] = e[self.ext[sl - 2]];
        }
        let mut scratch = 0.0;
        norm(&mut beta[(tl - 1) * sl..tl * sl], &mut scratch)?;
        for t in (0..tl - 1).rev() {
            let (cur, next) = beta[t * sl..(t + 2) * sl].split_at_mut(sl);
            let e = &ep[t * c..(t + 1) * c];
            for s in 0..sl {
                let mut v = next[s];
                if s + 1 < sl {
                    v += next[s + 1];
                }
                if s + 2 < sl && self.jumps(s + 2) {
                    v += next[s + 2];
                }
                let w = v * e[self.ext[s]];
                if v > 0.0 && w < TINY && e[self.ext[s]] > 0.0 {
                    return None;
                }
                cur[s] = w;
            }
            norm(cur, &mut scratch)?;
        }
        // ∂nll/∂lp[t, c] = e^lp − Σ_{s∈c} α_t(s)β_t(s)/p_t(c) / Σ_s α_t(s)β_t(s)/p_t(l'(s)).
        let mut acc = vec![0.0; c];
        for t in 0..tl {
            acc.fill(0.0);
            let e = &ep[t * c..(t + 1) * c];
            let mut z = 0.0;
            for s in 0..sl {
                let k = self.ext[s];
                let r = alpha[t * sl + s] * beta[t * sl + s] / e[k];
                acc[k] += r;
                z += r;
            }
            if !(z > 0.0 && z.is_finite()) {
                return None;
            }
            if t == tl - 1 && self.last_overwrites() {
                let s = sl - 2;
                acc[self.blank] = alpha[t * sl + s] * beta[t * sl + s] / e[self.blank];
            }
            let iz = 1.0 / z;
            for k in 0..c {
                grad[t * c + k] = e[k] - acc[k] * iz;
            }
        }
        Some(nll)
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
            if bufs.grad.len() < li * c {
                bufs.grad.resize(li * c, 0.0);
            }
            let need = li * c;
            if bufs.rec.ep.len() < need {
                bufs.rec.ep.resize(need, 0.0);
            }
            bufs.rec.grow(li, sl + 2, c);
            let r = &mut bufs.rec;
            let g = if has_grad { Some(&mut bufs.grad[..need]) } else { None };
            let fast = smp.scaled(&mut r.ep, &mut r.alpha, &mut r.beta, g, c);
            let nll = match fast {
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
            for t in 0..tmax {
                for k in 0..c {
                    let v = if grad_ok && !zeroed && t < li { bufs.grad[t * c + k] * g } else { 0.0 };
                    // SAFETY: (t, b, k) is this sample's element; it was read above.
                    unsafe { x.set_g((t * n + b) * c + k, T::from_f64(v)) };
                }
            }
        }
        loss
    };
    let losses = map_chunks(n, tmax * c, |bs, be| {
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

/// The recursion's scratch (see [`Sample::log_space`]).
#[derive(Default)]
struct Scratch {
    ep: Vec<f64>,
    alpha: Vec<f64>,
    beta: Vec<f64>,
    lpg: Vec<f64>,
    jump_a: Vec<f64>,
    jump_b: Vec<f64>,
    ab: Vec<f64>,
    acc: Vec<f64>,
}

impl Scratch {
    /// Room for `t` steps of `wd` padded cells.
    fn grow(&mut self, t: usize, wd: usize, _c: usize) {
        for v in [&mut self.alpha, &mut self.beta] {
            if v.len() < t * wd {
                v.resize(t * wd, 0.0);
            }
        }
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
        let bytes = 8 * (self.rec.alpha.capacity() + self.rec.beta.capacity() + self.grad.capacity());
        if bytes > KEEP_BYTES {
            *self = Self::default();
        }
    }
}
