//! losskit-math: the numeric building blocks of losskit's kernels.
//!
//! Row primitives (max, sum of exponentials, scaled exponentials) used by the
//! softmax-family losses, each with a portable scalar implementation.

#[cfg(target_arch = "x86_64")]
pub mod avx512;
pub mod lanes;
pub mod pointwise;
mod real;
pub mod rows;
pub mod simd;

pub use real::Real;
