//! Datasets of (V, E) pairs built from sample files (docs/method.md#geometry, #training).
//!
//! - [`SampleSet::load`] reads an Ising sample file (`ising1d`, `ising2d`, possibly
//!   multi-channel coarse data) or a dimer sample file; the model comes from the file's
//!   `meta`.
//! - [`build`] cuts the samples into pairs: block corners on a stride grid of every sample,
//!   a held-out split **by sample** (the pairs of one sample are correlated), optional
//!   global spin-flip augmentation for ±1 data (docs/method.md#training: both magnetisation
//!   sectors must be present), and a cap on the number of pairs (a seeded random subset
//!   when there are more), so that memory stays bounded.
//!
//! Values: ±1 for spins, 0/1 for dimer arrays. Multi-channel data (C > 1 values per site)
//! give V and E per channel, concatenated channel-major (|V| = C · block sites).
//!
//! Dimer data: V and E are blocks of the 2L×2L decorated array (docs/method.md#dimers-and-the-noise-decoration). With
//! input `links` the same layout is used with the noise entries absent (zero); the
//! training then keeps their weights at exactly 0 ([`SampleSet::fixed_zero`]). Block
//! corners must lie on vertices (even stride), so that a weight always sits on the same
//! kind of entry.
//!
//! Everything is deterministic given the seed and independent of the thread count.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use rayon::prelude::*;
use rsmi_core::learn::geometry::{Block, Chain, Grid01, PackedSpins, Square, extract};
use rsmi_core::rng::{Xoshiro256PlusPlus, stream, uniform_below};
use serde_json::{Value, json};

use crate::io::dimer_npz::{DimerFile, read_dimer_npz};
use crate::io::npz::{NpzError, SampleFile, read_npz};
use crate::learn::rule_file::{GeometryKind, GeometrySpec};

/// Stream job of the sample split.
const JOB_SPLIT: u64 = 0x5eed_0001;
/// Stream job of the pair subsets (lane 0: training, 1: held-out).
const JOB_SUBSET: u64 = 0x5eed_0002;

/// The physical model of a sample file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// 1D Ising ring.
    Ising1d,
    /// 2D Ising torus.
    Ising2d,
    /// Close-packed dimers.
    Dimer,
}

impl Model {
    /// Name in files (`ising1d`, `ising2d`, `dimer`).
    pub fn name(self) -> &'static str {
        match self {
            Model::Ising1d => "ising1d",
            Model::Ising2d => "ising2d",
            Model::Dimer => "dimer",
        }
    }
}

/// What V and E are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Input {
    /// ±1 Ising spins (the only input of Ising data).
    Spins,
    /// Dimer link occupations in the 2L×2L decorated layout, noise entries absent.
    Links,
    /// The 2L×2L noise-decorated dimer array.
    Decorated,
}

impl Input {
    /// Name in files.
    pub fn name(self) -> &'static str {
        match self {
            Input::Spins => "spins",
            Input::Links => "links",
            Input::Decorated => "decorated",
        }
    }
}

#[derive(Debug)]
enum Store {
    Ising(SampleFile),
    Dimer(DimerFile),
}

/// A sample file in memory, with what the pair extraction needs to know about it.
#[derive(Debug)]
pub struct SampleSet {
    /// The file.
    pub path: PathBuf,
    /// The model from `meta`.
    pub model: Model,
    /// The input used (spins, links or decorated).
    pub input: Input,
    /// Lattice rows of one channel (1 for a chain; 2L for dimer arrays).
    pub rows: usize,
    /// Lattice columns.
    pub cols: usize,
    /// Values per site.
    pub channels: usize,
    /// Number of samples.
    pub n: usize,
    store: Store,
}

/// Is `e` the reader's "this is not an Ising model" error for a dimer file?
fn is_dimer_model(e: &NpzError) -> bool {
    match e {
        NpzError::InFile { cause, .. } => is_dimer_model(cause),
        NpzError::UnsupportedModel(m) => m == crate::io::dimer_npz::MODEL,
        _ => false,
    }
}

impl SampleSet {
    /// Read `path` (any supported model). `input`: `None` picks spins for Ising data and,
    /// for dimer data, `decorated` when the file has it, else `links`.
    pub fn load(path: &Path, input: Option<Input>) -> Result<SampleSet> {
        match read_npz(path) {
            Ok(file) => {
                if let Some(i) = input.filter(|&i| i != Input::Spins) {
                    bail!(
                        "--input {} applies to dimer data only; {} holds {} samples",
                        i.name(),
                        path.display(),
                        meta_model(&file.meta)
                    );
                }
                let (model, rows) = if file.dims == 1 {
                    (Model::Ising1d, 1)
                } else {
                    (Model::Ising2d, file.size)
                };
                Ok(SampleSet {
                    path: path.to_path_buf(),
                    model,
                    input: Input::Spins,
                    rows,
                    cols: file.size,
                    channels: file.channels(),
                    n: file.n,
                    store: Store::Ising(file),
                })
            }
            Err(e) if is_dimer_model(&e) => {
                let file = read_dimer_npz(path)?;
                let input = match input {
                    None => {
                        if file.decorated.is_some() {
                            Input::Decorated
                        } else {
                            Input::Links
                        }
                    }
                    Some(Input::Spins) => bail!(
                        "--input spins applies to Ising data; {} holds dimer samples \
                         (use links or decorated)",
                        path.display()
                    ),
                    Some(Input::Decorated) if file.decorated.is_none() => bail!(
                        "{} has no decorated arrays (sample it with --decorate); use --input links",
                        path.display()
                    ),
                    Some(i) => i,
                };
                Ok(SampleSet {
                    path: path.to_path_buf(),
                    model: Model::Dimer,
                    input,
                    rows: 2 * file.size,
                    cols: 2 * file.size,
                    channels: 1,
                    n: file.n,
                    store: Store::Dimer(file),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The file's `meta`.
    pub fn meta(&self) -> &Value {
        match &self.store {
            Store::Ising(f) => &f.meta,
            Store::Dimer(f) => &f.meta,
        }
    }

    /// The lattice size L of `meta`.
    pub fn size(&self) -> usize {
        match &self.store {
            Store::Ising(f) => f.size,
            Store::Dimer(f) => f.size,
        }
    }

    /// Whether the values are ±1 spins.
    pub fn is_spin(&self) -> bool {
        self.input == Input::Spins
    }

    /// The geometry kind of this model (chain for ising1d, square otherwise).
    pub fn geometry_kind(&self) -> GeometryKind {
        if self.model == Model::Ising1d {
            GeometryKind::Chain
        } else {
            GeometryKind::Square
        }
    }

    /// The `data` block of a rule file: path, model, input and `meta.config`.
    pub fn describe(&self) -> Value {
        json!({
            "file": self.path.display().to_string(),
            "model": self.model.name(),
            "input": self.input.name(),
            "size": self.size(),
            "samples": self.n,
            "channels": self.channels,
            "meta_config": self.meta().get("config").cloned().unwrap_or(Value::Null),
        })
    }

    /// `meta.config.<key>` as a number, if present.
    pub fn config_number(&self, key: &str) -> Option<f64> {
        self.meta().get("config")?.get(key)?.as_f64()
    }

    /// Visible units whose weights are fixed at 0: the noise entries of a block with
    /// input `links` (offset (r, c) from an even corner is a noise entry when r and c have
    /// the same parity). Channel-major like V. Empty when nothing is fixed.
    pub fn fixed_zero(&self, geometry: &Geometry) -> Vec<bool> {
        if self.input != Input::Links {
            return Vec::new();
        }
        (0..geometry.visible_len())
            .map(|k| {
                let (r, c) = geometry.visible_offset(k);
                r.rem_euclid(2) == c.rem_euclid(2)
            })
            .collect()
    }
}

fn meta_model(meta: &Value) -> String {
    meta.get("model")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string()
}

/// A block geometry of either kind (delegates to the core's [`Square`] / [`Chain`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Geometry {
    /// 2D.
    Square(Square),
    /// 1D.
    Chain(Chain),
}

impl Geometry {
    /// The geometry of a rule-file spec.
    pub fn from_spec(spec: &GeometrySpec) -> Result<Geometry> {
        Ok(match spec.kind {
            GeometryKind::Square => {
                Geometry::Square(Square::new(spec.block, spec.buffer, spec.env)?)
            }
            GeometryKind::Chain => Geometry::Chain(Chain::new(spec.block, spec.buffer, spec.env)?),
        })
    }

    /// Window side W = block + 2(buffer + env).
    pub fn window(&self) -> usize {
        match self {
            Geometry::Square(g) => g.window(),
            Geometry::Chain(g) => g.window(),
        }
    }
}

impl Block for Geometry {
    fn visible_len(&self) -> usize {
        match self {
            Geometry::Square(g) => g.visible_len(),
            Geometry::Chain(g) => g.visible_len(),
        }
    }
    fn env_len(&self) -> usize {
        match self {
            Geometry::Square(g) => g.env_len(),
            Geometry::Chain(g) => g.env_len(),
        }
    }
    fn visible_offset(&self, k: usize) -> (isize, isize) {
        match self {
            Geometry::Square(g) => g.visible_offset(k),
            Geometry::Chain(g) => g.visible_offset(k),
        }
    }
    fn env_offset(&self, k: usize) -> (isize, isize) {
        match self {
            Geometry::Square(g) => g.env_offset(k),
            Geometry::Chain(g) => g.env_offset(k),
        }
    }
    fn check(&self, rows: usize, cols: usize) -> Result<(), rsmi_core::Error> {
        match self {
            Geometry::Square(g) => g.check(rows, cols),
            Geometry::Chain(g) => g.check(rows, cols),
        }
    }
}

/// How to cut samples into pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct PairConfig {
    /// Geometry (kind must match the data).
    pub geometry: GeometrySpec,
    /// Stride of the block-corner grid.
    pub stride: usize,
    /// Fraction of the samples held out, in (0, 1).
    pub heldout: f64,
    /// Most training pairs (a seeded random subset beyond); the held-out cap is
    /// `max_pairs · heldout / (1 − heldout)`, at least 1.
    pub max_pairs: usize,
    /// Global spin-flip augmentation (every sample also enters flipped; ±1 data only).
    pub flip: bool,
    /// Seed of the split and the subsets.
    pub seed: u64,
}

impl PairConfig {
    /// JSON of the settings.
    pub fn to_json(&self) -> Value {
        json!({
            "stride": self.stride,
            "heldout_fraction": self.heldout,
            "max_pairs": self.max_pairs,
            "flip_augmentation": self.flip,
            "split": "by sample (seeded permutation; the held-out samples' pairs are never trained on)",
            "data_seed": self.seed,
        })
    }
}

/// Pairs (V, E) as `f32` rows.
#[derive(Debug, Clone, Default)]
pub struct Pairs {
    /// |V|.
    pub nv: usize,
    /// |E|.
    pub ne: usize,
    /// Rows of |V| values.
    pub v: Vec<f32>,
    /// Rows of |E| values.
    pub e: Vec<f32>,
    /// The sample each pair came from (rows are sorted by sample).
    pub sample: Vec<u32>,
}

impl Pairs {
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.sample.len()
    }
    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.sample.is_empty()
    }
}

/// Training and held-out pairs, with their geometry.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The geometry.
    pub geometry: Geometry,
    /// Training pairs.
    pub train: Pairs,
    /// Held-out pairs.
    pub heldout: Pairs,
    /// Samples in the training split.
    pub train_samples: usize,
    /// Samples in the held-out split.
    pub heldout_samples: usize,
    /// Pairs available before the caps (training, held-out).
    pub available: (u64, u64),
}

/// Check that a geometry spec fits the data (kind, window size, dimer stride); one
/// sentence per mistake.
pub fn check_geometry(set: &SampleSet, spec: &GeometrySpec, stride: usize) -> Result<Geometry> {
    if spec.kind != set.geometry_kind() {
        bail!(
            "a {:?} geometry does not fit {} data",
            spec.kind,
            set.model.name()
        );
    }
    if spec.block == 0 {
        bail!("--block must be at least 1");
    }
    if spec.env == 0 {
        bail!("--env must be at least 1");
    }
    let g = Geometry::from_spec(spec)?;
    let side = if set.model == Model::Dimer {
        "the 2L×2L decorated array"
    } else {
        "the lattice"
    };
    if g.check(set.rows, set.cols).is_err() {
        bail!(
            "the window block + 2·(buffer + env) = {} is larger than {side} ({} sites per side)",
            g.window(),
            set.cols
        );
    }
    if stride == 0 {
        bail!("--stride must be at least 1");
    }
    if set.model == Model::Dimer && stride % 2 == 1 {
        bail!(
            "dimer data need an even --stride (got {stride}), so that every block corner is a \
             vertex entry of the decorated array"
        );
    }
    Ok(g)
}

/// Floyd's sampling of `k` distinct indices below `n` (sorted), or all of them when
/// `k ≥ n`.
fn subset(n: u64, k: u64, rng: &mut Xoshiro256PlusPlus) -> Vec<u64> {
    if k >= n {
        return (0..n).collect();
    }
    let mut chosen = BTreeSet::new();
    for j in n - k..n {
        let t = uniform_below(rng, j + 1);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    chosen.into_iter().collect()
}

/// A sample's values as sources, one per channel.
enum SampleSource<'a> {
    Packed(Vec<PackedSpins<'a>>),
    Grid(Grid01<'a>),
    Owned(Vec<u8>),
}

fn links_to_grid(links: &[u8], l: usize) -> Vec<u8> {
    let mut g = vec![0u8; 4 * l * l];
    let w = 2 * l;
    for y in 0..l {
        for x in 0..l {
            g[(2 * y) * w + 2 * x + 1] = links[y * l + x];
            g[(2 * y + 1) * w + 2 * x] = links[l * l + y * l + x];
        }
    }
    g
}

impl SampleSet {
    fn source(&self, i: usize) -> Result<SampleSource<'_>> {
        Ok(match &self.store {
            Store::Ising(f) => {
                let bytes = f.sample(i);
                let per = bytes.len() / self.channels;
                let v = bytes
                    .chunks_exact(per)
                    .map(|b| PackedSpins::new(b, self.rows, self.cols))
                    .collect::<Result<Vec<_>, _>>()?;
                SampleSource::Packed(v)
            }
            Store::Dimer(f) => match self.input {
                Input::Decorated => {
                    let d = f
                        .sample_decorated(i)
                        .ok_or_else(|| anyhow::anyhow!("the file has no decorated arrays"))?;
                    SampleSource::Grid(Grid01::new(d, self.rows, self.cols)?)
                }
                _ => SampleSource::Owned(links_to_grid(f.sample_links(i), f.size)),
            },
        })
    }
}

/// Extract the pair (`sample`, `flip`, `position`) into `v`, `e` (channel-major).
#[allow(clippy::too_many_arguments)]
fn extract_pair(
    set: &SampleSet,
    g: &Geometry,
    src: &SampleSource<'_>,
    corner: (usize, usize),
    flip: bool,
    v: &mut [f32],
    e: &mut [f32],
    scratch: &mut (Vec<f32>, Vec<f32>),
) -> Result<()> {
    match src {
        SampleSource::Packed(chs) if chs.len() == 1 => extract(g, &chs[0], corner, flip, v, e)?,
        SampleSource::Packed(chs) => {
            let (nv, ne) = (g.visible_len(), g.env_len());
            scratch.0.resize(nv, 0.0);
            scratch.1.resize(ne, 0.0);
            for (c, s) in chs.iter().enumerate() {
                extract(g, s, corner, flip, &mut scratch.0, &mut scratch.1)?;
                v[c * nv..(c + 1) * nv].copy_from_slice(&scratch.0);
                e[c * ne..(c + 1) * ne].copy_from_slice(&scratch.1);
            }
        }
        SampleSource::Grid(s) => extract(g, s, corner, flip, v, e)?,
        SampleSource::Owned(bytes) => {
            let s = Grid01::new(bytes, set.rows, set.cols)?;
            extract(g, &s, corner, flip, v, e)?
        }
    }
    Ok(())
}

/// Pairs of the listed samples (sorted), every position and copy, capped at `cap` by a
/// seeded subset.
#[allow(clippy::too_many_arguments)]
fn pairs_of(
    set: &SampleSet,
    g: &Geometry,
    samples: &[u32],
    stride: usize,
    copies: u64,
    cap: usize,
    rng: &mut Xoshiro256PlusPlus,
    (part, parts): (usize, usize),
) -> Result<(Pairs, u64)> {
    let positions = g.positions(set.rows, set.cols, stride)? as u64;
    let per_sample = positions * copies;
    let total = samples.len() as u64 * per_sample;
    let chosen = subset(total, cap as u64, rng);
    // Part `part` of `parts`: a contiguous range of the chosen pairs (data-parallel).
    let chosen = {
        let n = chosen.len();
        chosen[part_range(n, part, parts)].to_vec()
    };
    let (nv, ne) = (g.visible_len() * set.channels, g.env_len() * set.channels);
    let n = chosen.len();
    let mut pairs = Pairs {
        nv,
        ne,
        v: vec![0.0; n * nv],
        e: vec![0.0; n * ne],
        sample: chosen
            .iter()
            .map(|&i| samples[(i / per_sample) as usize])
            .collect(),
    };
    const CHUNK: usize = 2048;
    pairs
        .v
        .par_chunks_mut(CHUNK * nv)
        .zip(pairs.e.par_chunks_mut(CHUNK * ne))
        .enumerate()
        .try_for_each(|(c, (vc, ec))| -> Result<()> {
            let mut current: Option<(u64, SampleSource<'_>)> = None;
            let mut scratch = (Vec::new(), Vec::new());
            for (k, (vr, er)) in vc
                .chunks_exact_mut(nv)
                .zip(ec.chunks_exact_mut(ne))
                .enumerate()
            {
                let idx = chosen[c * CHUNK + k];
                let si = idx / per_sample;
                let rest = idx % per_sample;
                let (flip, pos) = (rest / positions == 1, rest % positions);
                if current.as_ref().is_none_or(|(s, _)| *s != si) {
                    current = Some((si, set.source(samples[si as usize] as usize)?));
                }
                let src = &current.as_ref().expect("set above").1;
                let corner = g.position(set.rows, set.cols, stride, pos as usize)?;
                extract_pair(set, g, src, corner, flip, vr, er, &mut scratch)?;
            }
            Ok(())
        })?;
    Ok((pairs, total))
}

/// Rows of part `part` of `parts` of a list of `n`: [⌊part·n/parts⌋, ⌊(part+1)·n/parts⌋).
pub fn part_range(n: usize, part: usize, parts: usize) -> std::ops::Range<usize> {
    let parts = parts.max(1);
    let at = |k: usize| ((k as u128 * n as u128) / parts as u128) as usize;
    at(part.min(parts))..at((part + 1).min(parts))
}

/// Build the training and held-out pairs (see the module docs).
pub fn build(set: &SampleSet, cfg: &PairConfig) -> Result<Dataset> {
    build_part(set, cfg, (0, 1))
}

/// Part `part` of `parts` of the data set [`build`] gives: the same split, subsets and
/// row order, each of the training and held-out lists cut into `parts` contiguous ranges
/// ([`part_range`]); `available` and the sample counts are those of the whole set.
pub fn build_part(set: &SampleSet, cfg: &PairConfig, part: (usize, usize)) -> Result<Dataset> {
    let g = check_geometry(set, &cfg.geometry, cfg.stride)?;
    if !(cfg.heldout > 0.0 && cfg.heldout < 1.0) {
        bail!(
            "--heldout must be a fraction strictly between 0 and 1 (got {})",
            cfg.heldout
        );
    }
    if cfg.max_pairs == 0 {
        bail!("--max-pairs must be at least 1");
    }
    if set.n < 2 {
        bail!(
            "{} holds {} sample; a held-out split by sample needs at least 2",
            set.path.display(),
            set.n
        );
    }
    if cfg.flip && !set.is_spin() {
        bail!("global spin-flip augmentation needs ±1 spin data (use --flip off for dimer data)");
    }
    // Split by sample: a seeded permutation; the first n_h samples are held out.
    let mut order: Vec<u32> = (0..set.n as u32).collect();
    let mut rng = stream(cfg.seed, JOB_SPLIT, 0);
    for i in (1..order.len()).rev() {
        let j = uniform_below(&mut rng, i as u64 + 1) as usize;
        order.swap(i, j);
    }
    let n_h = ((cfg.heldout * set.n as f64).round() as usize).clamp(1, set.n - 1);
    let mut held: Vec<u32> = order[..n_h].to_vec();
    let mut train: Vec<u32> = order[n_h..].to_vec();
    held.sort_unstable();
    train.sort_unstable();
    let copies = if cfg.flip { 2 } else { 1 };
    let held_cap =
        ((cfg.max_pairs as f64 * cfg.heldout / (1.0 - cfg.heldout)).round() as usize).max(1);
    let (train_pairs, avail_t) = pairs_of(
        set,
        &g,
        &train,
        cfg.stride,
        copies,
        cfg.max_pairs,
        &mut stream(cfg.seed, JOB_SUBSET, 0),
        part,
    )?;
    let (held_pairs, avail_h) = pairs_of(
        set,
        &g,
        &held,
        cfg.stride,
        copies,
        held_cap,
        &mut stream(cfg.seed, JOB_SUBSET, 1),
        part,
    )?;
    Ok(Dataset {
        geometry: g,
        train: train_pairs,
        heldout: held_pairs,
        train_samples: train.len(),
        heldout_samples: held.len(),
        available: (avail_t, avail_h),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floyd_subset_is_sorted_distinct_and_seeded() {
        let mut r = stream(1, 2, 3);
        let s = subset(1000, 100, &mut r);
        assert_eq!(s.len(), 100);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert!(s.iter().all(|&x| x < 1000));
        let s2 = subset(1000, 100, &mut stream(1, 2, 3));
        assert_eq!(s, s2);
        assert_eq!(subset(5, 10, &mut r), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn links_grid_layout() {
        // L = 2: h(0,0) = 1, v(1,1) = 1.
        let mut links = vec![0u8; 8];
        links[0] = 1; // h plane, y = 0, x = 0
        links[4 + 3] = 1; // v plane, y = 1, x = 1
        let g = links_to_grid(&links, 2);
        let mut want = vec![0u8; 16];
        want[1] = 1; // X[0][1]
        want[3 * 4 + 2] = 1; // X[3][2]
        assert_eq!(g, want);
    }
}
