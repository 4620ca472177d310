//! An arbitrary directory image of segment files: `Log::open` never panics; when it opens, every
//! record reads back or the read names damage, an append works, and a second open is clean.
#![no_main]

use idres_log::format::SegmentHeader;
use idres_log::{BatchBuilder, Durability, Log, LogOptions};
use libfuzzer_sys::fuzz_target;

fn opts() -> LogOptions {
    LogOptions { segment_bytes: 4096, frame_payload_bytes_max: 2048, durability: Durability::Never, ..LogOptions::default() }
}

fuzz_target!(|data: &[u8]| {
    let Some((&nfiles, mut rest)) = data.split_first() else { return };
    let dir = match tempfile::Builder::new().prefix("idres-fuzz").tempdir_in("/dev/shm") {
        Ok(d) => d,
        Err(_) => match tempfile::tempdir() {
            Ok(d) => d,
            Err(_) => return,
        },
    };
    let log_id = [7u8; 16];
    let mut base = 0u64;
    for seq in 0..(nfiles % 4) as u64 + 1 {
        if rest.len() < 3 {
            break;
        }
        let flags = rest[0];
        let len = u16::from_le_bytes([rest[1], rest[2]]) as usize % 4096;
        rest = &rest[3..];
        let body = &rest[..len.min(rest.len())];
        rest = &rest[body.len()..];
        let mut file = Vec::new();
        // Most images get a valid header so that frame recovery is exercised, not just header checks.
        if flags & 1 == 0 {
            // Now and then a header that lies: a huge sequence or base LSN, another log, another codec.
            let odd = if flags & 0x80 != 0 { body.first().copied().unwrap_or(0) } else { 0 };
            let header = SegmentHeader {
                codec_id: u16::from(odd & 1),
                segment_seq: if odd & 2 != 0 { u64::MAX - u64::from(odd >> 4) } else { seq },
                base_lsn: if odd & 4 != 0 { u64::MAX - u64::from(odd >> 4) } else { base },
                log_id: if odd & 8 != 0 { [odd; 16] } else { log_id },
            };
            file.extend_from_slice(&header.encode());
        }
        if flags & 2 == 0 {
            file.extend_from_slice(body);
        } else {
            // Valid frames built from the body (records of up to 31 bytes), then damaged: a cut
            // and one flipped byte, both chosen by the body's first bytes.
            let mut lsn = base;
            let mut chunks = body.chunks(32);
            let ctl = chunks.next().unwrap_or(&[]);
            for chunk in chunks {
                let n = (chunk[0] % 3 + 1) as usize;
                let recs: Vec<&[u8]> = chunk[1..].chunks(31 / n + 1).take(n).collect();
                idres_log::format::encode_frame(
                    &mut file,
                    lsn,
                    1,
                    recs.len() as u32,
                    recs.iter().map(|r| r.len() as u32),
                    recs.iter().copied(),
                );
                lsn += recs.len() as u64;
            }
            let pick = |i: usize| ctl.get(i).map_or(0usize, |&b| b as usize);
            if pick(0) & 1 == 1 && file.len() > 64 {
                let at = 64 + (pick(1) << 8 | pick(2)) % (file.len() - 64);
                file[at] ^= (pick(3) as u8) | 1;
            }
            if pick(0) & 2 == 2 && file.len() > 64 {
                let cut = 64 + (pick(4) << 8 | pick(5)) % (file.len() - 64);
                file.truncate(cut);
            }
            file.extend(std::iter::repeat_n(0u8, pick(6) * 8));
        }
        let name = format!("{base:020}.seg");
        if std::fs::write(dir.path().join(name), &file).is_err() {
            return;
        }
        base += u64::from(flags >> 1) + 1;
    }
    let Ok(mut log) = Log::open(dir.path(), opts()) else { return };
    let end = log.next_lsn();
    if let Ok(mut reader) = log.reader(0) {
        let mut next = 0u64;
        let res = reader.for_each_record(|lsn, _| {
            assert!(lsn >= next && lsn < end, "LSN {lsn} out of order or past the end {end}");
            next = lsn + 1;
        });
        if res.is_ok() && end > 0 {
            let first = log.segments().first().map_or(0, |s| s.header.base_lsn);
            assert_eq!(next.max(first), end, "a clean read must reach the end");
        }
    }
    let mut b = BatchBuilder::new(1);
    let _ = b.push(b"fuzz");
    let appended = log.append(&b).map(|a| a.end_lsn);
    drop(log);
    let reopened = Log::open(dir.path(), opts()).expect("a log that opened once must open again");
    if let Ok(e) = appended {
        assert_eq!(reopened.next_lsn(), e);
    }
    // Stray bytes past a sealed segment's frames are not data and are left as they are: their
    // warning repeats on every open. Anything else would be recovery the first open left undone.
    let redone: Vec<_> = reopened
        .recovery()
        .iter()
        .filter(|e| !matches!(e, idres_log::RecoveryEvent::StrayBytesAfterSeal { .. }))
        .collect();
    assert!(redone.is_empty(), "second open needed recovery: {redone:?}");
});
