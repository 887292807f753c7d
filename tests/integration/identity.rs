//! Identity by content, per pack and file operation, through the binary (issue #13).
