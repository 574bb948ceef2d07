//! Scale-out without MPI: `--jobs` plans, job-array shards (`--job-index/--job-count`,
//! Slurm's variables) and `rsmi merge`, which must give the bytes of one process.

mod common;

use common::{TempDir, ok, rsmi, s, stderr};
use rsmi_cli::io::npz::read_npz;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The sampling arguments of one test's runs: `model`, then `--size`, `--samples`,
/// `--jobs` from `opts` where given (defaults 16, 1500, 7), then the rest of `opts`.
fn base<'a>(model: &'a str, opts: &[&'a str]) -> Vec<&'a str> {
    let pick = |k: &str, default: &'a str| -> &'a str {
        opts.iter()
            .position(|o| *o == k)
            .map_or(default, |i| opts[i + 1])
    };
    let mut v = vec![
        "sample",
        model,
        "--size",
        pick("--size", "16"),
        "--temperature",
        "2.4",
        "--samples",
        pick("--samples", "1500"),
        "--burn-in",
        "40",
        "--thin",
        "2",
        "--seed",
        pick("--seed", "11"),
        "--jobs",
        pick("--jobs", "7"),
    ];
    let mut i = 0;
    while i < opts.len() {
        if ["--size", "--samples", "--jobs", "--seed"].contains(&opts[i]) {
            i += 2;
        } else {
            v.push(opts[i]);
            i += 1;
        }
    }
    v
}

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Task `i` of `n` of the run `args`, writing `out`'s shard.
fn task(args: &[&str], out: &Path, i: usize, n: usize) -> Output {
    let (i, n) = (i.to_string(), n.to_string());
    let mut v = args.to_vec();
    v.extend_from_slice(&["--out", s(out), "--job-index", &i, "--job-count", &n]);
    rsmi(&v)
}

fn shard(out: &Path, i: usize, n: usize) -> PathBuf {
    let mut name = out.file_name().unwrap().to_os_string();
    name.push(format!(".shard-{i}-of-{n}"));
    out.with_file_name(name)
}

fn merge(shards: &[PathBuf], out: &Path) -> Output {
    let mut v: Vec<&str> = vec!["merge"];
    v.extend(shards.iter().map(|p| s(p)));
    v.extend_from_slice(&["--out", s(out)]);
    rsmi(&v)
}

#[test]
fn three_shards_merge_into_the_single_process_bytes() {
    // Replica (L = 16), strip (L = 128) and Wolff layouts; 1D as well.
    let cases: [(&str, Vec<&str>); 4] = [
        ("ising2d", vec![]),
        (
            "ising2d",
            vec![
                "--size",
                "128",
                "--samples",
                "40",
                "--layout",
                "strip",
                "--jobs",
                "5",
            ],
        ),
        ("ising2d", vec!["--algorithm", "wolff", "--samples", "60"]),
        ("ising1d", vec!["--size", "40"]),
    ];
    for (model, extra) in cases {
        let d = TempDir::new("array");
        let args = base(model, &extra);
        let single = d.join("single.npz");
        let mut v = args.clone();
        v.extend_from_slice(&["--out", s(&single)]);
        ok(&rsmi(&v));
        let out = d.join("run.npz");
        for i in 0..3 {
            ok(&task(&args, &out, i, 3));
        }
        assert!(!out.exists(), "tasks write shards, not the output");
        // Given in any order.
        let shards: Vec<PathBuf> = [2, 0, 1].iter().map(|&i| shard(&out, i, 3)).collect();
        let merged = d.join("merged.npz");
        ok(&merge(&shards, &merged));
        assert_eq!(bytes(&single), bytes(&merged), "{model} {extra:?}");
        let f = read_npz(&merged).unwrap();
        assert!(f.meta["config"]["jobs"].as_u64().unwrap() > 1);
    }
}

#[test]
fn merge_refuses_foreign_duplicated_missing_and_non_shard_files() {
    let d = TempDir::new("array-bad");
    let args = base("ising2d", &[]);
    let out = d.join("run.npz");
    for i in 0..3 {
        ok(&task(&args, &out, i, 3));
    }
    let sh: Vec<PathBuf> = (0..3).map(|i| shard(&out, i, 3)).collect();
    // Another run (other seed).
    let other = base("ising2d", &["--seed", "12"]);
    let out2 = d.join("other.npz");
    ok(&task(&other, &out2, 1, 3));
    let refused = |files: &[PathBuf], needle: &str| {
        let m = d.join("m.npz");
        let o = merge(files, &m);
        assert!(!o.status.success(), "merge of {files:?} should fail");
        let e = stderr(&o);
        assert!(e.contains(needle), "expected '{needle}' in: {e}");
        assert_eq!(e.trim().lines().count(), 1, "one sentence: {e}");
        assert!(!m.exists(), "a refused merge writes nothing");
    };
    refused(
        &[sh[0].clone(), shard(&out2, 1, 3), sh[2].clone()],
        "belongs to a different run",
    );
    refused(
        &[sh[0].clone(), sh[1].clone(), sh[1].clone()],
        "a shard was given twice",
    );
    refused(
        &[sh[0].clone(), sh[2].clone()],
        "give the shards of task(s) 1 of 3",
    );
    // A shard of a 2-task array of the same run.
    ok(&task(&args, &d.join("two.npz"), 0, 2));
    refused(
        &[sh[0].clone(), shard(&d.join("two.npz"), 0, 2)],
        "job array of a different size",
    );
    let single = d.join("single.npz");
    let mut v = args.clone();
    v.extend_from_slice(&["--out", s(&single)]);
    ok(&rsmi(&v));
    refused(
        std::slice::from_ref(&single),
        "not an rsmi checkpoint or shard file",
    );
    // Bad task numbers.
    let o = task(&args, &out, 3, 3);
    assert!(
        stderr(&o).contains("--job-index 3 is out of range"),
        "{}",
        stderr(&o)
    );
    let mut v = args.clone();
    v.extend_from_slice(&["--out", s(&out), "--job-index", "0"]);
    assert!(
        !rsmi(&v).status.success(),
        "--job-index without --job-count"
    );
}

#[test]
fn slurm_array_variables_set_the_task() {
    let d = TempDir::new("slurm");
    let args = base("ising2d", &[]);
    let single = d.join("single.npz");
    let mut v = args.clone();
    v.extend_from_slice(&["--out", s(&single)]);
    ok(&rsmi(&v));
    let out = d.join("run.npz");
    // Slurm numbers tasks from SLURM_ARRAY_TASK_MIN (here 1, as in --array=1-2).
    for id in ["1", "2"] {
        let mut v = args.clone();
        v.extend_from_slice(&["--out", s(&out)]);
        let o = Command::new(env!("CARGO_BIN_EXE_rsmi"))
            .args(&v)
            .env("SLURM_ARRAY_TASK_ID", id)
            .env("SLURM_ARRAY_TASK_MIN", "1")
            .env("SLURM_ARRAY_TASK_COUNT", "2")
            .output()
            .unwrap();
        ok(&o);
        assert!(stderr(&o).contains("job-array task"), "{}", stderr(&o));
    }
    let merged = d.join("merged.npz");
    ok(&merge(&[shard(&out, 0, 2), shard(&out, 1, 2)], &merged));
    assert_eq!(bytes(&single), bytes(&merged));
    // --job-count 1 overrides Slurm: the whole run in one task.
    let whole = d.join("whole.npz");
    let mut v = args.clone();
    v.extend_from_slice(&["--out", s(&whole), "--job-index", "0", "--job-count", "1"]);
    let o = Command::new(env!("CARGO_BIN_EXE_rsmi"))
        .args(&v)
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "2")
        .output()
        .unwrap();
    ok(&o);
    assert_eq!(bytes(&single), bytes(&whole));
}

#[test]
fn jobs_sets_the_plan_and_is_checked() {
    let d = TempDir::new("jobs");
    for (jobs, want) in [("1", 1), ("3", 3), ("4096", 6)] {
        // 1500 replica samples: 6 jobs of 256 chains at most.
        let out = d.join(&format!("j{jobs}.npz"));
        let mut v = base("ising2d", &["--jobs", jobs]);
        v.extend_from_slice(&["--out", s(&out)]);
        ok(&rsmi(&v));
        let f = read_npz(&out).unwrap();
        assert_eq!(f.meta["config"]["jobs"], want, "--jobs {jobs}");
    }
    for bad in ["0", "2000000"] {
        let mut v = base("ising2d", &["--jobs", bad]);
        let out = d.join("bad.npz");
        v.extend_from_slice(&["--out", s(&out)]);
        let o = rsmi(&v);
        assert!(
            stderr(&o).contains("--jobs must be between 1 and"),
            "{}",
            stderr(&o)
        );
        assert!(!out.exists());
    }
}

#[test]
fn a_task_resumes_its_own_checkpoint() {
    let d = TempDir::new("array-resume");
    let args = base("ising2d", &[]);
    let out = d.join("run.npz");
    let ck = d.join("run.ckpt");
    let with_ck = |extra: &[&str]| {
        let mut v = args.clone();
        v.extend_from_slice(&[
            "--out",
            s(&out),
            "--job-index",
            "1",
            "--job-count",
            "2",
            "--checkpoint",
            s(&ck),
        ]);
        v.extend_from_slice(extra);
        rsmi(&v)
    };
    let o = with_ck(&[
        "--checkpoint-interval",
        "0",
        "--exit-after-checkpoints",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(shard(&ck, 1, 2).exists());
    ok(&with_ck(&["--resume"]));
    assert!(!shard(&ck, 1, 2).exists());
    ok(&task(&args, &out, 0, 2));
    let merged = d.join("merged.npz");
    ok(&merge(&[shard(&out, 0, 2), shard(&out, 1, 2)], &merged));
    let single = d.join("single.npz");
    let mut v = args.clone();
    v.extend_from_slice(&["--out", s(&single)]);
    ok(&rsmi(&v));
    assert_eq!(bytes(&single), bytes(&merged));
}
