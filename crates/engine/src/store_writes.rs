//! What the engine writes to the store: the changes of folded records gathered into
//! [`Touched`], turned into [`StoreBatch`]es from the fold's [`StoreRow`]s, and written in bounded
//! chunks for a flush or an open's catch-up ([`write_touched`]); or, for a rebuild, the whole read
//! model in one [`ProfileStore::load`] ([`write_everything`]).
//!
//! Owns: which keys a change needs. A changed profile is upserted (materialised without its
//! history); a retired id becomes a redirect to the profile holding its node, read from the fold
//! without materialising anything; index entries are written only for new nodes and for the
//! members of the profiles a split produced (with direct redirects of their own ids). A merge
//! writes no index entry: its nodes' entries lead through the retired id's redirect. Does not own:
//! when a flush happens (`store_thread.rs`) or how a backend lays keys out (`idres_store`).

use std::collections::BTreeSet;
use std::sync::Mutex;

use idres_log::Lsn;
use idres_model::encode_profile_ref_into;
use idres_resolve::{Change, NodeRef, Resolver, StoreRow};
use idres_store::{EncodedProfile, IndexKey, ProfileStore, StoreBatch, StoreError, StoreLoad};
use uuid::Uuid;

/// Profile ids written per store batch: the memory of a rebuild or a long catch-up stays
/// bounded however many profiles change (a 10 M-record rebuild would otherwise materialise every
/// profile at once).
const STORE_CHUNK: usize = 4096;
/// Profile ids read under one hold of the fold's read lock: enough to make taking it cheap,
/// few enough that the writer, which needs the write lock for every frame it folds, waits for at
/// most a few hundred microseconds of materialisation.
const READ_LOCK_IDS: usize = 64;
/// Profiles a rebuild's materialiser thread hands over at a time, and how many such chunks each
/// may have waiting for the load.
const LOAD_CHUNK: usize = 256;
const LOAD_CHUNKS_AHEAD: usize = 8;
/// At most this many materialiser threads in a rebuild.
const MATERIALISERS_MAX: usize = 4;

/// Materialiser threads for a rebuild: one per core (the loading thread mostly waits on them),
/// at most [`MATERIALISERS_MAX`].
fn materialisers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MATERIALISERS_MAX)
}

/// A profile of a rebuild, encoded where it was materialised.
type Loaded = Result<EncodedProfile, StoreError>;

/// The profile named by the node at `position` (see [`Resolver::store_profile`]), encoded
/// straight from the fold.
fn encoded_profile(resolver: &Resolver, position: usize) -> Option<Loaded> {
    let p = resolver.store_profile(position)?;
    let mut bytes = Vec::new();
    Some(match encode_profile_ref_into(&p, &mut bytes) {
        Ok(()) => Ok(EncodedProfile { id: p.id, bytes }),
        Err(source) => Err(StoreError::Encode { id: p.id, source }),
    })
}

/// The profiles of a rebuild in id order: chunk `i` from channel `i % channels`.
struct InOrder {
    receivers: Vec<crossbeam_channel::Receiver<Vec<Loaded>>>,
    next: usize,
    /// Chunks not received yet.
    left: usize,
    current: std::vec::IntoIter<Loaded>,
}

impl Iterator for InOrder {
    type Item = Loaded;

    fn next(&mut self) -> Option<Loaded> {
        loop {
            if let Some(p) = self.current.next() {
                return Some(p);
            }
            if self.left == 0 {
                return None;
            }
            let rx = &self.receivers[self.next % self.receivers.len()];
            self.current = rx.recv().ok()?.into_iter();
            self.next += 1;
            self.left -= 1;
        }
    }
}
/// A long catch-up or rebuild flushes the store every this many chunks.
const STORE_CHUNKS_PER_FLUSH: usize = 8;

/// What a run of store batches wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Written {
    /// Profiles and redirects.
    pub entries: u64,
    /// Keys set or removed (see `OpenReport::store_keys_written`).
    pub keys: u64,
}

/// The profile ids a run of changes touched, and which of them need index entries.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    /// Every id a change named: each is upserted or redirected.
    ids: BTreeSet<Uuid>,
    /// Ids of new nodes: their node gets an index entry.
    created: BTreeSet<Uuid>,
    /// Ids a split named: every member of the profile holding each gets an index entry and a
    /// direct redirect (their old redirects may lead to the profile they left).
    split: BTreeSet<Uuid>,
}

impl Touched {
    /// Notes `changes`.
    pub(crate) fn note(&mut self, changes: &[Change]) {
        for c in changes {
            match *c {
                Change::Created { profile } => {
                    self.ids.insert(profile);
                    self.created.insert(profile);
                }
                Change::Changed { profile } => {
                    self.ids.insert(profile);
                }
                Change::Retired { profile, into } => {
                    self.ids.insert(profile);
                    self.ids.insert(into);
                }
                Change::Split { from, into } => {
                    for id in [from, into] {
                        self.ids.insert(id);
                        self.split.insert(id);
                    }
                }
                Change::ImplicitReset { .. } | Change::Rejected { .. } => {}
            }
        }
    }

    /// Forgets everything noted.
    pub(crate) fn clear(&mut self) {
        self.ids.clear();
        self.created.clear();
        self.split.clear();
    }
}

fn index_key(node: NodeRef) -> IndexKey {
    match node {
        NodeRef::Customer(c) => IndexKey::Cid(c),
        NodeRef::Device(d) => IndexKey::Device(d.uid, d.epoch),
    }
}

/// Puts `row` into `batch`: its profile (if it names one and it was materialised), else the
/// redirect of its own id; and its index entry if `index`.
fn add_row(batch: &mut StoreBatch, row: StoreRow, index: bool) {
    if !row.names_its_profile() {
        batch.retired.push((row.own_id, row.holder));
    }
    if let Some(p) = row.profile {
        batch.upserts.push(p);
    }
    if index {
        batch.index.push((index_key(row.node), row.holder));
    }
}

/// Writes `batches` (built one at a time by `next`, `None` ending them) to the store: every
/// batch but the last keeps the store's applied LSN at `before` (what it already reflected), the
/// last sets `after`; a flush every [`STORE_CHUNKS_PER_FLUSH`] batches and at the end (sled holds
/// what it has not flushed in memory). A crash in between leaves a store that says it is at
/// `before`, which the next open catches up or rebuilds.
fn write_chunked(
    store: &Mutex<Option<Box<dyn ProfileStore>>>,
    before: Lsn,
    after: Lsn,
    mut next: impl FnMut() -> Option<StoreBatch>,
) -> Result<Written, StoreError> {
    let mut written = Written::default();
    let mut pending = next();
    let mut i = 0usize;
    loop {
        let following = if pending.is_some() { next() } else { None };
        let last = following.is_none();
        let mut batch = pending.unwrap_or_default();
        batch.applied_lsn = if last { after } else { before };
        written.entries += (batch.upserts.len() + batch.retired.len()) as u64;
        written.keys += (batch.upserts.len() + 2 * batch.retired.len() + batch.index.len() + 1) as u64;
        let mut guard = store.lock().unwrap_or_else(|e| e.into_inner());
        let Some(store) = guard.as_mut() else {
            return Err(StoreError::Corrupt { key: "-".into(), detail: "the store was released".into() });
        };
        store.apply(&batch)?;
        if last || (i + 1).is_multiple_of(STORE_CHUNKS_PER_FLUSH) {
            store.flush()?;
        }
        if last {
            return Ok(written);
        }
        pending = following;
        i += 1;
    }
}

/// Brings the ids `touched` names to their current state in the store, [`STORE_CHUNK`] ids per
/// batch, reading the fold through `read` (which takes its read lock: once per
/// [`READ_LOCK_IDS`] ids, so that the writer never waits behind a whole batch). See [`write_chunked`] for `before` and `after`.
pub(crate) fn write_touched<R: std::ops::Deref<Target = Resolver>>(
    store: &Mutex<Option<Box<dyn ProfileStore>>>,
    touched: &Touched,
    before: Lsn,
    after: Lsn,
    read: impl Fn() -> R,
) -> Result<Written, StoreError> {
    let mut ids = touched.ids.iter().peekable();
    write_chunked(store, before, after, || {
        ids.peek()?;
        let mut batch = StoreBatch::default();
        let mut taken = 0;
        while taken < STORE_CHUNK && ids.peek().is_some() {
            let r = read();
            for &id in ids.by_ref().take(READ_LOCK_IDS.min(STORE_CHUNK - taken)) {
                taken += 1;
                if let Some(row) = r.store_row(id, true) {
                    add_row(&mut batch, row, touched.created.contains(&id));
                }
                if touched.split.contains(&id) {
                    for row in r.store_members(id) {
                        add_row(&mut batch, row, true);
                    }
                }
            }
        }
        Some(batch)
    })
}

/// Writes the whole read model of `resolver` to the store, emptied, in one
/// [`ProfileStore::load`]: one pass over the nodes gathers every redirect (straight to the profile
/// holding the node) and every node's index entry, then the profiles stream in id order, each
/// materialised (without history) once.
pub(crate) fn write_everything(
    store: &Mutex<Option<Box<dyn ProfileStore>>>,
    resolver: &Resolver,
    after: Lsn,
) -> Result<Written, StoreError> {
    let total = resolver.node_total();
    // (own id, position in node order) of the nodes that name their profile.
    let mut naming: Vec<(Uuid, usize)> = Vec::new();
    let mut retired: Vec<(Uuid, Uuid)> = Vec::new();
    let mut index: Vec<(IndexKey, Uuid)> = Vec::with_capacity(total);
    for (position, row) in resolver.store_members_all().enumerate() {
        if row.names_its_profile() {
            naming.push((row.own_id, position));
        } else {
            retired.push((row.own_id, row.holder));
        }
        index.push((index_key(row.node), row.holder));
    }
    naming.sort_unstable();
    let written = Written {
        entries: (naming.len() + retired.len()) as u64,
        keys: (naming.len() + retired.len() + index.len() + 1) as u64,
    };
    let mut guard = store.lock().unwrap_or_else(|e| e.into_inner());
    let Some(store) = guard.as_mut() else {
        return Err(StoreError::Corrupt { key: "-".into(), detail: "the store was released".into() });
    };
    // The profiles are materialised by `materialisers()` threads, chunk `i` by thread
    // `i % threads`, while this one sorts the index, encodes and loads them in id order, a
    // chunk at a time from each thread's channel in turn. Each channel is bounded: at most
    // LOAD_CHUNKS_AHEAD chunks a thread wait for the load.
    let threads = materialisers();
    let chunks: Vec<&[(Uuid, usize)]> = naming.chunks(LOAD_CHUNK).collect();
    let loaded = std::thread::scope(|scope| {
        let mut receivers = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        for t in 0..threads {
            let (tx, rx) = crossbeam_channel::bounded::<Vec<Loaded>>(LOAD_CHUNKS_AHEAD);
            let chunks = &chunks;
            let spawned = std::thread::Builder::new().name("idres-materialise".into()).spawn_scoped(scope, move || {
                for ids in chunks.iter().skip(t).step_by(threads) {
                    let chunk: Vec<Loaded> = ids.iter().filter_map(|&(_, at)| encoded_profile(resolver, at)).collect();
                    if tx.send(chunk).is_err() {
                        return; // the load stopped (its error is returned below)
                    }
                }
            });
            match spawned {
                Ok(h) => {
                    receivers.push(rx);
                    handles.push(h);
                }
                Err(_) => break,
            }
        }
        let result = if receivers.len() == threads {
            let mut profiles = InOrder { receivers, next: 0, left: chunks.len(), current: Vec::new().into_iter() };
            let r = store.load(StoreLoad { applied_lsn: after, profiles: &mut profiles, retired, index });
            // A thread that stopped early (a panic) ends its channel: the load saw fewer
            // profiles than there are. The rebuild marker stays, so the next open rebuilds.
            r.and_then(|()| match profiles.left {
                0 => Ok(()),
                left => Err(StoreError::Corrupt {
                    key: "-".into(),
                    detail: format!(
                        "the rebuild's materialiser stopped with {left} chunks of profiles not handed over"
                    ),
                }),
            })
            // `profiles` (the receivers) is dropped here, before the threads are joined: a
            // failed load never leaves one blocked on a full channel.
        } else {
            // No threads to be had: materialise here, as the load asks.
            drop(receivers);
            let mut profiles = naming.iter().filter_map(|&(_, at)| encoded_profile(resolver, at));
            store.load(StoreLoad { applied_lsn: after, profiles: &mut profiles, retired, index })
        };
        let panicked = handles.into_iter().map(|h| h.join()).filter(Result::is_err).count();
        match (result, panicked) {
            (Ok(()), 0) => Ok(()),
            (Err(e), _) => Err(e),
            (Ok(()), n) => {
                Err(StoreError::Corrupt { key: "-".into(), detail: format!("{n} materialiser threads panicked") })
            }
        }
    });
    loaded?;
    Ok(written)
}
