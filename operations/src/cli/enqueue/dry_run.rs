//! `jobs enqueue http --dry-run`: the request the handler will send, and
//! nothing sent.

use std::process::ExitCode;

use producer::contract::envelope::{Envelope, Job};
use producer::contract::http::{HttpBody, HttpJob};

use super::super::output::print_json;
use super::super::{EXIT_INVALID, Output};
use super::{EnqueueArgs, EnqueueKind};

/// True for `jobs enqueue http --dry-run`.
pub(super) fn dry_run(args: &EnqueueArgs) -> bool {
    matches!(&args.kind, Some(EnqueueKind::Http(http)) if http.dry_run)
}

/// The headers `--dry-run` shows, in the order the handler sends them:
/// `host` and `user-agent`, those it sets from the job, for a signed call the
/// two it makes at each try (as placeholders: the signature covers the time of
/// the try), and `content-length`.
fn planned_headers(job: &HttpJob, job_id: &str) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    if let Ok(target) = producer::contract::http::parse_url(&job.url) {
        headers.push(("host".to_owned(), target.host_header()));
    }
    headers.push((
        "user-agent".to_owned(),
        producer::contract::http::USER_AGENT.to_owned(),
    ));
    headers.extend(job.planned_headers(job_id));
    if let Some(reference) = &job.sign_with {
        headers.push((
            "webhook-timestamp".into(),
            "<unix seconds at send time>".into(),
        ));
        headers.push((
            "webhook-signature".into(),
            format!("v1,<HMAC-SHA256 with the secret at {reference}, at send time>"),
        ));
    }
    let body_len = job.body_bytes().map_or(0, |bytes| bytes.len());
    if let Some(length) = producer::contract::http::content_length(&job.method, body_len) {
        headers.push(("content-length".to_owned(), length.to_string()));
    }
    headers
}

/// The request as `--dry-run` prints it: `METHOD URL`, a `name: value` line
/// per header, then a blank line and the body (a text body as it is, bytes as
/// their count).
pub(super) fn dry_run_text(job: &HttpJob, job_id: &str) -> String {
    let mut text = format!("{} {}\n", job.method, job.url);
    for (name, value) in planned_headers(job, job_id) {
        text.push_str(&format!("{name}: {value}\n"));
    }
    match &job.body {
        None => {}
        Some(HttpBody {
            text: Some(body), ..
        }) => {
            text.push('\n');
            text.push_str(body);
            if !body.ends_with('\n') {
                text.push('\n');
            }
        }
        Some(_) => {
            let bytes = job.body_bytes().map_or(0, |bytes| bytes.len());
            text.push_str(&format!("\n<{bytes} bytes, base64 in the job>\n"));
        }
    }
    text
}

/// Prints a checked job's request, and sends nothing.
pub(super) fn print_dry_run(envelope: &Envelope, output: Output) -> ExitCode {
    let Job::Http(job) = &envelope.job else {
        eprintln!("error: `--dry-run` shows an `http` job's request");
        return ExitCode::from(EXIT_INVALID);
    };
    match output {
        Output::Json => {
            let headers: Vec<_> = planned_headers(job, &envelope.id)
                .into_iter()
                .map(|(name, value)| serde_json::json!({"name": name, "value": value}))
                .collect();
            // Nothing was sent: a closed stdout changes nothing.
            let _ = print_json(&serde_json::json!({"sent": 0, "dry_run": {
                "job_id": envelope.id, "kind": envelope.kind(),
                "method": job.method, "url": job.url, "headers": headers, "body": job.body,
            }}));
        }
        Output::Text => {
            let _ = out!("{}", dry_run_text(job, &envelope.id));
        }
    }
    eprintln!("nothing was sent (--dry-run)");
    ExitCode::SUCCESS
}
