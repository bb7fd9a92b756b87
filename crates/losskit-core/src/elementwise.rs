//! The elementwise losses — `F.kl_div`, `F.binary_cross_entropy`,
//! `F.binary_cross_entropy_with_logits` — and the helpers `sigmoid` / `logit`.
//! One pass over memory computes value and gradient.

use crate::broadcast::{Broadcast, Cursor};
use crate::error::{check_len, Error, Result};
use crate::par::{map_chunks, SendPtr};
use crate::{GradOutput, InputGrad, Real, Reduction};
use losskit_math::lanes::Loss;

/// A broadcast operand: its data and how it maps onto the input.
pub struct Operand<'a, T> {
    pub data: &'a [T],
    pub map: Broadcast,
}

impl<'a, T: Real> Operand<'a, T> {
    /// # Errors
    /// If `op_shape` does not broadcast to `shape` or `data` does not match it.
    pub fn new(what: &str, data: &'a [T], op_shape: &[usize], shape: &[usize]) -> Result<Self> {
        let map = Broadcast::new(what, shape, op_shape)?;
        check_len(what, data.len(), map.numel)?;
        Ok(Self { data, map })
    }
}

struct Common<'a, T> {
    numel: usize,
    reduction: Reduction,
    denom: f64,
    gout: GradOutput<'a, T>,
    out: Option<SendPtr<T>>,
}

#[allow(clippy::cast_precision_loss)]
fn common<'a, T: Real>(
    shape: &[usize],
    x: &InputGrad<'_, T>,
    target: &[T],
    reduction: Reduction,
    gout: GradOutput<'a, T>,
    out: Option<&mut [T]>,
    allow_batchmean: bool,
) -> Result<Common<'a, T>> {
    let numel: usize = shape.iter().product();
    check_len("input", x.len(), numel)?;
    check_len("target", target.len(), numel)?;
    if reduction == Reduction::BatchMean && !allow_batchmean {
        return Err(Error::value("reduction 'batchmean' is only valid for klDiv"));
    }
    if reduction == Reduction::None {
        gout.check(numel)?;
        if let Some(o) = &out {
            check_len("out", o.len(), numel)?;
        }
    }
    let denom = match reduction {
        Reduction::Mean => numel as f64,
        Reduction::BatchMean => shape.first().map_or(1.0, |&n| n as f64),
        _ => 1.0,
    };
    Ok(Common { numel, reduction, denom, gout, out: out.map(|o| SendPtr(o.as_mut_ptr())) })
}

impl<T: Real> Common<'_, T> {
    #[inline(always)]
    fn scale(&self, i: usize) -> f64 {
        match self.reduction {
            Reduction::None => self.gout.at(i),
            Reduction::Mean | Reduction::BatchMean => self.gout.at(0) / self.denom,
            Reduction::Sum => self.gout.at(0),
        }
    }
    /// The gradient's scale when it is the same for every element (no
    /// per-element upstream gradient).
    fn uniform_scale(&self) -> Option<f64> {
        match (self.reduction, &self.gout) {
            (_, GradOutput::PerElement(_)) => None,
            (Reduction::Mean | Reduction::BatchMean, g) => Some(g.at(0) / self.denom),
            (_, g) => Some(g.at(0)),
        }
    }

    /// The fused SIMD kernel, when the type has one and the call needs no
    /// broadcast operand or per-element upstream gradient.
    fn run_fused(&self, loss: Loss, x: &InputGrad<'_, T>, target: &[T]) -> Option<f64> {
        if !T::HAS_FUSED {
            return None;
        }
        let scale = self.uniform_scale()?;
        let out = self.out;
        let parts = map_chunks(self.numel, 1, |s, e| {
            // SAFETY: s..e is within every buffer (lengths checked); chunks are
            // disjoint; an in-place gradient reads each element before writing it.
            unsafe {
                let o = out.map_or(std::ptr::null_mut(), |o| o.ptr().add(s));
                let g = if x.has_grad() { x.g_ptr().add(s) } else { std::ptr::null_mut() };
                T::fused_elementwise(loss, x.x_ptr().add(s), target.as_ptr().add(s), e - s, o, g, scale)
                    .unwrap_or(f64::NAN)
            }
        });
        Some(self.reduction.apply(parts.iter().sum(), self.denom))
    }

    /// Runs `f(i) -> (loss_i, grad_i / scale_i)` over all elements, storing the
    /// 'none' output and the gradient, and returns the reduced loss.
    fn run<F>(&self, x: &InputGrad<'_, T>, ops: &[Option<&Operand<'_, T>>], f: F) -> f64
    where
        F: Fn(usize, T, &[usize]) -> (f64, f64) + Sync,
    {
        let has_grad = x.has_grad();
        let parts = map_chunks(self.numel, 1, |s, e| {
            let mut cursors: Vec<Option<Cursor<'_>>> =
                ops.iter().map(|o| o.map(|o| o.map.cursor(s))).collect();
            let mut offs = vec![0usize; ops.len()];
            let mut acc = 0.0f64;
            for i in s..e {
                for (k, c) in cursors.iter().enumerate() {
                    if let Some(c) = c {
                        offs[k] = c.off;
                    }
                }
                // SAFETY: i < numel = x.len(); this chunk owns i.
                let xi = unsafe { x.x(i) };
                let (loss, dl) = f(i, xi, &offs);
                match (self.reduction, self.out) {
                    (Reduction::None, Some(op)) => {
                        // SAFETY: i < out.len(); chunks are disjoint.
                        unsafe { *op.ptr().add(i) = T::from_f64(loss) };
                    }
                    (Reduction::None, None) => {}
                    _ => acc += loss,
                }
                if has_grad {
                    // SAFETY: as above; x[i] was read before this write.
                    unsafe { x.set_g(i, T::from_f64(dl * self.scale(i))) };
                }
                for c in cursors.iter_mut().flatten() {
                    c.advance();
                }
            }
            acc
        });
        self.reduction.apply(parts.iter().sum(), self.denom)
    }
}

/// `F.kl_div(input, target, reduction, log_target)` over any shape.
///
/// Pointwise `xlogy(t, t) - t·x` (0 where t = 0, NaN where t < 0), or with
/// `log_target` `exp(t)·(t - x)`; gradient `-t·g` (or `-exp(t)·g`).
///
/// # Errors
/// Lengths that do not fit `shape`.
pub fn kl_div<T: Real>(
    shape: &[usize],
    x: &InputGrad<'_, T>,
    target: &[T],
    log_target: bool,
    reduction: Reduction,
    gout: GradOutput<'_, T>,
    out: Option<&mut [T]>,
) -> Result<f64> {
    let c = common(shape, x, target, reduction, gout, out, true)?;
    if let Some(v) = c.run_fused(if log_target { Loss::KlLogTarget } else { Loss::Kl }, x, target) {
        return Ok(v);
    }
    Ok(c.run(x, &[], |i, xi, _| {
        let t = target[i].to_f64();
        let xi = xi.to_f64();
        if log_target {
            let et = t.exp();
            (et * (t - xi), -et)
        } else {
            let xlogy = if t.is_nan() {
                f64::NAN
            } else if t == 0.0 {
                0.0
            } else {
                t * t.ln()
            };
            (xlogy - t * xi, -t)
        }
    }))
}

/// BCE's range check of input and target, in one pass over both (before any
/// output is written). A branch-free scan first; the element is located only
/// when the scan fails.
fn check_unit<T: Real>(x: &[T], t: &[T]) -> Result<()> {
    let ok = |v: T| v >= T::ZERO && v <= T::ONE;
    let bad = map_chunks(x.len(), 1, |s, e| {
        let any = x[s..e].iter().zip(&t[s..e]).fold(false, |b, (&a, &c)| b | !(ok(a) & ok(c)));
        if any {
            (s..e).find(|&i| !ok(x[i]) || !ok(t[i]))
        } else {
            None
        }
    });
    if let Some(i) = bad.into_iter().flatten().next() {
        let (what, v) = if ok(x[i]) { ("target", t[i]) } else { ("input", x[i]) };
        return Err(Error::range(format!(
            "{what}[{i}] = {} is out of range: it must be in [0, 1]",
            fmt_num(v.to_f64())
        )));
    }
    Ok(())
}

/// Formats a number the way JavaScript prints it (NaN, Infinity).
#[must_use]
pub fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else {
        format!("{v}")
    }
}

/// PyTorch's `constexpr float EPSILON = 1e-12` (`Loss.cpp`): a float32 constant,
/// so in double precision it is 9.999999960041972e-13.
const BCE_EPSILON: f64 = 1e-12_f32 as f64;

/// `F.binary_cross_entropy(input, target, weight, reduction)`.
///
/// `-w·(t·max(ln x, -100) + (1-t)·max(ln(1-x), -100))`; the gradient
/// `w·g·(x - t) / max(x·(1-x), 1e-12)` is not clamped.
///
/// # Errors
/// Lengths that do not fit, or an input or target outside `[0, 1]` or NaN.
pub fn binary_cross_entropy<T: Real>(
    shape: &[usize],
    x: &InputGrad<'_, T>,
    target: &[T],
    weight: Option<&Operand<'_, T>>,
    reduction: Reduction,
    gout: GradOutput<'_, T>,
    out: Option<&mut [T]>,
) -> Result<f64> {
    let c = common(shape, x, target, reduction, gout, out, false)?;
    // SAFETY: nothing has been written yet, so the whole input is readable.
    let xs = unsafe { std::slice::from_raw_parts(x.x_ptr(), x.len()) };
    let out_none = reduction == Reduction::None && c.out.is_some();
    // A kernel that checks the range as it goes makes its sum NaN on a bad
    // input or target; only then is the element found, for the error.
    let checked = |v: f64| -> Result<f64> {
        if v.is_nan() {
            check_unit(xs, target)?;
        }
        Ok(v)
    };
    if let (Some(split), None, Some(scale), false) = (T::bce_split(), weight, c.uniform_scale(), out_none) {
        // The loss as B - A, each pass with one logarithm (see
        // losskit_math::avx512::bce_split). With a gradient: first the range
        // check while summing A (nothing written), then the gradient and B.
        #[allow(clippy::cast_possible_truncation)]
        let scale = scale as f32;
        let sums = |which: usize, g: bool| {
            let parts = map_chunks(c.numel, 1, |s, e| {
                let gp = if g { x.g_ptr().wrapping_add(s) } else { std::ptr::null_mut() };
                // SAFETY: s..e is within both inputs (lengths checked) and the
                // gradient; chunks are disjoint; the grad pass runs only after the
                // check pass found every value in range.
                unsafe { split[which](x.x_ptr().add(s), target.as_ptr().add(s), e - s, gp, scale) }
            });
            parts.iter().fold((0.0, 0.0), |(a, b), p| (a + p.0, b + p.1))
        };
        let (a, b) = if x.has_grad() {
            let a = checked(sums(1, false).0)?;
            (a, sums(2, true).1)
        } else {
            let (a, b) = sums(0, false);
            (checked(a)?, b)
        };
        return Ok(reduction.apply(b - a, c.denom));
    }
    if !x.has_grad() && !out_none && weight.is_none() {
        // Nothing will be written: one pass that checks the range as it goes.
        if let Some(v) = c.run_fused(Loss::Bce, x, target) {
            return checked(v);
        }
    }
    // Outputs will be written: the whole range is checked first, so that an
    // error leaves every buffer as it was.
    check_unit(xs, target)?;
    if weight.is_none() {
        if let Some(v) = c.run_fused(Loss::Bce, x, target) {
            return Ok(v);
        }
    }
    Ok(c.run(x, &[weight], |i, xi, offs| {
        let t = target[i].to_f64();
        let xi = xi.to_f64();
        let w = weight.map_or(1.0, |w| w.data[offs[0]].to_f64());
        // PyTorch: log clamped at -100 so that x = 0 or 1 gives a finite loss.
        let l = (t - 1.0) * (-xi).ln_1p().max(-100.0) - t * xi.ln().max(-100.0);
        let dl = (xi - t) / ((1.0 - xi) * xi).max(BCE_EPSILON);
        (w * l, w * dl)
    }))
}

/// `F.binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction)`.
///
/// PyTorch's stable form: with `m = max(-x, 0)`,
/// `(1-t)·x + m + ln(e^-m + e^(-x-m))`, and with `pos_weight`
/// `(1-t)·x + (1 + (pw-1)·t)·(ln(e^-m + e^(-x-m)) + m)`. Gradient
/// `w·g·((pw·t + 1 - t)·σ(x) - pw·t)`.
///
/// # Errors
/// Lengths or shapes that do not fit.
#[allow(clippy::too_many_arguments)]
pub fn binary_cross_entropy_with_logits<T: Real>(
    shape: &[usize],
    x: &InputGrad<'_, T>,
    target: &[T],
    weight: Option<&Operand<'_, T>>,
    pos_weight: Option<&Operand<'_, T>>,
    reduction: Reduction,
    gout: GradOutput<'_, T>,
    out: Option<&mut [T]>,
) -> Result<f64> {
    let c = common(shape, x, target, reduction, gout, out, false)?;
    if weight.is_none() && pos_weight.is_none() {
        if let Some(v) = c.run_fused(Loss::BceLogits, x, target) {
            return Ok(v);
        }
    }
    Ok(c.run(x, &[weight, pos_weight], |i, xi, offs| {
        let t = target[i].to_f64();
        let xi = xi.to_f64();
        let w = weight.map_or(1.0, |w| w.data[offs[0]].to_f64());
        let m = (-xi).max(0.0);
        let lse = ((-m).exp() + (-xi - m).exp()).ln();
        let sig = 1.0 / (1.0 + (-xi).exp());
        let (l, dl) = match pos_weight {
            None => ((1.0 - t) * xi + m + lse, sig - t),
            Some(pw) => {
                let pw = pw.data[offs[1]].to_f64();
                let lw = (pw - 1.0) * t + 1.0;
                ((1.0 - t) * xi + lw * (lse + m), (pw * t + 1.0 - t) * sig - pw * t)
            }
        };
        (w * l, w * dl)
    }))
}

/// `torch.sigmoid`: `1 / (1 + exp(-x))`.
///
/// # Errors
/// If `out` is not as long as `x`.
pub fn sigmoid<T: Real>(x: &[T], out: &mut [T]) -> Result<()> {
    check_len("out", out.len(), x.len())?;
    let op = SendPtr(out.as_mut_ptr());
    map_chunks(x.len(), 1, |s, e| {
        // SAFETY: s..e < out.len(); chunks are disjoint.
        let o = unsafe { std::slice::from_raw_parts_mut(op.ptr().add(s), e - s) };
        T::sigmoid_slice(&x[s..e], o);
    });
    Ok(())
}

/// `torch.logit(x, eps)`: `ln(z / (1 - z))` with `z = clamp(x, eps, 1 - eps)`
/// when `eps` is given and non-negative (as PyTorch), else `z = x`.
///
/// # Errors
/// If `out` is not as long as `x`.
pub fn logit<T: Real>(x: &[T], eps: Option<f64>, out: &mut [T]) -> Result<()> {
    check_len("out", out.len(), x.len())?;
    let op = SendPtr(out.as_mut_ptr());
    let bounds = eps.filter(|&e| e >= 0.0).map(|e| (T::from_f64(e), T::ONE - T::from_f64(e)));
    map_chunks(x.len(), 1, |s, e| {
        for i in s..e {
            let mut z = x[i];
            if let Some((lo, hi)) = bounds {
                z = if z < lo {
                    lo
                } else if z > hi {
                    hi
                } else {
                    z
                };
            }
            let z = z.to_f64();
            // SAFETY: i < out.len(); chunks are disjoint.
            unsafe { *op.ptr().add(i) = T::from_f64((z / (1.0 - z)).ln()) };
        }
    });
    Ok(())
}
