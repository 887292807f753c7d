//! The built-in tools of Claude Code and their classes: the only tool names that
//! reach the wire as they are (see [`crate::classify::tools`]).

use crate::metrics::ToolClass;

/// Built-in tools of Claude Code (names as the model calls them,
/// lower-cased: `Bash` → `bash`). MCP tools are `mcp__<server>__<tool>`.
pub const TOOLS: &[(&str, ToolClass)] = &[
    ("bash", ToolClass::Shell),
    ("bashoutput", ToolClass::Shell),
    ("killshell", ToolClass::Shell),
    ("killbash", ToolClass::Shell),
    ("read", ToolClass::File),
    ("write", ToolClass::File),
    ("edit", ToolClass::File),
    ("multiedit", ToolClass::File),
    ("notebookedit", ToolClass::File),
    ("notebookread", ToolClass::File),
    ("ls", ToolClass::File),
    ("glob", ToolClass::Search),
    ("grep", ToolClass::Search),
    ("toolsearch", ToolClass::Search),
    ("webfetch", ToolClass::Http),
    ("websearch", ToolClass::Search),
    ("task", ToolClass::Agent),
    ("agent", ToolClass::Agent),
    ("taskoutput", ToolClass::Agent),
    ("taskstop", ToolClass::Agent),
    ("todowrite", ToolClass::Planning),
    ("todoread", ToolClass::Planning),
    ("exitplanmode", ToolClass::Planning),
    ("enterplanmode", ToolClass::Planning),
    ("askuserquestion", ToolClass::Message),
    ("skill", ToolClass::System),
    ("slashcommand", ToolClass::System),
    ("listmcpresourcestool", ToolClass::Mcp),
    ("readmcpresourcetool", ToolClass::Mcp),
];
