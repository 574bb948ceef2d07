//! Plaquette-flip sweeps for close-packed dimers (replica layout): the `u64` and `u64x4`
//! word kernels beside the bit-by-bit reference oracle, in one run.
//!
//! Throughput is in elements = plaquette flip attempts (replicas × L² per sweep), so
//! criterion's "elem/s" reads as attempts per second. Build with
//! `RUSTFLAGS="-C target-cpu=x86-64-v3"` for AVX2 figures.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rsmi_core::dimer::plaquette::{Accept, Plaquettes, reference};
use rsmi_core::rng::{WordRng, stream, stream_x4};
use rsmi_core::word::Word;
use std::hint::black_box;
use std::time::Duration;
use wide::u64x4;

/// (name, v, T): the uniform model and the aligning model near T_KT.
const MODELS: [(&str, f64, f64); 2] = [("v0", 0.0, 1.0), ("v-1_T0.65", -1.0, 0.65)];

/// Check once before timing: after a few sweeps every replica is still a covering of
/// winding (0, 0) and some plaquettes are parallel.
fn check<W: Word>(layout: &Plaquettes, h: &[W], v: &[W]) {
    let l = layout.size();
    let pw = layout.plane_words();
    let (mut hp, mut vp) = (vec![0u64; pw], vec![0u64; pw]);
    for b in [0, W::BITS / 2, W::BITS - 1] {
        layout.export(h, v, b, &mut hp, &mut vp).unwrap();
        assert!(reference::is_covering(l, &hp, &vp), "replica {b}");
        assert_eq!(reference::winding(l, &hp, &vp).unwrap(), (0, 0));
    }
    let mut counts = vec![0u64; W::BITS];
    layout.parallel_counts(h, v, &mut counts).unwrap();
    assert!(counts.iter().all(|&c| c > 0 && c < (l * l) as u64));
}

fn kernel<W: Word, R: WordRng<W>>(c: &mut Criterion, l: usize, mut rng: R) {
    let layout = Plaquettes::new(l).unwrap();
    for (model, iv, t) in MODELS {
        let accept = Accept::heat_bath(iv, t).unwrap();
        let (mut h, mut v) = (vec![W::ZERO; l * l], vec![W::ZERO; l * l]);
        layout.fill_columnar(&mut h, &mut v).unwrap();
        for _ in 0..20 {
            layout.sweep(&mut h, &mut v, &accept, &mut rng).unwrap();
        }
        check(&layout, &h, &v);
        let mut g = c.benchmark_group("dimer_plaquette_sweep");
        g.throughput(Throughput::Elements((W::BITS * l * l) as u64));
        g.bench_function(format!("{}_L{l}_{model}", W::NAME), |b| {
            b.iter(|| {
                layout
                    .sweep(black_box(&mut h), black_box(&mut v), &accept, &mut rng)
                    .unwrap()
            })
        });
        g.finish();
    }
}

fn oracle(c: &mut Criterion, l: usize) {
    let layout = Plaquettes::new(l).unwrap();
    let mut rng = stream(3, 0, 0);
    for (model, iv, t) in MODELS {
        let (mut h, mut v) = (vec![0u64; l * l], vec![0u64; l * l]);
        layout.fill_columnar(&mut h, &mut v).unwrap();
        for _ in 0..2 {
            reference::sweep_packed(&layout, &mut h, &mut v, iv, t, &mut rng).unwrap();
        }
        check(&layout, &h, &v);
        let mut g = c.benchmark_group("dimer_plaquette_sweep");
        g.throughput(Throughput::Elements((64 * l * l) as u64));
        g.sample_size(10);
        g.bench_function(format!("reference_L{l}_{model}"), |b| {
            b.iter(|| {
                reference::sweep_packed(&layout, black_box(&mut h), &mut v, iv, t, &mut rng)
                    .unwrap()
            })
        });
        g.finish();
    }
}

fn kernels(c: &mut Criterion) {
    for l in [64, 256] {
        oracle(c, l);
        kernel::<u64, _>(c, l, stream(1, 0, 0));
        kernel::<u64x4, _>(c, l, stream_x4(2, 0, 0));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    targets = kernels
}
criterion_main!(benches);
