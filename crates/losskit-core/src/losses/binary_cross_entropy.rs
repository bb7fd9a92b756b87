//! `F.binary_cross_entropy`: see [`crate::elementwise::binary_cross_entropy`].

use crate::call::Args;
use crate::elementwise::{self, Operand};
use crate::{Real, Result};

/// Slot 2: `weight` (broadcast to the input).
///
/// # Errors
/// See [`elementwise::binary_cross_entropy`].
pub fn run<T: Real>(mut a: Args<'_, T>) -> Result<f64> {
    let (t, _) = a.float(1, "target")?;
    let shape = a.shape();
    let w = a.float_opt(2, "weight")?.map(|(d, s)| Operand::new("weight", d, s, shape)).transpose()?;
    elementwise::binary_cross_entropy(shape, &a.x, t, w.as_ref(), a.reduction, a.gout, a.out.take())
}
