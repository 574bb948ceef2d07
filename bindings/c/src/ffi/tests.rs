//! The C functions called from Rust: bit-identity with rsmi-core driven directly, and
//! the error contract (status codes, sentences, NULL and length checks).

use super::*;
use crate::status::{RSMI_ERROR_INVALID, RSMI_ERROR_NULL, RSMI_OK, last_error_string};
use rsmi_core::dimer::decorated::write_links;
use rsmi_core::dimer::{Exits, Torus, Worm};
use rsmi_core::ising::wolff::{self, Wolff};
use rsmi_core::ising::{AcceptTable, Algorithm, Dim, Layout, Replica, Strip, export_packed};
use rsmi_core::rng::{Rng, stream, stream_x4};
use std::ptr::{null, null_mut};
use wide::u64x4;

fn new_ising(dim: u32, l: usize, layout: u32, alg: u32, t: f64, h: f64) -> *mut RsmiIsing {
    let mut p = null_mut();
    // SAFETY: `p` is a writable pointer.
    let rc = unsafe { rsmi_ising_new(dim, l, layout, alg, t, h, 99, 5, 8, &mut p) };
    assert_eq!(rc, RSMI_OK, "{}", last_error_string());
    p
}

fn core_chains<L: Layout>(layout: L, alg: Algorithm, t: f64, h: f64, sweeps: u64) -> Vec<u8> {
    let g = layout.geometry();
    let table = AcceptTable::<u64x4>::uniform(g.z(), alg, t, h).unwrap();
    let mut rng = stream_x4(99, 5, 8);
    let mut lat: Vec<u64x4> = (0..layout.words()).map(|_| rng.next_all()).collect();
    let mut flip = u64x4::ZERO;
    for _ in 0..sweeps {
        layout.sweep(&mut lat, &table, &mut rng).unwrap();
        if h == 0.0 {
            layout.global_flip(&mut flip, &table, &mut rng).unwrap();
        }
    }
    let n = (g.sites() / g.size()) * g.size().div_ceil(8);
    let mut out = vec![0u8; n * layout.chains::<u64x4>()];
    for (c, chunk) in out.chunks_exact_mut(n).enumerate() {
        export_packed(&layout, &lat, flip, c, chunk).unwrap();
    }
    out
}

fn ffi_chains(p: *mut RsmiIsing, sweeps: u64, flips: bool) -> Vec<u8> {
    let (mut chains, mut sites, mut packed) = (0, 0, 0);
    // SAFETY: `p` is a live handle; the outputs are writable; `out` has the stated length.
    unsafe {
        assert_eq!(
            rsmi_ising_shape(p, &mut chains, &mut sites, &mut packed),
            RSMI_OK
        );
        for _ in 0..sweeps {
            assert_eq!(rsmi_ising_sweep(p, 1), RSMI_OK);
            if flips {
                assert_eq!(rsmi_ising_global_flip(p), RSMI_OK);
            }
        }
        let mut out = vec![0u8; chains * packed];
        assert_eq!(
            rsmi_ising_export_all(p, out.as_mut_ptr(), out.len()),
            RSMI_OK
        );
        assert_eq!(rsmi_ising_free(p), RSMI_OK);
        out
    }
}

#[test]
fn ising_samplers_equal_the_core_bit_for_bit() {
    let p = new_ising(RSMI_DIM_2, 9, RSMI_LAYOUT_REPLICA, RSMI_HEAT_BATH, 2.4, 0.0);
    let want = core_chains(
        Replica::new(Dim::Two, 9).unwrap(),
        Algorithm::HeatBath,
        2.4,
        0.0,
        30,
    );
    assert_eq!(ffi_chains(p, 30, true), want);

    let p = new_ising(
        RSMI_DIM_1,
        130,
        RSMI_LAYOUT_REPLICA,
        RSMI_METROPOLIS,
        1.5,
        0.3,
    );
    let want = core_chains(
        Replica::new(Dim::One, 130).unwrap(),
        Algorithm::Metropolis,
        1.5,
        0.3,
        20,
    );
    assert_eq!(ffi_chains(p, 20, false), want);

    let p = new_ising(
        RSMI_DIM_2,
        128,
        RSMI_LAYOUT_STRIP,
        RSMI_METROPOLIS_HALF,
        2.2,
        0.0,
    );
    let want = core_chains(
        Strip::new(Dim::Two, 128).unwrap(),
        Algorithm::MetropolisHalf,
        2.2,
        0.0,
        4,
    );
    assert_eq!(ffi_chains(p, 4, true), want);
}

#[test]
fn wolff_and_worm_equal_the_core_bit_for_bit() {
    // Wolff, 1D ring of 70 sites (padding bits in the last word).
    let w = Wolff::new(Dim::One, 70, 0.8, 0.0).unwrap();
    let mut rng = stream(4, 1, 2);
    let mut spins: Vec<u64> = (0..w.words()).map(|_| rng.next_u64()).collect();
    spins[1] &= (1 << 6) - 1;
    let (mut stack, mut visited) = (vec![0u32; w.stack_len()], vec![0u64; w.words()]);
    w.steps(&mut spins, &mut stack, &mut visited, &mut rng, 40)
        .unwrap();
    let mut want = vec![0u8; 9];
    wolff::export_packed(&w, &spins, &mut want).unwrap();

    let (mut p, mut sites) = (null_mut(), 0u64);
    let mut got = vec![0u8; 9];
    // SAFETY: writable outputs, live handle, buffers of the stated lengths.
    unsafe {
        assert_eq!(
            rsmi_wolff_new(RSMI_DIM_1, 70, 0.8, 0.0, 4, 1, 2, &mut p),
            RSMI_OK
        );
        assert_eq!(rsmi_wolff_update(p, 40, &mut sites), RSMI_OK);
        assert_eq!(rsmi_wolff_export(p, got.as_mut_ptr(), 9), RSMI_OK);
        // Import of the export is the identity.
        assert_eq!(rsmi_wolff_import(p, got.as_ptr(), 9), RSMI_OK);
        let mut again = vec![0u8; 9];
        assert_eq!(rsmi_wolff_export(p, again.as_mut_ptr(), 9), RSMI_OK);
        assert_eq!(again, got);
        assert_eq!(rsmi_wolff_free(p), RSMI_OK);
    }
    assert_eq!(got, want);

    // Worm, interacting, minimal bounce.
    let torus = Torus::new(6).unwrap();
    let worm = Worm::new(torus, 0.7, 1.3, Exits::MinimalBounce).unwrap();
    let (mut h, mut v) = (vec![0u64; 1], vec![0u64; 1]);
    torus.columnar(&mut h, &mut v).unwrap();
    let mut rng = stream(21, 0, 3);
    let per = worm.calibrate(&mut h, &mut v, &mut rng, 50).unwrap();
    worm.run_many(&mut h, &mut v, &mut rng, 7 * per).unwrap();
    let mut want = vec![0u8; 72];
    write_links(torus, &h, &v, &mut want).unwrap();

    let (mut d, mut per_ffi, mut steps) = (null_mut(), 0u64, 0u64);
    let mut got = vec![0u8; 72];
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            rsmi_dimer_new(6, 0.7, 1.3, RSMI_EXITS_MINIMAL_BOUNCE, 21, 0, 3, &mut d),
            RSMI_OK
        );
        assert_eq!(rsmi_dimer_calibrate(d, 50, &mut per_ffi), RSMI_OK);
        assert_eq!(rsmi_dimer_sweep(d, 7, &mut steps), RSMI_OK);
        assert_eq!(rsmi_dimer_export_links(d, got.as_mut_ptr(), 72), RSMI_OK);
        assert_eq!(rsmi_dimer_free(d), RSMI_OK);
    }
    assert_eq!(per_ffi, per);
    assert_eq!(got, want);
}

#[test]
fn errors_are_status_codes_with_the_core_sentence() {
    let p = new_ising(
        RSMI_DIM_2,
        8,
        RSMI_LAYOUT_REPLICA,
        RSMI_METROPOLIS,
        2.0,
        0.0,
    );
    let mut buf = [0u8; 7];
    // SAFETY: live handle; `buf` has 7 bytes; NULL arguments are what is tested.
    unsafe {
        assert_eq!(
            rsmi_ising_export(p, 0, buf.as_mut_ptr(), 7),
            RSMI_ERROR_INVALID
        );
        assert_eq!(
            last_error_string(),
            "buffer `packed output` has length 7, expected 8"
        );
        assert_eq!(rsmi_ising_sweep(null_mut(), 1), RSMI_ERROR_NULL);
        assert_eq!(last_error_string(), "argument `ising` is a null pointer");
        assert_eq!(rsmi_ising_import(p, 0, null(), 8), RSMI_ERROR_NULL);
        let mut q = p;
        assert_eq!(
            rsmi_ising_new(2, 8, 0, 0, f64::NAN, 0.0, 0, 0, 0, &mut q),
            RSMI_ERROR_INVALID
        );
        assert!(q.is_null());
        assert_eq!(
            last_error_string(),
            "temperature must be a finite number greater than zero"
        );
        // A misaligned output pointer is an error, not UB.
        let mut words = [0u64; 3];
        let mis = (words.as_mut_ptr() as *mut u8).wrapping_add(1) as *mut usize;
        assert_eq!(rsmi_ising_shape(p, mis, mis, mis), RSMI_ERROR_INVALID);
        assert!(last_error_string().contains("not aligned"));
        assert_eq!(rsmi_ising_free(p), RSMI_OK);
        assert_eq!(rsmi_ising_free(null_mut()), RSMI_OK);
    }
}

#[test]
fn strip_layout_takes_one_temperature_per_lattice() {
    // Lattices 0 and 1 deep in the ordered phase, 2 and 3 hot: e/N ≈ −1.96 and −0.43
    // for the infinite lattice (T = 1.5 and 5; L = 128 is large enough).
    let p = new_ising(RSMI_DIM_2, 128, RSMI_LAYOUT_STRIP, RSMI_HEAT_BATH, 2.0, 0.0);
    let t = [1.5, 1.5, 5.0, 5.0];
    let (mut e, mut m) = ([0i64; 4], [0i64; 4]);
    // SAFETY: live handle; buffers of the stated lengths.
    unsafe {
        assert_eq!(rsmi_ising_set_temperatures(p, t.as_ptr(), 4), RSMI_OK);
        assert_eq!(rsmi_ising_fill(p, 1), RSMI_OK);
        assert_eq!(rsmi_ising_sweep(p, 200), RSMI_OK);
        assert_eq!(
            rsmi_ising_measure(p, e.as_mut_ptr(), m.as_mut_ptr(), 4),
            RSMI_OK
        );
        assert_eq!(rsmi_ising_free(p), RSMI_OK);
    }
    let n = (128 * 128) as f64;
    for (c, &x) in e.iter().enumerate() {
        let (want, tol) = if c < 2 {
            (-1.956, 0.02)
        } else {
            (-0.428, 0.03)
        };
        let got = x as f64 / n;
        assert!(
            (got - want).abs() < tol,
            "lattice {c}: e = {got}, expected ≈ {want}"
        );
    }
}
