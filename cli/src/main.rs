//! `rsmi`: parse the command line and dispatch; all logic lives in the library.

use clap::{Parser, Subcommand};
use rsmi_cli::command::{bench, sample};
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
    /// Sample the 1D or 2D Ising model and write an .npz file.
    Sample(sample::SampleArgs),
    /// Measure every Monte Carlo kernel on this machine.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Sample(a) => sample::run(a).map(|_| ()),
        Command::Bench(a) => bench::run(a).map(|_| ()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<sample::StoppedAfterCheckpoint>().is_some() {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
