//! RULE.json: a learned (or built-in) coarse-graining rule P_Λ(H|V) with its geometry,
//! the MI it reached, its training trace and provenance.
//!
//! ```json
//! {
//!   "format": "rsmi-rule-1",
//!   "model": "ising2d",              // ising1d | ising2d | dimer (from the data's meta)
//!   "input": "spins",                // spins (±1) | links | decorated (0/1)
//!   "channels": 1,                   // values per site (> 1 for coarse data with N_h > 1)
//!   "geometry": {"kind": "square", "block": 2, "buffer": 1, "env": 2},
//!   "hidden": 1,
//!   "visible": 4,                    // channels · block² (square) or channels · block (chain)
//!   "estimator": "im",
//!   "weights": [[0.9, 1.0, 1.1, 0.95]],   // [hidden][site of V, row-major; channel-major]
//!   "bias": [0.0],
//!   "filters": [[0.48, 0.51, 0.53, 0.48]],// weights_j / ‖weights_j‖
//!   "mi": {"unit": "nats", "train": 0.40, "heldout": 0.40, "best_restart": 3,
//!          "mean": 0.399, "err": 0.001, "restarts": [ … ]},
//!   "trace": [{"epoch": 1, "train": 0.2, "heldout": 0.21, "weight_norm": 1.3}, …],
//!   "config": { … },                 // every training setting, seeds included
//!   "data": { … },                   // the sample file and its meta.config
//!   "provenance": { … }              // version, git revision, SIMD level
//! }
//! ```
//!
//! For `dimer` rules with input `links` or `decorated`, V is a block of the 2L×2L
//! decorated array (docs/method.md#dimers-and-the-noise-decoration): with `links`, the noise entries are absent from
//! the data (zero) and their weights are exactly zero.
//!
//! [`read_rule`] is strict: any inconsistency (unknown model, weights of the wrong shape,
//! non-finite numbers, a geometry that does not add up) is one clear error.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::io::atomic::write_atomic;

/// The format tag of rule files.
pub const FORMAT: &str = "rsmi-rule-1";

/// Largest rule file accepted by the reader (bytes).
pub const MAX_RULE_BYTES: u64 = 64 << 20;

/// Block geometry of a rule (docs/method.md#geometry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeometrySpec {
    /// `square` (2D periodic lattice) or `chain` (1D).
    pub kind: GeometryKind,
    /// Linear size L_V of the visible block.
    pub block: usize,
    /// Buffer width L_B.
    pub buffer: usize,
    /// Environment width L_E.
    pub env: usize,
}

/// Lattice kind of a geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GeometryKind {
    /// 2D square lattice, periodic.
    Square,
    /// 1D chain.
    Chain,
}

impl GeometrySpec {
    /// Sites of V per channel: block² (square) or block (chain).
    pub fn block_sites(&self) -> usize {
        match self.kind {
            GeometryKind::Square => self.block.saturating_mul(self.block),
            GeometryKind::Chain => self.block,
        }
    }
}

/// One training restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestartSummary {
    /// Restart index.
    pub restart: usize,
    /// Seed of this restart's initialisation and minibatch order.
    pub seed: u64,
    /// Final estimate on the training pairs (nats).
    pub train: f64,
    /// Final (best) estimate on the held-out pairs (nats).
    pub heldout: f64,
    /// Epochs run.
    pub epochs: usize,
    /// Largest ‖λ_j‖ at the end.
    pub weight_norm: f64,
    /// The weights of this restart, [hidden][visible].
    pub weights: Vec<Vec<f64>>,
    /// The biases of this restart.
    pub bias: Vec<f64>,
}

/// MI figures of a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MiSummary {
    /// Always "nats".
    pub unit: String,
    /// Best restart's estimate on the training pairs.
    pub train: f64,
    /// Best restart's estimate on the held-out pairs.
    pub heldout: f64,
    /// Index of the best restart (by held-out estimate).
    pub best_restart: usize,
    /// Mean held-out estimate over restarts.
    pub mean: f64,
    /// Standard error of that mean over restarts.
    pub err: f64,
    /// Every restart.
    pub restarts: Vec<RestartSummary>,
}

/// One point of the training trace.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TracePoint {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Estimate on the training pairs (mean over the epoch's minibatches).
    pub train: f64,
    /// Estimate on the held-out pairs.
    pub heldout: f64,
    /// Largest ‖λ_j‖.
    pub weight_norm: f64,
}

/// A rule file in memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleFile {
    /// [`FORMAT`].
    pub format: String,
    /// ising1d, ising2d or dimer.
    pub model: String,
    /// spins, links or decorated.
    pub input: String,
    /// Values per site (1 unless the data are multi-channel coarse samples).
    pub channels: usize,
    /// Block geometry.
    pub geometry: GeometrySpec,
    /// Number of hidden units N_h.
    pub hidden: usize,
    /// Number of visible units |V| = channels · block sites.
    pub visible: usize,
    /// Estimator used for training (`im`, `rbm`, `exact`, or `builtin` for built-in rules).
    pub estimator: String,
    /// Weights λ, `[hidden][visible]`.
    pub weights: Vec<Vec<f64>>,
    /// Biases b, `[hidden]`.
    pub bias: Vec<f64>,
    /// Normalised filters λ_j / ‖λ_j‖.
    pub filters: Vec<Vec<f64>>,
    /// MI figures (absent for built-in rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mi: Option<MiSummary>,
    /// Training trace of the best restart.
    #[serde(default)]
    pub trace: Vec<TracePoint>,
    /// Training settings.
    #[serde(default)]
    pub config: Value,
    /// The data the rule was trained on.
    #[serde(default)]
    pub data: Value,
    /// Build provenance.
    #[serde(default)]
    pub provenance: Value,
}

/// Why a rule file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The file could not be read.
    #[error("could not read rule file {path}: {cause}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The I/O error (part of this message, not a separate `source()`, so that a
        /// printed error chain names it once).
        cause: std::io::Error,
    },
    /// The file is too large to be a rule.
    #[error("rule file {0} is larger than 64 MiB; not a rule file")]
    TooLarge(PathBuf),
    /// Not JSON of the rule schema.
    #[error("rule file {path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Normalised filters λ_j / ‖λ_j‖ (a zero row stays zero).
pub fn normalise(weights: &[Vec<f64>]) -> Vec<Vec<f64>> {
    weights
        .iter()
        .map(|row| {
            let n = row.iter().map(|x| x * x).sum::<f64>().sqrt();
            row.iter()
                .map(|x| if n > 0.0 { x / n } else { 0.0 })
                .collect()
        })
        .collect()
}

impl RuleFile {
    /// Checks the schema's internal consistency; the error is one sentence.
    pub fn validate(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("format is {:?}, expected {FORMAT:?}", self.format));
        }
        let inputs: &[&str] = match self.model.as_str() {
            "ising1d" | "ising2d" => &["spins"],
            "dimer" => &["links", "decorated"],
            m => return Err(format!("unknown model {m:?} (ising1d, ising2d or dimer)")),
        };
        if !inputs.contains(&self.input.as_str()) {
            return Err(format!(
                "input {:?} does not fit model {} (expected {})",
                self.input,
                self.model,
                inputs.join(" or ")
            ));
        }
        let g = &self.geometry;
        let want_kind = if self.model == "ising1d" {
            GeometryKind::Chain
        } else {
            GeometryKind::Square
        };
        if g.kind != want_kind {
            return Err(format!(
                "geometry kind {:?} does not fit model {}",
                g.kind, self.model
            ));
        }
        if g.block == 0 || g.env == 0 || g.block > 4096 || g.buffer > 4096 || g.env > 4096 {
            return Err("geometry needs block ≥ 1 and env ≥ 1 (and sizes ≤ 4096)".into());
        }
        if self.channels == 0 || self.channels > 8 {
            return Err(format!("channels must be 1 to 8 (got {})", self.channels));
        }
        let visible = self.channels.saturating_mul(g.block_sites());
        if self.visible != visible {
            return Err(format!(
                "visible is {} but channels × block sites = {visible}",
                self.visible
            ));
        }
        if self.hidden == 0 || self.hidden > rsmi_core::learn::rule::MAX_HIDDEN {
            return Err(format!("hidden must be 1 to 8 (got {})", self.hidden));
        }
        for (name, rows) in [("weights", &self.weights), ("filters", &self.filters)] {
            if rows.len() != self.hidden || rows.iter().any(|r| r.len() != self.visible) {
                return Err(format!(
                    "{name} must be {} rows of {} numbers",
                    self.hidden, self.visible
                ));
            }
            if rows.iter().flatten().any(|x| !x.is_finite()) {
                return Err(format!("{name} hold a non-finite number"));
            }
        }
        if self.bias.len() != self.hidden || self.bias.iter().any(|x| !x.is_finite()) {
            return Err(format!("bias must be {} finite numbers", self.hidden));
        }
        Ok(())
    }

    /// Weights flattened row-major `[hidden][visible]`.
    pub fn flat_weights(&self) -> Vec<f64> {
        self.weights.iter().flatten().copied().collect()
    }
}

/// Reads and validates a rule file.
pub fn read_rule(path: &Path) -> Result<RuleFile, RuleError> {
    let open = |cause| RuleError::Open {
        path: path.to_path_buf(),
        cause,
    };
    let len = std::fs::metadata(path).map_err(open)?.len();
    if len > MAX_RULE_BYTES {
        return Err(RuleError::TooLarge(path.to_path_buf()));
    }
    let bytes = std::fs::read(path).map_err(open)?;
    parse_rule(&bytes).map_err(|reason| RuleError::Invalid {
        path: path.to_path_buf(),
        reason,
    })
}

/// Parses and validates rule JSON held in memory; never panics.
pub fn parse_rule(bytes: &[u8]) -> Result<RuleFile, String> {
    let rule: RuleFile =
        serde_json::from_slice(bytes).map_err(|e| format!("not a valid rule file: {e}"))?;
    rule.validate()?;
    Ok(rule)
}

/// Writes a rule file atomically (validated first); refuses to overwrite unless `force`.
pub fn write_rule(path: &Path, force: bool, rule: &RuleFile) -> anyhow::Result<()> {
    rule.validate()
        .map_err(|e| anyhow::anyhow!("refusing to write {}: {e}", path.display()))?;
    let text = serde_json::to_string_pretty(rule).context("could not serialize the rule")?;
    write_atomic(path, force, |f| {
        use std::io::Write;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> RuleFile {
        let weights = vec![vec![1.0, 2.0, 2.0, 4.0]];
        RuleFile {
            format: FORMAT.into(),
            model: "ising2d".into(),
            input: "spins".into(),
            channels: 1,
            geometry: GeometrySpec {
                kind: GeometryKind::Square,
                block: 2,
                buffer: 1,
                env: 2,
            },
            hidden: 1,
            visible: 4,
            estimator: "im".into(),
            filters: normalise(&weights),
            weights,
            bias: vec![0.0],
            mi: None,
            trace: vec![],
            config: Value::Null,
            data: Value::Null,
            provenance: Value::Null,
        }
    }

    #[test]
    fn round_trip_and_normalised_filters() {
        let r = rule();
        assert_eq!(r.filters[0], vec![0.2, 0.4, 0.4, 0.8]);
        let text = serde_json::to_vec(&r).unwrap();
        assert_eq!(parse_rule(&text).unwrap(), r);
    }

    #[test]
    fn inconsistent_rules_are_refused() {
        type Mutation = Box<dyn Fn(&mut RuleFile)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|r| r.format = "x".into()), "format"),
            (Box::new(|r| r.model = "potts".into()), "unknown model"),
            (Box::new(|r| r.input = "links".into()), "does not fit"),
            (Box::new(|r| r.visible = 5), "visible"),
            (
                Box::new(|r| r.weights[0].pop().map(|_| ()).unwrap()),
                "weights",
            ),
            (Box::new(|r| r.weights[0][1] = f64::NAN), "non-finite"),
            (Box::new(|r| r.hidden = 2), "rows"),
            (Box::new(|r| r.bias.clear()), "bias"),
            (Box::new(|r| r.geometry.env = 0), "env"),
            (
                Box::new(|r| r.geometry.kind = GeometryKind::Chain),
                "geometry kind",
            ),
        ];
        for (mutate, needle) in cases {
            let mut r = rule();
            mutate(&mut r);
            let e = r.validate().unwrap_err();
            assert!(e.contains(needle), "{needle}: {e}");
            // Through JSON too (NaN becomes null there, refused by the parser).
            let text = serde_json::to_vec(&r).unwrap();
            assert!(parse_rule(&text).is_err(), "{needle}");
        }
        assert!(parse_rule(b"not json").unwrap_err().contains("not a valid"));
        assert!(parse_rule(b"").is_err());
    }
}
