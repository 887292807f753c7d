//! Error types.
//!
//! Classification reads metadata only: an HTTP status, an error kind or
//! record type name, or the short status line an SDK writes as a failed
//! call's error message (pi's `errorMessage`). That message is an error
//! from the provider, not prompt or response text; it is searched for a few
//! fixed markers and never stored or sent.

use crate::metrics::ErrorType;

/// Classifies an HTTP status code.
pub fn from_status(status: u64) -> ErrorType {
    match status {
        429 => ErrorType::Quota,
        401 | 403 => ErrorType::Auth,
        408 | 500..=599 => ErrorType::Transient,
        400 | 413 | 422 => ErrorType::Prompt,
        404 => ErrorType::Config,
        _ => ErrorType::Unknown,
    }
}

/// Classifies an error kind or message by fixed markers: rate limits and
/// quotas, authentication, overload / server errors / timeouts, aborts.
pub fn from_text(text: &str) -> ErrorType {
    let t = text.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| t.contains(n));
    if has(&[
        "rate limit",
        "rate_limit",
        "ratelimit",
        "rate-limit",
        "429",
        "quota",
        "too many requests",
        "usage limit",
        "usage_limit",
        "resource_exhausted",
        "insufficient_quota",
    ]) {
        ErrorType::Quota
    } else if has(&[
        "401",
        "403",
        "unauthorized",
        "forbidden",
        "authentication",
        "auth_error",
        "auth-error",
        "authfailure",
        "auth_failure",
        "invalid api key",
        "invalid_api_key",
        "permission_denied",
    ]) {
        ErrorType::Auth
    } else if has(&[
        "overloaded",
        "529",
        "500",
        "502",
        "503",
        "504",
        "server_error",
        "server error",
        "internal error",
        "unavailable",
        "timeout",
        "timed out",
        "econnreset",
        "connection_failed",
        "stream_disconnected",
        "socket hang up",
        "network",
    ]) {
        ErrorType::Transient
    } else if has(&["abort", "cancelled", "canceled"]) {
        ErrorType::Aborted
    } else if has(&[
        "context length",
        "context_length",
        "prompt is too long",
        "too many tokens",
        "context_window",
        "invalid_request",
    ]) {
        ErrorType::Prompt
    } else {
        ErrorType::Unknown
    }
}

/// Classifies a record type name that says it is an error, such as
/// OpenClaw's `openclaw:prompt-error`.
pub fn from_record_type(name: &str) -> ErrorType {
    let t = name.to_ascii_lowercase();
    if t.contains("prompt") {
        ErrorType::Prompt
    } else if t.contains("config") {
        ErrorType::Config
    } else {
        from_text(&t)
    }
}

/// True when a record type name says the record is an error.
pub fn names_an_error(name: &str) -> bool {
    name.to_ascii_lowercase().contains("error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(from_status(429), ErrorType::Quota);
        assert_eq!(from_status(401), ErrorType::Auth);
        assert_eq!(from_status(529), ErrorType::Transient);
        assert_eq!(from_status(418), ErrorType::Unknown);
    }

    #[test]
    fn texts() {
        assert_eq!(from_text("429 rate_limit_error: slow down"), ErrorType::Quota);
        assert_eq!(from_text("401 authentication_error"), ErrorType::Auth);
        assert_eq!(from_text("Overloaded"), ErrorType::Transient);
        assert_eq!(from_text("Request timed out."), ErrorType::Transient);
        assert_eq!(from_text("something odd"), ErrorType::Unknown);
        // Codex's `codex_error_info` kinds.
        assert_eq!(from_text("usage_limit_exceeded"), ErrorType::Quota);
        assert_eq!(from_text("http_connection_failed"), ErrorType::Transient);
        assert_eq!(from_text("context_window_exceeded"), ErrorType::Prompt);
    }

    #[test]
    fn generation_is_not_a_rate_limit() {
        // The Go predecessor matched "rate" inside "generation".
        assert_eq!(from_record_type("image-generation-error"), ErrorType::Unknown);
    }

    #[test]
    fn record_types() {
        assert_eq!(from_record_type("openclaw:prompt-error"), ErrorType::Prompt);
        assert_eq!(from_record_type("x:auth-error"), ErrorType::Auth);
        assert!(names_an_error("openclaw:prompt-error"));
        assert!(!names_an_error("model-snapshot"));
    }
}
