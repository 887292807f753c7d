//! The built-in tools of Gemini CLI and their classes: the only tool names that
//! reach the wire as they are (see [`crate::classify::tools`]).

use crate::metrics::ToolClass;

/// Built-in tools of the Gemini CLI.
pub const TOOLS: &[(&str, ToolClass)] = &[
    ("run_shell_command", ToolClass::Shell),
    ("read_file", ToolClass::File),
    ("read_many_files", ToolClass::File),
    ("write_file", ToolClass::File),
    ("replace", ToolClass::File),
    ("list_directory", ToolClass::File),
    ("glob", ToolClass::Search),
    ("search_file_content", ToolClass::Search),
    ("grep_search", ToolClass::Search),
    ("google_web_search", ToolClass::Search),
    ("web_fetch", ToolClass::Http),
    ("save_memory", ToolClass::Memory),
    ("write_todos", ToolClass::Planning),
    ("delegate_to_agent", ToolClass::Agent),
    ("codebase_investigator", ToolClass::Agent),
    ("activate_skill", ToolClass::System),
];
