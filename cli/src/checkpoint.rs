//! Checkpoints of a sampling run: lattice and stream states of every job plus the
//! samples collected so far, written atomically, read back with full validation.
//!
//! Format (little endian): magic `RSMICKP1`, then length-prefixed sections: the run's
//! identity (UTF-8 JSON of everything that determines the samples), the job count, and
//! per job its sweep counter, engine state words and sample buffers; finally an FNV-1a
//! 64-bit checksum of everything before it. A checkpoint whose identity differs from the
//! current command is refused.

use crate::io::atomic::write_atomic;
use crate::sampler::{Job, Samples};
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::Path;

const MAGIC: &[u8; 8] = b"RSMICKP1";

/// The saved state of one job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobState {
    /// Sweeps done.
    pub sweeps_done: u64,
    /// Engine state words.
    pub engine: Vec<u64>,
    /// Samples collected so far (zero where not yet measured).
    pub samples: Samples,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn put_u64(buf: &mut Vec<u8>, x: u64) {
    buf.extend_from_slice(&x.to_le_bytes());
}

fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_u64(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

fn put_words<T: Copy>(buf: &mut Vec<u8>, words: &[T], to: impl Fn(T) -> [u8; 8]) {
    put_u64(buf, words.len() as u64);
    for &w in words {
        buf.extend_from_slice(&to(w));
    }
}

/// Serialise a checkpoint.
pub fn encode(identity: &str, jobs: &[Job]) -> Vec<u8> {
    let mut buf = Vec::new();
    buf.extend_from_slice(MAGIC);
    put_bytes(&mut buf, identity.as_bytes());
    put_u64(&mut buf, jobs.len() as u64);
    for j in jobs {
        put_u64(&mut buf, j.sweeps_done);
        put_words(&mut buf, &j.save_engine(), u64::to_le_bytes);
        let s = &j.samples;
        put_bytes(&mut buf, &s.spins);
        for v in [&s.energy, &s.magnetization, &s.chain, &s.sweep] {
            put_words(&mut buf, v, i64::to_le_bytes);
        }
    }
    let sum = fnv1a(&buf);
    put_u64(&mut buf, sum);
    buf
}

/// Write a checkpoint atomically (overwriting the previous one).
pub fn write(path: &Path, identity: &str, jobs: &[Job]) -> Result<()> {
    let bytes = encode(identity, jobs);
    write_atomic(path, true, |f| {
        f.write_all(&bytes)?;
        Ok(())
    })
    .with_context(|| format!("could not write checkpoint {}", path.display()))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(e) => {
                let s = &self.bytes[self.pos..e];
                self.pos = e;
                Ok(s)
            }
            None => bail!("checkpoint is truncated"),
        }
    }
    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into()?))
    }
    fn len(&mut self, elem: usize) -> Result<usize> {
        let n = self.u64()?;
        let remaining = (self.bytes.len() - self.pos) as u64;
        if n.checked_mul(elem as u64).is_none_or(|b| b > remaining) {
            bail!("checkpoint is truncated or corrupt");
        }
        Ok(n as usize)
    }
    fn bytes(&mut self) -> Result<Vec<u8>> {
        let n = self.len(1)?;
        Ok(self.take(n)?.to_vec())
    }
    fn words(&mut self) -> Result<Vec<u64>> {
        let n = self.len(8)?;
        (0..n).map(|_| self.u64()).collect()
    }
    fn ints(&mut self) -> Result<Vec<i64>> {
        Ok(self.words()?.into_iter().map(|w| w as i64).collect())
    }
}

/// Parse a checkpoint: (identity, job states).
pub fn decode(bytes: &[u8]) -> Result<(String, Vec<JobState>)> {
    if bytes.len() < MAGIC.len() + 8 || &bytes[..8] != MAGIC {
        bail!("not an rsmi checkpoint file");
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    if fnv1a(body) != u64::from_le_bytes(sum.try_into()?) {
        bail!("checkpoint checksum mismatch (file is corrupt or truncated)");
    }
    let mut r = Reader {
        bytes: body,
        pos: 8,
    };
    let identity = String::from_utf8(r.bytes()?).context("checkpoint identity is not UTF-8")?;
    let jobs = r.len(8)?;
    let mut out = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        out.push(JobState {
            sweeps_done: r.u64()?,
            engine: r.words()?,
            samples: Samples {
                spins: r.bytes()?,
                energy: r.ints()?,
                magnetization: r.ints()?,
                chain: r.ints()?,
                sweep: r.ints()?,
            },
        });
    }
    if r.pos != body.len() {
        bail!("checkpoint has trailing data");
    }
    Ok((identity, out))
}

/// Read a checkpoint file and check that it belongs to the run `identity`.
pub fn read(path: &Path, identity: &str) -> Result<Vec<JobState>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("could not read checkpoint {}", path.display()))?;
    let (id, jobs) = decode(&bytes).with_context(|| format!("checkpoint {}", path.display()))?;
    if id != identity {
        bail!(
            "checkpoint {} was written by a different run (model, size, temperature, samples, \
             sweeps, seed or algorithm differ); rerun the original command or delete it",
            path.display()
        );
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        assert!(decode(b"").is_err());
        assert!(decode(b"RSMICKP1").is_err());
        let mut b = encode("{}", &[]);
        assert_eq!(decode(&b).unwrap(), ("{}".to_string(), vec![]));
        b[9] ^= 1;
        assert!(decode(&b).is_err());
        let mut c = b"RSMICKP1".to_vec();
        put_u64(&mut c, u64::MAX);
        let s = fnv1a(&c);
        put_u64(&mut c, s);
        assert!(decode(&c).is_err());
    }
}
