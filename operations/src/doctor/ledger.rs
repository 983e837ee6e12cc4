//! The idempotency ledger's table: its key and its TTL.

use super::*;

pub(super) async fn check_ledger(cx: &Context<'_>, table: Option<&str>) -> Vec<Check> {
    let Some(table) = table else {
        return vec![
            Check::unchecked(
                name::LEDGER_TABLE,
                format!(
                    "no ledger table given: pass `--table` or set `{TABLE_ENV}` (without the ledger, every delivery of a job runs)"
                ),
            ),
            Check::unchecked(
                name::LEDGER_TTL,
                "needs the ledger table (see `ledger table`)",
            ),
        ];
    };
    let arn = format!(
        "arn:{}:dynamodb:{}:{}:table/{table}",
        cx.partition(),
        cx.region,
        cx.account()
    );
    let described = cx
        .clients
        .dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await;
    let table_check = match &described {
        Ok(output) => table_shape(table, output.table()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Check::problem(
                name::LEDGER_TABLE,
                format!("there is no table `{table}` in `{}`", cx.region),
                format!(
                    "pass the ledger table the stack created as `--table` or `{TABLE_ENV}`, or deploy the stack (it creates the idempotency table, keyed by `{}`, with TTL on `{}`)",
                    field::JOB_ID,
                    field::EXPIRES_AT
                ),
            )
        }
        Err(e) => cx.failure(
            name::LEDGER_TABLE,
            "DescribeTable",
            "dynamodb:DescribeTable",
            &arn,
            e,
        ),
    };
    let ttl_check = if described.is_err() {
        Check::unchecked(
            name::LEDGER_TTL,
            "needs the ledger table (see `ledger table`)",
        )
    } else {
        ttl(cx, table, &arn).await
    };
    vec![table_check, ttl_check]
}

/// The table exists; its key must be the ledger's.
pub(super) fn table_shape(
    table: &str,
    description: Option<&aws_sdk_dynamodb::types::TableDescription>,
) -> Check {
    use aws_sdk_dynamodb::types::{KeyType, TableStatus};
    const NAME: &str = name::LEDGER_TABLE;
    let Some(description) = description else {
        return Check::ok(NAME, format!("`{table}` exists"));
    };
    let status = description
        .table_status()
        .map_or("UNKNOWN", TableStatus::as_str);
    let key: Vec<&str> = description
        .key_schema()
        .iter()
        .filter(|k| *k.key_type() == KeyType::Hash)
        .map(|k| k.attribute_name())
        .collect();
    if !key.is_empty() && key != [field::JOB_ID] {
        return Check::problem(
            NAME,
            format!(
                "`{table}` is keyed by `{}`, not by `{}`: it is not a ledger table",
                key.join("`, `"),
                field::JOB_ID
            ),
            format!(
                "pass the ledger table the stack created (partition key `{}`, a string) as `--table` or `{TABLE_ENV}`",
                field::JOB_ID
            ),
        );
    }
    match description.table_status() {
        Some(TableStatus::Active | TableStatus::Updating) | None => {
            Check::ok(NAME, format!("`{table}` is `{status}`"))
        }
        Some(_) => Check::problem(
            NAME,
            format!("`{table}` is `{status}`, not `ACTIVE`"),
            "wait until it is `ACTIVE` (a table being created), or deploy the stack again (a table being deleted or archived)",
        ),
    }
}

pub(super) async fn ttl(cx: &Context<'_>, table: &str, arn: &str) -> Check {
    use aws_sdk_dynamodb::types::TimeToLiveStatus;
    const NAME: &str = name::LEDGER_TTL;
    let enable = format!(
        "turn TTL on for `{}`: `aws dynamodb update-time-to-live --table-name {table} --time-to-live-specification Enabled=true,AttributeName={}` (the stack's table has it)",
        field::EXPIRES_AT,
        field::EXPIRES_AT
    );
    match cx
        .clients
        .dynamodb
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
    {
        Ok(output) => {
            let description = output.time_to_live_description();
            let status = description.and_then(|d| d.time_to_live_status());
            let attribute = description.and_then(|d| d.attribute_name());
            match (status, attribute) {
                (Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling), Some(a))
                    if a == field::EXPIRES_AT =>
                {
                    Check::ok(
                        NAME,
                        format!(
                            "`{}` on `{a}`: done job ids are removed when they expire",
                            status.map_or("", TimeToLiveStatus::as_str)
                        ),
                    )
                }
                (Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling), a) => {
                    Check::problem(
                        NAME,
                        format!(
                            "TTL is on `{}`, not on `{}`: done job ids are never removed",
                            a.unwrap_or("no attribute"),
                            field::EXPIRES_AT
                        ),
                        enable,
                    )
                }
                (status, _) => Check::problem(
                    NAME,
                    format!(
                        "TTL is `{}`: done job ids are never removed and the table grows without end",
                        status.map_or("DISABLED", TimeToLiveStatus::as_str)
                    ),
                    enable,
                ),
            }
        }
        Err(e) => cx.failure(
            NAME,
            "DescribeTimeToLive",
            "dynamodb:DescribeTimeToLive",
            arn,
            &e,
        ),
    }
}
