"""Sampling and the sample file format: bit-identical to the CLI, round trips with NumPy."""

import numpy as np
import pytest

import rsmi
from conftest import strip_run

TC = rsmi.T_C


def same_file(spins, info, z, meta_cli=None):
    """(spins, info) from Python equals the CLI's .npz `z` array by array."""
    np.testing.assert_array_equal(spins, z["spins"])
    for k in ("energy", "magnetization", "chain", "sweep"):
        np.testing.assert_array_equal(info[k], z[k])
    if meta_cli is not None:
        assert strip_run(info["meta"]) == strip_run(meta_cli)


def load(path):
    import json

    z = np.load(path)
    return z, json.loads(bytes(z["meta"]).decode())


@pytest.mark.parametrize(
    "size,temperature,samples,extra",
    [
        (16, TC, 300, {}),
        (12, 2.0, 200, {"algorithm": "heat-bath", "field": 0.1}),
        (32, TC, 100, {"algorithm": "wolff", "burn_in": 50, "thin": 1}),
        (128, 3.0, 40, {"layout": "strip", "burn_in": 20, "thin": 2}),
    ],
)
def test_sample_ising2d_bit_identical_to_cli(cli, tmp_path, size, temperature, samples, extra):
    out = tmp_path / "s.npz"
    args = ["sample", "ising2d", "--size", size, "--temperature", repr(temperature),
            "--samples", samples, "--seed", 7, "--out", out]
    for k, v in extra.items():
        args += ["--" + k.replace("_", "-"), v]
    summary_cli = cli.json(*args)
    spins, info = rsmi.sample_ising2d(size, temperature, samples, seed=7, **extra)
    assert spins.dtype == np.uint8 and spins.shape == (samples, size, (size + 7) // 8)
    z, meta = load(out)
    same_file(spins, info, z, meta)
    s_py = dict(info["summary"])
    assert s_py.pop("out") is None
    summary_cli.pop("out")
    # The summaries' `run` sections hold timings and thread counts.
    assert strip_run(s_py) == strip_run(summary_cli)


def test_sample_several_temperatures_one_pair_each(cli, tmp_path):
    out = tmp_path / "m.npz"
    cli.run("sample", "ising2d", "--size", 8, "--temperature", "2,2.5", "--samples", 50,
            "--out", out)
    runs = rsmi.sample_ising2d(8, [2.0, 2.5], 50)
    assert isinstance(runs, list) and len(runs) == 2
    for (spins, info), name in zip(runs, ["m_T2.npz", "m_T2.5.npz"]):
        z, meta = load(tmp_path / name)
        same_file(spins, info, z, meta)


def test_sample_ising1d_bit_identical_to_cli(cli, tmp_path):
    out = tmp_path / "r.npz"
    cli.run("sample", "ising1d", "--size", 40, "--temperature", 1.5, "--samples", 120,
            "--seed", 3, "--out", out)
    spins, info = rsmi.sample_ising1d(40, 1.5, 120, seed=3)
    assert spins.shape == (120, 5)
    z, meta = load(out)
    same_file(spins, info, z, meta)


def test_sample_dimer_bit_identical_to_cli(cli, tmp_path):
    out = tmp_path / "d.npz"
    cli.run("sample", "dimer", "--size", 8, "--samples", 60, "--seed", 5,
            "--decorate", "paired", "--out", out)
    links, info = rsmi.sample_dimer(8, 60, seed=5, decorate="paired")
    z, meta = load(out)
    np.testing.assert_array_equal(links, z["links"])
    for k in ("decorated", "winding", "chain", "sweep"):
        np.testing.assert_array_equal(info[k], z[k])
    assert strip_run(info["meta"]) == strip_run(meta)


def test_threads_do_not_change_the_samples():
    a, ia = rsmi.sample_ising2d(16, TC, 600, seed=11, threads=1)
    b, ib = rsmi.sample_ising2d(16, TC, 600, seed=11, threads=2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ia["energy"], ib["energy"])


def test_unpacked_spins_match_numpy_unpackbits():
    packed, info = rsmi.sample_ising2d(13, 2.3, 30, seed=2)
    signs, _ = rsmi.sample_ising2d(13, 2.3, 30, seed=2, unpack=True)
    assert signs.dtype == np.int8 and signs.shape == (30, 13, 13)
    ref = np.unpackbits(packed, axis=-1)[..., :13].astype(np.int8) * 2 - 1
    np.testing.assert_array_equal(signs, ref)
    np.testing.assert_array_equal(rsmi.unpack_spins(packed, 13), ref)
    np.testing.assert_array_equal(signs.sum(axis=(1, 2)), info["magnetization"])


def test_arrays_are_not_copies_of_a_numpy_array():
    spins, info = rsmi.sample_ising2d(8, 2.0, 10)
    # Moved from the Rust vector: the array's memory belongs to a Rust container.
    assert not spins.flags["OWNDATA"] and spins.base is not None
    assert spins.flags["C_CONTIGUOUS"] and spins.flags["WRITEABLE"]


def test_read_samples_equals_numpy_load(cli, tmp_path):
    out = tmp_path / "a.npz"
    cli.run("sample", "ising2d", "--size", 10, "--temperature", 2.6, "--samples", 40,
            "--out", out)
    spins, info = rsmi.read_samples(out)
    z, meta = load(out)
    same_file(spins, info, z, meta)
    assert info["meta"] == meta
    signs, _ = rsmi.read_samples(str(out), unpack=True)
    assert signs.shape == (40, 10, 10)


def test_write_read_round_trip_packed(tmp_path):
    spins, info = rsmi.sample_ising2d(20, TC, 50, seed=4)
    p = tmp_path / "rt.npz"
    rsmi.write_samples(p, spins, info)
    s2, i2 = rsmi.read_samples(p)
    np.testing.assert_array_equal(s2, spins)
    for k in ("energy", "magnetization", "chain", "sweep"):
        np.testing.assert_array_equal(i2[k], info[k])
    assert i2["meta"] == info["meta"]
    # Also what NumPy sees.
    z = np.load(p)
    np.testing.assert_array_equal(z["spins"], spins)


def test_write_unpacked_spins_infers_model_and_recomputes_observables(tmp_path):
    signs, info = rsmi.sample_ising2d(9, 2.4, 25, seed=8, unpack=True)
    p = tmp_path / "u.npz"
    rsmi.write_samples(p, signs)  # no meta: model and size from the shape
    s2, i2 = rsmi.read_samples(p, unpack=True)
    np.testing.assert_array_equal(s2, signs)
    assert i2["meta"]["model"] == "ising2d" and i2["meta"]["size"] == 9
    np.testing.assert_array_equal(i2["energy"], info["energy"])
    np.testing.assert_array_equal(i2["magnetization"], info["magnetization"])
    assert i2["chain"] is None and i2["sweep"] is None


def test_write_1d_numpy_made_spins(tmp_path):
    rng = np.random.default_rng(0)
    signs = rng.choice(np.array([-1, 1], dtype=np.int8), size=(30, 12))
    p = tmp_path / "one.npz"
    rsmi.write_samples(p, signs, {"model": "ising1d", "note": "made by NumPy"})
    s2, i2 = rsmi.read_samples(p, unpack=True)
    np.testing.assert_array_equal(s2, signs)
    assert i2["meta"]["note"] == "made by NumPy"
    e = -(signs * np.roll(signs, -1, axis=1)).sum(axis=1)
    np.testing.assert_array_equal(i2["energy"], e)


def test_dimer_round_trip(tmp_path):
    links, info = rsmi.sample_dimer(6, 12, decorate="independent")
    p = tmp_path / "d.npz"
    rsmi.write_samples(p, links, info)
    l2, i2 = rsmi.read_samples(p)
    np.testing.assert_array_equal(l2, links)
    np.testing.assert_array_equal(i2["decorated"], info["decorated"])
    np.testing.assert_array_equal(i2["winding"], info["winding"])


def test_written_file_is_read_by_the_cli(cli, tmp_path):
    spins, info = rsmi.sample_ising2d(16, 3.0, 200, seed=1)
    p = tmp_path / "w.npz"
    rsmi.write_samples(p, spins, info)
    from_cli = cli.json("couplings", "--data", p, "--operators", "nn")
    from_py = rsmi.couplings((spins, info), operators="nn")
    assert from_cli["couplings"] == from_py["couplings"]
