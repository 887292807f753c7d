//! What is counted: exact counters for every pack of the demo home, and
//! incremental behaviour across runs.

use crate::util::{flatten, table, without_heartbeat, Receiver, TestEnv};

/// Every series the demo home produces on a first run (heartbeat aside),
/// worked out by hand: see the file's header.
pub const DEMO: &str = include_str!("../../fixtures/demo-home.expected");

/// The pi transcript of the demo home.
pub const PI_FILE: &str = ".pi/agent/sessions/--home-dev-CANARY-path-project--/2026-11-01T09-00-00-000Z_CANARY-session-pi-0001.jsonl";

/// A user prompt line for the pi transcript, stamped after the fixture.
pub fn pi_user_line(n: u32) -> String {
    format!(
        r#"{{"type":"message","id":"feed{n:04x}","parentId":null,"timestamp":"2026-11-01T10:00:{:02}.000Z","message":{{"role":"user","content":[{{"type":"text","text":"CANARY-later-{n}"}}]}}}}"#,
        n % 60
    )
}

/// The series one appended pi prompt line adds.
pub fn one_pi_prompt() -> std::collections::BTreeMap<String, i64> {
    table(
        "pack.user.prompt{pack=pi,session.type=main} 1
         pack.emitter.lines{pack=pi,result=parsed} 1",
    )
}

#[test]
fn the_demo_home_is_counted_exactly() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1, "one request per run");
    let got = flatten(&reqs[0].decode());
    assert_eq!(got.get("pack.emitter.heartbeat{pack=telemetron}"), Some(&1));
    assert_eq!(without_heartbeat(got), table(DEMO));
}

#[test]
fn the_resource_carries_only_the_documented_attributes() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url, "--tier", "staging"]).expect_code(0);
    let req = rx.requests()[0].decode();
    let rm = &req.resource_metrics[0];
    let attrs: Vec<(String, String)> = rm
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .map(|kv| (kv.key.clone(), kv.as_str().unwrap().to_string()))
        .collect();
    let id = String::from_utf8(env.state_file("install-id").unwrap()).unwrap();
    let version = env!("CARGO_PKG_VERSION").to_string();
    assert_eq!(
        attrs,
        vec![
            ("service.name".into(), "telemetron".into()),
            ("service.version".into(), version.clone()),
            ("service.instance.id".into(), id),
            ("tier".into(), "staging".into()),
        ]
    );
    let scope = rm.scope_metrics[0].scope.as_ref().unwrap();
    assert_eq!((scope.name.as_str(), scope.version.as_str()), ("telemetron", version.as_str()));
    for m in &rm.scope_metrics[0].metrics {
        let sum = m.sum.as_ref().unwrap();
        assert!(sum.is_monotonic, "{} is monotonic", m.name);
        assert_eq!(sum.aggregation_temporality, 1, "delta by default");
        assert!(!m.unit.is_empty());
    }
}

#[test]
fn the_install_id_is_kept_across_runs() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let ids: Vec<String> = rx
        .requests()
        .iter()
        .map(|r| {
            let req = r.decode();
            let res = req.resource_metrics[0].resource.clone().unwrap();
            res.attributes
                .iter()
                .find(|kv| kv.key == "service.instance.id")
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids[0], ids[1]);
}

#[test]
fn json_and_gzip_bodies_carry_the_same_counts() {
    for args in [
        &["--encoding", "json"][..],
        &["--compression", "gzip"],
        &["--encoding", "json", "--compression", "gzip"],
    ] {
        let env = TestEnv::with_demo_home();
        let rx = Receiver::start();
        let mut a = vec!["--endpoint", rx.url.as_str()];
        a.extend_from_slice(args);
        env.scan(&a).expect_code(0);
        let r = &rx.requests()[0];
        let gz = args.contains(&"gzip");
        assert_eq!(r.header("content-encoding"), gz.then_some("gzip"), "{args:?}");
        let json = args.contains(&"json");
        let ct = if json { "application/json" } else { "application/x-protobuf" };
        assert_eq!(r.header("content-type"), Some(ct));
        assert_eq!(without_heartbeat(flatten(&r.decode())), table(DEMO), "{args:?}");
    }
}

#[test]
fn appended_lines_count_once_and_a_second_run_sends_only_the_heartbeat() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    env.append(PI_FILE, &(pi_user_line(1) + "\n"));
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(flatten(&reqs[1].decode()), table("pack.emitter.heartbeat{pack=telemetron} 1"));
    assert_eq!(without_heartbeat(flatten(&reqs[2].decode())), one_pi_prompt());
}

#[test]
fn a_partial_line_is_counted_once_after_its_newline_arrives() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let line = pi_user_line(2);
    let (a, b) = line.split_at(40);
    env.append(PI_FILE, a);
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    env.append(PI_FILE, b);
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    env.append(PI_FILE, "\n");
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let reqs = rx.requests();
    let heartbeat_only = table("pack.emitter.heartbeat{pack=telemetron} 1");
    assert_eq!(flatten(&reqs[1].decode()), heartbeat_only);
    assert_eq!(flatten(&reqs[2].decode()), heartbeat_only);
    assert_eq!(without_heartbeat(flatten(&reqs[3].decode())), one_pi_prompt());
    assert_eq!(flatten(&reqs[4].decode()), heartbeat_only);
}

#[test]
fn cumulative_mode_sends_running_totals_from_fixed_starts() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url, "--temporality", "cumulative"]).expect_code(0);
    env.append(PI_FILE, &(pi_user_line(3) + "\n"));
    env.scan(&["--endpoint", &rx.url, "--temporality", "cumulative"]).expect_code(0);
    let reqs = rx.requests();
    let (first, second) = (reqs[0].decode(), reqs[1].decode());
    let mut want = table(DEMO);
    *want.get_mut("pack.user.prompt{pack=pi,session.type=main}").unwrap() += 1;
    *want.get_mut("pack.emitter.lines{pack=pi,result=parsed}").unwrap() += 1;
    assert_eq!(flatten(&second).get("pack.emitter.heartbeat{pack=telemetron}"), Some(&2));
    assert_eq!(without_heartbeat(flatten(&second)), want);
    // Every series keeps the start time it had in the first export.
    let starts = |r: &telemetron::export::proto::ExportMetricsServiceRequest| {
        let mut v = std::collections::BTreeMap::new();
        for m in &r.resource_metrics[0].scope_metrics[0].metrics {
            assert_eq!(m.sum.as_ref().unwrap().aggregation_temporality, 2);
            for p in &m.sum.as_ref().unwrap().data_points {
                let attrs: Vec<_> =
                    p.attributes.iter().map(|a| a.as_str().unwrap().to_string()).collect();
                v.insert((m.name.clone(), attrs), (p.start_time_unix_nano, p.time_unix_nano));
            }
        }
        v
    };
    let (s1, s2) = (starts(&first), starts(&second));
    for (k, (start, time)) in &s1 {
        assert_eq!(s2[k].0, *start, "{k:?} keeps its start");
        assert!(s2[k].1 > *time, "{k:?} moves forward");
    }
}

#[test]
fn delta_windows_chain_start_to_previous_time() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let reqs = rx.requests();
    let point = |i: usize| {
        let r = reqs[i].decode();
        let m = r.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .find(|m| m.name == "pack.emitter.heartbeat")
            .cloned()
            .unwrap();
        let p = m.sum.unwrap().data_points[0].clone();
        (p.start_time_unix_nano, p.time_unix_nano)
    };
    let (s1, t1) = point(0);
    let (s2, t2) = point(1);
    assert!(s1 < t1);
    assert_eq!(s2, t1, "the second window starts where the first ended");
    assert!(t2 > s2);
}

#[test]
fn configured_paths_replace_the_default_places() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.write_config(
        &("packs:\n  openclaw:\n    enabled: false\n  roundhouse:\n    enabled: false\n  pi:\n    \
         paths: ['~/.pi/agent/sessions']\n  claude_code:\n    enabled: false\n  codex:\n    \
         enabled: false\n  gemini_cli:\n    enabled: false\n  hermes:\n    enabled: false\n"
            .to_string()
            + &crate::usage_agents::PACKS
                .iter()
                .map(|p| format!("  {p}:\n    enabled: false\n"))
                .collect::<String>()),
    );
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let got = without_heartbeat(flatten(&rx.requests()[0].decode()));
    assert!(got.keys().all(|k| k.contains("pack=pi")), "{got:?}");
    assert_eq!(got.get("pack.user.prompt{pack=pi,session.type=main}"), Some(&2));
}

#[test]
fn agent_env_vars_move_the_default_places() {
    let env = TestEnv::new();
    let other = tempfile::tempdir().unwrap();
    crate::util::copy_tree(
        &crate::util::fixtures().join("demo-home/.pi/agent"),
        &other.path().join("agent"),
    );
    let rx = Receiver::start();
    let dir = other.path().join("agent").display().to_string();
    env.scan_env(&["--endpoint", &rx.url], &[("PI_CODING_AGENT_DIR", &dir)]).expect_code(0);
    let got = flatten(&rx.requests()[0].decode());
    assert_eq!(got.get("pack.user.prompt{pack=pi,session.type=main}"), Some(&2));
}
