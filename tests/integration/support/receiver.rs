//! The ministry's side, for tests: an in-process HTTPS collector (hyper
//! over tokio-rustls, the test CA of [`super::https::make_tls`]) that
//! records every report POSTed to it. It can be stopped (connections
//! refused) and started again on the same port, answer a fixed status, or
//! hold requests open without answering.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// How the collector answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// 200.
    Accept,
    /// This status, e.g. 400 or 503.
    Status(u16),
    /// Read the request, record it, never answer.
    Hold,
    /// 429 with `Retry-After: <seconds>`.
    Throttle(u64),
}

/// One POST the collector read in full.
#[derive(Clone, Debug)]
pub struct Received {
    pub report_id_header: Option<String>,
    pub signature: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The status answered; 0 when held.
    pub status: u16,
    /// When the body was read.
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("report bodies are JSON")
    }

    pub fn report_id(&self) -> String {
        self.json()["report_id"]
            .as_str()
            .expect("report_id is a string")
            .to_owned()
    }
}

#[derive(Debug)]
struct State {
    answer: Answer,
    received: Vec<Received>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running (or stopped) collector.
pub struct Receiver {
    /// `https://localhost:PORT/v1/reports`.
    pub url: String,
    pub ca_file: PathBuf,
    addr: SocketAddr,
    tls: TlsAcceptor,
    state: Arc<Mutex<State>>,
    running: Option<CancellationToken>,
}

impl Receiver {
    /// Mints the test CA into `dir/ca.pem` and starts listening on
    /// 127.0.0.1 (an unused port).
    pub async fn start(dir: &Path) -> Self {
        let (ca_file, tls) = super::https::make_tls(dir);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let mut r = Self {
            url: format!("https://localhost:{}/v1/reports", addr.port()),
            ca_file,
            addr,
            tls: TlsAcceptor::from(Arc::new(tls)),
            state: Arc::new(Mutex::new(State {
                answer: Answer::Accept,
                received: Vec::new(),
            })),
            running: None,
        };
        r.serve(listener);
        r
    }

    fn serve(&mut self, listener: TcpListener) {
        let token = CancellationToken::new();
        self.running = Some(token.clone());
        let tls = self.tls.clone();
        let state = Arc::clone(&self.state);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = token.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((tcp, _)) = accepted else { continue };
                let (tls, state, token) = (tls.clone(), Arc::clone(&state), token.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        () = token.cancelled() => {}
                        () = connection(tcp, tls, state) => {}
                    }
                });
            }
        });
    }

    /// Stops listening and drops every connection (held ones included):
    /// the node sees connections refused.
    pub fn stop(&mut self) {
        if let Some(t) = self.running.take() {
            t.cancel();
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(20);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot bind {} again: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    pub fn answer(&self, answer: Answer) {
        lock(&self.state).answer = answer;
    }

    /// Everything read so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.state).received.clone()
    }

    /// The reports answered 2xx, in arrival order.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }

    /// Polls (every 50 ms, at most `wait`) until `done(received)` holds.
    pub async fn wait_for(&self, wait: Duration, done: impl Fn(&[Received]) -> bool) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            if done(&self.received()) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn connection(tcp: tokio::net::TcpStream, tls: TlsAcceptor, state: Arc<Mutex<State>>) {
    let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_secs(10), tls.accept(tcp)).await
    else {
        return;
    };
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(respond(req, &state).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn respond(req: Request<Incoming>, state: &Mutex<State>) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let (report_id_header, signature, content_type) = (
        header("ward-report-id"),
        header("ward-signature"),
        header("content-type"),
    );
    let Ok(body) = req.into_body().collect().await else {
        return Response::new(Full::new(Bytes::new()));
    };
    let answer = lock(state).answer;
    let status = match answer {
        Answer::Accept => 200,
        Answer::Status(s) => s,
        Answer::Hold => 0,
        Answer::Throttle(_) => 429,
    };
    lock(state).received.push(Received {
        report_id_header,
        signature,
        content_type,
        body: body.to_bytes().to_vec(),
        status,
        at: Instant::now(),
    });
    if answer == Answer::Hold {
        std::future::pending::<()>().await;
    }
    let mut response = Response::new(Full::new(Bytes::from_static(b"thanks\n")));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if let Answer::Throttle(secs) = answer {
        response
            .headers_mut()
            .insert("retry-after", secs.to_string().parse().unwrap());
    }
    response
}
