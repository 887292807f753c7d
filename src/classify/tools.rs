//! Tool names and classes.
//!
//! `tool.name` on the wire is a lower-cased name from the calling pack's
//! built-in tool table, `mcp` for any MCP tool, or `other`. A tool name
//! from a file is never sent as it is: custom and MCP tool names can carry
//! project or server names.

use crate::metrics::{Pack, ToolClass};

/// The tool table of a pack (its agent's `tools.rs`).
fn table(pack: Pack) -> &'static [(&'static str, ToolClass)] {
    crate::agents::agent(pack).map_or(&[], |a| a.tools)
}

/// True for the naming conventions agents use for MCP tools
/// (`mcp__server__tool`, `mcp_server_tool`, `mcp:server:tool`; Codex
/// and Gemini CLI name them `server__tool`; a built-in never has a double
/// underscore).
fn is_mcp(pack: Pack, lower: &str) -> bool {
    lower.starts_with("mcp__")
        || lower.starts_with("mcp_")
        || lower.starts_with("mcp:")
        || (crate::agents::agent(pack).is_some_and(|a| a.mcp_bare_names) && lower.contains("__"))
}

/// Classifies a raw tool name as `(tool.name, tool.class)`.
pub fn classify(pack: Pack, raw: &str) -> (&'static str, ToolClass) {
    let lower = raw.trim().to_ascii_lowercase();
    if let Some((name, class)) = table(pack).iter().find(|(n, _)| *n == lower) {
        return (name, *class);
    }
    if is_mcp(pack, &lower) {
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
        for table in crate::agents::REGISTRY.iter().map(|a| a.tools) {
            let mut seen = std::collections::HashSet::new();
            for (name, _) in table {
                assert_eq!(*name, name.to_ascii_lowercase());
                assert!(seen.insert(*name), "duplicate {name}");
            }
        }
    }

    #[test]
    fn each_agent_has_its_own_built_ins() {
        assert_eq!(classify(Pack::ClaudeCode, "Bash"), ("bash", ToolClass::Shell));
        assert_eq!(classify(Pack::ClaudeCode, "WebFetch"), ("webfetch", ToolClass::Http));
        assert_eq!(classify(Pack::ClaudeCode, "Task"), ("task", ToolClass::Agent));
        assert_eq!(classify(Pack::ClaudeCode, "mcp__linear__list"), ("mcp", ToolClass::Mcp));
        assert_eq!(classify(Pack::Codex, "apply_patch"), ("apply_patch", ToolClass::File));
        assert_eq!(classify(Pack::Codex, "shell"), ("shell", ToolClass::Shell));
        assert_eq!(classify(Pack::Codex, "github__create_pr"), ("mcp", ToolClass::Mcp));
        assert_eq!(
            classify(Pack::GeminiCli, "run_shell_command"),
            ("run_shell_command", ToolClass::Shell)
        );
        // A name built into one agent is not another's.
        assert_eq!(classify(Pack::GeminiCli, "Bash"), ("other", ToolClass::Other));
    }
}
