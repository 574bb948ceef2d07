//! Built-in rules (Kadanoff's block spin and decimation) and exact joint tables P(V, E)
//! derived from a sample file's `meta` (the `exact` estimator, docs/method.md#exact).
//!
//! Built-in rules, one hidden unit, ±1 data only:
//! - `majority`: h = sgn Σ_i v_i over all |V| units, ties split 50/50;
//! - `decimation`: h = v_0 (the first site of the block, row-major; channel 0).
//!
//! As Λ-RBM weights (for the `im` estimator) they are λ = β·(1, …, 1) and λ = β·e_0 with
//! b = 0 and β = [`BUILTIN_BETA`]: a pre-activation of magnitude ≥ β wherever the rule is
//! deterministic, so P(h|v) differs from 0/1 by < e^{−2β} ≈ 2·10⁻⁹, below `f32`
//! resolution, and a = 0 exactly at a tie (P = ½). The `exact` estimator uses the exact
//! channel tables of [`rsmi_core::learn::exact`] instead.

use anyhow::{Result, bail};
use rsmi_core::learn::exact;
use rsmi_core::learn::geometry::Block;

use super::dataset::{Geometry, Model, SampleSet};
use super::rule_file::{self, GeometryKind, GeometrySpec, RuleFile};
use super::train::JointTable;

/// Weight magnitude of the built-in rules as Λ-RBMs.
pub const BUILTIN_BETA: f32 = 10.0;

/// Required accuracy of the infinite-chain approximation of a finite ring.
pub const RING_TOLERANCE: f64 = 1e-9;

/// A built-in rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// Block spin, ties 50/50.
    Majority,
    /// Keep the first spin.
    Decimation,
}

impl Builtin {
    /// Parse `majority` / `decimation`.
    pub fn parse(s: &str) -> Option<Builtin> {
        match s {
            "majority" => Some(Builtin::Majority),
            "decimation" => Some(Builtin::Decimation),
            _ => None,
        }
    }

    /// Refuses a `--rule` value that is neither a built-in name nor an existing file and
    /// looks like a name rather than a path (one component, no extension): a misspelt
    /// built-in rule, named as such with the accepted values instead of being reported as
    /// a missing file.
    pub fn check_spec(spec: &str) -> Result<()> {
        let path = std::path::Path::new(spec);
        let bare = path.components().count() == 1 && path.extension().is_none();
        if Builtin::parse(spec).is_none() && bare && !path.exists() {
            bail!(
                "unknown built-in rule '{spec}' (expected majority, decimation, or a RULE.json path)"
            );
        }
        Ok(())
    }

    /// Name.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Majority => "majority",
            Builtin::Decimation => "decimation",
        }
    }

    /// Λ-RBM weights (one hidden unit) over `visible` units.
    pub fn weights(self, visible: usize) -> Vec<f32> {
        match self {
            Builtin::Majority => vec![BUILTIN_BETA; visible],
            Builtin::Decimation => {
                let mut w = vec![0.0; visible];
                w[0] = BUILTIN_BETA;
                w
            }
        }
    }

    /// The rule as an in-memory RULE.json for `rsmi coarsen` (and the MCRG code): one
    /// hidden unit with the weights of [`Builtin::weights`] (β = [`BUILTIN_BETA`] on every
    /// site for majority, so a tie has activation exactly 0 and `--mode argmax` breaks it
    /// with a fair coin; β·e_0 for decimation), bias 0, a `square` (2D) or `chain` (1D)
    /// block of side `block` (buffer 1, env 2: only the block matters for coarse-graining),
    /// estimator `builtin`. `model` is `ising1d` or `ising2d` and must agree with `dims`.
    pub fn rule_file(self, model: &str, dims: usize, block: usize) -> Result<RuleFile> {
        let kind = match (model, dims) {
            ("ising2d", 2) => GeometryKind::Square,
            ("ising1d", 1) => GeometryKind::Chain,
            ("ising1d" | "ising2d", _) => {
                bail!("model {model} is not {dims}-dimensional")
            }
            _ => bail!(
                "the built-in rule {} is defined for ±1 spin data (ising1d, ising2d), not {model}",
                self.name()
            ),
        };
        if block == 0 {
            bail!("--block must be at least 1");
        }
        let geometry = GeometrySpec {
            kind,
            block,
            buffer: 1,
            env: 2,
        };
        let visible = geometry.block_sites();
        let weights = vec![self.weights(visible).into_iter().map(f64::from).collect()];
        let rule = RuleFile {
            format: rule_file::FORMAT.into(),
            model: model.into(),
            input: "spins".into(),
            channels: 1,
            geometry,
            hidden: 1,
            visible,
            estimator: "builtin".into(),
            filters: rule_file::normalise(&weights),
            weights,
            bias: vec![0.0],
            mi: None,
            trace: vec![],
            config: serde_json::json!({"builtin": self.name(), "block": block}),
            data: serde_json::Value::Null,
            provenance: crate::provenance::build_info(),
        };
        rule.validate()
            .map_err(|e| anyhow::anyhow!("built-in rule {}: {e}", self.name()))?;
        Ok(rule)
    }

    /// The exact channel table P(h|v) (module indexing of [`rsmi_core::learn::exact`]).
    pub fn channel(self, visible: usize) -> Result<Vec<f64>> {
        let mut t = vec![0.0; exact::visible_states(visible)? * 2];
        match self {
            Builtin::Majority => exact::majority_channel(visible, &mut t)?,
            Builtin::Decimation => exact::spin_channel(visible, &[0], &mut t)?,
        }
        Ok(t)
    }
}

/// Temperature of an Ising sample file (meta.config.temperature), with a zero field.
fn temperature(set: &SampleSet) -> Result<f64> {
    let t = set.config_number("temperature").ok_or_else(|| {
        anyhow::anyhow!(
            "the exact estimator needs the temperature in the data's meta.config, and {} has none",
            set.path.display()
        )
    })?;
    if !(t.is_finite() && t > 0.0) {
        bail!("the data's meta.config.temperature ({t}) is not a positive number");
    }
    if set.config_number("field").is_some_and(|h| h != 0.0) {
        bail!(
            "the exact estimator supports zero field only, and the data were sampled with a field"
        );
    }
    Ok(t)
}

/// Smallest ring for which the infinite-chain joint table of a window of `span` spins
/// holds to [`RING_TOLERANCE`] at coupling K: corrections are O(t^{L − span}),
/// t = tanh K.
pub fn min_ring(coupling: f64, span: usize) -> usize {
    let t = coupling.tanh();
    if t <= 0.0 {
        return span;
    }
    span + (RING_TOLERANCE.ln() / t.ln()).ceil() as usize
}

/// The exact joint table for `set` and `geometry` (see [`crate::learn::train`] and the
/// module docs): ising1d (infinite-chain formula; E = the two spins adjacent to the
/// buffers, which carries all of I(V:E) by the Markov property, whatever `env`; the ring
/// of L sites is approximated by the infinite chain, refused when L is too small for that
/// to hold to 10⁻⁹), or an ising2d torus with L ≤ 4 by enumeration. One clear error
/// otherwise.
pub fn exact_table(
    set: &SampleSet,
    geometry: &Geometry,
    block: usize,
    buffer: usize,
) -> Result<JointTable> {
    if set.channels != 1 {
        bail!(
            "the exact estimator needs single-channel Ising data (the file has {} channels)",
            set.channels
        );
    }
    match set.model {
        Model::Ising1d => {
            let t = temperature(set)?;
            let k = 1.0 / t;
            let span = block + 2 * buffer + 2;
            let need = min_ring(k, span);
            if set.size() < need {
                bail!(
                    "the exact estimator approximates the ring of L = {} sites by the infinite \
                     chain, which at T = {t} holds to 1e-9 only for L ≥ {need}",
                    set.size()
                );
            }
            let nv = exact::visible_states(block)?;
            let mut joint = vec![0.0; nv * exact::CHAIN_ENV_STATES];
            exact::chain_joint(k, block, buffer, &mut joint)?;
            Ok(JointTable {
                visible: block,
                env_states: exact::CHAIN_ENV_STATES,
                joint,
                description: format!(
                    "infinite Ising chain at K = 1/T = {k} (transfer matrix); E = the two spins \
                     next to the buffers (Markov property); ring of L = {} approximated to 1e-9",
                    set.size()
                ),
            })
        }
        Model::Ising2d => {
            let l = set.size();
            if l > 4 {
                bail!(
                    "the exact estimator enumerates 2D tori up to L = 4 only (the data have L = {l}); \
                     use --estimator im"
                );
            }
            let t = temperature(set)?;
            let sites = l * l;
            let mut bonds = vec![[0usize; 2]; 2 * sites];
            let nb = exact::torus_bonds(l, l, &mut bonds)?;
            let at = |(r, c): (isize, isize)| -> usize {
                (r.rem_euclid(l as isize) as usize) * l + c.rem_euclid(l as isize) as usize
            };
            let vis: Vec<usize> = (0..geometry.visible_len())
                .map(|k| at(geometry.visible_offset(k)))
                .collect();
            let env: Vec<usize> = (0..geometry.env_len())
                .map(|k| at(geometry.env_offset(k)))
                .collect();
            let ne = 1usize << env.len();
            let mut joint = vec![0.0; exact::visible_states(vis.len())? * ne];
            exact::enumerate_joint(sites, &bonds[..nb], 1.0 / t, &vis, &env, &mut joint)?;
            Ok(JointTable {
                visible: vis.len(),
                env_states: ne,
                joint,
                description: format!("enumeration of the {l}×{l} Ising torus at T = {t}"),
            })
        }
        Model::Dimer => bail!(
            "the exact estimator needs ising1d data with a temperature, or a 2D Ising torus \
             with L ≤ 4; P(V, E) of dimer data is not known exactly"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_weights_and_channels() {
        assert_eq!(Builtin::parse("majority"), Some(Builtin::Majority));
        assert_eq!(Builtin::parse("x"), None);
        assert_eq!(Builtin::Decimation.weights(3), vec![BUILTIN_BETA, 0.0, 0.0]);
        let t = Builtin::Majority.channel(2).unwrap();
        // v = (−,−), (+,−), (−,+), (+,+): P(h=+) = 0, ½, ½, 1.
        assert_eq!(t, vec![1.0, 0.0, 0.5, 0.5, 0.5, 0.5, 0.0, 1.0]);
    }

    #[test]
    fn builtin_rule_files() {
        let r = Builtin::Majority.rule_file("ising2d", 2, 3).unwrap();
        assert_eq!((r.visible, r.hidden, r.channels), (9, 1, 1));
        assert_eq!(r.geometry.kind, GeometryKind::Square);
        assert_eq!(r.weights, vec![vec![f64::from(BUILTIN_BETA); 9]]);
        assert_eq!(r.bias, vec![0.0]);
        assert_eq!(r.estimator, "builtin");
        let d = Builtin::Decimation.rule_file("ising1d", 1, 2).unwrap();
        assert_eq!(d.geometry.kind, GeometryKind::Chain);
        assert_eq!(d.weights, vec![vec![f64::from(BUILTIN_BETA), 0.0]]);
        assert_eq!(d.filters, vec![vec![1.0, 0.0]]);
        assert!(Builtin::Majority.rule_file("dimer", 2, 2).is_err());
        assert!(Builtin::Majority.rule_file("ising2d", 1, 2).is_err());
        assert!(Builtin::Majority.rule_file("ising2d", 2, 0).is_err());
    }

    #[test]
    fn ring_bound() {
        // K = 1: t = 0.7616, t^76 ≈ 1e-9.
        let l = min_ring(1.0, 6);
        let t = 1.0f64.tanh();
        assert!(t.powi((l - 6) as i32) <= 1e-9 && t.powi((l - 7) as i32) > 1e-9);
    }
}
