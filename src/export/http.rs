//! Delivering one request over OTLP/HTTP, with the retry rules of the OTLP
//! specification: 429, 502, 503, 504 and dropped connections are retried
//! with backoff (honouring `Retry-After`) until a total time budget runs
//! out; every other failure is final for this run.
//!
//! Whether a failure keeps the batch for the next run or drops it is the
//! caller's decision, made from [`ExportError`]'s kind.

use std::io::Read;
use std::time::{Duration, Instant, SystemTime};

use prost::Message;

use super::proto::ExportMetricsServiceResponse;

/// Most of a response body we read (the OTLP spec's advice).
const MAX_RESPONSE: u64 = 4 << 20;
/// How much of an error body we quote.
const MAX_QUOTE: usize = 200;

/// Where and how to send.
#[derive(Clone, Debug)]
pub struct Target {
    /// The endpoint URL (ends in `/v1/metrics`).
    pub url: String,
    /// Bearer token, already sanitised.
    pub token: Option<String>,
    /// Extra headers (values already resolved from the environment).
    pub headers: Vec<(String, String)>,
    /// Timeout of one attempt (connect + send + response).
    pub timeout: Duration,
    /// Total time all attempts may take.
    pub retry_budget: Duration,
    /// The proxy to go through (see [`super::network::proxy_for`]).
    pub proxy: Option<String>,
    /// The TLS trust (see [`super::network::tls_config`]); ureq's own
    /// default when `None`.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// A successful delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The 2xx status.
    pub status: u16,
    /// Points the server said it rejected (`partialSuccess`).
    pub rejected_points: i64,
    /// The server's partial-success message, quoted and shortened.
    pub message: Option<String>,
    /// Attempts made.
    pub attempts: u32,
}

/// Why a delivery failed.
#[derive(Debug)]
pub enum ExportError {
    /// The server answered with a non-2xx status that is not retried (or
    /// retries ran out on a retryable one).
    Status { status: u16, body: String, attempts: u32 },
    /// No HTTP answer: connection refused, DNS, TLS, timeout, dropped.
    Transport { message: String, attempts: u32 },
}

impl ExportError {
    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ExportError::Status { status, .. } => Some(*status),
            ExportError::Transport { .. } => None,
        }
    }
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            ExportError::Status { status, body, attempts } => {
                write!(f, "answered HTTP {status}")?;
                if !body.is_empty() {
                    write!(f, " ({body})")?;
                }
                write!(f, " after {attempts} attempt(s); {}", advice(*status))
            }
            ExportError::Transport { message, attempts } => {
                // A TLS 1.3 server that wants a client certificate only
                // says so after the handshake: the write breaks.
                let tls = ["certificate", "UnknownIssuer", "CertificateRequired", "tls"]
                    .iter()
                    .any(|w| message.contains(w))
                    || (message.contains("https://")
                        && ["Broken pipe", "reset by peer"].iter().any(|w| message.contains(w)));
                write!(
                    f,
                    "could not be reached after {attempts} attempt(s): {message}; {}",
                    if tls {
                        "the TLS handshake failed: if the collector's certificate comes from a \
                         private CA, set `ca_file:` (or OTEL_EXPORTER_OTLP_CERTIFICATE) to that \
                         CA's PEM; if it asks for a client certificate, set `client_cert:` and \
                         `client_key:`"
                    } else {
                        "check the endpoint URL, the proxy and that the collector is up"
                    }
                )
            }
        }
    }
}

/// What an operator should do about a status.
fn advice(status: u16) -> &'static str {
    match status {
        401 | 403 => "check the token file (or `headers:`) in the config",
        404 => "check the endpoint path (it usually ends in /v1/metrics)",
        413 => "the collector refuses a body this large",
        400 => "the collector rejected the data",
        415 => "the collector does not accept this encoding; try `encoding: json` or `protobuf`",
        429 | 502 | 503 | 504 => {
            "the collector is overloaded or down; the batch is kept for the next run"
        }
        _ => "see the collector's logs",
    }
}

/// True for the statuses the OTLP spec says to retry.
pub fn retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// Sends `body` (already encoded and maybe compressed) and waits for the
/// acknowledgement, retrying within the time budget.
pub fn send(
    target: &Target,
    body: &[u8],
    content_type: &str,
    gzip: bool,
) -> Result<Ack, ExportError> {
    let mut builder = ureq::AgentBuilder::new()
        .timeout_connect(target.timeout.min(Duration::from_secs(10)))
        .timeout(target.timeout)
        .redirects(0)
        // The proxy was chosen for this endpoint (NO_PROXY included).
        .try_proxy_from_env(false)
        .user_agent(concat!("telemetron/", env!("CARGO_PKG_VERSION")));
    if let Some(p) = &target.proxy {
        let proxy = ureq::Proxy::new(p).map_err(|e| ExportError::Transport {
            message: format!(
                "proxy {}: {e}; give it as http://[user:password@]host:port",
                super::network::redacted(p)
            ),
            attempts: 0,
        })?;
        builder = builder.proxy(proxy);
    }
    if let Some(tls) = &target.tls {
        builder = builder.tls_config(tls.clone());
    }
    let agent = builder.build();
    let proxy_auth =
        target.proxy.as_deref().and_then(|p| super::network::proxy_authorization(p, &target.url));
    let started = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let mut req = agent.post(&target.url).set("Content-Type", content_type);
        if gzip {
            req = req.set("Content-Encoding", "gzip");
        }
        if let Some(t) = &target.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        for (k, v) in &target.headers {
            req = req.set(k, v);
        }
        if let Some(auth) = &proxy_auth {
            req = req.set("Proxy-Authorization", auth);
        }
        let wait = match req.send_bytes(body) {
            Ok(resp) if (200..300).contains(&resp.status()) => {
                return Ok(acknowledge(resp, attempts))
            }
            // Redirects are not followed (a POST body must not be replayed
            // elsewhere silently): any other status is final.
            Ok(resp) => {
                let status = resp.status();
                return Err(ExportError::Status { status, body: quote_body(resp), attempts });
            }
            Err(ureq::Error::Status(status, resp)) => {
                let retry_after = resp.header("Retry-After").and_then(parse_retry_after);
                let quoted = quote_body(resp);
                if !retryable(status) {
                    return Err(ExportError::Status { status, body: quoted, attempts });
                }
                match next_wait(started, target.retry_budget, attempts, retry_after) {
                    Some(w) => w,
                    None => return Err(ExportError::Status { status, body: quoted, attempts }),
                }
            }
            Err(ureq::Error::Transport(t)) => {
                let final_kind = matches!(
                    t.kind(),
                    ureq::ErrorKind::InvalidUrl
                        | ureq::ErrorKind::UnknownScheme
                        | ureq::ErrorKind::InsecureRequestHttpsOnly
                        | ureq::ErrorKind::BadStatus
                        | ureq::ErrorKind::BadHeader
                );
                let message = t.to_string();
                if final_kind {
                    return Err(ExportError::Transport { message, attempts });
                }
                match next_wait(started, target.retry_budget, attempts, None) {
                    Some(w) => w,
                    None => return Err(ExportError::Transport { message, attempts }),
                }
            }
        };
        std::thread::sleep(wait);
    }
}

/// Reads a 2xx response: a `partialSuccess` is reported, anything else in
/// the body (empty, garbage, oversized) is ignored.
fn acknowledge(resp: ureq::Response, attempts: u32) -> Ack {
    let status = resp.status();
    let is_json = resp.content_type().contains("json");
    let mut body = Vec::new();
    let _ = resp.into_reader().take(MAX_RESPONSE).read_to_end(&mut body);
    let parsed = if body.is_empty() {
        None
    } else if is_json {
        serde_json::from_slice::<ExportMetricsServiceResponse>(&body).ok()
    } else {
        ExportMetricsServiceResponse::decode(&body[..]).ok()
    };
    let partial = parsed.and_then(|r| r.partial_success);
    Ack {
        status,
        rejected_points: partial.as_ref().map_or(0, |p| p.rejected_data_points),
        message: partial.map(|p| sanitize(&p.error_message)).filter(|m| !m.is_empty()),
        attempts,
    }
}

/// The first bytes of an error body, made printable.
fn quote_body(resp: ureq::Response) -> String {
    let mut body = Vec::new();
    let _ = resp.into_reader().take(64 << 10).read_to_end(&mut body);
    sanitize(&String::from_utf8_lossy(&body))
}

/// Collapses white space and control characters and shortens to
/// [`MAX_QUOTE`] characters, so a server's answer cannot mess up a log.
fn sanitize(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().map(|c| if c.is_control() || c.is_whitespace() { ' ' } else { c }) {
        if c == ' ' && out.ends_with(' ') {
            continue;
        }
        if out.chars().count() >= MAX_QUOTE {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out.trim().to_string()
}

/// How long to wait before the next attempt, or `None` when the budget
/// does not allow one. Exponential backoff from 500 ms with jitter, or the
/// server's `Retry-After`.
fn next_wait(
    started: Instant,
    budget: Duration,
    attempts: u32,
    retry_after: Option<Duration>,
) -> Option<Duration> {
    let backoff = Duration::from_millis(500u64.saturating_mul(1 << attempts.min(6)) / 2);
    let jitter =
        Duration::from_millis(crate::hash::SplitMix64(crate::time::now_unix_nano()).below(250));
    let wait = retry_after.unwrap_or(backoff + jitter);
    let elapsed = started.elapsed();
    if elapsed + wait >= budget {
        return None;
    }
    Some(wait)
}

/// Parses `Retry-After`: delay-seconds or an HTTP-date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// Reads a token file's content: a leading BOM, NUL bytes and surrounding
/// white space are removed.
pub fn sanitize_token(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let s = s.strip_prefix('\u{feff}').unwrap_or(&s);
    s.replace('\0', "").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn only_the_spec_statuses_are_retried() {
        for s in [429, 502, 503, 504] {
            assert!(retryable(s));
        }
        for s in [400, 401, 403, 404, 413, 500, 501] {
            assert!(!retryable(s));
        }
    }

    #[test]
    fn tokens_are_sanitised() {
        assert_eq!(sanitize_token(b"\xef\xbb\xbf tok\0en \r\n"), "token");
        assert_eq!(sanitize_token(b"\t\x0bx\x0c"), "x");
    }

    #[test]
    fn a_retry_after_past_the_budget_gives_up() {
        let start = Instant::now();
        assert_eq!(
            next_wait(start, Duration::from_secs(5), 1, Some(Duration::from_secs(60))),
            None
        );
        assert_eq!(
            next_wait(start, Duration::from_secs(5), 1, Some(Duration::from_secs(1))),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn quoted_bodies_are_short_and_printable() {
        let s = sanitize(&format!("a\n\u{1b}[31mb{}", "x".repeat(500)));
        assert!(s.starts_with("a [31mb"));
        assert!(s.chars().count() <= MAX_QUOTE + 1);
    }
}
