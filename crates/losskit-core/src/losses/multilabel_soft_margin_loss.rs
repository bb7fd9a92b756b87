//! `F.multilabel_soft_margin_loss(input, target, weight)`: per row of `C`
//! classes, `−(1/C)·Σ w·(y·ln σ(x) + (1 − y)·ln σ(−x))`; gradient
//! `(w/C)·(σ(x) − y)`. Input `(C)` or `(N, C)`, target of its shape, `weight`
//! broadcast to it.

use crate::call::Args;
use crate::elementwise::Operand;
use crate::error::{check_len, Result};
use crate::par::map_chunks;
use crate::Real;

/// `ln σ(x)` as PyTorch's `log_sigmoid`: `min(x, 0) − ln(1 + e^−|x|)` (NaN propagates).
fn log_sigmoid(x: f64) -> f64 {
    let m = if x < 0.0 { x } else { 0.0 };
    m - (-x.abs()).exp().ln_1p()
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
    let parts = map_chunks(n, c, |rs, re| {
        let mut cursor = w.as_ref().map(|w| w.map.cursor(rs * c));
        let mut acc = 0.0;
        for r in rs..re {
            let s = scale.at(r);
            let mut sum = 0.0;
            for i in r * c..(r + 1) * c {
                let wi = match (&w, &cursor) {
                    (Some(w), Some(cur)) => w.data[cur.off].to_f64(),
                    _ => 1.0,
                };
                if let Some(cur) = cursor.as_mut() {
                    cur.advance();
                }
                // SAFETY: i < n·c = x.len(); this chunk owns row r.
                let xi = unsafe { x.x(i) }.to_f64();
                let yi = t[i].to_f64();
                sum += -(yi * log_sigmoid(xi) + (1.0 - yi) * log_sigmoid(-xi)) * wi;
                if x.has_grad() {
                    let sig = 1.0 / (1.0 + (-xi).exp());
                    // SAFETY: as above; x[i] was read first.
                    unsafe { x.set_g(i, T::from_f64(wi / cf * (sig - yi) * s)) };
                }
            }
            let l = sum / cf;
            match out {
                // SAFETY: r < n = out.len(); chunks own disjoint rows.
                Some(o) => unsafe { *o.ptr().add(r) = T::from_f64(l) },
                None => acc += l,
            }
        }
        acc
    });
    Ok(a.reduction.apply(parts.iter().sum(), denom))
}
