//! Shared pieces of the idres benchmarks: a small, seeded sampler of realistic log entries.
//!
//! It is not the workload generator (that is `idres gen`, with the CLI); it only makes entries of
//! the size and shape the benches need: mostly events with a few properties, some identifies,
//! about 200 bytes encoded.

use idres_model::{Cid, Entry, Map, Record, Target, Timestamp, Uid, Value};

/// A tiny deterministic PRNG (xorshift64*): benches need repeatable inputs, not quality.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced by a fixed non-zero seed).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

const EVENT_NAMES: [&str; 6] = ["page_view", "screen_view", "add_to_cart", "search", "checkout", "app_open"];

/// `n` entries, seeded: 90% events on one of `uids` devices, 10% identifies.
pub fn sample_entries(n: usize, uids: u64, seed: u64) -> Vec<Entry> {
    let mut rng = Rng::new(seed);
    let t0 = 1_767_225_600_000_000i64; // 2026-01-01T00:00:00Z in microseconds
    (0..n)
        .map(|i| {
            let device = rng.below(uids);
            let uid = Uid::from_uuid(uuid::Uuid::from_u64_pair(0x1d2e_5000_0000_4000 | device, device));
            let ts = Timestamp::from_micros(t0 + i as i64 * 1000);
            let record = if rng.below(10) == 0 {
                let mut attrs = Map::new();
                attrs.insert("plan".into(), Value::String(["free", "pro", "team"][rng.below(3) as usize].into()));
                Record::Identify {
                    uid: Some(uid),
                    cid: Cid::from_wire_bytes(format!("customer-{}", device / 2).into_bytes()),
                    attrs,
                    ts: Some(ts),
                }
            } else {
                let mut props = Map::new();
                props.insert("url".into(), Value::String(format!("https://shop.example/p/{}", rng.below(100_000))));
                props.insert("price".into(), Value::Float(rng.below(10_000) as f64 / 100.0));
                props.insert("qty".into(), Value::Int(rng.below(5) as i64 + 1));
                props.insert("referrer".into(), Value::String("https://search.example/?q=shoes".into()));
                Record::Event {
                    target: Target::Uid(uid),
                    name: EVENT_NAMES[rng.below(EVENT_NAMES.len() as u64) as usize].into(),
                    props,
                    session_id: Some(format!("s-{:016x}", rng.next_u64())),
                    ts: Some(ts),
                }
            };
            Entry { appended_at: ts, record }
        })
        .collect()
}

/// The fold benchmark's workload: `n` entries over `uids` devices, about 8% identify, 85% events,
/// 5% attributes and 2% resets; two devices per customer on average, hot devices first (70% of
/// traffic from the first half of the devices), timestamps mostly increasing with a few late ones.
pub fn fold_workload(n: usize, uids: u64, seed: u64) -> Vec<Entry> {
    let mut rng = Rng::new(seed);
    let t0 = 1_767_225_600_000_000i64;
    (0..n)
        .map(|i| {
            let device = if rng.below(10) < 7 { rng.below(uids / 2) } else { rng.below(uids) };
            let uid = Uid::from_uuid(uuid::Uuid::from_u64_pair(0x1d2e_5000_0000_4000 | device, device));
            let mut ts = t0 + i as i64 * 1000;
            if rng.below(50) == 0 {
                ts -= 60_000_000; // a late event, a minute behind
            }
            let roll = rng.below(100);
            let record = if roll < 8 {
                let mut attrs = Map::new();
                if rng.below(10) == 0 {
                    attrs.insert("plan".into(), Value::String(["free", "pro", "team"][rng.below(3) as usize].into()));
                }
                Record::Identify {
                    uid: Some(uid),
                    cid: Cid::from_wire_bytes(format!("customer-{}", device / 2).into_bytes()),
                    attrs,
                    ts: Some(Timestamp::from_micros(ts)),
                }
            } else if roll < 93 {
                let mut props = Map::new();
                props.insert("url".into(), Value::String(format!("https://shop.example/p/{}", rng.below(100_000))));
                props.insert("price".into(), Value::Float(rng.below(10_000) as f64 / 100.0));
                Record::Event {
                    target: Target::Uid(uid),
                    name: EVENT_NAMES[rng.below(EVENT_NAMES.len() as u64) as usize].into(),
                    props,
                    session_id: Some(format!("s-{:08x}", rng.below(1 << 32))),
                    ts: Some(Timestamp::from_micros(ts)),
                }
            } else if roll < 98 {
                let mut set = Map::new();
                set.insert(
                    "city".into(),
                    Value::String(["Berlin", "Lyon", "Osaka", "Lima"][rng.below(4) as usize].into()),
                );
                let mut set_once = Map::new();
                set_once.insert("first_source".into(), Value::String("ad".into()));
                Record::Attributes {
                    target: Target::Uid(uid),
                    set,
                    set_once,
                    unset: Vec::new(),
                    ts: Some(Timestamp::from_micros(ts)),
                }
            } else {
                Record::Reset { uid, ts: Some(Timestamp::from_micros(ts)) }
            };
            Entry { appended_at: Timestamp::from_micros(t0 + i as i64 * 1000), record }
        })
        .collect()
}
