//! `jobs doctor`: checks, one by one, what the jobs need from the account (the
//! credentials, the queues and their redrive, the ledger, the bucket, SES) and
//! says for each problem what to do about it, so that a missing permission or a
//! forgotten setting shows up before the first job fails, not in the dead letters.
//!
//! Every check runs even when an earlier one failed, except that without
//! credentials or a region no call can succeed: the later checks are then
//! `unchecked`. An API the endpoint does not offer (an emulator's gap) makes its
//! check `unchecked` too, never a problem.

use std::fmt;

use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sts::config::{ProvideCredentials as _, Region, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::ser::SerializeStruct as _;

use crate::aws::{ErrorClass, FailureKind, classify, explain};
use crate::contract::ledger::{TABLE_ENV, field};
use crate::send::queue::QUEUE_URL_ENV;

/// The names of the checks, in the order a [`Report`] lists them.
pub mod name {
    pub const CREDENTIALS: &str = "credentials";
    pub const REGION: &str = "region";
    pub const QUEUE: &str = "queue";
    pub const DEAD_LETTER_QUEUE: &str = "dead-letter queue";
    pub const REDRIVE_POLICY: &str = "redrive policy";
    pub const VISIBILITY_TIMEOUT: &str = "visibility timeout";
    pub const LEDGER_TABLE: &str = "ledger table";
    pub const LEDGER_TTL: &str = "ledger TTL";
    pub const UPLOAD_BUCKET: &str = "upload bucket";
    pub const SES_IDENTITY: &str = "SES identity";
    pub const SES_DKIM: &str = "SES DKIM";
    pub const SES_SENDING: &str = "SES sending";
}

/// AWS's rule for a queue that is a Lambda event source: its visibility timeout
/// should be at least this many times the function's timeout, so a batch whose
/// invocation is throttled and retried is not delivered a second time meanwhile.
pub const VISIBILITY_FACTOR: u32 = 6;

/// What to check; each item left out is reported `unchecked`, with what to pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DoctorInput {
    pub queue_url: Option<String>,
    pub dlq_url: Option<String>,
    /// The idempotency ledger's DynamoDB table.
    pub table: Option<String>,
    pub bucket: Option<String>,
    /// The sender of mail jobs: `addr@example.com` or `Name <addr@example.com>`.
    pub sender: Option<String>,
    /// The Lambda function's timeout, to hold the queue's visibility timeout against.
    pub function_timeout_seconds: Option<u32>,
}

/// The clients the checks call, and the region and credentials they were built
/// with (the first two checks look at those themselves).
#[derive(Debug, Clone)]
pub struct DoctorClients {
    pub sts: aws_sdk_sts::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sesv2: aws_sdk_sesv2::Client,
    pub region: Option<Region>,
    pub credentials: Option<SharedCredentialsProvider>,
}

impl DoctorClients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        DoctorClients {
            sts: aws_sdk_sts::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            s3: crate::aws::s3_client(config),
            sesv2: aws_sdk_sesv2::Client::new(config),
            region: config.region().cloned(),
            credentials: config.credentials_provider(),
        }
    }
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Problem,
    /// Not looked at: its input was not given, it needs something that failed
    /// earlier, or the endpoint does not offer the API. The detail says which.
    Unchecked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Problem => "problem",
            Status::Unchecked => "unchecked",
        }
    }

    fn mark(self) -> char {
        match self {
            Status::Ok => '✓',
            Status::Problem => '✗',
            Status::Unchecked => '?',
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    /// One line: what was found.
    pub detail: String,
    /// For a problem: what to do (the variable to set, the command, the policy
    /// or the template parameter). `None` otherwise.
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn problem(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Problem,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn unchecked(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Unchecked,
            detail: detail.into(),
            fix: None,
        }
    }
}

/// The checks, in a fixed order. `Display` renders it for a terminal;
/// `Serialize` gives `{"healthy": bool, "checks": [{"name", "status", "detail", "fix"}]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// True when no check found a problem; unchecked items do not count against it.
    pub fn healthy(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Problem)
    }

    /// The check of that name (see [`name`]).
    pub fn get(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    pub fn problems(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Problem)
    }
}

impl serde::Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut report = serializer.serialize_struct("Report", 2)?;
        report.serialize_field("healthy", &self.healthy())?;
        report.serialize_field("checks", &self.checks)?;
        report.end()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .checks
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0);
        for check in &self.checks {
            writeln!(
                f,
                "{} {:width$}  {}",
                check.status.mark(),
                check.name,
                check.detail
            )?;
            if let (Status::Problem, Some(fix)) = (check.status, &check.fix) {
                writeln!(f, "  {:width$}  fix: {fix}", "")?;
            }
        }
        let count = |status| self.checks.iter().filter(|c| c.status == status).count();
        let problems = count(Status::Problem);
        write!(
            f,
            "{} ok, {problems} {}, {} unchecked",
            count(Status::Ok),
            if problems == 1 { "problem" } else { "problems" },
            count(Status::Unchecked)
        )
    }
}

/// Runs every check and reports each; it never fails as a whole.
pub async fn check(clients: &DoctorClients, input: &DoctorInput) -> Report {
    let (credentials, caller) = check_credentials(clients).await;
    let region = match &clients.region {
        Some(region) => Check::ok(name::REGION, format!("`{region}`")),
        None => Check::problem(
            name::REGION,
            "no region is configured, so no AWS call can be made",
            "set `AWS_REGION` (or `region` in the profile that `AWS_PROFILE` names)",
        ),
    };
    let blocked = if clients.region.is_none() {
        Some("needs a region (see `region`)")
    } else if credentials.status == Status::Problem {
        Some("needs credentials (see `credentials`)")
    } else {
        None
    };
    let mut checks = vec![credentials, region];
    if let Some(reason) = blocked {
        checks.extend(
            [
                name::QUEUE,
                name::DEAD_LETTER_QUEUE,
                name::REDRIVE_POLICY,
                name::VISIBILITY_TIMEOUT,
                name::LEDGER_TABLE,
                name::LEDGER_TTL,
                name::UPLOAD_BUCKET,
                name::SES_IDENTITY,
                name::SES_DKIM,
                name::SES_SENDING,
            ]
            .map(|n| Check::unchecked(n, reason)),
        );
        return Report { checks };
    }
    let cx = Context {
        clients,
        region: clients
            .region
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        caller,
    };
    let (queues, ledger, bucket, ses) = tokio::join!(
        check_queues(
            &cx,
            given(&input.queue_url),
            given(&input.dlq_url),
            input.function_timeout_seconds
        ),
        check_ledger(&cx, given(&input.table)),
        check_bucket(&cx, given(&input.bucket)),
        check_ses(&cx, given(&input.sender)),
    );
    checks.extend(queues);
    checks.extend(ledger);
    checks.push(bucket);
    checks.extend(ses);
    Report { checks }
}

/// A value that was given and is not blank.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Who is calling, as STS says, for the checks' fixes.
#[derive(Debug, Clone, Default)]
struct Caller {
    account: Option<String>,
    arn: Option<String>,
}

struct Context<'a> {
    clients: &'a DoctorClients,
    region: String,
    caller: Caller,
}

impl Context<'_> {
    fn partition(&self) -> &str {
        self.caller
            .arn
            .as_deref()
            .and_then(|arn| arn.split(':').nth(1))
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
    }

    fn account(&self) -> &str {
        self.caller.account.as_deref().unwrap_or("ACCOUNT")
    }

    /// "to the caller `arn:…`" when STS said who that is.
    fn grantee(&self) -> String {
        match &self.caller.arn {
            Some(arn) => format!("to `{arn}`"),
            None => "to the caller".into(),
        }
    }

    /// The check for a failed `operation`: a problem with its fix (for a refusal,
    /// the IAM `action` on `resource` to allow), or unchecked when the endpoint
    /// does not offer `operation` at all.
    fn failure<E>(
        &self,
        check: &'static str,
        operation: &'static str,
        action: &str,
        resource: &str,
        err: &SdkError<E, HttpResponse>,
    ) -> Check
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match trouble(err) {
            Trouble::NotImplemented => Check::unchecked(
                check,
                format!("the endpoint does not implement `{operation}`"),
            ),
            Trouble::Credentials(message) => {
                Check::problem(check, format!("`{operation}`: {message}"), CREDENTIALS_FIX)
            }
            Trouble::AccessDenied(message) => Check::problem(
                check,
                format!("`{operation}`: {message}"),
                format!(
                    "allow `{action}` on `{resource}` {} in an IAM policy",
                    self.grantee()
                ),
            ),
            Trouble::Other(ErrorClass::Transient, message) => Check::problem(
                check,
                format!("`{operation}`: {message}"),
                "check the network (and `AWS_ENDPOINT_URL`, if set), then run the doctor again: throttling, a 5xx or a timeout may pass",
            ),
            Trouble::Other(ErrorClass::Permanent, message) => Check::problem(
                check,
                format!("`{operation}`: {message}"),
                format!("check `{resource}` against the error: AWS refused the request as it is"),
            ),
        }
    }
}

const CREDENTIALS_FIX: &str = "renew the credentials (`aws sso login`, new access keys, or a fresh `AWS_SESSION_TOKEN`), or point `AWS_PROFILE` at a profile that has them";

/// Error codes with which endpoints say they do not know the operation.
const UNKNOWN_OPERATION_CODES: &[&str] = &[
    "UnknownOperationException",
    "UnknownOperation",
    "InvalidAction",
    "NotImplemented",
    "NotImplementedException",
];

enum Trouble {
    /// The endpoint does not offer the API (an emulator, or a partition without it).
    NotImplemented,
    Credentials(String),
    AccessDenied(String),
    Other(ErrorClass, String),
}

/// Sorts a failed call with [`explain`], the CLI's own reading of AWS errors.
fn trouble<E>(err: &SdkError<E, HttpResponse>) -> Trouble
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = match err {
        SdkError::ServiceError(_) => err.code(),
        _ => None,
    };
    if not_implemented(status, code, err.message()) {
        return Trouble::NotImplemented;
    }
    let explained = explain(err);
    let message = explained.to_string();
    match explained.kind {
        FailureKind::NoCredentials | FailureKind::CredentialsRefused => {
            Trouble::Credentials(message)
        }
        FailureKind::AccessDenied => Trouble::AccessDenied(message),
        _ => Trouble::Other(classify(err), message),
    }
}

/// Whether an error answer says the operation is unknown to the endpoint: an
/// HTTP 501, a code that says so, a 404 with no error code at all (a route the
/// server does not have, as moto answers), or a 500 whose message says so.
fn not_implemented(status: Option<u16>, code: Option<&str>, message: Option<&str>) -> bool {
    let says_so = message.is_some_and(|m| {
        let m = m.to_ascii_lowercase();
        m.contains("not implemented") || m.contains("not yet implemented")
    });
    status == Some(501)
        || code.is_some_and(|c| UNKNOWN_OPERATION_CODES.contains(&c))
        || (status == Some(404) && code.is_none())
        || (status == Some(500) && says_so)
}

async fn check_credentials(clients: &DoctorClients) -> (Check, Caller) {
    const NAME: &str = name::CREDENTIALS;
    let Some(provider) = &clients.credentials else {
        return (
            Check::problem(
                NAME,
                "no credentials provider is configured",
                "set `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, or `AWS_PROFILE` (`aws configure`, `aws sso login`)",
            ),
            Caller::default(),
        );
    };
    if let Err(e) = provider.provide_credentials().await {
        return (
            Check::problem(
                NAME,
                format!("no credentials were found: {}", one_line(&e)),
                "set `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, or `AWS_PROFILE` (`aws configure`, `aws sso login`)",
            ),
            Caller::default(),
        );
    }
    if clients.region.is_none() {
        return (
            Check::ok(NAME, "found; whose they are is not known without a region"),
            Caller::default(),
        );
    }
    match clients.sts.get_caller_identity().send().await {
        Ok(output) => {
            let caller = Caller {
                account: output.account().map(str::to_owned),
                arn: output.arn().map(str::to_owned),
            };
            let detail = format!(
                "account `{}` as `{}`",
                caller.account.as_deref().unwrap_or("unknown"),
                caller.arn.as_deref().unwrap_or("unknown")
            );
            (Check::ok(NAME, detail), caller)
        }
        Err(e) => {
            let check = match trouble(&e) {
                Trouble::NotImplemented => Check::ok(
                    NAME,
                    "found; the endpoint does not implement `GetCallerIdentity`, so whose they are is not known",
                ),
                Trouble::Credentials(message) | Trouble::AccessDenied(message) => Check::problem(
                    NAME,
                    format!("STS refused them: {message}"),
                    CREDENTIALS_FIX,
                ),
                // The credentials may be fine and STS out of reach: the other
                // checks still run, and say for themselves.
                Trouble::Other(_, message) => Check::unchecked(
                    NAME,
                    format!("found, but `GetCallerIdentity` failed: {message}"),
                ),
            };
            (check, Caller::default())
        }
    }
}

/// An error with its whole chain on one line: the chain of credential
/// providers names each one it tried on a line of its own.
fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text = format!("{text}: {e}");
        source = e.source();
    }
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default().to_owned();
    let rest: Vec<&str> = lines.collect();
    if rest.is_empty() {
        first
    } else {
        format!("{first} {}", rest.join("; "))
    }
}

/// The ARN of the queue at `url`, guessed from the URL's last two segments
/// (account and name), for a fix when the queue's own attributes cannot be read.
fn queue_arn_of(cx: &Context<'_>, url: &str) -> String {
    let name = crate::send::queue::queue_name_of(url);
    let account = url
        .trim_end_matches('/')
        .rsplit('/')
        .nth(1)
        .filter(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or(cx.account());
    format!("arn:{}:sqs:{}:{account}:{name}", cx.partition(), cx.region)
}

/// A queue's attributes, or the check that says why they could not be read.
async fn queue_attributes(
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

async fn check_queues(
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

fn redrive_check(
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

fn visibility_check(
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

async fn check_ledger(cx: &Context<'_>, table: Option<&str>) -> Vec<Check> {
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
fn table_shape(
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

async fn ttl(cx: &Context<'_>, table: &str, arn: &str) -> Check {
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

async fn check_bucket(cx: &Context<'_>, bucket: Option<&str>) -> Check {
    const NAME: &str = name::UPLOAD_BUCKET;
    let Some(bucket) = bucket else {
        return Check::unchecked(
            NAME,
            "no upload bucket given: pass `--bucket` or set `JOBS_BUCKET`",
        );
    };
    match cx.clients.s3.head_bucket().bucket(bucket).send().await {
        Ok(output) => Check::ok(
            NAME,
            match output.bucket_region() {
                Some(region) => format!("`{bucket}` exists, in `{region}`"),
                None => format!("`{bucket}` exists"),
            },
        ),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Check::problem(
            NAME,
            format!("there is no bucket `{bucket}`"),
            "pass the stack's `UploadBucketName` output as `--bucket` or `JOBS_BUCKET`, or deploy the stack (it creates the bucket)",
        ),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 301) => {
            let elsewhere = e
                .raw_response()
                .and_then(|r| r.headers().get("x-amz-bucket-region"))
                .unwrap_or("another region")
                .to_owned();
            Check::problem(
                NAME,
                format!("`{bucket}` is in `{elsewhere}`, not in `{}`", cx.region),
                format!(
                    "run the handler and the doctor with `AWS_REGION={elsewhere}`, or use a bucket in `{}`",
                    cx.region
                ),
            )
        }
        Err(e) => cx.failure(
            NAME,
            "HeadBucket",
            "s3:ListBucket",
            &format!("arn:{}:s3:::{bucket}", cx.partition()),
            &e,
        ),
    }
}

/// The address in `Name <addr@example.com>`, or the sender as it is.
fn sender_address(sender: &str) -> &str {
    let sender = sender.trim();
    match (sender.rfind('<'), sender.strip_suffix('>')) {
        (Some(open), Some(inner)) => inner[open + 1..].trim(),
        _ => sender,
    }
}

async fn check_ses(cx: &Context<'_>, sender: Option<&str>) -> Vec<Check> {
    let (identity, dkim) = match sender {
        None => (
            Check::unchecked(
                name::SES_IDENTITY,
                "no sender given: pass `--sender` or set `JOBS_MAIL_FROM`",
            ),
            Check::unchecked(
                name::SES_DKIM,
                "needs the SES identity (see `SES identity`)",
            ),
        ),
        Some(sender) => check_identity(cx, sender_address(sender)).await,
    };
    vec![identity, dkim, check_sending(cx).await]
}

async fn check_identity(cx: &Context<'_>, address: &str) -> (Check, Check) {
    use aws_sdk_sesv2::types::{DkimStatus, IdentityType, VerificationStatus};
    let needs = || {
        Check::unchecked(
            name::SES_DKIM,
            "needs the SES identity (see `SES identity`)",
        )
    };
    let domain = address.rsplit_once('@').map(|(_, d)| d);
    // An address may be covered by its own identity or by its domain's.
    let mut candidates = vec![address];
    candidates.extend(domain);
    let mut found = None;
    for identity in candidates {
        match cx
            .clients
            .sesv2
            .get_email_identity()
            .email_identity(identity)
            .send()
            .await
        {
            Ok(output) => {
                found = Some((identity, output));
                break;
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_not_found_exception()) => {}
            Err(e) => {
                let arn = format!(
                    "arn:{}:ses:{}:{}:identity/{identity}",
                    cx.partition(),
                    cx.region,
                    cx.account()
                );
                return (
                    cx.failure(
                        name::SES_IDENTITY,
                        "GetEmailIdentity",
                        "ses:GetEmailIdentity",
                        &arn,
                        &e,
                    ),
                    needs(),
                );
            }
        }
    }
    let Some((identity, output)) = found else {
        let which = match domain {
            Some(domain) => format!("neither `{address}` nor its domain `{domain}` is"),
            None => format!("`{address}` is not"),
        };
        return (
            Check::problem(
                name::SES_IDENTITY,
                format!("{which} an SES identity in `{}`", cx.region),
                format!(
                    "create the identity (the stack does, from its `SenderAddress` parameter; or `aws sesv2 create-email-identity --email-identity {address}`), then verify it"
                ),
            ),
            needs(),
        );
    };
    let is_domain =
        output.identity_type() != Some(&IdentityType::EmailAddress) && !identity.contains('@');
    let through = if identity == address {
        format!("`{identity}`")
    } else {
        format!("`{address}` (through the domain identity `{identity}`)")
    };
    let verify = if is_domain {
        format!(
            "publish the DKIM CNAME records SES lists for `{identity}` (`aws sesv2 get-email-identity --email-identity {identity}`) in the domain's DNS"
        )
    } else {
        format!(
            "open the verification link SES mailed to `{identity}` (the SES console sends it again)"
        )
    };
    let verification = output.verification_status();
    let identity_check = if output.verified_for_sending_status() {
        Check::ok(
            name::SES_IDENTITY,
            format!("{through} is verified for sending"),
        )
    } else if verification == Some(&VerificationStatus::Success) {
        // Real SES does not answer so; an emulator may. Neither answer can be trusted.
        Check::unchecked(
            name::SES_IDENTITY,
            format!(
                "the endpoint says {through} has `VerificationStatus` `SUCCESS` but `VerifiedForSendingStatus` false, which contradict each other"
            ),
        )
    } else {
        Check::problem(
            name::SES_IDENTITY,
            format!(
                "{through} is not verified for sending (verification `{}`): SES refuses mail from it",
                verification.map_or("unknown", VerificationStatus::as_str)
            ),
            verify.clone(),
        )
    };
    let dkim = output.dkim_attributes();
    let dkim_status = dkim.and_then(|d| d.status());
    let signing = dkim.is_some_and(|d| d.signing_enabled());
    let status_text = dkim_status.map_or("unknown", DkimStatus::as_str);
    let dkim_check = match (dkim_status, signing) {
        (Some(DkimStatus::Success), true) => Check::ok(
            name::SES_DKIM,
            format!("`{identity}` signs with its own DKIM key"),
        ),
        (Some(DkimStatus::Success), false) => Check::problem(
            name::SES_DKIM,
            format!("`{identity}` has DKIM keys, but signing is off"),
            format!(
                "`aws sesv2 put-email-identity-dkim-attributes --email-identity {identity} --signing-enabled`"
            ),
        ),
        _ if is_domain => Check::problem(
            name::SES_DKIM,
            format!(
                "DKIM of `{identity}` is `{status_text}`: the domain is not verified, and its mail is not signed with its own key"
            ),
            verify,
        ),
        // An address identity is signed with its domain's own key only when the
        // domain is a verified identity too; without that SES still sends, so
        // this is advice, not a problem.
        _ => Check::ok(
            name::SES_DKIM,
            format!(
                "DKIM of `{identity}` is `{status_text}`: its mail is not signed with the domain's own key until the domain `{}` is verified in SES",
                domain.unwrap_or(identity)
            ),
        ),
    };
    (identity_check, dkim_check)
}

async fn check_sending(cx: &Context<'_>) -> Check {
    const NAME: &str = name::SES_SENDING;
    let output = match cx.clients.sesv2.get_account().send().await {
        Ok(output) => output,
        Err(e) => return cx.failure(NAME, "GetAccount", "ses:GetAccount", "*", &e),
    };
    let mode = if output.production_access_enabled() {
        "production"
    } else {
        "sandbox"
    };
    let quota = output.send_quota().map_or_else(
        || "no quota reported".to_owned(),
        |q| {
            format!(
                "{} mails a day at {}/s, {} sent in the last 24 h",
                q.max24_hour_send(),
                q.max_send_rate(),
                q.sent_last24_hours()
            )
        },
    );
    let detail = format!("{mode}; {quota}");
    if !output.sending_enabled() {
        return Check::problem(
            NAME,
            format!(
                "sending is paused for the account in `{}` ({detail})",
                cx.region
            ),
            "see why in the SES console (Account dashboard, reputation); resume with `aws sesv2 put-account-sending-attributes --sending-enabled`",
        );
    }
    if output.enforcement_status() == Some("SHUTDOWN") {
        return Check::problem(
            NAME,
            format!("SES has shut sending down for the account ({detail})"),
            "contact AWS support through the SES console's Account dashboard",
        );
    }
    if let Some(q) = output.send_quota()
        && q.max24_hour_send() >= 0.0
        && q.sent_last24_hours() >= q.max24_hour_send()
    {
        return Check::problem(
            NAME,
            format!("the daily quota is used up ({detail})"),
            "wait for the 24-hour window to move on, or ask for a higher quota in the SES console (Service Quotas)",
        );
    }
    if !output.production_access_enabled() {
        return Check::problem(
            NAME,
            format!(
                "the account is in the SES sandbox: mail goes only to verified addresses ({detail})"
            ),
            "ask for production access in the SES console (Account dashboard); until then send only to verified addresses or the mailbox simulator",
        );
    }
    Check::ok(NAME, detail)
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput;
    use aws_sdk_dynamodb::operation::describe_time_to_live::DescribeTimeToLiveOutput;
    use aws_sdk_dynamodb::types::{
        KeySchemaElement, KeyType, TableDescription, TableStatus, TimeToLiveDescription,
        TimeToLiveStatus,
    };
    use aws_sdk_sesv2::operation::get_account::GetAccountOutput;
    use aws_sdk_sesv2::operation::get_email_identity::GetEmailIdentityOutput;
    use aws_sdk_sesv2::types::{IdentityType, SendQuota, VerificationStatus};
    use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput;
    use aws_sdk_sts::config::Credentials;
    use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    const QUEUE: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs";
    const DLQ: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs-dlq";
    const QUEUE_ARN: &str = "arn:aws:sqs:eu-west-1:123456789012:jobs";
    const DLQ_ARN: &str = "arn:aws:sqs:eu-west-1:123456789012:jobs-dlq";
    const CALLER: &str = "arn:aws:iam::123456789012:user/ann";

    fn config(region: Option<&str>, credentials: bool) -> aws_config::SdkConfig {
        let mut config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .http_client(crate::aws::https_client())
            // Nothing listens here: a call no rule answers fails at once.
            .endpoint_url("http://127.0.0.1:9");
        if let Some(region) = region {
            config = config.region(Region::new(region.to_owned()));
        }
        if credentials {
            config = config.credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKID", "secret", None, None, "unit",
            )));
        }
        config.build()
    }

    fn caller_rule() -> Rule {
        mock!(aws_sdk_sts::Client::get_caller_identity).then_output(|| {
            GetCallerIdentityOutput::builder()
                .account("123456789012")
                .arn(CALLER)
                .build()
        })
    }

    fn queue_rule(url: &'static str, attributes: &'static [(QueueAttributeName, &str)]) -> Rule {
        mock!(aws_sdk_sqs::Client::get_queue_attributes)
            .match_requests(move |r| r.queue_url() == Some(url))
            .then_output(move || {
                let mut output = GetQueueAttributesOutput::builder();
                for (name, value) in attributes {
                    output = output.attributes(name.clone(), *value);
                }
                output.build()
            })
    }

    fn answer(status: u16, headers: &[(&'static str, &'static str)], body: &str) -> HttpResponse {
        let mut response = HttpResponse::new(
            StatusCode::try_from(status).expect("valid status"),
            SdkBody::from(body.to_owned()),
        );
        for (name, value) in headers {
            response.headers_mut().insert(*name, *value);
        }
        response
    }

    /// A production account in good standing, for tests about other things.
    fn account_rule() -> Rule {
        mock!(aws_sdk_sesv2::Client::get_account).then_output(|| {
            GetAccountOutput::builder()
                .production_access_enabled(true)
                .sending_enabled(true)
                .send_quota(
                    SendQuota::builder()
                        .max24_hour_send(50_000.0)
                        .max_send_rate(14.0)
                        .sent_last24_hours(0.0)
                        .build(),
                )
                .build()
        })
    }

    /// Clients answering with `sqs`, `dynamodb` and `sesv2`, first match first;
    /// STS knows the caller, and SES's `GetAccount` answers [`account_rule`]
    /// unless `sesv2` says otherwise.
    fn clients(sqs: &[&Rule], dynamodb: &[&Rule], sesv2: &[&Rule]) -> DoctorClients {
        let caller = caller_rule();
        let account = account_rule();
        let sesv2: Vec<&Rule> = sesv2.iter().copied().chain([&account]).collect();
        DoctorClients {
            sts: mock_client!(aws_sdk_sts, [&caller]),
            sqs: mock_client!(aws_sdk_sqs, RuleMode::MatchAny, sqs),
            dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, dynamodb),
            sesv2: mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, sesv2),
            ..DoctorClients::new(&config(Some("eu-west-1"), true))
        }
    }

    fn queues_only() -> DoctorInput {
        DoctorInput {
            queue_url: Some(QUEUE.into()),
            dlq_url: Some(DLQ.into()),
            ..DoctorInput::default()
        }
    }

    fn get<'a>(report: &'a Report, check: &str) -> &'a Check {
        report
            .get(check)
            .unwrap_or_else(|| panic!("no `{check}` in\n{report}"))
    }

    #[tokio::test]
    async fn access_denied_on_the_queue_names_the_permission_and_the_policy() {
        let denied = mock!(aws_sdk_sqs::Client::get_queue_attributes)
            .match_requests(|r| r.queue_url() == Some(QUEUE))
            .then_http_response(|| {
                answer(
                    403,
                    &[("x-amzn-query-error", "AccessDenied;Sender")],
                    r#"{"__type":"com.amazon.coral.service#AccessDeniedException","message":"User: arn:aws:iam::123456789012:user/ann is not authorized to perform: sqs:getqueueattributes"}"#,
                )
            });
        let dlq = queue_rule(DLQ, &[(QueueAttributeName::QueueArn, DLQ_ARN)]);
        let report = check(&clients(&[&denied, &dlq], &[], &[]), &queues_only()).await;

        let queue = get(&report, name::QUEUE);
        assert_eq!(queue.status, Status::Problem, "{report}");
        assert!(
            queue.detail.starts_with("`GetQueueAttributes`: ") && queue.detail.contains("403"),
            "{report}"
        );
        let fix = queue.fix.as_deref().unwrap_or_default();
        assert!(fix.contains("`sqs:GetQueueAttributes`"), "{report}");
        assert!(fix.contains(&format!("`{QUEUE_ARN}`")), "{report}");
        assert!(fix.contains(&format!("`{CALLER}`")), "{report}");
        assert!(fix.contains("IAM policy"), "{report}");
        // The rest still runs; what needs the queue's attributes says so.
        assert_eq!(
            get(&report, name::DEAD_LETTER_QUEUE).status,
            Status::Ok,
            "{report}"
        );
        assert_eq!(
            get(&report, name::REDRIVE_POLICY).status,
            Status::Unchecked,
            "{report}"
        );
        assert!(!report.healthy());
    }

    #[tokio::test]
    async fn a_queue_without_a_redrive_policy_is_a_problem() {
        let queue = queue_rule(
            QUEUE,
            &[
                (QueueAttributeName::QueueArn, QUEUE_ARN),
                (QueueAttributeName::VisibilityTimeout, "180"),
            ],
        );
        let dlq = queue_rule(DLQ, &[(QueueAttributeName::QueueArn, DLQ_ARN)]);
        let report = check(&clients(&[&queue, &dlq], &[], &[]), &queues_only()).await;

        let redrive = get(&report, name::REDRIVE_POLICY);
        assert_eq!(redrive.status, Status::Problem, "{report}");
        assert!(redrive.detail.contains("no `RedrivePolicy`"), "{report}");
        let fix = redrive.fix.as_deref().unwrap_or_default();
        assert!(
            fix.contains("`RedrivePolicy`")
                && fix.contains(DLQ_ARN)
                && fix.contains("MaxReceiveCount"),
            "{report}"
        );
        assert_eq!(get(&report, name::QUEUE).status, Status::Ok, "{report}");
        assert_eq!(
            get(&report, name::CREDENTIALS).status,
            Status::Ok,
            "{report}"
        );
        assert!(!report.healthy());
    }

    #[tokio::test]
    async fn a_redrive_policy_to_another_queue_and_a_short_visibility_are_problems() {
        let queue = queue_rule(
            QUEUE,
            &[
                (QueueAttributeName::QueueArn, QUEUE_ARN),
                (QueueAttributeName::VisibilityTimeout, "30"),
                (
                    QueueAttributeName::RedrivePolicy,
                    r#"{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:123456789012:other","maxReceiveCount":"5"}"#,
                ),
            ],
        );
        let dlq = queue_rule(DLQ, &[(QueueAttributeName::QueueArn, DLQ_ARN)]);
        let input = DoctorInput {
            function_timeout_seconds: Some(30),
            ..queues_only()
        };
        let report = check(&clients(&[&queue, &dlq], &[], &[]), &input).await;

        let redrive = get(&report, name::REDRIVE_POLICY);
        assert_eq!(redrive.status, Status::Problem, "{report}");
        assert!(
            redrive
                .detail
                .contains("after 5 deliveries, not to the dead-letter queue"),
            "{report}"
        );
        let visibility = get(&report, name::VISIBILITY_TIMEOUT);
        assert_eq!(visibility.status, Status::Problem, "{report}");
        assert!(
            visibility
                .detail
                .contains("`30` s < 6 × the function's `30` s = `180` s"),
            "{report}"
        );
        assert!(
            visibility
                .fix
                .as_deref()
                .unwrap_or_default()
                .contains("VisibilityTimeout=180"),
            "{report}"
        );
    }

    #[tokio::test]
    async fn without_credentials_nothing_else_is_called() {
        let queue = queue_rule(QUEUE, &[]);
        let doctor = DoctorClients {
            credentials: None,
            ..clients(&[&queue], &[], &[])
        };
        let report = check(&doctor, &queues_only()).await;

        let credentials = get(&report, name::CREDENTIALS);
        assert_eq!(credentials.status, Status::Problem, "{report}");
        assert!(
            credentials
                .fix
                .as_deref()
                .unwrap_or_default()
                .contains("`AWS_ACCESS_KEY_ID`"),
            "{report}"
        );
        for later in &report.checks[2..] {
            assert_eq!(later.status, Status::Unchecked, "{report}");
            assert!(later.detail.contains("needs credentials"), "{report}");
        }
        assert_eq!(queue.num_calls(), 0);
    }

    #[tokio::test]
    async fn without_a_region_the_fix_is_aws_region() {
        let doctor = DoctorClients {
            region: None,
            ..clients(&[], &[], &[])
        };
        let report = check(&doctor, &DoctorInput::default()).await;

        let region = get(&report, name::REGION);
        assert_eq!(region.status, Status::Problem, "{report}");
        assert!(
            region
                .fix
                .as_deref()
                .unwrap_or_default()
                .starts_with("set `AWS_REGION`"),
            "{report}"
        );
        assert!(
            get(&report, name::QUEUE).detail.contains("needs a region"),
            "{report}"
        );
    }

    #[tokio::test]
    async fn an_api_the_endpoint_lacks_is_unchecked_and_nothing_else_changes() {
        // What moto answers for `GetAccount`: a 404 page without an error code.
        let no_account = mock!(aws_sdk_sesv2::Client::get_account).then_http_response(|| {
            answer(
                404,
                &[("content-type", "text/html; charset=utf-8")],
                "<!doctype html><title>404 Not Found</title>",
            )
        });
        let no_ttl = mock!(aws_sdk_dynamodb::Client::describe_time_to_live).then_http_response(|| {
            answer(
                501,
                &[],
                r#"{"__type":"InternalFailure","message":"API action 'DescribeTimeToLive' for service 'dynamodb' not yet implemented"}"#,
            )
        });
        let table = mock!(aws_sdk_dynamodb::Client::describe_table).then_output(|| {
            DescribeTableOutput::builder()
                .table(
                    TableDescription::builder()
                        .table_status(TableStatus::Active)
                        .key_schema(
                            KeySchemaElement::builder()
                                .attribute_name(field::JOB_ID)
                                .key_type(KeyType::Hash)
                                .build()
                                .expect("a key"),
                        )
                        .build(),
                )
                .build()
        });
        let input = DoctorInput {
            table: Some("ledger".into()),
            ..DoctorInput::default()
        };
        let report = check(&clients(&[], &[&table, &no_ttl], &[&no_account]), &input).await;

        let sending = get(&report, name::SES_SENDING);
        assert_eq!(sending.status, Status::Unchecked, "{report}");
        assert_eq!(
            sending.detail,
            "the endpoint does not implement `GetAccount`"
        );
        let ttl = get(&report, name::LEDGER_TTL);
        assert_eq!(ttl.status, Status::Unchecked, "{report}");
        assert_eq!(
            ttl.detail,
            "the endpoint does not implement `DescribeTimeToLive`"
        );
        assert_eq!(
            get(&report, name::LEDGER_TABLE).status,
            Status::Ok,
            "{report}"
        );
        assert!(report.healthy(), "{report}");
    }

    #[tokio::test]
    async fn ttl_off_and_the_sandbox_are_problems_with_their_fixes() {
        let table = mock!(aws_sdk_dynamodb::Client::describe_table).then_output(|| {
            DescribeTableOutput::builder()
                .table(TableDescription::builder().build())
                .build()
        });
        let ttl = mock!(aws_sdk_dynamodb::Client::describe_time_to_live).then_output(|| {
            DescribeTimeToLiveOutput::builder()
                .time_to_live_description(
                    TimeToLiveDescription::builder()
                        .time_to_live_status(TimeToLiveStatus::Disabled)
                        .build(),
                )
                .build()
        });
        let account = mock!(aws_sdk_sesv2::Client::get_account).then_output(|| {
            GetAccountOutput::builder()
                .production_access_enabled(false)
                .sending_enabled(true)
                .send_quota(
                    SendQuota::builder()
                        .max24_hour_send(200.0)
                        .max_send_rate(1.0)
                        .sent_last24_hours(3.0)
                        .build(),
                )
                .build()
        });
        let input = DoctorInput {
            table: Some("ledger".into()),
            ..DoctorInput::default()
        };
        let report = check(&clients(&[], &[&table, &ttl], &[&account]), &input).await;

        let ttl = get(&report, name::LEDGER_TTL);
        assert_eq!(ttl.status, Status::Problem, "{report}");
        assert!(
            ttl.fix.as_deref().unwrap_or_default().contains(
                "update-time-to-live --table-name ledger --time-to-live-specification Enabled=true,AttributeName=expires_at"
            ),
            "{report}"
        );
        let sending = get(&report, name::SES_SENDING);
        assert_eq!(sending.status, Status::Problem, "{report}");
        assert!(
            sending.detail.contains("sandbox")
                && sending.detail.contains("200 mails a day at 1/s, 3 sent"),
            "{report}"
        );
        assert!(
            sending
                .fix
                .as_deref()
                .unwrap_or_default()
                .contains("production access"),
            "{report}"
        );
    }

    #[tokio::test]
    async fn an_address_is_covered_by_its_domain_identity() {
        let no_address = mock!(aws_sdk_sesv2::Client::get_email_identity)
            .match_requests(|r| r.email_identity() == Some("jobs@example.com"))
            .then_http_response(|| {
                answer(
                    404,
                    &[("x-amzn-errortype", "NotFoundException")],
                    r#"{"message":"Email identity jobs@example.com does not exist."}"#,
                )
            });
        let domain = mock!(aws_sdk_sesv2::Client::get_email_identity)
            .match_requests(|r| r.email_identity() == Some("example.com"))
            .then_output(|| {
                GetEmailIdentityOutput::builder()
                    .identity_type(IdentityType::Domain)
                    .verified_for_sending_status(false)
                    .verification_status(VerificationStatus::Pending)
                    .build()
            });
        let input = DoctorInput {
            sender: Some("Shop <jobs@example.com>".into()),
            ..DoctorInput::default()
        };
        let report = check(&clients(&[], &[], &[&no_address, &domain]), &input).await;

        let identity = get(&report, name::SES_IDENTITY);
        assert_eq!(identity.status, Status::Problem, "{report}");
        assert!(
            identity.detail.contains("`jobs@example.com` (through the domain identity `example.com`) is not verified for sending (verification `PENDING`)"),
            "{report}"
        );
        assert!(
            identity
                .fix
                .as_deref()
                .unwrap_or_default()
                .contains("DKIM CNAME records"),
            "{report}"
        );
        assert_eq!(
            get(&report, name::SES_DKIM).status,
            Status::Problem,
            "{report}"
        );
    }

    #[test]
    fn the_report_renders_as_text_and_as_json() {
        let report = Report {
            checks: vec![
                Check::ok(name::REGION, "`eu-west-1`"),
                Check::problem(name::DEAD_LETTER_QUEUE, "gone", "create it"),
                Check::unchecked(
                    name::SES_SENDING,
                    "the endpoint does not implement `GetAccount`",
                ),
            ],
        };
        assert_eq!(
            report.to_string(),
            "✓ region             `eu-west-1`\n\
             ✗ dead-letter queue  gone\n\
             \x20                    fix: create it\n\
             ? SES sending        the endpoint does not implement `GetAccount`\n\
             1 ok, 1 problem, 1 unchecked"
        );
        assert_eq!(
            serde_json::to_value(&report).expect("serializes"),
            serde_json::json!({
                "healthy": false,
                "checks": [
                    {"name": "region", "status": "ok", "detail": "`eu-west-1`", "fix": null},
                    {"name": "dead-letter queue", "status": "problem", "detail": "gone", "fix": "create it"},
                    {"name": "SES sending", "status": "unchecked", "detail": "the endpoint does not implement `GetAccount`", "fix": null},
                ]
            })
        );
    }

    #[test]
    fn what_counts_as_not_implemented() {
        assert!(not_implemented(Some(501), Some("InternalFailure"), None));
        assert!(not_implemented(Some(404), None, None));
        assert!(not_implemented(
            Some(400),
            Some("UnknownOperationException"),
            None
        ));
        assert!(not_implemented(
            Some(500),
            Some("InternalError"),
            Some("The action is not yet implemented")
        ));
        assert!(!not_implemented(Some(404), Some("NotFoundException"), None));
        assert!(!not_implemented(
            Some(500),
            Some("InternalError"),
            Some("boom")
        ));
    }

    #[test]
    fn the_sender_address_is_taken_out_of_a_name() {
        assert_eq!(
            sender_address("Shop <jobs@example.com>"),
            "jobs@example.com"
        );
        assert_eq!(sender_address(" jobs@example.com "), "jobs@example.com");
        assert_eq!(sender_address("example.com"), "example.com");
    }
}
