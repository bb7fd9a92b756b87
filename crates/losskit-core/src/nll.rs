//! `F.nll_loss`: the negative log-likelihood of log-probabilities.
//!
//! `loss_j = -w[t_j] * x[n, t_j, j]`, 0 where `t_j == ignore_index`; the
//! weighted mean divides by the sum of the weights of the non-ignored targets.
//! The gradient is `-w[t] * scale` at the target class and 0 elsewhere; it does
//! not depend on `x`, so the in-place form writes it after reading the losses.

use crate::cross_entropy::{check_common, scan_targets, ClassOptions};
use crate::error::{check_len, Result};
use crate::par::{self, map_chunks, SendPtr};
use crate::{Dims, GradOutput, Index, InputGrad, Real, Reduction};

/// Negative log-likelihood with class-index targets; see the module docs.
///
/// # Errors
/// Lengths that do not fit `dims`, or a target outside `[0, C)` that is not
/// `ignore_index`. Nothing is written then.
pub fn nll_loss<T: Real, I: Index>(
    dims: Dims,
    x: &InputGrad<'_, T>,
    target: &[I],
    o: &ClassOptions<'_, T>,
    gout: GradOutput<'_, T>,
    out: Option<&mut [T]>,
) -> Result<f64> {
    check_common(dims, x, o.weight, o.reduction, &gout, out.as_deref())?;
    check_len("target", target.len(), dims.positions())?;
    let denom = scan_targets(target, dims.c, o.ignore_index, o.weight)?;
    let (c, d) = (dims.c, dims.d);
    let ii = o.ignore_index;
    let weight = o.weight;
    let reduction = o.reduction;
    let out_ptr = out.map(|o| SendPtr(o.as_mut_ptr()));
    let target_of = |p: usize| -> Option<usize> {
        let t = target[p].to_i64();
        #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
        (t != ii).then_some(t as usize)
    };

    // Pass 1: the losses (reads x at the target classes only).
    let parts = map_chunks(dims.positions(), 1, |s, e| {
        let mut acc = 0.0f64;
        for p in s..e {
            let loss = match target_of(p) {
                None => 0.0,
                Some(t) => {
                    let (n, j) = (p / d, p % d);
                    let w = weight.map_or(1.0, |w| w[t].to_f64());
                    // SAFETY: t < c (scan_targets) and n, j within dims.
                    -(w * unsafe { x.x(n * c * d + t * d + j) }.to_f64())
                }
            };
            match reduction {
                Reduction::None => {
                    if let Some(op) = out_ptr {
                        // SAFETY: p < out.len(); chunks are disjoint.
                        unsafe { *op.ptr().add(p) = T::from_f64(loss) };
                    }
                }
                _ => acc += loss,
            }
        }
        acc
    });

    // Pass 2: the gradient, over flat element ranges.
    if x.has_grad() {
        let g_of = |p: usize| -> f64 {
            match target_of(p) {
                None => 0.0,
                Some(t) => {
                    let g = match reduction {
                        Reduction::Mean => -(gout.at(0) / denom),
                        Reduction::None => -gout.at(p),
                        _ => -gout.at(0),
                    };
                    weight.map_or(g, |w| w[t].to_f64() * g)
                }
            }
        };
        // Zero the whole gradient in a few large memsets (large ones use
        // streaming stores: no read-for-ownership of the buffer), then set the
        // target entries.
        let g = SendPtr(x.g_ptr());
        par::fill_zero(g, dims.numel());
        // One scattered write per position costs about a cache line of
        // streaming work (16 floats), not a row: a (256, 1000) batch stays on
        // the calling thread instead of waking the pool for 256 writes.
        map_chunks(dims.positions(), 16, |s, e| {
            for p in s..e {
                if let Some(t) = target_of(p) {
                    let (n, j) = (p / d, p % d);
                    // SAFETY: within dims; each position is one chunk's; pass 1
                    // has finished reading.
                    unsafe { x.set_g(n * c * d + t * d + j, T::from_f64(g_of(p))) };
                }
            }
        });
    }
    Ok(reduction.apply(parts.iter().sum(), denom))
}
