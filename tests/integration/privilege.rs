//! Least privilege as root: a root scan over a user's home reads only the
//! files that user owns, so a link the user plants to a root-only file or
//! to another user's transcript counts nothing and says why. Runs only as
//! root (CI runs as root); elsewhere the kernel already keeps a user's scan
//! to what that user may read.

use std::os::unix::fs::{chown, symlink};

use crate::util::{files_under, total, Receiver, TestEnv, CANARY};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A demo home whose every file and directory belongs to uid 4242.
fn users_home() -> TestEnv {
    let env = TestEnv::with_demo_home();
    let home = env.home();
    chown(home, Some(4242), Some(4242)).unwrap();
    for p in files_under(home) {
        let mut d = p.as_path();
        while let Some(parent) = d.parent() {
            if parent == home {
                break;
            }
            let _ = chown(parent, Some(4242), Some(4242));
            d = parent;
        }
        chown(&p, Some(4242), Some(4242)).unwrap();
    }
    env
}

#[test]
fn planted_links_to_root_only_files_and_other_users_transcripts_count_nothing() {
    if !is_root() {
        eprintln!("not root: the least-privilege test needs root; skipped");
        return;
    }
    let baseline = users_home();
    let rx = Receiver::start();
    baseline.scan(&["--endpoint", &rx.url]).expect_code(0);
    let want = crate::util::counted(total(&rx.requests()));

    let env = users_home();
    let outside = tempfile::tempdir().unwrap();
    // A root-only file and another user's transcript, both Claude Code
    // lines that would count.
    let line = format!(
        r#"{{"type":"user","sessionId":"{CANARY}-planted","uuid":"{CANARY}-u","timestamp":"2026-11-04T10:00:00Z","message":{{"role":"user","content":"{CANARY} secret"}}}}"#
    );
    let root_only = outside.path().join("shadow.jsonl");
    std::fs::write(&root_only, format!("{line}\n")).unwrap();
    let other = outside.path().join("other-user.jsonl");
    std::fs::write(&other, format!("{}\n", line.replace("-planted", "-other"))).unwrap();
    chown(&other, Some(4343), Some(4343)).unwrap();
    let dir = env.home().join(".claude/projects/-home-u-CANARY-planted");
    std::fs::create_dir_all(&dir).unwrap();
    chown(&dir, Some(4242), Some(4242)).unwrap();
    symlink(&root_only, dir.join("a.jsonl")).unwrap();
    symlink(&other, dir.join("b.jsonl")).unwrap();
    for l in ["a.jsonl", "b.jsonl"] {
        std::os::unix::fs::lchown(dir.join(l), Some(4242), Some(4242)).unwrap();
    }
    let rx2 = Receiver::start();
    let run = env.scan(&["--endpoint", &rx2.url]);
    let got = crate::util::counted(total(&rx2.requests()));
    assert_eq!(got, want, "the planted links counted something");
    assert!(run.stderr.contains("a.jsonl: belongs to uid 0, not to uid 4242"), "{}", run.stderr);
    assert!(run.stderr.contains("b.jsonl: belongs to uid 4343, not to uid 4242"), "{}", run.stderr);
    assert!(!run.stderr.contains("secret"), "{}", run.stderr);
}

#[test]
fn what_telemetron_writes_is_private_and_never_written_through_a_link() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    let state = env.state_dir();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("history")), 0o700);
    for p in files_under(&state) {
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    // A link planted as the lock file: the run refuses it, and its target
    // is left alone.
    let other = TestEnv::with_demo_home();
    let target = other.home().join("victim");
    std::fs::write(&target, b"untouched").unwrap();
    std::fs::create_dir_all(other.state_dir()).unwrap();
    symlink(&target, other.state_dir().join("telemetron.lock")).unwrap();
    let run = other.scan(&["--endpoint", &rx.url]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("telemetron.lock"), "{}", run.stderr);
    assert_eq!(std::fs::read(&target).unwrap(), b"untouched");
}

#[test]
fn a_token_file_others_can_read_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    let token = env.home().join("token");
    std::fs::write(&token, format!("{CANARY}-token\n")).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let t = token.to_str().unwrap();
    let run = env.scan(&["--endpoint", &rx.url, "--token-file", t]);
    run.expect_code(0);
    assert!(run.stderr.contains(&format!("run `chmod 600 {t}`")), "{}", run.stderr);
    assert!(!run.stderr.contains(&format!("{CANARY}-token")), "{}", run.stderr);
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = env.scan(&["--endpoint", &rx.url, "--token-file", t]);
    run.expect_code(0);
    assert!(!run.stderr.contains("chmod"), "{}", run.stderr);
}
