//! `telemetron setup`: from nothing to a scheduled, verified telemetron in
//! one command, printing each step.
//!
//! 1. detect the agents (`detect`);
//! 2. write the config: the endpoint and the places found (other keys of
//!    an existing config are kept);
//! 3. get a token: an existing token file is used; else, with an
//!    `--enroll-endpoint`, enroll (unless `TELEMETRON_NO_AUTO_ENROLL=1`);
//!    else go on without one (for collectors that need none);
//! 4. install the schedule (`schedule install`);
//! 5. run a first scan to verify that the collector accepts what is sent.
//!
//! `--dry-run` says what each step would do and does none of it. `--json`
//! prints one JSON object per step (`{"schema":"telemetron.setup.v1",
//! "event":…}`), ending with `setup.completed` or `setup.failed`.

use serde_json::json;

use crate::cli::SetupArgs;
use crate::commands::Failure;
use crate::commands::{detect, schedule};
use crate::config::Settings;
use crate::exit::Exit;
use crate::paths;

/// Prints one step, as text or as a JSON event.
struct Steps {
    json: bool,
}

impl Steps {
    fn say(&self, event: &str, text: &str, extra: serde_json::Value) {
        if self.json {
            let mut v = json!({"schema": "telemetron.setup.v1", "event": event, "message": text});
            if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
                o.extend(e.clone());
            }
            println!("{v}");
        } else {
            println!("telemetron setup: {text}");
        }
    }
}

/// Runs `telemetron setup`.
pub fn setup_command(
    args: &SetupArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Exit, Failure> {
    let steps = Steps { json: args.json };
    let result = run(args, env, &steps);
    match &result {
        Ok(_) => steps.say(
            "setup.completed",
            if args.dry_run { "dry run: nothing was changed" } else { "done" },
            json!({"dry_run": args.dry_run}),
        ),
        Err(f) => {
            steps.say("setup.failed", &format!("{:#}", f.error), json!({"exit": f.exit as u8}))
        }
    }
    result
}

/// The steps.
fn run(
    args: &SetupArgs,
    env: &dyn Fn(&str) -> Option<String>,
    steps: &Steps,
) -> Result<Exit, Failure> {
    let config = |error| Failure { exit: Exit::Config, error };
    let local = |error| Failure { exit: Exit::Local, error };
    let dry = args.dry_run;

    // 1. Detect.
    let own = paths::home_dir(env).map_err(config)?;
    let (_, found) = detect::detect_for(args.common.home.as_deref(), &own, paths::is_root(), env);
    let packs: Vec<String> = found
        .iter()
        .map(|f| format!("{} {} ({} files)", f.pack, f.path.display(), f.files))
        .collect();
    if found.is_empty() {
        return Err(config(anyhow::anyhow!(
            "no agent sessions found; nothing to set up (see `telemetron detect`)"
        )));
    }
    steps.say("agent.detected", &format!("found {}", packs.join("; ")), json!({"found": found}));

    // 2. Config. A named config that does not exist yet is what setup is
    // about to write: resolve without it for now.
    let mut first = args.common.clone();
    if first.config.as_ref().is_some_and(|p| !p.exists()) {
        first.config = None;
    }
    let settings = Settings::resolve(&first, env).map_err(config)?;
    let endpoint = settings.require_endpoint().map_err(config)?.to_string();
    let cfg_path = args
        .common
        .config
        .clone()
        .unwrap_or_else(|| paths::Defaults::for_user(&own, env).config_file);
    if dry {
        steps.say(
            "config.resolved",
            &format!("would write {} (endpoint {endpoint})", cfg_path.display()),
            json!({"path": cfg_path}),
        );
    } else {
        detect::write_config(&cfg_path, &found, true).map_err(local)?;
        set_endpoint(&cfg_path, &endpoint).map_err(local)?;
        steps.say(
            "config.written",
            &format!("wrote {}", cfg_path.display()),
            json!({"path": cfg_path}),
        );
    }
    // Re-read, so that every later step sees what was written.
    let mut common = args.common.clone_for_config(&cfg_path);
    if dry {
        common.config = None;
    }
    let settings = if dry { settings } else { Settings::resolve(&common, env).map_err(config)? };

    // 3. Token.
    let token = crate::commands::enroll::token_path(&settings, env);
    let no_auto = env("TELEMETRON_NO_AUTO_ENROLL").is_some_and(|v| v.trim() == "1");
    if token.exists() {
        steps.say(
            "token.loaded",
            &format!("using the token in {}", token.display()),
            json!({"source": "token-file"}),
        );
    } else if let Some(url) = &args.enroll_endpoint {
        if no_auto {
            steps.say(
                "token.skipped",
                "TELEMETRON_NO_AUTO_ENROLL=1: not enrolling; the scan goes without a token",
                json!({}),
            );
        } else if dry {
            steps.say(
                "token.planned",
                &format!("would enroll at {url} and write {}", token.display()),
                json!({}),
            );
        } else {
            let pack = found.first().map_or("openclaw", |f| f.pack.as_str());
            let path = crate::commands::enroll::enroll_and_store(&settings, url, pack, env)?;
            steps.say(
                "token.written",
                &format!("enrolled; token in {} (mode 0400)", path.display()),
                json!({"source": "auto-enroll"}),
            );
        }
    } else {
        steps.say("token.none", "no token file and no --enroll-endpoint: the collector must accept unauthenticated requests", json!({}));
    }

    // 4. Schedule.
    let plan = schedule::schedule_plan(&args.choice, env).map_err(config)?;
    if dry {
        steps.say(
            "service.planned",
            &format!("would install {:?} ({:?}) every {:?}", plan.kind, plan.scope, plan.interval),
            json!({}),
        );
    } else {
        let mut runner = schedule::schedule_runner(env);
        let done = schedule::install(&plan, &args.choice.root, runner.as_mut()).map_err(local)?;
        steps.say(
            "service.installed",
            &done.join("; "),
            json!({"kind": format!("{:?}", plan.kind)}),
        );
    }

    // 5. First scan.
    if dry {
        steps.say(
            "healthcheck.planned",
            "would run a first scan to verify the collector accepts it",
            json!({}),
        );
        return Ok(Exit::Ok);
    }
    // Resolve once more: the token file may have just been written.
    let settings = Settings::resolve(&common, env).map_err(config)?;
    let exit = crate::commands::scan::scan_command(&settings, crate::commands::scan::Mode::Export)?;
    steps.say(
        "healthcheck.passed",
        &format!("first scan sent to {endpoint} (exit {})", exit as u8),
        json!({"exit": exit as u8}),
    );
    Ok(exit)
}

/// Sets `endpoint:` in a config file, keeping its other keys.
fn set_endpoint(path: &std::path::Path, endpoint: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text)?;
    if let Some(m) = doc.as_mapping_mut() {
        m.insert("endpoint".into(), endpoint.into());
    }
    let text = format!("# Written by `telemetron setup`.\n{}", serde_yaml::to_string(&doc)?);
    crate::state::write_atomic(path, text.as_bytes())
}
