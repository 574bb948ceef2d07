//! `rsmi couplings`: pseudo-likelihood fit of the couplings K_a of a sample file (raw or
//! coarse-grained), with jackknife errors. The model, the operators and the fit are
//! documented in [`crate::rg::couplings`].

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde_json::{Map, Value, json};

use crate::io::npz::{NpzError, SampleFile, read_npz};
use crate::progress::Progress;
use crate::provenance;
use crate::rg::couplings::{self, CouplingFit, DEFAULT_BINS, Operator};

/// Arguments of `rsmi couplings`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
MODEL: P(s) ~ exp(sum_a K_a S_a(s)), spins +-1 (bit 1 = +1). Operators, 2D (LxL torus): \
nn = sum s(x,y)[s(x+1,y) + s(x,y+1)]; nn_x, nn_y = its two halves; nnn = the diagonals \
sum s(x,y)[s(x+1,y+1) + s(x+1,y-1)]; nnn_a, nnn_b = its two diagonals (a rule that \
breaks the block's symmetry shows up as nn_x != nn_y or nnn_a != nnn_b); nn3 = sum s(x,y)[s(x+2,y) + s(x,y+2)]; plaq = the \
four-spin plaquette; field = sum s. 1D (ring): nn = sum s_i s_i+1, nnn = sum s_i s_i+2, \
nn3 = sum s_i s_i+3, plaq = sum s_i s_i+1 s_i+2 s_i+3, field = sum s_i. Default \
operators: nn,nnn,nn3,plaq (2D), nn,nnn (1D). nn cannot be combined with nn_x or nn_y, nor nnn with nnn_a or nnn_b.

FIT: maximum pseudo-likelihood, sum over samples and sites of ln sigma(2 s_i phi_i), \
phi_i = sum_a K_a dS_a/ds_i (concave; Newton's method with step halving on the histogram \
of local features). Errors: jackknife over --bins contiguous bins of samples in file order \
(rsmi sample writes files chain-major, so a bin holds consecutive measurements of whole \
chains); err = sqrt((B-1)/B sum_b (K_b - mean)^2) over the leave-one-bin-out fits. The \
result never depends on --threads.

Multi-channel coarse files need --channel J. Dimer files are refused (coarse-grain them \
first with rsmi coarsen).")]
pub struct CouplingsArgs {
    /// The samples (.npz: ising1d, ising2d or coarse).
    #[arg(long)]
    pub data: PathBuf,
    /// Operators to fit, comma separated [default: nn,nnn,nn3,plaq in 2D; nn,nnn in 1D].
    #[arg(long)]
    pub operators: Option<String>,
    /// Jackknife bins.
    #[arg(long, default_value_t = DEFAULT_BINS)]
    pub bins: usize,
    /// Channel of a multi-channel coarse file (hidden unit J).
    #[arg(long)]
    pub channel: Option<usize>,
    /// Worker threads [default: all cores]. Does not change the results.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Reads a sample file, refusing dimer files with one sentence.
fn load(path: &std::path::Path) -> Result<SampleFile> {
    read_npz(path).map_err(|e| {
        if let NpzError::InFile { cause, .. } = &e {
            if let NpzError::UnsupportedModel(m) = cause.as_ref() {
                if m == "dimer" {
                    return anyhow::anyhow!(
                        "{} holds dimer samples; rsmi couplings fits Ising spins (coarse-grain \
                         the dimers first with rsmi coarsen)",
                        path.display()
                    );
                }
            }
        }
        anyhow::Error::from(e)
    })
}

/// Runs `rsmi couplings`; returns the JSON result (printed with `--json`, else a table).
pub fn run(args: &CouplingsArgs) -> Result<Value> {
    let (out, table) = fit_and_table(args)?;
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        print!("{table}");
    }
    Ok(out)
}

/// `rsmi couplings` without printing (library callers); returns the JSON result.
pub fn compute(args: &CouplingsArgs) -> Result<Value> {
    fit_and_table(args).map(|(out, _)| out)
}

/// The JSON result and the text table.
fn fit_and_table(args: &CouplingsArgs) -> Result<(Value, String)> {
    if args.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    if args.bins < 2 {
        bail!("--bins must be at least 2");
    }
    let file = load(&args.data)?;
    let ops = match &args.operators {
        Some(list) => Operator::parse_list(list, file.dims)?,
        None => Operator::defaults(file.dims),
    };
    let channel = couplings::select_channel(&file, args.channel)?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| anyhow::anyhow!("could not start the worker threads: {e}"))?;
    let progress = Progress::with_unit(file.n as u64, "couplings ", "samples");
    let fit = pool
        .install(|| couplings::fit_with_progress(&file, &ops, args.bins, channel, Some(&progress)));
    progress.finish();
    let fit = fit?;
    let out = summary(args, &file, &fit);
    Ok((out, table(&args.data, &file, &fit)))
}

/// The JSON result.
fn summary(args: &CouplingsArgs, file: &SampleFile, fit: &CouplingFit) -> Value {
    let mut c = Map::new();
    for ((o, v), e) in fit.operators.iter().zip(&fit.values).zip(&fit.errors) {
        c.insert(o.name().into(), json!({"value": v, "err": e}));
    }
    let meta = &file.meta;
    let config = meta.get("config");
    json!({
        "couplings": c,
        "operators": fit.operators.iter().map(|o| o.name()).collect::<Vec<_>>(),
        "samples": fit.samples,
        "size": fit.size,
        "dims": fit.dims,
        "channel": fit.channel,
        "bins": fit.bins,
        "log_pl_per_site": fit.log_pl_per_site,
        "newton_iterations": fit.iterations,
        "temperature": config.and_then(|c| c.get("temperature")).cloned().unwrap_or(Value::Null),
        "rg_step": meta.get("rg_step").cloned().unwrap_or(json!(0)),
        "source": {
            "path": args.data.display().to_string(),
            "model": meta.get("model").cloned().unwrap_or(Value::Null),
            "coarse_of": meta.get("coarse_of").cloned().unwrap_or(Value::Null),
            "channels": file.channels(),
            "meta": meta,
        },
        "method": "maximum pseudo-likelihood (Newton), jackknife over contiguous bins of samples in file order",
        "provenance": provenance::build_info(),
    })
}

/// The text table.
fn table(path: &std::path::Path, file: &SampleFile, fit: &CouplingFit) -> String {
    let mut s = format!(
        "{}: {} samples, {}D, L = {}{}{}\n",
        path.display(),
        fit.samples,
        fit.dims,
        fit.size,
        file.meta
            .get("config")
            .and_then(|c| c.get("temperature"))
            .and_then(Value::as_f64)
            .map_or(String::new(), |t| format!(", T = {t}")),
        if file.channels() > 1 {
            format!(", channel {} of {}", fit.channel, file.channels())
        } else {
            String::new()
        },
    );
    s += &format!("{:<8} {:>12} {:>12}\n", "operator", "K", "err");
    for ((o, v), e) in fit.operators.iter().zip(&fit.values).zip(&fit.errors) {
        s += &format!("{:<8} {v:>12.6} {e:>12.6}\n", o.name());
    }
    s += &format!(
        "log PL per site {:.6}; {} Newton iterations; jackknife over {} bins\n",
        fit.log_pl_per_site, fit.iterations, fit.bins
    );
    s
}
