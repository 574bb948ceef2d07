//! `rsmi mi`: the information I(H:E) kept by a given rule (a learned RULE.json, or the
//! built-in `majority` / `decimation`), to compare a learned rule with Kadanoff's block
//! spin and with decimation on the same data.

use super::train::{CriticArgs, DataArgs, pair_config, pool, validate_data};
use crate::learn::builtin::{Builtin, exact_table};
use crate::learn::dataset::{self, SampleSet};
use crate::learn::rule_file::{GeometrySpec, RuleFile, read_rule};
use crate::learn::train::{self, Estimator, RbmConfig, TrainConfig};
use anyhow::{Result, bail};
use rsmi_core::learn::exact;
use rsmi_core::learn::geometry::Block;
use serde_json::{Value, json};

/// Arguments of `rsmi mi`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
RULES: a RULE.json from `rsmi train` (its geometry is used; --block/--buffer/--env, if given, \
must agree), or `majority` (h = sign of the block sum, ties split 50/50: Kadanoff's block \
spin) or `decimation` (h = the block's first spin), both for +-1 data.

ESTIMATORS: im = the rule is fixed and only the linear softmax decoder q(h|e) is trained on \
the training split (early stopping on held-out); the value is the Barber-Agakov bound on the \
held-out pairs, and err = sd/sqrt(G) of the values on G (--groups) groups of held-out samples \
(the pairs of one sample stay in one group; the decoder's own training noise is not \
included). exact = the exact I(H:E) (ising1d data with a temperature, or 2D tori with \
L <= 4), err = 0. infonce = the rule is fixed and only the critic u(h).g(e) is trained; the \
value is the mean of the InfoNCE bound over batches of K = --batch held-out pairs (in a random \
order drawn once), err = the standard error over those batches, and ceiling_ln_k = ln K, the \
most the bound can give. Values in nats.")]
pub struct MiArgs {
    /// Data options.
    #[command(flatten)]
    pub data: DataArgs,
    /// The rule: a RULE.json file, `majority` or `decimation`.
    #[arg(long)]
    pub rule: String,
    /// Block size (built-in rules; default 2) — must agree with a RULE.json if given.
    #[arg(long)]
    pub block: Option<usize>,
    /// Buffer width (built-in rules; default 1).
    #[arg(long)]
    pub buffer: Option<usize>,
    /// Environment width (built-in rules; default 2).
    #[arg(long)]
    pub env: Option<usize>,
    /// Estimator: im, infonce or exact.
    #[arg(long, value_enum, default_value = "im")]
    pub estimator: Estimator,
    /// Critic options (infonce).
    #[command(flatten)]
    pub critic: CriticArgs,
    /// Seed of the split, the subsets and the decoder's minibatch order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Most decoder epochs.
    #[arg(long, default_value_t = 200)]
    pub epochs: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Adam learning rate of the decoder (im) or the critic (infonce).
    #[arg(long, default_value_t = 3e-2, allow_hyphen_values = true)]
    pub lr_decoder: f32,
    /// Early stopping window (epochs).
    #[arg(long, default_value_t = 10)]
    pub patience: usize,
    /// Early stopping threshold (nats).
    #[arg(long, default_value_t = 1e-4, allow_hyphen_values = true)]
    pub tolerance: f64,
    /// Groups of held-out samples for the error bar.
    #[arg(long, default_value_t = 20)]
    pub groups: usize,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print nothing (library callers such as `rsmi flow`).
    #[arg(skip)]
    pub quiet: bool,
}

impl MiArgs {
    /// The defaults of the command line for `rule` on `data`.
    pub fn new(data: std::path::PathBuf, rule: &str) -> MiArgs {
        MiArgs {
            data: DataArgs::new(data),
            rule: rule.to_string(),
            block: None,
            buffer: None,
            env: None,
            estimator: Estimator::Im,
            critic: CriticArgs::default(),
            seed: 1,
            epochs: 200,
            batch: 1000,
            lr_decoder: 3e-2,
            patience: 10,
            tolerance: 1e-4,
            groups: 20,
            json: false,
            quiet: false,
        }
    }
}

/// The rule to evaluate.
enum Given {
    Builtin(Builtin),
    File(Box<RuleFile>),
}

/// Run `rsmi mi`; returns the JSON result.
pub fn run(a: &MiArgs) -> Result<Value> {
    evaluate(a, None)
}

/// `rsmi mi` with the rule given in memory (`a.rule` then only names it): a RULE.json's
/// weights applied with the buffer and environment of `a` where given (`rsmi scan`).
pub fn evaluate(a: &MiArgs, rule: Option<RuleFile>) -> Result<Value> {
    validate_data(&a.data)?;
    if a.estimator == Estimator::Rbm {
        bail!("rsmi mi supports --estimator im, infonce or exact");
    }
    if a.groups < 2 {
        bail!("--groups must be at least 2");
    }
    let given = match rule {
        Some(mut r) => {
            r.geometry.buffer = a.buffer.unwrap_or(r.geometry.buffer);
            r.geometry.env = a.env.unwrap_or(r.geometry.env);
            Given::File(Box::new(r))
        }
        None => {
            Builtin::check_spec(&a.rule)?;
            match Builtin::parse(&a.rule) {
                Some(b) => Given::Builtin(b),
                None => Given::File(Box::new(read_rule(std::path::Path::new(&a.rule))?)),
            }
        }
    };
    let mut set = SampleSet::load(&a.data.data, a.data.input)?;
    if let (Given::File(r), None) = (&given, a.data.input) {
        // Dimer data: read them the way the rule was trained, unless --input says otherwise.
        if set.model == dataset::Model::Dimer && r.model == "dimer" && r.input != set.input.name() {
            let input = if r.input == "links" {
                dataset::Input::Links
            } else {
                dataset::Input::Decorated
            };
            set = SampleSet::load(&a.data.data, Some(input))?;
        }
    }
    let (spec, hidden, weights, bias, name) = match &given {
        Given::Builtin(b) => {
            if !set.is_spin() {
                bail!(
                    "the built-in rule {} is defined for ±1 spin data, and {} holds dimer samples",
                    b.name(),
                    set.path.display()
                );
            }
            let spec = GeometrySpec {
                kind: set.geometry_kind(),
                block: a.block.unwrap_or(2),
                buffer: a.buffer.unwrap_or(1),
                env: a.env.unwrap_or(2),
            };
            let visible = set.channels * spec.block_sites();
            (
                spec,
                1,
                b.weights(visible),
                vec![0.0f32],
                b.name().to_string(),
            )
        }
        Given::File(r) => {
            check_rule_fits(r, &set, a)?;
            (
                r.geometry,
                r.hidden,
                r.flat_weights().iter().map(|&x| x as f32).collect(),
                r.bias.iter().map(|&x| x as f32).collect(),
                a.rule.clone(),
            )
        }
    };
    if spec.block == 0 {
        bail!("--block must be at least 1");
    }
    if spec.env == 0 {
        bail!("--env must be at least 1");
    }
    let pairs_cfg = pair_config(&a.data, &set, spec, a.seed)?;
    let geometry = dataset::check_geometry(&set, &spec, pairs_cfg.stride)?;
    let cfg = TrainConfig {
        hidden,
        restarts: 1,
        seed: a.seed,
        max_epochs: a.epochs,
        batch: a.batch,
        lr_rule: 1e-2,
        lr_decoder: a.lr_decoder,
        patience: a.patience,
        tolerance: a.tolerance,
        cap: f32::MAX,
        init_std: 0.05,
        free_bias: false,
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
        critic: a.critic.config()?,
    };
    cfg.validate()?;
    let pool = pool(a.data.threads)?;
    let (value, err, extra) = pool.install(|| -> Result<(f64, f64, Value)> {
        match a.estimator {
            Estimator::Exact => {
                let table = exact_table(&set, &geometry, spec.block, spec.buffer)?;
                let v = match &given {
                    Given::Builtin(b) => exact::channel_information(
                        table.visible,
                        table.env_states,
                        &table.joint,
                        2,
                        &b.channel(table.visible)?,
                    )?,
                    Given::File(r) => exact::rule_information(
                        rsmi_core::learn::rule::Shape::new(table.visible, r.hidden)?,
                        &r.flat_weights(),
                        &r.bias,
                        table.env_states,
                        &table.joint,
                    )?,
                };
                Ok((v, 0.0, json!({"joint_table": table.description})))
            }
            Estimator::Infonce => {
                let ds = dataset::build(&set, &pairs_cfg)?;
                let (est, epochs, notes) =
                    train::infonce::fixed_rule_nce(&cfg, &weights, &bias, &ds.train, &ds.heldout)?;
                Ok((
                    est.value,
                    est.err,
                    json!({"train_pairs": ds.train.len(), "heldout_pairs": ds.heldout.len(),
                           "critic_epochs": epochs, "heldout_batches": est.batches,
                           "infonce": notes}),
                ))
            }
            _ => {
                let ds = dataset::build(&set, &pairs_cfg)?;
                let (v, e, epochs) =
                    train::fixed_rule_im(&cfg, &weights, &bias, &ds.train, &ds.heldout, a.groups)?;
                Ok((
                    v,
                    e,
                    json!({"train_pairs": ds.train.len(), "heldout_pairs": ds.heldout.len(),
                           "decoder_epochs": epochs}),
                ))
            }
        }
    })?;
    debug_assert_eq!(
        geometry.visible_len() * set.channels,
        weights.len() / hidden
    );
    let ceiling = extra
        .pointer("/infonce/ceiling_ln_k")
        .cloned()
        .unwrap_or(Value::Null);
    let out = json!({
        "rule": name,
        "estimator": a.estimator.name(),
        "mi": {"value": value, "err": err, "unit": "nats", "ceiling_ln_k": ceiling},
        "geometry": spec,
        "data": a.data.data.display().to_string(),
        "details": extra,
    });
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else if !a.quiet {
        let bound = match ceiling.as_f64() {
            Some(c) => format!(", ceiling ln K = {c:.4}"),
            None => String::new(),
        };
        println!(
            "I(H:E) of {} = {value:.6} ± {err:.6} nats ({}{bound})",
            out["rule"].as_str().unwrap_or(""),
            a.estimator.name()
        );
    }
    Ok(out)
}

/// A RULE.json must fit the data: model, input, channels, geometry flags.
fn check_rule_fits(r: &RuleFile, set: &SampleSet, a: &MiArgs) -> Result<()> {
    if r.model != set.model.name() {
        bail!(
            "the rule {} was trained on {} data and cannot be used on {} data ({})",
            a.rule,
            r.model,
            set.model.name(),
            set.path.display()
        );
    }
    if r.input != set.input.name() {
        bail!(
            "the rule {} reads {} input but the data give {}",
            a.rule,
            r.input,
            set.input.name()
        );
    }
    if r.channels != set.channels {
        bail!(
            "the rule {} reads {} channel(s) per site but the data have {}",
            a.rule,
            r.channels,
            set.channels
        );
    }
    for (flag, given, have) in [
        ("--block", a.block, r.geometry.block),
        ("--buffer", a.buffer, r.geometry.buffer),
        ("--env", a.env, r.geometry.env),
    ] {
        if let Some(g) = given {
            if g != have {
                bail!("{flag} {g} disagrees with the rule file's geometry ({flag} {have})");
            }
        }
    }
    Ok(())
}
