//! Delivering one report: sign the body, POST it over HTTPS, classify the
//! answer. The retry schedule is [`Backoff`].
//!
//! The signature is Ed25519 over a domain-separated message,
//! `"ward-report-signature-v1\0" ‖ body`, sent as
//!
//! ```text
//! Ward-Signature: ed25519 keyid=<16 hex>; sig=<128 hex>
//! ```
//!
//! [`verify_signature`] is the collector's side (and the tests').
//!
//! Probe results (`ward probe --report-to`) are signed the same way under
//! their own context, [`PROBE_SIGNATURE_CONTEXT`]: [`sign_in`] and
//! [`verify_signature_in`] take the context, so a report signature never
//! verifies as a probe signature, nor the other way round.

use std::time::Duration;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use reqwest::header::{self, HeaderValue};
use reqwest::{StatusCode, Url, redirect};

use crate::keys::KeyId;
use crate::metrics::SendResult;
use crate::readers::CaBundle;

/// Domain separation for report signatures.
pub const SIGNATURE_CONTEXT: &[u8] = b"ward-report-signature-v1\0";
/// Domain separation for probe-result signatures (`ward-probe-result/1`).
pub const PROBE_SIGNATURE_CONTEXT: &[u8] = b"ward-probe-signature-v1\0";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "Ward-Signature";
/// The report id header (also in the body), for collectors that dedup
/// before parsing.
pub const REPORT_ID_HEADER: &str = "Ward-Report-Id";
/// Longest wait for the TCP and TLS connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest whole exchange.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// First retry delay.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest retry delay from the back-off alone (also capped at twice the
/// report interval).
pub const BACKOFF_MAX: Duration = Duration::from_secs(600);
/// Longest `Retry-After` honoured.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);

/// The message an Ed25519 signature under `context` covers.
fn signed_message(context: &[u8], body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(context.len() + body.len());
    msg.extend_from_slice(context);
    msg.extend_from_slice(body);
    msg
}

/// The `Ward-Signature` header value for a report `body`.
pub fn sign(key: &SigningKey, body: &[u8]) -> String {
    sign_in(SIGNATURE_CONTEXT, key, body)
}

/// The `Ward-Signature` header value for `body` under `context`
/// ([`SIGNATURE_CONTEXT`] or [`PROBE_SIGNATURE_CONTEXT`]).
pub fn sign_in(context: &[u8], key: &SigningKey, body: &[u8]) -> String {
    let sig = key.sign(&signed_message(context, body));
    format!(
        "ed25519 keyid={}; sig={}",
        KeyId::of(&key.verifying_key()),
        hex::encode(sig.to_bytes())
    )
}

/// Why a report signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("malformed Ward-Signature header: expected `ed25519 keyid=<16 hex>; sig=<128 hex>`")]
    Malformed,
    #[error("signed by key {key_id}, which is not registered for this node")]
    UnknownKey { key_id: String },
    #[error("the signature by key {key_id} does not match the body")]
    BadSignature { key_id: String },
}

/// Parses a `Ward-Signature` header into the key id and the signature.
fn parse_signature_header(header: &str) -> Result<(KeyId, Signature), SignatureError> {
    let rest = header
        .strip_prefix("ed25519 ")
        .ok_or(SignatureError::Malformed)?;
    let (mut key_id, mut sig) = (None, None);
    for part in rest.split(';').map(str::trim) {
        match part.split_once('=') {
            Some(("keyid", v)) => key_id = KeyId::parse(v),
            Some(("sig", v)) => {
                let mut bytes = [0u8; 64];
                sig = hex::decode_to_slice(v, &mut bytes)
                    .ok()
                    .map(|()| Signature::from_bytes(&bytes));
            }
            _ => return Err(SignatureError::Malformed),
        }
    }
    match (key_id, sig) {
        (Some(key_id), Some(sig)) => Ok((key_id, sig)),
        _ => Err(SignatureError::Malformed),
    }
}

/// The key id a `Ward-Signature` header names, so a collector can find
/// the node before it verifies (nothing is verified here).
pub fn signer_key_id(header: &str) -> Result<KeyId, SignatureError> {
    parse_signature_header(header).map(|(key_id, _)| key_id)
}

/// Checks a report's `Ward-Signature` header against `body` and the
/// node's registered keys; returns the key id that signed.
pub fn verify_signature(
    header: &str,
    body: &[u8],
    keys: &[VerifyingKey],
) -> Result<KeyId, SignatureError> {
    verify_signature_in(SIGNATURE_CONTEXT, header, body, keys)
}

/// [`verify_signature`] under `context`.
pub fn verify_signature_in(
    context: &[u8],
    header: &str,
    body: &[u8],
    keys: &[VerifyingKey],
) -> Result<KeyId, SignatureError> {
    let (key_id, sig) = parse_signature_header(header)?;
    let key = keys
        .iter()
        .find(|k| KeyId::of(k) == key_id)
        .ok_or_else(|| SignatureError::UnknownKey {
            key_id: key_id.to_string(),
        })?;
    key.verify_strict(&signed_message(context, body), &sig)
        .map_err(|_| SignatureError::BadSignature {
            key_id: key_id.to_string(),
        })?;
    Ok(key_id)
}

/// The outcome of one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub result: SendResult,
    /// The HTTP status, if one came back.
    pub status: Option<u16>,
    /// A `Retry-After` the collector asked for (429 and 5xx).
    pub retry_after: Option<Duration>,
    /// What went wrong, for the logs.
    pub detail: String,
}

/// Why a [`Sender`] cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot set up the HTTPS client: {source}")]
    Build {
        #[source]
        source: reqwest::Error,
    },
}

/// POSTs reports to the collector.
#[derive(Debug)]
pub struct Sender {
    client: reqwest::Client,
    url: Url,
    key: SigningKey,
}

impl Sender {
    /// A sender for `url`, trusting the system's CAs plus `ca_file`'s.
    /// HTTPS only; redirects are not followed (a collector that moves
    /// must be reconfigured, not followed blindly with signed reports).
    pub fn new(url: Url, ca_file: Option<&CaBundle>, key: SigningKey) -> Result<Self, ClientError> {
        crate::update::fetch::install_crypto();
        let mut builder = reqwest::Client::builder()
            .https_only(true)
            .redirect(redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(SEND_TIMEOUT)
            .user_agent(concat!("ward/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = ca_file {
            for cert in ca.certs() {
                builder = builder.add_root_certificate(cert.clone());
            }
        }
        let client = builder
            .build()
            .map_err(|source| ClientError::Build { source })?;
        Ok(Self { client, url, key })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Signs and POSTs one report body.
    pub async fn send(&self, report_id: &str, body: Vec<u8>) -> Sent {
        let signature = sign(&self.key, &body);
        self.post_signed(Some((REPORT_ID_HEADER, report_id)), &signature, body)
            .await
    }

    /// POSTs a body already signed (`signature` is its `Ward-Signature`
    /// value, under whatever context), with an optional id header.
    pub async fn post_signed(
        &self,
        id_header: Option<(&'static str, &str)>,
        signature: &str,
        body: Vec<u8>,
    ) -> Sent {
        let mut request = self
            .client
            .post(self.url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body);
        if let Some((name, value)) = id_header
            && let Ok(id) = HeaderValue::from_str(value)
        {
            request = request.header(name, id);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let result = if e.is_timeout() {
                    SendResult::Timeout
                } else {
                    SendResult::Network
                };
                return Sent {
                    result,
                    status: None,
                    retry_after: None,
                    detail: error_chain(&e),
                };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()));
        // The collector's explanation, bounded, for the log line.
        let text = match tokio::time::timeout(Duration::from_secs(5), response.bytes()).await {
            Ok(Ok(b)) => String::from_utf8_lossy(&b[..b.len().min(512)]).into_owned(),
            _ => String::new(),
        };
        let result = classify(status);
        Sent {
            result,
            status: Some(status.as_u16()),
            retry_after: result.is_retried().then_some(retry_after).flatten(),
            detail: format!("HTTP {status}: {}", text.trim()),
        }
    }
}

/// The delivery result of an HTTP status.
pub fn classify(status: StatusCode) -> SendResult {
    if status.is_success() {
        SendResult::Ok
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        SendResult::Throttled
    } else if status == StatusCode::REQUEST_TIMEOUT {
        SendResult::Timeout
    } else if status.is_server_error() {
        SendResult::ServerError
    } else if status.is_client_error() {
        // The collector read the report and refused it: a retry would get
        // the same answer.
        SendResult::Rejected
    } else {
        // 1xx/3xx: not the collector's answer about this report but a
        // misconfigured `report.url` (redirects are not followed on
        // purpose). The report is fine; keep it and retry until the URL
        // is fixed.
        SendResult::Unexpected
    }
}

/// `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3),
/// capped at [`RETRY_AFTER_MAX`]. A date in the past is no wait.
pub fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = jiff::fmt::rfc2822::DateTimeParser::new()
            .parse_timestamp(value)
            .ok()?;
        let secs = (at - now).as_secs_f64();
        Duration::from_secs_f64(secs.max(0.0))
    };
    Some(wait.min(RETRY_AFTER_MAX))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Exponential back-off with ±20 % jitter: 1 s, 2 s, 4 s, … up to
/// `min(2 × interval, BACKOFF_MAX)`.
#[derive(Debug, Clone)]
pub struct Backoff {
    failures: u32,
    cap: Duration,
}

impl Backoff {
    pub fn new(interval: Duration) -> Self {
        Self {
            failures: 0,
            cap: (interval * 2).clamp(BACKOFF_BASE, BACKOFF_MAX),
        }
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The un-jittered delay before the next attempt, after one more
    /// failure.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.failures.min(20);
        self.failures = self.failures.saturating_add(1);
        (BACKOFF_BASE * 2u32.pow(exp)).min(self.cap)
    }

    /// The wait after a failure: the jittered back-off, or the collector's
    /// `Retry-After` if that is longer.
    pub fn wait(&mut self, retry_after: Option<Duration>) -> Duration {
        let backoff = jitter(self.next_delay());
        retry_after.map_or(backoff, |r| r.max(backoff))
    }
}

/// `d` scaled by a random factor in [0.8, 1.2].
fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 2];
    let r = if getrandom::fill(&mut b).is_ok() {
        f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX)
    } else {
        0.5
    };
    d.mul_f64(0.8 + 0.4 * r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_bind_the_body() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let body = br#"{"a":1}"#;
        let h = sign(&key, body);
        assert!(h.starts_with("ed25519 keyid="), "{h}");
        let keys = [key.verifying_key()];
        assert_eq!(
            verify_signature(&h, body, &keys),
            Ok(KeyId::of(&key.verifying_key()))
        );
        assert!(matches!(
            verify_signature(&h, br#"{"a":2}"#, &keys),
            Err(SignatureError::BadSignature { .. })
        ));
        assert!(matches!(
            verify_signature(&h, body, &[other.verifying_key()]),
            Err(SignatureError::UnknownKey { .. })
        ));
        for bad in [
            "",
            "rsa keyid=00",
            "ed25519 keyid=zz; sig=00",
            "ed25519 sig=00",
        ] {
            assert_eq!(
                verify_signature(bad, body, &keys),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        // A list signature context cannot be replayed as a report one.
        let list_sig = key.sign(body);
        let forged = format!(
            "ed25519 keyid={}; sig={}",
            KeyId::of(&key.verifying_key()),
            hex::encode(list_sig.to_bytes())
        );
        assert!(verify_signature(&forged, body, &keys).is_err());
    }

    #[test]
    fn report_and_probe_signatures_do_not_cross() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let keys = [key.verifying_key()];
        let body = br#"{"a":1}"#;
        let report = sign(&key, body);
        let probe = sign_in(PROBE_SIGNATURE_CONTEXT, &key, body);
        assert_ne!(report, probe);
        assert!(verify_signature_in(PROBE_SIGNATURE_CONTEXT, &probe, body, &keys).is_ok());
        assert!(verify_signature(&report, body, &keys).is_ok());
        // A report signature replayed as a probe one, and vice versa.
        assert!(matches!(
            verify_signature_in(PROBE_SIGNATURE_CONTEXT, &report, body, &keys),
            Err(SignatureError::BadSignature { .. })
        ));
        assert!(matches!(
            verify_signature(&probe, body, &keys),
            Err(SignatureError::BadSignature { .. })
        ));
        assert_eq!(
            sign_in(SIGNATURE_CONTEXT, &key, body),
            report,
            "sign is sign_in with the report context"
        );
    }

    #[test]
    fn statuses_classify() {
        for (code, want) in [
            (200, SendResult::Ok),
            (202, SendResult::Ok),
            (204, SendResult::Ok),
            (400, SendResult::Rejected),
            (401, SendResult::Rejected),
            (409, SendResult::Rejected),
            (429, SendResult::Throttled),
            (500, SendResult::ServerError),
            (503, SendResult::ServerError),
            (408, SendResult::Timeout),
            (301, SendResult::Unexpected),
            (302, SendResult::Unexpected),
            (307, SendResult::Unexpected),
            (308, SendResult::Unexpected),
            (103, SendResult::Unexpected),
        ] {
            assert_eq!(
                classify(StatusCode::from_u16(code).unwrap()),
                want,
                "{code}"
            );
        }
    }

    #[test]
    fn retry_after_forms() {
        let now: jiff::Timestamp = "2026-11-29T18:00:00Z".parse().unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 29 Nov 2026 18:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 29 Nov 2026 17:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("999999", now), Some(RETRY_AFTER_MAX));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn backoff_doubles_to_its_cap() {
        let mut b = Backoff::new(Duration::from_secs(300));
        let delays: Vec<u64> = (0..12).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        b.reset();
        assert_eq!(b.next_delay(), BACKOFF_BASE);
        let mut short = Backoff::new(Duration::from_secs(1));
        let delays: Vec<u64> = (0..4).map(|_| short.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 2, 2]);
        let mut b = Backoff::new(Duration::from_secs(300));
        let w = b.wait(Some(Duration::from_secs(90)));
        assert_eq!(w, Duration::from_secs(90));
        for _ in 0..100 {
            let w = Backoff::new(Duration::from_secs(300)).wait(None);
            assert!(w >= Duration::from_millis(800) && w <= Duration::from_millis(1200));
        }
    }
}
