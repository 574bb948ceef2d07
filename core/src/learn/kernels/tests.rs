//! `f32x8` kernels == scalar references == `rule.rs` (f64) within the documented
//! tolerance, on random shapes (|V| and |E| not multiples of 8 included, N_h = 1..8,
//! batches not multiples of 8).

use super::*;
use crate::learn::rule;
use crate::rng::stream;
use rand_core::Rng;

struct Gen(rand_xoshiro::Xoshiro256PlusPlus);

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen(stream(seed, 7, 0))
    }
    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.0.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }
    fn spin(&mut self) -> f32 {
        if self.0.next_u64() >> 63 == 1 {
            1.0
        } else {
            -1.0
        }
    }
    fn fill(&mut self, x: &mut [f32], lo: f32, hi: f32) {
        for y in x {
            *y = self.uniform(lo, hi);
        }
    }
    fn spins(&mut self, x: &mut [f32]) {
        for y in x {
            *y = self.spin();
        }
    }
}

const VISIBLE: [usize; 11] = [1, 3, 4, 7, 8, 9, 13, 15, 16, 64, 67];
/// Up to 130 rows: several groups of 8 tiles, the last one partial.
const BATCH: [usize; 6] = [1, 7, 8, 9, 33, 130];
const MAXN: usize = 130;

fn close(x: f32, y: f32, tol: f32) -> bool {
    (x - y).abs() <= tol
}

#[test]
fn rule_forward_matches_scalar_and_f64_reference() {
    let mut g = Gen::new(1);
    let mut w = [0.0f32; 8 * 67];
    let mut b = [0.0f32; 8];
    let mut v = [0.0f32; MAXN * 67];
    for (case, &nv) in VISIBLE.iter().enumerate() {
        for nh in 1usize..=8 {
            for &n in &BATCH {
                let shape = Shape::new(nv, nh).unwrap();
                let ns = shape.states();
                let w = &mut w[..nh * nv];
                let b = &mut b[..nh];
                let v = &mut v[..n * nv];
                // Weights of order 1/√|V| … 2 so that both tails of σ are exercised.
                let scale = 3.0 / libm::sqrtf(nv as f32);
                g.fill(w, -scale, scale);
                g.fill(b, -1.0, 1.0);
                if case % 2 == 0 {
                    g.spins(v);
                } else {
                    // 0/1 data (dimer links, noise bits).
                    for x in v.iter_mut() {
                        *x = if g.spin() > 0.0 { 1.0 } else { 0.0 };
                    }
                }
                let (mut a1, mut a2) = ([0.0f32; MAXN * 8], [0.0f32; MAXN * 8]);
                let (mut p1, mut p2) = ([0.0f32; MAXN * 256], [0.0f32; MAXN * 256]);
                let (a1, a2) = (&mut a1[..n * nh], &mut a2[..n * nh]);
                let (p1, p2) = (&mut p1[..n * ns], &mut p2[..n * ns]);
                rule_forward_scalar(shape, w, b, v, a1, p1).unwrap();
                rule_forward(shape, w, b, v, a2, p2).unwrap();
                let rs = rule::Shape::new(nv, nh).unwrap();
                let w64: [f64; 8 * 67] = core::array::from_fn(|k| *w.get(k).unwrap_or(&0.0) as f64);
                let b64: [f64; 8] = core::array::from_fn(|k| *b.get(k).unwrap_or(&0.0) as f64);
                for k in 0..n {
                    let v64: [f64; 67] =
                        core::array::from_fn(|i| if i < nv { v[k * nv + i] as f64 } else { 0.0 });
                    let mut a64 = [0.0f64; 8];
                    let mut p64 = [0.0f64; 256];
                    rule::preactivations(
                        rs,
                        &w64[..nh * nv],
                        &b64[..nh],
                        &v64[..nv],
                        &mut a64[..nh],
                    )
                    .unwrap();
                    rule::hidden_distribution(rs, &a64[..nh], &mut p64[..ns]).unwrap();
                    let abs: f32 = (0..nv).map(|i| (w[i] * v[k * nv + i]).abs()).sum::<f32>() + 1.0;
                    for j in 0..nh {
                        let i = k * nh + j;
                        assert!(
                            close(a1[i], a64[j] as f32, 1e-6 * abs),
                            "a scalar {nv} {nh} {n}"
                        );
                        assert!(
                            close(a2[i], a64[j] as f32, 2e-5 * abs),
                            "a simd {nv} {nh} {n}"
                        );
                    }
                    for s in 0..ns {
                        let i = k * ns + s;
                        assert!(
                            close(p1[i], p64[s] as f32, 1e-6),
                            "p scalar {nv} {nh} {n} {s}"
                        );
                        assert!(close(p2[i], p1[i], 1e-5), "p simd {nv} {nh} {n} {s}");
                    }
                }
            }
        }
    }
}

#[test]
fn rule_gradient_matches_scalar_and_f64_reference() {
    let mut g = Gen::new(2);
    let mut w = [0.0f32; 8 * 67];
    let mut b = [0.0f32; 8];
    let mut v = [0.0f32; MAXN * 67];
    let mut c = [0.0f32; MAXN * 256];
    for &nv in &VISIBLE {
        for nh in 1usize..=8 {
            for &n in &BATCH {
                let shape = Shape::new(nv, nh).unwrap();
                let ns = shape.states();
                let w = &mut w[..nh * nv];
                let b = &mut b[..nh];
                let v = &mut v[..n * nv];
                let c = &mut c[..n * ns];
                let scale = 3.0 / libm::sqrtf(nv as f32);
                g.fill(w, -scale, scale);
                g.fill(b, -1.0, 1.0);
                g.spins(v);
                g.fill(c, -2.0, 2.0);
                let mut a = [0.0f32; MAXN * 8];
                let mut p = [0.0f32; MAXN * 256];
                let (a, p) = (&mut a[..n * nh], &mut p[..n * ns]);
                rule_forward_scalar(shape, w, b, v, a, p).unwrap();
                // Start from non-zero gradients: the kernels accumulate.
                let mut gw1 = [0.25f32; 8 * 67];
                let mut gb1 = [0.25f32; 8];
                let mut gw2 = gw1;
                let mut gb2 = gb1;
                let (gw1, gb1) = (&mut gw1[..nh * nv], &mut gb1[..nh]);
                let (gw2, gb2) = (&mut gw2[..nh * nv], &mut gb2[..nh]);
                rule_gradient_scalar(shape, v, a, p, c, gw1, gb1).unwrap();
                rule_gradient(shape, v, a, p, c, gw2, gb2).unwrap();
                // f64 reference: rule::accumulate_gradient per sample.
                let rs = rule::Shape::new(nv, nh).unwrap();
                let mut gw64 = [0.25f64; 8 * 67];
                let mut gb64 = [0.25f64; 8];
                for k in 0..n {
                    let v64: [f64; 67] =
                        core::array::from_fn(|i| if i < nv { v[k * nv + i] as f64 } else { 0.0 });
                    let a64: [f64; 8] =
                        core::array::from_fn(|j| if j < nh { a[k * nh + j] as f64 } else { 0.0 });
                    let mut p64 = [0.0f64; 256];
                    rule::hidden_distribution(rs, &a64[..nh], &mut p64[..ns]).unwrap();
                    let c64: [f64; 256] =
                        core::array::from_fn(|s| if s < ns { c[k * ns + s] as f64 } else { 0.0 });
                    rule::accumulate_gradient(
                        rs,
                        &v64[..nv],
                        &a64[..nh],
                        &p64[..ns],
                        &c64[..ns],
                        1.0,
                        &mut gw64[..nh * nv],
                        &mut gb64[..nh],
                    )
                    .unwrap();
                }
                // |g_nj| ≤ 2 max|c|: Σ_n |terms| ≤ 4n.
                let tol = 1e-4 * 4.0 * n as f32 + 1e-6;
                for i in 0..nh * nv {
                    assert!(close(gw1[i], gw64[i] as f32, tol), "w scalar {nv} {nh} {n}");
                    assert!(close(gw2[i], gw64[i] as f32, tol), "w simd {nv} {nh} {n}");
                }
                for j in 0..nh {
                    assert!(close(gb1[j], gb64[j] as f32, tol), "b scalar {nv} {nh} {n}");
                    assert!(close(gb2[j], gb64[j] as f32, tol), "b simd {nv} {nh} {n}");
                }
            }
        }
    }
}

const ENV: [usize; 8] = [1, 2, 7, 8, 20, 48, 67, 320];

#[test]
fn decoder_forward_matches_scalar_and_normalises() {
    let mut g = Gen::new(3);
    let mut u = [0.0f32; 256 * 320];
    let mut d = [0.0f32; 256];
    let mut e = [0.0f32; MAXN * 320];
    for &ne in &ENV {
        for nh in 1usize..=8 {
            for &n in &BATCH {
                let shape = DecoderShape::new(ne, nh).unwrap();
                let ns = shape.states();
                let u = &mut u[..ns * ne];
                let d = &mut d[..ns];
                let e = &mut e[..n * ne];
                let scale = 4.0 / libm::sqrtf(ne as f32);
                g.fill(u, -scale, scale);
                g.fill(d, -2.0, 2.0);
                g.spins(e);
                let (mut q1, mut q2) = ([0.0f32; MAXN * 256], [0.0f32; MAXN * 256]);
                let (q1, q2) = (&mut q1[..n * ns], &mut q2[..n * ns]);
                decoder_forward_scalar(shape, u, d, e, q1).unwrap();
                decoder_forward(shape, u, d, e, q2).unwrap();
                for k in 0..n {
                    // Direct f64 evaluation of one row from the definition.
                    let mut z = [0.0f64; 256];
                    for s in 0..ns {
                        z[s] = d[s] as f64
                            + (0..ne)
                                .map(|m| u[s * ne + m] as f64 * e[k * ne + m] as f64)
                                .sum::<f64>();
                    }
                    let norm: f64 = z[..ns].iter().map(|&t| libm::exp(t)).sum();
                    let abs = 3.0 + 4.0 * libm::sqrtf(ne as f32);
                    let mut total = 0.0f64;
                    for s in 0..ns {
                        let exact = z[s] - libm::log(norm);
                        let i = k * ns + s;
                        assert!(
                            close(q1[i], exact as f32, 1e-6 * abs),
                            "scalar {ne} {nh} {n}"
                        );
                        assert!(close(q2[i], q1[i], 2e-5 * abs), "simd {ne} {nh} {n} {s}");
                        total += libm::exp(q2[i] as f64);
                    }
                    assert!((total - 1.0).abs() < 1e-5);
                }
            }
        }
    }
}

#[test]
fn decoder_backward_matches_scalar_and_f64_reference() {
    let mut g = Gen::new(4);
    let mut u = [0.0f32; 256 * 320];
    let mut d = [0.0f32; 256];
    let mut e = [0.0f32; MAXN * 320];
    let mut t = [0.0f32; MAXN * 256];
    for &ne in &ENV {
        for nh in 1usize..=8 {
            for &n in &BATCH {
                let shape = DecoderShape::new(ne, nh).unwrap();
                let ns = shape.states();
                let u = &mut u[..ns * ne];
                let d = &mut d[..ns];
                let e = &mut e[..n * ne];
                let t = &mut t[..n * ns];
                let scale = 4.0 / libm::sqrtf(ne as f32);
                g.fill(u, -scale, scale);
                g.fill(d, -2.0, 2.0);
                g.spins(e);
                // Soft targets: rows of a random distribution.
                for k in 0..n {
                    g.fill(&mut t[k * ns..(k + 1) * ns], 0.0, 1.0);
                    let sum: f32 = t[k * ns..(k + 1) * ns].iter().sum();
                    for x in &mut t[k * ns..(k + 1) * ns] {
                        *x /= sum;
                    }
                }
                let mut q = [0.0f32; MAXN * 256];
                let q = &mut q[..n * ns];
                decoder_forward_scalar(shape, u, d, e, q).unwrap();
                let sc = 1.0 / n as f32;
                let mut gu1 = [0.5f32; 256 * 320];
                let mut gd1 = [0.5f32; 256];
                let mut gu2 = gu1;
                let mut gd2 = gd1;
                let (gu1, gd1) = (&mut gu1[..ns * ne], &mut gd1[..ns]);
                let (gu2, gd2) = (&mut gu2[..ns * ne], &mut gd2[..ns]);
                decoder_backward_scalar(shape, e, t, q, sc, gu1, gd1).unwrap();
                decoder_backward(shape, e, t, q, sc, gu2, gd2).unwrap();
                for s in 0..ns {
                    let mut rd = 0.5f64;
                    for k in 0..n {
                        rd += sc as f64 * (t[k * ns + s] as f64 - libm::exp(q[k * ns + s] as f64));
                    }
                    // Σ_n |r| ≤ scale · 2n = 2.
                    let tol = 1e-4 * 2.0 + 1e-6;
                    assert!(close(gd1[s], rd as f32, tol), "d scalar {ne} {nh} {n}");
                    assert!(close(gd2[s], rd as f32, tol), "d simd {ne} {nh} {n}");
                    for m in 0..ne {
                        let mut r = 0.5f64;
                        for k in 0..n {
                            r += sc as f64
                                * (t[k * ns + s] as f64 - libm::exp(q[k * ns + s] as f64))
                                * e[k * ne + m] as f64;
                        }
                        let i = s * ne + m;
                        assert!(close(gu1[i], r as f32, tol), "u scalar {ne} {nh} {n}");
                        assert!(close(gu2[i], r as f32, tol), "u simd {ne} {nh} {n}");
                    }
                }
            }
        }
    }
}

#[test]
fn extreme_preactivations_stay_finite_and_accurate_in_the_tails() {
    // a = ±40: σ(−80) ≈ 1.8e-35 must survive (no 1 − tanh cancellation), no NaN.
    let shape = Shape::new(1, 1).unwrap();
    let (w, b) = ([40.0f32], [0.0f32]);
    let v = [1.0f32, -1.0];
    let (mut a, mut p) = ([0.0f32; 2], [0.0f32; 4]);
    rule_forward(shape, &w, &b, &v, &mut a, &mut p).unwrap();
    let tail = libm::exp(-80.0f64) as f32;
    assert!((p[0] / tail - 1.0).abs() < 1e-4 && p[1] == 1.0);
    assert!(p[2] == 1.0 && (p[3] / tail - 1.0).abs() < 1e-4);
    let c = [1.0f32, -1.0, 0.5, 0.25];
    let (mut gw, mut gb) = ([0.0f32], [0.0f32]);
    rule_gradient(shape, &v, &a, &p, &c, &mut gw, &mut gb).unwrap();
    assert!(gw[0].is_finite() && gb[0].is_finite());
}

#[test]
fn wrong_buffer_lengths_are_errors() {
    let shape = Shape::new(4, 1).unwrap();
    let (w, b) = ([0.0f32; 4], [0.0f32; 1]);
    let (mut a, mut p) = ([0.0f32; 2], [0.0f32; 4]);
    assert!(rule_forward(shape, &w, &b, &[0.0; 7], &mut a, &mut p).is_err());
    assert!(rule_forward(shape, &w[..3], &b, &[0.0; 8], &mut a, &mut p).is_err());
    assert!(rule_forward(shape, &w, &b, &[0.0; 8], &mut a[..1], &mut p).is_err());
    assert!(rule_forward_scalar(shape, &w, &b, &[0.0; 8], &mut a, &mut p[..3]).is_err());
    let (mut gw, mut gb) = ([0.0f32; 4], [0.0f32; 1]);
    assert!(rule_gradient(shape, &[0.0; 8], &a, &p, &[0.0; 3], &mut gw, &mut gb).is_err());
    assert!(DecoderShape::new(0, 1).is_err());
    assert!(DecoderShape::new(4, 9).is_err());
    let ds = DecoderShape::new(3, 1).unwrap();
    let mut q = [0.0f32; 4];
    assert!(decoder_forward(ds, &[0.0; 6], &[0.0; 2], &[0.0; 5], &mut q).is_err());
    assert!(decoder_forward(ds, &[0.0; 5], &[0.0; 2], &[0.0; 6], &mut q).is_err());
    let (mut gu, mut gd) = ([0.0f32; 6], [0.0f32; 2]);
    assert!(decoder_backward(ds, &[0.0; 6], &[0.0; 4], &q[..3], 1.0, &mut gu, &mut gd).is_err());
    // An empty batch is fine and a no-op.
    assert!(decoder_backward(ds, &[], &[], &[], 1.0, &mut gu, &mut gd).is_ok());
}
