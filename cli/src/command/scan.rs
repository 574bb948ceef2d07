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

use super::mi::{self, MiArgs};
use super::train::{self, DataArgs, TrainArgs};
use crate::learn::rule_file::read_rule;
use crate::plot::flow::{Guide, Series, xy_scene};
use crate::plot::scene::{Scene, Shape};
use crate::plot::write_scene;
use crate::provenance;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Arguments of `rsmi scan`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Prints (with --json, one object) {\"points\": [{\"buffer\": L_B, \"distance\": L_B + 1, \"mi\": \
{\"value\", \"err\"}}, ...], \"fits\": {\"exponential\": {...}, \"algebraic\": {...}, \"best\": \
\"exponential\"|\"algebraic\"|null, \"margin\": chi2_worse / chi2_better}, ...}. MI in nats.

Example: I(H:E) of the 4x4 block majority rule at L_B = 0..6:
  rsmi scan --data tc.npz --rule majority --block 4 --buffer 0..6 --env 4 --json --plot scan.png")]
pub struct ScanArgs {
    /// Data options (as for `rsmi mi`).
    #[command(flatten)]
    pub data: DataArgs,
    /// The rule: majority, decimation, a RULE.json (its weights, applied at every width)
    /// or `learn` (a rule trained at every width with `rsmi train`'s defaults).
    #[arg(long)]
    pub rule: String,
    /// Linear size L_V of the block.
    #[arg(long, default_value_t = 2)]
    pub block: usize,
    /// Buffer widths: `A..B` (A to B inclusive) or a comma-separated list.
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
    /// Groups of held-out samples for the error bars.
    #[arg(long, default_value_t = 10)]
    pub groups: usize,
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
            m.quiet = true;
            let v = mi::evaluate(&m, rule).with_context(|| format!("L_B = {lb}"))?;
            points.push(json!({
                "buffer": lb,
                "distance": lb + 1,
                "mi": {"value": v["mi"]["value"], "err": v["mi"]["err"]},
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
        "estimator": "im (rsmi mi: fixed rule, learned softmax decoder, held-out groups)",
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
