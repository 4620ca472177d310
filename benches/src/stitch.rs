//! The baselines the fold is measured against: a bare union-find over a fold's kept edges, and
//! SQLite stitching (label propagation) over the same edges, with the check that SQLite's
//! components are exactly idres's profiles.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use idres_resolve::{EdgeKind, NodeRef, Resolver};

fn node_name(n: &NodeRef) -> String {
    match n {
        NodeRef::Device(d) => format!("uid:{}#{}", d.uid, d.epoch),
        NodeRef::Customer(c) => format!("cid:{c}"),
    }
}

/// The accepted, kept edges of a fold, interned to dense ids (keyed by the node itself, so no
/// two nodes can share an id): (node -> id, pairs, merge edges).
pub(crate) fn interned_edges(r: &Resolver) -> (HashMap<NodeRef, u32>, Vec<(u32, u32)>, usize) {
    let mut ids: HashMap<NodeRef, u32> = HashMap::new();
    let mut pairs = Vec::new();
    let mut merges = 0;
    let intern = |n: NodeRef, ids: &mut HashMap<NodeRef, u32>| -> u32 {
        let next = ids.len() as u32;
        *ids.entry(n).or_insert(next)
    };
    for (from, to, kind, _) in r.edges() {
        if kind == EdgeKind::Merge {
            merges += 1;
        }
        let a = intern(from, &mut ids);
        let b = intern(to, &mut ids);
        pairs.push((a, b));
    }
    (ids, pairs, merges)
}

/// Plain union-find (union by size, path halving) over pre-interned pairs: the algorithm's limit.
pub(crate) fn bare_union_find(nodes: usize, pairs: &[(u32, u32)]) -> Vec<u32> {
    let mut parent: Vec<u32> = (0..nodes as u32).collect();
    let mut size = vec![1u32; nodes];
    fn find(parent: &mut [u32], mut x: u32) -> u32 {
        while parent[x as usize] != x {
            let p = parent[x as usize];
            parent[x as usize] = parent[p as usize];
            x = parent[x as usize];
        }
        x
    }
    for &(a, b) in pairs {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            let (big, small) = if size[ra as usize] >= size[rb as usize] { (ra, rb) } else { (rb, ra) };
            parent[small as usize] = big;
            size[big as usize] += size[small as usize];
        }
    }
    (0..nodes as u32).map(|x| find(&mut parent, x)).collect()
}

/// What warehouse users run (dbt / RudderStack style identity stitching): the link pairs in
/// SQLite, connected components by iterated label propagation until nothing changes. Returns the
/// component label per node id and the number of iterations.
pub(crate) fn sqlite_stitch(path: &Path, pairs: &[(u32, u32)]) -> anyhow::Result<(HashMap<u32, i64>, u32)> {
    if path.exists() {
        fs::remove_file(path)?;
    }
    let mut db = rusqlite::Connection::open(path)?;
    db.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -262144;
         CREATE TABLE edges (a INTEGER NOT NULL, b INTEGER NOT NULL);",
    )?;
    {
        let tx = db.transaction()?;
        {
            let mut insert = tx.prepare("INSERT INTO edges (a, b) VALUES (?1, ?2)")?;
            for &(a, b) in pairs {
                insert.execute((a, b))?;
            }
        }
        tx.commit()?;
    }
    db.execute_batch(
        "CREATE INDEX edges_a ON edges (a); CREATE INDEX edges_b ON edges (b);
         CREATE TABLE label (node INTEGER PRIMARY KEY, comp INTEGER NOT NULL);
         INSERT INTO label (node, comp) SELECT a, a FROM edges UNION SELECT b, b FROM edges;",
    )?;
    let mut iterations = 0;
    loop {
        iterations += 1;
        let changed = db.execute(
            "UPDATE label SET comp = m.c FROM (
                 SELECT x AS node, MIN(c) AS c FROM (
                     SELECT e.a AS x, l.comp AS c FROM edges e JOIN label l ON l.node = e.b
                     UNION ALL
                     SELECT e.b AS x, l.comp AS c FROM edges e JOIN label l ON l.node = e.a
                 ) GROUP BY x
             ) AS m
             WHERE label.node = m.node AND m.c < label.comp",
            (),
        )?;
        if changed == 0 {
            break;
        }
    }
    let mut labels = HashMap::with_capacity(pairs.len());
    let mut q = db.prepare("SELECT node, comp FROM label")?;
    let rows = q.query_map((), |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))?;
    for row in rows {
        let (node, comp) = row?;
        labels.insert(u32::try_from(node)?, comp);
    }
    Ok((labels, iterations))
}

/// True if SQLite's components are exactly idres's profiles. Every node of every profile is
/// checked: a node in a profile of several nodes must be in SQLite (it has a kept edge) with the
/// same label as the rest of its profile; a node alone may be absent (no edge); no SQLite
/// component may span two profiles, and every node SQLite labelled must be in some profile.
pub(crate) fn same_partition(
    r: &Resolver,
    ids: &HashMap<NodeRef, u32>,
    labels: &HashMap<u32, i64>,
) -> anyhow::Result<(bool, String)> {
    let mut owner: HashMap<i64, uuid::Uuid> = HashMap::new();
    let (mut labelled, mut components) = (0usize, 0usize);
    for id in r.profile_ids() {
        let Some(p) = r.profile_by_id(id) else { continue };
        if p.id != id {
            continue; // a retired id: its nodes are checked with the survivor
        }
        let nodes: Vec<NodeRef> =
            p.cids.iter().cloned().map(NodeRef::Customer).chain(p.uids.iter().cloned().map(NodeRef::Device)).collect();
        let mut label = None;
        for n in &nodes {
            match ids.get(n).and_then(|i| labels.get(i)) {
                Some(&l) => {
                    labelled += 1;
                    if *label.get_or_insert(l) != l {
                        return Ok((
                            false,
                            format!("profile {} spans two SQLite components (at {})", p.id, node_name(n)),
                        ));
                    }
                }
                None if nodes.len() > 1 => {
                    return Ok((
                        false,
                        format!(
                            "{} is in profile {} of {} nodes but has no kept edge",
                            node_name(n),
                            p.id,
                            nodes.len()
                        ),
                    ))
                }
                None => {}
            }
        }
        if let Some(l) = label {
            components += 1;
            if owner.insert(l, p.id).is_some() {
                return Ok((false, format!("SQLite component {l} spans two profiles (one is {})", p.id)));
            }
        }
    }
    if labelled != labels.len() {
        return Ok((false, format!("SQLite labelled {} nodes, the profiles hold {labelled} of them", labels.len())));
    }
    Ok((true, format!("{components} components over {labelled} nodes")))
}
