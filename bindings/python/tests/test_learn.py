"""train / mi / coarsen and the Rule object: the CLI's values for the same arguments."""

import json

import numpy as np
import pytest

import rsmi

TC = rsmi.T_C


@pytest.fixture(scope="module")
def tc(tmp_path_factory, cli):
    """A small critical sample file written by the CLI, and the same samples in memory."""
    p = tmp_path_factory.mktemp("learn") / "tc.npz"
    cli.run("sample", "ising2d", "--size", 16, "--temperature", repr(TC), "--samples", 300,
            "--seed", 1, "--out", p)
    return p, rsmi.read_samples(p)


TRAIN = dict(restarts=2, epochs=15, seed=3)


def test_train_equals_cli(cli, tc, tmp_path):
    path, pair = tc
    out = tmp_path / "rule.json"
    summary = cli.json("train", "--data", path, "--restarts", 2, "--epochs", 15, "--seed", 3,
                       "--out", out)
    rule_cli = json.loads(out.read_text())
    for data in (path, pair):  # a path, and the (spins, info) pair from memory
        rule = rsmi.train(data, **TRAIN)
        np.testing.assert_array_equal(rule.weights, np.array(rule_cli["weights"]))
        np.testing.assert_array_equal(rule.bias, np.array(rule_cli["bias"]))
        assert rule.mi["heldout"] == rule_cli["mi"]["heldout"]
        assert rule.mi["restarts"] == rule_cli["mi"]["restarts"]
        assert rule.summary["mi"] == summary["mi"]
        assert rule.summary["out"] is None
    assert rule.weights.shape == (1, 4) and rule.bias.shape == (1,)
    assert rule.geometry == {"kind": "square", "block": 2, "buffer": 1, "env": 2}
    assert rule.model == "ising2d" and rule.hidden == 1 and rule.visible == 4


def test_train_out_writes_the_cli_file(tc, tmp_path):
    path, _ = tc
    out = tmp_path / "r.json"
    rule = rsmi.train(path, out=out, hidden=2, **TRAIN)
    assert rule.summary["out"] == str(out)
    assert out.read_text() == rule.to_json()
    assert rsmi.Rule.load(out) == rule
    with pytest.raises(FileExistsError, match="already exists"):
        rsmi.train(path, out=out, **TRAIN)


def test_rule_json_round_trip(tc, tmp_path):
    path, _ = tc
    rule = rsmi.train(path, **TRAIN)
    text = rule.to_json()
    again = rsmi.Rule.from_json(text)
    assert again == rule and again.to_json() == text
    np.testing.assert_array_equal(again.weights, rule.weights)
    assert "Rule(ising2d, 2×2 block" in repr(rule)
    d = rule.to_dict()
    assert d["format"] == "rsmi-rule-1" and d["weights"] == rule.weights.tolist()
    rule.save(tmp_path / "s.json")
    assert (tmp_path / "s.json").read_text() == text
    with pytest.raises(ValueError, match="not a valid rule file"):
        rsmi.Rule.from_json('{"format": "nope"}')


def test_mi_equals_cli(cli, tc):
    path, pair = tc
    ref = cli.json("mi", "--data", path, "--rule", "majority", "--epochs", 20)
    got = rsmi.mi(pair, "majority", epochs=20)
    assert got["mi"] == ref["mi"]
    assert got["rule"] == ref["rule"]


def test_infonce_equals_cli(cli, tc, tmp_path):
    path, pair = tc
    ref = cli.json("mi", "--data", path, "--rule", "majority", "--epochs", 10,
                   "--estimator", "infonce", "--critic", "linear", "--embed", 4, "--batch", 200)
    got = rsmi.mi(pair, "majority", epochs=10, estimator="infonce", critic="linear", embed=4,
                  batch=200)
    assert got["mi"] == ref["mi"]
    assert got["mi"]["ceiling_ln_k"] == pytest.approx(np.log(200), abs=1e-12)
    out = tmp_path / "n.json"
    summary = cli.json("train", "--data", path, "--estimator", "infonce", "--critic-width", 4,
                       "--batch", 200, "--out", out, "--restarts", 2, "--epochs", 5)
    rule = rsmi.train(path, estimator="infonce", critic_width=4, batch=200, restarts=2,
                      epochs=5)
    np.testing.assert_array_equal(rule.weights, np.array(json.loads(out.read_text())["weights"]))
    assert rule.summary["mi"] == summary["mi"]
    with pytest.raises(ValueError, match="--critic"):
        rsmi.mi(path, "majority", estimator="infonce", critic="quadratic")


def test_mi_of_a_rule_object_equals_its_file(cli, tc, tmp_path):
    path, _ = tc
    rule = rsmi.train(path, **TRAIN)
    rule.save(tmp_path / "r.json")
    ref = cli.json("mi", "--data", path, "--rule", tmp_path / "r.json", "--epochs", 20)
    assert rsmi.mi(path, rule, epochs=20)["mi"] == ref["mi"]


def test_coarsen_equals_cli(cli, tc, tmp_path):
    path, _ = tc
    out = tmp_path / "c.npz"
    summary = cli.json("coarsen", "--data", path, "--rule", "majority", "--seed", 5,
                       "--out", out)
    spins, info = rsmi.coarsen(path, "majority", 5)
    z = np.load(out)
    np.testing.assert_array_equal(spins, z["spins"])
    np.testing.assert_array_equal(info["energy"], z["energy"])
    assert info["meta"]["rg_step"] == 1 and spins.shape == (300, 8, 1)
    s = dict(info["summary"])
    assert s.pop("out") is None
    summary.pop("out")
    assert s == summary


def test_coarsen_learned_rule_then_train_again(tc):
    _, pair = tc
    rule = rsmi.train(pair, **TRAIN)
    coarse = rsmi.coarsen(pair, rule, 1, unpack=True)
    assert coarse[0].shape == (300, 8, 8) and coarse[0].dtype == np.int8
    again = rsmi.train(coarse, restarts=1, epochs=5)
    assert again.weights.shape == (1, 4)
