//! The packed bit layout of Ising configurations and its conversion from/to NumPy's
//! `packbits` rows.
//!
//! An L×L configuration is stored row-major as [`words_per_row`]`(L)` = ⌈L/64⌉ `u64`
//! words per row: site (y, x) is bit `x % 64` (least significant bit first) of word
//! `y·W + x/64`; 1 is spin up (+1), 0 spin down (−1). A 1D ring of L sites is one such
//! row.
//!
//! **Padding bits** (the bits past L in the last word of every row) are *ignored* by
//! every reader in this module and in [`operators`](super::operators) and
//! [`coarsen`](super::coarsen) (they are masked, whatever they hold), and *written as
//! zero* by every writer.
//!
//! NumPy's `np.packbits(.., axis=-1)` layout (the sample files) stores each row in
//! ⌈L/8⌉ bytes, big-endian within a byte: bit 7 (the MSB) of byte 0 is x = 0. The pad
//! bits of a row's last byte are ignored on input and written as zero. The conversion
//! works eight bytes at a time: `u64::from_be_bytes(chunk).reverse_bits()` puts bit 7
//! of byte i at bit 8i, which is exactly the word layout.

use crate::error::{Error, check_len};

/// Words per row of a lattice of side (or ring length) `side`: ⌈side/64⌉.
pub const fn words_per_row(side: usize) -> usize {
    side.div_ceil(64)
}

/// Mask of the valid bits of the last word of a row of `side` sites (all ones when
/// `side` is a multiple of 64).
pub const fn last_word_mask(side: usize) -> u64 {
    let m = side % 64;
    if m == 0 { !0 } else { (1u64 << m) - 1 }
}

/// Check `side ≥ 2` (a lattice or ring needs at least two sites per row).
pub(crate) fn check_side(side: usize) -> Result<(), Error> {
    if side >= 2 {
        Ok(())
    } else {
        Err(Error::UnsupportedSize {
            size: side,
            requirement: "side (ring length) must be at least 2",
        })
    }
}

/// `rows · per_row` without overflow (an overflow is a size no buffer can have).
pub(crate) fn area(rows: usize, per_row: usize) -> Result<usize, Error> {
    rows.checked_mul(per_row).ok_or(Error::UnsupportedSize {
        size: rows,
        requirement: "buffer length overflows usize",
    })
}

/// One packbits row (⌈side/8⌉ bytes) into one word row (⌈side/64⌉ words).
fn row_from_bytes(bytes: &[u8], side: usize, out: &mut [u64]) {
    let last = out.len() - 1;
    for (i, (word, chunk)) in out.iter_mut().zip(bytes.chunks(8)).enumerate() {
        let mut buf = [0u8; 8];
        buf[..chunk.len()].copy_from_slice(chunk);
        let w = u64::from_be_bytes(buf).reverse_bits();
        *word = if i == last {
            w & last_word_mask(side)
        } else {
            w
        };
    }
}

/// One word row into one packbits row.
fn row_to_bytes(words: &[u64], side: usize, out: &mut [u8]) {
    let last = words.len() - 1;
    for (i, (word, chunk)) in words.iter().zip(out.chunks_mut(8)).enumerate() {
        let w = if i == last {
            *word & last_word_mask(side)
        } else {
            *word
        };
        let n = chunk.len();
        chunk.copy_from_slice(&w.reverse_bits().to_be_bytes()[..n]);
    }
}

/// Read an L×L configuration from NumPy `packbits` rows (`side · ⌈side/8⌉` bytes) into
/// the packed word layout (`out`: `side · ⌈side/64⌉` words). Pad bits of the input are
/// ignored; padding bits of the output are zero.
pub fn from_packbits_2d(bytes: &[u8], side: usize, out: &mut [u64]) -> Result<(), Error> {
    check_side(side)?;
    let (nb, nw) = (side.div_ceil(8), words_per_row(side));
    check_len("bytes", area(side, nb)?, bytes.len())?;
    check_len("out", area(side, nw)?, out.len())?;
    for (row_b, row_w) in bytes.chunks_exact(nb).zip(out.chunks_exact_mut(nw)) {
        row_from_bytes(row_b, side, row_w);
    }
    Ok(())
}

/// Write an L×L packed configuration (`side · ⌈side/64⌉` words; padding ignored) as
/// NumPy `packbits` rows (`out_bytes`: `side · ⌈side/8⌉` bytes, pad bits zero).
pub fn to_packbits_2d(words: &[u64], side: usize, out_bytes: &mut [u8]) -> Result<(), Error> {
    check_side(side)?;
    let (nb, nw) = (side.div_ceil(8), words_per_row(side));
    check_len("words", area(side, nw)?, words.len())?;
    check_len("out_bytes", area(side, nb)?, out_bytes.len())?;
    for (row_w, row_b) in words.chunks_exact(nw).zip(out_bytes.chunks_exact_mut(nb)) {
        row_to_bytes(row_w, side, row_b);
    }
    Ok(())
}

/// Read a ring of `len` sites from one NumPy `packbits` row (⌈len/8⌉ bytes) into
/// ⌈len/64⌉ words (padding zero).
pub fn from_packbits_1d(bytes: &[u8], len: usize, out: &mut [u64]) -> Result<(), Error> {
    check_side(len)?;
    check_len("bytes", len.div_ceil(8), bytes.len())?;
    check_len("out", words_per_row(len), out.len())?;
    row_from_bytes(bytes, len, out);
    Ok(())
}

/// Write a ring of `len` sites (⌈len/64⌉ words, padding ignored) as one NumPy
/// `packbits` row (⌈len/8⌉ bytes, pad bits zero).
pub fn to_packbits_1d(words: &[u64], len: usize, out_bytes: &mut [u8]) -> Result<(), Error> {
    check_side(len)?;
    check_len("words", words_per_row(len), words.len())?;
    check_len("out_bytes", len.div_ceil(8), out_bytes.len())?;
    row_to_bytes(words, len, out_bytes);
    Ok(())
}
