use super::kernel::{flip_mask, with_classes};
use super::observables::BitCounter;
use super::{AcceptTable, Counts, Dim, Geometry, Layout};
use crate::error::{Error, check_len};
use crate::rng::WordRng;
use crate::word::Word;

/// Replica layout: one word per site, bit b of every word is replica b.
///
/// Sites are visited in typewriter order; all replicas of a site are updated at once,
/// each with its own random digits. Works for any L ≥ 2, and each replica can have its
/// own temperature ([`AcceptTable::per_bit`]).
///
/// 64 replicas of an 8×8 torus in `u64` words, 32 cold (T = 1) and 32 hot (T = 5), with
/// the local rule that avoids the small-lattice Metropolis trap ([`super::local_rule`]):
///
/// ```
/// use rsmi_core::ising::{
///     AcceptTable, Algorithm, Counts, Dim, Layout, Replica, export_packed, local_rule,
/// };
/// use rsmi_core::rng::stream;
///
/// # fn main() -> Result<(), rsmi_core::Error> {
/// let layout = Replica::new(Dim::Two, 8)?;
/// assert_eq!((layout.words(), layout.chains::<u64>()), (64, 64)); // one word per site
/// let temperatures: [f64; 64] = core::array::from_fn(|b| if b < 32 { 1.0 } else { 5.0 });
/// let rule = local_rule(Dim::Two, 8);
/// assert_eq!(rule, Algorithm::MetropolisHalf); // L < TRAP_FREE_BELOW
/// let table = AcceptTable::<u64>::per_bit(4, rule, &temperatures, 0.0)?;
/// let mut lattice = [!0u64; 64]; // every replica all up
/// let mut rng = stream(42, 0, 0);
/// for _ in 0..50 {
///     layout.sweep(&mut lattice, &table, &mut rng)?;
/// }
/// let mut counts = [Counts::default(); 64];
/// layout.measure(&lattice, 0, &mut counts)?;
/// let e = |c: &Counts| c.bond_energy(&layout.geometry()) as f64 / 64.0;
/// let cold: f64 = counts[..32].iter().map(e).sum::<f64>() / 32.0; // equilibrium: ≈ −1.99
/// let hot: f64 = counts[32..].iter().map(e).sum::<f64>() / 32.0; // equilibrium: ≈ −0.42
/// assert!(cold < -1.9 && hot > -0.7);
///
/// let mut packed = [0u8; 8]; // cold replica 3 as NumPy packed bits, 8 rows of 1 byte
/// export_packed(&layout, &lattice, 0u64, 3, &mut packed)?;
/// assert!(packed.iter().map(|b| b.count_ones()).sum::<u32>() > 56); // still mostly up
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replica {
    g: Geometry,
}

impl Replica {
    /// Replica layout for a ring or torus of linear size `l ≥ 2`.
    pub fn new(dim: Dim, l: usize) -> Result<Self, Error> {
        Ok(Replica {
            g: Geometry::new(dim, l)?,
        })
    }

    fn sweep_2d<W: Word, R: WordRng<W>, const N: usize, const F: bool, const U: bool>(
        &self,
        lat: &mut [W],
        table: &AcceptTable<W>,
        rng: &mut R,
    ) {
        let l = self.g.size();
        let digits = table.digits_n::<N>();
        for y in 0..l {
            let up = if y == 0 { l - 1 } else { y - 1 } * l;
            let dn = if y + 1 == l { 0 } else { y + 1 } * l;
            let row = y * l;
            for x in 0..l {
                let lf = if x == 0 { l - 1 } else { x - 1 };
                let rt = if x + 1 == l { 0 } else { x + 1 };
                let s = lat[row + x];
                let nb = [lat[row + lf], lat[row + rt], lat[up + x], lat[dn + x]];
                lat[row + x] = s ^ flip_mask::<W, R, 4, N, F, U>(s, &nb, &digits, table, rng);
            }
        }
    }

    fn sweep_1d<W: Word, R: WordRng<W>, const N: usize, const F: bool, const U: bool>(
        &self,
        lat: &mut [W],
        table: &AcceptTable<W>,
        rng: &mut R,
    ) {
        let l = self.g.size();
        let digits = table.digits_n::<N>();
        for x in 0..l {
            let lf = if x == 0 { l - 1 } else { x - 1 };
            let rt = if x + 1 == l { 0 } else { x + 1 };
            let s = lat[x];
            let nb = [lat[lf], lat[rt]];
            lat[x] = s ^ flip_mask::<W, R, 2, N, F, U>(s, &nb, &digits, table, rng);
        }
    }
}

impl Layout for Replica {
    fn geometry(&self) -> Geometry {
        self.g
    }
    fn words(&self) -> usize {
        self.g.sites()
    }
    fn chains<W: Word>(&self) -> usize {
        W::BITS
    }

    fn sweep<W: Word, R: WordRng<W>>(
        &self,
        lattice: &mut [W],
        table: &AcceptTable<W>,
        rng: &mut R,
    ) -> Result<(), Error> {
        check_len("lattice", self.words(), lattice.len())?;
        if table.z() != self.g.z() {
            return Err(Error::InvalidParameter(
                "acceptance table built for another coordination number",
            ));
        }
        match self.g.dim() {
            Dim::Two => with_classes!(table, |N, F, U| self
                .sweep_2d::<W, R, N, F, U>(lattice, table, rng)),
            Dim::One => with_classes!(table, |N, F, U| self
                .sweep_1d::<W, R, N, F, U>(lattice, table, rng)),
        }
        Ok(())
    }

    fn global_flip<W: Word, R: WordRng<W>>(
        &self,
        flip: &mut W,
        table: &AcceptTable<W>,
        rng: &mut R,
    ) -> Result<(), Error> {
        if table.field().is_some() {
            return Err(Error::Unsupported("global spin flips need zero field"));
        }
        *flip ^= rng.next_word();
        Ok(())
    }

    fn locate<W: Word>(&self, chain: usize, site: usize) -> (usize, usize) {
        (site, chain)
    }

    fn site_at<W: Word>(&self, word: usize, bit: usize) -> (usize, usize) {
        (bit, word)
    }

    fn measure<W: Word>(&self, lattice: &[W], flip: W, out: &mut [Counts]) -> Result<(), Error> {
        check_len("lattice", self.words(), lattice.len())?;
        check_len("counts", W::BITS, out.len())?;
        let g = self.g;
        let mut unsat = BitCounter::<W>::new();
        let mut up = BitCounter::<W>::new();
        for (site, &s) in lattice.iter().enumerate() {
            let nb = g.neighbours(site);
            // Own the +x bond (and the +y bond in 2D).
            unsat.add(s ^ lattice[nb[1]]);
            if g.dim() == Dim::Two {
                unsat.add(s ^ lattice[nb[3]]);
            }
            up.add(s ^ flip);
        }
        for (b, c) in out.iter_mut().enumerate() {
            *c = Counts {
                unsatisfied: unsat.count(b),
                up: up.count(b),
            };
        }
        Ok(())
    }
}
