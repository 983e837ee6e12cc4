//! The console's pages and the changes they make.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use askama::Template;
use aws_sdk_dynamodb::types::AttributeValue;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::Console;
use super::guard::same;
use crate::dead_letters::{self, DeadLetter, Selection};
use crate::queues::JobQueue;

pub(super) fn router(console: Arc<Console>) -> Router {
    let state = Arc::new(Pages {
        console,
        notices: Mutex::new(VecDeque::new()),
    });
    Router::new()
        .route("/", get(dashboard))
        .route("/fragments/queues", get(queue_rows))
        .route("/fragments/charts", get(charts))
        .route("/dead", get(dead))
        .route("/dead/letter", get(letter))
        .route("/dead/retry", post(retry))
        .route("/dead/delete", post(delete))
        .route("/jobs", get(job))
        .route("/busy", get(busy))
        .route("/retries", get(retries))
        .route("/scheduled", get(scheduled))
        .route("/scheduled/run-now", post(run_now))
        .route("/scheduled/cancel", post(cancel_scheduled))
        .route("/local", get(local_page))
        .route("/queues", get(queues_page))
        .route("/queues/pause", post(pause_queue))
        .route("/queues/resume", post(resume_queue))
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

#[derive(Debug)]
struct QueueRow {
    name: String,
    url: String,
    counts: Result<crate::stats::Stats, String>,
    has_dead_letters: bool,
}

async fn queue_counts(console: &Console) -> Vec<QueueRow> {
    let mut rows = Vec::new();
    for queue in &console.queues {
        let counts = crate::stats::stats(
            &console.clients.sqs,
            &queue.url,
            queue.dead_letters.as_deref(),
        )
        .await
        .map_err(|e| e.to_string());
        rows.push(QueueRow {
            name: queue.name.clone(),
            url: queue.url.clone(),
            counts,
            has_dead_letters: queue.dead_letters.is_some(),
        });
    }
    rows
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    frame: Frame,
    rows: Vec<QueueRow>,
    charts: Charts,
}

async fn dashboard(State(pages): State<Arc<Pages>>, Query(shown): Query<Shown>) -> Response {
    let rows = queue_counts(&pages.console).await;
    let page = DashboardPage {
        frame: pages.frame("dashboard", shown.notice.as_deref()),
        rows,
        charts: queue_charts(&pages.console).await,
    };
    render(StatusCode::OK, &page)
}

/// The chart's size, in SVG units: one slot per minute.
const CHART_MINUTES: u64 = 60;
const CHART_SLOT: f64 = 10.0;
const CHART_HEIGHT: f64 = 100.0;

#[derive(Template)]
#[template(path = "charts.html")]
struct Charts {
    namespace: Option<String>,
    charts: Vec<QueueChart>,
}

#[derive(Debug)]
struct QueueChart {
    name: String,
    processed: u64,
    failed: u64,
    bars: Vec<Bar>,
    error: Option<String>,
}

/// One minute's column: processed at the bottom, failed stacked on top.
#[derive(Debug)]
struct Bar {
    x: f64,
    processed_y: f64,
    processed_h: f64,
    failed_y: f64,
    failed_h: f64,
    label: String,
}

fn bars(minutes: &[crate::job_metrics::Minute]) -> Vec<Bar> {
    let highest = minutes
        .iter()
        .map(|m| m.processed + m.failed)
        .fold(1.0, f64::max);
    let scale = (CHART_HEIGHT - 4.0) / highest;
    minutes
        .iter()
        .enumerate()
        .filter(|(_, m)| m.processed + m.failed > 0.0)
        .map(|(i, m)| {
            let processed_h = m.processed * scale;
            let failed_h = m.failed * scale;
            Bar {
                x: i as f64 * CHART_SLOT + 1.0,
                processed_y: CHART_HEIGHT - processed_h,
                processed_h,
                failed_y: CHART_HEIGHT - processed_h - failed_h,
                failed_h,
                label: format!(
                    "{}: {} processed, {} failed",
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(m.start)
                    ),
                    m.processed,
                    m.failed
                ),
            }
        })
        .collect()
}

async fn queue_charts(console: &Console) -> Charts {
    let mut charts = Vec::new();
    if let Some(namespace) = &console.metrics_namespace {
        for queue in &console.queues {
            let sqs_name = producer::send::queue::queue_name_of(&queue.url);
            let mut chart = QueueChart {
                name: queue.name.clone(),
                processed: 0,
                failed: 0,
                bars: Vec::new(),
                error: None,
            };
            match crate::job_metrics::per_minute(
                &console.clients.cloudwatch,
                namespace,
                sqs_name,
                CHART_MINUTES,
                std::time::SystemTime::now(),
            )
            .await
            {
                Ok(minutes) => {
                    chart.processed = minutes.iter().map(|m| m.processed).sum::<f64>() as u64;
                    chart.failed = minutes.iter().map(|m| m.failed).sum::<f64>() as u64;
                    chart.bars = bars(&minutes);
                }
                Err(e) => chart.error = Some(e.to_string()),
            }
            charts.push(chart);
        }
    }
    Charts {
        namespace: console.metrics_namespace.clone(),
        charts,
    }
}

async fn charts(State(pages): State<Arc<Pages>>) -> Response {
    render(StatusCode::OK, &queue_charts(&pages.console).await)
}

#[derive(Template)]
#[template(path = "queue_rows.html")]
struct QueueRows {
    rows: Vec<QueueRow>,
}

async fn queue_rows(State(pages): State<Arc<Pages>>) -> Response {
    let rows = queue_counts(&pages.console).await;
    render(StatusCode::OK, &QueueRows { rows })
}

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

/// Every queue with its dead letters as a listing reads them; `None` for a
/// queue without a dead-letter queue.
async fn dead_letters_by_queue(
    console: &Console,
) -> Vec<(&JobQueue, Option<Result<Vec<DeadLetter>, crate::OpsError>>)> {
    let mut listed = Vec::new();
    for queue in &console.queues {
        let letters = match &queue.dead_letters {
            Some(dlq_url) => Some(
                dead_letters::list_dead_letters(&console.clients.sqs, dlq_url, console.limit).await,
            ),
            None => None,
        };
        listed.push((queue, letters));
    }
    listed
}

async fn dead(State(pages): State<Arc<Pages>>, Query(shown): Query<Shown>) -> Response {
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
struct LetterQuery {
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

fn letter_fields(letter: &DeadLetter) -> Vec<(&'static str, String)> {
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
        (
            "stored at",
            letter.payload.as_ref().map(|p| p.url()).unwrap_or_default(),
        ),
    ]
}

/// The body as indented JSON when it is JSON (a poison message may not be).
fn pretty_body(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_owned())
}

async fn letter(State(pages): State<Arc<Pages>>, Query(query): Query<LetterQuery>) -> Response {
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
    let letters = match dead_letters::list_dead_letters(
        &console.clients.sqs,
        &dlq_url,
        console.limit,
    )
    .await
    {
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
    // A pointer message is shown with the envelope it points at; if S3 does
    // not give it, the pointer and S3's answer.
    let body = match dead_letters::stored_body(&console.clients.s3, &letter).await {
        Ok(Some(stored)) => pretty_body(&stored),
        Ok(None) => pretty_body(&letter.body),
        Err(e) => format!(
            "{}\n\n(the stored envelope could not be read: {e})",
            letter.body
        ),
    };
    let page = LetterPage {
        frame: pages.frame("dead", query.notice.as_deref()),
        queue_name: query.queue,
        fields: letter_fields(&letter),
        body,
        letter,
    };
    render(StatusCode::OK, &page)
}

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

async fn queues_page(State(pages): State<Arc<Pages>>, Query(shown): Query<Shown>) -> Response {
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
struct QueueAction {
    #[serde(default)]
    csrf: String,
    queue: String,
}

async fn pause_queue(State(pages): State<Arc<Pages>>, Form(action): Form<QueueAction>) -> Response {
    change_pause(&pages, action, true).await
}

async fn resume_queue(
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

/// A Retry or Delete button's form.
#[derive(Debug, Deserialize)]
struct Action {
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

async fn retry(State(pages): State<Arc<Pages>>, Form(action): Form<Action>) -> Response {
    act(&pages, action, Change::Retry).await
}

async fn delete(State(pages): State<Arc<Pages>>, Form(action): Form<Action>) -> Response {
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
    let notice = match change {
        Change::Retry => retry_selected(console, queue, &dlq_url, &selection).await,
        Change::Delete => dead_letters::delete(
            &console.clients.sqs,
            &console.clients.s3,
            &dlq_url,
            &selection,
            console.limit,
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
                notice
            }
        }),
    };
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
    )
    .await?;
    Ok(match redrive.moved.len() {
        0 => "nothing retried: no such dead letter (retried or deleted already?)".to_owned(),
        n => format!(
            "retried {n} job(s), each on the queue it failed on: {}",
            redrive.moved.join(", ")
        ),
    })
}

#[derive(Debug, Deserialize)]
struct JobQuery {
    #[serde(default)]
    id: String,
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    frame: Frame,
    id: String,
    outcome: String,
    ledger: LedgerView,
    dead: Vec<(String, DeadLetter)>,
    errors: Vec<String>,
}

#[derive(Debug)]
enum LedgerView {
    Off,
    Missing,
    Record(Vec<(String, String)>),
}

impl LedgerView {
    fn is_off(&self) -> bool {
        matches!(self, LedgerView::Off)
    }
    fn fields(&self) -> &[(String, String)] {
        match self {
            LedgerView::Record(fields) => fields,
            _ => &[],
        }
    }
}

fn shown_value(name: &str, value: &AttributeValue) -> String {
    match value {
        AttributeValue::S(s) => s.clone(),
        AttributeValue::N(n) => {
            // Times in the ledger are epoch seconds.
            let is_time = name.ends_with("_at") || name.ends_with("_until");
            match n.parse::<u64>() {
                Ok(seconds) if is_time => format!(
                    "{} ({n})",
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds)
                    )
                ),
                _ => n.clone(),
            }
        }
        AttributeValue::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

async fn job(State(pages): State<Arc<Pages>>, Query(query): Query<JobQuery>) -> Response {
    use producer::contract::ledger::{self, state};

    let console = &pages.console;
    let id = query.id.trim().to_owned();
    let mut errors = Vec::new();
    let mut view = LedgerView::Off;
    let mut dead = Vec::new();
    if !id.is_empty() {
        if let Some(table) = &console.ledger_table {
            view = match ledger::read(&console.clients.dynamodb, table, &id).await {
                Ok(record) if record.is_empty() => LedgerView::Missing,
                Ok(record) => {
                    let mut fields: Vec<(String, String)> = record
                        .iter()
                        .map(|(name, value)| (name.clone(), shown_value(name, value)))
                        .collect();
                    fields.sort();
                    LedgerView::Record(fields)
                }
                Err(e) => {
                    errors.push(format!(
                        "reading the ledger `{table}`: {}",
                        producer::aws::describe(&e)
                    ));
                    LedgerView::Missing
                }
            };
        }
        for (queue, listed) in dead_letters_by_queue(console).await {
            match listed {
                Some(Ok(letters)) => dead.extend(
                    letters
                        .into_iter()
                        .filter(|l| l.job_id == id || l.message_id == id)
                        .map(|l| (queue.name.clone(), l)),
                ),
                Some(Err(e)) => errors.push(e.to_string()),
                None => {}
            }
        }
    }
    let ledger_state = view
        .fields()
        .iter()
        .find(|(name, _)| name == ledger::field::STATE)
        .map(|(_, value)| value.as_str());
    let outcome = match (ledger_state, dead.is_empty()) {
        (_, false) => "dead: in the dead-letter queue (retry it from there)".to_owned(),
        (Some(state::DONE), _) => "done: it ran and took effect".to_owned(),
        (Some(state::IN_PROGRESS), _) => {
            "running: claimed by a worker (or its lease has not run out since it stopped)".to_owned()
        }
        (Some(state::CANCELLED), _) => "cancelled: it will not run".to_owned(),
        (Some(state::RETRYING), _) => {
            "retrying: it failed and waits for its next try (see `attempt`, `last_error`, `retry_at`)"
                .to_owned()
        }
        (Some(state::RUN_NOW), _) => {
            "run now: sent ahead of its time; the copy carried to its time will stop".to_owned()
        }
        (Some(other), _) => format!("ledger state `{other}`"),
        (None, true) if view.is_off() => {
            "unknown: no dead letter has this id, and without the ledger nothing else is recorded"
                .to_owned()
        }
        (None, true) => {
            "not recorded: no ledger record and no dead letter (not run yet, or its record has expired)"
                .to_owned()
        }
    };
    let page = JobPage {
        frame: pages.frame("job", None),
        id,
        outcome,
        ledger: view,
        dead,
        errors,
    };
    render(StatusCode::OK, &page)
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../assets/console.css"),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../assets/console.js"),
    )
        .into_response()
}

async fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "no such page".into())
}

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

async fn busy(State(pages): State<Arc<Pages>>) -> Response {
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

async fn retries(State(pages): State<Arc<Pages>>) -> Response {
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

async fn scheduled(State(pages): State<Arc<Pages>>, Query(shown): Query<Shown>) -> Response {
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

#[derive(Template)]
#[template(path = "local.html")]
struct LocalPage {
    frame: Frame,
    mails: Result<Vec<super::local::RecordedMail>, String>,
    bucket: Option<String>,
    objects: Result<Vec<super::local::StoredObject>, String>,
    limit: usize,
}

async fn local_page(State(pages): State<Arc<Pages>>) -> Response {
    let console = &pages.console;
    let Some(mode) = &console.local else {
        return plain(
            StatusCode::NOT_FOUND,
            "the Local tab is only there against the local emulators (`--local-mails`, `MOTO_URL`)"
                .into(),
        );
    };
    let mails = super::local::recorded_mails(mode, console.limit).await;
    let objects = match &mode.bucket {
        Some(bucket) => {
            super::local::stored_objects(&console.clients.s3, bucket, console.limit).await
        }
        None => Ok(Vec::new()),
    };
    let page = LocalPage {
        frame: pages.frame("local", None),
        mails,
        bucket: mode.bucket.clone(),
        objects,
        limit: console.limit,
    };
    render(StatusCode::OK, &page)
}

/// A Run now or Cancel button's form.
#[derive(Debug, Deserialize)]
struct ScheduledAction {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
}

async fn run_now(State(pages): State<Arc<Pages>>, Form(action): Form<ScheduledAction>) -> Response {
    change_scheduled(&pages, action, true).await
}

async fn cancel_scheduled(
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
        crate::ledger_lists::run_now(dynamodb, sqs, table, id)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_indented_when_it_is_json() {
        assert_eq!(pretty_body("{\"a\":1}"), "{\n  \"a\": 1\n}");
        assert_eq!(pretty_body("not json <b>"), "not json <b>");
    }

    #[test]
    fn ledger_times_are_shown_as_dates() {
        let shown = shown_value("lease_until", &AttributeValue::N("1796256000".into()));
        assert_eq!(shown, "2026-12-03T00:00:00Z (1796256000)");
        assert_eq!(shown_value("attempts", &AttributeValue::N("3".into())), "3");
    }
}
