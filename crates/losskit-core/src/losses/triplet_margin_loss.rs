//! `F.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap)`:
//! the triplet kernel ([`super::triplet`]) with `F.pairwise_distance`.

use super::triplet::{self, Pairwise, L2};
use crate::call::Args;
use crate::{Real, Result};

/// Options: `[margin, p, eps, swap]` (`margin > 0`, `p > 0` checked by the
/// TypeScript layer).
///
/// # Errors
/// See [`triplet::run`].
pub fn run<T: Real>(a: Args<'_, T>) -> Result<f64> {
    let (margin, p, eps, swap) = (a.param(0)?, a.param(1)?, a.param(2)?, a.flag(3)?);
    if p == 2.0 {
        triplet::run(a, &L2 { eps }, margin, swap)
    } else {
        triplet::run(a, &Pairwise { p, eps }, margin, swap)
    }
}
