//! The noise-decorated 2L×2L array of docs/method.md#dimers-and-the-noise-decoration and the plain links export.
//!
//! **Decorated array** (`u8` 0/1, row-major, 4L² bytes, row r = 0..2L, column c = 0..2L):
//!
//! ```text
//! X[2y  ][2x  ] = vertex noise bit of site (x, y)
//! X[2y  ][2x+1] = h(x, y)        (dimer on (x,y)–(x+1,y))
//! X[2y+1][2x  ] = v(x, y)        (dimer on (x,y)–(x,y+1))
//! X[2y+1][2x+1] = face noise bit of the plaquette with corner (x, y)
//! ```
//!
//! The noise bits come from caller planes with the same bit layout as `h` and `v` (bit
//! y·L + x); pass the same plane twice for "perfectly ferromagnetic" pairs (mc_dimers'
//! `site_corr`).
//!
//! **Links** (`u8` 0/1, 2L² bytes): `links[0][y][x] = h(x,y)`, `links[1][y][x] = v(x,y)`,
//! i.e. byte `y·L + x` is h(x,y) and byte `L² + y·L + x` is v(x,y).
//!
//! The readers are strict: wrong lengths, any byte other than 0/1, and link planes that
//! are not a valid covering are errors (never panics).

use super::lattice::{Torus, bit};
use crate::error::{Error, check_len};

/// Bytes of the decorated array: (2L)².
pub fn decorated_len(torus: Torus) -> usize {
    4 * torus.sites()
}

/// Bytes of the links export: 2L².
pub fn links_len(torus: Torus) -> usize {
    2 * torus.sites()
}

/// Write the decorated array of (`h`, `v`) with noise planes `vertex` and `face` into `out`
/// ([`decorated_len`] bytes). Padding bits of the planes are ignored.
pub fn write_decorated(
    torus: Torus,
    h: &[u64],
    v: &[u64],
    vertex: &[u64],
    face: &[u64],
    out: &mut [u8],
) -> Result<(), Error> {
    torus.check_planes(h, v)?;
    check_len("vertex", torus.plane_words(), vertex.len())?;
    check_len("face", torus.plane_words(), face.len())?;
    check_len("out", decorated_len(torus), out.len())?;
    let l = torus.l();
    let w = 2 * l;
    for y in 0..l {
        for x in 0..l {
            let i = y * l + x;
            out[2 * y * w + 2 * x] = bit(vertex, i) as u8;
            out[2 * y * w + 2 * x + 1] = bit(h, i) as u8;
            out[(2 * y + 1) * w + 2 * x] = bit(v, i) as u8;
            out[(2 * y + 1) * w + 2 * x + 1] = bit(face, i) as u8;
        }
    }
    Ok(())
}

/// Read a decorated array back into `h`, `v`, `vertex` and `face` (each
/// [`Torus::plane_words`] words; overwritten, padding zero). Fails on a wrong length, any
/// byte other than 0 or 1, or link planes that are not a valid covering.
pub fn read_decorated(
    torus: Torus,
    bytes: &[u8],
    h: &mut [u64],
    v: &mut [u64],
    vertex: &mut [u64],
    face: &mut [u64],
) -> Result<(), Error> {
    check_len("decorated", decorated_len(torus), bytes.len())?;
    torus.check_planes(h, v)?;
    check_len("vertex", torus.plane_words(), vertex.len())?;
    check_len("face", torus.plane_words(), face.len())?;
    if bytes.iter().any(|&b| b > 1) {
        return Err(Error::InvalidParameter(
            "decorated array holds a byte other than 0 or 1",
        ));
    }
    for p in [&mut *h, &mut *v, &mut *vertex, &mut *face] {
        p.fill(0);
    }
    let l = torus.l();
    let w = 2 * l;
    for y in 0..l {
        for x in 0..l {
            let i = y * l + x;
            let (word, b) = (i / 64, i % 64);
            vertex[word] |= (bytes[2 * y * w + 2 * x] as u64) << b;
            h[word] |= (bytes[2 * y * w + 2 * x + 1] as u64) << b;
            v[word] |= (bytes[(2 * y + 1) * w + 2 * x] as u64) << b;
            face[word] |= (bytes[(2 * y + 1) * w + 2 * x + 1] as u64) << b;
        }
    }
    torus.validate(h, v)
}

/// Write the links export of (`h`, `v`) into `out` ([`links_len`] bytes).
pub fn write_links(torus: Torus, h: &[u64], v: &[u64], out: &mut [u8]) -> Result<(), Error> {
    torus.check_planes(h, v)?;
    check_len("out", links_len(torus), out.len())?;
    let n = torus.sites();
    for i in 0..n {
        out[i] = bit(h, i) as u8;
        out[n + i] = bit(v, i) as u8;
    }
    Ok(())
}

/// Read a links export back into `h` and `v` (overwritten, padding zero). Fails on a wrong
/// length, any byte other than 0 or 1, or planes that are not a valid covering.
pub fn read_links(torus: Torus, bytes: &[u8], h: &mut [u64], v: &mut [u64]) -> Result<(), Error> {
    check_len("links", links_len(torus), bytes.len())?;
    torus.check_planes(h, v)?;
    if bytes.iter().any(|&b| b > 1) {
        return Err(Error::InvalidParameter(
            "links array holds a byte other than 0 or 1",
        ));
    }
    h.fill(0);
    v.fill(0);
    let n = torus.sites();
    for i in 0..n {
        h[i / 64] |= (bytes[i] as u64) << (i % 64);
        v[i / 64] |= (bytes[n + i] as u64) << (i % 64);
    }
    torus.validate(h, v)
}
