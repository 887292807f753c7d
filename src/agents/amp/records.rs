//! How an Amp thread counts. A thread is `{id, messages: [{role,
//! messageId, content: [blocks], usage, state}], usageLedger: {events}}`.
//! A user message with text is a prompt; a `tool_result` block marked as
//! an error a tool error. An assistant message's `tool_use` blocks are tool
//! calls, and the message one model turn with its `usage` (`inputTokens`,
//! `cacheCreationInputTokens`, `cacheReadInputTokens`, `outputTokens`,
//! `totalTokens`), counted once complete: one still streaming (its `state`
//! not yet `complete`, or without usage as the thread's last message) is
//! counted when a later rewrite completes it. Threads that keep a
//! `usageLedger` (older Amp) count their tokens from its events (the cache
//! split from the message each event points at), as ccusage does. Every
//! record counts once by the thread id and its message or event id.

use serde_json::Value;

use crate::agents::usage::{text, uint, Recorder, Usage};
use crate::classify::models;
use crate::metrics::{ErrorType, Outcome};

/// A message's usage as the contract's types.
fn usage(u: &Value) -> Usage {
    Usage {
        input: uint(u.get("inputTokens")),
        cache_write: uint(u.get("cacheCreationInputTokens")),
        cache_read: uint(u.get("cacheReadInputTokens")),
        output: uint(u.get("outputTokens")),
        reasoning: 0,
    }
    .with_total(uint(u.get("totalTokens")))
}

/// A message's id as text.
fn message_id(m: &Value) -> Option<String> {
    match m.get("messageId") {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Counts a thread.
pub fn thread(bytes: &[u8], rec: &mut Recorder<'_>) -> Result<(), String> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("not JSON ({e}; Amp may be writing it)"))?;
    let Some(thread) = text(v.get("id")).map(str::to_string) else { return Ok(()) };
    let messages = v.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let ledger = v.pointer("/usageLedger/events").and_then(Value::as_array);
    rec.at(v.get("created"));
    rec.session(&thread);
    for (i, m) in messages.iter().enumerate() {
        rec.at(m.pointer("/meta/sentAt"));
        let id = format!("{thread}:{}", message_id(m).unwrap_or_else(|| format!("#{i}")));
        let blocks = m.get("content").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        match text(m.get("role")) {
            Some("user") => {
                let typed = |t: &str| blocks.iter().any(|b| text(b.get("type")) == Some(t));
                if typed("text") || m.get("content").is_some_and(Value::is_string) {
                    rec.prompt(Some(&id));
                }
                for b in blocks.iter().filter(|b| text(b.get("type")) == Some("tool_result")) {
                    let failed = b.get("is_error").and_then(Value::as_bool).unwrap_or(false)
                        || text(b.pointer("/run/status")) == Some("error");
                    if failed {
                        let tid = text(b.get("toolUseID")).or_else(|| text(b.get("tool_use_id")));
                        rec.error(tid.map(|t| format!("{thread}:{t}")).as_deref(), ErrorType::Tool);
                    }
                }
            }
            Some("assistant") => {
                let state = text(m.pointer("/state/type"));
                let last = i + 1 == messages.len();
                let u = m.get("usage").filter(|u| u.is_object());
                if matches!(state, Some("streaming")) || (state.is_none() && u.is_none() && last) {
                    rec.pending();
                    continue;
                }
                for b in blocks.iter().filter(|b| text(b.get("type")) == Some("tool_use")) {
                    let tid = text(b.get("id")).map(|t| format!("{thread}:{t}"));
                    rec.tool(tid.as_deref(), text(b.get("name")).unwrap_or(""));
                }
                if ledger.is_some() {
                    continue;
                }
                let Some(u) = u else { continue };
                let model =
                    models::classify(None, text(u.get("model")).or_else(|| text(m.get("model"))));
                let outcome = match state {
                    Some("cancelled") => Outcome::Aborted,
                    Some("error") => Outcome::Error,
                    _ => Outcome::Success,
                };
                rec.turn(Some(&id), model, usage(u), outcome);
            }
            _ => {}
        }
    }
    for e in ledger.into_iter().flatten() {
        let Some(eid) = text(e.get("id")) else { continue };
        rec.at(e.get("timestamp"));
        let t = e.get("tokens");
        let to = e.get("toMessageId").map(|x| x.to_string());
        let cache = messages
            .iter()
            .find(|m| m.get("messageId").map(|x| x.to_string()) == to && to.is_some())
            .and_then(|m| m.get("usage"));
        let u = Usage {
            input: uint(t.and_then(|t| t.get("input"))),
            output: uint(t.and_then(|t| t.get("output"))),
            cache_write: uint(cache.and_then(|c| c.get("cacheCreationInputTokens"))),
            cache_read: uint(cache.and_then(|c| c.get("cacheReadInputTokens"))),
            reasoning: 0,
        }
        .with_total(uint(t.and_then(|t| t.get("total"))));
        let model = models::classify(None, text(e.get("model")));
        rec.turn(Some(&format!("{thread}:event:{eid}")), model, u, Outcome::Success);
    }
    Ok(())
}
