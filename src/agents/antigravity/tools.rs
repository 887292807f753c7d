//! Antigravity's tools. Its generation records carry usage, not tool
//! calls, so no tool is counted; the table names the built-ins for the
//! registry (see [`crate::classify::tools`]).

use crate::metrics::ToolClass;

/// Antigravity's built-in tools.
pub const TOOLS: &[(&str, ToolClass)] = &[
    ("run_command", ToolClass::Shell),
    ("view_file", ToolClass::File),
    ("write_to_file", ToolClass::File),
    ("replace_file_content", ToolClass::File),
    ("grep_search", ToolClass::Search),
    ("find_by_name", ToolClass::Search),
    ("read_url_content", ToolClass::Http),
    ("search_web", ToolClass::Search),
    ("browser_subagent", ToolClass::Browser),
];
