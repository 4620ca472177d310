//! A record as the fold's handlers read it: [`RecordRef`], borrowed from a decoded [`Record`]
//! or from a record read in place ([`idres_model::event_view`], [`idres_model::record_view`]).
//! One set of handlers (`apply.rs`, `identity.rs`) serves both, so the two ways in cannot
//! disagree on what a record does; only decoding differs, and the model crate's tests hold the
//! views to the decoder.
//!
//! Ids are borrowed as written ([`UidView`], cid bytes), maps as (key, value) pairs: a decoded
//! record's own map, or the values of a view's map decoded on their own (the fold keeps them,
//! so they are owned once; their keys stay borrowed).

use std::collections::btree_map;

use idres_model::{KeysViewIter, Map, Record, RecordKind, Target, TargetView, UidView, Value};

/// A record's attributes: `attrs`, `set` or `set_once`, keys ascending.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Attrs<'a> {
    /// A decoded record's map.
    Map(&'a Map),
    /// A view's entries, their values decoded.
    Decoded(&'a [(&'a str, Value)]),
}

impl<'a> Attrs<'a> {
    pub(crate) fn is_empty(self) -> bool {
        match self {
            Attrs::Map(m) => m.is_empty(),
            Attrs::Decoded(d) => d.is_empty(),
        }
    }

    pub(crate) fn iter(self) -> AttrsIter<'a> {
        match self {
            Attrs::Map(m) => AttrsIter::Map(m.iter()),
            Attrs::Decoded(d) => AttrsIter::Decoded(d.iter()),
        }
    }
}

/// The entries of [`Attrs`].
pub(crate) enum AttrsIter<'a> {
    Map(btree_map::Iter<'a, String, Value>),
    Decoded(std::slice::Iter<'a, (&'a str, Value)>),
}

impl<'a> Iterator for AttrsIter<'a> {
    type Item = (&'a str, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            AttrsIter::Map(i) => i.next().map(|(k, v)| (k.as_str(), v)),
            AttrsIter::Decoded(i) => i.next().map(|(k, v)| (*k, v)),
        }
    }
}

/// An attributes record's `unset` keys.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Keys<'a> {
    List(&'a [String]),
    View(idres_model::KeysView<'a>),
}

impl<'a> Keys<'a> {
    pub(crate) fn iter(self) -> KeysIter<'a> {
        match self {
            Keys::List(l) => KeysIter::List(l.iter()),
            Keys::View(v) => KeysIter::View(v.iter()),
        }
    }
}

/// The keys of [`Keys`].
pub(crate) enum KeysIter<'a> {
    List(std::slice::Iter<'a, String>),
    View(KeysViewIter<'a>),
}

impl<'a> Iterator for KeysIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match self {
            KeysIter::List(i) => i.next().map(String::as_str),
            KeysIter::View(i) => i.next(),
        }
    }
}

/// What the handlers read of a record (its time aside: the caller passes the effective time).
/// The fields are [`Record`]'s, ids as written; an event's properties are not read by the fold.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RecordRef<'a> {
    Identify { uid: Option<UidView<'a>>, cid: &'a [u8], attrs: Attrs<'a> },
    Reset { uid: UidView<'a> },
    Event { target: TargetView<'a>, name: &'a str, session_id: Option<&'a str>, system: bool },
    Attributes { target: TargetView<'a>, set: Attrs<'a>, set_once: Attrs<'a>, unset: Keys<'a>, system: bool },
    Merge { from: &'a [u8], into: &'a [u8] },
    Unmerge { cid: &'a [u8] },
    Unlink { uid: UidView<'a>, cid: &'a [u8] },
}

/// A decoded target, borrowed as a view.
pub(crate) fn target_view(target: &Target) -> TargetView<'_> {
    match target {
        Target::Uid(idres_model::Uid::Uuid(b)) => TargetView::Uuid(b),
        Target::Uid(idres_model::Uid::Text(t)) => TargetView::UidText(t),
        Target::Cid(c) => TargetView::Cid(c.as_bytes()),
    }
}

impl<'a> RecordRef<'a> {
    /// A decoded record, borrowed.
    pub(crate) fn of(record: &'a Record) -> RecordRef<'a> {
        match record {
            Record::Identify { uid, cid, attrs, .. } => RecordRef::Identify {
                uid: uid.as_ref().map(|u| u.view()),
                cid: cid.as_bytes(),
                attrs: Attrs::Map(attrs),
            },
            Record::Reset { uid, .. } => RecordRef::Reset { uid: uid.view() },
            Record::Event { target, name, session_id, system, .. } => RecordRef::Event {
                target: target_view(target),
                name,
                session_id: session_id.as_deref(),
                system: *system,
            },
            Record::Attributes { target, set, set_once, unset, system, .. } => RecordRef::Attributes {
                target: target_view(target),
                set: Attrs::Map(set),
                set_once: Attrs::Map(set_once),
                unset: Keys::List(unset),
                system: *system,
            },
            Record::Merge { from, into } => RecordRef::Merge { from: from.as_bytes(), into: into.as_bytes() },
            Record::Unmerge { cid } => RecordRef::Unmerge { cid: cid.as_bytes() },
            Record::Unlink { uid, cid } => RecordRef::Unlink { uid: uid.view(), cid: cid.as_bytes() },
        }
    }

    pub(crate) fn kind(&self) -> RecordKind {
        match self {
            RecordRef::Identify { .. } => RecordKind::Identify,
            RecordRef::Reset { .. } => RecordKind::Reset,
            RecordRef::Event { .. } => RecordKind::Event,
            RecordRef::Attributes { .. } => RecordKind::Attributes,
            RecordRef::Merge { .. } => RecordKind::Merge,
            RecordRef::Unmerge { .. } => RecordKind::Unmerge,
            RecordRef::Unlink { .. } => RecordKind::Unlink,
        }
    }

    /// The ids the record names, as text, for explain: a uid in canonical form when it is
    /// valid, as written otherwise; cids as written (invalid UTF-8 replaced, as `Cid` prints).
    pub(crate) fn subjects(&self) -> (Option<String>, Vec<String>) {
        let uid_text = |u: UidView<'_>| u.canonical().unwrap_or(u).to_string();
        let cid_text = |c: &[u8]| String::from_utf8_lossy(c).into_owned();
        let target = |t: TargetView<'_>| match t {
            TargetView::Cid(c) => (None, vec![cid_text(c)]),
            _ => (t.uid().map(uid_text), Vec::new()),
        };
        match *self {
            RecordRef::Identify { uid, cid, .. } => (uid.map(uid_text), vec![cid_text(cid)]),
            RecordRef::Reset { uid } => (Some(uid_text(uid)), Vec::new()),
            RecordRef::Event { target: t, .. } | RecordRef::Attributes { target: t, .. } => target(t),
            RecordRef::Merge { from, into } => (None, vec![cid_text(from), cid_text(into)]),
            RecordRef::Unmerge { cid } => (None, vec![cid_text(cid)]),
            RecordRef::Unlink { uid, cid } => (Some(uid_text(uid)), vec![cid_text(cid)]),
        }
    }
}
