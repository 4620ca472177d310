//! The comparison's report: its rows and workload, the markdown table and ratios printed at the
//! end of `idres-bench compare`, and `--write-docs`, which puts that table into
//! docs/PERFORMANCE.md.

use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use idres_bench::IngestRun;

/// `writeln!` into a String (whose fmt::Write never fails).
macro_rules! writeln_ {
    ($w:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        writeln!($w, $($arg)*)
    }};
}

/// Where `--write-docs` puts the table in docs/PERFORMANCE.md.
const DOCS_BEGIN: &str = "<!-- compare:begin -->";
const DOCS_END: &str = "<!-- compare:end -->";

pub(crate) struct Row {
    pub(crate) name: &'static str,
    pub(crate) time: Duration,
    pub(crate) records: u64,
    pub(crate) note: String,
}

pub(crate) struct Report {
    pub(crate) command: String,
    pub(crate) machine: String,
    pub(crate) records: u64,
    pub(crate) identity_records: u64,
    pub(crate) devices: usize,
    pub(crate) customers: usize,
    pub(crate) edges: usize,
    pub(crate) merges: usize,
    pub(crate) digest: String,
    pub(crate) rows: Vec<Row>,
    pub(crate) ingest: Vec<(usize, bool, IngestRun)>,
    /// `None` when the peak-RSS row was not measured (`--fold-rows-only`).
    pub(crate) peak_rss: Option<u64>,
    pub(crate) partitions_agree: bool,
    pub(crate) partition_note: String,
}

pub(crate) fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string()))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(String::new(), |kb| format!(", {} GiB", kb / (1024 * 1024)));
    format!("{model}, {cores} cores{mem}")
}

impl Report {
    fn time_of(&self, name: &str) -> Option<Duration> {
        self.rows.iter().find(|r| r.name == name).map(|r| r.time)
    }

    fn ratio(&self, a: &str, b: &str) -> String {
        match (self.time_of(a), self.time_of(b)) {
            (Some(x), Some(y)) if y > Duration::ZERO => format!("{:.2}×", x.as_secs_f64() / y.as_secs_f64()),
            _ => "-".into(),
        }
    }

    pub(crate) fn markdown(&self) -> String {
        let mut s = String::new();
        let w = &mut s;
        let _ = writeln_!(w, "Command: `{}`", self.command);
        let _ = writeln_!(w, "");
        let _ = writeln_!(w, "Machine: {}.", self.machine);
        let _ = writeln_!(
            w,
            "Workload: {} records ({} identity records), {} device nodes, {} customer nodes, {} kept edges ({} merges); digest `{}`.",
            self.records, self.identity_records, self.devices, self.customers, self.edges, self.merges, self.digest
        );
        let _ = writeln_!(w, "");
        let _ = writeln_!(w, "| row | median time | per second | notes |");
        let _ = writeln_!(w, "| --- | --- | --- | --- |");
        for r in &self.rows {
            let rate = if r.records == 0 {
                "-".to_string()
            } else {
                fmt_rate(r.records as f64 / r.time.as_secs_f64().max(1e-9))
            };
            let _ = writeln_!(w, "| {} | {} | {} | {} |", r.name, fmt_time(r.time), rate, r.note);
        }
        for (producers, batched, run) in &self.ingest {
            let per_s = run.records as f64 / run.elapsed.as_secs_f64().max(1e-9);
            let _ = writeln_!(
                w,
                "| idres ingest, {producers} producer{}, {} | {} | {} | {} records, fdatasync per group commit; ack p50 {:.1} ms, p99 {:.1} ms; store caught up after {:.1} s ({:.0} profiles/s, {:.2} keys each) |",
                if *producers == 1 { "" } else { "s" },
                if *batched { "write_batch 512" } else { "single writes" },
                fmt_time(run.elapsed),
                fmt_rate(per_s),
                run.records,
                run.p50.as_secs_f64() * 1e3,
                run.p99.as_secs_f64() * 1e3,
                run.store_caught_up.as_secs_f64(),
                run.store_profiles_per_s,
                run.store_keys_written as f64 / run.store_profiles_written.max(1) as f64,
            );
        }
        let _ = writeln_!(w, "");
        let _ = writeln_!(w, "| ratio | value | target |");
        let _ = writeln_!(w, "| --- | --- | --- |");
        let _ = writeln_!(w, "| idres fold / decode only | {} | ≤ 1.5× |", self.ratio("idres fold", "decode only"));
        let _ = writeln_!(
            w,
            "| idres fold / bare union-find | {} | (the algorithm's share) |",
            self.ratio("idres fold", "bare union-find")
        );
        let _ = writeln_!(
            w,
            "| SQLite / idres identity-only fold | {} | ≥ 10× |",
            self.ratio("SQLite stitching", "idres fold, identity only")
        );
        let _ = writeln_!(w, "| SQLite / idres replay | {} | > 1× |", self.ratio("SQLite stitching", "idres replay"));
        let _ = writeln_!(
            w,
            "| idres replay (fjall) / idres fold | {} | ≤ 2.5× |",
            self.ratio("idres replay", "idres fold")
        );
        let _ = writeln_!(
            w,
            "| idres replay, sled store / idres fold | {} | (supported backend) |",
            self.ratio("idres replay, sled store", "idres fold")
        );
        if let Some(peak_rss) = self.peak_rss {
            let per_device = peak_rss as f64 / (self.devices.max(1) as f64);
            let _ = writeln_!(
                w,
                "| peak RSS of the fold per device node | {:.0} bytes ({} MiB / {} device nodes) | ≤ 150 bytes |",
                per_device,
                peak_rss >> 20,
                self.devices
            );
        }
        let _ = writeln_!(
            w,
            "| SQLite components = idres profiles | {} ({}) | identical |",
            if self.partitions_agree { "yes" } else { "**NO**" },
            self.partition_note
        );
        s
    }
}

fn fmt_time(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.1} ms", s * 1e3)
    }
}

fn fmt_rate(per_s: f64) -> String {
    if per_s >= 1e6 {
        format!("{:.2} M/s", per_s / 1e6)
    } else {
        format!("{:.0} k/s", per_s / 1e3)
    }
}

pub(crate) fn write_docs_section(md: &str) -> anyhow::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/PERFORMANCE.md");
    let text = fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let (Some(b), Some(e)) = (text.find(DOCS_BEGIN), text.find(DOCS_END)) else {
        bail!("{} lacks the markers {DOCS_BEGIN} / {DOCS_END}", path.display());
    };
    let new = format!("{}{DOCS_BEGIN}\n{md}{}", &text[..b], &text[e..]);
    fs::write(&path, new).with_context(|| format!("write {}", path.display()))?;
    eprintln!("wrote the table into {}", path.display());
    Ok(())
}
