//! The agents telemetron reads, one folder each: where the agent keeps its
//! sessions (`mod.rs`), how its records count (`records.rs`, bytes in,
//! counts out, no I/O) and its tool table (`tools.rs`). [`REGISTRY`] is the
//! one list the pipeline iterates; adding an agent is one folder plus one
//! line there.
//!
//! OpenClaw and roundhouse write pi's format: their folders hold only
//! where they live, and count with [`pi::records`].

pub mod amp;
pub mod antigravity;
pub mod claude_code;
pub mod codebuff;
pub mod codex;
pub mod copilot_cli;
pub mod droid;
pub mod gemini_cli;
pub mod goose;
pub mod grok_build;
pub mod hermes;
pub mod json;
pub mod kilo;
pub mod kimi;
pub mod mark;
pub mod openclaw;
pub mod opencode;
pub mod pi;
pub mod qwen_code;
pub mod roundhouse;
pub mod usage;
pub mod zcode;

use std::path::{Path, PathBuf};

use crate::metrics::{Pack, ToolClass};
use crate::pipeline::discover::{Place, SessionHint};

/// An environment lookup (`std::env::var`, or a test's map).
pub type Env<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// What the pipeline knows of one agent.
pub struct Agent {
    /// Its pack: the `pack` attribute of everything it counts.
    pub pack: Pack,
    /// The record format its files hold.
    pub format: Format,
    /// Its default places, given the home directory and an environment
    /// lookup (the agent's own variables).
    pub places: fn(&Path, &Env<'_>) -> Vec<Place>,
    /// True for a file name under its places that is one of its
    /// transcripts (beyond [`crate::pipeline::discover::is_transcript_name`]).
    pub accepts: fn(&str) -> bool,
    /// How a found file's session type is decided.
    pub session_hint: fn(&Place, &Path) -> SessionHint,
    /// Its built-in tools.
    pub tools: &'static [(&'static str, ToolClass)],
    /// True if it also keeps transcripts compressed (`*.jsonl.zst`), read
    /// whole ([`crate::sources::compressed`]).
    pub compressed: bool,
    /// Its stores: SQLite databases and JSON documents it rewrites, each
    /// read whole when it changed ([`crate::pipeline::stores`]).
    pub stores: &'static [Store],
    /// True if it names MCP tools `<server>__<tool>` with no `mcp` prefix.
    pub mcp_bare_names: bool,
}

impl Agent {
    /// An agent that keeps no transcript files, only stores: main sessions
    /// unless its stores say otherwise, MCP tools named `mcp…`.
    pub const fn stores_only(
        pack: Pack,
        places: fn(&Path, &Env<'_>) -> Vec<Place>,
        tools: &'static [(&'static str, ToolClass)],
        stores: &'static [Store],
    ) -> Agent {
        Agent {
            pack,
            format: Format::Stores,
            places,
            accepts: no_transcripts,
            session_hint: main_sessions,
            tools,
            compressed: false,
            stores,
            mcp_bare_names: false,
        }
    }
}

/// Where and how an agent keeps sessions in a file read whole when it
/// changed: a SQLite database, or a JSON document the agent rewrites.
pub struct Store {
    /// True for the file name of one: such a file found under one of the
    /// agent's places (or named as a place) is read as a store.
    pub names: fn(&str) -> bool,
    /// The databases of one of its default places.
    pub databases: fn(&Place) -> Vec<PathBuf>,
    /// How its sessions are read.
    pub read: StoreRead,
    /// What the store must hold, for a warning about one that does not.
    pub expects: &'static str,
}

/// How a store's sessions are read.
pub enum StoreRead {
    /// A table of pi-format records, one partition per session, read after
    /// a keyset cursor per session (OpenClaw).
    PiRecords {
        /// The records' table.
        table: crate::sources::sqlite::KeysetTable,
        /// Session types by session id, read from the store's own tables.
        session_types:
            fn(&rusqlite::Connection) -> rusqlite::Result<crate::pipeline::stores::SessionTypes>,
    },
    /// The agent's own reader of a SQLite database, given the store and
    /// the states (Hermes's running totals, opencode's messages, …).
    Sqlite(fn(&crate::pipeline::stores::StoreCtx<'_>) -> rusqlite::Result<()>),
    /// A JSON document the agent rewrites as it grows: the agent's parser
    /// reports its records in order ([`usage::DocParser`]).
    Document(usage::DocParser),
}

impl Store {
    /// True for a SQLite database (stat'ed with its write-ahead log).
    pub fn is_sqlite(&self) -> bool {
        !matches!(self.read, StoreRead::Document(_))
    }
}

/// The store of an agent a file name is, if any.
pub fn store_named(agent: &Agent, name: &str) -> Option<&'static Store> {
    agent.stores.iter().find(|s| (s.names)(name))
}

/// No databases to list: the agent's stores are found by walking.
pub(crate) fn no_databases(_place: &Place) -> Vec<PathBuf> {
    Vec::new()
}

/// No transcript files: everything the agent keeps is in stores.
pub(crate) fn no_transcripts(_name: &str) -> bool {
    false
}

/// Main sessions (session types come from records, or there are none).
pub(crate) fn main_sessions(_place: &Place, _path: &Path) -> SessionHint {
    SessionHint::Known(crate::metrics::SessionType::Main)
}

/// Directories from a comma-separated environment variable (as the agents
/// and ccusage read `OPENCODE_DATA_DIR`, `QWEN_DATA_DIR`, …), if set.
pub(crate) fn env_dirs(env: &dyn Fn(&str) -> Option<String>, var: &str) -> Option<Vec<PathBuf>> {
    let v = env(var)?;
    let dirs: Vec<PathBuf> =
        v.split(',').map(str::trim).filter(|p| !p.is_empty()).map(PathBuf::from).collect();
    (!dirs.is_empty()).then_some(dirs)
}

/// Record formats.
#[derive(Clone, Copy, Debug)]
pub enum Format {
    /// pi's JSONL (pi, OpenClaw, roundhouse).
    Pi,
    /// Claude Code's JSONL.
    Claude,
    /// Codex rollouts.
    Codex,
    /// Gemini CLI chats.
    Gemini,
    /// JSONL files of usage records, each line counted by the agent's
    /// parser ([`usage`]).
    Usage(usage::LineParser),
    /// No transcript files: everything the agent keeps is in its stores
    /// (a file named as one of its places is read, its lines ignored).
    Stores,
}

/// Every agent, in the order packs are listed and configured.
pub const REGISTRY: &[Agent] = &[
    openclaw::AGENT,
    roundhouse::AGENT,
    pi::AGENT,
    claude_code::AGENT,
    codex::AGENT,
    gemini_cli::AGENT,
    hermes::AGENT,
    opencode::AGENT,
    copilot_cli::AGENT,
    qwen_code::AGENT,
    goose::AGENT,
    amp::AGENT,
    droid::AGENT,
    kimi::AGENT,
    kilo::AGENT,
    codebuff::AGENT,
    antigravity::AGENT,
    grok_build::AGENT,
    zcode::AGENT,
];

/// The agent of a pack (`None` for telemetron's own pack).
pub fn agent(pack: Pack) -> Option<&'static Agent> {
    REGISTRY.iter().find(|a| a.pack == pack)
}

/// Every file name [`crate::pipeline::discover::is_transcript_name`]
/// accepts.
pub(crate) fn any_transcript(_name: &str) -> bool {
    true
}

/// A directory from an agent's environment variable, if set and not blank.
pub(crate) fn env_dir(env: &dyn Fn(&str) -> Option<String>, var: &str) -> Option<PathBuf> {
    env(var).filter(|v| !v.trim().is_empty()).map(PathBuf::from)
}

use crate::metrics::{Counts, LineResult};

/// A parser for one file, whichever its format.
pub enum Deriver<'s> {
    /// pi, OpenClaw, roundhouse.
    Pi(pi::records::Deriver<'s>),
    /// Claude Code.
    Claude(claude_code::records::Deriver<'s>),
    /// Codex CLI.
    Codex(codex::records::Deriver<'s>),
    /// Gemini CLI.
    Gemini(gemini_cli::records::Deriver<'s>),
    /// The agents of usage records.
    Usage(usage::LineDeriver<'s>),
}

impl Deriver<'_> {
    /// Counts one complete line (without its terminator) and says how it
    /// was classified.
    pub fn line(&mut self, line: &[u8], counts: &mut Counts) -> LineResult {
        match self {
            Deriver::Pi(d) => d.line(line, counts),
            Deriver::Claude(d) => d.line(line, counts),
            Deriver::Codex(d) => d.line(line, counts),
            Deriver::Gemini(d) => d.line(line, counts),
            Deriver::Usage(d) => d.line(line, counts),
        }
    }
}

/// Every line of the fixture homes' files under `dir` (e.g. `.claude`).
#[cfg(test)]
pub(crate) fn fixture_lines(dir: &str) -> Vec<Vec<u8>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut out = Vec::new();
    for base in ["demo-home", "demo-later"] {
        let mut stack = vec![root.join(base).join(dir)];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(d) else { continue };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let b = std::fs::read(&p).unwrap();
                    out.extend(b.split(|c| *c == b'\n').map(<[u8]>::to_vec));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod registry_tests {
    use super::*;

    #[test]
    fn every_pack_but_telemetrons_own_has_exactly_one_agent() {
        for pack in Pack::ALL {
            let n = REGISTRY.iter().filter(|a| a.pack == *pack).count();
            let want = usize::from(*pack != Pack::Telemetron);
            assert_eq!(n, want, "{pack:?}");
        }
    }

    #[test]
    fn every_agent_has_a_place_and_a_tool_table() {
        let home = Path::new("/home/u");
        for a in REGISTRY {
            let places = (a.places)(home, &|_| None);
            assert!(!places.is_empty(), "{:?}", a.pack);
            assert!(places.iter().all(|p| p.pack == a.pack && p.root.starts_with(home)));
            assert!(!a.tools.is_empty(), "{:?}", a.pack);
        }
    }
}
