//! Differential fuzzing of the Ising samplers: the word kernels against the plain
//! references on arbitrary small lattices, seeds, temperatures and fields (CONTRIBUTING.md).
//!
//! Decodes an arbitrary case (layout and size, rule, temperature(s), field, seed, number
//! of sweeps, initial lattice) and checks, from identical states and identical streams:
//!
//! - `Layout::sweep` with `u64` words == `reference::sweep_packed` (the bit-by-bit
//!   oracle): equal lattices and equal RNG states after every sweep; then
//!   `Layout::measure` == plain per-site sums, and `export_packed` / `import_packed`
//!   round-trip one chain;
//! - (on some inputs) the `u64x4` kernel with `stream_x4` == four `u64` runs with the
//!   matching `stream`s, lane by lane, RNG states included (plus `global_flip` at h = 0);
//! - `wolff::Wolff::step` / `sweep` == `reference::wolff_step_i8` on small lattices.
//!
//! Every decoded parameter is valid input, so any `Err` from the core is a failure too,
//! except the one documented refusal described at `fn table`.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use rsmi_core::Error;
use rsmi_core::ising::reference::{energy_magnetization_i8, sweep_packed, wolff_step_i8};
use rsmi_core::ising::wolff::Wolff;
use rsmi_core::ising::{
    AcceptTable, Algorithm, Counts, Dim, Layout, Replica, Strip, T_C_2D, export_packed,
    import_packed, packed_row_bytes,
};
use rsmi_core::rng::{X4, Xoshiro256PlusPlus, stream, stream_x4};
use rsmi_core::word::Word;
use wide::u64x4;

/// SplitMix64: fills lattice words once the fuzzer's bytes run out, and derives per-bit
/// temperature spreads.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    Replica(Dim, usize),
    Strip(Dim, usize),
}

#[derive(Debug, Clone, Copy)]
enum Temps {
    /// One temperature for every bit (`AcceptTable::uniform`).
    Uniform,
    /// A temperature per bit: T · 2^x with x ∈ [−spread, spread], from `splitmix(key + bit)`.
    PerBit { key: u64, spread: f64 },
}

#[derive(Debug, Clone, Copy)]
enum Init {
    /// Words from the input bytes (then SplitMix64 of the seed once they run out).
    Bytes,
    AllDown,
    AllUp,
    /// Alternating words 0x5555…/0xaaaa….
    Stripes,
}

#[derive(Debug)]
struct Local {
    shape: Shape,
    algorithm: Algorithm,
    temperature: f64,
    field: f64,
    temps: Temps,
    seed: u64,
    job: u64,
    /// x4 check: build the four u64 streams with `stream(seed, job, i)` and check them
    /// against `stream_x4` (else take them from `stream_x4`'s lanes: cheaper).
    scalar_streams: bool,
    sweeps: usize,
    x4: bool,
    global_flip: bool,
    /// How `words` was made (kept for the reproducer's Debug output).
    #[allow(dead_code)]
    init: Init,
    words: Vec<u64>,
}

#[derive(Debug)]
struct WolffCase {
    dim: Dim,
    l: usize,
    temperature: f64,
    field: f64,
    seed: u64,
    steps: usize,
    /// Use `Wolff::sweep` (clusters until N sites are covered) instead of single steps.
    sweep: bool,
    words: Vec<u64>,
}

#[derive(Debug)]
enum Case {
    Local(Local),
    Wolff(WolffCase),
}

/// True with probability 1/d, and false once the input is used up (plain
/// `Unstructured::ratio` returns true on an empty input, which would send every short input
/// down the rare, expensive branches).
fn rare(u: &mut Unstructured<'_>, d: u8) -> arbitrary::Result<bool> {
    Ok(!u.ratio(d - 1, d)?)
}

/// A finite positive temperature: usually log-uniform in [0.05, 50], sometimes a
/// special value (T_c, the ends of the range, and extremes far outside it).
fn temperature(u: &mut Unstructured<'_>) -> arbitrary::Result<f64> {
    const SPECIAL: [f64; 9] = [
        T_C_2D,
        0.05,
        50.0,
        1.0,
        2.0,
        0.1,
        1e-300,
        1e300,
        f64::MIN_POSITIVE,
    ];
    Ok(if rare(u, 8)? {
        SPECIAL[u.choose_index(SPECIAL.len())?]
    } else {
        let x = u.arbitrary::<u16>()? as f64 / u16::MAX as f64;
        0.05 * 1000f64.powf(x)
    })
}

/// The field: often 0, sometimes in [−3, 3], sometimes a value that makes ΔE exactly 0
/// for some class (±1, ±2) or an extreme.
fn field(u: &mut Unstructured<'_>) -> arbitrary::Result<f64> {
    const SPECIAL: [f64; 12] = [
        1.0, -1.0, 2.0, -2.0, 0.5, -1.5, 3.0, -3.0, 1e-300, -1e-300, 1e300, -1e300,
    ];
    Ok(match u.int_in_range(0u8..=7)? {
        0..=3 => 0.0,
        4 => SPECIAL[u.choose_index(SPECIAL.len())?],
        _ => (u.arbitrary::<u16>()? as f64 / u16::MAX as f64) * 6.0 - 3.0,
    })
}

fn algorithm(u: &mut Unstructured<'_>) -> arbitrary::Result<Algorithm> {
    // An exhaustive match, so that a new rule fails this build until it is fuzzed too.
    const ALL: [Algorithm; 3] = [
        Algorithm::Metropolis,
        Algorithm::MetropolisHalf,
        Algorithm::HeatBath,
    ];
    let a = ALL[u.choose_index(ALL.len())?];
    match a {
        Algorithm::Metropolis | Algorithm::MetropolisHalf | Algorithm::HeatBath => Ok(a),
    }
}

/// `n` lattice words: from the input while it lasts, then SplitMix64 of `seed`.
fn words(u: &mut Unstructured<'_>, n: usize, seed: u64) -> Vec<u64> {
    (0..n)
        .map(|i| {
            let mut b = [0u8; 8];
            if u.len() >= 8 && u.fill_buffer(&mut b).is_ok() {
                return u64::from_le_bytes(b);
            }
            splitmix(seed ^ (i as u64).wrapping_mul(0xd6e8_feb8_6659_fd93))
        })
        .collect()
}

impl<'a> Arbitrary<'a> for Case {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        if rare(u, 5)? {
            let dim = if u.arbitrary::<bool>()? {
                Dim::Two
            } else {
                Dim::One
            };
            let l = match dim {
                Dim::Two => u.int_in_range(2usize..=12)?,
                Dim::One => u.int_in_range(2usize..=40)?,
            };
            let temperature = temperature(u)?;
            let field = field(u)?;
            let seed = u.arbitrary()?;
            let steps = u.int_in_range(1usize..=8)?;
            let sweep = rare(u, 4)?;
            let n = if dim == Dim::Two { l * l } else { l };
            let words = words(u, n.div_ceil(64), seed);
            return Ok(Case::Wolff(WolffCase {
                dim,
                l,
                temperature,
                field,
                seed,
                steps,
                sweep,
                words,
            }));
        }
        let dim = if u.arbitrary::<bool>()? {
            Dim::Two
        } else {
            Dim::One
        };
        let shape = if rare(u, 12)? {
            match dim {
                Dim::Two => Shape::Strip(Dim::Two, 128),
                Dim::One => Shape::Strip(Dim::One, [128, 192, 256][u.choose_index(3)?]),
            }
        } else {
            match dim {
                Dim::Two => Shape::Replica(Dim::Two, u.int_in_range(2usize..=12)?),
                Dim::One => Shape::Replica(Dim::One, u.int_in_range(2usize..=40)?),
            }
        };
        let algorithm = algorithm(u)?;
        let temperature = temperature(u)?;
        let field = field(u)?;
        let temps = if rare(u, 4)? {
            Temps::PerBit {
                key: u.arbitrary()?,
                spread: u.int_in_range(0u8..=16)? as f64 / 4.0,
            }
        } else {
            Temps::Uniform
        };
        let seed = u.arbitrary()?;
        // Streams with job or lane ≠ 0 cost a `jump_ce` each (software GF(2) polynomial
        // arithmetic, by far the most expensive thing here): keep them to some inputs.
        let job = if rare(u, 8)? {
            u.int_in_range(1u64..=3)?
        } else {
            0
        };
        let scalar_streams = rare(u, 8)?;
        let sweeps = u.int_in_range(1usize..=4)?;
        let x4 = rare(u, 3)?;
        let global_flip = u.arbitrary()?;
        let init = [
            Init::Bytes,
            Init::Bytes,
            Init::Bytes,
            Init::Bytes,
            Init::AllDown,
            Init::AllUp,
            Init::Stripes,
        ][u.choose_index(7)?];
        let n = match shape {
            Shape::Replica(d, l) | Shape::Strip(d, l) => {
                let sites = if d == Dim::Two { l * l } else { l };
                match shape {
                    Shape::Replica(..) => sites,
                    Shape::Strip(..) => sites / 64,
                }
            }
        };
        let words = match init {
            Init::Bytes => words(u, n, seed),
            Init::AllDown => vec![0; n],
            Init::AllUp => vec![!0; n],
            Init::Stripes => (0..n)
                .map(|i| {
                    if i % 2 == 0 {
                        0x5555_5555_5555_5555
                    } else {
                        !0x5555_5555_5555_5555
                    }
                })
                .collect(),
        };
        Ok(Case::Local(Local {
            shape,
            algorithm,
            temperature,
            field,
            temps,
            seed,
            job,
            scalar_streams,
            sweeps,
            x4,
            global_flip,
            init,
            words,
        }))
    }
}

/// Per-bit temperatures `bits` long.
fn temperatures(c: &Local, bits: usize) -> Vec<f64> {
    match c.temps {
        Temps::Uniform => vec![c.temperature; bits],
        Temps::PerBit { key, spread } => (0..bits)
            .map(|b| {
                let x = (splitmix(key.wrapping_add(b as u64)) >> 11) as f64 / (1u64 << 53) as f64;
                let t = c.temperature * (spread * (2.0 * x - 1.0)).exp2();
                // Keep it a valid (finite, positive) temperature.
                if t.is_finite() && t > 0.0 {
                    t
                } else {
                    c.temperature
                }
            })
            .collect(),
    }
}

/// Build a table; `None` for the one refusal the core documents: `AcceptTable::per_bit`
/// returns `Error::Unsupported` when one class is certain (p = 1) for some bits and random
/// for others. (This does happen for valid input: heat bath with ΔE < 0 rounds
/// 1/(1 + e^{βΔE}) to exactly 1.0 once βΔE < −37, e.g. T < 0.108 at ΔE = −4, so mixing
/// such temperatures with warmer ones is refused. It is an error value, not a crash.)
fn table<W: Word>(z: usize, c: &Local, temps: &[f64]) -> Option<AcceptTable<W>> {
    let r = match c.temps {
        Temps::Uniform => AcceptTable::<W>::uniform(z, c.algorithm, c.temperature, c.field),
        Temps::PerBit { .. } => AcceptTable::<W>::per_bit(z, c.algorithm, temps, c.field),
    };
    match r {
        Ok(t) => Some(t),
        Err(Error::Unsupported(_)) if matches!(c.temps, Temps::PerBit { .. }) => None,
        Err(e) => panic!("AcceptTable rejected valid input: {e} ({c:?})"),
    }
}

fn first_difference(a: &[u64], b: &[u64]) -> Option<usize> {
    (0..a.len()).find(|&i| a[i] != b[i])
}

/// u64 word kernel vs the bit-by-bit oracle, then measurements and export/import.
fn kernel_vs_reference<L: Layout>(layout: &L, c: &Local) {
    let z = layout.geometry().z();
    let temps = temperatures(c, 64);
    let Some(table) = table::<u64>(z, c, &temps) else {
        return;
    };
    let ref_temps: &[f64] = match c.temps {
        Temps::Uniform => &temps[..1],
        Temps::PerBit { .. } => &temps,
    };
    let mut a = c.words.clone();
    let mut b = c.words.clone();
    let mut ra = stream(c.seed, c.job, 0);
    let mut rb = ra.clone();
    for sweep in 0..c.sweeps {
        layout.sweep(&mut a, &table, &mut ra).expect("kernel sweep");
        sweep_packed(layout, &mut b, c.algorithm, ref_temps, c.field, &mut rb)
            .expect("reference sweep");
        if let Some(i) = first_difference(&a, &b) {
            panic!(
                "kernel != reference after sweep {sweep}: first difference at word {i}: {:#018x} vs {:#018x} (xor {:#018x})",
                a[i],
                b[i],
                a[i] ^ b[i]
            );
        }
        assert_eq!(ra, rb, "random streams diverged after sweep {sweep}");
    }

    // Measurements against plain per-site sums.
    let g = layout.geometry();
    let chains = layout.chains::<u64>();
    let mut counts = vec![Counts::default(); chains];
    let flip = if c.global_flip { c.seed } else { 0 };
    let flip = if chains == 1 {
        flip.lane_bit0_mask()
    } else {
        flip
    };
    layout.measure(&a, flip, &mut counts).expect("measure");
    let mut spins = vec![0i8; g.sites()];
    for (chain, count) in counts.iter().enumerate() {
        for (site, s) in spins.iter_mut().enumerate() {
            *s = if layout.spin(&a, flip, chain, site) {
                1
            } else {
                -1
            };
        }
        let (e, m) = energy_magnetization_i8(&g, &spins);
        assert_eq!(
            (count.bond_energy(&g), count.magnetization(&g)),
            (e, m),
            "measure, chain {chain}"
        );
    }

    // Export one chain as packed bits and import it into a blank lattice.
    let chain = (c.seed % chains as u64) as usize;
    let rows = g.sites() / g.size();
    let mut packed = vec![0u8; rows * packed_row_bytes(g.size())];
    export_packed(layout, &a, 0u64, chain, &mut packed).expect("export");
    let mut back = vec![0u64; a.len()];
    import_packed(layout, &mut back, chain, &packed).expect("import");
    for site in 0..g.sites() {
        assert_eq!(
            layout.spin(&back, 0, chain, site),
            layout.spin(&a, 0, chain, site),
            "export/import, site {site}"
        );
    }
}

/// The u64x4 kernel with `stream_x4` vs four u64 runs with the matching streams.
fn x4_vs_four_u64<L: Layout>(layout: &L, c: &Local) {
    let z = layout.geometry().z();
    let temps = temperatures(c, 256);
    let Some(wt) = table::<u64x4>(z, c, &temps) else {
        return;
    };
    let mut lts = Vec::new();
    for lane in 0..4 {
        match table::<u64>(z, c, &temps[64 * lane..64 * lane + 64]) {
            Some(t) => lts.push(t),
            // The wide table was accepted, so every lane's must be too.
            None => panic!("u64x4 table accepted but lane {lane}'s u64 table refused ({c:?})"),
        }
    }
    let n = c.words.len();
    // Lane i starts from the input words mixed with the lane index.
    let mut lanes: Vec<Vec<u64>> = (0..4)
        .map(|lane| {
            c.words
                .iter()
                .map(|&w| {
                    if lane == 0 {
                        w
                    } else {
                        w ^ splitmix(w ^ lane as u64)
                    }
                })
                .collect()
        })
        .collect();
    let mut wide: Vec<u64x4> = (0..n)
        .map(|i| u64x4::new([lanes[0][i], lanes[1][i], lanes[2][i], lanes[3][i]]))
        .collect();
    let mut wr = stream_x4(c.seed, c.job, 0);
    let mut lr: [Xoshiro256PlusPlus; 4] = if c.scalar_streams {
        let lr = core::array::from_fn(|i| stream(c.seed, c.job, i as u64));
        assert_eq!(
            X4::to_lanes(&wr),
            lr,
            "stream_x4 lanes != stream(seed, job, lane)"
        );
        lr
    } else {
        X4::to_lanes(&wr)
    };
    let mut wflip = u64x4::ZERO;
    let mut lflip = [0u64; 4];
    let flips = c.global_flip && c.field == 0.0;
    for sweep in 0..c.sweeps {
        layout.sweep(&mut wide, &wt, &mut wr).expect("x4 sweep");
        if flips {
            layout
                .global_flip(&mut wflip, &wt, &mut wr)
                .expect("x4 global flip");
        }
        for (((lat, lt), rng), flip) in lanes.iter_mut().zip(&lts).zip(&mut lr).zip(&mut lflip) {
            layout.sweep(lat, lt, rng).expect("lane sweep");
            if flips {
                layout.global_flip(flip, lt, rng).expect("lane global flip");
            }
        }
        for (i, w) in wide.iter().enumerate() {
            for (lane, lat) in lanes.iter().enumerate() {
                assert_eq!(
                    w.lane(lane),
                    lat[i],
                    "u64x4 != u64 after sweep {sweep}: word {i} lane {lane}"
                );
            }
        }
        for (lane, &flip) in lflip.iter().enumerate() {
            assert_eq!(wflip.lane(lane), flip, "global flip, lane {lane}");
        }
        assert_eq!(
            X4::to_lanes(&wr),
            lr,
            "u64x4 stream != u64 streams after sweep {sweep}"
        );
    }
}

fn local(c: &Local) {
    match c.shape {
        Shape::Replica(dim, l) => {
            let layout = Replica::new(dim, l).expect("replica layout");
            kernel_vs_reference(&layout, c);
            if c.x4 {
                x4_vs_four_u64(&layout, c);
            }
        }
        Shape::Strip(dim, l) => {
            let layout = Strip::new(dim, l).expect("strip layout");
            kernel_vs_reference(&layout, c);
            if c.x4 {
                x4_vs_four_u64(&layout, c);
            }
        }
    }
}

fn wolff(c: &WolffCase) {
    let w = Wolff::new(c.dim, c.l, c.temperature, c.field).expect("Wolff::new");
    let g = w.geometry();
    let n = g.sites();
    let mut bits = c.words.clone();
    let mut spins: Vec<i8> = (0..n)
        .map(|i| if w.spin(&bits, i) { 1 } else { -1 })
        .collect();
    let mut stack = vec![0u32; n];
    let mut visited = vec![0u64; w.words()];
    let mut stack2 = vec![0u32; n];
    let mut visited2 = vec![false; n];
    let mut ra = stream(c.seed, 0, 0);
    let mut rb = ra.clone();
    let check = |bits: &[u64], spins: &[i8], what: &str| {
        for (i, &s) in spins.iter().enumerate() {
            assert_eq!(w.spin(bits, i), s == 1, "{what}: spin {i} differs");
        }
    };
    for step in 0..c.steps {
        if c.sweep {
            let clusters = w
                .sweep(&mut bits, &mut stack, &mut visited, &mut ra)
                .expect("Wolff::sweep");
            let (mut covered, mut count) = (0usize, 0usize);
            while covered < n {
                let cl = wolff_step_i8(
                    &g,
                    &mut spins,
                    &mut stack2,
                    &mut visited2,
                    c.temperature,
                    c.field,
                    &mut rb,
                )
                .expect("reference Wolff step");
                covered += cl.size;
                count += 1;
            }
            assert_eq!(clusters, count, "sweep {step}: cluster counts differ");
        } else {
            let ca = w
                .step(&mut bits, &mut stack, &mut visited, &mut ra)
                .expect("Wolff::step");
            let cb = wolff_step_i8(
                &g,
                &mut spins,
                &mut stack2,
                &mut visited2,
                c.temperature,
                c.field,
                &mut rb,
            )
            .expect("reference Wolff step");
            assert_eq!(ca, cb, "step {step}: clusters differ");
        }
        check(&bits, &spins, "Wolff vs reference");
        assert!(visited.iter().all(|&v| v == 0), "visited not cleared");
        assert!(
            visited2.iter().all(|&v| !v),
            "reference visited not cleared"
        );
        assert_eq!(ra, rb, "random streams diverged after step {step}");
    }
    let counts = w.measure(&bits).expect("Wolff::measure");
    let (e, m) = energy_magnetization_i8(&g, &spins);
    assert_eq!(
        (counts.bond_energy(&g), counts.magnetization(&g)),
        (e, m),
        "Wolff measure"
    );
}

fuzz_target!(|case: Case| {
    match &case {
        Case::Local(c) => local(c),
        Case::Wolff(c) => wolff(c),
    }
});
