//! Conversion between the packed layouts and NumPy's packed-bits layout.

use super::Layout;
use crate::error::{Error, check_len};
use crate::word::Word;
use bitvec::prelude::*;

/// Bytes per lattice row in NumPy's `packbits` layout: ⌈L/8⌉.
pub fn packed_row_bytes(l: usize) -> usize {
    l.div_ceil(8)
}

fn rows(layout: &impl Layout) -> usize {
    let g = layout.geometry();
    g.sites() / g.size()
}

/// Write chain `chain` as NumPy packed bits: rows of ⌈L/8⌉ bytes, column x in bit
/// 7 − x % 8 of byte x / 8 (`np.unpackbits(..., axis=-1)[..., :L]` gives 1 for up
/// spins). 2D: `out.len() = L·⌈L/8⌉`; 1D: `⌈L/8⌉`. Padding bits are cleared.
pub fn export_packed<L: Layout, W: Word>(
    layout: &L,
    lattice: &[W],
    flip: W,
    chain: usize,
    out: &mut [u8],
) -> Result<(), Error> {
    let g = layout.geometry();
    let rb = packed_row_bytes(g.size());
    check_len("lattice", layout.words(), lattice.len())?;
    check_len("packed output", rows(layout) * rb, out.len())?;
    if chain >= layout.chains::<W>() {
        return Err(Error::InvalidParameter("chain index out of range"));
    }
    out.fill(0);
    let bits = out.view_bits_mut::<Msb0>();
    let l = g.size();
    for site in 0..g.sites() {
        let (row, col) = (site / l, site % l);
        bits.set(row * rb * 8 + col, layout.spin(lattice, flip, chain, site));
    }
    Ok(())
}

/// Load chain `chain` from NumPy packed bits (the inverse of [`export_packed`]; the
/// chain's pending global flip must be cleared by the caller, i.e. `flip` bits of that
/// chain are taken as zero). Non-zero padding bits are an error.
pub fn import_packed<L: Layout, W: Word>(
    layout: &L,
    lattice: &mut [W],
    chain: usize,
    packed: &[u8],
) -> Result<(), Error> {
    let g = layout.geometry();
    let rb = packed_row_bytes(g.size());
    check_len("lattice", layout.words(), lattice.len())?;
    check_len("packed input", rows(layout) * rb, packed.len())?;
    if chain >= layout.chains::<W>() {
        return Err(Error::InvalidParameter("chain index out of range"));
    }
    let bits = packed.view_bits::<Msb0>();
    let l = g.size();
    for r in 0..rows(layout) {
        if bits[r * rb * 8 + l..(r + 1) * rb * 8].any() {
            return Err(Error::InvalidParameter(
                "non-zero padding bits in packed row",
            ));
        }
    }
    for site in 0..g.sites() {
        let (row, col) = (site / l, site % l);
        let (w, b) = layout.locate::<W>(chain, site);
        let want = bits[row * rb * 8 + col];
        if lattice[w].bit(b) != want {
            let mut lanes = [0u64; 4];
            for (i, x) in lanes.iter_mut().enumerate().take(W::LANES) {
                *x = lattice[w].lane(i);
            }
            lanes[b / 64] ^= 1 << (b % 64);
            lattice[w] = W::from_fn(|i| lanes[i]);
        }
    }
    Ok(())
}
