//! `F.kl_div`: see [`crate::elementwise::kl_div`].

use crate::call::Args;
use crate::{elementwise, Real, Result};

/// Options: `[logTarget]`; `'batchmean'` allowed.
///
/// # Errors
/// See [`elementwise::kl_div`].
pub fn run<T: Real>(mut a: Args<'_, T>) -> Result<f64> {
    let (t, _) = a.float(1, "target")?;
    elementwise::kl_div(a.shape(), &a.x, t, a.flag(0)?, a.reduction, a.gout, a.out.take())
}
