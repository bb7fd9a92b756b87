//! `F.multi_margin_loss(input, target, p, margin, weight)`: per row,
//! `Σ_{i ≠ y} w[y]·max(0, margin − x[y] + x[i])^p / C` (the weight multiplies
//! after the power); `p` is 1 or 2. Gradients as PyTorch's kernel: `w[y]·1/C`
//! (p = 1) or `w[y]·2z/C` (p = 2) per open class (`z > 0`), their negative sum
//! on the target class.

use crate::call::{put_row, Args};
use crate::error::{check_len, Error, Result};
use crate::par::map_chunks;
use crate::Real;

/// Slot 1: the class-index target `(N)` (or one for a `(C)` input); slot 2:
/// `weight` of length C. Options: `[p, margin]` (`p` checked 1 or 2 by the
/// TypeScript layer).
///
/// # Errors
/// A target outside `[0, C)` (`RangeError`), a weight not of length C, shapes
/// that do not fit.
pub fn run<T: Real>(mut a: Args<'_, T>) -> Result<f64> {
    let (n, c) = a.rows("input")?;
    let t = a.indices(1, "target")?;
    check_len("target", t.len(), n)?;
    #[allow(clippy::cast_possible_wrap)]
    if let Some((i, v)) = t.first_outside(0, c as i64) {
        return Err(Error::range(format!("target[{i}] = {v} is out of range for {c} classes")));
    }
    let w = match a.float_opt(2, "weight")? {
        Some((w, s)) if w.len() != c || s.len() != 1 => {
            return Err(Error::value(format!(
                "weight of shape [{}] must be 1-D with one weight per class ({c})",
                s.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            )))
        }
        w => w.map(|(w, _)| w),
    };
    let squared = a.param(0)? == 2.0;
    let margin = a.param(1)?;
    let denom = a.denominator(n, false)?;
    let out = a.take_out(n)?;
    let scale = a.grad_scale(denom);
    let x = &a.x;
    #[allow(clippy::cast_precision_loss)]
    let cf = c as f64;
    let parts = map_chunks(n, c, |rs, re| {
        let (mut row, mut grow) = (vec![0.0f64; c], vec![0.0f64; c]);
        let mut acc = 0.0;
        for r in rs..re {
            let base = r * c;
            #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
            let y = t.get(r) as usize;
            // SAFETY: base..base + c is within x; this chunk owns row r, and its
            // gradient (which may be x itself) is written only after this read.
            let xr = unsafe { std::slice::from_raw_parts(x.x_ptr().add(base), c) };
            for (d, v) in row.iter_mut().zip(xr) {
                *d = v.to_f64();
            }
            let wy = w.map_or(1.0, |w| w[y].to_f64());
            let a0 = margin - row[y];
            // The target's own term is left out: −∞ makes its z −∞ (not > 0).
            row[y] = f64::NEG_INFINITY;
            let gs = wy * (scale.at(r) / cf);
            let (sum, gsum) = if squared {
                terms::<true>(&row, a0, gs, &mut grow)
            } else {
                terms::<false>(&row, a0, gs, &mut grow)
            };
            if x.has_grad() {
                grow[y] = -gsum;
                // SAFETY: as above; the row was read into `row` first.
                let g = unsafe { std::slice::from_raw_parts_mut(x.g_ptr().add(base), c) };
                for (o, &v) in g.iter_mut().zip(&grow) {
                    *o = T::from_f64(v);
                }
            }
            let l = sum * wy / cf;
            // SAFETY: r < n = out.len(); chunks own disjoint rows.
            unsafe { put_row(out, r, l, &mut acc) };
        }
        acc
    });
    Ok(a.reduction.apply(parts.iter().sum(), denom))
}

/// For one row with `z_i = a0 + row[i]`: `Σ max(z_i, 0)^p` (`p` = 2 when `SQ`,
/// else 1; a NaN `z` counts as not open, as in PyTorch's `z > 0` test), and
/// into `g[i]` the gradient `p·z^(p−1)·gs` of the open ones (0 elsewhere), with
/// their sum. Branch-free, in [`crate::rowsum`]'s partial sums, so that it vectorises.
fn terms<const SQ: bool>(row: &[f64], a0: f64, gs: f64, g: &mut [f64]) -> (f64, f64) {
    crate::rowsum::sum_pairs_mut(row, g, |x, gv| {
        let z = a0 + x;
        let open = z > 0.0;
        let zp = if open { z } else { 0.0 };
        *gv = if SQ {
            2.0 * zp * gs
        } else if open {
            gs
        } else {
            0.0
        };
        (if SQ { zp * zp } else { zp }, *gv)
    })
}
