//! Helpers shared by the end-to-end tests: a self-removing temporary directory and
//! running the `rsmi` binary.
#![allow(dead_code)] // each test file uses a different subset

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A temporary directory, removed (with its permissions restored first) on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh directory named after `tag`, the process and a counter.
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "rsmi-e2e-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The directory itself.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// The names of the files in the directory, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run the `rsmi` binary with `args`.
pub fn rsmi(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rsmi"))
        .args(args)
        .output()
        .expect("run rsmi")
}

/// The standard error of a run, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A path as `&str` (test paths are UTF-8).
pub fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// Asserts that a run succeeded, showing its stderr otherwise.
pub fn ok(o: &Output) {
    assert!(o.status.success(), "rsmi failed: {}", stderr(o));
}

/// `rsmi sample MODEL --size SIZE --temperature T --samples N --seed SEED` into `d/name`.
pub fn sample(
    d: &TempDir,
    model: &str,
    size: &str,
    t: &str,
    n: &str,
    seed: &str,
    name: &str,
) -> PathBuf {
    let out = d.join(name);
    ok(&rsmi(&[
        "sample",
        model,
        "--size",
        size,
        "--temperature",
        t,
        "--samples",
        n,
        "--seed",
        seed,
        "--out",
        s(&out),
    ]));
    out
}
