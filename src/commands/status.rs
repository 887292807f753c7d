//! `telemetron status`, and the record of each run it reads.
//!
//! Every real run (not a dry run, not one that found the lock taken or
//! telemetry off) ends by writing `status.json` in the state directory: when
//! it ran, how it ended, the HTTP status it got, its error, and when a run
//! last succeeded. The file is informational: written atomically but not
//! synced, and a failure to write it never fails the run.
//!
//! `status` combines that record with the state, the pending batch and a
//! fresh discovery (which only lists and stats files) into a report, and
//! exits 1 when the last run failed or none succeeded for three intervals,
//! so a monitoring check can run it as is.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::commands::human_bytes;
use crate::commands::Failure;
use crate::config::Settings;
use crate::exit::Exit;
use crate::pipeline::discover;
use crate::state::StateDir;
use crate::time::{now_unix_nano, rfc3339};

/// `status.json`: how the last real run ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// When the last run ended.
    pub last_run_unix_nano: u64,
    /// Its exit code.
    pub last_exit: u8,
    /// The HTTP status of its last request, if one was answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_http_status: Option<u16>,
    /// Its error, if it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When a run last ended with exit 0 or 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_unix_nano: Option<u64>,
}

/// `status.json` in a state directory.
fn record_path(dir: &StateDir) -> std::path::PathBuf {
    dir.dir.join("status.json")
}

/// Reads the last run record, if any.
pub fn load_record(dir: &StateDir) -> Option<RunRecord> {
    serde_json::from_slice(&std::fs::read(record_path(dir)).ok()?).ok()
}

/// Records how a run ended (best effort).
pub fn record(dir: &StateDir, exit: Exit, http_status: Option<u16>, error: Option<String>) {
    let now = now_unix_nano();
    let prev = load_record(dir).unwrap_or_default();
    let ok = matches!(exit, Exit::Ok | Exit::Partial);
    let rec = RunRecord {
        last_run_unix_nano: now,
        last_exit: exit as u8,
        last_http_status: http_status,
        last_error: error,
        last_success_unix_nano: if ok { Some(now) } else { prev.last_success_unix_nano },
    };
    if let Ok(bytes) = serde_json::to_vec(&rec) {
        let _ = crate::state::write_informational(&record_path(dir), &bytes);
    }
}

/// What `status` reports.
#[derive(Debug, Serialize)]
pub struct Report {
    /// `on`, or why it is off.
    pub telemetry: String,
    /// The config file read, if any.
    pub config: Option<String>,
    /// The endpoint, if set.
    pub endpoint: Option<String>,
    /// The proxy the export goes through, credentials hidden.
    pub proxy: Option<String>,
    /// The state directory.
    pub state_dir: String,
    /// Transcript files found, by pack.
    pub files: Vec<(String, usize)>,
    /// Bytes appended since the last scan, over all files.
    pub unscanned_bytes: u64,
    /// Files with unscanned bytes.
    pub unscanned_files: usize,
    /// SQLite stores found per pack (packs without stores left out).
    pub databases: Vec<(String, usize)>,
    /// Stores that changed since they were last read (their new rows are
    /// read by the next run).
    pub unscanned_databases: usize,
    /// The last run, if any.
    pub last_run: Option<RunRecord>,
    /// The unacknowledged batch, if any: its sequence number and points.
    pub pending: Option<(u64, usize)>,
    /// Points the collector refused for good, and in how many batches.
    pub dropped_points: u64,
    /// Batches dropped whole.
    pub dropped_batches: u64,
    /// The installed schedule, or `None`.
    pub schedule: Option<String>,
    /// `ok`, or what is wrong.
    pub health: String,
    /// True when healthy.
    pub healthy: bool,
}

/// Builds the report.
pub fn report(
    settings: &Settings,
    optout: Option<String>,
    interval: Duration,
) -> anyhow::Result<Report> {
    let dir = StateDir::new(&settings.state_dir);
    let loaded = dir.load(now_unix_nano(), false)?;
    let found = discover::discover(&crate::commands::scan::places(settings));
    let mut files: Vec<(String, usize)> = crate::config::packs()
        .filter(|p| settings.packs.iter().any(|s| s.pack == *p && s.enabled))
        .map(|p| (p.as_str().to_string(), 0))
        .collect();
    let (mut unscanned_bytes, mut unscanned_files) = (0, 0);
    for s in &found.sources {
        if let Some(e) = files.iter_mut().find(|(p, _)| *p == s.pack.as_str()) {
            e.1 += 1;
        }
        let done = loaded
            .state
            .files
            .get(&crate::pipeline::count::key_of(&s.path))
            .map_or(0, |f| f.offset);
        if s.meta.size > done {
            unscanned_bytes += s.meta.size - done;
            unscanned_files += 1;
        }
    }
    let mut databases: Vec<(String, usize)> = Vec::new();
    let mut unscanned_databases = 0;
    for s in &found.stores {
        match databases.iter_mut().find(|(p, _)| *p == s.pack.as_str()) {
            Some(e) => e.1 += 1,
            None => databases.push((s.pack.as_str().to_string(), 1)),
        }
        let key = crate::pipeline::count::key_of(&s.path);
        let read = loaded.state.files.get(&key);
        if !read.is_some_and(|f| crate::pipeline::count::unchanged(f, &s.meta)) {
            unscanned_databases += 1;
        }
    }
    let last_run = load_record(&dir);
    let schedule = {
        let home = &settings.home;
        match std::env::var_os("TELEMETRON_SCHEDULE_SEAM") {
            Some(d) => {
                let mut r = crate::commands::schedule::RecordingRunner { dir: d.into() };
                crate::commands::schedule::installed(home, Some(&mut r))
            }
            None => {
                let mut r = crate::commands::schedule::RealRunner;
                crate::commands::schedule::installed(home, Some(&mut r))
            }
        }
    };
    let (health, healthy) = health(optout.as_deref(), last_run.as_ref(), interval, now_unix_nano());
    Ok(Report {
        telemetry: optout.map_or_else(|| "on".to_string(), |why| format!("off ({why})")),
        config: settings.config_path.as_ref().map(|p| p.display().to_string()),
        endpoint: settings.endpoint.clone(),
        proxy: settings.endpoint.as_deref().and_then(|e| {
            let env = |k: &str| std::env::var(k).ok();
            crate::export::network::proxy_for(e, settings.proxy.as_deref(), &env)
                .map(|p| crate::export::network::redacted(&p))
        }),
        state_dir: settings.state_dir.display().to_string(),
        files,
        unscanned_bytes,
        unscanned_files,
        databases,
        unscanned_databases,
        last_run,
        pending: loaded.pending.map(|p| (p.seq, p.points.len())),
        dropped_points: loaded.state.dropped_points,
        dropped_batches: loaded.state.dropped_batches,
        schedule,
        health,
        healthy,
    })
}

/// Judges health from the last run record.
fn health(
    optout: Option<&str>,
    last: Option<&RunRecord>,
    interval: Duration,
    now: u64,
) -> (String, bool) {
    if optout.is_some() {
        return ("ok (telemetry is off)".into(), true);
    }
    let Some(r) = last else { return ("no run recorded yet".into(), false) };
    if !matches!(r.last_exit, 0 | 1) {
        return (format!("failing: the last run exited {}", r.last_exit), false);
    }
    let limit = 3 * interval.as_nanos() as u64;
    match r.last_success_unix_nano {
        Some(t) if now.saturating_sub(t) > limit => (
            format!(
                "stale: no successful run for {} (more than three intervals of {})",
                human_duration(now - t),
                human_duration(interval.as_nanos() as u64)
            ),
            false,
        ),
        Some(_) => ("ok".into(), true),
        None => ("no successful run yet".into(), false),
    }
}

/// `90s` → `1m30s`.
fn human_duration(nanos: u64) -> String {
    let s = nanos / 1_000_000_000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s / 60 % 60),
    }
}

/// Prints the report as text.
fn print_text(r: &Report) {
    let when = |t: u64| rfc3339(t);
    println!("telemetry:     {}", r.telemetry);
    println!("config:        {}", r.config.as_deref().unwrap_or("none (defaults)"));
    println!("endpoint:      {}", r.endpoint.as_deref().unwrap_or("not set"));
    println!("proxy:         {}", r.proxy.as_deref().unwrap_or("none"));
    println!("state dir:     {}", r.state_dir);
    let files: Vec<String> = r.files.iter().map(|(p, n)| format!("{p} {n}")).collect();
    println!("files:         {}", files.join(", "));
    println!("unscanned:     {} in {} file(s)", human_bytes(r.unscanned_bytes), r.unscanned_files);
    if !r.databases.is_empty() {
        let dbs: Vec<String> = r.databases.iter().map(|(p, n)| format!("{p} {n}")).collect();
        println!("databases:     {}", dbs.join(", "));
        println!("unscanned:     {} database(s) changed since last read", r.unscanned_databases);
    }
    match &r.last_run {
        Some(l) => {
            let http = l.last_http_status.map(|s| format!(", HTTP {s}")).unwrap_or_default();
            println!("last run:      {} (exit {}{http})", when(l.last_run_unix_nano), l.last_exit);
            let ok = l.last_success_unix_nano.map_or_else(|| "never".into(), when);
            println!("last success:  {ok}");
            if let Some(e) = &l.last_error {
                println!("last error:    {e}");
            }
        }
        None => println!("last run:      never"),
    }
    match r.pending {
        Some((seq, n)) => {
            println!("pending:       batch #{seq}, {n} point(s), sent again by the next run")
        }
        None => println!("pending:       none"),
    }
    println!("dropped:       {} point(s) in {} batch(es)", r.dropped_points, r.dropped_batches);
    println!(
        "schedule:      {}",
        r.schedule.as_deref().unwrap_or("not installed (see `telemetron schedule install`)")
    );
    println!("health:        {}", r.health);
}

/// Runs `telemetron status`.
pub fn status_command(
    settings: &Settings,
    optout: Option<String>,
    json: bool,
    interval: Duration,
) -> Result<Exit, Failure> {
    let r =
        report(settings, optout, interval).map_err(|error| Failure { exit: Exit::Local, error })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r).expect("report serialises"));
    } else {
        print_text(&r);
    }
    Ok(if r.healthy { Exit::Ok } else { Exit::Partial })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000_000_000;

    fn rec(exit: u8, success: Option<u64>) -> RunRecord {
        RunRecord {
            last_run_unix_nano: 100 * MIN,
            last_exit: exit,
            last_success_unix_nano: success,
            ..RunRecord::default()
        }
    }

    #[test]
    fn health_rules() {
        let five = Duration::from_secs(300);
        let now = 100 * MIN;
        assert!(health(None, Some(&rec(0, Some(now))), five, now).1);
        assert!(
            health(None, Some(&rec(1, Some(now))), five, now).1,
            "skipped files are not a failure"
        );
        assert!(!health(None, Some(&rec(3, Some(now - MIN))), five, now).1);
        assert!(
            !health(None, Some(&rec(0, Some(now - 16 * MIN))), five, now).1,
            "stale after 3 intervals"
        );
        assert!(health(None, Some(&rec(0, Some(now - 14 * MIN))), five, now).1);
        assert!(!health(None, None, five, now).1);
        assert!(health(Some("DO_NOT_TRACK is set"), None, five, now).1);
        assert!(health(None, Some(&rec(0, Some(now - 16 * MIN))), five, now).0.contains("16m00s"));
    }

    #[test]
    fn a_failed_run_keeps_the_last_success() {
        let d = tempfile::tempdir().unwrap();
        let dir = StateDir::new(d.path());
        record(&dir, Exit::Ok, Some(200), None);
        let first = load_record(&dir).unwrap();
        record(&dir, Exit::ExportFailed, Some(503), Some("down".into()));
        let second = load_record(&dir).unwrap();
        assert_eq!(second.last_exit, 3);
        assert_eq!(second.last_http_status, Some(503));
        assert_eq!(second.last_success_unix_nano, first.last_success_unix_nano);
    }
}
