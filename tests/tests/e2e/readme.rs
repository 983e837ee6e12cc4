//! The documented mail and upload examples (docs/message-format.md), sent with
//! the AWS CLI (not our code), take effect through the worker; the documented
//! Python producer sends a job the handler accepts.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use integration_tests::{LocalAws, repo_root, run_worker_until};
use producer::{Envelope, Job};
use serde_json::Value;

/// The page of the documentation with the message format and the other languages.
fn message_format() -> Result<String> {
    Ok(std::fs::read_to_string(
        repo_root().join("docs/message-format.md"),
    )?)
}

/// The ```json blocks of docs/message-format.md that are job envelopes.
fn readme_envelopes() -> Result<Vec<Value>> {
    let readme = message_format()?;
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "```json" {
            let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            if let Ok(value) = serde_json::from_str::<Value>(&block.join("\n"))
                && value.get("kind").is_some()
                && value.get("job").is_some()
            {
                blocks.push(value);
            }
        }
    }
    Ok(blocks)
}

fn sample(name: &str) -> Result<Value> {
    let text = std::fs::read_to_string(repo_root().join("schema/examples").join(name))?;
    Ok(serde_json::from_str(&text)?)
}

fn aws_cli(local: &LocalAws, args: &[&str]) -> Result<String> {
    let aws = repo_root().join(".venv/tools/bin/aws");
    let output = std::process::Command::new(&aws)
        .envs(local.env.child_env())
        .arg("--endpoint-url")
        .arg(local.env.get("AWS_ENDPOINT_URL")?)
        .args(args)
        .output()
        .with_context(|| format!("{} (installed by `make local-install`)", aws.display()))?;
    if !output.status.success() {
        bail!("aws {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8(output.stdout)?)
}

#[tokio::test]
async fn the_readme_examples_sent_with_the_aws_cli_take_effect() -> Result<()> {
    let local = LocalAws::connect().await?;
    let blocks = readme_envelopes()?;
    let mail = blocks
        .iter()
        .find(|b| b["kind"] == "mail")
        .context("docs/message-format.md has a mail example")?;
    let upload = blocks
        .iter()
        .find(|b| b["kind"] == "upload")
        .context("docs/message-format.md has an upload example")?;
    assert_eq!(
        mail,
        &sample("mail.json")?,
        "the documented mail example is schema/examples/mail.json"
    );
    assert_eq!(
        upload,
        &sample("upload.json")?,
        "the documented upload example is schema/examples/upload.json"
    );

    let Job::Mail(mail_job) = Envelope::decode(&mail.to_string())?.job else {
        bail!("not a mail")
    };
    let Job::Upload(upload_job) = Envelope::decode(&upload.to_string())?.job else {
        bail!("not an upload")
    };
    let same_mail = || -> Result<usize> {
        Ok(local
            .sent_mails()?
            .iter()
            .filter(|m| m.subject == mail_job.subject && Some(&m.body) == mail_job.text.as_ref())
            .count())
    };
    let mails_before = same_mail()?;
    local
        .s3
        .delete_object()
        .bucket(&upload_job.bucket)
        .key(&upload_job.key)
        .send()
        .await?;

    let queues = local.fresh_queues("readme", 3, 5).await?;
    for example in [mail, upload] {
        let body = serde_json::to_string_pretty(example)?;
        aws_cli(
            &local,
            &[
                "sqs",
                "send-message",
                "--queue-url",
                &queues.url,
                "--message-body",
                &body,
            ],
        )?;
    }
    run_worker_until(
        local.handler(&queues.dlq_url, None),
        &local,
        &queues.url,
        Duration::from_secs(60),
        || async {
            let stored = local.object_exists(&upload_job.key).await?;
            Ok((stored && same_mail()? > mails_before).then_some(()))
        },
    )
    .await?;

    let object = local
        .s3
        .get_object()
        .bucket(&upload_job.bucket)
        .key(&upload_job.key)
        .send()
        .await?;
    assert_eq!(object.content_type(), upload_job.content_type.as_deref());
    assert_eq!(
        object.metadata().cloned().unwrap_or_default(),
        upload_job.metadata.clone().into_iter().collect()
    );
    assert_eq!(
        object.body.collect().await?.into_bytes().as_ref(),
        upload_job.body()?.as_slice()
    );
    assert_eq!(same_mail()?, mails_before + 1);
    assert!(local.drain(&queues.dlq_url).await?.is_empty());
    Ok(())
}

/// The README's Python example, run with boto3, sends a job the handler accepts.
#[tokio::test]
async fn the_readme_python_example_enqueues_a_valid_job() -> Result<()> {
    let local = LocalAws::connect().await?;
    let readme = message_format()?;
    let start = readme
        .find("```python\n")
        .context("docs/message-format.md has a Python example")?
        + "```python\n".len();
    let length = readme[start..]
        .find("```")
        .context("the Python block ends")?;
    let program = format!(
        "import sys\nqueue_url = sys.argv[1]\n{}",
        &readme[start..start + length]
    );
    let queues = local.fresh_queues("python", 3, 5).await?;
    let python = repo_root().join(".venv/tools/bin/python");
    let output = std::process::Command::new(&python)
        .envs(local.env.child_env())
        .args(["-c", &program, &queues.url])
        .output()
        .with_context(|| python.display().to_string())?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let received = local.receive(&queues.url, 5).await?;
    let message = received.into_iter().next().context("a message")?;
    let envelope = Envelope::decode(message.body().unwrap_or_default())?;
    envelope.validate()?;
    assert_eq!(envelope.kind(), "mail");
    Ok(())
}
