//! The built-in tools of Kimi CLI and their classes: the only tool names
//! that reach the wire as they are (see [`crate::classify::tools`]).

use crate::metrics::ToolClass;

/// Kimi CLI's built-in tools (`src/kimi_cli/tools/`).
pub const TOOLS: &[(&str, ToolClass)] = &[
    ("shell", ToolClass::Shell),
    ("bash", ToolClass::Shell),
    ("readfile", ToolClass::File),
    ("readmediafile", ToolClass::Media),
    ("writefile", ToolClass::File),
    ("strreplacefile", ToolClass::File),
    ("patchfile", ToolClass::File),
    ("glob", ToolClass::Search),
    ("grep", ToolClass::Search),
    ("searchweb", ToolClass::Search),
    ("fetchurl", ToolClass::Http),
    ("task", ToolClass::Agent),
    ("settodolist", ToolClass::Planning),
    ("think", ToolClass::Planning),
];
