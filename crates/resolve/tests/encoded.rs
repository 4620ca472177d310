#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `Resolver::apply_encoded` (events on known targets read in place, everything else decoded)
//! against `apply` of the decoded entries: the same outcomes, state, digest and changes.

mod reference;

use idres_model::{encode_entry, SCHEMA_VERSION};
use idres_resolve::{ApplyEncodedError, ApplyError, Resolver};
use proptest::prelude::*;
use reference::gen::{arb_config, arb_entries, cases};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(512)))]

    #[test]
    fn apply_encoded_is_apply(config in arb_config(), entries in arb_entries(1..80)) {
        let mut decoded = Resolver::new(config.clone());
        let mut encoded = Resolver::new(config);
        for (lsn, entry) in entries.iter().enumerate() {
            let lsn = lsn as u64;
            let bytes = encode_entry(entry).unwrap();
            let a = decoded.apply(lsn, entry).unwrap();
            let b = encoded.apply_encoded(lsn, SCHEMA_VERSION, &bytes).unwrap();
            prop_assert_eq!(a, b, "outcome at LSN {}", lsn);
            let ca: Vec<_> = decoded.drain_changes().collect();
            let cb: Vec<_> = encoded.drain_changes().collect();
            prop_assert_eq!(ca, cb, "changes at LSN {}", lsn);
        }
        prop_assert_eq!(decoded.digest(), encoded.digest());
        prop_assert_eq!(decoded.profiles(), encoded.profiles());
        prop_assert_eq!(decoded.rejections(), encoded.rejections());
        prop_assert_eq!(decoded.snapshot().unwrap(), encoded.snapshot().unwrap());
    }
}

#[test]
fn apply_encoded_refuses_what_apply_refuses() {
    let mut r = Resolver::new(Default::default());
    // Out of order: nothing happens.
    let bytes = encode_entry(&idres_model::Entry {
        appended_at: idres_model::Timestamp(1),
        record: idres_model::Record::Reset { uid: idres_model::Uid::Uuid([1; 16]), ts: None },
    })
    .unwrap();
    match r.apply_encoded(3, SCHEMA_VERSION, &bytes) {
        Err(ApplyEncodedError::Apply(ApplyError::OutOfOrder { expected: 0, found: 3 })) => {}
        other => panic!("{other:?}"),
    }
    // Damaged bytes: a decode error, and the LSN is not used up.
    match r.apply_encoded(0, SCHEMA_VERSION, &bytes[..bytes.len() - 1]) {
        Err(e @ ApplyEncodedError::Decode(_)) => {
            // Said once under `{e:#}` (issue 12, defect 5): the Display does not repeat its source.
            let source = std::error::Error::source(&e).unwrap().to_string();
            assert!(!e.to_string().contains(&source), "{e} repeats {source}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.next_lsn(), 0);
    r.apply_encoded(0, SCHEMA_VERSION, &bytes).unwrap();
    assert_eq!(r.next_lsn(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    /// The change stream can be off for part of a fold: the state is the same, and once it is
    /// back on it reports what an always-on stream reports.
    #[test]
    fn change_tracking_changes_nothing_else(
        config in arb_config(),
        entries in arb_entries(1..80),
        off in 0usize..80,
        on_again in 0usize..80,
    ) {
        let mut always = Resolver::new(config.clone());
        let mut toggled = Resolver::new(config);
        toggled.set_change_tracking(false);
        let on_again = off.max(on_again);
        for (lsn, entry) in entries.iter().enumerate() {
            if lsn == off {
                toggled.set_change_tracking(false);
            }
            if lsn == on_again || lsn < off {
                toggled.set_change_tracking(true);
            }
            if lsn == off / 2 {
                // The profile-id index built part way: later nodes are indexed as they come
                // (stream on) or at the next lookup (stream off).
                toggled.index_profile_ids();
            }
            let a = always.apply(lsn as u64, entry).unwrap();
            let b = toggled.apply(lsn as u64, entry).unwrap();
            prop_assert_eq!(a, b);
            let ca: Vec<_> = always.drain_changes().collect();
            let cb: Vec<_> = toggled.drain_changes().collect();
            if lsn < off || lsn >= on_again {
                prop_assert_eq!(ca, cb, "changes at LSN {}", lsn);
            } else {
                prop_assert!(cb.is_empty());
            }
        }
        prop_assert_eq!(always.digest(), toggled.digest());
        prop_assert_eq!(always.snapshot().unwrap(), toggled.snapshot().unwrap());
        prop_assert_eq!(always.profile_ids(), toggled.profile_ids());
        prop_assert_eq!(always.retired_ids(), toggled.retired_ids());
        for id in always.profile_ids() {
            prop_assert_eq!(always.profile_by_id(id), toggled.profile_by_id(id));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    /// A restored state goes on folding encoded records (its uid index rebuilt by `restore`) to
    /// the same state as the fold that was never interrupted.
    #[test]
    fn restore_then_apply_encoded_is_one_fold(config in arb_config(), entries in arb_entries(1..80), cut in 0usize..80) {
        let bytes: Vec<Vec<u8>> = entries.iter().map(|e| encode_entry(e).unwrap()).collect();
        let cut = cut.min(bytes.len());
        let mut straight = Resolver::new(config.clone());
        for (lsn, b) in bytes.iter().enumerate() {
            straight.apply_encoded(lsn as u64, SCHEMA_VERSION, b).unwrap();
        }
        let mut first = Resolver::new(config.clone());
        for (lsn, b) in bytes[..cut].iter().enumerate() {
            first.apply_encoded(lsn as u64, SCHEMA_VERSION, b).unwrap();
        }
        let mut resumed = Resolver::restore(&first.snapshot().unwrap(), config).unwrap();
        for (lsn, b) in bytes.iter().enumerate().skip(cut) {
            resumed.apply_encoded(lsn as u64, SCHEMA_VERSION, b).unwrap();
        }
        prop_assert_eq!(straight.digest(), resumed.digest());
        prop_assert_eq!(straight.snapshot().unwrap(), resumed.snapshot().unwrap());
    }
}
