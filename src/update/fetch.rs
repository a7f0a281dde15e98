//! Downloading the artifact from `list.url`: HTTPS only, conditional,
//! capped in size, bounded in time.
//!
//! * **No downgrade.** The client is `https_only`, and the redirect policy
//!   refuses any hop to a non-https URL (and more than
//!   [`MAX_REDIRECTS`] hops).
//! * **Conditional.** The validators of the list in force (`ETag`,
//!   `Last-Modified`) go out as `If-None-Match` / `If-Modified-Since`; a
//!   `304 Not Modified` costs one round trip and nothing else.
//! * **Capped.** A `Content-Length` over `list.max_size` is refused before
//!   the body is read, and the streamed body is counted and cut off at the
//!   cap, so a lying or endless server cannot fill the disk.
//! * **Bounded in time.** The whole exchange, connection to last byte, runs
//!   under `list.timeout`; connecting alone under [`CONNECT_TIMEOUT`] (or
//!   the whole timeout if shorter). A slow-loris endpoint costs one timeout,
//!   then back-off.
//! * **No decompression.** Bodies are taken as sent (no `Accept-Encoding`),
//!   so the size cap is the size on disk.
//!
//! The body goes to a temporary file in the state directory
//! ([`TempFile`], removed on drop unless it is committed), fsynced before
//! the caller verifies it. Proxies in `HTTPS_PROXY`/`NO_PROXY` are honoured.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{self, HeaderValue};
use reqwest::{StatusCode, Url, redirect};
use tokio::io::AsyncWriteExt;

use super::FetchResult;

/// Longest wait for the TCP and TLS connection (or `list.timeout`, if
/// shorter).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirect hops followed before giving up.
pub const MAX_REDIRECTS: usize = 5;
/// Prefix of the temporary download files in the state directory.
pub const TEMP_PREFIX: &str = ".incoming-";

/// The HTTP validators of a downloaded artifact.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A download in progress or finished: a file in the state directory that
/// is removed when this is dropped, unless [`TempFile::commit`] renamed it.
#[derive(Debug)]
pub struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    /// A fresh, unused name in `dir`.
    pub(crate) fn new_in(dir: &Path) -> std::io::Result<Self> {
        let mut rnd = [0u8; 6];
        getrandom::fill(&mut rnd).map_err(std::io::Error::other)?;
        let name = format!(
            "{TEMP_PREFIX}{}-{}.ward",
            std::process::id(),
            hex::encode(rnd)
        );
        Ok(Self {
            path: Some(dir.join(name)),
        })
    }

    pub fn path(&self) -> &Path {
        // Only `commit` takes the path, and it consumes self.
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Renames the file to `to` (atomically replacing it) and fsyncs the
    /// directory, so the rename survives a crash.
    pub fn commit(mut self, to: &Path) -> std::io::Result<()> {
        let from = self.path.take().unwrap_or_default();
        let result = std::fs::rename(&from, to)
            .and_then(|()| crate::fsx::sync_dir(to.parent().unwrap_or(Path::new("."))));
        if result.is_err() {
            let _ = std::fs::remove_file(&from);
        }
        result
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// What one poll of the endpoint gave.
#[derive(Debug)]
pub enum Fetched {
    /// 304: the list in force is current.
    NotModified,
    /// 200: the body is in `file`, fsynced.
    Downloaded {
        file: TempFile,
        len: u64,
        validators: Validators,
    },
}

/// Why a poll failed. The list in force stays.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the server answered HTTP {status}")]
    Status { status: u16 },
    #[error("no complete answer within list.timeout ({})", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("the artifact is larger than list.max_size ({limit} bytes){}", announced.map(|n| format!(": the server announced {n} bytes")).unwrap_or_else(|| ": download stopped at the cap".into()))]
    TooLarge { limit: u64, announced: Option<u64> },
    #[error("{0}")]
    Network(String),
    #[error("cannot store the download in {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
}

impl FetchError {
    /// The `ward_list_fetch_total` result this failure counts as.
    pub fn result(&self) -> FetchResult {
        match self {
            Self::Status { .. } => FetchResult::HttpError,
            Self::Timeout(_) => FetchResult::Timeout,
            Self::TooLarge { .. } => FetchResult::TooLarge,
            Self::Network(_) => FetchResult::Network,
            Self::Io { .. } => FetchResult::Io,
        }
    }
}

/// Why the HTTPS client for an endpoint cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot set up the HTTPS client: {}", crate::errors::chain(source))]
    Build {
        #[source]
        source: reqwest::Error,
    },
}

pub use crate::readers::{CaBundle, install_crypto, read_ca_file};

/// Downloads `list.url`.
pub struct Fetcher {
    client: reqwest::Client,
    url: Url,
    max_size: u64,
    timeout: Duration,
}

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("url", &self.url.as_str())
            .field("max_size", &self.max_size)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// A fetcher for `url`, trusting the system's CAs plus `ca_file`'s.
    pub fn new(
        url: Url,
        ca_file: Option<&CaBundle>,
        timeout: Duration,
        max_size: u64,
    ) -> Result<Self, ClientError> {
        install_crypto();
        let policy = redirect::Policy::custom(|attempt| {
            if attempt.url().scheme() != "https" {
                let msg = format!("redirect to {} refused: not https", attempt.url());
                attempt.error(msg)
            } else if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else {
                attempt.follow()
            }
        });
        let mut builder = reqwest::Client::builder()
            .https_only(true)
            .redirect(policy)
            .user_agent(concat!("ward/", env!("CARGO_PKG_VERSION")))
            // The whole exchange is bounded in `fetch` (body writes too).
            .connect_timeout(timeout.min(CONNECT_TIMEOUT));
        if let Some(ca) = ca_file {
            builder = builder.tls_certs_merge(ca.certs().iter().cloned());
        }
        let client = builder
            .build()
            .map_err(|source| ClientError::Build { source })?;
        Ok(Self {
            client,
            url,
            max_size,
            timeout,
        })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// One conditional GET into a temporary file in `dir`.
    pub async fn fetch(&self, dir: &Path, since: &Validators) -> Result<Fetched, FetchError> {
        match tokio::time::timeout(self.timeout, self.fetch_inner(dir, since)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout(self.timeout)),
        }
    }

    async fn fetch_inner(&self, dir: &Path, since: &Validators) -> Result<Fetched, FetchError> {
        let mut request = self
            .client
            .get(self.url.clone())
            .header(header::ACCEPT, "application/octet-stream");
        if let Some(etag) = since.etag.as_deref().and_then(header_value) {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(date) = since.last_modified.as_deref().and_then(header_value) {
            request = request.header(header::IF_MODIFIED_SINCE, date);
        }
        let mut response = request.send().await.map_err(|e| self.request_error(&e))?;
        match response.status() {
            StatusCode::NOT_MODIFIED => return Ok(Fetched::NotModified),
            StatusCode::OK => {}
            status => {
                return Err(FetchError::Status {
                    status: status.as_u16(),
                });
            }
        }
        if let Some(announced) = response.content_length()
            && announced > self.max_size
        {
            return Err(FetchError::TooLarge {
                limit: self.max_size,
                announced: Some(announced),
            });
        }
        let text = |h: header::HeaderName| {
            response
                .headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let validators = Validators {
            etag: text(header::ETAG),
            last_modified: text(header::LAST_MODIFIED),
        };

        let io = |source| FetchError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        let temp = TempFile::new_in(dir).map_err(io)?;
        let mut out = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(temp.path())
            .await
            .map_err(io)?;
        let mut len: u64 = 0;
        while let Some(chunk) = response.chunk().await.map_err(|e| self.request_error(&e))? {
            len += chunk.len() as u64;
            if len > self.max_size {
                return Err(FetchError::TooLarge {
                    limit: self.max_size,
                    announced: None,
                });
            }
            out.write_all(&chunk).await.map_err(io)?;
        }
        out.flush().await.map_err(io)?;
        out.sync_all().await.map_err(io)?;
        Ok(Fetched::Downloaded {
            file: temp,
            len,
            validators,
        })
    }

    fn request_error(&self, e: &reqwest::Error) -> FetchError {
        if e.is_timeout() {
            FetchError::Timeout(self.timeout)
        } else if let Some(status) = e.status() {
            FetchError::Status {
                status: status.as_u16(),
            }
        } else {
            FetchError::Network(crate::errors::chain(e))
        }
    }
}

fn header_value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(text).ok()
}
