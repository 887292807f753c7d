//! The built-in tools of Goose (its `developer` and platform extensions),
//! the only tool names that reach the wire as they are (see
//! [`crate::classify::tools`]). Extension tools are `<extension>__<tool>`.

use crate::metrics::ToolClass;

/// Goose's built-in tools.
pub const TOOLS: &[(&str, ToolClass)] = &[
    ("developer__shell", ToolClass::Shell),
    ("developer__text_editor", ToolClass::File),
    ("developer__list_windows", ToolClass::System),
    ("developer__screen_capture", ToolClass::Media),
    ("developer__image_processor", ToolClass::Media),
    ("platform__manage_extensions", ToolClass::System),
    ("platform__search_available_extensions", ToolClass::Search),
    ("todo__todo_write", ToolClass::Planning),
    ("dynamic_task__create_task", ToolClass::Agent),
    ("subagent__execute_task", ToolClass::Agent),
];
