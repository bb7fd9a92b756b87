//! Sums over a row in `f64`, in a fixed order of eight interleaved partial
//! sums (so the loop vectorises, and the result never depends on threads).

use crate::Real;

const LANES: usize = 8;

/// `Σ f(a[i], b[i])` over two rows of one length, each term in `f64`.
#[inline(always)]
pub fn sum2<T: Real>(a: &[T], b: &[T], f: impl Fn(f64, f64) -> f64) -> f64 {
    debug_assert_eq!(a.len(), b.len(), "sum2: rows of different lengths");
    let mut acc = [0.0f64; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..LANES {
            acc[k] += f(x[k].to_f64(), y[k].to_f64());
        }
    }
    for (k, (&x, &y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
        acc[k] += f(x.to_f64(), y.to_f64());
    }
    acc.iter().sum()
}

/// `Σ x[i]` in [`LANES`] interleaved partial sums (a fixed order: the same
/// bits every time), so that it vectorises.
#[inline(always)]
pub fn sum(x: &[f64]) -> f64 {
    let mut acc = [0.0f64; LANES];
    let mut it = x.chunks_exact(LANES);
    for xs in &mut it {
        for k in 0..LANES {
            acc[k] += xs[k];
        }
    }
    for (a, &v) in acc.iter_mut().zip(it.remainder()) {
        *a += v;
    }
    acc.iter().sum()
}

/// Over a row `x` and a row `g` of one length: `f(x[i], &mut g[i])` (which
/// may write `g[i]`) gives two terms; returns their two sums.
#[inline(always)]
pub fn sum_pairs_mut(x: &[f64], g: &mut [f64], f: impl Fn(f64, &mut f64) -> (f64, f64)) -> (f64, f64) {
    debug_assert_eq!(x.len(), g.len(), "sum_pairs_mut: rows of different lengths");
    let (mut sa, mut sb) = ([0.0f64; LANES], [0.0f64; LANES]);
    let mut cx = x.chunks_exact(LANES);
    let mut cg = g.chunks_exact_mut(LANES);
    for (xs, gs) in (&mut cx).zip(&mut cg) {
        for k in 0..LANES {
            let (a, b) = f(xs[k], &mut gs[k]);
            sa[k] += a;
            sb[k] += b;
        }
    }
    for (k, (&v, gv)) in cx.remainder().iter().zip(cg.into_remainder()).enumerate() {
        let (a, b) = f(v, gv);
        sa[k] += a;
        sb[k] += b;
    }
    (sa.iter().sum(), sb.iter().sum())
}

/// `[Σ (a − p + e)², Σ (a − n + e)², Σ (p − n + e)²]` over three rows of one
/// length in one pass (the differences in `T`, as PyTorch's
/// `pairwise_distance`; the squares summed in `f64`). The third sum is 0
/// unless `SWAP`.
#[inline(always)]
pub fn sq_diff3<T: Real, const SWAP: bool>(a: &[T], p: &[T], n: &[T], e: T) -> [f64; 3] {
    debug_assert!(a.len() == p.len() && a.len() == n.len(), "sq_diff3: rows of different lengths");
    let mut acc = [[0.0f64; LANES]; 3];
    let term = |acc: &mut [[f64; LANES]; 3], k: usize, u: T, v: T, w: T| {
        let d1 = (u - v + e).to_f64();
        let d2 = (u - w + e).to_f64();
        acc[0][k] += d1 * d1;
        acc[1][k] += d2 * d2;
        if SWAP {
            let d3 = (v - w + e).to_f64();
            acc[2][k] += d3 * d3;
        }
    };
    let m = a.len() / LANES * LANES;
    let (ca, cp, cn) = (a[..m].chunks_exact(LANES), p[..m].chunks_exact(LANES), n[..m].chunks_exact(LANES));
    for ((x, y), z) in ca.zip(cp).zip(cn) {
        for k in 0..LANES {
            term(&mut acc, k, x[k], y[k], z[k]);
        }
    }
    for i in m..a.len() {
        term(&mut acc, i - m, a[i], p[i], n[i]);
    }
    [acc[0].iter().sum(), acc[1].iter().sum(), acc[2].iter().sum()]
}

/// `[Σa², Σp², Σn², Σap, Σan, Σpn]` over three rows of one length in one
/// pass, in `f64`.
#[inline(always)]
pub fn grams3<T: Real>(a: &[T], p: &[T], n: &[T]) -> [f64; 6] {
    debug_assert!(a.len() == p.len() && a.len() == n.len(), "grams3: rows of different lengths");
    const L: usize = 4;
    let mut acc = [[0.0f64; L]; 6];
    let term = |acc: &mut [[f64; L]; 6], k: usize, u: T, v: T, w: T| {
        let (u, v, w) = (u.to_f64(), v.to_f64(), w.to_f64());
        acc[0][k] += u * u;
        acc[1][k] += v * v;
        acc[2][k] += w * w;
        acc[3][k] += u * v;
        acc[4][k] += u * w;
        acc[5][k] += v * w;
    };
    let m = a.len() / L * L;
    for ((x, y), z) in a[..m].chunks_exact(L).zip(p[..m].chunks_exact(L)).zip(n[..m].chunks_exact(L)) {
        for k in 0..L {
            term(&mut acc, k, x[k], y[k], z[k]);
        }
    }
    for i in m..a.len() {
        term(&mut acc, i - m, a[i], p[i], n[i]);
    }
    acc.map(|s| s.iter().sum())
}

/// `[Σa², Σb², Σab]` over two rows of one length in one pass, in `f64`.
#[inline(always)]
pub fn grams2<T: Real>(a: &[T], b: &[T]) -> [f64; 3] {
    debug_assert_eq!(a.len(), b.len(), "grams2: rows of different lengths");
    let mut acc = [[0.0f64; LANES]; 3];
    let term = |acc: &mut [[f64; LANES]; 3], k: usize, u: T, v: T| {
        let (u, v) = (u.to_f64(), v.to_f64());
        acc[0][k] += u * u;
        acc[1][k] += v * v;
        acc[2][k] += u * v;
    };
    let m = a.len() / LANES * LANES;
    for (x, y) in a[..m].chunks_exact(LANES).zip(b[..m].chunks_exact(LANES)) {
        for k in 0..LANES {
            term(&mut acc, k, x[k], y[k]);
        }
    }
    for i in m..a.len() {
        term(&mut acc, i - m, a[i], b[i]);
    }
    acc.map(|s| s.iter().sum())
}
