//! SQLite stores, read with a keyset cursor per partition.
//!
//! An agent that keeps its transcripts in a table of `(partition, seq,
//! payload)` rows (OpenClaw: `transcript_events(session_id, seq,
//! event_json)`, primary key `(session_id, seq)`) appends rows with a
//! growing `seq` per partition. The cursor of a partition is the last `seq`
//! counted; a run reads only the rows after it, through the primary key's
//! index, and the new cursor is committed with the rest of the state once
//! the collector acknowledged, exactly like a file's offset.
//!
//! A store is opened read-only (`SQLITE_OPEN_READ_ONLY`, `query_only`):
//! telemetron never writes, creates or checkpoints an agent's database. A
//! write lock held by the agent is waited for (a busy timeout), never
//! broken. Whether a store changed at all is known without opening it: its
//! stat is the database file's together with its write-ahead log's
//! ([`store_meta`]), so an unchanged store costs two `stat` calls a run.

use std::fs;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::pipeline::discover::Meta;

/// How long a read waits for a writer's lock before the store is skipped
/// for this run (and read on the next). In WAL mode, as the agents keep
/// their stores, readers never wait for writers; this bounds the wait on a
/// store in rollback-journal mode while a write commits.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// Says what went wrong with a store, for a warning that names it: locked,
/// not a database, or not the schema `expects` describes.
pub fn describe(e: &rusqlite::Error, expects: &str) -> String {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => format!(
            "locked by a writer for more than {} s ({e}); it is read again on the next run",
            BUSY_TIMEOUT.as_secs()
        ),
        Some(C::NotADatabase | C::DatabaseCorrupt) => {
            format!("not a SQLite database, or damaged ({e}); check the file, or move it away")
        }
        _ if e.to_string().contains("no such table")
            || e.to_string().contains("no such column") =>
        {
            format!(
                "not the schema expected, {expects} ({e}); is this a newer version of the agent?"
            )
        }
        _ => e.to_string(),
    }
}

/// The column names of a table (none when it does not exist).
pub fn columns(
    conn: &Connection,
    table: &str,
) -> rusqlite::Result<std::collections::HashSet<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let names = stmt.query_map([table], |r| r.get::<_, String>(0))?;
    names.collect()
}

/// Where reading a table stops: the key of the next row to read, and a
/// hash of the row just before it (its first column read), which must
/// still be there for the cursor to hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The next key to read.
    pub at: i64,
    /// The hash of the identity of the row at `at - 1` (0: none).
    pub anchor: u64,
}

/// The hash of a row's identity column (its first column read).
pub fn anchor_of(
    conn: &Connection,
    table: &str,
    key: &str,
    ident: &str,
    at: i64,
) -> rusqlite::Result<u64> {
    if at <= 0 {
        return Ok(0);
    }
    let sql = format!("SELECT CAST({ident} AS BLOB) FROM \"{table}\" WHERE {key} = ?1");
    let v: Option<Option<Vec<u8>>> = conn.query_row(&sql, [at - 1], |r| r.get(0)).optional()?;
    Ok(v.map_or(0, |b| crate::hash::fnv64(&b.unwrap_or_default()) | 1))
}

/// Reads a table whose rows are written incomplete and completed in place
/// (a message row gets its usage when the model call ends): every row at
/// or after the cursor (a value of the integer column `key`, the rowid or
/// an index the agent keeps), in key order, through the key's own index.
/// `row` is given each row (column 0 is the key, then `columns`, the first
/// of which identifies a row) and says whether it is complete. Returns
/// the next cursor (the first incomplete row, or one past the last row)
/// and the number of rows read. Complete rows before an incomplete one are
/// read again on the next run: their records count once by id.
///
/// The row before the cursor must be the one it was: when it is not (an
/// older copy of the database restored, rows deleted and their keys
/// reused), the table is read again from its start, its records counting
/// once by id.
pub fn rows_from(
    conn: &Connection,
    table: &str,
    key: &str,
    columns: &str,
    cursor: Cursor,
    mut row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<bool>,
) -> rusqlite::Result<(Cursor, u64)> {
    let ident = columns.split(',').next().unwrap_or("NULL").trim();
    let from = if cursor.at > 0 && anchor_of(conn, table, key, ident, cursor.at)? != cursor.anchor {
        0
    } else {
        cursor.at
    };
    let sql = format!("SELECT {key}, {columns} FROM \"{table}\" WHERE {key} >= ?1 ORDER BY {key}");
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([from])?;
    let (mut next, mut pending, mut n) = (from, None, 0u64);
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        n += 1;
        if !row(r)? && pending.is_none() {
            pending = Some(id);
        }
        next = id.saturating_add(1);
    }
    let at = pending.unwrap_or(next);
    Ok((Cursor { at, anchor: anchor_of(conn, table, key, ident, at)? }, n))
}

/// A table read in partitions with a keyset cursor each.
#[derive(Clone, Copy, Debug)]
pub struct KeysetTable {
    /// The table.
    pub table: &'static str,
    /// The partition column (a session id).
    pub partition: &'static str,
    /// The sequence column: an integer growing within a partition.
    pub seq: &'static str,
    /// The payload column (one record, as text or blob).
    pub payload: &'static str,
    /// A column holding the payload zstd-compressed instead, where a
    /// version of the store has one (its rows leave `payload` empty then).
    /// A store without it reads as if it were always empty.
    pub compressed: Option<&'static str>,
}

/// Opens a store read-only.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// The stat of a store as a whole: the database file's device and inode,
/// and its size and modification time together with those of its
/// write-ahead log (`<db>-wal`), where committed writes land until a
/// checkpoint. Any committed write changes it.
pub fn store_meta(db: &fs::Metadata, wal: Option<&fs::Metadata>) -> Meta {
    let mut m = Meta::of(db);
    if let Some(w) = wal.map(Meta::of) {
        m.size = m.size.wrapping_add(w.size.rotate_left(32));
        m.mtime_ns = m.mtime_ns.max(w.mtime_ns);
    }
    m
}

/// The stat of the store at `path` (see [`store_meta`]).
pub fn stat(path: &Path) -> std::io::Result<Meta> {
    let db = fs::metadata(path)?;
    let mut wal_path = path.as_os_str().to_owned();
    wal_path.push("-wal");
    let wal = fs::metadata(&wal_path).ok();
    Ok(store_meta(&db, wal.as_ref()))
}

impl KeysetTable {
    /// This table as the store at hand has it: without the compressed
    /// column when the store's version has none.
    pub fn resolve(&self, conn: &Connection) -> rusqlite::Result<KeysetTable> {
        let Some(col) = self.compressed else { return Ok(*self) };
        let sql = format!("SELECT 1 FROM pragma_table_info('{}') WHERE name = ?1", self.table);
        let has = conn.prepare(&sql)?.exists([col])?;
        Ok(KeysetTable { compressed: has.then_some(col), ..*self })
    }

    /// Every partition of the table, in key order.
    pub fn partitions(&self, conn: &Connection) -> rusqlite::Result<Vec<String>> {
        let sql = format!(
            "SELECT DISTINCT {p} FROM {t} ORDER BY {p}",
            p = self.partition,
            t = self.table
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect()
    }

    /// The last sequence number of a partition (`None` when it has no row).
    pub fn last(&self, conn: &Connection, partition: &str) -> rusqlite::Result<Option<i64>> {
        let sql = format!(
            "SELECT MAX({s}) FROM {t} WHERE {p} = ?1",
            s = self.seq,
            p = self.partition,
            t = self.table
        );
        conn.query_row(&sql, [partition], |r| r.get(0))
    }

    /// Hands every row of `partition` after `after` (all rows when `None`)
    /// to `f`, in sequence order, and returns how many there were. The
    /// rows come through the primary key's index from the cursor on:
    /// reading costs what was added, not the table's size.
    pub fn read_after(
        &self,
        conn: &Connection,
        partition: &str,
        after: Option<i64>,
        mut f: impl FnMut(i64, &[u8]),
    ) -> rusqlite::Result<u64> {
        let sql = format!(
            "SELECT {s}, {v}, {z} FROM {t} WHERE {p} = ?1 AND {s} > ?2 ORDER BY {s}",
            s = self.seq,
            v = self.payload,
            z = self.compressed.unwrap_or("NULL"),
            p = self.partition,
            t = self.table
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(rusqlite::params![partition, after.unwrap_or(i64::MIN)])?;
        let mut n = 0;
        let mut unpacked = Vec::new();
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let bytes = match (bytes_of(row.get_ref(1)?), bytes_of(row.get_ref(2)?)) {
                (b, _) if !b.is_empty() => b,
                (_, z) if !z.is_empty() => {
                    unpacked.clear();
                    // A damaged row reads as empty (counted as ignored),
                    // never as a failed store.
                    if crate::sources::compressed::decompress(z, &mut unpacked, 1 << 30).is_err() {
                        unpacked.clear();
                    }
                    &unpacked[..]
                }
                _ => &[][..],
            };
            f(seq, bytes);
            n += 1;
        }
        Ok(n)
    }
}

/// The bytes of a text or blob value (nothing for any other).
fn bytes_of(v: rusqlite::types::ValueRef<'_>) -> &[u8] {
    match v {
        rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => b,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: KeysetTable = KeysetTable {
        table: "events",
        partition: "session_id",
        seq: "seq",
        payload: "body",
        compressed: Some("body_zstd"),
    };

    fn store() -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.sqlite");
        let c = Connection::open(&p).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE events(session_id TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
                                 PRIMARY KEY (session_id, seq));
             INSERT INTO events VALUES ('b', 0, 'b0'), ('a', 0, 'a0'), ('a', 1, 'a1'), ('a', 2, 'a2');",
        )
        .unwrap();
        (d, p)
    }

    #[test]
    fn reads_only_the_rows_after_the_cursor_in_order() {
        let (_d, p) = store();
        let c = open(&p).unwrap();
        let t = T.resolve(&c).unwrap();
        assert_eq!(t.partitions(&c).unwrap(), ["a", "b"]);
        assert_eq!(t.last(&c, "a").unwrap(), Some(2));
        assert_eq!(t.last(&c, "zz").unwrap(), None);
        let mut got = Vec::new();
        let n = t.read_after(&c, "a", Some(0), |s, b| got.push((s, b.to_vec()))).unwrap();
        assert_eq!(n, 2);
        assert_eq!(got, [(1, b"a1".to_vec()), (2, b"a2".to_vec())]);
        let n = t.read_after(&c, "b", None, |_, _| {}).unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn compressed_rows_are_read_where_the_store_has_them() {
        let (_d, p) = store();
        let c = open(&p).unwrap();
        // This store's version has no compressed column.
        let t = T.resolve(&c).unwrap();
        assert_eq!(t.compressed, None);
        let mut got = Vec::new();
        t.read_after(&c, "a", None, |_, b| got.push(b.to_vec())).unwrap();
        assert_eq!(got.len(), 3);
        drop(c);
        let w = Connection::open(&p).unwrap();
        w.execute_batch("ALTER TABLE events ADD COLUMN body_zstd BLOB").unwrap();
        let z = zstd::encode_all(&b"{\"packed\":1}"[..], 3).unwrap();
        w.execute("INSERT INTO events VALUES ('a', 3, '', ?1)", [z]).unwrap();
        w.execute("INSERT INTO events VALUES ('a', 4, '', x'00ff')", []).unwrap();
        let c = open(&p).unwrap();
        let t = T.resolve(&c).unwrap();
        assert_eq!(t.compressed, Some("body_zstd"));
        let mut got = Vec::new();
        t.read_after(&c, "a", Some(2), |s, b| got.push((s, b.to_vec()))).unwrap();
        assert_eq!(got, [(3, b"{\"packed\":1}".to_vec()), (4, Vec::new())]);
    }

    #[test]
    fn a_read_only_store_is_never_written() {
        let (_d, p) = store();
        let c = open(&p).unwrap();
        let e = c.execute("INSERT INTO events VALUES ('c', 0, 'x')", []).unwrap_err();
        assert!(e.to_string().contains("readonly") || e.to_string().contains("read"), "{e}");
    }

    #[test]
    fn a_committed_write_changes_the_stores_stat() {
        let (_d, p) = store();
        let before = stat(&p).unwrap();
        assert_eq!(stat(&p).unwrap(), before);
        let w = Connection::open(&p).unwrap();
        w.execute("INSERT INTO events VALUES ('c', 0, 'c0')", []).unwrap();
        assert_ne!(stat(&p).unwrap(), before);
    }

    #[test]
    fn rows_completed_in_place_are_read_again_and_a_rewritten_table_from_its_start() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE m (id TEXT, done INTEGER)").unwrap();
        let read = |cur: Cursor| {
            let mut seen = Vec::new();
            let (next, _) = rows_from(&c, "m", "rowid", "id, done", cur, |r| {
                seen.push(r.get::<_, String>(1)?);
                Ok(r.get::<_, i64>(2)? == 1)
            })
            .unwrap();
            (next, seen)
        };
        c.execute_batch("INSERT INTO m VALUES ('a', 1), ('b', 0), ('c', 1)").unwrap();
        let (cur, seen) = read(Cursor::default());
        assert_eq!(seen, ["a", "b", "c"]);
        assert_eq!(cur.at, 2, "b is still being written");
        // b completes in place: read again from it, not before.
        c.execute("UPDATE m SET done = 1 WHERE id = 'b'", []).unwrap();
        let (cur, seen) = read(cur);
        assert_eq!(seen, ["b", "c"]);
        assert_eq!(cur.at, 4);
        assert_eq!(read(cur).1, Vec::<String>::new());
        // The last rows deleted and their keys reused by new rows: the row
        // before the cursor is not the one it was, so all is read again.
        c.execute_batch(
            "DELETE FROM m WHERE id IN ('b', 'c'); INSERT INTO m VALUES ('d', 1), ('e', 1)",
        )
        .unwrap();
        assert_eq!(read(cur).1, ["a", "d", "e"]);
    }
}
