//! `rsmi bench`: every Ising kernel measured in one run on this machine.

use super::IsingModel;
use crate::cluster::{Collective, Team};
use crate::provenance;
use anyhow::{Result, bail};
use rsmi_core::ising::{
    AcceptTable, Algorithm, Counts, Dim, Geometry, Layout, Replica, Strip, T_C_2D, local_rule,
    reference, wolff::Wolff,
};
use rsmi_core::rng::{WordRng, stream, stream_x4};
use rsmi_core::word::Word;
use serde_json::{Value, json};
use std::time::Instant;
use wide::u64x4;

/// Arguments of `rsmi bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Model: ising2d or ising1d; set from the subcommand (`rsmi bench ising2d …`).
    #[arg(skip = IsingModel::Ising2d)]
    pub model: IsingModel,
    /// Linear size [default: 256 for ising2d, 65536 for ising1d].
    #[arg(long)]
    pub size: Option<usize>,
    /// Seconds of timing per kernel.
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
    /// Print one JSON object per kernel on stdout.
    #[arg(long)]
    pub json: bool,
    /// Under `mpirun -n P` (a build with --features mpi): every rank measures at the same
    /// time, on the wall clock; rank 0 reports the per-rank rates (weak scaling) and
    /// their sum, the aggregate rate.
    #[arg(long)]
    pub mpi: bool,
}

/// One kernel's result.
#[derive(Debug, Clone)]
pub struct Rate {
    /// Kernel name.
    pub kernel: String,
    /// Median flips (site-update attempts) per nanosecond on one core.
    pub flips_per_ns: f64,
}

/// CPU time of the calling thread in seconds (Linux: /proc/thread-self/schedstat, in
/// ns), so that rates are per core even on a shared machine.
pub fn thread_cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
}

/// A clock: thread CPU time where available, wall time otherwise.
#[derive(Debug, Clone, Copy)]
struct Clock {
    cpu: bool,
}

/// Time on the wall clock even where thread CPU time exists (`rsmi bench --mpi`: ranks
/// that share a node's memory or cores must show it in their rates).
static WALL_CLOCK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Clock {
    fn new() -> Self {
        Clock {
            cpu: !WALL_CLOCK.load(std::sync::atomic::Ordering::Relaxed)
                && thread_cpu_seconds().is_some(),
        }
    }
    fn now(&self, wall0: Instant) -> f64 {
        if self.cpu {
            thread_cpu_seconds().unwrap_or(0.0)
        } else {
            wall0.elapsed().as_secs_f64()
        }
    }
}

/// Time `step` (which returns the number of site updates it did) in batches for about
/// `seconds`, and return the median rate in updates per ns (per core: thread CPU time
/// where the OS reports it).
pub(crate) fn time_it(seconds: f64, mut step: impl FnMut() -> Result<u64>) -> Result<f64> {
    let clock = Clock::new();
    let wall0 = Instant::now();
    // One untimed call (caches, page faults), then 9 batches, each of whole calls until
    // a ninth of the budget (at least 20 ms: the CPU-time clock ticks in milliseconds)
    // has passed on the wall clock. Batches end on time, not on a call count, so calls
    // of very uneven cost (single long worms) still give batches long enough to time.
    step()?;
    let target = (seconds / 9.0).max(0.02);
    let mut rates = Vec::new();
    for _ in 0..9 {
        let t = clock.now(wall0);
        let w = Instant::now();
        let mut updates = 0u64;
        loop {
            updates += step()?;
            if w.elapsed().as_secs_f64() >= target {
                break;
            }
        }
        let dt = (clock.now(wall0) - t).max(1e-9);
        rates.push(updates as f64 / (dt * 1e9));
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[rates.len() / 2])
}

fn temperature(dim: Dim) -> f64 {
    match dim {
        Dim::Two => T_C_2D,
        Dim::One => 1.0,
    }
}

/// Loose sanity window on the energy per site after warm-up: catches a broken kernel
/// before it is timed (not a physics test).
fn check_energy(kernel: &str, g: &Geometry, c: &Counts) -> Result<()> {
    let e = c.bond_energy(g) as f64 / g.sites() as f64;
    let (lo, hi) = match g.dim() {
        Dim::Two => (-1.75, -1.15),
        Dim::One => (-0.95, -0.55),
    };
    if !(lo..=hi).contains(&e) {
        bail!(
            "kernel {kernel} failed its sanity check: energy per site {e:.4} after warm-up is outside [{lo}, {hi}]"
        );
    }
    Ok(())
}

fn local<L: Layout, W: Word, R: WordRng<W>>(
    kernel: &str,
    layout: L,
    mut rng: R,
    seconds: f64,
) -> Result<f64> {
    let g = layout.geometry();
    let t = AcceptTable::<W>::uniform(
        g.z(),
        local_rule(g.dim(), g.size()),
        temperature(g.dim()),
        0.0,
    )?;
    let mut lat = vec![W::ZERO; layout.words()];
    for w in lat.iter_mut() {
        *w = rng.next_word();
    }
    for _ in 0..60 {
        layout.sweep(&mut lat, &t, &mut rng)?;
    }
    let mut counts = vec![Counts::default(); layout.chains::<W>()];
    layout.measure(&lat, W::ZERO, &mut counts)?;
    check_energy(kernel, &g, &counts[0])?;
    let per_sweep = (g.sites() * layout.chains::<W>()) as u64;
    time_it(seconds, || {
        layout.sweep(std::hint::black_box(&mut lat), &t, &mut rng)?;
        Ok(per_sweep)
    })
}

/// Measure every kernel.
pub fn measure(model: IsingModel, size: usize, seconds: f64) -> Result<Vec<Rate>> {
    let dim = model.dim();
    let g = Geometry::new(dim, size)?;
    let temp = temperature(dim);
    let mut out = Vec::new();
    {
        let mut rng = stream(1, 0, 0);
        let mut spins: Vec<i8> = (0..g.sites())
            .map(|_| if rng.next_word() & 1 == 1 { 1 } else { -1 })
            .collect();
        for _ in 0..60 {
            reference::sweep_i8(&g, &mut spins, local_rule(dim, size), temp, 0.0, &mut rng)?;
        }
        let (e, _) = reference::energy_magnetization_i8(&g, &spins);
        check_energy(
            "scalar_reference",
            &g,
            &Counts {
                unsatisfied: ((e + g.bonds() as i64) / 2) as u64,
                up: 0,
            },
        )?;
        let r = time_it(seconds, || {
            reference::sweep_i8(
                &g,
                std::hint::black_box(&mut spins),
                Algorithm::Metropolis,
                temp,
                0.0,
                &mut rng,
            )?;
            Ok(g.sites() as u64)
        })?;
        out.push(Rate {
            kernel: "scalar_reference".into(),
            flips_per_ns: r,
        });
    }
    let rep = Replica::new(dim, size)?;
    out.push(Rate {
        kernel: "replica_u64".into(),
        flips_per_ns: local::<_, u64, _>("replica_u64", rep, stream(2, 0, 0), seconds)?,
    });
    out.push(Rate {
        kernel: "replica_u64x4".into(),
        flips_per_ns: local::<_, u64x4, _>("replica_u64x4", rep, stream_x4(3, 0, 0), seconds)?,
    });
    if Strip::supports(size) {
        let st = Strip::new(dim, size)?;
        out.push(Rate {
            kernel: "strip_u64".into(),
            flips_per_ns: local::<_, u64, _>("strip_u64", st, stream(4, 0, 0), seconds)?,
        });
        out.push(Rate {
            kernel: "strip_u64x4".into(),
            flips_per_ns: local::<_, u64x4, _>("strip_u64x4", st, stream_x4(5, 0, 0), seconds)?,
        });
    } else {
        eprintln!(
            "note: strip kernels skipped (size {size} is not a multiple of 64 of at least 128)"
        );
    }
    {
        let w = Wolff::new(dim, size, temp, 0.0)?;
        let mut spins = vec![!0u64; w.words()];
        if g.sites() % 64 != 0 {
            if let Some(l) = spins.last_mut() {
                *l &= (1u64 << (g.sites() % 64)) - 1;
            }
        }
        let mut stack = vec![0u32; w.stack_len()];
        let mut visited = vec![0u64; w.words()];
        let mut rng = stream(6, 0, 0);
        for _ in 0..30 {
            w.sweep(&mut spins, &mut stack, &mut visited, &mut rng)?;
        }
        check_energy("wolff", &g, &w.measure(&spins)?)?;
        let r = time_it(seconds, || {
            let mut covered = 0u64;
            while covered < g.sites() as u64 {
                covered += w.step(&mut spins, &mut stack, &mut visited, &mut rng)?.size as u64;
            }
            Ok(covered)
        })?;
        out.push(Rate {
            kernel: "wolff".into(),
            flips_per_ns: r,
        });
    }
    Ok(out)
}

/// Run `rsmi bench`.
pub fn run(args: &BenchArgs) -> Result<Vec<Value>> {
    let team = Team::world();
    if team.is_mpi() && !args.mpi {
        return Err(Collective(
            "under mpirun, rsmi bench needs --mpi (every rank then measures at once and rank 0 \
             reports per-rank and aggregate rates)"
                .into(),
        )
        .into());
    }
    if args.mpi {
        return run_mpi(args, &team);
    }
    run_local(args)
}

fn check_args(args: &BenchArgs) -> Result<usize> {
    let size = args.size.unwrap_or(match args.model {
        IsingModel::Ising2d => 256,
        IsingModel::Ising1d => 65536,
    });
    if !(args.seconds.is_finite() && args.seconds > 0.0) {
        bail!("--seconds must be a positive number");
    }
    Geometry::new(args.model.dim(), size).map_err(|e| anyhow::anyhow!("--size {size}: {e}"))?;
    Ok(size)
}

/// Run `f` with the benchmark clock on wall time (`--mpi`: ranks that share a node must
/// show it in their rates).
pub(crate) fn on_wall_clock<T>(f: impl FnOnce() -> T) -> T {
    WALL_CLOCK.store(true, std::sync::atomic::Ordering::Relaxed);
    let out = f();
    WALL_CLOCK.store(false, std::sync::atomic::Ordering::Relaxed);
    out
}

/// Every rank's rates (one per kernel) on the root, one row per rank; `None` elsewhere.
pub(crate) fn gather_rates(team: &Team, rates: &[f64]) -> Option<Vec<Vec<f64>>> {
    let mine: Vec<u8> = rates.iter().flat_map(|r| r.to_le_bytes()).collect();
    let parts = team.gather(mine)?;
    Some(
        parts
            .iter()
            .map(|p| {
                p.chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default()))
                    .collect()
            })
            .collect(),
    )
}

/// Kernel `k`'s rate on every rank, sorted, and their sum (the aggregate rate).
pub(crate) fn kernel_rates(per_rank: &[Vec<f64>], k: usize) -> (Vec<f64>, f64) {
    let mut v: Vec<f64> = per_rank.iter().filter_map(|p| p.get(k).copied()).collect();
    let aggregate = v.iter().sum();
    v.sort_by(f64::total_cmp);
    (v, aggregate)
}

/// `rsmi bench --mpi`: all ranks measure at once (wall clock); rank 0 prints, per kernel,
/// the per-rank rates and their sum.
fn run_mpi(args: &BenchArgs, team: &Team) -> Result<Vec<Value>> {
    let size = team.agree(check_args(args))?;
    let rates = team.agree(on_wall_clock(|| measure(args.model, size, args.seconds)))?;
    let mine: Vec<f64> = rates.iter().map(|r| r.flips_per_ns).collect();
    let Some(per_rank) = gather_rates(team, &mine) else {
        return Ok(Vec::new());
    };
    let ranks = per_rank.len();
    let simd = provenance::simd_level();
    if !args.json {
        println!(
            "rsmi bench {} --mpi: {ranks} ranks at once, L={size}, wall clock, median of 9 batches per rank; simd: {simd}",
            args.model.name()
        );
        println!(
            "{:<18} {:>12} {:>12} {:>12} {:>14}",
            "kernel", "min/rank", "median/rank", "max/rank", "aggregate"
        );
    }
    let mut objs = Vec::new();
    for (k, r) in rates.iter().enumerate() {
        let (v, aggregate) = kernel_rates(&per_rank, k);
        let o = json!({
            "kernel": r.kernel,
            "model": args.model.name(),
            "size": size,
            "ranks": ranks,
            "flips_per_ns_per_rank": v,
            "median_per_rank": v[v.len() / 2],
            "aggregate_flips_per_ns": aggregate,
            "clock": "wall",
            "simd": simd,
        });
        if args.json {
            println!("{o}");
        } else {
            println!(
                "{:<18} {:>12.4} {:>12.4} {:>12.4} {:>14.4}",
                r.kernel,
                v[0],
                v[v.len() / 2],
                v[v.len() - 1],
                aggregate
            );
        }
        objs.push(o);
    }
    Ok(objs)
}

fn run_local(args: &BenchArgs) -> Result<Vec<Value>> {
    let size = check_args(args)?;
    if provenance::avx2_unused() {
        eprintln!("{}", provenance::AVX2_WARNING);
    }
    let rates = measure(args.model, size, args.seconds)?;
    let scalar = rates[0].flips_per_ns;
    let simd = provenance::simd_level();
    let mut objs = Vec::new();
    if !args.json {
        println!(
            "rsmi bench {} L={size} T={} (one core, median of 9 batches of {}; simd: {simd})",
            args.model.name(),
            temperature(args.model.dim()),
            if thread_cpu_seconds().is_some() {
                "thread CPU time"
            } else {
                "wall time"
            }
        );
        println!("{:<18} {:>12} {:>14}", "kernel", "flips/ns", "x scalar ref");
    }
    for r in &rates {
        let o = json!({
            "kernel": r.kernel,
            "model": args.model.name(),
            "size": size,
            "flips_per_ns": r.flips_per_ns,
            "ratio_to_scalar": r.flips_per_ns / scalar,
            "simd": simd,
        });
        if args.json {
            println!("{o}");
        } else {
            println!(
                "{:<18} {:>12.4} {:>14.1}",
                r.kernel,
                r.flips_per_ns,
                r.flips_per_ns / scalar
            );
        }
        objs.push(o);
    }
    if !args.json {
        println!(
            "(wolff counts flipped cluster sites per ns; compare cost per independent sample, not flips)"
        );
    }
    Ok(objs)
}
