//! The twelve agents of usage records (issue #15): each read whatever its
//! storage (a growing JSONL file, a JSON document rewritten as it grows, a
//! SQLite database whose rows are completed in place), every record
//! counted once when complete, never again on a rewrite, a copy or a
//! re-read. The demo home's exact counts are in `counting.rs`
//! (`fixtures/demo-home.expected`); these follow each storage through the
//! changes an agent makes.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::Connection;

use crate::util::{copy_tree, delivered_counts, fixtures, scan_without_canary, Receiver, TestEnv};

/// The packs, as configured and sent.
pub const PACKS: [&str; 12] = [
    "opencode",
    "copilot_cli",
    "qwen_code",
    "goose",
    "amp",
    "droid",
    "kimi",
    "kilo",
    "codebuff",
    "antigravity",
    "grok_build",
    "zcode",
];

/// A home with one directory of the demo home, and its collector.
struct Home {
    env: TestEnv,
    rx: Receiver,
}

impl Home {
    fn with(dirs: &[&str]) -> Home {
        let h = Home { env: TestEnv::new(), rx: Receiver::start() };
        for d in dirs {
            copy_tree(&fixtures().join("demo-home").join(d), &h.env.home().join(d));
        }
        h
    }

    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.env.home().join(rel)
    }

    /// Scans and returns everything delivered so far.
    fn scan(&self) -> BTreeMap<String, i64> {
        scan_without_canary(&self.env, &self.rx).expect_code(0);
        delivered_counts(&self.rx)
    }
}

/// The sum of the series whose key contains every one of `parts`.
fn sum(m: &BTreeMap<String, i64>, parts: &[&str]) -> i64 {
    m.iter().filter(|(k, _)| parts.iter().all(|p| k.contains(p))).map(|(_, v)| v).sum()
}

fn turns(m: &BTreeMap<String, i64>) -> i64 {
    sum(m, &["pack.agent.turn"])
}

fn tokens(m: &BTreeMap<String, i64>) -> i64 {
    sum(m, &["pack.token.usage"])
}

#[test]
fn an_opencode_message_completed_in_place_counts_once_and_a_legacy_copy_adds_nothing() {
    let h = Home::with(&[".local/share/opencode"]);
    let first = h.scan();
    // Three complete messages in the database (one aborted), one only in
    // a legacy file; its legacy copy of msg_oca1 counts nothing more.
    assert_eq!(turns(&first), 4);
    assert_eq!(tokens(&first), 7240 + 980 + 10 + 60);
    // The streaming message completes: its row is rewritten in place.
    let db = Connection::open(h.path(".local/share/opencode/opencode.db")).unwrap();
    let data: String =
        db.query_row("SELECT data FROM message WHERE id = 'msg_oca2'", [], |r| r.get(0)).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&data).unwrap();
    v["time"]["completed"] = serde_json::json!(1780000004000u64);
    v["tokens"] = serde_json::json!({"input": 70, "output": 30, "reasoning": 0, "cache": {"read": 0, "write": 0}});
    db.execute("UPDATE message SET data = ?1 WHERE id = 'msg_oca2'", [v.to_string()]).unwrap();
    // The running tool call finishes too.
    db.execute(
        "UPDATE part SET data = json_set(data, '$.state.status', 'completed') WHERE id = 'prt_oc3'",
        [],
    )
    .unwrap();
    drop(db);
    let second = h.scan();
    assert_eq!(turns(&second), 5);
    assert_eq!(tokens(&second) - tokens(&first), 100);
    assert_eq!(sum(&second, &["pack.tool.call", "tool.name=edit"]), 1);
    // Nothing changes: nothing more, and the same once more after a copy of
    // the database appears as a channel's.
    std::fs::copy(
        h.path(".local/share/opencode/opencode.db"),
        h.path(".local/share/opencode/opencode-beta.db"),
    )
    .unwrap();
    assert_eq!(h.scan(), second);
    assert_eq!(h.scan(), second);
}

#[test]
fn an_amp_thread_rewritten_counts_its_completed_message_once_and_a_copy_nothing() {
    let h = Home::with(&[".local/share/amp"]);
    let dir = h.path(".local/share/amp/threads");
    let file = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let first = h.scan();
    assert_eq!(turns(&first), 2);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    // Amp rewrites the whole thread: the streaming message completes, a new
    // prompt is appended.
    v["messages"][4]["state"] = serde_json::json!({"type": "complete"});
    v["messages"][4]["usage"] =
        serde_json::json!({"model": "claude-sonnet-4-5", "inputTokens": 7, "outputTokens": 3});
    v["messages"].as_array_mut().unwrap().push(
        serde_json::json!({"role": "user", "messageId": 5, "content": [{"type": "text", "text": "CANARY next"}]}),
    );
    let tmp = dir.join(".tmp-write");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    let second = h.scan();
    assert_eq!(turns(&second), 3);
    assert_eq!(tokens(&second) - tokens(&first), 10);
    assert_eq!(sum(&second, &["pack.user.prompt"]), 2);
    // A copy of the thread under another name counts nothing.
    std::fs::copy(&file, dir.join("T-copy-of-thread.json")).unwrap();
    assert_eq!(h.scan(), second);
}

#[test]
fn a_half_written_document_is_skipped_named_and_read_once_complete() {
    let h = Home::with(&[".config/manicode"]);
    let file = crate::util::files_under(&h.path(".config/manicode"))
        .into_iter()
        .find(|p| p.ends_with("chat-messages.json"))
        .unwrap();
    let whole = std::fs::read(&file).unwrap();
    std::fs::write(&file, &whole[..whole.len() / 2]).unwrap();
    // Named in the log (exit 1: something was skipped), nothing counted.
    let run = h.env.scan(&["--endpoint", h.rx.url.as_str()]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("chat-messages.json") && run.stderr.contains("next changes"),
        "{}",
        run.stderr
    );
    assert_eq!(turns(&delivered_counts(&h.rx)), 0);
    std::fs::write(&file, &whole).unwrap();
    let m = h.scan();
    assert_eq!(turns(&m), 2);
    assert_eq!(sum(&m, &["pack.user.prompt"]), 2);
}

#[test]
fn running_totals_count_their_growth_droid_and_goose() {
    let h = Home::with(&[".factory", ".local/share/goose"]);
    let first = h.scan();
    assert_eq!(sum(&first, &["pack=droid", "pack.token.usage"]), 2500 + 900 + 1200 + 30000 + 300);
    assert_eq!(sum(&first, &["pack=goose", "pack.token.usage"]), 4000 + 150);
    let settings = crate::util::files_under(&h.path(".factory"))
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".settings.json"))
        .unwrap();
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&settings).unwrap()).unwrap();
    v["tokenUsage"]["inputTokens"] = serde_json::json!(2600);
    std::fs::write(&settings, v.to_string()).unwrap();
    let db = Connection::open(h.path(".local/share/goose/sessions/sessions.db")).unwrap();
    db.execute("UPDATE sessions SET accumulated_output_tokens = 850, accumulated_total_tokens = 4050 WHERE id = '20260528_1'", [])
        .unwrap();
    drop(db);
    let second = h.scan();
    assert_eq!(sum(&second, &["pack=droid", "token.type=input"]), 2600);
    assert_eq!(sum(&second, &["pack=goose", "token.type=output"]), 850 + 50);
    assert_eq!(sum(&second, &["pack.session.start"]), 3);
    assert_eq!(h.scan(), second);
}

#[test]
fn jsonl_agents_count_appended_lines_once_and_a_copied_file_nothing() {
    let h = Home::with(&[".qwen", ".kimi", ".grok", ".copilot"]);
    let first = h.scan();
    assert_eq!(sum(&first, &["pack=qwen_code", "pack.agent.turn"]), 2);
    assert_eq!(sum(&first, &["pack=kimi", "pack.agent.turn"]), 2);
    assert_eq!(sum(&first, &["pack=grok_build", "pack.agent.turn"]), 1);
    assert_eq!(sum(&first, &["pack=copilot_cli", "pack.agent.turn"]), 3);
    // Copilot's half-written last line completes.
    let otel = crate::util::files_under(&h.path(".copilot")).pop().unwrap();
    let mut text = std::fs::read_to_string(&otel).unwrap();
    let cut = text.rfind('\n').unwrap() + 1;
    text.truncate(cut);
    text.push_str(&format!(
        "{}\n",
        serde_json::json!({"traceId": "t2", "spanId": "s9", "name": "chat gpt-5", "attributes": {
            "gen_ai.operation.name": "chat", "gen_ai.response.model": "gpt-5", "gen_ai.usage.input_tokens": 40,
            "gen_ai.usage.output_tokens": 2}, "status": {"code": 0}})
    ));
    std::fs::write(&otel, text).unwrap();
    // A Qwen chat copied into another project counts nothing.
    let chat = crate::util::files_under(&h.path(".qwen")).pop().unwrap();
    let other = h.path(".qwen/projects/-home-u-other/chats");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(&chat, other.join("copy.jsonl")).unwrap();
    let second = h.scan();
    assert_eq!(sum(&second, &["pack=copilot_cli", "pack.agent.turn"]), 4);
    assert_eq!(tokens(&second) - tokens(&first), 42);
    assert_eq!(sum(&second, &["pack=qwen_code"]), sum(&first, &["pack=qwen_code"]));
}

#[test]
fn a_zcode_call_counts_once_it_completes_and_antigravity_generations_once_appended() {
    let h = Home::with(&[".zcode", ".gemini/antigravity"]);
    let first = h.scan();
    assert_eq!(sum(&first, &["pack=zcode", "pack.agent.turn"]), 2);
    assert_eq!(sum(&first, &["pack=antigravity", "pack.agent.turn"]), 3);
    let db = Connection::open(h.path(".zcode/cli/db/db.sqlite")).unwrap();
    db.execute(
        "UPDATE model_usage SET status = 'completed', output_tokens = 9 WHERE id = 'zu-3'",
        [],
    )
    .unwrap();
    drop(db);
    let second = h.scan();
    assert_eq!(sum(&second, &["pack=zcode", "pack.agent.turn"]), 3);
    assert_eq!(
        sum(&second, &["pack=zcode", "pack.token.usage"])
            - sum(&first, &["pack=zcode", "pack.token.usage"]),
        509
    );
    assert_eq!(h.scan(), second);
}

/// Every table of a SQLite database, rows as text, in order.
fn dump(db: &Path) -> Vec<String> {
    let c = Connection::open(db).unwrap();
    let mut out = Vec::new();
    let mut tables = c
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    let names: Vec<(String, String)> =
        tables.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    for (name, sql) in names {
        out.push(sql);
        let mut s = c.prepare(&format!("SELECT * FROM \"{name}\" ORDER BY rowid")).unwrap();
        let n = s.column_count();
        let rows = s
            .query_map([], |r| {
                Ok((0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

#[test]
fn the_demo_homes_files_are_what_the_script_writes() {
    let out = tempfile::tempdir().unwrap();
    let script = fixtures().join("../scripts/fixtures/usage_agents.py");
    let st = std::process::Command::new("python3")
        .arg(&script)
        .arg("--out")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(st.success());
    let written = crate::util::files_under(out.path());
    assert!(written.len() >= 16, "{written:?}");
    for f in written {
        let rel = f.strip_prefix(out.path()).unwrap();
        let committed = fixtures().join("demo-home").join(rel);
        let is_db = [".db", ".sqlite"].iter().any(|e| f.to_string_lossy().ends_with(e));
        if is_db {
            assert_eq!(dump(&f), dump(&committed), "{}", rel.display());
        } else {
            assert_eq!(
                std::fs::read(&f).unwrap(),
                std::fs::read(&committed).unwrap(),
                "{}",
                rel.display()
            );
        }
    }
}

#[test]
fn a_transcript_named_for_an_agent_that_keeps_none_counts_nothing() {
    // Goose keeps everything in its database: a JSONL file configured as
    // one of its places is read, and its lines ignored.
    let h = Home::with(&[]);
    std::fs::write(h.path("CANARY-goose.jsonl"), "{\"type\":\"CANARY\"}\n").unwrap();
    h.env.write_config("packs:\n  goose:\n    paths: ['~/CANARY-goose.jsonl']\n");
    scan_without_canary(&h.env, &h.rx).expect_code(0);
    let all = crate::util::total(&h.rx.requests());
    assert_eq!(all.get("pack.emitter.lines{pack=goose,result=ignored}"), Some(&1), "{all:?}");
    assert_eq!(sum(&all, &["pack=goose", "pack.session.start"]), 0);
}
