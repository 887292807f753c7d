//! OpenClaw: pi-format transcripts under each agent's `sessions/`, with
//! session types from `sessions.json`. Its records count as pi's
//! ([`crate::agents::pi::records`]) and its tools are pi's table.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::agents::{Agent, Format, Store, StoreRead};
use crate::metrics::{Pack, SessionType};
use crate::pipeline::discover::{Layout, Place, SessionHint};
use crate::pipeline::stores::SessionTypes;
use crate::sources::sqlite::KeysetTable;
use std::collections::HashMap;

/// OpenClaw 2026.9 and later: one SQLite database per agent,
/// `agents/<agentId>/agent/openclaw-agent.sqlite`, whose
/// `transcript_events(session_id, seq, event_json, created_at)` rows are
/// the pi-format records that used to be transcript lines (OpenClaw's
/// `src/state/openclaw-agent-schema.sql`). Newer versions may keep a row
/// zstd-compressed in `event_zstd`.
pub const STORE: Store = Store {
    names: |n| n == DB_NAME,
    databases,
    read: StoreRead::PiRecords {
        table: KeysetTable {
            table: "transcript_events",
            partition: "session_id",
            seq: "seq",
            payload: "event_json",
            compressed: Some("event_zstd"),
        },
        session_types,
    },
    expects: "OpenClaw's transcript_events(session_id, seq, event_json)",
};

/// The file name of an agent's database.
const DB_NAME: &str = "openclaw-agent.sqlite";

/// The database of every agent under the `agents` directory.
fn databases(place: &Place) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(&place.root) else { return Vec::new() };
    let mut dbs: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path().join("agent").join(DB_NAME))
        .filter(|p| p.is_file())
        .collect();
    dbs.sort();
    dbs
}

/// Session types from `session_windows` (a session's key, and who spawned
/// it) and `session_nodes.created_via` (`spawn`, `cron`, …). A store
/// without these tables gives none (every session is then `main`).
fn session_types(conn: &Connection) -> rusqlite::Result<SessionTypes> {
    let sql = "SELECT w.session_id, w.session_key, n.created_via, \
               w.spawned_by IS NOT NULL OR w.parent_session_key IS NOT NULL \
               FROM session_windows w LEFT JOIN session_nodes n ON n.session_key = w.session_key";
    let Ok(mut stmt) = conn.prepare(sql) else { return Ok(SessionTypes::new()) };
    let rows = stmt.query_map([], |r| {
        let id: String = r.get(0)?;
        let key: String = r.get(1)?;
        let via: Option<String> = r.get(2)?;
        let spawned: bool = r.get(3)?;
        Ok((id, created_type(&key, via.as_deref(), spawned)))
    })?;
    rows.collect()
}

/// A session's type from its key, how it was created and whether another
/// session spawned it.
pub fn created_type(key: &str, created_via: Option<&str>, spawned: bool) -> SessionType {
    match created_via {
        Some("spawn") => SessionType::Subagent,
        Some("cron") => SessionType::Cron,
        _ if spawned => SessionType::Subagent,
        _ => key_type(key),
    }
}

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent {
    pack: Pack::Openclaw,
    format: Format::Pi,
    places,
    accepts: crate::agents::any_transcript,
    session_hint,
    tools: crate::agents::pi::tools::TOOLS,
    compressed: false,
    stores: &[STORE],
    mcp_bare_names: false,
};

/// `$OPENCLAW_STATE_DIR` (default `~/.openclaw`)`/agents/<agentId>/sessions/*.jsonl`.
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let base =
        crate::agents::env_dir(env, "OPENCLAW_STATE_DIR").unwrap_or_else(|| home.join(".openclaw"));
    vec![Place { pack: Pack::Openclaw, root: base.join("agents"), layout: Layout::OpenclawAgents }]
}

/// A session's type is in `sessions.json` beside the transcripts, read
/// only for files seen for the first time.
fn session_hint(_place: &Place, _path: &Path) -> SessionHint {
    SessionHint::OpenclawIndex
}

/// Session types of OpenClaw sessions by session id, from a `sessions.json`
/// index (session key → entry). Only keys and ids are read.
pub fn index(bytes: &[u8]) -> HashMap<String, SessionType> {
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(rename = "sessionId", default)]
        session_id: Option<String>,
    }
    let map: HashMap<String, Entry> = serde_json::from_slice(bytes).unwrap_or_default();
    map.into_iter().filter_map(|(key, e)| Some((e.session_id?, key_type(&key)))).collect()
}

/// Classifies an OpenClaw session key (`agent:<id>:subagent:<uuid>`,
/// `cron:<job>`, `agent:<id>:main`, …).
pub fn key_type(key: &str) -> SessionType {
    let parts: Vec<&str> = key.split(':').collect();
    if parts.contains(&"subagent") {
        SessionType::Subagent
    } else if parts.first() == Some(&"cron") || parts.contains(&"cron") {
        SessionType::Cron
    } else if parts.contains(&"heartbeat") {
        SessionType::Heartbeat
    } else {
        SessionType::Main
    }
}

/// The session id an OpenClaw transcript's file name stands for
/// (`<id>.jsonl` or `<id>-topic-<n>.jsonl`).
pub fn session_id(path: &Path) -> Option<&str> {
    let stem = path.file_name()?.to_str()?.strip_suffix(".jsonl")?;
    Some(stem.split_once("-topic-").map_or(stem, |(id, _)| id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openclaw_keys() {
        assert_eq!(key_type("agent:main:main"), SessionType::Main);
        assert_eq!(key_type("agent:main:subagent:1234"), SessionType::Subagent);
        assert_eq!(key_type("cron:nightly"), SessionType::Cron);
        assert_eq!(key_type("agent:ops:telegram:group:42"), SessionType::Main);
    }

    #[test]
    fn index_maps_ids_to_types() {
        let idx = index(
            br#"{"agent:main:main":{"sessionId":"a","origin":{"label":"x"}},"cron:j":{"sessionId":"b"},"bad":{}}"#,
        );
        assert_eq!(idx.get("a"), Some(&SessionType::Main));
        assert_eq!(idx.get("b"), Some(&SessionType::Cron));
        assert_eq!(idx.len(), 2);
        assert!(index(b"garbage").is_empty());
    }

    #[test]
    fn store_sessions_take_their_type_from_how_they_were_created() {
        assert_eq!(created_type("agent:main:main", Some("operator"), false), SessionType::Main);
        assert_eq!(created_type("agent:main:x", Some("spawn"), false), SessionType::Subagent);
        assert_eq!(created_type("agent:main:x", Some("channel"), true), SessionType::Subagent);
        assert_eq!(created_type("cron:nightly", None, false), SessionType::Cron);
        assert_eq!(
            created_type("agent:main:heartbeat", Some("internal"), false),
            SessionType::Heartbeat
        );
    }

    #[test]
    fn topic_files_share_the_session_id() {
        assert_eq!(session_id(Path::new("/x/abc-topic-7.jsonl")), Some("abc"));
        assert_eq!(session_id(Path::new("/x/abc.jsonl")), Some("abc"));
    }
}
