//! The stored profile (the store's values: every field of a profile but its history), encoded
//! and decoded by hand with the primitives of [`super::wire`], under
//! [`super::PROFILE_CONFIG`]; docs/FORMAT.md ("The store") spells out the layout.

use bincode::de::{Decode, Decoder};
use bincode::enc::write::Writer;
use bincode::enc::{Encode, Encoder};
use bincode::error::{AllowedEnumVariants, DecodeError, EncodeError};

use super::wire::*;
use crate::id::{Cid, Uid};
use crate::limits::{
    PROFILE_ATTRIBUTES_MAX, PROFILE_EVENT_NAMES_MAX, PROFILE_IDS_MAX, RECORD_BYTES_MAX, VALUE_KEY_BYTES_MAX,
};
use crate::profile::{DeviceInfo, DeviceRef, Profile, ProfileKind, ProfileRef, SessionsSummary};
use crate::record::Timestamp;
use crate::value::{check_key, Map};

/// Version byte that starts a stored profile. Layout 2 is layout 1 followed by the system event
/// count, the sessions summary and one entry per device (issue 15); layout 1 still reads, its
/// devices with nothing known of them alone.
pub(crate) const PROFILE_LAYOUT_VERSION: u8 = 2;
/// The layout before sessions and devices.
const PROFILE_LAYOUT_V1: u8 = 1;

pub(crate) fn encode_profile<E: Encoder>(encoder: &mut E, p: &ProfileRef<'_>) -> Result<(), EncodeError> {
    PROFILE_LAYOUT_VERSION.encode(encoder)?;
    encoder.writer().write(p.id.as_bytes())?;
    match p.kind {
        ProfileKind::Customer => 0u8,
        ProfileKind::Anonymous => 1u8,
    }
    .encode(encoder)?;
    encode_option(encoder, p.primary_cid, |e, c| c.encode(e))?;
    let too_many = |n: usize, max: usize, what: &'static str| {
        if n > max {
            Err(EncodeError::OtherString(format!("profile has {n} {what}, over the limit of {max}")))
        } else {
            Ok(())
        }
    };
    // The decoder reads maps into `BTreeMap`s: one encoding per profile needs their keys in
    // order, which a `Profile`'s maps are and a `ProfileRef`'s must be.
    let ascending = |keys: &mut dyn Iterator<Item = &str>, what: &'static str| {
        let mut last: Option<&str> = None;
        for k in keys {
            if last.is_some_and(|l| l >= k) {
                return Err(EncodeError::OtherString(format!("profile's {what} are not in ascending order at {k:?}")));
            }
            last = Some(k);
        }
        Ok(())
    };
    too_many(p.cids.len(), PROFILE_IDS_MAX, "cids")?;
    encode_len(encoder, p.cids.len())?;
    for c in &p.cids {
        c.encode(encoder)?;
    }
    too_many(p.uids.len(), PROFILE_IDS_MAX, "devices")?;
    encode_len(encoder, p.uids.len())?;
    for (uid, epoch) in &p.uids {
        encode_uid_view(encoder, *uid)?;
        epoch.encode(encoder)?;
    }
    too_many(p.attributes.len(), PROFILE_ATTRIBUTES_MAX, "attributes")?;
    ascending(&mut p.attributes.iter().map(|&(k, _)| k), "attributes")?;
    encode_len(encoder, p.attributes.len())?;
    for (k, v) in &p.attributes {
        check_key(k).map_err(value_error)?;
        encode_bytes(encoder, k.as_bytes())?;
        encode_value(encoder, v, 0)?;
    }
    p.event_count.encode(encoder)?;
    too_many(p.events_by_name.len(), PROFILE_EVENT_NAMES_MAX, "event names")?;
    ascending(&mut p.events_by_name.iter().map(|&(n, _)| n), "event names")?;
    encode_len(encoder, p.events_by_name.len())?;
    for (n, c) in &p.events_by_name {
        encode_bytes(encoder, n.as_bytes())?;
        c.encode(encoder)?;
    }
    encode_option(encoder, p.first_seen.as_ref(), |e, t| t.0.encode(e))?;
    encode_option(encoder, p.last_seen.as_ref(), |e, t| t.0.encode(e))?;
    p.system_event_count.encode(encoder)?;
    p.sessions.count.encode(encoder)?;
    encode_option(encoder, p.sessions.first_start.as_ref(), |e, t| t.0.encode(e))?;
    encode_option(encoder, p.sessions.last_start.as_ref(), |e, t| t.0.encode(e))?;
    encode_option(encoder, p.sessions.median_micros.as_ref(), |e, m| m.encode(e))?;
    if p.devices.len() != p.uids.len() {
        return Err(EncodeError::OtherString(format!(
            "profile lists {} devices' details for {} devices",
            p.devices.len(),
            p.uids.len()
        )));
    }
    for d in &p.devices {
        encode_option(encoder, d.first_seen.as_ref(), |e, t| t.0.encode(e))?;
        encode_option(encoder, d.last_seen.as_ref(), |e, t| t.0.encode(e))?;
        d.event_count.encode(encoder)?;
        too_many(d.system_attributes.len(), PROFILE_ATTRIBUTES_MAX, "system attributes")?;
        ascending(&mut d.system_attributes.iter().map(|&(k, _)| k), "system attributes")?;
        encode_len(encoder, d.system_attributes.len())?;
        for (k, v) in &d.system_attributes {
            check_key(k).map_err(value_error)?;
            encode_bytes(encoder, k.as_bytes())?;
            encode_value(encoder, v, 0)?;
        }
    }
    Ok(())
}

/// A map of attributes as stored: strictly ascending keys.
fn decode_attributes<D: Decoder>(decoder: &mut D, what: &'static str) -> Result<Map, DecodeError> {
    let n = decode_len(decoder, PROFILE_ATTRIBUTES_MAX, what)?;
    let mut attributes = Map::new();
    for _ in 0..n {
        let key = decode_string(decoder, VALUE_KEY_BYTES_MAX, "attribute key")?;
        if attributes.last_key_value().is_some_and(|(last, _)| key.as_str() <= last.as_str()) {
            return Err(DecodeError::OtherString(format!("{what}: keys are not strictly increasing")));
        }
        let value = decode_value(decoder, 0)?;
        attributes.insert(key, value);
    }
    Ok(attributes)
}

pub(crate) fn decode_profile<D: Decoder>(decoder: &mut D) -> Result<Profile, DecodeError> {
    let version = u8::decode(decoder)?;
    if version != PROFILE_LAYOUT_VERSION && version != PROFILE_LAYOUT_V1 {
        return Err(DecodeError::OtherString(format!(
            "stored profile layout {version}, this build reads {PROFILE_LAYOUT_V1} and {PROFILE_LAYOUT_VERSION}"
        )));
    }
    let id = uuid::Uuid::from_bytes(<[u8; 16]>::decode(decoder)?);
    const KINDS: AllowedEnumVariants = AllowedEnumVariants::Range { min: 0, max: 1 };
    let kind = match decode_tag(decoder, "ProfileKind", &KINDS, 1)? {
        0 => ProfileKind::Customer,
        _ => ProfileKind::Anonymous,
    };
    let primary_cid = decode_option(decoder, |d| Cid::decode(d))?;
    let n = decode_len(decoder, PROFILE_IDS_MAX, "profile cids")?;
    let mut cids = Vec::with_capacity(n.min(LIST_RESERVE_MAX));
    for _ in 0..n {
        cids.push(Cid::decode(decoder)?);
    }
    let n = decode_len(decoder, PROFILE_IDS_MAX, "profile devices")?;
    let mut uids = Vec::with_capacity(n.min(LIST_RESERVE_MAX));
    for _ in 0..n {
        let uid = Uid::decode(decoder)?;
        uids.push(DeviceRef { uid, epoch: u32::decode(decoder)? });
    }
    let attributes = decode_attributes(decoder, "profile attributes")?;
    let event_count = u64::decode(decoder)?;
    let n = decode_len(decoder, PROFILE_EVENT_NAMES_MAX, "profile event names")?;
    let mut events_by_name = std::collections::BTreeMap::new();
    for _ in 0..n {
        let name = decode_string(decoder, RECORD_BYTES_MAX, "event name")?;
        if events_by_name.last_key_value().is_some_and(|(last, _): (&String, _)| name.as_str() <= last.as_str()) {
            return Err(DecodeError::Other("profile event names are not strictly increasing"));
        }
        let count = u64::decode(decoder)?;
        events_by_name.insert(name, count);
    }
    let first_seen = decode_option(decoder, |d| i64::decode(d).map(Timestamp))?;
    let last_seen = decode_option(decoder, |d| i64::decode(d).map(Timestamp))?;
    let (mut system_event_count, mut sessions) = (0, SessionsSummary::default());
    let mut devices = Vec::with_capacity(uids.len());
    if version == PROFILE_LAYOUT_V1 {
        devices.resize(uids.len(), DeviceInfo::default());
    } else {
        system_event_count = u64::decode(decoder)?;
        sessions.count = u64::decode(decoder)?;
        sessions.first_start = decode_option(decoder, |d| i64::decode(d).map(Timestamp))?;
        sessions.last_start = decode_option(decoder, |d| i64::decode(d).map(Timestamp))?;
        sessions.median_micros = decode_option(decoder, |d| u64::decode(d))?;
        for _ in 0..uids.len() {
            let first_seen = decode_option(decoder, |d| i64::decode(d).map(Timestamp))?;
            let last_seen = decode_option(decoder, |d| i64::decode(d).map(Timestamp))?;
            let event_count = u64::decode(decoder)?;
            let system_attributes = decode_attributes(decoder, "device system attributes")?;
            devices.push(DeviceInfo { first_seen, last_seen, event_count, system_attributes });
        }
    }
    Ok(Profile {
        id,
        kind,
        primary_cid,
        cids,
        uids,
        attributes,
        event_count,
        events_by_name,
        first_seen,
        last_seen,
        history: Vec::new(),
        system_event_count,
        sessions,
        devices,
    })
}
