//! roundhouse: runs pi, and keeps pi-format transcripts per thread. Its
//! records count as pi's ([`crate::agents::pi::records`]); its tools are
//! pi's table.

use std::path::Path;

use crate::agents::{Agent, Format};
use crate::metrics::{Pack, SessionType};
use crate::pipeline::discover::{Layout, Place, SessionHint};

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent {
    pack: Pack::Roundhouse,
    format: Format::Pi,
    places,
    accepts: crate::agents::any_transcript,
    session_hint,
    tools: crate::agents::pi::tools::TOOLS,
    compressed: false,
    stores: &[],
    mcp_bare_names: false,
};

/// `~/.roundhouse/sessions/` and `~/.roundhouse/subagents/`.
fn places(home: &Path, _env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let base = home.join(".roundhouse");
    vec![
        Place { pack: Pack::Roundhouse, root: base.join("sessions"), layout: Layout::Tree },
        Place { pack: Pack::Roundhouse, root: base.join("subagents"), layout: Layout::Tree },
    ]
}

/// Subagents live under `subagents/`; cron threads are `cron_c…`.
fn session_hint(place: &Place, path: &Path) -> SessionHint {
    let rel = path.strip_prefix(&place.root).unwrap_or(path);
    let under_subagents = place.root.file_name().is_some_and(|n| n == "subagents")
        || rel.components().any(|c| c.as_os_str() == "subagents");
    let thread = rel.components().next().and_then(|c| c.as_os_str().to_str());
    SessionHint::Known(if under_subagents {
        SessionType::Subagent
    } else if thread.is_some_and(|t| t.starts_with("cron_c")) {
        SessionType::Cron
    } else {
        SessionType::Main
    })
}
