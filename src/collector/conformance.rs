//! The storage contract as a test suite, run against every [`Storage`]
//! implementation through [`storage_conformance!`]: each backend's tests
//! module invokes it once with a function that opens a fresh, empty store,
//! so a contract test added here runs against every backend.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::store::{Accepted, AcceptedProbe, Inserted, ProbeQuery, Storage, WindowFlag};
use crate::keys::KeyId;
use crate::report::body::{self, Count, Counters, ListInForce, Report};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A report of `node` for `[start, end)` with list `serial`.
pub(crate) fn report(node: &str, start: &str, end: &str, serial: u64) -> Accepted {
    let start = ts(start);
    let mut blocked = BTreeMap::new();
    blocked.insert(
        "adult".to_owned(),
        BTreeMap::from([
            ("dns".to_owned(), Count::Exact(12)),
            ("sni".to_owned(), Count::Below("<5".into())),
            ("http".to_owned(), Count::Below("<5".into())),
        ]),
    );
    let report = Report {
        format: body::FORMAT.to_owned(),
        report_id: body::report_id("isp", node, start),
        isp_id: "isp".to_owned(),
        node_id: node.to_owned(),
        window_start: start,
        window_end: ts(end),
        node_started_at: ts("2026-11-29T17:00:00Z"),
        ward_version: "0.1.0".to_owned(),
        config_digest: "00".repeat(32),
        min_count: 5,
        list: Some(ListInForce {
            list_id: "national".into(),
            serial,
            sha256: "ab".repeat(32),
            issued_at: ts("2026-11-29T16:00:00Z"),
            expires_at: ts("2026-12-06T16:00:00Z"),
            activated_at: ts("2026-11-29T16:00:07Z"),
            stale: false,
        }),
        activations: vec![body::ActivationLag {
            list_id: "national".into(),
            serial,
            sha256: "ab".repeat(32),
            issued_at: ts("2026-11-29T16:00:00Z"),
            activated_at: ts("2026-11-29T16:00:07Z"),
            lag_seconds: 7.0,
            at_startup: false,
        }],
        counters: Counters {
            queries_total: 100,
            blocked,
            upstream_failures: BTreeMap::new(),
            list_fetch_failures: BTreeMap::new(),
            malformed_packets: 0,
        },
        kind: body::ReportKind::Isp,
        school: None,
    };
    Accepted {
        body: report.to_bytes(),
        report,
        signature: "ed25519 keyid=0000000000000000; sig=00".into(),
        key_id: KeyId([0; 8]),
        received_at: ts("2026-11-29T18:10:00Z"),
    }
}

fn stored(flags: &[WindowFlag]) -> Inserted {
    Inserted::Stored {
        flags: flags.to_vec(),
    }
}

/// Insert, read back, replay.
pub(crate) fn a_replayed_report_is_stored_once(s: &dyn Storage) {
    let r = report("n1", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 3);
    assert_eq!(s.insert_report(&r).unwrap(), stored(&[]));
    assert_eq!(s.insert_report(&r).unwrap(), Inserted::Duplicate);
    assert_eq!(s.report_count().unwrap(), 1);
    let stored = s.report(&r.report.report_id).unwrap().unwrap();
    assert_eq!(stored.body, r.body, "the body is kept byte for byte");
    assert!(stored.flags.is_empty());
    assert!(s.report("ffff").unwrap().is_none());
    let nodes = s.nodes().unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].reports, 1);
    assert_eq!(nodes[0].list_serial, Some(3));
}

/// Overlapping and backwards windows are stored and flagged; the node's
/// latest state follows the latest window, not the latest arrival.
pub(crate) fn odd_windows_are_flagged_not_merged(s: &dyn Storage) {
    let first = report("n1", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 1);
    let second = report("n1", "2026-11-29T18:05:00Z", "2026-11-29T18:10:00Z", 2);
    assert_eq!(s.insert_report(&first).unwrap(), stored(&[]));
    assert_eq!(s.insert_report(&second).unwrap(), stored(&[]));
    // Starts inside `second`.
    let overlap = report("n1", "2026-11-29T18:07:00Z", "2026-11-29T18:12:00Z", 2);
    assert_eq!(
        s.insert_report(&overlap).unwrap(),
        stored(&[WindowFlag::Overlap])
    );
    // Before everything stored, overlapping nothing.
    let mut backwards = report("n1", "2026-11-29T17:00:00Z", "2026-11-29T17:05:00Z", 9);
    backwards.received_at = ts("2026-11-29T18:20:00Z");
    assert_eq!(
        s.insert_report(&backwards).unwrap(),
        stored(&[WindowFlag::Backwards])
    );
    // Ends before it starts.
    let inverted = report("n2", "2026-11-29T18:05:00Z", "2026-11-29T18:00:00Z", 1);
    assert_eq!(
        s.insert_report(&inverted).unwrap(),
        stored(&[WindowFlag::Backwards])
    );
    // Another node's windows are its own.
    let other = report("n3", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 1);
    assert_eq!(s.insert_report(&other).unwrap(), stored(&[]));

    assert_eq!(s.report_count().unwrap(), 6);
    let stored = s.report(&overlap.report.report_id).unwrap().unwrap();
    assert_eq!(stored.flags, [WindowFlag::Overlap]);
    let nodes = s.nodes().unwrap();
    let n1 = nodes.iter().find(|n| n.node_id == "n1").unwrap();
    assert_eq!(n1.reports, 4);
    assert_eq!(n1.flagged, 2);
    // The latest window is `overlap` (ends 18:12), serial 2; the backwards
    // one arrived last but changes nothing.
    assert_eq!(n1.last_window_end, ts("2026-11-29T18:12:00Z"));
    assert_eq!(n1.list_serial, Some(2));
    assert_eq!(n1.last_report_at, ts("2026-11-29T18:10:00Z"));
    let ids: Vec<_> = nodes.iter().map(|n| n.node_id.as_str()).collect();
    assert_eq!(ids, ["n1", "n2", "n3"]);
}

/// A batch is one transaction, in order: a duplicate inside it is seen.
pub(crate) fn a_batch_commits_in_order(s: &dyn Storage) {
    let a = report("n1", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 1);
    let b = report("n1", "2026-11-29T18:05:00Z", "2026-11-29T18:10:00Z", 1);
    let overlap = report("n1", "2026-11-29T18:09:00Z", "2026-11-29T18:11:00Z", 1);
    let got = s
        .insert_reports(&[a.clone(), b, a.clone(), overlap])
        .unwrap();
    assert_eq!(
        got,
        [
            stored(&[]),
            stored(&[]),
            Inserted::Duplicate,
            stored(&[WindowFlag::Overlap]),
        ]
    );
    assert_eq!(s.report_count().unwrap(), 3);
    assert_eq!(s.insert_reports(&[]).unwrap(), []);
}

/// One lag per node and serial: the first activation, however often it is
/// repeated in later reports.
pub(crate) fn activation_lags_are_one_per_node_and_serial(s: &dyn Storage) {
    let a = report("n1", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 4);
    let b = report("n1", "2026-11-29T18:05:00Z", "2026-11-29T18:10:00Z", 4);
    let c = report("n2", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 4);
    s.insert_reports(&[a, b, c]).unwrap();
    let lags = s.activation_lags().unwrap();
    let got: Vec<_> = lags
        .iter()
        .map(|l| (l.node_id.as_str(), l.serial, l.lag_seconds))
        .collect();
    assert_eq!(got, [("n1", 4, 7.0), ("n2", 4, 7.0)]);
}

/// `windows`: the overlap with `[from, to)`, the ISP and node filters,
/// the order, flags, and the blocked cells with exact and suppressed
/// counts; a report without blocked counts still has its window.
pub(crate) fn windows_are_filtered_ordered_and_carry_their_counts(s: &dyn Storage) {
    use super::store::WindowQuery;
    let a = report("n2", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 1);
    let b = report("n1", "2026-11-29T18:05:00Z", "2026-11-29T18:10:00Z", 2);
    let c = report("n1", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 1);
    let overlap = report("n1", "2026-11-29T18:09:00Z", "2026-11-29T18:11:00Z", 2);
    let mut empty = report("n1", "2026-11-29T18:20:00Z", "2026-11-29T18:25:00Z", 2);
    empty.report.counters.blocked.clear();
    empty.body = empty.report.to_bytes();
    s.insert_reports(&[a, b, c, overlap, empty]).unwrap();

    let all = |from: &str, to: &str| WindowQuery {
        isp_id: None,
        node_id: None,
        from: ts(from),
        to: ts(to),
    };
    let got = s
        .windows(&all("2026-11-29T00:00:00Z", "2026-11-30T00:00:00Z"))
        .unwrap();
    let order: Vec<_> = got
        .iter()
        .map(|w| (w.node_id.as_str(), w.window_start.to_string()))
        .collect();
    assert_eq!(
        order,
        [
            ("n1", "2026-11-29T18:00:00Z".to_owned()),
            ("n1", "2026-11-29T18:05:00Z".to_owned()),
            ("n1", "2026-11-29T18:09:00Z".to_owned()),
            ("n1", "2026-11-29T18:20:00Z".to_owned()),
            ("n2", "2026-11-29T18:00:00Z".to_owned()),
        ]
    );
    first_window_is_complete(&got[0]);
    assert!(got[1].flags.is_empty());
    assert_eq!(got[2].flags, [WindowFlag::Overlap]);
    assert!(got[3].blocked.is_empty(), "no counts, still a window");

    // Overlap with [from, to): 18:05 to 18:09 touches only the window
    // 18:05–18:10 of n1 (windows ending at 18:05 or starting at 18:09
    // are outside), and n2's none.
    let some = s
        .windows(&all("2026-11-29T18:05:00Z", "2026-11-29T18:09:00Z"))
        .unwrap();
    let ids: Vec<_> = some.iter().map(|w| w.window_start.to_string()).collect();
    assert_eq!(ids, ["2026-11-29T18:05:00Z"]);

    let mut one = all("2026-11-29T00:00:00Z", "2026-11-30T00:00:00Z");
    one.node_id = Some("n2".into());
    let n2 = s.windows(&one).unwrap();
    assert_eq!(n2.len(), 1);
    assert_eq!(n2[0].node_id, "n2");
    one.isp_id = Some("other-isp".into());
    assert!(s.windows(&one).unwrap().is_empty());
}

/// The fields and blocked cells of the first window the windows test
/// reads back (node n1, 18:00–18:05).
fn first_window_is_complete(first: &super::store::WindowRow) {
    use super::store::{BlockedCell, BlockedCount};
    assert_eq!(first.isp_id, "isp");
    assert_eq!(first.list_id.as_deref(), Some("national"));
    assert_eq!(first.list_serial, Some(1));
    assert_eq!(first.queries_total, 100);
    assert_eq!(first.received_at, ts("2026-11-29T18:10:00Z"));
    // Stored after the window 18:05–18:10 of the same node: backwards.
    assert_eq!(first.flags, [WindowFlag::Backwards]);
    assert_eq!(
        first.blocked,
        [
            BlockedCell {
                category: "adult".into(),
                channel: "dns".into(),
                count: BlockedCount::Exact(12),
            },
            BlockedCell {
                category: "adult".into(),
                channel: "http".into(),
                count: BlockedCount::Below(5),
            },
            BlockedCell {
                category: "adult".into(),
                channel: "sni".into(),
                count: BlockedCount::Below(5),
            },
        ]
    );
}

/// An accepted probe result of `prober` about `isp` at `at`.
pub(crate) fn probe(prober: &str, isp: &str, at: &str) -> AcceptedProbe {
    let result = crate::probe::result::tests::sample(prober, isp, at);
    AcceptedProbe {
        body: result.to_bytes(),
        result,
        signature: "ed25519 keyid=0000000000000000; sig=00".into(),
        key_id: KeyId([1; 8]),
        received_at: ts("2026-11-29T18:10:00Z"),
    }
}

/// A probe result is stored once, read back newest first, filtered by
/// ISP and limited; it is no report.
pub(crate) fn probes_are_stored_once_newest_first(s: &dyn Storage) {
    let old = probe("p1", "isp-a", "2026-11-29T17:00:00Z");
    let mut new = probe("p1", "isp-a", "2026-11-29T18:00:00Z");
    new.result.compliant = None;
    new.result.reasons = vec!["no usable DNS answer".into()];
    new.result.serial_seen = None;
    new.result.node_id = None;
    new.result.sni = Some(crate::probe::result::Channel {
        probed: 3,
        blocked: 3,
        failed: 0,
        not_blocked: Vec::new(),
    });
    let other = probe("p2", "isp-b", "2026-11-29T17:30:00Z");
    for p in [&old, &new, &other] {
        assert_eq!(
            s.insert_probe(p).unwrap(),
            Inserted::Stored { flags: Vec::new() }
        );
    }
    assert_eq!(s.insert_probe(&old).unwrap(), Inserted::Duplicate);
    let mut changed = old.clone();
    changed.result.list_serial = 99;
    assert_eq!(
        s.insert_probe(&changed).unwrap(),
        Inserted::Duplicate,
        "the same probe_id changes nothing"
    );
    assert_eq!(s.report_count().unwrap(), 0, "probes are not reports");
    assert!(s.nodes().unwrap().is_empty());

    let all = s
        .probes(&ProbeQuery {
            isp_id: None,
            limit: 100,
        })
        .unwrap();
    let ids: Vec<&str> = all.iter().map(|p| p.probe_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            new.result.probe_id.as_str(),
            other.result.probe_id.as_str(),
            old.result.probe_id.as_str()
        ]
    );
    probe_rows_read_back(&all[2], &all[0], &old);

    let a = s
        .probes(&ProbeQuery {
            isp_id: Some("isp-a".into()),
            limit: 1,
        })
        .unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].probe_id, new.result.probe_id);
    assert!(
        s.probes(&ProbeQuery {
            isp_id: Some("nobody".into()),
            limit: 10
        })
        .unwrap()
        .is_empty()
    );
    assert_eq!(
        s.probe_body(&old.result.probe_id).unwrap(),
        Some(old.body.clone()),
        "the body is kept byte for byte"
    );
    assert_eq!(s.probe_body("ffff").unwrap(), None);
}

/// [`report`], from a school node: two profiles, the national list and
/// one of its own.
pub(crate) fn school_report(node: &str, start: &str, end: &str, serial: u64) -> Accepted {
    let mut a = report(node, start, end, serial);
    let label = |s: &str| body::Label::try_from(s.to_owned()).unwrap();
    let row = |n: Option<u64>| {
        BTreeMap::from([(
            "dns".to_owned(),
            n.map_or(Count::Below("<5".into()), Count::Exact),
        )])
    };
    a.report.kind = body::ReportKind::School;
    a.report.school = Some(body::School {
        profiles: vec![
            body::ProfileInfo {
                name: label("primary"),
                age: 10,
            },
            body::ProfileInfo {
                name: label("secondary"),
                age: 15,
            },
        ],
        lists: vec![
            body::ListSerial {
                name: label("national"),
                list_id: Some("national".into()),
                serial: Some(serial),
                sha256: Some("ab".repeat(32)),
            },
            body::ListSerial {
                name: label("school"),
                list_id: None,
                serial: None,
                sha256: None,
            },
        ],
        blocked: BTreeMap::from([
            (
                label("primary"),
                BTreeMap::from([(
                    label("national"),
                    BTreeMap::from([("adult".to_owned(), row(Some(6)))]),
                )]),
            ),
            (
                label("secondary"),
                BTreeMap::from([(
                    label("national"),
                    BTreeMap::from([("adult".to_owned(), row(None))]),
                )]),
            ),
        ]),
    });
    a.body = a.report.to_bytes();
    a
}

/// School reports: the node's latest window says whether it is a school,
/// and with which profiles and lists; windows carry the per-profile
/// counts; ISP nodes are not schools.
pub(crate) fn school_nodes_and_their_profile_counts(s: &dyn Storage) {
    use super::store::{BlockedCount, ProfileBlockedCell};
    let isp = report("n1", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 3);
    let first = school_report("s1", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 2);
    let second = school_report("s1", "2026-11-29T18:05:00Z", "2026-11-29T18:10:00Z", 3);
    s.insert_reports(&[isp, first, second.clone()]).unwrap();
    assert_eq!(s.report_count().unwrap(), 3);
    let schools = s.schools().unwrap();
    assert_eq!(schools.len(), 1, "{schools:?}");
    let school = &schools[0];
    assert_eq!(
        (school.isp_id.as_str(), school.node_id.as_str()),
        ("isp", "s1")
    );
    assert_eq!(school.last_window_end, ts("2026-11-29T18:10:00Z"));
    assert_eq!(school.last_report_at, second.received_at);
    let ages: Vec<(&str, u8)> = school
        .profiles
        .iter()
        .map(|p| (p.name.as_str(), p.age))
        .collect();
    assert_eq!(ages, [("primary", 10), ("secondary", 15)]);
    let serials: Vec<(&str, Option<u64>)> = school
        .lists
        .iter()
        .map(|l| (l.name.as_str(), l.serial))
        .collect();
    assert_eq!(serials, [("national", Some(3)), ("school", None)]);
    let windows = s
        .windows(&super::store::WindowQuery {
            isp_id: None,
            node_id: None,
            from: ts("2026-11-29T00:00:00Z"),
            to: ts("2026-11-30T00:00:00Z"),
        })
        .unwrap();
    assert_eq!(windows.len(), 3);
    let cell = |p: &str, count| ProfileBlockedCell {
        profile: p.into(),
        list: "national".into(),
        category: "adult".into(),
        channel: "dns".into(),
        count,
    };
    for w in &windows {
        if w.node_id == "n1" {
            assert!(w.profiles.is_empty(), "an ISP window has no profiles");
        } else {
            assert_eq!(
                w.profiles,
                [
                    cell("primary", BlockedCount::Exact(6)),
                    cell("secondary", BlockedCount::Below(5))
                ]
            );
        }
    }
    // A school node whose latest report is an ISP one is no school.
    let later = report("s1", "2026-11-29T18:10:00Z", "2026-11-29T18:15:00Z", 3);
    s.insert_report(&later).unwrap();
    assert!(s.schools().unwrap().is_empty());
}

/// The fields of two probe rows the probes test reads back: the old one
/// (`o`, with every field) and the new one (`n`, without a verdict).
fn probe_rows_read_back(
    o: &super::store::ProbeRow,
    n: &super::store::ProbeRow,
    old: &AcceptedProbe,
) {
    assert_eq!(o.prober_id, "p1");
    assert_eq!(o.isp_id, "isp-a");
    assert_eq!(o.node_id.as_deref(), Some("hn-01"));
    assert_eq!(o.resolver, "192.0.2.53:53");
    assert_eq!(o.probed_at, ts("2026-11-29T17:00:00Z"));
    assert_eq!(o.received_at, ts("2026-11-29T18:10:00Z"));
    assert_eq!((o.list_id.as_str(), o.list_serial), ("vn-national", 2));
    assert_eq!(o.serial_seen, Some(1));
    assert_eq!(o.compliant, Some(false));
    assert_eq!(o.reasons, old.result.reasons);
    assert_eq!((o.dns.probed, o.dns.blocked, o.dns.failed), (5, 4, 0));
    assert_eq!(o.sni, None);
    assert_eq!(n.compliant, None, "no verdict stays no verdict");
    assert_eq!(n.serial_seen, None);
    assert_eq!(n.node_id, None);
    assert_eq!(
        n.sni.map(|c| (c.probed, c.blocked, c.failed)),
        Some((3, 3, 0))
    );
}

/// What a backend's open function returns: `(store, guard)`, or
/// `Option<(store, guard)>` for a backend that may be unavailable (the
/// PostgreSQL tests without `WARD_TEST_POSTGRES`: `None` skips).
pub(crate) trait Fresh {
    type Store: Storage;
    type Guard;
    fn into_fresh(self) -> Option<(Self::Store, Self::Guard)>;
}

impl<S: Storage, G> Fresh for (S, G) {
    type Store = S;
    type Guard = G;
    fn into_fresh(self) -> Option<(S, G)> {
        Some(self)
    }
}

impl<S: Storage, G> Fresh for Option<(S, G)> {
    type Store = S;
    type Guard = G;
    fn into_fresh(self) -> Self {
        self
    }
}

/// One `#[test]` per contract test above, each on a fresh store from
/// `$open`, a function returning `(store, guard)` (or an `Option` of it,
/// [`Fresh`]): the store (any `Storage`) and whatever must outlive it (a
/// temporary directory, a database to drop afterwards).
macro_rules! storage_conformance {
    ($open:expr) => {
        $crate::collector::conformance::storage_conformance!(@tests $open;
            a_replayed_report_is_stored_once,
            odd_windows_are_flagged_not_merged,
            a_batch_commits_in_order,
            activation_lags_are_one_per_node_and_serial,
            windows_are_filtered_ordered_and_carry_their_counts,
            probes_are_stored_once_newest_first,
            school_nodes_and_their_profile_counts,
        );
    };
    (@tests $open:expr; $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                let Some((store, _guard)) =
                    $crate::collector::conformance::Fresh::into_fresh(($open)())
                else {
                    return; // the backend is not available here (said why)
                };
                $crate::collector::conformance::$name(&store);
            }
        )*
    };
}
pub(crate) use storage_conformance;
