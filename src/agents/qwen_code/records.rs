//! How Qwen Code's chat records count. Each line is one record: `{uuid,
//! parentUuid, sessionId, timestamp, type, message: {role, parts}, model,
//! usageMetadata, toolCallResult}` with `type` one of `user`, `assistant`,
//! `tool_result`, `system`. A `user` record is a prompt; an `assistant`
//! record with `usageMetadata` is a model turn, and each `functionCall`
//! part a tool call; a `tool_result` whose `toolCallResult.status` is
//! `error` is a tool error. Every record counts once by its `uuid`. The
//! file is one session.
//!
//! Tokens are Gemini's: `promptTokenCount` includes the cached input
//! (`cachedContentTokenCount`), which is taken out of `input`;
//! `candidatesTokenCount` is output and `thoughtsTokenCount` reasoning.

use serde_json::Value;

use crate::agents::usage::{object, text, uint, Recorder, Usage};
use crate::classify::models;
use crate::metrics::{ErrorType, LineResult, Outcome};

/// A Gemini `usageMetadata` as the contract's types.
pub fn usage(u: &Value) -> Usage {
    let prompt = uint(u.get("promptTokenCount"));
    let cached = uint(u.get("cachedContentTokenCount")).min(prompt);
    Usage {
        input: prompt - cached,
        cache_read: cached,
        output: uint(u.get("candidatesTokenCount")),
        reasoning: uint(u.get("thoughtsTokenCount")),
        cache_write: 0,
    }
    .with_total(uint(u.get("totalTokenCount")))
}

/// Counts one line.
pub fn line(line: &[u8], rec: &mut Recorder<'_>) -> LineResult {
    let m = match object(line) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let id = text(m.get("uuid"));
    let kind = text(m.get("type"));
    rec.at(m.get("timestamp"));
    if matches!(kind, Some("user" | "assistant" | "tool_result" | "system")) {
        match text(m.get("sessionId")) {
            Some(session) => rec.session(session),
            None => rec.session_start(),
        }
    }
    match kind {
        Some("user") => rec.prompt(id),
        Some("assistant") => {
            let parts = m.get("message").and_then(|x| x.get("parts")).and_then(Value::as_array);
            for (i, p) in parts.into_iter().flatten().enumerate() {
                if let Some(call) = p.get("functionCall") {
                    let key = text(call.get("id"))
                        .map(str::to_string)
                        .or_else(|| id.map(|u| format!("{u}:{i}")));
                    rec.tool(key.as_deref(), text(call.get("name")).unwrap_or(""));
                }
            }
            if let Some(u) = m.get("usageMetadata").filter(|u| u.is_object()) {
                let model = models::classify(None, text(m.get("model")));
                rec.turn(id, model, usage(u), Outcome::Success);
            }
        }
        Some("tool_result") => {
            let status = m.get("toolCallResult").and_then(|r| text(r.get("status")));
            if status == Some("error") {
                rec.error(id, ErrorType::Tool);
            }
        }
        Some("system") => {}
        _ => return LineResult::Ignored,
    }
    LineResult::Parsed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Counts, Pack, SessionType};
    use crate::state::claims::{resolve, Claims, Seen};

    #[test]
    fn cached_input_is_taken_out_and_a_copied_record_counts_once() {
        let u =
            usage(&serde_json::json!({"promptTokenCount": 1000, "cachedContentTokenCount": 800,
            "candidatesTokenCount": 50, "thoughtsTokenCount": 20, "totalTokenCount": 1070}));
        assert_eq!((u.input, u.cache_read, u.output, u.reasoning), (200, 800, 50, 20));
        let (mut st, mut counts, mut claims) =
            (Default::default(), Counts::default(), Claims::default());
        let mut rec =
            Recorder::new(Pack::QwenCode, SessionType::Main, &mut st, &mut counts, &mut claims);
        let a = br#"{"uuid":"a1","type":"assistant","model":"qwen3-coder-plus","usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5},"message":{"role":"model","parts":[{"functionCall":{"id":"c1","name":"read_file"}}]}}"#;
        assert_eq!(line(a, &mut rec), LineResult::Parsed);
        assert_eq!(line(a, &mut rec), LineResult::Parsed);
        assert_eq!(line(b"{not json", &mut rec), LineResult::Malformed);
        resolve(&claims, &mut Seen::default(), &mut counts, 1);
        let turns: u64 = counts
            .iter()
            .filter(|(s, _)| matches!(s, crate::metrics::Series::AgentTurn { .. }))
            .map(|(_, n)| n)
            .sum();
        let tools: u64 = counts
            .iter()
            .filter(|(s, _)| matches!(s, crate::metrics::Series::ToolCall { .. }))
            .map(|(_, n)| n)
            .sum();
        assert_eq!((turns, tools), (1, 1));
    }
}
