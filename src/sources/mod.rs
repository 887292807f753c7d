//! Reading mechanisms shared by every agent: a growing file read from a
//! byte offset ([`growing`]), and how a source is recognised across runs
//! whatever its path or inode ([`identity`]).

pub mod compressed;
pub mod growing;
pub mod identity;
