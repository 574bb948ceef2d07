//! End-to-end tests of `rsmi couplings` (JSON shape, text table, refusals) and of the
//! built-in rules of `rsmi coarsen` (`--rule majority|decimation --block B`).

mod common;

use common::{TempDir, ok, rsmi, s, sample, stderr};
use rsmi_cli::io::npz::read_npz;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// A refusal: non-zero exit, one line on stderr containing `needle`, nothing on stdout.
fn refused(o: &Output, needle: &str) {
    let e = stderr(o);
    assert!(!o.status.success(), "expected a refusal ({needle})");
    assert!(e.contains(needle), "expected {needle:?} in: {e}");
    assert_eq!(
        e.trim_end().lines().count(),
        1,
        "one sentence expected: {e}"
    );
    assert!(
        o.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn couplings_json_shape_and_table() {
    let d = TempDir::new("couplings-json");
    let data = sample(&d, "ising2d", "8", "3", "200", "3", "a.npz");
    let o = rsmi(&["couplings", "--data", s(&data), "--json"]);
    ok(&o);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    for name in ["nn", "nnn", "nn3", "plaq"] {
        let c = &v["couplings"][name];
        assert!(c["value"].as_f64().unwrap().is_finite(), "{v}");
        assert!(c["err"].as_f64().unwrap() > 0.0, "{v}");
    }
    assert_eq!(v["couplings"].as_object().unwrap().len(), 4);
    assert_eq!(
        v["operators"],
        serde_json::json!(["nn", "nnn", "nn3", "plaq"])
    );
    assert_eq!(v["samples"], 200);
    assert_eq!(v["size"], 8);
    assert_eq!(v["dims"], 2);
    assert_eq!(v["bins"], 20);
    assert_eq!(v["temperature"], 3.0);
    assert_eq!(v["rg_step"], 0);
    let pl = v["log_pl_per_site"].as_f64().unwrap();
    assert!(pl < 0.0 && pl > -std::f64::consts::LN_2, "{pl}");
    assert_eq!(v["provenance"]["crate"], "rsmi");
    assert_eq!(v["source"]["meta"]["model"], "ising2d");
    // Nearest-neighbour coupling near 1/T on a small sample.
    let k = v["couplings"]["nn"]["value"].as_f64().unwrap();
    assert!((k - 1.0 / 3.0).abs() < 0.1, "{k}");

    // Threads never change the numbers; options are honoured.
    let args = |t: &'static str| {
        vec![
            "couplings",
            "--data",
            s(&data),
            "--operators",
            "nn_x,nn_y,field",
            "--bins",
            "10",
            "--threads",
            t,
            "--json",
        ]
    };
    let one = rsmi(&args("1"));
    let two = rsmi(&args("2"));
    ok(&one);
    ok(&two);
    let (a, b): (Value, Value) = (
        serde_json::from_slice(&one.stdout).unwrap(),
        serde_json::from_slice(&two.stdout).unwrap(),
    );
    assert_eq!(a["couplings"], b["couplings"]);
    assert_eq!(a["bins"], 10);
    assert_eq!(a["operators"], serde_json::json!(["nn_x", "nn_y", "field"]));

    // Text output: a table with one line per operator.
    let o = rsmi(&["couplings", "--data", s(&data)]);
    ok(&o);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("operator"), "{text}");
    for name in ["nn ", "nnn ", "nn3 ", "plaq "] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{text}");
    }
}

#[test]
fn couplings_1d_defaults_and_coarse_channels() {
    let d = TempDir::new("couplings-1d");
    let data = sample(&d, "ising1d", "64", "1", "100", "3", "r.npz");
    let o = rsmi(&["couplings", "--data", s(&data), "--json"]);
    ok(&o);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["operators"], serde_json::json!(["nn", "nnn"]));
    assert_eq!(v["dims"], 1);
    refused(
        &rsmi(&["couplings", "--data", s(&data), "--operators", "nn_x"]),
        "not defined in 1D",
    );

    // A coarse file: rg_step 1 in the JSON.
    let coarse = d.join("c.npz");
    ok(&rsmi(&[
        "coarsen",
        "--rule",
        "decimation",
        "--block",
        "2",
        "--data",
        s(&data),
        "--out",
        s(&coarse),
        "--mode",
        "argmax",
        "--seed",
        "1",
    ]));
    let o = rsmi(&["couplings", "--data", s(&coarse), "--json"]);
    ok(&o);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rg_step"], 1);
    assert_eq!(v["size"], 32);
    assert_eq!(v["temperature"], 1.0);
}

#[test]
fn couplings_bad_inputs() {
    let d = TempDir::new("couplings-bad");
    let data = sample(&d, "ising2d", "8", "3", "40", "3", "a.npz");
    let few = sample(&d, "ising2d", "8", "3", "9", "3", "few.npz");
    let missing = d.join("missing.npz");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--data", s(&data), "--operators", "nn,bogus"],
            "unknown operator 'bogus' (valid operators in 2D: nn, nn_x, nn_y, nnn, nnn_a, nnn_b, nn3, plaq, field)",
        ),
        (
            vec!["--data", s(&data), "--operators", "nn,nn_x"],
            "collinear",
        ),
        (
            vec!["--data", s(&data), "--operators", "nn_y,nn"],
            "collinear",
        ),
        (vec!["--data", s(&few)], "too few samples for the jackknife"),
        (
            vec!["--data", s(&data), "--bins", "30"],
            "too few samples for the jackknife",
        ),
        (vec!["--data", s(&missing)], "could not read sample file"),
        (vec!["--data", s(&data), "--channel", "1"], "out of range"),
        (vec!["--data", s(&data), "--threads", "0"], "--threads"),
    ];
    for (args, needle) in cases {
        let mut a = vec!["couplings"];
        a.extend(args);
        refused(&rsmi(&a), needle);
    }

    // Perfectly ordered samples (T = 0.5 on a small torus): a clear error, never NaN.
    let cold = sample(&d, "ising2d", "4", "0.2", "40", "3", "cold.npz");
    let f = read_npz(&cold).unwrap();
    if f.magnetization.iter().all(|m| m.abs() == 16) {
        let o = rsmi(&["couplings", "--data", s(&cold), "--json"]);
        assert!(!o.status.success());
        assert!(o.stdout.is_empty());
        let e = stderr(&o);
        assert!(e.contains("singular") || e.contains("converge"), "{e}");
    }

    // Multi-channel coarse files need --channel.
    let w = d.join("rule.json");
    let rule = rsmi_cli::learn::builtin::Builtin::Majority
        .rule_file("ising2d", 2, 2)
        .unwrap();
    let mut two = rule.clone();
    two.hidden = 2;
    two.weights = vec![rule.weights[0].clone(), vec![10.0, 0.0, 0.0, 0.0]];
    two.filters = rsmi_cli::learn::rule_file::normalise(&two.weights);
    two.bias = vec![0.0, 0.0];
    rsmi_cli::learn::rule_file::write_rule(&w, false, &two).unwrap();
    let data16 = sample(&d, "ising2d", "16", "3", "40", "3", "b.npz");
    let coarse = d.join("c2.npz");
    ok(&rsmi(&[
        "coarsen",
        "--rule",
        s(&w),
        "--data",
        s(&data16),
        "--out",
        s(&coarse),
        "--mode",
        "argmax",
        "--seed",
        "1",
    ]));
    refused(
        &rsmi(&["couplings", "--data", s(&coarse)]),
        "choose one with --channel",
    );
    let o = rsmi(&[
        "couplings",
        "--data",
        s(&coarse),
        "--channel",
        "1",
        "--json",
    ]);
    ok(&o);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["channel"], 1);
    assert_eq!(v["size"], 8);
}

#[test]
fn coarsen_builtin_rules() {
    let d = TempDir::new("coarsen-builtin");
    let data = sample(&d, "ising2d", "12", "2.5", "20", "3", "a.npz");
    // Decimation with blocks of 3 keeps spin (3X, 3Y).
    let out = d.join("dec.npz");
    let o = rsmi(&[
        "coarsen",
        "--rule",
        "decimation",
        "--block",
        "3",
        "--data",
        s(&data),
        "--out",
        s(&out),
        "--mode",
        "argmax",
        "--seed",
        "1",
        "--json",
    ]);
    ok(&o);
    let (src, dec) = (read_npz(&data).unwrap(), read_npz(&out).unwrap());
    assert_eq!(dec.size, 4);
    for i in 0..src.n {
        for y in 0..4 {
            for x in 0..4 {
                assert_eq!(dec.spin(i, y, x), src.spin(i, 3 * y, 3 * x));
            }
        }
    }
    assert_eq!(dec.meta["rule"]["estimator"], "builtin");
    assert_eq!(dec.meta["coarsen"]["block"], 3);
    // Majority, default block 2: the sign of the block sum where it is not a tie.
    let out = d.join("maj.npz");
    ok(&rsmi(&[
        "coarsen",
        "--rule",
        "majority",
        "--data",
        s(&data),
        "--out",
        s(&out),
        "--mode",
        "argmax",
        "--seed",
        "1",
    ]));
    let maj = read_npz(&out).unwrap();
    assert_eq!(maj.size, 6);
    for i in 0..src.n {
        for y in 0..6 {
            for x in 0..6 {
                let sum: i32 = (0..2)
                    .flat_map(|dy| (0..2).map(move |dx| (dy, dx)))
                    .map(|(dy, dx)| {
                        if src.spin(i, 2 * y + dy, 2 * x + dx) {
                            1
                        } else {
                            -1
                        }
                    })
                    .sum();
                if sum != 0 {
                    assert_eq!(maj.spin(i, y, x), sum > 0);
                }
            }
        }
    }

    let base = |rule: &'static str, out: &Path| -> Vec<String> {
        [
            "coarsen",
            rule,
            "--data",
            s(&data),
            "--out",
            s(out),
            "--seed",
            "1",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect()
    };
    let run = |mut a: Vec<String>, extra: &[&str]| {
        a.splice(1..1, ["--rule".to_string()]);
        a.extend(extra.iter().map(|x| x.to_string()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        rsmi(&a)
    };
    let bad = d.join("bad.npz");
    refused(
        &run(base("plurality", &bad), &[]),
        "unknown built-in rule 'plurality' (expected majority, decimation, or a RULE.json path)",
    );
    refused(
        &run(base("majority", &bad), &["--block", "5"]),
        "does not divide",
    );
    refused(&run(base("majority", &bad), &["--block", "0"]), "--block");
    let rule = d.join("r.json");
    rsmi_cli::learn::rule_file::write_rule(
        &rule,
        false,
        &rsmi_cli::learn::builtin::Builtin::Majority
            .rule_file("ising2d", 2, 2)
            .unwrap(),
    )
    .unwrap();
    let mut a = base("x", &bad);
    a[1] = s(&rule).to_string();
    refused(&run(a, &["--block", "2"]), "fixes its own block");
    refused(
        &run(base("missing.json", &bad), &[]),
        "could not read rule file",
    );
    assert!(!bad.exists());
}
