//! Streaming kernels that measure what the memory can move, for the
//! benchmark's bound (`benchmark/bandwidth.mjs`): a read-only sum, a triad
//! (`a = b + s·c`: two reads and one ordinary write per element, the traffic
//! of an elementwise loss with its gradient) and a fill (`memset`, the cheapest
//! write). They run on the same thread pool, chunks and ISA path as the
//! losses.

use crate::par::{fill_zero, map_chunks, SendPtr};
use losskit_math::simd::{self, LaneKernel};

/// The sum of `x` (eight accumulators per chunk, so the loads stream), each
/// chunk on the losses' ISA path (AVX2 / AVX-512 where the CPU has them).
#[must_use]
pub fn read_sum(x: &[f32]) -> f64 {
    map_chunks(x.len(), 1, |s, e| simd::run(ReadSum(&x[s..e]))).iter().sum()
}

/// `a[i] = b[i] + s·c[i]` (the shortest of the three lengths), each chunk on
/// the losses' ISA path.
pub fn triad(a: &mut [f32], b: &[f32], c: &[f32], s: f32) {
    let n = a.len().min(b.len()).min(c.len());
    let p = SendPtr(a.as_mut_ptr());
    map_chunks(n, 1, |st, e| {
        // SAFETY: st..e is within a (e ≤ n ≤ a.len()); chunks own disjoint ranges.
        let a = unsafe { std::slice::from_raw_parts_mut(p.ptr().add(st), e - st) };
        simd::run(Triad { a, b: &b[st..e], c: &c[st..e], s });
    });
}

struct ReadSum<'a>(&'a [f32]);

impl LaneKernel for ReadSum<'_> {
    type Out = f64;
    #[inline(always)]
    fn run<const FMA: bool, const L: usize>(self) -> f64 {
        let mut acc = [0.0f32; 16];
        let mut it = self.0.chunks_exact(16);
        for c in it.by_ref() {
            for k in 0..16 {
                acc[k] += c[k];
            }
        }
        let tail: f32 = it.remainder().iter().sum();
        acc.iter().map(|&v| f64::from(v)).sum::<f64>() + f64::from(tail)
    }
}

struct Triad<'a> {
    a: &'a mut [f32],
    b: &'a [f32],
    c: &'a [f32],
    s: f32,
}

impl LaneKernel for Triad<'_> {
    type Out = ();
    #[inline(always)]
    fn run<const FMA: bool, const L: usize>(self) {
        let s = self.s;
        for ((a, &b), &c) in self.a.iter_mut().zip(self.b).zip(self.c) {
            *a = b + s * c;
        }
    }
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
