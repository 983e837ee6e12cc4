//! Reads an embedded-metric-format log line by the rules of CloudWatch's
//! published specification ("Specification: Embedded metric format"), and
//! yields the metrics CloudWatch Logs would extract from it. Every rule broken
//! is an error naming it.
//!
//! The rules checked, in the specification's words:
//! - "The LogEvent message MUST be a valid JSON object with no additional data
//!   at the beginning or end"; at most 1 MB (the CloudWatch Logs event limit).
//! - `_aws` "MUST be an object and MUST contain" `CloudWatchMetrics` (an array
//!   of MetricDirective) and `Timestamp`, "the number of milliseconds after
//!   Jan 1, 1970 00:00:00 UTC" (an integer in the specification's schema).
//! - A MetricDirective "MUST contain" `Namespace` (a string, 1 to 1,024
//!   characters in the schema), `Dimensions` (an array of DimensionSets, at
//!   least one) and `Metrics`, which "MUST NOT contain more than 100
//!   MetricDefinition objects". "A DimensionSet MUST NOT contain more than 30
//!   dimension keys"; every key "MUST also be [a member] on the root-node".
//! - A MetricDefinition "MUST contain" `Name` (1 to 1,024 characters in the
//!   schema); `Unit`, if given, one of CloudWatch's units; `StorageResolution`,
//!   if given, 1 or 60.
//! - "A metric target MUST be a numeric value or an array of numeric values.
//!   Numeric array metric targets MUST NOT have more than 100 members. A
//!   dimension target MUST have a string value", which "MUST NOT contain more
//!   than 1024 characters".

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail, ensure};
use serde_json::{Map, Value};

/// The largest log event CloudWatch Logs takes.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// One metric as CloudWatch extracts it: one per directive, dimension set and
/// metric definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    pub namespace: String,
    pub name: String,
    pub unit: String,
    pub dimensions: BTreeMap<String, String>,
    pub values: Vec<f64>,
    pub timestamp_ms: u64,
}

/// Whether a log line is meant as an EMF document (it has an `_aws` member).
pub fn is_emf(line: &str) -> bool {
    serde_json::from_str::<Value>(line)
        .ok()
        .is_some_and(|v| v.get("_aws").is_some())
}

/// The metrics in one EMF log line, or the first rule it breaks.
pub fn extract(line: &str) -> Result<Vec<Extracted>> {
    ensure!(
        line.len() <= MAX_EVENT_BYTES,
        "the event is {} bytes: over the 1 MB limit",
        line.len()
    );
    let root: Value = serde_json::from_str(line.trim_end_matches('\n'))
        .context("the event must be one JSON object and nothing else")?;
    let root = root.as_object().context("the root must be a JSON object")?;
    let metadata = root
        .get("_aws")
        .and_then(Value::as_object)
        .context("`_aws` must be an object")?;
    let timestamp_ms = metadata
        .get("Timestamp")
        .and_then(Value::as_u64)
        .context("`_aws.Timestamp` must be an integer of milliseconds since the epoch")?;
    let directives = metadata
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .context("`_aws.CloudWatchMetrics` must be an array")?;
    let mut extracted = Vec::new();
    for (d, directive) in directives.iter().enumerate() {
        let at = format!("`_aws.CloudWatchMetrics[{d}]`");
        let directive = directive
            .as_object()
            .with_context(|| format!("{at} must be an object"))?;
        let namespace = directive
            .get("Namespace")
            .and_then(Value::as_str)
            .with_context(|| format!("{at}.Namespace must be a string"))?;
        ensure!(
            (1..=1024).contains(&namespace.chars().count()),
            "{at}.Namespace must have 1 to 1024 characters"
        );
        let sets = directive
            .get("Dimensions")
            .and_then(Value::as_array)
            .with_context(|| format!("{at}.Dimensions must be an array"))?;
        ensure!(
            !sets.is_empty(),
            "{at}.Dimensions must have a dimension set"
        );
        let definitions = directive
            .get("Metrics")
            .and_then(Value::as_array)
            .with_context(|| format!("{at}.Metrics must be an array"))?;
        ensure!(
            definitions.len() <= 100,
            "{at}.Metrics has {} definitions: at most 100",
            definitions.len()
        );
        let mut dimension_sets = Vec::new();
        for (s, set) in sets.iter().enumerate() {
            let keys = set
                .as_array()
                .with_context(|| format!("{at}.Dimensions[{s}] must be an array"))?;
            ensure!(
                keys.len() <= 30,
                "{at}.Dimensions[{s}] has {} keys: at most 30",
                keys.len()
            );
            let mut dimensions = BTreeMap::new();
            for key in keys {
                let key = key
                    .as_str()
                    .with_context(|| format!("{at}.Dimensions[{s}] keys must be strings"))?;
                dimensions.insert(key.to_owned(), dimension_value(root, key)?);
            }
            dimension_sets.push(dimensions);
        }
        for (m, definition) in definitions.iter().enumerate() {
            let definition = definition
                .as_object()
                .with_context(|| format!("{at}.Metrics[{m}] must be an object"))?;
            let name = definition
                .get("Name")
                .and_then(Value::as_str)
                .with_context(|| format!("{at}.Metrics[{m}].Name must be a string"))?;
            ensure!(
                (1..=1024).contains(&name.chars().count()),
                "{at}.Metrics[{m}].Name must have 1 to 1024 characters"
            );
            let unit = match definition.get("Unit") {
                None => "None",
                Some(unit) => unit
                    .as_str()
                    .filter(|u| UNITS.contains(u))
                    .with_context(|| {
                        format!("{at}.Metrics[{m}].Unit `{unit}` is not a CloudWatch unit")
                    })?,
            };
            if let Some(resolution) = definition.get("StorageResolution") {
                ensure!(
                    matches!(resolution.as_u64(), Some(1 | 60)),
                    "{at}.Metrics[{m}].StorageResolution must be 1 or 60"
                );
            }
            let values = metric_values(root, name)?;
            for dimensions in &dimension_sets {
                extracted.push(Extracted {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    unit: unit.to_owned(),
                    dimensions: dimensions.clone(),
                    values: values.clone(),
                    timestamp_ms,
                });
            }
        }
    }
    Ok(extracted)
}

fn dimension_value(root: &Map<String, Value>, key: &str) -> Result<String> {
    let Some(value) = root.get(key) else {
        bail!("dimension `{key}` must be a member of the root");
    };
    let value = value
        .as_str()
        .with_context(|| format!("dimension `{key}` must have a string value, not {value}"))?;
    ensure!(
        value.chars().count() <= 1024,
        "dimension `{key}` has over 1024 characters"
    );
    Ok(value.to_owned())
}

fn metric_values(root: &Map<String, Value>, name: &str) -> Result<Vec<f64>> {
    let Some(value) = root.get(name) else {
        bail!("metric `{name}` must be a member of the root");
    };
    let number = |v: &Value| {
        v.as_f64()
            .with_context(|| format!("metric `{name}` must be a number or an array of numbers"))
    };
    match value {
        Value::Array(values) => {
            ensure!(
                values.len() <= 100,
                "metric `{name}` has {} values: at most 100",
                values.len()
            );
            values.iter().map(number).collect()
        }
        other => Ok(vec![number(other)?]),
    }
}
