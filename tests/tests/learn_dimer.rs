//! Acceptance test A7 of docs/method.md#acceptance-experiments: on noise-decorated free dimers, RSMI (the `im`
//! estimator, N_h = 2) discovers the electric field of the height mapping without being
//! told about it (docs/method.md#expected-results, #dimers-and-the-noise-decoration).
//!
//! Data: the library's own directed-loop sampler (`rsmi sample dimer --decorate paired`),
//! L = 32 (a 64×64 decorated array), fixed seed. Geometry: V = an 8×8 block of the
//! decorated array (corners on even rows/columns, i.e. on vertices), L_B = 4, L_E = 4.
//!
//! Pass criteria (docs/method.md#acceptance-experiments, A7), checked on **every** restart:
//! - the noise entries (even-even vertex bits, odd-odd face bits) carry weights
//!   < 0.1·max|λ|;
//! - the span of the two learned link filters overlaps span{Ē_x, Ē_y} with both
//!   principal-angle cosines ≥ 0.8, where (docs/method.md#dimers-and-the-noise-decoration, block corner at (0, 0))
//!   Ē_x = λ (−1)^{x+y} on the horizontal-link entries X[2y][2x+1], and Ē_y likewise on the
//!   vertical-link entries X[2y+1][2x], 0 elsewhere.
//!
//! The reference filters are written down from the physics here, never taken from the
//! code under test. In addition the learned rule's held-out Î must not fall below that of
//! the Ē rule itself (same norm, same split, evaluated by `rsmi mi`) by more than three
//! error bars: the optimiser must reach the physical optimum, not just point towards it.
//!
//! Run with `--release` (about 20 s on 2 cores: sampling 1 s, two restarts of about 30
//! epochs, one decoder-only fit).

use rsmi_cli::command::mi::{self, MiArgs};
use rsmi_cli::command::sample_dimer::{self, Decorate, DimerArgs, ExitsArg};
use rsmi_cli::command::train::{self, TrainArgs};
use rsmi_cli::learn::rule_file::read_rule;
use rsmi_cli::learn::train::Estimator;
use rsmi_tests::subspace::principal_cosines;
use std::path::{Path, PathBuf};

/// Side of V in the decorated array.
const BLOCK: usize = 8;

fn dir() -> PathBuf {
    let p = std::env::temp_dir().join(format!("rsmi-learn-dimer-{}", std::process::id()));
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// Noise-decorated free dimers, L = 32, `samples` samples.
fn sample(dir: &Path, samples: usize, seed: u64) -> PathBuf {
    let out = dir.join("dimers.npz");
    sample_dimer::run(&DimerArgs {
        size: 32,
        samples,
        seed,
        out: out.clone(),
        interaction: 0.0,
        temperature: None,
        burn_in: 200,
        thin: 2,
        decorate: Decorate::Paired,
        exits: ExitsArg::HeatBath,
        threads: None,
        jobs: rsmi_cli::sampler::DEFAULT_JOBS,
        force: true,
        json: false,
    })
    .unwrap();
    out
}

/// The Ē_x (`horizontal`) or Ē_y filter over the 8×8 block, row-major.
fn e_filter(horizontal: bool) -> Vec<f64> {
    let mut f = vec![0.0; BLOCK * BLOCK];
    for y in 0..BLOCK / 2 {
        for x in 0..BLOCK / 2 {
            let sign = if (x + y) % 2 == 0 { 1.0 } else { -1.0 };
            let (r, c) = if horizontal {
                (2 * y, 2 * x + 1)
            } else {
                (2 * y + 1, 2 * x)
            };
            f[r * BLOCK + c] = sign;
        }
    }
    f
}

/// The training of A7's geometry: V = 8×8 block of the decorated array, L_B = 4, L_E = 4,
/// N_h = 2 (im unless changed).
fn a7_args(data: &Path, out: &Path, restarts: usize, seed: u64) -> TrainArgs {
    let mut a = TrainArgs::new(data.to_path_buf(), out.to_path_buf());
    a.block = BLOCK;
    a.buffer = 4;
    a.env = 4;
    a.hidden = 2;
    a.restarts = restarts;
    a.seed = seed;
    a.force = true;
    a
}

/// Whether entry `i` of the block is a noise entry (vertex: even-even; face: odd-odd).
fn is_noise(i: usize) -> bool {
    (i / BLOCK) % 2 == (i % BLOCK) % 2
}

/// (principal cosines of the link filters against span{Ē_x, Ē_y}, max noise |λ| / max |λ|).
fn assess(weights: &[Vec<f64>]) -> ([f64; 2], f64) {
    let links = |f: &[f64]| -> Vec<f64> {
        f.iter()
            .enumerate()
            .filter(|&(i, _)| !is_noise(i))
            .map(|(_, &x)| x)
            .collect()
    };
    let learned: Vec<Vec<f64>> = weights.iter().map(|w| links(w)).collect();
    let reference = vec![links(&e_filter(true)), links(&e_filter(false))];
    let max = weights
        .iter()
        .flatten()
        .fold(0.0f64, |m, &x| m.max(x.abs()));
    let noise = weights
        .iter()
        .flat_map(|w| w.iter().enumerate().filter(|&(i, _)| is_noise(i)))
        .fold(0.0f64, |m, (_, &x)| m.max(x.abs()));
    (principal_cosines(&learned, &reference), noise / max)
}

/// The geometry helpers themselves: the reference filters are orthogonal, supported on
/// link entries only, and the principal-angle routine is exact on known cases.
#[test]
fn reference_filters_and_principal_angles() {
    let (ex, ey) = (e_filter(true), e_filter(false));
    assert_eq!(ex.iter().filter(|&&x| x != 0.0).count(), 16);
    assert_eq!(ey.iter().filter(|&&x| x != 0.0).count(), 16);
    for (i, (&a, &b)) in ex.iter().zip(&ey).enumerate() {
        assert!(a * b == 0.0);
        if a != 0.0 || b != 0.0 {
            assert!(!is_noise(i), "entry {i} is a link");
        }
    }
    // X[0][1] is the horizontal link of vertex (0, 0): +1; X[0][3] of (1, 0): −1.
    assert_eq!(
        (ex[1], ex[3], ey[BLOCK], ey[BLOCK + 2]),
        (1.0, -1.0, 1.0, -1.0)
    );
    // The span itself, in another basis: both cosines 1.
    let sum: Vec<f64> = ex.iter().zip(&ey).map(|(a, b)| a + b).collect();
    let c = principal_cosines(&[ey.clone(), sum], &[ex.clone(), ey.clone()]);
    assert!(
        (c[0] - 1.0).abs() < 1e-12 && (c[1] - 1.0).abs() < 1e-12,
        "{c:?}"
    );
    // One direction shared, one orthogonal: cosines (1, 0).
    let other: Vec<f64> = (0..BLOCK * BLOCK)
        .map(|i| if i == 0 { 1.0 } else { 0.0 })
        .collect();
    let c = principal_cosines(&[ex.clone(), other], &[ex.clone(), ey.clone()]);
    assert!((c[0] - 1.0).abs() < 1e-12 && c[1].abs() < 1e-12, "{c:?}");
    // At 45° within the plane spanned by Ē_y and the noise entry 0: cos = 1/√2.
    let tilted: Vec<f64> = ey
        .iter()
        .enumerate()
        .map(|(i, &y)| y + if i == 0 { 4.0 } else { 0.0 })
        .collect();
    let c = principal_cosines(&[ex.clone(), tilted], &[ex, ey]);
    assert!((c[1] - 0.5f64.sqrt()).abs() < 1e-12, "{c:?}");
}

/// A7: every restart learns the electric-field span with the noise switched off, and the
/// best rule is as informative as the Ē rule itself.
#[test]
fn a7_dimer_filters_span_the_electric_field() {
    let dir = dir();
    let data = sample(&dir, 2000, 5);
    let out = dir.join("a7.json");
    let a = a7_args(&data, &out, 2, 3);
    train::run(&a).unwrap();
    let rule = read_rule(&out).unwrap();
    let mi = rule.mi.as_ref().unwrap();
    for r in &mi.restarts {
        let (cos, noise) = assess(&r.weights);
        eprintln!(
            "A7 restart {}: held-out I = {:.4} nats, principal cosines ({:.3}, {:.3}), \
             noise/max|λ| = {:.3}, ‖λ‖ = {:.2}, epochs {}",
            r.restart, r.heldout, cos[0], cos[1], noise, r.weight_norm, r.epochs
        );
        assert!(
            cos[1] >= 0.8,
            "restart {}: principal cosines {cos:?} < 0.8",
            r.restart
        );
        assert!(
            noise < 0.1,
            "restart {}: noise weights at {noise:.3} of max|λ|",
            r.restart
        );
    }
    // The Ē rule at the learned rule's norm (bias 0: Ē is symmetric about 0 on even
    // blocks), evaluated on the same split by the decoder-only fit of `rsmi mi`.
    let norm = rule
        .weights
        .iter()
        .map(|w| w.iter().map(|x| x * x).sum::<f64>().sqrt())
        .fold(0.0f64, f64::max);
    let scale = norm / 4.0; // ‖Ē‖ = √16
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let e_rule: Vec<Vec<f64>> = [true, false]
        .iter()
        .map(|&h| e_filter(h).iter().map(|x| x * scale).collect())
        .collect();
    value["weights"] = serde_json::json!(e_rule);
    value["bias"] = serde_json::json!([0.0, 0.0]);
    value["filters"] = serde_json::json!(
        [true, false]
            .iter()
            .map(|&h| e_filter(h).iter().map(|x| x / 4.0).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );
    let e_path = dir.join("efield.json");
    std::fs::write(&e_path, serde_json::to_string(&value).unwrap()).unwrap();
    let mut m = MiArgs::new(data, e_path.to_str().unwrap());
    m.seed = a.seed;
    let res = mi::run(&m).unwrap();
    let (e_value, e_err) = (
        res["mi"]["value"].as_f64().unwrap(),
        res["mi"]["err"].as_f64().unwrap(),
    );
    let best = mi.heldout;
    eprintln!(
        "A7: best held-out I = {best:.4} nats; Ē rule (‖λ‖ = {norm:.2}): {e_value:.4} ± {e_err:.4}"
    );
    assert!(
        best > e_value - 3.0 * e_err,
        "learned I = {best} below the Ē rule's {e_value} ± {e_err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A12 on free dimers, RSMI-NE's estimator: the data and geometry of A7 (noise-decorated,
/// V = 8×8 block of the decorated array, L_B = 4, L_E = 4, N_h = 2), trained with
/// `infonce` (MLP critic, K = 500, 60 000 training pairs) and, for comparison, with `im`
/// on the same pairs:
/// - the best InfoNCE restart (the rule `train` writes) learns the electric-field span
///   (both principal cosines ≥ 0.8) with the noise switched off (< 0.1 of max|λ|): the
///   staggered filters. (Unlike IM's, not every InfoNCE restart does: with these seeds
///   the other one stops at one field direction plus a weaker filter, cosines (0.94,
///   0.43), at a held-out I of 0.137 against 0.168. RSMI-NE runs many restarts for this
///   reason.)
/// - the best InfoNCE bound is higher than the best IM bound by more than 0.01 nats:
///   both are lower bounds on the same I(H:E), and the MLP critic reads more of the
///   environment than IM's linear decoder (measured: 0.168 against 0.134).
///
/// I is not ½ ln 2 here (RSMI-NE's PRE quotes "about ½ ln 2", its tutorial an EMA of
/// training estimates of 0.257 for its own geometry): in this geometry the measured value
/// is 0.17–0.19 nats; at L_B = 2 it is 0.45 (see the note in docs/method.md).
#[test]
fn a12_infonce_learns_the_electric_field() {
    let dir = std::env::temp_dir().join(format!("rsmi-learn-dimer-a12-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = sample(&dir, 2000, 5);
    let mut best = Vec::new();
    for est in [Estimator::Infonce, Estimator::Im] {
        let out = dir.join(format!("a12_{}.json", est.name()));
        let mut a = a7_args(&data, &out, 2, 3);
        a.estimator = est;
        a.batch = 500;
        a.data.max_pairs = 60_000;
        train::run(&a).unwrap();
        let rule = read_rule(&out).unwrap();
        let mi = rule.mi.as_ref().unwrap();
        for r in &mi.restarts {
            let (cos, noise) = assess(&r.weights);
            eprintln!(
                "A12 {} restart {}: held-out I = {:.4} nats, principal cosines ({:.3}, {:.3}), \
                 noise/max|λ| = {:.3}",
                est.name(),
                r.restart,
                r.heldout,
                cos[0],
                cos[1],
                noise
            );
        }
        if est == Estimator::Infonce {
            let (cos, noise) = assess(&rule.weights);
            assert!(cos[1] >= 0.8, "best restart: cosines {cos:?}");
            assert!(noise < 0.1, "best restart: noise at {noise:.3}");
        }
        best.push(mi.heldout);
    }
    assert!(
        best[0] > best[1] + 0.01,
        "infonce {} vs im {}",
        best[0],
        best[1]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The ensemble analysis (`rsmi ensemble`) of free-dimer filters: the filters of 6
/// restarts (N_h = 2, 12 filters) span the electric-field plane — the leading two
/// principal components against span{Ē_x, Ē_y} have both principal-angle cosines ≥ 0.8 —
/// and the symmetry analysis finds the lattice rotations that turn the plane into itself
/// by ±90° (Ē_x → ±Ē_y: the field is a vector), the emergent U(1) of the free model.
#[test]
fn ensemble_of_dimer_filters_spans_the_field_and_rotates_it() {
    use rsmi_cli::command::ensemble::{self, EnsembleArgs};
    let dir = std::env::temp_dir().join(format!("rsmi-ensemble-dimer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = sample(&dir, 2000, 5);
    let out = dir.join("ensemble.json");
    let a = a7_args(&data, &out, 6, 11);
    train::run(&a).unwrap();
    let res = ensemble::run(&EnsembleArgs {
        rules: vec![out],
        threshold: 0.9,
        components: Some(2),
        plot: None,
        force: false,
        json: false,
    })
    .unwrap();
    assert_eq!(res["filters"], 12);
    let comps: Vec<Vec<f64>> = res["pca"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .map(|c| {
            c.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    let cos = principal_cosines(&comps, &[e_filter(true), e_filter(false)]);
    let frac: Vec<f64> = res["pca"]["fraction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    eprintln!(
        "ensemble: principal fractions {:.3?}, cosines with span(Ē) {cos:?}",
        &frac[..4]
    );
    assert!(cos[1] >= 0.8, "principal cosines {cos:?}");
    assert!(
        frac[0] + frac[1] > 0.9,
        "two directions carry the ensemble: {frac:?}"
    );
    let quarter_turns: Vec<&serde_json::Value> = res["symmetry"]["subspace_invariant"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            let op = s["op"].as_str().unwrap();
            let deg = s["action"]["degrees"].as_f64().unwrap_or(0.0);
            !op.contains("mirror")
                && (op.contains("rot90") || op.contains("rot270"))
                && (deg.abs() - 90.0).abs() < 10.0
        })
        .collect();
    eprintln!("quarter turns rotating the plane by ±90°: {quarter_turns:?}");
    assert!(
        !quarter_turns.is_empty(),
        "no lattice rotation acts as a quarter turn on the filter plane: {}",
        res["symmetry"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
