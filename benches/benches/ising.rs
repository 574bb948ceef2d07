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

fn local<L: Layout, W: Word, R: rsmi_core::rng::WordRng<W>>(
    c: &mut Criterion,
    name: &str,
    layout: L,
    mut rng: R,
) {
    let z = layout.geometry().z();
    let table = AcceptTable::<W>::uniform(z, Algorithm::Metropolis, T_C_2D, 0.0).unwrap();
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

fn kernels(c: &mut Criterion) {
    let l = 256;
    // Scalar reference: textbook Metropolis on i8 spins.
    {
        let g = Geometry::new(Dim::Two, l).unwrap();
        let mut spins = vec![1i8; g.sites()];
        let mut rng = stream(1, 0, 0);
        let mut grp = c.benchmark_group("ising2d_sweep");
        grp.throughput(Throughput::Elements(g.sites() as u64));
        grp.bench_function("scalar_reference_L256", |b| {
            b.iter(|| {
                reference::sweep_i8(
                    &g,
                    black_box(&mut spins),
                    Algorithm::Metropolis,
                    T_C_2D,
                    0.0,
                    &mut rng,
                )
                .unwrap()
            })
        });
        grp.finish();
    }
    local::<_, u64, _>(
        c,
        "replica_u64_L64",
        Replica::new(Dim::Two, 64).unwrap(),
        stream(2, 0, 0),
    );
    local::<_, u64x4, _>(
        c,
        "replica_u64x4_L64",
        Replica::new(Dim::Two, 64).unwrap(),
        stream_x4(3, 0, 0),
    );
    local::<_, u64, _>(
        c,
        "strip_u64_L256",
        Strip::new(Dim::Two, l).unwrap(),
        stream(4, 0, 0),
    );
    local::<_, u64x4, _>(
        c,
        "strip_u64x4_L256",
        Strip::new(Dim::Two, l).unwrap(),
        stream_x4(5, 0, 0),
    );
    {
        let w = Wolff::new(Dim::Two, l, T_C_2D, 0.0).unwrap();
        let mut spins = vec![0u64; w.words()];
        let mut stack = vec![0u32; w.stack_len()];
        let mut visited = vec![0u64; w.words()];
        let mut rng = stream(6, 0, 0);
        let mut grp = c.benchmark_group("ising2d_sweep");
        grp.throughput(Throughput::Elements(w.geometry().sites() as u64));
        grp.bench_function("wolff_sweep_equivalent_L256", |b| {
            b.iter(|| {
                w.sweep(black_box(&mut spins), &mut stack, &mut visited, &mut rng)
                    .unwrap()
            })
        });
        grp.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = kernels
}
criterion_main!(benches);
