//! The exported C functions. Each one checks its pointers (NULL, alignment, length),
//! turns them into references or slices, and runs the safe code of [`crate::handles`]
//! inside [`guard`], which catches panics and records the error sentence.
//!
//! Safety contract shared by every function (stated once here and in the header):
//! a non-NULL pointer argument must point to a live object of its type, and a
//! (pointer, length) pair to at least `length` valid elements, not aliased by another
//! argument the call writes to; handles must come from the matching `rsmi_*_new` and not
//! have been freed.
#![allow(unsafe_code)]

use crate::handles::{self, RsmiDimer, RsmiIsing, RsmiRule, RsmiStream, RsmiWolff};
use crate::status::{FfiError, FfiResult, guard, last_error_ptr};
use std::ffi::{c_char, c_int};

/// Dimension code: a ring of L sites.
pub const RSMI_DIM_1: u32 = 1;
/// Dimension code: an L×L square torus.
pub const RSMI_DIM_2: u32 = 2;
/// Layout code: 256 replicas, one `u64x4` word per site, any L ≥ 2.
pub const RSMI_LAYOUT_REPLICA: u32 = 0;
/// Layout code: 4 lattices, one per 64-bit lane; L a multiple of 64, L ≥ 128.
pub const RSMI_LAYOUT_STRIP: u32 = 1;
/// Local update: Metropolis (ΔE ≤ 0 always accepted).
pub const RSMI_METROPOLIS: u32 = 0;
/// Local update: Metropolis with ΔE = 0 accepted with probability ½ (use on rings and
/// below L = 16, where plain sequential Metropolis has deterministic cycles).
pub const RSMI_METROPOLIS_HALF: u32 = 1;
/// Local update: heat bath (Glauber).
pub const RSMI_HEAT_BATH: u32 = 2;
/// Worm exits: heat bath, P(y | x) = W_y / Σ W.
pub const RSMI_EXITS_HEAT_BATH: u32 = 0;
/// Worm exits: the symmetric solution of least bounce.
pub const RSMI_EXITS_MINIMAL_BOUNCE: u32 = 1;
/// Coarse spin drawn from P(h | v).
pub const RSMI_DRAW_SAMPLE: u32 = 0;
/// Coarse spin = sign of the activation (ties broken by a fair coin).
pub const RSMI_DRAW_ARGMAX: u32 = 1;

// ---------------------------------------------------------------------------------------
// Pointer checks

/// `p` as a shared reference, or an error when NULL.
///
/// # Safety
/// A non-NULL `p` points to a live `T` not mutated during the call.
unsafe fn get<'a, T>(p: *const T, what: &str) -> FfiResult<&'a T> {
    if !p.is_aligned() {
        return Err(FfiError::misaligned(what));
    }
    // SAFETY: `p` is NULL (→ None) or, by the caller's contract, points to a live `T`.
    unsafe { p.as_ref() }.ok_or_else(|| FfiError::null(what))
}

/// `p` as a unique reference, or an error when NULL.
///
/// # Safety
/// A non-NULL `p` points to a live `T` that nothing else accesses during the call.
unsafe fn get_mut<'a, T>(p: *mut T, what: &str) -> FfiResult<&'a mut T> {
    if !p.is_aligned() {
        return Err(FfiError::misaligned(what));
    }
    // SAFETY: `p` is NULL (→ None) or, by the caller's contract, points to a live `T`
    // that no other reference accesses during the call.
    unsafe { p.as_mut() }.ok_or_else(|| FfiError::null(what))
}

fn check_buffer<T>(p: *const T, len: usize, what: &str) -> FfiResult {
    if p.is_null() {
        return Err(FfiError::null(what));
    }
    if !p.is_aligned() {
        return Err(FfiError::misaligned(what));
    }
    if len
        .checked_mul(size_of::<T>())
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(FfiError::invalid(format!(
            "buffer `{what}` has an impossible length {len}"
        )));
    }
    Ok(())
}

/// (`p`, `len`) as a slice.
///
/// # Safety
/// A non-NULL `p` points to `len` initialised `T`s not mutated during the call.
unsafe fn slice<'a, T>(p: *const T, len: usize, what: &str) -> FfiResult<&'a [T]> {
    check_buffer(p, len, what)?;
    // SAFETY: `p` is non-NULL, aligned, `len · size_of::<T>()` ≤ isize::MAX (checked
    // above) and, by the caller's contract, points to `len` valid `T`s.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// (`p`, `len`) as a mutable slice.
///
/// # Safety
/// A non-NULL `p` points to `len` `T`s (any bit pattern valid for `T`) that nothing else
/// accesses during the call.
unsafe fn slice_mut<'a, T>(p: *mut T, len: usize, what: &str) -> FfiResult<&'a mut [T]> {
    check_buffer(p, len, what)?;
    // SAFETY: as in `slice`, and the caller guarantees exclusive access.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len) })
}

/// Errors when two buffers (pointer, length in elements) overlap; checked before any
/// slice is made, since one of them is written.
fn disjoint<A, B>(a: (*const A, usize), b: (*const B, usize), what: &str) -> FfiResult {
    let a0 = a.0 as usize;
    let a1 = a0.saturating_add(a.1.saturating_mul(size_of::<A>()));
    let b0 = b.0 as usize;
    let b1 = b0.saturating_add(b.1.saturating_mul(size_of::<B>()));
    if a0 < b1 && b0 < a1 {
        return Err(FfiError::invalid(format!("buffers {what} overlap")));
    }
    Ok(())
}

/// Store a new handle in `*out` (after writing NULL there first, so that `*out` is NULL
/// on every error).
///
/// # Safety
/// `out` is NULL or points to a writable `*mut T`.
unsafe fn create<T>(out: *mut *mut T, make: impl FnOnce() -> FfiResult<T>) -> FfiResult {
    // SAFETY: by the caller's contract `out` is NULL or points to a writable pointer.
    let out = unsafe { get_mut(out, "out") }?;
    *out = std::ptr::null_mut();
    *out = Box::into_raw(Box::new(make()?));
    Ok(())
}

/// Drop a handle made by `create`.
///
/// # Safety
/// `p` is NULL or came from `create::<T>` and has not been freed.
unsafe fn destroy<T>(p: *mut T) -> FfiResult {
    if !p.is_null() {
        // SAFETY: `p` came from `Box::into_raw` in `create` and is freed only once.
        drop(unsafe { Box::from_raw(p) });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Errors and version

/// The sentence describing the last failed call on this thread ("" if none has failed).
/// The pointer stays valid until the next failing call on the same thread; copy the
/// string to keep it.
#[unsafe(no_mangle)]
pub extern "C" fn rsmi_last_error_message() -> *const c_char {
    last_error_ptr()
}

/// The library version (a static NUL-terminated string, e.g. "0.1.0").
#[unsafe(no_mangle)]
pub extern "C" fn rsmi_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

// ---------------------------------------------------------------------------------------
// Random streams

/// Create the random stream `stream(seed, job, lane)` of the core (xoshiro256++ seeded
/// from `seed`, jumped by job·2^192 and lane·2^128 steps): the stream every rsmi sampler
/// draws from, e.g. to drive `rsmi_rule_apply`. Free it with `rsmi_stream_free`.
///
/// # Safety
/// `out` is NULL or points to a writable `RsmiStream *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_stream_new(
    seed: u64,
    job: u64,
    lane: u64,
    out: *mut *mut RsmiStream,
) -> c_int {
    // SAFETY: `out` is NULL or writable (caller's contract).
    guard(|| unsafe { create(out, || Ok(RsmiStream::new(seed, job, lane))) })
}

/// Write the next `len` 64-bit words of the stream into `out`.
///
/// # Safety
/// `stream` is a live handle or NULL; `out` holds `len` writable words or is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_stream_next(
    stream: *mut RsmiStream,
    out: *mut u64,
    len: usize,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract (live handle, `len` writable words).
        let (s, out) = unsafe { (get_mut(stream, "stream")?, slice_mut(out, len, "out")?) };
        s.fill(out);
        Ok(())
    })
}

/// Free a stream (NULL is ignored).
///
/// # Safety
/// `stream` is NULL or a live handle from `rsmi_stream_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_stream_free(stream: *mut RsmiStream) -> c_int {
    // SAFETY: caller's contract.
    guard(|| unsafe { destroy(stream) })
}

// ---------------------------------------------------------------------------------------
// Multi-spin Ising samplers

/// Create a multi-spin Ising sampler: `dim` = `RSMI_DIM_1` (ring of `size` sites) or
/// `RSMI_DIM_2` (`size`×`size` torus); `layout` = `RSMI_LAYOUT_REPLICA` (256 independent
/// chains, any size ≥ 2) or `RSMI_LAYOUT_STRIP` (4 chains, size a multiple of 64,
/// ≥ 128); `algorithm` = `RSMI_METROPOLIS`, `RSMI_METROPOLIS_HALF` or `RSMI_HEAT_BATH`;
/// H = −Σ s_i s_j − `field` Σ s_i at `temperature`. The random words come from
/// `stream(seed, job, lane + i)`, i = 0..4 (one per 64-bit lane); the start is random,
/// drawn from the same streams. `*out` receives the handle (NULL on error).
///
/// # Safety
/// `out` is NULL or points to a writable `RsmiIsing *`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn rsmi_ising_new(
    dim: u32,
    size: usize,
    layout: u32,
    algorithm: u32,
    temperature: f64,
    field: f64,
    seed: u64,
    job: u64,
    lane: u64,
    out: *mut *mut RsmiIsing,
) -> c_int {
    guard(|| {
        // SAFETY: `out` is NULL or writable (caller's contract).
        unsafe {
            create(out, || {
                RsmiIsing::new(
                    handles::dim_from(dim)?,
                    size,
                    layout,
                    handles::algorithm_from(algorithm)?,
                    temperature,
                    field,
                    seed,
                    job,
                    lane,
                )
            })
        }
    })
}

/// Sizes of a sampler: independent chains (256 replica, 4 strip), sites per chain, and
/// bytes of one chain in packed bits (rows × ⌈L/8⌉).
///
/// # Safety
/// `ising` is a live handle or NULL; each output points to a writable `size_t` or is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_ising_shape(
    ising: *const RsmiIsing,
    chains: *mut usize,
    sites: *mut usize,
    packed_len: *mut usize,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract (live handle, writable outputs).
        let (s, c, n, p) = unsafe {
            (
                get(ising, "ising")?,
                get_mut(chains, "chains")?,
                get_mut(sites, "sites")?,
                get_mut(packed_len, "packed_len")?,
            )
        };
        (*c, *n, *p) = (s.chains(), s.sites(), s.packed_len());
        Ok(())
    })
}

/// Set the temperature: `len` = 1 (all chains) or one per chain (`len` = chains; chain c
/// runs at `temperatures[c]`), keeping algorithm and field.
///
/// # Safety
/// `ising` is a live handle or NULL; `temperatures` holds `len` doubles or is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_ising_set_temperatures(
    ising: *mut RsmiIsing,
    temperatures: *const f64,
    len: usize,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let (s, t) = unsafe {
            (
                get_mut(ising, "ising")?,
                slice(temperatures, len, "temperatures")?,
            )
        };
        if t.is_empty() {
            return Err(FfiError::invalid(
                "temperatures: give one temperature, or one per chain",
            ));
        }
        s.set_temperatures(t)
    })
}

/// `sweeps` sequential sweeps of every chain (no global flips: see
/// `rsmi_ising_global_flip`).
///
/// # Safety
/// `ising` is a live handle or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_ising_sweep(ising: *mut RsmiIsing, sweeps: u64) -> c_int {
    // SAFETY: caller's contract.
    guard(|| unsafe { get_mut(ising, "ising") }?.sweep(sweeps))
}

/// Flip each chain as a whole with probability ½ (one random word; an error unless the
/// field is 0). Free at h = 0: the lattice is not touched.
///
/// # Safety
/// `ising` is a live handle or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_ising_global_flip(ising: *mut RsmiIsing) -> c_int {
    // SAFETY: caller's contract.
    guard(|| unsafe { get_mut(ising, "ising") }?.global_flip())
}

/// Per chain (`len` = chains): the bond energy −Σ_⟨ij⟩ s_i s_j and the magnetisation
/// M = Σ s_i (integers; the total energy is bond_energy − field·M).
///
/// # Safety
/// `ising` is a live handle or NULL; both outputs hold `len` writable `int64_t` (not
/// overlapping) or are NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_ising_measure(
    ising: *const RsmiIsing,
    bond_energy: *mut i64,
    magnetization: *mut i64,
    len: usize,
) -> c_int {
    guard(|| {
        disjoint(
            (bond_energy, len),
            (magnetization, len),
            "`bond_energy` and `magnetization`",
        )?;
        // SAFETY: caller's contract; the two outputs do not overlap (checked above).
        let (s, e, m) = unsafe {
            (
                get(ising, "ising")?,
                slice_mut(bond_energy, len, "bond_energy")?,
                slice_mut(magnetization, len, "magnetization")?,
            )
        };
        s.measure(e, m)
    })
}

/// Write chain `chain` into `out` (`len` = packed_len bytes of `rsmi_ising_shape`) in the
/// NumPy packbits layout: rows of ⌈L/8⌉ bytes, MSB of byte 0 = x = 0, 1 = up, pad bits 0.
///
/// # Safety
/// `ising` is a live handle or NULL; `out` holds `len` writable bytes or is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_ising_export(
    ising: *const RsmiIsing,
    chain: usize,
    out: *mut u8,
    len: usize,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let (s, o) = unsafe { (get(ising, "ising")?, slice_mut(out, len, "out")?) };
        s.export(chain, o)
    })
}

/// Write every chain, chain after chain (`len` = chains × packed_len), as
/// `rsmi_ising_export`.
///
/// # Safety
/// `ising` is a live handle or NULL; `out` holds `len` writable bytes or is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_ising_export_all(
    ising: *const RsmiIsing,
    out: *mut u8,
    len: usize,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let (s, o) = unsafe { (get(ising, "ising")?, slice_mut(out, len, "out")?) };
        s.export_all(o)
    })
}

/// Load chain `chain` from packed bits (`len` = packed_len; non-zero pad bits are an
/// error). The other chains are unchanged.
///
/// # Safety
/// `ising` is a live handle or NULL; `packed` holds `len` bytes or is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_ising_import(
    ising: *mut RsmiIsing,
    chain: usize,
    packed: *const u8,
    len: usize,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let (s, p) = unsafe { (get_mut(ising, "ising")?, slice(packed, len, "packed")?) };
        s.import(chain, p)
    })
}

/// Set every spin of every chain up (`up` ≠ 0) or down (`up` = 0): an ordered start.
///
/// # Safety
/// `ising` is a live handle or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_ising_fill(ising: *mut RsmiIsing, up: c_int) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        unsafe { get_mut(ising, "ising") }?.fill(up != 0);
        Ok(())
    })
}

/// Free a sampler (NULL is ignored).
///
/// # Safety
/// `ising` is NULL or a live handle from `rsmi_ising_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_ising_free(ising: *mut RsmiIsing) -> c_int {
    // SAFETY: caller's contract.
    guard(|| unsafe { destroy(ising) })
}

// ---------------------------------------------------------------------------------------
// Wolff

/// Create a Wolff cluster sampler for one lattice (`dim`, `size`, `temperature`,
/// `field` as in `rsmi_ising_new`), random start and updates from
/// `stream(seed, job, lane)`.
///
/// # Safety
/// `out` is NULL or points to a writable `RsmiWolff *`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn rsmi_wolff_new(
    dim: u32,
    size: usize,
    temperature: f64,
    field: f64,
    seed: u64,
    job: u64,
    lane: u64,
    out: *mut *mut RsmiWolff,
) -> c_int {
    guard(|| {
        // SAFETY: `out` is NULL or writable (caller's contract).
        unsafe {
            create(out, || {
                RsmiWolff::new(
                    handles::dim_from(dim)?,
                    size,
                    temperature,
                    field,
                    seed,
                    job,
                    lane,
                )
            })
        }
    })
}

/// Sites of the lattice and bytes of its packed-bits export.
///
/// # Safety
/// `wolff` is a live handle or NULL; outputs writable or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_wolff_shape(
    wolff: *const RsmiWolff,
    sites: *mut usize,
    packed_len: *mut usize,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let (w, n, p) = unsafe {
            (
                get(wolff, "wolff")?,
                get_mut(sites, "sites")?,
                get_mut(packed_len, "packed_len")?,
            )
        };
        (*n, *p) = (w.sites(), w.packed_len());
        Ok(())
    })
}

/// `count` single-cluster updates; `*cluster_sites` receives the sum of their sizes.
/// Measure after a fixed count, not after "clusters until N sites are covered" (biased).
///
/// # Safety
/// `wolff` is a live handle or NULL; `cluster_sites` writable or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_wolff_update(
    wolff: *mut RsmiWolff,
    count: u64,
    cluster_sites: *mut u64,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let (w, out) = unsafe {
            (
                get_mut(wolff, "wolff")?,
                get_mut(cluster_sites, "cluster_sites")?,
            )
        };
        *out = w.update(count)?;
        Ok(())
    })
}

/// Cluster updates until their sizes add up to N sites; `*clusters` receives how many.
/// For warm-up and for calibrating a fixed count for `rsmi_wolff_update`; do not
/// measure right after it.
///
/// # Safety
/// `wolff` is a live handle or NULL; `clusters` writable or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_wolff_sweep(wolff: *mut RsmiWolff, clusters: *mut u64) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let (w, out) = unsafe { (get_mut(wolff, "wolff")?, get_mut(clusters, "clusters")?) };
        *out = w.sweep()?;
        Ok(())
    })
}

/// Bond energy −Σ s_i s_j and magnetisation Σ s_i of the lattice.
///
/// # Safety
/// `wolff` is a live handle or NULL; outputs writable or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_wolff_measure(
    wolff: *const RsmiWolff,
    bond_energy: *mut i64,
    magnetization: *mut i64,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let (w, e, m) = unsafe {
            (
                get(wolff, "wolff")?,
                get_mut(bond_energy, "bond_energy")?,
                get_mut(magnetization, "magnetization")?,
            )
        };
        (*e, *m) = w.measure()?;
        Ok(())
    })
}

/// The configuration in packed bits (`len` = packed_len of `rsmi_wolff_shape`).
///
/// # Safety
/// `wolff` is a live handle or NULL; `out` holds `len` writable bytes or is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_wolff_export(
    wolff: *const RsmiWolff,
    out: *mut u8,
    len: usize,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let (w, o) = unsafe { (get(wolff, "wolff")?, slice_mut(out, len, "out")?) };
        w.export(o)
    })
}

/// Load the configuration from packed bits (non-zero pad bits are an error).
///
/// # Safety
/// `wolff` is a live handle or NULL; `packed` holds `len` bytes or is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_wolff_import(
    wolff: *mut RsmiWolff,
    packed: *const u8,
    len: usize,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let (w, p) = unsafe { (get_mut(wolff, "wolff")?, slice(packed, len, "packed")?) };
        w.import(p)
    })
}

/// Free a Wolff sampler (NULL is ignored).
///
/// # Safety
/// `wolff` is NULL or a live handle from `rsmi_wolff_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_wolff_free(wolff: *mut RsmiWolff) -> c_int {
    // SAFETY: caller's contract.
    guard(|| unsafe { destroy(wolff) })
}

// ---------------------------------------------------------------------------------------
// Dimers

/// Create a directed-loop (worm) sampler of close-packed dimers on the `size`×`size`
/// torus (size even) with E = `interaction`·N_∥ at `temperature` (ignored when
/// interaction = 0); `exits` = `RSMI_EXITS_HEAT_BATH` or `RSMI_EXITS_MINIMAL_BOUNCE`.
/// Starts columnar; random numbers from `stream(seed, job, lane)`.
///
/// # Safety
/// `out` is NULL or points to a writable `RsmiDimer *`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn rsmi_dimer_new(
    size: usize,
    interaction: f64,
    temperature: f64,
    exits: u32,
    seed: u64,
    job: u64,
    lane: u64,
    out: *mut *mut RsmiDimer,
) -> c_int {
    guard(|| {
        // SAFETY: `out` is NULL or writable (caller's contract).
        unsafe {
            create(out, || {
                RsmiDimer::new(size, interaction, temperature, exits, seed, job, lane)
            })
        }
    })
}

/// Bytes of the links export: 2·L².
///
/// # Safety
/// `dimer` is a live handle or NULL; `links_len` writable or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_dimer_links_len(
    dimer: *const RsmiDimer,
    links_len: *mut usize,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let (d, n) = unsafe { (get(dimer, "dimer")?, get_mut(links_len, "links_len")?) };
        *n = d.links_len();
        Ok(())
    })
}

/// Run `worms` worms; `*steps` receives their total number of steps.
///
/// # Safety
/// `dimer` is a live handle or NULL; `steps` writable or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_dimer_worms(
    dimer: *mut RsmiDimer,
    worms: u64,
    steps: *mut u64,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let (d, s) = unsafe { (get_mut(dimer, "dimer")?, get_mut(steps, "steps")?) };
        *s = d.worms(worms)?;
        Ok(())
    })
}

/// Run `worms` ≥ 1 worms (warm-up) and fix the number of worms per loop sweep,
/// max(1, round(L²·worms / steps)), used by `rsmi_dimer_sweep`; `*per_sweep` receives it.
///
/// # Safety
/// `dimer` is a live handle or NULL; `per_sweep` writable or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_dimer_calibrate(
    dimer: *mut RsmiDimer,
    worms: u64,
    per_sweep: *mut u64,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let (d, p) = unsafe { (get_mut(dimer, "dimer")?, get_mut(per_sweep, "per_sweep")?) };
        *p = d.calibrate(worms)?;
        Ok(())
    })
}

/// `sweeps` loop sweeps (each the calibrated number of worms; an error before
/// `rsmi_dimer_calibrate`); `*steps` receives the total number of steps.
///
/// # Safety
/// `dimer` is a live handle or NULL; `steps` writable or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_dimer_sweep(
    dimer: *mut RsmiDimer,
    sweeps: u64,
    steps: *mut u64,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let (d, s) = unsafe { (get_mut(dimer, "dimer")?, get_mut(steps, "steps")?) };
        *s = d.sweep(sweeps)?;
        Ok(())
    })
}

/// The link planes as bytes 0/1 (`len` = 2·L²): byte y·L + x is h(x, y) (dimer on
/// (x,y)–(x+1,y)), byte L² + y·L + x is v(x, y) (dimer on (x,y)–(x,y+1)), the `links`
/// layout of the dimer sample files.
///
/// # Safety
/// `dimer` is a live handle or NULL; `out` holds `len` writable bytes or is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_dimer_export_links(
    dimer: *const RsmiDimer,
    out: *mut u8,
    len: usize,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let (d, o) = unsafe { (get(dimer, "dimer")?, slice_mut(out, len, "out")?) };
        d.export_links(o)
    })
}

/// Load the link planes from `links` (layout of `rsmi_dimer_export_links`); anything
/// but a close packing of 0/1 bytes is an error and leaves the sampler unchanged.
///
/// # Safety
/// `dimer` is a live handle or NULL; `links` holds `len` bytes or is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_dimer_import_links(
    dimer: *mut RsmiDimer,
    links: *const u8,
    len: usize,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let (d, l) = unsafe { (get_mut(dimer, "dimer")?, slice(links, len, "links")?) };
        d.import_links(l)
    })
}

/// Winding numbers (W_x, W_y) of the configuration.
///
/// # Safety
/// `dimer` is a live handle or NULL; outputs writable or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_dimer_winding(
    dimer: *const RsmiDimer,
    wx: *mut i64,
    wy: *mut i64,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let (d, x, y) = unsafe { (get(dimer, "dimer")?, get_mut(wx, "wx")?, get_mut(wy, "wy")?) };
        (*x, *y) = d.winding()?;
        Ok(())
    })
}

/// Free a dimer sampler (NULL is ignored).
///
/// # Safety
/// `dimer` is NULL or a live handle from `rsmi_dimer_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_dimer_free(dimer: *mut RsmiDimer) -> c_int {
    // SAFETY: caller's contract.
    guard(|| unsafe { destroy(dimer) })
}

// ---------------------------------------------------------------------------------------
// Coarse-graining

/// Create a one-hidden-unit coarse-graining rule: `dim` = `RSMI_DIM_2` with b×b blocks
/// (`block` = b, b² ≤ 16) or `RSMI_DIM_1` with blocks of b ≤ 16 sites; `weights` (`len`
/// = b² or b, row-major within the block) and `bias` give the activation
/// a(v) = bias + Σ_k λ_k v_k and P(h = +1 | v) = 1 / (1 + e^{−2a}).
///
/// # Safety
/// `weights` holds `len` doubles or is NULL; `out` NULL or a writable `RsmiRule *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_rule_new(
    dim: u32,
    block: usize,
    weights: *const f64,
    len: usize,
    bias: f64,
    out: *mut *mut RsmiRule,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let w = unsafe { slice(weights, len, "weights") }?;
        // SAFETY: `out` is NULL or writable (caller's contract).
        unsafe {
            create(out, || {
                RsmiRule::new(handles::dim_from(dim)?, block, w, bias)
            })
        }
    })
}

/// Bytes of one coarse configuration (packed bits) for fine side (ring length) `side`;
/// an error when the block does not divide it or the coarse side would be < 2.
///
/// # Safety
/// `rule` is a live handle or NULL; `coarse_len` writable or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_rule_coarse_len(
    rule: *const RsmiRule,
    side: usize,
    coarse_len: *mut usize,
) -> c_int {
    guard(|| {
        // SAFETY: caller's contract.
        let (r, n) = unsafe { (get(rule, "rule")?, get_mut(coarse_len, "coarse_len")?) };
        *n = r.coarse_len(side)?;
        Ok(())
    })
}

/// Coarse-grain `samples` configurations of side `side` (packed bits, one after the
/// other, `fine_len` = samples × rows × ⌈side/8⌉) into `coarse` (`coarse_len` = samples ×
/// `rsmi_rule_coarse_len`). Blocks in row-major order, samples in order, each block
/// drawing one word from `stream` (`draw` = `RSMI_DRAW_SAMPLE`: up iff u < P(h=+1|v);
/// `RSMI_DRAW_ARGMAX`: sign of a, ties by the coin u < ½), as `rsmi coarsen` does.
///
/// # Safety
/// Live handles or NULL; `fine` holds `fine_len` bytes and `coarse` `coarse_len`
/// writable bytes (not overlapping), or NULL.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn rsmi_rule_apply(
    rule: *const RsmiRule,
    fine: *const u8,
    fine_len: usize,
    side: usize,
    samples: usize,
    draw: u32,
    stream: *mut RsmiStream,
    coarse: *mut u8,
    coarse_len: usize,
) -> c_int {
    guard(|| {
        disjoint(
            (fine, fine_len),
            (coarse, coarse_len),
            "`fine` and `coarse`",
        )?;
        // SAFETY: caller's contract; `fine` and `coarse` do not overlap (checked above).
        let (r, f, s, c) = unsafe {
            (
                get(rule, "rule")?,
                slice(fine, fine_len, "fine")?,
                get_mut(stream, "stream")?,
                slice_mut(coarse, coarse_len, "coarse")?,
            )
        };
        r.apply(f, side, samples, draw, s, c)
    })
}

/// Free a rule (NULL is ignored).
///
/// # Safety
/// `rule` is NULL or a live handle from `rsmi_rule_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsmi_rule_free(rule: *mut RsmiRule) -> c_int {
    // SAFETY: caller's contract.
    guard(|| unsafe { destroy(rule) })
}

#[cfg(test)]
mod tests;
