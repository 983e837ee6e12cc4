//! CPU per job, with no network: a message body through `Handler::process`
//! (decode, validate, build and sign the AWS request, read the answer) with
//! clients whose HTTP client answers in-process at once; the same unsigned
//! (no credentials), to show what signing costs; and the floor: only
//! base64-decoding and SHA-256 hashing the job's bytes.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::test_util::infallible_client_fn;
use base64::Engine as _;
use criterion::{Criterion, criterion_group, criterion_main};
use handler::{Delivery, Handler, Outcome, Settings};
use sha2::{Digest as _, Sha256};

fn config(signed: bool) -> SdkConfig {
    let answer = infallible_client_fn(|request| {
        let body = if request.uri().path().contains("outbound-emails") {
            r#"{"MessageId":"bench"}"#
        } else {
            ""
        };
        http::Response::builder()
            .status(200)
            .header("etag", "\"bench\"")
            .header("content-type", "application/json")
            .body(body)
            .expect("a canned response")
    });
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .http_client(answer);
    if signed {
        config = config.credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("AKIDBENCH", "secret", None, None, "bench"),
            ),
        );
    }
    config.build()
}

fn handler(signed: bool) -> Handler {
    let config = config(signed);
    let sesv2 = aws_sdk_sesv2::config::Builder::from(&config);
    let s3 = aws_sdk_s3::config::Builder::from(&config).force_path_style(true);
    let sqs = aws_sdk_sqs::config::Builder::from(&config);
    // Without credentials, each client must be told that it may send unsigned.
    let (sesv2, s3, sqs) = if signed {
        (sesv2, s3, sqs)
    } else {
        (
            sesv2.allow_no_auth(),
            s3.allow_no_auth(),
            sqs.allow_no_auth(),
        )
    };
    Handler::from_clients(
        aws_sdk_sesv2::Client::from_conf(sesv2.build()),
        aws_sdk_s3::Client::from_conf(s3.build()),
        aws_sdk_sqs::Client::from_conf(sqs.build()),
        Settings::new(DLQ),
    )
}

const DLQ: &str = "http://127.0.0.1:9/000000000000/bench-dlq";

fn delivery(body: String) -> Delivery {
    Delivery {
        message_id: "bench".into(),
        receipt_handle: None,
        queue_url: None,
        queue_arn: None,
        body,
        receive_count: 1,
        sent_at: None,
        job_id: None,
        payload_size: None,
        snoozed_until: None,
    }
}

fn floor(body: &str) -> usize {
    let envelope: serde_json::Value = serde_json::from_str(body).expect("a job");
    let encoded = envelope["job"]["body_base64"]
        .as_str()
        .or_else(|| envelope["job"]["text"].as_str())
        .expect("bytes");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    Sha256::digest(&bytes).len() + bytes.len()
}

fn floor_bytes(encoded: &str) -> usize {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    Sha256::digest(&bytes).len() + bytes.len()
}

fn cpu_per_job(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let signed = handler(true);
    let unsigned = handler(false);
    let jobs = [
        ("mail_1k", bench::mail_body(1024)),
        ("upload_256k", bench::upload_body(256 * 1024, "bench/cpu")),
    ];
    let mut group = c.benchmark_group("cpu_per_job");
    for (name, body) in &jobs {
        let one = delivery(body.clone());
        assert_eq!(runtime.block_on(signed.process(&one)), Outcome::Done);
        assert_eq!(runtime.block_on(unsigned.process(&one)), Outcome::Done);
        group.bench_function(format!("{name}_full"), |b| {
            b.iter(|| runtime.block_on(signed.process(&one)))
        });
        group.bench_function(format!("{name}_unsigned"), |b| {
            b.iter(|| runtime.block_on(unsigned.process(&one)))
        });
        let envelope: serde_json::Value = serde_json::from_str(body).expect("a job");
        let encoded = envelope["job"]["body_base64"]
            .as_str()
            .or_else(|| envelope["job"]["text"].as_str())
            .expect("bytes")
            .to_owned();
        group.bench_function(format!("{name}_floor"), |b| {
            b.iter(|| floor_bytes(std::hint::black_box(&encoded)))
        });
        std::hint::black_box(floor(body));
    }
    group.finish();
}

criterion_group!(benches, cpu_per_job);
criterion_main!(benches);
