//! Directed-loop (worm) updates for close-packed dimers: the direction-view worm
//! (`Worm::run_many_dirs`, the fast path), the bit-plane worm (`Worm::run_many`) and the
//! partner-array reference, in one run.
//!
//! Throughput is reported in elements = worm steps (pivot choices), so criterion's
//! "elem/s" reads as steps per second. Each iteration replays the same worms from the same
//! state and stream (≥ 200 000 steps); the step count is measured once beforehand, and
//! all three implementations are checked to agree on it (and on the result) before timing.
//! Build with `RUSTFLAGS="-C target-cpu=x86-64-v3"` for AVX2 figures.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rsmi_core::dimer::{Exits, Torus, Worm, reference};
use rsmi_core::rng::stream;
use std::hint::black_box;

fn bench_one(c: &mut Criterion, l: usize, v: f64, t: f64) {
    let torus = Torus::new(l).unwrap();
    let worm = Worm::new(torus, v, t, Exits::HeatBath).unwrap();
    let (mut h, mut vv) = (
        vec![0u64; torus.plane_words()],
        vec![0u64; torus.plane_words()],
    );
    let mut rng = stream(11, l as u64, 0);
    // Warm up from the columnar start (about two loop sweeps), then fix the worms per
    // iteration: as many as reach 200 000 steps from this state and stream (worm lengths
    // are heavy-tailed, so a calibrated "sweep" can be far longer than L² steps).
    worm.randomise(&mut h, &mut vv, &mut rng, 200).unwrap();
    let per_sweep = worm.calibrate(&mut h, &mut vv, &mut rng, 200).unwrap();
    worm.run_many(&mut h, &mut vv, &mut rng, 2 * per_sweep)
        .unwrap();
    let worms = {
        let (mut h1, mut v1, mut r1) = (h.clone(), vv.clone(), rng.clone());
        let (mut n, mut s) = (0u64, 0u64);
        while s < 200_000 {
            s += worm.run(&mut h1, &mut v1, &mut r1).unwrap();
            n += 1;
        }
        n
    };
    // Check once: fast worm == reference on this state and stream, and count the steps.
    let mut partner = vec![0u32; torus.sites()];
    reference::partners_from_planes(torus, &h, &vv, &mut partner).unwrap();
    let (mut h2, mut v2, mut r2, mut r3) = (h.clone(), vv.clone(), rng.clone(), rng.clone());
    let steps = worm.run_many(&mut h2, &mut v2, &mut r2, worms).unwrap();
    let mut p2 = partner.clone();
    let mut steps_ref = 0;
    for _ in 0..worms {
        steps_ref += reference::worm(&worm, &mut p2, &mut r3).unwrap();
    }
    assert_eq!(steps, steps_ref, "worm and reference disagree");
    let (mut h3, mut v3) = (h.clone(), vv.clone());
    reference::planes_from_partners(torus, &p2, &mut h3, &mut v3).unwrap();
    assert!(h2 == h3 && v2 == v3, "worm and reference disagree");
    let mut dirs = vec![0u8; torus.sites()];
    let (mut h4, mut v4, mut r4) = (h.clone(), vv.clone(), rng.clone());
    let steps_dirs = worm
        .run_many_dirs(&mut h4, &mut v4, &mut dirs, &mut r4, worms)
        .unwrap();
    assert!(
        steps_dirs == steps && h4 == h2 && v4 == v2,
        "direction-view worm and planes worm disagree"
    );

    let name = if v == 0.0 {
        format!("L{l}_v0")
    } else {
        format!("L{l}_v{v}_T{t}")
    };
    let mut g = c.benchmark_group("dimer_worm");
    g.throughput(Throughput::Elements(steps));
    // Every iteration replays the same worms from the same state, so the work (steps)
    // per iteration is exactly `steps`.
    g.bench_function(format!("dirs_{name}"), |b| {
        b.iter_batched_ref(
            || (h.clone(), vv.clone(), rng.clone()),
            |(h, v, r)| {
                worm.run_many_dirs(black_box(h), black_box(v), &mut dirs, r, worms)
                    .unwrap()
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function(format!("planes_{name}"), |b| {
        b.iter_batched_ref(
            || (h.clone(), vv.clone(), rng.clone()),
            |(h, v, r)| worm.run_many(black_box(h), black_box(v), r, worms).unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.bench_function(format!("reference_{name}"), |b| {
        b.iter_batched_ref(
            || (partner.clone(), rng.clone()),
            |(p, r)| {
                let mut s = 0;
                for _ in 0..worms {
                    s += reference::worm(&worm, black_box(p), r).unwrap();
                }
                s
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn worms(c: &mut Criterion) {
    for l in [64, 256, 1024] {
        bench_one(c, l, 0.0, 1.0);
        bench_one(c, l, -1.0, 0.65);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = worms
}
criterion_main!(benches);
