//! Privacy: nothing from a session file but counts and enumeration values
//! ever reaches a payload or the dry run, and the dry run shows exactly what
//! is sent.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::util::{files_under, Receiver, Reply, TestEnv, CANARY};

/// Splits a dry run's stdout into its JSON documents.
fn documents(stdout: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(stdout).into_iter::<Value>().map(|v| v.unwrap()).collect()
}

#[test]
fn the_fixtures_really_carry_canaries() {
    let env = TestEnv::with_demo_home();
    let mut n = 0;
    let later = crate::util::fixtures().join("demo-later");
    for p in files_under(env.home()).into_iter().chain(files_under(&later)) {
        if p.extension().is_some_and(|x| x == "jsonl") {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(text.contains(CANARY), "{} has no canary", p.display());
            assert!(p.display().to_string().contains(CANARY), "{} path has no canary", p.display());
            n += 1;
        }
    }
    assert!(n >= 6);
    // The stores and archives too: SQLite databases hold their text as it
    // is, zstd archives once decompressed.
    let mut stores = 0;
    for p in files_under(env.home()) {
        let bytes = std::fs::read(&p).unwrap();
        let text = match p.extension().and_then(|x| x.to_str()) {
            Some("sqlite") | Some("db") => bytes,
            Some("zst") => {
                let mut out = Vec::new();
                telemetron::sources::compressed::decompress(&bytes[..], &mut out, 1 << 30).unwrap();
                out
            }
            _ => continue,
        };
        let has = text.windows(CANARY.len()).any(|w| w == CANARY.as_bytes());
        assert!(has, "{} has no canary", p.display());
        // Stores whose names the agents fix carry their canaries inside.
        let fixed = [
            ".hermes/state.db",
            "opencode/opencode.db",
            "kilo/kilo.db",
            "sessions/sessions.db",
            "db/db.sqlite",
        ];
        assert!(p.display().to_string().contains(CANARY) || fixed.iter().any(|f| p.ends_with(f)));
        stores += 1;
    }
    assert!(stores >= 5, "two archives, an OpenClaw store and two Hermes stores");
}

#[test]
fn no_canary_reaches_any_body() {
    for args in [
        &[][..],
        &["--encoding", "json"],
        &["--compression", "gzip"],
        &["--temporality", "cumulative", "--encoding", "json"],
    ] {
        let env = TestEnv::with_demo_home();
        let rx = Receiver::start();
        let mut a = vec!["--endpoint", rx.url.as_str()];
        a.extend_from_slice(args);
        env.scan(&a).expect_code(0);
        env.scan(&a).expect_code(0);
        for r in rx.requests() {
            for bytes in [&r.raw, &r.body] {
                let text = String::from_utf8_lossy(bytes);
                assert!(!text.contains(CANARY), "{args:?}: canary in body");
                assert!(!text.to_lowercase().contains("canary"), "{args:?}: canary in body");
            }
            let h = format!("{:?}", r.headers);
            assert!(!h.contains(CANARY));
        }
    }
}

#[test]
fn no_canary_reaches_the_dry_run() {
    for enc in ["protobuf", "json"] {
        let env = TestEnv::with_demo_home();
        let run = env.scan(&["--dry-run", "--encoding", enc]);
        run.expect_code(0);
        assert!(!run.stdout.to_lowercase().contains("canary"), "{enc}: {}", run.stdout);
        assert!(!run.stderr.to_lowercase().contains("canary"), "{enc}: {}", run.stderr);
    }
}

#[test]
fn no_host_or_user_name_is_sent() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let body = String::from_utf8_lossy(&rx.requests()[0].body).into_owned();
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let host = host.trim();
    if host.len() > 3 {
        assert!(!body.contains(host), "host name in body");
    }
    let home = env.home().display().to_string();
    assert!(!body.contains(&home));
}

#[test]
fn the_dry_run_needs_no_config_and_writes_nothing() {
    let env = TestEnv::with_demo_home();
    std::fs::remove_file(env.config_path()).unwrap();
    let out = env
        .cmd(&["scan", "--dry-run"])
        .env_remove("TELEMETRON_CONFIG")
        .env_remove("TELEMETRON_STATE_DIR")
        .env("XDG_STATE_HOME", env.home().join("xdg-state"))
        .output()
        .unwrap();
    let run = crate::util::Run::from(out, &["scan", "--dry-run"]);
    run.expect_code(0);
    assert!(!env.state_dir().exists(), "a dry run writes nothing");
    assert!(!env.home().join("xdg-state").exists(), "a dry run writes nothing");
    let docs = documents(&run.stdout);
    assert_eq!(docs.len(), 1);
    assert!(
        docs[0]["resourceMetrics"][0]["scopeMetrics"][0]["metrics"].as_array().unwrap().len() >= 8
    );
    assert!(run.stderr.contains("sha256"), "{}", run.stderr);
}

/// Makes a real run fail after sending, so the batch it sent is pending,
/// and returns the env, the receiver and the body it got.
fn sent_then_failed(args: &[&str]) -> (TestEnv, Receiver, Vec<u8>) {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    rx.script([Reply::status(500)]);
    let mut a = vec!["--endpoint", rx.url.as_str()];
    a.extend_from_slice(args);
    env.scan(&a).expect_code(3);
    let body = rx.requests()[0].body.clone();
    (env, rx, body)
}

#[test]
fn the_dry_run_prints_the_json_body_byte_for_byte() {
    let (env, _rx, body) = sent_then_failed(&["--encoding", "json"]);
    let run = env.scan(&["--dry-run", "--encoding", "json"]);
    run.expect_code(0);
    // The pending batch comes first, exactly as it was (and will be) sent.
    let first_len = {
        let mut it = serde_json::Deserializer::from_str(&run.stdout).into_iter::<Value>();
        it.next().unwrap().unwrap();
        it.byte_offset()
    };
    let mut printed = run.stdout.as_bytes()[..first_len].to_vec();
    printed.push(b'\n');
    assert_eq!(String::from_utf8_lossy(&printed), String::from_utf8_lossy(&body));
    assert_eq!(documents(&run.stdout).len(), 2, "then the new batch");
}

#[test]
fn the_dry_run_renders_the_protobuf_message_that_is_sent() {
    let (env, rx, body) = sent_then_failed(&[]);
    let run = env.scan(&["--dry-run"]);
    run.expect_code(0);
    let printed: telemetron::export::proto::ExportMetricsServiceRequest =
        serde_json::from_value(documents(&run.stdout).remove(0)).unwrap();
    assert_eq!(printed, rx.requests()[0].decode(), "same message");
    let sha: String = Sha256::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
    assert!(run.stderr.contains(&sha), "prints the body's sha256: {}", run.stderr);
    assert!(run.stderr.contains(&format!("{} bytes", body.len())), "{}", run.stderr);
}
