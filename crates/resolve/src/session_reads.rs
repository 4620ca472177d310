//! Reading a profile's sessions (docs/SEMANTICS.md, "Sessions"): its nodes' sessions joined,
//! explicit ones of one id over every node that holds it, listed by start.

use idres_model::{Cid, SessionsSummary, Uid};

use crate::node::{NodeId, NodeKind};
use crate::resolver::Resolver;
use crate::sessions::{SessionInfo, INFERRED};

/// A node as a session lists it: `(uid, epoch)`, or `None` for a customer.
type Device = Option<(String, u32)>;

impl Resolver {
    /// The sessions of the profile whose members are `members`, ordered by start, then id (an
    /// inferred session after the explicit ones that start with it), then devices.
    pub(crate) fn component_sessions(&self, members: &[NodeId]) -> Vec<SessionInfo> {
        let mut explicit: Vec<(&str, Device, i64, i64, u64)> = Vec::new();
        let mut out: Vec<SessionInfo> = Vec::new();
        for &m in members {
            let node = &self.nodes[m as usize];
            if node.sessions == 0 {
                continue;
            }
            let device = match node.kind() {
                NodeKind::Device { uid, epoch } => Some((self.uids.uid(uid).to_string(), epoch)),
                NodeKind::Customer { .. } => None,
            };
            for s in &self.sessions[node.sessions as usize - 1].list {
                if s.id == INFERRED {
                    out.push(SessionInfo {
                        id: None,
                        devices: vec![device.clone()],
                        start: s.start,
                        end: s.end,
                        events: u64::from(s.count),
                    });
                } else {
                    explicit.push((self.session_texts.get(s.id), device.clone(), s.start, s.end, u64::from(s.count)));
                }
            }
        }
        explicit.sort_unstable();
        let mut i = 0;
        while i < explicit.len() {
            let id = explicit[i].0;
            let mut info = SessionInfo {
                id: Some(id.to_string()),
                devices: Vec::new(),
                start: i64::MAX,
                end: i64::MIN,
                events: 0,
            };
            while i < explicit.len() && explicit[i].0 == id {
                let (_, device, start, end, count) = &explicit[i];
                info.devices.push(device.clone());
                info.start = info.start.min(*start);
                info.end = info.end.max(*end);
                info.events += count;
                i += 1;
            }
            out.push(info);
        }
        // A total order on what a session shows: member order (which merges and restores change)
        // never decides a tie.
        out.sort_by(|a, b| {
            (a.start, a.id.is_none(), &a.id, &a.devices, a.end, a.events).cmp(&(
                b.start,
                b.id.is_none(),
                &b.id,
                &b.devices,
                b.end,
                b.events,
            ))
        });
        out
    }

    /// The summary of the sessions of the profile whose members are `members` (what
    /// [`Self::component_sessions`] lists, summarised without listing it: this runs on every
    /// profile the read model stores).
    pub(crate) fn sessions_summary(&self, members: &[NodeId]) -> SessionsSummary {
        let mut spans: Vec<(i64, i64)> = Vec::new();
        let mut explicit: Vec<(&str, i64, i64)> = Vec::new();
        for &m in members {
            let at = self.nodes[m as usize].sessions;
            if at == 0 {
                continue;
            }
            for s in &self.sessions[at as usize - 1].list {
                if s.id == INFERRED {
                    spans.push((s.start, s.end));
                } else {
                    explicit.push((self.session_texts.get(s.id), s.start, s.end));
                }
            }
        }
        if explicit.len() > 1 {
            explicit.sort_unstable();
        }
        let mut i = 0;
        while i < explicit.len() {
            let (id, mut start, mut end) = explicit[i];
            i += 1;
            while i < explicit.len() && explicit[i].0 == id {
                start = start.min(explicit[i].1);
                end = end.max(explicit[i].2);
                i += 1;
            }
            spans.push((start, end));
        }
        crate::sessions::summary(&spans)
    }

    /// The sessions of the profile that holds customer `cid` (`None`: no such cid).
    pub fn sessions_by_cid(&self, cid: &Cid) -> Option<Vec<SessionInfo>> {
        let node = self.cid_index.get(cid.as_bytes())?;
        Some(self.component_sessions(self.comp(self.find_ro(node)).members))
    }

    /// The sessions of the profile of `uid`'s current epoch (`None`: unknown, malformed, or its
    /// current epoch has seen no record yet).
    pub fn sessions_by_uid(&self, uid: &Uid) -> Option<Vec<SessionInfo>> {
        let uid = uid.canonical().ok()?;
        let u = self.uid_index.get(&uid, &self.uids)?;
        let n = self.current_device(u)?;
        Some(self.component_sessions(self.comp(self.find_ro(n)).members))
    }
}
