//! The `rbm` estimator (docs/method.md#rbm): an auxiliary Θ-RBM over x = (v, e)
//! trained by contrastive divergence, the conditional Q(v|e) it defines, and the
//! Barber–Agakov bound on I_Λ(H:E) with that Q (estimator E1, or E1s with sampled V).
//!
//! # The Θ-RBM
//! Units x = (v_0 … v_{|V|−1}, e_0 … e_{|E|−1}) are 0/1 (an Ising spin s maps to
//! u = (s + 1)/2, see [`units_from_spins`]); hiddens g_k ∈ {0, 1}, k < N_g. Energy
//!
//! E_Θ(x, g) = −Σ_i c_i x_i − Σ_k d_k g_k − Σ_ik x_i W_ik g_k,
//!
//! so p(g_k = 1|x) = σ(d_k + Σ_i W_ik x_i) and p(x_i = 1|g) = σ(c_i + Σ_k W_ik g_k).
//! Parameters live in one caller-owned `f32` buffer θ of [`RbmShape::params`] entries:
//! `[W (units × hidden, row-major: W_ik at i·hidden + k) | c (units) | d (hidden)]`
//! ([`RbmShape::split`]).
//!
//! # Training
//! [`cd_update`] does one CD-k or persistent-CD step on a minibatch:
//! ΔW = η(⟨x p(g|x)⟩_data − ⟨x p(g|x)⟩_model − w_d W), Δc = η(⟨x⟩_data − ⟨x⟩_model),
//! Δd = η(⟨p⟩_data − ⟨p⟩_model), with the model average from k block-Gibbs steps started
//! at the data (CD-k) or continued from caller-owned persistent chains (PCD). It is
//! deterministic given the `Xoshiro256PlusPlus` stream: one `next_u64` per sampled unit,
//! in a fixed order, and the scalar reference and the `f32x8` kernel ([`Kernel`]) draw the
//! same numbers (see [`kernel`] for what is equal bit for bit and what within a tolerance).
//!
//! # Q(v|e) and the bound
//! - [`conditional_table`]: Q(v|e) ∝ exp(Σ_{i∈V} c_i v_i) Π_k [1 + exp(d_k + Σ_{i∈V} W_ik
//!   v_i + Σ_{m∈E} W_mk e_m)] for all 2^|V| visible configurations (|V| ≤ 16), in f64 with
//!   log-sum-exp. Index v: bit i set ↔ v_i = +1 (u_i = 1), as in [`super::exact`].
//! - [`sample_conditional`]: block Gibbs with E clamped (E1s), S samples as ±1 spins.
//! - [`ba_bound_table`], [`ba_bound_sampled`]: Î_BA and its exact gradient with respect to
//!   the rule Λ (docs/method.md#rbm, including the last term).
//! - [`pseudo_log_likelihood`]: the monitor of docs/method.md#rbm.
//!
//! # Example
//! Train a Θ-RBM on pairs (v, e) of the 1D chain at K = 1 (|V| = 2, one buffer spin on
//! each side, E = the two spins beyond), then bound the information that decimation to
//! v₁ keeps (exactly 0.247033 nats, docs/method.md#ising-1d-exact-table):
//!
//! ```
//! use rsmi_core::learn::exact::{self, CHAIN_ENV_STATES};
//! use rsmi_core::learn::rbm::{
//!     CdStep, Kernel, Negative, RbmShape, ba_bound_table, ba_table_work_len, cd_update,
//!     conditional_table,
//! };
//! use rsmi_core::learn::rule::Shape;
//! use rsmi_core::rng::stream;
//!
//! # fn main() -> Result<(), rsmi_core::Error> {
//! // 256 pairs laid out in proportion to the exact P(v, e) (a stand-in for MC samples):
//! // x = (v₁, v₂, e₁, e₂) as 0/1 units for the RBM, v as ±1 spins for the bound.
//! let mut joint = [0.0; 4 * CHAIN_ENV_STATES];
//! exact::chain_joint(1.0, 2, 1, &mut joint)?;
//! let n = 256;
//! let (mut x, mut v, mut env) = (Vec::new(), Vec::new(), Vec::new());
//! let (mut cell, mut below) = (0, 0.0);
//! for k in 0..n {
//!     while below + joint[cell] < (k as f64 + 0.5) / n as f64 {
//!         below += joint[cell];
//!         cell += 1;
//!     }
//!     let (vi, e) = (cell / CHAIN_ENV_STATES, cell % CHAIN_ENV_STATES);
//!     let bits = [vi & 1, vi >> 1 & 1, e & 1, e >> 1 & 1];
//!     x.extend(bits.map(|b| b as f32));
//!     v.extend(bits[..2].iter().map(|&b| 2.0 * b as f64 - 1.0));
//!     env.push(e);
//! }
//!
//! // CD-1 on the whole batch, from small weights that break the hidden units' symmetry.
//! let shape = RbmShape::new(2, 2, 4)?;
//! let mut theta: Vec<f32> = (0..shape.params()).map(|i| 0.01 * (i % 7) as f32 - 0.03).collect();
//! let mut work = vec![0.0; shape.cd_work_len()];
//! let mut rng = stream(5, 0, 0);
//! let step = CdStep { k: 1, learning_rate: 1.0, weight_decay: 0.0 };
//! for _ in 0..200 {
//!     cd_update(shape, &mut theta, &x, Negative::Data, step, Kernel::Wide, &mut work, &mut rng)?;
//! }
//!
//! // Q(v|e) for the four environments, then Î_BA of decimation (and its gradient).
//! let bound = |theta: &[f32]| -> Result<f64, rsmi_core::Error> {
//!     let mut q_of = [[0.0; 4]; CHAIN_ENV_STATES];
//!     for (e, q) in q_of.iter_mut().enumerate() {
//!         let units = [(e & 1) as f32, (e >> 1 & 1) as f32];
//!         conditional_table(shape, theta, &units, q, &mut vec![0.0; shape.hidden])?;
//!     }
//!     let q: Vec<f64> = env.iter().flat_map(|&e| q_of[e]).collect();
//!     let rule = Shape::new(2, 1)?;
//!     let mut work = vec![0.0; ba_table_work_len(rule)?];
//!     let (mut gw, mut gb) = ([0.0; 2], [0.0; 1]);
//!     ba_bound_table(rule, &[30.0, 0.0], &[0.0], &v, &q, &mut work, &mut gw, &mut gb)
//! };
//! let untrained = bound(&vec![0.0; shape.params()])?; // Q uniform: nothing is learnt
//! let trained = bound(&theta)?;
//! assert!(untrained.abs() < 1e-3);
//! // ≈ 0.238: the RBM's Q(v|e) is close to the exact P(v|e), and the bound nearly tight.
//! assert!((trained - 0.247033).abs() < 0.02);
//! # Ok(())
//! # }
//! ```

pub mod kernel;

use super::exact;
use super::rule::{self, Shape};
use crate::error::{Error, check_len};
use crate::rng::Xoshiro256PlusPlus;
use rand_core::Rng;

/// Most units |V| + |E| of a Θ-RBM.
pub const MAX_UNITS: usize = 1 << 16;

/// Most hidden units N_g of a Θ-RBM.
pub const MAX_RBM_HIDDEN: usize = 1 << 12;

/// Most hidden configurations of a rule (2^[`rule::MAX_HIDDEN`]).
const MAX_STATES: usize = 1 << rule::MAX_HIDDEN;

/// (W, c, d) views of θ or of a gradient in θ's layout.
pub type ThetaViews<'a> = (&'a [f32], &'a [f32], &'a [f32]);

/// Mutable (W, c, d) views of θ.
pub type ThetaViewsMut<'a> = (&'a mut [f32], &'a mut [f32], &'a mut [f32]);

/// Signature of the product kernels (weights, bias, input, output).
type Product = fn(&[f32], &[f32], &[f32], &mut [f32]);

/// Sizes of a Θ-RBM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RbmShape {
    /// |V|: the first units of x.
    pub visible: usize,
    /// |E|: the units after V.
    pub environment: usize,
    /// N_g: Bernoulli hidden units.
    pub hidden: usize,
}

impl RbmShape {
    /// A Θ-RBM with |V| = `visible` ≥ 1, |E| = `environment` ≥ 0 (|V| + |E| ≤
    /// [`MAX_UNITS`]) and 1 ≤ N_g = `hidden` ≤ [`MAX_RBM_HIDDEN`].
    pub fn new(visible: usize, environment: usize, hidden: usize) -> Result<RbmShape, Error> {
        if visible == 0 || visible + environment > MAX_UNITS {
            return Err(Error::InvalidParameter(
                "a Θ-RBM needs 1 ≤ |V| and |V| + |E| ≤ 65536",
            ));
        }
        if hidden == 0 || hidden > MAX_RBM_HIDDEN {
            return Err(Error::InvalidParameter(
                "a Θ-RBM needs between 1 and 4096 hidden units",
            ));
        }
        Ok(RbmShape {
            visible,
            environment,
            hidden,
        })
    }

    /// Number of units of x, |V| + |E|.
    pub fn units(&self) -> usize {
        self.visible + self.environment
    }

    /// Length of θ: units · hidden + units + hidden.
    pub fn params(&self) -> usize {
        self.units() * self.hidden + self.units() + self.hidden
    }

    /// Length of the `work` buffer of [`cd_update`]: params + 2 · units + 2 · hidden.
    pub fn cd_work_len(&self) -> usize {
        self.params() + 2 * self.units() + 2 * self.hidden
    }

    /// Length of the `work` buffer of [`sample_conditional`]: 3 · hidden + |V|.
    pub fn sample_work_len(&self) -> usize {
        3 * self.hidden + self.visible
    }

    /// (W, c, d) views of θ (or of a gradient in the same layout).
    pub fn split<'a>(&self, theta: &'a [f32]) -> Result<ThetaViews<'a>, Error> {
        check_len("theta", self.params(), theta.len())?;
        let (w, rest) = theta.split_at(self.units() * self.hidden);
        let (c, d) = rest.split_at(self.units());
        Ok((w, c, d))
    }

    /// Mutable (W, c, d) views of θ.
    pub fn split_mut<'a>(&self, theta: &'a mut [f32]) -> Result<ThetaViewsMut<'a>, Error> {
        check_len("theta", self.params(), theta.len())?;
        let (w, rest) = theta.split_at_mut(self.units() * self.hidden);
        let (c, d) = rest.split_at_mut(self.units());
        Ok((w, c, d))
    }
}

/// Which implementation of the heavy products a CD update uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// The plain scalar references of [`kernel`].
    Scalar,
    /// The `f32x8` kernels of [`kernel`].
    Wide,
}

/// Where the negative (model) phase of a CD update comes from.
#[derive(Debug)]
pub enum Negative<'a> {
    /// CD-k: one chain per data row, started at the data.
    Data,
    /// Persistent CD: these chains (rows of |V| + |E| units, 0/1) are continued for k
    /// steps and written back. Their number is free (often the batch size).
    Persistent(&'a mut [f32]),
}

/// Step settings of [`cd_update`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CdStep {
    /// Gibbs steps k ≥ 1 of the negative phase.
    pub k: usize,
    /// Learning rate η > 0.
    pub learning_rate: f32,
    /// Weight decay w_d ≥ 0 (on W only).
    pub weight_decay: f32,
}

/// Map ±1 spins to 0/1 units, u = (s + 1)/2.
pub fn units_from_spins(spins: &[f64], units: &mut [f32]) -> Result<(), Error> {
    check_len("units", spins.len(), units.len())?;
    for (u, &s) in units.iter_mut().zip(spins) {
        *u = ((s + 1.0) * 0.5) as f32;
    }
    Ok(())
}

/// A uniform f32 in [0, 1) from the top 24 bits of one 64-bit draw.
#[inline]
fn uniform(rng: &mut Xoshiro256PlusPlus) -> f32 {
    (rng.next_u64() >> 40) as f32 * (1.0 / 16_777_216.0)
}

/// out_i = 1 with probability p_i, else 0 (one draw per unit, in order).
#[inline]
fn sample(p: &[f32], out: &mut [f32], rng: &mut Xoshiro256PlusPlus) {
    for (o, &pi) in out.iter_mut().zip(p) {
        *o = if uniform(rng) < pi { 1.0 } else { 0.0 };
    }
}

/// The kernel set chosen by [`Kernel`].
struct Ops {
    hidden: Product,
    visible: Product,
    outer: fn(&mut [f32], &[f32], &[f32], f32),
    sigmoid: fn(&mut [f32]),
}

impl Ops {
    fn of(k: Kernel) -> Ops {
        match k {
            Kernel::Scalar => Ops {
                hidden: kernel::hidden_preactivations_scalar,
                visible: kernel::visible_preactivations_scalar,
                outer: kernel::accumulate_outer_scalar,
                sigmoid: kernel::sigmoid_scalar,
            },
            Kernel::Wide => Ops {
                hidden: kernel::hidden_preactivations_wide,
                visible: kernel::visible_preactivations_wide,
                outer: kernel::accumulate_outer_wide,
                sigmoid: kernel::sigmoid_wide,
            },
        }
    }
}

/// Buffers of one Gibbs chain.
struct Chain<'a> {
    x: &'a mut [f32],
    ph: &'a mut [f32],
    g: &'a mut [f32],
    px: &'a mut [f32],
}

/// k block-Gibbs steps x → g → x; on entry `ph` = p(g|x), on exit p(g|x_k).
fn gibbs(
    ops: &Ops,
    (w, c, d): (&[f32], &[f32], &[f32]),
    ch: &mut Chain<'_>,
    k: usize,
    rng: &mut Xoshiro256PlusPlus,
) {
    for _ in 0..k {
        sample(ch.ph, ch.g, rng);
        (ops.visible)(w, c, ch.g, ch.px);
        (ops.sigmoid)(ch.px);
        sample(ch.px, ch.x, rng);
        (ops.hidden)(w, d, ch.x, ch.ph);
        (ops.sigmoid)(ch.ph);
    }
}

/// Add `scale` × (x ⊗ p, x, p) to the gradient (W, c, d) views.
fn add_stats(
    ops: &Ops,
    (gw, gc, gd): (&mut [f32], &mut [f32], &mut [f32]),
    x: &[f32],
    p: &[f32],
    scale: f32,
) {
    (ops.outer)(gw, x, p, scale);
    for (a, &xi) in gc.iter_mut().zip(x) {
        *a += scale * xi;
    }
    for (a, &pk) in gd.iter_mut().zip(p) {
        *a += scale * pk;
    }
}

/// One CD-k (`Negative::Data`) or PCD (`Negative::Persistent`) update of θ on a minibatch
/// (`batch`: rows of |V| + |E| units, 0/1), see the module docs. `work` has
/// [`RbmShape::cd_work_len`] entries (its contents are scratch).
#[allow(clippy::too_many_arguments)]
pub fn cd_update(
    shape: RbmShape,
    theta: &mut [f32],
    batch: &[f32],
    negative: Negative<'_>,
    step: CdStep,
    kernel: Kernel,
    work: &mut [f32],
    rng: &mut Xoshiro256PlusPlus,
) -> Result<(), Error> {
    let (units, hidden) = (shape.units(), shape.hidden);
    check_len("theta", shape.params(), theta.len())?;
    check_len("work", shape.cd_work_len(), work.len())?;
    if batch.is_empty() || !batch.len().is_multiple_of(units) {
        return Err(Error::InvalidParameter(
            "the minibatch must hold a positive whole number of rows of |V| + |E| units",
        ));
    }
    if step.k == 0
        || !(step.learning_rate > 0.0 && step.learning_rate.is_finite())
        || !(step.weight_decay >= 0.0 && step.weight_decay.is_finite())
    {
        return Err(Error::InvalidParameter(
            "CD needs k ≥ 1, a finite learning rate > 0 and a finite weight decay ≥ 0",
        ));
    }
    if let Negative::Persistent(ref chains) = negative {
        if chains.is_empty() || chains.len() % units != 0 {
            return Err(Error::InvalidParameter(
                "persistent chains must be a positive whole number of rows of |V| + |E| units",
            ));
        }
    }
    let ops = Ops::of(kernel);
    let (grad, rest) = work.split_at_mut(shape.params());
    let (xb, rest) = rest.split_at_mut(units);
    let (px, rest) = rest.split_at_mut(units);
    let (ph, g) = rest.split_at_mut(hidden);
    grad.fill(0.0);
    let params = shape.split(theta)?;
    let (gw, rest) = grad.split_at_mut(units * hidden);
    let (gc, gd) = rest.split_at_mut(units);
    let n_pos = (batch.len() / units) as f32;
    let persistent = matches!(negative, Negative::Persistent(_));
    for row in batch.chunks_exact(units) {
        (ops.hidden)(params.0, params.2, row, ph);
        (ops.sigmoid)(ph);
        add_stats(&ops, (gw, gc, gd), row, ph, 1.0 / n_pos);
        if !persistent {
            xb.copy_from_slice(row);
            let mut ch = Chain { x: xb, ph, g, px };
            gibbs(&ops, params, &mut ch, step.k, rng);
            add_stats(&ops, (gw, gc, gd), xb, ph, -1.0 / n_pos);
        }
    }
    if let Negative::Persistent(chains) = negative {
        let n_neg = (chains.len() / units) as f32;
        for x in chains.chunks_exact_mut(units) {
            (ops.hidden)(params.0, params.2, x, ph);
            (ops.sigmoid)(ph);
            let mut ch = Chain { x, ph, g, px };
            gibbs(&ops, params, &mut ch, step.k, rng);
            add_stats(&ops, (gw, gc, gd), ch.x, ch.ph, -1.0 / n_neg);
        }
    }
    let (w, c, d) = shape.split_mut(theta)?;
    let (eta, decay) = (step.learning_rate, step.weight_decay);
    for (p, &gr) in w.iter_mut().zip(&*gw) {
        *p += eta * (gr - decay * *p);
    }
    for (p, &gr) in c.iter_mut().zip(&*gc).chain(d.iter_mut().zip(&*gd)) {
        *p += eta * gr;
    }
    Ok(())
}

/// ln(1 + e^a), stable.
#[inline]
fn softplus(a: f64) -> f64 {
    if a > 0.0 {
        a + libm::log1p(libm::exp(-a))
    } else {
        libm::log1p(libm::exp(a))
    }
}

/// Σ_i ln p(x_i | x_{−i}) of one row x (0/1 units), with p(x_i|x_{−i}) = σ(F(x̃) − F(x)),
/// F the free energy and x̃ = x with unit i flipped (docs/method.md#rbm). f64;
/// `work` has N_g entries.
pub fn pseudo_log_likelihood(
    shape: RbmShape,
    theta: &[f32],
    x: &[f32],
    work: &mut [f64],
) -> Result<f64, Error> {
    let (w, c, d) = shape.split(theta)?;
    check_len("row", shape.units(), x.len())?;
    check_len("work", shape.hidden, work.len())?;
    if x.iter().any(|&u| u != 0.0 && u != 1.0) {
        return Err(Error::InvalidParameter(
            "the pseudo-likelihood needs 0/1 units",
        ));
    }
    let h = shape.hidden;
    for (k, a) in work.iter_mut().enumerate() {
        *a = d[k] as f64
            + x.iter()
                .enumerate()
                .map(|(i, &u)| u as f64 * w[i * h + k] as f64)
                .sum::<f64>();
    }
    let mut pll = 0.0;
    for (i, &u) in x.iter().enumerate() {
        let delta = 1.0 - 2.0 * u as f64; // change of x_i when flipped
        // F(x̃) − F(x) = −c_i Δ − Σ_k [softplus(a_k + Δ W_ik) − softplus(a_k)]
        let mut df = -(c[i] as f64) * delta;
        for (k, &a) in work.iter().enumerate() {
            df -= softplus(a + delta * w[i * h + k] as f64) - softplus(a);
        }
        pll -= softplus(-df); // ln σ(df)
    }
    Ok(pll)
}

/// Q(v|e) of the Θ-RBM for every visible configuration v (|V| ≤ 16; index bit i ↔
/// u_i = 1 ↔ v_i = +1), by enumeration and log-sum-exp in f64:
/// ln Q̃(v) = Σ_{i∈V} c_i u_i + Σ_k softplus(d_k + Σ_{i∈V} W_ik u_i + Σ_{m∈E} W_mk e_m).
/// `env` holds the |E| environment units (0/1), `q` 2^|V| entries, `work` N_g entries.
pub fn conditional_table(
    shape: RbmShape,
    theta: &[f32],
    env: &[f32],
    q: &mut [f64],
    work: &mut [f64],
) -> Result<(), Error> {
    let (w, c, d) = shape.split(theta)?;
    let nv = exact::visible_states(shape.visible)?;
    check_len("environment", shape.environment, env.len())?;
    check_len("conditional", nv, q.len())?;
    check_len("work", shape.hidden, work.len())?;
    let (h, lv) = (shape.hidden, shape.visible);
    for (k, b) in work.iter_mut().enumerate() {
        *b = d[k] as f64
            + env
                .iter()
                .enumerate()
                .map(|(m, &e)| e as f64 * w[(lv + m) * h + k] as f64)
                .sum::<f64>();
    }
    let mut max = f64::NEG_INFINITY;
    for (v, lq) in q.iter_mut().enumerate() {
        let mut s = 0.0;
        for (i, &ci) in c[..lv].iter().enumerate() {
            if (v >> i) & 1 == 1 {
                s += ci as f64;
            }
        }
        for (k, &b) in work.iter().enumerate() {
            let mut a = b;
            for i in 0..lv {
                if (v >> i) & 1 == 1 {
                    a += w[i * h + k] as f64;
                }
            }
            s += softplus(a);
        }
        *lq = s;
        max = max.max(s);
    }
    let mut z = 0.0;
    for lq in q.iter_mut() {
        *lq = libm::exp(*lq - max);
        z += *lq;
    }
    for lq in q.iter_mut() {
        *lq /= z;
    }
    Ok(())
}

/// Block Gibbs with E clamped (estimator E1s): from the chain state `state` (|V| units,
/// 0/1, continued and written back), `burn_in` sweeps, then `samples.len() / |V|` samples
/// taken every `thin` ≥ 1 sweeps, written as ±1 spins (`samples[s · |V| + i]`, s = 2u − 1).
/// One sweep draws g ~ p(g|v, e) then v ~ p(v|g). docs/method.md#rbm uses S = 16 by default
/// samples per environment. `work` has [`RbmShape::sample_work_len`] entries.
#[allow(clippy::too_many_arguments)]
pub fn sample_conditional(
    shape: RbmShape,
    theta: &[f32],
    env: &[f32],
    state: &mut [f32],
    burn_in: usize,
    thin: usize,
    samples: &mut [f64],
    work: &mut [f32],
    rng: &mut Xoshiro256PlusPlus,
) -> Result<(), Error> {
    let (w, c, d) = shape.split(theta)?;
    let (lv, h) = (shape.visible, shape.hidden);
    check_len("environment", shape.environment, env.len())?;
    check_len("chain state", lv, state.len())?;
    check_len("work", shape.sample_work_len(), work.len())?;
    if samples.is_empty() || !samples.len().is_multiple_of(lv) || thin == 0 {
        return Err(Error::InvalidParameter(
            "conditional sampling needs ≥ 1 whole sample of |V| spins and thin ≥ 1",
        ));
    }
    let (base, rest) = work.split_at_mut(h);
    let (a, rest) = rest.split_at_mut(h);
    let (g, pv) = rest.split_at_mut(h);
    // The environment's share of the hidden pre-activations, once.
    kernel::hidden_preactivations_scalar(&w[lv * h..], d, env, base);
    let mut sweep = |state: &mut [f32], rng: &mut Xoshiro256PlusPlus| {
        kernel::hidden_preactivations_scalar(w, base, state, a);
        kernel::sigmoid_scalar(a);
        sample(a, g, rng);
        kernel::visible_preactivations_scalar(w, c, g, pv);
        kernel::sigmoid_scalar(pv);
        sample(pv, state, rng);
    };
    for _ in 0..burn_in {
        sweep(state, rng);
    }
    for out in samples.chunks_exact_mut(lv) {
        for _ in 0..thin {
            sweep(state, rng);
        }
        for (o, &u) in out.iter_mut().zip(state.iter()) {
            *o = 2.0 * u as f64 - 1.0;
        }
    }
    Ok(())
}

/// Length of the `work` buffer of [`ba_bound_table`]: 2 · 2^|V| · 2^{N_h}.
pub fn ba_table_work_len(shape: Shape) -> Result<usize, Error> {
    Ok(2 * exact::visible_states(shape.visible)? * shape.states())
}

/// P_Λ(h|v) of one visible vector into `a` and `p`.
fn rule_at(
    shape: Shape,
    weights: &[f64],
    bias: &[f64],
    v: &[f64],
    a: &mut [f64; rule::MAX_HIDDEN],
    p: &mut [f64; MAX_STATES],
) -> Result<(), Error> {
    rule::preactivations(shape, weights, bias, v, &mut a[..shape.hidden])?;
    rule::hidden_distribution(shape, &a[..shape.hidden], &mut p[..shape.states()])
}

/// P̂_Λ(h) = (1/N) Σ_n P_Λ(h|v_n).
fn empirical_hidden(
    shape: Shape,
    weights: &[f64],
    bias: &[f64],
    v: &[f64],
) -> Result<[f64; MAX_STATES], Error> {
    let n = (v.len() / shape.visible) as f64;
    let mut a = [0.0; rule::MAX_HIDDEN];
    let mut p = [0.0; MAX_STATES];
    let mut ph = [0.0; MAX_STATES];
    for vn in v.chunks_exact(shape.visible) {
        rule_at(shape, weights, bias, vn, &mut a, &mut p)?;
        for (acc, &q) in ph.iter_mut().zip(&p[..shape.states()]) {
            *acc += q / n;
        }
    }
    Ok(ph)
}

fn check_rule(
    shape: Shape,
    weights: &[f64],
    bias: &[f64],
    v: &[f64],
    grad_w: &[f64],
    grad_b: &[f64],
) -> Result<usize, Error> {
    check_len("weights", shape.weights(), weights.len())?;
    check_len("bias", shape.hidden, bias.len())?;
    check_len("weight gradient", shape.weights(), grad_w.len())?;
    check_len("bias gradient", shape.hidden, grad_b.len())?;
    if v.is_empty() || !v.len().is_multiple_of(shape.visible) {
        return Err(Error::InvalidParameter(
            "the batch must hold a positive whole number of visible vectors",
        ));
    }
    Ok(v.len() / shape.visible)
}

/// Per pair: the value term Σ_h P(h|v_n) ln q(h|e_n), and the coefficients
/// c1[h] = ln q(h|e_n) − ln P̂(h) (first two gradient terms) and c2[h] = P(h|v_n)/q(h|e_n)
/// (the last term). Returns the value term (−∞ when some h with P(h|v_n) > 0 has q = 0;
/// then that h is left out of the gradient).
fn pair_terms(
    ns: usize,
    p: &[f64],
    q: &[f64],
    ph: &[f64],
    c1: &mut [f64; MAX_STATES],
    c2: &mut [f64; MAX_STATES],
) -> f64 {
    let mut value = 0.0;
    for s in 0..ns {
        if q[s] > 0.0 && ph[s] > 0.0 {
            let lq = libm::log(q[s]);
            value += if p[s] > 0.0 { p[s] * lq } else { 0.0 };
            c1[s] = lq - libm::log(ph[s]);
            c2[s] = p[s] / q[s];
        } else {
            if p[s] > 0.0 {
                value = f64::NEG_INFINITY;
            }
            c1[s] = 0.0;
            c2[s] = 0.0;
        }
    }
    value
}

/// H(P̂) = −Σ_h P̂(h) ln P̂(h).
fn entropy(ph: &[f64]) -> f64 {
    -ph.iter()
        .map(|&p| if p > 0.0 { p * libm::log(p) } else { 0.0 })
        .sum::<f64>()
}

/// The Barber–Agakov bound with an enumerated Q (docs/method.md#rbm) on a
/// batch of N pairs, and its gradient with respect to the rule Λ = (`weights`, `bias`):
///
/// Î_BA = −Σ_h P̂(h) ln P̂(h) + (1/N) Σ_n Σ_h P_Λ(h|v_n) ln q_Λ(h|e_n),
/// q_Λ(h|e_n) = Σ_v Q(v|e_n) P_Λ(h|v), P̂(h) = (1/N) Σ_n P_Λ(h|v_n);
///
/// ∂Î = (1/N) Σ_n Σ_h [∂P(h|v_n) (ln q(h|e_n) − ln P̂(h))
///                     + P(h|v_n) Σ_v Q(v|e_n) ∂P(h|v) / q(h|e_n)].
///
/// `v`: the N visible vectors as ±1 spins (`v[n · |V| + i]`); `q`: Q(v|e_n) for every
/// visible configuration, `q[n · 2^|V| + v]` (module indexing of [`super::exact`]; e.g. from
/// [`conditional_table`]); `work`: [`ba_table_work_len`] entries. The gradient is **added**
/// to `grad_w`, `grad_b`. Returns Î_BA (−∞ if some pair has q(h|e_n) = 0 where
/// P(h|v_n) > 0).
#[allow(clippy::too_many_arguments)]
pub fn ba_bound_table(
    shape: Shape,
    weights: &[f64],
    bias: &[f64],
    v: &[f64],
    q: &[f64],
    work: &mut [f64],
    grad_w: &mut [f64],
    grad_b: &mut [f64],
) -> Result<f64, Error> {
    let n = check_rule(shape, weights, bias, v, grad_w, grad_b)?;
    let nv = exact::visible_states(shape.visible)?;
    let ns = shape.states();
    check_len("conditional table", n * nv, q.len())?;
    check_len("work", 2 * nv * ns, work.len())?;
    for row in q.chunks_exact(nv) {
        let s: f64 = row.iter().sum();
        if row.iter().any(|&x| !(x >= 0.0 && x.is_finite())) || libm::fabs(s - 1.0) > 1e-6 {
            return Err(Error::InvalidParameter(
                "each Q(·|e_n) must be a probability distribution",
            ));
        }
    }
    let (table, coef) = work.split_at_mut(nv * ns);
    exact::rule_table(shape, weights, bias, table)?;
    coef.fill(0.0);
    let ph = empirical_hidden(shape, weights, bias, v)?;
    let inv_n = 1.0 / n as f64;
    let mut a = [0.0; rule::MAX_HIDDEN];
    let mut p = [0.0; MAX_STATES];
    let (mut c1, mut c2) = ([0.0; MAX_STATES], [0.0; MAX_STATES]);
    let mut mean = 0.0;
    for (vn, qn) in v.chunks_exact(shape.visible).zip(q.chunks_exact(nv)) {
        rule_at(shape, weights, bias, vn, &mut a, &mut p)?;
        let mut qh = [0.0; MAX_STATES];
        for (&qv, row) in qn.iter().zip(table.chunks_exact(ns)) {
            for (acc, &t) in qh.iter_mut().zip(row) {
                *acc += qv * t;
            }
        }
        mean += pair_terms(ns, &p[..ns], &qh[..ns], &ph[..ns], &mut c1, &mut c2) * inv_n;
        rule::accumulate_gradient(
            shape,
            vn,
            &a[..shape.hidden],
            &p[..ns],
            &c1[..ns],
            inv_n,
            grad_w,
            grad_b,
        )?;
        for (&qv, crow) in qn.iter().zip(coef.chunks_exact_mut(ns)) {
            if qv == 0.0 {
                continue;
            }
            for (acc, &c) in crow.iter_mut().zip(&c2[..ns]) {
                *acc += qv * c * inv_n;
            }
        }
    }
    // The last term, gathered per visible configuration.
    let mut spins = [0.0; exact::MAX_VISIBLE];
    for (vi, (row, crow)) in table
        .chunks_exact(ns)
        .zip(coef.chunks_exact(ns))
        .enumerate()
    {
        exact::spins_of(vi, &mut spins[..shape.visible]);
        rule::preactivations(
            shape,
            weights,
            bias,
            &spins[..shape.visible],
            &mut a[..shape.hidden],
        )?;
        rule::accumulate_gradient(
            shape,
            &spins[..shape.visible],
            &a[..shape.hidden],
            row,
            crow,
            1.0,
            grad_w,
            grad_b,
        )?;
    }
    Ok(entropy(&ph[..ns]) + mean)
}

/// The Barber–Agakov bound with sampled V (docs/method.md#rbm, sampled Q): as
/// [`ba_bound_table`] with q_Λ(h|e_n) = (1/S) Σ_s P_Λ(h|v^{(s)}) (ln of the mean, the
/// consistent choice), and the last gradient term (1/S) Σ_s ∂P(h|v^{(s)}) likewise.
/// `samples[(n · S + s) · |V| + i]`: S = `per_pair` ≥ 1 samples v^{(s)} ~ Q(·|e_n) per
/// pair, as ±1 spins (e.g. from [`sample_conditional`]). The gradient is **added** to
/// `grad_w`, `grad_b`.
#[allow(clippy::too_many_arguments)]
pub fn ba_bound_sampled(
    shape: Shape,
    weights: &[f64],
    bias: &[f64],
    v: &[f64],
    samples: &[f64],
    per_pair: usize,
    grad_w: &mut [f64],
    grad_b: &mut [f64],
) -> Result<f64, Error> {
    let n = check_rule(shape, weights, bias, v, grad_w, grad_b)?;
    if per_pair == 0 {
        return Err(Error::InvalidParameter("at least one sample per pair"));
    }
    let lv = shape.visible;
    check_len("samples", n * per_pair * lv, samples.len())?;
    let ns = shape.states();
    let ph = empirical_hidden(shape, weights, bias, v)?;
    let inv_n = 1.0 / n as f64;
    let inv_s = 1.0 / per_pair as f64;
    let mut a = [0.0; rule::MAX_HIDDEN];
    let mut p = [0.0; MAX_STATES];
    let mut ps = [0.0; MAX_STATES];
    let (mut c1, mut c2) = ([0.0; MAX_STATES], [0.0; MAX_STATES]);
    let mut mean = 0.0;
    for (vn, sn) in v.chunks_exact(lv).zip(samples.chunks_exact(per_pair * lv)) {
        let mut qh = [0.0; MAX_STATES];
        for vs in sn.chunks_exact(lv) {
            rule_at(shape, weights, bias, vs, &mut a, &mut ps)?;
            for (acc, &x) in qh.iter_mut().zip(&ps[..ns]) {
                *acc += x * inv_s;
            }
        }
        rule_at(shape, weights, bias, vn, &mut a, &mut p)?;
        mean += pair_terms(ns, &p[..ns], &qh[..ns], &ph[..ns], &mut c1, &mut c2) * inv_n;
        rule::accumulate_gradient(
            shape,
            vn,
            &a[..shape.hidden],
            &p[..ns],
            &c1[..ns],
            inv_n,
            grad_w,
            grad_b,
        )?;
        for vs in sn.chunks_exact(lv) {
            rule_at(shape, weights, bias, vs, &mut a, &mut ps)?;
            rule::accumulate_gradient(
                shape,
                vs,
                &a[..shape.hidden],
                &ps[..ns],
                &c2[..ns],
                inv_n * inv_s,
                grad_w,
                grad_b,
            )?;
        }
    }
    Ok(entropy(&ph[..ns]) + mean)
}

#[cfg(test)]
mod tests;
