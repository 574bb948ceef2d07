//! Equivalence tests: word kernels against the bit-by-bit reference, `u64x4` against
//! four `u64` runs, measurements against plain per-site sums.

use super::reference::{energy_magnetization_i8, sweep_packed};
use super::*;
use crate::rng::{X4, Xoshiro256PlusPlus, stream, stream_x4};
use rand_core::Rng;
use wide::u64x4;

fn random_lattice<W: Word>(words: usize, seed: u64, out: &mut [W]) {
    let mut r = stream(seed, 99, 0);
    for w in out.iter_mut().take(words) {
        *w = W::from_fn(|_| r.next_u64());
    }
}

const CASES_2D: &[(Algorithm, f64, f64)] = &[
    (Algorithm::Metropolis, T_C_2D, 0.0),
    (Algorithm::Metropolis, 1.3, 0.0),
    (Algorithm::MetropolisHalf, 40.0, 0.0),
    (Algorithm::MetropolisHalf, T_C_2D, 0.0),
    (Algorithm::MetropolisHalf, 1.7, -0.4),
    // e^{-βΔE} rounds to 1: classes become certain, random classes are not a = 0..N
    // (found by the differential fuzzer).
    (Algorithm::MetropolisHalf, 1e300, 0.0),
    (Algorithm::Metropolis, 1e300, 0.0),
    (Algorithm::HeatBath, 2.0, 0.0),
    (Algorithm::Metropolis, 2.5, 0.3),
    (Algorithm::Metropolis, 2.5, -1.7),
    (Algorithm::HeatBath, 1.1, 0.45),
    (Algorithm::Metropolis, 0.05, 0.0),
];

fn kernel_matches_reference<L: Layout>(layout: &L, seed: u64) {
    let n = layout.words();
    let z = layout.geometry().z();
    for (case, &(alg, t, h)) in CASES_2D.iter().enumerate() {
        let mut a = [0u64; 4096];
        random_lattice(n, seed + case as u64, &mut a[..n]);
        let mut b = a;
        let table = AcceptTable::<u64>::uniform(z, alg, t, h).unwrap();
        let mut ra = stream(seed, case as u64, 1);
        let mut rb = ra.clone();
        for sweep in 0..6 {
            layout.sweep(&mut a[..n], &table, &mut ra).unwrap();
            sweep_packed(layout, &mut b[..n], alg, &[t], h, &mut rb).unwrap();
            if let Some(i) = (0..n).find(|&i| a[i] != b[i]) {
                panic!(
                    "{alg:?} T={t} h={h}: sweep {sweep}: first difference at word {i}: {:#x} vs {:#x}",
                    a[i], b[i]
                );
            }
            assert_eq!(ra, rb, "random streams diverged");
        }
    }
}

#[test]
fn replica_2d_matches_reference() {
    for l in [2, 3, 4, 5, 8, 13] {
        kernel_matches_reference(&Replica::new(Dim::Two, l).unwrap(), l as u64);
    }
}

#[test]
fn replica_1d_matches_reference() {
    for l in [2, 3, 7, 64, 100] {
        kernel_matches_reference(&Replica::new(Dim::One, l).unwrap(), l as u64);
    }
}

#[test]
fn strip_2d_matches_reference() {
    kernel_matches_reference(&Strip::new(Dim::Two, 128).unwrap(), 5);
}

#[test]
fn strip_1d_matches_reference() {
    for l in [128, 192, 1024] {
        kernel_matches_reference(&Strip::new(Dim::One, l).unwrap(), l as u64);
    }
}

#[test]
fn per_replica_temperatures_match_reference() {
    let layout = Replica::new(Dim::Two, 4).unwrap();
    let temps: [f64; 64] = core::array::from_fn(|i| 0.5 + 0.1 * i as f64);
    // Very cold and very hot bits side by side: some classes are certain for some bits
    // only (heat bath rounds to p = 1 below T ≈ 0.2, Metropolis-½ above T ≈ 7e16).
    let mixed: [f64; 64] = core::array::from_fn(|i| match i % 3 {
        0 => 0.02 + 0.01 * i as f64,
        1 => 1e300,
        _ => 2.0,
    });
    for (alg, h, temps) in [
        (Algorithm::Metropolis, 0.0, &temps),
        (Algorithm::MetropolisHalf, 0.0, &temps),
        (Algorithm::HeatBath, 0.2, &temps),
        (Algorithm::HeatBath, 0.0, &mixed),
        (Algorithm::MetropolisHalf, 0.0, &mixed),
        (Algorithm::MetropolisHalf, 0.7, &mixed),
    ] {
        let table = AcceptTable::<u64>::per_bit(4, alg, temps, h).unwrap();
        let mut a = [0u64; 16];
        random_lattice(16, 3, &mut a);
        let mut b = a;
        let mut ra = stream(8, 0, 0);
        let mut rb = ra.clone();
        for _ in 0..20 {
            layout.sweep(&mut a, &table, &mut ra).unwrap();
            sweep_packed(&layout, &mut b, alg, temps, h, &mut rb).unwrap();
            assert_eq!(a, b);
        }
    }
}

/// A `u64x4` run equals four `u64` runs, lane by lane, with per-lane streams.
fn x4_equals_four_u64<L: Layout>(layout: &L, per_bit: bool) {
    let n = layout.words();
    let z = layout.geometry().z();
    for (case, &(alg, t, h)) in CASES_2D.iter().enumerate() {
        let mut wide_lat = [u64x4::ZERO; 4096];
        random_lattice(n, 40 + case as u64, &mut wide_lat[..n]);
        let mut lanes: [[u64; 4096]; 4] = [[0; 4096]; 4];
        for (i, w) in wide_lat[..n].iter().enumerate() {
            for (lane, lat) in lanes.iter_mut().enumerate() {
                lat[i] = w.lane(lane);
            }
        }
        let temps: [f64; 256] = core::array::from_fn(|i| {
            if per_bit {
                t * (0.5 + i as f64 / 128.0)
            } else {
                t
            }
        });
        let wt = AcceptTable::<u64x4>::per_bit(z, alg, &temps, h).unwrap();
        let mut wr = stream_x4(7, case as u64, 0);
        let mut lr: [Xoshiro256PlusPlus; 4] =
            core::array::from_fn(|i| stream(7, case as u64, i as u64));
        let mut wflip = u64x4::ZERO;
        let mut lflip = [0u64; 4];
        for _ in 0..5 {
            layout.sweep(&mut wide_lat[..n], &wt, &mut wr).unwrap();
            if h == 0.0 {
                layout.global_flip(&mut wflip, &wt, &mut wr).unwrap();
            }
            for lane in 0..4 {
                let lt = AcceptTable::<u64>::per_bit(z, alg, &temps[64 * lane..64 * lane + 64], h)
                    .unwrap();
                layout
                    .sweep(&mut lanes[lane][..n], &lt, &mut lr[lane])
                    .unwrap();
                if h == 0.0 {
                    layout
                        .global_flip(&mut lflip[lane], &lt, &mut lr[lane])
                        .unwrap();
                }
            }
        }
        for (i, w) in wide_lat[..n].iter().enumerate() {
            for lane in 0..4 {
                assert_eq!(
                    w.lane(lane),
                    lanes[lane][i],
                    "{alg:?} T={t} h={h} word {i} lane {lane}"
                );
            }
        }
        for lane in 0..4 {
            assert_eq!(wflip.lane(lane), lflip[lane]);
        }
        assert_eq!(X4::to_lanes(&wr), lr);
    }
}

#[test]
fn replica_x4_equals_four_u64() {
    x4_equals_four_u64(&Replica::new(Dim::Two, 5).unwrap(), true);
    x4_equals_four_u64(&Replica::new(Dim::Two, 8).unwrap(), false);
    x4_equals_four_u64(&Replica::new(Dim::One, 9).unwrap(), true);
}

#[test]
fn strip_x4_equals_four_u64() {
    x4_equals_four_u64(&Strip::new(Dim::Two, 128).unwrap(), false);
    x4_equals_four_u64(&Strip::new(Dim::One, 256).unwrap(), false);
}

#[test]
fn locate_and_site_at_are_inverse() {
    fn check<L: Layout, W: Word>(layout: &L) {
        let sites = layout.geometry().sites();
        for chain in 0..layout.chains::<W>() {
            for site in 0..sites {
                let (w, b) = layout.locate::<W>(chain, site);
                assert!(w < layout.words() && b < W::BITS);
                assert_eq!(layout.site_at::<W>(w, b), (chain, site));
            }
        }
    }
    check::<_, u64>(&Replica::new(Dim::Two, 3).unwrap());
    check::<_, u64x4>(&Replica::new(Dim::Two, 3).unwrap());
    check::<_, u64>(&Strip::new(Dim::Two, 128).unwrap());
    check::<_, u64x4>(&Strip::new(Dim::Two, 192).unwrap());
    check::<_, u64x4>(&Strip::new(Dim::One, 256).unwrap());
}

/// Counts from the word measurement equal plain per-site sums over exported spins.
fn measure_matches_plain<L: Layout, W: Word>(layout: &L, seed: u64) {
    let g = layout.geometry();
    let n = layout.words();
    let mut lat = [W::ZERO; 1024];
    random_lattice(n, seed, &mut lat[..n]);
    let mut r = stream(seed, 1, 1);
    let flip = W::from_fn(|_| r.next_u64());
    let flip = if layout.chains::<W>() == W::LANES {
        flip.lane_bit0_mask()
    } else {
        flip
    };
    let mut counts = [Counts::default(); 256];
    let chains = layout.chains::<W>();
    layout
        .measure(&lat[..n], flip, &mut counts[..chains])
        .unwrap();
    let mut spins = [0i8; 256 * 256];
    for chain in 0..chains {
        for site in 0..g.sites() {
            spins[site] = if layout.spin(&lat[..n], flip, chain, site) {
                1
            } else {
                -1
            };
        }
        let (e, m) = energy_magnetization_i8(&g, &spins[..g.sites()]);
        assert_eq!(counts[chain].bond_energy(&g), e, "chain {chain}");
        assert_eq!(counts[chain].magnetization(&g), m, "chain {chain}");
    }
}

#[test]
fn measurements_match_plain_sums() {
    measure_matches_plain::<_, u64>(&Replica::new(Dim::Two, 2).unwrap(), 1);
    measure_matches_plain::<_, u64x4>(&Replica::new(Dim::Two, 7).unwrap(), 2);
    measure_matches_plain::<_, u64x4>(&Replica::new(Dim::One, 5).unwrap(), 3);
    measure_matches_plain::<_, u64>(&Strip::new(Dim::Two, 128).unwrap(), 4);
    measure_matches_plain::<_, u64x4>(&Strip::new(Dim::Two, 128).unwrap(), 5);
    measure_matches_plain::<_, u64x4>(&Strip::new(Dim::One, 512).unwrap(), 6);
}

#[test]
fn export_import_round_trip() {
    let layout = Strip::new(Dim::Two, 128).unwrap();
    let mut lat = [u64x4::ZERO; 256];
    random_lattice(256, 9, &mut lat);
    let mut packed = [0u8; 128 * 16];
    let mut back = [u64x4::ZERO; 256];
    for chain in 0..4 {
        export_packed(&layout, &lat, u64x4::ZERO, chain, &mut packed).unwrap();
        import_packed(&layout, &mut back, chain, &packed).unwrap();
    }
    assert_eq!(lat, back);
    let r = Replica::new(Dim::Two, 5).unwrap();
    let mut lat = [0u64; 25];
    random_lattice(25, 10, &mut lat);
    let mut packed = [0u8; 5];
    let mut back = [0u64; 25];
    for chain in 0..64 {
        export_packed(&r, &lat, 0u64, chain, &mut packed).unwrap();
        // Row y: bits 7..3 of byte y hold columns 0..4; bits 2..0 are padding.
        assert!(packed.iter().all(|b| b & 0b111 == 0));
        import_packed(&r, &mut back, chain, &packed).unwrap();
    }
    assert_eq!(lat, back);
    assert!(import_packed(&r, &mut back, 0, &[0b0000_0100, 0, 0, 0, 0]).is_err());
}

#[test]
fn wolff_matches_reference() {
    for (dim, l, t, h) in [
        (Dim::Two, 2, 2.0, 0.0),
        (Dim::Two, 8, T_C_2D, 0.0),
        (Dim::Two, 9, 1.5, 0.2),
        (Dim::One, 17, 0.8, -0.3),
    ] {
        let w = wolff::Wolff::new(dim, l, t, h).unwrap();
        let g = w.geometry();
        let n = g.sites();
        let mut bits = [0u64; 2];
        random_lattice(w.words(), 11, &mut bits[..w.words()]);
        let mut spins = [0i8; 128];
        for i in 0..n {
            spins[i] = if w.spin(&bits, i) { 1 } else { -1 };
        }
        let mut stack = [0u32; 128];
        let mut visited = [0u64; 2];
        let mut stack2 = [0u32; 128];
        let mut visited2 = [false; 128];
        let mut ra = stream(12, 0, 0);
        let mut rb = ra.clone();
        for _ in 0..200 {
            let ca = w
                .step(
                    &mut bits[..w.words()],
                    &mut stack[..n],
                    &mut visited[..w.words()],
                    &mut ra,
                )
                .unwrap();
            let cb = reference::wolff_step_i8(
                &g,
                &mut spins[..n],
                &mut stack2[..n],
                &mut visited2[..n],
                t,
                h,
                &mut rb,
            )
            .unwrap();
            assert_eq!(ca, cb);
            for i in 0..n {
                assert_eq!(w.spin(&bits, i), spins[i] == 1);
            }
            assert!(visited.iter().all(|&v| v == 0));
        }
        let c = w.measure(&bits[..w.words()]).unwrap();
        let (e, m) = energy_magnetization_i8(&g, &spins[..n]);
        assert_eq!((c.bond_energy(&g), c.magnetization(&g)), (e, m));
    }
}

#[test]
fn layout_errors() {
    assert!(Strip::new(Dim::Two, 64).is_err());
    assert!(Strip::new(Dim::Two, 130).is_err());
    assert!(Replica::new(Dim::Two, 1).is_err());
    assert!(Replica::new(Dim::Two, 0).is_err());
    let r = Replica::new(Dim::Two, 4).unwrap();
    let t = AcceptTable::<u64>::uniform(4, Algorithm::Metropolis, 2.0, 0.0).unwrap();
    let mut rng = stream(0, 0, 0);
    let mut lat = [0u64; 15];
    assert!(matches!(
        r.sweep(&mut lat, &t, &mut rng),
        Err(Error::BufferLength { .. })
    ));
    let t1 = AcceptTable::<u64>::uniform(2, Algorithm::Metropolis, 2.0, 0.0).unwrap();
    assert!(r.sweep(&mut [0u64; 16], &t1, &mut rng).is_err());
    let tf = AcceptTable::<u64>::uniform(4, Algorithm::Metropolis, 2.0, 0.1).unwrap();
    let mut flip = 0u64;
    assert!(r.global_flip(&mut flip, &tf, &mut rng).is_err());
}
