//! Grok Build (xAI's coding CLI): each session's Agent Client Protocol
//! updates, `~/.grok/sessions/<encoded cwd>/<session>/updates.jsonl` (or
//! under `$GROK_HOME`). How an update counts is in [`records`].

pub mod records;
pub mod tools;

use std::path::Path;

use crate::agents::{Agent, Format};
use crate::metrics::Pack;
use crate::pipeline::discover::{Layout, Place};

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent {
    pack: Pack::GrokBuild,
    format: Format::Usage(records::line),
    places,
    accepts: |n| n == "updates.jsonl",
    session_hint: crate::agents::main_sessions,
    tools: tools::TOOLS,
    compressed: false,
    stores: &[],
    mcp_bare_names: false,
};

/// `$GROK_HOME` (default `~/.grok`)`/sessions`.
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let base = crate::agents::env_dir(env, "GROK_HOME").unwrap_or_else(|| home.join(".grok"));
    vec![Place { pack: Pack::GrokBuild, root: base.join("sessions"), layout: Layout::Tree }]
}
