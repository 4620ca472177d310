//! idres-resolve: the deterministic fold of the log's records into customer profiles.
//!
//! [`Resolver::apply`] takes records in LSN order and maintains: interned ids, device nodes
//! `(uid, epoch)` and customer nodes, a union-find over them, the identity graph (petgraph) whose
//! link and merge edges carry the LSN, kind and time of the record that made them, and each
//! node's contents (attribute writes, event counts, first/last seen, history). A profile is a
//! connected component; its contents are the join of its nodes' contents (docs/SEMANTICS.md §4),
//! so a merge is a join and an unmerge or unlink is an exact recomputation.
//!
//! **Architecture invariant:** the fold does no I/O, reads no clock and starts no thread. Its only
//! randomness is the per-process seed of its lookup maps' hasher (`hash.rs`, drawn from std's
//! `RandomState` against collision attacks): neither the seed nor any hash-map iteration order
//! reaches a profile, a snapshot, a digest, a rejection or the change stream (maps are used for
//! lookups only; where one is listed, the list is sorted first).
//!
//! **Architecture invariant:** a rejected record changes nothing (SEMANTICS §3).

mod apply;
mod cid_index;
mod components;
mod config;
mod contents;
mod dedupe;
mod digest;
mod events;
mod explain;
mod hash;
mod identity;
mod interner;
mod node;
mod outcome;
mod profile_id;
mod profile_index;
mod reads;
mod record_ref;
mod resolver;
mod restore;
mod rules;
mod session_reads;
mod sessions;
mod shapes;
mod snapshot;
mod store_rows;
mod summary;
mod uid_index;
mod uids;

pub use apply::{Applied, ApplyEncodedError, ApplyError};
pub use config::{Config, OnCidConflict, DEDUPE_IDS_MAX_DEFAULT, DEDUPE_WINDOW_DEFAULT, SESSION_GAP_DEFAULT};
pub use events::NODE_EVENT_BYTES_MAX;
pub use outcome::{
    Change, DeviceRef, EdgeKind, EpochProfile, Explanation, ForgottenRejections, ImplicitReset, NodeRef, PathStep,
    Profile, ProfileKind, Reason, Rejection, REJECTIONS_KEPT_MAX,
};
pub use profile_id::{anonymous_profile_id, customer_profile_id, profile_namespace};
pub use resolver::Resolver;
pub use sessions::{SessionInfo, NODE_SESSIONS_MAX};
pub use snapshot::{
    SnapshotError, SNAPSHOT_HEADER_BYTES, SNAPSHOT_MAGIC, SNAPSHOT_VERSION, SNAPSHOT_VERSION_OLDEST_READ,
};
pub use store_rows::StoreRow;
pub use summary::ProfileSummary;

/// A log sequence number: the position of a record in the log, from 0.
pub type Lsn = u64;
