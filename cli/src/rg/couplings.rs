//! Pseudo-likelihood fits of lattice couplings: the renormalised couplings of a sample
//! file (raw or coarse-grained), with jackknife errors.
//!
//! # Model
//!
//! P(s) ∝ exp(Σ_a K_a S_a(s)) with spins s = ±1 (bit 1 of a sample file = +1) and the
//! operators ([`Operator`]):
//!
//! | name    | 2D (L×L torus)                                   | 1D (ring)                        |
//! |---------|--------------------------------------------------|----------------------------------|
//! | `nn`    | Σ s(x,y)[s(x+1,y) + s(x,y+1)]                     | Σ s_i s_{i+1}                    |
//! | `nn_x`  | Σ s(x,y) s(x+1,y)                                 | —                                |
//! | `nn_y`  | Σ s(x,y) s(x,y+1)                                 | —                                |
//! | `nnn`   | Σ s(x,y)[s(x+1,y+1) + s(x+1,y−1)]                 | Σ s_i s_{i+2}                    |
//! | `nnn_a` | Σ s(x,y) s(x+1,y+1)                               | —                                |
//! | `nnn_b` | Σ s(x,y) s(x+1,y−1)                               | —                                |
//! | `nn3`   | Σ s(x,y)[s(x+2,y) + s(x,y+2)]                     | Σ s_i s_{i+3}                    |
//! | `plaq`  | Σ s(x,y) s(x+1,y) s(x,y+1) s(x+1,y+1)             | Σ s_i s_{i+1} s_{i+2} s_{i+3}    |
//! | `field` | Σ s                                              | Σ s_i                            |
//!
//! (x is the column, y the row of a sample file.)
//!
//! # Pseudo-likelihood
//!
//! The conditional of one spin given all others is P(s_i | rest) = σ(2 s_i φ_i) with
//! φ_i = Σ_a K_a f_{a,i} and f_{a,i} = ∂S_a/∂s_i (every S_a is linear in each spin as
//! long as no term of it visits a site twice, which [`fit`] checks against L). With the
//! features x_{a,i} = s_i f_{a,i} — the sum of the terms of S_a that contain site i —
//! the log-pseudo-likelihood is PL(K) = Σ_samples Σ_i ln σ(2 K·x_i), concave in K. Its
//! gradient is Σ 2 x σ(−2K·x) and its Hessian −Σ 4 σ(2K·x) σ(−2K·x) x xᵀ.
//!
//! The features are small integers, so the data enter only through a histogram of the
//! feature vectors (one per jackknife bin, built once from the packed bytes, in parallel
//! over samples; the counts are integers, so the histograms do not depend on the number
//! of threads). Newton's method with step halving maximises PL on the weighted
//! histogram, from K = 0 for the full fit and from the full fit for each leave-one-out
//! fit. It stops when the Newton step is below [`CONVERGED_STEP`] in every coupling
//! (on separable data the step stays O(1) while PL creeps towards its supremum, so this
//! criterion never mistakes a runaway for convergence); a singular Hessian
//! (operators linearly dependent on the data, e.g. perfectly ordered samples), couplings
//! beyond ±[`K_MAX`] (separable data: PL has no maximum) or more than
//! [`MAX_ITERATIONS`] iterations are one clear error each.
//!
//! # Errors
//!
//! Jackknife over the samples in `bins` contiguous bins in file order (bin b holds
//! samples ⌊b·N/B⌋ .. ⌊(b+1)·N/B⌋). `rsmi sample` writes its files chain-major, so a
//! bin is a run of consecutive measurements of whole chains; correlations between
//! samples within a bin are harmless, and those between bins (only at bin edges) are
//! negligible when a bin holds many samples. The value is the fit to all samples; the
//! error is sqrt((B−1)/B Σ_b (K_b − K̄)²) over the B leave-one-bin-out fits K_b.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Result, bail};
use rayon::prelude::*;

use crate::io::npz::SampleFile;
use crate::progress::Progress;

/// Default number of jackknife bins.
pub const DEFAULT_BINS: usize = 20;
/// Fewest samples a fit accepts.
pub const MIN_SAMPLES: usize = 10;
/// Fewest samples per jackknife bin.
pub const MIN_PER_BIN: usize = 2;
/// Largest |K| before a fit is declared divergent.
pub const K_MAX: f64 = 20.0;
/// Most Newton iterations of one fit.
pub const MAX_ITERATIONS: usize = 100;
/// A fit has converged when the Newton step changes no coupling by more than this.
pub const CONVERGED_STEP: f64 = 1e-9;
/// Most operators in one fit (the histogram key packs one byte per operator).
pub const MAX_OPERATORS: usize = 8;

/// A lattice operator S_a (see the module docs for the definitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// Nearest neighbours (both directions in 2D).
    Nn,
    /// Nearest neighbours along x (2D only).
    NnX,
    /// Nearest neighbours along y (2D only).
    NnY,
    /// Next-nearest neighbours: the diagonals (2D), distance 2 (1D).
    Nnn,
    /// The diagonal (1, 1) alone (2D only).
    NnnA,
    /// The diagonal (1, −1) alone (2D only).
    NnnB,
    /// Third neighbours: distance 2 along the axes (2D), distance 3 (1D).
    Nn3,
    /// Four-spin plaquette (2D), four consecutive spins (1D).
    Plaq,
    /// Magnetic field Σ s.
    Field,
}

/// An offset (dx, dy) on the lattice.
type Offset = (isize, isize);

impl Operator {
    /// Every operator.
    pub const ALL: [Operator; 9] = [
        Operator::Nn,
        Operator::NnX,
        Operator::NnY,
        Operator::Nnn,
        Operator::NnnA,
        Operator::NnnB,
        Operator::Nn3,
        Operator::Plaq,
        Operator::Field,
    ];

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Operator::Nn => "nn",
            Operator::NnX => "nn_x",
            Operator::NnY => "nn_y",
            Operator::Nnn => "nnn",
            Operator::NnnA => "nnn_a",
            Operator::NnnB => "nnn_b",
            Operator::Nn3 => "nn3",
            Operator::Plaq => "plaq",
            Operator::Field => "field",
        }
    }

    /// Whether the operator exists in `dims` dimensions.
    pub fn exists_in(self, dims: usize) -> bool {
        match self {
            Operator::NnX | Operator::NnY | Operator::NnnA | Operator::NnnB => dims == 2,
            _ => dims == 1 || dims == 2,
        }
    }

    /// The operator names valid in `dims` dimensions.
    pub fn valid_names(dims: usize) -> Vec<&'static str> {
        Operator::ALL
            .iter()
            .filter(|o| o.exists_in(dims))
            .map(|o| o.name())
            .collect()
    }

    /// The default operators: `nn, nnn, nn3, plaq` in 2D, `nn, nnn` in 1D.
    pub fn defaults(dims: usize) -> Vec<Operator> {
        if dims == 2 {
            vec![Operator::Nn, Operator::Nnn, Operator::Nn3, Operator::Plaq]
        } else {
            vec![Operator::Nn, Operator::Nnn]
        }
    }

    /// Parses one operator name for a `dims`-dimensional lattice; the error is one
    /// sentence listing the valid names.
    pub fn parse(name: &str, dims: usize) -> Result<Operator> {
        if dims != 1 && dims != 2 {
            bail!("couplings are defined on 1D rings and 2D tori, not in {dims} dimensions");
        }
        let valid = Operator::valid_names(dims).join(", ");
        match Operator::ALL.iter().find(|o| o.name() == name.trim()) {
            Some(&o) if o.exists_in(dims) => Ok(o),
            Some(o) => bail!(
                "operator {} is not defined in {dims}D (valid operators: {valid})",
                o.name()
            ),
            None => bail!("unknown operator '{name}' (valid operators in {dims}D: {valid})"),
        }
    }

    /// Parses a comma-separated list and checks it with [`check_operators`].
    pub fn parse_list(list: &str, dims: usize) -> Result<Vec<Operator>> {
        let ops = list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| Operator::parse(s, dims))
            .collect::<Result<Vec<_>>>()?;
        check_operators(&ops, dims)?;
        Ok(ops)
    }

    /// The terms of S_a anchored at the origin, as lists of offsets (dx, dy); S_a is the
    /// sum over all lattice translates of these terms (dy = 0 in 1D).
    fn shapes(self, dims: usize) -> Vec<Vec<Offset>> {
        if dims == 2 {
            match self {
                Operator::Nn => vec![vec![(0, 0), (1, 0)], vec![(0, 0), (0, 1)]],
                Operator::NnX => vec![vec![(0, 0), (1, 0)]],
                Operator::NnY => vec![vec![(0, 0), (0, 1)]],
                Operator::Nnn => vec![vec![(0, 0), (1, 1)], vec![(0, 0), (1, -1)]],
                Operator::NnnA => vec![vec![(0, 0), (1, 1)]],
                Operator::NnnB => vec![vec![(0, 0), (1, -1)]],
                Operator::Nn3 => vec![vec![(0, 0), (2, 0)], vec![(0, 0), (0, 2)]],
                Operator::Plaq => vec![vec![(0, 0), (1, 0), (0, 1), (1, 1)]],
                Operator::Field => vec![vec![(0, 0)]],
            }
        } else {
            let chain = |d: &[isize]| vec![d.iter().map(|&x| (x, 0)).collect::<Vec<_>>()];
            match self {
                Operator::Nn | Operator::NnX | Operator::NnY => chain(&[0, 1]),
                Operator::Nnn | Operator::NnnA | Operator::NnnB => chain(&[0, 2]),
                Operator::Nn3 => chain(&[0, 3]),
                Operator::Plaq => chain(&[0, 1, 2, 3]),
                Operator::Field => chain(&[0]),
            }
        }
    }

    /// The terms of S_a that contain a given site, as offsets from that site (each list
    /// includes (0, 0)): x_{a,i} = Σ over these groups of the product of their spins.
    fn groups(self, dims: usize) -> Vec<Vec<Offset>> {
        let mut out = Vec::new();
        for shape in self.shapes(dims) {
            for &(ox, oy) in &shape {
                out.push(shape.iter().map(|&(x, y)| (x - ox, y - oy)).collect());
            }
        }
        out
    }
}

/// Checks a list of operators: not empty, at most [`MAX_OPERATORS`], no duplicates, all
/// defined in `dims` dimensions, and not `nn` together with `nn_x` or `nn_y` (nn is their
/// sum: the three are collinear).
pub fn check_operators(ops: &[Operator], dims: usize) -> Result<()> {
    if ops.is_empty() {
        bail!(
            "no operators to fit (give at least one of {})",
            Operator::valid_names(dims).join(", ")
        );
    }
    if ops.len() > MAX_OPERATORS {
        bail!("at most {MAX_OPERATORS} operators can be fitted at once");
    }
    for (k, o) in ops.iter().enumerate() {
        if !o.exists_in(dims) {
            bail!(
                "operator {} is not defined in {dims}D (valid operators: {})",
                o.name(),
                Operator::valid_names(dims).join(", ")
            );
        }
        if ops[..k].contains(o) {
            bail!("operator {} is listed twice", o.name());
        }
    }
    if ops.contains(&Operator::Nn) {
        if let Some(o) = ops
            .iter()
            .find(|o| matches!(o, Operator::NnX | Operator::NnY))
        {
            bail!(
                "nn cannot be fitted together with {} (nn = nn_x + nn_y, the operators are \
                 collinear); use nn alone or nn_x,nn_y",
                o.name()
            );
        }
    }
    if ops.contains(&Operator::Nnn)
        && let Some(o) = ops
            .iter()
            .find(|o| matches!(o, Operator::NnnA | Operator::NnnB))
    {
        bail!(
            "nnn cannot be fitted together with {} (nnn = nnn_a + nnn_b, the operators are \
             collinear); use nnn alone or nnn_a,nnn_b",
            o.name()
        );
    }
    Ok(())
}

/// The local feature stencil of a list of operators on a lattice of side `size`.
#[derive(Debug, Clone)]
struct Stencil {
    dims: usize,
    size: usize,
    /// Per operator, the groups of offsets (see [`Operator::groups`]).
    groups: Vec<Vec<Vec<Offset>>>,
    /// Largest |offset| component.
    reach: usize,
    /// `wrap[d + reach][x]` = (x + d) mod L.
    wrap: Vec<Vec<usize>>,
}

impl Stencil {
    fn new(ops: &[Operator], dims: usize, size: usize) -> Result<Stencil> {
        check_operators(ops, dims)?;
        if size == 0 {
            bail!("the lattice is empty");
        }
        let groups: Vec<Vec<Vec<Offset>>> = ops.iter().map(|o| o.groups(dims)).collect();
        let l = size as isize;
        for (o, gs) in ops.iter().zip(&groups) {
            for g in gs {
                let mut sites: Vec<Offset> = g
                    .iter()
                    .map(|&(x, y)| (x.rem_euclid(l), y.rem_euclid(l)))
                    .collect();
                sites.sort_unstable();
                sites.dedup();
                if sites.len() != g.len() {
                    bail!(
                        "the lattice (L = {size}) is too small for operator {}: one of its \
                         terms wraps onto itself",
                        o.name()
                    );
                }
            }
        }
        let reach = groups
            .iter()
            .flatten()
            .flatten()
            .map(|&(x, y)| x.unsigned_abs().max(y.unsigned_abs()))
            .max()
            .unwrap_or(0);
        let wrap = (-(reach as isize)..=reach as isize)
            .map(|d| (0..l).map(|x| (x + d).rem_euclid(l) as usize).collect())
            .collect();
        Ok(Stencil {
            dims,
            size,
            groups,
            reach,
            wrap,
        })
    }

    /// The features x_{a,i} of every site of one ±1 configuration (row-major, `rows × L`),
    /// passed to `each` as a slice of one value per operator.
    fn for_each_site(&self, spins: &[i8], mut each: impl FnMut(&[i8])) {
        let l = self.size;
        let rows = if self.dims == 2 { l } else { 1 };
        let r = self.reach as isize;
        let mut x_feat = vec![0i8; self.groups.len()];
        for y in 0..rows {
            for x in 0..l {
                for (a, gs) in self.groups.iter().enumerate() {
                    let mut sum = 0i8;
                    for g in gs {
                        let mut p = 1i8;
                        for &(dx, dy) in g {
                            let yy = if self.dims == 2 {
                                self.wrap[(dy + r) as usize][y]
                            } else {
                                0
                            };
                            let xx = self.wrap[(dx + r) as usize][x];
                            p *= spins[yy * l + xx];
                        }
                        sum += p;
                    }
                    x_feat[a] = sum;
                }
                each(&x_feat);
            }
        }
    }
}

/// The features x_{a,i} = s_i ∂S_a/∂s_i of every site of one configuration of ±1 spins
/// (`spins` row-major, L×L in 2D or L in 1D): entry `[site][operator]`.
pub fn features(spins: &[i8], dims: usize, size: usize, ops: &[Operator]) -> Result<Vec<Vec<i8>>> {
    let stencil = Stencil::new(ops, dims, size)?;
    let sites = if dims == 2 { size * size } else { size };
    if spins.len() != sites || spins.iter().any(|&s| s != 1 && s != -1) {
        bail!("features need {sites} spins of value ±1");
    }
    let mut out = Vec::with_capacity(sites);
    stencil.for_each_site(spins, |f| out.push(f.to_vec()));
    Ok(out)
}

/// A weighted histogram of feature vectors: `(features, count)`, in a fixed order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// The distinct feature vectors with their weights.
    pub entries: Vec<(Vec<f64>, f64)>,
}

impl Histogram {
    /// Total weight (number of sites).
    pub fn total(&self) -> f64 {
        self.entries.iter().map(|e| e.1).sum()
    }
}

/// Packs a feature vector into a histogram key (one byte per operator, offset 64).
fn key(f: &[i8]) -> u64 {
    f.iter()
        .enumerate()
        .fold(0u64, |k, (a, &v)| k | (((v as i16 + 64) as u64) << (8 * a)))
}

fn unkey(k: u64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|a| (((k >> (8 * a)) & 0xff) as i64 - 64) as f64)
        .collect()
}

/// The result of a fit.
#[derive(Debug, Clone, PartialEq)]
pub struct CouplingFit {
    /// The operators, in the order of the values.
    pub operators: Vec<Operator>,
    /// Fitted couplings K_a (all samples).
    pub values: Vec<f64>,
    /// Jackknife errors.
    pub errors: Vec<f64>,
    /// Number of samples.
    pub samples: usize,
    /// Lattice dimension.
    pub dims: usize,
    /// Lattice side L.
    pub size: usize,
    /// Channel fitted.
    pub channel: usize,
    /// Jackknife bins.
    pub bins: usize,
    /// Newton iterations of the full fit.
    pub iterations: usize,
    /// Maximised log-pseudo-likelihood per site.
    pub log_pl_per_site: f64,
}

/// The channel to fit: `requested` if given (must be < channels), else 0 for a
/// single-channel file; a multi-channel file without a request is an error.
pub fn select_channel(file: &SampleFile, requested: Option<usize>) -> Result<usize> {
    let c = file.channels();
    match requested {
        Some(j) if j < c => Ok(j),
        Some(j) => bail!(
            "--channel {j} is out of range: the file has {c} channel(s), 0 to {}",
            c - 1
        ),
        None if c == 1 => Ok(0),
        None => bail!(
            "the file has {c} channels (coarse samples of a rule with {c} hidden units); \
             choose one with --channel J (0 to {})",
            c - 1
        ),
    }
}

/// Fits the couplings of `ops` to channel `channel` of `file` by maximum
/// pseudo-likelihood, with jackknife errors over `bins` contiguous bins of samples.
pub fn fit(
    file: &SampleFile,
    ops: &[Operator],
    bins: usize,
    channel: usize,
) -> Result<CouplingFit> {
    fit_with_progress(file, ops, bins, channel, None)
}

/// [`fit`], advancing `progress` by one per sample read.
pub fn fit_with_progress(
    file: &SampleFile,
    ops: &[Operator],
    bins: usize,
    channel: usize,
    progress: Option<&Progress>,
) -> Result<CouplingFit> {
    let dims = file.dims;
    if dims != 1 && dims != 2 {
        bail!("couplings are defined on 1D rings and 2D tori, not in {dims} dimensions");
    }
    let stencil = Stencil::new(ops, dims, file.size)?;
    let channels = file.channels();
    if channel >= channels {
        bail!("channel {channel} is out of range: the file has {channels} channel(s)");
    }
    let n = file.n;
    if bins < 2 {
        bail!("the jackknife needs at least 2 bins (got {bins})");
    }
    if n < MIN_SAMPLES || n < MIN_PER_BIN * bins {
        bail!(
            "too few samples for the jackknife: {n} sample(s) in {bins} bins (need at least \
             {MIN_SAMPLES} samples and {MIN_PER_BIN} per bin)"
        );
    }
    let per = SampleFile::bytes_per_sample(dims, file.size);
    if file.spins.len() < n * file.sample_bytes() {
        bail!("the sample file holds fewer spin bytes than its {n} samples need");
    }
    let rows = if dims == 2 { file.size } else { 1 };
    let rb = SampleFile::row_bytes(file.size);
    let l = file.size;
    // One histogram per bin; integer counts, so the parallel merge order does not matter.
    let hists: Vec<HashMap<u64, u64>> = crate::stats::jackknife::contiguous_bins(n, bins)?
        .into_iter()
        .map(|(lo, hi)| {
            (lo..hi)
                .into_par_iter()
                .fold(
                    || (HashMap::new(), vec![0i8; rows * l]),
                    |(mut h, mut s), i| {
                        let bytes = &file.sample(i)[channel * per..(channel + 1) * per];
                        for y in 0..rows {
                            for x in 0..l {
                                let bit = (bytes[y * rb + x / 8] >> (7 - x % 8)) & 1;
                                s[y * l + x] = if bit == 1 { 1 } else { -1 };
                            }
                        }
                        stencil.for_each_site(&s, |f| *h.entry(key(f)).or_insert(0u64) += 1);
                        if let Some(p) = progress {
                            p.inc(1);
                        }
                        (h, s)
                    },
                )
                .map(|(h, _)| h)
                .reduce(HashMap::new, |mut a, b| {
                    for (k, c) in b {
                        *a.entry(k).or_insert(0) += c;
                    }
                    a
                })
        })
        .collect();
    let mut total: BTreeMap<u64, u64> = BTreeMap::new();
    for h in &hists {
        for (&k, &c) in h {
            *total.entry(k).or_insert(0) += c;
        }
    }
    let m = ops.len();
    let to_hist = |skip: Option<usize>| Histogram {
        entries: total
            .iter()
            .filter_map(|(&k, &c)| {
                let minus = skip.map_or(0, |b| hists[b].get(&k).copied().unwrap_or(0));
                (c > minus).then(|| (unkey(k, m), (c - minus) as f64))
            })
            .collect(),
    };
    let full = newton(&to_hist(None), &vec![0.0; m], ops)?;
    let loo = (0..bins)
        .into_par_iter()
        .map(|b| {
            newton(&to_hist(Some(b)), &full.values, ops)
                .map(|r| r.values)
                .map_err(|e| e.context(format!("in the fit without jackknife bin {b}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let errors = (0..m)
        .map(|a| {
            crate::stats::jackknife::jackknife_error(&loo.iter().map(|k| k[a]).collect::<Vec<_>>())
        })
        .collect::<Vec<_>>();
    if errors.iter().any(|e| !e.is_finite()) {
        bail!("the jackknife errors are not finite numbers");
    }
    Ok(CouplingFit {
        operators: ops.to_vec(),
        values: full.values,
        errors,
        samples: n,
        dims,
        size: file.size,
        channel,
        bins,
        iterations: full.iterations,
        log_pl_per_site: full.log_pl_per_site,
    })
}

/// The maximum of the pseudo-likelihood on one histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct NewtonResult {
    /// The maximising couplings.
    pub values: Vec<f64>,
    /// Newton iterations taken.
    pub iterations: usize,
    /// log PL per site at the maximum.
    pub log_pl_per_site: f64,
}

/// ln σ(z), stable for large |z|.
fn ln_sigmoid(z: f64) -> f64 {
    if z > 0.0 {
        -(-z).exp().ln_1p()
    } else {
        z - z.exp().ln_1p()
    }
}

/// σ(z) for z of any size.
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// log PL per site at `k`.
fn log_pl(h: &Histogram, k: &[f64], total: f64) -> f64 {
    h.entries
        .iter()
        .map(|(x, c)| c * ln_sigmoid(2.0 * dot(k, x)))
        .sum::<f64>()
        / total
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves A d = g for a symmetric positive definite A (Cholesky); None when a pivot is
/// not clearly positive (relative to the largest diagonal entry).
fn solve_spd(a: &[f64], g: &[f64], m: usize) -> Option<Vec<f64>> {
    let scale = (0..m).map(|i| a[i * m + i]).fold(0.0f64, f64::max);
    if !(scale > 0.0 && scale.is_finite()) {
        return None;
    }
    let mut l = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..=i {
            let s = a[i * m + j] - (0..j).map(|p| l[i * m + p] * l[j * m + p]).sum::<f64>();
            if i == j {
                if !s.is_finite() || s <= 1e-12 * scale {
                    return None;
                }
                l[i * m + i] = s.sqrt();
            } else {
                l[i * m + j] = s / l[j * m + j];
            }
        }
    }
    let mut z = vec![0.0; m];
    for i in 0..m {
        z[i] = (g[i] - (0..i).map(|p| l[i * m + p] * z[p]).sum::<f64>()) / l[i * m + i];
    }
    let mut d = vec![0.0; m];
    for i in (0..m).rev() {
        d[i] = (z[i] - (i + 1..m).map(|p| l[p * m + i] * d[p]).sum::<f64>()) / l[i * m + i];
    }
    Some(d)
}

/// Maximises the pseudo-likelihood of the histogram `h` by Newton's method with step
/// halving, starting at `start`. `ops` only names the operators in errors.
pub fn newton(h: &Histogram, start: &[f64], ops: &[Operator]) -> Result<NewtonResult> {
    let m = start.len();
    let total = h.total();
    if h.entries.is_empty() || !total.is_finite() || total <= 0.0 {
        bail!("no sites to fit");
    }
    let names = || ops.iter().map(|o| o.name()).collect::<Vec<_>>().join(", ");
    let mut k = start.to_vec();
    let mut value = log_pl(h, &k, total);
    for it in 0..MAX_ITERATIONS {
        let mut g = vec![0.0; m];
        let mut a = vec![0.0; m * m];
        for (x, c) in &h.entries {
            let z = 2.0 * dot(&k, x);
            let (sp, sm) = (sigmoid(z), sigmoid(-z));
            let gw = c * 2.0 * sm / total;
            let hw = c * 4.0 * sp * sm / total;
            for i in 0..m {
                g[i] += gw * x[i];
                for j in 0..=i {
                    a[i * m + j] += hw * x[i] * x[j];
                }
            }
        }
        for i in 0..m {
            for j in 0..i {
                a[j * m + i] = a[i * m + j];
            }
        }
        let Some(d) = solve_spd(&a, &g, m) else {
            if k.iter().any(|v| v.abs() > 1.0) && it > 0 {
                bail!(
                    "the pseudo-likelihood fit does not converge: the couplings grow without \
                     bound (the samples are perfectly ordered or separable for {})",
                    names()
                );
            }
            bail!(
                "the pseudo-likelihood fit is singular: on these samples the operators {} are \
                 linearly dependent (e.g. perfectly ordered samples); drop one or use more \
                 varied data",
                names()
            );
        };
        let decrement = dot(&g, &d);
        if !decrement.is_finite() {
            bail!("the pseudo-likelihood fit failed: non-finite Newton step");
        }
        let step = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if step < CONVERGED_STEP {
            return Ok(NewtonResult {
                values: k,
                iterations: it,
                log_pl_per_site: value,
            });
        }
        let mut t = 1.0;
        loop {
            let trial: Vec<f64> = k.iter().zip(&d).map(|(a, b)| a + t * b).collect();
            let v = log_pl(h, &trial, total);
            if v >= value - 1e-15 * value.abs() {
                k = trial;
                value = v;
                break;
            }
            t *= 0.5;
            if t < 1e-12 {
                bail!("the pseudo-likelihood fit failed: the line search found no ascent");
            }
        }
        if k.iter().any(|v| !v.is_finite() || v.abs() > K_MAX) {
            bail!(
                "the pseudo-likelihood fit does not converge: the couplings grow beyond \
                 {K_MAX} (the samples are perfectly ordered or separable for {})",
                names()
            );
        }
    }
    bail!(
        "the pseudo-likelihood fit does not converge within {MAX_ITERATIONS} Newton iterations \
         (the couplings of {} keep growing: are the samples perfectly ordered?)",
        names()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::npz::pack_row;
    use serde_json::json;

    /// A sample file from ±1 configurations (row-major, `rows × L` each).
    fn file(dims: usize, size: usize, configs: &[Vec<i8>]) -> SampleFile {
        let rows = if dims == 2 { size } else { 1 };
        let mut spins = Vec::new();
        for c in configs {
            for r in 0..rows {
                let row: Vec<bool> = c[r * size..(r + 1) * size].iter().map(|&s| s > 0).collect();
                pack_row(&row, &mut spins);
            }
        }
        let n = configs.len();
        let f = SampleFile {
            dims,
            size,
            n,
            spins,
            energy: vec![0; n],
            magnetization: vec![0; n],
            chain: None,
            sweep: None,
            meta: json!({"model": if dims == 2 {"ising2d"} else {"ising1d"}, "size": size}),
        };
        f.validate().unwrap();
        f
    }

    /// splitmix64 uniform in [0, 1).
    struct Rng(u64);
    impl Rng {
        fn uniform(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn parse_and_check() {
        assert_eq!(Operator::parse("nn_x", 2).unwrap(), Operator::NnX);
        let e = Operator::parse("nn_x", 1).unwrap_err().to_string();
        assert!(e.contains("not defined in 1D"), "{e}");
        let e = Operator::parse("bogus", 2).unwrap_err().to_string();
        assert!(
            e.contains("nn, nn_x, nn_y, nnn, nnn_a, nnn_b, nn3, plaq, field"),
            "{e}"
        );
        let e = Operator::parse_list("nn,nn_y", 2).unwrap_err().to_string();
        assert!(e.contains("collinear"), "{e}");
        assert!(Operator::parse_list("nn,nn", 2).is_err());
        assert!(Operator::parse_list("", 2).is_err());
        assert_eq!(
            Operator::parse_list("nn_x, nn_y,plaq", 2).unwrap(),
            vec![Operator::NnX, Operator::NnY, Operator::Plaq]
        );
        assert_eq!(Operator::defaults(1), vec![Operator::Nn, Operator::Nnn]);
    }

    /// Features on a hand-made 4×4 torus, computed by hand.
    #[test]
    fn features_by_hand_2d() {
        // Rows y = 0..3 (x = 0..3):
        //   + + - +
        //   - + + +
        //   + - - +
        //   + + + -
        #[rustfmt::skip]
        let p = [
            [1, 1, -1, 1],
            [-1, 1, 1, 1],
            [1, -1, -1, 1],
            [1, 1, 1, -1],
        ];
        let spins: Vec<i8> = p.iter().flatten().copied().collect();
        let ops = [
            Operator::NnX,
            Operator::NnY,
            Operator::Nnn,
            Operator::Nn3,
            Operator::Plaq,
            Operator::Field,
        ];
        let f = features(&spins, 2, 4, &ops).unwrap();
        // Site (x=1, y=1), s = +1.
        //  nn_x: s(0,1) + s(2,1) = -1 + 1 = 0;  nn_y: s(1,0) + s(1,2) = 1 - 1 = 0.
        //  nnn: s(2,2) + s(0,0) + s(2,0) + s(0,2) = -1 + 1 - 1 + 1 = 0.
        //  nn3: s(3,1) + s(3,1) + s(1,3) + s(1,3) = 1 + 1 + 1 + 1 = 4 (L = 4: ±2 coincide).
        //  plaq: the four plaquettes containing (1,1):
        //    {(0,0),(1,0),(0,1),(1,1)}: 1·1·(−1)·1 = −1
        //    {(1,0),(2,0),(1,1),(2,1)}: 1·(−1)·1·1 = −1
        //    {(0,1),(1,1),(0,2),(1,2)}: (−1)·1·1·(−1) = 1
        //    {(1,1),(2,1),(1,2),(2,2)}: 1·1·(−1)·(−1) = 1   → 0
        //  field: s = 1.
        assert_eq!(f[4 + 1], vec![0, 0, 0, 4, 0, 1]);
        // Site (x=0, y=0), s = +1: neighbours x: s(3,0)=1, s(1,0)=1 → 2; y: s(0,3)=1, s(0,1)=−1 → 0.
        //  nnn: s(1,1)=1, s(3,3)=−1, s(1,3)=1, s(3,1)=1 → 2.
        //  nn3: 2 s(2,0) + 2 s(0,2) = −2 + 2 = 0.
        //  plaq: {(3,3),(0,3),(3,0),(0,0)}: (−1)(1)(1)(1) = −1; {(0,3),(1,3),(0,0),(1,0)}: 1;
        //        {(3,0),(0,0),(3,1),(0,1)}: 1·1·1·(−1) = −1; {(0,0),(1,0),(0,1),(1,1)}: −1 → −2.
        assert_eq!(f[0], vec![2, 0, 2, 0, -2, 1]);
        // Site (x=3, y=3), s = −1: x: s(2,3)=1, s(0,3)=1 → −2; y: s(3,2)=1, s(3,0)=1 → −2.
        assert_eq!(&f[15][..2], &[-2, -2]);
        // nn = nn_x + nn_y everywhere.
        let nn = features(&spins, 2, 4, &[Operator::Nn]).unwrap();
        for (a, b) in nn.iter().zip(&f) {
            assert_eq!(a[0], b[0] + b[1]);
        }
    }

    #[test]
    fn features_by_hand_1d() {
        //  i:  0  1  2  3  4  5  6  7
        let s: Vec<i8> = vec![1, -1, -1, 1, 1, 1, -1, 1];
        let ops = [
            Operator::Nn,
            Operator::Nnn,
            Operator::Nn3,
            Operator::Plaq,
            Operator::Field,
        ];
        let f = features(&s, 1, 8, &ops).unwrap();
        // Site 4 (s = +1): nn: s3 + s5 = 2; nnn: s2 + s6 = −2; nn3: s1 + s7 = 0;
        // plaq: s1s2s3s4 = 1, s2s3s4s5 = −1, s3s4s5s6 = −1, s4s5s6s7 = −1 → −2.
        assert_eq!(f[4], vec![2, -2, 0, -2, 1]);
        // Site 0 (s = +1): nn: s7 + s1 = 0; nnn: s6 + s2 = −2; nn3: s5 + s3 = 2;
        // plaq: s5s6s7s0 = −1, s6s7s0s1 = 1, s7s0s1s2 = 1, s0s1s2s3 = 1 → 2.
        assert_eq!(f[0], vec![0, -2, 2, 2, 1]);
        let e = features(&s[..2], 1, 2, &[Operator::Nnn])
            .unwrap_err()
            .to_string();
        assert!(e.contains("too small"), "{e}");
    }

    /// The exact histogram of the infinite Ising chain: the nn-only PL is maximal at the
    /// true K (the conditionals are exact), and nnn comes out zero.
    #[test]
    fn newton_recovers_chain_coupling() {
        for k in [0.1f64, 0.5, 1.0, 2.0] {
            let p = k.exp() / (2.0 * f64::cosh(k)); // P(neighbour agrees)
            // Joint of (s_{i-2}, s_{i-1}, s_i, s_{i+1}, s_{i+2}) relative to s_i (Markov).
            let mut entries: BTreeMap<(i64, i64), f64> = BTreeMap::new();
            for bits in 0..16u32 {
                let agree = |b: u32| (bits >> b) & 1 == 1;
                let w = (0..4)
                    .map(|b| if agree(b) { p } else { 1.0 - p })
                    .product::<f64>();
                // s_i = +1; s_{i±1} relative to s_i; s_{i±2} relative to s_{i±1}.
                let s = |b: u32| if agree(b) { 1i64 } else { -1 };
                let (l1, r1) = (s(0), s(1));
                let (l2, r2) = (l1 * s(2), r1 * s(3));
                *entries.entry((l1 + r1, l2 + r2)).or_insert(0.0) += w;
            }
            let h = Histogram {
                entries: entries
                    .iter()
                    .map(|(&(a, b), &w)| (vec![a as f64, b as f64], w * 1000.0))
                    .collect(),
            };
            let r = newton(&h, &[0.0, 0.0], &[Operator::Nn, Operator::Nnn]).unwrap();
            assert!((r.values[0] - k).abs() < 1e-9, "K = {k}: {:?}", r.values);
            assert!(r.values[1].abs() < 1e-9, "K = {k}: {:?}", r.values);
        }
    }

    /// Rings drawn by the Markov construction (exact for an open chain; the closing bond
    /// is off by one in L): nn within 4σ of K, nnn within 4σ of 0, honest error bars.
    #[test]
    fn fit_recovers_sampled_chain() {
        let (k, l, n) = (0.7f64, 512, 400);
        let p = k.exp() / (2.0 * k.cosh());
        let mut rng = Rng(42);
        let configs: Vec<Vec<i8>> = (0..n)
            .map(|_| {
                let mut s = vec![if rng.uniform() < 0.5 { 1i8 } else { -1 }];
                for i in 1..l {
                    let prev = s[i - 1];
                    s.push(if rng.uniform() < p { prev } else { -prev });
                }
                s
            })
            .collect();
        let f = file(1, l, &configs);
        let r = fit(&f, &[Operator::Nn, Operator::Nnn], 20, 0).unwrap();
        assert!(r.errors[0] > 0.0 && r.errors[0] < 0.01, "{r:?}");
        assert!((r.values[0] - k).abs() < 4.0 * r.errors[0], "{r:?}");
        assert!(r.values[1].abs() < 4.0 * r.errors[1], "{r:?}");
        assert!(r.log_pl_per_site < 0.0 && r.log_pl_per_site > -std::f64::consts::LN_2);
        // Independent of the number of threads.
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let r1 = one.install(|| fit(&f, &[Operator::Nn, Operator::Nnn], 20, 0).unwrap());
        assert_eq!(r, r1);
    }

    #[test]
    fn refusals() {
        let up = vec![vec![1i8; 16]; 40];
        let f = file(2, 4, &up);
        // Perfectly ordered: several operators are collinear on the data.
        let e = fit(&f, &Operator::defaults(2), 20, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("singular"), "{e}");
        // One operator: the coupling runs away.
        let e = fit(&f, &[Operator::Nn], 20, 0).unwrap_err().to_string();
        assert!(e.contains("does not converge"), "{e}");
        let e = fit(&f, &[Operator::Nn], 21, 0).unwrap_err().to_string();
        assert!(e.contains("too few samples for the jackknife"), "{e}");
        let e = fit(&file(2, 4, &up[..9]), &[Operator::Nn], 2, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("too few samples for the jackknife"), "{e}");
        assert!(select_channel(&f, Some(1)).is_err());
        assert_eq!(select_channel(&f, None).unwrap(), 0);
    }
}
