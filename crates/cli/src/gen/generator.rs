//! The simulation: the device and customer population drawn up front, the concurrent sessions,
//! and the step that writes the next record.

use super::random::{mix64, Fenwick, Rng};
use super::records::*;
use super::*;

/// Planned behaviour and running state of one device.
pub(super) struct Device {
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

/// One open session of a device.
pub(super) struct Session {
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
pub(super) struct Generator {
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
    pub(super) out: String,
    pub(super) stats: GenStats,
}

impl Generator {
    pub(super) fn new(opts: &GenOptions) -> Generator {
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
    pub(super) fn step(&mut self, step: u64) {
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
    pub(super) fn operator(&mut self, step: u64) -> bool {
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

    pub(super) fn unlink(&mut self) -> bool {
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

    pub(super) fn merge(&mut self) -> bool {
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

    pub(super) fn unmerge(&mut self) -> bool {
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

    pub(super) fn server_side(&mut self) {
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
    pub(super) fn open_session(&mut self, step: u64) -> Option<Session> {
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
    pub(super) fn session_for(&mut self, device: u32) -> Session {
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
    pub(super) fn close_session(&mut self, slot: usize, step: u64) {
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
    pub(super) fn session_step(&mut self, slot: usize) -> bool {
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

    pub(super) fn push_ts(&mut self, ts: i64) {
        push_ts_to(&mut self.out, ts);
    }

    pub(super) fn push_unset(&mut self) {
        push_unset_to(&mut self.out, &mut self.rng);
    }

    pub(super) fn push_identify_attrs(&mut self, customer: u32, platform: &str) {
        push_identify_attrs_to(&mut self.out, &mut self.rng, self.key, customer, platform);
    }
}

/// Devices of a new customer: 1, a few, or many (cookie deleters).
pub(super) fn sample_customer_devices(rng: &mut Rng) -> u64 {
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
