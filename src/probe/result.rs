//! `ward-probe-result/1`: what `ward probe --report-to` sends the
//! collector, signed with the prober's key under
//! [`crate::report::send::PROBE_SIGNATURE_CONTEXT`]. See `docs/probe.md`
//! ("Reporting results") and `docs/probe-result.schema.json`.
//!
//! * `probe_id` is deterministic: the first 128 bits of SHA-256 over a
//!   context, the prober id, the resolver and `probed_at` (milliseconds).
//!   The collector recomputes it, so an id cannot be chosen to shadow
//!   another probe, and a result re-sent from the spool keeps its id and
//!   is stored once.
//! * Only the names **not** blocked (or not answered) are listed, per
//!   channel: they are what the ISP has to fix, and they all come from
//!   public categories (the probe never asks for a confidential one). The
//!   blocked ones are counted, not listed.
//! * `compliant` is `null` when the answers could not support a verdict
//!   (the probe's exit 1); `reasons` then holds the error.
//!
//! Parsing is strict ([`ProbeResult::parse`]): unknown fields are refused
//! and [`ProbeResult::check`] enforces what serde's types do not.

use std::net::SocketAddr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `format` value.
pub const FORMAT: &str = "ward-probe-result/1";
/// Domain separation of [`probe_id`].
const PROBE_ID_CONTEXT: &[u8] = b"ward-probe-id-v1\0";
/// Longest reason, in bytes.
pub const MAX_REASON_LEN: usize = 1024;
/// Most reasons in one result.
pub const MAX_REASONS: usize = 64;
/// Most names listed per channel (the probe samples at most 10 000, plus
/// the canary).
pub const MAX_NAMES: usize = 10_001;
/// Longest identifier (as in the node config and the registry).
pub const MAX_ID_LEN: usize = 64;

/// How one name came out on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Blocked,
    NotBlocked,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blocked => "blocked",
            Self::NotBlocked => "not_blocked",
            Self::Failed => "failed",
        }
    }
}

impl From<&super::Verdict> for Outcome {
    fn from(v: &super::Verdict) -> Self {
        match v {
            super::Verdict::Blocked(_) => Self::Blocked,
            super::Verdict::NotBlocked(_) => Self::NotBlocked,
            super::Verdict::Failed(_) => Self::Failed,
        }
    }
}

/// The canary's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    pub name: String,
    pub dns: Outcome,
    /// `null` without `--sni`.
    pub sni: Option<Outcome>,
}

/// One channel's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    pub probed: u64,
    pub blocked: u64,
    pub failed: u64,
    /// The names not blocked or not answered (`probed - blocked` of them),
    /// canary included; all from public categories.
    pub not_blocked: Vec<String>,
}

/// One probe's result, as signed and sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeResult {
    pub format: String,
    pub probe_id: String,
    pub prober_id: String,
    /// The ISP whose resolver was probed.
    pub isp_id: String,
    /// The node, when the prober knows which one answers at `resolver`.
    pub node_id: Option<String>,
    /// The resolver probed, `IP:PORT` (an ISP's resolver, not a subscriber).
    pub resolver: String,
    pub probed_at: Timestamp,
    /// The list probed against.
    pub list_id: String,
    pub list_serial: u64,
    /// What `CH TXT list.ward.` said; `null` for a resolver that is not ward.
    pub serial_seen: Option<u64>,
    /// `null`: no verdict (the probe's answers could not support one).
    pub compliant: Option<bool>,
    pub reasons: Vec<String>,
    /// `null` if the list has no canary.
    pub canary: Option<Canary>,
    pub dns: Channel,
    /// `null` without `--sni`.
    pub sni: Option<Channel>,
}

/// The deterministic probe id: hex of the first 16 bytes of
/// SHA-256(context ‖ prober_id ‖ 0 ‖ resolver ‖ 0 ‖ probed_at in ms, big
/// endian).
pub fn probe_id(prober_id: &str, resolver: &str, probed_at: Timestamp) -> String {
    let digest = Sha256::new()
        .chain_update(PROBE_ID_CONTEXT)
        .chain_update(prober_id.as_bytes())
        .chain_update([0])
        .chain_update(resolver.as_bytes())
        .chain_update([0])
        .chain_update(probed_at.as_millisecond().to_be_bytes())
        .finalize();
    hex::encode(&digest[..16])
}

/// 1 to 64 of `A-Z a-z 0-9 . _ -` (the registry's identifiers).
pub fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Why a body is not a valid result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not JSON: {0}")]
    NotJson(String),
    /// The body does not fit the result's types (serde's message).
    #[error("not a valid {FORMAT}: {0}")]
    Schema(String),
    /// It fits the types but breaks a rule they do not express. Shown,
    /// not a `source`: the text is already in this message.
    #[error("not a valid {FORMAT}: {0}")]
    Check(CheckError),
}

/// What a parsed result breaks beyond serde's types
/// ([`ProbeResult::check`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("format {found:?}: this collector reads {FORMAT:?}")]
    Format { found: String },
    #[error("{field} {value:?}: use 1 to {MAX_ID_LEN} letters, digits, '.', '_' or '-'")]
    Identifier { field: &'static str, value: String },
    #[error("resolver {found:?} is not IP:PORT")]
    Resolver { found: String },
    #[error(
        "probe_id {found:?} does not match prober_id, resolver and probed_at (expected {expected})"
    )]
    ProbeId { found: String, expected: String },
    #[error("more than {MAX_REASONS} reasons")]
    TooManyReasons,
    #[error("a reason of {len} bytes: each is 1 to {MAX_REASON_LEN}")]
    ReasonLength { len: usize },
    #[error("compliant is true but there are reasons")]
    CompliantWithReasons,
    #[error("compliant is false or null without a reason")]
    NoReason,
    #[error("canary.sni must be given exactly when sni is")]
    CanarySni,
    /// `field`: e.g. `canary.name` or `dns.not_blocked`.
    #[error("{field}: {name:?} is not a domain name")]
    Name { field: String, name: String },
    #[error("{field}: blocked {blocked} is more than probed {probed}")]
    BlockedOverProbed {
        field: &'static str,
        blocked: u64,
        probed: u64,
    },
    #[error("{field}: failed {failed} is more than probed - blocked {not_blocked}")]
    FailedOverNotBlocked {
        field: &'static str,
        failed: u64,
        not_blocked: u64,
    },
    #[error("{field}: not_blocked lists {listed} names, probed - blocked is {not_blocked}")]
    NotBlockedCount {
        field: &'static str,
        listed: usize,
        not_blocked: u64,
    },
}

impl ProbeResult {
    /// The body: compact JSON, as signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain strings, numbers and options cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses and checks a body.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let r: Self = serde_json::from_slice(body).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Syntax | Category::Eof | Category::Io => {
                    ParseError::NotJson(e.to_string())
                }
                Category::Data => ParseError::Schema(e.to_string()),
            }
        })?;
        r.check().map_err(ParseError::Check)?;
        Ok(r)
    }

    /// What serde's types do not already enforce.
    pub fn check(&self) -> Result<(), CheckError> {
        if self.format != FORMAT {
            return Err(CheckError::Format {
                found: self.format.clone(),
            });
        }
        for (field, value) in [
            ("prober_id", Some(&self.prober_id)),
            ("isp_id", Some(&self.isp_id)),
            ("node_id", self.node_id.as_ref()),
            ("list_id", Some(&self.list_id)),
        ] {
            if let Some(v) = value
                && !is_identifier(v)
            {
                return Err(CheckError::Identifier {
                    field,
                    value: v.clone(),
                });
            }
        }
        if self.resolver.parse::<SocketAddr>().is_err() {
            return Err(CheckError::Resolver {
                found: self.resolver.clone(),
            });
        }
        let expected = probe_id(&self.prober_id, &self.resolver, self.probed_at);
        if self.probe_id != expected {
            return Err(CheckError::ProbeId {
                found: self.probe_id.clone(),
                expected,
            });
        }
        if self.reasons.len() > MAX_REASONS {
            return Err(CheckError::TooManyReasons);
        }
        if let Some(r) = self
            .reasons
            .iter()
            .find(|r| r.is_empty() || r.len() > MAX_REASON_LEN)
        {
            return Err(CheckError::ReasonLength { len: r.len() });
        }
        match self.compliant {
            Some(true) if !self.reasons.is_empty() => {
                return Err(CheckError::CompliantWithReasons);
            }
            Some(false) | None if self.reasons.is_empty() => {
                return Err(CheckError::NoReason);
            }
            _ => {}
        }
        if let Some(c) = &self.canary {
            check_name("canary.name", &c.name)?;
            if c.sni.is_some() != self.sni.is_some() {
                return Err(CheckError::CanarySni);
            }
        }
        check_channel("dns", &self.dns)?;
        if let Some(sni) = &self.sni {
            check_channel("sni", sni)?;
        }
        Ok(())
    }
}

fn check_name(field: &str, name: &str) -> Result<(), CheckError> {
    if name.is_empty() || name.len() > 255 || name.chars().any(|c| c.is_control()) {
        return Err(CheckError::Name {
            field: field.to_owned(),
            name: name.to_owned(),
        });
    }
    Ok(())
}

fn check_channel(field: &'static str, c: &Channel) -> Result<(), CheckError> {
    let not_blocked = c
        .probed
        .checked_sub(c.blocked)
        .ok_or(CheckError::BlockedOverProbed {
            field,
            blocked: c.blocked,
            probed: c.probed,
        })?;
    if c.failed > not_blocked {
        return Err(CheckError::FailedOverNotBlocked {
            field,
            failed: c.failed,
            not_blocked,
        });
    }
    if c.not_blocked.len() > MAX_NAMES || c.not_blocked.len() as u64 != not_blocked {
        return Err(CheckError::NotBlockedCount {
            field,
            listed: c.not_blocked.len(),
            not_blocked,
        });
    }
    for n in &c.not_blocked {
        check_name(&format!("{field}.not_blocked"), n)?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid, not compliant result of `prober` about `isp`.
    pub(crate) fn sample(prober: &str, isp: &str, at: &str) -> ProbeResult {
        let probed_at: Timestamp = at.parse().unwrap();
        let resolver = "192.0.2.53:53".to_owned();
        ProbeResult {
            format: FORMAT.into(),
            probe_id: probe_id(prober, &resolver, probed_at),
            prober_id: prober.into(),
            isp_id: isp.into(),
            node_id: Some("hn-01".into()),
            resolver,
            probed_at,
            list_id: "vn-national".into(),
            list_serial: 2,
            serial_seen: Some(1),
            compliant: Some(false),
            reasons: vec!["the node reports list serial 1, older than 2".into()],
            canary: Some(Canary {
                name: "s2.canary.test".into(),
                dns: Outcome::NotBlocked,
                sni: None,
            }),
            dns: Channel {
                probed: 5,
                blocked: 4,
                failed: 0,
                not_blocked: vec!["s2.canary.test".into()],
            },
            sni: None,
        }
    }

    fn value(r: &ProbeResult) -> serde_json::Value {
        serde_json::from_slice(&r.to_bytes()).unwrap()
    }

    fn parse_value(v: &serde_json::Value) -> Result<ProbeResult, ParseError> {
        ProbeResult::parse(&serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn round_trips() {
        let r = sample("ministry-hn", "vnpt", "2026-11-29T18:00:00.123Z");
        assert_eq!(ProbeResult::parse(&r.to_bytes()).unwrap(), r);
        let mut none = r.clone();
        none.compliant = None;
        none.node_id = None;
        none.serial_seen = None;
        none.canary = None;
        assert_eq!(ProbeResult::parse(&none.to_bytes()).unwrap(), none);
        let v = value(&r);
        assert_eq!(v["format"], FORMAT);
        assert_eq!(v["canary"]["dns"], "not_blocked");
        assert!(v["sni"].is_null());
    }

    #[test]
    fn probe_ids_are_deterministic_and_distinct() {
        let t: Timestamp = "2026-11-29T18:00:00Z".parse().unwrap();
        let a = probe_id("p", "192.0.2.1:53", t);
        assert_eq!(a.len(), 32);
        assert_eq!(a, probe_id("p", "192.0.2.1:53", t));
        assert_ne!(a, probe_id("q", "192.0.2.1:53", t));
        assert_ne!(a, probe_id("p", "192.0.2.2:53", t));
        assert_ne!(
            a,
            probe_id(
                "p",
                "192.0.2.1:53",
                t + jiff::SignedDuration::from_millis(1)
            )
        );
        // Not the report id of the same strings.
        assert_ne!(a, crate::report::body::report_id("p", "192.0.2.1:53", t));
    }

    #[test]
    fn parsing_is_strict() {
        let r = sample("p", "isp", "2026-11-29T18:00:00Z");
        let good = value(&r);
        let schema = |v: serde_json::Value, want: &str| {
            let e = parse_value(&v).unwrap_err();
            assert!(
                matches!(e, ParseError::Schema(_) | ParseError::Check(_)),
                "{e}"
            );
            assert!(e.to_string().contains(want), "{want} in {e}");
        };
        let mut v = good.clone();
        v["extra"] = 1.into();
        schema(v, "unknown field `extra`");
        let mut v = good.clone();
        v["dns"]["extra"] = 1.into();
        schema(v, "unknown field `extra`");
        let mut v = good.clone();
        v["format"] = "ward-probe-result/2".into();
        schema(v, "this collector reads");
        let mut v = good.clone();
        v.as_object_mut().unwrap().remove("reasons");
        schema(v, "missing field `reasons`");
        let mut v = good.clone();
        v["probe_id"] = "00".repeat(16).into();
        schema(v, "does not match");
        let mut v = good.clone();
        v["isp_id"] = "isp a".into();
        schema(v, "isp_id");
        let mut v = good.clone();
        v["resolver"] = "example.com".into();
        schema(v, "is not IP:PORT");
        let mut v = good.clone();
        v["compliant"] = true.into();
        schema(v, "compliant is true but");
        let mut v = good.clone();
        v["reasons"] = serde_json::json!([]);
        schema(v, "without a reason");
        let mut v = good.clone();
        v["dns"]["blocked"] = 9.into();
        schema(v, "more than probed");
        let mut v = good.clone();
        v["dns"]["failed"] = 2.into();
        schema(v, "failed 2");
        let mut v = good.clone();
        v["dns"]["not_blocked"] = serde_json::json!([]);
        schema(v, "not_blocked lists 0");
        let mut v = good.clone();
        v["canary"]["dns"] = "maybe".into();
        schema(v, "unknown variant");
        let mut v = good.clone();
        v["dns"]["probed"] = (-1).into();
        schema(v, "invalid value");
        let e = ProbeResult::parse(b"{\"format\":").unwrap_err();
        assert!(matches!(e, ParseError::NotJson(_)), "{e}");
        assert!(parse_value(&good).is_ok());
    }
}
