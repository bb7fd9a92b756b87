//! losskit-math: the numeric building blocks of losskit's kernels.
//!
//! Row primitives (max, sum of exponentials, scaled exponentials) used by the
//! softmax-family losses, each with a portable scalar implementation.

pub mod lanes;
mod real;
pub mod rows;
pub mod simd;

pub use real::Real;
