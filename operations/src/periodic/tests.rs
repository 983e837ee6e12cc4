//! The expression rules, as EventBridge Scheduler documents them.

use super::expression::*;
use jiff::Timestamp;
use jiff::tz::TimeZone;

fn at(text: &str) -> Timestamp {
    text.parse().expect("a timestamp")
}

fn runs(expression: &str, zone: &str, after: &str, count: usize) -> Vec<String> {
    let tz = TimeZone::get(zone).expect("a zone");
    Expression::parse(expression)
        .expect("parsed")
        .next_runs(&tz, at(after), count, None, None)
        .into_iter()
        .map(|t| {
            t.to_zoned_datetime(tz.clone())
                .strftime("%Y-%m-%dT%H:%M%:z")
                .to_string()
        })
        .collect()
}

/// The US set its clocks forward at 02:00 on Sunday 8 March 2026 and back
/// at 02:00 on Sunday 1 November; the EU at 01:00 UTC on 29 March and 25
/// October.
#[test]
fn a_time_the_clocks_skip_is_skipped_and_one_they_repeat_runs_once() {
    // 02:30 does not exist in New York on 8 March: that day has no run.
    assert_eq!(
        runs(
            "cron(30 2 * * ? *)",
            "America/New_York",
            "2026-03-07T00:00:00Z",
            3
        ),
        [
            "2026-03-07T02:30-05:00",
            "2026-03-09T02:30-04:00",
            "2026-03-10T02:30-04:00"
        ]
    );
    // 01:30 happens twice on 1 November: it runs once, at the first.
    assert_eq!(
        runs(
            "cron(30 1 * * ? *)",
            "America/New_York",
            "2026-10-31T00:00:00Z",
            3
        ),
        [
            "2026-10-31T01:30-04:00",
            "2026-11-01T01:30-04:00",
            "2026-11-02T01:30-05:00"
        ]
    );
    // Every 30 minutes across the EU's change in Berlin (02:00 → 03:00).
    assert_eq!(
        runs(
            "cron(0/30 * * * ? *)",
            "Europe/Berlin",
            "2026-03-29T00:15:00Z",
            3
        ),
        [
            "2026-03-29T01:30+01:00",
            "2026-03-29T03:00+02:00",
            "2026-03-29T03:30+02:00"
        ]
    );
    // And back (03:00 → 02:00 on 25 October): 02:00 and 02:30 once each.
    assert_eq!(
        runs(
            "cron(0/30 2 * * ? *)",
            "Europe/Berlin",
            "2026-10-24T23:00:00Z",
            3
        ),
        [
            "2026-10-25T02:00+02:00",
            "2026-10-25T02:30+02:00",
            "2026-10-26T02:00+01:00"
        ]
    );
    // A nightly run at 02:00 in London keeps its local time across the change.
    assert_eq!(
        runs(
            "cron(0 2 * * ? *)",
            "Europe/London",
            "2026-03-28T12:00:00Z",
            2
        ),
        ["2026-03-29T02:00+01:00", "2026-03-30T02:00+01:00"]
    );
}

/// A rate counts fixed durations from its start: across the US change,
/// a daily rate moves an hour on the clock.
#[test]
fn a_rate_is_fixed_durations_from_its_start() {
    let tz = TimeZone::get("America/New_York").expect("zone");
    let rate = Expression::parse("rate(1 day)").expect("parsed");
    let runs: Vec<String> = rate
        .next_runs(
            &tz,
            at("2026-03-07T12:00:00Z"),
            3,
            Some(at("2026-03-01T07:00:00Z")),
            None,
        )
        .into_iter()
        .map(|t| {
            t.to_zoned_datetime(tz.clone())
                .strftime("%Y-%m-%dT%H:%M%:z")
                .to_string()
        })
        .collect();
    assert_eq!(
        runs,
        [
            "2026-03-08T03:00-04:00",
            "2026-03-09T03:00-04:00",
            "2026-03-10T03:00-04:00"
        ]
    );
    assert_eq!(
        Expression::parse("rate(15 minutes)")
            .expect("parsed")
            .next_runs(
                &tz,
                at("2026-03-07T11:00:00Z"),
                3,
                Some(at("2026-03-07T12:00:00Z")),
                Some(at("2026-03-07T12:10:00Z"))
            ),
        vec![at("2026-03-07T12:00:00Z")],
        "the start itself is a run, and none past the end"
    );
    assert!(
        rate.next_runs(&tz, at("2026-03-07T12:00:00Z"), 3, None, None)
            .is_empty()
    );
}

#[test]
fn days_of_the_month_and_of_the_week() {
    // The last day of the month, and the last weekday.
    assert_eq!(
        runs("cron(0 9 L * ? *)", "UTC", "2026-01-31T10:00:00Z", 2),
        ["2026-02-28T09:00+00:00", "2026-03-31T09:00+00:00"]
    );
    assert_eq!(
        runs("cron(0 9 LW * ? *)", "UTC", "2026-05-01T00:00:00Z", 1),
        ["2026-05-29T09:00+00:00"]
    );
    // 15W: 15 August 2026 is a Saturday, so Friday the 14th.
    assert_eq!(
        runs("cron(0 9 15W 8 ? *)", "UTC", "2026-08-01T00:00:00Z", 1),
        ["2026-08-14T09:00+00:00"]
    );
    // Weekdays at 08:00, named.
    assert_eq!(
        runs("cron(0 8 ? * MON-FRI *)", "UTC", "2026-12-04T09:00:00Z", 2),
        ["2026-12-07T08:00+00:00", "2026-12-08T08:00+00:00"]
    );
    // The second Tuesday, and the last Friday, of the month.
    assert_eq!(
        runs("cron(0 12 ? * 3#2 *)", "UTC", "2026-12-01T00:00:00Z", 1),
        ["2026-12-08T12:00+00:00"]
    );
    assert_eq!(
        runs("cron(0 12 ? * 6L *)", "UTC", "2026-12-01T00:00:00Z", 1),
        ["2026-12-25T12:00+00:00"]
    );
    // A year list ends the runs.
    assert_eq!(
        runs(
            "cron(0 0 1 JAN ? 2027,2028)",
            "UTC",
            "2026-06-01T00:00:00Z",
            5
        ),
        ["2027-01-01T00:00+00:00", "2028-01-01T00:00+00:00"]
    );
    assert_eq!(
        runs(
            "at(2026-12-24T18:00:00)",
            "Europe/Paris",
            "2026-12-01T00:00:00Z",
            3
        ),
        ["2026-12-24T18:00+01:00"]
    );
}

#[test]
fn broken_expressions_say_what_is_wrong() {
    for (expression, problem) in [
        ("cron(0 2 * * *)", "six fields"),
        ("cron(0 2 * * * *)", "cannot both be given"),
        ("cron(0 2 ? * ? *)", "not both"),
        ("cron(60 2 * * ? *)", "outside 0–59"),
        ("cron(0 2 * FOO ? *)", "not a number or a name"),
        ("cron(0 2 ? * 2#9 *)", "from 1 to 5"),
        ("cron(0 20-2 * * ? *)", "backwards"),
        ("rate(0 minutes)", "above 0"),
        ("rate(5 weeks)", "not minutes, hours or days"),
        ("at(tomorrow)", "yyyy-mm-dd"),
        ("every day", "not `cron(…)`"),
    ] {
        let error = Expression::parse(expression).expect_err(expression);
        assert!(error.to_string().contains(problem), "{expression}: {error}");
    }
}
