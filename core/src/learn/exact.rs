//! The `exact` estimator E0 (docs/method.md#estimators): joint tables P(V, E) computed exactly
//! (1D transfer matrix, or enumeration of a tiny Ising system), the mutual information
//! I(V:E), the information I_Λ(H:E) kept by a rule and its exact gradient (docs/method.md#exact-gradients), and the
//! information kept by any channel given as a table P(h|v).
//!
//! Everything is `f64`, allocation-free, and meant for tests and small calibrations.
//!
//! # Indexing conventions
//! - **Visible configurations.** Index `v` in `0..2^|V|`; bit i of `v` set ↔ v_i = +1,
//!   clear ↔ v_i = −1 ([`spins_of`]). The same convention as the hidden index of
//!   [`super::rule`].
//! - **Environment configurations.** Index `e` in `0..n_E`. For spin environments
//!   (everything built here) n_E = 2^|E| and bit m of `e` ↔ e_m = +1.
//! - **Joint table.** `joint[v · n_E + e] = P(V = v, E = e)` (row-major, one row per
//!   visible configuration), of length 2^|V| · n_E, non-negative and summing to 1.
//! - **Channel table.** `channel[v · n_H + s] = P(H = s | V = v)` (one row per visible
//!   configuration, n_H = 2^{N_h} hidden configurations, bit j of `s` ↔ h_j = +1).

use super::rule::{self, Shape};
use crate::error::{Error, check_len};

/// Most visible spins a table may have (2¹⁶ visible configurations).
pub const MAX_VISIBLE: usize = 16;

/// Most sites of a system enumerated by [`enumerate_joint`] (2²⁰ configurations).
pub const MAX_SITES: usize = 20;

/// Most bonds of a system enumerated by [`enumerate_joint`].
pub const MAX_BONDS: usize = 80;

/// Number of environment configurations of [`chain_joint`]: the two spins next to the
/// buffers.
pub const CHAIN_ENV_STATES: usize = 4;

/// Most hidden configurations (2^[`rule::MAX_HIDDEN`]).
const MAX_STATES: usize = 1 << rule::MAX_HIDDEN;

/// Tolerance on Σ P = 1 for a joint table.
const NORM_TOLERANCE: f64 = 1e-9;

/// x ln x with 0 ln 0 = 0.
#[inline]
fn xlnx(x: f64) -> f64 {
    if x > 0.0 { x * libm::log(x) } else { 0.0 }
}

/// Number of visible configurations 2^`visible` (1 ≤ visible ≤ [`MAX_VISIBLE`]).
pub fn visible_states(visible: usize) -> Result<usize, Error> {
    if visible == 0 || visible > MAX_VISIBLE {
        return Err(Error::InvalidParameter(
            "exact tables need between 1 and 16 visible spins",
        ));
    }
    Ok(1 << visible)
}

/// The ±1 spins of visible configuration `index`: `out[i] = +1` when bit i is set, −1
/// otherwise (`out.len()` spins are written).
pub fn spins_of(index: usize, out: &mut [f64]) {
    for (i, x) in out.iter_mut().enumerate() {
        *x = if (index >> i) & 1 == 1 { 1.0 } else { -1.0 };
    }
}

/// Check that `joint` is a probability table of 2^`visible` × `env_states` entries.
fn check_joint(visible: usize, env_states: usize, joint: &[f64]) -> Result<usize, Error> {
    let nv = visible_states(visible)?;
    if env_states == 0 {
        return Err(Error::InvalidParameter(
            "there must be at least one environment configuration",
        ));
    }
    check_len("joint table", nv * env_states, joint.len())?;
    let mut sum = 0.0;
    for &p in joint {
        if !(p >= 0.0 && p.is_finite()) {
            return Err(Error::InvalidParameter(
                "joint table entries must be finite and non-negative",
            ));
        }
        sum += p;
    }
    if libm::fabs(sum - 1.0) > NORM_TOLERANCE {
        return Err(Error::InvalidParameter("the joint table must sum to 1"));
    }
    Ok(nv)
}

/// Joint table of the infinite 1D Ising chain H = −K Σ s_i s_{i+1} (docs/method.md#ising-1d-exact-table):
/// V = `block` consecutive spins v_0 … v_{L_V−1}, `buffer` spins discarded on
/// each side, and E = the two spins adjacent to the buffers, e_0 on the left (bit 0 of the
/// environment index) and e_1 on the right (bit 1); n_E = [`CHAIN_ENV_STATES`].
///
/// The chain is a stationary Markov chain: P(s' | s at distance d) = (1 + s s' t^d)/2 with
/// t = tanh K, and each site is ±1 with probability ½. By the Markov property V is
/// independent of every spin beyond e_0 and e_1 given (e_0, e_1), so I(V:E) with E = these
/// two spins equals I(V:E) with E = the whole rest of the chain (checked against the
/// enumeration of an open chain in the tests).
///
/// `table` has 2^`block` · 4 entries (see the module's indexing).
pub fn chain_joint(
    coupling: f64,
    block: usize,
    buffer: usize,
    table: &mut [f64],
) -> Result<(), Error> {
    if !coupling.is_finite() {
        return Err(Error::InvalidTemperature);
    }
    let nv = visible_states(block)?;
    check_len("joint table", nv * CHAIN_ENV_STATES, table.len())?;
    let t = libm::tanh(coupling);
    let t_near = t;
    let t_far = libm::pow(t, (buffer + 1) as f64);
    let link = |a: f64, b: f64, td: f64| 0.5 * (1.0 + a * b * td);
    let mut v = [0.0f64; MAX_VISIBLE];
    for vi in 0..nv {
        spins_of(vi, &mut v[..block]);
        let mut inner = 0.5;
        for i in 1..block {
            inner *= link(v[i - 1], v[i], t_near);
        }
        for e in 0..CHAIN_ENV_STATES {
            let left = if e & 1 == 1 { 1.0 } else { -1.0 };
            let right = if e & 2 == 2 { 1.0 } else { -1.0 };
            // P(e_0) P(v_0|e_0) Π P(v_i|v_{i−1}) P(e_1|v_{L−1}), with P(e_0) = P(v_0) = ½.
            table[vi * CHAIN_ENV_STATES + e] =
                inner * link(left, v[0], t_far) * link(v[block - 1], right, t_far);
        }
    }
    Ok(())
}

/// Bonds of a chain of `sites` spins, 0–1, 1–2, …, plus (N−1)–0 when `periodic`. Writes
/// them to the front of `bonds` and returns how many (N − 1, or N for a ring).
pub fn chain_bonds(sites: usize, periodic: bool, bonds: &mut [[usize; 2]]) -> Result<usize, Error> {
    if sites < 2 || (periodic && sites < 3) {
        return Err(Error::InvalidParameter(
            "a chain needs at least 2 sites (3 for a ring)",
        ));
    }
    let n = if periodic { sites } else { sites - 1 };
    if bonds.len() < n {
        return Err(Error::BufferLength {
            what: "bonds",
            expected: n,
            got: bonds.len(),
        });
    }
    for (i, b) in bonds[..n].iter_mut().enumerate() {
        *b = [i, (i + 1) % sites];
    }
    Ok(n)
}

/// Bonds of an `lx` × `ly` torus (site y·lx + x; each site bonded to its right and lower
/// neighbour with periodic wrap, 2·lx·ly bonds; a side of 2 gives doubled bonds, as in the
/// usual periodic convention). Writes them to the front of `bonds` and returns how many.
pub fn torus_bonds(lx: usize, ly: usize, bonds: &mut [[usize; 2]]) -> Result<usize, Error> {
    if lx < 2 || ly < 2 {
        return Err(Error::InvalidParameter("a torus needs sides of at least 2"));
    }
    let n = 2 * lx * ly;
    if bonds.len() < n {
        return Err(Error::BufferLength {
            what: "bonds",
            expected: n,
            got: bonds.len(),
        });
    }
    for y in 0..ly {
        for x in 0..lx {
            let i = y * lx + x;
            bonds[2 * i] = [i, y * lx + (x + 1) % lx];
            bonds[2 * i + 1] = [i, ((y + 1) % ly) * lx + x];
        }
    }
    Ok(n)
}

/// Joint table of a tiny Ising system by enumeration: P(s) ∝ exp(K Σ_{bonds} s_a s_b) over
/// all 2^`sites` configurations (site i of configuration c is +1 when bit i of c is set),
/// summed into `table[v · 2^|E| + e]` with v_i = s_{visible\[i\]} and e_m = s_{environment\[m\]}
/// (module indexing). The remaining sites are summed over (buffer and beyond).
///
/// Limits: `sites` ≤ [`MAX_SITES`], bonds ≤ [`MAX_BONDS`], 1 ≤ |V| ≤ [`MAX_VISIBLE`],
/// |E| ≥ 0, V and E disjoint, all indices < `sites`. `table` has 2^{|V|+|E|} entries.
pub fn enumerate_joint(
    sites: usize,
    bonds: &[[usize; 2]],
    coupling: f64,
    visible: &[usize],
    environment: &[usize],
    table: &mut [f64],
) -> Result<(), Error> {
    if sites == 0 || sites > MAX_SITES {
        return Err(Error::UnsupportedSize {
            size: sites,
            requirement: "enumeration needs between 1 and 20 sites",
        });
    }
    if bonds.len() > MAX_BONDS {
        return Err(Error::InvalidParameter(
            "enumeration allows at most 80 bonds",
        ));
    }
    if !coupling.is_finite() {
        return Err(Error::InvalidTemperature);
    }
    let nv = visible_states(visible.len())?;
    let mut used = 0u32;
    for &i in visible.iter().chain(environment) {
        if i >= sites {
            return Err(Error::InvalidParameter(
                "a V or E site is outside the system",
            ));
        }
        if used >> i & 1 == 1 {
            return Err(Error::InvalidParameter(
                "V and E sites must be distinct and disjoint",
            ));
        }
        used |= 1 << i;
    }
    for b in bonds {
        if b[0] >= sites || b[1] >= sites {
            return Err(Error::InvalidParameter(
                "a bond names a site outside the system",
            ));
        }
    }
    let ne = 1usize << environment.len();
    check_len("joint table", nv * ne, table.len())?;
    // Weight of a configuration with `sat` satisfied bonds: exp(K(2 sat − n_b)), shifted by
    // |K| n_b so every weight is ≤ 1.
    let nb = bonds.len();
    let mut weight = [0.0f64; MAX_BONDS + 1];
    for (sat, w) in weight[..=nb].iter_mut().enumerate() {
        let sum = 2.0 * sat as f64 - nb as f64;
        *w = libm::exp(coupling * sum - libm::fabs(coupling) * nb as f64);
    }
    table.fill(0.0);
    let mut z = 0.0;
    for c in 0u32..(1u32 << sites) {
        let sat = bonds
            .iter()
            .filter(|b| ((c >> b[0]) ^ (c >> b[1])) & 1 == 0)
            .count();
        let mut vi = 0usize;
        for (i, &site) in visible.iter().enumerate() {
            vi |= ((c >> site) as usize & 1) << i;
        }
        let mut ei = 0usize;
        for (m, &site) in environment.iter().enumerate() {
            ei |= ((c >> site) as usize & 1) << m;
        }
        let w = weight[sat];
        table[vi * ne + ei] += w;
        z += w;
    }
    for p in table.iter_mut() {
        *p /= z;
    }
    Ok(())
}

/// I(V:E) = H(V) + H(E) − H(V, E) of a joint table (nats).
pub fn mutual_information(visible: usize, env_states: usize, joint: &[f64]) -> Result<f64, Error> {
    let nv = check_joint(visible, env_states, joint)?;
    let mut h_v = 0.0;
    let mut h_ve = 0.0;
    for row in joint.chunks_exact(env_states) {
        h_v -= xlnx(row.iter().sum());
        h_ve -= row.iter().map(|&p| xlnx(p)).sum::<f64>();
    }
    let mut h_e = 0.0;
    for e in 0..env_states {
        h_e -= xlnx((0..nv).map(|v| joint[v * env_states + e]).sum());
    }
    Ok(h_v + h_e - h_ve)
}

/// P(V = v | E = e) for every v, written to `out` (2^`visible` entries); returns P(E = e).
/// An environment of probability 0 is an error.
pub fn conditional_visible(
    visible: usize,
    env_states: usize,
    joint: &[f64],
    e: usize,
    out: &mut [f64],
) -> Result<f64, Error> {
    let nv = check_joint(visible, env_states, joint)?;
    check_len("conditional", nv, out.len())?;
    if e >= env_states {
        return Err(Error::InvalidParameter("environment index out of range"));
    }
    let mut pe = 0.0;
    for (v, o) in out.iter_mut().enumerate() {
        *o = joint[v * env_states + e];
        pe += *o;
    }
    if pe <= 0.0 {
        return Err(Error::InvalidParameter("the environment has probability 0"));
    }
    for o in out.iter_mut() {
        *o /= pe;
    }
    Ok(pe)
}

/// The full table of the rule, `table[v · 2^{N_h} + s] = P_Λ(H = s | V = v)` over all
/// 2^|V| visible configurations (|V| ≤ [`MAX_VISIBLE`]; v as ±1 spins, module indexing).
pub fn rule_table(
    shape: Shape,
    weights: &[f64],
    bias: &[f64],
    table: &mut [f64],
) -> Result<(), Error> {
    let nv = visible_states(shape.visible)?;
    check_len("weights", shape.weights(), weights.len())?;
    check_len("bias", shape.hidden, bias.len())?;
    let ns = shape.states();
    check_len("rule table", nv * ns, table.len())?;
    let mut v = [0.0f64; MAX_VISIBLE];
    let mut a = [0.0f64; rule::MAX_HIDDEN];
    for (vi, row) in table.chunks_exact_mut(ns).enumerate() {
        spins_of(vi, &mut v[..shape.visible]);
        rule::preactivations(
            shape,
            weights,
            bias,
            &v[..shape.visible],
            &mut a[..shape.hidden],
        )?;
        rule::hidden_distribution(shape, &a[..shape.hidden], row)?;
    }
    Ok(())
}

/// Deterministic channel H = (v_{sites\[0\]}, v_{sites\[1\]}, …): h_j = v_{sites\[j\]}, so
/// `table[v · 2^{N_h} + s]` is 1 when bit j of s equals bit `sites[j]` of v for every j,
/// and 0 otherwise. `sites = [0]` is decimation to v₁ (docs/method.md#ising-1d-exact-table); `[0, L_V − 1]`
/// keeps both edge spins.
pub fn spin_channel(visible: usize, sites: &[usize], table: &mut [f64]) -> Result<(), Error> {
    let nv = visible_states(visible)?;
    if sites.is_empty() || sites.len() > rule::MAX_HIDDEN {
        return Err(Error::InvalidParameter(
            "a spin channel keeps between 1 and 8 spins",
        ));
    }
    if sites.iter().any(|&i| i >= visible) {
        return Err(Error::InvalidParameter("a kept spin is outside the block"));
    }
    let ns = 1usize << sites.len();
    check_len("channel table", nv * ns, table.len())?;
    for (v, row) in table.chunks_exact_mut(ns).enumerate() {
        let mut kept = 0usize;
        for (j, &i) in sites.iter().enumerate() {
            kept |= ((v >> i) & 1) << j;
        }
        for (s, p) in row.iter_mut().enumerate() {
            *p = if s == kept { 1.0 } else { 0.0 };
        }
    }
    Ok(())
}

/// Majority channel with one hidden spin: h = sgn Σ_i v_i, ties (even |V|) split 50/50.
/// `table` has 2^|V| · 2 entries (s = 1 ↔ h = +1).
pub fn majority_channel(visible: usize, table: &mut [f64]) -> Result<(), Error> {
    let nv = visible_states(visible)?;
    check_len("channel table", nv * 2, table.len())?;
    for (v, row) in table.chunks_exact_mut(2).enumerate() {
        let up = (v as u32).count_ones() as i64;
        let sum = 2 * up - visible as i64;
        let p_up = match sum.signum() {
            1 => 1.0,
            -1 => 0.0,
            _ => 0.5,
        };
        row[0] = 1.0 - p_up;
        row[1] = p_up;
    }
    Ok(())
}

/// I(H:E) = H(H) + H(E) − H(H, E) for a channel given as a table P(h|v) (module
/// indexing; `hidden_states` = n_H ≤ 256 columns, rows summing to 1), with
/// P(h, e) = Σ_v P(v, e) P(h|v).
pub fn channel_information(
    visible: usize,
    env_states: usize,
    joint: &[f64],
    hidden_states: usize,
    channel: &[f64],
) -> Result<f64, Error> {
    let nv = check_joint(visible, env_states, joint)?;
    if hidden_states == 0 || hidden_states > MAX_STATES {
        return Err(Error::InvalidParameter(
            "a channel has between 1 and 256 hidden configurations",
        ));
    }
    check_len("channel table", nv * hidden_states, channel.len())?;
    for row in channel.chunks_exact(hidden_states) {
        let s: f64 = row.iter().sum();
        if row.iter().any(|&p| !(p >= 0.0 && p.is_finite())) || libm::fabs(s - 1.0) > NORM_TOLERANCE
        {
            return Err(Error::InvalidParameter(
                "channel rows must be probability distributions",
            ));
        }
    }
    let mut p_h = [0.0f64; MAX_STATES];
    let (mut h_e, mut h_he) = (0.0, 0.0);
    for e in 0..env_states {
        let mut p_he = [0.0f64; MAX_STATES];
        for v in 0..nv {
            let pve = joint[v * env_states + e];
            if pve == 0.0 {
                continue;
            }
            let row = &channel[v * hidden_states..(v + 1) * hidden_states];
            for (acc, &p) in p_he.iter_mut().zip(row) {
                *acc += pve * p;
            }
        }
        let mut pe = 0.0;
        for (s, &p) in p_he[..hidden_states].iter().enumerate() {
            pe += p;
            p_h[s] += p;
            h_he -= xlnx(p);
        }
        h_e -= xlnx(pe);
    }
    let h_h: f64 = -p_h[..hidden_states].iter().map(|&p| xlnx(p)).sum::<f64>();
    Ok(h_h + h_e - h_he)
}

/// P_Λ(h|v) for visible configuration `vi` into `p` (first 2^{N_h} entries), with the
/// spins in `v` and pre-activations in `a`.
fn rule_row(
    shape: Shape,
    weights: &[f64],
    bias: &[f64],
    vi: usize,
    v: &mut [f64; MAX_VISIBLE],
    a: &mut [f64; rule::MAX_HIDDEN],
    p: &mut [f64; MAX_STATES],
) -> Result<(), Error> {
    spins_of(vi, &mut v[..shape.visible]);
    rule::preactivations(
        shape,
        weights,
        bias,
        &v[..shape.visible],
        &mut a[..shape.hidden],
    )?;
    rule::hidden_distribution(shape, &a[..shape.hidden], &mut p[..shape.states()])
}

/// I_Λ(H:E) of the rule Λ = (`weights`, `bias`) (layout of [`super::rule`]) on a joint
/// table (docs/method.md#exact-gradients), with P_Λ(h|v) computed on the fly for every v.
pub fn rule_information(
    shape: Shape,
    weights: &[f64],
    bias: &[f64],
    env_states: usize,
    joint: &[f64],
) -> Result<f64, Error> {
    rule_pass(shape, weights, bias, env_states, joint, None)
}

/// I_Λ(H:E) and its exact gradient (docs/method.md#exact-gradients):
/// ∂I_Λ/∂θ = Σ_{v,e} P(v,e) Σ_h ∂_θ P_Λ(h|v) [ln P_Λ(h|e) − ln P_Λ(h)],
/// **added** to `grad_w` (layout of `weights`) and `grad_b`. Returns I_Λ(H:E).
///
/// Gradient ascent on a one-hidden-unit rule for the 1D chain at K = 1 (|V| = 2, one
/// buffer spin on each side), against the ceiling I(V:E) and decimation to v₁:
///
/// ```
/// use rsmi_core::learn::exact::{
///     CHAIN_ENV_STATES, chain_joint, channel_information, mutual_information,
///     rule_information, rule_information_gradient, spin_channel,
/// };
/// use rsmi_core::learn::rule::Shape;
///
/// # fn main() -> Result<(), rsmi_core::Error> {
/// let mut joint = [0.0; 4 * CHAIN_ENV_STATES]; // P(v, e), 2^|V| rows
/// chain_joint(1.0, 2, 1, &mut joint)?;
/// let ceiling = mutual_information(2, CHAIN_ENV_STATES, &joint)?; // I(V:E)
/// let mut decimation = [0.0; 4 * 2]; // H = v₁ as a channel table P(h|v)
/// spin_channel(2, &[0], &mut decimation)?;
/// let i_dec = channel_information(2, CHAIN_ENV_STATES, &joint, 2, &decimation)?;
///
/// let shape = Shape::new(2, 1)?;
/// // A hard rule on v₁ alone is decimation.
/// let hard = rule_information(shape, &[30.0, 0.0], &[0.0], CHAIN_ENV_STATES, &joint)?;
/// assert!((hard - i_dec).abs() < 1e-9);
///
/// let (mut w, mut b) = ([0.1, 0.0], [0.0]);
/// let mut first = None;
/// let mut value = 0.0;
/// for _ in 0..300 {
///     let (mut gw, mut gb) = ([0.0; 2], [0.0; 1]);
///     let n_e = CHAIN_ENV_STATES;
///     value = rule_information_gradient(shape, &w, &b, n_e, &joint, &mut gw, &mut gb)?;
///     first.get_or_insert(value);
///     for (x, g) in w.iter_mut().chain(&mut b).zip(gw.iter().chain(&gb)) {
///         *x += 2.0 * g; // plain ascent
///     }
/// }
/// assert!(first.unwrap() < 0.01); // a weak rule keeps almost nothing
/// // It climbs to decimation's 0.247033 nats, the optimum of one hidden unit here
/// // (docs/method.md#ising-1d-exact-table), below the ceiling 0.325221 (data processing).
/// assert!((i_dec - 0.247033).abs() < 1e-6 && (ceiling - 0.325221).abs() < 1e-6);
/// assert!(value > i_dec - 2e-3 && value <= i_dec);
/// # Ok(())
/// # }
/// ```
pub fn rule_information_gradient(
    shape: Shape,
    weights: &[f64],
    bias: &[f64],
    env_states: usize,
    joint: &[f64],
    grad_w: &mut [f64],
    grad_b: &mut [f64],
) -> Result<f64, Error> {
    check_len("weight gradient", shape.weights(), grad_w.len())?;
    check_len("bias gradient", shape.hidden, grad_b.len())?;
    rule_pass(
        shape,
        weights,
        bias,
        env_states,
        joint,
        Some((grad_w, grad_b)),
    )
}

/// One pass for the value (and P_Λ(h)), a second for the gradient when asked.
fn rule_pass(
    shape: Shape,
    weights: &[f64],
    bias: &[f64],
    env_states: usize,
    joint: &[f64],
    grad: Option<(&mut [f64], &mut [f64])>,
) -> Result<f64, Error> {
    let nv = check_joint(shape.visible, env_states, joint)?;
    check_len("weights", shape.weights(), weights.len())?;
    check_len("bias", shape.hidden, bias.len())?;
    let ns = shape.states();
    let mut v = [0.0f64; MAX_VISIBLE];
    let mut a = [0.0f64; rule::MAX_HIDDEN];
    let mut p = [0.0f64; MAX_STATES];
    let mut p_h = [0.0f64; MAX_STATES];
    let (mut h_e, mut h_he) = (0.0, 0.0);
    // P_Λ(h, e) for one e at a time.
    let joint_h = |e: usize,
                   v: &mut [f64; MAX_VISIBLE],
                   a: &mut [f64; rule::MAX_HIDDEN],
                   p: &mut [f64; MAX_STATES]|
     -> Result<[f64; MAX_STATES], Error> {
        let mut p_he = [0.0f64; MAX_STATES];
        for vi in 0..nv {
            let pve = joint[vi * env_states + e];
            if pve == 0.0 {
                continue;
            }
            rule_row(shape, weights, bias, vi, v, a, p)?;
            for (acc, &q) in p_he[..ns].iter_mut().zip(&p[..ns]) {
                *acc += pve * q;
            }
        }
        Ok(p_he)
    };
    for e in 0..env_states {
        let p_he = joint_h(e, &mut v, &mut a, &mut p)?;
        let mut pe = 0.0;
        for s in 0..ns {
            pe += p_he[s];
            p_h[s] += p_he[s];
            h_he -= xlnx(p_he[s]);
        }
        h_e -= xlnx(pe);
    }
    let h_h: f64 = -p_h[..ns].iter().map(|&q| xlnx(q)).sum::<f64>();
    let info = h_h + h_e - h_he;
    if let Some((grad_w, grad_b)) = grad {
        let mut c = [0.0f64; MAX_STATES];
        for e in 0..env_states {
            let p_he = joint_h(e, &mut v, &mut a, &mut p)?;
            let pe: f64 = p_he[..ns].iter().sum();
            if pe == 0.0 {
                continue;
            }
            // c[h] = ln P(h|e) − ln P(h); where P(h, e) = 0 every P(h|v) with P(v, e) > 0
            // vanishes, and so does its derivative, so the coefficient is irrelevant.
            for s in 0..ns {
                c[s] = if p_he[s] > 0.0 {
                    libm::log(p_he[s] / pe) - libm::log(p_h[s])
                } else {
                    0.0
                };
            }
            for vi in 0..nv {
                let pve = joint[vi * env_states + e];
                if pve == 0.0 {
                    continue;
                }
                rule_row(shape, weights, bias, vi, &mut v, &mut a, &mut p)?;
                rule::accumulate_gradient(
                    shape,
                    &v[..shape.visible],
                    &a[..shape.hidden],
                    &p[..ns],
                    &c[..ns],
                    pve,
                    grad_w,
                    grad_b,
                )?;
            }
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests;
