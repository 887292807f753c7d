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

/// Runs `telemetron schedule`.
fn schedule_command(
    args: &cli::ScheduleArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Exit, run::Failure> {
    use schedule::{Kind, Plan, Scope};
    let config = |error| run::Failure { exit: Exit::Config, error };
    let kind = if args.systemd {
        Kind::Systemd
    } else if args.launchd {
        Kind::Launchd
    } else if args.cron {
        Kind::Cron
    } else {
        schedule::default_kind()
    };
    let root = paths::is_root();
    let scope = if args.user {
        Scope::User
    } else if args.system || root {
        Scope::System
    } else {
        Scope::User
    };
    let binary = match &args.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe().map_err(|e| config(e.into()))?,
    };
    if !binary.is_absolute() {
        return Err(config(anyhow::anyhow!(
            "--binary must be an absolute path (schedulers do not search PATH reliably)"
        )));
    }
    let run_as = match scope {
        Scope::System => args.run_as.clone().or_else(|| env("SUDO_USER")).filter(|u| !u.is_empty()),
        Scope::User => None,
    };
    let plan = Plan {
        kind,
        scope,
        binary,
        interval: args.interval.map_or(std::time::Duration::from_secs(300), |d| d.0),
        run_as,
        home: paths::home_dir(env).map_err(config)?,
        // SAFETY: geteuid has no preconditions and cannot fail.
        uid: unsafe { libc::geteuid() },
    };
    schedule::render(&plan).map_err(config)?;
    let mut real = schedule::RealRunner;
    let mut recording;
    let runner: &mut dyn schedule::Runner = match env("TELEMETRON_SCHEDULE_SEAM") {
        Some(dir) => {
            recording = schedule::RecordingRunner { dir: dir.into() };
            &mut recording
        }
        None => &mut real,
    };
    let local = |error| run::Failure { exit: Exit::Local, error };
    let lines = match args.action {
        cli::ScheduleAction::Print => {
            print!("{}", schedule::print(&plan).map_err(config)?);
            return Ok(Exit::Ok);
        }
        cli::ScheduleAction::Install => {
            schedule::install(&plan, &args.root, runner).map_err(local)?
        }
        cli::ScheduleAction::Remove => {
            schedule::remove(&plan, &args.root, runner).map_err(local)?
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
    let homes = detect::homes(args.home.as_deref(), &own, paths::is_root());
    // The agents' own variables describe this user's home only.
    let agent_env = |k: &str| if args.home.is_none() { env(k) } else { None };
    let found: Vec<detect::Found> = homes
        .iter()
        .flat_map(|h| {
            let mine = *h == own;
            detect::detect(std::slice::from_ref(h), &|k| if mine { agent_env(k) } else { None })
        })
        .collect();
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

/// Runs `telemetron enroll`.
fn enroll_command(
    args: &cli::EnrollArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Exit, run::Failure> {
    let config = |error| run::Failure { exit: Exit::Config, error };
    let failed = |error| run::Failure { exit: Exit::ExportFailed, error };
    let settings = config::Settings::resolve(&args.common, env).map_err(config)?;
    let url = args.enroll_endpoint.trim();
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
        pack: &args.pack,
        tier,
    };
    let token = enroll::enroll(url, &req, settings.timeout).map_err(failed)?;
    let path = match &settings.token_file {
        Some(p) => p.clone(),
        None => {
            let cfg = settings
                .config_path
                .clone()
                .unwrap_or_else(|| paths::Defaults::for_user(&settings.home, env).config_file);
            cfg.parent().map(|d| d.join("token")).unwrap_or_else(|| "token".into())
        }
    };
    enroll::write_token(&path, &token)
        .map_err(|error| run::Failure { exit: Exit::Local, error })?;
    eprintln!("telemetron: enrolled; token written to {} (mode 0400)", path.display());
    Ok(Exit::Ok)
}
