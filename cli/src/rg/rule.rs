//! A coarse-graining rule with one binary coarse spin per block, ready to be applied again
//! and again to packed samples (MCRG, the RG flow).
//!
//! - Built-in rules (`majority`, `decimation`) and one-hidden-unit rules from RULE.json are
//!   used as they are. A RULE.json with N_h > 1 hidden units needs `unit`: the coarse spin is
//!   then hidden unit `unit` alone, drawn from its marginal P(h_unit | V) (the rule factorises
//!   over hidden units, so this marginal is exact); the other units are ignored. Without
//!   `unit` such a rule is refused: iterating it would need several channels per coarse site,
//!   which the lattice operators of MCRG do not describe.
//! - [`BlockRule::symmetrize`] projects the filter onto the block's symmetric filters: the
//!   weights of every orbit of the block's symmetry group (the eight rotations and reflections
//!   of a square block, the reflection of a chain block) are replaced by their mean, and the
//!   bias is set to 0 (the global spin flip). A learned 2×2 rule at a large norm breaks the
//!   2–2 ties of the block with one weak site, which site depending on the seed; its coarse
//!   lattice is then anisotropic (`rsmi couplings --operators nn_x,nn_y` measures it). The
//!   symmetrised rule is the uniform block spin of the same norm, with exact ties
//!   (activation exactly 0, a fair coin).
//! - The sign of a learned rule is a gauge choice: λ, b → −λ, −b only relabels the coarse
//!   spin (h → −h). Rules read from RULE.json are brought to Σλ ≥ 0 (`sign_flipped` says
//!   when that happened), so that a coarse spin follows the majority of its block and the
//!   odd operators keep their sign from level to level (otherwise T's odd eigenvalue would
//!   be −b^{y_h}).
//! - Probabilities are computed with [`crate::learn::coarsen::prob_up`], so that applying a
//!   rule here draws exactly the same coarse spins as `rsmi coarsen` with the same stream.

use anyhow::{Result, bail};
use rsmi_core::rg::coarsen::{Draw, coarsen_1d, coarsen_2d, rule_tables};
use rsmi_core::rng::Xoshiro256PlusPlus;
use serde_json::{Value, json};

use crate::learn::builtin::Builtin;
use crate::learn::coarsen::{Mode, prob_up};
use crate::learn::rule_file::{GeometryKind, RuleFile, read_rule};

/// Largest number of block sites (the rule is tabulated over 2^|V| block states).
pub const MAX_BLOCK_SITES: usize = 16;

/// Whether to symmetrise a rule before use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Symmetry {
    /// Average the weights over the block's symmetry group and drop the bias.
    Block,
    /// Use the rule as given.
    None,
}

/// A rule with one binary output per block.
#[derive(Debug, Clone)]
pub struct BlockRule {
    /// `majority`, `decimation` or the RULE.json path.
    pub name: String,
    /// 1 (chain blocks) or 2 (square blocks).
    pub dims: usize,
    /// Block side.
    pub block: usize,
    /// λ over the block sites (row-major within a square block).
    pub weights: Vec<f64>,
    /// Bias b.
    pub bias: f64,
    /// The hidden unit used, for a rule file with several.
    pub unit: Option<usize>,
    /// Whether [`Self::symmetrize`] was applied.
    pub symmetrized: bool,
    /// Whether the file's weights and bias were negated (module docs).
    pub sign_flipped: bool,
    act: Vec<f64>,
    prob: Vec<f64>,
}

impl BlockRule {
    fn new(name: String, dims: usize, block: usize, weights: Vec<f64>, bias: f64) -> Result<Self> {
        let sites = if dims == 2 { block * block } else { block };
        if block < 1 || sites > MAX_BLOCK_SITES {
            bail!(
                "a block of {sites} sites is too large for iterated coarse-graining \
                 (at most {MAX_BLOCK_SITES} sites)"
            );
        }
        if weights.len() != sites {
            bail!(
                "the rule has {} weights for a block of {sites} sites",
                weights.len()
            );
        }
        if weights.iter().chain([&bias]).any(|w| !w.is_finite()) {
            bail!("the rule has a weight or bias that is not a finite number");
        }
        let mut r = BlockRule {
            name,
            dims,
            block,
            weights,
            bias,
            unit: None,
            symmetrized: false,
            sign_flipped: false,
            act: Vec::new(),
            prob: Vec::new(),
        };
        r.tabulate()?;
        Ok(r)
    }

    /// Activation and P(h = +1) for every block state (bit k of the index = site k up):
    /// the activations of [`rule_tables`], the probabilities recomputed with the CLI's
    /// [`prob_up`] (std `exp`, not `libm`), so that draws equal `rsmi coarsen`'s.
    fn tabulate(&mut self) -> Result<()> {
        let states = 1usize << self.weights.len();
        self.act = vec![0.0; states];
        self.prob = vec![0.0; states];
        rule_tables(&self.weights, self.bias, &mut self.act, &mut self.prob)?;
        self.prob = self.act.iter().map(|&a| prob_up(a)).collect();
        Ok(())
    }

    /// A built-in rule on blocks of side `block` in `dims` dimensions.
    pub fn builtin(b: Builtin, dims: usize, block: usize) -> Result<Self> {
        let sites = if dims == 2 { block * block } else { block };
        if block < 2 {
            bail!("--block must be at least 2 (got {block})");
        }
        if sites > MAX_BLOCK_SITES {
            bail!("--block {block} is too large (at most {MAX_BLOCK_SITES} sites per block)");
        }
        let w = b.weights(sites).into_iter().map(f64::from).collect();
        Self::new(b.name().to_string(), dims, block, w, 0.0)
    }

    /// A rule from a RULE.json (see the module docs for `unit`).
    pub fn from_file(rule: &RuleFile, name: &str, unit: Option<usize>) -> Result<Self> {
        let dims = match (rule.model.as_str(), rule.geometry.kind) {
            ("ising2d", GeometryKind::Square) => 2,
            ("ising1d", GeometryKind::Chain) => 1,
            (m, _) => bail!(
                "rule {name} is for model {m}; iterated coarse-graining needs an ising1d or \
                 ising2d spin rule"
            ),
        };
        if rule.channels != 1 {
            bail!(
                "rule {name} reads {} channels per site; iterated coarse-graining needs a rule \
                 for one spin per site",
                rule.channels
            );
        }
        let j = match (rule.hidden, unit) {
            (_, Some(u)) if u >= rule.hidden => bail!(
                "--unit {u} does not exist: rule {name} has {} hidden unit(s) (0..{})",
                rule.hidden,
                rule.hidden - 1
            ),
            (_, Some(u)) => u,
            (1, None) => 0,
            (h, None) => bail!(
                "rule {name} has {h} hidden units, but iterated coarse-graining needs one \
                 binary coarse spin per block: choose one unit with --unit J (its marginal \
                 P(h_J|V) is used and the other units are ignored)"
            ),
        };
        let mut w = rule
            .weights
            .get(j)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("rule {name} has no weights for unit {j}"))?;
        let mut b = rule.bias.get(j).copied().unwrap_or(0.0);
        let flip = w.iter().sum::<f64>() < 0.0;
        if flip {
            w.iter_mut().for_each(|x| *x = -*x);
            b = -b;
        }
        let mut r = Self::new(name.to_string(), dims, rule.geometry.block, w, b)?;
        r.unit = unit;
        r.sign_flipped = flip;
        Ok(r)
    }

    /// `majority`, `decimation` (with `block`, default 2) or a RULE.json path (then `block`
    /// must be absent or agree). `dims` is the data's dimension.
    pub fn resolve(
        spec: &str,
        dims: usize,
        block: Option<usize>,
        unit: Option<usize>,
    ) -> Result<Self> {
        if let Some(b) = Builtin::parse(spec) {
            if unit.is_some() {
                bail!("--unit applies to RULE.json files, not to the built-in rule {spec}");
            }
            return Self::builtin(b, dims, block.unwrap_or(2));
        }
        let path = std::path::Path::new(spec);
        if !path.exists() && !spec.contains('/') && !spec.ends_with(".json") {
            bail!(
                "unknown built-in rule '{spec}' (expected majority, decimation, or a RULE.json path)"
            );
        }
        let file = read_rule(path)?;
        let r = Self::from_file(&file, spec, unit)?;
        if r.dims != dims {
            bail!(
                "rule {spec} is for {}D data but the samples are {dims}D",
                r.dims
            );
        }
        if let Some(b) = block
            && b != r.block
        {
            bail!(
                "--block {b} disagrees with the block of rule {spec} ({}); leave --block out",
                r.block
            );
        }
        Ok(r)
    }

    /// Project onto the block's symmetric filters (module docs).
    pub fn symmetrize(&mut self) -> Result<()> {
        let b = self.block;
        let n = self.weights.len();
        // Images of site k under the group, as site indices.
        let images = |k: usize| -> Vec<usize> {
            if self.dims == 1 {
                vec![k, b - 1 - k]
            } else {
                let (y, x) = (k / b, k % b);
                let m = b - 1;
                [
                    (y, x),
                    (x, m - y),
                    (m - y, m - x),
                    (m - x, y),
                    (y, m - x),
                    (m - y, x),
                    (x, y),
                    (m - x, m - y),
                ]
                .iter()
                .map(|&(yy, xx)| yy * b + xx)
                .collect()
            }
        };
        // Orbits from their smallest site; the mean is computed once per orbit (in site
        // order) so that every member gets the bit-identical value.
        let mut done = vec![false; n];
        for k in 0..n {
            if done[k] {
                continue;
            }
            let mut members = vec![k];
            let mut i = 0;
            while i < members.len() {
                for g in images(members[i]) {
                    if !members.contains(&g) {
                        members.push(g);
                    }
                }
                i += 1;
            }
            members.sort_unstable();
            let mean = members.iter().map(|&m| self.weights[m]).sum::<f64>() / members.len() as f64;
            for &m in &members {
                done[m] = true;
                self.weights[m] = mean;
            }
        }
        self.bias = 0.0;
        self.symmetrized = true;
        self.tabulate()
    }

    /// Side of the coarse lattice of side `side`; an error unless the block tiles it and the
    /// coarse lattice keeps at least 4 sites.
    pub fn coarse_side(&self, side: usize) -> Result<usize> {
        if !side.is_multiple_of(self.block) {
            bail!(
                "the rule's block ({}) does not tile a lattice of side {side}",
                self.block
            );
        }
        let c = side / self.block;
        let sites = if self.dims == 2 { c * c } else { c };
        if sites < 4 || c < 2 {
            bail!(
                "coarse-graining a lattice of side {side} with blocks of {} leaves {sites} \
                 site(s); at least 4 are needed",
                self.block
            );
        }
        Ok(c)
    }

    /// One RG step on a packed lattice (layout of [`rsmi_core::rg::packed`]): draws one word
    /// per block from `rng`, blocks in row-major order.
    pub fn apply(
        &self,
        fine: &[u64],
        side: usize,
        mode: Mode,
        rng: &mut Xoshiro256PlusPlus,
        coarse: &mut [u64],
    ) -> Result<()> {
        let draw = match mode {
            Mode::Sample => Draw::Sample,
            Mode::Argmax => Draw::Argmax,
        };
        if self.dims == 2 {
            coarsen_2d(
                fine, side, self.block, &self.act, &self.prob, draw, rng, coarse,
            )?;
        } else {
            coarsen_1d(
                fine, side, self.block, &self.act, &self.prob, draw, rng, coarse,
            )?;
        }
        Ok(())
    }

    /// Description for JSON outputs.
    pub fn to_json(&self) -> Value {
        json!({
            "rule": self.name,
            "block": self.block,
            "dims": self.dims,
            "unit": self.unit,
            "symmetrized": self.symmetrized,
            "sign_flipped": self.sign_flipped,
            "weights": self.weights,
            "bias": self.bias,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetrize_square_2x2_gives_exact_ties() {
        let mut r = BlockRule::new("t".into(), 2, 2, vec![3.4, 3.2, 3.2, 1.0], 0.1).unwrap();
        r.symmetrize().unwrap();
        let w = r.weights[0];
        assert!(r.weights.iter().all(|&x| x == w));
        assert!((w - 2.7).abs() < 1e-12);
        assert_eq!(r.bias, 0.0);
        // Every 2–2 state has activation exactly 0 and probability ½.
        for v in 0..16usize {
            if v.count_ones() == 2 {
                assert_eq!(r.act[v], 0.0);
                assert_eq!(r.prob[v], 0.5);
            }
        }
    }

    #[test]
    fn symmetrize_3x3_has_three_orbits() {
        let w: Vec<f64> = (0..9).map(|k| k as f64).collect();
        let mut r = BlockRule::new("t".into(), 2, 3, w, 0.0).unwrap();
        r.symmetrize().unwrap();
        // Corners {0,2,6,8}: mean 4; edges {1,3,5,7}: mean 4; centre 4.
        assert!(r.weights.iter().all(|&x| (x - 4.0).abs() < 1e-12));
        let w: Vec<f64> = vec![1.0, 0.0, 2.0, 0.0, 5.0, 0.0, 3.0, 0.0, 6.0];
        let mut r = BlockRule::new("t".into(), 2, 3, w, 0.0).unwrap();
        r.symmetrize().unwrap();
        assert_eq!(r.weights[0], 3.0);
        assert_eq!(r.weights[8], 3.0);
        assert_eq!(r.weights[1], 0.0);
        assert_eq!(r.weights[4], 5.0);
    }

    #[test]
    fn symmetrize_chain_mirrors() {
        let mut r = BlockRule::new("t".into(), 1, 3, vec![1.0, 2.0, 5.0], 0.3).unwrap();
        r.symmetrize().unwrap();
        assert_eq!(r.weights, vec![3.0, 2.0, 3.0]);
    }

    #[test]
    fn coarse_side_errors() {
        let r = BlockRule::builtin(Builtin::Majority, 2, 2).unwrap();
        assert_eq!(r.coarse_side(8).unwrap(), 4);
        assert!(r.coarse_side(7).is_err());
        assert!(r.coarse_side(2).is_err());
        let r = BlockRule::builtin(Builtin::Decimation, 1, 2).unwrap();
        assert_eq!(r.coarse_side(8).unwrap(), 4);
        assert!(r.coarse_side(6).is_err());
        assert!(BlockRule::builtin(Builtin::Majority, 2, 5).is_err());
    }
}
