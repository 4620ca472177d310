//! The key layout both on-disk stores share, and a batch turned into the writes that express it.
//!
//! | key | value |
//! | --- | --- |
//! | `p` + profile id (16 bytes) | the stored profile (`idres_model::encode_profile_into`) |
//! | `r` + retired id (16 bytes) | the survivor's id (16 bytes) |
//! | `c` + CID bytes | the id of the profile that held it when the entry was written (a redirect leads on) |
//! | `u` + `0` + 16 UUID bytes, or `u` + `1` + uid text, then the epoch (u32 big-endian) | the same, for the device node |
//! | `m` + `applied` | the applied LSN (u64 little-endian) |
//!
//! Owns: the keys, the checks on the values read back (a damaged value is a
//! [`StoreError::Corrupt`] naming the key), and [`write_batch`], the one place the order of a
//! batch's writes is decided (retirements, upserts, then the applied LSN last). Does not own: how
//! a backend groups those writes into its own atomic units.

use std::collections::HashSet;

use idres_model::{decode_profile, encode_profile_into, Cid, Profile, Uid};
use uuid::Uuid;

use crate::{IndexKey, Lsn, StoreBatch, StoreError, REDIRECT_HOPS_MAX};

/// The key of the applied LSN.
pub(crate) const APPLIED_KEY: &[u8] = b"mapplied";

/// `prefix` + `rest`.
pub(crate) fn key(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}

/// The key of device node `(uid, epoch)`.
pub(crate) fn uid_key(uid: &Uid, epoch: u32) -> Vec<u8> {
    let mut k = vec![b'u'];
    match uid {
        Uid::Uuid(b) => {
            k.push(0);
            k.extend_from_slice(b);
        }
        Uid::Text(t) => {
            k.push(1);
            k.extend_from_slice(t);
        }
    }
    k.extend_from_slice(&epoch.to_be_bytes());
    k
}

/// A key, printable in an error.
pub(crate) fn printable(k: &[u8]) -> String {
    k.iter().map(|b| if b.is_ascii_graphic() { (*b as char).to_string() } else { format!("\\x{b:02x}") }).collect()
}

/// The profile id stored under `k`.
fn id_value(k: &[u8], v: &[u8]) -> Result<Uuid, StoreError> {
    let bytes: [u8; 16] = v.try_into().map_err(|_| StoreError::Corrupt {
        key: printable(k),
        detail: format!("{} bytes where an id goes", v.len()),
    })?;
    Ok(Uuid::from_bytes(bytes))
}

/// The applied LSN stored under [`APPLIED_KEY`].
fn applied_value(v: &[u8]) -> Result<Lsn, StoreError> {
    let bytes: [u8; 8] = v.try_into().map_err(|_| StoreError::Corrupt {
        key: printable(APPLIED_KEY),
        detail: format!("{} bytes where an LSN goes", v.len()),
    })?;
    Ok(u64::from_le_bytes(bytes))
}

/// The profile stored under `p` + `at`, checked: it decodes and is the profile of that id.
fn profile_value(at: Uuid, v: &[u8]) -> Result<Profile, StoreError> {
    let pk = key(b'p', at.as_bytes());
    let p = decode_profile(v).map_err(|e| StoreError::Corrupt { key: printable(&pk), detail: e.to_string() })?;
    if p.id != at {
        return Err(StoreError::Corrupt { key: printable(&pk), detail: format!("holds profile {}", p.id) });
    }
    Ok(p)
}

/// The retired id of a redirect key (`r` + 16 bytes).
pub(crate) fn redirect_key_id(k: &[u8]) -> Result<Uuid, StoreError> {
    let id = <[u8; 16]>::try_from(k.get(1..).unwrap_or_default())
        .map_err(|_| StoreError::Corrupt { key: printable(k), detail: "redirect key of the wrong length".into() })?;
    Ok(Uuid::from_bytes(id))
}

/// How a backend reads one key.
pub(crate) trait Reads {
    /// The value of `k`.
    type Value: AsRef<[u8]>;
    /// The value under `k`, if any.
    fn get(&self, k: &[u8]) -> Result<Option<Self::Value>, StoreError>;
}

/// The applied LSN.
pub(crate) fn read_applied(r: &impl Reads) -> Result<Option<Lsn>, StoreError> {
    r.get(APPLIED_KEY)?.map(|v| applied_value(v.as_ref())).transpose()
}

/// The profile with id `id`, following redirects of retired ids (at most [`REDIRECT_HOPS_MAX`]).
pub(crate) fn read_profile(r: &impl Reads, id: Uuid) -> Result<Option<Profile>, StoreError> {
    let mut at = id;
    for _ in 0..REDIRECT_HOPS_MAX {
        if let Some(v) = r.get(&key(b'p', at.as_bytes()))? {
            return profile_value(at, v.as_ref()).map(Some);
        }
        let rk = key(b'r', at.as_bytes());
        match r.get(&rk)? {
            Some(v) => at = id_value(&rk, v.as_ref())?,
            None => return Ok(None),
        }
    }
    Err(StoreError::Corrupt { key: format!("redirect {id}"), detail: "redirect chain too long or a cycle".into() })
}

/// The profile an index key (`c` + CID, or a [`uid_key`]) points to.
pub(crate) fn read_indexed(r: &impl Reads, k: &[u8]) -> Result<Option<Profile>, StoreError> {
    match r.get(k)? {
        Some(v) => read_profile(r, id_value(k, v.as_ref())?),
        None => Ok(None),
    }
}

/// The profile that holds customer `cid`.
pub(crate) fn read_by_cid(r: &impl Reads, cid: &Cid) -> Result<Option<Profile>, StoreError> {
    read_indexed(r, &key(b'c', cid.as_bytes()))
}

/// The profile that holds device node `(uid, epoch)`.
pub(crate) fn read_by_uid(r: &impl Reads, uid: &Uid, epoch: u32) -> Result<Option<Profile>, StoreError> {
    read_indexed(r, &uid_key(uid, epoch))
}

/// Where a backend puts the writes of a batch.
pub(crate) trait Writes {
    /// Sets `k` to `v`.
    fn put(&mut self, k: Vec<u8>, v: &[u8]) -> Result<(), StoreError>;
    /// Removes `k`.
    fn remove(&mut self, k: Vec<u8>) -> Result<(), StoreError>;
}

/// The writes that apply `batch`, in order: every retirement (the profile removed, its id
/// redirected), every upsert (the profile written, a redirect of its id removed — only where
/// `redirects` says one exists), every index entry, then the applied LSN, last.
pub(crate) fn write_batch(
    batch: &StoreBatch,
    redirects: &HashSet<Uuid>,
    w: &mut impl Writes,
) -> Result<(), StoreError> {
    for (id, into) in &batch.retired {
        w.remove(key(b'p', id.as_bytes()))?;
        w.put(key(b'r', id.as_bytes()), into.as_bytes())?;
    }
    let mut value = Vec::new();
    for p in &batch.upserts {
        value.clear();
        encode_profile_into(p, &mut value).map_err(|source| StoreError::Encode { id: p.id, source })?;
        w.put(key(b'p', p.id.as_bytes()), &value)?;
        if redirects.contains(&p.id) {
            w.remove(key(b'r', p.id.as_bytes()))?;
        }
    }
    for (k, id) in &batch.index {
        let k = match k {
            IndexKey::Cid(c) => key(b'c', c.as_bytes()),
            IndexKey::Device(uid, epoch) => uid_key(uid, *epoch),
        };
        w.put(k, id.as_bytes())?;
    }
    w.put(APPLIED_KEY.to_vec(), &batch.applied_lsn.to_le_bytes())
}

/// `redirects` as it is once `batch` is in.
pub(crate) fn note_redirects(batch: &StoreBatch, redirects: &mut HashSet<Uuid>) {
    for (id, _) in &batch.retired {
        redirects.insert(*id);
    }
    for p in &batch.upserts {
        redirects.remove(&p.id);
    }
}
