//! The separable critic of the InfoNCE estimator, f(h, e) = u(h) · g(e), as batched
//! kernels: a plain scalar reference (`…_scalar`, every sum in `f64`, rounded once to
//! `f32` when stored) and an `f32x8` version of each.
//!
//! Parameters (one flat `f32` vector, in this order):
//! - `u`: the embedding table of the hidden configurations, 2^N_h × k (row s = u(s));
//! - linear g (`width` = 0): `w`, k × |E|, g(e) = W e;
//! - MLP g (`width` = M > 0): `w1` (M × |E|), `b1` (M), `w2` (k × M),
//!   g(e) = W₂ relu(W₁ e + b₁).
//!
//! Neither g has an output bias: a term c · u(h) depends on h alone and cancels in the
//! InfoNCE bound (the same for the positive and every negative of a row), so it would be
//! a parameter without a gradient. The hidden configurations are few (2^N_h ≤ 256), so
//! a table is the most general u(h).
//!
//! Batch buffers (K pairs) are stored transposed, one row per feature and one column per
//! pair, so that the long dimension K is the contiguous one: `gt` (k × K) holds g(e_j) in
//! column j, `rt` (M × K) the hidden layer relu(W₁ e_j + b₁), `t` (2^N_h × K) the scores
//! t_sj = u(s) · g(e_j).
//!
//! Vectorisation (`f32x8`): dot products over |E| for the first layer (four rows of W
//! share each load of e), `axpy` over K for everything that mixes features (second
//! layer, scores, their transposes), dot products over K for the gradients of u and W₂,
//! and `axpy` over |E| with 8 pairs per call for the gradients of W and W₁.
//!
//! Tolerance against the reference (checked in `tests.rs`): 2e-5 · (1 + Σ|terms|) for
//! every stored activation and score, and 1e-4 · Σ_j |term_j| + 1e-6 for accumulated
//! gradients (f32 summation over the batch).

use super::super::kernels::{axpy_rows, cols_in, dot, load};
use super::super::rule::MAX_HIDDEN;
use crate::error::{Error, check_len};
use wide::f32x8;

const LANES: usize = 8;

/// Most environment sites the critic may read.
pub const MAX_ENV: usize = 1 << 16;
/// Largest embedding dimension k.
pub const MAX_EMBED: usize = 64;
/// Largest hidden-layer width M of the MLP g.
pub const MAX_WIDTH: usize = 256;

/// Sizes of a separable critic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CriticShape {
    /// Environment sites |E|.
    pub env: usize,
    /// Hidden units N_h of the rule (u has 2^N_h rows).
    pub hidden: usize,
    /// Embedding dimension k.
    pub embed: usize,
    /// Hidden-layer width M of g; 0 for a linear g.
    pub width: usize,
}

impl CriticShape {
    /// A critic over `env` sites for `hidden` hidden units, with embedding dimension
    /// `embed` and an MLP of `width` hidden units (0: linear).
    pub fn new(
        env: usize,
        hidden: usize,
        embed: usize,
        width: usize,
    ) -> Result<CriticShape, Error> {
        if env == 0 || env > MAX_ENV {
            return Err(Error::InvalidParameter(
                "the environment must have between 1 and 65536 sites",
            ));
        }
        if hidden == 0 || hidden > MAX_HIDDEN {
            return Err(Error::InvalidParameter(
                "the number of hidden units must be between 1 and 8",
            ));
        }
        if embed == 0 || embed > MAX_EMBED {
            return Err(Error::InvalidParameter(
                "the critic's embedding dimension must be between 1 and 64",
            ));
        }
        if width > MAX_WIDTH {
            return Err(Error::InvalidParameter(
                "the critic's hidden layer must have at most 256 units",
            ));
        }
        Ok(CriticShape {
            env,
            hidden,
            embed,
            width,
        })
    }

    /// Hidden configurations 2^N_h.
    pub fn states(&self) -> usize {
        1 << self.hidden
    }

    /// Length of the parameter vector.
    pub fn len(&self) -> usize {
        self.part_lens().iter().sum::<usize>() + self.embed * self.width
    }

    /// Always false (a critic has at least one parameter); for clippy's `len` rule.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Lengths of the first three parts of the parameter vector (u, first-layer weights,
    /// b₁); W₂ is the rest.
    fn part_lens(&self) -> [usize; 3] {
        [
            self.states() * self.embed,
            self.first_rows() * self.env,
            self.width,
        ]
    }

    /// The parameter vector's parts: (u, first-layer weights, b₁, W₂); b₁ and W₂ are
    /// empty for a linear g.
    pub fn split<'a>(&self, x: &'a [f32]) -> (&'a [f32], &'a [f32], &'a [f32], &'a [f32]) {
        let [nu, nw, nb] = self.part_lens();
        let (u, rest) = x.split_at(nu);
        let (w, rest) = rest.split_at(nw);
        let (b1, w2) = rest.split_at(nb);
        (u, w, b1, w2)
    }

    /// [`CriticShape::split`] of a mutable vector (gradients).
    #[allow(clippy::type_complexity)]
    pub fn split_mut<'a>(
        &self,
        x: &'a mut [f32],
    ) -> (&'a mut [f32], &'a mut [f32], &'a mut [f32], &'a mut [f32]) {
        let [nu, nw, nb] = self.part_lens();
        let (u, rest) = x.split_at_mut(nu);
        let (w, rest) = rest.split_at_mut(nw);
        let (b1, w2) = rest.split_at_mut(nb);
        (u, w, b1, w2)
    }

    /// Rows of the first layer: k (linear) or M.
    fn first_rows(&self) -> usize {
        if self.width == 0 {
            self.embed
        } else {
            self.width
        }
    }
}

/// Pairs in a batch of environments (K × |E|), with the buffer checks of a forward pass.
fn check_forward(
    shape: CriticShape,
    critic: &[f32],
    e: &[f32],
    rt: &[f32],
    gt: &[f32],
) -> Result<usize, Error> {
    check_len("critic parameters", shape.len(), critic.len())?;
    if !e.len().is_multiple_of(shape.env) {
        return Err(Error::BufferLength {
            what: "environment batch",
            expected: e.len() / shape.env * shape.env,
            got: e.len(),
        });
    }
    let k = e.len() / shape.env;
    check_len("critic hidden layer", shape.width * k, rt.len())?;
    check_len("critic embeddings", shape.embed * k, gt.len())?;
    Ok(k)
}

// ---------------------------------------------------------------------------------------
// g(e): the environment embedding.

/// Reference embedding of a batch: `gt[c·K + j]` = g(e_j)_c, and for an MLP
/// `rt[m·K + j]` = relu(W₁ e_j + b₁)_m (`rt` empty for a linear g).
pub fn embed_scalar(
    shape: CriticShape,
    critic: &[f32],
    e: &[f32],
    rt: &mut [f32],
    gt: &mut [f32],
) -> Result<(), Error> {
    let k = check_forward(shape, critic, e, rt, gt)?;
    let (_, w, b1, w2) = shape.split(critic);
    let ne = shape.env;
    let rows = shape.first_rows();
    let mut hidden = [0.0f64; MAX_WIDTH];
    for j in 0..k {
        let ej = &e[j * ne..(j + 1) * ne];
        for r in 0..rows {
            let mut s = 0.0f64;
            for (&x, &y) in w[r * ne..(r + 1) * ne].iter().zip(ej) {
                s += x as f64 * y as f64;
            }
            if shape.width == 0 {
                gt[r * k + j] = s as f32;
            } else {
                let z = (s + b1[r] as f64).max(0.0);
                hidden[r] = z;
                rt[r * k + j] = z as f32;
            }
        }
        if shape.width > 0 {
            for c in 0..shape.embed {
                let mut s = 0.0f64;
                for (&x, &h) in w2[c * shape.width..(c + 1) * shape.width]
                    .iter()
                    .zip(&hidden)
                {
                    s += x as f64 * h;
                }
                gt[c * k + j] = s as f32;
            }
        }
    }
    Ok(())
}

/// `f32x8` embedding; same contract as [`embed_scalar`].
pub fn embed(
    shape: CriticShape,
    critic: &[f32],
    e: &[f32],
    rt: &mut [f32],
    gt: &mut [f32],
) -> Result<(), Error> {
    let k = check_forward(shape, critic, e, rt, gt)?;
    let (_, w, b1, w2) = shape.split(critic);
    let first = if shape.width == 0 { &mut *gt } else { &mut *rt };
    first_layer(w, shape.env, e, k, first);
    if shape.width == 0 {
        return Ok(());
    }
    // relu(z + b₁), row by row (contiguous over the batch).
    for (row, &b) in rt.chunks_exact_mut(k).zip(b1) {
        let bv = f32x8::splat(b);
        let mut ch = row.chunks_exact_mut(LANES);
        for c in ch.by_ref() {
            let x = (load(c) + bv).max(f32x8::ZERO);
            c.copy_from_slice(&x.to_array());
        }
        for x in ch.into_remainder() {
            *x = (*x + b).max(0.0);
        }
    }
    // gt row c = Σ_m W₂[c][m] · rt row m.
    mix_rows(w2, shape.width, rt, k, gt);
    Ok(())
}

/// Environments up to this size take the lane-per-pair path of [`first_layer`].
const NARROW_ENV: usize = 256;

/// out\[r·K + j\] = w_r · e_j for the rows r of `w` (rows of `ne`).
///
/// For |E| ≤ [`NARROW_ENV`] the lanes are pairs: a tile of 8 environments is transposed
/// once (one vector per site), and each output vector (4 rows at a time) is a chain of
/// FMAs with broadcast weights, stored contiguously; no horizontal sums. Wider
/// environments take dot products over |E| (four rows share each load of e_j).
fn first_layer(w: &[f32], ne: usize, e: &[f32], k: usize, out: &mut [f32]) {
    if ne <= NARROW_ENV {
        return first_layer_tiles(w, ne, e, k, out);
    }
    let rows = w.len() / ne;
    let full = ne / LANES * LANES;
    for j in 0..k {
        let ej = &e[j * ne..(j + 1) * ne];
        let mut r = 0;
        while r + 4 <= rows {
            let wr: [&[f32]; 4] = core::array::from_fn(|q| &w[(r + q) * ne..(r + q + 1) * ne]);
            let mut acc = [f32x8::ZERO; 4];
            let mut i = 0;
            while i < full {
                let x = load(&ej[i..]);
                for (a, row) in acc.iter_mut().zip(&wr) {
                    *a = load(&row[i..]).mul_add(x, *a);
                }
                i += LANES;
            }
            for q in 0..4 {
                let mut s = acc[q].reduce_add();
                for m in full..ne {
                    s += wr[q][m] * ej[m];
                }
                out[(r + q) * k + j] = s;
            }
            r += 4;
        }
        while r < rows {
            out[r * k + j] = dot(&w[r * ne..(r + 1) * ne], ej);
            r += 1;
        }
    }
}

/// [`first_layer`] for |E| ≤ [`NARROW_ENV`], lane = pair.
fn first_layer_tiles(w: &[f32], ne: usize, e: &[f32], k: usize, out: &mut [f32]) {
    let rows = w.len() / ne;
    let mut et = [f32x8::ZERO; NARROW_ENV];
    let mut j0 = 0;
    while j0 < k {
        let valid = (k - j0).min(LANES);
        for m0 in (0..ne).step_by(LANES) {
            cols_in(e, ne, j0, valid, m0, 0.0, &mut et[m0..]);
        }
        let et = &et[..ne];
        let mut r = 0;
        while r < rows {
            let n = (rows - r).min(4);
            let mut acc = [f32x8::ZERO; 4];
            if n == 4 {
                let wr: [&[f32]; 4] = core::array::from_fn(|q| &w[(r + q) * ne..(r + q + 1) * ne]);
                let rows4 = wr[0].iter().zip(wr[1]).zip(wr[2]).zip(wr[3]);
                for (&x, (((&w0, &w1), &w2), &w3)) in et.iter().zip(rows4) {
                    acc[0] = f32x8::splat(w0).mul_add(x, acc[0]);
                    acc[1] = f32x8::splat(w1).mul_add(x, acc[1]);
                    acc[2] = f32x8::splat(w2).mul_add(x, acc[2]);
                    acc[3] = f32x8::splat(w3).mul_add(x, acc[3]);
                }
            } else {
                for (q, a) in acc[..n].iter_mut().enumerate() {
                    let row = &w[(r + q) * ne..(r + q + 1) * ne];
                    for (&x, &y) in et.iter().zip(row) {
                        *a = f32x8::splat(y).mul_add(x, *a);
                    }
                }
            }
            for (q, a) in acc[..n].iter().enumerate() {
                let dst = &mut out[(r + q) * k + j0..(r + q) * k + j0 + valid];
                dst.copy_from_slice(&a.to_array()[..valid]);
            }
            r += n;
        }
        j0 += LANES;
    }
}

/// out row c = Σ_m coef\[c·n + m\] · rows row m (rows of `k`), for every row c of the
/// `coef` matrix (rows of `n`): `axpy` over K, eight source rows per pass.
fn mix_rows(coef: &[f32], n: usize, rows: &[f32], k: usize, out: &mut [f32]) {
    for (c, o) in out.chunks_exact_mut(k).enumerate() {
        o.fill(0.0);
        let cr = &coef[c * n..(c + 1) * n];
        for m0 in (0..n).step_by(LANES) {
            let m1 = (m0 + LANES).min(n);
            let src: [&[f32]; LANES] = core::array::from_fn(|q| {
                if m0 + q < m1 {
                    &rows[(m0 + q) * k..(m0 + q + 1) * k]
                } else {
                    &[]
                }
            });
            axpy_rows(o, &cr[m0..m1], &src[..m1 - m0]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Scores t_sj = u(s) · g(e_j) and their row log-sum-exps.

fn check_scores(
    shape: CriticShape,
    critic: &[f32],
    gt: &[f32],
    t: &[f32],
    lse: &[f64],
) -> Result<usize, Error> {
    check_len("critic parameters", shape.len(), critic.len())?;
    let k = gt.len() / shape.embed;
    check_len("critic embeddings", shape.embed * k, gt.len())?;
    check_len("scores", shape.states() * k, t.len())?;
    check_len("log-sum-exps", shape.states(), lse.len())?;
    Ok(k)
}

/// Reference scores: `t[s·K + j]` = u(s) · g(e_j) and `lse[s]` = ln Σ_j e^{t_sj}
/// (max-shifted, `f64`, from the stored scores).
pub fn scores_scalar(
    shape: CriticShape,
    critic: &[f32],
    gt: &[f32],
    t: &mut [f32],
    lse: &mut [f64],
) -> Result<(), Error> {
    let k = check_scores(shape, critic, gt, t, lse)?;
    let (u, _, _, _) = shape.split(critic);
    let kd = shape.embed;
    for s in 0..shape.states() {
        for j in 0..k {
            let mut x = 0.0f64;
            for c in 0..kd {
                x += u[s * kd + c] as f64 * gt[c * k + j] as f64;
            }
            t[s * k + j] = x as f32;
        }
        let row = &t[s * k..(s + 1) * k];
        let max = row.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x as f64));
        let sum: f64 = row.iter().map(|&x| libm::exp(x as f64 - max)).sum();
        lse[s] = max + libm::log(sum);
    }
    Ok(())
}

/// `f32x8` scores; same contract as [`scores_scalar`] (the sum of exponentials in `f32`
/// lanes with the polynomial e^x, the logarithm in `f64`).
pub fn scores(
    shape: CriticShape,
    critic: &[f32],
    gt: &[f32],
    t: &mut [f32],
    lse: &mut [f64],
) -> Result<(), Error> {
    let k = check_scores(shape, critic, gt, t, lse)?;
    let (u, _, _, _) = shape.split(critic);
    mix_rows(u, shape.embed, gt, k, t);
    for (row, l) in t.chunks_exact(k).zip(lse.iter_mut()) {
        let max = max_of(row);
        let sum = sum_exp(row, max);
        *l = max as f64 + libm::log(sum as f64);
    }
    Ok(())
}

/// max of a row (−∞ when empty).
fn max_of(row: &[f32]) -> f32 {
    let mut m = f32x8::splat(f32::NEG_INFINITY);
    let mut ch = row.chunks_exact(LANES);
    for c in ch.by_ref() {
        m = m.max(load(c));
    }
    let mut best = m
        .to_array()
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    for &x in ch.remainder() {
        best = best.max(x);
    }
    best
}

/// Σ_j e^{x_j − max}, `f32x8` with the polynomial exponential.
fn sum_exp(row: &[f32], max: f32) -> f32 {
    let mv = f32x8::splat(max);
    let mut acc = f32x8::ZERO;
    let mut ch = row.chunks_exact(LANES);
    for c in ch.by_ref() {
        acc += super::super::kernels::exp_nonpositive(load(c) - mv);
    }
    let mut s = acc.reduce_add();
    for &x in ch.remainder() {
        s += libm::expf(x - max);
    }
    s
}

// ---------------------------------------------------------------------------------------
// Backward.

/// Buffers of a critic backward pass. `gc` (2^N_h × K) holds ∂Î/∂t_sj on entry;
/// `dgt` (k × K) and `drt` (M × K) are scratch.
#[derive(Debug)]
pub struct Backward<'a> {
    /// The environment batch, K × |E|.
    pub e: &'a [f32],
    /// relu layer of the forward pass (MLP), M × K.
    pub rt: &'a [f32],
    /// Embeddings of the forward pass, k × K.
    pub gt: &'a [f32],
    /// ∂Î/∂t, 2^N_h × K.
    pub gc: &'a [f32],
    /// Scratch: ∂Î/∂g, k × K.
    pub dgt: &'a mut [f32],
    /// Scratch: ∂Î/∂(hidden layer), M × K.
    pub drt: &'a mut [f32],
}

fn check_backward(
    shape: CriticShape,
    critic: &[f32],
    b: &Backward<'_>,
    grad: &[f32],
) -> Result<usize, Error> {
    let k = check_forward(shape, critic, b.e, b.rt, b.gt)?;
    check_len("score gradient", shape.states() * k, b.gc.len())?;
    check_len("embedding gradient", shape.embed * k, b.dgt.len())?;
    check_len("hidden-layer gradient", shape.width * k, b.drt.len())?;
    check_len("critic gradient", shape.len(), grad.len())?;
    Ok(k)
}

/// Reference backward: adds to `grad` (the layout of the parameters) the gradient with
/// respect to the critic's parameters of Σ_sj gc_sj t_sj. Sums in `f64`; every gradient
/// entry is added once.
pub fn backward_scalar(
    shape: CriticShape,
    critic: &[f32],
    b: Backward<'_>,
    grad: &mut [f32],
) -> Result<(), Error> {
    let k = check_backward(shape, critic, &b, grad)?;
    let (u, w, _, w2) = shape.split(critic);
    let (gu, gw, gb1, gw2) = shape.split_mut(grad);
    let (ns, kd, ne, nm) = (shape.states(), shape.embed, shape.env, shape.width);
    // ∂/∂u(s)_c = Σ_j gc_sj g_cj; ∂/∂g_cj = Σ_s gc_sj u(s)_c.
    for s in 0..ns {
        for c in 0..kd {
            let mut x = 0.0f64;
            for j in 0..k {
                x += b.gc[s * k + j] as f64 * b.gt[c * k + j] as f64;
            }
            gu[s * kd + c] += x as f32;
        }
    }
    for c in 0..kd {
        for j in 0..k {
            let mut x = 0.0f64;
            for s in 0..ns {
                x += b.gc[s * k + j] as f64 * u[s * kd + c] as f64;
            }
            b.dgt[c * k + j] = x as f32;
        }
    }
    // The first layer's input gradient: dgt itself (linear) or through W₂ and relu.
    let first = if nm == 0 {
        &*b.dgt
    } else {
        for c in 0..kd {
            for m in 0..nm {
                let mut x = 0.0f64;
                for j in 0..k {
                    x += b.dgt[c * k + j] as f64 * b.rt[m * k + j] as f64;
                }
                gw2[c * nm + m] += x as f32;
            }
        }
        for m in 0..nm {
            for j in 0..k {
                let mut x = 0.0f64;
                if b.rt[m * k + j] > 0.0 {
                    for c in 0..kd {
                        x += w2[c * nm + m] as f64 * b.dgt[c * k + j] as f64;
                    }
                }
                b.drt[m * k + j] = x as f32;
            }
        }
        for (g, row) in gb1.iter_mut().zip(b.drt.chunks_exact(k)) {
            let x: f64 = row.iter().map(|&y| y as f64).sum();
            *g += x as f32;
        }
        &*b.drt
    };
    let rows = shape.first_rows();
    debug_assert_eq!(w.len(), rows * ne);
    for r in 0..rows {
        for i in 0..ne {
            let mut x = 0.0f64;
            for j in 0..k {
                x += first[r * k + j] as f64 * b.e[j * ne + i] as f64;
            }
            gw[r * ne + i] += x as f32;
        }
    }
    Ok(())
}

/// `f32x8` backward; same contract as [`backward_scalar`].
pub fn backward(
    shape: CriticShape,
    critic: &[f32],
    b: Backward<'_>,
    grad: &mut [f32],
) -> Result<(), Error> {
    let k = check_backward(shape, critic, &b, grad)?;
    let (u, _, _, w2) = shape.split(critic);
    let (gu, gw, gb1, gw2) = shape.split_mut(grad);
    let (ns, kd, ne, nm) = (shape.states(), shape.embed, shape.env, shape.width);
    for s in 0..ns {
        let gs = &b.gc[s * k..(s + 1) * k];
        for c in 0..kd {
            gu[s * kd + c] += dot(gs, &b.gt[c * k..(c + 1) * k]);
        }
    }
    // dgt row c = Σ_s u(s)_c · gc row s: the transpose of u as coefficients.
    let mut ut = [0.0f32; MAX_EMBED * (1 << MAX_HIDDEN)];
    for s in 0..ns {
        for c in 0..kd {
            ut[c * ns + s] = u[s * kd + c];
        }
    }
    mix_rows(&ut[..kd * ns], ns, b.gc, k, b.dgt);
    let first: &[f32] = if nm == 0 {
        b.dgt
    } else {
        for c in 0..kd {
            let dc = &b.dgt[c * k..(c + 1) * k];
            for m in 0..nm {
                gw2[c * nm + m] += dot(dc, &b.rt[m * k..(m + 1) * k]);
            }
        }
        let mut w2t = [0.0f32; MAX_EMBED * MAX_WIDTH];
        for c in 0..kd {
            for m in 0..nm {
                w2t[m * kd + c] = w2[c * nm + m];
            }
        }
        mix_rows(&w2t[..nm * kd], kd, b.dgt, k, b.drt);
        // relu': zero where the unit was off (relu(z) > 0 ⟺ z > 0).
        for (d, r) in b.drt.chunks_exact_mut(LANES).zip(b.rt.chunks_exact(LANES)) {
            let on = load(r).simd_gt(f32x8::ZERO);
            let x = on.select(load(d), f32x8::ZERO);
            d.copy_from_slice(&x.to_array());
        }
        let tail = k * nm / LANES * LANES;
        for (d, &r) in b.drt[tail..].iter_mut().zip(&b.rt[tail..]) {
            if r <= 0.0 {
                *d = 0.0;
            }
        }
        for (g, row) in gb1.iter_mut().zip(b.drt.chunks_exact(k)) {
            let ones = [1.0f32; LANES];
            let mut s = 0.0f32;
            for ch in row.chunks(LANES) {
                s += dot(ch, &ones[..ch.len()]);
            }
            *g += s;
        }
        b.drt
    };
    // W (or W₁) rows: Σ_j first_rj e_j.
    outer_accumulate(first, k, b.e, ne, gw);
    Ok(())
}

/// gw\[r·|E| + m\] += Σ_j first\[r·K + j\] e\[j·|E| + m\] (the weight gradient of a first
/// layer): two rows of gw at a time share each load of e, over four pairs per pass (eight
/// broadcast coefficients, two accumulators and one input in registers); the rest by
/// [`axpy_rows`].
fn outer_accumulate(first: &[f32], k: usize, e: &[f32], ne: usize, gw: &mut [f32]) {
    const PAIRS: usize = 4;
    let rows = gw.len() / ne;
    let full = ne / LANES * LANES;
    let mut j0 = 0;
    while j0 < k {
        let nq = (k - j0).min(PAIRS);
        let er: [&[f32]; PAIRS] = core::array::from_fn(|q| {
            if q < nq {
                &e[(j0 + q) * ne..(j0 + q + 1) * ne]
            } else {
                &[]
            }
        });
        let mut r = 0;
        if nq == PAIRS {
            while r + 2 <= rows {
                let c: [[f32x8; PAIRS]; 2] = core::array::from_fn(|a| {
                    core::array::from_fn(|q| f32x8::splat(first[(r + a) * k + j0 + q]))
                });
                let (g0, g1) = gw[r * ne..(r + 2) * ne].split_at_mut(ne);
                let mut i = 0;
                while i < full {
                    let mut a0 = load(&g0[i..]);
                    let mut a1 = load(&g1[i..]);
                    for (q, row) in er.iter().enumerate() {
                        let x = load(&row[i..]);
                        a0 = c[0][q].mul_add(x, a0);
                        a1 = c[1][q].mul_add(x, a1);
                    }
                    g0[i..i + LANES].copy_from_slice(&a0.to_array());
                    g1[i..i + LANES].copy_from_slice(&a1.to_array());
                    i += LANES;
                }
                for m in full..ne {
                    for (q, row) in er.iter().enumerate() {
                        g0[m] += first[r * k + j0 + q] * row[m];
                        g1[m] += first[(r + 1) * k + j0 + q] * row[m];
                    }
                }
                r += 2;
            }
        }
        let mut coef = [0.0f32; PAIRS];
        while r < rows {
            coef[..nq].copy_from_slice(&first[r * k + j0..r * k + j0 + nq]);
            axpy_rows(&mut gw[r * ne..(r + 1) * ne], &coef[..nq], &er[..nq]);
            r += 1;
        }
        j0 += PAIRS;
    }
}
