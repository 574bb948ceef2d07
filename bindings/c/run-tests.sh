#!/usr/bin/env bash
# Build rsmi-ffi and run the C and Fortran tests and examples against both the static
# (librsmi_ffi.a) and the shared (librsmi_ffi.so) library, then the C tests once under
# Valgrind. Run from anywhere: `bash bindings/c/run-tests.sh`. CI runs it in step
# "i. C and Fortran bindings" (.ci/run installs gfortran and valgrind first).
#
# Ends with the line `C bindings: N passed, M failed[, K skipped]`; exits non-zero on any
# failure. gfortran or valgrind missing: those tests are skipped (reported), unless
# RSMI_REQUIRE_ALL=1 (CI), where a missing tool is a failure.
#
# Knobs: CC (default cc), FC (default gfortran), RSMI_BENCH_SECONDS (default 2; 0 skips
# the timing of the C-driven sampler).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
HERE=$ROOT/bindings/c
CC=${CC:-cc}
FC=${FC:-gfortran}
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
[[ "$TARGET" = /* ]] || TARGET="$ROOT/$TARGET"
LIB="$TARGET/release"
BUILD="$TARGET/c-bindings"
mkdir -p "$BUILD"

# From `cargo rustc --release -p rsmi-ffi --lib --crate-type staticlib -- --print
# native-static-libs` (Linux, glibc): what the Rust standard library needs at link time.
NATIVE_LIBS=(-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)
CFLAGS=(-O2 -std=c11 -Wall -Wextra -Werror -I "$HERE/include" -I "$HERE/tests")

passed=0
failed=0
skipped=0
failures=()

# run NAME COMMAND...: one test; its output is shown, its status counted.
run() {
    local name=$1
    shift
    echo "--- ${name}"
    if "$@"; then
        passed=$((passed + 1))
        echo "--- ${name}: ok"
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "--- ${name}: FAILED"
    fi
}

skip() {
    if [[ "${RSMI_REQUIRE_ALL:-0}" == 1 ]]; then
        failed=$((failed + 1))
        failures+=("$1 (missing tool)")
        echo "--- $1: FAILED ($2, and RSMI_REQUIRE_ALL=1)"
    else
        skipped=$((skipped + 1))
        echo "--- $1: skipped ($2)"
    fi
}

finish() {
    echo
    if ((failed > 0)); then
        echo "failed: ${failures[*]}"
    fi
    local line="C bindings: ${passed} passed, ${failed} failed"
    ((skipped > 0)) && line+=", ${skipped} skipped"
    echo "$line"
    ((failed == 0))
}

echo "== building rsmi-ffi (static and shared library, core_reference example)"
if ! cargo build --release -p rsmi-ffi --lib --example core_reference; then
    failed=$((failed + 1))
    failures+=("cargo build")
    finish
    exit 1
fi
ls -l "$LIB/librsmi_ffi.a" "$LIB/librsmi_ffi.so"

# build NAME SOURCE: NAME-static and NAME-shared in $BUILD.
build() {
    local name=$1 src=$2
    "$CC" "${CFLAGS[@]}" "$src" "$LIB/librsmi_ffi.a" "${NATIVE_LIBS[@]}" -o "$BUILD/$name-static" &&
        "$CC" "${CFLAGS[@]}" "$src" -L "$LIB" -lrsmi_ffi -Wl,-rpath,"$LIB" -lm -o "$BUILD/$name-shared"
}

echo "== compiling the C tests and examples"
for t in api ising_exact bit_identical; do
    run "compile $t.c" build "$t" "$HERE/tests/$t.c"
done
for t in sample_coarsen bench; do
    run "compile examples/$t.c" build "$t" "$HERE/examples/$t.c"
done

echo "== running them against both libraries"
"$LIB/examples/core_reference" "$BUILD/reference.bin" || {
    failed=$((failed + 1))
    failures+=("core_reference")
}
for kind in static shared; do
    run "api ($kind)" "$BUILD/api-$kind"
    run "ising_exact: 4x4 torus vs exact ($kind)" "$BUILD/ising_exact-$kind"
    run "bit_identical: C ABI == rsmi-core ($kind)" bash -c \
        "'$BUILD/bit_identical-$kind' '$BUILD/c-$kind.bin' && cmp '$BUILD/c-$kind.bin' '$BUILD/reference.bin' && echo \"identical: \$(wc -c < '$BUILD/reference.bin') bytes\""
    run "examples/sample_coarsen.c ($kind)" "$BUILD/sample_coarsen-$kind"
done

echo "== Fortran (ISO_C_BINDING)"
if command -v "$FC" >/dev/null 2>&1; then
    for kind in static shared; do
        if [[ $kind == static ]]; then
            link=("$LIB/librsmi_ffi.a" "${NATIVE_LIBS[@]}")
        else
            link=(-L "$LIB" -lrsmi_ffi -Wl,-rpath,"$LIB")
        fi
        run "examples/sample_coarsen.f90 ($kind)" bash -c \
            "cd '$BUILD' && '$FC' -O2 -std=f2018 -Wall -Werror '$HERE/examples/sample_coarsen.f90' ${link[*]} -o sample_coarsen_f-$kind && ./sample_coarsen_f-$kind"
    done
else
    skip "Fortran example" "$FC not found"
fi

echo "== Valgrind (shared library): no invalid accesses, no leaks"
if command -v valgrind >/dev/null 2>&1; then
    vg=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible)
    run "valgrind api" "${vg[@]}" "$BUILD/api-shared"
    run "valgrind bit_identical" "${vg[@]}" "$BUILD/bit_identical-shared" "$BUILD/c-valgrind.bin"
    run "valgrind ising_exact" "${vg[@]}" "$BUILD/ising_exact-shared"
else
    skip "valgrind" "valgrind not found"
fi

if [[ "${RSMI_BENCH_SECONDS:-2}" != 0 ]]; then
    echo "== timing (not a test): C-driven replica_u64x4, 64x64 at T_c"
    "$BUILD/bench-static" 64 "${RSMI_BENCH_SECONDS:-2}" || true
fi

finish
