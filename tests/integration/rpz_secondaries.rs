//! BIND 9 and PowerDNS Recursor (Debian's) as RPZ secondaries of the
//! `[rpz]` feed of `ward serve`, with TSIG, asked with real `dig` and
//! judged by `ward probe`.
//!
//! The lab (`support::netns::Lab`), one per test:
//!
//! ```text
//!  client ns 10.77.1.2         router ns                 server ns 10.77.2.2
//!  secondary, right key  ───  ward: feed on      ───  authority for example. (named, :5399)
//!  (outside allow_transfer)    10.77.2.1:5300          secondary, right key  (:53)
//!                              allow_transfer          secondary, wrong key  (:5301)
//!                              10.77.2.0/24
//! ```
//!
//! The authority stands for the internet: every name under `example.`
//! resolves to 192.0.2.10, so an NXDOMAIN from a secondary is its RPZ at
//! work. [`SecondaryLab`] and [`Secondary`] return handles so that more
//! checks (a new list, NOTIFY, IXFR) can drive the same secondaries.
//!
//! Skips when `named` (bind9) or `pdns_recursor` (pdns-recursor) is
//! missing, unless `WARD_REQUIRE_BIND` / `WARD_REQUIRE_PDNS_RECURSOR` is
//! set (CI sets both); the PowerDNS test also needs `named` as its
//! authority.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::serve::key;
use crate::support::netns::{self, Lab, SERVER_V4};
use crate::support::ward::{Ward, write_list};
use crate::util::ward_bin;

/// The feed's key: a base64 secret of 32 bytes.
pub const SECRET: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
/// Another key, under the same name.
pub const WRONG_SECRET: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";
/// The feed's address, on the router's side of the server link.
pub const FEED: &str = "10.77.2.1:5300";
/// Where the authority for `example.` answers (in the server namespace).
pub const AUTHORITY_PORT: u16 = 5399;
/// The address every name under `example.` resolves to.
pub const RESOLVED: &str = "192.0.2.10";
/// The first list's serial.
pub const SERIAL: u64 = 2026120701;
/// How long a secondary may take to transfer the zone or give up.
const WAIT: Duration = Duration::from_secs(30);

/// A listed subtree, an exact rule, a confidential rule, the canary of
/// `serial`, and enough names for a transfer of several messages.
pub fn source(serial: u64) -> String {
    let mut s = format!(
        "bad.example adult\n=exact.example adult\nsecret.example csam\n=s{serial}.canary.example canary\n"
    );
    for i in 0..3000 {
        writeln!(s, "n{i}.filler{}.example gambling", i % 40).unwrap();
    }
    s
}

/// Whether `bin` runs; if not: a panic when any of `require` is set in
/// the environment, else `false` and a SKIPPED line.
fn installed(bin: &str, version_flag: &str, package: &str, require: &[&str]) -> bool {
    if Command::new(bin).arg(version_flag).output().is_ok() {
        return true;
    }
    if let Some(var) = require.iter().find(|v| std::env::var_os(v).is_some()) {
        panic!("{bin} is not installed (apt-get install {package}) and {var} is set");
    }
    eprintln!("SKIPPED: {bin} is not installed (apt-get install {package})");
    false
}

/// The resolvers tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bind,
    PowerDns,
}

/// A running secondary: a resolver that takes `child.rpz` from the feed
/// and enforces it, listening on 127.0.0.1 and its namespace's link
/// address at `port`.
#[derive(Debug)]
pub struct Secondary {
    pub kind: Kind,
    pub ns: String,
    /// Its namespace's link address and port (where a NOTIFY would go).
    pub addr: SocketAddr,
    pub dir: PathBuf,
}

impl Secondary {
    /// Writes the configuration of a `kind` secondary of [`FEED`] with
    /// the TSIG secret `secret` into `dir`, starts it in `ns` and waits
    /// until it listens. Allowed names are forwarded to the authority.
    pub fn start(
        lab: &mut Lab,
        kind: Kind,
        ns: &str,
        addr: SocketAddr,
        dir: &Path,
        secret: &str,
    ) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let (ip, port) = (addr.ip(), addr.port());
        let (primary_ip, primary_port) = FEED.split_once(':').unwrap();
        let d = dir.display();
        let args: Vec<String> = match kind {
            Kind::Bind => {
                let conf = format!(
                    r#"options {{
    directory "{d}";
    pid-file none;
    lock-file none;
    session-keyfile none;
    listen-on port {port} {{ 127.0.0.1; {ip}; }};
    listen-on-v6 {{ none; }};
    recursion yes;
    allow-query {{ any; }};
    allow-recursion {{ any; }};
    dnssec-validation no;
    max-cache-size 16m;
    forwarders {{ {SERVER_V4} port {AUTHORITY_PORT}; }};
    forward only;
    notify no;
    response-policy {{ zone "child.rpz" min-update-interval 0; }};
}};
controls {{ }};
key "feed-key" {{
    algorithm hmac-sha256;
    secret "{secret}";
}};
zone "child.rpz" {{
    type secondary;
    primaries {{ {primary_ip} port {primary_port} key "feed-key"; }};
    file "child.rpz.db";
    masterfile-format text;
    allow-query {{ localhost; }};
}};
"#
                );
                let path = dir.join("named.conf");
                std::fs::write(&path, conf).unwrap();
                [
                    "named",
                    "-g",
                    "-4",
                    "-n",
                    "1",
                    "-c",
                    &path.display().to_string(),
                ]
                .map(String::from)
                .to_vec()
            }
            Kind::PowerDns => {
                std::fs::write(
                    dir.join("recursor.conf"),
                    format!(
                        "local-address=127.0.0.1, {ip}
local-port={port}
allow-from=127.0.0.0/8
forward-zones=example={SERVER_V4}:{AUTHORITY_PORT}
dnssec=off
daemon=no
disable-syslog=yes
loglevel=6
threads=1
security-poll-suffix=
socket-dir={d}
lua-config-file={d}/rpz.lua
"
                    ),
                )
                .unwrap();
                std::fs::write(
                    dir.join("rpz.lua"),
                    format!(
                        r#"rpzPrimary({{"{FEED}"}}, "child.rpz.", {{
  tsigname = "feed-key.",
  tsigalgo = "hmac-sha256",
  tsigsecret = "{secret}",
  dumpFile = "{d}/child.rpz.dump",
}})
"#
                    ),
                )
                .unwrap();
                vec!["pdns_recursor".into(), format!("--config-dir={d}")]
            }
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        lab.spawn(ns, &args, dir, &dir.join("log"));
        lab.wait_tcp(ns, "127.0.0.1", port);
        Self {
            kind,
            ns: ns.to_owned(),
            addr,
            dir: dir.to_path_buf(),
        }
    }

    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.join("log")).unwrap_or_default())
            .into_owned()
    }

    /// `dig` at the secondary: the whole text.
    pub fn dig(&self, lab: &Lab, args: &[&str]) -> String {
        let port = self.addr.port().to_string();
        let mut all = vec!["dig", "+time=2", "+tries=1", "@127.0.0.1", "-p", &port];
        all.extend_from_slice(args);
        String::from_utf8_lossy(&lab.exec(&self.ns, &all).stdout).into_owned()
    }

    /// The status word and the A records of the answer for `name`.
    pub fn resolve(&self, lab: &Lab, name: &str) -> (String, Vec<String>) {
        let text = self.dig(lab, &[name, "A"]);
        let status = text
            .split("status: ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .unwrap_or("none")
            .to_owned();
        let answers = text
            .lines()
            .filter(|l| !l.starts_with(';'))
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() == 5 && f[3] == "A").then(|| f[4].to_owned())
            })
            .collect();
        (status, answers)
    }

    /// The serial of the RPZ the secondary holds: BIND answers for the
    /// zone it is a secondary of; PowerDNS Recursor writes what it took
    /// to its `dumpFile`. `None`: no zone.
    pub fn serial(&self, lab: &Lab) -> Option<u64> {
        let soa = match self.kind {
            Kind::Bind => self.dig(lab, &["+short", "child.rpz", "SOA"]),
            Kind::PowerDns => std::fs::read_to_string(self.dir.join("child.rpz.dump"))
                .unwrap_or_default()
                .lines()
                .find(|l| l.contains(" SOA "))
                .unwrap_or_default()
                .to_owned(),
        };
        // MNAME RNAME SERIAL …, after the owner, class and type in a dump.
        let fields: Vec<&str> = soa.split_whitespace().collect();
        let at = fields.iter().position(|f| *f == "SOA").map_or(2, |i| i + 3);
        fields.get(at)?.parse().ok()
    }

    /// Waits until the secondary holds the zone of `serial`.
    pub fn wait_serial(&self, lab: &Lab, serial: u64) {
        let deadline = Instant::now() + WAIT;
        while self.serial(lab) != Some(serial) {
            assert!(
                Instant::now() < deadline,
                "{:?} never held serial {serial} (has {:?}):\n{}",
                self.kind,
                self.serial(lab),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `ward probe` from the secondary's namespace: exit code and JSON.
    pub fn probe(&self, lab: &Lab, list_dir: &Path) -> (i32, serde_json::Value) {
        let resolver = format!("127.0.0.1:{}", self.addr.port());
        let list = list_dir.join("list.ward");
        let trust = list_dir.join("list.pub");
        let bin = ward_bin();
        let out = lab.exec(
            &self.ns,
            &[
                bin.to_str().unwrap(),
                "probe",
                "--resolver",
                &resolver,
                "--list",
                list.to_str().unwrap(),
                "--trust",
                trust.to_str().unwrap(),
                "--json",
                "--timeout",
                "2s",
            ],
        );
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!(
                "ward probe printed no JSON: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), json)
    }
}

/// The lab with ward's feed on the router and the authority for
/// `example.` in the server namespace.
pub struct SecondaryLab {
    pub lab: Lab,
    pub dir: tempfile::TempDir,
    pub ward: Ward,
}

impl SecondaryLab {
    /// Returns `None` (the test skips) where the lab or `named` cannot
    /// run; `require`: the variables that make a missing binary a
    /// failure. `rpz_extra` is appended to the `[rpz]` section.
    pub fn start(require: &[&str], rpz_extra: &str) -> Option<Self> {
        if !netns::available() || !installed("named", "-v", "bind9", require) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_list(d, &key(), SERIAL, &source(SERIAL));
        std::fs::write(d.join("feed.secret"), format!("{SECRET}\n")).unwrap();
        let mut lab = Lab::new();
        let authority = d.join("authority");
        std::fs::create_dir_all(&authority).unwrap();
        std::fs::write(
            authority.join("example.db"),
            format!(
                "$TTL 300
@   SOA ns.example. hostmaster.example. 1 3600 600 86400 300
@   NS  ns.example.
ns  A   {SERVER_V4}
*   A   {RESOLVED}
"
            ),
        )
        .unwrap();
        let conf = authority.join("named.conf");
        std::fs::write(
            &conf,
            format!(
                r#"options {{
    directory "{}";
    pid-file none;
    lock-file none;
    session-keyfile none;
    listen-on port {AUTHORITY_PORT} {{ {SERVER_V4}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
}};
controls {{ }};
zone "example" {{ type primary; file "example.db"; }};
"#,
                authority.display()
            ),
        )
        .unwrap();
        let server = lab.server.clone();
        lab.spawn(
            &server,
            &["named", "-g", "-4", "-n", "1", "-c", conf.to_str().unwrap()],
            &authority,
            &authority.join("log"),
        );
        lab.wait_tcp(&server, SERVER_V4, AUTHORITY_PORT);
        let config = format!(
            r#"
[dns]
listen = ["127.0.0.1:0"]
upstreams = ["127.0.0.1:9"]

[list]
file = "list.ward"
trusted_keys = ["list.pub"]
state_dir = "state"

[admin]
listen = "127.0.0.1:0"

[rpz]
listen = ["{FEED}"]
zone = "child.rpz."
allow_transfer = ["10.77.2.0/24"]
{rpz_extra}
[[rpz.tsig]]
name = "feed-key."
algorithm = "hmac-sha256"
secret_file = "feed.secret"
"#
        );
        let router = lab.router.clone();
        let ward = Ward::start_in_netns(d, &config, &router);
        Some(Self { lab, dir, ward })
    }

    /// `ward_rpz_transfers_total{kind,result}`, summed over every kind
    /// when `kind` is `None` (read from the router's namespace, where the
    /// admin listener is).
    pub fn transfers(&self, kind: Option<&str>, result: &str) -> f64 {
        let admin = self.ward.admin.expect("the config has [admin]");
        let out = self.lab.exec(
            &self.lab.router,
            &[
                "python3",
                "-c",
                "import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1]).read().decode())",
                &format!("http://{admin}/metrics"),
            ],
        );
        let kind = kind.map(|k| format!("kind=\"{k}\","));
        let needle = format!("result=\"{result}\"}} ");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("ward_rpz_transfers_total{"))
            .filter(|l| kind.as_ref().is_none_or(|k| l.starts_with(k.as_str())))
            .filter_map(|l| l.split_once(&needle)?.1.parse::<f64>().ok())
            .sum()
    }

    /// Waits until the feed has answered at least one query with `result`.
    pub fn wait_transfers(&self, result: &str, why: &Secondary) {
        let deadline = Instant::now() + WAIT;
        while self.transfers(None, result) < 1.0 {
            assert!(
                Instant::now() < deadline,
                "the feed never answered {result}:\n{}\n{}",
                why.log(),
                self.ward.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The one body of both tests: a secondary with the right key inside the
/// ACL takes and enforces the zone and `ward probe` finds it compliant;
/// one with a wrong key, and one outside the ACL, never get it.
fn secondaries_of_the_feed(kind: Kind, require: &str, bin: &str, package: &str) {
    if !netns::available() || !installed(bin, "--version", package, &[require]) {
        return;
    }
    // BIND takes NOTIFY from its primary; PowerDNS Recursor 4.8 does not
    // (it polls the SOA at the zone's refresh).
    let notify = match kind {
        Kind::Bind => format!("notify = [\"{SERVER_V4}:53\"]"),
        Kind::PowerDns => String::new(),
    };
    let Some(mut s) = SecondaryLab::start(&[require], &notify) else {
        return;
    };
    let d = s.dir.path().to_path_buf();
    let (server, client) = (s.lab.server.clone(), s.lab.client.clone());
    let good = Secondary::start(
        &mut s.lab,
        kind,
        &server,
        SocketAddr::new(SERVER_V4.parse().unwrap(), 53),
        &d.join("good"),
        SECRET,
    );
    let wrong_key = Secondary::start(
        &mut s.lab,
        kind,
        &server,
        SocketAddr::new(SERVER_V4.parse().unwrap(), 5301),
        &d.join("wrong-key"),
        WRONG_SECRET,
    );
    let outside = Secondary::start(
        &mut s.lab,
        kind,
        &client,
        SocketAddr::new("10.77.1.2".parse().unwrap(), 53),
        &d.join("outside-acl"),
        SECRET,
    );
    let lab = &s.lab;

    // The right key from inside the ACL: the zone of the list in force.
    good.wait_serial(lab, SERIAL);
    for name in ["bad.example", "www.bad.example", "exact.example"] {
        let (status, _) = good.resolve(lab, name);
        assert_eq!(status, "NXDOMAIN", "{name}\n{}", good.log());
    }
    for name in ["ok.example", "www.exact.example", "secret.example"] {
        // Confidential names are not in the zone: an RPZ consumer cannot
        // block them (docs/rpz.md).
        let (status, answers) = good.resolve(lab, name);
        assert_eq!(
            (status.as_str(), &answers[..]),
            ("NOERROR", &[RESOLVED.to_owned()][..]),
            "{name}"
        );
    }
    let (code, json) = good.probe(lab, &d);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["compliant"], true, "{json:#}");
    assert_eq!(json["canary"]["dns"]["detail"], "NXDOMAIN", "{json:#}");
    assert_eq!(json["dns"]["blocked"], json["dns"]["probed"], "{json:#}");
    assert!(json["dns"]["probed"].as_u64() > Some(10), "{json:#}");

    // A wrong key: refused (NOTAUTH), and the secondary has no zone.
    s.wait_transfers("notauth", &wrong_key);
    // Outside allow_transfer, with the right key: refused.
    s.wait_transfers("refused", &outside);
    for (secondary, what) in [(&wrong_key, "a wrong key"), (&outside, "outside the ACL")] {
        assert_eq!(secondary.serial(lab), None, "{what}:\n{}", secondary.log());
        let (status, answers) = secondary.resolve(lab, "bad.example");
        assert_eq!(
            (status.as_str(), &answers[..]),
            ("NOERROR", &[RESOLVED.to_owned()][..]),
            "{what}: not filtering\n{}",
            secondary.log()
        );
    }
    // ward probe tells the unfiltered secondary apart.
    let (code, json) = wrong_key.probe(lab, &d);
    assert_eq!(code, 2, "{json:#}");
    assert_eq!(json["compliant"], false, "{json:#}");
    // One zone was sent in full: the good secondary's.
    assert_eq!(s.transfers(Some("axfr"), "ok"), 1.0, "{}", s.ward.logs());
    if kind == Kind::Bind {
        notify_and_ixfr_bring_a_new_list(&s, &good);
    }
}

/// A new list: NOTIFY, then IXFR of the changes, bring it to BIND at
/// once (its SOA refresh is an hour away), signed both ways.
fn notify_and_ixfr_bring_a_new_list(s: &SecondaryLab, good: &Secondary) {
    let lab = &s.lab;
    let d = s.dir.path();
    let next = SERIAL + 1;
    let text = source(next).replace("n7.filler7.example gambling\n", "") + "new.example adult\n";
    write_list(d, &key(), next, &text);
    let started = Instant::now();
    s.ward.signal("HUP");
    good.wait_serial(lab, next);
    eprintln!(
        "activation to BIND holding serial {next}: {} ms",
        started.elapsed().as_millis()
    );
    for name in ["new.example", "www.new.example", "bad.example"] {
        let (status, _) = good.resolve(lab, name);
        assert_eq!(status, "NXDOMAIN", "{name}\n{}", good.log());
    }
    let (status, answers) = good.resolve(lab, "n7.filler7.example");
    assert_eq!(
        (status.as_str(), &answers[..]),
        ("NOERROR", &[RESOLVED.to_owned()][..]),
        "a name the new list dropped\n{}",
        good.log()
    );
    assert!(
        s.transfers(Some("ixfr"), "incremental") >= 1.0,
        "BIND took the changes, not the whole zone:\n{}",
        s.ward.logs()
    );
    assert_eq!(s.transfers(Some("axfr"), "ok"), 1.0, "{}", s.ward.logs());
    assert!(
        s.ward.logs().contains("NOTIFY acknowledged"),
        "{}",
        s.ward.logs()
    );
}

#[test]
fn bind_is_a_secondary_of_the_feed() {
    secondaries_of_the_feed(Kind::Bind, "WARD_REQUIRE_BIND", "named", "bind9");
}

#[test]
fn powerdns_recursor_is_a_secondary_of_the_feed() {
    secondaries_of_the_feed(
        Kind::PowerDns,
        "WARD_REQUIRE_PDNS_RECURSOR",
        "pdns_recursor",
        "pdns-recursor",
    );
}
