//! Dimer samplers on the 4×4 torus against exact enumeration (docs/references.md#dimer_exactjson, A11).
//!
//! The 272 close-packed coverings of the 4×4 torus are enumerated here (the count and the
//! winding-sector counts are checked against `data/dimer_exact.json`, a copy of
//! `tests/data/dimer_exact.json`); every exact value is computed from that list,
//! never from the code under test. Then:
//!
//! * uniform measure (v = 0), worms with heat-bath and with minimal-bounce exits: every
//!   covering visited with frequency 1/272 (χ²), winding sectors (χ²), flippable fraction
//!   4/17, horizontal link density 1/4, ⟨h(x,y)h(x+r,y)⟩ of the JSON, and the exact
//!   per-configuration identity N_h + N_v = L²/2;
//! * interacting model E = v·N_∥ (v = −1 at T = 0.65 and T = 2; v = +1 at T = 1): ⟨N_∥⟩,
//!   the winding distribution and the full distribution over the 272 coverings against
//!   the Boltzmann weights e^{−v N_∥/T};
//! * worms alternating with multi-spin-coded plaquette sweeps (64 replicas, `u64`), at
//!   v = 0 and at v = −1, T = 2: still the exact distribution.
//!
//! **Correlated samples.** The χ² statistics are divided by max(1, 2τ_int), τ_int being
//! the largest Madras–Sokal time (in samples) among several functions of the covering
//! (N_∥, W_x², N_h and four random ±1 labels of the 272 coverings); means use the binning
//! error of `rsmi_tests::mean_err` (bins ≫ τ_int) with a 4σ tolerance and a maximal error
//! bar. Seeds are fixed.

use rsmi_core::dimer::plaquette::{Accept, Plaquettes};
use rsmi_core::dimer::{Exits, Torus, Worm};
use rsmi_core::rng::{Xoshiro256PlusPlus, stream};
use rsmi_tests::stats::tau_int_chains;
use rsmi_tests::*;
use serde_json::Value;
use std::collections::HashMap;

const L: usize = 4;
const N: usize = L * L;

/// A covering of the 4×4 torus: (h plane, v plane), bit y·L + x.
type Cover = (u64, u64);

fn bit(p: u64, x: usize, y: usize) -> u64 {
    (p >> ((y % L) * L + (x % L))) & 1
}

/// All close-packed coverings: the first uncovered site (typewriter order) is paired with
/// each uncovered neighbour in turn (all four directions: on a torus the left and lower
/// neighbours of the first free site may still be free).
fn enumerate() -> Vec<Cover> {
    fn fill(covered: u32, h: u64, v: u64, out: &mut Vec<Cover>) {
        if covered == (1 << N) - 1 {
            out.push((h, v));
            return;
        }
        let s = (!covered).trailing_zeros() as usize;
        let (x, y) = (s % L, s / L);
        // (partner site, plane is h, link index)
        let options = [
            (y * L + (x + 1) % L, true, y * L + x),
            (((y + 1) % L) * L + x, false, y * L + x),
            (y * L + (x + L - 1) % L, true, y * L + (x + L - 1) % L),
            (((y + L - 1) % L) * L + x, false, ((y + L - 1) % L) * L + x),
        ];
        for (p, horizontal, link) in options {
            if covered >> p & 1 == 0 {
                let c = covered | 1 << s | 1 << p;
                if horizontal {
                    fill(c, h | 1 << link, v, out);
                } else {
                    fill(c, h, v | 1 << link, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    fill(0, 0, 0, &mut out);
    out
}

/// Exact per-covering quantities, computed here from the link bits.
fn winding(c: Cover) -> (i64, i64) {
    let s = |k: usize| 1 - 2 * (k as i64 & 1);
    let wx = (0..L).map(|y| s(y) * bit(c.0, 0, y) as i64).sum();
    let wy = (0..L).map(|x| s(x) * bit(c.1, x, 0) as i64).sum();
    (wx, wy)
}

fn n_parallel(c: Cover) -> u64 {
    let mut n = 0;
    for y in 0..L {
        for x in 0..L {
            n += bit(c.0, x, y) & bit(c.0, x, y + 1);
            n += bit(c.1, x, y) & bit(c.1, x + 1, y);
        }
    }
    n
}

/// ⟨h(x,y) h(x+r,y)⟩ of one covering (average over sites).
fn hh(c: Cover, r: usize) -> f64 {
    let mut s = 0;
    for y in 0..L {
        for x in 0..L {
            s += bit(c.0, x, y) & bit(c.0, x + r, y);
        }
    }
    s as f64 / N as f64
}

struct Exact {
    covers: Vec<Cover>,
    index: HashMap<Cover, usize>,
}

impl Exact {
    fn new() -> Self {
        let covers = enumerate();
        let index: HashMap<Cover, usize> =
            covers.iter().enumerate().map(|(i, &c)| (c, i)).collect();
        assert_eq!(
            index.len(),
            covers.len(),
            "duplicate coverings in the enumeration"
        );
        Exact { covers, index }
    }
    /// Boltzmann probabilities e^{−v N_∥/T}/Z of every covering (uniform for v = 0).
    fn probabilities(&self, v: f64, t: f64) -> Vec<f64> {
        let w: Vec<f64> = self
            .covers
            .iter()
            .map(|&c| {
                if v == 0.0 {
                    1.0
                } else {
                    (-v * n_parallel(c) as f64 / t).exp()
                }
            })
            .collect();
        let z: f64 = w.iter().sum();
        w.iter().map(|w| w / z).collect()
    }
}

fn json() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/dimer_exact.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let all: Value = serde_json::from_str(&text).unwrap();
    all["exact"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["L"].as_u64() == Some(L as u64))
        .expect("no L = 4 entry in dimer_exact.json")
        .clone()
}

fn fraction(v: &Value) -> f64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("not a fraction string: {v}"));
    match s.split_once('/') {
        Some((a, b)) => a.parse::<f64>().unwrap() / b.parse::<f64>().unwrap(),
        None => s.parse().unwrap(),
    }
}

/// The 13 winding sectors of the 4×4 torus in a fixed order, and the index of (wx, wy).
fn sectors(exact: &Exact) -> Vec<(i64, i64)> {
    let mut s: Vec<(i64, i64)> = exact.covers.iter().map(|&c| winding(c)).collect();
    s.sort();
    s.dedup();
    s
}

#[test]
fn enumeration_matches_reference_file() {
    let exact = Exact::new();
    let j = json();
    assert_eq!(exact.covers.len() as u64, j["coverings"].as_u64().unwrap());
    let mut counts: HashMap<String, u64> = HashMap::new();
    for &c in &exact.covers {
        let (wx, wy) = winding(c);
        *counts.entry(format!("{wx},{wy}")).or_default() += 1;
    }
    let file: HashMap<String, u64> = j["winding_counts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(counts, file);
    let n = exact.covers.len() as f64;
    let flip: f64 = exact
        .covers
        .iter()
        .map(|&c| n_parallel(c) as f64 / N as f64)
        .sum::<f64>()
        / n;
    assert!((flip - fraction(&j["flippable_plaquette_fraction"])).abs() < 1e-12);
    let hd: f64 = exact
        .covers
        .iter()
        .map(|&c| c.0.count_ones() as f64 / N as f64)
        .sum::<f64>()
        / n;
    assert!((hd - fraction(&j["horizontal_link_density"])).abs() < 1e-12);
    for r in 0..L {
        let e: f64 = exact.covers.iter().map(|&c| hh(c, r)).sum::<f64>() / n;
        assert!(
            (e - fraction(&j["hh_axis_corr"][r.to_string()])).abs() < 1e-12,
            "r = {r}"
        );
    }
    // Every covering holds L²/2 dimers, but the horizontal ones alone are not fixed: the
    // density 1/4 of horizontal links is exact only on average (by the x <-> y symmetry).
    assert!(exact.covers.iter().all(|&c| (c.0 | c.1) >> N == 0));
    assert!(
        exact
            .covers
            .iter()
            .all(|&c| c.0.count_ones() + c.1.count_ones() == N as u32 / 2)
    );
    let h_counts: std::collections::BTreeSet<u32> =
        exact.covers.iter().map(|c| c.0.count_ones()).collect();
    assert!(
        h_counts.len() > 1,
        "N_h constant over coverings: {h_counts:?}"
    );
}

/// Chain-major indices of the sampled coverings.
struct Samples {
    chains: usize,
    idx: Vec<usize>,
}

/// `chains` worm chains (chain c: `stream(seed, 0, c)`): columnar start + 2000 worms,
/// calibration, then `per_chain` samples `thin` loop sweeps apart.
#[allow(clippy::too_many_arguments)]
fn run_worms(
    exact: &Exact,
    v: f64,
    t: f64,
    exits: Exits,
    seed: u64,
    chains: usize,
    per_chain: usize,
    thin: u64,
) -> Samples {
    let torus = Torus::new(L).unwrap();
    let worm = Worm::new(torus, v, t, exits).unwrap();
    let mut idx = Vec::with_capacity(chains * per_chain);
    for c in 0..chains {
        let mut rng = stream(seed, 0, c as u64);
        let (mut h, mut vv) = ([0u64; 1], [0u64; 1]);
        worm.randomise(&mut h, &mut vv, &mut rng, 2000).unwrap();
        let per_sweep = worm.calibrate(&mut h, &mut vv, &mut rng, 2000).unwrap();
        for _ in 0..per_chain {
            worm.run_many(&mut h, &mut vv, &mut rng, thin * per_sweep)
                .unwrap();
            idx.push(lookup(exact, (h[0], vv[0])));
        }
    }
    Samples { chains, idx }
}

fn lookup(exact: &Exact, c: Cover) -> usize {
    *exact
        .index
        .get(&c)
        .unwrap_or_else(|| panic!("sampled planes {c:x?} are not one of the 272 coverings"))
}

/// 64 chains (the bits of a `u64` plaquette layout): each step runs `worms` worms on
/// every replica (exported to planes and imported back), then one plaquette sweep of all
/// replicas; a sample of every replica after every `thin` steps.
#[allow(clippy::too_many_arguments)]
fn run_mixed(
    exact: &Exact,
    v: f64,
    t: f64,
    accept: Accept,
    seed: u64,
    per_chain: usize,
    thin: usize,
    worms: u64,
) -> Samples {
    let torus = Torus::new(L).unwrap();
    let worm = Worm::new(torus, v, t, Exits::HeatBath).unwrap();
    let layout = Plaquettes::new(L).unwrap();
    let (mut h, mut vv) = (vec![0u64; N], vec![0u64; N]);
    layout.fill_columnar(&mut h, &mut vv).unwrap();
    let mut rngs: Vec<Xoshiro256PlusPlus> = (0..64).map(|r| stream(seed, 1, r)).collect();
    let mut prng = stream(seed, 2, 0);
    let mut step = |h: &mut [u64], vv: &mut [u64], rngs: &mut [Xoshiro256PlusPlus]| {
        for (r, rng) in rngs.iter_mut().enumerate() {
            let (mut hp, mut vp) = ([0u64; 1], [0u64; 1]);
            layout.export(h, vv, r, &mut hp, &mut vp).unwrap();
            worm.run_many(&mut hp, &mut vp, rng, worms).unwrap();
            layout.import(h, vv, r, &hp, &vp).unwrap();
        }
        layout.sweep(h, vv, &accept, &mut prng).unwrap();
    };
    for _ in 0..500 {
        step(&mut h, &mut vv, &mut rngs);
    }
    let mut per: Vec<Vec<usize>> = (0..64).map(|_| Vec::with_capacity(per_chain)).collect();
    for _ in 0..per_chain {
        for _ in 0..thin {
            step(&mut h, &mut vv, &mut rngs);
        }
        for (r, p) in per.iter_mut().enumerate() {
            let (mut hp, mut vp) = ([0u64; 1], [0u64; 1]);
            layout.export(&h, &vv, r, &mut hp, &mut vp).unwrap();
            p.push(lookup(exact, (hp[0], vp[0])));
        }
    }
    Samples {
        chains: 64,
        idx: per.concat(),
    }
}

/// A pseudo-random ±1 label of covering `i` (label set `k`).
fn label(i: usize, k: u64) -> f64 {
    let mut z =
        (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ k.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 31)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 29;
    if z & 1 == 1 { 1.0 } else { -1.0 }
}

impl Samples {
    fn series(&self, f: impl Fn(usize) -> f64) -> Vec<f64> {
        self.idx.iter().map(|&i| f(i)).collect()
    }

    /// The largest τ_int (in samples) over several functions of the covering.
    fn tau_max(&self, what: &str, exact: &Exact) -> f64 {
        let mut fs: Vec<(String, Vec<f64>)> = vec![
            (
                "N_par".into(),
                self.series(|i| n_parallel(exact.covers[i]) as f64),
            ),
            (
                "Wx^2".into(),
                self.series(|i| (winding(exact.covers[i]).0 as f64).powi(2)),
            ),
            (
                "N_h".into(),
                self.series(|i| exact.covers[i].0.count_ones() as f64),
            ),
        ];
        for k in 0..4 {
            fs.push((format!("label{k}"), self.series(|i| label(i, k))));
        }
        let mut tau = 0.5f64;
        for (name, s) in &fs {
            let (t, _) = tau_int_chains(s, self.chains, 6.0)
                .unwrap_or_else(|| panic!("{what}: no τ_int window for {name}: run longer"));
            tau = tau.max(t);
        }
        tau
    }

    fn counts(&self, bins: usize, map: impl Fn(usize) -> usize) -> Vec<u64> {
        let mut c = vec![0u64; bins];
        for &i in &self.idx {
            c[map(i)] += 1;
        }
        c
    }
}

/// χ² / max(1, 2τ) against the threshold of p = 10⁻⁴. Bins are ordered by probability
/// (so that the merging of `chi2` combines the rare ones).
fn assert_chi2(what: &str, observed: &[u64], p: &[f64], tau: f64) {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let o: Vec<u64> = order.iter().map(|&i| observed[i]).collect();
    let q: Vec<f64> = order.iter().map(|&i| p[i]).collect();
    let (x2, dof) = chi2(&o, &q);
    let inflate = (2.0 * tau).max(1.0);
    let thr = chi2_threshold(dof);
    if verbose() {
        eprintln!(
            "{what}: χ² = {x2:.1} / 2τ = {inflate:.2} -> {:.1} vs {thr:.1} (dof {dof})",
            x2 / inflate
        );
    }
    assert!(
        x2 / inflate <= thr,
        "{what}: χ²/max(1,2τ) = {x2:.1}/{inflate:.2} exceeds the p = 1e-4 threshold {thr:.1} (dof {dof})"
    );
}

/// Every check against the exact distribution `p` over the coverings.
fn check_distribution(what: &str, exact: &Exact, s: &Samples, p: &[f64], max_err_npar: f64) {
    let tau = s.tau_max(what, exact);
    if verbose() {
        eprintln!("{what}: {} samples, τ_int max = {tau:.2}", s.idx.len());
    }
    assert_chi2(
        &format!("{what} coverings"),
        &s.counts(p.len(), |i| i),
        p,
        tau,
    );
    let sec = sectors(exact);
    let sector_of = |i: usize| sec.binary_search(&winding(exact.covers[i])).unwrap();
    let mut ps = vec![0.0; sec.len()];
    for (i, &pi) in p.iter().enumerate() {
        ps[sector_of(i)] += pi;
    }
    assert_chi2(
        &format!("{what} winding"),
        &s.counts(sec.len(), sector_of),
        &ps,
        tau,
    );
    let npar: f64 = p
        .iter()
        .zip(&exact.covers)
        .map(|(p, &c)| p * n_parallel(c) as f64)
        .sum();
    assert_mean(
        &format!("{what} <N_par>"),
        &s.series(|i| n_parallel(exact.covers[i]) as f64),
        s.chains,
        npar,
        max_err_npar,
    );
}

fn uniform(exits: Exits, seed: u64) {
    let exact = Exact::new();
    let j = json();
    let what = format!("4x4 v=0 {exits:?}");
    let s = run_worms(&exact, 0.0, 1.0, exits, seed, 16, 1 << 14, 2);
    let p = exact.probabilities(0.0, 1.0);
    check_distribution(&what, &exact, &s, &p, 0.01);
    // The winding counts of the file directly (also checked against the enumeration).
    let sec = sectors(&exact);
    let total = exact.covers.len() as f64;
    let ps: Vec<f64> = sec
        .iter()
        .map(|(a, b)| j["winding_counts"][format!("{a},{b}")].as_u64().unwrap() as f64 / total)
        .collect();
    let obs = s.counts(sec.len(), |i| {
        sec.binary_search(&winding(exact.covers[i])).unwrap()
    });
    assert_chi2(
        &format!("{what} winding (JSON)"),
        &obs,
        &ps,
        s.tau_max(&what, &exact),
    );
    assert_mean(
        &format!("{what} flippable"),
        &s.series(|i| n_parallel(exact.covers[i]) as f64 / N as f64),
        s.chains,
        fraction(&j["flippable_plaquette_fraction"]),
        1e-3,
    );
    assert_mean(
        &format!("{what} h density"),
        &s.series(|i| exact.covers[i].0.count_ones() as f64 / N as f64),
        s.chains,
        fraction(&j["horizontal_link_density"]),
        2e-3,
    );
    // r = 0 is the h density (above). Odd r: collinear dimers one (or three = −1)
    // links apart cannot coexist, so the JSON's 0 holds in every sample.
    for r in [1, 3] {
        assert_eq!(fraction(&j["hh_axis_corr"][r.to_string()]), 0.0);
        assert!(
            s.idx.iter().all(|&i| hh(exact.covers[i], r) == 0.0),
            "hh({r}) != 0"
        );
    }
    assert_mean(
        &format!("{what} hh(2)"),
        &s.series(|i| hh(exact.covers[i], 2)),
        s.chains,
        fraction(&j["hh_axis_corr"]["2"]),
        2e-3,
    );
}

#[test]
fn uniform_heat_bath_worms_visit_all_coverings_uniformly() {
    uniform(Exits::HeatBath, 11);
}

#[test]
fn uniform_minimal_bounce_worms_visit_all_coverings_uniformly() {
    uniform(Exits::MinimalBounce, 12);
}

#[test]
fn interacting_worms_match_boltzmann_weights() {
    let exact = Exact::new();
    for (k, (v, t, exits)) in [
        (-1.0, 0.65, Exits::HeatBath),
        (-1.0, 0.65, Exits::MinimalBounce),
        (-1.0, 2.0, Exits::HeatBath),
        (-1.0, 2.0, Exits::MinimalBounce),
        (1.0, 1.0, Exits::HeatBath),
        (1.0, 1.0, Exits::MinimalBounce),
    ]
    .into_iter()
    .enumerate()
    {
        let what = format!("4x4 v={v} T={t} {exits:?}");
        let s = run_worms(&exact, v, t, exits, 100 + k as u64, 16, 1 << 13, 2);
        check_distribution(&what, &exact, &s, &exact.probabilities(v, t), 0.05);
    }
}

#[test]
fn worms_alternating_with_plaquette_sweeps_sample_exactly() {
    let exact = Exact::new();
    let s = run_mixed(&exact, 0.0, 1.0, Accept::uniform(), 21, 2048, 1, 1);
    check_distribution(
        "4x4 v=0 worm+plaquette",
        &exact,
        &s,
        &exact.probabilities(0.0, 1.0),
        0.02,
    );
    let s = run_mixed(
        &exact,
        -1.0,
        2.0,
        Accept::heat_bath(-1.0, 2.0).unwrap(),
        22,
        2048,
        1,
        1,
    );
    check_distribution(
        "4x4 v=-1 T=2 worm+plaquette",
        &exact,
        &s,
        &exact.probabilities(-1.0, 2.0),
        0.05,
    );
}
