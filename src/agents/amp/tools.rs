//! The built-in tools of Amp and their classes: the only tool names that
//! reach the wire as they are (see [`crate::classify::tools`]). MCP tools
//! are `mcp__<server>__<tool>`.

use crate::metrics::ToolClass;

/// Amp's built-in tools.
pub const TOOLS: &[(&str, ToolClass)] = &[
    ("bash", ToolClass::Shell),
    ("read", ToolClass::File),
    ("create_file", ToolClass::File),
    ("edit_file", ToolClass::File),
    ("undo_edit", ToolClass::File),
    ("list_directory", ToolClass::File),
    ("glob", ToolClass::Search),
    ("grep", ToolClass::Search),
    ("codebase_search_agent", ToolClass::Agent),
    ("web_search", ToolClass::Search),
    ("read_web_page", ToolClass::Http),
    ("task", ToolClass::Agent),
    ("oracle", ToolClass::Agent),
    ("todo_write", ToolClass::Planning),
    ("todo_read", ToolClass::Planning),
    ("mermaid", ToolClass::Media),
    ("format_file", ToolClass::File),
    ("get_diagnostics", ToolClass::System),
];
