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
use aws_sdk_sts::config::{Region, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::ser::SerializeStruct as _;

use producer::aws::{ErrorClass, FailureKind, classify, explain};
use producer::contract::ledger::{TABLE_ENV, field};
use producer::send::queue::QUEUE_URL_ENV;

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
    /// The stack's queues by name (`JOBS_QUEUE_URLS`): each is checked with
    /// the dead-letter queue its redrive policy names. When empty, the one
    /// `queue_url` is checked instead.
    pub queues: Vec<(String, String)>,
    pub queue_url: Option<String>,
    /// `queue_url`'s dead-letter queue; when left out, the one its redrive
    /// policy names.
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
            s3: producer::aws::s3_client(config),
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
    /// The queue a queue check is about, when the stack has several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
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
            queue: None,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn problem(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            queue: None,
            status: Status::Problem,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn unchecked(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            queue: None,
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

impl Check {
    /// Its name, with the queue it is about when there is one: `queue (mailers)`.
    pub fn title(&self) -> String {
        match &self.queue {
            Some(queue) => format!("{} ({queue})", self.name),
            None => self.name.to_owned(),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .checks
            .iter()
            .map(|c| c.title().chars().count())
            .max()
            .unwrap_or(0);
        for check in &self.checks {
            writeln!(
                f,
                "{} {:width$}  {}",
                check.status.mark(),
                check.title(),
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
    let every_queue = async {
        if input.queues.is_empty() {
            return check_queues(
                &cx,
                given(&input.queue_url),
                given(&input.dlq_url),
                input.function_timeout_seconds,
            )
            .await;
        }
        let mut checks = Vec::new();
        for (queue, url) in &input.queues {
            let found = check_queues(&cx, Some(url), None, input.function_timeout_seconds).await;
            checks.extend(found.into_iter().map(|check| Check {
                queue: Some(queue.clone()),
                ..check
            }));
        }
        checks
    };
    let (queues, ledger, bucket, ses) = tokio::join!(
        every_queue,
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

mod bucket;
mod credentials;
mod ledger;
mod queues;
mod ses;
#[cfg(test)]
mod tests;

use bucket::*;
use credentials::*;
use ledger::*;
use queues::*;
use ses::*;
