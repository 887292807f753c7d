//! Cold scan of a generated Claude Code corpus, side by side with ccusage.
//!
//! Generates a deterministic Claude Code home (`~/.claude/projects/…`) of
//! `--size` bytes (default 1 GiB): sessions of prompts, responses split
//! over several `assistant` lines with growing `output_tokens`, tool
//! results from a few hundred bytes to several MB, progress lines, and
//! sidechain files replaying responses. Then, with the page cache warm,
//! measures whole processes on the same files in the same run, `--runs`
//! times each (median reported):
//!
//! - `cat` of every file to `/dev/null` (the floor);
//! - a cold `telemetron scan` (empty state, real run to a loopback
//!   collector) with 1 and 2 threads;
//! - `ccusage claude session --json --offline` (npm `ccusage@20.0.24`).
//!
//! Both tools' token totals are checked against the generator's.
//! Wall time and peak RSS come from GNU `/usr/bin/time`.
//!
//! ```text
//! npm install ccusage@20.0.24          # once, in the repository
//! cargo bench --bench claude                      # 1 GiB
//! cargo bench --bench claude -- --size 64MiB      # quick
//! cargo bench --bench claude -- --keep /tmp/ccorp # keep and reuse
//! ```

use std::fmt::Write as _;
use std::fs;
use std::io::{BufWriter, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use telemetron::util::SplitMix64;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const MIB: u64 = 1 << 20;

/// Token totals by type: input, cache write, cache read, output.
type Totals = [u64; 4];

fn main() -> Res<()> {
    let mut size = 1024 * MIB;
    let mut keep: Option<PathBuf> = None;
    let mut runs = 3usize;
    let mut ccusage: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--size" => size = parse_size(&args.next().ok_or("--size needs a value")?)?,
            "--keep" => keep = Some(args.next().ok_or("--keep needs a dir")?.into()),
            "--runs" => runs = args.next().ok_or("--runs needs a number")?.parse()?,
            "--ccusage" => ccusage = Some(args.next().ok_or("--ccusage needs a path")?.into()),
            "--bench" => {}
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let bin = Path::new(root).join("target/release/telemetron");
    if !bin.exists() {
        return Err("build it first: cargo build --release".into());
    }
    let ccusage = ccusage.unwrap_or_else(|| Path::new(root).join("node_modules/.bin/ccusage"));
    let tmp = tempfile::tempdir()?;
    let home = keep.clone().unwrap_or_else(|| tmp.path().join("home"));
    let stamp = home.join(".corpus");
    let want = format!("v1 {size}");
    let expected =
        if fs::read_to_string(&stamp).ok().as_deref().is_some_and(|s| s.starts_with(&want)) {
            let s = fs::read_to_string(&stamp)?;
            let v: Vec<u64> =
                s.split_whitespace().skip(2).map(str::parse).collect::<Result<_, _>>()?;
            [v[0], v[1], v[2], v[3]]
        } else {
            let _ = fs::remove_dir_all(&home);
            let t = generate(&home, size)?;
            fs::write(&stamp, format!("{want} {} {} {} {}", t[0], t[1], t[2], t[3]))?;
            t
        };
    let files = list(&home.join(".claude/projects"))?;
    let bytes: u64 = files.iter().map(|f| fs::metadata(f).map(|m| m.len()).unwrap_or(0)).sum();
    println!(
        "corpus: {} files, {:.1} MiB, expected tokens {:?}",
        files.len(),
        bytes as f64 / MIB as f64,
        expected
    );

    let mut rows = Vec::new();
    let mut cat = Command::new("cat");
    cat.args(&files).stdout(Stdio::null());
    rows.push(("cat (floor)".to_string(), timed(runs, || Ok(cat_cmd(&files)))?));
    for threads in [1, 2] {
        let r = timed(runs, || {
            let state = tempfile::tempdir()?;
            let (url, handle) = receiver()?;
            let mut c = time_cmd(&bin);
            c.env_clear()
                .env("HOME", &home)
                .env("PATH", "/usr/bin:/bin")
                .env("TELEMETRON_CONFIG", state.path().join("c.yaml"))
                .args([
                    "scan",
                    "--encoding",
                    "json",
                    "--threads",
                    &threads.to_string(),
                    "--endpoint",
                    &url,
                ])
                .arg("--home")
                .arg(&home)
                .arg("--state-dir")
                .arg(state.path());
            fs::write(state.path().join("c.yaml"), "{}\n")?;
            let m = run(c)?;
            let body = handle.join().map_err(|_| "receiver panicked")??;
            check("telemetron", telemetron_totals(&body)?, expected)?;
            Ok(m)
        })?;
        rows.push((format!("telemetron, {threads} thread(s)"), r));
    }
    if ccusage.exists() {
        let r = timed(runs, || {
            let mut c = time_cmd(&ccusage);
            c.env_clear().env("HOME", &home).env("PATH", "/usr/bin:/bin").args([
                "claude",
                "session",
                "--json",
                "--offline",
            ]);
            let m = run(c)?;
            check("ccusage", ccusage_totals(&m.stdout)?, expected)?;
            Ok(m)
        })?;
        rows.push(("ccusage claude session --json --offline".to_string(), r));
    } else {
        println!("(ccusage not found at {}: npm install ccusage@20.0.24)", ccusage.display());
    }
    println!(
        "\n{:<42} {:>10} {:>10} {:>10} {:>11}",
        "whole process (median of runs)", "wall ms", "MB/s", "peak RSS", "vs ccusage"
    );
    let cc = rows.iter().find(|r| r.0.starts_with("ccusage")).map(|r| r.1.wall_ms);
    for (name, m) in &rows {
        let mbs = bytes as f64 / 1e6 / (m.wall_ms / 1e3);
        let vs = cc.map_or(String::new(), |c| format!("{:.1}x", c / m.wall_ms));
        println!("{name:<42} {:>10.0} {mbs:>10.0} {:>7} MiB {vs:>11}", m.wall_ms, m.rss_kib / 1024);
    }
    Ok(())
}

/// One measured process.
#[derive(Clone, Debug, Default)]
struct Measured {
    wall_ms: f64,
    rss_kib: u64,
    stdout: Vec<u8>,
}

/// Runs `f` `runs` times; the median by wall time.
fn timed(runs: usize, mut f: impl FnMut() -> Res<Measured>) -> Res<Measured> {
    let mut all: Vec<Measured> = (0..runs.max(1)).map(|_| f()).collect::<Res<_>>()?;
    all.sort_by(|a, b| a.wall_ms.total_cmp(&b.wall_ms));
    Ok(all[all.len() / 2].clone())
}

fn time_cmd(program: &Path) -> Command {
    let mut c = Command::new("/usr/bin/time");
    c.args(["-f", "TIME %e %M"]).arg(program);
    c
}

fn cat_cmd(files: &[PathBuf]) -> Measured {
    let mut c = time_cmd(Path::new("/bin/cat"));
    c.args(files);
    run_quiet(c).unwrap_or_default()
}

fn run_quiet(mut c: Command) -> Res<Measured> {
    c.stdout(Stdio::null());
    run_inner(c, false)
}

fn run(c: Command) -> Res<Measured> {
    run_inner(c, true)
}

/// Runs a `/usr/bin/time` command; parses its `TIME wall rss` line.
fn run_inner(mut c: Command, capture: bool) -> Res<Measured> {
    if capture {
        c.stdout(Stdio::piped());
    }
    let out = c.stderr(Stdio::piped()).output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .rev()
        .find(|l| l.starts_with("TIME "))
        .ok_or_else(|| format!("no timing: {err}"))?;
    let f: Vec<f64> = line[5..].split_whitespace().map(str::parse).collect::<Result<_, _>>()?;
    if !out.status.success() {
        return Err(format!("{c:?} failed: {err}").into());
    }
    Ok(Measured { wall_ms: f[0] * 1e3, rss_kib: f[1] as u64, stdout: out.stdout })
}

/// A one-request loopback collector; returns its URL and the body.
/// The thread that receives the one request, with its body.
type Body = std::thread::JoinHandle<Result<Vec<u8>, String>>;

fn receiver() -> Res<(String, Body)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/v1/metrics", l.local_addr()?);
    let h = std::thread::spawn(move || -> Result<Vec<u8>, String> {
        let (mut s, _) = l.accept().map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        loop {
            let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed early".into());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}").map_err(|e| e.to_string())?;
                    return Ok(buf[end + 4..end + 4 + len].to_vec());
                }
            }
        }
    });
    Ok((url, h))
}

fn telemetron_totals(body: &[u8]) -> Res<Totals> {
    let v: serde_json::Value = serde_json::from_slice(body)?;
    let mut t = [0u64; 4];
    for m in v["resourceMetrics"][0]["scopeMetrics"][0]["metrics"].as_array().ok_or("no metrics")? {
        if m["name"] != "pack.token.usage" {
            continue;
        }
        for p in m["sum"]["dataPoints"].as_array().ok_or("no points")? {
            let ty = p["attributes"].as_array().and_then(|a| {
                a.iter()
                    .find(|kv| kv["key"] == "token.type")
                    .and_then(|kv| kv["value"]["stringValue"].as_str())
            });
            let i = match ty {
                Some("input") => 0,
                Some("cache_write") => 1,
                Some("cache_read") => 2,
                Some("output") => 3,
                _ => continue,
            };
            t[i] += p["asInt"].as_str().ok_or("asInt")?.parse::<u64>()?;
        }
    }
    Ok(t)
}

fn ccusage_totals(stdout: &[u8]) -> Res<Totals> {
    let v: serde_json::Value = serde_json::from_slice(stdout)?;
    let t = &v["totals"];
    let n = |k: &str| t[k].as_u64().unwrap_or(0);
    Ok([n("inputTokens"), n("cacheCreationTokens"), n("cacheReadTokens"), n("outputTokens")])
}

fn check(who: &str, got: Totals, want: Totals) -> Res<()> {
    if got != want {
        return Err(format!("{who} counted {got:?}, the generator wrote {want:?}").into());
    }
    Ok(())
}

fn parse_size(s: &str) -> Res<u64> {
    let s = s.trim();
    let (n, mult) = if let Some(n) = s.strip_suffix("GiB") {
        (n, 1 << 30)
    } else if let Some(n) = s.strip_suffix("MiB") {
        (n, MIB)
    } else {
        (s, 1)
    };
    Ok(n.trim().parse::<u64>()? * mult)
}

fn list(dir: &Path) -> Res<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "jsonl") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Words for generated text (with the escapes JSON text really has).
const WORDS: &[&str] = &[
    "the",
    "fn",
    "let",
    "match",
    "error",
    "file",
    "path",
    "\\\"quoted\\\"",
    "\\n",
    "value",
    "struct",
    "impl",
    "return",
    "self",
    "config",
    "parse",
    "line",
    "bytes",
    "test",
    "async",
    "await",
    "\\t",
];

fn text(rng: &mut SplitMix64, n: u64) -> String {
    let mut s = String::with_capacity(n as usize + 16);
    while (s.len() as u64) < n {
        s.push_str(WORDS[(rng.next_u64() % WORDS.len() as u64) as usize]);
        s.push(' ');
    }
    s
}

/// Text of a length drawn log-uniformly in `[lo, hi]`.
fn words(rng: &mut SplitMix64, lo: u64, hi: u64) -> String {
    let n = log_uniform(rng, lo, hi);
    text(rng, n)
}

/// A size drawn log-uniformly in `[lo, hi]`.
fn log_uniform(rng: &mut SplitMix64, lo: u64, hi: u64) -> u64 {
    let f = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    ((lo as f64).ln() + f * ((hi as f64).ln() - (lo as f64).ln())).exp() as u64
}

/// Writes the corpus; returns the token totals a correct counter finds.
fn generate(home: &Path, size: u64) -> Res<Totals> {
    let mut rng = SplitMix64(0xc1a0de);
    let mut totals = [0u64; 4];
    let mut written = 0u64;
    let mut session = 0u64;
    while written < size {
        session += 1;
        let dir = home.join(format!(".claude/projects/-home-dev-proj{}", session % 12));
        fs::create_dir_all(&dir)?;
        let sid = format!("0000{session:04x}-aaaa-4bbb-8ccc-{session:012x}");
        let target = log_uniform(&mut rng, 64 << 10, 24 * MIB).min(size - written + 1);
        let path = dir.join(format!("{sid}.jsonl"));
        let mut w = BufWriter::with_capacity(1 << 20, fs::File::create(&path)?);
        let model = if session.is_multiple_of(3) {
            "claude-opus-4-6"
        } else {
            "claude-sonnet-4-5-20250929"
        };
        let mut n = 0u64;
        let mut file_bytes = 0u64;
        let mut replay: Vec<String> = Vec::new();
        let ts = |n: u64| {
            format!(
                "2026-11-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                1 + session % 28,
                (n / 3600) % 24,
                (n / 60) % 60,
                n % 60,
                n % 1000
            )
        };
        let mut line = String::new();
        while file_bytes < target {
            n += 1;
            line.clear();
            write!(
                line,
                r#"{{"parentUuid":null,"isSidechain":false,"userType":"external","cwd":"/home/dev/proj","sessionId":"{sid}","version":"2.1.37","gitBranch":"main","type":"user","message":{{"role":"user","content":"{}"}},"uuid":"u-{session}-{n}","timestamp":"{}"}}"#,
                words(&mut rng, 40, 3000),
                ts(n)
            )?;
            line.push('\n');
            // A response: 1-3 lines sharing ids, output growing to its final value.
            let steps = 1 + rng.next_u64() % 3;
            let usage = [
                rng.next_u64() % 200,
                rng.next_u64() % 4000,
                rng.next_u64() % 90_000,
                50 + rng.next_u64() % 3000,
            ];
            let tool = format!("toolu_{session}_{n}");
            for k in 1..=steps {
                let out = if k == steps { usage[3] } else { 1 + k };
                let block = match (k == steps, k) {
                    (true, _) => format!(
                        r#"{{"type":"tool_use","id":"{tool}","name":"Bash","input":{{"command":"{}"}}}}"#,
                        words(&mut rng, 20, 2000)
                    ),
                    (false, 1) => format!(
                        r#"{{"type":"thinking","thinking":"{}","signature":"sig"}}"#,
                        words(&mut rng, 200, 6000)
                    ),
                    _ => format!(r#"{{"type":"text","text":"{}"}}"#, words(&mut rng, 100, 3000)),
                };
                let l = format!(
                    r#"{{"parentUuid":"u-{session}-{n}","isSidechain":false,"userType":"external","cwd":"/home/dev/proj","sessionId":"{sid}","version":"2.1.37","gitBranch":"main","message":{{"id":"msg_{session}_{n}","type":"message","role":"assistant","model":"{model}","content":[{block}],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":{},"cache_creation_input_tokens":{},"cache_read_input_tokens":{},"cache_creation":{{"ephemeral_5m_input_tokens":{},"ephemeral_1h_input_tokens":0}},"output_tokens":{out},"service_tier":"standard"}}}},"requestId":"req_{session}_{n}","type":"assistant","uuid":"a-{session}-{n}-{k}","timestamp":"{}"}}"#,
                    usage[0],
                    usage[1],
                    usage[2],
                    usage[1],
                    ts(n)
                );
                if n.is_multiple_of(40) {
                    replay.push(l.clone());
                }
                line.push_str(&l);
                line.push('\n');
            }
            for i in 0..4 {
                totals[i] += usage[i];
            }
            // The tool result: mostly small, sometimes several MB.
            let len = if rng.next_u64().is_multiple_of(400) {
                log_uniform(&mut rng, 2 * MIB, 6 * MIB)
            } else {
                log_uniform(&mut rng, 200, 60_000)
            };
            write!(
                line,
                r#"{{"parentUuid":"a-{session}-{n}","isSidechain":false,"userType":"external","cwd":"/home/dev/proj","sessionId":"{sid}","version":"2.1.37","gitBranch":"main","type":"user","message":{{"role":"user","content":[{{"tool_use_id":"{tool}","type":"tool_result","content":"{}","is_error":false}}]}},"uuid":"r-{session}-{n}","timestamp":"{}","toolUseResult":{{"stdout":"","stderr":"","interrupted":false}}}}"#,
                text(&mut rng, len),
                ts(n)
            )?;
            line.push('\n');
            if rng.next_u64().is_multiple_of(5) {
                write!(
                    line,
                    r#"{{"parentUuid":"r-{session}-{n}","isSidechain":false,"userType":"external","cwd":"/home/dev/proj","sessionId":"{sid}","version":"2.1.37","type":"progress","data":{{"type":"hook_progress","hookEvent":"PostToolUse","output":"{}"}},"uuid":"p-{session}-{n}","timestamp":"{}"}}"#,
                    words(&mut rng, 100, 5000),
                    ts(n)
                )?;
                line.push('\n');
            }
            w.write_all(line.as_bytes())?;
            file_bytes += line.len() as u64;
        }
        w.flush()?;
        written += file_bytes;
        // A sidechain replaying some of the session's responses.
        if !replay.is_empty() {
            let side = dir.join(&sid).join("subagents");
            fs::create_dir_all(&side)?;
            let mut s = String::new();
            for l in &replay {
                s.push_str(&l.replace("\"isSidechain\":false", "\"isSidechain\":true"));
                s.push('\n');
            }
            fs::write(side.join("agent-replay.jsonl"), &s)?;
            written += s.len() as u64;
        }
    }
    Ok(totals)
}
