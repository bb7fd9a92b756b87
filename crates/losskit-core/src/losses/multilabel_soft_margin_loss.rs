//! `F.multilabel_soft_margin_loss(input, target, weight)`: per row of `C`
//! classes, `−(1/C)·Σ w·(y·ln σ(x) + (1 − y)·ln σ(−x))`; gradient
//! `(w/C)·(σ(x) − y)`. Input `(C)` or `(N, C)`, target of its shape, `weight`
//! broadcast to it.

use crate::call::{put_row, Args};
use crate::elementwise::Operand;
use crate::error::{check_len, Result};
use crate::par::map_chunks;
use crate::Real;
use losskit_math::lanes::Loss;

/// The per-class term `−(y·ln σ(x) + (1 − y)·ln σ(−x))` and `σ(x) − y`, from
/// one `exp` and one `ln_1p`: with `e = e^−|x|`, `ln σ(±x) = min(±x, 0) − ln(1 + e)`
/// (PyTorch's `log_sigmoid`; NaN propagates).
fn term(x: f64, y: f64) -> (f64, f64) {
    let e = (-x.abs()).exp();
    let l1p = e.ln_1p();
    let (ls_pos, ls_neg) = (x.min(0.0) - l1p, (-x).min(0.0) - l1p);
    let sig = if x >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
    (-(y * ls_pos + (1.0 - y) * ls_neg), sig - y)
}

/// Slot 2: `weight`.
///
/// # Errors
/// Shapes or lengths that do not fit.
pub fn run<T: Real>(mut a: Args<'_, T>) -> Result<f64> {
    let (t, _) = a.float(1, "target")?;
    let (n, c) = a.rows("input")?;
    check_len("target", t.len(), n * c)?;
    let shape = a.shape();
    let w = a.float_opt(2, "weight")?.map(|(d, s)| Operand::new("weight", d, s, shape)).transpose()?;
    let denom = a.denominator(n, false)?;
    let out = a.take_out(n)?;
    let scale = a.grad_scale(denom);
    let x = &a.x;
    #[allow(clippy::cast_precision_loss)]
    let cf = c as f64;
    // Without a weight, a row is BCE with logits over its C classes (the same
    // term): float32 runs the fused SIMD kernel per row, its sum and gradient.
    // Its stable form gives NaN where PyTorch's gives ±inf (an infinite input),
    // so a row whose sum is not finite is computed again by `term`; the input
    // must then still be there (no in-place gradient).
    let fused = T::HAS_FUSED && w.is_none() && !(x.has_grad() && std::ptr::eq(x.g_ptr(), x.x_ptr()));
    let parts = map_chunks(n, c, |rs, re| {
        let mut cursor = w.as_ref().map(|w| w.map.cursor(rs * c));
        let mut acc = 0.0;
        for r in rs..re {
            let s = scale.at(r);
            let simd = if fused {
                let g = if x.has_grad() { x.g_ptr() } else { std::ptr::null_mut() };
                // SAFETY: row r is r·c..(r + 1)·c, within x, t and the gradient
                // (lengths checked); this chunk owns it; the gradient is not the input.
                unsafe {
                    T::fused_elementwise(
                        Loss::BceLogits,
                        x.x_ptr().add(r * c),
                        t.as_ptr().add(r * c),
                        c,
                        std::ptr::null_mut(),
                        if g.is_null() { g } else { g.add(r * c) },
                        s / cf,
                    )
                }
                .filter(|v| v.is_finite())
            } else {
                None
            };
            let sum = simd.unwrap_or_else(|| {
                let mut sum = 0.0;
                for i in r * c..(r + 1) * c {
                    let wi = match (&w, cursor.as_mut()) {
                        (Some(w), Some(cur)) => {
                            let v = w.data[cur.off].to_f64();
                            cur.advance();
                            v
                        }
                        _ => 1.0,
                    };
                    // SAFETY: i < n·c = x.len(); this chunk owns row r.
                    let (l, dl) = term(unsafe { x.x(i) }.to_f64(), t[i].to_f64());
                    sum += l * wi;
                    if x.has_grad() {
                        // SAFETY: as above; x[i] was read first.
                        unsafe { x.set_g(i, T::from_f64(wi / cf * dl * s)) };
                    }
                }
                sum
            });
            let l = sum / cf;
            // SAFETY: r < n = out.len(); chunks own disjoint rows.
            unsafe { put_row(out, r, l, &mut acc) };
        }
        acc
    });
    Ok(a.reduction.apply(parts.iter().sum(), denom))
}
