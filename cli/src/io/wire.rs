//! A small length-prefixed little-endian binary encoding, shared by checkpoints, shards
//! and the messages between MPI ranks. Every read is bounds-checked: a truncated or
//! corrupt buffer is an error, never a panic or a huge allocation.

use anyhow::{Result, bail};

/// Appends values to a byte buffer.
#[derive(Debug, Default)]
pub struct Writer {
    /// The bytes written so far.
    pub buf: Vec<u8>,
}

impl Writer {
    /// An empty buffer.
    pub fn new() -> Writer {
        Writer::default()
    }
    /// One u64.
    pub fn u64(&mut self, x: u64) {
        self.buf.extend_from_slice(&x.to_le_bytes());
    }
    /// A length-prefixed byte string.
    pub fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.buf.extend_from_slice(b);
    }
    /// A length-prefixed UTF-8 string.
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    /// Length-prefixed u64 words.
    pub fn words(&mut self, w: &[u64]) {
        self.u64(w.len() as u64);
        for &x in w {
            self.u64(x);
        }
    }
    /// Length-prefixed i64 values.
    pub fn ints(&mut self, w: &[i64]) {
        self.u64(w.len() as u64);
        for &x in w {
            self.u64(x as u64);
        }
    }
    /// Length-prefixed f64 values (bit patterns, exact).
    pub fn floats(&mut self, w: &[f64]) {
        self.u64(w.len() as u64);
        for &x in w {
            self.u64(x.to_bits());
        }
    }
    /// Length-prefixed f32 values (bit patterns, exact).
    pub fn floats32(&mut self, w: &[f32]) {
        self.u64(w.len() as u64);
        for &x in w {
            self.buf.extend_from_slice(&x.to_bits().to_le_bytes());
        }
    }
}

/// Reads values written by [`Writer`].
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    /// Read position.
    pub pos: usize,
}

impl<'a> Reader<'a> {
    /// Read `bytes` from `pos`.
    pub fn new(bytes: &'a [u8], pos: usize) -> Reader<'a> {
        Reader { bytes, pos }
    }
    /// Whether everything was read.
    pub fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        match self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()) {
            Some(e) => {
                let s = &self.bytes[self.pos..e];
                self.pos = e;
                Ok(s)
            }
            None => bail!("the data is truncated"),
        }
    }
    /// One u64.
    pub fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into()?))
    }
    /// A length of elements of `elem` bytes each, checked against what is left.
    pub fn len(&mut self, elem: usize) -> Result<usize> {
        let n = self.u64()?;
        let remaining = (self.bytes.len() - self.pos) as u64;
        if n.checked_mul(elem as u64).is_none_or(|b| b > remaining) {
            bail!("the data is truncated or corrupt");
        }
        Ok(n as usize)
    }
    /// A length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<Vec<u8>> {
        let n = self.len(1)?;
        Ok(self.take(n)?.to_vec())
    }
    /// A length-prefixed UTF-8 string.
    pub fn str(&mut self) -> Result<String> {
        Ok(String::from_utf8(self.bytes()?)?)
    }
    /// Length-prefixed u64 words.
    pub fn words(&mut self) -> Result<Vec<u64>> {
        let n = self.len(8)?;
        (0..n).map(|_| self.u64()).collect()
    }
    /// Length-prefixed i64 values.
    pub fn ints(&mut self) -> Result<Vec<i64>> {
        Ok(self.words()?.into_iter().map(|w| w as i64).collect())
    }
    /// Length-prefixed f64 values.
    pub fn floats(&mut self) -> Result<Vec<f64>> {
        Ok(self.words()?.into_iter().map(f64::from_bits).collect())
    }
    /// Length-prefixed f32 values.
    pub fn floats32(&mut self) -> Result<Vec<f32>> {
        let n = self.len(4)?;
        (0..n)
            .map(|_| {
                Ok(f32::from_bits(u32::from_le_bytes(
                    self.take(4)?.try_into()?,
                )))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_truncation_is_an_error() {
        let mut w = Writer::new();
        w.u64(7);
        w.str("né");
        w.ints(&[-1, 2]);
        w.floats(&[0.1, f64::NAN]);
        w.floats32(&[1.5, -0.0]);
        let mut r = Reader::new(&w.buf, 0);
        assert_eq!(r.u64().unwrap(), 7);
        assert_eq!(r.str().unwrap(), "né");
        assert_eq!(r.ints().unwrap(), vec![-1, 2]);
        let f = r.floats().unwrap();
        assert_eq!(f[0], 0.1);
        assert!(f[1].is_nan());
        let g = r.floats32().unwrap();
        assert_eq!(g[1].to_bits(), (-0.0f32).to_bits());
        assert!(r.at_end());
        for cut in 0..w.buf.len() {
            let mut r = Reader::new(&w.buf[..cut], 0);
            let ok = (|| -> Result<()> {
                r.u64()?;
                r.str()?;
                r.ints()?;
                r.floats()?;
                r.floats32()?;
                Ok(())
            })();
            assert!(ok.is_err(), "cut at {cut}");
        }
        let mut huge = Writer::new();
        huge.u64(u64::MAX);
        assert!(Reader::new(&huge.buf, 0).words().is_err());
    }
}
