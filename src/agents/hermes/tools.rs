//! The built-in tools of Hermes Agent and their classes (its tool
//! registry's names). Hermes's session store records no tool calls, so this
//! table is not used for counting yet; it is here so that a tool call read
//! from Hermes is classified like any other pack's.

use crate::metrics::ToolClass;

/// Built-in tools of Hermes Agent (`tools/registry.py`).
pub const TOOLS: &[(&str, ToolClass)] = &[
    ("terminal", ToolClass::Shell),
    ("process", ToolClass::Shell),
    ("execute_code", ToolClass::Shell),
    ("read_file", ToolClass::File),
    ("write_file", ToolClass::File),
    ("patch", ToolClass::File),
    ("search_files", ToolClass::Search),
    ("web_search", ToolClass::Search),
    ("web_extract", ToolClass::Http),
    ("browser_navigate", ToolClass::Browser),
    ("vision_analyze", ToolClass::Media),
    ("image_generate", ToolClass::Media),
    ("text_to_speech", ToolClass::Media),
    ("memory", ToolClass::Memory),
    ("session_search", ToolClass::Memory),
    ("todo", ToolClass::Planning),
    ("clarify", ToolClass::Message),
    ("send_message", ToolClass::Message),
    ("delegate_task", ToolClass::Agent),
    ("skill_view", ToolClass::System),
    ("skills_list", ToolClass::System),
    ("skill_manage", ToolClass::System),
    ("cronjob", ToolClass::System),
];
