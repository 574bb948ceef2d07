//! File formats: `.npz` samples, atomic writes.
//!
//! * [`atomic`]: write-to-temporary-then-rename output, with up-front checks.
//! * [`npz`]: the sample file format (NumPy `.npz`, bit-packed spins).
//! * [`dimer_npz`]: the dimer sample file format (link occupations, decorated arrays).
//! * [`wire`]: the binary encoding of checkpoints, shards and MPI messages.

pub mod atomic;
pub mod dimer_npz;
pub mod npz;
pub mod wire;

#[cfg(test)]
pub(crate) mod testutil {
    //! A self-removing temporary directory for tests.

    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    static N: AtomicU64 = AtomicU64::new(0);

    pub struct TestDir(PathBuf);

    impl TestDir {
        pub fn new(tag: &str) -> Self {
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p = std::env::temp_dir()
                .join(format!("rsmi-cli-test-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TestDir(p)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
