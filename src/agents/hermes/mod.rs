//! Hermes Agent (Nous Research): one SQLite `state.db` per Hermes home
//! (`$HERMES_HOME`, default `~/.hermes`, and each profile's home under
//! `~/.hermes/profiles/<name>/`), whose `sessions` table keeps every
//! session's running token totals. Read as ccusage reads it; how a row
//! counts is in [`records`].

pub mod records;
pub mod tools;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::agents::{Agent, Format, Store, StoreRead};
use crate::metrics::{Counts, Pack, SessionType};
use crate::pipeline::discover::{Layout, Place, SessionHint};
use crate::pipeline::stores::{session_key, StoreCtx};
use crate::state::FileState;

/// Hermes's store: `state.db`, table `sessions`.
pub const STORE: Store = Store {
    names: |n| n == DB_NAME,
    databases,
    read: StoreRead::Sqlite(read),
    expects: "Hermes's sessions(id, model, input_tokens, …)",
};

/// The file name of a Hermes home's database.
const DB_NAME: &str = "state.db";

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent {
    pack: Pack::Hermes,
    format: Format::Pi,
    places,
    accepts: no_transcripts,
    session_hint,
    tools: tools::TOOLS,
    compressed: false,
    stores: &[STORE],
    mcp_bare_names: false,
};

/// `$HERMES_HOME` (default `~/.hermes`). Its profiles are found below it.
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let base = crate::agents::env_dir(env, "HERMES_HOME").unwrap_or_else(|| home.join(".hermes"));
    vec![Place { pack: Pack::Hermes, root: base, layout: Layout::HermesHomes }]
}

/// Hermes keeps no transcript files telemetron reads.
fn no_transcripts(_name: &str) -> bool {
    false
}

/// Session types come from the store.
fn session_hint(_place: &Place, _path: &Path) -> SessionHint {
    SessionHint::Known(SessionType::Main)
}

/// The database of the home and of every profile.
fn databases(place: &Place) -> Vec<PathBuf> {
    let mut out = vec![place.root.join(DB_NAME)];
    if let Ok(rd) = std::fs::read_dir(place.root.join("profiles")) {
        let mut profiles: Vec<PathBuf> = rd.flatten().map(|e| e.path().join(DB_NAME)).collect();
        profiles.sort();
        out.extend(profiles);
    }
    out.retain(|p| p.is_file());
    out
}

/// The columns read, in [`records::Row`]'s order; a store whose version
/// lacks one reads it as empty.
const COLUMNS: [&str; 13] = [
    "id",
    "model",
    "billing_provider",
    "source",
    "parent_session_id",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "started_at",
    "actual_cost_usd",
    "estimated_cost_usd",
];

/// Reads every session row; what grew since the last run counts.
fn read(ctx: &StoreCtx<'_>) -> rusqlite::Result<()> {
    let conn = ctx.conn;
    let have = crate::sources::sqlite::columns(conn, "sessions")?;
    if !have.contains("id") {
        return Ok(()); // no sessions table (yet): nothing to count
    }
    let cols: Vec<&str> =
        COLUMNS.iter().map(|c| if have.contains(*c) { *c } else { "NULL" }).collect();
    let sql = format!("SELECT {} FROM sessions", cols.join(", "));
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    let mut present = HashSet::new();
    while let Some(r) = rows.next()? {
        let Some(id) = r.get::<_, Option<String>>(0)? else { continue };
        let text = |i: usize| -> rusqlite::Result<Option<String>> { r.get(i) };
        let (model, provider, source) = (text(1)?, text(2)?, text(3)?);
        let parent = text(4)?;
        let mut totals = [0u64; 5];
        for (i, t) in totals.iter_mut().enumerate() {
            let v: Option<f64> = r.get(5 + i)?;
            *t = v.filter(|v| v.is_finite() && *v > 0.0).map_or(0, |v| v as u64);
        }
        let real = |i: usize| -> rusqlite::Result<f64> {
            Ok(r.get::<_, Option<f64>>(i)?.filter(|v| v.is_finite() && *v > 0.0).unwrap_or(0.0))
        };
        let (started, actual, estimated) = (real(10)?, real(11)?, real(12)?);
        let row = records::Row {
            model: model.as_deref(),
            provider: provider.as_deref(),
            source: source.as_deref(),
            continues: parent.is_some_and(|p| !p.is_empty()),
            totals,
            started: started as u64,
            cost: if actual > 0.0 { actual } else { estimated },
        };
        let skey = session_key(ctx.key, &id);
        present.insert(skey.clone());
        let old = ctx.files.get(&skey);
        let cost = crate::pricing::picos(row.cost);
        if old.is_some_and(|o| {
            o.hermes.totals == totals
                && o.hermes.cost_picos >= cost
                && o.missing_since_unix_nano.is_none()
        }) {
            continue;
        }
        let mut st = old.cloned().unwrap_or_else(|| FileState {
            pack: Pack::Hermes.as_str().to_string(),
            session_type: records::session_type(&row).as_str().to_string(),
            ..FileState::default()
        });
        st.missing_since_unix_nano = None;
        let mut counts = Counts::default();
        counts.set_time(row.started);
        if old.is_none() && ctx.new_at_end {
            // The state was lost: what is there now was delivered before.
            st.hermes.totals = totals;
            st.hermes.cost_picos = cost;
        } else {
            records::count(&row, &mut st.hermes, old.is_none(), &mut counts);
        }
        st.lines += 1;
        ctx.counted(skey, st, counts, 1);
    }
    ctx.present(&present);
    Ok(())
}
