//! The rules of the fold that a deployment chooses: the blocked-value list, what a login without
//! logout means, and the profile size limits. Every snapshot carries the hash of its config.

use idres_model::BlockedList;

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
