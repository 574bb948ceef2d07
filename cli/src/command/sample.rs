//! `rsmi sample`: Monte Carlo samples of the Ising models, written as `.npz`.

use super::IsingModel;
use crate::checkpoint::{self, JobState, Record};
use crate::cluster::{self, Team};
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
burn-in, thin, algorithm, layout, --jobs and seed; never on --threads, on the number of MPI \
ranks or job-array tasks, or on checkpoint/resume: the file is the same bytes.

CLUSTERS: under `mpirun -n P` (a build with --features mpi) the jobs of all temperatures \
are dealt to the ranks and rank 0 writes the files. In a job array, task I of N writes \
OUT.shard-I-of-N and `rsmi merge` joins the shards. Raise --jobs so that every core of \
the allocation has a job.")]
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
    /// Most jobs per temperature (a job = one engine: 256 replicas, 4 strip lattices or
    /// one Wolff lattice). More jobs feed more cores but pay the burn-in more often; part
    /// of the run's identity, so it changes the samples. See the README's cluster section.
    #[arg(long, default_value_t = crate::sampler::DEFAULT_JOBS)]
    pub jobs: usize,
    /// Job array: this task's number, 0 ≤ I < N [default: SLURM_ARRAY_TASK_ID −
    /// SLURM_ARRAY_TASK_MIN when Slurm sets it]. The task writes OUT.shard-I-of-N; join
    /// the shards with `rsmi merge`.
    #[arg(long, requires = "job_count")]
    pub job_index: Option<usize>,
    /// Job array: the number of tasks N [default: SLURM_ARRAY_TASK_COUNT when Slurm sets
    /// it; --job-count 1 computes the whole run].
    #[arg(long)]
    pub job_count: Option<usize>,
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
            jobs: crate::sampler::DEFAULT_JOBS,
            job_index: None,
            job_count: None,
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
    if !(1..=crate::sampler::MAX_JOBS).contains(&args.jobs) {
        bail!(
            "--jobs must be between 1 and {} (got {})",
            crate::sampler::MAX_JOBS,
            args.jobs
        );
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
    /// The sample file, or this task's shard in a job array.
    out: PathBuf,
    checkpoint: Option<PathBuf>,
    /// Unit number of the temperature's job 0 (units are dealt round robin to the team).
    first_unit: usize,
}

/// JSON of everything that determines the samples of `spec` under `plan` (also the
/// identity of checkpoints and shards).
fn identity(model: IsingModel, spec: &RunSpec, plan: &Plan) -> Value {
    let s = spec;
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
        "jobs": plan.jobs,
        "chains_per_job": plan.chains_per_job,
        "measurements_per_chain": plan.measurements,
        "start": if crate::sampler::cold_start(s) { "ordered (all up)" } else { "random" },
        "global_flips": !matches!(s.method, Method::Wolff) && s.field == 0.0,
    })
}

/// The model, spec and plan written in an identity (the inverse of [`identity`]).
fn from_identity(id: &Value) -> Result<(IsingModel, RunSpec, Plan)> {
    let num = |k: &str| -> Result<u64> {
        id[k]
            .as_u64()
            .with_context(|| format!("the run identity has no integer `{k}`"))
    };
    let float = |k: &str| -> Result<f64> {
        id[k]
            .as_f64()
            .with_context(|| format!("the run identity has no number `{k}`"))
    };
    let model = match id["model"].as_str() {
        Some("ising2d") => IsingModel::Ising2d,
        Some("ising1d") => IsingModel::Ising1d,
        m => bail!("the run identity names an unknown model {m:?}"),
    };
    let algorithm = match id["algorithm"].as_str() {
        Some("metropolis") => Some(Algorithm::Metropolis),
        Some("metropolis-half") => Some(Algorithm::MetropolisHalf),
        Some("heat-bath") => Some(Algorithm::HeatBath),
        Some("wolff") => None,
        a => bail!("the run identity names an unknown algorithm {a:?}"),
    };
    let method = match (algorithm, id["layout"].as_str()) {
        (None, _) => Method::Wolff,
        (Some(a), Some("replica")) => Method::Replica(a),
        (Some(a), Some("strip")) => Method::Strip(a),
        (_, l) => bail!("the run identity names an unknown layout {l:?}"),
    };
    let spec = RunSpec {
        dim: model.dim(),
        size: num("size")? as usize,
        temperature: float("temperature")?,
        field: float("field")?,
        method,
        samples: num("samples")? as usize,
        burn_in: num("burn_in")?,
        thin: num("thin")?,
        seed: num("seed")?,
    };
    let plan = Plan {
        jobs: num("jobs")? as usize,
        chains_per_job: num("chains_per_job")? as usize,
        measurements: num("measurements_per_chain")? as usize,
    };
    if plan.chains_per_job != method.chains_per_job()
        || plan.jobs * plan.chains_per_job * plan.measurements < spec.samples
        || identity(model, &spec, &plan) != *id
    {
        bail!("the run identity is inconsistent");
    }
    Ok((model, spec, plan))
}

/// The shard that task `index` of `count` writes for the output `out`:
/// `OUT.shard-INDEX-of-COUNT`.
pub fn shard_path(out: &Path, index: usize, count: usize) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".shard-{index}-of-{count}"));
    out.with_file_name(name)
}

fn build_targets(args: &SampleArgs, team: &Team, in_memory: bool) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    let mut first_unit = 0;
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
        let plan = Plan::new(spec.samples, method.chains_per_job(), args.jobs);
        let mut out = output_path(&args.out, &args.temperature, t);
        let mut checkpoint = args
            .checkpoint
            .as_ref()
            .filter(|_| !in_memory)
            .map(|c| output_path(c, &args.temperature, t));
        if team.is_array() {
            out = shard_path(&out, team.rank(), team.size());
            checkpoint = checkpoint.map(|c| shard_path(&c, team.rank(), team.size()));
        }
        targets.push(Target {
            spec,
            plan,
            out,
            checkpoint,
            first_unit,
        });
        first_unit += plan.jobs;
    }
    Ok(targets)
}

/// Run `rsmi sample`; returns the JSON summaries (one per temperature run; on the root
/// only under MPI).
pub fn run(args: &SampleArgs) -> Result<Vec<Value>> {
    run_inner(args, None)
}

/// `rsmi sample` without files, for library callers (the Python module): each
/// temperature's samples are returned in memory beside its summary (whose `out` is null),
/// exactly the samples [`run`] would write. `out`, `force`, `checkpoint`, `resume` and
/// the job-array options are ignored.
pub fn run_in_memory(args: &SampleArgs) -> Result<Vec<(Value, SampleFile)>> {
    let mut files = Vec::new();
    let summaries = run_inner(args, Some(&mut files))?;
    Ok(summaries.into_iter().zip(files).collect())
}

/// The indices of the targets still to run (the root's view of the file system): with
/// `--resume`, a temperature whose output exists and whose checkpoint is gone is done.
/// Every output must be writable before any work starts.
fn pending_targets(args: &SampleArgs, targets: &[Target]) -> Result<Vec<usize>> {
    let mut pending = Vec::new();
    for (i, tg) in targets.iter().enumerate() {
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
        pending.push(i);
    }
    Ok(pending)
}

fn run_inner(args: &SampleArgs, mut keep: Option<&mut Vec<SampleFile>>) -> Result<Vec<Value>> {
    let world = Team::world();
    let team = match keep {
        Some(_) => Team::solo(),
        None => world
            .agree(cluster::job_array(args.job_index, args.job_count))?
            .unwrap_or(world),
    };
    let targets =
        team.agree(validate(args).and_then(|_| build_targets(args, &team, keep.is_some())))?;
    let pending = match keep {
        Some(_) => (0..targets.len()).collect(),
        None => {
            let mine = if team.is_root() {
                pending_targets(args, &targets)
            } else {
                Ok(Vec::new())
            };
            let mine = team.agree(mine)?;
            let bytes: Vec<u8> = mine
                .iter()
                .flat_map(|&i| (i as u64).to_le_bytes())
                .collect();
            team.broadcast(bytes)
                .chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()) as usize)
                .collect::<Vec<usize>>()
        }
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = team.agree(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .context("could not start the worker threads"),
    )?;
    // Temperatures side by side: a batch takes temperatures until it has at least one job
    // per thread of the team (the batching never changes the samples).
    let width = team.max(threads as u64) as usize * team.size();
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut in_batch = usize::MAX;
    for &i in &pending {
        if in_batch >= width {
            batches.push(Vec::new());
            in_batch = 0;
        }
        if let Some(b) = batches.last_mut() {
            b.push(i);
        }
        in_batch += targets[i].plan.jobs;
    }
    let mut summaries = Vec::new();
    let mut checkpoints_written = 0u32;
    for batch in &batches {
        let ctx = Batch {
            args,
            team: &team,
            pool: &pool,
            threads,
            targets: &targets,
            batch,
        };
        for s in ctx.run(&mut checkpoints_written, keep.as_deref_mut())? {
            if args.json && team.is_root() {
                println!("{}", serde_json::to_string(&s)?);
            }
            summaries.push(s);
        }
    }
    Ok(summaries)
}

/// Temperatures run side by side by one team.
struct Batch<'a> {
    args: &'a SampleArgs,
    team: &'a Team,
    pool: &'a rayon::ThreadPool,
    threads: usize,
    targets: &'a [Target],
    batch: &'a [usize],
}

impl Batch<'_> {
    fn run(
        &self,
        checkpoints_written: &mut u32,
        mut keep: Option<&mut Vec<SampleFile>>,
    ) -> Result<Vec<Value>> {
        let (args, team, targets) = (self.args, self.team, self.targets);
        let started = Instant::now();
        let units: Vec<(usize, usize)> = self
            .batch
            .iter()
            .flat_map(|&t| (0..targets[t].plan.jobs).map(move |g| (t, g)))
            .filter(|&(t, g)| team.owns(targets[t].first_unit + g))
            .collect();
        let mut jobs: Vec<(usize, Job)> = team.agree(self.pool.install(|| {
            units
                .into_par_iter()
                .map(|(t, g)| Job::new(&targets[t].spec, &targets[t].plan, g).map(|j| (t, j)))
                .collect::<Result<_>>()
        }))?;
        let mut resumed = Vec::new();
        if args.resume {
            for &t in self.batch {
                if self.resume(t, &mut jobs)? {
                    resumed.push(t);
                }
            }
        }
        // Sweeps to do by the whole team (a job-array task: by this task).
        let total: u64 = team.sum(
            jobs.iter()
                .map(|(t, _)| targets[*t].plan.sweeps(&targets[*t].spec))
                .sum(),
        );
        // Site updates of the whole team (of this task in a job array), for the rate.
        let flips = team.sum(
            jobs.iter()
                .map(|(t, _)| {
                    let (s, p) = (&targets[*t].spec, &targets[*t].plan);
                    p.sweeps(s) * (p.chains_per_job * sample_bytes(s.dim, s.size) * 8) as u64
                })
                .sum(),
        ) as f64;
        let temps: Vec<String> = self
            .batch
            .iter()
            .map(|&t| targets[t].spec.temperature.to_string())
            .collect();
        let progress = Progress::new(total, &format!("T={} ", temps.join(",")));
        // Rounds of at most 2^22 site updates and 1/50 of the run per job: frequent enough
        // for progress and checkpoints, coarse enough that scheduling costs nothing. Round
        // length never changes the samples.
        let rounds: Vec<u64> = targets
            .iter()
            .map(|tg| {
                let sites = sample_bytes(tg.spec.dim, tg.spec.size) as u64 * 8;
                ((1u64 << 22) / sites.max(1))
                    .min(tg.plan.sweeps(&tg.spec).div_ceil(50))
                    .max(1)
            })
            .collect();
        let with_checkpoint = self.batch.iter().any(|&t| targets[t].checkpoint.is_some());
        let mut last_ck = Instant::now();
        loop {
            let advanced = self.pool.install(|| {
                jobs.par_iter_mut().try_for_each(|(t, j)| {
                    let tg = &targets[*t];
                    j.advance(&tg.spec, &tg.plan, rounds[*t])
                })
            });
            team.agree(advanced)?;
            let done = team.sum(jobs.iter().map(|(_, j)| j.sweeps_done).sum());
            progress.set(done);
            let finished = done >= total;
            let due = with_checkpoint
                && !finished
                && team.is_root()
                && last_ck.elapsed().as_secs_f64() >= args.checkpoint_interval;
            if team.broadcast(vec![due as u8]).first() == Some(&1) {
                for &t in self.batch {
                    self.write_checkpoint(t, &jobs)?;
                }
                last_ck = Instant::now();
                *checkpoints_written += 1;
                if args.exit_after_checkpoints == Some(*checkpoints_written) {
                    progress.finish();
                    let ck = targets[self.batch[0]].checkpoint.as_ref();
                    let name = ck.map(|c| c.display().to_string()).unwrap_or_default();
                    return Err(StoppedAfterCheckpoint(name).into());
                }
            }
            if finished {
                break;
            }
        }
        progress.finish();
        let elapsed = started.elapsed().as_secs_f64();
        let mut summaries = Vec::new();
        for &t in self.batch {
            let tg = &targets[t];
            // This process's finished jobs of the temperature, their samples moved out.
            let (mine, rest): (Vec<_>, Vec<_>) = jobs.into_iter().partition(|(tt, _)| *tt == t);
            jobs = rest;
            let mine: Vec<(usize, JobState)> = mine
                .into_iter()
                .map(|(_, j)| checkpoint::take_state(j))
                .collect();
            let id = identity(args.model, &tg.spec, &tg.plan);
            let records = |m: &[(usize, JobState)]| -> Vec<Record> {
                m.iter()
                    .map(|(i, st)| (*i, checkpoint::encode_state(st)))
                    .collect()
            };
            let result = if team.is_array() {
                let header = json!({
                    "kind": "shard",
                    "task": team.rank(),
                    "tasks": team.size(),
                    "unit_offset": tg.first_unit,
                });
                checkpoint::write(
                    &tg.out,
                    &id.to_string(),
                    &header,
                    tg.plan.jobs,
                    records(&mine),
                )
                .map(
                    |_| json!({"shard": tg.out.display().to_string(), "jobs_in_shard": mine.len()}),
                )
            } else if team.is_root() {
                // The root keeps its own states; the other ranks' arrive as records.
                match team.gather(Vec::new()) {
                    Some(parts) => self.write_output(tg, &id, mine, parts, keep.as_deref_mut()),
                    None => Ok(Value::Null),
                }
            } else {
                let _ = team.gather(checkpoint::pack(&records(&mine)));
                Ok(Value::Null)
            };
            let result = team.agree(result)?;
            if team.is_root() {
                if let Some(ck) = &tg.checkpoint {
                    if ck.exists() {
                        std::fs::remove_file(ck).with_context(|| {
                            format!("could not remove finished checkpoint {}", ck.display())
                        })?;
                    }
                }
            }
            let spec = &tg.spec;
            let mut summary = json!({
                "model": args.model.name(),
                "size": spec.size,
                "temperature": spec.temperature,
                "field": spec.field,
                "samples": spec.samples,
                "algorithm": spec.method.algorithm_name(),
                "layout": spec.method.layout_name(),
                "jobs": tg.plan.jobs,
                "run": {
                    "threads": self.threads,
                    "ranks": if team.is_mpi() { team.size() } else { 1 },
                    "temperatures_side_by_side": self.batch.len(),
                    "wall_seconds": elapsed,
                    "resumed_from_checkpoint": resumed.contains(&t),
                    "site_updates_per_ns": if resumed.is_empty() { json!(flips / (elapsed * 1e9)) } else { Value::Null },
                },
            });
            if let (Some(o), Some(r)) = (summary.as_object_mut(), result.as_object()) {
                for (k, v) in r {
                    o.insert(k.clone(), v.clone());
                }
            }
            if team.is_root() {
                summaries.push(summary);
            }
        }
        Ok(summaries)
    }

    /// The root's part of finishing a temperature: its own job states and the other ranks'
    /// records (`parts`) assembled in job order into the sample file, written (or kept in
    /// memory).
    fn write_output(
        &self,
        tg: &Target,
        id: &Value,
        own: Vec<(usize, JobState)>,
        parts: Vec<Vec<u8>>,
        keep: Option<&mut Vec<SampleFile>>,
    ) -> Result<Value> {
        let mut all = own;
        // The root's own part is empty (its states are `own`).
        for p in parts.iter().filter(|p| !p.is_empty()) {
            for (i, r) in checkpoint::unpack(p)? {
                all.push((i, checkpoint::parse(&r)?));
            }
        }
        all.sort_by_key(|r| r.0);
        let states: Vec<JobState> = all.into_iter().map(|(_, st)| st).collect();
        let (file, observables) = assemble(self.args.model, &tg.spec, &tg.plan, id, states)?;
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
        Ok(json!({"out": out, "observables": observables}))
    }

    /// Restore the jobs of target `t` from its checkpoint, if there is one (read by the
    /// root, each record sent to the rank that owns its job). Returns whether it resumed.
    fn resume(&self, t: usize, jobs: &mut [(usize, Job)]) -> Result<bool> {
        let (team, tg) = (self.team, &self.targets[t]);
        let Some(ck) = &tg.checkpoint else {
            return Ok(false);
        };
        let id = identity(self.args.model, &tg.spec, &tg.plan).to_string();
        let saved = if team.is_root() && ck.exists() {
            checkpoint::read(ck, &id).and_then(|s| {
                if s.total_jobs != tg.plan.jobs {
                    bail!(
                        "checkpoint {} holds a plan of {} jobs, expected {}",
                        ck.display(),
                        s.total_jobs,
                        tg.plan.jobs
                    );
                }
                Ok(Some(s))
            })
        } else {
            Ok(None)
        };
        let saved = team.agree(saved)?;
        if team.broadcast(vec![saved.is_some() as u8]).first() != Some(&1) {
            return Ok(false);
        }
        let members = if team.is_mpi() { team.size() } else { 1 };
        let parts = saved.map(|s| {
            let mut per: Vec<Vec<Record>> = vec![Vec::new(); members];
            for (g, r) in s.records {
                let unit = tg.first_unit + g;
                if team.is_mpi() {
                    per[unit % members].push((g, r));
                } else if team.owns(unit) {
                    per[0].push((g, r));
                }
            }
            per.iter().map(|p| checkpoint::pack(p)).collect()
        });
        let mine = team.scatter(parts);
        let restored = (|| -> Result<()> {
            let records = checkpoint::unpack(&mine)?;
            let own = jobs.iter().filter(|(tt, _)| *tt == t).count();
            if records.len() != own {
                bail!(
                    "checkpoint {} does not hold every job of this run",
                    ck.display()
                );
            }
            for (g, r) in records {
                let st = checkpoint::parse(&r)?;
                let Some((_, j)) = jobs.iter_mut().find(|(tt, j)| *tt == t && j.index == g) else {
                    bail!(
                        "checkpoint {} holds job {g}, which this process does not run",
                        ck.display()
                    );
                };
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
            Ok(())
        })();
        team.agree(restored)?;
        if team.is_root() {
            eprintln!("resuming {} from {}", tg.out.display(), ck.display());
        }
        Ok(true)
    }

    /// Write the checkpoint of target `t` (the root collects every rank's records).
    fn write_checkpoint(&self, t: usize, jobs: &[(usize, Job)]) -> Result<()> {
        let (team, tg) = (self.team, &self.targets[t]);
        let Some(ck) = &tg.checkpoint else {
            return Ok(());
        };
        let records: Vec<Record> = jobs
            .iter()
            .filter(|(tt, _)| *tt == t)
            .map(|(_, j)| checkpoint::record(j))
            .collect();
        let written = match team.gather(checkpoint::pack(&records)) {
            None => Ok(()),
            Some(parts) => (|| -> Result<()> {
                let mut all = Vec::new();
                for p in parts {
                    all.extend(checkpoint::unpack(&p)?);
                }
                let id = identity(self.args.model, &tg.spec, &tg.plan).to_string();
                checkpoint::write(ck, &id, &json!({"kind": "checkpoint"}), tg.plan.jobs, all)
            })(),
        };
        team.agree(written)
    }
}

/// The sample file of a finished run from its jobs' states (in job order): samples in
/// canonical order, observables, meta. Shared by `rsmi sample` and `rsmi merge`.
fn assemble(
    model: IsingModel,
    spec: &RunSpec,
    plan: &Plan,
    identity: &Value,
    states: Vec<JobState>,
) -> Result<(SampleFile, Value)> {
    if states.len() != plan.jobs {
        bail!(
            "{} job states for a plan of {} jobs",
            states.len(),
            plan.jobs
        );
    }
    let bytes = sample_bytes(spec.dim, spec.size);
    let per_job = plan.chains_per_job * plan.measurements;
    let mut all = Samples::default();
    for (g, st) in states.iter().enumerate() {
        let owned = per_job.min(spec.samples.saturating_sub(g * per_job));
        let s = &st.samples;
        if st.sweeps_done != plan.sweeps(spec) {
            bail!(
                "job {g} is not finished ({} of {} sweeps)",
                st.sweeps_done,
                plan.sweeps(spec)
            );
        }
        if (
            s.len(),
            s.spins.len(),
            s.magnetization.len(),
            s.chain.len(),
            s.sweep.len(),
        ) != (owned, owned * bytes, owned, owned, owned)
        {
            bail!("job {g} holds samples of the wrong shape for this run");
        }
        all.extend(s);
    }
    let n = spec.samples;
    let observables = analyse(spec, plan.measurements, &all.energy, &all.magnetization)?;
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
    let file = SampleFile {
        dims: match spec.dim {
            ising::Dim::One => 1,
            ising::Dim::Two => 2,
        },
        size: spec.size,
        n,
        spins: all.spins,
        energy: all.energy,
        magnetization: all.magnetization,
        chain: Some(all.chain),
        sweep: Some(all.sweep),
        meta: json!({
            "format": "rsmi-samples-1",
            "model": model.name(),
            "size": spec.size,
            "config": config,
            "build": provenance::build_info(),
            "observables": observables,
        }),
    };
    Ok((file, observables))
}

/// Arguments of `rsmi merge`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Joins the shards that the tasks of a job array wrote (rsmi sample ... --job-index I \
--job-count N writes OUT.shard-I-of-N) into the sample file one process would have \
written: the same bytes. The shards must come from one run (same arguments), hold every \
job of its plan, none twice, and be finished. One temperature per merge.")]
pub struct MergeArgs {
    /// Shard files (OUT.shard-I-of-N), in any order.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Output file (.npz).
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite an existing output file.
    #[arg(long)]
    pub force: bool,
    /// Print a JSON summary object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Run `rsmi merge`.
pub fn merge(a: &MergeArgs) -> Result<Value> {
    check_output_path(&a.out, a.force)?;
    let mut identity_text: Option<(String, &Path)> = None;
    let mut tasks: Option<(u64, u64)> = None;
    let mut owner: std::collections::BTreeMap<usize, (&Path, Vec<u8>)> = Default::default();
    let mut total = 0;
    for path in &a.shards {
        let s = checkpoint::read_any(path)?;
        if s.header["kind"] != "shard" {
            bail!(
                "{} is a checkpoint, not a shard of a job array",
                path.display()
            );
        }
        match &identity_text {
            None => identity_text = Some((s.identity.clone(), path)),
            Some((id, first)) if *id != s.identity => bail!(
                "{} belongs to a different run than {} (the sampling arguments differ)",
                path.display(),
                first.display()
            ),
            _ => {}
        }
        let (Some(n), Some(off)) = (s.header["tasks"].as_u64(), s.header["unit_offset"].as_u64())
        else {
            bail!("{} has no job-array header", path.display());
        };
        if tasks.is_some_and(|t| t != (n, off)) {
            bail!(
                "{} comes from a job array of a different size (--job-count {n})",
                path.display()
            );
        }
        tasks = Some((n, off));
        total = s.total_jobs;
        for (g, r) in s.records {
            if let Some((other, _)) = owner.get(&g) {
                bail!(
                    "job {g} is in both {} and {}: a shard was given twice",
                    other.display(),
                    path.display()
                );
            }
            owner.insert(g, (path.as_path(), r));
        }
    }
    let (id_text, _) = identity_text.context("no shards given")?;
    let (n_tasks, offset) = tasks.unwrap_or((1, 0));
    let missing: Vec<usize> = (0..total).filter(|g| !owner.contains_key(g)).collect();
    if !missing.is_empty() {
        let mut absent: Vec<u64> = missing
            .iter()
            .map(|&g| (offset + g as u64) % n_tasks)
            .collect();
        absent.sort_unstable();
        absent.dedup();
        let list: Vec<String> = absent.iter().map(|t| t.to_string()).collect();
        bail!(
            "the shards are incomplete: {} of {total} jobs are missing; give the shards of task(s) {} of {n_tasks}",
            missing.len(),
            list.join(", ")
        );
    }
    let id: Value = serde_json::from_str(&id_text).context("the shards' identity is not JSON")?;
    let (model, spec, plan) = from_identity(&id)?;
    let states = owner
        .values()
        .map(|(p, r)| checkpoint::parse(r).with_context(|| format!("{}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    let (file, observables) = assemble(model, &spec, &plan, &id, states)?;
    write_npz(&a.out, a.force, &file)
        .with_context(|| format!("could not write {}", a.out.display()))?;
    let summary = json!({
        "model": model.name(),
        "size": spec.size,
        "temperature": spec.temperature,
        "samples": spec.samples,
        "shards": a.shards.len(),
        "out": a.out.display().to_string(),
        "observables": observables,
    });
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(summary)
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
