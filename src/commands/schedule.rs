//! `telemetron schedule install|remove|print`: puts `telemetron scan` on
//! the platform's scheduler, a systemd timer, a launchd job or a cron
//! entry, for one user or system-wide. No daemon is involved.
//!
//! The files are rendered from the templates shipped in `systemd/`,
//! `launchd/` and `cron/` ([`render`] is pure). Installing writes them
//! (only when their content differs, so installing twice changes nothing)
//! and runs the scheduler's own commands. Every such command goes through
//! one seam, [`Runner`]: normally it runs the command; with
//! `TELEMETRON_SCHEDULE_SEAM=DIR` (for tests) it appends the command to
//! `DIR/commands.log` instead and keeps a user crontab in `DIR/crontab`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::commands::Failure;
use crate::exit::Exit;
use crate::{cli, paths};
use anyhow::{bail, Context};

/// Which scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A systemd service and timer.
    Systemd,
    /// A launchd job (macOS).
    Launchd,
    /// A cron entry.
    Cron,
}

/// For whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The user running the command (`systemctl --user`, a LaunchAgent, a
    /// user crontab).
    User,
    /// System-wide (`/etc/systemd/system`, a LaunchDaemon, `/etc/cron.d`).
    System,
}

/// What to schedule.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Scheduler.
    pub kind: Kind,
    /// Scope.
    pub scope: Scope,
    /// Absolute path of the binary.
    pub binary: PathBuf,
    /// Time between scans.
    pub interval: Duration,
    /// User to run as (system scope).
    pub run_as: Option<String>,
    /// Home directory (user scope paths).
    pub home: PathBuf,
    /// Numeric user id (launchd's `gui/<uid>` domain).
    pub uid: u32,
}

/// A file to install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// Absolute path (before the root prefix).
    pub path: PathBuf,
    /// Content.
    pub content: String,
}

/// Mark that identifies telemetron's line in a user crontab.
const CRON_MARK: &str = "# telemetron schedule";

/// The launchd label.
const LABEL: &str = "dev.telemetron.scan";

/// The platform's scheduler: launchd on macOS, systemd where it runs, else
/// cron.
pub fn default_kind() -> Kind {
    if cfg!(target_os = "macos") {
        Kind::Launchd
    } else if Path::new("/run/systemd/system").exists() {
        Kind::Systemd
    } else {
        Kind::Cron
    }
}

/// Finds an installed schedule: the first of the places `install` writes
/// to that exists (system-wide first), described for `status`. A user
/// crontab is only read through the seam when `runner` is given.
pub fn installed(home: &Path, runner: Option<&mut dyn Runner>) -> Option<String> {
    let places = [
        (PathBuf::from("/etc/systemd/system/telemetron.timer"), "systemd timer (system)"),
        (home.join(".config/systemd/user/telemetron.timer"), "systemd timer (user)"),
        (PathBuf::from(format!("/Library/LaunchDaemons/{LABEL}.plist")), "launchd daemon"),
        (home.join(format!("Library/LaunchAgents/{LABEL}.plist")), "launchd agent"),
        (PathBuf::from("/etc/cron.d/telemetron"), "cron (/etc/cron.d)"),
    ];
    for (path, what) in places {
        if path.exists() {
            return Some(format!("{what}: {}", path.display()));
        }
    }
    let tab = runner?.run(&["crontab".into(), "-l".into()], None).ok()?;
    tab.lines().find(|l| l.ends_with(CRON_MARK)).map(|l| format!("cron (user crontab): {l}"))
}

/// Checks the interval for the scheduler (cron counts whole minutes).
fn check_interval(plan: &Plan) -> anyhow::Result<()> {
    let secs = plan.interval.as_secs();
    if secs < 60 {
        bail!("--interval must be at least 1m (got {secs}s)");
    }
    if plan.kind == Kind::Cron && !secs.is_multiple_of(60) {
        bail!("cron schedules whole minutes: use an --interval in minutes");
    }
    if plan.kind == Kind::Cron && secs / 60 > 59 && !secs.is_multiple_of(3600) {
        bail!("cron intervals over 59 minutes must be whole hours");
    }
    Ok(())
}

/// The cron time fields for the interval.
fn cron_when(interval: Duration) -> String {
    let mins = interval.as_secs() / 60;
    if mins < 60 {
        format!("*/{mins} * * * *")
    } else {
        format!("0 */{} * * *", mins / 60)
    }
}

/// systemd's spelling of a duration (`5min`, `90s`).
fn systemd_span(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(60) {
        format!("{}min", s / 60)
    } else {
        format!("{s}s")
    }
}

/// Where a launchd plan's plist goes.
fn plist_path(plan: &Plan) -> PathBuf {
    let dir = match plan.scope {
        Scope::User => plan.home.join("Library/LaunchAgents"),
        Scope::System => PathBuf::from("/Library/LaunchDaemons"),
    };
    dir.join(format!("{LABEL}.plist"))
}

/// Renders the files a plan installs.
pub fn render(plan: &Plan) -> anyhow::Result<Vec<File>> {
    check_interval(plan)?;
    let bin = plan.binary.display().to_string();
    let every = systemd_span(plan.interval);
    let timer = |t: &str| t.replace("OnUnitActiveSec=5min", &format!("OnUnitActiveSec={every}"));
    Ok(match (plan.kind, plan.scope) {
        (Kind::Systemd, Scope::System) => {
            let mut service = include_str!("../../systemd/telemetron.service")
                .replace("/usr/local/bin/telemetron", &bin);
            if let Some(u) = &plan.run_as {
                service = service.replace("#User=agent\n#Group=agent\n", &format!("User={u}\n"));
            }
            let dir = PathBuf::from("/etc/systemd/system");
            vec![
                File { path: dir.join("telemetron.service"), content: service },
                File {
                    path: dir.join("telemetron.timer"),
                    content: timer(include_str!("../../systemd/telemetron.timer")),
                },
            ]
        }
        (Kind::Systemd, Scope::User) => {
            let service = include_str!("../../systemd/user/telemetron.service")
                .replace("%h/.local/bin/telemetron", &bin);
            let dir = plan.home.join(".config/systemd/user");
            vec![
                File { path: dir.join("telemetron.service"), content: service },
                File {
                    path: dir.join("telemetron.timer"),
                    content: timer(include_str!("../../systemd/user/telemetron.timer")),
                },
            ]
        }
        (Kind::Launchd, scope) => {
            let mut plist = include_str!("../../launchd/dev.telemetron.scan.plist")
                .replace("/usr/local/bin/telemetron", &bin)
                .replace(
                    "<integer>300</integer>",
                    &format!("<integer>{}</integer>", plan.interval.as_secs()),
                );
            if scope == Scope::User {
                let logs = plan.home.join("Library/Logs").display().to_string();
                plist = plist.replace("/tmp/telemetron.", &format!("{logs}/telemetron."));
            }
            vec![File { path: plist_path(plan), content: plist }]
        }
        (Kind::Cron, Scope::System) => {
            let user = plan.run_as.clone().unwrap_or_else(|| "root".into());
            let content = include_str!("../../cron/telemetron.cron").replace(
                "*/5 * * * * agent telemetron scan",
                &format!("{} {user} {bin} scan", cron_when(plan.interval)),
            );
            vec![File { path: PathBuf::from("/etc/cron.d/telemetron"), content }]
        }
        (Kind::Cron, Scope::User) => Vec::new(),
    })
}

/// The user crontab line of a plan.
pub fn cron_line(plan: &Plan) -> String {
    format!("{} \"{}\" scan {CRON_MARK}", cron_when(plan.interval), plan.binary.display())
}

/// Runs the scheduler's commands: the one seam tests replace.
pub trait Runner {
    /// Runs `argv` with `stdin`, returning its standard output.
    fn run(&mut self, argv: &[String], stdin: Option<&str>) -> anyhow::Result<String>;
}

/// Runs commands for real.
pub struct RealRunner;

impl Runner for RealRunner {
    fn run(&mut self, argv: &[String], stdin: Option<&str>) -> anyhow::Result<String> {
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().with_context(|| format!("cannot run `{}`", argv.join(" ")))?;
        if let (Some(text), Some(mut w)) = (stdin, child.stdin.take()) {
            w.write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "`{}` failed ({}): {}",
                argv.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Records commands instead of running them (`TELEMETRON_SCHEDULE_SEAM`).
pub struct RecordingRunner {
    /// Where `commands.log` and `crontab` live.
    pub dir: PathBuf,
}

impl Runner for RecordingRunner {
    fn run(&mut self, argv: &[String], stdin: Option<&str>) -> anyhow::Result<String> {
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("commands.log"))?;
        writeln!(log, "{}", argv.join(" "))?;
        let crontab = self.dir.join("crontab");
        match argv.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["crontab", "-l"] => match std::fs::read_to_string(&crontab) {
                Ok(t) => Ok(t),
                Err(_) => bail!("no crontab for this user"),
            },
            ["crontab", "-"] => {
                std::fs::write(&crontab, stdin.unwrap_or(""))?;
                Ok(String::new())
            }
            _ => Ok(String::new()),
        }
    }
}

/// The commands that activate (or deactivate) a plan.
fn activate(plan: &Plan, on: bool) -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    match plan.kind {
        Kind::Systemd => {
            let mut base = s(&["systemctl"]);
            if plan.scope == Scope::User {
                base.push("--user".into());
            }
            let with = |rest: &[&str]| base.iter().cloned().chain(s(rest)).collect::<Vec<_>>();
            if on {
                vec![with(&["daemon-reload"]), with(&["enable", "--now", "telemetron.timer"])]
            } else {
                vec![with(&["disable", "--now", "telemetron.timer"]), with(&["daemon-reload"])]
            }
        }
        Kind::Launchd => {
            let domain = match plan.scope {
                Scope::User => format!("gui/{}", plan.uid),
                Scope::System => "system".to_string(),
            };
            let bootout = s(&["launchctl", "bootout", &format!("{domain}/{LABEL}")]);
            if on {
                let plist = plist_path(plan).display().to_string();
                vec![bootout, s(&["launchctl", "bootstrap", &domain, &plist])]
            } else {
                vec![bootout]
            }
        }
        Kind::Cron => Vec::new(),
    }
}

/// Writes `content` to `path` unless it is already there; returns whether
/// it wrote.
fn write_if_changed(path: &Path, content: &str) -> anyhow::Result<bool> {
    if std::fs::read_to_string(path).is_ok_and(|c| c == content) {
        return Ok(false);
    }
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    crate::state::write_atomic(path, content.as_bytes())?;
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o644);
    std::fs::set_permissions(path, mode).with_context(|| format!("{}", path.display()))?;
    Ok(true)
}

/// `root` joined with an absolute path.
fn under(root: &Path, p: &Path) -> PathBuf {
    root.join(p.strip_prefix("/").unwrap_or(p))
}

/// Installs a plan: files under `root`, then the scheduler's commands.
/// Returns what was done, one line each.
pub fn install(plan: &Plan, root: &Path, runner: &mut dyn Runner) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    for f in render(plan)? {
        let p = under(root, &f.path);
        let wrote = write_if_changed(&p, &f.content)?;
        done.push(format!("{} {}", if wrote { "wrote" } else { "unchanged" }, p.display()));
    }
    if plan.kind == Kind::Cron && plan.scope == Scope::User {
        let current = runner.run(&["crontab".into(), "-l".into()], None).unwrap_or_default();
        let line = cron_line(plan);
        let mut lines: Vec<&str> = current.lines().filter(|l| !l.ends_with(CRON_MARK)).collect();
        lines.push(&line);
        let new = lines.join("\n") + "\n";
        if new == current {
            done.push("crontab unchanged".into());
        } else {
            runner.run(&["crontab".into(), "-".into()], Some(&new))?;
            done.push(format!("crontab: {line}"));
        }
    }
    for cmd in activate(plan, true) {
        // Unloading a job that is not loaded fails; that is fine.
        let optional = cmd.get(1).is_some_and(|c| c == "bootout");
        match runner.run(&cmd, None) {
            Ok(_) => done.push(format!("ran {}", cmd.join(" "))),
            Err(_) if optional => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Removes a plan: the scheduler's commands, then the files.
pub fn remove(plan: &Plan, root: &Path, runner: &mut dyn Runner) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    let files = render(plan)?;
    let installed = files.iter().any(|f| under(root, &f.path).exists());
    if installed {
        for cmd in activate(plan, false) {
            let systemd_disable = cmd.contains(&"disable".to_string());
            match runner.run(&cmd, None) {
                Ok(_) => done.push(format!("ran {}", cmd.join(" "))),
                // Not loaded or unknown to the scheduler: nothing to stop.
                Err(e) if systemd_disable || cmd.get(1).is_some_and(|c| c == "bootout") => {
                    done.push(format!("skipped: {e:#}"))
                }
                Err(e) => return Err(e),
            }
        }
    }
    for f in files {
        let p = under(root, &f.path);
        match std::fs::remove_file(&p) {
            Ok(()) => done.push(format!("removed {}", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("{}", p.display())),
        }
    }
    if plan.kind == Kind::Cron && plan.scope == Scope::User {
        if let Ok(current) = runner.run(&["crontab".into(), "-l".into()], None) {
            let kept: Vec<&str> = current.lines().filter(|l| !l.ends_with(CRON_MARK)).collect();
            if kept.len() != current.lines().count() {
                let new = if kept.is_empty() { String::new() } else { kept.join("\n") + "\n" };
                runner.run(&["crontab".into(), "-".into()], Some(&new))?;
                done.push("crontab: removed the telemetron line".into());
            }
        }
    }
    if done.is_empty() {
        done.push("nothing installed".into());
    }
    Ok(done)
}

/// What `print` shows: every file with its path, the crontab line, and
/// the commands install would run.
pub fn print(plan: &Plan) -> anyhow::Result<String> {
    let mut out = String::new();
    for f in render(plan)? {
        out.push_str(&format!("# {}\n{}\n", f.path.display(), f.content.trim_end()));
        out.push('\n');
    }
    if plan.kind == Kind::Cron && plan.scope == Scope::User {
        out.push_str(&format!("# added to the user's crontab\n{}\n\n", cron_line(plan)));
    }
    for cmd in activate(plan, true) {
        out.push_str(&format!("$ {}\n", cmd.join(" ")));
    }
    Ok(out)
}

/// Builds a schedule plan from the command line.
pub fn schedule_plan(
    choice: &cli::SchedulerChoice,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Plan> {
    use {Kind, Plan, Scope};
    let kind = if choice.systemd {
        Kind::Systemd
    } else if choice.launchd {
        Kind::Launchd
    } else if choice.cron {
        Kind::Cron
    } else {
        default_kind()
    };
    let scope = if choice.user {
        Scope::User
    } else if choice.system || paths::is_root() {
        Scope::System
    } else {
        Scope::User
    };
    let binary = match &choice.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe()?,
    };
    if !binary.is_absolute() {
        anyhow::bail!("--binary must be an absolute path (schedulers do not search PATH reliably)");
    }
    let run_as = match scope {
        Scope::System => {
            choice.run_as.clone().or_else(|| env("SUDO_USER")).filter(|u| !u.is_empty())
        }
        Scope::User => None,
    };
    let plan = Plan {
        kind,
        scope,
        binary,
        interval: choice.interval.map_or(std::time::Duration::from_secs(300), |d| d.0),
        run_as,
        home: paths::home_dir(env)?,
        // SAFETY: geteuid has no preconditions and cannot fail.
        uid: unsafe { libc::geteuid() },
    };
    render(&plan)?;
    Ok(plan)
}

/// The scheduler seam: recording when `TELEMETRON_SCHEDULE_SEAM` is set.
pub fn schedule_runner(env: &dyn Fn(&str) -> Option<String>) -> Box<dyn Runner> {
    match env("TELEMETRON_SCHEDULE_SEAM") {
        Some(dir) => Box::new(RecordingRunner { dir: dir.into() }),
        None => Box::new(RealRunner),
    }
}

/// Runs `telemetron schedule`.
pub fn schedule_command(
    args: &cli::ScheduleArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Exit, Failure> {
    let config = |error| Failure { exit: Exit::Config, error };
    let local = |error| Failure { exit: Exit::Local, error };
    let plan = schedule_plan(&args.choice, env).map_err(config)?;
    let mut runner = schedule_runner(env);
    let c = &args.choice;
    let chosen = c.systemd || c.launchd || c.cron || c.user || c.system;
    if args.action == cli::ScheduleAction::Remove && !chosen {
        // No scheduler named: take off every telemetron schedule there is,
        // whatever was chosen when it was installed.
        use {Kind, Scope};
        for kind in [Kind::Systemd, Kind::Launchd, Kind::Cron] {
            for scope in [Scope::User, Scope::System] {
                let p = Plan { kind, scope, ..plan.clone() };
                for l in remove(&p, &c.root, runner.as_mut()).map_err(local)? {
                    if l != "nothing installed" {
                        eprintln!("telemetron: {l}");
                    }
                }
            }
        }
        return Ok(Exit::Ok);
    }
    let lines = match args.action {
        cli::ScheduleAction::Print => {
            print!("{}", print(&plan).map_err(config)?);
            return Ok(Exit::Ok);
        }
        cli::ScheduleAction::Install => {
            install(&plan, &args.choice.root, runner.as_mut()).map_err(local)?
        }
        cli::ScheduleAction::Remove => {
            remove(&plan, &args.choice.root, runner.as_mut()).map_err(local)?
        }
    };
    for l in lines {
        eprintln!("telemetron: {l}");
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(kind: Kind, scope: Scope) -> Plan {
        Plan {
            kind,
            scope,
            binary: "/opt/t/telemetron".into(),
            interval: Duration::from_secs(600),
            run_as: Some("agent".into()),
            home: "/home/agent".into(),
            uid: 1000,
        }
    }

    #[test]
    fn systemd_units_carry_the_binary_user_and_interval() {
        let f = render(&plan(Kind::Systemd, Scope::System)).unwrap();
        assert_eq!(f[0].path, PathBuf::from("/etc/systemd/system/telemetron.service"));
        assert!(f[0].content.contains("ExecStart=/opt/t/telemetron scan"));
        assert!(f[0].content.contains("\nUser=agent\n"));
        assert!(f[0].content.contains("ProtectSystem=strict"));
        assert!(f[1].content.contains("OnUnitActiveSec=10min"));
        assert!(f[1].content.contains("Persistent=true"));
        let u = render(&plan(Kind::Systemd, Scope::User)).unwrap();
        assert_eq!(u[0].path, PathBuf::from("/home/agent/.config/systemd/user/telemetron.service"));
        assert!(u[0].content.contains("ExecStart=/opt/t/telemetron scan"));
    }

    #[test]
    fn launchd_plist_has_the_interval_and_user_logs() {
        let f = render(&plan(Kind::Launchd, Scope::User)).unwrap();
        assert_eq!(
            f[0].path,
            PathBuf::from("/home/agent/Library/LaunchAgents/dev.telemetron.scan.plist")
        );
        assert!(f[0].content.contains("<integer>600</integer>"));
        assert!(f[0].content.contains("<string>/opt/t/telemetron</string>"));
        assert!(f[0].content.contains("/home/agent/Library/Logs/telemetron.err.log"));
    }

    #[test]
    fn cron_entries() {
        let f = render(&plan(Kind::Cron, Scope::System)).unwrap();
        assert!(f[0].content.contains("\n*/10 * * * * agent /opt/t/telemetron scan\n"));
        assert!(f[0].content.contains("PATH=/usr/local/bin:/usr/bin:/bin"));
        assert_eq!(
            cron_line(&plan(Kind::Cron, Scope::User)),
            "*/10 * * * * \"/opt/t/telemetron\" scan # telemetron schedule"
        );
        let mut p = plan(Kind::Cron, Scope::User);
        p.interval = Duration::from_secs(7200);
        assert!(cron_line(&p).starts_with("0 */2 * * * "));
        p.interval = Duration::from_secs(90);
        assert!(render(&p).is_err());
    }

    #[test]
    fn the_user_crontab_keeps_other_lines_and_one_telemetron_line() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("crontab"), "0 1 * * * backup\n").unwrap();
        let mut r = RecordingRunner { dir: d.path().into() };
        let p = plan(Kind::Cron, Scope::User);
        install(&p, d.path(), &mut r).unwrap();
        let again = install(&p, d.path(), &mut r).unwrap();
        assert!(again.contains(&"crontab unchanged".to_string()));
        let tab = std::fs::read_to_string(d.path().join("crontab")).unwrap();
        assert_eq!(tab.lines().filter(|l| l.contains("telemetron")).count(), 1);
        assert!(tab.starts_with("0 1 * * * backup\n"));
        remove(&p, d.path(), &mut r).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("crontab")).unwrap(),
            "0 1 * * * backup\n"
        );
    }
}
