//! Named queues: which URL a queue name stands for, and which queue a job goes
//! to when nothing names one.
//!
//! The stack outputs its queues as one JSON object, `{"mailers": URL,
//! "default": URL}` (its `QueueUrls` output), which `.local/env` and a
//! deployment pass on as `JOBS_QUEUE_URLS`. Precedence, first match wins:
//!
//! 1. a URL given anywhere (a call, a job type's defaults, `--queue`) is used as is;
//! 2. a name found in `JOBS_QUEUE_URLS`;
//! 3. any other name is looked up with SQS's `GetQueueUrl`.
//!
//! The default queue, for a job whose type and call name none, is the map's
//! `default`; without a map, the lone `JOBS_QUEUE_URL`. Built-in mail goes to
//! `mailers` when the map has it, else to the default queue, so a stack of one
//! queue still takes mail.

use std::collections::BTreeMap;

use crate::contract::envelope::Job;

/// The name → URL map of the stack's queues, a JSON object.
pub const QUEUE_URLS_ENV: &str = "JOBS_QUEUE_URLS";
/// The queue of jobs that name none.
pub const DEFAULT_QUEUE: &str = "default";
/// The queue of built-in mail, as the lesson's mailers queue.
pub const MAILERS_QUEUE: &str = "mailers";

/// The stack's queues by name. Empty when `JOBS_QUEUE_URLS` is unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueRoutes {
    urls: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutesError {
    #[error(
        "`{QUEUE_URLS_ENV}` must be a JSON object of queue names to queue URLs, such as \
         {{\"mailers\": \"https://…\", \"default\": \"https://…\"}}: {0}"
    )]
    NotAMap(String),
    #[error("`{QUEUE_URLS_ENV}`: queue `{name}` must map to an http(s) URL, not `{url}`")]
    NotAUrl { name: String, url: String },
    #[error("`{QUEUE_URLS_ENV}`: a queue name must be 1–80 letters, digits, `-` or `_`, not `{0}`")]
    BadName(String),
}

impl QueueRoutes {
    /// Reads `JOBS_QUEUE_URLS`; unset or empty gives no routes.
    pub fn from_env() -> Result<Self, RoutesError> {
        match std::env::var(QUEUE_URLS_ENV) {
            Ok(text) if !text.trim().is_empty() => Self::parse(&text),
            _ => Ok(Self::default()),
        }
    }

    pub fn parse(text: &str) -> Result<Self, RoutesError> {
        let urls: BTreeMap<String, String> =
            serde_json::from_str(text).map_err(|e| RoutesError::NotAMap(e.to_string()))?;
        for (name, url) in &urls {
            if !is_queue_name(name) {
                return Err(RoutesError::BadName(name.clone()));
            }
            if !is_url(url) {
                return Err(RoutesError::NotAUrl {
                    name: name.clone(),
                    url: url.clone(),
                });
            }
        }
        Ok(QueueRoutes { urls })
    }

    /// Routes from pairs, for code that knows its queues.
    pub fn from_pairs<N: Into<String>, U: Into<String>>(
        pairs: impl IntoIterator<Item = (N, U)>,
    ) -> Self {
        QueueRoutes {
            urls: pairs
                .into_iter()
                .map(|(n, u)| (n.into(), u.into()))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// The URL of `queue`: itself when it is a URL, else its entry.
    pub fn url_of<'a>(&'a self, queue: &'a str) -> Option<&'a str> {
        if is_url(queue) {
            return Some(queue);
        }
        self.urls.get(queue).map(String::as_str)
    }

    /// The name a URL is known by, if the map has it.
    pub fn name_of(&self, url: &str) -> Option<&str> {
        self.urls
            .iter()
            .find(|(_, u)| u.as_str() == url)
            .map(|(n, _)| n.as_str())
    }

    /// Every queue, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.urls.iter().map(|(n, u)| (n.as_str(), u.as_str()))
    }

    /// The queue a job goes to when neither its type nor the call names one:
    /// built-in mail to `mailers` when there is one; everything else (and mail
    /// without a `mailers` queue) to `default_queue` if given, else to the
    /// map's `default`.
    pub fn queue_for<'a>(&'a self, job: &Job, default_queue: Option<&'a str>) -> Option<&'a str> {
        if matches!(job, Job::Mail(_))
            && let Some(url) = self.urls.get(MAILERS_QUEUE)
        {
            return Some(url);
        }
        default_queue.or_else(|| self.urls.get(DEFAULT_QUEUE).map(String::as_str))
    }
}

pub fn is_url(queue: &str) -> bool {
    queue.starts_with("https://") || queue.starts_with("http://")
}

/// SQS's rule for queue names (without the `.fifo` suffix, which names no
/// queue here).
fn is_queue_name(name: &str) -> bool {
    (1..=80).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::envelope::{Job, MailJob, UploadJob};

    const MAP: &str = r#"{"mailers": "http://127.0.0.1:4566/000000000000/shop-mailers",
                         "default": "http://127.0.0.1:4566/000000000000/shop-default"}"#;

    #[test]
    fn a_url_is_itself_and_a_name_its_entry() {
        let routes = QueueRoutes::parse(MAP).expect("a map");
        assert_eq!(
            routes.url_of("mailers"),
            Some("http://127.0.0.1:4566/000000000000/shop-mailers")
        );
        assert_eq!(routes.url_of("https://sqs/1/q"), Some("https://sqs/1/q"));
        assert_eq!(routes.url_of("reports"), None, "left to GetQueueUrl");
        assert_eq!(
            routes.name_of("http://127.0.0.1:4566/000000000000/shop-default"),
            Some("default")
        );
    }

    #[test]
    fn mail_goes_to_mailers_and_the_rest_to_default() {
        let routes = QueueRoutes::parse(MAP).expect("a map");
        let mail = Job::Mail(MailJob {
            subject: "s".into(),
            ..MailJob::default()
        });
        let upload = Job::Upload(UploadJob::from_bytes("b", "k", b"bytes"));
        assert!(
            routes
                .queue_for(&mail, None)
                .is_some_and(|u| u.ends_with("-mailers"))
        );
        assert!(
            routes
                .queue_for(&upload, None)
                .is_some_and(|u| u.ends_with("-default"))
        );
        assert_eq!(
            routes.queue_for(&upload, Some("http://q/own")),
            Some("http://q/own")
        );
        let lone = QueueRoutes::from_pairs([("default", "http://q/default")]);
        assert_eq!(
            lone.queue_for(&mail, None),
            Some("http://q/default"),
            "no mailers queue"
        );
        assert_eq!(QueueRoutes::default().queue_for(&mail, None), None);
    }

    #[test]
    fn a_bad_map_names_the_setting_and_the_problem() {
        for (text, said) in [
            ("mailers=http://q", "must be a JSON object"),
            (r#"{"mailers": 3}"#, "must be a JSON object"),
            (
                r#"{"mailers": "shop-mailers"}"#,
                "queue `mailers` must map to an http(s) URL",
            ),
            (r#"{"mail ers": "http://q"}"#, "a queue name must be"),
        ] {
            let err = QueueRoutes::parse(text).expect_err(text).to_string();
            assert!(err.contains("`JOBS_QUEUE_URLS`"), "{err}");
            assert!(err.contains(said), "{text}: {err}");
        }
    }
}
