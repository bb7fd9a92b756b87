//! The napi-rs binding: converts arguments, calls `losskit-core`, maps errors.
//! No maths here. The TypeScript layer (`index.ts`) reads options, checks
//! JavaScript types and shapes and allocates outputs; this layer re-checks what
//! memory safety depends on (kinds, lengths, aliasing) and lets the kernels
//! validate the data they scan.
#![allow(clippy::needless_pass_by_value, clippy::too_many_arguments)]

mod views;

use losskit_core::cross_entropy::{cross_entropy_index, cross_entropy_prob, ClassOptions};
use losskit_core::elementwise::{self, Operand};
use losskit_core::softmax::{self, Axis};
use losskit_core::{nll, par, Dims, Error, ErrorKind, GradOutput, Reduction};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use views::{expect, Float, Io, Kind, View};

type Res<T> = std::result::Result<T, Error>;

fn throw(env: &Env, name: &str, e: &Error) -> napi::Error {
    let msg = format!("{name}: {}", e.message);
    let code = Some(e.kind.code());
    let _ = match e.kind {
        ErrorKind::OutOfRange => env.throw_range_error(&msg, code),
        _ => env.throw_type_error(&msg, code),
    };
    napi::Error::new(Status::PendingException, msg)
}

/// Runs `f`, turning a validation error into a thrown `TypeError`/`RangeError`
/// with Node's `code`, and a Rust panic into an ordinary `Error` (never an
/// abort of the process).
fn guard<R>(env: &Env, name: &str, f: impl FnOnce() -> Res<R>) -> napi::Result<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(throw(env, name, &e)),
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(ToString::to_string)
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(napi::Error::new(Status::GenericFailure, format!("{name}: internal error: {what}")))
        }
    }
}

fn reduction(r: u32, allow_batchmean: bool) -> Res<Reduction> {
    Ok(match r {
        0 => Reduction::None,
        1 => Reduction::Mean,
        2 => Reduction::Sum,
        3 if allow_batchmean => Reduction::BatchMean,
        _ => return Err(Error::value(format!("unknown reduction code {r}"))),
    })
}

fn size(v: f64, name: &str) -> Res<usize> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(v as usize)
    } else {
        Err(Error::value(format!("{name} = {v} is not a valid size")))
    }
}

fn shape_of(s: &[f64], name: &str) -> Res<Vec<usize>> {
    s.iter().map(|&d| size(d, name)).collect()
}

fn not_float(v: &View, name: &str) -> Error {
    Error::type_(format!("{name} must be a Float32Array or Float64Array, got {}", v.kind.js_name()))
}

fn grad_output<'a, T: Float>(g: Option<&View>, scalar: f64) -> Res<GradOutput<'a, T>> {
    Ok(match g {
        None => GradOutput::Scalar(scalar),
        Some(v) => {
            expect::<T>(v, "gradOutput")?;
            // SAFETY: kind checked; gradOutput is only read and outputs do not overlap it.
            GradOutput::PerElement(unsafe { v.slice::<T>() })
        }
    })
}

/// Views of the float arguments of one call, typed as `T`.
struct Floats<'a, T> {
    weight: Option<&'a [T]>,
    out: Option<&'a mut [T]>,
    gout: GradOutput<'a, T>,
}

fn floats<'a, T: Float>(
    io: &Io,
    weight: Option<&View>,
    gout: Option<&View>,
    gout_scalar: f64,
) -> Res<Floats<'a, T>> {
    if let Some(w) = weight {
        expect::<T>(w, "weight")?;
    }
    if let Some(o) = &io.out {
        expect::<T>(o, "out")?;
    }
    if let Some(g) = &io.grad {
        expect::<T>(g, "gradOut")?;
    }
    let gout = grad_output::<T>(gout, gout_scalar)?;
    // SAFETY: kinds checked above; aliasing checked by the caller.
    Ok(unsafe { Floats { weight: weight.map(|w| w.slice::<T>()), out: io.out.map(|o| o.slice_mut::<T>()), gout } })
}

struct ClassArgs<'a> {
    input: View,
    target: Option<View>,
    target_scalar: f64,
    weight: Option<View>,
    ignore_index: f64,
    reduction: u32,
    label_smoothing: f64,
    dims: Dims,
    gout: Option<View>,
    gout_scalar: f64,
    io: Io,
    _m: std::marker::PhantomData<&'a ()>,
}

#[allow(clippy::cast_possible_truncation)]
fn class_loss<T: Float>(a: &ClassArgs<'_>, nll_only: bool) -> Res<f64> {
    expect::<T>(&a.input, "input")?;
    let f = floats::<T>(&a.io, a.weight.as_ref(), a.gout.as_ref(), a.gout_scalar)?;
    // SAFETY: kinds checked; aliasing checked by the caller.
    let x = unsafe { a.io.input_grad::<T>(&a.input)? };
    let o = ClassOptions {
        weight: f.weight,
        ignore_index: a.ignore_index as i64,
        reduction: reduction(a.reduction, false)?,
        label_smoothing: a.label_smoothing,
    };
    let scalar_target;
    match &a.target {
        None => {
            scalar_target = [a.target_scalar as i64];
            if nll_only {
                nll::nll_loss(a.dims, &x, &scalar_target, &o, f.gout, f.out)
            } else {
                cross_entropy_index(a.dims, &x, &scalar_target, &o, f.gout, f.out)
            }
        }
        // SAFETY (all arms): kinds checked by the match; targets are read-only.
        Some(t) => match t.kind {
            Kind::I32 if nll_only => nll::nll_loss(a.dims, &x, unsafe { t.slice::<i32>() }, &o, f.gout, f.out),
            Kind::I64 if nll_only => nll::nll_loss(a.dims, &x, unsafe { t.slice::<i64>() }, &o, f.gout, f.out),
            Kind::I32 => cross_entropy_index(a.dims, &x, unsafe { t.slice::<i32>() }, &o, f.gout, f.out),
            Kind::I64 => cross_entropy_index(a.dims, &x, unsafe { t.slice::<i64>() }, &o, f.gout, f.out),
            k if k == T::KIND && !nll_only => cross_entropy_prob(a.dims, &x, unsafe { t.slice::<T>() }, &o, f.gout, f.out),
            k => Err(Error::type_(format!(
                "target must be an Int32Array or BigInt64Array of class indices{}, got {}",
                if nll_only { "" } else { " or class probabilities of the input's type" },
                k.js_name()
            ))),
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn class_entry(
    env: &Env,
    name: &str,
    nll_only: bool,
    input: Unknown<'_>,
    target: Option<Unknown<'_>>,
    target_scalar: f64,
    weight: Option<Unknown<'_>>,
    ignore_index: f64,
    reduction: u32,
    label_smoothing: f64,
    n: f64,
    c: f64,
    d: f64,
    grad_output_scalar: f64,
    grad_output: Option<Unknown<'_>>,
    out: Option<Unknown<'_>>,
    grad_out: Option<Unknown<'_>>,
) -> napi::Result<f64> {
    let name = if grad_out.is_some() { format!("{name}WithGrad") } else { name.to_string() };
    guard(env, &name, || {
        let input = View::of(&input, "input")?;
        let target = View::opt(target.as_ref(), "target")?;
        let weight = View::opt(weight.as_ref(), "weight")?;
        let gout = View::opt(grad_output.as_ref(), "gradOutput")?;
        let mut reads = Vec::new();
        if let Some(t) = target {
            reads.push(("target", t));
        }
        if let Some(w) = weight {
            reads.push(("weight", w));
        }
        if let Some(g) = gout {
            reads.push(("gradOutput", g));
        }
        let io = Io { reads, out: View::opt(out.as_ref(), "out")?, grad: View::opt(grad_out.as_ref(), "gradOut")? };
        io.check_aliasing(&input)?;
        let a = ClassArgs {
            input,
            target,
            target_scalar,
            weight,
            ignore_index,
            reduction,
            label_smoothing,
            dims: Dims { n: size(n, "N")?, c: size(c, "C")?, d: size(d, "D")? },
            gout,
            gout_scalar: grad_output_scalar,
            io,
            _m: std::marker::PhantomData,
        };
        match input.kind {
            Kind::F32 => class_loss::<f32>(&a, nll_only),
            Kind::F64 => class_loss::<f64>(&a, nll_only),
            _ => Err(not_float(&input, "input")),
        }
    })
}

/// Native cross entropy over an `(N, C, D)` input. Internal: use `index.ts`.
#[napi(js_name = "crossEntropy")]
pub fn cross_entropy(
    env: Env,
    input: Unknown<'_>,
    target: Option<Unknown<'_>>,
    target_scalar: f64,
    weight: Option<Unknown<'_>>,
    ignore_index: f64,
    reduction: u32,
    label_smoothing: f64,
    n: f64,
    c: f64,
    d: f64,
    grad_output_scalar: f64,
    grad_output: Option<Unknown<'_>>,
    out: Option<Unknown<'_>>,
    grad_out: Option<Unknown<'_>>,
) -> napi::Result<f64> {
    class_entry(
        &env, "crossEntropy", false, input, target, target_scalar, weight, ignore_index, reduction,
        label_smoothing, n, c, d, grad_output_scalar, grad_output, out, grad_out,
    )
}

/// Native NLL loss over an `(N, C, D)` input. Internal: use `index.ts`.
#[napi(js_name = "nllLoss")]
pub fn nll_loss(
    env: Env,
    input: Unknown<'_>,
    target: Option<Unknown<'_>>,
    target_scalar: f64,
    weight: Option<Unknown<'_>>,
    ignore_index: f64,
    reduction: u32,
    n: f64,
    c: f64,
    d: f64,
    grad_output_scalar: f64,
    grad_output: Option<Unknown<'_>>,
    out: Option<Unknown<'_>>,
    grad_out: Option<Unknown<'_>>,
) -> napi::Result<f64> {
    class_entry(
        &env, "nllLoss", true, input, target, target_scalar, weight, ignore_index, reduction, 0.0, n,
        c, d, grad_output_scalar, grad_output, out, grad_out,
    )
}

/// Which elementwise loss.
#[derive(Clone, Copy)]
enum Elem {
    Kl { log_target: bool },
    Bce,
    BceLogits,
}

struct ElemArgs<'a> {
    shape: Vec<usize>,
    input: View,
    target: View,
    weight: Option<(View, Vec<usize>)>,
    pos_weight: Option<(View, Vec<usize>)>,
    reduction: u32,
    gout: Option<View>,
    gout_scalar: f64,
    io: Io,
    _m: std::marker::PhantomData<&'a ()>,
}

fn elem_loss<T: Float>(a: &ElemArgs<'_>, which: Elem) -> Res<f64> {
    expect::<T>(&a.input, "input")?;
    expect::<T>(&a.target, "target")?;
    let f = floats::<T>(&a.io, None, a.gout.as_ref(), a.gout_scalar)?;
    let operand = |o: &Option<(View, Vec<usize>)>, name: &str| -> Res<Option<Operand<'_, T>>> {
        match o {
            None => Ok(None),
            Some((v, s)) => {
                expect::<T>(v, name)?;
                // SAFETY: kind checked; read-only, outputs do not overlap it.
                Ok(Some(Operand::new(name, unsafe { v.slice::<T>() }, s, &a.shape)?))
            }
        }
    };
    let w = operand(&a.weight, "weight")?;
    let pw = operand(&a.pos_weight, "posWeight")?;
    // SAFETY: kinds checked; aliasing checked by the caller.
    let x = unsafe { a.io.input_grad::<T>(&a.input)? };
    // SAFETY: kind checked; read-only.
    let t = unsafe { a.target.slice::<T>() };
    match which {
        Elem::Kl { log_target } => {
            elementwise::kl_div(&a.shape, &x, t, log_target, reduction(a.reduction, true)?, f.gout, f.out)
        }
        Elem::Bce => elementwise::binary_cross_entropy(
            &a.shape, &x, t, w.as_ref(), reduction(a.reduction, false)?, f.gout, f.out,
        ),
        Elem::BceLogits => elementwise::binary_cross_entropy_with_logits(
            &a.shape, &x, t, w.as_ref(), pw.as_ref(), reduction(a.reduction, false)?, f.gout, f.out,
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn elem_entry(
    env: &Env,
    name: &str,
    which: Elem,
    input: Unknown<'_>,
    target: Unknown<'_>,
    shape: Vec<f64>,
    weight: Option<Unknown<'_>>,
    weight_shape: Option<Vec<f64>>,
    pos_weight: Option<Unknown<'_>>,
    pos_weight_shape: Option<Vec<f64>>,
    reduction: u32,
    grad_output_scalar: f64,
    grad_output: Option<Unknown<'_>>,
    out: Option<Unknown<'_>>,
    grad_out: Option<Unknown<'_>>,
) -> napi::Result<f64> {
    let name = if grad_out.is_some() { format!("{name}WithGrad") } else { name.to_string() };
    guard(env, &name, || {
        let input = View::of(&input, "input")?;
        let target = View::of(&target, "target")?;
        let mut reads = vec![("target", target)];
        let mut operand = |v: Option<Unknown<'_>>, s: Option<Vec<f64>>, n: &'static str| -> Res<Option<(View, Vec<usize>)>> {
            match v {
                None => Ok(None),
                Some(v) => {
                    let view = View::of(&v, n)?;
                    reads.push((n, view));
                    let s = match s {
                        Some(s) => shape_of(&s, n)?,
                        None => vec![view.len],
                    };
                    Ok(Some((view, s)))
                }
            }
        };
        let weight = operand(weight, weight_shape, "weight")?;
        let pos_weight = operand(pos_weight, pos_weight_shape, "posWeight")?;
        let gout = View::opt(grad_output.as_ref(), "gradOutput")?;
        if let Some(g) = gout {
            reads.push(("gradOutput", g));
        }
        let io = Io { reads, out: View::opt(out.as_ref(), "out")?, grad: View::opt(grad_out.as_ref(), "gradOut")? };
        io.check_aliasing(&input)?;
        let a = ElemArgs {
            shape: shape_of(&shape, "shape")?,
            input,
            target,
            weight,
            pos_weight,
            reduction,
            gout,
            gout_scalar: grad_output_scalar,
            io,
            _m: std::marker::PhantomData,
        };
        match input.kind {
            Kind::F32 => elem_loss::<f32>(&a, which),
            Kind::F64 => elem_loss::<f64>(&a, which),
            _ => Err(not_float(&input, "input")),
        }
    })
}

/// Native KL divergence. Internal: use `index.ts`.
#[napi(js_name = "klDiv")]
pub fn kl_div(
    env: Env,
    input: Unknown<'_>,
    target: Unknown<'_>,
    shape: Vec<f64>,
    log_target: bool,
    reduction: u32,
    grad_output_scalar: f64,
    grad_output: Option<Unknown<'_>>,
    out: Option<Unknown<'_>>,
    grad_out: Option<Unknown<'_>>,
) -> napi::Result<f64> {
    elem_entry(
        &env, "klDiv", Elem::Kl { log_target }, input, target, shape, None, None, None, None,
        reduction, grad_output_scalar, grad_output, out, grad_out,
    )
}

/// Native binary cross entropy. Internal: use `index.ts`.
#[napi(js_name = "binaryCrossEntropy")]
pub fn binary_cross_entropy(
    env: Env,
    input: Unknown<'_>,
    target: Unknown<'_>,
    shape: Vec<f64>,
    weight: Option<Unknown<'_>>,
    weight_shape: Option<Vec<f64>>,
    reduction: u32,
    grad_output_scalar: f64,
    grad_output: Option<Unknown<'_>>,
    out: Option<Unknown<'_>>,
    grad_out: Option<Unknown<'_>>,
) -> napi::Result<f64> {
    elem_entry(
        &env, "binaryCrossEntropy", Elem::Bce, input, target, shape, weight, weight_shape, None, None,
        reduction, grad_output_scalar, grad_output, out, grad_out,
    )
}

/// Native binary cross entropy with logits. Internal: use `index.ts`.
#[napi(js_name = "binaryCrossEntropyWithLogits")]
pub fn binary_cross_entropy_with_logits(
    env: Env,
    input: Unknown<'_>,
    target: Unknown<'_>,
    shape: Vec<f64>,
    weight: Option<Unknown<'_>>,
    weight_shape: Option<Vec<f64>>,
    pos_weight: Option<Unknown<'_>>,
    pos_weight_shape: Option<Vec<f64>>,
    reduction: u32,
    grad_output_scalar: f64,
    grad_output: Option<Unknown<'_>>,
    out: Option<Unknown<'_>>,
    grad_out: Option<Unknown<'_>>,
) -> napi::Result<f64> {
    elem_entry(
        &env, "binaryCrossEntropyWithLogits", Elem::BceLogits, input, target, shape, weight,
        weight_shape, pos_weight, pos_weight_shape, reduction, grad_output_scalar, grad_output, out,
        grad_out,
    )
}

/// Which axis helper.
#[derive(Clone, Copy)]
enum AxisOp {
    LogSoftmax,
    Softmax,
    Entropy,
}

fn axis_entry(env: &Env, name: &str, op: AxisOp, input: Unknown<'_>, outer: f64, c: f64, inner: f64, out: Unknown<'_>) -> napi::Result<()> {
    guard(env, name, || {
        let x = View::of(&input, "input")?;
        let o = View::of(&out, "out")?;
        let io = Io { reads: vec![], out: Some(o), grad: None };
        io.check_aliasing(&x)?;
        let a = Axis { outer: size(outer, "outer")?, c: size(c, "C")?, inner: size(inner, "inner")? };
        fn run<T: Float>(x: &View, o: &View, a: Axis, op: AxisOp) -> Res<()> {
            expect::<T>(x, "input")?;
            expect::<T>(o, "out")?;
            // SAFETY: kinds checked; no overlap.
            let (xs, os) = unsafe { (x.slice::<T>(), o.slice_mut::<T>()) };
            match op {
                AxisOp::LogSoftmax => softmax::log_softmax(xs, a, os),
                AxisOp::Softmax => softmax::softmax(xs, a, os),
                AxisOp::Entropy => softmax::entropy(xs, a, os),
            }
        }
        match x.kind {
            Kind::F32 => run::<f32>(&x, &o, a, op),
            Kind::F64 => run::<f64>(&x, &o, a, op),
            _ => Err(not_float(&x, "input")),
        }
    })
}

/// Native log-softmax over `(outer, C, inner)`. Internal: use `index.ts`.
#[napi(js_name = "logSoftmax")]
pub fn log_softmax(env: Env, input: Unknown<'_>, outer: f64, c: f64, inner: f64, out: Unknown<'_>) -> napi::Result<()> {
    axis_entry(&env, "logSoftmax", AxisOp::LogSoftmax, input, outer, c, inner, out)
}

/// Native softmax over `(outer, C, inner)`. Internal: use `index.ts`.
#[napi(js_name = "softmax")]
pub fn softmax_fn(env: Env, input: Unknown<'_>, outer: f64, c: f64, inner: f64, out: Unknown<'_>) -> napi::Result<()> {
    axis_entry(&env, "softmax", AxisOp::Softmax, input, outer, c, inner, out)
}

/// Native categorical entropy over `(outer, C, inner)`. Internal: use `index.ts`.
#[napi(js_name = "entropy")]
pub fn entropy(env: Env, input: Unknown<'_>, outer: f64, c: f64, inner: f64, out: Unknown<'_>) -> napi::Result<()> {
    axis_entry(&env, "entropy", AxisOp::Entropy, input, outer, c, inner, out)
}

fn unary_entry(env: &Env, name: &str, input: Unknown<'_>, eps: Option<f64>, out: Unknown<'_>, logit: bool) -> napi::Result<()> {
    guard(env, name, || {
        let x = View::of(&input, "input")?;
        let o = View::of(&out, "out")?;
        let io = Io { reads: vec![], out: Some(o), grad: None };
        io.check_aliasing(&x)?;
        fn run<T: Float>(x: &View, o: &View, eps: Option<f64>, logit: bool) -> Res<()> {
            expect::<T>(x, "input")?;
            expect::<T>(o, "out")?;
            // SAFETY: kinds checked; no overlap.
            let (xs, os) = unsafe { (x.slice::<T>(), o.slice_mut::<T>()) };
            if logit { elementwise::logit(xs, eps, os) } else { elementwise::sigmoid(xs, os) }
        }
        match x.kind {
            Kind::F32 => run::<f32>(&x, &o, eps, logit),
            Kind::F64 => run::<f64>(&x, &o, eps, logit),
            _ => Err(not_float(&x, "input")),
        }
    })
}

/// Native sigmoid. Internal: use `index.ts`.
#[napi(js_name = "sigmoid")]
pub fn sigmoid(env: Env, input: Unknown<'_>, out: Unknown<'_>) -> napi::Result<()> {
    unary_entry(&env, "sigmoid", input, None, out, false)
}

/// Native logit. Internal: use `index.ts`.
#[napi(js_name = "logit")]
pub fn logit(env: Env, input: Unknown<'_>, eps: Option<f64>, out: Unknown<'_>) -> napi::Result<()> {
    unary_entry(&env, "logit", input, eps, out, true)
}

/// Sets the number of threads used for large inputs.
#[napi(js_name = "setNumThreads")]
pub fn set_num_threads(n: u32) {
    par::set_num_threads(n as usize);
}

/// The number of threads used for large inputs.
#[napi(js_name = "getNumThreads")]
pub fn get_num_threads() -> u32 {
    u32::try_from(par::num_threads()).unwrap_or(u32::MAX)
}
