//! `F.cosine_embedding_loss(input1, input2, target, margin)`: per row,
//! `cos = x1·x2 / sqrt((|x1|² + ε)(|x2|² + ε))` with PyTorch's `ε = 1e-12`
//! (so zero vectors give huge but finite gradients, as in PyTorch); the loss
//! is `1 − cos` where `y = 1`, `max(0, cos − margin)` where `y = −1`, and 0 for
//! any other target.

use crate::call::{put_row, Args};
use crate::error::{check_len, Result};
use crate::par::map_chunks;
use crate::rowsum::grams2;
use crate::Real;

/// PyTorch's `EPSILON` in `cosine_embedding_loss` (`Loss.cpp`): a float constant, so
/// 9.999999960041972e-13 in double precision too.
const EPSILON: f64 = 1e-12_f32 as f64;

/// Elements per gradient block.
const BLOCK: usize = 64;

/// Slots: 0 `input1`, 1 `input2` (with a gradient), 2 `target` `(N)` (or one
/// value for `(D)` inputs). Options: `[margin]`.
///
/// # Errors
/// Shapes or lengths that do not fit.
pub fn run<T: Real>(mut a: Args<'_, T>) -> Result<f64> {
    let (n, d) = a.rows("input1")?;
    let (x2, _) = a.float(1, "input2")?;
    let (y, _) = a.float(2, "target")?;
    check_len("input2", x2.len(), n * d)?;
    check_len("target", y.len(), n)?;
    let margin = a.param(0)?;
    let g2 = a.grads[0].take();
    if let Some(g) = &g2 {
        check_len("gradOut.input2", g.len(), n * d)?;
    }
    let g2 = g2.map(|g| crate::par::SendPtr(g.as_mut_ptr()));
    let denom = a.denominator(n, false)?;
    let out = a.take_out(n)?;
    let scale = a.grad_scale(denom);
    let x = &a.x;
    let parts = map_chunks(n, 2 * d, |rs, re| {
        let mut acc = 0.0;
        for r in rs..re {
            let base = r * d;
            // SAFETY: base..base + d is within x (checked); the gradient of this
            // row is written only after these reads.
            let x1 = unsafe { std::slice::from_raw_parts(x.x_ptr().add(base), d) };
            let x2r = &x2[base..base + d];
            let [s1, s2, prod] = grams2(x1, x2r);
            let (m1, m2) = (s1 + EPSILON, s2 + EPSILON);
            let dn = (m1 * m2).sqrt();
            let cos = prod / dn;
            let yr = y[r].to_f64();
            let z = cos - margin;
            let (l, dcos) = if yr == 1.0 {
                (1.0 - cos, -1.0)
            } else if yr == -1.0 {
                // clamp_min keeps NaN; its gradient flows where z >= 0.
                (if z < 0.0 { 0.0 } else { z }, if z >= 0.0 { 1.0 } else { 0.0 })
            } else {
                (0.0, 0.0)
            };
            // SAFETY: r < n = out.len(); chunks own disjoint rows.
            unsafe { put_row(out, r, l, &mut acc) };
            if x.has_grad() {
                // Autograd's chain through prod / sqrt(m1·m2), step by step, so
                // that overflowed norms give PyTorch's NaN (inf·0) or 0.
                let g = dcos * scale.at(r);
                let g_prod = g / dn;
                let g_dn = -g * prod / (dn * dn);
                let g_mm = g_dn / (2.0 * dn);
                let (q1, q2) = (T::from_f64(2.0 * g_mm * m2), T::from_f64(2.0 * g_mm * m1));
                let p = T::from_f64(g_prod);
                // In blocks computed into two arrays and then stored, so that
                // the element loop vectorises.
                let mut i = 0;
                while i < d {
                    let m = (d - i).min(BLOCK);
                    let mut g1 = [T::ZERO; BLOCK];
                    let mut g2v = [T::ZERO; BLOCK];
                    for k in 0..m {
                        let (u, v) = (x1[i + k], x2r[i + k]);
                        g1[k] = p * v + q1 * u;
                        g2v[k] = p * u + q2 * v;
                    }
                    // SAFETY: base + i + m <= n·d; this chunk owns the row; the
                    // input1 elements i..i + m were read above.
                    unsafe {
                        std::ptr::copy_nonoverlapping(g1.as_ptr(), x.g_ptr().add(base + i), m);
                        if let Some(g2) = g2 {
                            std::ptr::copy_nonoverlapping(g2v.as_ptr(), g2.ptr().add(base + i), m);
                        }
                    }
                    i += m;
                }
            }
        }
        acc
    });
    Ok(a.reduction.apply(parts.iter().sum(), denom))
}
