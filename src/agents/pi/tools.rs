//! The built-in tools of pi (also run by OpenClaw and roundhouse) and their classes: the only tool names that
//! reach the wire as they are (see [`crate::classify::tools`]).

use crate::metrics::ToolClass;

/// Built-in tools of the pi-shaped agents (pi itself, OpenClaw, and
/// roundhouse, which runs pi). One table: OpenClaw and roundhouse expose a
/// superset of pi's tools under the same names.
pub const TOOLS: &[(&str, ToolClass)] = &[
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
