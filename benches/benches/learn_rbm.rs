//! Criterion benches for the Θ-RBM (the `rbm` estimator): one CD-1 update of a minibatch,
//! the `f32x8` kernels beside the plain scalar reference in the same run, at two sizes:
//! (|V|, |E|, N_g) = (4, 48, 52) (a 2×2 Ising block with L_B = 1, L_E = 2) and
//! (64, 320, 64) (an 8×8 block). Rates are pairs (minibatch rows) per second.
//!
//! Before timing, each size runs both kernels once from the same θ and stream and checks
//! that they agree (see `rsmi_core::learn::rbm::kernel` for what is equal bit for bit).
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rsmi_core::learn::rbm::{CdStep, Kernel, Negative, RbmShape, cd_update};
use rsmi_core::rng::{Rng, SeedableRng, Xoshiro256PlusPlus};
use std::hint::black_box;

const BATCH: usize = 100;

struct Setup {
    shape: RbmShape,
    theta: Vec<f32>,
    batch: Vec<f32>,
}

fn setup(visible: usize, environment: usize, hidden: usize) -> Setup {
    let shape = RbmShape::new(visible, environment, hidden).unwrap();
    let mut r = Xoshiro256PlusPlus::seed_from_u64(1);
    let theta = (0..shape.params())
        .map(|_| ((r.next_u64() >> 40) as f32 / 16_777_216.0 - 0.5) * 0.2)
        .collect();
    let batch = (0..BATCH * shape.units())
        .map(|_| (r.next_u64() >> 63) as f32)
        .collect();
    Setup {
        shape,
        theta,
        batch,
    }
}

const STEP: CdStep = CdStep {
    k: 1,
    learning_rate: 0.01,
    weight_decay: 1e-4,
};

fn update(s: &Setup, theta: &mut [f32], work: &mut [f32], rng: &mut Xoshiro256PlusPlus, k: Kernel) {
    cd_update(s.shape, theta, &s.batch, Negative::Data, STEP, k, work, rng).unwrap();
}

fn check(s: &Setup) {
    let mut out = Vec::new();
    for k in [Kernel::Scalar, Kernel::Wide] {
        let mut theta = s.theta.clone();
        let mut work = vec![0.0; s.shape.cd_work_len()];
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
        update(s, &mut theta, &mut work, &mut rng, k);
        out.push(theta);
    }
    let worst = out[0]
        .iter()
        .zip(&out[1])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= 1e-6, "f32x8 and scalar CD-1 disagree by {worst}");
}

fn cd1(c: &mut Criterion) {
    let mut group = c.benchmark_group("rbm_cd1");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (v, e, h) in [(4, 48, 52), (64, 320, 64)] {
        let s = setup(v, e, h);
        check(&s);
        for (name, k) in [("scalar", Kernel::Scalar), ("f32x8", Kernel::Wide)] {
            let mut theta = s.theta.clone();
            let mut work = vec![0.0; s.shape.cd_work_len()];
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
            group.bench_function(BenchmarkId::new(name, format!("V{v}_E{e}_G{h}")), |b| {
                b.iter(|| {
                    // Restore θ so every iteration does the same work.
                    theta.copy_from_slice(&s.theta);
                    update(&s, &mut theta, &mut work, &mut rng, k);
                    black_box(&theta);
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, cd1);
criterion_main!(benches);
