//! The `http` client's guard against real connections on loopback: a test
//! server listens on 127.0.0.1, 127.0.0.2 and 127.0.0.3 and counts the
//! connections each receives, while only 127.0.0.1 is allowed. A refused call
//! must reach no address at all, so a broken guard would show in the counts.
//! Names are resolved by stub resolvers: no lookup leaves the machine.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Result;
use handler::JobError;
use handler::http::guard::AllowList;
use handler::http::{HttpClient, HttpSettings, Resolve};
use integration_tests::http_server::{Reply, TestServer};
use producer::HttpJob;
use producer::aws::ErrorClass;

/// Answers every name with the next list of addresses, the last one for good.
#[derive(Debug)]
struct Stub {
    answers: Vec<Vec<IpAddr>>,
    asked: AtomicUsize,
}

impl Stub {
    fn new(answers: &[&[&str]]) -> Arc<Self> {
        Arc::new(Stub {
            answers: answers
                .iter()
                .map(|a| a.iter().map(|ip| ip.parse().expect("ip")).collect())
                .collect(),
            asked: AtomicUsize::new(0),
        })
    }
}

impl Resolve for Stub {
    fn resolve<'a>(
        &'a self,
        _host: &'a str,
        _port: u16,
    ) -> std::pin::Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>> {
        let n = self.asked.fetch_add(1, Ordering::SeqCst);
        let answer = self.answers[n.min(self.answers.len() - 1)].clone();
        Box::pin(async move { Ok(answer) })
    }
}

fn client(resolver: Arc<dyn Resolve>) -> HttpClient {
    HttpClient::new(
        HttpSettings {
            allow: AllowList::parse("127.0.0.1/32").expect("allow list"),
            secrets_prefix: None,
            resolver,
        },
        &handler::testing::offline_clients().config,
    )
}

async fn call(client: &HttpClient, job: &HttpJob) -> Result<handler::HttpResponse, JobError> {
    client
        .call(
            job,
            "job-1",
            Some(Duration::from_secs(20)),
            &handler::testing::offline_clients().s3,
        )
        .await
}

fn refused(result: Result<handler::HttpResponse, JobError>) -> String {
    let error = result.expect_err("the call must be refused");
    assert_eq!(error.code(), "http_refused", "{error}");
    assert_eq!(error.class(), ErrorClass::Permanent, "{error}");
    error.to_string()
}

#[tokio::test]
async fn an_allowed_address_is_called_with_its_idempotency_key() -> Result<()> {
    let server = TestServer::start().await?;
    let client = client(Stub::new(&[&[]]));
    let job = HttpJob::post(server.url(1, "/hook?token=t")).json(&serde_json::json!({"a": 1}));
    let response = call(&client, &job).await?;
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, &b"ok"[..])
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.target, "/hook?token=t");
    assert_eq!(request.header("idempotency-key"), Some("job-1"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.header("host"),
        Some(format!("127.0.0.1:{}", server.port).as_str())
    );
    assert_eq!(request.body, br#"{"a":1}"#);
    assert_eq!(server.connections(), [1, 0, 0]);
    Ok(())
}

#[tokio::test]
async fn loopback_addresses_the_list_does_not_hold_are_never_reached() -> Result<()> {
    let server = TestServer::start().await?;
    let client = client(Stub::new(&[&[]]));
    let port = server.port;
    for url in [
        server.url(2, "/"),
        server.url(3, "/"),
        format!("http://[::ffff:127.0.0.2]:{port}/"),
        format!("http://[::ffff:7f00:3]:{port}/"),
        format!("http://0.0.0.0:{port}/"),
        format!("https://127.0.0.2:{port}/"),
    ] {
        let reason = refused(call(&client, &HttpJob::get(&url)).await);
        assert!(reason.contains("JOBS_HTTP_ALLOW"), "{reason}");
    }
    // The metadata services: refused before any connection is tried.
    for url in [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:a9fe:a9fe]/",
    ] {
        let reason = refused(call(&client, &HttpJob::get(url)).await);
        assert!(
            reason.contains("link-local") || reason.contains("unique local"),
            "{reason}"
        );
    }
    assert_eq!(server.connections(), [0, 0, 0]);
    Ok(())
}

#[tokio::test]
async fn a_redirect_to_a_refused_address_is_not_followed() -> Result<()> {
    let server = TestServer::start().await?;
    server.reply(
        "/moved",
        Reply::new(302, "").header("location", server.url(3, "/inside")),
    );
    server.reply("/hop", Reply::new(307, "").header("location", "/landed"));
    let client = client(Stub::new(&[&[]]));
    let moved = HttpJob::post(server.url(1, "/moved")).following_redirects_to_any_origin();
    let reason = refused(call(&client, &moved).await);
    assert!(reason.contains("127.0.0.3"), "{reason}");
    assert_eq!(server.connections(), [1, 0, 0]);
    // An allowed redirect is followed, with the method and body of a 307.
    let job = HttpJob::post(server.url(1, "/hop")).text_body("same body", "text/plain");
    assert_eq!(call(&client, &job).await?.status, 200);
    let landed = server.requests_to("/landed");
    assert_eq!(landed.len(), 1);
    assert_eq!(
        (landed[0].method.as_str(), landed[0].body.as_slice()),
        ("POST", &b"same body"[..])
    );
    assert_eq!(landed[0].header("idempotency-key"), Some("job-1"));
    Ok(())
}

#[tokio::test]
async fn more_than_five_redirects_fail_for_good() -> Result<()> {
    let server = TestServer::start().await?;
    for _ in 0..6 {
        server.reply("/loop", Reply::new(301, "").header("location", "/loop"));
    }
    let client = client(Stub::new(&[&[]]));
    let error = call(&client, &HttpJob::get(server.url(1, "/loop")))
        .await
        .expect_err("too many redirects");
    assert_eq!(
        (error.code(), error.class()),
        ("http_redirects", ErrorClass::Permanent)
    );
    assert_eq!(
        server.requests_to("/loop").len(),
        6,
        "the first try and five redirects"
    );
    Ok(())
}

#[tokio::test]
async fn a_name_with_one_refused_address_is_refused_whole() -> Result<()> {
    let server = TestServer::start().await?;
    let stub = Stub::new(&[&["127.0.0.1", "127.0.0.2"]]);
    let client = client(stub.clone());
    let url = format!("http://partner.test:{}/hook", server.port);
    let reason = refused(call(&client, &HttpJob::post(url)).await);
    assert!(reason.contains("127.0.0.2"), "{reason}");
    assert_eq!(server.connections(), [0, 0, 0]);
    Ok(())
}

#[tokio::test]
async fn a_name_is_resolved_once_and_connected_to_as_checked() -> Result<()> {
    // DNS rebinding: the first answer passes the check, a second would not.
    // The connection must go to the address that was checked.
    let server = TestServer::start().await?;
    let stub = Stub::new(&[&["127.0.0.1"], &["127.0.0.2"]]);
    let client = client(stub.clone());
    let url = format!("http://partner.test:{}/hook", server.port);
    let response = call(&client, &HttpJob::post(url)).await?;
    assert_eq!(response.status, 200);
    assert_eq!(stub.asked.load(Ordering::SeqCst), 1);
    assert_eq!(server.connections(), [1, 0, 0]);
    assert_eq!(
        server.requests()[0].header("host"),
        Some(format!("partner.test:{}", server.port).as_str())
    );
    Ok(())
}

#[tokio::test]
async fn answers_are_sorted_with_their_status_snippet_and_retry_after() -> Result<()> {
    let server = TestServer::start().await?;
    server.reply(
        "/busy",
        Reply::new(429, "slow down").header("retry-after", "5"),
    );
    server.reply(
        "/gone",
        Reply::new(
            404,
            format!("{{\"error\":\"no such hook\"}}{}", "x".repeat(1000)),
        ),
    );
    server.reply("/down", Reply::new(503, ""));
    server.reply("/deleted", Reply::new(404, ""));
    let client = client(Stub::new(&[&[]]));
    let busy = call(&client, &HttpJob::post(server.url(1, "/busy")))
        .await
        .expect_err("429");
    assert_eq!(
        (busy.class(), busy.retry_after()),
        (ErrorClass::Transient, Some(Duration::from_secs(5)))
    );
    let gone = call(&client, &HttpJob::post(server.url(1, "/gone")))
        .await
        .expect_err("404");
    assert_eq!(gone.class(), ErrorClass::Permanent);
    let reason = gone.to_string();
    assert!(
        reason.contains("answered 404") && reason.contains("no such hook"),
        "{reason}"
    );
    assert!(
        reason.len() < 500,
        "a snippet, not the whole answer: {reason}"
    );
    let down = call(&client, &HttpJob::post(server.url(1, "/down")))
        .await
        .expect_err("503");
    assert_eq!(
        (down.class(), down.retry_after()),
        (ErrorClass::Transient, None)
    );
    let delete = HttpJob::new("DELETE", server.url(1, "/deleted")).success_status(404);
    assert_eq!(call(&client, &delete).await?.status, 404);
    Ok(())
}

#[tokio::test]
async fn a_call_that_does_not_answer_in_time_is_transient() -> Result<()> {
    // A listener that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = silent.local_addr()?.port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    let client = client(Stub::new(&[&[]]));
    let job = HttpJob::get(format!("http://127.0.0.1:{port}/")).timeout_seconds(1);
    let error = call(&client, &job).await.expect_err("timed out");
    assert_eq!(
        (error.code(), error.class()),
        ("http_timeout", ErrorClass::Transient)
    );
    held.abort();
    Ok(())
}

/// The signing secrets' `GetParameter` is made without the SSM client: it must
/// be the request that client sends (the `awsJson1.1` target, SigV4 with the
/// configuration's credentials and region), and SSM's error answers must be
/// sorted as the SDK's errors are. The end-to-end tests read real secrets from
/// LocalStack's SSM; this one checks the request on the wire and the errors
/// LocalStack would not give.
#[tokio::test]
async fn signing_secrets_are_read_with_a_signed_get_parameter() -> Result<()> {
    use handler::http::sign::Secrets;
    let server = TestServer::start().await?;
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .endpoint_url(server.url(1, ""))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_sdk_sqs::config::Credentials::new(
                    "AKIDSIGNING",
                    "secret-key",
                    Some("session".into()),
                    None,
                    "test",
                ),
            ),
        )
        .build();
    let secrets = Secrets::new(&config, None);
    let answer = |value: &str| {
        Reply::new(
            200,
            serde_json::json!({"Parameter": {"Name": "n", "Type": "SecureString", "Value": value}})
                .to_string(),
        )
    };
    let failure = |status: u16, code: &str| {
        Reply::new(
            status,
            serde_json::json!({"__type": code, "message": "as SSM says"}).to_string(),
        )
    };
    server.reply("/", answer("whsec_c2VjcmV0LWtleQ=="));
    secrets.key("/jobs/webhooks/a").await?;
    secrets.key("/jobs/webhooks/a").await?;
    let requests = server.requests_to("/");
    assert_eq!(requests.len(), 1, "the second read comes from the cache");
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.header("x-amz-target"),
        Some("AmazonSSM.GetParameter")
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    assert_eq!(request.header("x-amz-security-token"), Some("session"));
    let authorization = request.header("authorization").unwrap_or_default();
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDSIGNING/")
            && authorization.contains("/eu-west-1/ssm/aws4_request")
            && authorization.contains(
                "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
            ),
        "{authorization}"
    );
    let body: serde_json::Value = serde_json::from_slice(&request.body)?;
    assert_eq!(
        body,
        serde_json::json!({"Name": "/jobs/webhooks/a", "WithDecryption": true})
    );

    for (reply, class, said) in [
        (
            failure(400, "ParameterNotFound"),
            ErrorClass::Permanent,
            "400 ParameterNotFound: as SSM says",
        ),
        (
            failure(400, "AccessDeniedException"),
            ErrorClass::Permanent,
            "400 AccessDeniedException",
        ),
        (
            failure(400, "ThrottlingException"),
            ErrorClass::Transient,
            "400 ThrottlingException",
        ),
        (
            failure(500, "InternalServerError"),
            ErrorClass::Transient,
            "500 InternalServerError",
        ),
        (
            answer("not base64!"),
            ErrorClass::Permanent,
            "with a Standard Webhooks secret",
        ),
    ] {
        server.reply("/", reply);
        let error = secrets.key("/jobs/webhooks/b").await.expect_err("refused");
        assert_eq!(
            (error.code(), error.class()),
            ("http_secret", class),
            "{error}"
        );
        assert!(error.to_string().contains(said), "{error}");
        assert!(error.to_string().contains("`/jobs/webhooks/b`"), "{error}");
    }
    Ok(())
}
