//! The validation suite lives in `tests/tests/`; shared helpers here.
