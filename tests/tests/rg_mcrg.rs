//! MCRG acceptance (issue 10; A10 of the method's acceptance list): Swendsen's linearised RG
//! on 64×64 samples of the 2D Ising model at T_c, with the 2×2 majority rule, decimation, and
//! the learned 2×2 rule (one hidden unit), through the library entry points of the commands.
//!
//! Expected values are the exact exponents of the 2D Ising model, y_t = 1/ν = 1 and
//! y_h = 15/8 (Onsager; den Nijs / Nienhuis), never values from the code under test. The
//! bands (y_t within 0.05, y_h within 0.02, at levels 2–3 with ≥ 2 operators of each
//! parity) are the issue's; each test also checks that the jackknife error is well inside
//! its band, so that a band is not met by noise alone.
//!
//! Run with `--release` (15 000 samples are drawn once for the whole binary).

use rsmi_cli::command::IsingModel;
use rsmi_cli::command::mcrg::{self, McrgArgs};
use rsmi_cli::command::sample::{self, SampleArgs};
use rsmi_cli::command::train::{self, TrainArgs};
use rsmi_cli::rg::rule::Symmetry;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const T_C: f64 = 2.269185314213022;
const Y_T: f64 = 1.0;
const Y_H: f64 = 15.0 / 8.0;

fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let p = std::env::temp_dir().join(format!("rsmi-rg-mcrg-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        p
    })
}

/// 15 000 samples of the 64×64 torus at T_c (seed 7), drawn once.
fn samples() -> &'static Path {
    static S: OnceLock<PathBuf> = OnceLock::new();
    S.get_or_init(|| {
        let out = dir().join("ising64_tc.npz");
        sample::run(&SampleArgs::new(
            IsingModel::Ising2d,
            64,
            vec![T_C],
            15_000,
            7,
            out.clone(),
        ))
        .unwrap();
        out
    })
}

fn run_mcrg(rule: &str, mode_argmax: bool) -> Value {
    let mut a = McrgArgs::new(samples().to_path_buf(), rule);
    a.levels = 3;
    a.seed = 11;
    if mode_argmax {
        a.mode = rsmi_cli::learn::coarsen::Mode::Argmax;
    }
    mcrg::compute(&a).unwrap()
}

fn y(v: &Value, level: usize, which: &str, k: usize) -> (f64, f64) {
    let e = &v["levels"][level - 1][format!("{which}_by_operators")][k - 1];
    (e["value"].as_f64().unwrap(), e["err"].as_f64().unwrap())
}

/// Bands at levels 2–3 with ≥ 2 operators of each parity.
fn check_bands(v: &Value, what: &str, yt_band: (f64, f64), yh_band: (f64, f64)) {
    for level in 2..=3 {
        for k in 2..=4 {
            let (val, err) = y(v, level, "y_t", k);
            eprintln!("{what}: level {level}, {k} even operators: y_t = {val:.4} ± {err:.4}");
            assert!(
                val >= yt_band.0 && val <= yt_band.1,
                "{what}: y_t = {val} ± {err} at level {level} with {k} operators, outside {yt_band:?}"
            );
            assert!(
                err < 0.5 * (yt_band.1 - yt_band.0) / 2.0,
                "{what}: y_t error {err} too large for the band"
            );
        }
        let (val, err) = y(v, level, "y_h", 2);
        eprintln!("{what}: level {level}, 2 odd operators: y_h = {val:.4} ± {err:.4}");
        assert!(
            val >= yh_band.0 && val <= yh_band.1,
            "{what}: y_h = {val} ± {err} at level {level}, outside {yh_band:?}"
        );
        assert!(
            err < 0.5 * (yh_band.1 - yh_band.0) / 2.0,
            "{what}: y_h error {err} too large for the band"
        );
    }
}

#[test]
fn mcrg_majority_rule_gives_the_ising_exponents() {
    let v = run_mcrg("majority", true);
    check_bands(
        &v,
        "majority",
        (Y_T - 0.05, Y_T + 0.05),
        (Y_H - 0.02, Y_H + 0.02),
    );
    // The linearised T has 2 as its leading even eigenvalue (b^{y_t}), so with one operator
    // the leading eigenvalue at level 3 is within 10 % of 2 too.
    let (y1, _) = y(&v, 3, "y_t", 1);
    assert!((2f64.powf(y1) - 2.0).abs() < 0.2, "one-operator y_t = {y1}");
}

#[test]
fn mcrg_decimation_runs() {
    // Decimation is erratic under MCRG (ν = 0.86–1.6 in the reference run): report only.
    let v = run_mcrg("decimation", true);
    for level in 1..=3 {
        let (t, et) = y(&v, level, "y_t", 4);
        let (h, eh) = y(&v, level, "y_h", 2);
        eprintln!("decimation: level {level}: y_t = {t:.3} ± {et:.3}, y_h = {h:.3} ± {eh:.3}");
        assert!(t.is_finite() && h.is_finite());
    }
}

#[test]
fn mcrg_learned_rule_a10() {
    // A10: the learned 2×2 rule with one hidden unit (cap 2, as `rsmi demo`), symmetrised
    // over the block's symmetries, applied stochastically (h drawn from P_Λ(h|V), KJR's step).
    let rule = dir().join("rule_h1.json");
    let mut t = TrainArgs::new(samples().to_path_buf(), rule.clone());
    t.cap = 2.0;
    t.restarts = 4;
    t.seed = 3;
    t.force = true;
    t.data.max_pairs = 1 << 16;
    train::run(&t).unwrap();
    let mut a = McrgArgs::new(samples().to_path_buf(), &rule.to_string_lossy());
    a.levels = 3;
    a.seed = 11;
    a.symmetry = Symmetry::Block;
    let v = mcrg::compute(&a).unwrap();
    eprintln!("learned rule as used: {}", v["rule"]);
    check_bands(&v, "learned", (0.95, 1.05), (1.85, 1.90));
    // Symmetrised: the coarse lattices are isotropic within 4σ.
    for o in v["observables"].as_array().unwrap() {
        let (x, e) = (
            o["anisotropy"]["value"].as_f64().unwrap(),
            o["anisotropy"]["err"].as_f64().unwrap(),
        );
        assert!(
            x.abs() < 4.0 * e + 1e-12,
            "level {}: anisotropy {x} ± {e}",
            o["level"]
        );
    }
}

/// A learned 2×2 rule at a large norm breaks the block's 2–2 ties with one weak site, e.g.
/// (3.4, 3.2, 3.2, 1.0) (the `rsmi train` default cap of 10 gives such filters). Its weak
/// corner keeps the mirror x ↔ y but not x ↔ −x: the coarse lattice has different couplings
/// along the two diagonals. Symmetrising the rule removes the anisotropy.
#[test]
fn tie_breaking_rule_is_anisotropic_until_symmetrised() {
    use rsmi_cli::command::coarsen::{self, CoarsenArgs};
    use rsmi_cli::io::npz::read_npz;
    use rsmi_cli::learn::coarsen::Mode;
    use rsmi_cli::rg::couplings::{Operator, fit};
    let rule = dir().join("tie_breaking.json");
    let w = [3.4, 3.2, 3.2, 1.0];
    let n = w.iter().map(|x: &f64| x * x).sum::<f64>().sqrt();
    let v = serde_json::json!({
        "format": "rsmi-rule-1", "model": "ising2d", "input": "spins", "channels": 1,
        "geometry": {"kind": "square", "block": 2, "buffer": 1, "env": 2},
        "hidden": 1, "visible": 4, "estimator": "im",
        "weights": [w], "bias": [0.0], "filters": [w.iter().map(|x| x / n).collect::<Vec<_>>()],
    });
    std::fs::write(&rule, v.to_string()).unwrap();
    let diag = |sym: Symmetry| {
        let mut a = McrgArgs::new(samples().to_path_buf(), &rule.to_string_lossy());
        a.levels = 1;
        a.symmetry = sym;
        let v = mcrg::compute(&a).unwrap();
        let o = &v["observables"][1]["anisotropy_diag"];
        (o["value"].as_f64().unwrap(), o["err"].as_f64().unwrap())
    };
    let (raw, e_raw) = diag(Symmetry::None);
    let (sym, e_sym) = diag(Symmetry::Block);
    eprintln!(
        "<s s_(1,1)> - <s s_(1,-1)> at level 1: raw {raw:.5} ± {e_raw:.5}, symmetrised {sym:.5} ± {e_sym:.5}"
    );
    assert!(
        raw.abs() > 10.0 * e_raw,
        "the tie-breaking rule should make the diagonals differ"
    );
    assert!(
        sym.abs() < 4.0 * e_sym,
        "the symmetrised rule should be isotropic"
    );
    // The same in the renormalised couplings (pseudo-likelihood): K along the two diagonals.
    let coarse = dir().join("tie_breaking_level1.npz");
    coarsen::run(&CoarsenArgs {
        rule: rule.to_string_lossy().into_owned(),
        block: None,
        data: samples().to_path_buf(),
        out: coarse.clone(),
        mode: Mode::Argmax,
        seed: 1,
        threads: None,
        force: true,
        json: false,
    })
    .unwrap();
    let f = read_npz(&coarse).unwrap();
    let ops = [
        Operator::NnX,
        Operator::NnY,
        Operator::NnnA,
        Operator::NnnB,
        Operator::Nn3,
        Operator::Plaq,
    ];
    let k = fit(&f, &ops, 20, 0).unwrap();
    eprintln!(
        "couplings of the tie-breaking rule's coarse lattice: {:?} ± {:?}",
        k.values, k.errors
    );
    let d = k.values[2] - k.values[3];
    let e = (k.errors[2].powi(2) + k.errors[3].powi(2)).sqrt();
    assert!(d.abs() > 10.0 * e, "K_(1,1) - K_(1,-1) = {d} ± {e}");
    // The axes stay equivalent (the weak corner keeps the x <-> y mirror).
    let d = k.values[0] - k.values[1];
    let e = (k.errors[0].powi(2) + k.errors[1].powi(2)).sqrt();
    assert!(d.abs() < 4.0 * e, "K_x - K_y = {d} ± {e}");
}
