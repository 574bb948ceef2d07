//! `rsmi scan`: the information I(H:E) a rule keeps against the buffer width L_B, and
//! which decay fits it: exponential (gapped phases) or algebraic (critical points).
//!
//! For every width of `--buffer`, I(H:E) is measured as `rsmi mi` does (held-out groups
//! give the error bar) for a fixed rule (majority, decimation or a RULE.json's weights,
//! applied with that buffer) or for a rule learned at that width (`--rule learn`). The
//! decays are fitted against the distance d = L_B + 1 between the nearest sites of V and E:
//!
//! ```text
//! exponential: I = A e^{−d/ξ}      (ln I linear in d)
//! algebraic:   I = A d^{−η}        (ln I linear in ln d)
//! ```
//!
//! by weighted least squares on ln I (σ_lnI = σ_I / I), over the same points for both: the
//! widths where I exceeds twice its error. Both models have two parameters, so their χ²
//! compare directly; the better fit is the one with the smaller χ², and the JSON gives the
//! ratio of the two as the margin.
//!
//! With `--temperatures a.npz,b.npz,…` (instead of `--data`) it scans the temperature at one
//! buffer width (the A6 experiment, PRE-style): for every file (2D Ising, one lattice size,
//! the temperature read from `meta.config.temperature`) it learns a one-hidden-unit rule on
//! an L_V × L_V block (L_V ≥ 4) and reports the held-out I(H:E), the ratio of the mean |λ|
//! on the block's outer ring to the mean |λ| inside it, and the boundaryness
//! B = |Σ_∂ λ_i| / |Σ_bulk λ_i| (Gökmen et al., PRE 104, 064106, Eq. 19; bulk = the sites
//! inside the ring), each with a jackknife error over the training restarts (see
//! [`filter_stats`]), and the temperature where B peaks.

use super::mi::{self, MiArgs};
use super::train::{self, CriticArgs, DataArgs, TrainArgs};
use crate::learn::rule_file::read_rule;
use crate::learn::train::Estimator;
use crate::plot::flow::{Guide, Series, xy_scene};
use crate::plot::scene::{Scene, Shape};
use crate::plot::write_scene;
use crate::provenance;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::PathBuf;

/// The value of `--data` when it is not given (a temperature scan): a NUL byte, which no
/// path can hold, so that `DataArgs` (where `--data` is required) can be flattened as is.
const NO_DATA: &str = "\0";

/// Arguments of `rsmi scan`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Prints (with --json, one object) {\"points\": [{\"buffer\": L_B, \"distance\": L_B + 1, \"mi\": \
{\"value\", \"err\"}}, ...], \"fits\": {\"exponential\": {...}, \"algebraic\": {...}, \"best\": \
\"exponential\"|\"algebraic\"|null, \"margin\": chi2_worse / chi2_better}, ...}. MI in nats.

Example: I(H:E) of the 4x4 block majority rule at L_B = 0..6:
  rsmi scan --data tc.npz --rule majority --block 4 --buffer 0..6 --env 4 --json --plot scan.png

TEMPERATURE SCAN (--temperatures FILES instead of --data; --rule learn, --hidden 1, one \
--buffer width, --block >= 4): for every 2D Ising file (one lattice size; T from \
meta.config.temperature) a one-hidden-unit rule is learned and the JSON (format rsmi-tscan-1) \
gives per temperature {\"temperature\", \"mi\": {\"value\", \"err\"}, \"ratio\": {\"value\", \"err\"}, \
\"boundaryness\": {\"value\", \"err\"}, ...}: ratio = mean |lambda| on the block's outer ring / \
mean |lambda| inside it, boundaryness = |sum_ring lambda| / |sum_inside lambda| (PRE 104, \
064106), both of the restart-averaged filter with jackknife errors over the restarts; and \
\"peak\": the temperature of the largest boundaryness.

Example: the boundaryness of 4x4 filters from T = 1.8 to 3.2:
  rsmi scan --temperatures T1.8.npz,T2.269.npz,T2.8.npz --rule learn --block 4 --buffer 2 \
--env 6 --json --plot tscan.svg")]
#[command(mut_arg("data", |a| a
    .required(false)
    .default_value(NO_DATA)
    .hide_default_value(true)
    .help("Sample file (.npz from `rsmi sample`) of a buffer scan; --temperatures replaces it")))]
pub struct ScanArgs {
    /// Data options (as for `rsmi mi`).
    #[command(flatten)]
    pub data: DataArgs,
    /// Temperature scan: sample files of one model and lattice size at different
    /// temperatures (comma-separated), instead of --data.
    #[arg(long, value_delimiter = ',', num_args = 1.., conflicts_with = "data")]
    pub temperatures: Vec<PathBuf>,
    /// The rule: majority, decimation, a RULE.json (its weights, applied at every width)
    /// or `learn` (a rule trained at every width with `rsmi train`'s defaults).
    #[arg(long)]
    pub rule: String,
    /// Linear size L_V of the block.
    #[arg(long, default_value_t = 2)]
    pub block: usize,
    /// Buffer widths: `A..B` (A to B inclusive) or a comma-separated list; one width with
    /// --temperatures.
    #[arg(long)]
    pub buffer: String,
    /// Environment width L_E.
    #[arg(long, default_value_t = 2)]
    pub env: usize,
    /// Hidden units of learned rules (`--rule learn`).
    #[arg(long, default_value_t = 1)]
    pub hidden: usize,
    /// Restarts of learned rules (`--rule learn`).
    #[arg(long, default_value_t = 4)]
    pub restarts: usize,
    /// Seed of the pair split, the decoder and the training.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Groups of held-out samples for the error bars (im).
    #[arg(long, default_value_t = 10)]
    pub groups: usize,
    /// Estimator of I(H:E) at every width, and of the training with `--rule learn`: im or
    /// infonce (its values never exceed ln --batch).
    #[arg(long, value_enum, default_value = "im")]
    pub estimator: Estimator,
    /// Minibatch size of the decoder, critic or rule training.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Critic options (infonce).
    #[command(flatten)]
    pub critic: CriticArgs,
    /// Draw I against L_B on log-lin and log-log axes, with the fits (PNG or SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Overwrite an existing figure.
    #[arg(long)]
    pub force: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The estimator settings of the scan onto a `train` or `mi` argument set.
fn estimator_options(
    a: &ScanArgs,
    est: &mut Estimator,
    batch: &mut usize,
    critic: &mut CriticArgs,
) {
    *est = a.estimator;
    *batch = a.batch;
    *critic = a.critic.clone();
}

/// The `estimator` sentence of the JSON.
fn estimator_description(a: &ScanArgs, how: &str) -> String {
    match a.estimator {
        Estimator::Infonce => format!(
            "infonce ({how}, critic trained; I = the mean bound over held-out batches of K = {} pairs, err over batches, ceiling ln K = {:.4})",
            a.batch,
            (a.batch as f64).ln()
        ),
        _ => format!("im ({how}, learned softmax decoder, held-out groups)"),
    }
}

/// The widths of `--buffer`: `A..B` inclusive or `a,b,c`; sorted, distinct.
pub fn parse_buffers(spec: &str) -> Result<Vec<usize>> {
    let bad = || {
        anyhow::anyhow!("--buffer {spec:?}: give A..B (inclusive) or a list a,b,c of widths ≥ 0")
    };
    let mut v: Vec<usize> = if let Some((a, b)) = spec.split_once("..") {
        let a: usize = a.trim().parse().map_err(|_| bad())?;
        let b: usize = b
            .trim()
            .trim_start_matches('=')
            .parse()
            .map_err(|_| bad())?;
        if b < a {
            return Err(bad());
        }
        (a..=b).collect()
    } else {
        spec.split(',')
            .map(|x| x.trim().parse().map_err(|_| bad()))
            .collect::<Result<_>>()?
    };
    v.sort_unstable();
    v.dedup();
    if v.len() < 3 {
        bail!(
            "--buffer {spec:?} gives {} width(s); the fits need at least 3",
            v.len()
        );
    }
    if v.len() > 64 {
        bail!("--buffer {spec:?} gives {} widths; at most 64", v.len());
    }
    Ok(v)
}

/// A weighted straight-line fit y = a + b x.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    /// Intercept.
    pub a: f64,
    /// Slope.
    pub b: f64,
    /// Standard error of the slope (from the weights; not rescaled by χ²).
    pub b_err: f64,
    /// Standard error of the intercept.
    pub a_err: f64,
    /// χ² of the fit.
    pub chi2: f64,
}

/// Weighted least squares of y on x with errors `sy`; `None` below 3 points or for a
/// degenerate x.
pub fn fit_line(x: &[f64], y: &[f64], sy: &[f64]) -> Option<Line> {
    if x.len() < 3 || x.len() != y.len() || x.len() != sy.len() {
        return None;
    }
    let (mut s, mut sx, mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for ((&xi, &yi), &ei) in x.iter().zip(y).zip(sy) {
        let w = 1.0 / (ei * ei);
        s += w;
        sx += w * xi;
        sxx += w * xi * xi;
        syy += w * yi;
        sxy += w * xi * yi;
    }
    let det = s * sxx - sx * sx;
    if !(det.is_finite() && det > 0.0) {
        return None;
    }
    let b = (s * sxy - sx * syy) / det;
    let a = (sxx * syy - sx * sxy) / det;
    let chi2 = x
        .iter()
        .zip(y)
        .zip(sy)
        .map(|((&xi, &yi), &ei)| ((yi - a - b * xi) / ei).powi(2))
        .sum();
    Some(Line {
        a,
        b,
        b_err: (s / det).sqrt(),
        a_err: (sxx / det).sqrt(),
        chi2,
    })
}

/// The two decay fits of points (distance d, I, σ_I), over the points with I > 2σ_I.
pub fn fit_decays(points: &[(f64, f64, f64)]) -> Value {
    let used: Vec<&(f64, f64, f64)> = points
        .iter()
        .filter(|p| p.1 > 0.0 && p.1 > 2.0 * p.2 && p.0 > 0.0)
        .collect();
    let distances: Vec<f64> = used.iter().map(|p| p.0).collect();
    let y: Vec<f64> = used.iter().map(|p| p.1.ln()).collect();
    // σ of ln I; an exact estimate (σ = 0) gets a relative floor of 1e-6.
    let sy: Vec<f64> = used.iter().map(|p| (p.2 / p.1).max(1e-6)).collect();
    let lnd: Vec<f64> = distances.iter().map(|d| d.ln()).collect();
    let dof = used.len().saturating_sub(2);
    let why = format!(
        "{} width(s) with I > 2σ; the fits need at least 3",
        used.len()
    );
    let exp = fit_line(&distances, &y, &sy);
    let alg = fit_line(&lnd, &y, &sy);
    let exponential = match exp {
        Some(l) => json!({
            "model": "I = A exp(-d / xi)",
            "xi": {"value": -1.0 / l.b, "err": l.b_err / (l.b * l.b)},
            "amplitude": {"value": l.a.exp(), "err": l.a.exp() * l.a_err},
            "chi2": l.chi2, "dof": dof, "chi2_per_dof": l.chi2 / dof.max(1) as f64,
        }),
        None => json!({"error": why}),
    };
    let algebraic = match alg {
        Some(l) => json!({
            "model": "I = A d^(-eta)",
            "eta": {"value": -l.b, "err": l.b_err},
            "amplitude": {"value": l.a.exp(), "err": l.a.exp() * l.a_err},
            "chi2": l.chi2, "dof": dof, "chi2_per_dof": l.chi2 / dof.max(1) as f64,
        }),
        None => json!({"error": why}),
    };
    let (best, margin) = match (exp, alg) {
        (Some(e), Some(a)) if e.chi2 <= a.chi2 => ("exponential", a.chi2 / e.chi2.max(1e-300)),
        (Some(e), Some(a)) => ("algebraic", e.chi2 / a.chi2.max(1e-300)),
        _ => ("", f64::NAN),
    };
    json!({
        "exponential": exponential,
        "algebraic": algebraic,
        "best": if best.is_empty() { Value::Null } else { json!(best) },
        "margin": if margin.is_finite() { json!(margin) } else { Value::Null },
        "distance": "d = L_B + 1, lattice spacings between the nearest sites of V and E",
        "points_used": used.iter().map(|p| p.0 - 1.0).collect::<Vec<_>>(),
        "method": "weighted least squares of ln I (sigma = err / I) on d or ln d, over the widths with I > 2 err",
    })
}

/// Run `rsmi scan`; returns the JSON result.
pub fn run(a: &ScanArgs) -> Result<Value> {
    if !matches!(a.estimator, Estimator::Im | Estimator::Infonce) {
        bail!(
            "rsmi scan supports --estimator im or infonce (got {})",
            a.estimator.name()
        );
    }
    if !a.temperatures.is_empty() {
        return run_temperatures(a);
    }
    if a.data.data.as_os_str() == NO_DATA {
        bail!(
            "give --data FILE (a scan over buffer widths) or --temperatures FILES (a scan over temperatures)"
        );
    }
    let buffers = parse_buffers(&a.buffer)?;
    if a.block == 0 || a.env == 0 {
        bail!("--block and --env must be at least 1");
    }
    if let Some(p) = &a.plot {
        crate::plot::Format::from_path(p)?;
        crate::io::atomic::check_output_path(p, a.force)?;
    }
    let learn = a.rule == "learn";
    let file_rule = match a.rule.as_str() {
        "learn" | "majority" | "decimation" => None,
        path => {
            let r = read_rule(std::path::Path::new(path))?;
            if r.geometry.block != a.block {
                bail!(
                    "--block {} disagrees with the block of {} ({})",
                    a.block,
                    path,
                    r.geometry.block
                );
            }
            Some(r)
        }
    };
    let tmp = std::env::temp_dir().join(format!("rsmi-scan-{}", std::process::id()));
    if learn {
        std::fs::create_dir_all(&tmp)
            .with_context(|| format!("could not create {}", tmp.display()))?;
    }
    let result = (|| -> Result<Vec<Value>> {
        let mut points = Vec::new();
        for &lb in &buffers {
            eprintln!("rsmi scan: L_B = {lb}");
            let mut rule = file_rule.clone();
            let mut learned = Value::Null;
            if learn {
                let out = tmp.join(format!("rule_B{lb}.json"));
                let mut t = TrainArgs::new(a.data.data.clone(), out.clone());
                t.data = a.data.clone();
                t.block = a.block;
                t.buffer = lb;
                t.env = a.env;
                t.hidden = a.hidden;
                t.restarts = a.restarts;
                t.seed = a.seed;
                estimator_options(a, &mut t.estimator, &mut t.batch, &mut t.critic);
                t.force = true;
                train::run(&t)?;
                let r = read_rule(&out)?;
                learned = json!({"weights": r.weights, "bias": r.bias});
                rule = Some(r);
            }
            let mut m = MiArgs::new(a.data.data.clone(), &a.rule);
            m.data = a.data.clone();
            m.block = Some(a.block);
            m.buffer = Some(lb);
            m.env = Some(a.env);
            m.seed = a.seed;
            m.groups = a.groups;
            estimator_options(a, &mut m.estimator, &mut m.batch, &mut m.critic);
            m.quiet = true;
            let v = mi::evaluate(&m, rule).with_context(|| format!("L_B = {lb}"))?;
            points.push(json!({
                "buffer": lb,
                "distance": lb + 1,
                "mi": {"value": v["mi"]["value"], "err": v["mi"]["err"],
                       "ceiling_ln_k": v["mi"]["ceiling_ln_k"]},
                "learned_rule": learned,
            }));
        }
        Ok(points)
    })();
    if learn {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    let points = result?;
    let triples: Vec<(f64, f64, f64)> = points
        .iter()
        .map(|p| {
            (
                p["distance"].as_f64().unwrap_or(f64::NAN),
                p["mi"]["value"].as_f64().unwrap_or(f64::NAN),
                p["mi"]["err"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();
    let fits = fit_decays(&triples);
    let out = json!({
        "format": "rsmi-scan-1",
        "data": a.data.data.display().to_string(),
        "rule": a.rule,
        "geometry": {"block": a.block, "env": a.env, "buffers": buffers},
        "estimator": estimator_description(a, "rsmi mi: fixed rule"),
        "unit": "nats",
        "seed": a.seed,
        "points": points,
        "fits": fits,
        "build": provenance::build_info(),
    });
    if let Some(p) = &a.plot {
        plot(&out, &triples, p, a.force)?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("I(H:E) of {} against the buffer width (nats):", a.rule);
        for (p, t) in points.iter().zip(&triples) {
            println!("  L_B = {:>2}: {:.5} ± {:.5}", p["buffer"], t.1, t.2);
        }
        let f = &out["fits"];
        println!(
            "exponential: xi = {} (chi2 {}), algebraic: eta = {} (chi2 {}); better: {}",
            f["exponential"]["xi"]["value"],
            f["exponential"]["chi2"],
            f["algebraic"]["eta"]["value"],
            f["algebraic"]["chi2"],
            f["best"]
        );
    }
    Ok(out)
}

/// T_c of the 2D Ising model (Onsager), J = k_B = 1: the guide line of the figure.
const ISING2D_TC: f64 = rsmi_core::ising::T_C_2D;

/// Which sites of an L_V × L_V block (row-major) lie on its outer ring.
pub fn ring_mask(block: usize) -> Vec<bool> {
    (0..block * block)
        .map(|k| {
            let (r, c) = (k / block, k % block);
            r == 0 || c == 0 || r + 1 == block || c + 1 == block
        })
        .collect()
}

/// (ratio, boundaryness) of one filter: mean |λ| on the ring / mean |λ| inside, and
/// |Σ_ring λ| / |Σ_inside λ|; `None` where a denominator is zero or the block has no
/// interior.
pub fn filter_ratios(w: &[f64], ring: &[bool]) -> Ratios {
    let (mut a_ring, mut a_in, mut s_ring, mut s_in, mut n_ring, mut n_in) =
        (0.0, 0.0, 0.0, 0.0, 0usize, 0usize);
    for (&x, &on) in w.iter().zip(ring) {
        if on {
            a_ring += x.abs();
            s_ring += x;
            n_ring += 1;
        } else {
            a_in += x.abs();
            s_in += x;
            n_in += 1;
        }
    }
    let div = |a: f64, b: f64| {
        let q = a / b;
        (b != 0.0 && q.is_finite()).then_some(q)
    };
    if n_in == 0 || n_ring == 0 {
        return (None, None);
    }
    (
        div(a_ring / n_ring as f64, a_in / n_in as f64),
        div(s_ring.abs(), s_in.abs()),
    )
}

/// Ratio and boundaryness of the restarts of one temperature, with jackknife errors.
///
/// The filters are first given a common sign (each restart's sign makes its overlap with
/// restart `reference`, the best one, non-negative: MI is blind to λ → −λ). The value is
/// the statistic of the mean filter over all restarts; the error is the leave-one-restart-out
/// jackknife, σ² = (n − 1)/n Σ_k (f_(k) − f̄)², with f_(k) the statistic of the mean filter
/// without restart k. The statistic of every single restart is returned as well.
pub fn filter_stats(filters: &[Vec<f64>], reference: usize, block: usize) -> Value {
    let ring = ring_mask(block);
    let n = filters.len();
    let reference = reference.min(n.saturating_sub(1));
    let aligned: Vec<Vec<f64>> = filters
        .iter()
        .map(|w| {
            let dot: f64 = w.iter().zip(&filters[reference]).map(|(x, y)| x * y).sum();
            let s = if dot < 0.0 { -1.0 } else { 1.0 };
            w.iter().map(|x| s * x).collect()
        })
        .collect();
    let mean_of = |skip: Option<usize>| -> Vec<f64> {
        let mut m = vec![0.0; block * block];
        for (_, w) in aligned.iter().enumerate().filter(|(k, _)| Some(*k) != skip) {
            for (a, x) in m.iter_mut().zip(w) {
                *a += x;
            }
        }
        m
    };
    let full = filter_ratios(&mean_of(None), &ring);
    let loo: Vec<Ratios> = (0..n)
        .map(|k| filter_ratios(&mean_of(Some(k)), &ring))
        .collect();
    let jack = |pick: &dyn Fn(&Ratios) -> Option<f64>| -> Value {
        let value = pick(&full);
        let parts: Option<Vec<f64>> = loo.iter().map(pick).collect();
        let err = match (&parts, n >= 2) {
            (Some(p), true) => {
                let m = p.iter().sum::<f64>() / n as f64;
                let v = p.iter().map(|x| (x - m).powi(2)).sum::<f64>() * (n - 1) as f64 / n as f64;
                Some(v.sqrt())
            }
            _ => None,
        };
        json!({"value": value, "err": err})
    };
    let per: Vec<Ratios> = aligned.iter().map(|w| filter_ratios(w, &ring)).collect();
    json!({
        "ratio": jack(&|p| p.0),
        "boundaryness": jack(&|p| p.1),
        "per_restart": {
            "ratio": per.iter().map(|p| p.0).collect::<Vec<_>>(),
            "boundaryness": per.iter().map(|p| p.1).collect::<Vec<_>>(),
        },
        "mean_filter": mean_of(None).iter().map(|x| x / n.max(1) as f64).collect::<Vec<_>>(),
    })
}

/// (ratio, boundaryness) of one filter, each `None` where undefined.
type Ratios = (Option<f64>, Option<f64>);

/// The index of the largest finite value, if any.
fn argmax(v: &[Option<f64>]) -> Option<usize> {
    v.iter()
        .enumerate()
        .filter_map(|(i, x)| x.filter(|x| x.is_finite()).map(|x| (i, x)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|x| x.0)
}

/// One file of a temperature scan, checked.
struct TFile {
    path: PathBuf,
    temperature: f64,
}

/// Reads the metadata of the `--temperatures` files and checks that they make one scan:
/// one model (ising2d, one channel), one lattice size, one field, a temperature each, all
/// distinct. Sorted by temperature.
fn temperature_files(paths: &[PathBuf]) -> Result<(Vec<TFile>, usize)> {
    let mut files: Vec<TFile> = Vec::new();
    let mut first: Option<(PathBuf, String, usize, f64)> = None;
    for p in paths {
        let f = crate::io::npz::read_npz(p)?;
        let model = f.meta["model"].as_str().unwrap_or("unknown").to_string();
        let field = f.meta["config"]["field"].as_f64().unwrap_or(0.0);
        if let Some((p0, m0, l0, h0)) = &first {
            if &model != m0 {
                bail!(
                    "{} holds {model} samples but {} holds {m0} samples; a temperature scan needs files of one model",
                    p.display(),
                    p0.display()
                );
            }
            if f.size != *l0 {
                bail!(
                    "{} has L = {} but {} has L = {l0}; a temperature scan needs files of one lattice size",
                    p.display(),
                    f.size,
                    p0.display()
                );
            }
            if field != *h0 {
                bail!(
                    "{} was sampled in the field h = {field} but {} in h = {h0}; a temperature scan needs one field",
                    p.display(),
                    p0.display()
                );
            }
        } else {
            if model != "ising2d" || f.channels() != 1 {
                bail!(
                    "{} holds {model} samples; the temperature scan learns filters of 2D Ising blocks (one-channel ising2d files)",
                    p.display()
                );
            }
            first = Some((p.clone(), model, f.size, field));
        }
        let t = f.meta["config"]["temperature"]
            .as_f64()
            .filter(|t| t.is_finite() && *t > 0.0)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{} has no positive temperature in meta.config; a temperature scan reads each file's temperature from there",
                    p.display()
                )
            })?;
        if let Some(o) = files.iter().find(|o| o.temperature == t) {
            bail!(
                "{} and {} have the same temperature T = {t}; give one file per temperature",
                o.path.display(),
                p.display()
            );
        }
        files.push(TFile {
            path: p.clone(),
            temperature: t,
        });
    }
    files.sort_by(|a, b| a.temperature.total_cmp(&b.temperature));
    let size = first.map(|f| f.2).unwrap_or(0);
    Ok((files, size))
}

/// `rsmi scan --temperatures`: learned one-hidden-unit rules, their I(H:E), ratio and
/// boundaryness per temperature.
fn run_temperatures(a: &ScanArgs) -> Result<Value> {
    if a.rule != "learn" {
        bail!(
            "--temperatures scans the filters of learned rules; give --rule learn (got --rule {})",
            a.rule
        );
    }
    if a.hidden != 1 {
        bail!(
            "the boundaryness is defined for the filter of one hidden unit; use --hidden 1 (got {})",
            a.hidden
        );
    }
    if a.block < 4 {
        bail!(
            "a {b}×{b} block has {} site(s) inside its outer ring; the boundary/interior ratios need an interior of at least 2×2 sites (--block 4 or more)",
            a.block.saturating_sub(2).pow(2),
            b = a.block
        );
    }
    if a.env == 0 {
        bail!("--env must be at least 1");
    }
    if a.restarts < 2 {
        bail!(
            "--restarts must be at least 2 with --temperatures: the error bars are a jackknife over restarts"
        );
    }
    let buffer: usize = a.buffer.trim().parse().map_err(|_| {
        anyhow::anyhow!(
            "--buffer {:?}: a temperature scan takes one buffer width (a whole number ≥ 0)",
            a.buffer
        )
    })?;
    if a.temperatures.len() < 3 {
        bail!(
            "--temperatures names {} file(s); a scan for a peak needs at least 3 temperatures",
            a.temperatures.len()
        );
    }
    if let Some(p) = &a.plot {
        crate::plot::Format::from_path(p)?;
        crate::io::atomic::check_output_path(p, a.force)?;
    }
    let (files, size) = temperature_files(&a.temperatures)?;
    let tmp = std::env::temp_dir().join(format!("rsmi-tscan-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).with_context(|| format!("could not create {}", tmp.display()))?;
    let result = (|| -> Result<Vec<Value>> {
        let mut points = Vec::new();
        for (i, f) in files.iter().enumerate() {
            let t = f.temperature;
            eprintln!("rsmi scan: T = {t} ({})", f.path.display());
            let out = tmp.join(format!("rule_{i}.json"));
            let mut tr = TrainArgs::new(f.path.clone(), out.clone());
            tr.data = a.data.clone();
            tr.data.data = f.path.clone();
            tr.block = a.block;
            tr.buffer = buffer;
            tr.env = a.env;
            tr.hidden = 1;
            tr.restarts = a.restarts;
            tr.seed = a.seed;
            estimator_options(a, &mut tr.estimator, &mut tr.batch, &mut tr.critic);
            tr.force = true;
            train::run(&tr).with_context(|| format!("T = {t} ({})", f.path.display()))?;
            let r = read_rule(&out)?;
            let (filters, best, train_mi) = match &r.mi {
                Some(m) => (
                    m.restarts
                        .iter()
                        .map(|x| x.weights[0].clone())
                        .collect::<Vec<_>>(),
                    m.best_restart,
                    json!({"mean": m.mean, "err": m.err}),
                ),
                None => (vec![r.weights[0].clone()], 0, Value::Null),
            };
            let stats = filter_stats(&filters, best, a.block);
            let mut m = MiArgs::new(f.path.clone(), "learn");
            m.data = a.data.clone();
            m.data.data = f.path.clone();
            m.block = Some(a.block);
            m.buffer = Some(buffer);
            m.env = Some(a.env);
            m.seed = a.seed;
            m.groups = a.groups;
            estimator_options(a, &mut m.estimator, &mut m.batch, &mut m.critic);
            m.quiet = true;
            let weights = json!(r.weights[0]);
            let v = mi::evaluate(&m, Some(r)).with_context(|| format!("T = {t}"))?;
            points.push(json!({
                "temperature": t,
                "data": f.path.display().to_string(),
                "mi": {"value": v["mi"]["value"], "err": v["mi"]["err"],
                       "ceiling_ln_k": v["mi"]["ceiling_ln_k"]},
                "mi_restarts": train_mi,
                "ratio": stats["ratio"],
                "boundaryness": stats["boundaryness"],
                "per_restart": stats["per_restart"],
                "mean_filter": stats["mean_filter"],
                "best_filter": weights,
            }));
        }
        Ok(points)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    let points = result?;
    let get = |key: &str| -> Vec<Option<f64>> {
        points.iter().map(|p| p[key]["value"].as_f64()).collect()
    };
    let temps: Vec<f64> = files.iter().map(|f| f.temperature).collect();
    let peak_of = |key: &str| -> Value {
        let v = get(key);
        match argmax(&v) {
            Some(i) => json!({
                "temperature": temps[i],
                "index": i,
                "value": v[i],
                "err": points[i][key]["err"],
                "at_end_of_scan": i == 0 || i + 1 == temps.len(),
            }),
            None => Value::Null,
        }
    };
    let out = json!({
        "format": "rsmi-tscan-1",
        "model": "ising2d",
        "size": size,
        "rule": "learn",
        "hidden": 1,
        "geometry": {"block": a.block, "buffer": buffer, "env": a.env},
        "restarts": a.restarts,
        "estimator": estimator_description(a, "training: rsmi train; I: rsmi mi on the best restart"),
        "unit": "nats",
        "seed": a.seed,
        "definitions": {
            "ring": "the sites of the block's outer ring (4 L_V − 4); interior: the (L_V − 2)² others",
            "ratio": "mean |lambda| on the ring / mean |lambda| in the interior",
            "boundaryness": "|sum_ring lambda| / |sum_interior lambda| (Goekmen et al., PRE 104, 064106, Eq. 19)",
            "errors": "each restart's filter signed to overlap the best one; value = the statistic of the restart-mean filter, err = jackknife over restarts (leave one restart out); per_restart lists each restart's own statistic",
        },
        "reference_tc": ISING2D_TC,
        "points": points,
        "peak": peak_of("boundaryness"),
        "ratio_peak": peak_of("ratio"),
        "build": provenance::build_info(),
    });
    if let Some(p) = &a.plot {
        plot_temperatures(&out, p, a.force)?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!(
            "{}×{} filters of learned rules (L_B = {buffer}, L_E = {}, L = {size}) against T; errors: jackknife over {} restarts:",
            a.block, a.block, a.env, a.restarts
        );
        println!(
            "  {:>9}  {:>19}  {:>17}  {:>19}",
            "T", "I(H:E) (nats)", "ring/inside |λ|", "boundaryness"
        );
        let pm = |v: &Value| match (v["value"].as_f64(), v["err"].as_f64()) {
            (Some(x), Some(e)) => format!("{x:.4} ± {e:.4}"),
            (Some(x), None) => format!("{x:.4}"),
            _ => "undefined".into(),
        };
        for p in &points {
            println!(
                "  {:>9.4}  {:>19}  {:>17}  {:>19}",
                p["temperature"].as_f64().unwrap_or(f64::NAN),
                pm(&p["mi"]),
                pm(&p["ratio"]),
                pm(&p["boundaryness"])
            );
        }
        match out["peak"]["temperature"].as_f64() {
            Some(t) => println!(
                "boundaryness peaks at T = {t}{} (2D Ising T_c = {ISING2D_TC:.4})",
                if out["peak"]["at_end_of_scan"] == true {
                    ", an end of the scan"
                } else {
                    ""
                }
            ),
            None => println!("boundaryness undefined at every temperature"),
        }
    }
    Ok(out)
}

/// The temperature scan's figure: ln B and ln(ring/inside ratio) against T (left), I(H:E)
/// against T (right), T_c dashed in both.
fn plot_temperatures(out: &Value, path: &std::path::Path, force: bool) -> Result<()> {
    let pts = out["points"].as_array().cloned().unwrap_or_default();
    let log_series = |key: &str, color| Series {
        points: pts
            .iter()
            .filter_map(|p| {
                let (t, v) = (p["temperature"].as_f64()?, p[key]["value"].as_f64()?);
                let e = p[key]["err"].as_f64().unwrap_or(0.0);
                (v > 0.0).then(|| (t, v.ln(), e / v))
            })
            .collect(),
        color,
    };
    let (b, r) = (
        log_series("boundaryness", (33, 102, 172)),
        log_series("ratio", (178, 24, 43)),
    );
    let mi = Series {
        points: pts
            .iter()
            .filter_map(|p| {
                Some((
                    p["temperature"].as_f64()?,
                    p["mi"]["value"].as_f64()?,
                    p["mi"]["err"].as_f64().unwrap_or(0.0),
                ))
            })
            .collect(),
        color: (33, 102, 172),
    };
    let tc_guide = |s: &[&Series]| -> Vec<Guide> {
        let ps = s.iter().flat_map(|s| s.points.iter());
        let (x0, x1) = ps.clone().fold((f64::INFINITY, f64::NEG_INFINITY), |m, p| {
            (m.0.min(p.0), m.1.max(p.0))
        });
        let (y0, y1) = ps.fold((f64::INFINITY, f64::NEG_INFINITY), |m, p| {
            (m.0.min(p.1), m.1.max(p.1))
        });
        if (x0..=x1).contains(&ISING2D_TC) && y0.is_finite() && y1 > y0 {
            vec![Guide {
                from: (ISING2D_TC, y0),
                to: (ISING2D_TC, y1),
            }]
        } else {
            Vec::new()
        }
    };
    if b.points.is_empty() && r.points.is_empty() {
        bail!("nothing to plot: the boundaryness is undefined at every temperature");
    }
    let left = xy_scene(
        &[b.clone(), r.clone()],
        &tc_guide(&[&b, &r]),
        "ln boundaryness |sum_ring λ|/|sum_inside λ| (blue), ln ring/inside mean |λ| (red); dashed: T_c",
        "T",
        "ln",
    )?;
    let right = xy_scene(
        std::slice::from_ref(&mi),
        &tc_guide(&[&mi]),
        "I(H:E) of the learned rule, held out (nats); dashed: T_c",
        "T",
        "I (nats)",
    )?;
    write_scene(&side_by_side(left, right), path, force)
}

/// Two panels side by side: ln I against d (log-lin) and against ln d (log-log), with the
/// fitted lines.
fn plot(out: &Value, pts: &[(f64, f64, f64)], path: &std::path::Path, force: bool) -> Result<()> {
    let good: Vec<(f64, f64, f64)> = pts
        .iter()
        .filter(|p| p.1 > 0.0 && p.1 > p.2)
        .map(|p| (p.0, p.1.ln(), p.2 / p.1))
        .collect();
    if good.is_empty() {
        bail!("nothing to plot: no width has I(H:E) above its error");
    }
    let color = (33, 102, 172);
    let (d0, d1) = (
        good.iter().map(|p| p.0).fold(f64::INFINITY, f64::min),
        good.iter().map(|p| p.0).fold(0.0, f64::max),
    );
    let line = |fit: &Value, key: &str, x: &dyn Fn(f64) -> f64| -> Vec<Guide> {
        let (Some(a), Some(k)) = (
            fit["amplitude"]["value"].as_f64(),
            fit[key]["value"].as_f64(),
        ) else {
            return Vec::new();
        };
        let y = |d: f64| {
            if key == "xi" {
                a.ln() - d / k
            } else {
                a.ln() - k * d.ln()
            }
        };
        vec![Guide {
            from: (x(d0), y(d0)),
            to: (x(d1), y(d1)),
        }]
    };
    let fits = &out["fits"];
    let lin = xy_scene(
        &[Series {
            points: good.clone(),
            color,
        }],
        &line(&fits["exponential"], "xi", &|d| d),
        &format!(
            "ln I(H:E) against d = L_B + 1 (line: exponential fit; better: {})",
            fits["best"]
        ),
        "d",
        "ln I",
    )?;
    let log = xy_scene(
        &[Series {
            points: good.iter().map(|p| (p.0.ln(), p.1, p.2)).collect(),
            color,
        }],
        &line(&fits["algebraic"], "eta", &|d: f64| d.ln()),
        "ln I(H:E) against ln d (line: algebraic fit)",
        "ln d",
        "ln I",
    )?;
    write_scene(&side_by_side(lin, log), path, force)
}

/// Two scenes next to each other.
fn side_by_side(a: Scene, b: Scene) -> Scene {
    let dx = a.width as i32;
    let shift = |p: (i32, i32)| (p.0 + dx, p.1);
    let mut shapes = a.shapes;
    shapes.extend(b.shapes.into_iter().map(|s| match s {
        Shape::Rect {
            x0,
            y0,
            x1,
            y1,
            fill,
            stroke,
        } => Shape::Rect {
            x0: x0 + dx,
            y0,
            x1: x1 + dx,
            y1,
            fill,
            stroke,
        },
        Shape::Line { from, to, color } => Shape::Line {
            from: shift(from),
            to: shift(to),
            color,
        },
        Shape::Circle {
            center,
            radius,
            fill,
            stroke,
        } => Shape::Circle {
            center: shift(center),
            radius,
            fill,
            stroke,
        },
        Shape::Text {
            pos,
            anchor,
            svg,
            png,
        } => Shape::Text {
            pos: shift(pos),
            anchor,
            svg,
            png,
        },
    }));
    Scene {
        width: a.width + b.width,
        height: a.height.max(b.height),
        shapes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_parse_inclusive_ranges_and_lists() {
        assert_eq!(parse_buffers("0..4").unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(parse_buffers("1..=3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_buffers("4,0,2,2").unwrap(), vec![0, 2, 4]);
        for bad in ["", "3..1", "0..1", "a..3", "1,x", "0..100"] {
            assert!(parse_buffers(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ring_and_boundaryness_of_hand_made_filters() {
        let ring = ring_mask(4);
        assert_eq!(ring.iter().filter(|&&x| x).count(), 12);
        assert!(!ring[5] && !ring[6] && !ring[9] && !ring[10] && ring[4] && ring[7]);
        // Uniform filter: ratio 1, B = 12 / 4 = 3.
        let (r, b) = filter_ratios(&[1.0; 16], &ring);
        assert_eq!((r, b), (Some(1.0), Some(3.0)));
        // Ring 2, inside 0.5: ratio 4, B = 24 / 2 = 12; no inside weight: undefined.
        let w: Vec<f64> = ring.iter().map(|&o| if o { 2.0 } else { 0.5 }).collect();
        assert_eq!(filter_ratios(&w, &ring), (Some(4.0), Some(12.0)));
        let w0: Vec<f64> = ring.iter().map(|&o| if o { 1.0 } else { 0.0 }).collect();
        assert_eq!(filter_ratios(&w0, &ring), (None, None));
        // Restarts with opposite signs are aligned; identical filters have zero error.
        let neg: Vec<f64> = w.iter().map(|x| -x).collect();
        let v = filter_stats(&[w.clone(), neg, w.clone()], 0, 4);
        assert_eq!(v["ratio"]["value"], 4.0);
        assert_eq!(v["boundaryness"]["err"], 0.0);
        // Jackknife of B over three restarts whose inside weights differ.
        let w2: Vec<f64> = ring.iter().map(|&o| if o { 2.0 } else { 1.0 }).collect();
        let v = filter_stats(&[w.clone(), w2, w], 0, 4);
        let e = v["boundaryness"]["err"].as_f64().unwrap();
        assert!(e > 0.5 && e.is_finite(), "{v}");
    }

    #[test]
    fn fits_recover_the_decay_they_were_given() {
        // Exact exponential and algebraic decays with 2 % errors.
        let d: Vec<f64> = (1..=7).map(f64::from).collect();
        let exp: Vec<(f64, f64, f64)> = d
            .iter()
            .map(|&x| (x, 0.5 * (-x / 1.5).exp(), 0.01 * 0.5 * (-x / 1.5).exp()))
            .collect();
        let f = fit_decays(&exp);
        assert_eq!(f["best"], "exponential");
        assert!((f["exponential"]["xi"]["value"].as_f64().unwrap() - 1.5).abs() < 1e-9);
        assert!(f["exponential"]["chi2"].as_f64().unwrap() < 1e-12);
        let alg: Vec<(f64, f64, f64)> = d
            .iter()
            .map(|&x| (x, 0.3 * x.powf(-0.25), 0.01 * 0.3 * x.powf(-0.25)))
            .collect();
        let f = fit_decays(&alg);
        assert_eq!(f["best"], "algebraic");
        assert!((f["algebraic"]["eta"]["value"].as_f64().unwrap() - 0.25).abs() < 1e-9);
        // Insignificant points are left out; too few significant ones give no verdict.
        let weak = vec![
            (1.0, 0.1, 0.001),
            (2.0, 0.01, 0.001),
            (3.0, 0.0005, 0.001),
            (4.0, -0.001, 0.001),
        ];
        let f = fit_decays(&weak);
        assert!(f["best"].is_null());
        assert!(
            f["exponential"]["error"]
                .as_str()
                .unwrap()
                .contains("2 width(s)")
        );
    }
}
