//! Tests of the dimer core: exit tables, worm == reference bit for bit, ergodicity on the
//! 4×4 torus, observables against hand-computed values and the per-site oracles, the
//! decorated and links formats, and rejection of bad input.
//!
//! Exact values come from `tests/data/dimer_exact.json` (4×4 torus: 272 coverings,
//! 13 winding sectors) and from hand calculation on the columnar and staggered states.

extern crate std;
use std::format;
use std::vec;
use std::vec::Vec;

use super::decorated::{
    decorated_len, links_len, read_decorated, read_links, write_decorated, write_links,
};
use super::lattice::{Defect, Plane, Torus};
use super::observables as obs;
use super::reference as rf;
use super::worm::{
    Exits, MAX_BETA_V, ONE, PATTERNS, Worm, WormOutcome, exit_matrix, pattern_ns, thresholds,
};
use crate::Error;
use crate::rng::stream;

const KINDS: [Exits; 2] = [Exits::HeatBath, Exits::MinimalBounce];

fn planes(t: Torus) -> (Vec<u64>, Vec<u64>) {
    (vec![0; t.plane_words()], vec![0; t.plane_words()])
}

fn partners(t: Torus, h: &[u64], v: &[u64]) -> Vec<u32> {
    let mut p = vec![0u32; t.sites()];
    rf::partners_from_planes(t, h, v, &mut p).unwrap();
    p
}

// ---------------------------------------------------------------- lattice

#[test]
fn torus_sizes() {
    for l in [0, 1, 2, 3, 5, 7, 33, Torus::MAX_L + 2, usize::MAX] {
        assert!(
            matches!(Torus::new(l), Err(Error::UnsupportedSize { .. })),
            "L = {l}"
        );
    }
    for l in [4, 6, 8, 10, 64, 66, Torus::MAX_L] {
        let t = Torus::new(l).unwrap();
        assert_eq!(t.plane_words(), (l * l).div_ceil(64));
    }
}

#[test]
fn columnar_and_staggered_by_hand() {
    for l in [4, 6, 8, 10, 16, 18, 64, 66] {
        let t = Torus::new(l).unwrap();
        let (mut h, mut v) = planes(t);
        let n = (l * l) as u64;
        t.columnar(&mut h, &mut v).unwrap();
        assert_eq!(t.defect(&h, &v).unwrap(), None);
        // Columnar: h(x,y) = 1 for even x; every h pair (x even, y, y+1) is parallel.
        assert_eq!(t.n_parallel(&h, &v).unwrap(), n / 2);
        assert_eq!(obs::winding(t, &h, &v).unwrap(), (0, 0));
        assert_eq!(obs::link_counts(t, &h, &v).unwrap(), (n / 2, 0));
        assert_eq!(obs::columnar_order(t, &h, &v).unwrap(), (1.0, 0.0));
        let mut c = vec![0; l / 2 + 1];
        obs::axis_correlation(t, &h, &mut c).unwrap();
        for (r, &cr) in c.iter().enumerate() {
            assert_eq!(cr, if r % 2 == 0 { n / 2 } else { 0 }, "L {l} r {r}");
        }
        // A 2×2 block at an even corner holds one h dimer with sign +1 per row.
        assert_eq!(obs::block_fields(t, &h, &v, 0, 0, 2).unwrap(), (0, 0));
        assert_eq!(obs::block_fields(t, &h, &v, 0, 0, 1).unwrap(), (1, 0));
        assert_eq!(obs::block_fields(t, &h, &v, 1, 0, 1).unwrap(), (0, 0));
        assert_eq!(obs::block_fields(t, &h, &v, 0, 1, 1).unwrap(), (-1, 0));

        t.staggered(&mut h, &mut v).unwrap();
        assert_eq!(t.defect(&h, &v).unwrap(), None);
        assert_eq!(t.n_parallel(&h, &v).unwrap(), 0);
        assert_eq!(
            obs::winding(t, &h, &v).unwrap(),
            ((l / 2) as i64, 0),
            "L {l}"
        );
        assert_eq!(obs::columnar_order(t, &h, &v).unwrap(), (0.0, 0.0));
        // Every h dimer has x + y even: Ē_x = number of h dimers in the block.
        assert_eq!(obs::block_fields(t, &h, &v, 1, 3, 4).unwrap(), (8, 0));
        assert_eq!(
            obs::block_fields(t, &h, &v, 0, 0, l).unwrap(),
            ((n / 2) as i64, 0)
        );
        obs::axis_correlation(t, &h, &mut c).unwrap();
        for (r, &cr) in c.iter().enumerate() {
            assert_eq!(cr, if r % 2 == 0 { n / 2 } else { 0 }, "L {l} r {r}");
        }
    }
}

#[test]
fn defects_are_found() {
    let t = Torus::new(6).unwrap();
    let (mut h, mut v) = planes(t);
    t.columnar(&mut h, &mut v).unwrap();
    // Remove the dimer (2,3)-(3,3): both ends become monomers; (2,3) comes first.
    t.set(&mut h, 2, 3, false).unwrap();
    assert_eq!(
        t.defect(&h, &v).unwrap(),
        Some(Defect::Site {
            x: 2,
            y: 3,
            dimers: 0
        })
    );
    assert!(matches!(
        t.validate(&h, &v),
        Err(Error::InvalidParameter(_))
    ));
    // An extra vertical dimer on (1,0)-(1,1): site (1,0) touches 2 dimers.
    t.columnar(&mut h, &mut v).unwrap();
    t.set(&mut v, 1, 0, true).unwrap();
    assert_eq!(
        t.defect(&h, &v).unwrap(),
        Some(Defect::Site {
            x: 1,
            y: 0,
            dimers: 2
        })
    );
    // Padding (36 sites, one word): bit 40 of v.
    t.columnar(&mut h, &mut v).unwrap();
    v[0] |= 1 << 40;
    assert_eq!(
        t.defect(&h, &v).unwrap(),
        Some(Defect::Padding {
            plane: Plane::V,
            bit: 40
        })
    );
    assert!(matches!(
        t.validate(&h, &v),
        Err(Error::InvalidParameter(_))
    ));
    // Wrong lengths.
    assert!(matches!(
        t.defect(&h[..0], &v),
        Err(Error::BufferLength { .. })
    ));
    assert!(matches!(t.get(&[], 0, 0), Err(Error::BufferLength { .. })));
    assert!(matches!(
        t.n_parallel(&h, &[0, 0]),
        Err(Error::BufferLength { .. })
    ));
}

// ---------------------------------------------------------------- exits

fn beta_vs() -> [f64; 11] {
    [
        -MAX_BETA_V,
        -5.0,
        -1.0 / 0.65,
        -0.5,
        -0.1,
        0.0,
        0.1,
        1.0 / 0.65,
        2.0,
        7.0,
        MAX_BETA_V,
    ]
}

#[test]
fn exit_matrices_solve_the_directed_loop_equations() {
    for bv in beta_vs() {
        for exits in KINDS {
            for p in 0..PATTERNS {
                let w = pattern_ns(p).map(|n| libm::exp(-bv * n as f64));
                let a = exit_matrix(exits, w);
                let s: f64 = w.iter().sum();
                for x in 0..4 {
                    let row: f64 = a[x].iter().sum();
                    assert!(
                        (row - w[x]).abs() <= 1e-12 * s,
                        "{exits:?} bv {bv} p {p} row {x}"
                    );
                    for y in 0..4 {
                        assert!(a[x][y] >= 0.0, "{exits:?} bv {bv} p {p}");
                        assert!((a[x][y] - a[y][x]).abs() <= 1e-12 * s);
                    }
                }
                if exits == Exits::MinimalBounce {
                    // Least possible bounce: a_11 ≥ W_1 − Σ_{j≠1} W_j for the largest W_1.
                    let bounce: f64 = (0..4).map(|x| a[x][x]).sum();
                    let mut ws = w;
                    ws.sort_by(|a, b| b.partial_cmp(a).unwrap());
                    let least = (ws[0] - ws[1] - ws[2] - ws[3]).max(0.0);
                    assert!((bounce - least).abs() <= 1e-12 * s, "bv {bv} p {p}");
                }
            }
        }
    }
    // v = 0: heat bath 1/4 everywhere, minimal bounce 1/3 to each other exit.
    let a = exit_matrix(Exits::MinimalBounce, [1.0; 4]);
    let b = exit_matrix(Exits::HeatBath, [1.0; 4]);
    for x in 0..4 {
        for y in 0..4 {
            let want = if x == y { 0.0 } else { 1.0 / 3.0 };
            assert!((a[x][y] - want).abs() < 1e-15);
            assert!((b[x][y] - 0.25).abs() < 1e-15);
        }
    }
}

#[test]
fn thresholds_encode_the_probabilities() {
    for bv in beta_vs() {
        for exits in KINDS {
            let worm = Worm::new(Torus::new(4).unwrap(), bv, 1.0, exits).unwrap();
            for p in 0..PATTERNS {
                let w = pattern_ns(p).map(|n| libm::exp(-bv * n as f64));
                let a = exit_matrix(exits, w);
                for e in 0..4 {
                    let c = worm.table().thresholds(p, e);
                    assert_eq!(c[3], ONE);
                    let mut lo = 0u64;
                    for k in 0..4 {
                        assert!(c[k] >= lo);
                        let got = (c[k] - lo) as f64 / ONE as f64;
                        let want = a[e][k] / w[e];
                        assert_eq!(got == 0.0, want == 0.0, "bv {bv} p {p} e {e} k {k}");
                        assert!((got - want).abs() < 1e-15, "bv {bv} p {p} e {e} k {k}");
                        lo = c[k];
                    }
                }
            }
        }
    }
    assert_eq!(thresholds([0.0, 0.0, 1.0, 0.0]), [0, 0, ONE, ONE]);
    assert_eq!(
        thresholds([0.5, 0.0, 0.5, 0.0]),
        [ONE / 2, ONE / 2, ONE, ONE]
    );
}

#[test]
fn worm_parameters_are_checked() {
    let t = Torus::new(4).unwrap();
    for temp in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(
            Worm::new(t, -1.0, temp, Exits::HeatBath).unwrap_err(),
            Error::InvalidTemperature
        );
        // Ignored at v = 0.
        assert!(Worm::new(t, 0.0, temp, Exits::HeatBath).is_ok());
    }
    assert!(matches!(
        Worm::new(t, f64::NAN, 1.0, Exits::HeatBath),
        Err(Error::InvalidParameter(_))
    ));
    assert!(matches!(
        Worm::new(t, -1.0, 0.05, Exits::HeatBath),
        Err(Error::InvalidParameter(_))
    ));
    assert!(Worm::new(t, -1.0, 1.0 / MAX_BETA_V, Exits::HeatBath).is_ok());
    let w = Worm::new(t, 1.0, 1.0, Exits::HeatBath).unwrap();
    let mut rng = stream(1, 0, 0);
    let (mut h, mut v) = planes(t);
    let mut short = [0u64; 0];
    assert!(matches!(
        w.run(&mut short, &mut v, &mut rng),
        Err(Error::BufferLength { .. })
    ));
    // Not a covering: an error, never a panic or an endless loop.
    for _ in 0..20 {
        assert!(matches!(
            w.run(&mut h, &mut v, &mut rng),
            Err(Error::InvalidParameter(_))
        ));
    }
    t.columnar(&mut h, &mut v).unwrap();
    let mut backup = [0u64; 1];
    assert!(matches!(
        w.run_capped(&mut h, &mut v, &mut backup, 10, &mut rng),
        Err(Error::BufferLength { .. })
    ));
    let mut backup = [0u64; 2];
    assert!(
        w.run_capped(&mut h, &mut v, &mut backup, 0, &mut rng)
            .is_err()
    );
    assert!(w.calibrate(&mut h, &mut v, &mut rng, 0).is_err());
    // A covering with extra dimers somewhere: the worm fails cleanly when it meets one.
    let t8 = Torus::new(8).unwrap();
    let w8 = Worm::new(t8, 0.0, 1.0, Exits::MinimalBounce).unwrap();
    let (mut h, mut v) = planes(t8);
    t8.columnar(&mut h, &mut v).unwrap();
    t8.set(&mut v, 3, 3, true).unwrap();
    let mut failed = false;
    for _ in 0..200 {
        match w8.run(&mut h, &mut v, &mut rng) {
            Ok(_) => {}
            Err(e) => {
                assert!(matches!(e, Error::InvalidParameter(_)));
                failed = true;
                break;
            }
        }
    }
    assert!(failed);
}

// ---------------------------------------------------------------- worm == reference

/// Run `worms` worms with the fast worm and the reference from the same start and stream;
/// compare steps and configurations after every worm and check validity.
fn compare(worm: &Worm, seed: u64, worms: usize) {
    let t = worm.torus();
    let (mut h, mut v) = planes(t);
    let mut rng = stream(seed, 0, 0);
    // Start from a randomised state (itself checked below) for half the seeds.
    t.columnar(&mut h, &mut v).unwrap();
    if seed % 2 == 1 {
        worm.run_many(&mut h, &mut v, &mut rng, 20).unwrap();
    }
    let mut p = partners(t, &h, &v);
    let mut rng_ref = rng.clone();
    let (mut h2, mut v2) = planes(t);
    for k in 0..worms {
        let s = worm.run(&mut h, &mut v, &mut rng).unwrap();
        let s_ref = rf::worm(worm, &mut p, &mut rng_ref).unwrap();
        assert_eq!(s, s_ref, "steps, worm {k}, seed {seed}, {worm:?}");
        rf::planes_from_partners(t, &p, &mut h2, &mut v2).unwrap();
        assert!(h == h2 && v == v2, "configuration, worm {k}, seed {seed}");
        t.validate(&h, &v).unwrap();
    }
    assert_eq!(rng, rng_ref);
}

#[test]
fn worm_matches_reference_bit_for_bit() {
    for l in [4, 6, 8, 16, 64] {
        let t = Torus::new(l).unwrap();
        let worms = if l == 64 { 30 } else { 150 };
        for exits in KINDS {
            for (vv, temps) in [
                (0.0, &[1.0][..]),
                (-1.0, &[0.65, 2.0, 15.0]),
                (1.0, &[0.65, 2.0, 15.0]),
            ] {
                for &temp in temps {
                    let worm = Worm::new(t, vv, temp, exits).unwrap();
                    for seed in 0..2 {
                        compare(&worm, seed + 10 * l as u64, worms);
                    }
                }
            }
        }
    }
}

#[test]
fn capped_worm_matches_reference_and_undoes_rejections() {
    let t = Torus::new(8).unwrap();
    for exits in KINDS {
        let worm = Worm::new(t, -1.0, 0.65, exits).unwrap();
        let (mut h, mut v) = planes(t);
        t.columnar(&mut h, &mut v).unwrap();
        let mut p = partners(t, &h, &v);
        let mut rng = stream(5, 0, 0);
        let mut rng_ref = rng.clone();
        let mut backup = vec![0u64; 2 * t.plane_words()];
        let mut backup_ref = vec![0u32; t.sites()];
        let (mut h2, mut v2) = planes(t);
        let (mut closed, mut rejected) = (0, 0);
        for k in 0..400 {
            let cap = 1 + (k % 4) as u64;
            let (h0, v0) = (h.clone(), v.clone());
            let o = worm
                .run_capped(&mut h, &mut v, &mut backup, cap, &mut rng)
                .unwrap();
            let o_ref = rf::worm_capped(&worm, &mut p, &mut backup_ref, cap, &mut rng_ref).unwrap();
            assert_eq!(o, o_ref);
            rf::planes_from_partners(t, &p, &mut h2, &mut v2).unwrap();
            assert!(h == h2 && v == v2);
            match o {
                WormOutcome::Closed { steps } => {
                    assert!(steps <= cap);
                    closed += 1;
                }
                WormOutcome::Rejected { steps } => {
                    assert_eq!(steps, cap);
                    assert!(h == h0 && v == v0, "rejected worm must restore the planes");
                    rejected += 1;
                }
            }
        }
        assert!(
            closed > 50 && rejected > 30,
            "{closed} closed, {rejected} rejected"
        );
    }
}

// ---------------------------------------------------------------- ergodicity

/// 4×4 coverings as 32-bit keys (h in the low 16 bits, v in the high 16 bits).
fn key(h: &[u64], v: &[u64]) -> u32 {
    (h[0] as u32) | ((v[0] as u32) << 16)
}

#[test]
fn all_coverings_and_winding_sectors_of_the_4x4_torus_are_reached() {
    // dimer_exact.json: 272 coverings in 13 winding sectors, incl. (±2, 0) and (0, ±2)
    // with one covering each.
    let t = Torus::new(4).unwrap();
    for exits in KINDS {
        for (vv, temp) in [(0.0, 1.0), (-1.0, 2.0), (1.0, 2.0)] {
            let worm = Worm::new(t, vv, temp, exits).unwrap();
            let (mut h, mut v) = planes(t);
            let mut rng = stream(99, 1, 0);
            worm.randomise(&mut h, &mut v, &mut rng, 10).unwrap();
            let mut seen: Vec<u32> = Vec::new();
            let mut sectors: Vec<(i64, i64)> = Vec::new();
            for _ in 0..60_000 {
                worm.run(&mut h, &mut v, &mut rng).unwrap();
                let k = key(&h, &v);
                if let Err(pos) = seen.binary_search(&k) {
                    t.validate(&h, &v).unwrap();
                    seen.insert(pos, k);
                }
                let w = obs::winding(t, &h, &v).unwrap();
                if !sectors.contains(&w) {
                    sectors.push(w);
                }
            }
            assert_eq!(sectors.len(), 13, "{exits:?} v {vv}: {sectors:?}");
            assert_eq!(seen.len(), 272, "{exits:?} v {vv}");
        }
    }
}

#[test]
fn calibrate_gives_a_fixed_positive_count() {
    for l in [4, 16, 64] {
        let t = Torus::new(l).unwrap();
        for (vv, temp) in [(0.0, 1.0), (-1.0, 0.65)] {
            let worm = Worm::new(t, vv, temp, Exits::HeatBath).unwrap();
            let (mut h, mut v) = planes(t);
            let mut rng = stream(3, 0, 0);
            let steps = worm.randomise(&mut h, &mut v, &mut rng, 200).unwrap();
            assert!(steps >= 200);
            let mut rng2 = rng.clone();
            let (mut h2, mut v2) = (h.clone(), v.clone());
            let k = worm.calibrate(&mut h, &mut v, &mut rng, 200).unwrap();
            let total = worm.run_many(&mut h2, &mut v2, &mut rng2, 200).unwrap();
            let want = libm::round((l * l) as f64 * 200.0 / total as f64).max(1.0) as u64;
            assert_eq!(k, want);
            assert!(k >= 1);
            t.validate(&h, &v).unwrap();
        }
    }
}

/// All coverings of the 4×4 torus by backtracking (independent of the worm), as keys.
fn enumerate_4x4() -> Vec<u32> {
    fn rec(t: Torus, h: &mut [u64], v: &mut [u64], covered: u32, out: &mut Vec<u32>) {
        if covered == 0xFFFF {
            let k = key(h, v);
            if let Err(pos) = out.binary_search(&k) {
                out.insert(pos, k);
            }
            return;
        }
        let i = covered.trailing_ones() as usize; // first free site
        let (x, y) = (i % 4, i / 4);
        for d in 0..4 {
            let j = rf::neighbour(t, i, d);
            if covered & (1 << j) != 0 {
                continue;
            }
            // The link of i in direction d, as (plane, site of its lower-left end).
            let (plane, at) = match d {
                0 => (0, i),
                1 => (1, i),
                2 => (0, y * 4 + (x + 3) % 4),
                _ => (1, ((y + 3) % 4) * 4 + x),
            };
            let p = if plane == 0 { &mut *h } else { &mut *v };
            p[0] ^= 1 << at;
            rec(t, h, v, covered | 1 << i | 1 << j, out);
            let p = if plane == 0 { &mut *h } else { &mut *v };
            p[0] ^= 1 << at;
        }
    }
    let t = Torus::new(4).unwrap();
    let mut out = Vec::new();
    rec(t, &mut [0], &mut [0], 0, &mut out);
    out
}

/// χ² quantile by Wilson–Hilferty for `k` degrees of freedom and normal quantile `z`.
fn chi2_quantile(k: f64, z: f64) -> f64 {
    let a = 2.0 / (9.0 * k);
    k * (1.0 - a + z * libm::sqrt(a)).powi(3)
}

#[test]
fn worm_samples_the_exact_4x4_distribution() {
    // Exact: the 272 coverings (dimer_exact.json), enumerated here by backtracking, with
    // Boltzmann weights e^{−β v N_∥}. Samples are taken every THIN worms. Measured τ_int
    // (400 000 worms each, in worms): N_∥ ≤ 3.7, W_x² + W_y² ≤ 1.7, the indicator of
    // one columnar covering ≤ 8.5 (v = −1, T = 1, heat bath; ≤ 1.3 at v = 0), so
    // THIN = 40 ≈ 5 τ leaves correlations e^{−40/8.5} ≈ 1 % and the plain χ² test
    // applies. Coverings expected fewer than 10 times are pooled. Threshold: the p = 1e−4
    // upper quantile (z = 3.719, Wilson–Hilferty).
    const THIN: u64 = 40;
    const SAMPLES: usize = 40_000;
    let all = enumerate_4x4();
    assert_eq!(all.len(), 272);
    let t = Torus::new(4).unwrap();
    let mut seed = 0;
    for (vv, temp) in [(0.0, 1.0), (-1.0, 1.0), (1.0, 0.65)] {
        for exits in KINDS {
            seed += 1;
            let worm = Worm::new(t, vv, temp, exits).unwrap();
            let weights: Vec<f64> = all
                .iter()
                .map(|&k| {
                    let (h, v) = ([(k & 0xFFFF) as u64], [(k >> 16) as u64]);
                    let n = t.n_parallel(&h, &v).unwrap() as f64;
                    libm::exp(-vv / temp * n)
                })
                .collect();
            let z: f64 = weights.iter().sum();
            let (mut h, mut v) = planes(t);
            let mut rng = stream(1234, seed, 0);
            worm.randomise(&mut h, &mut v, &mut rng, 1000).unwrap();
            let mut counts = vec![0u64; all.len()];
            for _ in 0..SAMPLES {
                worm.run_many(&mut h, &mut v, &mut rng, THIN).unwrap();
                counts[all.binary_search(&key(&h, &v)).unwrap()] += 1;
            }
            // Coverings expected fewer than 10 times are pooled into one bin.
            let (mut chi2, mut bins) = (0.0, 0usize);
            let (mut pool_c, mut pool_e) = (0.0, 0.0);
            for (&c, &w) in counts.iter().zip(&weights) {
                let e = SAMPLES as f64 * w / z;
                if e < 10.0 {
                    pool_c += c as f64;
                    pool_e += e;
                } else {
                    chi2 += (c as f64 - e).powi(2) / e;
                    bins += 1;
                }
            }
            if pool_e > 0.0 {
                chi2 += (pool_c - pool_e).powi(2) / pool_e;
                bins += 1;
            }
            let dof = (bins - 1) as f64;
            let crit = chi2_quantile(dof, 3.719);
            assert!(
                chi2 < crit,
                "v {vv} T {temp} {exits:?}: chi2 {chi2:.1} >= {crit:.1} ({dof} dof)"
            );
            std::println!("v {vv} T {temp} {exits:?}: chi2 {chi2:.1} ({dof} dof, limit {crit:.1})");
        }
    }
}

// ---------------------------------------------------------------- observables

#[test]
fn observables_match_the_per_site_oracles() {
    for l in [4, 6, 8, 10, 12, 30, 64, 66] {
        let t = Torus::new(l).unwrap();
        for (vv, temp, exits) in [
            (0.0, 1.0, Exits::HeatBath),
            (-1.0, 0.65, Exits::MinimalBounce),
            (1.0, 2.0, Exits::HeatBath),
        ] {
            let worm = Worm::new(t, vv, temp, exits).unwrap();
            let (mut h, mut v) = planes(t);
            let mut rng = stream(l as u64, 7, 0);
            worm.randomise(&mut h, &mut v, &mut rng, 0).unwrap();
            let mut c = vec![0u64; l / 2 + 1];
            let mut c_ref = vec![0u64; l / 2 + 1];
            for _ in 0..8 {
                worm.run_many(&mut h, &mut v, &mut rng, 5).unwrap();
                let p = partners(t, &h, &v);
                assert_eq!(obs::winding(t, &h, &v).unwrap(), rf::winding(t, &p));
                assert_eq!(t.n_parallel(&h, &v).unwrap(), rf::n_parallel(t, &p));
                assert_eq!(
                    obs::flippable_plaquettes(t, &h, &v).unwrap(),
                    rf::n_parallel(t, &p)
                );
                assert_eq!(obs::link_counts(t, &h, &v).unwrap(), rf::link_counts(t, &p));
                let (hc, vc) = rf::link_counts(t, &p);
                assert_eq!(hc + vc, (l * l / 2) as u64);
                obs::axis_correlation(t, &h, &mut c).unwrap();
                rf::axis_correlation(t, &p, &mut c_ref);
                assert_eq!(c, c_ref);
                assert_eq!(c[0], hc);
                assert_eq!(c[1], 0, "collinear neighbours cannot coexist");
                assert_eq!(
                    obs::columnar_sums(t, &h, &v).unwrap(),
                    rf::columnar_order(t, &p)
                );
                for (x0, y0, b) in [(0, 0, 2), (l - 1, 3, 4), (5, l - 2, 3), (2, 1, l)] {
                    assert_eq!(
                        obs::block_fields(t, &h, &v, x0, y0, b).unwrap(),
                        rf::block_fields(t, &p, x0, y0, b)
                    );
                }
            }
        }
    }
    let t = Torus::new(4).unwrap();
    let (h, v) = planes(t);
    assert!(obs::block_fields(t, &h, &v, 0, 0, 0).is_err());
    assert!(obs::block_fields(t, &h, &v, 0, 0, 5).is_err());
    assert!(obs::axis_correlation(t, &h, &mut [0; 2]).is_err());
}

#[test]
fn observables_on_a_hand_made_4x4_covering() {
    // Rows y = 0, 1: vertical dimers at x = 0 and x = 1 (plaquette (0,0) flippable,
    // vertically); horizontal dimers (2,0)-(3,0) and (2,1)-(3,1) (plaquette (2,0)
    // flippable); rows 2, 3: columnar h at x = 0, 2.
    let t = Torus::new(4).unwrap();
    let (mut h, mut v) = planes(t);
    for (x, y) in [(0, 0), (1, 0)] {
        t.set(&mut v, x, y, true).unwrap();
    }
    for (x, y) in [(2, 0), (2, 1), (0, 2), (2, 2), (0, 3), (2, 3)] {
        t.set(&mut h, x, y, true).unwrap();
    }
    t.validate(&h, &v).unwrap();
    // Parallel pairs: v(0,0)&v(1,0); h(2,0)&h(2,1); h(0,2)&h(0,3); h(2,2)&h(2,3);
    // h(2,3)&h(2,0) (wrap in y); h(2,1)&h(2,2).
    assert_eq!(t.n_parallel(&h, &v).unwrap(), 6);
    // W_x = Σ_y (−1)^y h(0,y) = h(0,2) − h(0,3) = 0; W_y = v(0,0) − v(1,0) = 0.
    assert_eq!(obs::winding(t, &h, &v).unwrap(), (0, 0));
    assert_eq!(obs::link_counts(t, &h, &v).unwrap(), (6, 2));
    // Σ(−1)^x h = 6 (all at even x); Σ(−1)^y v = 2 (row 0).
    assert_eq!(obs::columnar_sums(t, &h, &v).unwrap(), (6, 2));
    assert_eq!(obs::columnar_order(t, &h, &v).unwrap(), (0.75, 0.25));
    let mut c = [0u64; 3];
    obs::axis_correlation(t, &h, &mut c).unwrap();
    // r = 2: rows 2, 3 have h at x = 0, 2 (2 ordered pairs each); rows 0, 1 one dimer at
    // x = 2 whose partner x = 0 is empty.
    assert_eq!(c, [6, 0, 4]);
    // Block 2×2 at (2,0): h(2,0) (+1), h(2,1) (−1); no v.
    assert_eq!(obs::block_fields(t, &h, &v, 2, 0, 2).unwrap(), (0, 0));
    // Block 3×3 at (0,0): h(2,0) +1, h(2,1) −1, h(0,2) +1, h(2,2) +1;
    // v(0,0) +1, v(1,0) −1.
    assert_eq!(obs::block_fields(t, &h, &v, 0, 0, 3).unwrap(), (2, 0));
}

// ---------------------------------------------------------------- decorated & links

#[test]
fn decorated_layout_by_hand_and_round_trips() {
    let t = Torus::new(4).unwrap();
    let (mut h, mut v) = planes(t);
    t.columnar(&mut h, &mut v).unwrap();
    let vertex = [0x8001u64]; // sites (0,0) and (3,3)
    let face = [0x0020u64]; // plaquette (1,1)
    let mut out = vec![0u8; decorated_len(t)];
    write_decorated(t, &h, &v, &vertex, &face, &mut out).unwrap();
    // Row 0 (y = 0): V h V h ... = [1, 1, 0, 0, 0, 1, 0, 0]; row 1: v/face all zero.
    assert_eq!(&out[0..8], &[1, 1, 0, 0, 0, 1, 0, 0]);
    assert_eq!(&out[8..16], &[0; 8]);
    // Row 3 (face row of y = 1): X[3][3] = face(1,1) = 1.
    assert_eq!(&out[24..32], &[0, 0, 0, 1, 0, 0, 0, 0]);
    // Row 6 (y = 3): vertex (3,3) at column 6.
    assert_eq!(&out[48..56], &[0, 1, 0, 0, 0, 1, 1, 0]);
    assert_eq!(out.iter().map(|&b| b as usize).sum::<usize>(), 8 + 2 + 1);

    for l in [4, 6, 10, 64] {
        let t = Torus::new(l).unwrap();
        let worm = Worm::new(t, 0.0, 1.0, Exits::HeatBath).unwrap();
        let (mut h, mut v) = planes(t);
        let mut rng = stream(l as u64, 0, 3);
        worm.randomise(&mut h, &mut v, &mut rng, 30).unwrap();
        let mask_last = |p: &mut Vec<u64>| {
            let n = t.sites();
            if !n.is_multiple_of(64) {
                *p.last_mut().unwrap() &= (1u64 << (n % 64)) - 1;
            }
        };
        let mut vertex: Vec<u64> = (0..t.plane_words())
            .map(|k| k as u64 * 0x9E37_79B9_7F4A_7C15)
            .collect();
        let mut face: Vec<u64> = vertex.iter().map(|x| x.rotate_left(17)).collect();
        mask_last(&mut vertex);
        mask_last(&mut face);
        let mut out = vec![0u8; decorated_len(t)];
        write_decorated(t, &h, &v, &vertex, &face, &mut out).unwrap();
        let (mut h2, mut v2) = planes(t);
        let (mut vx2, mut f2) = planes(t);
        read_decorated(t, &out, &mut h2, &mut v2, &mut vx2, &mut f2).unwrap();
        assert!(h == h2 && v == v2 && vertex == vx2 && face == f2);
        // Decorated link positions are the links export.
        let mut links = vec![0u8; links_len(t)];
        write_links(t, &h, &v, &mut links).unwrap();
        for y in 0..l {
            for x in 0..l {
                assert_eq!(links[y * l + x], out[2 * y * 2 * l + 2 * x + 1]);
                assert_eq!(links[l * l + y * l + x], out[(2 * y + 1) * 2 * l + 2 * x]);
            }
        }
        read_links(t, &links, &mut h2, &mut v2).unwrap();
        assert!(h == h2 && v == v2);

        // Corruptions.
        let (mut a, mut b, mut c, mut d) = (h2.clone(), v2.clone(), vx2.clone(), f2.clone());
        assert!(matches!(
            read_decorated(t, &out[1..], &mut a, &mut b, &mut c, &mut d),
            Err(Error::BufferLength { .. })
        ));
        let mut bad = out.clone();
        bad[7] = 2;
        assert!(matches!(
            read_decorated(t, &bad, &mut a, &mut b, &mut c, &mut d),
            Err(Error::InvalidParameter(_))
        ));
        // Flip one link byte: some site then touches 0 or 2 dimers.
        let mut bad = out.clone();
        bad[1] ^= 1;
        assert!(matches!(
            read_decorated(t, &bad, &mut a, &mut b, &mut c, &mut d),
            Err(Error::InvalidParameter(_))
        ));
        // Flipping a noise byte is fine.
        let mut ok = out.clone();
        ok[0] ^= 1;
        read_decorated(t, &ok, &mut a, &mut b, &mut c, &mut d).unwrap();
        let mut bad = links.clone();
        bad[l * l + 3] ^= 1;
        assert!(read_links(t, &bad, &mut a, &mut b).is_err());
        bad[l * l + 3] = 255;
        assert!(read_links(t, &bad, &mut a, &mut b).is_err());
        assert!(read_links(t, &links[..links.len() - 1], &mut a, &mut b).is_err());
        assert!(write_links(t, &h, &v, &mut links[1..]).is_err());
        assert!(write_decorated(t, &h, &v, &vertex, &face[1..], &mut out).is_err());
    }
}

#[test]
fn partner_conversions_reject_garbage() {
    let t = Torus::new(4).unwrap();
    let (mut h, mut v) = planes(t);
    let mut p = vec![0u32; 16];
    assert!(rf::partners_from_planes(t, &h, &v, &mut p).is_err());
    t.columnar(&mut h, &mut v).unwrap();
    rf::partners_from_planes(t, &h, &v, &mut p).unwrap();
    rf::planes_from_partners(t, &p, &mut h, &mut v).unwrap();
    p.swap(0, 2);
    assert!(rf::planes_from_partners(t, &p, &mut h, &mut v).is_err());
    let mut p = vec![99u32; 16];
    assert!(rf::planes_from_partners(t, &p, &mut h, &mut v).is_err());
    // Symmetric but not neighbours: 0 <-> 5 (diagonal).
    for i in 0..16u32 {
        p[i as usize] = i ^ 5;
    }
    assert!(rf::planes_from_partners(t, &p, &mut h, &mut v).is_err());
}

// ---------------------------------------------------------------- direction-view worm

/// `run_many_dirs` == `run_many` on the planes, bit for bit: same steps, same planes, same
/// stream afterwards, for batches of several sizes (0 included: the conversion round
/// trip alone), on power-of-two and other even sizes (L² not a multiple of 64 for 6, 66
/// and 100, so the scalar tail of the conversions is exercised too).
#[test]
fn direction_view_worm_matches_planes_worm_bit_for_bit() {
    for l in [4, 6, 8, 64, 66, 100] {
        let t = Torus::new(l).unwrap();
        let mut dirs = vec![0xffu8; t.sites()];
        for exits in KINDS {
            for (vv, temp) in [
                (0.0, 1.0),
                (-1.0, 0.65),
                (-1.0, 2.0),
                (1.0, 0.65),
                (1.0, 15.0),
            ] {
                let worm = Worm::new(t, vv, temp, exits).unwrap();
                for seed in 0..2u64 {
                    let (mut h, mut v) = planes(t);
                    t.columnar(&mut h, &mut v).unwrap();
                    let mut rng = stream(seed + 100 * l as u64, 3, 0);
                    if seed == 1 {
                        worm.run_many(&mut h, &mut v, &mut rng, 10).unwrap();
                    }
                    let (mut h2, mut v2, mut rng2) = (h.clone(), v.clone(), rng.clone());
                    for batch in [0, 1, 7, 0, 25] {
                        let s = worm
                            .run_many_dirs(&mut h, &mut v, &mut dirs, &mut rng, batch)
                            .unwrap();
                        let s2 = worm.run_many(&mut h2, &mut v2, &mut rng2, batch).unwrap();
                        let at = format!("L {l}, {exits:?}, v {vv}, T {temp}, seed {seed}");
                        assert_eq!(s, s2, "steps, {at}");
                        assert!(h == h2 && v == v2, "configuration, {at}");
                        assert_eq!(rng, rng2, "stream, {at}");
                        t.validate(&h, &v).unwrap();
                    }
                }
            }
        }
    }
}

/// Bad input to `run_many_dirs`: wrong lengths and planes that are not a covering (every
/// single flipped link bit of a random covering, a set padding bit) give errors, leave the
/// planes unchanged and consume no random numbers.
#[test]
fn direction_view_worm_rejects_bad_input() {
    let (t6, t66) = (Torus::new(6).unwrap(), Torus::new(66).unwrap());
    let w = Worm::new(t6, -1.0, 1.0, Exits::HeatBath).unwrap();
    let mut rng = stream(5, 0, 0);
    let (mut h, mut v) = planes(t6);
    t6.columnar(&mut h, &mut v).unwrap();
    let mut dirs = vec![0u8; t6.sites()];
    let mut short = vec![0u8; t6.sites() - 1];
    assert!(matches!(
        w.run_many_dirs(&mut h, &mut v, &mut short, &mut rng, 1),
        Err(Error::BufferLength { .. })
    ));
    let mut none = [0u64; 0];
    assert!(matches!(
        w.run_many_dirs(&mut none, &mut v, &mut dirs, &mut rng, 1),
        Err(Error::BufferLength { .. })
    ));
    // A padding bit (L² = 36 < 64).
    let before = rng.clone();
    let mut hp = h.clone();
    hp[0] |= 1 << 40;
    assert!(matches!(
        w.run_many_dirs(&mut hp, &mut v, &mut dirs, &mut rng, 1),
        Err(Error::InvalidParameter(_))
    ));
    // Empty planes.
    let (mut he, mut ve) = planes(t6);
    assert!(matches!(
        w.run_many_dirs(&mut he, &mut ve, &mut dirs, &mut rng, 1),
        Err(Error::InvalidParameter(_))
    ));
    assert_eq!(rng, before);
    for t in [t6, t66] {
        let w = Worm::new(t, 0.0, 1.0, Exits::HeatBath).unwrap();
        let (mut h, mut v) = planes(t);
        let mut dirs = vec![0u8; t.sites()];
        w.randomise(&mut h, &mut v, &mut rng, 50).unwrap();
        for i in 0..t.sites() {
            for plane in 0..2 {
                let (mut hb, mut vb) = (h.clone(), v.clone());
                let p = if plane == 0 { &mut hb } else { &mut vb };
                p[i / 64] ^= 1 << (i % 64);
                let (hc, vc) = (hb.clone(), vb.clone());
                let before = rng.clone();
                assert!(
                    matches!(
                        w.run_many_dirs(&mut hb, &mut vb, &mut dirs, &mut rng, 1),
                        Err(Error::InvalidParameter(_))
                    ),
                    "L {}, bit {i} of plane {plane}",
                    t.l()
                );
                assert!(hb == hc && vb == vc && rng == before);
            }
        }
        // The covering itself passes.
        w.run_many_dirs(&mut h, &mut v, &mut dirs, &mut rng, 1)
            .unwrap();
    }
}
