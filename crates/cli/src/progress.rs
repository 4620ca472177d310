//! Progress of a long step on stderr (`--progress`, or by default when stderr is a terminal): a
//! bar on a terminal (indicatif), and plain lines when stderr is a file or a pipe — a bar draws
//! nothing there, which is why `--progress 2>log` used to print nothing. Each line says what, how
//! far, the rate and the time left, at most one a second and once at the end.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a line is written when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(1);

/// A step's progress: drawn as a bar, written as lines, or not shown.
pub(crate) struct Progress {
    how: How,
}

enum How {
    Hidden,
    Bar(ProgressBar),
    Lines { what: String, len: u64, pos: u64, started: Instant, last: Instant, bytes: bool },
}

impl Progress {
    /// Progress of `what` over `len` units (records, profiles, lines; 0: not known yet), shown
    /// if `show`.
    pub(crate) fn new(show: bool, len: u64, what: &str) -> Progress {
        Progress::of(show, len, what, false)
    }

    /// Progress of `what` over `len` bytes (an input file read), said in bytes: `12.3 MB/725.5
    /// MB, 20.9 MB/s`.
    pub(crate) fn bytes(show: bool, len: u64, what: &str) -> Progress {
        Progress::of(show, len, what, true)
    }

    fn of(show: bool, len: u64, what: &str, bytes: bool) -> Progress {
        let how = if !show {
            How::Hidden
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
            let counts = if bytes { "{bytes}/{total_bytes} {bytes_per_sec}" } else { "{pos}/{len} {per_sec}" };
            if let Ok(style) = ProgressStyle::with_template(&format!("{what} {{bar:40}} {counts} {{eta}}")) {
                bar.set_style(style);
            }
            How::Bar(bar)
        } else {
            let now = Instant::now();
            How::Lines { what: what.to_string(), len, pos: 0, started: now, last: now, bytes }
        };
        Progress { how }
    }

    /// The total, once known.
    pub(crate) fn set_length(&mut self, total: u64) {
        match &mut self.how {
            How::Hidden => {}
            How::Bar(b) => b.set_length(total),
            How::Lines { len, .. } => *len = total,
        }
    }

    /// How far the step is.
    pub(crate) fn set_position(&mut self, at: u64) {
        match &mut self.how {
            How::Hidden => {}
            How::Bar(b) => b.set_position(at),
            How::Lines { pos, last, .. } => {
                *pos = at;
                if last.elapsed() >= LINE_EVERY {
                    *last = Instant::now();
                    self.line(false);
                }
            }
        }
    }

    /// The step is over: a bar is cleared, a last line written.
    pub(crate) fn finish(&mut self) {
        match &self.how {
            How::Hidden => {}
            How::Bar(b) => b.finish_and_clear(),
            How::Lines { .. } => self.line(true),
        }
    }

    fn line(&self, done: bool) {
        let How::Lines { what, len, pos, started, bytes, .. } = &self.how else { return };
        let secs = started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { *pos as f64 / secs } else { 0.0 };
        let count = |n: u64| if *bytes { with_unit(si(n as f64), "B") } else { n.to_string() };
        let mut text = format!("{what}: {}", count(*pos));
        if *len > 0 {
            text.push_str(&format!("/{} ({:.0}%)", count(*len), (*pos as f64 / *len as f64 * 100.0).min(100.0)));
        }
        text.push_str(&format!(", {}/s", if *bytes { with_unit(si(rate), "B") } else { si(rate) }));
        if done {
            text.push_str(&format!(", done in {secs:.1} s"));
        } else if *len > *pos && rate > 0.0 {
            text.push_str(&format!(", ETA {:.0} s", (*len - *pos) as f64 / rate));
        }
        // Progress is advice: a stderr that cannot be written to does not stop the step.
        let _ = writeln!(std::io::stderr(), "{text}");
    }
}

/// `1.23 M` and `B` as `1.23 MB`, `12` and `B` as `12 B`.
fn with_unit(n: String, unit: &str) -> String {
    if n.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{n} {unit}")
    } else {
        format!("{n}{unit}")
    }
}

/// `1234567.0` as `1.23 M`: rates for people.
fn si(x: f64) -> String {
    match x {
        x if x >= 1e6 => format!("{:.2} M", x / 1e6),
        x if x >= 1e3 => format!("{:.1} k", x / 1e3),
        x => format!("{x:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{si, with_unit};

    #[test]
    fn rates_read_as_people_write_them() {
        assert_eq!(with_unit(si(343_123_687.0), "B"), "343.12 MB");
        assert_eq!(with_unit(si(12.0), "B"), "12 B");
        assert_eq!(si(12.4), "12");
        assert_eq!(si(95_400.0), "95.4 k");
        assert_eq!(si(2_345_678.0), "2.35 M");
    }
}
