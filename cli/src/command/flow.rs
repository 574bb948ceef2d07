//! `rsmi flow`: the RG flow of Koch-Janusz & Ringel (Nature Physics 14, 578 (2018), Fig. 5)
//! with learned rules and intrinsic thermometers, T_c and ν with statistical and systematic
//! errors. The numerics are in [`crate::rg::flow`].
//!
//! For every starting temperature T₀: sample the 2D Ising model (or read `--data`), learn the
//! 2×2 rule on the level-n samples (`--retrain per-level`, or once at level 0), symmetrise it
//! (`--symmetry block`), coarse-grain, and repeat `--levels` times. The effective temperature
//! of every coarse level is read by thermometers calibrated on samples of the original model
//! at the coarse size over a temperature grid (sampled here and cached under
//! `DIR/reference/`): the nearest-neighbour and diagonal correlations, ⟨m²⟩, and KJR's MI
//! thermometer: I(H:E) of the rule that produced level n, measured (`im` estimator, at most
//! 2¹⁵ training pairs) on the level-n samples and on the reference samples at the four grid
//! temperatures nearest the correlation thermometers' reading, then a weighted linear fit of
//! I against β there, inverted. The thermometers disagree slightly (a
//! coarse lattice has further couplings, so no single observable matches the original model
//! exactly); their mean is the headline T_eff, and half their spread is reported as a
//! systematic error, also for T_c and ν.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::cluster::{self, Team};
use crate::command::IsingModel;
use crate::command::coarsen::{self, CoarsenArgs};
use crate::command::mi::{self, MiArgs};
use crate::command::sample::{self, SampleArgs};
use crate::command::train::{self, TrainArgs};
use crate::io::atomic::{check_output_path, write_atomic};
use crate::io::npz::read_npz;
use crate::learn::coarsen::Mode;
use crate::learn::rule_file::{normalise, read_rule, write_rule};
use crate::provenance;
use crate::rg::flow::{Curve, bootstrap, fit_flow, polyfit};
use crate::rg::mcrg::{level_observables, measure_data};
use crate::rg::rule::{BlockRule, Symmetry};

/// T_c of the square-lattice Ising model (Onsager).
pub const T_C: f64 = rsmi_core::ising::T_C_2D;
/// Default starting temperatures, as multiples of T_c.
pub const DEFAULT_T0: [f64; 6] = [0.96, 0.98, 0.99, 1.01, 1.02, 1.04];
/// Bootstrap replicas for the errors of T_c and ν.
pub const REPLICAS: usize = 400;

/// When rules are learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Retrain {
    /// A new rule on the samples of every level (KJR).
    PerLevel,
    /// The level-0 rule at every level.
    Once,
}

/// An intrinsic thermometer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Thermometer {
    /// ⟨s s'⟩ over nearest neighbours.
    Nn,
    /// ⟨s s'⟩ over diagonal neighbours.
    Diag,
    /// ⟨m²⟩.
    M2,
    /// The rule's I(H:E) against β (KJR).
    Mi,
}

impl Thermometer {
    /// Name in files.
    pub fn name(self) -> &'static str {
        match self {
            Thermometer::Nn => "nn",
            Thermometer::Diag => "diag",
            Thermometer::M2 => "m2",
            Thermometer::Mi => "mi",
        }
    }
}

/// Arguments of `rsmi flow`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
OUTPUT: DIR/flow.json (T_c, nu, and T_eff of every level of every flow, per thermometer), \
DIR/flow.png (T_eff against the RG step for every T0, the paper's Fig. 5), DIR/collapse.png \
(nu*log2|t_n| against n + nu*log2|t_0|: the flows fall on the diagonal when t_n = 2^(n/nu) t_0), \
DIR/T<T0>/level<n>.npz and rule<n>.json (as learned) / rule<n>_used.json (as applied, \
symmetrised), and DIR/reference/L<size>_T<T>.npz (the thermometers' reference samples, reused \
by later runs with the same settings).

T_c: where T_eff after one step equals T0 (quadratic fit of T_eff(1) - T0 against T0). nu: the \
slope s_n = dT_eff(n)/dT0 at T_c is 2^(n/nu) (quadratic fit of T_eff(n) against T0); the \
headline nu averages 1/nu_n over levels 2..K (level 1 when K = 1). Errors: parametric \
bootstrap over the T_eff errors (stat); half the spread of the thermometers (syst).")]
pub struct FlowArgs {
    /// The model (only ising2d has a finite-temperature critical point).
    #[arg(long, value_enum, default_value = "ising2d")]
    pub model: IsingModel,
    /// Lattice side L.
    #[arg(long, default_value_t = 128)]
    pub size: usize,
    /// Starting temperatures [default: T_c × 0.96, 0.98, 0.99, 1.01, 1.02, 1.04].
    #[arg(long, value_delimiter = ',')]
    pub temperatures: Vec<f64>,
    /// Existing level-0 sample files instead of sampling (temperatures from their meta).
    #[arg(long, value_delimiter = ',', conflicts_with = "temperatures")]
    pub data: Vec<PathBuf>,
    /// Samples per starting temperature.
    #[arg(long, default_value_t = 2000)]
    pub samples: usize,
    /// RG steps.
    #[arg(long, default_value_t = 3)]
    pub levels: usize,
    /// Master seed (sampling, training, coarse-graining).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory.
    #[arg(long, default_value = "rsmi-flow")]
    pub out: PathBuf,
    /// When rules are learned.
    #[arg(long, value_enum, default_value = "per-level")]
    pub retrain: Retrain,
    /// How coarse spins are drawn.
    #[arg(long, value_enum, default_value = "sample")]
    pub mode: Mode,
    /// Symmetrise the learned rules over the block's symmetries (see `rsmi mcrg --help`).
    #[arg(long, value_enum, default_value = "block")]
    pub symmetry: Symmetry,
    /// Thermometers.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "nn,diag,m2,mi"
    )]
    pub thermometers: Vec<Thermometer>,
    /// Samples per reference temperature [default: --samples].
    #[arg(long)]
    pub ref_samples: Option<usize>,
    /// Reference temperatures for every coarse size [default: a grid around T_c per level,
    /// wide enough for t_n = 2^n t_0 with a factor 2.5 to spare].
    #[arg(long, value_delimiter = ',')]
    pub ref_grid: Vec<f64>,
    /// Filter-norm cap of the learned rules (as `rsmi train`; with --symmetry block the
    /// rule's norm only sets how deterministic the step is).
    #[arg(long, default_value_t = 10.0)]
    pub cap: f32,
    /// Training restarts per rule.
    #[arg(long, default_value_t = 4)]
    pub restarts: usize,
    /// Jackknife bins of the thermometer observables.
    #[arg(long, default_value_t = 20)]
    pub bins: usize,
    /// Worker threads [default: all cores]. Does not change the results.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Overwrite an existing flow.json.
    #[arg(long)]
    pub force: bool,
    /// Print flow.json on stdout.
    #[arg(long)]
    pub json: bool,
}

impl FlowArgs {
    /// The command-line defaults, writing into `out`.
    pub fn new(out: PathBuf) -> FlowArgs {
        FlowArgs {
            model: IsingModel::Ising2d,
            size: 128,
            temperatures: Vec::new(),
            data: Vec::new(),
            samples: 2000,
            levels: 3,
            seed: 1,
            out,
            retrain: Retrain::PerLevel,
            mode: Mode::Sample,
            symmetry: Symmetry::Block,
            thermometers: vec![
                Thermometer::Nn,
                Thermometer::Diag,
                Thermometer::M2,
                Thermometer::Mi,
            ],
            ref_samples: None,
            ref_grid: Vec::new(),
            cap: 10.0,
            restarts: 4,
            bins: 20,
            threads: None,
            force: false,
            json: false,
        }
    }
}

/// The default reference grid for level `n`: T_c (1 + r u_k), u_k = sign(k) (|k|/6)^1.5 for
/// k = −6..6, r = 2.5 · 2ⁿ · max|t₀| clipped to [0.05, 0.75] (the thermometers of coarse
/// lattices read further from T_c than 2ⁿ t₀: the nearest-neighbour one reads hot).
pub fn default_grid(n: usize, max_t0: f64) -> Vec<f64> {
    let r = (2.5 * 2f64.powi(n as i32) * max_t0).clamp(0.05, 0.75);
    (-6i32..=6)
        .map(|k| {
            let u = f64::from(k.signum()) * (f64::from(k.abs()) / 6.0).powf(1.5);
            T_C * (1.0 + r * u)
        })
        .collect()
}

/// One flow's files.
struct FlowDir {
    dir: PathBuf,
}

impl FlowDir {
    fn level(&self, n: usize) -> PathBuf {
        self.dir.join(format!("level{n}.npz"))
    }
    fn rule(&self, n: usize) -> PathBuf {
        self.dir.join(format!("rule{n}.json"))
    }
    fn used(&self, n: usize) -> PathBuf {
        self.dir.join(format!("rule{n}_used.json"))
    }
}

/// Observables (value, err) of a sample file: nn, diag, m2 and the anisotropies (x − y,
/// diagonal (1,1) − (1,−1)).
fn observables(path: &Path, bins: usize) -> Result<[(f64, f64); 5]> {
    let m = measure_data(&read_npz(path)?)?;
    let o = level_observables(&m, bins)
        .with_context(|| format!("cannot measure the thermometers on {}", path.display()))?;
    Ok([
        o[0].nn,
        o[0].diag,
        o[0].m2,
        o[0].anisotropy,
        o[0].anisotropy_diag,
    ])
}

/// I(H:E) of `rule` on `data` (value, err), quietly.
fn mi_of(rule: &Path, data: &Path, seed: u64, threads: Option<usize>) -> Result<(f64, f64)> {
    let mut a = MiArgs::new(data.to_path_buf(), &rule.to_string_lossy());
    a.seed = seed;
    a.data.threads = threads;
    a.data.max_pairs = 1 << 15;
    a.quiet = true;
    let v = mi::run(&a)?;
    Ok((
        v["mi"]["value"].as_f64().unwrap_or(f64::NAN),
        v["mi"]["err"].as_f64().unwrap_or(f64::NAN),
    ))
}

/// Whether a cached reference file was made with these settings.
fn reference_ok(path: &Path, size: usize, t: f64, samples: usize, seed: u64) -> bool {
    let Ok(f) = read_npz(path) else {
        return false;
    };
    let c = &f.meta["config"];
    f.meta["model"] == "ising2d"
        && c["size"].as_u64() == Some(size as u64)
        && c["temperature"].as_f64() == Some(t)
        && c["samples"].as_u64() == Some(samples as u64)
        && c["seed"].as_u64() == Some(seed)
        && c["field"].as_f64() == Some(0.0)
}

fn sample_args(
    size: usize,
    temperature: Vec<f64>,
    samples: usize,
    seed: u64,
    out: PathBuf,
    threads: Option<usize>,
) -> SampleArgs {
    let mut a = SampleArgs::new(IsingModel::Ising2d, size, temperature, samples, seed, out);
    a.threads = threads;
    a
}

/// A thermometer reading: (T, err) or the reason it failed.
fn read_thermometer(
    curve: &Curve,
    y: (f64, f64),
    what: &str,
    level: usize,
    t0: f64,
) -> Result<(f64, f64)> {
    curve.invert(y.0, y.1).ok_or_else(|| {
        anyhow::anyhow!(
            "the reference grid T = {:.4}..{:.4} does not bracket the {what} thermometer's \
             value {:.5} at level {level} of the flow from T0 = {t0}; widen it with --ref-grid",
            curve.t.first().copied().unwrap_or(f64::NAN),
            curve.t.last().copied().unwrap_or(f64::NAN),
            y.0
        )
    })
}

/// KJR's MI thermometer: a weighted linear fit of I against β over `points`, inverted.
fn mi_reading(points: &[(f64, f64, f64)], y: (f64, f64)) -> Option<(f64, f64)> {
    let beta: Vec<f64> = points.iter().map(|p| 1.0 / p.0).collect();
    let val: Vec<f64> = points.iter().map(|p| p.1).collect();
    let w: Vec<f64> = points
        .iter()
        .map(|p| 1.0 / (p.2 * p.2).max(1e-12))
        .collect();
    let b0 = beta.iter().sum::<f64>() / beta.len() as f64;
    let c = polyfit(&beta, &val, &w, 1, b0)?;
    if c[1] == 0.0 {
        return None;
    }
    let bstar = b0 + (y.0 - c[0]) / c[1];
    // Errors of the fit parameters (centred: uncorrelated) and of the value.
    let sw: f64 = w.iter().sum();
    let swx2: f64 = w
        .iter()
        .zip(&beta)
        .map(|(wi, b)| wi * (b - b0).powi(2))
        .sum();
    let var = y.1 * y.1 + 1.0 / sw + (bstar - b0).powi(2) / swx2;
    let sb = var.sqrt() / c[1].abs();
    (bstar > 0.0).then(|| (1.0 / bstar, sb / (bstar * bstar)))
}

/// Runs `rsmi flow`; returns flow.json's content.
pub fn run(a: &FlowArgs) -> Result<Value> {
    let out = compute(a)?;
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        print_summary(&out);
    }
    Ok(out)
}

/// `rsmi flow` without printing the summary (library callers); writes the same files and
/// returns flow.json's content.
pub fn compute(a: &FlowArgs) -> Result<Value> {
    let team = Team::world();
    let setup = team.agree(setup(a, &team))?;
    flows(a, &team, setup)
}

/// What the checks of [`setup`] establish.
struct Setup {
    started: Instant,
    starts: Vec<(f64, usize, Option<PathBuf>)>,
    sizes: Vec<usize>,
    /// Reference temperatures of the thermometers, per level.
    grids: Vec<Vec<f64>>,
    ref_samples: usize,
    flow_json: PathBuf,
    flow_png: PathBuf,
    collapse_png: PathBuf,
}

/// Every check before work starts (the root also checks the output files).
fn setup(a: &FlowArgs, team: &Team) -> Result<Setup> {
    let started = Instant::now();
    if a.model != IsingModel::Ising2d {
        bail!(
            "rsmi flow needs a model with a critical point at T > 0: only ising2d (the 1D chain has none)"
        );
    }
    if a.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    if a.levels == 0 {
        bail!("--levels must be at least 1");
    }
    if a.thermometers.is_empty() {
        bail!("--thermometers needs at least one of nn, diag, m2, mi");
    }
    if a.restarts == 0 {
        bail!("--restarts must be at least 1");
    }
    let ref_samples = a.ref_samples.unwrap_or(a.samples);
    crate::rg::mcrg::bins_of(a.samples.min(ref_samples), a.bins)?;
    if a.ref_grid.iter().any(|t| !(t.is_finite() && *t > 0.0)) {
        bail!("--ref-grid temperatures must be finite and positive");
    }
    // Level-0 inputs: (T0, size, path or None to sample).
    let mut starts: Vec<(f64, usize, Option<PathBuf>)> = Vec::new();
    if a.data.is_empty() {
        let t0s: Vec<f64> = if a.temperatures.is_empty() {
            DEFAULT_T0.iter().map(|x| x * T_C).collect()
        } else {
            a.temperatures.clone()
        };
        for &t in &t0s {
            if !(t.is_finite() && t > 0.0) {
                bail!("starting temperatures must be finite and positive (got {t})");
            }
        }
        starts.extend(t0s.into_iter().map(|t| (t, a.size, None)));
    } else {
        for p in &a.data {
            let f = read_npz(p)?;
            if f.meta["model"] != "ising2d" || f.channels() != 1 {
                bail!("{} is not a one-channel ising2d sample file", p.display());
            }
            let t = f.meta["config"]["temperature"].as_f64().ok_or_else(|| {
                anyhow::anyhow!("{} has no temperature in meta.config", p.display())
            })?;
            if f.meta["config"]["field"].as_f64().unwrap_or(0.0) != 0.0 {
                bail!(
                    "{} was sampled in a field; the flow needs h = 0",
                    p.display()
                );
            }
            crate::rg::mcrg::bins_of(f.n, a.bins)?;
            starts.push((t, f.size, Some(p.clone())));
        }
        if starts.iter().any(|s| s.1 != starts[0].1) {
            bail!("the --data files must all have the same lattice size");
        }
    }
    starts.sort_by(|x, y| x.0.total_cmp(&y.0));
    if starts.windows(2).any(|w| w[0].0 == w[1].0) {
        bail!("the starting temperatures must be distinct");
    }
    if starts.len() < 2 {
        bail!("the flow needs at least two starting temperatures (one on each side of T_c)");
    }
    let size = starts[0].1;
    let block = 2;
    let mut sizes = vec![size];
    for n in 0..a.levels {
        let s = sizes[n];
        if s % block != 0 || s / block < 2 {
            bail!(
                "--levels {} is too many for L = {size}: level {} would leave a lattice of side {} \
                 (each step halves the side; at least 2 × 2 sites must remain)",
                a.levels,
                n + 1,
                s as f64 / block as f64
            );
        }
        sizes.push(s / block);
    }
    if sizes[1] < 8 && a.thermometers.contains(&Thermometer::Mi) {
        bail!(
            "the MI thermometer needs coarse lattices of at least 8 × 8 (level 1 has {0} × {0}); drop mi from --thermometers",
            sizes[1]
        );
    }
    let flow_json = a.out.join("flow.json");
    let flow_png = a.out.join("flow.png");
    let collapse_png = a.out.join("collapse.png");
    if team.is_root() {
        std::fs::create_dir_all(&a.out)
            .with_context(|| format!("could not create {}", a.out.display()))?;
        for p in [&flow_json, &flow_png, &collapse_png] {
            check_output_path(p, a.force)?;
        }
    }
    // The thermometers' reference grids, one per level.
    let max_t0 = starts
        .iter()
        .map(|s| ((s.0 - T_C) / T_C).abs())
        .fold(0.0, f64::max);
    let mut grids = Vec::new();
    for n in 1..=a.levels {
        let mut g = if a.ref_grid.is_empty() {
            default_grid(n, max_t0)
        } else {
            a.ref_grid.clone()
        };
        g.sort_by(f64::total_cmp);
        g.dedup();
        if g.len() < 4 {
            bail!("--ref-grid needs at least 4 distinct temperatures");
        }
        grids.push(g);
    }
    Ok(Setup {
        started,
        grids,
        starts,
        sizes,
        ref_samples,
        flow_json,
        flow_png,
        collapse_png,
    })
}

/// The reference samples (sampled by the whole team), the flows (each starting
/// temperature by one rank) and, on the root, the fits and files.
fn flows(a: &FlowArgs, team: &Team, setup: Setup) -> Result<Value> {
    let Setup {
        started,
        grids,
        starts,
        sizes,
        ref_samples,
        flow_json,
        flow_png,
        collapse_png,
    } = setup;
    let size = sizes[0];
    // Seconds per stage, summed over the starting temperatures (which may run side by side).
    let timings = std::sync::Mutex::new(serde_json::Map::new());
    let mut lap = Instant::now();
    let tick = |name: &str, t: &mut Instant| {
        if let Ok(mut m) = timings.lock() {
            let prev = m.get(name).and_then(Value::as_f64).unwrap_or(0.0);
            m.insert(name.into(), json!(prev + t.elapsed().as_secs_f64()));
        }
        *t = Instant::now();
    };

    // 1. Reference samples of the original model at every coarse size.
    let ref_dir = a.out.join("reference");
    let made = if team.is_root() {
        std::fs::create_dir_all(&ref_dir)
            .with_context(|| format!("could not create {}", ref_dir.display()))
    } else {
        Ok(())
    };
    team.agree(made)?;
    let ref_seed = a.seed;
    let ref_path = |s: usize, t: f64| ref_dir.join(format!("L{s}_T{t}.npz"));
    for n in 1..=a.levels {
        let s = sizes[n];
        // The root decides what is missing; the whole team samples it.
        let todo: Vec<f64> = if team.is_root() {
            grids[n - 1]
                .iter()
                .copied()
                .filter(|&t| !reference_ok(&ref_path(s, t), s, t, ref_samples, ref_seed))
                .collect()
        } else {
            Vec::new()
        };
        let todo: Vec<f64> = team
            .broadcast(todo.iter().flat_map(|t| t.to_le_bytes()).collect())
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default()))
            .collect();
        if todo.is_empty() {
            if team.is_root() {
                eprintln!(
                    "rsmi flow: reference samples at L = {s} found in {}",
                    ref_dir.display()
                );
            }
            continue;
        }
        if team.is_root() {
            eprintln!(
                "rsmi flow: sampling the reference at L = {s} ({} temperatures × {ref_samples} samples)",
                todo.len()
            );
        }
        // One command per size; with several temperatures it writes L<s>_T<t>.npz.
        let out = if todo.len() == 1 {
            ref_path(s, todo[0])
        } else {
            ref_dir.join(format!("L{s}.npz"))
        };
        sample::run(&sample_args(s, todo, ref_samples, ref_seed, out, a.threads))?;
    }
    tick("reference_sampling", &mut lap);
    let curves = team.agree(reference_curves(a, &sizes, &grids, &ref_path))?;
    tick("reference_observables", &mut lap);

    // 2. The flows.
    let mi_cache: std::sync::Mutex<MiCache> = Default::default();
    let one = |i: usize,
               t0: &f64,
               given: &Option<PathBuf>,
               threads: Option<usize>|
     -> Result<Value> {
        let mut lap = Instant::now();
        let fd = FlowDir {
            dir: a.out.join(format!("T{t0}")),
        };
        std::fs::create_dir_all(&fd.dir)
            .with_context(|| format!("could not create {}", fd.dir.display()))?;
        let level0 = match given {
            Some(p) => p.clone(),
            None => {
                eprintln!(
                    "rsmi flow: T0 = {t0:.5} ({}/{}): sampling {} × {size}²",
                    i + 1,
                    starts.len(),
                    a.samples
                );
                sample::run(&sample_args(
                    size,
                    vec![*t0],
                    a.samples,
                    a.seed,
                    fd.level(0),
                    threads,
                ))?;
                fd.level(0)
            }
        };
        tick("sampling", &mut lap);
        let mut levels_json = vec![
            json!({"level": 0, "size": size, "path": level0.display().to_string(), "t_eff": {"value": t0, "err": 0.0, "syst": 0.0}}),
        ];
        let mut readings: Vec<Vec<Option<(f64, f64)>>> = Vec::new();
        let mut current = level0.clone();
        for n in 0..a.levels {
            // Learn (or reuse) the rule.
            if n == 0 || a.retrain == Retrain::PerLevel {
                eprintln!(
                    "rsmi flow: T0 = {t0:.5}: learning the rule of level {n} (L = {})",
                    sizes[n]
                );
                let mut ta = TrainArgs::new(current.clone(), fd.rule(n));
                ta.cap = a.cap;
                ta.restarts = a.restarts;
                ta.seed = a.seed.wrapping_add(n as u64);
                ta.force = true;
                ta.data.threads = threads;
                train::run(&ta)?;
                let mut rf = read_rule(&fd.rule(n))?;
                if a.symmetry == Symmetry::Block {
                    let mut br =
                        BlockRule::from_file(&rf, &fd.rule(n).display().to_string(), None)?;
                    br.symmetrize()?;
                    rf.weights = vec![br.weights.clone()];
                    rf.bias = vec![br.bias];
                    rf.filters = normalise(&rf.weights);
                    if let Some(o) = rf.config.as_object_mut() {
                        o.insert("symmetrized".into(), json!("weights averaged over the block's 8 rotations and reflections, bias set to 0 (rsmi flow --symmetry block)"));
                    }
                }
                write_rule(&fd.used(n), true, &rf)?;
            } else {
                std::fs::copy(fd.used(0), fd.used(n))
                    .with_context(|| format!("could not write {}", fd.used(n).display()))?;
            }
            tick("training", &mut lap);
            let next = fd.level(n + 1);
            coarsen::run(&CoarsenArgs {
                rule: fd.used(n).display().to_string(),
                block: None,
                data: current.clone(),
                out: next.clone(),
                mode: a.mode,
                seed: a.seed.wrapping_add(1000 + n as u64),
                threads,
                force: true,
                json: false,
            })?;
            tick("coarsening", &mut lap);
            // Thermometers of level n+1.
            let lv = n + 1;
            let obs = observables(&next, a.bins)?;
            let mut r: Vec<Option<(f64, f64)>> = Vec::new();
            let mut by = serde_json::Map::new();
            let mut corr = Vec::new();
            for th in &a.thermometers {
                let k = match th {
                    Thermometer::Nn => 0,
                    Thermometer::Diag => 1,
                    Thermometer::M2 => 2,
                    Thermometer::Mi => continue,
                };
                let v = read_thermometer(&curves[lv - 1][k], obs[k], th.name(), lv, *t0)?;
                corr.push(v.0);
                by.insert(th.name().into(), json!({"value": v.0, "err": v.1, "observable": {"value": obs[k].0, "err": obs[k].1}}));
                r.push(Some(v));
            }
            tick("thermometers", &mut lap);
            if a.thermometers.contains(&Thermometer::Mi) {
                let rule = fd.used(n);
                let y = mi_of(&rule, &next, a.seed, threads)?;
                // The four grid points nearest the correlation thermometers' reading.
                let guess = if corr.is_empty() {
                    *t0
                } else {
                    corr.iter().sum::<f64>() / corr.len() as f64
                };
                let mut g = grids[lv - 1].clone();
                g.sort_by(|x, z| (x - guess).abs().total_cmp(&(z - guess).abs()));
                g.truncate(4);
                g.sort_by(f64::total_cmp);
                let rule_text = std::fs::read_to_string(&rule).unwrap_or_default();
                let mut pts = Vec::new();
                for &t in &g {
                    let key = (rule_text.clone(), sizes[lv], t.to_bits());
                    let cached = mi_cache.lock().ok().and_then(|c| c.get(&key).copied());
                    let v = match cached {
                        Some(v) => v,
                        None => {
                            let v = mi_of(&rule, &ref_path(sizes[lv], t), a.seed, threads)?;
                            if let Ok(mut c) = mi_cache.lock() {
                                c.insert(key, v);
                            }
                            v
                        }
                    };
                    pts.push((t, v.0, v.1));
                }
                let v = mi_reading(&pts, y).ok_or_else(|| {
                    anyhow::anyhow!("the MI thermometer has no slope at level {lv} of the flow from T0 = {t0} (I(H:E) does not change with T on the reference grid)")
                })?;
                by.insert("mi".into(), json!({"value": v.0, "err": v.1, "observable": {"value": y.0, "err": y.1}, "calibration": pts.iter().map(|p| json!({"t": p.0, "mi": p.1, "err": p.2})).collect::<Vec<_>>()}));
                r.push(Some(v));
                tick("mi_thermometer", &mut lap);
            }
            let vals: Vec<(f64, f64)> = r.iter().flatten().copied().collect();
            let mean = vals.iter().map(|v| v.0).sum::<f64>() / vals.len() as f64;
            let stat = vals.iter().map(|v| v.1).sum::<f64>() / vals.len() as f64;
            let spread = vals.iter().map(|v| v.0).fold(f64::NEG_INFINITY, f64::max)
                - vals.iter().map(|v| v.0).fold(f64::INFINITY, f64::min);
            let used = read_rule(&fd.used(n))?;
            let learned = read_rule(&fd.rule(if a.retrain == Retrain::Once { 0 } else { n }))?;
            levels_json.push(json!({
                "level": lv,
                "size": sizes[lv],
                "path": next.display().to_string(),
                "t_eff": {"value": mean, "err": stat, "syst": 0.5 * spread},
                "thermometers": by,
                "observables": {
                    "nn": {"value": obs[0].0, "err": obs[0].1},
                    "diag": {"value": obs[1].0, "err": obs[1].1},
                    "m2": {"value": obs[2].0, "err": obs[2].1},
                    "anisotropy": {"value": obs[3].0, "err": obs[3].1},
                    "anisotropy_diag": {"value": obs[4].0, "err": obs[4].1},
                },
                "rule": {
                    "learned_weights": learned.weights.first(),
                    "used_weights": used.weights.first(),
                    "used_bias": used.bias.first(),
                    "path": fd.used(n).display().to_string(),
                    "mi_train": learned.mi.as_ref().map(|m| json!({"unit": m.unit, "heldout": m.heldout})),
                },
            }));
            readings.push(r);
            current = next;
        }
        Ok(json!({"i": i, "levels": levels_json, "readings": readings}))
    };
    // Each starting temperature is one rank's, computed there as a process of its own
    // (its sampling and training do not involve the other ranks); the root collects
    // them in temperature order. Readings go through JSON, which round-trips floats.
    // A rank's temperatures run side by side, the threads shared out among them.
    let owned: Vec<usize> = (0..starts.len()).filter(|i| team.owns(*i)).collect();
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let side = owned.len().clamp(1, threads);
    let per = (threads / side).max(1);
    let mine: Result<Vec<Value>> = rayon::ThreadPoolBuilder::new()
        .num_threads(side)
        .build()
        .context("could not start the worker threads")
        .and_then(|pool| {
            pool.install(|| {
                use rayon::prelude::*;
                owned
                    .par_iter()
                    .map(|&i| {
                        let (t0, _, given) = &starts[i];
                        cluster::solo(|| one(i, t0, given, Some(per)))
                    })
                    .collect()
            })
        });
    let mine = team.agree(mine)?;
    let timings = timings.into_inner().unwrap_or_default();
    let Some(parts) = team.gather(serde_json::to_vec(&mine)?) else {
        // Not the root: wait for the root's verdict on the fits and files.
        team.agree(Ok(()))?;
        return Ok(Value::Null);
    };
    let result = (|| -> Result<Value> {
        let mut all: Vec<Value> = Vec::new();
        for p in &parts {
            all.extend(serde_json::from_slice::<Vec<Value>>(p)?);
        }
        all.sort_by_key(|v| v["i"].as_u64().unwrap_or(u64::MAX));
        if all.len() != starts.len() {
            bail!("internal: {} of {} flows arrived", all.len(), starts.len());
        }
        let mut flows = Vec::new();
        for (v, s) in all.into_iter().zip(&starts) {
            let levels: Vec<Value> = serde_json::from_value(v["levels"].clone())?;
            let readings: Vec<Vec<Option<(f64, f64)>>> =
                serde_json::from_value(v["readings"].clone())?;
            flows.push((&s.0, levels, readings));
        }
        fit_and_write(
            a,
            &flows,
            &sizes,
            &grids,
            ref_samples,
            started,
            timings,
            [&flow_json, &flow_png, &collapse_png],
        )
    })();
    let out = team.agree(result)?;
    Ok(out)
}

/// T_c and ν from the flows, flow.json and the figures (the root's part).
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn fit_and_write(
    a: &FlowArgs,
    flows: &[(&f64, Vec<Value>, Vec<Vec<Option<(f64, f64)>>>)],
    sizes: &[usize],
    grids: &[Vec<f64>],
    ref_samples: usize,
    started: Instant,
    timings: serde_json::Map<String, Value>,
    [flow_json, flow_png, collapse_png]: [&PathBuf; 3],
) -> Result<Value> {
    let size = sizes[0];
    let ref_seed = a.seed;

    // 3. T_c and ν per thermometer and from the mean T_eff.
    let t0s: Vec<f64> = flows.iter().map(|f| *f.0).collect();
    let combine: Vec<usize> = if a.levels >= 2 {
        (2..=a.levels).collect()
    } else {
        vec![1]
    };
    let table = |k: Option<usize>| -> Vec<Vec<(f64, f64)>> {
        (0..a.levels)
            .map(|n| {
                flows
                    .iter()
                    .map(|f| match k {
                        Some(k) => f.2[n][k].unwrap_or((f64::NAN, f64::NAN)),
                        None => {
                            let v = &f.1[n + 1]["t_eff"];
                            (
                                v["value"].as_f64().unwrap_or(f64::NAN),
                                v["err"].as_f64().unwrap_or(f64::NAN),
                            )
                        }
                    })
                    .collect()
            })
            .collect()
    };
    let mut names: Vec<&str> = a
        .thermometers
        .iter()
        .filter(|t| **t != Thermometer::Mi)
        .map(|t| t.name())
        .collect();
    if a.thermometers.contains(&Thermometer::Mi) {
        names.push("mi");
    }
    let mut by_tc = serde_json::Map::new();
    let mut by_nu = serde_json::Map::new();
    let (mut tcs, mut nus) = (Vec::new(), Vec::new());
    for (k, name) in names.iter().enumerate() {
        let t = table(Some(k));
        match fit_flow(&t0s, &t, &combine) {
            Ok(f) => {
                let (etc, enu_l, enu, _) = bootstrap(&t0s, &t, &combine, REPLICAS, a.seed);
                tcs.push(f.t_c);
                by_tc.insert((*name).into(), json!({"value": f.t_c, "err": etc}));
                if let Some(nu) = f.nu {
                    nus.push(nu);
                }
                by_nu.insert((*name).into(), json!({"value": f.nu, "err": enu, "by_level": f.nu_levels.iter().zip(&enu_l).map(|(v, e)| json!({"value": v, "err": e})).collect::<Vec<_>>()}));
            }
            Err(e) => {
                by_tc.insert((*name).into(), json!({"error": e.to_string()}));
            }
        }
    }
    let mean_t = table(None);
    let fit = fit_flow(&t0s, &mean_t, &combine)?;
    let (etc, enu_l, enu, failed) = bootstrap(&t0s, &mean_t, &combine, REPLICAS, a.seed);
    let half_spread = |v: &[f64]| {
        if v.len() < 2 {
            0.0
        } else {
            0.5 * (v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                - v.iter().copied().fold(f64::INFINITY, f64::min))
        }
    };
    // Flow direction: away from T_c at every level.
    let mut violations = Vec::new();
    for f in flows {
        let mut prev = *f.0;
        for l in f.1.iter().skip(1) {
            let t = l["t_eff"]["value"].as_f64().unwrap_or(f64::NAN);
            let away = if *f.0 > fit.t_c { t > prev } else { t < prev };
            if !away {
                violations
                    .push(json!({"t0": f.0, "level": l["level"], "t_eff": t, "previous": prev}));
            }
            prev = t;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let out = json!({
        "format": "rsmi-flow-1",
        "model": "ising2d",
        "size": size,
        "levels": a.levels,
        "samples": a.samples,
        "seed": a.seed,
        "retrain": match a.retrain { Retrain::PerLevel => "per-level", Retrain::Once => "once" },
        "mode": a.mode.name(),
        "symmetry": match a.symmetry { Symmetry::Block => "block", Symmetry::None => "none" },
        "cap": a.cap,
        "restarts": a.restarts,
        "thermometers": names,
        "t_c": {"value": fit.t_c, "err": etc, "syst": half_spread(&tcs), "exact": T_C, "by_thermometer": by_tc,
                "method": "zero of a weighted quadratic fit of T_eff(1) - T0 against T0"},
        "nu": {"value": fit.nu, "err": enu, "syst": half_spread(&nus), "levels_combined": combine,
               "by_level": fit.nu_levels.iter().zip(&enu_l).map(|(v, e)| json!({"value": v, "err": e})).collect::<Vec<_>>(),
               "by_thermometer": by_nu,
               "method": "slope of a weighted quadratic fit of T_eff(n) against T0 at T_c = 2^(n/nu); 1/nu averaged over the combined levels"},
        "bootstrap": {"replicas": REPLICAS, "failed": failed},
        "flow_direction": {"away_from_t_c_at_every_level": violations.is_empty(), "violations": violations},
        "flows": flows.iter().map(|f| json!({"t0": f.0, "levels": f.1})).collect::<Vec<_>>(),
        "reference": {
            "samples": ref_samples,
            "seed": ref_seed,
            "grids": (1..=a.levels).map(|n| json!({"level": n, "size": sizes[n], "temperatures": grids[n - 1]})).collect::<Vec<_>>(),
        },
        "files": {"flow_json": flow_json.display().to_string(), "flow_png": flow_png.display().to_string(), "collapse_png": collapse_png.display().to_string()},
        "build": provenance::build_info(),
        "run": {"threads": a.threads, "wall_seconds": wall, "seconds": timings},
    });
    crate::plot::flow::plot_flow(&out, flow_png, true)?;
    crate::plot::flow::plot_collapse(&out, collapse_png, true)?;
    write_atomic(flow_json, true, |f| {
        use std::io::Write;
        f.write_all(serde_json::to_string_pretty(&out)?.as_bytes())?;
        f.write_all(b"\n")?;
        Ok(())
    })?;
    Ok(out)
}

/// I(H:E) (value, error) of a rule (its text) on the reference sample of (size, T bits).
type MiCache = std::collections::HashMap<(String, usize, u64), (f64, f64)>;

/// The nn, diagonal and ⟨m²⟩ curves of the reference samples, per level.
fn reference_curves(
    a: &FlowArgs,
    sizes: &[usize],
    grids: &[Vec<f64>],
    ref_path: &dyn Fn(usize, f64) -> PathBuf,
) -> Result<Vec<Vec<Curve>>> {
    let mut curves: Vec<Vec<Curve>> = Vec::new(); // [level-1][nn, diag, m2]
    for n in 1..=a.levels {
        let s = sizes[n];
        let mut c: Vec<Curve> = (0..3)
            .map(|_| Curve {
                t: Vec::new(),
                y: Vec::new(),
                err: Vec::new(),
            })
            .collect();
        for &t in &grids[n - 1] {
            let o = observables(&ref_path(s, t), a.bins)?;
            for (k, curve) in c.iter_mut().enumerate() {
                curve.t.push(t);
                curve.y.push(o[k].0);
                curve.err.push(o[k].1);
            }
        }
        curves.push(c);
    }
    Ok(curves)
}

fn print_summary(out: &Value) {
    let v = |x: &Value| x.as_f64().unwrap_or(f64::NAN);
    println!(
        "rsmi flow: {} starting temperatures, L = {}, {} levels",
        out["flows"].as_array().map_or(0, Vec::len),
        out["size"],
        out["levels"]
    );
    println!("T0        T_eff per level (mean of the thermometers)");
    if let Some(fl) = out["flows"].as_array() {
        for f in fl {
            let line: Vec<String> = f["levels"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| {
                    format!(
                        "{:.4}±{:.4}",
                        v(&l["t_eff"]["value"]),
                        v(&l["t_eff"]["err"])
                    )
                })
                .collect();
            println!("{:.5}  {}", v(&f["t0"]), line.join("  "));
        }
    }
    let t = &out["t_c"];
    println!(
        "T_c = {:.5} ± {:.5} (stat) ± {:.5} (syst)  [exact {:.5}, {:+.2} %]",
        v(&t["value"]),
        v(&t["err"]),
        v(&t["syst"]),
        T_C,
        100.0 * (v(&t["value"]) / T_C - 1.0)
    );
    let n = &out["nu"];
    println!(
        "nu  = {:.3} ± {:.3} (stat) ± {:.3} (syst)  [exact 1]",
        v(&n["value"]),
        v(&n["err"]),
        v(&n["syst"])
    );
    println!(
        "flow away from T_c at every level: {}",
        out["flow_direction"]["away_from_t_c_at_every_level"]
    );
    println!(
        "files: {}",
        out["files"]["flow_json"].as_str().unwrap_or("")
    );
}
