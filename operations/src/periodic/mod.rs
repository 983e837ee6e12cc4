//! Periodic jobs: EventBridge Scheduler schedules that put a job envelope on
//! a queue, and their next runs, behind `jobs schedules`. The runs are
//! computed from each schedule's expression and time zone ([`expression`]).

pub mod expression;
#[cfg(test)]
mod tests;

use jiff::Timestamp;
use jiff::tz::TimeZone;

pub use expression::{Cron, Expression, ExpressionError};

/// The placeholder EventBridge Scheduler replaces with a firing's time, in
/// UTC (`2026-12-04T02:00:00Z`): in a job's id, each firing is its own job.
pub const SCHEDULED_TIME: &str = "<aws.scheduler.scheduled-time>";

pub const SCHEDULE_GROUP_ENV: &str = "JOBS_SCHEDULE_GROUP";

/// A schedule as `jobs schedules` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub name: String,
    pub group: String,
    /// `ENABLED` or `DISABLED`.
    pub state: String,
    pub expression: String,
    /// The IANA zone its expression is read in (`UTC` when none is set).
    pub timezone: String,
    /// The queue it puts jobs on (the target's ARN's last part).
    pub queue: String,
    /// The job's kind and id, from the target's `Input` when it is an envelope.
    pub kind: Option<String>,
    pub job_id: Option<String>,
    /// Its next runs, when it is enabled and its expression and zone read.
    pub next_runs: Vec<Timestamp>,
    /// Why no runs could be computed.
    pub problem: Option<String>,
}

/// The schedules of a group, with their next `count` runs after `after`.
/// Each schedule is read with `GetSchedule` (the list gives no expression),
/// a few at a time.
pub async fn list_schedules(
    scheduler: &aws_sdk_scheduler::Client,
    group: &str,
    after: Timestamp,
    count: usize,
) -> Result<Vec<Schedule>, crate::OpsError> {
    use futures::StreamExt as _;

    let target = format!("schedule group `{group}`");
    let mut names = Vec::new();
    let mut pages = scheduler
        .list_schedules()
        .group_name(group)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(crate::ops_error("ListSchedules", &target))?;
        names.extend(page.schedules.into_iter().filter_map(|s| s.name));
    }
    names.sort();
    let schedules: Vec<Result<Schedule, crate::OpsError>> = futures::stream::iter(names)
        .map(|name| {
            let target = &target;
            async move {
                let got = scheduler
                    .get_schedule()
                    .group_name(group)
                    .name(&name)
                    .send()
                    .await
                    .map_err(crate::ops_error("GetSchedule", target))?;
                Ok(describe(name, group, got, after, count))
            }
        })
        .buffered(8)
        .collect()
        .await;
    schedules.into_iter().collect()
}

fn describe(
    name: String,
    group: &str,
    got: aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput,
    after: Timestamp,
    count: usize,
) -> Schedule {
    let time = |t: Option<&aws_smithy_types::DateTime>| {
        t.and_then(|t| Timestamp::from_second(t.secs()).ok())
    };
    let state = got
        .state
        .as_ref()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    let expression = got.schedule_expression.clone().unwrap_or_default();
    let timezone = got
        .schedule_expression_timezone
        .clone()
        .filter(|z| !z.is_empty())
        .unwrap_or_else(|| "UTC".to_owned());
    let input = got.target.as_ref().and_then(|t| t.input.clone());
    let envelope: Option<serde_json::Value> =
        input.as_deref().and_then(|i| serde_json::from_str(i).ok());
    let text = |key: &str| {
        envelope
            .as_ref()
            .and_then(|e| e.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let queue = got
        .target
        .as_ref()
        .map(|t| t.arn.rsplit(':').next().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let mut schedule = Schedule {
        name,
        group: group.to_owned(),
        state,
        expression,
        timezone,
        queue,
        kind: text("kind"),
        job_id: text("id"),
        next_runs: Vec::new(),
        problem: None,
    };
    let parsed = Expression::parse(&schedule.expression).map_err(|e| e.to_string());
    let zone = TimeZone::get(&schedule.timezone)
        .map_err(|e| format!("`{}` is not a time zone: {e}", schedule.timezone));
    match (parsed, zone) {
        (Ok(expression), Ok(zone)) => {
            if schedule.state == "ENABLED" {
                // A rate counts from its start date, else from its creation.
                let start = match expression {
                    Expression::Rate(_) => got.start_date.as_ref().or(got.creation_date.as_ref()),
                    _ => got.start_date.as_ref(),
                };
                let start = time(start);
                schedule.next_runs =
                    expression.next_runs(&zone, after, count, start, time(got.end_date.as_ref()));
            }
        }
        (Err(problem), _) | (_, Err(problem)) => schedule.problem = Some(problem),
    }
    schedule
}
