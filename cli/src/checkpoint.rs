//! Checkpoints and shards of a sampling run: per job its lattice and stream states plus
//! the samples collected so far, written atomically, read back with full validation.
//!
//! One format serves both. A *checkpoint* holds every job of the plan at some sweep; a
//! *shard* (written by one task of a job array) holds the finished jobs that task owns,
//! and `rsmi merge` joins shards into the sample file. Under MPI the root writes the same
//! checkpoint a single process would: it collects every rank's job records.
//!
//! Format (little endian, see [`crate::io::wire`]): magic `RSMICKP2`, the run's identity
//! (UTF-8 JSON of everything that determines the samples), a header (UTF-8 JSON: `kind`
//! "checkpoint" or "shard", and for shards `task`, `tasks`, `unit_offset`), the number of
//! jobs of the whole plan, the number of records, then per record its job index and the
//! length-prefixed record (sweeps done, engine state words, sample buffers), in job order;
//! finally an FNV-1a 64-bit checksum of everything before it. A checkpoint whose identity
//! differs from the current command is refused.

use crate::io::atomic::write_atomic;
use crate::io::wire::{Reader, Writer};
use crate::sampler::{Job, Samples};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::io::Write;
use std::path::Path;

const MAGIC: &[u8; 8] = b"RSMICKP2";

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

/// A job's state as a record: (job index, encoded [`JobState`]).
pub type Record = (usize, Vec<u8>);

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The record of job `j`.
pub fn record(j: &Job) -> Record {
    (
        j.index,
        encode_parts(j.sweeps_done, &j.save_engine(), &j.samples),
    )
}

/// The record bytes of a job's state.
pub fn encode_state(st: &JobState) -> Vec<u8> {
    encode_parts(st.sweeps_done, &st.engine, &st.samples)
}

fn encode_parts(sweeps_done: u64, engine: &[u64], s: &Samples) -> Vec<u8> {
    let mut w = Writer::new();
    w.u64(sweeps_done);
    w.words(engine);
    w.bytes(&s.spins);
    for v in [&s.energy, &s.magnetization, &s.chain, &s.sweep] {
        w.ints(v);
    }
    w.buf
}

/// Job `j`'s state, its samples moved out (no copy of the samples).
pub fn take_state(mut j: Job) -> (usize, JobState) {
    let samples = std::mem::take(&mut j.samples);
    (
        j.index,
        JobState {
            sweeps_done: j.sweeps_done,
            engine: j.save_engine(),
            samples,
        },
    )
}

/// Decode a record's state.
pub fn parse(record: &[u8]) -> Result<JobState> {
    let mut r = Reader::new(record, 0);
    let st = JobState {
        sweeps_done: r.u64()?,
        engine: r.words()?,
        samples: Samples {
            spins: r.bytes()?,
            energy: r.ints()?,
            magnetization: r.ints()?,
            chain: r.ints()?,
            sweep: r.ints()?,
        },
    };
    if !r.at_end() {
        bail!("a job record has trailing data");
    }
    Ok(st)
}

/// Records as one message (count, then index and bytes of each).
pub fn pack(records: &[Record]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u64(records.len() as u64);
    for (i, b) in records {
        w.u64(*i as u64);
        w.bytes(b);
    }
    w.buf
}

fn read_records(r: &mut Reader<'_>) -> Result<Vec<Record>> {
    let n = r.len(16)?;
    (0..n)
        .map(|_| Ok((usize::try_from(r.u64()?)?, r.bytes()?)))
        .collect()
}

/// The records of a [`pack`]ed message.
pub fn unpack(bytes: &[u8]) -> Result<Vec<Record>> {
    let mut r = Reader::new(bytes, 0);
    let out = read_records(&mut r)?;
    if !r.at_end() {
        bail!("a message of job records has trailing data");
    }
    Ok(out)
}

/// A decoded checkpoint or shard.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    /// The run's identity (JSON text).
    pub identity: String,
    /// The header (JSON).
    pub header: Value,
    /// Jobs of the whole plan.
    pub total_jobs: usize,
    /// Job records, in job order.
    pub records: Vec<Record>,
}

/// Serialise (records are sorted by job index first).
pub fn encode(
    identity: &str,
    header: &Value,
    total_jobs: usize,
    mut records: Vec<Record>,
) -> Vec<u8> {
    records.sort_by_key(|r| r.0);
    let mut w = Writer::new();
    w.buf.extend_from_slice(MAGIC);
    w.str(identity);
    w.str(&header.to_string());
    w.u64(total_jobs as u64);
    w.buf.extend_from_slice(&pack(&records));
    let sum = fnv1a(&w.buf);
    w.u64(sum);
    w.buf
}

/// Parse a checkpoint or shard.
pub fn decode(bytes: &[u8]) -> Result<Saved> {
    if bytes.len() < MAGIC.len() + 8 || &bytes[..8] != MAGIC {
        if bytes.starts_with(b"RSMICKP1") {
            bail!(
                "this checkpoint was written by an older rsmi (format 1); rerun the command without --resume"
            );
        }
        bail!("not an rsmi checkpoint or shard file");
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    if fnv1a(body) != u64::from_le_bytes(sum.try_into()?) {
        bail!("checksum mismatch (the file is corrupt or truncated)");
    }
    let mut r = Reader::new(body, 8);
    let identity = r.str().context("the identity is not UTF-8")?;
    let header: Value = serde_json::from_str(&r.str()?).context("the header is not JSON")?;
    let total_jobs = usize::try_from(r.u64()?)?;
    let records = read_records(&mut r)?;
    if !r.at_end() {
        bail!("trailing data after the job records");
    }
    if records.windows(2).any(|w| w[0].0 >= w[1].0) || records.iter().any(|r| r.0 >= total_jobs) {
        bail!("the job records are out of order or out of range");
    }
    Ok(Saved {
        identity,
        header,
        total_jobs,
        records,
    })
}

/// Write a checkpoint or shard atomically (overwriting the previous one).
pub fn write(
    path: &Path,
    identity: &str,
    header: &Value,
    total_jobs: usize,
    records: Vec<Record>,
) -> Result<()> {
    let bytes = encode(identity, header, total_jobs, records);
    write_atomic(path, true, |f| {
        f.write_all(&bytes)?;
        Ok(())
    })
    .with_context(|| format!("could not write {}", path.display()))
}

/// Read a checkpoint or shard file.
pub fn read_any(path: &Path) -> Result<Saved> {
    let bytes =
        std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    decode(&bytes).with_context(|| format!("{}", path.display()))
}

/// Read a checkpoint file and check that it belongs to the run `identity`.
pub fn read(path: &Path, identity: &str) -> Result<Saved> {
    let saved = read_any(path)?;
    if saved.identity != identity {
        bail!(
            "checkpoint {} was written by a different run (model, size, temperature, samples, \
             sweeps, seed, algorithm or --jobs differ); rerun the original command or delete it",
            path.display()
        );
    }
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        assert!(decode(b"").is_err());
        assert!(decode(b"RSMICKP2").is_err());
        let h = serde_json::json!({"kind": "checkpoint"});
        let mut b = encode("{}", &h, 3, vec![(2, vec![1, 2]), (0, vec![])]);
        let d = decode(&b).unwrap();
        assert_eq!(d.records, vec![(0, vec![]), (2, vec![1, 2])]);
        assert_eq!((d.identity.as_str(), d.total_jobs), ("{}", 3));
        b[9] ^= 1;
        assert!(decode(&b).is_err());
        assert!(decode(&encode("{}", &h, 2, vec![(2, vec![])])).is_err());
        let mut c = b"RSMICKP2".to_vec();
        c.extend_from_slice(&u64::MAX.to_le_bytes());
        let s = fnv1a(&c);
        c.extend_from_slice(&s.to_le_bytes());
        assert!(decode(&c).is_err());
        assert!(parse(&[0; 7]).is_err());
    }
}
