//! rsmi errors as Python exceptions, carrying the sentence the CLI prints after `error: `.

use pyo3::PyErr;
use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyOSError, PyRuntimeError, PyValueError,
};
use rsmi_cli::io::npz::NpzError;
use rsmi_cli::learn::rule_file::RuleError;
use std::io::ErrorKind;

/// What kind of Python exception an rsmi error becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad arguments or bad data: `ValueError`.
    Value,
    /// A file or directory problem: `OSError`.
    Os,
    /// A file that does not exist: `FileNotFoundError` (an `OSError`).
    NotFound,
    /// An output that exists (without `force`): `FileExistsError` (an `OSError`).
    Exists,
}

/// Sentences of `rsmi_cli::io::atomic` (output checks), which are plain strings.
const OUTPUT_SENTENCES: [&str; 4] = [
    "cannot write ",
    "output path ",
    "output file ",
    "could not write ",
];

/// Classifies an error by its chain: an I/O error anywhere, a sample or rule file that
/// could not be opened, or one of the output checks' sentences make it an OS error.
pub fn kind(e: &anyhow::Error) -> Kind {
    for c in e.chain() {
        let io = if let Some(io) = c.downcast_ref::<std::io::Error>() {
            Some(io.kind())
        } else if let Some(NpzError::Open { cause, .. }) = c.downcast_ref::<NpzError>() {
            Some(cause.kind())
        } else if let Some(RuleError::Open { cause, .. }) = c.downcast_ref::<RuleError>() {
            Some(cause.kind())
        } else {
            None
        };
        if let Some(k) = io {
            return if k == ErrorKind::NotFound {
                Kind::NotFound
            } else {
                Kind::Os
            };
        }
    }
    let root = e.root_cause().to_string();
    if root.starts_with("output file ") && root.contains("already exists") {
        return Kind::Exists;
    }
    if OUTPUT_SENTENCES.iter().any(|s| root.starts_with(s)) {
        return Kind::Os;
    }
    Kind::Value
}

/// The Python exception of an rsmi error: the CLI's sentence (`{e:#}`, the whole chain).
pub fn to_py(e: anyhow::Error) -> PyErr {
    let msg = format!("{e:#}");
    match kind(&e) {
        Kind::Value => PyValueError::new_err(msg),
        Kind::Os => PyOSError::new_err(msg),
        Kind::NotFound => PyFileNotFoundError::new_err(msg),
        Kind::Exists => PyFileExistsError::new_err(msg),
    }
}

/// A `ValueError` with `msg`.
pub fn value(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

/// A `RuntimeError` for a panic in the worker (a bug: rsmi's code does not panic on input).
pub fn panicked(payload: &(dyn std::any::Any + Send)) -> PyErr {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    PyRuntimeError::new_err(format!(
        "internal error in rsmi (a bug, please report): {what}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let e = anyhow::anyhow!("--size must be at least 2 (got 1)");
        assert_eq!(kind(&e), Kind::Value);
        let e = anyhow::anyhow!("output file x.npz already exists (use --force to overwrite)");
        assert_eq!(kind(&e), Kind::Exists);
        let e = anyhow::anyhow!("cannot write a/b.npz: directory a does not exist");
        assert_eq!(kind(&e), Kind::Os);
        let missing = rsmi_cli::io::npz::read_npz(std::path::Path::new("/nonexistent/x.npz"))
            .expect_err("no such file");
        assert_eq!(kind(&anyhow::Error::from(missing)), Kind::NotFound);
        let io = std::io::Error::new(ErrorKind::PermissionDenied, "denied");
        let e = anyhow::Error::from(io).context("could not save");
        assert_eq!(kind(&e), Kind::Os);
    }
}
