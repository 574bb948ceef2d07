//! `rsmi sample`: Monte Carlo samples of the Ising models, written as `.npz`.

use super::IsingModel;
use crate::checkpoint;
use crate::io::atomic::check_output_path;
use crate::io::npz::{SampleFile, write_npz};
use crate::progress::Progress;
use crate::provenance;
use crate::sampler::{Job, Method, Plan, RunSpec, Samples, sample_bytes};
use crate::stats::{self, Estimate};
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use rsmi_core::ising::{self, Algorithm, Choice, Strip};
use rsmi_core::rng::STREAM_SCHEME;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Update algorithm requested on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AlgorithmArg {
    /// Multi-spin Metropolis (its trap-free ½ variant for rings and L < 16), Wolff near
    /// T_c for L ≥ 128 (2D, h = 0).
    Auto,
    /// Multi-spin-coded Metropolis.
    Metropolis,
    /// Metropolis with ΔE = 0 moves accepted with probability ½: no deterministic cycles
    /// (auto uses it for rings and for L < 16), slower dynamics.
    MetropolisHalf,
    /// Multi-spin-coded heat bath (Glauber).
    HeatBath,
    /// Wolff single-cluster updates.
    Wolff,
}

/// Spin layout requested on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LayoutArg {
    /// Strip where valid (L multiple of 64, ≥ 128), replica otherwise.
    Auto,
    /// Bit b of a word = replica b; 256 independent replicas per job; any L ≥ 2.
    Replica,
    /// One lattice per 64-bit lane, 64 sites per word; L multiple of 64 and ≥ 128.
    Strip,
}

/// Arguments of `rsmi sample`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
OUTPUT FILES: with one temperature the samples go to --out as given. With several \
temperatures, one file per temperature is written, named by inserting _T<temperature> \
before the extension, with the temperature printed in Rust's shortest round-trip form: \
--out run.npz --temperature 2,2.5 writes run_T2.npz and run_T2.5.npz.

The .npz holds spins (uint8, (N, L, ceil(L/8)) packed bits, 1D: (N, ceil(L/8))), energy \
and magnetization (int64 totals per sample; energy is the bond part -sum s_i s_j), chain \
and sweep (int64, where each sample came from) and meta (UTF-8 JSON bytes).

REPRODUCIBILITY: the samples depend only on the model, size, temperature, field, samples, \
burn-in, thin, algorithm, layout and seed; never on --threads or on checkpoint/resume.")]
pub struct SampleArgs {
    /// Model: ising2d (L×L torus) or ising1d (ring of L sites); set from the subcommand
    /// (`rsmi sample ising2d …`).
    #[arg(skip = IsingModel::Ising2d)]
    pub model: IsingModel,
    /// Linear size L.
    #[arg(long)]
    pub size: usize,
    /// Temperature(s), comma separated (J = k_B = 1; T_c of 2D is 2.269185314213022).
    #[arg(
        long,
        value_delimiter = ',',
        required = true,
        allow_hyphen_values = true
    )]
    pub temperature: Vec<f64>,
    /// Number of samples per temperature.
    #[arg(long)]
    pub samples: usize,
    /// Master seed of the random streams.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output file (.npz).
    #[arg(long)]
    pub out: PathBuf,
    /// Sweeps before the first sample [default: 1000 for local updates, 100 for Wolff].
    #[arg(long)]
    pub burn_in: Option<u64>,
    /// Sweeps between samples of one chain (a Wolff sweep = a fixed number of cluster
    /// updates, the mean number that covers N sites, calibrated when the chain starts)
    /// [default: 10 for local updates, 2 for Wolff].
    #[arg(long)]
    pub thin: Option<u64>,
    /// Update algorithm.
    #[arg(long, value_enum, default_value = "auto")]
    pub algorithm: AlgorithmArg,
    /// Spin layout for local updates.
    #[arg(long, value_enum, default_value = "auto")]
    pub layout: LayoutArg,
    /// Magnetic field h (H = -sum s_i s_j - h sum s_i).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub field: f64,
    /// Worker threads [default: all cores]. Does not change the results.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Overwrite existing output files.
    #[arg(long)]
    pub force: bool,
    /// Print one JSON summary object per temperature on stdout.
    #[arg(long)]
    pub json: bool,
    /// Save the run's state to this file at intervals (one file per temperature, named
    /// like the outputs); removed when the temperature completes.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Seconds between checkpoints.
    #[arg(long, default_value_t = 60.0)]
    pub checkpoint_interval: f64,
    /// Continue from the checkpoint (same command otherwise); temperatures whose output
    /// exists and whose checkpoint is gone are skipped as done.
    #[arg(long, requires = "checkpoint")]
    pub resume: bool,
    /// Testing aid: stop with exit status 3 right after writing this many checkpoints.
    #[arg(long, hide = true)]
    pub exit_after_checkpoints: Option<u32>,
}

impl SampleArgs {
    /// The command-line defaults for `model` at `size` and `temperature`(s), writing
    /// `samples` samples per temperature to `out` (overwriting it), quietly.
    pub fn new(
        model: IsingModel,
        size: usize,
        temperature: Vec<f64>,
        samples: usize,
        seed: u64,
        out: PathBuf,
    ) -> SampleArgs {
        SampleArgs {
            model,
            size,
            temperature,
            samples,
            seed,
            out,
            burn_in: None,
            thin: None,
            algorithm: AlgorithmArg::Auto,
            layout: LayoutArg::Auto,
            field: 0.0,
            threads: None,
            force: true,
            json: false,
            checkpoint: None,
            checkpoint_interval: 60.0,
            resume: false,
            exit_after_checkpoints: None,
        }
    }
}

/// Error carrying the "stopped after checkpoint" request (exit status 3).
#[derive(Debug, thiserror::Error)]
#[error("stopped after writing checkpoint {0} as requested")]
pub struct StoppedAfterCheckpoint(pub String);

/// The output file for temperature `t` (see the command's help).
pub fn output_path(out: &Path, temperatures: &[f64], t: f64) -> PathBuf {
    if temperatures.len() == 1 {
        return out.to_path_buf();
    }
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match out.extension() {
        Some(ext) => format!("{stem}_T{t}.{}", ext.to_string_lossy()),
        None => format!("{stem}_T{t}"),
    };
    out.with_file_name(name)
}

/// Resolve `auto` and check every combination; one clear sentence per mistake.
pub fn resolve_method(args: &SampleArgs, temperature: f64) -> Result<Method> {
    let dim = args.model.dim();
    let local = |a: Algorithm| -> Result<Method> {
        match args.layout {
            LayoutArg::Replica => Ok(Method::Replica(a)),
            LayoutArg::Strip => {
                if !Strip::supports(args.size) {
                    bail!(
                        "--layout strip needs the size to be a multiple of 64 and at least 128 \
                         (got {}); use --layout replica or auto",
                        args.size
                    );
                }
                Ok(Method::Strip(a))
            }
            LayoutArg::Auto => Ok(if Strip::supports(args.size) {
                Method::Strip(a)
            } else {
                Method::Replica(a)
            }),
        }
    };
    match args.algorithm {
        AlgorithmArg::Metropolis => {
            if ising::local_rule(dim, args.size) != Algorithm::Metropolis {
                eprintln!(
                    "warning: sequential Metropolis with certain ΔE = 0 moves has deterministic \
                     cycles on rings and on lattices smaller than {}, which bias the samples; \
                     use metropolis-half or heat-bath (auto does)",
                    ising::TRAP_FREE_BELOW
                );
            }
            local(Algorithm::Metropolis)
        }
        AlgorithmArg::MetropolisHalf => local(Algorithm::MetropolisHalf),
        AlgorithmArg::HeatBath => local(Algorithm::HeatBath),
        AlgorithmArg::Wolff => {
            if args.layout != LayoutArg::Auto {
                bail!("--layout applies to local updates only; Wolff uses its own bit array");
            }
            Ok(Method::Wolff)
        }
        AlgorithmArg::Auto => match args.layout {
            LayoutArg::Auto => Ok(
                match ising::choose(dim, args.size, temperature, args.field) {
                    Choice::Wolff => Method::Wolff,
                    Choice::StripMetropolis => Method::Strip(ising::local_rule(dim, args.size)),
                    Choice::ReplicaMetropolis => Method::Replica(ising::local_rule(dim, args.size)),
                },
            ),
            _ => local(ising::local_rule(dim, args.size)),
        },
    }
}

fn validate(args: &SampleArgs) -> Result<()> {
    let max = match args.model {
        IsingModel::Ising2d => ising::Geometry::MAX_L_2D,
        IsingModel::Ising1d => ising::Geometry::MAX_L_1D,
    };
    if args.size < 2 {
        bail!("--size must be at least 2 (got {})", args.size);
    }
    if args.size > max {
        bail!(
            "--size {} is larger than the supported maximum {max}",
            args.size
        );
    }
    if args.samples == 0 {
        bail!("--samples must be at least 1");
    }
    for &t in &args.temperature {
        if !(t.is_finite() && t > 0.0) {
            bail!("every --temperature must be a finite number greater than zero (got {t})");
        }
    }
    let mut sorted = args.temperature.clone();
    sorted.sort_by(f64::total_cmp);
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        bail!("--temperature lists the same temperature twice");
    }
    if !args.field.is_finite() {
        bail!("--field must be a finite number (got {})", args.field);
    }
    if args.thin == Some(0) {
        bail!("--thin must be at least 1 sweep");
    }
    if args.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    if !(args.checkpoint_interval.is_finite() && args.checkpoint_interval >= 0.0) {
        bail!("--checkpoint-interval must be a non-negative number of seconds");
    }
    let bytes = (sample_bytes(args.model.dim(), args.size) as u128) * args.samples as u128;
    if bytes > 64 << 30 {
        bail!("the output would hold {bytes} bytes of spins (over 64 GiB); ask for fewer samples");
    }
    Ok(())
}

/// Everything of a temperature's run: its spec, plan and file names.
struct Target {
    spec: RunSpec,
    plan: Plan,
    out: PathBuf,
    checkpoint: Option<PathBuf>,
}

impl Target {
    /// JSON of everything that determines the samples (also the checkpoint identity).
    fn identity(&self, model: IsingModel) -> Value {
        let s = &self.spec;
        json!({
            "model": model.name(),
            "size": s.size,
            "temperature": s.temperature,
            "field": s.field,
            "samples": s.samples,
            "burn_in": s.burn_in,
            "thin": s.thin,
            "seed": s.seed,
            "algorithm": s.method.algorithm_name(),
            "layout": s.method.layout_name(),
            "jobs": self.plan.jobs,
            "chains_per_job": self.plan.chains_per_job,
            "measurements_per_chain": self.plan.measurements,
            "start": if crate::sampler::cold_start(s) { "ordered (all up)" } else { "random" },
            "global_flips": !matches!(s.method, Method::Wolff) && s.field == 0.0,
        })
    }
}

/// Run `rsmi sample`; returns the JSON summaries (one per temperature run).
pub fn run(args: &SampleArgs) -> Result<Vec<Value>> {
    run_inner(args, None)
}

/// `rsmi sample` without files, for library callers (the Python module): each
/// temperature's samples are returned in memory beside its summary (whose `out` is null),
/// exactly the samples [`run`] would write. `out`, `force`, `checkpoint` and `resume` are
/// ignored.
pub fn run_in_memory(args: &SampleArgs) -> Result<Vec<(Value, SampleFile)>> {
    let mut files = Vec::new();
    let summaries = run_inner(args, Some(&mut files))?;
    Ok(summaries.into_iter().zip(files).collect())
}

fn run_inner(args: &SampleArgs, mut keep: Option<&mut Vec<SampleFile>>) -> Result<Vec<Value>> {
    validate(args)?;
    let mut targets = Vec::new();
    for &t in &args.temperature {
        let method = resolve_method(args, t)?;
        let wolff = method == Method::Wolff;
        let spec = RunSpec {
            dim: args.model.dim(),
            size: args.size,
            temperature: t,
            field: args.field,
            method,
            samples: args.samples,
            burn_in: args.burn_in.unwrap_or(if wolff { 100 } else { 1000 }),
            thin: args.thin.unwrap_or(if wolff { 2 } else { 10 }),
            seed: args.seed,
        };
        let plan = Plan::new(spec.samples, method.chains_per_job());
        let out = output_path(&args.out, &args.temperature, t);
        let checkpoint = args
            .checkpoint
            .as_ref()
            .filter(|_| keep.is_none())
            .map(|c| output_path(c, &args.temperature, t));
        targets.push(Target {
            spec,
            plan,
            out,
            checkpoint,
        });
    }
    // Fail before any work: every output must be writable.
    let mut pending = Vec::new();
    for tg in targets {
        if keep.is_some() {
            pending.push(tg);
            continue;
        }
        let ck_exists = tg.checkpoint.as_ref().is_some_and(|c| c.exists());
        if args.resume && tg.out.exists() && !ck_exists {
            eprintln!(
                "note: {} exists and has no checkpoint: temperature {} is done, skipping",
                tg.out.display(),
                tg.spec.temperature
            );
            continue;
        }
        let force = args.force || (args.resume && ck_exists);
        check_output_path(&tg.out, force)?;
        if let Some(c) = &tg.checkpoint {
            check_output_path(c, true)?;
        }
        pending.push(tg);
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("could not start the worker threads")?;
    let mut summaries = Vec::new();
    let mut checkpoints_written = 0u32;
    for tg in &pending {
        let s = pool.install(|| {
            run_one(
                args,
                tg,
                threads,
                &mut checkpoints_written,
                keep.as_deref_mut(),
            )
        })?;
        if args.json {
            println!("{}", serde_json::to_string(&s)?);
        }
        summaries.push(s);
    }
    Ok(summaries)
}

fn run_one(
    args: &SampleArgs,
    tg: &Target,
    threads: usize,
    checkpoints_written: &mut u32,
    keep: Option<&mut Vec<SampleFile>>,
) -> Result<Value> {
    let (spec, plan) = (&tg.spec, &tg.plan);
    let identity = tg.identity(args.model);
    let identity_str = serde_json::to_string(&identity)?;
    let started = Instant::now();
    let mut jobs: Vec<Job> = (0..plan.jobs)
        .into_par_iter()
        .map(|g| Job::new(spec, plan, g))
        .collect::<Result<_>>()?;
    let mut resumed = false;
    if let (true, Some(ck)) = (args.resume, &tg.checkpoint) {
        if ck.exists() {
            let states = checkpoint::read(ck, &identity_str)?;
            if states.len() != jobs.len() {
                bail!(
                    "checkpoint {} holds {} jobs, expected {}",
                    ck.display(),
                    states.len(),
                    jobs.len()
                );
            }
            for (j, st) in jobs.iter_mut().zip(states) {
                let (a, b) = (&st.samples, &j.samples);
                if (
                    a.len(),
                    a.spins.len(),
                    a.chain.len(),
                    a.sweep.len(),
                    a.magnetization.len(),
                ) != (b.len(), b.spins.len(), b.len(), b.len(), b.len())
                {
                    bail!(
                        "checkpoint {} does not match this run's sample layout",
                        ck.display()
                    );
                }
                j.restore_engine(st.sweeps_done, &st.engine)?;
                j.samples = st.samples;
            }
            resumed = true;
            eprintln!("resuming {} from {}", tg.out.display(), ck.display());
        }
    }
    let total_sweeps = plan.sweeps(spec) * plan.jobs as u64;
    let progress = Progress::new(total_sweeps, &format!("T={} ", spec.temperature));
    // Rounds of at most 2^22 site updates and 1/50 of the run per job: frequent enough for progress and
    // checkpoints, coarse enough that scheduling costs nothing. Round length never
    // changes the samples.
    let sites = sample_bytes(spec.dim, spec.size) as u64 * 8;
    let round = ((1u64 << 22) / sites.max(1))
        .min(plan.sweeps(spec).div_ceil(50))
        .max(1);
    let mut last_ck = Instant::now();
    loop {
        progress.set(jobs.iter().map(|j| j.sweeps_done).sum());
        if jobs.iter().all(|j| j.finished(spec, plan)) {
            break;
        }
        jobs.par_iter_mut()
            .try_for_each(|j| j.advance(spec, plan, round))?;
        if let Some(ck) = &tg.checkpoint {
            let due = last_ck.elapsed().as_secs_f64() >= args.checkpoint_interval;
            let done = jobs.iter().all(|j| j.finished(spec, plan));
            if due && !done {
                checkpoint::write(ck, &identity_str, &jobs)?;
                last_ck = Instant::now();
                *checkpoints_written += 1;
                if args.exit_after_checkpoints == Some(*checkpoints_written) {
                    progress.finish();
                    return Err(StoppedAfterCheckpoint(ck.display().to_string()).into());
                }
            }
        }
    }
    progress.finish();
    let elapsed = started.elapsed().as_secs_f64();
    // Assemble in canonical order.
    let n = spec.samples;
    let mut file = SampleFile {
        dims: match spec.dim {
            ising::Dim::One => 1,
            ising::Dim::Two => 2,
        },
        size: spec.size,
        n,
        spins: Vec::new(),
        energy: Vec::new(),
        magnetization: Vec::new(),
        chain: None,
        sweep: None,
        meta: Value::Null,
    };
    let mut all = Samples::default();
    for j in &jobs {
        all.extend(&j.samples);
    }
    file.spins = all.spins;
    file.energy = all.energy;
    file.magnetization = all.magnetization;
    file.chain = Some(all.chain);
    file.sweep = Some(all.sweep);
    let observables = analyse(spec, plan.measurements, &file.energy, &file.magnetization)?;
    // Equilibration check: the burn-in should exceed many (10) autocorrelation times.
    let tau_sweeps = ["abs_m", "e"]
        .iter()
        .filter_map(|k| observables[k]["tau_int"].as_f64())
        .fold(0.0f64, f64::max)
        * spec.thin as f64;
    if (spec.burn_in as f64) < 10.0 * tau_sweeps {
        eprintln!(
            "warning: T={}: the burn-in ({} sweeps) is shorter than 10 τ_int ≈ {:.0} sweeps \
             measured in this run; the first samples may not be equilibrated (raise --burn-in)",
            spec.temperature,
            spec.burn_in,
            10.0 * tau_sweeps
        );
    }
    let flips = (plan.sweeps(spec) * plan.jobs as u64) as f64
        * (plan.chains_per_job as f64)
        * (sample_bytes(spec.dim, spec.size) * 8) as f64;
    let mut config = identity.clone();
    if let Some(o) = config.as_object_mut() {
        o.insert("stream_scheme".into(), json!(STREAM_SCHEME));
        o.insert(
            "energy_convention".into(),
            json!(
                "energy = -sum_<ij> s_i s_j (total, field term excluded); magnetization = sum_i s_i"
            ),
        );
        o.insert("sample_order".into(), json!("chain-major: sample chain*m + t is the t-th measurement of chain `chain` (m = measurements_per_chain)"));
    }
    file.meta = json!({
        "format": "rsmi-samples-1",
        "model": args.model.name(),
        "size": spec.size,
        "config": config,
        "build": provenance::build_info(),
        "observables": observables,
        "run": {
            "threads": threads,
            "wall_seconds": elapsed,
            "resumed_from_checkpoint": resumed,
            "site_updates_per_ns": if resumed { Value::Null } else { json!(flips / (elapsed * 1e9)) },
        },
    });
    let out = match keep {
        Some(k) => {
            k.push(file);
            Value::Null
        }
        None => {
            write_npz(&tg.out, true, &file)
                .with_context(|| format!("could not write {}", tg.out.display()))?;
            json!(tg.out.display().to_string())
        }
    };
    if let Some(ck) = &tg.checkpoint {
        if ck.exists() {
            std::fs::remove_file(ck).with_context(|| {
                format!("could not remove finished checkpoint {}", ck.display())
            })?;
        }
    }
    Ok(json!({
        "model": args.model.name(),
        "size": spec.size,
        "temperature": spec.temperature,
        "field": spec.field,
        "samples": n,
        "algorithm": spec.method.algorithm_name(),
        "layout": spec.method.layout_name(),
        "out": out,
        "observables": observables,
    }))
}

fn estimate_json(e: &Estimate) -> Value {
    let f = |x: f64| if x.is_finite() { json!(x) } else { Value::Null };
    json!({"mean": f(e.mean), "err": f(e.err), "tau_int": f(e.tau_int), "bin_size": e.bin_size})
}

/// Per-site observables with binning errors (and jackknife for the Binder cumulant),
/// over the chains with a complete series (the last chain may be cut short by the
/// sample count and is left out of the error analysis).
pub fn analyse(
    spec: &RunSpec,
    measurements: usize,
    energy: &[i64],
    magnetization: &[i64],
) -> Result<Value> {
    let g = ising::Geometry::new(spec.dim, spec.size)?;
    let n_sites = g.sites() as f64;
    let chains = (energy.len() / measurements).max(1);
    let used = (chains * measurements).min(energy.len());
    let chains = if used < measurements { 1 } else { chains };
    let e: Vec<f64> = energy[..used]
        .iter()
        .zip(&magnetization[..used])
        .map(|(&e, &m)| (e as f64 - spec.field * m as f64) / n_sites)
        .collect();
    let m: Vec<f64> = magnetization[..used]
        .iter()
        .map(|&m| m as f64 / n_sites)
        .collect();
    let abs_m: Vec<f64> = m.iter().map(|x| x.abs()).collect();
    let m2: Vec<f64> = m.iter().map(|x| x * x).collect();
    let m4: Vec<f64> = m2.iter().map(|x| x * x).collect();
    let est = |d: &[f64]| stats::binned(d, chains).map_err(anyhow::Error::from);
    let (ee, ea, e2, e4) = (est(&e)?, est(&abs_m)?, est(&m2)?, est(&m4)?);
    let bin = e2.bin_size.max(e4.bin_size);
    let binder = match stats::jackknife(&[&m2, &m4], chains, bin, stats::binder) {
        Ok((v, err)) => {
            json!({"mean": v, "err": err, "tau_int": e2.tau_int.max(e4.tau_int), "bin_size": bin})
        }
        Err(_) => {
            json!({"mean": Value::Null, "err": Value::Null, "tau_int": Value::Null, "bin_size": bin})
        }
    };
    Ok(json!({
        "e": estimate_json(&ee),
        "abs_m": estimate_json(&ea),
        "m2": estimate_json(&e2),
        "m4": estimate_json(&e4),
        "binder": binder,
        "chains_analysed": chains,
        "samples_analysed": used,
        "tau_unit": "measurements (thin sweeps each)",
    }))
}
