//! The window arithmetic: days, overnight windows, the end of the week,
//! the time zone, and when the next change comes.

use jiff::civil::{DateTime, date};
use jiff::tz::TimeZone;

use super::schedule::*;

fn w(days: &[&str], start: &str, end: &str) -> Window {
    Window {
        days: days
            .iter()
            .map(|d| parse_day(d).unwrap())
            .fold(0, |a, b| a | b),
        start: parse_clock(start, false).unwrap(),
        end: parse_clock(end, true).unwrap(),
        categories: vec!["games".into()],
    }
}

/// 2025-03-03 is a Monday.
fn at(day: i8, h: i8, m: i8) -> DateTime {
    date(2025, 3, day).at(h, m, 0, 0)
}

fn hcm() -> TimeZone {
    TimeZone::get("Asia/Ho_Chi_Minh").unwrap()
}

#[test]
fn clocks_and_days() {
    assert_eq!(parse_clock("07:30", false), Ok(450));
    assert_eq!(parse_clock("00:00", false), Ok(0));
    assert_eq!(parse_clock("23:59", false), Ok(1439));
    assert_eq!(parse_clock("24:00", true), Ok(DAY));
    for bad in [
        "24:00", "7:30", "07:60", "25:00", "0730", "07:3a", "", "-1:00", "07:30:00",
    ] {
        assert!(parse_clock(bad, false).is_err(), "{bad}");
    }
    assert!(parse_clock("24:01", true).is_err());
    assert_eq!(parse_day("mon"), Ok(1));
    assert_eq!(parse_day("sun"), Ok(64));
    assert!(parse_day("Mon").is_err());
    assert!(parse_day("monday").is_err());
}

#[test]
fn a_daytime_window_is_open_from_start_to_before_end() {
    let school = w(&["mon", "tue", "wed", "thu", "fri"], "07:00", "11:30");
    assert!(!school.open(&at(3, 6, 59)));
    assert!(school.open(&at(3, 7, 0)));
    assert!(school.open(&at(3, 11, 29)));
    assert!(!school.open(&at(3, 11, 30)), "the end is not inside");
    assert!(school.open(&at(7, 9, 0)), "friday");
    assert!(!school.open(&at(8, 9, 0)), "saturday");
    assert_eq!(school.closes(&at(3, 9, 15)), Some(at(3, 11, 30)));
    assert_eq!(school.closes(&at(3, 12, 0)), None);
}

#[test]
fn an_overnight_window_runs_into_the_next_day() {
    // Opens on Friday and Sunday nights only.
    let night = w(&["fri", "sun"], "22:00", "06:00");
    assert!(night.overnight());
    assert!(night.open(&at(7, 22, 0)), "friday night");
    assert!(night.open(&at(8, 5, 59)), "saturday morning");
    assert!(!night.open(&at(8, 6, 0)));
    assert!(!night.open(&at(8, 23, 0)), "saturday night is not listed");
    assert!(
        night.open(&at(3, 3, 0)),
        "monday morning ends sunday's night: the week wraps"
    );
    assert!(!night.open(&at(4, 3, 0)), "tuesday morning");
    let sunday = w(&["sun"], "22:00", "06:00");
    assert!(sunday.open(&at(10, 3, 0)), "monday after sunday night");
    assert!(!sunday.open(&at(10, 6, 0)));
    assert_eq!(sunday.closes(&at(9, 23, 0)), Some(at(10, 6, 0)));
    assert_eq!(sunday.closes(&at(10, 1, 0)), Some(at(10, 6, 0)));
    assert!(!sunday.open(&at(4, 3, 0)), "tuesday morning");
}

#[test]
fn a_whole_day_and_the_day_boundary() {
    let saturday = w(&["sat"], "00:00", "24:00");
    assert!(!saturday.open(&at(7, 23, 59)));
    assert!(saturday.open(&at(8, 0, 0)));
    assert!(saturday.open(&at(8, 23, 59)));
    assert!(!saturday.open(&at(9, 0, 0)));
    assert_eq!(saturday.closes(&at(8, 12, 0)), Some(at(9, 0, 0)));
    let evening = w(&["sun"], "20:00", "24:00");
    assert!(!evening.overnight());
    assert!(evening.open(&at(9, 23, 59)));
    assert!(!evening.open(&at(10, 0, 0)), "monday 00:00");
}

#[test]
fn overlaps_share_a_minute_of_the_week() {
    let morning = w(&["mon"], "07:00", "11:30");
    assert!(morning.overlaps(&w(&["mon"], "11:00", "12:00")));
    assert!(
        !morning.overlaps(&w(&["mon"], "11:30", "12:00")),
        "touching"
    );
    assert!(!morning.overlaps(&w(&["tue"], "07:00", "11:30")));
    // Sunday night reaches into Monday morning.
    assert!(w(&["sun"], "23:00", "08:00").overlaps(&morning));
    assert!(!w(&["sun"], "23:00", "07:00").overlaps(&morning));
}

#[test]
fn the_time_zone_decides_the_local_time() {
    let school = vec![w(&["mon"], "07:00", "11:30")];
    // 01:00 UTC is 08:00 in Ho Chi Minh City: open there, not in UTC.
    let instant: jiff::Timestamp = "2025-03-03T01:00:00Z".parse().unwrap();
    let local = instant.to_zoned_datetime(hcm());
    assert_eq!(open_windows(&school, &local), vec![0]);
    let utc = instant.to_zoned_datetime(TimeZone::UTC);
    assert_eq!(open_windows(&school, &utc), Vec::<u16>::new());
    // Next change: 11:30 local, i.e. 04:30 UTC; in UTC, 07:00 UTC.
    assert_eq!(
        next_change(&school, &local).unwrap().timestamp(),
        "2025-03-03T04:30:00Z".parse().unwrap()
    );
    assert_eq!(
        next_change(&school, &utc).unwrap().timestamp(),
        "2025-03-03T07:00:00Z".parse().unwrap()
    );
}

#[test]
fn the_next_change_is_the_nearest_edge() {
    let tz = hcm();
    let windows = vec![
        w(&["mon", "wed"], "07:00", "11:30"),
        w(&["sun"], "22:00", "06:00"),
    ];
    let zoned = |d: DateTime| d.to_zoned_datetime(tz.clone()).unwrap();
    let next = |d| next_change(&windows, &zoned(d)).unwrap().datetime();
    assert_eq!(next(at(3, 6, 0)), at(3, 7, 0));
    assert_eq!(
        next(at(3, 7, 0)),
        at(3, 11, 30),
        "an edge is not after itself"
    );
    assert_eq!(next(at(3, 12, 0)), at(5, 7, 0), "wednesday");
    assert_eq!(next(at(5, 12, 0)), at(9, 22, 0), "sunday night");
    assert_eq!(next(at(9, 23, 0)), at(10, 6, 0), "monday morning");
    assert_eq!(next_change(&[], &zoned(at(3, 6, 0))), None);
}

#[test]
fn a_daylight_saving_zone_follows_local_time() {
    // Berlin moves its clocks from 02:00 to 03:00 on 2025-03-30 (a
    // Sunday): a window from 01:00 to 04:00 that day lasts two hours.
    let tz = TimeZone::get("Europe/Berlin").unwrap();
    let windows = vec![w(&["sun"], "01:00", "04:00")];
    let start = date(2025, 3, 30)
        .at(1, 0, 0, 0)
        .to_zoned_datetime(tz.clone())
        .unwrap();
    assert_eq!(open_windows(&windows, &start), vec![0]);
    let end = next_change(&windows, &start).unwrap();
    assert_eq!(end.datetime(), date(2025, 3, 30).at(4, 0, 0, 0));
    assert_eq!(end.duration_since(&start).as_hours(), 2);
}

// ---- Profiles with schedules and walled gardens --------------------------

use super::{
    ListRef, NameRules, Outcome, Profile, Rating, Verdict, decide_for, explain, key_of_text,
};
use crate::domain::NameKey;
use crate::list::RuleKind;
use crate::store::Snapshot;

fn list(id: &str, source: &str, min_age: &[(&str, u8)]) -> Snapshot {
    use ed25519_dalek::SigningKey;
    let key = SigningKey::from_bytes(&[9; 32]);
    let opts = crate::list::BuildOptions {
        list_id: id.into(),
        serial: 1,
        issued_at: jiff::Timestamp::now(),
        expires_at: jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24),
        confidential: Default::default(),
        min_age: min_age.iter().map(|&(c, a)| (c.to_string(), a)).collect(),
    };
    let (bytes, _) = crate::list::build::build_from_str(source, &opts, &key).unwrap();
    let trust: crate::list::TrustedKeys = [key.verifying_key()].into_iter().collect();
    let list = crate::list::verify(crate::list::Bytes::Owned(bytes), &trust).unwrap();
    crate::store::ListStore::with(list).load_full().unwrap()
}

fn key(name: &str) -> NameKey {
    key_of_text(name.as_bytes()).unwrap()
}

fn national() -> Snapshot {
    list("national", "blocked.test adult\n", &[])
}

fn school() -> Snapshot {
    list(
        "school",
        "games.test games\nsocial.test social\nalways.test gambling\n",
        &[("games", 13), ("social", 13)],
    )
}

fn teen(allow: &[&str], windows: &[Window], now: &DateTime) -> Profile {
    let mut rules = NameRules::default();
    for name in allow {
        rules.insert(&key(name), RuleKind::Subtree);
    }
    Profile::new("teen".into(), 16, &[], rules, [(0, Some(school()))])
        .with_schedule(windows, &now.to_zoned_datetime(hcm()).unwrap())
}

#[test]
fn a_window_blocks_its_categories_only_while_open() {
    let national = national();
    let windows = vec![w(&["mon", "tue", "wed", "thu", "fri"], "07:00", "11:30")];
    let verdict = |p: &Profile, name| decide_for(&national, Some(p), &key(name)).unwrap();
    let inside = teen(&[], &windows, &at(3, 8, 0));
    assert!(
        matches!(verdict(&inside, "www.games.test"), Verdict::Block(b) if b.list == ListRef::Extra(0))
    );
    assert_eq!(
        verdict(&inside, "social.test"),
        Verdict::Allow,
        "not a scheduled category"
    );
    assert!(
        matches!(verdict(&inside, "blocked.test"), Verdict::Block(b) if b.list == ListRef::National)
    );
    // ward check's explanation: scheduled, and until 11:30 that day.
    let e = explain(&national, Some(&inside), &key("games.test"));
    assert_eq!(
        e.verdict(),
        decide_for(&national, Some(&inside), &key("games.test"))
    );
    assert!(matches!(
        e.lists[0].outcome,
        Outcome::Match {
            rating: Rating::Scheduled {
                min_age: 13,
                window: 0
            },
            ..
        }
    ));
    let open = &inside.open_windows()[0];
    assert_eq!(open.until.as_ref().unwrap().datetime(), at(3, 11, 30));
    // Outside the window (and at the weekend) the age rules: allowed.
    for outside in [at(3, 11, 30), at(3, 6, 59), at(8, 9, 0)] {
        let p = teen(&[], &windows, &outside);
        assert_eq!(verdict(&p, "games.test"), Verdict::Allow, "{outside}");
        assert!(p.open_windows().is_empty());
        assert!(matches!(
            explain(&national, Some(&p), &key("games.test")).lists[0].outcome,
            Outcome::Match {
                rating: Rating::OldEnough { .. },
                ..
            }
        ));
    }
    // The allow file lifts a scheduled block as it lifts any of the
    // profile's own; never the national list's.
    let allowed = teen(&["games.test", "blocked.test"], &windows, &at(3, 8, 0));
    assert_eq!(verdict(&allowed, "games.test"), Verdict::Allow);
    assert!(
        matches!(verdict(&allowed, "blocked.test"), Verdict::Block(b) if b.list == ListRef::National)
    );
    // An unrated category blocks at any time, inside a window or not.
    assert!(matches!(
        verdict(&teen(&[], &windows, &at(8, 9, 0)), "always.test"),
        Verdict::Block(_)
    ));
}

#[test]
fn a_walled_garden_lets_through_only_its_allow_file() {
    let national = national();
    let garden = teen(&["kids.test", "blocked.test"], &[], &at(3, 8, 0)).allow_only();
    let verdict = |name| decide_for(&national, Some(&garden), &key(name)).unwrap();
    assert_eq!(verdict("kids.test"), Verdict::Allow);
    assert_eq!(verdict("www.kids.test"), Verdict::Allow);
    assert!(matches!(verdict("example.test"), Verdict::Block(b) if b.list == ListRef::Garden));
    assert!(matches!(verdict("social.test"), Verdict::Block(b) if b.list == ListRef::Garden));
    // A national entry stays blocked even though the allow file has it.
    assert!(matches!(verdict("blocked.test"), Verdict::Block(b) if b.list == ListRef::National));
    // The names an answer leads to are judged by the lists, not the garden.
    assert_eq!(
        garden.decide_chain_key(key("cdn.example").as_bytes()),
        Ok(Verdict::Allow)
    );
    assert!(matches!(
        garden.decide_chain_key(key("games.test").as_bytes()),
        Ok(Verdict::Allow)
    ));
    assert!(matches!(
        garden.decide_chain_key(key("always.test").as_bytes()),
        Ok(Verdict::Block(_))
    ));
    let e = explain(&national, Some(&garden), &key("example.test"));
    assert!(e.outside_garden && !e.allowed);
    assert_eq!(
        e.verdict(),
        decide_for(&national, Some(&garden), &key("example.test"))
    );
    let e = explain(&national, Some(&garden), &key("kids.test"));
    assert!(!e.outside_garden && e.allowed);
    assert_eq!(e.verdict(), Ok(Verdict::Allow));
}
