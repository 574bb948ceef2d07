//! The coarse-graining rule (docs/method.md#the-rule), scalar `f64` reference.
//!
//! P_Λ(H|V) = Π_j e^{h_j a_j} / (2 cosh a_j), a_j = b_j + Σ_i λ_ji v_i, h_j = ±1.
//!
//! Conventions shared by every estimator and kernel:
//! - `weights` is row-major `[hidden j][visible i]` (the layout of RULE.json), `bias[j]`;
//! - a hidden configuration is an index `s` in `0..2^hidden`: bit j of `s` set means
//!   h_j = +1, clear means h_j = −1;
//! - gradients are exact sums over H (never through a sampled H):
//!   ∂P(s|V)/∂λ_ji = P(s|V) v_i (h_j − tanh a_j), ∂P(s|V)/∂b_j = P(s|V) (h_j − tanh a_j).
//!
//! The `f32x8` batch kernels in [`super::kernels`] are checked against these functions.

use crate::error::{Error, check_len};

/// Most hidden units a rule may have (2⁸ = 256 hidden configurations).
pub const MAX_HIDDEN: usize = 8;

/// Most visible units a rule may have.
pub const MAX_VISIBLE: usize = 4096;

/// Sizes of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Number of visible units |V|.
    pub visible: usize,
    /// Number of hidden units N_h.
    pub hidden: usize,
}

impl Shape {
    /// A rule with `visible` inputs and `hidden` outputs (1 ≤ hidden ≤ [`MAX_HIDDEN`],
    /// 1 ≤ visible ≤ [`MAX_VISIBLE`]).
    pub fn new(visible: usize, hidden: usize) -> Result<Shape, Error> {
        if visible == 0 || visible > MAX_VISIBLE {
            return Err(Error::InvalidParameter(
                "the visible block must have between 1 and 4096 sites",
            ));
        }
        if hidden == 0 || hidden > MAX_HIDDEN {
            return Err(Error::InvalidParameter(
                "the number of hidden units must be between 1 and 8",
            ));
        }
        Ok(Shape { visible, hidden })
    }

    /// Number of weights, `hidden · visible`.
    pub fn weights(&self) -> usize {
        self.hidden * self.visible
    }

    /// Number of hidden configurations, 2^hidden.
    pub fn states(&self) -> usize {
        1 << self.hidden
    }
}

/// h_j = ±1 of hidden configuration `s`.
#[inline]
pub fn hidden_spin(s: usize, j: usize) -> f64 {
    if (s >> j) & 1 == 1 { 1.0 } else { -1.0 }
}

/// ln(2 cosh a), stable for large |a|.
#[inline]
pub fn ln_2cosh(a: f64) -> f64 {
    let x = libm::fabs(a);
    x + libm::log1p(libm::exp(-2.0 * x))
}

/// Pre-activations a_j = b_j + Σ_i λ_ji v_i.
pub fn preactivations(
    shape: Shape,
    weights: &[f64],
    bias: &[f64],
    v: &[f64],
    a: &mut [f64],
) -> Result<(), Error> {
    check_len("weights", shape.weights(), weights.len())?;
    check_len("bias", shape.hidden, bias.len())?;
    check_len("visible", shape.visible, v.len())?;
    check_len("preactivations", shape.hidden, a.len())?;
    for (j, aj) in a.iter_mut().enumerate() {
        let row = &weights[j * shape.visible..(j + 1) * shape.visible];
        *aj = bias[j] + row.iter().zip(v).map(|(w, x)| w * x).sum::<f64>();
    }
    Ok(())
}

/// P(H = s | V) for every s, from the pre-activations:
/// P(s|V) = Π_j (1 + h_j tanh a_j) / 2.
pub fn hidden_distribution(shape: Shape, a: &[f64], p: &mut [f64]) -> Result<(), Error> {
    check_len("preactivations", shape.hidden, a.len())?;
    check_len("hidden distribution", shape.states(), p.len())?;
    let mut t = [0.0f64; MAX_HIDDEN];
    for (tj, &aj) in t.iter_mut().zip(a) {
        *tj = libm::tanh(aj);
    }
    for (s, ps) in p.iter_mut().enumerate() {
        let mut q = 1.0;
        for (j, &tj) in t[..shape.hidden].iter().enumerate() {
            q *= 0.5 * (1.0 + hidden_spin(s, j) * tj);
        }
        *ps = q;
    }
    Ok(())
}

/// Accumulate `scale · Σ_s c[s] ∂P(s|V)/∂θ` into the gradients:
/// `grad_w[j·visible + i] += scale · v_i · g_j` and `grad_b[j] += scale · g_j`, with
/// g_j = Σ_s c\[s\] P(s|V) (h_j − tanh a_j).
///
/// This contraction is the common core of every estimator's gradient: the estimator
/// supplies the coefficients `c[s]` (for the exact MI, c\[s\] = ln P(s|E) − ln P(s)).
#[allow(clippy::too_many_arguments)]
pub fn accumulate_gradient(
    shape: Shape,
    v: &[f64],
    a: &[f64],
    p: &[f64],
    c: &[f64],
    scale: f64,
    grad_w: &mut [f64],
    grad_b: &mut [f64],
) -> Result<(), Error> {
    check_len("visible", shape.visible, v.len())?;
    check_len("preactivations", shape.hidden, a.len())?;
    check_len("hidden distribution", shape.states(), p.len())?;
    check_len("coefficients", shape.states(), c.len())?;
    check_len("weight gradient", shape.weights(), grad_w.len())?;
    check_len("bias gradient", shape.hidden, grad_b.len())?;
    for j in 0..shape.hidden {
        let t = libm::tanh(a[j]);
        let g: f64 = (0..shape.states())
            .map(|s| c[s] * p[s] * (hidden_spin(s, j) - t))
            .sum::<f64>()
            * scale;
        grad_b[j] += g;
        for (gw, &x) in grad_w[j * shape.visible..(j + 1) * shape.visible]
            .iter_mut()
            .zip(v)
        {
            *gw += g * x;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_sums_to_one_and_matches_the_product_form() {
        let shape = Shape::new(3, 2).unwrap();
        let w = [0.3, -1.2, 0.5, 2.0, 0.1, -0.7];
        let b = [0.2, -0.4];
        let v = [1.0, -1.0, 1.0];
        let mut a = [0.0; 2];
        preactivations(shape, &w, &b, &v, &mut a).unwrap();
        assert!((a[0] - (0.2 + 0.3 + 1.2 + 0.5)).abs() < 1e-15);
        let mut p = [0.0; 4];
        hidden_distribution(shape, &a, &mut p).unwrap();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        for (s, &ps) in p.iter().enumerate() {
            let direct: f64 = (0..2)
                .map(|j| {
                    let h = hidden_spin(s, j);
                    libm::exp(h * a[j] - ln_2cosh(a[j]))
                })
                .product();
            assert!((ps - direct).abs() < 1e-14);
        }
    }

    #[test]
    fn gradient_matches_central_differences() {
        let shape = Shape::new(2, 2).unwrap();
        let mut w = [0.4, -0.9, 1.3, 0.2];
        let mut b = [0.1, -0.3];
        let v = [1.0, -1.0];
        let c = [0.3, -1.1, 0.7, 2.0];
        let f = |w: &[f64], b: &[f64]| {
            let mut a = [0.0; 2];
            let mut p = [0.0; 4];
            preactivations(shape, w, b, &v, &mut a).unwrap();
            hidden_distribution(shape, &a, &mut p).unwrap();
            p.iter().zip(&c).map(|(p, c)| p * c).sum::<f64>()
        };
        let mut a = [0.0; 2];
        let mut p = [0.0; 4];
        preactivations(shape, &w, &b, &v, &mut a).unwrap();
        hidden_distribution(shape, &a, &mut p).unwrap();
        let (mut gw, mut gb) = ([0.0; 4], [0.0; 2]);
        accumulate_gradient(shape, &v, &a, &p, &c, 1.0, &mut gw, &mut gb).unwrap();
        let eps = 1e-6;
        for k in 0..4 {
            let w0 = w[k];
            w[k] = w0 + eps;
            let up = f(&w, &b);
            w[k] = w0 - eps;
            let down = f(&w, &b);
            w[k] = w0;
            assert!(
                ((up - down) / (2.0 * eps) - gw[k]).abs() < 1e-8,
                "weight {k}"
            );
        }
        for j in 0..2 {
            let b0 = b[j];
            b[j] = b0 + eps;
            let up = f(&w, &b);
            b[j] = b0 - eps;
            let down = f(&w, &b);
            b[j] = b0;
            assert!(((up - down) / (2.0 * eps) - gb[j]).abs() < 1e-8, "bias {j}");
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(Shape::new(0, 1).is_err());
        assert!(Shape::new(4, 0).is_err());
        assert!(Shape::new(4, 9).is_err());
        let shape = Shape::new(2, 1).unwrap();
        let mut a = [0.0; 1];
        assert!(preactivations(shape, &[1.0], &[0.0], &[1.0, 1.0], &mut a).is_err());
    }
}
