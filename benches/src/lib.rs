//! Shared pieces of the idres benchmarks: a small, seeded sampler of realistic log entries, and
//! the durable-ingest driver used by the ingest bench and the comparison harness.
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
                    message_id: None,
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
                    system: false,
                    message_id: None,
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
                    message_id: None,
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
                    system: false,
                    message_id: None,
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
                    system: false,
                    message_id: None,
                }
            } else {
                Record::Reset { uid, ts: Some(Timestamp::from_micros(ts)) }
            };
            Entry { appended_at: Timestamp::from_micros(t0 + i as i64 * 1000), record }
        })
        .collect()
}

/// What one durable-ingest run measured.
#[derive(Debug, Clone)]
pub struct IngestRun {
    /// Records acknowledged.
    pub records: usize,
    /// Wall time from the first submit to the last acknowledgement.
    pub elapsed: std::time::Duration,
    /// Acknowledgement latency, median.
    pub p50: std::time::Duration,
    /// Acknowledgement latency, 99th percentile.
    pub p99: std::time::Duration,
    /// Records the store trailed by when the last write was acknowledged.
    pub store_lag: u64,
    /// Time until the store had caught up, from the first submit.
    pub store_caught_up: std::time::Duration,
    /// Profiles the store thread wrote per second of its busy time.
    pub store_profiles_per_s: f64,
    /// Profiles and redirects the store thread wrote.
    pub store_profiles_written: u64,
    /// Keys those writes set or removed.
    pub store_keys_written: u64,
    /// Change events the subscribers received, all together (0 without subscribers).
    pub changes_received: u64,
    /// Changes the writer could not hand to a subscriber whose channel was full (`Stats::changes_dropped`).
    pub changes_dropped: u64,
}

/// Writes in flight per producer with single-record writes (a service batching its callers).
pub const INGEST_IN_FLIGHT: usize = 1024;
/// Records per `write_batch` ticket in the bulk mode.
pub const INGEST_BATCH: usize = 512;
/// `write_batch` tickets in flight per producer.
pub const INGEST_BATCHES_IN_FLIGHT: usize = 4;

fn submit_one(engine: &idres::Engine, record: Record) -> Result<Option<idres::Ticket>, idres::EngineError> {
    Ok(Some(match record {
        Record::Identify { uid, cid, attrs, .. } => {
            engine.identify(uid.map(|u| u.to_string()).as_deref(), &cid.to_string(), attrs)?
        }
        Record::Event { target, name, props, session_id, ts, .. } => {
            engine.track(target, &name, props, session_id, ts)?
        }
        Record::Attributes { target, set, set_once, unset, ts, .. } => {
            engine.attributes(target, set, set_once, unset, ts)?
        }
        Record::Reset { uid, .. } => engine.reset(&uid.to_string())?,
        Record::Merge { from, into } => engine.merge(&from.to_string(), &into.to_string())?,
        Record::Unmerge { cid } => engine.unmerge(&cid.to_string())?,
        Record::Unlink { uid, cid } => engine.unlink(&uid.to_string(), &cid.to_string())?,
    }))
}

/// One producer: writes `records` (one call per record, or `write_batch` chunks) keeping a
/// window of tickets in flight; returns each record's acknowledgement latency (tickets are waited
/// in order, so one that completed early is counted when its turn comes: a slight overestimate).
fn produce(
    engine: &idres::Engine,
    records: Vec<Record>,
    batched: bool,
) -> Result<Vec<std::time::Duration>, idres::EngineError> {
    use std::collections::VecDeque;
    use std::time::Instant;
    let mut lat = Vec::with_capacity(records.len());
    let mut inflight: VecDeque<(Instant, idres::Ticket, usize)> = VecDeque::new();
    let window = if batched { INGEST_BATCHES_IN_FLIGHT } else { INGEST_IN_FLIGHT };
    let settle = |inflight: &mut VecDeque<(Instant, idres::Ticket, usize)>,
                  lat: &mut Vec<std::time::Duration>|
     -> Result<(), idres::EngineError> {
        if let Some((at, t, n)) = inflight.pop_front() {
            t.wait()?;
            let d = at.elapsed();
            lat.extend(std::iter::repeat_n(d, n));
        }
        Ok(())
    };
    if batched {
        let mut records = records.into_iter().peekable();
        while records.peek().is_some() {
            let chunk: Vec<Record> = records.by_ref().take(INGEST_BATCH).collect();
            let n = chunk.len();
            inflight.push_back((Instant::now(), engine.write_batch(chunk)?, n));
            if inflight.len() >= window {
                settle(&mut inflight, &mut lat)?;
            }
        }
    } else {
        for record in records {
            if let Some(t) = submit_one(engine, record)? {
                inflight.push_back((Instant::now(), t, 1));
            }
            if inflight.len() >= window {
                settle(&mut inflight, &mut lat)?;
            }
        }
    }
    while !inflight.is_empty() {
        settle(&mut inflight, &mut lat)?;
    }
    Ok(lat)
}

/// Durable ingest through a fresh [`idres::Engine`] in `dir` (fdatasync per group commit), each
/// producer thread writing its share of `workloads`, with `subscribers` threads reading the
/// change stream as fast as they can. The engine is closed at the end.
pub fn ingest_run(
    dir: &std::path::Path,
    config: idres::EngineConfig,
    workloads: Vec<Vec<Record>>,
    batched: bool,
    subscribers: usize,
) -> Result<IngestRun, idres::EngineError> {
    use std::time::{Duration, Instant};
    let engine = idres::Engine::open(dir, config)?;
    let readers: Vec<_> = (0..subscribers)
        .map(|_| {
            let sub = engine.subscribe();
            std::thread::spawn(move || sub.iter().count() as u64)
        })
        .collect();
    let start = Instant::now();
    let workers: Vec<_> = workloads
        .into_iter()
        .map(|records| {
            let engine = engine.clone();
            std::thread::spawn(move || produce(&engine, records, batched))
        })
        .collect();
    let mut lat: Vec<Duration> = Vec::new();
    for w in workers {
        let part = w.join().map_err(|_| idres::EngineError::Invalid("a producer thread panicked".into()))??;
        lat.extend(part);
    }
    let elapsed = start.elapsed();
    let at_end = engine.stats();
    if at_end.folded_lsn > 0 {
        engine.wait_stored(at_end.folded_lsn - 1)?;
    }
    let store_caught_up = start.elapsed();
    let stats = engine.stats();
    engine.close()?;
    let mut changes_received = 0;
    for r in readers {
        changes_received += r.join().map_err(|_| idres::EngineError::Invalid("a subscriber thread panicked".into()))?;
    }
    lat.sort_unstable();
    let pct = |q: f64| lat.get(((lat.len() as f64 * q) as usize).min(lat.len().saturating_sub(1))).copied();
    Ok(IngestRun {
        records: lat.len(),
        elapsed,
        p50: pct(0.50).unwrap_or_default(),
        p99: pct(0.99).unwrap_or_default(),
        store_lag: at_end.store_lag,
        store_caught_up,
        store_profiles_per_s: stats.store_profiles_written as f64 / stats.store_busy.as_secs_f64().max(1e-9),
        store_profiles_written: stats.store_profiles_written,
        store_keys_written: stats.store_keys_written,
        changes_received,
        changes_dropped: stats.changes_dropped,
    })
}
