//! Standard Webhooks signatures (<https://www.standardwebhooks.com>), with
//! secrets read from SSM Parameter Store.
//!
//! A signed call carries `webhook-id` (the job id), `webhook-timestamp` (Unix
//! seconds at the time of the try) and `webhook-signature`: `v1,` and the
//! base64 HMAC-SHA256 of `id.timestamp.body` under the secret. The secret is a
//! Standard Webhooks secret, `whsec_` and base64 (the prefix optional); the
//! job names it (`ssm:/path`), never carries it. Secrets Manager secrets are
//! read through SSM's `/aws/reference/secretsmanager/NAME` path, so one client
//! serves both ([`ssm`](super::ssm)). Each secret is read once per warm container and kept for
//! [`SECRET_TTL`], so a rotated secret is in use within that time.
//!
//! A secret names the hosts it may sign for: it is stored as
//! `{"secret": "whsec_…", "hosts": ["partner.example", "*.partner.example"]}`.
//! A job that asks to sign a call to any other host fails for good, so a
//! message cannot make the handler sign what it chooses for whom it chooses.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use producer::aws::ErrorClass;

use super::ssm::ParameterStore;
use crate::error::JobError;

/// How long a secret read from SSM is used before it is read again.
pub const SECRET_TTL: Duration = Duration::from_secs(300);
pub use super::SECRETS_PREFIX_ENV;
/// Where SSM serves Secrets Manager secrets.
pub const SECRETS_MANAGER_PATH: &str = "/aws/reference/secretsmanager";
const PREFIX: &str = "whsec_";

/// A signing key and the hosts it may sign for. Its `Debug` shows nothing
/// of the key.
#[derive(Clone)]
pub struct SigningKey {
    key: ring::hmac::Key,
    hosts: Vec<String>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(…, hosts: {:?})", self.hosts)
    }
}

impl SigningKey {
    /// Reads a Standard Webhooks secret: `whsec_` (optional) and base64.
    pub fn from_secret(secret: &str) -> Option<Self> {
        let encoded = secret.trim();
        let encoded = encoded.strip_prefix(PREFIX).unwrap_or(encoded);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .filter(|bytes| !bytes.is_empty())?;
        Some(SigningKey {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes),
            hosts: Vec::new(),
        })
    }

    /// Reads a stored value: `{"secret": "whsec_…", "hosts": [...]}`, or a
    /// bare secret, which names no host and so signs for none.
    pub fn from_value(value: &str) -> Option<Self> {
        // Read as a `Value`, whose parser the binary has anyway.
        let Ok(serde_json::Value::Object(stored)) = serde_json::from_str(value.trim()) else {
            return Self::from_secret(value);
        };
        if stored.len() != 2 {
            return None;
        }
        let hosts: Option<Vec<&str>> = stored
            .get("hosts")?
            .as_array()?
            .iter()
            .map(serde_json::Value::as_str)
            .collect();
        Some(Self::from_secret(stored.get("secret")?.as_str()?)?.for_hosts(hosts?))
    }

    /// The key, allowed to sign for `hosts`: names (lowercase), addresses,
    /// or `*.domain` for any name under `domain`.
    pub fn for_hosts(mut self, hosts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.hosts = hosts
            .into_iter()
            .map(|h| h.into().trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        self
    }

    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// Whether a call to `host` may carry this key's signature.
    pub fn may_sign_for(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.hosts
            .iter()
            .any(|allowed| match allowed.strip_prefix("*.") {
                Some(domain) => host
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                None => *allowed == host,
            })
    }

    /// The `webhook-signature` value for one try.
    pub fn signature(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        let mut context = ring::hmac::Context::with_key(&self.key);
        context.update(id.as_bytes());
        context.update(b".");
        context.update(timestamp.to_string().as_bytes());
        context.update(b".");
        context.update(body);
        let tag = context.sign();
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
        )
    }
}

/// Reads signing secrets from SSM and keeps them for [`SECRET_TTL`].
#[derive(Debug, Clone)]
pub struct Secrets {
    ssm: ParameterStore,
    /// Parameters outside this path (and its Secrets Manager form) are refused.
    prefix: Option<String>,
    cache: Arc<Mutex<HashMap<String, (Instant, SigningKey)>>>,
}

impl Secrets {
    /// Secrets read with the credentials and endpoints of `config`.
    pub fn new(config: &aws_config::SdkConfig, prefix: Option<String>) -> Self {
        Secrets {
            ssm: ParameterStore::new(config),
            prefix,
            cache: Arc::default(),
        }
    }

    /// Whether a job may name `parameter`: under the prefix, directly or
    /// through Secrets Manager's path.
    /// A name with an empty, `.` or `..` segment is never allowed: it could
    /// start with the prefix and name something else.
    pub fn allowed(&self, parameter: &str) -> bool {
        let plain = parameter.strip_prefix('/').is_some_and(|path| {
            path.split('/')
                .all(|segment| !matches!(segment, "" | "." | ".."))
        });
        if !plain {
            return false;
        }
        let Some(prefix) = &self.prefix else {
            return true;
        };
        let in_secrets_manager = parameter
            .strip_prefix(SECRETS_MANAGER_PATH)
            .is_some_and(|rest| rest.starts_with(prefix.as_str()));
        parameter.starts_with(prefix.as_str()) || in_secrets_manager
    }

    pub async fn key(&self, parameter: &str) -> Result<SigningKey, JobError> {
        if !self.allowed(parameter) {
            return Err(secret_error(
                ErrorClass::Permanent,
                format!(
                    "the signing secret `{parameter}` is outside `{}` ({SECRETS_PREFIX_ENV}), which the handler may read",
                    self.prefix.as_deref().unwrap_or_default()
                ),
            ));
        }
        if let Some(key) = self.cached(parameter) {
            return Ok(key);
        }
        let value = self.ssm.get_decrypted(parameter).await.map_err(|e| {
            secret_error(
                e.class,
                format!(
                    "cannot read the signing secret `{parameter}`: {}",
                    e.message
                ),
            )
        })?;
        let key = SigningKey::from_value(&value).ok_or_else(|| {
            secret_error(
                ErrorClass::Permanent,
                format!(
                    "the signing secret `{parameter}` is not `{{\"secret\": \"whsec_…\", \"hosts\": […]}}` with a Standard Webhooks secret"
                ),
            )
        })?;
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(parameter.to_owned(), (Instant::now(), key.clone()));
        Ok(key)
    }

    fn cached(&self, parameter: &str) -> Option<SigningKey> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .get(parameter)
            .filter(|(read_at, _)| read_at.elapsed() < SECRET_TTL)
            .map(|(_, key)| key.clone())
    }
}

fn secret_error(class: ErrorClass, message: String) -> JobError {
    JobError::Http {
        code: "http_secret",
        class,
        status: None,
        message,
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference
    /// libraries (their test suites sign this message with this secret).
    #[test]
    fn signs_as_the_specification_s_example() {
        let key =
            SigningKey::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let signature = key.signature(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_that_are_not_base64_are_refused_and_keys_do_not_show() {
        assert!(SigningKey::from_secret("whsec_not base64!").is_none());
        assert!(SigningKey::from_secret("").is_none());
        let key = SigningKey::from_secret("c2VjcmV0").expect("no prefix");
        assert_eq!(format!("{key:?}"), "SigningKey(…, hosts: [])");
    }

    #[test]
    fn a_secret_signs_only_for_the_hosts_it_names() {
        let stored = r#"{"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "hosts": ["Partner.example", "*.hooks.example", "127.0.0.1"]}"#;
        let key = SigningKey::from_value(stored).expect("stored");
        for host in [
            "partner.example",
            "PARTNER.EXAMPLE",
            "a.hooks.example",
            "x.y.hooks.example",
            "127.0.0.1",
        ] {
            assert!(key.may_sign_for(host), "{host}");
        }
        for host in [
            "attacker.example",
            "hooks.example",
            "evilhooks.example",
            "partner.example.evil",
            "127.0.0.2",
            "",
        ] {
            assert!(!key.may_sign_for(host), "{host}");
        }
        let bare = SigningKey::from_value("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("bare");
        assert!(bare.hosts().is_empty() && !bare.may_sign_for("partner.example"));
        // The same key either way.
        assert_eq!(key.signature("m", 1, b"x"), bare.signature("m", 1, b"x"));
        assert!(SigningKey::from_value(r#"{"secret": "whsec_!!", "hosts": ["a"]}"#).is_none());
        assert!(
            SigningKey::from_value(r#"{"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}"#)
                .is_none()
        );
    }

    #[test]
    fn only_parameters_under_the_prefix_may_be_named() {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let secrets = Secrets::new(&config, Some("/jobs/webhooks/".into()));
        assert!(secrets.allowed("/jobs/webhooks/partner"));
        assert!(secrets.allowed("/aws/reference/secretsmanager/jobs/webhooks/partner"));
        assert!(!secrets.allowed("/prod/database/password"));
        assert!(!secrets.allowed("/aws/reference/secretsmanager/prod/db"));
        for crafted in [
            "/jobs/webhooks/../../prod/database/password",
            "/jobs/webhooks/./partner",
            "/jobs/webhooks//partner",
            "/aws/reference/secretsmanager/jobs/webhooks/../../prod/db",
        ] {
            assert!(!secrets.allowed(crafted), "{crafted}");
        }
        let anywhere = Secrets::new(&config, None);
        assert!(anywhere.allowed("/any/parameter"));
        assert!(!anywhere.allowed("/any/../parameter"));
    }
}
