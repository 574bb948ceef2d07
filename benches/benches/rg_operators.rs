//! RG lattice operators and packed coarse-graining beside their spin-by-spin references,
//! in one run.
//!
//! Throughput: elements = lattice sites. Groups: `sums_2d` (all nine sums of
//! `Sums2d` on the L×L torus, L = 16, 32, 64, 128), `sums_1d` (ring of 1024 sites) and
//! `coarsen_2d` (2×2 majority rule, argmax with coin ties, L = 64, 128). Each pair is
//! checked for equality once before timing. Build with
//! `RUSTFLAGS="-C target-cpu=x86-64-v3"` for the figures quoted in the docs.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rsmi_core::rg::{
    Draw, coarsen_2d, coarsen_2d_reference, rule_tables, sums_1d, sums_1d_reference, sums_2d,
    sums_2d_reference, words_per_row,
};
use rsmi_core::rng::{Rng, SeedableRng, Xoshiro256PlusPlus};
use std::hint::black_box;

/// A random packed lattice of `rows` rows of `side` sites.
fn lattice(rows: usize, side: usize, seed: u64) -> Vec<u64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..rows * words_per_row(side))
        .map(|_| rng.next_u64())
        .collect()
}

fn operators(c: &mut Criterion) {
    let mut g = c.benchmark_group("sums_2d");
    for side in [16usize, 32, 64, 128] {
        let words = lattice(side, side, side as u64);
        assert_eq!(
            sums_2d(&words, side).unwrap(),
            sums_2d_reference(&words, side).unwrap()
        );
        g.throughput(Throughput::Elements((side * side) as u64));
        g.bench_function(format!("L{side}_reference"), |b| {
            b.iter(|| sums_2d_reference(black_box(&words), side).unwrap())
        });
        g.bench_function(format!("L{side}_packed"), |b| {
            b.iter(|| sums_2d(black_box(&words), side).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("sums_1d");
    let len = 1024;
    let ring = lattice(1, len, 1);
    assert_eq!(
        sums_1d(&ring, len).unwrap(),
        sums_1d_reference(&ring, len).unwrap()
    );
    g.throughput(Throughput::Elements(len as u64));
    g.bench_function(format!("L{len}_reference"), |b| {
        b.iter(|| sums_1d_reference(black_box(&ring), len).unwrap())
    });
    g.bench_function(format!("L{len}_packed"), |b| {
        b.iter(|| sums_1d(black_box(&ring), len).unwrap())
    });
    g.finish();
}

fn coarsening(c: &mut Criterion) {
    let (mut act, mut prob) = ([0.0; 16], [0.0; 16]);
    rule_tables(&[1.0; 4], 0.0, &mut act, &mut prob).unwrap();
    let mut g = c.benchmark_group("coarsen_2d");
    for side in [64usize, 128] {
        let fine = lattice(side, side, 7 + side as u64);
        let cs = side / 2;
        let mut out_a = vec![0u64; cs * words_per_row(cs)];
        let mut out_b = out_a.clone();
        coarsen_2d(
            &fine,
            side,
            2,
            &act,
            &prob,
            Draw::Argmax,
            &mut Xoshiro256PlusPlus::seed_from_u64(3),
            &mut out_a,
        )
        .unwrap();
        coarsen_2d_reference(
            &fine,
            side,
            2,
            &act,
            &prob,
            Draw::Argmax,
            &mut Xoshiro256PlusPlus::seed_from_u64(3),
            &mut out_b,
        )
        .unwrap();
        assert_eq!(out_a, out_b);
        g.throughput(Throughput::Elements((side * side) as u64));
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        g.bench_function(format!("L{side}_b2_reference"), |b| {
            b.iter(|| {
                coarsen_2d_reference(
                    black_box(&fine),
                    side,
                    2,
                    &act,
                    &prob,
                    Draw::Argmax,
                    &mut rng,
                    &mut out_b,
                )
                .unwrap()
            })
        });
        g.bench_function(format!("L{side}_b2_packed"), |b| {
            b.iter(|| {
                coarsen_2d(
                    black_box(&fine),
                    side,
                    2,
                    &act,
                    &prob,
                    Draw::Argmax,
                    &mut rng,
                    &mut out_a,
                )
                .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = operators, coarsening
}
criterion_main!(benches);
