//! `install.sh`, run end to end with `sh` (dash on Debian) in temporary
//! prefixes, downloading from a release site served on loopback.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// The program headers' types, and the `DT_NEEDED` entries of a 64-bit
/// little-endian ELF executable.
fn elf_interp_and_needed(b: &[u8]) -> (bool, usize) {
    let u16_at = |o: usize| u16::from_le_bytes(b[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap()) as usize;
    assert_eq!(&b[..4], b"\x7fELF");
    let (phoff, phsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    let (mut interp, mut needed) = (false, 0);
    for i in 0..phnum {
        let ph = phoff + i * phsize;
        match u32_at(ph) {
            3 => interp = true, // PT_INTERP
            2 => {
                // PT_DYNAMIC: count DT_NEEDED (1) entries.
                let (off, size) = (u64_at(ph + 8), u64_at(ph + 32));
                needed += (off..off + size).step_by(16).filter(|&e| u64_at(e) == 1).count();
            }
            _ => {}
        }
    }
    (interp, needed)
}

#[test]
fn the_release_build_is_static_on_linux() {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        eprintln!("not glibc Linux: the release build is the usual one; skipped");
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Its own target directory (kept between runs), so that the outer
    // build's lock and cache are left alone.
    let out = Command::new(repo.join("scripts/build-release.sh"))
        .arg("--locked")
        .env("CARGO_TARGET_DIR", repo.join("target/static-check"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bin = String::from_utf8(out.stdout).unwrap();
    let bytes = std::fs::read(bin.trim()).unwrap();
    assert_eq!(elf_interp_and_needed(&bytes), (false, 0), "{} is not static", bin.trim());
    // And it runs.
    let run = Command::new(bin.trim()).arg("--version").output().unwrap();
    assert!(run.status.success());
    // The check itself tells a dynamic executable apart.
    let dynamic = std::fs::read(env!("CARGO_BIN_EXE_telemetron")).unwrap();
    assert_ne!(elf_interp_and_needed(&dynamic), (false, 0));
}
