//! Faults: a run killed at any point, an unusable state directory, and
//! every kind of answer a collector can give. Each test checks that every
//! count is delivered exactly once (a re-sent batch is identical, so a
//! backend keyed on series and time stores it once) or, where the
//! collector refuses a batch for good, that the drop is recorded.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::counting::{one_pi_prompt, pi_user_line, DEMO, PI_FILE};
use crate::util::{table, without_heartbeat, Received, Receiver, Reply, TestEnv};

/// Sums requests the way a backend keyed on (series, start, time) would:
/// identical points sent twice are stored once.
pub fn dedup_total(reqs: &[Received]) -> BTreeMap<String, i64> {
    let mut seen = BTreeMap::new();
    for r in reqs {
        let req = r.decode();
        // Costs are checked apart (crate::util::flatten leaves them out).
        for m in req.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .filter(|m| m.name != "pack.cost.usage")
        {
            for p in &m.sum.as_ref().unwrap().data_points {
                let attrs: Vec<String> = p
                    .attributes
                    .iter()
                    .map(|kv| format!("{}={}", kv.key, kv.as_str().unwrap()))
                    .collect();
                let key = format!("{}{{{}}}", m.name, attrs.join(","));
                let id = (key.clone(), p.start_time_unix_nano, p.time_unix_nano);
                let v = p.as_int.unwrap_or_else(|| (p.as_double.unwrap() * 1e12).round() as i64);
                if let Some(prev) = seen.insert(id, v) {
                    assert_eq!(prev, v, "same point, different value: {key}");
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    for ((k, _, _), v) in seen {
        *out.entry(k).or_insert(0) += v;
    }
    out
}

/// The demo home's counts plus one appended pi prompt.
fn demo_plus_one() -> BTreeMap<String, i64> {
    let mut want = table(DEMO);
    for (k, v) in one_pi_prompt() {
        *want.entry(k).or_insert(0) += v;
    }
    want
}

#[test]
fn a_run_killed_at_any_point_loses_and_duplicates_nothing() {
    for point in
        ["mid-scan", "after-scan", "after-pending", "before-rename", "after-ack", "after-commit"]
    {
        let env = TestEnv::with_demo_home();
        let rx = Receiver::start();
        let run = env.scan_env(&["--endpoint", &rx.url], &[("TELEMETRON_FAILPOINT", point)]);
        assert_eq!(run.code, -1, "{point}: killed by SIGKILL\n{}", run.stderr);
        env.append(PI_FILE, &(pi_user_line(4) + "\n"));
        env.scan(&["--endpoint", &rx.url]).expect_code(0);
        env.scan(&["--endpoint", &rx.url]).expect_code(0);
        let got = dedup_total(&rx.requests());
        assert_eq!(without_heartbeat(got), demo_plus_one(), "killed at {point}");
    }
}

#[test]
fn a_commit_torn_in_the_positions_log_copies_the_positions_left_out_back() {
    // The next run finds the torn frame: it rewrites positions.bin, whose
    // entries of the files found as they were left it never loaded.
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let dir = telemetron::state::StateDir::new(env.state_dir());
    let known = dir.load(0, false).unwrap().state.files.len();
    env.append(PI_FILE, &(pi_user_line(4) + "\n"));
    let run =
        env.scan_env(&["--endpoint", &rx.url], &[("TELEMETRON_FAILPOINT", "mid-positions-log")]);
    assert_eq!(run.code, -1, "killed halfway through the frame\n{}", run.stderr);
    assert!(dir.positions_log_path().exists() && dir.pending_path().exists());
    env.append(PI_FILE, &(pi_user_line(5) + "\n"));
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    assert!(!dir.pending_path().exists());
    let files = dir.load(0, false).unwrap().state.files;
    assert_eq!(files.len(), known, "every position is still there");
    let size = std::fs::metadata(env.home().join(PI_FILE)).unwrap().len();
    assert_eq!(files.iter().find(|(k, _)| k.ends_with(PI_FILE)).unwrap().1.offset, size);
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let mut want = demo_plus_one();
    for (k, v) in one_pi_prompt() {
        *want.entry(k).or_insert(0) += v;
    }
    assert_eq!(without_heartbeat(dedup_total(&rx.requests())), want);
}

#[test]
fn a_run_killed_after_the_ack_resends_the_identical_batch() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    let run = env.scan_env(&["--endpoint", &rx.url], &[("TELEMETRON_FAILPOINT", "after-ack")]);
    assert_eq!(run.code, -1);
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let reqs = rx.requests();
    assert_eq!(reqs[0].raw, reqs[1].raw);
}

#[test]
fn a_corrupt_state_is_recovered_from_its_backup_loudly() {
    for bad in ["", "{\"version\":1,", "\0\0\0\0", "{\"version\":99}"] {
        let env = TestEnv::with_demo_home();
        let rx = Receiver::start();
        env.scan(&["--endpoint", &rx.url]).expect_code(0);
        std::fs::write(env.state_dir().join("state.json"), bad).unwrap();
        env.append(PI_FILE, &(pi_user_line(5) + "\n"));
        let run = env.scan(&["--endpoint", &rx.url]);
        run.expect_code(0);
        assert!(run.stderr.contains("recovered from"), "{bad:?}: {}", run.stderr);
        let got = dedup_total(&rx.requests());
        assert_eq!(without_heartbeat(got), demo_plus_one(), "{bad:?}");
        // And it does not crash-loop: the next run is normal.
        let run = env.scan(&["--endpoint", &rx.url]);
        run.expect_code(0);
        assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    }
}

#[test]
fn with_no_usable_state_history_is_not_sent_again() {
    // Lost file positions: every file is taken up from its current end.
    // Lost totals alone: the positions say what was sent already.
    for (lost, says) in [
        (["positions.bin", "positions.bak.bin"], "current end"),
        (["state.json", "state.bak.json"], "totals start over"),
    ] {
        let env = TestEnv::with_demo_home();
        let rx = Receiver::start();
        env.scan(&["--endpoint", &rx.url]).expect_code(0);
        for f in lost {
            std::fs::write(env.state_dir().join(f), "garbage").unwrap();
        }
        let run = env.scan(&["--endpoint", &rx.url]);
        run.expect_code(0);
        assert!(run.stderr.contains(says), "{lost:?}: {}", run.stderr);
        env.append(PI_FILE, &(pi_user_line(6) + "\n"));
        env.scan(&["--endpoint", &rx.url]).expect_code(0);
        let got = dedup_total(&rx.requests());
        assert_eq!(
            without_heartbeat(got),
            demo_plus_one(),
            "{lost:?}: history once, new line once"
        );
        let kept: Vec<_> = std::fs::read_dir(env.state_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".corrupt-"))
            .collect();
        assert_eq!(kept.len(), 1, "the unusable file is kept for inspection: {kept:?}");
    }
}

#[test]
fn stray_temp_files_are_cleaned_up() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    let run = env.scan_env(&["--endpoint", &rx.url], &[("TELEMETRON_FAILPOINT", "before-rename")]);
    assert_eq!(run.code, -1);
    let temps = || {
        std::fs::read_dir(env.state_dir())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp"))
            .count()
    };
    assert_eq!(temps(), 1, "the kill left a temp file");
    // One left in the history by a run killed while writing a month.
    let history = env.state_dir().join("history");
    std::fs::create_dir_all(&history).unwrap();
    let stray = history.join(".2026-11.bin.Xy12ab.tmp");
    std::fs::write(&stray, b"half").unwrap();
    let run = env.scan(&["--endpoint", &rx.url]);
    run.expect_code(0);
    assert_eq!(temps(), 0);
    assert!(!stray.exists());
    assert!(run.stderr.contains("removed 2 temp file"), "{}", run.stderr);
}

#[test]
fn a_failing_state_write_keeps_the_previous_state() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let before = env.state_file("state.json").unwrap();
    env.append(PI_FILE, &(pi_user_line(7) + "\n"));
    // A read-only state directory: root ignores mode bits, so make the
    // pending file's name a directory, which no rename can replace.
    std::fs::create_dir(env.state_dir().join("pending.json")).unwrap();
    let run = env.scan(&["--endpoint", &rx.url]);
    run.expect_code(4);
    assert!(run.stderr.contains("pending.json"), "{}", run.stderr);
    assert_eq!(env.state_file("state.json").unwrap(), before, "state intact");
    assert_eq!(rx.requests().len(), 1, "nothing sent without a durable pending batch");
    std::fs::remove_dir(env.state_dir().join("pending.json")).unwrap();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    assert_eq!(without_heartbeat(dedup_total(&rx.requests())), demo_plus_one());
}

#[test]
fn ten_concurrent_runs_scan_once() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    rx.script([Reply::Hang(Duration::from_secs(2))]);
    let children: Vec<_> = (0..10)
        .map(|_| {
            env.spawn_scan(&["--endpoint", &rx.url, "--timeout", "10s", "--retry-max-time", "20s"])
        })
        .collect();
    let mut scanned = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        if !String::from_utf8_lossy(&out.stderr).contains("another scan holds") {
            scanned += 1;
        }
    }
    // Runs that started after the winner finished scan again (finding only
    // a heartbeat's worth); what matters is that counts were sent once.
    assert!(scanned >= 1);
    let got = dedup_total(&rx.requests());
    assert_eq!(without_heartbeat(got), table(DEMO));
}

#[test]
fn a_refused_batch_is_dropped_recorded_and_does_not_wedge() {
    for status in [400, 413] {
        let env = TestEnv::with_demo_home();
        let rx = Receiver::start();
        rx.script([Reply::status(status)]);
        let run = env.scan(&["--endpoint", &rx.url]);
        run.expect_code(5);
        assert!(run.stderr.contains("dropped"), "{}", run.stderr);
        let state: serde_json::Value =
            serde_json::from_slice(&env.state_file("state.json").unwrap()).unwrap();
        let points = rx.requests()[0].decode().resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| m.sum.as_ref().unwrap().data_points.len() as u64)
            .sum::<u64>();
        assert_eq!(state["dropped_points"], points);
        assert_eq!(state["dropped_batches"], 1);
        assert!(env.state_file("pending.json").is_none());
        env.append(PI_FILE, &(pi_user_line(8) + "\n"));
        env.scan(&["--endpoint", &rx.url]).expect_code(0);
        assert_eq!(
            without_heartbeat(crate::util::flatten(&rx.requests()[1].decode())),
            one_pi_prompt()
        );
    }
}

#[test]
fn auth_and_endpoint_problems_keep_the_counts_until_fixed() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    rx.script([Reply::status(401), Reply::status(403), Reply::status(404), Reply::status(500)]);
    for _ in 0..4 {
        env.scan(&["--endpoint", &rx.url]).expect_code(3);
    }
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let reqs = rx.requests();
    assert!(reqs[..5].windows(2).all(|w| w[0].raw == w[1].raw), "the same batch each time");
    assert_eq!(without_heartbeat(dedup_total(&reqs)), table(DEMO));
}

#[test]
fn partial_success_rejections_are_recorded() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    let body = telemetron::export::proto::ExportMetricsServiceResponse {
        partial_success: Some(telemetron::export::proto::ExportMetricsPartialSuccess {
            rejected_data_points: 3,
            error_message: "stale".into(),
        }),
    };
    rx.script([Reply::Status(200, vec![], prost::Message::encode_to_vec(&body))]);
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let state: serde_json::Value =
        serde_json::from_slice(&env.state_file("state.json").unwrap()).unwrap();
    assert_eq!(state["dropped_points"], 3);
}

#[test]
fn oversized_and_garbage_responses_do_not_hurt() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    rx.script([
        Reply::Status(503, vec![], vec![b'x'; 8 << 20]),
        Reply::Status(
            200,
            vec![("Content-Type".into(), "application/json".into())],
            b"{not json".to_vec(),
        ),
    ]);
    env.scan(&["--endpoint", &rx.url, "--retry-max-time", "10s"]).expect_code(0);
    assert_eq!(rx.requests().len(), 2);
}

#[test]
fn tls_and_dns_failures_keep_the_batch() {
    // TLS to a plain-HTTP listener fails the handshake.
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    let https = rx.url.replace("http://", "https://");
    let run = env.scan(&["--endpoint", &https, "--timeout", "2s", "--retry-max-time", "2s"]);
    run.expect_code(3);
    assert!(env.state_file("pending.json").is_some());
    // A name that cannot resolve (the .invalid TLD is reserved).
    let run = env.scan(&[
        "--endpoint",
        "https://collector.invalid/v1/metrics",
        "--timeout",
        "2s",
        "--retry-max-time",
        "2s",
    ]);
    run.expect_code(3);
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    assert_eq!(without_heartbeat(dedup_total(&rx.requests())), table(DEMO));
}
