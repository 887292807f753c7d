//! OpenClaw: pi-format transcripts under each agent's `sessions/`, with
//! session types from `sessions.json`. Its records count as pi's
//! ([`crate::agents::pi::records`]) and its tools are pi's table.

use std::path::Path;

use crate::agents::{Agent, Format};
use crate::metrics::{Pack, SessionType};
use crate::pipeline::discover::{Layout, Place, SessionHint};
use std::collections::HashMap;

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent {
    pack: Pack::Openclaw,
    format: Format::Pi,
    places,
    accepts: crate::agents::any_transcript,
    session_hint,
    tools: crate::agents::pi::tools::TOOLS,
    compressed: false,
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
fn session_hint(_place: &Place, path: &Path) -> SessionHint {
    SessionHint::OpenclawIndex(path.parent().map(Path::to_path_buf).unwrap_or_default())
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
    fn topic_files_share_the_session_id() {
        assert_eq!(session_id(Path::new("/x/abc-topic-7.jsonl")), Some("abc"));
        assert_eq!(session_id(Path::new("/x/abc.jsonl")), Some("abc"));
    }
}
