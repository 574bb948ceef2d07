//! The InfoNCE estimator of I_Λ(H:E) with a separable critic f(h, e) = u(h) · g(e)
//! (RSMI-NE's bound, Gökmen et al. 2021), with the sum over H done exactly instead of by
//! a Gumbel-softmax relaxation (docs/method.md#infonce).
//!
//! On a batch of K pairs (v_i, e_i), with H_i ~ P_Λ(·|v_i) and the other pairs' e_j as
//! negatives, the InfoNCE bound is (1/K) Σ_i \[f(H_i, e_i) − ln((1/K) Σ_j e^{f(H_i, e_j)})\].
//! Each term involves one H_i only, so its expectation over the H's is an exact sum:
//!
//! ```text
//! Î = (1/K) Σ_i Σ_s P_Λ(s|v_i) t_si − Σ_s P̂(s) L_s,
//! t_sj = u(s) · g(e_j),   L_s = ln((1/K) Σ_j e^{t_sj}),   P̂(s) = (1/K) Σ_i P_Λ(s|v_i).
//! ```
//!
//! Î ≤ ln K (each t_si − L_s ≤ ln K) and E\[Î\] ≤ I_Λ(H:E) for every critic. The score
//! matrix is 2^N_h × K, not K × K: the exact sum over H makes the bound linear in the
//! batch.
//!
//! Gradients (both exact for the batch, for ascent):
//! - Λ: Σ_i Σ_s c\[i,s\] ∂P_Λ(s|v_i)/∂θ with c\[i,s\] = (t_si − L_s)/K, through
//!   [`super::kernels::rule_gradient`] (as for `im`);
//! - the critic: ∂Î/∂t_sj = P_Λ(s|v_j)/K − P̂(s) π_sj with π_sj = e^{t_sj − L_s}/K (the
//!   softmax over the negatives), then through u and g ([`critic::backward`]).
//!
//! Every call has a scalar reference path ([`Path::Scalar`]) and the `f32x8` path
//! ([`Path::F32x8`]); the value is reduced in `f64` in both.
//!
//! ```
//! use rsmi_core::learn::infonce::{Grads, Nce, Params};
//! use rsmi_core::learn::im::Path;
//!
//! # fn main() -> Result<(), rsmi_core::Error> {
//! // |V| = 1, |E| = 1, N_h = 1, embedding 1, linear g; e copies v.
//! let nce = Nce::new(1, 1, 1, 1, 0)?;
//! let v = [1.0f32, -1.0, 1.0, -1.0];
//! let e = v;
//! let (w, b) = ([4.0f32], [0.0f32]);
//! let critic = [-1.0f32, 1.0, 3.0]; // u(−1) = −1, u(+1) = 1, g(e) = 3e
//! let mut work = vec![0.0f32; nce.workspace_len(4)];
//! let params = Params { weights: &w, bias: &b, critic: &critic };
//! let value = nce.value(Path::F32x8, params, &v, &e, &mut work)?;
//! assert!(value > 0.6 && value < (4.0f64).ln()); // close to ln 2, never above ln K
//! # Ok(())
//! # }
//! ```

pub mod critic;
#[cfg(test)]
mod tests;

pub use critic::CriticShape;

use super::im::Path;
use super::kernels::{self, MAX_STATES};
use super::rule::Shape;
use crate::error::{Error, check_len};

/// Parameters: the rule Λ and the critic (layout of [`CriticShape::split`]).
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    /// Rule weights λ_ji, N_h × |V|.
    pub weights: &'a [f32],
    /// Rule biases b_j, N_h.
    pub bias: &'a [f32],
    /// Critic parameters, [`CriticShape::len`].
    pub critic: &'a [f32],
}

/// Gradient outputs, same shapes as [`Params`]; overwritten by each call.
#[derive(Debug)]
pub struct Grads<'a> {
    /// ∂Î/∂λ_ji.
    pub weights: &'a mut [f32],
    /// ∂Î/∂b_j.
    pub bias: &'a mut [f32],
    /// ∂Î/∂(critic parameters).
    pub critic: &'a mut [f32],
}

/// The InfoNCE estimator for one geometry and critic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nce {
    rule: Shape,
    critic: CriticShape,
}

impl Nce {
    /// Estimator for |V| = `visible`, |E| = `env`, N_h = `hidden`, a critic embedding of
    /// dimension `embed` and an MLP g of `width` hidden units (0: linear g).
    pub fn new(
        visible: usize,
        env: usize,
        hidden: usize,
        embed: usize,
        width: usize,
    ) -> Result<Nce, Error> {
        Ok(Nce {
            rule: Shape::new(visible, hidden)?,
            critic: CriticShape::new(env, hidden, embed, width)?,
        })
    }

    /// Shape of the rule.
    pub fn rule_shape(&self) -> Shape {
        self.rule
    }

    /// Shape of the critic.
    pub fn critic_shape(&self) -> CriticShape {
        self.critic
    }

    /// Length of the `f32` workspace for a batch of K pairs:
    /// K · (N_h + 3 · 2^N_h + 2k + 2M).
    pub fn workspace_len(&self, k: usize) -> usize {
        k * (self.rule.hidden
            + 3 * self.rule.states()
            + 2 * self.critic.embed
            + 2 * self.critic.width)
    }

    fn check(
        &self,
        params: &Params<'_>,
        v: &[f32],
        e: &[f32],
        work: &[f32],
    ) -> Result<usize, Error> {
        check_len("weights", self.rule.weights(), params.weights.len())?;
        check_len("bias", self.rule.hidden, params.bias.len())?;
        check_len("critic parameters", self.critic.len(), params.critic.len())?;
        if !v.len().is_multiple_of(self.rule.visible) {
            return Err(Error::BufferLength {
                what: "visible batch",
                expected: v.len() / self.rule.visible * self.rule.visible,
                got: v.len(),
            });
        }
        let k = v.len() / self.rule.visible;
        check_len("environment batch", k * self.critic.env, e.len())?;
        if k == 0 {
            return Err(Error::InvalidParameter(
                "an InfoNCE batch needs at least one pair",
            ));
        }
        check_len("workspace", self.workspace_len(k), work.len())?;
        Ok(k)
    }

    /// Î on one batch of K pairs (`v`: K × |V|, `e`: K × |E|); `work` has length
    /// [`Nce::workspace_len`]`(K)`. The value never exceeds ln K.
    pub fn value(
        &self,
        path: Path,
        params: Params<'_>,
        v: &[f32],
        e: &[f32],
        work: &mut [f32],
    ) -> Result<f64, Error> {
        let k = self.check(&params, v, e, work)?;
        let mut lse = [0.0f64; MAX_STATES];
        let f = self.forward(path, &params, v, e, work, k, &mut lse)?;
        Ok(self.reduce(f.p, f.t, &lse, k).0)
    }

    /// Î on one batch and its gradients with respect to Λ and the critic (overwriting
    /// `grads`).
    pub fn value_and_gradient(
        &self,
        path: Path,
        params: Params<'_>,
        v: &[f32],
        e: &[f32],
        work: &mut [f32],
        grads: Grads<'_>,
    ) -> Result<f64, Error> {
        let k = self.check(&params, v, e, work)?;
        check_len("weight gradient", self.rule.weights(), grads.weights.len())?;
        check_len("bias gradient", self.rule.hidden, grads.bias.len())?;
        check_len("critic gradient", self.critic.len(), grads.critic.len())?;
        let mut lse = [0.0f64; MAX_STATES];
        let f = self.forward(path, &params, v, e, work, k, &mut lse)?;
        let (value, p_hat) = self.reduce(f.p, f.t, &lse, k);
        let ns = self.rule.states();
        let ln_k = libm::log(k as f64);
        let inv_k = 1.0 / k as f64;
        // c[i,s] = (t_si − L_s)/K, then t ← ∂Î/∂t = P(s|v_j)/K − P̂(s) e^{t_sj − lse_s}.
        for (i, cr) in f.c.chunks_exact_mut(ns).enumerate() {
            for (s, cs) in cr.iter_mut().enumerate() {
                *cs = ((f.t[s * k + i] as f64 - (lse[s] - ln_k)) * inv_k) as f32;
            }
        }
        for s in 0..ns {
            let row = &mut f.t[s * k..(s + 1) * k];
            match path {
                Path::Scalar => {
                    for (j, x) in row.iter_mut().enumerate() {
                        let pi = libm::exp(*x as f64 - lse[s]);
                        *x = (f.p[j * ns + s] as f64 * inv_k - p_hat[s] * pi) as f32;
                    }
                }
                Path::F32x8 => {
                    softmax_gradient(row, f.p, s, ns, lse[s], inv_k as f32, p_hat[s] as f32)
                }
            }
        }
        grads.weights.fill(0.0);
        grads.bias.fill(0.0);
        grads.critic.fill(0.0);
        let back = critic::Backward {
            e,
            rt: f.rt,
            gt: f.gt,
            gc: f.t,
            dgt: f.dgt,
            drt: f.drt,
        };
        match path {
            Path::Scalar => {
                kernels::rule_gradient_scalar(
                    self.rule,
                    v,
                    f.a,
                    f.p,
                    f.c,
                    grads.weights,
                    grads.bias,
                )?;
                critic::backward_scalar(self.critic, params.critic, back, grads.critic)?;
            }
            Path::F32x8 => {
                kernels::rule_gradient(self.rule, v, f.a, f.p, f.c, grads.weights, grads.bias)?;
                critic::backward(self.critic, params.critic, back, grads.critic)?;
            }
        }
        Ok(value)
    }

    /// The forward pass into the workspace.
    #[allow(clippy::too_many_arguments)]
    fn forward<'w>(
        &self,
        path: Path,
        params: &Params<'_>,
        v: &[f32],
        e: &[f32],
        work: &'w mut [f32],
        k: usize,
        lse: &mut [f64; MAX_STATES],
    ) -> Result<Forward<'w>, Error> {
        let (nh, ns) = (self.rule.hidden, self.rule.states());
        let (kd, nm) = (self.critic.embed, self.critic.width);
        let (a, rest) = work.split_at_mut(k * nh);
        let (p, rest) = rest.split_at_mut(k * ns);
        let (c, rest) = rest.split_at_mut(k * ns);
        let (t, rest) = rest.split_at_mut(ns * k);
        let (gt, rest) = rest.split_at_mut(kd * k);
        let (dgt, rest) = rest.split_at_mut(kd * k);
        let (rt, drt) = rest.split_at_mut(nm * k);
        let lse = &mut lse[..ns];
        match path {
            Path::Scalar => {
                kernels::rule_forward_scalar(self.rule, params.weights, params.bias, v, a, p)?;
                critic::embed_scalar(self.critic, params.critic, e, rt, gt)?;
                critic::scores_scalar(self.critic, params.critic, gt, t, lse)?;
            }
            Path::F32x8 => {
                kernels::rule_forward(self.rule, params.weights, params.bias, v, a, p)?;
                critic::embed(self.critic, params.critic, e, rt, gt)?;
                critic::scores(self.critic, params.critic, gt, t, lse)?;
            }
        }
        Ok(Forward {
            a,
            p,
            c,
            t,
            gt,
            dgt,
            rt,
            drt,
        })
    }

    /// (Î, P̂) from P (K × 2^N_h), the scores t (2^N_h × K) and their log-sum-exps, in
    /// `f64`.
    fn reduce(&self, p: &[f32], t: &[f32], lse: &[f64], k: usize) -> (f64, [f64; MAX_STATES]) {
        let ns = self.rule.states();
        let ln_k = libm::log(k as f64);
        let mut p_hat = [0.0f64; MAX_STATES];
        let mut joint = 0.0f64;
        for (i, pr) in p.chunks_exact(ns).enumerate() {
            for (s, &ps) in pr.iter().enumerate() {
                p_hat[s] += ps as f64;
                joint += ps as f64 * t[s * k + i] as f64;
            }
        }
        let inv_k = 1.0 / k as f64;
        let mut value = joint * inv_k;
        for s in 0..ns {
            p_hat[s] *= inv_k;
            value -= p_hat[s] * (lse[s] - ln_k);
        }
        (value, p_hat)
    }
}

/// Views of the workspace after a forward pass.
struct Forward<'w> {
    a: &'w mut [f32],
    p: &'w mut [f32],
    c: &'w mut [f32],
    t: &'w mut [f32],
    gt: &'w mut [f32],
    dgt: &'w mut [f32],
    rt: &'w mut [f32],
    drt: &'w mut [f32],
}

/// Row s of ∂Î/∂t in place of the scores: x_j ← P(s|v_j)/K − P̂(s) e^{x_j − lse}, the
/// exponentials eight at a time.
fn softmax_gradient(
    row: &mut [f32],
    p: &[f32],
    s: usize,
    ns: usize,
    lse: f64,
    inv_k: f32,
    p_hat: f32,
) {
    use wide::f32x8;
    let shift = f32x8::splat(lse as f32);
    let (ik, ph) = (f32x8::splat(inv_k), f32x8::splat(p_hat));
    let full = row.len() / 8 * 8;
    for (j0, ch) in (0..full).step_by(8).zip(row.chunks_exact_mut(8)) {
        let pj: [f32; 8] = core::array::from_fn(|q| p[(j0 + q) * ns + s]);
        let pi = kernels::exp_nonpositive(kernels::load(ch) - shift);
        let x = f32x8::from(pj) * ik - ph * pi;
        ch.copy_from_slice(&x.to_array());
    }
    for (j, x) in row.iter_mut().enumerate().skip(full) {
        let pi = libm::expf(*x - lse as f32);
        *x = p[j * ns + s] * inv_k - p_hat * pi;
    }
}
