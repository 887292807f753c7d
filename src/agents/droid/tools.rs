//! Droid's tools. Its settings files keep totals, not tool calls, so no
//! tool is counted; the table names the built-ins for the registry (see
//! [`crate::classify::tools`]).

use crate::metrics::ToolClass;

/// Droid's built-in tools.
pub const TOOLS: &[(&str, ToolClass)] = &[
    ("execute", ToolClass::Shell),
    ("read", ToolClass::File),
    ("edit", ToolClass::File),
    ("multiedit", ToolClass::File),
    ("create", ToolClass::File),
    ("ls", ToolClass::File),
    ("glob", ToolClass::Search),
    ("grep", ToolClass::Search),
    ("websearch", ToolClass::Search),
    ("fetchurl", ToolClass::Http),
    ("task", ToolClass::Agent),
    ("todowrite", ToolClass::Planning),
];
