//! Placeholder (issue #13).
