//! How Grok Build's session updates count. Each line is an ACP
//! `session/update` notification: `{params: {sessionId, update:
//! {sessionUpdate, …}, _meta: {eventId, agentTimestampMs}}}`. A
//! `turn_completed` update ends one prompt turn: it is a user prompt, and
//! each model of its `usage.modelUsage` (`inputTokens`, of which
//! `cachedReadTokens` and `cacheCreationTokens` were cached;
//! `outputTokens`, of which `reasoningTokens` were thinking) a model turn,
//! once by the event id. A `tool_call` is a tool call by its `kind`, once
//! by `toolCallId`; a `tool_call_update` with status `failed` a tool error.

use serde_json::{Map, Value};

use crate::agents::usage::{mentions_any, object, text, uint, Recorder, Usage};
use crate::classify::models;
use crate::metrics::{ErrorType, LineResult, Outcome};

/// One model's usage as the contract's types.
pub fn usage(u: &Map<String, Value>) -> Usage {
    let input = uint(u.get("inputTokens"));
    let cache_read = uint(u.get("cachedReadTokens")).min(input);
    let cache_write = uint(u.get("cacheCreationTokens")).min(input - cache_read);
    let output = uint(u.get("outputTokens"));
    let reasoning = uint(u.get("reasoningTokens")).min(output);
    Usage {
        input: input - cache_read - cache_write,
        cache_read,
        cache_write,
        output: output - reasoning,
        reasoning,
    }
}

/// The updates that count; a line naming neither (streamed message and
/// thought chunks, the bulk of a log) is not parsed.
const COUNTED: [&str; 2] = ["turn_completed", "tool_call"];

/// Counts one line.
pub fn line(line: &[u8], rec: &mut Recorder<'_>) -> LineResult {
    if !mentions_any(line, &COUNTED) {
        // The session starts with its first tool call or completed turn.
        return LineResult::Ignored;
    }
    let m = match object(line) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let Some(params) = m.get("params") else { return LineResult::Ignored };
    let Some(update) = params.get("update") else { return LineResult::Ignored };
    rec.at(params.pointer("/_meta/agentTimestampMs"));
    match text(params.get("sessionId")) {
        Some(session) => rec.session(session),
        None => rec.session_start(),
    }
    let event = params.pointer("/_meta/eventId").and_then(Value::as_str);
    match text(update.get("sessionUpdate")) {
        Some("turn_completed") => {
            rec.prompt(event);
            let Some(u) = update.get("usage").and_then(Value::as_object) else {
                return LineResult::Parsed;
            };
            let single;
            let per_model: Vec<(&str, &Map<String, Value>)> =
                match u.get("modelUsage").and_then(Value::as_object).filter(|m| !m.is_empty()) {
                    Some(models) => models
                        .iter()
                        .filter_map(|(k, v)| v.as_object().map(|o| (k.as_str(), o)))
                        .collect(),
                    None => {
                        single = u;
                        vec![("", single)]
                    }
                };
            for (name, mu) in per_model {
                let model = models::classify(Some("xai"), Some(name).filter(|n| !n.is_empty()));
                let key = event.map(|e| format!("{e}|{name}"));
                // Grok records the cost in ticks of 1e-10 USD; it wins.
                let cost = match mu.get("costUsdTicks").and_then(Value::as_f64) {
                    Some(ticks) => crate::pricing::Cost::Recorded(ticks / 1e10),
                    None => crate::pricing::Cost::CALL,
                };
                rec.turn_costing(key.as_deref(), model, usage(mu), Outcome::Success, cost);
            }
        }
        Some("tool_call") => {
            rec.tool(text(update.get("toolCallId")), text(update.get("kind")).unwrap_or("other"))
        }
        Some("tool_call_update") if text(update.get("status")) == Some("failed") => {
            rec.error(text(update.get("toolCallId")), ErrorType::Tool)
        }
        _ => {}
    }
    LineResult::Parsed
}
