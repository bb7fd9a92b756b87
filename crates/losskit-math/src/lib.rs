//! losskit-math: the numeric building blocks of losskit's kernels.
//!
//! Row primitives (max, sum of exponentials, scaled exponentials) used by the
//! softmax-family losses, each with a portable scalar implementation.

mod real;
pub mod rows;

pub use real::Real;
