//! A progress bar on stderr, hidden when stderr is not a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Progress of a long run, counted in sweeps.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar for `total` units with a prefix.
    pub fn new(total: u64, prefix: &str) -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix}[{elapsed_precise}] {bar:40} {pos}/{len} sweeps (eta {eta})",
        ) {
            bar.set_style(style);
        }
        bar.set_prefix(prefix.to_string());
        Progress { bar }
    }
    /// Set the position.
    pub fn set(&self, pos: u64) {
        self.bar.set_position(pos);
    }
    /// Remove the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
