#[cfg(test)]
use rand_core::Rng;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use wide::u64x4;

/// Four independent xoshiro256++ generators in the lanes of `u64x4`.
///
/// Lane `i` produces exactly the sequence of the scalar `rand_xoshiro` generator it was
/// built from. [`X4::next_masked`] advances only the lanes that are asked for, which is
/// what keeps a `u64x4` Monte Carlo kernel lane-for-lane equal to four `u64` kernels.
#[derive(Debug, Clone, PartialEq)]
pub struct X4 {
    s: [u64x4; 4],
}

#[inline(always)]
fn rotl(x: u64x4, k: u32) -> u64x4 {
    (x << k) | (x >> (64 - k))
}

impl X4 {
    /// Build from four scalar generators (lane i = `lanes[i]`).
    pub fn from_lanes(lanes: &[Xoshiro256PlusPlus; 4]) -> Self {
        let st: [[u64; 4]; 4] = core::array::from_fn(|i| words(&lanes[i].state()));
        X4 {
            s: core::array::from_fn(|j| u64x4::new([st[0][j], st[1][j], st[2][j], st[3][j]])),
        }
    }

    /// The four lanes as scalar generators (for checkpoints, or to continue scalar).
    pub fn to_lanes(&self) -> [Xoshiro256PlusPlus; 4] {
        let s = self.s.map(|v| v.to_array());
        core::array::from_fn(|i| {
            let mut seed = [0u8; 32];
            for j in 0..4 {
                seed[8 * j..8 * j + 8].copy_from_slice(&s[j][i].to_le_bytes());
            }
            Xoshiro256PlusPlus::from_seed(seed)
        })
    }

    #[inline(always)]
    fn step(&self) -> (u64x4, [u64x4; 4]) {
        let [s0, s1, s2, s3] = self.s;
        let result = rotl(s0 + s3, 23) + s0;
        let t = s1 << 17u32;
        let s2 = s2 ^ s0;
        let s3 = s3 ^ s1;
        let s1 = s1 ^ s2;
        let s0 = s0 ^ s3;
        let s2 = s2 ^ t;
        let s3 = rotl(s3, 45);
        (result, [s0, s1, s2, s3])
    }

    /// Next output of all four lanes.
    #[inline(always)]
    pub fn next_all(&mut self) -> u64x4 {
        let (r, s) = self.step();
        self.s = s;
        r
    }

    /// `D` outputs of the lanes where `active` is non-zero; the other lanes keep their
    /// state (their outputs are garbage). Cheaper than `D` calls of
    /// [`X4::next_masked`]: the lanes are restored once, at the end.
    #[inline(always)]
    pub fn next_block_masked<const D: usize>(&mut self, active: u64x4) -> [u64x4; D] {
        let saved = self.s;
        let out = core::array::from_fn(|_| self.next_all());
        let idle = active.simd_eq(u64x4::ZERO);
        for (s, old) in self.s.iter_mut().zip(saved) {
            *s = idle.select(old, *s);
        }
        out
    }

    /// Next output of the lanes where `pending` is non-zero; the other lanes keep their
    /// state (their output lanes are garbage).
    #[inline(always)]
    pub fn next_masked(&mut self, pending: u64x4) -> u64x4 {
        let (r, s) = self.step();
        let idle = pending.simd_eq(u64x4::ZERO);
        for (old, new) in self.s.iter_mut().zip(s) {
            *old = idle.select(*old, new);
        }
        r
    }
}

fn words(b: &[u8; 32]) -> [u64; 4] {
    core::array::from_fn(|j| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[8 * j..8 * j + 8]);
        u64::from_le_bytes(w)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar() -> [Xoshiro256PlusPlus; 4] {
        core::array::from_fn(|i| Xoshiro256PlusPlus::seed_from_u64(100 + i as u64))
    }

    #[test]
    fn equals_scalar_streams() {
        let mut s = scalar();
        let mut x = X4::from_lanes(&s);
        for _ in 0..1000 {
            let w = x.next_all().to_array();
            for i in 0..4 {
                assert_eq!(w[i], s[i].next_u64());
            }
        }
    }

    #[test]
    fn masked_advances_only_pending_lanes() {
        let mut s = scalar();
        let mut x = X4::from_lanes(&s);
        let mut pattern = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..1000 {
            pattern = pattern.rotate_left(7) ^ 0x1234_5678;
            let p = u64x4::new(core::array::from_fn(|i| (pattern >> (i * 3)) & 1));
            let w = x.next_masked(p).to_array();
            for i in 0..4 {
                if p.to_array()[i] != 0 {
                    assert_eq!(w[i], s[i].next_u64());
                }
            }
        }
        assert_eq!(x.to_lanes(), s);
    }

    #[test]
    fn lanes_round_trip() {
        let s = scalar();
        assert_eq!(X4::from_lanes(&s).to_lanes(), s);
    }
}
