//! Codebuff's tools. Its chat files keep messages and their usage, not
//! tool calls, so no tool is counted; the table names the built-ins for
//! the registry (see [`crate::classify::tools`]).

use crate::metrics::ToolClass;

/// Codebuff's built-in tools.
pub const TOOLS: &[(&str, ToolClass)] = &[
    ("run_terminal_command", ToolClass::Shell),
    ("read_files", ToolClass::File),
    ("write_file", ToolClass::File),
    ("str_replace", ToolClass::File),
    ("find_files", ToolClass::Search),
    ("code_search", ToolClass::Search),
    ("web_search", ToolClass::Search),
    ("spawn_agents", ToolClass::Agent),
    ("think_deeply", ToolClass::Planning),
];
