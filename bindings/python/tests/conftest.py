"""Shared fixtures: the `rsmi` binary of the workspace, run through subprocess."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _binary():
    explicit = os.environ.get("RSMI_BIN")
    if explicit:
        return Path(explicit)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "release" / "rsmi"


@pytest.fixture(scope="session")
def rsmi_bin():
    b = _binary()
    if not b.exists():
        subprocess.run(
            ["cargo", "build", "--release", "-p", "rsmi-cli", "--bin", "rsmi"],
            cwd=ROOT,
            check=True,
        )
    assert b.exists(), f"no rsmi binary at {b} (set RSMI_BIN)"
    return b


class Cli:
    """Runs the command line; `json` returns the last stdout line parsed."""

    def __init__(self, binary):
        self.binary = binary

    def run(self, *args, check=True):
        p = subprocess.run(
            [str(self.binary), *map(str, args)],
            capture_output=True,
            text=True,
        )
        if check and p.returncode != 0:
            raise AssertionError(f"rsmi {' '.join(map(str, args))} failed:\n{p.stderr}")
        return p

    def json(self, *args):
        out = self.run(*args, "--json").stdout.strip().splitlines()
        return json.loads(out[-1])

    def error(self, *args):
        """The sentence the CLI prints after `error: ` (the command must fail)."""
        p = self.run(*args, check=False)
        assert p.returncode != 0, f"rsmi {args} succeeded"
        lines = [l for l in p.stderr.splitlines() if l.startswith("error: ")]
        assert lines, p.stderr
        return lines[-1][len("error: "):]


@pytest.fixture(scope="session")
def cli(rsmi_bin):
    return Cli(rsmi_bin)


def strip_run(meta):
    """A meta or --json summary without its `run` section (threads, wall time): the
    only part that differs between two runs (sample files themselves no longer have one)."""
    m = dict(meta)
    m.pop("run", None)
    return m
