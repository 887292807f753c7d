//! Content identity through the real binary and the loopback collector:
//! for every pack (pi in both its current and its original layout without
//! entry ids) and every file operation, everything delivered must equal
//! what one scan of an untouched home gives. Expected values are never
//! written down: they come from scanning, with a fresh state, a home that
//! holds each session once (plus the records an operation adds). Every
//! counted metric is compared; the reading-side `pack.emitter.*` counters
//! are not (a copy recognised by its content is not read).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::util::{delivered_counts, fixtures, scan_without_canary, Receiver, TestEnv};

/// One pack's transcript and what the operations need of it.
struct Case {
    /// The transcript (relative to `fixtures/`) and where it lives in a
    /// home.
    file: &'static str,
    at: &'static str,
    /// Another directory of the same place.
    other_dir: &'static str,
    /// Another session of the same pack (relative to `fixtures/`).
    other: &'static str,
    /// Files the place needs beside the transcript (relative to
    /// `fixtures/`, put at the same path under the home).
    beside: &'static [&'static str],
    /// A new record of the transcript's session, `{n}` made unique.
    record: &'static str,
}

const DEMO: &str = "demo-home/";

fn case(pack: &str) -> Case {
    match pack {
        "openclaw" => Case {
            file: "demo-home/.openclaw/agents/main/sessions/CANARY-oc-main-0001.jsonl",
            at: ".openclaw/agents/main/sessions/CANARY-oc-main-0001.jsonl",
            other_dir: ".openclaw/agents/ops/sessions",
            other: "demo-home/.openclaw/agents/main/sessions/CANARY-oc-sub-0002.jsonl",
            beside: &["demo-home/.openclaw/agents/main/sessions/sessions.json"],
            record: r#"{"type":"message","id":"n{n}","parentId":null,"timestamp":"2026-12-01T09:00:0{n}.000Z","message":{"role":"user","content":"CANARY new {n}"}}"#,
        },
        "roundhouse" => Case {
            file: "demo-home/.roundhouse/sessions/main/2026-11-03T08-00-00-000Z_CANARY-rh-0001.jsonl",
            at: ".roundhouse/sessions/main/2026-11-03T08-00-00-000Z_CANARY-rh-0001.jsonl",
            other_dir: ".roundhouse/sessions/main/CANARY-old",
            other: "demo-home/.roundhouse/sessions/cron_cnightly_c1/2026-11-03T02-00-00-000Z_CANARY-rh-0002.jsonl",
            beside: &[],
            record: r#"{"type":"message","id":"n{n}","parentId":null,"timestamp":"2026-12-01T09:00:0{n}.000Z","message":{"role":"user","content":"CANARY new {n}"}}"#,
        },
        "pi" => Case {
            file: "demo-home/.pi/agent/sessions/--home-dev-CANARY-path-project--/2026-11-01T09-00-00-000Z_CANARY-session-pi-0001.jsonl",
            at: ".pi/agent/sessions/--home-dev-CANARY-path-project--/2026-11-01T09-00-00-000Z_CANARY-session-pi-0001.jsonl",
            other_dir: ".pi/agent/sessions/--home-dev-CANARY-other--",
            other: "demo-home/.roundhouse/sessions/main/2026-11-03T08-00-00-000Z_CANARY-rh-0001.jsonl",
            beside: &[],
            record: r#"{"type":"message","id":"n{n}","parentId":null,"timestamp":"2026-12-01T09:00:0{n}.000Z","message":{"role":"user","content":"CANARY new {n}"}}"#,
        },
        "pi-original" => Case {
            file: "identity/pi-original-a.jsonl",
            at: ".pi/agent/sessions/--home-dev-CANARY-original--/CANARY-original-a.jsonl",
            other_dir: ".pi/agent/sessions/--home-dev-CANARY-other--",
            other: "identity/pi-original-b.jsonl",
            beside: &[],
            record: r#"{"type":"message","timestamp":"2026-12-01T09:00:0{n}.000Z","message":{"role":"user","content":"CANARY new {n}"}}"#,
        },
        "claude_code" => Case {
            file: "demo-home/.claude/projects/-home-dev-CANARY-proj/CANARY-cc-sess-0001.jsonl",
            at: ".claude/projects/-home-dev-CANARY-proj/CANARY-cc-sess-0001.jsonl",
            other_dir: ".claude/projects/-home-dev-CANARY-other",
            other: "demo-home/.claude/projects/-home-dev-CANARY-proj/CANARY-cc-sess-0002.jsonl",
            beside: &[],
            record: r#"{"type":"user","sessionId":"CANARY-cc-sess-0001","uuid":"CANARY-new-{n}","timestamp":"2026-12-01T09:00:0{n}.000Z","message":{"role":"user","content":"CANARY new {n}"}}"#,
        },
        "codex" => Case {
            file: "demo-home/.codex/sessions/2026/11/05/rollout-2026-11-05T10-00-00-CANARY-cx-0001.jsonl",
            at: ".codex/sessions/2026/11/05/rollout-2026-11-05T10-00-00-CANARY-cx-0001.jsonl",
            other_dir: ".codex/archived_sessions",
            other: "demo-home/.codex/sessions/2026/11/05/rollout-2026-11-05T12-00-00-CANARY-cx-0003.jsonl",
            beside: &[],
            record: r#"{"timestamp":"2026-12-01T09:00:0{n}.000Z","type":"event_msg","payload":{"type":"user_message","message":"CANARY new {n}"}}"#,
        },
        "gemini_cli" => Case {
            file: "demo-home/.gemini/tmp/CANARY-proj/chats/session-2026-11-06T09-00-CANARY01.jsonl",
            at: ".gemini/tmp/CANARY-proj/chats/session-2026-11-06T09-00-CANARY01.jsonl",
            other_dir: ".gemini/tmp/CANARY-other/chats",
            other: "demo-home/.gemini/tmp/CANARY-proj/chats/CANARY-gm-0001/CANARY-gm-0002.jsonl",
            beside: &[],
            record: r#"{"id":"CANARY-new-{n}","timestamp":"2026-12-01T09:00:0{n}.000Z","type":"user","content":[{"text":"CANARY new {n}"}]}"#,
        },
        other => panic!("no case for {other}"),
    }
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(fixtures().join(rel)).unwrap()
}

fn record(c: &Case, n: u32) -> String {
    format!("{}\n", c.record.replace("{n}", &n.to_string()))
}

/// A home and its collector, scanned as a user's machine is.
struct Home {
    env: TestEnv,
    rx: Receiver,
}

impl Home {
    /// A home holding `files` (path under the home, contents) and the
    /// files the case's place needs.
    fn with(c: &Case, files: &[(&str, &str)]) -> Home {
        let env = TestEnv::new();
        for b in c.beside {
            let to = env.home().join(b.strip_prefix(DEMO).unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(fixtures().join(b), to).unwrap();
        }
        let h = Home { env, rx: Receiver::start() };
        for (rel, body) in files {
            h.write(rel, body);
        }
        h
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.env.home().join(rel)
    }

    /// Writes a file through a temp file and a rename (a new inode).
    fn write(&self, rel: &str, body: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let tmp = p.with_file_name(".CANARY-write-tmp");
        std::fs::write(&tmp, body).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
    }

    fn append(&self, rel: &str, body: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(self.path(rel)).unwrap();
        f.write_all(body.as_bytes()).unwrap();
    }

    fn scan(&self) {
        scan_without_canary(&self.env, &self.rx).expect_code(0);
    }

    /// Everything delivered so far, counted series only.
    fn delivered(&self) -> BTreeMap<String, i64> {
        delivered_counts(&self.rx)
    }
}

/// One scan of an untouched home holding `files`.
fn untouched(c: &Case, files: &[(&str, &str)]) -> BTreeMap<String, i64> {
    let h = Home::with(c, files);
    h.scan();
    let got = h.delivered();
    assert!(!got.is_empty(), "the untouched home counts something");
    got
}

/// Sums totals.
fn plus(mut a: BTreeMap<String, i64>, b: BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    for (k, v) in b {
        *a.entry(k).or_default() += v;
    }
    a
}

/// Sets a file's modification time an hour back (a backup's).
fn age(p: &Path) {
    let ok = std::process::Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(p)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// The file in the case's other directory.
fn elsewhere(c: &Case) -> String {
    format!("{}/{}", c.other_dir, c.at.rsplit('/').next().unwrap())
}

fn check(what: &str, pack: &str, got: BTreeMap<String, i64>, want: BTreeMap<String, i64>) {
    assert_eq!(got, want, "{pack}: {what}: delivered vs one scan of the untouched home");
}

/// Every operation on one pack's transcript.
fn every_operation(pack: &str) {
    let c = case(pack);
    let body = read(c.file);
    let one = untouched(&c, &[(c.at, &body)]);
    let (r1, r2) = (record(&c, 1), record(&c, 2));
    let grown = format!("{body}{r1}");
    let with_r1 = untouched(&c, &[(c.at, &grown)]);
    let with_r1_r2 = untouched(&c, &[(c.at, &format!("{grown}{r2}"))]);

    // 1. Replaced by an identical copy (cp + mv: same bytes, new inode).
    let h = Home::with(&c, &[(c.at, &body)]);
    h.scan();
    h.write(c.at, &body);
    h.scan();
    check("replaced by an identical copy", pack, h.delivered(), one.clone());

    // 2. Restored from a backup with an older mtime; then restored from an
    // older backup after the file grew, and grown again.
    let h = Home::with(&c, &[(c.at, &body)]);
    let backup = h.env.home().join("backup.CANARY");
    std::fs::copy(h.path(c.at), &backup).unwrap();
    age(&backup);
    h.scan();
    std::fs::remove_file(h.path(c.at)).unwrap();
    h.scan();
    std::fs::copy(&backup, h.path(c.at)).unwrap();
    age(&h.path(c.at));
    h.scan();
    check("restored from a backup", pack, h.delivered(), one.clone());
    h.append(c.at, &r1);
    h.scan();
    h.write(c.at, &body);
    age(&h.path(c.at));
    h.scan();
    check("an older backup restored", pack, h.delivered(), with_r1.clone());
    h.append(c.at, &r2);
    h.scan();
    check("an older backup restored, then grown", pack, h.delivered(), with_r1_r2.clone());

    // 3. Renamed in its directory.
    let h = Home::with(&c, &[(c.at, &body)]);
    h.scan();
    let renamed = c.at.replace(".jsonl", "-CANARY-renamed.jsonl");
    std::fs::rename(h.path(c.at), h.path(&renamed)).unwrap();
    h.scan();
    check("renamed", pack, h.delivered(), one.clone());

    // 4. Moved to another directory of the place (Codex: archived).
    let h = Home::with(&c, &[(c.at, &body)]);
    h.scan();
    std::fs::create_dir_all(h.path(c.other_dir)).unwrap();
    std::fs::rename(h.path(c.at), h.path(&elsewhere(&c))).unwrap();
    h.scan();
    check("moved to another directory", pack, h.delivered(), one.clone());

    // 5. A copy kept in a second directory; the original grows; it grows
    // again and is copied again, both before the next scan.
    let h = Home::with(&c, &[(c.at, &body)]);
    h.scan();
    h.write(&elsewhere(&c), &body);
    h.scan();
    check("a copy in a second directory", pack, h.delivered(), one.clone());
    h.append(c.at, &r1);
    h.scan();
    check("the original grows beside its copy", pack, h.delivered(), with_r1.clone());
    h.append(c.at, &r2);
    h.write(&elsewhere(&c), &std::fs::read_to_string(h.path(c.at)).unwrap());
    h.scan();
    check("grown, then copied, in one run", pack, h.delivered(), with_r1_r2.clone());

    // 6. An atomic rewrite that grows (old content, then new lines).
    let h = Home::with(&c, &[(c.at, &body)]);
    h.scan();
    h.write(c.at, &grown);
    h.scan();
    check("an atomic rewrite that grows", pack, h.delivered(), with_r1.clone());

    // 7. Truncated and rewritten with another session: counted in full.
    let other = read(c.other);
    let h = Home::with(&c, &[(c.at, &body)]);
    h.scan();
    h.write(c.at, &other);
    h.scan();
    let beside = format!("{}/{}", c.other_dir, c.other.rsplit('/').next().unwrap());
    let want = untouched(&c, &[(c.at, &body), (&beside, &other)]);
    check("another session written at its path", pack, h.delivered(), want);
}

#[test]
fn openclaw_every_operation() {
    every_operation("openclaw");
}

#[test]
fn roundhouse_every_operation() {
    every_operation("roundhouse");
}

#[test]
fn pi_every_operation() {
    every_operation("pi");
}

#[test]
fn pi_original_layout_every_operation() {
    every_operation("pi-original");
}

#[test]
fn claude_code_every_operation() {
    every_operation("claude_code");
}

#[test]
fn codex_every_operation() {
    every_operation("codex");
}

#[test]
fn gemini_cli_every_operation() {
    every_operation("gemini_cli");
}

/// Operation 8: the same session in two packs' places counts once, under the pack
/// of the file read first.
#[test]
fn a_session_in_two_packs_places_counts_once() {
    for pack in ["pi", "pi-original"] {
        let c = case(pack);
        let body = read(c.file);
        let in_openclaw = ".openclaw/agents/main/sessions/CANARY-shared.jsonl";
        let under_pi = untouched(&c, &[(c.at, &body)]);
        let under_openclaw = untouched(&c, &[(in_openclaw, &body)]);
        assert!(under_pi.keys().all(|k| k.contains("pack=pi")), "{under_pi:?}");
        // Copied after it was counted under pi: nothing more.
        let h = Home::with(&c, &[(c.at, &body)]);
        h.scan();
        h.write(in_openclaw, &body);
        h.scan();
        check("copied into OpenClaw's place", pack, h.delivered(), under_pi.clone());
        // Both there at the first scan: under the first in path order.
        let h = Home::with(&c, &[(c.at, &body), (in_openclaw, &body)]);
        h.scan();
        check("in both places at once", pack, h.delivered(), under_openclaw);
    }
}

/// Operation 9: a fork copies its parent's entries verbatim, the last one with the
/// fork header's own timestamp: only what the fork adds counts.
#[test]
fn a_fork_counts_only_what_it_adds() {
    for pack in ["pi", "pi-original"] {
        let c = case(pack);
        let body = read(c.file);
        let lines: Vec<&str> = body.lines().collect();
        // The copies: the entries up to the first assistant turn with
        // tokens; the fork is stamped at the last copy's time.
        let last = lines.iter().position(|l| l.contains("\"usage\"")).unwrap();
        let ts_of = |l: &str| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["timestamp"].as_str().unwrap().to_string()
        };
        let stamp = ts_of(lines[last]);
        let fork_at = c.at.replace(".jsonl", "-CANARY-fork.jsonl");
        let prompt = format!(
            r#"{{"type":"message","timestamp":"{stamp}","message":{{"role":"user","content":"CANARY fork prompt"}}}}"#
        );
        let h = Home::with(&c, &[(c.at, &body)]);
        let parent = h.path(c.at).display().to_string();
        let header = format!(
            r#"{{"type":"session","version":3,"id":"CANARY-fork","timestamp":"{stamp}","cwd":"/CANARY","parentSession":"{parent}"}}"#
        );
        let copies: String = lines[1..=last].iter().map(|l| format!("{l}\n")).collect();
        h.scan();
        h.write(&fork_at, &format!("{header}\n{copies}{prompt}\n"));
        h.scan();
        // What it adds: a session with one prompt.
        let adds = untouched(&c, &[(&fork_at, &format!("{header}\n{prompt}\n"))]);
        let want = plus(untouched(&c, &[(c.at, &body)]), adds);
        check("a fork", pack, h.delivered(), want);
    }
}

/// Operation 10: the same session in a file that starts otherwise (its
/// header written again, so no content of the first file's) counts only
/// what it adds. The first file is found unchanged, so the run leaves its
/// position out of the load: how far its session was counted is read
/// again from `positions.bin` when the second file names that session.
#[test]
fn the_same_session_under_another_header_counts_only_what_it_adds() {
    let c = case("pi");
    let body = read(c.file);
    let (header, entries) = body.split_once('\n').unwrap();
    let moved = header.replacen("\"cwd\":\"", "\"cwd\":\"/CANARY-elsewhere", 1);
    assert_ne!(moved, header);
    let r1 = record(&c, 1);
    let want = untouched(&c, &[(c.at, &format!("{body}{r1}"))]);
    let h = Home::with(&c, &[(c.at, &body)]);
    h.scan();
    h.write(&elsewhere(&c), &format!("{moved}\n{entries}{r1}"));
    h.scan();
    check("the same session under another header", "pi", h.delivered(), want);
}

/// Writes `body` zstd-compressed at `rel` (as Codex archives a rollout).
fn write_zst(h: &Home, rel: &str, body: &str) {
    let z = zstd::encode_all(body.as_bytes(), 3).unwrap();
    let p = h.path(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, z).unwrap();
}

/// Codex's compressed rollouts (`*.jsonl.zst`) are read whole and are what
/// they hold: a rollout compressed after it was counted adds nothing, one
/// that grew before it was compressed adds its growth, an archive found
/// first counts in full, and an archive beside its rollout counts once.
#[test]
fn codex_compressed_rollouts_count_once() {
    let c = case("codex");
    let body = read(c.file);
    let r1 = record(&c, 1);
    let grown = format!("{body}{r1}");
    let one = untouched(&c, &[(c.at, &body)]);
    let with_r1 = untouched(&c, &[(c.at, &grown)]);
    let zat = format!("{}.zst", c.at);

    // Counted, then compressed in place (the rollout goes).
    let h = Home::with(&c, &[(c.at, &body)]);
    h.scan();
    write_zst(&h, &zat, &body);
    std::fs::remove_file(h.path(c.at)).unwrap();
    h.scan();
    check("compressed after it was counted", "codex", h.delivered(), one.clone());
    // Then moved to the archive, still compressed.
    let archived = format!("{}.zst", elsewhere(&c));
    std::fs::create_dir_all(h.path(c.other_dir)).unwrap();
    std::fs::rename(h.path(&zat), h.path(&archived)).unwrap();
    h.scan();
    check("a compressed rollout archived", "codex", h.delivered(), one.clone());

    // Grown, then compressed before the next scan: only the growth counts.
    let h = Home::with(&c, &[(c.at, &body)]);
    h.scan();
    write_zst(&h, &zat, &grown);
    std::fs::remove_file(h.path(c.at)).unwrap();
    h.scan();
    check("grown, then compressed", "codex", h.delivered(), with_r1.clone());

    // Found compressed on the first run (a machine set up after the
    // compression): counted in full.
    let h = Home::with(&c, &[]);
    write_zst(&h, &zat, &body);
    h.scan();
    check("an archive found first", "codex", h.delivered(), one.clone());

    // Caught between the compression and the delete: both at once, then
    // the rollout goes; and a rollout that outlives its archive and grows.
    let h = Home::with(&c, &[(c.at, &body)]);
    write_zst(&h, &zat, &body);
    h.scan();
    check("a rollout and its archive", "codex", h.delivered(), one.clone());
    std::fs::remove_file(h.path(c.at)).unwrap();
    h.scan();
    check("a rollout and its archive, then the delete", "codex", h.delivered(), one.clone());
    let h = Home::with(&c, &[(c.at, &body)]);
    write_zst(&h, &zat, &body);
    h.scan();
    h.append(c.at, &r1);
    h.scan();
    check("a rollout that grows beside its archive", "codex", h.delivered(), with_r1);
}

/// An archive is decompressed when it changes, not on every run; a damaged
/// one is reported by name, read again once it changes, and never stops the
/// other sources.
#[test]
fn an_unchanged_archive_is_not_read_again_and_a_damaged_one_stops_nothing() {
    let c = case("codex");
    let body = read(c.file);
    let zat = format!("{}.zst", c.at);
    let other_at = ".codex/sessions/2026/11/05/rollout-2026-11-05T12-00-00-CANARY-cx-0003.jsonl";
    let other = read(c.other);
    let h = Home::with(&c, &[(other_at, &other)]);
    write_zst(&h, &zat, &body);
    h.scan();
    let after_first = h.delivered();
    // Damaged behind telemetron's back, but with the same size and mtime:
    // an unchanged archive is not opened, so nothing is noticed.
    let p = h.path(&zat);
    let meta = std::fs::metadata(&p).unwrap();
    std::fs::write(&p, vec![b'#'; meta.len() as usize]).unwrap();
    let mtime = std::fs::File::open(&p).unwrap();
    mtime.set_modified(meta.modified().unwrap()).unwrap();
    let run = h.env.scan(&["--endpoint", h.rx.url.as_str()]);
    run.expect_code(0);
    assert!(!run.stderr.contains("zst"), "{}", run.stderr);
    // Changed: read, found damaged, reported; the other source still counts.
    std::fs::write(&p, b"\x28\xb5\x2f\xfd damaged").unwrap();
    h.append(other_at, &record(&c, 7));
    let run = h.env.scan(&["--endpoint", h.rx.url.as_str()]);
    assert!(run.stderr.contains("not a valid zstd file"), "{}", run.stderr);
    assert!(run.stderr.contains("rollout-2026-11-05T10-00-00-"), "names the file: {}", run.stderr);
    let got = h.delivered();
    let prompts = |m: &BTreeMap<String, i64>| -> i64 {
        m.iter().filter(|(k, _)| k.starts_with("pack.user.prompt")).map(|(_, v)| v).sum()
    };
    assert_eq!(prompts(&got), prompts(&after_first) + 1, "the other rollout's new prompt");
}
