//! `rsmi bench dimer`: the dimer kernels measured in one run on this machine.
//!
//! * **Worms** (directed loops, one lattice): worm steps (pivot choices) per ns, the
//!   fast direction-view worm (`Worm::run_many_dirs`, one batch of a loop sweep's worms
//!   per call, the planes converted in and out each time) against the partner-array
//!   reference worm, at v = 0 and at v = −1, T = 0.65 (near T_KT), heat-bath exits.
//! * **Plaquette flips** (replica layout, 64 or 256 lattices per word): plaquette
//!   attempts (plaquettes × replicas) per ns, `u64x4`, `u64` and the bit-by-bit
//!   reference oracle, at the same two (v, T).
//!
//! Rates are medians of 9 batches of thread CPU time on one core (the timing helper of
//! [`super::bench`]). Before a kernel is timed it passes a sanity check: the fast worm
//! and the `u64` plaquette kernel must reproduce their references bit for bit from the
//! same state and stream, and the state after warm-up must be a valid covering.

use crate::provenance;
use anyhow::{Result, bail};
use rsmi_core::dimer::plaquette::{Accept, Plaquettes, reference as pref};
use rsmi_core::dimer::{Exits, Torus, Worm, reference};
use rsmi_core::rng::{WordRng, Xoshiro256PlusPlus, stream, stream_x4};
use rsmi_core::word::Word;
use serde_json::{Value, json};
use wide::u64x4;

use super::bench::{gather_rates, kernel_rates, on_wall_clock, thread_cpu_seconds, time_it};
use crate::cluster::{Collective, Team};

/// Arguments of `rsmi bench dimer`.
#[derive(Debug, Clone, clap::Args)]
pub struct DimerBenchArgs {
    /// Linear size L (even, at least 4).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Seconds of timing per kernel.
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
    /// Print one JSON object per kernel on stdout.
    #[arg(long)]
    pub json: bool,
    /// Which kernels to measure (the plaquette reference oracle takes minutes per
    /// sweep batch at L = 1024; `worm` skips it).
    #[arg(long, value_enum, default_value_t = Kernels::All)]
    pub kernels: Kernels,
    /// Under `mpirun -n P` (a build with --features mpi): every rank measures at the same
    /// time, on the wall clock; rank 0 reports the per-rank rates and their sum.
    #[arg(long)]
    pub mpi: bool,
}

/// The kernel families of `rsmi bench dimer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kernels {
    /// Worms and plaquette flips.
    All,
    /// Worms only.
    Worm,
    /// Plaquette flips only.
    Plaquette,
}

/// One kernel's result.
#[derive(Debug, Clone)]
pub struct DimerRate {
    /// Kernel name (`worm`, `worm_reference`, `plaquette_u64x4`, …).
    pub kernel: String,
    /// Interaction v.
    pub interaction: f64,
    /// Temperature (ignored by the kernels at v = 0).
    pub temperature: f64,
    /// Unit of `per_ns`: `"worm steps"` or `"plaquette attempts"`.
    pub unit: &'static str,
    /// Median rate per nanosecond on one core.
    pub per_ns: f64,
}

/// The two (v, T) points measured: uniform, and aligning near T_KT.
pub const POINTS: [(f64, f64); 2] = [(0.0, 1.0), (-1.0, 0.65)];

fn worm_rates(torus: Torus, v: f64, t: f64, seconds: f64) -> Result<[f64; 2]> {
    let worm = Worm::new(torus, v, t, Exits::HeatBath)?;
    let words = torus.plane_words();
    let (mut h, mut vv) = (vec![0u64; words], vec![0u64; words]);
    let mut rng = stream(1, 0, 0);
    // Warm-up and calibration on the fast kernel (the bit-plane worm needs minutes at
    // L = 1024): columnar start, 20 L² uniform steps, 20 L² steps at (v, T), then the
    // worms per loop sweep from the worms of 4 L² more steps (and at least 1000
    // worms). Worms are short in the
    // ordered start and long at equilibrium, so these are counted in steps (batches of
    // at most 4096 worms), not in worms; only the timed runs must use fixed worm counts.
    let mut dirs = vec![0u8; torus.sites()];
    let n = torus.sites() as u64;
    let mut batches = |w: &Worm,
                       h: &mut [u64],
                       v: &mut [u64],
                       rng: &mut Xoshiro256PlusPlus,
                       target: u64|
     -> Result<(u64, u64)> {
        let (mut worms, mut steps, mut b) = (0u64, 0u64, 16u64);
        // At least 1000 worms: near T_KT the loop lengths are heavy-tailed.
        while steps < target || worms < 1000 {
            steps += w.run_many_dirs(h, v, &mut dirs, rng, b)?;
            worms += b;
            b = (2 * b).min(4096);
        }
        Ok((worms, steps))
    };
    torus.columnar(&mut h, &mut vv)?;
    let uniform = Worm::new(torus, 0.0, 1.0, Exits::HeatBath)?;
    batches(&uniform, &mut h, &mut vv, &mut rng, 20 * n)?;
    batches(&worm, &mut h, &mut vv, &mut rng, 20 * n)?;
    let (worms, steps) = batches(&worm, &mut h, &mut vv, &mut rng, 4 * n)?;
    let per_sweep = ((n as f64 * worms as f64 / steps as f64).round() as u64).max(1);
    torus.validate(&h, &vv)?;
    let mut dirs = vec![0u8; torus.sites()];
    // Sanity: 50 worms of the fast kernel == 50 reference worms, bit for bit.
    let mut partner = vec![0u32; torus.sites()];
    reference::partners_from_planes(torus, &h, &vv, &mut partner)?;
    let (mut r1, mut r2) = (rng.clone(), rng.clone());
    let fast = worm.run_many_dirs(&mut h, &mut vv, &mut dirs, &mut r1, 50)?;
    let mut slow = 0;
    for _ in 0..50 {
        slow += reference::worm(&worm, &mut partner, &mut r2)?;
    }
    let (mut hr, mut vr) = (vec![0u64; words], vec![0u64; words]);
    reference::planes_from_partners(torus, &partner, &mut hr, &mut vr)?;
    if fast != slow || h != hr || vv != vr {
        bail!(
            "kernel worm failed its sanity check: 50 worms differ from the reference worm (v = {v}, T = {t})"
        );
    }
    let f = time_it(seconds, || {
        Ok(worm.run_many_dirs(
            std::hint::black_box(&mut h),
            &mut vv,
            &mut dirs,
            &mut rng,
            per_sweep,
        )?)
    })?;
    let r = time_it(seconds, || {
        let mut s = 0;
        for _ in 0..per_sweep {
            s += reference::worm(&worm, std::hint::black_box(&mut partner), &mut rng)?;
        }
        Ok(s)
    })?;
    Ok([f, r])
}

fn plaquette_check(layout: &Plaquettes, h: &[u64], v: &[u64]) -> Result<()> {
    let torus = Torus::new(layout.size())?;
    let (mut hp, mut vp) = (
        vec![0u64; layout.plane_words()],
        vec![0u64; layout.plane_words()],
    );
    for r in [0, 63] {
        layout.export(h, v, r, &mut hp, &mut vp)?;
        torus.validate(&hp, &vp)?;
    }
    Ok(())
}

fn plaquette_kernel<W: Word, R: WordRng<W>>(
    layout: &Plaquettes,
    accept: &Accept,
    mut rng: R,
    seconds: f64,
) -> Result<f64> {
    let (mut h, mut v) = (vec![W::ZERO; layout.words()], vec![W::ZERO; layout.words()]);
    layout.fill_columnar(&mut h, &mut v)?;
    for _ in 0..20 {
        layout.sweep(&mut h, &mut v, accept, &mut rng)?;
    }
    let torus = Torus::new(layout.size())?;
    let (mut hp, mut vp) = (
        vec![0u64; layout.plane_words()],
        vec![0u64; layout.plane_words()],
    );
    for r in [0, W::BITS - 1] {
        layout.export(&h, &v, r, &mut hp, &mut vp)?;
        torus.validate(&hp, &vp)?;
    }
    let per = (layout.words() * W::BITS) as u64;
    time_it(seconds, || {
        layout.sweep(std::hint::black_box(&mut h), &mut v, accept, &mut rng)?;
        Ok(per)
    })
}

fn plaquette_rates(l: usize, v: f64, t: f64, seconds: f64) -> Result<[f64; 3]> {
    let layout = Plaquettes::new(l)?;
    let accept = if v == 0.0 {
        Accept::uniform()
    } else {
        Accept::heat_bath(v, t)?
    };
    // Sanity: 3 sweeps of the u64 kernel == 3 reference sweeps, bit for bit.
    let (mut h, mut vv) = (vec![0u64; layout.words()], vec![0u64; layout.words()]);
    layout.fill_columnar(&mut h, &mut vv)?;
    let (mut hr, mut vr) = (h.clone(), vv.clone());
    let (mut r1, mut r2): (Xoshiro256PlusPlus, Xoshiro256PlusPlus) =
        (stream(7, 0, 0), stream(7, 0, 0));
    for _ in 0..3 {
        layout.sweep(&mut h, &mut vv, &accept, &mut r1)?;
        pref::sweep_packed(&layout, &mut hr, &mut vr, v, t, &mut r2)?;
    }
    if h != hr || vv != vr {
        bail!(
            "kernel plaquette_u64 failed its sanity check: 3 sweeps differ from the reference (v = {v}, T = {t})"
        );
    }
    plaquette_check(&layout, &h, &vv)?;
    let x4 = plaquette_kernel::<u64x4, _>(&layout, &accept, stream_x4(8, 0, 0), seconds)?;
    let x1 = plaquette_kernel::<u64, _>(&layout, &accept, stream(9, 0, 0), seconds)?;
    let per = (layout.words() * 64) as u64;
    let mut rng = stream(10, 0, 0);
    let rf = time_it(seconds, || {
        pref::sweep_packed(
            &layout,
            std::hint::black_box(&mut hr),
            &mut vr,
            v,
            t,
            &mut rng,
        )?;
        Ok(per)
    })?;
    Ok([x4, x1, rf])
}

/// Measure the chosen dimer kernels at both (v, T) points.
pub fn measure(size: usize, seconds: f64, kernels: Kernels) -> Result<Vec<DimerRate>> {
    let torus = Torus::new(size)?;
    let mut out = Vec::new();
    let rate = |kernel: &str, (v, t): (f64, f64), unit, per_ns| DimerRate {
        kernel: kernel.into(),
        interaction: v,
        temperature: t,
        unit,
        per_ns,
    };
    for p in POINTS.into_iter().filter(|_| kernels != Kernels::Plaquette) {
        let [f, r] = worm_rates(torus, p.0, p.1, seconds)?;
        out.push(rate("worm", p, "worm steps", f));
        out.push(rate("worm_reference", p, "worm steps", r));
    }
    for p in POINTS.into_iter().filter(|_| kernels != Kernels::Worm) {
        let [x4, x1, rf] = plaquette_rates(size, p.0, p.1, seconds)?;
        out.push(rate("plaquette_u64x4", p, "plaquette attempts", x4));
        out.push(rate("plaquette_u64", p, "plaquette attempts", x1));
        out.push(rate("plaquette_reference", p, "plaquette attempts", rf));
    }
    Ok(out)
}

fn check_args(args: &DimerBenchArgs) -> Result<()> {
    if !(args.seconds.is_finite() && args.seconds > 0.0) {
        bail!("--seconds must be a positive number");
    }
    Torus::new(args.size).map_err(|e| anyhow::anyhow!("--size {}: {e}", args.size))?;
    Ok(())
}

/// `rsmi bench dimer --mpi`: every rank measures at once; rank 0 prints per kernel the
/// per-rank rates and their sum.
fn run_mpi(args: &DimerBenchArgs, team: &Team) -> Result<Vec<Value>> {
    team.agree(check_args(args))?;
    let rates = team.agree(on_wall_clock(|| {
        measure(args.size, args.seconds, args.kernels)
    }))?;
    let mine: Vec<f64> = rates.iter().map(|r| r.per_ns).collect();
    let Some(per_rank) = gather_rates(team, &mine) else {
        return Ok(Vec::new());
    };
    let ranks = per_rank.len();
    if !args.json {
        println!(
            "rsmi bench dimer --mpi: {ranks} ranks at once, L={}, wall clock, median of 9 batches per rank",
            args.size
        );
        println!(
            "{:<21} {:>5} {:>12} {:>12} {:>12} {:>14}  unit",
            "kernel", "v", "min/rank", "median/rank", "max/rank", "aggregate"
        );
    }
    let mut objs = Vec::new();
    for (k, r) in rates.iter().enumerate() {
        let (v, aggregate) = kernel_rates(&per_rank, k);
        let o = json!({
            "kernel": r.kernel,
            "model": "dimer",
            "size": args.size,
            "interaction": r.interaction,
            "temperature": if r.interaction == 0.0 { Value::Null } else { json!(r.temperature) },
            "unit": r.unit,
            "ranks": ranks,
            "per_ns_per_rank": v,
            "median_per_rank": v[v.len() / 2],
            "aggregate_per_ns": aggregate,
            "clock": "wall",
        });
        if args.json {
            println!("{o}");
        } else {
            println!(
                "{:<21} {:>5} {:>12.4} {:>12.4} {:>12.4} {:>14.4}  {}/ns",
                r.kernel,
                r.interaction,
                v[0],
                v[v.len() / 2],
                v[v.len() - 1],
                aggregate,
                r.unit
            );
        }
        objs.push(o);
    }
    Ok(objs)
}

/// Run `rsmi bench dimer`.
pub fn run(args: &DimerBenchArgs) -> Result<Vec<Value>> {
    let team = Team::world();
    if team.is_mpi() && !args.mpi {
        return Err(Collective(
            "under mpirun, rsmi bench dimer needs --mpi (every rank then measures at once and \
             rank 0 reports per-rank and aggregate rates)"
                .into(),
        )
        .into());
    }
    if args.mpi {
        return run_mpi(args, &team);
    }
    check_args(args)?;
    let size = args.size;
    if provenance::avx2_unused() {
        eprintln!("{}", provenance::AVX2_WARNING);
    }
    let rates = measure(size, args.seconds, args.kernels)?;
    let simd = provenance::simd_level();
    if !args.json {
        println!(
            "rsmi bench dimer L={size} (one core, median of 9 batches of {}; simd: {simd})",
            if thread_cpu_seconds().is_some() {
                "thread CPU time"
            } else {
                "wall time"
            }
        );
        println!(
            "{:<21} {:>5} {:>5} {:>12} {:>8}  unit",
            "kernel", "v", "T", "per ns", "x ref"
        );
    }
    let mut objs = Vec::new();
    for r in &rates {
        let base = if r.kernel.starts_with("worm") {
            "worm_reference"
        } else {
            "plaquette_reference"
        };
        let reference = rates
            .iter()
            .find(|q| q.kernel == base && q.interaction == r.interaction)
            .map_or(f64::NAN, |q| q.per_ns);
        let ratio = r.per_ns / reference;
        let o = json!({
            "kernel": r.kernel,
            "model": "dimer",
            "size": size,
            "interaction": r.interaction,
            "temperature": if r.interaction == 0.0 { Value::Null } else { json!(r.temperature) },
            "unit": r.unit,
            "per_ns": r.per_ns,
            "ratio_to_reference": ratio,
            "simd": simd,
        });
        if args.json {
            println!("{o}");
        } else {
            let t = if r.interaction == 0.0 {
                "-".to_string()
            } else {
                format!("{}", r.temperature)
            };
            println!(
                "{:<21} {:>5} {:>5} {:>12.4} {:>8.1}  {}/ns",
                r.kernel, r.interaction, t, r.per_ns, ratio, r.unit
            );
        }
        objs.push(o);
    }
    Ok(objs)
}
