//! Reading the agents' SQLite stores (OpenClaw's per-agent database):
//! every session of a store is a source of its own, whose cursor is the
//! last `seq` counted ([`crate::sources::sqlite`]).
//!
//! State, in the same map as files' (committed with them):
//!
//! - the store itself, under its path: its stat (database and write-ahead
//!   log), so that an unchanged store is not opened;
//! - each of its sessions, under `<store path>\u{1}<session id>`: `offset`
//!   is one past the last `seq` counted, `lines` the rows counted, and the
//!   pi format's context (`pi`) as for a transcript file.
//!
//! A session is what it holds, wherever it was read before: its rows are
//! counted with the pi deriver and the high-water marks of every known
//! pi-format session, so a session imported from a transcript file that
//! was counted (OpenClaw's `doctor --session-sqlite import`) counts only
//! what the file had not yet shown, and a transcript file of a session
//! counted here is recognised in turn. Stores are read after the files of
//! a run, with the marks those files reached, so a session present both as
//! a file and in a store counts once even when both are new.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::agents::pi::records as pi;
use crate::agents::{self, StoreRead};
use crate::metrics::{Counts, LineResult, Series, SessionType};
use crate::pipeline::discover::Source;
use crate::sources::sqlite;
use crate::state::FileState;

/// The separator between a store's path and a session id in a state key
/// (a byte no path or session id holds).
pub const SESSION_SEP: char = '\u{1}';

/// The state key of a session of a store.
pub fn session_key(store: &str, session: &str) -> String {
    format!("{store}{SESSION_SEP}{session}")
}

/// The store a state key belongs to, if it is a store session's.
pub fn store_of(key: &str) -> Option<&str> {
    key.split_once(SESSION_SEP).map(|(s, _)| s)
}

/// What reading the stores produced.
#[derive(Debug, Default)]
pub struct StoresScan {
    /// Everything counted.
    pub counts: Counts,
    /// New states (stores and their sessions).
    pub files_after: BTreeMap<String, FileState>,
    /// Stores that could not be read, one message each.
    pub warnings: Vec<String>,
    /// Rows read.
    pub rows: u64,
    /// Sessions that had new rows.
    pub sessions_read: usize,
    /// Session keys of the stores read this run that no longer hold them.
    pub sessions_gone: Vec<String>,
}

/// Reads every changed store after its cursors.
pub fn scan(
    stores: &[Source],
    files: &BTreeMap<String, FileState>,
    known: &pi::KnownSessions,
    new_at_end: bool,
) -> StoresScan {
    let mut out = StoresScan::default();
    for src in stores {
        let key = crate::pipeline::count::key_of(&src.path);
        if files.get(&key).is_some_and(|st| crate::pipeline::count::unchanged(st, &src.meta)) {
            continue;
        }
        let Some(store) = agents::agent(src.pack).and_then(|a| a.store) else { continue };
        let read = sqlite::open(&src.path).and_then(|conn| {
            // One read transaction: every session is read at the same
            // snapshot.
            conn.execute_batch("BEGIN")?;
            let ctx = StoreCtx {
                conn: &conn,
                src,
                key: &key,
                files,
                new_at_end,
                out: RefCell::new(&mut out),
            };
            match &store.read {
                StoreRead::PiRecords { table, session_types } => {
                    read_pi_records(&ctx, table, *session_types, known)?
                }
                StoreRead::SessionTotals(read) => read(&ctx)?,
            }
            conn.execute_batch("COMMIT")
        });
        match read {
            Ok(()) => {
                let st = FileState {
                    pack: src.pack.as_str().to_string(),
                    dev: src.meta.dev,
                    ino: src.meta.ino,
                    size: src.meta.size,
                    mtime_ns: src.meta.mtime_ns,
                    session_type: SessionType::Main.as_str().to_string(),
                    ..FileState::default()
                };
                out.files_after.insert(key, st);
            }
            Err(e) => out.warnings.push(format!(
                "{}: cannot read this SQLite store: {}; skipped this run (its other sources are \
                 unaffected)",
                src.path.display(),
                sqlite::describe(&e, store.expects)
            )),
        }
    }
    out
}

/// What a store's reader is given: the open store (in a read
/// transaction), its source and state key, every known state, and where
/// its results go.
pub struct StoreCtx<'a> {
    /// The store, open read-only.
    pub conn: &'a rusqlite::Connection,
    /// The store as discovered.
    pub src: &'a Source,
    /// Its state key.
    pub key: &'a str,
    /// Every state.
    pub files: &'a BTreeMap<String, FileState>,
    /// True when the state was lost: what is there now was delivered.
    pub new_at_end: bool,
    /// Where counts and new states go.
    pub out: RefCell<&'a mut StoresScan>,
}

impl StoreCtx<'_> {
    /// Records a session's new state and what it counted.
    pub fn counted(&self, skey: String, st: FileState, counts: Counts, rows: u64) {
        let mut out = self.out.borrow_mut();
        out.rows += rows;
        if rows > 0 {
            out.sessions_read += 1;
        }
        out.counts.merge(counts);
        out.files_after.insert(skey, st);
    }

    /// Marks the known sessions of this store that are no longer in it.
    pub fn present(&self, present: &HashSet<String>) {
        let prefix = format!("{}{SESSION_SEP}", self.key);
        let mut out = self.out.borrow_mut();
        for k in self.files.keys().filter(|k| k.starts_with(&prefix)) {
            if !present.contains(k) {
                out.sessions_gone.push(k.clone());
            }
        }
    }
}

/// Reads a store of pi-format records: every session's rows after its
/// cursor.
fn read_pi_records(
    ctx: &StoreCtx,
    table: &sqlite::KeysetTable,
    session_types: fn(&rusqlite::Connection) -> rusqlite::Result<SessionTypes>,
    known: &pi::KnownSessions,
) -> rusqlite::Result<()> {
    let (conn, src, key, files, new_at_end) =
        (ctx.conn, ctx.src, ctx.key, ctx.files, ctx.new_at_end);
    let types = session_types(conn)?;
    let table = table.resolve(conn)?;
    let sessions = table.partitions(conn)?;
    let mut present = HashSet::new();
    for session in &sessions {
        let skey = session_key(key, session);
        present.insert(skey.clone());
        let old = files.get(&skey);
        let mut st = old.cloned().unwrap_or_else(|| FileState {
            pack: src.pack.as_str().to_string(),
            session_type: types.get(session).copied().unwrap_or(SessionType::Main).as_str().into(),
            ..FileState::default()
        });
        st.missing_since_unix_nano = None;
        let after = match old {
            Some(o) if o.offset > 0 => Some(o.offset as i64 - 1),
            Some(_) => None,
            // The state was lost: what is there now was delivered before.
            None if new_at_end => table.last(conn, session)?,
            None => None,
        };
        if old.is_none() && after.is_some() {
            st.offset = after.map_or(0, |s| s as u64 + 1);
            ctx.counted(skey, st, Counts::default(), 0);
            continue;
        }
        let session_type = parse_type(&st.session_type);
        let mut counts = Counts::default();
        let mut results = [0u64; 4];
        let mut last = after;
        let n = {
            let mut d = pi::Deriver {
                pack: src.pack,
                session_type,
                state: &mut st.pi,
                known,
                fork: pi::Fork::default(),
            };
            table.read_after(conn, session, after, |seq, payload| {
                let r = if payload.iter().all(u8::is_ascii_whitespace) {
                    LineResult::Ignored
                } else {
                    d.line(payload, &mut counts)
                };
                results[r as usize] += 1;
                last = Some(seq);
            })?
        };
        if n == 0 && old.is_some() {
            continue;
        }
        for r in LineResult::ALL {
            counts.add(Series::Lines { pack: src.pack, result: *r }, results[*r as usize]);
        }
        st.lines += n;
        st.offset = last.map_or(0, |s| s as u64 + 1);
        ctx.counted(skey, st, counts, n);
    }
    ctx.present(&present);
    Ok(())
}

/// Parses a stored session type.
fn parse_type(s: &str) -> SessionType {
    SessionType::ALL.iter().copied().find(|t| t.as_str() == s).unwrap_or(SessionType::Unknown)
}

/// Session types from a map filled by an agent's store reader.
pub type SessionTypes = HashMap<String, SessionType>;
