//! The two triplet losses' shared kernel: per row of `(anchor, positive,
//! negative)`, `max(0, margin + d(a, p) − d_neg)` with `d_neg = d(a, n)`, or
//! with `swap` the smaller of it and `d(p, n)` (a tie splits the gradient, as
//! `torch.min`). The gradient flows where the hinge's input is `>= 0`
//! (`clamp_min`).

use crate::call::{put_row, Args};
use crate::error::{check_len, Result};
use crate::par::{map_chunks, SendPtr};
use crate::rowsum::sum2;
use crate::Real;

/// A distance between two rows, and its gradient element by element.
pub trait Distance: Sync {
    /// What the gradient needs of a row pair besides its elements.
    type State: Copy;
    /// The distance between rows `u` and `v`.
    fn value<T: Real>(&self, u: &[T], v: &[T]) -> (f64, Self::State);
    /// `(∂d/∂u_i, ∂d/∂v_i)` scaled by `s`.
    fn grad<T: Real>(&self, st: &Self::State, s: f64, u: T, v: T) -> (T, T);
    /// `[d(a, p), d(a, n), d(p, n)]` (the last only with `swap`; anything
    /// otherwise). A distance may compute them in one pass.
    fn values<T: Real>(&self, a: &[T], p: &[T], n: &[T], swap: bool) -> [(f64, Self::State); 3] {
        let ap = self.value(a, p);
        let an = self.value(a, n);
        let pn = if swap { self.value(p, n) } else { an };
        [ap, an, pn]
    }
}

/// [`Pairwise`] with `p = 2`: the three rows read in one pass, the gradient
/// `s·w/‖w‖` without a branch per element.
#[derive(Clone, Copy)]
pub struct L2 {
    pub eps: f64,
}

impl L2 {
    /// The norm and `1/norm` (0 where the norm is 0, as PyTorch's norm backward).
    fn state(sq: f64) -> (f64, f64) {
        let norm = sq.sqrt();
        (norm, if norm == 0.0 { 0.0 } else { 1.0 / norm })
    }
}

impl Distance for L2 {
    type State = f64;
    fn value<T: Real>(&self, u: &[T], v: &[T]) -> (f64, f64) {
        let e = T::from_f64(self.eps);
        Self::state(crate::rowsum::sum2(u, v, |a, b| {
            let w = (T::from_f64(a) - T::from_f64(b) + e).to_f64();
            w * w
        }))
    }
    fn values<T: Real>(&self, a: &[T], p: &[T], n: &[T], swap: bool) -> [(f64, f64); 3] {
        let e = T::from_f64(self.eps);
        let sq = if swap {
            crate::rowsum::sq_diff3::<T, true>(a, p, n, e)
        } else {
            crate::rowsum::sq_diff3::<T, false>(a, p, n, e)
        };
        [Self::state(sq[0]), Self::state(sq[1]), Self::state(sq[2])]
    }
    #[inline(always)]
    fn grad<T: Real>(&self, inv: &f64, s: f64, u: T, v: T) -> (T, T) {
        let g = (u - v + T::from_f64(self.eps)) * T::from_f64(s * inv);
        (g, -g)
    }
}

/// `F.pairwise_distance(u, v, p, eps)`: `‖u − v + eps‖_p` (eps added to the
/// difference, not to the norm).
#[derive(Clone, Copy)]
pub struct Pairwise {
    pub p: f64,
    pub eps: f64,
}

impl Distance for Pairwise {
    /// `1/‖·‖^(p−1)` (0 where the norm is 0, as PyTorch's norm backward).
    type State = f64;
    fn value<T: Real>(&self, u: &[T], v: &[T]) -> (f64, f64) {
        let e = T::from_f64(self.eps);
        let p = self.p;
        let diff = |a: f64, b: f64| (T::from_f64(a) - T::from_f64(b) + e).to_f64();
        let norm = if p == 2.0 {
            sum2(u, v, |a, b| {
                let w = diff(a, b);
                w * w
            })
            .sqrt()
        } else if p == 1.0 {
            sum2(u, v, |a, b| diff(a, b).abs())
        } else {
            sum2(u, v, |a, b| diff(a, b).abs().powf(p)).powf(1.0 / p)
        };
        let inv = if norm == 0.0 { 0.0 } else { 1.0 / norm.powf(p - 1.0) };
        (norm, inv)
    }
    #[inline(always)]
    fn grad<T: Real>(&self, inv: &f64, s: f64, u: T, v: T) -> (T, T) {
        let w = u - v + T::from_f64(self.eps);
        let g = if self.p == 2.0 {
            w * T::from_f64(s * inv)
        } else {
            let wf = w.to_f64();
            let sg = if wf > 0.0 {
                1.0
            } else if wf < 0.0 {
                -1.0
            } else {
                0.0
            };
            T::from_f64(sg * wf.abs().powf(self.p - 1.0) * inv * s)
        };
        (g, -g)
    }
}

/// Elements per gradient block.
const BLOCK: usize = 64;

/// The three gradients of one block of a row: `(anchor, positive, negative)`
/// rows in, each distance's state with its upstream factor.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn block<T: Real, D: Distance>(
    dist: &D,
    (ar, pr, nr): (&[T], &[T], &[T]),
    (sp, fp): (&D::State, f64),
    (sn, fnn): (&D::State, f64),
    swap: Option<(&D::State, f64)>,
    (ga, gp, gn): (&mut [T; BLOCK], &mut [T; BLOCK], &mut [T; BLOCK]),
) {
    for k in 0..ar.len() {
        let (u, v, w) = (ar[k], pr[k], nr[k]);
        let (a1, p1) = dist.grad(sp, fp, u, v);
        let (a2, n2) = dist.grad(sn, fnn, u, w);
        ga[k] = a1 + a2;
        gp[k] = p1;
        gn[k] = n2;
    }
    if let Some((ss, fs)) = swap {
        for k in 0..ar.len() {
            let (p3, n3) = dist.grad(ss, fs, pr[k], nr[k]);
            gp[k] = gp[k] + p3;
            gn[k] = gn[k] + n3;
        }
    }
}

/// One triplet call, after the loss's own options were read.
///
/// Slots: 0 `anchor`, 1 `positive`, 2 `negative` (both with gradients).
///
/// # Errors
/// Shapes or lengths that do not fit.
#[allow(clippy::many_single_char_names, clippy::too_many_lines)]
pub fn run<T: Real, D: Distance>(mut a: Args<'_, T>, dist: &D, margin: f64, swap: bool) -> Result<f64> {
    let (n, d) = a.rows("anchor")?;
    let (pos, _) = a.float(1, "positive")?;
    let (neg, _) = a.float(2, "negative")?;
    check_len("positive", pos.len(), n * d)?;
    check_len("negative", neg.len(), n * d)?;
    let gp = a.grads[0].take();
    let gn = a.grads[1].take();
    for g in [&gp, &gn].into_iter().flatten() {
        check_len("gradOut", g.len(), n * d)?;
    }
    if a.x.has_grad() && (gp.is_none() || gn.is_none()) {
        return Err(crate::Error::value(
            "the gradient needs gradOut buffers for anchor, positive and negative",
        ));
    }
    let gp = gp.map(|g| SendPtr(g.as_mut_ptr()));
    let gn = gn.map(|g| SendPtr(g.as_mut_ptr()));
    let denom = a.denominator(n, false)?;
    let out = a.take_out(n)?;
    let scale = a.grad_scale(denom);
    let x = &a.x;
    let parts = map_chunks(n, 3 * d, |rs, re| {
        let mut acc = 0.0;
        for r in rs..re {
            let base = r * d;
            // SAFETY: base..base + d is within the anchor (checked); its
            // gradient is written only after these reads, element by element.
            let ar = unsafe { std::slice::from_raw_parts(x.x_ptr().add(base), d) };
            let (pr, nr) = (&pos[base..base + d], &neg[base..base + d]);
            let [(dp, sp), (dn, sn), (ds, ss)] = dist.values(ar, pr, nr, swap);
            // The negative distance and how its gradient splits between the
            // anchor–negative (wn) and the positive–negative (ws) distances, as
            // `torch.minimum`'s backward: all to the smaller, half each at a
            // tie, and all to both when a NaN makes neither comparison true.
            let (dneg, wn, ws, ss) = if swap {
                let (wn, ws) = if ds < dn {
                    (0.0, 1.0)
                } else if ds > dn {
                    (1.0, 0.0)
                } else if ds == dn {
                    (0.5, 0.5)
                } else {
                    (1.0, 1.0)
                };
                (if ds < dn || ds.is_nan() { ds } else { dn }, wn, ws, Some(ss))
            } else {
                (dn, 1.0, 0.0, None)
            };
            let z = margin + dp - dneg;
            let l = if z < 0.0 { 0.0 } else { z };
            // SAFETY: r < n = out.len(); chunks own disjoint rows.
            unsafe { put_row(out, r, l, &mut acc) };
            if !x.has_grad() {
                continue;
            }
            let s = if z >= 0.0 { scale.at(r) } else { 0.0 };
            let (Some(gp), Some(gn)) = (gp, gn) else { continue };
            // In blocks computed into three arrays and then stored, so that the
            // element loop vectorises (stores to three buffers in turn would not).
            let mut i = 0;
            while i < d {
                let m = (d - i).min(BLOCK);
                let mut ga = [T::ZERO; BLOCK];
                let mut gpv = [T::ZERO; BLOCK];
                let mut gnv = [T::ZERO; BLOCK];
                let rows = (&ar[i..i + m], &pr[i..i + m], &nr[i..i + m]);
                // Every term is computed, masked ones too: as in autograd, a
                // zero upstream gradient times a NaN distance's factor is NaN.
                match &ss {
                    Some(ss) => block(
                        dist,
                        rows,
                        (&sp, s),
                        (&sn, -s * wn),
                        Some((ss, -s * ws)),
                        (&mut ga, &mut gpv, &mut gnv),
                    ),
                    None => block(dist, rows, (&sp, s), (&sn, -s * wn), None, (&mut ga, &mut gpv, &mut gnv)),
                }
                // SAFETY: base + i + m <= n·d; this chunk owns the row; the
                // anchor's elements i..i + m were read above.
                unsafe {
                    std::ptr::copy_nonoverlapping(ga.as_ptr(), x.g_ptr().add(base + i), m);
                    std::ptr::copy_nonoverlapping(gpv.as_ptr(), gp.ptr().add(base + i), m);
                    std::ptr::copy_nonoverlapping(gnv.as_ptr(), gn.ptr().add(base + i), m);
                }
                i += m;
            }
        }
        acc
    });
    Ok(a.reduction.apply(parts.iter().sum(), denom))
}

/// `1 − F.cosine_similarity(u, v, dim=-1, eps)` as PyTorch 2.x computes it:
/// each row divided by its norm clamped to at least `eps` (the clamp under
/// `no_grad`: the gradient follows the unclamped norm, 0 where it is 0).
#[derive(Clone, Copy)]
pub struct Cosine {
    pub eps: f64,
}

impl Distance for Cosine {
    /// `(α, β_u, β_v)`: `∂d/∂u = β_u·u − α·v`, `∂d/∂v = β_v·v − α·u`.
    type State = (f64, f64, f64);
    fn value<T: Real>(&self, u: &[T], v: &[T]) -> (f64, (f64, f64, f64)) {
        let nu = sum2(u, u, |a, _| a * a).sqrt();
        let nv = sum2(v, v, |a, _| a * a).sqrt();
        // max(norm, eps) keeping NaN, as torch's clamp_min.
        let clamp = |n: f64| if n < self.eps { self.eps } else { n };
        let (ru, rv) = (1.0 / clamp(nu), 1.0 / clamp(nv));
        // Each row normalised first, as PyTorch (a norm that overflows to inf
        // then gives 0, not inf/inf).
        let cs = sum2(u, v, |a, b| (a * ru) * (b * rv));
        let alpha = ru * rv;
        let bu = if nu == 0.0 { 0.0 } else { cs * ru / nu };
        let bv = if nv == 0.0 { 0.0 } else { cs * rv / nv };
        (1.0 - cs, (alpha, bu, bv))
    }
    fn values<T: Real>(&self, a: &[T], p: &[T], n: &[T], _swap: bool) -> [(f64, (f64, f64, f64)); 3] {
        let [aa, pp, nn, ap, an, pn] = crate::rowsum::grams3(a, p, n);
        let clamp = |n: f64| if n < self.eps { self.eps } else { n };
        let (na, np, nn) = (aa.sqrt(), pp.sqrt(), nn.sqrt());
        let (ra, rp, rn) = (1.0 / clamp(na), 1.0 / clamp(np), 1.0 / clamp(nn));
        let pair = |dot: f64, (nu, ru): (f64, f64), (nv, rv): (f64, f64), u: &[T], v: &[T]| {
            let alpha = ru * rv;
            // The dot product scaled after the sum equals PyTorch's
            // normalise-first sum up to rounding, unless a norm overflowed or
            // the product is not finite: then the row is summed PyTorch's way.
            let cs = if (dot * alpha).is_finite() && nu.is_finite() && nv.is_finite() {
                dot * alpha
            } else {
                crate::rowsum::sum2(u, v, |x, y| (x * ru) * (y * rv))
            };
            let bu = if nu == 0.0 { 0.0 } else { cs * ru / nu };
            let bv = if nv == 0.0 { 0.0 } else { cs * rv / nv };
            (1.0 - cs, (alpha, bu, bv))
        };
        [
            pair(ap, (na, ra), (np, rp), a, p),
            pair(an, (na, ra), (nn, rn), a, n),
            pair(pn, (np, rp), (nn, rn), p, n),
        ]
    }
    #[inline(always)]
    fn grad<T: Real>(&self, &(alpha, bu, bv): &(f64, f64, f64), s: f64, u: T, v: T) -> (T, T) {
        let a = T::from_f64(s * alpha);
        (T::from_f64(s * bu) * u - a * v, T::from_f64(s * bv) * v - a * u)
    }
}
