//! How a Codebuff chat counts. `chat-messages.json` is an array of
//! messages (`{id, variant, content, metadata: {model, usage}, credits,
//! timestamp}`): a `user` message is a prompt; an `ai`/`agent`/`assistant`
//! message with usage (in `metadata.usage`, else `metadata.codebuff.usage`;
//! keys in camelCase or snake_case, `promptTokens`/`completionTokens` as
//! well) one model turn. An assistant message without usage yet as the
//! chat's last message is still being written: it counts once complete.
//! Records count once by their `id`, or by their position in the chat.

use serde_json::{Map, Value};

use crate::agents::usage::{text, uint, Recorder, Usage};
use crate::classify::models;
use crate::metrics::Outcome;

/// The first non-zero of several keys.
fn pick(u: &Map<String, Value>, keys: &[&str]) -> u64 {
    keys.iter().map(|k| uint(u.get(*k))).find(|n| *n > 0).unwrap_or(0)
}

/// A usage object as the contract's types.
pub fn usage(u: &Map<String, Value>) -> Usage {
    let cached = pick(u, &["cacheReadInputTokens", "cache_read_input_tokens"])
        .max(uint(u.get("promptTokensDetails").and_then(|d| d.get("cachedTokens"))))
        .max(uint(u.get("prompt_tokens_details").and_then(|d| d.get("cached_tokens"))));
    Usage {
        input: pick(u, &["inputTokens", "input_tokens", "promptTokens", "prompt_tokens"]),
        output: pick(
            u,
            &["outputTokens", "output_tokens", "completionTokens", "completion_tokens"],
        ),
        cache_read: cached,
        cache_write: pick(
            u,
            &[
                "cacheCreationInputTokens",
                "cache_creation_input_tokens",
                "cacheCreationTokens",
                "cache_creation_tokens",
            ],
        ),
        reasoning: 0,
    }
    .with_total(pick(u, &["totalTokens", "total_tokens", "total"]))
}

/// Counts a chat.
pub fn chat(bytes: &[u8], rec: &mut Recorder<'_>) -> Result<(), String> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("not JSON ({e}; Codebuff may be writing it)"))?;
    let Some(messages) = v.as_array() else { return Ok(()) };
    let scope = rec.scope.clone();
    rec.session(&scope);
    for (i, m) in messages.iter().enumerate() {
        let Some(m) = m.as_object() else { continue };
        rec.at(m.get("timestamp"));
        let id = text(m.get("id")).map_or_else(|| format!("{scope}#{i}"), str::to_string);
        let variant = text(m.get("variant")).or_else(|| text(m.get("role")));
        match variant {
            Some("user") => rec.prompt(Some(&id)),
            Some("ai" | "agent" | "assistant") => {
                let meta = m.get("metadata").and_then(Value::as_object);
                let found = meta.and_then(|md| {
                    md.get("usage").and_then(Value::as_object).or_else(|| {
                        md.get("codebuff").and_then(|c| c.get("usage")).and_then(Value::as_object)
                    })
                });
                let Some(u) = found.map(usage).filter(|u| !u.is_zero()) else {
                    if i + 1 == messages.len() {
                        rec.pending();
                    }
                    continue;
                };
                let name = meta
                    .and_then(|md| text(md.get("model")))
                    .or_else(|| found.and_then(|u| text(u.get("model"))));
                rec.turn(Some(&id), models::classify(None, name), u, Outcome::Success);
            }
            _ => {}
        }
    }
    Ok(())
}
