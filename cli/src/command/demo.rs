//! `rsmi demo`: the whole RSMI pipeline on a built-in default, in under a minute.
//!
//! 1. Sample the 2D Ising model at T_c (independent chains, `rsmi sample ising2d`).
//! 2. Learn the 2×2 coarse-graining rule with one and with four hidden units
//!    (`rsmi train`, the `im` estimator, L_B = 1, L_E = 2), drawing the filters.
//! 3. Measure I(H:E) of the learned rule, of Kadanoff's block spin (majority) and of
//!    decimation with the same estimator (`rsmi mi`).
//! 4. Swendsen's MCRG with the learned one-hidden-unit rule (symmetrised over the block,
//!    h drawn from P(h|V)) and with the majority rule: y_t and y_h at three levels
//!    (`rsmi mcrg`).
//! 5. Write a short text report with the expectations of docs/method.md ("Expected
//!    results", "Ising 2D block values")
//!    checked (uniform filter, one spin per hidden unit, block spin beating decimation).

use super::IsingModel;
use super::mcrg::{self, McrgArgs};
use super::mi::{self, MiArgs};
use super::sample::{self, SampleArgs};
use super::train::{self, TrainArgs};
use crate::io::atomic::{check_output_path, write_atomic};
use crate::provenance;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// T_c of the 2D Ising model, 2 / ln(1 + √2).
const T_C: f64 = rsmi_core::ising::T_C_2D;

/// Weight-norm cap of the demo's rules. The MI optimum sits at |λ| → ∞ (docs/method.md,
/// "The rule"); at moderate norms the learned 2×2 filter is Kadanoff's uniform block spin, while
/// at large norms (the `rsmi train` default cap of 10) training also learns to break the
/// block spin's 2–2 ties by one spin, which gains only ≈ 0.001–0.002 nats.
const CAP: f32 = 2.0;

/// Arguments of `rsmi demo`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Writes into --out-dir: samples.npz (the Ising samples), rule_h1.json / rule_h1.png (the \
learned 2x2 rule with one hidden unit and its filter), rule_h4.json / rule_h4.png (four \
hidden units), report.txt (MI table and checks) and summary.json (the same as JSON). \
Everything is reproducible from --seed.")]
pub struct DemoArgs {
    /// Output directory (created if missing).
    #[arg(long, default_value = "rsmi-demo")]
    pub out_dir: PathBuf,
    /// Linear size of the Ising torus.
    #[arg(long, default_value_t = 32)]
    pub size: usize,
    /// Number of samples (independent chains at T_c).
    #[arg(long, default_value_t = 2000)]
    pub samples: usize,
    /// Training restarts per rule.
    #[arg(long, default_value_t = 4)]
    pub restarts: usize,
    /// Master seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads [default: all cores]. Does not change the results.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Overwrite the files of an earlier demo in --out-dir.
    #[arg(long)]
    pub force: bool,
    /// Print the summary as one JSON object on stdout instead of the text report.
    #[arg(long)]
    pub json: bool,
}

/// The files of a demo run.
struct Files {
    samples: PathBuf,
    rule_h1: PathBuf,
    plot_h1: PathBuf,
    rule_h4: PathBuf,
    plot_h4: PathBuf,
    report: PathBuf,
    summary: PathBuf,
}

impl Files {
    fn new(dir: &Path) -> Files {
        Files {
            samples: dir.join("samples.npz"),
            rule_h1: dir.join("rule_h1.json"),
            plot_h1: dir.join("rule_h1.png"),
            rule_h4: dir.join("rule_h4.json"),
            plot_h4: dir.join("rule_h4.png"),
            report: dir.join("report.txt"),
            summary: dir.join("summary.json"),
        }
    }

    fn all(&self) -> [&PathBuf; 7] {
        [
            &self.samples,
            &self.rule_h1,
            &self.plot_h1,
            &self.rule_h4,
            &self.plot_h4,
            &self.report,
            &self.summary,
        ]
    }
}

/// Weights of the best restart, `[hidden][visible]`, from a train summary.
fn weights(summary: &Value) -> Result<Vec<Vec<f64>>> {
    let rows = summary["weights"]
        .as_array()
        .context("the train summary has no weights")?;
    rows.iter()
        .map(|r| {
            r.as_array()
                .context("malformed weights")?
                .iter()
                .map(|x| x.as_f64().context("malformed weight"))
                .collect()
        })
        .collect()
}

fn mi_value(summary: &Value) -> (f64, f64) {
    (
        summary["mi"]["value"].as_f64().unwrap_or(f64::NAN),
        summary["mi"]["err"].as_f64().unwrap_or(f64::NAN),
    )
}

/// Run the demo; returns the summary.
pub fn run(args: &DemoArgs) -> Result<Value> {
    if args.size < 8 || !args.size.is_multiple_of(2) {
        bail!(
            "--size must be an even number of at least 8 (got {})",
            args.size
        );
    }
    if args.samples < 100 {
        bail!("--samples must be at least 100 (got {})", args.samples);
    }
    if args.restarts == 0 {
        bail!("--restarts must be at least 1");
    }
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("could not create {}", args.out_dir.display()))?;
    let files = Files::new(&args.out_dir);
    for f in files.all() {
        check_output_path(f, args.force)?;
    }
    let started = Instant::now();
    let mut timings = serde_json::Map::new();
    let mut lap = |name: &str, t: &mut Instant| {
        timings.insert(name.into(), json!(t.elapsed().as_secs_f64()));
        *t = Instant::now();
    };
    let mut t = Instant::now();

    eprintln!(
        "rsmi demo: 1/5 sampling {} configurations of the {}×{} Ising model at T_c",
        args.samples, args.size, args.size
    );
    let mut sa = SampleArgs::new(
        IsingModel::Ising2d,
        args.size,
        vec![T_C],
        args.samples,
        args.seed,
        files.samples.clone(),
    );
    sa.threads = args.threads;
    let sampled = sample::run(&sa)?;
    lap("sample", &mut t);

    let train_rule = |hidden: usize, out: &Path, plot: &Path| -> Result<Value> {
        let mut a = TrainArgs::new(files.samples.clone(), out.to_path_buf());
        a.hidden = hidden;
        a.restarts = args.restarts;
        a.seed = args.seed;
        a.force = true;
        a.plot = Some(plot.to_path_buf());
        a.cap = CAP;
        a.data.threads = args.threads;
        train::run(&a)
    };
    eprintln!("rsmi demo: 2/5 learning the 2×2 rule with one hidden unit");
    let h1 = train_rule(1, &files.rule_h1, &files.plot_h1)?;
    lap("train_h1", &mut t);
    eprintln!("rsmi demo: 3/5 learning the 2×2 rule with four hidden units");
    let h4 = train_rule(4, &files.rule_h4, &files.plot_h4)?;
    lap("train_h4", &mut t);

    eprintln!("rsmi demo: 4/5 measuring I(H:E) of the learned rule, the block spin and decimation");
    let measure = |rule: &str| -> Result<Value> {
        let mut a = MiArgs::new(files.samples.clone(), rule);
        a.seed = args.seed;
        a.data.threads = args.threads;
        a.quiet = true;
        mi::run(&a)
    };
    let learned = measure(&files.rule_h1.to_string_lossy())?;
    let majority = measure("majority")?;
    let decimation = measure("decimation")?;
    lap("mi", &mut t);

    eprintln!("rsmi demo: 5/5 MCRG exponents of the learned rule and of the block spin");
    let levels = (args.size.trailing_zeros() as usize).clamp(1, 3);
    let exponents = |rule: &str| -> Result<Value> {
        let mut a = McrgArgs::new(files.samples.clone(), rule);
        a.levels = levels;
        a.seed = args.seed;
        a.threads = args.threads;
        mcrg::compute(&a)
    };
    let mcrg_learned = exponents(&files.rule_h1.to_string_lossy())?;
    let mcrg_majority = exponents("majority")?;
    lap("mcrg", &mut t);

    // Checks (docs/method.md: "Expected results", acceptance experiments A4/A5).
    let w1 = weights(&h1)?;
    let row = &w1[0];
    let same_sign = row.iter().all(|&x| x > 0.0) || row.iter().all(|&x| x < 0.0);
    let absmax = row.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let absmin = row.iter().fold(f64::INFINITY, |m, x| m.min(x.abs()));
    let uniformity = if absmax > 0.0 { absmin / absmax } else { 0.0 };
    let (mi_l, err_l) = mi_value(&learned);
    let (mi_m, err_m) = mi_value(&majority);
    let (mi_d, err_d) = mi_value(&decimation);
    let w4 = weights(&h4)?;
    let mut dominant = Vec::new();
    let mut dominance = Vec::new();
    for r in &w4 {
        let total: f64 = r.iter().map(|x| x.abs()).sum();
        let (i, m) = r.iter().enumerate().fold((0, 0.0f64), |(bi, bm), (i, x)| {
            if x.abs() > bm { (i, x.abs()) } else { (bi, bm) }
        });
        dominant.push(i);
        dominance.push(if total > 0.0 { m / total } else { 0.0 });
    }
    let mut sorted = dominant.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let permutation = sorted.len() == w4.len();
    let checks = json!({
        "h1_same_sign": same_sign,
        "h1_min_over_max_abs_weight": uniformity,
        "h1_uniform (>= 0.8)": uniformity >= 0.8,
        "learned_minus_decimation_nats": mi_l - mi_d,
        "learned_beats_decimation_by_0.05": mi_l - mi_d >= 0.05,
        "h4_dominant_site": dominant,
        "h4_dominance": dominance,
        "h4_one_spin_per_hidden (> 0.7, a permutation)": permutation && dominance.iter().all(|&d| d > 0.7),
    });

    let total = started.elapsed().as_secs_f64();
    let summary = json!({
        "format": "rsmi-demo-1",
        "model": "ising2d",
        "size": args.size,
        "temperature": T_C,
        "samples": args.samples,
        "geometry": {"block": 2, "buffer": 1, "env": 2},
        "estimator": "im",
        "restarts": args.restarts,
        "seed": args.seed,
        "mi_nats": {
            "learned_h1": {"value": mi_l, "err": err_l},
            "majority": {"value": mi_m, "err": err_m},
            "decimation": {"value": mi_d, "err": err_d},
            "learned_h4_train": h4["mi"].clone(),
            "learned_h1_train": h1["mi"].clone(),
        },
        "weights_h1": w1,
        "weights_h4": w4,
        "checks": checks,
        "mcrg": {
            "learned_h1": {"levels": mcrg_learned["levels"].clone(), "rule": mcrg_learned["rule"].clone()},
            "majority": {"levels": mcrg_majority["levels"].clone()},
            "exact": {"y_t": 1.0, "y_h": 1.875},
        },
        "sample_observables": sampled.first().map(|s| s["observables"].clone()).unwrap_or(Value::Null),
        "files": files.all().iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "build": provenance::build_info(),
        "run": {"threads": args.threads, "wall_seconds": total, "seconds": timings},
    });

    let mut report = String::new();
    let _ = writeln!(report, "rsmi demo: RSMI on the 2D Ising model at T_c");
    let _ = writeln!(
        report,
        "{} samples of a {}×{} torus (seed {}), 2×2 blocks, buffer 1, environment 2, im estimator, {} restarts\n",
        args.samples, args.size, args.size, args.seed, args.restarts
    );
    let _ = writeln!(
        report,
        "I(H:E) in nats (same estimator, held-out samples; docs/method.md#ising-2d-block-values: block spin ≈ 0.40, decimation ≈ 0.33):"
    );
    let _ = writeln!(report, "  learned rule, 1 hidden   {mi_l:.4} ± {err_l:.4}");
    let _ = writeln!(report, "  majority (block spin)    {mi_m:.4} ± {err_m:.4}");
    let _ = writeln!(
        report,
        "  decimation (one spin)    {mi_d:.4} ± {err_d:.4}\n"
    );
    let _ = writeln!(report, "Learned filter, 1 hidden unit (row-major 2×2):");
    let _ = writeln!(
        report,
        "  [{:+.3} {:+.3}]\n  [{:+.3} {:+.3}]",
        row[0], row[1], row[2], row[3]
    );
    let _ = writeln!(
        report,
        "  same sign: {same_sign}; min|λ|/max|λ| = {uniformity:.3} (Kadanoff's block spin: all equal)\n"
    );
    let _ = writeln!(
        report,
        "Learned filters, 4 hidden units (each should pick one spin):"
    );
    for (j, r) in w4.iter().enumerate() {
        let _ = writeln!(
            report,
            "  h{j}: [{}]  dominant site {} ({:.0} % of Σ|λ|)",
            r.iter()
                .map(|x| format!("{x:+.2}"))
                .collect::<Vec<_>>()
                .join(" "),
            dominant[j],
            100.0 * dominance[j]
        );
    }
    let _ = writeln!(
        report,
        "\nMCRG exponents (Swendsen's linearised RG, 4 even / 2 odd operators; exact y_t = 1, y_h = 15/8 = 1.875):"
    );
    let y = |v: &Value| {
        format!(
            "{:.3} ± {:.3}",
            v["value"].as_f64().unwrap_or(f64::NAN),
            v["err"].as_f64().unwrap_or(f64::NAN)
        )
    };
    for (name, m) in [
        ("learned rule (symmetrised)", &mcrg_learned),
        ("majority (block spin)", &mcrg_majority),
    ] {
        for l in m["levels"].as_array().into_iter().flatten() {
            let _ = writeln!(
                report,
                "  {name:<27} level {} (L = {:>2}): y_t = {}, y_h = {}",
                l["level"],
                l["size"],
                y(&l["y_t"]),
                y(&l["y_h"])
            );
        }
    }
    let _ = writeln!(
        report,
        "\nChecks: learned − decimation = {:.4} nats (≥ 0.05: {}); uniform filter: {}; one spin per hidden unit: {}",
        mi_l - mi_d,
        mi_l - mi_d >= 0.05,
        uniformity >= 0.8 && same_sign,
        permutation && dominance.iter().all(|&d| d > 0.7)
    );
    let _ = writeln!(
        report,
        "Files in {}; total {:.1} s.",
        args.out_dir.display(),
        total
    );

    write_atomic(&files.report, true, |f| {
        use std::io::Write;
        f.write_all(report.as_bytes())?;
        Ok(())
    })?;
    write_atomic(&files.summary, true, |f| {
        use std::io::Write;
        f.write_all(serde_json::to_string_pretty(&summary)?.as_bytes())?;
        f.write_all(b"\n")?;
        Ok(())
    })?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{report}");
    }
    Ok(summary)
}
