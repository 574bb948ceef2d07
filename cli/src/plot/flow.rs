//! Figures of the RG flow (`rsmi flow`): the flow diagram (T_eff against the RG step, one
//! line per starting temperature, T_c dashed, as KJR's Fig. 5) and the collapse behind ν
//! (ν log₂|t_n| against n + ν log₂|t₀|: a flow with t_n = 2^{n/ν} t₀ lies on the diagonal).
//!
//! Both are x–y plots with error bars drawn as [`Scene`] primitives. PNG files carry tick
//! values only (the built-in pixel font has digits and a few letters); SVG files also carry
//! the title and axis labels.

use std::path::Path;

use anyhow::{Result, bail};
use serde_json::Value;

use super::scene::{Anchor, Rgb, Scene, Shape};
use super::write_scene;

const W: i32 = 720;
const H: i32 = 520;
const L: i32 = 90;
const R: i32 = 30;
const T: i32 = 50;
const B: i32 = 70;
const AXIS: Rgb = (0, 0, 0);
const GRID: Rgb = (225, 225, 225);
const COLD: Rgb = (33, 102, 172);
const HOT: Rgb = (178, 24, 43);

/// One series of points (x, y, y error).
#[derive(Debug, Clone)]
pub struct Series {
    /// Points.
    pub points: Vec<(f64, f64, f64)>,
    /// Colour.
    pub color: Rgb,
}

/// A straight guide line in data coordinates.
#[derive(Debug, Clone, Copy)]
pub struct Guide {
    /// Start.
    pub from: (f64, f64),
    /// End.
    pub to: (f64, f64),
}

/// Tick positions: about `n` round numbers covering [lo, hi].
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

fn fmt_tick(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    if s == "-0" { "0".into() } else { s }
}

/// An x–y plot of `series` with `guides`, a title and axis labels (SVG only).
pub fn xy_scene(
    series: &[Series],
    guides: &[Guide],
    title: &str,
    xlab: &str,
    ylab: &str,
) -> Result<Scene> {
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y, e) in pts {
        if !(x.is_finite() && y.is_finite()) {
            continue;
        }
        let e = if e.is_finite() { e } else { 0.0 };
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y - e);
        y1 = y1.max(y + e);
    }
    if !(x0.is_finite() && y0.is_finite()) {
        bail!("nothing to plot: no finite points");
    }
    let pad = |a: f64, b: f64| {
        let d = (b - a).max(1e-9) * 0.06;
        (a - d, b + d)
    };
    let (x0, x1) = pad(x0, x1);
    let (y0, y1) = pad(y0, y1);
    let px = |x: f64| L + ((x - x0) / (x1 - x0) * f64::from(W - L - R)).round() as i32;
    let py = |y: f64| H - B - ((y - y0) / (y1 - y0) * f64::from(H - T - B)).round() as i32;
    let mut s = Scene {
        width: W as u32,
        height: H as u32,
        shapes: Vec::new(),
    };
    let text = |pos, anchor, svg: &str, png: &str| Shape::Text {
        pos,
        anchor,
        svg: svg.into(),
        png: png.into(),
    };
    for v in ticks(x0, x1, 6) {
        s.shapes.push(Shape::Line {
            from: (px(v), T),
            to: (px(v), H - B),
            color: GRID,
        });
        let t = fmt_tick(v);
        s.shapes
            .push(text((px(v), H - B + 14), Anchor::Center, &t, &t));
    }
    for v in ticks(y0, y1, 6) {
        s.shapes.push(Shape::Line {
            from: (L, py(v)),
            to: (W - R, py(v)),
            color: GRID,
        });
        let t = fmt_tick(v);
        s.shapes.push(text((L - 8, py(v)), Anchor::Right, &t, &t));
    }
    s.shapes.push(Shape::Line {
        from: (L, H - B),
        to: (W - R, H - B),
        color: AXIS,
    });
    s.shapes.push(Shape::Line {
        from: (L, T),
        to: (L, H - B),
        color: AXIS,
    });
    s.shapes.push(text((W / 2, 22), Anchor::Center, title, ""));
    s.shapes
        .push(text((W / 2, H - 25), Anchor::Center, xlab, ""));
    s.shapes.push(text((12, T - 20), Anchor::Left, ylab, ""));
    // Guides, dashed: short segments.
    for g in guides {
        let (a, b) = ((px(g.from.0), py(g.from.1)), (px(g.to.0), py(g.to.1)));
        let n = 40;
        for k in (0..n).step_by(2) {
            let f = |t: f64| {
                (
                    (f64::from(a.0) + t * f64::from(b.0 - a.0)) as i32,
                    (f64::from(a.1) + t * f64::from(b.1 - a.1)) as i32,
                )
            };
            s.shapes.push(Shape::Line {
                from: f(k as f64 / n as f64),
                to: f((k + 1) as f64 / n as f64),
                color: (90, 90, 90),
            });
        }
    }
    for se in series {
        let ok: Vec<_> = se
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        for w in ok.windows(2) {
            s.shapes.push(Shape::Line {
                from: (px(w[0].0), py(w[0].1)),
                to: (px(w[1].0), py(w[1].1)),
                color: se.color,
            });
        }
        for &&(x, y, e) in &ok {
            if e.is_finite() && e > 0.0 {
                s.shapes.push(Shape::Line {
                    from: (px(x), py(y - e)),
                    to: (px(x), py(y + e)),
                    color: se.color,
                });
                for yy in [y - e, y + e] {
                    s.shapes.push(Shape::Line {
                        from: (px(x) - 3, py(yy)),
                        to: (px(x) + 3, py(yy)),
                        color: se.color,
                    });
                }
            }
            s.shapes.push(Shape::Circle {
                center: (px(x), py(y)),
                radius: 3,
                fill: se.color,
                stroke: None,
            });
        }
    }
    Ok(s)
}

/// Colour of a flow: blue below T_c, red above, paler closer to T_c.
fn flow_color(t0: f64, tc: f64, max_dt: f64) -> Rgb {
    let f = ((t0 - tc).abs() / max_dt.max(1e-12)).clamp(0.25, 1.0);
    let base = if t0 < tc { COLD } else { HOT };
    let mix = |c: u8| (255.0 - f * (255.0 - f64::from(c))).round() as u8;
    (mix(base.0), mix(base.1), mix(base.2))
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// The flow diagram of a flow.json value.
pub fn plot_flow(flow: &Value, out: &Path, force: bool) -> Result<()> {
    let tc = num(&flow["t_c"]["value"]);
    let flows = flow["flows"].as_array().cloned().unwrap_or_default();
    let max_dt = flows
        .iter()
        .map(|f| (num(&f["t0"]) - tc).abs())
        .fold(0.0, f64::max);
    let series: Vec<Series> = flows
        .iter()
        .map(|f| Series {
            color: flow_color(num(&f["t0"]), tc, max_dt),
            points: f["levels"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| {
                    (
                        num(&l["level"]),
                        num(&l["t_eff"]["value"]),
                        num(&l["t_eff"]["err"]),
                    )
                })
                .collect(),
        })
        .collect();
    let levels = num(&flow["levels"]);
    let scene = xy_scene(
        &series,
        &[Guide {
            from: (0.0, tc),
            to: (levels, tc),
        }],
        &format!(
            "RG flow of learned rules, L = {}: T_eff per step (dashed: T_c = {tc:.4} from the flow)",
            flow["size"]
        ),
        "RG step n",
        "T_eff",
    )?;
    write_scene(&scene, out, force)
}

/// The collapse plot of a flow.json value.
pub fn plot_collapse(flow: &Value, out: &Path, force: bool) -> Result<()> {
    let tc = num(&flow["t_c"]["value"]);
    let nu = num(&flow["nu"]["value"]);
    let nu = if nu.is_finite() { nu } else { 1.0 };
    let flows = flow["flows"].as_array().cloned().unwrap_or_default();
    let max_dt = flows
        .iter()
        .map(|f| (num(&f["t0"]) - tc).abs())
        .fold(0.0, f64::max);
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let series: Vec<Series> = flows
        .iter()
        .map(|f| {
            let t0 = num(&f["t0"]);
            let lt0 = ((t0 - tc) / tc).abs().log2();
            let points: Vec<(f64, f64, f64)> = f["levels"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| {
                    let n = num(&l["level"]);
                    let t = num(&l["t_eff"]["value"]);
                    let e = num(&l["t_eff"]["err"]);
                    let tn = ((t - tc) / tc).abs();
                    let x = n + nu * lt0;
                    // d(ν log₂|t|) = ν e / (|T − T_c| ln 2).
                    (
                        x,
                        nu * tn.log2(),
                        nu * e / ((t - tc).abs() * std::f64::consts::LN_2),
                    )
                })
                .collect();
            for p in &points {
                if p.0.is_finite() {
                    lo = lo.min(p.0);
                    hi = hi.max(p.0);
                }
            }
            Series {
                color: flow_color(t0, tc, max_dt),
                points,
            }
        })
        .collect();
    let guides = if lo.is_finite() {
        vec![Guide {
            from: (lo, lo),
            to: (hi, hi),
        }]
    } else {
        vec![]
    };
    let scene = xy_scene(
        &series,
        &guides,
        &format!(
            "Collapse: nu log2|t_n| against n + nu log2|t_0| (nu = {nu:.3}, T_c = {tc:.4}); dashed: t_n = 2^(n/nu) t_0"
        ),
        "n + nu log2|t_0|",
        "nu log2|t_n|",
    )?;
    write_scene(&scene, out, force)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover() {
        assert_eq!(
            ticks(0.0, 1.0, 5),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        let t = ticks(2.17, 2.41, 6);
        assert!(t.len() >= 4 && t[0] >= 2.17 && *t.last().unwrap() <= 2.41);
        assert_eq!(fmt_tick(2.25), "2.25");
        assert_eq!(fmt_tick(-0.0), "0");
    }
}
