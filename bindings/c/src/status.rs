//! Status codes, the per-thread last error message, and the guard that every exported
//! function runs its body in (errors become status codes, panics never unwind into C).

use std::cell::RefCell;
use std::ffi::{CString, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Success.
pub const RSMI_OK: c_int = 0;
/// An argument the core rejects (size, temperature, field, buffer length, a parameter out
/// of range, an invalid configuration); `rsmi_last_error_message()` says which.
pub const RSMI_ERROR_INVALID: c_int = 1;
/// A required pointer argument was NULL.
pub const RSMI_ERROR_NULL: c_int = 2;
/// Memory for a handle could not be allocated (the lattice is too large).
pub const RSMI_ERROR_ALLOC: c_int = 3;
/// An internal error (a Rust panic, caught at the boundary). The handle involved may be
/// in an unspecified state: free it.
pub const RSMI_ERROR_INTERNAL: c_int = 4;

/// An error on its way to the C caller: a status code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FfiError {
    /// One of the `RSMI_ERROR_*` codes.
    pub code: c_int,
    /// The sentence `rsmi_last_error_message()` returns.
    pub message: String,
}

impl FfiError {
    /// A NULL pointer passed for argument `what`.
    pub fn null(what: &str) -> Self {
        FfiError {
            code: RSMI_ERROR_NULL,
            message: format!("argument `{what}` is a null pointer"),
        }
    }
    /// A pointer for argument `what` that is not aligned for its element type.
    pub fn misaligned(what: &str) -> Self {
        FfiError {
            code: RSMI_ERROR_INVALID,
            message: format!("argument `{what}` is not aligned for its element type"),
        }
    }
    /// An invalid argument described by `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        FfiError {
            code: RSMI_ERROR_INVALID,
            message: message.into(),
        }
    }
    /// A failed allocation of `what`.
    pub fn alloc(what: &str) -> Self {
        FfiError {
            code: RSMI_ERROR_ALLOC,
            message: format!("could not allocate memory for {what} (lattice too large?)"),
        }
    }
}

impl From<rsmi_core::Error> for FfiError {
    fn from(e: rsmi_core::Error) -> Self {
        FfiError::invalid(e.to_string())
    }
}

/// Result of a function body.
pub type FfiResult<T = ()> = Result<T, FfiError>;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Store `message` as this thread's last error (interior NUL bytes become spaces).
pub fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// This thread's last error message, or "" when no call on this thread has failed. The
/// pointer stays valid until the next failing call on the same thread.
pub fn last_error_ptr() -> *const std::ffi::c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// This thread's last error message as a `String` (for Rust callers and tests).
pub fn last_error_string() -> String {
    LAST_ERROR.with(|e| e.borrow().to_string_lossy().into_owned())
}

/// Run `body`, turning its error or panic into a status code and the last error message.
pub fn guard(body: impl FnOnce() -> FfiResult) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => RSMI_OK,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.code
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            set_last_error(&format!("internal error in rsmi: {what}"));
            RSMI_ERROR_INTERNAL
        }
    }
}

/// A vector of `n` copies of `value`, or an allocation error instead of an abort.
pub fn try_vec<T: Clone>(n: usize, value: T, what: &str) -> FfiResult<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| FfiError::alloc(what))?;
    v.resize(n, value);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_maps_errors_and_panics() {
        assert_eq!(guard(|| Ok(())), RSMI_OK);
        assert_eq!(
            guard(|| Err(rsmi_core::Error::InvalidTemperature.into())),
            RSMI_ERROR_INVALID
        );
        let msg = last_error_string;
        assert_eq!(
            msg(),
            "temperature must be a finite number greater than zero"
        );
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let code = guard(|| panic!("boom"));
        std::panic::set_hook(hook);
        assert_eq!(code, RSMI_ERROR_INTERNAL);
        assert_eq!(msg(), "internal error in rsmi: boom");
    }

    #[test]
    fn try_vec_reports_impossible_sizes() {
        let e = try_vec(usize::MAX / 2, 0u64, "the lattice").unwrap_err();
        assert_eq!(e.code, RSMI_ERROR_ALLOC);
    }
}
