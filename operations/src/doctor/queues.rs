//! The job queue, its dead-letter queue, the redrive policy between them and the
//! visibility timeout.

use super::*;

/// The ARN of the queue at `url`, guessed from the URL's last two segments
/// (account and name), for a fix when the queue's own attributes cannot be read.
pub(super) fn queue_arn_of(cx: &Context<'_>, url: &str) -> String {
    let name = producer::send::queue::queue_name_of(url);
    let account = url
        .trim_end_matches('/')
        .rsplit('/')
        .nth(1)
        .filter(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or(cx.account());
    format!("arn:{}:sqs:{}:{account}:{name}", cx.partition(), cx.region)
}

/// A queue's attributes, or the check that says why they could not be read.
pub(super) async fn queue_attributes(
    cx: &Context<'_>,
    check: &'static str,
    url: &str,
    flag: &str,
) -> Result<std::collections::HashMap<QueueAttributeName, String>, Check> {
    match cx
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .attribute_names(QueueAttributeName::VisibilityTimeout)
        .send()
        .await
    {
        Ok(output) => Ok(output.attributes.unwrap_or_default()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_queue_does_not_exist())
                || e.code().is_some_and(|c| c.contains("NonExistentQueue")) =>
        {
            Err(Check::problem(
                check,
                format!(
                    "`{url}` does not exist ({})",
                    e.code().unwrap_or("QueueDoesNotExist")
                ),
                format!(
                    "pass the queue's URL as {flag} (the stack's `{}` output), or deploy the stack that creates it",
                    if check == name::QUEUE {
                        "JobQueueUrl"
                    } else {
                        "DeadLetterQueueUrl"
                    }
                ),
            ))
        }
        Err(e) => Err(cx.failure(
            check,
            "GetQueueAttributes",
            "sqs:GetQueueAttributes",
            &queue_arn_of(cx, url),
            &e,
        )),
    }
}

pub(super) async fn check_queues(
    cx: &Context<'_>,
    queue_url: Option<&str>,
    dlq_url: Option<&str>,
    function_timeout: Option<u32>,
) -> Vec<Check> {
    let queue_flag = format!("`--queue-url` or `{QUEUE_URL_ENV}`");
    let dlq_flag = "`--dlq-url` or `JOBS_DLQ_URL`";
    let (queue, queue_attrs) = match queue_url {
        None => (
            Check::unchecked(
                name::QUEUE,
                format!("no job queue given: pass `--queue-url` or set `{QUEUE_URL_ENV}`"),
            ),
            None,
        ),
        Some(url) => match queue_attributes(cx, name::QUEUE, url, &queue_flag).await {
            Ok(attrs) => (
                Check::ok(
                    name::QUEUE,
                    format!(
                        "`{}` is reachable",
                        attrs
                            .get(&QueueAttributeName::QueueArn)
                            .map_or(url, String::as_str)
                    ),
                ),
                Some(attrs),
            ),
            Err(check) => (check, None),
        },
    };
    // Without one given, the dead-letter queue is the one the redrive policy names.
    let derived = match (dlq_url, &queue_attrs) {
        (None, Some(attrs)) => match redrive_target(attrs) {
            Some(arn) => crate::queues::queue_url_of_arn(&cx.clients.sqs, &arn)
                .await
                .ok(),
            None => None,
        },
        _ => None,
    };
    let dlq_url = dlq_url.or(derived.as_deref());
    let (dlq, dlq_arn) = match dlq_url {
        None => (
            Check::unchecked(
                name::DEAD_LETTER_QUEUE,
                "no dead-letter queue given: pass `--dlq-url` or set `JOBS_DLQ_URL`",
            ),
            None,
        ),
        Some(url) => match queue_attributes(cx, name::DEAD_LETTER_QUEUE, url, dlq_flag).await {
            Ok(attrs) => {
                let arn = attrs.get(&QueueAttributeName::QueueArn).cloned();
                (
                    Check::ok(
                        name::DEAD_LETTER_QUEUE,
                        format!("`{}` is reachable", arn.as_deref().unwrap_or(url)),
                    ),
                    arn,
                )
            }
            Err(check) => (check, None),
        },
    };
    let redrive = match &queue_attrs {
        None => Check::unchecked(name::REDRIVE_POLICY, "needs the job queue (see `queue`)"),
        Some(attrs) => redrive_check(attrs, dlq_url, dlq_arn.as_deref()),
    };
    let visibility = match &queue_attrs {
        None => Check::unchecked(
            name::VISIBILITY_TIMEOUT,
            "needs the job queue (see `queue`)",
        ),
        Some(attrs) => visibility_check(attrs, queue_url.unwrap_or_default(), function_timeout),
    };
    vec![queue, dlq, redrive, visibility]
}

/// The `deadLetterTargetArn` of a queue's redrive policy.
fn redrive_target(attrs: &std::collections::HashMap<QueueAttributeName, String>) -> Option<String> {
    let policy = attrs.get(&QueueAttributeName::RedrivePolicy)?;
    let policy: serde_json::Value = serde_json::from_str(policy).ok()?;
    policy
        .get("deadLetterTargetArn")?
        .as_str()
        .map(str::to_owned)
}

pub(super) fn redrive_check(
    attrs: &std::collections::HashMap<QueueAttributeName, String>,
    dlq_url: Option<&str>,
    dlq_arn: Option<&str>,
) -> Check {
    const NAME: &str = name::REDRIVE_POLICY;
    let target = dlq_arn.unwrap_or("DLQ_ARN");
    let set_it = format!(
        "give the job queue a `RedrivePolicy` of `{{\"deadLetterTargetArn\":\"{target}\",\"maxReceiveCount\":5}}` (the stack's template sets it from `MaxReceiveCount`; or `aws sqs set-queue-attributes`)"
    );
    let Some(policy) = attrs.get(&QueueAttributeName::RedrivePolicy) else {
        return Check::problem(
            NAME,
            "the job queue has no `RedrivePolicy`: a job that keeps failing comes back until the queue's retention ends, then it is lost",
            set_it,
        );
    };
    let parsed: Option<(String, Option<u64>)> = serde_json::from_str::<serde_json::Value>(policy)
        .ok()
        .and_then(|v| {
            let arn = v.get("deadLetterTargetArn")?.as_str()?.to_owned();
            // SQS gives the count as a number or as a string.
            let count = v.get("maxReceiveCount").and_then(|c| {
                c.as_u64()
                    .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
            });
            Some((arn, count))
        });
    let Some((arn, count)) = parsed else {
        return Check::problem(
            NAME,
            format!("the job queue's `RedrivePolicy` names no `deadLetterTargetArn`: `{policy}`"),
            set_it,
        );
    };
    let after = count.map_or_else(String::new, |c| format!(" after {c} deliveries"));
    match dlq_arn {
        Some(dlq) if dlq == arn => Check::ok(
            NAME,
            format!("failed jobs go to the dead-letter queue `{arn}`{after}"),
        ),
        Some(dlq) => Check::problem(
            NAME,
            format!("failed jobs go to `{arn}`{after}, not to the dead-letter queue `{dlq}`"),
            format!(
                "point the job queue's `deadLetterTargetArn` at `{dlq}`, or pass the queue that `{arn}` names as `--dlq-url`"
            ),
        ),
        None if dlq_url.is_some() => Check::unchecked(
            NAME,
            format!(
                "failed jobs go to `{arn}`{after}; not compared, since the dead-letter queue could not be read (see `dead-letter queue`)"
            ),
        ),
        None => Check::ok(
            NAME,
            format!(
                "failed jobs go to `{arn}`{after} (pass `--dlq-url` to check it is the dead-letter queue)"
            ),
        ),
    }
}

pub(super) fn visibility_check(
    attrs: &std::collections::HashMap<QueueAttributeName, String>,
    queue_url: &str,
    function_timeout: Option<u32>,
) -> Check {
    const NAME: &str = name::VISIBILITY_TIMEOUT;
    let Some(visibility) = attrs
        .get(&QueueAttributeName::VisibilityTimeout)
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return Check::unchecked(NAME, "the queue did not say its `VisibilityTimeout`");
    };
    let Some(timeout) = function_timeout else {
        return Check::unchecked(
            NAME,
            format!(
                "`{visibility}` s; pass `--function-timeout SECONDS` (the Lambda function's timeout) to hold it against the function"
            ),
        );
    };
    let needed = u64::from(VISIBILITY_FACTOR) * u64::from(timeout);
    if visibility >= needed {
        Check::ok(
            NAME,
            format!(
                "`{visibility}` s ≥ {VISIBILITY_FACTOR} × the function's `{timeout}` s = `{needed}` s"
            ),
        )
    } else {
        Check::problem(
            NAME,
            format!(
                "`{visibility}` s < {VISIBILITY_FACTOR} × the function's `{timeout}` s = `{needed}` s: AWS Lambda's rule for SQS event sources asks for at least {VISIBILITY_FACTOR} × the function timeout, or a retried batch is delivered twice"
            ),
            format!(
                "raise the queue's `VisibilityTimeout` to at least `{needed}` (the stack sets 6 × `FunctionTimeout` + 20 s: deploy it; or `aws sqs set-queue-attributes --queue-url {queue_url} --attributes VisibilityTimeout={needed}`), or lower the function's timeout"
            ),
        )
    }
}
