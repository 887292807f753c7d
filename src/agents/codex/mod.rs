//! Codex CLI: rollout JSONL files, one per session, under `sessions/` and
//! `archived_sessions/`; older ones compressed with zstd.

pub mod records;
pub mod tools;

use std::path::Path;

use crate::agents::{Agent, Format};
use crate::metrics::{Pack, SessionType};
use crate::pipeline::discover::{Layout, Place, SessionHint};

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent {
    pack: Pack::Codex,
    format: Format::Codex,
    places,
    accepts,
    session_hint,
    tools: tools::TOOLS,
    compressed: true,
    stores: &[],
    mcp_bare_names: true,
};

/// `$CODEX_HOME` (default `~/.codex`)`/sessions/` and `archived_sessions/`.
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let base = crate::agents::env_dir(env, "CODEX_HOME").unwrap_or_else(|| home.join(".codex"));
    vec![
        Place { pack: Pack::Codex, root: base.join("sessions"), layout: Layout::Tree },
        Place { pack: Pack::Codex, root: base.join("archived_sessions"), layout: Layout::Tree },
    ]
}

/// Codex names its rollouts `rollout-*.jsonl`, and compresses older ones
/// to `rollout-*.jsonl.zst` (other `*.jsonl` in `~/.codex`, such as
/// `history.jsonl`, hold prompt text and are never read).
fn accepts(name: &str) -> bool {
    name.starts_with("rollout-")
}

/// The session type is in the rollout's `session_meta`, not its path.
fn session_hint(_place: &Place, _path: &Path) -> SessionHint {
    SessionHint::Known(SessionType::Main)
}
