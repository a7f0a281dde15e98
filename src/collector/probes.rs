//! Probe results (`ward probe --report-to`): verifying `POST /v1/probes`
//! bodies (pure). The HTTP handlers are in `server::probes`, the HTML in
//! `dashboard::probes`.
//!
//! Ingest follows the reports' order (`collector::ingest`): the body cap,
//! then the `Ward-Signature` key id must be a registered `[[prober]]`'s
//! and the signature must verify under
//! [`crate::report::send::PROBE_SIGNATURE_CONTEXT`] **before** the body is
//! parsed; then the body must be a valid `ward-probe-result/1`
//! ([`crate::probe::result`]) whose `prober_id` is the key's. A refusal is
//! a 4xx with the reason, counted in `ward_collector_probes_total{result}`
//! and never stored. Accepted results are inserted directly (one
//! `spawn_blocking` each: probes are rare, no group commit needed) and
//! answered 200 only after the commit; a repeated `probe_id` is answered
//! 200 and stored once.

use axum::http::StatusCode;
use jiff::Timestamp;

use super::signed::{Authentic, Unauthentic, authenticate};
use super::store::AcceptedProbe;
use crate::config::registry::Registry;
use crate::probe::result::{ParseError, ProbeResult};
use crate::report::send::{PROBE_SIGNATURE_CONTEXT, SignatureError};

/// The path probers POST to.
pub const PROBES_PATH: &str = "/v1/probes";
/// `GET /api/probes` returns at most this many unless `?limit=` says
/// fewer.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest `?limit=`.
pub const MAX_LIMIT: u32 = 1000;

/// Why a probe result is refused; each has a status and a metric label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeRejection {
    #[error("no Ward-Signature header: probe results must be signed with the prober's key")]
    Unsigned,
    #[error("{0}")]
    MalformedSignature(SignatureError),
    #[error(
        "key {key_id} is not registered as a prober with this collector: register the prober's .pub as a [[prober]]"
    )]
    UnknownKey { key_id: String },
    #[error("the signature by key {key_id} does not match the body (as a probe result)")]
    BadSignature { key_id: String },
    #[error("request body over the {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("{0}")]
    Invalid(ParseError),
    #[error("key {key_id} is registered for prober {registered}, but the result claims {claimed}")]
    WrongProber {
        key_id: String,
        registered: String,
        claimed: String,
    },
}

impl ProbeRejection {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unsigned
            | Self::UnknownKey { .. }
            | Self::BadSignature { .. }
            | Self::WrongProber { .. } => StatusCode::FORBIDDEN,
            Self::MalformedSignature(_) | Self::Invalid(ParseError::NotJson(_)) => {
                StatusCode::BAD_REQUEST
            }
            Self::Invalid(ParseError::Schema(_) | ParseError::Check(_)) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    pub fn result(&self) -> ProbeIngest {
        match self {
            Self::Unsigned | Self::MalformedSignature(_) => ProbeIngest::Unsigned,
            Self::UnknownKey { .. } => ProbeIngest::UnknownKey,
            Self::BadSignature { .. } => ProbeIngest::BadSignature,
            Self::TooLarge { .. } => ProbeIngest::TooLarge,
            Self::Invalid(_) => ProbeIngest::Invalid,
            Self::WrongProber { .. } => ProbeIngest::WrongProber,
        }
    }
}

/// Every outcome of one probe POST, for
/// `ward_collector_probes_total{result}` (a fixed set: bounded labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeIngest {
    Stored,
    Duplicate,
    Unsigned,
    UnknownKey,
    BadSignature,
    TooLarge,
    Invalid,
    WrongProber,
    StorageError,
}

impl ProbeIngest {
    pub const ALL: [Self; 9] = [
        Self::Stored,
        Self::Duplicate,
        Self::Unsigned,
        Self::UnknownKey,
        Self::BadSignature,
        Self::TooLarge,
        Self::Invalid,
        Self::WrongProber,
        Self::StorageError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::Duplicate => "duplicate",
            Self::Unsigned => "unsigned",
            Self::UnknownKey => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::TooLarge => "too_large",
            Self::Invalid => "invalid",
            Self::WrongProber => "wrong_prober",
            Self::StorageError => "storage_error",
        }
    }
}

/// Verifies and parses one POSTed probe result (pure).
pub fn verify(
    signature: Option<&str>,
    body: &[u8],
    registry: &Registry,
    received_at: Timestamp,
) -> Result<AcceptedProbe, ProbeRejection> {
    let Authentic {
        signer: prober,
        key_id,
        header,
    } = authenticate(signature, body, PROBE_SIGNATURE_CONTEXT, |id| {
        registry.prober_by_key(id).map(|p| (p, &p.key))
    })
    .map_err(|e| match e {
        Unauthentic::Unsigned => ProbeRejection::Unsigned,
        Unauthentic::Malformed(e) => ProbeRejection::MalformedSignature(e),
        Unauthentic::UnknownKey { key_id } => ProbeRejection::UnknownKey { key_id },
        Unauthentic::BadSignature { key_id } => ProbeRejection::BadSignature { key_id },
    })?;
    let parsed = ProbeResult::parse(body).map_err(ProbeRejection::Invalid)?;
    if parsed.prober_id != prober.prober_id {
        return Err(ProbeRejection::WrongProber {
            key_id: key_id.to_string(),
            registered: prober.prober_id.clone(),
            claimed: parsed.prober_id,
        });
    }
    Ok(AcceptedProbe {
        result: parsed,
        body: body.to_vec(),
        signature: header,
        key_id,
        received_at,
    })
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::config::registry::{RegisteredNode, RegisteredProber};
    use crate::probe::result::tests::sample;
    use crate::report::send;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn registry() -> Registry {
        let mut r = Registry::from_nodes(vec![RegisteredNode {
            isp_id: "isp".into(),
            node_id: "n1".into(),
            key: key(1).verifying_key(),
        }]);
        r.set_probers(vec![RegisteredProber {
            prober_id: "p1".into(),
            key: key(9).verifying_key(),
        }]);
        r
    }

    fn now() -> Timestamp {
        "2026-11-29T18:10:00Z".parse().unwrap()
    }

    #[test]
    fn a_signed_result_is_accepted_and_everything_else_refused() {
        let r = registry();
        let body = sample("p1", "isp", "2026-11-29T18:00:00Z").to_bytes();
        let sig = send::sign_in(PROBE_SIGNATURE_CONTEXT, &key(9), &body);
        let a = verify(Some(&sig), &body, &r, now()).unwrap();
        assert_eq!(a.result.prober_id, "p1");
        assert_eq!(a.body, body);

        let refused = |sig: Option<&str>, body: &[u8]| verify(sig, body, &r, now()).unwrap_err();
        assert_eq!(refused(None, &body), ProbeRejection::Unsigned);
        assert!(matches!(
            refused(Some("ed25519 nonsense"), &body),
            ProbeRejection::MalformedSignature(_)
        ));
        // The node's key signs a report, not a probe: unknown as a prober.
        let node_sig = send::sign_in(PROBE_SIGNATURE_CONTEXT, &key(1), &body);
        let e = refused(Some(&node_sig), &body);
        assert!(matches!(e, ProbeRejection::UnknownKey { .. }), "{e}");
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        // The prober's key under the report context: a replayed report
        // signature never passes as a probe signature.
        let report_sig = send::sign(&key(9), &body);
        let e = refused(Some(&report_sig), &body);
        assert!(matches!(e, ProbeRejection::BadSignature { .. }), "{e}");
        // Tampered.
        let mut tampered = body.clone();
        let at = tampered.iter().position(|b| *b == b'4').unwrap();
        tampered[at] = b'5';
        assert!(matches!(
            refused(Some(&sig), &tampered),
            ProbeRejection::BadSignature { .. }
        ));
        // Signed, but another prober's id in the body.
        let other = sample("p2", "isp", "2026-11-29T18:00:00Z").to_bytes();
        let e = refused(
            Some(&send::sign_in(PROBE_SIGNATURE_CONTEXT, &key(9), &other)),
            &other,
        );
        assert!(matches!(e, ProbeRejection::WrongProber { .. }), "{e}");
        // Signed junk and a signed bad shape.
        let junk = b"{\"format\"".to_vec();
        let e = refused(
            Some(&send::sign_in(PROBE_SIGNATURE_CONTEXT, &key(9), &junk)),
            &junk,
        );
        assert_eq!(
            (e.status(), e.result()),
            (StatusCode::BAD_REQUEST, ProbeIngest::Invalid)
        );
        let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["surprise"] = 1.into();
        let odd = serde_json::to_vec(&v).unwrap();
        let e = refused(
            Some(&send::sign_in(PROBE_SIGNATURE_CONTEXT, &key(9), &odd)),
            &odd,
        );
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    }

    #[test]
    fn a_probe_signature_never_passes_as_a_report_one() {
        // The same key registered as a node would refuse a probe-context
        // signature on a report body.
        let body = b"{}";
        let sig = send::sign_in(PROBE_SIGNATURE_CONTEXT, &key(1), body);
        let r = registry();
        let e = super::super::ingest::verify(Some(&sig), body, &r, now()).unwrap_err();
        assert!(
            matches!(e, super::super::ingest::Rejection::BadSignature { .. }),
            "{e}"
        );
    }
}
