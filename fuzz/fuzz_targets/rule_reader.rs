//! The RULE.json reader and the block-geometry validator.
//!
//! * Arbitrary bytes into `parse_rule`: it must return `Ok` or `Err`, never panic; an
//!   accepted rule must validate and survive a write/read round trip unchanged.
//! * Arbitrary (L_V, L_B, L_E, lattice size, stride) into the core's `Square` and `Chain`
//!   geometries: construction, `check`, `positions` and every offset must return values
//!   or errors, never panic; an accepted window never exceeds the lattice, and every
//!   offset stays inside the window.
//!
//! Seeds: fuzz/seeds/rule_reader (rule files written by `rsmi train`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsmi_cli::learn::rule_file::parse_rule;
use rsmi_core::learn::geometry::{Block, Chain, Square};

fn geometry<G: Block>(g: &G, window: usize, rows: usize, cols: usize, stride: usize) {
    if g.check(rows, cols).is_err() {
        return;
    }
    assert!(window <= cols && (rows == 1 || window <= rows));
    for k in 0..g.visible_len() {
        let (dy, dx) = g.visible_offset(k);
        assert!(dy.unsigned_abs() < window && dx.unsigned_abs() < window);
    }
    for k in 0..g.env_len().min(4096) {
        let (dy, dx) = g.env_offset(k);
        assert!(dy.unsigned_abs() < window && dx.unsigned_abs() < window);
    }
    if let Ok(n) = g.positions(rows, cols, stride) {
        for i in [0, n / 2, n.saturating_sub(1), n] {
            if let Ok((r, c)) = g.position(rows, cols, stride, i) {
                assert!(i < n && r < rows && c < cols);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() >= 10 && data[0] == b'G' {
        let b = |i: usize| data[i] as usize;
        let (l_v, l_b, l_e) = (b(1) % 40, b(2) % 40, b(3) % 40);
        let rows = b(4) << 8 | b(5);
        let cols = b(6) << 8 | b(7);
        let stride = b(8) % 64;
        if let Ok(g) = Square::new(l_v, l_b, l_e) {
            geometry(&g, g.window(), rows, cols, stride);
        }
        if let Ok(g) = Chain::new(l_v, l_b, l_e) {
            geometry(&g, g.window(), 1, cols, stride);
            geometry(&g, g.window(), rows, cols, stride);
        }
        return;
    }
    let Ok(rule) = parse_rule(data) else {
        return;
    };
    if let Err(e) = rule.validate() {
        panic!("parse_rule accepted a rule that does not validate: {e}");
    }
    let text = serde_json::to_vec(&rule).expect("an accepted rule serializes");
    let back = parse_rule(&text).expect("a written rule reads back");
    assert_eq!(back, rule);
});
