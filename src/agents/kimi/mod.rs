//! Kimi CLI (Moonshot AI): each session's wire log,
//! `~/.kimi/sessions/<workdir hash>/<session>/wire.jsonl` (also under
//! `~/.kimi-code`, or every directory of `$KIMI_DATA_DIR`,
//! comma-separated); a subagent's is two levels further down. How a
//! message counts is in [`records`].

pub mod records;
pub mod tools;

use std::path::Path;

use crate::agents::{Agent, Format};
use crate::metrics::{Pack, SessionType};
use crate::pipeline::discover::{Layout, Place, SessionHint};

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent {
    pack: Pack::Kimi,
    format: Format::Usage(records::line),
    places,
    accepts: |n| n == "wire.jsonl",
    session_hint,
    tools: tools::TOOLS,
    compressed: false,
    stores: &[],
    mcp_bare_names: false,
};

/// `$KIMI_DATA_DIR` (comma-separated), else `~/.kimi` and `~/.kimi-code`:
/// their `sessions/`.
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let roots = crate::agents::env_dirs(env, "KIMI_DATA_DIR")
        .unwrap_or_else(|| vec![home.join(".kimi"), home.join(".kimi-code")]);
    roots
        .into_iter()
        .map(|r| Place { pack: Pack::Kimi, root: r.join("sessions"), layout: Layout::Tree })
        .collect()
}

/// `sessions/<hash>/<session>/wire.jsonl` is a main session's; one deeper
/// (`…/<session>/<subagents>/<id>/wire.jsonl`) a subagent's.
fn session_hint(place: &Place, path: &Path) -> SessionHint {
    let depth = path.strip_prefix(&place.root).map_or(0, |r| r.components().count());
    SessionHint::Known(if depth > 3 { SessionType::Subagent } else { SessionType::Main })
}
