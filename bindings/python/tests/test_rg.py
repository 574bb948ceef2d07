"""couplings / mcrg / flow: the JSON the CLI prints, as Python objects."""

import json

import numpy as np
import pytest

import rsmi


@pytest.fixture(scope="module")
def tc32(tmp_path_factory, cli):
    p = tmp_path_factory.mktemp("rg") / "tc32.npz"
    cli.run("sample", "ising2d", "--size", 32, "--temperature", repr(rsmi.T_C), "--samples",
            400, "--seed", 7, "--out", p)
    return p


def test_couplings_equals_cli(cli, tc32):
    ref = cli.json("couplings", "--data", tc32)
    got = rsmi.couplings(tc32)
    assert got["couplings"] == ref["couplings"]
    assert got["operators"] == ["nn", "nnn", "nn3", "plaq"]
    assert rsmi.couplings(tc32, operators=["nn", "field"])["operators"] == ["nn", "field"]


def test_mcrg_equals_cli(cli, tc32):
    ref = cli.json("mcrg", "--data", tc32, "--rule", "majority", "--levels", 2)
    got = rsmi.mcrg(tc32, "majority", levels=2)
    ref.pop("provenance", None)
    got.pop("provenance", None)
    assert got["levels"] == ref["levels"]
    assert [l["size"] for l in got["levels"]] == [16, 8]


def test_sample_train_coarsen_mcrg_pipeline():
    spins, info = rsmi.sample_ising2d(32, rsmi.T_C, 400, seed=2)
    rule = rsmi.train((spins, info), restarts=2, epochs=10, cap=2.0)
    coarse, cinfo = rsmi.coarsen((spins, info), rule, seed=1)
    assert coarse.shape == (400, 16, 2)
    m = rsmi.mcrg((spins, info), rule, levels=2, operators=2)
    y_t = m["levels"][0]["y_t"]["value"]
    assert 0.3 < y_t < 2.0, m["levels"][0]


def test_flow_smoke(tmp_path):
    out = tmp_path / "flow"
    res = rsmi.flow(out, size=16, samples=200, levels=1, restarts=1,
                    temperatures=[2.1, 2.27, 2.45], thermometers="nn,m2",
                    ref_samples=200, threads=2)
    assert (out / "flow.json").exists()
    assert json.loads((out / "flow.json").read_text()) == res
    assert len(res["flows"]) == 3
    assert np.isfinite(res["t_c"]["value"])
