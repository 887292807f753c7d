//! Bounded classification tables: raw names from session files go in, only
//! members of the contract's closed enumerations come out.
//!
//! These functions are the single place where text from a session file
//! (a provider, a model id, a tool name, an error kind) is looked at. They
//! return `&'static` values from tables in the source, never a slice of
//! their input, so nothing read from a file can reach a payload.

pub mod errors;
pub mod models;
pub mod tools;
