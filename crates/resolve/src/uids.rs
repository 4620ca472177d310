//! The fold's uid table: every interned uid's bytes in one arena, and per uid its current epoch
//! and its device nodes by epoch.
//!
//! Two million uids are most of the fold's entries: a `Uid` per entry took 24 bytes plus a heap
//! chunk of 32 for a text uid, and the epochs' nodes 16 more. Here a uid costs a 32-byte row that
//! holds a UUID or a text id of up to 16 bytes itself (longer ones in one arena), and a uid with
//! one device node (most never reset) keeps it in the row.

use idres_model::{Uid, UidView};

use crate::hash::FastMap;
use crate::node::NodeId;

/// `UidRow::meta`'s flag for a text uid (the rest is the uid's length in bytes).
const TEXT: u32 = 1 << 31;
/// Uids of up to this many bytes (every UUID, short text ids) are held in their row.
const INLINE: usize = 16;
/// `UidRow::node` of a uid whose epochs saw no record yet.
const NO_NODE: NodeId = NodeId::MAX;

/// A uid: its bytes (or where they are), and its epochs. 32 bytes: the event path confirms an
/// index hit and finds the device node in one row, without a second cache miss for the bytes
/// of a UUID or a short text id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UidRow {
    /// The uid's bytes if at most `INLINE`; otherwise the offset of its bytes in the arena, as
    /// the first 8 bytes (little-endian).
    inline: [u8; INLINE],
    /// The uid's length in bytes, with `TEXT` set for a text uid.
    meta: u32,
    /// The current epoch.
    epoch: u32,
    /// The latest epoch that has a device node, and that node (`NO_NODE`: none yet).
    node_epoch: u32,
    node: NodeId,
}

// The size the docs quote.
const _: () = assert!(std::mem::size_of::<UidRow>() == 32);

/// See the module docs. Uids are numbered from 0 in order of interning.
#[derive(Debug, Clone, Default)]
pub(crate) struct UidTable {
    /// The bytes of the uids longer than `INLINE`, one after the other.
    bytes: Vec<u8>,
    rows: Vec<UidRow>,
    /// The device nodes of a uid before its latest, by epoch ascending, for the uids with more
    /// than one (a reset or an implicit reset followed by a record). Only ever looked up by uid.
    earlier: FastMap<u32, Vec<(u32, NodeId)>>,
}

impl UidTable {
    /// Number of uids.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Interns `uid` (not in the table yet, and valid: at most `UID_BYTES_MAX` bytes) at epoch
    /// 0 without nodes; returns its number.
    pub(crate) fn push(&mut self, uid: UidView<'_>) -> u32 {
        let u = self.rows.len() as u32;
        let (text, bytes) = match &uid {
            UidView::Uuid(b) => (0, &b[..]),
            UidView::Text(t) => (TEXT, *t),
        };
        let mut inline = [0u8; INLINE];
        if bytes.len() <= INLINE {
            inline[..bytes.len()].copy_from_slice(bytes);
        } else {
            inline[..8].copy_from_slice(&(self.bytes.len() as u64).to_le_bytes());
            self.bytes.extend_from_slice(bytes);
        }
        let meta = (bytes.len() as u32 & !TEXT) | text;
        self.rows.push(UidRow { inline, meta, epoch: 0, node_epoch: 0, node: NO_NODE });
        u
    }

    /// Uid `u` as its form (0 UUID, 1 text) and bytes: what the index hashes and compares.
    pub(crate) fn form_and_bytes(&self, u: u32) -> (u8, &[u8]) {
        let row = &self.rows[u as usize];
        let len = (row.meta & !TEXT) as usize;
        let form = u8::from(row.meta & TEXT != 0);
        if len <= INLINE {
            return (form, &row.inline[..len]);
        }
        let mut at = [0u8; 8];
        at.copy_from_slice(&row.inline[..8]);
        let at = u64::from_le_bytes(at) as usize;
        (form, &self.bytes[at..at + len])
    }

    /// True if uid `u` is the uid in form `form` with `bytes`: what `form_and_bytes(u) ==
    /// (form, bytes)` says, with the row's inline bytes compared as one 16-byte word (the
    /// event path's confirmation of every index hit).
    pub(crate) fn is(&self, u: u32, form: u8, bytes: &[u8]) -> bool {
        let Some(row) = self.rows.get(u as usize) else { return false };
        let meta = (bytes.len() as u32 & !TEXT) | if form == 0 { 0 } else { TEXT };
        if row.meta != meta || bytes.len() > (TEXT - 1) as usize {
            return false;
        }
        if bytes.len() <= INLINE {
            let mut sought = [0u8; INLINE];
            sought[..bytes.len()].copy_from_slice(bytes);
            return u128::from_le_bytes(row.inline) == u128::from_le_bytes(sought);
        }
        self.form_and_bytes(u).1 == bytes
    }

    /// Uid `u`, borrowed from the table.
    pub(crate) fn view(&self, u: u32) -> UidView<'_> {
        match self.form_and_bytes(u) {
            (0, b) => {
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                UidView::Uuid(a)
            }
            (_, b) => UidView::Text(b),
        }
    }

    /// Uid `u`, owned (a text uid's bytes are copied: for reads, not for the event path).
    pub(crate) fn uid(&self, u: u32) -> Uid {
        match self.form_and_bytes(u) {
            (0, b) => {
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                Uid::Uuid(a)
            }
            (_, b) => Uid::from_wire_bytes(b.to_vec()),
        }
    }

    /// Uid `u`'s current epoch.
    pub(crate) fn epoch(&self, u: u32) -> u32 {
        self.rows[u as usize].epoch
    }

    /// Starts uid `u`'s next epoch (the caller checked there is one).
    pub(crate) fn next_epoch(&mut self, u: u32) {
        let row = &mut self.rows[u as usize];
        debug_assert!(row.epoch < u32::MAX, "the caller checks the uid has a next epoch");
        row.epoch = row.epoch.saturating_add(1);
    }

    /// The device node of uid `u`'s current epoch, once it saw a record.
    pub(crate) fn current(&self, u: u32) -> Option<NodeId> {
        let row = self.rows[u as usize];
        (row.node != NO_NODE && row.node_epoch == row.epoch).then_some(row.node)
    }

    /// Records `node` as uid `u`'s device node of `epoch` (above every epoch it has a node of;
    /// `node` is never `NodeId::MAX`: node counts fit a `u32`, and restore refuses it).
    pub(crate) fn push_node(&mut self, u: u32, epoch: u32, node: NodeId) {
        debug_assert_ne!(node, NO_NODE, "no node has the largest id");
        let row = &mut self.rows[u as usize];
        if row.node != NO_NODE {
            self.earlier.entry(u).or_default().push((row.node_epoch, row.node));
        }
        row.node_epoch = epoch;
        row.node = node;
    }

    /// Uid `u`'s device nodes as `(epoch, node)`, epochs ascending.
    pub(crate) fn nodes(&self, u: u32) -> impl Iterator<Item = (u32, NodeId)> + '_ {
        let row = self.rows[u as usize];
        let earlier = self.earlier.get(&u).map_or(&[][..], |v| v.as_slice());
        earlier.iter().copied().chain((row.node != NO_NODE).then_some((row.node_epoch, row.node)))
    }

    /// Number of uid `u`'s device nodes.
    pub(crate) fn node_count(&self, u: u32) -> usize {
        let row = self.rows[u as usize];
        self.earlier.get(&u).map_or(0, Vec::len) + usize::from(row.node != NO_NODE)
    }

    /// Interns `uid` with a restored epoch and nodes (epochs ascending, checked by the caller).
    pub(crate) fn push_restored(&mut self, uid: &Uid, epoch: u32, nodes: &[(u32, NodeId)]) -> u32 {
        let u = self.push(uid.view());
        self.rows[u as usize].epoch = epoch;
        for &(e, n) in nodes {
            self.push_node(u, e, n);
        }
        u
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uid_index::UidBytes;

    #[test]
    fn uids_come_back_as_interned_with_their_nodes() {
        let mut t = UidTable::default();
        let uids = [
            Uid::Uuid([7; 16]),
            Uid::from_wire_bytes(b"web-1".to_vec()),
            // The same 16 bytes as text are another uid; an empty text too.
            Uid::from_wire_bytes(vec![7; 16]),
            Uid::from_wire_bytes(Vec::new()),
            Uid::Uuid([0; 16]),
            // Longer than a row holds: in the arena, one after the other.
            Uid::from_wire_bytes(b"seventeen-bytes-1".to_vec()),
            Uid::from_wire_bytes(b"sixteen-bytes-01".to_vec()),
            Uid::from_wire_bytes(vec![b'x'; 128]),
            Uid::from_wire_bytes(b"seventeen-bytes-2".to_vec()),
        ];
        for (i, uid) in uids.iter().enumerate() {
            assert_eq!(t.push(uid.view()), i as u32);
        }
        for (i, uid) in uids.iter().enumerate() {
            assert_eq!(&t.uid(i as u32), uid);
            for (j, other) in uids.iter().enumerate() {
                let (form, bytes) = other.form_and_bytes();
                assert_eq!(t.is(i as u32, form, bytes), i == j, "{uid:?} against {other:?}");
            }
            // A prefix, or the bytes with a zero more, is another uid.
            let (form, bytes) = uid.form_and_bytes();
            if let Some((_, prefix)) = bytes.split_last() {
                assert!(!t.is(i as u32, form, prefix));
            }
            assert!(!t.is(i as u32, form, &[bytes, &[0]].concat()));
            assert_eq!(t.form_and_bytes(i as u32).0, u8::from(matches!(uid, Uid::Text(_))));
        }
        assert_eq!(t.current(1), None);
        t.push_node(1, 0, 10);
        assert_eq!(t.current(1), Some(10));
        t.next_epoch(1);
        assert_eq!((t.epoch(1), t.current(1)), (1, None));
        t.next_epoch(1);
        t.push_node(1, 2, 11);
        t.next_epoch(1);
        t.next_epoch(1);
        t.push_node(1, 4, 12);
        assert_eq!(t.nodes(1).collect::<Vec<_>>(), vec![(0, 10), (2, 11), (4, 12)]);
        assert_eq!(t.node_count(1), 3);
        assert_eq!(t.current(1), Some(12));
        assert_eq!(t.nodes(0).count(), 0);
        let mut r = UidTable::default();
        for u in 0..t.len() as u32 {
            r.push_restored(&t.uid(u), t.epoch(u), &t.nodes(u).collect::<Vec<_>>());
        }
        for u in 0..t.len() as u32 {
            let all = |x: &UidTable| (x.uid(u), x.epoch(u), x.nodes(u).collect::<Vec<_>>(), x.current(u));
            assert_eq!(all(&r), all(&t));
        }
    }
}
