//! `F.triplet_margin_with_distance_loss(anchor, positive, negative,
//! distance_function, margin, swap)` with the two distances losskit offers:
//! `'pairwise'` (`F.pairwise_distance`, p = 2, eps = 1e-6) and `'cosine'`
//! (`1 − F.cosine_similarity(·, ·, dim=-1)`, eps = 1e-8).

use super::triplet::{self, Cosine, L2};
use crate::call::Args;
use crate::{Real, Result};

/// Options: `[distanceFunction (0 pairwise, 1 cosine), margin, swap]`.
///
/// # Errors
/// See [`triplet::run`].
pub fn run<T: Real>(a: Args<'_, T>) -> Result<f64> {
    let (cosine, margin, swap) = (a.param(0)? == 1.0, a.param(1)?, a.flag(2)?);
    if cosine {
        triplet::run(a, &Cosine { eps: 1e-8 }, margin, swap)
    } else {
        triplet::run(a, &L2 { eps: 1e-6 }, margin, swap)
    }
}
