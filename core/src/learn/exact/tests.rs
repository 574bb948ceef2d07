//! Acceptance A2 (exact part, docs/method.md#acceptance-experiments): the 1D table of docs/method.md#ising-1d-exact-table, the soft-rule values,
//! the Lenggenhager check, gradients against central differences, enumeration cross-checks
//! and the 4×4 torus against the exact energies of tests/data/ising2d_exact.json.

use super::*;

/// Joint table of the infinite chain in a fixed-size buffer (|V| ≤ 4).
fn chain(k: f64, lv: usize, lb: usize) -> ([f64; 64], usize) {
    let mut t = [0.0; 64];
    let n = (1 << lv) * CHAIN_ENV_STATES;
    chain_joint(k, lv, lb, &mut t[..n]).unwrap();
    (t, n)
}

fn decimation_info(k: f64, lv: usize, lb: usize) -> f64 {
    let (t, n) = chain(k, lv, lb);
    let mut ch = [0.0; 32];
    spin_channel(lv, &[0], &mut ch[..2 << lv]).unwrap();
    channel_information(lv, 4, &t[..n], 2, &ch[..2 << lv]).unwrap()
}

fn soft_info(k: f64, lb: usize, lambda: &[f64]) -> f64 {
    let (t, n) = chain(k, lambda.len(), lb);
    let shape = Shape::new(lambda.len(), 1).unwrap();
    rule_information(shape, lambda, &[0.0], 4, &t[..n]).unwrap()
}

#[test]
fn chain_table_of_algorithm_5_2() {
    // (K, L_V, L_B, I(V:E), I(H = v₁ : E), I(H = sgn Σv : E)), docs/method.md#ising-1d-exact-table.
    let rows: [(f64, usize, usize, f64, f64, f64); 10] = [
        (0.5, 2, 1, 0.045736, 0.027634, 0.024257),
        (0.5, 2, 2, 0.009745, 0.005908, 0.005200),
        (0.5, 3, 1, 0.045910, 0.023972, 0.016816),
        (0.5, 4, 1, 0.045948, 0.023191, 0.011275),
        (0.5, 4, 2, 0.009754, 0.004924, 0.002402),
        (1.0, 2, 1, 0.325221, 0.247033, 0.240568),
        (1.0, 2, 2, 0.190954, 0.147647, 0.144381),
        (1.0, 3, 1, 0.339253, 0.217757, 0.199033),
        (1.0, 4, 1, 0.347331, 0.201317, 0.163125),
        (1.0, 4, 2, 0.198319, 0.116462, 0.095943),
    ];
    for (k, lv, lb, i_ve, i_dec, i_maj) in rows {
        let (t, n) = chain(k, lv, lb);
        let got = mutual_information(lv, 4, &t[..n]).unwrap();
        assert!(
            (got - i_ve).abs() < 1e-6,
            "I(V:E) K={k} L_V={lv} L_B={lb}: {got}"
        );
        let got = decimation_info(k, lv, lb);
        assert!(
            (got - i_dec).abs() < 1e-6,
            "decimation K={k} L_V={lv} L_B={lb}: {got}"
        );
        let mut ch = [0.0; 32];
        majority_channel(lv, &mut ch[..2 << lv]).unwrap();
        let got = channel_information(lv, 4, &t[..n], 2, &ch[..2 << lv]).unwrap();
        assert!(
            (got - i_maj).abs() < 1e-6,
            "majority K={k} L_V={lv} L_B={lb}: {got}"
        );
        // Decimation to the other edge is the same by reflection symmetry.
        let mut ch = [0.0; 32];
        spin_channel(lv, &[lv - 1], &mut ch[..2 << lv]).unwrap();
        let got = channel_information(lv, 4, &t[..n], 2, &ch[..2 << lv]).unwrap();
        assert!((got - i_dec).abs() < 1e-6);
    }
}

#[test]
fn soft_rules_of_algorithm_5_2() {
    // K = 0.5, L_V = 2, L_B = 1, P(h|v) = e^{hλ·v} / 2cosh(λ·v).
    let cases = [
        ([1.0, 0.0], 0.01593030),
        ([2.0, 0.0], 0.02565495),
        ([1.0, 1.0], 0.02251673),
        ([2.0, -1.0], 0.01731720),
        ([0.5, 0.5], 0.01397326),
    ];
    for (lambda, expected) in cases {
        let got = soft_info(0.5, 1, &lambda);
        assert!((got - expected).abs() < 1e-8, "λ = {lambda:?}: {got}");
    }
    // Equal norm r: (r/√2, r/√2) against (r, 0).
    let cases = [
        (0.5, 0.008901, 0.005835),
        (1.0, 0.019078, 0.015930),
        (2.0, 0.023915, 0.025655),
        (8.0, 0.024257, 0.027634),
    ];
    for (r, diagonal, edge) in cases {
        let d = soft_info(0.5, 1, &[r / 2f64.sqrt(), r / 2f64.sqrt()]);
        let e = soft_info(0.5, 1, &[r, 0.0]);
        assert!((d - diagonal).abs() < 1e-6, "r = {r}: diagonal {d}");
        assert!((e - edge).abs() < 1e-6, "r = {r}: edge {e}");
    }
    // The crossover "diagonal wins for r ≲ 1.6".
    for r in [0.2, 0.8, 1.4] {
        assert!(
            soft_info(0.5, 1, &[r / 2f64.sqrt(), r / 2f64.sqrt()]) > soft_info(0.5, 1, &[r, 0.0])
        );
    }
    for r in [1.8, 3.0, 20.0] {
        assert!(
            soft_info(0.5, 1, &[r / 2f64.sqrt(), r / 2f64.sqrt()]) < soft_info(0.5, 1, &[r, 0.0])
        );
    }
    // A large λ is decimation (tanh saturates to ±1 exactly).
    assert!((soft_info(0.5, 1, &[40.0, 0.0]) - 0.027634).abs() < 1e-6);
}

#[test]
fn lenggenhager_check() {
    let (t, n) = chain(0.1, 2, 1);
    let i_ve = mutual_information(2, 4, &t[..n]).unwrap();
    let ratio = decimation_info(0.1, 2, 1) / i_ve;
    assert!((ratio - 0.50497).abs() < 5e-6, "ratio {ratio}");
    assert!((i_ve - 9.868e-5).abs() < 5e-9, "I(V:E) {i_ve}");
}

#[test]
fn two_edge_spins_keep_all_of_i_v_e() {
    for (k, lv, lb) in [
        (0.5, 2, 1),
        (1.0, 3, 1),
        (1.0, 4, 2),
        (0.3, 4, 0),
        (2.0, 3, 3),
    ] {
        let (t, n) = chain(k, lv, lb);
        let i_ve = mutual_information(lv, 4, &t[..n]).unwrap();
        let mut ch = [0.0; 64];
        spin_channel(lv, &[0, lv - 1], &mut ch[..4 << lv]).unwrap();
        let got = channel_information(lv, 4, &t[..n], 4, &ch[..4 << lv]).unwrap();
        assert!(
            (got - i_ve).abs() < 1e-12,
            "K={k} L_V={lv}: {got} vs {i_ve}"
        );
        // A soft two-hidden rule with large weights on the edges does the same.
        let shape = Shape::new(lv, 2).unwrap();
        let mut w = [0.0; 8];
        w[0] = 50.0;
        w[lv + lv - 1] = -50.0;
        let got = rule_information(shape, &w[..2 * lv], &[0.0, 0.0], 4, &t[..n]).unwrap();
        assert!((got - i_ve).abs() < 1e-12);
        // One hidden spin keeps strictly less (the edge spins are not redundant).
        assert!(decimation_info(k, lv, lb) < i_ve - 1e-6);
    }
}

/// Central differences of I_Λ against the exact gradient, relative to the gradient's
/// largest component.
fn check_gradient(shape: Shape, w: &[f64], b: &[f64], env_states: usize, joint: &[f64]) {
    let mut gw = [0.0; 32];
    let mut gb = [0.0; 8];
    let nw = shape.weights();
    let nh = shape.hidden;
    rule_information_gradient(shape, w, b, env_states, joint, &mut gw[..nw], &mut gb[..nh])
        .unwrap();
    let scale = gw[..nw]
        .iter()
        .chain(&gb[..nh])
        .fold(0.0f64, |m, g| m.max(g.abs()));
    assert!(scale > 1e-4, "degenerate gradient");
    let h = 1e-4;
    let mut wp = [0.0; 32];
    let mut bp = [0.0; 8];
    for k in 0..nw + nh {
        wp[..nw].copy_from_slice(w);
        bp[..nh].copy_from_slice(b);
        let bump = |wp: &mut [f64; 32], bp: &mut [f64; 8], d: f64| {
            if k < nw {
                wp[k] += d;
            } else {
                bp[k - nw] += d;
            }
        };
        bump(&mut wp, &mut bp, h);
        let up = rule_information(shape, &wp[..nw], &bp[..nh], env_states, joint).unwrap();
        bump(&mut wp, &mut bp, -2.0 * h);
        let down = rule_information(shape, &wp[..nw], &bp[..nh], env_states, joint).unwrap();
        let fd = (up - down) / (2.0 * h);
        let analytic = if k < nw { gw[k] } else { gb[k - nw] };
        assert!(
            (fd - analytic).abs() <= 1e-6 * scale,
            "parameter {k}: finite difference {fd} vs {analytic}"
        );
    }
}

#[test]
fn gradient_matches_central_differences() {
    let (t, n) = chain(1.0, 2, 1);
    check_gradient(Shape::new(2, 1).unwrap(), &[0.7, -0.3], &[0.2], 4, &t[..n]);
    let (t, n) = chain(0.5, 3, 1);
    check_gradient(
        Shape::new(3, 2).unwrap(),
        &[0.4, 1.1, -0.6, -0.9, 0.3, 0.8],
        &[-0.1, 0.25],
        4,
        &t[..n],
    );
    // A 2D joint table: 3×3 torus, V = a 2×2 block, E = the other 5 sites.
    let mut bonds = [[0usize; 2]; 18];
    let nb = torus_bonds(3, 3, &mut bonds).unwrap();
    let mut t = [0.0; 1 << 9];
    enumerate_joint(
        9,
        &bonds[..nb],
        0.4,
        &[0, 1, 3, 4],
        &[2, 5, 6, 7, 8],
        &mut t,
    )
    .unwrap();
    check_gradient(
        Shape::new(4, 2).unwrap(),
        &[0.5, 0.2, -0.3, 0.9, -0.7, 0.1, 0.6, 0.4],
        &[0.05, -0.2],
        32,
        &t,
    );
}

#[test]
fn open_chain_enumeration_reproduces_the_infinite_chain() {
    // A free open chain is the stationary Markov chain, so its marginals are those of the
    // infinite chain exactly (to round-off in the sum of 2^20 weights).
    let mut bonds = [[0usize; 2]; 20];
    for (k, lv, lb) in [(0.5, 2, 1), (1.0, 3, 1), (1.0, 4, 2), (0.8, 2, 0)] {
        let nb = chain_bonds(20, false, &mut bonds).unwrap();
        let start = 8;
        let visible: [usize; 4] = core::array::from_fn(|i| start + i);
        let env = [start - lb - 1, start + lv + lb];
        let n = (1 << lv) * 4;
        let mut t = [0.0; 64];
        enumerate_joint(20, &bonds[..nb], k, &visible[..lv], &env, &mut t[..n]).unwrap();
        let (c, _) = chain(k, lv, lb);
        for i in 0..n {
            assert!(
                (t[i] - c[i]).abs() < 1e-10,
                "entry {i}: {} vs {}",
                t[i],
                c[i]
            );
        }
        let a = mutual_information(lv, 4, &t[..n]).unwrap();
        let b = mutual_information(lv, 4, &c[..n]).unwrap();
        assert!((a - b).abs() < 1e-10, "{a} vs {b}");
    }
}

#[test]
fn markov_property_the_two_adjacent_spins_carry_all_of_i_v_e() {
    // Open chain of 14 sites, V = {6, 7}, buffers {5} and {8}, E = all 10 other sites.
    let mut bonds = [[0usize; 2]; 13];
    let nb = chain_bonds(14, false, &mut bonds).unwrap();
    let env = [0, 1, 2, 3, 4, 9, 10, 11, 12, 13];
    let mut t = [0.0; 4 << 10];
    enumerate_joint(14, &bonds[..nb], 1.0, &[6, 7], &env, &mut t).unwrap();
    let all = mutual_information(2, 1 << 10, &t).unwrap();
    assert!((all - 0.325221).abs() < 1e-6, "{all}");
}

#[test]
fn ring_correlations_match_the_closed_form() {
    // ⟨s₀ s_r⟩ = (t^r + t^{N−r}) / (1 + t^N) on a ring (docs/method.md#ising-1d-exact-table).
    let mut bonds = [[0usize; 2]; 12];
    let nb = chain_bonds(12, true, &mut bonds).unwrap();
    let k: f64 = 0.7;
    let tk = k.tanh();
    for r in 1..12 {
        let mut t = [0.0; 4];
        enumerate_joint(12, &bonds[..nb], k, &[0, r], &[], &mut t).unwrap();
        // v index bit 0 = s₀, bit 1 = s_r: equal spins at 0 and 3.
        let corr = t[0] + t[3] - t[1] - t[2];
        let exact = (tk.powi(r as i32) + tk.powi(12 - r as i32)) / (1.0 + tk.powi(12));
        assert!((corr - exact).abs() < 1e-13, "r = {r}: {corr} vs {exact}");
    }
}

/// (T, e) of the 4×4 rows of tests/data/ising2d_exact.json.
fn torus4_energies() -> [(f64, f64); 6] {
    let json = include_str!("../../../../tests/data/ising2d_exact.json");
    let mut out = [(0.0, 0.0); 6];
    let mut count = 0;
    let mut rest = json;
    while let Some(pos) = rest.find("\"L\": 4,") {
        rest = &rest[pos + 7..];
        let number = |key: &str, s: &str| -> f64 {
            let p = s.find(key).unwrap() + key.len();
            let tail = &s[p..];
            let end = tail.find([',', '\n']).unwrap();
            tail[..end].trim().parse().unwrap()
        };
        // The entry's own fields come before the next "L".
        let entry = &rest[..rest.find("\"L\":").unwrap_or(rest.len())];
        if !entry.contains("\"T\":") || !entry.contains("\"e\":") {
            continue;
        }
        out[count] = (number("\"T\":", entry), number("\"e\":", entry));
        count += 1;
        if count == 6 {
            break;
        }
    }
    assert_eq!(count, 6, "expected six 4×4 rows in ising2d_exact.json");
    out
}

#[test]
fn torus_4x4_nearest_neighbour_correlations_match_the_exact_energy() {
    let mut bonds = [[0usize; 2]; 32];
    let nb = torus_bonds(4, 4, &mut bonds).unwrap();
    for (temperature, e) in torus4_energies() {
        // V = {0, 1, 4} (site 0, its right and lower neighbours), E = two far sites.
        let mut t = [0.0; 8 * 4];
        enumerate_joint(
            16,
            &bonds[..nb],
            1.0 / temperature,
            &[0, 1, 4],
            &[10, 15],
            &mut t,
        )
        .unwrap();
        let (mut horizontal, mut vertical) = (0.0, 0.0);
        let mut v = [0.0; 3];
        for vi in 0..8 {
            spins_of(vi, &mut v);
            let pv: f64 = t[vi * 4..vi * 4 + 4].iter().sum();
            horizontal += pv * v[0] * v[1];
            vertical += pv * v[0] * v[2];
            // Global flip symmetry of the marginal.
            let flipped: f64 = t[(7 - vi) * 4..(7 - vi) * 4 + 4].iter().sum();
            assert!((pv - flipped).abs() < 1e-12, "{pv} {flipped}");
        }
        // e = ⟨E⟩/N = −(2N bonds)/N ⟨s_i s_j⟩ = −2⟨s_i s_j⟩.
        assert!(
            (horizontal + e / 2.0).abs() < 1e-12,
            "T = {temperature}: {horizontal} vs {}",
            -e / 2.0
        );
        assert!((vertical + e / 2.0).abs() < 1e-12);
        assert!(mutual_information(3, 4, &t).unwrap() > 0.0);
    }
}

#[test]
fn conditional_and_channels_are_consistent() {
    let (t, n) = chain(1.0, 2, 1);
    let mut q = [0.0; 4];
    let mut total = 0.0;
    for e in 0..4 {
        let pe = conditional_visible(2, 4, &t[..n], e, &mut q).unwrap();
        assert!((q.iter().sum::<f64>() - 1.0).abs() < 1e-14);
        total += pe;
    }
    assert!((total - 1.0).abs() < 1e-14);
    // rule_table agrees with the rule's own functions.
    let shape = Shape::new(2, 2).unwrap();
    let w = [0.3, -0.5, 1.2, 0.4];
    let b = [0.1, -0.2];
    let mut table = [0.0; 16];
    rule_table(shape, &w, &b, &mut table).unwrap();
    let from_table = channel_information(2, 4, &t[..n], 4, &table).unwrap();
    let direct = rule_information(shape, &w, &b, 4, &t[..n]).unwrap();
    assert!((from_table - direct).abs() < 1e-14);
}

#[test]
fn caller_mistakes_are_errors() {
    let mut t = [0.0; 16];
    assert!(chain_joint(1.0, 0, 1, &mut t[..0]).is_err());
    assert!(chain_joint(1.0, 2, 1, &mut t[..15]).is_err());
    assert!(chain_joint(f64::NAN, 2, 1, &mut t).is_err());
    assert!(mutual_information(2, 4, &t).is_err()); // all zero: not normalised
    chain_joint(1.0, 2, 1, &mut t).unwrap();
    assert!(mutual_information(2, 3, &t).is_err());
    let mut bonds = [[0usize; 2]; 4];
    assert!(torus_bonds(2, 2, &mut bonds[..3]).is_err());
    let mut big = [0.0; 4];
    assert!(enumerate_joint(21, &[], 1.0, &[0], &[1], &mut big).is_err());
    assert!(enumerate_joint(4, &[], 1.0, &[0], &[0], &mut big).is_err());
    assert!(enumerate_joint(4, &[[0, 7]], 1.0, &[0], &[1], &mut big).is_err());
    assert!(enumerate_joint(4, &[], 1.0, &[0], &[5], &mut big).is_err());
    let mut ch = [0.0; 8];
    assert!(spin_channel(2, &[2], &mut ch).is_err());
    assert!(majority_channel(3, &mut ch).is_err());
    let mut q = [0.0; 4];
    assert!(conditional_visible(2, 4, &t, 4, &mut q).is_err());
    ch = [0.3; 8];
    assert!(channel_information(2, 4, &t, 2, &ch).is_err()); // rows do not sum to 1
}
