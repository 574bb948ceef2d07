use crate::error::Error;
use crate::rng::Prob;
use crate::rng::bernoulli::digit_masks;
use crate::word::Word;

/// Local single-spin-flip rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// min(1, e^{−βΔE}): ΔE ≤ 0 moves are always accepted.
    Metropolis,
    /// Metropolis, except that ΔE = 0 moves are accepted with probability ½. Sequential
    /// Metropolis has deterministic cycles on small lattices (docs/monte-carlo.md#deterministic-cycles-of-sequential-metropolis: 64 of
    /// the 65 536 states of the 4×4 torus in typewriter order) that no random number can
    /// leave; with ½ every ΔE = 0 move consumes randomness, so no cycle is absorbing.
    /// Detailed balance holds (the move and its reverse both have ΔE = 0). The price is
    /// slower dynamics: τ_int(|M|) ≈ 100 sweeps instead of ≈ 39 at L = 32, T_c.
    MetropolisHalf,
    /// 1 / (1 + e^{βΔE}) (Glauber).
    HeatBath,
}

/// Energy change of flipping spin `s` (±1) whose neighbours sum to `s_sum / s`
/// (`s_sum` = s·Σ_j s_j, an integer in −z..=z) in a field `h`: ΔE = 2·s_sum + 2·h·s.
#[inline]
pub fn delta_e(s_sum: i32, s: i32, h: f64) -> f64 {
    2.0 * s_sum as f64 + 2.0 * h * s as f64
}

/// Probability of accepting a flip with energy change `de` at inverse temperature `beta`.
pub fn flip_probability(algorithm: Algorithm, beta: f64, de: f64) -> Prob {
    match algorithm {
        Algorithm::Metropolis => {
            if de <= 0.0 {
                Prob::One
            } else {
                Prob::from_f64(libm::exp(-beta * de))
            }
        }
        Algorithm::MetropolisHalf => {
            if de < 0.0 {
                Prob::One
            } else if de == 0.0 {
                Prob::HALF
            } else {
                Prob::from_f64(libm::exp(-beta * de))
            }
        }
        Algorithm::HeatBath => {
            if de == 0.0 {
                Prob::HALF
            } else {
                Prob::from_f64(1.0 / (1.0 + libm::exp(beta * de)))
            }
        }
    }
}

/// Most acceptance classes: (a = 0..=4 unsatisfied bonds) × (spin down, up).
pub(crate) const MAX_CLASSES: usize = 10;

/// Acceptance probabilities of every bond class, as per-bit digit masks for the word
/// kernels.
///
/// A class is a number a of unsatisfied bonds around a site (0..=z) and, with a field,
/// the spin's value. Classes whose probability is 1 need no random digits; the others
/// ("random classes") are compared digit by digit with per-bit uniforms.
#[derive(Debug, Clone)]
pub struct AcceptTable<W: Word> {
    pub(crate) z: usize,
    pub(crate) algorithm: Algorithm,
    pub(crate) field: Option<f64>,
    pub(crate) n_random: usize,
    /// Class index of random class j: a (no field) or 2a + spin (with field).
    pub(crate) idx: [usize; MAX_CLASSES],
    /// Bits of random class j whose probability is exactly 1 (per-bit temperatures can
    /// make a class certain for some bits only).
    pub(crate) certain: [W; MAX_CLASSES],
    /// digits[k][j]: digit k of the probability of random class j, per bit.
    pub(crate) digits: [[W; MAX_CLASSES]; 64],
    /// Every bit has the same probability in each class, there is no field and at most
    /// 3 random classes: the kernels can look digits up in a per-word union table.
    pub(crate) unions: bool,
    /// pattern[k]: bit j set when digit k of random class j is 1 (valid when `unions`).
    pub(crate) pattern: [u8; 64],
}

impl<W: Word> AcceptTable<W> {
    /// One temperature for every bit. `z` is 2 (ring) or 4 (square lattice); `h` the
    /// field (0 for none).
    pub fn uniform(
        z: usize,
        algorithm: Algorithm,
        temperature: f64,
        h: f64,
    ) -> Result<Self, Error> {
        let b = super::beta(temperature)?;
        Self::build(z, algorithm, h, |_| b)
    }

    /// A temperature per bit (replica layout: per replica); `temperatures.len()` must be
    /// `W::BITS`.
    pub fn per_bit(
        z: usize,
        algorithm: Algorithm,
        temperatures: &[f64],
        h: f64,
    ) -> Result<Self, Error> {
        crate::error::check_len("temperatures", W::BITS, temperatures.len())?;
        let mut betas = [0.0f64; 256];
        for (b, &t) in betas.iter_mut().zip(temperatures) {
            *b = super::beta(t)?;
        }
        Self::build(z, algorithm, h, |bit| betas[bit])
    }

    fn build(
        z: usize,
        algorithm: Algorithm,
        h: f64,
        beta: impl Fn(usize) -> f64,
    ) -> Result<Self, Error> {
        if z != 2 && z != 4 {
            return Err(Error::InvalidParameter(
                "coordination number must be 2 or 4",
            ));
        }
        if !h.is_finite() {
            return Err(Error::InvalidField);
        }
        let field = (h != 0.0).then_some(h);
        let n_classes = if field.is_some() { 2 * (z + 1) } else { z + 1 };
        let mut t = AcceptTable {
            z,
            algorithm,
            field,
            n_random: 0,
            idx: [0; MAX_CLASSES],
            certain: [W::ZERO; MAX_CLASSES],
            digits: [[W::ZERO; MAX_CLASSES]; 64],
            unions: false,
            pattern: [0; 64],
        };
        for class in 0..n_classes {
            let (a, s) = if field.is_some() {
                (class / 2, if class % 2 == 1 { 1 } else { -1 })
            } else {
                (class, 1)
            };
            let de = delta_e(z as i32 - 2 * a as i32, s, h);
            let p = |bit: usize| flip_probability(algorithm, beta(bit), de);
            let mut ones = [0u64; 4];
            for bit in 0..W::BITS {
                ones[bit / 64] |= ((p(bit) == Prob::One) as u64) << (bit % 64);
            }
            let certain = W::from_fn(|lane| ones[lane]);
            if certain == W::ONES {
                continue;
            }
            let j = t.n_random;
            t.idx[j] = class;
            t.certain[j] = certain;
            let masks = digit_masks::<W>(|bit| match p(bit) {
                Prob::Fixed(x) => x,
                Prob::One => u64::MAX,
            });
            for (k, m) in masks.iter().enumerate() {
                t.digits[k][j] = *m;
            }
            t.n_random += 1;
        }
        let uniform = t
            .digits
            .iter()
            .flatten()
            .all(|&d| d == W::ZERO || d == W::ONES)
            && t.certain.iter().all(|&c| c == W::ZERO);
        let contiguous = (0..t.n_random).all(|j| t.idx[j] == j);
        t.unions = uniform && contiguous && field.is_none() && t.n_random <= 3;
        for (k, p) in t.pattern.iter_mut().enumerate() {
            for j in 0..t.n_random.min(3) {
                *p |= ((t.digits[k][j] == W::ONES) as u8) << j;
            }
        }
        Ok(t)
    }

    /// Coordination number this table was built for.
    pub fn z(&self) -> usize {
        self.z
    }
    /// The field, if non-zero.
    pub fn field(&self) -> Option<f64> {
        self.field
    }
    /// The update rule.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
    /// Number of classes that need random digits.
    pub fn random_classes(&self) -> usize {
        self.n_random
    }

    /// Digit masks of random classes, narrowed to `N` classes for the kernel.
    #[inline(always)]
    pub(crate) fn digits_n<const N: usize>(&self) -> [[W; N]; 64] {
        core::array::from_fn(|k| core::array::from_fn(|j| self.digits[k][j]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metropolis_classes_2d() {
        let t = AcceptTable::<u64>::uniform(4, Algorithm::Metropolis, 2.0, 0.0).unwrap();
        // a = 0 (ΔE = 8) and a = 1 (ΔE = 4) are random; a ≥ 2 (ΔE ≤ 0) certain.
        assert_eq!(t.random_classes(), 2);
        assert_eq!(&t.idx[..2], &[0, 1]);
        let t = AcceptTable::<u64>::uniform(4, Algorithm::MetropolisHalf, 2.0, 0.0).unwrap();
        // a = 0, a = 1 and a = 2 (ΔE = 0, p = ½) are random; a ≥ 3 certain.
        assert_eq!(t.random_classes(), 3);
        assert_eq!(&t.idx[..3], &[0, 1, 2]);
        let h = AcceptTable::<u64>::uniform(4, Algorithm::HeatBath, 2.0, 0.0).unwrap();
        assert_eq!(h.random_classes(), 5);
        let f = AcceptTable::<u64>::uniform(4, Algorithm::MetropolisHalf, 2.0, 0.5).unwrap();
        // ΔE = 2(4 − 2a) + 2h·s ≥ 0 for a ≤ 1 (both s) and a = 2, s = +1.
        assert_eq!(f.random_classes(), 5);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            AcceptTable::<u64>::uniform(4, Algorithm::Metropolis, 0.0, 0.0).unwrap_err(),
            Error::InvalidTemperature
        );
        assert!(AcceptTable::<u64>::uniform(4, Algorithm::Metropolis, f64::NAN, 0.0).is_err());
        assert!(AcceptTable::<u64>::uniform(4, Algorithm::Metropolis, 1.0, f64::INFINITY).is_err());
        assert!(AcceptTable::<u64>::uniform(3, Algorithm::Metropolis, 1.0, 0.0).is_err());
        assert!(AcceptTable::<u64>::per_bit(4, Algorithm::Metropolis, &[1.0; 3], 0.0).is_err());
    }

    #[test]
    fn probabilities() {
        assert_eq!(
            flip_probability(Algorithm::Metropolis, 1.0, -4.0),
            Prob::One
        );
        assert_eq!(flip_probability(Algorithm::Metropolis, 1.0, 0.0), Prob::One);
        assert_eq!(
            flip_probability(Algorithm::MetropolisHalf, 1.0, 0.0),
            Prob::HALF
        );
        assert_eq!(flip_probability(Algorithm::HeatBath, 1.0, 0.0), Prob::HALF);
        let p = flip_probability(Algorithm::Metropolis, 0.5, 4.0).to_f64();
        assert!((p - libm::exp(-2.0)).abs() < 1e-15);
    }
}
