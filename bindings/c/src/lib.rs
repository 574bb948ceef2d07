//! # rsmi-ffi: a C ABI over rsmi-core
//!
//! Opaque handles (`RsmiIsing`, `RsmiWolff`, `RsmiDimer`, `RsmiRule`, `RsmiStream`) for
//! the core's samplers and coarse-graining, for C, C++ and Fortran callers. The header
//! `include/rsmi.h` is generated from this crate by cbindgen (build.rs) and committed;
//! the test `header_is_current` fails when it is stale.
//!
//! Conventions of every exported function:
//! - It returns an `int` status: `RSMI_OK` (0) or an `RSMI_ERROR_*` code, with the
//!   sentence in `rsmi_last_error_message()` (per thread).
//! - NULL pointers, misaligned pointers and buffers of the wrong length are errors,
//!   never undefined behaviour; a panic never unwinds into C (`RSMI_ERROR_INTERNAL`).
//! - Buffers are passed as (pointer, length in elements); the library never keeps a
//!   caller pointer after the call returns.
//! - Configurations are exchanged in the NumPy `packbits` layout of the sample files:
//!   rows of ⌈L/8⌉ bytes, bit 7 (MSB) of byte 0 is x = 0, 1 = spin up.
//!
//! `unsafe` is denied in this crate except in the [`ffi`] module, where the caller's
//! pointers are dereferenced.

pub mod ffi;
pub mod handles;
pub mod status;

pub use handles::{RsmiDimer, RsmiIsing, RsmiRule, RsmiStream, RsmiWolff};
pub use status::{
    RSMI_ERROR_ALLOC, RSMI_ERROR_INTERNAL, RSMI_ERROR_INVALID, RSMI_ERROR_NULL, RSMI_OK,
};

#[cfg(test)]
mod header_test {
    /// The committed header equals the one build.rs generated from the current sources.
    /// Regenerate with `RSMI_UPDATE_HEADER=1 cargo test -p rsmi-ffi --release header`.
    #[test]
    fn header_is_current() {
        let fresh = include_str!(concat!(env!("OUT_DIR"), "/rsmi.h"));
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/rsmi.h");
        if std::env::var_os("RSMI_UPDATE_HEADER").is_some() {
            std::fs::write(path, fresh).expect("write include/rsmi.h");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == fresh,
            "bindings/c/include/rsmi.h is stale: regenerate it with \
             `RSMI_UPDATE_HEADER=1 cargo test -p rsmi-ffi --release header` and commit it"
        );
    }
}
