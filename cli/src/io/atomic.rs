//! Atomic file output: write to a temporary file next to the target, flush it
//! to disk, then rename it over the target.
//!
//! Readers therefore see either the old file or the complete new one, never a
//! partial write, and a failed or interrupted run leaves any existing output
//! untouched. The temporary file is named `.{filename}.tmp.{pid}.{counter}`
//! in the target's directory (same file system, so the rename is atomic).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};

/// Per-process counter that makes temporary names unique across threads.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Checks that `path` can be used as an output file, without writing it.
///
/// Fails (with one clear sentence) if `path` has no file name, is an existing
/// directory, already exists and `force` is false, or if its parent directory
/// does not exist, is not a directory, or does not allow creating files (this
/// last check creates and immediately removes a probe file). Commands call
/// this before doing expensive work; [`write_atomic`] repeats the checks.
pub fn check_output_path(path: &Path, force: bool) -> anyhow::Result<()> {
    let (dir, _) = split(path)?;
    pre_checks(path, &dir, force)?;
    let (probe, file) = create_temp(path, &dir)?;
    drop(file);
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// Writes `path` atomically.
///
/// Refuses if `path` exists and `force` is false ("output file X already exists
/// (use --force to overwrite)"). Otherwise creates a uniquely named temporary
/// file in the same directory, calls `write` on it, syncs it to disk and renames
/// it over `path` (replacing a symlink at `path` itself, not its target). On any
/// error the temporary file is removed, an existing `path` is left untouched,
/// and the error names `path`.
///
/// Without `force` the existence check is repeated just before the rename; a
/// file created by another process in between would still be replaced.
pub fn write_atomic(
    path: &Path,
    force: bool,
    write: impl FnOnce(&mut File) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (dir, _) = split(path)?;
    pre_checks(path, &dir, force)?;
    let (tmp, mut file) = create_temp(path, &dir)?;
    let result = (|| -> anyhow::Result<()> {
        write(&mut file)?;
        file.sync_all()
            .context("could not flush the data to disk")?;
        drop(file);
        if !force && fs::symlink_metadata(path).is_ok() {
            bail!(
                "output file {} appeared while it was being written (use --force to overwrite)",
                path.display()
            );
        }
        fs::rename(&tmp, path)
            .with_context(|| format!("could not rename {} to {}", tmp.display(), path.display()))?;
        Ok(())
    })();
    match result {
        Ok(()) => {
            sync_dir(&dir);
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e.context(format!("failed to write {}", path.display())))
        }
    }
}

/// Splits `path` into (directory, file name); the directory of a bare file
/// name is `.`.
fn split(path: &Path) -> anyhow::Result<(PathBuf, OsString)> {
    let Some(name) = path.file_name() else {
        bail!("output path {} does not name a file", path.display());
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.to_os_string()))
}

fn pre_checks(path: &Path, dir: &Path, force: bool) -> anyhow::Result<()> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => bail!(
            "cannot write {}: {} is not a directory",
            path.display(),
            dir.display()
        ),
        Err(_) => bail!(
            "cannot write {}: directory {} does not exist",
            path.display(),
            dir.display()
        ),
    }
    if fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        bail!("output path {} is a directory", path.display());
    }
    if !force && fs::symlink_metadata(path).is_ok() {
        bail!(
            "output file {} already exists (use --force to overwrite)",
            path.display()
        );
    }
    Ok(())
}

/// Creates a fresh temporary file next to `path`.
fn create_temp(path: &Path, dir: &Path) -> anyhow::Result<(PathBuf, File)> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let pid = std::process::id();
    // A leftover file of a crashed process with the same pid is skipped.
    for _ in 0..64 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.tmp.{pid}.{n}"));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => bail!(
                "cannot write {}: cannot create a file in directory {} ({e})",
                path.display(),
                dir.display()
            ),
        }
    }
    bail!(
        "cannot write {}: could not find an unused temporary file name in {}",
        path.display(),
        dir.display()
    )
}

/// Makes the rename durable (best effort; not supported on every platform).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::TestDir;
    use super::*;
    use std::io::Write;

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp."))
            .collect()
    }

    #[test]
    fn success_renames() {
        let d = TestDir::new("atomic-ok");
        let p = d.path().join("out.bin");
        check_output_path(&p, false).unwrap();
        write_atomic(&p, false, |f| Ok(f.write_all(b"hello")?)).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        assert!(leftovers(d.path()).is_empty());
        // Overwrite with force.
        write_atomic(&p, true, |f| Ok(f.write_all(b"new")?)).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert!(leftovers(d.path()).is_empty());
    }

    #[test]
    fn existing_file_kept_without_force() {
        let d = TestDir::new("atomic-exists");
        let p = d.path().join("out.bin");
        fs::write(&p, b"old").unwrap();
        let e = check_output_path(&p, false).unwrap_err().to_string();
        assert!(e.contains("already exists") && e.contains("--force"), "{e}");
        let mut called = false;
        let e = write_atomic(&p, false, |_| {
            called = true;
            Ok(())
        })
        .unwrap_err();
        assert!(!called);
        assert!(format!("{e:#}").contains("out.bin"));
        assert_eq!(fs::read(&p).unwrap(), b"old");
        check_output_path(&p, true).unwrap();
        assert!(leftovers(d.path()).is_empty());
    }

    #[test]
    fn failed_write_leaves_target_and_no_temp() {
        let d = TestDir::new("atomic-fail");
        let p = d.path().join("out.bin");
        fs::write(&p, b"old").unwrap();
        let e = write_atomic(&p, true, |f| {
            f.write_all(b"partial")?;
            bail!("boom")
        })
        .unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("boom") && msg.contains("out.bin"), "{msg}");
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert!(leftovers(d.path()).is_empty());
        // Also when the target did not exist.
        let q = d.path().join("new.bin");
        assert!(write_atomic(&q, false, |_| bail!("boom")).is_err());
        assert!(!q.exists());
        assert!(leftovers(d.path()).is_empty());
    }

    #[test]
    fn bad_directories() {
        let d = TestDir::new("atomic-dirs");
        let missing = d.path().join("nope").join("out.bin");
        let e = check_output_path(&missing, true).unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");
        let e = write_atomic(&missing, true, |_| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
        let file = d.path().join("plain");
        fs::write(&file, b"x").unwrap();
        let e = check_output_path(&file.join("out.bin"), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a directory"), "{e}");
        let e = check_output_path(d.path(), true).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        assert!(check_output_path(Path::new("/"), true).is_err());
        assert!(leftovers(d.path()).is_empty());
    }
}
