//! rsmi command-line tool: the library behind the `rsmi` binary.
//!
//! `main.rs` only parses arguments and dispatches; everything here is testable.

pub mod checkpoint;
pub mod cluster;
pub mod command;
pub mod io;
pub mod learn;
pub mod plot;
pub mod progress;
pub mod provenance;
pub mod rg;
pub mod sampler;
pub mod stats;
