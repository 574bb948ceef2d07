//! Arbitrary bytes into the dimer readers and the core validity check.
//!
//! Every input is used twice:
//!
//! (a) **Link planes.** `data[0] % 4` picks L ∈ {4, 6, 8, 10}; the following bytes are
//!     read as the two bit planes (8 bytes per little-endian word, padding bits
//!     included, missing bytes zero) and checked with `Torus::defect` / `validate`; the
//!     same bytes, taken as they are, go to `decorated::read_links` (2L² bytes) and
//!     `decorated::read_decorated` (4L² bytes). Nothing may panic. Whenever a covering is
//!     accepted (by any of the three), it must round-trip through `write_links` /
//!     `read_links` and `write_decorated` / `read_decorated` unchanged, and `validate`,
//!     `defect` and the readers must agree on it.
//! (b) **Sample files.** All of `data` into
//!     `rsmi_cli::io::dimer_npz::read_dimer_npz_bytes`: `Ok` or `Err`, never a panic.
//!     An accepted file must validate and survive `write_dimer_npz_to` and a second read
//!     unchanged (meta compared on the keys the format defines).
//!
//! Seeds: fuzz/seeds/dimer_reader (see fuzz/seeds/README.md): files written by
//! `rsmi sample dimer --size 4 --samples 3 --seed 1 --burn-in 5 --decorate paired`,
//! `… --size 4 --samples 2 --seed 2 --burn-in 5 --decorate independent --interaction -1
//! --temperature 0.65` and `… --size 6 --samples 2 --seed 3 --burn-in 5`, and inputs
//! holding valid L = 4 coverings in each of the three forms of (a).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsmi_cli::io::dimer_npz::{read_dimer_npz_bytes, write_dimer_npz_to};
use rsmi_core::dimer::{Torus, decorated};

/// Round trip of an accepted covering through both exports; `noise` fills the
/// decorated array's vertex and face bits.
fn round_trip(torus: Torus, h: &[u64], v: &[u64], noise: (&[u64], &[u64])) {
    let w = torus.plane_words();
    assert!(torus.validate(h, v).is_ok());
    assert_eq!(torus.defect(h, v).unwrap(), None);
    let mut links = vec![0u8; decorated::links_len(torus)];
    decorated::write_links(torus, h, v, &mut links).unwrap();
    let (mut h2, mut v2) = (vec![0u64; w], vec![0u64; w]);
    decorated::read_links(torus, &links, &mut h2, &mut v2)
        .unwrap_or_else(|e| panic!("read_links refused what write_links wrote: {e}"));
    assert!(h2 == h && v2 == v, "links round trip changed the covering");
    // Noise planes with padding cleared (write_decorated ignores padding; the reader
    // returns it cleared).
    let n = torus.sites();
    let clear = |p: &[u64]| -> Vec<u64> {
        let mut q = p.to_vec();
        if n % 64 != 0 {
            q[n / 64] &= (1u64 << (n % 64)) - 1;
        }
        q
    };
    let (vx, fc) = (clear(noise.0), clear(noise.1));
    let mut dec = vec![0u8; decorated::decorated_len(torus)];
    decorated::write_decorated(torus, h, v, &vx, &fc, &mut dec).unwrap();
    let (mut vx2, mut fc2) = (vec![0u64; w], vec![0u64; w]);
    decorated::read_decorated(torus, &dec, &mut h2, &mut v2, &mut vx2, &mut fc2)
        .unwrap_or_else(|e| panic!("read_decorated refused what write_decorated wrote: {e}"));
    assert!(
        h2 == h && v2 == v,
        "decorated round trip changed the covering"
    );
    assert!(
        vx2 == vx && fc2 == fc,
        "decorated round trip changed the noise bits"
    );
}

fn link_planes(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let l = 4 + 2 * (first as usize % 4);
    let torus = Torus::new(l).unwrap();
    let w = torus.plane_words();
    let word = |k: usize| -> u64 {
        let mut b = [0u8; 8];
        for (j, x) in b.iter_mut().enumerate() {
            *x = rest.get(8 * k + j).copied().unwrap_or(0);
        }
        u64::from_le_bytes(b)
    };
    let h: Vec<u64> = (0..w).map(word).collect();
    let v: Vec<u64> = (w..2 * w).map(word).collect();
    let defect = torus.defect(&h, &v).unwrap();
    let valid = torus.validate(&h, &v).is_ok();
    assert_eq!(defect.is_none(), valid, "defect and validate disagree");
    if let Some(d) = defect {
        let _ = d.to_string();
    }
    // The next two planes' worth of bytes as noise.
    let vx: Vec<u64> = (2 * w..3 * w).map(word).collect();
    let fc: Vec<u64> = (3 * w..4 * w).map(word).collect();
    if valid {
        round_trip(torus, &h, &v, (&vx, &fc));
    }
    // Raw bytes into the strict readers, at the exact length when there are enough
    // bytes, and at the full (usually wrong) length too.
    let (mut h2, mut v2, mut a, mut b) =
        (vec![0u64; w], vec![0u64; w], vec![0u64; w], vec![0u64; w]);
    let nl = decorated::links_len(torus);
    for bytes in [rest, rest.get(..nl).unwrap_or(rest)] {
        if decorated::read_links(torus, bytes, &mut h2, &mut v2).is_ok() {
            assert!(bytes.len() == nl && bytes.iter().all(|&x| x <= 1));
            round_trip(torus, &h2, &v2, (&a, &b));
        }
    }
    let nd = decorated::decorated_len(torus);
    for bytes in [rest, rest.get(..nd).unwrap_or(rest)] {
        if decorated::read_decorated(torus, bytes, &mut h2, &mut v2, &mut a, &mut b).is_ok() {
            assert!(bytes.len() == nd && bytes.iter().all(|&x| x <= 1));
            round_trip(torus, &h2, &v2, (&a, &b));
            let mut again = vec![0u8; nd];
            decorated::write_decorated(torus, &h2, &v2, &a, &b, &mut again).unwrap();
            assert_eq!(again, bytes, "decorated bytes do not round-trip");
        }
    }
    // Wrong buffer lengths are errors, not panics.
    assert!(torus.validate(&h[..w - 1], &v).is_err());
    assert!(decorated::read_links(torus, rest, &mut h2[..w - 1], &mut v2).is_err());
}

fn sample_file(data: &[u8]) {
    let Ok(file) = read_dimer_npz_bytes(data) else {
        return;
    };
    if let Err(e) = file.validate() {
        panic!("read_dimer_npz_bytes accepted a file that does not validate: {e}");
    }
    for i in 0..file.n {
        std::hint::black_box(file.sample_links(i));
        std::hint::black_box(file.sample_decorated(i));
    }
    let mut buf = std::io::Cursor::new(Vec::new());
    if let Err(e) = write_dimer_npz_to(&mut buf, &file) {
        panic!("write_dimer_npz_to refused a file that read_dimer_npz_bytes accepted: {e:#}");
    }
    let again = match read_dimer_npz_bytes(buf.get_ref()) {
        Ok(f) => f,
        Err(e) => panic!("read_dimer_npz_bytes refused what write_dimer_npz_to wrote: {e}"),
    };
    assert_eq!(
        (again.size, again.n),
        (file.size, file.n),
        "round trip changed the shape"
    );
    assert!(again.links == file.links, "round trip changed the links");
    assert!(
        again.decorated == file.decorated,
        "round trip changed decorated"
    );
    assert_eq!(again.winding, file.winding, "round trip changed winding");
    assert_eq!(again.chain, file.chain, "round trip changed chain");
    assert_eq!(again.sweep, file.sweep, "round trip changed sweep");
    assert_eq!(again.meta.get("model"), file.meta.get("model"));
    assert_eq!(again.meta.get("size"), file.meta.get("size"));
}

fuzz_target!(|data: &[u8]| {
    link_planes(data);
    sample_file(data);
});
