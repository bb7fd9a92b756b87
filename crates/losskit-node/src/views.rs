//! Borrowed views of JavaScript typed arrays, taken without copying.
//!
//! Views are read as raw pointers first so that aliasing between arguments
//! (an output that is also an input) is checked before any Rust reference to
//! the memory exists.

use losskit_core::{Error, InputGrad, Real};
use napi::bindgen_prelude::{JsValue, Unknown};
use napi::sys;

/// Element types of the typed arrays losskit accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    F32,
    F64,
    I32,
    I64,
    Other,
}

impl Kind {
    fn from_napi(t: sys::napi_typedarray_type) -> Self {
        match t {
            // napi_typedarray_type: int32 = 5, float32 = 7, float64 = 8, bigint64 = 9.
            5 => Self::I32,
            7 => Self::F32,
            8 => Self::F64,
            9 => Self::I64,
            _ => Self::Other,
        }
    }
    pub fn js_name(self) -> &'static str {
        match self {
            Self::F32 => "Float32Array",
            Self::F64 => "Float64Array",
            Self::I32 => "Int32Array",
            Self::I64 => "BigInt64Array",
            Self::Other => "another typed array",
        }
    }
}

/// A typed array's memory: element kind, data pointer, element count.
#[derive(Clone, Copy, Debug)]
pub struct View {
    pub kind: Kind,
    ptr: *mut u8,
    pub len: usize,
    elem: usize,
}

impl View {
    /// Reads the typed array behind `value` (argument `name`).
    pub fn of(value: &Unknown<'_>, name: &str) -> Result<Self, Error> {
        // SAFETY: env and value come from the current napi call.
        unsafe { Self::of_raw(value.value().env, value.raw(), name) }
    }

    /// [`View::of`] over a raw value.
    ///
    /// # Safety
    /// `env` is live on this thread and `value` belongs to it.
    pub unsafe fn of_raw(env: sys::napi_env, value: sys::napi_value, name: &str) -> Result<Self, Error> {
        let mut ty: sys::napi_typedarray_type = 0;
        let mut len = 0usize;
        let mut data = std::ptr::null_mut();
        let mut ab = std::ptr::null_mut();
        let mut off = 0usize;
        // SAFETY: per the contract.
        let status = unsafe {
            sys::napi_get_typedarray_info(env, value, &mut ty, &mut len, &mut data, &mut ab, &mut off)
        };
        if status != sys::Status::napi_ok {
            return Err(Error::type_(format!("{name} must be a typed array")));
        }
        let kind = Kind::from_napi(ty);
        let elem = match kind {
            Kind::F32 | Kind::I32 => 4,
            Kind::F64 | Kind::I64 => 8,
            Kind::Other => 1,
        };
        if data.is_null() {
            len = 0; // detached
        }
        Ok(Self { kind, ptr: data.cast(), len, elem })
    }

    pub fn opt(value: Option<&Unknown<'_>>, name: &str) -> Result<Option<Self>, Error> {
        value.map(|v| Self::of(v, name)).transpose()
    }

    fn range(&self) -> (usize, usize) {
        let s = self.ptr as usize;
        (s, s + self.len * self.elem)
    }

    /// Whether the two views share any byte.
    pub fn overlaps(&self, o: &Self) -> bool {
        if self.len == 0 || o.len == 0 {
            return false;
        }
        let (a, b) = self.range();
        let (c, d) = o.range();
        a < d && c < b
    }

    /// Whether `now` (this argument read again) is still the memory this view
    /// was taken from: same kind and length, and the same address unless empty.
    /// A detached buffer reads as length 0, a resized one as another length.
    pub fn unchanged(&self, now: &Self) -> bool {
        self.kind == now.kind && self.len == now.len && (self.len == 0 || self.ptr == now.ptr)
    }

    /// Whether the two views are exactly the same memory.
    pub fn same(&self, o: &Self) -> bool {
        self.ptr == o.ptr && self.len == o.len && self.kind == o.kind
    }

    /// # Safety
    /// The kind must be `T`'s; no mutable view of the memory may be live.
    pub unsafe fn slice<'a, T>(&self) -> &'a [T] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: per the contract; napi gives an aligned pointer to len elements.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<T>(), self.len) }
    }

    /// # Safety
    /// The kind must be `T`'s; no other view of the memory may be live.
    pub unsafe fn slice_mut<'a, T>(&self) -> &'a mut [T] {
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: per the contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.cast::<T>(), self.len) }
    }
}

/// The float element types, tied to their view kind.
pub trait Float: Real {
    const KIND: Kind;
}
impl Float for f32 {
    const KIND: Kind = Kind::F32;
}
impl Float for f64 {
    const KIND: Kind = Kind::F64;
}

/// Checks that `v` holds `T`s.
pub fn expect<T: Float>(v: &View, name: &str) -> Result<(), Error> {
    if v.kind == T::KIND {
        Ok(())
    } else {
        Err(Error::type_(format!(
            "{name} must be a {} like the input, got {}",
            T::KIND.js_name(),
            v.kind.js_name()
        )))
    }
}

/// Most read-only arguments of one call.
const MAX_READS: usize = 8;

/// The read-only arguments of a call, by name (no allocation).
#[derive(Clone, Copy, Default)]
pub struct Reads {
    items: [Option<(&'static str, View)>; MAX_READS],
    len: usize,
}

impl Reads {
    /// # Errors
    /// More than [`MAX_READS`] arguments (a binding bug, reported, never a panic).
    pub fn push(&mut self, name: &'static str, v: View) -> Result<(), Error> {
        let slot = self
            .items
            .get_mut(self.len)
            .ok_or_else(|| Error::value(format!("too many arguments ({name})")))?;
        *slot = Some((name, v));
        self.len += 1;
        Ok(())
    }
    pub fn iter(&self) -> impl Iterator<Item = &(&'static str, View)> {
        self.items[..self.len].iter().flatten()
    }
}

/// The inputs and outputs of one call, checked for type and aliasing.
pub struct Io {
    pub reads: Reads,
    pub out: Option<View>,
    pub grad: Option<View>,
    /// Gradients of the other differentiable tensors, by name.
    pub extra: [Option<(&'static str, View)>; 2],
}

impl Io {
    pub fn new(reads: Reads, out: Option<View>, grad: Option<View>) -> Self {
        Self { reads, out, grad, extra: [None, None] }
    }

    /// Outputs may not share memory with any input or with each other — except
    /// that `gradOut` may be exactly the input (in-place gradient).
    pub fn check_aliasing(&self, input: &View) -> Result<(), Error> {
        // No allocation: the outputs, any of which may be absent.
        let [e0, e1] = self.extra;
        let outs = [
            ("out", self.out.as_ref()),
            ("gradOut", self.grad.as_ref()),
            (e0.map_or("", |e| e.0), e0.as_ref().map(|e| &e.1)),
            (e1.map_or("", |e| e.0), e1.as_ref().map(|e| &e.1)),
        ];
        for (i, &(oname, o)) in outs.iter().enumerate() {
            let Some(o) = o else { continue };
            if oname == "gradOut" && o.same(input) {
                // allowed: written over the logits, each element after its last read
            } else if o.overlaps(input) {
                return Err(Error::value(format!(
                    "{oname} overlaps input; it must be separate memory or exactly the input's buffer (gradOut only)"
                )));
            }
            for (rname, r) in self.reads.iter() {
                if o.overlaps(r) {
                    return Err(Error::value(format!(
                        "{oname} overlaps {rname}; outputs must not share memory with other arguments"
                    )));
                }
            }
            for &(pname, p) in &outs[..i] {
                if p.is_some_and(|p| o.overlaps(p)) {
                    return Err(Error::value(format!("{oname} overlaps {pname}")));
                }
            }
        }
        Ok(())
    }

    /// Builds the input/gradient pair.
    ///
    /// # Safety
    /// Aliasing was checked; kinds are `T`'s.
    pub unsafe fn input_grad<'a, T: Float>(&self, input: &View) -> Result<InputGrad<'a, T>, Error> {
        // SAFETY: per the contract.
        unsafe {
            Ok(match &self.grad {
                None => InputGrad::new(input.slice::<T>()),
                Some(g) if g.same(input) => InputGrad::in_place(input.slice_mut::<T>()),
                Some(g) => InputGrad::with_grad(input.slice::<T>(), g.slice_mut::<T>())?,
            })
        }
    }
}
