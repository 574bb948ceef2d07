//! Error sentences end to end: each cause is printed once, and a misspelt built-in rule is
//! named as such (docs/formats.md lists the files these commands read).

mod common;
use common::{TempDir, rsmi, stderr};
use std::path::Path;

/// Fails if any `: `-separated part of the error line (longer than a few characters)
/// occurs twice: the sign of a cause printed both in a message and again as its source.
fn assert_each_cause_once(err: &str) {
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in {err:?}"));
    let parts: Vec<&str> = line
        .trim_start_matches("error:")
        .split(": ")
        .map(str::trim)
        .filter(|p| p.len() > 8)
        .collect();
    for (i, p) in parts.iter().enumerate() {
        assert!(
            !parts[i + 1..].contains(p),
            "'{p}' is printed twice in: {line}"
        );
    }
}

/// A small valid 8×8 Ising sample file in `dir`.
fn sample(dir: &TempDir) -> String {
    let out = dir.join("s.npz");
    let o = rsmi(&[
        "sample",
        "ising2d",
        "--size",
        "8",
        "--temperature",
        "2.5",
        "--samples",
        "40",
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    out.to_str().unwrap().to_string()
}

/// The first `n` bytes of `src`, written to `dst`.
fn truncate(src: &str, dst: &Path, n: usize) -> String {
    let bytes = std::fs::read(src).unwrap();
    std::fs::write(dst, &bytes[..n.min(bytes.len())]).unwrap();
    dst.to_str().unwrap().to_string()
}

/// Runs `args`, expects failure, returns the standard error.
fn fails(args: &[&str]) -> String {
    let o = rsmi(args);
    assert!(!o.status.success(), "{args:?} succeeded");
    let e = stderr(&o);
    assert_each_cause_once(&e);
    e
}

#[test]
fn truncated_sample_file_names_the_cause_once() {
    let dir = TempDir::new("err-trunc");
    let good = sample(&dir);
    let bad = truncate(&good, &dir.join("trunc.npz"), 300);
    let out = dir.join("o.json");
    let coarse = dir.join("c.npz");
    let cases: Vec<Vec<&str>> = vec![
        vec!["mi", "--data", &bad, "--rule", "majority"],
        vec!["train", "--data", &bad, "--out", out.to_str().unwrap()],
        vec![
            "coarsen",
            "--data",
            &bad,
            "--rule",
            "majority",
            "--seed",
            "1",
            "--out",
            coarse.to_str().unwrap(),
        ],
        vec!["couplings", "--data", &bad],
    ];
    for args in &cases {
        let e = fails(args);
        assert!(
            e.contains("trunc.npz") && e.contains("not a valid .npz (zip) archive"),
            "{args:?}: {e}"
        );
        assert_eq!(
            e.matches("central directory").count(),
            1,
            "{args:?}: the zip error must appear once: {e}"
        );
        assert!(!out.exists() && !coarse.exists());
    }
}

#[test]
fn missing_files_name_the_cause_once() {
    let dir = TempDir::new("err-missing");
    let good = sample(&dir);
    let missing_rule = dir.join("missing.json");
    let missing_rule = missing_rule.to_str().unwrap();
    let missing_data = dir.join("missing.npz");
    let missing_data = missing_data.to_str().unwrap();
    let svg = dir.join("w.svg");
    for args in [
        vec!["mi", "--data", good.as_str(), "--rule", missing_rule],
        vec![
            "plot",
            "weights",
            missing_rule,
            "--out",
            svg.to_str().unwrap(),
        ],
    ] {
        let e = fails(&args);
        assert!(
            e.contains("could not read rule file") && e.contains("missing.json"),
            "{args:?}: {e}"
        );
        assert_eq!(e.matches("os error").count(), 1, "{args:?}: {e}");
    }
    let e = fails(&["mi", "--data", missing_data, "--rule", "majority"]);
    assert!(e.contains("could not read sample file"), "{e}");
    assert_eq!(e.matches("os error").count(), 1, "{e}");
}

#[test]
fn misspelt_builtin_rule_is_named_as_such() {
    let dir = TempDir::new("err-builtin");
    let good = sample(&dir);
    let coarse = dir.join("c.npz");
    let want =
        "unknown built-in rule 'plurality' (expected majority, decimation, or a RULE.json path)";
    for args in [
        vec!["mi", "--data", good.as_str(), "--rule", "plurality"],
        vec![
            "coarsen",
            "--data",
            good.as_str(),
            "--rule",
            "plurality",
            "--seed",
            "1",
            "--out",
            coarse.to_str().unwrap(),
        ],
    ] {
        let e = fails(&args);
        assert!(e.contains(want), "{args:?}: {e}");
        assert!(!e.contains("could not read rule file"), "{args:?}: {e}");
    }
    // A path-like name that does not exist is a missing file, not a built-in.
    let e = fails(&["mi", "--data", &good, "--rule", "plurality.json"]);
    assert!(e.contains("could not read rule file"), "{e}");
}
