//! The objects behind the C handles, in safe Rust over slices. The `ffi` module only
//! checks and converts pointers and calls these.
//!
//! Each handle owns its buffers (lattice words, scratch, random stream); the core itself
//! allocates nothing. Every check the core makes (sizes, temperatures, buffer lengths)
//! comes back as the core's own error sentence.

use crate::status::{FfiError, FfiResult, try_vec};
use rsmi_core::Error;
use rsmi_core::dimer::decorated::{links_len, read_links, write_links};
use rsmi_core::dimer::observables::winding;
use rsmi_core::dimer::{Exits, Torus, Worm};
use rsmi_core::ising::wolff::{self, Wolff};
use rsmi_core::ising::{
    self, AcceptTable, Algorithm, Counts, Dim, Layout, Replica, Strip, packed_row_bytes,
};
use rsmi_core::rg::coarsen::{Draw, coarsen_1d, coarsen_2d, rule_tables};
use rsmi_core::rg::packed::{
    from_packbits_1d, from_packbits_2d, to_packbits_1d, to_packbits_2d, words_per_row,
};
use rsmi_core::rng::{Rng, X4, Xoshiro256PlusPlus, stream, stream_x4};
use rsmi_core::word::Word;
use wide::u64x4;

/// `expected == got`, else the core's buffer-length error for `what`.
pub(crate) fn check_len(what: &'static str, expected: usize, got: usize) -> FfiResult {
    if expected == got {
        Ok(())
    } else {
        Err(Error::BufferLength {
            what,
            expected,
            got,
        }
        .into())
    }
}

/// The dimension for a C code: 1 (ring) or 2 (square torus).
pub(crate) fn dim_from(code: u32) -> FfiResult<Dim> {
    match code {
        1 => Ok(Dim::One),
        2 => Ok(Dim::Two),
        _ => Err(FfiError::invalid(format!(
            "dimension must be 1 (ring) or 2 (square torus), got {code}"
        ))),
    }
}

/// The local update rule for a C code (`RSMI_METROPOLIS` …).
pub(crate) fn algorithm_from(code: u32) -> FfiResult<Algorithm> {
    match code {
        0 => Ok(Algorithm::Metropolis),
        1 => Ok(Algorithm::MetropolisHalf),
        2 => Ok(Algorithm::HeatBath),
        _ => Err(FfiError::invalid(format!(
            "algorithm must be RSMI_METROPOLIS (0), RSMI_METROPOLIS_HALF (1) or RSMI_HEAT_BATH (2), got {code}"
        ))),
    }
}

/// Packed-bits bytes of one configuration: rows × ⌈L/8⌉.
fn packed_len(dim: Dim, l: usize) -> usize {
    let rows = if dim == Dim::Two { l } else { 1 };
    rows * packed_row_bytes(l)
}

// ---------------------------------------------------------------------------------------
// Random streams

/// A random stream `stream(seed, job, lane)` of the core (xoshiro256++).
#[derive(Debug, Clone)]
pub struct RsmiStream {
    pub(crate) rng: Xoshiro256PlusPlus,
}

impl RsmiStream {
    /// The stream (`seed`, `job`, `lane`).
    pub fn new(seed: u64, job: u64, lane: u64) -> Self {
        RsmiStream {
            rng: stream(seed, job, lane),
        }
    }
    /// Fill `out` with the next words.
    pub fn fill(&mut self, out: &mut [u64]) {
        for x in out {
            *x = self.rng.next_u64();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Multi-spin Ising samplers

/// One multi-spin sampler over layout `L` with `u64x4` words.
#[derive(Debug)]
pub struct IsingState<L: Layout> {
    layout: L,
    table: Box<AcceptTable<u64x4>>,
    lattice: Vec<u64x4>,
    flip: u64x4,
    rng: X4,
    algorithm: Algorithm,
    field: f64,
}

impl<L: Layout> IsingState<L> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        layout: L,
        algorithm: Algorithm,
        temperature: f64,
        field: f64,
        seed: u64,
        job: u64,
        lane: u64,
    ) -> FfiResult<Self> {
        let g = layout.geometry();
        let table = Box::new(AcceptTable::<u64x4>::uniform(
            g.z(),
            algorithm,
            temperature,
            field,
        )?);
        let mut rng = stream_x4(seed, job, lane);
        let mut lattice = try_vec(layout.words(), u64x4::ZERO, "the lattice")?;
        // Random start, one word of the stream per lattice word (as `rsmi sample`'s hot start).
        for w in lattice.iter_mut() {
            *w = rng.next_all();
        }
        Ok(IsingState {
            layout,
            table,
            lattice,
            flip: u64x4::ZERO,
            rng,
            algorithm,
            field,
        })
    }

    fn chains(&self) -> usize {
        self.layout.chains::<u64x4>()
    }

    /// The bits of the word that belong to chain `chain`.
    fn chain_mask(&self, chain: usize) -> u64x4 {
        <u64x4 as Word>::from_fn(|lane| {
            (0..64).fold(0u64, |m, b| {
                let owner = self.layout.site_at::<u64x4>(0, 64 * lane + b).0;
                m | (u64::from(owner == chain) << b)
            })
        })
    }

    fn set_temperatures(&mut self, temperatures: &[f64]) -> FfiResult {
        let z = self.layout.geometry().z();
        let table = if temperatures.len() == 1 {
            AcceptTable::uniform(z, self.algorithm, temperatures[0], self.field)?
        } else {
            check_len("temperatures", self.chains(), temperatures.len())?;
            let per_bit: Vec<f64> = (0..<u64x4 as Word>::BITS)
                .map(|b| temperatures[self.layout.site_at::<u64x4>(0, b).0])
                .collect();
            AcceptTable::per_bit(z, self.algorithm, &per_bit, self.field)?
        };
        *self.table = table;
        Ok(())
    }

    fn sweep(&mut self, n: u64) -> FfiResult {
        for _ in 0..n {
            self.layout
                .sweep(&mut self.lattice, &self.table, &mut self.rng)?;
        }
        Ok(())
    }

    fn global_flip(&mut self) -> FfiResult {
        Ok(self
            .layout
            .global_flip(&mut self.flip, &self.table, &mut self.rng)?)
    }

    fn measure(&self, energy: &mut [i64], magnetization: &mut [i64]) -> FfiResult {
        let n = self.chains();
        check_len("bond_energy", n, energy.len())?;
        check_len("magnetization", n, magnetization.len())?;
        let mut counts = vec![Counts::default(); n];
        self.layout.measure(&self.lattice, self.flip, &mut counts)?;
        let g = self.layout.geometry();
        for ((c, e), m) in counts.iter().zip(energy).zip(magnetization) {
            *e = c.bond_energy(&g);
            *m = c.magnetization(&g);
        }
        Ok(())
    }

    fn export(&self, chain: usize, out: &mut [u8]) -> FfiResult {
        Ok(ising::export_packed(
            &self.layout,
            &self.lattice,
            self.flip,
            chain,
            out,
        )?)
    }

    fn import(&mut self, chain: usize, packed: &[u8]) -> FfiResult {
        if chain >= self.chains() {
            return Err(Error::InvalidParameter("chain index out of range").into());
        }
        // Fold the chain's pending global flip into its stored spins (the physical
        // configuration is unchanged), as the core's import expects it cleared.
        let f = self.flip & self.chain_mask(chain);
        if !f.is_zero() {
            for w in self.lattice.iter_mut() {
                *w ^= f;
            }
            self.flip ^= f;
        }
        Ok(ising::import_packed(
            &self.layout,
            &mut self.lattice,
            chain,
            packed,
        )?)
    }

    fn fill(&mut self, up: bool) {
        let w = if up { u64x4::ONES } else { u64x4::ZERO };
        self.lattice.fill(w);
        self.flip = u64x4::ZERO;
    }
}

#[derive(Debug)]
enum Ising {
    Replica(IsingState<Replica>),
    Strip(IsingState<Strip>),
}

/// A multi-spin Ising sampler (replica or strip layout; 256 or 4 chains).
#[derive(Debug)]
pub struct RsmiIsing {
    inner: Ising,
    dim: Dim,
    size: usize,
}

macro_rules! each {
    ($inner:expr, $s:ident => $body:expr) => {
        match $inner {
            Ising::Replica($s) => $body,
            Ising::Strip($s) => $body,
        }
    };
}

impl RsmiIsing {
    /// A sampler for `dim`, size `l`, layout code `layout` (0 replica, 1 strip).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        dim: Dim,
        l: usize,
        layout: u32,
        algorithm: Algorithm,
        temperature: f64,
        field: f64,
        seed: u64,
        job: u64,
        lane: u64,
    ) -> FfiResult<Self> {
        let inner = match layout {
            0 => Ising::Replica(IsingState::new(
                Replica::new(dim, l)?,
                algorithm,
                temperature,
                field,
                seed,
                job,
                lane,
            )?),
            1 => Ising::Strip(IsingState::new(
                Strip::new(dim, l)?,
                algorithm,
                temperature,
                field,
                seed,
                job,
                lane,
            )?),
            _ => {
                return Err(FfiError::invalid(format!(
                    "layout must be RSMI_LAYOUT_REPLICA (0) or RSMI_LAYOUT_STRIP (1), got {layout}"
                )));
            }
        };
        Ok(RsmiIsing {
            inner,
            dim,
            size: l,
        })
    }
    /// Independent configurations: 256 (replica) or 4 (strip).
    pub fn chains(&self) -> usize {
        each!(&self.inner, s => s.chains())
    }
    /// Sites per configuration.
    pub fn sites(&self) -> usize {
        if self.dim == Dim::Two {
            self.size * self.size
        } else {
            self.size
        }
    }
    /// Bytes of one configuration in NumPy packed bits.
    pub fn packed_len(&self) -> usize {
        packed_len(self.dim, self.size)
    }
    /// One temperature for all chains, or one per chain.
    pub fn set_temperatures(&mut self, t: &[f64]) -> FfiResult {
        each!(&mut self.inner, s => s.set_temperatures(t))
    }
    /// `n` sweeps.
    pub fn sweep(&mut self, n: u64) -> FfiResult {
        each!(&mut self.inner, s => s.sweep(n))
    }
    /// Flip each chain with probability ½ (h = 0 only).
    pub fn global_flip(&mut self) -> FfiResult {
        each!(&mut self.inner, s => s.global_flip())
    }
    /// Bond energy and magnetisation of every chain.
    pub fn measure(&self, e: &mut [i64], m: &mut [i64]) -> FfiResult {
        each!(&self.inner, s => s.measure(e, m))
    }
    /// Chain `chain` as packed bits.
    pub fn export(&self, chain: usize, out: &mut [u8]) -> FfiResult {
        each!(&self.inner, s => s.export(chain, out))
    }
    /// Every chain as packed bits, chain after chain.
    pub fn export_all(&self, out: &mut [u8]) -> FfiResult {
        let n = self.packed_len();
        check_len("out", self.chains() * n, out.len())?;
        for (c, chunk) in out.chunks_exact_mut(n).enumerate() {
            self.export(c, chunk)?;
        }
        Ok(())
    }
    /// Load chain `chain` from packed bits.
    pub fn import(&mut self, chain: usize, packed: &[u8]) -> FfiResult {
        each!(&mut self.inner, s => s.import(chain, packed))
    }
    /// Every spin up (or down), no pending flips.
    pub fn fill(&mut self, up: bool) {
        each!(&mut self.inner, s => s.fill(up))
    }
}

// ---------------------------------------------------------------------------------------
// Wolff

/// A Wolff cluster sampler for one lattice.
#[derive(Debug)]
pub struct RsmiWolff {
    wolff: Wolff,
    spins: Vec<u64>,
    stack: Vec<u32>,
    visited: Vec<u64>,
    rng: Xoshiro256PlusPlus,
}

impl RsmiWolff {
    /// A sampler with a random start drawn from `stream(seed, job, lane)`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        dim: Dim,
        l: usize,
        temperature: f64,
        field: f64,
        seed: u64,
        job: u64,
        lane: u64,
    ) -> FfiResult<Self> {
        let wolff = Wolff::new(dim, l, temperature, field)?;
        let mut rng = stream(seed, job, lane);
        let mut spins = try_vec(wolff.words(), 0u64, "the lattice")?;
        for w in spins.iter_mut() {
            *w = rng.next_u64();
        }
        let n = wolff.geometry().sites();
        if n % 64 != 0 {
            if let Some(last) = spins.last_mut() {
                *last &= (1u64 << (n % 64)) - 1;
            }
        }
        Ok(RsmiWolff {
            stack: try_vec(wolff.stack_len(), 0u32, "the cluster stack")?,
            visited: try_vec(wolff.words(), 0u64, "the visited set")?,
            wolff,
            spins,
            rng,
        })
    }
    /// Sites of the lattice.
    pub fn sites(&self) -> usize {
        self.wolff.geometry().sites()
    }
    /// Bytes of the configuration in packed bits.
    pub fn packed_len(&self) -> usize {
        let g = self.wolff.geometry();
        packed_len(g.dim(), g.size())
    }
    /// `count` cluster updates; the sum of their sizes.
    pub fn update(&mut self, count: u64) -> FfiResult<u64> {
        let count = usize::try_from(count)
            .map_err(|_| FfiError::invalid("cluster count does not fit in size_t"))?;
        let sites = self.wolff.steps(
            &mut self.spins,
            &mut self.stack,
            &mut self.visited,
            &mut self.rng,
            count,
        )?;
        Ok(sites as u64)
    }
    /// Clusters until they cover N sites; the number of clusters.
    pub fn sweep(&mut self) -> FfiResult<u64> {
        let c = self.wolff.sweep(
            &mut self.spins,
            &mut self.stack,
            &mut self.visited,
            &mut self.rng,
        )?;
        Ok(c as u64)
    }
    /// (bond energy, magnetisation).
    pub fn measure(&self) -> FfiResult<(i64, i64)> {
        let c = self.wolff.measure(&self.spins)?;
        let g = self.wolff.geometry();
        Ok((c.bond_energy(&g), c.magnetization(&g)))
    }
    /// The configuration as packed bits.
    pub fn export(&self, out: &mut [u8]) -> FfiResult {
        Ok(wolff::export_packed(&self.wolff, &self.spins, out)?)
    }
    /// Load the configuration from packed bits (non-zero padding bits are an error).
    pub fn import(&mut self, packed: &[u8]) -> FfiResult {
        let g = self.wolff.geometry();
        let l = g.size();
        let rb = packed_row_bytes(l);
        check_len("packed input", self.packed_len(), packed.len())?;
        let bit = |row: usize, col: usize| packed[row * rb + col / 8] >> (7 - col % 8) & 1 == 1;
        let rows = g.sites() / l;
        if (0..rows).any(|r| (l..8 * rb).any(|c| bit(r, c))) {
            return Err(Error::InvalidParameter("non-zero padding bits in packed row").into());
        }
        self.spins.fill(0);
        for i in 0..g.sites() {
            if bit(i / l, i % l) {
                self.spins[i / 64] |= 1 << (i % 64);
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Dimers

/// A directed-loop (worm) sampler of close-packed dimers on an L×L torus.
#[derive(Debug)]
pub struct RsmiDimer {
    worm: Worm,
    h: Vec<u64>,
    v: Vec<u64>,
    dirs: Vec<u8>,
    rng: Xoshiro256PlusPlus,
    per_sweep: u64,
}

impl RsmiDimer {
    /// A worm sampler (exits code 0 heat bath, 1 minimal bounce) from the columnar start.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        l: usize,
        interaction: f64,
        temperature: f64,
        exits: u32,
        seed: u64,
        job: u64,
        lane: u64,
    ) -> FfiResult<Self> {
        let exits = match exits {
            0 => Exits::HeatBath,
            1 => Exits::MinimalBounce,
            _ => {
                return Err(FfiError::invalid(format!(
                    "exits must be RSMI_EXITS_HEAT_BATH (0) or RSMI_EXITS_MINIMAL_BOUNCE (1), got {exits}"
                )));
            }
        };
        let torus = Torus::new(l)?;
        let worm = Worm::new(torus, interaction, temperature, exits)?;
        let words = torus.plane_words();
        let mut h = try_vec(words, 0u64, "the link planes")?;
        let mut v = try_vec(words, 0u64, "the link planes")?;
        torus.columnar(&mut h, &mut v)?;
        Ok(RsmiDimer {
            dirs: try_vec(torus.sites(), 0u8, "the direction array")?,
            worm,
            h,
            v,
            rng: stream(seed, job, lane),
            per_sweep: 0,
        })
    }
    /// Bytes of the links export: 2L².
    pub fn links_len(&self) -> usize {
        links_len(self.worm.torus())
    }
    /// `worms` worms; their total number of steps.
    pub fn worms(&mut self, worms: u64) -> FfiResult<u64> {
        Ok(self.worm.run_many_dirs(
            &mut self.h,
            &mut self.v,
            &mut self.dirs,
            &mut self.rng,
            worms,
        )?)
    }
    /// Run `worms` worms and fix the worms per loop sweep from them; returns it.
    pub fn calibrate(&mut self, worms: u64) -> FfiResult<u64> {
        self.per_sweep = self
            .worm
            .calibrate(&mut self.h, &mut self.v, &mut self.rng, worms)?;
        Ok(self.per_sweep)
    }
    /// `sweeps` loop sweeps of the calibrated number of worms; total steps.
    pub fn sweep(&mut self, sweeps: u64) -> FfiResult<u64> {
        if self.per_sweep == 0 {
            return Err(FfiError::invalid(
                "loop sweeps need a calibrated number of worms per sweep: call rsmi_dimer_calibrate first",
            ));
        }
        let worms = sweeps
            .checked_mul(self.per_sweep)
            .ok_or_else(|| FfiError::invalid("number of worms overflows 64 bits"))?;
        self.worms(worms)
    }
    /// The links export (2L² bytes 0/1: h plane, then v plane, row-major).
    pub fn export_links(&self, out: &mut [u8]) -> FfiResult {
        Ok(write_links(self.worm.torus(), &self.h, &self.v, out)?)
    }
    /// Load the planes from a links array (validated: a close packing).
    pub fn import_links(&mut self, bytes: &[u8]) -> FfiResult {
        let torus = self.worm.torus();
        let mut h = vec![0u64; torus.plane_words()];
        let mut v = vec![0u64; torus.plane_words()];
        read_links(torus, bytes, &mut h, &mut v)?;
        self.h = h;
        self.v = v;
        Ok(())
    }
    /// Winding numbers (W_x, W_y).
    pub fn winding(&self) -> FfiResult<(i64, i64)> {
        Ok(winding(self.worm.torus(), &self.h, &self.v)?)
    }
}

// ---------------------------------------------------------------------------------------
// Coarse-graining

/// A one-hidden-unit coarse-graining rule with its tables over the 2^|V| block states.
#[derive(Debug, Clone)]
pub struct RsmiRule {
    dim: Dim,
    block: usize,
    act: Vec<f64>,
    prob: Vec<f64>,
}

impl RsmiRule {
    /// A rule for `block` (b×b in 2D, b in 1D) with `weights` (row-major in the block)
    /// and `bias`.
    pub fn new(dim: Dim, block: usize, weights: &[f64], bias: f64) -> FfiResult<Self> {
        let n = match dim {
            Dim::Two => block.checked_mul(block),
            Dim::One => Some(block),
        };
        let n = match n {
            Some(n) if (1..=16).contains(&n) => n,
            _ => {
                return Err(Error::InvalidParameter(
                    "block must be at least 1 and have at most 16 sites",
                )
                .into());
            }
        };
        check_len("weights", n, weights.len())?;
        let mut act = vec![0.0; 1 << n];
        let mut prob = vec![0.0; 1 << n];
        rule_tables(weights, bias, &mut act, &mut prob)?;
        Ok(RsmiRule {
            dim,
            block,
            act,
            prob,
        })
    }

    /// The coarse side for a fine side, with the core's checks.
    pub fn coarse_side(&self, side: usize) -> FfiResult<usize> {
        if side < 2 {
            return Err(Error::UnsupportedSize {
                size: side,
                requirement: "side (ring length) must be at least 2",
            }
            .into());
        }
        let c = side / self.block;
        if c * self.block != side {
            return Err(Error::InvalidParameter("block must divide the side").into());
        }
        if c < 2 {
            return Err(Error::InvalidParameter("coarse side must be at least 2").into());
        }
        Ok(c)
    }

    /// Packed-bits bytes of one coarse configuration for a fine side.
    pub fn coarse_len(&self, side: usize) -> FfiResult<usize> {
        Ok(packed_len(self.dim, self.coarse_side(side)?))
    }

    /// Coarse-grain `samples` configurations of side `side` (packed bits, one after the
    /// other) into `coarse`, drawing from `rng` (one word per block, samples in order).
    pub fn apply(
        &self,
        fine: &[u8],
        side: usize,
        samples: usize,
        draw: u32,
        rng: &mut RsmiStream,
        coarse: &mut [u8],
    ) -> FfiResult {
        let draw = match draw {
            0 => Draw::Sample,
            1 => Draw::Argmax,
            _ => {
                return Err(FfiError::invalid(format!(
                    "draw must be RSMI_DRAW_SAMPLE (0) or RSMI_DRAW_ARGMAX (1), got {draw}"
                )));
            }
        };
        let c = self.coarse_side(side)?;
        let (fb, cb) = (packed_len(self.dim, side), packed_len(self.dim, c));
        let too_big = || FfiError::invalid("number of samples times their size overflows size_t");
        check_len(
            "fine",
            samples.checked_mul(fb).ok_or_else(too_big)?,
            fine.len(),
        )?;
        check_len(
            "coarse",
            samples.checked_mul(cb).ok_or_else(too_big)?,
            coarse.len(),
        )?;
        let rows = |s: usize| if self.dim == Dim::Two { s } else { 1 };
        let mut fw = vec![0u64; rows(side) * words_per_row(side)];
        let mut cw = vec![0u64; rows(c) * words_per_row(c)];
        for (f, o) in fine.chunks_exact(fb).zip(coarse.chunks_exact_mut(cb)) {
            match self.dim {
                Dim::Two => {
                    from_packbits_2d(f, side, &mut fw)?;
                    coarsen_2d(
                        &fw,
                        side,
                        self.block,
                        &self.act,
                        &self.prob,
                        draw,
                        &mut rng.rng,
                        &mut cw,
                    )?;
                    to_packbits_2d(&cw, c, o)?;
                }
                Dim::One => {
                    from_packbits_1d(f, side, &mut fw)?;
                    coarsen_1d(
                        &fw,
                        side,
                        self.block,
                        &self.act,
                        &self.prob,
                        draw,
                        &mut rng.rng,
                        &mut cw,
                    )?;
                    to_packbits_1d(&cw, c, o)?;
                }
            }
        }
        Ok(())
    }
}
