//! 1D Ising ring (N sites, periodic) against the exact solution (docs/references.md#constants-quoted-in-tests):
//! with t = tanh K at h = 0, e = −(t + t^{N−1})/(1 + t^N) and
//! ⟨s₀s_r⟩ = (t^r + t^{N−r})/(1 + t^N); in a field, the transfer matrix.
//!
//! Both layouts: replica (`u64x4`, N = 16, 128 replicas at K = 0.5 and 128 at K = 1) and
//! strip (`u64x4`, N = 256, two lattices at each K). Local rules: Metropolis with ½ at
//! ΔE = 0 (what `auto` uses on rings: with certain ΔE = 0 moves, domain walls ride along
//! the fixed sweep order) and heat bath.

use rsmi_core::ising::{AcceptTable, Algorithm, Dim, Layout, Replica, Strip};
use rsmi_tests::*;
use wide::u64x4;

/// Exact bond energy per site and ⟨s₀s_r⟩ of the ring at h = 0.
fn ring_h0(n: usize, k: f64) -> (f64, impl Fn(usize) -> f64) {
    let t = k.tanh();
    let tn = t.powi(n as i32);
    let e = -(t + t.powi(n as i32 - 1)) / (1.0 + tn);
    (e, move |r: usize| {
        (t.powi(r as i32) + t.powi((n - r) as i32)) / (1.0 + tn)
    })
}

/// Exact bond energy per site −⟨Σ s_i s_{i+1}⟩/N and magnetisation ⟨Σ s_i⟩/N of the ring
/// with coupling K and reduced field H = βh, from the transfer matrix
/// T(s, s′) = exp(K s s′ + H (s + s′)/2), eigenvalues
/// λ± = e^K cosh H ± r, r = √(e^{2K} sinh² H + e^{−2K}), Z = λ₊^N + λ₋^N:
/// −e = ∂ ln Z/∂K / N and m = ∂ ln Z/∂H / N, i.e.
/// (λ₊^{N−1} ∂λ₊ + λ₋^{N−1} ∂λ₋)/Z with
/// ∂_K λ± = e^K cosh H ± (e^{2K} sinh² H − e^{−2K})/r and
/// ∂_H λ± = e^K sinh H ± e^{2K} sinh H cosh H / r.
/// (λ₊λ₋ = e^{2K} − e^{−2K} > 0, so both are positive for K > 0.)
fn ring_transfer(n: usize, k: f64, h: f64) -> (f64, f64) {
    let (ek, e2k, em2k) = (k.exp(), (2.0 * k).exp(), (-2.0 * k).exp());
    let r = (e2k * h.sinh().powi(2) + em2k).sqrt();
    let (lp, lm) = (ek * h.cosh() + r, ek * h.cosh() - r);
    let dr_dk = (e2k * h.sinh().powi(2) - em2k) / r;
    let dr_dh = e2k * h.sinh() * h.cosh() / r;
    let (dlp_dk, dlm_dk) = (ek * h.cosh() + dr_dk, ek * h.cosh() - dr_dk);
    let (dlp_dh, dlm_dh) = (ek * h.sinh() + dr_dh, ek * h.sinh() - dr_dh);
    // Divide through by λ₊^N (x = λ₋/λ₊ < 1) for stability.
    let x = lm / lp;
    let xn1 = x.powi(n as i32 - 1);
    let norm = 1.0 + xn1 * x;
    let e = -(dlp_dk + xn1 * dlm_dk) / lp / norm;
    let m = (dlp_dh + xn1 * dlm_dh) / lp / norm;
    (e, m)
}

/// The same by brute force over the 2^N states (N ≤ 20): (e, m, ⟨s₀s_r⟩ for r = 0..N).
fn ring_enumerate(n: usize, k: f64, h: f64) -> (f64, f64, Vec<f64>) {
    let (mut z, mut se, mut sm) = (0.0, 0.0, 0.0);
    let mut corr = vec![0.0; n];
    let s = |c: u32, i: usize| if (c >> (i % n)) & 1 == 1 { 1.0 } else { -1.0 };
    for c in 0u32..1 << n {
        let bonds: f64 = (0..n).map(|i| s(c, i) * s(c, i + 1)).sum();
        let mag: f64 = (0..n).map(|i| s(c, i)).sum();
        let w = (k * bonds + h * mag).exp();
        z += w;
        se -= w * bonds;
        sm += w * mag;
        for (r, cr) in corr.iter_mut().enumerate() {
            *cr += w * s(c, 0) * s(c, r);
        }
    }
    let nn = n as f64;
    (
        se / z / nn,
        sm / z / nn,
        corr.iter().map(|c| c / z).collect(),
    )
}

/// The formulas used below agree with brute-force enumeration at N = 16, and the field
/// formula reduces to the h = 0 one.
#[test]
fn exact_formulas_cross_check() {
    for k in [0.5, 1.0] {
        let (e0, c0) = ring_h0(16, k);
        let (eb, mb, cb) = ring_enumerate(16, k, 0.0);
        assert!(
            (e0 - eb).abs() < 1e-12 && mb.abs() < 1e-12,
            "K={k}: {e0} vs {eb}"
        );
        for (r, &c) in cb.iter().enumerate().skip(1) {
            assert!((c0(r) - c).abs() < 1e-12, "K={k} r={r}: {} vs {c}", c0(r));
        }
        let (et, mt) = ring_transfer(16, k, 0.0);
        assert!((et - e0).abs() < 1e-12 && mt.abs() < 1e-15);
        for h in [0.15, -0.3, 0.7] {
            let (et, mt) = ring_transfer(16, k, h);
            let (eb, mb, _) = ring_enumerate(16, k, h);
            assert!(
                (et - eb).abs() < 1e-12 && (mt - mb).abs() < 1e-12,
                "K={k} H={h}"
            );
        }
    }
    // Reference values of docs/references.md#constants-quoted-in-tests.
    assert!((ring_h0(16, 0.5).0 - -0.462124518472981).abs() < 1e-13);
    assert!((ring_h0(16, 1.0).0 - -0.76856922417268).abs() < 1e-13);
    assert!((ring_h0(16, 1.0).1(8) - 0.223506664359266).abs() < 1e-13);
    assert!((ring_h0(64, 1.0).0 - -0.761594170808613).abs() < 1e-13);
}

/// Per-chain series (chain-major, in blocks) of e and m, and of the translation-averaged
/// ⟨s₀s_r⟩ = (1/N) Σ_i s_i s_{i+r} for each listed r (`corr[j]` for `rs[j]`).
struct Ring1d {
    series: Series,
    corr: Vec<Vec<f64>>,
}

/// Run a 1D layout and collect [`Ring1d`] series for the distances `rs`.
fn run_ring<L: Layout>(
    layout: &L,
    table: &AcceptTable<u64x4>,
    seed: u64,
    s: Schedule,
    rs: &[usize],
) -> Ring1d {
    let n = layout.geometry().sites();
    let g = layout.geometry();
    let chains = layout.chains::<u64x4>();
    let mut lattice = random_lattice::<u64x4>(layout.words(), seed, 0);
    let mut flip = u64x4::ZERO;
    let mut rng = <u64x4 as Stream>::rng(seed, 0);
    let mut series = Series::new(chains, s.meas, s.block);
    let blocks = s.meas / s.block;
    let mut corr = vec![vec![0.0; chains * blocks]; rs.len()];
    let mut counts = vec![Default::default(); chains];
    let mut step = |lattice: &mut [u64x4], flip: &mut u64x4| {
        layout.sweep(lattice, table, &mut rng).unwrap();
        if s.global_flip {
            layout.global_flip(flip, table, &mut rng).unwrap();
        }
    };
    for _ in 0..s.therm {
        step(&mut lattice, &mut flip);
    }
    for t in 0..s.meas {
        for _ in 0..s.thin {
            step(&mut lattice, &mut flip);
        }
        layout.measure(&lattice, flip, &mut counts).unwrap();
        series.record(t, &counts, &g);
        for (c, conf) in configurations(layout, &lattice, flip).iter().enumerate() {
            let spin = |i: usize| (conf[(i % n) / 64] >> ((i % n) % 64)) & 1;
            for (j, &r) in rs.iter().enumerate() {
                let differ = (0..n).filter(|&i| spin(i) != spin(i + r)).count();
                corr[j][c * blocks + t / s.block] +=
                    (1.0 - 2.0 * differ as f64 / n as f64) / s.block as f64;
            }
        }
    }
    Ring1d { series, corr }
}

/// Check e and ⟨s₀s_r⟩ of the chain groups at h = 0.
fn check_h0(
    tag: &str,
    run: &Ring1d,
    n: usize,
    groups: &[(f64, Vec<usize>)],
    rs: &[usize],
    max_err: f64,
) {
    for (t, chains) in groups {
        let k = 1.0 / t;
        let (e, c) = ring_h0(n, k);
        let s = run.series.select(chains);
        assert_mean(&format!("{tag} K={k} e"), &s.e, s.chains, e, max_err);
        for (j, &r) in rs.iter().enumerate() {
            let data: Vec<f64> = chains
                .iter()
                .flat_map(|&ch| run.corr[j][ch * s.len..(ch + 1) * s.len].iter().copied())
                .collect();
            assert_mean(
                &format!("{tag} K={k} <s0 s{r}>"),
                &data,
                s.chains,
                c(r),
                max_err,
            );
        }
    }
}

#[test]
fn replica_ring_n16() {
    let n = 16;
    let layout = Replica::new(Dim::One, n).unwrap();
    let temps: Vec<f64> = (0..256).map(|b| if b < 128 { 2.0 } else { 1.0 }).collect();
    let rs: Vec<usize> = (1..=n / 2).collect();
    let groups = [(2.0, (0..128).collect()), (1.0, (128..256).collect())];
    for (seed, algorithm) in [(501, Algorithm::MetropolisHalf), (502, Algorithm::HeatBath)] {
        let table = AcceptTable::<u64x4>::per_bit(2, algorithm, &temps, 0.0).unwrap();
        let schedule = Schedule {
            therm: 500,
            meas: 8192,
            thin: 2,
            block: 16,
            global_flip: true,
        };
        let run = run_ring(&layout, &table, seed, schedule, &rs);
        check_h0(
            &format!("replica N=16 {algorithm:?}"),
            &run,
            n,
            &groups,
            &rs,
            2e-3,
        );
    }
}

#[test]
fn strip_ring_n256() {
    let n = 256;
    let layout = Strip::new(Dim::One, n).unwrap();
    // Lane = lattice: lanes 0, 1 at K = 0.5, lanes 2, 3 at K = 1.
    let temps: Vec<f64> = (0..256).map(|b| if b < 128 { 2.0 } else { 1.0 }).collect();
    let table = AcceptTable::<u64x4>::per_bit(2, Algorithm::MetropolisHalf, &temps, 0.0).unwrap();
    let rs = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128];
    let schedule = Schedule {
        therm: 1000,
        meas: 32768,
        thin: 2,
        block: 4,
        global_flip: true,
    };
    let run = run_ring(&layout, &table, 503, schedule, &rs);
    let groups = [(2.0, vec![0, 1]), (1.0, vec![2, 3])];
    check_h0("strip N=256", &run, n, &groups, &rs, 2e-3);
}

/// A field: 128 replicas at (T, h) = (2, 0.3) and 128 at (1, 0.3), against the
/// transfer-matrix energy and magnetisation (H = βh).
#[test]
fn replica_ring_n16_field() {
    let (n, h) = (16, 0.3);
    let layout = Replica::new(Dim::One, n).unwrap();
    let temps: Vec<f64> = (0..256).map(|b| if b < 128 { 2.0 } else { 1.0 }).collect();
    for (seed, algorithm) in [(504, Algorithm::MetropolisHalf), (505, Algorithm::HeatBath)] {
        let table = AcceptTable::<u64x4>::per_bit(2, algorithm, &temps, h).unwrap();
        let schedule = Schedule {
            therm: 500,
            meas: 4096,
            thin: 2,
            block: 16,
            global_flip: false,
        };
        let s = run_random_start(&layout, &table, seed, 0, schedule);
        for (t, chains) in [
            (2.0, (0..128).collect::<Vec<_>>()),
            (1.0, (128..256).collect()),
        ] {
            let (e, m) = ring_transfer(n, 1.0 / t, h / t);
            let g = s.select(&chains);
            let tag = format!("replica N=16 {algorithm:?} T={t} h={h}");
            assert_mean(&format!("{tag} e"), &g.e, g.chains, e, 2e-3);
            assert_mean(&format!("{tag} m"), &g.m, g.chains, m, 2e-3);
        }
    }
}
