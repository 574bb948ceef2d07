//! `rsmi`: parse the command line and dispatch; all logic lives in the library.

use clap::{Parser, Subcommand};
use rsmi_cli::command::{IsingModel, bench, bench_dimer, sample, sample_dimer};
use std::process::ExitCode;

/// rsmi: information-theoretic real-space renormalization group toolkit.
#[derive(Debug, Parser)]
#[command(name = "rsmi", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The whole pipeline on a built-in default (2D Ising at T_c: sample, learn the 2×2
    /// rule with 1 and 4 hidden units, compare with block spin and decimation, plot).
    Demo(rsmi_cli::command::demo::DemoArgs),
    /// Sample a lattice model and write an .npz file.
    #[command(subcommand)]
    Sample(SampleModel),
    /// Measure every Monte Carlo kernel of a model on this machine.
    #[command(subcommand)]
    Bench(BenchModel),
    /// Learn a coarse-graining rule from a sample file (RSMI) and write RULE.json.
    Train(Box<rsmi_cli::command::train::TrainArgs>),
    /// The information I(H:E) kept by a rule (RULE.json, majority or decimation).
    Mi(Box<rsmi_cli::command::mi::MiArgs>),
    /// Coarse-grain a sample file with a rule (one RG step) and write the coarse samples.
    Coarsen(rsmi_cli::command::coarsen::CoarsenArgs),
    /// Principal components, clusters and lattice symmetries of an ensemble of filters.
    Ensemble(Box<rsmi_cli::command::ensemble::EnsembleArgs>),
    /// I(H:E) against the buffer width (decay fits) or the temperature (boundaryness).
    Scan(Box<rsmi_cli::command::scan::ScanArgs>),
    /// Fit the couplings of a sample file by maximum pseudo-likelihood (jackknife errors).
    Couplings(rsmi_cli::command::couplings::CouplingsArgs),
    /// Swendsen's linearised MCRG: y_t and y_h of a fixed rule applied repeatedly.
    Mcrg(Box<rsmi_cli::command::mcrg::McrgArgs>),
    /// The RG flow of learned rules with intrinsic thermometers: T_c and nu (KJR Fig. 5).
    Flow(Box<rsmi_cli::command::flow::FlowArgs>),
    /// Join the shards of a job array (rsmi sample --job-index/--job-count) into one
    /// sample file.
    Merge(sample::MergeArgs),
    /// Draw figures (PNG or SVG).
    #[command(subcommand)]
    Plot(rsmi_cli::command::plot::PlotCommand),
}

#[derive(Debug, Subcommand)]
enum SampleModel {
    /// 2D Ising model on the L×L torus.
    Ising2d(sample::SampleArgs),
    /// 1D Ising model on a ring of L sites.
    Ising1d(sample::SampleArgs),
    /// Close-packed dimers on the L×L torus (directed loops; optional interaction and
    /// noise decoration).
    Dimer(sample_dimer::DimerArgs),
}

#[derive(Debug, Subcommand)]
enum BenchModel {
    /// 2D Ising kernels.
    Ising2d(bench::BenchArgs),
    /// 1D Ising kernels.
    Ising1d(bench::BenchArgs),
    /// Dimer kernels: worms and plaquette flips.
    Dimer(bench_dimer::DimerBenchArgs),
}

fn main() -> ExitCode {
    quiet_broken_pipe();
    // MPI (a build with --features mpi) starts before anything else and ends when
    // `_mpi` drops, after the command.
    let _mpi = rsmi_cli::cluster::init();
    run()
}

/// `rsmi … --json | head`: when the reader of stdout goes away, `println!` fails with
/// EPIPE (Rust ignores SIGPIPE) and panics. End quietly with status 141 instead, the
/// status a shell reports for a command stopped by SIGPIPE. Files are written atomically,
/// so nothing is left half-written.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let p = info.payload();
        let msg = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// The subcommand's name, for messages.
fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Demo(_) => "demo",
        Command::Sample(_) => "sample",
        Command::Bench(_) => "bench",
        Command::Train(_) => "train",
        Command::Mi(_) => "mi",
        Command::Coarsen(_) => "coarsen",
        Command::Couplings(_) => "couplings",
        Command::Mcrg(_) => "mcrg",
        Command::Flow(_) => "flow",
        Command::Merge(_) => "merge",
        Command::Scan(_) => "scan",
        Command::Ensemble(_) => "ensemble",
        Command::Plot(_) => "plot",
    }
}

fn run() -> ExitCode {
    let (rank, ranks) = rsmi_cli::cluster::world_rank_size();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // An unknown model: one line naming the known ones, not clap's usage block.
        Err(e) if e.kind() == clap::error::ErrorKind::InvalidSubcommand => {
            let first = e.to_string();
            let first = first.lines().next().unwrap_or("unknown subcommand");
            if rank == 0 {
                eprintln!("{first} (run with --help for the list)");
            }
            return ExitCode::from(2);
        }
        // Every rank parses the same arguments: only rank 0 prints help or the error.
        Err(e) if rank != 0 => return ExitCode::from(e.exit_code() as u8),
        Err(e) => e.exit(),
    };
    let mpi_aware = matches!(
        cli.command,
        Command::Sample(_) | Command::Train(_) | Command::Flow(_) | Command::Bench(_)
    );
    if !mpi_aware {
        if let Err(e) = rsmi_cli::cluster::refuse_mpi(command_name(&cli.command)) {
            if rank == 0 {
                eprintln!("error: {e:#}");
            }
            return ExitCode::FAILURE;
        }
    }
    let result = match &cli.command {
        Command::Sample(SampleModel::Ising2d(a)) => sample::run(&sample::SampleArgs {
            model: IsingModel::Ising2d,
            ..a.clone()
        })
        .map(|_| ()),
        Command::Sample(SampleModel::Ising1d(a)) => sample::run(&sample::SampleArgs {
            model: IsingModel::Ising1d,
            ..a.clone()
        })
        .map(|_| ()),
        Command::Demo(a) => rsmi_cli::command::demo::run(a).map(|_| ()),
        Command::Sample(SampleModel::Dimer(a)) => sample_dimer::run(a).map(|_| ()),
        Command::Bench(BenchModel::Ising2d(a)) => bench::run(&bench::BenchArgs {
            model: IsingModel::Ising2d,
            ..a.clone()
        })
        .map(|_| ()),
        Command::Bench(BenchModel::Ising1d(a)) => bench::run(&bench::BenchArgs {
            model: IsingModel::Ising1d,
            ..a.clone()
        })
        .map(|_| ()),
        Command::Bench(BenchModel::Dimer(a)) => bench_dimer::run(a).map(|_| ()),
        Command::Train(a) => rsmi_cli::command::train::run(a).map(|_| ()),
        Command::Mi(a) => rsmi_cli::command::mi::run(a).map(|_| ()),
        Command::Coarsen(a) => rsmi_cli::command::coarsen::run(a).map(|_| ()),
        Command::Couplings(a) => rsmi_cli::command::couplings::run(a).map(|_| ()),
        Command::Mcrg(a) => rsmi_cli::command::mcrg::run(a).map(|_| ()),
        Command::Flow(a) => rsmi_cli::command::flow::run(a).map(|_| ()),
        Command::Merge(a) => sample::merge(a).map(|_| ()),
        Command::Scan(a) => rsmi_cli::command::scan::run(a).map(|_| ()),
        Command::Ensemble(a) => rsmi_cli::command::ensemble::run(a).map(|_| ()),
        Command::Plot(p) => rsmi_cli::command::plot::run(p).map(|_| ()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let stopped = e.downcast_ref::<sample::StoppedAfterCheckpoint>().is_some();
            let collective = stopped || e.downcast_ref::<rsmi_cli::cluster::Collective>().is_some();
            if ranks > 1 && !collective {
                // A failure of this rank alone: say which, and end the others too.
                eprintln!("error: rank {rank}: {e:#}");
                rsmi_cli::cluster::abort_world(1);
            }
            if rank == 0 {
                eprintln!("error: {e:#}");
            }
            if stopped {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
