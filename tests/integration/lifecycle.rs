//! File lifecycle: every way a session file can change between runs, and
//! every kind of bad file or bad line. Each case checks exact counts.

use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;

use crate::faults::dedup_total;
use crate::util::{flatten, without_heartbeat, Receiver, TestEnv};

/// Where the pi sessions of these tests live.
const DIR: &str = ".pi/agent/sessions/--proj-CANARY--";

/// A session header.
fn header(id: &str, ts: u32) -> String {
    format!(
        r#"{{"type":"session","version":3,"id":"{id}","timestamp":"2026-11-05T10:{:02}:{:02}.000Z","cwd":"/CANARY"}}"#,
        ts / 60,
        ts % 60
    )
}

/// A fork's header (entries stamped before it are copies).
fn fork_header(id: &str, ts: u32) -> String {
    header(id, ts).replace(r#""cwd""#, r#""parentSession":"/p/CANARY.jsonl","cwd""#)
}

/// A user prompt entry with a unique id, stamped `ts` seconds in.
fn user(ts: u32) -> String {
    format!(
        r#"{{"type":"message","id":"{ts:08x}","parentId":null,"timestamp":"2026-11-05T10:{:02}:{:02}.000Z","message":{{"role":"user","content":"CANARY-{ts}"}}}}"#,
        ts / 60,
        ts % 60
    )
}

/// Lines joined with newlines, newline-terminated.
fn lines(v: &[String]) -> String {
    v.iter().map(|l| format!("{l}\n")).collect()
}

/// Expected pi counts: sessions started, prompts, and line results.
fn pi(
    sessions: i64,
    prompts: i64,
    parsed: i64,
    ignored: i64,
    malformed: i64,
    oversized: i64,
) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for (k, v) in [
        ("pack.session.start{pack=pi,session.type=main}", sessions),
        ("pack.user.prompt{pack=pi,session.type=main}", prompts),
        ("pack.emitter.lines{pack=pi,result=parsed}", parsed),
        ("pack.emitter.lines{pack=pi,result=ignored}", ignored),
        ("pack.emitter.lines{pack=pi,result=malformed}", malformed),
        ("pack.emitter.lines{pack=pi,result=oversized}", oversized),
    ] {
        if v != 0 {
            m.insert(k.to_string(), v);
        }
    }
    m
}

/// A scanner over one home with a receiver, summing what it is sent.
struct Bench {
    env: TestEnv,
    rx: Receiver,
}

impl Bench {
    fn new() -> Bench {
        Bench { env: TestEnv::new(), rx: Receiver::start() }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        let p = self.env.home().join(DIR).join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        p
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }

    fn append(&self, name: &str, text: &str) {
        self.env.append(&format!("{DIR}/{name}"), text);
    }

    /// Runs a scan expecting `code` and returns the counts of its request.
    fn scan(&self, code: i32) -> (BTreeMap<String, i64>, String) {
        let n = self.rx.requests().len();
        let run = self.env.scan(&["--endpoint", &self.rx.url]);
        run.expect_code(code);
        let reqs = self.rx.requests();
        assert_eq!(reqs.len(), n + 1);
        (without_heartbeat(flatten(&reqs[n].decode())), run.stderr.clone())
    }
}

#[test]
fn new_appended_blank_and_crlf_lines() {
    let b = Bench::new();
    b.write("a.jsonl", &format!("{}\r\n\r\n{}\r\n\n", header("S1", 0), user(1)));
    assert_eq!(b.scan(0).0, pi(1, 1, 2, 2, 0, 0));
    b.append("a.jsonl", &format!("{}\r\n{}", user(2), &user(3)[..5]));
    assert_eq!(b.scan(0).0, pi(0, 1, 1, 0, 0, 0));
    b.append("a.jsonl", &format!("{}\n", &user(3)[5..]));
    assert_eq!(b.scan(0).0, pi(0, 1, 1, 0, 0, 0));
}

#[test]
fn lines_of_many_megabytes_count_like_short_ones() {
    // A 5 MB prompt and a failed 3 MB tool result are read through the
    // squeezing path (longer than a 1 MiB read): their text is cut, their
    // meaning is not.
    let b = Bench::new();
    let prompt = user(1).replace("CANARY-1", &"CANARY \\\"é\\u00e9\\ud83d\\ude00 ".repeat(200_000));
    let result = format!(
        r#"{{"type":"message","id":"r1","parentId":null,"timestamp":"2026-11-05T10:00:02.000Z","message":{{"role":"toolResult","toolCallId":"c1","toolName":"bash","content":[{{"type":"text","text":"{}"}}],"isError":true}}}}"#,
        "CANARY ".repeat(450_000)
    );
    assert!(prompt.len() > 5_000_000 && result.len() > 3_000_000);
    b.write("a.jsonl", &lines(&[header("S1", 0), prompt.clone(), result, user(3)]));
    let (got, _) = b.scan(0);
    assert_eq!(got["pack.user.prompt{pack=pi,session.type=main}"], 2);
    assert_eq!(got.get("pack.error{pack=pi,error.type=tool}"), Some(&1), "{got:?}");
    assert_eq!(got["pack.emitter.lines{pack=pi,result=parsed}"], 4);
    assert!(!got.contains_key("pack.emitter.lines{pack=pi,result=malformed}"));
    // Past --max-line-bytes a line is skipped instead, never held whole.
    b.append("a.jsonl", &lines(&[prompt.replace("\"id\":\"00000001\"", "\"id\":\"00000009\"")]));
    let run = b.env.scan(&["--endpoint", &b.rx.url, "--max-line-bytes", "4000000"]);
    run.expect_code(0);
    let last = without_heartbeat(flatten(&b.rx.requests().last().unwrap().decode()));
    assert_eq!(last, pi(0, 0, 0, 0, 0, 1));
}

#[test]
fn a_truncated_file_counts_only_what_is_new() {
    let b = Bench::new();
    b.write("a.jsonl", &lines(&[header("S1", 0), user(1), user(2), user(3)]));
    assert_eq!(b.scan(0).0, pi(1, 3, 4, 0, 0, 0));
    // Shorter than the offset: the same session, its end cut, one new entry.
    b.write("a.jsonl", &lines(&[header("S1", 0), user(4)]));
    assert_eq!(b.scan(0).0, pi(0, 1, 1, 1, 0, 0));
}

#[test]
fn copy_truncate_with_a_writer_that_kept_its_offset() {
    let b = Bench::new();
    let text = lines(&[header("S1", 0), user(1), user(2)]);
    b.write("a.jsonl", &text);
    assert_eq!(b.scan(0).0, pi(1, 2, 3, 0, 0, 0));
    let p = b.path("a.jsonl");
    std::fs::copy(&p, p.with_extension("jsonl.1")).unwrap();
    let mut f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.set_len(0).unwrap();
    // The writer goes on at its old offset: the hole reads as NUL bytes.
    f.seek(SeekFrom::Start(text.len() as u64)).unwrap();
    f.write_all(format!("{}\n", user(3)).as_bytes()).unwrap();
    drop(f);
    assert_eq!(
        b.scan(0).0,
        pi(0, 1, 1, 0, 0, 0),
        "the copy is not a transcript; the NULs are padding"
    );
}

#[test]
fn a_file_replaced_by_a_longer_one_is_read_in_full() {
    let b = Bench::new();
    b.write("a.jsonl", &lines(&[header("S1", 0), user(1)]));
    b.scan(0);
    std::fs::remove_file(b.path("a.jsonl")).unwrap();
    b.write("a.jsonl", &lines(&[header("S2", 100), user(101), user(102), user(103), user(104)]));
    assert_eq!(b.scan(0).0, pi(1, 4, 5, 0, 0, 0));
}

#[test]
fn a_renamed_file_is_not_read_again() {
    let b = Bench::new();
    b.write("a.jsonl", &lines(&[header("S1", 0), user(1)]));
    b.scan(0);
    std::fs::rename(b.path("a.jsonl"), b.path("b.jsonl")).unwrap();
    assert_eq!(b.scan(0).0, pi(0, 0, 0, 0, 0, 0));
    b.append("b.jsonl", &lines(&[user(2)]));
    assert_eq!(b.scan(0).0, pi(0, 1, 1, 0, 0, 0));
}

#[test]
fn a_deleted_file_keeps_its_totals() {
    let b = Bench::new();
    b.write("a.jsonl", &lines(&[header("S1", 0), user(1)]));
    b.write("b.jsonl", &lines(&[header("S2", 0), user(2)]));
    let run = b.env.scan(&["--endpoint", &b.rx.url, "--temporality", "cumulative"]);
    run.expect_code(0);
    std::fs::remove_file(b.path("a.jsonl")).unwrap();
    let run = b.env.scan(&["--endpoint", &b.rx.url, "--temporality", "cumulative"]);
    run.expect_code(0);
    let last = flatten(&b.rx.requests()[1].decode());
    assert_eq!(
        last["pack.user.prompt{pack=pi,session.type=main}"], 2,
        "totals keep the deleted file's counts"
    );
    // positions.bin plus the changes logged in positions.log since.
    let files = telemetron::state::StateDir::new(b.env.state_dir()).load(0, false).unwrap();
    let entry = files.state.files.iter().find(|(k, _)| k.ends_with("a.jsonl")).unwrap().1;
    assert!(entry.missing_since_unix_nano.is_some(), "kept for a grace period: {entry:?}");
}

#[test]
fn a_rewrite_in_place_with_a_backup_left_beside_it() {
    let b = Bench::new();
    b.write("s.jsonl", &lines(&[header("S1", 0), user(1), user(2), user(3), user(4)]));
    assert_eq!(b.scan(0).0, pi(1, 4, 5, 0, 0, 0));
    // roundhouse soft reset: back up, write a shorter file, rename over.
    std::fs::copy(b.path("s.jsonl"), b.path("s.jsonl.bak-1762300000000")).unwrap();
    b.write("s.jsonl.tmp-1-2", &lines(&[header("S1", 0), user(3), user(4), user(5)]));
    std::fs::rename(b.path("s.jsonl.tmp-1-2"), b.path("s.jsonl")).unwrap();
    assert_eq!(b.scan(0).0, pi(0, 1, 1, 3, 0, 0));
}

#[test]
fn a_fork_counts_only_its_own_entries() {
    let b = Bench::new();
    b.write("parent.jsonl", &lines(&[header("S1", 0), user(1), user(2)]));
    b.scan(0);
    b.write("fork.jsonl", &lines(&[fork_header("S2", 50), user(1), user(2), user(51)]));
    assert_eq!(b.scan(0).0, pi(1, 1, 2, 2, 0, 0));
}

#[test]
fn odd_files_are_skipped_with_a_warning_and_the_rest_still_counted() {
    let b = Bench::new();
    b.write("good.jsonl", &lines(&[header("S1", 0), user(1)]));
    let fifo = b.path("pipe.jsonl");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    std::fs::create_dir_all(b.path("dir.jsonl")).unwrap();
    std::os::unix::fs::symlink(b.path("nowhere.jsonl.target"), b.path("dangling.jsonl")).unwrap();
    std::os::unix::fs::symlink(b.env.home().join(DIR), b.path("loop")).unwrap();
    let (got, stderr) = b.scan(1);
    assert_eq!(got, pi(1, 1, 2, 0, 0, 0));
    for name in ["pipe.jsonl", "dir.jsonl", "dangling.jsonl"] {
        assert!(
            stderr.lines().any(|l| l.contains("warning") && l.contains(name)),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn an_unreadable_file_is_skipped_and_the_rest_still_counted() {
    let b = Bench::new();
    b.write("good.jsonl", &lines(&[header("S1", 0), user(1)]));
    b.write("secret.jsonl", &lines(&[header("S2", 0), user(2)]));
    // Let an unprivileged user walk the home but not read one file.
    let mode = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    let mut d = b.path("good.jsonl");
    while d.pop() {
        mode(&d, 0o755);
        if d == b.env.home() {
            break;
        }
    }
    mode(&b.path("good.jsonl"), 0o644);
    mode(&b.path("secret.jsonl"), 0o000);
    // And a directory that cannot be listed.
    let locked = b.env.home().join(DIR).join("locked");
    std::fs::create_dir_all(&locked).unwrap();
    std::fs::write(locked.join("x.jsonl"), lines(&[header("S3", 0), user(3)])).unwrap();
    mode(&locked, 0o000);
    std::fs::create_dir_all(b.env.state_dir()).unwrap();
    mode(&b.env.state_dir(), 0o777);
    mode(&b.env.config_path(), 0o644);
    mode(b.env.config_path().parent().unwrap(), 0o755);
    let root = unsafe { libc::geteuid() } == 0;
    let bin = env!("CARGO_BIN_EXE_telemetron");
    let args = ["scan", "--endpoint", b.rx.url.as_str()];
    let mut cmd = if root {
        let mut c =
            b.env.program("setpriv", &["--reuid=65534", "--regid=65534", "--clear-groups", bin]);
        c.args(args);
        c
    } else {
        b.env.cmd(&args)
    };
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("secret.jsonl") && stderr.contains("ermission denied"), "{stderr}");
    assert!(stderr.contains("locked: cannot list directory"), "{stderr}");
    let got = without_heartbeat(flatten(&b.rx.requests()[0].decode()));
    assert_eq!(got, pi(1, 1, 2, 0, 0, 0));
}

#[test]
fn bad_lines_are_counted_and_never_stop_the_others() {
    let b = Bench::new();
    // A number too large for any type, in a field nobody reads, does not
    // spoil an otherwise valid line.
    let huge = user(2).replace("\"content\"", "\"x\":1e999999,\"content\"");
    let mut bytes = lines(&[header("S1", 0), user(1), huge]).into_bytes();
    let bad: Vec<Vec<u8>> = vec![
        b"{\"type\":\"message\" this is not json".to_vec(),
        b"{\"type\":\"message\",\"id\":\"n1\",\"message\":{\"role\":\"user\",\"content\":\"\xff\xfe\"}}".to_vec(),
        b"[1,2,3]".to_vec(),
        b"42".to_vec(),
        b"\"str\"".to_vec(),
        b"null".to_vec(),
        ("[".repeat(100_000) + &"]".repeat(100_000)).into_bytes(),
        b"{\"type\":\"session\",\"id\":\"\xff\xfe\"}".to_vec(),
        b"{\"a\":\"b\0c\"}".to_vec(),
    ];
    for l in &bad {
        bytes.extend_from_slice(l);
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(br#"{"type":"message","id":"t1","timestamp":"2026-11-05T10:00:09.000Z","message":{"role":"assistant","provider":"openai","model":"gpt-5","usage":{"input":-7,"output":1e40,"cacheRead":18446744073709551616,"cacheWrite":3},"content":[]}}"#);
    bytes.push(b'\n');
    std::fs::write(b.path("a.jsonl"), &bytes).unwrap();
    let (got, _) = b.scan(0);
    assert_eq!(got["pack.user.prompt{pack=pi,session.type=main}"], 2, "{got:?}");
    assert_eq!(got["pack.emitter.lines{pack=pi,result=malformed}"], bad.len() as i64, "{got:?}");
    assert_eq!(got["pack.emitter.lines{pack=pi,result=parsed}"], 4, "{got:?}");
    let tok = |t: &str| {
        format!("pack.token.usage{{pack=pi,model=gpt-5,model.family=openai,token.type={t}}}")
    };
    assert_eq!(got.get(&tok("input")), None, "negative counts are 0");
    assert_eq!(got[&tok("output")], i64::MAX, "huge counts saturate, never wrap");
    assert_eq!(got[&tok("cache_read")], i64::MAX);
    assert_eq!(got[&tok("cache_write")], 3);
}

#[test]
fn a_line_of_hundreds_of_megabytes_is_skipped_without_holding_it() {
    let b = Bench::new();
    let p = b.path("big.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        writeln!(f, "{}", header("S1", 0)).unwrap();
        f.write_all(br#"{"type":"message","id":"big","message":{"role":"toolResult","content":""#)
            .unwrap();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..300 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\"}}\n").unwrap();
        writeln!(f, "{}", user(1)).unwrap();
    }
    // GNU time forks the scanner from a small process, so the peak RSS it
    // reports is the scanner's own (a child forked from this big test
    // process would inherit its RSS in ru_maxrss).
    let bin = env!("CARGO_BIN_EXE_telemetron");
    let out = b
        .env
        .program("/usr/bin/time", &["-f", "%M", bin, "scan", "--endpoint", &b.rx.url])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let peak_kib: u64 = stderr.lines().last().unwrap().trim().parse().expect("time -f %M");
    let peak_mib = peak_kib / 1024;
    assert!(peak_mib < 100, "peak RSS {peak_mib} MiB for a 300 MiB line");
    let got = without_heartbeat(flatten(&b.rx.requests()[0].decode()));
    assert_eq!(got, pi(1, 1, 2, 0, 0, 1));
}

#[test]
fn counts_across_the_whole_lifecycle_add_up() {
    // Every case above in one home, run after run: the receiver's
    // deduplicated total equals what was written.
    let b = Bench::new();
    b.write("a.jsonl", &lines(&[header("S1", 0), user(1)]));
    b.scan(0);
    b.append("a.jsonl", &lines(&[user(2)]));
    b.write("b.jsonl", &lines(&[header("S2", 0), user(3)]));
    b.scan(0);
    std::fs::rename(b.path("b.jsonl"), b.path("c.jsonl")).unwrap();
    b.write("a.jsonl.tmp", &lines(&[header("S1", 0), user(2), user(4)]));
    std::fs::rename(b.path("a.jsonl.tmp"), b.path("a.jsonl")).unwrap();
    b.scan(0);
    let got = without_heartbeat(dedup_total(&b.rx.requests()));
    assert_eq!(got["pack.user.prompt{pack=pi,session.type=main}"], 4);
    assert_eq!(got["pack.session.start{pack=pi,session.type=main}"], 2);
}
