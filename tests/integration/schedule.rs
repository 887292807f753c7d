//! `telemetron schedule`: real files under a temporary root, checked with
//! the schedulers' own tools where this machine has them, and every
//! scheduler command recorded through the seam instead of run.

use std::path::{Path, PathBuf};

use crate::util::{Run, TestEnv};

/// Runs `telemetron schedule` with the recording seam in `seam`.
fn schedule(env: &TestEnv, seam: &Path, args: &[&str]) -> Run {
    let mut all = vec!["schedule"];
    all.extend_from_slice(args);
    let out = env.cmd(&all).env("TELEMETRON_SCHEDULE_SEAM", seam).output().unwrap();
    Run::from(out, &all)
}

/// The commands recorded so far.
fn commands(seam: &Path) -> Vec<String> {
    std::fs::read_to_string(seam.join("commands.log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// Every file below `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

const BIN: &str = env!("CARGO_BIN_EXE_telemetron");

#[test]
fn systemd_system_units_verify_install_idempotently_and_remove_cleanly() {
    let env = TestEnv::new();
    let root = tempfile::tempdir().unwrap();
    let seam = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let args = [
        "--systemd",
        "--system",
        "--run-as",
        "nobody",
        "--interval",
        "10m",
        "--binary",
        BIN,
        "--root",
        r,
    ];
    let mut install = vec!["install"];
    install.extend_from_slice(&args);
    schedule(&env, seam.path(), &install).expect_code(0);
    let unit_dir = root.path().join("etc/systemd/system");
    let service = unit_dir.join("telemetron.service");
    let timer = unit_dir.join("telemetron.timer");
    let text = std::fs::read_to_string(&service).unwrap();
    assert!(text.contains(&format!("ExecStart={BIN} scan")) && text.contains("\nUser=nobody\n"));
    assert!(std::fs::read_to_string(&timer).unwrap().contains("OnUnitActiveSec=10min"));
    assert_eq!(
        commands(seam.path()),
        vec!["systemctl daemon-reload", "systemctl enable --now telemetron.timer"]
    );
    // systemd's own verifier accepts the units.
    let v = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .args([&service, &timer])
        .output()
        .expect("systemd-analyze is on this machine");
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    // Installing twice changes nothing.
    let before: Vec<(PathBuf, Vec<u8>)> =
        files(root.path()).into_iter().map(|p| (p.clone(), std::fs::read(p).unwrap())).collect();
    let again = schedule(&env, seam.path(), &install);
    again.expect_code(0);
    assert!(again.stderr.contains("unchanged"), "{}", again.stderr);
    let after: Vec<(PathBuf, Vec<u8>)> =
        files(root.path()).into_iter().map(|p| (p.clone(), std::fs::read(p).unwrap())).collect();
    assert_eq!(before, after);
    // Removing leaves nothing behind.
    let mut remove = vec!["remove"];
    remove.extend_from_slice(&args);
    schedule(&env, seam.path(), &remove).expect_code(0);
    assert!(files(root.path()).is_empty(), "{:?}", files(root.path()));
    assert!(commands(seam.path()).ends_with(&[
        "systemctl disable --now telemetron.timer".to_string(),
        "systemctl daemon-reload".to_string()
    ]));
}

#[test]
fn systemd_user_units_go_to_the_users_config() {
    let env = TestEnv::new();
    let seam = tempfile::tempdir().unwrap();
    schedule(&env, seam.path(), &["install", "--systemd", "--user", "--binary", BIN])
        .expect_code(0);
    let dir = env.home().join(".config/systemd/user");
    assert!(dir.join("telemetron.service").exists() && dir.join("telemetron.timer").exists());
    assert_eq!(commands(seam.path())[1], "systemctl --user enable --now telemetron.timer");
    schedule(&env, seam.path(), &["remove", "--systemd", "--user", "--binary", BIN]).expect_code(0);
    assert!(!dir.join("telemetron.service").exists());
}

#[test]
fn the_launchd_plist_is_a_valid_property_list() {
    let env = TestEnv::new();
    let seam = tempfile::tempdir().unwrap();
    schedule(
        &env,
        seam.path(),
        &["install", "--launchd", "--user", "--binary", BIN, "--interval", "15m"],
    )
    .expect_code(0);
    let plist = env.home().join("Library/LaunchAgents/dev.telemetron.scan.plist");
    let check = "import plistlib,sys; d=plistlib.load(open(sys.argv[1],'rb')); \
         assert d['Label']=='dev.telemetron.scan'; \
         assert d['ProgramArguments']==[sys.argv[2],'scan']; \
         assert d['StartInterval']==900; assert d['RunAtLoad'] is True; \
         assert d['StandardErrorPath'].startswith(sys.argv[3]); print('ok')";
    let logs = env.home().join("Library/Logs").display().to_string();
    let out = std::process::Command::new("python3")
        .args(["-c", check, plist.to_str().unwrap(), BIN, &logs])
        .output()
        .expect("python3 is on this machine");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
        commands(seam.path()),
        vec![
            format!("launchctl bootout gui/{uid}/dev.telemetron.scan"),
            format!("launchctl bootstrap gui/{uid} {}", plist.display())
        ]
    );
    schedule(&env, seam.path(), &["remove", "--launchd", "--user", "--binary", BIN]).expect_code(0);
    assert!(!plist.exists());
}

/// Checks a cron time spec and returns the rest of the line.
fn cron_fields(line: &str) -> Vec<String> {
    let f: Vec<String> = line.split_whitespace().map(String::from).collect();
    let ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
    for (i, (lo, hi)) in ranges.iter().enumerate() {
        let field = &f[i];
        let ok = field == "*"
            || field
                .strip_prefix("*/")
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n >= 1 && n <= *hi)
            || field.parse::<u32>().is_ok_and(|n| (*lo..=*hi).contains(&n));
        assert!(ok, "cron field {i} `{field}` in `{line}`");
    }
    f[5..].to_vec()
}

#[test]
fn cron_entries_parse_and_come_off_cleanly() {
    let env = TestEnv::new();
    let root = tempfile::tempdir().unwrap();
    let seam = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    schedule(
        &env,
        seam.path(),
        &["install", "--cron", "--system", "--run-as", "nobody", "--binary", BIN, "--root", r],
    )
    .expect_code(0);
    let text = std::fs::read_to_string(root.path().join("etc/cron.d/telemetron")).unwrap();
    assert!(text.lines().any(|l| l == "PATH=/usr/local/bin:/usr/bin:/bin"));
    let job: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.contains('=') && !l.trim().is_empty())
        .collect();
    assert_eq!(job.len(), 1);
    assert_eq!(
        cron_fields(job[0]),
        vec!["nobody".to_string(), BIN.to_string(), "scan".to_string()]
    );
    // A user crontab keeps its other lines.
    std::fs::write(seam.path().join("crontab"), "0 3 * * * backup\n").unwrap();
    schedule(&env, seam.path(), &["install", "--cron", "--user", "--binary", BIN]).expect_code(0);
    schedule(&env, seam.path(), &["install", "--cron", "--user", "--binary", BIN]).expect_code(0);
    let tab = std::fs::read_to_string(seam.path().join("crontab")).unwrap();
    let ours: Vec<&str> = tab.lines().filter(|l| l.contains("telemetron")).collect();
    assert_eq!(ours.len(), 1, "{tab}");
    assert_eq!(cron_fields(ours[0])[1], "scan");
    schedule(&env, seam.path(), &["remove", "--cron", "--user", "--binary", BIN]).expect_code(0);
    schedule(&env, seam.path(), &["remove", "--cron", "--system", "--binary", BIN, "--root", r])
        .expect_code(0);
    assert_eq!(std::fs::read_to_string(seam.path().join("crontab")).unwrap(), "0 3 * * * backup\n");
    assert!(files(root.path()).is_empty());
}

#[test]
fn print_shows_everything_and_writes_nothing() {
    let env = TestEnv::new();
    let seam = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let r = schedule(
        &env,
        seam.path(),
        &[
            "print",
            "--systemd",
            "--system",
            "--binary",
            BIN,
            "--root",
            root.path().to_str().unwrap(),
        ],
    );
    r.expect_code(0);
    assert!(r.stdout.contains("# /etc/systemd/system/telemetron.timer"));
    assert!(r.stdout.contains("$ systemctl enable --now telemetron.timer"));
    assert!(files(root.path()).is_empty());
    assert!(commands(seam.path()).is_empty());
}

#[test]
fn bad_schedules_are_configuration_errors() {
    let env = TestEnv::new();
    let seam = tempfile::tempdir().unwrap();
    let r = schedule(
        &env,
        seam.path(),
        &["install", "--cron", "--user", "--binary", BIN, "--interval", "90s"],
    );
    r.expect_code(2);
    assert!(r.stderr.contains("whole minutes"), "{}", r.stderr);
    schedule(&env, seam.path(), &["install", "--cron", "--user", "--binary", "telemetron"])
        .expect_code(2);
}
