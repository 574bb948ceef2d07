//! Kernels against the spin-by-spin references, hand-derived sums, packbits examples,
//! coarsening draws, error cases.

extern crate std;

use super::*;
use crate::error::Error;
use crate::rng::{Rng, SeedableRng, Xoshiro256PlusPlus};
use std::vec;
use std::vec::Vec;

const SIDES_2D: [usize; 12] = [2, 3, 5, 8, 31, 63, 64, 65, 100, 128, 130, 192];

/// A random packed L×L lattice (`rows` rows) with random (garbage) padding bits; every
/// third lattice is biased (mostly up, AND/OR of two words) to move the sums off zero.
fn random_words(rng: &mut Xoshiro256PlusPlus, rows: usize, side: usize, kind: usize) -> Vec<u64> {
    (0..rows * words_per_row(side))
        .map(|_| match kind % 3 {
            0 => rng.next_u64(),
            1 => rng.next_u64() | rng.next_u64(),
            _ => rng.next_u64() & rng.next_u64() & rng.next_u64(),
        })
        .collect()
}

/// The same lattice with its padding bits cleared.
fn masked(words: &[u64], side: usize) -> Vec<u64> {
    let w = words_per_row(side);
    let mut out = words.to_vec();
    for row in out.chunks_exact_mut(w) {
        row[w - 1] &= last_word_mask(side);
    }
    out
}

#[test]
fn sums_2d_equals_reference() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x5eed_002d);
    for &side in &SIDES_2D {
        for kind in 0..4 {
            let words = random_words(&mut rng, side, side, kind);
            let fast = sums_2d(&words, side).unwrap();
            let slow = sums_2d_reference(&words, side).unwrap();
            assert_eq!(fast, slow, "side {side}, lattice {kind}");
            // Padding is ignored.
            assert_eq!(sums_2d(&masked(&words, side), side).unwrap(), fast);
        }
    }
}

#[test]
fn sums_2d_all_up() {
    for &side in &SIDES_2D {
        let words = vec![!0u64; side * words_per_row(side)];
        let n = (side * side) as i64;
        let expect = Sums2d {
            nn_x: n,
            nn_y: n,
            diag_a: n,
            diag_b: n,
            nn3_x: n,
            nn3_y: n,
            plaq: n,
            field: n,
            corner3: 4 * n,
        };
        assert_eq!(sums_2d(&words, side).unwrap(), expect, "side {side}");
        assert_eq!(sums_2d_reference(&words, side).unwrap(), expect);
        // All down: even products unchanged, odd ones flip sign.
        let down = vec![0u64; side * words_per_row(side)];
        let expect_down = Sums2d {
            field: -n,
            corner3: -4 * n,
            ..expect
        };
        assert_eq!(sums_2d(&down, side).unwrap(), expect_down, "side {side}");
    }
}

#[test]
fn sums_2d_checkerboard() {
    for side in [2usize, 4, 8, 10, 64, 66, 100, 128, 130, 192] {
        let w = words_per_row(side);
        let mut words = vec![0u64; side * w];
        for y in 0..side {
            for x in 0..side {
                if (x + y) & 1 == 0 {
                    words[y * w + x / 64] |= 1 << (x % 64);
                }
            }
        }
        let n = (side * side) as i64;
        // s(x,y) = (−1)^(x+y): odd offsets −1, even offsets +1; a plaquette has two
        // up and two down corners (+1); three corners hold one of each parity plus one
        // more, so their products cancel in pairs over the lattice (field 0 likewise).
        let expect = Sums2d {
            nn_x: -n,
            nn_y: -n,
            diag_a: n,
            diag_b: n,
            nn3_x: n,
            nn3_y: n,
            plaq: n,
            field: 0,
            corner3: 0,
        };
        assert_eq!(sums_2d(&words, side).unwrap(), expect, "side {side}");
        assert_eq!(sums_2d_reference(&words, side).unwrap(), expect);
    }
}

#[test]
fn sums_1d_equals_reference() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x5eed_001d);
    for len in 2..=200 {
        for kind in 0..4 {
            let words = random_words(&mut rng, 1, len, kind);
            let fast = sums_1d(&words, len).unwrap();
            assert_eq!(fast, sums_1d_reference(&words, len).unwrap(), "len {len}");
            assert_eq!(sums_1d(&masked(&words, len), len).unwrap(), fast);
        }
    }
    for len in [256, 1024, 1000] {
        let words = random_words(&mut rng, 1, len, 1);
        assert_eq!(
            sums_1d(&words, len).unwrap(),
            sums_1d_reference(&words, len).unwrap()
        );
    }
}

#[test]
fn sums_1d_hand_derived() {
    // Alternating ring of even length: nn = −n, nnn = +n, nn3 = −n, four = +n
    // (two up, two down), field = 0, three = 0 (pairs cancel).
    for len in [2usize, 4, 6, 64, 66, 128, 200] {
        let mut words = vec![0u64; words_per_row(len)];
        for i in (0..len).step_by(2) {
            words[i / 64] |= 1 << (i % 64);
        }
        let n = len as i64;
        let expect = Sums1d {
            nn: -n,
            nnn: n,
            nn3: -n,
            four: n,
            field: 0,
            three: 0,
        };
        assert_eq!(sums_1d(&words, len).unwrap(), expect, "len {len}");
        let up = vec![!0u64; words_per_row(len)];
        let all = Sums1d {
            nn: n,
            nnn: n,
            nn3: n,
            four: n,
            field: n,
            three: n,
        };
        assert_eq!(sums_1d(&up, len).unwrap(), all, "len {len}");
    }
}

#[test]
fn packbits_hand_example() {
    // Side 10: x = 0 (byte 0, MSB) and x = 9 (byte 1, bit 6) up.
    let side = 10;
    let mut bytes = vec![0u8; side * 2];
    bytes[2 * 3] = 0b1000_0000; // row 3
    bytes[2 * 3 + 1] = 0b0100_0000;
    let mut words = vec![0u64; side];
    from_packbits_2d(&bytes, side, &mut words).unwrap();
    let mut expect = vec![0u64; side];
    expect[3] = 1 | 1 << 9;
    assert_eq!(words, expect);
    let mut back = vec![0xffu8; side * 2];
    to_packbits_2d(&words, side, &mut back).unwrap();
    assert_eq!(back, bytes);

    // Pad bits of the input are ignored; padding of the output is zero.
    let row = [0b1000_0000u8, 0b0011_1111];
    let mut w = [!0u64];
    from_packbits_1d(&row, side, &mut w).unwrap();
    assert_eq!(w, [1]);
    let mut out = [0u8; 2];
    to_packbits_1d(&[!0u64], side, &mut out).unwrap();
    assert_eq!(out, [0xff, 0b1100_0000]);

    // A 70-site ring: site 64 is bit 0 of the second word, bit 7 of byte 8.
    let mut row = [0u8; 9];
    row[8] = 0b1000_0100; // x = 64 and x = 69
    row[0] = 0b0000_0001; // x = 7
    let mut w = [0u64; 2];
    from_packbits_1d(&row, 70, &mut w).unwrap();
    assert_eq!(w, [1 << 7, 0b10_0001]);
}

#[test]
fn packbits_round_trip() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x9ac);
    for &side in SIDES_2D.iter().chain(&[7, 9, 17, 72]) {
        let words = random_words(&mut rng, side, side, 0);
        let nb = side.div_ceil(8);
        let mut bytes = vec![0u8; side * nb];
        to_packbits_2d(&words, side, &mut bytes).unwrap();
        // Bit by bit against the documented layout.
        for y in 0..side {
            for x in 0..side {
                let want = (words[y * words_per_row(side) + x / 64] >> (x % 64)) & 1;
                let got = (bytes[y * nb + x / 8] >> (7 - x % 8)) & 1;
                assert_eq!(u64::from(got), want, "side {side} ({x}, {y})");
            }
            if side & 7 != 0 {
                assert_eq!(bytes[y * nb + nb - 1] & ((1u8 << (8 - side % 8)) - 1), 0);
            }
        }
        let mut back = vec![!0u64; words.len()];
        from_packbits_2d(&bytes, side, &mut back).unwrap();
        assert_eq!(back, masked(&words, side), "side {side}");

        let ring = random_words(&mut rng, 1, side, 1);
        let mut rb = vec![0u8; nb];
        to_packbits_1d(&ring, side, &mut rb).unwrap();
        let mut rw = vec![0u64; ring.len()];
        from_packbits_1d(&rb, side, &mut rw).unwrap();
        assert_eq!(rw, masked(&ring, side));
    }
}

/// Random rule tables with some exact ties (act = 0) in them.
fn random_tables(rng: &mut Xoshiro256PlusPlus, sites: usize) -> (Vec<f64>, Vec<f64>) {
    let weights: Vec<f64> = (0..sites)
        .map(|_| (rng.next_u64() % 5) as f64 - 2.0)
        .collect();
    let (mut act, mut prob) = (vec![0.0; 1 << sites], vec![0.0; 1 << sites]);
    rule_tables(&weights, 0.0, &mut act, &mut prob).unwrap();
    (act, prob)
}

#[test]
fn coarsen_2d_equals_reference() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0xc0a2);
    for block in [2usize, 3, 4] {
        for side in [4usize, 6, 8, 12, 24, 60, 64, 96, 128, 132, 192, 384] {
            if side / block * block != side || side / block < 2 {
                continue;
            }
            let (act, prob) = random_tables(&mut rng, block * block);
            let fine = random_words(&mut rng, side, side, 0);
            let c = side / block;
            for draw in [Draw::Sample, Draw::Argmax] {
                let seed = rng.next_u64();
                let mut a = vec![!0u64; c * words_per_row(c)];
                let mut b = vec![!0u64; c * words_per_row(c)];
                let (mut ra, mut rb) = (
                    Xoshiro256PlusPlus::seed_from_u64(seed),
                    Xoshiro256PlusPlus::seed_from_u64(seed),
                );
                coarsen_2d(&fine, side, block, &act, &prob, draw, &mut ra, &mut a).unwrap();
                coarsen_2d_reference(&fine, side, block, &act, &prob, draw, &mut rb, &mut b)
                    .unwrap();
                assert_eq!(a, b, "block {block}, side {side}, {draw:?}");
                assert_eq!(a, masked(&a, c), "coarse padding is zero");
                // Both consumed exactly one word per block.
                let mut rc = Xoshiro256PlusPlus::seed_from_u64(seed);
                for _ in 0..c * c {
                    rc.next_u64();
                }
                let next = rc.next_u64();
                assert_eq!((ra.next_u64(), rb.next_u64()), (next, next));
            }
        }
    }
}

#[test]
fn coarsen_1d_equals_reference() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0xc0a1);
    for block in [2usize, 3] {
        for len in [4usize, 6, 9, 60, 63, 64, 66, 126, 128, 130, 192, 390] {
            if len / block * block != len {
                continue;
            }
            let (act, prob) = random_tables(&mut rng, block);
            let fine = random_words(&mut rng, 1, len, 2);
            let c = len / block;
            for draw in [Draw::Sample, Draw::Argmax] {
                let seed = rng.next_u64();
                let mut a = vec![!0u64; words_per_row(c)];
                let mut b = vec![!0u64; words_per_row(c)];
                let (mut ra, mut rb) = (
                    Xoshiro256PlusPlus::seed_from_u64(seed),
                    Xoshiro256PlusPlus::seed_from_u64(seed),
                );
                coarsen_1d(&fine, len, block, &act, &prob, draw, &mut ra, &mut a).unwrap();
                coarsen_1d_reference(&fine, len, block, &act, &prob, draw, &mut rb, &mut b)
                    .unwrap();
                assert_eq!(a, b, "block {block}, len {len}, {draw:?}");
                assert_eq!(ra.next_u64(), rb.next_u64());
            }
        }
    }
}

#[test]
fn coarsen_2d_majority_rule() {
    let (mut act, mut prob) = ([0.0; 16], [0.0; 16]);
    rule_tables(&[1.0; 4], 0.0, &mut act, &mut prob).unwrap();
    assert_eq!(
        (act[0b1111], act[0b0111], act[0b0011], act[0]),
        (4.0, 2.0, 0.0, -4.0)
    );
    assert_eq!(prob[0b0101], 0.5);
    // Side 4, C = 2: block 0 all up, block 1 three up, block 2 a 2–2 tie, block 3 one up.
    // Rows (x = 0..4, LSB first):
    let fine = [0b0111u64, 0b1111, 0b0001, 0b0110];
    // block 0 (x 0..2, y 0..2): 1,1 / 1,1 → 4 up. block 1 (x 2..4, y 0..2): 1,0 / 1,1 → 3.
    // block 2 (x 0..2, y 2..4): 1,0 / 0,1 → tie. block 3 (x 2..4, y 2..4): 0,0 / 1,0 → 1.
    for draw in [Draw::Argmax, Draw::Sample] {
        for seed in 0..64 {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let mut coin = Xoshiro256PlusPlus::seed_from_u64(seed);
            let x: Vec<u64> = (0..4).map(|_| coin.next_u64()).collect();
            let u = |x: u64| (x >> 11) as f64 / (1u64 << 53) as f64;
            let mut coarse = [0u64; 2];
            coarsen_2d(&fine, 4, 2, &act, &prob, draw, &mut rng, &mut coarse).unwrap();
            let bit = |p: usize| (coarse[p / 2] >> (p % 2)) & 1 == 1;
            if draw == Draw::Argmax {
                assert!(bit(0) && bit(1) && !bit(3), "seed {seed}");
            }
            assert_eq!(bit(2), u(x[2]) < 0.5, "the tie follows the block's coin");
        }
    }
    // A lattice of ties only (checkerboard, every block 2–2): the coin splits them.
    let side = 64;
    let fine = [0x5555_5555_5555_5555u64, 0xaaaa_aaaa_aaaa_aaaa].repeat(side / 2);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let mut coarse = [0u64; 32];
    coarsen_2d(
        &fine,
        side,
        2,
        &act,
        &prob,
        Draw::Argmax,
        &mut rng,
        &mut coarse,
    )
    .unwrap();
    let up: u32 = coarse.iter().map(|w| w.count_ones()).sum();
    assert!((412..=612).contains(&up), "{up} of 1024 ties up");
}

#[test]
fn rule_tables_layout() {
    let (mut act, mut prob) = ([0.0; 8], [0.0; 8]);
    rule_tables(&[0.5, -1.0, 2.0], 0.25, &mut act, &mut prob).unwrap();
    // v = 0b011: sites 0, 1 up, site 2 down.
    assert_eq!(act[0b011], 0.25 + 0.5 - 1.0 - 2.0);
    assert_eq!(act[0b100], 0.25 - 0.5 + 1.0 + 2.0);
    for v in 0..8 {
        assert_eq!(prob[v], 1.0 / (1.0 + libm::exp(-2.0 * act[v])));
    }
    assert!(matches!(
        rule_tables(&[], 0.0, &mut act, &mut prob),
        Err(Error::InvalidParameter(_))
    ));
    assert!(matches!(
        rule_tables(&[1.0; 17], 0.0, &mut act, &mut prob),
        Err(Error::InvalidParameter(_))
    ));
    assert!(matches!(
        rule_tables(&[f64::NAN, 1.0, 1.0], 0.0, &mut act, &mut prob),
        Err(Error::InvalidParameter(_))
    ));
    assert!(matches!(
        rule_tables(&[1.0; 2], 0.0, &mut act, &mut prob),
        Err(Error::BufferLength { what: "act", .. })
    ));
}

#[test]
fn error_cases() {
    fn len_err<T>(r: Result<T, Error>) -> bool {
        matches!(r, Err(Error::BufferLength { .. }))
    }
    fn size_err<T>(r: Result<T, Error>) -> bool {
        matches!(r, Err(Error::UnsupportedSize { .. }))
    }
    fn param<T>(r: Result<T, Error>) -> bool {
        matches!(r, Err(Error::InvalidParameter(_)))
    }

    // Operators.
    assert!(len_err(sums_2d(&[0; 7], 8)));
    assert!(len_err(sums_2d(&[0; 65], 65)));
    assert!(len_err(sums_2d_reference(&[0; 7], 8)));
    assert!(size_err(sums_2d(&[0; 1], 1)));
    assert!(size_err(sums_2d(&[], 0)));
    assert!(len_err(sums_2d(&[], usize::MAX)) || size_err(sums_2d(&[], usize::MAX)));
    assert!(len_err(sums_1d(&[0; 1], 65)));
    assert!(size_err(sums_1d(&[0; 1], 1)));
    assert!(len_err(sums_1d_reference(&[0; 2], 64)));

    // Packbits.
    let mut w = [0u64; 10];
    assert!(len_err(from_packbits_2d(&[0; 19], 10, &mut w)));
    assert!(len_err(from_packbits_2d(&[0; 20], 10, &mut w[..9])));
    assert!(len_err(to_packbits_2d(&w, 10, &mut [0; 21])));
    assert!(len_err(from_packbits_1d(&[0; 3], 10, &mut w[..1])));
    assert!(len_err(to_packbits_1d(&w[..2], 10, &mut [0; 2])));
    assert!(size_err(from_packbits_1d(&[0; 1], 1, &mut w[..1])));

    // Coarsening.
    let (act, prob) = ([0.0; 16], [0.5; 16]);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let fine = [0u64; 8];
    let mut coarse = [0u64; 4];
    let mut c2 = |fine: &[u64], side, b, a: &[f64], p: &[f64], out: &mut [u64]| {
        coarsen_2d(fine, side, b, a, p, Draw::Sample, &mut rng, out)
    };
    assert_eq!(c2(&fine, 8, 2, &act, &prob, &mut coarse), Ok(()));
    assert!(len_err(c2(&fine[..7], 8, 2, &act, &prob, &mut coarse)));
    assert!(len_err(c2(&fine, 8, 2, &act, &prob, &mut coarse[..3])));
    assert!(len_err(c2(&fine, 8, 2, &act[..8], &prob, &mut coarse)));
    assert!(len_err(c2(&fine, 8, 2, &act, &prob[..15], &mut coarse)));
    assert!(param(c2(&fine, 8, 3, &act, &prob, &mut coarse))); // 3 ∤ 8
    assert!(param(c2(&fine, 8, 0, &act, &prob, &mut coarse)));
    assert!(param(c2(&fine, 8, 5, &act, &prob, &mut coarse))); // 25 sites > 16
    assert!(param(c2(&[0; 4], 4, 4, &act, &prob, &mut coarse[..1]))); // coarse side 1
    assert!(size_err(c2(
        &[0; 1],
        1,
        1,
        &act[..2],
        &prob[..2],
        &mut coarse[..1]
    )));

    let mut c1 = |fine: &[u64], len, b, a: &[f64], p: &[f64], out: &mut [u64]| {
        coarsen_1d(fine, len, b, a, p, Draw::Argmax, &mut rng, out)
    };
    let ring = [0u64; 2];
    assert_eq!(
        c1(&ring, 96, 3, &act[..8], &prob[..8], &mut coarse[..1]),
        Ok(())
    );
    assert!(len_err(c1(
        &ring[..1],
        96,
        3,
        &act[..8],
        &prob[..8],
        &mut coarse[..1]
    )));
    assert!(len_err(c1(
        &ring,
        96,
        3,
        &act[..8],
        &prob[..8],
        &mut coarse[..2]
    )));
    assert!(len_err(c1(
        &ring,
        96,
        3,
        &act,
        &prob[..8],
        &mut coarse[..1]
    )));
    assert!(param(c1(&ring, 96, 5, &act, &prob, &mut coarse[..1]))); // 5 ∤ 96
    assert!(param(c1(&ring[..1], 4, 4, &act, &prob, &mut coarse[..1]))); // coarse len 1
    assert!(param(c1(&ring, 96, 17, &act, &prob, &mut coarse[..1])));

    // The references reject the same inputs.
    let mut r = Xoshiro256PlusPlus::seed_from_u64(1);
    let bad = coarsen_2d_reference(&fine, 8, 3, &act, &prob, Draw::Sample, &mut r, &mut coarse);
    assert!(param(bad));
    let bad = coarsen_1d_reference(&ring, 96, 3, &act, &prob, Draw::Sample, &mut r, &mut coarse);
    assert!(len_err(bad));
}
