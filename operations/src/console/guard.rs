//! What keeps the console safe by default: the address it may listen on, the
//! `Host` of every request (against DNS rebinding), the `Origin` of every
//! request that changes something, the token when one is set (32 characters at
//! least), the CSRF token of every form, Fetch Metadata on the pages whose
//! view reads (and so hides for a while) dead letters, and headers that forbid
//! inline script and framing on every answer, refusals included.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::ConsoleError;

/// The rules a request is checked against, fixed when the console starts.
#[derive(Debug, Clone)]
pub struct Guard {
    /// `Host` values the console answers to, lowercase, each with its port.
    pub allowed_hosts: Vec<String>,
    /// With a token, every request must carry it (basic auth, any user name, or
    /// a bearer token).
    pub token: Option<String>,
}

/// The shortest token the console takes: a guessable one would let anyone
/// who reaches the address retry and delete jobs.
pub const MIN_TOKEN_CHARS: usize = 32;

/// A console on a non-loopback address is reachable by others: it needs a
/// token, and any token is at least [`MIN_TOKEN_CHARS`] long.
pub fn check_address(address: SocketAddr, token: Option<&str>) -> Result<(), ConsoleError> {
    if let Some(token) = token.filter(|t| !t.is_empty())
        && token.chars().count() < MIN_TOKEN_CHARS
    {
        return Err(ConsoleError::ShortToken(token.chars().count()));
    }
    if address.ip().is_loopback() || token.is_some_and(|t| !t.is_empty()) {
        Ok(())
    } else {
        Err(ConsoleError::OpenWithoutToken(address))
    }
}

/// The hosts a console bound to `bound` answers to: its own address, `localhost`
/// too when that is loopback, and the names given with `--allow-host` (a name
/// without a port gets the console's).
pub fn allowed_hosts(bound: SocketAddr, extra: &[String]) -> Vec<String> {
    let port = bound.port();
    let mut hosts = vec![bound.to_string()];
    if bound.ip().is_loopback() {
        hosts.extend([
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ]);
    }
    for name in extra {
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        let has_port = name
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            && !name.ends_with(']');
        hosts.push(if has_port {
            name
        } else {
            format!("{name}:{port}")
        });
    }
    hosts.sort();
    hosts.dedup();
    hosts
}

/// Whether a `Host` header names this console. A page served under another
/// name (a DNS-rebinding attack's) is refused before anything is read.
pub fn host_allowed(host: Option<&str>, allowed: &[String]) -> bool {
    host.map(str::to_ascii_lowercase)
        .is_some_and(|host| allowed.contains(&host))
}

/// Whether an `Origin` header is this console's own. A missing one is refused:
/// browsers send it with every POST, and a state change needs a browser's word
/// on where the form came from.
pub fn origin_allowed(origin: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = origin.map(str::to_ascii_lowercase) else {
        return false;
    };
    let host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    host.is_some_and(|host| allowed.iter().any(|a| a == host))
}

/// Whether an `Authorization` header carries the token: `Basic` with any user
/// name and the token as password, or `Bearer TOKEN`.
pub fn token_given(authorization: Option<&str>, token: &str) -> bool {
    let Some(value) = authorization else {
        return false;
    };
    let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value, ""));
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return same(credentials.as_bytes(), token.as_bytes());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials) else {
            return false;
        };
        let password = match decoded.iter().position(|b| *b == b':') {
            Some(colon) => &decoded[colon + 1..],
            None => &decoded[..],
        };
        return same(password, token.as_bytes());
    }
    false
}

/// Compares secrets in time that depends on their lengths only.
pub fn same(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn refuse(status: StatusCode, why: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        why,
    )
        .into_response()
}

fn text_header(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The pages whose view receives dead letters from SQS: each receive hides
/// them for a while and counts as a delivery, so another site must not be
/// able to load them (an `<img>` would do).
const RECEIVING_PAGES: [&str; 3] = ["/dead", "/dead/letter", "/jobs"];

/// Whether a request may load a page that receives from SQS: its
/// `Sec-Fetch-Site` (which every current browser sends) is not `cross-site`
/// or `same-site`. A request without it (curl, a script) passes.
pub fn fetch_site_allowed(path: &str, fetch_site: Option<&str>) -> bool {
    !RECEIVING_PAGES.contains(&path)
        || !fetch_site.is_some_and(|site| {
            site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site")
        })
}

/// The middleware in front of every route: its checks, then the security
/// headers on whatever is answered.
pub async fn check(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let mut response = match refusal(&guard, &request) {
        Some(refused) => refused,
        None => next.run(request).await,
    };
    secure(response.headers_mut());
    response
}

/// Why a request is refused before it reaches a page, if it is.
fn refusal(guard: &Guard, request: &Request) -> Option<Response> {
    let headers = request.headers();
    let host = text_header(headers, header::HOST);
    if !host_allowed(host, &guard.allowed_hosts) {
        return Some(refuse(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "refused: the `Host` header `{}` does not name this console; pass `--allow-host NAME` to serve it under another name",
                host.unwrap_or_default()
            ),
        ));
    }
    if let Some(token) = &guard.token
        && !token_given(text_header(headers, header::AUTHORIZATION), token)
    {
        let mut response = refuse(
            StatusCode::UNAUTHORIZED,
            "refused: this console needs its token (basic auth, any user name)".into(),
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"jobs ui\", charset=\"UTF-8\""),
        );
        return Some(response);
    }
    let fetch_site = text_header(headers, header::HeaderName::from_static("sec-fetch-site"));
    if !fetch_site_allowed(request.uri().path(), fetch_site) {
        return Some(refuse(
            StatusCode::FORBIDDEN,
            format!(
                "refused: this page reads the dead letters, and a request from another site (`Sec-Fetch-Site: {}`) may not; open it from the console itself",
                fetch_site.unwrap_or_default()
            ),
        ));
    }
    let safe_method = matches!(*request.method(), Method::GET | Method::HEAD);
    if !safe_method && !origin_allowed(text_header(headers, header::ORIGIN), &guard.allowed_hosts) {
        return Some(refuse(
            StatusCode::FORBIDDEN,
            format!(
                "refused: a change must come from this console's own pages (`Origin` was `{}`)",
                text_header(headers, header::ORIGIN).unwrap_or("missing")
            ),
        ));
    }
    None
}

fn secure(headers: &mut HeaderMap) {
    // No inline script or style at all: a job body that slipped past escaping
    // still could not run.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // `no-referrer` would make browsers send `Origin: null` with every form.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> Vec<String> {
        allowed_hosts("127.0.0.1:9494".parse().unwrap(), &[])
    }

    #[test]
    fn only_loopback_listens_without_a_token() {
        assert!(check_address("127.0.0.1:9494".parse().unwrap(), None).is_ok());
        assert!(check_address("[::1]:9494".parse().unwrap(), None).is_ok());
        let open = check_address("0.0.0.0:9494".parse().unwrap(), None).unwrap_err();
        assert!(open.to_string().contains("`0.0.0.0:9494`"), "{open}");
        assert!(check_address("0.0.0.0:9494".parse().unwrap(), Some("")).is_err());
        assert!(check_address("0.0.0.0:9494".parse().unwrap(), Some(&"s3cret".repeat(6))).is_ok());
    }

    #[test]
    fn a_rebound_name_is_not_this_console() {
        let allowed = loopback();
        assert!(host_allowed(Some("127.0.0.1:9494"), &allowed));
        assert!(host_allowed(Some("LOCALHOST:9494"), &allowed));
        assert!(!host_allowed(Some("attacker.example:9494"), &allowed));
        assert!(!host_allowed(Some("localhost:9495"), &allowed));
        assert!(!host_allowed(Some("localhost"), &allowed));
        assert!(!host_allowed(None, &allowed));
        let named = allowed_hosts(
            "10.1.2.3:80".parse().unwrap(),
            &["jobs.internal".into(), "proxy:8443".into()],
        );
        assert_eq!(named, ["10.1.2.3:80", "jobs.internal:80", "proxy:8443"]);
    }

    #[test]
    fn changes_need_this_consoles_origin() {
        let allowed = loopback();
        assert!(origin_allowed(Some("http://127.0.0.1:9494"), &allowed));
        assert!(origin_allowed(Some("http://localhost:9494"), &allowed));
        assert!(!origin_allowed(Some("http://evil.example"), &allowed));
        assert!(!origin_allowed(Some("null"), &allowed));
        assert!(!origin_allowed(
            Some("http://127.0.0.1:9494.evil.example"),
            &allowed
        ));
        assert!(!origin_allowed(None, &allowed));
    }

    #[test]
    fn another_sites_request_cannot_load_a_page_that_receives_dead_letters() {
        for path in ["/dead", "/dead/letter", "/jobs"] {
            for site in ["cross-site", "same-site", "Cross-Site"] {
                assert!(!fetch_site_allowed(path, Some(site)), "{path} {site}");
            }
            for site in [Some("same-origin"), Some("none"), None] {
                assert!(fetch_site_allowed(path, site), "{path} {site:?}");
            }
        }
        assert!(fetch_site_allowed("/", Some("cross-site")));
        assert!(fetch_site_allowed(
            "/assets/console.css",
            Some("cross-site")
        ));
    }

    #[test]
    fn a_token_is_at_least_32_characters() {
        let open: SocketAddr = "0.0.0.0:9494".parse().unwrap();
        let short = check_address(open, Some("s3cret")).unwrap_err();
        assert!(short.to_string().contains("32"), "{short}");
        assert!(check_address("127.0.0.1:9494".parse().unwrap(), Some("s3cret")).is_err());
        assert!(check_address(open, Some(&"k".repeat(MIN_TOKEN_CHARS))).is_ok());
    }

    #[test]
    fn the_token_by_basic_auth_or_bearer() {
        let basic = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert!(token_given(Some(&basic("ops:s3cret")), "s3cret"));
        assert!(token_given(Some(&basic(":s3cret")), "s3cret"));
        assert!(token_given(Some("Bearer s3cret"), "s3cret"));
        assert!(!token_given(Some(&basic("ops:wrong")), "s3cret"));
        assert!(!token_given(Some(&basic("s3cret:")), "s3cret"));
        assert!(!token_given(Some("Bearer s3cre"), "s3cret"));
        assert!(!token_given(Some("Basic !!!"), "s3cret"));
        assert!(!token_given(None, "s3cret"));
    }
}
