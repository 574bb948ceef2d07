//! RSMI training on sample files: the rule file format, datasets of (V, E) pairs built
//! from `.npz` samples, and the training loop over the core's estimators.

pub mod builtin;
pub mod coarsen;
pub mod dataset;
pub mod rule_file;
pub mod train;
