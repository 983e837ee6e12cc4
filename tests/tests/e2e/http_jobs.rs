//! `http` jobs end to end: SQS and S3 on LocalStack, signing secrets in
//! LocalStack's SSM, and a test HTTP server on 127.0.0.1, 127.0.0.2 and
//! 127.0.0.3, of which only 127.0.0.1 is allowed (`JOBS_HTTP_ALLOW`).

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use handler::http::HttpSettings;
use handler::http::guard::AllowList;
use handler::{AwsClients, Backoff, Handler, Settings};
use integration_tests::http_server::{Reply, Request, TestServer};
use integration_tests::{
    LocalAws, attribute, eventually, repo_root, run_worker_until, unique_suffix, workspace_binary,
};
use producer::contract::attributes::{ERROR_CODE, ERROR_MESSAGE};
use producer::{Envelope, HttpJob, Job, SendOptions};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt as _;

/// A handler of the local stack's clients that may call 127.0.0.1 only.
fn handler(local: &LocalAws, dlq_url: &str, backoff: Option<Backoff>) -> Handler {
    handler_resolving(local, dlq_url, backoff, HttpSettings::default().resolver)
}

/// As [`handler`], with names resolved by `resolver`.
fn handler_resolving(
    local: &LocalAws,
    dlq_url: &str,
    backoff: Option<Backoff>,
    resolver: std::sync::Arc<dyn handler::http::Resolve>,
) -> Handler {
    Handler::with_clients(
        AwsClients {
            ses: local.ses.clone(),
            s3: local.s3.clone(),
            ..AwsClients::from_config(&local.config)
        },
        Settings {
            backoff,
            http_jobs: true,
            http: HttpSettings {
                allow: AllowList::parse("127.0.0.1/32").expect("allow list"),
                resolver,
                ..HttpSettings::default()
            },
            ..Settings::new(dlq_url)
        },
    )
}

fn quick_backoff() -> Option<Backoff> {
    Some(Backoff {
        base_seconds: 1,
        max_seconds: 1,
    })
}

fn http_job(job: HttpJob) -> Envelope {
    Envelope::new(Job::Http(job))
}

#[tokio::test]
async fn a_200_is_done_and_a_500_is_retried_with_the_same_idempotency_key() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("http-ok", 4, 30).await?;
    let server = TestServer::start().await?;
    server.reply("/flaky", Reply::new(500, "try later"));
    let ok = http_job(HttpJob::post(server.url(1, "/ok")).json(&serde_json::json!({"n": 1})));
    let flaky = http_job(HttpJob::post(server.url(1, "/flaky")).json(&serde_json::json!({"n": 2})));
    let queue = local.queue(&queues.url);
    queue.enqueue(&ok, SendOptions::default()).await?;
    queue.enqueue(&flaky, SendOptions::default()).await?;
    let stats = run_worker_until(
        handler(&local, &queues.dlq_url, quick_backoff()),
        &local,
        &queues.url,
        Duration::from_secs(60),
        || async {
            let done = server.requests_to("/flaky").len() >= 2
                && local.queue_depth(&queues.url).await? == 0;
            Ok(done.then_some(()))
        },
    )
    .await?;
    let first = server.requests_to("/ok");
    assert_eq!(first.len(), 1, "the 200 ran once");
    assert_eq!(first[0].header("idempotency-key"), Some(ok.id.as_str()));
    let tries = server.requests_to("/flaky");
    assert_eq!(tries.len(), 2, "the 500 and then the 200");
    for attempt in &tries {
        assert_eq!(attempt.header("idempotency-key"), Some(flaky.id.as_str()));
        assert_eq!(attempt.body, br#"{"n":2}"#);
    }
    assert!(stats.retried >= 1, "{stats:?}");
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0);
    assert_eq!(server.connections()[1..], [0, 0]);
    Ok(())
}

#[tokio::test]
async fn a_429_comes_back_no_sooner_than_its_retry_after() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("http-429", 4, 30).await?;
    let server = TestServer::start().await?;
    server.reply(
        "/busy",
        Reply::new(429, "slow down").header("retry-after", "5"),
    );
    let job = http_job(HttpJob::post(server.url(1, "/busy")));
    local
        .queue(&queues.url)
        .enqueue(&job, SendOptions::default())
        .await?;
    // With a backoff of at most 1 s, a handler that ignored the header would
    // be back within about a second.
    run_worker_until(
        handler(&local, &queues.dlq_url, quick_backoff()),
        &local,
        &queues.url,
        Duration::from_secs(60),
        || async { Ok((server.requests_to("/busy").len() >= 2).then_some(())) },
    )
    .await?;
    let tries = server.requests_to("/busy");
    let waited = tries[1].at.duration_since(tries[0].at);
    assert!(
        waited >= Duration::from_secs(5),
        "the second try came {waited:?} after the 429"
    );
    Ok(())
}

#[tokio::test]
async fn refused_addresses_and_4xx_answers_are_dead_lettered_with_their_reasons() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("http-dead", 4, 30).await?;
    let server = TestServer::start().await?;
    server.reply("/missing", Reply::new(404, "{\"error\":\"no hook h-42\"}"));
    server.reply(
        "/redirect",
        Reply::new(302, "").header("location", server.url(3, "/inside")),
    );
    let missing = http_job(HttpJob::post(server.url(1, "/missing")));
    let private = http_job(HttpJob::get(server.url(2, "/inside")));
    // Another origin, followed on request: its address is still checked.
    let redirected =
        http_job(HttpJob::post(server.url(1, "/redirect")).following_redirects_to_any_origin());
    let queue = local.queue(&queues.url);
    for job in [&missing, &private, &redirected] {
        queue.enqueue(job, SendOptions::default()).await?;
    }
    run_worker_until(
        handler(&local, &queues.dlq_url, quick_backoff()),
        &local,
        &queues.url,
        Duration::from_secs(60),
        || async { Ok((local.queue_depth(&queues.dlq_url).await? >= 3).then_some(())) },
    )
    .await?;
    let letters = local.drain(&queues.dlq_url).await?;
    let reason_of = |id: &str| -> Result<(String, String)> {
        let letter = letters
            .iter()
            .find(|m| m.body().is_some_and(|b| b.contains(id)))
            .with_context(|| format!("no dead letter for {id}"))?;
        Ok((
            attribute(letter, ERROR_CODE).unwrap_or_default(),
            attribute(letter, ERROR_MESSAGE).unwrap_or_default(),
        ))
    };
    let (code, reason) = reason_of(&missing.id)?;
    assert_eq!(code, "http_status");
    assert!(
        reason.contains("answered 404") && reason.contains("no hook h-42"),
        "{reason}"
    );
    for job in [&private, &redirected] {
        let (code, reason) = reason_of(&job.id)?;
        assert_eq!(code, "http_refused", "{reason}");
    }
    assert_eq!(
        server.requests_to("/missing").len(),
        1,
        "a 404 is not retried"
    );
    assert_eq!(
        server.connections(),
        [2, 0, 0],
        "127.0.0.1 for the 404 and the redirect; the refused addresses never"
    );
    Ok(())
}

#[tokio::test]
async fn save_to_writes_the_answer_to_s3_with_its_sha256() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("http-save", 3, 60).await?;
    let server = TestServer::start().await?;
    let small: Vec<u8> = b"order,total\n42,9.50\n".repeat(50);
    // Above one part: a multipart upload.
    let large: Vec<u8> = (0..9 * 1024 * 1024 + 17).map(|i| (i % 251) as u8).collect();
    server.reply(
        "/report.csv",
        Reply::new(200, small.clone()).header("content-type", "text/csv"),
    );
    server.reply("/export.bin", Reply::new(200, large.clone()));
    let prefix = format!("http-save/{}", unique_suffix());
    let jobs = [
        (
            http_job(
                HttpJob::get(server.url(1, "/report.csv"))
                    .save_to(&local.bucket, format!("{prefix}/report.csv")),
            ),
            small,
            format!("{prefix}/report.csv"),
        ),
        (
            http_job(
                HttpJob::get(server.url(1, "/export.bin"))
                    .timeout_seconds(60)
                    .save_to(&local.bucket, format!("{prefix}/export.bin")),
            ),
            large,
            format!("{prefix}/export.bin"),
        ),
    ];
    for (job, _, _) in &jobs {
        local
            .queue(&queues.url)
            .enqueue(job, SendOptions::default())
            .await?;
    }
    run_worker_until(
        handler(&local, &queues.dlq_url, quick_backoff()),
        &local,
        &queues.url,
        Duration::from_secs(90),
        || async {
            let done = local.object_exists(&format!("{prefix}/report.csv")).await?
                && local.object_exists(&format!("{prefix}/export.bin")).await?;
            Ok(done.then_some(()))
        },
    )
    .await?;
    for (_, bytes, key) in jobs {
        let object = local
            .s3
            .get_object()
            .bucket(&local.bucket)
            .key(&key)
            .send()
            .await?;
        let stored = object.body.collect().await?.into_bytes();
        assert_eq!(stored.len(), bytes.len(), "{key}");
        assert_eq!(
            hex::encode(Sha256::digest(&stored)),
            hex::encode(Sha256::digest(&bytes)),
            "{key}"
        );
    }
    let head = local
        .s3
        .head_object()
        .bucket(&local.bucket)
        .key(format!("{prefix}/report.csv"))
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await?;
    let expected = base64::engine::general_purpose::STANDARD
        .encode(Sha256::digest(b"order,total\n42,9.50\n".repeat(50)));
    assert_eq!(
        head.checksum_sha256(),
        Some(expected.as_str()),
        "S3 checked the SHA-256 sent"
    );
    assert_eq!(head.content_type(), Some("text/csv"));
    Ok(())
}

/// Checks a signed request with the Standard Webhooks reference library
/// (PyPI `standardwebhooks`), from the local stack's tools.
const VERIFY: &str = r#"
import json, sys
from standardwebhooks import Webhook
request = json.load(sys.stdin)
Webhook(sys.argv[1]).verify(request["body"], request["headers"], json_parse=False)
print("verified")
"#;

/// Runs `python -c SCRIPT ARGS…` of the local stack's tools with `input` as
/// JSON on its standard input.
fn tools_python(
    script_and_args: &[&str],
    input: &serde_json::Value,
) -> Result<std::process::Output> {
    let python = repo_root().join(".venv/tools/bin/python");
    let mut child = std::process::Command::new(&python)
        .arg("-c")
        .args(script_and_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("run {}", python.display()))?;
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().context("stdin")?;
        stdin.write_all(input.to_string().as_bytes())?;
    }
    Ok(child.wait_with_output()?)
}

/// Whether the Standard Webhooks Python library accepts `request` under `secret`.
fn verifies(request: &Request, secret: &str) -> Result<bool> {
    let headers: serde_json::Map<String, serde_json::Value> = request
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), v.clone().into()))
        .collect();
    let input = serde_json::json!({
        "body": String::from_utf8(request.body.clone())?,
        "headers": headers,
    });
    let output = tools_python(&[VERIFY, secret], &input)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() && !stderr.contains("WebhookVerificationError") {
        bail!("the verifier failed: {stderr}");
    }
    Ok(output.status.success())
}

#[tokio::test]
async fn a_signed_call_verifies_with_the_standard_webhooks_library_and_its_secret_shows_nowhere()
-> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("http-signed", 2, 30).await?;
    let server = TestServer::start().await?;
    server.reply("/rejects", Reply::new(400, "bad signature?"));
    let raw = [
        *uuid::Uuid::new_v4().as_bytes(),
        *uuid::Uuid::new_v4().as_bytes(),
    ]
    .concat();
    let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
    let secret = format!("whsec_{encoded}");
    let parameter = format!("/jobs/webhooks/partner-{}", unique_suffix());
    let ssm = aws_sdk_ssm::Client::new(&local.config);
    ssm.put_parameter()
        .name(&parameter)
        .value(stored_secret(&secret, &["127.0.0.1"]))
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .context("put the signing secret in LocalStack's SSM")?;
    let body = serde_json::json!({"type": "purchase.reminded", "order": 42});
    let signed = http_job(
        HttpJob::post(server.url(1, "/hooks"))
            .json(&body)
            .signed_with(format!("ssm:{parameter}")),
    );
    let refused = http_job(
        HttpJob::post(server.url(1, "/rejects"))
            .json(&body)
            .signed_with(format!("ssm:{parameter}")),
    );
    let queue = local.queue(&queues.url);
    queue.enqueue(&signed, SendOptions::default()).await?;
    queue.enqueue(&refused, SendOptions::default()).await?;

    // The worker binary, as deployed, with proxies that would lead to
    // 127.0.0.2: the client must not use them.
    let proxy = server.url(2, "");
    let mut worker = tokio::process::Command::new(workspace_binary("worker")?)
        .envs(local.env.child_env())
        .env("JOBS_QUEUE_URL", &queues.url)
        .env("JOBS_DLQ_URL", &queues.dlq_url)
        .env("JOBS_WAIT_SECONDS", "1")
        .env("JOBS_HTTP_ALLOW", "127.0.0.1/32")
        .env("JOBS_HTTP_SECRETS_PREFIX", "/jobs/webhooks/")
        .env("JOBS_HTTP_JOBS", "on")
        .env("RUST_LOG", "debug")
        .env("HTTP_PROXY", &proxy)
        .env("HTTPS_PROXY", &proxy)
        .env("ALL_PROXY", &proxy)
        .env("http_proxy", &proxy)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let waited = eventually("the signed calls", Duration::from_secs(60), || async {
        Ok((server.requests_to("/hooks").len() == 1
            && local.queue_depth(&queues.dlq_url).await? >= 1)
            .then_some(()))
    })
    .await;
    let pid = worker.id().context("worker pid")?;
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    tokio::time::timeout(Duration::from_secs(30), worker.wait()).await??;
    let mut logs = String::new();
    if let Some(mut stdout) = worker.stdout.take() {
        stdout.read_to_string(&mut logs).await?;
    }
    if let Some(mut stderr) = worker.stderr.take() {
        stderr.read_to_string(&mut logs).await?;
    }
    waited.with_context(|| format!("worker logs:\n{logs}"))?;

    let request = &server.requests_to("/hooks")[0];
    assert_eq!(request.header("webhook-id"), Some(signed.id.as_str()));
    assert_eq!(request.header("idempotency-key"), Some(signed.id.as_str()));
    assert!(
        verifies(request, &secret)?,
        "standardwebhooks refused the signature"
    );
    // A wrong secret must fail the same check, or the check proves nothing.
    assert!(
        !verifies(request, "whsec_d3Jvbmcgc2VjcmV0IGtleQ==")?,
        "a wrong secret must not verify"
    );

    let letters = local.drain(&queues.dlq_url).await?;
    assert_eq!(letters.len(), 1);
    let mut everything = logs.clone();
    for letter in &letters {
        everything.push_str(letter.body().unwrap_or_default());
        for (name, value) in letter.message_attributes().into_iter().flatten() {
            everything.push_str(name);
            everything.push_str(value.string_value().unwrap_or_default());
        }
    }
    assert!(logs.contains("job done"), "{logs}");
    assert!(
        !everything.contains(&encoded),
        "the secret was found in the logs or a dead letter"
    );
    assert_eq!(server.connections()[1..], [0, 0], "no proxy was used");
    Ok(())
}

#[tokio::test]
async fn the_shop_tells_its_partner_of_a_reminder_with_a_signed_webhook() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("http-shop", 3, 30).await?;
    let server = TestServer::start().await?;
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().as_bytes())
    );
    let parameter = format!("/jobs/webhooks/shop-{}", unique_suffix());
    aws_sdk_ssm::Client::new(&local.config)
        .put_parameter()
        .name(&parameter)
        .value(stored_secret(&secret, &["127.0.0.1"]))
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await?;
    let settings = serde_json::json!({
        "products_table": local.env.get("JOBS_APP_SETTINGS").ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
            .and_then(|v| v["products_table"].as_str().map(str::to_owned))
            .context("the local stack's products table")?,
        "partner_webhook": {"url": server.url(1, "/partner"), "sign_with": format!("ssm:{parameter}")},
    });
    // Product 7 of the local stack is not paid: its owner gets a reminder.
    let reminder = Envelope::new(producer::job_of(&shop_jobs::PurchaseReminder {
        product_id: 7,
    })?);
    local
        .queue(&queues.url)
        .enqueue(&reminder, SendOptions::default())
        .await?;
    let _worker = tokio::process::Command::new(workspace_binary("shop-worker")?)
        .envs(local.env.child_env())
        .env("JOBS_QUEUE_URL", &queues.url)
        .env("JOBS_DLQ_URL", &queues.dlq_url)
        .env("JOBS_WAIT_SECONDS", "1")
        .env("JOBS_APP_SETTINGS", settings.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let notices = eventually("the partner's webhook", Duration::from_secs(60), || async {
        let notices = server.requests_to("/partner");
        Ok((!notices.is_empty()).then_some(notices))
    })
    .await?;
    let notice = &notices[0];
    let notice_id = format!("{}-partner", reminder.id);
    assert_eq!(notice.header("webhook-id"), Some(notice_id.as_str()));
    assert_eq!(notice.header("idempotency-key"), Some(notice_id.as_str()));
    let body: serde_json::Value = serde_json::from_slice(&notice.body)?;
    assert_eq!(body["reminder_id"], reminder.id.as_str());
    assert_eq!(body["product_id"], 7);
    assert!(
        verifies(notice, &secret)?,
        "the partner can verify the notice"
    );
    eventually("an empty queue", Duration::from_secs(30), || async {
        Ok((local.queue_depth(&queues.url).await? == 0).then_some(()))
    })
    .await?;
    assert_eq!(server.requests_to("/partner").len(), 1);
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0);
    Ok(())
}

/// Recomputes a request's SigV4 signature with botocore (the AWS SDK for
/// Python), over the headers the request says it signed, at its own
/// `x-amz-date`, and prints it.
const BOTOCORE_SIGNATURE: &str = r#"
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
r = json.load(sys.stdin)
request = AWSRequest(method=r["method"], url=r["url"], data=r["body"].encode(), headers=r["headers"])
auth = SigV4Auth(Credentials(r["key"], r["secret"], r["token"]), r["service"], r["region"])
request.context["timestamp"] = r["headers"]["x-amz-date"]
canonical = auth.canonical_request(request)
print(auth.signature(auth.string_to_sign(request, canonical), request))
"#;

/// LocalStack does not check signatures, so the signing secrets'
/// `GetParameter`, made without the SSM client, is checked against botocore's
/// signer: a header left out of the signature, or a canonical form AWS would
/// compute differently, would show as a different signature here.
#[tokio::test]
async fn the_secret_read_is_signed_as_botocore_signs_it() -> Result<()> {
    let server = TestServer::start().await?;
    let (key, secret, token) = ("AKIDBOTOCORE", "c2VjcmV0LWtleQ", "session-token");
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-central-1"))
        .endpoint_url(server.url(1, ""))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_sdk_sqs::config::Credentials::new(
                    key,
                    secret,
                    Some(token.into()),
                    None,
                    "test",
                ),
            ),
        )
        .build();
    server.reply(
        "/",
        Reply::new(200, r#"{"Parameter":{"Value":"whsec_c2VjcmV0"}}"#),
    );
    handler::http::sign::Secrets::new(&config, None)
        .key("/jobs/webhooks/botocore")
        .await?;
    let request = &server.requests_to("/")[0];
    let authorization = request.header("authorization").context("signed")?;
    let signed: Vec<&str> = authorization
        .split("SignedHeaders=")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .context("SignedHeaders")?
        .split(';')
        .collect();
    let ours = authorization
        .rsplit("Signature=")
        .next()
        .context("Signature")?;
    let headers: serde_json::Map<String, serde_json::Value> = signed
        .iter()
        .map(|name| {
            let value = request.header(name).unwrap_or_default();
            (name.to_string(), value.into())
        })
        .collect();
    let input = serde_json::json!({
        "method": request.method, "url": server.url(1, "/"), "body": String::from_utf8(request.body.clone())?,
        "headers": headers, "key": key, "secret": secret, "token": token,
        "service": "ssm", "region": "eu-central-1",
    });
    let output = tools_python(&[BOTOCORE_SIGNATURE], &input)?;
    if !output.status.success() {
        bail!(
            "botocore failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(
        String::from_utf8(output.stdout)?.trim(),
        ours,
        "botocore signs the same request differently: {authorization}"
    );
    assert!(
        [
            "host",
            "x-amz-target",
            "content-type",
            "x-amz-security-token"
        ]
        .iter()
        .all(|name| signed.contains(name)),
        "{signed:?}"
    );
    Ok(())
}

/// Two test servers on two ports of 127.0.0.1: two origins, both allowed.
#[tokio::test]
async fn a_redirect_to_another_origin_is_refused_unless_asked_and_then_carries_no_header_of_the_job()
-> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("http-redirect-origin", 2, 30).await?;
    let (first, second) = (TestServer::start().await?, TestServer::start().await?);
    for hop in ["/refused", "/followed"] {
        first.reply(
            hop,
            Reply::new(307, "").header("location", second.url(1, "/landed?token=s3cret")),
        );
    }
    let raw = *uuid::Uuid::new_v4().as_bytes();
    let parameter = format!("/jobs/webhooks/redirect-{}", unique_suffix());
    aws_sdk_ssm::Client::new(&local.config)
        .put_parameter()
        .name(&parameter)
        .value(stored_secret(
            &format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            ),
            &["partner.test"],
        ))
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .context("put the signing secret in LocalStack's SSM")?;
    // The first site by a name its secret names (resolved to 127.0.0.1 by
    // the test's resolver); the second by its address, which it does not.
    let named = |path: &str| format!("http://partner.test:{}{path}", first.port);
    let job = |path: &str| {
        HttpJob::post(named(path))
            .json(&serde_json::json!({"order": 42}))
            .header("x-api-key", "partner-key")
            .signed_with(format!("ssm:{parameter}"))
    };
    let refused = http_job(job("/refused"));
    let followed = http_job(job("/followed").following_redirects_to_any_origin());
    // A secret tied to `partner.test` signs for no other host.
    let other_host = http_job(
        HttpJob::post(first.url(1, "/direct"))
            .json(&serde_json::json!({"order": 42}))
            .signed_with(format!("ssm:{parameter}")),
    );
    let queue = local.queue(&queues.url);
    for job in [&refused, &followed, &other_host] {
        queue.enqueue(job, SendOptions::default()).await?;
    }
    let handler = handler_resolving(
        &local,
        &queues.dlq_url,
        quick_backoff(),
        std::sync::Arc::new(Loopback),
    );
    let stats = run_worker_until(
        handler,
        &local,
        &queues.url,
        Duration::from_secs(60),
        || async {
            Ok((local.queue_depth(&queues.url).await? == 0
                && local.queue_depth(&queues.dlq_url).await? >= 2)
                .then_some(()))
        },
    )
    .await?;
    assert_eq!((stats.done, stats.dead_lettered), (1, 2), "{stats:?}");
    let letters = local.drain(&queues.dlq_url).await?;
    let letter_of = |id: &str| {
        letters
            .iter()
            .find(|m| m.body().is_some_and(|b| b.contains(id)))
            .with_context(|| format!("no dead letter for {id}"))
    };
    let unsigned = letter_of(&other_host.id)?;
    let reason = attribute(unsigned, ERROR_MESSAGE).unwrap_or_default();
    assert_eq!(
        attribute(unsigned, ERROR_CODE).as_deref(),
        Some("http_secret_host"),
        "{reason}"
    );
    assert!(
        reason.contains("may sign for `partner.test` only, not for `127.0.0.1`"),
        "{reason}"
    );
    assert!(first.requests_to("/direct").is_empty(), "nothing was sent");
    let letter = letter_of(&refused.id)?;
    let code = attribute(letter, ERROR_CODE).unwrap_or_default();
    let reason = attribute(letter, ERROR_MESSAGE).unwrap_or_default();
    assert_eq!(code, "http_redirect_refused", "{reason}");
    assert!(
        reason.contains("any_origin") && reason.contains(&second.url(1, "/landed")),
        "{reason}"
    );
    assert!(
        !reason.contains("s3cret"),
        "the query is never quoted: {reason}"
    );

    // The first site got the job's headers and signature; the second, of the
    // followed job alone, none of them, and the body.
    let sent = first.requests_to("/followed");
    assert_eq!(sent.len(), 1);
    for name in ["x-api-key", "webhook-signature", "idempotency-key"] {
        assert!(sent[0].header(name).is_some(), "{name}");
    }
    let landed = second.requests_to("/landed");
    assert_eq!(landed.len(), 1, "only the followed job reached it");
    for name in [
        "x-api-key",
        "webhook-signature",
        "webhook-id",
        "webhook-timestamp",
        "idempotency-key",
    ] {
        assert_eq!(landed[0].header(name), None, "{name} was forwarded");
    }
    assert_eq!(
        landed[0].body,
        serde_json::to_vec(&serde_json::json!({"order": 42}))?
    );
    Ok(())
}

/// A secret as the stack stores it: the secret and the hosts it may sign for.
fn stored_secret(secret: &str, hosts: &[&str]) -> String {
    serde_json::json!({"secret": secret, "hosts": hosts}).to_string()
}

/// Resolves every name to 127.0.0.1, so that a test can call a name
/// without a lookup leaving the machine.
#[derive(Debug)]
struct Loopback;

impl handler::http::Resolve for Loopback {
    fn resolve<'a>(
        &'a self,
        _host: &'a str,
        _port: u16,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = std::io::Result<Vec<std::net::IpAddr>>> + Send + 'a>,
    > {
        Box::pin(async { Ok(vec![std::net::IpAddr::from([127, 0, 0, 1])]) })
    }
}
