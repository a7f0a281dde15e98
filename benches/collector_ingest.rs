//! Benchmark of the collector's ingest without the network: signature
//! verification and parsing (`collector::ingest::verify`) and the SQLite
//! commit (WAL with `synchronous = FULL`): first one durable transaction
//! per report, then in batches as `collector::writer` commits them under
//! concurrent load; the same two on PostgreSQL when `WARD_TEST_POSTGRES`
//! is set.
//!
//! ```text
//! cargo bench --bench collector_ingest
//! WARD_BENCH_NODES=10000 WARD_BENCH_REPORTS=20000 cargo bench --bench collector_ingest
//! ```
//!
//! * `WARD_BENCH_NODES`: simulated nodes, each with its own key (default 1000).
//! * `WARD_BENCH_REPORTS`: reports ingested, round-robin over the nodes,
//!   consecutive windows per node (default 5000).
//! * `WARD_BENCH_BATCH`: reports per transaction in the group-commit pass
//!   (default 64).
//! * `WARD_BENCH_DIR`: where the database goes (default a temporary
//!   directory; the file system decides the fsync cost).
//!
//! * `WARD_TEST_POSTGRES`: also measure the same two commit passes on
//!   PostgreSQL at that URL (each pass in a fresh schema, dropped after).
//!
//! Not measured here: TLS, HTTP and concurrency (the end-to-end figure
//! with many connections is still to be done; see docs/collector.md).

use std::time::Instant;

use ed25519_dalek::SigningKey;
use jiff::{SignedDuration, Timestamp};
use ward::collector::ingest;
use ward::collector::postgres::{PostgresStore, redact};
use ward::collector::sqlite::SqliteStore;
use ward::collector::store::{Inserted, Storage};
use ward::config::registry::{RegisteredNode, Registry};
use ward::metrics::{CounterSnapshot, ReportChannel};
use ward::report::body;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn key(i: usize) -> SigningKey {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
    SigningKey::from_bytes(&seed)
}

fn main() {
    let nodes = env("WARD_BENCH_NODES", 1000);
    let reports = env("WARD_BENCH_REPORTS", 5000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var("WARD_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_owned());
    let keys: Vec<SigningKey> = (0..nodes).map(key).collect();
    let registry = Registry::from_nodes(
        keys.iter()
            .enumerate()
            .map(|(i, k)| RegisteredNode {
                isp_id: format!("isp-{}", i % 20),
                node_id: format!("node-{i}"),
                key: k.verifying_key(),
            })
            .collect(),
    );
    // Thirty categories, as a realistic list: some 3 KiB per report.
    let categories: std::collections::BTreeSet<String> =
        (0..30).map(|c| format!("category-{c}")).collect();
    let mut delta = CounterSnapshot {
        queries: 123_456,
        ..CounterSnapshot::default()
    };
    delta
        .blocked
        .insert(("category-1".into(), ReportChannel::Dns), 77);
    let base: Timestamp = "2026-11-29T00:00:00Z".parse().unwrap();
    let prepared: Vec<(String, Vec<u8>)> = (0..reports)
        .map(|i| {
            let n = i % nodes;
            let isp = format!("isp-{}", n % 20);
            let node = format!("node-{n}");
            let start = base + SignedDuration::from_mins(i64::try_from(i / nodes).unwrap());
            let w = body::Window {
                isp_id: &isp,
                node_id: &node,
                start,
                end: start + SignedDuration::from_mins(1),
                node_started_at: base,
                config_digest: "00",
                min_count: 5,
                list: None,
                categories: categories.clone(),
                activations: &[],
            };
            let b = body::build(&w, &delta).to_bytes();
            (ward::report::send::sign(&keys[n], &b), b)
        })
        .collect();
    let bytes: usize = prepared.iter().map(|(_, b)| b.len()).sum();

    let store = SqliteStore::open(&dir.join("bench-collector.db")).unwrap();
    let started = Instant::now();
    let mut verify_time = std::time::Duration::ZERO;
    for (sig, b) in &prepared {
        let t = Instant::now();
        let accepted = ingest::verify(Some(sig), b, &registry, Timestamp::now()).unwrap();
        verify_time += t.elapsed();
        assert!(matches!(
            store.insert_report(&accepted).unwrap(),
            Inserted::Stored { .. }
        ));
    }
    let total = started.elapsed();
    let per_s = |d: std::time::Duration| reports as f64 / d.as_secs_f64();
    println!(
        "collector ingest: {reports} reports ({} bytes avg) from {nodes} nodes",
        bytes / reports.max(1)
    );
    println!(
        "  verify+parse: {:.1} µs/report ({:.0}/s)",
        verify_time.as_secs_f64() * 1e6 / reports as f64,
        per_s(verify_time)
    );
    println!(
        "  commit:       {:.1} µs/report ({:.0}/s)",
        (total - verify_time).as_secs_f64() * 1e6 / reports as f64,
        per_s(total - verify_time)
    );
    println!(
        "  sequential total: {:.0} reports/s ({:.2} s)",
        per_s(total),
        total.as_secs_f64()
    );
    assert_eq!(store.report_count().unwrap(), reports as u64);

    // Group commit, as `collector::writer` does under concurrent load:
    // the same reports again (as new windows) in batches.
    let batch = env("WARD_BENCH_BATCH", 64);
    let store = SqliteStore::open(&dir.join("bench-collector-batched.db")).unwrap();
    let accepted: Vec<_> = prepared
        .iter()
        .map(|(sig, b)| ingest::verify(Some(sig), b, &registry, Timestamp::now()).unwrap())
        .collect();
    let started = Instant::now();
    for chunk in accepted.chunks(batch.max(1)) {
        store.insert_reports(chunk).unwrap();
    }
    let batched = started.elapsed();
    println!(
        "  commit in batches of {batch}: {:.1} µs/report ({:.0}/s)",
        batched.as_secs_f64() * 1e6 / reports as f64,
        per_s(batched)
    );
    assert_eq!(store.report_count().unwrap(), reports as u64);

    if let Ok(url) = std::env::var("WARD_TEST_POSTGRES") {
        postgres_passes(&url, &accepted, batch);
    }
}

/// The two commit passes on PostgreSQL, each in a fresh schema.
fn postgres_passes(url: &str, accepted: &[ward::collector::store::Accepted], batch: usize) {
    let reports = accepted.len();
    let per = |d: std::time::Duration| {
        format!(
            "{:.1} µs/report ({:.0}/s)",
            d.as_secs_f64() * 1e6 / reports as f64,
            reports as f64 / d.as_secs_f64()
        )
    };
    let pass = |name: &str, chunk: usize| {
        let schema = format!("ward_bench_{}_{name}", std::process::id());
        let mut admin = postgres::Client::connect(url, postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .unwrap();
        let sep = if url.contains('?') { '&' } else { '?' };
        let store =
            PostgresStore::open(&format!("{url}{sep}options=-c%20search_path%3D{schema}")).unwrap();
        let started = Instant::now();
        for part in accepted.chunks(chunk.max(1)) {
            store.insert_reports(part).unwrap();
        }
        let took = started.elapsed();
        assert_eq!(store.report_count().unwrap(), reports as u64);
        drop(store);
        admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .unwrap();
        took
    };
    println!("  PostgreSQL ({}):", redact(url));
    println!("  commit:       {}", per(pass("single", 1)));
    println!(
        "  commit in batches of {batch}: {}",
        per(pass("batched", batch))
    );
}
