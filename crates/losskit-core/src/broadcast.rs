//! NumPy-style broadcasting of an operand (a BCE `weight` or `posWeight`) to
//! the input's shape.

use crate::error::{Error, Result};

/// How an operand's flat index follows the input's flat index. Dimensions are
/// coalesced; each keeps its length and the operand's stride (0 where the
/// operand is broadcast).
#[derive(Clone, Debug)]
pub struct Broadcast {
    /// (length, operand stride), outermost first.
    dims: Vec<(usize, usize)>,
    /// The operand's element count.
    pub numel: usize,
}

impl Broadcast {
    /// Checks that `op_shape` broadcasts to `shape` (NumPy rules; the result
    /// must have `shape`, so the operand may not enlarge it).
    ///
    /// # Errors
    /// `what` names the operand in the message.
    pub fn new(what: &str, shape: &[usize], op_shape: &[usize]) -> Result<Self> {
        let fail = || {
            Error::value(format!(
                "{what} of shape [{}] cannot be broadcast to the input's shape [{}]",
                join(op_shape),
                join(shape)
            ))
        };
        if op_shape.len() > shape.len() {
            let extra = op_shape.len() - shape.len();
            if op_shape[..extra].iter().any(|&d| d != 1) {
                return Err(fail());
            }
            return Self::new(what, shape, &op_shape[extra..]);
        }
        let lead = shape.len() - op_shape.len();
        let mut raw: Vec<(usize, usize)> = Vec::with_capacity(shape.len());
        let mut stride = 1usize;
        let mut strides = vec![0usize; op_shape.len()];
        for k in (0..op_shape.len()).rev() {
            strides[k] = stride;
            stride *= op_shape[k];
        }
        for (k, &len) in shape.iter().enumerate() {
            if k < lead {
                raw.push((len, 0));
            } else {
                let od = op_shape[k - lead];
                if od == len {
                    raw.push((len, if len == 1 { 0 } else { strides[k - lead] }));
                } else if od == 1 {
                    raw.push((len, 0));
                } else {
                    return Err(fail());
                }
            }
        }
        // Coalesce: drop length-1 dims, merge neighbours that stay contiguous.
        let mut dims: Vec<(usize, usize)> = Vec::new();
        for (len, st) in raw {
            if len == 1 {
                continue;
            }
            if let Some(last) = dims.last_mut() {
                if (last.1 == 0 && st == 0) || (st != 0 && last.1 == st * len) {
                    last.0 *= len;
                    last.1 = st;
                    continue;
                }
            }
            dims.push((len, st));
        }
        Ok(Self { dims, numel: op_shape.iter().product() })
    }

    /// A cursor positioned at input flat index `i`.
    #[must_use]
    pub fn cursor(&self, mut i: usize) -> Cursor<'_> {
        let mut idx = vec![0usize; self.dims.len()];
        let mut off = 0;
        for k in (0..self.dims.len()).rev() {
            let (len, st) = self.dims[k];
            idx[k] = i % len;
            i /= len;
            off += idx[k] * st;
        }
        Cursor { b: self, idx, off }
    }
}

/// Walks the operand's index alongside consecutive input indices.
pub struct Cursor<'a> {
    b: &'a Broadcast,
    idx: Vec<usize>,
    /// The operand index for the current input index.
    pub off: usize,
}

impl Cursor<'_> {
    /// Moves to the next input index.
    #[inline(always)]
    pub fn advance(&mut self) {
        let mut k = self.idx.len();
        while k > 0 {
            k -= 1;
            let (len, st) = self.b.dims[k];
            self.idx[k] += 1;
            self.off += st;
            if self.idx[k] < len {
                return;
            }
            self.off -= st * len;
            self.idx[k] = 0;
        }
    }
}

fn join(s: &[usize]) -> String {
    s.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(shape: &[usize], op: &[usize]) -> Vec<usize> {
        let b = Broadcast::new("w", shape, op).unwrap();
        let n: usize = shape.iter().product();
        let mut c = b.cursor(0);
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(c.off);
            c.advance();
        }
        v
    }

    #[test]
    fn last_dim() {
        assert_eq!(offsets(&[2, 3], &[3]), vec![0, 1, 2, 0, 1, 2]);
    }
    #[test]
    fn column() {
        assert_eq!(offsets(&[2, 3], &[2, 1]), vec![0, 0, 0, 1, 1, 1]);
    }
    #[test]
    fn scalar_and_full() {
        assert_eq!(offsets(&[2, 2], &[]), vec![0; 4]);
        assert_eq!(offsets(&[2, 2], &[1]), vec![0; 4]);
        assert_eq!(offsets(&[2, 2], &[2, 2]), vec![0, 1, 2, 3]);
        assert_eq!(offsets(&[2, 2], &[1, 2, 2]), vec![0, 1, 2, 3]);
    }
    #[test]
    fn middle() {
        assert_eq!(offsets(&[2, 3, 2], &[3, 1]), vec![0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2]);
        assert_eq!(offsets(&[2, 3, 2], &[2, 1, 2]), vec![0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3]);
    }
    #[test]
    fn mid_cursor() {
        let b = Broadcast::new("w", &[2, 3, 2], &[2, 1, 2]).unwrap();
        assert_eq!(b.cursor(7).off, 3);
    }
    #[test]
    fn rejects() {
        assert!(Broadcast::new("w", &[2, 3], &[2]).is_err());
        assert!(Broadcast::new("w", &[3], &[2, 3]).is_err());
    }
}
