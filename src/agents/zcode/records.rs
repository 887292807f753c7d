//! How ZCode's model calls count: `model_usage(id, session_id, model_id,
//! provider_id, status, started_at, input_tokens, output_tokens,
//! cache_creation_input_tokens, cache_read_input_tokens,
//! computed_total_tokens)`, one row per call, written when the call starts
//! and completed in place. A row counts once its `status` is final:
//! `completed` is a successful turn; `failed`/`error` an error,
//! `cancelled`/`aborted` an aborted one (their tokens were spent, so they
//! count too). `input_tokens` includes the cached input: the cache read and
//! written are taken out of it. A `session` row is a session start.

use std::collections::HashSet;

use crate::agents::usage::Usage;
use crate::classify::models;
use crate::metrics::{LineResult, Outcome, SessionType};
use crate::pipeline::stores::StoreCtx;
use crate::sources::sqlite;

/// A call's outcome from its status; `None` while it runs.
pub fn outcome(status: Option<&str>) -> Option<Outcome> {
    let s = status.map(str::to_ascii_lowercase)?;
    match s.as_str() {
        "completed" | "complete" | "success" | "succeeded" => Some(Outcome::Success),
        "failed" | "error" | "errored" => Some(Outcome::Error),
        "cancelled" | "canceled" | "aborted" | "interrupted" => Some(Outcome::Aborted),
        "timeout" | "timed_out" => Some(Outcome::Timeout),
        _ => None,
    }
}

/// A call's tokens from its row (`input` includes the cache).
pub fn usage(input: u64, output: u64, cache_write: u64, cache_read: u64, total: u64) -> Usage {
    let cache_read = cache_read.min(input);
    let cache_write = cache_write.min(input - cache_read);
    Usage { input: input - cache_read - cache_write, cache_read, cache_write, output, reasoning: 0 }
        .with_total(total)
}

/// Reads the `session` and `model_usage` tables from their cursors.
pub fn read(ctx: &StoreCtx<'_>) -> rusqlite::Result<()> {
    let mut present = HashSet::new();
    for table in ["session", "model_usage"] {
        let cols = sqlite::columns(ctx.conn, table)?;
        if !cols.contains("id") {
            continue;
        }
        let col = |c: &'static str| if cols.contains(c) { c } else { "NULL" };
        let skey = if table == "session" {
            ctx.read_table(table, "rowid", "id", |r, rec| {
                let id: String = r.get(1)?;
                rec.session_start_once(&id, SessionType::Main);
                Ok((true, LineResult::Parsed))
            })?
        } else {
            let columns = [
                "id",
                col("model_id"),
                col("provider_id"),
                col("status"),
                col("input_tokens"),
                col("output_tokens"),
                col("cache_creation_input_tokens"),
                col("cache_read_input_tokens"),
                col("computed_total_tokens"),
                col("started_at"),
            ]
            .join(", ");
            ctx.read_table(table, "rowid", &columns, |r, rec| {
                let id: String = r.get(1)?;
                let model: Option<String> = r.get(2)?;
                let provider: Option<String> = r.get(3)?;
                let status: Option<String> = r.get(4)?;
                let n = |i: usize| -> rusqlite::Result<u64> {
                    Ok(r.get::<_, Option<i64>>(i)?.filter(|v| *v > 0).map_or(0, |v| v as u64))
                };
                let Some(outcome) = outcome(status.as_deref()) else {
                    return Ok((false, LineResult::Parsed));
                };
                let u = usage(n(5)?, n(6)?, n(7)?, n(8)?, n(9)?);
                rec.counts.set_time(n(10)?);
                let m = models::classify(provider.as_deref(), model.as_deref());
                rec.turn(Some(&id), m, u, outcome);
                Ok((true, LineResult::Parsed))
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

    #[test]
    fn cached_input_is_taken_out_of_input_and_a_running_call_waits() {
        let u = usage(1000, 50, 100, 600, 0);
        assert_eq!((u.input, u.cache_read, u.cache_write, u.output), (300, 600, 100, 50));
        assert_eq!(usage(10, 5, 0, 0, 20).reasoning, 5);
        assert_eq!(outcome(Some("running")), None);
        assert_eq!(outcome(None), None);
        assert_eq!(outcome(Some("completed")), Some(Outcome::Success));
        assert_eq!(outcome(Some("failed")), Some(Outcome::Error));
    }
}
