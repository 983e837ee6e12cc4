//! A job's page: what the ledger says of it, and its dead letters.

use std::sync::Arc;

use askama::Template;
use aws_sdk_dynamodb::types::AttributeValue;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::dead::dead_letters_by_queue;
use super::{Frame, Pages, render};
use crate::dead_letters::DeadLetter;

#[derive(Debug, Deserialize)]
pub(super) struct JobQuery {
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

pub(super) async fn job(
    State(pages): State<Arc<Pages>>,
    Query(query): Query<JobQuery>,
) -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_times_are_shown_as_dates() {
        let shown = shown_value("lease_until", &AttributeValue::N("1796256000".into()));
        assert_eq!(shown, "2026-12-03T00:00:00Z (1796256000)");
        assert_eq!(shown_value("attempts", &AttributeValue::N("3".into())), "3");
    }
}
