//! `F.cross_entropy`: log-softmax over the class dimension fused with the
//! negative log-likelihood (class-index targets) or the soft-label cross
//! entropy (class-probability targets), with weights, `ignore_index`, label
//! smoothing and the three reductions. Value and gradient in one pass.
//!
//! Numerics: every row is shifted by its maximum before `exp` (the
//! log-sum-exp trick), so logits of ±1e4 stay exact; the loss is assembled in
//! `f64` as `(m - x_t) + ln(sum exp(x - m))`, and the gradient as
//! `A * exp(x - m) - B`, never through a rounded `lse` (which would lose the
//! low bits of `x - lse` in float32).

use crate::error::{check_len, Error, Result};
use crate::par::{map_chunks, SendPtr};
use crate::softmax::row_stats;
use crate::{Dims, GradOutput, Index, InputGrad, Real, Reduction};
use losskit_math::lanes::{SMALL_C, TILE};

/// Options shared by the class-dimension losses.
#[derive(Clone, Copy, Debug)]
pub struct ClassOptions<'a, T> {
    /// Per-class rescaling weight, length C.
    pub weight: Option<&'a [T]>,
    /// Target value that is ignored (PyTorch: -100).
    pub ignore_index: i64,
    pub reduction: Reduction,
    /// Label smoothing in [0, 1] (cross entropy only).
    pub label_smoothing: f64,
}

impl<T> Default for ClassOptions<'_, T> {
    fn default() -> Self {
        Self { weight: None, ignore_index: -100, reduction: Reduction::Mean, label_smoothing: 0.0 }
    }
}

pub(crate) fn check_common<T: Real>(
    dims: Dims,
    x: &InputGrad<'_, T>,
    weight: Option<&[T]>,
    reduction: Reduction,
    gout: &GradOutput<'_, T>,
    out: Option<&[T]>,
) -> Result<()> {
    check_len("input", x.len(), dims.numel())?;
    if let Some(w) = weight {
        if w.len() != dims.c {
            return Err(Error::value(format!(
                "weight has length {}, expected one weight per class ({})",
                w.len(),
                dims.c
            )));
        }
    }
    if reduction == Reduction::BatchMean {
        return Err(Error::value("reduction 'batchmean' is only valid for klDiv"));
    }
    if reduction == Reduction::None {
        gout.check(dims.positions())?;
        if let Some(o) = out {
            check_len("out", o.len(), dims.positions())?;
        }
    }
    Ok(())
}

/// Validates class-index targets (all of them, before anything is written) and
/// returns the sum of the weights of the non-ignored targets: the `'mean'`
/// denominator.
pub(crate) fn scan_targets<T: Real, I: Index>(
    target: &[I],
    c: usize,
    ignore_index: i64,
    weight: Option<&[T]>,
) -> Result<f64> {
    let parts = map_chunks(target.len(), 1, |s, e| -> std::result::Result<f64, usize> {
        let mut sum = 0.0f64;
        for (j, t) in target[s..e].iter().enumerate() {
            let t = t.to_i64();
            if t == ignore_index {
                continue;
            }
            if t < 0 || t >= c as i64 {
                return Err(s + j);
            }
            #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
            let t = t as usize;
            sum += weight.map_or(1.0, |w| w[t].to_f64());
        }
        Ok(sum)
    });
    let mut total = 0.0;
    for p in parts {
        match p {
            Ok(s) => total += s,
            Err(j) => {
                let what = if target.len() == 1 { "target".to_string() } else { format!("target[{j}]") };
                return Err(Error::range(format!(
                    "{what} = {} is out of range for {c} classes",
                    target[j].to_i64()
                )));
            }
        }
    }
    Ok(total)
}

fn check_smoothing(ls: f64) -> Result<()> {
    if (0.0..=1.0).contains(&ls) {
        Ok(())
    } else {
        Err(Error::range(format!("labelSmoothing = {ls} is out of range: it must be in [0, 1]")))
    }
}

#[inline(always)]
fn scale_for<T: Real>(reduction: Reduction, gout: &GradOutput<'_, T>, denom: f64, p: usize) -> f64 {
    match reduction {
        Reduction::Mean => gout.at(0) / denom,
        Reduction::None => gout.at(p),
        _ => gout.at(0),
    }
}

/// Writes `g_k = a * exp(x_k - m) - b * w_k` (the `b` term only when `bw` is
/// given) for the classes of one position at stride `stride` (contiguous rows
/// use the type's `row_exp_scale` kernel instead).
///
/// # Safety
/// As [`row_stats`], a gradient buffer exists, and this chunk owns the row.
#[inline(always)]
unsafe fn write_grad<T: Real>(
    x: &InputGrad<'_, T>,
    base: usize,
    stride: usize,
    c: usize,
    m: T,
    a: T,
    bw: Option<(T, &[T])>,
) {
    for k in 0..c {
        let i = base + k * stride;
        // SAFETY: per the contract.
        unsafe {
            let v = a * (x.x(i) - m).exp();
            let v = match bw {
                None => v,
                Some((b, w)) => v - b * w[k],
            };
            x.set_g(i, v);
        }
    }
}

#[inline(always)]
fn position(dims: Dims, p: usize) -> (usize, usize) {
    if dims.d == 1 {
        (p * dims.c, 1)
    } else {
        let (n, j) = (p / dims.d, p % dims.d);
        (n * dims.c * dims.d + j, dims.d)
    }
}

/// Cross entropy with class-index targets.
///
/// `x` is the `(N, C, D)` input (with its gradient destination, if any);
/// `target` holds `N·D` class indices. For `'none'` the per-position losses go
/// to `out` (when given). Returns the reduced loss (NaN for `'none'`).
///
/// # Errors
/// Lengths that do not fit `dims`, a target outside `[0, C)` that is not
/// `ignore_index`, `label_smoothing` outside `[0, 1]`. Nothing is written then.
#[allow(clippy::too_many_lines, clippy::cast_precision_loss)]
pub fn cross_entropy_index<T: Real, I: Index>(
    dims: Dims,
    x: &InputGrad<'_, T>,
    target: &[I],
    o: &ClassOptions<'_, T>,
    gout: GradOutput<'_, T>,
    out: Option<&mut [T]>,
) -> Result<f64> {
    check_common(dims, x, o.weight, o.reduction, &gout, out.as_deref())?;
    check_len("target", target.len(), dims.positions())?;
    check_smoothing(o.label_smoothing)?;
    let denom = scan_targets(target, dims.c, o.ignore_index, o.weight)?;
    let c = dims.c;
    let eps = o.label_smoothing;
    let smooth_b = if eps > 0.0 { eps / c as f64 } else { 0.0 };
    let w_total: f64 = o.weight.map_or(c as f64, |w| w.iter().map(|v| v.to_f64()).sum());
    let ones: Vec<T>;
    let w_vec: &[T] = if let Some(w) = o.weight {
        w
    } else if eps > 0.0 && x.has_grad() {
        ones = vec![T::ONE; c];
        &ones
    } else {
        &[]
    };
    let out_ptr = out.map(|o| SendPtr(o.as_mut_ptr()));
    let reduction = o.reduction;
    let ii = o.ignore_index;
    let weight = o.weight;

    if T::HAS_FUSED && dims.d == 1 && (1..=SMALL_C).contains(&c) && eps == 0.0 {
        return Ok(ce_small_rows(dims, x, target, o, &gout, out_ptr, denom));
    }

    // Per chunk: (sum of the NLL terms, sum of the smoothing terms). PyTorch
    // reduces the two separately and then mixes them, so that for instance a
    // 0/0 NLL mean stays NaN even when the smoothing mean is infinite.
    let parts = map_chunks(dims.positions(), c, |s, e| {
        let (mut acc_nll, mut acc_smooth) = (0.0f64, 0.0f64);
        for p in s..e {
            let (base, stride) = position(dims, p);
            let t = target[p].to_i64();
            let ignored = t == ii;
            #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
            let tu = t as usize;
            // The next contiguous row of this chunk, streamed in while this one is
            // computed from cache.
            let next = if stride == 1 && p + 1 < dims.positions() {
                x.x_ptr().wrapping_add(base + c)
            } else {
                std::ptr::null()
            };
            // SAFETY: position() stays within dims, whose numel was checked;
            // every read of the row happens before the gradient below is written
            // over it (gradOut may be the input itself). tu < c was checked by
            // scan_targets.
            let x_t = if ignored { T::ZERO } else { unsafe { x.x(base + tu * stride) } };
            // SAFETY: see above.
            let (m, sum) = unsafe { row_stats(x.x_ptr(), base, stride, c, next) };
            let mut smooth_dm = 0.0f64; // sum_c w_c (m - x_c)
            if !ignored && eps > 0.0 {
                for k in 0..c {
                    let wk = weight.map_or(1.0, |w| w[k].to_f64());
                    // SAFETY: see above.
                    smooth_dm += wk * (m - unsafe { x.x(base + k * stride) }).to_f64();
                }
            }
            let ln_s = sum.ln();
            let (mut nll, mut smooth) = (0.0f64, 0.0f64);
            let mut w_t = 0.0f64;
            if !ignored {
                w_t = weight.map_or(1.0, |w| w[tu].to_f64());
                nll = w_t * ((m - x_t).to_f64() + ln_s);
                if eps > 0.0 {
                    // -sum_c w_c * logp_c, with logp_c = (x_c - m) - ln_s.
                    smooth = smooth_dm + w_total * ln_s;
                }
            }
            match reduction {
                Reduction::None => {
                    if let Some(op) = out_ptr {
                        let loss = if eps > 0.0 { (1.0 - eps) * nll + smooth_b * smooth } else { nll };
                        // SAFETY: p < positions = out.len(); chunks are disjoint.
                        unsafe { *op.ptr().add(p) = T::from_f64(loss) };
                    }
                }
                _ => {
                    acc_nll += nll;
                    acc_smooth += smooth;
                }
            }
            if x.has_grad() {
                // d/dx_k = scale * [ a (p_k - [k=t]) + b (W p_k - w_k) ], p_k = e_k / sum.
                // An ignored position has an upstream gradient of exactly 0, which
                // PyTorch's log-softmax backward turns into 0·p_k: NaN when the row
                // holds NaN or +inf, 0 otherwise.
                let (a_coef, b_coef, nll_fix) = if ignored {
                    (0.0 * sum, 0.0, 0.0)
                } else {
                    let scale = scale_for(reduction, &gout, denom, p);
                    let a = if eps > 0.0 { (1.0 - eps) * w_t } else { w_t };
                    (scale * (a + smooth_b * w_total) / sum, scale * smooth_b, scale * a)
                };
                let bw = if eps > 0.0 { Some((T::from_f64(b_coef), w_vec)) } else { None };
                // SAFETY: this chunk owns position p's row; x_t was read above.
                unsafe {
                    if stride == 1 {
                        let bw = bw.map(|(b, w)| (b, w.as_ptr()));
                        T::row_exp_scale(
                            x.x_ptr().add(base),
                            x.g_ptr().add(base),
                            c,
                            m,
                            T::from_f64(a_coef),
                            bw,
                        );
                    } else {
                        write_grad(x, base, stride, c, m, T::from_f64(a_coef), bw);
                    }
                    if !ignored {
                        let i = base + tu * stride;
                        let g = *x.g_ptr().add(i);
                        x.set_g(i, g - T::from_f64(nll_fix));
                    }
                }
            }
        }
        (acc_nll, acc_smooth)
    });
    let nll_total: f64 = parts.iter().map(|p| p.0).sum();
    let smooth_total: f64 = parts.iter().map(|p| p.1).sum();
    let (nll_r, smooth_r) = (reduction.apply(nll_total, denom), reduction.apply(smooth_total, denom));
    Ok(if eps > 0.0 { (1.0 - eps) * nll_r + smooth_b * smooth_r } else { nll_r })
}

/// Cross entropy with class-probability targets of the input's shape.
///
/// The `'mean'` denominator is `N·D` whatever the weights (as in PyTorch).
///
/// # Errors
/// Lengths that do not fit, `ignore_index >= 0` (not supported with
/// probability targets), `label_smoothing` outside `[0, 1]`.
#[allow(clippy::cast_precision_loss)]
pub fn cross_entropy_prob<T: Real>(
    dims: Dims,
    x: &InputGrad<'_, T>,
    target: &[T],
    o: &ClassOptions<'_, T>,
    gout: GradOutput<'_, T>,
    out: Option<&mut [T]>,
) -> Result<f64> {
    check_common(dims, x, o.weight, o.reduction, &gout, out.as_deref())?;
    check_len("target", target.len(), dims.numel())?;
    check_smoothing(o.label_smoothing)?;
    if o.ignore_index >= 0 {
        return Err(Error::value(format!(
            "ignoreIndex = {} is not supported with class-probability targets",
            o.ignore_index
        )));
    }
    let c = dims.c;
    let eps = o.label_smoothing;
    let (keep, add) = if eps > 0.0 { (1.0 - eps, eps / c as f64) } else { (1.0, 0.0) };
    let denom = dims.positions() as f64;
    let out_ptr = out.map(|o| SendPtr(o.as_mut_ptr()));
    let reduction = o.reduction;
    let weight = o.weight;
    let tprime = |i: usize| {
        let t = target[i].to_f64();
        if eps > 0.0 {
            t * keep + add
        } else {
            t
        }
    };

    let parts = map_chunks(dims.positions(), c, |s, e| {
        let mut acc = 0.0f64;
        for p in s..e {
            let (base, stride) = position(dims, p);
            // SAFETY: in bounds (numel checked).
            let (m, sum) = unsafe { row_stats(x.x_ptr(), base, stride, c, std::ptr::null()) };
            let ln_s = sum.ln();
            let mut tw = 0.0f64;
            let mut dot = 0.0f64;
            for k in 0..c {
                let i = base + k * stride;
                let wt = weight.map_or(1.0, |w| w[k].to_f64()) * tprime(i);
                tw += wt;
                // SAFETY: in bounds.
                dot += wt * (m - unsafe { x.x(i) }).to_f64();
            }
            let loss = dot + tw * ln_s;
            match reduction {
                Reduction::None => {
                    if let Some(op) = out_ptr {
                        // SAFETY: p < positions = out.len(); chunks are disjoint.
                        unsafe { *op.ptr().add(p) = T::from_f64(loss) };
                    }
                }
                _ => acc += loss,
            }
            if x.has_grad() {
                let scale = scale_for(reduction, &gout, denom, p);
                let a = T::from_f64(scale * tw / sum);
                for k in 0..c {
                    let i = base + k * stride;
                    let wt = weight.map_or(1.0, |w| w[k].to_f64()) * tprime(i);
                    // SAFETY: this chunk owns the row; element i is read then written.
                    unsafe {
                        let g = a * (x.x(i) - m).exp() - T::from_f64(scale * wt);
                        x.set_g(i, g);
                    }
                }
            }
        }
        acc
    });
    Ok(reduction.apply(parts.iter().sum(), denom))
}

/// Class-index cross entropy for short rows (`C ≤ SMALL_C`, no extra dims, no
/// label smoothing), a tile of rows at a time with one row per SIMD lane.
#[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
fn ce_small_rows<T: Real, I: Index>(
    dims: Dims,
    x: &InputGrad<'_, T>,
    target: &[I],
    o: &ClassOptions<'_, T>,
    gout: &GradOutput<'_, T>,
    out_ptr: Option<SendPtr<T>>,
    denom: f64,
) -> f64 {
    let c = dims.c;
    let reduction = o.reduction;
    let parts = map_chunks(dims.n, c, |s, e| {
        let mut acc = 0.0f64;
        // Written by small_stats before it is read (c · TILE entries): no need
        // to clear it on every call.
        let mut ev = [std::mem::MaybeUninit::<T>::uninit(); SMALL_C * TILE];
        let ev_ptr = ev.as_mut_ptr().cast::<T>();
        let (mut m, mut sum, mut ln_s, mut a) =
            ([T::ZERO; TILE], [T::ZERO; TILE], [T::ZERO; TILE], [T::ZERO; TILE]);
        let mut fix = [0.0f64; TILE];
        let mut tile = s;
        while tile < e {
            let rows = (e - tile).min(TILE);
            let base = tile * c;
            // SAFETY: rows tile..tile+rows are within dims (numel checked) and owned
            // by this chunk; the tile is read here, before any gradient write.
            unsafe {
                T::small_stats(
                    x.x_ptr().add(base),
                    rows,
                    c,
                    ev_ptr,
                    m.as_mut_ptr(),
                    sum.as_mut_ptr(),
                    ln_s.as_mut_ptr(),
                );
            }
            for r in 0..rows {
                let p = tile + r;
                let t = target[p].to_i64();
                if t == o.ignore_index {
                    // 0·p_k, NaN where the row holds NaN or +inf (as PyTorch).
                    a[r] = T::from_f64(0.0 * sum[r].to_f64());
                    fix[r] = 0.0;
                    if reduction == Reduction::None {
                        if let Some(op) = out_ptr {
                            // SAFETY: p < out.len(); chunks are disjoint.
                            unsafe { *op.ptr().add(p) = T::ZERO };
                        }
                    }
                    continue;
                }
                let tu = t as usize;
                let w_t = o.weight.map_or(1.0, |w| w[tu].to_f64());
                // SAFETY: tu < c (scan_targets); the row has not been written yet.
                let x_t = unsafe { x.x(base + r * c + tu) };
                let loss = w_t * ((m[r] - x_t).to_f64() + ln_s[r].to_f64());
                match (reduction, out_ptr) {
                    (Reduction::None, Some(op)) => {
                        // SAFETY: p < out.len(); chunks are disjoint.
                        unsafe { *op.ptr().add(p) = T::from_f64(loss) };
                    }
                    (Reduction::None, None) => {}
                    _ => acc += loss,
                }
                let scale = scale_for(reduction, gout, denom, p);
                a[r] = T::from_f64(scale * w_t / sum[r].to_f64());
                fix[r] = scale * w_t;
            }
            if x.has_grad() {
                // SAFETY: this chunk owns the tile's rows; all reads are done.
                unsafe {
                    T::small_grad(x.g_ptr().add(base), rows, c, ev_ptr, a.as_ptr());
                    for r in 0..rows {
                        let t = target[tile + r].to_i64();
                        if t != o.ignore_index {
                            let i = base + r * c + t as usize;
                            let g = *x.g_ptr().add(i);
                            x.set_g(i, g - T::from_f64(fix[r]));
                        }
                    }
                }
            }
            tile += rows;
        }
        acc
    });
    reduction.apply(parts.iter().sum(), denom)
}
