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

mod generator;
mod random;
mod records;
#[cfg(test)]
mod tests;

use generator::Generator;

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
