//! Larger lattices: energies at T_c for L = 16 … 128 against the exact finite-torus values
//! (Kaufman), and the infinite-lattice energy (Onsager) and spontaneous magnetisation
//! (Yang) at L = 256 away from T_c. Errors by binning (bins ≫ τ_int, checked).

use rsmi_core::ising::{AcceptTable, Algorithm, Dim, Layout, Replica, Strip};
use rsmi_tests::*;
use wide::u64x4;

fn replica_tc(l: usize, seed: u64, therm: usize, max_err: f64) {
    let t = exact::t_c();
    let table = AcceptTable::<u64x4>::uniform(4, Algorithm::Metropolis, t, 0.0).unwrap();
    let layout = Replica::new(Dim::Two, l).unwrap();
    let schedule = Schedule {
        therm,
        meas: 2048,
        thin: 4,
        block: 8,
        global_flip: true,
    };
    let s = run_random_start(&layout, &table, seed, 0, schedule);
    let what = format!("replica L={l} T_c e");
    assert_mean(&what, &s.e, s.chains, exact::finite(l, t, "e"), max_err);
}

#[test]
fn replica_l16_tc() {
    // Plain Metropolis, as `auto` uses from L = 16 on (no trapped states in practice).
    replica_tc(16, 201, 2000, 1e-3);
}

#[test]
fn replica_l32_tc() {
    // τ_int(E) ≈ 40 sweeps at L = 32; 4000 thermalisation sweeps ≫ τ_exp.
    replica_tc(32, 202, 4000, 1e-3);
}

/// Strip layout, four L = 128 lattices (one per `u64x4` lane), Metropolis at T_c.
///
/// τ_int(E) ≈ 270 sweeps here, and relaxation from a random start takes far longer, so
/// the lattices start from Wolff-equilibrated configurations; the binning error uses
/// bins of 8192 sweeps.
#[test]
fn strip_l128_tc() {
    let t = exact::t_c();
    let layout = Strip::new(Dim::Two, 128).unwrap();
    let table = AcceptTable::<u64x4>::uniform(4, Algorithm::Metropolis, t, 0.0).unwrap();
    let start = wolff_configurations(128, t, 4, 203, 0, 200);
    let mut lattice: Vec<u64x4> = lattice_from(&layout, &start);
    let mut flip = u64x4::ZERO;
    let mut rng = <u64x4 as Stream>::rng(203, 1);
    let schedule = Schedule {
        therm: 0,
        meas: 16384,
        thin: 4,
        block: 1,
        global_flip: true,
    };
    let s = run_local(&layout, &mut lattice, &mut flip, &table, &mut rng, schedule);
    assert_mean(
        "strip L=128 T_c e",
        &s.e,
        s.chains,
        exact::finite(128, t, "e"),
        2.5e-3,
    );
}

#[test]
fn wolff_l64_tc() {
    let t = exact::t_c();
    let s = run_wolff(Dim::Two, 64, t, 4, 204, 0, 100, 2048, 4);
    assert_mean(
        "Wolff L=64 T_c e",
        &s.e,
        s.chains,
        exact::finite(64, t, "e"),
        1.5e-3,
    );
}

#[test]
fn wolff_l128_tc() {
    let t = exact::t_c();
    let s = run_wolff(Dim::Two, 128, t, 4, 205, 0, 100, 1024, 4);
    assert_mean(
        "Wolff L=128 T_c e",
        &s.e,
        s.chains,
        exact::finite(128, t, "e"),
        1.5e-3,
    );
}

/// Four L = 256 lattices, two at T = 2 and two at T = 3 (per-lane temperatures),
/// against the infinite lattice: Onsager's energy at both, Yang's magnetisation at T = 2.
///
/// The finite-size corrections are far below the error bars: the file's exact L = 128
/// energies at T = 2 and 2.5 equal the infinite-lattice ones to < 10⁻⁹ (T = 3 is further
/// from T_c, with a shorter correlation length, so its correction is smaller still), and
/// ⟨|m|⟩ at T = 2 is within 1.3·10⁻⁴ of Yang's value already at L = 8. The lattices start
/// ordered (no slow domain walls at T = 2).
fn strip_l256(algorithm: Algorithm, seed: u64) {
    let temps = [2.0, 2.0, 3.0, 3.0];
    let per_bit: Vec<f64> = (0..256).map(|b| temps[b / 64]).collect();
    let table = AcceptTable::<u64x4>::per_bit(4, algorithm, &per_bit, 0.0).unwrap();
    let layout = Strip::new(Dim::Two, 256).unwrap();
    let mut lattice = vec![u64x4::MAX; layout.words()];
    let mut flip = u64x4::ZERO;
    let mut rng = <u64x4 as Stream>::rng(seed, 0);
    let schedule = Schedule {
        therm: 500,
        meas: 2048,
        thin: 2,
        block: 1,
        global_flip: true,
    };
    let s = run_local(&layout, &mut lattice, &mut flip, &table, &mut rng, schedule);
    let (low, high) = (s.select(&[0, 1]), s.select(&[2, 3]));
    let tag = format!("strip L=256 {algorithm:?}");

    let e2 = mean_err("e(2)", &low.e, 2);
    let e3 = mean_err("e(3)", &high.e, 2);
    let m2 = mean_err("|m|(2)", &low.abs_m, 2);
    // The finite-size claim, from the exact values.
    for t in [2.0, 2.5] {
        let fs = (exact::finite(128, t, "e") - exact::infinite(t, "e")).abs();
        assert!(
            fs < 0.01 * e2.err.min(e3.err),
            "finite-size correction at T = {t}: {fs}"
        );
    }
    let fs_m = (exact::finite(8, 2.0, "abs_m") - exact::infinite(2.0, "m")).abs();
    assert!(fs_m < 1e-3, "L = 8 |m| differs from Yang by {fs_m}");

    assert_exact(
        &format!("{tag} T=2 e"),
        e2.mean,
        e2.err,
        exact::infinite(2.0, "e"),
        2e-4,
    );
    assert_exact(
        &format!("{tag} T=2 |m|"),
        m2.mean,
        m2.err,
        exact::infinite(2.0, "m"),
        2e-4,
    );
    assert_exact(
        &format!("{tag} T=3 e"),
        e3.mean,
        e3.err,
        exact::infinite(3.0, "e"),
        5e-4,
    );
}

#[test]
fn strip_l256_onsager_yang_metropolis() {
    strip_l256(Algorithm::Metropolis, 207);
}

#[test]
fn strip_l256_onsager_yang_heat_bath() {
    strip_l256(Algorithm::HeatBath, 208);
}
