//! The built-in kinds' arguments (`jobs enqueue mail|upload|http`), and the
//! envelopes they make.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use producer::contract::envelope::{Envelope, Job, MailJob, UploadJob, UploadSource};
use producer::contract::http::HttpJob;

use super::input::{InputError, read_file, read_text};

#[derive(Debug, Args)]
pub struct MailArgs {
    /// Sender: `addr@example.com` or `Name <addr@example.com>`, a verified SES identity.
    #[arg(long, env = "JOBS_MAIL_FROM")]
    pub from: String,
    #[arg(long, required = true)]
    pub to: Vec<String>,
    #[arg(long)]
    pub cc: Vec<String>,
    #[arg(long)]
    pub bcc: Vec<String>,
    #[arg(long)]
    pub reply_to: Vec<String>,
    #[arg(long)]
    pub subject: String,
    /// Plain-text body.
    #[arg(long, conflicts_with = "text_file")]
    pub text: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub text_file: Option<PathBuf>,
    /// HTML body.
    #[arg(long, conflicts_with = "html_file")]
    pub html: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub html_file: Option<PathBuf>,
    /// The job's id; a random UUID when left out.
    #[arg(long)]
    pub id: Option<String>,
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    #[arg(long, env = "JOBS_BUCKET")]
    pub bucket: String,
    #[arg(long)]
    pub key: String,
    /// The file to upload. Its bytes travel in the message when they fit;
    /// a larger file is staged in the payload bucket (`--payload-bucket`),
    /// streamed, and copied by the handler.
    #[arg(long)]
    pub file: PathBuf,
    /// Media type; guessed from the file name when left out.
    #[arg(long)]
    pub content_type: Option<String>,
    /// Object metadata as `name=value`; repeat for more.
    #[arg(long, value_name = "NAME=VALUE")]
    pub metadata: Vec<String>,
    #[arg(long)]
    pub id: Option<String>,
}

#[derive(Debug, Args)]
pub struct HttpArgs {
    /// `https://…`, or `http://…` to an address the handler's `JOBS_HTTP_ALLOW` allows.
    #[arg(long)]
    pub url: String,
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE` or `OPTIONS` (any case).
    #[arg(long, default_value = "POST")]
    pub method: String,
    /// A header as `Name: value`; repeat for more.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// A JSON body, sent as it is written, as `application/json`.
    #[arg(long, value_name = "JSON", conflicts_with = "body_file")]
    pub json_body: Option<String>,
    /// The body from a file: as text when it is UTF-8, else as bytes (base64 in the job).
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// The media type of `--body-file` [default: application/octet-stream].
    #[arg(long, requires = "body_file")]
    pub content_type: Option<String>,
    /// Seconds for the whole call, redirects included (1–900; 30 when left out).
    #[arg(long, value_name = "SECONDS")]
    pub timeout_seconds: Option<u32>,
    /// A status that counts as done besides any 2xx (such as 404 for a DELETE);
    /// repeat for more.
    #[arg(long = "success-status", value_name = "STATUS")]
    pub success_statuses: Vec<u16>,
    /// Sign the call as Standard Webhooks with the secret this SSM parameter holds
    /// (`ssm:/aws/reference/secretsmanager/NAME` for a Secrets Manager secret);
    /// the handler reads it, the job only names it.
    #[arg(long, value_name = "ssm:/PATH")]
    pub sign: Option<String>,
    /// Write the answer's body to S3 when the call succeeds.
    #[arg(long, value_name = "s3://BUCKET/KEY")]
    pub save_to: Option<String>,
    /// Check the job and print the request the handler will send; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The job's id, sent as `Idempotency-Key`; a random UUID when left out.
    #[arg(long)]
    pub id: Option<String>,
}

pub(super) fn mail_envelope(args: &MailArgs) -> Result<Envelope, InputError> {
    let text = match &args.text_file {
        Some(path) => Some(read_text(path)?),
        None => args.text.clone(),
    };
    let html = match &args.html_file {
        Some(path) => Some(read_text(path)?),
        None => args.html.clone(),
    };
    let envelope = Envelope::new(Job::Mail(MailJob {
        from: args.from.clone(),
        to: args.to.clone(),
        cc: args.cc.clone(),
        bcc: args.bcc.clone(),
        reply_to: args.reply_to.clone(),
        subject: args.subject.clone(),
        text,
        html,
        template: None,
    }));
    Ok(match &args.id {
        Some(id) => envelope.with_id(id),
        None => envelope,
    })
}

pub(super) fn upload_envelope(
    args: &UploadArgs,
    staged: Option<UploadSource>,
) -> Result<Envelope, InputError> {
    let mut upload = match staged {
        Some(source) => UploadJob::from_source(&args.bucket, &args.key, source),
        None => UploadJob::from_bytes(&args.bucket, &args.key, &read_file(&args.file)?),
    };
    upload.content_type = Some(
        args.content_type
            .clone()
            .unwrap_or_else(|| guess_content_type(&args.file).to_owned()),
    );
    let mut metadata = BTreeMap::new();
    for pair in &args.metadata {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| InputError(format!("`--metadata` takes `name=value`, not `{pair}`")))?;
        metadata.insert(name.to_owned(), value.to_owned());
    }
    upload.metadata = metadata;
    let envelope = Envelope::new(Job::Upload(upload));
    Ok(match &args.id {
        Some(id) => envelope.with_id(id),
        None => envelope,
    })
}

pub(super) fn http_envelope(args: &HttpArgs) -> Result<Envelope, InputError> {
    const BLANKS: [char; 2] = [' ', '\t'];
    let mut job = HttpJob::new(args.method.to_ascii_uppercase(), &args.url);
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| InputError(format!("`--header` takes `Name: value`, not `{header}`")))?;
        let name = name.trim_matches(BLANKS);
        if job.headers.contains_key(name) {
            return Err(InputError(format!("`--header` gives `{name}` twice")));
        }
        job.headers
            .insert(name.to_owned(), value.trim_matches(BLANKS).to_owned());
    }
    if let Some(text) = &args.json_body {
        serde_json::from_str::<serde::de::IgnoredAny>(text)
            .map_err(|e| InputError(format!("`--json-body` is not JSON: {e}")))?;
        job = job.text_body(text.as_str(), "application/json");
    } else if let Some(path) = &args.body_file {
        let content_type = args
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        job = match String::from_utf8(read_file(path)?) {
            Ok(text) => job.text_body(text, content_type),
            Err(bytes) => job.bytes_body(bytes.as_bytes(), content_type),
        };
    }
    job.timeout_seconds = args.timeout_seconds;
    job.success_statuses.clone_from(&args.success_statuses);
    job.sign_with.clone_from(&args.sign);
    if let Some(target) = &args.save_to {
        let (bucket, key) = target
            .strip_prefix("s3://")
            .and_then(|place| place.split_once('/'))
            .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
            .ok_or_else(|| {
                InputError(format!(
                    "`--save-to` takes `s3://bucket/key`, not `{target}`"
                ))
            })?;
        job = job.save_to(bucket, key);
    }
    let envelope = Envelope::new(Job::Http(job));
    Ok(match &args.id {
        Some(id) => envelope.with_id(id),
        None => envelope,
    })
}

fn guess_content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("txt") => "text/plain",
        Some("csv") => "text/csv",
        Some("html" | "htm") => "text/html",
        Some("json") => "application/json",
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::super::dry_run::dry_run_text;
    use super::super::input;
    use super::super::input::{Input, InputError};
    use crate::cli::{Cli, Command};
    use clap::Parser as _;
    use producer::contract::envelope::Job;
    use producer::contract::http::HttpJob;

    fn http_input(arguments: &[&str]) -> Result<Input, InputError> {
        let cli = Cli::try_parse_from(["jobs", "enqueue", "http"].iter().chain(arguments))
            .expect("parses");
        let Command::Enqueue(args) = cli.command else {
            panic!("not enqueue")
        };
        input(&args)
    }

    fn http_job(arguments: &[&str]) -> (String, HttpJob) {
        let Ok(Input::One(envelope)) = http_input(arguments) else {
            panic!("not one job")
        };
        let Job::Http(job) = envelope.job else {
            panic!("not http")
        };
        (envelope.id, job)
    }

    #[test]
    fn http_dry_run_shows_the_request_with_its_idempotency_key_and_signature() {
        let (id, job) = http_job(&[
            "--url",
            "https://partner.example/hooks/orders",
            "--header",
            "X-Shop:  north ",
            "--json-body",
            r#"{"order": 42}"#,
            "--sign",
            "ssm:/jobs/webhooks/partner",
            "--id",
            "order-42",
            "--dry-run",
        ]);
        assert_eq!(id, "order-42");
        assert_eq!(
            dry_run_text(&job, &id),
            "POST https://partner.example/hooks/orders\n\
             host: partner.example\n\
             user-agent: jobs-handler/0.1.0\n\
             x-shop: north\n\
             content-type: application/json\n\
             idempotency-key: order-42\n\
             webhook-id: order-42\n\
             webhook-timestamp: <unix seconds at send time>\n\
             webhook-signature: v1,<HMAC-SHA256 with the secret at ssm:/jobs/webhooks/partner, at send time>\n\
             content-length: 13\n\
             \n\
             {\"order\": 42}\n"
        );
        let (id, unsigned) = http_job(&["--url", "https://a.example/", "--method", "delete"]);
        assert_eq!(unsigned.method, "DELETE");
        assert_eq!(
            dry_run_text(&unsigned, &id),
            format!(
                "DELETE https://a.example/\nhost: a.example\nuser-agent: jobs-handler/0.1.0\nidempotency-key: {id}\n"
            )
        );
    }

    #[test]
    fn a_body_file_is_text_when_utf8_else_base64() {
        let dir = std::env::temp_dir().join(format!("jobs-cli-http-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let text = dir.join("order.csv");
        std::fs::write(&text, "order,total\n42,19.99\n").expect("write");
        let binary = dir.join("blob.bin");
        std::fs::write(&binary, [0u8, 1, 2, 0xff]).expect("write");
        let (id, job) = http_job(&[
            "--url",
            "https://a.example/in",
            "--method",
            "PUT",
            "--body-file",
            text.to_str().expect("utf-8"),
            "--content-type",
            "text/csv",
        ]);
        let body = job.body.clone().expect("a body");
        assert_eq!(body.text.as_deref(), Some("order,total\n42,19.99\n"));
        assert_eq!(body.content_type.as_deref(), Some("text/csv"));
        assert!(dry_run_text(&job, &id).ends_with("\n\norder,total\n42,19.99\n"));
        let (id, job) = http_job(&[
            "--url",
            "https://a.example/in",
            "--body-file",
            binary.to_str().expect("utf-8"),
        ]);
        let body = job.body.clone().expect("a body");
        assert_eq!(body.base64.as_deref(), Some("AAEC/w=="));
        assert_eq!(
            body.content_type.as_deref(),
            Some("application/octet-stream")
        );
        assert!(
            dry_run_text(&job, &id).ends_with("\n\n<4 bytes, base64 in the job>\n"),
            "{}",
            dry_run_text(&job, &id)
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_header_without_a_colon_is_refused_naming_header() {
        let Err(err) = http_input(&["--url", "https://a.example/", "--header", "X-Shop north"])
        else {
            panic!("refused")
        };
        assert!(err.to_string().contains("`--header`"), "{err}");
        let Err(err) = http_input(&[
            "--url",
            "https://a.example/",
            "--header",
            "X-Shop: a",
            "--header",
            "X-Shop: b",
        ]) else {
            panic!("refused")
        };
        assert!(err.to_string().contains("`--header`"), "{err}");
    }

    #[test]
    fn a_json_body_that_is_not_json_is_refused_naming_json_body() {
        let Err(err) = http_input(&["--url", "https://a.example/", "--json-body", "{order: 42"])
        else {
            panic!("refused")
        };
        assert!(err.to_string().contains("`--json-body`"), "{err}");
        let Err(err) = http_input(&["--url", "https://a.example/", "--save-to", "bucket/key"])
        else {
            panic!("refused")
        };
        assert!(err.to_string().contains("`--save-to`"), "{err}");
    }

    #[test]
    fn the_body_options_exclude_each_other() {
        let both = Cli::try_parse_from([
            "jobs",
            "enqueue",
            "http",
            "--url",
            "https://a.example/",
            "--json-body",
            "{}",
            "--body-file",
            "x",
        ]);
        assert!(both.is_err());
        let type_alone = Cli::try_parse_from([
            "jobs",
            "enqueue",
            "http",
            "--url",
            "https://a.example/",
            "--content-type",
            "text/plain",
        ]);
        assert!(type_alone.is_err());
    }
}
