//! Grok Build's tools, by the Agent Client Protocol's tool `kind` (the
//! updates name a tool call by its kind and a free-text title, which is
//! never read): the only names that reach the wire (see
//! [`crate::classify::tools`]).

use crate::metrics::ToolClass;

/// ACP tool kinds.
pub const TOOLS: &[(&str, ToolClass)] = &[
    ("execute", ToolClass::Shell),
    ("read", ToolClass::File),
    ("edit", ToolClass::File),
    ("delete", ToolClass::File),
    ("move", ToolClass::File),
    ("search", ToolClass::Search),
    ("fetch", ToolClass::Http),
    ("think", ToolClass::Planning),
    ("switch_mode", ToolClass::System),
];
