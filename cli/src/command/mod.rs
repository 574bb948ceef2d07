//! The subcommands. Each has an argument struct (parsed by clap in `main.rs`) and a
//! `run` function that returns an error instead of exiting.

pub mod bench;
pub mod bench_dimer;
pub mod coarsen;
pub mod couplings;
pub mod demo;
pub mod ensemble;
pub mod flow;
pub mod mcrg;
pub mod mi;
pub mod plot;
pub mod sample;
pub mod sample_dimer;
pub mod scan;
pub mod train;

/// Which Ising model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IsingModel {
    /// Square-lattice L×L torus.
    Ising2d,
    /// Ring of L sites.
    Ising1d,
}

impl IsingModel {
    /// Dimension.
    pub fn dim(self) -> rsmi_core::ising::Dim {
        match self {
            IsingModel::Ising2d => rsmi_core::ising::Dim::Two,
            IsingModel::Ising1d => rsmi_core::ising::Dim::One,
        }
    }
    /// Name as written in files and JSON.
    pub fn name(self) -> &'static str {
        match self {
            IsingModel::Ising2d => "ising2d",
            IsingModel::Ising1d => "ising1d",
        }
    }
}
