//! `rsmi train`: learn a coarse-graining rule P_Λ(H|V) from a sample file by maximising
//! I(H:E) (docs/method.md#training), written as RULE.json ([`crate::learn::rule_file`]).

use crate::cluster::Team;
use crate::io::atomic::check_output_path;
use crate::io::wire::{Reader, Writer};
use crate::learn::builtin::exact_table;
use crate::learn::dataset::{self, Input, Model, PairConfig, SampleSet};
use crate::learn::rule_file::{
    FORMAT, GeometrySpec, MiSummary, RestartSummary, RuleFile, normalise, write_rule,
};
use crate::learn::train::{self, Estimator, Outcome, RbmConfig, TrainConfig};
use crate::provenance;
use anyhow::{Context, Result, bail};
use rsmi_core::learn::geometry::Block;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Instant;

/// Global spin-flip augmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FlipArg {
    /// On for ±1 spin data, off for dimer data.
    Auto,
    /// Every sample also enters globally flipped (±1 data only).
    On,
    /// No augmentation.
    Off,
}

/// The environment half g(e) of the `infonce` critic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CriticKind {
    /// g(e) = W e.
    Linear,
    /// g(e) = W₂ relu(W₁ e + b₁), one hidden layer of --critic-width units.
    Mlp,
}

/// Critic options of the `infonce` estimator, shared by `rsmi train` and `rsmi mi`.
#[derive(Debug, Clone, clap::Args)]
pub struct CriticArgs {
    /// infonce: the critic's g(e), linear or a one-hidden-layer MLP (the critic is
    /// u(h)·g(e), u a table over the hidden configurations).
    #[arg(long, value_enum, default_value = "mlp")]
    pub critic: CriticKind,
    /// infonce: hidden units of the MLP g(e).
    #[arg(long, default_value_t = 16)]
    pub critic_width: usize,
    /// infonce: embedding dimension k of u(h) and g(e).
    #[arg(long, default_value_t = 8)]
    pub embed: usize,
}

impl Default for CriticArgs {
    /// The command line's defaults: an MLP g of 16 hidden units (RSMI-NE uses 32 with
    /// dropout; without dropout 16 generalises better on 10⁴–10⁵ pairs), k = 8 (as RSMI-NE).
    fn default() -> CriticArgs {
        CriticArgs {
            critic: CriticKind::Mlp,
            critic_width: 16,
            embed: 8,
        }
    }
}

impl CriticArgs {
    /// The critic configuration; one sentence for a zero-width MLP.
    pub fn config(&self) -> Result<train::CriticConfig> {
        let width = match self.critic {
            CriticKind::Linear => 0,
            CriticKind::Mlp => {
                if self.critic_width == 0 {
                    bail!(
                        "--critic-width must be between 1 and 256 (got 0); use --critic linear for a linear g(e)"
                    );
                }
                self.critic_width
            }
        };
        Ok(train::CriticConfig {
            embed: self.embed,
            width,
        })
    }
}

/// Pair-building options shared by `rsmi train` and `rsmi mi`.
#[derive(Debug, Clone, clap::Args)]
pub struct DataArgs {
    /// Sample file (.npz from `rsmi sample`); the model (ising1d, ising2d, dimer) comes from
    /// its meta.
    #[arg(long)]
    pub data: PathBuf,
    /// Dimer data only: V and E are blocks of the 2L×2L decorated array (decorated), or of
    /// the same layout with the noise entries absent (links: zero data, weights fixed at 0)
    /// [default: decorated when the file has it, else links].
    #[arg(long, value_enum)]
    pub input: Option<Input>,
    /// Stride of the block-corner grid [default: the block size].
    #[arg(long)]
    pub stride: Option<usize>,
    /// Fraction of the samples held out (the split is by sample).
    #[arg(long, default_value_t = 0.3, allow_hyphen_values = true)]
    pub heldout: f64,
    /// Most training pairs (a seeded random subset when there are more); held-out pairs
    /// are capped at this × heldout/(1 − heldout).
    #[arg(long, default_value_t = 1 << 18)]
    pub max_pairs: usize,
    /// Global spin-flip augmentation (docs/method.md#training: both magnetisation sectors must
    /// be present): auto = on for ±1 data.
    #[arg(long, value_enum, default_value = "auto")]
    pub flip: FlipArg,
    /// Worker threads [default: all cores]. Does not change the results.
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Arguments of `rsmi train`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
ESTIMATORS: im = Barber-Agakov bound with a linear softmax decoder q(h|e) trained jointly \
with the rule (on inputs centred on their training means, a reparametrisation: the stored \
bias absorbs the shift; V is centred only when the biases are trained); rbm = a Theta-RBM \
over (v, e) fitted first by persistent CD (early stopping on \
the held-out pseudo-likelihood), then the rule on the Barber-Agakov bound with Q(v|e) of that \
RBM (enumerated for |V| <= 16 on +-1 data, S block-Gibbs samples per pair otherwise); exact = \
the exact I(H:E) of ising1d data with a temperature in meta.config (infinite-chain formula, E = \
the two spins next to the buffers; refused when the ring is too short for that to hold to \
1e-9) or of a 2D torus with L <= 4 (enumeration). An exact 'epoch' is 10 Adam steps. infonce = the InfoNCE bound (RSMI-NE's estimator) with a separable critic u(h).g(e) trained jointly with the rule (--critic linear|mlp, --critic-width, --embed; learning rate --lr-decoder), the other pairs of a minibatch of K = --batch pairs as negatives and the sum over H exact; it never exceeds ln K, which is reported with every value (held-out values: mean over batches of K).

DATA: pairs (V, E) come from block corners on a stride grid of every sample; the held-out \
split is by sample; --max-pairs caps the training pairs. Restarts run in parallel; the result \
depends on the seed only, never on --threads. MI values are in nats.")]
pub struct TrainArgs {
    /// Data options.
    #[command(flatten)]
    pub data: DataArgs,
    /// Linear size of the visible block V.
    #[arg(long, default_value_t = 2)]
    pub block: usize,
    /// Buffer width (discarded ring around V).
    #[arg(long, default_value_t = 1)]
    pub buffer: usize,
    /// Environment width (ring around the buffer).
    #[arg(long, default_value_t = 2)]
    pub env: usize,
    /// Hidden units N_h (1 to 8).
    #[arg(long, default_value_t = 1)]
    pub hidden: usize,
    /// Estimator of I(H:E).
    #[arg(long, value_enum, default_value = "im")]
    pub estimator: Estimator,
    /// Independent restarts from random initial rules.
    #[arg(long, default_value_t = 10)]
    pub restarts: usize,
    /// Data-parallel training (`im` only): cut the pairs into D shards, each MPI rank
    /// holding D / P of them, every Adam step using the pairs of all shards (restarts then
    /// run one after another). The result depends on D, never on the number of ranks.
    #[arg(long, value_name = "D")]
    pub data_parallel: Option<usize>,
    /// Master seed (split, subsets, initialisations, minibatch order).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output rule file (.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite an existing output file.
    #[arg(long)]
    pub force: bool,
    /// Most epochs per restart.
    #[arg(long, default_value_t = 200)]
    pub epochs: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Adam learning rate of the rule Λ.
    #[arg(long, default_value_t = 1e-2, allow_hyphen_values = true)]
    pub lr: f32,
    /// Adam learning rate of the im decoder or the infonce critic.
    #[arg(long, default_value_t = 3e-2, allow_hyphen_values = true)]
    pub lr_decoder: f32,
    /// Early stopping: stop when the held-out estimate improved by less than --tolerance
    /// nats over this many epochs.
    #[arg(long, default_value_t = 10)]
    pub patience: usize,
    /// Early stopping threshold (nats).
    #[arg(long, default_value_t = 1e-4, allow_hyphen_values = true)]
    pub tolerance: f64,
    /// Cap on each filter's norm ‖λ_j‖ (the MI optimum sits at |λ| → ∞).
    #[arg(long, default_value_t = 10.0, allow_hyphen_values = true)]
    pub cap: f32,
    /// Standard deviation of the initial weights.
    #[arg(long, default_value_t = 0.05, allow_hyphen_values = true)]
    pub init_std: f32,
    /// Train the hidden biases on ±1 data too (by default frozen at 0 there, by Z₂
    /// symmetry; always trained on 0/1 dimer data).
    #[arg(long)]
    pub free_bias: bool,
    /// Critic options (infonce).
    #[command(flatten)]
    pub critic: CriticArgs,
    /// rbm: hidden units of the Θ-RBM [default: |V| + |E|, at most 256].
    #[arg(long)]
    pub rbm_hidden: Option<usize>,
    /// rbm: CD learning rate.
    #[arg(long, default_value_t = 0.02, allow_hyphen_values = true)]
    pub rbm_lr: f32,
    /// rbm: most CD epochs.
    #[arg(long, default_value_t = 30)]
    pub rbm_epochs: usize,
    /// rbm: Gibbs steps k.
    #[arg(long, default_value_t = 1)]
    pub rbm_k: usize,
    /// rbm: plain CD-k from the data instead of persistent chains.
    #[arg(long)]
    pub rbm_cd: bool,
    /// rbm: most pairs for the CD fit and, per split, for the bound.
    #[arg(long, default_value_t = 1 << 14)]
    pub rbm_pairs: usize,
    /// rbm: samples per pair when Q(v|e) is sampled.
    #[arg(long, default_value_t = 16)]
    pub rbm_samples: usize,
    /// Print one JSON summary object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also draw the learned filters to this PNG.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

impl DataArgs {
    /// The defaults of the command line for `data`.
    pub fn new(data: PathBuf) -> DataArgs {
        DataArgs {
            data,
            input: None,
            stride: None,
            heldout: 0.3,
            max_pairs: 1 << 18,
            flip: FlipArg::Auto,
            threads: None,
        }
    }
}

impl TrainArgs {
    /// The defaults of the command line, training on `data` into `out`.
    pub fn new(data: PathBuf, out: PathBuf) -> TrainArgs {
        TrainArgs {
            data: DataArgs::new(data),
            block: 2,
            buffer: 1,
            env: 2,
            hidden: 1,
            estimator: Estimator::Im,
            restarts: 10,
            data_parallel: None,
            seed: 1,
            out,
            force: false,
            epochs: 200,
            batch: 1000,
            lr: 1e-2,
            lr_decoder: 3e-2,
            patience: 10,
            tolerance: 1e-4,
            cap: 10.0,
            init_std: 0.05,
            free_bias: false,
            critic: CriticArgs::default(),
            rbm_hidden: None,
            rbm_lr: 0.02,
            rbm_epochs: 30,
            rbm_k: 1,
            rbm_cd: false,
            rbm_pairs: 1 << 14,
            rbm_samples: 16,
            json: false,
            plot: None,
        }
    }
}

/// Validate the data options; one sentence per mistake.
pub fn validate_data(d: &DataArgs) -> Result<()> {
    if !(d.heldout.is_finite() && d.heldout > 0.0 && d.heldout < 1.0) {
        bail!(
            "--heldout must be a fraction strictly between 0 and 1 (got {})",
            d.heldout
        );
    }
    if d.max_pairs == 0 {
        bail!("--max-pairs must be at least 1");
    }
    if d.stride == Some(0) {
        bail!("--stride must be at least 1");
    }
    if d.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    Ok(())
}

/// A rayon pool of `threads` (default: all cores).
pub fn pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("could not start the worker threads")
}

/// Build the pair settings for `set`.
pub fn pair_config(
    d: &DataArgs,
    set: &SampleSet,
    geometry: GeometrySpec,
    seed: u64,
) -> Result<PairConfig> {
    let flip = match d.flip {
        FlipArg::Auto => set.is_spin(),
        FlipArg::On => {
            if !set.is_spin() {
                bail!(
                    "--flip on needs ±1 spin data; {} holds dimer samples",
                    set.path.display()
                );
            }
            true
        }
        FlipArg::Off => false,
    };
    Ok(PairConfig {
        geometry,
        stride: d.stride.unwrap_or(geometry.block),
        heldout: d.heldout,
        max_pairs: d.max_pairs,
        flip,
        seed,
    })
}

fn train_config(
    a: &TrainArgs,
    free_bias: bool,
    fixed_zero: Vec<bool>,
    rbm_hidden: usize,
) -> Result<TrainConfig> {
    Ok(TrainConfig {
        hidden: a.hidden,
        restarts: a.restarts,
        seed: a.seed,
        max_epochs: a.epochs,
        batch: a.batch,
        lr_rule: a.lr,
        lr_decoder: a.lr_decoder,
        patience: a.patience,
        tolerance: a.tolerance,
        cap: a.cap,
        init_std: a.init_std,
        free_bias,
        fixed_zero,
        share: (0, 1),
        rbm: RbmConfig {
            hidden: rbm_hidden,
            lr: a.rbm_lr,
            epochs: a.rbm_epochs,
            k: a.rbm_k,
            persistent: !a.rbm_cd,
            pairs: a.rbm_pairs,
            samples: a.rbm_samples,
        },
        critic: a.critic.config()?,
    })
}

/// Draw `rule` to `out` ([`crate::plot::plot_rule`]).
fn plot(rule: &RuleFile, out: &std::path::Path, force: bool) -> Result<()> {
    crate::plot::plot_rule(rule, out, force)
}

/// Whether `--plot` works in this build.
const PLOT_AVAILABLE: bool = true;

/// Run `rsmi train`; returns the JSON summary.
pub fn run(a: &TrainArgs) -> Result<Value> {
    let team = Team::world();
    let started = team.agree(prepare(a, &team))?;
    // Every rank trains its share of the restarts on its own copy of the data.
    let (local, trained) = team.agree(train_share(a, &team))?;
    let outcome = team.agree(collect(&team, local, a.data_parallel.is_some()))?;
    let result = match outcome {
        Some(outcome) => finish(a, &trained, &outcome, started),
        None => Ok(Value::Null),
    };
    team.agree(result)
}

/// Checks before any work (the root also checks the output files).
fn prepare(a: &TrainArgs, team: &Team) -> Result<Instant> {
    let started = Instant::now();
    validate_data(&a.data)?;
    // Settings checks that do not need the data (the masks are filled in later).
    train_config(a, false, Vec::new(), a.rbm_hidden.unwrap_or(1))?.validate()?;
    if a.rbm_hidden == Some(0) {
        bail!("--rbm-hidden must be at least 1");
    }
    if a.block == 0 {
        bail!("--block must be at least 1");
    }
    if a.env == 0 {
        bail!("--env must be at least 1");
    }
    if let Some(p) = &a.plot {
        if !PLOT_AVAILABLE {
            bail!(
                "--plot is not available yet in this build (cannot draw {}); train without it",
                p.display()
            );
        }
        if p == &a.out {
            bail!("--plot and --out name the same file");
        }
    }
    if team.is_root() {
        check_output_path(&a.out, a.force)?;
        if let Some(p) = &a.plot {
            check_output_path(p, a.force)?;
        }
    }
    Ok(started)
}

/// The data and settings a rank trained its restarts with.
struct Trained {
    set: SampleSet,
    spec: GeometrySpec,
    visible: usize,
    cfg: TrainConfig,
    pairs_cfg: PairConfig,
    pairs_json: Value,
    /// Seconds spent reading, extracting pairs and training.
    times: (f64, f64, f64),
}

fn train_share(a: &TrainArgs, team: &Team) -> Result<(Outcome, Trained)> {
    let pool = pool(a.data.threads)?;
    let t0 = Instant::now();
    let set = SampleSet::load(&a.data.data, a.data.input)?;
    let read_s = t0.elapsed().as_secs_f64();
    let spec = GeometrySpec {
        kind: set.geometry_kind(),
        block: a.block,
        buffer: a.buffer,
        env: a.env,
    };
    let pairs_cfg = pair_config(&a.data, &set, spec, a.seed)?;
    let geometry = dataset::check_geometry(&set, &spec, pairs_cfg.stride)?;
    let visible = set.channels * geometry.visible_len();
    let env_units = set.channels * geometry.env_len();
    let fixed = set.fixed_zero(&geometry);
    let free_bias = a.free_bias || !set.is_spin();
    let rbm_hidden = a.rbm_hidden.unwrap_or((visible + env_units).min(256));
    let mut cfg = train_config(a, free_bias, fixed, rbm_hidden)?;
    if let Some(parts) = a.data_parallel {
        return train_data_parallel(a, team, parts, set, spec, visible, cfg, pairs_cfg, read_s);
    }
    cfg.share = (team.rank(), team.size());
    let t1 = Instant::now();
    let (outcome, pairs_json, extract_s) = pool.install(|| -> Result<_> {
        match a.estimator {
            Estimator::Exact => {
                let table = exact_table(&set, &geometry, a.block, a.buffer)?;
                Ok((
                    train::train_exact(&cfg, &table)?,
                    json!({"exact": true}),
                    0.0,
                ))
            }
            est => {
                let ds = dataset::build(&set, &pairs_cfg)?;
                let extract_s = t1.elapsed().as_secs_f64();
                let pj = json!({
                    "train": ds.train.len(), "heldout": ds.heldout.len(),
                    "train_samples": ds.train_samples, "heldout_samples": ds.heldout_samples,
                    "available": {"train": ds.available.0, "heldout": ds.available.1},
                });
                let o = match est {
                    Estimator::Im => train::train_im(&cfg, &ds.train, &ds.heldout)?,
                    Estimator::Infonce => train::infonce::train_nce(&cfg, &ds.train, &ds.heldout)?,
                    _ => train::train_rbm(&cfg, &ds.train, &ds.heldout, set.is_spin())?,
                };
                Ok((o, pj, extract_s))
            }
        }
    })?;
    let train_s = t1.elapsed().as_secs_f64() - extract_s;
    cfg.share = (0, 1);
    Ok((
        outcome,
        Trained {
            set,
            spec,
            visible,
            cfg,
            pairs_cfg,
            pairs_json,
            times: (read_s, extract_s, train_s),
        },
    ))
}

/// `rsmi train --data-parallel D`: this rank's shards (d ≡ rank mod P), trained together
/// with the other ranks' (see [`train::parallel`]).
#[allow(clippy::too_many_arguments)]
fn train_data_parallel(
    a: &TrainArgs,
    team: &Team,
    parts: usize,
    set: SampleSet,
    spec: GeometrySpec,
    visible: usize,
    cfg: TrainConfig,
    pairs_cfg: PairConfig,
    read_s: f64,
) -> Result<(Outcome, Trained)> {
    let (rank, ranks) = if team.is_mpi() {
        (team.rank(), team.size())
    } else {
        (0, 1)
    };
    if a.estimator != Estimator::Im {
        bail!("--data-parallel works with --estimator im only");
    }
    if !(1..=4096).contains(&parts) {
        bail!("--data-parallel must be between 1 and 4096 shards (got {parts})");
    }
    if parts < ranks {
        bail!(
            "--data-parallel {parts} gives fewer shards than the {ranks} MPI ranks; use at least {ranks}"
        );
    }
    let t1 = Instant::now();
    let mut shards = Vec::new();
    let mut available = (0, 0);
    let mut samples = (0, 0);
    for d in (0..parts).filter(|d| d % ranks == rank) {
        let ds = dataset::build_part(&set, &pairs_cfg, (d, parts))?;
        available = ds.available;
        samples = (ds.train_samples, ds.heldout_samples);
        shards.push(train::parallel::Shard {
            index: d,
            train: ds.train,
            heldout: ds.heldout,
        });
    }
    let own_train: usize = shards.iter().map(|s| s.train.len()).sum();
    let own_held: usize = shards.iter().map(|s| s.heldout.len()).sum();
    let n_train = team.sum(own_train as u64) as usize;
    let n_held = team.sum(own_held as u64) as usize;
    if n_train == 0 || n_held == 0 {
        bail!("no training or held-out pairs: the data set is too small for this geometry");
    }
    let sizes: Vec<usize> = (0..parts)
        .map(|d| dataset::part_range(n_train, d, parts).len())
        .collect();
    let extract_s = t1.elapsed().as_secs_f64();
    let pairs_json = json!({
        "train": n_train, "heldout": n_held,
        "train_samples": samples.0, "heldout_samples": samples.1,
        "available": {"train": available.0, "heldout": available.1},
        "data_parallel_shards": parts,
    });
    let outcome = train::parallel::train_im_parallel(&cfg, team, shards, sizes)?;
    let train_s = t1.elapsed().as_secs_f64() - extract_s;
    Ok((
        outcome,
        Trained {
            set,
            spec,
            visible,
            cfg,
            pairs_cfg,
            pairs_json,
            times: (read_s, extract_s, train_s),
        },
    ))
}

/// Every rank's restarts on the root, in restart order (`None` on the other ranks). With
/// `--data-parallel` every rank already holds every restart.
fn collect(team: &Team, local: Outcome, data_parallel: bool) -> Result<Option<Outcome>> {
    if !team.is_mpi() {
        return Ok(Some(local));
    }
    if data_parallel {
        return Ok(team.is_root().then_some(local));
    }
    let mut w = Writer::new();
    for (id, r) in local.ids.iter().zip(&local.restarts) {
        w.u64(*id as u64);
        r.encode(&mut w);
    }
    let Some(parts) = team.gather(w.buf) else {
        return Ok(None);
    };
    let mut all: Vec<(usize, train::Restart)> = Vec::new();
    for p in &parts {
        let mut r = Reader::new(p, 0);
        while !r.at_end() {
            let id = r.u64()? as usize;
            all.push((id, train::Restart::decode(&mut r)?));
        }
    }
    all.sort_by_key(|x| x.0);
    let (ids, restarts): (Vec<usize>, Vec<train::Restart>) = all.into_iter().unzip();
    Ok(Some(Outcome {
        best: train::best_of(&restarts),
        restarts,
        ids,
        notes: local.notes,
    }))
}

/// The root's part: the rule file, the figure and the summary.
fn finish(a: &TrainArgs, t: &Trained, outcome: &Outcome, started: Instant) -> Result<Value> {
    let (set, spec, visible, cfg, pairs_cfg) = (&t.set, t.spec, t.visible, &t.cfg, &t.pairs_cfg);
    let (pairs_json, (read_s, extract_s, train_s)) = (&t.pairs_json, t.times);
    let rule = assemble(
        a,
        set,
        spec,
        visible,
        cfg,
        pairs_cfg,
        outcome,
        pairs_json.clone(),
    )?;
    write_rule(&a.out, a.force, &rule)?;
    if let Some(p) = &a.plot {
        plot(&rule, p, a.force)?;
    }
    let (mean, err) = outcome.mean_err();
    let best = &outcome.restarts[outcome.best];
    let summary = json!({
        "out": a.out.display().to_string(),
        "model": set.model.name(),
        "estimator": a.estimator.name(),
        "geometry": spec,
        "hidden": a.hidden,
        "mi": {"unit": "nats", "best": best.heldout, "mean": mean, "err": err,
               "best_restart": outcome.best,
               "ceiling_ln_k": outcome.notes.get("ceiling_ln_k").cloned().unwrap_or(Value::Null)},
        "weights": rule.weights,
        "bias": rule.bias,
        "pairs": pairs_json,
        "timing": {"read_s": read_s, "pairs_s": extract_s, "train_s": train_s,
                   "total_s": started.elapsed().as_secs_f64()},
        "ranks": world_size(),
    });
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(summary)
}

fn world_size() -> usize {
    crate::cluster::world_rank_size().1
}

fn to_rows(w: &[f32], visible: usize) -> Vec<Vec<f64>> {
    w.chunks_exact(visible)
        .map(|r| r.iter().map(|&x| x as f64).collect())
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    a: &TrainArgs,
    set: &SampleSet,
    spec: GeometrySpec,
    visible: usize,
    cfg: &TrainConfig,
    pairs: &PairConfig,
    outcome: &Outcome,
    pairs_json: Value,
) -> Result<RuleFile> {
    let best = &outcome.restarts[outcome.best];
    let weights = to_rows(&best.weights, visible);
    let (mean, err) = outcome.mean_err();
    let restarts = outcome
        .restarts
        .iter()
        .enumerate()
        .map(|(i, r)| RestartSummary {
            restart: i,
            seed: a.seed,
            train: r.train,
            heldout: r.heldout,
            epochs: r.epochs,
            weight_norm: r.weight_norm,
            weights: to_rows(&r.weights, visible),
            bias: r.bias.iter().map(|&x| x as f64).collect(),
        })
        .collect();
    let mut config = cfg.to_json();
    if let Some(o) = config.as_object_mut() {
        o.insert("estimator".into(), json!(a.estimator.name()));
        o.insert("geometry".into(), json!(spec));
        o.insert("pairs".into(), pairs.to_json());
        o.insert("pair_counts".into(), pairs_json);
        o.insert("notes".into(), outcome.notes.clone());
        if set.model == Model::Dimer {
            o.insert("input".into(), json!(set.input.name()));
        }
    }
    Ok(RuleFile {
        format: FORMAT.into(),
        model: set.model.name().into(),
        input: set.input.name().into(),
        channels: set.channels,
        geometry: spec,
        hidden: a.hidden,
        visible,
        estimator: a.estimator.name().into(),
        filters: normalise(&weights),
        weights,
        bias: best.bias.iter().map(|&x| x as f64).collect(),
        mi: Some(MiSummary {
            unit: "nats".into(),
            train: best.train,
            heldout: best.heldout,
            best_restart: outcome.best,
            mean,
            err,
            restarts,
        }),
        trace: best.trace.clone(),
        config,
        data: set.describe(),
        provenance: provenance::build_info(),
    })
}
