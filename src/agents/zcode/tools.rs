//! ZCode's tools. Its database records model calls, not tool calls, so no
//! tool is counted; the table names the built-ins for completeness of
//! the registry (see [`crate::classify::tools`]).

use crate::metrics::ToolClass;

/// ZCode's built-in tools (Claude Code-compatible names).
pub const TOOLS: &[(&str, ToolClass)] = &[
    ("bash", ToolClass::Shell),
    ("read", ToolClass::File),
    ("write", ToolClass::File),
    ("edit", ToolClass::File),
    ("glob", ToolClass::Search),
    ("grep", ToolClass::Search),
    ("webfetch", ToolClass::Http),
    ("websearch", ToolClass::Search),
    ("task", ToolClass::Agent),
    ("todowrite", ToolClass::Planning),
];
