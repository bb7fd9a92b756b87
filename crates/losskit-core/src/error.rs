//! Errors raised by the kernels, classified the way Node classifies them.

use std::fmt;

/// Which of Node's error classes (and `code`s) an error maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// `TypeError`, `ERR_INVALID_ARG_TYPE`: an argument of the wrong type.
    InvalidArgType,
    /// `TypeError`, `ERR_INVALID_ARG_VALUE`: shapes or values that do not fit.
    InvalidArgValue,
    /// `RangeError`, `ERR_OUT_OF_RANGE`: a number outside its allowed range.
    OutOfRange,
}

impl ErrorKind {
    /// Node's `code` for this kind.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidArgType => "ERR_INVALID_ARG_TYPE",
            Self::InvalidArgValue => "ERR_INVALID_ARG_VALUE",
            Self::OutOfRange => "ERR_OUT_OF_RANGE",
        }
    }
}

/// A validation error. The message names the argument and the offending value;
/// the caller prefixes the public function's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn value(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::InvalidArgValue, message: message.into() }
    }
    pub fn range(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::OutOfRange, message: message.into() }
    }
    pub fn type_(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::InvalidArgType, message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.message, self.kind.code())
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Checks that a buffer has the length its shape promises.
pub(crate) fn check_len(what: &str, len: usize, expected: usize) -> Result<()> {
    if len == expected {
        Ok(())
    } else {
        Err(Error::value(format!("{what} has length {len}, expected {expected}")))
    }
}
