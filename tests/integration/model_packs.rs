//! Model-based test over every pack (issue #13). Filled in below.
