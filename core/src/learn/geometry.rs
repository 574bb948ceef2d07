//! Block geometry (docs/method.md#geometry): the visible block V, the buffer B (discarded) and the
//! environment E, as index sets relative to a block corner on a periodic lattice, and the
//! extraction of (V, E) pairs from lattice samples into `f32` rows of batch buffers.
//!
//! - [`Square`]: 2D periodic. V is the l_v×l_v block with top-left corner (row₀, col₀),
//!   B the ring of width l_b around it, E the ring of width l_e around V ∪ B; window side
//!   W = l_v + 2(l_b + l_e). V is listed row-major over the block (the order of RULE.json
//!   weights), E row-major over the W×W window with the inner (l_v + 2l_b)² box skipped.
//!   |V| = l_v², |E| = W² − (l_v + 2l_b)².
//! - [`Chain`]: 1D periodic (one row). V is l_v consecutive sites from col₀; E is the
//!   l_e sites left of the left buffer then the l_e sites right of the right buffer, each in
//!   increasing position (again row-major over the window, inner part skipped).
//!
//! Offsets are (row, column) relative to the block corner and wrap periodically. A
//! geometry only fits a lattice whose sides are at least W (so E never wraps onto V, B or
//! itself). Block positions lie on a stride grid: corners at multiples of `stride` below
//! the lattice sides, ⌈rows/stride⌉·⌈cols/stride⌉ of them (= (L/stride)² in 2D when
//! stride divides L), numbered row-major.
//!
//! Sources ([`Source`]) are read-only views of one lattice sample: [`PackedSpins`] (Ising
//! samples in NumPy packed bits, values ±1) and [`Grid01`] (a 0/1 byte grid: dimer link
//! planes, the 2L×2L decorated array; values 0/1).
//!
//! ```
//! use rsmi_core::learn::geometry::{Block, PackedSpins, Square, extract_all};
//!
//! # fn main() -> Result<(), rsmi_core::Error> {
//! let g = Square::new(2, 1, 2)?; // 2×2 block, buffer 1, environment 2: W = 8
//! assert_eq!((g.visible_len(), g.env_len()), (4, 48));
//! let sample = [0b1010_1010u8; 8]; // 8×8 Ising sample, one byte per row
//! let src = PackedSpins::new(&sample, 8, 8)?;
//! let n = g.positions(8, 8, 2)?; // stride 2: 16 blocks per sample
//! let (mut v, mut e) = ([0.0f32; 16 * 4], [0.0f32; 16 * 48]);
//! extract_all(&g, &src, 2, false, &mut v, &mut e)?;
//! assert_eq!(n, 16);
//! assert_eq!(&v[..4], &[1.0, -1.0, 1.0, -1.0]); // column 0 is up, column 1 down
//! # Ok(())
//! # }
//! ```

use crate::error::{Error, check_len};
use crate::ising::packed_row_bytes;

/// A block geometry: V and E as offset lists relative to the block corner.
pub trait Block {
    /// Number of visible sites |V|.
    fn visible_len(&self) -> usize;
    /// Number of environment sites |E|.
    fn env_len(&self) -> usize;
    /// Offset (row, column) of visible site `k < |V|` from the block corner.
    fn visible_offset(&self, k: usize) -> (isize, isize);
    /// Offset (row, column) of environment site `k < |E|` from the block corner.
    fn env_offset(&self, k: usize) -> (isize, isize);
    /// `Ok` when the geometry fits a periodic `rows × cols` lattice without E wrapping
    /// onto V, B or itself.
    fn check(&self, rows: usize, cols: usize) -> Result<(), Error>;

    /// Number of block positions on the stride grid of a `rows × cols` lattice.
    fn positions(&self, rows: usize, cols: usize, stride: usize) -> Result<usize, Error> {
        self.check(rows, cols)?;
        if stride == 0 {
            return Err(Error::InvalidParameter(
                "the block stride must be at least 1",
            ));
        }
        Ok(rows.div_ceil(stride) * cols.div_ceil(stride))
    }

    /// Corner (row, column) of block position `index` (row-major on the stride grid).
    fn position(
        &self,
        rows: usize,
        cols: usize,
        stride: usize,
        index: usize,
    ) -> Result<(usize, usize), Error> {
        let count = self.positions(rows, cols, stride)?;
        if index >= count {
            return Err(Error::InvalidParameter("block position out of range"));
        }
        let per_row = cols.div_ceil(stride);
        Ok(((index / per_row) * stride, (index % per_row) * stride))
    }
}

/// 2D square block geometry on a periodic lattice (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Square {
    l_v: usize,
    l_b: usize,
    l_e: usize,
}

/// Largest block, buffer or environment width accepted (keeps every count far from
/// overflow).
pub const MAX_WIDTH: usize = 1 << 12;

fn check_widths(l_v: usize, l_b: usize, l_e: usize) -> Result<(), Error> {
    if l_v == 0 {
        return Err(Error::InvalidParameter(
            "the visible block must be at least 1 wide",
        ));
    }
    if l_e == 0 {
        return Err(Error::InvalidParameter(
            "the environment must be at least 1 wide",
        ));
    }
    if l_v > MAX_WIDTH || l_b > MAX_WIDTH || l_e > MAX_WIDTH {
        return Err(Error::InvalidParameter(
            "block, buffer and environment widths must be at most 4096",
        ));
    }
    Ok(())
}

impl Square {
    /// V = `l_v`×`l_v` (≥ 1), buffer ring `l_b` (≥ 0), environment ring `l_e` (≥ 1).
    pub fn new(l_v: usize, l_b: usize, l_e: usize) -> Result<Square, Error> {
        check_widths(l_v, l_b, l_e)?;
        Ok(Square { l_v, l_b, l_e })
    }
    /// Block side l_v.
    pub fn l_v(&self) -> usize {
        self.l_v
    }
    /// Buffer width l_b.
    pub fn l_b(&self) -> usize {
        self.l_b
    }
    /// Environment width l_e.
    pub fn l_e(&self) -> usize {
        self.l_e
    }
    /// Window side W = l_v + 2(l_b + l_e).
    pub fn window(&self) -> usize {
        self.l_v + 2 * (self.l_b + self.l_e)
    }
    fn inner(&self) -> usize {
        self.l_v + 2 * self.l_b
    }
}

impl Block for Square {
    fn visible_len(&self) -> usize {
        self.l_v * self.l_v
    }
    fn env_len(&self) -> usize {
        let w = self.window();
        w * w - self.inner() * self.inner()
    }
    fn visible_offset(&self, k: usize) -> (isize, isize) {
        ((k / self.l_v) as isize, (k % self.l_v) as isize)
    }
    fn env_offset(&self, k: usize) -> (isize, isize) {
        let (w, inner, l_e) = (self.window(), self.inner(), self.l_e);
        let top = l_e * w;
        let middle = inner * 2 * l_e;
        let (row, col) = if k < top {
            (k / w, k % w)
        } else if k < top + middle {
            let k = k - top;
            let c = k % (2 * l_e);
            (l_e + k / (2 * l_e), if c < l_e { c } else { c + inner })
        } else {
            let k = k - top - middle;
            (l_e + inner + k / w, k % w)
        };
        let shift = (self.l_b + self.l_e) as isize;
        (row as isize - shift, col as isize - shift)
    }
    fn check(&self, rows: usize, cols: usize) -> Result<(), Error> {
        let w = self.window();
        if rows < w || cols < w {
            return Err(Error::UnsupportedSize {
                size: rows.min(cols),
                requirement: "the lattice must be at least as large as the window l_v + 2(l_b + l_e)",
            });
        }
        Ok(())
    }
}

/// 1D block geometry on a periodic chain (one row; see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain {
    l_v: usize,
    l_b: usize,
    l_e: usize,
}

impl Chain {
    /// V = `l_v` (≥ 1) consecutive sites, `l_b` (≥ 0) buffer and `l_e` (≥ 1) environment
    /// sites on each side.
    pub fn new(l_v: usize, l_b: usize, l_e: usize) -> Result<Chain, Error> {
        check_widths(l_v, l_b, l_e)?;
        Ok(Chain { l_v, l_b, l_e })
    }
    /// Window length W = l_v + 2(l_b + l_e).
    pub fn window(&self) -> usize {
        self.l_v + 2 * (self.l_b + self.l_e)
    }
}

impl Block for Chain {
    fn visible_len(&self) -> usize {
        self.l_v
    }
    fn env_len(&self) -> usize {
        2 * self.l_e
    }
    fn visible_offset(&self, k: usize) -> (isize, isize) {
        (0, k as isize)
    }
    fn env_offset(&self, k: usize) -> (isize, isize) {
        let shift = (self.l_b + self.l_e) as isize;
        if k < self.l_e {
            (0, k as isize - shift)
        } else {
            (0, (k - self.l_e + self.l_v + self.l_b) as isize)
        }
    }
    fn check(&self, rows: usize, cols: usize) -> Result<(), Error> {
        if rows != 1 {
            return Err(Error::InvalidParameter(
                "a chain geometry needs a one-row lattice",
            ));
        }
        if cols < self.window() {
            return Err(Error::UnsupportedSize {
                size: cols,
                requirement: "the chain must be at least as long as the window l_v + 2(l_b + l_e)",
            });
        }
        Ok(())
    }
}

/// One lattice sample that values can be read from.
pub trait Source {
    /// Number of rows (1 for a chain).
    fn rows(&self) -> usize;
    /// Number of columns.
    fn cols(&self) -> usize;
    /// Value at (`row` < rows, `col` < cols).
    fn value(&self, row: usize, col: usize) -> f32;
    /// Whether the values are ±1 spins (global spin-flip augmentation allowed).
    fn is_spin(&self) -> bool;
}

/// An Ising sample in NumPy packed bits (as written by
/// [`crate::ising::export_packed`]): `rows` rows of ⌈cols/8⌉ bytes, column x in bit
/// 7 − x % 8 of byte x / 8 (Msb0); bit 1 reads as +1, bit 0 as −1.
#[derive(Debug, Clone, Copy)]
pub struct PackedSpins<'a> {
    bytes: &'a [u8],
    rows: usize,
    cols: usize,
    row_bytes: usize,
}

impl<'a> PackedSpins<'a> {
    /// View `bytes` (length `rows · packed_row_bytes(cols)`) as a `rows × cols` sample
    /// (1D: `rows = 1`).
    pub fn new(bytes: &'a [u8], rows: usize, cols: usize) -> Result<PackedSpins<'a>, Error> {
        if rows == 0 || cols == 0 {
            return Err(Error::InvalidParameter(
                "a sample needs at least one row and column",
            ));
        }
        let row_bytes = packed_row_bytes(cols);
        check_len("packed sample", rows * row_bytes, bytes.len())?;
        Ok(PackedSpins {
            bytes,
            rows,
            cols,
            row_bytes,
        })
    }
}

impl Source for PackedSpins<'_> {
    fn rows(&self) -> usize {
        self.rows
    }
    fn cols(&self) -> usize {
        self.cols
    }
    #[inline]
    fn value(&self, row: usize, col: usize) -> f32 {
        let byte = self.bytes[row * self.row_bytes + col / 8];
        if (byte >> (7 - col % 8)) & 1 == 1 {
            1.0
        } else {
            -1.0
        }
    }
    fn is_spin(&self) -> bool {
        true
    }
}

/// A row-major `rows × cols` grid of 0/1 bytes (dimer link planes, the decorated array);
/// values read as 0.0 / 1.0.
#[derive(Debug, Clone, Copy)]
pub struct Grid01<'a> {
    data: &'a [u8],
    rows: usize,
    cols: usize,
}

impl<'a> Grid01<'a> {
    /// View `data` (length `rows · cols`, every byte 0 or 1) as a grid.
    pub fn new(data: &'a [u8], rows: usize, cols: usize) -> Result<Grid01<'a>, Error> {
        if rows == 0 || cols == 0 {
            return Err(Error::InvalidParameter(
                "a sample needs at least one row and column",
            ));
        }
        check_len("0/1 grid", rows * cols, data.len())?;
        if data.iter().any(|&x| x > 1) {
            return Err(Error::InvalidParameter(
                "a 0/1 grid holds only the values 0 and 1",
            ));
        }
        Ok(Grid01 { data, rows, cols })
    }
}

impl Source for Grid01<'_> {
    fn rows(&self) -> usize {
        self.rows
    }
    fn cols(&self) -> usize {
        self.cols
    }
    #[inline]
    fn value(&self, row: usize, col: usize) -> f32 {
        self.data[row * self.cols + col] as f32
    }
    fn is_spin(&self) -> bool {
        false
    }
}

/// Lattice coordinate `base + offset` wrapped to `0..n` (|offset| ≤ n, checked by
/// [`Block::check`] through the window bound).
#[inline]
fn wrap(base: usize, offset: isize, n: usize) -> usize {
    // base < n and |offset| ≤ W ≤ n: the sum lies in (−n, 2n).
    let x = (base + n) as isize + offset;
    (x as usize) % n
}

/// Extract (V, E) of the block with corner `corner` (row, column) into `v` (length |V|,
/// order of [`Block::visible_offset`]) and `e` (length |E|). `flip` negates every value
/// (global spin-flip augmentation; only for ±1 sources).
pub fn extract<G: Block, S: Source>(
    geometry: &G,
    source: &S,
    corner: (usize, usize),
    flip: bool,
    v: &mut [f32],
    e: &mut [f32],
) -> Result<(), Error> {
    let (rows, cols) = (source.rows(), source.cols());
    geometry.check(rows, cols)?;
    check_len("visible row", geometry.visible_len(), v.len())?;
    check_len("environment row", geometry.env_len(), e.len())?;
    if corner.0 >= rows || corner.1 >= cols {
        return Err(Error::InvalidParameter("block corner outside the lattice"));
    }
    if flip && !source.is_spin() {
        return Err(Error::Unsupported(
            "global spin-flip augmentation needs ±1 data",
        ));
    }
    let sign = if flip { -1.0 } else { 1.0 };
    for (k, x) in v.iter_mut().enumerate() {
        let (dr, dc) = geometry.visible_offset(k);
        *x = sign * source.value(wrap(corner.0, dr, rows), wrap(corner.1, dc, cols));
    }
    for (k, x) in e.iter_mut().enumerate() {
        let (dr, dc) = geometry.env_offset(k);
        *x = sign * source.value(wrap(corner.0, dr, rows), wrap(corner.1, dc, cols));
    }
    Ok(())
}

/// Extract every block position of the stride grid of one sample into consecutive rows
/// of `v` (positions × |V|) and `e` (positions × |E|), in position order; returns the
/// number of positions.
pub fn extract_all<G: Block, S: Source>(
    geometry: &G,
    source: &S,
    stride: usize,
    flip: bool,
    v: &mut [f32],
    e: &mut [f32],
) -> Result<usize, Error> {
    let (rows, cols) = (source.rows(), source.cols());
    let count = geometry.positions(rows, cols, stride)?;
    let (nv, ne) = (geometry.visible_len(), geometry.env_len());
    check_len("visible batch", count * nv, v.len())?;
    check_len("environment batch", count * ne, e.len())?;
    for (p, (vr, er)) in v
        .chunks_exact_mut(nv)
        .zip(e.chunks_exact_mut(ne))
        .enumerate()
    {
        let corner = geometry.position(rows, cols, stride, p)?;
        extract(geometry, source, corner, flip, vr, er)?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_window() {
        let g = Square::new(2, 1, 2).unwrap();
        assert_eq!((g.window(), g.visible_len(), g.env_len()), (8, 4, 48));
        let g = Square::new(2, 1, 1).unwrap();
        assert_eq!(g.env_len(), 20); // docs/method.md#ising-2d-block-values
        let g = Square::new(2, 2, 2).unwrap();
        assert_eq!(g.env_len(), 64);
        let g = Square::new(8, 4, 4).unwrap(); // decorated dimer block
        assert_eq!((g.window(), g.visible_len(), g.env_len()), (24, 64, 320));
        let c = Chain::new(2, 1, 1).unwrap();
        assert_eq!((c.window(), c.visible_len(), c.env_len()), (6, 2, 2));
    }

    #[test]
    fn offsets_cover_the_window_minus_the_inner_box_once_in_row_major_order() {
        for (l_v, l_b, l_e) in [(2, 1, 2), (1, 0, 1), (3, 2, 1), (8, 4, 4), (2, 0, 3)] {
            let g = Square::new(l_v, l_b, l_e).unwrap();
            let (w, r) = (g.window() as isize, (l_b + l_e) as isize);
            // Expected by direct enumeration of the window.
            let mut k = 0;
            for row in -r..w - r {
                for col in -r..w - r {
                    let inner = |x: isize| x >= -(l_b as isize) && x < (l_v + l_b) as isize;
                    if inner(row) && inner(col) {
                        continue;
                    }
                    assert_eq!(g.env_offset(k), (row, col), "{l_v} {l_b} {l_e} k={k}");
                    k += 1;
                }
            }
            assert_eq!(k, g.env_len());
            for k in 0..g.visible_len() {
                assert_eq!(
                    g.visible_offset(k),
                    ((k / l_v) as isize, (k % l_v) as isize)
                );
            }
        }
        let c = Chain::new(2, 1, 2).unwrap();
        let offs: [isize; 4] = core::array::from_fn(|k| c.env_offset(k).1);
        assert_eq!(offs, [-3, -2, 3, 4]); // E, B, V V, B, E
    }

    #[test]
    fn validation_rejects_bad_geometries() {
        assert!(Square::new(0, 1, 1).is_err());
        assert!(Square::new(2, 1, 0).is_err());
        assert!(Chain::new(0, 1, 1).is_err());
        assert!(Chain::new(1, 0, 0).is_err());
        let g = Square::new(2, 1, 2).unwrap();
        assert!(g.check(8, 8).is_ok());
        assert!(g.check(7, 8).is_err());
        assert!(g.check(8, 7).is_err());
        assert!(g.positions(8, 8, 0).is_err());
        assert_eq!(g.positions(8, 8, 2).unwrap(), 16);
        assert_eq!(g.positions(16, 16, 2).unwrap(), 64);
        assert!(g.position(8, 8, 2, 16).is_err());
        assert_eq!(g.position(8, 8, 2, 5).unwrap(), (2, 2));
        let c = Chain::new(2, 1, 1).unwrap();
        assert!(c.check(1, 5).is_err());
        assert!(c.check(2, 8).is_err());
        assert_eq!(c.positions(1, 8, 2).unwrap(), 4);
        // Oversize window on a real sample.
        let bytes = [0u8; 7];
        let src = PackedSpins::new(&bytes, 7, 7).unwrap();
        let (mut v, mut e) = ([0.0f32; 4], [0.0f32; 48]);
        assert!(extract(&g, &src, (0, 0), false, &mut v, &mut e).is_err());
        // Bad buffers and sources.
        assert!(PackedSpins::new(&bytes, 7, 9).is_err());
        assert!(Grid01::new(&[0, 1, 2, 0], 2, 2).is_err());
        let grid = [0u8; 64];
        let src = Grid01::new(&grid, 8, 8).unwrap();
        assert!(extract(&g, &src, (0, 0), true, &mut v, &mut e).is_err());
        assert!(extract(&g, &src, (8, 0), false, &mut v, &mut e).is_err());
        assert!(extract(&g, &src, (0, 0), false, &mut v[..3], &mut e).is_err());
    }

    /// A hand-made 10×10 sample (rows of 2 bytes) with a pseudo-random pattern.
    fn spin_at(r: usize, c: usize) -> bool {
        (r * 7 + c * 3 + (r * c) % 5).is_multiple_of(3)
    }

    #[test]
    fn extraction_from_packed_bits_equals_direct_indexing_with_wrap() {
        const L: usize = 10;
        let mut bytes = [0u8; L * 2];
        for r in 0..L {
            for c in 0..L {
                if spin_at(r, c) {
                    bytes[r * 2 + c / 8] |= 0x80 >> (c % 8);
                }
            }
        }
        let src = PackedSpins::new(&bytes, L, L).unwrap();
        let g = Square::new(2, 1, 2).unwrap();
        let n = g.positions(L, L, 2).unwrap();
        assert_eq!(n, 25);
        let mut v = [0.0f32; 25 * 4];
        let mut e = [0.0f32; 25 * 48];
        assert_eq!(extract_all(&g, &src, 2, false, &mut v, &mut e).unwrap(), 25);
        let val = |r: isize, c: isize| {
            let (r, c) = (
                r.rem_euclid(L as isize) as usize,
                c.rem_euclid(L as isize) as usize,
            );
            if spin_at(r, c) { 1.0 } else { -1.0 }
        };
        for p in 0..n {
            let (r0, c0) = ((p / 5 * 2) as isize, (p % 5 * 2) as isize);
            // V row-major over the block.
            for k in 0..4 {
                assert_eq!(
                    v[p * 4 + k],
                    val(r0 + (k / 2) as isize, c0 + (k % 2) as isize)
                );
            }
            // E row-major over rows r0−3 ..= r0+4, skipping the 4×4 inner box.
            let mut k = 0;
            for r in r0 - 3..r0 + 5 {
                for c in c0 - 3..c0 + 5 {
                    if (r0 - 1..r0 + 3).contains(&r) && (c0 - 1..c0 + 3).contains(&c) {
                        continue;
                    }
                    assert_eq!(e[p * 48 + k], val(r, c), "position {p} env {k}");
                    k += 1;
                }
            }
        }
        // Spin flip negates everything.
        let (mut v2, mut e2) = ([0.0f32; 4], [0.0f32; 48]);
        extract(&g, &src, (8, 8), true, &mut v2, &mut e2).unwrap();
        assert_eq!(v2[3], -val(9, 9));
        assert_eq!(e2[47], -val(12, 12)); // wraps to (2, 2)
    }

    #[test]
    fn extraction_from_a_chain_and_a_01_grid() {
        // 1D: 12 sites, packed in 2 bytes; up spins at 0, 5, 11.
        let bytes = [0b1000_0100u8, 0b0001_0000];
        let src = PackedSpins::new(&bytes, 1, 12).unwrap();
        let c = Chain::new(2, 1, 1).unwrap();
        let (mut v, mut e) = ([0.0f32; 2], [0.0f32; 2]);
        extract(&c, &src, (0, 0), false, &mut v, &mut e).unwrap();
        assert_eq!(v, [1.0, -1.0]);
        assert_eq!(e, [-1.0, -1.0]); // sites 10 and 3
        extract(&c, &src, (0, 1), false, &mut v, &mut e).unwrap();
        assert_eq!(e, [1.0, -1.0]); // sites 11 and 4
        extract(&c, &src, (0, 4), false, &mut v, &mut e).unwrap();
        assert_eq!((v, e), ([-1.0, 1.0], [-1.0, -1.0])); // V = sites 4, 5; E = sites 2, 7
        // 0/1 grid.
        let mut grid = [0u8; 64];
        grid[3 * 8 + 5] = 1;
        let src = Grid01::new(&grid, 8, 8).unwrap();
        let g = Square::new(1, 0, 1).unwrap();
        let (mut v, mut e) = ([0.0f32; 1], [0.0f32; 8]);
        extract(&g, &src, (3, 5), false, &mut v, &mut e).unwrap();
        assert_eq!(v, [1.0]);
        extract(&g, &src, (4, 4), false, &mut v, &mut e).unwrap();
        assert_eq!(v, [0.0]);
        assert_eq!(e, [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]); // (3, 5) is E's third site
    }
}
