//! The `stores` stage: sources that are not plain growing files.
//!
//! - **OpenClaw's SQLite store**: a database of `--store-size` (default
//!   1 GiB) of pi-format rows in `transcript_events`, written by this
//!   bench with exact totals. A cold read (fresh state) is timed beside
//!   `sqlite3 DB 'select event_json from transcript_events' >/dev/null`,
//!   and the no-new-rows run beside the same run over an empty home: the
//!   store must cost < 20 ms when it did not change.
//! - **Codex's compressed rollouts**: the Codex corpus compressed with the
//!   `zstd` CLI (skipped with a note when missing), a cold read timed
//!   beside `zstd -dc FILES >/dev/null`, totals asserted.

use super::*;

/// Rows per session of the generated store.
const ROWS_PER_SESSION: u64 = 200;

/// Writes the store and returns the exact totals telemetron must report.
fn write_store(db: &Path, bytes: u64, seed: u64) -> Res<BTreeMap<String, u64>> {
    fs::create_dir_all(db.parent().expect("a parent"))?;
    let _ = fs::remove_file(db);
    let mut c = rusqlite::Connection::open(db)?;
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;
         CREATE TABLE transcript_events (session_id TEXT NOT NULL, seq INTEGER NOT NULL,
           event_json TEXT NOT NULL, created_at INTEGER NOT NULL,
           PRIMARY KEY (session_id, seq)) STRICT;",
    )?;
    let mut rng = Rng::new(seed, 0);
    let (mut written, mut prompts, mut input, mut sessions) = (0u64, 0u64, 0u64, 0u64);
    let tx = c.transaction()?;
    {
        let mut ins = tx.prepare("INSERT INTO transcript_events VALUES (?1, ?2, ?3, 0)")?;
        while written < bytes {
            let sid = format!("bench-{sessions:08}");
            let t0 = EPOCH_2026_MS + sessions * 3_600_000;
            let header = format!(
                r#"{{"type":"session","version":3,"id":"{sid}","timestamp":"{}","cwd":"/bench"}}"#,
                iso(t0)
            );
            ins.execute(rusqlite::params![sid, 0i64, header])?;
            for seq in 1..ROWS_PER_SESSION {
                let ts = iso(t0 + seq * 1000);
                let pad = "x".repeat(200 + rng.below(1800) as usize);
                let row = if seq % 2 == 1 {
                    prompts += 1;
                    format!(
                        r#"{{"type":"message","id":"u{seq}","parentId":null,"timestamp":"{ts}","message":{{"role":"user","content":[{{"type":"text","text":"{pad}"}}]}}}}"#
                    )
                } else {
                    let i = 100 + rng.below(5000);
                    input += i;
                    format!(
                        r#"{{"type":"message","id":"a{seq}","parentId":null,"timestamp":"{ts}","message":{{"role":"assistant","content":[{{"type":"text","text":"{pad}"}}],"provider":"anthropic","model":"claude-sonnet-4-5","usage":{{"input":{i},"output":10,"cacheRead":0,"cacheWrite":0,"totalTokens":{}}},"stopReason":"stop"}}}}"#,
                        i + 10
                    )
                };
                written += row.len() as u64;
                ins.execute(rusqlite::params![sid, seq as i64, row])?;
            }
            sessions += 1;
        }
    }
    tx.commit()?;
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(BTreeMap::from([
        ("pack.session.start{pack=openclaw}".to_string(), sessions),
        ("pack.user.prompt{pack=openclaw}".to_string(), prompts),
        ("pack.token.usage{pack=openclaw,token.type=input}".to_string(), input),
    ]))
}

/// An ISO timestamp of Unix milliseconds.
fn iso(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, m, d) = telemetron::time::civil_from_days(secs / 86_400);
    let r = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        r / 3600,
        r / 60 % 60,
        r % 60,
        ms % 1000
    )
}

/// Times a shell pipeline (the baselines) under the measuring helper.
pub(crate) fn shell(script: &str) -> Res<ChildRun> {
    let mut cmd = measured("/bin/sh");
    cmd.arg("-c").arg(script);
    let r = run_child(&mut cmd, true)?;
    expect_success(script, &r)?;
    Ok(r)
}

/// A cold read of `home` (fresh state, dry run) with its totals asserted.
pub(crate) fn cold(
    ctx: &Ctx,
    home: &Path,
    name: &str,
    expected: &BTreeMap<String, u64>,
) -> Res<ChildRun> {
    let state = ctx.scratch.join(format!("state-{name}"));
    let _ = fs::remove_dir_all(&state);
    fs::create_dir_all(&state)?;
    let mut cmd = telemetron(&ctx.bin, home, &state, &ctx.config);
    cmd.arg("--dry-run");
    let r = run_child(&mut cmd, true)?;
    expect_success("telemetron scan --dry-run", &r)?;
    let _ = fs::remove_dir_all(&state);
    let v: Value = serde_json::from_slice(&r.stdout)?;
    assert_counts(&format!("{name} cold read"), expected, &observed(&otlp_points(&v)?, expected))?;
    Ok(r)
}

/// A cold read measured beside a baseline command, round by round.
pub(crate) struct Side<'a> {
    pub(crate) baseline: &'a str,
    pub(crate) baseline_name: String,
    pub(crate) name: &'a str,
    pub(crate) home: &'a Path,
    pub(crate) expected: &'a BTreeMap<String, u64>,
    pub(crate) bytes: u64,
    pub(crate) corpus: &'a str,
    pub(crate) key: &'a str,
    pub(crate) text: &'a str,
}

/// Warms the cache, then runs `--runs` rounds of the baseline and a cold
/// read (totals asserted), and reports both rows and their ratio.
pub(crate) fn side_by_side(ctx: &Ctx, s: &Side, report: &mut Report) -> Res<()> {
    shell(s.baseline)?;
    wait_quiet(&ctx.quiet, s.name);
    let probe = LoadProbe::start();
    let (mut ours, mut theirs, mut ratio) =
        (Samples::default(), Samples::default(), Samples::default());
    let (mut cpu, mut rss) = (Samples::default(), 0);
    for _ in 0..ctx.opts.runs {
        let b = shell(s.baseline)?.wall.as_secs_f64();
        let r = cold(ctx, s.home, s.corpus, s.expected)?;
        let t = r.wall.as_secs_f64();
        ours.0.push(t);
        theirs.0.push(b);
        ratio.0.push(b / t);
        cpu.0.push(r.cpu.as_secs_f64());
        rss = rss.max(r.max_rss_kib);
    }
    let others = probe.others();
    let bytes = Some(s.bytes);
    report.rows.push(Row {
        name: s.baseline_name.clone(),
        time: theirs,
        bytes,
        rss_kib: None,
        cpu: None,
        others,
    });
    report.rows.push(Row {
        name: s.name.into(),
        time: ours,
        bytes,
        rss_kib: Some(rss),
        cpu: Some(cpu),
        others,
    });
    report.ratios.push(Ratio {
        corpus: s.corpus.into(),
        key: s.key.into(),
        text: s.text.into(),
        samples: ratio,
    });
    Ok(())
}

/// Runs the stage.
pub(crate) fn stage_stores(ctx: &Ctx, root: &Path, report: &mut Report) -> Res<()> {
    let dir = root.join("stores");
    reset_dir(&dir, ".telemetron-bench")?;
    let home = dir.join("home");
    let db = home.join(".openclaw/agents/bench/agent/openclaw-agent.sqlite");
    let started = Instant::now();
    let expected = write_store(&db, ctx.opts.store_size, ctx.opts.seed ^ 0x5e1)?;
    let size = fs::metadata(&db)?.len();
    eprintln!(
        "bench: OpenClaw store: {} written in {:.1} s",
        fmt_bytes(size),
        started.elapsed().as_secs_f64()
    );
    // Warm the cache, then rounds of sqlite3 and a cold read.
    let sql =
        format!("sqlite3 '{}' 'select event_json from transcript_events' >/dev/null", db.display());
    let side = Side {
        baseline: &sql,
        baseline_name: format!("sqlite3 select event_json, {}", fmt_bytes(size)),
        name: "telemetron cold read of the store",
        home: &home,
        expected: &expected,
        bytes: size,
        corpus: "openclaw_store",
        key: "vs_sqlite3",
        text: "sqlite3 select / telemetron (≥ 0.5 wanted)",
    };
    side_by_side(ctx, &side, report)?;

    // No new rows: the store's stat is unchanged, so it is not opened.
    let empty = dir.join("empty");
    fs::create_dir_all(&empty)?;
    let col = Collector::start()?;
    let (state, state_empty) =
        (ctx.scratch.join("state-store-noop"), ctx.scratch.join("state-empty"));
    for s in [&state, &state_empty] {
        let _ = fs::remove_dir_all(s);
    }
    real_run(ctx, &home, &state, &col, true)?;
    real_run(ctx, &empty, &state_empty, &col, true)?;
    let (mut with, mut without, mut extra) =
        (Samples::default(), Samples::default(), Samples::default());
    for _ in 0..ctx.opts.idle_runs {
        let a = real_run(ctx, &home, &state, &col, false)?.wall.as_secs_f64();
        let b = real_run(ctx, &empty, &state_empty, &col, false)?.wall.as_secs_f64();
        with.0.push(a);
        without.0.push(b);
        extra.0.push((a - b) * 1e3);
    }
    report.rows.push(Row {
        name: "no new rows, 1 store (real run)".into(),
        time: with,
        bytes: None,
        rss_kib: None,
        cpu: None,
        others: 0.0,
    });
    report.rows.push(Row {
        name: "the same run over an empty home".into(),
        time: without,
        bytes: None,
        rss_kib: None,
        cpu: None,
        others: 0.0,
    });
    report.checks.push(format!(
        "no-op cost of an unchanged {} store: {:.1} ms median (< 20 ms wanted)",
        fmt_bytes(size),
        extra.median()
    ));

    // Codex's compressed rollouts.
    if Command::new("zstd").arg("--version").output().is_err() {
        report.notes.push("zstd not installed: compressed rollouts not measured".into());
        return Ok(());
    }
    let codex = pack_corpus(root, "codex", ctx.opts.seed, ctx.opts.size / 4)?;
    let zhome = dir.join("zst-home");
    let mut zfiles = Vec::new();
    let mut zbytes = 0;
    for f in &codex.files {
        let rel = f.strip_prefix(&codex.home)?;
        let to = zhome.join(format!("{}.zst", rel.display()));
        fs::create_dir_all(to.parent().expect("a parent"))?;
        let ok =
            Command::new("zstd").args(["-q", "-3", "-f", "-o"]).arg(&to).arg(f).status()?.success();
        if !ok {
            return Err(format!("zstd failed on {}", f.display()).into());
        }
        zbytes += fs::metadata(f)?.len();
        zfiles.push(to);
    }
    let list: Vec<String> = zfiles.iter().map(|p| format!("'{}'", p.display())).collect();
    let unz = format!("zstd -dc {} >/dev/null", list.join(" "));
    let side = Side {
        baseline: &unz,
        baseline_name: format!("zstd -dc, {} rollouts ({})", zfiles.len(), fmt_bytes(zbytes)),
        name: "telemetron cold read of the .jsonl.zst",
        home: &zhome,
        expected: &codex.g.expected,
        bytes: zbytes,
        corpus: "codex_zst",
        key: "vs_zstd",
        text: "zstd -dc / telemetron (≥ 0.5 wanted)",
    };
    side_by_side(ctx, &side, report)?;
    Ok(())
}
