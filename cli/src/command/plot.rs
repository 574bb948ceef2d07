//! `rsmi plot`: figures. `rsmi plot weights RULE.json --out FILE.png|svg` draws a rule's
//! weights (see [`crate::plot`]); further plot kinds become further subcommands.

use std::path::PathBuf;

use anyhow::Result;
use serde_json::{Value, json};

use crate::learn::rule_file::read_rule;
use crate::plot::plot_rule;

/// The kinds of plot.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum PlotCommand {
    /// Draw the weights of a coarse-graining rule (heat maps per hidden unit; bars for
    /// chains; dimer blocks in place on the lattice).
    Weights(WeightsArgs),
}

/// Arguments of `rsmi plot weights`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
The format follows the extension of --out: .png (no fonts needed: short labels H<j> and \
C<c> and the colour-bar values in a built-in pixel font) or .svg (full titles as text). \
Colours: blue < 0 < red, white = 0, on one scale symmetric around 0 for all panels.")]
pub struct WeightsArgs {
    /// The rule file (RULE.json).
    pub rule: PathBuf,
    /// Output figure (.png or .svg).
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite an existing output file.
    #[arg(long)]
    pub force: bool,
}

/// Runs `rsmi plot …`; returns a small JSON summary.
pub fn run(cmd: &PlotCommand) -> Result<Value> {
    match cmd {
        PlotCommand::Weights(a) => {
            let rule = read_rule(&a.rule)?;
            plot_rule(&rule, &a.out, a.force)?;
            Ok(json!({
                "rule": a.rule.display().to_string(),
                "out": a.out.display().to_string(),
                "model": rule.model,
                "hidden": rule.hidden,
                "channels": rule.channels,
            }))
        }
    }
}
