//! `telemetron report` over a year of history: 7 packs and 30 models
//! between them, every model used in two hours of every day (hours ×
//! packs × models rows), answered from the local history alone. Target:
//! under 50 ms.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use telemetron::metrics::Pack;
use telemetron::state::history::{HistoryDir, Key, Row};

use super::{measure, Ctx, Report, Res};

/// Writes the year of history into `state` (batch by batch, one per day,
/// as scans would) and returns the number of rows.
fn write_year(state: &std::path::Path) -> Res<usize> {
    let packs: Vec<&str> = Pack::ALL.iter().take(7).map(|p| p.as_str()).collect();
    let h = HistoryDir::new(state);
    let start = 1_767_225_600 / 3600; // 2026-01-01T00Z
    let mut n = 0;
    for day in 0..365u32 {
        let mut rows = Vec::new();
        for (p, pack) in packs.iter().enumerate() {
            // The 30 models spread over the packs (4 or 5 each).
            for m in (0..30usize).filter(|m| m % packs.len() == p) {
                let model = format!("model-{m:02}");
                for hour in [9 + (m % 8) as u32, 14 + (m % 6) as u32] {
                    let mut values = [0u64; 12];
                    values[0] = 1_000 + m as u64;
                    values[3] = 200;
                    values[5] = 3_000_000_000;
                    rows.push(Row {
                        key: Key {
                            hour: start + day * 24 + hour,
                            pack: pack.to_string(),
                            family: "other".into(),
                            model: model.clone(),
                        },
                        values,
                    });
                    n += 1;
                }
            }
            let mut values = [0u64; 12];
            values[8] = 20;
            values[9] = 60;
            rows.push(Row {
                key: Key {
                    hour: start + day * 24 + 12,
                    pack: pack.to_string(),
                    family: String::new(),
                    model: String::new(),
                },
                values,
            });
            n += 1;
        }
        h.apply(1, u64::from(day) + 1, &rows)?;
    }
    Ok(n)
}

/// The stage: history written once, then `report` timed.
pub fn stage_report(ctx: &Ctx, root: &std::path::Path, report: &mut Report) -> Res<()> {
    let state = root.join("report-state");
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state)?;
    let rows = write_year(&state)?;
    if let Some(keep) = std::env::var_os("TELEMETRON_BENCH_KEEP_REPORT") {
        let _ = Command::new("cp").arg("-r").arg(&state).arg(keep).status();
    }
    let bytes: u64 = std::fs::read_dir(state.join("history"))?
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().contains(".bak"))
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum();
    let mut samples = Vec::new();
    for period in ["daily", "monthly"] {
        let mut walls = Vec::new();
        for _ in 0..ctx.opts.runs.max(5) {
            let mut cmd = Command::new(&ctx.bin);
            cmd.args(["report", period, "--json", "--timezone", "Europe/Paris", "--state-dir"])
                .arg(&state)
                .arg("--config")
                .arg(&ctx.config)
                .stdout(std::process::Stdio::null());
            let (wall, _, rss, code) = measure(&mut cmd)?;
            if code != 0 {
                return Err(format!("report exited {code}").into());
            }
            walls.push((wall, rss));
        }
        walls.sort();
        let (wall, rss) = walls[walls.len() / 2];
        println!(
            "report {period:<8} over a year (7 packs, 30 models, {rows} hourly rows, {} KiB): {:.1} ms, {} MiB peak",
            bytes / 1024,
            wall.as_secs_f64() * 1e3,
            rss / 1024
        );
        samples.push(json!({"period": period, "ms": wall.as_secs_f64() * 1e3, "rss_kib": rss}));
        let target = Duration::from_millis(50);
        report.checks.push(format!(
            "report {period} over a year of history: {:.1} ms {} 50 ms",
            wall.as_secs_f64() * 1e3,
            if wall < target { "<" } else { "NOT <" }
        ));
        if wall >= target {
            return Err(format!("report {period} took {wall:?}, over the 50 ms target").into());
        }
    }
    report
        .json
        .insert("report".into(), json!({"rows": rows, "history_bytes": bytes, "runs": samples}));
    Ok(())
}
