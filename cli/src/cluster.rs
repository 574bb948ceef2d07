//! One command over several processes: the ranks of an MPI run (`--features mpi`, started
//! by `mpirun`) or the tasks of a scheduler's job array (`--job-index I --job-count N`).
//!
//! A command splits its work into *units* (the jobs of every temperature, the restarts of a
//! training, ...), numbered 0, 1, 2, … in an order fixed by the arguments alone. Unit u
//! belongs to member u mod P of a team of P. Every unit draws its own random streams, so
//! what a unit computes never depends on P, and the root (rank 0) assembles the units in
//! unit order: the output is the same bytes for any P, any thread count, and for the
//! merged shards of a job array.
//!
//! Under MPI every rank takes part in the same collective calls in the same order.
//! Errors are made collective with [`Team::agree`]: each rank reports whether its part
//! failed; if any did, every rank returns the same [`Collective`] error (the message of
//! the lowest failing rank), the root prints it and every rank exits, so no rank waits
//! for one that has given up. Large messages go point to point in pieces of at most
//! [`PIECE`] bytes (MPI counts are 32-bit).

use anyhow::{Result, bail};
#[cfg(feature = "mpi")]
use std::sync::atomic::{AtomicBool, Ordering};

/// Largest single MPI message, in bytes.
pub const PIECE: usize = 1 << 30;

/// An error every member of the team returns together (the root prints it).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Collective(pub String);

#[cfg(feature = "mpi")]
static MPI_ON: AtomicBool = AtomicBool::new(false);

/// Start MPI when the binary was built with `--features mpi` (a no-op otherwise). The
/// returned guard finalises MPI when dropped; keep it alive for the whole program.
#[cfg(feature = "mpi")]
pub fn init() -> Option<mpi::environment::Universe> {
    let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Funneled)?;
    MPI_ON.store(true, Ordering::SeqCst);
    Some(universe)
}

/// Start MPI when the binary was built with `--features mpi` (a no-op otherwise).
#[cfg(not(feature = "mpi"))]
pub fn init() -> Option<()> {
    None
}

thread_local! {
    static SOLO: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` as a process of its own: inside it [`Team::world`] is [`Team::solo`], so a
/// command called from a rank's share of a larger one (the flow of one starting
/// temperature) does all its work locally.
pub fn solo<T>(f: impl FnOnce() -> T) -> T {
    let before = SOLO.with(|s| s.replace(true));
    let out = f();
    SOLO.with(|s| s.set(before));
    out
}

/// Rank and size of the MPI world (0 and 1 without MPI, or inside [`solo`]).
pub fn world_rank_size() -> (usize, usize) {
    if SOLO.with(|s| s.get()) {
        return (0, 1);
    }
    #[cfg(feature = "mpi")]
    if MPI_ON.load(Ordering::SeqCst) {
        use mpi::traits::Communicator;
        let w = mpi::topology::SimpleCommunicator::world();
        return (w.rank() as usize, w.size() as usize);
    }
    (0, 1)
}

/// End every rank at once after an error that was not agreed collectively (a rank-local
/// failure): without this the other ranks would wait for it forever.
pub fn abort_world(code: i32) {
    #[cfg(feature = "mpi")]
    if MPI_ON.load(Ordering::SeqCst) && world_rank_size().1 > 1 {
        use mpi::traits::Communicator;
        mpi::topology::SimpleCommunicator::world().abort(code);
    }
    let _ = code;
}

/// The processes that share one command's work.
pub struct Team {
    kind: Kind,
}

enum Kind {
    Solo,
    Array {
        index: usize,
        count: usize,
    },
    #[cfg(feature = "mpi")]
    Mpi(mpi::topology::SimpleCommunicator),
}

impl std::fmt::Debug for Team {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Solo => write!(f, "Team::Solo"),
            Kind::Array { index, count } => write!(f, "Team::Array({index} of {count})"),
            #[cfg(feature = "mpi")]
            Kind::Mpi(_) => write!(f, "Team::Mpi({:?})", world_rank_size()),
        }
    }
}

impl Team {
    /// One process doing everything.
    pub fn solo() -> Team {
        Team { kind: Kind::Solo }
    }

    /// The MPI world when this process is one of several ranks, else [`Team::solo`].
    pub fn world() -> Team {
        #[cfg(feature = "mpi")]
        if world_rank_size().1 > 1 {
            return Team {
                kind: Kind::Mpi(mpi::topology::SimpleCommunicator::world()),
            };
        }
        Team::solo()
    }

    /// Task `index` of a job array of `count` tasks (no communication: each task writes
    /// its own shard).
    pub fn array(index: usize, count: usize) -> Result<Team> {
        if count == 0 {
            bail!("--job-count must be at least 1");
        }
        if index >= count {
            bail!(
                "--job-index {index} is out of range for --job-count {count} (tasks are numbered 0 to {})",
                count - 1
            );
        }
        if world_rank_size().1 > 1 {
            bail!(
                "a job array (--job-index/--job-count) cannot be combined with mpirun: use one or the other"
            );
        }
        Ok(Team {
            kind: Kind::Array { index, count },
        })
    }

    /// This member's number.
    pub fn rank(&self) -> usize {
        match &self.kind {
            Kind::Solo => 0,
            Kind::Array { index, .. } => *index,
            #[cfg(feature = "mpi")]
            Kind::Mpi(_) => world_rank_size().0,
        }
    }

    /// Number of members.
    pub fn size(&self) -> usize {
        match &self.kind {
            Kind::Solo => 1,
            Kind::Array { count, .. } => *count,
            #[cfg(feature = "mpi")]
            Kind::Mpi(_) => world_rank_size().1,
        }
    }

    /// Whether this is an MPI team of several ranks.
    pub fn is_mpi(&self) -> bool {
        #[cfg(feature = "mpi")]
        if let Kind::Mpi(_) = self.kind {
            return true;
        }
        false
    }

    /// Whether this is a job-array task (which writes a shard, not the output).
    pub fn is_array(&self) -> bool {
        matches!(self.kind, Kind::Array { .. })
    }

    /// Whether this member writes the output (rank 0 of MPI; every job-array task writes
    /// its own shard).
    pub fn is_root(&self) -> bool {
        !self.is_mpi() || self.rank() == 0
    }

    /// Whether unit `unit` is this member's.
    pub fn owns(&self, unit: usize) -> bool {
        unit % self.size() == self.rank()
    }

    /// Make a result collective: `Ok` on every rank only when it is `Ok` on every rank;
    /// otherwise every rank gets the [`Collective`] error of the lowest failing rank.
    pub fn agree<T>(&self, r: Result<T>) -> Result<T> {
        if !self.is_mpi() {
            return r;
        }
        let mine = match &r {
            Ok(_) => vec![0u8],
            Err(e) => {
                let mut m = vec![1u8];
                m.extend_from_slice(format!("{e:#}").as_bytes());
                m
            }
        };
        let all = self.all_gather(&mine);
        match all.iter().position(|m| m.first() != Some(&0)) {
            None => r,
            Some(k) => {
                let msg = String::from_utf8_lossy(all[k].get(1..).unwrap_or_default()).into_owned();
                let msg = match r {
                    Err(e) if e.downcast_ref::<Collective>().is_some() => e.to_string(),
                    _ if k == 0 => msg,
                    _ => format!("rank {k}: {msg}"),
                };
                Err(Collective(msg).into())
            }
        }
    }

    /// Every member's small message (a few kB at most), on every member.
    pub fn all_gather(&self, mine: &[u8]) -> Vec<Vec<u8>> {
        match &self.kind {
            #[cfg(feature = "mpi")]
            Kind::Mpi(w) => mpi_impl::all_gather(w, mine),
            _ => vec![mine.to_vec()],
        }
    }

    /// Sum of `x` over the team, on every member.
    pub fn sum(&self, x: u64) -> u64 {
        match &self.kind {
            #[cfg(feature = "mpi")]
            Kind::Mpi(w) => mpi_impl::sum(w, x),
            _ => x,
        }
    }

    /// Largest `x` over the team, on every member.
    pub fn max(&self, x: u64) -> u64 {
        match &self.kind {
            #[cfg(feature = "mpi")]
            Kind::Mpi(w) => mpi_impl::max(w, x),
            _ => x,
        }
    }

    /// Everyone's `mine` on the root, in rank order (`None` elsewhere).
    pub fn gather(&self, mine: Vec<u8>) -> Option<Vec<Vec<u8>>> {
        match &self.kind {
            #[cfg(feature = "mpi")]
            Kind::Mpi(w) => mpi_impl::gather(w, mine),
            _ => Some(vec![mine]),
        }
    }

    /// Part r of the root's `parts` on rank r (the root passes one part per rank; the
    /// others pass `None`).
    pub fn scatter(&self, parts: Option<Vec<Vec<u8>>>) -> Vec<u8> {
        match &self.kind {
            #[cfg(feature = "mpi")]
            Kind::Mpi(w) => mpi_impl::scatter(w, parts),
            _ => parts.and_then(|p| p.into_iter().next()).unwrap_or_default(),
        }
    }

    /// The root's `data` on every member.
    pub fn broadcast(&self, data: Vec<u8>) -> Vec<u8> {
        match &self.kind {
            #[cfg(feature = "mpi")]
            Kind::Mpi(w) => mpi_impl::broadcast(w, data),
            _ => data,
        }
    }
}

#[cfg(feature = "mpi")]
mod mpi_impl {
    //! The MPI side of [`super::Team`]: point-to-point pieces for large messages,
    //! collectives for small ones.

    use super::PIECE;
    use mpi::collective::SystemOperation;
    use mpi::datatype::PartitionMut;
    use mpi::topology::SimpleCommunicator;
    use mpi::traits::*;

    fn send(w: &SimpleCommunicator, to: i32, data: &[u8]) {
        let p = w.process_at_rank(to);
        p.send(&(data.len() as u64));
        for piece in data.chunks(PIECE) {
            p.send(piece);
        }
    }

    fn receive(w: &SimpleCommunicator, from: i32) -> Vec<u8> {
        let p = w.process_at_rank(from);
        let mut n = 0u64;
        p.receive_into(&mut n);
        let mut buf = vec![0u8; n as usize];
        for piece in buf.chunks_mut(PIECE) {
            p.receive_into(piece);
        }
        buf
    }

    pub fn all_gather(w: &SimpleCommunicator, mine: &[u8]) -> Vec<Vec<u8>> {
        let size = w.size() as usize;
        let mut counts = vec![0i32; size];
        w.all_gather_into(&(mine.len() as i32), &mut counts[..]);
        let displs: Vec<i32> = counts
            .iter()
            .scan(0, |acc, &c| {
                let d = *acc;
                *acc += c;
                Some(d)
            })
            .collect();
        let total: i32 = counts.iter().sum();
        if total == 0 {
            return vec![Vec::new(); size];
        }
        let mut buf = vec![0u8; total as usize];
        {
            let mut part = PartitionMut::new(&mut buf[..], &counts[..], &displs[..]);
            w.all_gather_varcount_into(mine, &mut part);
        }
        (0..size)
            .map(|r| buf[displs[r] as usize..(displs[r] + counts[r]) as usize].to_vec())
            .collect()
    }

    pub fn sum(w: &SimpleCommunicator, x: u64) -> u64 {
        let mut y = 0u64;
        w.all_reduce_into(&x, &mut y, SystemOperation::sum());
        y
    }

    pub fn max(w: &SimpleCommunicator, x: u64) -> u64 {
        let mut y = 0u64;
        w.all_reduce_into(&x, &mut y, SystemOperation::max());
        y
    }

    pub fn gather(w: &SimpleCommunicator, mine: Vec<u8>) -> Option<Vec<Vec<u8>>> {
        if w.rank() != 0 {
            send(w, 0, &mine);
            return None;
        }
        let mut all = vec![mine];
        for r in 1..w.size() {
            all.push(receive(w, r));
        }
        Some(all)
    }

    pub fn scatter(w: &SimpleCommunicator, parts: Option<Vec<Vec<u8>>>) -> Vec<u8> {
        if w.rank() != 0 {
            return receive(w, 0);
        }
        let mut parts = parts.unwrap_or_default().into_iter();
        let mine = parts.next().unwrap_or_default();
        for r in 1..w.size() {
            send(w, r, &parts.next().unwrap_or_default());
        }
        mine
    }

    pub fn broadcast(w: &SimpleCommunicator, mut data: Vec<u8>) -> Vec<u8> {
        let root = w.process_at_rank(0);
        let mut n = data.len() as u64;
        root.broadcast_into(&mut n);
        data.resize(n as usize, 0);
        for piece in data.chunks_mut(PIECE) {
            root.broadcast_into(piece);
        }
        data
    }
}

/// Refuse to run a command that does not split its work under `mpirun` with several
/// ranks (every rank would repeat the whole command and write the same files).
pub fn refuse_mpi(command: &str) -> Result<()> {
    let (_, size) = world_rank_size();
    if size > 1 {
        return Err(Collective(format!(
            "rsmi {command} does not spread its work over MPI ranks; run it without mpirun \
             (MPI-aware commands: sample, train, flow, bench)"
        ))
        .into());
    }
    Ok(())
}

/// The job-array position from `--job-index/--job-count`, or from Slurm's
/// `SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN` and `SLURM_ARRAY_TASK_COUNT` when both
/// options are absent; `None` for an ordinary run (or `--job-count 1`).
pub fn job_array(index: Option<usize>, count: Option<usize>) -> Result<Option<Team>> {
    let from_env = |k: &str| -> Result<Option<usize>> {
        match std::env::var(k) {
            Ok(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| anyhow::anyhow!("{k}={v} is not a task number")),
            Err(_) => Ok(None),
        }
    };
    let (index, count) = match (index, count) {
        (Some(i), Some(c)) => (i, c),
        (None, None) => {
            let (id, n) = (
                from_env("SLURM_ARRAY_TASK_ID")?,
                from_env("SLURM_ARRAY_TASK_COUNT")?,
            );
            match (id, n) {
                (Some(id), Some(n)) => {
                    let min = from_env("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
                    let i = id.checked_sub(min).ok_or_else(|| {
                        anyhow::anyhow!(
                            "SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}"
                        )
                    })?;
                    if n > 1 {
                        eprintln!(
                            "note: job-array task {i} of {n} (from SLURM_ARRAY_TASK_ID/COUNT): \
                             writing this task's shard; join the shards with `rsmi merge`, or pass \
                             --job-count 1 to compute the whole run in one task"
                        );
                    }
                    (i, n)
                }
                _ => return Ok(None),
            }
        }
        _ => bail!("--job-index and --job-count go together"),
    };
    if count == 1 && index == 0 {
        return Ok(None);
    }
    Team::array(index, count).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_dealt_round_robin() {
        let t = Team::array(1, 3).unwrap();
        let mine: Vec<usize> = (0..10).filter(|&u| t.owns(u)).collect();
        assert_eq!(mine, vec![1, 4, 7]);
        assert!(Team::array(3, 3).is_err());
        assert!(Team::array(0, 0).is_err());
        let s = Team::solo();
        assert!((0..5).all(|u| s.owns(u)) && s.is_root());
        assert_eq!(s.gather(vec![1, 2]), Some(vec![vec![1, 2]]));
    }
}
