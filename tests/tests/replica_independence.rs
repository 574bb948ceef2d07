//! Replica independence (docs/monte-carlo.md#validation): the 256 replicas of a `u64x4` word
//! must behave as independent chains. A shared random number across bits makes them
//! coalesce into one configuration or its global flip (docs/monte-carlo.md#exact-per-bit-randomness: ⟨|q|⟩ = 1.000, half the
//! replicas bit-identical).

use rsmi_core::ising::{AcceptTable, Algorithm, Dim, Layout, Replica};
use rsmi_tests::*;
use wide::u64x4;

/// Snapshots of the physical configurations of all 256 replicas, `thin` sweeps apart
/// after `therm` sweeps (random global flips after every sweep).
fn snapshots(
    algorithm: Algorithm,
    l: usize,
    t: f64,
    seed: u64,
    therm: usize,
    thin: usize,
    count: usize,
) -> Vec<Vec<Vec<u64>>> {
    let layout = Replica::new(Dim::Two, l).unwrap();
    let table = AcceptTable::<u64x4>::uniform(4, algorithm, t, 0.0).unwrap();
    let mut lattice = random_lattice::<u64x4>(layout.words(), seed, 0);
    let mut flip = u64x4::ZERO;
    let mut rng = <u64x4 as Stream>::rng(seed, 0);
    let mut step = |lattice: &mut [u64x4], flip: &mut u64x4, n: usize| {
        for _ in 0..n {
            layout.sweep(lattice, &table, &mut rng).unwrap();
            layout.global_flip(flip, &table, &mut rng).unwrap();
        }
    };
    step(&mut lattice, &mut flip, therm);
    (0..count)
        .map(|_| {
            step(&mut lattice, &mut flip, thin);
            configurations(&layout, &lattice, flip)
        })
        .collect()
}

/// Overlap q = (1/N) Σ s_i^a s_i^b of two bitset configurations of N sites.
fn overlap(a: &[u64], b: &[u64], n: usize) -> f64 {
    let differ: u32 = a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum();
    1.0 - 2.0 * differ as f64 / n as f64
}

fn flipped(a: &[u64], n: usize) -> Vec<u64> {
    a.iter()
        .enumerate()
        .map(|(w, x)| {
            let bits = (n - 64 * w).min(64);
            let mask = if bits == 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            };
            !x & mask
        })
        .collect()
}

/// Identical pairs, and pairs identical up to a global flip, among the configurations.
fn identical_pairs(configs: &[Vec<u64>], n: usize) -> (u64, u64) {
    let (mut same, mut same_or_flipped) = (0, 0);
    for a in 0..configs.len() {
        let fa = flipped(&configs[a], n);
        for b in a + 1..configs.len() {
            let s = configs[a] == configs[b];
            same += s as u64;
            same_or_flipped += (s || fa == configs[b]) as u64;
        }
    }
    (same, same_or_flipped)
}

/// L = 16 at T_c: no two replicas identical (or identical up to a flip), and the mean
/// |overlap| of disjoint replica pairs of one word agrees with that of replicas from two
/// independently seeded runs.
#[test]
fn replicas_independent_l16_tc() {
    let (l, t) = (16, exact::t_c());
    let n = l * l;
    let (therm, thin, count) = (2000, 100, 24);
    let a = snapshots(Algorithm::Metropolis, l, t, 401, therm, thin, count);
    let b = snapshots(Algorithm::Metropolis, l, t, 402, therm, thin, count);
    let c = snapshots(Algorithm::Metropolis, l, t, 403, therm, thin, count);
    for (k, snap) in a.iter().enumerate() {
        let (same, same_or_flipped) = identical_pairs(snap, n);
        assert_eq!(
            (same, same_or_flipped),
            (0, 0),
            "snapshot {k}: identical replicas"
        );
    }
    // Chain-major |q| series: pair p, snapshot k.
    let within: Vec<f64> = (0..128)
        .flat_map(|p| {
            a.iter()
                .map(move |s| overlap(&s[2 * p], &s[2 * p + 1], n).abs())
        })
        .collect();
    let across: Vec<f64> = (0..256)
        .flat_map(|p| {
            b.iter()
                .zip(&c)
                .map(move |(sb, sc)| overlap(&sb[p], &sc[p], n).abs())
        })
        .collect();
    let w = mean_err("|q| within one word", &within, 128);
    let x = mean_err("|q| across runs", &across, 256);
    let err = (w.err * w.err + x.err * x.err).sqrt();
    if verbose() {
        eprintln!(
            "L=16 T_c <|q|>: within a word {:.4} ± {:.4}, across runs {:.4} ± {:.4}",
            w.mean, w.err, x.mean, x.err
        );
    }
    assert_exact(
        "<|q|> within a word minus across runs",
        w.mean - x.mean,
        err,
        0.0,
        0.02,
    );
    assert!(
        w.mean < 0.8,
        "<|q|> = {} within one word: replicas are coupled",
        w.mean
    );
}

/// Σ_σ π(σ)^k for k = 2, 3 on the 4×4 torus at temperature t, by enumerating the 65 536
/// states (energies computed here, not by the code under test).
fn pi_power_sums_4x4(t: f64) -> (f64, f64) {
    let mut weights = Vec::with_capacity(1 << 16);
    for c in 0u32..1 << 16 {
        let s = |x: usize, y: usize| {
            if (c >> ((y % 4) * 4 + x % 4)) & 1 == 1 {
                1
            } else {
                -1
            }
        };
        let mut e = 0;
        for y in 0..4 {
            for x in 0..4 {
                e -= s(x, y) * (s(x + 1, y) + s(x, y + 1));
            }
        }
        weights.push((-(e as f64) / t).exp());
    }
    let z: f64 = weights.iter().sum();
    let p2 = weights.iter().map(|w| (w / z).powi(2)).sum();
    let p3 = weights.iter().map(|w| (w / z).powi(3)).sum();
    (p2, p3)
}

/// L = 4, T = 3: the number of identical replica pairs matches the Σπ² expectation.
///
/// Per snapshot, with n = 256 replicas, M = n(n−1)/2 pairs, p₂ = Σπ², p₃ = Σπ³: the
/// count has mean M p₂ and variance M p₂(1 − p₂) + n(n−1)(n−2)(p₃ − p₂²) (pairs sharing
/// a replica are correlated). "Identical up to a flip" has p₂ → 2p₂, p₃ → 4p₃ (π is
/// flip-symmetric). Snapshots are 20 sweeps ≫ τ apart, so independent.
#[test]
fn identical_pairs_l4_match_sum_pi_squared() {
    let (l, t) = (4, 3.0);
    let n_sites = l * l;
    let (p2, p3) = pi_power_sums_4x4(t);
    let count = 400;
    let snaps = snapshots(Algorithm::MetropolisHalf, l, t, 404, 200, 20, count);
    let (mut same, mut same_or_flipped) = (0u64, 0u64);
    for s in &snaps {
        let (a, b) = identical_pairs(s, n_sites);
        same += a;
        same_or_flipped += b;
    }
    let n = 256.0;
    let pairs = n * (n - 1.0) / 2.0;
    let triples = n * (n - 1.0) * (n - 2.0);
    for (what, observed, q2, q3) in [
        ("identical pairs", same, p2, p3),
        (
            "pairs identical up to a flip",
            same_or_flipped,
            2.0 * p2,
            4.0 * p3,
        ),
    ] {
        let mean = pairs * q2;
        let var = pairs * q2 * (1.0 - q2) + triples * (q3 - q2 * q2);
        let per_snapshot = observed as f64 / count as f64;
        let err = (var / count as f64).sqrt();
        assert_exact(
            &format!("L=4 T=3 {what} per snapshot"),
            per_snapshot,
            err,
            mean,
            0.05 * mean,
        );
    }
}
