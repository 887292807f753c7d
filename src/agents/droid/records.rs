//! How a Droid session's `settings.json` counts: Droid rewrites it with the
//! session's running `tokenUsage` (`inputTokens`, `outputTokens`,
//! `cacheCreationTokens`, `cacheReadTokens`, `thinkingTokens`), its
//! `model` and `providerLock`. What counts is how far each total grew
//! since last read (a lower total, an older copy restored, counts
//! nothing); the file's first read is a session start. Droid keeps no
//! per-call records here, so it feeds no turns.

use serde_json::Value;

use crate::agents::usage::{text, uint, Recorder, Usage};
use crate::classify::models;

/// A model id as Droid writes it (`custom:Claude-Opus-4.5-[Proxy]`) in the
/// providers' form (`claude-opus-4-5`, `gpt-5.1-codex`).
pub fn model_name(raw: &str) -> String {
    let raw = raw.strip_prefix("custom:").unwrap_or(raw);
    let mut depth = 0u32;
    let mut out = String::new();
    for c in raw.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => {
                let c = if c.is_whitespace() { '-' } else { c.to_ascii_lowercase() };
                if !(c == '-' && out.ends_with('-')) {
                    out.push(c);
                }
            }
            _ => {}
        }
    }
    let out = out.trim_matches('-');
    // Claude's versions are dashed in its ids (`claude-opus-4-5`).
    if out.starts_with("claude") {
        out.replace('.', "-")
    } else {
        out.to_string()
    }
}

/// Counts a settings file.
pub fn settings(bytes: &[u8], rec: &mut Recorder<'_>) -> Result<(), String> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("not JSON ({e}; Droid may be writing it)"))?;
    let Some(t) = v.get("tokenUsage").filter(|t| t.is_object()) else { return Ok(()) };
    let now = Usage {
        input: uint(t.get("inputTokens")),
        output: uint(t.get("outputTokens")),
        cache_write: uint(t.get("cacheCreationTokens")),
        cache_read: uint(t.get("cacheReadTokens")),
        reasoning: uint(t.get("thinkingTokens")),
    }
    .with_total(uint(t.get("totalTokens")));
    if now.is_zero() {
        return Ok(());
    }
    rec.at(v.get("providerLockTimestamp"));
    let name = text(v.get("model")).map(model_name);
    let model = models::classify(text(v.get("providerLock")), name.as_deref());
    // The session is the file's name (`<session>.settings.json`).
    let session = rec.scope.rsplit('/').next().unwrap_or("").to_string();
    rec.session(&session);
    rec.running_totals(model, &now);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn droid_model_ids_are_normalised() {
        assert_eq!(model_name("custom:Claude-Opus-4.5-[Proxy]"), "claude-opus-4-5");
        assert_eq!(model_name("gpt-5.1-codex"), "gpt-5.1-codex");
    }
}
