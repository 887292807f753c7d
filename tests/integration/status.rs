//! `telemetron status`: what it reports and its exit codes (0 healthy,
//! 1 failing or stale, for monitoring).

use crate::counting::{pi_user_line, PI_FILE};
use crate::util::{Receiver, Reply, Run, TestEnv};

/// Runs `telemetron status` with extra arguments.
fn status(env: &TestEnv, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut all = vec!["status"];
    all.extend_from_slice(args);
    let mut c = env.cmd(&all);
    for (k, v) in vars {
        c.env(k, v);
    }
    Run::from(c.output().unwrap(), &all)
}

/// `status --json`, parsed.
fn json(env: &TestEnv, args: &[&str]) -> (i32, serde_json::Value) {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let r = status(env, &a, &[]);
    (r.code, serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout)))
}

#[test]
fn before_any_run_it_is_unhealthy() {
    let env = TestEnv::with_demo_home();
    let r = status(&env, &[], &[]);
    r.expect_code(1);
    assert!(r.stdout.contains("no run recorded yet"), "{}", r.stdout);
    assert!(r.stdout.contains("openclaw 3, roundhouse 3, pi 1"), "{}", r.stdout);
}

#[test]
fn after_a_good_run_it_is_healthy_and_counts_unscanned_bytes() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let (code, v) = json(&env, &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["healthy"], true);
    // The demo home's Copilot CLI and Qwen Code files end in a line still
    // being written (16 and 29 bytes): unscanned until it ends.
    let partial = 16 + 29;
    assert_eq!(v["unscanned_bytes"], partial);
    assert_eq!(v["unscanned_files"], 2);
    assert_eq!(v["last_run"]["last_http_status"], 200);
    assert_eq!(v["telemetry"], "on");
    let line = pi_user_line(1) + "\n";
    env.append(PI_FILE, &line);
    let (_, v) = json(&env, &[]);
    assert_eq!(v["unscanned_bytes"], line.len() + partial);
    assert_eq!(v["unscanned_files"], 3);
}

#[test]
fn a_failed_run_is_reported_with_its_pending_batch() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    rx.script([Reply::status(500)]);
    env.scan(&["--endpoint", &rx.url]).expect_code(3);
    let r = status(&env, &[], &[]);
    r.expect_code(1);
    assert!(r.stdout.contains("failing: the last run exited 3"), "{}", r.stdout);
    assert!(r.stdout.contains("HTTP 500"), "{}", r.stdout);
    assert!(r.stdout.contains("pending:       batch #2"), "{}", r.stdout);
    assert!(
        r.stdout.contains("last error:") && r.stdout.contains("kept and sent again"),
        "{}",
        r.stdout
    );
    // The next good run heals it.
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    status(&env, &[], &[]).expect_code(0);
}

#[test]
fn no_success_for_three_intervals_is_stale() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    std::thread::sleep(std::time::Duration::from_millis(400));
    let r = status(&env, &["--interval", "100ms"], &[]);
    r.expect_code(1);
    assert!(r.stdout.contains("stale"), "{}", r.stdout);
    status(&env, &["--interval", "5m"], &[]).expect_code(0);
}

#[test]
fn dropped_points_are_shown() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    rx.script([Reply::status(400)]);
    env.scan(&["--endpoint", &rx.url]).expect_code(5);
    let (code, v) = json(&env, &[]);
    assert_eq!(code, 1, "the last run failed");
    assert!(v["dropped_points"].as_u64().unwrap() > 0);
    assert_eq!(v["dropped_batches"], 1);
}

#[test]
fn when_telemetry_is_off_it_says_why_and_is_healthy() {
    let env = TestEnv::with_demo_home();
    let r = status(&env, &[], &[("DO_NOT_TRACK", "1")]);
    r.expect_code(0);
    assert!(r.stdout.contains("telemetry:     off (DO_NOT_TRACK is set)"), "{}", r.stdout);
}

#[test]
fn it_says_whether_a_schedule_is_installed() {
    let env = TestEnv::with_demo_home();
    let seam = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut c = env.cmd(args);
        c.env("TELEMETRON_SCHEDULE_SEAM", seam.path());
        Run::from(c.output().unwrap(), args)
    };
    let before = run(&["status"]);
    assert!(before.stdout.contains("schedule:      not installed"), "{}", before.stdout);
    let bin = env!("CARGO_BIN_EXE_telemetron");
    run(&["schedule", "install", "--systemd", "--user", "--binary", bin]).expect_code(0);
    let after = run(&["status"]);
    assert!(after.stdout.contains("schedule:      systemd timer (user)"), "{}", after.stdout);
    run(&["schedule", "install", "--cron", "--user", "--binary", bin]).expect_code(0);
    run(&["schedule", "remove", "--systemd", "--user", "--binary", bin]).expect_code(0);
    let cron = run(&["status"]);
    assert!(cron.stdout.contains("schedule:      cron (user crontab)"), "{}", cron.stdout);
}

#[test]
fn it_counts_databases_and_those_changed_since_they_were_read() {
    let env = TestEnv::with_demo_home();
    let r = status(&env, &[], &[]);
    assert!(
        r.stdout.contains(
            "databases:     codebuff 1, droid 1, antigravity 1, hermes 2, amp 1, goose 1, kilo 1, \
             opencode 3, openclaw 1, zcode 1"
        ),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("13 database(s) changed since last read"), "{}", r.stdout);
    assert!(!r.stdout.contains(crate::util::CANARY), "no canary in status: {}", r.stdout);
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let (_, v) = json(&env, &[]);
    assert_eq!(v["unscanned_databases"], 0, "{v}");
    let db = env.home().join(".hermes/state.db");
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute("UPDATE sessions SET input_tokens = input_tokens + 1", []).unwrap();
    let (_, v) = json(&env, &[]);
    assert_eq!(v["unscanned_databases"], 1, "{v}");
    assert_eq!(v["databases"][3][0], "hermes");
}
