//! Figures of coarse-graining rules (PNG or SVG, chosen by the file extension).
//!
//! [`plot_rule`] draws one panel per hidden unit (columns) and per input channel (rows),
//! all on one diverging colour scale symmetric around 0 (blue < 0, white = 0, red > 0,
//! ±max|λ| at the ends), with a colour bar on the right:
//! - **square Ising rules**: a heat map of the weights over the block (as KJR Fig. 2);
//! - **chain rules**: a bar chart of the weights per site (bars up for λ > 0, down for
//!   λ < 0, coloured by the same scale, zero line drawn);
//! - **dimer rules** (input `links` or `decorated`, docs/method.md#dimers-and-the-noise-decoration): the block of the
//!   2L×2L array drawn in place on the lattice (as KJR Fig. 4), assuming the block corner
//!   at an even row and column (true for every block of an even-sized tiling): link
//!   entries as bars between their two sites, vertex noise entries as small squares and
//!   face noise entries as small circles, all filled with their weight's colour and
//!   outlined in grey, so a correct filter shows staggered link colours and white noise.
//!
//! Text. SVG files carry titles and labels as `<text>` elements ("hidden unit j" above
//! every panel, "bias b" below the last row, "channel c", ±max|λ| on the
//! colour bar). PNG files are rendered without any font: the labels `H<j>`, `B=<b>`,
//! `C<c>` and the colour-bar values are drawn with a built-in 3×5 pixel font ([`scene`]),
//! so the PNG never depends on system fonts.

pub mod flow;
pub mod scene;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};

use crate::io::atomic::{check_output_path, write_atomic};
use crate::learn::rule_file::{GeometryKind, RuleFile};
use scene::{Anchor, Rgb, Scene, Shape, render_png, render_svg};

/// Output format of a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PNG (bitmap).
    Png,
    /// SVG (vector, with text).
    Svg,
}

impl Format {
    /// The format named by the extension of `path` (`.png` or `.svg`, any case).
    pub fn from_path(path: &Path) -> Result<Format> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            _ => bail!(
                "figure file {} must end in .png or .svg (the extension picks the format)",
                path.display()
            ),
        }
    }
}

/// Largest figure side accepted (pixels).
pub const MAX_SIDE: u32 = 16384;

const GREY: Rgb = (150, 150, 150);
const LIGHT: Rgb = (215, 215, 215);
const BLUE: Rgb = (33, 102, 172);
const RED: Rgb = (178, 24, 43);

/// Diverging colour of `x` ∈ [−1, 1] (clamped): blue at −1, white at 0, red at +1,
/// linear in between.
pub fn diverging(x: f64) -> Rgb {
    let t = if x.is_finite() {
        x.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let end = if t < 0.0 { BLUE } else { RED };
    let a = t.abs();
    let mix = |w: u8, e: u8| (f64::from(w) + a * (f64::from(e) - f64::from(w))).round() as u8;
    (mix(255, end.0), mix(255, end.1), mix(255, end.2))
}

/// A number for a colour-bar label: 3 significant digits, exponent form outside
/// [0.01, 1000).
pub fn label(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if (0.01..1000.0).contains(&a) {
        let digits = (2 - a.log10().floor() as i32).clamp(0, 4) as usize;
        format!("{x:+.digits$}")
    } else {
        format!("{x:+.2e}")
    }
}

/// What kind of panel a rule gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Heat,
    Bars,
    Dimer,
}

/// Layout numbers of one figure.
struct Layout {
    kind: Kind,
    block: usize,
    /// Pixels per block entry.
    cell: i32,
    /// Panel size (pixels).
    pw: i32,
    ph: i32,
    /// Extra space around a dimer panel's block (links leaving the block).
    pad: i32,
}

const LEFT: i32 = 90;
const TOP: i32 = 50;
const GAP: i32 = 36;
const BAR_W: i32 = 18;
const RIGHT: i32 = 110;
const BOTTOM: i32 = 30;

fn layout(rule: &RuleFile) -> Layout {
    let block = rule.geometry.block;
    let b = block as i32;
    let kind = if rule.model == "dimer" {
        Kind::Dimer
    } else if rule.geometry.kind == GeometryKind::Chain {
        Kind::Bars
    } else {
        Kind::Heat
    };
    match kind {
        Kind::Heat => {
            let cell = (192 / b).clamp(1, 48);
            Layout {
                kind,
                block,
                cell,
                pw: cell * b,
                ph: cell * b,
                pad: 0,
            }
        }
        Kind::Bars => {
            let cell = (240 / b).clamp(2, 48);
            Layout {
                kind,
                block,
                cell,
                pw: cell * b,
                ph: 160,
                pad: 0,
            }
        }
        Kind::Dimer => {
            let cell = (256 / b).clamp(4, 40);
            let pad = cell / 2;
            Layout {
                kind,
                block,
                cell,
                pw: cell * b + 2 * pad,
                ph: cell * b + 2 * pad,
                pad,
            }
        }
    }
}

/// The figure of a rule as a scene (see the module docs).
pub fn rule_scene(rule: &RuleFile) -> Result<Scene> {
    rule.validate()
        .map_err(|e| anyhow::anyhow!("cannot plot an invalid rule: {e}"))?;
    let lay = layout(rule);
    let (rows, cols) = (rule.channels as i64, rule.hidden as i64);
    let w = i64::from(LEFT) + cols * i64::from(lay.pw + GAP) + i64::from(RIGHT);
    let h = i64::from(TOP) + rows * i64::from(lay.ph + GAP) + i64::from(BOTTOM);
    if w > i64::from(MAX_SIDE) || h > i64::from(MAX_SIDE) {
        bail!("the rule is too large to plot ({w}×{h} pixels; at most {MAX_SIDE} per side)");
    }
    let max = rule
        .weights
        .iter()
        .flatten()
        .fold(0.0f64, |m, x| m.max(x.abs()));
    let scale = |x: f64| if max > 0.0 { x / max } else { 0.0 };
    let mut shapes = Vec::new();
    let per_channel = rule.visible / rule.channels;
    for c in 0..rule.channels {
        let y0 = TOP + c as i32 * (lay.ph + GAP);
        if rule.channels > 1 {
            shapes.push(Shape::Text {
                pos: (LEFT - 12, y0 + lay.ph / 2),
                anchor: Anchor::Right,
                svg: format!("channel {c}"),
                png: format!("C{c}"),
            });
        }
        for j in 0..rule.hidden {
            let x0 = LEFT + j as i32 * (lay.pw + GAP);
            shapes.push(Shape::Text {
                pos: (x0 + lay.pw / 2, y0 - 16),
                anchor: Anchor::Center,
                svg: format!("hidden unit {j}"),
                png: format!("H{j}"),
            });
            if c + 1 == rule.channels {
                let b = label(rule.bias[j]);
                shapes.push(Shape::Text {
                    pos: (x0 + lay.pw / 2, y0 + lay.ph + 14),
                    anchor: Anchor::Center,
                    svg: format!("bias {b}"),
                    png: format!("B={b}"),
                });
            }
            let wts = &rule.weights[j][c * per_channel..(c + 1) * per_channel];
            match lay.kind {
                Kind::Heat => heat_panel(&lay, (x0, y0), wts, &scale, &mut shapes),
                Kind::Bars => bar_panel(&lay, (x0, y0), wts, &scale, &mut shapes),
                Kind::Dimer => dimer_panel(&lay, (x0, y0), wts, &scale, &mut shapes),
            }
        }
    }
    // Colour bar: +max at the top, −max at the bottom, 0 in the middle.
    let bx = LEFT + cols as i32 * (lay.pw + GAP);
    let by0 = TOP;
    let by1 = TOP + (rows as i32 * (lay.ph + GAP) - GAP).max(lay.ph).max(120);
    let steps = 64;
    for k in 0..steps {
        let ya = by0 + (by1 - by0) * k / steps;
        let yb = by0 + (by1 - by0) * (k + 1) / steps;
        let t = 1.0 - 2.0 * (f64::from(k) + 0.5) / f64::from(steps);
        shapes.push(Shape::Rect {
            x0: bx,
            y0: ya,
            x1: bx + BAR_W,
            y1: yb,
            fill: diverging(t),
            stroke: None,
        });
    }
    outline(bx, by0, bx + BAR_W, by1, &mut shapes);
    for (y, v) in [(by0, max), ((by0 + by1) / 2, 0.0), (by1, -max)] {
        shapes.push(Shape::Line {
            from: (bx + BAR_W, y),
            to: (bx + BAR_W + 5, y),
            color: (0, 0, 0),
        });
        let text = label(v);
        shapes.push(Shape::Text {
            pos: (bx + BAR_W + 9, y),
            anchor: Anchor::Left,
            svg: text.clone(),
            png: text,
        });
    }
    Ok(Scene {
        width: w as u32,
        height: h as u32,
        shapes,
    })
}

fn heat_panel(
    lay: &Layout,
    (x0, y0): (i32, i32),
    wts: &[f64],
    scale: &dyn Fn(f64) -> f64,
    out: &mut Vec<Shape>,
) {
    let (b, s) = (lay.block, lay.cell);
    for (k, &w) in wts.iter().enumerate() {
        let (r, c) = ((k / b) as i32, (k % b) as i32);
        out.push(Shape::Rect {
            x0: x0 + c * s,
            y0: y0 + r * s,
            x1: x0 + (c + 1) * s,
            y1: y0 + (r + 1) * s,
            fill: diverging(scale(w)),
            stroke: (s >= 6).then_some(LIGHT),
        });
    }
    frame(x0, y0, lay, out);
}

fn bar_panel(
    lay: &Layout,
    (x0, y0): (i32, i32),
    wts: &[f64],
    scale: &dyn Fn(f64) -> f64,
    out: &mut Vec<Shape>,
) {
    let s = lay.cell;
    let mid = y0 + lay.ph / 2;
    let half = lay.ph / 2 - 6;
    for (k, &w) in wts.iter().enumerate() {
        let t = scale(w);
        let hgt = (t * f64::from(half)).round() as i32;
        let xa = x0 + k as i32 * s + (s / 6).max(0);
        let xb = x0 + (k as i32 + 1) * s - (s / 6).max(0);
        let (ya, yb) = if hgt >= 0 {
            (mid - hgt, mid)
        } else {
            (mid, mid - hgt)
        };
        out.push(Shape::Rect {
            x0: xa,
            y0: ya,
            x1: xb.max(xa + 1),
            y1: yb,
            fill: diverging(t),
            stroke: (s >= 6).then_some(GREY),
        });
    }
    out.push(Shape::Line {
        from: (x0, mid),
        to: (x0 + lay.pw, mid),
        color: (0, 0, 0),
    });
    frame(x0, y0, lay, out);
}

/// Dimer block in place: entry (r, c) of the block sits at the lattice point
/// (x0 + pad + c·cell + cell/2, y0 + pad + r·cell + cell/2).
fn dimer_panel(
    lay: &Layout,
    (x0, y0): (i32, i32),
    wts: &[f64],
    scale: &dyn Fn(f64) -> f64,
    out: &mut Vec<Shape>,
) {
    let (b, g) = (lay.block, lay.cell);
    let centre = |r: i32, c: i32| (x0 + lay.pad + c * g + g / 2, y0 + lay.pad + r * g + g / 2);
    let thick = (g * 2 / 5).max(2);
    let marker = (g / 4).max(2);
    // Links first, then the noise markers on top.
    for (k, &w) in wts.iter().enumerate() {
        let (r, c) = ((k / b) as i32, (k % b) as i32);
        let (cx, cy) = centre(r, c);
        let fill = diverging(scale(w));
        match (r % 2, c % 2) {
            (0, 1) => out.push(Shape::Rect {
                x0: cx - g + marker + 1,
                y0: cy - thick / 2,
                x1: cx + g - marker - 1,
                y1: cy + thick / 2,
                fill,
                stroke: Some(GREY),
            }),
            (1, 0) => out.push(Shape::Rect {
                x0: cx - thick / 2,
                y0: cy - g + marker + 1,
                x1: cx + thick / 2,
                y1: cy + g - marker - 1,
                fill,
                stroke: Some(GREY),
            }),
            _ => {}
        }
    }
    for (k, &w) in wts.iter().enumerate() {
        let (r, c) = ((k / b) as i32, (k % b) as i32);
        let (cx, cy) = centre(r, c);
        let fill = diverging(scale(w));
        match (r % 2, c % 2) {
            (0, 0) => out.push(Shape::Rect {
                x0: cx - marker,
                y0: cy - marker,
                x1: cx + marker,
                y1: cy + marker,
                fill,
                stroke: Some((60, 60, 60)),
            }),
            (1, 1) => out.push(Shape::Circle {
                center: (cx, cy),
                radius: marker,
                fill,
                stroke: Some((60, 60, 60)),
            }),
            _ => {}
        }
    }
    frame(x0, y0, lay, out);
}

fn frame(x0: i32, y0: i32, lay: &Layout, out: &mut Vec<Shape>) {
    outline(x0, y0, x0 + lay.pw, y0 + lay.ph, out);
}

/// Four grey lines around the box (x0, y0)–(x1, y1).
fn outline(x0: i32, y0: i32, x1: i32, y1: i32, out: &mut Vec<Shape>) {
    for (from, to) in [
        ((x0, y0), (x1, y0)),
        ((x1, y0), (x1, y1)),
        ((x1, y1), (x0, y1)),
        ((x0, y1), (x0, y0)),
    ] {
        out.push(Shape::Line {
            from,
            to,
            color: GREY,
        });
    }
}

/// A scratch file next to `out` for the PNG encoder (which writes to a path), removed
/// when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn scratch_png(out: &Path) -> Scratch {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out.file_name().unwrap_or_default().to_string_lossy();
    Scratch(dir.join(format!(
        ".{name}.render.{}.{}.png",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )))
}

/// Draws `rule` (see the module docs) to `out`, PNG or SVG by its extension; refuses to
/// overwrite an existing file unless `force`. The write is atomic: nothing is left at
/// `out` (or beside it) when anything fails.
pub fn plot_rule(rule: &RuleFile, out: &Path, force: bool) -> Result<()> {
    Format::from_path(out)?;
    check_output_path(out, force)?;
    write_scene(&rule_scene(rule)?, out, force)
}

/// Renders `scene` to `out`, PNG or SVG by its extension, atomically (nothing is left at
/// `out` or beside it when anything fails); refuses to overwrite unless `force`.
pub fn write_scene(scene: &Scene, out: &Path, force: bool) -> Result<()> {
    let format = Format::from_path(out)?;
    let scene = scene.clone();
    let bytes = match format {
        Format::Svg => render_svg(&scene)?.into_bytes(),
        Format::Png => {
            let tmp = scratch_png(out);
            render_png(&scene, &tmp.0)
                .with_context(|| format!("could not render {}", out.display()))?;
            std::fs::read(&tmp.0).with_context(|| {
                format!("could not read back the rendering of {}", out.display())
            })?
        }
    };
    write_atomic(out, force, |f| {
        use std::io::Write;
        f.write_all(&bytes)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_map_is_symmetric_and_white_at_zero() {
        assert_eq!(diverging(0.0), (255, 255, 255));
        assert_eq!(diverging(1.0), RED);
        assert_eq!(diverging(-1.0), BLUE);
        assert_eq!(diverging(7.0), RED);
        // Half way: 255 + ½(end − 255) per channel, rounded half away from zero (by hand).
        assert_eq!(diverging(0.5), (217, 140, 149));
        assert_eq!(diverging(-0.5), (144, 179, 214));
    }

    #[test]
    fn labels() {
        assert_eq!(label(0.0), "0");
        assert_eq!(label(1.234), "+1.23");
        assert_eq!(label(-12.345), "-12.3");
        assert_eq!(label(0.0456), "+0.0456");
        assert_eq!(label(12345.0), "+1.23e4");
    }

    #[test]
    fn format_from_extension() {
        assert_eq!(
            Format::from_path(Path::new("a/b.PNG")).unwrap(),
            Format::Png
        );
        assert_eq!(Format::from_path(Path::new("b.svg")).unwrap(), Format::Svg);
        let e = Format::from_path(Path::new("b.pdf"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(".png or .svg"), "{e}");
        assert!(Format::from_path(Path::new("noext")).is_err());
    }
}
