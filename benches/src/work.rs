//! Internal commands for work on the fold: `fold-time` (the fold rows alone, repeated in one
//! process) and `id-floor` (what finding each identity record's ids in a hash map costs, the
//! floor under any fold of those records).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use idres_log::ReadOnlyLog;
use idres_model::{record_view, RecordView, TargetView, UidView};
use idres_resolve::{Config, Resolver};

use super::{fold, median};

/// Folds `log` `runs` times and prints each time, the fastest, the median and the digest of
/// the last fold (`no_digest`: no digest, and the folds are not freed either, so that a profile
/// shows the folds alone).
pub(crate) fn fold_time(log: &ReadOnlyLog, runs: usize, no_digest: bool) -> anyhow::Result<()> {
    let mut times = Vec::with_capacity(runs.max(1));
    let mut last = None;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let (r, n) = fold(log, Resolver::new(Config::default()), None)?;
        let took = start.elapsed();
        println!("{n} records in {took:?}");
        times.push(took);
        if no_digest {
            std::mem::forget(r);
        } else {
            last = Some(r);
        }
    }
    let digest: String = last.map(|r| r.digest().iter().map(|b| format!("{b:02x}")).collect()).unwrap_or_default();
    let fastest = times.iter().min().copied().unwrap_or_default();
    println!("fastest {fastest:?} median {:?} digest {digest}", median(times));
    Ok(())
}

/// A multiply-and-fold hasher (the construction of the fold's own): cheap on short ids.
#[derive(Default)]
struct Mix(u64);

impl Hasher for Mix {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            let r = u128::from(self.0 ^ u64::from_le_bytes(w)) * 0xa076_1d64_78bd_642f;
            self.0 = (r as u64) ^ ((r >> 64) as u64);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Ids = HashMap<Vec<u8>, u32, BuildHasherDefault<Mix>>;

fn intern(ids: &mut Ids, key: &[u8]) -> u32 {
    if let Some(&n) = ids.get(key) {
        return n;
    }
    let n = ids.len() as u32;
    ids.insert(key.to_vec(), n);
    n
}

/// Reads `log` as the fold does (frames, CRC, every record read in place) and only finds each
/// record's uid and cid in a map from id to number, adding the new ones: no rules, no graph, no
/// contents. `runs` times; prints the fastest and the median.
pub(crate) fn id_floor(log: &ReadOnlyLog, runs: usize) -> anyhow::Result<()> {
    let mut times: Vec<Duration> = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let (mut uids, mut cids) = (Ids::default(), Ids::default());
        let mut uuids: HashMap<[u8; 16], u32, BuildHasherDefault<Mix>> = HashMap::default();
        let mut uid = |u: UidView<'_>, uuids: &mut HashMap<[u8; 16], u32, BuildHasherDefault<Mix>>| match u {
            UidView::Uuid(b) => {
                let n = uuids.len() as u32;
                *uuids.entry(b).or_insert(n)
            }
            UidView::Text(t) => intern(&mut uids, t),
        };
        let (mut n, mut sum) = (0u64, 0u64);
        let mut reader = log.reader(0)?;
        while let Some(frame) = reader.next_frame()? {
            for (_, bytes) in frame.records() {
                n += 1;
                let Some(view) = record_view(frame.schema, bytes) else { continue };
                sum += u64::from(match view.record {
                    RecordView::Identify { uid: u, cid, .. } => {
                        u.map_or(0, |u| uid(u, &mut uuids)) ^ intern(&mut cids, cid)
                    }
                    RecordView::Reset { uid: u, .. } => uid(u, &mut uuids),
                    RecordView::Unlink { uid: u, cid } => uid(u, &mut uuids) ^ intern(&mut cids, cid),
                    RecordView::Merge { from, into } => intern(&mut cids, from) ^ intern(&mut cids, into),
                    RecordView::Unmerge { cid } => intern(&mut cids, cid),
                    RecordView::Attributes { target, .. } => match target {
                        TargetView::Cid(c) => intern(&mut cids, c),
                        TargetView::Uuid(b) => uid(UidView::Uuid(*b), &mut uuids),
                        TargetView::UidText(t) => uid(UidView::Text(t), &mut uuids),
                    },
                });
            }
        }
        let took = start.elapsed();
        println!("{n} records, {} + {} uids, {} cids in {took:?} ({sum})", uuids.len(), uids.len(), cids.len());
        times.push(took);
    }
    let fastest = times.iter().min().copied().unwrap_or_default();
    println!("fastest {fastest:?} median {:?}", median(times));
    Ok(())
}
