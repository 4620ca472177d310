//! How the generator writes records: native NDJSON text appended to a buffer (JSON strings and
//! maps, ids, timestamps, and the event catalogue with its properties).

use super::random::{mix32, mix64, Rng};
use super::*;

/// Appends `s` as a JSON string.
pub(super) fn push_json_str(out: &mut String, s: &str) {
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
pub(super) fn push_cents(out: &mut String, cents: u64) {
    match serde_json::Number::from_f64(cents as f64 / 100.0) {
        Some(number) => {
            let _ = write!(out, "{number}");
        }
        None => out.push('0'),
    }
}

/// Writes the members of one JSON object, commas included.
pub(super) struct JsonMap<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> JsonMap<'a> {
    pub(super) fn open(out: &'a mut String) -> JsonMap<'a> {
        out.push('{');
        JsonMap { out, empty: true }
    }

    pub(super) fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        push_json_str(self.out, key);
        self.out.push(':');
    }

    pub(super) fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        push_json_str(self.out, value);
    }

    pub(super) fn int(&mut self, key: &str, value: u64) {
        self.key(key);
        let _ = write!(self.out, "{value}");
    }

    pub(super) fn cents(&mut self, key: &str, cents: u64) {
        self.key(key);
        push_cents(self.out, cents);
    }

    pub(super) fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
    }

    pub(super) fn close(self) {
        self.out.push('}');
    }
}

/// Appends the JSON string of customer `customer`'s cid: `customer-000123` or
/// `user123@example.com` (a keyed hash picks the form; both embed the index, so cids differ).
pub(super) fn push_cid(out: &mut String, key: u64, customer: u32) {
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
pub(super) fn device_uid(key: u64, device: u32, web: bool) -> String {
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

/// Appends `,"ts":"…"}` and the newline: every record with a timestamp ends this way.
pub(super) fn push_ts_to(out: &mut String, ts: i64) {
    out.push_str(",\"ts\":\"");
    push_rfc3339(out, ts);
    out.push_str("\"}\n");
}

pub(super) fn push_reset(out: &mut String, uid: &str, ts: i64) {
    out.push_str("{\"type\":\"reset\",\"uid\":");
    push_json_str(out, uid);
    push_ts_to(out, ts);
}

/// Appends `,"unset":[…]`, sometimes with one key.
pub(super) fn push_unset_to(out: &mut String, rng: &mut Rng) {
    out.push_str(",\"unset\":[");
    if rng.chance(UNSET_SHARE) {
        push_json_str(out, ["promo_code", "trial_ends", "cart_token"][rng.index(3)]);
    }
    out.push(']');
}

/// Appends the `attrs` object of an identify with profile fields.
pub(super) fn push_identify_attrs_to(out: &mut String, rng: &mut Rng, key: u64, customer: u32, platform: &str) {
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
pub(super) const LANDING_PAGES: [&str; 6] =
    ["/", "/sale", "/c/shoes", "/c/jackets", "/blog/size-guide", "/p/sku-00042"];

/// Product categories.
pub(super) const CATEGORIES: [&str; 5] = ["shoes", "jackets", "bags", "accessories", "kids"];

/// Search queries.
pub(super) const QUERIES: [&str; 6] = ["red shoes", "rain jacket", "backpack", "gift card", "running", "wool socks"];

/// App screens.
pub(super) const SCREENS: [&str; 5] = ["home", "product_detail", "cart", "search_results", "account"];

/// Referrers of a web session's first page view.
pub(super) const REFERRERS: [&str; 4] =
    ["https://www.google.com/", "https://www.bing.com/", "https://news.example.org/", "https://t.co/abc123"];

/// Session event names after the first one, with weights out of 100. The first entry becomes
/// `page_view` on web and `screen_view` in apps.
pub(super) const EVENT_WEIGHTS: [(&str, u64); 7] = [
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
pub(super) enum ServerProps {
    Order,
    Payment,
    Renewal,
    Email,
}

/// Server-side event names.
pub(super) const SERVER_EVENTS: [(&str, ServerProps); 4] = [
    ("order_shipped", ServerProps::Order),
    ("payment_succeeded", ServerProps::Payment),
    ("subscription_renewed", ServerProps::Renewal),
    ("email_opened", ServerProps::Email),
];

/// Appends the name and `,"props":{…}` of a device event.
pub(super) fn push_event(out: &mut String, rng: &mut Rng, first: bool, web: bool) {
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
