//! Detailed balance of the word kernel by exact enumeration (docs/monte-carlo.md#validation).
//!
//! 1. The exact acceptance threshold P (p = P/2⁶⁴) of every bond class is read off the
//!    real kernel: a scripted random stream gives each bit of the word a chosen private
//!    uniform x, the kernel flips the bit iff x < P, and a bisection over x (all 64 bits
//!    at once) finds P. The thresholds must equal the textbook rules (Metropolis,
//!    Metropolis with ½ at ΔE = 0, heat bath) to f64 precision, and satisfy detailed
//!    balance.
//! 2. With those exact probabilities, the single-site updates of a 3-site ring (replica
//!    layout: one word per site, one ring per bit) obey π(σ)P(σ→σ′) = π(σ′)P(σ′→σ), and
//!    π is stationary under the composed sweep. Two replicas with *independent* bits
//!    keep π⊗π; the same check for a word that shares one uniform between bits fails.
//! 3. The real kernel with its real stream: transition frequencies of whole sweeps
//!    against the exact sweep matrix (binomial z-tests), and joint frequencies of bit
//!    pairs against the product of the marginals (χ²). The same pair test run on a
//!    stream whose words are all-zeros or all-ones (one shared uniform per word) must
//!    fail.

use rsmi_core::ising::{AcceptTable, Algorithm, Dim, Layout, Replica};
use rsmi_core::rng::{WordRng, Xoshiro256PlusPlus, stream};
use rsmi_tests::*;

const TWO64: f64 = 18_446_744_073_709_551_616.0;

/// The first `words` are prescribed; later draws come from `rest`.
struct Scripted {
    words: Vec<u64>,
    pos: usize,
    rest: Xoshiro256PlusPlus,
}

impl WordRng<u64> for Scripted {
    fn next_word(&mut self) -> u64 {
        let w = match self.words.get(self.pos) {
            Some(&w) => w,
            None => self.rest.next_word(),
        };
        self.pos += 1;
        w
    }
    fn next_word_masked(&mut self, _pending: u64) -> u64 {
        self.next_word()
    }
    fn next_block<const D: usize>(&mut self, _active: u64) -> [u64; D] {
        std::array::from_fn(|_| self.next_word())
    }
}

/// One uniform shared by all bits of a word: every word is all zeros or all ones.
struct Shared(Xoshiro256PlusPlus);

impl WordRng<u64> for Shared {
    fn next_word(&mut self) -> u64 {
        (self.0.next_word() & 1).wrapping_neg()
    }
    fn next_word_masked(&mut self, _pending: u64) -> u64 {
        self.next_word()
    }
    fn next_block<const D: usize>(&mut self, _active: u64) -> [u64; D] {
        std::array::from_fn(|_| self.next_word())
    }
}

/// Words whose bit b are the binary digits (most significant first) of `x[b]`.
fn digit_words(x: &[u64; 64]) -> Vec<u64> {
    (0..64)
        .map(|k| (0..64).fold(0u64, |w, b| w | (((x[b] >> (63 - k)) & 1) << b)))
        .collect()
}

/// Lattice words from per-bit configurations (`configs[b][site]`, true = up).
fn lattice_of(configs: &[Vec<bool>]) -> Vec<u64> {
    let sites = configs[0].len();
    (0..sites)
        .map(|i| (0..64).fold(0u64, |w, b| w | ((configs[b][i] as u64) << b)))
        .collect()
}

/// Exact threshold P ∈ [0, 2⁶⁴] of the first site update (site 0) of every bit of a
/// replica-layout word, each bit b starting from `configs[b]`: the number of 64-bit
/// uniforms x for which the kernel flips the bit.
fn thresholds(layout: &Replica, table: &AcceptTable<u64>, configs: &[Vec<bool>]) -> [u128; 64] {
    let mut lo = [0u128; 64];
    let mut hi = [1u128 << 64; 64];
    let start = lattice_of(configs);
    for round in 0..65 {
        let mid: [u64; 64] =
            std::array::from_fn(|b| ((lo[b] + hi[b]) / 2).min(u64::MAX as u128) as u64);
        let mut rng = Scripted {
            words: digit_words(&mid),
            pos: 0,
            rest: stream(99, round, 0),
        };
        let mut lattice = start.clone();
        layout.sweep(&mut lattice, table, &mut rng).unwrap();
        // Site 0 is updated first and not revisited in the sweep: its final value shows
        // the decision, which depends only on the scripted digits.
        let flipped = lattice[0] ^ start[0];
        for b in 0..64 {
            if lo[b] < hi[b] {
                if (flipped >> b) & 1 == 1 {
                    lo[b] = mid[b] as u128 + 1;
                } else {
                    hi[b] = mid[b] as u128;
                }
            }
        }
    }
    assert_eq!(lo, hi, "bisection did not converge");
    lo
}

/// Textbook flip probability (not the code under test).
fn rule(algorithm: Algorithm, beta: f64, de: f64) -> f64 {
    match algorithm {
        Algorithm::Metropolis if de <= 0.0 => 1.0,
        Algorithm::MetropolisHalf if de < 0.0 => 1.0,
        Algorithm::MetropolisHalf if de == 0.0 => 0.5,
        Algorithm::Metropolis | Algorithm::MetropolisHalf => (-beta * de).exp(),
        Algorithm::HeatBath => 1.0 / (1.0 + (beta * de).exp()),
    }
}

/// Spin value ±1 of a bit.
fn pm(up: bool) -> i32 {
    if up { 1 } else { -1 }
}

/// Site 0's class: (number of unsatisfied bonds a, spin s = ±1).
fn class_of(layout: &Replica, config: &[bool]) -> (usize, i32) {
    let g = layout.geometry();
    let a = g.neighbours(0)[..g.z()]
        .iter()
        .filter(|&&j| config[j] != config[0])
        .count();
    (a, pm(config[0]))
}

/// ΔE of flipping a spin s with a unsatisfied bonds out of z, in field h.
fn delta_e(z: usize, a: usize, s: i32, h: f64) -> f64 {
    2.0 * (z as f64 - 2.0 * a as f64) + 2.0 * h * s as f64
}

/// Every (a, s) class of site 0 on the layout, with a configuration showing it.
fn class_configs(layout: &Replica) -> Vec<Vec<bool>> {
    let g = layout.geometry();
    let (z, n) = (g.z(), g.sites());
    let nb = g.neighbours(0);
    let mut out = Vec::new();
    for a in 0..=z {
        for up in [false, true] {
            let mut c: Vec<bool> = (0..n).map(|i| (i * 7 + a) % 3 == 0).collect();
            c[0] = up;
            for (k, &j) in nb[..z].iter().enumerate() {
                c[j] = if k < a { !up } else { up };
            }
            assert_eq!(class_of(layout, &c), (a, pm(up)));
            out.push(c);
        }
    }
    out
}

/// Part 1: the kernel's thresholds against the rules, per bit (per-bit temperatures),
/// and detailed balance of each pair of reverse moves (one temperature).
#[test]
fn thresholds_match_rules_and_balance() {
    for (dim, l) in [(Dim::One, 3), (Dim::Two, 3)] {
        let layout = Replica::new(dim, l).unwrap();
        let z = layout.geometry().z();
        let classes = class_configs(&layout);
        let configs: Vec<Vec<bool>> = (0..64)
            .map(|b| classes[b % classes.len()].clone())
            .collect();
        let temps: Vec<f64> = (0..64).map(|b| 0.6 + 0.07 * b as f64).collect();
        for algorithm in [
            Algorithm::Metropolis,
            Algorithm::MetropolisHalf,
            Algorithm::HeatBath,
        ] {
            for h in [0.0, 0.3, -0.45] {
                let table = AcceptTable::<u64>::per_bit(z, algorithm, &temps, h).unwrap();
                let p = thresholds(&layout, &table, &configs);
                let tag = format!("{dim:?} {algorithm:?} h={h}");
                for b in 0..64 {
                    let (a, s) = class_of(&layout, &configs[b]);
                    let beta = 1.0 / temps[b];
                    let de = delta_e(z, a, s, h);
                    let want = rule(algorithm, beta, de);
                    let got = p[b] as f64 / TWO64;
                    if want == 1.0 || want == 0.5 {
                        // Exact dyadic values: 1 needs no digits, ½ is one digit.
                        assert_eq!(got, want, "{tag} bit {b} a={a} s={s}");
                    } else {
                        assert!(
                            (got - want).abs() <= 2e-16 + 1e-15 * want,
                            "{tag} bit {b}: {got} vs {want}"
                        );
                    }
                }
                // Uniform temperature: every bit of a class, both directions.
                let t = 1.7;
                let table = AcceptTable::<u64>::uniform(z, algorithm, t, h).unwrap();
                let p = thresholds(&layout, &table, &configs);
                for b in 0..64 {
                    let (a, s) = class_of(&layout, &configs[b]);
                    let de = delta_e(z, a, s, h);
                    let rb = (0..64)
                        .find(|&r| class_of(&layout, &configs[r]) == (z - a, -s))
                        .unwrap();
                    let ratio = (p[b] as f64) / (p[rb] as f64);
                    assert!(
                        (ratio / (-de / t).exp() - 1.0).abs() < 1e-13,
                        "{tag} T={t} bit {b}: P(a={a},s={s}) / P(reverse) = {ratio} vs e^(-βΔE) = {}",
                        (-de / t).exp()
                    );
                }
            }
        }
    }
}

/// The 3-site ring: configurations c = 0..8, bit i of c = spin of site i.
const RING: usize = 3;
const STATES: usize = 1 << RING;

fn up(c: usize, i: usize) -> bool {
    (c >> i) & 1 == 1
}

/// Boltzmann weights of the ring, normalised.
fn ring_pi(t: f64, h: f64) -> Vec<f64> {
    let w: Vec<f64> = (0..STATES)
        .map(|c| {
            let bonds: i32 = (0..RING)
                .map(|i| pm(up(c, i)) * pm(up(c, (i + 1) % RING)))
                .sum();
            let m: i32 = (0..RING).map(|i| pm(up(c, i))).sum();
            ((bonds as f64 + h * m as f64) / t).exp()
        })
        .collect();
    let z: f64 = w.iter().sum();
    w.iter().map(|x| x / z).collect()
}

/// Flip probability of site x in configuration c, from the kernel's thresholds by class.
fn ring_flip(thr: &dyn Fn(usize, i32) -> f64, c: usize, x: usize) -> f64 {
    let s = up(c, x);
    let a = [(x + RING - 1) % RING, (x + 1) % RING]
        .iter()
        .filter(|&&j| up(c, j) != s)
        .count();
    thr(a, pm(s))
}

/// The kernel's class thresholds on the ring for one uniform table, as probabilities.
fn ring_thresholds(algorithm: Algorithm, t: f64, h: f64) -> impl Fn(usize, i32) -> f64 {
    let layout = Replica::new(Dim::One, RING).unwrap();
    let classes = class_configs(&layout);
    let configs: Vec<Vec<bool>> = (0..64)
        .map(|b| classes[b % classes.len()].clone())
        .collect();
    let table = AcceptTable::<u64>::uniform(2, algorithm, t, h).unwrap();
    let p = thresholds(&layout, &table, &configs);
    let mut by_class = [[f64::NAN; 2]; 3];
    for b in 0..64 {
        let (a, s) = class_of(&layout, &configs[b]);
        by_class[a][(s > 0) as usize] = p[b] as f64 / TWO64;
    }
    move |a: usize, s: i32| by_class[a][(s > 0) as usize]
}

type Matrix = Vec<Vec<f64>>;

fn mat_mul(a: &Matrix, b: &Matrix) -> Matrix {
    let n = a.len();
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| (0..n).map(|k| a[i][k] * b[k][j]).sum())
                .collect()
        })
        .collect()
}

/// Single-site update matrix of site x for one ring.
fn site_matrix(thr: &dyn Fn(usize, i32) -> f64, x: usize) -> Matrix {
    let mut m = vec![vec![0.0; STATES]; STATES];
    for (c, row) in m.iter_mut().enumerate() {
        let p = ring_flip(thr, c, x);
        row[c ^ (1 << x)] += p;
        row[c] += 1.0 - p;
    }
    m
}

/// Single-site update of site x for two replicas (joint state ca·8 + cb), with
/// independent uniforms (`shared = false`) or one uniform shared by both bits.
fn pair_site_matrix(thr: &dyn Fn(usize, i32) -> f64, x: usize, shared: bool) -> Matrix {
    let n = STATES * STATES;
    let mut m = vec![vec![0.0; n]; n];
    for (s, row) in m.iter_mut().enumerate() {
        let (ca, cb) = (s / STATES, s % STATES);
        let (pa, pb) = (ring_flip(thr, ca, x), ring_flip(thr, cb, x));
        // P(a flips, b flips) for the four outcomes.
        let both = if shared { pa.min(pb) } else { pa * pb };
        let outcomes = [
            (true, true, both),
            (true, false, pa - both),
            (false, true, pb - both),
            (false, false, 1.0 - pa - pb + both),
        ];
        for (fa, fb, p) in outcomes {
            let na = if fa { ca ^ (1 << x) } else { ca };
            let nb = if fb { cb ^ (1 << x) } else { cb };
            row[na * STATES + nb] += p;
        }
    }
    m
}

/// Largest |π(σ)M(σ→σ′) − π(σ′)M(σ′→σ)| relative to π(σ)M(σ→σ′).
fn balance_violation(pi: &[f64], m: &Matrix) -> f64 {
    let mut worst: f64 = 0.0;
    for i in 0..pi.len() {
        for j in 0..pi.len() {
            let f = pi[i] * m[i][j];
            let r = pi[j] * m[j][i];
            if f > 0.0 || r > 0.0 {
                worst = worst.max((f - r).abs() / f.max(r));
            }
        }
    }
    worst
}

/// Largest |(πM)_j − π_j| / π_j.
fn stationarity_violation(pi: &[f64], m: &Matrix) -> f64 {
    (0..pi.len())
        .map(|j| {
            let pj: f64 = (0..pi.len()).map(|i| pi[i] * m[i][j]).sum();
            (pj - pi[j]).abs() / pi[j]
        })
        .fold(0.0, f64::max)
}

const CASES: [(Algorithm, f64, f64); 4] = [
    (Algorithm::Metropolis, 1.7, 0.0),
    (Algorithm::MetropolisHalf, 1.7, 0.0),
    (Algorithm::MetropolisHalf, 0.9, 0.35),
    (Algorithm::HeatBath, 1.3, -0.6),
];

/// Part 2: exact single-site detailed balance and sweep stationarity on the 3-site ring,
/// for one replica and for two replicas (independent bits pass, a shared uniform fails).
#[test]
fn ring_exact_balance_and_stationarity() {
    for (algorithm, t, h) in CASES {
        let tag = format!("{algorithm:?} T={t} h={h}");
        let thr = ring_thresholds(algorithm, t, h);
        let pi = ring_pi(t, h);
        let sites: Vec<Matrix> = (0..RING).map(|x| site_matrix(&thr, x)).collect();
        for (x, m) in sites.iter().enumerate() {
            let v = balance_violation(&pi, m);
            assert!(
                v < 1e-13,
                "{tag}: site {x} detailed balance violated by {v}"
            );
        }
        let sweep = sites
            .iter()
            .skip(1)
            .fold(sites[0].clone(), |acc, m| mat_mul(&acc, m));
        let v = stationarity_violation(&pi, &sweep);
        assert!(v < 1e-13, "{tag}: π not stationary under the sweep ({v})");

        let pi2: Vec<f64> = (0..STATES * STATES)
            .map(|s| pi[s / STATES] * pi[s % STATES])
            .collect();
        for shared in [false, true] {
            let sites: Vec<Matrix> = (0..RING)
                .map(|x| pair_site_matrix(&thr, x, shared))
                .collect();
            let db = sites
                .iter()
                .map(|m| balance_violation(&pi2, m))
                .fold(0.0, f64::max);
            let sweep = sites
                .iter()
                .skip(1)
                .fold(sites[0].clone(), |acc, m| mat_mul(&acc, m));
            let st = stationarity_violation(&pi2, &sweep);
            if verbose() {
                eprintln!(
                    "{tag} two replicas, shared uniform {shared}: balance {db:.2e}, stationarity {st:.2e}"
                );
            }
            if shared {
                // The check must be able to fail: a shared uniform couples the replicas.
                assert!(
                    db > 0.1 && st > 0.01,
                    "{tag}: shared uniform not detected ({db}, {st})"
                );
            } else {
                assert!(
                    db < 1e-13 && st < 1e-13,
                    "{tag}: independent replicas: {db}, {st}"
                );
            }
        }
    }
}

/// Outcome counts of one-sweep trials on the ring: bit b starts in configuration b % 8.
/// Returns (single[c][c′], pairs[k][c′_a·8 + c′_b]) for the disjoint bit pairs
/// (2j, 2j+1), whose start configurations are (2k, 2k+1) with k = j % 4.
fn ring_trials<R: WordRng<u64>>(
    table: &AcceptTable<u64>,
    rng: &mut R,
    trials: usize,
) -> (Vec<Vec<u64>>, Vec<Vec<u64>>) {
    let layout = Replica::new(Dim::One, RING).unwrap();
    let start: Vec<u64> = (0..RING)
        .map(|i| (0..64).fold(0u64, |w, b| w | ((up(b % STATES, i) as u64) << b)))
        .collect();
    let mut single = vec![vec![0u64; STATES]; STATES];
    let mut pairs = vec![vec![0u64; STATES * STATES]; STATES / 2];
    for _ in 0..trials {
        let mut lattice = start.clone();
        layout.sweep(&mut lattice, table, rng).unwrap();
        let end: Vec<usize> = (0..64)
            .map(|b| (0..RING).fold(0, |c, i| c | ((((lattice[i] >> b) & 1) as usize) << i)))
            .collect();
        for b in 0..64 {
            single[b % STATES][end[b]] += 1;
        }
        for j in 0..32 {
            pairs[j % 4][end[2 * j] * STATES + end[2 * j + 1]] += 1;
        }
    }
    (single, pairs)
}

/// Largest χ²/limit over the four pair types (> 1 means the product law is rejected at
/// p = 10⁻⁴).
fn pair_chi2(sweep: &Matrix, pairs: &[Vec<u64>]) -> f64 {
    let mut worst: f64 = 0.0;
    for (k, obs) in pairs.iter().enumerate() {
        let (ca, cb) = (2 * k, 2 * k + 1);
        let p: Vec<f64> = (0..STATES * STATES)
            .map(|s| sweep[ca][s / STATES] * sweep[cb][s % STATES])
            .collect();
        let (x2, dof) = chi2(obs, &p);
        worst = worst.max(x2 / chi2_threshold(dof));
    }
    worst
}

/// Part 3: the real kernel and stream against the exact sweep matrix.
#[test]
fn ring_empirical_transitions() {
    const TRIALS: usize = 40_000;
    for (case, (algorithm, t, h)) in CASES.into_iter().enumerate() {
        let tag = format!("{algorithm:?} T={t} h={h}");
        let thr = ring_thresholds(algorithm, t, h);
        let sites: Vec<Matrix> = (0..RING).map(|x| site_matrix(&thr, x)).collect();
        let sweep = sites
            .iter()
            .skip(1)
            .fold(sites[0].clone(), |acc, m| mat_mul(&acc, m));
        let table = AcceptTable::<u64>::uniform(2, algorithm, t, h).unwrap();

        let mut rng = stream(301, case as u64, 0);
        let (single, pairs) = ring_trials(&table, &mut rng, TRIALS);
        let n = (TRIALS * 64 / STATES) as f64;
        for c in 0..STATES {
            for d in 0..STATES {
                let p = sweep[c][d];
                let k = single[c][d] as f64;
                if p == 0.0 || p == 1.0 {
                    assert_eq!(
                        k,
                        p * n,
                        "{tag}: certain transition {c} -> {d} (p = {p}) violated"
                    );
                    continue;
                }
                let z = (k - n * p) / (n * p * (1.0 - p)).sqrt();
                // 64 cells: |z| < 4.5 fails by chance with probability ~5·10⁻⁴ in all.
                assert!(
                    z.abs() < 4.5,
                    "{tag}: {c} -> {d}: {k} of {n}, expected p = {p}, z = {z:.2}"
                );
            }
        }
        let worst = pair_chi2(&sweep, &pairs);
        if verbose() {
            eprintln!("{tag}: pair χ²/limit {worst:.3}");
        }
        assert!(
            worst < 1.0,
            "{tag}: bit pairs are not independent (χ²/limit {worst:.2})"
        );

        // The same test on a stream that shares one uniform across the bits must fail.
        let mut shared = Shared(stream(302, case as u64, 0));
        let (_, pairs) = ring_trials(&table, &mut shared, TRIALS / 4);
        let worst = pair_chi2(&sweep, &pairs);
        if verbose() {
            eprintln!("{tag}: shared uniform: pair χ²/limit {worst:.1}");
        }
        assert!(
            worst > 10.0,
            "{tag}: shared uniform not detected (χ²/limit {worst:.2})"
        );
    }
}
