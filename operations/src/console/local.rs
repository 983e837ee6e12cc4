//! The console's Local tab, when it runs against the local emulators: the
//! mails moto recorded (it sends none) and the objects in the upload bucket.
//! Nothing here is read on a real account.

use std::net::IpAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Where the local emulators keep what the jobs did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMode {
    /// moto's server, `http://127.0.0.1:PORT` (`MOTO_URL`).
    pub moto: String,
    /// The upload bucket (`JOBS_BUCKET`).
    pub bucket: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LocalModeError {
    #[error(
        "`--local-mails` must be the local moto server on a loopback address, `http://127.0.0.1:PORT`; not `{0}`"
    )]
    NotLoopback(String),
}

impl LocalMode {
    /// Refuses anything but plain HTTP to a loopback address: the console
    /// never fetches from elsewhere.
    pub fn new(moto: &str, bucket: Option<String>) -> Result<Self, LocalModeError> {
        let refused = || LocalModeError::NotLoopback(moto.to_owned());
        let host_port = moto
            .strip_prefix("http://")
            .ok_or_else(refused)?
            .trim_end_matches('/');
        let (host, port) = host_port.rsplit_once(':').ok_or_else(refused)?;
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback || port.parse::<u16>().is_err() {
            return Err(refused());
        }
        Ok(LocalMode {
            moto: format!("{host}:{port}"),
            bucket: bucket.filter(|b| !b.is_empty()),
        })
    }
}

/// A mail as moto recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedMail {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// The longest body shown for a recorded mail.
const SHOWN_BODY_CHARS: usize = 2000;

/// The mails moto recorded, newest first, at most `limit`.
pub async fn recorded_mails(mode: &LocalMode, limit: usize) -> Result<Vec<RecordedMail>, String> {
    let body = get(&mode.moto, "/moto-api/data.json").await?;
    let data: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("moto's data is not JSON: {e}"))?;
    let messages = data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(messages
        .iter()
        .rev()
        .take(limit)
        .map(|m| {
            let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
            let to: Vec<String> = ["ToAddresses", "CcAddresses", "BccAddresses"]
                .iter()
                .flat_map(|key| {
                    m["destinations"][key]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .map(|v| text(&v))
                .collect();
            RecordedMail {
                from: text(&m["source"]),
                to: to.join(", "),
                subject: text(&m["subject"]),
                body: text(&m["body"]).chars().take(SHOWN_BODY_CHARS).collect(),
            }
        })
        .collect())
}

/// An object in the upload bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub key: String,
    pub size: i64,
    pub last_modified: String,
}

/// The newest objects of the upload bucket (of its first thousand keys), at most `limit`.
pub async fn stored_objects(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    limit: usize,
) -> Result<Vec<StoredObject>, String> {
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| format!("listing `{bucket}`: {}", producer::aws::describe(&e)))?;
    let mut objects: Vec<_> = listed
        .contents
        .unwrap_or_default()
        .into_iter()
        .map(|o| {
            let modified = o.last_modified.map(|t| t.secs()).unwrap_or_default();
            (modified, o)
        })
        .collect();
    objects.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    Ok(objects
        .into_iter()
        .take(limit)
        .map(|(modified, o)| StoredObject {
            key: o.key.unwrap_or_default(),
            size: o.size.unwrap_or_default(),
            last_modified: humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH
                    + std::time::Duration::from_secs(u64::try_from(modified).unwrap_or_default()),
            )
            .to_string(),
        })
        .collect())
}

/// A GET over HTTP/1.0 to a loopback `host:port`, with a time limit.
async fn get(host_port: &str, path: &str) -> Result<String, String> {
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect(host_port)
            .await
            .map_err(|e| format!("cannot reach moto at `{host_port}`: {e}"))?;
        let request =
            format!("GET {path} HTTP/1.0\r\nHost: {host_port}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .await
            .map_err(|e| e.to_string())?;
        let response = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = response
            .split_once("\r\n\r\n")
            .ok_or("moto's answer has no body")?;
        if head.split_whitespace().nth(1) != Some("200") {
            return Err(format!(
                "moto answered `{}`",
                head.lines().next().unwrap_or_default()
            ));
        }
        Ok(body.to_owned())
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), fetch)
        .await
        .map_err(|_| format!("moto at `{host_port}` did not answer within 10 s"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_loopback_moto_is_read() {
        let ok = LocalMode::new("http://127.0.0.1:5000/", Some("b".into()));
        assert_eq!(
            ok,
            Ok(LocalMode {
                moto: "127.0.0.1:5000".into(),
                bucket: Some("b".into())
            })
        );
        assert!(LocalMode::new("http://localhost:5000", None).is_ok());
        assert!(LocalMode::new("http://[::1]:5000", None).is_ok());
        for refused in [
            "http://10.0.0.1:5000",
            "https://127.0.0.1:5000",
            "http://moto.example.com:5000",
            "http://127.0.0.1",
            "127.0.0.1:5000",
        ] {
            assert!(LocalMode::new(refused, None).is_err(), "{refused}");
        }
    }
}
