//! Dead: the dead letters by queue and reason, one letter's page, and Retry
//! and Delete.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Frame, Pages, Shown, changed_queue, plain, render};
use crate::console::Console;
use crate::dead_letters::{self, DeadLetter, Selection, StoredBody};
use crate::queues::JobQueue;

#[derive(Debug)]
struct DeadQueue {
    name: String,
    /// `None` when the queue has no dead-letter queue.
    dlq_url: Option<String>,
    groups: Vec<DeadGroup>,
    count: usize,
    error: Option<String>,
}

#[derive(Debug)]
struct DeadGroup {
    kind: String,
    error_code: String,
    reason: String,
    letters: Vec<DeadLetter>,
}

#[derive(Template)]
#[template(path = "dead.html")]
struct DeadPage {
    frame: Frame,
    queues: Vec<DeadQueue>,
    limit: usize,
}

impl Console {
    /// A dead-letter queue's letters as a listing reads them. Every read
    /// hides them for a while and counts as a delivery, so loads within
    /// [`LISTING_REUSE`](super::LISTING_REUSE) reuse the last read.
    pub(super) async fn dead_letters(
        &self,
        dlq_url: &str,
    ) -> Result<Vec<DeadLetter>, crate::OpsError> {
        let mut listings = self.listings.lock().await;
        if let Some((read_at, letters)) = listings.get(dlq_url)
            && read_at.elapsed() < super::LISTING_REUSE
        {
            return Ok(letters.clone());
        }
        let letters =
            dead_letters::list_dead_letters(&self.clients.sqs, dlq_url, self.limit).await?;
        listings.insert(
            dlq_url.to_owned(),
            (std::time::Instant::now(), letters.clone()),
        );
        Ok(letters)
    }

    /// Forgets a listing once its queue changed, so that the next page reads it.
    async fn forget_dead_letters(&self, dlq_url: &str) {
        self.listings.lock().await.remove(dlq_url);
    }
}

/// Every queue with its dead letters as a listing reads them; `None` for a
/// queue without a dead-letter queue.
pub(super) async fn dead_letters_by_queue(
    console: &Console,
) -> Vec<(&JobQueue, Option<Result<Vec<DeadLetter>, crate::OpsError>>)> {
    let mut listed = Vec::new();
    for queue in &console.queues {
        let letters = match &queue.dead_letters {
            Some(dlq_url) => Some(console.dead_letters(dlq_url).await),
            None => None,
        };
        listed.push((queue, letters));
    }
    listed
}

pub(super) async fn dead(State(pages): State<Arc<Pages>>, Query(shown): Query<Shown>) -> Response {
    let console = &pages.console;
    let mut queues = Vec::new();
    for (queue, listed) in dead_letters_by_queue(console).await {
        let mut shown_queue = DeadQueue {
            name: queue.name.clone(),
            dlq_url: queue.dead_letters.clone(),
            groups: Vec::new(),
            count: 0,
            error: None,
        };
        if let Some(listed) = listed {
            match listed {
                Ok(letters) => {
                    shown_queue.count = letters.len();
                    shown_queue.groups = dead_letters::group(&letters)
                        .into_iter()
                        .map(|((kind, error_code), letters)| DeadGroup {
                            reason: letters
                                .first()
                                .map(|l| l.reason.clone())
                                .unwrap_or_default(),
                            kind,
                            error_code,
                            letters: letters.into_iter().cloned().collect(),
                        })
                        .collect();
                }
                Err(e) => shown_queue.error = Some(e.to_string()),
            }
        }
        queues.push(shown_queue);
    }
    let page = DeadPage {
        frame: pages.frame("dead", shown.notice.as_deref()),
        queues,
        limit: console.limit,
    };
    render(StatusCode::OK, &page)
}

#[derive(Debug, Deserialize)]
pub(super) struct LetterQuery {
    queue: String,
    id: String,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "letter.html")]
struct LetterPage {
    frame: Frame,
    queue_name: String,
    letter: DeadLetter,
    fields: Vec<(&'static str, String)>,
    body: String,
}

fn letter_fields(letter: &DeadLetter, stored_at: String) -> Vec<(&'static str, String)> {
    vec![
        ("job id", letter.job_id.clone()),
        ("kind", letter.kind.clone()),
        ("attempts", letter.attempts.clone()),
        ("failed at", letter.failed_at.clone()),
        ("error class", letter.error_class.clone()),
        ("error code", letter.error_code.clone()),
        ("reason", letter.reason.clone()),
        (
            "source queue",
            letter.source_queue.clone().unwrap_or_default(),
        ),
        ("message id", letter.message_id.clone()),
        ("stored at", stored_at),
    ]
}

/// The body as indented JSON when it is JSON (a poison message may not be).
fn pretty_body(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_owned())
}

pub(super) async fn letter(
    State(pages): State<Arc<Pages>>,
    Query(query): Query<LetterQuery>,
) -> Response {
    let console = &pages.console;
    let Some(dlq_url) = console
        .queue(&query.queue)
        .and_then(|q| q.dead_letters.clone())
    else {
        return plain(
            StatusCode::NOT_FOUND,
            format!("no queue `{}` with dead letters here", query.queue),
        );
    };
    let letters = match console.dead_letters(&dlq_url).await {
        Ok(letters) => letters,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, e.to_string()),
    };
    let Some(letter) = letters
        .into_iter()
        .find(|l| l.message_id == query.id || l.job_id == query.id)
    else {
        return plain(
            StatusCode::NOT_FOUND,
            format!(
                "no dead letter `{}` in `{}`: retried or deleted already?",
                query.id, query.queue
            ),
        );
    };
    // A pointer message is shown with the envelope it points at, when that
    // is in the payload bucket; if S3 does not give it, the pointer and S3's
    // answer. A pointer anywhere else is shown as it is, and not followed.
    let stored = dead_letters::stored_body(&console.clients.s3, &letter, &console.served).await;
    let stored_at = match &stored {
        Ok(StoredBody::Read { .. }) | Err(_) => {
            letter.payload.as_ref().map(|p| p.url()).unwrap_or_default()
        }
        Ok(StoredBody::Outside(why)) => why.clone(),
        Ok(StoredBody::Inline) => String::new(),
    };
    let body = match stored {
        Ok(StoredBody::Read { text, cut: false }) => pretty_body(&text),
        Ok(StoredBody::Read { text, cut: true }) => format!(
            "{text}\n\n(cut: only the first {} bytes of the stored envelope are shown)",
            dead_letters::SHOWN_STORED_BYTES
        ),
        Ok(StoredBody::Inline | StoredBody::Outside(_)) => pretty_body(&letter.body),
        Err(e) => format!(
            "{}\n\n(the stored envelope could not be read: {e})",
            letter.body
        ),
    };
    let page = LetterPage {
        frame: pages.frame("dead", query.notice.as_deref()),
        queue_name: query.queue,
        fields: letter_fields(&letter, stored_at),
        body,
        letter,
    };
    render(StatusCode::OK, &page)
}

/// A Retry or Delete button's form.
#[derive(Debug, Deserialize)]
pub(super) struct Action {
    /// Missing reads as empty, so that it is refused with a reason, not a 422.
    #[serde(default)]
    csrf: String,
    queue: String,
    /// One dead letter, by message id or job id.
    id: Option<String>,
    /// Or a group: a kind and an error code.
    kind: Option<String>,
    error_code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Retry,
    Delete,
}

pub(super) async fn retry(State(pages): State<Arc<Pages>>, Form(action): Form<Action>) -> Response {
    act(&pages, action, Change::Retry).await
}

pub(super) async fn delete(
    State(pages): State<Arc<Pages>>,
    Form(action): Form<Action>,
) -> Response {
    act(&pages, action, Change::Delete).await
}

/// Checks a change, makes it, and leads back to the dead letters with a notice.
async fn act(pages: &Pages, action: Action, change: Change) -> Response {
    let console = &pages.console;
    let queue = match changed_queue(console, &action.csrf, &action.queue) {
        Ok(queue) => queue,
        Err((status, why)) => return plain(status, why),
    };
    let Some(dlq_url) = queue.dead_letters.clone() else {
        return plain(
            StatusCode::BAD_REQUEST,
            format!("queue `{}` has no dead-letter queue", queue.name),
        );
    };
    let given = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let selection = match (
        given(&action.id),
        given(&action.kind),
        given(&action.error_code),
    ) {
        (Some(id), _, _) => Selection::Id(id),
        (None, Some(kind), Some(error_code)) => Selection::Group { kind, error_code },
        _ => {
            return plain(
                StatusCode::BAD_REQUEST,
                "name one dead letter (`id`) or a group (`kind` and `error_code`)".into(),
            );
        }
    };
    console.forget_dead_letters(&dlq_url).await;
    let notice = match change {
        Change::Retry => retry_selected(console, queue, &dlq_url, &selection).await,
        Change::Delete => dead_letters::delete(
            &console.clients.sqs,
            &console.clients.s3,
            &dlq_url,
            &selection,
            console.limit,
            &console.served,
        )
        .await
        .map(|deleted| match deleted.jobs.len() {
            0 => "nothing deleted: no such dead letter (retried or deleted already?)".to_owned(),
            n => {
                let mut notice = format!(
                    "deleted {n} dead letter(s) of `{}`: {}",
                    queue.name,
                    deleted.jobs.join(", ")
                );
                if deleted.stored_bodies > 0 {
                    notice += &format!("; {} stored envelope(s) with them", deleted.stored_bodies);
                }
                for left in &deleted.bodies_left {
                    notice += &format!("; left to the lifecycle rule: {left}");
                }
                for outside in &deleted.pointers_outside {
                    notice += &format!(
                        "; a pointer outside the payload bucket, `{outside}`, was left alone"
                    );
                }
                notice
            }
        }),
    };
    console.forget_dead_letters(&dlq_url).await;
    match notice {
        Ok(notice) => {
            Redirect::to(&format!("/dead?notice={}", pages.notice(notice))).into_response()
        }
        Err(e) => plain(StatusCode::BAD_GATEWAY, format!("error: {e}")),
    }
}

async fn retry_selected(
    console: &Console,
    queue: &JobQueue,
    dlq_url: &str,
    selection: &Selection,
) -> Result<String, crate::OpsError> {
    let redrive = dead_letters::redrive(
        &console.clients.sqs,
        dlq_url,
        &queue.url,
        selection,
        false,
        console.limit,
        &console.served,
    )
    .await?;
    let mut notice = match (redrive.moved.len(), redrive.refused.len()) {
        (0, 0) => "nothing retried: no such dead letter (retried or deleted already?)".to_owned(),
        (0, _) => "nothing retried".to_owned(),
        (n, _) => format!(
            "retried {n} job(s), each on the queue it failed on: {}",
            redrive.moved.join(", ")
        ),
    };
    for (job, why) in &redrive.refused {
        notice += &format!("; `{job}` refused: {why}");
    }
    Ok(notice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_indented_when_it_is_json() {
        assert_eq!(pretty_body("{\"a\":1}"), "{\n  \"a\": 1\n}");
        assert_eq!(pretty_body("not json <b>"), "not json <b>");
    }
}
