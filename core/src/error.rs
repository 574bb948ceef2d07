//! The error type returned by every fallible core function.

use core::fmt;

/// Something the caller got wrong. Core functions never panic on caller input; they
/// return one of these instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Lattice size not supported by the chosen layout or algorithm.
    UnsupportedSize {
        /// The size that was asked for.
        size: usize,
        /// What the layout needs, in words.
        requirement: &'static str,
    },
    /// A caller-provided buffer has the wrong length.
    BufferLength {
        /// Which buffer.
        what: &'static str,
        /// The length the function needs.
        expected: usize,
        /// The length it got.
        got: usize,
    },
    /// A temperature that is not a finite positive number.
    InvalidTemperature,
    /// A field that is not finite.
    InvalidField,
    /// A parameter outside its allowed range.
    InvalidParameter(&'static str),
    /// A feature that cannot be combined with the given parameters.
    Unsupported(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnsupportedSize { size, requirement } => {
                write!(f, "lattice size {size} is not supported: {requirement}")
            }
            Error::BufferLength {
                what,
                expected,
                got,
            } => write!(f, "buffer `{what}` has length {got}, expected {expected}"),
            Error::InvalidTemperature => {
                write!(f, "temperature must be a finite number greater than zero")
            }
            Error::InvalidField => write!(f, "field must be a finite number"),
            Error::InvalidParameter(what) => write!(f, "invalid parameter: {what}"),
            Error::Unsupported(what) => write!(f, "unsupported: {what}"),
        }
    }
}

impl core::error::Error for Error {}

/// Check a buffer length.
pub(crate) fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), Error> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::BufferLength {
            what,
            expected,
            got,
        })
    }
}
