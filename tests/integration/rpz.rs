//! `ward list export --format rpz` read by a real RPZ consumer: Unbound
//! (Debian's), in a network namespace of its own so that it can listen on
//! port 53 without racing anyone for a port, asked with real `dig`. And
//! the other way: `ward list build --format rpz|hosts|adblock` on the
//! fixtures in `tests/fixtures/import`, then `ward check` on the list.

use std::path::Path;
use std::process::Command;

use ed25519_dalek::SigningKey;

use crate::support::netns::{self, Lab};
use crate::util::{Run, repo, ward};

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

// ---- import: `ward list build --format rpz|hosts|domains|adblock` ----

/// A scratch dir with a key pair `k` and the import fixtures.
fn import_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = ward(dir.path(), &["keygen", "--out", "k"]);
    assert_eq!(r.code, 0, "{r:?}");
    for name in [
        "hosts.txt",
        "adblock.txt",
        "adblock-unsupported.txt",
        "child.rpz",
    ] {
        std::fs::copy(
            repo().join("tests/fixtures/import").join(name),
            dir.path().join(name),
        )
        .unwrap();
    }
    dir
}

/// `ward list build` of `sources` into `out`, with `args` added.
fn build_list(dir: &Path, out: &str, args: &[&str]) -> Run {
    let mut all = vec![
        "list",
        "build",
        "--key",
        "k.key",
        "--serial",
        "5",
        "--list-id",
        "imported",
        "--valid-for",
        "1d",
        "-o",
        out,
    ];
    all.extend_from_slice(args);
    ward(dir, &all)
}

/// `ward check --json` of `names` against `list`: per name, the verdict,
/// the category and the rule.
fn check(dir: &Path, list: &str, names: &[&str]) -> Vec<(String, String, String)> {
    let mut args = vec!["check", "--list", list, "--trust", "k.pub", "--json"];
    args.extend_from_slice(names);
    let r = ward(dir, &args);
    assert_eq!(r.code, 0, "{r:?}");
    r.stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
            (s("verdict"), s("category"), s("rule"))
        })
        .collect()
}

fn block(category: &str, rule: &str) -> (String, String, String) {
    ("block".into(), category.into(), rule.into())
}

fn allow() -> (String, String, String) {
    ("allow".into(), String::new(), String::new())
}

#[test]
fn build_imports_a_hosts_file_and_check_agrees() {
    let dir = import_dir();
    let d = dir.path();
    let r = build_list(
        d,
        "h.ward",
        &["--format", "hosts", "--category", "ads", "hosts.txt"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("5 rules (0 confidential) from 16 lines, 1 duplicate(s) merged"),
        "{r:?}"
    );
    let got = check(
        d,
        "h.ward",
        &[
            "ads.example.com",
            "www.ads.example.com",
            "metrics.example.com",
            "banner.example.net",
            "v6only.example.org",
            "localhost",
            "example.com",
        ],
    );
    assert_eq!(
        got,
        [
            block("ads", "=ads.example.com"),
            // Hosts files match exact names only.
            allow(),
            block("ads", "=metrics.example.com"),
            block("ads", "=banner.example.net"),
            block("ads", "=v6only.example.org"),
            allow(),
            allow(),
        ]
    );
}

#[test]
fn build_imports_an_adblock_filter_and_check_agrees() {
    let dir = import_dir();
    let d = dir.path();
    let r = build_list(
        d,
        "a.ward",
        &["--format", "adblock", "--category", "ads", "adblock.txt"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let got = check(
        d,
        "a.ward",
        &[
            "ads.example.com",
            "x.ads.example.com",
            "y.tracker.example.net",
            "exact.example.org",
            "www.exact.example.org",
            "www.plain.example.info",
            "hosts-line.example.com",
            "www.hosts-line.example.com",
        ],
    );
    assert_eq!(
        got,
        [
            block("ads", "ads.example.com"),
            block("ads", "ads.example.com"),
            block("ads", "tracker.example.net"),
            block("ads", "=exact.example.org"),
            allow(),
            block("ads", "plain.example.info"),
            block("ads", "=hosts-line.example.com"),
            allow(),
        ]
    );
}

#[test]
fn build_reports_unsupported_lines_and_leaves_them_out_on_request() {
    let dir = import_dir();
    let d = dir.path();
    let args = [
        "--format",
        "adblock",
        "--category",
        "ads",
        "adblock-unsupported.txt",
    ];
    let r = build_list(d, "u.ward", &args);
    assert_eq!(r.code, 1, "{r:?}");
    for want in [
        "adblock-unsupported.txt:3: unsupported: an exception (`@@`)",
        "adblock-unsupported.txt:4: unsupported: a cosmetic",
        "adblock-unsupported.txt:5: unsupported: a URL rule",
        "adblock-unsupported.txt:6: empty label",
        "3 of them are valid in their format but cannot be said in a ward list; --skip-unsupported leaves such lines out",
        "4 invalid line(s); no list was written to u.ward",
    ] {
        assert!(r.stderr.contains(want), "missing {want:?}: {}", r.stderr);
    }
    assert!(!d.join("u.ward").exists());

    // Left out: a warning each; the malformed line still fails the build.
    let mut skip = args.to_vec();
    skip.push("--skip-unsupported");
    let r = build_list(d, "u.ward", &skip);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(
            "adblock-unsupported.txt:3: warning: left out, unsupported: an exception (`@@`)"
        ),
        "{r:?}"
    );
    assert!(r.stderr.contains("1 invalid line(s)"), "{r:?}");
    let text = std::fs::read_to_string(d.join("adblock-unsupported.txt")).unwrap();
    std::fs::write(
        d.join("adblock-unsupported.txt"),
        text.replace("||bad..example.com^\n", ""),
    )
    .unwrap();
    let r = build_list(d, "u.ward", &skip);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("left out 3 unsupported line(s) (--skip-unsupported), each named above"),
        "{r:?}"
    );
    // The exception is not there: the subtree rule blocks its name.
    assert_eq!(
        check(d, "u.ward", &["good.ads.example.com"]),
        [block("ads", "ads.example.com")]
    );
}

#[test]
fn build_imports_a_zone_and_its_own_export_and_check_agrees() {
    let dir = import_dir();
    let d = dir.path();
    // The zone has no $ORIGIN: `@` needs --zone.
    let r = build_list(
        d,
        "z.ward",
        &["--format", "rpz", "--category", "gambling", "child.rpz"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(
            "child.rpz:3: a relative name (or `@`) but no $ORIGIN: add one, or give --zone"
        ),
        "{r:?}"
    );
    let r = build_list(
        d,
        "z.ward",
        &[
            "--format",
            "rpz",
            "--category",
            "gambling",
            "--zone",
            "vendor.rpz",
            "child.rpz",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let names = [
        "casino.example",
        "www.casino.example",
        "cdn.bet.example",
        "a.cdn.bet.example",
        "exact.example",
        "www.exact.example",
        "drop.example",
        "walled.example",
        "bet.example",
    ];
    let want = [
        block("gambling", "casino.example"),
        block("gambling", "casino.example"),
        // `*.name` is a subtree rule: it covers the name itself too.
        block("gambling", "cdn.bet.example"),
        block("gambling", "cdn.bet.example"),
        block("gambling", "=exact.example"),
        allow(),
        block("gambling", "=drop.example"),
        block("gambling", "=walled.example"),
        allow(),
    ];
    assert_eq!(check(d, "z.ward", &names), want);

    // ward's own export, imported again: the same rules.
    let out = export(&[
        "--list",
        d.join("z.ward").to_str().unwrap(),
        "--trust",
        d.join("k.pub").to_str().unwrap(),
        "--format",
        "rpz",
        "--category-action",
        "gambling=nodata",
        "-o",
        d.join("again.rpz").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let r = build_list(
        d,
        "again.ward",
        &["--format", "rpz", "--category", "gambling", "again.rpz"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(check(d, "again.ward", &names), want);
}

#[test]
fn build_import_flags_are_usage_errors_where_they_do_not_fit() {
    let dir = import_dir();
    let d = dir.path();
    for (args, want) in [
        (
            vec!["--format", "hosts", "hosts.txt"],
            "--format hosts needs --category NAME",
        ),
        (
            vec!["--category", "ads", "hosts.txt"],
            "--category is for imported lists",
        ),
        (
            vec!["--skip-unsupported", "hosts.txt"],
            "--skip-unsupported is for imported lists",
        ),
        (
            vec!["--format", "hosts", "--category", "Ads", "hosts.txt"],
            "--category \"Ads\": a category matches [a-z0-9-]+",
        ),
        (
            vec![
                "--format",
                "hosts",
                "--category",
                "ads",
                "--zone",
                "z.rpz",
                "hosts.txt",
            ],
            "--zone is for --format rpz, not --format hosts",
        ),
        (
            vec![
                "--format",
                "rpz",
                "--category",
                "ads",
                "--zone",
                "bad..zone",
                "child.rpz",
            ],
            "--zone \"bad..zone\": empty label",
        ),
        (vec!["--format", "csv", "hosts.txt"], "invalid value 'csv'"),
    ] {
        let r = build_list(d, "x.ward", &args);
        assert_eq!(r.code, 64, "{args:?}: {r:?}");
        assert!(
            r.stderr.contains(want),
            "{args:?}: missing {want:?}: {}",
            r.stderr
        );
    }
    assert!(!d.join("x.ward").exists());
}
