//! The word kernel shared by every layout: classify bonds with bit-sliced adders, then
//! accept flips with exact per-bit Bernoulli masks.

use super::AcceptTable;
use super::accept::MAX_CLASSES;
use crate::rng::WordRng;
use crate::rng::bernoulli::{self, ClassDigits, UnionDigits};
use crate::word::Word;

/// One-hot masks of a = number of unsatisfied bonds (0..=Z) between each bit of `s` and
/// the same bit of the Z neighbour words (entries above Z are zero).
#[inline(always)]
pub(crate) fn bond_classes<W: Word, const Z: usize>(s: W, nb: &[W; Z]) -> [W; 5] {
    if Z == 2 {
        let x1 = s ^ nb[0];
        let x2 = s ^ nb[1];
        [!(x1 | x2), x1 ^ x2, x1 & x2, W::ZERO, W::ZERO]
    } else {
        let (x1, x2, x3, x4) = (s ^ nb[0], s ^ nb[1], s ^ nb[2], s ^ nb[3]);
        // Two half adders, then combine: a = b0 + 2·b1 + 4·b2.
        let (s12, c12) = (x1 ^ x2, x1 & x2);
        let (s34, c34) = (x3 ^ x4, x3 & x4);
        let b0 = s12 ^ s34;
        let c = s12 & s34; // never set together with c12 or c34
        let b1 = c12 ^ c34 ^ c;
        let b2 = c12 & c34; // a = 4
        [!(b0 | b1 | b2), b0 & !b1, b1 & !b0, b0 & b1, b2]
    }
}

/// Flip mask for one word of sites with `Z` neighbour words.
///
/// `N` is the number of random classes; `F` selects class indexing by (a, spin); `U`
/// selects the union-table digit source (uniform temperature, ≤ 3 classes, no field).
/// The random classes are looked up in the table (usually a = 0..N, but not always: at
/// extreme temperatures e^{−βΔE} rounds to 1 and a class becomes certain).
#[inline(always)]
pub(crate) fn flip_mask<
    W: Word,
    R: WordRng<W>,
    const Z: usize,
    const N: usize,
    const F: bool,
    const U: bool,
>(
    s: W,
    nb: &[W; Z],
    digits: &[[W; N]; 64],
    table: &AcceptTable<W>,
    rng: &mut R,
) -> W {
    let a = bond_classes::<W, Z>(s, nb);
    let rm: [W; N] = core::array::from_fn(|j| {
        let c = table.idx[j % MAX_CLASSES];
        let m = if F {
            let m = a[(c / 2) % 5];
            if c % 2 == 1 { m & s } else { m & !s }
        } else if U {
            // Union tables are built only when the random classes are a = 0..N, so the
            // index is a constant and the unused classes compile away.
            a[j % 5]
        } else {
            a[c % 5]
        };
        // Bits whose probability is exactly 1 in an otherwise random class (per-bit
        // temperatures) flip outright: they stay out of `pending`.
        if U {
            m
        } else {
            m & !table.certain[j % MAX_CLASSES]
        }
    });
    let mut pending = W::ZERO;
    for m in rm {
        pending |= m;
    }
    let accepted = if U {
        bernoulli::lazy(rng, &UnionDigits::new(&rm, &table.pattern), pending)
    } else {
        bernoulli::lazy(rng, &ClassDigits { masks: rm, digits }, pending)
    };
    !pending | accepted
}

/// Run `$body` with `N` (random classes), `F` (field) and `U` (union table) bound as
/// constants matching the table.
macro_rules! with_classes {
    ($table:expr, |$n:ident, $f:ident, $u:ident| $body:expr) => {{
        let t = $table;
        match (t.field.is_some(), t.n_random, t.unions) {
            (false, 1, true) => {
                const $n: usize = 1;
                const $f: bool = false;
                const $u: bool = true;
                $body
            }
            (false, 2, true) => {
                const $n: usize = 2;
                const $f: bool = false;
                const $u: bool = true;
                $body
            }
            (false, 3, true) => {
                const $n: usize = 3;
                const $f: bool = false;
                const $u: bool = true;
                $body
            }
            (false, 1, _) => {
                const $n: usize = 1;
                const $f: bool = false;
                const $u: bool = false;
                $body
            }
            (false, 2, _) => {
                const $n: usize = 2;
                const $f: bool = false;
                const $u: bool = false;
                $body
            }
            (false, 3, _) => {
                const $n: usize = 3;
                const $f: bool = false;
                const $u: bool = false;
                $body
            }
            (false, 4, _) => {
                const $n: usize = 4;
                const $f: bool = false;
                const $u: bool = false;
                $body
            }
            (false, 5, _) => {
                const $n: usize = 5;
                const $f: bool = false;
                const $u: bool = false;
                $body
            }
            (true, 1, _) => {
                const $n: usize = 1;
                const $f: bool = true;
                const $u: bool = false;
                $body
            }
            (true, 2, _) => {
                const $n: usize = 2;
                const $f: bool = true;
                const $u: bool = false;
                $body
            }
            (true, 3, _) => {
                const $n: usize = 3;
                const $f: bool = true;
                const $u: bool = false;
                $body
            }
            (true, 4, _) => {
                const $n: usize = 4;
                const $f: bool = true;
                const $u: bool = false;
                $body
            }
            (true, 5, _) => {
                const $n: usize = 5;
                const $f: bool = true;
                const $u: bool = false;
                $body
            }
            (true, 6, _) => {
                const $n: usize = 6;
                const $f: bool = true;
                const $u: bool = false;
                $body
            }
            (true, 7, _) => {
                const $n: usize = 7;
                const $f: bool = true;
                const $u: bool = false;
                $body
            }
            (true, 8, _) => {
                const $n: usize = 8;
                const $f: bool = true;
                const $u: bool = false;
                $body
            }
            (true, 9, _) => {
                const $n: usize = 9;
                const $f: bool = true;
                const $u: bool = false;
                $body
            }
            (true, 10, _) => {
                const $n: usize = 10;
                const $f: bool = true;
                const $u: bool = false;
                $body
            }
            // No random class: every proposed flip is certain (cannot happen for the
            // supported rules, which always have a ΔE > 0 class).
            _ => {
                const $n: usize = 0;
                const $f: bool = true;
                const $u: bool = false;
                $body
            }
        }
    }};
}
pub(crate) use with_classes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adder_counts_unsatisfied_bonds() {
        // Exhaustive over the 32 combinations of (s, n1..n4) in 32 bit positions.
        let mut s = 0u64;
        let mut nb = [0u64; 4];
        for p in 0..32u64 {
            s |= (p & 1) << p;
            for (k, n) in nb.iter_mut().enumerate() {
                *n |= ((p >> (k + 1)) & 1) << p;
            }
        }
        let cls = bond_classes::<u64, 4>(s, &nb);
        for p in 0..32 {
            let sb = p & 1;
            let a = (1..5).filter(|k| (p >> k) & 1 != sb).count();
            for (c, m) in cls.iter().enumerate() {
                assert_eq!((m >> p) & 1 == 1, c == a, "pattern {p:05b} class {c}");
            }
        }
        let cls2 = bond_classes::<u64, 2>(s, &[nb[0], nb[1]]);
        for p in 0..32 {
            let sb = p & 1;
            let a = (1..3).filter(|k| (p >> k) & 1 != sb).count();
            for (c, m) in cls2.iter().enumerate() {
                assert_eq!((m >> p) & 1 == 1, c == a);
            }
        }
    }
}
