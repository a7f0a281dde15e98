//! `[[lists]]` and `[[profile]]`: every bad input reported at once, with
//! its line; a good config read into settings and written back.

use std::path::Path;

use super::*;

const DEMO_PUB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.pub");
const DEMO_WARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.ward");

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    let text = format!(
        "[dns]\nupstreams = [\"192.0.2.53\"]\n[list]\nfile = {DEMO_WARD:?}\ntrusted_keys = [{DEMO_PUB:?}]\n{text}"
    );
    Config::parse_with(&text, "t.toml", || None)
}

/// The error lines; the five lines of [`parse`]'s preamble come first, so
/// the text's line N is reported as line N + 5.
fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

/// `school.txt` and `allow.txt` in `dir`, each with the given text.
fn files(dir: &Path, school: &str, allow: &str) -> (String, String) {
    let (s, a) = (dir.join("school.txt"), dir.join("allow.txt"));
    std::fs::write(&s, school).unwrap();
    std::fs::write(&a, allow).unwrap();
    (s.display().to_string(), a.display().to_string())
}

#[test]
fn a_school_config_reads_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let (school, allow) = files(
        dir.path(),
        "games.test games\n",
        "# ok\nok.test\n=only.test\n",
    );
    let c = parse(&format!(
        r#"
[[lists]]
name = "school"
source = {school:?}
[[lists]]
name = "age"
file = "age.ward"
trusted_keys = [{DEMO_PUB:?}]
[[profile]]
name = "primary"
clients = ["10.0.0.0/24", "10.0.1.7"]
age = 10
lists = ["school", "age"]
block_categories = ["social"]
allow = {allow:?}
[[profile]]
name = "secondary"
clients = ["10.0.0.0/16"]
age = 15
lists = ["age"]
school_name = "Trường THCS Kim Đồng"
school_contact = "024 3825 1234"
[[profile]]
name = "by-port"
listen = ["127.0.0.1:5353"]
age = 12
"#
    ))
    .unwrap();
    assert_eq!(
        c.profiles[0].school,
        crate::profiles::SchoolContact::default()
    );
    assert_eq!(
        c.profiles[1].school.name.as_deref(),
        Some("Trường THCS Kim Đồng")
    );
    assert_eq!(
        c.profiles[1].school.contact.as_deref(),
        Some("024 3825 1234")
    );
    assert_eq!(c.lists.len(), 2);
    assert_eq!(c.lists[0].name, "school");
    assert!(matches!(c.lists[1].origin, ListOrigin::Signed { .. }));
    let p = &c.profiles[0];
    assert_eq!((p.name.as_str(), p.age), ("primary", 10));
    assert_eq!(p.clients[1], "10.0.1.7/32".parse().unwrap());
    assert_eq!(p.block_categories, ["social"]);
    let entries = &p.allow.as_ref().unwrap().entries;
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].1, crate::list::RuleKind::Exact);
    assert_eq!(c.profiles[1].block_categories, Vec::<String>::new());
    // Selected by the listener alone: the first [dns] listen address.
    let by_port = &c.profiles[2];
    assert!(by_port.clients.is_empty());
    assert_eq!(
        by_port.listen,
        [ProfileListen {
            addr: "127.0.0.1:5353".parse().unwrap(),
            listener: crate::policy::ListenerId(0),
        }]
    );
    assert!(c.to_toml().contains("listen = [\"127.0.0.1:5353\"]"));
    let again = Config::parse_with(&c.to_toml(), "again.toml", || None).unwrap();
    assert_eq!(again, c);
}

#[test]
fn every_bad_input_is_reported_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let (school, allow) = files(
        dir.path(),
        "ok.test a\nbad..test b\n10.0.0.1 c\n",
        "ok.test\nnot a name\n=\n",
    );
    let got = errors(&format!(
        r#"[[lists]]
name = "school"
source = {school:?}
[[lists]]
name = "school"
file = "x.ward"
[[lists]]
name = "Bad Name"
url = "https://lists.example/x.ward"
source = "nowhere.txt"
[[profile]]
name = "a"
clients = ["10.0.0.0/24"]
age = 26
lists = ["school", "nope"]
allow = {allow:?}
listen = ["127.0.0.1:53", "127.0.0.1:5353", "nowhere"]
[[profile]]
name = "a"
clients = ["10.0.0.7/24", "10.1.0.0/16"]
age = 3
lists = []
listen = ["127.0.0.1:5353"]
"#
    ));
    let s = school.as_str();
    let a = allow.as_str();
    let want = [
        format!("t.toml:8: lists[0].source: {s}:2: empty label (two dots in a row, or a leading dot)"),
        format!("t.toml:8: lists[0].source: {s}:3: IP literal: ward lists names, not addresses"),
        // A missing key is reported at its table's header.
        "t.toml:9: lists[1].trusted_keys: required with `file` or `url`: list the .pub file(s) of the key(s) this list is signed with".into(),
        "t.toml:10: lists[1].name: duplicate name \"school\": names must be unique".into(),
        "t.toml:13: lists[2].name: invalid name \"Bad Name\": use lowercase letters, digits, '.' and '-', starting with a letter or digit, at most 64 bytes, and not an IP address".into(),
        "t.toml:14: lists[2].url: set either `source` or a signed `file`/`url`, not both".into(),
        "t.toml:19: profile[0].age: must be between 0 and 25, found 26".into(),
        "t.toml:20: profile[0].lists[1]: unknown list \"nope\"; the [[lists]] names are school".into(),
        format!("t.toml:21: profile[0].allow: {a}:2: one name per line (no category in an allow file)"),
        format!("t.toml:21: profile[0].allow: {a}:3: invalid name \"\": empty name"),
        "t.toml:22: profile[0].listen[0]: 127.0.0.1:53 is not one of the [dns] listen addresses (127.0.0.1:5353); a profile can only select queries that arrive on one of them".into(),
        "t.toml:22: profile[0].listen[2]: invalid address \"nowhere\"; write IP:PORT, e.g. \"127.0.0.1:5353\" or \"[::1]:5353\"".into(),
        "t.toml:24: profile[1].name: duplicate name \"a\": names must be unique".into(),
        "t.toml:25: profile[1].clients: network 10.0.0.0/24 is also in profile \"a\": two profiles cannot claim the same network (a more specific one can be nested inside)".into(),
        "t.toml:28: profile[1].listen[0]: 127.0.0.1:5353 is also the listen address of profile \"a\": a listen address selects one profile".into(),
    ];
    assert_eq!(got, want);
}

#[test]
fn required_keys_and_one_origin() {
    let got = errors(
        "[[lists]]\nname = \"x\"\n[[lists]]\nname = \"y\"\nsource = \"a\"\nfile = \"b\"\n[[profile]]\nage = 3\n",
    );
    assert_eq!(
        got,
        [
            "t.toml:6: lists[0].source: required: set `source` (a plain list file), or `file` and/or `url` (a signed list, with `trusted_keys`)",
            "t.toml:11: lists[1].file: set either `source` or a signed `file`/`url`, not both",
            "t.toml:12: profile[0].name: required: the name profiles use for this entry",
            "t.toml:12: profile[0].clients: required: the client networks (CIDRs or addresses) this profile applies to, or `listen` addresses or `client_ids` that select it",
        ]
    );
}

#[test]
fn a_source_in_the_wrong_format_shows_twenty_lines_then_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let names: String = (0..1000).map(|i| format!("n{i}.test\n")).collect();
    let (school, _) = files(dir.path(), &names, "");
    let got = errors(&format!(
        "[[lists]]\nname = \"school\"\nsource = {school:?}\n"
    ));
    assert_eq!(got.len(), 21, "{got:#?}");
    assert_eq!(
        got[0],
        format!(
            "t.toml:8: lists[0].source: {school}:1: missing category: expected `NAME CATEGORY`"
        )
    );
    assert_eq!(
        got[20],
        format!(
            "t.toml:8: lists[0].source: {school}: and 980 more bad line(s); `ward list build` on the file lists them all"
        )
    );
}

#[test]
fn school_name_and_contact_are_one_bounded_line() {
    let long = "x".repeat(crate::profiles::MAX_SCHOOL_TEXT + 1);
    let e = errors(&format!(
        r#"
[[profile]]
name = "a"
clients = ["10.0.0.0/24"]
age = 10
school_name = "Line one\nline two"
school_contact = {long:?}
[[profile]]
name = "b"
clients = ["10.1.0.0/24"]
age = 10
school_name = 7
school_contact = "  "
"#
    ));
    assert_eq!(e.len(), 4, "{e:?}");
    assert!(
        e[0].starts_with("t.toml:11: profile[0].school_name: must be one line of text"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("t.toml:12: profile[0].school_contact: must be one line"),
        "{e:?}"
    );
    assert!(e[1].contains("at most 120 characters"), "{e:?}");
    assert!(
        e[2].starts_with("t.toml:17: profile[1].school_name: expected a string"),
        "{e:?}"
    );
    assert!(
        e[3].starts_with("t.toml:18: profile[1].school_contact: must be one line"),
        "{e:?}"
    );
}

#[test]
fn the_national_list_name_is_reserved() {
    let dir = tempfile::tempdir().unwrap();
    let (school, _) = files(dir.path(), "games.test games\n", "");
    let got = errors(&format!(
        "[[lists]]\nname = \"national\"\nsource = {school:?}\n"
    ));
    assert_eq!(
        got,
        [
            "t.toml:7: lists[0].name: \"national\" is reserved for the national list ([list]) in metrics and reports; choose another name"
        ]
    );
}

#[test]
fn a_signed_list_from_a_url_reads_and_round_trips() {
    let c = parse(&format!(
        r#"
[[lists]]
name = "moet"
url = "https://lists.example/moet.ward"
trusted_keys = [{DEMO_PUB:?}]
poll_interval = "10m"
[[lists]]
name = "seeded"
url = "https://lists.example/seeded.ward"
file = "seed.ward"
trusted_keys = [{DEMO_PUB:?}]
"#
    ))
    .unwrap();
    let ListOrigin::Signed { file, update, .. } = &c.lists[0].origin else {
        panic!("{:?}", c.lists[0]);
    };
    assert_eq!(file, &None);
    let update = update.as_ref().unwrap();
    assert_eq!(update.url.as_str(), "https://lists.example/moet.ward");
    assert_eq!(update.poll_interval, std::time::Duration::from_secs(600));
    assert_eq!(update.timeout, DEFAULT_FETCH_TIMEOUT);
    assert_eq!(update.max_size, DEFAULT_MAX_LIST_SIZE);
    let ListOrigin::Signed { file, update, .. } = &c.lists[1].origin else {
        panic!("{:?}", c.lists[1]);
    };
    assert_eq!(file.as_deref(), Some(Path::new("seed.ward")));
    assert_eq!(
        update.as_ref().unwrap().poll_interval,
        DEFAULT_POLL_INTERVAL
    );
    let again = Config::parse_with(&c.to_toml(), "again.toml", || None).unwrap();
    assert_eq!(again, c);
}

#[test]
fn a_url_must_be_https_and_the_updater_keys_need_one() {
    let got = errors(&format!(
        r#"[[lists]]
name = "plain"
url = "http://lists.example/x.ward"
trusted_keys = [{DEMO_PUB:?}]
[[lists]]
name = "nourl"
file = "x.ward"
trusted_keys = [{DEMO_PUB:?}]
poll_interval = "1m"
[[lists]]
name = "small"
url = "https://lists.example/x.ward"
trusted_keys = [{DEMO_PUB:?}]
max_size = 100
timeout = "2h"
"#
    ));
    assert_eq!(got.len(), 4, "{got:#?}");
    assert!(got[0].starts_with("t.toml:8: lists[0].url: "), "{got:#?}");
    assert_eq!(
        got[1],
        "t.toml:14: lists[1].poll_interval: only used with `url`; set `url` or remove this key"
    );
    assert!(
        got[2].starts_with("t.toml:19: lists[2].max_size: 100 bytes is too small"),
        "{got:#?}"
    );
    assert!(
        got[3].starts_with("t.toml:20: lists[2].timeout: "),
        "{got:#?}"
    );
}

#[test]
fn client_ids_select_a_profile_and_are_checked() {
    let c = parse(
        r#"
[[profile]]
name = "a"
client_ids = ["School-42", "lab"]
age = 10
"#,
    )
    .unwrap();
    let ids: Vec<String> = c.profiles[0]
        .client_ids
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(ids, ["school-42", "lab"]);
    let errs = errors(
        r#"
[[profile]]
name = "a"
client_ids = ["x", "bad_id", "x"]
age = 10
[[profile]]
name = "b"
client_ids = ["X"]
age = 12
"#,
    );
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(
        errs[0].contains(":9:") && errs[0].contains("\"bad_id\" is not a client id"),
        "{errs:#?}"
    );
    assert!(errs[1].contains("client id x is given twice"), "{errs:#?}");
    assert!(
        errs[2].contains(":13:") && errs[2].contains("also a client id of profile \"a\""),
        "{errs:#?}"
    );
}
