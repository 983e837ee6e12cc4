//! The JSON Schema and the Rust type describe the same format: every sample
//! passes both and round-trips, and broken samples fail both.

use std::path::{Path, PathBuf};

use producer::Envelope;
use serde_json::{Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn validator() -> jsonschema::Validator {
    let schema = read_json(&repo().join("schema/envelope.schema.json"));
    // `format: date-time` refuses dates that do not exist; a checker must be asked
    // to assert formats (JSON Schema 2020-12 makes them annotations by default).
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles")
}

fn samples() -> Vec<(PathBuf, Value)> {
    let mut paths: Vec<_> = std::fs::read_dir(repo().join("schema/examples"))
        .expect("schema/examples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 2, "samples of each kind are expected");
    paths
        .into_iter()
        .map(|p| (p.clone(), read_json(&p)))
        .collect()
}

/// What the Rust side thinks of a JSON value: decodable and valid?
fn rust_accepts(value: &Value) -> bool {
    Envelope::decode(&value.to_string()).is_ok_and(|e| e.validate().is_ok())
}

#[test]
fn every_sample_passes_the_schema_and_round_trips_through_the_rust_type() {
    let validator = validator();
    for (path, sample) in samples() {
        let errors: Vec<String> = validator
            .iter_errors(&sample)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        let envelope = Envelope::decode(&sample.to_string())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        envelope
            .validate()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let again: Value = serde_json::from_str(&envelope.to_json()).expect("json");
        assert_eq!(again, sample, "{} changes in a round trip", path.display());
    }
}

#[test]
fn both_refuse_the_same_broken_messages() {
    let validator = validator();
    let samples = samples();
    let mail = &samples
        .iter()
        .find(|(p, _)| p.ends_with("mail.json"))
        .expect("mail.json")
        .1;
    let upload = &samples
        .iter()
        .find(|(p, _)| p.ends_with("upload.json"))
        .expect("upload.json")
        .1;
    let edit = |base: &Value, pointer: &str, value: Value| {
        let mut v = base.clone();
        *v.pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer}")) = value;
        v
    };
    let broken = [
        edit(mail, "/kind", json!("fax machine")),
        edit(mail, "/kind", json!("")),
        edit(mail, "/version", json!(2)),
        edit(mail, "/id", json!("has space")),
        edit(mail, "/job/subject", json!("hi\r\nBcc: all@example.com")),
        edit(mail, "/job/to", json!([])),
        edit(mail, "/job/to", json!(["not-an-address"])),
        edit(
            mail,
            "/job/to",
            Value::Array(
                (0..51)
                    .map(|i| json!(format!("u{i}@example.com")))
                    .collect(),
            ),
        ),
        edit(mail, "/job/text", json!(null)),
        edit(
            mail,
            "/job",
            json!({"from": "a@example.com", "to": ["b@example.com"], "subject": "s"}),
        ),
        {
            let mut v = mail.clone();
            v["job"]["subjct"] = json!("typo");
            v
        },
        {
            let mut v = mail.clone();
            v["job"]["template"] = json!({"name": "purchase-reminder"});
            v
        },
        edit(
            mail,
            "/job",
            json!({"from": "a@example.com", "to": ["b@example.com"], "template": {"name": "bad name"}}),
        ),
        edit(
            mail,
            "/job",
            json!({"from": "a@example.com", "to": ["b@example.com"], "template": {"name": "t", "extra": 1}}),
        ),
        {
            let mut v = mail.clone();
            v["not_before"] = json!("tomorrow");
            v
        },
        edit(mail, "/created_at", json!("2026-02-30T00:00:00Z")),
        {
            let mut v = mail.clone();
            v["not_before"] = json!("2026-04-31T09:00:00+02:00");
            v
        },
        edit(upload, "/job/key", json!("../etc/passwd")),
        edit(upload, "/job/key", json!("/abs")),
        edit(upload, "/job/bucket", json!("Bad_Bucket")),
        edit(upload, "/job/sha256", json!("XYZ")),
        edit(upload, "/job/content_type", json!("text/csv\r\nX-Evil: 1")),
        // Bytes both inline and in S3, or in neither.
        {
            let mut v = upload.clone();
            v["job"]["source"] = sample("upload-source.json")["job"]["source"].clone();
            v
        },
        without(upload, "sha256"),
        without(&sample("upload-source.json"), "source"),
        with(
            &sample("upload-source.json"),
            "sha256",
            upload["job"]["sha256"].clone(),
        ),
        edit(
            &sample("upload-source.json"),
            "/job/source/crc64nvme",
            json!("AAAA"),
        ),
        edit(
            &sample("upload-source.json"),
            "/job/source/crc64nvme",
            json!("not base64!!"),
        ),
        edit(
            &sample("upload-source.json"),
            "/job/source/key",
            json!("../x"),
        ),
        edit(
            &sample("upload-source.json"),
            "/job/source/bucket",
            json!("Bad_Bucket"),
        ),
        edit(
            &sample("upload-source.json"),
            "/job/source/size",
            json!(5_497_558_138_881_u64),
        ),
        edit(&sample("upload-source.json"), "/job/source/size", json!(-1)),
    ];
    for value in broken {
        assert!(!validator.is_valid(&value), "the schema accepts {value}");
        assert!(!rust_accepts(&value), "the Rust type accepts {value}");
    }
}

/// The sample whose file name ends with `name`.
fn sample(name: &str) -> Value {
    samples()
        .into_iter()
        .find(|(p, _)| p.ends_with(name))
        .unwrap_or_else(|| panic!("{name}"))
        .1
}

/// `base` with `job.field` set to `value`.
fn with(base: &Value, field: &str, value: Value) -> Value {
    let mut v = base.clone();
    v["job"][field] = value;
    v
}

/// `base` without `job.field`.
fn without(base: &Value, field: &str) -> Value {
    let mut v = base.clone();
    v["job"]
        .as_object_mut()
        .expect("job is an object")
        .remove(field);
    v
}

/// `base` with its `job` changed by `change`.
fn http_job(base: &Value, change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut v = base.clone();
    change(v["job"].as_object_mut().expect("job is an object"));
    v
}

#[test]
fn both_refuse_the_same_broken_http_jobs() {
    let validator = validator();
    let http = sample("http.json");
    let broken = [
        with(&http, "retries", json!(3)),
        without(&http, "url"),
        with(&http, "url", json!("ftp://partner.example/x")),
        with(&http, "url", json!("https://user:pw@partner.example/")),
        with(&http, "url", json!("https://partner.example/#top")),
        with(&http, "url", json!("https://partner.example/a b")),
        with(&http, "method", json!("FETCH")),
        with(&http, "method", json!("post")),
        with(&http, "timeout_seconds", json!(0)),
        with(&http, "timeout_seconds", json!(901)),
        with(&http, "success_statuses", json!([404, 99])),
        with(&http, "sign_with", json!("arn:aws:ssm:x")),
        with(&http, "sign_with", json!("ssm:jobs/partner")),
        with(&http, "sign_with", json!("ssm:/jobs//partner")),
        with(&http, "headers", json!({"Host": "metadata.internal"})),
        with(&http, "headers", json!({"Idempotency-KEY": "mine"})),
        with(&http, "headers", json!({"bad name": "x"})),
        with(&http, "headers", json!({"x-split": "a\r\nInjected: yes"})),
        with(
            &http,
            "headers",
            Value::Object((0..65).map(|i| (format!("x-h{i}"), json!("v"))).collect()),
        ),
        with(&http, "body", json!({"text": "a", "base64": "YQ=="})),
        with(&http, "body", json!({"content_type": "text/plain"})),
        with(&http, "body", json!({"base64": "not base64!"})),
        with(&http, "body", json!({"text": "a", "content_type": "json"})),
        with(&http, "body", json!({"text": "a", "extra": 1})),
        with(&http, "method", json!("GET")),
        http_job(&http, |j| {
            j.insert("method".into(), json!("HEAD"));
            j.remove("body");
            j.insert(
                "save_to".into(),
                json!({"bucket": "jobs-local-uploads", "key": "k"}),
            );
        }),
        with(
            &http,
            "save_to",
            json!({"bucket": "Bad_Bucket", "key": "k"}),
        ),
        with(
            &http,
            "save_to",
            json!({"bucket": "jobs-local-uploads", "key": "../x"}),
        ),
        with(&http, "save_to", json!({"bucket": "jobs-local-uploads"})),
    ];
    for value in broken {
        assert!(!validator.is_valid(&value), "the schema accepts {value}");
        assert!(!rust_accepts(&value), "the Rust type accepts {value}");
    }
}

#[test]
fn both_accept_the_same_http_jobs() {
    let validator = validator();
    let http = sample("http.json");
    let valid = [
        http_job(&http, |j| {
            j.clear();
            j.insert("url".into(), json!("https://partner.example"));
        }),
        http_job(&http, |j| {
            j.insert("method".into(), json!("GET"));
            j.remove("body");
            j.insert("url".into(), json!("HTTP://[::1]:9000/a@b?token=x&y=%20"));
            j.insert(
                "save_to".into(),
                json!({"bucket": "jobs-local-uploads", "key": "answers/42.json"}),
            );
        }),
        http_job(&http, |j| {
            j.insert("method".into(), json!("DELETE"));
            j.insert("success_statuses".into(), json!([404, 410]));
            j.insert(
                "headers".into(),
                json!({"Authorization": "Bearer x\ty", "X-Shop": ""}),
            );
        }),
        http_job(&http, |j| {
            j.insert("method".into(), json!("PUT"));
            j.insert(
                "body".into(),
                json!({"base64": "AAEC/w==", "content_type": "application/octet-stream"}),
            );
            j.insert("timeout_seconds".into(), json!(900));
            j.insert(
                "sign_with".into(),
                json!("ssm:/aws/reference/secretsmanager/partner-hook"),
            );
        }),
        with(&http, "body", json!({"text": ""})),
    ];
    for value in valid {
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "the schema refuses {value}: {errors:?}");
        assert!(rust_accepts(&value), "the Rust type refuses {value}");
    }
}

/// The ```json blocks of the README and of `docs/` that are job envelopes.
fn documented_envelopes() -> Vec<(String, Value)> {
    let mut pages = vec![repo().join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    let mut envelopes = Vec::new();
    for page in pages {
        let text = std::fs::read_to_string(&page).expect("a page");
        let mut lines = text.lines().enumerate();
        while let Some((number, line)) = lines.next() {
            if line.trim() != "```json" {
                continue;
            }
            let block: Vec<&str> = lines
                .by_ref()
                .map(|(_, l)| l)
                .take_while(|l| l.trim() != "```")
                .collect();
            let value: Value = serde_json::from_str(&block.join("\n"))
                .unwrap_or_else(|e| panic!("{}:{}: not JSON: {e}", page.display(), number + 1));
            if value.get("kind").is_some() && value.get("job").is_some() {
                envelopes.push((format!("{}:{}", page.display(), number + 1), value));
            }
        }
    }
    envelopes
}

#[test]
fn every_envelope_in_the_documentation_passes_the_schema_and_the_rust_checks() {
    let validator = validator();
    let envelopes = documented_envelopes();
    assert!(
        envelopes.len() >= 3,
        "the mail, template and upload examples"
    );
    for (place, envelope) in envelopes {
        let errors: Vec<String> = validator
            .iter_errors(&envelope)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{place}: {errors:?}");
        let decoded =
            Envelope::decode(&envelope.to_string()).unwrap_or_else(|e| panic!("{place}: {e}"));
        decoded
            .validate()
            .unwrap_or_else(|e| panic!("{place}: {e}"));
    }
}
