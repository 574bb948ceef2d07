//! The RSMI training loop (docs/method.md#training) over the core's estimators:
//!
//! - `im` (E1, "simplest variant"): the rule Λ and a linear softmax decoder q_φ(h|e)
//!   trained jointly by Adam on the Barber–Agakov bound of [`rsmi_core::learn::im`];
//! - `rbm` (E1 / E1s): a Θ-RBM over (v, e) fitted once by persistent CD (early stopping on
//!   the held-out pseudo-likelihood), then Λ by Adam on the Barber–Agakov bound with
//!   Q(v|e) of that RBM, enumerated for |V| ≤ 16 (±1 data) and sampled (block Gibbs with E
//!   clamped, S samples per pair) otherwise;
//! - `exact` (E0): Λ by Adam on the exact I_Λ(H:E) of a joint table P(V, E)
//!   ([`rsmi_core::learn::exact`]).
//!
//! The `im` estimator works on centred inputs (v − μ_V, e − μ_E, training means; V only
//! when the biases are trained), a pure reparametrisation that conditions the 0/1 dimer
//! problem (see `Centre`); stored rules are always in the original coordinates.
//!
//! Every restart starts from λ ~ N(0, σ²) (σ = 0.05), b = 0, a zero decoder, and runs
//! epochs until the held-out estimate improves by less than `tolerance` over `patience`
//! epochs (or `max_epochs`); its parameters are those of its best held-out epoch. After
//! every Adam step each filter's norm is capped (`cap`); weights listed in `fixed_zero`
//! stay exactly 0; the bias is frozen at 0 unless `free_bias` (Z₂-symmetric ±1 data).
//!
//! Restarts run in parallel on the current rayon pool; restart r draws everything from
//! the stream (seed, [`JOB_RESTART`], r), so the results depend on the seed only, never on
//! the thread count, and are returned in restart order.

use crate::progress::Progress;
use anyhow::{Result, bail};
use rayon::prelude::*;
use rsmi_core::learn::adam::{Adam, cap_row_norms};
use rsmi_core::learn::exact;
use rsmi_core::learn::im::{Grads, Im, Params, Path, Sums};
use rsmi_core::learn::rbm::{self, CdStep, Kernel, Negative, RbmShape};
use rsmi_core::learn::rule::Shape;
use rsmi_core::rng::{Rng, Xoshiro256PlusPlus, stream, uniform_below};
use serde_json::{Value, json};

use super::dataset::Pairs;
use super::rule_file::TracePoint;
use crate::io::wire::{Reader, Writer};

/// Stream job of the restarts (lane = restart index).
pub const JOB_RESTART: u64 = 0x7a11_0001;
/// Stream job of the Θ-RBM fit.
pub const JOB_RBM: u64 = 0x7a11_0002;
/// Stream job of the decoder-only fit of `rsmi mi`.
pub const JOB_DECODER: u64 = 0x7a11_0003;
/// Stream job of the one-off random order of the `im` training pairs.
pub const JOB_MIX: u64 = 0x7a11_0004;

pub mod infonce;
pub mod parallel;

/// Rows per run of the `im` minibatches (see [`Mixed`]).
const RUN: usize = 32;

/// Rows per chunk of held-out evaluation.
const EVAL_CHUNK: usize = 8192;

/// Which estimator trains the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Estimator {
    /// Barber–Agakov bound with a jointly trained linear softmax decoder q(h|e).
    Im,
    /// Barber–Agakov bound with Q(v|e) from a CD-trained Θ-RBM.
    Rbm,
    /// Exact I(H:E) from a joint table (1D Ising, or 2D tori with L ≤ 4).
    Exact,
    /// InfoNCE with a separable critic u(h)·g(e), negatives from the batch, exact sum
    /// over H; bounded by ln K (K = the batch size).
    Infonce,
}

impl Estimator {
    /// Name in files.
    pub fn name(self) -> &'static str {
        match self {
            Estimator::Im => "im",
            Estimator::Rbm => "rbm",
            Estimator::Exact => "exact",
            Estimator::Infonce => "infonce",
        }
    }
}

/// Settings of the Θ-RBM of the `rbm` estimator.
#[derive(Debug, Clone, PartialEq)]
pub struct RbmConfig {
    /// Hidden units N_g.
    pub hidden: usize,
    /// CD learning rate η.
    pub lr: f32,
    /// Most CD epochs.
    pub epochs: usize,
    /// Gibbs steps k.
    pub k: usize,
    /// Persistent chains (PCD) instead of CD-k from the data.
    pub persistent: bool,
    /// Most pairs used (for the CD fit and, per split, for the bound).
    pub pairs: usize,
    /// Samples S per pair when Q is sampled.
    pub samples: usize,
}

/// Training settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Hidden units N_h (1 to 8).
    pub hidden: usize,
    /// Independent restarts (≥ 1).
    pub restarts: usize,
    /// Master seed.
    pub seed: u64,
    /// Most epochs per restart.
    pub max_epochs: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Adam learning rate of Λ.
    pub lr_rule: f32,
    /// Adam learning rate of the decoder (im).
    pub lr_decoder: f32,
    /// Early stopping: epochs over which the held-out estimate must improve.
    pub patience: usize,
    /// Early stopping: the improvement (nats) required over `patience` epochs.
    pub tolerance: f64,
    /// Cap on each ‖λ_j‖₂.
    pub cap: f32,
    /// Standard deviation of the initial λ.
    pub init_std: f32,
    /// Train the biases b_j (otherwise frozen at 0).
    pub free_bias: bool,
    /// Visible units whose weights stay at exactly 0 (empty: none).
    pub fixed_zero: Vec<bool>,
    /// (member, members): run only the restarts r with r mod members = member (the rest
    /// run on other MPI ranks); (0, 1) runs them all.
    pub share: (usize, usize),
    /// Θ-RBM settings (rbm only).
    pub rbm: RbmConfig,
    /// Critic settings (infonce only).
    pub critic: CriticConfig,
}

/// The separable critic u(h)·g(e) of the `infonce` estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CriticConfig {
    /// Embedding dimension k of u(h) and g(e).
    pub embed: usize,
    /// Hidden units M of g's one hidden layer (relu); 0 for a linear g.
    pub width: usize,
}

impl TrainConfig {
    /// Check the settings; one sentence per mistake.
    pub fn validate(&self) -> Result<()> {
        if self.hidden == 0 || self.hidden > rsmi_core::learn::rule::MAX_HIDDEN {
            bail!("--hidden must be between 1 and 8 (got {})", self.hidden);
        }
        if self.restarts == 0 {
            bail!("--restarts must be at least 1");
        }
        if self.max_epochs == 0 {
            bail!("--epochs must be at least 1");
        }
        if self.batch == 0 {
            bail!("--batch must be at least 1");
        }
        for (name, lr) in [
            ("--lr", self.lr_rule),
            ("--lr-decoder", self.lr_decoder),
            ("--rbm-lr", self.rbm.lr),
        ] {
            if !(lr.is_finite() && lr > 0.0) {
                bail!("{name} must be a finite number greater than zero (got {lr})");
            }
        }
        if self.patience == 0 {
            bail!("--patience must be at least 1 epoch");
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            bail!("--tolerance must be a finite number ≥ 0");
        }
        if !(self.cap.is_finite() && self.cap > 0.0) {
            bail!("--cap must be a finite number greater than zero");
        }
        if !(self.init_std.is_finite() && self.init_std > 0.0) {
            bail!("--init-std must be a finite number greater than zero");
        }
        if self.rbm.hidden == 0 || self.rbm.epochs == 0 || self.rbm.k == 0 {
            bail!("--rbm-hidden, --rbm-epochs and --rbm-k must be at least 1");
        }
        if self.rbm.pairs == 0 || self.rbm.samples == 0 {
            bail!("--rbm-pairs and --rbm-samples must be at least 1");
        }
        if !(1..=rsmi_core::learn::infonce::critic::MAX_EMBED).contains(&self.critic.embed) {
            bail!(
                "--embed must be between 1 and 64 (got {})",
                self.critic.embed
            );
        }
        if self.critic.width > rsmi_core::learn::infonce::critic::MAX_WIDTH {
            bail!(
                "--critic-width must be between 1 and 256 (got {})",
                self.critic.width
            );
        }
        Ok(())
    }

    /// JSON of every setting.
    pub fn to_json(&self) -> Value {
        json!({
            "hidden": self.hidden,
            "restarts": self.restarts,
            "seed": self.seed,
            "restart_streams": format!("restart r draws from stream(seed, {JOB_RESTART:#x}, r)"),
            "minibatches": format!(
                "im: runs of {RUN} consecutive rows of the training pairs in a random order \
                 drawn once from stream(seed, {JOB_MIX:#x}, 0), the runs reshuffled every epoch"
            ),
            "max_epochs": self.max_epochs,
            "batch": self.batch,
            "lr_rule": self.lr_rule,
            "lr_decoder": self.lr_decoder,
            "optimizer": "Adam (beta1 0.9, beta2 0.999, eps 1e-8), gradient ascent",
            "patience": self.patience,
            "tolerance": self.tolerance,
            "weight_norm_cap": self.cap,
            "init": format!("lambda ~ N(0, {}^2), b = 0, decoder 0", self.init_std),
            "free_bias": self.free_bias,
            "fixed_zero_weights": self.fixed_zero.iter().filter(|&&z| z).count(),
            "rbm": {
                "hidden": self.rbm.hidden, "lr": self.rbm.lr, "epochs": self.rbm.epochs,
                "k": self.rbm.k, "persistent": self.rbm.persistent, "pairs": self.rbm.pairs,
                "samples": self.rbm.samples, "weight_decay": 1e-4, "minibatch": 100,
            },
            "critic": {
                "embed": self.critic.embed,
                "g": if self.critic.width == 0 {
                    "linear".to_string()
                } else {
                    format!("mlp, one relu layer of {}", self.critic.width)
                },
                "u": "a table over the 2^N_h hidden configurations",
                "lr": self.lr_decoder,
            },
        })
    }
}

/// One finished restart.
#[derive(Debug, Clone, PartialEq)]
pub struct Restart {
    /// Weights λ `[hidden][visible]` (best held-out epoch).
    pub weights: Vec<f32>,
    /// Biases.
    pub bias: Vec<f32>,
    /// Estimate on the training pairs with those parameters.
    pub train: f64,
    /// Held-out estimate (the best epoch's).
    pub heldout: f64,
    /// Epochs run.
    pub epochs: usize,
    /// Largest ‖λ_j‖.
    pub weight_norm: f64,
    /// Per-epoch trace.
    pub trace: Vec<TracePoint>,
}

/// All restarts, in restart order, and the best one (largest held-out estimate).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Every restart run here (all of them unless `share` split them).
    pub restarts: Vec<Restart>,
    /// The restart number of each entry of `restarts`.
    pub ids: Vec<usize>,
    /// Index of the best.
    pub best: usize,
    /// Estimator-specific notes (e.g. the Θ-RBM fit).
    pub notes: Value,
}

impl Outcome {
    /// Mean and standard error of the held-out estimates over restarts.
    pub fn mean_err(&self) -> (f64, f64) {
        mean_err(&self.restarts.iter().map(|r| r.heldout).collect::<Vec<_>>())
    }
}

/// Mean and standard error of the mean (0 for one value).
pub fn mean_err(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    if x.len() < 2 {
        return (mean, 0.0);
    }
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// A standard normal draw (Box–Muller).
pub fn gauss(rng: &mut Xoshiro256PlusPlus) -> f64 {
    let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn shuffle(order: &mut [u32], rng: &mut Xoshiro256PlusPlus) {
    for i in (1..order.len()).rev() {
        let j = uniform_below(rng, i as u64 + 1) as usize;
        order.swap(i, j);
    }
}

/// The Λ optimiser: Adam, bias freezing, fixed-zero weights and the norm cap.
struct Lambda<'c> {
    cfg: &'c TrainConfig,
    adam: Adam,
    mw: Vec<f32>,
    vw: Vec<f32>,
    mb: Vec<f32>,
    vb: Vec<f32>,
    t: u32,
}

impl<'c> Lambda<'c> {
    fn new(cfg: &'c TrainConfig, nw: usize) -> Result<Self> {
        Ok(Lambda {
            cfg,
            adam: Adam::new(cfg.lr_rule)?,
            mw: vec![0.0; nw],
            vw: vec![0.0; nw],
            mb: vec![0.0; cfg.hidden],
            vb: vec![0.0; cfg.hidden],
            t: 0,
        })
    }

    fn apply(&mut self, w: &mut [f32], b: &mut [f32], gw: &mut [f32], gb: &[f32]) -> Result<()> {
        self.t += 1;
        mask(&self.cfg.fixed_zero, gw);
        self.adam.step(self.t, w, gw, &mut self.mw, &mut self.vw)?;
        if self.cfg.free_bias {
            self.adam.step(self.t, b, gb, &mut self.mb, &mut self.vb)?;
        }
        mask(&self.cfg.fixed_zero, w);
        cap_row_norms(w, self.cfg.hidden, self.cfg.cap)?;
        Ok(())
    }
}

/// Zero the entries of `w` (rows of |V|) whose visible unit is fixed at 0.
fn mask(fixed: &[bool], w: &mut [f32]) {
    if fixed.is_empty() {
        return;
    }
    for row in w.chunks_exact_mut(fixed.len()) {
        for (x, &z) in row.iter_mut().zip(fixed) {
            if z {
                *x = 0.0;
            }
        }
    }
}

/// Largest ‖λ_j‖.
pub fn weight_norm(w: &[f32], hidden: usize) -> f64 {
    w.chunks_exact(w.len() / hidden)
        .map(|r| r.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt())
        .fold(0.0, f64::max)
}

/// What an estimator provides to the restart driver.
trait Objective {
    /// Per-restart state (e.g. the decoder).
    type State: Clone + Send;
    fn visible(&self) -> usize;
    /// A fresh state; an objective with random initial parameters draws them from
    /// `rng` (the restart's stream, after the initial rule).
    fn state(&self, rng: &mut Xoshiro256PlusPlus) -> Self::State;
    /// One epoch of Λ (and state) updates; returns the mean training estimate.
    fn epoch(
        &self,
        lam: &mut Lambda<'_>,
        w: &mut [f32],
        b: &mut [f32],
        st: &mut Self::State,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<f64>;
    /// Held-out estimate.
    fn heldout(&self, w: &[f32], b: &[f32], st: &Self::State) -> Result<f64>;
    /// Training-set estimate.
    fn train_value(&self, w: &[f32], b: &[f32], st: &Self::State) -> Result<f64>;
    /// Turn the bias of the objective's own parametrisation into the stored one
    /// (identity unless the inputs are centred).
    fn export_bias(&self, _w: &[f32], _b: &mut [f32]) {}
}

/// Early stopping on the held-out estimate: after every epoch, the best value so far; stop
/// when it has improved by less than `tolerance` over the last `patience` epochs.
struct EarlyStop {
    patience: usize,
    tolerance: f64,
    best_upto: Vec<f64>,
}

impl EarlyStop {
    fn new(cfg: &TrainConfig) -> EarlyStop {
        EarlyStop {
            patience: cfg.patience,
            tolerance: cfg.tolerance,
            best_upto: Vec::new(),
        }
    }

    /// Record the best value after this epoch; true when training should stop.
    fn stop(&mut self, best: f64) -> bool {
        self.best_upto.push(best);
        let epoch = self.best_upto.len();
        epoch > self.patience && best - self.best_upto[epoch - 1 - self.patience] < self.tolerance
    }
}

/// The state of `obj` (decoder or critic) fitted with the rule held at (`w`, `b`), in the
/// objective's coordinates: epochs on the training pairs from stream(seed, JOB_DECODER, 0)
/// with early stopping on the held-out estimate, as in training. Returns the state of the
/// best held-out epoch and the number of epochs run (`rsmi mi`).
fn fit_fixed_rule<O: Objective>(
    obj: &O,
    cfg: &TrainConfig,
    w: &mut [f32],
    b: &mut [f32],
) -> Result<(O::State, usize)> {
    let mut rng = stream(cfg.seed, JOB_DECODER, 0);
    let mut st = obj.state(&mut rng);
    let mut lam = Lambda::new(cfg, w.len())?;
    let mut best = (f64::NEG_INFINITY, st.clone());
    let mut early = EarlyStop::new(cfg);
    let mut epochs = 0;
    for epoch in 1..=cfg.max_epochs {
        obj.epoch(&mut lam, w, b, &mut st, &mut rng)?;
        let held = obj.heldout(w, b, &st)?;
        if !held.is_finite() {
            bail!("the held-out estimate became {held} at epoch {epoch}");
        }
        epochs = epoch;
        if held > best.0 {
            best = (held, st.clone());
        }
        if early.stop(best.0) {
            break;
        }
    }
    Ok((best.1, epochs))
}

fn run_restart<O: Objective>(
    obj: &O,
    cfg: &TrainConfig,
    r: usize,
    bar: &Progress,
) -> Result<Restart> {
    let mut rng = stream(cfg.seed, JOB_RESTART, r as u64);
    let nv = obj.visible();
    let mut w: Vec<f32> = (0..cfg.hidden * nv)
        .map(|_| (gauss(&mut rng) * cfg.init_std as f64) as f32)
        .collect();
    mask(&cfg.fixed_zero, &mut w);
    let mut b = vec![0.0f32; cfg.hidden];
    let mut st = obj.state(&mut rng);
    let mut lam = Lambda::new(cfg, w.len())?;
    let mut best = (f64::NEG_INFINITY, w.clone(), b.clone(), st.clone());
    let mut early = EarlyStop::new(cfg);
    let mut trace = Vec::new();
    let mut epochs = 0;
    for epoch in 1..=cfg.max_epochs {
        let train = obj.epoch(&mut lam, &mut w, &mut b, &mut st, &mut rng)?;
        let held = obj.heldout(&w, &b, &st)?;
        if !held.is_finite() {
            bail!("restart {r}: the held-out estimate became {held} at epoch {epoch}");
        }
        epochs = epoch;
        bar.inc(1);
        trace.push(TracePoint {
            epoch,
            train,
            heldout: held,
            weight_norm: weight_norm(&w, cfg.hidden),
        });
        if held > best.0 {
            best = (held, w.clone(), b.clone(), st.clone());
        }
        if early.stop(best.0) {
            break;
        }
    }
    bar.inc((cfg.max_epochs - epochs) as u64);
    let (heldout, w, mut b, st) = best;
    let train = obj.train_value(&w, &b, &st)?;
    obj.export_bias(&w, &mut b);
    Ok(Restart {
        weight_norm: weight_norm(&w, cfg.hidden),
        weights: w,
        bias: b,
        train,
        heldout,
        epochs,
        trace,
    })
}

fn run_all<O: Objective + Sync>(obj: &O, cfg: &TrainConfig, notes: Value) -> Result<Outcome> {
    cfg.validate()?;
    if !cfg.fixed_zero.is_empty() && cfg.fixed_zero.len() != obj.visible() {
        bail!("internal: fixed-zero mask of the wrong length");
    }
    let (member, members) = cfg.share;
    let ids: Vec<usize> = (0..cfg.restarts)
        .filter(|r| r % members.max(1) == member)
        .collect();
    let bar = Progress::with_unit((ids.len() * cfg.max_epochs) as u64, "train ", "epochs");
    let restarts: Vec<Restart> = ids
        .par_iter()
        .map(|&r| run_restart(obj, cfg, r, &bar))
        .collect::<Result<_>>()?;
    bar.finish();
    Ok(Outcome {
        best: best_of(&restarts),
        restarts,
        ids,
        notes,
    })
}

/// Index of the best restart: the largest held-out estimate, the first on ties.
pub fn best_of(restarts: &[Restart]) -> usize {
    let mut best = 0;
    for (i, r) in restarts.iter().enumerate() {
        if r.heldout > restarts[best].heldout {
            best = i;
        }
    }
    best
}

impl Restart {
    /// Exact binary encoding (for MPI messages).
    pub fn encode(&self, w: &mut Writer) {
        w.floats32(&self.weights);
        w.floats32(&self.bias);
        w.floats(&[self.train, self.heldout, self.weight_norm]);
        w.u64(self.epochs as u64);
        w.u64(self.trace.len() as u64);
        for t in &self.trace {
            w.u64(t.epoch as u64);
            w.floats(&[t.train, t.heldout, t.weight_norm]);
        }
    }
    /// Inverse of [`Restart::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Restart> {
        let weights = r.floats32()?;
        let bias = r.floats32()?;
        let v = r.floats()?;
        let [train, heldout, weight_norm] = v[..] else {
            bail!("a restart message is malformed");
        };
        let epochs = r.u64()? as usize;
        let n = r.len(32)?;
        let mut trace = Vec::with_capacity(n);
        for _ in 0..n {
            let epoch = r.u64()? as usize;
            let v = r.floats()?;
            let [train, heldout, weight_norm] = v[..] else {
                bail!("a restart message is malformed");
            };
            trace.push(TracePoint {
                epoch,
                train,
                heldout,
                weight_norm,
            });
        }
        Ok(Restart {
            weights,
            bias,
            train,
            heldout,
            epochs,
            weight_norm,
            trace,
        })
    }
}

// ---------------------------------------------------------------------------------------
// im

/// The training pairs of `im` in a random order, drawn once per run.
///
/// Minibatches are runs of [`RUN`] consecutive rows of this copy, the runs taken in a new
/// random order every epoch: each minibatch is still a random set of pairs, but it is
/// read as runs of a few kB instead of single rows scattered over the whole (tens of MB)
/// pair arrays, which left the training waiting on memory. Spin, link and noise values
/// (all in {−1, 0, 1}) are kept as bytes, a quarter of the memory traffic of `f32`.
struct Mixed {
    v: Rows,
    e: Rows,
}

/// Rows of a [`Mixed`] copy: bytes when every value is −1, 0 or 1, else `f32`.
enum Rows {
    Small(Vec<i8>),
    Full(Vec<f32>),
}

impl Rows {
    fn of(src: &[f32], width: usize, order: &[u32]) -> Rows {
        let rows = order
            .iter()
            .flat_map(|&i| &src[i as usize * width..(i as usize + 1) * width]);
        if src.iter().all(|&x| x == -1.0 || x == 0.0 || x == 1.0) {
            Rows::Small(rows.map(|&x| x as i8).collect())
        } else {
            Rows::Full(rows.copied().collect())
        }
    }

    /// Rows `start..start + dst.len() / width` (rows of `width`) into `dst`, minus the
    /// column means `mu` when `mu` is not empty.
    fn copy(&self, width: usize, start: usize, mu: &[f32], dst: &mut [f32]) {
        let range = start * width..start * width + dst.len();
        match self {
            Rows::Small(x) => {
                for (d, &y) in dst.iter_mut().zip(&x[range]) {
                    *d = y as f32;
                }
            }
            Rows::Full(x) => dst.copy_from_slice(&x[range]),
        }
        Centre::subtract(mu, dst);
    }
}

/// The row order of one epoch over a [`Mixed`] copy of `n` rows: its runs of [`RUN`]
/// rows in a random order.
fn epoch_order(n: usize, rng: &mut Xoshiro256PlusPlus) -> Vec<u32> {
    let mut runs: Vec<u32> = (0..n.div_ceil(RUN) as u32).collect();
    shuffle(&mut runs, rng);
    runs.iter()
        .flat_map(|&r| r as usize * RUN..(r as usize * RUN + RUN).min(n))
        .map(|i| i as u32)
        .collect()
}

impl Mixed {
    fn of(pairs: &Pairs, seed: u64) -> Mixed {
        Mixed::drawn(pairs, &mut stream(seed, JOB_MIX, 0))
    }

    /// The pairs in a random order drawn from `rng`.
    fn drawn(pairs: &Pairs, rng: &mut Xoshiro256PlusPlus) -> Mixed {
        let mut order: Vec<u32> = (0..pairs.len() as u32).collect();
        shuffle(&mut order, rng);
        Mixed {
            v: Rows::of(&pairs.v, pairs.nv, &order),
            e: Rows::of(&pairs.e, pairs.ne, &order),
        }
    }

    /// Rows `idx` (of this copy) into the minibatch buffers `bv`, `be` (rows of
    /// `widths` = (|V|, |E|)), centred by `centre`: one copy per stretch of consecutive
    /// rows (a run, or the part of one that falls in this minibatch).
    fn fill(
        &self,
        centre: &Centre,
        idx: &[u32],
        (nv, ne): (usize, usize),
        bv: &mut [f32],
        be: &mut [f32],
    ) {
        let m = idx.len();
        let mut k = 0;
        while k < m {
            let start = idx[k] as usize;
            let mut len = 1;
            while k + len < m && idx[k + len] as usize == start + len {
                len += 1;
            }
            let out = k..k + len;
            let dv = &mut bv[out.start * nv..out.end * nv];
            self.v.copy(nv, start, &centre.v, dv);
            let de = &mut be[out.start * ne..out.end * ne];
            self.e.copy(ne, start, &centre.e, de);
            k += len;
        }
    }
}

/// The `im` objective on a dataset.
struct ImObjective<'d> {
    im: Im,
    cfg: &'d TrainConfig,
    train: &'d Pairs,
    /// `train` in a random order, for the minibatches.
    mixed: Mixed,
    heldout: &'d Pairs,
    /// Train Λ (false: decoder only, for `rsmi mi`).
    train_rule: bool,
    /// Centring of the inputs (means of the training pairs).
    centre: Centre,
}

/// Input centring of the `im` estimator: a pure reparametrisation.
///
/// The estimator sees v − μ_V and e − μ_E, with μ the means over the training pairs. For
/// the decoder this only moves its biases (d_s absorbs −Σ_m U_sm μ_m; the decoder is never
/// stored). For the rule, a_j = b′_j + Σ_i λ_ji (v_i − μ_i) is the same rule as the stored
/// (λ, b = b′ − Σ_i λ_ji μ_i), so RULE.json keeps its meaning; V is centred only when the
/// biases are trained (with b frozen at 0 the shift could not be absorbed).
///
/// Why: with 0/1 inputs (dimer links, mean ¼; noise bits, mean ½) the uncentred
/// pre-activation carries a large common mode Σ_i λ_ji μ_i that couples every weight to
/// the bias and to the entropy term, and the decoder's inputs share a common offset: the
/// Hessian is badly conditioned and minibatch noise on the common mode dominates the
/// small-λ phase. Centred inputs decouple the mean from the fluctuations (standard
/// practice for logistic models); on ±1 data with spin-flip augmentation μ = 0 exactly
/// and nothing changes.
#[derive(Debug, Clone, Default)]
struct Centre {
    /// μ_V (empty: V not centred).
    v: Vec<f32>,
    /// μ_E (empty: E not centred).
    e: Vec<f32>,
}

impl Centre {
    /// Means of the training pairs; V only when `centre_v`.
    fn of(pairs: &Pairs, centre_v: bool) -> Centre {
        let mean = |x: &[f32], width: usize| -> Vec<f32> {
            let mut s = vec![0.0f64; width];
            for row in x.chunks_exact(width) {
                for (a, &b) in s.iter_mut().zip(row) {
                    *a += b as f64;
                }
            }
            let n = (x.len() / width).max(1) as f64;
            s.iter().map(|&a| (a / n) as f32).collect()
        };
        Centre {
            v: if centre_v {
                mean(&pairs.v, pairs.nv)
            } else {
                Vec::new()
            },
            e: mean(&pairs.e, pairs.ne),
        }
    }

    /// Copy rows `src` into `dst`, subtracting `mu` (nothing when `mu` is empty).
    fn copy(mu: &[f32], src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src);
        Centre::subtract(mu, dst);
    }

    /// Subtract the column means `mu` from every row of `rows` (nothing when empty).
    fn subtract(mu: &[f32], rows: &mut [f32]) {
        if !mu.is_empty() {
            for row in rows.chunks_exact_mut(mu.len()) {
                for (x, &m) in row.iter_mut().zip(mu) {
                    *x -= m;
                }
            }
        }
    }

    /// Σ_i λ_ji μ_i per hidden unit (0 when V is not centred).
    fn shift(&self, w: &[f32], hidden: usize) -> Vec<f32> {
        if self.v.is_empty() {
            return vec![0.0; hidden];
        }
        w.chunks_exact(self.v.len())
            .map(|row| {
                row.iter()
                    .zip(&self.v)
                    .map(|(&l, &m)| l as f64 * m as f64)
                    .sum::<f64>() as f32
            })
            .collect()
    }
}

/// Decoder parameters and their Adam moments.
#[derive(Clone)]
struct Decoder {
    u: Vec<f32>,
    d: Vec<f32>,
    mu: Vec<f32>,
    vu: Vec<f32>,
    md: Vec<f32>,
    vd: Vec<f32>,
    t: u32,
}

impl Decoder {
    /// A zero decoder (and zero Adam moments) for `im`'s shape.
    fn zero(im: &Im) -> Decoder {
        let (nu, nd) = (im.decoder_shape().weights(), im.decoder_shape().states());
        Decoder {
            u: vec![0.0; nu],
            d: vec![0.0; nd],
            mu: vec![0.0; nu],
            vu: vec![0.0; nu],
            md: vec![0.0; nd],
            vd: vec![0.0; nd],
            t: 0,
        }
    }
}

/// Î of `pairs` with the rule (w, b) and decoder (u, d), batched.
pub fn im_value(
    im: &Im,
    w: &[f32],
    b: &[f32],
    u: &[f32],
    d: &[f32],
    pairs: &Pairs,
) -> Result<Sums> {
    im_value_centred(im, w, b, u, d, pairs, &Centre::default())
}

/// [`im_value`] on centred inputs (parameters in the centred coordinates).
fn im_value_centred(
    im: &Im,
    w: &[f32],
    b: &[f32],
    u: &[f32],
    d: &[f32],
    pairs: &Pairs,
    centre: &Centre,
) -> Result<Sums> {
    let mut sums = Sums::default();
    let mut work = vec![0.0f32; im.workspace_len(EVAL_CHUNK)];
    let params = Params {
        weights: w,
        bias: b,
        u,
        d,
    };
    let (mut cv, mut ce) = (Vec::new(), Vec::new());
    for (vc, ec) in pairs
        .v
        .chunks(EVAL_CHUNK * pairs.nv)
        .zip(pairs.e.chunks(EVAL_CHUNK * pairs.ne))
    {
        let n = vc.len() / pairs.nv;
        let vc = if centre.v.is_empty() {
            vc
        } else {
            cv.resize(vc.len(), 0.0);
            Centre::copy(&centre.v, vc, &mut cv);
            &cv[..]
        };
        let ec = if centre.e.is_empty() {
            ec
        } else {
            ce.resize(ec.len(), 0.0);
            Centre::copy(&centre.e, ec, &mut ce);
            &ce[..]
        };
        im.accumulate(
            Path::F32x8,
            params,
            vc,
            ec,
            &mut work[..im.workspace_len(n)],
            &mut sums,
        )?;
    }
    Ok(sums)
}

impl Objective for ImObjective<'_> {
    type State = Decoder;
    fn visible(&self) -> usize {
        self.train.nv
    }
    fn state(&self, _: &mut Xoshiro256PlusPlus) -> Decoder {
        Decoder::zero(&self.im)
    }
    fn epoch(
        &self,
        lam: &mut Lambda<'_>,
        w: &mut [f32],
        b: &mut [f32],
        st: &mut Decoder,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<f64> {
        let n = self.train.len();
        let (nv, ne) = (self.train.nv, self.train.ne);
        let batch = self.cfg.batch.min(n);
        let order = epoch_order(n, rng);
        let mut bv = vec![0.0f32; batch * nv];
        let mut be = vec![0.0f32; batch * ne];
        let mut work = vec![0.0f32; self.im.workspace_len(batch)];
        let (mut gw, mut gb) = (vec![0.0f32; w.len()], vec![0.0f32; b.len()]);
        let (mut gu, mut gd) = (vec![0.0f32; st.u.len()], vec![0.0f32; st.d.len()]);
        let adam_dec = Adam::new(self.cfg.lr_decoder)?;
        let (mut total, mut count) = (0.0, 0usize);
        for idx in order.chunks(batch) {
            let m = idx.len();
            self.mixed
                .fill(&self.centre, idx, (nv, ne), &mut bv, &mut be);
            let value = self.im.value_and_gradient(
                Path::F32x8,
                Params {
                    weights: w,
                    bias: b,
                    u: &st.u,
                    d: &st.d,
                },
                &bv[..m * nv],
                &be[..m * ne],
                &mut work[..self.im.workspace_len(m)],
                Grads {
                    weights: &mut gw,
                    bias: &mut gb,
                    u: &mut gu,
                    d: &mut gd,
                },
            )?;
            total += value * m as f64;
            count += m;
            if self.train_rule {
                lam.apply(w, b, &mut gw, &gb)?;
            }
            st.t += 1;
            adam_dec.step(st.t, &mut st.u, &gu, &mut st.mu, &mut st.vu)?;
            adam_dec.step(st.t, &mut st.d, &gd, &mut st.md, &mut st.vd)?;
        }
        Ok(total / count.max(1) as f64)
    }
    fn heldout(&self, w: &[f32], b: &[f32], st: &Decoder) -> Result<f64> {
        Ok(im_value_centred(&self.im, w, b, &st.u, &st.d, self.heldout, &self.centre)?.value())
    }
    fn train_value(&self, w: &[f32], b: &[f32], st: &Decoder) -> Result<f64> {
        Ok(im_value_centred(&self.im, w, b, &st.u, &st.d, self.train, &self.centre)?.value())
    }
    fn export_bias(&self, w: &[f32], b: &mut [f32]) {
        let shift = self.centre.shift(w, b.len());
        for (x, s) in b.iter_mut().zip(shift) {
            *x -= s;
        }
    }
}

fn check_pairs(train: &Pairs, heldout: &Pairs) -> Result<()> {
    if train.is_empty() || heldout.is_empty() {
        bail!("no training or held-out pairs: the data set is too small for this geometry");
    }
    Ok(())
}

/// Train with the `im` estimator.
pub fn train_im(cfg: &TrainConfig, train: &Pairs, heldout: &Pairs) -> Result<Outcome> {
    check_pairs(train, heldout)?;
    let im = Im::new(train.nv, train.ne, cfg.hidden)?;
    let obj = ImObjective {
        im,
        cfg,
        train,
        mixed: Mixed::of(train, cfg.seed),
        heldout,
        train_rule: true,
        centre: Centre::of(train, cfg.free_bias),
    };
    run_all(
        &obj,
        cfg,
        json!({
            "decoder": "linear softmax q(h|e) over the 2^N_h hidden configurations, trained jointly",
            "centring": if cfg.free_bias {
                "v and e centred on their training means during training; the stored bias absorbs the shift"
            } else {
                "e centred on its training mean (decoder only); v not centred (bias frozen)"
            },
        }),
    )
}

/// The MI of a fixed rule with `im`: the decoder alone is trained on the training pairs
/// (early stopping on held-out as in training); returns (Î on the held-out pairs, its
/// error from the spread over `blocks` groups of held-out samples, epochs).
///
/// The error: the held-out pairs are grouped into `blocks` contiguous groups of samples
/// (pairs of one sample never straddle groups); Î_g is computed per group with the
/// trained decoder, and err = sd(Î_g)/√blocks. The decoder's own training noise is not
/// included.
pub fn fixed_rule_im(
    cfg: &TrainConfig,
    weights: &[f32],
    bias: &[f32],
    train: &Pairs,
    heldout: &Pairs,
    blocks: usize,
) -> Result<(f64, f64, usize)> {
    check_pairs(train, heldout)?;
    let im = Im::new(train.nv, train.ne, cfg.hidden)?;
    // V is centred whatever the bias setting here: the rule is fixed, and its stored bias
    // absorbs the shift exactly.
    let centre = Centre::of(train, true);
    let obj = ImObjective {
        im,
        cfg,
        train,
        mixed: Mixed::of(train, cfg.seed),
        heldout,
        train_rule: false,
        centre,
    };
    let mut w = weights.to_vec();
    let mut b: Vec<f32> = bias
        .iter()
        .zip(obj.centre.shift(weights, bias.len()))
        .map(|(&x, s)| x + s)
        .collect();
    let (st, epochs) = fit_fixed_rule(&obj, cfg, &mut w, &mut b)?;
    let value = obj.heldout(&w, &b, &st)?;
    // Groups of samples.
    let n = heldout.len();
    let blocks = blocks.clamp(2, n.max(2));
    let mut values = Vec::new();
    let mut start = 0;
    for g in 0..blocks {
        let mut end = ((g + 1) * n / blocks).max(start);
        // Do not split the pairs of one sample.
        while end < n && end > 0 && heldout.sample[end] == heldout.sample[end - 1] {
            end += 1;
        }
        if end > start {
            let part = Pairs {
                nv: heldout.nv,
                ne: heldout.ne,
                v: heldout.v[start * heldout.nv..end * heldout.nv].to_vec(),
                e: heldout.e[start * heldout.ne..end * heldout.ne].to_vec(),
                sample: heldout.sample[start..end].to_vec(),
            };
            values.push(im_value_centred(&im, &w, &b, &st.u, &st.d, &part, &obj.centre)?.value());
        }
        start = end;
    }
    let (_, err) = mean_err(&values);
    Ok((value, err, epochs))
}

// ---------------------------------------------------------------------------------------
// exact

/// An exact joint table P(V, E) (module indexing of [`rsmi_core::learn::exact`]).
#[derive(Debug, Clone)]
pub struct JointTable {
    /// |V|.
    pub visible: usize,
    /// Number of environment configurations.
    pub env_states: usize,
    /// The table, 2^|V| · env_states entries.
    pub joint: Vec<f64>,
    /// How it was obtained.
    pub description: String,
}

/// Adam steps per "epoch" of the exact estimator.
pub const EXACT_STEPS_PER_EPOCH: usize = 10;

struct ExactObjective<'d> {
    table: &'d JointTable,
    shape: Shape,
}

impl ExactObjective<'_> {
    fn info(&self, w: &[f32], b: &[f32]) -> Result<f64> {
        let w64: Vec<f64> = w.iter().map(|&x| x as f64).collect();
        let b64: Vec<f64> = b.iter().map(|&x| x as f64).collect();
        Ok(exact::rule_information(
            self.shape,
            &w64,
            &b64,
            self.table.env_states,
            &self.table.joint,
        )?)
    }
}

impl Objective for ExactObjective<'_> {
    type State = ();
    fn visible(&self) -> usize {
        self.shape.visible
    }
    fn state(&self, _: &mut Xoshiro256PlusPlus) {}
    fn epoch(
        &self,
        lam: &mut Lambda<'_>,
        w: &mut [f32],
        b: &mut [f32],
        _: &mut (),
        _: &mut Xoshiro256PlusPlus,
    ) -> Result<f64> {
        let mut value = 0.0;
        for _ in 0..EXACT_STEPS_PER_EPOCH {
            let w64: Vec<f64> = w.iter().map(|&x| x as f64).collect();
            let b64: Vec<f64> = b.iter().map(|&x| x as f64).collect();
            let (mut gw, mut gb) = (vec![0.0f64; w.len()], vec![0.0f64; b.len()]);
            value = exact::rule_information_gradient(
                self.shape,
                &w64,
                &b64,
                self.table.env_states,
                &self.table.joint,
                &mut gw,
                &mut gb,
            )?;
            let mut gw32: Vec<f32> = gw.iter().map(|&x| x as f32).collect();
            let gb32: Vec<f32> = gb.iter().map(|&x| x as f32).collect();
            lam.apply(w, b, &mut gw32, &gb32)?;
        }
        Ok(value)
    }
    fn heldout(&self, w: &[f32], b: &[f32], _: &()) -> Result<f64> {
        self.info(w, b)
    }
    fn train_value(&self, w: &[f32], b: &[f32], _: &()) -> Result<f64> {
        self.info(w, b)
    }
}

/// Train with the exact estimator on a joint table ("train" and "held-out" values are
/// both the exact I_Λ(H:E)).
pub fn train_exact(cfg: &TrainConfig, table: &JointTable) -> Result<Outcome> {
    let shape = Shape::new(table.visible, cfg.hidden)?;
    let obj = ExactObjective { table, shape };
    run_all(
        &obj,
        cfg,
        json!({"joint_table": table.description, "steps_per_epoch": EXACT_STEPS_PER_EPOCH,
               "I_VE": exact::mutual_information(table.visible, table.env_states, &table.joint)?}),
    )
}

// ---------------------------------------------------------------------------------------
// rbm

/// Q(v|e) for a set of pairs: enumerated tables or samples.
enum Conditional {
    /// `q[n · 2^|V| + v]`.
    Table(Vec<f64>),
    /// `samples[(n · S + s) · |V| + i]`, in the data's encoding.
    Sampled(Vec<f64>, usize),
}

/// Pairs with their Q, for the bound.
struct BoundSet {
    /// Visible vectors in the data's encoding (f64).
    v: Vec<f64>,
    q: Conditional,
    n: usize,
}

struct RbmObjective<'d> {
    cfg: &'d TrainConfig,
    shape: Shape,
    train: BoundSet,
    heldout: BoundSet,
}

/// Budget of f64 entries for the Q tables or samples of one split.
const Q_BUDGET: usize = 1 << 24;

impl RbmObjective<'_> {
    fn bound(
        &self,
        set: &BoundSet,
        range: std::ops::Range<usize>,
        w: &[f32],
        b: &[f32],
        gw: &mut [f64],
        gb: &mut [f64],
    ) -> Result<f64> {
        let nv = self.shape.visible;
        let w64: Vec<f64> = w.iter().map(|&x| x as f64).collect();
        let b64: Vec<f64> = b.iter().map(|&x| x as f64).collect();
        let v = &set.v[range.start * nv..range.end * nv];
        Ok(match &set.q {
            Conditional::Table(q) => {
                let ns = 1usize << nv;
                let mut work = vec![0.0f64; rbm::ba_table_work_len(self.shape)?];
                rbm::ba_bound_table(
                    self.shape,
                    &w64,
                    &b64,
                    v,
                    &q[range.start * ns..range.end * ns],
                    &mut work,
                    gw,
                    gb,
                )?
            }
            Conditional::Sampled(s, per) => rbm::ba_bound_sampled(
                self.shape,
                &w64,
                &b64,
                v,
                &s[range.start * per * nv..range.end * per * nv],
                *per,
                gw,
                gb,
            )?,
        })
    }
}

impl Objective for RbmObjective<'_> {
    type State = ();
    fn visible(&self) -> usize {
        self.shape.visible
    }
    fn state(&self, _: &mut Xoshiro256PlusPlus) {}
    fn epoch(
        &self,
        lam: &mut Lambda<'_>,
        w: &mut [f32],
        b: &mut [f32],
        _: &mut (),
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<f64> {
        // Minibatches of consecutive rows of a shuffled copy would need copying Q; the
        // rows are shuffled once per epoch by a random rotation of the start instead,
        // and the pairs were drawn as a random subset in the first place.
        let n = self.train.n;
        let batch = self.cfg.batch.min(n);
        let offset = uniform_below(rng, n as u64) as usize;
        let (mut total, mut count) = (0.0, 0);
        let mut start = offset - offset % batch.max(1);
        let mut done = 0;
        while done < n {
            let s = start % n;
            let e = (s + batch).min(n);
            let (mut gw, mut gb) = (vec![0.0f64; w.len()], vec![0.0f64; b.len()]);
            let value = self.bound(&self.train, s..e, w, b, &mut gw, &mut gb)?;
            let mut gw32: Vec<f32> = gw.iter().map(|&x| x as f32).collect();
            let gb32: Vec<f32> = gb.iter().map(|&x| x as f32).collect();
            lam.apply(w, b, &mut gw32, &gb32)?;
            total += value * (e - s) as f64;
            count += e - s;
            done += e - s;
            start = e;
        }
        Ok(total / count.max(1) as f64)
    }
    fn heldout(&self, w: &[f32], b: &[f32], _: &()) -> Result<f64> {
        let (mut gw, mut gb) = (vec![0.0f64; w.len()], vec![0.0f64; b.len()]);
        self.bound(&self.heldout, 0..self.heldout.n, w, b, &mut gw, &mut gb)
    }
    fn train_value(&self, w: &[f32], b: &[f32], _: &()) -> Result<f64> {
        let (mut gw, mut gb) = (vec![0.0f64; w.len()], vec![0.0f64; b.len()]);
        self.bound(&self.train, 0..self.train.n, w, b, &mut gw, &mut gb)
    }
}

/// 0/1 units of a pair row (spins map to (s + 1)/2).
fn units(pairs: &Pairs, i: usize, spin: bool, out: &mut [f32]) {
    let (nv, ne) = (pairs.nv, pairs.ne);
    let src = pairs.v[i * nv..(i + 1) * nv]
        .iter()
        .chain(&pairs.e[i * ne..(i + 1) * ne]);
    for (o, &x) in out.iter_mut().zip(src) {
        *o = if spin { 0.5 * (x + 1.0) } else { x };
    }
}

/// Fit the Θ-RBM by CD/PCD; returns θ and notes.
fn fit_rbm(
    cfg: &TrainConfig,
    shape: RbmShape,
    train: &Pairs,
    heldout: &Pairs,
    spin: bool,
) -> Result<(Vec<f32>, Value)> {
    let mut rng = stream(cfg.seed, JOB_RBM, 0);
    let units_n = shape.units();
    let mut theta = vec![0.0f32; shape.params()];
    for x in theta[..units_n * shape.hidden].iter_mut() {
        *x = (0.01 * gauss(&mut rng)) as f32;
    }
    let n = train.len().min(cfg.rbm.pairs);
    let nh = heldout.len().min(2000);
    let mut data = vec![0.0f32; n * units_n];
    for (i, row) in data.chunks_exact_mut(units_n).enumerate() {
        units(train, i * train.len() / n, spin, row);
    }
    let mut held = vec![0.0f32; nh * units_n];
    for (i, row) in held.chunks_exact_mut(units_n).enumerate() {
        units(heldout, i * heldout.len() / nh, spin, row);
    }
    const MB: usize = 100;
    let mb = MB.min(n);
    let mut chains = data[..mb * units_n].to_vec();
    let mut work = vec![0.0f32; shape.cd_work_len()];
    let mut pll_work = vec![0.0f64; shape.hidden];
    let step = CdStep {
        k: cfg.rbm.k,
        learning_rate: cfg.rbm.lr,
        weight_decay: 1e-4,
    };
    let pll = |theta: &[f32], work: &mut [f64]| -> Result<f64> {
        let mut s = 0.0;
        for row in held.chunks_exact(units_n) {
            s += rbm::pseudo_log_likelihood(shape, theta, row, work)?;
        }
        Ok(s / nh.max(1) as f64)
    };
    let mut best = (pll(&theta, &mut pll_work)?, theta.clone(), 0usize);
    let mut history = Vec::new();
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut batch = vec![0.0f32; mb * units_n];
    let mut epochs = 0;
    for epoch in 1..=cfg.rbm.epochs {
        shuffle(&mut order, &mut rng);
        for idx in order.chunks_exact(mb) {
            for (k, &i) in idx.iter().enumerate() {
                let i = i as usize;
                batch[k * units_n..(k + 1) * units_n]
                    .copy_from_slice(&data[i * units_n..(i + 1) * units_n]);
            }
            let negative = if cfg.rbm.persistent {
                Negative::Persistent(&mut chains)
            } else {
                Negative::Data
            };
            rbm::cd_update(
                shape,
                &mut theta,
                &batch,
                negative,
                step,
                Kernel::Wide,
                &mut work,
                &mut rng,
            )?;
        }
        epochs = epoch;
        let p = pll(&theta, &mut pll_work)?;
        if !p.is_finite() {
            bail!("the Θ-RBM diverged at epoch {epoch} (pseudo-likelihood {p}); lower --rbm-lr");
        }
        if p > best.0 {
            best = (p, theta.clone(), epoch);
        }
        history.push(best.0);
        if epoch > 5 && best.0 - history[epoch - 6] < 1e-3 {
            break;
        }
    }
    let notes = json!({
        "theta_rbm": {
            "visible": shape.visible, "environment": shape.environment, "hidden": shape.hidden,
            "cd_pairs": n, "epochs": epochs, "best_epoch": best.2,
            "heldout_pseudo_log_likelihood": best.0,
            "early_stopping": "held-out pseudo-log-likelihood improves < 1e-3 over 5 epochs",
        }
    });
    Ok((best.1, notes))
}

/// Q(v|e) for (a subset of) `pairs`.
fn conditionals(
    cfg: &TrainConfig,
    shape: RbmShape,
    theta: &[f32],
    pairs: &Pairs,
    spin: bool,
    lane: u64,
) -> Result<BoundSet> {
    let nv = pairs.nv;
    let table = spin && nv <= exact::MAX_VISIBLE;
    let per = if table {
        1usize << nv
    } else {
        cfg.rbm.samples * nv
    };
    let n = pairs.len().min(cfg.rbm.pairs).min((Q_BUDGET / per).max(1));
    let pick: Vec<usize> = (0..n).map(|i| i * pairs.len() / n).collect();
    let mut v = Vec::with_capacity(n * nv);
    for &i in &pick {
        v.extend(pairs.v[i * nv..(i + 1) * nv].iter().map(|&x| x as f64));
    }
    let ne = pairs.ne;
    let env_units = |i: usize| -> Vec<f32> {
        pairs.e[i * ne..(i + 1) * ne]
            .iter()
            .map(|&x| if spin { 0.5 * (x + 1.0) } else { x })
            .collect()
    };
    let q = if table {
        let mut q = vec![0.0f64; n * per];
        q.par_chunks_mut(per)
            .zip(pick.par_iter())
            .try_for_each(|(row, &i)| -> Result<()> {
                let mut work = vec![0.0f64; shape.hidden];
                rbm::conditional_table(shape, theta, &env_units(i), row, &mut work)?;
                Ok(())
            })?;
        Conditional::Table(q)
    } else {
        let s = cfg.rbm.samples;
        let mut out = vec![0.0f64; n * per];
        out.par_chunks_mut(per)
            .zip(pick.par_iter())
            .enumerate()
            .try_for_each(|(k, (row, &i))| -> Result<()> {
                let mut rng = stream(cfg.seed, JOB_RBM + 1 + lane, k as u64);
                let mut work = vec![0.0f32; shape.sample_work_len()];
                let mut state: Vec<f32> = pairs.v[i * nv..(i + 1) * nv]
                    .iter()
                    .map(|&x| if spin { 0.5 * (x + 1.0) } else { x })
                    .collect();
                rbm::sample_conditional(
                    shape,
                    theta,
                    &env_units(i),
                    &mut state,
                    20,
                    2,
                    row,
                    &mut work,
                    &mut rng,
                )?;
                if !spin {
                    for x in row.iter_mut() {
                        *x = 0.5 * (*x + 1.0);
                    }
                }
                Ok(())
            })?;
        Conditional::Sampled(out, s)
    };
    Ok(BoundSet { v, q, n })
}

/// Train with the `rbm` estimator (`spin`: ±1 data).
pub fn train_rbm(cfg: &TrainConfig, train: &Pairs, heldout: &Pairs, spin: bool) -> Result<Outcome> {
    check_pairs(train, heldout)?;
    cfg.validate()?;
    let shape = RbmShape::new(train.nv, train.ne, cfg.rbm.hidden)?;
    let (theta, mut notes) = fit_rbm(cfg, shape, train, heldout, spin)?;
    let tr = conditionals(cfg, shape, &theta, train, spin, 0)?;
    let he = conditionals(cfg, shape, &theta, heldout, spin, 1)?;
    let kind = match tr.q {
        Conditional::Table(_) => "enumerated Q(v|e) over all 2^|V| blocks".to_string(),
        Conditional::Sampled(_, s) => {
            format!("sampled Q: {s} block-Gibbs samples per pair (E clamped, burn-in 20, thin 2)")
        }
    };
    notes["q"] = json!(kind);
    notes["bound_pairs"] = json!({"train": tr.n, "heldout": he.n});
    let obj = RbmObjective {
        cfg,
        shape: Shape::new(train.nv, cfg.hidden)?,
        train: tr,
        heldout: he,
    };
    run_all(&obj, cfg, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mixed copy holds every training pair once, as bytes for values in {−1, 0, 1}
    /// and as `f32` otherwise, and a copied stretch equals the original rows minus the
    /// column means.
    #[test]
    fn mixed_copy_permutes_rows_and_stores_small_values_as_bytes() {
        let (nv, ne, n) = (3, 5, 100);
        let mut rng = stream(4, 2, 0);
        let v: Vec<f32> = (0..n * nv).map(|i| (i / nv) as f32 * 0.5).collect();
        let e: Vec<f32> = (0..n * ne)
            .map(|_| uniform_below(&mut rng, 3) as f32 - 1.0)
            .collect();
        let pairs = Pairs {
            nv,
            ne,
            v,
            e,
            sample: (0..n as u32).collect(),
        };
        let mixed = Mixed::of(&pairs, 7);
        assert!(matches!(mixed.v, Rows::Full(_)) && matches!(mixed.e, Rows::Small(_)));
        let mut dv = vec![0.0f32; n * nv];
        mixed.v.copy(nv, 0, &[], &mut dv);
        // v encodes the row index: every row appears once, not in the original order.
        let mut rows: Vec<f32> = dv.chunks(nv).map(|r| r[0] * 2.0).collect();
        assert!(rows.iter().zip(0..).any(|(&r, i)| r != i as f32));
        rows.sort_by(f32::total_cmp);
        assert_eq!(rows, (0..n).map(|i| i as f32).collect::<Vec<_>>());
        // A stretch of e, centred, against the rows it came from.
        let mu: Vec<f32> = (0..ne).map(|m| 0.1 * m as f32).collect();
        let mut de = vec![0.0f32; 4 * ne];
        mixed.e.copy(ne, 10, &mu, &mut de);
        for k in 0..4 {
            let i = (dv[(10 + k) * nv] * 2.0) as usize;
            for m in 0..ne {
                assert_eq!(de[k * ne + m], pairs.e[i * ne + m] - mu[m]);
            }
        }
    }

    /// Centring is a pure reparametrisation: Î with (λ, b′) and decoder (U, d′) on centred
    /// inputs equals Î with the exported (λ, b = b′ − λ·μ_V) and (U, d = d′ − U·μ_E) on the
    /// raw inputs.
    #[test]
    fn centring_is_a_reparametrisation() {
        let (nv, ne, hidden, n) = (5, 7, 2, 300);
        let mut rng = stream(9, 1, 0);
        let bit = |rng: &mut Xoshiro256PlusPlus, p: u64| (uniform_below(rng, 4) < p) as u8 as f32;
        let v: Vec<f32> = (0..n * nv).map(|_| bit(&mut rng, 1)).collect();
        let e: Vec<f32> = (0..n * ne).map(|_| bit(&mut rng, 2)).collect();
        let pairs = Pairs {
            nv,
            ne,
            v,
            e,
            sample: (0..n as u32).collect(),
        };
        let centre = Centre::of(&pairs, true);
        assert!((centre.v[0] - 0.25).abs() < 0.08 && (centre.e[0] - 0.5).abs() < 0.1);
        let w: Vec<f32> = (0..hidden * nv).map(|_| gauss(&mut rng) as f32).collect();
        let b_c: Vec<f32> = (0..hidden).map(|_| gauss(&mut rng) as f32).collect();
        let im = Im::new(nv, ne, hidden).unwrap();
        let states = im.decoder_shape().states();
        let u: Vec<f32> = (0..states * ne).map(|_| gauss(&mut rng) as f32).collect();
        let d_c: Vec<f32> = (0..states).map(|_| gauss(&mut rng) as f32).collect();
        let centred = im_value_centred(&im, &w, &b_c, &u, &d_c, &pairs, &centre)
            .unwrap()
            .value();

        let obj = ImObjective {
            im,
            cfg: &TrainConfig {
                hidden,
                restarts: 1,
                seed: 1,
                max_epochs: 1,
                batch: 10,
                lr_rule: 0.01,
                lr_decoder: 0.01,
                patience: 1,
                tolerance: 0.0,
                cap: 10.0,
                init_std: 0.05,
                free_bias: true,
                fixed_zero: Vec::new(),
                share: (0, 1),
                rbm: RbmConfig {
                    hidden: 1,
                    lr: 0.01,
                    epochs: 1,
                    k: 1,
                    persistent: true,
                    pairs: 1,
                    samples: 1,
                },
                critic: CriticConfig {
                    embed: 8,
                    width: 16,
                },
            },
            train: &pairs,
            mixed: Mixed::of(&pairs, 1),
            heldout: &pairs,
            train_rule: true,
            centre: centre.clone(),
        };
        let mut b = b_c.clone();
        obj.export_bias(&w, &mut b);
        let d: Vec<f32> = d_c
            .iter()
            .zip(u.chunks_exact(ne))
            .map(|(&d, row)| d - row.iter().zip(&centre.e).map(|(a, m)| a * m).sum::<f32>())
            .collect();
        let raw = im_value(&im, &w, &b, &u, &d, &pairs).unwrap().value();
        assert!(
            (centred - raw).abs() < 1e-5,
            "centred {centred} vs raw {raw}"
        );
        // The decoder-only fit of a fixed rule maps the stored bias back exactly.
        let back: Vec<f32> = b
            .iter()
            .zip(centre.shift(&w, hidden))
            .map(|(&x, s)| x + s)
            .collect();
        for (x, y) in back.iter().zip(&b_c) {
            assert!((x - y).abs() < 1e-5);
        }
    }
}
