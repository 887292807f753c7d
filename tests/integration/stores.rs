//! OpenClaw's SQLite store, through the real binary and the loopback
//! collector: rows added to a session count once, a session imported from a
//! transcript that was counted adds only what the transcript had not shown,
//! an unchanged store is not opened, a damaged one stops nothing, and a
//! store copied back over itself adds nothing. Expected values come from
//! one scan of an untouched home, never written down.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::util::{
    counted, delivered_counts, fixtures, scan_without_canary, total, Receiver, TestEnv,
};

const DB: &str = ".openclaw/agents/CANARY-store/agent/openclaw-agent.sqlite";
const MAIN: &str = "CANARY-db-main-0001";
const TRANSCRIPT: &str = ".openclaw/agents/main/sessions/CANARY-oc-main-0001.jsonl";

/// A home with only the demo home's OpenClaw store, and its collector.
struct Home {
    env: TestEnv,
    rx: Receiver,
}

impl Home {
    fn new() -> Home {
        let h = Home { env: TestEnv::new(), rx: Receiver::start() };
        let to = h.path(DB);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(fixtures().join("demo-home").join(DB), &to).unwrap();
        h
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.env.home().join(rel)
    }

    /// A writer, as OpenClaw holds one (write-ahead log).
    fn writer(&self) -> Connection {
        let c = Connection::open(self.path(DB)).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c
    }

    fn scan(&self) -> crate::util::Run {
        scan_without_canary(&self.env, &self.rx)
    }

    fn delivered(&self) -> BTreeMap<String, i64> {
        delivered_counts(&self.rx)
    }
}

/// One scan of a fresh home holding a copy of `home`'s store (and nothing
/// else of OpenClaw's).
fn untouched(home: &Home) -> BTreeMap<String, i64> {
    let fresh = Home { env: TestEnv::new(), rx: Receiver::start() };
    let to = fresh.path(DB);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    // A consistent copy, write-ahead log included.
    home.writer().execute("VACUUM INTO ?1", [to.to_str().unwrap()]).unwrap();
    fresh.scan().expect_code(0);
    fresh.delivered()
}

/// Adds a user prompt and an assistant reply to a session of the store.
fn add_turn(c: &Connection, session: &str, n: u32) {
    let seq: i64 = c
        .query_row("SELECT MAX(seq) FROM transcript_events WHERE session_id = ?1", [session], |r| {
            r.get(0)
        })
        .unwrap();
    let prompt = format!(
        r#"{{"type":"message","id":"new{n}a","parentId":null,"timestamp":"2026-11-11T09:00:{n:02}.000Z","message":{{"role":"user","content":[{{"type":"text","text":"CANARY new {n}"}}]}}}}"#
    );
    let reply = format!(
        r#"{{"type":"message","id":"new{n}b","parentId":"new{n}a","timestamp":"2026-11-11T09:00:{n:02}.500Z","message":{{"role":"assistant","content":[{{"type":"text","text":"CANARY"}}],"provider":"anthropic","model":"claude-sonnet-4-5","usage":{{"input":7,"output":3,"cacheRead":0,"cacheWrite":0,"totalTokens":10}},"stopReason":"stop"}}}}"#
    );
    for (i, e) in [prompt, reply].iter().enumerate() {
        c.execute(
            "INSERT INTO transcript_events (session_id, seq, event_json, created_at) \
             VALUES (?1, ?2, ?3, 0)",
            rusqlite::params![session, seq + 1 + i as i64, e],
        )
        .unwrap();
    }
}

fn prompts(m: &BTreeMap<String, i64>) -> i64 {
    m.iter().filter(|(k, _)| k.starts_with("pack.user.prompt")).map(|(_, v)| v).sum()
}

#[test]
fn rows_added_to_a_session_count_once() {
    let h = Home::new();
    h.scan().expect_code(0);
    let first = h.delivered();
    assert!(prompts(&first) > 0);
    let w = h.writer();
    add_turn(&w, MAIN, 1);
    h.scan().expect_code(0);
    add_turn(&w, MAIN, 2);
    add_turn(&w, "CANARY-db-sub-0002", 3);
    h.scan().expect_code(0);
    h.scan().expect_code(0);
    let got = h.delivered();
    assert_eq!(prompts(&got), prompts(&first) + 3);
    assert_eq!(got, untouched(&h), "delivered vs one scan of the untouched home");
}

#[test]
fn a_session_imported_from_a_counted_transcript_adds_only_what_is_new() {
    // The transcript is counted as a file; then `openclaw doctor
    // --session-sqlite import` copies it into the store (plus the turn the
    // agent wrote meanwhile) and leaves it as `*.jsonl.deleted.<ts>`.
    let h = Home::new();
    let w = h.writer();
    w.execute("DELETE FROM transcript_events WHERE session_id = 'CANARY-oc-main-0001'", [])
        .unwrap();
    let file = h.path(TRANSCRIPT);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::copy(fixtures().join("demo-home").join(TRANSCRIPT), &file).unwrap();
    h.scan().expect_code(0);
    let lines = std::fs::read_to_string(&file).unwrap();
    for (seq, line) in lines.lines().enumerate() {
        w.execute(
            "INSERT INTO transcript_events VALUES ('CANARY-oc-main-0001', ?1, ?2, 0)",
            rusqlite::params![seq as i64, line],
        )
        .unwrap();
    }
    add_turn(&w, "CANARY-oc-main-0001", 4);
    std::fs::rename(&file, file.with_extension("jsonl.deleted.2026-11-11T09-00-00.000Z")).unwrap();
    h.scan().expect_code(0);
    let got = h.delivered();
    let want = untouched(&h);
    assert_eq!(got, want, "delivered vs one scan of the untouched home");
}

#[test]
fn a_transcript_of_a_session_the_store_counted_adds_nothing() {
    let h = Home::new();
    h.scan().expect_code(0);
    let first = h.delivered();
    // The same session exported back to a transcript file.
    let file = h.path(TRANSCRIPT);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::copy(fixtures().join("demo-home").join(TRANSCRIPT), &file).unwrap();
    h.scan().expect_code(0);
    assert_eq!(h.delivered(), first);
}

#[test]
fn a_store_copied_back_over_itself_adds_nothing() {
    let h = Home::new();
    h.scan().expect_code(0);
    let first = h.delivered();
    let db = h.path(DB);
    let backup = h.path("backup.CANARY.sqlite");
    std::fs::copy(&db, &backup).unwrap();
    std::fs::remove_file(&db).unwrap();
    h.scan().expect_code(0);
    std::fs::copy(&backup, &db).unwrap();
    h.scan().expect_code(0);
    assert_eq!(h.delivered(), first);
}

#[test]
fn an_unchanged_store_is_not_opened_and_a_damaged_one_stops_nothing() {
    let h = Home::new();
    let jsonl = ".pi/agent/sessions/--CANARY--/s.jsonl";
    let pi = std::fs::read_to_string(
        fixtures().join("demo-home/.pi/agent/sessions/--home-dev-CANARY-path-project--/2026-11-01T09-00-00-000Z_CANARY-session-pi-0001.jsonl"),
    )
    .unwrap();
    std::fs::create_dir_all(h.path(jsonl).parent().unwrap()).unwrap();
    std::fs::write(h.path(jsonl), &pi).unwrap();
    h.scan().expect_code(0);
    let first = h.delivered();
    // Damaged behind telemetron's back with the same size and mtime: an
    // unchanged store is not opened, so nothing is noticed.
    let db = h.path(DB);
    let meta = std::fs::metadata(&db).unwrap();
    std::fs::write(&db, vec![b'#'; meta.len() as usize]).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&db)
        .unwrap()
        .set_modified(meta.modified().unwrap())
        .unwrap();
    let run = h.scan();
    run.expect_code(0);
    assert!(!run.stderr.contains("sqlite"), "{}", run.stderr);
    // Changed and damaged: reported by name (exit 1); the other sources
    // still count.
    std::fs::write(&db, b"not a database at all").unwrap();
    let more = r#"{"type":"message","id":"zz1","parentId":null,"timestamp":"2026-12-01T09:00:00.000Z","message":{"role":"user","content":"CANARY more"}}"#;
    h.env.append(jsonl, &format!("{more}\n"));
    let run = h.env.scan(&["--endpoint", h.rx.url.as_str()]);
    run.expect_code(1);
    assert!(run.stderr.contains("cannot read this SQLite store"), "{}", run.stderr);
    assert!(run.stderr.contains("openclaw-agent.sqlite"), "names the file: {}", run.stderr);
    assert_eq!(prompts(&h.delivered()), prompts(&first) + 1);
}

#[test]
fn a_session_deleted_from_the_store_keeps_what_it_counted() {
    let h = Home::new();
    h.scan().expect_code(0);
    let first = h.delivered();
    h.writer().execute("DELETE FROM transcript_events WHERE session_id = ?1", [MAIN]).unwrap();
    h.scan().expect_code(0);
    assert_eq!(h.delivered(), first);
    assert!(Path::new(&h.path(DB)).exists());
}

const HERMES_DB: &str = ".hermes/state.db";

/// A home with only the demo home's Hermes store.
fn hermes_home() -> Home {
    let h = Home { env: TestEnv::new(), rx: Receiver::start() };
    let to = h.path(HERMES_DB);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(fixtures().join("demo-home").join(HERMES_DB), &to).unwrap();
    h
}

/// One scan of a fresh home holding a copy of `db` as its Hermes store.
fn hermes_untouched(db: &Path) -> BTreeMap<String, i64> {
    let fresh = Home { env: TestEnv::new(), rx: Receiver::start() };
    let to = fresh.path(HERMES_DB);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    Connection::open(db).unwrap().execute("VACUUM INTO ?1", [to.to_str().unwrap()]).unwrap();
    fresh.scan().expect_code(0);
    fresh.delivered()
}

fn tokens(m: &BTreeMap<String, i64>) -> i64 {
    m.iter().filter(|(k, _)| k.starts_with("pack.token.usage")).map(|(_, v)| v).sum()
}

fn starts(m: &BTreeMap<String, i64>) -> i64 {
    m.iter().filter(|(k, _)| k.starts_with("pack.session.start")).map(|(_, v)| v).sum()
}

#[test]
fn hermes_session_totals_count_their_growth_once() {
    let h = hermes_home();
    h.scan().expect_code(0);
    let first = h.delivered();
    let w = Connection::open(h.path(HERMES_DB)).unwrap();
    w.pragma_update(None, "journal_mode", "WAL").unwrap();
    // The session goes on: its totals grow in place.
    w.execute(
        "UPDATE sessions SET input_tokens = input_tokens + 100, output_tokens = output_tokens + 7 \
         WHERE id = '20261105_090000_CANARY01'",
        [],
    )
    .unwrap();
    h.scan().expect_code(0);
    h.scan().expect_code(0);
    // A new session, and the continuation of a split one.
    w.execute(
        "INSERT INTO sessions (id, source, model, started_at, input_tokens, output_tokens, \
         billing_provider, title) VALUES ('CANARY-new', 'cli', 'gpt-5', 1762400000, 10, 2, 'openai', \
         'CANARY title')",
        [],
    )
    .unwrap();
    w.execute(
        "INSERT INTO sessions (id, source, model, started_at, input_tokens, parent_session_id) \
         VALUES ('CANARY-split', 'cli', 'gpt-5', 1762400001, 5, 'CANARY-new')",
        [],
    )
    .unwrap();
    h.scan().expect_code(0);
    let got = h.delivered();
    assert_eq!(tokens(&got), tokens(&first) + 107 + 12 + 5);
    assert_eq!(starts(&got), starts(&first) + 1, "a split session is no new session");
    assert_eq!(got, hermes_untouched(&h.path(HERMES_DB)));
}

#[test]
fn hermes_profiles_and_hermes_home_are_read_and_a_deleted_session_keeps_its_counts() {
    let h = hermes_home();
    let profile = ".hermes/profiles/CANARY-work/state.db";
    std::fs::create_dir_all(h.path(profile).parent().unwrap()).unwrap();
    std::fs::copy(fixtures().join("demo-home").join(profile), h.path(profile)).unwrap();
    h.scan().expect_code(0);
    let both = h.delivered();
    assert!(both.keys().any(|k| k.contains("gemini-2.5-pro")), "the profile's session: {both:?}");
    Connection::open(h.path(HERMES_DB))
        .unwrap()
        .execute_batch(
            "DELETE FROM messages WHERE session_id = '20261105_090000_CANARY01';
             DELETE FROM sessions WHERE id = '20261105_090000_CANARY01';",
        )
        .unwrap();
    h.scan().expect_code(0);
    assert_eq!(h.delivered(), both);
    // HERMES_HOME moves the home.
    let elsewhere = TestEnv::new();
    let to = elsewhere.home().join("CANARY-hh/state.db");
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(fixtures().join("demo-home").join(HERMES_DB), &to).unwrap();
    let rx = Receiver::start();
    let hh = elsewhere.home().join("CANARY-hh").display().to_string();
    elsewhere.scan_env(&["--endpoint", rx.url.as_str()], &[("HERMES_HOME", &hh)]).expect_code(0);
    let got = counted(total(&rx.requests()));
    assert_eq!(starts(&got), 3);
}

#[test]
fn a_locked_store_waits_briefly_then_is_read_on_the_next_run() {
    let h = Home::new();
    // A writer in rollback-journal mode holding its write lock.
    let w = Connection::open(h.path(DB)).unwrap();
    w.pragma_update(None, "journal_mode", "DELETE").unwrap();
    w.execute_batch("BEGIN EXCLUSIVE").unwrap();
    add_turn(&w, MAIN, 1);
    // A warning names the file, whose path here holds a canary.
    let run = h.env.scan(&["--endpoint", h.rx.url.as_str()]);
    run.expect_code(1);
    assert!(run.stderr.contains("locked by a writer"), "{}", run.stderr);
    assert!(run.stderr.contains("openclaw-agent.sqlite"), "{}", run.stderr);
    assert_eq!(prompts(&h.delivered()), 0, "nothing read from the locked store");
    w.execute_batch("COMMIT").unwrap();
    h.scan().expect_code(0);
    assert_eq!(h.delivered(), untouched(&h));
}

#[test]
fn a_newer_schema_with_more_tables_and_columns_is_read_and_an_unknown_one_is_named() {
    let h = Home::new();
    let w = h.writer();
    w.execute_batch(
        "ALTER TABLE transcript_events ADD COLUMN event_utf8_bytes INTEGER;
         ALTER TABLE transcript_events ADD COLUMN run_id TEXT;
         CREATE TABLE transcript_event_identities (session_id TEXT, event_id TEXT, seq INTEGER);
         ALTER TABLE session_windows ADD COLUMN agent_harness_id TEXT;",
    )
    .unwrap();
    add_turn(&w, MAIN, 1);
    h.scan().expect_code(0);
    assert_eq!(h.delivered(), untouched(&h));
    // A store without the table telemetron reads: a warning saying what
    // was expected; the run goes on.
    let other = Home { env: TestEnv::new(), rx: Receiver::start() };
    let p = other.path(DB);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    Connection::open(&p).unwrap().execute_batch("CREATE TABLE events_v9 (x TEXT);").unwrap();
    let run = other.env.scan(&["--endpoint", other.rx.url.as_str()]);
    run.expect_code(1);
    assert!(run.stderr.contains("not the schema expected"), "{}", run.stderr);
    assert!(run.stderr.contains("transcript_events"), "{}", run.stderr);
}

#[test]
fn rows_written_while_scans_run_count_once() {
    let h = Home::new();
    let db = h.path(DB);
    let writer = std::thread::spawn(move || {
        let c = Connection::open(&db).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        for n in 0..40 {
            add_turn(&c, MAIN, 10 + n);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    });
    for _ in 0..4 {
        h.scan().expect_code(0);
    }
    writer.join().unwrap();
    h.scan().expect_code(0);
    assert_eq!(h.delivered(), untouched(&h));
}

/// Every row of every table of a database, as text, sorted.
fn dump(db: &Path) -> Vec<String> {
    let c = Connection::open(db).unwrap();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Vec::new();
    for t in tables {
        let mut stmt = c.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let cells: Vec<String> =
                (0..n).map(|i| format!("{:?}", r.get_ref(i).unwrap())).collect();
            out.push(format!("{t}: {}", cells.join(" | ")));
        }
    }
    out.sort();
    out
}

/// The demo home's stores are what their scripts in `scripts/fixtures/`
/// write: the scripts are their source, the committed files a cache of it.
#[test]
fn the_demo_homes_stores_are_what_their_scripts_write() {
    let out = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for script in ["openclaw_store.py", "hermes_store.py"] {
        let ok = std::process::Command::new("python3")
            .arg(root.join("scripts/fixtures").join(script))
            .arg("--out")
            .arg(out.path())
            .stdout(std::process::Stdio::null())
            .status()
            .expect("python3 runs the fixture scripts")
            .success();
        assert!(ok, "{script} failed");
    }
    for db in [DB, HERMES_DB, ".hermes/profiles/CANARY-work/state.db"] {
        let committed = dump(&fixtures().join("demo-home").join(db));
        assert!(!committed.is_empty(), "{db}");
        assert_eq!(dump(&out.path().join(db)), committed, "{db}: regenerate it with its script");
    }
}
