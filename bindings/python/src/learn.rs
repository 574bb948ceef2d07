//! Learning and applying rules: `rsmi train`, `rsmi mi`, `rsmi coarsen`, and RULE.json
//! as a Python object.

use crate::convert::{
    Scratch, array, cli_defaults, data_path, json_to_py, parse_enum, rule_spec, sample_file_to_py,
};
use crate::error::{self, value};
use crate::work;
use pyo3::prelude::*;
use rsmi_cli::command::coarsen::{self as coarsen_cmd, CoarsenArgs};
use rsmi_cli::command::mi::{self as mi_cmd, MiArgs};
use rsmi_cli::command::train::{self as train_cmd, CriticArgs, DataArgs, TrainArgs};
use rsmi_cli::io::npz::read_npz;
use rsmi_cli::learn::rule_file::{RuleFile, parse_rule, read_rule, write_rule};
use serde_json::Value;
use std::path::PathBuf;

/// A coarse-graining rule P_Λ(H|V): a RULE.json in memory.
///
/// `weights` (hidden, visible) and `bias` (hidden,) are float64 arrays; `mi` the training
/// figures (nats) or None; `to_json()` gives the text `rsmi train` writes, and
/// `Rule.from_json(text)` / `Rule.load(path)` read it with the CLI's strict reader.
#[pyclass(module = "rsmi", frozen)]
#[derive(Debug, Clone)]
pub struct Rule {
    file: RuleFile,
    summary: Option<Value>,
}

impl Rule {
    /// The rule file.
    pub fn file(&self) -> &RuleFile {
        &self.file
    }
}

fn rows(v: &[Vec<f64>]) -> (Vec<f64>, usize, usize) {
    let r = v.len();
    let c = v.first().map_or(0, Vec::len);
    (v.concat(), r, c)
}

#[pymethods]
impl Rule {
    /// Rule.from_json(text): parse RULE.json text (validated as `rsmi` does).
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Rule> {
        let file = parse_rule(text.as_bytes()).map_err(value)?;
        Ok(Rule {
            file,
            summary: None,
        })
    }

    /// Rule.load(path): read a RULE.json file.
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Rule> {
        let file = read_rule(&path).map_err(|e| error::to_py(e.into()))?;
        Ok(Rule {
            file,
            summary: None,
        })
    }

    /// The RULE.json text, as `rsmi train` writes it.
    fn to_json(&self) -> PyResult<String> {
        let mut s = serde_json::to_string_pretty(&self.file).map_err(|e| value(e.to_string()))?;
        s.push('\n');
        Ok(s)
    }

    /// save(path, force=False): write RULE.json atomically.
    #[pyo3(signature = (path, force=false))]
    fn save(&self, path: PathBuf, force: bool) -> PyResult<()> {
        write_rule(&path, force, &self.file).map_err(error::to_py)
    }

    /// Weights λ, float64 (hidden, visible).
    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (v, r, c) = rows(&self.file.weights);
        array(py, v, &[r, c])
    }

    /// Normalised filters λ_j / ‖λ_j‖, float64 (hidden, visible).
    #[getter]
    fn filters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (v, r, c) = rows(&self.file.filters);
        array(py, v, &[r, c])
    }

    /// Biases b, float64 (hidden,).
    #[getter]
    fn bias<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        array(py, self.file.bias.clone(), &[self.file.bias.len()])
    }

    /// The MI figures of training (dict: unit, train, heldout, best_restart, mean, err,
    /// restarts), or None for built-in rules.
    #[getter]
    fn mi<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = serde_json::to_value(&self.file.mi).map_err(|e| value(e.to_string()))?;
        json_to_py(py, &v)
    }

    /// What `rsmi train --json` printed for this rule (timing, pair counts), or None for
    /// a rule that was read rather than trained here.
    #[getter]
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, self.summary.as_ref().unwrap_or(&Value::Null))
    }

    /// Block geometry (dict: kind, block, buffer, env).
    #[getter]
    fn geometry<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = serde_json::to_value(self.file.geometry).map_err(|e| value(e.to_string()))?;
        json_to_py(py, &v)
    }

    /// ising1d, ising2d or dimer.
    #[getter]
    fn model(&self) -> &str {
        &self.file.model
    }

    /// spins, links or decorated.
    #[getter]
    fn input(&self) -> &str {
        &self.file.input
    }

    /// Estimator used for training.
    #[getter]
    fn estimator(&self) -> &str {
        &self.file.estimator
    }

    /// Hidden units N_h.
    #[getter]
    fn hidden(&self) -> usize {
        self.file.hidden
    }

    /// Visible units |V|.
    #[getter]
    fn visible(&self) -> usize {
        self.file.visible
    }

    /// Values per site of the data.
    #[getter]
    fn channels(&self) -> usize {
        self.file.channels
    }

    /// The whole RULE.json as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = serde_json::to_value(&self.file).map_err(|e| value(e.to_string()))?;
        json_to_py(py, &v)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .extract::<PyRef<'_, Rule>>()
            .is_ok_and(|o| o.file == self.file)
    }

    fn __repr__(&self) -> String {
        let g = &self.file.geometry;
        let mi = self.file.mi.as_ref().map_or(String::new(), |m| {
            format!(", I(H:E) = {:.4} nats", m.heldout)
        });
        format!(
            "Rule({}, {}×{} block, buffer {}, env {}, {} hidden, estimator {}{mi})",
            self.file.model,
            g.block,
            g.block,
            g.buffer,
            g.env,
            self.file.hidden,
            self.file.estimator
        )
    }
}

/// Fills the pair-building options shared by train and mi.
#[allow(clippy::too_many_arguments)]
fn data_options(
    d: &mut DataArgs,
    input: Option<&str>,
    stride: Option<usize>,
    heldout: Option<f64>,
    max_pairs: Option<usize>,
    flip: Option<&str>,
    threads: Option<usize>,
) -> PyResult<()> {
    if let Some(i) = input {
        d.input = Some(parse_enum("--input", i)?);
    }
    d.stride = stride.or(d.stride);
    if let Some(h) = heldout {
        d.heldout = h;
    }
    if let Some(m) = max_pairs {
        d.max_pairs = m;
    }
    if let Some(f) = flip {
        d.flip = parse_enum("--flip", f)?;
    }
    d.threads = threads;
    Ok(())
}

macro_rules! set {
    ($target:expr, $($field:ident),+) => {
        $( if let Some(v) = $field { $target.$field = v; } )+
    };
}

/// The `infonce` critic options of `train` and `mi`.
fn critic_options(
    a: &mut CriticArgs,
    critic: Option<&str>,
    critic_width: Option<usize>,
    embed: Option<usize>,
) -> PyResult<()> {
    if let Some(c) = critic {
        a.critic = parse_enum("--critic", c)?;
    }
    set!(a, critic_width, embed);
    Ok(())
}

/// train(data, block=2, buffer=1, env=2, hidden=1, estimator="im", restarts=10, seed=1,
///       epochs=200, batch=1000, lr=0.01, lr_decoder=0.03, patience=10, tolerance=1e-4,
///       cap=10.0, init_std=0.05, free_bias=False, critic="mlp", critic_width=16, embed=8,
///       rbm_hidden=None, rbm_lr=0.02, rbm_epochs=30, rbm_k=1, rbm_cd=False,
///       rbm_pairs=16384, rbm_samples=16,
///       input=None, stride=None, heldout=0.3, max_pairs=262144, flip="auto",
///       threads=None, out=None, force=False, plot=None)
///
/// `rsmi train`: learn the coarse-graining rule that maximises I(H:E) on `data` (a sample
/// file path, or a `(spins, info)` pair). Returns a `Rule`; `out` also writes RULE.json
/// (and `plot` a PNG of the filters), as the command line does. Arguments left at None
/// take the command line's defaults (shown above).
#[pyfunction]
#[pyo3(signature = (data, *, block=None, buffer=None, env=None, hidden=None, estimator=None,
                    restarts=None, seed=None, epochs=None, batch=None, lr=None,
                    lr_decoder=None, patience=None, tolerance=None, cap=None, init_std=None,
                    free_bias=false, critic=None, critic_width=None, embed=None,
                    rbm_hidden=None, rbm_lr=None, rbm_epochs=None,
                    rbm_k=None, rbm_cd=false, rbm_pairs=None, rbm_samples=None, input=None,
                    stride=None, heldout=None, max_pairs=None, flip=None, threads=None,
                    out=None, force=false, plot=None))]
#[allow(clippy::too_many_arguments)]
pub fn train(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    block: Option<usize>,
    buffer: Option<usize>,
    env: Option<usize>,
    hidden: Option<usize>,
    estimator: Option<&str>,
    restarts: Option<usize>,
    seed: Option<u64>,
    epochs: Option<usize>,
    batch: Option<usize>,
    lr: Option<f32>,
    lr_decoder: Option<f32>,
    patience: Option<usize>,
    tolerance: Option<f64>,
    cap: Option<f32>,
    init_std: Option<f32>,
    free_bias: bool,
    critic: Option<&str>,
    critic_width: Option<usize>,
    embed: Option<usize>,
    rbm_hidden: Option<usize>,
    rbm_lr: Option<f32>,
    rbm_epochs: Option<usize>,
    rbm_k: Option<usize>,
    rbm_cd: bool,
    rbm_pairs: Option<usize>,
    rbm_samples: Option<usize>,
    input: Option<&str>,
    stride: Option<usize>,
    heldout: Option<f64>,
    max_pairs: Option<usize>,
    flip: Option<&str>,
    threads: Option<usize>,
    out: Option<PathBuf>,
    force: bool,
    plot: Option<PathBuf>,
) -> PyResult<Rule> {
    let mut scratch = Scratch::default();
    let data = data_path(data, &mut scratch, "data.npz")?;
    let mut a: TrainArgs = cli_defaults(&["--data", "unused.npz", "--out", "unused.json"]);
    a.data.data = data;
    data_options(
        &mut a.data,
        input,
        stride,
        heldout,
        max_pairs,
        flip,
        threads,
    )?;
    set!(
        a,
        block,
        buffer,
        env,
        hidden,
        restarts,
        seed,
        epochs,
        batch,
        lr,
        lr_decoder,
        patience,
        tolerance,
        cap,
        init_std,
        rbm_lr,
        rbm_epochs,
        rbm_k,
        rbm_pairs,
        rbm_samples
    );
    if let Some(e) = estimator {
        a.estimator = parse_enum("--estimator", e)?;
    }
    critic_options(&mut a.critic, critic, critic_width, embed)?;
    a.free_bias = free_bias;
    a.rbm_cd = rbm_cd;
    a.rbm_hidden = rbm_hidden;
    a.plot = plot;
    let keep = out.is_some();
    match out {
        Some(o) => {
            a.out = o;
            a.force = force;
        }
        None => {
            a.out = scratch.path("rule.json")?;
            a.force = true;
            if a.plot.is_some() {
                a.force = force;
            }
        }
    }
    work::run(py, move || {
        let _scratch = scratch;
        let mut summary = train_cmd::run(&a)?;
        if !keep {
            summary["out"] = Value::Null;
        }
        let file = read_rule(&a.out)?;
        Ok(Rule {
            file,
            summary: Some(summary),
        })
    })
}

/// mi(data, rule, block=None, buffer=None, env=None, estimator="im", seed=1, epochs=200,
///    batch=1000, lr_decoder=0.03, patience=10, tolerance=1e-4, groups=20, critic="mlp",
///    critic_width=16, embed=8, input=None, stride=None, heldout=0.3, max_pairs=262144,
///    flip="auto", threads=None)
///
/// `rsmi mi`: the information I(H:E) (nats) kept by `rule` ("majority", "decimation", a
/// RULE.json path or a `Rule`) on `data`. Returns the dict `rsmi mi --json` prints
/// (`mi` = {value, err, unit}).
#[pyfunction]
#[pyo3(signature = (data, rule, *, block=None, buffer=None, env=None, estimator=None,
                    seed=None, epochs=None, batch=None, lr_decoder=None, patience=None,
                    tolerance=None, groups=None, critic=None, critic_width=None, embed=None,
                    input=None, stride=None, heldout=None, max_pairs=None, flip=None,
                    threads=None))]
#[allow(clippy::too_many_arguments)]
pub fn mi<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    rule: &Bound<'py, PyAny>,
    block: Option<usize>,
    buffer: Option<usize>,
    env: Option<usize>,
    estimator: Option<&str>,
    seed: Option<u64>,
    epochs: Option<usize>,
    batch: Option<usize>,
    lr_decoder: Option<f32>,
    patience: Option<usize>,
    tolerance: Option<f64>,
    groups: Option<usize>,
    critic: Option<&str>,
    critic_width: Option<usize>,
    embed: Option<usize>,
    input: Option<&str>,
    stride: Option<usize>,
    heldout: Option<f64>,
    max_pairs: Option<usize>,
    flip: Option<&str>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut scratch = Scratch::default();
    let data = data_path(data, &mut scratch, "data.npz")?;
    let rule = rule_spec(rule, &mut scratch)?;
    let mut a: MiArgs = cli_defaults(&["--data", "unused.npz", "--rule", "majority"]);
    a.data.data = data;
    a.rule = rule;
    a.quiet = true;
    data_options(
        &mut a.data,
        input,
        stride,
        heldout,
        max_pairs,
        flip,
        threads,
    )?;
    a.block = block;
    a.buffer = buffer;
    a.env = env;
    if let Some(e) = estimator {
        a.estimator = parse_enum("--estimator", e)?;
    }
    set!(
        a, seed, epochs, batch, lr_decoder, patience, tolerance, groups
    );
    critic_options(&mut a.critic, critic, critic_width, embed)?;
    let out = work::run(py, move || {
        let _scratch = scratch;
        mi_cmd::run(&a)
    })?;
    json_to_py(py, &out)
}

/// coarsen(data, rule, seed, block=None, mode="sample", threads=None, out=None,
///         force=False, unpack=False)
///
/// `rsmi coarsen`: one RG step of `data` with `rule` ("majority", "decimation", a
/// RULE.json path or a `Rule`). `seed` is required, as on the command line. Returns the
/// coarse samples as `(spins, info)` (see `read_samples`; `info["summary"]` is what
/// `--json` prints); `out` also keeps the file.
#[pyfunction]
#[pyo3(signature = (data, rule, seed, *, block=None, mode=None, threads=None, out=None,
                    force=false, unpack=false))]
#[allow(clippy::too_many_arguments)]
pub fn coarsen<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    rule: &Bound<'py, PyAny>,
    seed: u64,
    block: Option<usize>,
    mode: Option<&str>,
    threads: Option<usize>,
    out: Option<PathBuf>,
    force: bool,
    unpack: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let mut scratch = Scratch::default();
    let data = data_path(data, &mut scratch, "data.npz")?;
    let rule = rule_spec(rule, &mut scratch)?;
    let mut a: CoarsenArgs = cli_defaults(&[
        "--data",
        "unused.npz",
        "--rule",
        "majority",
        "--out",
        "unused.npz",
        "--seed",
        "1",
    ]);
    a.data = data;
    a.rule = rule;
    a.seed = seed;
    a.block = block;
    if let Some(m) = mode {
        a.mode = parse_enum("--mode", m)?;
    }
    a.threads = threads;
    let keep = out.is_some();
    match out {
        Some(o) => {
            a.out = o;
            a.force = force;
        }
        None => {
            a.out = scratch.path("coarse.npz")?;
            a.force = true;
        }
    }
    let (summary, file) = work::run(py, move || {
        let _scratch = scratch;
        let mut summary = coarsen_cmd::run(&a)?;
        if !keep {
            summary["out"] = Value::Null;
        }
        Ok((summary, read_npz(&a.out)?))
    })?;
    Ok(sample_file_to_py(py, file, unpack, Some(&summary))?.into_any())
}
