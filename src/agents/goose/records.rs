//! How Goose's sessions count: `sessions` keeps one row per session with
//! its running totals (`accumulated_input_tokens`,
//! `accumulated_output_tokens`, `accumulated_total_tokens`, or the
//! per-session `input_tokens`, … of older versions) and its model
//! (`model_config_json.model_name`). A row is rewritten as the session
//! goes on: what counts is how far each total grew since the last run,
//! the part of the total beyond input and output as reasoning (as ccusage
//! reads it). A session seen for the first time is a session start
//! (`session_type`: `sub_agent` is a subagent's, `scheduled` a cron's).
//! Goose keeps no per-call records here, so it feeds no turns.

use std::collections::HashSet;

use serde_json::Value;

use crate::agents::usage::{Recorder, Usage};
use crate::classify::models;
use crate::metrics::SessionType;
use crate::pipeline::stores::StoreCtx;
use crate::sources::sqlite;
use crate::state::claims::Claims;

/// Columns read, in order; one a version lacks reads as NULL.
const COLUMNS: [&str; 11] = [
    "id",
    "model_config_json",
    "provider_name",
    "session_type",
    "accumulated_input_tokens",
    "accumulated_output_tokens",
    "accumulated_total_tokens",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "created_at",
];

/// A session's totals from its row's values (in [`COLUMNS`]' order from
/// the fourth): accumulated ones first, as ccusage reads them.
pub fn totals(v: [Option<i64>; 6]) -> Usage {
    let pos = |i: usize| v[i].filter(|n| *n > 0).map(|n| n as u64);
    let input = pos(0).or(pos(3)).unwrap_or(0);
    let output = pos(1).or(pos(4)).unwrap_or(0);
    let total = pos(2).or(pos(5)).unwrap_or(input + output);
    Usage { input, output, reasoning: total.saturating_sub(input + output), ..Usage::default() }
}

/// A session's type from `session_type`.
pub fn session_type(t: Option<&str>) -> SessionType {
    match t {
        Some("sub_agent" | "subagent") => SessionType::Subagent,
        Some("scheduled") => SessionType::Cron,
        _ => SessionType::Main,
    }
}

/// Reads every session row; what grew since the last run counts.
pub fn read(ctx: &StoreCtx<'_>) -> rusqlite::Result<()> {
    let conn = ctx.conn;
    let have = sqlite::columns(conn, "sessions")?;
    if !have.contains("id") {
        return Ok(()); // no sessions table (yet): nothing to count
    }
    let cols: Vec<&str> =
        COLUMNS.iter().map(|c| if have.contains(*c) { *c } else { "NULL" }).collect();
    let mut stmt = conn.prepare(&format!("SELECT {} FROM sessions", cols.join(", ")))?;
    let mut rows = stmt.query([])?;
    let mut present = HashSet::new();
    while let Some(r) = rows.next()? {
        let Some(id) = r.get::<_, Option<String>>(0)? else { continue };
        let config: Option<String> = r.get(1)?;
        let provider: Option<String> = r.get(2)?;
        let kind: Option<String> = r.get(3)?;
        let mut v = [None; 6];
        for (i, n) in v.iter_mut().enumerate() {
            *n = r.get::<_, Option<i64>>(4 + i).ok().flatten();
        }
        let now = totals(v);
        let (skey, old, mut st) = ctx.state_of(&id);
        present.insert(skey.clone());
        if old.is_some_and(|o| {
            o.usage.totals == Some(now.as_array()) && o.missing_since_unix_nano.is_none()
        }) {
            continue;
        }
        let name = config
            .and_then(|c| serde_json::from_str::<Value>(&c).ok())
            .and_then(|c| c.get("model_name").and_then(Value::as_str).map(str::to_string));
        let model = models::classify(provider.as_deref(), name.as_deref());
        // A session's tokens are dated by its start, as ccusage dates them.
        let (mut counts, mut claims) = (ctx.src.dated(), Claims::default());
        let created: Option<String> = r.get::<_, Option<String>>(10).ok().flatten();
        counts.set_hour(created.as_deref().and_then(crate::time::hour_of_stamp).unwrap_or(0));
        let t = session_type(kind.as_deref());
        st.session_type = t.as_str().to_string();
        {
            let mut rec = Recorder::new(ctx.src.pack, t, &mut st.usage, &mut counts, &mut claims);
            if old.is_none() && ctx.new_at_end {
                // The state was lost: what is there now was delivered.
                rec.state.started = true;
                rec.state.totals = Some(now.as_array());
            } else {
                rec.session_start();
                rec.running_totals(model, &now);
            }
        }
        st.lines += 1;
        ctx.counted(skey, st, counts, 1);
    }
    ctx.present(&present);
    Ok(())
}
