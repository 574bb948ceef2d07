//! Integrated autocorrelation time with the Madras–Sokal automatic window.
//!
//! For a stationary series the normalised autocorrelation function is
//! `ρ(t) = Γ(t)/Γ(0)` with `Γ(t) = (1/n) Σ_{i<n−t} (x_i − x̄)(x_{i+t} − x̄)`,
//! and the integrated autocorrelation time is
//! `τ_int = ½ + Σ_{t≥1} ρ(t)` (so `τ_int = ½` for independent data and the
//! variance of the mean is `2 τ_int σ² / n`). Summing the noisy tail of `ρ`
//! adds variance without signal, so the sum is truncated at a window `W`:
//! `τ(W) = ½ + Σ_{t=1}^{W} ρ(t)`, with `W` the smallest window satisfying
//! `W ≥ c · τ(W)` (Madras & Sokal 1988; `c ≈ 5–10`, larger for slowly
//! decaying `ρ`). The truncation bias is then of order `e^{−c}` for a single
//! exponential mode, and the statistical error about
//! `τ · sqrt(2(2W+1)/n)`.
//!
//! The windowed sum is computed directly in `O(n·W)`, stopping as soon as the
//! window condition holds. The window is capped at `n/2`; if the condition is
//! never met the series is too short and `None` is returned.

/// Madras–Sokal τ_int of a single series and the window `W` that was used.
///
/// Returns `None` if `series` has fewer than 2 values, contains a non-finite
/// value, `c` is not a positive finite number, or no window `W ≤ n/2`
/// satisfies `W ≥ c·τ(W)` (series too short for its autocorrelation). A
/// constant series has no autocorrelation to measure and gives
/// `Some((0.5, 0))`. For anti-correlated data `τ` can come out below ½.
pub fn tau_int_sokal(series: &[f64], c: f64) -> Option<(f64, usize)> {
    tau_int_chains(series, 1, c)
}

/// Madras–Sokal τ_int from several independent chains (chain-major layout,
/// see [`super`]) of the same process.
///
/// The autocovariance `Γ(t)` is computed within each chain and averaged over
/// the chains before normalising and summing, so short chains pool their
/// information instead of each giving a noisy τ. All chains are centred on the
/// *grand* mean: centring each chain on its own mean would bias `Γ(t)` by
/// `−Var(chain mean)` at every lag (for chains of `T = 2`, `ρ(1) = −½`
/// exactly, whatever the process), and would hide chains stuck in different
/// regions (e.g. opposite magnetisation sectors), which here correctly show up
/// as long-lived correlation (and typically as `None`: no window found).
/// Returns `None` for an invalid layout (empty, `chains == 0`, length not
/// divisible by `chains`, non-finite values), chains of fewer than 2 values,
/// an invalid `c`, or when no window `W ≤ T/2` satisfies `W ≥ c·τ(W)`.
/// Constant data give `Some((0.5, 0))`.
pub fn tau_int_chains(data: &[f64], chains: usize, c: f64) -> Option<(f64, usize)> {
    let t = super::check_layout(data, chains).ok()?;
    if t < 2 || !(c.is_finite() && c > 0.0) {
        return None;
    }
    let mean = data.iter().sum::<f64>() / data.len() as f64;
    let centered: Vec<f64> = data.iter().map(|v| v - mean).collect();
    // Γ(lag) summed over chains (the common 1/(C·T) factor cancels in ρ).
    let gamma = |lag: usize| -> f64 {
        centered
            .chunks_exact(t)
            .map(|ch| {
                ch[..t - lag]
                    .iter()
                    .zip(&ch[lag..])
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
            })
            .sum()
    };
    let g0 = gamma(0);
    if g0 == 0.0 {
        return Some((0.5, 0));
    }
    let mut tau = 0.5;
    for w in 1..=t / 2 {
        tau += gamma(w) / g0;
        if w as f64 >= c * tau {
            return Some((tau, w));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::testgen::{ar1, ar1_tau};
    use super::*;

    #[test]
    fn ar1_pooled_chains() {
        let phi = 0.9;
        let (c, t) = (1024, 1 << 12);
        let data = ar1(c, t, phi, 1);
        let (tau, w) = tau_int_chains(&data, c, 6.0).unwrap();
        let exact = ar1_tau(phi);
        assert!((tau / exact - 1.0).abs() < 0.10, "tau {tau} (W = {w})");
        assert!(w as f64 >= 6.0 * tau && w < 100);
    }

    #[test]
    fn ar1_single_long_series() {
        let phi = 0.9;
        let data = ar1(1, 1 << 18, phi, 7);
        let (tau, _) = tau_int_sokal(&data, 6.0).unwrap();
        assert!((tau / ar1_tau(phi) - 1.0).abs() < 0.10, "tau {tau}");
    }

    #[test]
    fn ar1_sixteen_chains() {
        let phi = 0.9;
        let data = ar1(16, 1 << 15, phi, 2);
        let (tau, _) = tau_int_chains(&data, 16, 6.0).unwrap();
        assert!((tau / ar1_tau(phi) - 1.0).abs() < 0.10, "tau {tau}");
    }

    #[test]
    fn independent() {
        let data = ar1(4, 1 << 14, 0.0, 3);
        let (tau, w) = tau_int_chains(&data, 4, 5.0).unwrap();
        assert!((tau - 0.5).abs() < 0.05, "tau {tau}");
        assert!(w <= 5);
    }

    #[test]
    fn edge_cases() {
        assert_eq!(tau_int_sokal(&[], 5.0), None);
        assert_eq!(tau_int_sokal(&[1.0], 5.0), None);
        assert_eq!(tau_int_sokal(&[1.0, f64::NAN, 2.0], 5.0), None);
        assert_eq!(tau_int_sokal(&[1.0; 10], 5.0), Some((0.5, 0)));
        assert_eq!(tau_int_sokal(&[1.0, 2.0, 3.0, 4.0], f64::NAN), None);
        assert_eq!(tau_int_sokal(&[1.0, 2.0, 3.0, 4.0], 0.0), None);
        // Strongly correlated but short: no window found (τ(1) = 0.75,
        // τ(2) = 0.45 by hand).
        assert_eq!(tau_int_sokal(&[1.0, 2.0, 3.0, 4.0], 5.0), None);
        assert_eq!(tau_int_sokal(&[1.0, 2.0, 3.0, 4.0], 1.0), Some((0.75, 1)));
        // T = 2 replicas: window capped at 1.
        let data = ar1(256, 2, 0.9, 6);
        assert_eq!(tau_int_chains(&data, 256, 5.0), None);
        assert_eq!(tau_int_chains(&data, 3, 5.0), None);
        assert_eq!(tau_int_chains(&data, 0, 5.0), None);
        // T = 1: too short.
        assert_eq!(tau_int_chains(&[1.0, 2.0], 2, 5.0), None);
    }
}
