//! A three-host lab in network namespaces: client ↔ router ↔ server.
//!
//! ```text
//!  client (c0)            router (r0 | r1)              server (s0)
//!  10.77.1.2/24  ───────  10.77.1.1 | 10.77.2.1  ──────  10.77.2.2/24
//!  fd77:1::2/64           fd77:1::1 | fd77:2::1          fd77:2::2/64
//! ```
//!
//! The router forwards between the two links; ward runs there, and the
//! test installs the nftables rules that steer traffic into it. Every
//! name is unique per lab, so tests run in parallel. Dropping the lab
//! kills what it started and deletes the namespaces.
//!
//! Needs root, `ip` and `nft`. Without them the tests that use a lab
//! fail with a clear message, unless `WARD_SKIP_NETNS=1` explicitly opts
//! out (they never pass silently).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const SERVER_V4: &str = "10.77.2.2";
pub const SERVER_V6: &str = "fd77:2::2";

/// nftables `redirect`, as docs/deploy-sni.md gives it: traffic from the
/// client link to ports 443 and 80 goes to ward's listeners; traffic to the
/// router's own addresses (the block page, DNS) is left alone. (ward's own
/// outbound connections leave through `output`, which has no rule here; the
/// mark matters when the host's own traffic is steered too.)
pub const REDIRECT_RULES: &str = r#"
table inet ward {
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        fib daddr type local return
        iifname "r0" tcp dport 443 redirect to :8443
        iifname "r0" tcp dport 80 redirect to :8080
    }
}
"#;

/// Whether the lab can be built here; `false`: explicitly skipped.
/// Panics with the reason when it cannot and the skip was not asked for.
pub fn available() -> bool {
    let skip = std::env::var_os("WARD_SKIP_NETNS").is_some();
    let root = nix_root();
    let tools = ["ip", "nft"].iter().all(|t| {
        Command::new(t)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    match (root && tools, skip) {
        (true, _) => true,
        (false, true) => {
            eprintln!("SKIPPED (WARD_SKIP_NETNS is set): network-namespace test");
            false
        }
        (false, false) => panic!(
            "this test needs root and the `ip` and `nft` tools (network namespaces, nftables); run the tests as root (CI does), or set WARD_SKIP_NETNS=1 to skip it explicitly"
        ),
    }
}

fn nix_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
}

/// The three namespaces and the processes started in them.
pub struct Lab {
    pub client: String,
    pub router: String,
    pub server: String,
    children: Vec<Child>,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Lab {
    /// Builds the namespaces, links, addresses and routes.
    pub fn new() -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("w{}x{n}", std::process::id());
        let lab = Self {
            client: format!("{tag}c"),
            router: format!("{tag}r"),
            server: format!("{tag}s"),
            children: Vec::new(),
        };
        for ns in [&lab.client, &lab.router, &lab.server] {
            run("ip", &["netns", "add", ns]);
            lab.ip(ns, &["link", "set", "lo", "up"]);
        }
        run(
            "ip",
            &[
                "link",
                "add",
                "c0",
                "netns",
                &lab.client,
                "type",
                "veth",
                "peer",
                "name",
                "r0",
                "netns",
                &lab.router,
            ],
        );
        run(
            "ip",
            &[
                "link",
                "add",
                "s0",
                "netns",
                &lab.server,
                "type",
                "veth",
                "peer",
                "name",
                "r1",
                "netns",
                &lab.router,
            ],
        );
        for (ns, dev, v4, v6) in [
            (&lab.client, "c0", "10.77.1.2/24", "fd77:1::2/64"),
            (&lab.router, "r0", "10.77.1.1/24", "fd77:1::1/64"),
            (&lab.router, "r1", "10.77.2.1/24", "fd77:2::1/64"),
            (&lab.server, "s0", "10.77.2.2/24", "fd77:2::2/64"),
        ] {
            lab.ip(ns, &["addr", "add", v4, "dev", dev]);
            lab.ip(ns, &["-6", "addr", "add", v6, "dev", dev, "nodad"]);
            lab.ip(ns, &["link", "set", dev, "up"]);
        }
        lab.ip(
            &lab.client,
            &["route", "add", "default", "via", "10.77.1.1"],
        );
        lab.ip(
            &lab.client,
            &["-6", "route", "add", "default", "via", "fd77:1::1"],
        );
        lab.ip(
            &lab.server,
            &["route", "add", "default", "via", "10.77.2.1"],
        );
        lab.ip(
            &lab.server,
            &["-6", "route", "add", "default", "via", "fd77:2::1"],
        );
        for key in [
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
        ] {
            lab.exec_ok(&lab.router.clone(), &["sysctl", "-q", "-w", key]);
        }
        lab
    }

    fn ip(&self, ns: &str, args: &[&str]) {
        let mut all = vec!["-n", ns];
        all.extend_from_slice(args);
        run("ip", &all);
    }

    /// Loads an nftables ruleset into `ns`.
    pub fn nft(&self, ns: &str, ruleset: &str) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ruleset.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "nft -f failed: {}\n{ruleset}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The tproxy policy routing: packets marked 1 are delivered locally.
    pub fn tproxy_routing(&self) {
        let r = self.router.clone();
        self.ip(&r, &["rule", "add", "fwmark", "1", "lookup", "100"]);
        self.ip(
            &r,
            &[
                "route",
                "add",
                "local",
                "0.0.0.0/0",
                "dev",
                "lo",
                "table",
                "100",
            ],
        );
        self.ip(&r, &["-6", "rule", "add", "fwmark", "1", "lookup", "100"]);
        self.ip(
            &r,
            &[
                "-6", "route", "add", "local", "::/0", "dev", "lo", "table", "100",
            ],
        );
    }

    /// Runs a command in `ns` to completion.
    pub fn exec(&self, ns: &str, args: &[&str]) -> Output {
        self.exec_in(ns, args, None)
    }

    /// Runs a command in `ns` with working directory `dir`.
    pub fn exec_in(&self, ns: &str, args: &[&str], dir: Option<&Path>) -> Output {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).args(args);
        if let Some(dir) = dir {
            cmd.current_dir(dir);
        }
        cmd.stdin(Stdio::null()).output().unwrap()
    }

    /// Like [`Lab::exec`], asserting success.
    pub fn exec_ok(&self, ns: &str, args: &[&str]) -> Output {
        let out = self.exec(ns, args);
        assert!(
            out.status.success(),
            "{args:?} in {ns} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Starts a long-running process in `ns`, killed when the lab drops.
    /// Its stdout and stderr go to `log`.
    pub fn spawn(&mut self, ns: &str, args: &[&str], dir: &Path, log: &Path) {
        let out = std::fs::File::create(log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        self.children.push(child);
    }

    /// Waits until a TCP connection from `ns` to `addr` (`host:port`)
    /// succeeds.
    pub fn wait_tcp(&self, ns: &str, host: &str, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let script = format!(
            "import socket,sys\ns=socket.create_connection(({host:?},{port}),timeout=1)\ns.close()"
        );
        while Instant::now() < deadline {
            if self.exec(ns, &["python3", "-c", &script]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{host}:{port} never accepted a connection from {ns}");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.client, &self.router, &self.server] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
