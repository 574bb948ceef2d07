//! Binning (blocking) analysis of the error of a Monte Carlo mean.
//!
//! The data of each chain are cut into consecutive, non-overlapping bins of
//! `b` measurements (bins never cross chain boundaries, and the incomplete
//! tail bin of each chain is dropped). The standard error of the grand mean is
//! estimated from the scatter of the bin means,
//! `err_b = sqrt(var(bin means) / n_bins)` with the unbiased variance. For
//! `b = 1` this is the naive error that ignores autocorrelation; as `b` grows
//! it rises and reaches a plateau at the true error once `b ≫ τ_int`. The
//! ratio of the two defines the integrated autocorrelation time,
//! `τ_int = ½ · err_b² / err_1²` (½ for uncorrelated data).
//!
//! # Why this is honest
//!
//! Bin means are (nearly) independent only when `b` exceeds several τ_int;
//! a bin size that is too small *underestimates* the error. [`binned`]
//! therefore takes the **largest** power-of-two `b ≤ T` that still leaves at
//! least [`MIN_BINS`] bins, so that the variance of the bin means is still
//! estimated from a reasonable number of bins (relative uncertainty of the
//! error about `1/sqrt(2·(n_bins − 1))`, i.e. ≈ 13 % with 32 bins):
//!
//! * with long chains (`T ≫ τ_int`) this `b` lies on the plateau;
//! * with many short chains (the replica layout, e.g. 256 independent chains
//!   of `T = 2`), `b` becomes the whole chain and the bins are *exactly*
//!   independent, whatever the autocorrelation within a chain;
//! * in between, inspect [`binning_curve`]: if `err_b` is still rising at the
//!   chosen `b`, the chains are too short for a trustworthy error and the
//!   reported τ_int is only a lower bound.

use super::{StatsError, check_layout, mean_var};

/// Minimum number of bins [`binned`] insists on when choosing the bin size.
pub const MIN_BINS: usize = 32;

/// Result of a binning analysis of one observable.
///
/// Serializes to JSON with non-finite numbers (see [`binned`]) as `null`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Estimate {
    /// Plain mean of all data.
    pub mean: f64,
    /// Standard error of `mean` at the chosen bin size.
    pub err: f64,
    /// Integrated autocorrelation time implied by the binning, in units of
    /// measurements: `½ · err² / err_1²`.
    pub tau_int: f64,
    /// The chosen bin size (measurements per bin).
    pub bin_size: usize,
    /// Number of bins at that size.
    pub n_bins: usize,
}

/// Binning analysis of chain-major `data` measured on `chains` independent
/// chains.
///
/// The bin size is the largest power of two `b ≤ T` with at least
/// [`MIN_BINS`] bins. Special cases:
///
/// * fewer than [`MIN_BINS`] data in total but at least 2: `b = 1` (the
///   autocorrelation cannot be assessed, so `tau_int = 0.5` is reported);
/// * a single datum: `err = +∞`, `tau_int = NaN`, `bin_size = n_bins = 1`;
/// * data with zero variance: `err = 0`, `tau_int = 0.5`.
///
/// # Errors
///
/// Empty data, `chains == 0`, a length not divisible by `chains`, or a
/// non-finite value.
pub fn binned(data: &[f64], chains: usize) -> Result<Estimate, StatsError> {
    let t = check_layout(data, chains)?;
    let mean = data.iter().sum::<f64>() / data.len() as f64;
    if data.len() < 2 {
        return Ok(Estimate {
            mean,
            err: f64::INFINITY,
            tau_int: f64::NAN,
            bin_size: 1,
            n_bins: data.len(),
        });
    }
    let curve = curve_unchecked(data, chains, t);
    // curve[0] is b = 1 with n_bins = C·T ≥ 2.
    let (_, n1, err1) = curve[0];
    if err1 == 0.0 {
        return Ok(Estimate {
            mean,
            err: 0.0,
            tau_int: 0.5,
            bin_size: 1,
            n_bins: n1,
        });
    }
    let &(bin_size, n_bins, err) = curve
        .iter()
        .rev()
        .find(|&&(_, n, _)| n >= MIN_BINS)
        .unwrap_or(&curve[0]);
    Ok(Estimate {
        mean,
        err,
        tau_int: 0.5 * (err / err1) * (err / err1),
        bin_size,
        n_bins,
    })
}

/// The binning curve: `(b, n_bins, err_b)` for `b = 1, 2, 4, … ≤ T`, listing
/// only bin sizes that leave at least 2 bins.
///
/// For diagnostics (plateau inspection). Returns an empty vector when the
/// layout is invalid (empty, `chains == 0`, length not divisible by `chains`,
/// non-finite values) — use [`binned`] to get the reason as an error.
pub fn binning_curve(data: &[f64], chains: usize) -> Vec<(usize, usize, f64)> {
    match check_layout(data, chains) {
        Ok(t) => curve_unchecked(data, chains, t),
        Err(_) => Vec::new(),
    }
}

/// Binning curve for a valid layout with chain length `t`, by repeated
/// pairwise averaging within each chain (block size `2b` is the mean of two
/// consecutive blocks of size `b`; odd tail blocks are dropped, which is the
/// same as dropping the incomplete tail of `b`-blocks).
fn curve_unchecked(data: &[f64], chains: usize, t: usize) -> Vec<(usize, usize, f64)> {
    let mut out = Vec::new();
    let mut cur: Vec<f64> = data.to_vec();
    let mut per_chain = t;
    let mut b = 1usize;
    loop {
        let n_bins = chains * per_chain;
        if n_bins < 2 {
            break;
        }
        let (_, var) = mean_var(&cur);
        out.push((b, n_bins, (var / n_bins as f64).sqrt()));
        let half = per_chain / 2;
        if half == 0 {
            break;
        }
        let mut next = Vec::with_capacity(chains * half);
        for chain in cur.chunks_exact(per_chain) {
            next.extend(chain.chunks_exact(2).map(|p| 0.5 * (p[0] + p[1])));
        }
        cur = next;
        per_chain = half;
        b *= 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::bin_means;
    use super::super::testgen::{Gen, ar1, ar1_tau};
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs()
    }

    #[test]
    fn ar1_tau_and_error() {
        let phi = 0.9;
        let (c, t) = (1024, 1 << 12);
        let data = ar1(c, t, phi, 1);
        let est = binned(&data, c).unwrap();
        let tau = ar1_tau(phi);
        assert!(rel(est.tau_int, tau) < 0.15, "{est:?} vs tau {tau}");
        let exact_err = (2.0 * tau / data.len() as f64).sqrt();
        assert!(rel(est.err, exact_err) < 0.20, "{est:?} vs {exact_err}");
        assert!(est.n_bins >= MIN_BINS);
        assert_eq!(est.bin_size, t);
        assert!(est.mean.abs() < 5.0 * exact_err);
    }

    #[test]
    fn ar1_long_chains() {
        // Few long chains: the chosen b leaves exactly 32 bins.
        let phi = 0.9;
        let data = ar1(16, 1 << 15, phi, 2);
        let est = binned(&data, 16).unwrap();
        assert_eq!(est.n_bins, 32);
        assert_eq!(est.bin_size, 1 << 14);
        // 32 bins: τ is known to ~25 % only.
        assert!(rel(est.tau_int, ar1_tau(phi)) < 0.6, "{est:?}");
        // The plateau of the curve is at the right height.
        let curve = binning_curve(&data, 16);
        let (b, _, err) = curve.iter().find(|p| p.0 == 256).copied().unwrap();
        assert_eq!(b, 256);
        let tau_256 = 0.5 * (err / curve[0].2).powi(2);
        assert!(rel(tau_256, ar1_tau(phi)) < 0.15, "{tau_256}");
    }

    #[test]
    fn independent_data() {
        let data = ar1(8, 4096, 0.0, 3);
        let est = binned(&data, 8).unwrap();
        assert!((est.tau_int - 0.5).abs() < 0.5 * 0.15, "{est:?}");
    }

    #[test]
    fn replica_layout_whole_chain_bins() {
        // 256 chains of T = 2: bins are whole chains.
        let data = ar1(256, 2, 0.9, 4);
        let est = binned(&data, 256).unwrap();
        assert_eq!((est.bin_size, est.n_bins), (2, 256));
        let m = bin_means(&data, 256, 2);
        let (_, var) = mean_var(&m);
        assert!((est.err - (var / 256.0).sqrt()).abs() < 1e-15);
    }

    #[test]
    fn curve_matches_direct_bins() {
        let data = ar1(3, 37, 0.5, 5);
        let curve = binning_curve(&data, 3);
        let bs: Vec<usize> = curve.iter().map(|p| p.0).collect();
        assert_eq!(bs, vec![1, 2, 4, 8, 16, 32]);
        for &(b, n, err) in &curve {
            let m = bin_means(&data, 3, b);
            assert_eq!(m.len(), n);
            let (_, var) = mean_var(&m);
            let direct = (var / n as f64).sqrt();
            assert!(rel(err, direct) < 1e-12, "b={b}: {err} vs {direct}");
        }
    }

    #[test]
    fn edge_cases() {
        // One datum.
        let e = binned(&[3.0], 1).unwrap();
        assert_eq!(e.mean, 3.0);
        assert!(e.err.is_infinite() && e.tau_int.is_nan());
        assert_eq!((e.bin_size, e.n_bins), (1, 1));
        assert!(binning_curve(&[3.0], 1).is_empty());
        // Serializes (non-finite as null).
        let j = serde_json::to_value(e).unwrap();
        assert!(j["err"].is_null());
        // Constant data.
        let e = binned(&[2.5; 100], 4).unwrap();
        assert_eq!((e.mean, e.err, e.tau_int), (2.5, 0.0, 0.5));
        // T = 1, few chains: b = 1.
        let e = binned(&[1.0, 2.0, 3.0, 4.0], 4).unwrap();
        assert_eq!((e.bin_size, e.n_bins, e.tau_int), (1, 4, 0.5));
        assert!(rel(e.err, (5.0f64 / 3.0 / 4.0).sqrt()) < 1e-12);
        // One chain.
        let mut g = Gen::new(9);
        let d: Vec<f64> = (0..1000).map(|_| g.gauss()).collect();
        let e = binned(&d, 1).unwrap();
        assert_eq!((e.bin_size, e.n_bins), (16, 62));
        // Errors.
        assert!(matches!(
            binned(&[1.0, f64::NAN], 1),
            Err(StatsError::NonFinite { index: 1, .. })
        ));
        assert_eq!(binned(&[], 1), Err(StatsError::Empty));
        assert!(binning_curve(&[1.0, 2.0, 3.0], 2).is_empty());
    }
}
