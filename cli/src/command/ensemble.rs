//! `rsmi ensemble`: what an ensemble of learned filters (every restart of one or more
//! RULE.json files) says about the problem's symmetries.
//!
//! Every hidden unit of every restart gives one filter f = λ_j / ‖λ_j‖ over the block.
//! Three analyses:
//!
//! * **Principal components** of the sign-blind second moment M = (1/K) Σ f fᵀ (the sign
//!   of a hidden unit is a relabelling, so f and −f count the same): the eigenvalues say
//!   how many directions the ensemble spans, the leading eigenvectors which.
//! * **Clusters of equivalent filters**: a filter joins the first cluster whose centroid
//!   it matches with |cos| ≥ `--threshold`, else starts a new one (centroids are the
//!   normalised, sign-aligned means).
//! * **Symmetry operations** of the block lattice: the 8 rotations and reflections of the
//!   square, each also composed with cyclic translations by one site along x, y or both
//!   (32 operations; ×2 with a sign flip). For every pair of clusters, the operations that
//!   map one centroid onto the other (|cos| ≥ threshold, the sign recorded); and the
//!   operations that leave the span of the leading principal components invariant
//!   (principal cosines ≥ 0.8), with the action they induce inside it (for a plane: a
//!   rotation by some angle, or a reflection). Operations act on single-channel square
//!   blocks (spins, coarse spins, the decorated dimer array); for multi-channel input the
//!   symmetry part is left out.

use crate::learn::rule_file::{RuleFile, read_rule};
use crate::plot;
use crate::provenance;
use anyhow::{Result, bail};
use nalgebra::{DMatrix, SymmetricEigen};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Arguments of `rsmi ensemble`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
The filters are every restart's weights stored in the RULE.json files (rsmi train keeps \
them all). Example: rsmi train --data d.npz --block 8 --hidden 2 --restarts 20 --out r.json; \
rsmi ensemble r.json --json --plot clusters.png")]
pub struct EnsembleArgs {
    /// RULE.json files of one model and block geometry.
    #[arg(required = true)]
    pub rules: Vec<PathBuf>,
    /// |cos| at which two filters count as equivalent.
    #[arg(long, default_value_t = 0.9)]
    pub threshold: f64,
    /// Number of leading principal components whose span is tested for invariance
    /// [default: as many as carry 90 % of the second moment, at most 4].
    #[arg(long)]
    pub components: Option<usize>,
    /// Draw the cluster centroids (PNG or SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Overwrite an existing figure.
    #[arg(long)]
    pub force: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// A symmetry operation of the L×L block: `turns` quarter turns (counter-clockwise, after
/// an optional mirror x → L−1−x), then a cyclic shift by (dx, dy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    /// Mirror first.
    pub mirror: bool,
    /// Quarter turns.
    pub turns: u8,
    /// Cyclic shift along x.
    pub dx: usize,
    /// Cyclic shift along y.
    pub dy: usize,
}

impl Op {
    /// Every operation: 8 point operations × 4 shifts.
    pub fn all() -> Vec<Op> {
        let mut v = Vec::new();
        for mirror in [false, true] {
            for turns in 0..4 {
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    v.push(Op {
                        mirror,
                        turns,
                        dx,
                        dy,
                    });
                }
            }
        }
        v
    }

    /// A readable name: e.g. `mirror·rot90·shift(1,0)`, `identity`.
    pub fn name(&self) -> String {
        let mut parts = Vec::new();
        if self.mirror {
            parts.push("mirror_x".to_string());
        }
        if self.turns > 0 {
            parts.push(format!("rot{}", 90 * self.turns as u32));
        }
        if (self.dx, self.dy) != (0, 0) {
            parts.push(format!("shift({},{})", self.dx, self.dy));
        }
        if parts.is_empty() {
            "identity".into()
        } else {
            parts.join("·")
        }
    }

    /// Where the entry at (row y, column x) of an L×L block goes.
    pub fn map(&self, l: usize, y: usize, x: usize) -> (usize, usize) {
        let (mut y, mut x) = (y, if self.mirror { l - 1 - x } else { x });
        for _ in 0..self.turns {
            // A quarter turn about the block centre: (y, x) → (L−1−x, y).
            (y, x) = (l - 1 - x, y);
        }
        ((y + self.dy) % l, (x + self.dx) % l)
    }

    /// The operation applied to a row-major L×L filter.
    pub fn apply(&self, l: usize, f: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; f.len()];
        for y in 0..l {
            for x in 0..l {
                let (y2, x2) = self.map(l, y, x);
                out[y2 * l + x2] = f[y * l + x];
            }
        }
        out
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalised(v: &[f64]) -> Option<Vec<f64>> {
    let n = dot(v, v).sqrt();
    (n > 0.0 && n.is_finite()).then(|| v.iter().map(|x| x / n).collect())
}

/// One filter of the ensemble and where it came from.
#[derive(Debug, Clone)]
struct Filter {
    file: usize,
    restart: usize,
    unit: usize,
    f: Vec<f64>,
}

/// Greedy sign-blind clustering: (centroid, member indices) per cluster.
fn clusters(filters: &[Filter], threshold: f64) -> Vec<(Vec<f64>, Vec<usize>)> {
    let mut out: Vec<(Vec<f64>, Vec<f64>, Vec<usize>)> = Vec::new(); // (sum, centroid, members)
    for (i, f) in filters.iter().enumerate() {
        let hit = out
            .iter()
            .position(|(_, c, _)| dot(c, &f.f).abs() >= threshold);
        match hit {
            Some(k) => {
                let s = dot(&out[k].1, &f.f).signum();
                let (sum, c, m) = &mut out[k];
                for (a, x) in sum.iter_mut().zip(&f.f) {
                    *a += s * x;
                }
                *c = normalised(sum).unwrap_or_else(|| c.clone());
                m.push(i);
            }
            None => out.push((f.f.clone(), f.f.clone(), vec![i])),
        }
    }
    out.into_iter().map(|(_, c, m)| (c, m)).collect()
}

/// The principal components: eigenvalues (descending) and unit eigenvectors.
fn principal(filters: &[Filter], n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut m = DMatrix::<f64>::zeros(n, n);
    for f in filters {
        for i in 0..n {
            for j in 0..n {
                m[(i, j)] += f.f[i] * f.f[j];
            }
        }
    }
    m /= filters.len().max(1) as f64;
    let eig = SymmetricEigen::new(m);
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let values = idx.iter().map(|&i| eig.eigenvalues[i].max(0.0)).collect();
    let vectors = idx
        .iter()
        .map(|&i| eig.eigenvectors.column(i).iter().copied().collect())
        .collect();
    (values, vectors)
}

/// Singular values of a k×k matrix (descending) and its determinant.
fn svd_det(a: &DMatrix<f64>) -> (Vec<f64>, f64) {
    let mut s: Vec<f64> = a
        .clone()
        .svd(false, false)
        .singular_values
        .iter()
        .copied()
        .collect();
    s.sort_by(|x, y| y.total_cmp(x));
    (s, a.determinant())
}

/// Run `rsmi ensemble`; returns the JSON result.
pub fn run(a: &EnsembleArgs) -> Result<Value> {
    if !(a.threshold > 0.0 && a.threshold <= 1.0) {
        bail!("--threshold must be in (0, 1] (got {})", a.threshold);
    }
    if let Some(p) = &a.plot {
        plot::Format::from_path(p)?;
        crate::io::atomic::check_output_path(p, a.force)?;
    }
    let rules: Vec<RuleFile> = a
        .rules
        .iter()
        .map(|p| read_rule(p))
        .collect::<Result<_, _>>()?;
    let first = &rules[0];
    for (r, p) in rules.iter().zip(&a.rules).skip(1) {
        if (
            r.model.as_str(),
            r.input.as_str(),
            r.channels,
            r.geometry.block,
            r.visible,
        ) != (
            first.model.as_str(),
            first.input.as_str(),
            first.channels,
            first.geometry.block,
            first.visible,
        ) {
            bail!(
                "{} has another model, input or block than {}: an ensemble needs one geometry",
                p.display(),
                a.rules[0].display()
            );
        }
    }
    let n = first.visible;
    let mut filters = Vec::new();
    for (k, r) in rules.iter().enumerate() {
        let restarts: Vec<(usize, Vec<Vec<f64>>)> = match &r.mi {
            Some(m) if !m.restarts.is_empty() => m
                .restarts
                .iter()
                .map(|x| (x.restart, x.weights.clone()))
                .collect(),
            _ => vec![(0, r.weights.clone())],
        };
        for (restart, w) in restarts {
            for (unit, row) in w.iter().enumerate() {
                if row.len() != n {
                    bail!("{}: a filter of the wrong length", a.rules[k].display());
                }
                if let Some(f) = normalised(row) {
                    filters.push(Filter {
                        file: k,
                        restart,
                        unit,
                        f,
                    });
                }
            }
        }
    }
    if filters.len() < 2 {
        bail!(
            "the ensemble holds {} non-zero filter(s); it needs at least 2 (train with more --restarts)",
            filters.len()
        );
    }
    let (values, vectors) = principal(&filters, n);
    let total: f64 = values.iter().sum::<f64>().max(1e-300);
    let mut acc = 0.0;
    let rank90 = values
        .iter()
        .position(|v| {
            acc += v;
            acc >= 0.9 * total
        })
        .map_or(n, |i| i + 1);
    let k = a.components.unwrap_or(rank90.min(4)).clamp(1, n);
    let groups = clusters(&filters, a.threshold);
    let l = first.geometry.block;
    let square = first.channels == 1
        && l * l == n
        && first.geometry.kind == crate::learn::rule_file::GeometryKind::Square;
    let symmetry = if square {
        let ops = Op::all();
        // Cluster-to-cluster maps.
        let mut maps = Vec::new();
        for (i, (ci, _)) in groups.iter().enumerate() {
            for (j, (cj, _)) in groups.iter().enumerate() {
                let found: Vec<Value> = ops
                    .iter()
                    .filter_map(|op| {
                        let c = dot(&op.apply(l, ci), cj);
                        (c.abs() >= a.threshold).then(|| {
                            json!({"op": op.name(), "sign": if c > 0.0 { 1 } else { -1 }, "cos": c.abs()})
                        })
                    })
                    .collect();
                if !found.is_empty() {
                    maps.push(json!({"from": i, "to": j, "ops": found}));
                }
            }
        }
        // Invariance of the leading principal subspace.
        let q: Vec<&Vec<f64>> = vectors.iter().take(k).collect();
        let subspace: Vec<Value> = ops
            .iter()
            .filter_map(|op| {
                let moved: Vec<Vec<f64>> = q.iter().map(|v| op.apply(l, v)).collect();
                let m = DMatrix::from_fn(k, k, |r, c| dot(q[r], &moved[c]));
                let (s, det) = svd_det(&m);
                let min = s.last().copied().unwrap_or(0.0);
                (min >= 0.8).then(|| {
                    let action = if k == 2 {
                        if det > 0.0 {
                            let angle = (m[(1, 0)] - m[(0, 1)])
                                .atan2(m[(0, 0)] + m[(1, 1)])
                                .to_degrees();
                            json!({"kind": "rotation", "degrees": angle})
                        } else {
                            json!({"kind": "reflection"})
                        }
                    } else {
                        json!({"kind": if det > 0.0 { "proper" } else { "improper" }})
                    };
                    json!({"op": op.name(), "cosines": s, "determinant": det, "action": action})
                })
            })
            .collect();
        json!({
            "operations": "8 rotations/reflections of the block × cyclic shifts (0,0), (1,0), (0,1), (1,1); sign flips counted by `sign`",
            "cluster_maps": maps,
            "subspace_invariant": subspace,
        })
    } else {
        json!({"skipped": "symmetry operations act on single-channel square blocks only"})
    };
    let out = json!({
        "format": "rsmi-ensemble-1",
        "rules": a.rules.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "model": first.model,
        "input": first.input,
        "block": l,
        "filters": filters.len(),
        "threshold": a.threshold,
        "pca": {
            "second_moment": "M = (1/K) sum f f^T over unit filters (sign-blind)",
            "eigenvalues": values,
            "fraction": values.iter().map(|v| v / total).collect::<Vec<_>>(),
            "components_for_90_percent": rank90,
            "components": vectors.iter().take(k.max(rank90.min(4))).collect::<Vec<_>>(),
            "subspace_dimension": k,
        },
        "clusters": groups.iter().map(|(c, m)| json!({
            "size": m.len(),
            "centroid": c,
            "members": m.iter().map(|&i| json!({"rule": filters[i].file, "restart": filters[i].restart, "unit": filters[i].unit})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "symmetry": symmetry,
        "build": provenance::build_info(),
    });
    if let Some(p) = &a.plot {
        let mut r = first.clone();
        let shown: Vec<Vec<f64>> = groups.iter().take(16).map(|(c, _)| c.clone()).collect();
        r.hidden = shown.len();
        r.weights = shown.clone();
        r.filters = shown;
        r.bias = vec![0.0; r.hidden];
        r.mi = None;
        plot::plot_rule(&r, p, a.force)?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!(
            "{} filters; principal fractions {:.3?}; {} cluster(s) at |cos| ≥ {}",
            filters.len(),
            &out["pca"]["fraction"]
                .as_array()
                .map(|v| v
                    .iter()
                    .take(4)
                    .filter_map(Value::as_f64)
                    .collect::<Vec<_>>())
                .unwrap_or_default(),
            groups.len(),
            a.threshold
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_permutations_and_compose_as_the_square_group() {
        let l = 4;
        let f: Vec<f64> = (0..l * l).map(|i| i as f64).collect();
        for op in Op::all() {
            let mut g = op.apply(l, &f);
            g.sort_by(f64::total_cmp);
            assert_eq!(g, f, "{} is a permutation", op.name());
        }
        let rot = Op {
            mirror: false,
            turns: 1,
            dx: 0,
            dy: 0,
        };
        let mut g = f.clone();
        for _ in 0..4 {
            g = rot.apply(l, &g);
        }
        assert_eq!(g, f, "four quarter turns are the identity");
        // A quarter turn maps the top row onto the left column.
        let row: Vec<f64> = (0..l * l).map(|i| if i < l { 1.0 } else { 0.0 }).collect();
        let col: Vec<f64> = (0..l * l)
            .map(|i| if i % l == 0 { 1.0 } else { 0.0 })
            .collect();
        assert_eq!(rot.apply(l, &row), col);
        // Counter-clockwise: the entry at (row 0, column 1) lands at (row L−2, column 0),
        // and a half turn sends the corner (0, 0) to (L−1, L−1).
        assert_eq!(rot.map(l, 0, 1), (l - 2, 0));
        let half = Op {
            mirror: false,
            turns: 2,
            dx: 0,
            dy: 0,
        };
        assert_eq!(half.map(l, 0, 0), (l - 1, l - 1));
        let shifted = Op {
            mirror: true,
            turns: 0,
            dx: 1,
            dy: 0,
        };
        assert_eq!(
            shifted.map(l, 2, 0),
            (2, 0),
            "mirror x → L−1−x, then shift by one"
        );
        assert_eq!(Op::all().len(), 32);
    }

    #[test]
    fn clusters_are_sign_blind() {
        let mk = |f: Vec<f64>| Filter {
            file: 0,
            restart: 0,
            unit: 0,
            f: normalised(&f).unwrap(),
        };
        let fs = vec![
            mk(vec![1.0, 0.0, 0.0]),
            mk(vec![-1.0, 0.05, 0.0]),
            mk(vec![0.0, 1.0, 0.0]),
        ];
        let c = clusters(&fs, 0.9);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].1, vec![0, 1]);
        let (vals, _) = principal(&fs, 3);
        assert!(vals[2].abs() < 1e-12 && vals[0] > vals[1]);
    }
}
