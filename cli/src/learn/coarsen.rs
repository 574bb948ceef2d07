//! One RG step with a coarse-graining rule (docs/method.md#coarse-graining-and-iteration): tile each
//! sample with non-overlapping blocks (stride = block), compute P_Λ(H|V) per block and
//! draw H (or take its argmax); the hidden units of every block form the coarse lattice.
//!
//! Conventions:
//! - Block p (row-major on the block grid) becomes coarse site p: for a square rule on an
//!   R×R array with block b, coarse site (p / (R/b), p % (R/b)); for a chain rule, site p.
//! - V is read exactly as in training (RULE.json order): channel-major, then row-major
//!   within the block; Ising values ±1, dimer entries 0/1.
//! - Hidden unit j becomes channel j of the coarse sample; h = +1 is an up spin (bit 1).
//! - Randomness: the samples are cut into chunks of [`CHUNK`] = 256 consecutive samples;
//!   chunk k uses the stream `rsmi_core::rng::stream(seed, k, 0)`, its samples in order
//!   (one stream per sample would cost a 2¹⁹²-jump, ≈ 1 ms, per sample). Each sample
//!   draws one 64-bit word per (block, hidden unit), blocks in order, units j ascending,
//!   in both modes. A word x gives u = ⌊x / 2¹¹⌋ · 2⁻⁵³ ∈ [0, 1). The output therefore
//!   depends only on (rule, data, mode, seed), never on the number of threads.
//! - `sample`: h_j = +1 iff u < P(h_j = +1 | V) = 1 / (1 + e^{−2 a_j}),
//!   a_j = b_j + Σ_i λ_ji v_i (evaluated in `f64`).
//! - `argmax`: h_j = sign a_j. **Ties** (a_j = 0 exactly, e.g. a 2–2 block under a uniform
//!   2×2 majority rule) are broken by a fair coin, u < ½, from the same word: this keeps
//!   the Z₂ symmetry of the coarse data (a fixed tie rule such as "+1" would magnetise
//!   them), makes argmax exactly the |λ| → ∞ limit of `sample`, and leaves a rule
//!   without ties independent of the seed.
//! - Energy and magnetisation of coarse samples follow the sample-file convention
//!   E = −Σ_⟨ij⟩ s_i s_j (each site with its right and, in 2D, lower neighbour on the
//!   torus), M = Σ_i s_i, computed from channel 0 when there are several channels.

use anyhow::{Result, bail};
use rsmi_core::learn::geometry::Source;
use rsmi_core::rng::Rng;
use rsmi_core::rng::Xoshiro256PlusPlus;

use super::rule_file::{GeometryKind, RuleFile};
use crate::io::npz::pack_row;

/// Samples per random stream (see the module docs).
pub const CHUNK: usize = 256;

/// How the coarse variables are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Draw h ~ P_Λ(h|V) (the RG step of KJR).
    Sample,
    /// h_j = sign a_j, ties broken by a fair coin from the stream (deterministic limit).
    Argmax,
}

impl Mode {
    /// Name as written in files and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Sample => "sample",
            Mode::Argmax => "argmax",
        }
    }
}

/// P(h = +1 | a) = 1 / (1 + e^{−2a}) (exactly ½ at a = 0).
pub fn prob_up(a: f64) -> f64 {
    1.0 / (1.0 + (-2.0 * a).exp())
}

/// The uniform in [0, 1) made from one 64-bit word (53 high bits).
pub fn uniform(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A rule ready to be applied: flat weights, biases and the block shape.
#[derive(Debug, Clone)]
pub struct Coarsener {
    kind: GeometryKind,
    block: usize,
    channels: usize,
    hidden: usize,
    visible: usize,
    weights: Vec<f64>,
    bias: Vec<f64>,
}

impl Coarsener {
    /// The coarsener of a (validated) rule file.
    pub fn new(rule: &RuleFile) -> Result<Coarsener> {
        rule.validate()
            .map_err(|e| anyhow::anyhow!("invalid rule: {e}"))?;
        Ok(Coarsener {
            kind: rule.geometry.kind,
            block: rule.geometry.block,
            channels: rule.channels,
            hidden: rule.hidden,
            visible: rule.visible,
            weights: rule.flat_weights(),
            bias: rule.bias.clone(),
        })
    }

    /// Number of hidden units (= channels of the coarse samples).
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// Block side.
    pub fn block(&self) -> usize {
        self.block
    }

    /// Channels the rule reads.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Side of the coarse lattice of an array of side `size`; an error (one sentence)
    /// unless the block divides it and the coarse side is at least 2.
    pub fn coarse_size(&self, size: usize) -> Result<usize> {
        if !size.is_multiple_of(self.block) {
            bail!(
                "the rule's block ({}) does not divide the lattice side ({size}); \
                 coarse-graining tiles the lattice with non-overlapping blocks",
                self.block
            );
        }
        let coarse = size / self.block;
        if coarse < 2 {
            bail!(
                "the rule's block ({}) leaves a coarse lattice of side {coarse}; at least 2 is needed",
                self.block
            );
        }
        Ok(coarse)
    }

    /// Coarse-grains one sample. `sources` holds one view per channel of the rule (all
    /// of the same shape: R×R for a square rule, one row of R for a chain rule); `out`
    /// receives the coarse spins (true = up), channel-major (hidden unit j, then the
    /// coarse sites row-major), `hidden · coarse sites` entries. Draws exactly
    /// `hidden · coarse sites` words from `rng` (see the module docs).
    pub fn coarsen<S: Source>(
        &self,
        sources: &[S],
        mode: Mode,
        rng: &mut Xoshiro256PlusPlus,
        out: &mut [bool],
    ) -> Result<()> {
        if sources.len() != self.channels {
            bail!(
                "the rule reads {} channels but {} were given",
                self.channels,
                sources.len()
            );
        }
        let (rows, cols) = (sources[0].rows(), sources[0].cols());
        if sources.iter().any(|s| (s.rows(), s.cols()) != (rows, cols)) {
            bail!("the channels of a sample differ in shape");
        }
        let b = self.block;
        let (block_rows, block_cols) = match self.kind {
            GeometryKind::Square => {
                if rows != cols {
                    bail!("a square rule needs a square lattice (got {rows}×{cols})");
                }
                (self.coarse_size(rows)?, self.coarse_size(cols)?)
            }
            GeometryKind::Chain => {
                if rows != 1 {
                    bail!("a chain rule needs a one-row lattice");
                }
                (1, self.coarse_size(cols)?)
            }
        };
        let sites = block_rows * block_cols;
        if out.len() != self.hidden * sites {
            bail!(
                "output buffer holds {} entries, {} needed",
                out.len(),
                self.hidden * sites
            );
        }
        let per_channel = self.visible / self.channels;
        let mut v = vec![0.0f64; self.visible];
        for p in 0..sites {
            let (r0, c0) = match self.kind {
                GeometryKind::Square => ((p / block_cols) * b, (p % block_cols) * b),
                GeometryKind::Chain => (0, p * b),
            };
            for (c, src) in sources.iter().enumerate() {
                for k in 0..per_channel {
                    let (dr, dc) = match self.kind {
                        GeometryKind::Square => (k / b, k % b),
                        GeometryKind::Chain => (0, k),
                    };
                    v[c * per_channel + k] = f64::from(src.value(r0 + dr, c0 + dc));
                }
            }
            for j in 0..self.hidden {
                let row = &self.weights[j * self.visible..(j + 1) * self.visible];
                let a = self.bias[j] + row.iter().zip(&v).map(|(w, x)| w * x).sum::<f64>();
                let u = uniform(rng.next_u64());
                out[j * sites + p] = match mode {
                    Mode::Sample => u < prob_up(a),
                    Mode::Argmax => {
                        if a > 0.0 {
                            true
                        } else if a < 0.0 {
                            false
                        } else {
                            u < 0.5
                        }
                    }
                };
            }
        }
        Ok(())
    }
}

/// Energy E = −Σ_⟨ij⟩ s_i s_j and magnetisation M = Σ s_i of one lattice given as
/// booleans (true = +1), row-major: 2D (`dims` = 2) `size × size` with right and lower
/// neighbours on the torus, 1D a ring with right neighbours (the sample-file convention).
pub fn energy_magnetization(dims: usize, size: usize, up: &[bool]) -> (i64, i64) {
    let s = |i: usize| if up[i] { 1i64 } else { -1 };
    let mut e = 0i64;
    let mut m = 0i64;
    if dims == 2 {
        for y in 0..size {
            for x in 0..size {
                let i = y * size + x;
                e -= s(i) * (s(y * size + (x + 1) % size) + s(((y + 1) % size) * size + x));
                m += s(i);
            }
        }
    } else {
        for x in 0..size {
            e -= s(x) * s((x + 1) % size);
            m += s(x);
        }
    }
    (e, m)
}

/// Appends the packed sample-file bytes of a coarse sample (`channels` blocks of
/// `rows · size` booleans, channel-major) to `out`: each row packed with [`pack_row`].
pub fn pack_sample(up: &[bool], size: usize, out: &mut Vec<u8>) {
    for row in up.chunks(size) {
        pack_row(row, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::rule_file::{FORMAT, GeometrySpec, normalise};
    use rsmi_core::learn::geometry::{Grid01, PackedSpins};
    use rsmi_core::rng::stream;
    use serde_json::Value;

    pub(crate) fn rule(
        kind: GeometryKind,
        block: usize,
        channels: usize,
        weights: Vec<Vec<f64>>,
        bias: Vec<f64>,
    ) -> RuleFile {
        let sites = match kind {
            GeometryKind::Square => block * block,
            GeometryKind::Chain => block,
        };
        RuleFile {
            format: FORMAT.into(),
            model: match kind {
                GeometryKind::Square => "ising2d",
                GeometryKind::Chain => "ising1d",
            }
            .into(),
            input: "spins".into(),
            channels,
            geometry: GeometrySpec {
                kind,
                block,
                buffer: 1,
                env: 1,
            },
            hidden: weights.len(),
            visible: channels * sites,
            estimator: "builtin".into(),
            filters: normalise(&weights),
            weights,
            bias,
            mi: None,
            trace: vec![],
            config: Value::Null,
            data: Value::Null,
            provenance: Value::Null,
        }
    }

    /// Packs a ±1 lattice given as '+'/'-' rows.
    fn lattice(rows: &[&str]) -> (Vec<u8>, usize) {
        let mut bytes = Vec::new();
        for r in rows {
            let bits: Vec<bool> = r.chars().map(|c| c == '+').collect();
            pack_row(&bits, &mut bytes);
        }
        (bytes, rows[0].len())
    }

    #[test]
    fn large_uniform_weights_give_the_block_majority() {
        // 6×6 lattice, 3×3 blocks (no ties): the coarse spin is the block majority.
        let rows = [
            "++-".to_string() + "---",
            "+-+".to_string() + "-+-",
            "-++".to_string() + "--+",
            "+--".to_string() + "+++",
            "---".to_string() + "++-",
            "-+-".to_string() + "-++",
        ];
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        let (bytes, l) = lattice(&rows);
        let src = PackedSpins::new(&bytes, l, l).unwrap();
        // Majorities by hand: top-left 6 up → +, top-right 2 up → −,
        // bottom-left 2 up → −, bottom-right 7 up → +.
        let want = [true, false, false, true];
        let c = Coarsener::new(&rule(
            GeometryKind::Square,
            3,
            1,
            vec![vec![20.0; 9]],
            vec![0.0],
        ))
        .unwrap();
        for mode in [Mode::Sample, Mode::Argmax] {
            for seed in 0..20 {
                let mut out = [false; 4];
                c.coarsen(&[src], mode, &mut stream(seed, 0, 0), &mut out)
                    .unwrap();
                assert_eq!(out, want, "{mode:?} seed {seed}");
            }
        }
    }

    #[test]
    fn argmax_is_deterministic_and_ties_are_fair_coins() {
        // 4×4 lattice, 2×2 blocks: weights (1, 2, 4, 8) never tie: argmax = sign of
        // v₀ + 2v₁ + 4v₂ + 8v₃, by hand, for every seed.
        let (bytes, l) = lattice(&["+-++", "-+-+", "++--", "+---"]);
        let src = PackedSpins::new(&bytes, l, l).unwrap();
        // Blocks (row-major): TL (+,−,−,+): 1−2−4+8 = 3 → +; TR (+,+,−,+): 1+2−4+8 → +;
        // BL (+,+,+,−): 1+2+4−8 = −1 → −; BR (−,−,−,−) → −.
        let want = [true, true, false, false];
        let c = Coarsener::new(&rule(
            GeometryKind::Square,
            2,
            1,
            vec![vec![1.0, 2.0, 4.0, 8.0]],
            vec![0.0],
        ))
        .unwrap();
        for seed in 0..50 {
            let mut out = [false; 4];
            c.coarsen(&[src], Mode::Argmax, &mut stream(seed, 3, 0), &mut out)
                .unwrap();
            assert_eq!(out, want);
        }
        // Uniform weights: the TL block (2 up) is a tie, decided by u < ½ of the first
        // word of the stream; BR (all down) is −. Over many seeds the tie is a fair coin.
        let c = Coarsener::new(&rule(
            GeometryKind::Square,
            2,
            1,
            vec![vec![1.0; 4]],
            vec![0.0],
        ))
        .unwrap();
        let n = 4000u64;
        let mut ups = 0u64;
        for seed in 0..n {
            let mut out = [false; 4];
            c.coarsen(&[src], Mode::Argmax, &mut stream(seed, 0, 0), &mut out)
                .unwrap();
            let first = uniform(stream(seed, 0, 0).next_u64());
            assert_eq!(out[0], first < 0.5);
            assert!(!out[3]);
            ups += u64::from(out[0]);
        }
        // Binomial(n, ½): 4σ = 2√n.
        let dev = (ups as f64 - n as f64 / 2.0).abs();
        assert!(dev < 2.0 * (n as f64).sqrt(), "ups {ups} of {n}");
    }

    #[test]
    fn sample_mode_matches_p_h_given_v() {
        // One block V = (+, −, +, +), two hidden units with a₀ = 0.7, a₁ = −1.1 (by hand),
        // so P(h|V) = σ(2h₀a₀) σ(2h₁a₁): compare the counts of the four states
        // over independent draws with the binomial 4σ.
        // A 4×4 lattice of that block repeated: every block is the same V.
        let (bytes, _) = lattice(&["+-+-", "++++", "+-+-", "++++"]);
        let src = PackedSpins::new(&bytes, 4, 4).unwrap();
        let w = vec![vec![0.1, 0.2, 0.05, 0.3], vec![-0.5, 0.4, 0.25, 0.05]];
        // a₀ = 0.1 − 0.2 + 0.05 + 0.3 + b₀; a₁ = −0.5 − 0.4 + 0.25 + 0.05 + b₁.
        let (a0, a1) = (0.7, -1.1);
        let c = Coarsener::new(&rule(
            GeometryKind::Square,
            2,
            1,
            w,
            vec![a0 - 0.25, a1 + 0.6],
        ))
        .unwrap();
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let p1 = [sig(2.0 * a0), sig(2.0 * a1)];
        let mut counts = [0u64; 4];
        let samples = 5000u64;
        let mut rng = stream(17, 0, 0);
        for _ in 0..samples {
            let mut out = [false; 8];
            c.coarsen(&[src], Mode::Sample, &mut rng, &mut out).unwrap();
            for p in 0..4 {
                counts[usize::from(out[p]) + 2 * usize::from(out[4 + p])] += 1;
            }
        }
        let total = (samples * 4) as f64;
        for (s, &k) in counts.iter().enumerate() {
            let q0 = if s & 1 == 1 { p1[0] } else { 1.0 - p1[0] };
            let q1 = if s & 2 == 2 { p1[1] } else { 1.0 - p1[1] };
            let p = q0 * q1;
            let sd = (total * p * (1.0 - p)).sqrt();
            assert!(
                (k as f64 - total * p).abs() < 4.0 * sd,
                "state {s}: {k} vs {}",
                total * p
            );
        }
    }

    #[test]
    fn chain_and_dimer_grids() {
        // Chain rule, block 3, on a ring of 6: decimation (middle site) with a large weight.
        let (bytes, _) = lattice(&["+-+--+"]);
        let src = PackedSpins::new(&bytes, 1, 6).unwrap();
        let c = Coarsener::new(&rule(
            GeometryKind::Chain,
            3,
            1,
            vec![vec![0.0, 50.0, 0.0]],
            vec![0.0],
        ))
        .unwrap();
        let mut out = [true; 2];
        c.coarsen(&[src], Mode::Sample, &mut stream(1, 0, 0), &mut out)
            .unwrap();
        assert_eq!(out, [false, false]);
        // 0/1 grid (dimer-style input): a bias −0.5 and weight 1 on the top-left entry
        // reads "entry == 1" on 4×4 with block 2.
        let grid = [1u8, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0];
        let g = Grid01::new(&grid, 4, 4).unwrap();
        let c = Coarsener::new(&rule(
            GeometryKind::Square,
            2,
            1,
            vec![vec![100.0, 0.0, 0.0, 0.0]],
            vec![-50.0],
        ))
        .unwrap();
        let mut out = [false; 4];
        c.coarsen(&[g], Mode::Argmax, &mut stream(1, 0, 0), &mut out)
            .unwrap();
        assert_eq!(out, [true, false, false, true]);
    }

    #[test]
    fn multi_channel_input_is_channel_major() {
        // Two channels; the rule reads only channel 1's top-left site.
        let (c0, _) = lattice(&["++++", "++++", "++++", "++++"]);
        let (c1, _) = lattice(&["+-+-", "----", "-+--", "----"]);
        let s0 = PackedSpins::new(&c0, 4, 4).unwrap();
        let s1 = PackedSpins::new(&c1, 4, 4).unwrap();
        let mut w = vec![0.0; 8];
        w[4] = 30.0;
        let c = Coarsener::new(&rule(GeometryKind::Square, 2, 2, vec![w], vec![0.0])).unwrap();
        let mut out = [false; 4];
        c.coarsen(&[s0, s1], Mode::Sample, &mut stream(2, 0, 0), &mut out)
            .unwrap();
        assert_eq!(out, [true, true, false, false]);
        assert!(
            c.coarsen(&[s0], Mode::Sample, &mut stream(2, 0, 0), &mut out)
                .is_err()
        );
    }

    #[test]
    fn block_must_divide_the_side() {
        let c = Coarsener::new(&rule(
            GeometryKind::Square,
            3,
            1,
            vec![vec![1.0; 9]],
            vec![0.0],
        ))
        .unwrap();
        let e = c.coarse_size(8).unwrap_err().to_string();
        assert!(e.contains("does not divide"), "{e}");
        assert!(
            c.coarse_size(3)
                .unwrap_err()
                .to_string()
                .contains("at least 2")
        );
        assert_eq!(c.coarse_size(9).unwrap(), 3);
    }

    #[test]
    fn energy_by_hand() {
        // 2×2 torus: every bond counted twice (right and left neighbour coincide).
        // (+,+;+,−): bonds of site (0,0): right + · + = 1, down + · + = 1;
        // (0,1): right (0,0) 1, down (1,1) −1; (1,0): right (1,1) −1, down (0,0) 1;
        // (1,1): right (1,0) −1, down (0,1) −1 → sum 0, E = 0; M = 2.
        assert_eq!(
            energy_magnetization(2, 2, &[true, true, true, false]),
            (0, 2)
        );
        // All up 3×3: E = −2·9 = −18.
        assert_eq!(energy_magnetization(2, 3, &[true; 9]), (-18, 9));
        // Ring (+,+,−,+): bonds ++ 1, +− −1, −+ −1, ++ 1 → E = 0, M = 2.
        assert_eq!(
            energy_magnetization(1, 4, &[true, true, false, true]),
            (0, 2)
        );
        // Alternating ring of 4: E = +4.
        assert_eq!(
            energy_magnetization(1, 4, &[true, false, true, false]),
            (4, 0)
        );
    }
}
