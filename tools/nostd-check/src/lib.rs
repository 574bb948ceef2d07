//! no_std canary for `rsmi-core`.
//!
//! This crate is `#![no_std]`, uses no `alloc`, and defines its own `#[panic_handler]`.
//! If anything in rsmi-core's dependency graph links `std` (an `extern crate std`, a
//! dependency's default `std` feature, `serde` on rand_xoshiro, ...), std's own panic
//! handler collides with ours and the build fails with "duplicate lang item
//! `panic_impl`"; if something links `alloc`, it fails with "no global memory allocator
//! found" (we define none). Both were checked by hand (a `wide` with its `std` feature,
//! a `Vec` in a no_std staticlib). Build it with `cargo build --release` in this folder
//! (and, where the target is installed, `--target thumbv7em-none-eabihf`, which has no
//! std at all).
//!
//! The exported function drives the public API the way an embedded caller would:
//! stack buffers only, no allocation, errors as values.
#![no_std]
// The project forbids `unsafe` in core and cli. The only unsafe-flavoured item here is
// the `#[unsafe(no_mangle)]` attribute, which edition 2024 requires in order to export an
// unmangled C symbol; it is the point of a C-ABI canary and contains no unsafe code. It
// is allowed on that one item; everything else stays under `deny(unsafe_code)`.
#![deny(unsafe_code)]

use core::panic::PanicInfo;
use rsmi_core::ising::wolff::Wolff;
use rsmi_core::ising::{AcceptTable, Algorithm, Dim, Layout, Replica, Strip};
use rsmi_core::rng::{stream, stream_x4};

/// Our own panic handler: with no std there is no unwinding and nowhere to print to.
#[panic_handler]
fn panic(_info: &PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// Fold a word into a running checksum (FNV-style multiply-xor).
#[inline]
fn fold(acc: u64, x: u64) -> u64 {
    (acc ^ x)
        .wrapping_mul(0x0000_0100_0000_01b3)
        .rotate_left(17)
}

const L: usize = 8;

/// Run a few Metropolis and heat-bath sweeps of a 2D replica lattice (64 replicas of an
/// 8×8 torus, on the stack), a strip sweep, and a few Wolff steps, and return a checksum
/// of the final states. Returns 0 if any core call reports an error.
// Exporting an unmangled C symbol needs `#[unsafe(no_mangle)]` in edition 2024; this is
// the canary's C ABI surface, not unsafe code (see the crate-level comment).
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn rsmi_canary_sweep(seed: u64) -> u64 {
    run(seed).unwrap_or_default()
}

fn run(seed: u64) -> Result<u64, rsmi_core::Error> {
    let mut acc = 0xcbf2_9ce4_8422_2325u64;

    // Replica layout, u64 words: one word per site, 64 replicas.
    let layout = Replica::new(Dim::Two, L)?;
    let mut lattice = [0u64; L * L];
    let mut rng = stream(seed, 0, 0);
    for (i, w) in lattice.iter_mut().enumerate() {
        *w = seed.rotate_left(i as u32) ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    for (alg, t, h) in [
        (Algorithm::Metropolis, rsmi_core::ising::T_C_2D, 0.0),
        (Algorithm::HeatBath, 1.5, 0.25),
    ] {
        let table = AcceptTable::<u64>::uniform(4, alg, t, h)?;
        for _ in 0..4 {
            layout.sweep(&mut lattice, &table, &mut rng)?;
        }
    }
    let mut flip = 0u64;
    let table = AcceptTable::<u64>::uniform(4, Algorithm::Metropolis, 2.0, 0.0)?;
    layout.global_flip(&mut flip, &table, &mut rng)?;
    for &w in &lattice {
        acc = fold(acc, w);
    }
    acc = fold(acc, flip);

    // Measurements into a caller-owned buffer.
    let mut counts = [rsmi_core::ising::Counts::default(); 64];
    layout.measure(&lattice, flip, &mut counts)?;
    for c in &counts {
        acc = fold(acc, c.unsatisfied ^ (c.up << 32));
    }

    // Strip layout with the 4-lane word (exercises `wide` without std).
    let strip = Strip::new(Dim::One, 128)?;
    let mut ring = [wide::u64x4::ZERO; 2];
    let table4 = AcceptTable::<wide::u64x4>::uniform(2, Algorithm::HeatBath, 0.8, 0.0)?;
    let mut rng4 = stream_x4(seed, 1, 0);
    for _ in 0..3 {
        strip.sweep(&mut ring, &table4, &mut rng4)?;
    }
    for w in &ring {
        for x in w.to_array() {
            acc = fold(acc, x);
        }
    }

    // Wolff on a plain bit array.
    let wolff = Wolff::new(Dim::Two, L, 2.0, 0.0)?;
    let mut spins = [0u64; L * L / 64];
    let mut stack = [0u32; L * L];
    let mut visited = [0u64; L * L / 64];
    let mut wr = stream(seed, 2, 0);
    for _ in 0..4 {
        let c = wolff.step(&mut spins, &mut stack, &mut visited, &mut wr)?;
        acc = fold(acc, c.size as u64);
    }
    acc = fold(acc, spins[0]);
    Ok(acc)
}
