//! `telemetron enroll` against a loopback enrollment service.

use std::os::unix::fs::PermissionsExt;

use crate::util::{Receiver, Reply, Run, TestEnv};

const ID: &str = "6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f";

/// A home with a known install id.
fn env_with_id() -> TestEnv {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.state_dir()).unwrap();
    std::fs::write(env.state_dir().join("install-id"), ID).unwrap();
    env
}

/// A token the service hands out.
fn token() -> String {
    format!("lpk_enroll_{}", "0123456789abcdef".repeat(4))
}

/// An enrollment answer.
fn answer(token: &str, id: &str) -> Reply {
    let body = format!(r#"{{"token":"{token}","install_id":"{id}"}}"#).into_bytes();
    Reply::Status(200, vec![("Content-Type".into(), "text/plain".into())], body)
}

/// Runs `telemetron enroll` against `url`.
fn enroll(env: &TestEnv, url: &str) -> Run {
    let args = ["enroll", "--enroll-endpoint", url, "--tier", "internal"];
    Run::from(env.cmd(&args).output().unwrap(), &args)
}

#[test]
fn enrollment_writes_a_0400_token_that_scan_then_uses() {
    let env = env_with_id();
    let svc = Receiver::start();
    svc.script([answer(&token(), ID)]);
    enroll(&env, &svc.url).expect_code(0);
    let req: serde_json::Value = serde_json::from_slice(&svc.requests()[0].body).unwrap();
    let keys: Vec<&str> = req.as_object().unwrap().keys().map(String::as_str).collect();
    let mut keys = keys;
    keys.sort();
    assert_eq!(
        keys,
        [
            "arch",
            "install_id",
            "machine_id",
            "os",
            "pack",
            "schema",
            "source",
            "telemetron_version",
            "tier"
        ]
    );
    assert_eq!(req["schema"], "lowkey.enroll.v1");
    assert_eq!(req["install_id"], ID);
    assert_eq!(req["source"], "telemetron-standalone");
    assert_eq!(req["tier"], "internal");
    assert!(req["machine_id"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(req["machine_id"].as_str().unwrap().len(), 7 + 64);
    let tok = env.config_path().parent().unwrap().join("token");
    assert_eq!(std::fs::read_to_string(&tok).unwrap(), token(), "no trailing newline");
    assert_eq!(std::fs::metadata(&tok).unwrap().permissions().mode() & 0o777, 0o400);
    // The token sits beside the config, where scan looks by default.
    crate::util::copy_tree(&crate::util::fixtures().join("demo-home"), env.home());
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    assert_eq!(
        rx.requests()[0].header("authorization"),
        Some(format!("Bearer {}", token()).as_str())
    );
}

#[test]
fn a_conflict_is_final_and_explained() {
    let env = env_with_id();
    let svc = Receiver::start();
    svc.script([Reply::status(409)]);
    let r = enroll(&env, &svc.url);
    r.expect_code(3);
    assert!(r.stderr.contains("already enrolled"), "{}", r.stderr);
    assert_eq!(svc.requests().len(), 1);
}

#[test]
fn a_server_error_is_retried_once() {
    let env = env_with_id();
    let svc = Receiver::start();
    svc.script([Reply::status(503), answer(&token(), ID)]);
    enroll(&env, &svc.url).expect_code(0);
    assert_eq!(svc.requests().len(), 2);
    let svc = Receiver::start();
    svc.script([Reply::status(500), Reply::status(502)]);
    let r = enroll(&env, &svc.url);
    r.expect_code(3);
    assert_eq!(svc.requests().len(), 2, "one retry only");
}

#[test]
fn malformed_tokens_and_foreign_ids_are_refused() {
    for (reply, says) in [
        (answer("lpk_enroll_short", ID), "malformed token"),
        (answer(&token(), "11111111-2222-4333-8444-555555555555"), "another install id"),
        (Reply::Status(200, vec![], vec![b'x'; 5000]), "larger than 4 KiB"),
        (Reply::status(400), "refused"),
    ] {
        let env = env_with_id();
        let svc = Receiver::start();
        svc.script([reply]);
        let r = enroll(&env, &svc.url);
        r.expect_code(3);
        assert!(r.stderr.contains(says), "{says}: {}", r.stderr);
        assert!(!env.config_path().parent().unwrap().join("token").exists());
    }
}
