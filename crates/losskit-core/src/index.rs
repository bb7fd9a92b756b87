//! Class-index element types.

/// Class-index element types: `Int32Array` and `BigInt64Array`.
pub trait Index: Copy + Send + Sync + 'static {
    fn to_i64(self) -> i64;
}
impl Index for i32 {
    #[inline(always)]
    fn to_i64(self) -> i64 {
        i64::from(self)
    }
}
impl Index for i64 {
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self
    }
}
