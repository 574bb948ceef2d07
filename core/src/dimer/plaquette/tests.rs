//! Plaquette-flip kernel: bit-exact against the bit-by-bit oracle, `u64x4` against four
//! `u64` runs, coverings and winding numbers preserved, and stationarity on the 4×4 torus
//! against exact enumeration.

use super::reference::{is_covering, parallel_count, sweep_packed, winding};
use super::*;
use crate::rng::{X4, Xoshiro256PlusPlus, stream, stream_x4};
use rand_core::Rng;
use wide::u64x4;

/// Largest L used here (buffers are fixed arrays: no alloc in the core's tests).
const MAX_L: usize = 16;
const MAX_N: usize = MAX_L * MAX_L;
const MAX_PLANE: usize = MAX_N / 64;

/// A random covering of the form "every row a horizontal matching with its own parity"
/// (winding (W_x, 0)) or "every column a vertical matching" ((0, W_y)), as bit planes.
fn random_covering(l: usize, r: &mut Xoshiro256PlusPlus, hp: &mut [u64], vp: &mut [u64]) {
    hp.fill(0);
    vp.fill(0);
    let vertical = r.next_u64() & 1 == 1;
    for line in 0..l {
        let parity = (r.next_u64() & 1) as usize;
        for k in (parity..l).step_by(2) {
            let (plane, i) = if vertical {
                (&mut *vp, k * l + line) // v(line, k): column `line`, rows k, k+1
            } else {
                (&mut *hp, line * l + k) // h(k, line)
            };
            plane[i / 64] |= 1 << (i % 64);
        }
    }
}

/// Load a random covering into every replica of a buffer.
fn random_start<W: Word>(layout: &Plaquettes, h: &mut [W], v: &mut [W], seed: u64) {
    let l = layout.size();
    let pw = layout.plane_words();
    let mut r = stream(seed, 77, 0);
    let (mut hp, mut vp) = ([0u64; MAX_PLANE], [0u64; MAX_PLANE]);
    for b in 0..W::BITS {
        random_covering(l, &mut r, &mut hp[..pw], &mut vp[..pw]);
        assert!(is_covering(l, &hp[..pw], &vp[..pw]));
        layout
            .import(h, v, b, &hp[..pw], &vp[..pw])
            .expect("a valid covering");
    }
}

/// (v, T) cases: uniform, both signs at the brief's temperatures, and T = 0.02 where some
/// classes round to p = 1 (certain flips) and others to p = 0.
const CASES: &[(f64, f64)] = &[
    (0.0, 1.0),
    (1.0, 0.65),
    (1.0, 2.0),
    (1.0, 15.0),
    (-1.0, 0.65),
    (-1.0, 2.0),
    (-1.0, 15.0),
    (-1.0, 0.02),
    (1.0, 0.02),
];

#[test]
fn kernel_matches_reference() {
    for l in [4, 6, 8, 16] {
        let layout = Plaquettes::new(l).unwrap();
        let n = l * l;
        for (case, &(iv, t)) in CASES.iter().enumerate() {
            let accept = Accept::heat_bath(iv, t).unwrap();
            let (mut ha, mut va) = ([0u64; MAX_N], [0u64; MAX_N]);
            // Odd cases start columnar, except the cold ones (columnar is a local
            // minimum there: nothing would flip).
            if case % 2 == 0 || t < 0.1 {
                random_start(
                    &layout,
                    &mut ha[..n],
                    &mut va[..n],
                    case as u64 + 10 * l as u64,
                );
            } else {
                layout.fill_columnar(&mut ha[..n], &mut va[..n]).unwrap();
            }
            let (mut hb, mut vb) = (ha, va);
            let mut ra = stream(l as u64, case as u64, 3);
            let mut rb = ra.clone();
            let mut changed = false;
            for sweep in 0..8 {
                let before = ha;
                layout
                    .sweep(&mut ha[..n], &mut va[..n], &accept, &mut ra)
                    .unwrap();
                sweep_packed(&layout, &mut hb[..n], &mut vb[..n], iv, t, &mut rb).unwrap();
                changed |= before != ha;
                if let Some(i) = (0..n).find(|&i| ha[i] != hb[i] || va[i] != vb[i]) {
                    panic!(
                        "L={l} v={iv} T={t} sweep {sweep}: first difference at link {i}: \
                         h {:#x} vs {:#x}, v {:#x} vs {:#x}",
                        ha[i], hb[i], va[i], vb[i]
                    );
                }
                assert_eq!(ra, rb, "L={l} v={iv} T={t}: random streams diverged");
            }
            assert!(changed, "L={l} v={iv} T={t}: nothing flipped");
        }
    }
}

#[test]
fn accept_is_half_only_at_v0() {
    assert!(Accept::uniform().is_half());
    assert!(Accept::heat_bath(0.0, 3.0).unwrap().is_half());
    assert!(!Accept::heat_bath(-1.0, 15.0).unwrap().is_half());
    let a = Accept::heat_bath(-1.0, 0.65).unwrap();
    assert_eq!(a.probability(0), Some(Prob::HALF));
    assert_eq!(a.probability(3), None);
    assert_eq!(a.probability(-3), None);
    assert_eq!(a.probability(i32::MAX), None);
    assert_eq!(a.probability(i32::MIN), None);
    // Aligning: gaining parallel plaquettes is favoured, p(+1) = 1/(1 + e^{-1/0.65}).
    let p1 = a.probability(1).unwrap().to_f64();
    assert!((p1 - 1.0 / (1.0 + libm::exp(-1.0 / 0.65))).abs() < 1e-15);
    assert!(p1 > 0.8);
    let cold = Accept::heat_bath(-1.0, 0.02).unwrap();
    assert_eq!(cold.probability(2), Some(Prob::One));
    assert_eq!(cold.probability(-2), Some(Prob::Fixed(0)));
    assert_eq!(
        Accept::heat_bath(1.0, 0.0).unwrap_err(),
        Error::InvalidTemperature
    );
    assert!(Accept::heat_bath(1.0, f64::NAN).is_err());
    assert!(Accept::heat_bath(f64::INFINITY, 1.0).is_err());
    assert!(Accept::heat_bath(f64::NAN, 1.0).is_err());
}

/// A `u64x4` run equals four `u64` runs lane by lane, with per-lane streams.
#[test]
fn x4_equals_four_u64() {
    for (l, cases) in [(6, &CASES[..4]), (8, &CASES[4..])] {
        let layout = Plaquettes::new(l).unwrap();
        let n = l * l;
        for (case, &(iv, t)) in cases.iter().enumerate() {
            let accept = Accept::heat_bath(iv, t).unwrap();
            let (mut hw, mut vw) = ([u64x4::ZERO; MAX_N], [u64x4::ZERO; MAX_N]);
            random_start(&layout, &mut hw[..n], &mut vw[..n], 50 + case as u64);
            let mut hl = [[0u64; MAX_N]; 4];
            let mut vl = [[0u64; MAX_N]; 4];
            for i in 0..n {
                for lane in 0..4 {
                    hl[lane][i] = hw[i].lane(lane);
                    vl[lane][i] = vw[i].lane(lane);
                }
            }
            let mut wr = stream_x4(9, case as u64, 0);
            let mut lr: [Xoshiro256PlusPlus; 4] =
                core::array::from_fn(|i| stream(9, case as u64, i as u64));
            for _ in 0..6 {
                layout
                    .sweep(&mut hw[..n], &mut vw[..n], &accept, &mut wr)
                    .unwrap();
                for lane in 0..4 {
                    layout
                        .sweep(
                            &mut hl[lane][..n],
                            &mut vl[lane][..n],
                            &accept,
                            &mut lr[lane],
                        )
                        .unwrap();
                }
            }
            for i in 0..n {
                for lane in 0..4 {
                    assert_eq!(hw[i].lane(lane), hl[lane][i], "v={iv} T={t} h {i} {lane}");
                    assert_eq!(vw[i].lane(lane), vl[lane][i], "v={iv} T={t} v {i} {lane}");
                }
            }
            assert_eq!(X4::to_lanes(&wr), lr, "v={iv} T={t}: streams");
        }
    }
}

/// Every replica stays a close-packed covering and keeps its winding numbers; the
/// per-replica N_∥ equals the plain count of the exported planes.
#[test]
fn coverings_windings_and_counts() {
    for (l, iv, t) in [
        (8, -1.0, 0.65),
        (8, 0.0, 1.0),
        (6, 1.0, 2.0),
        (16, -1.0, 15.0),
    ] {
        let layout = Plaquettes::new(l).unwrap();
        let (n, pw) = (l * l, layout.plane_words());
        let accept = Accept::heat_bath(iv, t).unwrap();
        let (mut h, mut v) = ([u64x4::ZERO; MAX_N], [u64x4::ZERO; MAX_N]);
        random_start(&layout, &mut h[..n], &mut v[..n], 5);
        let (mut hp, mut vp) = ([0u64; MAX_PLANE], [0u64; MAX_PLANE]);
        let mut start = [(0i64, 0i64); 256];
        let mut sectors = 0u64;
        for (b, w) in start.iter_mut().enumerate() {
            layout
                .export(&h[..n], &v[..n], b, &mut hp[..pw], &mut vp[..pw])
                .unwrap();
            *w = winding(l, &hp[..pw], &vp[..pw]).unwrap();
            sectors |= 1 << ((w.0 + w.1).rem_euclid(64));
        }
        // The random starts cover several sectors, not only (0, 0).
        assert!(
            sectors.count_ones() >= 3,
            "L={l}: starts in too few sectors"
        );
        let initial = h;
        let mut rng = stream_x4(21, l as u64, 0);
        let mut counts = [0u64; 256];
        for round in 0..4 {
            for _ in 0..10 {
                layout
                    .sweep(&mut h[..n], &mut v[..n], &accept, &mut rng)
                    .unwrap();
            }
            layout
                .parallel_counts(&h[..n], &v[..n], &mut counts)
                .unwrap();
            for (b, &w) in start.iter().enumerate() {
                layout
                    .export(&h[..n], &v[..n], b, &mut hp[..pw], &mut vp[..pw])
                    .unwrap();
                assert!(
                    is_covering(l, &hp[..pw], &vp[..pw]),
                    "L={l} round {round} replica {b}: not a covering"
                );
                assert_eq!(winding(l, &hp[..pw], &vp[..pw]).unwrap(), w, "replica {b}");
                assert_eq!(counts[b], parallel_count(l, &hp[..pw], &vp[..pw]).unwrap());
            }
        }
        assert_ne!(initial, h, "L={l}: nothing flipped");
    }
}

#[test]
fn columnar_start_and_round_trip() {
    let layout = Plaquettes::new(6).unwrap();
    let (mut h, mut v) = ([0u64; 36], [0u64; 36]);
    layout.fill_columnar(&mut h, &mut v).unwrap();
    let (mut hp, mut vp) = ([0u64; 1], [0u64; 1]);
    let mut counts = [0u64; 64];
    layout.parallel_counts(&h, &v, &mut counts).unwrap();
    for b in 0..64 {
        layout.export(&h, &v, b, &mut hp, &mut vp).unwrap();
        assert!(is_covering(6, &hp, &vp));
        assert_eq!(winding(6, &hp, &vp).unwrap(), (0, 0));
        // Columnar: the 3 × 6 plaquettes with even x hold a horizontal pair.
        assert_eq!(parallel_count(6, &hp, &vp).unwrap(), 18);
        assert_eq!(counts[b], 18);
    }
    // Round trip of random coverings through import / export, replica by replica.
    let layout = Plaquettes::new(10).unwrap();
    let (mut h, mut v) = ([u64x4::ZERO; 100], [u64x4::ZERO; 100]);
    random_start(&layout, &mut h, &mut v, 3);
    let (mut h2, mut v2) = ([u64x4::ZERO; 100], [u64x4::ZERO; 100]);
    let (mut hp, mut vp) = ([0u64; 2], [0u64; 2]);
    for b in 0..256 {
        layout.export(&h, &v, b, &mut hp, &mut vp).unwrap();
        // 100 links: bits 36..63 of the second word are padding.
        assert_eq!((hp[1] | vp[1]) >> 36, 0);
        layout.import(&mut h2, &mut v2, b, &hp, &vp).unwrap();
    }
    assert_eq!((h, v), (h2, v2));
}

#[test]
fn caller_errors() {
    for bad in [0, 2, 3, 5, 7, Plaquettes::MAX_L + 2] {
        assert!(matches!(
            Plaquettes::new(bad),
            Err(Error::UnsupportedSize { .. })
        ));
    }
    let layout = Plaquettes::new(4).unwrap();
    let accept = Accept::uniform();
    let mut rng = stream(0, 0, 0);
    let (mut h, mut v) = ([0u64; 16], [0u64; 16]);
    assert!(matches!(
        layout.sweep(&mut h[..15], &mut v, &accept, &mut rng),
        Err(Error::BufferLength { what: "h", .. })
    ));
    assert!(matches!(
        layout.sweep(&mut h, &mut v[..3], &accept, &mut rng),
        Err(Error::BufferLength { what: "v", .. })
    ));
    layout.fill_columnar(&mut h, &mut v).unwrap();
    let mut counts = [0u64; 63];
    assert!(layout.parallel_counts(&h, &v, &mut counts).is_err());
    let (mut hp, mut vp) = ([0u64; 1], [0u64; 1]);
    assert!(layout.export(&h, &v, 64, &mut hp, &mut vp).is_err());
    assert!(layout.export(&h, &v, 0, &mut [0u64; 2], &mut vp).is_err());
    layout.export(&h, &v, 0, &mut hp, &mut vp).unwrap();
    let saved = (h, v);
    // Not a covering: a dimer removed, a dimer added, an empty configuration.
    for (hb, vb) in [(hp[0] & !1, vp[0]), (hp[0], vp[0] | 2), (0, 0)] {
        assert!(layout.import(&mut h, &mut v, 5, &[hb], &[vb]).is_err());
    }
    assert!(layout.import(&mut h, &mut v, 64, &hp, &vp).is_err());
    assert_eq!((h, v), saved, "failed imports must not write");
    // Padding bits (L = 6: 36 links, bits 36..63 are padding).
    let l6 = Plaquettes::new(6).unwrap();
    let (mut h6, mut v6) = ([0u64; 36], [0u64; 36]);
    l6.fill_columnar(&mut h6, &mut v6).unwrap();
    let (mut hp6, mut vp6) = ([0u64; 1], [0u64; 1]);
    l6.export(&h6, &v6, 0, &mut hp6, &mut vp6).unwrap();
    assert!(
        l6.import(&mut h6, &mut v6, 1, &[hp6[0] | 1 << 40], &vp6)
            .is_err()
    );
    l6.import(&mut h6, &mut v6, 1, &hp6, &vp6).unwrap();
    // Plane helpers of the reference: wrong lengths are errors (or false), not panics.
    assert!(winding(6, &[0, 0], &[0]).is_err());
    assert!(parallel_count(6, &[0], &[]).is_err());
    assert!(!is_covering(6, &[0; 2], &[0; 2]));
    assert!(!is_covering(usize::MAX, &[0], &[0]));
    assert!(!is_covering(0, &[], &[]));
}

// ---------------------------------------------------------------------------------
// Stationarity on the 4×4 torus by exact enumeration.

/// Coverings of the 4×4 torus as keys `h | v << 16` (bit y·4 + x), found by placing a
/// dimer on the first uncovered site in every possible direction.
fn enumerate(covered: u16, h: u16, v: u16, out: &mut [u32; 512], n: &mut usize) {
    if covered == u16::MAX {
        out[*n] = h as u32 | (v as u32) << 16;
        *n += 1;
        return;
    }
    let s = (!covered).trailing_zeros() as usize;
    let (x, y) = (s % 4, s / 4);
    let site = |x: usize, y: usize| (y % 4) * 4 + x % 4;
    // (partner site, is horizontal, link index)
    let options = [
        (site(x + 1, y), true, s),
        (site(x + 3, y), true, site(x + 3, y)),
        (site(x, y + 1), false, s),
        (site(x, y + 3), false, site(x, y + 3)),
    ];
    for (partner, horizontal, link) in options {
        if covered & (1 << partner) == 0 {
            let c = covered | 1 << s | 1 << partner;
            if horizontal {
                enumerate(c, h | 1 << link, v, out, n);
            } else {
                enumerate(c, h, v | 1 << link, out, n);
            }
        }
    }
}

fn planes(key: u32) -> ([u64; 1], [u64; 1]) {
    ([(key & 0xffff) as u64], [(key >> 16) as u64])
}

/// The 132 coverings of winding sector (0, 0), sorted.
fn sector00() -> [u32; 132] {
    let mut all = [0u32; 512];
    let mut n = 0;
    enumerate(0, 0, 0, &mut all, &mut n);
    // tests/data/dimer_exact.json: 272 coverings of the 4×4 torus, flippable
    // fraction 4/17 (Σ N_∥ = 272 · 16 · 4/17 = 1024), 132 in sector (0, 0).
    assert_eq!(n, 272);
    let mut sum_par = 0;
    let mut out = [0u32; 132];
    let mut m = 0;
    for &key in &all[..n] {
        let (hp, vp) = planes(key);
        assert!(is_covering(4, &hp, &vp));
        sum_par += parallel_count(4, &hp, &vp).unwrap();
        if winding(4, &hp, &vp).unwrap() == (0, 0) {
            assert!(m < 132, "more than 132 coverings in sector (0, 0)");
            out[m] = key;
            m += 1;
        }
    }
    assert_eq!(sum_par, 1024);
    assert_eq!(m, 132);
    out.sort_unstable();
    for w in out.windows(2) {
        assert!(w[0] < w[1], "duplicate covering");
    }
    out
}

/// The plaquettes in the kernel's order (documented in the module docs).
fn sweep_order() -> [(usize, usize); 16] {
    let mut order = [(0, 0); 16];
    let mut i = 0;
    for (cx, cy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
        for y in (cy..4).step_by(2) {
            for x in (cx..4).step_by(2) {
                order[i] = (x, y);
                i += 1;
            }
        }
    }
    order
}

/// Exact single-plaquette moves: `moves[s][p]` = (target state, acceptance probability)
/// of plaquette `p` (in sweep order) from state `s`, or `None` when not flippable.
/// ΔN_∥ comes from recounting both coverings.
type Moves = [[Option<(usize, f64)>; 16]; 132];

fn exact_moves(states: &[u32; 132], beta_v: f64) -> Moves {
    let mut moves: Moves = [[None; 16]; 132];
    for (s, &key) in states.iter().enumerate() {
        let (hp, vp) = planes(key);
        for (p, &(x, y)) in sweep_order().iter().enumerate() {
            let [h0, h1] = [y * 4 + x, ((y + 1) % 4) * 4 + x];
            let [v0, v1] = [y * 4 + x, y * 4 + (x + 1) % 4];
            let bit = |w: u64, i: usize| (w >> i) & 1 == 1;
            let horizontal = bit(hp[0], h0) && bit(hp[0], h1);
            let vertical = bit(vp[0], v0) && bit(vp[0], v1);
            if !(horizontal || vertical) {
                continue;
            }
            let flipped = key ^ (1 << h0 | 1 << h1 | 1 << (16 + v0) | 1 << (16 + v1));
            let t = states
                .binary_search(&flipped)
                .expect("a plaquette flip stays in the sector");
            let (ht, vt) = planes(flipped);
            let dn = parallel_count(4, &ht, &vt).unwrap() as f64
                - parallel_count(4, &hp, &vp).unwrap() as f64;
            moves[s][p] = Some((t, 1.0 / (1.0 + libm::exp(beta_v * dn))));
        }
    }
    moves
}

/// One exact sweep applied to a distribution over the 132 states.
fn exact_sweep(moves: &Moves, dist: &mut [f64; 132]) {
    for p in 0..16 {
        let old = *dist;
        for s in 0..132 {
            if let Some((t, a)) = moves[s][p] {
                dist[s] -= old[s] * a;
                dist[t] += old[s] * a;
            }
        }
    }
}

/// Sweeps after which every starting state is within total-variation distance `eps` of
/// `pi` (computed exactly from the sweep's transition kernel).
fn mixing_sweeps(moves: &Moves, pi: &[f64; 132], eps: f64) -> usize {
    let mut dists = [[0.0f64; 132]; 132];
    for (s, d) in dists.iter_mut().enumerate() {
        d[s] = 1.0;
    }
    for t in 1..=1000 {
        let mut worst = 0.0f64;
        for d in dists.iter_mut() {
            exact_sweep(moves, d);
            let tv: f64 = d.iter().zip(pi).map(|(a, b)| (a - b).abs()).sum::<f64>() / 2.0;
            worst = worst.max(tv);
        }
        if worst <= eps {
            return t;
        }
    }
    panic!("the exact chain does not mix: not ergodic in sector (0, 0)?");
}

/// Upper-tail χ² quantile by the Wilson–Hilferty approximation; z = 3.719 is the upper
/// 1e−4 point of the standard normal.
fn chi2_critical(dof: f64) -> f64 {
    let c = 2.0 / (9.0 * dof);
    dof * libm::pow(1.0 - c + 3.719 * libm::sqrt(c), 3.0)
}

/// Run 256 replicas from the columnar covering, keep one sample per replica every
/// `thin` sweeps (thin from the exact mixing time), and χ²-test the visit histogram of
/// the 132 coverings of sector (0, 0) against e^{−βvN_∥} (p = 1e−4).
fn stationarity(interaction: f64, temperature: f64, seed: u64) {
    let states = sector00();
    let beta_v = interaction / temperature;
    let mut pi = [0.0f64; 132];
    for (p, &key) in pi.iter_mut().zip(&states) {
        let (hp, vp) = planes(key);
        *p = libm::exp(-beta_v * parallel_count(4, &hp, &vp).unwrap() as f64);
    }
    let z: f64 = pi.iter().sum();
    pi.iter_mut().for_each(|p| *p /= z);
    let moves = exact_moves(&states, beta_v);
    // The exact kernel leaves the Boltzmann weights invariant (checks the test's model).
    let mut check = pi;
    exact_sweep(&moves, &mut check);
    for (a, b) in check.iter().zip(&pi) {
        assert!((a - b).abs() < 1e-14);
    }
    // τ_int-aware thinning: successive kept samples of a replica are within TV 1e-3 of
    // independent (from any state), so the χ² inflation by correlation is ≲ 1e-2; the
    // burn-in gets the columnar start within 1e-6 of stationarity.
    let thin = mixing_sweeps(&moves, &pi, 1e-3);
    let burn = mixing_sweeps(&moves, &pi, 1e-6);
    let layout = Plaquettes::new(4).unwrap();
    let accept = Accept::heat_bath(interaction, temperature).unwrap();
    let (mut h, mut v) = ([u64x4::ZERO; 16], [u64x4::ZERO; 16]);
    layout.fill_columnar(&mut h, &mut v).unwrap();
    let mut rng = stream_x4(seed, 0, 0);
    for _ in 0..burn {
        layout.sweep(&mut h, &mut v, &accept, &mut rng).unwrap();
    }
    let samples_per_replica = 400;
    let mut hist = [0u64; 132];
    for _ in 0..samples_per_replica {
        for _ in 0..thin {
            layout.sweep(&mut h, &mut v, &accept, &mut rng).unwrap();
        }
        for b in 0..256 {
            let mut key = 0u32;
            for i in 0..16 {
                key |= (h[i].bit(b) as u32) << i | (v[i].bit(b) as u32) << (16 + i);
            }
            let s = states
                .binary_search(&key)
                .expect("replica left the coverings of sector (0, 0)");
            hist[s] += 1;
        }
    }
    let n = (samples_per_replica * 256) as f64;
    // Pool states with expected count < 5 into one bin.
    let (mut chi2, mut bins) = (0.0, 0usize);
    let (mut pooled_o, mut pooled_e) = (0.0, 0.0);
    for (&o, &p) in hist.iter().zip(&pi) {
        let e = n * p;
        if e < 5.0 {
            pooled_o += o as f64;
            pooled_e += e;
        } else {
            chi2 += (o as f64 - e) * (o as f64 - e) / e;
            bins += 1;
        }
    }
    if pooled_e > 0.0 {
        chi2 += (pooled_o - pooled_e) * (pooled_o - pooled_e) / pooled_e;
        bins += 1;
    }
    let dof = (bins - 1) as f64;
    let critical = chi2_critical(dof);
    assert!(
        chi2 < critical,
        "v={interaction} T={temperature}: χ² = {chi2:.1} for {dof} dof (critical {critical:.1} \
         at p = 1e-4; thin {thin}, burn-in {burn})"
    );
}

#[test]
fn stationary_uniform_4x4() {
    stationarity(0.0, 1.0, 1);
}

#[test]
fn stationary_boltzmann_4x4() {
    stationarity(-1.0, 1.0, 2);
}
