//! `F.binary_cross_entropy_with_logits`: see
//! [`crate::elementwise::binary_cross_entropy_with_logits`].

use crate::call::Args;
use crate::elementwise::{self, Operand};
use crate::{Real, Result};

/// Slots 2 and 3: `weight` and `posWeight` (broadcast to the input).
///
/// # Errors
/// See [`elementwise::binary_cross_entropy_with_logits`].
pub fn run<T: Real>(mut a: Args<'_, T>) -> Result<f64> {
    let (t, _) = a.float(1, "target")?;
    let shape = a.shape();
    let w = a.float_opt(2, "weight")?.map(|(d, s)| Operand::new("weight", d, s, shape)).transpose()?;
    let pw = a.float_opt(3, "posWeight")?.map(|(d, s)| Operand::new("posWeight", d, s, shape)).transpose()?;
    elementwise::binary_cross_entropy_with_logits(
        shape,
        &a.x,
        t,
        w.as_ref(),
        pw.as_ref(),
        a.reduction,
        a.gout,
        a.out.take(),
    )
}
