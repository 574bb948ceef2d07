//! `rsmi coarsen`: one RG step. Tiles every sample of a data file with the blocks of a
//! rule, draws the hidden units per block (or takes the argmax) and writes the coarse
//! samples as a sample file that `rsmi train` reads again (docs/method.md#coarse-graining-and-iteration).
//! The tiling, the random streams and the tie rule are documented in
//! [`crate::learn::coarsen`].

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use rsmi_core::learn::geometry::{Grid01, PackedSpins};
use rsmi_core::rng::{STREAM_SCHEME, stream};
use serde_json::{Value, json};

use crate::io::atomic::check_output_path;
use crate::io::dimer_npz::read_dimer_npz;
use crate::io::npz::{Archive, NpzError, SampleFile, meta_model_size, read_npz, write_npz};
use crate::learn::builtin::Builtin;
use crate::learn::coarsen::{CHUNK, Coarsener, Mode, energy_magnetization, pack_sample};
use crate::learn::rule_file::{GeometryKind, RuleFile, read_rule};
use crate::provenance;

/// Arguments of `rsmi coarsen`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
RULES: a RULE.json from `rsmi train`, or the built-in `majority` (Kadanoff's block spin, \
h = sign of the block sum, weights 10 on every site so that a tie has activation 0: a fair \
coin in either mode) or `decimation` (h = the block's first spin), for ising1d / ising2d \
data, with --block B (default 2; B must divide L).

The data are tiled with non-overlapping blocks of the rule (stride = block; the block must \
divide the lattice side). Each block becomes one coarse site; with N_h > 1 hidden units \
the coarse file has N_h channels (meta.channels, spins (N, C, L', ceil(L'/8)), channel \
j = hidden unit j). Dimer data (links, or the decorated 2L×2L array) give an ising2d file \
of side 2L/block with meta.coarse_of = \"dimer\".

--mode sample draws h ~ P(h|V); --mode argmax takes h_j = sign a_j, and breaks exact \
ties (a_j = 0) with a fair coin from the seed's stream. Samples n = 256k .. 256k + 255 \
use the stream (seed, job = k, lane 0) in order: the output never depends on --threads.

energy and magnetization are recomputed on the coarse lattice (E = -sum s_i s_j over \
nearest neighbours of the torus, M = sum s_i; channel 0 when there are several). \
meta.rg_step is the source's rg_step + 1 (a source without one counts as step 0).")]
pub struct CoarsenArgs {
    /// The rule: a RULE.json from `rsmi train`, or the built-in `majority` (block spin,
    /// ties broken by a fair coin) or `decimation` (the block's first spin), ±1 spin data
    /// only.
    #[arg(long)]
    pub rule: String,
    /// Block side of a built-in rule [default: 2]; must divide L. A RULE.json fixes its
    /// own block.
    #[arg(long)]
    pub block: Option<usize>,
    /// The samples to coarse-grain (.npz: ising1d, ising2d, coarse, or dimer).
    #[arg(long)]
    pub data: PathBuf,
    /// Output sample file (.npz).
    #[arg(long)]
    pub out: PathBuf,
    /// How the coarse variables are chosen.
    #[arg(long, value_enum, default_value = "sample")]
    pub mode: Mode,
    /// Master seed of the random streams.
    #[arg(long)]
    pub seed: u64,
    /// Worker threads [default: all cores]. Does not change the results.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Overwrite an existing output file.
    #[arg(long)]
    pub force: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The model named in a sample file's meta, read without loading the arrays.
fn peek_model(path: &Path) -> Result<String, NpzError> {
    const ALL: [&str; 1] = ["meta"];
    let in_file = |e: NpzError| NpzError::InFile {
        path: path.to_path_buf(),
        cause: Box::new(e),
    };
    let open = |cause| NpzError::Open {
        path: path.to_path_buf(),
        cause,
    };
    let f = std::fs::File::open(path).map_err(open)?;
    let len = f.metadata().map_err(open)?.len();
    let mut archive = Archive::open(std::io::BufReader::new(f), len, &ALL).map_err(in_file)?;
    let meta = archive.read_meta().map_err(in_file)?;
    meta_model_size(&meta).map(|(m, _)| m).map_err(in_file)
}

/// The rule named by `--rule`: a built-in name (`majority`, `decimation`, with `--block`,
/// default 2, for the model of the data) or a RULE.json path. A bare word that is neither
/// a built-in name nor an existing file is taken for a misspelt built-in name.
fn resolve_rule(args: &CoarsenArgs) -> Result<RuleFile> {
    if let Some(b) = Builtin::parse(&args.rule) {
        let model = peek_model(&args.data)?;
        let dims = match model.as_str() {
            "ising2d" => 2,
            "ising1d" => 1,
            _ => bail!(
                "the built-in rule {} is defined for ±1 spin data (ising1d, ising2d), and data \
                 file {} holds {model} samples",
                b.name(),
                args.data.display()
            ),
        };
        return b.rule_file(&model, dims, args.block.unwrap_or(2));
    }
    Builtin::check_spec(&args.rule)?;
    let path = Path::new(&args.rule);
    if args.block.is_some() {
        bail!(
            "--block applies to the built-in rules (majority, decimation) only; the rule file \
             {} fixes its own block",
            args.rule
        );
    }
    Ok(read_rule(path)?)
}

/// One source sample, ready to be coarse-grained.
enum Input {
    /// Ising spins (also coarse, multi-channel files).
    Spins(SampleFile),
    /// Dimer data as a 2L×2L 0/1 array per sample (`decorated`, or built from `links`
    /// with zero noise entries), `n · 4L²` bytes.
    Dimer {
        /// Sites per side L.
        size: usize,
        /// Number of samples.
        n: usize,
        /// The arrays.
        grids: Vec<u8>,
        /// Chain column.
        chain: Option<Vec<i64>>,
        /// Sweep column.
        sweep: Option<Vec<i64>>,
        /// The source meta.
        meta: Value,
    },
}

impl Input {
    fn meta(&self) -> &Value {
        match self {
            Input::Spins(f) => &f.meta,
            Input::Dimer { meta, .. } => meta,
        }
    }
    fn n(&self) -> usize {
        match self {
            Input::Spins(f) => f.n,
            Input::Dimer { n, .. } => *n,
        }
    }
    /// Side of the array the rule's blocks tile.
    fn side(&self) -> usize {
        match self {
            Input::Spins(f) => f.size,
            Input::Dimer { size, .. } => 2 * size,
        }
    }
}

/// Reads the data file, checking that it fits the rule; one sentence per mistake.
fn load(rule: &RuleFile, rule_path: &Path, data: &Path) -> Result<Input> {
    let model = peek_model(data)?;
    let refuse = || {
        anyhow::anyhow!(
            "rule {} is for model {} but data file {} holds {model} samples",
            rule_path.display(),
            rule.model,
            data.display()
        )
    };
    match rule.model.as_str() {
        "ising1d" | "ising2d" => {
            if model != rule.model {
                return Err(refuse());
            }
            let f = read_npz(data)?;
            if f.channels() != rule.channels {
                bail!(
                    "rule {} reads {} value(s) per site ({} visible units for a block of {} \
                     sites) but data file {} has {} channel(s)",
                    rule_path.display(),
                    rule.channels,
                    rule.visible,
                    rule.geometry.block_sites(),
                    data.display(),
                    f.channels()
                );
            }
            Ok(Input::Spins(f))
        }
        "dimer" => {
            if model != "dimer" {
                return Err(refuse());
            }
            load_dimer(rule, rule_path, data)
        }
        other => bail!("rule {} has unknown model {other}", rule_path.display()),
    }
}

/// Dimer data as 2L×2L arrays: the decorated arrays for an input `decorated` rule (the
/// file must have them), else the links placed in the same layout with zero noise
/// entries (docs/method.md#dimers-and-the-noise-decoration, [`crate::io::dimer_npz`]).
fn load_dimer(rule: &RuleFile, rule_path: &Path, data: &Path) -> Result<Input> {
    let f = read_dimer_npz(data)?;
    let l = f.size;
    let s = 2 * l;
    let grids = match rule.input.as_str() {
        "decorated" => f.decorated.clone().ok_or_else(|| {
            anyhow::anyhow!(
                "rule {} reads the decorated array (input decorated) but data file {} has no \
                 decorated arrays; use a rule trained with --input links",
                rule_path.display(),
                data.display()
            )
        })?,
        _ => {
            let mut g = vec![0u8; f.n * s * s];
            for (i, out) in g.chunks_exact_mut(s * s).enumerate() {
                let links = f.sample_links(i);
                for y in 0..l {
                    for x in 0..l {
                        out[2 * y * s + 2 * x + 1] = links[y * l + x];
                        out[(2 * y + 1) * s + 2 * x] = links[l * l + y * l + x];
                    }
                }
            }
            g
        }
    };
    Ok(Input::Dimer {
        size: l,
        n: f.n,
        grids,
        chain: f.chain,
        sweep: f.sweep,
        meta: f.meta,
    })
}

/// Runs `rsmi coarsen`; returns the JSON summary.
pub fn run(args: &CoarsenArgs) -> Result<Value> {
    if args.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    check_output_path(&args.out, args.force)?;
    let rule = resolve_rule(args)?;
    let coarsener = Coarsener::new(&rule)?;
    let input = load(&rule, Path::new(&args.rule), &args.data)?;
    let side = input.side();
    let coarse = coarsener
        .coarse_size(side)
        .with_context(|| format!("cannot coarse-grain {}", args.data.display()))?;
    let (dims, model) = match rule.geometry.kind {
        GeometryKind::Square => (2, "ising2d"),
        GeometryKind::Chain => (1, "ising1d"),
    };
    let hidden = coarsener.hidden();
    let coarse_sites = if dims == 2 { coarse * coarse } else { coarse };
    let n = input.n();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("could not start the worker threads")?;
    let mode = args.mode;
    let seed = args.seed;
    let chunks = n.div_ceil(CHUNK);
    let per_chunk = pool.install(|| {
        (0..chunks)
            .into_par_iter()
            .map(|ch| -> Result<Vec<(Vec<u8>, i64, i64)>> {
                let mut rng = stream(seed, ch as u64, 0);
                let mut done = Vec::new();
                for i in ch * CHUNK..n.min((ch + 1) * CHUNK) {
                    let mut up = vec![false; hidden * coarse_sites];
                    match &input {
                        Input::Spins(f) => {
                            let rows = if f.dims == 2 { f.size } else { 1 };
                            let per = SampleFile::bytes_per_sample(f.dims, f.size);
                            let bytes = f.sample(i);
                            let sources = (0..f.channels())
                                .map(|c| {
                                    PackedSpins::new(&bytes[c * per..(c + 1) * per], rows, f.size)
                                })
                                .collect::<Result<Vec<_>, _>>()?;
                            coarsener.coarsen(&sources, mode, &mut rng, &mut up)?;
                        }
                        Input::Dimer { size, grids, .. } => {
                            let s = 2 * size;
                            let g = Grid01::new(&grids[i * s * s..(i + 1) * s * s], s, s)?;
                            coarsener.coarsen(&[g], mode, &mut rng, &mut up)?;
                        }
                    }
                    let (e, m) = energy_magnetization(dims, coarse, &up[..coarse_sites]);
                    let mut packed = Vec::new();
                    pack_sample(&up, coarse, &mut packed);
                    done.push((packed, e, m));
                }
                Ok(done)
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let per_sample = per_chunk.into_iter().flatten();
    let mut spins = Vec::new();
    let mut energy = Vec::with_capacity(n);
    let mut magnetization = Vec::with_capacity(n);
    for (p, e, m) in per_sample {
        spins.extend_from_slice(&p);
        energy.push(e);
        magnetization.push(m);
    }
    let src_meta = input.meta();
    let src_model = src_meta
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    let src_step = src_meta.get("rg_step").and_then(Value::as_u64).unwrap_or(0);
    let coarse_of = src_meta
        .get("coarse_of")
        .and_then(Value::as_str)
        .map_or(src_model.clone(), str::to_string);
    let (chain, sweep) = match &input {
        Input::Spins(f) => (f.chain.clone(), f.sweep.clone()),
        Input::Dimer { chain, sweep, .. } => (chain.clone(), sweep.clone()),
    };
    let meta = json!({
        "format": "rsmi-samples-1",
        "model": model,
        "size": coarse,
        "channels": hidden,
        "rg_step": src_step + 1,
        "coarse_of": coarse_of,
        "mode": mode.name(),
        "seed": seed,
        "config": src_meta.get("config").cloned().unwrap_or(Value::Null),
        "rule": {
            "path": args.rule,
            "model": rule.model,
            "input": rule.input,
            "channels": rule.channels,
            "geometry": rule.geometry,
            "hidden": rule.hidden,
            "visible": rule.visible,
            "estimator": rule.estimator,
            "weights": rule.weights,
            "bias": rule.bias,
            "mi": rule.mi.as_ref().map(|m| json!({"unit": m.unit, "heldout": m.heldout})),
        },
        "source": {
            "path": args.data.display().to_string(),
            "model": src_model,
            "size": src_meta.get("size").cloned().unwrap_or(Value::Null),
            "samples": n,
            "rg_step": src_step,
            "format": src_meta.get("format").cloned().unwrap_or(Value::Null),
        },
        "coarsen": {
            "block": coarsener.block(),
            "tiling": "non-overlapping blocks, stride = block; block p (row-major) -> coarse site p",
            "stream_scheme": STREAM_SCHEME,
            "streams": "samples 256k..256k+255 use stream(seed, k, 0) in sample order; one 64-bit word per (block, hidden unit), blocks in order, units ascending; u = (word >> 11) * 2^-53",
            "sample_rule": "h_j = +1 iff u < 1 / (1 + exp(-2 a_j)), a_j = b_j + sum_i w_ji v_i",
            "tie_rule": "argmax: h_j = sign(a_j); a_j = 0 exactly -> +1 iff u < 1/2 (fair coin)",
            "energy_convention": "energy = -sum_<ij> s_i s_j on the coarse torus (total), magnetization = sum_i s_i; channel 0 when channels > 1",
        },
        "build": provenance::build_info(),
    });
    let file = SampleFile {
        dims,
        size: coarse,
        n,
        spins,
        energy,
        magnetization,
        chain,
        sweep,
        meta,
    };
    write_npz(&args.out, args.force, &file)
        .with_context(|| format!("could not write {}", args.out.display()))?;
    let sites = coarse_sites as f64;
    let mean = |x: &[i64], abs: bool| {
        x.iter()
            .map(|&v| if abs { (v as f64).abs() } else { v as f64 })
            .sum::<f64>()
            / (n as f64 * sites)
    };
    let summary = json!({
        "out": args.out.display().to_string(),
        "model": model,
        "size": coarse,
        "channels": hidden,
        "samples": n,
        "rg_step": src_step + 1,
        "mode": mode.name(),
        "seed": seed,
        "e": mean(&file.energy, false),
        "abs_m": mean(&file.magnetization, true),
    });
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(summary)
}
