//! The command line and configuration: help, exit codes, precedence and
//! errors that say what to do.

use crate::util::{Receiver, TestEnv};

/// The temporality of the first request the receiver got.
fn temporality(rx: &Receiver) -> i32 {
    let req = rx.requests().last().unwrap().decode();
    req.resource_metrics[0].scope_metrics[0].metrics[0]
        .sum
        .as_ref()
        .unwrap()
        .aggregation_temporality
}

#[test]
fn help_documents_the_exit_codes() {
    let env = TestEnv::new();
    let out = env.cmd(&["scan", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for code in
        ["0  exported", "1  exported, but", "2  usage", "3  export failed", "4  local error"]
    {
        assert!(text.contains(code), "{code} missing from:\n{text}");
    }
    assert!(text.contains("TELEMETRON_ENDPOINT"));
}

#[test]
fn precedence_is_flag_then_env_then_file() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.write_config(&format!("endpoint: {}\ntemporality: cumulative\n", rx.url));
    env.scan(&[]).expect_code(0);
    assert_eq!(temporality(&rx), 2, "file");
    env.scan_env(&[], &[("TELEMETRON_TEMPORALITY", "delta")]).expect_code(0);
    assert_eq!(temporality(&rx), 1, "env over file");
    env.scan_env(&["--temporality", "cumulative"], &[("TELEMETRON_TEMPORALITY", "delta")])
        .expect_code(0);
    assert_eq!(temporality(&rx), 2, "flag over env");
}

#[test]
fn an_unknown_config_key_is_named() {
    let env = TestEnv::with_demo_home();
    let cfg = env.write_config("endpiont: https://x/v1/metrics\n");
    let run = env.scan(&[]);
    run.expect_code(2);
    assert!(run.stderr.contains("endpiont"), "{}", run.stderr);
    assert!(run.stderr.contains(&cfg.display().to_string()), "{}", run.stderr);
}

#[test]
fn a_missing_endpoint_says_how_to_set_one() {
    let env = TestEnv::with_demo_home();
    let run = env.scan(&[]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("TELEMETRON_ENDPOINT") && run.stderr.contains("--dry-run"),
        "{}",
        run.stderr
    );
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let env = TestEnv::with_demo_home();
    let run = env.scan(&["--endpoint", "http://collector.example:4318/v1/metrics"]);
    run.expect_code(2);
    assert!(run.stderr.contains("insecure_endpoint"), "{}", run.stderr);
}

#[test]
fn an_unusable_state_dir_is_a_local_error() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    let file = env.home().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let run = env.scan(&["--endpoint", &rx.url, "--state-dir", file.to_str().unwrap()]);
    run.expect_code(4);
    assert!(run.stderr.contains("not-a-dir"), "{}", run.stderr);
    assert!(rx.requests().is_empty());
}

#[test]
fn every_opt_out_signal_stops_the_scan_before_it_reads_anything() {
    let signals: [(&str, &str, &str); 5] = [
        ("DO_NOT_TRACK", "1", ""),
        ("TELEMETRON_TELEMETRY", "0", ""),
        ("LOWKEY_TELEMETRY", "off", ""),
        ("", "", ".telemetron/telemetry-off"),
        ("", "", ".lowkey/telemetry-off"),
    ];
    for (var, value, file) in signals {
        let env = TestEnv::with_demo_home();
        let rx = Receiver::start();
        // Even a broken config does not matter once telemetry is off.
        env.write_config("not: [valid");
        if !file.is_empty() {
            std::fs::create_dir_all(env.home().join(file).parent().unwrap()).unwrap();
            std::fs::write(env.home().join(file), "").unwrap();
        }
        let vars: Vec<(&str, &str)> = if var.is_empty() { vec![] } else { vec![(var, value)] };
        for args in [&["--endpoint", rx.url.as_str()][..], &["--dry-run"]] {
            let run = env.scan_env(args, &vars);
            run.expect_code(0);
            assert!(run.stderr.contains("telemetry is off"), "{var}{file}: {}", run.stderr);
            assert!(run.stdout.is_empty());
        }
        assert!(rx.requests().is_empty(), "{var}{file}: nothing sent");
        assert!(!env.state_dir().exists(), "{var}{file}: nothing written");
    }
}

#[test]
fn telemetron_disable_is_not_an_opt_out() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan_env(&["--endpoint", &rx.url], &[("TELEMETRON_DISABLE", "1")]).expect_code(0);
    assert_eq!(rx.requests().len(), 1);
}

#[test]
fn a_go_config_and_its_offsets_are_taken_over() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    let sessions = env.home().join(".openclaw/agents/main/sessions");
    let main = sessions.join("CANARY-oc-main-0001.jsonl");
    let size = std::fs::metadata(&main).unwrap().len();
    // The Go daemon had sent all of the main session.
    let go_state = env.home().join("go-state.json");
    std::fs::write(
        &go_state,
        format!(
            r#"{{"files":{{"{}":{{"offset":{size},"session_started":true}}}}}}"#,
            main.display()
        ),
    )
    .unwrap();
    env.write_config(&format!(
        "mode: openclaw\nendpoint: {}\ndeclared:\n  tier: internal\n  pack_version: 2026.7.1\n\
         openclaw:\n  session_dir: {}\n  flush_interval: 15s\n  state_file: {}\n",
        rx.url,
        sessions.display(),
        go_state.display()
    ));
    let run = env.scan(&[]);
    run.expect_code(0);
    assert!(run.stderr.contains("is a config of the Go telemetron"), "{}", run.stderr);
    assert!(run.stderr.contains("imported 1 file offset(s)"), "{}", run.stderr);
    let got = crate::util::flatten(&rx.requests()[0].decode());
    assert_eq!(
        got.get("pack.user.prompt{pack=openclaw,session.type=main}"),
        None,
        "already sent by Go"
    );
    assert_eq!(got.get("pack.user.prompt{pack=openclaw,session.type=subagent}"), Some(&1));
    assert_eq!(got.get("pack.user.prompt{pack=pi,session.type=main}"), Some(&2));
    // What the Go daemon never saw is counted from now on.
    env.append(
        ".openclaw/agents/main/sessions/CANARY-oc-main-0001.jsonl",
        "{\"type\":\"message\",\"id\":\"ffff0001\",\"timestamp\":\"2026-11-02T12:00:00.000Z\",\"message\":{\"role\":\"user\",\"content\":\"CANARY\"}}\n",
    );
    env.scan(&[]).expect_code(0);
    let got = crate::util::flatten(&rx.requests()[1].decode());
    assert_eq!(got.get("pack.user.prompt{pack=openclaw,session.type=main}"), Some(&1));
}

#[test]
fn a_dry_run_on_a_terminal_also_shows_what_the_batch_holds_on_stderr() {
    let env = crate::util::TestEnv::with_demo_home();
    // Not a terminal: stderr has only the dry run's line.
    let plain = env.scan(&["--dry-run"]);
    plain.expect_code(0);
    assert!(!plain.stderr.contains("tool calls"), "{}", plain.stderr);
    // A terminal (util-linux `script` gives the run one), when available.
    let bin = env!("CARGO_BIN_EXE_telemetron");
    let home = env.home().display().to_string();
    let state = env.home().join("state-tty").display().to_string();
    let cmd = format!("'{bin}' scan --dry-run --home '{home}' --state-dir '{state}' >/dev/null");
    let Ok(out) = std::process::Command::new("script").args(["-qec", &cmd, "/dev/null"]).output()
    else {
        return; // no `script` here: the terminal case is the unit tests'
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let total = text.lines().find(|l| l.starts_with("total")).expect("a totals row");
    // Sessions, prompts, turns, tool calls, errors and tokens of the demo
    // home (fixtures/demo-home.expected).
    let demo = crate::util::table(crate::counting::DEMO);
    let sum = |m: &str| demo.iter().filter(|(k, _)| k.starts_with(m)).map(|(_, v)| *v).sum::<i64>();
    let want: Vec<String> = std::iter::once("total".to_string())
        .chain(
            [
                "pack.session.start",
                "pack.user.prompt",
                "pack.agent.turn",
                "pack.tool.call",
                "pack.error{",
                "pack.token.usage",
            ]
            .iter()
            .map(|m| telemetron::commands::table::thousands(sum(m) as u64)),
        )
        .collect();
    let mut cells: Vec<String> = total.split_whitespace().map(str::to_string).collect();
    // And the cost, in dollars.
    let cost: f64 = cells.pop().unwrap().parse().unwrap();
    assert!(cost > 0.0, "{text}");
    assert_eq!(cells, want);
    assert!(!text.contains(crate::util::CANARY));
}
