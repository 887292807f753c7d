//! telemetron: a privacy-safe, one-shot telemetry scanner for coding-agent
//! sessions.
//!
//! The pipeline, one module per stage: [`discover`] finds session files,
//! [`state`] loads offsets and totals, [`scan`] reads the appended bytes
//! ([`read`]) and counts them with a per-format deriver ([`formats`],
//! [`classify`]), [`batch`] turns counts into points, [`export`] encodes and
//! sends them, and [`state`] commits once they are acknowledged. [`run`]
//! strings the stages together; [`metrics`] is the wire contract's
//! vocabulary.

pub mod batch;
pub mod classify;
pub mod cli;
pub mod config;
pub mod detect;
pub mod discover;
pub mod enroll;
pub mod exit;
pub mod export;
pub mod failpoint;
pub mod formats;
pub mod identity;
pub mod legacy;
pub mod metrics;
pub mod optout;
pub mod paths;
pub mod read;
pub mod run;
pub mod scan;
pub mod schedule;
pub mod seen;
pub mod setup;
pub mod sources;
pub mod state;
pub mod status;
pub mod util;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::config::Settings;
use crate::exit::Exit;

/// Parses the command line, runs the command and maps the outcome to an
/// exit code. Errors are printed once, as `telemetron: error: …`.
pub fn main_entry() -> ExitCode {
    let cli = Cli::parse();
    let env = |k: &str| std::env::var(k).ok();
    let result = match cli.command {
        Command::Scan(args) => {
            // Opting out wins over everything, even a broken config: the
            // run then reads nothing and sends nothing.
            let home = paths::home_dir(&env).unwrap_or_default();
            if let Some(why) = optout::check(&env, &home) {
                eprintln!("telemetron: telemetry is off ({why}); nothing was read or sent");
                return Exit::Ok.into();
            }
            match Settings::resolve(&args.common, &env) {
                Ok(settings) => run::scan_command(&settings, args.dry_run),
                Err(error) => Err(run::Failure { exit: Exit::Config, error }),
            }
        }
        Command::Schedule(args) => schedule_command(&args, &env),
        Command::Detect(args) => detect_command(&args, &env),
        Command::Enroll(args) => enroll_command(&args, &env),
        Command::Setup(args) => setup::setup_command(&args, &env),
        Command::Status(args) => {
            let home = paths::home_dir(&env).unwrap_or_default();
            let optout = optout::check(&env, &home);
            let interval = args.interval.map_or(std::time::Duration::from_secs(300), |d| d.0);
            match Settings::resolve(&args.common, &env) {
                Ok(settings) => status::status_command(&settings, optout, args.json, interval),
                Err(error) => Err(run::Failure { exit: Exit::Config, error }),
            }
        }
    };
    match result {
        Ok(exit) => exit.into(),
        Err(f) => {
            eprintln!("telemetron: error: {:#}", f.error);
            f.exit.into()
        }
    }
}

/// Builds a schedule plan from the command line.
pub fn schedule_plan(
    choice: &cli::SchedulerChoice,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<schedule::Plan> {
    use schedule::{Kind, Plan, Scope};
    let kind = if choice.systemd {
        Kind::Systemd
    } else if choice.launchd {
        Kind::Launchd
    } else if choice.cron {
        Kind::Cron
    } else {
        schedule::default_kind()
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
    schedule::render(&plan)?;
    Ok(plan)
}

/// The scheduler seam: recording when `TELEMETRON_SCHEDULE_SEAM` is set.
pub fn schedule_runner(env: &dyn Fn(&str) -> Option<String>) -> Box<dyn schedule::Runner> {
    match env("TELEMETRON_SCHEDULE_SEAM") {
        Some(dir) => Box::new(schedule::RecordingRunner { dir: dir.into() }),
        None => Box::new(schedule::RealRunner),
    }
}

/// Runs `telemetron schedule`.
fn schedule_command(
    args: &cli::ScheduleArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Exit, run::Failure> {
    let config = |error| run::Failure { exit: Exit::Config, error };
    let local = |error| run::Failure { exit: Exit::Local, error };
    let plan = schedule_plan(&args.choice, env).map_err(config)?;
    let mut runner = schedule_runner(env);
    let c = &args.choice;
    let chosen = c.systemd || c.launchd || c.cron || c.user || c.system;
    if args.action == cli::ScheduleAction::Remove && !chosen {
        // No scheduler named: take off every telemetron schedule there is,
        // whatever was chosen when it was installed.
        use schedule::{Kind, Scope};
        for kind in [Kind::Systemd, Kind::Launchd, Kind::Cron] {
            for scope in [Scope::User, Scope::System] {
                let p = schedule::Plan { kind, scope, ..plan.clone() };
                for l in schedule::remove(&p, &c.root, runner.as_mut()).map_err(local)? {
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
            print!("{}", schedule::print(&plan).map_err(config)?);
            return Ok(Exit::Ok);
        }
        cli::ScheduleAction::Install => {
            schedule::install(&plan, &args.choice.root, runner.as_mut()).map_err(local)?
        }
        cli::ScheduleAction::Remove => {
            schedule::remove(&plan, &args.choice.root, runner.as_mut()).map_err(local)?
        }
    };
    for l in lines {
        eprintln!("telemetron: {l}");
    }
    Ok(Exit::Ok)
}

/// Runs `telemetron detect`.
fn detect_command(
    args: &cli::DetectArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Exit, run::Failure> {
    let config = |error| run::Failure { exit: Exit::Config, error };
    let own = paths::home_dir(env).map_err(config)?;
    let (homes, found) = detect::detect_for(args.home.as_deref(), &own, paths::is_root(), env);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&found).expect("serialises"));
    } else {
        for f in &found {
            println!("{:<11} {}  {} file(s)", f.pack, f.path.display(), f.files);
        }
    }
    if found.is_empty() {
        let list: Vec<String> = homes.iter().map(|h| h.display().to_string()).collect();
        eprintln!("telemetron: no agent sessions found under {}", list.join(", "));
        return Ok(Exit::Partial);
    }
    if args.write_config {
        let path =
            args.config.clone().unwrap_or_else(|| paths::Defaults::for_user(&own, env).config_file);
        detect::write_config(&path, &found, args.force).map_err(config)?;
        eprintln!("telemetron: wrote the places above into {}", path.display());
    }
    Ok(Exit::Ok)
}

/// Enrolls and stores the token; returns where it was written.
pub fn enroll_and_store(
    settings: &config::Settings,
    url: &str,
    pack: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<std::path::PathBuf, run::Failure> {
    let config = |error| run::Failure { exit: Exit::Config, error };
    let failed = |error| run::Failure { exit: Exit::ExportFailed, error };
    let url = url.trim();
    let plain = url.to_ascii_lowercase().starts_with("http://");
    if plain && !settings.insecure_endpoint && !config::is_loopback_url(url) {
        return Err(config(anyhow::anyhow!(
            "enroll endpoint `{url}` uses plain http to a non-loopback host; use https"
        )));
    }
    std::fs::create_dir_all(&settings.state_dir)
        .map_err(|e| run::Failure { exit: Exit::Local, error: e.into() })?;
    let dir = state::StateDir::new(&settings.state_dir);
    let (install_id, _) = identity::load_or_create(&dir.install_id_path(), true)
        .map_err(|error| run::Failure { exit: Exit::Local, error })?;
    let machine_id = enroll::local_machine_id().map_err(config)?;
    let (os, arch) = enroll::os_arch();
    let tier = settings.declared.iter().find(|(k, _)| k == "tier").map_or("external", |(_, v)| v);
    let req = enroll::Request {
        schema: "lowkey.enroll.v1",
        install_id: &install_id,
        machine_id: &machine_id,
        os,
        arch,
        source: "telemetron-standalone",
        telemetron_version: env!("CARGO_PKG_VERSION"),
        pack,
        tier,
    };
    let token = enroll::enroll(url, &req, settings.timeout).map_err(failed)?;
    let path = token_path(settings, env);
    enroll::write_token(&path, &token)
        .map_err(|error| run::Failure { exit: Exit::Local, error })?;
    Ok(path)
}

/// Where the token file is (configured, else beside the config file).
pub fn token_path(
    settings: &config::Settings,
    env: &dyn Fn(&str) -> Option<String>,
) -> std::path::PathBuf {
    match &settings.token_file {
        Some(p) => p.clone(),
        None => {
            let cfg = settings
                .config_path
                .clone()
                .unwrap_or_else(|| paths::Defaults::for_user(&settings.home, env).config_file);
            cfg.parent().map(|d| d.join("token")).unwrap_or_else(|| "token".into())
        }
    }
}

/// Runs `telemetron enroll`.
fn enroll_command(
    args: &cli::EnrollArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Exit, run::Failure> {
    let settings = config::Settings::resolve(&args.common, env)
        .map_err(|error| run::Failure { exit: Exit::Config, error })?;
    let path = enroll_and_store(&settings, &args.enroll_endpoint, &args.pack, env)?;
    eprintln!("telemetron: enrolled; token written to {} (mode 0400)", path.display());
    Ok(Exit::Ok)
}
