//! End-to-end tests of `rsmi sample dimer` and `rsmi bench dimer`, spawning the binary:
//! the `.npz` round trip (links, decorated array and winding numbers consistent; paired
//! face bits equal to the vertex bits, independent ones not), independence of the thread
//! count, the `--json` summary, and bad input refused with one clear sentence and no
//! file left behind.

mod common;

use common::{TempDir, rsmi, stderr};
use rsmi_cli::io::dimer_npz::{DimerFile, read_dimer_npz};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

/// `rsmi sample dimer --size 8 --samples 40 --seed 3 --burn-in 20 --out <out> <extra>`.
fn sample(out: &Path, extra: &[&str]) -> Output {
    let o = out.to_str().unwrap().to_string();
    let mut v = vec![
        "sample",
        "dimer",
        "--size",
        "8",
        "--seed",
        "3",
        "--burn-in",
        "20",
        "--out",
    ];
    v.push(&o);
    if !extra.contains(&"--samples") {
        v.extend_from_slice(&["--samples", "40"]);
    }
    v.extend_from_slice(extra);
    rsmi(&v)
}

/// Bits of one sample, read back from the arrays (no library code).
struct View<'a> {
    l: usize,
    links: &'a [u8],
}

impl View<'_> {
    fn h(&self, x: usize, y: usize) -> u8 {
        let l = self.l;
        self.links[(y % l) * l + x % l]
    }
    fn v(&self, x: usize, y: usize) -> u8 {
        let l = self.l;
        self.links[l * l + (y % l) * l + x % l]
    }
}

/// Independent check of every sample: 0/1 bytes, one dimer per site, winding numbers,
/// decorated array = links between the noise bits. Returns, over all samples, whether
/// every face bit equals its vertex bit.
fn check_file(f: &DimerFile) -> Option<bool> {
    let l = f.size;
    assert_eq!(f.links.len(), f.n * 2 * l * l);
    assert_eq!(f.winding.len(), 2 * f.n);
    let mut paired = true;
    for s in 0..f.n {
        let view = View {
            l,
            links: f.sample_links(s),
        };
        assert!(view.links.iter().all(|&b| b <= 1));
        for y in 0..l {
            for x in 0..l {
                let touching =
                    view.h(x, y) + view.h(x + l - 1, y) + view.v(x, y) + view.v(x, y + l - 1);
                assert_eq!(
                    touching, 1,
                    "sample {s}: site ({x},{y}) touches {touching} dimers"
                );
            }
        }
        let sign = |k: usize| if k.is_multiple_of(2) { 1i64 } else { -1 };
        let wx: i64 = (0..l).map(|y| sign(y) * view.h(0, y) as i64).sum();
        let wy: i64 = (0..l).map(|x| sign(x) * view.v(x, 0) as i64).sum();
        assert_eq!(
            (f.winding[2 * s], f.winding[2 * s + 1]),
            (wx, wy),
            "sample {s}"
        );
        if let Some(d) = f.sample_decorated(s) {
            let w = 2 * l;
            assert_eq!(d.len(), w * w);
            for y in 0..l {
                for x in 0..l {
                    assert_eq!(d[2 * y * w + 2 * x + 1], view.h(x, y));
                    assert_eq!(d[(2 * y + 1) * w + 2 * x], view.v(x, y));
                    let (vx, fc) = (d[2 * y * w + 2 * x], d[(2 * y + 1) * w + 2 * x + 1]);
                    assert!(vx <= 1 && fc <= 1);
                    paired &= vx == fc;
                }
            }
        }
    }
    f.decorated.as_ref().map(|_| paired)
}

#[test]
fn npz_round_trips_with_consistent_links_decorated_and_winding() {
    let d = TempDir::new("rt");
    for (decorate, want) in [
        ("none", None),
        ("paired", Some(true)),
        ("independent", Some(false)),
    ] {
        let out = d.join(&format!("{decorate}.npz"));
        let o = sample(&out, &["--decorate", decorate]);
        assert!(o.status.success(), "{}", stderr(&o));
        let f = read_dimer_npz(&out).unwrap();
        assert_eq!((f.size, f.n), (8, 40));
        assert_eq!(f.meta["model"], "dimer");
        assert_eq!(f.meta["config"]["decorate"], decorate);
        assert_eq!(check_file(&f), want, "--decorate {decorate}");
        // Samples are not all the same covering.
        assert!((1..f.n).any(|s| f.sample_links(s) != f.sample_links(0)));
        if let Some(dec) = &f.decorated {
            // The noise is not constant either.
            assert!(
                dec.chunks(4 * 64)
                    .any(|c| c.iter().step_by(2).any(|&b| b == 1))
            );
        }
    }
    // The interacting model round-trips as well.
    let out = d.join("v.npz");
    let o = sample(
        &out,
        &[
            "--interaction",
            "-1",
            "--temperature",
            "0.65",
            "--exits",
            "minimal-bounce",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let f = read_dimer_npz(&out).unwrap();
    assert_eq!(check_file(&f), None);
    assert_eq!(f.meta["config"]["interaction"], -1.0);
}

#[test]
fn thread_count_does_not_change_the_file() {
    let d = TempDir::new("threads");
    let (a, b) = (d.join("t1.npz"), d.join("t2.npz"));
    // Enough samples for several chains.
    let extra = |t: &'static str| {
        [
            "--samples",
            "300",
            "--decorate",
            "independent",
            "--threads",
            t,
        ]
    };
    let o = sample(&a, &extra("1"));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sample(&b, &extra("2"));
    assert!(o.status.success(), "{}", stderr(&o));
    let fa = read_dimer_npz(&a).unwrap();
    assert!(
        fa.meta["config"]["chains"].as_u64().unwrap() > 1,
        "{}",
        fa.meta["config"]
    );
    assert!(fa.meta.get("run").is_none(), "timings stay out of the file");
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn json_summary_has_the_observables() {
    let d = TempDir::new("json");
    let out = d.join("j.npz");
    let o = sample(&out, &["--json", "--samples", "64"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(v["model"], "dimer");
    assert_eq!(v["size"], 8);
    assert_eq!(v["samples"], 64);
    for key in ["flippable", "n_parallel", "winding_x2"] {
        let e = &v["observables"][key];
        for field in ["mean", "err", "tau_int"] {
            assert!(
                e[field].is_number(),
                "observables.{key}.{field} missing: {v}"
            );
        }
        assert!(e["err"].as_f64().unwrap() >= 0.0);
    }
    let flip = v["observables"]["flippable"]["mean"].as_f64().unwrap();
    let npar = v["observables"]["n_parallel"]["mean"].as_f64().unwrap();
    assert!((flip * 64.0 - npar).abs() < 1e-9, "flippable·L² != N_par");
    assert!((0.0..=0.5).contains(&flip));
    assert_eq!(v["out"], out.to_str().unwrap());
}

/// Bad input: non-zero exit, one sentence on stderr mentioning `needle`, no file left.
fn refused(extra: &[&str], needle: &str) {
    let d = TempDir::new("bad");
    let out = d.join("x.npz");
    let o = out.to_str().unwrap().to_string();
    let mut args = vec!["sample", "dimer"];
    for (flag, default) in [("--size", "8"), ("--samples", "10")] {
        if !extra.contains(&flag) {
            args.extend_from_slice(&[flag, default]);
        }
    }
    args.extend_from_slice(extra);
    if !extra.contains(&"--out") {
        args.extend_from_slice(&["--out", &o]);
    }
    let r = rsmi(&args);
    assert!(!r.status.success(), "{extra:?} should fail");
    let e = stderr(&r);
    assert!(e.contains(needle), "{extra:?}: stderr was {e:?}");
    assert_eq!(e.trim().lines().count(), 1, "{extra:?}: not one line: {e}");
    assert!(
        d.files().is_empty(),
        "{extra:?} left files: {:?}",
        d.files()
    );
}

#[test]
fn bad_input_is_refused_clearly() {
    let cases: &[(&[&str], &str)] = &[
        (&["--size", "7"], "--size must be an even number"),
        (&["--size", "2"], "--size must be an even number"),
        (&["--size", "0"], "--size must be an even number"),
        (&["--interaction", "-1"], "--temperature is required"),
        (
            &["--interaction", "1", "--temperature", "0"],
            "--temperature must be",
        ),
        // `--temperature -2` is taken by clap for a flag (usage block); `=` passes it on.
        (
            &["--interaction", "1", "--temperature=-2"],
            "--temperature must be",
        ),
        (
            &["--interaction", "1", "--temperature", "NaN"],
            "--temperature must be",
        ),
        (
            &["--interaction", "1", "--temperature", "inf"],
            "--temperature must be",
        ),
        (
            &["--interaction", "inf", "--temperature", "1"],
            "--interaction",
        ),
        (&["--samples", "0"], "--samples must be at least 1"),
        (&["--thin", "0"], "--thin must be at least 1"),
        (&["--threads", "0"], "--threads must be at least 1"),
        (&["--out", "/nonexistent-dir/x.npz"], "nonexistent-dir"),
    ];
    for &(extra, needle) in cases {
        refused(extra, needle);
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
    assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    let o = sample(&out, &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    check_file(&read_dimer_npz(&out).unwrap());
    assert_eq!(d.files(), vec!["s.npz".to_string()]);
}

#[cfg(unix)]
#[test]
fn unwritable_directory_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let d = TempDir::new("ro");
    let ro = d.join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    // As root, mode 555 is not enforced: fall back to /proc, which nobody can write.
    let dir = if std::fs::write(ro.join("probe"), b"").is_ok() {
        let _ = std::fs::remove_file(ro.join("probe"));
        PathBuf::from("/proc")
    } else {
        ro
    };
    let out = dir.join(format!("rsmi-dimer-{}.npz", std::process::id()));
    let o = sample(&out, &[]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains(dir.to_str().unwrap()), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(!out.exists());
}

/// `rsmi bench dimer --size 16 --seconds 0.02 --json` plus `extra`: the sorted
/// (kernel, v) pairs, each line checked for a positive rate, the size and the model.
fn bench_dimer_kernels(extra: &[&str]) -> Vec<(String, f64)> {
    let mut args = vec![
        "bench",
        "dimer",
        "--size",
        "16",
        "--seconds",
        "0.02",
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = rsmi(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut kernels: Vec<(String, f64)> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            assert!(v["per_ns"].as_f64().unwrap() > 0.0, "{v}");
            assert_eq!(v["size"], 16);
            assert_eq!(v["model"], "dimer");
            (
                v["kernel"].as_str().unwrap().to_string(),
                v["interaction"].as_f64().unwrap(),
            )
        })
        .collect();
    kernels.sort_by(|a, b| a.partial_cmp(b).unwrap());
    kernels
}

#[test]
fn bench_dimer_reports_every_kernel() {
    let want = |names: &[&str]| -> Vec<(String, f64)> {
        let mut w = Vec::new();
        for k in names {
            for v in [-1.0, 0.0] {
                w.push((k.to_string(), v));
            }
        }
        w
    };
    let worms = ["worm", "worm_reference"];
    let all = [
        "plaquette_reference",
        "plaquette_u64",
        "plaquette_u64x4",
        "worm",
        "worm_reference",
    ];
    assert_eq!(bench_dimer_kernels(&[]), want(&all));
    // --kernels worm: the worm kernel and its reference at both points, only.
    assert_eq!(bench_dimer_kernels(&["--kernels", "worm"]), want(&worms));
    let o = rsmi(&["bench", "dimer", "--size", "5", "--seconds", "0.02"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--size 5"), "{}", stderr(&o));
}
