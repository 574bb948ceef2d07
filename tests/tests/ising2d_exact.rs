//! Replica layout (`u64x4`, 256 replicas) against the exact small tori of
//! `data/ising2d_exact.json`: moments at L = 4 and 8 for every listed temperature, and the
//! exact 4×4 energy distribution (χ² test).
//!
//! Every replica (bit) is an independent chain, so the binning error with whole chains as
//! bins is exact whatever the autocorrelation; several temperatures share one word
//! through per-bit temperatures (bit b runs at temperature b mod k).

use rsmi_core::Word;
use rsmi_core::ising::{AcceptTable, Algorithm, Counts, Dim, Layout, Replica};
use rsmi_core::rng::WordRng;
use rsmi_tests::*;
use wide::u64x4;

/// Observables checked against the file, with the largest error bar accepted for each
/// (over all temperatures of one run): e, ⟨|m|⟩, ⟨m²⟩, Binder, ⟨m⟩ (= 0 by the global
/// flips).
struct Targets {
    e: f64,
    abs_m: f64,
    m2: f64,
    binder: f64,
    m: f64,
}

fn replica_vs_exact(l: usize, algorithm: Algorithm, seed: u64, schedule: Schedule, max: Targets) {
    let temps = exact::finite_temperatures(l);
    assert_eq!(
        temps.len(),
        6,
        "L = {l}: expected six temperatures in the file"
    );
    let k = temps.len();
    let per_bit: Vec<f64> = (0..256).map(|b| temps[b % k]).collect();
    let table = AcceptTable::<u64x4>::per_bit(4, algorithm, &per_bit, 0.0).unwrap();
    let layout = Replica::new(Dim::Two, l).unwrap();
    let all = run_random_start(&layout, &table, seed, 0, schedule);
    for (i, &t) in temps.iter().enumerate() {
        let chains: Vec<usize> = (0..256).filter(|b| b % k == i).collect();
        let s = all.select(&chains);
        let tag = format!("L={l} {algorithm:?} T={t:.4}");
        let n = s.chains;
        assert_mean(
            &format!("{tag} e"),
            &s.e,
            n,
            exact::finite(l, t, "e"),
            max.e,
        );
        assert_mean(
            &format!("{tag} |m|"),
            &s.abs_m,
            n,
            exact::finite(l, t, "abs_m"),
            max.abs_m,
        );
        assert_mean(
            &format!("{tag} m2"),
            &s.m2,
            n,
            exact::finite(l, t, "m2"),
            max.m2,
        );
        assert_mean(&format!("{tag} m"), &s.m, n, 0.0, max.m);
        let (u, du) = binder(&tag, &s);
        assert_exact(
            &format!("{tag} binder"),
            u,
            du,
            exact::finite(l, t, "binder"),
            max.binder,
        );
    }
}

const L4: Schedule = Schedule {
    therm: 1000,
    meas: 65536,
    thin: 2,
    block: 16,
    global_flip: true,
};

const L8: Schedule = Schedule {
    therm: 2000,
    meas: 65536,
    thin: 2,
    block: 16,
    global_flip: true,
};

/// Largest error bars accepted (the measured ones are about half of these).
const MAX: Targets = Targets {
    e: 1e-3,
    abs_m: 1e-3,
    m2: 1e-3,
    binder: 2e-3,
    m: 2e-3,
};

// L = 4 only with trap-free rules: plain sequential Metropolis (ΔE = 0 always accepted)
// has absorbing deterministic cycles on the 4×4 torus (`trapped_states_4x4`).

#[test]
fn replica_l4_metropolis_half() {
    replica_vs_exact(4, Algorithm::MetropolisHalf, 101, L4, MAX);
}

#[test]
fn replica_l4_heat_bath() {
    replica_vs_exact(4, Algorithm::HeatBath, 102, L4, MAX);
}

#[test]
fn replica_l8_metropolis() {
    replica_vs_exact(8, Algorithm::Metropolis, 103, L8, MAX);
}

#[test]
fn replica_l8_metropolis_half() {
    replica_vs_exact(8, Algorithm::MetropolisHalf, 105, L8, MAX);
}

#[test]
fn replica_l8_heat_bath() {
    replica_vs_exact(8, Algorithm::HeatBath, 104, L8, MAX);
}

/// A random stream that returns one constant word: all zeros makes every random
/// acceptance succeed (u = 0 < p), all ones makes every one fail (u = 1 − 2⁻⁶⁴ ≥ p).
struct Constant(u64x4);

impl WordRng<u64x4> for Constant {
    fn next_word(&mut self) -> u64x4 {
        self.0
    }
    fn next_word_masked(&mut self, _pending: u64x4) -> u64x4 {
        self.0
    }
    fn next_block<const D: usize>(&mut self, _active: u64x4) -> [u64x4; D] {
        [self.0; D]
    }
}

/// The ergodicity trap of docs/monte-carlo.md#deterministic-cycles-of-sequential-metropolis, by exhaustive enumeration of the 65 536
/// states of the 4×4 torus (256 per `u64x4` word): a state is deterministic when its sweep
/// makes no random decision (the sweep with every random acceptance succeeding equals the
/// one with every random acceptance failing), and trapped when it lies on a cycle of
/// deterministic states, which the chain can never leave. Plain Metropolis has 64 trapped
/// states (as docs/monte-carlo.md#deterministic-cycles-of-sequential-metropolis found); Metropolis with ½ at ΔE = 0 and heat bath have
/// none.
#[test]
fn trapped_states_4x4() {
    let layout = Replica::new(Dim::Two, 4).unwrap();
    for algorithm in [
        Algorithm::Metropolis,
        Algorithm::MetropolisHalf,
        Algorithm::HeatBath,
    ] {
        let table = AcceptTable::<u64x4>::uniform(4, algorithm, exact::t_c(), 0.0).unwrap();
        // next[σ] = the image of σ when the sweep is deterministic.
        let mut next: Vec<Option<usize>> = vec![None; 1 << 16];
        for chunk in 0..256 {
            let start: Vec<u64x4> = (0..16)
                .map(|site| {
                    u64x4::from_fn(|lane| {
                        (0..64).fold(0u64, |w, b| {
                            let state = chunk * 256 + lane * 64 + b;
                            w | ((((state >> site) & 1) as u64) << b)
                        })
                    })
                })
                .collect();
            let mut accept = start.clone();
            layout
                .sweep(&mut accept, &table, &mut Constant(u64x4::ZERO))
                .unwrap();
            let mut reject = start.clone();
            layout
                .sweep(&mut reject, &table, &mut Constant(u64x4::MAX))
                .unwrap();
            for bit in 0..256 {
                let image = |lat: &[u64x4]| {
                    (0..16).fold(0, |s, site| s | ((lat[site].bit(bit) as usize) << site))
                };
                let (a, r) = (image(&accept), image(&reject));
                if a == r {
                    next[chunk * 256 + bit] = Some(a);
                }
            }
        }
        // States on deterministic cycles: follow the map for 2^16 steps from each state.
        let mut trapped = 0;
        for s in 0..1 << 16 {
            let mut x = s;
            let mut on_cycle = false;
            for _ in 0..64 {
                match next[x] {
                    Some(y) => x = y,
                    None => break,
                }
                if x == s {
                    on_cycle = true;
                    break;
                }
            }
            trapped += on_cycle as usize;
        }
        if verbose() {
            let det = next.iter().filter(|n| n.is_some()).count();
            eprintln!(
                "4x4 {algorithm:?}: {det} deterministic states, {trapped} on deterministic cycles"
            );
        }
        if algorithm == Algorithm::Metropolis {
            // docs/monte-carlo.md#deterministic-cycles-of-sequential-metropolis (exhaustive enumeration): 64 of the 65 536 states are
            // trapped in typewriter order.
            assert_eq!(trapped, 64, "plain Metropolis: trapped states");
        } else {
            assert_eq!(trapped, 0, "{algorithm:?}: trapped states");
        }
    }
}

/// χ² of the sampled 4×4 energy histogram against the exact P(E) at T = 2, T_c, 3.
///
/// Samples are one measurement per replica every `THIN` sweeps: replicas are
/// independent, and THIN is many times the energy autocorrelation time (τ_int ≈ 1.5
/// sweeps at L = 4), which the test confirms from the lag-1 autocorrelation of the
/// thinned samples.
#[test]
fn energy_histogram_4x4_chi2() {
    const THIN: usize = 20;
    const SAMPLES: usize = 2048;
    let temps = [2.0, exact::t_c(), 3.0];
    let layout = Replica::new(Dim::Two, 4).unwrap();
    let g = layout.geometry();
    for (job, algorithm) in [Algorithm::MetropolisHalf, Algorithm::HeatBath]
        .into_iter()
        .enumerate()
    {
        let per_bit: Vec<f64> = (0..256).map(|b| temps[b % 3]).collect();
        let table = AcceptTable::<u64x4>::per_bit(4, algorithm, &per_bit, 0.0).unwrap();
        let mut lattice = random_lattice::<u64x4>(layout.words(), 7, job as u64);
        let mut flip = u64x4::ZERO;
        let mut rng = <u64x4 as Stream>::rng(7, job as u64);
        // energies[sample][bit]: total bond energy E of replica `bit`.
        let mut energies = vec![[0i64; 256]; SAMPLES];
        let mut counts = [Counts::default(); 256];
        for _ in 0..200 {
            layout.sweep(&mut lattice, &table, &mut rng).unwrap();
        }
        for sample in energies.iter_mut() {
            for _ in 0..THIN {
                layout.sweep(&mut lattice, &table, &mut rng).unwrap();
                layout.global_flip(&mut flip, &table, &mut rng).unwrap();
            }
            layout.measure(&lattice, flip, &mut counts).unwrap();
            for (e, c) in sample.iter_mut().zip(&counts) {
                *e = c.bond_energy(&g);
            }
        }
        for (i, &temp) in temps.iter().enumerate() {
            let tag = format!("4x4 {algorithm:?} T={temp:.4}");
            let exact = exact::energy_histogram_4x4(temp);
            let series: Vec<Vec<i64>> = (0..256)
                .filter(|b| b % 3 == i)
                .map(|b| energies.iter().map(|s| s[b]).collect())
                .collect();
            let mut observed = vec![0u64; exact.len()];
            for e in series.iter().flat_map(|s| s.iter()) {
                let k = exact
                    .iter()
                    .position(|&(x, _)| x == *e)
                    .unwrap_or_else(|| panic!("{tag}: energy {e} has no states"));
                observed[k] += 1;
            }
            let p: Vec<f64> = exact.iter().map(|&(_, p)| p).collect();
            let (x2, dof) = chi2(&observed, &p);
            let limit = chi2_threshold(dof);
            if verbose() {
                eprintln!("{tag}: chi2 = {x2:.2} for {dof} dof (p = 1e-4 limit {limit:.2})");
            }
            assert!(
                x2 < limit,
                "{tag}: χ² = {x2:.2} for {dof} dof exceeds the p = 1e-4 limit {limit:.2}; observed {observed:?}"
            );

            // Independence of successive thinned samples: lag-1 autocorrelation ≈ 0.
            let n: usize = series.iter().map(|s| s.len()).sum();
            let mean = series
                .iter()
                .flat_map(|s| s.iter())
                .map(|&e| e as f64)
                .sum::<f64>()
                / n as f64;
            let (mut c0, mut c1, mut n1) = (0.0, 0.0, 0usize);
            for s in &series {
                for w in s.windows(2) {
                    c1 += (w[0] as f64 - mean) * (w[1] as f64 - mean);
                    n1 += 1;
                }
                c0 += s.iter().map(|&e| (e as f64 - mean).powi(2)).sum::<f64>();
            }
            let rho1 = (c1 / n1 as f64) / (c0 / n as f64);
            let sd = 1.0 / (n1 as f64).sqrt();
            if verbose() {
                eprintln!("{tag}: lag-{THIN} autocorrelation {rho1:.4} (sd {sd:.4})");
            }
            assert!(
                rho1.abs() < SIGMAS * sd,
                "{tag}: thinned samples are correlated: ρ = {rho1}"
            );
        }
    }
}
