//! End-to-end tests of `rsmi coarsen` and `rsmi plot weights`: coarse files round-trip
//! through the sample reader with the expected spins, energies and meta; bad inputs are
//! refused with one sentence and leave no file; figures are valid PNG / SVG files.
//!
//! Expected coarse spins are computed here from the fixtures by hand formulas (a
//! weighted block sum and its sign), energies by a direct nearest-neighbour sum, and the
//! block-1 identity rule is checked against the energies written by `rsmi sample`.

mod common;

use common::{TempDir, ok, rsmi, s, stderr};
use rsmi_cli::io::dimer_npz::{DimerFile, write_dimer_npz};
use rsmi_cli::io::npz::{SampleFile, pack_row, read_npz, write_npz};
use rsmi_cli::learn::rule_file::{FORMAT, GeometryKind, GeometrySpec, RuleFile, write_rule};
use serde_json::{Value, json};
use std::path::Path;

/// Deterministic pseudo-random bits (splitmix64) for fixtures.
struct Bits(u64);
impl Bits {
    fn next(&mut self) -> bool {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) & 1 == 1
    }
}

/// Direct E = −Σ s_i (s_right + s_down) and M = Σ s_i of an L×L torus (or a ring).
fn energy(dims: usize, l: usize, up: &[bool]) -> (i64, i64) {
    let sp = |i: usize| if up[i] { 1i64 } else { -1 };
    let (mut e, mut m) = (0, 0);
    let rows = if dims == 2 { l } else { 1 };
    for y in 0..rows {
        for x in 0..l {
            let i = y * l + x;
            m += sp(i);
            e -= sp(i) * sp(y * l + (x + 1) % l);
            if dims == 2 {
                e -= sp(i) * sp(((y + 1) % l) * l + x);
            }
        }
    }
    (e, m)
}

/// Unpacks channel `c` of sample `i` (rows × L booleans).
fn unpack(f: &SampleFile, i: usize, c: usize) -> Vec<bool> {
    let rows = if f.dims == 2 { f.size } else { 1 };
    let rb = f.size.div_ceil(8);
    let bytes = &f.sample(i)[c * rows * rb..(c + 1) * rows * rb];
    let mut out = Vec::new();
    for r in 0..rows {
        for x in 0..f.size {
            out.push((bytes[r * rb + x / 8] >> (7 - x % 8)) & 1 == 1);
        }
    }
    out
}

/// A random ising2d file of side `l` with `n` samples (energies by the direct sum).
fn ising_file(l: usize, n: usize, seed: u64) -> (SampleFile, Vec<Vec<bool>>) {
    let mut bits = Bits(seed);
    let (mut spins, mut energy_col, mut mag) = (Vec::new(), Vec::new(), Vec::new());
    let mut lattices = Vec::new();
    for _ in 0..n {
        let up: Vec<bool> = (0..l * l).map(|_| bits.next()).collect();
        for row in up.chunks(l) {
            pack_row(row, &mut spins);
        }
        let (e, m) = energy(2, l, &up);
        energy_col.push(e);
        mag.push(m);
        lattices.push(up);
    }
    let f = SampleFile {
        dims: 2,
        size: l,
        n,
        spins,
        energy: energy_col,
        magnetization: mag,
        chain: Some((0..n as i64).collect()),
        sweep: None,
        meta: json!({"model": "ising2d", "size": l, "config": {"temperature": 2.5, "seed": seed}}),
    };
    (f, lattices)
}

fn rule(
    model: &str,
    input: &str,
    kind: GeometryKind,
    block: usize,
    channels: usize,
    weights: Vec<Vec<f64>>,
    bias: Vec<f64>,
) -> RuleFile {
    let sites = match kind {
        GeometryKind::Square => block * block,
        GeometryKind::Chain => block,
    };
    RuleFile {
        format: FORMAT.into(),
        model: model.into(),
        input: input.into(),
        channels,
        geometry: GeometrySpec {
            kind,
            block,
            buffer: 1,
            env: 1,
        },
        hidden: weights.len(),
        visible: channels * sites,
        estimator: "builtin".into(),
        filters: rsmi_cli::learn::rule_file::normalise(&weights),
        weights,
        bias,
        mi: None,
        trace: vec![],
        config: Value::Null,
        data: Value::Null,
        provenance: Value::Null,
    }
}

/// The 2×2 rule with weights k·(1, 2, 4, 8): never ties; h = sign(v₀ + 2v₁ + 4v₂ + 8v₃).
const BINARY: [f64; 4] = [1.0, 2.0, 4.0, 8.0];

fn binary_block(up: &[bool], l: usize, by: usize, bx: usize, sign: f64) -> bool {
    let v = |y: usize, x: usize| if up[y * l + x] { 1.0 } else { -1.0 };
    let a = BINARY[0] * v(2 * by, 2 * bx)
        + BINARY[1] * v(2 * by, 2 * bx + 1)
        + BINARY[2] * v(2 * by + 1, 2 * bx)
        + BINARY[3] * v(2 * by + 1, 2 * bx + 1);
    sign * a > 0.0
}

#[test]
fn coarsen_ising2d_round_trip_energies_and_meta() {
    let d = TempDir::new("ising");
    let (f, lattices) = ising_file(8, 600, 11); // 3 random-stream chunks
    let data = d.join("data.npz");
    write_npz(&data, false, &f).unwrap();
    let r = d.join("rule.json");
    let w: Vec<f64> = BINARY.iter().map(|x| 10.0 * x).collect();
    write_rule(
        &r,
        false,
        &rule(
            "ising2d",
            "spins",
            GeometryKind::Square,
            2,
            1,
            vec![w],
            vec![0.0],
        ),
    )
    .unwrap();
    let mut outs = Vec::new();
    for (name, mode, threads) in [
        ("a1.npz", "argmax", "1"),
        ("a2.npz", "argmax", "2"),
        ("s1.npz", "sample", "1"),
        ("s2.npz", "sample", "2"),
    ] {
        let out = d.join(name);
        let o = rsmi(&[
            "coarsen",
            "--rule",
            s(&r),
            "--data",
            s(&data),
            "--out",
            s(&out),
            "--mode",
            mode,
            "--seed",
            "9",
            "--threads",
            threads,
            "--json",
        ]);
        ok(&o);
        let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(summary["size"], 4);
        outs.push(read_npz(&out).unwrap());
    }
    // Threads never change the output.
    assert_eq!(outs[0], outs[1]);
    assert_eq!(outs[2], outs[3]);
    let c = &outs[0];
    assert_eq!((c.dims, c.size, c.n, c.channels()), (2, 4, 600, 1));
    for (i, up) in lattices.iter().enumerate() {
        let coarse = unpack(c, i, 0);
        for by in 0..4 {
            for bx in 0..4 {
                assert_eq!(coarse[by * 4 + bx], binary_block(up, 8, by, bx, 1.0));
            }
        }
        assert_eq!((c.energy[i], c.magnetization[i]), energy(2, 4, &coarse));
        // |a| ≥ 10 for every block: sample mode agrees except with probability
        // σ(−20) ≈ 2e−9 per block.
        assert_eq!(unpack(&outs[2], i, 0), coarse);
    }
    assert_eq!(c.chain, f.chain);
    let m = &c.meta;
    assert_eq!(m["model"], "ising2d");
    assert_eq!(m["rg_step"], 1);
    assert_eq!(m["coarse_of"], "ising2d");
    assert_eq!(m["mode"], "argmax");
    assert_eq!(m["seed"], 9);
    assert_eq!(m["config"], f.meta["config"]);
    assert_eq!(m["rule"]["geometry"]["block"], 2);
    assert_eq!(m["rule"]["weights"][0][3], 80.0);
    assert!(m["build"]["version"].is_string());
    assert_eq!(outs[2].meta["mode"], "sample");
}

#[test]
fn block_one_identity_reproduces_sampler_energies() {
    // A 1-site block with a large weight copies the lattice: energies and magnetisations
    // must equal those the sampler wrote (independent code), in 2D and on a ring.
    let d = TempDir::new("identity");
    for (model, size, kind) in [
        ("ising2d", "8", GeometryKind::Square),
        ("ising1d", "16", GeometryKind::Chain),
    ] {
        let data = d.join(&format!("{model}.npz"));
        ok(&rsmi(&[
            "sample",
            model,
            "--size",
            size,
            "--temperature",
            "2.5",
            "--samples",
            "40",
            "--seed",
            "3",
            "--out",
            s(&data),
        ]));
        let r = d.join(&format!("{model}.json"));
        write_rule(
            &r,
            false,
            &rule(model, "spins", kind, 1, 1, vec![vec![50.0]], vec![0.0]),
        )
        .unwrap();
        let out = d.join(&format!("{model}-c.npz"));
        ok(&rsmi(&[
            "coarsen",
            "--rule",
            s(&r),
            "--data",
            s(&data),
            "--out",
            s(&out),
            "--seed",
            "1",
        ]));
        let (a, b) = (read_npz(&data).unwrap(), read_npz(&out).unwrap());
        assert_eq!(a.spins, b.spins, "{model}");
        assert_eq!(a.energy, b.energy, "{model}");
        assert_eq!(a.magnetization, b.magnetization, "{model}");
        assert_eq!(b.meta["config"], a.meta["config"]);
    }
}

#[test]
fn multi_channel_output_and_second_step() {
    let d = TempDir::new("multi");
    let (f, lattices) = ising_file(8, 12, 5);
    let data = d.join("data.npz");
    write_npz(&data, false, &f).unwrap();
    let w: Vec<f64> = BINARY.iter().map(|x| 10.0 * x).collect();
    let neg: Vec<f64> = w.iter().map(|x| -x).collect();
    let r1 = d.join("r1.json");
    write_rule(
        &r1,
        false,
        &rule(
            "ising2d",
            "spins",
            GeometryKind::Square,
            2,
            1,
            vec![w.clone(), neg],
            vec![0.0, 0.0],
        ),
    )
    .unwrap();
    let c1 = d.join("c1.npz");
    ok(&rsmi(&[
        "coarsen",
        "--rule",
        s(&r1),
        "--data",
        s(&data),
        "--out",
        s(&c1),
        "--seed",
        "4",
        "--mode",
        "argmax",
    ]));
    let g = read_npz(&c1).unwrap();
    assert_eq!(g.channels(), 2);
    assert_eq!(g.spins_shape(), vec![12, 2, 4, 1]);
    assert_eq!(g.meta["channels"], 2);
    for (i, up) in lattices.iter().enumerate() {
        let (h0, h1) = (unpack(&g, i, 0), unpack(&g, i, 1));
        for by in 0..4 {
            for bx in 0..4 {
                assert_eq!(h0[by * 4 + bx], binary_block(up, 8, by, bx, 1.0));
                assert_eq!(h1[by * 4 + bx], binary_block(up, 8, by, bx, -1.0));
            }
        }
        // Energy and magnetisation from channel 0.
        assert_eq!((g.energy[i], g.magnetization[i]), energy(2, 4, &h0));
    }
    // Second step: a two-channel rule reading only channel 1 (visible = 2 · 4).
    let mut w2 = vec![0.0; 4];
    w2.extend(w.iter().copied());
    let r2 = d.join("r2.json");
    write_rule(
        &r2,
        false,
        &rule(
            "ising2d",
            "spins",
            GeometryKind::Square,
            2,
            2,
            vec![w2],
            vec![0.0],
        ),
    )
    .unwrap();
    let c2 = d.join("c2.npz");
    ok(&rsmi(&[
        "coarsen",
        "--rule",
        s(&r2),
        "--data",
        s(&c1),
        "--out",
        s(&c2),
        "--seed",
        "4",
        "--mode",
        "argmax",
    ]));
    let g2 = read_npz(&c2).unwrap();
    assert_eq!((g2.size, g2.channels()), (2, 1));
    assert_eq!(g2.meta["rg_step"], 2);
    assert_eq!(g2.meta["coarse_of"], "ising2d");
    assert_eq!(g2.meta["config"], f.meta["config"]);
    for i in 0..12 {
        let h1 = unpack(&g, i, 1);
        let up = unpack(&g2, i, 0);
        for by in 0..2 {
            for bx in 0..2 {
                assert_eq!(up[by * 2 + bx], binary_block(&h1, 4, by, bx, 1.0));
            }
        }
    }
    // The first file's rule (one channel) does not fit the two-channel file.
    let o = rsmi(&[
        "coarsen",
        "--rule",
        s(&r1),
        "--data",
        s(&c1),
        "--out",
        s(&d.join("x.npz")),
        "--seed",
        "1",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("channel"), "{}", stderr(&o));
    assert!(!d.join("x.npz").exists());
}

/// A 4×4 columnar covering (h(x, y) = 1 for even x) with random noise bits, as a dimer
/// file of `n` samples (noise differs per sample).
fn dimer_file(n: usize, decorated: bool) -> DimerFile {
    let l = 4;
    let mut bits = Bits(77);
    let (mut links, mut dec) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let h: Vec<u8> = (0..l * l).map(|i| u8::from((i % l) % 2 == 0)).collect();
        links.extend_from_slice(&h);
        links.extend(std::iter::repeat_n(0u8, l * l));
        let mut x = vec![0u8; 4 * l * l];
        for y in 0..l {
            for xx in 0..l {
                let noise = u8::from(bits.next());
                x[2 * y * 2 * l + 2 * xx] = noise;
                x[(2 * y + 1) * 2 * l + 2 * xx + 1] = noise;
                x[2 * y * 2 * l + 2 * xx + 1] = h[y * l + xx];
            }
        }
        dec.extend_from_slice(&x);
    }
    DimerFile {
        size: l,
        n,
        links,
        decorated: decorated.then_some(dec),
        // Columnar coverings have zero winding numbers.
        winding: vec![0; 2 * n],
        chain: None,
        sweep: None,
        meta: json!({"model": "dimer", "size": l, "config": {"temperature": "infinite"}}),
    }
}

#[test]
fn coarsen_dimer_links_and_decorated() {
    let d = TempDir::new("dimer");
    let f = dimer_file(6, true);
    let data = d.join("dimer.npz");
    write_dimer_npz(&data, false, &f).unwrap();
    // Block 4 on the 8×8 array: 2×2 coarse lattice. Unit 0 reads the vertex noise bit at
    // block entry (0, 0) (h = +1 iff it is 1), unit 1 the link entry (0, 1) = h(x, y) of
    // the block's first site, which is 1 (x even) for every block.
    let mut w0 = vec![0.0; 16];
    w0[0] = 40.0;
    let mut w1 = vec![0.0; 16];
    w1[1] = 40.0;
    let r = d.join("dec.json");
    write_rule(
        &r,
        false,
        &rule(
            "dimer",
            "decorated",
            GeometryKind::Square,
            4,
            1,
            vec![w0.clone(), w1.clone()],
            vec![-20.0, -20.0],
        ),
    )
    .unwrap();
    let out = d.join("c.npz");
    ok(&rsmi(&[
        "coarsen",
        "--rule",
        s(&r),
        "--data",
        s(&data),
        "--out",
        s(&out),
        "--seed",
        "2",
    ]));
    let g = read_npz(&out).unwrap();
    assert_eq!((g.dims, g.size, g.n, g.channels()), (2, 2, 6, 2));
    assert_eq!(g.meta["coarse_of"], "dimer");
    assert_eq!(g.meta["model"], "ising2d");
    let dec = f.decorated.as_ref().unwrap();
    for i in 0..6 {
        let x = &dec[i * 64..(i + 1) * 64];
        let (h0, h1) = (unpack(&g, i, 0), unpack(&g, i, 1));
        for by in 0..2 {
            for bx in 0..2 {
                assert_eq!(h0[by * 2 + bx], x[(4 * by) * 8 + 4 * bx] == 1);
                assert!(h1[by * 2 + bx]);
            }
        }
    }
    // The same link rule with input links, on a file without decorated arrays: noise
    // entries read as 0, the link entry as before.
    let plain = d.join("plain.npz");
    write_dimer_npz(&plain, false, &dimer_file(6, false)).unwrap();
    let rl = d.join("links.json");
    write_rule(
        &rl,
        false,
        &rule(
            "dimer",
            "links",
            GeometryKind::Square,
            4,
            1,
            vec![w0, w1],
            vec![-20.0, -20.0],
        ),
    )
    .unwrap();
    let out2 = d.join("c2.npz");
    ok(&rsmi(&[
        "coarsen",
        "--rule",
        s(&rl),
        "--data",
        s(&plain),
        "--out",
        s(&out2),
        "--seed",
        "2",
    ]));
    let g2 = read_npz(&out2).unwrap();
    for i in 0..6 {
        assert!(unpack(&g2, i, 0).iter().all(|&u| !u));
        assert!(unpack(&g2, i, 1).iter().all(|&u| u));
    }
    // A decorated rule on a file without decorated arrays is refused.
    let o = rsmi(&[
        "coarsen",
        "--rule",
        s(&r),
        "--data",
        s(&plain),
        "--out",
        s(&d.join("no.npz")),
        "--seed",
        "2",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no decorated arrays"), "{}", stderr(&o));
    assert!(!d.join("no.npz").exists());
}

#[test]
fn bad_inputs_are_refused_and_leave_no_file() {
    let d = TempDir::new("bad");
    let (f, _) = ising_file(8, 5, 1);
    let data = d.join("data.npz");
    write_npz(&data, false, &f).unwrap();
    let dimer = d.join("dimer.npz");
    write_dimer_npz(&dimer, false, &dimer_file(2, true)).unwrap();
    let truncated = d.join("trunc.npz");
    let bytes = std::fs::read(&data).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let sq = |block: usize, channels: usize| {
        rule(
            "ising2d",
            "spins",
            GeometryKind::Square,
            block,
            channels,
            vec![vec![1.0; block * block * channels]],
            vec![0.0],
        )
    };
    let rules = [
        ("r2.json", sq(2, 1)),
        ("r3.json", sq(3, 1)),
        ("rc2.json", sq(2, 2)),
        ("r8.json", sq(8, 1)),
        (
            "chain.json",
            rule(
                "ising1d",
                "spins",
                GeometryKind::Chain,
                2,
                1,
                vec![vec![1.0; 2]],
                vec![0.0],
            ),
        ),
    ];
    for (name, r) in &rules {
        write_rule(&d.join(name), false, r).unwrap();
    }
    std::fs::write(d.join("garbage.json"), b"{\"format\": 3").unwrap();
    let before = d.files();
    let cases: [(&str, &Path, &str); 8] = [
        ("r2.json", &dimer, "is for model ising2d but data file"),
        ("chain.json", &data, "holds ising2d samples"),
        ("r3.json", &data, "does not divide"),
        ("r8.json", &data, "at least 2"),
        ("rc2.json", &data, "channel"),
        ("r2.json", &truncated, "trunc.npz"),
        ("garbage.json", &data, "garbage.json"),
        ("r2.json", &d.join("missing.npz"), "missing.npz"),
    ];
    for (r, data, needle) in cases {
        let out = d.join("out.npz");
        let o = rsmi(&[
            "coarsen",
            "--rule",
            s(&d.join(r)),
            "--data",
            s(data),
            "--out",
            s(&out),
            "--seed",
            "1",
        ]);
        let e = stderr(&o);
        assert!(!o.status.success(), "{r}: accepted");
        assert!(e.contains(needle), "{r}: {e}");
        assert!(
            e.starts_with("error: ") && e.trim_end().lines().count() == 1,
            "{e}"
        );
        assert_eq!(d.files(), before, "{r}: left a file");
    }
    // An existing output is kept without --force.
    let out = d.join("exists.npz");
    std::fs::write(&out, b"keep").unwrap();
    let o = rsmi(&[
        "coarsen",
        "--rule",
        s(&d.join("r2.json")),
        "--data",
        s(&data),
        "--out",
        s(&out),
        "--seed",
        "1",
    ]);
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep");
}

#[test]
fn plot_weights_png_and_svg() {
    let d = TempDir::new("plot");
    let ising = rule(
        "ising2d",
        "spins",
        GeometryKind::Square,
        2,
        2,
        vec![vec![0.9, 1.0, 1.1, 0.95, 0.0, 0.1, -0.2, 0.3]; 3],
        vec![0.0, 0.1, -0.1],
    );
    let mut dimer_w = vec![0.0; 64];
    for (k, w) in dimer_w.iter_mut().enumerate() {
        let (r, c) = (k / 8, k % 8);
        if r % 2 == 0 && c % 2 == 1 {
            *w = if (r / 2 + c / 2) % 2 == 0 { 1.0 } else { -1.0 };
        }
    }
    let dimer = rule(
        "dimer",
        "decorated",
        GeometryKind::Square,
        8,
        1,
        vec![dimer_w.clone(), dimer_w],
        vec![0.0, 0.0],
    );
    let chain = rule(
        "ising1d",
        "spins",
        GeometryKind::Chain,
        4,
        1,
        vec![vec![1.0, -2.0, 0.5, 0.0]],
        vec![0.0],
    );
    for (name, r, panels) in [
        ("ising", &ising, 6),
        ("dimer", &dimer, 2),
        ("chain", &chain, 1),
    ] {
        let rp = d.join(&format!("{name}.json"));
        write_rule(&rp, false, r).unwrap();
        let png = d.join(&format!("{name}.png"));
        let svg = d.join(&format!("{name}.svg"));
        ok(&rsmi(&["plot", "weights", s(&rp), "--out", s(&png)]));
        ok(&rsmi(&["plot", "weights", s(&rp), "--out", s(&svg)]));
        let p = std::fs::read(&png).unwrap();
        assert_eq!(&p[..8], b"\x89PNG\r\n\x1a\n", "{name}");
        assert!(p.len() > 200);
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.trim_start().starts_with("<svg") && text.trim_end().ends_with("</svg>"));
        assert_eq!(
            text.matches("<text").count(),
            text.matches("</text>").count()
        );
        assert_eq!(text.matches("hidden unit").count(), panels, "{name}");
        if name == "dimer" {
            // 16 face-noise circles per 8×8 panel.
            assert_eq!(text.matches("<circle").count(), 2 * 16 * 2, "{name}"); // fill + outline
        }
    }
    // The library entry point, an unknown extension, and an existing file.
    rsmi_cli::plot::plot_rule(&chain, &d.join("lib.svg"), false).unwrap();
    let before = d.files();
    let o = rsmi(&[
        "plot",
        "weights",
        s(&d.join("chain.json")),
        "--out",
        s(&d.join("x.pdf")),
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains(".png or .svg"),
        "{}",
        stderr(&o)
    );
    let o = rsmi(&[
        "plot",
        "weights",
        s(&d.join("chain.json")),
        "--out",
        s(&d.join("ising.png")),
    ]);
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    let o = rsmi(&[
        "plot",
        "weights",
        s(&d.join("nope.json")),
        "--out",
        s(&d.join("y.png")),
    ]);
    assert!(!o.status.success() && stderr(&o).contains("nope.json"));
    assert_eq!(d.files(), before);
    ok(&rsmi(&[
        "plot",
        "weights",
        s(&d.join("chain.json")),
        "--out",
        s(&d.join("ising.png")),
        "--force",
    ]));
    assert_eq!(d.files(), before);
}
