//! Schedule expressions, and the runs they make, as EventBridge Scheduler
//! documents them (the Scheduler API does not say when a schedule fires next):
//!
//! - `cron(minutes hours day-of-month month day-of-week year)` in the
//!   schedule's time zone, with `, - * ? /`, `L` and `W` in the day of the
//!   month, `L` and `#` in the day of the week, and `JAN`–`DEC`, `SUN`–`SAT`
//!   (`SUN` is 1).
//! - When the clocks go forward, a time that does not exist that day is
//!   skipped. When they go back, a time that happens twice runs once: at its
//!   first occurrence.
//! - `rate(value minutes|hours|days)`: fixed durations (a day is 24 hours,
//!   whatever the clocks do) from the schedule's start date, or its creation.
//! - `at(yyyy-mm-ddThh:mm:ss)`: once, at that time in the time zone.

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

/// A schedule expression that cannot be read, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{expression}` is not a schedule expression EventBridge Scheduler takes: {problem}")]
pub struct ExpressionError {
    pub expression: String,
    pub problem: String,
}

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expression {
    Cron(Box<Cron>),
    Rate(SignedDuration),
    At(DateTime),
}

/// The six fields of a cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days: DayRule,
    /// Bit `m` for month `m` (1–12).
    months: u16,
    /// `None` for `*`: every year.
    years: Option<Vec<i16>>,
}

/// Which days a cron expression runs on: by the day of the month, or of the week.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DayRule {
    /// Bit `d` for day `d` (1–31); and `L` (the last day), `LW` (the last
    /// weekday), `nW` (the weekday nearest to day `n`, within the month).
    OfMonth {
        days: u32,
        last: bool,
        last_weekday: bool,
        nearest_weekday: Vec<i8>,
    },
    /// Bit `d` for weekday `d` (1 = Sunday … 7 = Saturday); `dL` (the last
    /// such weekday of the month); `d#n` (its `n`th of the month).
    OfWeek {
        days: u8,
        last: Vec<i8>,
        nth: Vec<(i8, i8)>,
    },
}

impl Expression {
    pub fn parse(expression: &str) -> Result<Expression, ExpressionError> {
        let fail = |problem: String| ExpressionError {
            expression: expression.to_owned(),
            problem,
        };
        let text = expression.trim();
        let inner = |prefix: &str| {
            text.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(')'))
        };
        if let Some(body) = inner("cron(") {
            return Cron::parse(body)
                .map(|c| Expression::Cron(Box::new(c)))
                .map_err(fail);
        }
        if let Some(body) = inner("rate(") {
            return parse_rate(body).map(Expression::Rate).map_err(fail);
        }
        if let Some(body) = inner("at(") {
            return body
                .trim()
                .parse::<DateTime>()
                .map(Expression::At)
                .map_err(|e| fail(format!("`at(…)` takes `yyyy-mm-ddThh:mm:ss`: {e}")));
        }
        Err(fail("it is not `cron(…)`, `rate(…)` or `at(…)`".to_owned()))
    }

    /// The next `count` runs after `after`, in `tz`. `start` is the first
    /// run of a rate (the schedule's start date, else its creation); `start`
    /// and `end` bound every kind.
    pub fn next_runs(
        &self,
        tz: &TimeZone,
        after: Timestamp,
        count: usize,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    ) -> Vec<Timestamp> {
        let after = match start {
            // A run at the start itself counts.
            Some(start) if start > after => start - SignedDuration::from_nanos(1),
            _ => after,
        };
        let before_end = |t: &Timestamp| end.is_none_or(|end| *t <= end);
        match self {
            Expression::Cron(cron) => cron
                .runs_after(tz, after)
                .take_while(before_end)
                .take(count)
                .collect(),
            Expression::Rate(every) => {
                let Some(first) = start else {
                    return Vec::new();
                };
                let every_ns = every.as_nanos().max(1);
                let passed = (after.duration_since(first).as_nanos()).max(-1);
                let next = if passed < 0 { 0 } else { passed / every_ns + 1 };
                (next..)
                    .map_while(|n| {
                        i32::try_from(n)
                            .ok()
                            .and_then(|n| every.checked_mul(n))
                            .and_then(|offset| first.checked_add(offset).ok())
                    })
                    .take_while(before_end)
                    .take(count)
                    .collect()
            }
            Expression::At(at) => instant(tz, *at)
                .filter(|t| *t > after && before_end(t))
                .into_iter()
                .take(count)
                .collect(),
        }
    }
}

/// When a local time happens in `tz`, as EventBridge Scheduler runs it:
/// not at all in a gap (the clocks went forward past it), the first time in
/// a fold (they went back over it).
fn instant(tz: &TimeZone, local: DateTime) -> Option<Timestamp> {
    match tz.to_ambiguous_timestamp(local).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(local).ok(),
        AmbiguousOffset::Gap { .. } => None,
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(local).ok(),
    }
}

fn parse_rate(body: &str) -> Result<SignedDuration, String> {
    let mut parts = body.split_whitespace();
    let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("`rate(…)` takes a value and a unit, such as `rate(5 minutes)`".into());
    };
    let value: i64 = value
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("the rate's value `{value}` is not a whole number above 0"))?;
    let seconds = match unit {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3_600,
        "day" | "days" => 86_400,
        _ => {
            return Err(format!(
                "the rate's unit `{unit}` is not minutes, hours or days"
            ));
        }
    };
    value
        .checked_mul(seconds)
        .map(SignedDuration::from_secs)
        .ok_or_else(|| "the rate is too long".to_owned())
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    fn parse(body: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = body.split_whitespace().collect();
        let [minutes, hours, day_of_month, month, day_of_week, year] = fields[..] else {
            return Err(format!(
                "a cron expression has six fields (minutes hours day-of-month month day-of-week year), not {}",
                fields.len()
            ));
        };
        let minutes = values(minutes, "minutes", 0, 59, &[])?
            .into_iter()
            .fold(0u64, |bits, m| bits | 1 << m);
        let hours = values(hours, "hours", 0, 23, &[])?
            .into_iter()
            .fold(0u32, |bits, h| bits | 1 << h);
        let months = values(month, "month", 1, 12, &MONTHS)?
            .into_iter()
            .fold(0u16, |bits, m| bits | 1 << m);
        let years = if year == "*" {
            None
        } else {
            Some(
                values(year, "year", 1970, 2199, &[])?
                    .into_iter()
                    .map(|y| y as i16)
                    .collect(),
            )
        };
        let days = match (day_of_month, day_of_week) {
            ("?", "?") => {
                return Err("one of day-of-month and day-of-week must be `?`, not both".into());
            }
            (_, "?") => month_days(day_of_month)?,
            ("?", _) => week_days(day_of_week)?,
            _ => {
                return Err(
                    "day-of-month and day-of-week cannot both be given: one of them must be `?`"
                        .into(),
                );
            }
        };
        Ok(Cron {
            minutes,
            hours,
            days,
            months,
            years,
        })
    }

    /// Every run after `after`, in order: each day that matches, each hour
    /// and minute of it, as the time zone places them.
    fn runs_after(&self, tz: &TimeZone, after: Timestamp) -> impl Iterator<Item = Timestamp> {
        let first_day = tz.to_datetime(after).date();
        // Up to the last year a cron expression may name.
        let days = std::iter::successors(Some(first_day), |d| d.tomorrow().ok())
            .take_while(|d| d.year() <= 2199);
        let cron = self.clone();
        let tz = tz.clone();
        days.filter(move |date| cron.runs_on(*date))
            .flat_map({
                let cron = self.clone();
                move |date| {
                    let tz = tz.clone();
                    let minutes = cron.minutes;
                    (0..24)
                        .filter(move |h| cron.hours & (1 << h) != 0)
                        .flat_map(move |h| {
                            (0..60)
                                .filter(move |m| minutes & (1 << m) != 0)
                                .map(move |m| date.at(h as i8, m as i8, 0, 0))
                        })
                        .filter_map(move |local| instant(&tz, local))
                }
            })
            .filter(move |t| *t > after)
    }

    fn runs_on(&self, date: Date) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        if let Some(years) = &self.years
            && !years.contains(&date.year())
        {
            return false;
        }
        let day = date.day();
        match &self.days {
            DayRule::OfMonth {
                days,
                last,
                last_weekday,
                nearest_weekday,
            } => {
                days & (1 << day) != 0
                    || (*last && day == date.days_in_month())
                    || (*last_weekday && date == last_weekday_of(date))
                    || nearest_weekday
                        .iter()
                        .any(|n| nearest_weekday_to(date, *n) == Some(date))
            }
            DayRule::OfWeek { days, last, nth } => {
                let weekday = date.weekday().to_sunday_one_offset();
                days & (1 << weekday) != 0
                    || (last.contains(&weekday) && day + 7 > date.days_in_month())
                    || nth.contains(&(weekday, (day - 1) / 7 + 1))
            }
        }
    }
}

fn is_weekday(date: Date) -> bool {
    !matches!(date.weekday().to_sunday_one_offset(), 1 | 7)
}

fn last_weekday_of(date: Date) -> Date {
    let mut last = date.last_of_month();
    while !is_weekday(last) {
        last = last.yesterday().unwrap_or(last);
    }
    last
}

/// The weekday nearest to day `n` of `date`'s month, not leaving the month
/// (`nW`); `None` when the month has no day `n`.
fn nearest_weekday_to(date: Date, n: i8) -> Option<Date> {
    let target = Date::new(date.year(), date.month(), n).ok()?;
    if is_weekday(target) {
        return Some(target);
    }
    let saturday = target.weekday().to_sunday_one_offset() == 7;
    let (near, far) = if saturday { (-1, 2) } else { (1, -2) };
    let shifted = |by: i64| {
        target
            .checked_add(SignedDuration::from_hours(24 * by))
            .ok()
            .filter(|d| d.month() == target.month())
    };
    shifted(near).or_else(|| shifted(far))
}

fn month_days(field: &str) -> Result<DayRule, String> {
    let mut days = 0u32;
    let mut last = false;
    let mut last_weekday = false;
    let mut nearest_weekday = Vec::new();
    for part in field.split(',') {
        match part {
            "L" => last = true,
            "LW" => last_weekday = true,
            _ if part.len() > 1 && part.ends_with('W') => {
                let n = part[..part.len() - 1]
                    .parse::<i8>()
                    .ok()
                    .filter(|n| (1..=31).contains(n))
                    .ok_or_else(|| {
                        format!("day-of-month `{part}`: `nW` takes a day from 1 to 31")
                    })?;
                nearest_weekday.push(n);
            }
            _ => {
                for day in values(part, "day-of-month", 1, 31, &[])? {
                    days |= 1 << day;
                }
            }
        }
    }
    Ok(DayRule::OfMonth {
        days,
        last,
        last_weekday,
        nearest_weekday,
    })
}

fn week_days(field: &str) -> Result<DayRule, String> {
    let mut days = 0u8;
    let mut last = Vec::new();
    let mut nth = Vec::new();
    let weekday = |text: &str| -> Result<i8, String> {
        values(text, "day-of-week", 1, 7, &WEEKDAYS)?
            .first()
            .map(|d| *d as i8)
            .filter(|_| !text.contains([',', '-', '/', '*']))
            .ok_or_else(|| format!("day-of-week `{text}` is not one day"))
    };
    for part in field.split(',') {
        if part == "L" {
            // The last day of the week: Saturday.
            days |= 1 << 7;
        } else if let Some(day) = part.strip_suffix('L') {
            last.push(weekday(day)?);
        } else if let Some((day, n)) = part.split_once('#') {
            let n = n
                .parse::<i8>()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .ok_or_else(|| format!("day-of-week `{part}`: `#n` takes n from 1 to 5"))?;
            nth.push((weekday(day)?, n));
        } else {
            for day in values(part, "day-of-week", 1, 7, &WEEKDAYS)? {
                days |= 1 << day;
            }
        }
    }
    Ok(DayRule::OfWeek { days, last, nth })
}

/// The values a field's list of `*`, `a`, `a-b`, with `/step`, names.
fn values(field: &str, name: &str, min: u32, max: u32, names: &[&str]) -> Result<Vec<u32>, String> {
    let value = |text: &str| -> Result<u32, String> {
        let upper = text.to_ascii_uppercase();
        let number = names
            .iter()
            .position(|n| *n == upper)
            .map(|i| i as u32 + min)
            .or_else(|| text.parse().ok())
            .ok_or_else(|| format!("{name} `{text}` is not a number or a name it takes"))?;
        if (min..=max).contains(&number) {
            Ok(number)
        } else {
            Err(format!("{name} `{text}` is outside {min}–{max}"))
        }
    };
    let mut out = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 =
                    step.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!("{name} `{part}`: the step is not a number above 0")
                    })?;
                (range, step)
            }
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                // `a/step` runs from `a` to the field's end.
                None if part.contains('/') => (value(range)?, max),
                None => {
                    let v = value(range)?;
                    (v, v)
                }
            },
        };
        if from > to {
            return Err(format!("{name} `{part}`: the range runs backwards"));
        }
        out.extend((from..=to).step_by(step as usize));
    }
    Ok(out)
}
