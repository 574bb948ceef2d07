//! rsmi command-line tool: the library behind the `rsmi` binary.
//!
//! `main.rs` only parses arguments and dispatches; everything here is testable.

pub mod io;
pub mod stats;
