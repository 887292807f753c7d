//! Export: turning a batch of points into one OTLP request, encoding it,
//! and delivering it.
//!
//! [`encode`] is pure (points in, bytes out) so the dry run can print the
//! exact body; [`http`] is the only code that talks to the network.

pub mod encode;
pub mod http;
pub mod network;
pub mod proto;
