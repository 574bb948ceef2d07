//! The heavy part of the Θ-RBM: the x·W and W·g products, the gradient outer products and
//! the logistic function, as `f32x8` kernels beside plain scalar references.
//!
//! Weights are row-major `w[i · hidden + k]` = W_ik (unit i of x, hidden unit k), so a row
//! of W is contiguous over the hidden units.
//!
//! Equivalence (checked in the tests):
//! - [`hidden_preactivations_wide`] adds the rows x_i W_i· in the same order as the
//!   reference sums Σ_i x_i W_ik, one multiply and one add per term (no FMA), and skips
//!   x_i = 0 terms (which add +0): **equal** to [`hidden_preactivations_scalar`] (up to the
//!   sign of an exact zero).
//! - [`accumulate_outer_wide`] does the same multiply and add per element as
//!   [`accumulate_outer_scalar`]: **equal**.
//! - [`sigmoid_wide`] evaluates the same operations as [`sigmoid_scalar`] in the same
//!   order (range reduction, Horner polynomial, exponent bits, one IEEE division): **bit
//!   for bit equal**, in every build.
//! - [`visible_preactivations_wide`] sums Σ_k W_ik g_k in eight partial sums, a
//!   different order from the reference: equal to within
//!   `hidden · f32::EPSILON · Σ_k |W_ik g_k|` (the documented tolerance).
//!
//! Tails. When a length is not a multiple of 8 (N_g = 52 for the 2×2 Ising block), the
//! last `len % 8` entries are done in the full window of the last 8, masked or rewritten,
//! not by partial loads and stores: those become `memcpy` calls or masked moves whose
//! stores cannot forward to the next load, and they made the tails cost more than the
//! body at that size. Lengths below 8 use the scalar references.

use wide::{f32x8, i32x8};

const LANES: usize = 8;
const LOG2_E: f32 = core::f32::consts::LOG2_E;
/// ln 2 split in a short high part (exact products n·LN2_HI for |n| ≤ 2⁸) and the rest.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Arguments are clamped to ±87, inside the normal range of 2ⁿ.
const EXP_LIMIT: f32 = 87.0;
/// 2²³ + 127: adding it to an integral n puts n + 127 in the low mantissa bits.
const EXP_MAGIC: f32 = 8_388_735.0;
/// Taylor coefficients of e^r on |r| ≤ ln2/2 (degree 7, truncation < 6e−9 relative).
const C: [f32; 8] = [
    1.0,
    1.0,
    0.5,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
];

/// e^x for f32, relative error ≲ 3e−7 on [−87, 87] (x clamped to that range). The scalar
/// twin of [`exp_wide`], bit for bit.
#[inline]
pub fn exp_scalar(x: f32) -> f32 {
    let x = x.clamp(-EXP_LIMIT, EXP_LIMIT);
    let n = libm::floorf(x * LOG2_E + 0.5);
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = C[7];
    for &c in C[..7].iter().rev() {
        p = p * r + c;
    }
    let scale = f32::from_bits((n + EXP_MAGIC).to_bits() << 23);
    p * scale
}

/// Eight lanes of [`exp_scalar`], the same operations in the same order.
#[inline]
pub fn exp_wide(x: f32x8) -> f32x8 {
    let x = x.max(f32x8::splat(-EXP_LIMIT)).min(f32x8::splat(EXP_LIMIT));
    let n = (x * f32x8::splat(LOG2_E) + f32x8::splat(0.5)).floor();
    let r = (x - n * f32x8::splat(LN2_HI)) - n * f32x8::splat(LN2_LO);
    let mut p = f32x8::splat(C[7]);
    for &c in C[..7].iter().rev() {
        p = p * r + f32x8::splat(c);
    }
    let bits: i32x8 = wide::bytemuck::cast(n + f32x8::splat(EXP_MAGIC));
    let scale: f32x8 = wide::bytemuck::cast(bits << 23);
    p * scale
}

/// σ(a) = 1/(1 + e^{−a}) in place, scalar reference.
pub fn sigmoid_scalar(a: &mut [f32]) {
    for x in a.iter_mut() {
        *x = 1.0 / (1.0 + exp_scalar(-*x));
    }
}

/// σ(a) in place, eight at a time (bit for bit equal to [`sigmoid_scalar`]; a partial
/// last vector is zero-padded).
pub fn sigmoid_wide(a: &mut [f32]) {
    let n = a.len();
    if n < LANES {
        return sigmoid_scalar(a);
    }
    let sig = |x: f32x8| f32x8::ONE / (f32x8::ONE + exp_wide(-x));
    // The last 8 entries first, from their inputs: the window overlaps the last full
    // chunk, whose lanes it then rewrites with the same values.
    let last = sig(load(&a[n - LANES..]));
    for ch in a.chunks_exact_mut(LANES) {
        store(sig(load(ch)), ch);
    }
    store(last, &mut a[n - LANES..]);
}

/// All-ones in the last `t` lanes (0 ≤ t ≤ 8), zero elsewhere: with `&`, it keeps the
/// part of the window of a row's last 8 entries that lies past its last full chunk, so
/// the sums of that window add ±0 to the lanes the full chunks already covered (which
/// leaves them unchanged, up to the sign of an exact zero).
#[inline(always)]
fn tail_mask(t: usize) -> f32x8 {
    let lane = f32x8::from([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    lane.simd_ge(f32x8::splat((LANES - t) as f32))
}

/// The first eight values of `s` (at least eight long).
#[inline(always)]
fn load(s: &[f32]) -> f32x8 {
    let mut a = [0.0; LANES];
    a.copy_from_slice(&s[..LANES]);
    f32x8::from(a)
}

/// Store into the first eight entries of `s` (at least eight long).
#[inline(always)]
fn store(v: f32x8, s: &mut [f32]) {
    s[..LANES].copy_from_slice(&v.to_array());
}

/// Rows scanned per block when collecting the units with x_i ≠ 0.
const ROW_BLOCK: usize = 256;

/// Hidden units held in registers at once by the wide products (4 vectors).
const HIDDEN_BLOCK: usize = 4 * LANES;

/// Indices `base + j` of the non-zero entries of `xb`, branch-free; returns how many.
#[inline(always)]
fn active_rows(xb: &[f32], base: usize, idx: &mut [u32; ROW_BLOCK]) -> usize {
    let mut n = 0;
    for (j, &xi) in xb.iter().enumerate() {
        idx[n] = (base + j) as u32;
        n += (xi != 0.0) as usize;
    }
    n
}

/// Hidden pre-activations a_k = d_k + Σ_i x_i W_ik over all units i of `x` (scalar
/// reference: one hidden unit at a time, terms in order of i). `out.len()` = hidden =
/// `d.len()`; `w.len()` ≥ `x.len()` · hidden. Lengths are the caller's (the driver's)
/// responsibility; a mismatch panics.
pub fn hidden_preactivations_scalar(w: &[f32], d: &[f32], x: &[f32], out: &mut [f32]) {
    let hidden = out.len();
    for (k, o) in out.iter_mut().enumerate() {
        let mut acc = d[k];
        for (i, &xi) in x.iter().enumerate() {
            acc += xi * w[i * hidden + k];
        }
        *o = acc;
    }
}

/// [`hidden_preactivations_scalar`] as row additions of x_i W_i· (rows with x_i = 0
/// skipped), 32 hidden units at a time in four `f32x8` accumulators (then 8 at a time), the last
/// `hidden % 8` units in scalars (the same operation per element).
pub fn hidden_preactivations_wide(w: &[f32], d: &[f32], x: &[f32], out: &mut [f32]) {
    let hidden = out.len();
    let body = hidden - hidden % LANES;
    out.copy_from_slice(&d[..hidden]);
    let mut idx = [0u32; ROW_BLOCK];
    for (b, xb) in x.chunks(ROW_BLOCK).enumerate() {
        let n = active_rows(xb, b * ROW_BLOCK, &mut idx);
        let mut g0 = 0;
        // Four independent accumulators hide the add latency.
        while g0 + HIDDEN_BLOCK <= body {
            let mut a0 = load(&out[g0..g0 + 8]);
            let mut a1 = load(&out[g0 + 8..g0 + 16]);
            let mut a2 = load(&out[g0 + 16..g0 + 24]);
            let mut a3 = load(&out[g0 + 24..g0 + 32]);
            for &i in &idx[..n] {
                let i = i as usize;
                let s = f32x8::splat(x[i]);
                let r = &w[i * hidden + g0..i * hidden + g0 + HIDDEN_BLOCK];
                a0 += s * load(&r[..8]);
                a1 += s * load(&r[8..16]);
                a2 += s * load(&r[16..24]);
                a3 += s * load(&r[24..32]);
            }
            store(a0, &mut out[g0..g0 + 8]);
            store(a1, &mut out[g0 + 8..g0 + 16]);
            store(a2, &mut out[g0 + 16..g0 + 24]);
            store(a3, &mut out[g0 + 24..g0 + 32]);
            g0 += HIDDEN_BLOCK;
        }
        while g0 < body {
            let mut a0 = load(&out[g0..g0 + 8]);
            for &i in &idx[..n] {
                let i = i as usize;
                a0 += f32x8::splat(x[i]) * load(&w[i * hidden + g0..i * hidden + g0 + 8]);
            }
            store(a0, &mut out[g0..g0 + 8]);
            g0 += LANES;
        }
        if body < hidden && hidden >= LANES {
            // The last hidden % 8 units in one register: the window of the last 8 units,
            // its other lanes masked to +0.
            let (w0, mask) = (hidden - LANES, tail_mask(hidden - body));
            let mut t = load(&out[w0..]);
            for &i in &idx[..n] {
                let i = i as usize;
                t += f32x8::splat(x[i]) * (load(&w[i * hidden + w0..]) & mask);
            }
            store(t, &mut out[w0..]);
        } else if body < hidden {
            for &i in &idx[..n] {
                let i = i as usize;
                let xi = x[i];
                for (o, &r) in out.iter_mut().zip(&w[i * hidden..(i + 1) * hidden]) {
                    *o += xi * r;
                }
            }
        }
    }
}

/// Visible pre-activations b_i = c_i + Σ_k W_ik g_k for the first `out.len()` units
/// (scalar reference, terms in order of k). `g.len()` = hidden.
pub fn visible_preactivations_scalar(w: &[f32], c: &[f32], g: &[f32], out: &mut [f32]) {
    let hidden = g.len();
    for (i, o) in out.iter_mut().enumerate() {
        let row = &w[i * hidden..(i + 1) * hidden];
        let mut acc = c[i];
        for (&wik, &gk) in row.iter().zip(g) {
            acc += wik * gk;
        }
        *o = acc;
    }
}

/// [`visible_preactivations_scalar`] with eight partial sums per row (the last
/// `hidden % 8` terms in a masked window of the last 8 units), summed across lanes by an
/// 8 × 8 transpose for eight rows at a time, plus c_i.
pub fn visible_preactivations_wide(w: &[f32], c: &[f32], g: &[f32], out: &mut [f32]) {
    let hidden = g.len();
    if hidden < LANES {
        return visible_preactivations_scalar(w, c, g, out);
    }
    let body = hidden - hidden % LANES;
    let w0 = hidden - LANES;
    let gt = load(&g[w0..]) & tail_mask(hidden - body);
    let partial = |i: usize| {
        let row = &w[i * hidden..(i + 1) * hidden];
        let mut acc = load(&row[w0..]) * gt;
        for (r, gg) in row[..body]
            .chunks_exact(LANES)
            .zip(g[..body].chunks_exact(LANES))
        {
            acc += load(r) * load(gg);
        }
        acc
    };
    let mut i0 = 0;
    while i0 + LANES <= out.len() {
        let mut rows = [f32x8::ZERO; LANES];
        for (r, acc) in rows.iter_mut().enumerate() {
            *acc = partial(i0 + r);
        }
        let cols = f32x8::transpose(rows);
        let mut sum = load(&c[i0..]);
        for col in cols {
            sum += col;
        }
        store(sum, &mut out[i0..]);
        i0 += LANES;
    }
    for (i, o) in out.iter_mut().enumerate().skip(i0) {
        *o = c[i] + partial(i).reduce_add();
    }
}

/// grad_ik += (scale · x_i) · p_k for every unit i of `x` and hidden unit k of `p`
/// (scalar reference; rows with x_i = 0 are skipped).
pub fn accumulate_outer_scalar(grad: &mut [f32], x: &[f32], p: &[f32], scale: f32) {
    let hidden = p.len();
    for (i, &xi) in x.iter().enumerate() {
        let s = scale * xi;
        if s == 0.0 {
            continue;
        }
        for (gk, &pk) in grad[i * hidden..(i + 1) * hidden].iter_mut().zip(p) {
            *gk += s * pk;
        }
    }
}

/// [`accumulate_outer_scalar`], eight hidden units at a time (rows with x_i = 0 found
/// branch-free first; the last `hidden % 8` units in the window of the last 8).
pub fn accumulate_outer_wide(grad: &mut [f32], x: &[f32], p: &[f32], scale: f32) {
    let hidden = p.len();
    if hidden < LANES {
        return accumulate_outer_scalar(grad, x, p, scale);
    }
    let body = hidden - hidden % LANES;
    let w0 = hidden - LANES;
    let pt = load(&p[w0..]);
    let mut idx = [0u32; ROW_BLOCK];
    for (b, xb) in x.chunks(ROW_BLOCK).enumerate() {
        let n = active_rows(xb, b * ROW_BLOCK, &mut idx);
        for &i in &idx[..n] {
            let i = i as usize;
            let s = scale * x[i];
            if s == 0.0 {
                continue;
            }
            let sv = f32x8::splat(s);
            let row = &mut grad[i * hidden..(i + 1) * hidden];
            if body == hidden {
                for (gg, pp) in row.chunks_exact_mut(LANES).zip(p.chunks_exact(LANES)) {
                    store(load(gg) + sv * load(pp), gg);
                }
                continue;
            }
            // The window of the last 8 units overlaps the last full chunk: load both
            // before either is stored (no store-to-load forwarding across the overlap),
            // store the window first, then the chunk, which rewrites the overlap.
            let last = body - LANES;
            for (gg, pp) in row[..last]
                .chunks_exact_mut(LANES)
                .zip(p[..last].chunks_exact(LANES))
            {
                store(load(gg) + sv * load(pp), gg);
            }
            let chunk = load(&row[last..]) + sv * load(&p[last..]);
            let window = load(&row[w0..]) + sv * pt;
            store(window, &mut row[w0..]);
            store(chunk, &mut row[last..]);
        }
    }
}
