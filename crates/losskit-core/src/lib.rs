//! losskit-core: PyTorch's loss functions as pure-Rust kernels.
//!
//! No napi here: every function takes slices and plain values, validates what
//! it reads, and fills caller-provided outputs. Value and gradient come from the
//! same pass. See `SPEC.md` for the public semantics these kernels implement.

// Kernels walk several buffers with one index on purpose.
#![allow(clippy::needless_range_loop)]

pub mod broadcast;
mod buffers;
pub mod call;
pub mod cross_entropy;
pub mod elementwise;
mod error;
mod index;
pub mod losses;
pub mod nll;
pub mod par;
pub mod pointwise;
mod rowsum;
pub mod sliced;
pub mod softmax;
pub mod stream;

pub use buffers::{GradOutput, InputGrad};
pub use error::{Error, ErrorKind, Result};
pub use index::Index;
pub use losskit_math::Real;

/// How per-element losses are reduced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// No reduction: one loss per sample/element.
    None,
    /// The (weighted) mean, with PyTorch's denominator.
    Mean,
    /// The sum.
    Sum,
    /// KL divergence only: the sum divided by the input's first dimension.
    BatchMean,
}

/// An input of shape `(N, C, D)` as seen by the class-dimension losses:
/// `n` samples, `c` classes at stride `d`, `d` = the product of the extra dims
/// (1 for `(N, C)`; `n` = 1 for an unbatched `(C)` input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub n: usize,
    pub c: usize,
    pub d: usize,
}

impl Dims {
    /// Number of elements of the input.
    #[must_use]
    pub fn numel(self) -> usize {
        self.n * self.c * self.d
    }
    /// Number of positions (samples × extra dims): the loss's element count.
    #[must_use]
    pub fn positions(self) -> usize {
        self.n * self.d
    }
}

impl Reduction {
    /// The reduced loss from the sum of the per-element losses: divided by
    /// `denom` (PyTorch's denominator for this loss) for `'mean'` and
    /// `'batchmean'`, as is for `'sum'`, NaN for `'none'` (whose losses went to
    /// `out`).
    #[must_use]
    pub fn apply(self, total: f64, denom: f64) -> f64 {
        match self {
            Self::Mean | Self::BatchMean => total / denom,
            Self::Sum => total,
            Self::None => f64::NAN,
        }
    }
}
