//! Uniform dimers on the 64×64 torus (worms, heat-bath exits) against the exact
//! infinite-lattice local statistics of docs/references.md#dimer_exactjson (test A11).
//!
//! Exact on every torus, checked per configuration: every site touches one dimer, so
//! N_h + N_v = L²/2 and the total link density is 1/4; collinear neighbours
//! h(x,y)h(x+1,y) never coexist, so ⟨h h(+1)⟩ = 0 and C(1,0) = 0 − (1/4)² = −1/16
//! exactly (⟨h⟩ = 1/4 exactly by the x ↔ y symmetry of the torus measure).
//!
//! Statistical, with binning errors (4σ) over independent chains: ⟨h⟩ = 1/4 (the
//! horizontal density alone fluctuates from covering to covering), the flippable
//! fraction, and the tail of the axis correlation, C(x,0)·x²π²(−1)^x → 1 (Fisher and
//! Stephenson). Vertical dimers along y give a second, equivalent estimate (the planes
//! are transposed), which is averaged with the horizontal one.

use rsmi_core::dimer::{Exits, Torus, Worm, observables};
use rsmi_core::rng::stream;
use rsmi_tests::*;
use std::f64::consts::PI;

const L: usize = 64;

/// h'(x,y) = v(y,x): vertical dimers along y become horizontal dimers along x.
fn transpose(torus: Torus, v: &[u64], out: &mut [u64]) {
    out.fill(0);
    for y in 0..L {
        for x in 0..L {
            if torus.get(v, y, x).unwrap() {
                torus.set(out, x, y, true).unwrap();
            }
        }
    }
}

struct Run {
    chains: usize,
    flippable: Vec<f64>,
    h_density: Vec<f64>,
    /// corr[r] = series of ⟨h(x,y)h(x+r,y)⟩ per sample (mean of the h and rotated v
    /// estimates), r = 0..=L/2.
    corr: Vec<Vec<f64>>,
}

fn run(seed: u64, chains: usize, per_chain: usize, thin: u64) -> Run {
    let torus = Torus::new(L).unwrap();
    let worm = Worm::new(torus, 0.0, 1.0, Exits::HeatBath).unwrap();
    let words = torus.plane_words();
    let n = (L * L) as f64;
    let mut r = Run {
        chains,
        flippable: Vec::new(),
        h_density: Vec::new(),
        corr: vec![Vec::new(); L / 2 + 1],
    };
    let (mut ch, mut cv) = (vec![0u64; L / 2 + 1], vec![0u64; L / 2 + 1]);
    let mut vt = vec![0u64; words];
    for c in 0..chains {
        let mut rng = stream(seed, 0, c as u64);
        let (mut h, mut v) = (vec![0u64; words], vec![0u64; words]);
        worm.randomise(&mut h, &mut v, &mut rng, 2000).unwrap();
        let per_sweep = worm.calibrate(&mut h, &mut v, &mut rng, 2000).unwrap();
        // Warm-up: 200 loop sweeps (τ_int of the slowest observable here is a few sweeps).
        worm.run_many(&mut h, &mut v, &mut rng, 200 * per_sweep)
            .unwrap();
        for _ in 0..per_chain {
            worm.run_many(&mut h, &mut v, &mut rng, thin * per_sweep)
                .unwrap();
            let (nh, nv) = observables::link_counts(torus, &h, &v).unwrap();
            assert_eq!(nh + nv, (L * L / 2) as u64, "not L²/2 dimers");
            observables::axis_correlation(torus, &h, &mut ch).unwrap();
            transpose(torus, &v, &mut vt);
            observables::axis_correlation(torus, &vt, &mut cv).unwrap();
            assert_eq!(ch[0], nh);
            assert_eq!(cv[0], nv);
            assert_eq!(ch[1] + cv[1], 0, "collinear neighbouring dimers coexist");
            r.flippable
                .push(observables::flippable_plaquettes(torus, &h, &v).unwrap() as f64 / n);
            r.h_density.push(nh as f64 / n);
            for (k, s) in r.corr.iter_mut().enumerate() {
                s.push((ch[k] + cv[k]) as f64 / (2.0 * n));
            }
        }
    }
    r
}

/// C(x,0)·x²π²(−1)^x of one sample, averaged over x = 8..=12.
fn tail(r: &Run, t: usize) -> f64 {
    TAIL.map(|x| {
        let s = (x * x) as f64 * PI * PI * if x % 2 == 0 { 1.0 } else { -1.0 };
        (r.corr[x][t] - 1.0 / 16.0) * s
    })
    .iter()
    .sum::<f64>()
        / TAIL.len() as f64
}

/// Separations of the tail test: x ≥ 8 (docs/method.md#acceptance-experiments, A11) and ≤ 12 = L/5, where the
/// statistical error is still small; up to x = 16 the 64×64 data show no torus effect
/// beyond the errors, from x ≈ 20 on the torus images raise the product visibly.
const TAIL: [usize; 5] = [8, 9, 10, 11, 12];

/// Flippable fraction on the L = 64 torus: below the infinite-lattice 1/4 by at most
/// `FLIPPABLE_ALLOWANCE`. The exact torus values approach 1/4 from below (0.2353 at
/// L = 4, 0.2385 at L = 6, docs/references.md#dimer_exactjson); even a slow 1/L approach from the L = 6
/// deviation (0.0115) leaves 0.0115·6/64 = 1.1e-3 at L = 64.
const FLIPPABLE_ALLOWANCE: f64 = 1.1e-3;

#[test]
fn uniform_64x64_local_statistics_and_correlation_tail() {
    let r = run(64, 12, 8192, 1);
    let chains = r.chains;
    assert_mean("L=64 h density", &r.h_density, chains, 0.25, 2e-4);
    let f = mean_err("L=64 flippable", &r.flippable, chains);
    if verbose() {
        eprintln!(
            "L=64 flippable {:.6} ± {:.1e} (τ {:.2})",
            f.mean, f.err, f.tau_int
        );
    }
    assert!(f.err <= 2e-4, "flippable error bar {:.1e} too large", f.err);
    assert!(
        f.mean <= 0.25 + SIGMAS * f.err && f.mean >= 0.25 - FLIPPABLE_ALLOWANCE - SIGMAS * f.err,
        "L=64 flippable fraction {} ± {} outside [1/4 − {FLIPPABLE_ALLOWANCE}, 1/4] (4σ)",
        f.mean,
        f.err
    );
    // The oscillation: C(x,0) alternates in sign, (−1)^x, for every x = 2..=16 at > 4σ.
    for x in 2..=16 {
        let e = mean_err(&format!("C({x})"), &r.corr[x], chains);
        let c = e.mean - 1.0 / 16.0;
        let s = (x * x) as f64 * PI * PI * if x % 2 == 0 { 1.0 } else { -1.0 };
        if verbose() {
            eprintln!(
                "x={x:2} C={c:+.3e} ± {:.1e}  C·x²π²(−1)^x = {:.4} ± {:.4} (τ {:.2})",
                e.err,
                c * s,
                e.err * s.abs(),
                e.tau_int
            );
        }
        assert!(
            c * s.signum() > SIGMAS * e.err,
            "C({x}) = {c} ± {} has the wrong sign",
            e.err
        );
    }
    // The tail law, averaged over x = 8..=12 per sample (so that the error bar includes
    // the covariance between separations).
    let t: Vec<f64> = (0..r.flippable.len()).map(|i| tail(&r, i)).collect();
    let p = mean_err("tail", &t, chains);
    if verbose() {
        eprintln!(
            "mean over x=8..12 of C·x²π²(−1)^x = {:.4} ± {:.4}",
            p.mean, p.err
        );
    }
    assert!(p.err <= 0.015, "tail error bar {} too large", p.err);
    assert!(
        (p.mean - 1.0).abs() <= 0.10,
        "C(x,0)·x²π²(−1)^x over x = 8..12 is {} ± {}, not within 10 % of 1",
        p.mean,
        p.err
    );
}
