//! `telemetron detect`: what it finds, and the config it writes.

use crate::counting::DEMO;
use crate::util::{flatten, table, without_heartbeat, Receiver, Run, TestEnv};

/// Runs `telemetron detect`.
fn detect(env: &TestEnv, args: &[&str]) -> Run {
    let mut all = vec!["detect"];
    all.extend_from_slice(args);
    Run::from(env.cmd(&all).output().unwrap(), &all)
}

#[test]
fn it_lists_every_pack_place_with_file_counts() {
    let env = TestEnv::with_demo_home();
    let home = env.home().display().to_string();
    let r = detect(&env, &["--home", &home]);
    r.expect_code(0);
    let lines: Vec<String> = r
        .stdout
        .lines()
        .map(|l| l.replace(&home, "~").split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        vec![
            "openclaw ~/.openclaw/agents/main/sessions 2 file(s)",
            "openclaw ~/.openclaw/agents/ops/sessions 1 file(s)",
            "openclaw ~/.openclaw/agents/CANARY-store/agent/openclaw-agent.sqlite 1 file(s)",
            "roundhouse ~/.roundhouse/sessions 2 file(s)",
            "roundhouse ~/.roundhouse/subagents 1 file(s)",
            "pi ~/.pi/agent/sessions 1 file(s)",
            "claude_code ~/.claude/projects 3 file(s)",
            "codex ~/.codex/sessions 4 file(s)",
            "codex ~/.codex/archived_sessions 2 file(s)",
            "gemini_cli ~/.gemini/tmp/CANARY-proj/chats 2 file(s)",
            "hermes ~/.hermes/profiles/CANARY-work/state.db 1 file(s)",
            "hermes ~/.hermes/state.db 1 file(s)",
            "opencode ~/.local/share/opencode/storage/message 2 file(s)",
            "opencode ~/.local/share/opencode/opencode.db 1 file(s)",
            "copilot_cli ~/.copilot/otel 1 file(s)",
            "qwen_code ~/.qwen/projects/-home-u-CANARY-proj/chats 1 file(s)",
            "goose ~/.local/share/goose/sessions/sessions.db 1 file(s)",
            "amp ~/.local/share/amp/threads 1 file(s)",
            "droid ~/.factory/sessions 1 file(s)",
            "kimi ~/.kimi/sessions 1 file(s)",
            "kilo ~/.local/share/kilo/kilo.db 1 file(s)",
            "codebuff ~/.config/manicode/projects 1 file(s)",
            "antigravity ~/.gemini/antigravity/conversations 1 file(s)",
            "grok_build ~/.grok/sessions 1 file(s)",
            "zcode ~/.zcode/cli/db 1 file(s)",
        ]
    );
    let j = detect(&env, &["--home", &home, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 25);
    assert_eq!(v[1]["files"], 1);
}

#[test]
fn the_written_config_covers_everything_in_one_scan() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.write_config(&format!("endpoint: {}\n", rx.url));
    let home = env.home().display().to_string();
    detect(&env, &["--home", &home, "--write-config"]).expect_code(0);
    let cfg = std::fs::read_to_string(env.config_path()).unwrap();
    assert!(cfg.contains("endpoint:") && cfg.contains("packs:"), "{cfg}");
    // The config pins the places; the scan finds exactly what it did.
    env.scan(&[]).expect_code(0);
    assert_eq!(without_heartbeat(flatten(&rx.requests()[0].decode())), table(DEMO));
    let again = detect(&env, &["--home", &home, "--write-config"]);
    again.expect_code(2);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    detect(&env, &["--home", &home, "--write-config", "--force"]).expect_code(0);
}

#[test]
fn nothing_found_exits_1() {
    let env = TestEnv::new();
    let home = env.home().display().to_string();
    let r = detect(&env, &["--home", &home]);
    r.expect_code(1);
    assert!(r.stderr.contains("no agent sessions found"), "{}", r.stderr);
}
