//! Queues: pause and resume each queue.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Frame, Pages, Shown, changed_queue, plain, render};

#[derive(Debug)]
struct PauseRow {
    name: String,
    url: String,
    dead_letters: Option<String>,
    /// When it was paused; `None` while it runs.
    paused_since: Option<String>,
    error: Option<String>,
    event_source: Option<String>,
}

#[derive(Template)]
#[template(path = "queues.html")]
struct QueuesPage {
    frame: Frame,
    rows: Vec<PauseRow>,
}

pub(super) async fn queues_page(
    State(pages): State<Arc<Pages>>,
    Query(shown): Query<Shown>,
) -> Response {
    let console = &pages.console;
    let mut rows = Vec::new();
    for queue in &console.queues {
        let state = crate::pause::state(&console.clients.sqs, &queue.url).await;
        rows.push(PauseRow {
            name: queue.name.clone(),
            url: queue.url.clone(),
            dead_letters: queue.dead_letters.clone(),
            paused_since: match &state {
                Ok(crate::pause::PauseState::Paused { since }) => Some(since.clone()),
                _ => None,
            },
            error: state.err().map(|e| e.to_string()),
            event_source: console.event_sources.get(&queue.name).cloned(),
        });
    }
    let page = QueuesPage {
        frame: pages.frame("queues", shown.notice.as_deref()),
        rows,
    };
    render(StatusCode::OK, &page)
}

/// A Pause or Resume button's form.
#[derive(Debug, Deserialize)]
pub(super) struct QueueAction {
    #[serde(default)]
    csrf: String,
    queue: String,
}

pub(super) async fn pause_queue(
    State(pages): State<Arc<Pages>>,
    Form(action): Form<QueueAction>,
) -> Response {
    change_pause(&pages, action, true).await
}

pub(super) async fn resume_queue(
    State(pages): State<Arc<Pages>>,
    Form(action): Form<QueueAction>,
) -> Response {
    change_pause(&pages, action, false).await
}

async fn change_pause(pages: &Pages, action: QueueAction, pause: bool) -> Response {
    let console = &pages.console;
    let queue = match changed_queue(console, &action.csrf, &action.queue) {
        Ok(queue) => queue,
        Err((status, why)) => return plain(status, why),
    };
    let event_source = console.event_sources.get(&queue.name).map(String::as_str);
    let (sqs, lambda) = (&console.clients.sqs, &console.clients.lambda);
    let done = if pause {
        crate::pause::pause(sqs, lambda, queue, event_source).await
    } else {
        crate::pause::resume(sqs, lambda, queue, event_source).await
    };
    match done {
        Ok(notice) => {
            Redirect::to(&format!("/queues?notice={}", pages.notice(notice))).into_response()
        }
        Err(e) => plain(StatusCode::BAD_GATEWAY, format!("error: {e}")),
    }
}
