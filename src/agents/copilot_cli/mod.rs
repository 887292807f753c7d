//! GitHub Copilot CLI: the OpenTelemetry file exporter's JSONL, under
//! `~/.copilot/otel/` (or `$COPILOT_HOME/otel/`), and the file named by
//! `$COPILOT_OTEL_FILE_EXPORTER_PATH`. Its spans follow the GenAI semantic
//! conventions; how they count is in [`records`].

pub mod records;
pub mod tools;

use std::path::Path;

use crate::agents::{Agent, Format};
use crate::metrics::Pack;
use crate::pipeline::discover::{Layout, Place};

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent {
    pack: Pack::CopilotCli,
    format: Format::Usage(records::line),
    places,
    accepts: crate::agents::any_transcript,
    session_hint: crate::agents::main_sessions,
    tools: tools::TOOLS,
    compressed: false,
    stores: &[],
    mcp_bare_names: false,
};

/// `$COPILOT_HOME` (default `~/.copilot`)`/otel`, and the exporter's file.
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let base = crate::agents::env_dir(env, "COPILOT_HOME").unwrap_or_else(|| home.join(".copilot"));
    let mut out =
        vec![Place { pack: Pack::CopilotCli, root: base.join("otel"), layout: Layout::Tree }];
    if let Some(file) = crate::agents::env_dir(env, "COPILOT_OTEL_FILE_EXPORTER_PATH") {
        out.push(Place { pack: Pack::CopilotCli, root: file, layout: Layout::Tree });
    }
    out
}
