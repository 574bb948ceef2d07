//! Running rsmi's work off the Python thread: without the GIL, interruptible by Ctrl-C.

use crate::error;
use pyo3::prelude::*;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;

/// How often the waiting thread checks for signals (Ctrl-C).
const POLL: Duration = Duration::from_millis(50);

/// Runs `f` on a new worker thread and waits for it with the GIL released, checking for
/// signals every [`POLL`]: other Python threads run meanwhile, and Ctrl-C raises
/// `KeyboardInterrupt` within 50 ms.
///
/// An interrupted call cannot stop the Rust work: the worker thread finishes it in the
/// background (its CPU use goes on until then) and its result is dropped. Whatever `f`
/// owns (temporary files of in-memory data included) lives until the worker ends. Output
/// files are written atomically (temporary name, then rename), so an abandoned call that
/// writes one completes it whole; rsmi never leaves a half-written file.
///
/// A panic in the worker (a bug) becomes a `RuntimeError`; an rsmi error becomes the
/// exception of [`error::to_py`].
pub fn run<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> anyhow::Result<T> + Send + 'static,
{
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("rsmi-worker".into())
        .spawn(move || {
            let r = catch_unwind(AssertUnwindSafe(f));
            let _ = tx.send(r);
        })
        .map_err(|e| error::to_py(anyhow::anyhow!("could not start a worker thread: {e}")))?;
    let mut rx = rx;
    loop {
        // The receiver moves in and out: `Receiver` is `Send` but not `Sync`.
        let (back, got) = py.detach(move || {
            let got = rx.recv_timeout(POLL);
            (rx, got)
        });
        rx = back;
        match got {
            Ok(Ok(result)) => return result.map_err(error::to_py),
            Ok(Err(payload)) => return Err(error::panicked(payload.as_ref())),
            Err(RecvTimeoutError::Timeout) => py.check_signals()?,
            Err(RecvTimeoutError::Disconnected) => {
                return Err(error::to_py(anyhow::anyhow!(
                    "the worker thread ended without a result"
                )));
            }
        }
    }
}
