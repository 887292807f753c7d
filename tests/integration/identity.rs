//! Identity by content, per pack and file operation (issue #13). Filled in below.
