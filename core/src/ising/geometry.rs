use crate::error::Error;

/// Lattice dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// Periodic chain (ring) of L sites.
    One,
    /// L×L square torus.
    Two,
}

/// A periodic lattice: ring of L sites or L×L torus. Sites are numbered row-major,
/// site = y·L + x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    dim: Dim,
    l: usize,
}

impl Geometry {
    /// Largest supported linear size (keeps site counts well inside `u32`/`i64`).
    pub const MAX_L_2D: usize = 1 << 15;
    /// Largest supported ring length.
    pub const MAX_L_1D: usize = 1 << 30;

    /// A ring (`Dim::One`) or torus (`Dim::Two`) of linear size `l ≥ 2`.
    pub fn new(dim: Dim, l: usize) -> Result<Self, Error> {
        let max = match dim {
            Dim::One => Self::MAX_L_1D,
            Dim::Two => Self::MAX_L_2D,
        };
        if l < 2 {
            return Err(Error::UnsupportedSize {
                size: l,
                requirement: "the linear size must be at least 2",
            });
        }
        if l > max {
            return Err(Error::UnsupportedSize {
                size: l,
                requirement: "the linear size exceeds the supported maximum (2^15 in 2D, 2^30 in 1D)",
            });
        }
        Ok(Geometry { dim, l })
    }
    /// Dimension.
    pub fn dim(&self) -> Dim {
        self.dim
    }
    /// Linear size L.
    pub fn size(&self) -> usize {
        self.l
    }
    /// Number of sites (L or L²).
    pub fn sites(&self) -> usize {
        match self.dim {
            Dim::One => self.l,
            Dim::Two => self.l * self.l,
        }
    }
    /// Coordination number z (2 or 4).
    pub fn z(&self) -> usize {
        match self.dim {
            Dim::One => 2,
            Dim::Two => 4,
        }
    }
    /// Number of bonds (z·N/2): each site owns its +x (and +y) bond.
    pub fn bonds(&self) -> usize {
        self.sites() * self.z() / 2
    }
    /// The z neighbours of a site: [−x, +x] or [−x, +x, −y, +y] (the rest zero).
    #[inline]
    pub fn neighbours(&self, site: usize) -> [usize; 4] {
        let l = self.l;
        // One division at most; wrap-around by comparison (this sits in Wolff's inner loop).
        let step = |i: usize, n: usize| -> (usize, usize) {
            (
                if i == 0 { n - 1 } else { i - 1 },
                if i + 1 == n { 0 } else { i + 1 },
            )
        };
        match self.dim {
            Dim::One => {
                let (lf, rt) = step(site, l);
                [lf, rt, 0, 0]
            }
            Dim::Two => {
                let (y, x) = (site / l, site % l);
                let row = site - x;
                let (lf, rt) = step(x, l);
                let n = self.sites();
                let up = if y == 0 { site + n - l } else { site - l };
                let dn = if y + 1 == l { x } else { site + l };
                [row + lf, row + rt, up, dn]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_by_coordinates() {
        for (dim, l) in [
            (Dim::One, 2),
            (Dim::One, 5),
            (Dim::Two, 2),
            (Dim::Two, 3),
            (Dim::Two, 7),
        ] {
            let g = Geometry::new(dim, l).unwrap();
            for site in 0..g.sites() {
                let (y, x) = (site / l, site % l);
                let nb = g.neighbours(site);
                assert_eq!(nb[0], y * l + (x + l - 1) % l);
                assert_eq!(nb[1], y * l + (x + 1) % l);
                if dim == Dim::Two {
                    assert_eq!(nb[2], ((y + l - 1) % l) * l + x);
                    assert_eq!(nb[3], ((y + 1) % l) * l + x);
                }
            }
        }
    }
}
