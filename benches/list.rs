//! Benchmark of the signed list: open-and-verify time, hashing throughput
//! and per-name lookup cost.
//!
//! ```text
//! cargo bench --bench list                      # standalone: builds 1M entries in memory
//! WARD_BENCH_LIST=bench/out/1m.ward WARD_BENCH_QUERIES=bench/out/1m.queries.tsv \
//!     cargo bench --bench list                  # an artifact made by bench/list.sh
//! ```
//!
//! Environment:
//!
//! * `WARD_BENCH_LIST`: artifact to open (with `ward::list::open_file`).
//! * `WARD_BENCH_QUERIES`: `CLASS<TAB>NAME` lines from `bench/gen-list.py`;
//!   CLASS is `blocked`, `confidential` or `allowed`.
//! * `WARD_BENCH_TRUST`: a `.pub` file; default: the embedded demo key.
//! * `WARD_BENCH_ENTRIES`: size of the standalone list (default 1000000).
//! * `WARD_BENCH_ROUNDS`: timed passes over each query class (default 5).
//! * `WARD_BENCH_OPEN_RUNS`: open-and-verify repetitions (default 10).
//!
//! Lookups are timed one by one with `Instant` around a single
//! `ListArtifact::lookup` call; the median cost of an empty timed region
//! (two back-to-back `Instant::now()`) is subtracted. Keys are built before
//! timing, and each key's bytes are read just before its lookup so that it
//! sits in L1 as it would in a resolver that has just built it. As a cross-check, batches of 16 lookups are timed too and the
//! batch time divided by 16; and whole passes give lookups per second.
//! Every lookup result is checked against its class, so a wrong list or
//! query file cannot produce plausible-looking numbers.
//!
//! The query classes are looked up in shuffled order, so at 1M-10M entries
//! most fst nodes a lookup touches are cold in the CPU caches: a worst case
//! for uniformly spread names. The "hot" rows repeat 1024 names of each
//! class, the cost for the popular names that dominate real traffic.
//! A breakdown section then replays a lookup's three steps (fst walk, keyed
//! suffix hashes, hashed-table probes) separately on the same bytes.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use ward::domain::{DomainName, NameKey};
use ward::list::{self, BuildOptions, Compiler, ListArtifact, TrustedKeys, Verified};

const CLASSES: [&str; 3] = ["blocked", "confidential", "allowed"];
const BATCH: usize = 16;

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}")),
        Err(_) => default,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes other
    // flags. Running under `cargo test` only smoke-tests a tiny list.
    let smoke = std::env::args().skip(1).all(|a| a != "--bench");
    let rounds = env_usize("WARD_BENCH_ROUNDS", if smoke { 1 } else { 5 });
    let open_runs = env_usize("WARD_BENCH_OPEN_RUNS", if smoke { 1 } else { 10 });

    let trust = trusted_keys();
    let (path, queries_path, _tmp) = match (
        std::env::var_os("WARD_BENCH_LIST"),
        std::env::var_os("WARD_BENCH_QUERIES"),
    ) {
        (Some(l), Some(q)) => (PathBuf::from(l), PathBuf::from(q), None),
        (None, None) => {
            let n = env_usize("WARD_BENCH_ENTRIES", if smoke { 20_000 } else { 1_000_000 });
            let dir = tempfile::tempdir().expect("temporary directory");
            let (l, q) = standalone(dir.path(), n);
            (l, q, Some(dir))
        }
        _ => panic!("set both WARD_BENCH_LIST and WARD_BENCH_QUERIES, or neither"),
    };

    println!("# ward list benchmark");
    println!("artifact: {}", path.display());
    println!("queries:  {}", queries_path.display());

    // Open and verify.
    let file_len = std::fs::metadata(&path).expect("artifact").len();
    // Bring the file into the page cache first: the target is about the
    // work after the bytes are on disk.
    drop(std::fs::read(&path).expect("read artifact"));
    let mut open_times = Vec::with_capacity(open_runs);
    let mut list = None;
    for _ in 0..open_runs {
        let t = Instant::now();
        let l = list::open_file(&path, &trust).expect("artifact must verify");
        open_times.push(t.elapsed());
        list = Some(black_box(l));
    }
    let list: Verified<ListArtifact> = list.expect("at least one open run");
    let m = list.manifest();
    println!(
        "list {} serial {}: {} rules, {} confidential records, {} bytes ({:.2} MiB), fst {:.2} MiB, hashed table {:.2} MiB",
        m.list_id,
        m.serial,
        m.entries,
        m.payload.hashed.count,
        file_len,
        mib(file_len),
        mib(m.payload.names.len),
        mib(m.payload.hashed.len),
    );
    open_times.sort();
    println!(
        "open+verify (file in page cache, {} runs): min {:.1} ms, median {:.1} ms, max {:.1} ms",
        open_runs,
        ms(open_times[0]),
        ms(open_times[open_times.len() / 2]),
        ms(*open_times.last().expect("runs")),
    );

    // `ward list verify` also walks every fst node and confidential record
    // (`deep_check`); the node runs that off the serving path.
    let mut deep = Vec::new();
    for _ in 0..open_runs.clamp(1, 3) {
        let t = Instant::now();
        list.deep_check().expect("deep check");
        deep.push(t.elapsed());
    }
    deep.sort();
    println!(
        "deep_check (every fst node and hashed record, as `ward list verify` runs it; {} runs): min {:.1} ms, median {:.1} ms",
        deep.len(),
        ms(deep[0]),
        ms(deep[deep.len() / 2]),
    );

    // Pure hashing throughput over the same bytes, in memory.
    let bytes = std::fs::read(&path).expect("read artifact");
    let mut best = Duration::MAX;
    for _ in 0..open_runs.clamp(1, 5) {
        let t = Instant::now();
        let d = Sha256::digest(black_box(&bytes));
        black_box(d);
        best = best.min(t.elapsed());
    }
    println!(
        "sha256 over the file (in memory, best of {}): {:.1} ms = {:.0} MiB/s",
        open_runs.clamp(1, 5),
        ms(best),
        mib(file_len) / best.as_secs_f64()
    );
    drop(bytes);

    // Queries.
    let queries = read_queries(&queries_path);
    let overhead = timer_overhead();
    println!(
        "timer overhead (median of empty Instant pairs): {} ns, subtracted from single-lookup samples",
        overhead
    );
    println!();
    println!(
        "| class | queries | labels (mean) | median ns | p90 ns | p99 ns | p99.9 ns | batch-16 median ns | batch-16 p99 ns | lookups/s (1 thread) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut all_keys = Vec::new();
    let mut hot_rows = Vec::new();
    for class in CLASSES {
        let keys: Vec<NameKey> = queries
            .iter()
            .filter(|(c, _)| c == class)
            .map(|(_, k)| k.clone())
            .collect();
        if keys.is_empty() {
            println!("| {class} | 0 | | | | | | | | |");
            continue;
        }
        check_results(&list, class, &keys);
        let labels =
            keys.iter().map(NameKey::label_count).sum::<usize>() as f64 / keys.len() as f64;

        // Warm-up pass (also faults in the mapped pages).
        for k in &keys {
            black_box(list.lookup(black_box(k)));
        }
        let mut single = Vec::with_capacity(keys.len() * rounds);
        let mut batched = Vec::with_capacity(keys.len() / BATCH * rounds);
        let mut pass = Duration::MAX;
        for _ in 0..rounds {
            for k in &keys {
                // A resolver looks a key up right after building it, so the
                // key is in L1; bring it there before timing.
                black_box(k.touch());
                let t = Instant::now();
                let r = list.lookup(black_box(k));
                let d = t.elapsed();
                black_box(r);
                single.push((d.as_nanos() as u64).saturating_sub(overhead));
            }
            for chunk in keys.chunks_exact(BATCH) {
                let t = Instant::now();
                for k in chunk {
                    black_box(list.lookup(black_box(k)));
                }
                batched.push(t.elapsed().as_nanos() as f64 / BATCH as f64);
            }
            let t = Instant::now();
            for k in &keys {
                black_box(list.lookup(black_box(k)));
            }
            pass = pass.min(t.elapsed());
        }
        single.sort_unstable();
        batched.sort_by(f64::total_cmp);
        let per_s = keys.len() as f64 / pass.as_secs_f64();
        println!(
            "| {class} | {} | {:.2} | {} | {} | {} | {} | {:.0} | {:.0} | {:.2} M |",
            keys.len(),
            labels,
            pct(&single, 50.0),
            pct(&single, 90.0),
            pct(&single, 99.0),
            pct(&single, 99.9),
            pct(&batched, 50.0),
            pct(&batched, 99.0),
            per_s / 1e6,
        );
        // The same class, but only 1024 names looked up over and over:
        // the cost when the list's paths for them are in cache, as for the
        // popular names that dominate real resolver traffic.
        let hot = &keys[..keys.len().min(1024)];
        let hot_t = time_each(hot, rounds * 20, overhead, |k| list.lookup(k));
        hot_rows.push(format!(
            "| {class} (hot: {} names repeated) | {} | {:.2} | {} | {} | {} | {} | | | {:.2} M |",
            hot.len(),
            hot.len() * rounds * 20,
            hot.iter().map(NameKey::label_count).sum::<usize>() as f64 / hot.len() as f64,
            pct(&hot_t, 50.0),
            pct(&hot_t, 90.0),
            pct(&hot_t, 99.0),
            pct(&hot_t, 99.9),
            // From the mean of the single-timed samples.
            1e3 / (hot_t.iter().sum::<u64>() as f64 / hot_t.len() as f64),
        ));
        all_keys.extend(keys);
    }
    for row in &hot_rows {
        println!("{row}");
    }

    // All classes interleaved in query-file order, as a resolver sees them.
    let mixed: Vec<&NameKey> = queries.iter().map(|(_, k)| k).collect();
    let mut pass = Duration::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        for k in &mixed {
            black_box(list.lookup(black_box(k)));
        }
        pass = pass.min(t.elapsed());
    }
    println!(
        "| mixed (file order) | {} | | | | | | | | {:.2} M |",
        mixed.len(),
        mixed.len() as f64 / pass.as_secs_f64() / 1e6
    );

    // For context: building a key from text, which the resolver does per
    // query before the lookup (not included above).
    let names: Vec<String> = all_keys
        .iter()
        .map(|k| NameKey::to_forward(k.as_bytes()))
        .collect();
    let t = Instant::now();
    for n in &names {
        black_box(NameKey::from_text(black_box(n.as_bytes())));
    }
    println!();
    println!(
        "key construction (NameKey::from_text, not in the lookup numbers): {:.0} ns/name",
        t.elapsed().as_nanos() as f64 / names.len() as f64
    );

    if std::env::var_os("WARD_BENCH_NO_BREAKDOWN").is_none() {
        breakdown(&path, &list, &queries, rounds.min(3), overhead);
    }
}

/// Where a lookup's time goes, replayed step by step on the same bytes
/// through the public `fst`, `filter`, `SuffixHasher` and `HashedTable`
/// APIs, each step timed on its own:
///
/// 1. screen: one filter hash (xxh3) per suffix of two or more labels and a
///    probe of the plaintext and confidential suffix filters (lists built
///    with the filter only);
/// 2. the fst walk, up to the deepest suffix the plaintext filter flagged
///    (the whole key without a filter);
/// 3. keyed BLAKE3 of the suffixes the confidential filter flagged (every
///    suffix without a filter), and
/// 4. the probes of the confidential table for those hashes.
///
/// A second table shows the same names without the filter: a full walk and
/// every suffix hashed, which is what a lookup cost before the filter.
fn breakdown(
    path: &Path,
    list: &ListArtifact,
    queries: &[(String, NameKey)],
    rounds: usize,
    overhead: u64,
) {
    use ward::list::filter::{self, Filter};
    use ward::list::hashed::{HashedTable, NameHash, SuffixHasher};

    let bytes = std::fs::read(path).expect("read artifact");
    let m = list.manifest();
    let payload_start = bytes.len() - m.payload.len as usize;
    let section = |offset: u64, len: u64| &bytes[payload_start + offset as usize..][..len as usize];
    let fst =
        fst::raw::Fst::new(section(m.payload.names.offset, m.payload.names.len)).expect("fst");
    let h = m.payload.hashed;
    let table =
        HashedTable::new(section(h.offset, h.len), h.count, h.bucket_bits).expect("hashed table");
    let mut salt = [0u8; 32];
    hex::decode_to_slice(&m.salt, &mut salt).expect("salt");
    let filters = m.payload.filter.map(|f| {
        let all = section(f.offset, f.len);
        let (p, s) = all.split_at(f.plain_blocks as usize * filter::BLOCK_BYTES);
        (
            Filter::new(p, f.plain_blocks).expect("plaintext filter"),
            Filter::new(s, f.secret_blocks).expect("confidential filter"),
            filter::seed_of(&salt),
        )
    });

    // Ends (exclusive) of each suffix of two or more labels.
    let suffix_ends = |key: &[u8]| -> Vec<usize> {
        key.iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'.')
            .map(|(i, _)| i + 1)
            .skip(1)
            .collect()
    };
    // Step 1: (fst walk limit, bit mask of confidential depths to check).
    let screen = |key: &[u8]| -> (usize, u128) {
        let Some((plain, secret, seed)) = &filters else {
            return (key.len(), u128::MAX);
        };
        let (mut limit, mut mask, mut depth) = (0, 0u128, 0u32);
        for (i, &b) in key.iter().enumerate() {
            if b != b'.' {
                continue;
            }
            depth += 1;
            if depth >= 2 {
                let (hp, hs) = filter::hashes(&key[..=i], *seed);
                if plain.may_contain(hp) {
                    limit = i + 1;
                }
                if depth < 128 && secret.may_contain(hs) {
                    mask |= 1 << depth;
                }
            }
        }
        (limit, mask)
    };
    // Step 2: the fst walk of `lookup_plain`; returns bytes consumed.
    let walk = |key: &[u8], limit: usize| -> (usize, Option<u64>) {
        if limit == 0 {
            // Nothing flagged: `lookup` skips the walk.
            return (0, None);
        }
        let mut node = fst.root();
        let mut out = fst::raw::Output::zero();
        let mut best = None;
        let mut depth = 0;
        for (i, &b) in key.iter().enumerate().take(limit) {
            let Some(ti) = node.find_input(b) else { break };
            let t = node.transition(ti);
            out = out.cat(t.out);
            node = fst.node(t.addr);
            depth = i + 1;
            if b == b'.' && node.is_final() {
                best = Some(out.cat(node.final_output()).value());
            }
        }
        (depth, best)
    };
    // Step 3: the keyed suffix hashes of `lookup_hashed` at `mask` depths.
    let hashes = |key: &[u8], mask: u128, out: &mut Vec<NameHash>| {
        if mask == 0 || h.count == 0 {
            // Nothing flagged or no table: `lookup` skips the hashing.
            return;
        }
        let mut hasher = SuffixHasher::new(&salt);
        let mut labels = 0;
        let mut start = 0;
        while let Some(dot) = key[start..].iter().position(|&b| b == b'.') {
            let end = start + dot + 1;
            hasher.update(&key[start..end]);
            labels += 1;
            if (2..128).contains(&labels) && mask & (1 << labels) != 0 {
                out.push(hasher.current());
            }
            start = end;
        }
    };

    println!();
    println!(
        "## breakdown: where lookup() spends its time (per name, single-timed, overhead subtracted)"
    );
    println!();
    println!(
        "suffix filter: {}",
        match m.payload.filter {
            Some(f) => format!(
                "yes, {:.2} MiB ({} plaintext + {} confidential blocks)",
                mib(f.len),
                f.plain_blocks,
                f.secret_blocks
            ),
            None => "no (list built without one): every step runs in full".into(),
        }
    );
    println!();
    println!(
        "| class | suffixes | screen median ns | fst bytes walked | fst walk median ns | fst walk p99 ns | BLAKE3 hashes | hashing median ns | table probes median ns | sum of medians ns | lookup() median ns |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut unfiltered_rows = Vec::new();
    for class in CLASSES {
        let keys: Vec<&[u8]> = queries
            .iter()
            .filter(|(c, _)| c == class)
            .map(|(_, k)| k.as_bytes())
            .collect();
        if keys.is_empty() {
            continue;
        }
        let n = keys.len() as f64;
        let suffixes = keys.iter().map(|k| suffix_ends(k).len()).sum::<usize>() as f64 / n;
        let screened: Vec<(usize, u128)> = keys.iter().map(|k| screen(k)).collect();
        let pairs: Vec<(&[u8], usize, u128)> = keys
            .iter()
            .zip(&screened)
            .map(|(k, &(l, m))| (*k, l, m))
            .collect();
        let full: Vec<(&[u8], usize, u128)> =
            keys.iter().map(|k| (*k, k.len(), u128::MAX)).collect();

        let screen_t = time_each(&keys, rounds, overhead, |k| screen(k));
        let mut rows = Vec::new();
        for (steps, with_screen) in [(&pairs, true), (&full, false)] {
            let walked = steps.iter().map(|(k, l, _)| walk(k, *l).0).sum::<usize>() as f64 / n;
            let walk_t = time_each(steps, rounds, overhead, |(k, l, _)| walk(k, *l));
            let mut buf = Vec::with_capacity(8);
            let hash_t = time_each(steps, rounds, overhead, |(k, _, m)| {
                buf.clear();
                hashes(k, *m, &mut buf);
                buf.len()
            });
            let per_name: Vec<Vec<NameHash>> = steps
                .iter()
                .map(|(k, _, m)| {
                    let mut v = Vec::new();
                    hashes(k, *m, &mut v);
                    v
                })
                .collect();
            let nhash = per_name.iter().map(Vec::len).sum::<usize>() as f64 / n;
            let probe_t = time_each(&per_name, rounds, overhead, |hs| {
                hs.iter().filter_map(|x| table.get(x)).count()
            });
            let screen_med = if with_screen { pct(&screen_t, 50.0) } else { 0 };
            rows.push((
                walked,
                pct(&walk_t, 50.0),
                pct(&walk_t, 99.0),
                nhash,
                pct(&hash_t, 50.0),
                pct(&probe_t, 50.0),
                screen_med,
            ));
        }
        let full_keys: Vec<NameKey> = queries
            .iter()
            .filter(|(c, _)| c == class)
            .map(|(_, k)| k.clone())
            .collect();
        let look_t = time_each(&full_keys, rounds, overhead, |k| list.lookup(k));
        let (walked, wm, w99, nh, hm, pm, sm) = rows[0];
        println!(
            "| {class} | {suffixes:.2} | {} | {walked:.1} of {:.1} | {wm} | {w99} | {nh:.2} | {hm} | {pm} | {} | {} |",
            if filters.is_some() {
                sm.to_string()
            } else {
                "-".into()
            },
            keys.iter().map(|k| k.len()).sum::<usize>() as f64 / n,
            sm + wm + hm + pm,
            pct(&look_t, 50.0),
        );
        let (walked, wm, w99, nh, hm, pm, _) = rows[1];
        unfiltered_rows.push(format!(
            "| {class} | {walked:.1} | {wm} | {w99} | {nh:.2} | {hm} | {pm} | {} |",
            wm + hm + pm
        ));
    }
    println!();
    println!("Without the filter (full fst walk, every suffix hashed), same names:");
    println!();
    println!(
        "| class | fst bytes walked | fst walk median ns | fst walk p99 ns | BLAKE3 hashes | hashing median ns | table probes median ns | sum of medians ns |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for row in unfiltered_rows {
        println!("{row}");
    }
}

/// Reads every byte of a query's key so that timing starts with it in L1.
trait Touch {
    fn touch(&self) -> u8;
}

impl Touch for NameKey {
    fn touch(&self) -> u8 {
        self.as_bytes().touch()
    }
}

impl Touch for &[u8] {
    fn touch(&self) -> u8 {
        self.iter().fold(0, |a, &b| a ^ b)
    }
}

impl Touch for (&[u8], usize, u128) {
    fn touch(&self) -> u8 {
        self.0.touch()
    }
}

impl Touch for Vec<ward::list::hashed::NameHash> {
    fn touch(&self) -> u8 {
        self.iter().flatten().fold(0, |a, &b| a ^ b)
    }
}

/// Times `f` on each item separately, `rounds` passes after one warm-up
/// pass; returns sorted per-call nanoseconds minus the timer overhead.
fn time_each<T: Touch, R>(
    items: &[T],
    rounds: usize,
    overhead: u64,
    mut f: impl FnMut(&T) -> R,
) -> Vec<u64> {
    for x in items {
        black_box(f(black_box(x)));
    }
    let mut v = Vec::with_capacity(items.len() * rounds);
    for _ in 0..rounds {
        for x in items {
            black_box(x.touch());
            let t = Instant::now();
            let r = f(black_box(x));
            let d = t.elapsed();
            black_box(r);
            v.push((d.as_nanos() as u64).saturating_sub(overhead));
        }
    }
    v.sort_unstable();
    v
}

fn mib(n: u64) -> f64 {
    n as f64 / (1024.0 * 1024.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn pct<T: Copy>(sorted: &[T], p: f64) -> T {
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Median cost of an empty timed region, in ns.
fn timer_overhead() -> u64 {
    let mut v: Vec<u64> = (0..200_000)
        .map(|_| {
            let t = Instant::now();
            black_box(());
            t.elapsed().as_nanos() as u64
        })
        .collect();
    v.sort_unstable();
    v[v.len() / 2]
}

fn trusted_keys() -> TrustedKeys {
    let key = match std::env::var_os("WARD_BENCH_TRUST") {
        Some(p) => ward::keys::read_public(Path::new(&p)).expect("WARD_BENCH_TRUST"),
        None => ward::keys::parse_public(list::DEMO_PUBLIC_KEY).expect("demo public key"),
    };
    [key].into_iter().collect()
}

fn read_queries(path: &Path) -> Vec<(String, NameKey)> {
    let f = std::fs::File::open(path).expect("query file");
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.expect("query file is UTF-8 text");
        let Some((class, name)) = line.split_once('\t') else {
            panic!("{}:{}: expected CLASS<TAB>NAME", path.display(), i + 1);
        };
        assert!(
            CLASSES.contains(&class),
            "{}:{}: unknown class {class:?}",
            path.display(),
            i + 1
        );
        let key = DomainName::parse(name)
            .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1))
            .key();
        out.push((class.to_owned(), key));
    }
    out
}

/// Every query must give the result its class promises.
fn check_results(list: &ListArtifact, class: &str, keys: &[NameKey]) {
    let wrong = keys
        .iter()
        .filter(|k| {
            let r = list.lookup(k);
            match class {
                "blocked" => !matches!(r, Some(m) if !m.confidential),
                "confidential" => !matches!(r, Some(m) if m.confidential),
                _ => r.is_some(),
            }
        })
        .count();
    assert_eq!(
        wrong,
        0,
        "{wrong} of {} {class} queries gave the wrong result: list and query file do not match",
        keys.len()
    );
}

// ---------------------------------------------------------------------------
// Standalone mode: a generated list built in memory with `Compiler`.

/// splitmix64: a tiny deterministic generator, enough for test data.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const TLDS: [&str; 10] = [
    "com", "com", "com", "com", "net", "vn", "vn", "com.vn", "org", "xyz",
];
const SUBS: [&str; 12] = [
    "www", "m", "cdn", "api", "img", "static", "app", "bet", "play", "login", "media", "s1",
];

/// The same construction as `bench/gen-list.py` (not byte-identical):
/// a bijection of the index spelled in consonant-vowel syllables, so base
/// labels are unique without a set.
fn base_label(i: u64, rng: &mut Rng) -> String {
    const C: &[u8] = b"bcdghklmnprstvzfjqwy";
    const V: &[u8] = b"aeiou";
    let mask = (1u64 << 34) - 1;
    let mut x = (i.wrapping_mul(0x9E37_79B1)) & mask;
    x ^= x >> 17;
    x = x.wrapping_mul(0x85EB_CA77) & mask;
    x ^= x >> 13;
    let mut s = String::new();
    let mut n = x + 1;
    while n > 0 {
        n -= 1;
        let syl = (n % 100) as usize;
        s.push(C[syl / 5] as char);
        s.push(V[syl % 5] as char);
        n /= 100;
    }
    if rng.below(100) < 45 && s.len() >= 4 {
        let cut = 2 * (1 + rng.below((s.len() / 2 - 1) as u64) as usize);
        s.insert(cut, '-');
    }
    if rng.below(100) < 40 {
        s.push_str(&rng.below(1000).to_string());
    }
    s
}

fn under(name: &str, rng: &mut Rng) -> String {
    let have = name.split('.').count();
    let want = 3 + rng.below(2) as usize;
    let extra = want.saturating_sub(have).max(1);
    let mut out = name.to_owned();
    for _ in 0..extra {
        out = format!("{}.{out}", rng.pick(&SUBS));
    }
    out
}

/// Writes a signed artifact and a query file for `n` generated entries.
fn standalone(dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    eprintln!("generating and building a {n}-entry list in memory (set WARD_BENCH_LIST to skip)");
    let per_class = 100_000.min(n / 10).max(1);
    let mut rng = Rng(42);
    let mut source = String::with_capacity(n * 32);
    let (mut plain, mut conf) = (Vec::new(), Vec::new());
    for i in 0..n as u64 {
        let mut name = format!("{}.{}", base_label(i, &mut rng), rng.pick(&TLDS));
        if rng.below(100) < 35 {
            name = format!("{}.{name}", rng.pick(&SUBS));
        }
        let cat = match rng.below(100) {
            0..35 => "adult",
            35..65 => "gambling",
            65..80 => "violence",
            80..95 => "drugs",
            _ => "csam",
        };
        let prefix = match rng.below(100) {
            0..5 => "=",
            5..15 => "*.",
            _ => "",
        };
        source.push_str(prefix);
        source.push_str(&name);
        source.push(' ');
        source.push_str(cat);
        source.push('\n');
        if prefix != "=" {
            if cat == "csam" {
                conf.push(name);
            } else if plain.len() < 4 * per_class {
                plain.push(name);
            }
        }
    }
    let mut queries = String::new();
    for (class, cands) in [("blocked", &plain), ("confidential", &conf)] {
        for _ in 0..per_class {
            let base = &cands[rng.below(cands.len() as u64) as usize];
            queries.push_str(&format!("{class}\t{}\n", under(base, &mut rng)));
        }
    }
    for j in 0..per_class as u64 {
        // Indexes past the list's: disjoint base labels.
        let name = format!("{}.{}", base_label(n as u64 + j, &mut rng), rng.pick(&TLDS));
        queries.push_str(&format!("allowed\t{}\n", under(&name, &mut rng)));
    }

    let key_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo.key");
    let key = ward::keys::read_secret(&key_path).expect("examples/demo.key");
    let now = jiff::Timestamp::now();
    let opts = BuildOptions {
        list_id: "bench".into(),
        serial: 1,
        issued_at: now,
        expires_at: now
            .checked_add(jiff::SignedDuration::from_hours(24 * 7))
            .expect("time"),
        confidential: ["csam".to_owned()].into_iter().collect(),
        min_age: Default::default(),
    };
    let t = Instant::now();
    let mut c = Compiler::new();
    c.add_source("<generated>", source.as_bytes())
        .expect("generated source");
    let (bytes, stats) = c.build(&opts, &key).expect("build");
    eprintln!(
        "built {} rules ({} confidential) in {:.2} s",
        stats.rules,
        stats.confidential_rules,
        t.elapsed().as_secs_f64()
    );
    let list_path = dir.join("standalone.ward");
    let q_path = dir.join("standalone.queries.tsv");
    std::fs::write(&list_path, bytes).expect("write artifact");
    std::fs::File::create(&q_path)
        .and_then(|mut f| f.write_all(queries.as_bytes()))
        .expect("write queries");
    (list_path, q_path)
}
