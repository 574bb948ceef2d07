use rsmi_core::ising::*;
use rsmi_tests::*;
use std::time::Instant;
use wide::u64x4;

#[test]
fn timing() {
    for l in [4usize, 8, 16, 32] {
        let r = Replica::new(Dim::Two, l).unwrap();
        let t = AcceptTable::<u64x4>::uniform(4, Algorithm::Metropolis, 2.269185314213022, 0.0)
            .unwrap();
        let mut lat = random_lattice::<u64x4>(r.words(), 1, 0);
        let mut flip = u64x4::ZERO;
        let mut rng = <u64x4 as Stream>::rng(1, 0);
        let n = 20_000_000 / (l * l);
        let t0 = Instant::now();
        for _ in 0..n {
            r.sweep(&mut lat, &t, &mut rng).unwrap();
            r.global_flip(&mut flip, &t, &mut rng).unwrap();
        }
        let dt = t0.elapsed().as_secs_f64();
        let mut counts = vec![Counts::default(); 256];
        let t1 = Instant::now();
        for _ in 0..1000 {
            r.measure(&lat, flip, &mut counts).unwrap();
        }
        let dm = t1.elapsed().as_secs_f64() / 1000.0;
        eprintln!(
            "replica L={l}: {:.3} ns/flip ({:.2} us/sweep), measure {:.1} us",
            dt * 1e9 / (n as f64 * (l * l) as f64 * 256.0),
            dt * 1e6 / n as f64,
            dm * 1e6
        );
    }
    for l in [128usize, 256] {
        let r = Strip::new(Dim::Two, l).unwrap();
        let t = AcceptTable::<u64x4>::uniform(4, Algorithm::Metropolis, 2.269185314213022, 0.0)
            .unwrap();
        let mut lat = random_lattice::<u64x4>(r.words(), 1, 0);
        let mut rng = <u64x4 as Stream>::rng(1, 0);
        let n = 20_000_000 / (l * l);
        let t0 = Instant::now();
        for _ in 0..n {
            r.sweep(&mut lat, &t, &mut rng).unwrap();
        }
        let dt = t0.elapsed().as_secs_f64();
        let mut counts = vec![Counts::default(); 4];
        let t1 = Instant::now();
        for _ in 0..100 {
            r.measure(&lat, u64x4::ZERO, &mut counts).unwrap();
        }
        let dm = t1.elapsed().as_secs_f64() / 100.0;
        eprintln!(
            "strip L={l}: {:.3} ns/flip ({:.1} us/sweep), measure {:.1} us",
            dt * 1e9 / (n as f64 * (l * l) as f64 * 4.0),
            dt * 1e6 / n as f64,
            dm * 1e6
        );
    }
    for l in [64usize, 128] {
        let t0 = Instant::now();
        let s = run_wolff(Dim::Two, l, 2.269185314213022, 1, 1, 0, 0, 1000);
        let dt = t0.elapsed().as_secs_f64();
        eprintln!(
            "wolff L={l}: {:.1} us/sweep; e={}",
            dt * 1e6 / 1000.0,
            s.e.iter().sum::<f64>() / 1000.0
        );
    }
}
