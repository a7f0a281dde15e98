//! Runs the real `ward collector` binary and reads the address it logs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::ward::{START_WAIT, collect_stderr, find_addr};

/// A running `ward collector`.
pub struct Collector {
    child: Child,
    /// `https://localhost:PORT/v1/reports`, for a node's `report.url`.
    pub url: String,
    /// The SQLite database it stores into.
    pub db: PathBuf,
    logs: Arc<Mutex<String>>,
}

impl Collector {
    /// Writes `config` to `dir/collector.toml` and starts `ward collector`
    /// in `dir`; waits for its `listening for HTTPS on` line.
    pub fn start(dir: &Path, config: &str) -> Self {
        let path = dir.join("collector.toml");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(crate::util::ward_bin())
            .args(["collector", "--config"])
            .arg(&path)
            .current_dir(dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ward collector starts");
        let logs = collect_stderr(&mut child);
        let deadline = Instant::now() + START_WAIT;
        loop {
            let text = logs.lock().unwrap().clone();
            if let Some(addr) = find_addr(&text, "listening for HTTPS on ") {
                return Self {
                    child,
                    url: format!("https://localhost:{}/v1/reports", addr.port()),
                    db: dir.join("collector.db"),
                    logs,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(std::time::Duration::from_millis(100));
                panic!("collector exited with {status}\n{}", logs.lock().unwrap());
            }
            assert!(
                Instant::now() < deadline,
                "collector did not start:\n{text}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Sends SIGHUP (registry reload).
    pub fn hangup(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -HUP");
    }

    /// Waits until the logs contain `needle` `times` times.
    pub fn wait_for_log(&self, needle: &str, times: usize) {
        let deadline = Instant::now() + START_WAIT;
        while self.logs().matches(needle).count() < times {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the logs:\n{}",
                self.logs()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The PostgreSQL test database (`WARD_TEST_POSTGRES`), or `None` after a
/// skip line; with `WARD_REQUIRE_POSTGRES=1` a missing URL fails instead.
pub fn postgres_url() -> Option<String> {
    match std::env::var("WARD_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("WARD_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "WARD_REQUIRE_POSTGRES=1 but WARD_TEST_POSTGRES is not set"
            );
            eprintln!("skipped: set WARD_TEST_POSTGRES=postgres://USER:PASS@HOST/DB to run");
            None
        }
    }
}

/// Runs `f` on a thread of its own: the synchronous `postgres` client may
/// not run inside the tests' async runtime.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("the PostgreSQL thread"))
}

/// A schema of its own in the test database, dropped with its contents.
pub struct PgSchema {
    admin: String,
    name: String,
    /// The test URL with `search_path` set to the schema.
    pub url: String,
}

impl PgSchema {
    pub fn new(admin: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("ward_it_{}_{nanos}", std::process::id());
        off_runtime(|| {
            postgres::Client::connect(admin, postgres::NoTls)
                .unwrap()
                .batch_execute(&format!("CREATE SCHEMA {name}"))
                .unwrap();
        });
        let sep = if admin.contains('?') { '&' } else { '?' };
        Self {
            url: format!("{admin}{sep}options=-c%20search_path%3D{name}"),
            admin: admin.to_owned(),
            name,
        }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        off_runtime(|| {
            if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
            }
        });
    }
}
