//! Acceptance tests of the pseudo-likelihood coupling fit (`rsmi couplings`,
//! [`rsmi_cli::rg::couplings`]) against exact couplings, on data sampled by the library's
//! own sampler with fixed seeds (through the library entry points of `rsmi sample` and
//! `rsmi coarsen`). Run with `--release`.
//!
//! - Raw 2D Ising samples at T = 3.0 (L = 32, 2000 samples): the model is exactly
//!   K_nn = 1/T with every other coupling zero, so the fit must give nn = 1/T and nnn,
//!   nn3, plaq = 0, and with `nn_x,nn_y` both = 1/T.
//! - A 1D ring (L = 256) at T = 1 and T = 2, decimated with blocks of 2
//!   (`--rule decimation --block 2 --mode argmax`): the decimated ring is exactly an Ising
//!   ring with tanh K′ = tanh² K (sum over the odd spins of the transfer matrix), so
//!   nn = atanh(tanh² K) and nnn = 0.
//!
//! Each comparison allows 3 jackknife standard errors and insists that the error be
//! below 5 % of the coupling (a fit cannot pass for lack of statistics). Set
//! `RSMI_TESTS_VERBOSE=1` to print the numbers.

use rsmi_cli::command::IsingModel;
use rsmi_cli::command::coarsen::{self, CoarsenArgs};
use rsmi_cli::command::sample::{self, SampleArgs};
use rsmi_cli::io::npz::read_npz;
use rsmi_cli::learn::coarsen::Mode;
use rsmi_cli::rg::couplings::{CouplingFit, Operator, fit};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const SIGMAS: f64 = 3.0;

fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let p = std::env::temp_dir().join(format!("rsmi-couplings-exact-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        p
    })
}

fn sample_file(model: IsingModel, size: usize, t: f64, samples: usize, seed: u64) -> PathBuf {
    let out = dir().join(format!("{}_{size}_T{t}_{seed}.npz", model.name()));
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

fn value(f: &CouplingFit, op: Operator) -> (f64, f64) {
    let i = f.operators.iter().position(|&o| o == op).unwrap();
    (f.values[i], f.errors[i])
}

/// |K − exact| ≤ 3σ, with σ > 0 and σ ≤ `max_err`.
fn check(what: &str, (k, err): (f64, f64), exact: f64, max_err: f64) {
    if std::env::var_os("RSMI_TESTS_VERBOSE").is_some() {
        eprintln!(
            "{what}: {k:.5} ± {err:.5} vs exact {exact:.5} ({:+.2}σ)",
            (k - exact) / err
        );
    }
    assert!(err.is_finite() && err > 0.0, "{what}: error {err}");
    assert!(
        err <= max_err,
        "{what}: error {err} above {max_err}: too few samples"
    );
    assert!(
        (k - exact).abs() <= SIGMAS * err,
        "{what}: {k} ± {err} vs exact {exact} ({:+.2}σ)",
        (k - exact) / err
    );
}

#[test]
fn raw_2d_ising_at_t3() {
    let t = 3.0;
    let k = 1.0 / t;
    let file = read_npz(&sample_file(IsingModel::Ising2d, 32, t, 2000, 21)).unwrap();
    let f = fit(&file, &Operator::defaults(2), 20, 0).unwrap();
    let max = 0.05 * k;
    check("2D T=3 nn", value(&f, Operator::Nn), k, max);
    for op in [Operator::Nnn, Operator::Nn3, Operator::Plaq] {
        check(&format!("2D T=3 {}", op.name()), value(&f, op), 0.0, max);
    }
    let f = fit(&file, &[Operator::NnX, Operator::NnY], 20, 0).unwrap();
    check("2D T=3 nn_x", value(&f, Operator::NnX), k, max);
    check("2D T=3 nn_y", value(&f, Operator::NnY), k, max);
}

#[test]
fn decimated_1d_ring() {
    for (t, seed) in [(1.0f64, 31u64), (2.0, 32)] {
        let k = 1.0 / t;
        let exact = (k.tanh() * k.tanh()).atanh();
        let data = sample_file(IsingModel::Ising1d, 256, t, 2000, seed);
        let out = dir().join(format!("decimated_T{t}.npz"));
        coarsen::run(&CoarsenArgs {
            rule: "decimation".into(),
            block: Some(2),
            data,
            out: out.clone(),
            mode: Mode::Argmax,
            seed: 1,
            threads: None,
            force: true,
            json: false,
        })
        .unwrap();
        let file = read_npz(&out).unwrap();
        assert_eq!(file.size, 128);
        let f = fit(&file, &Operator::defaults(1), 20, 0).unwrap();
        let max = 0.05 * exact;
        check(
            &format!("1D T={t} decimated nn"),
            value(&f, Operator::Nn),
            exact,
            max,
        );
        check(
            &format!("1D T={t} decimated nnn"),
            value(&f, Operator::Nnn),
            0.0,
            max,
        );
    }
}
