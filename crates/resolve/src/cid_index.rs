//! The cid index: a cid's bytes -> its customer node, searchable with bytes borrowed from a
//! record.
//!
//! Every identify looks its cid up, and in a large fold the lookup is a cache miss on the
//! table's control bytes and one on its bucket; a key that pointed to the cid's bytes on the
//! heap would add a third, and a value that numbered the cid a fourth (its entry in the cid
//! table, to read the node). So a cid of up to [`INLINE`] bytes (customer ids usually are) is
//! kept in the bucket itself, and the bucket holds the node. The cid table (`Resolver::cids`)
//! still owns every cid, for reads; this is a second copy of the short ones (24 bytes a key,
//! the heap chunk of the long ones).

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

use crate::hash::{map_with_capacity, FastMap};
use crate::node::NodeId;

/// Cids of up to this many bytes are held in the key itself.
const INLINE: usize = 22;

/// A key of [`CidIndex`]: hashes and compares as its bytes (as `[u8]` does), so that the map
/// can be searched with a borrowed `&[u8]`.
#[derive(Debug, Clone)]
enum CidKey {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

// The size the module docs quote.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<CidKey>() == 24);

impl CidKey {
    fn new(cid: &[u8]) -> CidKey {
        match u8::try_from(cid.len()) {
            Ok(len) if cid.len() <= INLINE => {
                let mut bytes = [0u8; INLINE];
                bytes[..cid.len()].copy_from_slice(cid);
                CidKey::Inline { len, bytes }
            }
            _ => CidKey::Heap(cid.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            // `len <= INLINE` by construction; `get` keeps it total anyway.
            CidKey::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or(bytes),
            CidKey::Heap(b) => b,
        }
    }
}

impl Borrow<[u8]> for CidKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Hash for CidKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialEq for CidKey {
    fn eq(&self, other: &CidKey) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for CidKey {}

/// Cid bytes -> the cid's customer node (see the module docs). Looked up only, never iterated.
#[derive(Debug, Clone, Default)]
pub(crate) struct CidIndex {
    map: FastMap<CidKey, NodeId>,
}

impl CidIndex {
    /// An empty index with room for `n` cids.
    pub(crate) fn with_capacity(n: usize) -> CidIndex {
        CidIndex { map: map_with_capacity(n) }
    }

    /// The customer node of `cid`, if the fold has it.
    pub(crate) fn get(&self, cid: &[u8]) -> Option<NodeId> {
        self.map.get(cid).copied()
    }

    /// Adds `cid` with its node; false (and the index unchanged) if it is in it already.
    pub(crate) fn insert(&mut self, cid: &[u8], node: NodeId) -> bool {
        if self.map.contains_key(cid) {
            return false;
        }
        self.map.insert(CidKey::new(cid), node);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_cids_are_found_by_their_bytes() {
        let cids: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"c".to_vec(),
            b"customer-000001".to_vec(),
            vec![b'x'; INLINE],
            vec![b'x'; INLINE + 1],
            vec![b'x'; 300],
            // Trailing zeros are bytes of the cid, not padding.
            b"c\0".to_vec(),
            b"c\0\0".to_vec(),
        ];
        let mut ix = CidIndex::with_capacity(2);
        for (n, c) in cids.iter().enumerate() {
            assert!(ix.insert(c, n as NodeId), "{c:?}");
        }
        for (n, c) in cids.iter().enumerate() {
            assert_eq!(ix.get(c), Some(n as NodeId), "{c:?}");
            assert!(!ix.insert(c, 99), "{c:?} twice");
            assert_eq!(ix.get(c), Some(n as NodeId));
        }
        assert_eq!(ix.get(b"customer-000002"), None);
        assert_eq!(ix.get(&[b'x'; INLINE - 1]), None);
        assert!(matches!(CidKey::new(&[b'x'; INLINE]), CidKey::Inline { .. }));
        assert!(matches!(CidKey::new(&[b'x'; INLINE + 1]), CidKey::Heap(_)));
    }
}
