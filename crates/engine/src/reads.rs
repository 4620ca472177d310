//! Reads: profiles, explanations, the digest and counters from the fold (read-your-writes after
//! a ticket), profiles from the persisted store, a profile's history from the log, and the fold
//! as it stood at an LSN.

use std::sync::Arc;

use idres_log::{LogError, Lsn, Reader};
use idres_model::{decode_entry_with_schema, Entry, HistoryEvent, Profile, Record, Target, Uid};
use idres_resolve::{Explanation, Resolver, SessionInfo};
use uuid::Uuid;

use crate::error::encoded_error;
use crate::snapshots;
use crate::{Engine, EngineError, Stats};

/// A history read opens a new log reader only where the next LSN it needs is more than this many
/// records past the last one (a reader skips whole frames by their headers, but reads every
/// frame between two LSNs of one run).
pub const HISTORY_GAP_RECORDS: u64 = 65_536;

/// Reads the records at `lsns` (ascending, no repeats) in one ordered pass: one reader per run of
/// LSNs no more than [`HISTORY_GAP_RECORDS`] apart, opened by `open(from, to)`. Calls `f` for each
/// record wanted, in LSN order, with its frame's schema.
pub(crate) fn read_lsns(
    lsns: &[Lsn],
    mut open: impl FnMut(Lsn, Lsn) -> Result<Reader, LogError>,
    mut f: impl FnMut(Lsn, u16, &[u8]) -> Result<(), EngineError>,
) -> Result<(), EngineError> {
    let mut at = 0;
    while at < lsns.len() {
        // The run: lsns[at..end], each within the gap of the one before.
        let mut end = at + 1;
        while end < lsns.len() && lsns[end] - lsns[end - 1] <= HISTORY_GAP_RECORDS {
            end += 1;
        }
        let run = &lsns[at..end];
        let mut next = 0;
        let mut reader = open(run[0], run[run.len() - 1] + 1)?;
        while let Some(frame) = reader.next_frame()? {
            for (lsn, bytes) in frame.records() {
                if run.get(next) == Some(&lsn) {
                    f(lsn, frame.schema, bytes)?;
                    next += 1;
                }
            }
        }
        if next != run.len() {
            debug_assert!(false, "the log ended before LSN {} of a history", run[next]);
            return Err(EngineError::Invalid(format!("LSN {} is not in the log", run[next])));
        }
        at = end;
    }
    Ok(())
}

impl Engine {
    /// The profile that holds customer `cid` (from the fold: read-your-writes after a ticket).
    pub fn profile_by_cid(&self, cid: &str) -> Result<Option<Profile>, EngineError> {
        Ok(self.handle.shared.resolver().profile_by_cid(&Self::cid(cid)?))
    }

    /// The profile of `uid`'s current epoch.
    pub fn profile_by_uid(&self, uid: &str) -> Result<Option<Profile>, EngineError> {
        Ok(self.handle.shared.resolver().profile_by_uid(&Self::uid(uid)?))
    }

    /// The sessions of the profile that holds customer `cid`, by start (docs/SEMANTICS.md,
    /// "Sessions"); `None` for an unknown cid.
    pub fn sessions_by_cid(&self, cid: &str) -> Result<Option<Vec<SessionInfo>>, EngineError> {
        Ok(self.handle.shared.resolver().sessions_by_cid(&Self::cid(cid)?))
    }

    /// The sessions of the profile of `uid`'s current epoch, by start.
    pub fn sessions_by_uid(&self, uid: &str) -> Result<Option<Vec<SessionInfo>>, EngineError> {
        Ok(self.handle.shared.resolver().sessions_by_uid(&Self::uid(uid)?))
    }

    /// The profile with this id (retired ids lead to the survivor).
    pub fn profile_by_id(&self, id: Uuid) -> Option<Profile> {
        self.handle.shared.resolver().profile_by_id(id)
    }

    /// Runs `read` on the fold's current state under its read lock (writes wait meanwhile): for
    /// reads the other methods do not cover, or several reads that must see one state.
    pub fn read<R>(&self, read: impl FnOnce(&Resolver) -> R) -> R {
        read(&self.handle.shared.resolver())
    }

    /// The profile of customer `cid` as the persisted store has it (may trail the fold; see
    /// [`Engine::wait_stored`]).
    pub fn stored_profile_by_cid(&self, cid: &str) -> Result<Option<Profile>, EngineError> {
        let cid = Self::cid(cid)?;
        if self.handle.shared.read_only {
            return Err(EngineError::ReadOnly("it has no store"));
        }
        let store = self.handle.shared.store.lock().unwrap_or_else(|e| e.into_inner());
        Ok(store.as_ref().ok_or(EngineError::Closed)?.profile_by_cid(&cid)?)
    }

    /// The profile with id `id` as the persisted store has it: a retired id leads to the profile
    /// that holds its node now (trails the fold; see [`Engine::wait_stored`]).
    pub fn stored_profile_by_id(&self, id: Uuid) -> Result<Option<Profile>, EngineError> {
        if self.handle.shared.read_only {
            return Err(EngineError::ReadOnly("it has no store"));
        }
        let store = self.handle.shared.store.lock().unwrap_or_else(|e| e.into_inner());
        Ok(store.as_ref().ok_or(EngineError::Closed)?.profile(id)?)
    }

    /// The persisted read model's profile of a device node (a uid at an epoch), read from the
    /// store itself (trails the fold; see [`Engine::wait_stored`]).
    pub fn stored_profile_by_uid(&self, uid: &str, epoch: u32) -> Result<Option<Profile>, EngineError> {
        let uid = Self::uid(uid)?;
        if self.handle.shared.read_only {
            return Err(EngineError::ReadOnly("it has no store"));
        }
        let store = self.handle.shared.store.lock().unwrap_or_else(|e| e.into_inner());
        Ok(store.as_ref().ok_or(EngineError::Closed)?.profile_by_uid(&uid, epoch)?)
    }

    /// Why a uid is in its profile.
    pub fn explain_uid(&self, uid: &str) -> Result<Option<Explanation>, EngineError> {
        Ok(self.handle.shared.resolver().explain_uid(&Self::uid(uid)?))
    }

    /// Why the device node of a uid at `epoch` is in its profile (`None`: no node at that epoch).
    pub fn explain_uid_epoch(&self, uid: &str, epoch: u32) -> Result<Option<Explanation>, EngineError> {
        Ok(self.handle.shared.resolver().explain_uid_epoch(&Self::uid(uid)?, epoch))
    }

    /// Why a cid is in its profile.
    pub fn explain_cid(&self, cid: &str) -> Result<Option<Explanation>, EngineError> {
        Ok(self.handle.shared.resolver().explain_cid(&Self::cid(cid)?))
    }

    /// The state digest of the fold.
    pub fn digest(&self) -> [u8; 32] {
        self.handle.shared.resolver().digest()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        let mut s = {
            let p = self.handle.shared.progress();
            Stats {
                folded_lsn: p.folded,
                stored_lsn: p.stored,
                store_lag: p.folded.saturating_sub(p.stored),
                store_profiles_written: p.store_profiles_written,
                store_keys_written: p.store_keys_written,
                store_flushes: p.store_flushes,
                store_busy: p.store_busy,
                snapshots_written: p.snapshots_written,
                snapshot_failures: p.snapshot_failures,
                ..Stats::default()
            }
        };
        s.subscribers = self.handle.shared.subscribers.count();
        s.changes_dropped = self.handle.shared.subscribers.dropped();
        let r = self.handle.shared.resolver();
        s.profiles = r.profile_count();
        s.rejections = usize::try_from(r.rejection_count()).unwrap_or(usize::MAX);
        s.rejections_forgotten = r.rejections_forgotten().count();
        s
    }

    /// Why the last snapshot that failed could not be written (`None`: none failed since open).
    pub fn last_snapshot_failure(&self) -> Option<Arc<EngineError>> {
        self.handle.shared.progress().last_snapshot_failure.clone()
    }

    /// The events of a profile (by the LSNs in its history), read back from the log in LSN order
    /// in one ordered pass.
    pub fn history(&self, profile: &Profile) -> Result<Vec<(Lsn, Entry)>, EngineError> {
        let mut lsns = match self.handle.shared.resolver().profile_by_id(profile.id) {
            Some(p) => p.history,
            None => return Ok(Vec::new()),
        };
        lsns.sort_unstable();
        lsns.dedup();
        let log = &self.handle.shared.log;
        let mut out = Vec::with_capacity(lsns.len());
        read_lsns(
            &lsns,
            |from, to| log.reader_range(from, to),
            |lsn, schema, bytes| {
                let entry = decode_entry_with_schema(schema, bytes)
                    .map_err(|source| EngineError::Undecodable { lsn, source })?;
                out.push((lsn, entry));
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// The events of a profile as `history` shows them ([`Engine::history`], each with the epoch
    /// of the device node that holds it): what serialises to the CLI's history JSON shape.
    pub fn history_events(&self, profile: &Profile) -> Result<Vec<HistoryEvent>, EngineError> {
        // Per uid, its events' epochs, read once: one pass over its packed events.
        let mut epochs: std::collections::BTreeMap<Uid, Vec<(Lsn, u32)>> = std::collections::BTreeMap::new();
        let mut out = Vec::new();
        for (lsn, entry) in self.history(profile)? {
            let epoch = match &entry.record {
                Record::Event { target: Target::Uid(u), .. } => {
                    let of_uid =
                        epochs.entry(u.clone()).or_insert_with(|| self.handle.shared.resolver().event_epochs(u));
                    of_uid.binary_search_by_key(&lsn, |&(l, _)| l).ok().map(|i| of_uid[i].1)
                }
                _ => None,
            };
            out.extend(HistoryEvent::new(lsn, entry, epoch));
        }
        Ok(out)
    }

    /// The fold as it stood after the record at `lsn`: the newest snapshot at or before it, plus
    /// the log up to it.
    pub fn as_of(&self, lsn: Lsn) -> Result<Resolver, EngineError> {
        let shared = &self.handle.shared;
        let end = lsn.checked_add(1).ok_or(EngineError::Invalid(format!("LSN {lsn} is out of range")))?;
        let folded = shared.progress().folded;
        if end > folded {
            return Err(EngineError::Invalid(format!(
                "LSN {lsn} has not been folded yet (the last folded LSN is {})",
                folded.checked_sub(1).map_or_else(|| "none: the log is empty".to_string(), |l| l.to_string())
            )));
        }
        let mut r = Resolver::new(shared.config.fold.clone());
        for (snap_lsn, path) in shared.dir.snapshots()? {
            if snap_lsn > end {
                continue;
            }
            if let Ok(restored) = snapshots::restore(&path, shared.log_id, &shared.log_file, &shared.config.fold)? {
                r = restored;
                break;
            }
        }
        if r.next_lsn() < end {
            let mut reader = shared.log.reader_range(r.next_lsn(), end)?;
            while let Some(frame) = reader.next_frame()? {
                for (l, bytes) in frame.records() {
                    r.apply_encoded(l, frame.schema, bytes).map_err(|e| encoded_error(l, e))?;
                }
            }
        }
        r.drain_changes().for_each(drop);
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use idres_log::{BatchBuilder, Durability, Log, LogOptions};

    /// A log of `n` one-record frames in small segments.
    fn log(dir: &std::path::Path, n: u64) -> Log {
        let mut log = Log::open(
            dir,
            LogOptions { segment_bytes: 64 << 10, durability: Durability::Never, ..LogOptions::default() },
        )
        .unwrap();
        for i in 0..n {
            let mut b = BatchBuilder::new(1);
            b.push(&i.to_le_bytes()).unwrap();
            log.append(&b).unwrap();
        }
        log
    }

    /// Reads `lsns` of a log of one-record frames `0..n` (each record its LSN's bytes); returns
    /// the LSNs read, in order, and the readers opened.
    fn read_counting(n: u64, lsns: &[Lsn]) -> (Vec<Lsn>, usize) {
        let tmp = tempfile::tempdir().unwrap();
        let log = log(tmp.path(), n);
        let handle = log.read_handle();
        let mut opened = 0;
        let mut seen = Vec::new();
        read_lsns(
            lsns,
            |from, to| {
                opened += 1;
                handle.reader_range(from, to)
            },
            |lsn, _, bytes| {
                assert_eq!(bytes, lsn.to_le_bytes());
                seen.push(lsn);
                Ok(())
            },
        )
        .unwrap();
        (seen, opened)
    }

    #[test]
    fn history_reads_the_log_once_not_once_per_lsn() {
        // Defect #2 (issue 12): a history of N events opened N log readers, each re-reading its
        // segment from the start (3,000 events: 8.4 s against 0.32 s for `profile`).
        let lsns: Vec<Lsn> = (0..3000).step_by(3).collect();
        let (seen, opened) = read_counting(3000, &lsns);
        assert_eq!(seen, lsns, "every LSN asked for, in order, once");
        assert_eq!(opened, 1, "one reader for LSNs that lie close together");
    }

    #[test]
    fn a_history_far_apart_opens_a_reader_per_distant_run() {
        let lsns = vec![0, 1, 2, HISTORY_GAP_RECORDS + 50, HISTORY_GAP_RECORDS + 51];
        let (seen, opened) = read_counting(HISTORY_GAP_RECORDS + 100, &lsns);
        assert_eq!(seen, lsns);
        assert_eq!(opened, 2, "a run near the start and one far past it");
    }
}
