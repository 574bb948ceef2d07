//! Arbitrary bytes into the `.npz` sample-file reader.
//!
//! `read_npz_bytes` must return `Ok` or `Err`: never panic, abort, hang, or allocate
//! beyond a bounded multiple of the input (libFuzzer's -rss_limit_mb / -malloc_limit_mb
//! catch that). When it accepts a file, the result must be valid (`validate`), every
//! sample and spin must be readable, and writing it back and reading that again must give
//! the same samples.
//!
//! Seeds: fuzz/seeds/npz_reader (see fuzz/seeds/make_npz_seeds.py); dictionary:
//! fuzz/seeds/npz_reader.dict.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsmi_cli::io::npz::{read_npz_bytes, write_npz_to};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = read_npz_bytes(data) else {
        return;
    };
    if let Err(e) = file.validate() {
        panic!("read_npz_bytes accepted a file that does not validate: {e}");
    }
    // Every documented accessor works on an accepted file.
    let rows = if file.dims == 2 { file.size } else { 1 };
    let mut up = 0usize;
    for i in 0..file.n {
        assert_eq!(file.sample(i).len(), file.sample_bytes());
        // Bound the work on large (but legitimately accepted) inputs.
        if i < 8 {
            for y in 0..rows {
                for x in 0..file.size {
                    up += file.spin(i, y, x) as usize;
                }
            }
        }
    }
    std::hint::black_box(up);
    // Write it back and read it again: same samples.
    let mut buf = std::io::Cursor::new(Vec::new());
    if let Err(e) = write_npz_to(&mut buf, &file) {
        panic!("write_npz_to refused a file that read_npz_bytes accepted: {e:#}");
    }
    let again = match read_npz_bytes(buf.get_ref()) {
        Ok(f) => f,
        Err(e) => panic!("read_npz_bytes refused what write_npz_to wrote: {e}"),
    };
    assert_eq!(
        (again.dims, again.size, again.n),
        (file.dims, file.size, file.n),
        "round trip changed the shape"
    );
    assert!(again.spins == file.spins, "round trip changed the spins");
    assert_eq!(again.energy, file.energy, "round trip changed energy");
    assert_eq!(
        again.magnetization, file.magnetization,
        "round trip changed magnetization"
    );
    assert_eq!(again.chain, file.chain, "round trip changed chain");
    assert_eq!(again.sweep, file.sweep, "round trip changed sweep");
    // meta goes through serde_json, whose default float parsing is not guaranteed to
    // round-trip every f64 bit for bit: compare the keys the format defines.
    assert_eq!(
        again.meta.get("model"),
        file.meta.get("model"),
        "round trip changed meta.model"
    );
    assert_eq!(
        again.meta.get("size"),
        file.meta.get("size"),
        "round trip changed meta.size"
    );
});
