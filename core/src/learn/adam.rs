//! Adam for gradient **ascent** (the MI is maximised), and a per-hidden-unit weight-norm
//! cap (docs/method.md#the-rule: the MI optimum sits at |λ| → ∞).
//!
//! One step with gradient g (of the objective to maximise), 1-based step count t:
//!
//! ```text
//! m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²
//! θ ← θ + lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
//! ```
//!
//! The update is **added** (ascent). Plain `f32` arithmetic element by element, bias
//! corrections in `f64`: deterministic for given inputs in every build.
//!
//! ```
//! use rsmi_core::learn::adam::Adam;
//!
//! # fn main() -> Result<(), rsmi_core::Error> {
//! // Maximise f(x) = −(x − 3)²: gradient −2(x − 3).
//! let adam = Adam::new(0.1)?;
//! let (mut x, mut m, mut v) = ([0.0f32], [0.0f32], [0.0f32]);
//! for t in 1..=500 {
//!     let g = [-2.0 * (x[0] - 3.0)];
//!     adam.step(t, &mut x, &g, &mut m, &mut v)?;
//! }
//! assert!((x[0] - 3.0).abs() < 1e-2);
//! # Ok(())
//! # }
//! ```

use crate::error::{Error, check_len};

/// Adam hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adam {
    /// Learning rate (> 0).
    pub lr: f32,
    /// Decay of the first moment, in [0, 1).
    pub beta1: f32,
    /// Decay of the second moment, in [0, 1).
    pub beta2: f32,
    /// Denominator offset (> 0).
    pub eps: f32,
}

impl Adam {
    /// Learning rate `lr` with the usual β₁ = 0.9, β₂ = 0.999, ε = 1e-8.
    pub fn new(lr: f32) -> Result<Adam, Error> {
        Adam::with(lr, 0.9, 0.999, 1e-8)
    }

    /// All hyper-parameters, validated.
    pub fn with(lr: f32, beta1: f32, beta2: f32, eps: f32) -> Result<Adam, Error> {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::InvalidParameter(
                "the learning rate must be finite and > 0",
            ));
        }
        if !((0.0..1.0).contains(&beta1) && (0.0..1.0).contains(&beta2)) {
            return Err(Error::InvalidParameter("Adam's betas must lie in [0, 1)"));
        }
        if !(eps.is_finite() && eps > 0.0) {
            return Err(Error::InvalidParameter(
                "Adam's epsilon must be finite and > 0",
            ));
        }
        Ok(Adam {
            lr,
            beta1,
            beta2,
            eps,
        })
    }

    /// One ascent step number `t` (1, 2, …) on `params` with gradient `grads` and moment
    /// buffers `m`, `v` (all the same length; start the moments at zero).
    pub fn step(
        &self,
        t: u32,
        params: &mut [f32],
        grads: &[f32],
        m: &mut [f32],
        v: &mut [f32],
    ) -> Result<(), Error> {
        let n = params.len();
        check_len("gradient", n, grads.len())?;
        check_len("first moment", n, m.len())?;
        check_len("second moment", n, v.len())?;
        if t == 0 {
            return Err(Error::InvalidParameter("Adam's step count starts at 1"));
        }
        let t = t.min(i32::MAX as u32) as i32;
        let c1 = (1.0 / (1.0 - libm::pow(self.beta1 as f64, t as f64))) as f32;
        let c2 = (1.0 / (1.0 - libm::pow(self.beta2 as f64, t as f64))) as f32;
        let (b1, b2) = (self.beta1, self.beta2);
        for (((p, &g), mk), vk) in params.iter_mut().zip(grads).zip(m).zip(v) {
            *mk = b1 * *mk + (1.0 - b1) * g;
            *vk = b2 * *vk + (1.0 - b2) * g * g;
            *p += self.lr * (*mk * c1) / (libm::sqrtf(*vk * c2) + self.eps);
        }
        Ok(())
    }
}

/// Scale each row j of `weights` (rows of `weights.len() / rows` entries: the filter λ_j
/// of hidden unit j) down so that ‖λ_j‖₂ ≤ `cap`; rows already inside are untouched.
/// Returns the largest row norm before capping.
pub fn cap_row_norms(weights: &mut [f32], rows: usize, cap: f32) -> Result<f32, Error> {
    if rows == 0 || !weights.len().is_multiple_of(rows) {
        return Err(Error::BufferLength {
            what: "weights (rows of equal length)",
            expected: (weights.len() / rows.max(1)) * rows.max(1),
            got: weights.len(),
        });
    }
    if !(cap.is_finite() && cap > 0.0) {
        return Err(Error::InvalidParameter(
            "the weight-norm cap must be finite and > 0",
        ));
    }
    let width = weights.len() / rows;
    let mut largest = 0.0f32;
    if width == 0 {
        return Ok(largest);
    }
    for row in weights.chunks_exact_mut(width) {
        let norm = libm::sqrt(row.iter().map(|&x| x as f64 * x as f64).sum::<f64>());
        largest = largest.max(norm as f32);
        if norm > cap as f64 {
            let s = (cap as f64 / norm) as f32;
            for x in row.iter_mut() {
                *x *= s;
            }
        }
    }
    Ok(largest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascends_a_concave_quadratic_to_its_maximum() {
        // f(θ) = −Σ_k c_k (θ_k − θ*_k)², a concave toy problem; gradient −2c(θ − θ*).
        let target = [1.5f32, -2.0, 0.25, 4.0];
        let curv = [1.0f32, 0.1, 10.0, 0.5];
        let adam = Adam::new(0.05).unwrap();
        let (mut x, mut m, mut v) = ([0.0f32; 4], [0.0f32; 4], [0.0f32; 4]);
        let f = |x: &[f32]| -> f32 {
            (0..4)
                .map(|k| -curv[k] * (x[k] - target[k]) * (x[k] - target[k]))
                .sum()
        };
        let mut last = f(&x);
        for t in 1..=3000 {
            let g: [f32; 4] = core::array::from_fn(|k| -2.0 * curv[k] * (x[k] - target[k]));
            adam.step(t, &mut x, &g, &mut m, &mut v).unwrap();
            if t % 500 == 0 {
                let now = f(&x);
                assert!(
                    now >= last - 1e-3,
                    "objective must not drop: {last} -> {now}"
                );
                last = now;
            }
        }
        for k in 0..4 {
            assert!((x[k] - target[k]).abs() < 1e-2, "{k}: {}", x[k]);
        }
    }

    #[test]
    fn first_step_has_size_lr_in_the_gradient_direction() {
        // m̂ = g, v̂ = g² after one step: Δθ = lr · g/(|g| + ε) = ±lr.
        let adam = Adam::new(0.01).unwrap();
        let (mut x, mut m, mut v) = ([1.0f32, 1.0], [0.0f32; 2], [0.0f32; 2]);
        adam.step(1, &mut x, &[3.0, -0.5], &mut m, &mut v).unwrap();
        assert!((x[0] - 1.01).abs() < 1e-6 && (x[1] - 0.99).abs() < 1e-6);
    }

    #[test]
    fn norm_cap_scales_only_rows_above_the_cap() {
        let mut w = [3.0f32, 4.0, 0.3, 0.4, 0.0, 0.0];
        let largest = cap_row_norms(&mut w, 3, 2.0).unwrap();
        assert!((largest - 5.0).abs() < 1e-6);
        assert!((w[0] - 1.2).abs() < 1e-6 && (w[1] - 1.6).abs() < 1e-6);
        assert_eq!(&w[2..], &[0.3, 0.4, 0.0, 0.0]);
        assert!(cap_row_norms(&mut w, 4, 2.0).is_err());
        assert!(cap_row_norms(&mut w, 3, 0.0).is_err());
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(Adam::new(0.0).is_err());
        assert!(Adam::with(0.1, 1.0, 0.9, 1e-8).is_err());
        assert!(Adam::with(0.1, 0.9, 0.9, 0.0).is_err());
        let adam = Adam::new(0.1).unwrap();
        let (mut x, mut m, mut v) = ([0.0f32; 2], [0.0f32; 2], [0.0f32; 2]);
        assert!(adam.step(0, &mut x, &[0.0; 2], &mut m, &mut v).is_err());
        assert!(adam.step(1, &mut x, &[0.0; 3], &mut m, &mut v).is_err());
    }
}
