//! End-to-end tests of `rsmi mcrg` and `rsmi flow`: JSON shape, determinism, the rule's
//! symmetry and sign, and bad input (one sentence, non-zero exit, no flow.json left).

mod common;

use common::{TempDir, ok, rsmi, s, sample, stderr};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A refusal: non-zero exit, one line on stderr containing `needle`, nothing on stdout.
fn refused(o: &Output, needle: &str) {
    let e = stderr(o);
    assert!(!o.status.success(), "expected a refusal ({needle})");
    assert!(e.contains(needle), "expected {needle:?} in: {e}");
    let last = e.trim_end().lines().last().unwrap_or("");
    assert!(
        last.starts_with("error:"),
        "the error is the last line: {e}"
    );
    assert!(
        o.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(!e.contains("panicked"), "{e}");
}

fn json(o: &Output) -> Value {
    ok(o);
    serde_json::from_slice(&o.stdout).expect("one JSON object on stdout")
}

/// A RULE.json for a 2×2 Ising block with the given weights (one row per hidden unit).
fn rule_file(d: &TempDir, name: &str, weights: &[[f64; 4]]) -> PathBuf {
    let p = d.join(name);
    let w: Vec<Vec<f64>> = weights.iter().map(|r| r.to_vec()).collect();
    let filters: Vec<Vec<f64>> = w
        .iter()
        .map(|r| {
            let n = r.iter().map(|x| x * x).sum::<f64>().sqrt();
            r.iter().map(|x| x / n).collect()
        })
        .collect();
    let v = serde_json::json!({
        "format": "rsmi-rule-1",
        "model": "ising2d",
        "input": "spins",
        "channels": 1,
        "geometry": {"kind": "square", "block": 2, "buffer": 1, "env": 2},
        "hidden": w.len(),
        "visible": 4,
        "estimator": "im",
        "weights": w,
        "bias": vec![0.0; weights.len()],
        "filters": filters,
    });
    std::fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
    p
}

#[test]
fn mcrg_json_shape_and_determinism() {
    let d = TempDir::new("mcrg");
    let data = sample(
        &d,
        "ising2d",
        "32",
        "2.269185314213022",
        "400",
        "5",
        "tc32.npz",
    );
    let args = [
        "mcrg",
        "--data",
        s(&data),
        "--rule",
        "majority",
        "--levels",
        "2",
        "--seed",
        "3",
        "--json",
    ];
    let v = json(&rsmi(&args));
    assert_eq!(v["levels"].as_array().unwrap().len(), 2);
    assert_eq!(v["levels"][0]["level"], 1);
    assert_eq!(v["levels"][0]["size"], 16);
    assert_eq!(v["levels"][1]["size"], 8);
    assert_eq!(v["levels"][1]["y_t"]["operators"], 4);
    assert_eq!(v["levels"][1]["y_h"]["operators"], 2);
    assert_eq!(
        v["levels"][0]["y_t_by_operators"].as_array().unwrap().len(),
        4
    );
    assert!(v["levels"][1]["y_t"]["value"].as_f64().unwrap().is_finite());
    assert!(v["levels"][1]["y_h"]["err"].as_f64().unwrap() > 0.0);
    assert_eq!(v["observables"].as_array().unwrap().len(), 3);
    assert_eq!(v["samples"], 400);
    assert!(v["build"].is_object());
    // Same arguments, same numbers; --threads does not change them.
    let mut one = args.to_vec();
    one.extend(["--threads", "1"]);
    let w = json(&rsmi(&one));
    assert_eq!(v["levels"], w["levels"]);
    // --operators 2 uses the first two of each parity.
    let mut two = args.to_vec();
    two.extend(["--operators", "2"]);
    let w = json(&rsmi(&two));
    assert_eq!(w["levels"][0]["y_t"]["operators"], 2);
    assert_eq!(w["operators"]["even"], serde_json::json!(["nn", "nnn"]));
    // The text table.
    let o = rsmi(&args[..args.len() - 1]);
    ok(&o);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(t.contains("y_t") && t.contains("y_h"), "{t}");
}

#[test]
fn mcrg_rule_sign_symmetry_and_units() {
    let d = TempDir::new("mcrg-rule");
    let data = sample(
        &d,
        "ising2d",
        "32",
        "2.269185314213022",
        "400",
        "5",
        "tc32.npz",
    );
    let run = |rule: &Path, extra: &[&str]| {
        let mut a = vec![
            "mcrg",
            "--data",
            s(&data),
            "--rule",
            s(rule),
            "--levels",
            "2",
            "--json",
        ];
        a.extend_from_slice(extra);
        rsmi(&a)
    };
    // A negative uniform rule is the block spin relabelled: same exponents as +.
    let pos = rule_file(&d, "pos.json", &[[2.0, 2.0, 2.0, 2.0]]);
    let neg = rule_file(&d, "neg.json", &[[-2.0, -2.0, -2.0, -2.0]]);
    let vp = json(&run(&pos, &[]));
    let vn = json(&run(&neg, &[]));
    assert_eq!(vn["rule"]["sign_flipped"], true);
    assert_eq!(vp["levels"], vn["levels"]);
    // A tie-breaking rule (one weak site) is symmetrised to the uniform rule of the same mean.
    let tb = rule_file(&d, "tb.json", &[[3.4, 3.2, 3.2, 1.0]]);
    let v = json(&run(&tb, &[]));
    assert_eq!(v["rule"]["symmetrized"], true);
    let w = v["rule"]["weights"].as_array().unwrap();
    assert!(
        w.iter().all(|x| (x.as_f64().unwrap() - 2.7).abs() < 1e-12),
        "{w:?}"
    );
    let raw = json(&run(&tb, &["--symmetry", "none"]));
    assert_eq!(raw["rule"]["symmetrized"], false);
    // Several hidden units: refused without --unit, unit 1 accepted, unit 5 refused.
    let h2 = rule_file(&d, "h2.json", &[[1.0, 0.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0]]);
    refused(&run(&h2, &[]), "choose one unit with --unit J");
    let v = json(&run(&h2, &["--unit", "1"]));
    assert_eq!(v["rule"]["unit"], 1);
    refused(&run(&h2, &["--unit", "5"]), "--unit 5 does not exist");
}

#[test]
fn mcrg_bad_input() {
    let d = TempDir::new("mcrg-bad");
    let data = sample(&d, "ising2d", "8", "2.5", "60", "5", "l8.npz");
    let few = sample(&d, "ising2d", "8", "2.5", "30", "5", "few.npz");
    let l6 = sample(&d, "ising2d", "6", "2.5", "60", "5", "l6.npz");
    let m = |extra: &[&str]| {
        let mut a = vec!["mcrg"];
        a.extend_from_slice(extra);
        rsmi(&a)
    };
    refused(
        &m(&["--data", s(&data), "--rule", "majority", "--levels", "3"]),
        "at least 4 are needed",
    );
    refused(
        &m(&[
            "--data",
            s(&l6),
            "--rule",
            "majority",
            "--block",
            "4",
            "--levels",
            "1",
        ]),
        "does not tile",
    );
    refused(
        &m(&["--data", s(&few), "--rule", "majority", "--levels", "1"]),
        "too few samples for the jackknife",
    );
    refused(
        &m(&["--data", s(&data), "--rule", "plurality", "--levels", "1"]),
        "unknown built-in rule 'plurality'",
    );
    refused(
        &m(&["--data", s(&data), "--rule", "majority", "--levels", "0"]),
        "--levels must be at least 1",
    );
    refused(
        &m(&["--data", s(&d.join("missing.npz")), "--rule", "majority"]),
        "missing.npz",
    );
    let ring = sample(&d, "ising1d", "64", "1.0", "60", "5", "ring.npz");
    let pos = rule_file(&d, "pos.json", &[[1.0, 1.0, 1.0, 1.0]]);
    refused(
        &m(&["--data", s(&ring), "--rule", s(&pos), "--levels", "1"]),
        "is for 2D data but the samples are 1D",
    );
    // 1D data with a built-in chain rule works.
    let v = json(&m(&[
        "--data",
        s(&ring),
        "--rule",
        "decimation",
        "--levels",
        "2",
        "--json",
    ]));
    assert_eq!(v["levels"][1]["size"], 16);
}

#[test]
fn flow_small_run_and_bad_input() {
    let d = TempDir::new("flow");
    let out = d.join("flow");
    let base = [
        "flow",
        "--size",
        "32",
        "--levels",
        "2",
        "--samples",
        "200",
        "--restarts",
        "1",
        "--bins",
        "10",
        "--thermometers",
        "nn,diag,m2",
        "--temperatures",
        "2.1,2.45",
        "--out",
    ];
    let mut a = base.to_vec();
    a.extend([s(&out), "--json"]);
    let v = json(&rsmi(&a));
    assert_eq!(v["format"], "rsmi-flow-1");
    assert_eq!(v["flows"].as_array().unwrap().len(), 2);
    let f0 = &v["flows"][0];
    assert_eq!(f0["levels"].as_array().unwrap().len(), 3);
    assert_eq!(f0["levels"][2]["size"], 8);
    for k in ["nn", "diag", "m2"] {
        assert!(
            f0["levels"][1]["thermometers"][k]["value"]
                .as_f64()
                .unwrap()
                .is_finite()
        );
    }
    assert!(v["t_c"]["value"].as_f64().unwrap().is_finite());
    for f in ["flow.json", "flow.png", "collapse.png", "reference"] {
        assert!(out.join(f).exists(), "{f}");
    }
    // flow.json is what --json printed.
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("flow.json")).unwrap()).unwrap();
    assert_eq!(file["t_c"], v["t_c"]);
    // An existing flow.json needs --force.
    let mut again = base.to_vec();
    again.push(s(&out));
    refused(&rsmi(&again), "flow.json");
    // --data: the same flow from the level-0 files.
    let t0: Vec<String> = v["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["levels"][0]["path"].as_str().unwrap().to_string())
        .collect();
    let data = t0.join(",");
    // The same small flow from the level-0 files, with extra arguments, into d/`name`.
    let from_data = |name: &str, extra: &[&str]| {
        let out = d.join(name);
        let mut a = vec![
            "flow",
            "--data",
            &data,
            "--levels",
            "2",
            "--samples",
            "200",
            "--restarts",
            "1",
            "--bins",
            "10",
            "--thermometers",
            "nn,diag,m2",
            "--json",
            "--out",
        ];
        a.push(s(&out));
        a.extend_from_slice(extra);
        json(&rsmi(&a))
    };
    let w = from_data("flow2", &[]);
    assert_eq!(
        w["flows"][1]["levels"][2]["t_eff"],
        v["flows"][1]["levels"][2]["t_eff"]
    );
    // --retrain once: the level-0 rule is applied at every level.
    let u = from_data("flow3", &["--retrain", "once"]);
    assert_eq!(u["retrain"], "once");
    let t = u["flows"][0]["levels"][2]["path"].as_str().unwrap();
    let dir = Path::new(t).parent().unwrap();
    let r0 = std::fs::read_to_string(dir.join("rule0_used.json")).unwrap();
    let r1 = std::fs::read_to_string(dir.join("rule1_used.json")).unwrap();
    assert_eq!(r0, r1);
    assert!(!dir.join("rule1.json").exists());
    // Level 1 is the same as with per-level training (same rule, same seed).
    assert_eq!(
        u["flows"][0]["levels"][1]["t_eff"],
        v["flows"][0]["levels"][1]["t_eff"]
    );

    // Bad input: one sentence each, and no flow.json.
    let bad = d.join("bad");
    let f = |extra: &[&str]| {
        let mut a = vec![
            "flow",
            "--out",
            s(&bad),
            "--samples",
            "200",
            "--bins",
            "10",
            "--thermometers",
            "nn",
        ];
        a.extend_from_slice(extra);
        rsmi(&a)
    };
    refused(&f(&["--model", "ising1d"]), "only ising2d");
    refused(
        &f(&["--size", "16", "--levels", "4"]),
        "is too many for L = 16",
    );
    refused(
        &f(&["--size", "16", "--temperatures", "2.3"]),
        "at least two starting temperatures",
    );
    refused(
        &f(&["--size", "16", "--ref-samples", "10"]),
        "too few samples for the jackknife",
    );
    refused(
        &f(&[
            "--size",
            "16",
            "--levels",
            "1",
            "--restarts",
            "1",
            "--temperatures",
            "1.6,3.2",
            "--ref-grid",
            "2.2,2.25,2.3,2.35",
        ]),
        "does not bracket",
    );
    assert!(!bad.join("flow.json").exists());
}
