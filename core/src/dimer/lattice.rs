//! The L×L torus of close-packed dimers and its two bit-planes.
//!
//! A configuration is two planes of ⌈L²/64⌉ words each (see [`Torus::plane_words`]):
//! `h` with bit `y·L + x` set when a dimer occupies the link (x,y)–(x+1,y), and `v` with
//! bit `y·L + x` set when a dimer occupies (x,y)–(x,y+1); x is the column, y the row, both
//! periodic. Bit `i` lives in word `i / 64` at position `i % 64`. The unused high bits of
//! the last word ("padding") must be zero.
//!
//! A *covering* is valid when every site touches exactly one dimer among its four links
//! h(x,y), h(x−1,y), v(x,y), v(x,y−1). [`Torus::defect`] finds the first violation (in
//! typewriter order) or a stray padding bit; [`Torus::validate`] turns it into an
//! [`Error`].

use crate::error::{Error, check_len};
use core::fmt;

/// Which of the two link planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    /// Horizontal links (x,y)–(x+1,y).
    H,
    /// Vertical links (x,y)–(x,y+1).
    V,
}

/// What is wrong with a pair of planes that is not a valid close-packed covering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// Site (x, y) touches `dimers` ≠ 1 dimers (the first such site in typewriter order).
    Site {
        /// Column.
        x: usize,
        /// Row.
        y: usize,
        /// Number of occupied links touching the site (0, 2, 3 or 4).
        dimers: u32,
    },
    /// A padding bit (index ≥ L² in the last word) of `plane` is set.
    Padding {
        /// The plane with the stray bit.
        plane: Plane,
        /// Its bit index (≥ L²).
        bit: usize,
    },
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::Site { x, y, dimers } => write!(
                f,
                "site (x={x}, y={y}) touches {dimers} dimers (a close-packed covering needs exactly 1)"
            ),
            Defect::Padding { plane, bit } => {
                write!(f, "padding bit {bit} of plane {plane:?} is set (must be 0)")
            }
        }
    }
}

/// An L×L periodic square lattice for close-packed dimers: L even, 4 ≤ L ≤ [`Torus::MAX_L`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Torus {
    l: usize,
}

#[inline(always)]
pub(crate) fn bit(plane: &[u64], i: usize) -> bool {
    (plane[i >> 6] >> (i & 63)) & 1 == 1
}

#[inline(always)]
pub(crate) fn toggle(plane: &mut [u64], i: usize) {
    plane[i >> 6] ^= 1 << (i & 63);
}

/// 64 bits of `plane` starting at bit `start` (bit k of the result = bit `(start + k) mod n`
/// of the plane), for a plane of `n ≥ 64` meaningful bits.
#[inline]
pub(crate) fn window(plane: &[u64], n: usize, start: usize) -> u64 {
    let start = start % n;
    if start + 64 <= n {
        let (w, s) = (start >> 6, start & 63);
        if s == 0 {
            plane[w]
        } else {
            (plane[w] >> s) | (plane[w + 1] << (64 - s))
        }
    } else {
        let mut out = 0u64;
        for k in 0..64 {
            out |= (bit(plane, (start + k) % n) as u64) << k;
        }
        out
    }
}

/// Mask of the meaningful bits of word `w` of a plane of `n` bits.
#[inline]
pub(crate) fn valid_mask(n: usize, w: usize) -> u64 {
    let lo = w * 64;
    if lo + 64 <= n {
        u64::MAX
    } else if lo >= n {
        0
    } else {
        (1u64 << (n - lo)) - 1
    }
}

impl Torus {
    /// Largest supported linear size (L² = 2³⁰ sites, 128 MiB per plane).
    pub const MAX_L: usize = 1 << 15;

    /// The L×L torus; L must be even and 4 ≤ L ≤ [`Torus::MAX_L`].
    pub fn new(l: usize) -> Result<Torus, Error> {
        if l < 4 || !l.is_multiple_of(2) || l > Self::MAX_L {
            return Err(Error::UnsupportedSize {
                size: l,
                requirement: "dimers need an even L with 4 <= L <= 32768",
            });
        }
        Ok(Torus { l })
    }

    /// Linear size L.
    #[inline]
    pub fn l(&self) -> usize {
        self.l
    }

    /// Number of sites L² (also the number of links in each plane).
    #[inline]
    pub fn sites(&self) -> usize {
        self.l * self.l
    }

    /// Words per bit-plane: ⌈L²/64⌉.
    #[inline]
    pub fn plane_words(&self) -> usize {
        self.sites().div_ceil(64)
    }

    /// Bit index of site (x, y), coordinates taken modulo L.
    #[inline]
    pub fn index(&self, x: usize, y: usize) -> usize {
        (y % self.l) * self.l + (x % self.l)
    }

    /// Check that `h` and `v` both have [`Torus::plane_words`] words.
    pub fn check_planes(&self, h: &[u64], v: &[u64]) -> Result<(), Error> {
        check_len("h", self.plane_words(), h.len())?;
        check_len("v", self.plane_words(), v.len())
    }

    /// The link bit of `plane` at site (x, y) (coordinates modulo L).
    pub fn get(&self, plane: &[u64], x: usize, y: usize) -> Result<bool, Error> {
        check_len("plane", self.plane_words(), plane.len())?;
        Ok(bit(plane, self.index(x, y)))
    }

    /// Set the link bit of `plane` at site (x, y) (coordinates modulo L) to `value`.
    pub fn set(&self, plane: &mut [u64], x: usize, y: usize, value: bool) -> Result<(), Error> {
        check_len("plane", self.plane_words(), plane.len())?;
        let i = self.index(x, y);
        let m = 1u64 << (i & 63);
        if value {
            plane[i >> 6] |= m;
        } else {
            plane[i >> 6] &= !m;
        }
        Ok(())
    }

    /// Write the columnar covering h(x, y) = 1 for even x, all other links empty.
    /// Valid for every even L; it has N_∥ = L²/2 and winding (0, 0).
    pub fn columnar(&self, h: &mut [u64], v: &mut [u64]) -> Result<(), Error> {
        self.check_planes(h, v)?;
        h.fill(0);
        v.fill(0);
        for y in 0..self.l {
            for x in (0..self.l).step_by(2) {
                toggle(h, y * self.l + x);
            }
        }
        Ok(())
    }

    /// Write the staggered covering h(x, y) = 1 for x + y even: no flippable plaquette
    /// (N_∥ = 0), winding (W_x, W_y) = (L/2, 0), the extreme horizontal winding sector.
    pub fn staggered(&self, h: &mut [u64], v: &mut [u64]) -> Result<(), Error> {
        self.check_planes(h, v)?;
        h.fill(0);
        v.fill(0);
        for y in 0..self.l {
            for x in ((y % 2)..self.l).step_by(2) {
                toggle(h, y * self.l + x);
            }
        }
        Ok(())
    }

    /// Number of occupied links touching site (x, y) (0..=4), without length checks.
    #[inline]
    pub(crate) fn dimers_at(&self, h: &[u64], v: &[u64], x: usize, y: usize) -> u32 {
        let l = self.l;
        let xm = if x == 0 { l - 1 } else { x - 1 };
        let ym = if y == 0 { l - 1 } else { y - 1 };
        bit(h, y * l + x) as u32
            + bit(h, y * l + xm) as u32
            + bit(v, y * l + x) as u32
            + bit(v, ym * l + x) as u32
    }

    /// The first defect of (`h`, `v`) as a close-packed covering, or `None` when it is
    /// valid: stray padding bits first (h, then v), then the first site in typewriter
    /// order that does not touch exactly one dimer.
    pub fn defect(&self, h: &[u64], v: &[u64]) -> Result<Option<Defect>, Error> {
        self.check_planes(h, v)?;
        let n = self.sites();
        let last = self.plane_words() - 1;
        for (plane, words) in [(Plane::H, h), (Plane::V, v)] {
            let stray = words[last] & !valid_mask(n, last);
            if stray != 0 {
                let bit = last * 64 + stray.trailing_zeros() as usize;
                return Ok(Some(Defect::Padding { plane, bit }));
            }
        }
        for y in 0..self.l {
            for x in 0..self.l {
                let dimers = self.dimers_at(h, v, x, y);
                if dimers != 1 {
                    return Ok(Some(Defect::Site { x, y, dimers }));
                }
            }
        }
        Ok(None)
    }

    /// `Ok(())` when (`h`, `v`) is a valid close-packed covering with zero padding; an
    /// [`Error::InvalidParameter`] otherwise (use [`Torus::defect`] for the details).
    pub fn validate(&self, h: &[u64], v: &[u64]) -> Result<(), Error> {
        match self.defect(h, v)? {
            None => Ok(()),
            Some(Defect::Site { .. }) => Err(Error::InvalidParameter(
                "dimer planes are not a close-packed covering: some site does not touch exactly one dimer",
            )),
            Some(Defect::Padding { .. }) => Err(Error::InvalidParameter(
                "dimer planes have padding bits (index >= L*L) set",
            )),
        }
    }

    /// N_∥: the number of plaquettes holding two parallel dimers, i.e. the sum over all
    /// (x, y) of h(x,y)·h(x,y+1) and v(x,y)·v(x+1,y) (for a valid covering, the number of
    /// flippable plaquettes). Word-parallel (popcount); padding bits are ignored.
    pub fn n_parallel(&self, h: &[u64], v: &[u64]) -> Result<u64, Error> {
        self.check_planes(h, v)?;
        let (l, n) = (self.l, self.sites());
        let mut count = 0u64;
        for w in 0..self.plane_words() {
            let m = valid_mask(n, w);
            // h(i) & h(i + L): the plane shifted by one row, wrapping at the end.
            count += (h[w] & window(h, n, w * 64 + l) & m).count_ones() as u64;
            // v(i) & v(i + 1): right neighbour, except that x = L−1 wraps within its row
            // (corrected below).
            count += (v[w] & window(v, n, w * 64 + 1) & m).count_ones() as u64;
        }
        for y in 0..l {
            let last = y * l + l - 1;
            if bit(v, last) {
                let wrong = bit(v, ((y + 1) % l) * l) as u64;
                let right = bit(v, y * l) as u64;
                count = count + right - wrong;
            }
        }
        Ok(count)
    }
}
