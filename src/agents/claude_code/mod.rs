//! Claude Code: JSONL transcripts per project, one line per message.

pub mod records;
pub mod tools;

use std::path::{Path, PathBuf};

use crate::agents::{Agent, Format};
use crate::metrics::{Pack, SessionType};
use crate::pipeline::discover::{Layout, Place, SessionHint};

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent {
    pack: Pack::ClaudeCode,
    format: Format::Claude,
    places,
    accepts: crate::agents::any_transcript,
    session_hint,
    tools: tools::TOOLS,
    compressed: false,
    stores: &[],
    mcp_bare_names: false,
};

/// `<config dir>/projects/**/*.jsonl`, for each config dir:
/// `$CLAUDE_CONFIG_DIR` (several, comma-separated, replacing both
/// defaults), else `~/.claude` and `~/.config/claude`.
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let listed: Vec<PathBuf> = env("CLAUDE_CONFIG_DIR")
        .map(|v| v.split(',').map(str::trim).filter(|p| !p.is_empty()).map(PathBuf::from).collect())
        .unwrap_or_default();
    let bases = if listed.is_empty() {
        vec![home.join(".claude"), home.join(".config").join("claude")]
    } else {
        listed
    };
    bases
        .into_iter()
        .map(|b| Place { pack: Pack::ClaudeCode, root: b.join("projects"), layout: Layout::Tree })
        .collect()
}

/// Sidechains: `<session>/subagents/agent-<id>.jsonl` (newer) or
/// `agent-<id>.jsonl` beside the main transcripts (older).
fn session_hint(place: &Place, path: &Path) -> SessionHint {
    let rel = path.strip_prefix(&place.root).unwrap_or(path);
    let sub = rel.components().any(|c| c.as_os_str() == "subagents")
        || path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("agent-"));
    SessionHint::Known(if sub { SessionType::Subagent } else { SessionType::Main })
}
