//! Tool names and classes.
//!
//! `tool.name` on the wire is a lower-cased name from the calling pack's
//! built-in tool table, `mcp` for any MCP tool, or `other`. A tool name
//! from a file is never sent as it is: custom and MCP tool names can carry
//! project or server names.

use crate::metrics::{Pack, ToolClass};

/// Built-in tools of the pi-shaped agents (pi itself, OpenClaw, and
/// roundhouse, which runs pi). One table: OpenClaw and roundhouse expose a
/// superset of pi's tools under the same names.
pub const PI_TOOLS: &[(&str, ToolClass)] = &[
    // pi core
    ("read", ToolClass::File),
    ("write", ToolClass::File),
    ("edit", ToolClass::File),
    ("ls", ToolClass::File),
    ("bash", ToolClass::Shell),
    ("grep", ToolClass::Search),
    ("find", ToolClass::Search),
    // OpenClaw
    ("exec", ToolClass::Shell),
    ("process", ToolClass::Shell),
    ("apply_patch", ToolClass::File),
    ("web_fetch", ToolClass::Http),
    ("web_search", ToolClass::Search),
    ("browser", ToolClass::Browser),
    ("message", ToolClass::Message),
    ("memory_search", ToolClass::Memory),
    ("memory_get", ToolClass::Memory),
    ("sessions_spawn", ToolClass::Agent),
    ("sessions_send", ToolClass::Agent),
    ("sessions_list", ToolClass::Agent),
    ("sessions_history", ToolClass::Agent),
    ("sessions_yield", ToolClass::Agent),
    ("agents_list", ToolClass::Agent),
    ("subagents", ToolClass::Agent),
    ("session_status", ToolClass::System),
    ("cron", ToolClass::System),
    ("gateway", ToolClass::System),
    ("nodes", ToolClass::System),
    ("canvas", ToolClass::Media),
    ("image", ToolClass::Media),
    ("pdf", ToolClass::Media),
    ("tts", ToolClass::Media),
    ("todo", ToolClass::Planning),
    ("plan", ToolClass::Planning),
];

/// The tool table of a pack.
fn table(pack: Pack) -> &'static [(&'static str, ToolClass)] {
    match pack {
        Pack::Openclaw | Pack::Roundhouse | Pack::Pi => PI_TOOLS,
        // Filled in by the packs that get their own tables.
        Pack::ClaudeCode | Pack::Codex | Pack::GeminiCli | Pack::Telemetron => &[],
    }
}

/// True for the naming conventions agents use for MCP tools
/// (`mcp__server__tool`, `mcp_server_tool`, `mcp:server:tool`).
fn is_mcp(lower: &str) -> bool {
    lower.starts_with("mcp__") || lower.starts_with("mcp_") || lower.starts_with("mcp:")
}

/// Classifies a raw tool name as `(tool.name, tool.class)`.
pub fn classify(pack: Pack, raw: &str) -> (&'static str, ToolClass) {
    let lower = raw.trim().to_ascii_lowercase();
    if let Some((name, class)) = table(pack).iter().find(|(n, _)| *n == lower) {
        return (name, *class);
    }
    if is_mcp(&lower) {
        return ("mcp", ToolClass::Mcp);
    }
    ("other", ToolClass::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_tools_are_lower_cased_table_entries() {
        assert_eq!(classify(Pack::Pi, "Read"), ("read", ToolClass::File));
        assert_eq!(classify(Pack::Openclaw, "exec"), ("exec", ToolClass::Shell));
        assert_eq!(classify(Pack::Openclaw, "web_fetch"), ("web_fetch", ToolClass::Http));
        assert_eq!(
            classify(Pack::Roundhouse, "sessions_spawn"),
            ("sessions_spawn", ToolClass::Agent)
        );
    }

    #[test]
    fn mcp_tools_collapse_to_mcp() {
        assert_eq!(classify(Pack::Pi, "mcp__github__create_issue"), ("mcp", ToolClass::Mcp));
    }

    #[test]
    fn unknown_tools_never_echo_the_name() {
        assert_eq!(classify(Pack::Pi, "CANARY_custom_tool"), ("other", ToolClass::Other));
        assert_eq!(classify(Pack::Pi, ""), ("other", ToolClass::Other));
    }

    #[test]
    fn table_names_are_lower_case_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for (name, _) in PI_TOOLS {
            assert_eq!(*name, name.to_ascii_lowercase());
            assert!(seen.insert(*name), "duplicate {name}");
        }
    }
}
