//! The learning kernels (`f32x8`) beside their scalar references in the same run.
//!
//! Throughput: elements = (V, E) pairs. Shapes: the 2×2 Ising block (|V| = 4, |E| = 48,
//! L_B = 1, L_E = 2) with N_h = 1 and 4, and the 8×8 decorated dimer block
//! (|V| = 64, |E| = 320, L_B = L_E = 4) with N_h = 2. Minibatch N = 1024.
//! Each pair of implementations is checked against each other once before timing.
//!
//! Groups: `rule_grad` (rule forward + gradient contraction), `decoder` (decoder forward +
//! backward), `im` (the full IM value + gradient), `infonce` (the full InfoNCE value +
//! gradient, batch K = N, embedding 8, a linear critic and an MLP critic of width 32).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rsmi_core::learn::geometry::{Block, Square};
use rsmi_core::learn::im::{Grads, Im, Params, Path};
use rsmi_core::learn::infonce::{self, Nce};
use rsmi_core::learn::kernels::{
    DecoderShape, decoder_backward, decoder_backward_scalar, decoder_forward,
    decoder_forward_scalar, rule_forward, rule_forward_scalar, rule_gradient, rule_gradient_scalar,
};
use rsmi_core::learn::rule::Shape;
use std::hint::black_box;

const N: usize = 1024;

/// Deterministic pseudo-random numbers (splitmix64) for the bench inputs.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| scale * self.next()).collect()
    }
    fn spins(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| if self.next() > 0.0 { 1.0 } else { -1.0 })
            .collect()
    }
}

struct Case {
    name: &'static str,
    visible: usize,
    env: usize,
    hidden: usize,
}

fn cases() -> [Case; 3] {
    let ising = Square::new(2, 1, 2).unwrap();
    let dimer = Square::new(8, 4, 4).unwrap();
    assert_eq!((ising.visible_len(), ising.env_len()), (4, 48));
    assert_eq!((dimer.visible_len(), dimer.env_len()), (64, 320));
    [
        Case {
            name: "v4_e48_h1",
            visible: 4,
            env: 48,
            hidden: 1,
        },
        Case {
            name: "v4_e48_h4",
            visible: 4,
            env: 48,
            hidden: 4,
        },
        Case {
            name: "v64_e320_h2",
            visible: 64,
            env: 320,
            hidden: 2,
        },
    ]
}

fn max_abs_diff(x: &[f32], y: &[f32]) -> f32 {
    x.iter()
        .zip(y)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

fn rule_grad(c: &mut Criterion) {
    let mut g = c.benchmark_group("rule_grad");
    g.throughput(Throughput::Elements(N as u64));
    for case in cases() {
        let shape = Shape::new(case.visible, case.hidden).unwrap();
        let ns = shape.states();
        let mut mix = Mix(1);
        let w = mix.vec(shape.weights(), 1.0);
        let b = mix.vec(case.hidden, 0.5);
        let v = mix.spins(N * case.visible);
        let cc = mix.vec(N * ns, 1.0 / N as f32);
        let (mut a, mut p) = (vec![0.0f32; N * case.hidden], vec![0.0f32; N * ns]);
        let (mut gw, mut gb) = (vec![0.0f32; shape.weights()], vec![0.0f32; case.hidden]);
        // Check once.
        let (mut a2, mut p2) = (a.clone(), p.clone());
        let (mut gw2, mut gb2) = (gw.clone(), gb.clone());
        rule_forward(shape, &w, &b, &v, &mut a, &mut p).unwrap();
        rule_gradient(shape, &v, &a, &p, &cc, &mut gw, &mut gb).unwrap();
        rule_forward_scalar(shape, &w, &b, &v, &mut a2, &mut p2).unwrap();
        rule_gradient_scalar(shape, &v, &a2, &p2, &cc, &mut gw2, &mut gb2).unwrap();
        assert!(max_abs_diff(&p, &p2) < 1e-5 && max_abs_diff(&gw, &gw2) < 1e-4);
        g.bench_function(format!("{}_scalar", case.name), |bn| {
            bn.iter(|| {
                rule_forward_scalar(shape, &w, &b, &v, &mut a, &mut p).unwrap();
                rule_gradient_scalar(shape, &v, &a, &p, &cc, &mut gw, &mut gb).unwrap();
                black_box(gw[0])
            })
        });
        g.bench_function(format!("{}_f32x8", case.name), |bn| {
            bn.iter(|| {
                rule_forward(shape, &w, &b, &v, &mut a, &mut p).unwrap();
                rule_gradient(shape, &v, &a, &p, &cc, &mut gw, &mut gb).unwrap();
                black_box(gw[0])
            })
        });
    }
    g.finish();
}

fn decoder(c: &mut Criterion) {
    let mut g = c.benchmark_group("decoder");
    g.throughput(Throughput::Elements(N as u64));
    for case in cases() {
        let shape = DecoderShape::new(case.env, case.hidden).unwrap();
        let ns = shape.states();
        let mut mix = Mix(2);
        let u = mix.vec(shape.weights(), 0.3);
        let d = mix.vec(ns, 0.5);
        let e = mix.spins(N * case.env);
        // Soft targets: normalised rows.
        let mut t: Vec<f32> = mix
            .vec(N * ns, 1.0)
            .iter()
            .map(|x| x.abs() + 0.01)
            .collect();
        for row in t.chunks_exact_mut(ns) {
            let s: f32 = row.iter().sum();
            row.iter_mut().for_each(|x| *x /= s);
        }
        let mut q = vec![0.0f32; N * ns];
        let (mut gu, mut gd) = (vec![0.0f32; shape.weights()], vec![0.0f32; ns]);
        let (mut q2, mut gu2, mut gd2) = (q.clone(), gu.clone(), gd.clone());
        let sc = 1.0 / N as f32;
        decoder_forward(shape, &u, &d, &e, &mut q).unwrap();
        decoder_backward(shape, &e, &t, &q, sc, &mut gu, &mut gd).unwrap();
        decoder_forward_scalar(shape, &u, &d, &e, &mut q2).unwrap();
        decoder_backward_scalar(shape, &e, &t, &q2, sc, &mut gu2, &mut gd2).unwrap();
        assert!(max_abs_diff(&q, &q2) < 1e-4 && max_abs_diff(&gu, &gu2) < 1e-4);
        g.bench_function(format!("{}_scalar", case.name), |bn| {
            bn.iter(|| {
                decoder_forward_scalar(shape, &u, &d, &e, &mut q).unwrap();
                decoder_backward_scalar(shape, &e, &t, &q, sc, &mut gu, &mut gd).unwrap();
                black_box(gu[0])
            })
        });
        g.bench_function(format!("{}_f32x8", case.name), |bn| {
            bn.iter(|| {
                decoder_forward(shape, &u, &d, &e, &mut q).unwrap();
                decoder_backward(shape, &e, &t, &q, sc, &mut gu, &mut gd).unwrap();
                black_box(gu[0])
            })
        });
    }
    g.finish();
}

fn im(c: &mut Criterion) {
    let mut g = c.benchmark_group("im");
    g.throughput(Throughput::Elements(N as u64));
    for case in cases() {
        let im = Im::new(case.visible, case.env, case.hidden).unwrap();
        let (rs, ds) = (im.rule_shape(), im.decoder_shape());
        let mut mix = Mix(3);
        let w = mix.vec(rs.weights(), 1.0);
        let b = mix.vec(case.hidden, 0.5);
        let u = mix.vec(ds.weights(), 0.3);
        let d = mix.vec(ds.states(), 0.5);
        let v = mix.spins(N * case.visible);
        let e = mix.spins(N * case.env);
        let mut work = vec![0.0f32; im.workspace_len(N)];
        let mut gw = vec![0.0f32; rs.weights()];
        let mut gb = vec![0.0f32; case.hidden];
        let mut gu = vec![0.0f32; ds.weights()];
        let mut gd = vec![0.0f32; ds.states()];
        let mut run = |path: Path, gu: &mut Vec<f32>| {
            let params = Params {
                weights: &w,
                bias: &b,
                u: &u,
                d: &d,
            };
            let grads = Grads {
                weights: &mut gw,
                bias: &mut gb,
                u: gu,
                d: &mut gd,
            };
            im.value_and_gradient(path, params, &v, &e, &mut work, grads)
                .unwrap()
        };
        let mut gu2 = gu.clone();
        let x1 = run(Path::F32x8, &mut gu);
        let x2 = run(Path::Scalar, &mut gu2);
        assert!((x1 - x2).abs() < 1e-4 && max_abs_diff(&gu, &gu2) < 1e-4);
        g.bench_function(format!("{}_scalar", case.name), |bn| {
            bn.iter(|| black_box(run(Path::Scalar, &mut gu)))
        });
        g.bench_function(format!("{}_f32x8", case.name), |bn| {
            bn.iter(|| black_box(run(Path::F32x8, &mut gu)))
        });
    }
    g.finish();
}

fn nce(c: &mut Criterion) {
    let mut g = c.benchmark_group("infonce");
    g.throughput(Throughput::Elements(N as u64));
    for case in cases() {
        for (critic, width) in [("linear", 0), ("mlp32", 32)] {
            let nce = Nce::new(case.visible, case.env, case.hidden, 8, width).unwrap();
            let (rs, cs) = (nce.rule_shape(), nce.critic_shape());
            let mut mix = Mix(5);
            let w = mix.vec(rs.weights(), 1.0);
            let b = mix.vec(case.hidden, 0.5);
            let x = mix.vec(cs.len(), 0.3);
            let v = mix.spins(N * case.visible);
            let e = mix.spins(N * case.env);
            let mut work = vec![0.0f32; nce.workspace_len(N)];
            let mut gw = vec![0.0f32; rs.weights()];
            let mut gb = vec![0.0f32; case.hidden];
            let mut gx = vec![0.0f32; cs.len()];
            let mut run = |path: Path, gx: &mut Vec<f32>| {
                let params = infonce::Params {
                    weights: &w,
                    bias: &b,
                    critic: &x,
                };
                let grads = infonce::Grads {
                    weights: &mut gw,
                    bias: &mut gb,
                    critic: gx,
                };
                nce.value_and_gradient(path, params, &v, &e, &mut work, grads)
                    .unwrap()
            };
            let mut gx2 = gx.clone();
            let x1 = run(Path::F32x8, &mut gx);
            let x2 = run(Path::Scalar, &mut gx2);
            assert!((x1 - x2).abs() < 1e-4 && max_abs_diff(&gx, &gx2) < 1e-3);
            g.bench_function(format!("{}_{critic}_scalar", case.name), |bn| {
                bn.iter(|| black_box(run(Path::Scalar, &mut gx)))
            });
            g.bench_function(format!("{}_{critic}_f32x8", case.name), |bn| {
                bn.iter(|| black_box(run(Path::F32x8, &mut gx)))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, rule_grad, decoder, im, nce);
criterion_main!(benches);
