//! Faults an emulator cannot produce on demand, with mocked SDK clients
//! (`aws-smithy-mocks`) and, for timeouts, a socket that never answers.
//! The same paths run against the local AWS in `tests/`.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_sesv2::operation::send_email::SendEmailOutput;
use aws_sdk_sqs::operation::send_message::SendMessageOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use handler::batch::dead_letter_attributes as attr;
use handler::{Delivery, Handler, Outcome, Settings};
use producer::{Envelope, Job, MailJob, UploadJob};

fn mail() -> Envelope {
    Envelope::new(Job::Mail(MailJob {
        from: "shop@example.com".into(),
        to: vec!["ann@example.com".into()],
        subject: "Your product is about to expire!".into(),
        text: Some("Renew it today.".into()),
        ..MailJob::default()
    }))
}

fn delivery(body: String, receive_count: u32) -> Delivery {
    Delivery {
        message_id: "m-1".into(),
        receipt_handle: None,
        queue_url: None,
        queue_arn: None,
        body,
        receive_count,
        sent_at: None,
        job_id: None,
        payload_size: None,
        snoozed_until: None,
    }
}

fn settings(max_receive_count: Option<u32>) -> Settings {
    Settings {
        max_receive_count,
        concurrency: 4,
        backoff: None,
        ..Settings::new("https://sqs.us-east-1.amazonaws.com/1/dlq")
    }
}

fn ses_answering(status: u16, error_type: &'static str) -> Rule {
    mock!(aws_sdk_sesv2::Client::send_email).then_http_response(move || {
        let body = format!(r#"{{"message":"injected {error_type}"}}"#);
        let mut response = HttpResponse::new(
            StatusCode::try_from(status).expect("valid status"),
            SdkBody::from(body),
        );
        if !error_type.is_empty() {
            response
                .headers_mut()
                .insert("x-amzn-errortype", error_type);
        }
        response
    })
}

fn ses_ok() -> Rule {
    mock!(aws_sdk_sesv2::Client::send_email)
        .then_output(|| SendEmailOutput::builder().message_id("ses-1").build())
}

fn s3_ok() -> Rule {
    mock!(aws_sdk_s3::Client::put_object).then_output(|| PutObjectOutput::builder().build())
}

/// A dead-letter send that checks the reason attributes it carries.
fn dlq_expecting(class: &'static str, code: &'static str) -> Rule {
    mock!(aws_sdk_sqs::Client::send_message)
        .match_requests(move |req| {
            let attrs = req.message_attributes().cloned().unwrap_or_default();
            let value = |name: &str| {
                attrs
                    .get(name)
                    .and_then(|v| v.string_value().map(str::to_owned))
            };
            value(attr::ERROR_CLASS).as_deref() == Some(class)
                && value(attr::ERROR_CODE).as_deref() == Some(code)
                && value(attr::RECEIVE_COUNT).is_some()
                && value(attr::HANDLER_VERSION).is_some()
                && value(attr::FAILED_AT).is_some()
                && value(attr::ERROR_MESSAGE).is_some_and(|m| !m.is_empty())
        })
        .then_output(|| SendMessageOutput::builder().message_id("dlq-1").build())
}

fn handler(ses: &[&Rule], s3: &[&Rule], sqs: &[&Rule], max_receive_count: Option<u32>) -> Handler {
    let no_retries = |b: aws_sdk_sesv2::config::Builder| b.retry_config(RetryConfig::disabled());
    let ses = mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, ses, no_retries);
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, s3, |b| b
        .retry_config(RetryConfig::disabled()));
    let sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, sqs, |b| b
        .retry_config(RetryConfig::disabled()));
    Handler::from_clients(ses, s3, sqs, settings(max_receive_count))
}

#[tokio::test]
async fn throttling_and_5xx_are_transient_and_left_for_retry() {
    for (status, error_type) in [
        (429, "TooManyRequestsException"),
        (400, "ThrottlingException"),
        (500, "InternalFailure"),
        (503, ""),
    ] {
        let ses = ses_answering(status, error_type);
        let dlq = dlq_expecting("transient", "ses_send_email");
        let handler = handler(&[&ses], &[], &[&dlq], Some(5));
        let outcome = handler.process(&delivery(mail().to_json(), 1)).await;
        assert!(
            matches!(&outcome, Outcome::Retry { reason } if reason.contains("ses_send_email")),
            "HTTP {status} {error_type}: {outcome:?}"
        );
        assert_eq!(ses.num_calls(), 1);
        assert_eq!(
            dlq.num_calls(),
            0,
            "a transient failure is not dead-lettered early"
        );
    }
}

#[tokio::test]
async fn a_transient_failure_on_the_last_delivery_is_dead_lettered_with_its_reason() {
    let ses = ses_answering(503, "");
    let dlq = dlq_expecting("transient", "ses_send_email");
    let handler = handler(&[&ses], &[], &[&dlq], Some(3));
    let outcome = handler.process(&delivery(mail().to_json(), 3)).await;
    match outcome {
        Outcome::DeadLettered { reason, .. } => {
            assert!(reason.starts_with("gave up after 3 deliveries"), "{reason}")
        }
        other => panic!("expected a dead letter, got {other:?}"),
    }
    assert_eq!(dlq.num_calls(), 1);
}

#[tokio::test]
async fn a_rejected_mail_is_permanent() {
    let ses = ses_answering(400, "MessageRejected");
    let dlq = dlq_expecting("permanent", "ses_send_email");
    let handler = handler(&[&ses], &[], &[&dlq], None);
    let outcome = handler.process(&delivery(mail().to_json(), 1)).await;
    assert!(
        matches!(&outcome, Outcome::DeadLettered { reason, .. } if reason.contains("MessageRejected")),
        "{outcome:?}"
    );
    assert_eq!(dlq.num_calls(), 1);
}

#[tokio::test]
async fn invalid_jobs_are_permanent_and_make_no_aws_call() {
    let ses = ses_ok();
    let s3 = s3_ok();
    let mut bad_upload = UploadJob::from_bytes("bucket-1", "../escape", b"x");
    bad_upload.sha256 = "0".repeat(64);
    let mut bad_mail = mail();
    if let Job::Mail(m) = &mut bad_mail.job {
        m.subject = "hi\r\nBcc: everyone@example.com".into();
    }
    let cases = [
        ("{not json".to_owned(), "malformed_json"),
        (fax(ago(2 * 3_600)).to_json(), "unknown_kind"),
        (bad_mail.to_json(), "invalid_job"),
        (
            Envelope::new(Job::Upload(bad_upload)).to_json(),
            "invalid_job",
        ),
    ];
    for (body, code) in cases {
        let dlq = dlq_expecting("permanent", code);
        let handler = handler(&[&ses], &[&s3], &[&dlq], None);
        let outcome = handler.process(&delivery(body.clone(), 1)).await;
        assert!(
            matches!(&outcome, Outcome::DeadLettered { code: c, .. } if *c == code),
            "{body}: {outcome:?}"
        );
        assert_eq!(dlq.num_calls(), 1, "{body}");
    }
    assert_eq!(ses.num_calls(), 0, "no mail may be sent for an invalid job");
    assert_eq!(
        s3.num_calls(),
        0,
        "no object may be written for an invalid job"
    );
}

#[tokio::test]
async fn a_permanent_failure_that_cannot_be_dead_lettered_comes_back() {
    let dlq_down = mock!(aws_sdk_sqs::Client::send_message).then_http_response(|| {
        HttpResponse::new(
            StatusCode::try_from(503).expect("valid"),
            SdkBody::from("{}"),
        )
    });
    let handler = handler(&[], &[], &[&dlq_down], None);
    let outcome = handler.process(&delivery("{not json".into(), 1)).await;
    assert!(
        matches!(&outcome, Outcome::Retry { reason } if reason.contains("could not be dead-lettered")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_timeout_is_transient() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let ses_config = aws_sdk_sesv2::Config::builder()
        .behavior_version_latest()
        .http_client(producer::aws::https_client())
        .region(aws_sdk_sesv2::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sesv2::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .endpoint_url(format!("http://{address}"))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            aws_smithy_types::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(300))
                .build(),
        )
        .build();
    let dlq = dlq_expecting("transient", "ses_send_email");
    let handler = Handler::from_clients(
        aws_sdk_sesv2::Client::from_conf(ses_config),
        mock_client!(aws_sdk_s3, [&s3_ok()]),
        mock_client!(aws_sdk_sqs, [&dlq]),
        settings(Some(5)),
    );
    let outcome = handler.process(&delivery(mail().to_json(), 1)).await;
    assert!(
        matches!(&outcome, Outcome::Retry { reason } if reason.contains("timeout")),
        "{outcome:?}"
    );
    held.abort();
}

#[tokio::test]
async fn lambda_reports_only_what_must_come_back() {
    let ses = mock!(aws_sdk_sesv2::Client::send_email)
        .match_requests(|req| req.from_email_address() == Some("slow@example.com"))
        .then_http_response(|| {
            HttpResponse::new(
                StatusCode::try_from(503).expect("valid"),
                SdkBody::from("{}"),
            )
        });
    let ses_good = ses_ok();
    let dlq = dlq_expecting("permanent", "malformed_json");
    let handler = handler(&[&ses, &ses_good], &[], &[&dlq], None);
    let mut throttled = mail();
    if let Job::Mail(m) = &mut throttled.job {
        m.from = "slow@example.com".into();
    }
    let record = |id: &str, body: String| {
        let mut record = SqsMessage::default();
        record.message_id = Some(id.into());
        record.body = Some(body);
        record
            .attributes
            .insert("ApproximateReceiveCount".into(), "1".into());
        record
    };
    let mut event = SqsEvent::default();
    event.records = vec![
        record("good", mail().to_json()),
        record("transient", throttled.to_json()),
        record("poison", "{not json".into()),
    ];
    let response = handler.handle_sqs_event(event).await.expect("handled");
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["transient"]);
    assert_eq!(dlq.num_calls(), 1);

    let mut event = SqsEvent::default();
    event.records = vec![record("good", mail().to_json()), SqsMessage::default()];
    let err = handler
        .handle_sqs_event(event)
        .await
        .expect_err("a record without id fails the batch");
    assert_eq!(err.to_string(), "record 1 of the event has no `messageId`");
}

/// moto answers 500 to a templated SendEmail, so the request itself is proven here.
#[tokio::test]
async fn a_template_mail_sends_the_template_name_and_its_data() {
    let data = serde_json::json!({"name": "Ann", "product_id": 42, "product_name": "Pro plan"});
    let expected_data = data.clone();
    let ses = mock!(aws_sdk_sesv2::Client::send_email)
        .match_requests(move |req| {
            let template = req.content().and_then(|c| c.template());
            let sent_data: Option<serde_json::Value> = template
                .and_then(|t| t.template_data())
                .and_then(|d| serde_json::from_str(d).ok());
            req.from_email_address() == Some("shop@example.com")
                && req.destination().map(|d| d.to_addresses())
                    == Some(&["ann@example.com".to_owned()][..])
                && template.and_then(|t| t.template_name()) == Some("purchase-reminder")
                && sent_data.as_ref() == Some(&expected_data)
                && req.content().and_then(|c| c.simple()).is_none()
        })
        .then_output(|| {
            SendEmailOutput::builder()
                .message_id("ses-template-1")
                .build()
        });
    let handler = handler(&[&ses], &[], &[], None);
    let mut envelope = mail();
    if let Job::Mail(m) = &mut envelope.job {
        m.subject.clear();
        m.text = None;
        m.template = Some(producer::MailTemplate {
            name: "purchase-reminder".into(),
            data: data.as_object().cloned().unwrap_or_default(),
        });
    }
    let outcome = handler.process(&delivery(envelope.to_json(), 1)).await;
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(ses.num_calls(), 1);
}

/// An envelope of a kind no handler here runs, created at `created_at`.
fn fax(created_at: std::time::SystemTime) -> Envelope {
    let mut envelope = Envelope::new(Job::Custom(producer::CustomJob {
        kind: "fax".into(),
        payload: serde_json::json!({"to": "+15550100"}),
    }));
    envelope.created_at = humantime::format_rfc3339_millis(created_at).to_string();
    envelope
}

fn ago(seconds: u64) -> std::time::SystemTime {
    std::time::SystemTime::now() - Duration::from_secs(seconds)
}

#[tokio::test]
async fn a_transient_failure_hides_the_message_for_a_jittered_backoff() {
    use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityOutput;
    let ses = ses_answering(503, "");
    // The third delivery failed: base 10 s doubled twice caps the wait at 40 s.
    let hide = mock!(aws_sdk_sqs::Client::change_message_visibility)
        .match_requests(|req| {
            req.queue_url() == Some("https://queue")
                && req.receipt_handle() == Some("handle-1")
                && req
                    .visibility_timeout()
                    .is_some_and(|v| (0..=40).contains(&v))
        })
        .then_output(|| ChangeMessageVisibilityOutput::builder().build());
    let sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&hide], |b| b
        .retry_config(RetryConfig::disabled()));
    let ses_client = mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, [&ses], |b| b
        .retry_config(RetryConfig::disabled()));
    let handler = Handler::from_clients(
        ses_client,
        mock_client!(aws_sdk_s3, [&s3_ok()]),
        sqs,
        Settings {
            backoff: Some(handler::Backoff {
                base_seconds: 10,
                max_seconds: 900,
            }),
            ..settings(Some(5))
        },
    );
    let mut failing = delivery(mail().to_json(), 3);
    failing.queue_url = Some("https://queue".into());
    failing.receipt_handle = Some("handle-1".into());
    let outcome = handler.process(&failing).await;
    assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
    assert_eq!(hide.num_calls(), 1);
}

/// A job of its own that calls SES itself, through the shared client, and lets
/// `?` sort the SDK's error.
#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct DirectMail {
    to: String,
}

impl producer::JobType for DirectMail {
    const KIND: &'static str = "direct_mail";
}

impl handler::Perform for DirectMail {
    async fn perform(
        self,
        cx: &handler::Context<'_, ()>,
    ) -> Result<handler::Done, handler::JobError> {
        let destination = aws_sdk_sesv2::types::Destination::builder()
            .to_addresses(self.to)
            .build();
        cx.aws()
            .ses
            .send_email()
            .from_email_address("shop@example.com")
            .destination(destination)
            .send()
            .await?;
        Ok(handler::Done::done())
    }
}

fn direct_mail() -> String {
    Envelope::new(
        producer::job_of(&DirectMail {
            to: "ann@example.com".into(),
        })
        .expect("valid"),
    )
    .to_json()
}

#[tokio::test]
async fn question_mark_on_an_sdk_error_in_a_perform_sorts_it_as_the_built_ins_do() {
    let with_job = |h: Handler| {
        h.with_runner(handler::Runner::new().job::<DirectMail>())
            .expect("one kind each")
    };
    for (status, error_type) in [(429, "TooManyRequestsException"), (500, "InternalFailure")] {
        let ses = ses_answering(status, error_type);
        let outcome = with_job(handler(&[&ses], &[], &[], None))
            .process(&delivery(direct_mail(), 1))
            .await;
        match outcome {
            Outcome::Retry { reason } => assert!(
                reason.starts_with("ses:SendEmail failed: "),
                "{status}: {reason}"
            ),
            other => panic!("{status}: {other:?}"),
        }
    }
    let ses = ses_answering(400, "MessageRejected");
    let dlq = dlq_expecting("permanent", "aws_call");
    let outcome = with_job(handler(&[&ses], &[], &[&dlq], None))
        .process(&delivery(direct_mail(), 1))
        .await;
    assert!(
        matches!(&outcome, Outcome::DeadLettered { code: "aws_call", reason } if reason.contains("MessageRejected")),
        "{outcome:?}"
    );
    assert_eq!(dlq.num_calls(), 1);
}

#[tokio::test]
async fn a_date_that_does_not_exist_is_dead_lettered_with_its_reason() {
    let mut envelope = mail();
    envelope.created_at = "2026-02-30T00:00:00Z".into();
    let dlq = dlq_expecting("permanent", "invalid_job");
    let outcome = handler(&[], &[], &[&dlq], None)
        .process(&delivery(envelope.to_json(), 1))
        .await;
    assert!(
        matches!(&outcome, Outcome::DeadLettered { code: "invalid_job", reason } if reason.contains("`created_at`")),
        "{outcome:?}"
    );
    assert_eq!(dlq.num_calls(), 1);
}

/// Every message the handler sends (a dead letter with its reasons, a job
/// carried forward) keeps one of SQS's ten attributes free for the Extended
/// Client's pointer; LocalStack does not count them. The dead letter goes to
/// the queue's own dead-letter queue, read from its redrive policy once, and
/// names the queue it came from.
#[tokio::test]
async fn every_send_keeps_an_attribute_free_and_dead_letters_go_to_the_queues_own_dlq() {
    use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput;
    use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlOutput;
    use aws_sdk_sqs::types::QueueAttributeName;
    use std::sync::{Arc, Mutex};

    const QUEUE: &str = "https://sqs.us-east-1.amazonaws.com/1/shop-mailers";
    const OWN_DLQ: &str = "https://sqs.us-east-1.amazonaws.com/1/shop-mailers-dead";
    /// A send's queue, its number of attributes and its `jobs.source`.
    type Send = (String, usize, Option<String>);
    let sent: Arc<Mutex<Vec<Send>>> = Arc::default();
    let record = Arc::clone(&sent);
    let sends = mock!(aws_sdk_sqs::Client::send_message)
        .match_requests(move |req| {
            let attrs = req.message_attributes().cloned().unwrap_or_default();
            record.lock().expect("not poisoned").push((
                req.queue_url().unwrap_or_default().to_owned(),
                attrs.len(),
                attrs
                    .get(attr::SOURCE)
                    .and_then(|v| v.string_value().map(str::to_owned)),
            ));
            true
        })
        .then_output(|| SendMessageOutput::builder().message_id("sent-1").build());
    let policy_reads = mock!(aws_sdk_sqs::Client::get_queue_attributes)
        .match_requests(|req| req.queue_url() == Some(QUEUE))
        .then_output(|| {
            GetQueueAttributesOutput::builder()
                .attributes(
                    QueueAttributeName::RedrivePolicy,
                    r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:shop-mailers-dead","maxReceiveCount":"10"}"#,
                )
                .build()
        });
    let lookups = mock!(aws_sdk_sqs::Client::get_queue_url)
        .match_requests(|req| req.queue_name() == Some("shop-mailers-dead"))
        .then_output(|| GetQueueUrlOutput::builder().queue_url(OWN_DLQ).build());
    let rejected = ses_answering(400, "MessageRejected");
    let handler = handler(
        &[&rejected],
        &[],
        &[&sends, &policy_reads, &lookups],
        Some(5),
    );

    let from_queue = |body: String, id: &str| Delivery {
        message_id: id.into(),
        queue_url: Some(QUEUE.into()),
        ..delivery(body, 1)
    };
    let mut later = mail();
    later.not_before = Some(
        humantime::format_rfc3339_millis(
            std::time::SystemTime::now() + Duration::from_secs(3 * 86_400),
        )
        .to_string(),
    );
    for (body, id) in [
        (mail().to_json(), "m-1"),
        (mail().to_json(), "m-2"),
        (later.to_json(), "m-3"),
    ] {
        let outcome = handler.process(&from_queue(body, id)).await;
        assert!(
            matches!(
                outcome,
                Outcome::DeadLettered { .. } | Outcome::Rescheduled { .. }
            ),
            "{id}: {outcome:?}"
        );
    }
    let sent = sent.lock().expect("not poisoned").clone();
    assert_eq!(
        sent.len(),
        3,
        "two dead letters and one carried job: {sent:?}"
    );
    for (queue, attributes, _) in &sent {
        assert!(
            *attributes <= producer::contract::attributes::MAX_ATTRIBUTES,
            "{attributes} attributes on a send to {queue}"
        );
    }
    let dead: Vec<_> = sent.iter().filter(|(queue, ..)| queue == OWN_DLQ).collect();
    assert_eq!(
        dead.len(),
        2,
        "the queue's own dead-letter queue, not JOBS_DLQ_URL: {sent:?}"
    );
    assert!(
        dead.iter()
            .any(|(.., source)| source.as_deref() == Some(&format!("{QUEUE}#m-1")))
    );
    assert_eq!(
        policy_reads.num_calls(),
        1,
        "the redrive policy is read once"
    );
    assert!(
        sent.iter()
            .any(|(queue, attributes, _)| queue == QUEUE && *attributes == 2)
    );
}

#[tokio::test]
async fn an_unknown_kind_is_retried_within_its_grace_period_and_dead_lettered_after_it() {
    use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityOutput;
    // Within the hour: retried, not dead-lettered. With 5 deliveries allowed
    // and 4 left after the first, the next comes about a quarter of the hour later.
    let hide = mock!(aws_sdk_sqs::Client::change_message_visibility)
        .match_requests(|req| {
            req.visibility_timeout()
                .is_some_and(|v| (880..=900).contains(&v))
        })
        .then_output(|| ChangeMessageVisibilityOutput::builder().build());
    let dlq = dlq_expecting("permanent", "unknown_kind");
    let handler = handler(&[], &[], &[&hide, &dlq], Some(5));
    let mut fresh = delivery(fax(ago(0)).to_json(), 1);
    fresh.queue_url = Some("https://queue".into());
    fresh.receipt_handle = Some("handle-1".into());
    let outcome = handler.process(&fresh).await;
    match &outcome {
        Outcome::UnknownKind {
            reason,
            grace_left_seconds,
        } => {
            assert!(
                reason.contains("unknown job `kind` `fax`")
                    && reason.contains("JOBS_UNKNOWN_KIND_GRACE_SECONDS"),
                "{reason}"
            );
            assert!((3_590..=3_600).contains(grace_left_seconds), "{outcome:?}");
        }
        other => panic!("expected a retry within the grace period, got {other:?}"),
    }
    assert!(!outcome.is_settled());
    assert_eq!(
        hide.num_calls(),
        1,
        "the next delivery is spread over the hour"
    );
    assert_eq!(dlq.num_calls(), 0);

    // Past it, on the last delivery, with a grace of 0, or with a `created_at`
    // in the future on a message SQS took two hours ago: dead-lettered.
    let mut future = delivery(fax(ago(0) + Duration::from_secs(86_400 * 365)).to_json(), 1);
    future.sent_at = Some(ago(2 * 3_600));
    let cases = [
        (
            handler.settings().clone(),
            delivery(fax(ago(3_601)).to_json(), 2),
        ),
        (
            handler.settings().clone(),
            delivery(fax(ago(0)).to_json(), 5),
        ),
        (
            Settings {
                unknown_kind_grace: Duration::ZERO,
                ..settings(Some(5))
            },
            delivery(fax(ago(0)).to_json(), 1),
        ),
        (handler.settings().clone(), future),
    ];
    for (settings, delivery) in cases {
        let dlq = dlq_expecting("permanent", "unknown_kind");
        let sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&dlq], |b| b
            .retry_config(RetryConfig::disabled()));
        let handler = Handler::from_clients(
            mock_client!(aws_sdk_sesv2, [&ses_ok()]),
            mock_client!(aws_sdk_s3, [&s3_ok()]),
            sqs,
            settings,
        );
        let outcome = handler.process(&delivery).await;
        assert!(
            matches!(
                &outcome,
                Outcome::DeadLettered {
                    code: "unknown_kind",
                    ..
                }
            ),
            "{delivery:?}: {outcome:?}"
        );
        assert_eq!(dlq.num_calls(), 1);
    }
}

#[tokio::test]
async fn a_job_past_its_expiry_is_dropped_unrun_and_not_dead_lettered() {
    let ses = ses_ok();
    let dlq = dlq_expecting("permanent", "expired");
    let handler = handler(&[&ses], &[], &[&dlq], Some(5));
    let mut envelope = mail();
    envelope.created_at = humantime::format_rfc3339_millis(ago(120)).to_string();
    envelope.expires_at = Some(humantime::format_rfc3339_millis(ago(60)).to_string());
    let outcome = handler.process(&delivery(envelope.to_json(), 2)).await;
    assert_eq!(outcome, Outcome::Expired);
    assert!(outcome.is_settled(), "its message is deleted");
    assert_eq!((ses.num_calls(), dlq.num_calls()), (0, 0));

    // Not yet: it runs.
    envelope.expires_at = Some(
        humantime::format_rfc3339_millis(std::time::SystemTime::now() + Duration::from_secs(60))
            .to_string(),
    );
    let outcome = handler.process(&delivery(envelope.to_json(), 1)).await;
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(ses.num_calls(), 1);
}

/// Asks to come back in an hour.
#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct NotYet {}

impl producer::JobType for NotYet {
    const KIND: &'static str = "not_yet";
}

impl handler::Perform for NotYet {
    async fn perform(
        self,
        _cx: &handler::Context<'_, ()>,
    ) -> Result<handler::Done, handler::JobError> {
        Ok(handler::Done::snooze(Duration::from_secs(3_600)))
    }
}

#[tokio::test]
async fn a_snooze_longer_than_sqs_delays_is_carried_by_its_attribute() {
    let near = |at: Option<std::time::SystemTime>| {
        at.is_some_and(|at| {
            let expected = std::time::SystemTime::now() + Duration::from_secs(3_600);
            let gap = expected.duration_since(at).unwrap_or_else(|e| e.duration());
            gap < Duration::from_secs(5)
        })
    };
    let resend = mock!(aws_sdk_sqs::Client::send_message)
        .match_requests(move |req| {
            let attribute = |name: &str| {
                req.message_attributes()
                    .and_then(|a| a.get(name))
                    .and_then(|v| v.string_value())
                    .map(str::to_owned)
            };
            req.queue_url() == Some("https://queue")
                && req.delay_seconds() == Some(900)
                && attribute(attr::JOB_KIND).as_deref() == Some("not_yet")
                && near(
                    attribute(attr::SNOOZED_UNTIL)
                        .as_deref()
                        .and_then(producer::contract::validate::parse_rfc3339),
                )
        })
        .then_output(|| SendMessageOutput::builder().message_id("m-2").build());
    let snoozing = handler(&[], &[], &[&resend], Some(2))
        .with_runner(handler::Runner::new().job::<NotYet>())
        .expect("one kind");
    let body = Envelope::new(producer::job_of(&NotYet {}).expect("valid")).to_json();
    let mut first = delivery(body.clone(), 1);
    first.queue_url = Some("https://queue".into());
    let outcome = snoozing.process(&first).await;
    assert_eq!(outcome, Outcome::Snoozed { for_seconds: 3_600 });
    assert!(outcome.is_settled());
    assert_eq!(resend.num_calls(), 1);

    // The new message, 15 minutes on: not run, carried forward with its attribute.
    let carry = mock!(aws_sdk_sqs::Client::send_message)
        .match_requests(|req| {
            req.message_attributes()
                .is_some_and(|a| a.contains_key(attr::SNOOZED_UNTIL))
                && req.delay_seconds().is_some_and(|d| d > 0)
        })
        .then_output(|| SendMessageOutput::builder().message_id("m-3").build());
    let carrying = handler(&[], &[], &[&carry], Some(2))
        .with_runner(handler::Runner::new().job::<NotYet>())
        .expect("one kind");
    let mut later = delivery(body, 1);
    later.queue_url = Some("https://queue".into());
    later.snoozed_until = Some(std::time::SystemTime::now() + Duration::from_secs(2_700));
    let outcome = carrying.process(&later).await;
    assert!(
        matches!(outcome, Outcome::Rescheduled { due_in_seconds } if (2_690..=2_700).contains(&due_in_seconds)),
        "{outcome:?}"
    );
    assert_eq!(carry.num_calls(), 1);
}
