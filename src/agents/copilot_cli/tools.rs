//! The built-in tools of GitHub Copilot CLI and their classes: the only
//! tool names that reach the wire as they are (see
//! [`crate::classify::tools`]).

use crate::metrics::ToolClass;

/// Copilot CLI's built-in tools (`gen_ai.tool.name`).
pub const TOOLS: &[(&str, ToolClass)] = &[
    ("bash", ToolClass::Shell),
    ("powershell", ToolClass::Shell),
    ("write_bash", ToolClass::Shell),
    ("read_bash", ToolClass::Shell),
    ("stop_bash", ToolClass::Shell),
    ("view", ToolClass::File),
    ("create", ToolClass::File),
    ("edit", ToolClass::File),
    ("str_replace_editor", ToolClass::File),
    ("glob", ToolClass::Search),
    ("grep", ToolClass::Search),
    ("web_fetch", ToolClass::Http),
    ("task", ToolClass::Agent),
    ("update_todo", ToolClass::Planning),
    ("report_intent", ToolClass::Planning),
    ("think", ToolClass::Planning),
];
