//! Bounded property tests (fixed seeds, so CI is deterministic; raise
//! `TELEMETRON_PROPERTY_CASES` to run longer locally):
//!
//! - the pi deriver counts exactly what a naive oracle counts — one
//!   `serde_json::Value` parse per line, no pre-filter, no borrowing;
//! - the byte pre-filter never changes a count;
//! - arbitrary bytes never panic the deriver;
//! - the chunked reader gives the lines of a naive split for every chunk
//!   size, and a scan gives the same counts with 1 and 2 threads.

use std::collections::BTreeMap;

use serde_json::Value;
use telemetron::agents::pi::records::{cannot_matter, Deriver, Fork, KnownSessions, PiState};
use telemetron::classify::{errors, models, tools};
use telemetron::metrics::{
    Counts, ErrorType, LineResult, ModelRef, Outcome, Pack, Series, SessionType, TokenType,
};

/// The library's SplitMix64, with the helpers these properties use.
struct Rng(telemetron::hash::SplitMix64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(telemetron::hash::SplitMix64(seed))
    }
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0.below(n)
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// How many cases each property runs.
fn cases(default: u64) -> u64 {
    std::env::var("TELEMETRON_PROPERTY_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const PROVIDERS: &[&str] =
    &["anthropic", "openai", "google", "amazon-bedrock", "openclaw", "xai", "CANARY-proxy"];
const MODELS: &[&str] = &[
    "claude-sonnet-4-5-20250929",
    "gpt-5-codex",
    "gemini-2.5-pro",
    "delivery-mirror",
    "grok-4",
    "us.anthropic.claude-opus-4-6-v1",
    "CANARY-model",
    "",
];
const TOOLS: &[&str] =
    &["read", "bash", "Exec", "web_fetch", "mcp__x__y", "CANARY_tool", "sessions_spawn", ""];
const STOPS: &[Option<&str>] =
    &[Some("stop"), Some("toolUse"), Some("error"), Some("aborted"), Some("length"), None];
const ERRORS: &[&str] = &[
    "429 rate_limit_error",
    "401 unauthorized",
    "Overloaded",
    "CANARY weird",
    "Request timed out",
];
const CUSTOM: &[&str] = &[
    "openclaw:prompt-error",
    "model-snapshot",
    "x:auth-error",
    "openclaw.cache-ttl",
    "image-generation-error",
];

/// A token count of a random JSON shape.
fn token(r: &mut Rng) -> Value {
    match r.below(8) {
        0 => Value::from(-(r.below(100) as i64)),
        1 => Value::from(r.below(1000) as f64 + 0.5),
        2 => Value::from("12"),
        3 => Value::Null,
        _ => Value::from(r.below(100_000)),
    }
}

/// A random pi entry (as a JSON value), stamped `ts`.
fn entry(r: &mut Rng, ts: u32) -> Value {
    let stamp = format!("2026-11-07T{:02}:{:02}:{:02}.000Z", ts / 3600, ts / 60 % 60, ts % 60);
    let id = format!("{ts:08x}");
    let mut e = serde_json::json!({"id": id, "parentId": null, "timestamp": stamp});
    let obj = e.as_object_mut().unwrap();
    match r.below(10) {
        0 => {
            obj.insert("type".into(), "model_change".into());
            obj.insert("provider".into(), (*r.pick(PROVIDERS)).into());
            obj.insert("modelId".into(), (*r.pick(MODELS)).into());
        }
        1 => {
            obj.insert("type".into(), "custom".into());
            let t = *r.pick(CUSTOM);
            obj.insert("customType".into(), t.into());
            obj.insert("data".into(), serde_json::json!({"provider": r.pick(PROVIDERS), "modelId": r.pick(MODELS), "error": "CANARY"}));
        }
        2 => {
            obj.insert(
                "type".into(),
                (*r.pick(&["custom_message", "compaction", "label", "thinking_level_change"]))
                    .into(),
            );
            obj.insert("content".into(), "CANARY".into());
        }
        3 => {
            obj.insert("type".into(), "message".into());
            let content = if r.chance(50) {
                Value::from("CANARY")
            } else {
                serde_json::json!([{"type": "text", "text": "CANARY"}])
            };
            obj.insert("message".into(), serde_json::json!({"role": "user", "content": content}));
        }
        4 => {
            obj.insert("type".into(), "message".into());
            let is_error = r.chance(30);
            obj.insert("message".into(), serde_json::json!({"role": "toolResult", "toolCallId": "c", "toolName": "bash", "content": [{"type": "text", "text": "CANARY out"}], "isError": is_error}));
        }
        _ => {
            obj.insert("type".into(), "message".into());
            let mut blocks = Vec::new();
            for _ in 0..r.below(4) {
                blocks.push(match r.below(3) {
                    0 => serde_json::json!({"type": "text", "text": "CANARY \"quoted\" \\ \u{e9}"}),
                    1 => serde_json::json!({"type": "thinking", "thinking": "CANARY"}),
                    _ => serde_json::json!({"type": "toolCall", "id": "t", "name": r.pick(TOOLS), "arguments": {"k": "CANARY"}}),
                });
            }
            let mut m = serde_json::json!({"role": "assistant", "content": blocks});
            let mo = m.as_object_mut().unwrap();
            if r.chance(80) {
                mo.insert("provider".into(), (*r.pick(PROVIDERS)).into());
            }
            if r.chance(80) {
                mo.insert("model".into(), (*r.pick(MODELS)).into());
            }
            if let Some(s) = r.pick(STOPS) {
                mo.insert("stopReason".into(), (*s).into());
            }
            if r.chance(50) {
                mo.insert("errorMessage".into(), (*r.pick(ERRORS)).into());
            }
            if r.chance(85) {
                mo.insert("usage".into(), serde_json::json!({"input": token(r), "output": token(r), "cacheRead": token(r), "cacheWrite": token(r), "totalTokens": 1}));
            }
            obj.insert("message".into(), m);
        }
    }
    e
}

/// Serialises an entry compactly (as pi does) or, sometimes, with spaces
/// and another key order, which defeats the byte pre-filter.
fn render(r: &mut Rng, v: &Value) -> String {
    if r.chance(20) {
        serde_json::to_string_pretty(v).unwrap().replace('\n', " ")
    } else {
        serde_json::to_string(v).unwrap()
    }
}

/// The naive oracle's reading of a token count.
fn oracle_tokens(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::Number(n)) => {
            if let Some(u) = n.as_u64() {
                u
            } else if let Some(i) = n.as_i64() {
                i.max(0) as u64
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                if f > 0.0 {
                    f as u64
                } else {
                    0
                }
            }
        }
        _ => 0,
    }
}

/// A string field, if it is a string.
fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// Counts a fresh, single-session file the slow and obvious way.
fn oracle(lines: &[String]) -> Counts {
    let pack = Pack::Pi;
    let st = SessionType::Main;
    let mut c = Counts::default();
    let mut last: Option<ModelRef> = None;
    let mut header_model: Option<ModelRef> = None;
    for l in lines {
        let Ok(v) = serde_json::from_str::<Value>(l) else { continue };
        if !v.is_object() {
            continue;
        }
        match s(&v, "type") {
            Some("session") => {
                if s(&v, "provider").is_some() || s(&v, "modelId").is_some() {
                    header_model = Some(models::classify(s(&v, "provider"), s(&v, "modelId")));
                }
                c.incr(Series::SessionStart { pack, session_type: st });
            }
            Some("model_change") => {
                last = Some(models::classify(s(&v, "provider"), s(&v, "modelId")))
            }
            Some("custom") => {
                let t = s(&v, "customType").unwrap_or("");
                if t == "model-snapshot" {
                    if let Some(d) = v.get("data") {
                        last = Some(models::classify(s(d, "provider"), s(d, "modelId")));
                    }
                } else if !t.is_empty() && errors::names_an_error(t) {
                    c.incr(Series::Error { pack, error_type: errors::from_record_type(t) });
                }
            }
            Some("message") => {
                let Some(m) = v.get("message") else { continue };
                match s(m, "role") {
                    Some("user") => c.incr(Series::UserPrompt { pack, session_type: st }),
                    Some("toolResult") if m.get("isError") == Some(&Value::Bool(true)) => {
                        c.incr(Series::Error { pack, error_type: ErrorType::Tool })
                    }
                    Some("assistant") => {
                        if s(m, "provider") == Some("openclaw")
                            && s(m, "model") == Some("delivery-mirror")
                        {
                            continue;
                        }
                        let own = (s(m, "provider").is_some() || s(m, "model").is_some())
                            .then(|| models::classify(s(m, "provider"), s(m, "model")))
                            .filter(|r| *r != ModelRef::UNKNOWN);
                        let model = own.or(last).or(header_model).unwrap_or(ModelRef::UNKNOWN);
                        let outcome = match s(m, "stopReason") {
                            Some("error") => Outcome::Error,
                            Some("aborted") => Outcome::Aborted,
                            _ => Outcome::Success,
                        };
                        c.incr(Series::AgentTurn {
                            pack,
                            outcome,
                            family: model.family,
                            session_type: st,
                        });
                        if outcome == Outcome::Error {
                            let et = s(m, "errorMessage")
                                .map(errors::from_text)
                                .unwrap_or(ErrorType::Unknown);
                            c.incr(Series::Error { pack, error_type: et });
                        }
                        if let Some(Value::Array(blocks)) = m.get("content") {
                            for b in blocks {
                                if s(b, "type") == Some("toolCall") {
                                    let (tool, class) =
                                        tools::classify(pack, s(b, "name").unwrap_or(""));
                                    c.incr(Series::ToolCall { pack, tool, class });
                                }
                            }
                        }
                        if let Some(u) = m.get("usage") {
                            for (t, k) in [
                                (TokenType::Input, "input"),
                                (TokenType::CacheRead, "cacheRead"),
                                (TokenType::CacheWrite, "cacheWrite"),
                                (TokenType::Output, "output"),
                            ] {
                                c.add(
                                    Series::TokenUsage { pack, token_type: t, model },
                                    oracle_tokens(u.get(k)),
                                );
                            }
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    c
}

/// Runs the deriver over lines, with or without the pre-filter.
fn derive(lines: &[String], filtered: bool) -> (Counts, Vec<LineResult>) {
    let mut st = PiState::default();
    let known = KnownSessions::default();
    let mut d = Deriver {
        pack: Pack::Pi,
        session_type: SessionType::Main,
        state: &mut st,
        known: &known,
        fork: Fork::default(),
    };
    let mut c = Counts::default();
    let r = lines
        .iter()
        .map(|l| {
            if filtered {
                d.line(l.as_bytes(), &mut c)
            } else {
                d.line_unfiltered(l.as_bytes(), &mut c)
            }
        })
        .collect();
    (c, r)
}

/// What counts compare on: every series but the cost (priced from a
/// table the oracle does not model), over all hours.
fn counted(c: &Counts) -> Vec<(Series, u64)> {
    c.iter()
        .filter(|(s, _)| !matches!(s, Series::CostUsage { .. } | Series::Unpriced { .. }))
        .collect()
}

/// A random session file's lines.
fn random_file(r: &mut Rng) -> Vec<String> {
    let mut lines = vec![format!(
        r#"{{"type":"session","version":3,"id":"S{}","timestamp":"2026-11-07T00:00:00.000Z","cwd":"/CANARY","provider":"{}","modelId":"{}"}}"#,
        r.next(),
        r.pick(PROVIDERS),
        r.pick(MODELS)
    )];
    for ts in 1..=r.below(40) as u32 {
        let v = entry(r, ts);
        lines.push(render(r, &v));
    }
    lines
}

#[test]
fn the_deriver_agrees_with_a_naive_oracle() {
    let mut r = Rng::new(0x7e1e_3e70);
    for case in 0..cases(300) {
        let lines = random_file(&mut r);
        let (got, _) = derive(&lines, true);
        assert_eq!(counted(&got), counted(&oracle(&lines)), "case {case}:\n{}", lines.join("\n"));
    }
}

#[test]
fn the_byte_prefilter_never_changes_a_count() {
    let mut r = Rng::new(0xf1_17e2);
    for case in 0..cases(300) {
        let mut lines = random_file(&mut r);
        // Also broken lines that carry the pre-filter's markers.
        if r.chance(50) {
            lines.push(
                r#"{"type":"message","message":{"role":"toolResult","content":"x" BROKEN"#.into(),
            );
            lines.push(r#"{"type":"compaction" BROKEN"#.into());
        }
        let (a, ra) = derive(&lines, true);
        let (b, rb) = derive(&lines, false);
        assert_eq!(a, b, "case {case}");
        for ((x, y), l) in ra.iter().zip(&rb).zip(&lines) {
            let ok = x == y
                || (cannot_matter(l.as_bytes())
                    && *x == LineResult::Ignored
                    && *y == LineResult::Malformed);
            assert!(ok, "case {case}: {x:?} vs {y:?} for {l}");
        }
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut r = Rng::new(0xbad_b17e5);
    let seeds: Vec<Vec<u8>> =
        random_file(&mut Rng::new(1)).into_iter().map(String::into_bytes).collect();
    let mut st = PiState::default();
    let known = KnownSessions::default();
    let mut d = Deriver {
        pack: Pack::Openclaw,
        session_type: SessionType::Main,
        state: &mut st,
        known: &known,
        fork: Fork::default(),
    };
    let mut c = Counts::default();
    for _ in 0..cases(3000) {
        // Mutate a valid line: flip, insert, delete, truncate.
        let mut l = r.pick(&seeds).clone();
        for _ in 0..1 + r.below(4) {
            let i = r.below(l.len() as u64 + 1) as usize;
            match r.below(4) {
                0 if i < l.len() => l[i] = r.next() as u8,
                1 => l.insert(i, *r.pick(b"{}[]\":,\\0123456789tfn \x00\xff")),
                2 if i < l.len() => {
                    l.remove(i);
                }
                _ => l.truncate(i),
            }
        }
        let _ = d.line(&l, &mut c);
        let _ = d.line_unfiltered(&l, &mut c);
    }
}

#[test]
fn chunked_reading_matches_a_naive_split() {
    let mut r = Rng::new(0x5717);
    for _ in 0..cases(200) {
        let len = r.below(300) as usize;
        let data: Vec<u8> = (0..len).map(|_| *r.pick(b"ab\n\r{}\"\\")).collect();
        let chunk = 1 + r.below(40) as usize;
        let max = 1 + r.below(60) as usize;
        // Squeezing only cuts strings longer than these lines: it must
        // change nothing, whenever it starts.
        let squeeze = 1 + r.below(80) as usize;
        let mut got = Vec::new();
        let out = telemetron::sources::growing::read_lines(
            &mut &data[..],
            0,
            len as u64,
            chunk,
            max,
            squeeze,
            |l| got.push(l.to_vec()),
        )
        .unwrap();
        // Naive: split on '\n', drop the unterminated tail, strip one '\r'.
        let end = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let naive: Vec<Vec<u8>> = data[..end]
            .split(|b| *b == b'\n')
            .take(data[..end].iter().filter(|b| **b == b'\n').count())
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
            .collect();
        let (kept, long): (Vec<_>, Vec<_>) = naive.into_iter().partition(|l| l.len() <= max);
        assert_eq!(got, kept, "chunk {chunk} max {max} squeeze {squeeze}");
        assert_eq!(out.oversized, long.len() as u64);
        assert_eq!(out.end, end as u64);
    }
}

#[test]
fn scans_agree_across_threads_and_read_sizes() {
    let mut r = Rng::new(0x7ead5);
    let dir = tempfile::tempdir().unwrap();
    for f in 0..30 {
        let lines = random_file(&mut r);
        std::fs::write(dir.path().join(format!("f{f}.jsonl")), lines.join("\n") + "\n").unwrap();
    }
    let place = telemetron::pipeline::discover::Place {
        pack: Pack::Pi,
        root: dir.path().into(),
        layout: telemetron::pipeline::discover::Layout::Tree,
    };
    let sources = telemetron::pipeline::discover::discover(&[place]).sources;
    let mut results: Vec<Counts> = Vec::new();
    for (threads, chunk) in [(1, 1 << 20), (2, 1 << 20), (1, 7), (2, 64)] {
        let opts = telemetron::pipeline::count::ScanOptions {
            max_line_bytes: 1 << 20,
            chunk_bytes: chunk,
            threads,
            now: 1,
            new_files_at_end: false,
            batch: telemetron::pipeline::count::Batch::ALL,
        };
        results
            .push(telemetron::pipeline::count::scan(&sources, &[], &BTreeMap::new(), &opts).counts);
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    assert!(!results[0].is_empty());
}
