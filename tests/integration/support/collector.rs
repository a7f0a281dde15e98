//! Runs the real `ward collector` binary and reads the address it logs.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::ward::START_WAIT;

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
        let logs = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
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

fn find_addr(logs: &str, marker: &str) -> Option<SocketAddr> {
    let at = logs.find(marker)? + marker.len();
    let rest = &logs[at..];
    let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    rest[..end].trim_end_matches(['"', ',']).parse().ok()
}
