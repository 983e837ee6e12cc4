//! `jobs ui`: a web console for the queues, on loopback by default.
//!
//! Pages are rendered on the server from templates checked at compile time
//! (askama escapes every value: job bodies are untrusted); the stylesheet and
//! the one small script are in the binary. What keeps it safe is in [`guard`].

mod guard;
pub mod local;
mod pages;

use std::net::SocketAddr;
use std::sync::Arc;

pub use guard::{allowed_hosts, check_address, host_allowed, origin_allowed, token_given};

use crate::queues::JobQueue;

/// The port `jobs ui` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 9494;
/// The variable that holds the console's token.
pub const TOKEN_ENV: &str = "JOBS_UI_TOKEN";

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(
        "refused to listen on `{0}` without a token: anyone who reaches that address could retry and delete jobs; set `{TOKEN_ENV}` (or `--token`), or listen on 127.0.0.1"
    )]
    OpenWithoutToken(SocketAddr),
    #[error(
        "the console's token is {0} characters; it needs at least 32 (`openssl rand -hex 16` makes one)"
    )]
    ShortToken(usize),
    #[error("cannot listen on `{address}`: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("the console stopped: {0}")]
    Serve(std::io::Error),
}

/// How the console is run.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    pub address: SocketAddr,
    pub token: Option<String>,
    /// Hides every button and refuses every change.
    pub read_only: bool,
    /// More names the console answers to (behind a proxy, say).
    pub allow_hosts: Vec<String>,
    /// The idempotency ledger's table, for the job pages.
    pub ledger_table: Option<String>,
    /// Dead letters read per queue for a page or an action.
    pub limit: usize,
    /// The job metrics' CloudWatch namespace, for the dashboard's chart;
    /// `None` when they are off.
    pub metrics_namespace: Option<String>,
    /// Each queue's Lambda event source mapping, by queue name
    /// (`JOBS_EVENT_SOURCE_IDS`): disabled while the queue is paused.
    pub event_sources: std::collections::HashMap<String, String>,
    /// Against the local emulators: what the Local tab reads.
    pub local: Option<local::LocalMode>,
    /// The payload bucket (`JOBS_PAYLOAD_BUCKET`): a dead letter's pointer is
    /// followed only into its `payloads/`.
    pub payload_bucket: Option<String>,
}

/// What the pages read from and act on.
#[derive(Debug, Clone)]
pub struct ConsoleClients {
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub lambda: aws_sdk_lambda::Client,
    /// For the Local tab's objects.
    pub s3: aws_sdk_s3::Client,
}

#[derive(Debug)]
struct Console {
    clients: ConsoleClients,
    queues: Vec<JobQueue>,
    /// Where Retry and Run now may send, and where a pointer may be followed.
    served: crate::served::Served,
    ledger_table: Option<String>,
    read_only: bool,
    limit: usize,
    metrics_namespace: Option<String>,
    event_sources: std::collections::HashMap<String, String>,
    local: Option<local::LocalMode>,
    /// Every form carries it; a POST without it is refused.
    csrf: String,
    /// Each dead-letter queue's last listing and when it was read: loads
    /// within [`pages::LISTING_REUSE`] reuse it instead of receiving again.
    listings: tokio::sync::Mutex<
        std::collections::HashMap<
            String,
            (std::time::Instant, Vec<crate::dead_letters::DeadLetter>),
        >,
    >,
}

impl Console {
    fn queue(&self, name: &str) -> Option<&JobQueue> {
        self.queues.iter().find(|q| q.name == name)
    }
}

/// A console that is listening: its address, and the future that serves it.
#[derive(Debug)]
pub struct Listening {
    pub address: SocketAddr,
    listener: tokio::net::TcpListener,
    router: axum::Router,
}

/// Checks the settings and binds the address; nothing is served until [`Listening::serve`].
pub async fn listen(
    settings: ConsoleSettings,
    clients: ConsoleClients,
    queues: Vec<JobQueue>,
) -> Result<Listening, ConsoleError> {
    let token = settings.token.filter(|t| !t.is_empty());
    check_address(settings.address, token.as_deref())?;
    let listener = tokio::net::TcpListener::bind(settings.address)
        .await
        .map_err(|source| ConsoleError::Bind {
            address: settings.address,
            source,
        })?;
    let address = listener.local_addr().map_err(|source| ConsoleError::Bind {
        address: settings.address,
        source,
    })?;
    let guard = Arc::new(guard::Guard {
        allowed_hosts: allowed_hosts(address, &settings.allow_hosts),
        token,
    });
    let console = Arc::new(Console {
        clients,
        served: crate::served::Served::of(&queues, settings.payload_bucket),
        queues,
        ledger_table: settings.ledger_table.filter(|t| !t.is_empty()),
        read_only: settings.read_only,
        limit: settings.limit,
        metrics_namespace: settings.metrics_namespace.filter(|n| !n.is_empty()),
        event_sources: settings.event_sources,
        local: settings.local,
        csrf: uuid::Uuid::new_v4().simple().to_string(),
        listings: Default::default(),
    });
    let router =
        pages::router(console).layer(axum::middleware::from_fn_with_state(guard, guard::check));
    Ok(Listening {
        address,
        listener,
        router,
    })
}

impl Listening {
    /// Serves until `stop` resolves, then finishes the requests under way.
    pub async fn serve(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ConsoleError> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(stop)
            .await
            .map_err(ConsoleError::Serve)
    }
}
