//! The reference half of the bit-identity test (bindings/c/tests/bit_identical.c): drives
//! rsmi-core **directly** (no rsmi-ffi code) through the sequence the C program drives
//! through the C ABI, and writes the same bytes. `run-tests.sh` compares the two files.
//!
//! Usage: `core_reference OUT_FILE`
//!
//! The sequence (keep it in step with bit_identical.c):
//! 1. replica 2D, L = 12, heat bath, T = 2.5, h = 0, stream_x4(2024, 3, 4): random start
//!    (one word per site), 7 sweeps, global flip, 5 sweeps, global flip; all 256 chains
//!    as packed bits.
//! 2. strip 2D, L = 128, Metropolis, T = T_c, h = 0.1, stream_x4(7, 0, 0): random start,
//!    3 sweeps; all 4 chains.
//! 3. replica 1D, L = 20, Metropolis-½, T = 1, h = 0, stream_x4(5, 1, 0): random start,
//!    10 sweeps; all 256 chains.
//! 4. Wolff 2D, L = 16, T = 2.3, h = 0, stream(11, 2, 1): random start (one word per 64
//!    sites, padding cleared), 50 cluster updates; packed bits.
//! 5. worm, L = 8, v = −1, T = 0.65, heat-bath exits, stream(9, 0, 0): columnar start,
//!    calibrate with 100 worms, 10 loop sweeps; the links bytes.
//! 6. rule 2×2, weights (1, 0.5, −0.25, 2), bias 0.1, tables by rule_tables, applied with
//!    draw = sample to the 256 configurations of step 1, stream(3, 0, 0); packed bits.

use rsmi_core::dimer::decorated::{links_len, write_links};
use rsmi_core::dimer::{Exits, Torus, Worm};
use rsmi_core::ising::wolff::{self, Wolff};
use rsmi_core::ising::{
    AcceptTable, Algorithm, Dim, Layout, Replica, Strip, T_C_2D, export_packed, packed_row_bytes,
};
use rsmi_core::rg::coarsen::{Draw, coarsen_2d, rule_tables};
use rsmi_core::rg::packed::{from_packbits_2d, to_packbits_2d};
use rsmi_core::rng::{Rng, stream, stream_x4};
use std::io::Write;
use wide::u64x4;

type Res<T = ()> = Result<T, Box<dyn std::error::Error>>;

#[allow(clippy::too_many_arguments)]
fn multi_spin<L: Layout>(
    layout: L,
    alg: Algorithm,
    t: f64,
    h: f64,
    seed: (u64, u64, u64),
    blocks: &[u64],
    flip_after_each: bool,
    out: &mut Vec<u8>,
) -> Res {
    let g = layout.geometry();
    let table = AcceptTable::<u64x4>::uniform(g.z(), alg, t, h)?;
    let mut rng = stream_x4(seed.0, seed.1, seed.2);
    let mut lat: Vec<u64x4> = (0..layout.words()).map(|_| rng.next_all()).collect();
    let mut flip = u64x4::ZERO;
    for &n in blocks {
        for _ in 0..n {
            layout.sweep(&mut lat, &table, &mut rng)?;
        }
        if flip_after_each {
            layout.global_flip(&mut flip, &table, &mut rng)?;
        }
    }
    let rows = g.sites() / g.size();
    let bytes = rows * packed_row_bytes(g.size());
    for c in 0..layout.chains::<u64x4>() {
        let mut buf = vec![0u8; bytes];
        export_packed(&layout, &lat, flip, c, &mut buf)?;
        out.extend_from_slice(&buf);
    }
    Ok(())
}

fn main() -> Res {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: core_reference OUT_FILE")?;
    let mut out = Vec::new();

    // 1.
    let start = out.len();
    multi_spin(
        Replica::new(Dim::Two, 12)?,
        Algorithm::HeatBath,
        2.5,
        0.0,
        (2024, 3, 4),
        &[7, 5],
        true,
        &mut out,
    )?;
    let replica_configs = out[start..].to_vec();
    // 2.
    multi_spin(
        Strip::new(Dim::Two, 128)?,
        Algorithm::Metropolis,
        T_C_2D,
        0.1,
        (7, 0, 0),
        &[3],
        false,
        &mut out,
    )?;
    // 3.
    multi_spin(
        Replica::new(Dim::One, 20)?,
        Algorithm::MetropolisHalf,
        1.0,
        0.0,
        (5, 1, 0),
        &[10],
        false,
        &mut out,
    )?;

    // 4.
    let w = Wolff::new(Dim::Two, 16, 2.3, 0.0)?;
    let mut rng = stream(11, 2, 1);
    let mut spins: Vec<u64> = (0..w.words()).map(|_| rng.next_u64()).collect();
    let (mut stack, mut visited) = (vec![0u32; w.stack_len()], vec![0u64; w.words()]);
    w.steps(&mut spins, &mut stack, &mut visited, &mut rng, 50)?;
    let mut buf = vec![0u8; 16 * 2];
    wolff::export_packed(&w, &spins, &mut buf)?;
    out.extend_from_slice(&buf);

    // 5.
    let torus = Torus::new(8)?;
    let worm = Worm::new(torus, -1.0, 0.65, Exits::HeatBath)?;
    let (mut h, mut v) = (
        vec![0u64; torus.plane_words()],
        vec![0u64; torus.plane_words()],
    );
    torus.columnar(&mut h, &mut v)?;
    let mut rng = stream(9, 0, 0);
    let per_sweep = worm.calibrate(&mut h, &mut v, &mut rng, 100)?;
    worm.run_many(&mut h, &mut v, &mut rng, 10 * per_sweep)?;
    let mut links = vec![0u8; links_len(torus)];
    write_links(torus, &h, &v, &mut links)?;
    out.extend_from_slice(&links);

    // 6.
    let (mut act, mut prob) = (vec![0.0; 16], vec![0.0; 16]);
    rule_tables(&[1.0, 0.5, -0.25, 2.0], 0.1, &mut act, &mut prob)?;
    let mut rng = stream(3, 0, 0);
    let (mut fine, mut coarse) = (vec![0u64; 12], vec![0u64; 6]);
    let mut bytes = vec![0u8; 6];
    for cfg in replica_configs.chunks_exact(12 * 2) {
        from_packbits_2d(cfg, 12, &mut fine)?;
        coarsen_2d(
            &fine,
            12,
            2,
            &act,
            &prob,
            Draw::Sample,
            &mut rng,
            &mut coarse,
        )?;
        to_packbits_2d(&coarse, 6, &mut bytes)?;
        out.extend_from_slice(&bytes);
    }

    std::fs::File::create(&path)?.write_all(&out)?;
    println!("core_reference: wrote {} bytes to {path}", out.len());
    Ok(())
}
