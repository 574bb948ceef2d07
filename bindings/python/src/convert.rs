//! Conversions between rsmi's Rust values and Python objects: JSON, enums, argument
//! structs with the command line's defaults, sample files and NumPy arrays, data and rule
//! arguments given as paths or as in-memory objects.

use crate::error::{self, value};
use crate::learn::Rule;
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{Element, IntoPyArray, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use rsmi_cli::io::dimer_npz::{DimerFile, MODEL as DIMER, write_dimer_npz};
use rsmi_cli::io::npz::{SampleFile, dims_for_model, pack_row, write_npz};
use rsmi_cli::learn::coarsen::energy_magnetization;
use rsmi_cli::learn::rule_file::write_rule;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A JSON value as Python objects (dict, list, str, float, int, bool, None), through
/// Python's `json` module, which reads serde_json's shortest round-trip floats exactly.
pub fn json_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(v).map_err(|e| value(e.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}

/// A Python object (dict, list, …) as JSON.
pub fn py_to_json(what: &str, obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let text: String = obj
        .py()
        .import("json")?
        .call_method1("dumps", (obj,))
        .map_err(|e| value(format!("{what} cannot be written as JSON: {e}")))?
        .extract()?;
    serde_json::from_str(&text).map_err(|e| value(format!("{what} is not valid JSON: {e}")))
}

/// Parses a value of a command-line enum by its command-line name (`heat-bath`, …).
pub fn parse_enum<T: clap::ValueEnum>(flag: &str, s: &str) -> PyResult<T> {
    T::from_str(s, false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|p| p.get_name().to_string())
            .collect();
        value(format!(
            "invalid value '{s}' for {flag} (possible values: {})",
            names.join(", ")
        ))
    })
}

/// The argument struct `T` of a subcommand with the command line's defaults: `argv` (the
/// required flags, with placeholders the caller overwrites) parsed by clap itself, so the
/// defaults can never drift from the CLI's.
pub fn cli_defaults<T: clap::Args>(argv: &[&str]) -> T {
    let cmd = T::augment_args(clap::Command::new("rsmi").no_binary_name(true));
    let m = cmd
        .try_get_matches_from(argv)
        .unwrap_or_else(|e| panic!("the placeholder command line {argv:?} does not parse: {e}"));
    T::from_arg_matches(&m)
        .unwrap_or_else(|e| panic!("the placeholder command line {argv:?} does not parse: {e}"))
}

/// A vector moved into a NumPy array of `shape` (no copy).
pub fn array<'py, T: Element>(
    py: Python<'py>,
    v: Vec<T>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    let a = ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| value(e.to_string()))?;
    Ok(a.into_pyarray(py).into_any())
}

/// Packed rows (NumPy `packbits` order, `ceil(L/8)` bytes each) as ±1 bytes, `L` per row.
pub fn unpack(packed: &[u8], size: usize) -> Vec<i8> {
    let rb = size.div_ceil(8);
    let rows = packed.len() / rb.max(1);
    let mut out = Vec::with_capacity(rows * size);
    for row in packed.chunks_exact(rb) {
        out.extend((0..size).map(|x| {
            if (row[x / 8] >> (7 - x % 8)) & 1 == 1 {
                1i8
            } else {
                -1
            }
        }));
    }
    out
}

/// An optional `int64` vector as an array or `None`.
fn opt_i64<'py>(py: Python<'py>, v: Option<Vec<i64>>) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Some(v) => {
            let n = v.len();
            array(py, v, &[n])
        }
        None => Ok(py.None().into_bound(py)),
    }
}

/// A sample file as `(spins, info)`: `spins` packed `uint8` in the file's shape, or, with
/// `unpacked`, `int8` ±1 with the last axis L; `info` holds `meta`, `energy`,
/// `magnetization`, `chain`, `sweep` (None when absent) and, if given, `summary`.
pub fn sample_file_to_py<'py>(
    py: Python<'py>,
    f: SampleFile,
    unpacked: bool,
    summary: Option<&Value>,
) -> PyResult<Bound<'py, PyTuple>> {
    let mut shape: Vec<usize> = f.spins_shape().iter().map(|&d| d as usize).collect();
    let info = PyDict::new(py);
    info.set_item("meta", json_to_py(py, &f.meta)?)?;
    let n = f.n;
    let spins = if unpacked {
        if let Some(last) = shape.last_mut() {
            *last = f.size;
        }
        array(py, unpack(&f.spins, f.size), &shape)?
    } else {
        array(py, f.spins, &shape)?
    };
    info.set_item("energy", array(py, f.energy, &[n])?)?;
    info.set_item("magnetization", array(py, f.magnetization, &[n])?)?;
    info.set_item("chain", opt_i64(py, f.chain)?)?;
    info.set_item("sweep", opt_i64(py, f.sweep)?)?;
    if let Some(s) = summary {
        info.set_item("summary", json_to_py(py, s)?)?;
    }
    PyTuple::new(py, [spins, info.into_any()])
}

/// A dimer file as `(links, info)`: `links` `uint8` (N, 2, L, L); `info` holds `meta`,
/// `winding` (N, 2), `decorated` ((N, 2L, 2L) or None), `chain`, `sweep` and, if given,
/// `summary`.
pub fn dimer_file_to_py<'py>(
    py: Python<'py>,
    f: DimerFile,
    summary: Option<&Value>,
) -> PyResult<Bound<'py, PyTuple>> {
    let (n, l) = (f.n, f.size);
    let info = PyDict::new(py);
    info.set_item("meta", json_to_py(py, &f.meta)?)?;
    let links = array(py, f.links, &[n, 2, l, l])?;
    info.set_item("winding", array(py, f.winding, &[n, 2])?)?;
    match f.decorated {
        Some(d) => info.set_item("decorated", array(py, d, &[n, 2 * l, 2 * l])?)?,
        None => info.set_item("decorated", py.None())?,
    }
    info.set_item("chain", opt_i64(py, f.chain)?)?;
    info.set_item("sweep", opt_i64(py, f.sweep)?)?;
    if let Some(s) = summary {
        info.set_item("summary", json_to_py(py, s)?)?;
    }
    PyTuple::new(py, [links, info.into_any()])
}

/// The elements of an array of any layout, in C order (one copy).
fn elements<T: Element + Copy>(a: &PyReadonlyArrayDyn<'_, T>) -> Vec<T> {
    match a.as_slice() {
        Ok(s) => s.to_vec(),
        Err(_) => a.as_array().iter().copied().collect(),
    }
}

/// An optional `int64` array argument.
fn i64_arg(name: &str, obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<i64>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => {
            let a: PyReadonlyArrayDyn<'_, i64> = o
                .extract()
                .map_err(|_| value(format!("{name} must be an int64 NumPy array")))?;
            Ok(Some(elements(&a)))
        }
    }
}

/// The optional arrays of a sample file, given one by one or through an `info` dict.
#[derive(Debug, Default)]
pub struct Extras<'py> {
    pub energy: Option<Bound<'py, PyAny>>,
    pub magnetization: Option<Bound<'py, PyAny>>,
    pub chain: Option<Bound<'py, PyAny>>,
    pub sweep: Option<Bound<'py, PyAny>>,
    pub winding: Option<Bound<'py, PyAny>>,
    pub decorated: Option<Bound<'py, PyAny>>,
}

impl<'py> Extras<'py> {
    /// Splits `meta_or_info` into the meta dict and, when it is an `info` dict (it has a
    /// `meta` dict), fills the arrays not given explicitly from it.
    pub fn split_info(
        &mut self,
        meta_or_info: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(obj) = meta_or_info.filter(|o| !o.is_none()) else {
            return Ok(None);
        };
        let Ok(d) = obj.cast::<PyDict>() else {
            return Err(PyTypeError::new_err("meta must be a dict"));
        };
        match d.get_item("meta")? {
            Some(m) if m.is_instance_of::<PyDict>() => {
                for (key, slot) in [
                    ("energy", &mut self.energy),
                    ("magnetization", &mut self.magnetization),
                    ("chain", &mut self.chain),
                    ("sweep", &mut self.sweep),
                    ("winding", &mut self.winding),
                    ("decorated", &mut self.decorated),
                ] {
                    if slot.is_none() {
                        *slot = d.get_item(key)?;
                    }
                }
                Ok(Some(m))
            }
            _ => Ok(Some(obj.clone())),
        }
    }
}

/// Which file a `(spins, meta)` pair makes.
pub enum AnyFile {
    Spins(SampleFile),
    Dimer(DimerFile),
}

impl AnyFile {
    /// Writes the file atomically (validated first).
    pub fn write(&self, path: &Path, force: bool) -> anyhow::Result<()> {
        match self {
            AnyFile::Spins(f) => write_npz(path, force, f),
            AnyFile::Dimer(f) => write_dimer_npz(path, force, f),
        }
    }
}

/// Builds a sample file from NumPy arrays (see `write_samples` for the rules).
pub fn file_from_py(
    spins: &Bound<'_, PyAny>,
    meta: Option<&Bound<'_, PyAny>>,
    ex: &Extras<'_>,
) -> PyResult<AnyFile> {
    let mut meta = match meta {
        Some(m) => py_to_json("meta", m)?,
        None => Value::Object(Default::default()),
    };
    let Some(obj) = meta.as_object_mut() else {
        return Err(value("meta must be a dict"));
    };
    if obj.get("model").and_then(Value::as_str) == Some(DIMER) {
        return dimer_from_py(spins, meta, ex).map(AnyFile::Dimer);
    }
    let channels = obj
        .get("channels")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1) as usize;
    let extra_axes = 1 + usize::from(channels > 1);
    let (packed, shape, data) = if let Ok(a) = spins.extract::<PyReadonlyArrayDyn<'_, u8>>() {
        (true, a.shape().to_vec(), Data::Packed(elements(&a)))
    } else if let Ok(a) = spins.extract::<PyReadonlyArrayDyn<'_, i8>>() {
        (false, a.shape().to_vec(), Data::Signs(elements(&a)))
    } else {
        return Err(value(
            "spins must be a NumPy array of uint8 (packed bits, NumPy packbits order) or of \
             int8 (±1 spins)",
        ));
    };
    if shape.len() <= extra_axes || shape.len() > extra_axes + 2 {
        return Err(value(format!(
            "spins has shape {shape:?}; expected (N, L, ceil(L/8)) or (N, ceil(L/8)) packed, \
             (N, L, L) or (N, L) as ±1 int8{}",
            if channels > 1 {
                ", with a channel axis after N"
            } else {
                ""
            }
        )));
    }
    let dims = match obj.get("model").and_then(Value::as_str) {
        Some(m) => dims_for_model(m).ok_or_else(|| {
            value(format!(
                "meta model '{m}' is not a spin model (ising1d, ising2d or dimer)"
            ))
        })?,
        None => shape.len() - extra_axes,
    };
    if shape.len() != extra_axes + dims {
        return Err(value(format!(
            "spins has shape {shape:?}, which does not fit {dims}D samples"
        )));
    }
    let size = match obj.get("size").and_then(Value::as_u64) {
        Some(s) => s as usize,
        None if !packed => shape[shape.len() - 1],
        None if dims == 2 => shape[shape.len() - 2],
        None => return Err(value("meta must give the size L of packed 1D spins")),
    };
    let n = shape[0];
    obj.entry("model")
        .or_insert_with(|| Value::from(if dims == 2 { "ising2d" } else { "ising1d" }));
    obj.entry("size").or_insert_with(|| Value::from(size));
    let spins = match data {
        Data::Packed(v) => v,
        Data::Signs(v) => {
            if shape[shape.len() - 1] != size {
                return Err(value(format!(
                    "spins has {} columns but meta gives L = {size}",
                    shape[shape.len() - 1]
                )));
            }
            if v.iter().any(|&s| s != 1 && s != -1) {
                return Err(value("int8 spins must all be +1 or -1"));
            }
            let mut out = Vec::with_capacity(v.len().div_ceil(8));
            let mut row = Vec::with_capacity(size);
            for r in v.chunks(size.max(1)) {
                row.clear();
                row.extend(r.iter().map(|&s| s == 1));
                pack_row(&row, &mut out);
            }
            out
        }
    };
    let mut file = SampleFile {
        dims,
        size,
        n,
        spins,
        energy: Vec::new(),
        magnetization: Vec::new(),
        chain: i64_arg("chain", ex.chain.as_ref())?,
        sweep: i64_arg("sweep", ex.sweep.as_ref())?,
        meta,
    };
    let expected: Vec<usize> = file.spins_shape().iter().map(|&d| d as usize).collect();
    if packed && shape != expected {
        return Err(value(format!(
            "packed spins have shape {shape:?} but meta (model, size, channels) needs {expected:?}"
        )));
    }
    let (e, m) = (
        i64_arg("energy", ex.energy.as_ref())?,
        i64_arg("magnetization", ex.magnetization.as_ref())?,
    );
    let (e, m) = match (e, m) {
        (Some(e), Some(m)) => (e, m),
        (e, m) => {
            // Recomputed from the spins (channel 0), as `rsmi coarsen` does.
            let (ce, cm) = recompute(&file);
            (e.unwrap_or(ce), m.unwrap_or(cm))
        }
    };
    file.energy = e;
    file.magnetization = m;
    file.validate().map_err(|e| value(e.to_string()))?;
    Ok(AnyFile::Spins(file))
}

enum Data {
    Packed(Vec<u8>),
    Signs(Vec<i8>),
}

/// Energy and magnetization of every sample (channel 0), from the packed spins.
fn recompute(f: &SampleFile) -> (Vec<i64>, Vec<i64>) {
    let per = SampleFile::bytes_per_sample(f.dims, f.size);
    let sample_bytes = f.sample_bytes();
    let (mut e, mut m) = (Vec::with_capacity(f.n), Vec::with_capacity(f.n));
    if sample_bytes == 0 || f.spins.len() < f.n * sample_bytes {
        return (vec![0; f.n], vec![0; f.n]);
    }
    for i in 0..f.n {
        let bytes = &f.spins[i * sample_bytes..i * sample_bytes + per];
        let up: Vec<bool> = unpack(bytes, f.size).iter().map(|&s| s == 1).collect();
        let (ei, mi) = energy_magnetization(f.dims, f.size, &up);
        e.push(ei);
        m.push(mi);
    }
    (e, m)
}

fn dimer_from_py(links: &Bound<'_, PyAny>, meta: Value, ex: &Extras<'_>) -> PyResult<DimerFile> {
    let a: PyReadonlyArrayDyn<'_, u8> = links
        .extract()
        .map_err(|_| value("dimer links must be a uint8 NumPy array of shape (N, 2, L, L)"))?;
    let shape = a.shape().to_vec();
    if shape.len() != 4 || shape[1] != 2 || shape[2] != shape[3] {
        return Err(value(format!(
            "dimer links have shape {shape:?}; expected (N, 2, L, L)"
        )));
    }
    let winding = i64_arg("winding", ex.winding.as_ref())?
        .ok_or_else(|| value("dimer samples need their winding array (N, 2)"))?;
    let decorated = match ex.decorated.as_ref().filter(|d| !d.is_none()) {
        Some(d) => {
            let d: PyReadonlyArrayDyn<'_, u8> = d
                .extract()
                .map_err(|_| value("decorated must be a uint8 NumPy array (N, 2L, 2L)"))?;
            Some(elements(&d))
        }
        None => None,
    };
    let file = DimerFile {
        size: shape[2],
        n: shape[0],
        links: elements(&a),
        decorated,
        winding,
        chain: i64_arg("chain", ex.chain.as_ref())?,
        sweep: i64_arg("sweep", ex.sweep.as_ref())?,
        meta,
    };
    file.validate().map_err(|e| value(e.to_string()))?;
    Ok(file)
}

/// A scratch directory for in-memory arguments written as files, removed when dropped
/// (moved into the worker, so it outlives an interrupted call's work).
#[derive(Debug, Default)]
pub struct Scratch(Option<tempfile::TempDir>);

impl Scratch {
    /// A path in the scratch directory (created on first use).
    pub fn path(&mut self, name: &str) -> PyResult<PathBuf> {
        if self.0.is_none() {
            let d = tempfile::Builder::new()
                .prefix("rsmi-py-")
                .tempdir()
                .map_err(|e| {
                    error::to_py(
                        anyhow::Error::from(e).context("could not create a temporary directory"),
                    )
                })?;
            self.0 = Some(d);
        }
        Ok(self
            .0
            .as_ref()
            .map(|d| d.path().join(name))
            .unwrap_or_default())
    }
}

/// A data argument: a path (`str` or `os.PathLike`) is used as it is; a `(spins, info)`
/// pair (as `sample_*`, `read_samples` and `coarsen` return) is written to a temporary
/// `.npz` in `scratch` first, exactly as `write_samples` would write it.
pub fn data_path(obj: &Bound<'_, PyAny>, scratch: &mut Scratch, name: &str) -> PyResult<PathBuf> {
    if let Ok(p) = obj.extract::<PathBuf>() {
        return Ok(p);
    }
    let pair = obj
        .cast::<PyTuple>()
        .ok()
        .filter(|t| t.len() == 2)
        .ok_or_else(|| {
            PyTypeError::new_err(
                "data must be a path or a (spins, info) pair as returned by sample_ising2d, \
                 read_samples or coarsen",
            )
        })?;
    let mut ex = Extras::default();
    let info = pair.get_item(1)?;
    let meta = ex.split_info(Some(&info))?;
    let file = file_from_py(&pair.get_item(0)?, meta.as_ref(), &ex)?;
    let path = scratch.path(name)?;
    file.write(&path, true).map_err(error::to_py)?;
    Ok(path)
}

/// A rule argument: a built-in name or a RULE.json path (`str`, as on the command line),
/// an `os.PathLike`, or a [`Rule`] (written to a temporary RULE.json in `scratch`).
pub fn rule_spec(obj: &Bound<'_, PyAny>, scratch: &mut Scratch) -> PyResult<String> {
    if let Ok(r) = obj.extract::<PyRef<'_, Rule>>() {
        let path = scratch.path("rule.json")?;
        write_rule(&path, true, r.file()).map_err(error::to_py)?;
        return Ok(path.to_string_lossy().into_owned());
    }
    if let Ok(s) = obj.extract::<String>() {
        return Ok(s);
    }
    if let Ok(p) = obj.extract::<PathBuf>() {
        return Ok(p.to_string_lossy().into_owned());
    }
    Err(PyTypeError::new_err(
        "rule must be 'majority', 'decimation', a RULE.json path or an rsmi.Rule",
    ))
}
