//! The built-in tools of Codex and their classes: the only tool names that
//! reach the wire as they are (see [`crate::classify::tools`]).

use crate::metrics::ToolClass;

/// Built-in tools of the Codex CLI (`function_call` / `custom_tool_call`
/// names; `local_shell_call` and `web_search_call` items are named
/// `local_shell` and `web_search`). MCP tools are `<server>__<tool>`.
pub const TOOLS: &[(&str, ToolClass)] = &[
    ("shell", ToolClass::Shell),
    ("shell_command", ToolClass::Shell),
    ("container.exec", ToolClass::Shell),
    ("local_shell", ToolClass::Shell),
    ("exec_command", ToolClass::Shell),
    ("write_stdin", ToolClass::Shell),
    ("unified_exec", ToolClass::Shell),
    ("apply_patch", ToolClass::File),
    ("read_file", ToolClass::File),
    ("list_dir", ToolClass::File),
    ("grep_files", ToolClass::Search),
    ("web_search", ToolClass::Search),
    ("view_image", ToolClass::Media),
    ("update_plan", ToolClass::Planning),
    ("spawn_agent", ToolClass::Agent),
    ("send_input", ToolClass::Agent),
    ("wait", ToolClass::Agent),
    ("close_agent", ToolClass::Agent),
];
