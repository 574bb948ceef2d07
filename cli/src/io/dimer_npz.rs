//! The dimer sample file: a NumPy `.npz` archive.
//!
//! | array       | dtype   | shape            |                                                |
//! |-------------|---------|------------------|------------------------------------------------|
//! | `links`     | `uint8` | `(N, 2, L, L)`   | `links[n,0,y,x] = h(x,y)`, `links[n,1,y,x] = v(x,y)` |
//! | `decorated` | `uint8` | `(N, 2L, 2L)`    | optional: docs/method.md#dimers-and-the-noise-decoration layout with noise bits |
//! | `winding`   | `int64` | `(N, 2)`         | (W_x, W_y) of each sample                      |
//! | `chain`     | `int64` | `(N,)`           | optional: chain of each sample                 |
//! | `sweep`     | `int64` | `(N,)`           | optional: loop sweep of each sample            |
//! | `meta`      | `uint8` | `(len,)`         | UTF-8 JSON object                              |
//!
//! h(x,y) = 1 when a dimer occupies the link (x,y)–(x+1,y), v(x,y) = 1 for (x,y)–(x,y+1)
//! (x = column, y = row, periodic). In the decorated array, `X[2y][2x]` is the vertex
//! noise bit of site (x,y), `X[2y+1][2x+1]` the face noise bit, `X[2y][2x+1] = h(x,y)` and
//! `X[2y+1][2x] = v(x,y)`.
//!
//! ```python
//! z = np.load("dimers.npz")
//! h, v = z["links"][:, 0], z["links"][:, 1]
//! meta = json.loads(z["meta"].tobytes())
//! ```
//!
//! `meta` must hold `"model": "dimer"` and `"size"` (L, even, ≥ 4). The reader shares the
//! hardened archive code of [`super::npz`] and checks every sample: values 0/1, a valid
//! close-packed covering, the decorated array agreeing with the links, and the stored
//! winding numbers agreeing with the links.

use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::Path;

use anyhow::Context;
use npyz::zip;
use rsmi_core::dimer::{decorated, lattice::Torus, observables};
use serde_json::Value;

use super::atomic::write_atomic;
use super::npz::{
    Archive, Dtype, NpzError, Shape, meta_model_size, read_path, to_i64, write_array,
};

/// The model name of dimer sample files.
pub const MODEL: &str = "dimer";

const ARRAYS: [&str; 6] = ["links", "decorated", "winding", "chain", "sweep", "meta"];

/// A dimer sample file in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct DimerFile {
    /// Linear size L of the torus (sites).
    pub size: usize,
    /// Number of samples N.
    pub n: usize,
    /// Link occupations, `n · 2 · L²` bytes (see the module table).
    pub links: Vec<u8>,
    /// Noise-decorated arrays, `n · 4 · L²` bytes, if present.
    pub decorated: Option<Vec<u8>>,
    /// Winding numbers (W_x, W_y) per sample, `2n` entries.
    pub winding: Vec<i64>,
    /// Chain each sample came from (optional).
    pub chain: Option<Vec<i64>>,
    /// Loop sweep each sample was taken at (optional).
    pub sweep: Option<Vec<i64>>,
    /// Metadata, a JSON object with at least `"model": "dimer"` and `"size"`.
    pub meta: Value,
}

impl DimerFile {
    /// Bytes of `links` per sample, 2L².
    pub fn link_bytes(size: usize) -> usize {
        2usize.saturating_mul(size).saturating_mul(size)
    }

    /// Bytes of `decorated` per sample, (2L)².
    pub fn decorated_bytes(size: usize) -> usize {
        4usize.saturating_mul(size).saturating_mul(size)
    }

    /// The links of sample `i` (`[h plane, v plane]`, row-major).
    ///
    /// # Panics
    ///
    /// If `i ≥ n` (see [`Self::validate`] for consistent lengths).
    pub fn sample_links(&self, i: usize) -> &[u8] {
        let b = Self::link_bytes(self.size);
        &self.links[i * b..(i + 1) * b]
    }

    /// The decorated array of sample `i`, if the file has them.
    ///
    /// # Panics
    ///
    /// If `i ≥ n`.
    pub fn sample_decorated(&self, i: usize) -> Option<&[u8]> {
        let b = Self::decorated_bytes(self.size);
        self.decorated.as_ref().map(|d| &d[i * b..(i + 1) * b])
    }

    /// Checks the file: meta, array lengths, and every sample (valid covering, decorated
    /// array consistent with the links, winding numbers consistent with the links).
    pub fn validate(&self) -> Result<(), NpzError> {
        if self.n == 0 {
            return Err(NpzError::Empty);
        }
        let (model, size) = meta_model_size(&self.meta)?;
        if model != MODEL {
            return Err(NpzError::Inconsistent(format!(
                "meta says model {model} but the file holds dimer samples"
            )));
        }
        if size != self.size {
            return Err(NpzError::Inconsistent(format!(
                "meta says size {size} but the samples have L = {}",
                self.size
            )));
        }
        let torus = Torus::new(self.size).map_err(|e| NpzError::Meta(format!("size: {e}")))?;
        let lengths = [
            ("links", self.links.len(), Self::link_bytes(self.size)),
            ("winding", self.winding.len(), 2),
        ];
        for (name, len, per) in lengths {
            if Some(len) != self.n.checked_mul(per) {
                return Err(NpzError::Inconsistent(format!(
                    "{name} has {len} entries but {} samples of {per} are needed",
                    self.n
                )));
            }
        }
        if let Some(d) = &self.decorated {
            if Some(d.len()) != self.n.checked_mul(Self::decorated_bytes(self.size)) {
                return Err(NpzError::Inconsistent(format!(
                    "decorated has {} bytes but {} samples of {} are needed",
                    d.len(),
                    self.n,
                    Self::decorated_bytes(self.size)
                )));
            }
        }
        for (name, col) in [("chain", &self.chain), ("sweep", &self.sweep)] {
            if let Some(c) = col {
                if c.len() != self.n {
                    return Err(NpzError::Inconsistent(format!(
                        "{name} has {} entries but there are {} samples",
                        c.len(),
                        self.n
                    )));
                }
            }
        }
        let words = torus.plane_words();
        let (mut h, mut v) = (vec![0u64; words], vec![0u64; words]);
        let (mut h2, mut v2) = (vec![0u64; words], vec![0u64; words]);
        let (mut vertex, mut face) = (vec![0u64; words], vec![0u64; words]);
        for i in 0..self.n {
            decorated::read_links(torus, self.sample_links(i), &mut h, &mut v)
                .map_err(|e| NpzError::Inconsistent(format!("links of sample {i}: {e}")))?;
            if let Some(d) = self.sample_decorated(i) {
                decorated::read_decorated(torus, d, &mut h2, &mut v2, &mut vertex, &mut face)
                    .map_err(|e| {
                        NpzError::Inconsistent(format!("decorated array of sample {i}: {e}"))
                    })?;
                if h2 != h || v2 != v {
                    return Err(NpzError::Inconsistent(format!(
                        "the decorated array of sample {i} disagrees with its links"
                    )));
                }
            }
            let (wx, wy) = observables::winding(torus, &h, &v)
                .map_err(|e| NpzError::Inconsistent(format!("sample {i}: {e}")))?;
            if [wx, wy] != self.winding[2 * i..2 * i + 2] {
                return Err(NpzError::Inconsistent(format!(
                    "the stored winding numbers of sample {i} ({}, {}) disagree with its links ({wx}, {wy})",
                    self.winding[2 * i],
                    self.winding[2 * i + 1]
                )));
            }
        }
        Ok(())
    }
}

/// Writes `file` to `path` atomically after validating it; refuses to overwrite an
/// existing file unless `force`.
pub fn write_dimer_npz(path: &Path, force: bool, file: &DimerFile) -> anyhow::Result<()> {
    file.validate()
        .with_context(|| format!("refusing to write {}", path.display()))?;
    write_atomic(path, force, |f| write_dimer_npz_to(BufWriter::new(f), file))
}

/// Writes `file` as an `.npz` archive to `w` (validating it first) and flushes `w`.
pub fn write_dimer_npz_to<W: Write + Seek>(w: W, file: &DimerFile) -> anyhow::Result<()> {
    file.validate()?;
    let (n, l) = (file.n as u64, file.size as u64);
    let meta = serde_json::to_vec(&file.meta).context("could not serialize meta")?;
    let mut zip = zip::ZipWriter::new(w);
    write_array(&mut zip, "links", &[n, 2, l, l], &file.links)?;
    if let Some(d) = &file.decorated {
        write_array(&mut zip, "decorated", &[n, 2 * l, 2 * l], d)?;
    }
    write_array(&mut zip, "winding", &[n, 2], &file.winding)?;
    if let Some(c) = &file.chain {
        write_array(&mut zip, "chain", &[n], c)?;
    }
    if let Some(s) = &file.sweep {
        write_array(&mut zip, "sweep", &[n], s)?;
    }
    write_array(&mut zip, "meta", &[meta.len() as u64], &meta)?;
    let mut w = zip.finish().context("could not finish the zip archive")?;
    w.flush()?;
    Ok(())
}

/// Reads and validates the dimer sample file at `path`.
pub fn read_dimer_npz(path: &Path) -> Result<DimerFile, NpzError> {
    read_path(path, read_from)
}

/// Reads and validates a dimer sample file held in memory; never panics.
pub fn read_dimer_npz_bytes(bytes: &[u8]) -> Result<DimerFile, NpzError> {
    read_from(io::Cursor::new(bytes), bytes.len() as u64)
}

fn read_from<R: Read + Seek>(reader: R, archive_len: u64) -> Result<DimerFile, NpzError> {
    let mut archive = Archive::open(reader, archive_len, &ARRAYS)?;
    let meta = archive.read_meta()?;
    let (model, size) = meta_model_size(&meta)?;
    if model != MODEL {
        return Err(NpzError::Meta(format!(
            "says model {model}, but a dimer sample file (model \"dimer\") is needed"
        )));
    }
    Torus::new(size).map_err(|e| NpzError::Meta(format!("size: {e}")))?;
    let (shape, winding) = archive.read("winding", Dtype::I64, |s| {
        (s.len() == 2 && s[1] == 2)
            .then_some(())
            .ok_or_else(|| format!("winding has shape {} but must be (N, 2)", Shape(s)))
    })?;
    let n = shape[0];
    if n == 0 {
        return Err(NpzError::Empty);
    }
    let l = size as u64;
    let exact = |name: &'static str, want: [u64; 4], dims: usize| {
        move |s: &[u64]| {
            (s == &want[..dims]).then_some(()).ok_or_else(|| {
                format!(
                    "{name} has shape {} but meta says size {size}, which with N = {n} needs {}",
                    Shape(s),
                    Shape(&want[..dims])
                )
            })
        }
    };
    let (_, links) = archive.read("links", Dtype::U8, exact("links", [n, 2, l, l], 4))?;
    let decorated = archive.read_optional(
        "decorated",
        Dtype::U8,
        exact("decorated", [n, 2 * l, 2 * l, 0], 3),
    )?;
    let chain = archive.read_optional("chain", Dtype::I64, exact("chain", [n, 0, 0, 0], 1))?;
    let sweep = archive.read_optional("sweep", Dtype::I64, exact("sweep", [n, 0, 0, 0], 1))?;
    let n = usize::try_from(n).map_err(|_| NpzError::Shape(format!("N = {n} is too large")))?;
    let file = DimerFile {
        size,
        n,
        links,
        decorated,
        winding: to_i64(winding),
        chain: chain.map(to_i64),
        sweep: sweep.map(to_i64),
        meta,
    };
    file.validate()?;
    Ok(file)
}
