//! Shared helpers of the physics validation suite (the tests live in `tests/tests/`).
//!
//! * [`exact`]: the exact 2D reference values of `data/ising2d_exact.json` (a copy of
//!   `tests/data/ising2d_exact.json`), read at run time;
//! * running chains: [`run_local`] (replica / strip layouts), [`run_wolff`], with
//!   [`Series`] collecting per-site observables chain-major;
//! * error analysis through `rsmi_cli::stats` ([`mean_err`], [`binder`]) and the
//!   assertion [`assert_exact`], which always compares with a 4σ tolerance and also
//!   insists on a maximal error bar, so that no test passes for lack of statistics;
//! * [`chi2_threshold`]: the p = 10⁻⁴ point of χ² (Wilson–Hilferty);
//! * [`subspace`]: principal angles between small spans of filters.
//!
//! Set `RSMI_TESTS_VERBOSE=1` to print every comparison (nothing is printed otherwise).

use rsmi_core::Word;
use rsmi_core::ising::wolff::Wolff;
use rsmi_core::ising::{AcceptTable, Counts, Dim, Geometry, Layout};
use rsmi_core::rng::{WordRng, X4, Xoshiro256PlusPlus, stream, stream_x4};
use wide::u64x4;

pub use rsmi_cli::stats;

pub mod subspace;

/// Allowed deviation from an exact value, in standard errors.
pub const SIGMAS: f64 = 4.0;

/// True when `RSMI_TESTS_VERBOSE` is set (print every comparison).
pub fn verbose() -> bool {
    std::env::var_os("RSMI_TESTS_VERBOSE").is_some()
}

/// A word type together with its random stream type.
pub trait Stream: Word {
    /// The generator the kernels take for this word.
    type Rng: WordRng<Self>;
    /// The stream for (`seed`, `job`): `stream` for `u64`, `stream_x4` (lanes 0..4) for
    /// `u64x4`.
    fn rng(seed: u64, job: u64) -> Self::Rng;
}

impl Stream for u64 {
    type Rng = Xoshiro256PlusPlus;
    fn rng(seed: u64, job: u64) -> Xoshiro256PlusPlus {
        stream(seed, job, 0)
    }
}

impl Stream for u64x4 {
    type Rng = X4;
    fn rng(seed: u64, job: u64) -> X4 {
        stream_x4(seed, job, 0)
    }
}

/// A lattice buffer of `words` random words (every chain starts from an infinite-T
/// configuration). Drawn from job `1_000_000 + job` so it never shares numbers with
/// the sampling stream of job `job`.
pub fn random_lattice<W: Word>(words: usize, seed: u64, job: u64) -> Vec<W> {
    let mut r = stream(seed, 1_000_000 + job, 0);
    (0..words)
        .map(|_| W::from_fn(|_| WordRng::<u64>::next_word(&mut r)))
        .collect()
}

/// Chain-major time series of per-site observables: entry `c·len + t` is the mean of
/// measurements `t·block .. (t+1)·block` of chain `c` (`block = 1` keeps every
/// measurement; larger blocks only save memory: binning them is binning the raw series
/// with bin sizes that are multiples of `block`).
#[derive(Debug, Clone)]
pub struct Series {
    /// Number of chains.
    pub chains: usize,
    /// Entries (blocks) per chain.
    pub len: usize,
    /// Measurements per entry.
    pub block: usize,
    /// Bond energy per site, −Σ s_i s_j / N.
    pub e: Vec<f64>,
    /// Magnetisation per site, Σ s_i / N.
    pub m: Vec<f64>,
    /// |m|.
    pub abs_m: Vec<f64>,
    /// m².
    pub m2: Vec<f64>,
    /// m⁴.
    pub m4: Vec<f64>,
}

impl Series {
    /// Empty series for `chains` chains of `meas` measurements in blocks of `block`.
    pub fn new(chains: usize, meas: usize, block: usize) -> Self {
        assert!(
            block >= 1 && meas.is_multiple_of(block),
            "{meas} measurements in blocks of {block}"
        );
        let len = meas / block;
        Series {
            chains,
            len,
            block,
            e: vec![0.0; chains * len],
            m: vec![0.0; chains * len],
            abs_m: vec![0.0; chains * len],
            m2: vec![0.0; chains * len],
            m4: vec![0.0; chains * len],
        }
    }

    /// Store measurement `t` of chain `c`.
    pub fn record_one(&mut self, c: usize, t: usize, k: &Counts, g: &Geometry) {
        let n = g.sites() as f64;
        let w = 1.0 / self.block as f64;
        let i = c * self.len + t / self.block;
        let e = k.bond_energy(g) as f64 / n;
        let m = k.magnetization(g) as f64 / n;
        self.e[i] += w * e;
        self.m[i] += w * m;
        self.abs_m[i] += w * m.abs();
        self.m2[i] += w * m * m;
        self.m4[i] += w * (m * m) * (m * m);
    }

    /// Store measurement `t` of every chain.
    pub fn record(&mut self, t: usize, counts: &[Counts], g: &Geometry) {
        for (c, k) in counts.iter().enumerate() {
            self.record_one(c, t, k, g);
        }
    }

    /// The sub-series of the listed chains.
    pub fn select(&self, chains: &[usize]) -> Series {
        let pick = |v: &Vec<f64>| -> Vec<f64> {
            chains
                .iter()
                .flat_map(|&c| v[c * self.len..(c + 1) * self.len].iter().copied())
                .collect()
        };
        Series {
            chains: chains.len(),
            len: self.len,
            block: self.block,
            e: pick(&self.e),
            m: pick(&self.m),
            abs_m: pick(&self.abs_m),
            m2: pick(&self.m2),
            m4: pick(&self.m4),
        }
    }
}

/// How long to run: `therm` sweeps discarded, then `meas` measurements `thin` sweeps
/// apart; with `global_flip`, every sweep is followed by a random global spin flip of
/// each chain.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Thermalisation sweeps.
    pub therm: usize,
    /// Number of measurements.
    pub meas: usize,
    /// Sweeps per measurement.
    pub thin: usize,
    /// Measurements averaged per stored entry (see [`Series`]).
    pub block: usize,
    /// Random global flips after every sweep (h = 0 only).
    pub global_flip: bool,
}

/// Run the word kernel of `layout` from `lattice` (pending flips `flip`) and record
/// every chain's energy and magnetisation.
pub fn run_local<L: Layout, W: Word, R: WordRng<W>>(
    layout: &L,
    lattice: &mut [W],
    flip: &mut W,
    table: &AcceptTable<W>,
    rng: &mut R,
    s: Schedule,
) -> Series {
    let g = layout.geometry();
    let chains = layout.chains::<W>();
    let mut counts = vec![Counts::default(); chains];
    let mut series = Series::new(chains, s.meas, s.block);
    let step = |lattice: &mut [W], flip: &mut W, rng: &mut R| {
        layout.sweep(lattice, table, rng).unwrap();
        if s.global_flip {
            layout.global_flip(flip, table, rng).unwrap();
        }
    };
    for _ in 0..s.therm {
        step(lattice, flip, rng);
    }
    for t in 0..s.meas {
        for _ in 0..s.thin {
            step(lattice, flip, rng);
        }
        layout.measure(lattice, *flip, &mut counts).unwrap();
        series.record(t, &counts, &g);
    }
    series
}

/// [`run_local`] from a random start with the stream of (`seed`, `job`).
pub fn run_random_start<L: Layout, W: Stream>(
    layout: &L,
    table: &AcceptTable<W>,
    seed: u64,
    job: u64,
    s: Schedule,
) -> Series {
    let mut lattice = random_lattice::<W>(layout.words(), seed, job);
    let mut flip = W::ZERO;
    let mut rng = W::rng(seed, job);
    run_local(layout, &mut lattice, &mut flip, table, &mut rng, s)
}

/// `chains` independent Wolff chains at h = 0 (chain c uses `stream(seed, job, c)`),
/// each from a random start: `therm` Wolff sweeps discarded ([`Wolff::sweep`]: cluster
/// updates until N sites were flipped; from a random start single clusters are tiny),
/// then `meas` measurements `steps` cluster updates apart.
///
/// A fixed number of cluster updates per measurement, on purpose: measuring after each
/// [`Wolff::sweep`] (clusters until their sizes add up to N) is a state-dependent
/// stopping rule, and biases the measured states towards large clusters, i.e. order
/// (20σ at L = 16 … 64, T_c; see the `Wolff::sweep` docs).
#[allow(clippy::too_many_arguments)]
pub fn run_wolff(
    dim: Dim,
    l: usize,
    temperature: f64,
    chains: usize,
    seed: u64,
    job: u64,
    therm: usize,
    meas: usize,
    steps: usize,
) -> Series {
    let w = Wolff::new(dim, l, temperature, 0.0).unwrap();
    let g = w.geometry();
    let mut series = Series::new(chains, meas, 1);
    let mut stack = vec![0u32; w.stack_len()];
    let mut visited = vec![0u64; w.words()];
    for c in 0..chains {
        let mut spins = wolff_start(&w, seed, job * 1000 + c as u64);
        let mut rng = stream(seed, job, c as u64);
        for _ in 0..therm {
            w.sweep(&mut spins, &mut stack, &mut visited, &mut rng)
                .unwrap();
        }
        for t in 0..meas {
            w.steps(&mut spins, &mut stack, &mut visited, &mut rng, steps)
                .unwrap();
            series.record_one(c, t, &w.measure(&spins).unwrap(), &g);
        }
    }
    series
}

/// A random start for a Wolff lattice (padding bits beyond N cleared).
fn wolff_start(w: &Wolff, seed: u64, job: u64) -> Vec<u64> {
    let mut spins = random_lattice::<u64>(w.words(), seed, job);
    let n = w.geometry().sites();
    if !n.is_multiple_of(64) {
        *spins.last_mut().unwrap() &= (1u64 << (n % 64)) - 1;
    }
    spins
}

/// Physical configurations (stored XOR pending flip) of every chain as bitsets over
/// sites (site i = bit i % 64 of word i / 64).
pub fn configurations<L: Layout, W: Word>(layout: &L, lattice: &[W], flip: W) -> Vec<Vec<u64>> {
    let n = layout.geometry().sites();
    (0..layout.chains::<W>())
        .map(|c| {
            let mut v = vec![0u64; n.div_ceil(64)];
            for i in 0..n {
                if layout.spin(lattice, flip, c, i) {
                    v[i / 64] |= 1 << (i % 64);
                }
            }
            v
        })
        .collect()
}

/// Binning estimate of the mean of chain-major `data` (`rsmi_cli::stats::binned`:
/// bins within chains, at least 32 bins, bin size the largest power of two).
///
/// Panics when the chosen bin is not ≥ 8 τ_int (the bins would not be independent,
/// and the error bar would be too small).
pub fn mean_err(what: &str, data: &[f64], chains: usize) -> stats::Estimate {
    let est = stats::binned(data, chains).unwrap();
    assert!(
        est.bin_size as f64 >= 8.0 * est.tau_int,
        "{what}: bins of {} measurements are not ≫ τ_int = {:.1}: run longer ({est:?})",
        est.bin_size,
        est.tau_int
    );
    est
}

/// Binder cumulant U = 1 − ⟨m⁴⟩/(3⟨m²⟩²) with its jackknife error, bins as for the
/// binning error of m² and m⁴ (the larger of the two bin sizes).
pub fn binder(what: &str, s: &Series) -> (f64, f64) {
    let b2 = mean_err(what, &s.m2, s.chains).bin_size;
    let b4 = mean_err(what, &s.m4, s.chains).bin_size;
    stats::jackknife(&[&s.m2, &s.m4], s.chains, b2.max(b4), stats::binder).unwrap()
}

/// Assert |value − exact| ≤ 4σ, and σ ≤ `max_err` (so that the comparison has power).
pub fn assert_exact(what: &str, value: f64, err: f64, exact: f64, max_err: f64) {
    let z = (value - exact) / err;
    if verbose() {
        eprintln!(
            "{what}: {value:.7} ± {err:.2e} vs exact {exact:.7}: |Δ|/σ = {:.2}",
            z.abs()
        );
    }
    assert!(
        err.is_finite() && err > 0.0,
        "{what}: error bar {err} is not positive"
    );
    assert!(
        err <= max_err,
        "{what}: error bar {err:.2e} exceeds the target {max_err:.2e}: too few samples"
    );
    assert!(
        z.abs() <= SIGMAS,
        "{what}: {value} ± {err} vs exact {exact}: |Δ|/σ = {:.2} > {SIGMAS}",
        z.abs()
    );
}

/// [`mean_err`] then [`assert_exact`].
pub fn assert_mean(
    what: &str,
    data: &[f64],
    chains: usize,
    exact: f64,
    max_err: f64,
) -> stats::Estimate {
    let est = mean_err(what, data, chains);
    assert_exact(what, est.mean, est.err, exact, max_err);
    est
}

/// χ² value that a χ²(ν) variable exceeds with probability 10⁻⁴, by the Wilson–Hilferty
/// approximation: (χ²/ν)^{1/3} is nearly normal with mean 1 − 2/(9ν) and variance
/// 2/(9ν), so χ²_p = ν (1 − 2/(9ν) + z_p √(2/(9ν)))³ with z_p = 3.7190 (the
/// upper 10⁻⁴ point of the standard normal).
pub fn chi2_threshold(dof: usize) -> f64 {
    const Z_1E4: f64 = 3.719_016_485_455_709;
    let nu = dof as f64;
    let a = 2.0 / (9.0 * nu);
    nu * (1.0 - a + Z_1E4 * a.sqrt()).powi(3)
}

/// Pearson χ² of observed counts against expected probabilities, after merging
/// adjacent bins (in the given order) until every merged bin expects at least 5 counts.
/// Returns (χ², degrees of freedom = merged bins − 1).
pub fn chi2(observed: &[u64], probabilities: &[f64]) -> (f64, usize) {
    assert_eq!(observed.len(), probabilities.len());
    let total: u64 = observed.iter().sum();
    let mut bins: Vec<(f64, f64)> = Vec::new(); // (observed, expected)
    let mut acc = (0.0, 0.0);
    for (&o, &p) in observed.iter().zip(probabilities) {
        acc.0 += o as f64;
        acc.1 += p * total as f64;
        if acc.1 >= 5.0 {
            bins.push(acc);
            acc = (0.0, 0.0);
        }
    }
    if acc.1 > 0.0 || acc.0 > 0.0 {
        // A remainder below 5 expected counts joins the last bin.
        let last = bins
            .last_mut()
            .expect("fewer than 5 expected counts in total");
        last.0 += acc.0;
        last.1 += acc.1;
    }
    let x2 = bins.iter().map(|(o, e)| (o - e) * (o - e) / e).sum();
    (x2, bins.len() - 1)
}

pub mod exact {
    //! Exact 2D Ising values from `data/ising2d_exact.json` (never from the code under
    //! test).

    use serde_json::Value;
    use std::sync::OnceLock;

    fn data() -> &'static Value {
        static DATA: OnceLock<Value> = OnceLock::new();
        DATA.get_or_init(|| {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/ising2d_exact.json");
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            serde_json::from_str(&text).unwrap()
        })
    }

    fn num(v: &Value, key: &str) -> f64 {
        v[key]
            .as_f64()
            .unwrap_or_else(|| panic!("no number {key} in {v}"))
    }

    /// T_c from the file.
    pub fn t_c() -> f64 {
        num(data(), "T_c")
    }

    /// Field `key` (e, c, abs_m, m2, m4, binder, …) of the finite L×L torus at `t`.
    pub fn finite(l: usize, t: f64, key: &str) -> f64 {
        let list = data()["finite"].as_array().unwrap();
        let entry = list
            .iter()
            .find(|v| v["L"].as_u64() == Some(l as u64) && (num(v, "T") - t).abs() < 1e-9)
            .unwrap_or_else(|| panic!("no finite entry for L = {l}, T = {t}"));
        num(entry, key)
    }

    /// Temperatures listed for the finite L×L torus.
    pub fn finite_temperatures(l: usize) -> Vec<f64> {
        data()["finite"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["L"].as_u64() == Some(l as u64))
            .map(|v| num(v, "T"))
            .collect()
    }

    /// Field `key` (e or m) of the infinite lattice at `t` (Onsager, Yang).
    pub fn infinite(t: f64, key: &str) -> f64 {
        let list = data()["infinite"].as_array().unwrap();
        let entry = list
            .iter()
            .find(|v| (num(v, "T") - t).abs() < 1e-9)
            .unwrap_or_else(|| panic!("no infinite-lattice entry for T = {t}"));
        num(entry, key)
    }

    /// Exact energy distribution of the 4×4 torus at `t`: (E = −Σ s_i s_j, P(E)) sorted
    /// by E.
    pub fn energy_histogram_4x4(t: f64) -> Vec<(i64, f64)> {
        let h = data()["L4_energy_histograms"].as_object().unwrap();
        let (_, v) = h
            .iter()
            .find(|(k, _)| (k.parse::<f64>().unwrap() - t).abs() < 1e-9)
            .unwrap_or_else(|| panic!("no 4x4 histogram for T = {t}"));
        let mut out: Vec<(i64, f64)> = v["P_E"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(e, p)| (e.parse().unwrap(), p.as_f64().unwrap()))
            .collect();
        out.sort_by_key(|&(e, _)| e);
        out
    }
}

/// Equilibrated configurations from Wolff at h = 0 (chain c: `stream(seed, job, c)`,
/// `sweeps` Wolff sweeps from a random start), as bitsets over sites.
pub fn wolff_configurations(
    l: usize,
    temperature: f64,
    chains: usize,
    seed: u64,
    job: u64,
    sweeps: usize,
) -> Vec<Vec<u64>> {
    let w = Wolff::new(Dim::Two, l, temperature, 0.0).unwrap();
    let mut stack = vec![0u32; w.stack_len()];
    let mut visited = vec![0u64; w.words()];
    (0..chains)
        .map(|c| {
            let mut spins = wolff_start(&w, seed, job * 1000 + c as u64);
            let mut rng = stream(seed, job, c as u64);
            for _ in 0..sweeps {
                w.sweep(&mut spins, &mut stack, &mut visited, &mut rng)
                    .unwrap();
            }
            spins
        })
        .collect()
}

/// A lattice buffer of `layout` holding the given per-chain configurations (bitsets
/// over sites, as from [`configurations`]).
pub fn lattice_from<L: Layout, W: Word>(layout: &L, configs: &[Vec<u64>]) -> Vec<W> {
    assert_eq!(configs.len(), layout.chains::<W>());
    let mut lanes = vec![[0u64; 4]; layout.words()];
    for (c, conf) in configs.iter().enumerate() {
        for i in 0..layout.geometry().sites() {
            if (conf[i / 64] >> (i % 64)) & 1 == 1 {
                let (w, b) = layout.locate::<W>(c, i);
                lanes[w][b / 64] |= 1 << (b % 64);
            }
        }
    }
    lanes.iter().map(|l| W::from_fn(|i| l[i])).collect()
}
