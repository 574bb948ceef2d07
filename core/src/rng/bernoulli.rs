//! Exact per-bit Bernoulli masks by lazy binary expansion (docs/monte-carlo.md#exact-per-bit-randomness).
//!
//! Every bit of a mask has its own private uniform u = 0.U₁U₂U₃… whose k-th binary digit
//! is that bit of the k-th random word. A bit is accepted when u < p, decided at the first
//! digit where u and p differ. Words are drawn only while some bit is still undecided, so
//! the expected cost is ≈ log₂(bits) + 2 words per mask. Probabilities are 64-bit fixed
//! point (p = P / 2⁶⁴), and the comparison is exact: P(bit set) = P / 2⁶⁴ with no
//! truncation bias. Randomness is never shared between bits.

use super::WordRng;
use crate::word::Word;

/// A probability in 64-bit fixed point, or exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prob {
    /// p = P / 2⁶⁴.
    Fixed(u64),
    /// p = 1 (no random digits needed).
    One,
}

impl Prob {
    /// p = 1/2 exactly.
    pub const HALF: Prob = Prob::Fixed(1 << 63);

    /// Round a probability down to 64-bit fixed point (values ≥ 1 give [`Prob::One`],
    /// values ≤ 0 or NaN give `Fixed(0)`).
    pub fn from_f64(p: f64) -> Prob {
        if p >= 1.0 {
            Prob::One
        } else if p > 0.0 {
            // f64 → u64 casts saturate; p < 1 so the product is < 2^64.
            Prob::Fixed((p * 18_446_744_073_709_551_616.0) as u64)
        } else {
            Prob::Fixed(0)
        }
    }

    /// The value as an `f64` (for reporting).
    pub fn to_f64(self) -> f64 {
        match self {
            Prob::One => 1.0,
            Prob::Fixed(p) => p as f64 / 18_446_744_073_709_551_616.0,
        }
    }

    /// Binary digit `k` (k = 0 is the 2⁻¹ digit) of the fixed-point value.
    #[inline(always)]
    pub fn digit(self, k: usize) -> bool {
        match self {
            Prob::One => true,
            Prob::Fixed(p) => (p >> (63 - k)) & 1 == 1,
        }
    }
}

/// Digit masks of per-bit probabilities: `digits[k]` has bit b set when digit k of bit
/// b's probability is 1.
pub type DigitMasks<W> = [W; 64];

/// Digit masks for per-bit fixed-point probabilities `p(bit)`.
pub fn digit_masks<W: Word>(mut p: impl FnMut(usize) -> u64) -> DigitMasks<W> {
    let mut probs = [[0u64; 64]; 4];
    for b in 0..W::BITS {
        probs[b / 64][b % 64] = p(b);
    }
    core::array::from_fn(|k| {
        W::from_fn(|lane| {
            let mut m = 0u64;
            for (bit, &pb) in probs[lane].iter().enumerate() {
                m |= ((pb >> (63 - k)) & 1) << bit;
            }
            m
        })
    })
}

/// Digits drawn unconditionally (as one block, no branches) before the lazy comparison
/// continues digit by digit. Part of the stream contract: a word with at least one
/// undecided bit in a lane consumes at least this many random words of that lane, so
/// every kernel and the reference must use the same value.
pub const BLOCK_DIGITS: usize = 10;

/// Digit k of each bit's probability, as a word.
pub trait DigitSource<W: Word> {
    /// Mask of the bits whose probability has binary digit k (k = 0 is 2⁻¹) set.
    fn digit(&self, k: usize) -> W;
}

/// Bits partitioned into `N` classes; `digits[k][j]` holds digit k of class j per bit.
#[derive(Debug)]
pub struct ClassDigits<'a, W: Word, const N: usize> {
    /// Disjoint class masks.
    pub masks: [W; N],
    /// Digit masks per class.
    pub digits: &'a [[W; N]; 64],
}

impl<W: Word, const N: usize> DigitSource<W> for ClassDigits<'_, W, N> {
    #[inline(always)]
    fn digit(&self, k: usize) -> W {
        let mut c = W::ZERO;
        for (&m, &d) in self.masks.iter().zip(&self.digits[k]) {
            c |= m & d;
        }
        c
    }
}

/// At most 3 classes with one probability each (the same for every bit): digit k is the
/// union of the classes whose probability has digit k set, looked up in a table of the
/// 8 unions built once per word.
#[derive(Debug)]
pub struct UnionDigits<'a, W: Word> {
    /// `unions[s]`: union of the class masks in subset `s` (bit j = class j).
    pub unions: [W; 8],
    /// `pattern[k]`: subset of classes whose probability has digit k set.
    pub pattern: &'a [u8; 64],
}

impl<'a, W: Word> UnionDigits<'a, W> {
    /// Build the union table from up to 3 class masks.
    #[inline(always)]
    pub fn new<const N: usize>(masks: &[W; N], pattern: &'a [u8; 64]) -> Self {
        let m = |j: usize| if j < N { masks[j % N.max(1)] } else { W::ZERO };
        let (a, b, c) = (m(0), m(1), m(2));
        let ab = a | b;
        UnionDigits {
            unions: [W::ZERO, a, b, ab, c, a | c, b | c, ab | c],
            pattern,
        }
    }
}

impl<W: Word> DigitSource<W> for UnionDigits<'_, W> {
    #[inline(always)]
    fn digit(&self, k: usize) -> W {
        self.unions[(self.pattern[k] & 7) as usize]
    }
}

/// The bit-by-bit reference of [`lazy`] for one word of a scalar stream: each bit is
/// decided on its own, digit by digit, from the same random words the kernels draw
/// (words are drawn as the deepest digit needed so far grows; [`BitOracle::finish`] then
/// tops the draws up to [`BLOCK_DIGITS`] when any bit needed randomness, as the kernels'
/// block draw does). Used by the reference implementations of every word kernel.
#[derive(Debug, Clone)]
pub struct BitOracle {
    digits: [u64; 64],
    drawn: usize,
    random_bits: bool,
}

impl Default for BitOracle {
    fn default() -> Self {
        BitOracle {
            digits: [0; 64],
            drawn: 0,
            random_bits: false,
        }
    }
}

impl BitOracle {
    /// Whether bit `bit` (0..64) is accepted with probability `p`.
    pub fn accept(
        &mut self,
        rng: &mut crate::rng::Xoshiro256PlusPlus,
        bit: usize,
        p: Prob,
    ) -> bool {
        use rand_core::Rng;
        let threshold = match p {
            Prob::One => return true,
            Prob::Fixed(t) => t,
        };
        self.random_bits = true;
        for k in 0..64 {
            if k == self.drawn {
                self.digits[k] = rng.next_u64();
                self.drawn += 1;
            }
            let u = (self.digits[k] >> bit) & 1;
            let c = (threshold >> (63 - k)) & 1;
            if u != c {
                return u < c;
            }
        }
        false
    }

    /// End of the word: draw the rest of the block if any bit needed randomness.
    pub fn finish(self, rng: &mut crate::rng::Xoshiro256PlusPlus) {
        use rand_core::Rng;
        if self.random_bits {
            for _ in self.drawn..BLOCK_DIGITS {
                rng.next_u64();
            }
        }
    }
}

/// The exact lazy comparison: returns the mask of `pending` bits whose private uniform
/// falls below their probability (given digit by digit by `digits`).
///
/// If any bit is pending, [`BLOCK_DIGITS`] words are drawn at once (only in lanes with
/// pending bits), then further words one at a time while some bit of the lane is still
/// undecided (at most 64 digits in all). Lanes of a multi-lane word use their own streams,
/// so a `u64x4` call equals four `u64` calls lane by lane.
#[inline(always)]
pub fn lazy<W: Word, R: WordRng<W>, D: DigitSource<W>>(
    rng: &mut R,
    digits: &D,
    mut pending: W,
) -> W {
    if pending.is_zero() {
        return W::ZERO;
    }
    let mut accepted = W::ZERO;
    let block = rng.next_block::<BLOCK_DIGITS>(pending);
    for (k, &u) in block.iter().enumerate() {
        let c = digits.digit(k);
        // Decided at this digit: u_k = 0, p_k = 1 → u < p (accept); u_k = 1, p_k = 0 →
        // u > p (reject). Equal digits stay pending.
        accepted |= pending & c & !u;
        pending &= !(u ^ c);
    }
    let mut k = BLOCK_DIGITS;
    while k < 64 && !pending.is_zero() {
        let u = rng.next_word_masked(pending);
        let c = digits.digit(k);
        accepted |= pending & c & !u;
        pending &= !(u ^ c);
        k += 1;
    }
    accepted
}

/// One Bernoulli mask: each bit b set independently with probability p(b), where the
/// digit masks come from [`digit_masks`].
#[inline]
pub fn mask<W: Word, R: WordRng<W>>(rng: &mut R, digits: &DigitMasks<W>) -> W {
    let d = digits.map(|d| [d]);
    lazy(
        rng,
        &ClassDigits {
            masks: [W::ONES],
            digits: &d,
        },
        W::ONES,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{X4, stream};
    use wide::u64x4;

    #[test]
    fn from_f64_is_exact_on_dyadics() {
        assert_eq!(Prob::from_f64(0.5), Prob::HALF);
        assert_eq!(Prob::from_f64(0.25), Prob::Fixed(1 << 62));
        assert_eq!(Prob::from_f64(1.0), Prob::One);
        assert_eq!(Prob::from_f64(0.0), Prob::Fixed(0));
        assert_eq!(Prob::from_f64(f64::NAN), Prob::Fixed(0));
        assert!(Prob::HALF.digit(0) && !Prob::HALF.digit(1));
    }

    #[test]
    fn half_is_first_word() {
        // p = 1/2 exactly: bit set iff the first digit is 0, i.e. mask = !U₁.
        let d = digit_masks::<u64>(|_| 1 << 63);
        let mut a = stream(1, 0, 0);
        for _ in 0..100 {
            let mut b = a.clone();
            let m = mask(&mut a, &d);
            let u = <_ as WordRng<u64>>::next_word(&mut b);
            assert_eq!(m, !u);
        }
        // The digit stream: BLOCK_DIGITS words at least, then one per extra digit.
        let d = digit_masks::<u64>(|_| 1 << 62);
        let mut a = stream(2, 0, 0);
        let mut b = a.clone();
        mask(&mut a, &d);
        let mut words = 0;
        while b != a {
            <_ as WordRng<u64>>::next_word(&mut b);
            words += 1;
        }
        assert!(words >= BLOCK_DIGITS);
    }

    /// Binomial z-test of every bit's frequency against its own p.
    #[test]
    fn per_bit_frequencies() {
        let p = |b: usize| Prob::from_f64(0.02 + 0.96 * (b as f64) / 255.0);
        let d = digit_masks::<u64x4>(|b| match p(b) {
            Prob::Fixed(x) => x,
            Prob::One => u64::MAX,
        });
        let mut rng = X4::from_lanes(&core::array::from_fn(|i| stream(3, 0, i as u64)));
        let n = 20_000u32;
        let mut counts = [0u32; 256];
        for _ in 0..n {
            let m = mask(&mut rng, &d);
            for (b, c) in counts.iter_mut().enumerate() {
                *c += m.bit(b) as u32;
            }
        }
        for (b, &c) in counts.iter().enumerate() {
            let pb = p(b).to_f64();
            let mean = pb * n as f64;
            let sd = libm::sqrt(n as f64 * pb * (1.0 - pb));
            let z = (c as f64 - mean) / sd;
            // 256 tests: |z| < 4.5 fails by chance with probability ~2e-3 in total.
            assert!(z.abs() < 4.5, "bit {b}: p={pb} count={c} z={z}");
        }
    }

    /// Pairs of bits must be independent: 2×2 contingency χ² for neighbouring bits.
    #[test]
    fn bit_pairs_independent() {
        let d = digit_masks::<u64>(|_| Prob::from_f64(0.3).digit_value());
        let mut rng = stream(4, 0, 0);
        let n = 40_000;
        let mut both = [0u32; 63];
        let mut one = [0u32; 64];
        for _ in 0..n {
            let m: u64 = mask(&mut rng, &d);
            for b in 0..64 {
                one[b] += ((m >> b) & 1) as u32;
            }
            let pairs = m & (m >> 1);
            for b in 0..63 {
                both[b] += ((pairs >> b) & 1) as u32;
            }
        }
        for b in 0..63 {
            let pa = one[b] as f64 / n as f64;
            let pb = one[b + 1] as f64 / n as f64;
            let expect = pa * pb * n as f64;
            let sd = libm::sqrt(n as f64 * pa * pb * (1.0 - pa * pb));
            let z = (both[b] as f64 - expect) / sd;
            // Shared randomness (one uniform per word) gives P(both) = 0.3 instead of
            // 0.09: z ≈ 140.
            assert!(z.abs() < 4.5, "bits {b},{}: z = {z}", b + 1);
        }
    }

    impl Prob {
        fn digit_value(self) -> u64 {
            match self {
                Prob::Fixed(x) => x,
                Prob::One => u64::MAX,
            }
        }
    }
}
