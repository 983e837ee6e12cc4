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
        .http_client(producer::aws::https_client())
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
        fix.contains("`RedrivePolicy`") && fix.contains(DLQ_ARN) && fix.contains("MaxReceiveCount"),
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
