//! Interned strings (attribute keys, event names): a `u32` id per string, in order of first
//! appearance.

use crate::hash::FastMap;

/// Interned strings (attribute keys, event names): ids in order of first appearance.
#[derive(Debug, Clone, Default)]
pub(crate) struct Interner {
    pub(crate) index: FastMap<Box<str>, u32>,
    pub(crate) list: Vec<Box<str>>,
}

impl Interner {
    pub(crate) fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.index.get(s) {
            return id;
        }
        let id = self.list.len() as u32;
        self.list.push(s.into());
        self.index.insert(s.into(), id);
        id
    }

    /// The string of `id` (an id this interner handed out: a restore checks the ids it reads).
    pub(crate) fn get(&self, id: u32) -> &str {
        debug_assert!((id as usize) < self.list.len(), "string id {id} was never interned");
        self.list.get(id as usize).map_or("", |s| s)
    }
}
