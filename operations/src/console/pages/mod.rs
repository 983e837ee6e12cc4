//! The console's pages and the changes they make, one module per tab; what
//! every page shares is here.

mod dashboard;
mod dead;
mod job;
mod ledger;
mod local;
mod queues;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::Console;
use super::guard::same;
use crate::queues::JobQueue;

/// How long a dead-letter listing is reused by the pages that show it.
pub(super) const LISTING_REUSE: std::time::Duration = std::time::Duration::from_secs(5);

pub(super) fn router(console: Arc<Console>) -> Router {
    let state = Arc::new(Pages {
        console,
        notices: Mutex::new(VecDeque::new()),
    });
    Router::new()
        .route("/", get(dashboard::dashboard))
        .route("/fragments/queues", get(dashboard::queue_rows))
        .route("/fragments/charts", get(dashboard::charts))
        .route("/dead", get(dead::dead))
        .route("/dead/letter", get(dead::letter))
        .route("/dead/retry", post(dead::retry))
        .route("/dead/delete", post(dead::delete))
        .route("/jobs", get(job::job))
        .route("/busy", get(ledger::busy))
        .route("/retries", get(ledger::retries))
        .route("/scheduled", get(ledger::scheduled))
        .route("/scheduled/run-now", post(ledger::run_now))
        .route("/scheduled/cancel", post(ledger::cancel_scheduled))
        .route("/local", get(local::local_page))
        .route("/queues", get(queues::queues_page))
        .route("/queues/pause", post(queues::pause_queue))
        .route("/queues/resume", post(queues::resume_queue))
        .route("/assets/console.css", get(stylesheet))
        .route("/assets/console.js", get(script))
        .fallback(not_found)
        .with_state(state)
}

#[derive(Debug)]
struct Pages {
    console: Arc<Console>,
    /// What the last changes did, shown once on the page they lead back to. Kept
    /// here, not in the address, so a link from elsewhere cannot put words there.
    notices: Mutex<VecDeque<(String, String)>>,
}

/// How many notices are kept for pages not yet shown.
const NOTICES_KEPT: usize = 32;

impl Pages {
    fn notice(&self, text: String) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let mut notices = self.notices.lock().unwrap_or_else(|e| e.into_inner());
        if notices.len() >= NOTICES_KEPT {
            notices.pop_front();
        }
        notices.push_back((id.clone(), text));
        id
    }

    fn take_notice(&self, id: Option<&str>) -> Option<String> {
        let id = id?;
        let mut notices = self.notices.lock().unwrap_or_else(|e| e.into_inner());
        let at = notices.iter().position(|(i, _)| i == id)?;
        notices.remove(at).map(|(_, text)| text)
    }

    fn frame(&self, nav: &'static str, notice: Option<&str>) -> Frame {
        Frame {
            nav,
            read_only: self.console.read_only,
            csrf: self.console.csrf.clone(),
            notice: self.take_notice(notice),
            local: self.console.local.is_some(),
        }
    }
}

/// What every page shows around its own part.
#[derive(Debug)]
struct Frame {
    nav: &'static str,
    read_only: bool,
    csrf: String,
    notice: Option<String>,
    /// The console runs against the local emulators: the Local tab is there.
    local: bool,
}

fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot render the page: {e}"),
        )
            .into_response(),
    }
}

fn plain(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct Shown {
    notice: Option<String>,
}

/// The queue a change is about, once the change may be made: refused on a
/// read-only console, for a form without this console's CSRF token, and for
/// a queue the console does not serve.
fn changed_queue<'a>(
    console: &'a Console,
    csrf: &str,
    queue: &str,
) -> Result<&'a JobQueue, (StatusCode, String)> {
    change_allowed(console, csrf)?;
    console
        .queue(queue)
        .ok_or_else(|| (StatusCode::NOT_FOUND, format!("no queue `{queue}` here")))
}

/// Refuses a change on a read-only console, and for a form without this
/// console's CSRF token.
fn change_allowed(console: &Console, csrf: &str) -> Result<(), (StatusCode, String)> {
    if console.read_only {
        return Err((
            StatusCode::FORBIDDEN,
            "refused: the console is read-only (`--read-only`)".into(),
        ));
    }
    if !same(csrf.as_bytes(), console.csrf.as_bytes()) {
        return Err((
            StatusCode::FORBIDDEN,
            "refused: the form's CSRF token is missing or stale; reload the page and try again"
                .into(),
        ));
    }
    Ok(())
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../../assets/console.css"),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../../assets/console.js"),
    )
        .into_response()
}

async fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "no such page".into())
}
