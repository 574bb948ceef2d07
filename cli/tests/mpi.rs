//! MPI runs (`--features mpi`, Open MPI's `mpirun` on the PATH): the files rank 0 writes
//! must be the bytes of the single-process run with the same arguments, for every
//! sampler, for training, and for a checkpoint resumed with another number of ranks;
//! errors end every rank with one message. CI runs this file with
//! `cargo test --release -p rsmi-cli --features mpi --test mpi`.
#![cfg(feature = "mpi")]

mod common;

use common::{TempDir, ok, rsmi, s, stderr};
use std::path::Path;
use std::process::{Command, Output};

/// `mpirun -n ranks rsmi args…` (as root where needed, oversubscribing the 2 cores).
fn mpirun(ranks: usize, args: &[&str]) -> Output {
    Command::new("mpirun")
        .args(["--allow-run-as-root", "--oversubscribe", "-n"])
        .arg(ranks.to_string())
        .arg(env!("CARGO_BIN_EXE_rsmi"))
        .args(args)
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
        .output()
        .expect("run mpirun (install Open MPI: libopenmpi-dev openmpi-bin)")
}

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The single-process and the `ranks`-rank run of `args` (without `--out`) write the
/// same bytes.
fn same_bytes(d: &TempDir, tag: &str, ranks: usize, args: &[&str]) {
    let (one, many) = (
        d.join(&format!("{tag}-1.npz")),
        d.join(&format!("{tag}-p.npz")),
    );
    let mut v = args.to_vec();
    v.extend_from_slice(&["--out", s(&one)]);
    ok(&rsmi(&v));
    let mut v = args.to_vec();
    v.extend_from_slice(&["--out", s(&many)]);
    let o = mpirun(ranks, &v);
    assert!(o.status.success(), "{tag}: {}", stderr(&o));
    // With several temperatures each run writes <name>_T<t>.npz per temperature.
    let mut compared = 0;
    for name in d.files() {
        if let Some(rest) = name.strip_prefix(&format!("{tag}-1")) {
            let other = d.join(&format!("{tag}-p{rest}"));
            assert_eq!(
                bytes(&d.join(&name)),
                bytes(&other),
                "{tag}{rest}: {ranks} ranks"
            );
            compared += 1;
        }
    }
    assert!(compared >= 1, "{tag}: no output");
}

#[test]
fn samplers_write_the_single_process_bytes() {
    let d = TempDir::new("mpi-sample");
    let ising = |size: &'static str, extra: &[&'static str]| -> Vec<&'static str> {
        let mut v = vec![
            "sample",
            "ising2d",
            "--size",
            size,
            "--temperature",
            "2.3,2.6",
            "--burn-in",
            "30",
            "--thin",
            "2",
            "--seed",
            "4",
        ];
        v.extend_from_slice(extra);
        v
    };
    // Two temperatures side by side; more jobs than ranks.
    let replica = ising("16", &["--samples", "2000", "--jobs", "9"]);
    same_bytes(&d, "replica", 2, &replica);
    same_bytes(&d, "replica3", 3, &replica);
    let strip = ising(
        "128",
        &["--samples", "24", "--layout", "strip", "--jobs", "5"],
    );
    same_bytes(&d, "strip", 2, &strip);
    let wolff = ising("16", &["--samples", "40", "--algorithm", "wolff"]);
    same_bytes(&d, "wolff", 2, &wolff);
    let dimer = [
        "sample",
        "dimer",
        "--size",
        "16",
        "--samples",
        "60",
        "--decorate",
        "paired",
        "--burn-in",
        "20",
        "--seed",
        "3",
    ];
    same_bytes(&d, "dimer", 2, &dimer);
    assert!(d.join("replica-p_T2.3.npz").exists() && d.join("replica-p_T2.6.npz").exists());
}

#[test]
fn training_gives_the_single_process_rule() {
    let d = TempDir::new("mpi-train");
    let data = d.join("s.npz");
    ok(&rsmi(&[
        "sample",
        "ising2d",
        "--size",
        "32",
        "--temperature",
        "2.3",
        "--samples",
        "600",
        "--seed",
        "2",
        "--out",
        s(&data),
    ]));
    let (one, many) = (d.join("r1.json"), d.join("r2.json"));
    let args = |out: &Path| -> Vec<String> {
        [
            "train",
            "--data",
            s(&data),
            "--restarts",
            "5",
            "--epochs",
            "8",
            "--seed",
            "3",
            "--out",
            s(out),
        ]
        .iter()
        .map(|x| x.to_string())
        .collect()
    };
    let a1 = args(&one);
    ok(&rsmi(&a1.iter().map(String::as_str).collect::<Vec<_>>()));
    let a2 = args(&many);
    let o = mpirun(2, &a2.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(bytes(&one), bytes(&many));
}

#[test]
fn a_checkpoint_resumes_with_another_rank_count() {
    let d = TempDir::new("mpi-resume");
    let base = [
        "sample",
        "ising2d",
        "--size",
        "16",
        "--temperature",
        "2.4",
        "--samples",
        "900",
        "--burn-in",
        "60",
        "--thin",
        "2",
        "--seed",
        "9",
        "--jobs",
        "5",
    ];
    let (full, part, ck) = (d.join("full.npz"), d.join("part.npz"), d.join("run.ckpt"));
    let mut v = base.to_vec();
    v.extend_from_slice(&["--out", s(&full)]);
    ok(&rsmi(&v));
    let mut v = base.to_vec();
    v.extend_from_slice(&[
        "--out",
        s(&part),
        "--checkpoint",
        s(&ck),
        "--checkpoint-interval",
        "0",
        "--exit-after-checkpoints",
        "2",
    ]);
    let o = mpirun(2, &v);
    assert!(!o.status.success(), "stopped on purpose");
    assert!(ck.exists() && !part.exists(), "{}", stderr(&o));
    let mut v = base.to_vec();
    v.extend_from_slice(&["--out", s(&part), "--checkpoint", s(&ck), "--resume"]);
    let o = mpirun(3, &v);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("resuming"), "{}", stderr(&o));
    assert!(!ck.exists());
    assert_eq!(bytes(&full), bytes(&part));
}

#[test]
fn errors_end_every_rank_with_one_message() {
    let d = TempDir::new("mpi-errors");
    let out = d.join("x.npz");
    // A bad argument (every rank sees it): one message, from rank 0.
    let o = mpirun(
        3,
        &[
            "sample",
            "ising2d",
            "--size",
            "1",
            "--temperature",
            "2",
            "--samples",
            "10",
            "--out",
            s(&out),
        ],
    );
    assert!(!o.status.success());
    let e = stderr(&o);
    assert_eq!(
        e.matches("error: --size must be at least 2").count(),
        1,
        "{e}"
    );
    assert!(!out.exists());
    // An output only rank 0 checks (its directory is missing): no hang, one message.
    let bad = d.join("missing/x.npz");
    let o = mpirun(
        2,
        &[
            "sample",
            "ising2d",
            "--size",
            "8",
            "--temperature",
            "2",
            "--samples",
            "10",
            "--out",
            s(&bad),
        ],
    );
    assert!(!o.status.success());
    assert_eq!(stderr(&o).matches("error:").count(), 1, "{}", stderr(&o));
    // A command that does not split its work refuses to run under mpirun.
    let o = mpirun(2, &["couplings", "--data", s(&out)]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert_eq!(
        e.matches("does not spread its work over MPI ranks").count(),
        1,
        "{e}"
    );
}

#[test]
fn bench_reports_per_rank_and_aggregate_rates() {
    let o = mpirun(
        2,
        &[
            "bench",
            "ising2d",
            "--mpi",
            "--size",
            "64",
            "--seconds",
            "0.1",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // scalar reference, replica u64 and u64x4, Wolff (no strip layout at L = 64).
    assert_eq!(
        rows.len(),
        4,
        "one row per kernel, from rank 0 only: {text}"
    );
    for r in &rows {
        assert_eq!(r["ranks"], 2);
        let per: Vec<f64> = r["flips_per_ns_per_rank"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let sum: f64 = per.iter().sum();
        assert!(per.iter().all(|x| *x > 0.0));
        assert!((r["aggregate_flips_per_ns"].as_f64().unwrap() - sum).abs() <= 1e-12 * sum);
    }
}

#[test]
fn flow_gives_the_single_process_results() {
    let d = TempDir::new("mpi-flow");
    let args = |out: &Path| -> Vec<String> {
        [
            "flow",
            "--size",
            "32",
            "--samples",
            "600",
            "--levels",
            "2",
            "--temperatures",
            "2.18,2.24,2.3,2.36",
            "--thermometers",
            "nn,diag,mi",
            "--restarts",
            "2",
            "--json",
            "--out",
            s(out),
        ]
        .iter()
        .map(|x| x.to_string())
        .collect()
    };
    let (one, many) = (d.join("one"), d.join("many"));
    let a1 = args(&one);
    ok(&rsmi(&a1.iter().map(String::as_str).collect::<Vec<_>>()));
    let a2 = args(&many);
    let o = mpirun(3, &a2.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    // Everything but the timings and the paths (which name the output directory).
    let read = |dir: &Path| -> String {
        let mut v: serde_json::Value =
            serde_json::from_slice(&bytes(&dir.join("flow.json"))).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("run");
        o.remove("files");
        v.to_string().replace(s(dir), "DIR")
    };
    assert_eq!(read(&one), read(&many));
}

#[test]
fn data_parallel_training_is_the_same_for_any_rank_count() {
    let d = TempDir::new("mpi-dp");
    let data = d.join("s.npz");
    ok(&rsmi(&[
        "sample",
        "ising2d",
        "--size",
        "32",
        "--temperature",
        "2.3",
        "--samples",
        "800",
        "--seed",
        "2",
        "--out",
        s(&data),
    ]));
    let args = |out: &Path| -> Vec<String> {
        [
            "train",
            "--data",
            s(&data),
            "--restarts",
            "2",
            "--epochs",
            "8",
            "--seed",
            "3",
            "--data-parallel",
            "4",
            "--out",
            s(out),
        ]
        .iter()
        .map(|x| x.to_string())
        .collect()
    };
    let one = d.join("one.json");
    let a = args(&one);
    ok(&rsmi(&a.iter().map(String::as_str).collect::<Vec<_>>()));
    for ranks in [2, 3] {
        let many = d.join(&format!("p{ranks}.json"));
        let a = args(&many);
        let o = mpirun(ranks, &a.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(bytes(&one), bytes(&many), "{ranks} ranks");
    }
    // More ranks than shards is refused, on every rank at once.
    let a = args(&d.join("x.json"));
    let mut a: Vec<&str> = a.iter().map(String::as_str).collect();
    let k = a.iter().position(|x| *x == "4").unwrap();
    a[k] = "1";
    let o = mpirun(2, &a);
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o)
            .matches("fewer shards than the 2 MPI ranks")
            .count(),
        1,
        "{}",
        stderr(&o)
    );
}

#[test]
fn dimer_bench_reports_per_rank_and_aggregate_rates() {
    let o = mpirun(
        2,
        &[
            "bench",
            "dimer",
            "--mpi",
            "--size",
            "16",
            "--seconds",
            "0.1",
            "--kernels",
            "worm",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!rows.is_empty(), "{text}");
    for r in &rows {
        assert_eq!(r["ranks"], 2);
        let per: Vec<f64> = r["per_ns_per_rank"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let sum: f64 = per.iter().sum();
        assert!(per.iter().all(|x| *x > 0.0), "{r}");
        assert!((r["aggregate_per_ns"].as_f64().unwrap() - sum).abs() <= 1e-12 * sum);
    }
}
