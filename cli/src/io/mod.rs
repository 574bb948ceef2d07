//! File formats: `.npz` samples, atomic writes.
