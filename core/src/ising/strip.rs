use super::kernel::{flip_mask, with_classes};
use super::{AcceptTable, Counts, Dim, Geometry, Layout};
use crate::error::{Error, check_len};
use crate::rng::WordRng;
use crate::word::Word;

/// Strip-interleaved layout (docs/monte-carlo.md#layouts): one lattice per 64-bit lane.
///
/// With W = L/64 words per row, bit b of word (row, k) holds column b·W + k. The bits of
/// a word are W ≥ 2 columns apart, hence never neighbours, so a typewriter sweep over
/// words is a valid sequential sweep. Horizontal neighbours are the words k ± 1, except at
/// the strip edges, where they are the words of the other edge rotated by one bit. A
/// `u64x4` holds four independent lattices, one per lane.
///
/// Valid sizes: L a multiple of 64 and L ≥ 128.
///
/// Four 128×128 tori in one `u64x4` buffer, started all up and swept well below T_c:
///
/// ```
/// use rsmi_core::ising::{AcceptTable, Algorithm, Counts, Dim, Layout, Strip};
/// use rsmi_core::rng::stream_x4;
/// use rsmi_core::Word;
/// use wide::u64x4;
///
/// # fn main() -> Result<(), rsmi_core::Error> {
/// assert!(!Strip::supports(96) && Strip::new(Dim::Two, 96).is_err()); // use Replica
/// let layout = Strip::new(Dim::Two, 128)?;
/// assert_eq!(layout.words_per_row(), 2); // W = L/64
/// assert_eq!((layout.words(), layout.chains::<u64x4>()), (256, 4)); // one torus per lane
/// // Site (row 1, column 5) of lane 2: word 1·W + 5 % W, bit 2·64 + 5 / W.
/// assert_eq!(layout.locate::<u64x4>(2, 128 + 5), (3, 130));
///
/// let table = AcceptTable::<u64x4>::uniform(4, Algorithm::Metropolis, 1.5, 0.0)?;
/// let mut lattice = [u64x4::ONES; 256]; // all up
/// let mut rng = stream_x4(42, 0, 0);
/// for _ in 0..10 {
///     layout.sweep(&mut lattice, &table, &mut rng)?;
/// }
/// let mut counts = [Counts::default(); 4];
/// layout.measure(&lattice, u64x4::ZERO, &mut counts)?;
/// for c in counts {
///     let m = c.magnetization(&layout.geometry()) as f64 / (128.0 * 128.0);
///     assert!(m > 0.9); // ordered phase: m ≈ 0.986 at T = 1.5
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strip {
    g: Geometry,
    w: usize,
}

impl Strip {
    /// Strip layout for a ring or torus of linear size `l` (a multiple of 64, ≥ 128).
    pub fn new(dim: Dim, l: usize) -> Result<Self, Error> {
        let g = Geometry::new(dim, l)?;
        if !l.is_multiple_of(64) || l < 128 {
            return Err(Error::UnsupportedSize {
                size: l,
                requirement: "the strip layout needs L to be a multiple of 64 and at least 128 \
                              (use the replica layout for other sizes)",
            });
        }
        Ok(Strip { g, w: l / 64 })
    }

    /// True when `l` is a valid strip size.
    pub fn supports(l: usize) -> bool {
        l.is_multiple_of(64) && l >= 128
    }

    /// Words per row (and per lane): W = L/64.
    pub fn words_per_row(&self) -> usize {
        self.w
    }

    #[inline(always)]
    fn left_right<W: Word>(row: &[W], k: usize) -> (W, W) {
        let w = row.len();
        let left = if k == 0 {
            row[w - 1].rotl1()
        } else {
            row[k - 1]
        };
        let right = if k + 1 == w {
            row[0].rotr1()
        } else {
            row[k + 1]
        };
        (left, right)
    }

    fn sweep_2d<W: Word, R: WordRng<W>, const N: usize, const F: bool, const U: bool>(
        &self,
        lat: &mut [W],
        table: &AcceptTable<W>,
        rng: &mut R,
    ) {
        let (l, w) = (self.g.size(), self.w);
        let digits = table.digits_n::<N>();
        for i in 0..l {
            let up = if i == 0 { l - 1 } else { i - 1 } * w;
            let dn = if i + 1 == l { 0 } else { i + 1 } * w;
            let row = i * w;
            for k in 0..w {
                let (left, right) = Self::left_right(&lat[row..row + w], k);
                let s = lat[row + k];
                let nb = [left, right, lat[up + k], lat[dn + k]];
                lat[row + k] = s ^ flip_mask::<W, R, 4, N, F, U>(s, &nb, &digits, table, rng);
            }
        }
    }

    fn sweep_1d<W: Word, R: WordRng<W>, const N: usize, const F: bool, const U: bool>(
        &self,
        lat: &mut [W],
        table: &AcceptTable<W>,
        rng: &mut R,
    ) {
        let digits = table.digits_n::<N>();
        for k in 0..self.w {
            let (left, right) = Self::left_right(lat, k);
            let s = lat[k];
            lat[k] = s ^ flip_mask::<W, R, 2, N, F, U>(s, &[left, right], &digits, table, rng);
        }
    }
}

impl Layout for Strip {
    fn geometry(&self) -> Geometry {
        self.g
    }
    fn words(&self) -> usize {
        match self.g.dim() {
            Dim::One => self.w,
            Dim::Two => self.g.size() * self.w,
        }
    }
    fn chains<W: Word>(&self) -> usize {
        W::LANES
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
        *flip ^= rng.next_word().lane_bit0_mask();
        Ok(())
    }

    fn locate<W: Word>(&self, chain: usize, site: usize) -> (usize, usize) {
        let l = self.g.size();
        let (row, col) = (site / l, site % l);
        (row * self.w + col % self.w, chain * 64 + col / self.w)
    }

    fn site_at<W: Word>(&self, word: usize, bit: usize) -> (usize, usize) {
        let (row, k) = (word / self.w, word % self.w);
        (bit / 64, row * self.g.size() + (bit % 64) * self.w + k)
    }

    fn measure<W: Word>(&self, lattice: &[W], flip: W, out: &mut [Counts]) -> Result<(), Error> {
        check_len("lattice", self.words(), lattice.len())?;
        check_len("counts", W::LANES, out.len())?;
        let w = self.w;
        let rows = lattice.len() / w;
        let two_d = self.g.dim() == Dim::Two;
        let mut unsat = [0u64; 4];
        let mut up = [0u64; 4];
        for i in 0..rows {
            let row = &lattice[i * w..(i + 1) * w];
            let below = &lattice[((i + 1) % rows) * w..((i + 1) % rows + 1) * w];
            for k in 0..w {
                let s = row[k];
                let (_, right) = Self::left_right(row, k);
                let x = s ^ right;
                let y = if two_d { s ^ below[k] } else { W::ZERO };
                let f = s ^ flip;
                for lane in 0..W::LANES {
                    unsat[lane] += (x.lane_count_ones(lane) + y.lane_count_ones(lane)) as u64;
                    up[lane] += f.lane_count_ones(lane) as u64;
                }
            }
        }
        for (lane, c) in out.iter_mut().enumerate() {
            *c = Counts {
                unsatisfied: unsat[lane],
                up: up[lane],
            };
        }
        Ok(())
    }
}
