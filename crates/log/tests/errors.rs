//! What the log's errors say: each fact once, with what and where (file, byte offset, LSN).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use idres_log::{Log, LogOptions};

use common::tempdir;

/// An error and its source chain, joined as anyhow's `{e:#}` joins them.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut at = e.source();
    while let Some(s) = at {
        out.push_str(": ");
        out.push_str(&s.to_string());
        at = s.source();
    }
    out
}

#[test]
fn an_os_error_is_printed_once_in_the_error_chain() {
    let dir = tempdir();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = Log::open(file.join("log"), LogOptions::default()).err().expect("a file is no directory");
    let text = chain(&err);
    let os = std::io::Error::from_raw_os_error(20).to_string();
    assert_eq!(text.matches(&os).count(), 1, "{text}");
    assert!(text.contains("not-a-dir"), "says where: {text}");
}
