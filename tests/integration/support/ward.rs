//! Runs the real `ward serve` binary and reads the addresses it logs.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;

/// How long a test waits for ward to start or log something.
pub const START_WAIT: Duration = Duration::from_secs(20);

/// A running `ward serve`.
pub struct Ward {
    child: Child,
    pub dns: SocketAddr,
    pub tcp: SocketAddr,
    pub admin: Option<SocketAddr>,
    logs: Arc<Mutex<String>>,
}

impl Ward {
    /// Starts `ward serve --config CONFIG` in `dir` and waits until it
    /// logs its UDP, TCP (and admin, if `admin`) addresses.
    pub fn start(dir: &Path, config: &str, admin: bool) -> Self {
        Self::try_start(dir, config, admin)
            .unwrap_or_else(|logs| panic!("ward did not start:\n{logs}"))
    }

    /// Like [`Ward::start`], but returns the logs if ward exits or never
    /// gets ready.
    pub fn try_start(dir: &Path, config: &str, admin: bool) -> Result<Self, String> {
        Self::try_start_with_env(dir, config, admin, &[])
    }

    /// Like [`Ward::try_start`], with extra environment variables.
    pub fn try_start_with_env(
        dir: &Path,
        config: &str,
        admin: bool,
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        Self::try_start_wrapped(dir, config, admin, env, &[])
    }

    /// Starts `ward serve` in network namespace `ns` (`ip netns exec`,
    /// which execs ward: the child's pid is ward's).
    pub fn start_in_netns(dir: &Path, config: &str, ns: &str) -> Self {
        Self::try_start_wrapped(dir, config, true, &[], &["ip", "netns", "exec", ns])
            .unwrap_or_else(|logs| panic!("ward did not start in {ns}:\n{logs}"))
    }

    fn try_start_wrapped(
        dir: &Path,
        config: &str,
        admin: bool,
        env: &[(&str, &str)],
        wrapper: &[&str],
    ) -> Result<Self, String> {
        let path = dir.join("ward.toml");
        std::fs::write(&path, config).unwrap();
        let bin = crate::util::ward_bin();
        let mut command = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let mut child = command
            .args(["serve", "--config"])
            .arg(&path)
            .current_dir(dir)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ward starts");
        let logs = collect_stderr(&mut child);
        let deadline = Instant::now() + START_WAIT;
        loop {
            let text = logs.lock().unwrap().clone();
            let udp = find_addr(&text, "listening for UDP on ");
            let tcp = find_addr(&text, "listening for TCP on ");
            let adm = find_addr(&text, "admin listening on ");
            if let (Some(dns), Some(tcp)) = (udp, tcp)
                && (!admin || adm.is_some())
            {
                return Ok(Self {
                    child,
                    dns,
                    tcp,
                    admin: adm,
                    logs,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                return Err(format!("exited with {status}\n{}", logs.lock().unwrap()));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("no listening lines\n{text}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Waits until the logs contain `needle`.
    pub fn wait_for_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + START_WAIT;
        while Instant::now() < deadline {
            if self.logs().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Sends a signal by name (`HUP`, `TERM`).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + START_WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Ward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Collects the child's standard error (piped) line by line, on a thread,
/// into the returned buffer.
pub fn collect_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    let logs = Arc::new(Mutex::new(String::new()));
    let Some(stderr) = child.stderr.take() else {
        return logs;
    };
    let sink = Arc::clone(&logs);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut l = sink.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    });
    logs
}

/// The address logged after `marker` (the first one).
pub fn find_addr(logs: &str, marker: &str) -> Option<SocketAddr> {
    let at = logs.find(marker)? + marker.len();
    let rest = &logs[at..];
    let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    rest[..end].trim_end_matches(['"', ',']).parse().ok()
}

/// A signed test list in `dir`: `list.ward`, signed by `key`, trusted via
/// `list.pub`. Returns the artifact path.
pub fn write_list(dir: &Path, key: &SigningKey, serial: u64, source: &str) -> PathBuf {
    let now = jiff::Timestamp::now();
    let week = jiff::SignedDuration::from_hours(24 * 7);
    write_list_as(dir, key, "test-national", serial, (now, now + week), source)
}

/// [`write_list`] with another list id and validity period (`issued_at`,
/// `expires_at`).
pub fn write_list_as(
    dir: &Path,
    key: &SigningKey,
    list_id: &str,
    serial: u64,
    (issued_at, expires_at): (jiff::Timestamp, jiff::Timestamp),
    source: &str,
) -> PathBuf {
    let opts = ward::list::BuildOptions {
        list_id: list_id.into(),
        serial,
        issued_at,
        expires_at,
        confidential: ["csam".to_string()].into_iter().collect(),
        min_age: Default::default(),
    };
    let (bytes, _) =
        ward::list::build::build_from_str(source, &opts, key).expect("test list builds");
    let path = dir.join("list.ward");
    ward::fsx::write_atomic(&path, &bytes, 0o644, true).unwrap();
    std::fs::write(
        dir.join("list.pub"),
        ward::keys::public_file_text(&key.verifying_key()),
    )
    .unwrap();
    path
}

/// The standard test list.
pub const TEST_LIST: &str = "\
blocked.test        adult
tracker.test        ads
=exact.example.test violence
secret.test         csam
";
