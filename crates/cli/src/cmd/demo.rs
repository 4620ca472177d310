//! `idres demo`: the main job. Generates a workload, ingests it into a fresh data directory and
//! summarises what the fold made of it.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use idres::{Engine, EngineConfig};
use idres_cli::gen::{write_ndjson, GenOptions};
use idres_cli::input::Format;
use idres_model::ProfileKind;

use crate::bad_input;
use crate::cmd::explain::print_explanation;
use crate::cmd::ingest::{ingest_one, Options, Source};
use crate::cmd::profile::print_profile;
use crate::cmd::sessions::print_sessions;
use crate::session::hex;

/// Marks a data directory the demo made (and may wipe on its next run).
const DEMO_MARKER: &str = ".idres-demo";

/// Runs the demo in `dir`.
pub(crate) fn run(dir: &Path, records: u64, seed: u64, progress: bool) -> anyhow::Result<()> {
    // A fresh data directory: the demo's own from an earlier run is wiped; anything else is kept.
    if dir.exists() {
        let empty = fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(false);
        if dir.join(DEMO_MARKER).exists() {
            fs::remove_dir_all(dir).with_context(|| format!("remove the earlier demo in {}", dir.display()))?;
        } else if !empty {
            return Err(bad_input(format!(
                "{} holds data the demo did not make; pass --data with a new directory",
                dir.display()
            )));
        }
    }
    fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    fs::write(dir.join(DEMO_MARKER), b"made by `idres demo`; the next demo run replaces this directory\n")?;
    let input = dir.join("demo-input.ndjson");
    let started = Instant::now();
    let opts = GenOptions { records, seed, uids: None };
    let mut w = BufWriter::new(fs::File::create(&input).with_context(|| format!("create {}", input.display()))?);
    let gen_stats = write_ndjson(&opts, &mut w)?;
    w.flush()?;
    let generated = started.elapsed();
    tell!("generated {records} records (seed {seed}) in {:.2} s: {}", generated.as_secs_f64(), input.display());
    tell!(
        "  {} identifies, {} events, {} attribute writes, {} resets, {} merges, {} unmerges, {} unlinks",
        gen_stats.identifies,
        gen_stats.events,
        gen_stats.attributes,
        gen_stats.resets,
        gen_stats.merges,
        gen_stats.unmerges,
        gen_stats.unlinks
    );
    let engine = Engine::open(dir, EngineConfig::default()).with_context(|| format!("open {}", dir.display()))?;
    let t = Instant::now();
    let opts = Options { format: Format::Native, skip_invalid: false, resume: false, progress, json: false };
    let s = ingest_one(&engine, dir, opts, &Source::File(input.clone()), &mut std::collections::BTreeSet::new())?;
    let secs = t.elapsed().as_secs_f64();
    tell!(
        "ingested {} records in {:.2} s ({:.0} records/s, durable: one fdatasync per batch)",
        s.records,
        secs,
        s.records as f64 / secs.max(1e-9)
    );
    let (profiles, customers, multi, implicit, rejections, merges, pick) = engine.read(|r| {
        let all = r.profiles();
        let customers = all.iter().filter(|p| p.kind == ProfileKind::Customer).count();
        let multi = all.iter().filter(|p| p.kind == ProfileKind::Customer && p.uids.len() > 1).count();
        // The customer with the most devices (ties: the smallest profile id), for the tour.
        let pick = all
            .iter()
            .filter(|p| p.kind == ProfileKind::Customer)
            .max_by(|a, b| a.uids.len().cmp(&b.uids.len()).then(b.id.cmp(&a.id)))
            .cloned();
        let merges = all.iter().filter(|p| p.cids.len() > 1).count();
        (all.len(), customers, multi, r.implicit_resets().len(), r.rejection_count(), merges, pick)
    });
    tell!("profiles        {profiles}");
    tell!("  customers     {customers} ({multi} with several devices: their anonymous pasts merged in)");
    tell!("  anonymous     {}", profiles - customers);
    tell!(
        "  merged cids   {merges} customers now hold more than one cid ({} operator merges, {} unmerges in the input)",
        gen_stats.merges,
        gen_stats.unmerges
    );
    tell!("implicit resets {implicit} (a second login on a device without a logout)");
    tell!("rejections      {rejections} (blocked placeholder ids and refused operator records; `idres rejects`)");
    let mut out = BufWriter::new(std::io::stdout().lock());
    if crate::output::quiet() {
        // What is left to say under --quiet: the one line a script compares.
        writeln!(out, "digest {}", hex(&engine.digest()))?;
        out.flush()?;
        drop(out);
        engine.close()?;
        return Ok(());
    }
    if let Some(p) = pick {
        writeln!(out, "\none multi-device customer:")?;
        print_profile(&mut out, &p)?;
        if let Some(cid) = &p.primary_cid {
            let sessions = engine.read(|r| r.sessions_by_cid(cid)).unwrap_or_default();
            const SHOWN: usize = 5;
            writeln!(
                out,
                "\nits sessions (`idres sessions --cid {cid}`{}):",
                if sessions.len() > SHOWN {
                    format!(", the first {SHOWN} of {}", sessions.len())
                } else {
                    String::new()
                }
            )?;
            print_sessions(&mut out, &sessions[..sessions.len().min(SHOWN)])?;
        }
        if let Some(d) = p.uids.last() {
            if let Some(e) = engine.read(|r| r.explain_uid(&d.uid)) {
                writeln!(out, "\nwhy {} belongs to it (`idres explain --uid {}`):", d.uid, d.uid)?;
                print_explanation(&mut out, &e)?;
            }
        }
    }
    writeln!(out, "\ndigest {}", hex(&engine.digest()))?;
    writeln!(
        out,
        "\nthe data directory is {}; try: idres --data {} explain --cid <cid>, verify, export",
        dir.display(),
        dir.display()
    )?;
    out.flush()?;
    drop(out);
    engine.close()?;
    Ok(())
}
