//! The rules of the fold that a deployment chooses: the blocked-value list, what a login without
//! logout means, and the profile size limits. Every snapshot carries the hash of its config.

use idres_model::BlockedList;
use sha2::{Digest, Sha256};

/// What an identify does when the device's current epoch is already linked to another customer
/// in another profile (a login without a logout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnCidConflict {
    /// The device moves to a new epoch, which is linked to the new customer (SEMANTICS §3.3).
    #[default]
    ImplicitReset,
    /// The identify is rejected with reason `cid_conflict`.
    Reject,
}

/// The fold's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Ids blocked as placeholders (`blocked_value`).
    pub blocked: BlockedList,
    /// What a login without logout does.
    pub on_cid_conflict: OnCidConflict,
    /// A link or merge that would give one profile more device nodes is rejected (`limit`).
    pub max_devices_per_profile: u32,
    /// A link or merge that would give one profile more customer nodes is rejected (`limit`).
    pub max_customers_per_profile: u32,
    /// A record whose message id was accepted at most this many µs of `appended_at` before it is
    /// rejected `duplicate` (docs/SEMANTICS.md, "Duplicates"); 0 turns de-duplication off.
    /// Default [`DEDUPE_WINDOW_DEFAULT`] (24 hours).
    pub dedupe_window_us: i64,
    /// The most message ids the dedupe window holds; past it the oldest leaves early (counted).
    /// Default [`DEDUPE_IDS_MAX_DEFAULT`].
    pub dedupe_ids_max: u32,
    /// Events without a session id fall into sessions inferred per node: a gap of more than this
    /// many µs between two of a node's events (by effective time) starts a new one
    /// (docs/SEMANTICS.md, "Sessions"); 0 turns inferring off. Default [`SESSION_GAP_DEFAULT`]
    /// (30 minutes).
    pub session_gap_us: i64,
}

/// The default dedupe window: 24 hours, in µs.
pub const DEDUPE_WINDOW_DEFAULT: i64 = 24 * 3_600 * 1_000_000;
/// The default bound on the message ids the window holds (about 80 MB of 36-byte UUIDs).
pub const DEDUPE_IDS_MAX_DEFAULT: u32 = 1_000_000;
/// The default inactivity gap of inferred sessions: 30 minutes, in µs.
pub const SESSION_GAP_DEFAULT: i64 = 30 * 60 * 1_000_000;

impl Default for Config {
    fn default() -> Config {
        Config {
            blocked: BlockedList::default(),
            on_cid_conflict: OnCidConflict::ImplicitReset,
            max_devices_per_profile: 1000,
            max_customers_per_profile: 100,
            dedupe_window_us: DEDUPE_WINDOW_DEFAULT,
            dedupe_ids_max: DEDUPE_IDS_MAX_DEFAULT,
            session_gap_us: SESSION_GAP_DEFAULT,
        }
    }
}

impl Config {
    /// The default config of the releases before `distinctid` and the nil UUID joined the
    /// default blocked list ([`BlockedList::default_v1`]): its hash is the one the old default
    /// had, for pinned digests and for data directories written under the old default.
    pub fn default_v1() -> Config {
        Config { blocked: BlockedList::default_v1(), ..Config::default() }
    }

    /// The canonical bytes of this config: every rule in a fixed order. Equal configs have equal
    /// bytes, however their blocked lists were built. The rules added since the first version
    /// follow only when they differ from their defaults, each after its own tag byte, so a config
    /// that leaves them alone has the bytes (and the hash, and the digests) it always had.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = b"idres.config.1\n".to_vec();
        let blocked = self.blocked.canonical_bytes();
        out.extend_from_slice(&(blocked.len() as u64).to_le_bytes());
        out.extend_from_slice(&blocked);
        out.push(match self.on_cid_conflict {
            OnCidConflict::ImplicitReset => 0,
            OnCidConflict::Reject => 1,
        });
        out.extend_from_slice(&self.max_devices_per_profile.to_le_bytes());
        out.extend_from_slice(&self.max_customers_per_profile.to_le_bytes());
        if self.dedupe_window_us != DEDUPE_WINDOW_DEFAULT {
            out.push(1);
            out.extend_from_slice(&self.dedupe_window_us.to_le_bytes());
        }
        if self.dedupe_ids_max != DEDUPE_IDS_MAX_DEFAULT {
            out.push(2);
            out.extend_from_slice(&self.dedupe_ids_max.to_le_bytes());
        }
        if self.session_gap_us != SESSION_GAP_DEFAULT {
            out.push(3);
            out.extend_from_slice(&self.session_gap_us.to_le_bytes());
        }
        out
    }

    /// The inactivity gap of inferred sessions, `None` when inferring is off (a gap of 0 or less).
    pub fn session_gap(&self) -> Option<i64> {
        (self.session_gap_us > 0).then_some(self.session_gap_us)
    }

    /// SHA-256 of [`Config::canonical_bytes`]: stored in every snapshot; a snapshot folded under
    /// another config is refused.
    pub fn hash(&self) -> [u8; 32] {
        // (The canonical bytes' tags so far: 1 dedupe window, 2 dedupe ids, 3 session gap.)
        Sha256::digest(self.canonical_bytes()).into()
    }
}
