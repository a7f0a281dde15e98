//! `[report]`: compliance reports to the ministry (see
//! `docs/compliance-report.md`). Absent section: no reports.
//!
//! Kept in its own file, apart from the other sections, so the reporter's
//! keys and checks sit together.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::extract::{self, Got, Invalid, Table};
use crate::keys::SecretKeyFile;
use crate::readers::CaBundle;
use crate::spelling;
use toml::de::DeValue;

/// `report.interval`: one report per five minutes.
pub const DEFAULT_REPORT_INTERVAL: Duration = Duration::from_secs(300);
/// Shortest `report.interval` (tests and labs; production uses minutes).
pub const MIN_REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// Longest `report.interval`.
pub const MAX_REPORT_INTERVAL: Duration = Duration::from_secs(86_400);
/// `report.spool_dir`: created by the Debian package's tmpfiles.d entry.
pub const DEFAULT_SPOOL_DIR: &str = "/var/spool/ward";
/// `report.spool_max_bytes`: 64 MiB, months of five-minute reports.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 64 << 20;
/// The smallest `report.spool_max_bytes` accepted: a few reports.
pub const MIN_SPOOL_MAX_BYTES: u64 = 4096;
/// `report.min_count`: per-category counts below this are sent as `"<N"`.
pub const DEFAULT_MIN_COUNT: u64 = 5;
/// `min_count` can only be raised: below 5 a single child's activity on a
/// small school's node could show.
pub const MIN_MIN_COUNT: u64 = 5;
pub const MAX_MIN_COUNT: u64 = 1_000_000;
/// Longest `isp_id` / `node_id`.
pub const MAX_ID_LEN: usize = 64;

/// `report.kind`: what the node is, as the ministry sees it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    /// An ISP's resolver: the national list for its subscribers.
    #[default]
    Isp,
    /// A school's resolver: its reports also carry the `[[profile]]`s,
    /// the counts per profile and every list in force.
    School,
}

impl ReportKind {
    /// The spellings `report.kind` accepts.
    pub const CHOICES: &'static [(&'static str, Self)] =
        &[("isp", Self::Isp), ("school", Self::School)];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Isp => "isp",
            Self::School => "school",
        }
    }

    /// The default, left out of a written config and of a report.
    pub fn is_isp(&self) -> bool {
        *self == Self::Isp
    }
}

/// `[report]`, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportSettings {
    /// The ISP, as the ministry registered it.
    pub isp_id: String,
    /// This node, unique within the ISP.
    pub node_id: String,
    /// The node's Ed25519 signing key (a `.key` file from `ward keygen`);
    /// read and parsed when the config was loaded.
    pub key: SecretKeyFile,
    /// The ministry's collector (HTTPS only).
    #[serde(serialize_with = "spelling::display")]
    pub url: reqwest::Url,
    /// Extra CA certificates (PEM) trusted for `url`; read when the
    /// config was loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<CaBundle>,
    /// Length of a report window; windows end on multiples of it.
    #[serde(serialize_with = "spelling::duration")]
    pub interval: Duration,
    /// Where reports wait until the collector accepts them.
    #[serde(serialize_with = "spelling::path")]
    pub spool_dir: PathBuf,
    /// Bound on the spool; the oldest report is dropped past it.
    #[serde(serialize_with = "spelling::byte_size")]
    pub spool_max_bytes: u64,
    /// Per-category counts below this are sent as `"<min_count"`.
    #[serde(serialize_with = "spelling::count")]
    pub min_count: u64,
    /// `isp` (the default) or `school`.
    #[serde(skip_serializing_if = "ReportKind::is_isp")]
    pub kind: ReportKind,
}

/// An identifier: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub(super) fn identifier(value: &toml::de::DeValue<'_>) -> Result<String, Invalid> {
    let text = extract::string(value)?;
    let ok = !text.is_empty()
        && text.len() <= MAX_ID_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        return Err(Invalid(format!(
            "invalid identifier {text:?}: use 1 to {MAX_ID_LEN} letters, digits, '.', '_' or '-', as registered with the ministry"
        )));
    }
    Ok(text.to_owned())
}

impl ReportSettings {
    /// Reads `[report]`; `None` when the section is absent (or unusable,
    /// in which case the errors are recorded).
    pub(super) fn extract(mut t: Table<'_, '_>, list: &super::ListSettings) -> Option<Self> {
        use extract::{https_url, path};
        if !t.is_present() {
            return None;
        }
        let isp_id = required(
            &mut t,
            "isp_id",
            identifier,
            "the ISP's id as the ministry registered it",
        );
        let node_id = required(
            &mut t,
            "node_id",
            identifier,
            "this node's id, unique within the ISP",
        );
        let key = required(
            &mut t,
            "key",
            |v| SecretKeyFile::read(&path(v)?).map_err(|e| Invalid(e.to_string())),
            "the node's signing key (.key from `ward keygen`); register its .pub with the ministry",
        );
        let url = required(
            &mut t,
            "url",
            https_url,
            "the ministry's collector, an https:// URL",
        );
        let ca_file = t.get("ca_file", extract::ca_file).ok();
        let kind = t
            .get("kind", extract::one_of(ReportKind::CHOICES))
            .or(ReportKind::Isp);
        let (interval, spool_max_bytes, min_count) = amounts(&mut t);
        let spool_dir = spool_dir(&mut t, list);
        Some(Self {
            isp_id: isp_id?,
            node_id: node_id?,
            key: key?,
            url: url?,
            ca_file,
            interval,
            spool_dir,
            spool_max_bytes,
            min_count,
            kind,
        })
    }
}

/// Reads a key `[report]` cannot do without; its absence is an error
/// that says what to put there.
fn required<T>(
    t: &mut Table<'_, '_>,
    key: &'static str,
    parse: impl FnOnce(&DeValue<'_>) -> Result<T, Invalid>,
    what: &str,
) -> Option<T> {
    match t.get(key, parse) {
        Got::Missing => {
            t.error(key, format!("required in [report]: {what}"));
            None
        }
        got => got.ok(),
    }
}

/// `interval`, `spool_max_bytes` and `min_count`, each within its bounds.
fn amounts(t: &mut Table<'_, '_>) -> (Duration, u64, u64) {
    use extract::{byte_size, duration, integer};
    let interval = match t.get(
        "interval",
        duration(MIN_REPORT_INTERVAL, MAX_REPORT_INTERVAL),
    ) {
        Got::Ok(d) if d.subsec_nanos() != 0 => {
            t.error(
                "interval",
                "must be a whole number of seconds, e.g. \"5m\" or \"90s\"",
            );
            DEFAULT_REPORT_INTERVAL
        }
        got => got.or(DEFAULT_REPORT_INTERVAL),
    };
    let spool_max_bytes = match t.get("spool_max_bytes", byte_size) {
        Got::Ok(n) if n < MIN_SPOOL_MAX_BYTES => {
            t.error(
                "spool_max_bytes",
                format!("{n} bytes holds hardly a report; the minimum is {MIN_SPOOL_MAX_BYTES}"),
            );
            DEFAULT_SPOOL_MAX_BYTES
        }
        got => got.or(DEFAULT_SPOOL_MAX_BYTES),
    };
    let min_count = match t.get("min_count", integer(0, i128::from(MAX_MIN_COUNT))) {
        Got::Ok(n) if n < MIN_MIN_COUNT => {
            t.error(
                "min_count",
                format!(
                    "{n} is below {MIN_MIN_COUNT}: smaller counts could reveal one child's activity on a small node; it can only be raised"
                ),
            );
            DEFAULT_MIN_COUNT
        }
        got => got.or(DEFAULT_MIN_COUNT),
    };
    (interval, spool_max_bytes, min_count)
}

/// `spool_dir`, which must not be the list's state directory.
fn spool_dir(t: &mut Table<'_, '_>, list: &super::ListSettings) -> PathBuf {
    let spool_dir = t
        .get("spool_dir", extract::path)
        .or(PathBuf::from(DEFAULT_SPOOL_DIR));
    if spool_dir.components().eq(list.state_dir.components()) {
        t.error(
            "spool_dir",
            format!(
                "{} is also list.state_dir; give the report spool a directory of its own, e.g. \"{DEFAULT_SPOOL_DIR}\"",
                spool_dir.display()
            ),
        );
    }
    spool_dir
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    const DEMO_PUB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.pub");
    const DEMO_WARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.ward");

    fn base() -> String {
        format!(
            "[dns]\nupstreams = [\"192.0.2.53\"]\n[list]\nfile = {DEMO_WARD:?}\ntrusted_keys = [{DEMO_PUB:?}]\n"
        )
    }

    fn node_key(dir: &std::path::Path) -> PathBuf {
        let key = crate::keys::generate().unwrap();
        crate::keys::write_pair(&dir.join("node"), &key, false).unwrap();
        dir.join("node.key")
    }

    fn parse(text: &str) -> Result<Config, Vec<String>> {
        Config::parse_with(text, "t.toml", || None)
            .map_err(|e| e.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn absent_section_means_no_reports() {
        assert_eq!(parse(&base()).unwrap().report, None);
    }

    #[test]
    fn minimal_section_takes_defaults_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let key = node_key(dir.path());
        let text = format!(
            "{}[report]\nisp_id = \"vnpt\"\nnode_id = \"hn-01\"\nkey = {key:?}\nurl = \"https://collector.example/v1/reports\"\n",
            base()
        );
        let c = parse(&text).unwrap();
        let r = c.report.clone().unwrap();
        assert_eq!(r.isp_id, "vnpt");
        assert_eq!(r.interval, DEFAULT_REPORT_INTERVAL);
        assert_eq!(r.spool_dir, PathBuf::from(DEFAULT_SPOOL_DIR));
        assert_eq!(r.spool_max_bytes, DEFAULT_SPOOL_MAX_BYTES);
        assert_eq!(r.min_count, DEFAULT_MIN_COUNT);
        assert_eq!(r.ca_file, None);
        assert_eq!(r.kind, ReportKind::Isp);
        assert!(!c.to_toml().contains("kind"), "the default is not written");
        let back = Config::parse_with(&c.to_toml(), "round-trip", || None).unwrap();
        assert_eq!(back, c);
        let mut odd = c.clone();
        odd.report = Some(ReportSettings {
            interval: std::time::Duration::from_secs(90),
            spool_max_bytes: 5000,
            min_count: 10,
            spool_dir: PathBuf::from("spool"),
            kind: ReportKind::School,
            ..r
        });
        let back = Config::parse_with(&odd.to_toml(), "round-trip", || None).unwrap();
        assert_eq!(back, odd);
    }

    #[test]
    fn every_problem_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let public = dir.path().join("node.pub");
        node_key(dir.path());
        let text = format!(
            "{}[report]\nisp_id = \"bad id\"\nkey = {public:?}\nurl = \"http://collector.example/\"\ninterval = \"500ms\"\nspool_max_bytes = 100\nmin_count = 2\nintervall = \"5m\"\n",
            base()
        );
        let errors = parse(&text).unwrap_err();
        let want = [
            "t.toml:6: report.node_id: required in [report]: this node's id, unique within the ISP",
            "t.toml:7: report.isp_id: invalid identifier \"bad id\": use 1 to 64 letters, digits, '.', '_' or '-', as registered with the ministry",
            "report.key: ",
            "t.toml:9: report.url: \"http://collector.example/\" is plain http",
            "t.toml:10: report.interval: must be between 1s and 1day, found \"500ms\"",
            "t.toml:11: report.spool_max_bytes: 100 bytes holds hardly a report; the minimum is 4096",
            "t.toml:12: report.min_count: 2 is below 5",
            "t.toml:13: report.intervall: unknown key `report.intervall`; did you mean `report.interval`?",
        ];
        assert_eq!(errors.len(), want.len(), "{errors:#?}");
        for (got, want) in errors.iter().zip(want) {
            assert!(
                got.starts_with(want) || got.contains(want),
                "{got}\n  wanted: {want}"
            );
        }
        assert!(errors[2].contains("public key"), "{}", errors[2]);
    }

    #[test]
    fn kind_is_isp_or_school() {
        let dir = tempfile::tempdir().unwrap();
        let key = node_key(dir.path());
        let section = |kind: &str| {
            format!(
                "{}[report]\nisp_id = \"moet\"\nnode_id = \"thcs-1\"\nkey = {key:?}\nurl = \"https://c.example/\"\nkind = {kind}\n",
                base()
            )
        };
        let c = parse(&section("\"school\"")).unwrap();
        assert_eq!(c.report.unwrap().kind, ReportKind::School);
        let c = parse(&section("\"isp\"")).unwrap();
        assert_eq!(c.report.unwrap().kind, ReportKind::Isp);
        let errors = parse(&section("\"School\"")).unwrap_err();
        assert_eq!(
            errors,
            ["t.toml:11: report.kind: expected one of \"isp\", \"school\", found \"School\""]
        );
        let errors = parse(&section("1")).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("t.toml:11: report.kind: expected one of"));
    }

    #[test]
    fn spool_dir_must_not_be_the_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let key = node_key(dir.path());
        let text = format!(
            "{}state_dir = \"/var/lib/ward/\"\n[report]\nisp_id = \"i\"\nnode_id = \"n\"\nkey = {key:?}\nurl = \"https://c.example/\"\nspool_dir = \"/var/lib/ward\"\n",
            base()
        );
        let errors = parse(&text).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0]
                .starts_with("t.toml:12: report.spool_dir: /var/lib/ward is also list.state_dir"),
            "{errors:?}"
        );
    }

    #[test]
    fn fractional_interval_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = node_key(dir.path());
        let text = format!(
            "{}[report]\nisp_id = \"i\"\nnode_id = \"n\"\nkey = {key:?}\nurl = \"https://c.example/\"\ninterval = \"1500ms\"\n",
            base()
        );
        let errors = parse(&text).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("whole number of seconds"), "{errors:?}");
    }
}
