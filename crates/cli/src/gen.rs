//! The seeded synthetic workload, written as native NDJSON.
//!
//! Owns: a deterministic, streaming simulation of a web shop's identity traffic (anonymous
//! visitors, customers logging in on several devices, shared devices, placeholder ids, late
//! events, operator corrections) and its serialisation as one native NDJSON record per line.
//! Does not own: the meaning of the records (the engine's) nor timestamp text
//! ([`crate::time`]).
//!
//! **Model.** A population of devices is drawn up front (memory is proportional to devices and
//! customers, never to records): about one device in ten belongs to a customer, customers have
//! one or more devices, a few devices are shared by two customers. The stream is then a set of
//! concurrent sessions: each step either writes an operator record (on a fixed schedule), a
//! server-side record aimed at a known customer, or the next record of a randomly chosen open
//! session. A finished session is replaced by a session of a new device (while fewer devices
//! have appeared than the stream's progress asks for) or of a returning device, drawn in
//! proportion to the sessions it has left. Every random choice comes from one seeded
//! splitmix64 stream and only IEEE-exact float operations (no `powf`/`ln`), so the same options
//! give the same bytes on every platform.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::time::push_rfc3339;

/// Records written when no count is given.
const DEFAULT_RECORDS: u64 = 200_000;

/// Records per device when [`GenOptions::uids`] is `None` (WORKLOAD: about one device per 8).
const RECORDS_PER_DEVICE: u64 = 8;

/// Most devices the generator simulates: device indices are `u32` and id derivation is a
/// bijection on 32 bits, which keeps every generated uid distinct.
const DEVICES_MAX: u64 = u32::MAX as u64 - 1;

/// Timestamp of the first record: 2026-01-01T00:00:00Z in microseconds.
const START_MICROS: i64 = 1_767_225_600_000_000;

/// The clock advances by 1..=this many microseconds per record (mean about 2 ms).
const CLOCK_STEP_MICROS_MAX: u64 = 4_000;

/// Share of devices owned by a customer (the rest never identify). Slightly above 10% because
/// devices that appear late in the stream may end before their login session.
const IDENTIFIED_DEVICE_SHARE: f64 = 0.11;

/// Share of devices that are web browsers (`web-…` ids); the rest are apps (UUID ids).
const WEB_DEVICE_SHARE: f64 = 0.6;

/// Sessions open at once; records of these sessions interleave.
const CONCURRENT_SESSIONS: usize = 32;

/// Pareto shape of sessions per device (WORKLOAD: alpha about 1.7, minimum 1).
const SESSIONS_ALPHA: f64 = 1.7;

/// Pareto scale (minimum) of sessions of an anonymous device.
const ANONYMOUS_SESSIONS_MIN: f64 = 1.0;

/// Pareto scale (minimum) of sessions of a customer's device: logged-in users are the engaged
/// ones, which also brings identifies to 5-10% of records.
const IDENTIFIED_SESSIONS_MIN: f64 = 3.0;

/// Cap on the planned sessions of one device.
const SESSIONS_MAX: u32 = 2_000;

/// Pareto shape of events per session: heavy-tailed, but less than sessions per device, so
/// that about 70% of the traffic comes from the busier half of the devices.
const SESSION_EVENTS_ALPHA: f64 = 3.0;

/// Cap on the events of one session.
const SESSION_EVENTS_MAX: u32 = 500;

/// Estimated share of all records that are session events (the rest: identifies, attributes,
/// resets, server-side and operator records); sets the mean session length.
const SESSION_EVENT_RECORD_SHARE: f64 = 0.86;

/// Share of customers with exactly one device (WORKLOAD: 30-40% are multi-device).
const SINGLE_DEVICE_CUSTOMER_SHARE: f64 = 0.64;

/// Share of customers who are "cookie deleters" with many devices.
const COOKIE_DELETER_SHARE: f64 = 0.01;

/// Cookie deleters have this many devices at least ...
const COOKIE_DELETER_DEVICES_MIN: u64 = 8;

/// ... plus 0..this many more (mean about 12).
const COOKIE_DELETER_DEVICES_SPREAD: u64 = 9;

/// A multi-device customer has 2 devices, then each further one with this probability
/// (geometric; mean about 3 devices).
const EXTRA_DEVICE_PROBABILITY: f64 = 0.5;

/// Cap on the devices of an ordinary multi-device customer.
const MULTI_DEVICE_MAX: u64 = 8;

/// Share of customer devices that a second customer also logs in on (WORKLOAD: 1-3%).
const SHARED_DEVICE_SHARE: f64 = 0.02;

/// Share of shared devices whose switch of customer starts with a `reset` (logout).
const SHARED_RESET_SHARE: f64 = 0.7;

/// Share of customer devices that log in during their very first session (sign-up / login on
/// first visit); the others log in during one of the next few sessions.
const FIRST_SESSION_LOGIN_SHARE: f64 = 0.5;

/// A later login happens in session 1..=this.
const LOGIN_SESSION_SPREAD: u64 = 3;

/// Probability that an app session of a logged-in device starts with an identify (app reopen).
const APP_REOPEN_IDENTIFY: f64 = 0.9;

/// Same for web sessions (SDK re-identifies on page load less reliably).
const WEB_REOPEN_IDENTIFY: f64 = 0.6;

/// Probability that a logged-in session ends with a `reset` (explicit logout).
const LOGOUT_SHARE: f64 = 0.02;

/// Share of session identifies preceded by an identify with a placeholder cid (WORKLOAD:
/// 0.1-0.5% of identifies).
const BLOCKED_IDENTIFY_SHARE: f64 = 0.003;

/// Placeholder cids buggy SDKs send; all are on the engine's default blocked list.
const BLOCKED_CIDS: [&str; 6] = ["null", "undefined", "0", "\"null\"", "none", "anonymous"];

/// Probability that a customer's first identify (sign-up) carries `attrs`.
const SIGNUP_ATTRS_SHARE: f64 = 0.25;

/// Probability that any later identify carries `attrs`.
const IDENTIFY_ATTRS_SHARE: f64 = 0.03;

/// Probability that a device's first session starts with a first-touch `attributes` record.
const FIRST_TOUCH_SHARE: f64 = 0.08;

/// Probability, per event step of a logged-in session, of an `attributes` record instead.
const LOGGED_IN_ATTRIBUTES_SHARE: f64 = 0.01;

/// Probability that an `attributes` record also unsets a key.
const UNSET_SHARE: f64 = 0.15;

/// Share of steps that write a server-side record aimed at a known customer by `cid`.
const SERVER_SIDE_SHARE: f64 = 0.025;

/// Of server-side records: share that are events (WORKLOAD: about 2% of all events) ...
const SERVER_EVENT_SHARE: f64 = 0.8;

/// ... and share that are identifies without uid (CRM sign-up); the rest are `attributes`.
const SERVER_IDENTIFY_SHARE: f64 = 0.05;

/// Share of device events written late: with a `ts` before the device's previous event.
const LATE_EVENT_SHARE: f64 = 0.03;

/// A late event is 1..=this many microseconds before the device's latest event.
const LATE_MICROS_MAX: u64 = 30_000_000;

/// Share of sessions whose events carry a `session_id`.
const SESSION_ID_SHARE: f64 = 0.9;

/// One merge, one unmerge and one unlink per this many records ...
const OPERATOR_PERIOD: u64 = 100_000;

/// ... and at least one of each from this many records on.
const OPERATOR_RECORDS_MIN: u64 = 20_000;

/// Position of each operator kind inside its period, in quarters: unlink, merge, unmerge.
const OPERATOR_QUARTERS: [u64; 3] = [1, 2, 3];

/// Output is handed to the writer in chunks of about this many bytes.
const FLUSH_BYTES: usize = 64 * 1024;

/// Distinct products in event props.
const PRODUCTS: u64 = 5_000;

/// Marks "no customer" in the compact `u32` fields.
const NONE: u32 = u32::MAX;

/// Options of the generator.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Exact number of lines to write.
    pub records: u64,
    /// Seed of the generator's only random stream; the same options give the same bytes.
    pub seed: u64,
    /// Target number of distinct devices (uids) in the output. `None`: about one device per
    /// 8 records. Clamped to 1..=`records` (and below 2^32); the actual count is close to the
    /// target but not exact.
    pub uids: Option<u64>,
}

impl Default for GenOptions {
    fn default() -> GenOptions {
        GenOptions { records: DEFAULT_RECORDS, seed: 1, uids: None }
    }
}

/// What was generated, counted from the lines written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenStats {
    /// Lines written (always `GenOptions::records`).
    pub records: u64,
    /// `identify` records, blocked ones included.
    pub identifies: u64,
    /// `reset` records.
    pub resets: u64,
    /// `event` records (by uid or by cid).
    pub events: u64,
    /// `attributes` records (by uid or by cid).
    pub attributes: u64,
    /// `merge` operator records.
    pub merges: u64,
    /// `unmerge` operator records.
    pub unmerges: u64,
    /// `unlink` operator records.
    pub unlinks: u64,
    /// Distinct uids that appear in at least one record.
    pub devices: u64,
    /// Distinct real (non-placeholder) cids that appear in at least one record.
    pub customers: u64,
    /// Devices on which identifies of two different real cids were written.
    pub shared_devices: u64,
    /// Identifies written with a placeholder cid (see the engine's blocked list).
    pub blocked_ids: u64,
    /// Events whose `ts` is earlier than that of an earlier event of the same device.
    pub late_events: u64,
}

/// Writes exactly `opts.records` lines of native NDJSON to `out` (each ending in `'\n'`) and
/// reports what it wrote. The same options give the same bytes.
///
/// Streaming: memory grows with the number of devices and customers, not with `records`. The
/// output is written in chunks of about 64 KiB and `out` is flushed at the end; the only
/// errors are `out`'s.
pub fn write_ndjson(opts: &GenOptions, out: &mut dyn Write) -> io::Result<GenStats> {
    if opts.records == 0 {
        out.flush()?;
        return Ok(GenStats::default());
    }
    let mut gen = Generator::new(opts);
    for step in 0..opts.records {
        gen.step(step);
        if gen.out.len() >= FLUSH_BYTES {
            out.write_all(gen.out.as_bytes())?;
            gen.out.clear();
        }
    }
    out.write_all(gen.out.as_bytes())?;
    out.flush()?;
    gen.stats.records = opts.records;
    Ok(gen.stats)
}

// ---------------------------------------------------------------------------------------------
// Randomness

/// The splitmix64 output function: a bijection on `u64` that mixes all bits.
fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A bijection on `u32` keyed by `key` (xor, then xorshift-multiply rounds).
fn mix32(x: u32, key: u32) -> u32 {
    let mut x = x ^ key;
    x ^= x >> 16;
    x = x.wrapping_mul(0x7FEB_352D);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846C_A68B);
    x ^ (x >> 16)
}

/// `x^e` for `x` in (0, 1] and `e` in [0, 1), from square roots and products only (both exact
/// IEEE operations), so results do not depend on the platform's `libm`.
fn pow_frac(x: f64, e: f64) -> f64 {
    let mut result = 1.0;
    let mut root = x;
    let mut rest = e;
    for _ in 0..40 {
        root = root.sqrt();
        rest *= 2.0;
        if rest >= 1.0 {
            result *= root;
            rest -= 1.0;
        }
    }
    result
}

/// splitmix64: the generator's only source of randomness.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `0..n` for slice lengths.
    fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Uniform in (0, 1].
    fn unit_open(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }

    /// Pareto with scale `min` and shape `alpha` (> 1).
    fn pareto(&mut self, min: f64, alpha: f64) -> f64 {
        min / pow_frac(self.unit_open(), 1.0 / alpha)
    }

    /// Price in cents, heavy-ish: mostly 5..60 units, sometimes a few hundred.
    fn cents(&mut self) -> u64 {
        let base = 199 + self.below(5_800);
        if self.chance(0.05) {
            base * (2 + self.below(8))
        } else {
            base
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON output

/// Appends `s` as a JSON string.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a finite float with two decimals given in hundredths, as a JSON number.
fn push_cents(out: &mut String, cents: u64) {
    match serde_json::Number::from_f64(cents as f64 / 100.0) {
        Some(number) => {
            let _ = write!(out, "{number}");
        }
        None => out.push('0'),
    }
}

/// Writes the members of one JSON object, commas included.
struct JsonMap<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> JsonMap<'a> {
    fn open(out: &'a mut String) -> JsonMap<'a> {
        out.push('{');
        JsonMap { out, empty: true }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        push_json_str(self.out, key);
        self.out.push(':');
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        push_json_str(self.out, value);
    }

    fn int(&mut self, key: &str, value: u64) {
        self.key(key);
        let _ = write!(self.out, "{value}");
    }

    fn cents(&mut self, key: &str, cents: u64) {
        self.key(key);
        push_cents(self.out, cents);
    }

    fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
    }

    fn close(self) {
        self.out.push('}');
    }
}

/// Appends the JSON string of customer `customer`'s cid: `customer-000123` or
/// `user123@example.com` (a keyed hash picks the form; both embed the index, so cids differ).
fn push_cid(out: &mut String, key: u64, customer: u32) {
    let number = u64::from(customer) + 1;
    if mix64(key ^ u64::from(customer)) % 10 < 6 {
        let _ = write!(out, "\"customer-{number:06}\"");
    } else {
        let _ = write!(out, "\"user{number}@example.com\"");
    }
}

/// The uid of device `device`: `web-` and 8 hex digits for browsers, a lowercase hyphenated
/// version-4 UUID for apps. The first 32 bits are a keyed bijection of the index, so no two
/// devices share a uid.
fn device_uid(key: u64, device: u32, web: bool) -> String {
    let unique = mix32(device, key as u32);
    if web {
        return format!("web-{unique:08x}");
    }
    let rest = mix64(key ^ mix64(u64::from(device)));
    let time_mid = (rest >> 48) & 0xFFFF;
    let version = 0x4000 | ((rest >> 36) & 0x0FFF);
    let variant = 0x8000 | ((rest >> 22) & 0x3FFF);
    let node = mix64(rest) & 0xFFFF_FFFF_FFFF;
    format!("{unique:08x}-{time_mid:04x}-{version:04x}-{variant:04x}-{node:012x}")
}

// ---------------------------------------------------------------------------------------------
// Population

/// Planned behaviour and running state of one device.
struct Device {
    /// Customer who logs in on it, or `NONE` for a device that stays anonymous.
    owner: u32,
    /// Second customer of a shared device, or `NONE`.
    second: u32,
    /// Session in which `owner` first logs in.
    login_session: u32,
    /// Session in which `second` takes over.
    switch_session: u32,
    /// Planned sessions (more may happen when the stream runs out of planned ones).
    sessions_total: u32,
    /// Sessions finished.
    sessions_done: u32,
    /// Customer currently logged in, or `NONE`.
    logged_in: u32,
    /// First real cid written in an identify of this device, or `NONE`.
    first_customer: u32,
    /// Latest `ts` of this device's events, or `i64::MIN`.
    last_event_ts: i64,
    /// Weight of this device in the returning-device tree (its remaining sessions while idle).
    pooled: u64,
    web: bool,
    reset_on_switch: bool,
    seen: bool,
    open: bool,
    shared_counted: bool,
}

/// Fenwick tree over device weights: weighted draws of returning devices in O(log n).
struct Fenwick {
    tree: Vec<u64>,
    total: u64,
}

impl Fenwick {
    fn new(len: usize) -> Fenwick {
        Fenwick { tree: vec![0; len + 1], total: 0 }
    }

    fn add(&mut self, index: usize, delta: u64) {
        self.total = self.total.wrapping_add(delta);
        let mut i = index + 1;
        while let Some(slot) = self.tree.get_mut(i) {
            *slot = slot.wrapping_add(delta);
            i += i & i.wrapping_neg();
        }
    }

    fn sub(&mut self, index: usize, delta: u64) {
        self.total = self.total.wrapping_sub(delta);
        let mut i = index + 1;
        while let Some(slot) = self.tree.get_mut(i) {
            *slot = slot.wrapping_sub(delta);
            i += i & i.wrapping_neg();
        }
    }

    /// The index whose cumulative weight range contains `target` (< `total`).
    fn find(&self, target: u64) -> usize {
        let len = self.tree.len() - 1;
        let mut step = if len == 0 { 0 } else { 1usize << (usize::BITS - 1 - len.leading_zeros()) };
        let mut pos = 0;
        let mut rest = target;
        while step > 0 {
            let next = pos + step;
            if let Some(&weight) = self.tree.get(next) {
                if weight <= rest {
                    pos = next;
                    rest -= weight;
                }
            }
            step >>= 1;
        }
        pos
    }
}

/// One open session of a device.
struct Session {
    device: u32,
    uid: String,
    session_id: Option<String>,
    events_left: u32,
    pos: u32,
    reset_first: bool,
    first_touch: bool,
    /// Event position before which `identify_customer` logs in, if any.
    identify_at: Option<u32>,
    identify_customer: u32,
    logout_at_end: bool,
}

/// The whole generator state.
struct Generator {
    rng: Rng,
    key: u64,
    records: u64,
    devices: Vec<Device>,
    introduced: u32,
    pool: Fenwick,
    sessions: Vec<Session>,
    session_counter: u64,
    events_min: f64,
    customer_seen: Vec<bool>,
    seen_customers: Vec<u32>,
    links: Vec<(u32, u32)>,
    merged: Vec<u32>,
    operator_count: u64,
    operator_interval: u64,
    operators_done: [u64; 3],
    clock: i64,
    out: String,
    stats: GenStats,
}

impl Generator {
    fn new(opts: &GenOptions) -> Generator {
        let mut rng = Rng(mix64(opts.seed ^ 0x6964_7265_732D_6765)); // "idres-ge"
        let key = rng.next_u64();
        let target = opts.uids.unwrap_or(opts.records / RECORDS_PER_DEVICE);
        let n = target.clamp(1, opts.records.clamp(1, DEVICES_MAX)) as u32;
        let mut devices: Vec<Device> = (0..n)
            .map(|_| {
                let sessions = rng.pareto(ANONYMOUS_SESSIONS_MIN, SESSIONS_ALPHA);
                Device {
                    owner: NONE,
                    second: NONE,
                    login_session: 0,
                    switch_session: 0,
                    sessions_total: (sessions as u32).clamp(1, SESSIONS_MAX),
                    sessions_done: 0,
                    logged_in: NONE,
                    first_customer: NONE,
                    last_event_ts: i64::MIN,
                    pooled: 0,
                    web: rng.chance(WEB_DEVICE_SHARE),
                    reset_on_switch: false,
                    seen: false,
                    open: false,
                    shared_counted: false,
                }
            })
            .collect();

        // Customers take consecutive runs of a random permutation, so their devices appear at
        // random points of the stream.
        let mut order: Vec<u32> = (0..n).collect();
        for i in (1..order.len()).rev() {
            let j = rng.index(i + 1);
            order.swap(i, j);
        }
        let identified = ((f64::from(n) * IDENTIFIED_DEVICE_SHARE).ceil() as usize).min(order.len());
        let mut customers: u32 = 0;
        let mut cursor = 0;
        while cursor < identified {
            let wanted = sample_customer_devices(&mut rng) as usize;
            let end = (cursor + wanted).min(identified);
            for &device in &order[cursor..end] {
                let sessions = rng.pareto(IDENTIFIED_SESSIONS_MIN, SESSIONS_ALPHA);
                let login_session =
                    if rng.chance(FIRST_SESSION_LOGIN_SHARE) { 0 } else { 1 + rng.below(LOGIN_SESSION_SPREAD) as u32 };
                if let Some(d) = devices.get_mut(device as usize) {
                    d.owner = customers;
                    d.login_session = login_session;
                    d.sessions_total = (sessions as u32).clamp(login_session + 1, SESSIONS_MAX);
                }
            }
            cursor = end;
            customers += 1;
        }
        if customers >= 2 {
            for &device in &order[..identified] {
                if !rng.chance(SHARED_DEVICE_SHARE) {
                    continue;
                }
                let reset = rng.chance(SHARED_RESET_SHARE);
                let pick = rng.below(u64::from(customers) - 1) as u32;
                let extra_sessions = 1 + rng.below(3) as u32;
                let switch_delay = 1 + rng.below(2) as u32;
                if let Some(d) = devices.get_mut(device as usize) {
                    d.second = if pick >= d.owner { pick + 1 } else { pick };
                    d.switch_session = d.login_session + switch_delay;
                    d.sessions_total = d.sessions_total.max(d.switch_session + extra_sessions);
                    d.reset_on_switch = reset;
                }
            }
        }

        let planned_sessions: u64 = devices.iter().map(|d| u64::from(d.sessions_total)).sum();
        let events_mean = (opts.records as f64 * SESSION_EVENT_RECORD_SHARE / planned_sessions.max(1) as f64).max(1.0);
        let operator_count =
            if opts.records >= OPERATOR_RECORDS_MIN { (opts.records / OPERATOR_PERIOD).max(1) } else { 0 };
        Generator {
            rng,
            key,
            records: opts.records,
            pool: Fenwick::new(devices.len()),
            devices,
            introduced: 0,
            sessions: Vec::with_capacity(CONCURRENT_SESSIONS),
            session_counter: 0,
            // A Pareto variable has mean min * alpha / (alpha - 1); flooring takes about 0.5 off.
            events_min: (events_mean + 0.5) * (SESSION_EVENTS_ALPHA - 1.0) / SESSION_EVENTS_ALPHA,
            customer_seen: vec![false; customers as usize],
            seen_customers: Vec::new(),
            links: Vec::new(),
            merged: Vec::new(),
            operator_count,
            operator_interval: opts.records / operator_count.max(1),
            operators_done: [0; 3],
            clock: START_MICROS,
            out: String::with_capacity(FLUSH_BYTES + 4096),
            stats: GenStats::default(),
        }
    }

    /// Writes exactly one line.
    fn step(&mut self, step: u64) {
        self.clock = self.clock.saturating_add(1 + self.rng.below(CLOCK_STEP_MICROS_MAX) as i64);
        if self.operator(step) {
            return;
        }
        if !self.seen_customers.is_empty() && self.rng.chance(SERVER_SIDE_SHARE) {
            self.server_side();
            return;
        }
        while self.sessions.len() < CONCURRENT_SESSIONS.min(self.devices.len()) {
            match self.open_session(step) {
                Some(session) => self.sessions.push(session),
                None => break,
            }
        }
        if self.sessions.is_empty() {
            // Unreachable (with no open session every device is idle); keeps the line count.
            let session = self.session_for(0);
            self.sessions.push(session);
        }
        let slot = self.rng.index(self.sessions.len());
        if self.session_step(slot) {
            self.close_session(slot, step);
        }
    }

    // ---- operators ----

    /// Writes a due operator record, if one is due and possible.
    fn operator(&mut self, step: u64) -> bool {
        for (kind, quarters) in OPERATOR_QUARTERS.into_iter().enumerate() {
            let done = self.operators_done[kind];
            if done >= self.operator_count {
                continue;
            }
            let due = done * self.operator_interval + self.operator_interval * quarters / 4;
            if step < due {
                continue;
            }
            let written = match kind {
                0 => self.unlink(),
                1 => self.merge(),
                _ => self.unmerge(),
            };
            if written {
                self.operators_done[kind] += 1;
                return true;
            }
        }
        false
    }

    fn unlink(&mut self) -> bool {
        if self.links.is_empty() {
            return false;
        }
        let (device, customer) = self.links[self.rng.index(self.links.len())];
        let uid = device_uid(self.key, device, self.devices[device as usize].web);
        self.out.push_str("{\"type\":\"unlink\",\"uid\":");
        push_json_str(&mut self.out, &uid);
        self.out.push_str(",\"cid\":");
        push_cid(&mut self.out, self.key, customer);
        self.out.push_str("}\n");
        self.stats.unlinks += 1;
        true
    }

    fn merge(&mut self) -> bool {
        let known = self.seen_customers.len();
        if known < 2 {
            return false;
        }
        let from = self.rng.index(known);
        let mut into = self.rng.index(known - 1);
        if into >= from {
            into += 1;
        }
        let (from, into) = (self.seen_customers[from], self.seen_customers[into]);
        self.out.push_str("{\"type\":\"merge\",\"from\":");
        push_cid(&mut self.out, self.key, from);
        self.out.push_str(",\"into\":");
        push_cid(&mut self.out, self.key, into);
        self.out.push_str("}\n");
        self.merged.push(from);
        self.stats.merges += 1;
        true
    }

    fn unmerge(&mut self) -> bool {
        // Undo the latest merge not undone yet; without one, unmerge some known customer.
        let customer = match self.merged.pop() {
            Some(customer) => customer,
            None if !self.seen_customers.is_empty() => self.seen_customers[self.rng.index(self.seen_customers.len())],
            None => return false,
        };
        self.out.push_str("{\"type\":\"unmerge\",\"cid\":");
        push_cid(&mut self.out, self.key, customer);
        self.out.push_str("}\n");
        self.stats.unmerges += 1;
        true
    }

    // ---- server-side records ----

    fn server_side(&mut self) {
        let customer = self.seen_customers[self.rng.index(self.seen_customers.len())];
        let roll = self.rng.unit();
        if roll < SERVER_EVENT_SHARE {
            self.out.push_str("{\"type\":\"event\",\"cid\":");
            push_cid(&mut self.out, self.key, customer);
            let (name, props) = SERVER_EVENTS[self.rng.index(SERVER_EVENTS.len())];
            self.out.push_str(",\"name\":");
            push_json_str(&mut self.out, name);
            self.out.push_str(",\"props\":");
            let mut map = JsonMap::open(&mut self.out);
            match props {
                ServerProps::Order => {
                    map.str("order_id", &format!("ord-{:012x}", self.rng.next_u64() >> 16));
                    map.str("carrier", ["dhl", "ups", "fedex", "postnl"][self.rng.index(4)]);
                }
                ServerProps::Payment => {
                    map.cents("amount", self.rng.cents());
                    map.str("currency", ["EUR", "USD", "GBP"][self.rng.index(3)]);
                }
                ServerProps::Renewal => {
                    map.str("plan", ["basic", "plus", "pro"][self.rng.index(3)]);
                    map.cents("amount", 499 + 500 * self.rng.below(4));
                }
                ServerProps::Email => {
                    map.str("campaign", ["spring_sale", "welcome", "winback", "newsletter"][self.rng.index(4)]);
                }
            }
            map.close();
            self.push_ts(self.clock);
            self.stats.events += 1;
        } else if roll < SERVER_EVENT_SHARE + SERVER_IDENTIFY_SHARE {
            self.out.push_str("{\"type\":\"identify\",\"cid\":");
            push_cid(&mut self.out, self.key, customer);
            self.out.push_str(",\"attrs\":");
            self.push_identify_attrs(customer, "crm");
            self.push_ts(self.clock);
            self.stats.identifies += 1;
        } else {
            self.out.push_str("{\"type\":\"attributes\",\"cid\":");
            push_cid(&mut self.out, self.key, customer);
            self.out.push_str(",\"set\":");
            let mut map = JsonMap::open(&mut self.out);
            map.cents("lifetime_value", self.rng.cents() * (1 + self.rng.below(20)));
            map.int("orders", 1 + self.rng.below(40));
            map.close();
            self.out.push_str(",\"set_once\":");
            let mut map = JsonMap::open(&mut self.out);
            if self.rng.chance(0.5) {
                map.str("first_order_channel", ["web", "app", "store"][self.rng.index(3)]);
            }
            map.close();
            self.push_unset();
            self.push_ts(self.clock);
            self.stats.attributes += 1;
        }
    }

    // ---- sessions ----

    /// Opens a session of a new or returning device, or `None` if every device is busy.
    fn open_session(&mut self, step: u64) -> Option<Session> {
        let n = self.devices.len() as u64;
        let introduced = u64::from(self.introduced);
        // New devices appear in proportion to the stream's progress.
        let behind = u128::from(introduced) * u128::from(self.records) < u128::from(n) * u128::from(step + 1);
        let device = if introduced < n && (behind || self.pool.total == 0) {
            self.introduced += 1;
            introduced as u32
        } else if self.pool.total > 0 {
            let target = self.rng.below(self.pool.total);
            self.pool.find(target) as u32
        } else {
            // Every planned session is used up: an extra session of some idle device.
            let start = self.rng.below(introduced.max(1));
            let probes = introduced.min(CONCURRENT_SESSIONS as u64 + 1);
            (0..probes)
                .map(|k| ((start + k) % introduced.max(1)) as u32)
                .find(|&d| self.devices.get(d as usize).is_some_and(|d| !d.open))?
        };
        Some(self.session_for(device))
    }

    /// Plans the next session of `device` (taking it out of the returning-device tree).
    fn session_for(&mut self, device: u32) -> Session {
        let index = device as usize;
        let pooled = self.devices[index].pooled;
        if pooled > 0 {
            self.pool.sub(index, pooled);
        }
        let events = (self.rng.pareto(self.events_min, SESSION_EVENTS_ALPHA) as u32).clamp(1, SESSION_EVENTS_MAX);
        let session_id = if self.rng.chance(SESSION_ID_SHARE) {
            self.session_counter += 1;
            Some(format!("s-{:016x}", mix64(self.session_counter ^ self.key.rotate_left(17))))
        } else {
            None
        };
        let mut session = Session {
            device,
            uid: String::new(),
            session_id,
            events_left: events,
            pos: 0,
            reset_first: false,
            first_touch: false,
            identify_at: None,
            identify_customer: NONE,
            logout_at_end: false,
        };
        let d = &mut self.devices[index];
        d.pooled = 0;
        d.open = true;
        session.uid = device_uid(self.key, device, d.web);
        let number = d.sessions_done;
        session.first_touch = number == 0 && self.rng.chance(FIRST_TOUCH_SHARE);
        if d.owner != NONE && number >= d.login_session {
            let switching = d.second != NONE && number == d.switch_session;
            let current = if d.second != NONE && number >= d.switch_session { d.second } else { d.owner };
            if switching {
                session.reset_first = d.reset_on_switch;
                session.identify_at = Some(self.rng.below(u64::from(events)) as u32);
            } else if d.logged_in == NONE {
                session.identify_at = Some(self.rng.below(u64::from(events)) as u32);
            } else if self.rng.chance(if d.web { WEB_REOPEN_IDENTIFY } else { APP_REOPEN_IDENTIFY }) {
                session.identify_at = Some(0);
            }
            session.identify_customer = current;
            session.logout_at_end = self.rng.chance(LOGOUT_SHARE);
        }
        session
    }

    /// Finishes the session in `slot` and puts a new one in its place if possible.
    fn close_session(&mut self, slot: usize, step: u64) {
        let device = self.sessions[slot].device as usize;
        let d = &mut self.devices[device];
        d.open = false;
        d.sessions_done = d.sessions_done.saturating_add(1);
        if d.sessions_done < d.sessions_total {
            d.pooled = u64::from(d.sessions_total - d.sessions_done);
            let pooled = d.pooled;
            self.pool.add(device, pooled);
        }
        match self.open_session(step) {
            Some(session) => self.sessions[slot] = session,
            None => {
                self.sessions.swap_remove(slot);
            }
        }
    }

    /// Writes the next record of the session in `slot`; returns whether the session is over.
    fn session_step(&mut self, slot: usize) -> bool {
        let session = &mut self.sessions[slot];
        let device = &mut self.devices[session.device as usize];
        if !device.seen {
            device.seen = true;
            self.stats.devices += 1;
        }
        let out = &mut self.out;
        let rng = &mut self.rng;
        let key = self.key;
        let clock = self.clock;
        if session.reset_first {
            session.reset_first = false;
            device.logged_in = NONE;
            push_reset(out, &session.uid, clock);
            self.stats.resets += 1;
        } else if session.first_touch {
            session.first_touch = false;
            out.push_str("{\"type\":\"attributes\",\"uid\":");
            push_json_str(out, &session.uid);
            out.push_str(",\"set\":{},\"set_once\":");
            let mut map = JsonMap::open(out);
            map.str("first_source", ["google", "direct", "newsletter", "facebook", "bing", "affiliate"][rng.index(6)]);
            map.str("first_landing_page", LANDING_PAGES[rng.index(LANDING_PAGES.len())]);
            map.str("first_platform", if device.web { "web" } else { "app" });
            map.close();
            out.push_str(",\"unset\":[]");
            push_ts_to(out, clock);
            self.stats.attributes += 1;
        } else if session.identify_at == Some(session.pos) {
            if rng.chance(BLOCKED_IDENTIFY_SHARE) {
                // A buggy SDK call first; the real identify stays pending.
                out.push_str("{\"type\":\"identify\",\"uid\":");
                push_json_str(out, &session.uid);
                out.push_str(",\"cid\":");
                push_json_str(out, BLOCKED_CIDS[rng.index(BLOCKED_CIDS.len())]);
                out.push_str(",\"attrs\":{}");
                push_ts_to(out, clock);
                self.stats.blocked_ids += 1;
                self.stats.identifies += 1;
                return false;
            }
            session.identify_at = None;
            let customer = session.identify_customer;
            let signup = !self.customer_seen.get(customer as usize).copied().unwrap_or(true);
            out.push_str("{\"type\":\"identify\",\"uid\":");
            push_json_str(out, &session.uid);
            out.push_str(",\"cid\":");
            push_cid(out, key, customer);
            out.push_str(",\"attrs\":");
            let with_attrs = rng.chance(if signup { SIGNUP_ATTRS_SHARE } else { IDENTIFY_ATTRS_SHARE });
            let platform = if device.web { "web" } else { "app" };
            if with_attrs {
                push_identify_attrs_to(out, rng, key, customer, platform);
            } else {
                out.push_str("{}");
            }
            push_ts_to(out, clock);
            self.stats.identifies += 1;
            device.logged_in = customer;
            if device.first_customer == NONE {
                device.first_customer = customer;
                self.links.push((session.device, customer));
            } else if device.first_customer != customer && !device.shared_counted {
                device.shared_counted = true;
                self.stats.shared_devices += 1;
                self.links.push((session.device, customer));
            }
            if let Some(seen) = self.customer_seen.get_mut(customer as usize) {
                if !*seen {
                    *seen = true;
                    self.seen_customers.push(customer);
                    self.stats.customers += 1;
                }
            }
        } else if session.events_left == 0 {
            // Only reached with a pending logout.
            session.logout_at_end = false;
            if device.logged_in != NONE {
                device.logged_in = NONE;
                push_reset(out, &session.uid, clock);
                self.stats.resets += 1;
            } else {
                // Logged out already (cannot happen with the current plan): any event keeps the
                // one-line-per-step rule.
                session.events_left = 1;
                return self.session_step(slot);
            }
        } else if device.logged_in != NONE && rng.chance(LOGGED_IN_ATTRIBUTES_SHARE) {
            out.push_str("{\"type\":\"attributes\",\"uid\":");
            push_json_str(out, &session.uid);
            out.push_str(",\"set\":");
            let mut map = JsonMap::open(out);
            map.str("plan", ["free", "basic", "plus", "pro"][rng.index(4)]);
            map.str("last_platform", if device.web { "web" } else { "app" });
            map.int("cart_items", rng.below(6));
            map.bool("newsletter", rng.chance(0.4));
            map.close();
            out.push_str(",\"set_once\":");
            let mut map = JsonMap::open(out);
            if rng.chance(0.3) {
                map.str("first_purchase_category", CATEGORIES[rng.index(CATEGORIES.len())]);
            }
            map.close();
            push_unset_to(out, rng);
            push_ts_to(out, clock);
            self.stats.attributes += 1;
        } else {
            let ts = if device.last_event_ts != i64::MIN && rng.chance(LATE_EVENT_SHARE) {
                // Never before the stream's start; still before `last_event_ts` (> start).
                device.last_event_ts.saturating_sub(1 + rng.below(LATE_MICROS_MAX) as i64).max(START_MICROS)
            } else {
                clock
            };
            if ts < device.last_event_ts {
                self.stats.late_events += 1;
            }
            device.last_event_ts = device.last_event_ts.max(ts);
            out.push_str("{\"type\":\"event\",\"uid\":");
            push_json_str(out, &session.uid);
            out.push_str(",\"name\":");
            push_event(out, rng, session.pos == 0, device.web);
            if let Some(id) = &session.session_id {
                out.push_str(",\"session_id\":");
                push_json_str(out, id);
            }
            push_ts_to(out, ts);
            self.stats.events += 1;
            session.pos += 1;
            session.events_left -= 1;
        }
        session.events_left == 0
            && !session.reset_first
            && !session.first_touch
            && session.identify_at.is_none()
            && !(session.logout_at_end && device.logged_in != NONE)
    }

    fn push_ts(&mut self, ts: i64) {
        push_ts_to(&mut self.out, ts);
    }

    fn push_unset(&mut self) {
        push_unset_to(&mut self.out, &mut self.rng);
    }

    fn push_identify_attrs(&mut self, customer: u32, platform: &str) {
        push_identify_attrs_to(&mut self.out, &mut self.rng, self.key, customer, platform);
    }
}

/// Devices of a new customer: 1, a few, or many (cookie deleters).
fn sample_customer_devices(rng: &mut Rng) -> u64 {
    let roll = rng.unit();
    if roll < COOKIE_DELETER_SHARE {
        COOKIE_DELETER_DEVICES_MIN + rng.below(COOKIE_DELETER_DEVICES_SPREAD)
    } else if roll < COOKIE_DELETER_SHARE + SINGLE_DEVICE_CUSTOMER_SHARE {
        1
    } else {
        let mut devices = 2;
        while devices < MULTI_DEVICE_MAX && rng.chance(EXTRA_DEVICE_PROBABILITY) {
            devices += 1;
        }
        devices
    }
}

/// Appends `,"ts":"…"}` and the newline: every record with a timestamp ends this way.
fn push_ts_to(out: &mut String, ts: i64) {
    out.push_str(",\"ts\":\"");
    push_rfc3339(out, ts);
    out.push_str("\"}\n");
}

fn push_reset(out: &mut String, uid: &str, ts: i64) {
    out.push_str("{\"type\":\"reset\",\"uid\":");
    push_json_str(out, uid);
    push_ts_to(out, ts);
}

/// Appends `,"unset":[…]`, sometimes with one key.
fn push_unset_to(out: &mut String, rng: &mut Rng) {
    out.push_str(",\"unset\":[");
    if rng.chance(UNSET_SHARE) {
        push_json_str(out, ["promo_code", "trial_ends", "cart_token"][rng.index(3)]);
    }
    out.push(']');
}

/// Appends the `attrs` object of an identify with profile fields.
fn push_identify_attrs_to(out: &mut String, rng: &mut Rng, key: u64, customer: u32, platform: &str) {
    let mut map = JsonMap::open(out);
    map.key("email");
    let _ = write!(map.out, "\"user{}@example.com\"", u64::from(customer) + 1);
    map.str("plan", ["free", "basic", "plus", "pro"][rng.index(4)]);
    map.bool("marketing_opt_in", rng.chance(0.35));
    map.str("signup_platform", platform);
    if mix64(key ^ u64::from(customer)).is_multiple_of(3) {
        map.str("country", ["NL", "DE", "FR", "US", "GB", "ES"][rng.index(6)]);
    }
    map.close();
}

/// Page paths of the shop.
const LANDING_PAGES: [&str; 6] = ["/", "/sale", "/c/shoes", "/c/jackets", "/blog/size-guide", "/p/sku-00042"];

/// Product categories.
const CATEGORIES: [&str; 5] = ["shoes", "jackets", "bags", "accessories", "kids"];

/// Search queries.
const QUERIES: [&str; 6] = ["red shoes", "rain jacket", "backpack", "gift card", "running", "wool socks"];

/// App screens.
const SCREENS: [&str; 5] = ["home", "product_detail", "cart", "search_results", "account"];

/// Referrers of a web session's first page view.
const REFERRERS: [&str; 4] =
    ["https://www.google.com/", "https://www.bing.com/", "https://news.example.org/", "https://t.co/abc123"];

/// Session event names after the first one, with weights out of 100. The first entry becomes
/// `page_view` on web and `screen_view` in apps.
const EVENT_WEIGHTS: [(&str, u64); 7] = [
    ("page_view", 58),
    ("product_view", 13),
    ("search", 9),
    ("add_to_cart", 9),
    ("checkout", 4),
    ("purchase", 3),
    ("share", 4),
];

/// Which props a server-side event carries.
#[derive(Clone, Copy)]
enum ServerProps {
    Order,
    Payment,
    Renewal,
    Email,
}

/// Server-side event names.
const SERVER_EVENTS: [(&str, ServerProps); 4] = [
    ("order_shipped", ServerProps::Order),
    ("payment_succeeded", ServerProps::Payment),
    ("subscription_renewed", ServerProps::Renewal),
    ("email_opened", ServerProps::Email),
];

/// Appends the name and `,"props":{…}` of a device event.
fn push_event(out: &mut String, rng: &mut Rng, first: bool, web: bool) {
    let name = if first {
        if web {
            "page_view"
        } else {
            "app_open"
        }
    } else {
        let mut roll = rng.below(100);
        let mut chosen = "page_view";
        for (name, weight) in EVENT_WEIGHTS {
            if roll < weight {
                chosen = name;
                break;
            }
            roll -= weight;
        }
        if chosen == "page_view" && !web {
            "screen_view"
        } else {
            chosen
        }
    };
    push_json_str(out, name);
    out.push_str(",\"props\":");
    let mut map = JsonMap::open(out);
    match name {
        "page_view" => {
            map.key("url");
            let _ = write!(map.out, "\"https://shop.example.com/p/sku-{:05}\"", rng.below(PRODUCTS));
            if first && rng.chance(0.5) {
                map.str("referrer", REFERRERS[rng.index(REFERRERS.len())]);
            }
        }
        "app_open" => {
            map.bool("cold_start", rng.chance(0.6));
            map.key("app_version");
            let _ = write!(map.out, "\"3.{}.{}\"", 10 + rng.below(5), rng.below(10));
        }
        "screen_view" => map.str("screen", SCREENS[rng.index(SCREENS.len())]),
        "product_view" | "add_to_cart" => {
            map.key("product_id");
            let _ = write!(map.out, "\"sku-{:05}\"", rng.below(PRODUCTS));
            map.cents("price", rng.cents());
            if name == "add_to_cart" {
                map.int("qty", 1 + rng.below(3));
            }
        }
        "search" => {
            map.str("query", QUERIES[rng.index(QUERIES.len())]);
            map.int("results", rng.below(200));
        }
        "checkout" => {
            map.int("items", 1 + rng.below(5));
            map.cents("total", rng.cents() * (1 + rng.below(3)));
        }
        "purchase" => {
            map.key("order_id");
            let _ = write!(map.out, "\"ord-{:012x}\"", rng.next_u64() >> 16);
            map.cents("total", rng.cents() * (1 + rng.below(3)));
            map.str("currency", ["EUR", "USD"][rng.index(2)]);
            map.bool("coupon_used", rng.chance(0.2));
        }
        _ => map.str("channel", ["whatsapp", "email", "copy_link"][rng.index(3)]),
    }
    map.close();
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value;

    use super::*;
    use crate::time::parse_rfc3339;

    fn generate(opts: &GenOptions) -> (Vec<u8>, GenStats) {
        let mut bytes = Vec::new();
        let stats = write_ndjson(opts, &mut bytes).unwrap();
        (bytes, stats)
    }

    fn opts(records: u64, seed: u64, uids: Option<u64>) -> GenOptions {
        GenOptions { records, seed, uids }
    }

    /// Checks one uid / cid / name / session id against the engine's id rules.
    fn check_id(value: &Value, max: usize, what: &str, line: &str) -> String {
        let s = value.as_str().unwrap_or_else(|| panic!("{what} not a string: {line}"));
        assert!(!s.is_empty() && s.len() <= max, "{what} length: {line}");
        assert_eq!(s, s.trim(), "{what} whitespace: {line}");
        assert!(!s.chars().any(char::is_control), "{what} control char: {line}");
        s.to_owned()
    }

    fn check_map(value: &Value, line: &str) {
        let map = value.as_object().unwrap_or_else(|| panic!("not an object: {line}"));
        for (key, value) in map {
            assert!(!key.is_empty() && key.len() <= 256, "{line}");
            match value {
                Value::String(_) | Value::Bool(_) => {}
                Value::Number(n) => assert!(n.as_f64().is_some_and(f64::is_finite), "{line}"),
                _ => panic!("value type {value}: {line}"),
            }
        }
    }

    fn check_keys(object: &serde_json::Map<String, Value>, required: &[&str], optional: &[&str], line: &str) {
        for key in required {
            assert!(object.contains_key(*key), "missing {key}: {line}");
        }
        for key in object.keys() {
            assert!(required.contains(&key.as_str()) || optional.contains(&key.as_str()), "extra {key}: {line}");
        }
    }

    /// Everything the tests measure, recomputed from the text.
    #[derive(Default)]
    struct Measured {
        stats: GenStats,
        lines: u64,
        /// Records per uid.
        traffic: BTreeMap<String, u64>,
        /// Real cids identified per uid.
        cids_of_uid: BTreeMap<String, BTreeSet<String>>,
        /// Uids identified per real cid.
        uids_of_cid: BTreeMap<String, BTreeSet<String>>,
        cid_events: u64,
        identifies_with_attrs: u64,
        set_once_records: u64,
        unset_records: u64,
        shared_with_reset: u64,
    }

    fn measure(bytes: &[u8]) -> Measured {
        let text = std::str::from_utf8(bytes).unwrap();
        assert!(text.is_empty() || text.ends_with('\n'));
        let mut m = Measured::default();
        let mut last_ts: BTreeMap<String, i64> = BTreeMap::new();
        let mut last_identified: BTreeMap<String, String> = BTreeMap::new();
        let mut reset_since_identify: BTreeSet<String> = BTreeSet::new();
        let mut known_cids: BTreeSet<String> = BTreeSet::new();
        let mut known_uids: BTreeSet<String> = BTreeSet::new();
        for line in text.lines() {
            m.lines += 1;
            let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let object = value.as_object().unwrap();
            let ty = object["type"].as_str().unwrap();
            let ts = object.get("ts").map(|ts| parse_rfc3339(ts.as_str().unwrap()).unwrap());
            let uid = object.get("uid").map(|v| check_id(v, 128, "uid", line));
            let cid = object.get("cid").map(|v| check_id(v, 256, "cid", line));
            if let Some(uid) = &uid {
                *m.traffic.entry(uid.clone()).or_default() += 1;
            }
            match ty {
                "identify" => {
                    check_keys(object, &["type", "cid", "attrs", "ts"], &["uid"], line);
                    check_map(&object["attrs"], line);
                    m.stats.identifies += 1;
                    let cid = cid.unwrap();
                    if BLOCKED_CIDS.contains(&cid.as_str()) {
                        m.stats.blocked_ids += 1;
                        continue;
                    }
                    if !object["attrs"].as_object().unwrap().is_empty() {
                        m.identifies_with_attrs += 1;
                    }
                    known_cids.insert(cid.clone());
                    if let Some(uid) = uid {
                        if let Some(previous) = last_identified.get(&uid) {
                            if *previous != cid && !m.cids_of_uid[&uid].contains(&cid) {
                                m.shared_with_reset += u64::from(reset_since_identify.contains(&uid));
                            }
                        }
                        reset_since_identify.remove(&uid);
                        last_identified.insert(uid.clone(), cid.clone());
                        m.cids_of_uid.entry(uid.clone()).or_default().insert(cid.clone());
                        m.uids_of_cid.entry(cid).or_default().insert(uid.clone());
                        known_uids.insert(uid);
                    }
                }
                "reset" => {
                    check_keys(object, &["type", "uid", "ts"], &[], line);
                    m.stats.resets += 1;
                    reset_since_identify.insert(uid.unwrap());
                }
                "event" => {
                    assert!(uid.is_some() != cid.is_some(), "{line}");
                    let target = if uid.is_some() { "uid" } else { "cid" };
                    check_keys(object, &["type", target, "name", "props", "ts"], &["session_id"], line);
                    check_id(&object["name"], 128, "name", line);
                    if let Some(session) = object.get("session_id") {
                        check_id(session, 128, "session_id", line);
                    }
                    check_map(&object["props"], line);
                    m.stats.events += 1;
                    match uid {
                        Some(uid) => {
                            let ts = ts.unwrap();
                            let last = last_ts.entry(uid).or_insert(i64::MIN);
                            if ts < *last {
                                m.stats.late_events += 1;
                            }
                            *last = (*last).max(ts);
                        }
                        None => {
                            assert!(known_cids.contains(&cid.unwrap()), "{line}");
                            m.cid_events += 1;
                        }
                    }
                }
                "attributes" => {
                    assert!(uid.is_some() != cid.is_some(), "{line}");
                    let target = if uid.is_some() { "uid" } else { "cid" };
                    check_keys(object, &["type", target, "set", "set_once", "unset", "ts"], &[], line);
                    check_map(&object["set"], line);
                    check_map(&object["set_once"], line);
                    let unset = object["unset"].as_array().unwrap();
                    assert!(unset.iter().all(Value::is_string), "{line}");
                    m.set_once_records += u64::from(!object["set_once"].as_object().unwrap().is_empty());
                    m.unset_records += u64::from(!unset.is_empty());
                    m.stats.attributes += 1;
                }
                "merge" => {
                    check_keys(object, &["type", "from", "into"], &[], line);
                    let from = check_id(&object["from"], 256, "from", line);
                    let into = check_id(&object["into"], 256, "into", line);
                    assert!(from != into && known_cids.contains(&from) && known_cids.contains(&into), "{line}");
                    m.stats.merges += 1;
                }
                "unmerge" => {
                    check_keys(object, &["type", "cid"], &[], line);
                    assert!(known_cids.contains(&cid.unwrap()), "{line}");
                    m.stats.unmerges += 1;
                }
                "unlink" => {
                    check_keys(object, &["type", "uid", "cid"], &[], line);
                    let (uid, cid) = (uid.unwrap(), cid.unwrap());
                    assert!(m.cids_of_uid.get(&uid).is_some_and(|cids| cids.contains(&cid)), "{line}");
                    m.stats.unlinks += 1;
                }
                _ => panic!("unknown type: {line}"),
            }
        }
        m.stats.records = m.lines;
        m.stats.devices = m.traffic.len() as u64;
        m.stats.customers = known_cids.len() as u64;
        m.stats.shared_devices = m.cids_of_uid.values().filter(|cids| cids.len() >= 2).count() as u64;
        m
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let (a, stats_a) = generate(&opts(30_000, 7, None));
        let (b, stats_b) = generate(&opts(30_000, 7, None));
        let (c, _) = generate(&opts(30_000, 8, None));
        assert_eq!(a, b);
        assert_eq!(stats_a, stats_b);
        assert_ne!(a, c);
    }

    #[test]
    fn small_and_degenerate_options() {
        for (records, uids) in
            [(0, None), (1, None), (2, Some(1)), (7, Some(100)), (500, Some(1)), (1_000, Some(1_000))]
        {
            let (bytes, stats) = generate(&opts(records, 3, uids));
            let m = measure(&bytes);
            assert_eq!(m.lines, records);
            assert_eq!(m.stats, stats, "records {records} uids {uids:?}");
        }
        // One device: at most one uid however long the stream.
        let (bytes, stats) = generate(&opts(3_000, 3, Some(1)));
        assert_eq!(measure(&bytes).stats.devices, 1);
        assert_eq!(stats.devices, 1);
    }

    #[test]
    fn default_workload_is_plausible() {
        let options = GenOptions::default();
        assert_eq!((options.records, options.seed, options.uids), (200_000, 1, None));
        let (bytes, stats) = generate(&options);
        let m = measure(&bytes);
        assert_eq!(m.lines, 200_000);
        assert_eq!(m.stats, stats);
        let records = stats.records as f64;

        // Devices: about one per 8 records, about 90% anonymous.
        assert!((20_000..=30_000).contains(&stats.devices), "{stats:?}");
        let identified_devices = m.cids_of_uid.len() as f64;
        let anonymous_share = 1.0 - identified_devices / stats.devices as f64;
        assert!((0.85..=0.95).contains(&anonymous_share), "anonymous share {anonymous_share}");

        // Record mix.
        let identify_share = stats.identifies as f64 / records;
        assert!((0.05..=0.10).contains(&identify_share), "identify share {identify_share}");
        assert!(stats.events as f64 / records > 0.8, "{stats:?}");
        let cid_event_share = m.cid_events as f64 / stats.events as f64;
        assert!((0.01..=0.04).contains(&cid_event_share), "cid event share {cid_event_share}");
        let attrs_share = m.identifies_with_attrs as f64 / stats.identifies as f64;
        assert!((0.05..=0.10).contains(&attrs_share), "identify attrs share {attrs_share}");
        assert!(stats.attributes > 0 && m.set_once_records > 0 && m.unset_records > 0, "{stats:?}");

        // Placeholder ids: 0.1-0.5% of identifies.
        let blocked_share = stats.blocked_ids as f64 / stats.identifies as f64;
        assert!((0.001..=0.005).contains(&blocked_share), "blocked share {blocked_share}");

        // Customers: mean about 2 devices, 30-40% multi-device, some with many.
        let devices_per_customer: Vec<usize> = m.uids_of_cid.values().map(BTreeSet::len).collect();
        let customers = devices_per_customer.len() as f64;
        let multi = devices_per_customer.iter().filter(|&&d| d >= 2).count() as f64 / customers;
        let mean = devices_per_customer.iter().sum::<usize>() as f64 / customers;
        assert!((0.25..=0.45).contains(&multi), "multi-device share {multi}");
        assert!((1.4..=2.5).contains(&mean), "mean devices {mean}");
        assert!(devices_per_customer.iter().any(|&d| d >= 8), "no cookie deleter");

        // Shared devices: 1-3% of identified devices, most with a reset before the switch.
        let shared_share = stats.shared_devices as f64 / identified_devices;
        assert!((0.005..=0.03).contains(&shared_share), "shared share {shared_share}");
        assert!(m.shared_with_reset > 0 && m.shared_with_reset < stats.shared_devices, "{}", m.shared_with_reset);
        assert!(stats.resets >= m.shared_with_reset);

        // Operators: two of each per 200 000 records.
        assert_eq!((stats.merges, stats.unmerges, stats.unlinks), (2, 2, 2));

        // Late events: 1-5% of events.
        let late_share = stats.late_events as f64 / stats.events as f64;
        assert!((0.01..=0.05).contains(&late_share), "late share {late_share}");

        // Traffic concentration: the busier half of the devices makes most of the records. With
        // sessions Pareto(alpha 1.7, min 1) about 70% of devices have a single session, so this
        // is inherently above WORKLOAD's 70% (about 85% here).
        let mut traffic: Vec<u64> = m.traffic.values().copied().collect();
        traffic.sort_unstable_by(|a, b| b.cmp(a));
        let top: u64 = traffic[..traffic.len() / 2].iter().sum();
        let top_share = top as f64 / traffic.iter().sum::<u64>() as f64;
        assert!((0.65..=0.9).contains(&top_share), "top half share {top_share}");
    }

    #[test]
    fn ids_have_both_forms() {
        let (bytes, _) = generate(&opts(20_000, 11, None));
        let m = measure(&bytes);
        let web = m.traffic.keys().filter(|uid| uid.starts_with("web-") && uid.len() == 12).count();
        let uuid = m
            .traffic
            .keys()
            .filter(|uid| {
                uid.len() == 36
                    && uid.chars().all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
                    && uid.as_bytes()[14] == b'4'
            })
            .count();
        assert_eq!(web + uuid, m.traffic.len());
        assert!(web > 0 && uuid > 0);
        assert!(m.uids_of_cid.keys().any(|cid| cid.starts_with("customer-")));
        assert!(m.uids_of_cid.keys().any(|cid| cid.ends_with("@example.com")));
        assert_eq!(m.stats.merges, 1);
        assert_eq!(m.stats.unmerges, 1);
        assert_eq!(m.stats.unlinks, 1);
    }

    #[test]
    fn uids_option_is_roughly_respected() {
        for (records, uids) in [(40_000, 1_000), (40_000, 10_000), (20_000, 15_000)] {
            let (bytes, stats) = generate(&opts(records, 5, Some(uids)));
            assert_eq!(measure(&bytes).stats, stats);
            let ratio = stats.devices as f64 / uids as f64;
            assert!((0.7..=1.3).contains(&ratio), "uids {uids}: {} devices", stats.devices);
        }
    }

    #[test]
    fn timestamps_start_in_2026_and_advance() {
        let (bytes, _) = generate(&opts(5_000, 2, None));
        let text = String::from_utf8(bytes).unwrap();
        let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        let first = parse_rfc3339(first["ts"].as_str().unwrap()).unwrap();
        assert!((START_MICROS..START_MICROS + 10_000).contains(&first));
        let all: Vec<i64> = text
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).unwrap()["ts"].as_str().map(str::to_owned))
            .map(|ts| parse_rfc3339(&ts).unwrap())
            .collect();
        assert!(all.iter().all(|&ts| ts >= START_MICROS));
        let last = *all.iter().max().unwrap();
        assert!(last > START_MICROS + 5_000 * 1_000 && last < START_MICROS + 5_000 * 4_001, "{last}");
    }

    #[test]
    fn writer_errors_are_returned() {
        struct Failing;
        impl Write for Failing {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let error = write_ndjson(&opts(10, 1, None), &mut Failing).unwrap_err();
        assert_eq!(error.to_string(), "disk full");
    }

    #[test]
    fn helpers() {
        let mut s = String::new();
        push_json_str(&mut s, "a\"b\\c\n\u{1}é");
        assert_eq!(s, r#""a\"b\\c\n\u0001é""#);
        assert_eq!(serde_json::from_str::<String>(&s).unwrap(), "a\"b\\c\n\u{1}é");
        let mut s = String::new();
        push_cents(&mut s, 2000);
        push_cents(&mut s, 1999);
        assert_eq!(s, "20.019.99");
        assert!((pow_frac(0.25, 0.5) - 0.5).abs() < 1e-12);
        assert!((pow_frac(0.3, 1.0 / 1.7) - 0.3f64.powf(1.0 / 1.7)).abs() < 1e-9);
        let mut fenwick = Fenwick::new(5);
        fenwick.add(1, 3);
        fenwick.add(4, 2);
        assert_eq!((0..5).map(|t| fenwick.find(t)).collect::<Vec<_>>(), [1, 1, 1, 4, 4]);
        fenwick.sub(1, 3);
        assert_eq!(fenwick.find(0), 4);
        let uids: BTreeSet<String> = (0..10_000).map(|d| device_uid(42, d, d % 2 == 0)).collect();
        assert_eq!(uids.len(), 10_000);
    }
}
