//! The RG stage: `rsmi couplings`, `rsmi mcrg`, `rsmi flow`.

use crate::convert::{Scratch, cli_defaults, data_path, json_to_py, parse_enum, rule_spec};
use crate::error::value;
use crate::work;
use pyo3::prelude::*;
use rsmi_cli::command::couplings::{self as couplings_cmd, CouplingsArgs};
use rsmi_cli::command::flow::{self as flow_cmd, FlowArgs};
use rsmi_cli::command::mcrg::{self as mcrg_cmd, McrgArgs};
use std::path::PathBuf;

/// couplings(data, operators=None, bins=20, channel=None, threads=None)
///
/// `rsmi couplings`: the couplings K_a of `data` (a path or a `(spins, info)` pair) by
/// maximum pseudo-likelihood with jackknife errors. `operators` is a comma-separated
/// string or a list of names (default nn,nnn,nn3,plaq in 2D; nn,nnn in 1D). Returns the
/// dict `rsmi couplings --json` prints (`couplings` = {name: {value, err}}).
#[pyfunction]
#[pyo3(signature = (data, *, operators=None, bins=None, channel=None, threads=None))]
pub fn couplings<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    operators: Option<&Bound<'py, PyAny>>,
    bins: Option<usize>,
    channel: Option<usize>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut scratch = Scratch::default();
    let data = data_path(data, &mut scratch, "data.npz")?;
    let mut a: CouplingsArgs = cli_defaults(&["--data", "unused.npz"]);
    a.data = data;
    a.operators = match operators {
        None => None,
        Some(o) => Some(match o.extract::<String>() {
            Ok(s) => s,
            Err(_) => o
                .extract::<Vec<String>>()
                .map_err(|_| value("operators must be a string or a list of names"))?
                .join(","),
        }),
    };
    if let Some(b) = bins {
        a.bins = b;
    }
    a.channel = channel;
    a.threads = threads;
    let out = work::run(py, move || {
        let _scratch = scratch;
        couplings_cmd::compute(&a)
    })?;
    json_to_py(py, &out)
}

/// mcrg(data, rule, block=None, unit=None, levels=3, operators=4, mode="sample",
///      symmetry="block", bins=20, seed=1, threads=None)
///
/// `rsmi mcrg`: Swendsen's linearised MCRG of `rule` ("majority", "decimation", a
/// RULE.json path or a `Rule`) applied repeatedly to `data` (a path or a `(spins, info)`
/// pair); y_t and y_h per level with jackknife errors. Returns the dict
/// `rsmi mcrg --json` prints.
#[pyfunction]
#[pyo3(signature = (data, rule, *, block=None, unit=None, levels=None, operators=None,
                    mode=None, symmetry=None, bins=None, seed=None, threads=None))]
#[allow(clippy::too_many_arguments)]
pub fn mcrg<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    rule: &Bound<'py, PyAny>,
    block: Option<usize>,
    unit: Option<usize>,
    levels: Option<usize>,
    operators: Option<usize>,
    mode: Option<&str>,
    symmetry: Option<&str>,
    bins: Option<usize>,
    seed: Option<u64>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut scratch = Scratch::default();
    let data = data_path(data, &mut scratch, "data.npz")?;
    let rule = rule_spec(rule, &mut scratch)?;
    let mut a: McrgArgs = cli_defaults(&["--data", "unused.npz", "--rule", "majority"]);
    a.data = data;
    a.rule = rule;
    a.block = block;
    a.unit = unit;
    if let Some(v) = levels {
        a.levels = v;
    }
    if let Some(v) = operators {
        a.operators = v;
    }
    if let Some(m) = mode {
        a.mode = parse_enum("--mode", m)?;
    }
    if let Some(s) = symmetry {
        a.symmetry = parse_enum("--symmetry", s)?;
    }
    if let Some(v) = bins {
        a.bins = v;
    }
    if let Some(v) = seed {
        a.seed = v;
    }
    a.threads = threads;
    let out = work::run(py, move || {
        let _scratch = scratch;
        mcrg_cmd::compute(&a)
    })?;
    json_to_py(py, &out)
}

/// flow(out="rsmi-flow", size=128, temperatures=None, data=None, samples=2000, levels=3,
///      seed=1, retrain="per-level", mode="sample", symmetry="block",
///      thermometers="nn,diag,m2,mi", ref_samples=None, ref_grid=None, cap=10.0,
///      restarts=4, bins=20, threads=None, force=False, model="ising2d")
///
/// `rsmi flow`: the RG flow of learned rules with intrinsic thermometers, T_c and ν (KJR
/// Fig. 5). Writes the same files into the directory `out` as the command line
/// (flow.json, the figures, per-level samples and rules, cached reference samples) and
/// returns flow.json's content as a dict. `temperatures` (starting T0s) and `data`
/// (level-0 sample file paths) are sequences; `thermometers` a comma-separated string
/// or a list.
#[pyfunction]
#[pyo3(signature = (out=None, *, size=None, temperatures=None, data=None, samples=None,
                    levels=None, seed=None, retrain=None, mode=None, symmetry=None,
                    thermometers=None, ref_samples=None, ref_grid=None, cap=None,
                    restarts=None, bins=None, threads=None, force=false, model=None))]
#[allow(clippy::too_many_arguments)]
pub fn flow<'py>(
    py: Python<'py>,
    out: Option<PathBuf>,
    size: Option<usize>,
    temperatures: Option<Vec<f64>>,
    data: Option<Vec<PathBuf>>,
    samples: Option<usize>,
    levels: Option<usize>,
    seed: Option<u64>,
    retrain: Option<&str>,
    mode: Option<&str>,
    symmetry: Option<&str>,
    thermometers: Option<&Bound<'py, PyAny>>,
    ref_samples: Option<usize>,
    ref_grid: Option<Vec<f64>>,
    cap: Option<f32>,
    restarts: Option<usize>,
    bins: Option<usize>,
    threads: Option<usize>,
    force: bool,
    model: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut a: FlowArgs = cli_defaults(&[]);
    if let Some(o) = out {
        a.out = o;
    }
    if let Some(m) = model {
        a.model = parse_enum("--model", m)?;
    }
    if let (Some(_), Some(_)) = (&temperatures, &data) {
        return Err(value(
            "temperatures and data cannot be given together (data files carry their temperatures)",
        ));
    }
    if let Some(t) = temperatures {
        a.temperatures = t;
    }
    if let Some(d) = data {
        a.data = d;
    }
    if let Some(th) = thermometers {
        let names: Vec<String> = match th.extract::<String>() {
            Ok(s) => s.split(',').map(str::to_string).collect(),
            Err(_) => th
                .extract()
                .map_err(|_| value("thermometers must be a string or a list of names"))?,
        };
        a.thermometers = names
            .iter()
            .map(|n| parse_enum("--thermometers", n.trim()))
            .collect::<PyResult<_>>()?;
    }
    if let Some(g) = ref_grid {
        a.ref_grid = g;
    }
    if let Some(r) = retrain {
        a.retrain = parse_enum("--retrain", r)?;
    }
    if let Some(m) = mode {
        a.mode = parse_enum("--mode", m)?;
    }
    if let Some(s) = symmetry {
        a.symmetry = parse_enum("--symmetry", s)?;
    }
    macro_rules! set {
        ($($f:ident),+) => { $( if let Some(v) = $f { a.$f = v; } )+ };
    }
    set!(size, samples, levels, seed, cap, restarts, bins);
    a.ref_samples = ref_samples;
    a.threads = threads;
    a.force = force;
    let out = work::run(py, move || flow_cmd::compute(&a))?;
    json_to_py(py, &out)
}
