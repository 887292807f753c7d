//! Qwen Code (Alibaba's fork of Gemini CLI): JSONL chats under
//! `~/.qwen/projects/<project>/chats/<session>.jsonl` (or under every
//! directory of `$QWEN_DATA_DIR`, comma-separated). How a record counts is
//! in [`records`].

pub mod records;
pub mod tools;

use std::path::Path;

use crate::agents::{Agent, Format};
use crate::metrics::Pack;
use crate::pipeline::discover::{Layout, Place};

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent {
    pack: Pack::QwenCode,
    format: Format::Usage(records::line),
    places,
    accepts: crate::agents::any_transcript,
    session_hint: crate::agents::main_sessions,
    tools: tools::TOOLS,
    compressed: false,
    stores: &[],
    mcp_bare_names: true,
};

/// `$QWEN_DATA_DIR` (comma-separated), else `~/.qwen`: each project's
/// `chats/`.
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let roots =
        crate::agents::env_dirs(env, "QWEN_DATA_DIR").unwrap_or_else(|| vec![home.join(".qwen")]);
    roots
        .into_iter()
        .map(|r| Place {
            pack: Pack::QwenCode,
            root: r.join("projects"),
            layout: Layout::GeminiProjects,
        })
        .collect()
}
