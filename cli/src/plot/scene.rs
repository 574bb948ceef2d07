//! A tiny retained scene (rectangles, lines, circles, text) rendered with plotters'
//! backends: SVG to a string (text as `<text>` elements, no font needed) and PNG through
//! the bitmap backend, where text is drawn with a built-in 3×5 pixel font made of
//! rectangles (the build has no font support, and plotters panics when asked to rasterise
//! text without one; this module never asks it to).

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// An RGB colour.
pub type Rgb = (u8, u8, u8);

/// Horizontal text anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The position is the left end of the text.
    Left,
    /// The position is the centre of the text.
    Center,
    /// The position is the right end of the text.
    Right,
}

/// One drawing primitive (pixel coordinates, y down).
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Axis-aligned rectangle from (x0, y0) to (x1, y1), filled, with an optional
    /// 1-pixel outline.
    Rect {
        /// Corners.
        x0: i32,
        /// Corners.
        y0: i32,
        /// Corners.
        x1: i32,
        /// Corners.
        y1: i32,
        /// Fill colour.
        fill: Rgb,
        /// Outline colour.
        stroke: Option<Rgb>,
    },
    /// Straight line.
    Line {
        /// Start.
        from: (i32, i32),
        /// End.
        to: (i32, i32),
        /// Colour.
        color: Rgb,
    },
    /// Filled circle with an optional outline.
    Circle {
        /// Centre.
        center: (i32, i32),
        /// Radius.
        radius: i32,
        /// Fill colour.
        fill: Rgb,
        /// Outline colour.
        stroke: Option<Rgb>,
    },
    /// Text, vertically centred on `pos`. `svg` is written in SVG files; `png` (short,
    /// drawn with the pixel font: digits, `+ - . =` and the letters B C E H) in PNG files.
    Text {
        /// Anchor point.
        pos: (i32, i32),
        /// Horizontal anchor.
        anchor: Anchor,
        /// Text of the SVG rendering.
        svg: String,
        /// Text of the PNG rendering.
        png: String,
    },
}

/// A figure: size and shapes in drawing order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scene {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The shapes.
    pub shapes: Vec<Shape>,
}

const BLACK_: Rgb = (0, 0, 0);
/// Font size of SVG text (pixels).
const SVG_FONT: f64 = 15.0;
/// Pixel-font scale (one glyph cell = SCALE × SCALE pixels).
const SCALE: i32 = 2;

/// 3×5 glyphs: five rows of three bits (left = 4).
fn glyph(c: char) -> [u8; 5] {
    match c.to_ascii_uppercase() {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '-' => [0, 0, 7, 0, 0],
        '+' => [0, 2, 7, 2, 0],
        '.' => [0, 0, 0, 0, 2],
        '=' => [0, 7, 0, 7, 0],
        'B' => [6, 5, 6, 5, 6],
        'C' => [7, 4, 4, 4, 7],
        'E' => [7, 4, 7, 4, 7],
        'H' => [5, 5, 7, 5, 5],
        _ => [0; 5],
    }
}

/// Pixel-font rectangles of `text` (advance 4 cells per character).
fn pixel_text(pos: (i32, i32), anchor: Anchor, text: &str, out: &mut Vec<Shape>) {
    let n = text.chars().count() as i32;
    let width = (4 * n - 1).max(0) * SCALE;
    let x0 = match anchor {
        Anchor::Left => pos.0,
        Anchor::Center => pos.0 - width / 2,
        Anchor::Right => pos.0 - width,
    };
    let y0 = pos.1 - 5 * SCALE / 2;
    for (k, c) in text.chars().enumerate() {
        let gx = x0 + 4 * SCALE * k as i32;
        for (r, bits) in glyph(c).iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0 {
                    let (x, y) = (gx + col * SCALE, y0 + r as i32 * SCALE);
                    out.push(Shape::Rect {
                        x0: x,
                        y0: y,
                        x1: x + SCALE,
                        y1: y + SCALE,
                        fill: BLACK_,
                        stroke: None,
                    });
                }
            }
        }
    }
}

fn color(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

fn draw_all<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    shapes: &[Shape],
    svg: bool,
) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("could not draw the figure: {e}");
    root.fill(&WHITE).map_err(err)?;
    let mut expanded = Vec::new();
    for s in shapes {
        match s {
            Shape::Text {
                pos, anchor, png, ..
            } if !svg => pixel_text(*pos, *anchor, png, &mut expanded),
            other => expanded.push(other.clone()),
        }
    }
    for s in &expanded {
        match s {
            Shape::Rect {
                x0,
                y0,
                x1,
                y1,
                fill,
                stroke,
            } => {
                root.draw(&Rectangle::new(
                    [(*x0, *y0), (*x1, *y1)],
                    color(*fill).filled(),
                ))
                .map_err(err)?;
                if let Some(st) = stroke {
                    root.draw(&Rectangle::new(
                        [(*x0, *y0), (*x1, *y1)],
                        color(*st).stroke_width(1),
                    ))
                    .map_err(err)?;
                }
            }
            Shape::Line { from, to, color: c } => {
                root.draw(&PathElement::new(
                    vec![*from, *to],
                    color(*c).stroke_width(1),
                ))
                .map_err(err)?;
            }
            Shape::Circle {
                center,
                radius,
                fill,
                stroke,
            } => {
                root.draw(&Circle::new(*center, *radius, color(*fill).filled()))
                    .map_err(err)?;
                if let Some(st) = stroke {
                    root.draw(&Circle::new(*center, *radius, color(*st).stroke_width(1)))
                        .map_err(err)?;
                }
            }
            Shape::Text {
                pos, anchor, svg, ..
            } => {
                let h = match anchor {
                    Anchor::Left => HPos::Left,
                    Anchor::Center => HPos::Center,
                    Anchor::Right => HPos::Right,
                };
                let style = TextStyle::from(("sans-serif", SVG_FONT).into_font())
                    .color(&BLACK)
                    .pos(Pos::new(h, VPos::Center));
                root.draw(&Text::new(svg.clone(), *pos, style))
                    .map_err(err)?;
            }
        }
    }
    Ok(())
}

/// The scene as an SVG document.
pub fn render_svg(scene: &Scene) -> Result<String> {
    let mut buf = String::new();
    {
        let root =
            SVGBackend::with_string(&mut buf, (scene.width, scene.height)).into_drawing_area();
        draw_all(&root, &scene.shapes, true)?;
        root.present()
            .map_err(|e| anyhow!("could not finish the SVG: {e}"))?;
    }
    Ok(buf)
}

/// Renders the scene as a PNG file at `path` (not atomic; see [`super::plot_rule`]).
pub fn render_png(scene: &Scene, path: &Path) -> Result<()> {
    let root = BitMapBackend::new(path, (scene.width, scene.height)).into_drawing_area();
    draw_all(&root, &scene.shapes, false)?;
    root.present()
        .map_err(|e| anyhow!("could not encode the PNG: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_font_covers_labels_and_anchors() {
        let mut out = Vec::new();
        pixel_text((100, 50), Anchor::Right, "-1.5E+03", &mut out);
        // Every rectangle lies left of the anchor and within ±5 pixels of its row.
        for s in &out {
            let Shape::Rect { x1, y0, y1, .. } = s else {
                panic!()
            };
            assert!(*x1 <= 100 && *y0 >= 45 && *y1 <= 55);
        }
        // "1" has 8 lit cells, "8" has 13.
        let mut one = Vec::new();
        pixel_text((0, 0), Anchor::Left, "1", &mut one);
        let mut eight = Vec::new();
        pixel_text((0, 0), Anchor::Left, "8", &mut eight);
        assert_eq!((one.len(), eight.len()), (8, 13));
    }
}
