//! `rsmi mcrg`: Swendsen's linearised MCRG with a fixed rule (built-in or learned), applied
//! repeatedly to the same samples; y_t and y_h with jackknife errors at every level and for
//! every number of operators. The method is documented in [`crate::rg::mcrg`].

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::command::train::pool;
use crate::io::npz::read_npz;
use crate::learn::coarsen::Mode;
use crate::progress::Progress;
use crate::provenance;
use crate::rg::mcrg::{
    MAX_EVEN, MAX_ODD, Measured, level_observables, linearised, measure, operator_names,
};
use crate::rg::rule::{BlockRule, Symmetry};

/// Arguments of `rsmi mcrg`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
METHOD: every sample is coarse-grained --levels times with the rule (the same rule at every \
level); at each level n the connected correlations A = <S(n) S(n)>_c and B = <S(n) S(n-1)>_c \
of the lattice operators give T = A^-1 B, whose leading eigenvalue is b^y (b = the block \
side). Even operators (2D: nn, nnn, nn3, plaq; 1D: nn, nnn, nn3, four) give y_t = 1/nu, odd \
ones (2D: field, corner3; 1D: field, three) give y_h; results are listed for the first 1..k \
of each. Errors: jackknife over --bins contiguous bins of samples.

RULES: majority (block spin; 2-2 ties by a fair coin) and decimation take --block (default 2). \
A RULE.json with one hidden unit is used as it is; with several, --unit J picks hidden unit J \
(its marginal P(h_J|V)); without --unit such a rule is refused. --symmetry block (default) \
replaces a RULE.json's weights by their means over the block's rotations and reflections and \
sets its bias to 0, so that a learned rule which broke the block's ties with one weak site \
does not make the coarse lattice anisotropic (the per-level `anisotropy` = <s s_x> - <s s_y> \
shows it); built-in rules are used as they are.

RANDOMNESS: samples 256k..256k+255 use stream(seed, k, 0); results never depend on --threads.")]
pub struct McrgArgs {
    /// Sample file (.npz: ising2d, ising1d, or one-channel coarse samples).
    #[arg(long)]
    pub data: PathBuf,
    /// The rule: majority, decimation, or a RULE.json path.
    #[arg(long)]
    pub rule: String,
    /// Block side of a built-in rule.
    #[arg(long)]
    pub block: Option<usize>,
    /// Hidden unit of a rule with several.
    #[arg(long)]
    pub unit: Option<usize>,
    /// RG steps (levels after the data).
    #[arg(long, default_value_t = 3)]
    pub levels: usize,
    /// Most operators of each parity (even ≤ 4, odd ≤ 2).
    #[arg(long, default_value_t = 4)]
    pub operators: usize,
    /// How coarse spins are drawn.
    #[arg(long, value_enum, default_value = "sample")]
    pub mode: Mode,
    /// Symmetrise a RULE.json over the block's symmetries.
    #[arg(long, value_enum, default_value = "block")]
    pub symmetry: Symmetry,
    /// Jackknife bins.
    #[arg(long, default_value_t = 20)]
    pub bins: usize,
    /// Master seed of the coarse-graining draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads [default: all cores]. Does not change the results.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

impl McrgArgs {
    /// The command-line defaults for `rule` on `data`.
    pub fn new(data: PathBuf, rule: &str) -> McrgArgs {
        McrgArgs {
            data,
            rule: rule.to_string(),
            block: None,
            unit: None,
            levels: 3,
            operators: 4,
            mode: Mode::Sample,
            symmetry: Symmetry::Block,
            bins: 20,
            seed: 1,
            threads: None,
            json: false,
        }
    }
}

/// The rule of `spec` for `dims`-dimensional data, symmetrised if asked.
pub fn load_rule(
    spec: &str,
    dims: usize,
    block: Option<usize>,
    unit: Option<usize>,
    symmetry: Symmetry,
) -> Result<BlockRule> {
    let mut rule = BlockRule::resolve(spec, dims, block, unit)?;
    if symmetry == Symmetry::Block && crate::learn::builtin::Builtin::parse(spec).is_none() {
        rule.symmetrize()?;
    }
    Ok(rule)
}

/// The JSON of a run.
pub fn report(
    m: &Measured,
    rule: &BlockRule,
    even: usize,
    odd: usize,
    bins: usize,
) -> Result<Value> {
    let levels = linearised(m, rule.block, even, odd, bins)?;
    let obs = level_observables(m, bins)?;
    let (even_names, odd_names) = operator_names(m.dims);
    Ok(json!({
        "levels": levels.iter().map(|l| json!({
            "level": l.level,
            "size": l.size,
            "y_t": l.y_t.last().map(|e| e.to_json()),
            "y_h": l.y_h.last().map(|e| e.to_json()),
            "y_t_by_operators": l.y_t.iter().map(|e| e.to_json()).collect::<Vec<_>>(),
            "y_h_by_operators": l.y_h.iter().map(|e| e.to_json()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "observables": obs.iter().map(|o| o.to_json()).collect::<Vec<_>>(),
        "operators": {"even": &even_names[..even], "odd": &odd_names[..odd]},
        "scale": rule.block,
    }))
}

/// Runs `rsmi mcrg`; returns the JSON result.
pub fn run(a: &McrgArgs) -> Result<Value> {
    let out = compute(a)?;
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        print_table(&out);
    }
    Ok(out)
}

/// `rsmi mcrg` without printing; returns the JSON result.
pub fn compute(a: &McrgArgs) -> Result<Value> {
    if a.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    if a.levels == 0 {
        bail!("--levels must be at least 1");
    }
    if a.operators == 0 {
        bail!("--operators must be at least 1");
    }
    let started = Instant::now();
    let file = read_npz(&a.data)?;
    let rule = load_rule(&a.rule, file.dims, a.block, a.unit, a.symmetry)?;
    let even = a.operators.min(MAX_EVEN);
    let odd = a.operators.min(MAX_ODD);
    // Check the bins and the levels before the long part.
    crate::rg::mcrg::bins_of(file.n, a.bins)?;
    crate::rg::mcrg::level_sizes(&rule, file.size, a.levels)?;
    let pool = pool(a.threads)?;
    let bar = Progress::with_unit(file.n as u64, "mcrg", "samples");
    let m = pool.install(|| measure(&file, &rule, a.levels, a.mode, a.seed, &|k| bar.inc(k)))?;
    bar.finish();
    let mut out = pool.install(|| report(&m, &rule, even, odd, a.bins))?;
    let src = &file.meta;
    out["samples"] = json!(file.n);
    out["size"] = json!(file.size);
    out["dims"] = json!(file.dims);
    out["rule"] = rule.to_json();
    out["mode"] = json!(a.mode.name());
    out["seed"] = json!(a.seed);
    out["bins"] = json!(a.bins);
    out["source"] = json!({
        "path": a.data.display().to_string(),
        "model": src.get("model"),
        "rg_step": src.get("rg_step"),
        "config": src.get("config"),
    });
    out["build"] = provenance::build_info();
    out["run"] = json!({"threads": a.threads, "wall_seconds": started.elapsed().as_secs_f64()});
    Ok(out)
}

fn print_table(out: &Value) {
    let f = |v: &Value| {
        format!(
            "{:.4} ± {:.4}",
            v["value"].as_f64().unwrap_or(f64::NAN),
            v["err"].as_f64().unwrap_or(f64::NAN)
        )
    };
    println!(
        "MCRG, rule {} (block {}), {} samples of L = {}",
        out["rule"]["rule"].as_str().unwrap_or("?"),
        out["scale"],
        out["samples"],
        out["size"]
    );
    println!("level  size   k   y_t                 y_h");
    if let Some(levels) = out["levels"].as_array() {
        for l in levels {
            let yt = l["y_t_by_operators"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let yh = l["y_h_by_operators"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for k in 0..yt.len().max(yh.len()) {
                println!(
                    "{:>5} {:>5} {:>3}   {:<19} {}",
                    l["level"].as_u64().unwrap_or(0),
                    l["size"].as_u64().unwrap_or(0),
                    k + 1,
                    yt.get(k).map(f).unwrap_or_default(),
                    yh.get(k).map(f).unwrap_or_default()
                );
            }
        }
    }
}
