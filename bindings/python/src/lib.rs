//! `rsmi` for Python: the library behind the `rsmi` command line, on NumPy arrays.
//!
//! Every function here calls the same `rsmi_cli` code as the matching subcommand, with
//! the command line's arguments and defaults, and returns what the command writes or
//! prints as Python objects: samples as NumPy arrays (moved, not copied, out of the Rust
//! vectors), the JSON a command prints as dicts, a learned rule as a [`Rule`]. Errors are
//! the command's sentence, raised as `ValueError` (bad arguments or data) or `OSError`
//! (files; `FileNotFoundError` / `FileExistsError` where that is what went wrong).
//!
//! Long calls run on a worker thread without the GIL; the calling thread waits for it
//! and checks for signals every 50 ms, so Ctrl-C raises `KeyboardInterrupt` at once (see
//! [`work::run`] for what happens to the abandoned work).

mod convert;
mod error;
mod learn;
mod rg;
mod samples;
mod work;

use pyo3::prelude::*;

/// The `rsmi` Python module.
#[pymodule]
fn rsmi(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("T_C", rsmi_cli::command::flow::T_C)?;
    m.add_function(wrap_pyfunction!(samples::sample_ising2d, m)?)?;
    m.add_function(wrap_pyfunction!(samples::sample_ising1d, m)?)?;
    m.add_function(wrap_pyfunction!(samples::sample_dimer, m)?)?;
    m.add_function(wrap_pyfunction!(samples::read_samples, m)?)?;
    m.add_function(wrap_pyfunction!(samples::write_samples, m)?)?;
    m.add_function(wrap_pyfunction!(samples::unpack_spins, m)?)?;
    m.add_class::<learn::Rule>()?;
    m.add_function(wrap_pyfunction!(learn::train, m)?)?;
    m.add_function(wrap_pyfunction!(learn::mi, m)?)?;
    m.add_function(wrap_pyfunction!(learn::coarsen, m)?)?;
    m.add_function(wrap_pyfunction!(rg::couplings, m)?)?;
    m.add_function(wrap_pyfunction!(rg::mcrg, m)?)?;
    m.add_function(wrap_pyfunction!(rg::flow, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests;
