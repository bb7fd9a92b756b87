//! Input buffers that may receive their own gradient.

use crate::error::{check_len, Result};
use crate::Real;
use std::marker::PhantomData;

/// An input buffer and, optionally, where its gradient goes: a separate buffer,
/// or the input itself (the gradient is written over the input, each element
/// after it has been read for the last time).
pub struct InputGrad<'a, T> {
    x: *const T,
    g: *mut T,
    len: usize,
    _borrow: PhantomData<&'a mut [T]>,
}

// SAFETY: the pointers come from borrows held for 'a; the kernels write the
// gradient in disjoint chunks.
unsafe impl<T: Send> Send for InputGrad<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for InputGrad<'_, T> {}

impl<'a, T: Real> InputGrad<'a, T> {
    /// Value only.
    #[must_use]
    pub fn new(x: &'a [T]) -> Self {
        Self { x: x.as_ptr(), g: std::ptr::null_mut(), len: x.len(), _borrow: PhantomData }
    }
    /// Value and gradient into a separate buffer of the same length.
    ///
    /// # Errors
    /// If the lengths differ.
    pub fn with_grad(x: &'a [T], g: &'a mut [T]) -> Result<Self> {
        check_len("gradOut", g.len(), x.len())?;
        Ok(Self { x: x.as_ptr(), g: g.as_mut_ptr(), len: x.len(), _borrow: PhantomData })
    }
    /// Value and gradient written over the input.
    pub fn in_place(x: &'a mut [T]) -> Self {
        let p = x.as_mut_ptr();
        Self { x: p, g: p, len: x.len(), _borrow: PhantomData }
    }
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    #[must_use]
    pub fn has_grad(&self) -> bool {
        !self.g.is_null()
    }
    #[inline(always)]
    pub fn x_ptr(&self) -> *const T {
        self.x
    }
    #[inline(always)]
    pub fn g_ptr(&self) -> *mut T {
        self.g
    }
    /// Reads element `i`.
    ///
    /// # Safety
    /// `i < len`, and element `i` has not yet been overwritten by its gradient.
    #[inline(always)]
    pub unsafe fn x(&self, i: usize) -> T {
        // SAFETY: per the contract.
        unsafe { *self.x.add(i) }
    }
    /// Writes gradient element `i`.
    ///
    /// # Safety
    /// `i < len`, a gradient buffer exists, and no other chunk writes `i`.
    #[inline(always)]
    pub unsafe fn set_g(&self, i: usize, v: T) {
        // SAFETY: per the contract.
        unsafe { *self.g.add(i) = v }
    }
}

/// The upstream gradient: a number for scalar reductions (or a 0-d 'none'
/// result), or one value per loss element for `'none'`.
#[derive(Clone, Copy, Debug)]
pub enum GradOutput<'a, T> {
    Scalar(f64),
    PerElement(&'a [T]),
}

impl<T: Real> GradOutput<'_, T> {
    /// The upstream gradient of loss element `j`.
    #[inline(always)]
    pub fn at(&self, j: usize) -> f64 {
        match self {
            Self::Scalar(g) => *g,
            Self::PerElement(v) => v[j].to_f64(),
        }
    }
    pub fn check(&self, positions: usize) -> Result<()> {
        match self {
            Self::Scalar(_) => Ok(()),
            Self::PerElement(v) => check_len("gradOutput", v.len(), positions),
        }
    }
}
