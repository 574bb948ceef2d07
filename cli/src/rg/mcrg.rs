//! Swendsen's linearised Monte Carlo RG (Swendsen, PRL 42, 859 (1979)) on any fixed rule.
//!
//! A rule P(H|V) that does not depend on the couplings maps the Hamiltonian
//! H⁽ⁿ⁾ = Σ_α K_α⁽ⁿ⁾ S_α⁽ⁿ⁾ to H⁽ⁿ⁺¹⁾. Differentiating ⟨S_γ⁽ⁿ⁺¹⁾⟩ with respect to K_β⁽ⁿ⁾
//! by the chain rule gives B = A T with
//!
//! ```text
//!   A_γα = ⟨S_γ⁽ⁿ⁺¹⁾ S_α⁽ⁿ⁺¹⁾⟩ − ⟨S_γ⁽ⁿ⁺¹⁾⟩⟨S_α⁽ⁿ⁺¹⁾⟩
//!   B_γβ = ⟨S_γ⁽ⁿ⁺¹⁾ S_β⁽ⁿ⁾⟩   − ⟨S_γ⁽ⁿ⁺¹⁾⟩⟨S_β⁽ⁿ⁾⟩
//!   T_αβ = ∂K_α⁽ⁿ⁺¹⁾/∂K_β⁽ⁿ⁾ = (A⁻¹ B)_αβ,
//! ```
//!
//! all measured on the same samples coarse-grained n and n+1 times. The eigenvalues of T
//! are b^{y_i} for a scale factor b (the block side); the largest eigenvalue of the even
//! block gives y_t = 1/ν, that of the odd block y_h. Even and odd operators do not mix at
//! zero field (their cross-correlations vanish by the spin-flip symmetry), so the two
//! blocks are treated separately.
//!
//! Operators (lattice sums of ±1 products on the torus, from [`rsmi_core::rg::operators`]):
//! 2D even `nn`, `nnn` (both diagonals), `nn3` ((2,0) and (0,2)), `plaq`; odd `field` (Σs)
//! and `corner3` (the four three-spin products of every plaquette). 1D even `nn`, `nnn`,
//! `nn3`, `four` (s_i…s_{i+3}); odd `field`, `three` (s_i s_{i+1} s_{i+2}). With k
//! operators, the first k of each list are used.
//!
//! Errors: leave-one-bin-out jackknife over contiguous bins of samples; the value reported
//! is the estimate from all samples.
//!
//! Randomness: samples 256k..256k+255 use `stream(seed, k, 0)` in sample order; each sample
//! draws one word per block at level 0→1, then at 1→2, and so on. The result does not
//! depend on the number of threads.

use anyhow::{Context, Result, bail};
use nalgebra::DMatrix;
use rayon::prelude::*;
use rsmi_core::rg::operators::{sums_1d, sums_2d};
use rsmi_core::rg::packed::{from_packbits_1d, from_packbits_2d, words_per_row};
use rsmi_core::rng::stream;
use serde_json::{Value, json};

use super::rule::BlockRule;
use crate::io::npz::SampleFile;
use crate::learn::coarsen::{CHUNK, Mode};

/// Values stored per sample and level: 4 even, 2 odd, nn along x and along y, then the
/// diagonals (1, 1) and (1, −1).
pub const NOPS: usize = 10;
/// Even operators available.
pub const MAX_EVEN: usize = 4;
/// Odd operators available.
pub const MAX_ODD: usize = 2;

/// Names of the even and odd operators in `dims` dimensions.
pub fn operator_names(dims: usize) -> ([&'static str; MAX_EVEN], [&'static str; MAX_ODD]) {
    if dims == 2 {
        (["nn", "nnn", "nn3", "plaq"], ["field", "corner3"])
    } else {
        (["nn", "nnn", "nn3", "four"], ["field", "three"])
    }
}

/// Operator values of every sample at every level.
#[derive(Debug, Clone)]
pub struct Measured {
    /// 1 or 2.
    pub dims: usize,
    /// Lattice side at levels 0..=levels.
    pub sizes: Vec<usize>,
    /// Number of samples.
    pub n: usize,
    /// `[sample][level][NOPS]`, flattened.
    pub data: Vec<f64>,
}

impl Measured {
    /// Number of levels including level 0.
    pub fn depth(&self) -> usize {
        self.sizes.len()
    }

    /// The values of sample `i` at level `l`.
    pub fn at(&self, i: usize, l: usize) -> &[f64] {
        let d = self.depth();
        &self.data[(i * d + l) * NOPS..(i * d + l + 1) * NOPS]
    }

    /// Sites at level `l`.
    pub fn sites(&self, l: usize) -> usize {
        if self.dims == 2 {
            self.sizes[l] * self.sizes[l]
        } else {
            self.sizes[l]
        }
    }
}

/// The lattice sides of levels 0..=levels under `rule`, or one sentence on why not.
pub fn level_sizes(rule: &BlockRule, size: usize, levels: usize) -> Result<Vec<usize>> {
    let mut sizes = vec![size];
    for l in 0..levels {
        let s = *sizes.last().unwrap_or(&size);
        let c = rule
            .coarse_side(s)
            .with_context(|| format!("level {} of {levels} is not possible", l + 1))?;
        sizes.push(c);
    }
    Ok(sizes)
}

/// Operator values of one packed lattice (`NOPS` entries).
fn operators(dims: usize, words: &[u64], side: usize, out: &mut [f64]) -> Result<()> {
    if dims == 2 {
        let s = sums_2d(words, side)?;
        let v = [
            s.nn_x + s.nn_y,
            s.diag_a + s.diag_b,
            s.nn3_x + s.nn3_y,
            s.plaq,
            s.field,
            s.corner3,
            s.nn_x,
            s.nn_y,
            s.diag_a,
            s.diag_b,
        ];
        for (o, x) in out.iter_mut().zip(v) {
            *o = x as f64;
        }
    } else {
        let s = sums_1d(words, side)?;
        let v = [
            s.nn, s.nnn, s.nn3, s.four, s.field, s.three, s.nn, 0, s.nnn, 0,
        ];
        for (o, x) in out.iter_mut().zip(v) {
            *o = x as f64;
        }
    }
    Ok(())
}

/// Coarse-grains every sample of `file` `levels` times with `rule` and measures the
/// operators at every level. `progress` is called with the number of samples done.
pub fn measure(
    file: &SampleFile,
    rule: &BlockRule,
    levels: usize,
    mode: Mode,
    seed: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Measured> {
    measure_levels(file, Some(rule), levels, mode, seed, progress)
}

/// The operators of the samples themselves (level 0 only; no rule, no randomness).
pub fn measure_data(file: &SampleFile) -> Result<Measured> {
    measure_levels(file, None, 0, Mode::Sample, 0, &|_| {})
}

fn measure_levels(
    file: &SampleFile,
    rule: Option<&BlockRule>,
    levels: usize,
    mode: Mode,
    seed: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Measured> {
    if file.channels() != 1 {
        bail!(
            "the samples have {} channels; MCRG needs one spin per site (coarse-grain with a \
             one-hidden-unit rule, or pick a unit of a multi-unit rule with --unit)",
            file.channels()
        );
    }
    let sizes = match rule {
        Some(rule) if file.dims != rule.dims => bail!(
            "the rule is for {}D lattices but the samples are {}D",
            rule.dims,
            file.dims
        ),
        Some(rule) => level_sizes(rule, file.size, levels)?,
        None => vec![file.size],
    };
    let dims = file.dims;
    let depth = sizes.len();
    let n = file.n;
    let chunks = n.div_ceil(CHUNK);
    let per_chunk = (0..chunks)
        .into_par_iter()
        .map(|ch| -> Result<Vec<f64>> {
            let mut rng = stream(seed, ch as u64, 0);
            let lo = ch * CHUNK;
            let hi = n.min(lo + CHUNK);
            let mut out = vec![0.0; (hi - lo) * depth * NOPS];
            let rows = |s: usize| if dims == 2 { s } else { 1 };
            let mut cur = vec![0u64; rows(sizes[0]) * words_per_row(sizes[0])];
            let mut next = Vec::new();
            for i in lo..hi {
                let bytes = file.sample(i);
                if dims == 2 {
                    from_packbits_2d(bytes, sizes[0], &mut cur)?;
                } else {
                    from_packbits_1d(bytes, sizes[0], &mut cur)?;
                }
                let base = (i - lo) * depth * NOPS;
                for l in 0..depth {
                    let s = sizes[l];
                    let words = rows(s) * words_per_row(s);
                    operators(
                        dims,
                        &cur[..words],
                        s,
                        &mut out[base + l * NOPS..base + (l + 1) * NOPS],
                    )?;
                    if let (Some(rule), true) = (rule, l + 1 < depth) {
                        let c = sizes[l + 1];
                        next.clear();
                        next.resize(rows(c) * words_per_row(c), 0);
                        rule.apply(&cur[..words], s, mode, &mut rng, &mut next)?;
                        std::mem::swap(&mut cur, &mut next);
                    }
                }
                // Restore the level-0 buffer size for the next sample.
                cur.resize(rows(sizes[0]) * words_per_row(sizes[0]), 0);
            }
            progress((hi - lo) as u64);
            Ok(out)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Measured {
        dims,
        sizes,
        n,
        data: per_chunk.concat(),
    })
}

/// Sums over a set of samples of everything the linearised RG needs.
#[derive(Debug, Clone)]
struct Moments {
    count: f64,
    /// `[level][op]`.
    s1: Vec<f64>,
    /// `[level][op][op]`: Σ S_a⁽ˡ⁾ S_b⁽ˡ⁾.
    same: Vec<f64>,
    /// `[level][op][op]`: Σ S_a⁽ˡ⁺¹⁾ S_b⁽ˡ⁾ (last level unused).
    cross: Vec<f64>,
}

impl Moments {
    fn zero(depth: usize) -> Moments {
        Moments {
            count: 0.0,
            s1: vec![0.0; depth * NOPS],
            same: vec![0.0; depth * NOPS * NOPS],
            cross: vec![0.0; depth * NOPS * NOPS],
        }
    }

    fn add(&mut self, m: &Measured, shift: &[f64], i: usize) {
        let d = m.depth();
        self.count += 1.0;
        let x = |l: usize, a: usize| m.at(i, l)[a] - shift[l * NOPS + a];
        for l in 0..d {
            for a in 0..NOPS {
                let xa = x(l, a);
                self.s1[l * NOPS + a] += xa;
                for b in 0..NOPS {
                    self.same[(l * NOPS + a) * NOPS + b] += xa * x(l, b);
                    if l + 1 < d {
                        self.cross[(l * NOPS + a) * NOPS + b] += x(l + 1, a) * x(l, b);
                    }
                }
            }
        }
    }

    fn accumulate(&mut self, o: &Moments) {
        self.count += o.count;
        for (x, y) in [
            (&mut self.s1, &o.s1),
            (&mut self.same, &o.same),
            (&mut self.cross, &o.cross),
        ] {
            for (a, b) in x.iter_mut().zip(y) {
                *a += b;
            }
        }
    }

    fn minus(&self, o: &Moments) -> Moments {
        let sub = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x - y).collect();
        Moments {
            count: self.count - o.count,
            s1: sub(&self.s1, &o.s1),
            same: sub(&self.same, &o.same),
            cross: sub(&self.cross, &o.cross),
        }
    }

    /// The matrices A and B between levels l and l+1 for operator indices `ops`.
    fn matrices(&self, l: usize, ops: &[usize]) -> (DMatrix<f64>, DMatrix<f64>) {
        let n = self.count;
        let mean = |lv: usize, a: usize| self.s1[lv * NOPS + a] / n;
        let k = ops.len();
        let a = DMatrix::from_fn(k, k, |g, al| {
            let (g, al) = (ops[g], ops[al]);
            self.same[((l + 1) * NOPS + g) * NOPS + al] / n - mean(l + 1, g) * mean(l + 1, al)
        });
        let b = DMatrix::from_fn(k, k, |g, be| {
            let (g, be) = (ops[g], ops[be]);
            self.cross[(l * NOPS + g) * NOPS + be] / n - mean(l + 1, g) * mean(l, be)
        });
        (a, b)
    }
}

/// The eigenvalues of T = A⁻¹B, sorted by decreasing real part, or `None` when A is singular
/// or the leading eigenvalue is not a positive real number.
pub fn linearised_eigenvalues(a: &DMatrix<f64>, b: &DMatrix<f64>) -> Option<Vec<(f64, f64)>> {
    let t = a.clone().lu().solve(b)?;
    if t.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let ev = t.complex_eigenvalues();
    let mut v: Vec<(f64, f64)> = ev.iter().map(|c| (c.re, c.im)).collect();
    v.sort_by(|x, y| y.0.total_cmp(&x.0));
    let lead = v.first()?;
    if !(lead.0 > 0.0 && lead.0.is_finite()) {
        return None;
    }
    Some(v)
}

/// One exponent from a set of operators at one level.
#[derive(Debug, Clone)]
pub struct Exponent {
    /// Number of operators.
    pub operators: usize,
    /// y = ln λ_max / ln b.
    pub value: f64,
    /// Jackknife error.
    pub err: f64,
    /// All eigenvalues of T (re, im) from all samples, leading first.
    pub eigenvalues: Vec<(f64, f64)>,
}

impl Exponent {
    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "value": self.value,
            "err": self.err,
            "operators": self.operators,
            "eigenvalues": self.eigenvalues.iter().map(|(re, im)| if *im == 0.0 { json!(re) } else { json!([re, im]) }).collect::<Vec<_>>(),
        })
    }
}

/// MCRG results between levels `level − 1` and `level`.
#[derive(Debug, Clone)]
pub struct Level {
    /// 1-based: the coarse level.
    pub level: usize,
    /// Side of the coarse lattice.
    pub size: usize,
    /// y_t with 1..=k even operators.
    pub y_t: Vec<Exponent>,
    /// y_h with 1..=k odd operators.
    pub y_h: Vec<Exponent>,
}

/// Per-level means of the thermometer correlations and the anisotropy (nn along x minus
/// along y), with jackknife errors.
#[derive(Debug, Clone)]
pub struct LevelObservables {
    /// Level (0 = the data).
    pub level: usize,
    /// Side.
    pub size: usize,
    /// ⟨s s'⟩ over nearest-neighbour bonds.
    pub nn: (f64, f64),
    /// ⟨s s'⟩ over diagonal (1D: distance-2) pairs.
    pub diag: (f64, f64),
    /// ⟨m²⟩ with m = Σs/N.
    pub m2: (f64, f64),
    /// ⟨s s_x⟩ − ⟨s s_y⟩ (2D; 0 in 1D).
    pub anisotropy: (f64, f64),
    /// ⟨s s_(1,1)⟩ − ⟨s s_(1,−1)⟩ (2D; 0 in 1D).
    pub anisotropy_diag: (f64, f64),
}

impl LevelObservables {
    /// As JSON.
    pub fn to_json(&self) -> Value {
        let e = |x: (f64, f64)| json!({"value": x.0, "err": x.1});
        json!({
            "level": self.level,
            "size": self.size,
            "nn": e(self.nn),
            "diag": e(self.diag),
            "m2": e(self.m2),
            "anisotropy": e(self.anisotropy),
            "anisotropy_diag": e(self.anisotropy_diag),
        })
    }
}

pub use crate::stats::jackknife::{contiguous_bins as bins_of, jackknife_error};

/// Means of per-sample values `f(i)` with the bin jackknife error.
pub fn mean_err(bins: &[(usize, usize)], f: impl Fn(usize) -> f64) -> (f64, f64) {
    let sums: Vec<(f64, f64)> = bins
        .iter()
        .map(|&(s, e)| ((s..e).map(&f).sum::<f64>(), (e - s) as f64))
        .collect();
    let (tot, cnt) = sums
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, c)| (a + x, b + c));
    let loo: Vec<f64> = sums.iter().map(|(x, c)| (tot - x) / (cnt - c)).collect();
    (tot / cnt, jackknife_error(&loo))
}

/// The correlations and anisotropy of every level.
pub fn level_observables(m: &Measured, bins: usize) -> Result<Vec<LevelObservables>> {
    let bins = bins_of(m.n, bins)?;
    Ok((0..m.depth())
        .map(|l| {
            let n = m.sites(l) as f64;
            let bonds = if m.dims == 2 { 2.0 * n } else { n };
            LevelObservables {
                level: l,
                size: m.sizes[l],
                nn: mean_err(&bins, |i| m.at(i, l)[0] / bonds),
                diag: mean_err(&bins, |i| m.at(i, l)[1] / bonds),
                m2: mean_err(&bins, |i| (m.at(i, l)[4] / n).powi(2)),
                anisotropy: if m.dims == 2 {
                    mean_err(&bins, |i| (m.at(i, l)[6] - m.at(i, l)[7]) / n)
                } else {
                    (0.0, 0.0)
                },
                anisotropy_diag: if m.dims == 2 {
                    mean_err(&bins, |i| (m.at(i, l)[8] - m.at(i, l)[9]) / n)
                } else {
                    (0.0, 0.0)
                },
            }
        })
        .collect())
}

/// The linearised RG at every level with 1..=`even` even and 1..=`odd` odd operators.
/// `scale` is the block side b.
pub fn linearised(
    m: &Measured,
    scale: usize,
    even: usize,
    odd: usize,
    bins: usize,
) -> Result<Vec<Level>> {
    if !(1..=MAX_EVEN).contains(&even) || !(1..=MAX_ODD).contains(&odd) {
        bail!("the number of operators must be 1..={MAX_EVEN} (even) and 1..={MAX_ODD} (odd)");
    }
    let bins = bins_of(m.n, bins)?;
    let d = m.depth();
    // Shift every operator by its value in sample 0 (covariances are unchanged, and the
    // sums stay small enough that no precision is lost to cancellation).
    let shift: Vec<f64> = (0..d).flat_map(|l| m.at(0, l).to_vec()).collect();
    let per_bin: Vec<Moments> = bins
        .par_iter()
        .map(|&(s, e)| {
            let mut mo = Moments::zero(d);
            for i in s..e {
                mo.add(m, &shift, i);
            }
            mo
        })
        .collect();
    let mut total = Moments::zero(d);
    for b in &per_bin {
        total.accumulate(b);
    }
    let loo: Vec<Moments> = per_bin.iter().map(|b| total.minus(b)).collect();
    let ln_b = (scale as f64).ln();
    let exponent = |l: usize, ops: &[usize], what: &str| -> Result<Exponent> {
        let (a, b) = total.matrices(l, ops);
        let ev = linearised_eigenvalues(&a, &b).ok_or_else(|| {
            anyhow::anyhow!(
                "the linearised RG between levels {l} and {} with {} {what} operator(s) has no \
                 positive leading eigenvalue (singular correlations: too few samples, or a \
                 frozen or disordered lattice)",
                l + 1,
                ops.len()
            )
        })?;
        let value = ev[0].0.ln() / ln_b;
        let mut ys = Vec::with_capacity(loo.len());
        for mo in &loo {
            let (a, b) = mo.matrices(l, ops);
            let e = linearised_eigenvalues(&a, &b).ok_or_else(|| {
                anyhow::anyhow!(
                    "the jackknife of the linearised RG between levels {l} and {} failed \
                     (a leave-one-bin-out set has singular correlations; use more samples)",
                    l + 1
                )
            })?;
            ys.push(e[0].0.ln() / ln_b);
        }
        Ok(Exponent {
            operators: ops.len(),
            value,
            err: jackknife_error(&ys),
            eigenvalues: ev,
        })
    };
    let mut out = Vec::new();
    for l in 0..d - 1 {
        let y_t = (1..=even)
            .map(|k| exponent(l, &(0..k).collect::<Vec<_>>(), "even"))
            .collect::<Result<Vec<_>>>()?;
        let y_h = (1..=odd)
            .map(|k| exponent(l, &(MAX_EVEN..MAX_EVEN + k).collect::<Vec<_>>(), "odd"))
            .collect::<Result<Vec<_>>>()?;
        out.push(Level {
            level: l + 1,
            size: m.sizes[l + 1],
            y_t,
            y_h,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigenvalues_of_a_known_t() {
        // A = I, B = diag(4, 2, 0.5) in a rotated basis: T = B.
        let a = DMatrix::<f64>::identity(3, 3);
        let b = DMatrix::from_row_slice(3, 3, &[2.0, 1.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.5]);
        let ev = linearised_eigenvalues(&a, &b).unwrap();
        assert!((ev[0].0 - 3.0).abs() < 1e-12);
        assert!((ev[1].0 - 1.0).abs() < 1e-12);
        assert!((ev[2].0 - 0.5).abs() < 1e-12);
        // T = A⁻¹B, not B A⁻¹ or B⁻¹A: with A = diag(2, 1), B = [[4, 2], [0, 1]]:
        // A⁻¹B = [[2, 1], [0, 1]] has eigenvalues 2 and 1; B⁻¹A has 1/2 and 1.
        let a = DMatrix::from_row_slice(2, 2, &[2.0, 0.0, 0.0, 1.0]);
        let b = DMatrix::from_row_slice(2, 2, &[4.0, 2.0, 0.0, 1.0]);
        let ev = linearised_eigenvalues(&a, &b).unwrap();
        assert!((ev[0].0 - 2.0).abs() < 1e-12);
        assert!(linearised_eigenvalues(&DMatrix::zeros(2, 2), &b).is_none());
    }

    #[test]
    fn bins_cover_every_sample() {
        let b = bins_of(45, 20).unwrap();
        assert_eq!(b.len(), 20);
        assert_eq!(b[0], (0, 3));
        assert_eq!(b.last().unwrap().1, 45);
        assert!(bins_of(39, 20).is_err());
        assert!(bins_of(100, 1).is_err());
    }

    #[test]
    fn jackknife_of_a_mean_is_the_standard_error() {
        // Bins of one value each: the jackknife error of the mean is sd/sqrt(n).
        let x = [1.0, 2.0, 4.0, 7.0];
        let bins: Vec<(usize, usize)> = (0..4).map(|i| (i, i + 1)).collect();
        let (m, e) = mean_err(&bins, |i| x[i]);
        assert!((m - 3.5).abs() < 1e-12);
        let var = x.iter().map(|v| (v - 3.5f64).powi(2)).sum::<f64>() / 3.0;
        assert!((e - (var / 4.0).sqrt()).abs() < 1e-12);
    }
}
