//! End-to-end ingest load on the real `ward collector` binary: simulated
//! nodes POST signed reports over HTTPS (rustls, HTTP/1.1 keep-alive) to a
//! collector on loopback, which verifies, group-commits and answers each
//! after its commit. Two phases:
//!
//! 1. **paced**: `WARD_BENCH_NODES` nodes reporting once per
//!    `WARD_BENCH_PERIOD` seconds (default 10,000 nodes every 60 s, i.e.
//!    167 reports/s), spread evenly, for `WARD_BENCH_SECONDS`: latency at
//!    the issue's national load;
//! 2. **flat out**: `WARD_BENCH_CONNECTIONS` concurrent connections
//!    posting back to back for `WARD_BENCH_SECONDS`: the sustained
//!    ceiling.
//!
//! Each prints reports acknowledged, reports/s, answer latency p50/p99/max
//! and the collector's CPU seconds per 1,000 reports (from
//! /proc/PID/stat). Every answer must be 200 `stored`: anything else
//! aborts the run.
//!
//! ```text
//! cargo bench --bench collector_load
//! WARD_BENCH_STORAGE=postgres://ward:ward@127.0.0.1/ward_bench cargo bench --bench collector_load
//! ```
//!
//! * `WARD_BENCH_STORAGE`: `sqlite` (default; a file in a temporary
//!   directory, or under `WARD_BENCH_DIR`) or a `postgres://` URL (an
//!   empty database: the run adds reports to it).
//! * `WARD_BENCH_CATEGORIES`: categories per report (default 30).
//!
//! Loopback only; bounded in count (nodes × windows prepared up front) and
//! time. Not a test: nothing here is asserted about speed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use jiff::{SignedDuration, Timestamp};
use ward::metrics::{CounterSnapshot, ReportChannel};
use ward::report::body;
use ward::report::send::{SIGNATURE_HEADER, sign};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn key(i: usize) -> SigningKey {
    let mut seed = [9u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
    SigningKey::from_bytes(&seed)
}

/// The collector's user+system CPU seconds so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces) start after ") ".
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 here.
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

struct Collector {
    child: Child,
    url: String,
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_collector(dir: &std::path::Path, storage: &str, keys: &[SigningKey]) -> Collector {
    let mut registry = String::new();
    for (i, k) in keys.iter().enumerate() {
        registry.push_str(&format!(
            "[[node]]\nisp_id = \"isp-{}\"\nnode_id = \"node-{i}\"\npublic_key = \"{}\"\n\n",
            i % 20,
            ward::keys::public_file_text(&k.verifying_key())
                .lines()
                .last()
                .unwrap_or_default()
        ));
    }
    std::fs::write(dir.join("registry.toml"), registry).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join("c.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("c.key"), cert.signing_key.serialize_pem()).unwrap();
    let storage = if storage == "sqlite" {
        "collector.db".to_owned()
    } else {
        storage.to_owned()
    };
    std::fs::write(
        dir.join("collector.toml"),
        format!(
            "listen = \"127.0.0.1:0\"\nregistry = \"registry.toml\"\nstorage = \"{storage}\"\n\
             report_interval = \"1m\"\n[tls]\ncert = \"c.pem\"\nkey = \"c.key\"\n[log]\nlevel = \"warn\"\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(["collector", "--config", "collector.toml"])
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ward collector starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening for HTTPS on ") {
                let rest = &line[at + "listening for HTTPS on ".len()..];
                let addr = rest.split_whitespace().next().unwrap_or("").to_owned();
                let _ = tx.send(addr);
            } else if !line.contains("INFO") {
                eprintln!("collector: {line}");
            }
        }
    });
    let addr: std::net::SocketAddr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the collector logs its address")
        .trim_matches('"')
        .parse()
        .unwrap();
    Collector {
        child,
        url: format!("https://localhost:{}/v1/reports", addr.port()),
    }
}

/// Reports prepared up front: node `i`'s window `w` is minute `w`.
struct Prepared {
    /// Per node, its next unsent window.
    next: Vec<AtomicUsize>,
    keys: Vec<SigningKey>,
    categories: std::collections::BTreeSet<String>,
    base: Timestamp,
}

impl Prepared {
    /// The signed body of `node`'s next window.
    fn take(&self, node: usize) -> (String, Vec<u8>) {
        let w = self.next[node].fetch_add(1, Ordering::Relaxed);
        let isp = format!("isp-{}", node % 20);
        let id = format!("node-{node}");
        let start = self.base + SignedDuration::from_mins(i64::try_from(w).unwrap_or(0));
        let window = body::Window {
            isp_id: &isp,
            node_id: &id,
            start,
            end: start + SignedDuration::from_mins(1),
            node_started_at: self.base,
            config_digest: "00",
            min_count: 5,
            list: None,
            categories: self.categories.clone(),
            activations: &[],
        };
        let mut delta = CounterSnapshot {
            queries: 123_456,
            ..CounterSnapshot::default()
        };
        delta
            .blocked
            .insert(("category-1".into(), ReportChannel::Dns), 77);
        let bytes = body::build(&window, &delta).to_bytes();
        (sign(&self.keys[node], &bytes), bytes)
    }
}

async fn post(http: &reqwest::Client, url: &str, prepared: &Prepared, node: usize) -> Duration {
    let (sig, bytes) = prepared.take(node);
    let t = Instant::now();
    let resp = http
        .post(url)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, sig)
        .body(bytes)
        .send()
        .await
        .expect("the collector answers");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert!(
        status == 200 && text.starts_with("stored"),
        "{status} {text}"
    );
    t.elapsed()
}

fn summary(label: &str, mut lat: Vec<Duration>, wall: Duration, cpu: f64, rss: f64) {
    lat.sort();
    let q = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let n = lat.len();
    println!(
        "{label}: {n} reports in {:.1} s = {:.0}/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; collector CPU {:.2} s ({:.3} s per 1,000 reports), RSS {rss:.0} MiB",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        q(0.5).as_secs_f64() * 1e3,
        q(0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        cpu,
        cpu * 1000.0 / n.max(1) as f64,
    );
}

fn main() {
    let nodes = env("WARD_BENCH_NODES", 10_000);
    let period = env("WARD_BENCH_PERIOD", 60);
    let seconds = env("WARD_BENCH_SECONDS", 30);
    let connections = env("WARD_BENCH_CONNECTIONS", 64);
    let storage = std::env::var("WARD_BENCH_STORAGE").unwrap_or_else(|_| "sqlite".into());
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var("WARD_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_owned());
    std::fs::create_dir_all(&dir).unwrap();
    let keys: Vec<SigningKey> = (0..nodes).map(key).collect();
    let collector = start_collector(&dir, &storage, &keys);
    let pid = collector.child.id();
    let prepared = Arc::new(Prepared {
        next: (0..nodes).map(|_| AtomicUsize::new(0)).collect(),
        keys,
        categories: (0..env("WARD_BENCH_CATEGORIES", 30))
            .map(|c| format!("category-{c}"))
            .collect(),
        base: "2026-01-01T00:00:00Z".parse().unwrap(),
    });
    println!(
        "collector_load: {nodes} nodes, storage {}, {} categories per report, {} CPUs",
        if storage == "sqlite" {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        prepared.categories.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut ca = reqwest::Client::builder()
            .https_only(true)
            .pool_max_idle_per_host(connections);
        ward::update::fetch::install_crypto();
        for cert in ward::update::fetch::read_ca_file(&dir.join("c.pem")).unwrap() {
            ca = ca.add_root_certificate(cert);
        }
        let http = ca.build().unwrap();
        let url = Arc::new(collector.url.clone());

        // Phase 1: paced, nodes/period reports per second.
        let rate = nodes as f64 / period as f64;
        let total = (rate * seconds as f64) as usize;
        let gap = Duration::from_secs_f64(1.0 / rate);
        let (cpu0, t0) = (cpu_seconds(pid), Instant::now());
        let mut tasks = Vec::with_capacity(total);
        for i in 0..total {
            let due = t0 + gap.mul_f64(i as f64);
            tokio::time::sleep_until(due.into()).await;
            let (http, url, p) = (http.clone(), Arc::clone(&url), Arc::clone(&prepared));
            tasks.push(tokio::spawn(async move {
                post(&http, &url, &p, i % nodes).await
            }));
        }
        let mut lat = Vec::with_capacity(total);
        for t in tasks {
            lat.push(t.await.unwrap());
        }
        summary(
            &format!("paced ({nodes} nodes every {period} s = {rate:.0}/s)"),
            lat,
            t0.elapsed(),
            cpu_seconds(pid) - cpu0,
            rss_mib(pid),
        );

        // Phase 2: flat out over `connections` connections.
        let deadline = Instant::now() + Duration::from_secs(seconds as u64);
        let counter = Arc::new(AtomicUsize::new(total));
        let (cpu0, t0) = (cpu_seconds(pid), Instant::now());
        let mut workers = Vec::new();
        for _ in 0..connections {
            let (http, url, p, counter) = (
                http.clone(),
                Arc::clone(&url),
                Arc::clone(&prepared),
                Arc::clone(&counter),
            );
            workers.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let i = counter.fetch_add(1, Ordering::Relaxed);
                    lat.push(post(&http, &url, &p, i % nodes).await);
                }
                lat
            }));
        }
        let mut lat = Vec::new();
        for w in workers {
            lat.extend(w.await.unwrap());
        }
        summary(
            &format!("flat out ({connections} connections)"),
            lat,
            t0.elapsed(),
            cpu_seconds(pid) - cpu0,
            rss_mib(pid),
        );
    });
}
