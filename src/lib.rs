//! telemetron: a privacy-safe, one-shot telemetry scanner for coding-agent
//! sessions.
//!
//! Where things live:
//!
//! - [`agents`]: one folder per agent (where it keeps its sessions, how its
//!   records count, its tool table), behind one registry
//!   ([`agents::REGISTRY`]).
//! - [`sources`]: reading mechanisms shared by every agent: growing files
//!   read from a byte offset ([`sources::growing`]) and the content identity
//!   that recognises a file wherever it moves ([`sources::identity`]).
//! - [`pipeline`]: the stages of a scan: [`pipeline::discover`] finds the
//!   sources, [`pipeline::count`] reads what was added and counts it,
//!   [`pipeline::batch`] turns counts into points.
//! - [`state`]: positions and totals, committed atomically after the
//!   collector acknowledges; the ids already counted
//!   ([`state::claims`]); the install id.
//! - [`export`]: OTLP encoding and HTTP delivery.
//! - [`commands`]: the operator commands (`scan`, `status`, `schedule`,
//!   `detect`, `enroll`, `setup`).
//! - [`metrics`]: the wire contract's vocabulary; [`classify`]: the closed
//!   lists that raw names map onto.

pub mod agents;
pub mod classify;
pub mod cli;
pub mod commands;
pub mod config;
pub mod exit;
pub mod export;
pub mod failpoint;
pub mod hash;
pub mod memory;
pub mod metrics;
pub mod optout;
pub mod paths;
pub mod pipeline;
pub mod pricing;
pub mod quotes;
pub mod sources;
pub mod state;
pub mod time;

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
                Ok(settings) => {
                    let mode = match (args.dry_run, args.no_export) {
                        (true, _) => commands::scan::Mode::DryRun,
                        (false, true) => commands::scan::Mode::NoExport,
                        (false, false) => commands::scan::Mode::Export,
                    };
                    commands::scan::scan_command(&settings, mode)
                }
                Err(error) => Err(commands::Failure { exit: Exit::Config, error }),
            }
        }
        Command::Schedule(args) => commands::schedule::schedule_command(&args, &env),
        Command::Detect(args) => commands::detect::detect_command(&args, &env),
        Command::Enroll(args) => commands::enroll::enroll_command(&args, &env),
        Command::Setup(args) => commands::setup::setup_command(&args, &env),
        Command::Report(args) => match Settings::resolve(&args.common, &env) {
            Ok(settings) => commands::report::report_command(&settings, &args),
            Err(error) => Err(commands::Failure { exit: Exit::Config, error }),
        },
        Command::Status(args) => {
            let home = paths::home_dir(&env).unwrap_or_default();
            let optout = optout::check(&env, &home);
            let interval = args.interval.map_or(std::time::Duration::from_secs(300), |d| d.0);
            match Settings::resolve(&args.common, &env) {
                Ok(settings) => {
                    commands::status::status_command(&settings, optout, args.json, interval)
                }
                Err(error) => Err(commands::Failure { exit: Exit::Config, error }),
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
