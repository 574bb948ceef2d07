//! Ising sweep kernels at T_c: every kernel beside the scalar reference, in one run.
//!
//! Throughput is reported in elements = spin-flip attempts, so criterion's "elem/s" reads
//! as flips per second. Build with `RUSTFLAGS="-C target-cpu=x86-64-v3"` for AVX2 figures.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rsmi_core::ising::{
    AcceptTable, Algorithm, Dim, Geometry, Layout, Replica, Strip, T_C_2D, reference, wolff::Wolff,
};
use rsmi_core::rng::{stream, stream_x4};
use rsmi_core::word::Word;
use std::hint::black_box;
use wide::u64x4;

fn temperature(dim: Dim) -> f64 {
    if dim == Dim::Two { T_C_2D } else { 1.0 }
}

fn group(dim: Dim) -> &'static str {
    if dim == Dim::Two {
        "ising2d_sweep"
    } else {
        "ising1d_sweep"
    }
}

fn local<L: Layout, W: Word, R: rsmi_core::rng::WordRng<W>>(
    c: &mut Criterion,
    name: &str,
    layout: L,
    mut rng: R,
) {
    let g = layout.geometry();
    let table =
        AcceptTable::<W>::uniform(g.z(), Algorithm::Metropolis, temperature(g.dim()), 0.0).unwrap();
    let mut lat = vec![W::ZERO; layout.words()];
    // Check once before timing: a hot start relaxes towards the critical energy.
    for _ in 0..20 {
        layout.sweep(&mut lat, &table, &mut rng).unwrap();
    }
    let flips = (layout.geometry().sites() * layout.chains::<W>()) as u64;
    let mut g = c.benchmark_group("ising2d_sweep");
    g.throughput(Throughput::Elements(flips));
    g.bench_function(name, |b| {
        b.iter(|| layout.sweep(black_box(&mut lat), &table, &mut rng).unwrap())
    });
    g.finish();
}

fn kernels_for(c: &mut Criterion, dim: Dim, l: usize, replica_l: usize) {
    let t = temperature(dim);
    // Scalar reference: textbook Metropolis on i8 spins.
    {
        let g = Geometry::new(dim, l).unwrap();
        let mut spins = vec![1i8; g.sites()];
        let mut rng = stream(1, 0, 0);
        let mut grp = c.benchmark_group(group(dim));
        grp.throughput(Throughput::Elements(g.sites() as u64));
        grp.bench_function(format!("scalar_reference_L{l}"), |b| {
            b.iter(|| {
                reference::sweep_i8(
                    &g,
                    black_box(&mut spins),
                    Algorithm::Metropolis,
                    t,
                    0.0,
                    &mut rng,
                )
                .unwrap()
            })
        });
        grp.finish();
    }
    let rep = Replica::new(dim, replica_l).unwrap();
    local::<_, u64, _>(
        c,
        &format!("replica_u64_L{replica_l}"),
        rep,
        stream(2, 0, 0),
    );
    local::<_, u64x4, _>(
        c,
        &format!("replica_u64x4_L{replica_l}"),
        rep,
        stream_x4(3, 0, 0),
    );
    let st = Strip::new(dim, l).unwrap();
    local::<_, u64, _>(c, &format!("strip_u64_L{l}"), st, stream(4, 0, 0));
    local::<_, u64x4, _>(c, &format!("strip_u64x4_L{l}"), st, stream_x4(5, 0, 0));
    {
        let w = Wolff::new(dim, l, t, 0.0).unwrap();
        let mut spins = vec![0u64; w.words()];
        let mut stack = vec![0u32; w.stack_len()];
        let mut visited = vec![0u64; w.words()];
        let mut rng = stream(6, 0, 0);
        let mut grp = c.benchmark_group(group(dim));
        grp.throughput(Throughput::Elements(w.geometry().sites() as u64));
        grp.bench_function(format!("wolff_sweep_equivalent_L{l}"), |b| {
            b.iter(|| {
                w.sweep(black_box(&mut spins), &mut stack, &mut visited, &mut rng)
                    .unwrap()
            })
        });
        grp.finish();
    }
}

fn kernels(c: &mut Criterion) {
    kernels_for(c, Dim::Two, 256, 64);
    kernels_for(c, Dim::One, 65536, 4096);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = kernels
}
criterion_main!(benches);
