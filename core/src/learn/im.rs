//! The variational (Barber–Agakov, "IM") estimator of I_Λ(H:E) with a learned linear
//! softmax decoder q_φ(h|e), exact sums over H (docs/method.md#im):
//!
//! ```text
//! Î = −Σ_h P̂(h) ln P̂(h) + (1/N) Σ_n Σ_h P_Λ(h|v_n) ln q_φ(h|e_n),
//! P̂(h) = (1/N) Σ_n P_Λ(h|v_n),   q_φ(h|e) = softmax_h(d_h + Σ_m U_hm e_m).
//! ```
//!
//! Î ≤ I_Λ(H:E) for every decoder (equality when q_φ = P_Λ(H|E)). Gradients on a batch:
//! - Λ (weights, bias): Σ_n Σ_h c\[n,h\] ∂P_Λ(h|v_n)/∂θ with c\[n,h\] = (ln q_φ(h|e_n) −
//!   ln P̂(h))/N, through [`super::kernels::rule_gradient`] (the +1 from differentiating
//!   P̂ ln P̂ drops out because Σ_h ∂P̂(h) = 0);
//! - φ (U, d): the soft-label cross-entropy gradient (1/N) Σ_n (P_Λ(h|v_n) − q_φ(h|e_n))
//!   · (e_n, 1), through [`super::kernels::decoder_backward`].
//!
//! Both are gradients of Î itself (for ascent). Every call has a scalar-reference path
//! ([`Path::Scalar`]) and the `f32x8` path ([`Path::F32x8`]); batch reductions (P̂, the
//! value) are in `f64` in both.
//!
//! One call = one minibatch step:
//!
//! ```
//! use rsmi_core::learn::adam::Adam;
//! use rsmi_core::learn::im::{Grads, Im, Params, Path};
//!
//! # fn main() -> Result<(), rsmi_core::Error> {
//! let im = Im::new(2, 2, 1)?; // |V| = 2, |E| = 2, N_h = 1
//! // Four pairs (v, e) where e copies v: H = v₁ can be read off e.
//! let v = [1.0f32, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0];
//! let e = v;
//! let (mut w, mut b) = ([0.5f32, 0.0], [0.0f32]);
//! let (mut u, mut d) = ([0.0f32; 4], [0.0f32; 2]);
//! let (mut gw, mut gb, mut gu, mut gd) = ([0.0f32; 2], [0.0f32; 1], [0.0f32; 4], [0.0f32; 2]);
//! let mut work = [0.0f32; 64];
//! let work = &mut work[..im.workspace_len(4)];
//! let adam = Adam::new(0.1)?;
//! let (mut mu, mut vu) = ([0.0f32; 4], [0.0f32; 4]);
//! let mut first = 0.0;
//! for t in 1..=200 {
//!     let params = Params { weights: &w, bias: &b, u: &u, d: &d };
//!     let grads = Grads { weights: &mut gw, bias: &mut gb, u: &mut gu, d: &mut gd };
//!     let value = im.value_and_gradient(Path::F32x8, params, &v, &e, work, grads)?;
//!     if t == 1 { first = value; }
//!     adam.step(t, &mut u, &gu, &mut mu, &mut vu)?; // train the decoder only
//! }
//! let last = im.value(Path::F32x8, Params { weights: &w, bias: &b, u: &u, d: &d }, &v, &e, work)?;
//! assert!(first.abs() < 1e-6 && last > first + 0.1); // Î rises from 0 towards I
//! # Ok(())
//! # }
//! ```

use super::kernels::{self, DecoderShape, MAX_STATES};
use super::rule::Shape;
use crate::error::{Error, check_len};

/// Which implementation of the kernels to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// The plain scalar references (`f64` inside).
    Scalar,
    /// The `f32x8` kernels.
    F32x8,
}

/// Parameters: the rule Λ (`weights` `[j][i]`, `bias`) and the decoder φ (`u` `[s][m]`,
/// `d`).
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    /// Rule weights λ_ji, N_h × |V|.
    pub weights: &'a [f32],
    /// Rule biases b_j, N_h.
    pub bias: &'a [f32],
    /// Decoder weights U_sm, 2^N_h × |E|.
    pub u: &'a [f32],
    /// Decoder biases d_s, 2^N_h.
    pub d: &'a [f32],
}

/// Gradient outputs, same shapes as [`Params`]; overwritten by each call.
#[derive(Debug)]
pub struct Grads<'a> {
    /// ∂Î/∂λ_ji.
    pub weights: &'a mut [f32],
    /// ∂Î/∂b_j.
    pub bias: &'a mut [f32],
    /// ∂Î/∂U_sm.
    pub u: &'a mut [f32],
    /// ∂Î/∂d_s.
    pub d: &'a mut [f32],
}

/// Running sums for Î over many batches (held-out evaluation of a large set):
/// Î = −Σ_h P̂ ln P̂ + cross / n with P̂ = p_sum / n.
#[derive(Debug, Clone, Copy)]
pub struct Sums {
    /// Σ_n P_Λ(h|v_n) per hidden configuration.
    pub p_sum: [f64; MAX_STATES],
    /// Σ_n Σ_h P_Λ(h|v_n) ln q_φ(h|e_n).
    pub cross: f64,
    /// Number of pairs n.
    pub n: u64,
}

impl Default for Sums {
    fn default() -> Sums {
        Sums {
            p_sum: [0.0; MAX_STATES],
            cross: 0.0,
            n: 0,
        }
    }
}

impl Sums {
    /// Î from the sums (0 when empty).
    pub fn value(&self) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let n = self.n as f64;
        let entropy: f64 = self
            .p_sum
            .iter()
            .map(|&s| s / n)
            .filter(|&p| p > 0.0)
            .map(|p| -p * libm::log(p))
            .sum();
        entropy + self.cross / n
    }
}

/// The IM estimator for one geometry: |V| visible, |E| environment, N_h hidden units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Im {
    rule: Shape,
    decoder: DecoderShape,
}

impl Im {
    /// Estimator for `visible` = |V|, `env` = |E| and `hidden` = N_h (limits of
    /// [`Shape::new`] and [`DecoderShape::new`]).
    pub fn new(visible: usize, env: usize, hidden: usize) -> Result<Im, Error> {
        Ok(Im {
            rule: Shape::new(visible, hidden)?,
            decoder: DecoderShape::new(env, hidden)?,
        })
    }

    /// Shape of the rule.
    pub fn rule_shape(&self) -> Shape {
        self.rule
    }

    /// Shape of the decoder.
    pub fn decoder_shape(&self) -> DecoderShape {
        self.decoder
    }

    /// Length of the `f32` workspace for a batch of `batch` pairs:
    /// batch · (N_h + 3 · 2^N_h).
    pub fn workspace_len(&self, batch: usize) -> usize {
        batch * (self.rule.hidden + 3 * self.rule.states())
    }

    fn check(&self, params: &Params<'_>, v: &[f32], e: &[f32]) -> Result<usize, Error> {
        check_len("weights", self.rule.weights(), params.weights.len())?;
        check_len("bias", self.rule.hidden, params.bias.len())?;
        check_len("decoder weights", self.decoder.weights(), params.u.len())?;
        check_len("decoder bias", self.decoder.states(), params.d.len())?;
        if !v.len().is_multiple_of(self.rule.visible) {
            return Err(Error::BufferLength {
                what: "visible batch",
                expected: v.len() / self.rule.visible * self.rule.visible,
                got: v.len(),
            });
        }
        let n = v.len() / self.rule.visible;
        check_len("environment batch", n * self.decoder.env, e.len())?;
        Ok(n)
    }

    /// Forward pass into the workspace; returns (a, p, logq, c) views.
    #[allow(clippy::type_complexity)]
    fn forward<'w>(
        &self,
        path: Path,
        params: &Params<'_>,
        v: &[f32],
        e: &[f32],
        work: &'w mut [f32],
        n: usize,
    ) -> Result<(&'w mut [f32], &'w mut [f32], &'w mut [f32], &'w mut [f32]), Error> {
        check_len("workspace", self.workspace_len(n), work.len())?;
        let (nh, ns) = (self.rule.hidden, self.rule.states());
        let (a, rest) = work.split_at_mut(n * nh);
        let (p, rest) = rest.split_at_mut(n * ns);
        let (logq, c) = rest.split_at_mut(n * ns);
        match path {
            Path::Scalar => {
                kernels::rule_forward_scalar(self.rule, params.weights, params.bias, v, a, p)?;
                kernels::decoder_forward_scalar(self.decoder, params.u, params.d, e, logq)?;
            }
            Path::F32x8 => {
                kernels::rule_forward(self.rule, params.weights, params.bias, v, a, p)?;
                kernels::decoder_forward(self.decoder, params.u, params.d, e, logq)?;
            }
        }
        Ok((a, p, logq, c))
    }

    fn sums(&self, p: &[f32], logq: &[f32], n: usize, sums: &mut Sums) {
        let ns = self.rule.states();
        for (pr, qr) in p.chunks_exact(ns).zip(logq.chunks_exact(ns)) {
            let mut cross = 0.0f64;
            for (s, (&ps, &ls)) in pr.iter().zip(qr).enumerate() {
                sums.p_sum[s] += ps as f64;
                cross += ps as f64 * ls as f64;
            }
            sums.cross += cross;
        }
        sums.n += n as u64;
    }

    /// Add one batch (pairs `v`: N × |V|, `e`: N × |E|) to running [`Sums`].
    pub fn accumulate(
        &self,
        path: Path,
        params: Params<'_>,
        v: &[f32],
        e: &[f32],
        work: &mut [f32],
        sums: &mut Sums,
    ) -> Result<(), Error> {
        let n = self.check(&params, v, e)?;
        let (_, p, logq, _) = self.forward(path, &params, v, e, work, n)?;
        self.sums(p, logq, n, sums);
        Ok(())
    }

    /// Î on one batch (for held-out evaluation). `work` has length
    /// [`Im::workspace_len`]`(N)`.
    pub fn value(
        &self,
        path: Path,
        params: Params<'_>,
        v: &[f32],
        e: &[f32],
        work: &mut [f32],
    ) -> Result<f64, Error> {
        let mut sums = Sums::default();
        self.accumulate(path, params, v, e, work, &mut sums)?;
        Ok(sums.value())
    }

    /// Î on one batch and its gradient with respect to Λ and φ (overwriting `grads`).
    pub fn value_and_gradient(
        &self,
        path: Path,
        params: Params<'_>,
        v: &[f32],
        e: &[f32],
        work: &mut [f32],
        grads: Grads<'_>,
    ) -> Result<f64, Error> {
        let n = self.check(&params, v, e)?;
        self.check_grads(&grads)?;
        let (a, p, logq, c) = self.forward(path, &params, v, e, work, n)?;
        let mut sums = Sums::default();
        self.sums(p, logq, n, &mut sums);
        self.backward(path, v, e, (a, p, logq, c), &sums, grads)?;
        Ok(sums.value())
    }

    /// One part of a batch split over several processes (data-parallel training): the
    /// gradient of Î of the *whole* batch restricted to this part's pairs, given the
    /// whole batch's `marginal` (its [`Sums::p_sum`] and [`Sums::n`]; only those are read).
    /// Once P̂ is known Î's gradient is a sum over pairs, so the parts' gradients add up
    /// to [`Im::value_and_gradient`]'s (up to rounding). Returns this part's [`Sums`]
    /// (from which the whole batch's value follows). `grads` is overwritten.
    #[allow(clippy::too_many_arguments)]
    pub fn part_gradient(
        &self,
        path: Path,
        params: Params<'_>,
        v: &[f32],
        e: &[f32],
        work: &mut [f32],
        marginal: &Sums,
        grads: Grads<'_>,
    ) -> Result<Sums, Error> {
        let n = self.check(&params, v, e)?;
        self.check_grads(&grads)?;
        let (a, p, logq, c) = self.forward(path, &params, v, e, work, n)?;
        let mut sums = Sums::default();
        self.sums(p, logq, n, &mut sums);
        self.backward(path, v, e, (a, p, logq, c), marginal, grads)?;
        Ok(sums)
    }

    fn check_grads(&self, grads: &Grads<'_>) -> Result<(), Error> {
        check_len("weight gradient", self.rule.weights(), grads.weights.len())?;
        check_len("bias gradient", self.rule.hidden, grads.bias.len())?;
        check_len(
            "decoder weight gradient",
            self.decoder.weights(),
            grads.u.len(),
        )?;
        check_len(
            "decoder bias gradient",
            self.decoder.states(),
            grads.d.len(),
        )
    }

    /// The gradients from the forward pass's views, with the batch marginal `marginal`.
    #[allow(clippy::type_complexity)]
    fn backward(
        &self,
        path: Path,
        v: &[f32],
        e: &[f32],
        (a, p, logq, c): (&mut [f32], &mut [f32], &mut [f32], &mut [f32]),
        marginal: &Sums,
        grads: Grads<'_>,
    ) -> Result<(), Error> {
        let ns = self.rule.states();
        let total = marginal.n.max(1) as f64;
        // ln P̂(h) of the whole batch; configurations with P̂ = 0 have P = 0 in every row,
        // so their coefficient never contributes (0 avoids ∞ · 0).
        let mut ln_hat = [0.0f64; MAX_STATES];
        for (l, &s) in ln_hat[..ns].iter_mut().zip(&marginal.p_sum) {
            if s > 0.0 {
                *l = libm::log(s / total);
            }
        }
        let inv_n = 1.0 / total;
        for (cr, qr) in c.chunks_exact_mut(ns).zip(logq.chunks_exact(ns)) {
            for ((cs, &ls), &lh) in cr.iter_mut().zip(qr).zip(&ln_hat) {
                *cs = ((ls as f64 - lh) * inv_n) as f32;
            }
        }
        grads.weights.fill(0.0);
        grads.bias.fill(0.0);
        grads.u.fill(0.0);
        grads.d.fill(0.0);
        let scale = inv_n as f32;
        match path {
            Path::Scalar => {
                kernels::rule_gradient_scalar(self.rule, v, a, p, c, grads.weights, grads.bias)?;
                kernels::decoder_backward_scalar(
                    self.decoder,
                    e,
                    p,
                    logq,
                    scale,
                    grads.u,
                    grads.d,
                )?;
            }
            Path::F32x8 => {
                kernels::rule_gradient(self.rule, v, a, p, c, grads.weights, grads.bias)?;
                kernels::decoder_backward(self.decoder, e, p, logq, scale, grads.u, grads.d)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::learn::adam::Adam;
    use crate::rng::stream;
    use rand_core::Rng;

    fn uniform(rng: &mut rand_xoshiro::Xoshiro256PlusPlus) -> f64 {
        (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn eval(im: &Im, path: Path, x: &[f32], v: &[f32], e: &[f32], work: &mut [f32]) -> f64 {
        let (nw, nh, nu) = (im.rule.weights(), im.rule.hidden, im.decoder.weights());
        let params = Params {
            weights: &x[..nw],
            bias: &x[nw..nw + nh],
            u: &x[nw + nh..nw + nh + nu],
            d: &x[nw + nh + nu..],
        };
        im.value(path, params, v, e, work).unwrap()
    }

    /// A batch split into parts (data-parallel training): with the whole batch's marginal
    /// the parts' gradients add up to the whole batch's, on both paths (f32 rounding:
    /// 1e-5 of the largest component).
    #[test]
    fn part_gradients_add_up_to_the_batch_gradient() {
        const NV: usize = 4;
        const NE: usize = 6;
        const NH: usize = 2;
        const N: usize = 37;
        const NW: usize = NH * NV;
        const NU: usize = 4 * NE;
        const NP: usize = NW + NH + NU + 4;
        let im = Im::new(NV, NE, NH).unwrap();
        let mut rng = stream(5, 1, 0);
        let mut r = || (2.0 * uniform(&mut rng) - 1.0) as f32;
        let w: [f32; NW] = core::array::from_fn(|_| r());
        let b: [f32; NH] = core::array::from_fn(|_| 0.3 * r());
        let u: [f32; NU] = core::array::from_fn(|_| r());
        let d: [f32; 4] = core::array::from_fn(|_| 0.5 * r());
        let v: [f32; N * NV] = core::array::from_fn(|_| if r() > 0.0 { 1.0 } else { -1.0 });
        let e: [f32; N * NE] = core::array::from_fn(|_| if r() > 0.0 { 1.0 } else { -1.0 });
        let params = Params {
            weights: &w,
            bias: &b,
            u: &u,
            d: &d,
        };
        let mut work = [0.0f32; 64 * (NH + 12)];
        let flat = |gw: &[f32], gb: &[f32], gu: &[f32], gd: &[f32]| -> [f64; NP] {
            let mut x = [0.0f64; NP];
            for (y, g) in x.iter_mut().zip(gw.iter().chain(gb).chain(gu).chain(gd)) {
                *y = *g as f64;
            }
            x
        };
        for path in [Path::Scalar, Path::F32x8] {
            let (mut gw, mut gb, mut gu, mut gd) =
                ([0.0f32; NW], [0.0f32; NH], [0.0f32; NU], [0.0f32; 4]);
            let value = im
                .value_and_gradient(
                    path,
                    params,
                    &v,
                    &e,
                    &mut work[..im.workspace_len(N)],
                    Grads {
                        weights: &mut gw,
                        bias: &mut gb,
                        u: &mut gu,
                        d: &mut gd,
                    },
                )
                .unwrap();
            let whole = flat(&gw, &gb, &gu, &gd);
            // Parts of 10, 20 and 7 pairs; the marginal summed from the parts.
            let cuts = [0, 10, 30, N];
            let mut marginal = Sums::default();
            for k in 0..3 {
                let (lo, hi) = (cuts[k], cuts[k + 1]);
                im.accumulate(
                    path,
                    params,
                    &v[lo * NV..hi * NV],
                    &e[lo * NE..hi * NE],
                    &mut work[..im.workspace_len(hi - lo)],
                    &mut marginal,
                )
                .unwrap();
            }
            let mut total = [0.0f64; NP];
            let mut sums = Sums::default();
            for k in 0..3 {
                let (lo, hi) = (cuts[k], cuts[k + 1]);
                let (mut pw, mut pb, mut pu, mut pd) =
                    ([0.0f32; NW], [0.0f32; NH], [0.0f32; NU], [0.0f32; 4]);
                let part = im
                    .part_gradient(
                        path,
                        params,
                        &v[lo * NV..hi * NV],
                        &e[lo * NE..hi * NE],
                        &mut work[..im.workspace_len(hi - lo)],
                        &marginal,
                        Grads {
                            weights: &mut pw,
                            bias: &mut pb,
                            u: &mut pu,
                            d: &mut pd,
                        },
                    )
                    .unwrap();
                for (t, g) in total.iter_mut().zip(flat(&pw, &pb, &pu, &pd)) {
                    *t += g;
                }
                for (a, b) in sums.p_sum.iter_mut().zip(&part.p_sum) {
                    *a += b;
                }
                sums.cross += part.cross;
                sums.n += part.n;
            }
            let max = whole.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            for (i, (t, w)) in total.iter().zip(&whole).enumerate() {
                assert!(
                    (t - w).abs() <= 1e-5 * max,
                    "{path:?} component {i}: {t} vs {w}"
                );
            }
            assert!(
                (sums.value() - value).abs() < 1e-9,
                "{path:?}: {} vs {value}",
                sums.value()
            );
        }
    }

    /// Analytic gradients of both paths against Richardson-extrapolated central
    /// differences of the scalar value (error O(h⁴) + f32 rounding / h ≈ 1e-5).
    #[test]
    fn gradients_match_central_differences() {
        const NV: usize = 3;
        const NE: usize = 5;
        const NH: usize = 2;
        const N: usize = 40;
        let im = Im::new(NV, NE, NH).unwrap();
        let (nw, nu) = (NH * NV, 4 * NE);
        const NP: usize = NH * NV + NH + 4 * NE + 4;
        let mut rng = stream(11, 0, 0);
        let mut x = [0.0f32; NP];
        for y in x.iter_mut() {
            *y = (2.0 * uniform(&mut rng) - 1.0) as f32;
        }
        let spin = |r: &mut rand_xoshiro::Xoshiro256PlusPlus| {
            if r.next_u64() >> 63 == 1 {
                1.0f32
            } else {
                -1.0
            }
        };
        let mut v = [0.0f32; N * NV];
        let mut e = [0.0f32; N * NE];
        for k in 0..N {
            for i in 0..NV {
                v[k * NV + i] = spin(&mut rng);
            }
            // Correlate E with V so that the decoder term matters.
            for m in 0..NE {
                let base = v[k * NV + m % NV];
                e[k * NE + m] = if uniform(&mut rng) < 0.8 { base } else { -base };
            }
        }
        let mut work = [0.0f32; N * (NH + 12)];
        for path in [Path::Scalar, Path::F32x8] {
            let (mut gw, mut gb, mut gu, mut gd) = (
                [0.0f32; NH * NV],
                [0.0f32; NH],
                [0.0f32; 4 * NE],
                [0.0f32; 4],
            );
            let params = Params {
                weights: &x[..nw],
                bias: &x[nw..nw + NH],
                u: &x[nw + NH..nw + NH + nu],
                d: &x[nw + NH + nu..],
            };
            let grads = Grads {
                weights: &mut gw,
                bias: &mut gb,
                u: &mut gu,
                d: &mut gd,
            };
            let value = im
                .value_and_gradient(path, params, &v, &e, &mut work, grads)
                .unwrap();
            assert!((value - eval(&im, Path::Scalar, &x, &v, &e, &mut work)).abs() < 1e-6);
            let mut g = [0.0f32; NP];
            g[..nw].copy_from_slice(&gw);
            g[nw..nw + NH].copy_from_slice(&gb);
            g[nw + NH..nw + NH + nu].copy_from_slice(&gu);
            g[nw + NH + nu..].copy_from_slice(&gd);
            let h = 1e-2f32;
            for k in 0..NP {
                let mut y = x;
                let mut f = |delta: f32| {
                    y[k] = x[k] + delta;
                    eval(&im, Path::Scalar, &y, &v, &e, &mut work)
                };
                let (p1, m1, p2, m2) = (f(h), f(-h), f(2.0 * h), f(-2.0 * h));
                let fd = (8.0 * (p1 - m1) - (p2 - m2)) / (12.0 * h as f64);
                assert!(
                    (fd - g[k] as f64).abs() < 2e-4 + 1e-3 * fd.abs(),
                    "{path:?} parameter {k}: analytic {} vs {fd}",
                    g[k]
                );
            }
        }
    }

    /// One pair (v₁, v₂ | e_L, e_R) of an infinite Ising chain at coupling K:
    /// e_L, b, v₁, v₂, b, e_R consecutive (L_V = 2, L_B = 1, E = the two sites next to
    /// the buffers). Each spin equals its left neighbour with probability (1 + tanh K)/2.
    fn chain_pair(rng: &mut rand_xoshiro::Xoshiro256PlusPlus, same: f64) -> ([f32; 2], [f32; 2]) {
        let mut s = [0.0f32; 6];
        s[0] = if rng.next_u64() >> 63 == 1 { 1.0 } else { -1.0 };
        for k in 1..6 {
            s[k] = if uniform(rng) < same {
                s[k - 1]
            } else {
                -s[k - 1]
            };
        }
        ([s[2], s[3]], [s[0], s[5]])
    }

    const BATCH: usize = 4096;

    /// Train the decoder only (rule fixed to λ), on pairs of the training stream, then
    /// return (Î, σ) on `held_out_blocks` blocks of `block` held-out pairs: Î from the
    /// pooled sums, σ from the spread of the block values.
    fn held_out_estimate(
        k_coupling: f64,
        lambda: [f32; 2],
        seed: u64,
        steps: u32,
        held_out_blocks: usize,
        block: usize,
    ) -> (f64, f64) {
        let same = 0.5 * (1.0 + libm::tanh(k_coupling));
        let im = Im::new(2, 2, 1).unwrap();
        let (w, b) = (lambda, [0.0f32]);
        let (mut u, mut d) = ([0.0f32; 4], [0.0f32; 2]);
        let (mut mu, mut vu, mut md, mut vd) = ([0.0f32; 4], [0.0f32; 4], [0.0f32; 2], [0.0f32; 2]);
        let mut work = [0.0f32; BATCH * 7];
        let (mut v, mut e) = ([0.0f32; BATCH * 2], [0.0f32; BATCH * 2]);
        // Training stream: `steps` minibatches of 4096 fresh pairs (one pass), learning
        // rate decaying from 0.05 to 5e-4 so that minibatch noise in φ is negligible at
        // the end.
        let mut train = stream(seed, 0, 0);
        for t in 1..=steps {
            for k in 0..BATCH {
                let (vv, ee) = chain_pair(&mut train, same);
                v[2 * k..2 * k + 2].copy_from_slice(&vv);
                e[2 * k..2 * k + 2].copy_from_slice(&ee);
            }
            let (mut gw, mut gb, mut gu, mut gd) =
                ([0.0f32; 2], [0.0f32; 1], [0.0f32; 4], [0.0f32; 2]);
            let params = Params {
                weights: &w,
                bias: &b,
                u: &u,
                d: &d,
            };
            let grads = Grads {
                weights: &mut gw,
                bias: &mut gb,
                u: &mut gu,
                d: &mut gd,
            };
            im.value_and_gradient(Path::F32x8, params, &v, &e, &mut work, grads)
                .unwrap();
            let lr = 0.05 * libm::pow(0.01, (t - 1) as f64 / (steps - 1) as f64) as f32;
            let adam = Adam::new(lr).unwrap();
            adam.step(t, &mut u, &gu, &mut mu, &mut vu).unwrap();
            adam.step(t, &mut d, &gd, &mut md, &mut vd).unwrap();
        }
        // Held-out stream (the 30 %), never seen in training.
        let mut test = stream(seed, 1, 0);
        let params = Params {
            weights: &w,
            bias: &b,
            u: &u,
            d: &d,
        };
        let mut total = Sums::default();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for _ in 0..held_out_blocks {
            let mut sums = Sums::default();
            let mut left = block;
            while left > 0 {
                let n = left.min(BATCH);
                for k in 0..n {
                    let (vv, ee) = chain_pair(&mut test, same);
                    v[2 * k..2 * k + 2].copy_from_slice(&vv);
                    e[2 * k..2 * k + 2].copy_from_slice(&ee);
                }
                im.accumulate(
                    Path::F32x8,
                    params,
                    &v[..2 * n],
                    &e[..2 * n],
                    &mut work[..n * 7],
                    &mut sums,
                )
                .unwrap();
                left -= n;
            }
            let x = sums.value();
            s1 += x;
            s2 += x * x;
            for s in 0..2 {
                total.p_sum[s] += sums.p_sum[s];
            }
            total.cross += sums.cross;
            total.n += sums.n;
        }
        let b = held_out_blocks as f64;
        let var = (s2 / b - (s1 / b) * (s1 / b)) * b / (b - 1.0);
        (total.value(), libm::sqrt(var / b))
    }

    /// A2 for `im`: held-out Î within 2 % of the exact I(H:E) of docs/method.md#ising-1d-exact-table, and
    /// never above it by more than 3σ (a lower bound; 3σ rather than 1σ because an
    /// unbiased estimate exceeds I + 1σ in 16 % of seeds). The pair counts are chosen
    /// from the measured error bar: the test also asserts 4σ < 2 % · I, i.e. the
    /// held-out set is large enough for the 2 % criterion to mean something.
    #[test]
    fn held_out_im_matches_the_exact_chain_values() {
        // (K, λ, exact I) from docs/method.md#ising-1d-exact-table.
        let cases: [(f64, [f32; 2], f64); 6] = [
            (1.0, [20.0, 0.0], 0.247033),
            (0.5, [1.0, 0.0], 0.01593030),
            (0.5, [2.0, 0.0], 0.02565495),
            (0.5, [1.0, 1.0], 0.02251673),
            (0.5, [2.0, -1.0], 0.01731720),
            (0.5, [0.5, 0.5], 0.01397326),
        ];
        const BLOCK: usize = 1 << 16;
        for (case, &(k, lambda, exact)) in cases.iter().enumerate() {
            let seed = 100 + case as u64;
            // Pilot: 8 held-out blocks give the error bar per pair; the final held-out
            // set is sized for σ = 2 % · I / 4 with a 1.5 safety factor (σ ∝ 1/√N).
            let (_, pilot) = held_out_estimate(k, lambda, seed, 400, 8, BLOCK);
            let target = 0.02 * exact / 4.0;
            let blocks = ((8.0 * (pilot / target) * (pilot / target) * 1.5) as usize).max(8);
            // Training pass over 7/3 × as many pairs as are held out: a 70/30 split.
            let steps = (blocks * BLOCK * 7 / 3).div_ceil(BATCH) as u32;
            let (est, sigma) = held_out_estimate(k, lambda, seed, steps, blocks, BLOCK);
            std::println!(
                "K = {k}, λ = {lambda:?}: Î = {est:.6} ± {sigma:.6} ({} held-out pairs), \
                 exact {exact:.6}, rel {:+.4}",
                blocks * BLOCK,
                (est - exact) / exact
            );
            assert!(
                4.0 * sigma < 0.02 * exact,
                "held-out set too small: σ = {sigma}"
            );
            assert!((est - exact).abs() < 0.02 * exact, "Î = {est} vs {exact}");
            assert!(
                est < exact + 3.0 * sigma,
                "Î = {est} exceeds the bound {exact}"
            );
        }
    }
}
