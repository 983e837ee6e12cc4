//! What this stack serves: its queues and its payload bucket. Everything a
//! message says about where it belongs (a dead letter's `jobs.source`, the
//! pointer in its body, the `queue_url` of a scheduled job's ledger record) is
//! checked here before an operator's command acts on it: anyone with
//! `sqs:SendMessage` or a producer's `PutItem` can write those, and an
//! operator's credentials reach further than the stack's.

use producer::contract::pointer::{PAYLOAD_PREFIX, PayloadPointer};

use crate::queues::JobQueue;

/// The queues a dead letter or a scheduled job may be sent to, and the bucket
/// a pointer may be followed into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    queue_urls: Vec<String>,
    payload_bucket: Option<String>,
}

/// A queue a message named that this stack does not serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{named}` is not a queue this stack serves ({served}): nothing was sent there; pass `--queue` to send it to one of them"
)]
pub struct NotServed {
    pub named: String,
    served: String,
}

impl Served {
    pub fn new(
        queue_urls: impl IntoIterator<Item = impl Into<String>>,
        payload_bucket: Option<String>,
    ) -> Self {
        Served {
            queue_urls: queue_urls.into_iter().map(Into::into).collect(),
            payload_bucket: payload_bucket.filter(|b| !b.is_empty()),
        }
    }

    /// The queues an operation covers and every queue of `JOBS_QUEUE_URLS`
    /// (a map that cannot be read adds none), with `payload_bucket`.
    pub fn of(covered: &[JobQueue], payload_bucket: Option<String>) -> Self {
        let mut urls: Vec<String> = covered.iter().map(|q| q.url.clone()).collect();
        if let Ok(routes) = producer::send::routes::QueueRoutes::from_env() {
            urls.extend(routes.iter().map(|(_, url)| url.to_owned()));
        }
        Served::new(urls, payload_bucket)
    }

    pub fn payload_bucket(&self) -> Option<&str> {
        self.payload_bucket.as_deref()
    }

    /// Whether a pointer is into the payload bucket under `payloads/`, the one
    /// place this stack's stored envelopes are.
    pub fn holds(&self, pointer: &PayloadPointer) -> bool {
        self.payload_bucket
            .as_deref()
            .is_some_and(|bucket| pointer.is_within(bucket))
    }

    /// What an operator is told of a pointer that is not followed.
    pub fn outside(&self, pointer: &PayloadPointer) -> String {
        let allowed = match &self.payload_bucket {
            Some(bucket) => format!("`s3://{bucket}/{PAYLOAD_PREFIX}`"),
            None => format!(
                "none is set (`--payload-bucket`, `{}`)",
                producer::contract::pointer::PAYLOAD_BUCKET_ENV
            ),
        };
        format!(
            "a pointer outside the payload bucket: `{}` is neither read nor deleted (the payload bucket: {allowed})",
            pointer.url()
        )
    }

    /// The URL, as configured, of the queue a message names; the message's
    /// own spelling of it is never used. Queues are the same when their
    /// account and name are.
    pub fn queue(&self, named: &str) -> Result<&str, NotServed> {
        let wanted = identity(named);
        self.queue_urls
            .iter()
            .find(|url| wanted.is_some() && identity(url) == wanted)
            .map(String::as_str)
            .ok_or_else(|| NotServed {
                named: named.to_owned(),
                served: if self.queue_urls.is_empty() {
                    "none is configured".to_owned()
                } else {
                    let mut names: Vec<&str> = self
                        .queue_urls
                        .iter()
                        .map(|u| producer::send::queue::queue_name_of(u))
                        .collect();
                    names.sort_unstable();
                    names.dedup();
                    format!("`{}`", names.join("`, `"))
                },
            })
    }
}

/// A queue URL's account and name: its path's last two segments (SQS writes
/// `/ACCOUNT/NAME`, LocalStack also `/queue/REGION/ACCOUNT/NAME`).
fn identity(url: &str) -> Option<(&str, &str)> {
    let rest = url.split_once("://")?.1;
    let path = rest.split_once('/')?.1;
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut segments = path.trim_end_matches('/').rsplit('/');
    let (name, account) = (segments.next()?, segments.next()?);
    let valid = |s: &str| !s.is_empty() && s != "." && s != "..";
    (valid(account) && valid(name)).then_some((account, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str =
        "http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/shop-default";
    const MAILERS: &str = "http://localhost:4566/000000000000/shop-mailers";

    #[test]
    fn a_named_queue_is_served_only_by_its_account_and_name_and_the_configured_url_is_used() {
        let served = Served::new([DEFAULT, MAILERS], None);
        assert_eq!(
            served.queue("http://127.0.0.1:4566/000000000000/shop-default"),
            Ok(DEFAULT)
        );
        assert_eq!(served.queue(MAILERS), Ok(MAILERS));
        assert_eq!(
            served.queue("http://127.0.0.1:4566/queue/us-east-1/000000000000/shop-mailers"),
            Ok(MAILERS)
        );
        for other in [
            "http://localhost:4566/000000000000/internal-billing",
            "http://localhost:4566/999999999999/shop-default",
            "http://localhost:4566/000000000000/shop-default/extra",
            "http://localhost:4566/shop-default",
            "shop-default",
            "",
        ] {
            let refused = served.queue(other).expect_err(other);
            assert!(
                refused
                    .to_string()
                    .contains("not a queue this stack serves (`shop-default`, `shop-mailers`)"),
                "{refused}"
            );
        }
        assert!(
            Served::default()
                .queue(DEFAULT)
                .expect_err("nothing is served")
                .to_string()
                .contains("none is configured")
        );
    }

    #[test]
    fn a_pointer_is_followed_only_into_the_payload_bucket() {
        let served = Served::new([DEFAULT], Some("shop-payloads".into()));
        assert!(served.holds(&PayloadPointer::new("shop-payloads", "payloads/j/1")));
        let foreign = PayloadPointer::new("prod-backups", "db.dump");
        assert!(!served.holds(&foreign));
        assert!(
            served
                .outside(&foreign)
                .contains("a pointer outside the payload bucket: `s3://prod-backups/db.dump`")
        );
        let unset = Served::new([DEFAULT], Some(String::new()));
        assert!(!unset.holds(&PayloadPointer::new("", "payloads/j/1")));
        assert!(unset.outside(&foreign).contains("JOBS_PAYLOAD_BUCKET"));
    }
}
