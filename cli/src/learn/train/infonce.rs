//! Training with the `infonce` estimator ([`rsmi_core::learn::infonce`]): the rule Λ and
//! a separable critic u(h)·g(e) trained jointly by Adam on InfoNCE, the sum over H exact.
//!
//! - Minibatches are the K = `batch` pairs of runs of the shuffled training copy, as for
//!   `im`; a last minibatch shorter than K is dropped (its bound would have a lower
//!   ceiling and a noisier gradient), unless the whole set is shorter than K.
//! - Values on a set of pairs (held-out or training) are the mean of the bound over
//!   consecutive batches of K pairs of a copy of the set in a random order drawn once
//!   (pairs of one sample are spread over batches, so that the negatives of a pair are
//!   pairs of other samples), its error the standard error over those batches. The
//!   ceiling of every value is ln K.
//! - The critic starts random (drawn from the restart's stream after the initial rule):
//!   u ~ N(0, 1), linear W ~ N(0, 1/|E|); MLP W₁ ~ N(0, 2/|E|), b₁ = 0, W₂ ~ N(0, 1/M).
//! - Inputs are centred as for `im` (a reparametrisation; the stored bias absorbs it).

use super::{
    Centre, JOB_MIX, Lambda, Mixed, Objective, Outcome, TrainConfig, check_pairs, epoch_order,
    fit_fixed_rule, gauss, mean_err, run_all,
};
use crate::learn::dataset::Pairs;
use anyhow::{Result, bail};
use rsmi_core::learn::adam::Adam;
use rsmi_core::learn::im::Path;
use rsmi_core::learn::infonce::{Grads, Nce, Params};
use rsmi_core::rng::{Xoshiro256PlusPlus, stream};
use serde_json::{Value, json};

/// Critic parameters and their Adam moments.
#[derive(Clone)]
struct Critic {
    x: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    t: u32,
}

impl Critic {
    /// Random initial parameters (see the module docs).
    fn random(nce: &Nce, rng: &mut Xoshiro256PlusPlus) -> Critic {
        let shape = nce.critic_shape();
        let mut x = vec![0.0f32; shape.len()];
        let (ne, nm) = (shape.env as f64, shape.width as f64);
        let scales = if shape.width == 0 {
            [1.0, (1.0 / ne).sqrt(), 0.0, 0.0]
        } else {
            [1.0, (2.0 / ne).sqrt(), 0.0, (1.0 / nm).sqrt()]
        };
        let (u, w, b1, w2) = shape.split_mut(&mut x);
        for (part, scale) in [u, w, b1, w2].into_iter().zip(scales) {
            for y in part.iter_mut() {
                *y = (gauss(rng) * scale) as f32;
            }
        }
        let n = x.len();
        Critic {
            x,
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }
}

/// A set of pairs in a random order drawn once, for batched evaluation.
struct Shuffled {
    rows: Mixed,
    len: usize,
}

/// The mean of the InfoNCE bound over batches, its standard error, the number of
/// batches and the batch size K.
#[derive(Debug, Clone, Copy)]
pub struct Estimate {
    /// Mean of Î over the batches (nats).
    pub value: f64,
    /// Standard error over the batches (0 for one batch).
    pub err: f64,
    /// Batches evaluated.
    pub batches: usize,
    /// Pairs per batch; the ceiling of the value is ln K.
    pub k: usize,
}

/// The `infonce` objective on a dataset.
struct NceObjective<'d> {
    nce: Nce,
    cfg: &'d TrainConfig,
    train: &'d Pairs,
    mixed: Mixed,
    heldout: Shuffled,
    train_rule: bool,
    centre: Centre,
}

impl NceObjective<'_> {
    /// Î over `set` with the rule (w, b) and the critic (centred coordinates).
    fn estimate(
        &self,
        w: &[f32],
        b: &[f32],
        critic: &[f32],
        set: (&Mixed, usize),
    ) -> Result<Estimate> {
        let (rows, n) = set;
        let (nv, ne) = (self.train.nv, self.train.ne);
        let k = self.cfg.batch.min(n);
        let batches = n / k.max(1);
        let mut bv = vec![0.0f32; k * nv];
        let mut be = vec![0.0f32; k * ne];
        let mut work = vec![0.0f32; self.nce.workspace_len(k)];
        let params = Params {
            weights: w,
            bias: b,
            critic,
        };
        let mut values = Vec::with_capacity(batches);
        for q in 0..batches {
            rows.v.copy(nv, q * k, &self.centre.v, &mut bv);
            rows.e.copy(ne, q * k, &self.centre.e, &mut be);
            values.push(self.nce.value(Path::F32x8, params, &bv, &be, &mut work)?);
        }
        let (value, err) = mean_err(&values);
        Ok(Estimate {
            value,
            err,
            batches,
            k,
        })
    }
}

impl Objective for NceObjective<'_> {
    type State = Critic;
    fn visible(&self) -> usize {
        self.train.nv
    }
    fn state(&self, rng: &mut Xoshiro256PlusPlus) -> Critic {
        Critic::random(&self.nce, rng)
    }
    fn epoch(
        &self,
        lam: &mut Lambda<'_>,
        w: &mut [f32],
        b: &mut [f32],
        st: &mut Critic,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<f64> {
        let n = self.train.len();
        let (nv, ne) = (self.train.nv, self.train.ne);
        let batch = self.cfg.batch.min(n);
        let order = epoch_order(n, rng);
        let mut bv = vec![0.0f32; batch * nv];
        let mut be = vec![0.0f32; batch * ne];
        let mut work = vec![0.0f32; self.nce.workspace_len(batch)];
        let (mut gw, mut gb) = (vec![0.0f32; w.len()], vec![0.0f32; b.len()]);
        let mut gc = vec![0.0f32; st.x.len()];
        let adam = Adam::new(self.cfg.lr_decoder)?;
        let (mut total, mut count) = (0.0, 0usize);
        for idx in order.chunks(batch) {
            let m = idx.len();
            if m < batch {
                break;
            }
            self.mixed
                .fill(&self.centre, idx, (nv, ne), &mut bv, &mut be);
            let value = self.nce.value_and_gradient(
                Path::F32x8,
                Params {
                    weights: w,
                    bias: b,
                    critic: &st.x,
                },
                &bv,
                &be,
                &mut work,
                Grads {
                    weights: &mut gw,
                    bias: &mut gb,
                    critic: &mut gc,
                },
            )?;
            total += value;
            count += 1;
            if self.train_rule {
                lam.apply(w, b, &mut gw, &gb)?;
            }
            st.t += 1;
            adam.step(st.t, &mut st.x, &gc, &mut st.m, &mut st.v)?;
        }
        Ok(total / count.max(1) as f64)
    }
    fn heldout(&self, w: &[f32], b: &[f32], st: &Critic) -> Result<f64> {
        Ok(self
            .estimate(w, b, &st.x, (&self.heldout.rows, self.heldout.len))?
            .value)
    }
    fn train_value(&self, w: &[f32], b: &[f32], st: &Critic) -> Result<f64> {
        Ok(self
            .estimate(w, b, &st.x, (&self.mixed, self.train.len()))?
            .value)
    }
    fn export_bias(&self, w: &[f32], b: &mut [f32]) {
        let shift = self.centre.shift(w, b.len());
        for (x, s) in b.iter_mut().zip(shift) {
            *x -= s;
        }
    }
}

/// Stream lane (of [`JOB_MIX`]) of the held-out evaluation order.
const HELDOUT_LANE: u64 = 1;

fn objective<'d>(
    cfg: &'d TrainConfig,
    train: &'d Pairs,
    heldout: &'d Pairs,
    train_rule: bool,
    centre_v: bool,
) -> Result<NceObjective<'d>> {
    check_pairs(train, heldout)?;
    if cfg.batch > train.len() {
        bail!(
            "--batch {} is larger than the {} training pairs; InfoNCE needs full batches of K pairs",
            cfg.batch,
            train.len()
        );
    }
    let nce = Nce::new(
        train.nv,
        train.ne,
        cfg.hidden,
        cfg.critic.embed,
        cfg.critic.width,
    )?;
    Ok(NceObjective {
        nce,
        cfg,
        train,
        mixed: Mixed::of(train, cfg.seed),
        heldout: Shuffled {
            rows: Mixed::drawn(heldout, &mut stream(cfg.seed, JOB_MIX, HELDOUT_LANE)),
            len: heldout.len(),
        },
        train_rule,
        centre: Centre::of(train, centre_v),
    })
}

/// The notes of an `infonce` run: the critic and the ceiling.
fn notes(cfg: &TrainConfig, k: usize) -> Value {
    json!({
        "critic": cfg.to_json()["critic"].clone(),
        "batch_k": k,
        "ceiling_ln_k": (k as f64).ln(),
        "evaluation": "mean of the bound over consecutive batches of K pairs of the set in a random order drawn once (stream(seed, JOB_MIX, 1) for the held-out pairs); a last partial batch is left out",
        "centring": if cfg.free_bias {
            "v and e centred on their training means during training; the stored bias absorbs the shift"
        } else {
            "e centred on its training mean; v not centred (bias frozen)"
        },
    })
}

/// Train with the `infonce` estimator.
pub fn train_nce(cfg: &TrainConfig, train: &Pairs, heldout: &Pairs) -> Result<Outcome> {
    let obj = objective(cfg, train, heldout, true, cfg.free_bias)?;
    let k = cfg.batch.min(heldout.len());
    run_all(&obj, cfg, notes(cfg, k))
}

/// The InfoNCE information of a fixed rule: the critic alone is trained on the training
/// pairs (early stopping on held-out), then the bound is evaluated on the held-out pairs.
/// Returns the held-out [`Estimate`], the critic epochs and the notes.
pub fn fixed_rule_nce(
    cfg: &TrainConfig,
    weights: &[f32],
    bias: &[f32],
    train: &Pairs,
    heldout: &Pairs,
) -> Result<(Estimate, usize, Value)> {
    // V centred whatever the bias setting: the rule is fixed and its bias absorbs it.
    let obj = objective(cfg, train, heldout, false, true)?;
    let mut w = weights.to_vec();
    let mut b: Vec<f32> = bias
        .iter()
        .zip(obj.centre.shift(weights, bias.len()))
        .map(|(&x, s)| x + s)
        .collect();
    let (critic, epochs) = fit_fixed_rule(&obj, cfg, &mut w, &mut b)?;
    let est = obj.estimate(&w, &b, &critic.x, (&obj.heldout.rows, obj.heldout.len))?;
    Ok((est, epochs, notes(cfg, est.k)))
}
