//! The numerics of the RG flow: intrinsic thermometers (inverting a reference curve),
//! weighted polynomial fits, T_c from the first step and ν from the slopes of the flow.
//!
//! - **Thermometer.** A reference curve y(T) of one observable of the original model at the
//!   coarse lattice's size, measured on a temperature grid, is interpolated by the cubic
//!   through the four grid points around the bracketing interval and solved for T by
//!   bisection. The error combines the measured value's error and the interpolated
//!   reference error, divided by the curve's slope there.
//! - **T_c.** Where T_eff⁽¹⁾(T₀) = T₀: the zero of a weighted quadratic fit of
//!   T_eff⁽¹⁾ − T₀ against T₀ (linear with fewer than four starting temperatures), the
//!   zero inside the range of T₀ closest to its middle.
//! - **ν.** Near the fixed point t_n = (T_eff⁽ⁿ⁾ − T_c)/T_c = 2^{n/ν} t₀, so the slope
//!   s_n = dT_eff⁽ⁿ⁾/dT₀ at T_c is 2^{n/ν}: each level gives ν_n = n ln 2 / ln s_n, with
//!   s_n from a weighted quadratic fit of T_eff⁽ⁿ⁾ against T₀ (linear with fewer than four
//!   points). The per-point ratio n ln 2 / ln(t_n/t₀) is far noisier and is not used.
//! - **Errors.** Parametric bootstrap: every T_eff is redrawn from a normal distribution
//!   with its error (the starting temperatures are independent runs), and T_c and ν are
//!   recomputed; the error is the standard deviation over the replicas.

use anyhow::{Result, bail};
use nalgebra::{DMatrix, DVector};

/// A monotone reference curve y(T).
#[derive(Debug, Clone)]
pub struct Curve {
    /// Temperatures, ascending.
    pub t: Vec<f64>,
    /// Values.
    pub y: Vec<f64>,
    /// Errors of the values.
    pub err: Vec<f64>,
}

/// Lagrange polynomial through `(xs, ys)` and its derivative at `x`.
fn lagrange(xs: &[f64], ys: &[f64], x: f64) -> (f64, f64) {
    let n = xs.len();
    let mut p = 0.0;
    let mut dp = 0.0;
    for i in 0..n {
        let mut li = 1.0;
        let mut dli = 0.0;
        for j in 0..n {
            if j == i {
                continue;
            }
            let d = xs[i] - xs[j];
            // Product rule: d/dx Π (x − x_j)/d_j.
            dli = dli * (x - xs[j]) / d + li / d;
            li *= (x - xs[j]) / d;
        }
        p += ys[i] * li;
        dp += ys[i] * dli;
    }
    (p, dp)
}

impl Curve {
    /// The temperature at which the curve takes the value `y ± e`, with its error; `None`
    /// when the grid does not bracket `y`.
    pub fn invert(&self, y: f64, e: f64) -> Option<(f64, f64)> {
        let n = self.t.len();
        if n < 2 || !y.is_finite() {
            return None;
        }
        let i = (0..n - 1).find(|&i| (self.y[i] - y) * (self.y[i + 1] - y) <= 0.0)?;
        // Four points around [i, i+1] (fewer at the ends of a short grid).
        let lo = i.saturating_sub(1).min(n.saturating_sub(4));
        let hi = (lo + 4).min(n);
        let (xs, ys) = (&self.t[lo..hi], &self.y[lo..hi]);
        let f = |t: f64| lagrange(xs, ys, t).0 - y;
        let (mut a, mut b) = (self.t[i], self.t[i + 1]);
        let (mut fa, fb) = (f(a), f(b));
        let t = if fa == 0.0 {
            a
        } else if fb == 0.0 {
            b
        } else {
            for _ in 0..80 {
                let m = 0.5 * (a + b);
                let fm = f(m);
                if (fm < 0.0) == (fa < 0.0) {
                    a = m;
                    fa = fm;
                } else {
                    b = m;
                }
            }
            0.5 * (a + b)
        };
        let secant = (self.y[i + 1] - self.y[i]) / (self.t[i + 1] - self.t[i]);
        let (_, slope) = lagrange(xs, ys, t);
        // A noisy cubic may flatten inside the interval; the secant is the safe slope then.
        let slope = if slope * secant > 0.0 && slope.abs() > 0.25 * secant.abs() {
            slope
        } else {
            secant
        };
        let w = (t - self.t[i]) / (self.t[i + 1] - self.t[i]);
        let e_ref = (1.0 - w) * self.err[i] + w * self.err[i + 1];
        Some((t, (e * e + e_ref * e_ref).sqrt() / slope.abs()))
    }
}

/// Weighted least-squares polynomial coefficients (lowest order first) of degree `deg`,
/// with the abscissae centred on `x0`.
pub fn polyfit(x: &[f64], y: &[f64], w: &[f64], deg: usize, x0: f64) -> Option<Vec<f64>> {
    let n = x.len();
    if n <= deg {
        return None;
    }
    let a = DMatrix::from_fn(n, deg + 1, |i, j| (x[i] - x0).powi(j as i32) * w[i].sqrt());
    let b = DVector::from_fn(n, |i, _| y[i] * w[i].sqrt());
    let ata = a.transpose() * &a;
    let atb = a.transpose() * b;
    let c = ata.cholesky()?.solve(&atb);
    c.iter()
        .all(|v| v.is_finite())
        .then(|| c.iter().copied().collect())
}

/// Value and derivative of a polynomial (centred on `x0`) at `x`.
pub fn polyval(c: &[f64], x0: f64, x: f64) -> (f64, f64) {
    let u = x - x0;
    let mut p = 0.0;
    let mut dp = 0.0;
    for cj in c.iter().rev() {
        dp = dp * u + p;
        p = p * u + cj;
    }
    (p, dp)
}

/// The fit degree used for `points` starting temperatures.
pub fn degree(points: usize) -> usize {
    if points >= 4 { 2 } else { 1 }
}

/// T_c from the first step: the zero of T_eff⁽¹⁾ − T₀ (module docs). `t1` holds
/// (T_eff⁽¹⁾, err) per starting temperature `t0`.
pub fn critical_temperature(t0: &[f64], t1: &[(f64, f64)]) -> Option<f64> {
    let mid = 0.5
        * (t0.iter().copied().fold(f64::INFINITY, f64::min)
            + t0.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    let d: Vec<f64> = t0.iter().zip(t1).map(|(a, (b, _))| b - a).collect();
    let w: Vec<f64> = t1.iter().map(|(_, e)| 1.0 / (e * e).max(1e-24)).collect();
    let c = polyfit(t0, &d, &w, degree(t0.len()), mid)?;
    let (lo, hi) = (
        t0.iter().copied().fold(f64::INFINITY, f64::min),
        t0.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    // Zeros of the polynomial in u = T − mid.
    let linear = c.len() == 2 || c[2].abs() < 1e-300;
    let roots: Vec<f64> = if linear {
        if c[1] == 0.0 {
            vec![]
        } else {
            vec![-c[0] / c[1]]
        }
    } else {
        let disc = c[1] * c[1] - 4.0 * c[2] * c[0];
        if disc < 0.0 {
            vec![]
        } else {
            let s = disc.sqrt();
            vec![(-c[1] + s) / (2.0 * c[2]), (-c[1] - s) / (2.0 * c[2])]
        }
    };
    roots
        .into_iter()
        .map(|u| u + mid)
        .filter(|t| *t >= lo && *t <= hi)
        .min_by(|a, b| (a - mid).abs().total_cmp(&(b - mid).abs()))
}

/// The slope dT_eff⁽ⁿ⁾/dT₀ at `tc`.
pub fn slope_at(t0: &[f64], tn: &[(f64, f64)], tc: f64) -> Option<f64> {
    let y: Vec<f64> = tn.iter().map(|(v, _)| *v).collect();
    let w: Vec<f64> = tn.iter().map(|(_, e)| 1.0 / (e * e).max(1e-24)).collect();
    let c = polyfit(t0, &y, &w, degree(t0.len()), tc)?;
    Some(polyval(&c, tc, tc).1)
}

/// ν from level `n`'s slope (module docs); `None` when the slope is not above 1.
pub fn nu_from_slope(n: usize, slope: f64) -> Option<f64> {
    (slope > 1.0).then(|| n as f64 * std::f64::consts::LN_2 / slope.ln())
}

/// T_c and ν per level (levels 1..=K) from the T_eff table `teff[level-1][i]` of starting
/// temperatures `t0`, plus the combined ν over `nu_levels` (mean of 1/ν_n, inverted).
#[derive(Debug, Clone)]
pub struct FlowFit {
    /// T_c.
    pub t_c: f64,
    /// ν_n per level.
    pub nu_levels: Vec<Option<f64>>,
    /// ν combined.
    pub nu: Option<f64>,
}

/// Fit T_c and ν (module docs); `combine` lists the levels (1-based) whose 1/ν are averaged.
pub fn fit_flow(t0: &[f64], teff: &[Vec<(f64, f64)>], combine: &[usize]) -> Result<FlowFit> {
    let Some(first) = teff.first() else {
        bail!("the flow has no coarse level");
    };
    let Some(t_c) = critical_temperature(t0, first) else {
        bail!(
            "T_eff after one step does not cross T_0 between the starting temperatures: they \
             all flow the same way (choose starting temperatures on both sides of T_c)"
        );
    };
    let nu_levels: Vec<Option<f64>> = teff
        .iter()
        .enumerate()
        .map(|(k, tn)| slope_at(t0, tn, t_c).and_then(|s| nu_from_slope(k + 1, s)))
        .collect();
    let inv: Vec<f64> = combine
        .iter()
        .filter_map(|&n| nu_levels.get(n - 1).copied().flatten())
        .map(|nu| 1.0 / nu)
        .collect();
    let nu = (inv.len() == combine.len() && !inv.is_empty())
        .then(|| inv.len() as f64 / inv.iter().sum::<f64>());
    Ok(FlowFit { t_c, nu_levels, nu })
}

/// A standard normal variate from a xoshiro stream (Box–Muller).
fn gauss(rng: &mut rsmi_core::rng::Xoshiro256PlusPlus) -> f64 {
    crate::learn::train::gauss(rng)
}

/// Bootstrap errors of T_c, the per-level ν and the combined ν (module docs): standard
/// deviations over `replicas` redraws; replicas whose fit fails are skipped (and counted).
pub fn bootstrap(
    t0: &[f64],
    teff: &[Vec<(f64, f64)>],
    combine: &[usize],
    replicas: usize,
    seed: u64,
) -> (f64, Vec<f64>, f64, usize) {
    let mut rng = rsmi_core::rng::stream(seed, 0x464c_4f57, 0);
    let mut tcs = Vec::new();
    let mut nus: Vec<Vec<f64>> = vec![Vec::new(); teff.len()];
    let mut nuc = Vec::new();
    let mut failed = 0;
    for _ in 0..replicas {
        let redraw: Vec<Vec<(f64, f64)>> = teff
            .iter()
            .map(|tn| {
                tn.iter()
                    .map(|&(v, e)| (v + e * gauss(&mut rng), e))
                    .collect()
            })
            .collect();
        match fit_flow(t0, &redraw, combine) {
            Ok(f) => {
                tcs.push(f.t_c);
                for (k, v) in f.nu_levels.iter().enumerate() {
                    if let Some(v) = v {
                        nus[k].push(*v);
                    }
                }
                if let Some(v) = f.nu {
                    nuc.push(v);
                }
            }
            Err(_) => failed += 1,
        }
    }
    let sd = |x: &[f64]| {
        if x.len() < 2 {
            return f64::NAN;
        }
        let m = x.iter().sum::<f64>() / x.len() as f64;
        (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() - 1) as f64).sqrt()
    };
    (
        sd(&tcs),
        nus.iter().map(|v| sd(v)).collect(),
        sd(&nuc),
        failed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invert_recovers_a_cubic_exactly() {
        // y = 2 − T + 0.1 (T − 2)³ is monotone decreasing and a cubic: the local cubic
        // interpolation is exact.
        let f = |t: f64| 2.0 - t + 0.1 * (t - 2.0).powi(3);
        let t: Vec<f64> = (0..9).map(|k| 1.6 + 0.1 * k as f64).collect();
        let c = Curve {
            y: t.iter().map(|&x| f(x)).collect(),
            err: vec![0.01; 9],
            t,
        };
        for target in [1.65, 2.0, 2.213, 2.39] {
            let (tt, e) = c.invert(f(target), 0.0).unwrap();
            assert!((tt - target).abs() < 1e-10, "{tt} vs {target}");
            // err = e_ref / |slope| = 0.01 / |−1 + 0.3 (T−2)²|.
            let s = (-1.0 + 0.3 * (target - 2.0f64).powi(2)).abs();
            assert!((e - 0.01 / s).abs() < 1e-6);
        }
        assert!(c.invert(f(1.5), 0.0).is_none());
        assert!(c.invert(f(2.5), 0.0).is_none());
    }

    #[test]
    fn flow_fit_recovers_a_known_flow() {
        // T_eff⁽ⁿ⁾ = T_c (1 + 2^{n/ν} t₀) exactly, ν = 0.8, T_c = 2.3.
        let (tc, nu) = (2.3, 0.8);
        let t0: Vec<f64> = [-0.04, -0.02, -0.01, 0.01, 0.02, 0.04]
            .iter()
            .map(|t| tc * (1.0 + t))
            .collect();
        let teff: Vec<Vec<(f64, f64)>> = (1..=3)
            .map(|n| {
                t0.iter()
                    .map(|&t| (tc * (1.0 + 2f64.powf(n as f64 / nu) * (t / tc - 1.0)), 1e-3))
                    .collect()
            })
            .collect();
        let f = fit_flow(&t0, &teff, &[2, 3]).unwrap();
        assert!((f.t_c - tc).abs() < 1e-9);
        for v in &f.nu_levels {
            assert!((v.unwrap() - nu).abs() < 1e-9);
        }
        assert!((f.nu.unwrap() - nu).abs() < 1e-9);
        let (e_tc, e_nu, e_c, failed) = bootstrap(&t0, &teff, &[2, 3], 200, 1);
        assert_eq!(failed, 0);
        assert!(e_tc > 0.0 && e_tc < 1e-3);
        assert!(e_nu.iter().all(|e| *e > 0.0 && *e < 0.05));
        assert!(e_c > 0.0);
        // All flowing one way: an error.
        let up: Vec<Vec<(f64, f64)>> = vec![t0.iter().map(|&t| (t + 0.1, 1e-3)).collect()];
        assert!(fit_flow(&t0, &up, &[1]).is_err());
    }

    #[test]
    fn polyval_derivative() {
        let c = [1.0, 2.0, 3.0];
        let (p, dp) = polyval(&c, 1.0, 3.0);
        assert_eq!(p, 1.0 + 4.0 + 12.0);
        assert_eq!(dp, 2.0 + 12.0);
    }
}
