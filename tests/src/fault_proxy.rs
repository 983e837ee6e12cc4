//! An HTTP proxy in front of one AWS endpoint that fails a set share of the
//! requests the way AWS does: throttling, a 5xx, or no answer at all (a timeout).
//! A failed request never reaches the service, so it cannot have taken effect.
//!
//! It can also hold every request that arrives (`hold`), so a test knows that
//! a worker has calls in flight, can kill it there, and then `release` the held
//! requests, which are answered with a 503 and never passed on. It keeps every
//! request it passed on with the service's answer status, so a test can tell
//! which calls a killed worker made and which of them the service accepted. A
//! request passed on is carried through to the service's answer even when its
//! client has gone (killed), as a request on the wire would be.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How the service behind the proxy writes its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// REST-JSON services such as SES v2: the code in `x-amzn-ErrorType`.
    RestJson,
    /// REST-XML services such as S3: an `<Error><Code>` document.
    RestXml,
}

/// One injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    ServerError,
    /// No answer until long after any client has given up.
    Timeout,
}

/// What the proxy has done so far.
#[derive(Debug, Default)]
pub struct ProxyCounts {
    pub requests: AtomicU64,
    pub forwarded: AtomicU64,
    pub throttled: AtomicU64,
    pub server_errors: AtomicU64,
    pub timeouts: AtomicU64,
    pub held: AtomicU64,
}

impl ProxyCounts {
    pub fn injected(&self) -> u64 {
        self.throttled.load(Ordering::SeqCst)
            + self.server_errors.load(Ordering::SeqCst)
            + self.timeouts.load(Ordering::SeqCst)
    }
}

/// A request the proxy passed on to the service.
#[derive(Debug, Clone)]
pub struct Passed {
    /// The path and query, as in `/bucket/key?x-id=PutObject`.
    pub path: String,
    pub body: Bytes,
    /// The service's answer status; `None` while the request is on its way,
    /// or when the service could not be reached.
    pub status: Option<u16>,
}

impl Passed {
    /// True when the service may have carried the request out: it accepted it
    /// (2xx), or its answer is not known. A refusal (4xx, 5xx) changed nothing.
    pub fn may_have_taken_effect(&self) -> bool {
        self.status
            .is_none_or(|status| (200..300).contains(&status))
    }
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    protocol: Protocol,
    /// Failures per 1000 requests.
    faults_per_mille: u64,
    /// How long a request picked for a timeout waits before its (late) answer.
    timeout_answer_after: Duration,
    counts: ProxyCounts,
    hold: watch::Sender<bool>,
    passed: Mutex<Vec<Passed>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// A running proxy; it stops with the test's runtime.
#[derive(Debug, Clone)]
pub struct FaultProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream` (`http://host:port`),
    /// failing `faults_per_mille` of every thousand requests, in turn a
    /// throttle, a 5xx and a timeout.
    pub async fn start(upstream: &str, protocol: Protocol, faults_per_mille: u64) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            protocol,
            faults_per_mille,
            timeout_answer_after: Duration::from_secs(30),
            counts: ProxyCounts::default(),
            hold: watch::channel(false).0,
            passed: Mutex::default(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        });
        let accepting = shared.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = accepting.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let shared = shared.clone();
                        async move {
                            Ok::<_, std::convert::Infallible>(Shared::answer(shared, request).await)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(FaultProxy { address, shared })
    }

    /// The endpoint URL to give the SDK instead of the service's own.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn counts(&self) -> &ProxyCounts {
        &self.shared.counts
    }

    /// From now on, requests wait here and are never passed on.
    pub fn hold(&self) {
        self.shared.hold.send_replace(true);
    }

    /// Answers every held request with a 503 and passes new ones on again.
    pub fn release(&self) {
        self.shared.hold.send_replace(false);
    }

    /// The requests passed on to the service since the proxy started, in order.
    pub fn passed(&self) -> Vec<Passed> {
        self.shared
            .passed
            .lock()
            .map(|passed| passed.clone())
            .unwrap_or_default()
    }

    /// Requests held since the proxy started.
    pub fn held(&self) -> u64 {
        self.shared.counts.held.load(Ordering::SeqCst)
    }
}

impl Shared {
    async fn answer(self: Arc<Self>, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let number = self.counts.requests.fetch_add(1, Ordering::SeqCst);
        if *self.hold.borrow() {
            self.counts.held.fetch_add(1, Ordering::SeqCst);
            let mut released = self.hold.subscribe();
            let _ = released.wait_for(|hold| !hold).await;
            return self.error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable");
        }
        match self.fault_for(number) {
            Some(Fault::Throttle) => {
                self.counts.throttled.fetch_add(1, Ordering::SeqCst);
                match self.protocol {
                    Protocol::RestJson => {
                        self.error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException")
                    }
                    Protocol::RestXml => self.error(StatusCode::SERVICE_UNAVAILABLE, "SlowDown"),
                }
            }
            Some(Fault::ServerError) => {
                self.counts.server_errors.fetch_add(1, Ordering::SeqCst);
                self.error(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure")
            }
            Some(Fault::Timeout) => {
                self.counts.timeouts.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(self.timeout_answer_after).await;
                self.error(StatusCode::GATEWAY_TIMEOUT, "RequestTimeout")
            }
            // A task of its own, so that a client that goes away (a killed
            // worker) does not cut the request off on its way to the service.
            None => match tokio::spawn(self.clone().forward(request))
                .await
                .map_err(anyhow::Error::from)
                .and_then(|forwarded| forwarded)
            {
                Ok(response) => {
                    self.counts.forwarded.fetch_add(1, Ordering::SeqCst);
                    response
                }
                Err(e) => {
                    eprintln!("fault proxy: cannot reach {}: {e:#}", self.upstream);
                    self.error(StatusCode::BAD_GATEWAY, "ServiceUnavailable")
                }
            },
        }
    }

    /// Spreads the faults evenly: request `n` fails when the running share of
    /// faults falls behind the set rate, and the kinds take turns.
    fn fault_for(&self, number: u64) -> Option<Fault> {
        let before = number * self.faults_per_mille / 1000;
        let after = (number + 1) * self.faults_per_mille / 1000;
        (after > before).then_some(match before % 3 {
            0 => Fault::Throttle,
            1 => Fault::ServerError,
            _ => Fault::Timeout,
        })
    }

    async fn forward(self: Arc<Self>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>> {
        let (mut parts, body) = request.into_parts();
        let body = body
            .collect()
            .await
            .context("read request body")?
            .to_bytes();
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        parts.uri = format!("{}{path}", self.upstream).parse()?;
        let index = self.passed.lock().ok().map(|mut passed| {
            passed.push(Passed {
                path,
                body: body.clone(),
                status: None,
            });
            passed.len() - 1
        });
        // The Host header stays: the request was signed for it.
        parts.headers.remove("expect");
        buffered(&mut parts.headers, &body);
        let response = self
            .client
            .request(Request::from_parts(parts, Full::new(body)))
            .await
            .context("send upstream")?;
        let (mut parts, body) = response.into_parts();
        if let (Some(index), Ok(mut passed)) = (index, self.passed.lock())
            && let Some(call) = passed.get_mut(index)
        {
            call.status = Some(parts.status.as_u16());
        }
        let body = body
            .collect()
            .await
            .context("read response body")?
            .to_bytes();
        buffered(&mut parts.headers, &body);
        Ok(Response::from_parts(parts, Full::new(body)))
    }

    fn error(&self, status: StatusCode, code: &str) -> Response<Full<Bytes>> {
        let message = "injected by the test's fault proxy";
        let builder = Response::builder().status(status);
        let response = match self.protocol {
            Protocol::RestJson => builder
                .header("content-type", "application/json")
                .header("x-amzn-errortype", code)
                .body(Full::new(Bytes::from(
                    serde_json::json!({ "message": message }).to_string(),
                ))),
            Protocol::RestXml => builder.header("content-type", "application/xml").body(Full::new(
                Bytes::from(format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                     <Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault</RequestId></Error>"
                )),
            )),
        };
        response.unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    }
}

/// Headers for a body passed on whole: its length instead of hop-by-hop framing.
fn buffered(headers: &mut hyper::HeaderMap, body: &Bytes) {
    for hop in ["connection", "transfer-encoding", "keep-alive"] {
        headers.remove(hop);
    }
    headers.insert(hyper::header::CONTENT_LENGTH, body.len().into());
}
