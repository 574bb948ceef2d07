//! End-to-end tests of the `rsmi` binary: outputs round-trip, bad input is refused with
//! one clear sentence and leaves nothing behind, results do not depend on the thread
//! count or on checkpoint/resume.

mod common;

use common::{TempDir, rsmi, stderr};
use rsmi_cli::io::npz::read_npz;
use std::path::Path;
use std::process::Output;

fn sample(out: &Path, extra: &[&str]) -> Output {
    let o = out.to_str().unwrap().to_string();
    let mut v = vec![
        "sample",
        "ising2d",
        "--size",
        "8",
        "--temperature",
        "2.269185314213022",
        "--samples",
        "300",
        "--seed",
        "5",
        "--out",
    ];
    v.push(&o);
    v.extend_from_slice(extra);
    rsmi(&v)
}

/// The bytes of a file.
fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn writes_an_npz_that_round_trips() {
    let d = TempDir::new("roundtrip");
    let out = d.join("s.npz");
    let o = sample(&out, &["--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let f = read_npz(&out).unwrap();
    assert_eq!((f.dims, f.size, f.n), (2, 8, 300));
    assert_eq!(f.spins.len(), 300 * 8);
    for i in 0..f.n {
        // Recompute energy and magnetisation from the packed spins.
        let s = |y: usize, x: usize| if f.spin(i, y % 8, x % 8) { 1i64 } else { -1 };
        let mut e = 0;
        let mut m = 0;
        for y in 0..8 {
            for x in 0..8 {
                e -= s(y, x) * (s(y, x + 1) + s(y + 1, x));
                m += s(y, x);
            }
        }
        assert_eq!((f.energy[i], f.magnetization[i]), (e, m), "sample {i}");
    }
    let meta = &f.meta;
    assert_eq!(meta["model"], "ising2d");
    assert_eq!(meta["config"]["seed"], 5);
    assert_eq!(meta["config"]["layout"], "replica");
    assert!(
        meta["config"]["stream_scheme"]
            .as_str()
            .unwrap()
            .contains("jump_ce")
    );
    assert!(meta["build"]["simd"].is_string());
    assert!(meta["build"]["version"].is_string());
    assert!(meta["observables"]["e"]["tau_int"].is_number());
    assert!(meta.get("run").is_none(), "timings stay out of the file");
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(summary["run"]["wall_seconds"].is_number());
    assert_eq!(summary["samples"], 300);
    for key in ["e", "abs_m", "m2", "m4", "binder"] {
        for field in ["mean", "err", "tau_int"] {
            assert!(
                summary["observables"][key][field].is_number(),
                "{key}.{field}"
            );
        }
    }
    // Nothing else left in the directory (no temporary files).
    assert_eq!(d.files(), vec!["s.npz".to_string()]);
}

#[test]
fn one_dimensional_files_have_the_1d_shape() {
    let d = TempDir::new("oned");
    let out = d.join("r.npz");
    let o = rsmi(&[
        "sample",
        "ising1d",
        "--size",
        "13",
        "--temperature",
        "1",
        "--samples",
        "20",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let f = read_npz(&out).unwrap();
    assert_eq!((f.dims, f.size, f.spins.len()), (1, 13, 20 * 2));
}

#[test]
fn several_temperatures_give_predictable_names() {
    let d = TempDir::new("names");
    let out = d.join("run.npz");
    let o = rsmi(&[
        "sample",
        "ising2d",
        "--size",
        "4",
        "--temperature",
        "2,2.5",
        "--samples",
        "10",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        d.files(),
        vec!["run_T2.5.npz".to_string(), "run_T2.npz".to_string()]
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 2);
}

#[test]
fn thread_count_does_not_change_results() {
    let d = TempDir::new("threads");
    let (a, b) = (d.join("a.npz"), d.join("b.npz"));
    for (out, t) in [(&a, "1"), (&b, "2")] {
        let o = rsmi(&[
            "sample",
            "ising2d",
            "--size",
            "128",
            "--temperature",
            "3",
            "--samples",
            "40",
            "--burn-in",
            "20",
            "--thin",
            "3",
            "--algorithm",
            "metropolis",
            "--threads",
            t,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(bytes(&a), bytes(&b));
    // Wolff as well.
    let (c, e) = (d.join("c.npz"), d.join("e.npz"));
    for (out, t) in [(&c, "1"), (&e, "2")] {
        let o = rsmi(&[
            "sample",
            "ising2d",
            "--size",
            "12",
            "--temperature",
            "2.3",
            "--samples",
            "50",
            "--algorithm",
            "wolff",
            "--threads",
            t,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(bytes(&c), bytes(&e));
}

#[test]
fn resume_from_checkpoint_gives_the_same_file() {
    for algo in ["metropolis", "wolff"] {
        let d = TempDir::new("resume");
        let (full, part, ck) = (d.join("full.npz"), d.join("part.npz"), d.join("run.ckpt"));
        let base = [
            "sample",
            "ising2d",
            "--size",
            "16",
            "--temperature",
            "2.4",
            "--samples",
            "600",
            "--burn-in",
            "50",
            "--thin",
            "2",
            "--algorithm",
            algo,
            "--seed",
            "9",
        ];
        let run = |out: &Path, extra: &[&str]| {
            let mut v: Vec<&str> = base.to_vec();
            v.extend_from_slice(&["--out", out.to_str().unwrap()]);
            v.extend_from_slice(extra);
            rsmi(&v)
        };
        let o = run(&full, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        let ckp = ck.to_str().unwrap();
        let o = run(
            &part,
            &[
                "--checkpoint",
                ckp,
                "--checkpoint-interval",
                "0",
                "--exit-after-checkpoints",
                "2",
            ],
        );
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        assert!(
            ck.exists() && !part.exists(),
            "stopped run must leave a checkpoint and no output"
        );
        let o = run(&part, &["--checkpoint", ckp, "--resume", "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(!ck.exists(), "finished run removes its checkpoint");
        assert_eq!(bytes(&full), bytes(&part), "{algo}");
        let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(summary["run"]["resumed_from_checkpoint"], true);
    }
}

#[test]
fn a_checkpoint_from_another_run_is_refused() {
    let d = TempDir::new("ckmismatch");
    let (out, ck) = (d.join("o.npz"), d.join("c.ckpt"));
    let o = sample(
        &out,
        &[
            "--checkpoint",
            ck.to_str().unwrap(),
            "--checkpoint-interval",
            "0",
            "--exit-after-checkpoints",
            "1",
            "--burn-in",
            "3000",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let o = sample(
        &out,
        &[
            "--checkpoint",
            ck.to_str().unwrap(),
            "--resume",
            "--burn-in",
            "3000",
            "--thin",
            "7",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("different run"), "{}", stderr(&o));
    assert!(!out.exists());
}

/// Bad input: non-zero exit, one sentence on stderr mentioning `needle`, no file left.
fn refused(args: &[&str], needle: &str) {
    let d = TempDir::new("bad");
    let out = d.join("x.npz");
    let mut v: Vec<&str> = args.to_vec();
    let o = out.to_str().unwrap().to_string();
    if !v.contains(&"--out") {
        v.extend_from_slice(&["--out", &o]);
    }
    let r = rsmi(&v);
    assert!(!r.status.success(), "{args:?} should fail");
    let e = stderr(&r);
    assert!(e.contains(needle), "{args:?}: stderr was {e:?}");
    assert!(e.trim().lines().count() <= 6, "{args:?}: too chatty: {e}");
    assert!(d.files().is_empty(), "{args:?} left files: {:?}", d.files());
}

#[test]
fn bad_input_is_refused_clearly() {
    // Every case: the model and the extra flags; `--samples 10 --temperature 2 --size 8`
    // unless overridden.
    let cases: &[(&str, &[&str], &str)] = &[
        ("ising2d", &["--size", "0"], "--size must be at least 2"),
        ("ising2d", &["--size", "1"], "--size must be at least 2"),
        (
            "ising2d",
            &["--size", "100", "--layout", "strip"],
            "multiple of 64",
        ),
        (
            "ising2d",
            &["--size", "64", "--layout", "strip"],
            "at least 128",
        ),
        ("ising2d", &["--temperature", "0"], "greater than zero"),
        ("ising2d", &["--temperature", "-1"], "greater than zero"),
        ("ising2d", &["--temperature", "NaN"], "greater than zero"),
        (
            "ising2d",
            &["--samples", "0"],
            "--samples must be at least 1",
        ),
        ("ising3d", &[], "ising3d"),
        ("ising2d", &["--field", "inf"], "--field"),
        ("ising2d", &["--thin", "0"], "--thin"),
        (
            "ising2d",
            &["--algorithm", "wolff", "--layout", "strip"],
            "--layout",
        ),
        (
            "ising2d",
            &["--out", "/nonexistent-dir/x.npz"],
            "nonexistent-dir",
        ),
    ];
    for &(model, extra, needle) in cases {
        let mut args = vec!["sample", model];
        for (flag, default) in [("--size", "8"), ("--samples", "10"), ("--temperature", "2")] {
            if !extra.contains(&flag) {
                args.extend_from_slice(&[flag, default]);
            }
        }
        args.extend_from_slice(extra);
        refused(&args, needle);
    }
}

#[test]
fn existing_output_needs_force() {
    let d = TempDir::new("force");
    let out = d.join("s.npz");
    std::fs::write(&out, b"precious").unwrap();
    let o = sample(&out, &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    let o = sample(&out, &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(read_npz(&out).is_ok());
    assert_eq!(d.files(), vec!["s.npz".to_string()]);
}

#[test]
fn bench_reports_every_kernel() {
    let o = rsmi(&[
        "bench",
        "ising2d",
        "--size",
        "128",
        "--seconds",
        "0.05",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let kernels: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v["flips_per_ns"].as_f64().unwrap() > 0.0);
            assert_eq!(v["size"], 128);
            v["kernel"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        kernels,
        [
            "scalar_reference",
            "replica_u64",
            "replica_u64x4",
            "strip_u64",
            "strip_u64x4",
            "wolff"
        ]
    );
    let o = rsmi(&["bench", "ising1d", "--size", "0"]);
    assert!(!o.status.success());
}

#[test]
fn a_closed_stdout_ends_quietly() {
    // `rsmi sample … --json | head -c 0`: the reader is gone before the summary is printed.
    use std::process::{Command, Stdio};
    let d = TempDir::new("pipe");
    let out = d.join("p.npz");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rsmi"))
        .args([
            "sample",
            "ising2d",
            "--size",
            "16",
            "--temperature",
            "2.4,2.5",
            "--samples",
            "500",
            "--json",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let e = stderr(&o);
    assert!(!e.contains("panicked"), "{e}");
    assert_eq!(o.status.code(), Some(141), "{e}");
}
