//! `ward list export --format rpz` read by a real RPZ consumer: Unbound
//! (Debian's), in a network namespace of its own so that it can listen on
//! port 53 without racing anyone for a port, asked with real `dig`.

use std::path::Path;
use std::process::Command;

use ed25519_dalek::SigningKey;

use crate::support::netns::{self, Lab};

/// A signed list with a subtree rule, an exact rule, a category exported
/// as NODATA, and a confidential rule; and its public key.
fn write_list(dir: &Path) {
    let key = SigningKey::from_bytes(&[9; 32]);
    let now = jiff::Timestamp::now();
    let opts = ward::list::BuildOptions {
        list_id: "moet".into(),
        serial: 2026120701,
        issued_at: now,
        expires_at: now + jiff::SignedDuration::from_hours(24),
        confidential: ["csam".to_string()].into_iter().collect(),
        min_age: Default::default(),
    };
    let source =
        "bad.example adult\n=exact.example adult\nquiet.example social\nsecret.example csam\n";
    let (bytes, _) = ward::list::build::build_from_str(source, &opts, &key).unwrap();
    std::fs::write(dir.join("l.ward"), bytes).unwrap();
    std::fs::write(
        dir.join("l.pub"),
        ward::keys::public_file_text(&key.verifying_key()),
    )
    .unwrap();
}

fn unbound() -> bool {
    let found = Command::new("unbound").arg("-V").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("WARD_REQUIRE_UNBOUND").is_none(),
            "unbound is not installed and WARD_REQUIRE_UNBOUND is set"
        );
        eprintln!("SKIPPED: unbound is not installed (apt-get install unbound)");
    }
    found
}

/// `dig` in `ns`: the status word and the answer section.
fn dig(lab: &Lab, ns: &str, name: &str) -> (String, String) {
    let out = lab.exec_ok(ns, &["dig", "+time=2", "+tries=2", "@127.0.0.1", name, "A"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("none")
        .to_owned();
    let answer = text
        .split(";; ANSWER SECTION:\n")
        .nth(1)
        .map(|s| s.split("\n\n").next().unwrap_or("").to_owned())
        .unwrap_or_default();
    (status, answer)
}

#[test]
fn unbound_enforces_the_exported_zone() {
    if !netns::available() || !unbound() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_list(d);
    let zone = d.join("child.rpz");
    let out = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(["list", "export", "--format", "rpz", "--list"])
        .arg(d.join("l.ward"))
        .arg("--trust")
        .arg(d.join("l.pub"))
        .args(["--category-action", "social=nodata", "-o"])
        .arg(&zone)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("left out 1 rule(s) of confidential categories"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&zone).unwrap();
    assert!(!text.contains("secret"), "{text}");
    assert!(
        text.contains("@ SOA localhost. hostmaster.localhost. 2026120701 "),
        "{text}"
    );

    std::fs::write(
        d.join("unbound.conf"),
        format!(
            r#"server:
    interface: 127.0.0.1
    port: 53
    do-ip6: no
    username: ""
    chroot: ""
    directory: "{dir}"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 1
    module-config: "respip iterator"
    # Names no rule lists, answered locally: there is no upstream here,
    # so any other name is SERVFAIL. (Not under `test.`: Unbound serves
    # that as a static local zone, NXDOMAIN for every name, RPZ or not.)
    local-data: "ok.example. A 192.0.2.10"
    local-data: "www.exact.example. A 192.0.2.11"
# Nothing to recurse to: every other name fails at once (Unbound does
# not query localhost), rather than after timeouts.
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@9
rpz:
    name: "child.rpz."
    zonefile: "{zone}"
"#,
            dir = d.display(),
            zone = zone.display()
        ),
    )
    .unwrap();
    let mut lab = Lab::new();
    let ns = lab.server.clone();
    let conf = d.join("unbound.conf");
    lab.spawn(
        &ns,
        &["unbound", "-d", "-p", "-c", conf.to_str().unwrap()],
        d,
        &d.join("unbound.log"),
    );
    lab.wait_tcp(&ns, "127.0.0.1", 53);

    let log = || std::fs::read_to_string(d.join("unbound.log")).unwrap_or_default();
    for name in ["bad.example", "www.bad.example", "exact.example"] {
        let (status, answer) = dig(&lab, &ns, name);
        assert_eq!(status, "NXDOMAIN", "{name}: {answer}\n{}", log());
    }
    // The control: a name no rule lists has no answer at all here.
    let (status, _) = dig(&lab, &ns, "other.example");
    assert_eq!(status, "SERVFAIL");
    let (status, answer) = dig(&lab, &ns, "quiet.example");
    assert_eq!(status, "NOERROR", "{answer}");
    assert!(answer.is_empty(), "NODATA: {answer}");
    let (status, answer) = dig(&lab, &ns, "ok.example");
    assert_eq!(status, "NOERROR");
    assert!(answer.contains("192.0.2.10"), "{answer}");
    // An exact rule covers the name only.
    let (status, answer) = dig(&lab, &ns, "www.exact.example");
    assert_eq!(status, "NOERROR");
    assert!(answer.contains("192.0.2.11"), "{answer}");
}

fn export(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(["list", "export"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn export_usage_errors_exit_64_and_name_the_problem() {
    let out = export(&["--demo", "--format", "rpz", "--action", "redirect"]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("categories adult, gambling, violence are exported as redirects but no sinkhole address is given"),
        "{err}"
    );
    let out = export(&[
        "--demo",
        "--format",
        "rpz",
        "--category-action",
        "games=nodata",
    ]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no category \"games\" in this list"), "{err}");
    let out = export(&["--demo", "--format", "rpz", "--zone", "bad..zone"]);
    assert_eq!(out.status.code(), Some(64));
    let out = export(&["--demo", "--format", "rpz", "--category-action", "adult"]);
    assert_eq!(out.status.code(), Some(64), "clap's usage error too");
}

#[test]
fn export_writes_domains_and_hosts_to_stdout() {
    let out = export(&["--demo", "--format", "domains"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(names.contains(&"blocked.example.test"), "{text}");
    assert!(names.contains(&"exact.example.test"), "{text}");
    assert_eq!(names.len(), 5, "the confidential rule is left out: {text}");
    let out = export(&["--demo", "--format", "hosts"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\n0.0.0.0 blocked.example.test\n"), "{text}");
}
