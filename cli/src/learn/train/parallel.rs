//! Data-parallel training with the `im` estimator (`rsmi train --data-parallel D`): one
//! restart on training pairs cut into D shards, for data sets larger than one node holds.
//!
//! The training and held-out pair lists of [`crate::learn::dataset::build`] are cut into
//! D contiguous shards ([`crate::learn::dataset::part_range`]); MPI rank r builds and
//! holds the shards d ≡ r (mod P) only. A step of Adam uses a minibatch made of
//! ⌈batch / D⌉ pairs of every shard (each shard's pairs in a random order of runs of
//! [`RUN`] rows, reshuffled every epoch from a seed all ranks draw alike). The gradient of
//! the IM bound needs the minibatch's marginal P̂(h) before any per-pair term, so a step
//! makes two exchanges: every shard's [`Sums`] (P̂ and the value), then every shard's
//! gradient given the summed marginal ([`Im::part_gradient`], which repeats the forward
//! pass: the price of splitting the step, about one extra forward per pair). Both are gathered from
//! every rank and summed **shard by shard in shard order** on every rank (not by an MPI
//! reduction, whose order is unspecified), so every rank applies the same update and the
//! result is the same bytes for any number of ranks P ≤ D. It differs (in rounding and in
//! the minibatch composition) from the ordinary training, which is a different method.

use super::{
    Centre, Decoder, Lambda, Objective, Outcome, RUN, Rows, TrainConfig, best_of, epoch_order,
    im_value_centred, run_restart, shuffle,
};
use crate::cluster::Team;
use crate::io::wire::{Reader, Writer};
use crate::learn::dataset::Pairs;
use crate::progress::Progress;
use anyhow::{Result, bail};
use rsmi_core::learn::adam::Adam;
use rsmi_core::learn::im::{Grads, Im, Params, Path, Sums};
use rsmi_core::rng::{Rng, Xoshiro256PlusPlus, stream};
use serde_json::json;

/// Stream job of the per-shard orders: shard d of an epoch shuffles its runs with
/// stream(epoch seed, JOB_SHARD, d).
pub const JOB_SHARD: u64 = 0x7a11_0005;

/// One shard this rank holds.
#[derive(Debug)]
pub struct Shard {
    /// Shard number d.
    pub index: usize,
    /// Its training pairs.
    pub train: Pairs,
    /// Its held-out pairs.
    pub heldout: Pairs,
}

struct Held {
    index: usize,
    train: Pairs,
    heldout: Pairs,
    v: Rows,
    e: Rows,
}

/// The `im` objective over shards spread across a team.
struct ImShards<'a> {
    im: Im,
    cfg: &'a TrainConfig,
    team: &'a Team,
    shards: Vec<Held>,
    /// Training rows of every shard (all D, not only the held ones).
    sizes: Vec<usize>,
    centre: Centre,
}

/// Every shard's message on every rank, in shard order; `mine` holds this rank's
/// (shard, message) pairs, and each shard is held by exactly one rank.
fn by_shard(team: &Team, mine: &[(usize, Vec<u8>)], parts: usize) -> Result<Vec<Vec<u8>>> {
    let mut w = Writer::new();
    for (d, m) in mine {
        w.u64(*d as u64);
        w.bytes(m);
    }
    let mut slots: Vec<Option<Vec<u8>>> = vec![None; parts];
    for msg in team.all_gather(&w.buf) {
        let mut r = Reader::new(&msg, 0);
        while !r.at_end() {
            let d = r.u64()? as usize;
            let body = r.bytes()?;
            match slots.get_mut(d) {
                Some(slot @ None) => *slot = Some(body),
                _ => bail!("internal: shard {d} arrived twice or out of range"),
            }
        }
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(d, m)| m.ok_or_else(|| anyhow::anyhow!("internal: shard {d} is missing")))
        .collect()
}

impl ImShards<'_> {
    /// Σ over every shard, in shard order, of the shards' [`Sums`] (`mine`: this rank's).
    fn sum_shards(&self, mine: &[(usize, Sums)]) -> Result<Sums> {
        let states = self.im.rule_shape().states();
        let msgs: Vec<(usize, Vec<u8>)> = mine
            .iter()
            .map(|(d, s)| {
                let mut w = Writer::new();
                w.floats(&s.p_sum[..states]);
                w.floats(&[s.cross]);
                w.u64(s.n);
                (*d, w.buf)
            })
            .collect();
        let mut total = Sums::default();
        for body in by_shard(self.team, &msgs, self.sizes.len())? {
            let mut r = Reader::new(&body, 0);
            let (p, c, n) = (r.floats()?, r.floats()?, r.u64()?);
            if p.len() > total.p_sum.len() || c.len() != 1 {
                bail!("internal: a malformed shard message");
            }
            for (a, x) in total.p_sum.iter_mut().zip(&p) {
                *a += x;
            }
            total.cross += c[0];
            total.n += n;
        }
        Ok(total)
    }

    /// [`ImShards::sum_shards`] of `each` held shard's [`Sums`].
    fn total(&self, each: impl Fn(&Held) -> Result<Sums>) -> Result<Sums> {
        let mine = self
            .shards
            .iter()
            .map(|h| Ok((h.index, each(h)?)))
            .collect::<Result<Vec<_>>>()?;
        self.sum_shards(&mine)
    }
}

impl Objective for ImShards<'_> {
    type State = Decoder;
    fn visible(&self) -> usize {
        self.im.rule_shape().visible
    }
    fn state(&self, _: &mut Xoshiro256PlusPlus) -> Decoder {
        Decoder::zero(&self.im)
    }
    fn epoch(
        &self,
        lam: &mut Lambda<'_>,
        w: &mut [f32],
        b: &mut [f32],
        st: &mut Decoder,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<f64> {
        let parts = self.sizes.len();
        let (nv, ne) = (self.im.rule_shape().visible, self.im.decoder_shape().env);
        let per = self.cfg.batch.div_ceil(parts).max(1);
        let steps = self
            .sizes
            .iter()
            .map(|n| n.div_ceil(per))
            .max()
            .unwrap_or(0);
        let epoch_seed = rng.next_u64();
        let orders: Vec<Vec<u32>> = self
            .shards
            .iter()
            .map(|h| {
                epoch_order(
                    h.train.len(),
                    &mut stream(epoch_seed, JOB_SHARD, h.index as u64),
                )
            })
            .collect();
        let (nw, nh) = (w.len(), b.len());
        let (nu, nd) = (st.u.len(), st.d.len());
        let ng = nw + nh + nu + nd;
        // Each held shard's rows of the current step, centred: (v rows, e rows, count).
        let mut batches: Vec<(Vec<f32>, Vec<f32>, usize)> = self
            .shards
            .iter()
            .map(|_| (vec![0.0f32; per * nv], vec![0.0f32; per * ne], 0))
            .collect();
        let mut work = vec![0.0f32; self.im.workspace_len(per)];
        let adam_dec = Adam::new(self.cfg.lr_decoder)?;
        let (mut total, mut count) = (0.0, 0u64);
        for t in 0..steps {
            let params = Params {
                weights: w,
                bias: b,
                u: &st.u,
                d: &st.d,
            };
            // 1. The minibatch's marginal, summed over the shards in shard order.
            let mut mine = Vec::with_capacity(self.shards.len());
            for ((h, order), (bv, be, m)) in self.shards.iter().zip(&orders).zip(&mut batches) {
                let rows = &order[(t * per).min(order.len())..((t + 1) * per).min(order.len())];
                for (j, &i) in rows.iter().enumerate() {
                    h.v.copy(
                        nv,
                        i as usize,
                        &self.centre.v,
                        &mut bv[j * nv..(j + 1) * nv],
                    );
                    h.e.copy(
                        ne,
                        i as usize,
                        &self.centre.e,
                        &mut be[j * ne..(j + 1) * ne],
                    );
                }
                *m = rows.len();
                let mut s = Sums::default();
                if *m > 0 {
                    self.im.accumulate(
                        Path::F32x8,
                        params,
                        &bv[..*m * nv],
                        &be[..*m * ne],
                        &mut work[..self.im.workspace_len(*m)],
                        &mut s,
                    )?;
                }
                mine.push((h.index, s));
            }
            let marginal = self.sum_shards(&mine)?;
            if marginal.n == 0 {
                continue;
            }
            // 2. Every shard's part of the gradient, summed in shard order.
            let mut parts_g = Vec::with_capacity(self.shards.len());
            let mut g = vec![0.0f32; ng];
            for (h, (bv, be, m)) in self.shards.iter().zip(&batches) {
                g.fill(0.0);
                if *m > 0 {
                    let (gw, rest) = g.split_at_mut(nw);
                    let (gb, rest) = rest.split_at_mut(nh);
                    let (gu, gd) = rest.split_at_mut(nu);
                    self.im.part_gradient(
                        Path::F32x8,
                        params,
                        &bv[..*m * nv],
                        &be[..*m * ne],
                        &mut work[..self.im.workspace_len(*m)],
                        &marginal,
                        Grads {
                            weights: gw,
                            bias: gb,
                            u: gu,
                            d: gd,
                        },
                    )?;
                }
                let mut one = Writer::new();
                one.floats32(&g);
                parts_g.push((h.index, one.buf));
            }
            let mut sum = vec![0.0f64; ng];
            for body in by_shard(self.team, &parts_g, parts)? {
                let part = Reader::new(&body, 0).floats32()?;
                if part.len() != ng {
                    bail!("internal: a gradient of the wrong length");
                }
                for (a, x) in sum.iter_mut().zip(&part) {
                    *a += *x as f64;
                }
            }
            let g: Vec<f32> = sum.iter().map(|&x| x as f32).collect();
            total += marginal.value() * marginal.n as f64;
            count += marginal.n;
            let (mut gw, rest) = (g[..nw].to_vec(), &g[nw..]);
            let (gb, rest) = rest.split_at(nh);
            let (gu, gd) = rest.split_at(nu);
            lam.apply(w, b, &mut gw, gb)?;
            st.t += 1;
            adam_dec.step(st.t, &mut st.u, gu, &mut st.mu, &mut st.vu)?;
            adam_dec.step(st.t, &mut st.d, gd, &mut st.md, &mut st.vd)?;
        }
        Ok(total / count.max(1) as f64)
    }
    fn heldout(&self, w: &[f32], b: &[f32], st: &Decoder) -> Result<f64> {
        let s = self
            .total(|h| im_value_centred(&self.im, w, b, &st.u, &st.d, &h.heldout, &self.centre))?;
        Ok(s.value())
    }
    fn train_value(&self, w: &[f32], b: &[f32], st: &Decoder) -> Result<f64> {
        let s =
            self.total(|h| im_value_centred(&self.im, w, b, &st.u, &st.d, &h.train, &self.centre))?;
        Ok(s.value())
    }
    fn export_bias(&self, w: &[f32], b: &mut [f32]) {
        let shift = self.centre.shift(w, b.len());
        for (x, s) in b.iter_mut().zip(shift) {
            *x -= s;
        }
    }
}

/// The means of the training pairs over every shard (summed in shard order).
fn centre(team: &Team, shards: &[Shard], parts: usize, centre_v: bool) -> Result<Centre> {
    let (nv, ne) = (shards[0].train.nv, shards[0].train.ne);
    let col = |x: &[f32], width: usize| -> Vec<f64> {
        let mut c = vec![0.0f64; width];
        for row in x.chunks_exact(width) {
            for (a, &b) in c.iter_mut().zip(row) {
                *a += b as f64;
            }
        }
        c
    };
    let mine: Vec<(usize, Vec<u8>)> = shards
        .iter()
        .map(|s| {
            let mut one = Writer::new();
            one.floats(&col(&s.train.v, nv));
            one.floats(&col(&s.train.e, ne));
            one.u64(s.train.len() as u64);
            (s.index, one.buf)
        })
        .collect();
    let (mut sv, mut se, mut n) = (vec![0.0f64; nv], vec![0.0f64; ne], 0u64);
    for body in by_shard(team, &mine, parts)? {
        let mut r = Reader::new(&body, 0);
        for (a, b) in sv.iter_mut().zip(r.floats()?) {
            *a += b;
        }
        for (a, b) in se.iter_mut().zip(r.floats()?) {
            *a += b;
        }
        n += r.u64()?;
    }
    let n = n.max(1) as f64;
    Ok(Centre {
        v: if centre_v {
            sv.iter().map(|x| (x / n) as f32).collect()
        } else {
            Vec::new()
        },
        e: se.iter().map(|x| (x / n) as f32).collect(),
    })
}

/// Train with the `im` estimator on shards spread over `team` (`sizes`: the training
/// rows of every shard). Restarts run one after another, each on every rank; every rank
/// returns the same [`Outcome`].
pub fn train_im_parallel(
    cfg: &TrainConfig,
    team: &Team,
    shards: Vec<Shard>,
    sizes: Vec<usize>,
) -> Result<Outcome> {
    cfg.validate()?;
    if shards.is_empty() {
        bail!("internal: a rank without shards");
    }
    let parts = sizes.len();
    let (nv, ne) = (shards[0].train.nv, shards[0].train.ne);
    let centre = centre(team, &shards, parts, cfg.free_bias)?;
    let held: Vec<Held> = shards
        .into_iter()
        .map(|s| {
            // The shard's rows in a random order drawn once (as for the whole set).
            let mut order: Vec<u32> = (0..s.train.len() as u32).collect();
            shuffle(
                &mut order,
                &mut stream(cfg.seed, super::JOB_MIX, 1 + s.index as u64),
            );
            Held {
                index: s.index,
                v: Rows::of(&s.train.v, nv, &order),
                e: Rows::of(&s.train.e, ne, &order),
                train: s.train,
                heldout: s.heldout,
            }
        })
        .collect();
    let obj = ImShards {
        im: Im::new(nv, ne, cfg.hidden)?,
        cfg,
        team,
        shards: held,
        sizes,
        centre,
    };
    let bar = Progress::with_unit((cfg.restarts * cfg.max_epochs) as u64, "train ", "epochs");
    let restarts = (0..cfg.restarts)
        .map(|r| run_restart(&obj, cfg, r, &bar))
        .collect::<Result<Vec<_>>>()?;
    bar.finish();
    Ok(Outcome {
        best: best_of(&restarts),
        ids: (0..restarts.len()).collect(),
        restarts,
        notes: json!({
            "decoder": "linear softmax q(h|e) over the 2^N_h hidden configurations, trained jointly",
            "data_parallel": {
                "shards": parts,
                "minibatch": format!("{} pairs of every shard per step (runs of {RUN} rows in an order reshuffled every epoch from stream(epoch seed, {JOB_SHARD:#x}, shard))", cfg.batch.div_ceil(parts).max(1)),
                "reduction": "every shard's marginal, then every shard's gradient, summed in shard order on every rank: the same bytes for any number of ranks",
            },
        }),
    })
}
