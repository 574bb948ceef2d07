//! Directed-loop (worm) updates for close-packed dimers with E = v·N_∥
//! (Sandvik & Moessner 2006; Alet et al., PRE 74, 041124 (2006)).
//!
//! # The move, in the "pivot" formulation
//!
//! 1. Pick a uniformly random site t (the *tail*; [`uniform_below`](crate::rng::uniform_below)`(L²)`, one draw). Its
//!    dimer (t, q) becomes the *moving dimer*; t is now a monomer.
//! 2. The moving dimer (a, q) pivots about q: it is replaced by (q, x), x one of the four
//!    neighbours of q (directions +x, +y, −x, −y = 0, 1, 2, 3). Choosing x = a is a
//!    *bounce*. One random `u64` per choice; each choice is one *step*.
//! 3. If x is the tail, the loop closes: every site again touches one dimer.
//! 4. Otherwise x now touches two dimers. If x ≠ a, its old dimer (x, r) moves next,
//!    pivoting about r. After a bounce (x = a) the worm reverses: the *other* dimer at the
//!    doubly occupied site a (the one placed by the previous step) moves next, pivoting
//!    about its far end.
//!
//! # Exit probabilities
//!
//! The four configurations reachable at a pivot q are the same whatever the entry, so the
//! directed-loop equations apply. Their weights are W_x = exp(−β v n_x), where n_x ∈
//! {0, 1, 2} counts the two plaquettes beside the link (q, x) whose opposite (parallel)
//! link is occupied; the moving dimer is never such a link. With a_xy = W_x P(y | x) the
//! equations are a_xy = a_yx ≥ 0 and Σ_y a_xy = W_x.
//!
//! * [`Exits::HeatBath`]: P(y | x) = W_y / Σ W (bounces allowed; 1/4 each at v = 0).
//! * [`Exits::MinimalBounce`]: a symmetric solution of least total bounce Σ_x a_xx, in
//!   closed form ([`exit_matrix`]). Sort W₁ ≥ W₂ ≥ W₃ ≥ W₄, S = Σ W:
//!   - W₁ > W₂ + W₃ + W₄: only the largest bounces, a₁₁ = W₁ − W₂ − W₃ − W₄, a₁ⱼ = Wⱼ,
//!     all other entries 0 (the least possible bounce: row 1 can send at most
//!     W₂ + W₃ + W₄ elsewhere);
//!   - else if W₃ + W₄ ≥ S/3: a_xy = (W_x + W_y)/2 − S/6 for x ≠ y, no bounce (1/3 to
//!     each non-bounce exit at v = 0);
//!   - else: no bounce, a₃₄ = 0, a₁₂ = (W₁ + W₂ − W₃ − W₄)/2, and for j ∈ {3, 4}
//!     a₁ⱼ = Wⱼ (W₁ − W₂ + W₃ + W₄) / (2(W₃ + W₄)), a₂ⱼ = Wⱼ (W₂ − W₁ + W₃ + W₄) / (2(W₃ + W₄)).
//!
//! The probabilities are built once (libm `exp`) and stored as 63-bit fixed-point
//! cumulative thresholds for each (n-pattern, entry): 81 patterns n₀ + 3n₁ + 9n₂ + 27n₃
//! × 4 entries. A step draws r = `next_u64() >> 1` and takes the exit
//! [r ≥ c₀] + [r ≥ c₁] + [r ≥ c₂]. Zero probabilities are exactly zero (empty intervals).
//!
//! # Pathological parameters
//!
//! β|v| is limited to [`MAX_BETA_V`] = 16: beyond it the smallest exit probabilities
//! (≈ e^{−2β|v|}) approach the 2⁻⁶³ resolution of the thresholds and detailed balance
//! would be lost to rounding. Within the limit, loops can still be very long deep in the
//! columnar phase (v < 0, low T). [`Worm::run_capped`] bounds a loop at `cap` steps: a
//! loop that has not closed by then is undone completely (from a caller-owned backup) and
//! counted as a rejected move. A loop and its reverse have the same length, so rejecting
//! every loop longer than `cap` keeps detailed balance.
//!
//! # Sweeps
//!
//! Measure after a *fixed* number of worms, never after "worms until Σ steps ≥ L²": that
//! stopping time depends on the loop lengths and biases the measured states. Get the
//! number once with [`Worm::calibrate`] (round(L² / mean steps per worm)) and keep it.
//!
//! # The direction view
//!
//! [`Worm::run_many_dirs`] runs the same worms on a caller-owned byte per site instead of
//! the planes: `dirs[y·L + x]` = the direction (0: +x, 1: +y, 2: −x, 3: −y) of the site's
//! dimer. The planes are converted (and validated) before the batch and written back
//! after it, O(L²) word-parallel work amortised over the batch. During a worm the array
//! keeps one invariant: every site points along an occupied link, and both ends of every
//! occupied link point at each other, except the pivot q, which points at the other end
//! a of the moving dimer (a itself points along its other dimer), and the tail, which
//! holds [`DIR_NONE`] until the loop closes. A step with exit k to x = (q + k) reads
//! x's pointer o (x's old partner, or after a bounce a's other dimer), writes q → k and
//! x → k ^ 2, and pivots next about x + o with entry o ^ 2: one byte load and two byte
//! stores. The plaquette occupancies of the n-pattern never involve the pivot, so "link
//! (s, s + d) occupied" is simply `dirs[s] == d`. The random numbers consumed and every
//! decision are those of [`Worm::run_many`], so the result is the same bit for bit.
//!
//! # The uniform fast path
//!
//! At v = 0 every pivot uses pattern 0, so the exit depends only on the entry e and the
//! draw r. The distinct thresholds of pattern 0 cut [0, 2⁶³) into at most four intervals
//! (three cuts: heat-bath exits cut at the quarters, so the interval is r >> 61; minimal
//! bounce has two cuts), and inside one interval every entry's exit is fixed. The worm
//! therefore draws r (hence the interval j) before it knows the entry, and the two moves
//! of a step, from x along its old pointer od to the pivot q = x + δ(od) and on to the
//! exit x' = q + δ(k(j, od ^ 2)), become one table offset from x. A site is packed into
//! one integer (index · 2²⁰ + column + 2), so the offset is one addition, and the rare
//! wrap across the border is a predicted branch to a cold function. The dependency chain
//! from one step to the next is then x → dirs\[x\] → table\[j\]\[od\] → x'. Same draws, same
//! decisions, same result bit for bit as the general loop (the tables are built from the
//! exit table itself); about 1.5–2× faster.
//!
//! # Validity
//!
//! The planes must be a valid covering ([`Torus::validate`]). The worm checks every site
//! it touches and returns [`Error::InvalidParameter`] when one does not hold exactly one
//! dimer (the planes are then left in an unspecified state); it never panics.

use super::lattice::{Torus, bit, valid_mask, window};
use crate::error::{Error, check_len};
use crate::rng::Xoshiro256PlusPlus;
use rand_core::Rng;

/// Largest β|v| accepted by [`Worm::new`] (see the module docs).
pub const MAX_BETA_V: f64 = 16.0;

/// Number of n-patterns: n_x ∈ {0, 1, 2} for each of the 4 exits.
pub const PATTERNS: usize = 81;

/// One in fixed point: thresholds are out of 2⁶³.
pub const ONE: u64 = 1 << 63;

/// The direction-view entry of the worm's tail while its loop is open (see the module
/// docs); never left in the array after a worm.
pub const DIR_NONE: u8 = 4;

const BAD_COVERING: Error =
    Error::InvalidParameter("dimer planes are not a close-packed covering (found by the worm)");

/// `SPREAD[b]` has byte k equal to bit k of `b`.
const SPREAD: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut k = 0;
        while k < 8 {
            t[b] |= ((b as u64 >> k) & 1) << (8 * k);
            k += 1;
        }
        b += 1;
    }
    t
};

/// The least significant bit of every byte.
const BYTE_LSB: u64 = 0x0101_0101_0101_0101;

/// Bit k of the result = bit 8k of `x`, for `x` with only byte-LSBs set.
#[inline(always)]
fn gather_lsbs(x: u64) -> u64 {
    x.wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// The direction of the occupied link of site `i`, from its 4-bit link mask, or an error
/// unless exactly one link is occupied.
fn dir_of_site(torus: Torus, h: &[u64], v: &[u64], i: usize) -> Result<u8, Error> {
    let l = torus.l();
    let (x, y) = (i % l, i / l);
    let m = bit(h, i) as u32
        | (bit(v, i) as u32) << 1
        | (bit(h, torus.index(x + l - 1, y)) as u32) << 2
        | (bit(v, torus.index(x, y + l - 1)) as u32) << 3;
    if m.count_ones() == 1 {
        Ok(m.trailing_zeros() as u8)
    } else {
        Err(BAD_COVERING)
    }
}

/// Fill the direction view `dirs` (L² bytes, lengths checked by the caller) from the
/// planes, 64 sites per word where possible; fails unless the planes are a valid covering
/// (padding bits included). `dirs` is unspecified after a failure.
fn dirs_from_planes(torus: Torus, h: &[u64], v: &[u64], dirs: &mut [u8]) -> Result<(), Error> {
    let l = torus.l();
    let n = torus.sites();
    let last = torus.plane_words() - 1;
    if (h[last] | v[last]) & !valid_mask(n, last) != 0 {
        return Err(BAD_COVERING);
    }
    let full = if n >= 64 { n / 64 } else { 0 };
    for (w, block) in dirs[..64 * full].chunks_exact_mut(64).enumerate() {
        let i = 64 * w;
        let (hh, vv) = (h[w], v[w]);
        // Link below (v of the site one row down) and link to the left (h of the site one
        // column left; a row's first site takes it from the row's last site).
        let vd = window(v, n, i + n - l);
        let mut hl = window(h, n, i + n - 1);
        let mut row_start = 0u64;
        let mut k = (l - i % l) % l;
        while k < 64 {
            row_start |= 1 << k;
            k += l;
        }
        if row_start != 0 {
            hl = (hl & !row_start) | (window(h, n, i + l - 1) & row_start);
        }
        let any = hh | vv | hl | vd;
        let two = (hh & vv) | (hl & vd) | ((hh | vv) & (hl | vd));
        if any != u64::MAX || two != 0 {
            return Err(BAD_COVERING);
        }
        let (b0, b1) = (vv | vd, hl | vd);
        for (c, out) in block.chunks_exact_mut(8).enumerate() {
            let d = SPREAD[(b0 >> (8 * c)) as usize & 0xff]
                | SPREAD[(b1 >> (8 * c)) as usize & 0xff] << 1;
            out.copy_from_slice(&d.to_le_bytes());
        }
    }
    for (i, d) in dirs.iter_mut().enumerate().skip(64 * full) {
        *d = dir_of_site(torus, h, v, i)?;
    }
    Ok(())
}

/// Write the planes from a complete direction view (every entry 0..4, as a worm leaves
/// it); bit i of `h` / `v` is set when `dirs[i]` is 0 / 1.
fn planes_from_dirs(torus: Torus, dirs: &[u8], h: &mut [u64], v: &mut [u64]) {
    let n = torus.sites();
    let full = n / 64;
    for (w, block) in dirs[..64 * full].chunks_exact(64).enumerate() {
        let (mut hw, mut vw) = (0u64, 0u64);
        for (c, chunk) in block.chunks_exact(8).enumerate() {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            let b = u64::from_le_bytes(bytes);
            let is0 = !(b | (b >> 1)) & BYTE_LSB;
            let is1 = b & !(b >> 1) & BYTE_LSB;
            hw |= gather_lsbs(is0) << (8 * c);
            vw |= gather_lsbs(is1) << (8 * c);
        }
        h[w] = hw;
        v[w] = vw;
    }
    if full < torus.plane_words() {
        let (mut hw, mut vw) = (0u64, 0u64);
        for (k, &d) in dirs[64 * full..n].iter().enumerate() {
            hw |= ((d == 0) as u64) << k;
            vw |= ((d == 1) as u64) << k;
        }
        h[full] = hw;
        v[full] = vw;
    }
}

/// How the exit of each pivot is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exits {
    /// P(y | x) = W_y / Σ W.
    HeatBath,
    /// The symmetric solution of least total bounce (closed form, see the module docs).
    MinimalBounce,
}

/// The n-values (n₀, n₁, n₂, n₃) of pattern `p` (p = n₀ + 3n₁ + 9n₂ + 27n₃).
pub fn pattern_ns(p: usize) -> [u32; 4] {
    [
        (p % 3) as u32,
        (p / 3 % 3) as u32,
        (p / 9 % 3) as u32,
        (p / 27 % 3) as u32,
    ]
}

/// The directed-loop matrix a_xy (row = entry x, column = exit y) for weights `w` (all
/// finite and > 0): symmetric, non-negative, row sums w_x. See the module docs.
pub fn exit_matrix(exits: Exits, w: [f64; 4]) -> [[f64; 4]; 4] {
    let s: f64 = w.iter().sum();
    let mut a = [[0.0f64; 4]; 4];
    match exits {
        Exits::HeatBath => {
            for x in 0..4 {
                for y in 0..4 {
                    a[x][y] = w[x] * w[y] / s;
                }
            }
        }
        Exits::MinimalBounce => {
            // Sort indices by decreasing weight (stable, so ties keep direction order).
            let mut o = [0usize, 1, 2, 3];
            for i in 1..4 {
                let mut j = i;
                while j > 0 && w[o[j - 1]] < w[o[j]] {
                    o.swap(j - 1, j);
                    j -= 1;
                }
            }
            let [w1, w2, w3, w4] = [w[o[0]], w[o[1]], w[o[2]], w[o[3]]];
            if w1 > w2 + w3 + w4 {
                a[o[0]][o[0]] = w1 - w2 - w3 - w4;
                for &j in &o[1..] {
                    a[o[0]][j] = w[j];
                    a[j][o[0]] = w[j];
                }
            } else if 3.0 * (w3 + w4) >= s {
                // 6 a_xy = 2 w_x + 2 w_y − w_u − w_z ({u, z} the other two), summed as
                // 2·min + (max − w_u) + (max − w_z) so that equal weights cancel exactly
                // (P(y | x) = a_xy / w_x stays accurate for a small w_x).
                for x in 0..4 {
                    for y in 0..4 {
                        if x != y {
                            let (lo, hi) = (w[x].min(w[y]), w[x].max(w[y]));
                            let mut rest = (0..4).filter(|&k| k != x && k != y);
                            let (u, z) = (rest.next().unwrap_or(0), rest.next().unwrap_or(0));
                            a[x][y] = ((2.0 * lo + (hi - w[u]) + (hi - w[z])) / 6.0).max(0.0);
                        }
                    }
                }
            } else {
                let a12 = (w1 + w2 - w3 - w4) / 2.0;
                a[o[0]][o[1]] = a12;
                a[o[1]][o[0]] = a12;
                let r1 = (w1 - w2 + w3 + w4) / (2.0 * (w3 + w4));
                let r2 = ((w2 - w1 + w3 + w4) / (2.0 * (w3 + w4))).max(0.0);
                for &j in &o[2..] {
                    a[o[0]][j] = w[j] * r1;
                    a[j][o[0]] = w[j] * r1;
                    a[o[1]][j] = w[j] * r2;
                    a[j][o[1]] = w[j] * r2;
                }
            }
        }
    }
    a
}

/// 63-bit fixed-point cumulative thresholds for the exit probabilities `p` (Σ p = 1):
/// exit k is taken for r ∈ [c_{k−1}, c_k) with c_{−1} = 0 and c₃ = 2⁶³ (stored). Exits
/// of probability exactly 0 get empty intervals.
pub fn thresholds(p: [f64; 4]) -> [u64; 4] {
    let last_nonzero = (0..4).rev().find(|&k| p[k] > 0.0).unwrap_or(3);
    let mut c = [0u64; 4];
    let mut cum = 0.0f64;
    let mut prev = 0u64;
    for k in 0..4 {
        cum += p[k];
        c[k] = if k >= last_nonzero {
            ONE
        } else if p[k] <= 0.0 {
            prev
        } else {
            // as u64 saturates; clamp keeps the thresholds monotone.
            (libm::round(cum * ONE as f64) as u64).clamp(prev, ONE)
        };
        prev = c[k];
    }
    c
}

/// Exit thresholds for all (pattern, entry) pairs of one (v, T, exits) choice.
#[derive(Debug, Clone, PartialEq)]
pub struct ExitTable {
    c: [[[u64; 4]; 4]; PATTERNS],
}

impl ExitTable {
    /// Build the table for weights W_x = exp(−`beta_v`·n_x).
    pub fn new(beta_v: f64, exits: Exits) -> ExitTable {
        let mut c = [[[0u64; 4]; 4]; PATTERNS];
        for (p, row) in c.iter_mut().enumerate() {
            let n = pattern_ns(p);
            let w = n.map(|n| libm::exp(-beta_v * n as f64));
            let a = exit_matrix(exits, w);
            for e in 0..4 {
                row[e] = thresholds(a[e].map(|a| a / w[e]));
            }
        }
        ExitTable { c }
    }

    /// The cumulative thresholds (out of [`ONE`]) for pattern `p` and entry direction `e`
    /// (the direction from the pivot to the moving dimer's other end). Indices are taken
    /// modulo 81 and 4.
    pub fn thresholds(&self, p: usize, e: usize) -> [u64; 4] {
        self.c[p % PATTERNS][e % 4]
    }

    /// The exit (0..4) that a draw `r < 2⁶³` selects for pattern `p` and entry `e`.
    #[inline(always)]
    pub(crate) fn exit(&self, p: usize, e: usize, r: u64) -> usize {
        let c = &self.c[p][e];
        (r >= c[0]) as usize + (r >= c[1]) as usize + (r >= c[2]) as usize
    }
}

/// The outcome of a step-capped worm ([`Worm::run_capped`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WormOutcome {
    /// The loop closed after `steps` steps (≤ cap); the move is applied.
    Closed {
        /// Pivot choices made.
        steps: u64,
    },
    /// The loop had not closed after `cap` steps; the configuration was restored.
    Rejected {
        /// Pivot choices made (= cap).
        steps: u64,
    },
}

/// A directed-loop updater for one (L, v, T, exits) choice. See the module docs.
///
/// ```
/// use rsmi_core::dimer::lattice::Torus;
/// use rsmi_core::dimer::worm::{Exits, Worm};
/// use rsmi_core::rng::stream;
///
/// # fn main() -> Result<(), rsmi_core::Error> {
/// let torus = Torus::new(8)?;
/// let worm = Worm::new(torus, -1.0, 0.65, Exits::HeatBath)?;
/// let (mut h, mut v) = ([0u64; 1], [0u64; 1]);
/// let mut rng = stream(7, 0, 0);
/// worm.randomise(&mut h, &mut v, &mut rng, 100)?; // columnar start + 100 worms
/// let per_sweep = worm.calibrate(&mut h, &mut v, &mut rng, 100)?;
/// worm.run_many(&mut h, &mut v, &mut rng, 10 * per_sweep)?; // 10 loop sweeps
/// torus.validate(&h, &v)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Worm {
    torus: Torus,
    v: f64,
    beta: f64,
    exits: Exits,
    interacting: bool,
    start_threshold: u64,
    recip_l: u64,
    table: ExitTable,
    uniform: UniformSteps,
}

/// The v = 0 fast path of [`Worm::run_many_dirs`] (see "The uniform fast path" in the
/// module docs): the exit table of pattern 0 re-indexed by the draw's interval j (known
/// before the worm reaches the pivot) and the old pointer od (entry e = od ^ 2), with
/// the two moves of a step (x's old dimer to the pivot q, then q to the exit) folded into
/// one offset of the packed site.
#[derive(Debug, Clone, PartialEq)]
struct UniformSteps {
    /// The distinct thresholds of pattern 0 that lie strictly inside (0, 2⁶³), sorted,
    /// padded with [`ONE`] (never reached); `None` (fast path unused) when there are more
    /// than three.
    cuts: Option<[u64; 3]>,
    /// Whether the cuts are 2⁶¹, 2⁶², 3·2⁶¹ (heat-bath exits): then j = r >> 61.
    quarters: bool,
    /// `to_next[j][od]`: packed offset from x to x' = x + δ(od) + δ(k), before wrapping
    /// (sites are packed by [`pack`]).
    to_next: [[i64; 4]; 4],
    /// `to_pivot[j][od]`: packed offset from x' back to the pivot q = x' − δ(k).
    to_pivot: [[i64; 4]; 4],
    /// `exit[j][od]`: the exit k.
    exit: [[u8; 4]; 4],
}

/// Bits of the column field of a packed site.
const COL_BITS: u32 = 20;
/// Bias added to the column so that moves of up to two columns never borrow.
const COL_BIAS: i64 = 2;

/// A site as one integer: index · 2²⁰ + column + 2. A column offset of −2..=2 and an
/// index offset add in one instruction (no borrow between the fields for L < 2²⁰ − 4).
#[inline(always)]
fn pack(col: i64, index: i64) -> i64 {
    (index << COL_BITS) + col + COL_BIAS
}

/// The (column, index) of a packed site.
#[inline(always)]
fn unpack(s: i64) -> (i64, i64) {
    ((s & ((1 << COL_BITS) - 1)) - COL_BIAS, s >> COL_BITS)
}

/// Whether a packed site lies off the torus (column or index out of range).
#[inline(always)]
fn off_torus(s: i64, l: i64, n: i64) -> bool {
    let (c, i) = unpack(s);
    c as u64 >= l as u64 || i as u64 >= n as u64
}

/// A packed site moved at most 2 columns and 2 rows off the torus, wrapped back; the
/// uniform fast path's rare branch.
#[cold]
#[inline(never)]
fn wrap_packed(s: i64, l: i64, n: i64) -> i64 {
    let (mut c, mut i) = unpack(s);
    if c < 0 {
        c += l;
        i += l;
    } else if c >= l {
        c -= l;
        i -= l;
    }
    if i < 0 {
        i += n;
    } else if i >= n {
        i -= n;
    }
    pack(c, i)
}

impl UniformSteps {
    fn new(table: &ExitTable, l: usize) -> UniformSteps {
        let mut all: [u64; 12] = [ONE; 12];
        let mut m = 0;
        for e in 0..4 {
            for &c in &table.c[0][e][..3] {
                if c > 0 && c < ONE && !all[..m].contains(&c) {
                    all[m] = c;
                    m += 1;
                }
            }
        }
        all[..m].sort_unstable();
        // Packed sites need L < 2²⁰ − 4 (far beyond any L² that fits in memory).
        let cuts = (m <= 3 && l < (1 << COL_BITS) - 4).then(|| [all[0], all[1], all[2]]);
        let (dxs, dys) = ([1i64, 0, -1, 0], [0i64, 1, 0, -1]);
        let delta = |d: usize| dxs[d] + ((dxs[d] + dys[d] * l as i64) << COL_BITS);
        let mut to_next = [[0i64; 4]; 4];
        let mut to_pivot = [[0i64; 4]; 4];
        let mut exit = [[0u8; 4]; 4];
        for j in 0..4 {
            // The lowest draw of interval j (intervals past the last cut are never drawn).
            let r = if j == 0 { 0 } else { all[j - 1].min(ONE - 1) };
            for od in 0..4 {
                let k = table.exit(0, od ^ 2, r);
                to_next[j][od] = delta(od) + delta(k);
                to_pivot[j][od] = -delta(k);
                exit[j][od] = k as u8;
            }
        }
        UniformSteps {
            cuts,
            to_next,
            to_pivot,
            exit,
            quarters: all[..3] == [ONE / 4, ONE / 2, 3 * (ONE / 4)],
        }
    }
}

impl Worm {
    /// A worm for E = `v`·N_∥ at `temperature`. At `v` = 0 the temperature is ignored
    /// (uniform measure); otherwise it must be finite and > 0, and β|v| ≤ [`MAX_BETA_V`].
    pub fn new(torus: Torus, v: f64, temperature: f64, exits: Exits) -> Result<Worm, Error> {
        if !v.is_finite() {
            return Err(Error::InvalidParameter(
                "dimer interaction v must be finite",
            ));
        }
        let beta = if v == 0.0 {
            0.0
        } else {
            if !(temperature.is_finite() && temperature > 0.0) {
                return Err(Error::InvalidTemperature);
            }
            1.0 / temperature
        };
        let beta_v = beta * v;
        if beta_v.is_nan() || beta_v.abs() > MAX_BETA_V {
            return Err(Error::InvalidParameter(
                "|v|/T exceeds 16: exit probabilities below the 2^-63 resolution (raise T)",
            ));
        }
        let table = ExitTable::new(beta_v, exits);
        Ok(Worm {
            torus,
            v,
            beta,
            exits,
            interacting: v != 0.0,
            start_threshold: (torus.sites() as u64).wrapping_neg() % torus.sites() as u64,
            recip_l: u64::MAX / torus.l() as u64 + 1,
            uniform: UniformSteps::new(&table, torus.l()),
            table,
        })
    }

    /// The lattice.
    pub fn torus(&self) -> Torus {
        self.torus
    }
    /// The interaction v.
    pub fn interaction(&self) -> f64 {
        self.v
    }
    /// β = 1/T (0 when v = 0).
    pub fn beta(&self) -> f64 {
        self.beta
    }
    /// The exit rule.
    pub fn exits(&self) -> Exits {
        self.exits
    }
    /// Whether exits depend on the neighbourhood (v ≠ 0). At v = 0 every pivot uses
    /// pattern 0.
    pub fn interacting(&self) -> bool {
        self.interacting
    }
    /// The exit thresholds.
    pub fn table(&self) -> &ExitTable {
        &self.table
    }

    /// One worm (until the loop closes). Returns its number of steps.
    pub fn run(
        &self,
        h: &mut [u64],
        v: &mut [u64],
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<u64, Error> {
        self.torus.check_planes(h, v)?;
        self.dispatch(h, v, rng, u64::MAX).map(|(s, _)| s)
    }

    /// `worms` worms; returns the total number of steps.
    pub fn run_many(
        &self,
        h: &mut [u64],
        v: &mut [u64],
        rng: &mut Xoshiro256PlusPlus,
        worms: u64,
    ) -> Result<u64, Error> {
        self.torus.check_planes(h, v)?;
        let mut steps = 0u64;
        for _ in 0..worms {
            steps = steps.saturating_add(self.dispatch(h, v, rng, u64::MAX)?.0);
        }
        Ok(steps)
    }

    /// `worms` worms, as [`Worm::run_many`] (same random numbers, same result bit for bit),
    /// run on the direction view (see the module docs). `dirs` (L² bytes, any content) is
    /// the caller's scratch: the planes are converted into it (and validated) first and
    /// written back from it at the end. Returns the total number of steps. Invalid planes
    /// give [`Error::InvalidParameter`] and are left unchanged.
    pub fn run_many_dirs(
        &self,
        h: &mut [u64],
        v: &mut [u64],
        dirs: &mut [u8],
        rng: &mut Xoshiro256PlusPlus,
        worms: u64,
    ) -> Result<u64, Error> {
        self.torus.check_planes(h, v)?;
        check_len("dirs", self.torus.sites(), dirs.len())?;
        dirs_from_planes(self.torus, h, v, dirs)?;
        // The loop is chosen once per batch; each worm loop is inlined into its own batch.
        #[inline(always)]
        fn repeat(worms: u64, mut one: impl FnMut() -> u64) -> u64 {
            (0..worms).fold(0u64, |s, _| s.saturating_add(one()))
        }
        let steps = match (self.interacting, self.uniform.cuts, self.uniform.quarters) {
            (true, _, _) => repeat(worms, || self.worm_dirs::<true>(dirs, rng)),
            (false, Some(c), true) => {
                repeat(worms, || self.worm_dirs_uniform::<true>(c, dirs, rng))
            }
            (false, Some(c), false) => {
                repeat(worms, || self.worm_dirs_uniform::<false>(c, dirs, rng))
            }
            (false, None, _) => repeat(worms, || self.worm_dirs::<false>(dirs, rng)),
        };
        planes_from_dirs(self.torus, dirs, h, v);
        Ok(steps)
    }

    /// One worm of at most `cap` ≥ 1 steps. `backup` (2 × [`Torus::plane_words`] words,
    /// any content) receives a copy of the planes first; if the loop has not closed after
    /// `cap` steps, the planes are restored from it and the move is rejected.
    pub fn run_capped(
        &self,
        h: &mut [u64],
        v: &mut [u64],
        backup: &mut [u64],
        cap: u64,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<WormOutcome, Error> {
        self.torus.check_planes(h, v)?;
        let pw = self.torus.plane_words();
        check_len("backup", 2 * pw, backup.len())?;
        if cap == 0 {
            return Err(Error::InvalidParameter("worm step cap must be at least 1"));
        }
        backup[..pw].copy_from_slice(h);
        backup[pw..].copy_from_slice(v);
        let (steps, closed) = self.dispatch(h, v, rng, cap)?;
        if closed {
            Ok(WormOutcome::Closed { steps })
        } else {
            h.copy_from_slice(&backup[..pw]);
            v.copy_from_slice(&backup[pw..]);
            Ok(WormOutcome::Rejected { steps })
        }
    }

    /// Run `worms` ≥ 1 worms and return the number of worms per loop sweep,
    /// max(1, round(L² · worms / total steps)). Use the result unchanged for the whole
    /// run (see the module docs); the worms themselves are valid updates (warm-up).
    pub fn calibrate(
        &self,
        h: &mut [u64],
        v: &mut [u64],
        rng: &mut Xoshiro256PlusPlus,
        worms: u64,
    ) -> Result<u64, Error> {
        if worms == 0 {
            return Err(Error::InvalidParameter(
                "calibration needs at least one worm",
            ));
        }
        let steps = self.run_many(h, v, rng, worms)?;
        let per_sweep = libm::round(self.torus.sites() as f64 * worms as f64 / steps.max(1) as f64);
        Ok((per_sweep as u64).max(1))
    }

    /// Write the columnar start ([`Torus::columnar`]) and run `worms` worms from it.
    /// Returns their total number of steps.
    pub fn randomise(
        &self,
        h: &mut [u64],
        v: &mut [u64],
        rng: &mut Xoshiro256PlusPlus,
        worms: u64,
    ) -> Result<u64, Error> {
        self.torus.columnar(h, v)?;
        self.run_many(h, v, rng, worms)
    }

    /// The tail of a new worm: `uniform_below(rng, L²)` with its rejection threshold
    /// precomputed (the same draws), as (site, column, row); the row by a 64-bit
    /// reciprocal (exact for sites < 2³⁰, L ≥ 2).
    #[inline(always)]
    fn draw_tail(&self, rng: &mut Xoshiro256PlusPlus) -> (usize, usize, usize) {
        let n = self.torus.sites() as u64;
        let t = loop {
            let m = (rng.next_u64() as u128) * (n as u128);
            if (m as u64) >= self.start_threshold {
                break (m >> 64) as usize;
            }
        };
        let ty = ((t as u128 * self.recip_l as u128) >> 64) as usize;
        (t, t - ty * self.torus.l(), ty)
    }

    #[inline]
    fn dispatch(
        &self,
        h: &mut [u64],
        v: &mut [u64],
        rng: &mut Xoshiro256PlusPlus,
        cap: u64,
    ) -> Result<(u64, bool), Error> {
        if self.interacting {
            self.worm::<true>(h, v, rng, cap)
        } else {
            self.worm::<false>(h, v, rng, cap)
        }
    }

    /// The worm loop. Returns (steps, closed). Lengths are checked by the callers.
    ///
    /// Branch-free bookkeeping: a bounce (exit k = entry e) toggles the same link twice
    /// (no change), and the site x = a then still holds two dimers, the one to q
    /// (direction k ^ 2) and the one placed before; removing the former from x's mask
    /// leaves the latter, exactly the dimer that must move next. So bounce and
    /// non-bounce share one update, and directions are applied through small offset
    /// tables instead of branches.
    #[inline(always)]
    fn worm<const INTERACTING: bool>(
        &self,
        h: &mut [u64],
        v: &mut [u64],
        rng: &mut Xoshiro256PlusPlus,
        cap: u64,
    ) -> Result<(u64, bool), Error> {
        const BAD: Error = Error::InvalidParameter(
            "dimer planes are not a close-packed covering (found by the worm)",
        );
        let l = self.torus.l() as u32;
        let lu = l as usize;
        // (x + off) mod L for off < L.
        let wrap = |x: u32, off: u32| {
            let s = x + off;
            if s >= l { s - l } else { s }
        };
        let idx = |x: u32, y: u32| y as usize * lu + x as usize;
        // Neighbour offsets for directions 0: +x, 1: +y, 2: −x, 3: −y.
        let ndx = [1, 0, l - 1, 0];
        let ndy = [0, 1, 0, l - 1];
        // The link of (x, y) in direction d sits at (x, y) shifted by these offsets, in
        // plane h (d even) or v (d odd).
        let ldx = [0, 0, l - 1, 0];
        let ldy = [0, 0, 0, l - 1];
        let flip = |h: &mut [u64], v: &mut [u64], x: u32, y: u32, d: usize| {
            let i = idx(wrap(x, ldx[d]), wrap(y, ldy[d]));
            let m = 1u64 << (i & 63);
            let odd = (d & 1) as u64;
            h[i >> 6] ^= m & odd.wrapping_sub(1);
            v[i >> 6] ^= m & odd.wrapping_neg();
        };
        // Occupied links of (x, y) as a 4-bit mask, bit d = link in direction d.
        let mask = |h: &[u64], v: &[u64], x: u32, y: u32| -> u32 {
            let i = idx(x, y);
            bit(h, i) as u32
                | (bit(v, i) as u32) << 1
                | (bit(h, idx(wrap(x, l - 1), y)) as u32) << 2
                | (bit(v, idx(x, wrap(y, l - 1))) as u32) << 3
        };

        let (_, tx, ty) = self.draw_tail(rng);
        let (tx, ty) = (tx as u32, ty as u32);
        let m0 = mask(h, v, tx, ty);
        if m0.count_ones() != 1 {
            return Err(BAD);
        }
        let d0 = m0.trailing_zeros() as usize;
        // Pivot q, entry direction e (from q to the other end of the moving dimer).
        let (mut qx, mut qy) = (wrap(tx, ndx[d0]), wrap(ty, ndy[d0]));
        let mut e = d0 ^ 2;
        let mut steps = 0u64;
        loop {
            if steps == cap {
                return Ok((steps, false));
            }
            let p = if INTERACTING {
                let (xl, xr, yd, yu) = (wrap(qx, l - 1), wrap(qx, 1), wrap(qy, l - 1), wrap(qy, 1));
                let n0 = bit(h, idx(qx, yu)) as usize + bit(h, idx(qx, yd)) as usize;
                let n1 = bit(v, idx(xr, qy)) as usize + bit(v, idx(xl, qy)) as usize;
                let n2 = bit(h, idx(xl, yu)) as usize + bit(h, idx(xl, yd)) as usize;
                let n3 = bit(v, idx(xr, yd)) as usize + bit(v, idx(xl, yd)) as usize;
                n0 + 3 * n1 + 9 * n2 + 27 * n3
            } else {
                0
            };
            let k = self.table.exit(p, e, rng.next_u64() >> 1);
            steps += 1;
            let (x, y) = (wrap(qx, ndx[k]), wrap(qy, ndy[k]));
            // The dimer of x other than (q, x) (direction k ^ 2 from x) moves next; after
            // a bounce (x = a) that is the dimer placed before. Read before the flips:
            // they only touch links of q, and the link (q, x) is masked out.
            let old = mask(h, v, x, y) & !(1 << (k ^ 2));
            flip(h, v, qx, qy, e);
            flip(h, v, qx, qy, k);
            if x == tx && y == ty {
                return Ok((steps, true));
            }
            if old.count_ones() != 1 {
                return Err(BAD);
            }
            let od = old.trailing_zeros() as usize & 3;
            (qx, qy) = (wrap(x, ndx[od]), wrap(y, ndy[od]));
            e = od ^ 2;
        }
    }

    /// The worm loop on the direction view (a valid covering, as `dirs_from_planes`
    /// leaves it); returns the steps. The same draws and decisions as `Worm::worm`.
    #[inline(always)]
    fn worm_dirs<const INTERACTING: bool>(
        &self,
        dirs: &mut [u8],
        rng: &mut Xoshiro256PlusPlus,
    ) -> u64 {
        // n-pattern contributions (one byte per direction value 0..=4) of the sites above
        // and below the pivot (dirs 0 and 2: n₀ and n₂) and of those to its right and
        // left (dirs 1 and 3: n₁ and n₃).
        const VERTICAL_NB: u64 = 0x00_00_09_00_01;
        const HORIZONTAL_NB: u64 = 0x00_1b_00_03_00;
        let l = self.torus.l();
        let n = self.torus.sites();
        let (t, tx, _) = self.draw_tail(rng);
        // A site is (row start y·L, column x). The neighbour in direction d < 4 by
        // arithmetic (no selects on d: they become unpredictable branches): the offsets
        // (dx, dy) = (1, 0), (0, 1), (−1, 0), (0, −1) are bytes of two constants, and a
        // step that leaves [0, L) or [0, L²) is wrapped back by ∓L or ∓L².
        let step = |row: usize, x: usize, d: usize| {
            let dx = ((0xff_00_01_u32 >> (8 * (d & 3))) as u8 as i8) as isize;
            let dy = ((0xff_00_01_00_u32 >> (8 * (d & 3))) as u8 as i8) as isize;
            let mut x2 = x.wrapping_add_signed(dx);
            if x2 >= l {
                x2 = x2.wrapping_add_signed(-dx * l as isize);
            }
            let dr = dy * l as isize;
            let mut r2 = row.wrapping_add_signed(dr);
            if r2 >= n {
                r2 = r2.wrapping_add_signed(-dy * n as isize);
            }
            (r2, x2)
        };
        let d0 = (dirs[t] & 3) as usize;
        dirs[t] = DIR_NONE;
        let (mut qr, mut qx) = step(t - tx, tx, d0);
        let mut e = d0 ^ 2;
        let mut steps = 0u64;
        loop {
            let q = qr + qx;
            let p = if INTERACTING {
                let xr = if qx + 1 == l { 0 } else { qx + 1 };
                let xl = if qx == 0 { l - 1 } else { qx - 1 };
                let up = if qr + l == n { 0 } else { qr + l };
                let down = if qr == 0 { n - l } else { qr - l };
                let c = |i: usize, table: u64| table >> (8 * (dirs[i] & 7));
                (c(up + qx, VERTICAL_NB)
                    + c(down + qx, VERTICAL_NB)
                    + c(qr + xr, HORIZONTAL_NB)
                    + c(qr + xl, HORIZONTAL_NB)) as usize
                    & 0xff
            } else {
                0
            };
            let k = self.table.exit(p, e, rng.next_u64() >> 1);
            steps += 1;
            let (xr, xx) = step(qr, qx, k);
            let x = xr + xx;
            // x's pointer: its old partner, or after a bounce (x = a) a's other dimer.
            let od = (dirs[x] & 3) as usize;
            dirs[q] = k as u8;
            dirs[x] = (k ^ 2) as u8;
            if x == t {
                return steps;
            }
            (qr, qx) = step(xr, xx, od);
            e = od ^ 2;
        }
    }

    /// The v = 0 worm on the direction view: the same draws and decisions as
    /// `Worm::worm_dirs::<false>`, with the exit's interval drawn first so that the next
    /// site x' = x + (old pointer) + (exit) is one table offset from x (see "The uniform
    /// fast path" in the module docs). `QUARTERS`: the cuts are the quarters of 2⁶³.
    #[inline(always)]
    fn worm_dirs_uniform<const QUARTERS: bool>(
        &self,
        cuts: [u64; 3],
        dirs: &mut [u8],
        rng: &mut Xoshiro256PlusPlus,
    ) -> u64 {
        let u = &self.uniform;
        let l = self.torus.l() as i64;
        let n = self.torus.sites() as i64;
        let (t, tx, _) = self.draw_tail(rng);
        // The current site x (packed) and its old pointer od.
        let mut x = pack(tx as i64, t as i64);
        let mut od = (dirs[t] & 3) as usize;
        dirs[t] = DIR_NONE;
        let mut steps = 0u64;
        loop {
            let r = rng.next_u64() >> 1;
            let j = if QUARTERS {
                (r >> 61) as usize
            } else {
                (r >= cuts[0]) as usize + (r >= cuts[1]) as usize + (r >= cuts[2]) as usize
            };
            let j = j & 3;
            let o = od & 3;
            let mut x2 = x + u.to_next[j][o];
            // Wrapping is rare (a step near the border): a predicted branch to a cold
            // path keeps it off the chain.
            if off_torus(x2, l, n) {
                x2 = wrap_packed(x2, l, n);
            }
            let mut q = x2 + u.to_pivot[j][o];
            if off_torus(q, l, n) {
                q = wrap_packed(q, l, n);
            }
            let k = u.exit[j][o];
            steps += 1;
            let (xi, qi) = ((x2 >> COL_BITS) as usize, (q >> COL_BITS) as usize);
            let next = (dirs[xi] & 3) as usize;
            dirs[qi] = k;
            dirs[xi] = k ^ 2;
            if xi == t {
                return steps;
            }
            (x, od) = (x2, next);
        }
    }
}
