//! `POST /v1/probes` and `GET /api/probes`: probe results from
//! `ward probe --report-to`, verified by [`crate::collector::probes`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use tracing::{debug, warn};

use super::App;
use crate::collector::probes::{DEFAULT_LIMIT, MAX_LIMIT, ProbeIngest, ProbeRejection, verify};
use crate::collector::store::{Inserted, ProbeQuery};
use crate::probe::result::{self, ParseError};
use crate::report::send::SIGNATURE_HEADER;

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// `POST /v1/probes`.
pub(super) async fn post_probe(
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
pub(super) struct ProbesParams {
    /// Only this ISP's probes.
    pub(super) isp: Option<String>,
    /// At most this many (default [`DEFAULT_LIMIT`], at most
    /// [`MAX_LIMIT`]).
    pub(super) limit: Option<u32>,
}

/// `GET /api/probes` (behind the login): the newest probe results, newest
/// first, as [`ProbeRow`] objects.
pub(super) async fn api_probes(
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
