//! The ledger's tabs: Busy, Retries and Scheduled, with Run now and Cancel.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Frame, Pages, Shown, change_allowed, plain, render};
use crate::console::Console;

/// An epoch-seconds time as the pages show it.
fn shown_time(seconds: u64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds),
    )
    .to_string()
}

/// Rows read from the ledger's indexes, or why there are none.
#[derive(Debug)]
enum Listed<T> {
    /// The console has no ledger table: nothing is recorded.
    LedgerOff,
    Failed(String),
    Rows(Vec<T>),
}

impl<T> Listed<T> {
    fn rows(&self) -> &[T] {
        match self {
            Listed::Rows(rows) => rows,
            _ => &[],
        }
    }
}

async fn listed<T, F>(console: &Console, read: impl FnOnce(String) -> F) -> Listed<T>
where
    F: Future<Output = Result<Vec<T>, crate::ledger_lists::LedgerListError>>,
{
    match &console.ledger_table {
        None => Listed::LedgerOff,
        Some(table) => match read(table.clone()).await {
            Ok(rows) => Listed::Rows(rows),
            Err(e) => Listed::Failed(e.to_string()),
        },
    }
}

/// What the ledger tabs' templates need beside the rows.
mod filters {
    /// An epoch-seconds time as the pages show it.
    #[askama::filter_fn]
    pub fn epoch(seconds: &u64, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(super::shown_time(*seconds))
    }
}

#[derive(Template)]
#[template(path = "busy.html")]
struct BusyPage {
    frame: Frame,
    listed: Listed<crate::ledger_lists::Running>,
    limit: usize,
    /// For telling a stuck claim: epoch seconds when the page was read.
    now: u64,
}

pub(super) async fn busy(State(pages): State<Arc<Pages>>) -> Response {
    let console = &pages.console;
    let dynamodb = &console.clients.dynamodb;
    let listed = listed(console, |table| async move {
        crate::ledger_lists::busy(dynamodb, &table, console.limit).await
    })
    .await;
    let page = BusyPage {
        frame: pages.frame("busy", None),
        listed,
        limit: console.limit,
        now: producer::contract::ledger::epoch_seconds(std::time::SystemTime::now()),
    };
    render(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "retries.html")]
struct RetriesPage {
    frame: Frame,
    listed: Listed<crate::ledger_lists::Waiting>,
    limit: usize,
}

pub(super) async fn retries(State(pages): State<Arc<Pages>>) -> Response {
    let console = &pages.console;
    let dynamodb = &console.clients.dynamodb;
    let listed = listed(console, |table| async move {
        crate::ledger_lists::retries(dynamodb, &table, console.limit).await
    })
    .await;
    let page = RetriesPage {
        frame: pages.frame("retries", None),
        listed,
        limit: console.limit,
    };
    render(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "scheduled.html")]
struct ScheduledPage {
    frame: Frame,
    listed: Listed<crate::ledger_lists::Scheduled>,
    limit: usize,
}

pub(super) async fn scheduled(
    State(pages): State<Arc<Pages>>,
    Query(shown): Query<Shown>,
) -> Response {
    let console = &pages.console;
    let dynamodb = &console.clients.dynamodb;
    let listed = listed(console, |table| async move {
        let from = std::time::SystemTime::now();
        crate::ledger_lists::scheduled(dynamodb, &table, from, console.limit).await
    })
    .await;
    let page = ScheduledPage {
        frame: pages.frame("scheduled", shown.notice.as_deref()),
        listed,
        limit: console.limit,
    };
    render(StatusCode::OK, &page)
}

/// A Run now or Cancel button's form.
#[derive(Debug, Deserialize)]
pub(super) struct ScheduledAction {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
}

pub(super) async fn run_now(
    State(pages): State<Arc<Pages>>,
    Form(action): Form<ScheduledAction>,
) -> Response {
    change_scheduled(&pages, action, true).await
}

pub(super) async fn cancel_scheduled(
    State(pages): State<Arc<Pages>>,
    Form(action): Form<ScheduledAction>,
) -> Response {
    change_scheduled(&pages, action, false).await
}

async fn change_scheduled(pages: &Pages, action: ScheduledAction, run_now: bool) -> Response {
    let console = &pages.console;
    if let Err((status, why)) = change_allowed(console, &action.csrf) {
        return plain(status, why);
    }
    let Some(table) = &console.ledger_table else {
        return plain(
            StatusCode::BAD_REQUEST,
            "the ledger is off (no `--table`): there are no scheduled jobs to change".into(),
        );
    };
    let id = action.id.trim();
    if id.is_empty() {
        return plain(StatusCode::BAD_REQUEST, "name the job (`id`)".into());
    }
    let (dynamodb, sqs) = (&console.clients.dynamodb, &console.clients.sqs);
    let notice = if run_now {
        crate::ledger_lists::run_now(dynamodb, sqs, table, id, &console.served)
            .await
            .map(|ran| {
                format!(
                    "sent `{}` to run now (message {})",
                    ran.job_id, ran.message_id
                )
            })
    } else {
        crate::ledger_lists::cancel_scheduled(dynamodb, table, id)
            .await
            .map(|cancelled| match cancelled {
                crate::cancel::Cancelled::Now => format!("cancelled `{id}`: it will not run"),
                crate::cancel::Cancelled::Already => format!("`{id}` had been cancelled already"),
            })
    };
    match notice {
        Ok(notice) => {
            Redirect::to(&format!("/scheduled?notice={}", pages.notice(notice))).into_response()
        }
        Err(e @ crate::ledger_lists::LedgerListError::Aws { .. })
        | Err(e @ crate::ledger_lists::LedgerListError::Send { .. }) => {
            plain(StatusCode::BAD_GATEWAY, format!("error: {e}"))
        }
        Err(e) => plain(StatusCode::CONFLICT, format!("refused: {e}")),
    }
}
