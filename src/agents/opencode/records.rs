//! How opencode's (and Kilo's) messages and parts count.
//!
//! A message is `{id, sessionID, role, time: {created, completed}, modelID,
//! providerID, tokens: {input, output, reasoning, cache: {read, write},
//! total}, error}`. A user message is a prompt. An assistant message is
//! one model turn, counted once complete (`time.completed` set, or an
//! `error`): while it streams its row is rewritten with growing tokens. A
//! part of type `tool` is one tool call, counted once its `state.status`
//! is `completed` or `error`. A session row is a session start
//! (`subagent` when it has a `parent_id`: a `task` tool's child session).
//! Every record counts once by its id, so a message both in the database
//! and in a legacy file counts once.

use crate::pricing::Cost;
use std::collections::HashSet;

use serde_json::Value;

use crate::agents::usage::{text, uint, Recorder, Usage};
use crate::classify::{errors, models};
use crate::metrics::{ErrorType, LineResult, Outcome, SessionType};
use crate::pipeline::stores::StoreCtx;
use crate::sources::sqlite;

/// Counts one message; false while it is still being written.
pub fn message(v: &Value, row_id: Option<&str>, rec: &mut Recorder<'_>) -> bool {
    let id = text(v.get("id")).or(row_id);
    rec.at(v.pointer("/time/created"));
    match text(v.get("role")) {
        Some("user") => {
            rec.prompt(id);
            true
        }
        Some("assistant") => {
            let error = v.get("error").filter(|e| !e.is_null());
            let done = v.pointer("/time/completed").is_some_and(|t| !t.is_null());
            if !done && error.is_none() {
                rec.pending();
                return false;
            }
            let t = v.get("tokens");
            let get = |p: &str| uint(t.and_then(|t| t.pointer(p)));
            let usage = Usage {
                input: get("/input"),
                output: get("/output"),
                reasoning: get("/reasoning"),
                cache_read: get("/cache/read"),
                cache_write: get("/cache/write"),
            }
            .with_total(get("/total"));
            let model = models::classify(text(v.get("providerID")), text(v.get("modelID")));
            let failure = error.map(error_type);
            let outcome = match failure {
                None => Outcome::Success,
                Some(ErrorType::Aborted) => Outcome::Aborted,
                Some(_) => Outcome::Error,
            };
            // The cost opencode recorded wins (0 when it did not price).
            let cost = v.get("cost").and_then(Value::as_f64).unwrap_or(0.0);
            rec.turn_costing(id, model, usage, outcome, Cost::Recorded(cost));
            if let Some(t) = failure.filter(|t| *t != ErrorType::Aborted) {
                rec.error(id, t);
            }
            true
        }
        _ => true,
    }
}

/// The type of a message's `error` (`{name, data: {statusCode, message}}`).
fn error_type(e: &Value) -> ErrorType {
    if let Some(status) = e.pointer("/data/statusCode").and_then(Value::as_u64) {
        return errors::from_status(status);
    }
    match text(e.get("name")) {
        Some("MessageAbortedError") => ErrorType::Aborted,
        Some("ProviderAuthError") => ErrorType::Auth,
        Some("MessageOutputLengthError") => ErrorType::Permanent,
        _ => text(e.pointer("/data/message")).map_or(ErrorType::Unknown, errors::from_text),
    }
}

/// Counts one part; false while a tool call is still running.
pub fn part(v: &Value, row_id: Option<&str>, rec: &mut Recorder<'_>) -> bool {
    if text(v.get("type")) != Some("tool") {
        return true;
    }
    let id = text(v.get("id")).or(row_id);
    rec.at(v.pointer("/state/time/start").or_else(|| v.pointer("/time/start")));
    match text(v.pointer("/state/status")) {
        Some("completed") => rec.tool(id, text(v.get("tool")).unwrap_or("")),
        Some("error") => {
            rec.tool(id, text(v.get("tool")).unwrap_or(""));
            rec.error(id, ErrorType::Tool);
        }
        _ => {
            rec.pending();
            return false;
        }
    }
    true
}

/// A legacy message file, `storage/message/<session>/msg_*.json`.
pub fn message_file(bytes: &[u8], rec: &mut Recorder<'_>) -> Result<(), String> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("not a JSON message ({e}; opencode may be writing it)"))?;
    if let Some(session) = text(v.get("sessionID")) {
        rec.session_start_once(session, SessionType::Main);
    }
    message(&v, None, rec);
    Ok(())
}

/// Reads an opencode or Kilo database: the `session`, `message` and
/// `part` tables, each from its own cursor
/// ([`sqlite::rows_from`]: rows are completed in place).
pub fn read_database(ctx: &StoreCtx<'_>) -> rusqlite::Result<()> {
    let conn = ctx.conn;
    let mut present = HashSet::new();
    // Child sessions (a `task` tool's): their turns are a subagent's.
    let children: HashSet<String> = if sqlite::columns(conn, "session")?.contains("parent_id") {
        let mut stmt =
            conn.prepare("SELECT id FROM session WHERE parent_id IS NOT NULL AND parent_id != ''")?;
        let ids = stmt.query_map([], |r| r.get::<_, String>(0))?;
        ids.collect::<rusqlite::Result<_>>()?
    } else {
        HashSet::new()
    };
    for table in ["session", "message", "part"] {
        let cols = sqlite::columns(conn, table)?;
        if !cols.contains("id") {
            continue;
        }
        let col = |c: &'static str| if cols.contains(c) { c } else { "NULL" };
        let skey = if table == "session" {
            let columns = format!("id, {}", col("parent_id"));
            ctx.read_table(table, "rowid", &columns, |r, rec| {
                let id: String = r.get(1)?;
                let parent: Option<String> = r.get(2)?;
                let t = if parent.is_some_and(|p| !p.is_empty()) {
                    SessionType::Subagent
                } else {
                    SessionType::Main
                };
                rec.session_start_once(&id, t);
                Ok((true, LineResult::Parsed))
            })?
        } else {
            let columns = format!("id, {}, {}", col("session_id"), col("data"));
            ctx.read_table(table, "rowid", &columns, |r, rec| {
                let id: Option<String> = r.get(1)?;
                let session: Option<String> = r.get(2)?;
                let data: Option<String> = r.get(3)?;
                let Some(v) = data.and_then(|d| serde_json::from_str::<Value>(&d).ok()) else {
                    return Ok((true, LineResult::Malformed));
                };
                rec.session_type = match session {
                    Some(s) if children.contains(&s) => SessionType::Subagent,
                    _ => SessionType::Main,
                };
                let complete = if table == "message" {
                    message(&v, id.as_deref(), rec)
                } else {
                    part(&v, id.as_deref(), rec)
                };
                Ok((complete, LineResult::Parsed))
            })?
        };
        present.insert(skey);
    }
    ctx.present(&present);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Counts, Pack, Series, TokenType};
    use crate::state::claims::{resolve, Seen};

    fn count(values: &[&str]) -> Counts {
        let (mut st, mut counts, mut claims) = Default::default();
        let mut rec =
            Recorder::new(Pack::Opencode, SessionType::Main, &mut st, &mut counts, &mut claims);
        for v in values {
            message(&serde_json::from_str(v).unwrap(), None, &mut rec);
        }
        resolve(&claims, &mut Seen::default(), &mut counts, 1);
        counts
    }

    #[test]
    fn an_assistant_message_counts_once_complete_with_every_token_type() {
        let streaming = r#"{"id":"m1","role":"assistant","providerID":"anthropic","modelID":"claude-sonnet-4-5","time":{"created":1},"tokens":{"input":5,"output":1,"reasoning":0,"cache":{"read":0,"write":0}}}"#;
        let done = r#"{"id":"m1","role":"assistant","providerID":"anthropic","modelID":"claude-sonnet-4-5","time":{"created":1,"completed":2},"tokens":{"input":10,"output":20,"reasoning":5,"cache":{"read":100,"write":50}}}"#;
        let c = count(&[streaming, done, done]);
        let tok = |t| {
            c.iter()
                .filter(
                    |(s, _)| matches!(s, Series::TokenUsage { token_type, .. } if *token_type == t),
                )
                .map(|(_, n)| n)
                .sum::<u64>()
        };
        assert_eq!(
            [
                TokenType::Input,
                TokenType::Output,
                TokenType::Reasoning,
                TokenType::CacheRead,
                TokenType::CacheWrite
            ]
            .map(tok),
            [10, 20, 5, 100, 50]
        );
        let turns: u64 =
            c.iter().filter(|(s, _)| matches!(s, Series::AgentTurn { .. })).map(|(_, n)| n).sum();
        assert_eq!(turns, 1);
    }

    #[test]
    fn an_aborted_message_is_an_aborted_turn_and_an_api_error_an_error() {
        let aborted = r#"{"id":"a","role":"assistant","time":{"created":1},"error":{"name":"MessageAbortedError"},"tokens":{"input":1,"output":0,"cache":{"read":0,"write":0}}}"#;
        let quota = r#"{"id":"q","role":"assistant","time":{"created":1},"error":{"name":"APIError","data":{"statusCode":429}},"tokens":{"input":0,"output":0,"cache":{"read":0,"write":0}}}"#;
        let c = count(&[aborted, quota]);
        let outcome = |o| {
            c.iter()
                .filter(|(s, _)| matches!(s, Series::AgentTurn { outcome, .. } if *outcome == o))
                .count()
        };
        assert_eq!((outcome(Outcome::Aborted), outcome(Outcome::Error)), (1, 1));
        assert_eq!(c.get(&Series::Error { pack: Pack::Opencode, error_type: ErrorType::Quota }), 1);
    }
}
