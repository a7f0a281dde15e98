//! Ingest, the pure part: from a POSTed body and its `Ward-Signature`
//! header to an [`Accepted`] report or a [`Rejection`] with its reason.
//! No I/O; the server adds the body cap, storage and the answer.
//!
//! The order matters. The header's key id finds the node in the registry;
//! the signature is verified against that node's key **before** the body
//! is parsed, so unauthenticated bytes never reach the JSON parser. The
//! parsed body must then be the node's own (its `isp_id`/`node_id` are the
//! ones registered for the key), in the one format this build reads, with
//! a `report_id` that matches its window and counts in the small-count
//! form.

use jiff::Timestamp;

use super::signed::{Authentic, Unauthentic, authenticate};
use super::store::Accepted;
use crate::config::registry::Registry;
use crate::report::body::{self, Count, Report, ReportKind};
use crate::report::send::{self, SignatureError};

/// The smallest `min_count` a node may send (as in the node's config).
const MIN_MIN_COUNT: u64 = crate::config::MIN_MIN_COUNT;

/// Why a report is refused. Each has an HTTP status (4xx: the node does
/// not retry, it keeps the report in `spool_dir/rejected/`) and a metric
/// label; the message is the answer's body, for the node's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("no Ward-Signature header: reports must be signed with the node's key")]
    Unsigned,
    #[error("{0}")]
    MalformedSignature(SignatureError),
    #[error(
        "key {key_id} is not registered with this collector: register the node's .pub for its isp_id/node_id"
    )]
    UnknownKey { key_id: String },
    #[error("the signature by key {key_id} does not match the body")]
    BadSignature { key_id: String },
    #[error("request body over the {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("not JSON: {detail}")]
    NotJson { detail: String },
    /// The body does not fit the report's types (serde's message).
    #[error("not a valid ward-compliance-report/1: {detail}")]
    Schema { detail: String },
    /// It fits the types but breaks a rule they do not express. Shown,
    /// not a `source`: the text is already in this message.
    #[error("not a valid ward-compliance-report/1: {0}")]
    Shape(ShapeError),
    #[error(
        "key {key_id} is registered for {isp_id}/{node_id}, but the report claims {claimed_isp}/{claimed_node}"
    )]
    WrongNode {
        key_id: String,
        isp_id: String,
        node_id: String,
        claimed_isp: String,
        claimed_node: String,
    },
}

impl Rejection {
    /// The HTTP status answered.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unsigned | Self::UnknownKey { .. } | Self::BadSignature { .. } => 403,
            Self::WrongNode { .. } => 403,
            Self::MalformedSignature(_) | Self::NotJson { .. } => 400,
            Self::TooLarge { .. } => 413,
            Self::Schema { .. } | Self::Shape(_) => 422,
        }
    }

    /// The `result` label of `ward_collector_reports_total`.
    pub fn result(&self) -> IngestResult {
        match self {
            Self::Unsigned | Self::MalformedSignature(_) => IngestResult::Unsigned,
            Self::UnknownKey { .. } => IngestResult::UnknownKey,
            Self::BadSignature { .. } => IngestResult::BadSignature,
            Self::TooLarge { .. } => IngestResult::TooLarge,
            Self::NotJson { .. } | Self::Schema { .. } | Self::Shape(_) => IngestResult::Invalid,
            Self::WrongNode { .. } => IngestResult::WrongNode,
        }
    }
}

/// Every outcome of one POST, for `ward_collector_reports_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IngestResult {
    /// Stored.
    Stored,
    /// Stored, but its window overlaps or runs backwards.
    Flagged,
    /// A known `report_id`: acknowledged, nothing stored.
    Duplicate,
    Unsigned,
    UnknownKey,
    BadSignature,
    TooLarge,
    /// Not JSON, or not a valid report.
    Invalid,
    WrongNode,
    /// Storage failed; answered 503 so the node retries.
    StorageError,
}

impl IngestResult {
    pub const ALL: [Self; 10] = [
        Self::Stored,
        Self::Flagged,
        Self::Duplicate,
        Self::Unsigned,
        Self::UnknownKey,
        Self::BadSignature,
        Self::TooLarge,
        Self::Invalid,
        Self::WrongNode,
        Self::StorageError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::Flagged => "flagged",
            Self::Duplicate => "duplicate",
            Self::Unsigned => "unsigned",
            Self::UnknownKey => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::TooLarge => "too_large",
            Self::Invalid => "invalid",
            Self::WrongNode => "wrong_node",
            Self::StorageError => "storage_error",
        }
    }
}

/// Verifies and parses one POSTed report.
pub fn verify(
    signature: Option<&str>,
    body: &[u8],
    registry: &Registry,
    received_at: Timestamp,
) -> Result<Accepted, Rejection> {
    let Authentic {
        signer: node,
        key_id,
        header,
    } = authenticate(signature, body, send::SIGNATURE_CONTEXT, |id| {
        registry.by_key(id).map(|n| (n, &n.key))
    })
    .map_err(|e| match e {
        Unauthentic::Unsigned => Rejection::Unsigned,
        Unauthentic::Malformed(e) => Rejection::MalformedSignature(e),
        Unauthentic::UnknownKey { key_id } => Rejection::UnknownKey { key_id },
        Unauthentic::BadSignature { key_id } => Rejection::BadSignature { key_id },
    })?;
    let report: Report = serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => Rejection::NotJson {
                detail: e.to_string(),
            },
            Category::Data => Rejection::Schema {
                detail: e.to_string(),
            },
        }
    })?;
    if report.isp_id != node.isp_id || report.node_id != node.node_id {
        return Err(Rejection::WrongNode {
            key_id: key_id.to_string(),
            isp_id: node.isp_id.clone(),
            node_id: node.node_id.clone(),
            claimed_isp: report.isp_id,
            claimed_node: report.node_id,
        });
    }
    check_shape(&report).map_err(Rejection::Shape)?;
    Ok(Accepted {
        report,
        body: body.to_vec(),
        signature: header,
        key_id,
        received_at,
    })
}

/// What a signed, parsed report breaks beyond serde's types, found by
/// [`verify`] after the signature; the text ends the 422 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("format {found:?}: this collector reads {:?}", body::FORMAT)]
    Format { found: String },
    #[error(
        "report_id {found:?} does not match isp_id, node_id and window_start (expected {expected})"
    )]
    ReportId { found: String, expected: String },
    #[error("min_count {min_count} is below {MIN_MIN_COUNT}")]
    MinCount { min_count: u64 },
    #[error("counters.blocked.{category}: unknown channel {channel:?}")]
    UnknownChannel { category: String, channel: String },
    #[error(
        "counters.blocked.{category}.{channel}: exact count {count} under min_count {min_count}"
    )]
    ExactUnderMinCount {
        category: String,
        channel: String,
        count: u64,
        min_count: u64,
    },
    #[error("counters.blocked.{category}.{channel}: {found:?} is neither a count nor {below:?}")]
    NotACount {
        category: String,
        channel: String,
        found: String,
        below: String,
    },
    #[error("activations: lag_seconds is not a finite number")]
    LagNotFinite,
    #[error("kind \"school\" needs a school section, and only a school report has one")]
    SchoolSection,
    #[error(
        "school.profiles: {name} has age {age}, outside 0 to {}",
        crate::profiles::MAX_AGE
    )]
    Age { name: String, age: u8 },
    #[error("school.{what}: {name} appears twice")]
    Duplicate { what: &'static str, name: String },
    #[error(
        "school.lists: the first list must be the national list ({:?})",
        crate::profiles::NATIONAL_LIST_NAME
    )]
    NationalFirst,
    /// A per-profile cell: `path` is `school.blocked.P.L.C.CHANNEL`.
    #[error("{path}: {problem}")]
    SchoolCount { path: String, problem: String },
}

/// What serde's types do not already enforce.
fn check_shape(r: &Report) -> Result<(), ShapeError> {
    if r.format != body::FORMAT {
        return Err(ShapeError::Format {
            found: r.format.clone(),
        });
    }
    let expected = body::report_id(&r.isp_id, &r.node_id, r.window_start);
    if r.report_id != expected {
        return Err(ShapeError::ReportId {
            found: r.report_id.clone(),
            expected,
        });
    }
    if r.min_count < MIN_MIN_COUNT {
        return Err(ShapeError::MinCount {
            min_count: r.min_count,
        });
    }
    let below = format!("<{}", r.min_count);
    for (category, row) in &r.counters.blocked {
        for (channel, count) in row {
            if !matches!(channel.as_str(), "dns" | "sni" | "http") {
                return Err(ShapeError::UnknownChannel {
                    category: category.clone(),
                    channel: channel.clone(),
                });
            }
            match count {
                Count::Exact(n) if *n < r.min_count => {
                    return Err(ShapeError::ExactUnderMinCount {
                        category: category.clone(),
                        channel: channel.clone(),
                        count: *n,
                        min_count: r.min_count,
                    });
                }
                Count::Below(s) if *s != below => {
                    return Err(ShapeError::NotACount {
                        category: category.clone(),
                        channel: channel.clone(),
                        found: s.clone(),
                        below,
                    });
                }
                _ => {}
            }
        }
    }
    for a in &r.activations {
        if !a.lag_seconds.is_finite() {
            return Err(ShapeError::LagNotFinite);
        }
    }
    match (r.kind, &r.school) {
        (ReportKind::Isp, None) => Ok(()),
        (ReportKind::School, Some(school)) => check_school(school, r.min_count, &below),
        _ => Err(ShapeError::SchoolSection),
    }
}

/// A school section's rules beyond its types (names are [`body::Label`]s
/// already): ages in range, no name twice, the national list first, and
/// every count in the small-count form on a known channel.
fn check_school(s: &body::School, min_count: u64, below: &str) -> Result<(), ShapeError> {
    let mut seen = std::collections::BTreeSet::new();
    for p in &s.profiles {
        if p.age > crate::profiles::MAX_AGE {
            return Err(ShapeError::Age {
                name: p.name.to_string(),
                age: p.age,
            });
        }
        if !seen.insert(p.name.as_str()) {
            return Err(ShapeError::Duplicate {
                what: "profiles",
                name: p.name.to_string(),
            });
        }
    }
    if s.lists.first().map(|l| l.name.as_str()) != Some(crate::profiles::NATIONAL_LIST_NAME) {
        return Err(ShapeError::NationalFirst);
    }
    let mut seen = std::collections::BTreeSet::new();
    for l in &s.lists {
        if !seen.insert(l.name.as_str()) {
            return Err(ShapeError::Duplicate {
                what: "lists",
                name: l.name.to_string(),
            });
        }
    }
    for (profile, lists) in &s.blocked {
        for (list, categories) in lists {
            for (category, row) in categories {
                for (channel, count) in row {
                    let problem = if !matches!(channel.as_str(), "dns" | "sni" | "http") {
                        "unknown channel".to_owned()
                    } else {
                        match count {
                            Count::Exact(n) if *n < min_count => {
                                format!("exact count {n} under min_count {min_count}")
                            }
                            Count::Below(text) if text != below => {
                                format!("{text:?} is neither a count nor {below:?}")
                            }
                            _ => continue,
                        }
                    };
                    return Err(ShapeError::SchoolCount {
                        path: format!("school.blocked.{profile}.{list}.{category}.{channel}"),
                        problem,
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::collector::conformance;
    use crate::config::registry::RegisteredNode;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn registry() -> Registry {
        Registry::from_nodes(vec![
            RegisteredNode {
                isp_id: "isp".into(),
                node_id: "n1".into(),
                key: key(1).verifying_key(),
            },
            RegisteredNode {
                isp_id: "isp".into(),
                node_id: "n2".into(),
                key: key(2).verifying_key(),
            },
        ])
    }

    fn body(node: &str) -> Vec<u8> {
        conformance::report(node, "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 1)
            .report
            .to_bytes()
    }

    fn now() -> Timestamp {
        "2026-11-29T18:05:01Z".parse().unwrap()
    }

    fn check(signature: Option<&str>, body: &[u8]) -> Result<Accepted, Rejection> {
        verify(signature, body, &registry(), now())
    }

    #[test]
    fn a_signed_report_of_a_registered_node_is_accepted() {
        let b = body("n1");
        let sig = send::sign(&key(1), &b);
        let a = check(Some(&sig), &b).unwrap();
        assert_eq!(a.report.node_id, "n1");
        assert_eq!(a.body, b);
        assert_eq!(a.signature, sig);
        assert_eq!(a.received_at, now());
    }

    #[test]
    fn each_bad_input_has_its_reason_status_and_label() {
        let b = body("n1");
        let good = send::sign(&key(1), &b);

        let e = check(None, &b).unwrap_err();
        assert_eq!((e.status(), e.result()), (403, IngestResult::Unsigned));

        let e = check(Some("ed25519 nonsense"), &b).unwrap_err();
        assert_eq!((e.status(), e.result()), (400, IngestResult::Unsigned));

        let e = check(Some(&send::sign(&key(9), &b)), &b).unwrap_err();
        assert_eq!((e.status(), e.result()), (403, IngestResult::UnknownKey));
        assert!(e.to_string().contains("not registered"), "{e}");

        let mut tampered = b.clone();
        let at = tampered.windows(3).position(|w| w == b"100").unwrap();
        tampered[at] = b'9';
        let e = check(Some(&good), &tampered).unwrap_err();
        assert_eq!((e.status(), e.result()), (403, IngestResult::BadSignature));

        // Signed by n2's key but claiming to be n1.
        let e = check(Some(&send::sign(&key(2), &b)), &b).unwrap_err();
        assert_eq!((e.status(), e.result()), (403, IngestResult::WrongNode));
        assert!(e.to_string().contains("isp/n2"), "{e}");

        let broken = b"{\"format\": ".to_vec();
        let e = check(Some(&send::sign(&key(1), &broken)), &broken).unwrap_err();
        assert_eq!((e.status(), e.result()), (400, IngestResult::Invalid));
        assert!(matches!(e, Rejection::NotJson { .. }), "{e}");

        let not_report = br#"{"format": "x"}"#.to_vec();
        let e = check(Some(&send::sign(&key(1), &not_report)), &not_report).unwrap_err();
        assert_eq!((e.status(), e.result()), (422, IngestResult::Invalid));
    }

    /// Re-signs an edited report of n1.
    fn edited(edit: impl FnOnce(&mut Report)) -> Result<Accepted, Rejection> {
        let mut r =
            conformance::report("n1", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 1).report;
        edit(&mut r);
        let b = r.to_bytes();
        check(Some(&send::sign(&key(1), &b)), &b)
    }

    #[test]
    fn shape_checks_beyond_the_types() {
        let schema = |r: Result<Accepted, Rejection>| match r {
            Err(Rejection::Shape(e)) => e.to_string(),
            other => panic!("expected a shape rejection, got {other:?}"),
        };
        let d = schema(edited(|r| r.format = "ward-compliance-report/2".into()));
        assert!(d.contains("format"), "{d}");
        let d = schema(edited(|r| r.report_id = "00".repeat(16)));
        assert!(d.contains("report_id"), "{d}");
        let d = schema(edited(|r| r.min_count = 1));
        assert!(d.contains("min_count"), "{d}");
        let d = schema(edited(|r| {
            r.counters
                .blocked
                .get_mut("adult")
                .unwrap()
                .insert("dns".into(), Count::Exact(2));
        }));
        assert!(d.contains("exact count 2"), "{d}");
        let d = schema(edited(|r| {
            r.counters
                .blocked
                .get_mut("adult")
                .unwrap()
                .insert("sni".into(), Count::Below("<3".into()));
        }));
        assert!(d.contains("\"<3\""), "{d}");
        let d = schema(edited(|r| {
            r.counters
                .blocked
                .get_mut("adult")
                .unwrap()
                .insert("ftp".into(), Count::Exact(9));
        }));
        assert!(d.contains("unknown channel"), "{d}");
        assert!(edited(|_| {}).is_ok());
    }

    fn school() -> body::School {
        let label = |s: &str| body::Label::try_from(s.to_owned()).unwrap();
        let row = |count: Count| std::collections::BTreeMap::from([("dns".to_owned(), count)]);
        body::School {
            profiles: vec![body::ProfileInfo {
                name: label("primary"),
                age: 10,
            }],
            lists: vec![body::ListSerial {
                name: label("national"),
                list_id: Some("national".into()),
                serial: Some(1),
                sha256: Some("ab".repeat(32)),
            }],
            blocked: [(
                label("primary"),
                [(
                    label("national"),
                    [
                        ("adult".to_owned(), row(Count::Exact(7))),
                        ("csam".to_owned(), row(Count::Below("<5".into()))),
                    ]
                    .into(),
                )]
                .into(),
            )]
            .into(),
        }
    }

    #[test]
    fn a_school_report_is_accepted_and_its_section_checked() {
        let schoolish = |edit: fn(&mut body::School)| {
            edited(move |r| {
                r.kind = ReportKind::School;
                let mut s = school();
                edit(&mut s);
                r.school = Some(s);
            })
        };
        let a = schoolish(|_| {}).unwrap();
        assert_eq!(a.report.kind, ReportKind::School);
        assert_eq!(a.report.school.unwrap().profiles[0].age, 10);
        let shape = |r: Result<Accepted, Rejection>| match r {
            Err(Rejection::Shape(e)) => e.to_string(),
            other => panic!("expected a shape rejection, got {other:?}"),
        };
        let d = shape(edited(|r| r.kind = ReportKind::School));
        assert!(d.contains("needs a school section"), "{d}");
        let d = shape(edited(|r| r.school = Some(school())));
        assert!(d.contains("only a school report"), "{d}");
        let d = shape(schoolish(|s| s.profiles[0].age = 40));
        assert!(d.contains("primary has age 40"), "{d}");
        let d = shape(schoolish(|s| {
            s.lists[0].name = body::Label::try_from("school".to_owned()).unwrap();
        }));
        assert!(d.contains("the national list"), "{d}");
        let d = shape(schoolish(|s| s.lists.clear()));
        assert!(d.contains("the national list"), "{d}");
        let d = shape(schoolish(|s| {
            let p = s.profiles[0].clone();
            s.profiles.push(p);
        }));
        assert!(d.contains("primary appears twice"), "{d}");
        let d = shape(schoolish(|s| {
            for lists in s.blocked.values_mut() {
                for cats in lists.values_mut() {
                    cats.get_mut("adult")
                        .unwrap()
                        .insert("dns".into(), Count::Exact(2));
                }
            }
        }));
        assert_eq!(
            d,
            "school.blocked.primary.national.adult.dns: exact count 2 under min_count 5"
        );
        let d = shape(schoolish(|s| {
            for lists in s.blocked.values_mut() {
                for cats in lists.values_mut() {
                    cats.get_mut("csam")
                        .unwrap()
                        .insert("ftp".into(), Count::Exact(9));
                }
            }
        }));
        assert!(d.contains("csam.ftp: unknown channel"), "{d}");
        // A name that is not a label does not even parse.
        let mut r =
            conformance::report("n1", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 1).report;
        r.kind = ReportKind::School;
        r.school = Some(school());
        let text = String::from_utf8(r.to_bytes())
            .unwrap()
            .replace("\"primary\"", "\"10.0.0.7/8\"");
        let e = check(Some(&send::sign(&key(1), text.as_bytes())), text.as_bytes()).unwrap_err();
        assert!(matches!(e, Rejection::Schema { .. }), "{e:?}");
    }
}
