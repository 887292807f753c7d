//! The built-in tools of opencode (and Kilo, its fork) and their classes:
//! the only tool names that reach the wire as they are (see
//! [`crate::classify::tools`]). MCP tools are `<server>_<tool>`.

use crate::metrics::ToolClass;

/// opencode's `packages/opencode/src/tool/` registry.
pub const TOOLS: &[(&str, ToolClass)] = &[
    ("bash", ToolClass::Shell),
    ("read", ToolClass::File),
    ("write", ToolClass::File),
    ("edit", ToolClass::File),
    ("multiedit", ToolClass::File),
    ("patch", ToolClass::File),
    ("apply_patch", ToolClass::File),
    ("list", ToolClass::File),
    ("glob", ToolClass::Search),
    ("grep", ToolClass::Search),
    ("codesearch", ToolClass::Search),
    ("websearch", ToolClass::Search),
    ("webfetch", ToolClass::Http),
    ("task", ToolClass::Agent),
    ("todowrite", ToolClass::Planning),
    ("todoread", ToolClass::Planning),
    ("skill", ToolClass::System),
    ("lsp", ToolClass::Search),
    ("question", ToolClass::Message),
    ("batch", ToolClass::System),
];
