"""Python call overhead against the CLI's wall time on the README's sizes.

    python bench_overhead.py [--big]   (with the module installed; RSMI_BIN or target/release/rsmi)

Each case runs the command line and the Python call alternately, REPEATS times, and
prints the median wall times and the overhead (Python − CLI) / CLI. The CLI's time
includes starting the process and writing its file; Python's includes building the NumPy
arrays (a data argument given as arrays is first written to a temporary .npz).
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import rsmi

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("RSMI_BIN", str(ROOT / "target" / "release" / "rsmi"))
REPEATS = int(os.environ.get("REPEATS", "5"))
TC = repr(rsmi.T_C)


def wall(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def case(name, argv, call):
    cli, py = [], []
    for _ in range(REPEATS):
        cli.append(wall(lambda: subprocess.run([BIN, *map(str, argv)], check=True,
                                               stdout=subprocess.DEVNULL)))
        py.append(wall(call))
    c, p = statistics.median(cli), statistics.median(py)
    print(f"{name:58s} CLI {c:7.3f} s  Python {p:7.3f} s  overhead {100 * (p - c) / c:+6.1f} %",
          flush=True)


with tempfile.TemporaryDirectory() as d:
    d = Path(d)
    tc = d / "tc.npz"
    case("sample ising2d --size 32 --samples 2000 (T_c)",
         ["sample", "ising2d", "--size", 32, "--temperature", TC, "--samples", 2000,
          "--seed", 1, "--out", tc, "--force"],
         lambda: rsmi.sample_ising2d(32, rsmi.T_C, 2000, seed=1))
    pair = rsmi.read_samples(tc)
    case("train --data tc.npz (defaults: 10 restarts), data by path",
         ["train", "--data", tc, "--seed", 1, "--out", d / "r.json", "--force"],
         lambda: rsmi.train(tc, seed=1))
    case("train, data as the (spins, info) arrays",
         ["train", "--data", tc, "--seed", 1, "--out", d / "r.json", "--force"],
         lambda: rsmi.train(pair, seed=1))
    case("sample ising2d --size 64 --samples 15000 (tc64, T_c)",
         ["sample", "ising2d", "--size", 64, "--temperature", TC, "--samples", 15000,
          "--seed", 7, "--out", d / "tc64.npz", "--force"],
         lambda: rsmi.sample_ising2d(64, rsmi.T_C, 15000, seed=7))
    if "--big" in sys.argv:
        case("sample ising2d --size 128 --temperature 2,T_c,2.5 --samples 5000",
             ["sample", "ising2d", "--size", 128, "--temperature", f"2.0,{TC},2.5",
              "--samples", 5000, "--seed", 42, "--out", d / "i128.npz", "--force"],
             lambda: rsmi.sample_ising2d(128, [2.0, rsmi.T_C, 2.5], 5000, seed=42))
