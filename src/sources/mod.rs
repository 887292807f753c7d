//! Reading mechanisms shared by every agent: a growing file read from a
//! byte offset ([`growing`]), a compressed file read whole
//! ([`compressed`]), a SQLite table read with a keyset cursor
//! ([`sqlite`]), and how a source is recognised across runs whatever its
//! path or inode ([`identity`]).

pub mod compressed;
pub mod growing;
pub mod identity;
pub mod sqlite;
