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

/// Built-in tools of Claude Code (names as the model calls them,
/// lower-cased: `Bash` → `bash`). MCP tools are `mcp__<server>__<tool>`.
pub const CLAUDE_CODE_TOOLS: &[(&str, ToolClass)] = &[
    ("bash", ToolClass::Shell),
    ("bashoutput", ToolClass::Shell),
    ("killshell", ToolClass::Shell),
    ("killbash", ToolClass::Shell),
    ("read", ToolClass::File),
    ("write", ToolClass::File),
    ("edit", ToolClass::File),
    ("multiedit", ToolClass::File),
    ("notebookedit", ToolClass::File),
    ("notebookread", ToolClass::File),
    ("ls", ToolClass::File),
    ("glob", ToolClass::Search),
    ("grep", ToolClass::Search),
    ("toolsearch", ToolClass::Search),
    ("webfetch", ToolClass::Http),
    ("websearch", ToolClass::Search),
    ("task", ToolClass::Agent),
    ("agent", ToolClass::Agent),
    ("taskoutput", ToolClass::Agent),
    ("taskstop", ToolClass::Agent),
    ("todowrite", ToolClass::Planning),
    ("todoread", ToolClass::Planning),
    ("exitplanmode", ToolClass::Planning),
    ("enterplanmode", ToolClass::Planning),
    ("askuserquestion", ToolClass::Message),
    ("skill", ToolClass::System),
    ("slashcommand", ToolClass::System),
    ("listmcpresourcestool", ToolClass::Mcp),
    ("readmcpresourcetool", ToolClass::Mcp),
];

/// Built-in tools of the Codex CLI (`function_call` / `custom_tool_call`
/// names; `local_shell_call` and `web_search_call` items are named
/// `local_shell` and `web_search`). MCP tools are `<server>__<tool>`.
pub const CODEX_TOOLS: &[(&str, ToolClass)] = &[
    ("shell", ToolClass::Shell),
    ("shell_command", ToolClass::Shell),
    ("container.exec", ToolClass::Shell),
    ("local_shell", ToolClass::Shell),
    ("exec_command", ToolClass::Shell),
    ("write_stdin", ToolClass::Shell),
    ("unified_exec", ToolClass::Shell),
    ("apply_patch", ToolClass::File),
    ("read_file", ToolClass::File),
    ("list_dir", ToolClass::File),
    ("grep_files", ToolClass::Search),
    ("web_search", ToolClass::Search),
    ("view_image", ToolClass::Media),
    ("update_plan", ToolClass::Planning),
    ("spawn_agent", ToolClass::Agent),
    ("send_input", ToolClass::Agent),
    ("wait", ToolClass::Agent),
    ("close_agent", ToolClass::Agent),
];

/// Built-in tools of the Gemini CLI.
pub const GEMINI_CLI_TOOLS: &[(&str, ToolClass)] = &[
    ("run_shell_command", ToolClass::Shell),
    ("read_file", ToolClass::File),
    ("read_many_files", ToolClass::File),
    ("write_file", ToolClass::File),
    ("replace", ToolClass::File),
    ("list_directory", ToolClass::File),
    ("glob", ToolClass::Search),
    ("search_file_content", ToolClass::Search),
    ("grep_search", ToolClass::Search),
    ("google_web_search", ToolClass::Search),
    ("web_fetch", ToolClass::Http),
    ("save_memory", ToolClass::Memory),
    ("write_todos", ToolClass::Planning),
    ("delegate_to_agent", ToolClass::Agent),
    ("codebase_investigator", ToolClass::Agent),
    ("activate_skill", ToolClass::System),
];

/// The tool table of a pack.
fn table(pack: Pack) -> &'static [(&'static str, ToolClass)] {
    match pack {
        Pack::Openclaw | Pack::Roundhouse | Pack::Pi => PI_TOOLS,
        Pack::ClaudeCode => CLAUDE_CODE_TOOLS,
        Pack::Codex => CODEX_TOOLS,
        Pack::GeminiCli => GEMINI_CLI_TOOLS,
        Pack::Telemetron => &[],
    }
}

/// True for the naming conventions agents use for MCP tools
/// (`mcp__server__tool`, `mcp_server_tool`, `mcp:server:tool`; Codex
/// and Gemini CLI name them `server__tool`; a built-in never has a double
/// underscore).
fn is_mcp(pack: Pack, lower: &str) -> bool {
    lower.starts_with("mcp__")
        || lower.starts_with("mcp_")
        || lower.starts_with("mcp:")
        || (matches!(pack, Pack::Codex | Pack::GeminiCli) && lower.contains("__"))
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
        for table in [PI_TOOLS, CLAUDE_CODE_TOOLS, CODEX_TOOLS, GEMINI_CLI_TOOLS] {
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
