//! The metrics as a scrape shows them.
use ed25519_dalek::SigningKey;

use std::time::Duration;

use jiff::Timestamp;

use super::*;
use crate::dns::metrics::UpstreamError;
use crate::dns::{Protocol, QueryResult};
use crate::list::ListArtifact;
use crate::list::build::build_from_str;
use crate::list::{BuildOptions, Bytes, TrustedKeys, Verified};
use crate::sni::Channel;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn list() -> Verified<ListArtifact> {
    let key = SigningKey::from_bytes(&[1; 32]);
    let opts = BuildOptions {
        list_id: "metrics-test".into(),
        serial: 42,
        issued_at: ts("2026-01-01T00:00:00Z"),
        expires_at: ts("2026-02-01T00:00:00Z"),
        confidential: Default::default(),
        min_age: Default::default(),
    };
    let (bytes, _) = build_from_str(
        "example.com gambling\n=exact.example.org adult\nother.example adult\n",
        &opts,
        &key,
    )
    .unwrap();
    let trust: TrustedKeys = [key.verifying_key()].into_iter().collect();
    crate::list::verify(Bytes::Owned(bytes), &trust).unwrap()
}

/// The value of the series line that starts with `series ` exactly.
fn value(text: &str, series: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(str::to_owned)
}

#[test]
fn variant_order_matches_all() {
    for (i, p) in Protocol::ALL.into_iter().enumerate() {
        assert_eq!(p as usize, i);
    }
    for (i, r) in QueryResult::ALL.into_iter().enumerate() {
        assert_eq!(r as usize, i);
    }
    for (i, e) in UpstreamError::ALL.into_iter().enumerate() {
        assert_eq!(e as usize, i);
    }
}

#[test]
fn queries_are_pre_created_and_counted() {
    let m = Metrics::new();
    let text = m.encode();
    for p in Protocol::ALL {
        for r in QueryResult::ALL {
            let s = format!(
                "ward_queries_total{{protocol=\"{}\",result=\"{}\"}}",
                p.as_str(),
                r.as_str()
            );
            assert_eq!(value(&text, &s).as_deref(), Some("0"), "{s}");
        }
        let s = format!("ward_malformed_total{{protocol=\"{}\"}}", p.as_str());
        assert_eq!(value(&text, &s).as_deref(), Some("0"), "{s}");
    }
    m.dns().query(Protocol::Udp, QueryResult::Blocked);
    m.dns().query(Protocol::Udp, QueryResult::Blocked);
    m.dns().query(Protocol::Tcp, QueryResult::NotImp);
    m.dns().malformed(Protocol::Tcp);
    m.dns().cache_hit();
    m.dns().cache_miss();
    m.dns().cache_miss();
    m.dns().set_cache_size(10, 2048);
    m.list().list_reload_failed();
    m.set_ready(true);
    let text = m.encode();
    for (series, want) in [
        (
            r#"ward_queries_total{protocol="udp",result="blocked"}"#,
            "2",
        ),
        (r#"ward_queries_total{protocol="tcp",result="notimp"}"#, "1"),
        (
            r#"ward_queries_total{protocol="tcp",result="blocked"}"#,
            "0",
        ),
        (r#"ward_malformed_total{protocol="tcp"}"#, "1"),
        (r#"ward_malformed_total{protocol="udp"}"#, "0"),
        ("ward_cache_hits_total", "1"),
        ("ward_cache_misses_total", "2"),
        ("ward_cache_entries", "10"),
        ("ward_cache_bytes", "2048"),
        ("ward_list_reload_failures_total", "1"),
        ("ward_ready", "1"),
    ] {
        assert_eq!(
            value(&text, series).as_deref(),
            Some(want),
            "{series}\n{text}"
        );
    }
    m.set_ready(false);
    assert_eq!(value(&m.encode(), "ward_ready").as_deref(), Some("0"));
}

#[test]
fn blocked_counter_handles_share_a_series() {
    let m = Metrics::new();
    let a = m.dns().blocked_counter("adult", "sinkhole");
    let b = m.dns().blocked_counter("adult", "sinkhole");
    let other = m.dns().blocked_counter("adult", "nxdomain");
    a.inc();
    b.inc();
    assert_eq!(a.get(), 2);
    assert_eq!(other.get(), 0);
    let text = m.encode();
    assert_eq!(
        value(
            &text,
            r#"ward_blocked_total{category="adult",action="sinkhole"}"#
        )
        .as_deref(),
        Some("2"),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"ward_blocked_total{category="adult",action="nxdomain"}"#
        )
        .as_deref(),
        Some("0")
    );
    assert_eq!(text.matches("ward_blocked_total{").count(), 2);
}

#[test]
fn label_values_are_escaped() {
    let m = Metrics::new();
    m.dns().blocked_counter("a\"b\\c\nd", "refused").inc();
    let text = m.encode();
    assert!(
        text.contains(r#"ward_blocked_total{category="a\"b\\c\nd",action="refused"} 1"#),
        "{text}"
    );
}

#[test]
fn upstream_handles() {
    let m = Metrics::new();
    let h = m.dns().upstream_handles("192.0.2.1:53");
    let again = m.dns().upstream_handles("192.0.2.1:53");
    let text = m.encode();
    for e in UpstreamError::ALL {
        let s = format!(
            "ward_upstream_errors_total{{upstream=\"192.0.2.1:53\",kind=\"{}\"}}",
            e.as_str()
        );
        assert_eq!(value(&text, &s).as_deref(), Some("0"), "{s}");
    }
    h.observe(Duration::from_micros(300));
    h.observe(Duration::from_millis(20));
    again.observe(Duration::from_secs(10));
    h.error(UpstreamError::Timeout);
    again.error(UpstreamError::Timeout);
    h.error(UpstreamError::Truncated);
    h.set_up(true);
    let text = m.encode();
    let up = r#"upstream="192.0.2.1:53""#;
    for (series, want) in [
        (format!("ward_upstream_latency_seconds_count{{{up}}}"), "3"),
        (
            format!("ward_upstream_latency_seconds_bucket{{le=\"0.0005\",{up}}}"),
            "1",
        ),
        (
            format!("ward_upstream_latency_seconds_bucket{{le=\"0.025\",{up}}}"),
            "2",
        ),
        (
            format!("ward_upstream_latency_seconds_bucket{{le=\"5.0\",{up}}}"),
            "2",
        ),
        (
            format!("ward_upstream_latency_seconds_bucket{{le=\"+Inf\",{up}}}"),
            "3",
        ),
        (
            format!("ward_upstream_errors_total{{{up},kind=\"timeout\"}}"),
            "2",
        ),
        (
            format!("ward_upstream_errors_total{{{up},kind=\"truncated\"}}"),
            "1",
        ),
        (
            format!("ward_upstream_errors_total{{{up},kind=\"servfail\"}}"),
            "0",
        ),
        (format!("ward_upstream_up{{{up}}}"), "1"),
    ] {
        assert_eq!(
            value(&text, &series).as_deref(),
            Some(want),
            "{series}\n{text}"
        );
    }
    h.set_up(false);
    let text = m.encode();
    assert_eq!(
        value(&text, &format!("ward_upstream_up{{{up}}}")).as_deref(),
        Some("0")
    );
}

#[test]
fn set_list_none_and_some() {
    let m = Metrics::new();
    let now = ts("2026-01-15T00:00:00Z");
    m.list().set_list(None, now, now);
    let text = m.encode();
    for name in [
        LIST_LOADED,
        LIST_STALE,
        LIST_SERIAL,
        LIST_ENTRIES,
        LIST_EXPIRES_TIMESTAMP_SECONDS,
    ] {
        assert_eq!(value(&text, name).as_deref(), Some("0"), "{name}");
    }

    let list = list();
    let activated = ts("2026-01-02T03:04:05Z");
    m.list().set_list(Some(&*list), activated, now);
    let text = m.encode();
    for (name, want) in [
        (LIST_LOADED, "1".to_owned()),
        (LIST_STALE, "0".to_owned()),
        (LIST_SERIAL, "42".to_owned()),
        (LIST_ENTRIES, "3".to_owned()),
        (
            LIST_ISSUED_TIMESTAMP_SECONDS,
            ts("2026-01-01T00:00:00Z").as_second().to_string(),
        ),
        (
            LIST_EXPIRES_TIMESTAMP_SECONDS,
            ts("2026-02-01T00:00:00Z").as_second().to_string(),
        ),
        (
            LIST_ACTIVATED_TIMESTAMP_SECONDS,
            activated.as_second().to_string(),
        ),
    ] {
        assert_eq!(value(&text, name), Some(want), "{name}\n{text}");
    }

    // Past expiry: set_list says so, and so does a refresh alone.
    let later = ts("2026-03-01T00:00:00Z");
    m.list().set_list(Some(&*list), activated, later);
    assert_eq!(value(&m.encode(), LIST_STALE).as_deref(), Some("1"));
    m.list().set_list(Some(&*list), activated, now);
    m.list().refresh_expiry(later);
    assert_eq!(value(&m.encode(), LIST_STALE).as_deref(), Some("1"));
    m.list().refresh_expiry(now);
    assert_eq!(value(&m.encode(), LIST_STALE).as_deref(), Some("0"));
    // Exactly at expiry counts as expired, as in `check_expiry`.
    m.list().refresh_expiry(ts("2026-02-01T00:00:00Z"));
    assert_eq!(value(&m.encode(), LIST_STALE).as_deref(), Some("1"));

    // Back to no list: everything reads 0, and a refresh keeps it so.
    m.list().set_list(None, later, later);
    m.list().refresh_expiry(later);
    let text = m.encode();
    assert_eq!(value(&text, LIST_LOADED).as_deref(), Some("0"));
    assert_eq!(value(&text, LIST_STALE).as_deref(), Some("0"));
    assert_eq!(value(&text, LIST_SERIAL).as_deref(), Some("0"));
}

#[test]
fn all_names_are_exposed() {
    let m = Metrics::new();
    m.dns().blocked_counter("adult", "sinkhole");
    m.dns().upstream_handles("192.0.2.1:53");
    m.web().web_blocked(Channel::Sni, "adult");
    m.page_views().count("adult");
    let text = m.encode();
    assert!(text.ends_with("# EOF\n"), "{text}");
    for name in [
        QUERIES_TOTAL,
        BLOCKED_TOTAL,
        MALFORMED_TOTAL,
        CACHE_HITS_TOTAL,
        CACHE_MISSES_TOTAL,
        CACHE_ENTRIES,
        CACHE_BYTES,
        UPSTREAM_LATENCY_SECONDS,
        UPSTREAM_ERRORS_TOTAL,
        UPSTREAM_UP,
        LIST_SERIAL,
        LIST_ISSUED_TIMESTAMP_SECONDS,
        LIST_EXPIRES_TIMESTAMP_SECONDS,
        LIST_ACTIVATED_TIMESTAMP_SECONDS,
        LIST_ENTRIES,
        LIST_LOADED,
        LIST_STALE,
        LIST_RELOAD_FAILURES_TOTAL,
        LIST_FETCH_TOTAL,
        LIST_EQUIVOCATION,
        LIST_ACTIVATION_SECONDS,
        READY,
        BUILD_INFO,
        SNI_CONNECTIONS_TOTAL,
        HTTP_REQUESTS_TOTAL,
        WEB_UNPARSABLE_TOTAL,
        SNI_ECH_PRESENT_TOTAL,
        WEB_BLOCKED_TOTAL,
        BLOCKPAGE_VIEWS_TOTAL,
        REPORT_SENT_TOTAL,
        REPORT_SPOOL_REPORTS,
        REPORT_LAST_SUCCESS_TIMESTAMP_SECONDS,
        REPORT_DROPPED_TOTAL,
        REPORT_SPOOL_WRITE_ERRORS_TOTAL,
    ] {
        assert!(name.starts_with("ward_"), "{name}");
        let sample = text.lines().any(|l| {
            !l.starts_with('#')
                && l.strip_prefix(name).is_some_and(|rest| {
                    rest.starts_with([' ', '{'])
                        || (name == UPSTREAM_LATENCY_SECONDS && rest.starts_with("_count{"))
                })
        });
        assert!(sample, "no sample for {name}\n{text}");
    }
    let build = format!(
        "ward_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&text, &build).as_deref(), Some("1"), "{text}");
    // Every sample line's name is one of ours.
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(l.starts_with("ward_"), "{l}");
    }
}
