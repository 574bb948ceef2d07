"""Errors: ValueError / OSError carrying the sentence the CLI prints."""

import pytest

import rsmi


def test_bad_size_is_the_cli_sentence(cli, tmp_path):
    sentence = cli.error("sample", "ising2d", "--size", 1, "--temperature", 2,
                         "--samples", 5, "--out", tmp_path / "x.npz")
    with pytest.raises(ValueError) as e:
        rsmi.sample_ising2d(1, 2.0, 5)
    assert str(e.value) == sentence == "--size must be at least 2 (got 1)"


@pytest.mark.parametrize(
    "kwargs,flags",
    [
        ({"temperature": -1.0}, ["--temperature", "-1"]),
        ({"samples": 0}, ["--samples", "0"]),
        ({"thin": 0}, ["--thin", "0"]),
        ({"layout": "strip"}, ["--layout", "strip"]),
    ],
)
def test_bad_sampling_arguments(cli, tmp_path, kwargs, flags):
    base = {"size": 12, "temperature": 2.0, "samples": 5}
    args = ["sample", "ising2d", "--out", tmp_path / "x.npz"]
    for k, v in base.items():
        if k not in kwargs:
            args += ["--" + k, v]
    sentence = cli.error(*args, *flags)
    call = {**base, **kwargs}
    with pytest.raises(ValueError) as e:
        rsmi.sample_ising2d(call.pop("size"), call.pop("temperature"), call.pop("samples"),
                            **call)
    assert str(e.value) == sentence


def test_unknown_choice_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"invalid value 'nope' for --algorithm .*heat-bath"):
        rsmi.sample_ising2d(8, 2.0, 5, algorithm="nope")


def test_misspelt_rule(cli, tmp_path):
    p = tmp_path / "s.npz"
    cli.run("sample", "ising2d", "--size", 8, "--temperature", 2, "--samples", 20, "--out", p)
    sentence = cli.error("mi", "--data", p, "--rule", "majorty")
    with pytest.raises(ValueError) as e:
        rsmi.mi(p, "majorty")
    assert str(e.value) == sentence
    sentence = cli.error("coarsen", "--data", p, "--rule", "majority", "--block", 3,
                         "--seed", 1, "--out", tmp_path / "c.npz")
    with pytest.raises(ValueError) as e:
        rsmi.coarsen(p, "majority", 1, block=3)
    assert str(e.value) == sentence


def test_missing_file_is_file_not_found(cli, tmp_path):
    missing = tmp_path / "missing.npz"
    sentence = cli.error("couplings", "--data", missing)
    with pytest.raises(FileNotFoundError) as e:
        rsmi.couplings(missing)
    assert str(e.value) == sentence
    with pytest.raises(FileNotFoundError):
        rsmi.read_samples(missing)
    with pytest.raises(OSError, match="could not read rule file"):
        rsmi.Rule.load(tmp_path / "missing.json")


def test_existing_output_and_missing_directory(cli, tmp_path):
    spins, info = rsmi.sample_ising2d(8, 2.0, 10)
    p = tmp_path / "exists.npz"
    rsmi.write_samples(p, spins, info)
    with pytest.raises(FileExistsError, match="already exists"):
        rsmi.write_samples(p, spins, info)
    rsmi.write_samples(p, spins, info, force=True)
    sentence = cli.error("coarsen", "--data", p, "--rule", "majority", "--seed", 1,
                         "--out", p)
    with pytest.raises(FileExistsError) as e:
        rsmi.coarsen(p, "majority", 1, out=p)
    assert str(e.value) == sentence
    nowhere = tmp_path / "no" / "dir" / "rule.json"
    sentence = cli.error("train", "--data", p, "--out", nowhere)
    with pytest.raises(OSError) as e:
        rsmi.train(p, out=nowhere)
    assert str(e.value) == sentence


def test_bad_arrays():
    with pytest.raises(TypeError, match="data must be a path"):
        rsmi.couplings(42)
    import numpy as np

    with pytest.raises(ValueError, match="int8 spins must all be"):
        rsmi.write_samples("/tmp/never.npz", np.zeros((2, 4, 4), dtype=np.int8))
    with pytest.raises(ValueError, match="uint8"):
        rsmi.write_samples("/tmp/never.npz", np.zeros((2, 4, 4), dtype=np.float64))
    with pytest.raises(ValueError, match="shape"):
        rsmi.write_samples("/tmp/never.npz", np.zeros((2, 4, 3), dtype=np.uint8),
                           {"model": "ising2d", "size": 4})
