//! Reading mechanisms shared by every agent: how a source is recognised
//! across runs ([`identity`]).

pub mod identity;
