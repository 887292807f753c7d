//! `telemetron report` and the local history, through the binary: the
//! report's totals are the exported counters, it outlives the transcripts,
//! `--rebuild` recounts without counting twice, and no canary reaches it.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::util::{files_under, flatten_with_cost, Receiver, TestEnv, CANARY};

/// Runs `report --json` in UTC and parses it.
fn report(env: &TestEnv, extra: &[&str]) -> Value {
    let mut args = vec!["report", "--json", "--timezone", "UTC"];
    args.extend_from_slice(extra);
    let out = env.cmd(&args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "report failed: {stderr}");
    assert!(!stdout.contains(CANARY) && !stderr.contains(CANARY), "a canary in the report");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Everything delivered to `rx`, summed per metric and pack: tokens by
/// type, cost in pico-dollars, and the activity counters.
fn delivered(rx: &Receiver) -> BTreeMap<(String, String), i64> {
    let mut out = BTreeMap::new();
    for r in rx.requests() {
        for (k, v) in flatten_with_cost(&r.decode()) {
            let (name, attrs) = k.split_once('{').unwrap();
            let attr = |a: &str| {
                attrs
                    .trim_end_matches('}')
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{a}=")))
                    .map(str::to_string)
            };
            let what = match name {
                "pack.token.usage" => attr("token.type").unwrap(),
                "pack.cost.usage" => "cost".into(),
                "pack.session.start" => "sessions".into(),
                "pack.user.prompt" => "prompts".into(),
                "pack.agent.turn" => "turns".into(),
                "pack.tool.call" => "tool_calls".into(),
                "pack.error" => "errors".into(),
                _ => continue,
            };
            *out.entry((attr("pack").unwrap(), what)).or_insert(0) += v;
        }
    }
    out
}

/// The report summed the same way (cost in pico-dollars, from the rows'
/// micro-dollar costs: compared within a micro-dollar per row).
fn reported(j: &Value) -> BTreeMap<(String, String), i64> {
    let mut out = BTreeMap::new();
    for r in j["rows"].as_array().unwrap() {
        let pack = r["pack"].as_str().unwrap().to_string();
        for t in ["input", "cache_read", "cache_write", "output", "reasoning"] {
            *out.entry((pack.clone(), t.to_string())).or_insert(0) += r[t].as_i64().unwrap();
        }
    }
    for a in j["activity"].as_array().unwrap() {
        let pack = a["pack"].as_str().unwrap().to_string();
        for t in ["sessions", "prompts", "turns", "tool_calls", "errors"] {
            *out.entry((pack.clone(), t.to_string())).or_insert(0) += a[t].as_i64().unwrap();
        }
    }
    out.retain(|_, v| *v != 0);
    out
}

fn cost_of(j: &Value, pack: &str) -> f64 {
    j["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["pack"] == pack)
        .filter_map(|r| r["cost_usd"].as_f64())
        .sum()
}

#[test]
fn the_report_equals_the_exported_counters_and_outlives_the_transcripts() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", rx.url.as_str()]).expect_code(0);
    let sent = delivered(&rx);
    let j = report(&env, &[]);
    let mut want: BTreeMap<_, _> =
        sent.iter().filter(|(k, _)| k.1 != "cost").map(|(k, v)| (k.clone(), *v)).collect();
    want.retain(|_, v| *v != 0);
    assert_eq!(reported(&j), want);
    for pack in ["claude_code", "codex", "pi", "opencode", "hermes"] {
        let sent =
            sent.get(&(pack.to_string(), "cost".to_string())).copied().unwrap_or(0) as f64 / 1e12;
        assert!(sent > 0.0, "{pack} has a cost");
        assert!((cost_of(&j, pack) - sent).abs() < 1e-5, "{pack}: {} vs {sent}", cost_of(&j, pack));
    }
    // Totals are the rows' and the activity's sums.
    let t = &j["totals"];
    let sum = |k: &str| want.iter().filter(|((_, w), _)| w == k).map(|(_, v)| v).sum::<i64>();
    for k in
        ["input", "output", "cache_read", "prompts", "turns", "sessions", "tool_calls", "errors"]
    {
        assert_eq!(t[k].as_i64().unwrap(), sum(k), "{k}");
    }
    // The agents delete their transcripts: the report stays the same, and
    // a rebuild keeps the days nothing on disk covers any more.
    let state = env.state_dir();
    for p in files_under(env.home()) {
        if !p.starts_with(&state) && p != env.config_path() {
            std::fs::remove_file(&p).unwrap();
        }
    }
    env.scan(&["--endpoint", rx.url.as_str()]).expect_code(0);
    assert_eq!(report(&env, &[]), j);
    assert_eq!(report(&env, &["--rebuild"]), j);
}

#[test]
fn a_rebuild_recounts_what_is_on_disk_without_counting_twice() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", rx.url.as_str()]).expect_code(0);
    let before = report(&env, &[]);
    // Lines written since the last scan: the rebuild leaves them to the
    // next scan, which adds them once.
    let pi =
        files_under(env.home()).into_iter().find(|p| p.to_string_lossy().contains(".pi/")).unwrap();
    let rel = pi.strip_prefix(env.home()).unwrap().to_string_lossy().to_string();
    env.append(
        &rel,
        &format!(
            "{}\n",
            r#"{"type":"message","id":"zz-new","parentId":null,"timestamp":"2026-11-06T10:00:00.000Z","message":{"role":"user","content":"CANARY more"}}"#
        ),
    );
    let rebuilt = report(&env, &["--rebuild"]);
    assert_eq!(rebuilt["totals"], before["totals"], "the rebuild counts only what was committed");
    env.scan(&["--endpoint", rx.url.as_str()]).expect_code(0);
    let after = report(&env, &[]);
    assert_eq!(
        after["totals"]["prompts"].as_i64().unwrap(),
        before["totals"]["prompts"].as_i64().unwrap() + 1
    );
    assert_eq!(report(&env, &["--rebuild"])["totals"], after["totals"]);
}

#[test]
fn filters_periods_and_the_table() {
    let env = TestEnv::with_demo_home();
    env.scan(&["--no-export"]).expect_code(0);
    let all = report(&env, &[]);
    // A first run files records under their own days, not the run's.
    let dates = |j: &Value, pack: &str| -> Vec<String> {
        let mut d: Vec<String> = j["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["pack"] == pack)
            .map(|r| r["date"].as_str().unwrap().to_string())
            .collect();
        d.dedup();
        d
    };
    assert_eq!(dates(&all, "codex"), ["2026-10-01", "2026-10-20", "2026-11-05"]);
    assert_eq!(dates(&all, "qwen_code"), ["2026-05-28"]);
    assert_eq!(dates(&all, "hermes"), ["2025-11-05", "2025-11-06"]);
    let codex = report(&env, &["--pack", "codex"]);
    assert!(codex["rows"].as_array().unwrap().iter().all(|r| r["pack"] == "codex"));
    assert!(!codex["rows"].as_array().unwrap().is_empty());
    let monthly = report(&env, &["monthly"]);
    assert_eq!(monthly["totals"], all["totals"]);
    assert!(monthly["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["date"].as_str().unwrap().len() == 7));
    let weekly = report(&env, &["weekly"]);
    assert_eq!(weekly["totals"], all["totals"]);
    let day = all["rows"][0]["date"].as_str().unwrap().to_string();
    let one = report(&env, &["--since", &day, "--until", &day]);
    assert!(one["rows"].as_array().unwrap().iter().all(|r| r["date"] == day.as_str()));
    let none = report(&env, &["--since", "2099-01-01"]);
    assert!(none["rows"].as_array().unwrap().is_empty());
    // The table, without color when not on a terminal.
    let out = env.cmd(&["report", "--timezone", "UTC"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("date") && text.contains("total") && !text.contains('\x1b'), "{text}");
    assert!(text.contains("prices: litellm 1.110.2"), "{text}");
    // Bad flags name what is accepted.
    let out = env.cmd(&["report", "--timezone", "Nowhere/Land"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("IANA"));
}

#[test]
fn the_history_holds_no_canary() {
    let env = TestEnv::with_demo_home();
    env.scan(&["--no-export"]).expect_code(0);
    let dir = env.state_dir().join("history");
    let files = files_under(&dir);
    assert!(!files.is_empty());
    for p in files {
        let b = std::fs::read(&p).unwrap();
        assert!(
            !b.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
            "a canary in {}",
            p.display()
        );
    }
}

#[test]
fn a_pricing_file_overrides_the_built_in_prices() {
    let env = TestEnv::with_demo_home();
    env.scan(&["--no-export"]).expect_code(0);
    let base = report(&env, &["--pack", "codebuff"]);
    let prices = env.home().join("prices.json");
    std::fs::write(
        &prices,
        r#"{"openai/gpt-5":{"input_cost_per_token":1.0,"output_cost_per_token":0}}"#,
    )
    .unwrap();
    let env2 = TestEnv::with_demo_home();
    env2.scan(&["--no-export", "--pricing", prices.to_str().unwrap()]).expect_code(0);
    let j = report(&env2, &["--pack", "codebuff", "--pricing", prices.to_str().unwrap()]);
    let gpt = |j: &Value| {
        j["rows"].as_array().unwrap().iter().find(|r| r["model"] == "gpt-5").unwrap()["cost_usd"]
            .as_f64()
            .unwrap()
    };
    assert!(gpt(&base) < 1.0);
    // Codebuff names it `openai/gpt-5`: 700 input tokens at 1 USD each,
    // output (and reasoning, at the output price) free.
    assert_eq!(gpt(&j), 700.0);
    std::fs::write(&prices, "not json").unwrap();
    let out = env2.cmd(&["report", "--pricing", prices.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("prices.json"));
}
