#!/usr/bin/env bash
# Builds the Python module `rsmi` and runs its pytest suite (CI step "j. Python bindings").
#
#   bash bindings/python/run-tests.sh [pytest arguments]
#
# 1. a virtual environment in $RSMI_VENV (default target/python-venv; kept between runs),
#    made with `python3 -m venv` (Debian's python3-venv is installed with apt-get when the
#    venv module is missing and we are root);
# 2. maturin 1.16, NumPy and pytest from PyPI into it;
# 3. `pip install ./bindings/python`: maturin builds the extension in release mode with the
#    workspace's target directory, so the rsmi-cli / rsmi-core artefacts of
#    `cargo test --workspace --release` are reused (only pyo3, numpy and the module compile);
# 4. the `rsmi` binary (the tests compare the module with it) and pytest.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="${RSMI_VENV:-$CARGO_TARGET_DIR/python-venv}"
PYTHON="${PYTHON:-python3}"

if ! command -v "$PYTHON" >/dev/null 2>&1 || ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing python3 and python3-venv (apt-get)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            python3 python3-venv python3-dev >/dev/null
        PYTHON=/usr/bin/python3
    else
        echo "error: $PYTHON with the venv module is needed (apt-get install python3-venv)" >&2
        exit 1
    fi
fi

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    echo "== creating the virtual environment $VENV ($("$PYTHON" --version))"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi
# The venv's scripts (maturin) must be on PATH for pip's build step.
export PATH="$VENV/bin:$PATH"
export PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q "maturin==1.16.*" numpy pytest

echo "== building and installing the module (maturin, release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
t0=$(date +%s)
python -m pip install -q --no-build-isolation --force-reinstall --no-deps ./bindings/python
echo "== module installed in $(($(date +%s) - t0))s"

cargo build --release -q -p rsmi-cli --bin rsmi

echo "== pytest"
# No cache or bytecode files in the source tree; from the tests folder, so that `import
# rsmi` finds the installed module.
export PYTHONDONTWRITEBYTECODE=1
cd "$ROOT/bindings/python/tests"
exec python -m pytest -p no:cacheprovider -q -ra "$@" .
