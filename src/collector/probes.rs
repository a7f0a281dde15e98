//! Probe results (`ward probe --report-to`): `POST /v1/probes` and
//! `GET /api/probes`.
//!
//! Ingest follows the reports' order ([`super::ingest`]): the body cap,
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

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use tracing::{debug, warn};

use super::server::App;
use super::store::{AcceptedProbe, Inserted, ProbeQuery, ProbeRow};
use crate::config::registry::Registry;
use crate::probe::result::{self, ParseError, ProbeResult};
use crate::report::send::{self, PROBE_SIGNATURE_CONTEXT, SIGNATURE_HEADER, SignatureError};

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
            Self::Invalid(ParseError::Schema(_)) => StatusCode::UNPROCESSABLE_ENTITY,
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
    let header = signature.ok_or(ProbeRejection::Unsigned)?;
    let key_id = send::signer_key_id(header).map_err(ProbeRejection::MalformedSignature)?;
    let prober = registry
        .prober_by_key(&key_id)
        .ok_or_else(|| ProbeRejection::UnknownKey {
            key_id: key_id.to_string(),
        })?;
    send::verify_signature_in(
        PROBE_SIGNATURE_CONTEXT,
        header,
        body,
        std::slice::from_ref(&prober.key),
    )
    .map_err(|e| match e {
        SignatureError::Malformed => ProbeRejection::MalformedSignature(e),
        SignatureError::UnknownKey { key_id } => ProbeRejection::UnknownKey { key_id },
        SignatureError::BadSignature { key_id } => ProbeRejection::BadSignature { key_id },
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
        signature: header.to_owned(),
        key_id,
        received_at,
    })
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// `POST /v1/probes`.
pub async fn post_probe(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (result, response) = ingest_probe(&app, &headers, body).await;
    app.metrics.count_probe(result);
    response
}

async fn ingest_probe(
    app: &Arc<App>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> (ProbeIngest, Response) {
    let refuse = |rejection: ProbeRejection| {
        warn!(result = rejection.result().as_str(), reason = %rejection, "probe result refused");
        (
            rejection.result(),
            text(rejection.status(), format!("{rejection}\n")),
        )
    };
    let body = match body {
        Ok(body) => body,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(ProbeRejection::TooLarge {
                limit: u64::try_from(app.max_body).unwrap_or(u64::MAX),
            });
        }
        Err(e) => {
            return refuse(ProbeRejection::Invalid(ParseError::NotJson(format!(
                "cannot read the body: {e}"
            ))));
        }
    };
    let signature = headers
        .get(SIGNATURE_HEADER)
        .map(|v| v.to_str().unwrap_or(""));
    let accepted = match verify(signature, &body, &app.registry.load(), Timestamp::now()) {
        Ok(a) => a,
        Err(rejection) => return refuse(rejection),
    };
    let (prober, isp, id) = (
        accepted.result.prober_id.clone(),
        accepted.result.isp_id.clone(),
        accepted.result.probe_id.clone(),
    );
    let store = Arc::clone(&app.store);
    let stored = tokio::task::spawn_blocking(move || store.insert_probe(&accepted)).await;
    match stored {
        Ok(Ok(Inserted::Stored { .. })) => {
            debug!(%prober, %isp, probe_id = %id, "probe result stored");
            (ProbeIngest::Stored, text(StatusCode::OK, "stored\n".into()))
        }
        Ok(Ok(Inserted::Duplicate)) => {
            debug!(%prober, %isp, probe_id = %id, "duplicate probe result acknowledged");
            (
                ProbeIngest::Duplicate,
                text(StatusCode::OK, "duplicate: already stored\n".into()),
            )
        }
        Ok(Err(error)) => {
            warn!(%error, %prober, %isp, probe_id = %id, "probe result not stored; the prober keeps it");
            storage_unavailable()
        }
        Err(error) => {
            warn!(%error, %prober, %isp, probe_id = %id, "probe result not stored; the prober keeps it");
            storage_unavailable()
        }
    }
}

fn storage_unavailable() -> (ProbeIngest, Response) {
    (
        ProbeIngest::StorageError,
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage unavailable; retry later\n".into(),
        ),
    )
}

/// `GET /api/probes` parameters.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbesParams {
    /// Only this ISP's probes.
    pub isp: Option<String>,
    /// At most this many (default [`DEFAULT_LIMIT`], at most
    /// [`MAX_LIMIT`]).
    pub limit: Option<u32>,
}

/// `GET /api/probes` (behind the login): the newest probe results, newest
/// first, as [`ProbeRow`] objects.
pub async fn api_probes(
    State(app): State<Arc<App>>,
    params: Result<Query<ProbesParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(params)) = params else {
        return text(
            StatusCode::BAD_REQUEST,
            "query: isp=ISP_ID and limit=N (1 to 1000) only\n".into(),
        );
    };
    if let Some(isp) = &params.isp
        && !result::is_identifier(isp)
    {
        return text(
            StatusCode::BAD_REQUEST,
            format!("isp={isp:?} is not an ISP id\n"),
        );
    }
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return text(
            StatusCode::BAD_REQUEST,
            format!("limit={limit}: 1 to {MAX_LIMIT}\n"),
        );
    }
    let query = ProbeQuery {
        isp_id: params.isp,
        limit,
    };
    let store = Arc::clone(&app.store);
    let rows = match tokio::task::spawn_blocking(move || store.probes(&query)).await {
        Ok(Ok(rows)) => rows,
        Ok(Err(error)) => {
            warn!(%error, "cannot read probes");
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage unavailable\n".into(),
            );
        }
        Err(error) => {
            warn!(%error, "cannot read probes");
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage unavailable\n".into(),
            );
        }
    };
    match serde_json::to_string_pretty(&rows) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json + "\n").into_response(),
        Err(error) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")),
    }
}

/// A probe row's table cells, HTML-escaped, for the dashboard: probed at,
/// ISP, node, resolver, prober, list serial, serial seen, verdict, DNS
/// blocked/probed (failed), reasons. The verdict cell has class
/// `compliant`, `not-compliant` or `no-verdict`.
/// A table of probe results (newest first as given), for the dashboard:
/// bilingual header, one row per probe ([`row_cells`]).
pub fn table(rows: &[ProbeRow]) -> String {
    let mut out = String::from(
        "<div class=\"scroll\"><table class=\"probes\">\n<tr><th>Thời điểm / Probed at</th><th>Nhà mạng / ISP</th><th>Nút / Node</th><th>Máy chủ DNS / Resolver</th><th>Bên thăm dò / Prober</th><th>Số hiệu / Serial</th><th>Nút báo / Node says</th><th>Kết luận / Verdict</th><th>DNS chặn / DNS blocked</th><th>Lý do / Reasons</th></tr>\n",
    );
    for p in rows {
        out.push_str("<tr>");
        out.push_str(&row_cells(p));
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n");
    out
}

pub fn row_cells(p: &ProbeRow) -> String {
    use crate::blockpage::template::escape;
    let cell = |s: &str| format!("<td>{}</td>", escape(s));
    let (class, verdict) = match p.compliant {
        Some(true) => ("compliant", "tuân thủ / compliant"),
        Some(false) => ("not-compliant", "không tuân thủ / not compliant"),
        None => ("no-verdict", "không kết luận / no verdict"),
    };
    let mut out = String::new();
    out.push_str(&cell(
        &p.probed_at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
    ));
    out.push_str(&cell(&p.isp_id));
    out.push_str(&cell(p.node_id.as_deref().unwrap_or("–")));
    out.push_str(&cell(&p.resolver));
    out.push_str(&cell(&p.prober_id));
    out.push_str(&format!("<td class=\"n\">{}</td>", p.list_serial));
    out.push_str(&format!(
        "<td class=\"n\">{}</td>",
        p.serial_seen
            .map_or_else(|| "–".to_owned(), |s| s.to_string())
    ));
    out.push_str(&format!("<td class=\"{class}\">{}</td>", escape(verdict)));
    out.push_str(&format!(
        "<td class=\"n\">{}/{} ({} failed)</td>",
        p.dns.blocked, p.dns.probed, p.dns.failed
    ));
    out.push_str(&cell(&p.reasons.join("; ")));
    out
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::config::registry::{RegisteredNode, RegisteredProber};
    use crate::probe::result::tests::sample;

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

    #[test]
    fn cells_are_escaped() {
        let r = sample("p1", "isp", "2026-11-29T18:00:00Z");
        let row = ProbeRow {
            probe_id: r.probe_id.clone(),
            prober_id: "p1".into(),
            isp_id: "isp".into(),
            node_id: None,
            resolver: r.resolver.clone(),
            probed_at: r.probed_at,
            received_at: r.probed_at,
            list_id: "l".into(),
            list_serial: 2,
            serial_seen: None,
            compliant: Some(false),
            reasons: vec!["<script>x</script> & more".into()],
            dns: super::super::store::ProbeCounts {
                probed: 5,
                blocked: 4,
                failed: 1,
            },
            sni: None,
        };
        let html = row_cells(&row);
        assert!(
            html.contains("<td>&lt;script&gt;x&lt;/script&gt; &amp; more</td>"),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("<td>2026-11-29 18:00:00 UTC</td>"), "{html}");
        assert!(html.contains("class=\"not-compliant\""), "{html}");
        assert!(html.contains("4/5 (1 failed)"), "{html}");
    }
}
