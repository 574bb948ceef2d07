//! `rsmi sample dimer`: close-packed dimers on the L×L torus by directed loops, written
//! as `.npz` (format in [`crate::io::dimer_npz`]).
//!
//! The samples come from `--jobs` (default [`DEFAULT_JOBS`]) or fewer independent chains, each a single
//! lattice updated by worms (directed loops are data-dependent and cannot be bit-sliced;
//! they are parallel over chains instead). Time is counted in *loop sweeps*: a fixed
//! number of worms per sweep, calibrated per chain after a warm-up as L² / (mean worm
//! length), so that on average every site is visited once per sweep. A fixed count,
//! rather than "worms until L² steps", keeps the measurement times independent of the
//! worm lengths (a stopping rule that depends on them biases the samples).
//!
//! **Start.** Free runs (interaction 0) start every chain in the columnar covering
//! h(x, y) = 1 for even x ([`Torus::columnar`]). Interacting runs start each chain in one
//! of the 4 columnar states, drawn from the first word of the chain's own stream (see
//! [`start_sector`]): below T_KT a chain keeps the columnar state it starts in, and a
//! sample file must hold all four for the 4-fold degeneracy to be visible (I(H:E) → ln 4).

use crate::cluster::Team;
use crate::io::atomic::check_output_path;
use crate::io::dimer_npz::{DimerFile, MODEL, write_dimer_npz};
use crate::io::wire::{Reader, Writer};
use crate::progress::Progress;
use crate::provenance;
use crate::sampler::{DEFAULT_JOBS, MAX_JOBS, Plan};
use crate::stats::{self, Estimate};
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use rsmi_core::dimer::{
    decorated,
    lattice::Torus,
    observables,
    worm::{Exits, Worm},
};
use rsmi_core::rng::{STREAM_SCHEME, Xoshiro256PlusPlus, stream};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Instant;

/// Noise decoration of the output (docs/method.md#dimers-and-the-noise-decoration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Decorate {
    /// No decorated array.
    None,
    /// Random vertex bits; each face bit an exact copy of its vertex bit.
    Paired,
    /// Independent random vertex and face bits.
    Independent,
}

impl Decorate {
    fn name(self) -> &'static str {
        match self {
            Decorate::None => "none",
            Decorate::Paired => "paired",
            Decorate::Independent => "independent",
        }
    }
}

/// Exit probabilities of the directed loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExitsArg {
    /// Heat bath: exit x with probability W_x / Σ W (bounces allowed).
    HeatBath,
    /// A symmetric solution of the directed-loop equations with minimal bounce.
    MinimalBounce,
}

/// Arguments of `rsmi sample dimer`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
The .npz holds links (uint8, (N, 2, L, L): links[n,0,y,x] = h(x,y), a dimer on \
(x,y)-(x+1,y); links[n,1,y,x] = v(x,y), a dimer on (x,y)-(x,y+1)), winding (int64, (N, 2): \
W_x, W_y), chain and sweep (int64), with --decorate also decorated (uint8, (N, 2L, 2L), \
docs/method.md#dimers-and-the-noise-decoration: vertex noise bits on even-even entries, face noise bits on odd-odd, \
links in between), and meta (UTF-8 JSON bytes).

Interacting model: E = v * N_par, N_par = plaquettes holding two parallel dimers \
(v = -1 aligning; Kosterlitz-Thouless transition near T = 0.65). Free runs start every \
chain in the columnar state h(x,y) = 1 for even x; interacting runs start each chain in one \
of the 4 columnar states (h on even x, h on odd x, v on even y, v on odd y), chosen by the \
top two bits of the first word of the chain's own random stream, so that below T_KT the \
file holds all four.

REPRODUCIBILITY: the samples depend only on the size, interaction, temperature, exits, \
samples, burn-in, thin, decorate, --jobs and seed; never on --threads or on the number of \
MPI ranks (under mpirun the chains are dealt to the ranks and rank 0 writes the file).")]
pub struct DimerArgs {
    /// Linear size L (sites per side; even, at least 4).
    #[arg(long)]
    pub size: usize,
    /// Number of samples.
    #[arg(long)]
    pub samples: usize,
    /// Master seed of the random streams.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output file (.npz).
    #[arg(long)]
    pub out: PathBuf,
    /// Interaction v of E = v * N_par (0: uniform measure over coverings).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub interaction: f64,
    /// Temperature (required when the interaction is not zero).
    #[arg(long, allow_hyphen_values = true)]
    pub temperature: Option<f64>,
    /// Loop sweeps before the first sample of each chain.
    #[arg(long, default_value_t = 200)]
    pub burn_in: u64,
    /// Loop sweeps between the samples of one chain.
    #[arg(long, default_value_t = 2)]
    pub thin: u64,
    /// Noise decoration stored beside the links.
    #[arg(long, value_enum, default_value = "none")]
    pub decorate: Decorate,
    /// Exit probabilities of the directed loops.
    #[arg(long, value_enum, default_value = "heat-bath")]
    pub exits: ExitsArg,
    /// Worker threads [default: all cores]. Does not change the results.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Most chains (each one lattice, burnt in separately). More chains feed more cores;
    /// part of the run's identity, so it changes the samples.
    #[arg(long, default_value_t = DEFAULT_JOBS)]
    pub jobs: usize,
    /// Overwrite an existing output file.
    #[arg(long)]
    pub force: bool,
    /// Print a JSON summary object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Warm-up worms before calibration: covering sweeps of "worms until L² steps" (the
/// samples of this phase are discarded, so the stopping rule does no harm here).
pub const DIMER_WARMUP: u64 = 10;
/// Covering sweeps over which the mean worm length is measured.
pub const DIMER_CALIBRATION: u64 = 20;

/// Largest supported L (the output holds 2L² bytes per sample).
pub const MAX_SIZE: usize = 4096;

fn validate(args: &DimerArgs) -> Result<()> {
    if args.size < 4 || !args.size.is_multiple_of(2) || args.size > MAX_SIZE {
        bail!(
            "--size must be an even number between 4 and {MAX_SIZE} (got {}): close-packed \
             dimers need an even torus",
            args.size
        );
    }
    if args.samples == 0 {
        bail!("--samples must be at least 1");
    }
    if !args.interaction.is_finite() {
        bail!(
            "--interaction must be a finite number (got {})",
            args.interaction
        );
    }
    match args.temperature {
        Some(t) if !(t.is_finite() && t > 0.0) => {
            bail!("--temperature must be a finite number greater than zero (got {t})")
        }
        None if args.interaction != 0.0 => {
            bail!(
                "--temperature is required when --interaction is not zero (got --interaction {})",
                args.interaction
            )
        }
        _ => {}
    }
    if args.thin == 0 {
        bail!("--thin must be at least 1 loop sweep");
    }
    if args.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    if !(1..=MAX_JOBS).contains(&args.jobs) {
        bail!(
            "--jobs must be between 1 and {MAX_JOBS} (got {})",
            args.jobs
        );
    }
    let per = DimerFile::link_bytes(args.size)
        + if args.decorate == Decorate::None {
            0
        } else {
            DimerFile::decorated_bytes(args.size)
        };
    let bytes = per as u128 * args.samples as u128;
    if bytes > 64 << 30 {
        bail!("the output would hold {bytes} bytes (over 64 GiB); ask for fewer samples");
    }
    Ok(())
}

/// Stream job id of chain `c`: a hash of (v, T) in the high bits, so that runs at
/// different parameters never share random numbers.
fn stream_job(v: f64, t: f64, c: usize) -> u64 {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let h = mix(v.to_bits() ^ mix(t.to_bits() ^ 0x44_494d_4552));
    (h & !0xffff_ffff) | c as u64
}

/// The columnar state an interacting chain starts in, from the top two bits of `word`
/// (the first word of the chain's stream): 0 = h(x, y) on even x (the free runs' start,
/// [`Torus::columnar`]), 1 = h on odd x, 2 = v(x, y) on even y, 3 = v on odd y.
pub fn start_sector(word: u64) -> u8 {
    (word >> 62) as u8
}

/// Write columnar state `sector` (see [`start_sector`]) into (`h`, `v`).
fn columnar_start(torus: Torus, h: &mut [u64], v: &mut [u64], sector: u8) -> Result<()> {
    torus.columnar(h, v)?;
    if sector == 0 {
        return Ok(());
    }
    h.fill(0);
    // (plane, whether the stripes alternate along x, parity of the occupied stripes)
    let (plane, along_x, parity) = match sector {
        1 => (&mut *h, true, 1),
        2 => (&mut *v, false, 0),
        _ => (&mut *v, false, 1),
    };
    let l = torus.l();
    for y in 0..l {
        for x in 0..l {
            if (if along_x { x } else { y }) % 2 == parity {
                torus.set(plane, x, y, true)?;
            }
        }
    }
    torus.validate(h, v)?;
    Ok(())
}

/// One chain's output, chain-major.
#[derive(Debug, Default, PartialEq)]
struct ChainOut {
    links: Vec<u8>,
    decorated: Vec<u8>,
    winding: Vec<i64>,
    sweep: Vec<i64>,
    flippable: Vec<f64>,
    n_parallel: Vec<f64>,
    steps: u64,
    worms_per_sweep: u64,
    /// Columnar state of the start (see [`start_sector`]); 0 for free runs.
    start_sector: u8,
}

impl ChainOut {
    fn encode(&self, w: &mut Writer) {
        w.bytes(&self.links);
        w.bytes(&self.decorated);
        w.ints(&self.winding);
        w.ints(&self.sweep);
        w.floats(&self.flippable);
        w.floats(&self.n_parallel);
        w.u64(self.steps);
        w.u64(self.worms_per_sweep);
        w.u64(self.start_sector as u64);
    }
    fn decode(r: &mut Reader<'_>) -> Result<ChainOut> {
        Ok(ChainOut {
            links: r.bytes()?,
            decorated: r.bytes()?,
            winding: r.ints()?,
            sweep: r.ints()?,
            flippable: r.floats()?,
            n_parallel: r.floats()?,
            steps: r.u64()?,
            worms_per_sweep: r.u64()?,
            start_sector: u8::try_from(r.u64()?)
                .ok()
                .filter(|&k| k < 4)
                .context("internal: start sector out of range")?,
        })
    }
}

struct Setup {
    torus: Torus,
    worm: Worm,
    temperature: f64,
}

fn run_chain(
    args: &DimerArgs,
    s: &Setup,
    c: usize,
    owned: usize,
    progress: &Progress,
    done: &std::sync::atomic::AtomicU64,
) -> Result<ChainOut> {
    let torus = s.torus;
    let words = torus.plane_words();
    let l2 = (args.size * args.size) as u64;
    let job = stream_job(args.interaction, s.temperature, c);
    let mut rng: Xoshiro256PlusPlus = stream(args.seed, job, 0);
    let mut noise_rng: Xoshiro256PlusPlus = stream(args.seed, job, 1);
    let (mut h, mut v) = (vec![0u64; words], vec![0u64; words]);
    let mut out = ChainOut::default();
    if args.interaction == 0.0 {
        // Free runs: the historical start, and no random word spent on it.
        torus.columnar(&mut h, &mut v)?;
    } else {
        use rsmi_core::rng::Rng;
        out.start_sector = start_sector(rng.next_u64());
        columnar_start(torus, &mut h, &mut v, out.start_sector)?;
    }
    // Warm-up with covering sweeps, then calibrate a fixed number of worms per sweep.
    for _ in 0..DIMER_WARMUP {
        let mut steps = 0;
        while steps < l2 {
            steps += s.worm.run(&mut h, &mut v, &mut rng)?;
        }
        out.steps += steps;
    }
    let (mut steps, mut worms) = (0u64, 0u64);
    while steps < DIMER_CALIBRATION * l2 {
        steps += s.worm.run(&mut h, &mut v, &mut rng)?;
        worms += 1;
    }
    out.steps += steps;
    let per_sweep = ((l2 * worms) as f64 / steps as f64).round().max(1.0) as u64;
    out.worms_per_sweep = per_sweep;
    let (mut vertex, mut face) = (vec![0u64; words], vec![0u64; words]);
    let mut dirs = vec![0u8; torus.sites()];
    let link_bytes = DimerFile::link_bytes(args.size);
    let dec_bytes = DimerFile::decorated_bytes(args.size);
    out.links = vec![0; owned * link_bytes];
    if args.decorate != Decorate::None {
        out.decorated = vec![0; owned * dec_bytes];
    }
    let total = args.burn_in + owned as u64 * args.thin;
    let mut t = 0usize;
    for sweep in 1..=total {
        // One batch per loop sweep on the direction view (the same worms as `run`).
        out.steps += s
            .worm
            .run_many_dirs(&mut h, &mut v, &mut dirs, &mut rng, per_sweep)?;
        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if sweep % 16 == 0 {
            progress.set(done.load(std::sync::atomic::Ordering::Relaxed));
        }
        if sweep <= args.burn_in || !(sweep - args.burn_in).is_multiple_of(args.thin) {
            continue;
        }
        decorated::write_links(
            torus,
            &h,
            &v,
            &mut out.links[t * link_bytes..(t + 1) * link_bytes],
        )?;
        if args.decorate != Decorate::None {
            random_plane(torus, &mut noise_rng, &mut vertex);
            match args.decorate {
                Decorate::Paired => face.copy_from_slice(&vertex),
                _ => random_plane(torus, &mut noise_rng, &mut face),
            }
            decorated::write_decorated(
                torus,
                &h,
                &v,
                &vertex,
                &face,
                &mut out.decorated[t * dec_bytes..(t + 1) * dec_bytes],
            )?;
        }
        let (wx, wy) = observables::winding(torus, &h, &v)?;
        out.winding.extend([wx, wy]);
        out.sweep.push(sweep as i64);
        out.flippable
            .push(observables::flippable_plaquettes(torus, &h, &v)? as f64 / l2 as f64);
        out.n_parallel.push(torus.n_parallel(&h, &v)? as f64);
        t += 1;
    }
    Ok(out)
}

/// Random bits for every site of a plane (padding bits stay zero).
fn random_plane(torus: Torus, rng: &mut Xoshiro256PlusPlus, plane: &mut [u64]) {
    use rsmi_core::rng::Rng;
    let sites = torus.sites();
    for (k, w) in plane.iter_mut().enumerate() {
        let r = rng.next_u64();
        let used = sites.saturating_sub(64 * k).min(64);
        *w = if used == 64 {
            r
        } else {
            r & ((1u64 << used) - 1)
        };
    }
}

fn estimate_json(e: &Estimate) -> Value {
    let f = |x: f64| if x.is_finite() { json!(x) } else { Value::Null };
    json!({"mean": f(e.mean), "err": f(e.err), "tau_int": f(e.tau_int), "bin_size": e.bin_size})
}

/// Run `rsmi sample dimer`; returns the JSON summary.
pub fn run(args: &DimerArgs) -> Result<Value> {
    run_inner(args, false).map(|(summary, _)| summary)
}

/// `rsmi sample dimer` without a file, for library callers (the Python module): the
/// samples [`run`] would write, in memory, beside the summary (whose `out` is null).
/// `out` and `force` are ignored.
pub fn run_in_memory(args: &DimerArgs) -> Result<(Value, DimerFile)> {
    let (summary, file) = run_inner(args, true)?;
    Ok((summary, file.context("no samples were kept")?))
}

fn run_inner(args: &DimerArgs, in_memory: bool) -> Result<(Value, Option<DimerFile>)> {
    let team = if in_memory {
        Team::solo()
    } else {
        Team::world()
    };
    team.agree(validate(args))?;
    if !in_memory {
        let checked = if team.is_root() {
            check_output_path(&args.out, args.force)
        } else {
            Ok(())
        };
        team.agree(checked)?;
    }
    let torus = team
        .agree(Torus::new(args.size).map_err(|e| anyhow::anyhow!("--size {}: {e}", args.size)))?;
    let temperature = args.temperature.unwrap_or(f64::INFINITY);
    let exits = match args.exits {
        ExitsArg::HeatBath => Exits::HeatBath,
        ExitsArg::MinimalBounce => Exits::MinimalBounce,
    };
    let worm = team.agree(
        Worm::new(torus, args.interaction, temperature, exits).map_err(|e| anyhow::anyhow!("{e}")),
    )?;
    let plan = Plan::new(args.samples, 1, args.jobs);
    let setup = Setup {
        torus,
        worm,
        temperature,
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
    let m = plan.measurements;
    let mine: Vec<usize> = (0..plan.jobs).filter(|&c| team.owns(c)).collect();
    let total_sweeps = (args.burn_in + m as u64 * args.thin) * mine.len() as u64;
    let progress = Progress::new(total_sweeps, "dimer ");
    let done = std::sync::atomic::AtomicU64::new(0);
    let started = Instant::now();
    let computed: Result<Vec<ChainOut>> = pool.install(|| {
        mine.par_iter()
            .map(|&c| {
                let owned = m.min(args.samples - c * m);
                run_chain(args, &setup, c, owned, &progress, &done)
            })
            .collect()
    });
    let computed = team.agree(computed)?;
    progress.finish();
    // The root collects every rank's chains and puts them in chain order.
    let mut msg = Writer::new();
    for (c, ch) in mine.iter().zip(&computed) {
        msg.u64(*c as u64);
        ch.encode(&mut msg);
    }
    drop(computed);
    let parts = team.gather(msg.buf);
    let chains = match &parts {
        Some(p) => decode_chains(p, plan.jobs).map(Some),
        None => Ok(None),
    };
    let chains = team.agree(chains)?;
    drop(parts);
    let elapsed = started.elapsed().as_secs_f64();
    let result = match chains {
        Some(ch) => assemble_and_write(args, in_memory, &plan, &ch, threads, team.size(), elapsed),
        // Not the root: the root writes the file.
        None => Ok((Value::Null, None)),
    };
    team.agree(result)
}

/// Every rank's chains (messages of chain index + [`ChainOut`]), in chain order.
fn decode_chains(parts: &[Vec<u8>], chains: usize) -> Result<Vec<ChainOut>> {
    let mut slots: Vec<Option<ChainOut>> = (0..chains).map(|_| None).collect();
    for p in parts {
        let mut r = Reader::new(p, 0);
        while !r.at_end() {
            let c = r.u64()? as usize;
            let ch = ChainOut::decode(&mut r)?;
            match slots.get_mut(c) {
                Some(s @ None) => *s = Some(ch),
                _ => bail!("internal: chain {c} arrived twice or out of range"),
            }
        }
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(c, s)| s.with_context(|| format!("internal: chain {c} is missing")))
        .collect()
}

fn assemble_and_write(
    args: &DimerArgs,
    in_memory: bool,
    plan: &Plan,
    chains: &[ChainOut],
    threads: usize,
    ranks: usize,
    elapsed: f64,
) -> Result<(Value, Option<DimerFile>)> {
    let m = plan.measurements;
    let mut file = DimerFile {
        size: args.size,
        n: args.samples,
        links: Vec::new(),
        decorated: (args.decorate != Decorate::None).then(Vec::new),
        winding: Vec::new(),
        chain: Some(Vec::new()),
        sweep: Some(Vec::new()),
        meta: Value::Null,
    };
    let (mut flippable, mut n_parallel, mut wx2) = (Vec::new(), Vec::new(), Vec::new());
    for (c, ch) in chains.iter().enumerate() {
        file.links.extend_from_slice(&ch.links);
        if let Some(d) = file.decorated.as_mut() {
            d.extend_from_slice(&ch.decorated);
        }
        file.winding.extend_from_slice(&ch.winding);
        if let Some(cs) = file.chain.as_mut() {
            cs.extend(std::iter::repeat_n(c as i64, ch.sweep.len()));
        }
        if let Some(s) = file.sweep.as_mut() {
            s.extend_from_slice(&ch.sweep);
        }
        flippable.extend_from_slice(&ch.flippable);
        n_parallel.extend_from_slice(&ch.n_parallel);
        wx2.extend(ch.winding.chunks_exact(2).map(|w| (w[0] * w[0]) as f64));
    }
    // Error analysis over the chains with a complete series.
    let full = (args.samples / m).max(1);
    let used = if args.samples >= m {
        full * m
    } else {
        args.samples
    };
    let chains_used = if args.samples >= m { full } else { 1 };
    let est = |d: &[f64]| stats::binned(&d[..used], chains_used).map_err(anyhow::Error::from);
    let observables = json!({
        "flippable": estimate_json(&est(&flippable)?),
        "n_parallel": estimate_json(&est(&n_parallel)?),
        "winding_x2": estimate_json(&est(&wx2)?),
        "chains_analysed": chains_used,
        "samples_analysed": used,
        "tau_unit": "measurements (thin loop sweeps each)",
        "definitions": "flippable = plaquettes holding two parallel dimers / L^2; n_parallel = N_par (total, E = v * N_par); winding_x2 = W_x^2",
    });
    let steps: u64 = chains.iter().map(|c| c.steps).sum();
    let mut config = json!({
        "model": MODEL,
        "size": args.size,
        "interaction": args.interaction,
        "temperature": args.temperature,
        "exits": match args.exits { ExitsArg::HeatBath => "heat-bath", ExitsArg::MinimalBounce => "minimal-bounce" },
        "samples": args.samples,
        "burn_in": args.burn_in,
        "thin": args.thin,
        "seed": args.seed,
        "decorate": args.decorate.name(),
        "chains": plan.jobs,
        "measurements_per_chain": m,
        "worms_per_sweep": chains.iter().map(|c| c.worms_per_sweep).collect::<Vec<_>>(),
        "warmup_covering_sweeps": DIMER_WARMUP,
        "calibration_covering_sweeps": DIMER_CALIBRATION,
        "start": if args.interaction == 0.0 { "columnar" } else { "columnar-random-sector" },
        "stream_scheme": STREAM_SCHEME,
        "sample_order": "chain-major: sample chain*m + t is the t-th measurement of chain `chain` (m = measurements_per_chain)",
        "max_chains": args.jobs,
    });
    if args.interaction != 0.0 {
        // Provenance only (free runs keep their historical meta byte for byte).
        config["start_sectors"] = json!(chains.iter().map(|c| c.start_sector).collect::<Vec<_>>());
    }
    file.meta = json!({
        "format": "rsmi-samples-1",
        "model": MODEL,
        "size": args.size,
        "config": config,
        "build": provenance::build_info(),
        "observables": observables,
    });
    let out = if in_memory {
        Value::Null
    } else {
        write_dimer_npz(&args.out, true, &file)
            .with_context(|| format!("could not write {}", args.out.display()))?;
        json!(args.out.display().to_string())
    };
    let summary = json!({
        "model": MODEL,
        "size": args.size,
        "interaction": args.interaction,
        "temperature": args.temperature,
        "samples": args.samples,
        "decorate": args.decorate.name(),
        "out": out,
        "observables": observables,
        "run": {
            "threads": threads,
            "ranks": ranks,
            "wall_seconds": elapsed,
            "worm_steps": steps,
            "worm_steps_per_ns": steps as f64 / (elapsed * 1e9),
        },
    });
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok((summary, in_memory.then_some(file)))
}
