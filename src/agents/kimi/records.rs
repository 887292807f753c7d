//! How Kimi CLI's wire log counts. Each line is `{timestamp, message:
//! {type, payload}}` (the first a `metadata` record): `TurnBegin` is a
//! user prompt, `StatusUpdate` with `token_usage` the end of one model
//! step (its usage: `input_other`, `input_cache_read`,
//! `input_cache_creation`, `output`), `ToolCall` a tool call (by
//! `function.name`), a `ToolResult` whose `return_value.is_error` is set a
//! tool error. Steps count once by `message_id`, tool calls by their id.
//! The log does not name the model: it is Kimi's default,
//! `kimi-for-coding` (Moonshot), as ccusage reads it.

use serde_json::Value;

use crate::agents::usage::{mentions_any, object, text, uint, Recorder, Usage};
use crate::classify::models;
use crate::metrics::{ErrorType, LineResult, Outcome};

/// A `token_usage` as the contract's types.
pub fn usage(t: &Value) -> Usage {
    Usage {
        input: uint(t.get("input_other")),
        cache_read: uint(t.get("input_cache_read")),
        cache_write: uint(t.get("input_cache_creation")),
        output: uint(t.get("output")),
        reasoning: 0,
    }
    .with_total(uint(t.get("total")))
}

/// The message types that count; a line naming none of them (streamed
/// content parts, the bulk of a wire log) is not parsed.
const COUNTED: [&str; 5] =
    ["\"TurnBegin\"", "\"StatusUpdate\"", "\"ToolCall\"", "\"ToolResult\"", "\"metadata\""];

/// Counts one line.
pub fn line(line: &[u8], rec: &mut Recorder<'_>) -> LineResult {
    if !mentions_any(line, &COUNTED) {
        return LineResult::Ignored;
    }
    let m = match object(line) {
        Ok(m) => m,
        Err(r) => return r,
    };
    rec.at(m.get("timestamp"));
    if text(m.get("type")) == Some("metadata") {
        rec.session_start();
        return LineResult::Parsed;
    }
    let Some(msg) = m.get("message") else { return LineResult::Ignored };
    let payload = msg.get("payload");
    let field = |k: &str| payload.and_then(|p| p.get(k));
    match text(msg.get("type")) {
        Some("TurnBegin") => {
            rec.session_start();
            rec.prompt(None);
        }
        Some("StatusUpdate") => {
            let Some(t) = field("token_usage").filter(|t| t.is_object()) else {
                return LineResult::Parsed;
            };
            let u = usage(t);
            if !u.is_zero() {
                rec.session_start();
                let model = models::classify(Some("moonshot"), Some("kimi-for-coding"));
                rec.turn(text(field("message_id")), model, u, Outcome::Success);
            }
        }
        Some("ToolCall") => {
            let name = field("function").and_then(|f| text(f.get("name"))).unwrap_or("");
            rec.tool(text(field("id")), name);
        }
        Some("ToolResult") => {
            let failed = field("return_value")
                .and_then(|r| r.get("is_error"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if failed {
                rec.error(text(field("tool_call_id")), ErrorType::Tool);
            }
        }
        Some(_) => {}
        None => return LineResult::Ignored,
    }
    LineResult::Parsed
}
