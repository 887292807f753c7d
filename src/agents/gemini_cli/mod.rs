//! Gemini CLI: JSONL chats per project.

pub mod records;
pub mod tools;

use std::path::Path;

use crate::agents::{Agent, Format};
use crate::metrics::{Pack, SessionType};
use crate::pipeline::discover::{Layout, Place, SessionHint};

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent {
    pack: Pack::GeminiCli,
    format: Format::Gemini,
    places,
    accepts: crate::agents::any_transcript,
    session_hint,
    tools: tools::TOOLS,
    compressed: false,
    stores: &[],
    mcp_bare_names: true,
};

/// `$GEMINI_CLI_HOME` (default the home)`/.gemini/tmp/<project>/chats/`.
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let base = crate::agents::env_dir(env, "GEMINI_CLI_HOME").unwrap_or_else(|| home.to_path_buf());
    vec![Place {
        pack: Pack::GeminiCli,
        root: base.join(".gemini").join("tmp"),
        layout: Layout::GeminiProjects,
    }]
}

/// Subagent chats live one level down: `chats/<parent>/<id>.jsonl`.
fn session_hint(_place: &Place, path: &Path) -> SessionHint {
    let nested = path
        .parent()
        .and_then(|d| d.parent())
        .and_then(|d| d.file_name())
        .is_some_and(|n| n == "chats");
    SessionHint::Known(if nested { SessionType::Subagent } else { SessionType::Main })
}
