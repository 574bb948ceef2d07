//! Arbitrary bytes into the `.npz` reader: it must return `Ok` or `Err`, never panic,
//! abort, hang or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rsmi_cli::io::npz::read_npz_bytes(data);
});
