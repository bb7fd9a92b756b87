//! The arguments of one loss call, in the form every loss's `run` takes.
//!
//! The binding hands over typed views of the tensor arguments (slot 0 is the
//! input; then the other positional tensors and tensor options, in the order
//! the loss's TypeScript declaration lists them), their shapes, the reduction,
//! the upstream gradient, the outputs and the loss's scalar options (in
//! declaration order, defaults already applied by the TypeScript layer).

use crate::error::{check_len, Error, Result};
use crate::par::SendPtr;
use crate::{GradOutput, InputGrad, Real, Reduction};

/// Most tensor arguments a loss takes (input included).
pub const SLOTS: usize = 4;
/// Most differentiable tensors besides the input.
pub const EXTRA_GRADS: usize = 2;

/// One tensor argument, typed.
pub enum Slot<'a, T> {
    Absent,
    Float(&'a [T]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    /// A typed array of another kind (the message names it).
    Other(&'static str),
}

/// One loss call.
pub struct Args<'a, T> {
    /// The input and, if wanted, where its gradient goes.
    pub x: InputGrad<'a, T>,
    /// Tensor arguments by slot (slot 0 is the input, see `x`).
    pub slots: [Slot<'a, T>; SLOTS],
    /// Their shapes (slot 0: the input's).
    pub shapes: [&'a [usize]; SLOTS],
    /// Gradients of the other differentiable tensors, in declaration order.
    pub grads: [Option<&'a mut [T]>; EXTRA_GRADS],
    /// The `'none'` output.
    pub out: Option<&'a mut [T]>,
    pub gout: GradOutput<'a, T>,
    pub reduction: Reduction,
    /// The loss's scalar options, in declaration order (booleans as 0 / 1).
    pub params: &'a [f64],
}

impl<'a, T: Real> Args<'a, T> {
    /// The input's shape.
    #[must_use]
    pub fn shape(&self) -> &'a [usize] {
        self.shapes[0]
    }

    /// The input's element count.
    #[must_use]
    pub fn numel(&self) -> usize {
        self.shapes[0].iter().product()
    }

    /// Scalar option `k`.
    ///
    /// # Errors
    /// If the call carries fewer options (a binding/declaration mismatch).
    pub fn param(&self, k: usize) -> Result<f64> {
        self.params.get(k).copied().ok_or_else(|| Error::value(format!("missing option #{k}")))
    }

    /// Boolean option `k`.
    ///
    /// # Errors
    /// As [`Args::param`].
    pub fn flag(&self, k: usize) -> Result<bool> {
        Ok(self.param(k)? != 0.0)
    }

    /// The float tensor in slot `k` (named `name` in messages), if given, with
    /// its length checked against its shape.
    ///
    /// # Errors
    /// A tensor of another type than the input's, or a length that does not fit.
    pub fn float_opt(&self, k: usize, name: &str) -> Result<Option<(&'a [T], &'a [usize])>> {
        let got = match &self.slots[k] {
            Slot::Absent => return Ok(None),
            Slot::Float(v) => {
                let shape = self.shapes[k];
                check_len(name, v.len(), shape.iter().product())?;
                return Ok(Some((v, shape)));
            }
            Slot::I32(_) => "Int32Array",
            Slot::I64(_) => "BigInt64Array",
            Slot::Other(n) => n,
        };
        Err(Error::type_(format!("{name} must be a {} like the input, got {got}", kind_name::<T>())))
    }

    /// The float tensor in slot `k`, which must be given.
    ///
    /// # Errors
    /// As [`Args::float_opt`], or if it is absent.
    pub fn float(&self, k: usize, name: &str) -> Result<(&'a [T], &'a [usize])> {
        self.float_opt(k, name)?.ok_or_else(|| Error::type_(format!("{name} is missing")))
    }

    /// The reduction's denominator for a mean over `count` elements, after
    /// refusing `'batchmean'` where the loss has none.
    ///
    /// # Errors
    /// `'batchmean'` when `batchmean` is false.
    #[allow(clippy::cast_precision_loss)]
    pub fn denominator(&self, count: usize, batchmean: bool) -> Result<f64> {
        Ok(match self.reduction {
            Reduction::Mean => count as f64,
            Reduction::BatchMean if batchmean => self.shapes[0].first().map_or(1.0, |&n| n as f64),
            Reduction::BatchMean => {
                return Err(Error::value("reduction 'batchmean' is only valid for klDiv"))
            }
            Reduction::None | Reduction::Sum => 1.0,
        })
    }
}

fn kind_name<T: Real>() -> &'static str {
    if T::NAME == "float32" {
        "Float32Array"
    } else {
        "Float64Array"
    }
}

/// The upstream factor of each gradient element: `gradOutput` (over the
/// denominator for a mean), one number or one per loss element.
#[derive(Clone, Copy)]
pub enum GradScale<'a, T> {
    Uniform(f64),
    PerElement(&'a [T]),
}

impl<'a, T: Real> Args<'a, T> {
    /// Checks the `'none'` output and upstream gradient against `count` loss
    /// elements and takes the output.
    ///
    /// # Errors
    /// Lengths that do not fit, or a per-element `gradOutput` for a scalar loss.
    pub fn take_out(&mut self, count: usize) -> Result<Option<SendPtr<T>>> {
        if self.reduction == Reduction::None {
            self.gout.check(count)?;
            if let Some(o) = &self.out {
                check_len("out", o.len(), count)?;
            }
            Ok(self.out.take().map(|o| SendPtr(o.as_mut_ptr())))
        } else {
            if matches!(self.gout, GradOutput::PerElement(_)) {
                return Err(Error::value("gradOutput must be a number for a scalar loss"));
            }
            Ok(None)
        }
    }

    /// The gradient's upstream factor for a reduction with denominator `denom`.
    #[must_use]
    pub fn grad_scale(&self, denom: f64) -> GradScale<'a, T> {
        match self.gout {
            GradOutput::PerElement(v) => GradScale::PerElement(v),
            GradOutput::Scalar(g) => GradScale::Uniform(match self.reduction {
                Reduction::Mean | Reduction::BatchMean => g / denom,
                Reduction::None | Reduction::Sum => g,
            }),
        }
    }
}

/// A class-index tensor of either integer type.
#[derive(Clone, Copy)]
pub enum Indices<'a> {
    I32(&'a [i32]),
    I64(&'a [i64]),
}

impl Indices<'_> {
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::I32(v) => v.len(),
            Self::I64(v) => v.len(),
        }
    }
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Element `i`.
    #[inline]
    #[must_use]
    pub fn get(&self, i: usize) -> i64 {
        match self {
            Self::I32(v) => i64::from(v[i]),
            Self::I64(v) => v[i],
        }
    }
    /// The first element outside `[lo, hi)`, if any: `(index, value)`.
    #[must_use]
    pub fn first_outside(&self, lo: i64, hi: i64) -> Option<(usize, i64)> {
        (0..self.len()).map(|i| (i, self.get(i))).find(|&(_, v)| v < lo || v >= hi)
    }
}

impl<'a, T: Real> Args<'a, T> {
    /// The class-index tensor in slot `k`, its length checked against its shape.
    ///
    /// # Errors
    /// A float tensor or another kind, a missing one, a length that does not fit.
    pub fn indices(&self, k: usize, name: &str) -> Result<Indices<'a>> {
        let v = match &self.slots[k] {
            Slot::I32(v) => Indices::I32(v),
            Slot::I64(v) => Indices::I64(v),
            Slot::Absent => return Err(Error::type_(format!("{name} is missing"))),
            Slot::Float(_) => {
                return Err(Error::type_(format!(
                    "{name} must be an Int32Array or BigInt64Array, got a {}",
                    kind_name::<T>()
                )))
            }
            Slot::Other(n) => {
                return Err(Error::type_(format!("{name} must be an Int32Array or BigInt64Array, got {n}")))
            }
        };
        check_len(name, v.len(), self.shapes[k].iter().product())?;
        Ok(v)
    }

    /// A row loss's input: `(C)` (one row, a 0-d loss) or `(N, C)`. Returns `(N, C)`.
    ///
    /// # Errors
    /// Another rank, or a length that does not fit.
    pub fn rows(&self, what: &str) -> Result<(usize, usize)> {
        let s = self.shape();
        let (n, c) = match *s {
            [c] => (1, c),
            [n, c] => (n, c),
            _ => {
                return Err(Error::value(format!("{what} must have shape (C) or (N, C), got [{}]", join(s))))
            }
        };
        check_len(what, self.x.len(), n * c)?;
        Ok((n, c))
    }
}

impl<T: Real> GradScale<'_, T> {
    /// The upstream factor of loss element `r`.
    #[inline]
    #[must_use]
    pub fn at(&self, r: usize) -> f64 {
        match self {
            Self::Uniform(g) => *g,
            Self::PerElement(v) => v[r].to_f64(),
        }
    }
}

fn join(s: &[usize]) -> String {
    s.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// A row loss's result for row `r`: written to `out` (`'none'`) or added to
/// `acc` (the chunk's partial sum), as every row kernel ends a row.
///
/// # Safety
/// `out`, when present, holds more than `r` elements, and no other chunk
/// writes element `r`.
#[inline(always)]
pub unsafe fn put_row<T: Real>(out: Option<SendPtr<T>>, r: usize, l: f64, acc: &mut f64) {
    match out {
        // SAFETY: per the contract.
        Some(o) => unsafe { *o.ptr().add(r) = T::from_f64(l) },
        None => *acc += l,
    }
}
