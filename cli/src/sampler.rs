//! Running many independent Markov chains: the job plan, the chain engines and the
//! deterministic collection of samples.
//!
//! A run is split into `jobs`, each a bundle of independent chains advanced by one
//! engine: 256 replicas (replica layout, one `u64x4` per site), 4 lattices (strip layout,
//! one per `u64x4` lane) or 1 lattice (Wolff). The plan depends only on the requested
//! samples, never on the thread count, and every job draws from its own streams
//! `stream(seed, job_id, lane)`, so results are bit-identical whatever `--threads`.
//!
//! Sample order in the output: chain-major, then time: sample `chain·m + t` is the
//! t-th measurement of global chain `chain = job·chains_per_job + c`.

use anyhow::{Result, bail};
use rsmi_core::ising::{
    self, AcceptTable, Algorithm, Counts, Dim, Geometry, Layout, Replica, Strip, T_C_2D,
    wolff::Wolff,
};
use rsmi_core::rng::{X4, Xoshiro256PlusPlus, stream, stream_x4};
use rsmi_core::word::Word;
use wide::u64x4;

/// Update method, resolved (no `auto` left).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Multi-spin local updates in the replica layout (256 replicas per job).
    Replica(Algorithm),
    /// Multi-spin local updates in the strip layout (4 lattices per job).
    Strip(Algorithm),
    /// Wolff cluster updates (1 lattice per job).
    Wolff,
}

impl Method {
    /// Independent chains advanced together by one job.
    pub fn chains_per_job(self) -> usize {
        match self {
            Method::Replica(_) => <u64x4 as Word>::BITS,
            Method::Strip(_) => <u64x4 as Word>::LANES,
            Method::Wolff => 1,
        }
    }
    /// Name of the algorithm for provenance.
    pub fn algorithm_name(self) -> &'static str {
        match self {
            Method::Replica(a) | Method::Strip(a) => match a {
                Algorithm::Metropolis => "metropolis",
                Algorithm::MetropolisHalf => "metropolis-half",
                Algorithm::HeatBath => "heat-bath",
            },
            Method::Wolff => "wolff",
        }
    }
    /// Name of the layout for provenance.
    pub fn layout_name(self) -> &'static str {
        match self {
            Method::Replica(_) => "replica",
            Method::Strip(_) => "strip",
            Method::Wolff => "bits (row-major, one lattice)",
        }
    }
}

/// Everything that determines the samples of one temperature.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// Ring or torus.
    pub dim: Dim,
    /// Linear size L.
    pub size: usize,
    /// Temperature.
    pub temperature: f64,
    /// Field h.
    pub field: f64,
    /// Update method.
    pub method: Method,
    /// Samples to produce.
    pub samples: usize,
    /// Sweeps before the first measurement.
    pub burn_in: u64,
    /// Sweeps between measurements.
    pub thin: u64,
    /// Master seed.
    pub seed: u64,
}

/// How the samples are split over jobs and chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Number of jobs.
    pub jobs: usize,
    /// Chains per job.
    pub chains_per_job: usize,
    /// Measurements per chain (m).
    pub measurements: usize,
}

/// Default most jobs (`--jobs`): enough to feed 16 cores, few enough to keep burn-in
/// cheap. A fixed number, never the machine's core count, so that the default plan (and
/// with it the samples) is the same everywhere.
pub const DEFAULT_JOBS: usize = 16;

/// Largest `--jobs` (the job number is the low 32 bits of a stream id).
pub const MAX_JOBS: usize = 1 << 20;

impl Plan {
    /// The plan for `samples` samples with `chains_per_job` chains per job and at most
    /// `max_jobs` jobs: each job measures each of its chains m = ⌈samples / (max_jobs ·
    /// chains_per_job)⌉ times, and as many jobs as needed (≤ max_jobs) cover the samples.
    pub fn new(samples: usize, chains_per_job: usize, max_jobs: usize) -> Plan {
        let per_round = max_jobs.clamp(1, MAX_JOBS) * chains_per_job;
        let measurements = samples.div_ceil(per_round).max(1);
        let jobs = samples.div_ceil(chains_per_job * measurements).max(1);
        Plan {
            jobs,
            chains_per_job,
            measurements,
        }
    }
    /// Sweeps each job runs.
    pub fn sweeps(&self, spec: &RunSpec) -> u64 {
        spec.burn_in + self.measurements as u64 * spec.thin
    }
}

/// High part of the stream job id: a hash of (T, h), so that a temperature's samples do
/// not depend on the other temperatures of the same command, while different
/// temperatures never share random numbers.
pub fn stream_job(spec: &RunSpec, job: usize) -> u64 {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let h = mix(spec.temperature.to_bits() ^ mix(spec.field.to_bits() ^ 0x5253_4d49));
    (h & !0xffff_ffff) | job as u64
}

/// A bundle of chains advanced together.
pub trait Engine: Send + std::fmt::Debug {
    /// Number of chains.
    fn chains(&self) -> usize;
    /// One sweep of every chain.
    fn sweep(&mut self) -> Result<()>;
    /// Counts of every chain.
    fn measure(&self, out: &mut [Counts]) -> Result<()>;
    /// Chain `chain` as NumPy packed bits.
    fn export(&self, chain: usize, out: &mut [u8]) -> Result<()>;
    /// Full state (lattice, pending flips, random streams) as words.
    fn save(&self) -> Vec<u64>;
    /// Restore a state written by [`Engine::save`].
    fn restore(&mut self, words: &[u64]) -> Result<()>;
}

/// Multi-spin local updates over a [`Layout`] with `u64x4` words.
#[derive(Debug)]
pub struct LocalEngine<L: Layout> {
    layout: L,
    table: Box<AcceptTable<u64x4>>,
    lattice: Vec<u64x4>,
    flip: u64x4,
    rng: X4,
    global_flips: bool,
}

fn rng_words(r: &Xoshiro256PlusPlus) -> [u64; 4] {
    let s = r.state();
    std::array::from_fn(|j| u64::from_le_bytes(s[8 * j..8 * j + 8].try_into().unwrap_or([0; 8])))
}

fn rng_from_words(w: &[u64]) -> Xoshiro256PlusPlus {
    use rsmi_core::rng::SeedableRng;
    let mut seed = [0u8; 32];
    for (j, x) in w.iter().take(4).enumerate() {
        seed[8 * j..8 * j + 8].copy_from_slice(&x.to_le_bytes());
    }
    Xoshiro256PlusPlus::from_seed(seed)
}

impl<L: Layout + Send + Sync + std::fmt::Debug> LocalEngine<L> {
    fn new(layout: L, spec: &RunSpec, algorithm: Algorithm, job: usize) -> Result<Self> {
        let g = layout.geometry();
        let table = Box::new(AcceptTable::<u64x4>::uniform(
            g.z(),
            algorithm,
            spec.temperature,
            spec.field,
        )?);
        let mut rng = stream_x4(spec.seed, stream_job(spec, job), 0);
        let cold = cold_start(spec);
        let lattice = (0..layout.words())
            .map(|_| if cold { u64x4::ONES } else { rng.next_all() })
            .collect();
        Ok(LocalEngine {
            layout,
            table,
            lattice,
            flip: u64x4::ZERO,
            rng,
            global_flips: spec.field == 0.0,
        })
    }
}

/// Ordered start below T_c in 2D (and for the 1D ring below T = 1), random otherwise.
pub fn cold_start(spec: &RunSpec) -> bool {
    match spec.dim {
        Dim::Two => spec.temperature < T_C_2D,
        Dim::One => spec.temperature < 1.0,
    }
}

impl<L: Layout + Send + Sync + std::fmt::Debug> Engine for LocalEngine<L> {
    fn chains(&self) -> usize {
        self.layout.chains::<u64x4>()
    }
    fn sweep(&mut self) -> Result<()> {
        self.layout
            .sweep(&mut self.lattice, &self.table, &mut self.rng)?;
        if self.global_flips {
            self.layout
                .global_flip(&mut self.flip, &self.table, &mut self.rng)?;
        }
        Ok(())
    }
    fn measure(&self, out: &mut [Counts]) -> Result<()> {
        Ok(self.layout.measure(&self.lattice, self.flip, out)?)
    }
    fn export(&self, chain: usize, out: &mut [u8]) -> Result<()> {
        Ok(ising::export_packed(
            &self.layout,
            &self.lattice,
            self.flip,
            chain,
            out,
        )?)
    }
    fn save(&self) -> Vec<u64> {
        let mut v = Vec::with_capacity(4 * self.lattice.len() + 20);
        for w in self.lattice.iter().chain(std::iter::once(&self.flip)) {
            v.extend_from_slice(&w.to_array());
        }
        for r in self.rng.to_lanes() {
            v.extend_from_slice(&rng_words(&r));
        }
        v
    }
    fn restore(&mut self, words: &[u64]) -> Result<()> {
        let n = self.lattice.len();
        if words.len() != 4 * (n + 1) + 16 {
            bail!("checkpoint state has the wrong size for this lattice");
        }
        for (i, w) in self.lattice.iter_mut().enumerate() {
            *w = u64x4::new(words[4 * i..4 * i + 4].try_into()?);
        }
        self.flip = u64x4::new(words[4 * n..4 * n + 4].try_into()?);
        let r = &words[4 * (n + 1)..];
        let lanes: [Xoshiro256PlusPlus; 4] =
            std::array::from_fn(|i| rng_from_words(&r[4 * i..4 * i + 4]));
        self.rng = X4::from_lanes(&lanes);
        Ok(())
    }
}

/// Covering sweeps run when a Wolff engine is built, to fix its clusters per sweep.
///
/// A "sweep until the clusters cover N sites" ends at a time that depends on the cluster
/// sizes, and measuring there is biased (see `Wolff::sweep`). So each engine first runs
/// [`WOLFF_WARMUP`] covering sweeps (from a random start clusters are tiny at first), then
/// this many more, and uses their mean number of clusters (rounded, ≥ 1) as a fixed number
/// of cluster updates per sweep for burn-in and sampling.
pub const WOLFF_CALIBRATION: u64 = 20;
/// Covering sweeps before the calibration (Wolff equilibrates in a few sweeps).
pub const WOLFF_WARMUP: u64 = 20;

/// Wolff cluster updates on one lattice.
#[derive(Debug)]
pub struct WolffEngine {
    wolff: Wolff,
    /// Cluster updates per sweep, fixed after calibration (see [`WOLFF_CALIBRATION`]).
    clusters_per_sweep: u64,
    spins: Vec<u64>,
    stack: Vec<u32>,
    visited: Vec<u64>,
    rng: Xoshiro256PlusPlus,
}

impl WolffEngine {
    fn new(spec: &RunSpec, job: usize) -> Result<Self> {
        let wolff = Wolff::new(spec.dim, spec.size, spec.temperature, spec.field)?;
        let mut rng = stream(spec.seed, stream_job(spec, job), 0);
        let n = wolff.geometry().sites();
        let cold = cold_start(spec);
        let mut spins: Vec<u64> = (0..wolff.words())
            .map(|_| if cold { !0 } else { rand_u64(&mut rng) })
            .collect();
        if n % 64 != 0 {
            if let Some(last) = spins.last_mut() {
                *last &= (1u64 << (n % 64)) - 1;
            }
        }
        let mut stack = vec![0; wolff.stack_len()];
        let mut visited = vec![0; wolff.words()];
        for _ in 0..WOLFF_WARMUP {
            wolff.sweep(&mut spins, &mut stack, &mut visited, &mut rng)?;
        }
        let mut clusters = 0u64;
        for _ in 0..WOLFF_CALIBRATION {
            clusters += wolff.sweep(&mut spins, &mut stack, &mut visited, &mut rng)? as u64;
        }
        let clusters_per_sweep =
            ((clusters as f64 / WOLFF_CALIBRATION as f64).round() as u64).max(1);
        Ok(WolffEngine {
            stack,
            visited,
            wolff,
            clusters_per_sweep,
            spins,
            rng,
        })
    }
}

fn rand_u64(r: &mut Xoshiro256PlusPlus) -> u64 {
    use rsmi_core::rng::Rng;
    r.next_u64()
}

impl Engine for WolffEngine {
    fn chains(&self) -> usize {
        1
    }
    fn sweep(&mut self) -> Result<()> {
        self.wolff.steps(
            &mut self.spins,
            &mut self.stack,
            &mut self.visited,
            &mut self.rng,
            self.clusters_per_sweep as usize,
        )?;
        Ok(())
    }
    fn measure(&self, out: &mut [Counts]) -> Result<()> {
        if out.len() != 1 {
            bail!("Wolff engines hold one chain");
        }
        out[0] = self.wolff.measure(&self.spins)?;
        Ok(())
    }
    fn export(&self, _chain: usize, out: &mut [u8]) -> Result<()> {
        Ok(ising::wolff::export_packed(&self.wolff, &self.spins, out)?)
    }
    fn save(&self) -> Vec<u64> {
        let mut v = self.spins.clone();
        v.extend_from_slice(&rng_words(&self.rng));
        v.push(self.clusters_per_sweep);
        v
    }
    fn restore(&mut self, words: &[u64]) -> Result<()> {
        let n = self.spins.len();
        if words.len() != n + 5 {
            bail!("checkpoint state has the wrong size for this lattice");
        }
        self.spins.copy_from_slice(&words[..n]);
        self.rng = rng_from_words(&words[n..n + 4]);
        self.clusters_per_sweep = words[n + 4].max(1);
        Ok(())
    }
}

/// Build the engine of job `job`.
pub fn engine(spec: &RunSpec, job: usize) -> Result<Box<dyn Engine>> {
    Ok(match spec.method {
        Method::Replica(a) => Box::new(LocalEngine::new(
            Replica::new(spec.dim, spec.size)?,
            spec,
            a,
            job,
        )?),
        Method::Strip(a) => Box::new(LocalEngine::new(
            Strip::new(spec.dim, spec.size)?,
            spec,
            a,
            job,
        )?),
        Method::Wolff => Box::new(WolffEngine::new(spec, job)?),
    })
}

/// Bytes of one packed sample.
pub fn sample_bytes(dim: Dim, size: usize) -> usize {
    let rows = match dim {
        Dim::One => 1,
        Dim::Two => size,
    };
    rows * ising::packed_row_bytes(size)
}

/// Samples with their per-sample records, in canonical order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Samples {
    /// Packed spins.
    pub spins: Vec<u8>,
    /// Bond energies.
    pub energy: Vec<i64>,
    /// Magnetisations.
    pub magnetization: Vec<i64>,
    /// Global chain of each sample.
    pub chain: Vec<i64>,
    /// Sweep at which each sample was taken.
    pub sweep: Vec<i64>,
}

impl Samples {
    /// `n` zeroed samples of `bytes` packed bytes each.
    pub fn zeroed(n: usize, bytes: usize) -> Self {
        Samples {
            spins: vec![0; n * bytes],
            energy: vec![0; n],
            magnetization: vec![0; n],
            chain: vec![0; n],
            sweep: vec![0; n],
        }
    }
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.energy.len()
    }
    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.energy.is_empty()
    }
    /// Append `other` after these samples.
    pub fn extend(&mut self, other: &Samples) {
        self.spins.extend_from_slice(&other.spins);
        self.energy.extend_from_slice(&other.energy);
        self.magnetization.extend_from_slice(&other.magnetization);
        self.chain.extend_from_slice(&other.chain);
        self.sweep.extend_from_slice(&other.sweep);
    }
}

/// One job: its engine, progress and the slice of the output it owns.
#[derive(Debug)]
pub struct Job {
    /// Job index.
    pub index: usize,
    /// Sweeps done so far.
    pub sweeps_done: u64,
    engine: Box<dyn Engine>,
    /// First global sample index owned by this job.
    pub first_sample: usize,
    /// The owned samples (filled as they are measured).
    pub samples: Samples,
    counts: Vec<Counts>,
    geometry: Geometry,
}

impl Job {
    /// Job `index` of `plan`, at sweep 0.
    pub fn new(spec: &RunSpec, plan: &Plan, index: usize) -> Result<Job> {
        let per_job = plan.chains_per_job * plan.measurements;
        let first = index * per_job;
        let owned = per_job.min(spec.samples.saturating_sub(first));
        let bytes = sample_bytes(spec.dim, spec.size);
        let engine = engine(spec, index)?;
        Ok(Job {
            index,
            sweeps_done: 0,
            counts: vec![Counts::default(); engine.chains()],
            engine,
            first_sample: first,
            samples: Samples::zeroed(owned, bytes),
            geometry: Geometry::new(spec.dim, spec.size)?,
        })
    }

    /// Samples this job owns.
    pub fn owned(&self) -> usize {
        self.samples.len()
    }

    /// Advance by up to `max_sweeps` sweeps (never past the end of the plan), measuring
    /// on schedule.
    pub fn advance(&mut self, spec: &RunSpec, plan: &Plan, max_sweeps: u64) -> Result<()> {
        let end = plan.sweeps(spec).min(self.sweeps_done + max_sweeps);
        let bytes = sample_bytes(spec.dim, spec.size);
        let m = plan.measurements;
        while self.sweeps_done < end {
            self.engine.sweep()?;
            self.sweeps_done += 1;
            let s = self.sweeps_done;
            if s <= spec.burn_in || !(s - spec.burn_in).is_multiple_of(spec.thin) {
                continue;
            }
            let t = ((s - spec.burn_in) / spec.thin - 1) as usize;
            self.engine.measure(&mut self.counts)?;
            for c in 0..plan.chains_per_job {
                let local = c * m + t;
                if local >= self.owned() {
                    continue;
                }
                let out = &mut self.samples;
                self.engine
                    .export(c, &mut out.spins[local * bytes..(local + 1) * bytes])?;
                out.energy[local] = self.counts[c].bond_energy(&self.geometry);
                out.magnetization[local] = self.counts[c].magnetization(&self.geometry);
                out.chain[local] = (self.index * plan.chains_per_job + c) as i64;
                out.sweep[local] = s as i64;
            }
        }
        Ok(())
    }

    /// Whether every sweep of the plan is done.
    pub fn finished(&self, spec: &RunSpec, plan: &Plan) -> bool {
        self.sweeps_done >= plan.sweeps(spec)
    }

    /// Engine state for checkpoints.
    pub fn save_engine(&self) -> Vec<u64> {
        self.engine.save()
    }

    /// Restore engine state and progress from a checkpoint.
    pub fn restore_engine(&mut self, sweeps_done: u64, words: &[u64]) -> Result<()> {
        self.engine.restore(words)?;
        self.sweeps_done = sweeps_done;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_the_samples_with_little_waste() {
        for (n, cpj) in [
            (1, 256),
            (5000, 256),
            (5000, 4),
            (5000, 1),
            (17, 1),
            (100_000, 256),
            (3, 4),
        ] {
            let p = Plan::new(n, cpj, DEFAULT_JOBS);
            let total = p.jobs * p.chains_per_job * p.measurements;
            assert!(total >= n, "{n} {cpj} {p:?}");
            assert!(
                total - n < p.chains_per_job * p.measurements,
                "{n} {cpj} {p:?}"
            );
            assert!(p.jobs <= DEFAULT_JOBS);
            let q = Plan::new(n, cpj, 4096);
            assert!(q.jobs <= 4096 && q.jobs * cpj * q.measurements >= n);
        }
        assert_eq!(Plan::new(100_000, 1, 4096).jobs, 4000);
        assert_eq!(
            Plan::new(5000, 256, DEFAULT_JOBS),
            Plan {
                jobs: 10,
                chains_per_job: 256,
                measurements: 2
            }
        );
    }
}
