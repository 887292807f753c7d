//! One module per on-disk session format. A format module turns complete
//! lines (bytes) into counts and owns the per-file context it needs between
//! runs; it never does I/O.

pub mod pi;
