//! Claude Code, Codex and Gemini CLI: the traps of each format, counted
//! exactly through the loopback receiver across two runs.
//!
//! The first run reads `fixtures/demo-home` (its expected counts are part
//! of `counting::DEMO`); the second appends `fixtures/demo-later` to the
//! same files: the rest of a Claude Code response split across the two
//! runs, Codex totals that grow and totals re-emitted, and Gemini messages
//! re-appended with newer values and re-listed by a checkpoint.

use std::collections::BTreeMap;
use std::path::Path;

use crate::counting::DEMO;
use crate::util::{files_under, fixtures, flatten, table, without_heartbeat, Receiver, TestEnv};

/// What the second run adds, worked out by hand: see the file's header.
pub const LATER: &str = include_str!("../../fixtures/demo-later.expected");

/// Appends every file of `fixtures/demo-later` to the same path in `home`.
pub fn append_later(home: &Path) {
    let later = fixtures().join("demo-later");
    for f in files_under(&later) {
        let rel = f.strip_prefix(&later).unwrap();
        let dest = home.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let mut bytes = std::fs::read(&dest).unwrap_or_default();
        bytes.extend(std::fs::read(&f).unwrap());
        std::fs::write(&dest, bytes).unwrap();
    }
}

/// The series of these three packs only.
fn agents(m: BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    m.into_iter()
        .filter(|(k, _)| {
            ["claude_code", "codex", "gemini_cli"].iter().any(|p| k.contains(&format!("pack={p}")))
        })
        .collect()
}

/// Adds two count tables.
fn sum(a: &BTreeMap<String, i64>, b: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    let mut out = a.clone();
    for (k, v) in b {
        *out.entry(k.clone()).or_insert(0) += v;
    }
    out
}

#[test]
fn split_responses_growing_totals_and_upserts_count_once_across_two_runs() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    append_later(env.home());
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(agents(flatten(&reqs[0].decode())), agents(table(DEMO)));
    assert_eq!(agents(without_heartbeat(flatten(&reqs[1].decode()))), table(LATER));
    // A third run over unchanged files adds nothing.
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let third = without_heartbeat(flatten(&rx.requests()[2].decode()));
    assert!(agents(third).is_empty());
}

#[test]
fn one_run_over_the_final_files_counts_what_two_runs_counted() {
    let env = TestEnv::with_demo_home();
    append_later(env.home());
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let got = agents(flatten(&rx.requests()[0].decode()));
    let want = sum(&agents(table(DEMO)), &table(LATER));
    // Lines differ (a split response is two reads apart or one); every
    // counted metric is the same.
    let no_lines = |m: BTreeMap<String, i64>| -> BTreeMap<String, i64> {
        m.into_iter().filter(|(k, _)| !k.starts_with("pack.emitter.lines")).collect()
    };
    assert_eq!(no_lines(got), no_lines(want));
}

#[test]
fn a_rollout_moved_to_archived_sessions_is_not_read_again() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let from = env
        .home()
        .join(".codex/sessions/2026/11/05/rollout-2026-11-05T10-00-00-CANARY-cx-0001.jsonl");
    let to = env
        .home()
        .join(".codex/archived_sessions/rollout-2026-11-05T10-00-00-CANARY-cx-0001.jsonl");
    std::fs::rename(&from, &to).unwrap();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let second = agents(without_heartbeat(flatten(&rx.requests()[1].decode())));
    assert!(second.is_empty(), "{second:?}");
}

#[test]
fn records_copied_into_a_new_file_in_a_later_run_are_not_counted_again() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    // A resumed session copies the whole of an earlier transcript, and a
    // sidechain replays it, under new file names.
    let dir = env.home().join(".claude/projects/-home-dev-CANARY-proj");
    let orig = std::fs::read_to_string(dir.join("CANARY-cc-sess-0001.jsonl")).unwrap();
    std::fs::write(
        dir.join("CANARY-cc-sess-0003.jsonl"),
        orig.replace("CANARY-cc-sess-0001", "CANARY-cc-sess-0003"),
    )
    .unwrap();
    let side: String = orig
        .lines()
        .filter(|l| l.contains("\"type\":\"assistant\""))
        .map(|l| {
            l.replace("\"isSidechain\":false", "\"isSidechain\":true")
                .replace("req_CANARY_A", "req_CANARY_X")
                + "\n"
        })
        .collect();
    std::fs::create_dir_all(dir.join("CANARY-cc-sess-0001/subagents")).unwrap();
    std::fs::write(dir.join("CANARY-cc-sess-0001/subagents/agent-zz.jsonl"), side).unwrap();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let second = agents(without_heartbeat(flatten(&rx.requests()[1].decode())));
    let counted: BTreeMap<_, _> =
        second.into_iter().filter(|(k, _)| !k.starts_with("pack.emitter.lines")).collect();
    // Only the new session's start: every prompt, turn, tool call, error
    // and token in it was counted from the original.
    assert_eq!(counted, table("pack.session.start{pack=claude_code,session.type=main} 1"));
}

#[test]
fn the_seen_table_survives_a_failed_send_and_a_corrupt_file() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    rx.script([
        crate::util::Reply::status(503),
        crate::util::Reply::status(503),
        crate::util::Reply::status(503),
    ]);
    env.scan(&["--endpoint", &rx.url, "--retry-max-time", "0s"]).expect_code(3);
    assert!(env.state_file("seen.bin").is_none(), "nothing committed before an ack");
    assert!(env.state_file("seen.next.bin").is_some());
    let rx2 = Receiver::start();
    env.scan(&["--endpoint", &rx2.url]).expect_code(0);
    let seen = env.state_file("seen.bin").expect("committed");
    // The re-sent batch carried the counts; the new run adds none.
    let reqs = rx2.requests();
    assert_eq!(agents(flatten(&reqs[0].decode())), agents(table(DEMO)));
    assert!(agents(without_heartbeat(flatten(&reqs[1].decode()))).is_empty());
    // A damaged table is recovered from its backup.
    let mut bad = seen.clone();
    bad[12] ^= 0xff;
    std::fs::write(env.state_dir().join("seen.bin"), bad).unwrap();
    append_later(env.home());
    let run = env.scan(&["--endpoint", &rx2.url]);
    run.expect_code(0);
    assert!(run.stderr.contains("seen.bin"), "{}", run.stderr);
    let third = agents(without_heartbeat(flatten(&rx2.requests()[2].decode())));
    assert_eq!(third, table(LATER));
}

#[test]
fn agent_env_vars_move_the_places() {
    let env = TestEnv::new();
    let elsewhere = env.home().join("elsewhere");
    crate::util::copy_tree(&fixtures().join("demo-home/.claude"), &elsewhere.join("claude-a"));
    crate::util::copy_tree(&fixtures().join("demo-home/.codex"), &elsewhere.join("codex"));
    crate::util::copy_tree(&fixtures().join("demo-home/.gemini"), &elsewhere.join("gem/.gemini"));
    let rx = Receiver::start();
    let claude_dirs =
        format!("{},{}", elsewhere.join("claude-a").display(), elsewhere.join("missing").display());
    env.scan_env(
        &["--endpoint", &rx.url],
        &[
            ("CLAUDE_CONFIG_DIR", &claude_dirs),
            ("CODEX_HOME", &elsewhere.join("codex").display().to_string()),
            ("GEMINI_CLI_HOME", &elsewhere.join("gem").display().to_string()),
        ],
    )
    .expect_code(0);
    let got = agents(flatten(&rx.requests()[0].decode()));
    assert_eq!(got, agents(table(DEMO)));
}
