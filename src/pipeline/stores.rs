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

use rayon::prelude::*;

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
    /// Records counted once by id ([`crate::agents::usage`]), settled
    /// after the files' claims.
    pub claims: crate::state::claims::Claims,
}

/// Reads every changed store after its cursors (JSON documents on
/// `threads` threads).
pub fn scan(
    stores: &[Source],
    files: &BTreeMap<String, FileState>,
    known: &pi::KnownSessions,
    new_at_end: bool,
    threads: usize,
) -> StoresScan {
    let mut out = StoresScan::default();
    // JSON documents are many and independent: they are read in parallel
    // after the databases, and their results merged in path order.
    let mut documents = Vec::new();
    for src in stores {
        let key = crate::pipeline::count::key_of(&src.path);
        if files.get(&key).is_some_and(|st| crate::pipeline::count::unchanged(st, &src.meta)) {
            continue;
        }
        let name = src.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(agent) = agents::agent(src.pack) else { continue };
        // Discovery found it by this name.
        let Some(store) = agents::store_named(agent, name) else { continue };
        if let StoreRead::Document(parse) = &store.read {
            documents.push((src, key, *parse));
            continue;
        }
        let read = sqlite::open(&src.path).and_then(|conn| {
            // One read transaction: every session is read at the same
            // snapshot.
            conn.execute_batch("BEGIN")?;
            let ctx = StoreCtx {
                conn: &conn,
                claims: RefCell::new(crate::state::claims::Claims::default()),
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
                StoreRead::Sqlite(read) => read(&ctx)?,
                StoreRead::Document(_) => unreachable!("documents are read above"),
            }
            let claims = ctx.claims.into_inner();
            out.claims.append(claims);
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
    let read_all = || -> Vec<StoresScan> {
        documents
            .par_iter()
            .map(|(src, key, parse)| {
                let mut part = StoresScan::default();
                read_document(src, key, *parse, files, new_at_end, &mut part);
                part
            })
            .collect()
    };
    // As many threads as the files' scan (`threads`, 0: one per core).
    let parts = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) if !documents.is_empty() => pool.install(read_all),
        _ => read_all(),
    };
    for p in parts {
        out.counts.merge(p.counts);
        out.files_after.extend(p.files_after);
        out.warnings.extend(p.warnings);
        out.rows += p.rows;
        out.sessions_read += p.sessions_read;
        out.claims.append(p.claims);
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
    /// Records filed to count once by id.
    pub claims: RefCell<crate::state::claims::Claims>,
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

    /// Reads one table of the store from its cursor
    /// ([`sqlite::rows_from`]: rows completed in place are read again until
    /// complete), as a source of its own under `<store>\u{1}<table>`.
    /// `row` counts a row (column 0 is `key`, then `columns`, the first of
    /// which identifies a row) through the recorder, and says whether it is
    /// complete and how it was read. Returns the table's state key.
    pub fn read_table(
        &self,
        table: &str,
        key: &str,
        columns: &str,
        mut row: impl FnMut(
            &rusqlite::Row<'_>,
            &mut crate::agents::usage::Recorder<'_>,
        ) -> rusqlite::Result<(bool, LineResult)>,
    ) -> rusqlite::Result<String> {
        let (skey, old, mut st) = self.state_of(table);
        let from = if old.is_none() && self.new_at_end {
            // The state was lost: what is there now was delivered before.
            st.usage.started = true;
            let last: Option<i64> =
                self.conn
                    .query_row(&format!("SELECT max({key}) FROM \"{table}\""), [], |r| r.get(0))?;
            let at = last.map_or(0, |l| l + 1);
            let ident = columns.split(',').next().unwrap_or("NULL").trim();
            sqlite::Cursor { at, anchor: sqlite::anchor_of(self.conn, table, key, ident, at)? }
        } else {
            sqlite::Cursor {
                at: i64::try_from(st.offset).unwrap_or(i64::MAX),
                anchor: st.usage.chain,
            }
        };
        let (mut counts, mut claims) = (self.src.dated(), crate::state::claims::Claims::default());
        let mut results = [0u64; 4];
        let (next, rows) = {
            let mut rec = crate::agents::usage::Recorder::new(
                self.src.pack,
                SessionType::Main,
                &mut st.usage,
                &mut counts,
                &mut claims,
            );
            sqlite::rows_from(self.conn, table, key, columns, from, |r| {
                let (complete, result) = row(r, &mut rec)?;
                results[result as usize] += 1;
                Ok(complete)
            })?
        };
        for r in LineResult::ALL {
            counts.add(Series::Lines { pack: self.src.pack, result: *r }, results[*r as usize]);
        }
        st.offset = u64::try_from(next.at).unwrap_or(0);
        st.usage.chain = next.anchor;
        st.lines += rows;
        self.claim(claims);
        self.counted(skey.clone(), st, counts, rows);
        Ok(skey)
    }

    /// Files records to count once by id.
    pub fn claim(&self, claims: crate::state::claims::Claims) {
        self.claims.borrow_mut().append(claims);
    }

    /// The state of one of this store's cursors or sessions (`part`), or a
    /// new one of the store's pack.
    pub fn state_of(&self, part: &str) -> (String, Option<&FileState>, FileState) {
        let skey = session_key(self.key, part);
        let old = self.files.get(&skey);
        let st = resumed(old, self.src.pack);
        (skey, old, st)
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

/// A source's state to go on from: its old one found again, or a new one
/// of its pack (a main session's).
fn resumed(old: Option<&FileState>, pack: crate::metrics::Pack) -> FileState {
    let mut st = old.cloned().unwrap_or_else(|| FileState {
        pack: pack.as_str().to_string(),
        session_type: SessionType::Main.as_str().to_string(),
        ..FileState::default()
    });
    st.missing_since_unix_nano = None;
    st
}

/// Reads a JSON document an agent rewrites ([`crate::agents::usage`]):
/// whole, its records after those counted. One that cannot be parsed (caught
/// half-written) is left for the next run, its state unchanged.
fn read_document(
    src: &Source,
    key: &str,
    parse: crate::agents::usage::DocParser,
    files: &BTreeMap<String, FileState>,
    new_at_end: bool,
    out: &mut StoresScan,
) {
    let old = files.get(key);
    let mut st = resumed(old, src.pack);
    let bytes = match std::fs::read(&src.path) {
        Ok(b) => b,
        Err(e) => {
            out.warnings.push(format!(
                "{}: cannot read: {e}; skipped this run (its other sources are unaffected)",
                src.path.display()
            ));
            return;
        }
    };
    let mut counts = src.dated();
    let mut claims = crate::state::claims::Claims::default();
    let quiet = old.is_none() && new_at_end;
    let name = |p: Option<&std::path::Path>| {
        p.and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    };
    let scope = format!("{}/{}", name(src.path.parent()), name(Some(&src.path)));
    let read = crate::agents::usage::read_document(
        parse,
        &bytes,
        &scope,
        src.pack,
        &mut st.usage,
        &mut counts,
        &mut claims,
        quiet,
    );
    let result = match read {
        Ok(()) => LineResult::Parsed,
        Err(why) => {
            out.warnings.push(format!(
                "{}: {why}; skipped this run and read again when it next changes (nothing of it \
                 was counted)",
                src.path.display()
            ));
            LineResult::Malformed
        }
    };
    if !quiet {
        counts.add(Series::Lines { pack: src.pack, result }, 1);
    }
    out.rows += bytes.len() as u64;
    out.sessions_read += 1;
    out.counts.merge(counts);
    if result == LineResult::Parsed {
        out.claims.append(claims);
        st.dev = src.meta.dev;
        st.ino = src.meta.ino;
        st.size = src.meta.size;
        st.mtime_ns = src.meta.mtime_ns;
        st.lines += 1;
        out.files_after.insert(key.to_string(), st);
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
    // What each session to read starts from.
    let mut jobs: Vec<Job> = Vec::new();
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
        if old.is_some() {
            pi::catch_up(&mut st.pi, known);
        }
        jobs.push(Job { session: session.as_str(), skey, st, after, known_before: old.is_some() });
    }
    // SQLite reads on this thread while the rows are counted on another:
    // the two overlap, in one read transaction.
    let reads: Vec<(&str, Option<i64>)> = jobs.iter().map(|j| (j.session, j.after)).collect();
    let pack = src.pack;
    let done = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(4);
        let counter = scope.spawn(move || count_rows(pack, jobs, known, rx));
        let mut failed = None;
        for (i, (session, after)) in reads.iter().enumerate() {
            let mut batch = Batch { job: i, rows: Vec::new(), bytes: 0 };
            let read = table.read_after(conn, session, *after, |seq, payload| {
                batch.bytes += payload.len();
                batch.rows.push((seq, payload.to_vec()));
                if batch.bytes >= BATCH_BYTES {
                    let full =
                        std::mem::replace(&mut batch, Batch { job: i, rows: Vec::new(), bytes: 0 });
                    let _ = tx.send(full);
                }
            });
            if let Err(e) = read {
                failed = Some(e);
                break;
            }
            let _ = tx.send(batch);
        }
        drop(tx);
        let done = counter.join().expect("the row counter does not panic");
        match failed {
            Some(e) => Err(e),
            None => Ok(done),
        }
    })?;
    for (skey, st, counts, n) in done {
        ctx.counted(skey, st, counts, n);
    }
    ctx.present(&present);
    Ok(())
}

/// How many bytes of rows travel to the counting thread at a time.
const BATCH_BYTES: usize = 1 << 20;

/// A session of a store to read.
struct Job<'a> {
    session: &'a str,
    skey: String,
    st: FileState,
    after: Option<i64>,
    /// True when the state knew the session before this run.
    known_before: bool,
}

/// Rows of one job, in sequence order.
struct Batch {
    job: usize,
    rows: Vec<(i64, Vec<u8>)>,
    bytes: usize,
}

/// Counts the rows of every job as they arrive (jobs in order, each job's
/// batches in order); returns each session that read rows, or that is new,
/// with its new state, counts and rows read.
fn count_rows(
    pack: crate::metrics::Pack,
    jobs: Vec<Job>,
    known: &pi::KnownSessions,
    rx: std::sync::mpsc::Receiver<Batch>,
) -> Vec<(String, FileState, Counts, u64)> {
    struct Acc {
        counts: Counts,
        results: [u64; 4],
        n: u64,
        last: Option<i64>,
    }
    let mut accs: Vec<Acc> = jobs
        .iter()
        .map(|j| Acc { counts: Counts::default(), results: [0; 4], n: 0, last: j.after })
        .collect();
    let mut jobs = jobs;
    for batch in rx {
        let (job, acc) = (&mut jobs[batch.job], &mut accs[batch.job]);
        let session_type = parse_type(&job.st.session_type);
        let mut d = pi::Deriver {
            pack,
            session_type,
            state: &mut job.st.pi,
            known,
            fork: pi::Fork::default(),
        };
        for (seq, payload) in &batch.rows {
            let r = if payload.iter().all(u8::is_ascii_whitespace) {
                LineResult::Ignored
            } else {
                d.line(payload, &mut acc.counts)
            };
            acc.results[r as usize] += 1;
            acc.last = Some(*seq);
            acc.n += 1;
        }
    }
    jobs.into_iter()
        .zip(accs)
        .filter(|(j, a)| a.n > 0 || !j.known_before)
        .map(|(mut j, mut a)| {
            for r in LineResult::ALL {
                a.counts.add(Series::Lines { pack, result: *r }, a.results[*r as usize]);
            }
            j.st.lines += a.n;
            j.st.offset = a.last.map_or(0, |s| s as u64 + 1);
            (j.skey, j.st, a.counts, a.n)
        })
        .collect()
}

/// Parses a stored session type.
fn parse_type(s: &str) -> SessionType {
    SessionType::ALL.iter().copied().find(|t| t.as_str() == s).unwrap_or(SessionType::Unknown)
}

/// Session types from a map filled by an agent's store reader.
pub type SessionTypes = HashMap<String, SessionType>;
