//! `jobs schedules`: the EventBridge Scheduler schedules of a group, and the
//! next runs of each in its time zone.

use std::process::ExitCode;

use clap::Args;
use clap::builder::TypedValueParser as _;
use producer::contract::validate::parse_rfc3339;

use super::Output;
use super::output::{Stopped, print_json};

#[derive(Debug, Args)]
pub struct SchedulesArgs {
    /// The schedule group (the stack's output `ScheduleGroupName`).
    #[arg(long, env = crate::periodic::SCHEDULE_GROUP_ENV, default_value = "default")]
    pub group: String,
    /// How many next runs to show for each.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=100).map(usize::from))]
    pub next: usize,
    /// The runs after this time (RFC 3339, such as `2026-03-08T00:00:00Z`) instead of now.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
}

pub(super) async fn schedules(
    scheduler: &aws_sdk_scheduler::Client,
    args: SchedulesArgs,
    output: Output,
) -> Result<ExitCode, Stopped> {
    let after = match &args.from {
        None => jiff::Timestamp::now(),
        Some(text) => parse_rfc3339(text)
            .and_then(|t| jiff::Timestamp::try_from(t).ok())
            .ok_or_else(|| {
                format!(
                    "`--from` takes an RFC 3339 time such as `2026-03-08T00:00:00Z`, not `{text}`"
                )
            })?,
    };
    let schedules = crate::periodic::list_schedules(scheduler, &args.group, after, args.next)
        .await
        .map_err(|e| e.to_string())?;
    let local = |schedule: &crate::periodic::Schedule, t: &jiff::Timestamp| {
        jiff::tz::TimeZone::get(&schedule.timezone)
            .map(|tz| {
                t.to_zoned_datetime(tz)
                    .strftime("%Y-%m-%d %H:%M %:z")
                    .to_string()
            })
            .unwrap_or_else(|_| t.to_string())
    };
    if output == Output::Json {
        let listed: Vec<_> = schedules
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "group": s.group,
                    "state": s.state,
                    "expression": s.expression,
                    "timezone": s.timezone,
                    "queue": s.queue,
                    "kind": s.kind,
                    "job_id": s.job_id,
                    "next_runs": s.next_runs.iter().map(|t| serde_json::json!({
                        "at": t.to_string(),
                        "local": local(s, t),
                    })).collect::<Vec<_>>(),
                    "problem": s.problem,
                })
            })
            .collect();
        print_json(&serde_json::json!({"group": args.group, "schedules": listed}))?;
        return Ok(ExitCode::SUCCESS);
    }
    if schedules.is_empty() {
        outln!("no schedules in group `{}`", args.group)?;
    }
    for (i, schedule) in schedules.iter().enumerate() {
        if i > 0 {
            outln!()?;
        }
        outln!(
            "{}  {}  {} in {}",
            schedule.name,
            schedule.state,
            schedule.expression,
            schedule.timezone
        )?;
        outln!(
            "  puts {} on {}{}",
            schedule
                .kind
                .as_deref()
                .map_or("a message".to_owned(), |k| format!("a `{k}` job")),
            schedule.queue,
            schedule
                .job_id
                .as_deref()
                .map_or(String::new(), |id| format!(" (id `{id}`)"))
        )?;
        if let Some(problem) = &schedule.problem {
            outln!("  next runs unknown: {problem}")?;
        } else if schedule.state != "ENABLED" {
            outln!("  disabled: no runs")?;
        } else if schedule.next_runs.is_empty() {
            outln!("  no runs left")?;
        }
        for run in &schedule.next_runs {
            outln!("  next  {}  ({run})", local(schedule, run))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
