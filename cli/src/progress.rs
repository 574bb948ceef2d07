//! A progress bar on stderr, hidden when stderr is not a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Progress of a long run, counted in sweeps (or another unit).
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar for `total` sweeps with a prefix.
    pub fn new(total: u64, prefix: &str) -> Self {
        Self::with_unit(total, prefix, "sweeps")
    }

    /// A bar for `total` units named `unit` (plural) with a prefix.
    pub fn with_unit(total: u64, prefix: &str, unit: &str) -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        if let Ok(style) = ProgressStyle::with_template(&format!(
            "{{prefix}}[{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} {unit} (eta {{eta}})"
        )) {
            bar.set_style(style);
        }
        bar.set_prefix(prefix.to_string());
        Progress { bar }
    }
    /// Set the position.
    pub fn set(&self, pos: u64) {
        self.bar.set_position(pos);
    }
    /// Advance the position by `delta` (safe from several threads).
    pub fn inc(&self, delta: u64) {
        self.bar.inc(delta);
    }
    /// Remove the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
