//! The built-in tools of Qwen Code and their classes: the only tool names
//! that reach the wire as they are (see [`crate::classify::tools`]). MCP
//! tools are `<server>__<tool>`.

use crate::metrics::ToolClass;

/// Qwen Code's built-in tools (`packages/core/src/tools/`).
pub const TOOLS: &[(&str, ToolClass)] = &[
    ("run_shell_command", ToolClass::Shell),
    ("read_file", ToolClass::File),
    ("read_many_files", ToolClass::File),
    ("write_file", ToolClass::File),
    ("edit", ToolClass::File),
    ("replace", ToolClass::File),
    ("list_directory", ToolClass::File),
    ("glob", ToolClass::Search),
    ("grep_search", ToolClass::Search),
    ("search_file_content", ToolClass::Search),
    ("web_search", ToolClass::Search),
    ("web_fetch", ToolClass::Http),
    ("save_memory", ToolClass::Memory),
    ("todo_write", ToolClass::Planning),
    ("exit_plan_mode", ToolClass::Planning),
    ("task", ToolClass::Agent),
    ("skill", ToolClass::System),
];
