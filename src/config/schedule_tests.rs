//! `[node]`, `mode` and `[[profile.schedule]]`: good configs read and
//! written back; every bad input reported at once with its line.

use super::*;
use crate::profiles::Mode;

const DEMO_PUB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.pub");
const DEMO_WARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.ward");

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    let text = format!(
        "[dns]\nupstreams = [\"192.0.2.53\"]\n[list]\nfile = {DEMO_WARD:?}\ntrusted_keys = [{DEMO_PUB:?}]\n{text}"
    );
    Config::parse_with(&text, "t.toml", || None)
}

/// The error lines; the text's line N is reported as line N + 5.
fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn schedules_modes_and_the_time_zone_read_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let allow = dir.path().join("allow.txt");
    std::fs::write(&allow, "kids.test\n").unwrap();
    let c = parse(&format!(
        r#"
[node]
time_zone = "Asia/Bangkok"
[[profile]]
name = "primary"
clients = ["10.0.0.0/24"]
age = 6
mode = "allow_only"
allow = {allow:?}
[[profile]]
name = "secondary"
clients = ["10.0.1.0/24"]
age = 14
[[profile.schedule]]
days = ["mon", "tue", "wed", "thu", "fri"]
start = "07:00"
end = "11:30"
categories = ["games", "social"]
[[profile.schedule]]
days = ["sun"]
start = "22:00"
end = "06:00"
categories = ["games"]
[[profile.schedule]]
days = ["mon"]
start = "11:30"
end = "24:00"
categories = ["games"]
"#
    ))
    .unwrap();
    assert_eq!(c.node.time_zone.iana_name(), Some("Asia/Bangkok"));
    assert_eq!(c.profiles[0].mode, Mode::AllowOnly);
    assert_eq!(c.profiles[1].mode, Mode::Deny);
    let s = &c.profiles[1].schedule;
    assert_eq!(s.len(), 3);
    assert_eq!((s[0].days, s[0].start, s[0].end), (0b1_1111, 420, 690));
    assert!(s[1].overnight());
    assert_eq!(s[2].end, 1440);
    assert_eq!(s[0].categories, ["games", "social"]);
    // Written back and read again: the same config.
    let text = c.to_toml();
    assert!(text.contains("time_zone = \"Asia/Bangkok\""), "{text}");
    assert!(text.contains("mode = \"allow_only\""), "{text}");
    let again = Config::parse_with(&text, "again.toml", || None).unwrap();
    assert_eq!(again, c);
    // The default zone is Ho Chi Minh City's, and is not written.
    let plain = parse("").unwrap();
    assert_eq!(plain.node.time_zone.iana_name(), Some("Asia/Ho_Chi_Minh"));
    assert!(!plain.to_toml().contains("[node]"));
}

#[test]
fn every_bad_schedule_mode_and_zone_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "# nothing yet\n").unwrap();
    let errors = errors(&format!(
        r#"[node]
time_zone = "Asia/Hanoi_City"
[[profile]]
name = "a"
clients = ["10.0.0.0/24"]
age = 6
mode = "allow_only"
[[profile]]
name = "b"
clients = ["10.0.1.0/24"]
age = 6
mode = "allow_only"
allow = {empty:?}
[[profile]]
name = "c"
clients = ["10.0.2.0/24"]
age = 14
mode = "walled"
[[profile.schedule]]
days = ["mon", "Tuesday"]
start = "7:00"
end = "25:00"
categories = ["games"]
[[profile.schedule]]
days = ["mon"]
start = "08:00"
end = "08:00"
categories = ["games"]
[[profile.schedule]]
days = ["mon", "tue"]
start = "10:00"
end = "12:00"
categories = ["social", "games"]
[[profile.schedule]]
days = ["tue"]
start = "11:00"
end = "13:00"
categories = ["games"]
[[profile.schedule]]
days = ["sun"]
start = "23:00"
end = "10:30"
categories = ["games"]
[[profile.schedule]]
days = []
start = "01:00"
end = "02:00"
categories = []
"#
    ));
    let expected = [
        "t.toml:7: node.time_zone: unknown time zone \"Asia/Hanoi_City\"",
        "t.toml:12: profile[0].mode: \"allow_only\" needs an allow source",
        "t.toml:17: profile[1].mode: \"allow_only\" with an allow file that holds no name",
        "t.toml:23: profile[2].mode: expected one of \"deny\", \"allow_only\", found \"walled\"",
        "t.toml:25: profile[2].schedule[0].days[1]: invalid day \"Tuesday\"",
        "t.toml:26: profile[2].schedule[0].start: invalid time \"7:00\"",
        "t.toml:27: profile[2].schedule[0].end: invalid time \"25:00\"",
        "t.toml:32: profile[2].schedule[1].end: equals `start`",
        "t.toml:43: profile[2].schedule[3].categories: overlaps schedule[2] (mon,tue 10:00-12:00) for category games",
        "t.toml:48: profile[2].schedule[4].categories: overlaps schedule[2] (mon,tue 10:00-12:00) for category games",
        "t.toml:50: profile[2].schedule[5].days: required",
        "t.toml:53: profile[2].schedule[5].categories: required",
    ];
    for (want, got) in expected.iter().zip(&errors) {
        assert!(
            got.starts_with(want),
            "want {want:?}\n got {got:?}\n all {errors:#?}"
        );
    }
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
}

#[test]
fn the_walled_garden_label_is_no_list_name() {
    let errors = errors(
        r#"[[lists]]
name = "walled-garden"
source = "x.txt"
"#,
    );
    assert!(
        errors[0].starts_with("t.toml:7: lists[0].name: \"walled-garden\" is reserved"),
        "{errors:#?}"
    );
}
