//! A damaged store is rebuilt from the log, never a panic and never lost data: every file of the
//! store of each on-disk backend (fjall, sled) truncated, cut short, flipped or deleted, then the
//! engine opened (and `verify` run) on the damaged copy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use idres::{Engine, EngineConfig, FjallOptions, SledOptions, StoreBackend};
use idres_model::{Map, Profile, Value};

const CUSTOMERS: u64 = 25;

fn config(store: StoreBackend) -> EngineConfig {
    EngineConfig { segment_bytes: 1 << 20, snapshot_every_records: 0, store, ..EngineConfig::default() }
}

fn write(dir: &Path, store: StoreBackend) {
    let engine = Engine::open(dir, config(store)).unwrap();
    let mut last = None;
    for i in 0..3_000u64 {
        let dev = format!("dev-{}", i % 89);
        let t = if i % 7 == 0 {
            engine.identify(Some(&dev), &format!("c{}", (i / 7) % CUSTOMERS), Map::new()).unwrap()
        } else {
            let mut props = Map::new();
            props.insert("i".into(), Value::Int(i as i64));
            engine.track_uid(&dev, "view", props).unwrap()
        };
        last = Some(t);
    }
    let lsn = last.unwrap().wait().unwrap();
    engine.wait_stored(lsn).unwrap();
    engine.close().unwrap();
}

fn profiles(engine: &Engine) -> Vec<Option<Profile>> {
    let end = engine.stats().folded_lsn;
    engine.wait_stored(end - 1).unwrap();
    (0..CUSTOMERS)
        .map(|c| {
            let cid = format!("c{c}");
            let folded = engine.profile_by_cid(&cid).unwrap().map(|p| Profile { history: Vec::new(), ..p });
            assert_eq!(engine.stored_profile_by_cid(&cid).unwrap(), folded, "store and fold agree on {cid}");
            folded
        })
        .collect()
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Delete,
    TruncateTo(u64),
    Flip(u64),
}

fn damage(path: &Path, d: Damage) {
    match d {
        Damage::Delete => std::fs::remove_file(path).unwrap(),
        Damage::TruncateTo(n) => std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(n).unwrap(),
        Damage::Flip(at) => {
            let mut bytes = std::fs::read(path).unwrap();
            for b in bytes.iter_mut().skip(at as usize).take(8) {
                *b ^= 0x5a;
            }
            std::fs::write(path, bytes).unwrap();
        }
    }
}

/// fjall 3.1 reads a length from its version manifests (`keyspaces/N/vM`, `vM`) without a bound:
/// a flipped byte there can make it allocate tens of GB, which aborts the process (an allocation
/// failure is not a panic, and cannot be contained). Known, documented in docs/OPERATIONS.md and
/// left out here; truncating or deleting those files is still tested.
fn aborts_inside_fjall(store: &StoreBackend, file: &Path, d: Damage) -> bool {
    let manifest = file.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        n.strip_prefix('v').is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
    });
    matches!(store, StoreBackend::Fjall(_)) && manifest && matches!(d, Damage::Flip(_))
}

fn damaged_store_is_rebuilt(store: StoreBackend) {
    let tmp = tempfile::tempdir().unwrap();
    let clean = tmp.path().join("clean");
    write(&clean, store.clone());
    let before = {
        let engine = Engine::open(&clean, config(store.clone())).unwrap();
        let p = profiles(&engine);
        engine.close().unwrap();
        p
    };
    assert!(before.iter().flatten().count() >= 20);
    let mut store_files = Vec::new();
    files(&clean.join("store"), &mut store_files);
    assert!(!store_files.is_empty());
    let mut rebuilt = 0;
    let mut case = 0;
    for file in &store_files {
        let len = std::fs::metadata(file).unwrap().len();
        let mut damages = vec![Damage::Delete, Damage::TruncateTo(0)];
        if len > 0 {
            damages.extend((1..=5).map(|i| Damage::TruncateTo(len * i / 6)));
            damages.extend([Damage::Flip(len / 2), Damage::Flip(len / 5), Damage::Flip(len.saturating_sub(9))]);
        }
        for d in damages {
            if aborts_inside_fjall(&store, file, d) {
                continue;
            }
            case += 1;
            let copy = tmp.path().join(format!("case-{case}"));
            copy_dir(&clean, &copy);
            let rel = file.strip_prefix(&clean).unwrap();
            damage(&copy.join(rel), d);
            let what = format!("{} {} {d:?}", store.name(), rel.display());
            // verify: a report (or a typed error), never a panic.
            let verified = idres::verify(&copy, &Default::default(), &mut |_, _| {});
            if let Err(e) = &verified {
                assert!(!format!("{e:?}").contains("Panicked"), "{what}: {e:?}");
            }
            let engine = Engine::open(&copy, config(store.clone()))
                .unwrap_or_else(|e| panic!("{what}: a damaged store is rebuilt, not an error: {e:#?}"));
            if engine.open_report().store_rebuilt {
                rebuilt += 1;
            }
            assert_eq!(profiles(&engine), before, "{what}: the profiles after the open");
            engine.close().unwrap();
            std::fs::remove_dir_all(&copy).unwrap();
        }
    }
    assert!(rebuilt > 0, "{}: some damage was found and rebuilt ({case} cases)", store.name());
}

#[test]
fn a_damaged_fjall_store_is_rebuilt() {
    damaged_store_is_rebuilt(StoreBackend::Fjall(FjallOptions::default()));
}

#[test]
fn a_damaged_sled_store_is_rebuilt() {
    damaged_store_is_rebuilt(StoreBackend::Sled(SledOptions::default()));
}
