//! Sampling (`rsmi sample ising2d|ising1d|dimer`) and the sample file format.

use crate::convert::{
    AnyFile, Extras, cli_defaults, dimer_file_to_py, file_from_py, parse_enum, sample_file_to_py,
    unpack,
};
use crate::error::value;
use crate::work;
use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyList;
use rsmi_cli::command::IsingModel;
use rsmi_cli::command::sample::{self, SampleArgs};
use rsmi_cli::command::sample_dimer::{self as dimer_cmd, DimerArgs};
use rsmi_cli::io::dimer_npz::{MODEL as DIMER, read_dimer_npz};
use rsmi_cli::io::npz::{NpzError, read_npz};
use std::path::PathBuf;

/// One temperature (a float) or several (a sequence).
fn temperatures(t: &Bound<'_, PyAny>) -> PyResult<(Vec<f64>, bool)> {
    if let Ok(x) = t.extract::<f64>() {
        return Ok((vec![x], true));
    }
    let v: Vec<f64> = t
        .extract()
        .map_err(|_| value("temperature must be a number or a sequence of numbers"))?;
    if v.is_empty() {
        return Err(value("temperature needs at least one value"));
    }
    Ok((v, false))
}

#[allow(clippy::too_many_arguments)]
fn sample_ising<'py>(
    py: Python<'py>,
    model: IsingModel,
    size: usize,
    temperature: &Bound<'py, PyAny>,
    samples: usize,
    seed: u64,
    burn_in: Option<u64>,
    thin: Option<u64>,
    algorithm: &str,
    layout: &str,
    field: f64,
    threads: Option<usize>,
    unpack: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let (temps, scalar) = temperatures(temperature)?;
    let mut a = SampleArgs::new(model, size, temps, samples, seed, PathBuf::new());
    a.burn_in = burn_in;
    a.thin = thin;
    a.algorithm = parse_enum("--algorithm", algorithm)?;
    a.layout = parse_enum("--layout", layout)?;
    a.field = field;
    a.threads = threads;
    let runs = work::run(py, move || sample::run_in_memory(&a))?;
    let mut out = Vec::with_capacity(runs.len());
    for (summary, file) in runs {
        out.push(sample_file_to_py(py, file, unpack, Some(&summary))?);
    }
    if scalar && out.len() == 1 {
        Ok(out.remove(0).into_any())
    } else {
        Ok(PyList::new(py, out)?.into_any())
    }
}

/// sample_ising2d(size, temperature, samples, seed=1, burn_in=None, thin=None,
///                algorithm="auto", layout="auto", field=0.0, threads=None, unpack=False)
///
///
/// `rsmi sample ising2d`: Monte Carlo samples of the 2D Ising model on the L×L torus,
/// bit-identical to the command line's for the same arguments.
///
/// Returns `(spins, info)`: `spins` is uint8 (N, L, ceil(L/8)) packed bits (NumPy
/// `packbits` order, 1 = up), or int8 ±1 (N, L, L) with `unpack=True`; `info` is a dict
/// with `meta` (the file's meta), `energy`, `magnetization`, `chain`, `sweep` (int64,
/// (N,)) and `summary` (what `--json` prints). With a sequence of temperatures, a list of
/// such pairs, one per temperature. `burn_in`/`thin` default to 1000/10 sweeps for
/// local updates, 100/2 for Wolff; `threads` to all cores (never changes the samples).
#[pyfunction]
#[pyo3(signature = (size, temperature, samples, seed=1, burn_in=None, thin=None,
                    algorithm="auto", layout="auto", field=0.0, threads=None, unpack=false))]
#[allow(clippy::too_many_arguments)]
pub fn sample_ising2d<'py>(
    py: Python<'py>,
    size: usize,
    temperature: &Bound<'py, PyAny>,
    samples: usize,
    seed: u64,
    burn_in: Option<u64>,
    thin: Option<u64>,
    algorithm: &str,
    layout: &str,
    field: f64,
    threads: Option<usize>,
    unpack: bool,
) -> PyResult<Bound<'py, PyAny>> {
    sample_ising(
        py,
        IsingModel::Ising2d,
        size,
        temperature,
        samples,
        seed,
        burn_in,
        thin,
        algorithm,
        layout,
        field,
        threads,
        unpack,
    )
}

/// sample_ising1d(size, temperature, samples, seed=1, burn_in=None, thin=None,
///                algorithm="auto", layout="auto", field=0.0, threads=None, unpack=False)
///
///
/// `rsmi sample ising1d`: samples of the Ising ring of L sites; as `sample_ising2d`, with
/// spins uint8 (N, ceil(L/8)) packed or int8 ±1 (N, L).
#[pyfunction]
#[pyo3(signature = (size, temperature, samples, seed=1, burn_in=None, thin=None,
                    algorithm="auto", layout="auto", field=0.0, threads=None, unpack=false))]
#[allow(clippy::too_many_arguments)]
pub fn sample_ising1d<'py>(
    py: Python<'py>,
    size: usize,
    temperature: &Bound<'py, PyAny>,
    samples: usize,
    seed: u64,
    burn_in: Option<u64>,
    thin: Option<u64>,
    algorithm: &str,
    layout: &str,
    field: f64,
    threads: Option<usize>,
    unpack: bool,
) -> PyResult<Bound<'py, PyAny>> {
    sample_ising(
        py,
        IsingModel::Ising1d,
        size,
        temperature,
        samples,
        seed,
        burn_in,
        thin,
        algorithm,
        layout,
        field,
        threads,
        unpack,
    )
}

/// sample_dimer(size, samples, seed=1, interaction=0.0, temperature=None, burn_in=200,
///              thin=2, decorate="none", exits="heat-bath", threads=None)
///
///
/// `rsmi sample dimer`: close-packed dimers on the L×L torus by directed loops,
/// bit-identical to the command line's. Returns `(links, info)`: `links` uint8
/// (N, 2, L, L) (`links[n,0,y,x]` = dimer on (x,y)–(x+1,y), `links[n,1,y,x]` on
/// (x,y)–(x,y+1)); `info` has `meta`, `winding` (N, 2), `decorated` ((N, 2L, 2L) with
/// `decorate="paired"|"independent"`, else None), `chain`, `sweep`, `summary`.
#[pyfunction]
#[pyo3(signature = (size, samples, seed=1, interaction=None, temperature=None, burn_in=None,
                    thin=None, decorate="none", exits="heat-bath", threads=None))]
#[allow(clippy::too_many_arguments)]
pub fn sample_dimer<'py>(
    py: Python<'py>,
    size: usize,
    samples: usize,
    seed: u64,
    interaction: Option<f64>,
    temperature: Option<f64>,
    burn_in: Option<u64>,
    thin: Option<u64>,
    decorate: &str,
    exits: &str,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let size_s = size.to_string();
    let samples_s = samples.to_string();
    let mut a: DimerArgs = cli_defaults(&[
        "--size",
        &size_s,
        "--samples",
        &samples_s,
        "--out",
        "unused.npz",
    ]);
    a.seed = seed;
    if let Some(v) = interaction {
        a.interaction = v;
    }
    a.temperature = temperature;
    if let Some(b) = burn_in {
        a.burn_in = b;
    }
    if let Some(t) = thin {
        a.thin = t;
    }
    a.decorate = parse_enum("--decorate", decorate)?;
    a.exits = parse_enum("--exits", exits)?;
    a.threads = threads;
    let (summary, file) = work::run(py, move || dimer_cmd::run_in_memory(&a))?;
    Ok(dimer_file_to_py(py, file, Some(&summary))?.into_any())
}

/// Whether an error is "this sample file holds dimers".
fn is_dimer_file(e: &NpzError) -> bool {
    match e {
        NpzError::InFile { cause, .. } => is_dimer_file(cause),
        NpzError::UnsupportedModel(m) => m == DIMER,
        _ => false,
    }
}

/// read_samples(path, unpack=False)
///
///
/// Reads a sample file (`rsmi sample`, `rsmi coarsen` or `write_samples`) with the
/// CLI's strict reader. Ising and coarse files give `(spins, info)` as `sample_ising2d`
/// returns them (a channel axis after N when meta.channels > 1); dimer files give
/// `(links, info)` as `sample_dimer`. The arrays are the file's, moved into NumPy.
#[pyfunction]
#[pyo3(signature = (path, unpack=false))]
pub fn read_samples<'py>(
    py: Python<'py>,
    path: PathBuf,
    unpack: bool,
) -> PyResult<Bound<'py, PyAny>> {
    enum Read {
        Spins(rsmi_cli::io::npz::SampleFile),
        Dimer(rsmi_cli::io::dimer_npz::DimerFile),
    }
    let read = work::run(py, move || match read_npz(&path) {
        Ok(f) => Ok(Read::Spins(f)),
        Err(e) if is_dimer_file(&e) => Ok(Read::Dimer(read_dimer_npz(&path)?)),
        Err(e) => Err(e.into()),
    })?;
    Ok(match read {
        Read::Spins(f) => sample_file_to_py(py, f, unpack, None)?.into_any(),
        Read::Dimer(f) => dimer_file_to_py(py, f, None)?.into_any(),
    })
}

/// write_samples(path, spins, meta=None, energy=None, magnetization=None, chain=None,
///               sweep=None, winding=None, decorated=None, force=False)
///
///
/// Writes a sample file that `rsmi` reads (atomically, with the CLI's writer; an existing
/// file only with `force=True`). `spins` is uint8 packed bits in the file's shape, or
/// int8 ±1 (N, L, L) / (N, L); `meta` a dict (at least `model` and `size`, which are
/// inferred from ±1 spins when absent) or an `info` dict as `read_samples` returns,
/// whose arrays are used for those not given. `energy` and `magnetization` (int64 (N,))
/// are recomputed from the spins when not given. Dimer files (`meta["model"] == "dimer"`)
/// take `links` as `spins` and need `winding`.
#[pyfunction]
#[pyo3(signature = (path, spins, meta=None, energy=None, magnetization=None, chain=None,
                    sweep=None, winding=None, decorated=None, force=false))]
#[allow(clippy::too_many_arguments)]
pub fn write_samples<'py>(
    py: Python<'py>,
    path: PathBuf,
    spins: &Bound<'py, PyAny>,
    meta: Option<&Bound<'py, PyAny>>,
    energy: Option<Bound<'py, PyAny>>,
    magnetization: Option<Bound<'py, PyAny>>,
    chain: Option<Bound<'py, PyAny>>,
    sweep: Option<Bound<'py, PyAny>>,
    winding: Option<Bound<'py, PyAny>>,
    decorated: Option<Bound<'py, PyAny>>,
    force: bool,
) -> PyResult<()> {
    let mut ex = Extras {
        energy,
        magnetization,
        chain,
        sweep,
        winding,
        decorated,
    };
    let meta = ex.split_info(meta)?;
    let file: AnyFile = file_from_py(spins, meta.as_ref(), &ex)?;
    work::run(py, move || file.write(&path, force))
}

/// unpack_spins(spins, size)
///
///
/// Packed uint8 spins (any shape whose last axis is ceil(L/8)) as int8 ±1 with last
/// axis L.
#[pyfunction]
pub fn unpack_spins<'py>(
    py: Python<'py>,
    spins: PyReadonlyArrayDyn<'py, u8>,
    size: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let mut shape = spins.shape().to_vec();
    match shape.last_mut() {
        Some(last) if *last == size.div_ceil(8) && size > 0 => *last = size,
        _ => {
            return Err(value(format!(
                "the last axis of packed spins must be ceil(L/8) = {} for L = {size} (shape {:?})",
                size.div_ceil(8),
                spins.shape()
            )));
        }
    }
    let bytes = match spins.as_slice() {
        Ok(s) => unpack(s, size),
        Err(_) => unpack(&spins.as_array().iter().copied().collect::<Vec<_>>(), size),
    };
    crate::convert::array(py, bytes, &shape)
}
