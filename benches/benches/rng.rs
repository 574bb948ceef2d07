//! Random streams and exact Bernoulli masks, beside scalar references in the same run.
//!
//! Throughput: elements = random 64-bit words (streams) or Bernoulli bits (masks).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rsmi_core::rng::bernoulli::{digit_masks, mask};
use rsmi_core::rng::{Prob, Rng, stream, stream_x4};
use std::hint::black_box;
use wide::u64x4;

fn streams(c: &mut Criterion) {
    let mut g = c.benchmark_group("rng_words");
    let n = 4096u64;
    g.throughput(Throughput::Elements(n));
    let mut s = stream(1, 0, 0);
    g.bench_function("xoshiro256pp_scalar", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for _ in 0..n {
                acc ^= s.next_u64();
            }
            black_box(acc)
        })
    });
    let mut x = stream_x4(1, 0, 0);
    g.bench_function("xoshiro256pp_x4", |b| {
        b.iter(|| {
            let mut acc = u64x4::ZERO;
            for _ in 0..n / 4 {
                acc ^= x.next_all();
            }
            black_box(acc)
        })
    });
    g.finish();
}

fn masks(c: &mut Criterion) {
    let p = Prob::from_f64((-4.0f64 / 2.269_185_314_213_022).exp());
    let Prob::Fixed(threshold) = p else {
        unreachable!()
    };
    let mut g = c.benchmark_group("bernoulli_bits");
    let words = 1024u64;
    // Scalar reference: one 64-bit uniform per bit.
    g.throughput(Throughput::Elements(words * 64));
    let mut s = stream(2, 0, 0);
    g.bench_function("scalar_reference_one_uniform_per_bit", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for _ in 0..words {
                let mut m = 0u64;
                for bit in 0..64 {
                    m |= ((s.next_u64() < threshold) as u64) << bit;
                }
                acc ^= m;
            }
            black_box(acc)
        })
    });
    let d64 = digit_masks::<u64>(|_| threshold);
    // Check once before timing: the frequency is near p.
    let ones: u32 = (0..1000).map(|_| mask(&mut s, &d64).count_ones()).sum();
    assert!((ones as f64 / 64000.0 - p.to_f64()).abs() < 0.01);
    g.bench_function("lazy_u64", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for _ in 0..words {
                acc ^= mask(&mut s, &d64);
            }
            black_box(acc)
        })
    });
    let d256 = digit_masks::<u64x4>(|_| threshold);
    let mut x = stream_x4(3, 0, 0);
    g.throughput(Throughput::Elements(words * 256));
    g.bench_function("lazy_u64x4", |b| {
        b.iter(|| {
            let mut acc = u64x4::ZERO;
            for _ in 0..words {
                acc ^= mask(&mut x, &d256);
            }
            black_box(acc)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = streams, masks
}
criterion_main!(benches);
