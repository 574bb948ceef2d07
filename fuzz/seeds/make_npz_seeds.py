#!/usr/bin/env python3
"""Regenerate the seed corpus of the `npz_reader` fuzz target (needs NumPy).

Valid sample files in the format of cli/src/io/npz.rs, written the way NumPy writes
them (`np.savez`, `np.savez_compressed`), so that the fuzzer starts past the zip and
.npy parsing instead of having to discover "PK\\x03\\x04" and "\\x93NUMPY" by itself.
Run from anywhere: python3 fuzz/seeds/make_npz_seeds.py
"""
import io
import json
import pathlib

import numpy as np

OUT = pathlib.Path(__file__).resolve().parent / "npz_reader"


def sample_file(dims, size, n, optional, seed):
    rng = np.random.default_rng(seed)
    shape = (n, size, size) if dims == 2 else (n, size)
    up = rng.integers(0, 2, size=shape, dtype=np.uint8)
    s = 2 * up.astype(np.int64) - 1
    if dims == 2:
        e = -(s * np.roll(s, 1, axis=-1) + s * np.roll(s, 1, axis=-2)).sum(axis=(1, 2))
    else:
        e = -(s * np.roll(s, 1, axis=-1)).sum(axis=1)
    arrays = {
        "spins": np.packbits(up, axis=-1),
        "energy": e.astype(np.int64),
        "magnetization": s.reshape(n, -1).sum(axis=1).astype(np.int64),
    }
    if optional:
        arrays["chain"] = np.arange(n, dtype=np.int64) % 2
        arrays["sweep"] = 10 * np.arange(n, dtype=np.int64)
    meta = {"model": f"ising{dims}d", "size": size, "temperature": 2.269, "seed": seed}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    return arrays


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cases = [
        ("2d_l5_n3_savez.npz", np.savez, (2, 5, 3, True, 1)),
        ("2d_l8_n1_savez.npz", np.savez, (2, 8, 1, False, 2)),
        ("1d_l12_n2_compressed.npz", np.savez_compressed, (1, 12, 2, True, 3)),
        ("1d_l3_n4_savez.npz", np.savez, (1, 3, 4, False, 4)),
    ]
    for name, save, args in cases:
        buf = io.BytesIO()
        save(buf, **sample_file(*args))
        (OUT / name).write_bytes(buf.getvalue())
        print(f"{name}: {len(buf.getvalue())} bytes")


if __name__ == "__main__":
    main()
