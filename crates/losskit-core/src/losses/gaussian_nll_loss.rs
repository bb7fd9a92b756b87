//! `F.gaussian_nll_loss(input, target, var, full, eps)`:
//! `½·(ln v + (x − t)²/v)` (+ `½·ln 2π` with `full`), `v = max(var, eps)`.
//! PyTorch clamps a clone of `var` under `no_grad`, so the clamp changes the
//! value but not the gradient's path: `d/d var = ½·(1/v − (x − t)²/v²)` at the
//! clamped `v`, for every element, clamped or not. `d/d x = (x − t)/v`.
//!
//! The variance is shaped like the input (one per element), like the input
//! without its last dimension or with last dimension 1 (one per row of the
//! last dimension: its gradient sums over the row), or one number (no gradient).

use crate::call::{Args, GradScale};
use crate::elementwise::fmt_num;
use crate::error::{check_len, Error, Result};
use crate::par::{map_chunks, SendPtr};
use crate::pointwise::{self, Math, Pointwise};
use crate::Real;

/// One element with its own variance `v` (the SIMD path).
#[derive(Clone, Copy)]
struct PerElement {
    eps: f64,
    /// `½·ln 2π` with `full`, else 0.
    add: f64,
}

impl Pointwise for PerElement {
    const TERNARY: bool = true;
    #[inline(always)]
    fn eval<M: Math>(&self, _x: M::V, _t: M::V) -> (M::V, M::V) {
        unreachable!("a ternary loss is evaluated by eval3")
    }
    #[inline(always)]
    fn eval3<M: Math>(&self, x: M::V, t: M::V, v: M::V) -> (M::V, M::V, M::V) {
        let eps = M::c(self.eps);
        // max(var, eps) that keeps a NaN variance NaN, as torch's clamp.
        let vc = M::sel(v < eps, eps, v);
        // PyTorch's order of operations (d²/v, not d·(d/v): d² may overflow).
        let d = x - t;
        let q = d * d / vc;
        let half = M::c(0.5);
        let l = half * (M::ln(vc) + q) + M::c(self.add);
        (l, d / vc, half * (M::c(1.0) / vc - q / vc))
    }
}

/// Every element with one variance (a number): `vc` clamped, `ln vc` once.
#[derive(Clone, Copy)]
struct Shared {
    vc: f64,
    /// `½·ln vc`, plus `½·ln 2π` with `full`.
    add: f64,
}

impl Pointwise for Shared {
    #[inline(always)]
    fn eval<M: Math>(&self, x: M::V, t: M::V) -> (M::V, M::V) {
        let vc = M::c(self.vc);
        let d = x - t;
        (M::c(0.5) * (d * d / vc) + M::c(self.add), d / vc)
    }
}

/// Options: `[full, eps, variance as a number (NaN when a tensor is given)]`.
/// Slot 2: the variance tensor; extra gradient 0: its gradient.
///
/// # Errors
/// A negative variance (`RangeError`), lengths that do not fit.
#[allow(clippy::many_single_char_names)]
pub fn run<T: Real>(mut a: Args<'_, T>) -> Result<f64> {
    let (t, _) = a.float(1, "target")?;
    let numel = a.numel();
    check_len("input", a.x.len(), numel)?;
    check_len("target", t.len(), numel)?;
    let full = a.flag(0)?;
    let eps = a.param(1)?;
    let var_tensor = a.float_opt(2, "variance")?;
    // One variance per group of `group` consecutive elements.
    let (var, group): (Option<&[T]>, usize) = match var_tensor {
        None => {
            let v = a.param(2)?;
            if v < 0.0 {
                return Err(Error::range(format!(
                    "variance = {} is out of range: it must be >= 0",
                    fmt_num(v)
                )));
            }
            (None, numel.max(1))
        }
        Some((v, _)) => {
            let group = if v.len() == numel { 1 } else { a.shape().last().copied().unwrap_or(1) };
            if v.len().saturating_mul(group) != numel {
                return Err(Error::value(format!(
                    "variance has {} elements, which does not fit an input of {numel}",
                    v.len()
                )));
            }
            // A branch-free parallel scan first; the element is located only if it fails.
            let any = map_chunks(v.len(), 1, |s, e| v[s..e].iter().fold(false, |b, &w| b | (w < T::ZERO)));
            if let Some(i) = any.iter().any(|&b| b).then(|| v.iter().position(|&w| w < T::ZERO)).flatten() {
                return Err(Error::range(format!(
                    "variance[{i}] = {} is out of range: variances must be >= 0",
                    fmt_num(v[i].to_f64())
                )));
            }
            (Some(v), group)
        }
    };
    let number = a.param(2)?;
    let half_ln_2pi = if full { 0.5 * (2.0 * std::f64::consts::PI).ln() } else { 0.0 };
    match var {
        // One variance per element: the SIMD pointwise path.
        Some(v) if group == 1 => {
            let gv = a.grads[0].take();
            return pointwise::run_with(&PerElement { eps, add: half_ln_2pi }, a, t, Some(v), gv);
        }
        // One variance for all: a pointwise loss of two tensors.
        None => {
            let vc = if number < eps { eps } else { number };
            return pointwise::run(&Shared { vc, add: 0.5 * vc.ln() + half_ln_2pi }, a);
        }
        Some(_) => {}
    }
    // One variance per row of the last dimension: ln once per row.
    let var_grad = match (var, a.grads[0].take()) {
        (Some(v), Some(g)) => {
            check_len("gradOut.variance", g.len(), v.len())?;
            Some(SendPtr(g.as_mut_ptr()))
        }
        _ => None,
    };
    let denom = a.denominator(numel, false)?;
    let out = a.take_out(numel)?;
    let scale = a.grad_scale(denom);
    let x = &a.x;
    let groups = numel.div_ceil(group.max(1));
    let parts = map_chunks(groups, group, |gs, ge| {
        let mut acc = 0.0f64;
        for j in gs..ge {
            let raw = var.map_or(number, |v| v[j].to_f64());
            // max(var, eps) that keeps a NaN variance NaN, as torch's clamp.
            let vc = if raw < eps { eps } else { raw };
            let ln_v = vc.ln();
            let mut gv = 0.0f64;
            for i in j * group..((j + 1) * group).min(numel) {
                // SAFETY: i < numel = x.len(); this chunk owns i.
                let xi = unsafe { x.x(i) }.to_f64();
                let d = xi - t[i].to_f64();
                let q = d * d / vc;
                let l = 0.5 * (ln_v + q) + half_ln_2pi;
                if let Some(o) = out {
                    // SAFETY: i < out.len() = numel (checked); chunks are disjoint.
                    unsafe { *o.ptr().add(i) = T::from_f64(l) };
                } else {
                    acc += l;
                }
                if x.has_grad() || var_grad.is_some() {
                    let s = match scale {
                        GradScale::Uniform(g) => g,
                        GradScale::PerElement(g) => g[i].to_f64(),
                    };
                    if x.has_grad() {
                        // SAFETY: as above; x[i] was read before this write.
                        unsafe { x.set_g(i, T::from_f64(d / vc * s)) };
                    }
                    gv += 0.5 * (1.0 / vc - q / vc) * s;
                }
            }
            if let Some(g) = var_grad {
                // SAFETY: j < var.len() (checked); chunks own disjoint groups.
                unsafe { *g.ptr().add(j) = T::from_f64(gv) };
            }
        }
        acc
    });
    Ok(a.reduction.apply(parts.iter().sum(), denom))
}
