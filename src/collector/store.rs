//! The storage interface: what the collector keeps, behind one small trait
//! so that SQLite (the zero-setup default, `collector::sqlite`) and
//! PostgreSQL (national scale, `collector::postgres`) are interchangeable.
//!
//! The trait is blocking: the server calls it from `spawn_blocking`.
//! SQLite is a blocking library anyway, and a synchronous PostgreSQL
//! client keeps both implementations the same shape. The contract every
//! implementation must keep (and `tests` checks for each):
//!
//! * [`Storage::insert_report`] returns only after the report is durably
//!   committed: the caller answers 2xx on its return, so nothing
//!   acknowledged is ever lost.
//! * A `report_id` already stored gives [`Inserted::Duplicate`] and stores
//!   nothing (the node's delivery is at least once).
//! * A window overlapping one already stored for the node, or starting
//!   before the end of the node's latest stored window, is stored but
//!   flagged ([`WindowFlag`]), never merged.
//! * [`Storage::insert_probe`] returns only after the probe result is
//!   durably committed; a `probe_id` already stored gives
//!   [`Inserted::Duplicate`] and changes nothing (never flagged).
//! * [`Storage::probes`] returns the latest probe results, newest
//!   `probed_at` first.

use jiff::Timestamp;

use crate::keys::KeyId;
use crate::probe::result::ProbeResult;
use crate::report::body::{ListSerial, ProfileInfo, Report};

/// A report that passed ingest: its signature verified against the node's
/// registered key, its body parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub report: Report,
    /// The body exactly as signed and received.
    pub body: Vec<u8>,
    /// The `Ward-Signature` header, kept with the body: together they
    /// prove what the node sent.
    pub signature: String,
    pub key_id: KeyId,
    pub received_at: Timestamp,
}

/// A probe result that passed ingest (`collector::probes`): its signature
/// verified against a registered prober's key, its body parsed and
/// checked, its `prober_id` the key's.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedProbe {
    pub result: ProbeResult,
    /// The body exactly as signed and received.
    pub body: Vec<u8>,
    /// The `Ward-Signature` header.
    pub signature: String,
    pub key_id: KeyId,
    pub received_at: Timestamp,
}

/// Which probe results [`Storage::probes`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeQuery {
    /// Only this ISP's (`None`: all).
    pub isp_id: Option<String>,
    /// At most this many (the newest).
    pub limit: u32,
}

/// One channel's counts of a stored probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ProbeCounts {
    pub probed: u64,
    pub blocked: u64,
    pub failed: u64,
}

/// One stored probe result, without its body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProbeRow {
    pub probe_id: String,
    pub prober_id: String,
    pub isp_id: String,
    pub node_id: Option<String>,
    pub resolver: String,
    pub probed_at: Timestamp,
    pub received_at: Timestamp,
    pub list_id: String,
    pub list_serial: u64,
    pub serial_seen: Option<u64>,
    /// `None`: the probe gave no verdict.
    pub compliant: Option<bool>,
    pub reasons: Vec<String>,
    pub dns: ProbeCounts,
    pub sni: Option<ProbeCounts>,
}

/// Why a stored window is suspicious.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WindowFlag {
    /// It overlaps a window already stored for the same node.
    Overlap,
    /// It starts before the end of the node's latest stored window
    /// without overlapping one (time ran backwards), or it ends before it
    /// starts.
    Backwards,
}

impl WindowFlag {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Overlap => "overlap",
            Self::Backwards => "backwards",
        }
    }

    /// Parses [`WindowFlag::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "overlap" => Some(Self::Overlap),
            "backwards" => Some(Self::Backwards),
            _ => None,
        }
    }
}

/// What [`Storage::insert_report`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Committed, with the flags it was stored under (empty: none).
    Stored { flags: Vec<WindowFlag> },
    /// The `report_id` was already stored; nothing changed.
    Duplicate,
}

/// One report as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    /// The body exactly as received.
    pub body: Vec<u8>,
    pub flags: Vec<WindowFlag>,
}

/// The latest state of one node, from its reports.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    pub isp_id: String,
    pub node_id: String,
    /// When the collector received the node's latest report.
    pub last_report_at: Timestamp,
    /// The end of the node's latest window.
    pub last_window_end: Timestamp,
    /// The list in force at the end of that window; `None`: no list.
    pub list_id: Option<String>,
    pub list_serial: Option<u64>,
    pub activated_at: Option<Timestamp>,
    /// The node reported its list past `expires_at`.
    pub list_stale: bool,
    /// Reports stored for the node.
    pub reports: u64,
    /// ... of which flagged.
    pub flagged: u64,
}

/// Which windows [`Storage::windows`] returns: those of the ISP and node
/// given (`None`: all) that overlap `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowQuery {
    pub isp_id: Option<String>,
    pub node_id: Option<String>,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// A blocked count as stored: exact, or suppressed below the report's
/// `min_count` (`"<5"` is `Below(5)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockedCount {
    Exact(u64),
    Below(u64),
}

/// One category and channel of a window's blocked counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedCell {
    pub category: String,
    pub channel: String,
    pub count: BlockedCount,
}

/// A report's blocked counts as cells, by category then channel: what
/// [`WindowRow::blocked`] holds. Stores derive them from the stored body
/// (the signed bytes are the one copy of the counts).
pub fn blocked_cells(report: &Report) -> Vec<BlockedCell> {
    let mut out = Vec::new();
    for (category, row) in &report.counters.blocked {
        for (channel, count) in row {
            out.push(BlockedCell {
                category: category.clone(),
                channel: channel.clone(),
                count: match count {
                    crate::report::body::Count::Exact(n) => BlockedCount::Exact(*n),
                    // Ingest checked the form "<min_count".
                    crate::report::body::Count::Below(_) => BlockedCount::Below(report.min_count),
                },
            });
        }
    }
    out
}

/// One per-profile count of a school report's window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileBlockedCell {
    pub profile: String,
    /// `national`, or a `[[lists]]` name of the node.
    pub list: String,
    pub category: String,
    pub channel: String,
    pub count: BlockedCount,
}

/// A school report's per-profile counts as cells, by profile, list,
/// category, channel (none for an ISP report): what
/// [`WindowRow::profiles`] holds, derived from the stored body.
pub fn profile_cells(report: &Report) -> Vec<ProfileBlockedCell> {
    let Some(school) = &report.school else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (profile, lists) in &school.blocked {
        for (list, categories) in lists {
            for (category, row) in categories {
                for (channel, count) in row {
                    out.push(ProfileBlockedCell {
                        profile: profile.to_string(),
                        list: list.to_string(),
                        category: category.clone(),
                        channel: channel.clone(),
                        count: match count {
                            crate::report::body::Count::Exact(n) => BlockedCount::Exact(*n),
                            // Ingest checked the form "<min_count".
                            crate::report::body::Count::Below(_) => {
                                BlockedCount::Below(report.min_count)
                            }
                        },
                    });
                }
            }
        }
    }
    out
}

/// A school node as its latest report describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SchoolRow {
    pub isp_id: String,
    pub node_id: String,
    /// When the collector received the node's latest report.
    pub last_report_at: Timestamp,
    /// The end of the node's latest window.
    pub last_window_end: Timestamp,
    /// Its profiles, in the node's config order.
    pub profiles: Vec<ProfileInfo>,
    /// Every list it enforces, the national one first.
    pub lists: Vec<ListSerial>,
}

impl SchoolRow {
    /// The row for a node whose latest report is `report`; `None` when
    /// that is not a school report.
    pub(crate) fn of(
        report: &Report,
        last_report_at: Timestamp,
        last_window_end: Timestamp,
    ) -> Option<Self> {
        let school = report.school.as_ref()?;
        Some(Self {
            isp_id: report.isp_id.clone(),
            node_id: report.node_id.clone(),
            last_report_at,
            last_window_end,
            profiles: school.profiles.clone(),
            lists: school.lists.clone(),
        })
    }
}

/// One stored report's window, without its body: what the node page's
/// chart and the CSV export are made of.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRow {
    pub report_id: String,
    pub isp_id: String,
    pub node_id: String,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    pub received_at: Timestamp,
    pub list_id: Option<String>,
    pub list_serial: Option<u64>,
    pub list_stale: bool,
    pub queries_total: u64,
    pub malformed_packets: u64,
    pub flags: Vec<WindowFlag>,
    /// By category, then channel.
    pub blocked: Vec<BlockedCell>,
    /// A school report's per-profile counts (empty for an ISP report).
    pub profiles: Vec<ProfileBlockedCell>,
}

// Column encodings shared by the SQL stores: times as unix
// milliseconds, counts as signed 64-bit integers, flags as a
// comma-separated list. A value that does not decode is corruption.

/// A time as stored: unix milliseconds.
pub(crate) fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// [`ms`] back to a time.
pub(crate) fn from_ms(v: i64) -> Result<Timestamp, StorageError> {
    Timestamp::from_millisecond(v)
        .map_err(|e| StorageError::Corrupt(format!("time {v} ms out of range: {e}")))
}

/// A count or serial as stored (SQL integers are signed).
pub(crate) fn to_i64(v: u64, what: &str) -> Result<i64, StorageError> {
    i64::try_from(v).map_err(|_| StorageError::Corrupt(format!("{what} {v} exceeds 2^63")))
}

/// [`to_i64`] back; `what` names the column in the error.
pub(crate) fn to_u64(v: i64, what: &str) -> Result<u64, StorageError> {
    u64::try_from(v).map_err(|_| StorageError::Corrupt(format!("negative {what} {v}")))
}

/// The overlap rule, the same for every store: a window that overlaps a
/// stored window of the same node is flagged `overlap`; otherwise one that
/// ends before it starts, or starts before the end of the node's latest
/// window, is `backwards`. Flagged windows are stored all the same.
pub(crate) fn window_flags(
    start_ms: i64,
    end_ms: i64,
    overlapping: bool,
    latest_end_ms: Option<i64>,
) -> Vec<WindowFlag> {
    if overlapping {
        vec![WindowFlag::Overlap]
    } else if end_ms <= start_ms || latest_end_ms.is_some_and(|e| start_ms < e) {
        vec![WindowFlag::Backwards]
    } else {
        Vec::new()
    }
}

/// A `reports` row as every store writes it: the 24 columns in the
/// order of both stores' `INSERT`, mapped from the report once.
#[derive(Debug)]
pub(crate) struct ReportRow<'a> {
    pub report_id: &'a str,
    pub isp_id: &'a str,
    pub node_id: &'a str,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    pub received_at_ms: i64,
    pub node_started_ms: i64,
    pub ward_version: &'a str,
    pub config_digest: &'a str,
    pub min_count: i64,
    pub list_id: Option<&'a str>,
    pub list_serial: Option<i64>,
    pub list_sha256: Option<&'a str>,
    pub list_issued_ms: Option<i64>,
    pub list_expires_ms: Option<i64>,
    pub activated_at_ms: Option<i64>,
    pub list_stale: bool,
    pub queries_total: i64,
    pub malformed: i64,
    pub flags: String,
    pub key_id: String,
    pub signature: &'a str,
    pub body: &'a [u8],
    /// `isp` or `school` (schema 4 in SQLite, 2 in PostgreSQL).
    pub kind: &'static str,
}

impl<'a> ReportRow<'a> {
    pub(crate) fn of(a: &'a Accepted, flags: &[WindowFlag]) -> Result<Self, StorageError> {
        let r = &a.report;
        let list = r.list.as_ref();
        Ok(Self {
            report_id: &r.report_id,
            isp_id: &r.isp_id,
            node_id: &r.node_id,
            window_start_ms: ms(r.window_start),
            window_end_ms: ms(r.window_end),
            received_at_ms: ms(a.received_at),
            node_started_ms: ms(r.node_started_at),
            ward_version: &r.ward_version,
            config_digest: &r.config_digest,
            min_count: to_i64(r.min_count, "min_count")?,
            list_id: list.map(|l| l.list_id.as_str()),
            list_serial: list.map(|l| to_i64(l.serial, "serial")).transpose()?,
            list_sha256: list.map(|l| l.sha256.as_str()),
            list_issued_ms: list.map(|l| ms(l.issued_at)),
            list_expires_ms: list.map(|l| ms(l.expires_at)),
            activated_at_ms: list.map(|l| ms(l.activated_at)),
            list_stale: list.is_some_and(|l| l.stale),
            queries_total: to_i64(r.counters.queries_total, "queries_total")?,
            malformed: to_i64(r.counters.malformed_packets, "malformed_packets")?,
            flags: flags_text(flags),
            key_id: a.key_id.to_string(),
            signature: &a.signature,
            body: &a.body,
            kind: r.kind.as_str(),
        })
    }
}

/// An `activations` row as every store writes it: numbered in report
/// order, mapped from the report once.
#[derive(Debug, PartialEq)]
pub(crate) struct ActivationRow<'a> {
    pub seq: i64,
    pub list_id: &'a str,
    pub serial: i64,
    pub sha256: &'a str,
    pub issued_at_ms: i64,
    pub activated_at_ms: i64,
    pub lag_seconds: f64,
    pub at_startup: bool,
}

impl<'a> ActivationRow<'a> {
    /// The report's activations, in order.
    pub(crate) fn all(r: &'a Report) -> Result<Vec<Self>, StorageError> {
        (0i64..)
            .zip(&r.activations)
            .map(|(seq, act)| {
                Ok(Self {
                    seq,
                    list_id: &act.list_id,
                    serial: to_i64(act.serial, "serial")?,
                    sha256: &act.sha256,
                    issued_at_ms: ms(act.issued_at),
                    activated_at_ms: ms(act.activated_at),
                    lag_seconds: act.lag_seconds,
                    at_startup: act.at_startup,
                })
            })
            .collect()
    }
}

/// The `nodes` upsert for one stored report, as every store writes it:
/// one more report (and one more flagged one if it has flags), and the
/// report as the node's latest if its window ends last.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NodeUpdate<'a> {
    pub isp_id: &'a str,
    pub node_id: &'a str,
    pub report_id: &'a str,
    pub received_at_ms: i64,
    pub window_end_ms: i64,
    /// 1 if the report was flagged, else 0.
    pub flagged: i64,
}

impl<'a> NodeUpdate<'a> {
    pub(crate) fn of(a: &'a Accepted, flags: &[WindowFlag]) -> Self {
        let r = &a.report;
        Self {
            isp_id: &r.isp_id,
            node_id: &r.node_id,
            report_id: &r.report_id,
            received_at_ms: ms(a.received_at),
            window_end_ms: ms(r.window_end),
            flagged: i64::from(!flags.is_empty()),
        }
    }
}

/// Window flags as stored: `overlap,backwards`, or empty.
pub(crate) fn flags_text(flags: &[WindowFlag]) -> String {
    flags
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// A stored body back to its report (it was parsed and checked at
/// ingest, so a failure here is corruption).
pub(crate) fn parse_body(report_id: &str, body: &[u8]) -> Result<Report, StorageError> {
    serde_json::from_slice(body)
        .map_err(|e| StorageError::Corrupt(format!("report {report_id}: stored body: {e}")))
}

/// [`flags_text`] back (unknown words are skipped).
pub(crate) fn parse_flags(text: &str) -> Vec<WindowFlag> {
    text.split(',').filter_map(WindowFlag::parse).collect()
}

/// Storage failures. The server answers 503 on any of them, so the node
/// keeps the report and retries. The underlying error is part of the
/// message and deliberately not a `source` (the CLI prints error chains,
/// and it would be printed twice).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot open the database {path}: {error}")]
    Open {
        path: String,
        error: rusqlite::Error,
    },
    #[error("cannot create the database's directory {path}: {error}")]
    CreateDir { path: String, error: std::io::Error },
    #[error(
        "the database is at schema version {found}, newer than this ward knows ({known}); run the newer ward, or restore a backup"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("schema migration to version {version} failed: {error}")]
    Migration {
        version: i64,
        error: rusqlite::Error,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The `postgres://` URL is unusable. The URL in `url` has its
    /// password redacted.
    #[error("PostgreSQL URL {url}: {reason}")]
    PostgresUrl {
        url: String,
        reason: crate::readers::postgres::UrlProblem,
    },
    /// Connecting (or reconnecting) failed; `url` has its password
    /// redacted.
    #[error("cannot connect to PostgreSQL at {url}: {error}")]
    PostgresConnect { url: String, error: String },
    /// The server would not keep a commit durably (`fsync = off`).
    #[error("refusing PostgreSQL at {url}: {reason}")]
    PostgresNotDurable { url: String, reason: String },
    #[error("schema migration to version {version} failed: {error}")]
    PostgresMigration { version: i64, error: String },
    /// A query failed (the text of the `postgres` error, which never
    /// carries the connection's password).
    #[error("PostgreSQL: {0}")]
    Postgres(String),
}

/// Where reports are kept.
pub trait Storage: Send + Sync + 'static {
    /// Stores a batch of accepted reports in one durable transaction
    /// (group commit), in order: a report may be a duplicate of one
    /// earlier in the same batch. All or nothing: on an error none is
    /// stored.
    fn insert_reports(&self, reports: &[Accepted]) -> Result<Vec<Inserted>, StorageError>;

    /// Stores one accepted report, durably, before returning.
    fn insert_report(&self, report: &Accepted) -> Result<Inserted, StorageError> {
        let mut out = self.insert_reports(std::slice::from_ref(report))?;
        out.pop()
            .ok_or_else(|| StorageError::Corrupt("a batch of one gave no result".into()))
    }

    /// The latest state of every node that has reported, by isp then node.
    fn nodes(&self) -> Result<Vec<NodeRow>, StorageError>;

    /// How many reports are stored.
    fn report_count(&self) -> Result<u64, StorageError>;

    /// Each node's first activation of each serial, with its lag.
    fn activation_lags(&self) -> Result<Vec<super::lag::LagRow>, StorageError>;

    /// The stored windows that overlap `[query.from, query.to)`
    /// (`window_start < to` and `window_end > from`), of one ISP and node
    /// when given, ordered by ISP, node, then window start (then report
    /// id). Flagged windows are included, with their flags.
    fn windows(&self, query: &WindowQuery) -> Result<Vec<WindowRow>, StorageError>;

    /// One stored report, by id.
    fn report(&self, report_id: &str) -> Result<Option<StoredReport>, StorageError>;

    /// Every node whose latest window (by window end) is a school report
    /// (`kind = "school"`), with its profiles and lists from that report,
    /// by isp then node.
    fn schools(&self) -> Result<Vec<SchoolRow>, StorageError>;

    /// Stores one accepted probe result, durably, before returning:
    /// [`Inserted::Stored`] with no flags, or [`Inserted::Duplicate`] (and
    /// nothing changed) when its `probe_id` is already stored. Keep the
    /// body and signature byte for byte, beside the columns [`ProbeRow`]
    /// needs.
    fn insert_probe(&self, probe: &AcceptedProbe) -> Result<Inserted, StorageError>;

    /// The newest stored probe results, of `query.isp_id` when given, at
    /// most `query.limit`, ordered by `probed_at` descending, then
    /// `probe_id` ascending.
    fn probes(&self, query: &ProbeQuery) -> Result<Vec<ProbeRow>, StorageError>;

    /// One stored probe result's body exactly as received, by id.
    fn probe_body(&self, probe_id: &str) -> Result<Option<Vec<u8>>, StorageError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::conformance::report;

    #[test]
    fn activation_rows_are_numbered_in_report_order() {
        let mut a = report("n1", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 7);
        let mut second = a.report.activations[0].clone();
        second.serial = 8;
        second.at_startup = true;
        a.report.activations.push(second);
        let rows = ActivationRow::all(&a.report).unwrap();
        let seen: Vec<_> = rows
            .iter()
            .map(|r| (r.seq, r.serial, r.at_startup))
            .collect();
        assert_eq!(seen, [(0, 7, false), (1, 8, true)]);
        assert_eq!(
            rows[0].activated_at_ms,
            ms(a.report.activations[0].activated_at)
        );

        a.report.activations[1].serial = u64::MAX;
        let e = ActivationRow::all(&a.report).unwrap_err();
        assert!(e.to_string().contains("serial"), "{e}");
    }

    #[test]
    fn a_node_update_counts_a_flagged_report_once() {
        let a = report("n1", "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 7);
        let plain = NodeUpdate::of(&a, &[]);
        assert_eq!(plain.flagged, 0);
        assert_eq!(plain.window_end_ms, ms(a.report.window_end));
        assert_eq!(plain.received_at_ms, ms(a.received_at));
        let flagged = NodeUpdate::of(&a, &[WindowFlag::Overlap, WindowFlag::Backwards]);
        assert_eq!(flagged.flagged, 1);
    }
}
