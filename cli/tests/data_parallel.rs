//! `rsmi train --data-parallel D` in one process: the sharded training learns as much as
//! the ordinary one, does not depend on the thread count, and refuses what it cannot do.
//! (The same bytes for any number of MPI ranks: `cli/tests/mpi.rs`.)

mod common;

use common::{TempDir, ok, rsmi, s, stderr};
use serde_json::Value;

fn train(data: &str, out: &str, extra: &[&str]) -> Value {
    let mut v = vec![
        "train",
        "--data",
        data,
        "--restarts",
        "2",
        "--epochs",
        "30",
        "--seed",
        "3",
        "--out",
        out,
        "--json",
    ];
    v.extend_from_slice(extra);
    let o = rsmi(&v);
    ok(&o);
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn sharded_training_learns_as_much_as_the_ordinary_one() {
    let d = TempDir::new("dp");
    let data = d.join("s.npz");
    ok(&rsmi(&[
        "sample",
        "ising2d",
        "--size",
        "32",
        "--temperature",
        "2.269185314213022",
        "--samples",
        "1500",
        "--seed",
        "2",
        "--out",
        s(&data),
    ]));
    let ordinary = train(s(&data), s(&d.join("o.json")), &[]);
    let sharded = train(s(&data), s(&d.join("p.json")), &["--data-parallel", "4"]);
    let mi = |v: &Value| {
        (
            v["mi"]["best"].as_f64().unwrap(),
            v["mi"]["err"].as_f64().unwrap(),
        )
    };
    let ((a, ea), (b, eb)) = (mi(&ordinary), mi(&sharded));
    eprintln!("held-out I: ordinary {a:.5} ± {ea:.5}, 4 shards {b:.5} ± {eb:.5}");
    // Both reach the same optimum: within 1 % (the restart spread is ~0.05 %).
    assert!((a - b).abs() < 0.01 * a, "{a} vs {b}");
    // A majority-like filter: every weight of one sign (the rule's sign is a label).
    let w: Vec<f64> = sharded["weights"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert!(w.iter().all(|x| x * w[0] > 0.0), "{w:?}");
    assert_eq!(sharded["pairs"]["data_parallel_shards"], 4);
    // Thread counts do not matter.
    let t1 = d.join("t1.json");
    let t2 = d.join("t2.json");
    train(
        s(&data),
        s(&t1),
        &["--data-parallel", "3", "--threads", "1"],
    );
    train(
        s(&data),
        s(&t2),
        &["--data-parallel", "3", "--threads", "2"],
    );
    assert_eq!(std::fs::read(&t1).unwrap(), std::fs::read(&t2).unwrap());
}

#[test]
fn data_parallel_refuses_other_estimators_and_bad_shard_counts() {
    let d = TempDir::new("dp-bad");
    let data = d.join("s.npz");
    ok(&rsmi(&[
        "sample",
        "ising2d",
        "--size",
        "16",
        "--temperature",
        "2.5",
        "--samples",
        "100",
        "--out",
        s(&data),
    ]));
    for (extra, needle) in [
        (
            vec!["--data-parallel", "2", "--estimator", "rbm"],
            "--estimator im only",
        ),
        (vec!["--data-parallel", "0"], "between 1 and 4096"),
    ] {
        let out = d.join("r.json");
        let mut v = vec!["train", "--data", s(&data), "--out", s(&out)];
        v.extend_from_slice(&extra);
        let o = rsmi(&v);
        assert!(!o.status.success());
        assert!(stderr(&o).contains(needle), "{extra:?}: {}", stderr(&o));
        assert!(!out.exists());
    }
}
