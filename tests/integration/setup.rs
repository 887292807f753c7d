//! `telemetron setup`: every step against loopback services and the
//! scheduler seam.

use crate::counting::DEMO;
use crate::util::{flatten, table, without_heartbeat, Receiver, Reply, Run, TestEnv};

const ID: &str = "6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f";
const BIN: &str = env!("CARGO_BIN_EXE_telemetron");

/// Runs `telemetron setup` with the scheduler seam and extra variables.
fn setup(env: &TestEnv, seam: &std::path::Path, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let home = env.home().display().to_string();
    let mut all = vec!["setup", "--json", "--systemd", "--user", "--binary", BIN, "--home", &home];
    all.extend_from_slice(args);
    let mut c = env.cmd(&all);
    c.env("TELEMETRON_SCHEDULE_SEAM", seam);
    for (k, v) in vars {
        c.env(k, v);
    }
    Run::from(c.output().unwrap(), &all)
}

/// The event names of a `--json` run.
fn events(r: &Run) -> Vec<String> {
    r.stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert_eq!(v["schema"], "telemetron.setup.v1");
            v["event"].as_str().unwrap().to_string()
        })
        .collect()
}

/// A demo home with a known install id (the enroll service echoes it).
fn home() -> TestEnv {
    let env = TestEnv::with_demo_home();
    std::fs::remove_file(env.config_path()).unwrap();
    std::fs::create_dir_all(env.state_dir()).unwrap();
    std::fs::write(env.state_dir().join("install-id"), ID).unwrap();
    env
}

#[test]
fn setup_detects_configures_enrolls_schedules_and_verifies() {
    let env = home();
    let seam = tempfile::tempdir().unwrap();
    let rx = Receiver::start();
    let svc = Receiver::start();
    let token = format!("lpk_enroll_{}", "ab".repeat(32));
    svc.script([Reply::Status(
        200,
        vec![],
        format!(r#"{{"token":"{token}","install_id":"{ID}"}}"#).into_bytes(),
    )]);
    let r = setup(&env, seam.path(), &["--endpoint", &rx.url, "--enroll-endpoint", &svc.url], &[]);
    r.expect_code(0);
    assert_eq!(
        events(&r),
        [
            "agent.detected",
            "config.written",
            "token.written",
            "service.installed",
            "healthcheck.passed",
            "setup.completed"
        ]
    );
    let cfg = std::fs::read_to_string(env.config_path()).unwrap();
    assert!(cfg.contains(&format!("endpoint: {}", rx.url)) && cfg.contains("packs:"), "{cfg}");
    assert!(env.home().join(".config/systemd/user/telemetron.timer").exists());
    let req = &rx.requests()[0];
    assert_eq!(req.header("authorization"), Some(format!("Bearer {token}").as_str()));
    assert_eq!(without_heartbeat(flatten(&req.decode())), table(DEMO));
    // Running it again keeps the token and changes nothing else.
    let again =
        setup(&env, seam.path(), &["--endpoint", &rx.url, "--enroll-endpoint", &svc.url], &[]);
    again.expect_code(0);
    assert!(events(&again).contains(&"token.loaded".to_string()));
    assert_eq!(svc.requests().len(), 1, "no second enrollment");
}

#[test]
fn a_dry_run_changes_nothing() {
    let env = home();
    let seam = tempfile::tempdir().unwrap();
    let rx = Receiver::start();
    let svc = Receiver::start();
    let r = setup(
        &env,
        seam.path(),
        &["--endpoint", &rx.url, "--enroll-endpoint", &svc.url, "--dry-run"],
        &[],
    );
    r.expect_code(0);
    assert_eq!(
        events(&r),
        [
            "agent.detected",
            "config.resolved",
            "token.planned",
            "service.planned",
            "healthcheck.planned",
            "setup.completed"
        ]
    );
    assert!(!env.config_path().exists());
    assert!(!env.home().join(".config/systemd").exists());
    assert!(rx.requests().is_empty() && svc.requests().is_empty());
    assert!(!seam.path().join("commands.log").exists());
}

#[test]
fn no_auto_enroll_is_honoured() {
    let env = home();
    let seam = tempfile::tempdir().unwrap();
    let rx = Receiver::start();
    let svc = Receiver::start();
    let r = setup(
        &env,
        seam.path(),
        &["--endpoint", &rx.url, "--enroll-endpoint", &svc.url],
        &[("TELEMETRON_NO_AUTO_ENROLL", "1")],
    );
    r.expect_code(0);
    assert!(events(&r).contains(&"token.skipped".to_string()));
    assert!(svc.requests().is_empty());
    assert_eq!(rx.requests()[0].header("authorization"), None);
}

#[test]
fn without_agents_setup_fails_and_says_why() {
    let env = TestEnv::new();
    let seam = tempfile::tempdir().unwrap();
    let rx = Receiver::start();
    let r = setup(&env, seam.path(), &["--endpoint", &rx.url], &[]);
    r.expect_code(2);
    assert_eq!(events(&r), ["setup.failed"]);
    assert!(r.stdout.contains("no agent sessions found"), "{}", r.stdout);
}
