//! The napi-rs binding: converts arguments, calls `losskit-core`, maps errors.
//! No maths here. The TypeScript layer (`index.ts`) reads options, checks
//! JavaScript types and shapes and allocates outputs; this layer re-checks what
//! memory safety depends on (kinds, lengths, aliasing) and lets the kernels
//! validate the data they scan.
#![allow(clippy::needless_pass_by_value, clippy::too_many_arguments)]

mod views;

use losskit_core::call::{Args, Slot, EXTRA_GRADS, SLOTS};
use losskit_core::cross_entropy::{cross_entropy_index, cross_entropy_prob, ClassOptions};
use losskit_core::elementwise;
use losskit_core::sliced::{Sliced, Step};
use losskit_core::softmax::{self, Axis};
use losskit_core::{nll, par, Dims, Error, ErrorKind, GradOutput, Reduction};
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use std::time::Duration;
use views::{expect, Float, Io, Kind, Reads, View};

type Res<T> = std::result::Result<T, Error>;

/// Throws `e` as Node's error class with its `code`. The message carries no
/// function name: the TypeScript layer prefixes the public name it was called by.
fn throw(env: &Env, e: &Error) -> napi::Error {
    let msg = e.message.clone();
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
fn guard<R>(env: &Env, f: impl FnOnce() -> Res<R>) -> napi::Result<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(throw(env, &e)),
        Err(p) => {
            Err(napi::Error::new(Status::GenericFailure, format!("internal error: {}", panic_text(&*p))))
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
    Ok(unsafe {
        Floats { weight: weight.map(|w| w.slice::<T>()), out: io.out.map(|o| o.slice_mut::<T>()), gout }
    })
}

/// One fully parsed native call: raw views of the arguments plus scalars. It
/// runs on the calling thread (sync API) or, time-sliced, on a driver thread
/// while the calling thread waits (async API, see [`Job`]).
// Built once per call on the stack (sync) or moved once into a job (async):
// boxing the larger variants would cost an allocation on the per-call hot path.
#[allow(clippy::large_enum_variant)]
enum Call {
    Class {
        nll: bool,
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
    },
    /// A loss registered with [`losses!`].
    Loss(Box<LossCall>),
    Axis {
        op: AxisOp,
        input: View,
        out: View,
        axis: Axis,
    },
    Unary {
        logit: bool,
        eps: Option<f64>,
        input: View,
        out: View,
    },
}

// SAFETY: a Call holds raw pointers into typed arrays. The sync API runs it on
// the JS thread during the call; the async API runs it on a driver thread only
// while the JS thread waits inside `Job::step`, after re-checking that every
// pointer is still the memory of a live, referenced, unresized typed array.
unsafe impl Send for Call {}

/// Which axis helper.
#[derive(Clone, Copy)]
enum AxisOp {
    LogSoftmax,
    Softmax,
    Entropy,
}

impl Call {
    fn run(&self) -> Res<f64> {
        match self {
            Self::Loss(c) => match c.input.kind {
                Kind::F32 => c.run::<f32>(c.run32),
                Kind::F64 => c.run::<f64>(c.run64),
                _ => Err(not_float(&c.input, "input")),
            },
            Self::Class { input, .. } => match input.kind {
                Kind::F32 => self.run_loss::<f32>(),
                Kind::F64 => self.run_loss::<f64>(),
                _ => Err(not_float(input, "input")),
            },
            Self::Axis { input, .. } | Self::Unary { input, .. } => match input.kind {
                Kind::F32 => self.run_helper::<f32>().map(|()| f64::NAN),
                Kind::F64 => self.run_helper::<f64>().map(|()| f64::NAN),
                _ => Err(not_float(input, "input")),
            },
        }
    }

    #[allow(clippy::cast_possible_truncation)]
    fn run_loss<T: Float>(&self) -> Res<f64> {
        match self {
            Self::Class {
                nll,
                input,
                target,
                target_scalar,
                weight,
                ignore_index,
                reduction: r,
                label_smoothing,
                dims,
                gout,
                gout_scalar,
                io,
            } => {
                let nll = *nll;
                expect::<T>(input, "input")?;
                let f = floats::<T>(io, weight.as_ref(), gout.as_ref(), *gout_scalar)?;
                // SAFETY: kinds checked; aliasing checked when the call was parsed.
                let x = unsafe { io.input_grad::<T>(input)? };
                let o = ClassOptions {
                    weight: f.weight,
                    ignore_index: *ignore_index as i64,
                    reduction: reduction(*r, false)?,
                    label_smoothing: *label_smoothing,
                };
                let d = *dims;
                match target {
                    None => {
                        let t = [*target_scalar as i64];
                        if nll {
                            nll::nll_loss(d, &x, &t, &o, f.gout, f.out)
                        } else {
                            cross_entropy_index(d, &x, &t, &o, f.gout, f.out)
                        }
                    }
                    // SAFETY (all arms): kinds checked by the match; targets are read-only.
                    Some(t) => match t.kind {
                        Kind::I32 if nll => {
                            // SAFETY: kind checked by the match arm; targets are read-only.
                            nll::nll_loss(d, &x, unsafe { t.slice::<i32>() }, &o, f.gout, f.out)
                        }
                        Kind::I64 if nll => {
                            // SAFETY: kind checked by the match arm; targets are read-only.
                            nll::nll_loss(d, &x, unsafe { t.slice::<i64>() }, &o, f.gout, f.out)
                        }
                        Kind::I32 => {
                            // SAFETY: kind checked by the match arm; targets are read-only.
                            cross_entropy_index(d, &x, unsafe { t.slice::<i32>() }, &o, f.gout, f.out)
                        }
                        Kind::I64 => {
                            // SAFETY: kind checked by the match arm; targets are read-only.
                            cross_entropy_index(d, &x, unsafe { t.slice::<i64>() }, &o, f.gout, f.out)
                        }
                        k if k == T::KIND && !nll => {
                            // SAFETY: kind checked by the match arm; targets are read-only.
                            cross_entropy_prob(d, &x, unsafe { t.slice::<T>() }, &o, f.gout, f.out)
                        }
                        k => Err(Error::type_(format!(
                            "target must be an Int32Array or BigInt64Array of class indices{}, got {}",
                            if nll { "" } else { " or class probabilities of the input's type" },
                            k.js_name()
                        ))),
                    },
                }
            }
            _ => unreachable!("run_loss on a helper call"),
        }
    }

    fn run_helper<T: Float>(&self) -> Res<()> {
        let (input, out) = match self {
            Self::Axis { input, out, .. } | Self::Unary { input, out, .. } => (input, out),
            _ => unreachable!("run_helper on a loss call"),
        };
        expect::<T>(input, "input")?;
        expect::<T>(out, "out")?;
        // SAFETY: kinds checked; no overlap (checked when parsed).
        let (xs, os) = unsafe { (input.slice::<T>(), out.slice_mut::<T>()) };
        match self {
            Self::Axis { op: AxisOp::LogSoftmax, axis, .. } => softmax::log_softmax(xs, *axis, os),
            Self::Axis { op: AxisOp::Softmax, axis, .. } => softmax::softmax(xs, *axis, os),
            Self::Axis { op: AxisOp::Entropy, axis, .. } => softmax::entropy(xs, *axis, os),
            Self::Unary { logit: true, eps, .. } => elementwise::logit(xs, *eps, os),
            Self::Unary { logit: false, .. } => elementwise::sigmoid(xs, os),
            _ => unreachable!(),
        }
    }
}

type RunFn<T> = fn(Args<'_, T>) -> Res<f64>;

/// A call of a loss registered with [`losses!`]: its `run` for each float type
/// and the raw arguments, in the uniform layout every registered loss shares.
struct LossCall {
    run32: RunFn<f32>,
    run64: RunFn<f64>,
    input: View,
    /// Tensor arguments by slot (slot 0, the input, is `input`).
    slots: [Option<View>; SLOTS],
    shapes: [Vec<usize>; SLOTS],
    gout: Option<View>,
    gout_scalar: f64,
    reduction: u32,
    params: Vec<f64>,
    io: Io,
}

/// Names of the tensor slots in aliasing messages (the TypeScript layer checks
/// first, with the loss's own argument names).
const SLOT_NAMES: [&str; SLOTS] = ["input", "argument 2", "argument 3", "argument 4"];
const EXTRA_GRAD_NAMES: [&str; EXTRA_GRADS] = ["gradOut (2nd tensor)", "gradOut (3rd tensor)"];

impl LossCall {
    /// Parses the uniform layout. `params` is one `Float64Array`:
    /// `[reduction, gradOutputScalar, then per slot: rank (-1: absent) and sizes,
    /// then the loss's options in declaration order]`.
    #[allow(clippy::too_many_arguments)]
    fn parse(
        run32: RunFn<f32>,
        run64: RunFn<f64>,
        tensors: [Option<&Unknown<'_>>; SLOTS],
        grad_output: Option<&Unknown<'_>>,
        out: Option<&Unknown<'_>>,
        grads: [Option<&Unknown<'_>>; 1 + EXTRA_GRADS],
        params: &Unknown<'_>,
    ) -> Res<Call> {
        let pv = View::of(params, "params")?;
        if pv.kind != Kind::F64 || pv.len < 2 + SLOTS {
            return Err(Error::type_("params must be a Float64Array"));
        }
        // SAFETY: kind checked; copied at once.
        let p = unsafe { pv.slice::<f64>() }.to_vec();
        let r = p[0];
        // A reduction code that is not a small integer maps to one `reduction()` rejects.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let reduction = if (0.0..=3.0).contains(&r) && r.fract() == 0.0 { r as u32 } else { u32::MAX };
        let mut pos = 2;
        let mut shapes: [Vec<usize>; SLOTS] = Default::default();
        for shape in &mut shapes {
            let rank = *p.get(pos).ok_or_else(|| Error::value("params too short"))?;
            pos += 1;
            if rank < 0.0 {
                continue;
            }
            let rank = size(rank, "rank")?;
            let dims = p.get(pos..pos + rank).ok_or_else(|| Error::value("params too short"))?;
            *shape = shape_of(dims, "shape")?;
            pos += rank;
        }
        let input = View::of(tensors[0].ok_or_else(|| Error::type_("input is missing"))?, "input")?;
        let mut slots = [None; SLOTS];
        let mut reads = Reads::default();
        for k in 1..SLOTS {
            slots[k] = View::opt(tensors[k], SLOT_NAMES[k])?;
            if let Some(v) = slots[k] {
                reads.push(SLOT_NAMES[k], v)?;
            }
        }
        let gout = View::opt(grad_output, "gradOutput")?;
        if let Some(g) = gout {
            reads.push("gradOutput", g)?;
        }
        let mut io = Io::new(reads, View::opt(out, "out")?, View::opt(grads[0], "gradOut")?);
        for k in 0..EXTRA_GRADS {
            io.extra[k] = View::opt(grads[k + 1], EXTRA_GRAD_NAMES[k])?.map(|v| (EXTRA_GRAD_NAMES[k], v));
        }
        io.check_aliasing(&input)?;
        Ok(Call::Loss(Box::new(Self {
            run32,
            run64,
            input,
            slots,
            shapes,
            gout,
            gout_scalar: p[1],
            reduction,
            params: p[pos..].to_vec(),
            io,
        })))
    }

    fn run<T: Float>(&self, run: RunFn<T>) -> Res<f64> {
        expect::<T>(&self.input, "input")?;
        let f = floats::<T>(&self.io, None, self.gout.as_ref(), self.gout_scalar)?;
        let mut grads: [Option<&mut [T]>; EXTRA_GRADS] = Default::default();
        for (g, e) in grads.iter_mut().zip(&self.io.extra) {
            if let Some((name, v)) = e {
                expect::<T>(v, name)?;
                // SAFETY: kind checked; aliasing checked when parsed.
                *g = Some(unsafe { v.slice_mut::<T>() });
            }
        }
        let mut slots: [Slot<'_, T>; SLOTS] = [Slot::Absent, Slot::Absent, Slot::Absent, Slot::Absent];
        for (s, v) in slots.iter_mut().zip(&self.slots) {
            let Some(v) = v else { continue };
            // SAFETY (all arms): kinds checked by the match; read-only, and no
            // output overlaps them (checked when parsed).
            *s = match v.kind {
                // SAFETY: kind checked by the arm; read-only.
                k if k == T::KIND => Slot::Float(unsafe { v.slice::<T>() }),
                // SAFETY: as above.
                Kind::I32 => Slot::I32(unsafe { v.slice::<i32>() }),
                // SAFETY: as above.
                Kind::I64 => Slot::I64(unsafe { v.slice::<i64>() }),
                k => Slot::Other(k.js_name()),
            };
        }
        let args = Args {
            // SAFETY: kinds checked; aliasing checked when parsed.
            x: unsafe { self.io.input_grad::<T>(&self.input)? },
            slots,
            shapes: [&self.shapes[0], &self.shapes[1], &self.shapes[2], &self.shapes[3]],
            grads,
            out: f.out,
            gout: f.gout,
            reduction: reduction(self.reduction, true)?,
            params: &self.params,
        };
        run(args)
    }
}

/// Declares each loss once: its sync and async native entries, which parse
/// the uniform argument layout ([`LossCall::parse`]) and run the loss's
/// `run` (`losskit_core::losses::<loss>::run`) for the input's float type.
macro_rules! losses {
    ($($sync:ident, $async_:ident, $js:literal, $js_async:literal => $run:path;)*) => {$(
        #[doc = "Native loss entry (the uniform layout of `LossCall::parse`). Internal: use `index.ts`."]
        #[napi(js_name = $js)]
        pub fn $sync(
            env: Env, input: Unknown<'_>, a1: Option<Unknown<'_>>, a2: Option<Unknown<'_>>, a3: Option<Unknown<'_>>,
            grad_output: Option<Unknown<'_>>, out: Option<Unknown<'_>>, grad_out: Option<Unknown<'_>>,
            grad1: Option<Unknown<'_>>, grad2: Option<Unknown<'_>>, params: Unknown<'_>,
        ) -> napi::Result<f64> {
            run_sync(&env, || LossCall::parse($run, $run,
                [Some(&input), a1.as_ref(), a2.as_ref(), a3.as_ref()], grad_output.as_ref(), out.as_ref(),
                [grad_out.as_ref(), grad1.as_ref(), grad2.as_ref()], &params))
        }

        #[doc = "Native loss entry, async: a time-sliced job over the same arguments (see `Job`)."]
        #[napi(js_name = $js_async)]
        pub fn $async_(
            env: Env, input: Unknown<'_>, a1: Option<Unknown<'_>>, a2: Option<Unknown<'_>>, a3: Option<Unknown<'_>>,
            grad_output: Option<Unknown<'_>>, out: Option<Unknown<'_>>, grad_out: Option<Unknown<'_>>,
            grad1: Option<Unknown<'_>>, grad2: Option<Unknown<'_>>, params: Unknown<'_>,
        ) -> napi::Result<Job> {
            let call = LossCall::parse($run, $run,
                [Some(&input), a1.as_ref(), a2.as_ref(), a3.as_ref()], grad_output.as_ref(), out.as_ref(),
                [grad_out.as_ref(), grad1.as_ref(), grad2.as_ref()], &params);
            job(&env, call, &[&input, &a1, &a2, &a3, &grad_output, &out, &grad_out, &grad1, &grad2, &params])
        }
    )*};
}

use losskit_core::losses;

losses! {
    kl_div, kl_div_async, "klDiv", "klDivAsync" => losses::kl_div::run;
    binary_cross_entropy, binary_cross_entropy_async, "binaryCrossEntropy", "binaryCrossEntropyAsync" => losses::binary_cross_entropy::run;
    binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_async, "binaryCrossEntropyWithLogits", "binaryCrossEntropyWithLogitsAsync" => losses::binary_cross_entropy_with_logits::run;
    l1_loss, l1_loss_async, "l1Loss", "l1LossAsync" => losses::l1_loss::run;
    mse_loss, mse_loss_async, "mseLoss", "mseLossAsync" => losses::mse_loss::run;
    smooth_l1_loss, smooth_l1_loss_async, "smoothL1Loss", "smoothL1LossAsync" => losses::smooth_l1_loss::run;
    huber_loss, huber_loss_async, "huberLoss", "huberLossAsync" => losses::huber_loss::run;
    poisson_nll_loss, poisson_nll_loss_async, "poissonNllLoss", "poissonNllLossAsync" => losses::poisson_nll_loss::run;
    gaussian_nll_loss, gaussian_nll_loss_async, "gaussianNllLoss", "gaussianNllLossAsync" => losses::gaussian_nll_loss::run;
    margin_ranking_loss, margin_ranking_loss_async, "marginRankingLoss", "marginRankingLossAsync" => losses::margin_ranking_loss::run;
    hinge_embedding_loss, hinge_embedding_loss_async, "hingeEmbeddingLoss", "hingeEmbeddingLossAsync" => losses::hinge_embedding_loss::run;
    soft_margin_loss, soft_margin_loss_async, "softMarginLoss", "softMarginLossAsync" => losses::soft_margin_loss::run;
    multilabel_soft_margin_loss, multilabel_soft_margin_loss_async, "multilabelSoftMarginLoss", "multilabelSoftMarginLossAsync" => losses::multilabel_soft_margin_loss::run;
    multilabel_margin_loss, multilabel_margin_loss_async, "multilabelMarginLoss", "multilabelMarginLossAsync" => losses::multilabel_margin_loss::run;
    multi_margin_loss, multi_margin_loss_async, "multiMarginLoss", "multiMarginLossAsync" => losses::multi_margin_loss::run;
    cosine_embedding_loss, cosine_embedding_loss_async, "cosineEmbeddingLoss", "cosineEmbeddingLossAsync" => losses::cosine_embedding_loss::run;
    triplet_margin_loss, triplet_margin_loss_async, "tripletMarginLoss", "tripletMarginLossAsync" => losses::triplet_margin_loss::run;
    ctc_loss, ctc_loss_async, "ctcLoss", "ctcLossAsync" => losses::ctc_loss::run;
    triplet_margin_with_distance_loss, triplet_margin_with_distance_loss_async, "tripletMarginWithDistanceLoss", "tripletMarginWithDistanceLossAsync" => losses::triplet_margin_with_distance_loss::run;
}

fn io_of(reads: Reads, out: Option<&Unknown<'_>>, grad: Option<&Unknown<'_>>, input: &View) -> Res<Io> {
    let io = Io::new(reads, View::opt(out, "out")?, View::opt(grad, "gradOut")?);
    io.check_aliasing(input)?;
    Ok(io)
}

#[allow(clippy::too_many_arguments)]
fn class_call(
    nll: bool,
    input: &Unknown<'_>,
    target: Option<&Unknown<'_>>,
    weight: Option<&Unknown<'_>>,
    grad_output: Option<&Unknown<'_>>,
    out: Option<&Unknown<'_>>,
    grad_out: Option<&Unknown<'_>>,
    params: &Unknown<'_>,
) -> Res<Call> {
    let [target_scalar, ignore_index, r, label_smoothing, n, c, d, gout_scalar] = class_params(params)?;
    // A reduction code that is not a small integer maps to one `reduction()` rejects.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let reduction = if (0.0..=3.0).contains(&r) && r.fract() == 0.0 { r as u32 } else { u32::MAX };
    let input = View::of(input, "input")?;
    let target = View::opt(target, "target")?;
    let weight = View::opt(weight, "weight")?;
    let gout = View::opt(grad_output, "gradOutput")?;
    let mut reads = Reads::default();
    for (name, v) in [("target", target), ("weight", weight), ("gradOutput", gout)] {
        if let Some(v) = v {
            reads.push(name, v)?;
        }
    }
    let io = io_of(reads, out, grad_out, &input)?;
    Ok(Call::Class {
        nll,
        input,
        target,
        target_scalar,
        weight,
        ignore_index,
        reduction,
        label_smoothing,
        dims: Dims { n: size(n, "N")?, c: size(c, "C")?, d: size(d, "D")? },
        gout,
        gout_scalar,
        io,
    })
}

fn helper_io(input: &Unknown<'_>, out: &Unknown<'_>) -> Res<(View, View)> {
    let x = View::of(input, "input")?;
    let o = View::of(out, "out")?;
    Io::new(Reads::default(), Some(o), None).check_aliasing(&x)?;
    Ok((x, o))
}

fn axis_call(
    op: AxisOp,
    input: &Unknown<'_>,
    outer: f64,
    c: f64,
    inner: f64,
    out: &Unknown<'_>,
) -> Res<Call> {
    let (input, out) = helper_io(input, out)?;
    let axis = Axis { outer: size(outer, "outer")?, c: size(c, "C")?, inner: size(inner, "inner")? };
    Ok(Call::Axis { op, input, out, axis })
}

fn unary_call(logit: bool, input: &Unknown<'_>, eps: Option<f64>, out: &Unknown<'_>) -> Res<Call> {
    let (input, out) = helper_io(input, out)?;
    Ok(Call::Unary { logit, eps, input, out })
}

/// Runs a parsed call now, on the JS thread.
fn run_sync(env: &Env, call: impl FnOnce() -> Res<Call>) -> napi::Result<f64> {
    guard(env, || call()?.run())
}

/// One typed-array argument of an async call: its position in the call, a
/// reference keeping it alive, and the memory it had when the call was made.
struct Pin {
    arg: u32,
    reference: sys::napi_ref,
    view: View,
}

/// An async call (`losskit/async`): the same [`Call::run`] as the sync API,
/// time-sliced ([`losskit_core::sliced`]). It runs on a driver thread only
/// inside [`Job::step`], while the JavaScript thread waits, after every
/// argument has been checked to be the same memory as when the call was made.
/// So no JavaScript runs while the kernel touches the caller's buffers — none
/// can detach, transfer or shrink them under it — and nothing is copied.
#[napi]
pub struct Job {
    /// The parsed call until its first step runs it (small input) or starts it
    /// on a driver thread (a queued call holds no thread).
    call: Option<Call>,
    /// Small input: the first step runs the whole call on the JS thread, as
    /// the sync API does; slicing would cost more than the computation.
    small: bool,
    sliced: Option<Sliced<Res<f64>>>,
    result: Option<std::thread::Result<Res<f64>>>,
    pins: Vec<Pin>,
    env: sys::napi_env,
}

/// Input elements below which an async call is small: its job runs whole in
/// its first step (see [`Job::small`]), and `losskit/async` allocates its
/// fresh outputs at the call instead of at the job's first step.
#[napi]
#[allow(clippy::cast_possible_truncation)]
pub const SMALL_ASYNC_INPUT: u32 = par::PARALLEL_THRESHOLD as u32;

/// What [`Job::step`] reports: still running, finished, or argument `k`
/// changed (`CHANGED + k`; the job is then cancelled).
const RUNNING: u32 = 0;
const DONE: u32 = 1;
const CHANGED: u32 = 2;

#[napi]
impl Job {
    /// Runs the call for about `ms` milliseconds while the JavaScript thread
    /// waits. Returns 0 (not finished: step again after a turn of the event
    /// loop), 1 (finished: read [`Job::result`]) or 2 + k (argument k was
    /// detached or resized since the call: the job is cancelled).
    #[napi]
    pub fn step(&mut self, ms: f64) -> u32 {
        if self.sliced.is_none() && self.call.is_none() {
            return DONE;
        }
        for p in &self.pins {
            let mut v = std::ptr::null_mut();
            // SAFETY: the reference was created in this env and is still held;
            // step runs on the JavaScript thread.
            let ok = unsafe { sys::napi_get_reference_value(self.env, p.reference, &mut v) }
                == sys::Status::napi_ok;
            // SAFETY: as above; `v` belongs to this env.
            let same = ok && unsafe { View::of_raw(self.env, v, "") }.is_ok_and(|now| p.view.unchanged(&now));
            if !same {
                let arg = p.arg;
                self.finish();
                return CHANGED + arg;
            }
        }
        let budget = Duration::from_secs_f64(if ms.is_finite() { ms.clamp(0.0, 1e6) / 1e3 } else { 0.0 });
        if let Some(call) = self.call.take() {
            if self.small {
                self.result = Some(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call.run())));
                self.finish();
                return DONE;
            }
            match Sliced::start(move || call.run()) {
                Ok(s) => self.sliced = Some(s),
                Err(e) => {
                    self.result = Some(Ok(Err(Error::value(format!("cannot start a driver thread: {e}")))));
                    self.finish();
                    return DONE;
                }
            }
        }
        let Some(s) = self.sliced.as_mut() else { return DONE };
        match s.resume(budget) {
            Step::Pending => RUNNING,
            Step::Done(r) => {
                self.result = Some(r);
                self.finish();
                DONE
            }
        }
    }

    /// Whether the call's input is small (it then runs whole in one step, and
    /// the JS queue runs it ahead of the large ones).
    #[napi(getter)]
    pub fn small(&self) -> bool {
        self.small
    }

    /// The finished call's value, or its error thrown as the sync API throws it.
    #[napi]
    pub fn result(&mut self, env: Env) -> napi::Result<f64> {
        match self.result.take() {
            Some(Ok(Ok(v))) => Ok(v),
            Some(Ok(Err(e))) => Err(throw(&env, &e)),
            Some(Err(p)) => {
                Err(napi::Error::new(Status::GenericFailure, format!("internal error: {}", panic_text(&*p))))
            }
            None => Err(napi::Error::new(
                Status::GenericFailure,
                "internal error: no result (the job did not finish)",
            )),
        }
    }

    /// Cancels a running job and releases the references.
    fn finish(&mut self) {
        self.call = None;
        if let Some(mut s) = self.sliced.take() {
            s.cancel();
        }
        for p in self.pins.drain(..) {
            // SAFETY: created in this env by `job`; deleted once (drained).
            unsafe { sys::napi_delete_reference(self.env, p.reference) };
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // A job dropped unfinished (never driven to the end) is cancelled first:
        // no driver stays parked, and no reference outlives the job.
        self.finish();
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// An argument of a native entry, as far as pinning is concerned.
trait Arg {
    fn unknown(&self) -> Option<&Unknown<'_>>;
}
impl Arg for Unknown<'_> {
    fn unknown(&self) -> Option<&Unknown<'_>> {
        Some(self)
    }
}
impl Arg for Option<Unknown<'_>> {
    fn unknown(&self) -> Option<&Unknown<'_>> {
        self.as_ref()
    }
}
impl Arg for f64 {
    fn unknown(&self) -> Option<&Unknown<'_>> {
        None
    }
}
impl Arg for Option<f64> {
    fn unknown(&self) -> Option<&Unknown<'_>> {
        None
    }
}

/// Makes an async call's job: pins every typed-array argument (`args`, in
/// call order) and keeps the parsed call for the first [`Job::step`], which
/// starts it on a driver thread.
fn job(env: &Env, call: Res<Call>, args: &[&dyn Arg]) -> napi::Result<Job> {
    let call = call.map_err(|e| throw(env, &e))?;
    // References taken so far are released by `Job`'s drop on the error path.
    let mut job =
        Job { call: None, small: true, sliced: None, result: None, pins: Vec::new(), env: env.raw() };
    for (k, a) in args.iter().enumerate() {
        let Some(u) = a.unknown() else { continue };
        let Ok(view) = View::of(u, "") else { continue };
        let mut reference = std::ptr::null_mut();
        // SAFETY: `u` is an argument of the current call in `env`.
        if unsafe { sys::napi_create_reference(job.env, u.raw(), 1, &mut reference) } != sys::Status::napi_ok
        {
            return Err(napi::Error::new(Status::GenericFailure, "cannot reference an argument"));
        }
        if k == 0 {
            job.small = view.len < par::PARALLEL_THRESHOLD;
        }
        job.pins.push(Pin { arg: u32::try_from(k).unwrap_or(u32::MAX), reference, view });
    }
    job.call = Some(call);
    Ok(job)
}

/// Declares the sync and async native entries of one operation: both parse
/// their arguments with the same function and run the same [`Call`].
macro_rules! entries {
    (
        doc $doc:literal,
        $sync:ident, $async_:ident, $js:literal, $js_async:literal, ret $ret:ty, map $map:expr,
        ($($arg:ident : $ty:ty),* $(,)?) => $build:expr
    ) => {
        // A plain string literal: napi-derive copies the attribute's tokens into
        // the `.d.ts`, and a `///` comment's are a raw string (`r"…"`).
        #[doc = $doc]
        #[napi(js_name = $js)]
        pub fn $sync(env: Env, $($arg: $ty),*) -> napi::Result<$ret> {
            run_sync(&env, || $build).map($map)
        }

        #[doc = $doc]
        #[doc = "Async: a time-sliced job over the same arguments (see `Job`)."]
        #[napi(js_name = $js_async)]
        pub fn $async_(env: Env, $($arg: $ty),*) -> napi::Result<Job> {
            job(&env, $build, &[$(&$arg),*])
        }
    };
}

/// Reads the packed scalar parameters of a class-loss call —
/// `[targetScalar, ignoreIndex, reduction, labelSmoothing, N, C, D, gradOutputScalar]` —
/// one `Float64Array`
/// instead of eight number arguments (each napi argument costs a conversion;
/// this keeps a (32, 10) call well under a microsecond).
fn class_params(p: &Unknown<'_>) -> Res<[f64; 8]> {
    let v = View::of(p, "params")?;
    if v.kind != Kind::F64 || v.len < 8 {
        return Err(Error::type_("params must be a Float64Array of 8 values"));
    }
    // SAFETY: kind and length checked; read once, here.
    let s = unsafe { v.slice::<f64>() };
    let mut a = [0.0; 8];
    a.copy_from_slice(&s[..8]);
    Ok(a)
}

entries!(
    doc "Native cross entropy over an `(N, C, D)` input. Internal: use `index.ts`.",
    cross_entropy, cross_entropy_async, "crossEntropy", "crossEntropyAsync",
    ret f64, map |v| v,
    (input: Unknown<'_>, target: Option<Unknown<'_>>, weight: Option<Unknown<'_>>,
     grad_output: Option<Unknown<'_>>, out: Option<Unknown<'_>>, grad_out: Option<Unknown<'_>>,
     params: Unknown<'_>)
    => class_call(false, &input, target.as_ref(), weight.as_ref(), grad_output.as_ref(), out.as_ref(),
        grad_out.as_ref(), &params)
);

entries!(
    doc "Native NLL loss over an `(N, C, D)` input. Internal: use `index.ts`.",
    nll_loss, nll_loss_async, "nllLoss", "nllLossAsync",
    ret f64, map |v| v,
    (input: Unknown<'_>, target: Option<Unknown<'_>>, weight: Option<Unknown<'_>>,
     grad_output: Option<Unknown<'_>>, out: Option<Unknown<'_>>, grad_out: Option<Unknown<'_>>,
     params: Unknown<'_>)
    => class_call(true, &input, target.as_ref(), weight.as_ref(), grad_output.as_ref(), out.as_ref(),
        grad_out.as_ref(), &params)
);

entries!(
    doc "Native log-softmax over `(outer, C, inner)`. Internal: use `index.ts`.",
    log_softmax, log_softmax_async, "logSoftmax", "logSoftmaxAsync", ret (), map |_| (),
    (input: Unknown<'_>, outer: f64, c: f64, inner: f64, out: Unknown<'_>)
    => axis_call(AxisOp::LogSoftmax, &input, outer, c, inner, &out)
);

entries!(
    doc "Native softmax over `(outer, C, inner)`. Internal: use `index.ts`.",
    softmax_fn, softmax_async, "softmax", "softmaxAsync", ret (), map |_| (),
    (input: Unknown<'_>, outer: f64, c: f64, inner: f64, out: Unknown<'_>)
    => axis_call(AxisOp::Softmax, &input, outer, c, inner, &out)
);

entries!(
    doc "Native categorical entropy over `(outer, C, inner)`. Internal: use `index.ts`.",
    entropy, entropy_async, "entropy", "entropyAsync", ret (), map |_| (),
    (input: Unknown<'_>, outer: f64, c: f64, inner: f64, out: Unknown<'_>)
    => axis_call(AxisOp::Entropy, &input, outer, c, inner, &out)
);

entries!(
    doc "Native sigmoid. Internal: use `index.ts`.",
    sigmoid, sigmoid_async, "sigmoid", "sigmoidAsync", ret (), map |_| (),
    (input: Unknown<'_>, out: Unknown<'_>)
    => unary_call(false, &input, None, &out)
);

entries!(
    doc "Native logit. Internal: use `index.ts`.",
    logit, logit_async, "logit", "logitAsync", ret (), map |_| (),
    (input: Unknown<'_>, eps: Option<f64>, out: Unknown<'_>)
    => unary_call(true, &input, eps, &out)
);

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

/// Benchmark only (`benchmark/bandwidth.mjs`, through `__impl`): the sum of
/// `x`, read as the losses read, on their thread pool.
#[napi(js_name = "streamRead")]
pub fn stream_read(x: &[f32]) -> f64 {
    losskit_core::stream::read_sum(x)
}

/// Benchmark only: `a = b + s·c`, two reads and one write per element.
#[napi(js_name = "streamTriad")]
pub fn stream_triad(env: Env, a: Unknown<'_>, b: Unknown<'_>, c: Unknown<'_>, s: f64) -> napi::Result<()> {
    guard(&env, || {
        let [a, b, c] = [View::of(&a, "a")?, View::of(&b, "b")?, View::of(&c, "c")?];
        for (v, name) in [(&a, "a"), (&b, "b"), (&c, "c")] {
            expect::<f32>(v, name)?;
        }
        if a.overlaps(&b) || a.overlaps(&c) {
            return Err(Error::value("a overlaps b or c"));
        }
        // SAFETY: kinds checked; `a` shares no memory with `b` or `c`.
        let (a, b, c) = unsafe { (a.slice_mut::<f32>(), b.slice::<f32>(), c.slice::<f32>()) };
        #[allow(clippy::cast_possible_truncation)]
        losskit_core::stream::triad(a, b, c, s as f32);
        Ok(())
    })
}

/// Benchmark only: zeroes `a` as the losses clear a gradient.
#[napi(js_name = "streamFill")]
pub fn stream_fill(env: Env, a: Unknown<'_>) -> napi::Result<()> {
    guard(&env, || {
        let a = View::of(&a, "a")?;
        expect::<f32>(&a, "a")?;
        // SAFETY: kind checked; the only view of this memory in the call.
        losskit_core::stream::fill(unsafe { a.slice_mut::<f32>() });
        Ok(())
    })
}
