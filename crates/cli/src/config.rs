//! The fold's rules and the store's backend from a TOML file (`--config FILE`).
//!
//! ```toml
//! store = "fjall"                      # the read model's store: "fjall" (default) or "sled"
//! on_cid_conflict = "implicit_reset"   # or "reject"
//! max_devices_per_profile = 1000
//! max_customers_per_profile = 100
//! dedupe_window_seconds = 86400        # a resent message id within this is a duplicate; 0 = off
//! dedupe_ids_max = 1000000             # the most message ids the window holds
//! session_gap_seconds = 1800           # inactivity that ends an inferred session; 0 = off
//!
//! [blocked]
//! mode = "extend"                      # add to the default list, "replace" its values, or
//!                                      # "extend_v1": add to the first release's default
//! case_insensitive = ["n/a-user", "unknown_user"]
//! exact = ["Test"]
//! uid_patterns = ["^[0-]*$"]           # regexes, anchored as written, per kind of id
//! cid_patterns = ["^test-[0-9]+$"]
//! block_nil_uuid = true                # the nil UUID as a uid (default true)
//! ```
//!
//! Every key is optional (the default rules apply); an unknown key is an error, so a typo never
//! silently leaves a rule at its default. A blocked entry that could never take effect (empty,
//! not a valid id, already on the list, a pattern that does not compile or can never match an
//! id) is an error naming it (`idres_model::BlockedEntryError`), never silently ignored. `store` is not a rule of the fold (its hash, the
//! snapshots and the digests do not depend on it): changing it rebuilds the store from the log.

use idres::StoreBackend;
use idres_model::{BlockedList, IdKind};
use idres_resolve::{Config, OnCidConflict};
use serde::Deserialize;

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("config {path}: {detail}")]
pub struct ConfigError {
    /// The file.
    pub path: String,
    /// What is wrong (TOML's message names the line and column).
    pub detail: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    store: Option<String>,
    on_cid_conflict: Option<String>,
    max_devices_per_profile: Option<u32>,
    max_customers_per_profile: Option<u32>,
    dedupe_window_seconds: Option<u64>,
    dedupe_ids_max: Option<u32>,
    session_gap_seconds: Option<u64>,
    blocked: Option<FileBlocked>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBlocked {
    mode: Option<String>,
    #[serde(default)]
    case_insensitive: Vec<String>,
    #[serde(default)]
    exact: Vec<String>,
    #[serde(default)]
    uid_patterns: Vec<String>,
    #[serde(default)]
    cid_patterns: Vec<String>,
    block_nil_uuid: Option<bool>,
}

/// What a config file sets.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The fold's rules.
    pub fold: Config,
    /// The read model's store (default fjall).
    pub store: StoreBackend,
}

/// Parses the TOML text of a config file (`path` only names it in errors): the fold's rules.
pub fn parse_config(path: &str, text: &str) -> Result<Config, ConfigError> {
    parse_settings(path, text).map(|s| s.fold)
}

/// Parses the TOML text of a config file (`path` only names it in errors).
pub fn parse_settings(path: &str, text: &str) -> Result<Settings, ConfigError> {
    let err = |detail: String| ConfigError { path: path.to_string(), detail };
    let file: FileConfig = toml::from_str(text).map_err(|e| err(e.to_string()))?;
    let store = match file.store.as_deref() {
        None => StoreBackend::default(),
        Some(name @ ("fjall" | "sled")) => StoreBackend::by_name(name).unwrap_or_default(),
        Some(other) => return Err(err(format!("store must be \"fjall\" or \"sled\", not {other:?}"))),
    };
    let mut config = Config::default();
    match file.on_cid_conflict.as_deref() {
        None | Some("implicit_reset") => config.on_cid_conflict = OnCidConflict::ImplicitReset,
        Some("reject") => config.on_cid_conflict = OnCidConflict::Reject,
        Some(other) => {
            return Err(err(format!("on_cid_conflict must be \"implicit_reset\" or \"reject\", not {other:?}")))
        }
    }
    if let Some(n) = file.max_devices_per_profile {
        if n == 0 {
            return Err(err("max_devices_per_profile must be at least 1".into()));
        }
        config.max_devices_per_profile = n;
    }
    if let Some(n) = file.max_customers_per_profile {
        if n == 0 {
            return Err(err("max_customers_per_profile must be at least 1".into()));
        }
        config.max_customers_per_profile = n;
    }
    if let Some(secs) = file.dedupe_window_seconds {
        // A year at most: longer windows would hold ids past any retry, and µs must fit an i64.
        const MAX: u64 = 366 * 24 * 3600;
        if secs > MAX {
            return Err(err(format!("dedupe_window_seconds must be at most {MAX} (a year), not {secs}")));
        }
        config.dedupe_window_us = secs as i64 * 1_000_000;
    }
    if let Some(n) = file.dedupe_ids_max {
        if n == 0 {
            return Err(err(
                "dedupe_ids_max must be at least 1 (dedupe_window_seconds = 0 turns de-duplication off)".into()
            ));
        }
        config.dedupe_ids_max = n;
    }
    if let Some(secs) = file.session_gap_seconds {
        // A year at most, as the dedupe window: µs must fit an i64, and a longer gap is no gap.
        const MAX: u64 = 366 * 24 * 3600;
        if secs > MAX {
            return Err(err(format!("session_gap_seconds must be at most {MAX} (a year), not {secs}")));
        }
        config.session_gap_us = secs as i64 * 1_000_000;
    }
    if let Some(b) = file.blocked {
        config.blocked = blocked_list(b).map_err(err)?;
    }
    Ok(Settings { fold: config, store })
}

/// The blocked list a `[blocked]` table asks for, every entry checked as it is added.
fn blocked_list(b: FileBlocked) -> Result<BlockedList, String> {
    let mut list = match b.mode.as_deref() {
        None | Some("extend") => BlockedList::default(),
        // The first release's default (no `distinctid`, the nil UUID not blocked): the old hash,
        // for a deployment that upgrades without replaying (docs/OPERATIONS.md).
        Some("extend_v1") => BlockedList::default_v1(),
        Some("replace") => {
            let mut list = BlockedList::empty();
            list.set_block_nil_uuid(BlockedList::default().block_nil_uuid());
            list
        }
        Some(other) => {
            return Err(format!("blocked.mode must be \"extend\", \"extend_v1\" or \"replace\", not {other:?}"))
        }
    };
    let named = |e: idres_model::BlockedEntryError| format!("blocked.{e}");
    for entry in &b.case_insensitive {
        list.try_add_case_insensitive(entry).map_err(named)?;
    }
    for entry in &b.exact {
        list.try_add_exact(entry).map_err(named)?;
    }
    for (kind, patterns) in [(IdKind::Uid, &b.uid_patterns), (IdKind::Cid, &b.cid_patterns)] {
        for pattern in patterns {
            list.try_add_pattern(kind, pattern).map_err(named)?;
        }
    }
    if let Some(on) = b.block_nil_uuid {
        list.set_block_nil_uuid(on);
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_extend_and_replace() {
        assert_eq!(parse_config("c", "").unwrap(), Config::default());
        let c = parse_config("c", "on_cid_conflict = \"reject\"\n[blocked]\nexact = [\"Test\"]\n").unwrap();
        assert_eq!(c.on_cid_conflict, OnCidConflict::Reject);
        assert!(c.blocked.is_blocked(b"Test") && c.blocked.is_blocked(b"null"), "extend keeps the defaults");
        let c = parse_config("c", "[blocked]\nmode = \"replace\"\ncase_insensitive = [\"x\"]\n").unwrap();
        assert!(c.blocked.is_blocked(b"X") && !c.blocked.is_blocked(b"null"), "replace drops the defaults");
    }

    #[test]
    fn the_store_is_chosen_and_is_not_a_fold_rule() {
        assert_eq!(parse_settings("c", "").unwrap().store.name(), "fjall");
        let s = parse_settings("c", "store = \"sled\"\non_cid_conflict = \"reject\"\n").unwrap();
        assert_eq!(s.store.name(), "sled");
        assert_eq!(s.fold.on_cid_conflict, OnCidConflict::Reject);
        // The fold's hash (snapshots, digests, the recorded fold config) does not see it.
        assert_eq!(parse_config("c", "store = \"sled\"").unwrap().hash(), Config::default().hash());
    }

    #[test]
    fn the_dedupe_window_is_set_in_seconds_and_defaults_keep_the_hash() {
        let c = parse_config("c", "dedupe_window_seconds = 0\ndedupe_ids_max = 5\n").unwrap();
        assert_eq!((c.dedupe_window_us, c.dedupe_ids_max), (0, 5));
        let same = parse_config("c", "dedupe_window_seconds = 86400\n").unwrap();
        assert_eq!(same.hash(), Config::default().hash(), "the default written out is the default");
        assert_ne!(c.hash(), Config::default().hash());
    }

    #[test]
    fn the_session_gap_is_set_in_seconds_and_the_default_keeps_the_hash() {
        let c = parse_config("c", "session_gap_seconds = 0\n").unwrap();
        assert_eq!((c.session_gap_us, c.session_gap()), (0, None), "0 turns inferring off");
        let c = parse_config("c", "session_gap_seconds = 600\n").unwrap();
        assert_eq!(c.session_gap(), Some(600_000_000));
        assert_ne!(c.hash(), Config::default().hash());
        let same = parse_config("c", "session_gap_seconds = 1800\n").unwrap();
        assert_eq!(same.hash(), Config::default().hash(), "the default written out is the default");
    }

    #[test]
    fn patterns_and_the_nil_uuid_switch_are_read() {
        let c = parse_config(
            "c",
            "[blocked]\nuid_patterns = [\"^[0-]*$\"]\ncid_patterns = [\"^qa-\", \"^test$\"]\nblock_nil_uuid = false\n",
        )
        .unwrap();
        assert!(c.blocked.is_blocked_as(IdKind::Uid, b"0-0") && !c.blocked.is_blocked_as(IdKind::Cid, b"0-0"));
        assert!(c.blocked.is_blocked_as(IdKind::Cid, b"qa-1") && !c.blocked.is_blocked_as(IdKind::Uid, b"qa-1"));
        assert!(!c.blocked.block_nil_uuid());
        assert!(c.blocked.is_blocked(b"null"), "extend keeps the default values");
        // The default written out is the default (the same hash), and the order of patterns
        // does not reach the hash.
        let same = parse_config("c", "[blocked]\nblock_nil_uuid = true\n").unwrap();
        assert_eq!(same.hash(), Config::default().hash());
        let a = parse_config("c", "[blocked]\ncid_patterns = [\"^a$\", \"^b$\"]\n").unwrap();
        let b = parse_config("c", "[blocked]\ncid_patterns = [\"^b$\", \"^a$\"]\n").unwrap();
        assert_eq!(a.hash(), b.hash());
        assert_ne!(a.hash(), Config::default().hash());
        // Replace drops the default values, keeps the nil UUID's default and takes patterns.
        let r =
            parse_config("c", "[blocked]\nmode = \"replace\"\nexact = [\"x\"]\nuid_patterns = [\"^0+$\"]\n").unwrap();
        assert!(!r.blocked.is_blocked(b"null") && r.blocked.is_blocked(b"x") && r.blocked.block_nil_uuid());
        assert!(r.blocked.is_blocked_as(IdKind::Uid, b"000"));
        // The first release's default, written out, has its hash.
        let v1 = parse_config("c", "[blocked]\nmode = \"extend_v1\"\n").unwrap();
        assert_eq!(v1.hash(), Config::default_v1().hash());
        assert!(!v1.blocked.is_blocked(b"distinctid") && !v1.blocked.block_nil_uuid());
    }

    /// Each entry that could never take effect is refused at load, and the message names it.
    #[test]
    fn blocked_entries_that_cannot_take_effect_are_refused_by_name() {
        for (text, named) in [
            ("[blocked]\nexact = [\"\"]", "blocked.exact entry \"\" is empty"),
            ("[blocked]\ncase_insensitive = [\" x\"]", "blocked.case_insensitive entry \" x\" is not a valid id"),
            ("[blocked]\nexact = [\"a\\u0007\"]", "blocked.exact entry \"a\\u{7}\" is not a valid id"),
            ("[blocked]\nexact = [\"Test\", \"Test\"]", "blocked.exact entry \"Test\" is already blocked"),
            ("[blocked]\ncase_insensitive = [\"Null\"]", "blocked.case_insensitive entry \"Null\" is already blocked"),
            ("[blocked]\nexact = [\"NULL\"]", "blocked.exact entry \"NULL\" is already blocked"),
            ("[blocked]\nuid_patterns = [\"(\"]", "blocked.uid_patterns pattern \"(\" does not compile"),
            ("[blocked]\ncid_patterns = [\"^$\"]", "blocked.cid_patterns pattern \"^$\" can never match a valid cid"),
            ("[blocked]\nuid_patterns = [\"a{200}\"]", "blocked.uid_patterns pattern \"a{200}\" can never match"),
            ("[blocked]\ncid_patterns = [\".*\"]", "blocked.cid_patterns pattern \".*\" matches every id"),
            ("[blocked]\nuid_patterns = [\"\"]", "blocked.uid_patterns entry \"\" is empty"),
            ("[blocked]\npatterns = [\"^x$\"]", "unknown field `patterns`"),
            ("[blocked]\nblock_nil_uuids = true", "unknown field `block_nil_uuids`"),
            ("[blocked]\nblock_nil_uuid = \"yes\"", "block_nil_uuid"),
        ] {
            let e = parse_config("my.toml", text).unwrap_err().to_string();
            assert!(e.starts_with("config my.toml: "), "{e}");
            assert!(e.contains(named), "{text:?}: {e}");
        }
    }

    #[test]
    fn mistakes_are_errors() {
        for bad in [
            "on_cid_conflict = \"merge\"",
            "max_devices_per_profile = 0",
            "max_devices = 3",
            "[blocked]\nmode = \"append\"",
            "[blocked]\nexact = \"x\"",
            "not toml",
            "store = \"rocksdb\"",
            "store = \"memory\"",
            "dedupe_ids_max = 0",
            "dedupe_window_seconds = 99999999999",
            "dedupe_window_seconds = -1",
            "session_gap_seconds = -5",
            "session_gap_seconds = 99999999999",
        ] {
            assert!(parse_config("c", bad).is_err(), "{bad}");
        }
    }
}
