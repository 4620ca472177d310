//! Profile ids (SEMANTICS §5): UUID v5 names of a customer profile (by its primary cid) and of an
//! anonymous profile (by its device node's uid and epoch).

use idres_model::{Cid, Uid};
use uuid::Uuid;

/// The namespace of profile ids: UUID v5 of `idres.profile` in the DNS namespace (SEMANTICS §5).
pub fn profile_namespace() -> Uuid {
    static NAMESPACE: std::sync::OnceLock<Uuid> = std::sync::OnceLock::new();
    *NAMESPACE.get_or_init(|| Uuid::new_v5(&Uuid::NAMESPACE_DNS, b"idres.profile"))
}

/// The id of the customer profile whose primary CID is `cid`: v5 over `cid:` + the CID's bytes.
pub fn customer_profile_id(cid: &Cid) -> Uuid {
    let mut name = Vec::with_capacity(4 + cid.as_bytes().len());
    name.extend_from_slice(b"cid:");
    name.extend_from_slice(cid.as_bytes());
    Uuid::new_v5(&profile_namespace(), &name)
}

/// The id of the anonymous profile of device node `(uid, epoch)`: v5 over `uid:` + the canonical
/// uid + `#` + the epoch in decimal.
pub fn anonymous_profile_id(uid: &Uid, epoch: u32) -> Uuid {
    match uid {
        Uid::Uuid(b) => anonymous_profile_id_of(0, b, epoch),
        Uid::Text(t) => anonymous_profile_id_of(1, t, epoch),
    }
}

/// [`anonymous_profile_id`] of the uid in form `form` (0 UUID: 16 bytes; 1 text) with `bytes`,
/// as the fold's uid table holds it.
pub(crate) fn anonymous_profile_id_of(form: u8, bytes: &[u8], epoch: u32) -> Uuid {
    // Built on the stack for the uids the fold holds (canonical, at most 128 bytes): an open
    // computes this for every device node. Other uids take `format!`, with the same bytes.
    const TEXT_MAX: usize = 128;
    let mut buf = [0u8; 4 + TEXT_MAX + 1 + 10];
    let mut uuid_text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text: &[u8] = match (form, <[u8; 16]>::try_from(bytes)) {
        (0, Ok(b)) => Uuid::from_bytes(b).hyphenated().encode_lower(&mut uuid_text).as_bytes(),
        (1, _) if bytes.len() <= TEXT_MAX && std::str::from_utf8(bytes).is_ok() => bytes,
        _ => {
            let uid = Uid::from_wire_bytes(bytes.to_vec());
            return Uuid::new_v5(&profile_namespace(), format!("uid:{uid}#{epoch}").as_bytes());
        }
    };
    let mut n = 0;
    for part in [b"uid:".as_slice(), text, b"#".as_slice()] {
        buf[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    }
    let mut digits = [0u8; 10];
    let mut d = digits.len();
    let mut e = epoch;
    loop {
        d -= 1;
        digits[d] = b'0' + (e % 10) as u8;
        e /= 10;
        if e == 0 {
            break;
        }
    }
    buf[n..n + digits.len() - d].copy_from_slice(&digits[d..]);
    n += digits.len() - d;
    Uuid::new_v5(&profile_namespace(), &buf[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_ids_are_the_v5_of_the_spelled_name() {
        let uids = [
            Uid::Uuid([0xab; 16]),
            Uid::from_wire_bytes(b"web-c5d1df70".to_vec()),
            Uid::from_wire_bytes("\u{e9}t\u{e9}".as_bytes().to_vec()),
            Uid::from_wire_bytes("x".repeat(128).into_bytes()),
            Uid::from_wire_bytes("x".repeat(200).into_bytes()),
            Uid::from_wire_bytes(vec![b'a', 0xff, b'b']),
        ];
        for uid in &uids {
            for epoch in [0, 7, 10, 99, 1_000_000, u32::MAX] {
                let spelled = format!("uid:{uid}#{epoch}");
                let namespace = Uuid::new_v5(&Uuid::NAMESPACE_DNS, b"idres.profile");
                assert_eq!(anonymous_profile_id(uid, epoch), Uuid::new_v5(&namespace, spelled.as_bytes()), "{spelled}");
            }
        }
    }
}
