//! How Copilot CLI's OpenTelemetry records count. Each line is one
//! exported span (`{traceId, spanId, name, attributes, status}`) or log
//! record. A `chat` span (`gen_ai.operation.name`, or a name starting
//! `chat `) is one model turn with its usage
//! (`gen_ai.usage.input_tokens`, of which
//! `gen_ai.usage.cache_read.input_tokens` were cached; `…cache_write…`,
//! `gen_ai.usage.output_tokens`, of which
//! `gen_ai.usage.reasoning.output_tokens` were reasoning),
//! an error when its status code is 2. An `execute_tool` span is a tool
//! call (`gen_ai.tool.name`). Both count once by `traceId:spanId`. A
//! conversation id (`gen_ai.conversation.id`) seen for the first time is
//! a session start. The `invoke_agent` span repeats its chat spans' usage
//! and the inference log records repeat a chat span's, so neither counts
//! tokens (ccusage counts them only for a trace without chat spans).

use serde_json::{Map, Value};

use crate::agents::usage::{object, text, uint, Recorder, Usage};
use crate::classify::{errors, models};
use crate::metrics::{ErrorType, LineResult, Outcome};

/// A chat span's usage as the contract's types.
pub fn usage(a: &Map<String, Value>) -> Usage {
    let n = |k: &str| uint(a.get(k));
    let first = |ks: &[&str]| ks.iter().map(|k| n(k)).find(|v| *v > 0).unwrap_or(0);
    let input = n("gen_ai.usage.input_tokens");
    let cache_read = n("gen_ai.usage.cache_read.input_tokens").min(input);
    // Output includes the reasoning (OpenAI's completion tokens do).
    let output = n("gen_ai.usage.output_tokens");
    let reasoning =
        first(&["gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens"])
            .min(output);
    Usage {
        input: input - cache_read,
        cache_read,
        cache_write: first(&[
            "gen_ai.usage.cache_write.input_tokens",
            "gen_ai.usage.cache_creation.input_tokens",
        ]),
        output: output - reasoning,
        reasoning,
    }
    .with_total(first(&["gen_ai.usage.total_tokens", "gen_ai.usage.total.token_count"]))
}

/// Counts one line.
pub fn line(line: &[u8], rec: &mut Recorder<'_>) -> LineResult {
    let m = match object(line) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let Some(a) = m.get("attributes").and_then(Value::as_object) else {
        return LineResult::Ignored;
    };
    rec.at(m
        .get("startTime")
        .or_else(|| m.get("startTimeUnixNano"))
        .or_else(|| m.get("timestamp")));
    let name = text(m.get("name")).unwrap_or("");
    let op = text(a.get("gen_ai.operation.name"));
    let span = m.get("spanId").is_some() || m.get("spanContext").is_some();
    let id_of =
        |k: &str| text(m.get(k)).or_else(|| m.get("spanContext").and_then(|c| text(c.get(k))));
    let key = match (id_of("traceId"), id_of("spanId")) {
        (Some(t), Some(s)) => Some(format!("{t}:{s}")),
        _ => None,
    };
    if let Some(conv) = ["gen_ai.conversation.id", "session.id", "copilot_chat.session_id"]
        .iter()
        .find_map(|k| text(a.get(*k)))
    {
        rec.session(conv);
    }
    let failed = m.get("status").and_then(|s| s.get("code")).and_then(Value::as_u64) == Some(2);
    let error_type = || {
        text(a.get("error.type"))
            .or_else(|| m.get("status").and_then(|s| s.get("message")).and_then(Value::as_str))
            .map_or(ErrorType::Unknown, errors::from_text)
    };
    if span && (op == Some("chat") || name.starts_with("chat ")) {
        let model = models::classify(
            text(a.get("gen_ai.provider.name")).or_else(|| text(a.get("gen_ai.system"))),
            text(a.get("gen_ai.response.model")).or_else(|| text(a.get("gen_ai.request.model"))),
        );
        let outcome = if failed { Outcome::Error } else { Outcome::Success };
        rec.turn(key.as_deref(), model, usage(a), outcome);
        if failed {
            rec.error(key.as_deref(), error_type());
        }
    } else if span && (op == Some("execute_tool") || name.starts_with("execute_tool ")) {
        let tool = text(a.get("gen_ai.tool.name"))
            .or_else(|| name.strip_prefix("execute_tool "))
            .unwrap_or("");
        rec.tool(key.as_deref(), tool);
        if failed {
            rec.error(key.as_deref(), ErrorType::Tool);
        }
    }
    LineResult::Parsed
}
