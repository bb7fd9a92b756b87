//! Streaming kernels that measure what the memory can move, for the
//! benchmark's bound (`benchmark/bandwidth.mjs`): a read-only sum, a triad
//! (`a = b + s·c`: two reads and one ordinary write per element, the traffic
//! of an elementwise loss with its gradient) and a fill (`memset`, the cheapest
//! write). They run on the same thread pool and chunks as the losses.

use crate::par::{fill_zero, map_chunks, SendPtr};

/// The sum of `x` (eight accumulators per chunk, so the loads stream).
#[must_use]
pub fn read_sum(x: &[f32]) -> f64 {
    map_chunks(x.len(), 1, |s, e| {
        let mut acc = [0.0f32; 8];
        let mut it = x[s..e].chunks_exact(8);
        for c in it.by_ref() {
            for k in 0..8 {
                acc[k] += c[k];
            }
        }
        let tail: f32 = it.remainder().iter().sum();
        acc.iter().map(|&v| f64::from(v)).sum::<f64>() + f64::from(tail)
    })
    .iter()
    .sum()
}

/// `a[i] = b[i] + s·c[i]` (the shortest of the three lengths).
pub fn triad(a: &mut [f32], b: &[f32], c: &[f32], s: f32) {
    let n = a.len().min(b.len()).min(c.len());
    let p = SendPtr(a.as_mut_ptr());
    map_chunks(n, 1, |st, e| {
        // SAFETY: st..e is within a (e ≤ n ≤ a.len()); chunks own disjoint ranges.
        let a = unsafe { std::slice::from_raw_parts_mut(p.ptr().add(st), e - st) };
        for ((a, &b), &c) in a.iter_mut().zip(&b[st..e]).zip(&c[st..e]) {
            *a = b + s * c;
        }
    });
}

/// Zeroes `a` as the losses clear a gradient.
pub fn fill(a: &mut [f32]) {
    fill_zero(SendPtr(a.as_mut_ptr()), a.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_kernels_compute_what_they_say() {
        let n = 1 << 18;
        let b: Vec<f32> = (0..n).map(|i| (i % 7) as f32).collect();
        let c: Vec<f32> = (0..n).map(|i| (i % 3) as f32).collect();
        let mut a = vec![1.0f32; n];
        triad(&mut a, &b, &c, 2.0);
        assert!(a.iter().zip(b.iter().zip(&c)).all(|(&a, (&b, &c))| a == b + 2.0 * c));
        let want: f64 = b.iter().map(|&v| f64::from(v)).sum();
        assert_eq!(read_sum(&b), want);
        fill(&mut a);
        assert!(a.iter().all(|&v| v == 0.0));
    }
}
