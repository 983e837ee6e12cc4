//! SSM's `GetParameter`, with decryption: the one AWS call the signing
//! secrets need, made without the SSM client.
//!
//! The generated client weighed about 310 KiB of the Lambda binary (its
//! configuration, endpoint rules and types; `cargo bloat`) for this single
//! call, and the zip has a budget (docs/performance.md). The request is the
//! client's own: the `awsJson1.1` protocol, signed with SigV4 by the SDK's
//! signer (`aws-sigv4`), with the credentials, region and endpoint settings of
//! the `SdkConfig` every other client is built from
//! ([`producer::aws::service_endpoint`]). It goes out on the http client's
//! connection code, without the address guard (the endpoint is the
//! configuration's, not a job's), over TLS checked against the same roots.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials as _;
use bytes::Bytes;
use http_body_util::Full;
use producer::aws::ErrorClass;
use producer::contract::http::{USER_AGENT, parse_url};

/// How long one `GetParameter` may take when the configuration sets no
/// attempt timeout (`JOBS_CALL_TIMEOUT_SECONDS` sets one).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Far more than a parameter's answer (an advanced parameter holds 8 KB).
const MAX_ANSWER: usize = 64 * 1024;

/// Reads SSM parameters with the configuration's credentials.
#[derive(Debug, Clone)]
pub struct ParameterStore {
    config: SdkConfig,
}

/// Why a parameter could not be read, and whether a retry can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub class: ErrorClass,
    pub message: String,
}

impl ReadError {
    fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        ReadError {
            class,
            message: message.into(),
        }
    }
}

impl ParameterStore {
    pub fn new(config: &SdkConfig) -> Self {
        ParameterStore {
            config: config.clone(),
        }
    }

    /// The value of the parameter `name`, decrypted.
    pub async fn get_decrypted(&self, name: &str) -> Result<String, ReadError> {
        let timeout = self
            .config
            .timeout_config()
            .and_then(|t| t.operation_attempt_timeout())
            .unwrap_or(DEFAULT_TIMEOUT);
        match tokio::time::timeout(timeout, self.call(name)).await {
            Ok(result) => result,
            Err(_) => Err(ReadError::new(
                ErrorClass::Transient,
                format!(
                    "ssm:GetParameter timed out after {} s",
                    timeout.as_secs_f32()
                ),
            )),
        }
    }

    async fn call(&self, name: &str) -> Result<String, ReadError> {
        let endpoint = producer::aws::service_endpoint(&self.config, "SSM").ok_or_else(|| {
            ReadError::new(
                ErrorClass::Permanent,
                "no region is configured (`AWS_REGION`), so SSM has no endpoint",
            )
        })?;
        let target = parse_url(&endpoint).map_err(|problem| {
            ReadError::new(
                ErrorClass::Permanent,
                format!("the SSM endpoint `{endpoint}` cannot be used: {problem}"),
            )
        })?;
        let body = serde_json::json!({"Name": name, "WithDecryption": true}).to_string();
        let request = self.signed_request(&endpoint, &target, body).await?;
        let addresses = resolve(&target.host, target.port).await.map_err(|e| {
            ReadError::new(
                ErrorClass::Transient,
                format!("cannot resolve `{}`: {e}", target.host),
            )
        })?;
        let shown = target.redacted();
        let response = super::client::send_to(&addresses, &target, request, &shown)
            .await
            .map_err(|e| ReadError::new(ErrorClass::Transient, e.to_string()))?;
        let status = response.status().as_u16();
        let (answer, _) = super::client::read_up_to(response.into_body(), MAX_ANSWER)
            .await
            .map_err(|e| {
                ReadError::new(
                    ErrorClass::Transient,
                    format!("SSM's answer broke off while it was read: {e}"),
                )
            })?;
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
        if status == 200 {
            return answer["Parameter"]["Value"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| {
                    ReadError::new(
                        ErrorClass::Transient,
                        "SSM answered `GetParameter` without the parameter's value",
                    )
                });
        }
        // `__type` may carry the shape's namespace: `com.amazonaws.ssm#ParameterNotFound`.
        let code = answer["__type"]
            .as_str()
            .unwrap_or_default()
            .rsplit('#')
            .next()
            .unwrap_or_default();
        let said = answer["message"]
            .as_str()
            .or_else(|| answer["Message"].as_str())
            .unwrap_or_default();
        Err(ReadError::new(
            producer::aws::classify_answer(status, code),
            format!("ssm:GetParameter answered {status} {code}: {said}")
                .trim_end_matches([' ', ':'])
                .to_owned(),
        ))
    }

    /// The `GetParameter` request, signed with the configuration's credentials.
    async fn signed_request(
        &self,
        endpoint: &str,
        target: &producer::contract::http::Target,
        body: String,
    ) -> Result<hyper::Request<Full<Bytes>>, ReadError> {
        let region = self
            .config
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default();
        let provider = self.config.credentials_provider().ok_or_else(|| {
            ReadError::new(ErrorClass::Permanent, "no credentials are configured")
        })?;
        let credentials = provider.provide_credentials().await.map_err(|e| {
            ReadError::new(
                ErrorClass::Transient,
                format!(
                    "no credentials to read SSM with: {}",
                    crate::error::with_sources(&e)
                ),
            )
        })?;
        let identity = credentials.into();
        let host = target.host_header();
        let headers = [
            ("host", host.as_str()),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "AmazonSSM.GetParameter"),
        ];
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name("ssm")
            .time(SystemTime::now())
            .settings(aws_sigv4::http_request::SigningSettings::default())
            .build()
            .map_err(|e| ReadError::new(ErrorClass::Permanent, format!("cannot sign: {e}")))?
            .into();
        let signable = aws_sigv4::http_request::SignableRequest::new(
            "POST",
            endpoint,
            headers.iter().copied(),
            aws_sigv4::http_request::SignableBody::Bytes(body.as_bytes()),
        )
        .and_then(|request| aws_sigv4::http_request::sign(request, &params))
        .map_err(|e| ReadError::new(ErrorClass::Permanent, format!("cannot sign: {e}")))?;
        let mut request = hyper::Request::builder()
            .method("POST")
            .uri(target.path_and_query.as_str())
            .header(http::header::USER_AGENT, USER_AGENT)
            .header(http::header::CONTENT_LENGTH, body.len());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut request = request.body(Full::new(Bytes::from(body))).map_err(|e| {
            ReadError::new(
                ErrorClass::Permanent,
                format!("cannot build the request: {e}"),
            )
        })?;
        let (instructions, _) = signable.into_parts();
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}

/// The endpoint's addresses, through the system's resolver: the endpoint is
/// the configuration's, so the tests' stub resolver has no say in it.
async fn resolve(host: &str, port: u16) -> std::io::Result<Vec<std::net::IpAddr>> {
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse() {
        return Ok(vec![ip]);
    }
    Ok(tokio::net::lookup_host((host, port))
        .await?
        .map(|address| address.ip())
        .collect())
}
