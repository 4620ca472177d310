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
}

impl Default for Config {
    fn default() -> Config {
        Config {
            blocked: BlockedList::default(),
            on_cid_conflict: OnCidConflict::ImplicitReset,
            max_devices_per_profile: 1000,
            max_customers_per_profile: 100,
        }
    }
}

impl Config {
    /// The canonical bytes of this config: every rule in a fixed order. Equal configs have equal
    /// bytes, however their blocked lists were built.
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
        out
    }

    /// SHA-256 of [`Config::canonical_bytes`]: stored in every snapshot; a snapshot folded under
    /// another config is refused.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_bytes()).into()
    }
}
