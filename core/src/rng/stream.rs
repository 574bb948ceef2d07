use super::X4;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Human-readable name of the stream scheme, recorded in every output's provenance.
pub const STREAM_SCHEME: &str =
    "xoshiro256++ seed_from_u64(master_seed); jump_ce(job, 192); jump_ce(lane, 128)";

/// The random stream for (`master_seed`, `job`, `lane`).
///
/// Streams for different (job, lane) pairs are non-overlapping for up to 2^128 draws each.
pub fn stream(master_seed: u64, job: u64, lane: u64) -> Xoshiro256PlusPlus {
    let mut r = Xoshiro256PlusPlus::seed_from_u64(master_seed);
    if job != 0 {
        r.jump_ce(job, 192);
    }
    if lane != 0 {
        r.jump_ce(lane, 128);
    }
    r
}

/// Four consecutive streams `stream(master_seed, job, first_lane + i)`, i = 0..4, in the
/// lanes of an [`X4`].
pub fn stream_x4(master_seed: u64, job: u64, first_lane: u64) -> X4 {
    let base = stream(master_seed, job, first_lane);
    let mut lanes = [base.clone(), base.clone(), base.clone(), base];
    for (i, l) in lanes.iter_mut().enumerate().skip(1) {
        l.jump_ce(i as u64, 128);
    }
    X4::from_lanes(&lanes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    #[test]
    fn stream_zero_is_plain_seed() {
        let mut a = stream(7, 0, 0);
        let mut b = Xoshiro256PlusPlus::seed_from_u64(7);
        for _ in 0..10 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn lanes_are_jumps() {
        let mut a = stream(7, 2, 3);
        let mut b = Xoshiro256PlusPlus::seed_from_u64(7);
        b.long_jump();
        b.long_jump();
        for _ in 0..3 {
            b.jump();
        }
        for _ in 0..10 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn x4_lanes_match_streams() {
        let mut x = stream_x4(11, 5, 8);
        let mut s: [Xoshiro256PlusPlus; 4] = core::array::from_fn(|i| stream(11, 5, 8 + i as u64));
        for _ in 0..100 {
            let w = x.next_all().to_array();
            for i in 0..4 {
                assert_eq!(w[i], s[i].next_u64());
            }
        }
    }
}
