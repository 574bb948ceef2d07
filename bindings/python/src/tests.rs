//! The library entry points this module relies on, checked without a Python interpreter:
//! the in-memory runs return exactly what the commands write.

use rsmi_cli::command::IsingModel;
use rsmi_cli::command::couplings::{self, CouplingsArgs};
use rsmi_cli::command::sample::{self, SampleArgs};
use rsmi_cli::command::sample_dimer::{self, DimerArgs};
use rsmi_cli::io::dimer_npz::read_dimer_npz;
use rsmi_cli::io::npz::read_npz;

use crate::convert::{cli_defaults, unpack};

#[test]
fn sample_in_memory_equals_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.npz");
    let args = SampleArgs::new(IsingModel::Ising2d, 12, vec![2.0, 2.5], 40, 9, out.clone());
    let written = sample::run(&args).unwrap();
    let kept = sample::run_in_memory(&args).unwrap();
    assert_eq!(written.len(), 2);
    for ((w, (s, f)), t) in written.iter().zip(&kept).zip([2.0, 2.5]) {
        let file = read_npz(&sample::output_path(&out, &args.temperature, t)).unwrap();
        assert_eq!(file.spins, f.spins);
        assert_eq!(file.energy, f.energy);
        assert_eq!(file.chain, f.chain);
        assert_eq!(file.meta["config"], f.meta["config"]);
        assert_eq!(w["observables"], s["observables"]);
        assert!(s["out"].is_null());
    }
}

#[test]
fn dimer_in_memory_equals_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d.npz");
    let out_s = out.display().to_string();
    let args: DimerArgs = cli_defaults(&[
        "--size",
        "6",
        "--samples",
        "10",
        "--out",
        &out_s,
        "--decorate",
        "paired",
    ]);
    sample_dimer::run(&args).unwrap();
    let (summary, kept) = sample_dimer::run_in_memory(&args).unwrap();
    let file = read_dimer_npz(&out).unwrap();
    assert_eq!(file.links, kept.links);
    assert_eq!(file.decorated, kept.decorated);
    assert_eq!(file.winding, kept.winding);
    assert!(summary["out"].is_null());
}

#[test]
fn couplings_compute_is_run_without_printing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.npz");
    let args = SampleArgs::new(IsingModel::Ising2d, 8, vec![3.0], 100, 1, out.clone());
    sample::run(&args).unwrap();
    let mut c: CouplingsArgs = cli_defaults(&["--data", "x.npz"]);
    c.data = out;
    c.json = true;
    assert_eq!(couplings::compute(&c).unwrap(), couplings::run(&c).unwrap());
}

#[test]
fn defaults_are_the_command_lines() {
    let t: rsmi_cli::command::train::TrainArgs = cli_defaults(&["--data", "d", "--out", "o"]);
    let n = rsmi_cli::command::train::TrainArgs::new("d".into(), "o".into());
    assert_eq!(format!("{t:?}"), format!("{n:?}"));
}

#[test]
fn unpack_is_packbits_order() {
    assert_eq!(
        unpack(&[0b1010_0000, 0b1000_0000], 9),
        [1, -1, 1, -1, -1, -1, -1, -1, 1]
    );
    assert_eq!(unpack(&[0xff, 0x00], 3), [1, 1, 1, -1, -1, -1]);
}
