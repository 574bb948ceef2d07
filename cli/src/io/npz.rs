//! The sample file format: a NumPy `.npz` archive.
//!
//! | array           | dtype   | shape                                   |
//! |-----------------|---------|-----------------------------------------|
//! | `spins`         | `uint8` | `(N, L, ceil(L/8))` (2D) / `(N, ceil(L/8))` (1D); `(N, C, …)` with `meta.channels = C` > 1 |
//! | `energy`        | `int64` | `(N,)`                                  |
//! | `magnetization` | `int64` | `(N,)`                                  |
//! | `chain`         | `int64` | `(N,)`, optional: chain of each sample  |
//! | `sweep`         | `int64` | `(N,)`, optional: sweep of each sample  |
//! | `meta`          | `uint8` | `(len,)`: UTF-8 JSON object             |
//!
//! Spins use NumPy's `packbits` layout (big bit order): column `x` of a row is
//! bit `7 − x % 8` of byte `x / 8`, 1 = up, and the padding bits of the last
//! byte of each row are zero, so that in Python
//!
//! ```python
//! z = np.load("samples.npz")
//! up = np.unpackbits(z["spins"], axis=-1)[..., :L]     # 1 = up spin
//! meta = json.loads(z["meta"].tobytes())
//! ```
//!
//! `meta` must contain `"model"` (`"ising1d"` or `"ising2d"`, which fixes
//! the number of dimensions) and `"size"` (`L`); anything else in it is
//! carried along untouched.
//!
//! Files are written with `npyz` (uncompressed entries, like `np.savez`).
//! The reader accepts archives written by this module or by NumPy
//! (`np.savez` or `np.savez_compressed`) and is hardened against malformed
//! input: it never panics, and it never allocates more than the data actually
//! present (a header's shape claim is checked against the entry's size and
//! the archive's size before anything is allocated). To get there it parses
//! the small `.npy` headers itself instead of using `npyz`'s reader (which
//! allocates the header length claimed by the file, up to 4 GiB, and can
//! overflow on shape products), and it screens zip entries before asking the
//! `zip` crate to decompress them (zip 0.6 unwraps a password error for
//! entries carrying an AES extra field, and panics on some compression
//! methods); only stored and deflated entries are accepted.

use std::fmt;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use npyz::WriterBuilder;
use npyz::zip;
use serde_json::Value;

use super::atomic::write_atomic;

/// Models that can be stored in a sample file, with their number of dimensions.
pub const MODELS: &[(&str, usize)] = &[("ising1d", 1), ("ising2d", 2)];

/// Number of lattice dimensions of a sample-file `model`, if supported.
pub fn dims_for_model(model: &str) -> Option<usize> {
    MODELS.iter().find(|(m, _)| *m == model).map(|&(_, d)| d)
}

/// Longest `.npy` header accepted (NumPy's own default limit is 10 000).
const MAX_HEADER: usize = 1 << 16;
/// Upper bound on the deflate expansion ratio (the format's maximum is ≈1032).
const MAX_DEFLATE_RATIO: u64 = 1100;

/// A sample file in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleFile {
    /// Number of lattice dimensions: 1 or 2.
    pub dims: usize,
    /// Linear size `L` of the lattice.
    pub size: usize,
    /// Number of samples `N`.
    pub n: usize,
    /// Packed spins, `n · bytes_per_sample(dims, size)` bytes, sample-major;
    /// within a sample, row-major with `ceil(L/8)` bytes per row.
    pub spins: Vec<u8>,
    /// Energy of each sample.
    pub energy: Vec<i64>,
    /// Magnetization of each sample.
    pub magnetization: Vec<i64>,
    /// Chain each sample came from (optional).
    pub chain: Option<Vec<i64>>,
    /// Sweep each sample was taken at (optional).
    pub sweep: Option<Vec<i64>>,
    /// Metadata, a JSON object with at least `"model"` and `"size"`.
    pub meta: Value,
}

impl SampleFile {
    /// Bytes per packed row of `size` spins: `ceil(size/8)`.
    pub fn row_bytes(size: usize) -> usize {
        size.div_ceil(8)
    }

    /// Bytes per sample: `ceil(L/8)` for 1D, `L·ceil(L/8)` for 2D (`dims` other
    /// than 2 count as 1D; the product saturates instead of overflowing).
    pub fn bytes_per_sample(dims: usize, size: usize) -> usize {
        let rb = Self::row_bytes(size);
        if dims == 2 {
            rb.saturating_mul(size)
        } else {
            rb
        }
    }

    /// Shape of the `spins` array: `[n, L, ceil(L/8)]` or `[n, ceil(L/8)]`, with a
    /// channel axis after `n` when `meta.channels` > 1 (coarse samples of a rule with
    /// several hidden units: `[n, C, L, ceil(L/8)]` or `[n, C, ceil(L/8)]`).
    pub fn spins_shape(&self) -> Vec<u64> {
        spins_shape(self.dims, self.size, self.n as u64, self.channels())
    }

    /// Values per site: `meta.channels` (1 when absent or invalid; [`Self::validate`]
    /// rejects invalid values).
    pub fn channels(&self) -> usize {
        meta_channels(&self.meta).unwrap_or(1)
    }

    /// Bytes of one sample, all channels.
    pub fn sample_bytes(&self) -> usize {
        Self::bytes_per_sample(self.dims, self.size).saturating_mul(self.channels())
    }

    /// The packed bytes of sample `i`.
    ///
    /// # Panics
    ///
    /// If `i ≥ n` or `spins` is shorter than `n` samples (see [`Self::validate`]).
    pub fn sample(&self, i: usize) -> &[u8] {
        let b = self.sample_bytes();
        &self.spins[i * b..(i + 1) * b]
    }

    /// Whether the spin at row `y`, column `x` of sample `i` is up (use `y = 0`
    /// for 1D; channel 0 of multi-channel files).
    ///
    /// # Panics
    ///
    /// If the indices are out of range.
    pub fn spin(&self, i: usize, y: usize, x: usize) -> bool {
        assert!(x < self.size, "column {x} out of range (L = {})", self.size);
        let rb = Self::row_bytes(self.size);
        let byte = self.sample(i)[y * rb + x / 8];
        (byte >> (7 - x % 8)) & 1 == 1
    }

    /// Checks internal consistency: `dims` ∈ {1, 2}, `size ≥ 1`, `n ≥ 1`, all
    /// array lengths match `n`, padding bits are zero, and `meta` is an object
    /// whose `"model"` and `"size"` agree with `dims` and `size`.
    pub fn validate(&self) -> Result<(), NpzError> {
        if self.dims != 1 && self.dims != 2 {
            return Err(NpzError::Inconsistent(format!(
                "dims must be 1 or 2, not {}",
                self.dims
            )));
        }
        if self.size == 0 {
            return Err(NpzError::Inconsistent("the lattice size is 0".into()));
        }
        if self.n == 0 {
            return Err(NpzError::Empty);
        }
        let (model, size) = meta_model_size(&self.meta)?;
        let dims =
            dims_for_model(&model).ok_or_else(|| NpzError::UnsupportedModel(model.clone()))?;
        if dims != self.dims || size != self.size {
            return Err(NpzError::Inconsistent(format!(
                "meta says model {model}, size {size} but the samples are {}D with L = {}",
                self.dims, self.size
            )));
        }
        meta_channels(&self.meta)?;
        let need = self.n.checked_mul(self.sample_bytes());
        if need != Some(self.spins.len()) {
            return Err(NpzError::Inconsistent(format!(
                "spins has {} bytes but {} samples of {} bytes are needed",
                self.spins.len(),
                self.n,
                self.sample_bytes()
            )));
        }
        let columns = [
            ("energy", Some(&self.energy)),
            ("magnetization", Some(&self.magnetization)),
            ("chain", self.chain.as_ref()),
            ("sweep", self.sweep.as_ref()),
        ];
        for (name, col) in columns {
            match col {
                Some(c) if c.len() != self.n => {
                    return Err(NpzError::Inconsistent(format!(
                        "{name} has {} entries but there are {} samples",
                        c.len(),
                        self.n
                    )));
                }
                _ => {}
            }
        }
        check_padding(&self.spins, self.dims, self.size, self.channels())
    }
}

/// Shape of a `spins` array (see [`SampleFile::spins_shape`]).
fn spins_shape(dims: usize, size: usize, n: u64, channels: usize) -> Vec<u64> {
    let rb = SampleFile::row_bytes(size) as u64;
    let mut shape = vec![n];
    if channels > 1 {
        shape.push(channels as u64);
    }
    if dims == 2 {
        shape.push(size as u64);
    }
    shape.push(rb);
    shape
}

/// `meta.channels`: absent → 1; otherwise an integer from 1 to 8.
pub(crate) fn meta_channels(meta: &Value) -> Result<usize, NpzError> {
    match meta.get("channels") {
        None => Ok(1),
        Some(c) => c
            .as_u64()
            .filter(|c| (1..=8).contains(c))
            .map(|c| c as usize)
            .ok_or_else(|| {
                NpzError::Meta(format!("channels must be an integer from 1 to 8, not {c}"))
            }),
    }
}

/// Appends `row` packed in the sample-file layout (`ceil(len/8)` bytes, first
/// spin in the most significant bit, zero padding) to `out`.
pub fn pack_row(row: &[bool], out: &mut Vec<u8>) {
    for chunk in row.chunks(8) {
        let mut byte = 0u8;
        for (k, &up) in chunk.iter().enumerate() {
            byte |= u8::from(up) << (7 - k);
        }
        out.push(byte);
    }
}

/// Why a sample file could not be read (or, for [`NpzError::Inconsistent`]
/// and [`NpzError::Empty`], written).
#[derive(Debug, thiserror::Error)]
pub enum NpzError {
    /// The file could not be opened or read.
    #[error("could not read sample file {path}: {cause}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The I/O error (part of this message, not a separate `source()`, so that a
        /// printed error chain names it once).
        cause: io::Error,
    },
    /// An error inside the named file.
    #[error("sample file {path}: {cause}")]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (part of this message, not a `source()`).
        cause: Box<NpzError>,
    },
    /// Not a readable zip archive.
    #[error("not a valid .npz (zip) archive: {0}")]
    Zip(String),
    /// A required array is absent.
    #[error("required array `{0}` is missing")]
    Missing(&'static str),
    /// An array is stored twice.
    #[error("array `{0}` appears more than once in the archive")]
    Duplicate(String),
    /// A zip entry uses a feature this reader does not support.
    #[error("array `{array}` {reason}")]
    Unsupported {
        /// The array.
        array: String,
        /// What is unsupported.
        reason: String,
    },
    /// The `.npy` header of an array is malformed.
    #[error("array `{array}` is not a valid .npy array: {reason}")]
    BadNpy {
        /// The array.
        array: String,
        /// What is wrong.
        reason: String,
    },
    /// An array has the wrong element type.
    #[error("array `{array}` has dtype '{found}' but {expected} is required")]
    Dtype {
        /// The array.
        array: String,
        /// The dtype descriptor found.
        found: String,
        /// The dtype required.
        expected: &'static str,
    },
    /// An array is stored in Fortran order.
    #[error("array `{0}` is stored in Fortran order; only C order is supported")]
    FortranOrder(String),
    /// Array shapes disagree with each other or with `meta`.
    #[error("{0}")]
    Shape(String),
    /// An array's data end early.
    #[error("array `{array}` is truncated: {found} of {expected} data bytes present")]
    Truncated {
        /// The array.
        array: String,
        /// Bytes present.
        found: u64,
        /// Bytes its header requires.
        expected: u64,
    },
    /// An array has more data than its shape describes.
    #[error("array `{0}` has more data than its shape describes")]
    TrailingData(String),
    /// The compressed data or its checksum is corrupt.
    #[error("array `{array}` is corrupt: {cause}")]
    Corrupt {
        /// The array.
        array: String,
        /// The decoding error (part of this message, not a `source()`).
        cause: io::Error,
    },
    /// The metadata is invalid.
    #[error("meta {0}")]
    Meta(String),
    /// The model named in `meta` cannot be stored in a sample file.
    #[error("unsupported model `{0}` for a sample file (supported: ising1d, ising2d)")]
    UnsupportedModel(String),
    /// Padding bits of a packed row are set.
    #[error("spins of sample {sample} (row {row}) have non-zero padding bits")]
    Padding {
        /// The sample.
        sample: usize,
        /// The row within the sample.
        row: usize,
    },
    /// The file holds no samples.
    #[error("the sample file holds no samples (N = 0)")]
    Empty,
    /// The in-memory sample file is internally inconsistent.
    #[error("inconsistent sample file: {0}")]
    Inconsistent(String),
}

/// Writes `file` to `path` atomically (see [`write_atomic`]) after checking
/// it with [`SampleFile::validate`]. Refuses to overwrite an existing file
/// unless `force`.
pub fn write_npz(path: &Path, force: bool, file: &SampleFile) -> anyhow::Result<()> {
    file.validate()
        .with_context(|| format!("refusing to write {}", path.display()))?;
    write_atomic(path, force, |f| write_npz_to(BufWriter::new(f), file))
}

/// Writes `file` as an `.npz` archive to `w` (validating it first) and
/// flushes `w`.
pub fn write_npz_to<W: Write + Seek>(w: W, file: &SampleFile) -> anyhow::Result<()> {
    file.validate()?;
    let n = file.n as u64;
    let meta = serde_json::to_vec(&file.meta).context("could not serialize meta")?;
    let mut zip = zip::ZipWriter::new(w);
    write_array(&mut zip, "spins", &file.spins_shape(), &file.spins)?;
    write_array(&mut zip, "energy", &[n], &file.energy)?;
    write_array(&mut zip, "magnetization", &[n], &file.magnetization)?;
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

pub(crate) fn write_array<W, T>(
    zip: &mut zip::ZipWriter<W>,
    name: &str,
    shape: &[u64],
    data: &[T],
) -> anyhow::Result<()>
where
    W: Write + Seek,
    T: npyz::AutoSerialize + Copy,
{
    let bytes = std::mem::size_of_val(data) as u64;
    // A fixed entry time (the zip epoch, 1980-01-01 00:00), not the clock: the bytes of
    // a file depend on its content only, so reruns, thread counts, MPI ranks and merged
    // shards give identical files.
    let options = zip::write::FileOptions::default()
        .last_modified_time(zip::DateTime::default())
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(bytes >= u64::from(u32::MAX) - 4096);
    zip.start_file(npyz::npz::file_name_from_array_name(name), options)
        .with_context(|| format!("could not start array {name}"))?;
    let mut npy = npyz::WriteOptions::<T>::new()
        .default_dtype()
        .shape(shape)
        .writer(BufWriter::with_capacity(1 << 16, &mut *zip))
        .begin_nd()
        .with_context(|| format!("could not write the header of array {name}"))?;
    npy.extend(data.iter().copied())
        .and_then(|()| npy.finish())
        .with_context(|| format!("could not write array {name}"))?;
    Ok(())
}

/// Reads and validates the sample file at `path`.
///
/// Errors name the file and, where applicable, the array.
pub fn read_npz(path: &Path) -> Result<SampleFile, NpzError> {
    read_path(path, read_from)
}

/// Opens `path` and hands a buffered reader and the file length to `read`; errors name
/// the file (shared by every sample-file reader).
pub(crate) fn read_path<T>(
    path: &Path,
    read: impl FnOnce(BufReader<std::fs::File>, u64) -> Result<T, NpzError>,
) -> Result<T, NpzError> {
    let open = |cause| NpzError::Open {
        path: path.to_path_buf(),
        cause,
    };
    let f = std::fs::File::open(path).map_err(open)?;
    let len = f.metadata().map_err(open)?.len();
    read(BufReader::new(f), len).map_err(|e| NpzError::InFile {
        path: path.to_path_buf(),
        cause: Box::new(e),
    })
}

/// Reads and validates a sample file held in memory.
///
/// Never panics and never allocates more than a bounded multiple of
/// `bytes.len()`, whatever the input; anything inconsistent is an error.
pub fn read_npz_bytes(bytes: &[u8]) -> Result<SampleFile, NpzError> {
    read_from(io::Cursor::new(bytes), bytes.len() as u64)
}

const ARRAYS: [&str; 6] = ["spins", "energy", "magnetization", "chain", "sweep", "meta"];

/// What we know about a zip entry before decompressing it.
#[derive(Clone, Copy)]
struct Entry {
    index: usize,
    /// Declared uncompressed size.
    size: u64,
    /// Upper bound on the decompressed bytes we are willing to believe.
    plausible: u64,
}

/// A screened `.npz` archive: the entries of the arrays a format knows about, each
/// checked for supported compression and extra fields before anything is
/// decompressed. Shared by every sample-file format (Ising spins, dimer links).
pub(crate) struct Archive<R: Read + Seek> {
    zip: zip::ZipArchive<R>,
    names: &'static [&'static str],
    entries: Vec<Option<Entry>>,
}

impl<R: Read + Seek> Archive<R> {
    /// Opens the archive and screens the entries named in `names` (others are
    /// ignored, for forward compatibility). `archive_len` bounds decompression.
    pub(crate) fn open(
        reader: R,
        archive_len: u64,
        names: &'static [&'static str],
    ) -> Result<Self, NpzError> {
        let mut zip = zip::ZipArchive::new(reader).map_err(|e| NpzError::Zip(e.to_string()))?;
        let mut entries: Vec<Option<Entry>> = vec![None; names.len()];
        for index in 0..zip.len() {
            let f = zip
                .by_index_raw(index)
                .map_err(|e| NpzError::Zip(e.to_string()))?;
            let Some(array) = npyz::npz::array_name_from_file_name(f.name()) else {
                continue;
            };
            let Some(slot) = names.iter().position(|a| *a == array) else {
                continue; // Unknown arrays are ignored (forward compatibility).
            };
            if entries[slot].is_some() {
                return Err(NpzError::Duplicate(array.to_string()));
            }
            let unsupported = |reason: String| NpzError::Unsupported {
                array: array.to_string(),
                reason,
            };
            let plausible = match f.compression() {
                zip::CompressionMethod::Stored => archive_len,
                zip::CompressionMethod::Deflated => archive_len.saturating_mul(MAX_DEFLATE_RATIO),
                other => {
                    return Err(unsupported(format!(
                        "uses compression method {other}; only stored and deflated entries are supported"
                    )));
                }
            };
            // An AES extra field (id 0x9901) anywhere makes zip 0.6 panic in
            // `by_index`; genuine sample files never carry one.
            if f.extra_data().windows(2).any(|w| w == [0x01, 0x99]) {
                return Err(unsupported(
                    "has an unsupported zip extra field (AES encryption?)".into(),
                ));
            }
            entries[slot] = Some(Entry {
                index,
                size: f.size(),
                plausible,
            });
        }
        Ok(Archive {
            zip,
            names,
            entries,
        })
    }

    fn entry(&self, name: &'static str) -> Option<Entry> {
        let slot = self.names.iter().position(|a| *a == name)?;
        self.entries[slot]
    }

    /// Whether the archive holds array `name`.
    pub(crate) fn has(&self, name: &'static str) -> bool {
        self.entry(name).is_some()
    }

    /// Reads array `name`, which must be present.
    pub(crate) fn read(
        &mut self,
        name: &'static str,
        dtype: Dtype,
        check_shape: impl FnOnce(&[u64]) -> Result<(), String>,
    ) -> Result<(Vec<u64>, Vec<u8>), NpzError> {
        let entry = self.entry(name).ok_or(NpzError::Missing(name))?;
        read_array(&mut self.zip, name, entry, dtype, check_shape)
    }

    /// Reads array `name` if present.
    pub(crate) fn read_optional(
        &mut self,
        name: &'static str,
        dtype: Dtype,
        check_shape: impl FnOnce(&[u64]) -> Result<(), String>,
    ) -> Result<Option<Vec<u8>>, NpzError> {
        match self.entry(name) {
            Some(entry) => {
                read_array(&mut self.zip, name, entry, dtype, check_shape).map(|(_, d)| Some(d))
            }
            None => Ok(None),
        }
    }

    /// Reads and parses `meta` (a 1-dimensional uint8 array of UTF-8 JSON).
    pub(crate) fn read_meta(&mut self) -> Result<Value, NpzError> {
        let (_, meta_bytes) = self.read("meta", Dtype::U8, |s| {
            (s.len() == 1)
                .then_some(())
                .ok_or_else(|| format!("meta has shape {} but must be 1-dimensional", Shape(s)))
        })?;
        serde_json::from_slice(&meta_bytes)
            .map_err(|e| NpzError::Meta(format!("is not valid UTF-8 JSON: {e}")))
    }
}

fn read_from<R: Read + Seek>(reader: R, archive_len: u64) -> Result<SampleFile, NpzError> {
    let mut archive = Archive::open(reader, archive_len, &ARRAYS)?;
    for name in ["spins", "energy", "magnetization", "meta"] {
        if !archive.has(name) {
            // Name the model when a file of another kind was given.
            if let Ok(meta) = archive.read_meta() {
                if let Ok((model, _)) = meta_model_size(&meta) {
                    if dims_for_model(&model).is_none() {
                        return Err(NpzError::UnsupportedModel(model));
                    }
                }
            }
            return Err(NpzError::Missing(name));
        }
    }

    // meta → model and size.
    let meta = archive.read_meta()?;
    let (model, size) = meta_model_size(&meta)?;
    let dims = dims_for_model(&model).ok_or_else(|| NpzError::UnsupportedModel(model.clone()))?;

    // energy fixes N.
    let (shape, energy) = archive.read("energy", Dtype::I64, |s| {
        (s.len() == 1).then_some(()).ok_or_else(|| {
            format!(
                "energy has shape {} but must be 1-dimensional (N,)",
                Shape(s)
            )
        })
    })?;
    let n = shape[0];
    if n == 0 {
        return Err(NpzError::Empty);
    }
    let column = |name: &'static str| {
        move |s: &[u64]| {
            (s == [n])
                .then_some(())
                .ok_or_else(|| format!("{name} has shape {} but energy has shape ({n},)", Shape(s)))
        }
    };
    let (_, magnetization) = archive.read("magnetization", Dtype::I64, column("magnetization"))?;
    let chain = archive.read_optional("chain", Dtype::I64, column("chain"))?;
    let sweep = archive.read_optional("sweep", Dtype::I64, column("sweep"))?;

    let expected = spins_shape(dims, size, n, meta_channels(&meta)?);
    let (_, spins) = archive.read("spins", Dtype::U8, |s| {
        (s == expected.as_slice()).then_some(()).ok_or_else(|| {
            format!(
                "spins has shape {} but meta says model {model}, size {size}, which with N = {n} needs {}",
                Shape(s),
                Shape(&expected)
            )
        })
    })?;

    let n = usize::try_from(n).map_err(|_| NpzError::Shape(format!("N = {n} is too large")))?;
    let file = SampleFile {
        dims,
        size,
        n,
        spins,
        energy: to_i64(energy),
        magnetization: to_i64(magnetization),
        chain: chain.map(to_i64),
        sweep: sweep.map(to_i64),
        meta,
    };
    file.validate()?;
    Ok(file)
}

pub(crate) fn to_i64(bytes: Vec<u8>) -> Vec<i64> {
    bytes
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect()
}

/// `"model"` and `"size"` of a meta object.
pub(crate) fn meta_model_size(meta: &Value) -> Result<(String, usize), NpzError> {
    let obj = meta
        .as_object()
        .ok_or_else(|| NpzError::Meta("is not a JSON object".into()))?;
    let model = obj
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| NpzError::Meta("has no string field \"model\"".into()))?;
    let size = obj
        .get("size")
        .and_then(Value::as_u64)
        .and_then(|s| usize::try_from(s).ok())
        .filter(|&s| s >= 1)
        .ok_or_else(|| NpzError::Meta("has no positive integer field \"size\"".into()))?;
    Ok((model.to_string(), size))
}

fn check_padding(spins: &[u8], dims: usize, size: usize, channels: usize) -> Result<(), NpzError> {
    let used = size % 8;
    if used == 0 {
        return Ok(());
    }
    let mask = 0xFFu8 >> used;
    let rb = SampleFile::row_bytes(size);
    let rows_per_sample = if dims == 2 { size } else { 1 } * channels;
    for (r, row) in spins.chunks_exact(rb).enumerate() {
        if row[rb - 1] & mask != 0 {
            return Err(NpzError::Padding {
                sample: r / rows_per_sample,
                row: r % rows_per_sample,
            });
        }
    }
    Ok(())
}

/// Element types the reader accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dtype {
    U8,
    I64,
}

impl Dtype {
    fn item_size(self) -> u64 {
        match self {
            Dtype::U8 => 1,
            Dtype::I64 => 8,
        }
    }

    fn accepts(self, descr: &str) -> bool {
        match self {
            Dtype::U8 => matches!(descr, "|u1" | "<u1" | ">u1" | "=u1" | "u1"),
            Dtype::I64 => descr == "<i8",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Dtype::U8 => "uint8 ('|u1')",
            Dtype::I64 => "little-endian int64 ('<i8')",
        }
    }
}

/// Python-style display of a shape: `(3,)`, `(3, 4)`.
pub(crate) struct Shape<'a>(pub(crate) &'a [u64]);

impl fmt::Display for Shape<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [a] => write!(f, "({a},)"),
            s => {
                write!(f, "(")?;
                for (i, d) in s.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{d}")?;
                }
                write!(f, ")")
            }
        }
    }
}

/// Reads one array: parses and checks its header (`check_shape` returns a
/// sentence for [`NpzError::Shape`]), then reads exactly the data bytes.
fn read_array<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    array: &str,
    entry: Entry,
    dtype: Dtype,
    check_shape: impl FnOnce(&[u64]) -> Result<(), String>,
) -> Result<(Vec<u64>, Vec<u8>), NpzError> {
    let bad = |reason: String| NpzError::BadNpy {
        array: array.to_string(),
        reason,
    };
    let mut file = zip
        .by_index(entry.index)
        .map_err(|e| NpzError::Zip(format!("array `{array}`: {e}")))?;
    let header = parse_header(&mut file).map_err(bad)?;
    if !dtype.accepts(&header.descr) {
        return Err(NpzError::Dtype {
            array: array.to_string(),
            found: header.descr,
            expected: dtype.name(),
        });
    }
    if header.fortran_order {
        return Err(NpzError::FortranOrder(array.to_string()));
    }
    check_shape(&header.shape).map_err(NpzError::Shape)?;
    let data_len = header
        .shape
        .iter()
        .try_fold(dtype.item_size(), |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {} is too large", Shape(&header.shape))))?;
    let total = data_len.saturating_add(header.header_len);
    if total > entry.plausible || usize::try_from(data_len).is_err() {
        return Err(bad(format!(
            "shape {} needs {data_len} bytes, more than the archive can hold",
            Shape(&header.shape)
        )));
    }
    if total != entry.size {
        return Err(bad(format!(
            "the zip entry holds {} bytes but header and shape {} need {total}",
            entry.size,
            Shape(&header.shape)
        )));
    }
    // Bounded: data_len ≤ plausible, and the buffer only grows as data arrive.
    let mut data = Vec::with_capacity(data_len.min(entry.plausible.min(1 << 24)) as usize);
    (&mut file)
        .take(data_len.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|cause| NpzError::Corrupt {
            array: array.to_string(),
            cause,
        })?;
    let found = data.len() as u64;
    if found < data_len {
        return Err(NpzError::Truncated {
            array: array.to_string(),
            found,
            expected: data_len,
        });
    }
    if found > data_len {
        return Err(NpzError::TrailingData(array.to_string()));
    }
    Ok((header.shape, data))
}

/// The parts of a `.npy` header we use.
#[derive(Debug, PartialEq)]
struct NpyHeader {
    descr: String,
    fortran_order: bool,
    shape: Vec<u64>,
    /// Bytes before the data: magic, version, length field and header text.
    header_len: u64,
}

/// Parses a `.npy` header (format versions 1.0, 2.0, 3.0) from `r`.
fn parse_header(r: &mut impl Read) -> Result<NpyHeader, String> {
    let mut pre = [0u8; 8];
    r.read_exact(&mut pre)
        .map_err(|_| "it is too short for a .npy header".to_string())?;
    if &pre[..6] != b"\x93NUMPY" {
        return Err("the .npy magic string is missing".into());
    }
    let (text_len, len_field) = match (pre[6], pre[7]) {
        (1, 0) => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b)
                .map_err(|_| "the header is truncated".to_string())?;
            (usize::from(u16::from_le_bytes(b)), 2)
        }
        (2, 0) | (3, 0) => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b)
                .map_err(|_| "the header is truncated".to_string())?;
            let l = u32::from_le_bytes(b);
            match usize::try_from(l) {
                Ok(l) if l <= MAX_HEADER => (l, 4),
                _ => return Err(format!("the header claims {l} bytes, too many")),
            }
        }
        (major, minor) => return Err(format!("unsupported .npy format version {major}.{minor}")),
    };
    let mut text = vec![0u8; text_len];
    r.read_exact(&mut text)
        .map_err(|_| "the header is truncated".to_string())?;
    let text = std::str::from_utf8(&text).map_err(|_| "the header is not UTF-8".to_string())?;
    let (descr, fortran_order, shape) = parse_dict(text)?;
    Ok(NpyHeader {
        descr,
        fortran_order,
        shape,
        header_len: (8 + len_field + text_len) as u64,
    })
}

/// A value in the header dictionary.
enum PyValue {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
}

/// Minimal parser for the Python dict literal of a `.npy` header:
/// `{'descr': '<i8', 'fortran_order': False, 'shape': (3, 4), }` with
/// arbitrary whitespace, either quote style, optional trailing commas, and
/// integers with an optional `L` suffix. Structured dtypes (list `descr`) and
/// anything else are rejected.
fn parse_dict(text: &str) -> Result<(String, bool, Vec<u64>), String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.ws();
        p.expect(b':')?;
        p.ws();
        let value = p.value()?;
        let dup = match (key.as_str(), value) {
            ("descr", PyValue::Str(s)) => descr.replace(s).is_some(),
            ("fortran_order", PyValue::Bool(b)) => fortran.replace(b).is_some(),
            ("shape", PyValue::Tuple(t)) => shape.replace(t).is_some(),
            ("descr" | "fortran_order" | "shape", _) => {
                return Err(format!(
                    "header key '{key}' has a value of the wrong type (structured dtypes are not supported)"
                ));
            }
            _ => return Err(format!("unexpected header key '{key}'")),
        };
        if dup {
            return Err(format!("header key '{key}' appears twice"));
        }
        p.ws();
        if p.eat(b',') {
            continue;
        }
        p.ws();
        p.expect(b'}')?;
        break;
    }
    if p.s[p.i..].iter().any(|c| !c.is_ascii_whitespace()) {
        return Err("unexpected text after the header dictionary".into());
    }
    match (descr, fortran, shape) {
        (Some(d), Some(f), Some(s)) => Ok((d, f, s)),
        _ => Err("the header lacks one of 'descr', 'fortran_order', 'shape'".into()),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!(
                "malformed header dictionary (expected '{}' at offset {})",
                c as char, self.i
            ))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let q = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => {
                return Err(format!(
                    "malformed header dictionary (expected a string at offset {})",
                    self.i
                ));
            }
        };
        self.i += 1;
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == q {
                let s = &self.s[start..self.i];
                self.i += 1;
                return Ok(String::from_utf8_lossy(s).into_owned());
            }
            if c == b'\\' || c == b'\n' {
                break;
            }
            self.i += 1;
        }
        Err("malformed string in the header dictionary".into())
    }

    fn word(&mut self, w: &[u8]) -> bool {
        if self.s[self.i..].starts_with(w) {
            self.i += w.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<PyValue, String> {
        match self.peek() {
            Some(b'\'' | b'"') => self.string().map(PyValue::Str),
            Some(open @ (b'(' | b'[')) => {
                let close = if open == b'(' { b')' } else { b']' };
                self.i += 1;
                let mut dims = Vec::new();
                loop {
                    self.ws();
                    if self.eat(close) {
                        break;
                    }
                    if open == b'[' && self.peek() == Some(b'(') {
                        // A list of fields: a structured dtype.
                        return Err("structured dtypes are not supported".into());
                    }
                    dims.push(self.int()?);
                    if dims.len() > 32 {
                        return Err("the shape has too many dimensions".into());
                    }
                    self.ws();
                    if self.eat(b',') {
                        continue;
                    }
                    self.ws();
                    self.expect(close)?;
                    break;
                }
                Ok(PyValue::Tuple(dims))
            }
            _ if self.word(b"True") => Ok(PyValue::Bool(true)),
            _ if self.word(b"False") => Ok(PyValue::Bool(false)),
            _ => Err(format!(
                "malformed header dictionary (unexpected value at offset {})",
                self.i
            )),
        }
    }

    fn int(&mut self) -> Result<u64, String> {
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(c - b'0')))
                .ok_or("a shape dimension is too large")?;
            self.i += 1;
        }
        if self.i == start {
            return Err(format!(
                "malformed shape in the header (expected a non-negative integer at offset {start})"
            ));
        }
        self.eat(b'L'); // Python 2 long literal.
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::TestDir;
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// A deterministic sample file; spin (i, y, x) is up iff (i + 3y + 5x) % 7 < 3.
    fn make(dims: usize, size: usize, n: usize) -> SampleFile {
        let rows = if dims == 2 { size } else { 1 };
        let mut spins = Vec::new();
        for i in 0..n {
            for y in 0..rows {
                let row: Vec<bool> = (0..size).map(|x| (i + 3 * y + 5 * x) % 7 < 3).collect();
                pack_row(&row, &mut spins);
            }
        }
        let model = if dims == 2 { "ising2d" } else { "ising1d" };
        SampleFile {
            dims,
            size,
            n,
            spins,
            energy: (0..n as i64).map(|i| -4 * i - 7).collect(),
            magnetization: (0..n as i64).map(|i| i * 1_000_000_007).collect(),
            chain: Some((0..n as i64).map(|i| i % 2).collect()),
            sweep: (dims == 2).then(|| (0..n as i64).map(|i| 100 + i).collect()),
            meta: json!({"model": model, "size": size, "beta": 0.44, "note": "ü"}),
        }
    }

    fn to_bytes(f: &SampleFile) -> Vec<u8> {
        let mut c = io::Cursor::new(Vec::new());
        write_npz_to(&mut c, f).unwrap();
        c.into_inner()
    }

    /// Replaces the first occurrence of `from` by `to` (same length).
    fn patch(bytes: &mut [u8], from: &[u8], to: &[u8]) {
        assert_eq!(from.len(), to.len());
        let at = bytes
            .windows(from.len())
            .position(|w| w == from)
            .expect("pattern not found");
        bytes[at..at + to.len()].copy_from_slice(to);
    }

    /// Writes an archive with arbitrary arrays given as raw `.npy` bytes.
    fn raw_archive(arrays: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let opts =
            zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, npy) in arrays {
            zip.start_file(format!("{name}.npy"), opts).unwrap();
            zip.write_all(npy).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    fn npy_i64(v: &[i64]) -> Vec<u8> {
        let data: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        npy_raw("<i8", &format!("({},)", v.len()), &data)
    }

    fn npy_raw(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut text =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (text.len() + 11) % 64 != 0 {
            text.push(' ');
        }
        text.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((text.len() as u16).to_le_bytes());
        out.extend(text.as_bytes());
        out.extend(data);
        out
    }

    fn meta_npy(meta: &Value) -> Vec<u8> {
        let b = serde_json::to_vec(meta).unwrap();
        npy_raw("|u1", &format!("({},)", b.len()), &b)
    }

    #[test]
    fn round_trip_files() {
        let d = TestDir::new("npz-rt");
        for dims in [1, 2] {
            for size in [5, 8, 13] {
                let f = make(dims, size, 3);
                let p = d.path().join(format!("s{dims}-{size}.npz"));
                write_npz(&p, false, &f).unwrap();
                let g = read_npz(&p).unwrap();
                assert_eq!(f, g);
                // Spot-check the bit layout through the accessors.
                for i in 0..3 {
                    for y in 0..if dims == 2 { size } else { 1 } {
                        for x in 0..size {
                            assert_eq!(g.spin(i, y, x), (i + 3 * y + 5 * x) % 7 < 3);
                        }
                    }
                }
                assert_eq!(read_npz_bytes(&std::fs::read(&p).unwrap()).unwrap(), f);
                // No overwrite without force.
                assert!(write_npz(&p, false, &f).is_err());
                write_npz(&p, true, &f).unwrap();
            }
        }
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 6);
    }

    #[test]
    fn multi_channel_round_trip() {
        let mut f = make(2, 5, 3);
        f.meta["channels"] = json!(2);
        let mut two = Vec::new();
        for i in 0..3 {
            let one = &f.spins[i * 5..(i + 1) * 5];
            two.extend_from_slice(one);
            two.extend(one.iter().map(|b| !b & 0xF8));
        }
        f.spins = two;
        assert_eq!(f.spins_shape(), vec![3, 2, 5, 1]);
        let back = read_npz_bytes(&to_bytes(&f)).unwrap();
        assert_eq!(back, f);
        assert_eq!(back.sample(1).len(), 10);
        // A channel count that does not match the data is refused.
        let mut g = f.clone();
        g.meta["channels"] = json!(3);
        assert!(g.validate().is_err());
        g.meta["channels"] = json!(0);
        assert!(g.validate().unwrap_err().to_string().contains("channels"));
    }

    #[test]
    fn packbits_layout() {
        let mut v = Vec::new();
        pack_row(
            &[
                true, false, false, false, false, false, false, true, true, true,
            ],
            &mut v,
        );
        assert_eq!(v, [0b1000_0001, 0b1100_0000]);
        assert_eq!(SampleFile::bytes_per_sample(2, 13), 26);
        assert_eq!(SampleFile::bytes_per_sample(1, 13), 2);
        // The stored .npy headers are exactly what NumPy writes/reads.
        let bytes = to_bytes(&make(2, 13, 3));
        let find = |pat: &[u8]| bytes.windows(pat.len()).any(|w| w == pat);
        assert!(find(
            b"'descr': '|u1', 'fortran_order': False, 'shape': (3, 13, 2, )"
        ));
        assert!(find(
            b"'descr': '<i8', 'fortran_order': False, 'shape': (3, )"
        ));
    }

    #[test]
    fn header_parser() {
        let (d, f, s) =
            parse_dict("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }   \n").unwrap();
        assert_eq!((d.as_str(), f, s), ("<i8", false, vec![3]));
        let (_, f, s) =
            parse_dict("{\"shape\":[2L,3],\"fortran_order\":True,\"descr\":\"|u1\"}").unwrap();
        assert_eq!((f, s), (true, vec![2, 3]));
        assert_eq!(
            parse_dict("{'descr': '<i8', 'fortran_order': False, 'shape': (), }")
                .unwrap()
                .2,
            Vec::<u64>::new()
        );
        for bad in [
            "",
            "{",
            "{'descr': '<i8'}",
            "{'descr': [('a', '<i8')], 'fortran_order': False, 'shape': (3,)}",
            "{'descr': '<i8', 'fortran_order': False, 'shape': (-3,)}",
            "{'descr': '<i8', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
            "{'descr': '<i8', 'descr': '<i8', 'fortran_order': False, 'shape': (3,)}",
            "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), 'x': 1}",
            "{'descr': '<i8', 'fortran_order': False, 'shape': (3,)} junk",
            "{'descr': '<i8\\', 'fortran_order': False, 'shape': (3,)}",
            "{'descr': '<i8', 'fortran_order': 0, 'shape': (3,)}",
            &format!(
                "{{'descr': '<i8', 'fortran_order': False, 'shape': ({})}}",
                "[".repeat(50000)
            ),
        ] {
            assert!(parse_dict(bad).is_err(), "{bad:.80}");
        }
    }

    fn err_of(bytes: &[u8]) -> String {
        read_npz_bytes(bytes).unwrap_err().to_string()
    }

    #[test]
    fn truncated_and_garbage() {
        let bytes = to_bytes(&make(2, 5, 3));
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            let e = read_npz_bytes(&bytes[..cut]).unwrap_err();
            assert!(matches!(e, NpzError::Zip(_)), "{cut}: {e}");
        }
        assert!(matches!(
            read_npz_bytes(b"hello world"),
            Err(NpzError::Zip(_))
        ));
        // Data bytes of spins cut short inside a consistent archive.
        let f = make(1, 8, 3);
        let npz = raw_archive(&[
            ("spins", npy_raw("|u1", "(3, 1)", &f.spins[..2])),
            ("energy", npy_i64(&f.energy)),
            ("magnetization", npy_i64(&f.magnetization)),
            ("meta", meta_npy(&f.meta)),
        ]);
        let e = err_of(&npz);
        assert!(e.contains("spins") && e.contains("entry holds"), "{e}");
    }

    #[test]
    fn missing_array_and_wrong_dtype() {
        let f = make(1, 8, 3);
        let mut arrays = vec![
            ("spins", npy_raw("|u1", "(3, 1)", &f.spins)),
            ("energy", npy_i64(&f.energy)),
            ("magnetization", npy_i64(&f.magnetization)),
            ("meta", meta_npy(&f.meta)),
        ];
        assert_eq!(
            read_npz_bytes(&raw_archive(&arrays)).unwrap().spins,
            f.spins
        );
        let e = read_npz_bytes(&raw_archive(&arrays[..3])).unwrap_err();
        assert!(matches!(e, NpzError::Missing("meta")), "{e}");

        arrays[1].1 = npy_raw("<i4", "(3,)", &[0; 12]);
        let e = read_npz_bytes(&raw_archive(&arrays)).unwrap_err();
        assert!(matches!(e, NpzError::Dtype { .. }), "{e}");
        assert!(e.to_string().contains("energy") && e.to_string().contains("<i4"));
        arrays[1].1 = npy_raw(">i8", "(3,)", &[0; 24]);
        assert!(matches!(
            read_npz_bytes(&raw_archive(&arrays)),
            Err(NpzError::Dtype { .. })
        ));

        // Fortran order.
        arrays[1].1 = npy_i64(&f.energy);
        let mut spins = npy_raw("|u1", "(3, 1)", &f.spins);
        patch(&mut spins, b"False", b"True ");
        arrays[0].1 = spins;
        let e = read_npz_bytes(&raw_archive(&arrays)).unwrap_err();
        assert!(matches!(e, NpzError::FortranOrder(_)), "{e}");

        // A list (structured) descr.
        arrays[0].1 = npy_raw("|u1", "(3, 1)", &f.spins);
        let mut meta = meta_npy(&f.meta);
        patch(&mut meta, b"'|u1'", b"[   ]");
        arrays[3].1 = meta;
        assert!(matches!(
            read_npz_bytes(&raw_archive(&arrays)),
            Err(NpzError::BadNpy { .. })
        ));

        // Unsupported model and bad meta.
        arrays[3].1 = meta_npy(&json!({"model": "potts2d", "size": 8}));
        let e = err_of(&raw_archive(&arrays));
        assert!(e.contains("unsupported model `potts2d`"), "{e}");
        arrays[3].1 = meta_npy(&json!([1, 2]));
        assert!(err_of(&raw_archive(&arrays)).contains("not a JSON object"));
        arrays[3].1 = npy_raw("|u1", "(3,)", b"\xff{}");
        assert!(err_of(&raw_archive(&arrays)).contains("not valid UTF-8 JSON"));
    }

    #[test]
    fn mismatched_shapes() {
        let f = make(2, 8, 3);
        let arrays = |spins_shape: &str, spins: &[u8], mag: &[i64]| {
            raw_archive(&[
                ("spins", npy_raw("|u1", spins_shape, spins)),
                ("energy", npy_i64(&f.energy)),
                ("magnetization", npy_i64(mag)),
                ("meta", meta_npy(&f.meta)),
            ])
        };
        let e = err_of(&arrays("(3, 8, 1)", &f.spins, &f.magnetization[..2]));
        assert_eq!(e, "magnetization has shape (2,) but energy has shape (3,)");
        let e = err_of(&arrays("(2, 12, 1)", &f.spins, &f.magnetization));
        assert_eq!(
            e,
            "spins has shape (2, 12, 1) but meta says model ising2d, size 8, which with N = 3 needs (3, 8, 1)"
        );
        let mut z = arrays("(3, 8, 1)", &f.spins, &f.magnetization);
        assert!(read_npz_bytes(&z).is_ok());
        patch(&mut z, b"'shape': (3,)", b"'shape': (9,)");
        let e = err_of(&z);
        assert!(e.contains("energy") && e.contains("entry holds"), "{e}");
        // File errors name the file.
        let d = TestDir::new("npz-shape");
        let p = d.path().join("bad.npz");
        std::fs::write(&p, arrays("(3, 8, 1)", &f.spins, &f.magnetization[..2])).unwrap();
        let e = read_npz(&p).unwrap_err().to_string();
        assert!(e.contains("bad.npz") && e.contains("magnetization"), "{e}");
        let e = read_npz(&d.path().join("none.npz"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("none.npz"), "{e}");
    }

    #[test]
    fn huge_claims_are_refused() {
        let f = make(1, 8, 3);
        let spins = npy_raw("|u1", "(3000000000000, 1)", &f.spins);
        let npz = raw_archive(&[
            ("spins", spins),
            ("energy", npy_i64(&f.energy)),
            ("magnetization", npy_i64(&f.magnetization)),
            ("meta", meta_npy(&json!({"model": "ising1d", "size": 8}))),
        ]);
        let e = err_of(&npz);
        assert!(e.contains("spins has shape (3000000000000, 1)"), "{e}");
        let meta = npy_raw("|u1", "(18446744073709551615,)", b"{}");
        let npz = raw_archive(&[
            ("spins", npy_raw("|u1", "(3, 1)", &f.spins)),
            ("energy", npy_i64(&f.energy)),
            ("magnetization", npy_i64(&f.magnetization)),
            ("meta", meta),
        ]);
        let e = err_of(&npz);
        assert!(e.contains("more than the archive can hold"), "{e}");
        // Header length claim of 4 GiB (format 2.0).
        let mut h = b"\x93NUMPY\x02\x00\xff\xff\xff\xff".to_vec();
        h.extend([b' '; 16]);
        let npz = raw_archive(&[
            ("spins", npy_raw("|u1", "(3, 1)", &f.spins)),
            ("energy", npy_i64(&f.energy)),
            ("magnetization", npy_i64(&f.magnetization)),
            ("meta", h),
        ]);
        assert!(err_of(&npz).contains("too many"));
    }

    #[test]
    fn padding_and_empty() {
        let f = make(2, 5, 3);
        let mut g = f.clone();
        g.spins[5 + 1] |= 1; // sample 1, row 1, padding bit
        let e = g.validate().unwrap_err();
        assert!(matches!(e, NpzError::Padding { sample: 1, row: 1 }), "{e}");
        let mut bytes = to_bytes(&f);
        // Re-create the archive with the bad spins but valid everything else.
        let npz = raw_archive(&[
            ("spins", npy_raw("|u1", "(3, 5, 1)", &g.spins)),
            ("energy", npy_i64(&f.energy)),
            ("magnetization", npy_i64(&f.magnetization)),
            ("meta", meta_npy(&f.meta)),
        ]);
        assert!(matches!(
            read_npz_bytes(&npz),
            Err(NpzError::Padding { sample: 1, row: 1 })
        ));
        assert!(write_npz_to(io::Cursor::new(Vec::new()), &g).is_err());
        // N = 0.
        let npz = raw_archive(&[
            ("spins", npy_raw("|u1", "(0, 5, 1)", &[])),
            ("energy", npy_i64(&[])),
            ("magnetization", npy_i64(&[])),
            ("meta", meta_npy(&f.meta)),
        ]);
        assert!(matches!(read_npz_bytes(&npz), Err(NpzError::Empty)));
        // Corrupt data byte → checksum error.
        let at = bytes.windows(6).position(|w| w == b"\x93NUMPY").unwrap() + 128;
        bytes[at] ^= 0x80;
        let e = read_npz_bytes(&bytes).unwrap_err();
        assert!(matches!(e, NpzError::Corrupt { .. }), "{e}");
    }

    #[test]
    fn writer_validation() {
        let mut f = make(1, 8, 3);
        f.energy.pop();
        assert!(write_npz_to(io::Cursor::new(Vec::new()), &f).is_err());
        let mut f = make(1, 8, 3);
        f.meta = json!({"model": "ising2d", "size": 8});
        assert!(f.validate().is_err());
        f.meta = json!({"model": "ising1d", "size": 9});
        assert!(f.validate().is_err());
        let mut f = make(1, 8, 3);
        f.chain = Some(vec![0]);
        assert!(f.validate().is_err());
        let d = TestDir::new("npz-w");
        let p = d.path().join("x.npz");
        assert!(write_npz(&p, false, &f).is_err());
        assert!(!p.exists());
    }

    #[test]
    fn aes_extra_field_is_refused() {
        // zip 0.6 would panic (unwrap on InvalidPassword) on this entry.
        let f = make(1, 8, 3);
        let mut zip = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        for (name, npy) in [
            ("spins", npy_raw("|u1", "(3, 1)", &f.spins)),
            ("energy", npy_i64(&f.energy)),
            ("magnetization", npy_i64(&f.magnetization)),
        ] {
            zip.start_file(format!("{name}.npy"), zip::write::FileOptions::default())
                .unwrap();
            zip.write_all(&npy).unwrap();
        }
        zip.start_file_with_extra_data("meta.npy", zip::write::FileOptions::default())
            .unwrap();
        zip.end_local_start_central_extra_data().unwrap();
        zip.write_all(&[0xef, 0xbe, 7, 0, 2, 0, b'A', b'E', 3, 0, 0])
            .unwrap();
        zip.end_extra_data().unwrap();
        zip.write_all(&meta_npy(&f.meta)).unwrap();
        let mut bytes = zip.finish().unwrap().into_inner();
        patch(&mut bytes, &[0xef, 0xbe, 7, 0], &[0x01, 0x99, 7, 0]);
        let e = read_npz_bytes(&bytes).unwrap_err();
        assert!(matches!(e, NpzError::Unsupported { .. }), "{e}");
    }

    #[test]
    fn numpy_compressed_style_archive() {
        // np.savez_compressed uses deflate; unknown extra arrays are ignored.
        let f = make(2, 13, 3);
        let mut zip = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let opts =
            zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, npy) in [
            ("spins", npy_raw("|u1", "(3, 13, 2)", &f.spins)),
            ("energy", npy_i64(&f.energy)),
            ("magnetization", npy_i64(&f.magnetization)),
            ("extra", npy_i64(&[1, 2])),
            ("meta", meta_npy(&f.meta)),
        ] {
            zip.start_file(format!("{name}.npy"), opts).unwrap();
            zip.write_all(&npy).unwrap();
        }
        let bytes = zip.finish().unwrap().into_inner();
        let g = read_npz_bytes(&bytes).unwrap();
        assert_eq!(g.spins, f.spins);
        assert_eq!(g.chain, None);
        // Bzip2 is refused without touching the decoder.
        let mut zip = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let opts =
            zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Bzip2);
        zip.start_file("meta.npy", opts).unwrap();
        zip.write_all(&meta_npy(&f.meta)).unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        assert!(matches!(
            read_npz_bytes(&bytes),
            Err(NpzError::Unsupported { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn mutations_never_panic(
            muts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut bytes = to_bytes(&make(2, 5, 3));
            for (i, b) in muts {
                let k = i.index(bytes.len());
                bytes[k] = b;
            }
            if truncate {
                let k = cut.index(bytes.len());
                bytes.truncate(k);
            }
            let _ = read_npz_bytes(&bytes);
        }
    }
}
