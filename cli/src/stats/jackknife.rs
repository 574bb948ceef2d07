//! Leave-one-bin-out jackknife for functions of several means.
//!
//! Several observables ("columns") are measured together on the same chains
//! (same chain-major layout as in [`super::binning`]). The data are cut into
//! bins of a given size within each chain; an estimator `f` maps the vector of
//! column means to a number (e.g. the Binder cumulant from `⟨m²⟩` and
//! `⟨m⁴⟩`). Its error is estimated from the `n` leave-one-bin-out values
//! `f_i`: `err = sqrt((n−1)/n · Σ (f_i − f̄)²)`. For `f` = the mean of one
//! column this reproduces the binning error at the same bin size exactly.
//!
//! Choose the bin size as for binning (e.g. the `bin_size` of
//! [`super::binned`] on the most correlated column) so that bins are
//! effectively independent.

use super::{StatsError, check_layout};

/// Jackknife estimate of `f(column means)` and its error.
///
/// * `columns`: the observables, each chain-major with `chains` chains and all
///   of the same length;
/// * `bin_size`: measurements per bin (`1 ≤ bin_size ≤ T`); bins never cross
///   chain boundaries and the incomplete tail of each chain is dropped;
/// * `f`: receives a slice of column means (`len == columns.len()`).
///
/// The returned value is `f` of the plain means of **all** data, *not* the
/// bias-corrected jackknife estimate `n·f − (n−1)·f̄` (the bias is
/// `O(1/n)`, far below the statistical error for sensible bin counts, and the
/// corrected estimate is noisier). The error uses the bins only. Each
/// leave-one-out mean is computed from running sums, so the cost is
/// `O(n · columns)` plus `n` evaluations of `f`.
///
/// # Errors
///
/// No columns, columns of different lengths, an invalid layout or non-finite
/// data (see [`super::binned`]), a bin size outside `1..=T`, fewer than 2
/// bins, or `f` returning a non-finite value.
pub fn jackknife<F: Fn(&[f64]) -> f64>(
    columns: &[&[f64]],
    chains: usize,
    bin_size: usize,
    f: F,
) -> Result<(f64, f64), StatsError> {
    let first = columns.first().ok_or(StatsError::NoColumns)?;
    let len = first.len();
    for (column, c) in columns.iter().enumerate() {
        if c.len() != len {
            return Err(StatsError::ColumnLength {
                column,
                len: c.len(),
                expected: len,
            });
        }
    }
    let mut t = 0;
    for c in columns {
        t = check_layout(c, chains)?;
    }
    if bin_size == 0 || bin_size > t {
        return Err(StatsError::BadBinSize {
            bin_size,
            chain_len: t,
        });
    }
    let n = chains * (t / bin_size);
    if n < 2 {
        return Err(StatsError::TooFewBins { n_bins: n });
    }
    let k = columns.len();

    // Bin means, bin-major: bins[j * k + col].
    let mut bins = vec![0.0; n * k];
    for (col, c) in columns.iter().enumerate() {
        let m = super::bin_means(c, chains, bin_size);
        for (j, v) in m.into_iter().enumerate() {
            bins[j * k + col] = v;
        }
    }
    // Mean of the bin means per column.
    let mut bin_avg = vec![0.0; k];
    for row in bins.chunks_exact(k) {
        for (a, v) in bin_avg.iter_mut().zip(row) {
            *a += v;
        }
    }
    for a in &mut bin_avg {
        *a /= n as f64;
    }

    let full: Vec<f64> = columns
        .iter()
        .map(|c| c.iter().sum::<f64>() / len as f64)
        .collect();
    let value = f(&full);
    if !value.is_finite() {
        return Err(StatsError::NonFiniteEstimate {
            which: "the full sample",
            value,
        });
    }

    // Leave-one-out mean: (S − m_j)/(n−1) = m̄ − (m_j − m̄)/(n−1), written in
    // the second form for accuracy.
    let scale = 1.0 / (n as f64 - 1.0);
    let mut loo = vec![0.0; k];
    let mut fi = Vec::with_capacity(n);
    for row in bins.chunks_exact(k) {
        for ((l, &a), &m) in loo.iter_mut().zip(&bin_avg).zip(row) {
            *l = a - (m - a) * scale;
        }
        let v = f(&loo);
        if !v.is_finite() {
            return Err(StatsError::NonFiniteEstimate {
                which: "a leave-one-bin-out sample",
                value: v,
            });
        }
        fi.push(v);
    }
    let fbar = fi.iter().sum::<f64>() / n as f64;
    let ss: f64 = fi.iter().map(|v| (v - fbar) * (v - fbar)).sum();
    let err = ((n as f64 - 1.0) / n as f64 * ss).sqrt();
    Ok((value, err))
}

/// Binder cumulant `U = 1 − ⟨m⁴⟩ / (3⟨m²⟩²)` from the means `[⟨m²⟩, ⟨m⁴⟩]`.
///
/// An estimator for [`jackknife`] with columns `[m², m⁴]`. `U → 0` for a
/// Gaussian order parameter (disordered phase) and `U → 2/3` in an ordered
/// phase. Returns NaN if the slice has fewer than 2 entries, and a non-finite
/// value if `⟨m²⟩ = 0` (which [`jackknife`] reports as an error).
pub fn binder(m2_m4: &[f64]) -> f64 {
    match m2_m4 {
        [m2, m4, ..] => 1.0 - m4 / (3.0 * m2 * m2),
        _ => f64::NAN,
    }
}

/// `bins` contiguous bins over `n` samples in order, as `(start, end)` pairs; the first
/// `n % bins` bins hold one sample more, so every sample is used (leave-one-bin-out
/// jackknives of the RG commands). An error sentence when a bin would hold fewer than 2
/// samples.
pub fn contiguous_bins(n: usize, bins: usize) -> anyhow::Result<Vec<(usize, usize)>> {
    if bins < 2 {
        anyhow::bail!("--bins must be at least 2 (got {bins})");
    }
    if n < 2 * bins {
        anyhow::bail!(
            "too few samples for the jackknife: {n} samples cannot fill {bins} bins of at least \
             2 samples (use more samples or fewer --bins)"
        );
    }
    let (per, extra) = (n / bins, n % bins);
    let mut out = Vec::with_capacity(bins);
    let mut start = 0;
    for b in 0..bins {
        let len = per + usize::from(b < extra);
        out.push((start, start + len));
        start += len;
    }
    Ok(out)
}

/// The jackknife error `sqrt((n−1)/n · Σ (f_i − f̄)²)` of `n` leave-one-bin-out values.
pub fn jackknife_error(loo: &[f64]) -> f64 {
    let n = loo.len() as f64;
    let mean = loo.iter().sum::<f64>() / n;
    ((n - 1.0) / n * loo.iter().map(|x| (x - mean).powi(2)).sum::<f64>()).sqrt()
}

#[cfg(test)]
mod tests {
    use super::super::testgen::{Gen, ar1};
    use super::*;

    #[test]
    fn mean_matches_binning_error() {
        let (c, t) = (8, 3000);
        let data = ar1(c, t, 0.8, 11);
        for b in [1, 2, 4, 16, 64, 256, 1024, 2048] {
            let (v, err) = jackknife(&[&data], c, b, |m| m[0]).unwrap();
            let curve = super::super::binning_curve(&data, c);
            let (_, _, eb) = *curve.iter().find(|p| p.0 == b).unwrap();
            assert!((err - eb).abs() <= 1e-12 * eb, "b={b}: {err} vs {eb}");
            let mean = data.iter().sum::<f64>() / data.len() as f64;
            assert!((v - mean).abs() < 1e-15);
        }
        // A bin size that is not a power of two also works.
        let (_, err) = jackknife(&[&data], c, 100, |m| m[0]).unwrap();
        let bm = super::super::bin_means(&data, c, 100);
        let (_, var) = super::super::mean_var(&bm);
        let direct = (var / bm.len() as f64).sqrt();
        assert!((err - direct).abs() <= 1e-12 * direct);
    }

    #[test]
    fn binder_gaussian_is_zero() {
        let mut g = Gen::new(21);
        let (c, t) = (4, 4096);
        let m: Vec<f64> = (0..c * t).map(|_| 0.7 * g.gauss()).collect();
        let m2: Vec<f64> = m.iter().map(|x| x * x).collect();
        let m4: Vec<f64> = m2.iter().map(|x| x * x).collect();
        let (u, err) = jackknife(&[&m2, &m4], c, 1, binder).unwrap();
        assert!(err > 0.0 && err < 0.05, "{err}");
        assert!(u.abs() < 4.0 * err, "U = {u} ± {err}");
        // Binning the same data changes the error only mildly.
        let (u8, err8) = jackknife(&[&m2, &m4], c, 8, binder).unwrap();
        assert_eq!(u8, u);
        assert!((err8 / err - 1.0).abs() < 0.3);
    }

    #[test]
    fn binder_ordered_phase() {
        // m = ±1 exactly: U = 1 − 1/3 = 2/3 with zero error.
        let m2 = vec![1.0; 64];
        let (u, err) = jackknife(&[&m2, &m2], 2, 1, binder).unwrap();
        assert!((u - 2.0 / 3.0).abs() < 1e-15 && err < 1e-14, "{u} {err}");
        assert!(binder(&[1.0]).is_nan());
    }

    #[test]
    fn errors() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [1.0, 2.0];
        assert_eq!(jackknife(&[], 1, 1, |m| m[0]), Err(StatsError::NoColumns));
        assert!(matches!(
            jackknife(&[&a, &b], 1, 1, |m| m[0]),
            Err(StatsError::ColumnLength { column: 1, .. })
        ));
        assert!(matches!(
            jackknife(&[&a], 2, 3, |m| m[0]),
            Err(StatsError::BadBinSize { .. })
        ));
        assert!(matches!(
            jackknife(&[&a], 2, 0, |m| m[0]),
            Err(StatsError::BadBinSize { .. })
        ));
        assert!(matches!(
            jackknife(&[&a], 1, 4, |m| m[0]),
            Err(StatsError::TooFewBins { n_bins: 1 })
        ));
        assert!(matches!(
            jackknife(&[&[1.0, f64::NAN]], 1, 1, |m| m[0]),
            Err(StatsError::NonFinite { index: 1, .. })
        ));
        let zeros = [0.0; 4];
        assert!(matches!(
            jackknife(&[&zeros, &zeros], 1, 1, binder),
            Err(StatsError::NonFiniteEstimate { .. })
        ));
        // One chain, T = 2, b = 1: fine.
        let (v, e) = jackknife(&[&[1.0, 3.0]], 1, 1, |m| m[0]).unwrap();
        assert_eq!((v, e), (2.0, 1.0));
    }
}
