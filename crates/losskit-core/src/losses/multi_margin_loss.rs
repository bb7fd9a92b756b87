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
        let mut row = vec![0.0f64; c];
        let mut acc = 0.0;
        for r in rs..re {
            let base = r * c;
            #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
            let y = t.get(r) as usize;
            for k in 0..c {
                // SAFETY: base + k < n·c; this chunk owns row r.
                row[k] = unsafe { x.x(base + k) }.to_f64();
            }
            let wy = w.map_or(1.0, |w| w[y].to_f64());
            let s = scale.at(r) / cf;
            let mut sum = 0.0;
            let mut gy = 0.0;
            for i in 0..c {
                if i == y {
                    continue;
                }
                let z = margin - row[y] + row[i];
                let g = if z > 0.0 {
                    sum += (if squared { z * z } else { z }) * wy;
                    (if squared { 2.0 * z } else { 1.0 }) * wy * s
                } else {
                    0.0
                };
                gy -= g;
                if x.has_grad() {
                    // SAFETY: as above; the row was read into `row` first.
                    unsafe { x.set_g(base + i, T::from_f64(g)) };
                }
            }
            if x.has_grad() && c > 0 {
                // SAFETY: as above.
                unsafe { x.set_g(base + y, T::from_f64(gy)) };
            }
            let l = sum / cf;
            // SAFETY: r < n = out.len(); chunks own disjoint rows.
            unsafe { put_row(out, r, l, &mut acc) };
        }
        acc
    });
    Ok(a.reduction.apply(parts.iter().sum(), denom))
}
