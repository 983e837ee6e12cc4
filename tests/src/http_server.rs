//! A test HTTP server on three loopback addresses (127.0.0.1, .2 and .3, one
//! port): it answers from a script, records each request, and counts the
//! connections each address received, so a test can see that a refused
//! address was never reached.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// The three addresses the server listens on.
pub const ADDRESSES: [Ipv4Addr; 3] = [
    Ipv4Addr::new(127, 0, 0, 1),
    Ipv4Addr::new(127, 0, 0, 2),
    Ipv4Addr::new(127, 0, 0, 3),
];

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The address it came in on.
    pub to: IpAddr,
    pub method: String,
    /// The path and query of the request line.
    pub target: String,
    /// Names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When the request was read whole.
    pub at: std::time::Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct State {
    /// Answers by path, in order; a path with none left answers 200 `ok`.
    script: Mutex<HashMap<String, VecDeque<Reply>>>,
    requests: Mutex<Vec<Request>>,
    connections: [AtomicUsize; 3],
}

#[derive(Debug, Clone)]
pub struct TestServer {
    pub port: u16,
    state: Arc<State>,
}

impl TestServer {
    /// Listens on the three addresses, on one port free on all three.
    pub async fn start() -> Result<Self> {
        let state = Arc::new(State::default());
        for _ in 0..20 {
            let first = TcpListener::bind((ADDRESSES[0], 0)).await?;
            let port = first.local_addr()?.port();
            let (Ok(second), Ok(third)) = (
                TcpListener::bind((ADDRESSES[1], port)).await,
                TcpListener::bind((ADDRESSES[2], port)).await,
            ) else {
                continue;
            };
            for (index, listener) in [first, second, third].into_iter().enumerate() {
                tokio::spawn(serve(listener, index, Arc::clone(&state)));
            }
            return Ok(TestServer { port, state });
        }
        anyhow::bail!("no port was free on 127.0.0.1, 127.0.0.2 and 127.0.0.3")
    }

    /// `http://127.0.0.N:PORT/path` for address `n` (1 to 3).
    pub fn url(&self, n: u8, path: &str) -> String {
        format!("http://127.0.0.{n}:{}{path}", self.port)
    }

    /// Queues `reply` for the next request to `path` (without its query).
    pub fn reply(&self, path: &str, reply: Reply) {
        self.state
            .script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(path.to_owned())
            .or_default()
            .push_back(reply);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.target.split('?').next() == Some(path))
            .collect()
    }

    /// Connections accepted on 127.0.0.1, .2 and .3.
    pub fn connections(&self) -> [usize; 3] {
        let c = &self.state.connections;
        [0, 1, 2].map(|i| c[i].load(Ordering::SeqCst))
    }
}

async fn serve(listener: TcpListener, index: usize, state: Arc<State>) {
    while let Ok((stream, _)) = listener.accept().await {
        state.connections[index].fetch_add(1, Ordering::SeqCst);
        let state = Arc::clone(&state);
        let to = IpAddr::V4(ADDRESSES[index]);
        tokio::spawn(async move {
            let _ = answer(stream, to, &state).await;
        });
    }
}

async fn answer(mut stream: TcpStream, to: IpAddr, state: &State) -> Result<()> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().context("no request line")?;
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let path = target.split('?').next().unwrap_or_default().to_owned();
    state
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Request {
            to,
            method,
            target,
            headers,
            body,
            at: std::time::Instant::now(),
        });
    let reply = state
        .script
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_mut(&path)
        .and_then(VecDeque::pop_front)
        .unwrap_or_else(|| Reply::new(200, "ok"));
    let mut response = format!(
        "HTTP/1.1 {} Scripted\r\ncontent-length: {}\r\nconnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    stream.write_all(response.as_bytes()).await?;
    stream.write_all(&reply.body).await?;
    stream.shutdown().await?;
    Ok(())
}
