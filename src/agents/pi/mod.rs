//! pi: JSONL transcripts (a `session` header, then entries), also the
//! format of OpenClaw and roundhouse.

pub mod records;
pub mod tools;

use std::path::Path;

use crate::agents::{Agent, Format};
use crate::metrics::{Pack, SessionType};
use crate::pipeline::discover::{Layout, Place, SessionHint};

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent {
    pack: Pack::Pi,
    format: Format::Pi,
    places,
    accepts: crate::agents::any_transcript,
    session_hint,
    tools: tools::TOOLS,
    compressed: false,
    stores: &[],
    mcp_bare_names: false,
};

/// `$PI_CODING_AGENT_DIR` (default `~/.pi/agent`)`/sessions/**/*.jsonl`.
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let base = crate::agents::env_dir(env, "PI_CODING_AGENT_DIR")
        .unwrap_or_else(|| home.join(".pi").join("agent"));
    vec![Place { pack: Pack::Pi, root: base.join("sessions"), layout: Layout::Tree }]
}

/// pi records no session type: every session is a main one.
fn session_hint(_place: &Place, _path: &Path) -> SessionHint {
    SessionHint::Known(SessionType::Main)
}
