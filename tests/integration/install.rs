//! `install.sh`, run end to end with `sh` (dash on Debian) in temporary
//! prefixes, downloading from a release site served on loopback.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::util::{FileServer, Receiver, Run, TestEnv};

const BIN: &str = env!("CARGO_BIN_EXE_telemetron");

/// The script.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh")
}

/// Runs `sh [flags] install.sh args` with extra variables (and, where
/// `unset_home`, no HOME at all).
fn install(
    env: &TestEnv,
    sh_flags: &[&str],
    args: &[&str],
    vars: &[(&str, &str)],
    unset_home: bool,
) -> Run {
    let script = script();
    let mut all: Vec<&str> = sh_flags.to_vec();
    all.push(script.to_str().unwrap());
    all.extend_from_slice(args);
    let mut c = env.program("sh", &all);
    for (k, v) in vars {
        c.env(k, v);
    }
    if unset_home {
        c.env_remove("HOME");
    }
    Run::from(c.output().unwrap(), &all)
}

/// A release site: the binary (maybe tampered with) and a checksums file of
/// the real binary.
fn release(tamper: bool) -> (tempfile::TempDir, FileServer) {
    let dir = tempfile::tempdir().unwrap();
    let real = std::fs::read(BIN).unwrap();
    let sum: String = Sha256::digest(&real).iter().map(|b| format!("{b:02x}")).collect();
    let mut served = real;
    if tamper {
        served.push(0);
    }
    std::fs::write(dir.path().join("telemetron"), served).unwrap();
    std::fs::write(
        dir.path().join("checksums.txt"),
        format!("{sum}  telemetron\n{}  other\n", "0".repeat(64)),
    )
    .unwrap();
    let server = FileServer::start(dir.path().to_path_buf());
    (dir, server)
}

#[test]
fn the_script_is_posix_sh_and_documents_itself() {
    let env = TestEnv::new();
    let out = std::process::Command::new("sh").arg("-n").arg(script()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = install(&env, &[], &["--help"], &[], false);
    r.expect_code(0);
    for word in ["--url", "--checksums", "--binary", "--uninstall", "TELEMETRON_ENDPOINT"] {
        assert!(r.stdout.contains(word), "{word}");
    }
}

#[test]
fn a_verified_download_installs_and_a_second_run_changes_nothing() {
    let env = TestEnv::new();
    let (_site, server) = release(false);
    let prefix = env.home().join("prefix");
    let p = prefix.to_str().unwrap();
    let url = format!("{}/telemetron", server.url);
    let sums = format!("{}/checksums.txt", server.url);
    let args = ["--url", url.as_str(), "--checksums", sums.as_str(), "--no-setup"];
    let r = install(&env, &["-u"], &args, &[("TELEMETRON_PREFIX", p)], false);
    r.expect_code(0);
    assert!(r.stderr.contains("verified telemetron"), "{}", r.stderr);
    let bin = prefix.join("bin/telemetron");
    assert_eq!(std::fs::read(&bin).unwrap(), std::fs::read(BIN).unwrap());
    assert_eq!(std::fs::metadata(&bin).unwrap().permissions().mode() & 0o777, 0o755);
    let again = install(&env, &["-u"], &args, &[("TELEMETRON_PREFIX", p)], false);
    again.expect_code(0);
    assert!(again.stderr.contains("already this version"), "{}", again.stderr);
}

#[test]
fn a_tampered_download_is_refused() {
    let env = TestEnv::new();
    let (_site, server) = release(true);
    let prefix = env.home().join("prefix");
    let url = format!("{}/telemetron", server.url);
    let sums = format!("{}/checksums.txt", server.url);
    let r = install(
        &env,
        &[],
        &["--url", &url, "--checksums", &sums],
        &[("TELEMETRON_PREFIX", prefix.to_str().unwrap())],
        false,
    );
    r.expect_code(1);
    assert!(r.stderr.contains("checksum mismatch"), "{}", r.stderr);
    assert!(!prefix.join("bin/telemetron").exists());
    // And a download without a checksums file is never installed.
    let r = install(
        &env,
        &[],
        &["--url", &url],
        &[("TELEMETRON_PREFIX", prefix.to_str().unwrap())],
        false,
    );
    r.expect_code(1);
    assert!(r.stderr.contains("--checksums"), "{}", r.stderr);
}

#[test]
fn it_works_under_set_u_with_home_unset() {
    let env = TestEnv::new();
    let prefix = env.home().join("prefix");
    let r = install(
        &env,
        &["-u"],
        &["--binary", BIN, "--no-setup"],
        &[("TELEMETRON_PREFIX", prefix.to_str().unwrap())],
        true,
    );
    r.expect_code(0);
    assert!(prefix.join("bin/telemetron").exists());
}

#[test]
fn with_an_endpoint_it_sets_up_and_uninstall_takes_it_off() {
    let env = TestEnv::with_demo_home();
    std::fs::remove_file(env.config_path()).unwrap();
    let rx = Receiver::start();
    let seam = tempfile::tempdir().unwrap();
    let prefix = env.home().join("prefix");
    let vars = [
        ("TELEMETRON_PREFIX", prefix.to_str().unwrap()),
        ("TELEMETRON_ENDPOINT", rx.url.as_str()),
        ("TELEMETRON_SCHEDULE_SEAM", seam.path().to_str().unwrap()),
        ("TELEMETRON_SETUP_ARGS", "--cron --user"),
    ];
    let r = install(&env, &["-u"], &["--binary", BIN], &vars, false);
    r.expect_code(0);
    assert_eq!(rx.requests().len(), 1, "setup's first scan: {}", r.stdout);
    let tab = std::fs::read_to_string(seam.path().join("crontab")).unwrap();
    assert!(
        tab.contains(&format!("\"{}\" scan", prefix.join("bin/telemetron").display())),
        "{tab}"
    );
    let r = install(&env, &["-u"], &["--uninstall"], &vars, false);
    r.expect_code(0);
    assert!(!prefix.join("bin/telemetron").exists());
    assert!(!std::fs::read_to_string(seam.path().join("crontab")).unwrap().contains("telemetron"));
}
