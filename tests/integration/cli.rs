//! The list tools as an operator uses them: keygen, build, verify, info,
//! check, with their exit codes and messages.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::util::{Run, repo, ward};

const SOURCE: &str = "\
# test list
example.com          gambling
=exact.example.org   adult
Bücher.example       violence
hidden.example.net   csam
";

/// A scratch dir with a key pair `k` and a built list `l.ward`.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let r = ward(p, &["keygen", "--out", "k"]);
    assert_eq!(r.code, 0, "{r:?}");
    fs::write(p.join("src.txt"), SOURCE).unwrap();
    let r = ward(
        p,
        &[
            "list",
            "build",
            "--key",
            "k.key",
            "--serial",
            "3",
            "--list-id",
            "vn-national",
            "--valid-for",
            "7d",
            "--confidential",
            "csam",
            "-o",
            "l.ward",
            "src.txt",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    dir
}

fn fails(r: &Run, code: i32, want: &str) {
    assert_eq!(r.code, code, "{r:?}");
    assert!(
        r.stderr.contains(want),
        "expected {want:?} in stderr: {r:?}"
    );
}

#[test]
fn keygen_writes_private_key_0600_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let r = ward(dir.path(), &["keygen", "--out", "ministry"]);
    assert_eq!(r.code, 0, "{r:?}");
    let id = r
        .stdout
        .lines()
        .next()
        .unwrap()
        .strip_prefix("key id: ")
        .unwrap();
    assert_eq!(id.len(), 16);
    let mode = fs::metadata(dir.path().join("ministry.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let public = fs::read_to_string(dir.path().join("ministry.pub")).unwrap();
    assert!(public.contains(id), "{public}");
    let before = fs::read(dir.path().join("ministry.key")).unwrap();
    let r = ward(dir.path(), &["keygen", "--out", "ministry"]);
    fails(&r, 1, "already exists");
    assert_eq!(fs::read(dir.path().join("ministry.key")).unwrap(), before);
    assert_eq!(
        ward(dir.path(), &["keygen", "--out", "ministry", "--force"]).code,
        0
    );
}

#[test]
fn build_verify_info_check_round_trip() {
    let dir = setup();
    let p = dir.path();
    let r = ward(p, &["list", "verify", "--trust", "k.pub", "l.ward"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("OK") && r.stdout.contains("serial 3"),
        "{r:?}"
    );

    let r = ward(p, &["list", "info", "--trust", "k.pub", "--json", "l.ward"]);
    assert_eq!(r.code, 0, "{r:?}");
    let info: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(info["signature"], "valid");
    assert_eq!(info["manifest"]["serial"], 3);
    assert_eq!(info["manifest"]["list_id"], "vn-national");
    assert_eq!(info["manifest"]["entries"], 4);
    assert_eq!(info["manifest"]["confidential"][0], "csam");
    let r = ward(p, &["list", "info", "l.ward"]);
    assert!(r.stdout.contains("NOT CHECKED"), "{r:?}");

    let r = ward(
        p,
        &[
            "check",
            "--list",
            "l.ward",
            "--trust",
            "k.pub",
            "--json",
            "www.EXAMPLE.com.",
            "exact.example.org",
            "www.exact.example.org",
            "bücher.example",
            "a.hidden.example.net",
            "notexample.com",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    for l in &lines {
        assert_eq!(l["list_serial"], 3);
        for k in ["name", "verdict", "category", "rule", "list_serial"] {
            assert!(l.get(k).is_some(), "missing {k} in {l}");
        }
    }
    assert_eq!(lines[0]["verdict"], "block");
    assert_eq!(lines[0]["category"], "gambling");
    assert_eq!(lines[0]["rule"], "example.com");
    assert_eq!(lines[1]["rule"], "=exact.example.org");
    assert_eq!(lines[2]["verdict"], "allow");
    assert_eq!(lines[2]["category"], Value::Null);
    assert_eq!(lines[3]["name"], "xn--bcher-kva.example");
    assert_eq!(lines[3]["category"], "violence");
    assert_eq!(lines[4]["verdict"], "block");
    assert_eq!(lines[4]["category"], "csam");
    assert_eq!(lines[4]["rule"], Value::Null);
    assert_eq!(lines[5]["verdict"], "allow");
    // The confidential name is never printed, in either output format.
    assert!(!r.stdout.contains("hidden"), "{}", r.stdout);
    let r = ward(
        p,
        &[
            "check",
            "--list",
            "l.ward",
            "--trust",
            "k.pub",
            "a.hidden.example.net",
        ],
    );
    assert!(
        !r.stdout.contains("hidden") && !r.stderr.contains("hidden"),
        "{r:?}"
    );
    assert!(
        r.stdout.contains("block") && r.stdout.contains("csam"),
        "{r:?}"
    );
    // …and never stored.
    let artifact = fs::read(p.join("l.ward")).unwrap();
    assert!(!artifact.windows(6).any(|w| w == b"hidden"));
}

#[test]
fn check_reports_invalid_names() {
    let dir = setup();
    let r = ward(
        dir.path(),
        &["check", "--demo", "blocked.example.test", "a..b"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("block"), "{r:?}");
    assert!(r.stderr.contains("empty label"), "{r:?}");
    let r = ward(dir.path(), &["check", "--demo", "1.2.3.4"]);
    fails(&r, 64, "IP literal");
}

#[test]
fn build_reports_every_bad_line_and_writes_nothing() {
    let dir = setup();
    let p = dir.path();
    fs::write(
        p.join("bad.txt"),
        "ok.com x\nbad..com x\n\n10.1.2.3 x\nok2.com\nlabel.com Cat\nsecret-thing.com s x\n",
    )
    .unwrap();
    fs::write(p.join("more.txt"), format!("{}.com x\n", "a".repeat(70))).unwrap();
    let r = ward(
        p,
        &[
            "list",
            "build",
            "--key",
            "k.key",
            "--serial",
            "4",
            "--list-id",
            "t",
            "--valid-for",
            "1d",
            "--confidential",
            "s",
            "-o",
            "out.ward",
            "bad.txt",
            "more.txt",
        ],
    );
    assert_eq!(r.code, 1, "{r:?}");
    for want in [
        "bad.txt:2: empty label",
        "bad.txt:4: IP literal",
        "bad.txt:5: missing category",
        "bad.txt:6: bad category",
        "bad.txt:7: unknown syntax",
        "more.txt:1: label 1 is 70 bytes long",
        "6 invalid line(s)",
    ] {
        assert!(r.stderr.contains(want), "missing {want:?}: {}", r.stderr);
    }
    assert!(!r.stderr.contains("secret-thing"), "{}", r.stderr);
    assert!(!p.join("out.ward").exists());
}

#[test]
fn categories_rated_by_age_are_signed_into_the_manifest() {
    let dir = setup();
    let p = dir.path();
    fs::write(
        p.join("school.txt"),
        "social.example social\ndating.example dating\ngames.example games\nhidden.example csam\n",
    )
    .unwrap();
    let build = |extra: &[&str]| {
        let mut args = vec![
            "list",
            "build",
            "--key",
            "k.key",
            "--serial",
            "1",
            "--list-id",
            "school",
            "--valid-for",
            "1d",
            "--confidential",
            "csam",
            "-o",
            "s.ward",
        ];
        args.extend_from_slice(extra);
        args.push("school.txt");
        ward(p, &args)
    };
    let r = build(&["--min-age", "social=13", "--min-age", "dating=18"]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = ward(p, &["list", "info", "--trust", "k.pub", "--json", "s.ward"]);
    assert_eq!(r.code, 0, "{r:?}");
    let info: Value = serde_json::from_str(&r.stdout).unwrap();
    let ages: Vec<(String, Value)> = info["manifest"]["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c["min_age"].clone()))
        .collect();
    assert_eq!(
        ages,
        [
            ("csam".to_owned(), Value::Null),
            ("dating".to_owned(), 18.into()),
            ("games".to_owned(), Value::Null),
            ("social".to_owned(), 13.into()),
        ]
    );
    let r = ward(p, &["list", "info", "--trust", "k.pub", "s.ward"]);
    assert!(r.stdout.contains("from age 13"), "{r:?}");
    assert_eq!(r.stdout.matches("from age").count(), 2, "{r:?}");

    for (flags, want) in [
        (
            &["--min-age", "social=30"][..],
            "--min-age social=30: an age is 0 to 25",
        ),
        (
            &["--min-age", "csam=18"],
            "--min-age csam: a confidential category",
        ),
        (
            &["--min-age", "socail=13"],
            "--min-age socail: no rule of the source",
        ),
        (&["--min-age", "social"], "expected CATEGORY=AGE"),
        (&["--min-age", "social=ten"], "not a whole number"),
        (
            &["--min-age", "social=13", "--min-age", "social=15"],
            "given twice",
        ),
    ] {
        fs::remove_file(p.join("s.ward")).ok();
        fails(&build(flags), 64, want);
        assert!(!p.join("s.ward").exists(), "{flags:?}");
    }
}

#[test]
fn verify_explains_each_failure() {
    let dir = setup();
    let p = dir.path();
    // Unknown key: signed by k, trusting only k2.
    assert_eq!(ward(p, &["keygen", "--out", "k2"]).code, 0);
    let r = ward(p, &["list", "verify", "--trust", "k2.pub", "l.ward"]);
    fails(&r, 1, "unknown key");
    // Key rotation: trusting both works.
    let r = ward(
        p,
        &[
            "list", "verify", "--trust", "k2.pub", "--trust", "k.pub", "l.ward",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    // A flipped bit in the payload.
    let mut bytes = fs::read(p.join("l.ward")).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 1;
    fs::write(p.join("flip.ward"), &bytes).unwrap();
    fails(
        &ward(p, &["list", "verify", "--trust", "k.pub", "flip.ward"]),
        1,
        "bad signature",
    );
    // Truncated.
    let bytes = fs::read(p.join("l.ward")).unwrap();
    fs::write(p.join("cut.ward"), &bytes[..bytes.len() - 7]).unwrap();
    fails(
        &ward(p, &["list", "verify", "--trust", "k.pub", "cut.ward"]),
        1,
        "truncated",
    );
    // Garbage, empty, a directory, a missing file.
    fs::write(p.join("garbage.ward"), b"<html>not a list</html>").unwrap();
    fails(
        &ward(p, &["list", "verify", "--trust", "k.pub", "garbage.ward"]),
        1,
        "not a ward list",
    );
    fs::write(p.join("empty.ward"), b"").unwrap();
    fails(
        &ward(p, &["list", "verify", "--trust", "k.pub", "empty.ward"]),
        1,
        "empty file",
    );
    fs::create_dir(p.join("dir.ward")).unwrap();
    fails(
        &ward(p, &["list", "verify", "--trust", "k.pub", "dir.ward"]),
        1,
        "is a directory",
    );
    fails(
        &ward(p, &["list", "verify", "--trust", "k.pub", "nope.ward"]),
        1,
        "cannot read nope.ward",
    );
    // Unreadable (meaningful only when not running as root).
    fs::copy(p.join("l.ward"), p.join("locked.ward")).unwrap();
    fs::set_permissions(p.join("locked.ward"), fs::Permissions::from_mode(0o000)).unwrap();
    if fs::read(p.join("locked.ward")).is_err() {
        fails(
            &ward(p, &["list", "verify", "--trust", "k.pub", "locked.ward"]),
            1,
            "Permission denied",
        );
    }
    // The secret key where a public key belongs.
    fails(
        &ward(p, &["list", "verify", "--trust", "k.key", "l.ward"]),
        1,
        "secret",
    );
}

#[test]
fn expired_lists_fail_verify() {
    let dir = setup();
    let p = dir.path();
    let r = ward(
        p,
        &[
            "list",
            "build",
            "--key",
            "k.key",
            "--serial",
            "1",
            "--list-id",
            "old",
            "--valid-for",
            "7d",
            "--issued-at",
            "2020-01-01T00:00:00Z",
            "-o",
            "old.ward",
            "src.txt",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let r = ward(p, &["list", "verify", "--trust", "k.pub", "old.ward"]);
    fails(&r, 1, "expired at 2020-01-08T00:00:00Z");
    let r = ward(
        p,
        &[
            "list",
            "verify",
            "--trust",
            "k.pub",
            "--allow-expired",
            "old.ward",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("EXPIRED"), "{r:?}");
    let r = ward(p, &["list", "info", "old.ward"]);
    assert!(r.stdout.contains("EXPIRED"), "{r:?}");
}

#[test]
fn usage_errors_exit_64() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fails(&ward(p, &["list", "build"]), 64, "required");
    fails(&ward(p, &["frobnicate"]), 64, "unrecognized subcommand");
    fails(
        &ward(p, &["check", "--list", "x.ward", "example.com"]),
        64,
        "--trust",
    );
    let r = ward(
        p,
        &[
            "list",
            "build",
            "--key",
            "k.key",
            "--serial",
            "1",
            "--list-id",
            "x",
            "--valid-for",
            "forever",
            "-o",
            "o.ward",
            "s.txt",
        ],
    );
    fails(&r, 64, "--valid-for");
    fails(&ward(p, &["list", "build", "--serial", "-1"]), 64, "");
    assert_eq!(ward(p, &["--version"]).code, 0);
    assert_eq!(ward(p, &["--help"]).code, 0);
}

#[test]
fn demo_list_in_examples_is_valid() {
    let r = ward(
        &repo(),
        &[
            "list",
            "verify",
            "--trust",
            "examples/demo.pub",
            "examples/demo.ward",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn bug_malformed_signed_index_is_refused_not_a_crash() {
    let fixture = "tests/fixtures/bug-fst-root-addr-out-of-bounds.ward";
    let r = ward(
        &repo(),
        &["list", "verify", "--trust", "examples/demo.pub", fixture],
    );
    fails(&r, 1, "name index is malformed");
    let r = ward(
        &repo(),
        &[
            "check",
            "--list",
            fixture,
            "--trust",
            "examples/demo.pub",
            "blocked.example.test",
        ],
    );
    fails(&r, 1, "name index is malformed");
    assert!(!r.stderr.contains("panicked"), "{r:?}");
}

#[test]
fn collector_check_validates_the_demo_config_and_names_every_problem() {
    let r = ward(
        &repo(),
        &[
            "collector",
            "--config",
            "examples/collector.toml",
            "--check",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains(
            "examples/collector.toml: OK: HTTPS on 127.0.0.1:8443; SQLite /tmp/ward-demo/collector.db; 1 registered node(s), 0 prober(s); 1 user(s)"
        ),
        "{r:?}"
    );
    // Nothing was created or bound: --check opens no database.
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("c.toml"),
        "registry = \"missing.toml\"\nstorage = \"db/c.db\"\nmax_body = \"1KiB\"\n[tls]\ncert = \"nope.pem\"\n",
    )
    .unwrap();
    let r = ward(dir.path(), &["collector", "--config", "c.toml", "--check"]);
    fails(&r, 64, "missing.toml");
    for want in ["max_body", "tls.key", "nope.pem"] {
        assert!(r.stderr.contains(want), "{want} in {r:?}");
    }
    assert!(!dir.path().join("db").exists());
}

/// `config check --print` writes the effective configuration: every
/// section and key, defaults filled in, as a file that reads back to the
/// same values.
#[test]
fn config_check_print_writes_a_config_that_reads_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    // The reporting example with upstreams of its own, so that the test
    // does not depend on this machine's /etc/resolv.conf.
    let reporting = dir.path().join("node-reporting.toml");
    let example = fs::read_to_string(repo().join("examples/node-reporting.toml")).unwrap();
    fs::write(
        &reporting,
        format!("[dns]\nupstreams = [\"192.0.2.53\"]\n{example}"),
    )
    .unwrap();
    let reporting = reporting.display().to_string();
    for file in ["examples/ward.toml", reporting.as_str()] {
        // Run from the source tree: the examples' paths are relative to it.
        let r = ward(&repo(), &["config", "check", "--print", file]);
        assert_eq!(r.code, 0, "{r:?}");
        // stdout is the config alone; the OK line is on stderr.
        assert!(r.stderr.contains(&format!("{file}: OK: listen ")), "{r:?}");
        let printed: toml::Table = r
            .stdout
            .parse()
            .unwrap_or_else(|e| panic!("{e}\n{}", r.stdout));
        for section in ["dns", "cache", "limits", "list", "block", "admin", "log"] {
            assert!(printed.contains_key(section), "no [{section}] in {r:?}");
        }
        let value = |section: &str, key: &str| printed[section][key].clone();
        assert_eq!(value("list", "file").as_str(), Some("examples/demo.ward"));
        assert_eq!(
            value("list", "trusted_keys"),
            toml::Value::Array(vec!["examples/demo.pub".into()])
        );
        // Defaults the file leaves out are written.
        assert_eq!(value("dns", "edns_payload").as_integer(), Some(1232));
        assert_eq!(value("cache", "max_memory").as_str(), Some("64MiB"));
        assert_eq!(value("block", "action").as_str(), Some("sinkhole"));

        let again = dir.path().join("again.toml");
        fs::write(&again, &r.stdout).unwrap();
        let again = again.display().to_string();
        let back = ward(&repo(), &["config", "check", "--print", &again]);
        assert_eq!(back.code, 0, "{back:?}");
        assert_eq!(
            back.stdout, r.stdout,
            "the printed config changed on a re-read"
        );
        // The same summary as a check of the original file.
        let plain = ward(&repo(), &["config", "check", file]);
        assert_eq!(plain.code, 0, "{plain:?}");
        let summary = |text: &str| {
            text.lines()
                .find_map(|l| l.split_once(": OK: "))
                .map(|(_, s)| s.to_owned())
        };
        assert_eq!(
            summary(&back.stderr),
            summary(&plain.stdout),
            "{back:?}\n{plain:?}"
        );
    }
    let printed: toml::Table = ward(&repo(), &["config", "check", "--print", &reporting])
        .stdout
        .parse()
        .unwrap();
    assert_eq!(
        printed["report"]["key"].as_str(),
        Some("examples/demo-node.key")
    );
    assert_eq!(printed["report"]["interval"].as_str(), Some("5s"));

    // Nothing is printed unless the check passes, and the exit codes are
    // those of `config check`: 1 for the demo key under --strict, 64 for
    // a config error.
    let r = ward(
        &repo(),
        &[
            "config",
            "check",
            "--print",
            "--strict",
            "examples/ward.toml",
        ],
    );
    fails(&r, 1, "refusing (--strict)");
    assert_eq!(r.stdout, "", "{r:?}");
    fs::write(dir.path().join("bad.toml"), "[dns]\nlisen = []\n").unwrap();
    let r = ward(dir.path(), &["config", "check", "--print", "bad.toml"]);
    fails(&r, 64, "error(s) in bad.toml");
    assert_eq!(r.stdout, "", "{r:?}");
}

#[test]
fn config_check_names_the_school_profiles() {
    let r = ward(&repo(), &["config", "check", "examples/school.toml"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("2 profile(s) (primary, secondary) over 2 extra list(s)"),
        "{r:?}"
    );
}

/// A school node's files in a scratch dir: the national list `l.ward`
/// (from [`setup`]), a signed age-rated list `age.ward` (social 13+), the
/// school's own source, an allow file naming a national entry, and
/// `school.toml` with a primary (10) and a secondary (15) profile.
fn school_setup() -> tempfile::TempDir {
    let dir = setup();
    let p = dir.path();
    fs::write(
        p.join("age.txt"),
        "social.example social\nforum.example forum\n",
    )
    .unwrap();
    let r = ward(
        p,
        &[
            "list",
            "build",
            "--key",
            "k.key",
            "--serial",
            "2",
            "--list-id",
            "age",
            "--valid-for",
            "1d",
            "--min-age",
            "social=13",
            "-o",
            "age.ward",
            "age.txt",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    fs::write(p.join("school.txt"), "games.example games\n").unwrap();
    // example.com is on the national list: the allow entry cannot lift it.
    fs::write(
        p.join("allow.txt"),
        "example.com\n=ok.games.example\nhidden.example.net\n=exact.example.org\nwww.exact.example.org\n",
    )
    .unwrap();
    fs::write(
        p.join("school.toml"),
        r#"
[list]
file = "l.ward"
trusted_keys = ["k.pub"]
state_dir = "state"

[[lists]]
name = "school"
source = "school.txt"

[[lists]]
name = "age"
file = "age.ward"
trusted_keys = ["k.pub"]

[[lists]]
name = "missing"
file = "missing.ward"
trusted_keys = ["k.pub"]

[[profile]]
name = "primary"
clients = ["127.0.0.0/24", "127.0.0.2"]
age = 10
lists = ["school", "age"]
allow = "allow.txt"

[[profile]]
name = "secondary"
clients = ["127.0.0.3/32"]
age = 15
lists = ["age"]

[[profile]]
name = "broken"
clients = ["127.0.0.4"]
age = 12
lists = ["missing"]
"#,
    )
    .unwrap();
    dir
}

/// `ward check --config school.toml ARGS… --json`: one object per name.
fn check_json(p: &std::path::Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["check", "--config", "school.toml", "--json"];
    all.extend_from_slice(args);
    let r = ward(p, &all);
    assert_eq!(r.code, 0, "{r:?}");
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn check_with_a_config_explains_each_client_s_verdict() {
    let dir = school_setup();
    let p = dir.path();
    // The same name, a different client: a different verdict, and why.
    let young = &check_json(p, &["--client", "127.0.0.2", "www.social.example"])[0];
    assert_eq!(young["verdict"], "block", "{young}");
    assert_eq!(young["decided_by"], "age");
    assert_eq!(young["profile"], "primary");
    assert_eq!(young["network"], "127.0.0.2/32", "most specific: {young}");
    let age_row = &young["lists"][2];
    assert_eq!(age_row["list"], "age");
    assert_eq!(
        (&age_row["rule"], &age_row["kind"], &age_row["category"]),
        (
            &"social.example".into(),
            &"subtree".into(),
            &"social".into()
        )
    );
    assert_eq!(
        (&age_row["min_age"], &age_row["rating"]),
        (&13.into(), &"too_young".into())
    );
    let teen = &check_json(p, &["--client", "127.0.0.3", "www.social.example"])[0];
    assert_eq!(teen["verdict"], "allow", "{teen}");
    assert_eq!(teen["profile"], "secondary");
    assert_eq!(teen["lists"][1]["rating"], "old_enough");
    assert_eq!(teen["lists"][1]["blocks"], false);
    // A client in no profile's networks: the national list alone.
    let none = &check_json(p, &["--client", "10.1.2.3", "www.social.example"])[0];
    assert_eq!(
        (&none["verdict"], &none["profile"]),
        (&"allow".into(), &Value::Null)
    );
    assert!(
        none["selection"]
            .as_str()
            .unwrap()
            .contains("no profile: national list only")
    );
    assert_eq!(none["lists"].as_array().unwrap().len(), 1);

    // The allow file lifts the profile's own lists, never the national list.
    let v = check_json(
        p,
        &[
            "--profile",
            "primary",
            "ok.games.example",
            "www.example.com",
        ],
    );
    assert_eq!(v[0]["verdict"], "allow", "{}", v[0]);
    assert_eq!(v[0]["allow_file"], true);
    assert_eq!(v[0]["lists"][1]["lifted_by_allow"], true);
    assert_eq!(v[1]["verdict"], "block", "{}", v[1]);
    assert_eq!(
        (&v[1]["decided_by"], &v[1]["category"]),
        (&"national".into(), &"gambling".into())
    );
    assert_eq!(v[1]["allow_file"], true);
    assert_eq!(v[1]["lists"][0]["rating"], "mandatory");
    assert_eq!(v[1]["lists"][0]["lifted_by_allow"], false);
    assert_eq!(v[1]["selected_by"], "--profile");

    // A list that never loaded: the node answers SERVFAIL, and says so.
    let r = ward(
        p,
        &[
            "check",
            "--config",
            "school.toml",
            "--client",
            "127.0.0.4",
            "www.elsewhere.example",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("servfail\tcannot decide: list missing not loaded"),
        "{r:?}"
    );
    // The text form: verdict, profile and why, then one line per list.
    let r = ward(
        p,
        &[
            "check",
            "--config",
            "school.toml",
            "--client",
            "127.0.0.2",
            "social.example",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{r:?}");
    assert!(
        lines[0].starts_with("social.example\tblock\tlist=age category=social\tprofile primary (age 10): client 127.0.0.2 is in 127.0.0.2/32"),
        "{r:?}"
    );
    assert!(
        lines[1].starts_with("  national (list vn-national serial 3): no rule"),
        "{r:?}"
    );
    assert!(
        lines[3].contains("blocks: subtree rule \"social.example\""),
        "{r:?}"
    );
    assert!(
        lines[3].contains("category social, rated 13+, profile age 10"),
        "{r:?}"
    );
    // Confidential names are never echoed, in any list's row.
    let r = ward(
        p,
        &[
            "check",
            "--config",
            "school.toml",
            "--client",
            "127.0.0.2",
            "hidden.example.net",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stdout.contains("hidden"), "{r:?}");
    assert!(r.stdout.starts_with("confidential:"), "{r:?}");
    // Nothing was written: the check reads state_dir, never creates it.
    assert!(!p.join("state").exists());
}

#[test]
fn check_with_a_config_refuses_an_unknown_profile() {
    let dir = school_setup();
    let r = ward(
        dir.path(),
        &[
            "check",
            "--config",
            "school.toml",
            "--profile",
            "tertiary",
            "x.example",
        ],
    );
    fails(
        &r,
        64,
        "unknown profile \"tertiary\"; the profiles in school.toml are primary, secondary, broken",
    );
    // --client and --profile need --config, and exclude each other.
    for args in [
        &["check", "--demo", "--client", "127.0.0.1", "x.example"][..],
        &[
            "check",
            "--config",
            "school.toml",
            "--client",
            "127.0.0.1",
            "--profile",
            "primary",
            "x.example",
        ],
        &[
            "check",
            "--config",
            "school.toml",
            "--client",
            "not-an-ip",
            "x.example",
        ],
    ] {
        assert_eq!(ward(dir.path(), args).code, 64, "{args:?}");
    }
}

#[test]
fn config_check_warns_about_allow_entries_the_national_list_blocks() {
    let dir = school_setup();
    let r = ward(dir.path(), &["config", "check", "school.toml"]);
    // Warnings only: the config is valid.
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("school.toml: OK"), "{r:?}");
    assert!(
        r.stderr.contains("ward: warning: profile primary: allow entry example.com has no effect: the national list blocks it (category gambling)"),
        "{r:?}"
    );
    // An exact national rule leaves what is under it to the allow file.
    assert!(
        r.stderr.contains("allow entry exact.example.org has no effect: the national list blocks it (category adult)"),
        "{r:?}"
    );
    assert!(!r.stderr.contains("www.exact.example.org"), "{r:?}");
    assert!(!r.stderr.contains("ok.games.example"), "{r:?}");
    // A confidential entry is counted, never named.
    assert!(
        r.stderr.contains(
            "profile primary: allow file allow.txt: and 1 entries in confidential categories"
        ),
        "{r:?}"
    );
    assert!(!r.stderr.contains("hidden"), "{r:?}");
    // Nothing was written by the check either.
    assert!(!dir.path().join("state").exists());
}

#[test]
fn check_with_a_config_takes_the_national_list_a_start_up_would() {
    let dir = setup();
    let p = dir.path();
    let cfg = "[list]\nurl = \"https://127.0.0.1:9/list.ward\"\nfile = \"l.ward\"\ntrusted_keys = [\"k.pub\"]\nstate_dir = \"state\"\n";
    fs::write(p.join("node.toml"), cfg).unwrap();
    let serial = |p: &std::path::Path| {
        let r = ward(
            p,
            &["check", "--config", "node.toml", "--json", "example.com"],
        );
        assert_eq!(r.code, 0, "{r:?}");
        let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
        v["list_serial"].as_u64().unwrap()
    };
    // Nothing in state_dir yet: the list.file seed (serial 3).
    assert_eq!(serial(p), 3);
    assert!(!p.join("state").exists(), "a check writes nothing");
    // The last-known-good copy in state_dir comes first, as at start-up.
    fs::create_dir(p.join("state")).unwrap();
    let r = ward(
        p,
        &[
            "list",
            "build",
            "--key",
            "k.key",
            "--serial",
            "5",
            "--list-id",
            "vn-national",
            "--valid-for",
            "7d",
            "--confidential",
            "csam",
            "-o",
            "state/list.ward",
            "src.txt",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(serial(p), 5);
    assert_eq!(
        fs::read_dir(p.join("state")).unwrap().count(),
        1,
        "still nothing written"
    );
}
