//! Batched `f32` kernels of the learning core, each as a plain scalar reference
//! (`…_scalar`) and an `f32x8` version (docs/method.md#the-rule).
//!
//! A batch is N rows, row-major: visible blocks `v` (N × |V|), environments `e`
//! (N × |E|), pre-activations `a` (N × N_h), hidden distributions `p` and coefficients `c`
//! (N × 2^N_h), decoder log-probabilities `logq` (N × 2^N_h). N is taken from the length
//! of `v` (or `e`); every other buffer must match it. The conventions of [`super::rule`]
//! hold throughout: weights `[hidden j][visible i]`, hidden configuration `s` with bit j
//! set ↔ h_j = +1.
//!
//! Kernels:
//! - rule forward: a_nj = b_j + Σ_i λ_ji v_ni and P(s|v_n) = Π_j σ(2 h_j a_nj);
//! - rule gradient contraction: `grad_w[j][i] += Σ_n g_nj v_ni`, `grad_b[j] += Σ_n g_nj`,
//!   g_nj = Σ_s c\[n,s\] P(s|v_n) (h_j − tanh a_nj) (batched [`super::rule::accumulate_gradient`]);
//! - decoder forward: logits z_s = d_s + Σ_m U_sm e_m (U row-major `[s][m]`) and
//!   log q(s|e) = z_s − ln Σ_s' e^{z_s'};
//! - decoder backward: `grad_u[s][m] += scale · Σ_n (target[n,s] − q[n,s]) e_nm` and
//!   `grad_d[s] += scale · Σ_n (target[n,s] − q[n,s])`.
//!
//! Numerics. The per-unit factors are evaluated as logistic functions,
//! P(h_j = ±1 | v) = σ(±2a) and h_j − tanh a = ±2σ(∓2a), from x = e^{−2|a|} ∈ (0, 1], so
//! both tails stay accurate (no 1 − tanh a cancellation).
//! The scalar references evaluate every sum and transcendental function in `f64`
//! (libm) and round once to `f32` when storing; gradient outputs are accumulated per
//! sample into the caller's `f32` buffers. The `f32x8` kernels compute in `f32`
//! (the polynomial [`exp_wide`] of the RBM kernels for e^x, x ≤ 0, within 3e−7
//! relative; `wide`'s `ln`; a few ulp each) and vectorise
//! - over the long inner dimension (|V| ≥ 16 or |E|) for dot products and gradient
//!   updates, with a scalar tail when the length is not a multiple of 8;
//! - over the batch (8 samples per `f32x8`) for the element-wise work: logistic factors,
//!   products over hidden units, log-softmax, coefficients, and, when |V| < 16, the
//!   whole rule forward and contraction.
//!
//! Layout. The batch buffers are row-major, the vectors lane-per-sample: a tile of 8 rows
//! is transposed in registers on the way in and out (`cols_in`, `cols_out`). The rule
//! kernels are instantiated per N_h (a constant, so the loops over hidden units and
//! states unroll and the tile widths of `a`, P and c are fixed), and work on groups of 8
//! tiles: pre-activations first, then the logistic factors of the whole group in one
//! loop, so that the latency of the exponential overlaps across tiles.
//!
//! Tolerance (checked by the tests in this module on random shapes): forward outputs
//! agree with the reference within 1e-5 absolute for P and 2e-5·(1 + Σ|terms|) for a
//! and log q; accumulated gradients within 1e-4 · Σ_n |term_n| + 1e-6 (f32 summation
//! over the batch). A few ulp of `f32` per operation, no more.
//!
//! ```
//! use rsmi_core::learn::kernels::{rule_forward, rule_forward_scalar};
//! use rsmi_core::learn::rule::Shape;
//!
//! # fn main() -> Result<(), rsmi_core::Error> {
//! let shape = Shape::new(2, 1)?; // |V| = 2, N_h = 1
//! let (w, b) = ([1.0f32, 0.5], [0.0f32]);
//! let v = [1.0f32, 1.0, -1.0, 1.0]; // two samples
//! let (mut a, mut p) = ([0.0f32; 2], [0.0f32; 4]);
//! rule_forward(shape, &w, &b, &v, &mut a, &mut p)?;
//! assert!((a[0] - 1.5).abs() < 1e-6 && (a[1] + 0.5).abs() < 1e-6);
//! // P(h = +1 | v) = σ(2a) is entry s = 1 of each row.
//! assert!((p[1] - 1.0 / (1.0 + (-3.0f32).exp())).abs() < 1e-6);
//! let (mut a2, mut p2) = ([0.0f32; 2], [0.0f32; 4]);
//! rule_forward_scalar(shape, &w, &b, &v, &mut a2, &mut p2)?;
//! assert!((p[2] - p2[2]).abs() < 1e-6);
//! # Ok(())
//! # }
//! ```

use super::rbm::kernel::exp_wide;
use super::rule::{MAX_HIDDEN, Shape};
use crate::error::{Error, check_len};
use wide::f32x8;

/// Most environment sites a decoder may read.
pub const MAX_ENV: usize = 1 << 16;

/// Most hidden configurations, 2^[`MAX_HIDDEN`].
pub const MAX_STATES: usize = 1 << MAX_HIDDEN;

const LANES: usize = 8;

/// |V| below which the rule kernels vectorise over samples (lane = sample) throughout;
/// from it on, the pre-activations and the weight gradient vectorise over V.
const NARROW: usize = 16;

/// Tiles of 8 samples handled per stage by the rule kernels: their pre-activations are
/// gathered first, then all their logistic factors are evaluated in one tight loop.
const GROUP: usize = 8;

/// Sizes of a decoder q_φ(h|e): |E| inputs, 2^N_h output classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderShape {
    /// Number of environment sites |E|.
    pub env: usize,
    /// Number of hidden units N_h (the decoder has 2^N_h classes).
    pub hidden: usize,
}

impl DecoderShape {
    /// A decoder over `env` inputs (1 ≤ env ≤ [`MAX_ENV`]) for `hidden` hidden units
    /// (1 ≤ hidden ≤ [`MAX_HIDDEN`]).
    pub fn new(env: usize, hidden: usize) -> Result<DecoderShape, Error> {
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
        Ok(DecoderShape { env, hidden })
    }

    /// Number of classes 2^N_h.
    pub fn states(&self) -> usize {
        1 << self.hidden
    }

    /// Length of the weight matrix U, `states · env`.
    pub fn weights(&self) -> usize {
        self.states() * self.env
    }
}

/// Number of rows in a batch buffer of `len` entries with rows of `width`.
fn batch_of(what: &'static str, width: usize, len: usize) -> Result<usize, Error> {
    if width == 0 || !len.is_multiple_of(width) {
        return Err(Error::BufferLength {
            what,
            expected: (len / width.max(1)) * width,
            got: len,
        });
    }
    Ok(len / width)
}

// ---------------------------------------------------------------------------------------
// Small helpers.

#[inline(always)]
pub(super) fn load(s: &[f32]) -> f32x8 {
    let mut x = [0.0f32; LANES];
    x.copy_from_slice(&s[..LANES]);
    f32x8::from(x)
}

#[inline(always)]
pub(super) fn store(x: f32x8, s: &mut [f32]) {
    s[..LANES].copy_from_slice(&x.to_array());
}

/// Column `col` of rows `n0..n0 + valid` of a row-major buffer with rows of `width`;
/// missing lanes are `fill`. The general (strided) path of [`cols_in`].
#[inline(always)]
fn gather(buf: &[f32], width: usize, n0: usize, valid: usize, col: usize, fill: f32) -> f32x8 {
    let mut x = [fill; LANES];
    for (k, xk) in x.iter_mut().enumerate().take(valid) {
        *xk = buf[(n0 + k) * width + col];
    }
    f32x8::from(x)
}

/// Store lanes `0..valid` into column `col` of rows `n0..`. The general path of
/// [`cols_out`].
#[inline(always)]
fn scatter(x: f32x8, buf: &mut [f32], width: usize, n0: usize, valid: usize, col: usize) {
    let x = x.to_array();
    for (k, &xk) in x.iter().enumerate().take(valid) {
        buf[(n0 + k) * width + col] = xk;
    }
}

/// `$f::<N>(args)` for the constant N equal to `$n` ∈ 1..=8 (anything above 8 takes 8):
/// the dispatch from a runtime width or N_h to the kernels instantiated per constant.
macro_rules! with_const {
    ($n:expr, $f:ident($($arg:expr),*)) => {
        match $n {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            6 => $f::<6>($($arg),*),
            7 => $f::<7>($($arg),*),
            _ => $f::<8>($($arg),*),
        }
    };
}

/// The 8 × W tile of rows `n0..n0 + 8` of a buffer with rows of W, transposed: `out[i]`
/// lane k is entry (n0 + k, i). W is a constant, so the compiler turns the fixed index
/// pattern into a few vector loads and shuffles.
#[inline(always)]
fn tile_in<const W: usize>(buf: &[f32], n0: usize, out: &mut [f32x8]) {
    let t = &buf[n0 * W..(n0 + LANES) * W];
    for (i, o) in out[..W].iter_mut().enumerate() {
        let mut x = [0.0f32; LANES];
        for (k, xk) in x.iter_mut().enumerate() {
            *xk = t[k * W + i];
        }
        *o = f32x8::from(x);
    }
}

/// The inverse of [`tile_in`]: entry (n0 + k, i) = `x[i]` lane k.
#[inline(always)]
fn tile_out<const W: usize>(x: &[f32x8], buf: &mut [f32], n0: usize) {
    let t = &mut buf[n0 * W..(n0 + LANES) * W];
    for (i, xi) in x[..W].iter().enumerate() {
        for (k, &xk) in xi.to_array().iter().enumerate() {
            t[k * W + i] = xk;
        }
    }
}

/// Columns `c0..c0 + count` (count = min(8, width − c0)) of rows `n0..n0 + valid` of a
/// row-major buffer with rows of `width`, one vector per column: `out[t]` lane k is entry
/// (n0 + k, c0 + t); lanes k ≥ `valid` are `fill`. Returns count; `out` holds at least
/// count vectors.
///
/// This is the layout change between the row-major batch buffers and the lane-per-sample
/// vectors. A full tile (8 rows) is transposed in registers: by a constant-width shuffle
/// pattern when the whole row fits (width ≤ 8), by an 8 × 8 transpose of row loads
/// otherwise; a partial tile (the batch's last) takes the strided path.
#[inline(always)]
pub(super) fn cols_in(
    buf: &[f32],
    width: usize,
    n0: usize,
    valid: usize,
    c0: usize,
    fill: f32,
    out: &mut [f32x8],
) -> usize {
    let count = (width - c0).min(LANES);
    if valid == LANES && c0 == 0 && width <= LANES {
        with_const!(width, tile_in(buf, n0, out))
    } else if valid == LANES && count == LANES {
        let mut rows = [f32x8::ZERO; LANES];
        for (k, r) in rows.iter_mut().enumerate() {
            *r = load(&buf[(n0 + k) * width + c0..]);
        }
        out[..LANES].copy_from_slice(&f32x8::transpose(rows));
    } else {
        for (t, o) in out[..count].iter_mut().enumerate() {
            *o = gather(buf, width, n0, valid, c0 + t, fill);
        }
    }
    count
}

/// The inverse of [`cols_in`]: stores `x[t]` lanes `0..valid` into column c0 + t of rows
/// `n0..`, for t < min(8, width − c0).
#[inline(always)]
fn cols_out(x: &[f32x8], buf: &mut [f32], width: usize, n0: usize, valid: usize, c0: usize) {
    let count = (width - c0).min(LANES);
    if valid == LANES && c0 == 0 && width <= LANES {
        with_const!(width, tile_out(x, buf, n0))
    } else if valid == LANES && count == LANES {
        let mut cols = [f32x8::ZERO; LANES];
        cols.copy_from_slice(&x[..LANES]);
        for (k, r) in f32x8::transpose(cols).iter().enumerate() {
            store(*r, &mut buf[(n0 + k) * width + c0..]);
        }
    } else {
        for (t, &xt) in x[..count].iter().enumerate() {
            scatter(xt, buf, width, n0, valid, c0 + t);
        }
    }
}

/// All `width` < [`NARROW`] columns of rows `n0..n0 + valid` (lane = row), into `out`.
#[inline(always)]
fn narrow_in(buf: &[f32], width: usize, n0: usize, valid: usize, out: &mut [f32x8; NARROW]) {
    let count = cols_in(buf, width, n0, valid, 0, 0.0, out);
    if width > count {
        cols_in(buf, width, n0, valid, count, 0.0, &mut out[count..]);
    }
}

/// Σ_i x_i y_i, `f32x8` over chunks of 8 with two accumulators, scalar tail.
#[inline]
pub(super) fn dot(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let full = n / LANES * LANES;
    let (mut s0, mut s1) = (f32x8::ZERO, f32x8::ZERO);
    let mut i = 0;
    while i + 2 * LANES <= full {
        s0 = load(&x[i..]).mul_add(load(&y[i..]), s0);
        s1 = load(&x[i + LANES..]).mul_add(load(&y[i + LANES..]), s1);
        i += 2 * LANES;
    }
    if i < full {
        s0 = load(&x[i..]).mul_add(load(&y[i..]), s0);
    }
    let mut s = (s0 + s1).reduce_add();
    for k in full..n {
        s += x[k] * y[k];
    }
    s
}

/// y += Σ_k coef[k] · rows[k] for up to 8 rows of length ≥ `y.len()`: each chunk of 8
/// entries of y is loaded once, takes its terms from the rows in order k = 0, 1, … (one
/// FMA each) in a register, and is stored once.
#[inline]
pub(super) fn axpy_rows(y: &mut [f32], coef: &[f32], rows: &[&[f32]]) {
    let n = y.len();
    let full = n / LANES * LANES;
    let m = coef.len().min(rows.len()).min(LANES);
    let mut cv = [f32x8::ZERO; LANES];
    for (v, &c) in cv.iter_mut().zip(&coef[..m]) {
        *v = f32x8::splat(c);
    }
    let rows = &rows[..m];
    if m == LANES {
        // A full tile: eight rows, a loop of constant length.
        let r: [&[f32]; LANES] = core::array::from_fn(|k| &rows[k][..full]);
        for (i, yc) in y[..full].chunks_exact_mut(LANES).enumerate() {
            let o = i * LANES;
            let mut acc = load(yc);
            for (c, rk) in cv.iter().zip(&r) {
                acc = c.mul_add(load(&rk[o..o + LANES]), acc);
            }
            store(acc, yc);
        }
    } else {
        for (i, yc) in y[..full].chunks_exact_mut(LANES).enumerate() {
            let mut acc = load(yc);
            for (c, r) in cv.iter().zip(rows) {
                acc = c.mul_add(load(&r[i * LANES..]), acc);
            }
            store(acc, yc);
        }
    }
    for (i, ym) in y.iter_mut().enumerate().skip(full) {
        for (&c, r) in coef.iter().zip(rows) {
            *ym += c * r[i];
        }
    }
}

/// e^x lane-wise for x ≤ 0 (−∞ included): the polynomial [`exp_wide`] (relative error
/// ≲ 3e−7), and exactly 0 below −87, where e^x < 2e−38.
#[inline(always)]
pub(super) fn exp_nonpositive(x: f32x8) -> f32x8 {
    let limit = f32x8::splat(-87.0);
    x.simd_lt(limit).select(f32x8::ZERO, exp_wide(x))
}

/// (σ(2a), σ(−2a)) lane-wise from x = e^{−2|a|}: both accurate in their tails.
#[inline(always)]
fn logistic_pair(a: f32x8) -> (f32x8, f32x8) {
    let x = exp_nonpositive(f32x8::splat(-2.0) * a.abs());
    let big = f32x8::ONE / (f32x8::ONE + x);
    let small = x * big;
    let pos = a.simd_ge(f32x8::ZERO);
    (pos.select(big, small), pos.select(small, big))
}

/// [`logistic_pair`] of each vector of `a` into `up` and `down` (at least as long).
/// Kept as a loop of its own so that the exponentials of successive vectors overlap.
#[inline]
fn logistic_pairs(a: &[f32x8], up: &mut [f32x8], down: &mut [f32x8]) {
    for ((&x, u), d) in a.iter().zip(up.iter_mut()).zip(down.iter_mut()) {
        (*u, *d) = logistic_pair(x);
    }
}

/// (σ(2a), σ(−2a)) in f64.
#[inline]
fn logistic_pair_f64(a: f64) -> (f64, f64) {
    let x = libm::exp(-2.0 * libm::fabs(a));
    let big = 1.0 / (1.0 + x);
    let small = x * big;
    if a >= 0.0 { (big, small) } else { (small, big) }
}

fn check_rule(shape: Shape, weights: &[f32], bias: &[f32]) -> Result<(), Error> {
    check_len("weights", shape.weights(), weights.len())?;
    check_len("bias", shape.hidden, bias.len())
}

// ---------------------------------------------------------------------------------------
// Rule forward.

/// Reference rule forward on a batch: `a[n·N_h + j] = b_j + Σ_i λ_ji v_ni` and
/// `p[n·2^N_h + s] = P(s | v_n)`, in `f64` (see the module docs).
pub fn rule_forward_scalar(
    shape: Shape,
    weights: &[f32],
    bias: &[f32],
    v: &[f32],
    a: &mut [f32],
    p: &mut [f32],
) -> Result<(), Error> {
    check_rule(shape, weights, bias)?;
    let n = batch_of("visible batch", shape.visible, v.len())?;
    check_len("preactivations", n * shape.hidden, a.len())?;
    check_len("hidden distributions", n * shape.states(), p.len())?;
    let (nh, nv, ns) = (shape.hidden, shape.visible, shape.states());
    for k in 0..n {
        let vk = &v[k * nv..(k + 1) * nv];
        let mut pp = [(0.0f64, 0.0f64); MAX_HIDDEN];
        for j in 0..nh {
            let row = &weights[j * nv..(j + 1) * nv];
            let mut s = bias[j] as f64;
            for (w, x) in row.iter().zip(vk) {
                s += *w as f64 * *x as f64;
            }
            a[k * nh + j] = s as f32;
            pp[j] = logistic_pair_f64(s);
        }
        for s in 0..ns {
            let mut q = 1.0f64;
            for (j, &(up, down)) in pp[..nh].iter().enumerate() {
                q *= if (s >> j) & 1 == 1 { up } else { down };
            }
            p[k * ns + s] = q as f32;
        }
    }
    Ok(())
}

/// `f32x8` rule forward; same contract as [`rule_forward_scalar`].
pub fn rule_forward(
    shape: Shape,
    weights: &[f32],
    bias: &[f32],
    v: &[f32],
    a: &mut [f32],
    p: &mut [f32],
) -> Result<(), Error> {
    check_rule(shape, weights, bias)?;
    let n = batch_of("visible batch", shape.visible, v.len())?;
    check_len("preactivations", n * shape.hidden, a.len())?;
    check_len("hidden distributions", n * shape.states(), p.len())?;
    let (nh, nv) = (shape.hidden, shape.visible);
    let wide_v = nv >= NARROW;
    if wide_v {
        for k in 0..n {
            let vk = &v[k * nv..(k + 1) * nv];
            for j in 0..nh {
                a[k * nh + j] = bias[j] + dot(&weights[j * nv..(j + 1) * nv], vk);
            }
        }
    }
    let args = (weights, bias, v, a, p);
    with_const!(nh, forward_tiles(nv, args));
    Ok(())
}

/// Buffers of [`rule_forward`]: weights, bias, v, a, P.
type ForwardArgs<'a> = (
    &'a [f32],
    &'a [f32],
    &'a [f32],
    &'a mut [f32],
    &'a mut [f32],
);

/// The lane-per-sample part of [`rule_forward`] for N_h = `NH` (a constant, so the loops
/// over hidden units and states unroll): the pre-activations when |V| < 16 (else `a`
/// already holds them), the logistic factors and P, by groups of tiles.
fn forward_tiles<const NH: usize>(nv: usize, (weights, bias, v, a, p): ForwardArgs<'_>) {
    let (nh, ns) = (NH, 1 << NH);
    let n = a.len() / nh;
    let wide_v = nv >= NARROW;
    let mut ps = [f32x8::ZERO; MAX_STATES];
    let mut pre = [f32x8::ZERO; GROUP * MAX_HIDDEN];
    let mut up = [f32x8::ZERO; GROUP * MAX_HIDDEN];
    let mut down = [f32x8::ZERO; GROUP * MAX_HIDDEN];
    let mut g0 = 0;
    while g0 < n {
        let tiles = (n - g0).div_ceil(LANES).min(GROUP);
        // Stage 1: pre-activations of the group's tiles, `pre[t·N_h + j]`.
        for (t, aj) in pre.chunks_exact_mut(nh).take(tiles).enumerate() {
            let n0 = g0 + t * LANES;
            let valid = (n - n0).min(LANES);
            if wide_v {
                cols_in(a, nh, n0, valid, 0, 0.0, aj);
            } else {
                let mut vi = [f32x8::ZERO; NARROW];
                narrow_in(v, nv, n0, valid, &mut vi);
                for (j, x) in aj.iter_mut().enumerate() {
                    let mut s = f32x8::splat(bias[j]);
                    for (i, &vv) in vi[..nv].iter().enumerate() {
                        s = f32x8::splat(weights[j * nv + i]).mul_add(vv, s);
                    }
                    *x = s;
                }
                cols_out(aj, a, nh, n0, valid, 0);
            }
        }
        // Stage 2: the logistic factors in one loop of independent vectors.
        logistic_pairs(&pre[..tiles * nh], &mut up, &mut down);
        // Stage 3: products over the hidden units, stored row-major.
        for t in 0..tiles {
            let n0 = g0 + t * LANES;
            let valid = (n - n0).min(LANES);
            ps[0] = f32x8::ONE;
            for j in 0..nh {
                let (u, d) = (up[t * nh + j], down[t * nh + j]);
                let half = 1 << j;
                for s in 0..half {
                    ps[s + half] = ps[s] * u;
                    ps[s] *= d;
                }
            }
            for c0 in (0..ns).step_by(LANES) {
                cols_out(&ps[c0..], p, ns, n0, valid, c0);
            }
        }
        g0 += tiles * LANES;
    }
}

// ---------------------------------------------------------------------------------------
// Rule gradient contraction.

fn check_gradient_buffers(
    shape: Shape,
    n: usize,
    a: &[f32],
    p: &[f32],
    c: &[f32],
    grad_w: &[f32],
    grad_b: &[f32],
) -> Result<(), Error> {
    check_len("preactivations", n * shape.hidden, a.len())?;
    check_len("hidden distributions", n * shape.states(), p.len())?;
    check_len("coefficients", n * shape.states(), c.len())?;
    check_len("weight gradient", shape.weights(), grad_w.len())?;
    check_len("bias gradient", shape.hidden, grad_b.len())
}

/// Reference contraction: `grad_w[j·|V| + i] += Σ_n g_nj v_ni`, `grad_b[j] += Σ_n g_nj`
/// with g_nj = Σ_s c\[n,s\] P(s|v_n) (h_j − tanh a_nj), i.e. Σ_n Σ_s c\[n,s\] ∂P(s|v_n)/∂θ.
/// `a` and `p` are the outputs of a rule forward on `v`. Sums over s in `f64`;
/// accumulated into the `f32` gradients sample by sample.
pub fn rule_gradient_scalar(
    shape: Shape,
    v: &[f32],
    a: &[f32],
    p: &[f32],
    c: &[f32],
    grad_w: &mut [f32],
    grad_b: &mut [f32],
) -> Result<(), Error> {
    let n = batch_of("visible batch", shape.visible, v.len())?;
    check_gradient_buffers(shape, n, a, p, c, grad_w, grad_b)?;
    let (nh, nv, ns) = (shape.hidden, shape.visible, shape.states());
    for k in 0..n {
        let vk = &v[k * nv..(k + 1) * nv];
        for j in 0..nh {
            let (up, down) = logistic_pair_f64(a[k * nh + j] as f64);
            let mut g = 0.0f64;
            for s in 0..ns {
                // h_j − tanh a = 2σ(−2a) for h_j = +1, −2σ(2a) for h_j = −1.
                let d = if (s >> j) & 1 == 1 {
                    2.0 * down
                } else {
                    -2.0 * up
                };
                g += c[k * ns + s] as f64 * p[k * ns + s] as f64 * d;
            }
            grad_b[j] += g as f32;
            for (gw, &x) in grad_w[j * nv..(j + 1) * nv].iter_mut().zip(vk) {
                *gw += (g * x as f64) as f32;
            }
        }
    }
    Ok(())
}

/// `f32x8` contraction; same contract as [`rule_gradient_scalar`].
pub fn rule_gradient(
    shape: Shape,
    v: &[f32],
    a: &[f32],
    p: &[f32],
    c: &[f32],
    grad_w: &mut [f32],
    grad_b: &mut [f32],
) -> Result<(), Error> {
    let n = batch_of("visible batch", shape.visible, v.len())?;
    check_gradient_buffers(shape, n, a, p, c, grad_w, grad_b)?;
    let (nh, nv) = (shape.hidden, shape.visible);
    let args = (v, a, p, c, grad_w, grad_b);
    with_const!(nh, gradient_tiles(nv, args));
    Ok(())
}

/// Buffers of [`rule_gradient`]: v, a, P, c, the weight and the bias gradients.
type GradientArgs<'a> = (
    &'a [f32],
    &'a [f32],
    &'a [f32],
    &'a [f32],
    &'a mut [f32],
    &'a mut [f32],
);

/// [`rule_gradient`] for N_h = `NH` (a constant, so the loops over hidden units and states
/// unroll), by groups of tiles.
fn gradient_tiles<const NH: usize>(nv: usize, (v, a, p, c, grad_w, grad_b): GradientArgs<'_>) {
    let (nh, ns) = (NH, 1 << NH);
    let n = a.len() / nh;
    let wide_v = nv >= NARROW;
    // Batch-vectorised accumulators (used when |V| < 16).
    let mut acc_w = [f32x8::ZERO; MAX_HIDDEN * NARROW];
    let mut acc_b = [f32x8::ZERO; MAX_HIDDEN];
    let mut pre = [f32x8::ZERO; GROUP * MAX_HIDDEN];
    let mut up = [f32x8::ZERO; GROUP * MAX_HIDDEN];
    let mut down = [f32x8::ZERO; GROUP * MAX_HIDDEN];
    // Σ_s c P over s with bit j set (`on`), and over all s (`total`), per tile.
    let mut on = [f32x8::ZERO; GROUP * MAX_HIDDEN];
    let mut total = [f32x8::ZERO; GROUP];
    let (mut cs, mut pr) = ([f32x8::ZERO; LANES], [f32x8::ZERO; LANES]);
    let mut g0 = 0;
    while g0 < n {
        let tiles = (n - g0).div_ceil(LANES).min(GROUP);
        // Stage 1: the sums of c P, and the pre-activations.
        for t in 0..tiles {
            let n0 = g0 + t * LANES;
            let valid = (n - n0).min(LANES);
            let on_t = &mut on[t * nh..(t + 1) * nh];
            on_t.fill(f32x8::ZERO);
            let mut sum = f32x8::ZERO;
            for c0 in (0..ns).step_by(LANES) {
                let count = cols_in(c, ns, n0, valid, c0, 0.0, &mut cs);
                cols_in(p, ns, n0, valid, c0, 0.0, &mut pr);
                for (u, (&csu, &pru)) in cs[..count].iter().zip(&pr).enumerate() {
                    let cp = csu * pru;
                    sum += cp;
                    for (j, o) in on_t.iter_mut().enumerate() {
                        if ((c0 + u) >> j) & 1 == 1 {
                            *o += cp;
                        }
                    }
                }
            }
            total[t] = sum;
            cols_in(a, nh, n0, valid, 0, 0.0, &mut pre[t * nh..(t + 1) * nh]);
        }
        // Stage 2: the logistic factors in one loop of independent vectors.
        logistic_pairs(&pre[..tiles * nh], &mut up, &mut down);
        // Stage 3: g_j = Σ_s c P (h_j − tanh a_j), contracted with v.
        for (t, &tot) in total[..tiles].iter().enumerate() {
            let n0 = g0 + t * LANES;
            let valid = (n - n0).min(LANES);
            let mut g = [f32x8::ZERO; MAX_HIDDEN];
            for (j, gj) in g[..nh].iter_mut().enumerate() {
                let x = t * nh + j;
                let off = tot - on[x];
                *gj = f32x8::splat(2.0) * (down[x] * on[x] - up[x] * off);
                acc_b[j] += *gj;
            }
            if wide_v {
                let mut rows: [&[f32]; LANES] = [&[]; LANES];
                for (k, r) in rows.iter_mut().enumerate().take(valid) {
                    *r = &v[(n0 + k) * nv..(n0 + k + 1) * nv];
                }
                for (j, gj) in g[..nh].iter().enumerate() {
                    let coef = gj.to_array();
                    axpy_rows(
                        &mut grad_w[j * nv..(j + 1) * nv],
                        &coef[..valid],
                        &rows[..valid],
                    );
                }
            } else {
                let mut vi = [f32x8::ZERO; NARROW];
                narrow_in(v, nv, n0, valid, &mut vi);
                for (i, &x) in vi[..nv].iter().enumerate() {
                    for (j, gj) in g[..nh].iter().enumerate() {
                        acc_w[j * NARROW + i] = gj.mul_add(x, acc_w[j * NARROW + i]);
                    }
                }
            }
        }
        g0 += tiles * LANES;
    }
    for j in 0..nh {
        grad_b[j] += acc_b[j].reduce_add();
        if !wide_v {
            for i in 0..nv {
                grad_w[j * nv + i] += acc_w[j * NARROW + i].reduce_add();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Decoder.

fn check_decoder(shape: DecoderShape, u: &[f32], d: &[f32]) -> Result<(), Error> {
    check_len("decoder weights", shape.weights(), u.len())?;
    check_len("decoder bias", shape.states(), d.len())
}

/// Reference decoder forward: `logq[n·2^N_h + s] = ln q_φ(s | e_n)` for the linear
/// softmax z_s = d_s + Σ_m U_sm e_nm, in `f64` (max-shifted log-sum-exp).
pub fn decoder_forward_scalar(
    shape: DecoderShape,
    u: &[f32],
    d: &[f32],
    e: &[f32],
    logq: &mut [f32],
) -> Result<(), Error> {
    check_decoder(shape, u, d)?;
    let n = batch_of("environment batch", shape.env, e.len())?;
    check_len("decoder log-probabilities", n * shape.states(), logq.len())?;
    let (ne, ns) = (shape.env, shape.states());
    let mut z = [0.0f64; MAX_STATES];
    for k in 0..n {
        let ek = &e[k * ne..(k + 1) * ne];
        let mut max = f64::NEG_INFINITY;
        for s in 0..ns {
            let mut t = d[s] as f64;
            for (w, x) in u[s * ne..(s + 1) * ne].iter().zip(ek) {
                t += *w as f64 * *x as f64;
            }
            z[s] = t;
            max = max.max(t);
        }
        let sum: f64 = z[..ns].iter().map(|&t| libm::exp(t - max)).sum();
        let lse = max + libm::log(sum);
        for s in 0..ns {
            logq[k * ns + s] = (z[s] - lse) as f32;
        }
    }
    Ok(())
}

/// `f32x8` decoder forward; same contract as [`decoder_forward_scalar`].
pub fn decoder_forward(
    shape: DecoderShape,
    u: &[f32],
    d: &[f32],
    e: &[f32],
    logq: &mut [f32],
) -> Result<(), Error> {
    check_decoder(shape, u, d)?;
    let n = batch_of("environment batch", shape.env, e.len())?;
    check_len("decoder log-probabilities", n * shape.states(), logq.len())?;
    let (ne, ns) = (shape.env, shape.states());
    let full = ne / LANES * LANES;
    // Logits: four classes at a time share each load of e.
    for k in 0..n {
        let ek = &e[k * ne..(k + 1) * ne];
        let out = &mut logq[k * ns..(k + 1) * ns];
        let mut s = 0;
        while s + 4 <= ns {
            let r = [
                &u[s * ne..(s + 1) * ne],
                &u[(s + 1) * ne..(s + 2) * ne],
                &u[(s + 2) * ne..(s + 3) * ne],
                &u[(s + 3) * ne..(s + 4) * ne],
            ];
            let mut acc = [f32x8::ZERO; 4];
            let mut i = 0;
            while i < full {
                let x = load(&ek[i..]);
                for (t, row) in acc.iter_mut().zip(&r) {
                    *t = load(&row[i..]).mul_add(x, *t);
                }
                i += LANES;
            }
            for q in 0..4 {
                let mut t = acc[q].reduce_add() + d[s + q];
                for m in full..ne {
                    t += r[q][m] * ek[m];
                }
                out[s + q] = t;
            }
            s += 4;
        }
        // Two classes (N_h = 1, or the rest of a larger set) share each load of e too.
        while s + 2 <= ns {
            let (r0, r1) = (&u[s * ne..(s + 1) * ne], &u[(s + 1) * ne..(s + 2) * ne]);
            let (mut a0, mut a1) = (f32x8::ZERO, f32x8::ZERO);
            for ((x, w0), w1) in ek[..full]
                .chunks_exact(LANES)
                .zip(r0.chunks_exact(LANES))
                .zip(r1.chunks_exact(LANES))
            {
                let x = load(x);
                a0 = load(w0).mul_add(x, a0);
                a1 = load(w1).mul_add(x, a1);
            }
            let (mut t0, mut t1) = (a0.reduce_add() + d[s], a1.reduce_add() + d[s + 1]);
            for m in full..ne {
                t0 += r0[m] * ek[m];
                t1 += r1[m] * ek[m];
            }
            out[s] = t0;
            out[s + 1] = t1;
            s += 2;
        }
        while s < ns {
            out[s] = d[s] + dot(&u[s * ne..(s + 1) * ne], ek);
            s += 1;
        }
    }
    // Log-softmax, 8 samples at a time.
    let mut zs = [f32x8::ZERO; MAX_STATES];
    let mut n0 = 0;
    while n0 < n {
        let valid = (n - n0).min(LANES);
        for c0 in (0..ns).step_by(LANES) {
            cols_in(logq, ns, n0, valid, c0, 0.0, &mut zs[c0..]);
        }
        let mut max = f32x8::splat(f32::NEG_INFINITY);
        for z in &zs[..ns] {
            max = max.max(*z);
        }
        let mut sum = f32x8::ZERO;
        for z in &zs[..ns] {
            sum += exp_nonpositive(*z - max);
        }
        let lse = max + sum.ln();
        for z in zs[..ns].iter_mut() {
            *z -= lse;
        }
        for c0 in (0..ns).step_by(LANES) {
            cols_out(&zs[c0..], logq, ns, n0, valid, c0);
        }
        n0 += LANES;
    }
    Ok(())
}

fn check_backward(
    shape: DecoderShape,
    n: usize,
    target: &[f32],
    logq: &[f32],
    grad_u: &[f32],
    grad_d: &[f32],
) -> Result<(), Error> {
    check_len("targets", n * shape.states(), target.len())?;
    check_len("decoder log-probabilities", n * shape.states(), logq.len())?;
    check_len("decoder weight gradient", shape.weights(), grad_u.len())?;
    check_len("decoder bias gradient", shape.states(), grad_d.len())
}

/// Reference decoder backward: with r\[n,s\] = scale · (target\[n,s\] − q(s|e_n)),
/// `grad_u[s·|E| + m] += Σ_n r[n,s] e_nm` and `grad_d[s] += Σ_n r[n,s]` — the gradient of
/// `scale · Σ_n Σ_s target[n,s] ln q(s|e_n)` when each target row sums to one (soft-label
/// cross-entropy). r in `f64`; accumulated into the `f32` gradients sample by sample.
pub fn decoder_backward_scalar(
    shape: DecoderShape,
    e: &[f32],
    target: &[f32],
    logq: &[f32],
    scale: f32,
    grad_u: &mut [f32],
    grad_d: &mut [f32],
) -> Result<(), Error> {
    let n = batch_of("environment batch", shape.env, e.len())?;
    check_backward(shape, n, target, logq, grad_u, grad_d)?;
    let (ne, ns) = (shape.env, shape.states());
    for k in 0..n {
        let ek = &e[k * ne..(k + 1) * ne];
        for s in 0..ns {
            let r = scale as f64 * (target[k * ns + s] as f64 - libm::exp(logq[k * ns + s] as f64));
            grad_d[s] += r as f32;
            for (g, &x) in grad_u[s * ne..(s + 1) * ne].iter_mut().zip(ek) {
                *g += (r * x as f64) as f32;
            }
        }
    }
    Ok(())
}

/// `f32x8` decoder backward; same contract as [`decoder_backward_scalar`]. Each chunk of
/// a gradient row is loaded and stored once per 8 samples.
pub fn decoder_backward(
    shape: DecoderShape,
    e: &[f32],
    target: &[f32],
    logq: &[f32],
    scale: f32,
    grad_u: &mut [f32],
    grad_d: &mut [f32],
) -> Result<(), Error> {
    let n = batch_of("environment batch", shape.env, e.len())?;
    check_backward(shape, n, target, logq, grad_u, grad_d)?;
    let (ne, ns) = (shape.env, shape.states());
    let sc = f32x8::splat(scale);
    let mut acc_d = [f32x8::ZERO; MAX_STATES];
    let mut r = [f32x8::ZERO; MAX_STATES];
    let mut n0 = 0;
    while n0 < n {
        let valid = (n - n0).min(LANES);
        let (mut t, mut lq) = ([f32x8::ZERO; LANES], [f32x8::ZERO; LANES]);
        for c0 in (0..ns).step_by(LANES) {
            let count = cols_in(target, ns, n0, valid, c0, 0.0, &mut t);
            // Missing lanes: log q = −∞ gives q = 0 and r = 0.
            cols_in(logq, ns, n0, valid, c0, f32::NEG_INFINITY, &mut lq);
            for (u, (&tu, &lqu)) in t[..count].iter().zip(&lq).enumerate() {
                let rs = sc * (tu - exp_nonpositive(lqu));
                r[c0 + u] = rs;
                acc_d[c0 + u] += rs;
            }
        }
        let mut rows: [&[f32]; LANES] = [&[]; LANES];
        for (k, row) in rows.iter_mut().enumerate().take(valid) {
            *row = &e[(n0 + k) * ne..(n0 + k + 1) * ne];
        }
        for (s, rs) in r[..ns].iter().enumerate() {
            let coef = rs.to_array();
            axpy_rows(
                &mut grad_u[s * ne..(s + 1) * ne],
                &coef[..valid],
                &rows[..valid],
            );
        }
        n0 += LANES;
    }
    for (g, acc) in grad_d.iter_mut().zip(&acc_d[..ns]) {
        *g += acc.reduce_add();
    }
    Ok(())
}

#[cfg(test)]
mod tests;
