//! Monte Carlo error analysis (binning, τ_int, jackknife).
//!
//! # Data model
//!
//! An observable is measured on `C` statistically independent Markov chains,
//! `T` measurements each (`C ≥ 1`, `T ≥ 1`), and stored *chain-major*: a flat
//! slice of length `C·T` whose first `T` entries are chain 0, the next `T`
//! chain 1, and so on. Successive measurements within one chain are
//! autocorrelated; different chains are independent.
//!
//! * [`binning`]: standard error of the mean by the binning (blocking) method,
//!   and the integrated autocorrelation time it implies.
//! * [`jackknife`]: errors of non-linear functions of several means
//!   (e.g. the Binder cumulant), leave-one-bin-out.
//! * [`autocorr`]: τ_int from the autocorrelation function with the
//!   Madras–Sokal automatic window.
//!
//! All functions are pure (no I/O) and never panic on bad data: invalid input
//! gives a [`StatsError`] (or `None` where documented).

pub mod autocorr;
pub mod binning;
pub mod jackknife;

pub use autocorr::{tau_int_chains, tau_int_sokal};
pub use binning::{Estimate, binned, binning_curve};
pub use jackknife::{binder, jackknife};

/// Why a statistical analysis could not be carried out.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// No data at all.
    #[error("no data to analyse")]
    Empty,
    /// The number of chains is zero.
    #[error("the number of chains must be at least 1")]
    ZeroChains,
    /// The data length is not a multiple of the number of chains.
    #[error("{len} values cannot be split evenly into {chains} chains")]
    NotDivisible {
        /// Number of values.
        len: usize,
        /// Number of chains.
        chains: usize,
    },
    /// A value is NaN or infinite.
    #[error("value at index {index} (chain {chain}, step {step}) is not finite: {value}")]
    NonFinite {
        /// Flat index into the data.
        index: usize,
        /// Chain of the offending value.
        chain: usize,
        /// Position within its chain.
        step: usize,
        /// The offending value.
        value: f64,
    },
    /// No columns were given to the jackknife.
    #[error("the jackknife needs at least one column")]
    NoColumns,
    /// Jackknife columns have different lengths.
    #[error("column {column} has {len} values but column 0 has {expected}")]
    ColumnLength {
        /// Index of the offending column.
        column: usize,
        /// Its length.
        len: usize,
        /// Length of column 0.
        expected: usize,
    },
    /// The requested bin size is zero or longer than a chain.
    #[error("bin size {bin_size} is invalid for chains of length {chain_len} (need 1 ≤ b ≤ T)")]
    BadBinSize {
        /// Requested bin size.
        bin_size: usize,
        /// Measurements per chain.
        chain_len: usize,
    },
    /// Too few bins to estimate a variance.
    #[error("only {n_bins} bin(s); at least 2 are needed to estimate an error")]
    TooFewBins {
        /// Number of bins that could be formed.
        n_bins: usize,
    },
    /// The estimator returned NaN or infinity.
    #[error("the estimator returned a non-finite value ({value}) on {which}")]
    NonFiniteEstimate {
        /// What the estimator was evaluated on.
        which: &'static str,
        /// The value it returned.
        value: f64,
    },
}

/// Checks the chain-major layout of `data` and returns the chain length `T`.
///
/// Errors: empty data, zero chains, length not divisible by `chains`, or a
/// non-finite value (the first one is named).
pub(crate) fn check_layout(data: &[f64], chains: usize) -> Result<usize, StatsError> {
    if chains == 0 {
        return Err(StatsError::ZeroChains);
    }
    if data.is_empty() {
        return Err(StatsError::Empty);
    }
    if !data.len().is_multiple_of(chains) {
        return Err(StatsError::NotDivisible {
            len: data.len(),
            chains,
        });
    }
    let t = data.len() / chains;
    if let Some((index, &value)) = data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(StatsError::NonFinite {
            index,
            chain: index / t,
            step: index % t,
            value,
        });
    }
    Ok(t)
}

/// Means of the consecutive non-overlapping blocks of `bin_size` values within
/// each chain (the incomplete tail block of each chain is dropped), in
/// chain-major order. The layout must already be valid and `1 ≤ bin_size ≤ T`.
pub(crate) fn bin_means(data: &[f64], chains: usize, bin_size: usize) -> Vec<f64> {
    let t = data.len() / chains;
    let per_chain = t / bin_size;
    let b = bin_size as f64;
    let mut out = Vec::with_capacity(chains * per_chain);
    for chain in data.chunks_exact(t) {
        for block in chain.chunks_exact(bin_size) {
            out.push(block.iter().sum::<f64>() / b);
        }
    }
    out
}

/// Mean and unbiased variance of `x` (two-pass). `x.len() ≥ 2`.
pub(crate) fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let ss: f64 = x.iter().map(|v| (v - mean) * (v - mean)).sum();
    (mean, ss / (n - 1.0))
}

#[cfg(test)]
pub(crate) mod testgen {
    //! Deterministic random numbers for the statistical tests.

    /// splitmix64 generator with a Box–Muller Gaussian.
    pub struct Gen(u64);

    impl Gen {
        pub fn new(seed: u64) -> Self {
            Gen(seed)
        }

        pub fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in (0, 1].
        fn uniform(&mut self) -> f64 {
            ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
        }

        pub fn gauss(&mut self) -> f64 {
            let u1 = self.uniform();
            let u2 = self.uniform();
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        }
    }

    /// `chains` independent stationary AR(1) series of length `t` with unit
    /// variance, chain-major.
    pub fn ar1(chains: usize, t: usize, phi: f64, seed: u64) -> Vec<f64> {
        let mut g = Gen::new(seed);
        let s = (1.0 - phi * phi).sqrt();
        let mut out = Vec::with_capacity(chains * t);
        for _ in 0..chains {
            let mut x = g.gauss();
            for _ in 0..t {
                out.push(x);
                x = phi * x + s * g.gauss();
            }
        }
        out
    }

    /// Exact τ_int of AR(1).
    pub fn ar1_tau(phi: f64) -> f64 {
        (1.0 + phi) / (2.0 * (1.0 - phi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_errors() {
        assert_eq!(check_layout(&[], 1), Err(StatsError::Empty));
        assert_eq!(check_layout(&[1.0], 0), Err(StatsError::ZeroChains));
        assert!(matches!(
            check_layout(&[1.0, 2.0, 3.0], 2),
            Err(StatsError::NotDivisible { len: 3, chains: 2 })
        ));
        let e = check_layout(&[1.0, 2.0, f64::INFINITY, 4.0], 2).unwrap_err();
        assert!(matches!(
            e,
            StatsError::NonFinite {
                index: 2,
                chain: 1,
                step: 0,
                ..
            }
        ));
        assert!(e.to_string().contains("index 2"));
        assert_eq!(check_layout(&[1.0, 2.0, 3.0, 4.0], 2), Ok(2));
    }

    #[test]
    fn bin_means_drop_tails_per_chain() {
        // 2 chains of 5; b = 2 → blocks (0,1),(2,3) per chain.
        let d = [0.0, 2.0, 4.0, 6.0, 100.0, 1.0, 3.0, 5.0, 7.0, 100.0];
        assert_eq!(bin_means(&d, 2, 2), vec![1.0, 5.0, 2.0, 6.0]);
        assert_eq!(bin_means(&d, 2, 5), vec![22.4, 23.2]);
    }
}
