//! Delivery: failed sends keep everything for the next run, a killed run
//! re-sends an identical batch, retries follow the OTLP rules, and
//! overlapping runs never race.

use std::time::{Duration, Instant};

use crate::counting::{one_pi_prompt, pi_user_line, DEMO, PI_FILE};
use crate::util::{table, total, without_heartbeat, Receiver, Reply, TestEnv};

/// Short timeouts so failure tests stay fast.
const FAST: [&str; 4] = ["--timeout", "1s", "--retry-max-time", "2s"];

/// A loopback URL on which nothing listens.
fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/v1/metrics")
}

/// Runs a failing export, then a good one, and checks that the good
/// receiver got every count exactly once.
fn fails_then_recovers(fail: impl FnOnce(&TestEnv) -> String) {
    let env = TestEnv::with_demo_home();
    let url = fail(&env);
    let mut args = vec!["--endpoint", url.as_str()];
    args.extend_from_slice(&FAST);
    let run = env.scan(&args);
    run.expect_code(3);
    assert!(run.stderr.contains("kept and sent again"), "{}", run.stderr);
    assert!(env.state_file("state.json").is_none(), "offsets were not committed");
    assert!(env.state_file("pending.json").is_some(), "the batch is kept");

    let rx = Receiver::start();
    env.append(PI_FILE, &(pi_user_line(9) + "\n"));
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2, "the kept batch, then the new counts");
    let mut want = table(DEMO);
    for (k, v) in one_pi_prompt() {
        *want.entry(k).or_insert(0) += v;
    }
    let got = total(&reqs);
    assert_eq!(got.get("pack.emitter.heartbeat{pack=telemetron}"), Some(&2));
    assert_eq!(without_heartbeat(got), want);
    assert!(env.state_file("pending.json").is_none());

    // Nothing more to send: only a heartbeat.
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    assert_eq!(total(&rx.requests()[2..]), table("pack.emitter.heartbeat{pack=telemetron} 1"));
}

#[test]
fn connection_refused_loses_nothing() {
    fails_then_recovers(|_| closed_port_url());
}

#[test]
fn http_500_loses_nothing() {
    let rx = Box::leak(Box::new(Receiver::start()));
    rx.script([Reply::status(500)]);
    fails_then_recovers(|_| rx.url.clone());
    assert_eq!(rx.requests().len(), 1, "500 is not retried");
}

#[test]
fn a_timeout_loses_nothing() {
    let rx = Box::leak(Box::new(Receiver::start()));
    rx.script((0..5).map(|_| Reply::Hang(Duration::from_secs(5))));
    fails_then_recovers(|_| rx.url.clone());
}

#[test]
fn a_killed_run_resends_an_identical_batch() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    rx.script([Reply::Hang(Duration::from_secs(60))]);
    let mut child = env.spawn_scan(&["--endpoint", &rx.url, "--timeout", "60s"]);
    rx.wait_for(1);
    child.kill().unwrap(); // SIGKILL: after the receiver got the body, before any commit.
    child.wait().unwrap();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[1].raw, reqs[0].raw, "the re-sent batch is byte-identical");
    assert_eq!(total(&reqs[2..]), table("pack.emitter.heartbeat{pack=telemetron} 1"));
}

#[test]
fn retryable_statuses_are_retried_with_retry_after() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    let ra = vec![("Retry-After".to_string(), "1".to_string())];
    rx.script([Reply::Status(503, ra, Vec::new()), Reply::status(429), Reply::Drop]);
    let t = Instant::now();
    env.scan(&["--endpoint", &rx.url, "--retry-max-time", "20s"]).expect_code(0);
    assert!(t.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 4);
    assert!(reqs.windows(2).all(|w| w[0].raw == w[1].raw), "retries send the same body");
    assert_eq!(without_heartbeat(total(&reqs[3..])), table(DEMO));
}

#[test]
fn a_retry_after_beyond_the_budget_gives_up_for_this_run() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    rx.script([Reply::Status(429, vec![("Retry-After".into(), "3600".into())], Vec::new())]);
    let t = Instant::now();
    env.scan(&["--endpoint", &rx.url, "--retry-max-time", "5s"]).expect_code(3);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(rx.requests().len(), 1);
}

#[test]
fn client_errors_are_final_and_explained() {
    for (status, hint, code) in
        [(400, "rejected", 5), (401, "token", 3), (403, "token", 3), (404, "path", 3)]
    {
        let env = TestEnv::with_demo_home();
        let rx = Receiver::start();
        rx.script([Reply::Status(status, vec![], b"nope: \x1b[31mbad\n".to_vec())]);
        let run = env.scan(&["--endpoint", &rx.url]);
        run.expect_code(code);
        assert_eq!(rx.requests().len(), 1, "{status} is not retried");
        assert!(run.stderr.contains(&format!("HTTP {status}")), "{}", run.stderr);
        assert!(run.stderr.contains(hint), "{}", run.stderr);
        assert!(run.stderr.contains(&rx.url), "names the endpoint: {}", run.stderr);
        assert!(!run.stderr.contains('\x1b'), "server text is sanitised");
    }
}

#[test]
fn a_redirect_is_not_followed_or_taken_as_success() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    rx.script([Reply::Status(
        301,
        vec![("Location".into(), "http://127.0.0.1:9/v1/metrics".into())],
        vec![],
    )]);
    let run = env.scan(&["--endpoint", &rx.url]);
    run.expect_code(3);
    assert!(run.stderr.contains("HTTP 301"), "{}", run.stderr);
    assert!(env.state_file("state.json").is_none());
}

#[test]
fn partial_success_is_reported_not_retried() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    let body = br#"{"partialSuccess":{"rejectedDataPoints":"2","errorMessage":"two were stale"}}"#
        .to_vec();
    rx.script([Reply::Status(200, vec![("Content-Type".into(), "application/json".into())], body)]);
    let run = env.scan(&["--endpoint", &rx.url]);
    run.expect_code(0);
    assert!(run.stderr.contains("rejected 2 point(s): two were stale"), "{}", run.stderr);
    assert_eq!(rx.requests().len(), 1);
}

#[test]
fn garbage_response_bodies_are_ignored() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    rx.script([Reply::Status(200, vec![], vec![0xff; 100_000])]);
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    assert!(env.state_file("state.json").is_some());
}

#[test]
fn the_token_file_becomes_a_bearer_header() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    let tok = env.home().join("token");
    std::fs::write(&tok, b"\xef\xbb\xbfsecret-token\r\n").unwrap();
    env.scan(&["--endpoint", &rx.url, "--token-file", tok.to_str().unwrap()]).expect_code(0);
    assert_eq!(rx.requests()[0].header("authorization"), Some("Bearer secret-token"));
}

#[test]
fn header_values_come_from_named_environment_variables() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.write_config("headers:\n  X-Scope-OrgID: TENANT\n");
    env.scan_env(&["--endpoint", &rx.url], &[("TENANT", "team-a")]).expect_code(0);
    assert_eq!(rx.requests()[0].header("x-scope-orgid"), Some("team-a"));
    let run = env.scan(&["--endpoint", &rx.url]);
    run.expect_code(2);
    assert!(run.stderr.contains("$TENANT"), "{}", run.stderr);
}

#[test]
fn an_overlapping_run_exits_at_once_without_touching_anything() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    rx.script([Reply::Hang(Duration::from_secs(3))]);
    let first =
        env.spawn_scan(&["--endpoint", &rx.url, "--timeout", "10s", "--retry-max-time", "10s"]);
    rx.wait_for(1);
    let t = Instant::now();
    let second = env.scan(&["--endpoint", &rx.url]);
    second.expect_code(0);
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(second.stderr.lines().count(), 1, "one line: {}", second.stderr);
    assert!(second.stderr.contains("another scan holds"));
    let out = first.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let reqs = rx.requests();
    // The first run's hung attempt, and its retry.
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].raw, reqs[1].raw);
}

#[test]
fn a_run_killed_while_holding_the_lock_does_not_block_the_next() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    rx.script([Reply::Hang(Duration::from_secs(60))]);
    let mut child = env.spawn_scan(&["--endpoint", &rx.url, "--timeout", "60s"]);
    rx.wait_for(1);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(env.state_dir().join("telemetron.lock").exists());
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
}

#[test]
fn the_lock_is_a_separate_file_beside_the_state() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let mut names: Vec<String> = std::fs::read_dir(env.state_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "history",
            "install-id",
            "positions.bak.bin",
            "positions.bin",
            "seen.bak.bin",
            "seen.bin",
            "state.bak.json",
            "state.json",
            "status.json",
            "telemetron.lock"
        ]
    );
}
