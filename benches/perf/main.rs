//! The performance suite: telemetron side by side with the floor (`cat`,
//! `wc -l`), a naive parser and ccusage, on generated homes of every pack.
//! `docs/performance.md` has the method, the latest figures and what
//! limits them; this is the reference for the code.
//!
//! # Method
//!
//! 1. **Corpora** (`corpus/`): one seeded generator per format (pi with
//!    OpenClaw and roundhouse, Claude Code, Codex, Gemini CLI), each writing
//!    a realistic home of `--size / 4` bytes and returning the **exact**
//!    totals telemetron must report ([`corpus::Generated`]); a mixed home
//!    hard-links all four. With `--keep DIR` the corpora are kept and reused
//!    when their manifest (generator version, seed, size) matches.
//! 2. **Rounds** (`stage_corpus`): for each corpus, `--runs` rounds in
//!    which every tool runs once on the same cached files: `xargs -0 cat`,
//!    `xargs -0 wc -l` (line count asserted), a cold
//!    `telemetron scan --dry-run` per `--threads` value (every total
//!    asserted), the in-process naive `serde_json::Value` parser (line count
//!    asserted) and, on the Claude Code and Codex corpora, `ccusage <agent>
//!    session --json --offline` (token totals asserted). Children run
//!    through a small helper process (this binary again) that reports their
//!    own peak RSS and CPU time (`wait4`), since Linux folds the peak RSS of
//!    the spawning process into the child's. Each round's ratios (a
//!    baseline's wall time over telemetron's) are reported with their min,
//!    median and max, which stay meaningful on a noisy machine.
//! 3. **Idle and incremental runs** (`stage_idle`): `--small-files`
//!    (default 10,000) small pi files and a loopback collector in this
//!    process. One real run commits state; one checked no-new-bytes run
//!    must send only the heartbeat; then `--idle-runs` timed no-new-bytes
//!    runs; then rounds of 1 MiB of complete lines appended over 100 files,
//!    each followed by a timed real run whose body is asserted.
//!
//! 4. **Stores** (`stores.rs`): a cold read of a 1 GiB OpenClaw SQLite
//!    store beside `sqlite3 … select event_json`, its no-new-rows cost
//!    beside an empty home, and a cold read of the Codex corpus compressed
//!    with `zstd` beside `zstd -dc` (totals asserted).
//!
//! 5. **Agents** (`agents.rs`): one generated home per agent of usage
//!    records (opencode, Copilot CLI, Qwen Code, Goose, Amp, Droid, Kimi,
//!    Kilo, Codebuff, Antigravity, Grok Build, ZCode) in its own storage, a
//!    cold read timed beside `ccusage <agent> session --json --offline`,
//!    both sides' token totals asserted.
//!
//! The page cache is warm (caches cannot be dropped here): every corpus is
//! read once before timing. MB = 10^6 bytes. Results are printed as tables
//! and appended as one JSON line to `target/bench-results.jsonl`.
//!
//! # Options
//!
//! - `--size SIZE` the mixed home's size (`2GiB` default; a quarter per pack)
//! - `--packs LIST` corpora to measure (default `pi,claude_code,codex,gemini_cli,mixed`)
//! - `--small-files N[,N...]` files of the idle corpus, one stage per count (default 10000)
//! - `--seed N` generator seed (decimal or 0x hex)
//! - `--keep DIR` put the corpora in DIR and keep them
//! - `--only corpus|idle|stores|agents|report` run only these stages
//! - `--store-size SIZE` the OpenClaw store of the `stores` stage (`1GiB`)
//! - `--agent-size SIZE` each agent's home of the `agents` stage (`64MiB`)
//! - `--runs N` rounds per corpus (default 3)
//! - `--idle-runs N` timed idle and incremental runs (default 10)
//! - `--threads LIST` thread counts of the cold scan (default `1,2`)
//! - `--ccusage PATH` the ccusage binary (default `node_modules/.bin/ccusage`;
//!   skipped with a note when missing)
//! - `--quiet-wait SECS` before each stage, wait for other processes to
//!   leave the CPUs alone, SECS in total at most (default 60, or 0 under
//!   256 MiB); the CPU they use is reported either way (column `others`)
//! - `--bin PATH` the telemetron binary (default `target/release/telemetron`)
//!
//! `gen PACK SIZE DIR [SEED]` writes one pack's corpus and checks the
//! release binary against it (the loop for working on a generator).
//!
//! # Reproduce
//!
//! ```text
//! npm install ccusage@20.0.24                    # once, optional
//! cargo bench --bench perf                       # 2 GiB, everything
//! cargo bench --bench perf -- --size 256MiB --runs 2
//! cargo bench --bench perf -- --only idle --small-files 30000
//! ```
//!
//! `cargo bench` builds `target/release/telemetron` with the `bench`
//! profile, which inherits `release` (fat LTO, one codegen unit, stripped):
//! the binary measured is the release binary.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

mod agents;
mod corpus;
mod report;
mod stores;

use corpus::common::*;
use corpus::pi::*;
use corpus::Generated;

/// Errors end the benchmark with a message.
pub(crate) type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Bumped whenever the generator's output changes, so kept corpora made by
/// an older generator are not reused.
pub(crate) const GENERATOR_VERSION: u64 = 3;
pub(crate) const KIB: u64 = 1024;
pub(crate) const MIB: u64 = 1024 * KIB;
pub(crate) const GIB: u64 = 1024 * MIB;
/// 2026-01-01T00:00:00Z in Unix milliseconds.
pub(crate) const EPOCH_2026_MS: u64 = 1_767_225_600_000;
/// Bytes appended per incremental round, and over how many files.
pub(crate) const APPEND_BYTES: u64 = MIB;
pub(crate) const APPEND_FILES: usize = 100;

// ---------------------------------------------------------------------------
// Options

/// The measurements that can be selected with `--only`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Cold scans and their baselines on every corpus.
    Corpus,
    /// The no-new-bytes and incremental runs over many small files.
    Idle,
    /// OpenClaw's SQLite store and Codex's compressed rollouts.
    Stores,
    /// The twelve agents of usage records, beside ccusage.
    Agents,
    /// `report` over a year of history.
    Report,
}

/// Command-line options of the benchmark.
#[derive(Debug)]
struct Options {
    size: u64,
    packs: Vec<String>,
    ccusage: Option<PathBuf>,
    small_files: Vec<usize>,
    seed: u64,
    keep: Option<PathBuf>,
    only: Vec<Stage>,
    runs: usize,
    idle_runs: usize,
    threads: Vec<usize>,
    bin: Option<PathBuf>,
    quiet_wait: Option<u64>,
    store_size: u64,
    agent_size: u64,
    help: bool,
}

impl Default for Options {
    /// The defaults documented in the module docs.
    fn default() -> Options {
        Options {
            size: 2 * GIB,
            packs: corpus::PACKS.iter().map(|p| p.to_string()).chain(["mixed".into()]).collect(),
            ccusage: None,
            small_files: vec![10_000],
            seed: 0x7E1E_3E70_2026,
            keep: None,
            only: Vec::new(),
            runs: 3,
            idle_runs: 10,
            threads: vec![1, 2],
            bin: None,
            quiet_wait: None,
            store_size: GIB,
            agent_size: 64 * MIB,
            help: false,
        }
    }
}

/// Usage text for `--help`.
const USAGE: &str = "usage: cargo bench --bench perf -- [--size 2GiB] \
[--packs pi,claude_code,codex,gemini_cli,mixed] [--small-files 10000] [--seed N] [--keep DIR] \
[--only corpus|idle|stores|agents|report] [--store-size 1GiB] [--agent-size 64MiB] [--runs 3] [--idle-runs 10] [--threads 1,2] [--bin PATH] \
[--ccusage PATH] [--quiet-wait SECS]
       cargo bench --bench perf -- gen PACK SIZE DIR [SEED]";

impl Options {
    /// Parses the arguments after `--` (cargo also passes `--bench`, which is
    /// ignored).
    fn parse(args: impl IntoIterator<Item = String>) -> Res<Options> {
        let mut o = Options::default();
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = || -> Res<String> {
                inline
                    .clone()
                    .or_else(|| it.next())
                    .ok_or_else(|| format!("{flag} needs a value").into())
            };
            match flag.as_str() {
                "--bench" => {}
                "-h" | "--help" => o.help = true,
                "--size" => o.size = parse_size(&value()?)?,
                "--packs" => {
                    o.packs = value()?.split(',').map(|p| p.trim().to_string()).collect();
                    for p in &o.packs {
                        if p != "mixed" && !corpus::PACKS.contains(&p.as_str()) {
                            return Err(format!("--packs: unknown corpus `{p}`").into());
                        }
                    }
                }
                "--ccusage" => o.ccusage = Some(PathBuf::from(value()?)),
                "--small-files" => {
                    o.small_files = value()?.split(',').map(str::parse).collect::<Result<_, _>>()?
                }
                "--seed" => o.seed = parse_u64(&value()?)?,
                "--keep" => o.keep = Some(PathBuf::from(value()?)),
                "--runs" => o.runs = value()?.parse::<usize>()?.max(1),
                "--idle-runs" => o.idle_runs = value()?.parse::<usize>()?.max(1),
                "--bin" => o.bin = Some(PathBuf::from(value()?)),
                "--quiet-wait" => o.quiet_wait = Some(value()?.parse()?),
                "--threads" => {
                    o.threads = value()?
                        .split(',')
                        .map(|t| t.trim().parse::<usize>())
                        .collect::<Result<_, _>>()?;
                }
                "--store-size" => o.store_size = parse_size(&value()?)?,
                "--agent-size" => o.agent_size = parse_size(&value()?)?,
                "--only" => {
                    for s in value()?.split(',') {
                        o.only.push(match s.trim() {
                            "corpus" => Stage::Corpus,
                            "idle" => Stage::Idle,
                            "stores" => Stage::Stores,
                            "agents" => Stage::Agents,
                            "report" => Stage::Report,
                            other => return Err(format!("--only: unknown stage `{other}`").into()),
                        });
                    }
                }
                other => return Err(format!("unknown option `{other}`\n{USAGE}").into()),
            }
        }
        if o.size < 4 * MIB {
            return Err("--size must be at least 4MiB".into());
        }
        if o.small_files.contains(&0) || o.small_files.is_empty() || o.threads.is_empty() {
            return Err("--small-files and --threads must not be zero/empty".into());
        }
        Ok(o)
    }

    /// True when `stage` should run.
    fn wants(&self, stage: Stage) -> bool {
        self.only.is_empty() || self.only.contains(&stage)
    }
}

/// Parses a size such as `1GiB`, `64MiB`, `500MB`, `1.5G` or `4096`.
fn parse_size(s: &str) -> Res<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("bad size `{s}`"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => KIB as f64,
        "kb" => 1e3,
        "m" | "mib" => MIB as f64,
        "mb" => 1e6,
        "g" | "gib" => GIB as f64,
        "gb" => 1e9,
        _ => return Err(format!("bad size unit in `{s}`").into()),
    };
    Ok((n * mult) as u64)
}

/// Parses a decimal or `0x` hexadecimal number.
fn parse_u64(s: &str) -> Res<u64> {
    let s = s.trim().replace('_', "");
    Ok(match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16)?,
        None => s.parse()?,
    })
}

// ---------------------------------------------------------------------------
// Reading a corpus back

/// Every `*.jsonl` file below `root`, sorted.
fn list_jsonl(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d)? {
            let e = e?;
            let ft = e.file_type()?;
            let p = e.path();
            if ft.is_dir() {
                dirs.push(p);
            } else if ft.is_file() && p.extension().is_some_and(|x| x == "jsonl") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads every file to nowhere through one `buf`; returns the bytes read.
fn read_all(files: &[PathBuf], buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0;
    for p in files {
        let mut f = File::open(p)?;
        loop {
            match f.read(buf) {
                Ok(0) => break,
                Ok(n) => total += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(total)
}

// ---------------------------------------------------------------------------
// Checking a scanner's answer

/// One OTLP data point: metric name, attributes and integer value.
struct Point {
    metric: String,
    attrs: BTreeMap<String, String>,
    value: u64,
}

/// The data points of an OTLP/JSON `ExportMetricsServiceRequest`.
fn otlp_points(v: &Value) -> Res<Vec<Point>> {
    let mut out = Vec::new();
    let rms = v["resourceMetrics"].as_array().ok_or("OTLP/JSON without resourceMetrics")?;
    for rm in rms {
        for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
            for m in sm["metrics"].as_array().into_iter().flatten() {
                let metric = m["name"].as_str().ok_or("metric without a name")?.to_string();
                for dp in m["sum"]["dataPoints"].as_array().into_iter().flatten() {
                    let mut attrs = BTreeMap::new();
                    for a in dp["attributes"].as_array().into_iter().flatten() {
                        let k = a["key"].as_str().unwrap_or_default().to_string();
                        let v = a["value"]["stringValue"].as_str().unwrap_or_default().to_string();
                        attrs.insert(k, v);
                    }
                    let value = match (&dp["asInt"], &dp["asDouble"]) {
                        (Value::String(s), _) => s.parse::<u64>()?,
                        (Value::Number(n), _) => n.as_u64().ok_or("negative asInt")?,
                        // pack.cost.usage: USD, kept as pico-dollars.
                        (_, Value::Number(d)) => (d.as_f64().unwrap_or(0.0) * 1e12).round() as u64,
                        _ => return Err(format!("{metric}: data point without a value").into()),
                    };
                    out.push(Point { metric: metric.clone(), attrs, value });
                }
            }
        }
    }
    Ok(out)
}

/// The scanner's answer for every key of `expected` (see
/// [`corpus::Generated::expected`] for the key syntax; a value may list
/// alternatives, `pack=pi|openclaw`).
fn observed(points: &[Point], expected: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    expected
        .keys()
        .map(|key| {
            let (metric, filters) = match key.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}')),
                None => (key.as_str(), ""),
            };
            let filters: Vec<(&str, &str)> =
                filters.split(',').filter_map(|f| f.split_once('=')).collect();
            let sum = points
                .iter()
                .filter(|p| p.metric == metric)
                .filter(|p| {
                    filters.iter().all(|(k, v)| {
                        p.attrs.get(*k).is_some_and(|x| v.split('|').any(|alt| alt == x))
                    })
                })
                .map(|p| p.value)
                .sum();
            (key.clone(), sum)
        })
        .collect()
}

/// Fails with a readable diff when `got` differs from `expected`.
fn assert_counts(
    what: &str,
    expected: &BTreeMap<String, u64>,
    got: &BTreeMap<String, u64>,
) -> Res<()> {
    if expected == got {
        return Ok(());
    }
    let mut msg = format!("{what}: counts differ from the generator's exact answer:\n");
    for (k, e) in expected {
        let g = got.get(k).copied().unwrap_or(0);
        let mark = if g == *e { "  " } else { "!!" };
        let _ = writeln!(msg, "  {mark} {k:<48} expected {e:>14}  got {g:>14}");
    }
    Err(msg.into())
}

// ---------------------------------------------------------------------------
// Child processes

/// A finished child process with its resource usage.
struct ChildRun {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: u64,
    code: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Set in the environment of the measuring helper: where it writes the
/// child's wall time, CPU time, peak RSS and exit code.
const MEASURE_ENV: &str = "TELEMETRON_BENCH_MEASURE";

/// A command that runs `program` under the measuring helper (this bench
/// binary again, see [`measure_main`]).
///
/// Linux carries the peak RSS of the address space a process `exec`s from
/// into its own `ru_maxrss`, so a child spawned straight from this
/// process, whose peak is tens of MiB after generating the corpus, would
/// report at least that. The helper is small, so the RSS it reports is the
/// child's own.
fn measured(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let mut c = Command::new(exe);
    c.arg(program);
    c
}

/// Runs a command made by [`measured`] to completion (stdout captured
/// unless `capture` is false and the caller redirected it) and reports the
/// child's wall time, CPU time and peak RSS.
fn run_child(cmd: &mut Command, capture: bool) -> Res<ChildRun> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let report =
        std::env::temp_dir().join(format!("telemetron-bench-rusage-{}-{seq}", std::process::id()));
    cmd.env(MEASURE_ENV, &report);
    if capture {
        cmd.stdout(Stdio::piped());
    }
    cmd.stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let out = child.stdout.take();
    let mut err = child.stderr.take().ok_or("stderr not piped")?;
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(mut o) = out {
            let _ = o.read_to_end(&mut b);
        }
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    child.wait()?;
    let stdout = t_out.join().map_err(|_| "stdout reader panicked")?;
    let stderr = t_err.join().map_err(|_| "stderr reader panicked")?;
    let text = fs::read_to_string(&report).map_err(|e| {
        format!("measuring helper left no report ({e}): {}", String::from_utf8_lossy(&stderr))
    })?;
    let _ = fs::remove_file(&report);
    let f: Vec<i64> = text.split_whitespace().map(str::parse).collect::<Result<_, _>>()?;
    let [wall_ns, cpu_ns, rss, code] = f[..] else {
        return Err(format!("bad measuring report `{text}`").into());
    };
    Ok(ChildRun {
        wall: Duration::from_nanos(wall_ns as u64),
        cpu: Duration::from_nanos(cpu_ns as u64),
        max_rss_kib: rss as u64,
        code: code as i32,
        stdout,
        stderr,
    })
}

/// The measuring helper: runs the command given as arguments with the
/// inherited stdio, waits for it with `wait4` and writes
/// `wall_ns cpu_ns max_rss_kib exit_code` to `report`. Never returns.
fn measure_main(report: std::ffi::OsString) -> ! {
    let mut args = std::env::args_os().skip(1);
    let result = match args.next() {
        Some(program) => measure(Command::new(program).args(args).env_remove(MEASURE_ENV)),
        None => Err("no command to measure".into()),
    };
    let code = match result.and_then(|m| {
        fs::write(&report, format!("{} {} {} {}", m.0.as_nanos(), m.1.as_nanos(), m.2, m.3))?;
        Ok(m.3)
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bench measuring helper: {e}");
            127
        }
    };
    std::process::exit(code.clamp(0, 255))
}

/// Spawns `cmd`, reaps it with `wait4` and returns its wall time, CPU time
/// (user + system), peak RSS in KiB and exit code (minus the signal number
/// if it was killed).
fn measure(cmd: &mut Command) -> Res<(Duration, Duration, u64, i32)> {
    let started = Instant::now();
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data; all zeroes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own child, not yet reaped (`Child` never
        // waited), and both pointers are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(format!("wait4: {e}").into());
        }
    }
    let wall = started.elapsed();
    drop(child);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let code =
        if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -libc::WTERMSIG(status) };
    Ok((wall, tv(ru.ru_utime) + tv(ru.ru_stime), ru.ru_maxrss as u64, code))
}

/// A `telemetron scan` command isolated from this machine's config and
/// environment.
fn telemetron(bin: &Path, home: &Path, state: &Path, config: &Path) -> Command {
    let mut c = measured(bin);
    c.env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin")
        .arg("scan")
        .arg("--home")
        .arg(home)
        .arg("--state-dir")
        .arg(state)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null());
    c
}

/// Fails unless a child exited with 0.
fn expect_success(what: &str, r: &ChildRun) -> Res<()> {
    if r.code != 0 {
        return Err(format!(
            "{what} exited with {}:\n{}",
            r.code,
            String::from_utf8_lossy(&r.stderr)
        )
        .into());
    }
    Ok(())
}

/// The telemetron binary: `--bin`, else the one cargo built for this
/// bench, else `target/release/telemetron` (built if missing).
fn locate_binary(opts: &Options) -> Res<PathBuf> {
    if let Some(b) = &opts.bin {
        return Ok(b.clone());
    }
    if let Some(p) = option_env!("CARGO_BIN_EXE_telemetron") {
        if Path::new(p).is_file() {
            return Ok(PathBuf::from(p));
        }
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let p = target_dir().join("release/telemetron");
    if !p.is_file() {
        eprintln!("bench: building the release binary (cargo build --release)…");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "--release", "--bin", "telemetron"])
            .current_dir(manifest)
            .status()?;
        if !st.success() || !p.is_file() {
            return Err("cargo build --release failed".into());
        }
    }
    Ok(p)
}

/// Cargo's target directory.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

// ---------------------------------------------------------------------------
// Loopback collector

/// One request the collector received.
struct Received {
    content_type: String,
    body: Vec<u8>,
}

/// A minimal OTLP/HTTP collector on 127.0.0.1 that acknowledges every
/// request with an empty `200 OK` and keeps what it got.
struct Collector {
    url: String,
    log: Arc<Mutex<Vec<Received>>>,
}

impl Collector {
    /// Starts listening on an ephemeral port.
    fn start() -> io::Result<Collector> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&log);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let _ = serve(stream, &log);
                });
            }
        });
        Ok(Collector { url: format!("http://127.0.0.1:{port}/v1/metrics"), log })
    }

    /// Requests received so far.
    fn count(&self) -> usize {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The content type and body of every request from the `from`th on.
    fn since(&self, from: usize) -> Vec<(String, Vec<u8>)> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().skip(from).map(|r| (r.content_type.clone(), r.body.clone())).collect()
    }

    /// The content type and body of the last request.
    fn last(&self) -> Option<(String, Vec<u8>)> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.last().map(|r| (r.content_type.clone(), r.body.clone()))
    }
}

/// Serves one connection: requests with a `Content-Length` (or chunked)
/// body, each answered `200 OK`, until the client closes it.
fn serve(stream: TcpStream, log: &Mutex<Vec<Received>>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line.trim().is_empty() {
            continue;
        }
        let (mut len, mut chunked, mut content_type) = (0usize, false, String::new());
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let h = line.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let v = v.trim();
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => len = v.parse().unwrap_or(0),
                    "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                    "content-type" => content_type = v.to_string(),
                    _ => {}
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                reader.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                    .unwrap_or(0);
                if size == 0 {
                    // Trailers, then the empty line.
                    loop {
                        line.clear();
                        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                let old = body.len();
                body.resize(old + size, 0);
                reader.read_exact(&mut body[old..])?;
                line.clear();
                reader.read_line(&mut line)?;
            }
        } else {
            body.resize(len, 0);
            reader.read_exact(&mut body)?;
        }
        log.lock().unwrap_or_else(|e| e.into_inner()).push(Received { content_type, body });
        writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")?;
    }
}

// ---------------------------------------------------------------------------
// Other load on the machine

/// Busy and total CPU time of the whole machine since boot, in clock
/// ticks (`/proc/stat`; steal time counts as busy).
fn machine_ticks() -> (u64, u64) {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    if f.len() < 8 {
        return (0, 0);
    }
    let idle = f[3] + f[4];
    let total: u64 = f.iter().sum();
    (total - idle, total)
}

/// CPU time used by this process and its reaped children.
fn own_cpu() -> Duration {
    let get = |who| {
        // SAFETY: `rusage` is plain old data; all zeroes is a valid value.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid `who` and a pointer valid for writes.
        unsafe { libc::getrusage(who, &mut ru) };
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        tv(ru.ru_utime) + tv(ru.ru_stime)
    };
    get(libc::RUSAGE_SELF) + get(libc::RUSAGE_CHILDREN)
}

/// Measures how much CPU other processes used while it was running.
struct LoadProbe {
    busy: u64,
    ours: Duration,
    at: Instant,
}

impl LoadProbe {
    /// Starts measuring.
    fn start() -> LoadProbe {
        LoadProbe { busy: machine_ticks().0, ours: own_cpu(), at: Instant::now() }
    }

    /// CPUs kept busy by other processes since the start, on average.
    fn others(&self) -> f64 {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let busy = machine_ticks().0.saturating_sub(self.busy) as f64 / hz;
        let ours = own_cpu().saturating_sub(self.ours).as_secs_f64();
        ((busy - ours) / self.at.elapsed().as_secs_f64().max(1e-3)).max(0.0)
    }
}

/// Waits until other processes use less than 0.15 CPU over a second, or
/// the run's waiting budget is spent; returns false if the machine never
/// got quiet.
fn wait_quiet(budget: &Cell<u64>, what: &str) -> bool {
    if budget.get() == 0 {
        return false;
    }
    let started = Instant::now();
    let mut said = false;
    let quiet = loop {
        let p = LoadProbe::start();
        std::thread::sleep(Duration::from_millis(1000));
        let others = p.others();
        if others < 0.15 {
            break true;
        }
        if started.elapsed().as_secs() >= budget.get() {
            eprintln!("bench: other processes still use {others:.2} CPUs; measuring {what} anyway");
            break false;
        }
        if !said {
            eprintln!(
                "bench: other processes use {others:.2} CPUs; waiting for quiet before {what}"
            );
            said = true;
        }
    };
    budget.set(budget.get().saturating_sub(started.elapsed().as_secs() + 1));
    quiet
}

// ---------------------------------------------------------------------------
// Reporting

/// Timings of repeated runs, in seconds.
#[derive(Clone, Debug, Default)]
struct Samples(Vec<f64>);

impl Samples {
    /// The fastest run.
    fn min(&self) -> f64 {
        self.0.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// The median run (mean of the middle two for an even count).
    fn median(&self) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }
}

/// One row of the result table.
struct Row {
    name: String,
    time: Samples,
    /// Bytes processed per run, for MB/s.
    bytes: Option<u64>,
    /// Peak RSS (KiB) over the runs, for child processes.
    rss_kib: Option<u64>,
    /// Median CPU time (user + system) of the child.
    cpu: Option<Samples>,
    /// CPUs other processes kept busy meanwhile, on average.
    others: f64,
}

impl Row {
    /// Median throughput in MB/s (10^6 bytes).
    fn mbps(&self) -> Option<f64> {
        self.bytes.map(|b| b as f64 / 1e6 / self.time.median())
    }

    /// Best throughput in MB/s.
    fn best_mbps(&self) -> Option<f64> {
        self.bytes.map(|b| b as f64 / 1e6 / self.time.min())
    }

    /// The row as JSON.
    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "runs_s": self.time.0,
            "min_s": self.time.min(),
            "median_s": self.time.median(),
            "bytes": self.bytes,
            "mb_per_s_median": self.mbps(),
            "mb_per_s_best": self.best_mbps(),
            "peak_rss_kib": self.rss_kib,
            "cpu_median_s": self.cpu.as_ref().map(Samples::median),
            "other_processes_cpus": self.others,
        })
    }
}

/// Formats seconds with a unit that fits.
fn fmt_secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.3} s")
    }
}

/// Formats a byte count in binary units.
fn fmt_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= GIB as f64 {
        format!("{:.2} GiB", b / GIB as f64)
    } else if b >= MIB as f64 {
        format!("{:.1} MiB", b / MIB as f64)
    } else if b >= KIB as f64 {
        format!("{:.1} KiB", b / KIB as f64)
    } else {
        format!("{b} B")
    }
}

/// Everything measured, for the table and the JSON line.
#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    ratios: Vec<Ratio>,
    json: Map<String, Value>,
    notes: Vec<String>,
    checks: Vec<String>,
}

/// A baseline's wall time over telemetron's, one sample per round (above
/// 1: telemetron is that many times faster).
struct Ratio {
    corpus: String,
    /// Short key for the JSON record, e.g. `t2_vs_cat`.
    key: String,
    /// What is compared, for the table.
    text: String,
    samples: Samples,
}

impl Report {
    /// Prints the table of rows.
    fn print_table(&self) {
        println!(
            "\n{:<52} {:>4} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>6}",
            "measurement",
            "runs",
            "min",
            "median",
            "MB/s med",
            "MB/s best",
            "peak RSS",
            "CPU med",
            "others"
        );
        println!("{}", "-".repeat(128));
        for r in &self.rows {
            let opt = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.1}"));
            println!(
                "{:<52} {:>4} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>6.2}",
                r.name,
                r.time.0.len(),
                fmt_secs(r.time.min()),
                fmt_secs(r.time.median()),
                opt(r.mbps()),
                opt(r.best_mbps()),
                r.rss_kib.map_or("-".into(), |k| fmt_bytes(k * KIB)),
                r.cpu.as_ref().map_or("-".into(), |c| fmt_secs(c.median())),
                r.others,
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Stages

/// Removes `dir` if this bench made it (it holds `marker`), refuses to
/// touch a non-empty directory it did not make, then creates it with the
/// marker.
fn reset_dir(dir: &Path, marker: &str) -> Res<()> {
    if dir.join(marker).exists() {
        fs::remove_dir_all(dir)?;
    } else if fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(format!(
            "{} exists and was not made by this bench (no {marker}); refusing to overwrite it",
            dir.display()
        )
        .into());
    }
    fs::create_dir_all(dir)?;
    fs::write(dir.join(marker), b"")?;
    Ok(())
}

/// One measured corpus: a home, its transcript files and what they must
/// produce.
struct Measured {
    /// `pi`, `claude_code`, `codex`, `gemini_cli` or `mixed`.
    name: String,
    home: PathBuf,
    files: Vec<PathBuf>,
    g: Generated,
}

/// Generates one pack's corpus in `root/packs/<pack>`, or reuses the one
/// there when its manifest matches (same generator, seed and size).
fn pack_corpus(root: &Path, pack: &str, seed: u64, bytes: u64) -> Res<Measured> {
    let dir = root.join("packs").join(pack);
    let home = dir.join("home");
    let manifest = dir.join("manifest.json");
    let params =
        json!({"generator": GENERATOR_VERSION, "pack": pack, "seed": seed, "bytes": bytes});
    if let Some(v) = fs::read(&manifest).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    {
        let g = &v["generated"];
        if v["params"] == params {
            let expected: Option<BTreeMap<String, u64>> =
                serde_json::from_value(g["expected"].clone()).ok();
            if let (Some(expected), Some(n), Some(size), Some(unread_lines)) =
                (expected, g["files"].as_u64(), g["bytes"].as_u64(), g["unread_lines"].as_u64())
            {
                let files = list_jsonl(&home)?;
                let on_disk: u64 =
                    files.iter().map(|p| fs::metadata(p).map_or(0, |m| m.len())).sum();
                if files.len() as u64 == n && on_disk == size {
                    eprintln!("bench: {pack}: corpus reused from {}", dir.display());
                    let g = Generated { files: n, bytes: size, expected, unread_lines };
                    return Ok(Measured { name: pack.into(), home, files, g });
                }
            }
        }
    }
    reset_dir(&dir, "manifest.json")?;
    let started = Instant::now();
    let g = corpus::generate(pack, &home, seed, bytes)?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "bench: {pack}: {} in {} files generated in {secs:.1} s ({:.0} MB/s)",
        fmt_bytes(g.bytes),
        g.files,
        g.bytes as f64 / 1e6 / secs
    );
    let doc = json!({"params": params, "generated": {
        "files": g.files, "bytes": g.bytes, "expected": g.expected,
        "unread_lines": g.unread_lines}});
    fs::write(&manifest, serde_json::to_vec_pretty(&doc)?)?;
    let files = list_jsonl(&home)?;
    if files.len() as u64 != g.files {
        return Err(format!("{pack}: found {} files, generated {}", files.len(), g.files).into());
    }
    Ok(Measured { name: pack.into(), home, files, g })
}

/// The mixed home: every pack's files hard-linked into one home (no copy,
/// the same bytes in the page cache), expecting the sum of their totals.
fn mixed_corpus(root: &Path, packs: &[Measured]) -> Res<Measured> {
    let home = root.join("mixed").join("home");
    let _ = fs::remove_dir_all(root.join("mixed"));
    let mut g = Generated::default();
    for p in packs {
        link_tree(&p.home, &home)?;
        g.add(&p.g);
    }
    let files = list_jsonl(&home)?;
    Ok(Measured { name: "mixed".into(), home, files, g })
}

/// Hard-links every file below `from` to the same place below `to`.
fn link_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            link_tree(&e.path(), &dest)?;
        } else {
            fs::hard_link(e.path(), dest)?;
        }
    }
    Ok(())
}

/// Sums the line results a corpus must produce (every complete line).
fn expected_lines(g: &Generated) -> u64 {
    let read: u64 = g
        .expected
        .iter()
        .filter(|(k, _)| k.starts_with("pack.emitter.lines{") && k.contains("result="))
        .map(|(_, v)| v)
        .sum();
    read + g.unread_lines
}

/// The naive baseline: every complete line parsed into a
/// `serde_json::Value`, one thread, in-process. Returns the complete lines.
fn naive_scan(files: &[PathBuf]) -> Res<u64> {
    let (mut lines, mut values) = (0u64, 0u64);
    let mut buf = Vec::new();
    for f in files {
        buf.clear();
        File::open(f)?.read_to_end(&mut buf)?;
        let end = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        for line in buf[..end].split_inclusive(|&b| b == b'\n') {
            lines += 1;
            if let Ok(v) = serde_json::from_slice::<Value>(&line[..line.len() - 1]) {
                values += u64::from(v.is_object());
            }
        }
    }
    std::hint::black_box(values);
    Ok(lines)
}

/// What one tool does with a corpus: how to run it and check its answer.
enum Tool<'a> {
    /// `xargs -0 cat > /dev/null` over the file list.
    Cat(&'a Path),
    /// `xargs -0 wc -l` over the file list (its line count is asserted).
    Wc(&'a Path),
    /// A cold `telemetron scan --dry-run` with this many threads.
    Telemetron(usize),
    /// The in-process naive baseline.
    Naive,
    /// `ccusage <agent> session --json --offline`, with the agent's
    /// environment variable pointing into the home.
    Ccusage(&'a Path, &'static str),
}

/// Runs `tool` once on `c`, checks its answer, and returns the run.
fn run_tool(ctx: &Ctx, c: &Measured, tool: &Tool, run: usize) -> Res<ChildRun> {
    let lines = expected_lines(&c.g);
    match tool {
        Tool::Cat(list) | Tool::Wc(list) => {
            let mut cmd = measured("xargs");
            cmd.arg("-0").stdin(File::open(list)?);
            let wc = matches!(tool, Tool::Wc(_));
            if wc {
                cmd.args(["wc", "-l"]);
            } else {
                cmd.arg("cat").stdout(File::create("/dev/null")?);
            }
            let r = run_child(&mut cmd, wc)?;
            expect_success("xargs", &r)?;
            if wc {
                let got: u64 = String::from_utf8_lossy(&r.stdout)
                    .lines()
                    .filter_map(|l| {
                        let (n, file) = l.trim().split_once(' ')?;
                        (file.trim() != "total").then(|| n.parse::<u64>().ok())?
                    })
                    .sum();
                if got != lines {
                    return Err(
                        format!("{}: wc -l counted {got} lines, expected {lines}", c.name).into()
                    );
                }
            }
            Ok(r)
        }
        Tool::Telemetron(t) => {
            let state = ctx.scratch.join(format!("state-{}-t{t}-{run}", c.name));
            let _ = fs::remove_dir_all(&state);
            fs::create_dir_all(&state)?;
            let mut cmd = telemetron(&ctx.bin, &c.home, &state, &ctx.config);
            cmd.arg("--dry-run").arg("--threads").arg(t.to_string());
            let r = run_child(&mut cmd, true)?;
            expect_success("telemetron scan --dry-run", &r)?;
            let _ = fs::remove_dir_all(&state);
            let v: Value = serde_json::from_slice(&r.stdout)
                .map_err(|e| format!("dry-run output is not JSON: {e}"))?;
            let got = observed(&otlp_points(&v)?, &c.g.expected);
            assert_counts(&format!("{} cold scan --threads {t}", c.name), &c.g.expected, &got)?;
            Ok(r)
        }
        Tool::Naive => {
            let cpu = own_cpu();
            let t = Instant::now();
            let got = naive_scan(&c.files)?;
            let wall = t.elapsed();
            if got != lines {
                return Err(format!("{}: naive read {got} lines, expected {lines}", c.name).into());
            }
            Ok(ChildRun {
                wall,
                cpu: own_cpu().saturating_sub(cpu),
                max_rss_kib: 0,
                code: 0,
                stdout: Vec::new(),
                stderr: Vec::new(),
            })
        }
        Tool::Ccusage(bin, agent) => {
            let (var, dir) = match *agent {
                "claude" => ("CLAUDE_CONFIG_DIR", c.home.join(".claude")),
                _ => ("CODEX_HOME", c.home.join(".codex")),
            };
            let mut cmd = measured(bin);
            cmd.env_clear()
                .env("HOME", &c.home)
                .env("PATH", "/usr/bin:/bin")
                .env(var, dir)
                .args([*agent, "session", "--json", "--offline"])
                .stdin(Stdio::null());
            let r = run_child(&mut cmd, true)?;
            expect_success("ccusage", &r)?;
            match *agent {
                "claude" => corpus::claude::ccusage_check(&r.stdout, &c.g)?,
                _ => corpus::codex::ccusage_check(&r.stdout, &c.g)?,
            }
            Ok(r)
        }
    }
}

/// Measures every tool on one corpus in interleaved rounds (each round
/// runs every tool once, on the same cached files), so that the ratios of
/// one round compare runs made seconds apart; their medians stay
/// meaningful when the machine's speed drifts.
fn stage_corpus(ctx: &Ctx, c: &Measured, report: &mut Report) -> Res<()> {
    let list = ctx.scratch.join(format!("{}.list", c.name));
    let mut l = Vec::new();
    for p in &c.files {
        l.extend_from_slice(p.as_os_str().as_encoded_bytes());
        l.push(0);
    }
    fs::write(&list, l)?;
    // Warm the page cache.
    let n = read_all(&c.files, &mut vec![0u8; MIB as usize])?;
    if n != c.g.bytes {
        return Err(format!("{}: read {n} bytes, generated {}", c.name, c.g.bytes).into());
    }
    let mut tools: Vec<(String, Tool)> = vec![
        ("cat (xargs -0 cat > /dev/null)".into(), Tool::Cat(&list)),
        ("wc -l (xargs -0 wc -l)".into(), Tool::Wc(&list)),
    ];
    for &t in &ctx.opts.threads {
        tools.push((format!("telemetron cold scan --threads {t}"), Tool::Telemetron(t)));
    }
    tools.push(("naive serde_json::Value (in-process, 1 thread)".into(), Tool::Naive));
    let agent = match c.name.as_str() {
        "claude_code" => Some("claude"),
        "codex" => Some("codex"),
        _ => None,
    };
    if let (Some(agent), Some(bin)) = (agent, &ctx.ccusage) {
        tools
            .push((format!("ccusage {agent} session --json --offline"), Tool::Ccusage(bin, agent)));
    }
    wait_quiet(&ctx.quiet, &c.name);
    let probe = LoadProbe::start();
    let mut runs: Vec<Vec<ChildRun>> = tools.iter().map(|_| Vec::new()).collect();
    for round in 0..ctx.opts.runs {
        for (i, (name, tool)) in tools.iter().enumerate() {
            let r = run_tool(ctx, c, tool, round)?;
            eprintln!(
                "bench: {} round {}: {name}: {} ({:.0} MB/s), peak RSS {}",
                c.name,
                round + 1,
                fmt_secs(r.wall.as_secs_f64()),
                c.g.bytes as f64 / 1e6 / r.wall.as_secs_f64(),
                fmt_bytes(r.max_rss_kib * KIB)
            );
            runs[i].push(r);
        }
    }
    let others = probe.others();
    for ((name, tool), rs) in tools.iter().zip(&runs) {
        report.rows.push(Row {
            name: format!("{}: {name}", c.name),
            time: Samples(rs.iter().map(|r| r.wall.as_secs_f64()).collect()),
            bytes: Some(c.g.bytes),
            rss_kib: (!matches!(tool, Tool::Naive))
                .then(|| rs.iter().map(|r| r.max_rss_kib).max().unwrap_or(0)),
            cpu: Some(Samples(rs.iter().map(|r| r.cpu.as_secs_f64()).collect())),
            others,
        });
    }
    // Per-round ratios: a baseline's time over telemetron's in the same
    // round (above 1: telemetron is faster), then their median.
    for (i, (tname, tool)) in tools.iter().enumerate() {
        let Tool::Telemetron(t) = tool else { continue };
        for (j, (bname, base)) in tools.iter().enumerate() {
            let key = match base {
                Tool::Cat(_) => "cat",
                Tool::Wc(_) => "wc_l",
                Tool::Naive => "naive",
                Tool::Ccusage(..) => "ccusage",
                Tool::Telemetron(_) => continue,
            };
            let ratios = Samples(
                runs[i]
                    .iter()
                    .zip(&runs[j])
                    .map(|(a, b)| b.wall.as_secs_f64() / a.wall.as_secs_f64())
                    .collect(),
            );
            report.ratios.push(Ratio {
                corpus: c.name.clone(),
                key: format!("t{t}_vs_{key}"),
                text: format!("{tname} vs {bname}"),
                samples: ratios,
            });
        }
    }
    report.checks.push(format!(
        "{}: {} rounds; every telemetron run matched all {} expected totals{}; wc -l and the \
         naive baseline saw all {} lines",
        c.name,
        ctx.opts.runs,
        c.g.expected.len(),
        if agent.is_some() && ctx.ccusage.is_some() {
            ", ccusage's token totals matched"
        } else {
            ""
        },
        expected_lines(&c.g)
    ));
    Ok(())
}

/// Picks `n` distinct indices below `len` (all of them if fewer).
fn pick_distinct(rng: &mut Rng, len: usize, n: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..len).collect();
    let n = n.min(len);
    for i in 0..n {
        let j = i + rng.below((len - i) as u64) as usize;
        idx.swap(i, j);
    }
    idx.truncate(n);
    idx
}

/// Appends [`APPEND_BYTES`] over [`APPEND_FILES`] files of the corpus;
/// returns the exact counts appended.
fn append_round(corpus: &mut Corpus, round: u64, seed: u64) -> Res<Tally> {
    let mut rng = Rng::new(seed ^ 0x00A9_9E0D, round);
    let picks = pick_distinct(&mut rng, corpus.cursors.len(), APPEND_FILES);
    let mut tally = Tally::default();
    for (k, &i) in picks.iter().enumerate() {
        // Each file gets an equal share of what is left, so overshoot (the
        // last line of a file) is taken back from the following files.
        let left = (picks.len() - k) as u64;
        let budget = (APPEND_BYTES.saturating_sub(tally.bytes) / left).max(1);
        let t = append_to(&mut corpus.cursors[i], &corpus.pools, SMALL, budget)?;
        tally.add(&t);
    }
    Ok(tally)
}

/// Replaces [`APPEND_FILES`] files of the corpus by identical copies (a
/// temp file renamed over each: a new inode, the same bytes); returns the
/// bytes replaced.
fn replace_round(corpus: &Corpus, round: u64, seed: u64) -> Res<u64> {
    let mut rng = Rng::new(seed ^ 0x0C09_1E5D, round);
    let mut bytes = 0;
    for i in pick_distinct(&mut rng, corpus.cursors.len(), APPEND_FILES) {
        let path = &corpus.cursors[i].path;
        let tmp = path.with_extension("copy-tmp");
        bytes += fs::copy(path, &tmp)?;
        fs::rename(&tmp, path)?;
    }
    Ok(bytes)
}

/// One real run against the collector; asserts it succeeded and reached
/// the collector exactly once.
fn real_run(ctx: &Ctx, home: &Path, state: &Path, col: &Collector, json: bool) -> Res<ChildRun> {
    let (r, batches) = real_run_in_batches(ctx, home, state, col, json)?;
    if batches != 1 {
        return Err(format!("expected one request at the collector, got {batches}").into());
    }
    Ok(r)
}

/// A real run that may send its backlog in several batches (a first
/// run over more than `max_batch_files` files); returns it and how many
/// requests it sent (at least one).
fn real_run_in_batches(
    ctx: &Ctx,
    home: &Path,
    state: &Path,
    col: &Collector,
    json: bool,
) -> Res<(ChildRun, usize)> {
    let before = col.count();
    let mut cmd = telemetron(&ctx.bin, home, state, &ctx.config);
    cmd.arg("--endpoint").arg(&col.url);
    if json {
        cmd.arg("--encoding").arg("json");
    }
    let r = run_child(&mut cmd, true)?;
    expect_success("telemetron scan", &r)?;
    let sent = col.count() - before;
    if sent == 0 {
        return Err("expected a request at the collector, got none".into());
    }
    Ok((r, sent))
}

/// The points of the collector's last request, which must be OTLP/JSON.
fn last_json_points(col: &Collector) -> Res<Vec<Point>> {
    let (ct, body) = col.last().ok_or("no request received")?;
    if !ct.contains("json") {
        return Err(format!("expected a JSON body, got {ct}").into());
    }
    otlp_points(&serde_json::from_slice(&body)?)
}

/// No-new-bytes and incremental real runs over the small-file corpus.
fn stage_idle(ctx: &Ctx, root: &Path, n: usize, report: &mut Report) -> Res<()> {
    let dir = root.join("small");
    reset_dir(&dir, ".telemetron-bench")?;
    let started = Instant::now();
    let sizing = Sizing::PerFile { count: n, lo: 2 * KIB, hi: 32 * KIB };
    let mut corpus = generate(&dir.join("home"), ctx.opts.seed ^ 0x5111, sizing, SMALL)?;
    let home = corpus.home.clone();
    eprintln!(
        "bench: idle corpus: {} files, {} generated in {:.1} s",
        corpus.tally.files,
        fmt_bytes(corpus.tally.bytes),
        started.elapsed().as_secs_f64()
    );
    let state = ctx.scratch.join(format!("state-idle-{n}"));
    let _ = fs::remove_dir_all(&state);
    let col = Collector::start()?;

    // The floor: one stat of every file, as `find` does it.
    wait_quiet(&ctx.quiet, "the stat floor");
    let probe = LoadProbe::start();
    let (mut floor, mut floor_cpu, mut floor_rss) = (Samples::default(), Samples::default(), 0);
    for _ in 0..ctx.opts.idle_runs {
        let mut cmd = measured("find");
        cmd.arg(&home).args(["-type", "f", "-printf", "%s %T@\n"]).stdout(Stdio::null());
        let r = run_child(&mut cmd, false)?;
        if r.code != 0 {
            return Err("find failed".into());
        }
        floor.0.push(r.wall.as_secs_f64());
        floor_cpu.0.push(r.cpu.as_secs_f64());
        floor_rss = floor_rss.max(r.max_rss_kib);
    }
    let floor_median = floor.median();
    report.rows.push(Row {
        name: format!("stat floor: find -printf '%s %T@' over {n} files"),
        time: floor,
        bytes: None,
        rss_kib: Some(floor_rss),
        cpu: Some(floor_cpu),
        others: probe.others(),
    });

    // First real run: reads everything (in batches past
    // `max_batch_files`) and commits the state.
    let before = col.count();
    let (first, batches) = real_run_in_batches(ctx, &home, &state, &col, true)?;
    let expected = corpus.tally.checks();
    let mut points = Vec::new();
    for (ct, body) in col.since(before) {
        if !ct.contains("json") {
            return Err(format!("expected a JSON body, got {ct}").into());
        }
        points.extend(otlp_points(&serde_json::from_slice(&body)?)?);
    }
    assert_counts("first real run (idle corpus)", &expected, &observed(&points, &expected))?;
    eprintln!(
        "bench: first real run over {n} files ({batches} batch(es)): {}",
        fmt_secs(first.wall.as_secs_f64())
    );
    report.rows.push(Row {
        name: format!("first (cold) real run, {n} files, {batches} batch(es)"),
        time: Samples(vec![first.wall.as_secs_f64()]),
        bytes: Some(corpus.tally.bytes),
        rss_kib: Some(first.max_rss_kib),
        cpu: Some(Samples(vec![first.cpu.as_secs_f64()])),
        others: 0.0,
    });

    // A checked run with no new bytes: only the heartbeat is sent.
    real_run(ctx, &home, &state, &col, true)?;
    let points = last_json_points(&col)?;
    if let Some(p) = points.iter().find(|p| p.metric != "pack.emitter.heartbeat") {
        return Err(format!("a run with no new bytes sent {} = {}", p.metric, p.value).into());
    }
    wait_quiet(&ctx.quiet, "the no-new-bytes runs");
    let probe = LoadProbe::start();
    let (mut time, mut cpu, mut rss) = (Samples::default(), Samples::default(), 0);
    let mut body_sizes = Vec::new();
    for _ in 0..ctx.opts.idle_runs {
        let r = real_run(ctx, &home, &state, &col, false)?;
        time.0.push(r.wall.as_secs_f64());
        cpu.0.push(r.cpu.as_secs_f64());
        rss = rss.max(r.max_rss_kib);
        body_sizes.push(col.last().map_or(0, |l| l.1.len()));
    }
    let idle_median = time.median();
    report.rows.push(Row {
        name: format!("no new bytes, {n} files (real run, whole process)"),
        time,
        bytes: None,
        rss_kib: Some(rss),
        cpu: Some(cpu),
        others: probe.others(),
    });

    // Appends: one checked round (JSON body), then timed rounds.
    let added = append_round(&mut corpus, 0, ctx.opts.seed)?;
    real_run(ctx, &home, &state, &col, true)?;
    let expected = added.checks();
    assert_counts(
        "incremental run (appended lines)",
        &expected,
        &observed(&last_json_points(&col)?, &expected),
    )?;
    wait_quiet(&ctx.quiet, "the incremental runs");
    let probe = LoadProbe::start();
    let (mut time, mut cpu, mut rss, mut appended) =
        (Samples::default(), Samples::default(), 0, Vec::new());
    for round in 1..=ctx.opts.idle_runs as u64 {
        let added = append_round(&mut corpus, round, ctx.opts.seed)?;
        appended.push(added.bytes);
        let r = real_run(ctx, &home, &state, &col, false)?;
        time.0.push(r.wall.as_secs_f64());
        cpu.0.push(r.cpu.as_secs_f64());
        rss = rss.max(r.max_rss_kib);
    }
    let mean_appended = appended.iter().sum::<u64>() / appended.len() as u64;
    let incremental_median = time.median();
    report.rows.push(Row {
        name: format!("incremental +{} over {APPEND_FILES} of {n} files", fmt_bytes(mean_appended)),
        time,
        bytes: Some(mean_appended),
        rss_kib: Some(rss),
        cpu: Some(cpu),
        others: probe.others(),
    });
    // Identity: files replaced by identical copies (new inodes, as cp +
    // mv, a restore or a sync tool leave them) must send nothing, at the
    // cost of one hash of each replaced file.
    let replaced = replace_round(&corpus, 0, ctx.opts.seed)?;
    real_run(ctx, &home, &state, &col, true)?;
    if let Some(p) = last_json_points(&col)?.iter().find(|p| p.metric != "pack.emitter.heartbeat") {
        return Err(
            format!("files replaced by identical copies sent {} = {}", p.metric, p.value).into()
        );
    }
    wait_quiet(&ctx.quiet, "the replaced-file runs");
    let probe = LoadProbe::start();
    let (mut time, mut cpu, mut rss) = (Samples::default(), Samples::default(), 0);
    for round in 1..=ctx.opts.idle_runs as u64 {
        replace_round(&corpus, round, ctx.opts.seed)?;
        let r = real_run(ctx, &home, &state, &col, false)?;
        time.0.push(r.wall.as_secs_f64());
        cpu.0.push(r.cpu.as_secs_f64());
        rss = rss.max(r.max_rss_kib);
    }
    report.rows.push(Row {
        name: format!(
            "{APPEND_FILES} of {n} files replaced by identical copies ({} hashed)",
            fmt_bytes(replaced)
        ),
        time,
        bytes: Some(replaced),
        rss_kib: Some(rss),
        cpu: Some(cpu),
        others: probe.others(),
    });
    // What the positions take on disk, a file.
    let positions: u64 = ["positions.bin", "positions.log"]
        .iter()
        .filter_map(|f| fs::metadata(state.join(f)).ok())
        .map(|m| m.len())
        .sum();
    report.checks.push(format!(
        "{n} files: stat floor {:.1} ms; no new bytes {:.1} ms ({:.2}x the floor); incremental \
         {:.1} ms (the floor + {:.1} ms); positions {} ({} bytes a file)",
        floor_median * 1e3,
        idle_median * 1e3,
        idle_median / floor_median,
        incremental_median * 1e3,
        (incremental_median - floor_median) * 1e3,
        fmt_bytes(positions),
        positions / n as u64,
    ));
    report.checks.push(format!(
        "real runs: first run over {n} files and an appended round matched all {} expected \
         totals; a no-new-bytes run and a run after {APPEND_FILES} files were replaced by \
         identical copies sent only the heartbeat; each of {} runs reached the collector \
         exactly once",
        expected.len(),
        col.count()
    ));
    report.json.insert(
        format!("idle_{n}"),
        json!({
            "files": n,
            "positions_bytes": positions,
            "stat_floor_s": floor_median,
            "corpus_bytes": corpus.tally.bytes,
            "first_run_s": first.wall.as_secs_f64(),
            "first_run_peak_rss_kib": first.max_rss_kib,
            "idle_body_bytes": body_sizes,
            "appended_bytes_per_round": appended,
            "requests": col.count(),
        }),
    );
    Ok(())
}

/// What every stage needs.
struct Ctx {
    /// Seconds left for waiting until the machine is quiet.
    quiet: Cell<u64>,
    opts: Options,
    bin: PathBuf,
    scratch: PathBuf,
    config: PathBuf,
    /// The ccusage binary, when installed.
    ccusage: Option<PathBuf>,
}

/// Output of a command, trimmed, or empty.
fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Describes the machine: CPUs, CPU model, kernel, memory.
fn host_info() -> Value {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name").map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let mem = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|r| r.trim().to_string()))
        .unwrap_or_default();
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "cpu_model": model,
        "kernel": fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "mem_total": mem,
    })
}

/// Runs the benchmark.
fn run() -> Res<()> {
    let opts = Options::parse(std::env::args().skip(1))?;
    if opts.help {
        println!("{USAGE}");
        return Ok(());
    }
    let bin = locate_binary(&opts)?;
    let bin_size = fs::metadata(&bin)?.len();
    let temp;
    let root = match &opts.keep {
        Some(d) => {
            fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("telemetron-bench-")
                .tempdir_in(std::env::temp_dir())?;
            temp.path().to_path_buf()
        }
    };
    let scratch_dir = tempfile::Builder::new().prefix("telemetron-bench-scratch-").tempdir()?;
    let scratch = scratch_dir.path().to_path_buf();
    let config = scratch.join("config.yaml");
    fs::write(&config, b"")?;
    let quiet = opts.quiet_wait.unwrap_or(if opts.size >= 256 * MIB { 60 } else { 0 });
    let ccusage = opts
        .ccusage
        .clone()
        .or_else(|| Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/.bin/ccusage")))
        .filter(|p| p.exists());
    let ctx = Ctx { quiet: Cell::new(quiet), opts, bin, scratch, config, ccusage };
    let opts = &ctx.opts;
    let mut report = Report::default();
    let wall = Instant::now();
    if ctx.ccusage.is_none() {
        report.notes.push(
            "ccusage not found: `npm install ccusage@20.0.24` in the repository (or --ccusage \
             PATH) to compare with it"
                .into(),
        );
    }

    let mut corpora_json = Map::new();
    let mut corpus_lines = Vec::new();
    if opts.wants(Stage::Corpus) {
        // Each pack gets a quarter of --size; the mixed home is all of them.
        let mut packs = Vec::new();
        let wanted = |p: &str| opts.packs.iter().any(|x| x == p || x == "mixed");
        for (i, pack) in corpus::PACKS.iter().enumerate().filter(|(_, p)| wanted(p)) {
            let seed = opts.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            packs.push(pack_corpus(&root, pack, seed, opts.size / 4)?);
        }
        let mut measured: Vec<Measured> = Vec::new();
        if opts.packs.iter().any(|p| p == "mixed") {
            measured.push(mixed_corpus(&root, &packs)?);
        }
        measured.extend(packs.into_iter().filter(|p| opts.packs.contains(&p.name)));
        for c in &measured {
            let lines = expected_lines(&c.g);
            corpus_lines.push(format!(
                "corpus   {:<12} {:>10} in {:>5} files, {:>10} lines (mean {})",
                c.name,
                fmt_bytes(c.g.bytes),
                c.g.files,
                lines,
                fmt_bytes(c.g.bytes / lines.max(1))
            ));
            corpora_json.insert(
                c.name.clone(),
                json!({"files": c.g.files, "bytes": c.g.bytes, "lines": lines}),
            );
        }
        for c in &measured {
            stage_corpus(&ctx, c, &mut report)?;
        }
    }
    if opts.wants(Stage::Idle) {
        for &n in &ctx.opts.small_files {
            stage_idle(&ctx, &root, n, &mut report)?;
        }
    }
    if opts.wants(Stage::Stores) {
        stores::stage_stores(&ctx, &root, &mut report)?;
    }
    if opts.wants(Stage::Agents) {
        agents::stage_agents(&ctx, &root, &mut report)?;
    }
    if opts.wants(Stage::Report) {
        report::stage_report(&ctx, &root, &mut report)?;
    }
    let mut ratios = Map::new();
    for r in &report.ratios {
        ratios.insert(format!("{}_{}", r.corpus, r.key), json!(r.samples.median()));
    }

    // The report.
    let git = command_output("git", &["rev-parse", "--short", "HEAD"]);
    let dirty =
        !command_output("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
    let host = host_info();
    println!("\n== telemetron performance suite ==");
    println!("binary   {} ({bin_size} bytes)", ctx.bin.display());
    println!("git      {git}{}", if dirty { " (working tree modified)" } else { "" });
    println!(
        "host     {} CPUs, {}, Linux {}, {}",
        host["cpus"],
        host["cpu_model"].as_str().unwrap_or(""),
        host["kernel"].as_str().unwrap_or(""),
        host["mem_total"].as_str().unwrap_or("")
    );
    for l in &corpus_lines {
        println!("{l}");
    }
    println!(
        "cache    page cache warm: the corpus is read once before timing (caches cannot be \
         dropped here); MB = 10^6 bytes"
    );
    report.print_table();
    if !report.ratios.is_empty() {
        println!(
            "\nrun-to-run ratios: the baseline's wall time over telemetron's in the same round \
             (> 1: telemetron is faster; < 1: it takes that fraction of the baseline's speed)"
        );
        println!("{:<12} {:<72} {:>8} {:>8} {:>8}", "corpus", "comparison", "min", "median", "max");
        for r in &report.ratios {
            let v = &r.samples.0;
            let max = v.iter().copied().fold(f64::MIN, f64::max);
            println!(
                "{:<12} {:<72} {:>8.3} {:>8.3} {:>8.3}",
                r.corpus,
                r.text,
                r.samples.min(),
                r.samples.median(),
                max
            );
        }
    }
    println!("\nbinary size: {bin_size} bytes");
    println!("\ncount assertions: PASSED");
    for c in &report.checks {
        println!("  - {c}");
    }
    for r in report.rows.iter().filter(|r| r.others > 0.25) {
        report.notes.push(format!(
            "other processes kept {:.2} CPUs busy during `{}`: its timings are disturbed",
            r.others, r.name
        ));
    }
    for n in &report.notes {
        println!("note: {n}");
    }
    let total = wall.elapsed().as_secs_f64();
    println!("\nbench wall time: {total:.1} s");

    let mut record = Map::new();
    record.insert("bench".into(), json!("perf"));
    record.insert(
        "unix_time".into(),
        json!(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)),
    );
    record.insert("git".into(), json!({"rev": git, "dirty": dirty}));
    record.insert("host".into(), host);
    record.insert(
        "options".into(),
        json!({
            "size": opts.size, "packs": opts.packs, "small_files": opts.small_files,
            "seed": opts.seed, "runs": opts.runs, "idle_runs": opts.idle_runs,
            "threads": opts.threads, "quiet_wait": opts.quiet_wait,
            "only": opts.only.iter().map(|s| format!("{s:?}").to_lowercase()).collect::<Vec<_>>(),
        }),
    );
    record.insert("binary".into(), json!({"path": ctx.bin, "size_bytes": bin_size}));
    record.insert("corpora".into(), Value::Object(corpora_json));
    record.insert("rows".into(), Value::Array(report.rows.iter().map(Row::to_json).collect()));
    record.insert("ratios".into(), Value::Object(ratios));
    record.insert("checks_passed".into(), json!(report.checks));
    record.insert("bench_wall_s".into(), json!(total));
    record.extend(std::mem::take(&mut report.json));
    let out = target_dir().join("bench-results.jsonl");
    fs::create_dir_all(target_dir())?;
    let mut f = OpenOptions::new().create(true).append(true).open(&out)?;
    writeln!(f, "{}", Value::Object(record))?;
    println!("results appended to {}", out.display());
    Ok(())
}

/// Entry point: runs the benchmark and exits non-zero on any failure,
/// after the temporary corpus has been removed (or acts as the measuring
/// helper, see [`measured`]).
/// `gen PACK SIZE DIR [SEED]`: writes one pack's corpus to `DIR/home`,
/// runs `telemetron scan --dry-run` on it and checks every expected total
/// (the loop for working on a generator).
fn gen_command(args: &[String]) -> Res<()> {
    let [pack, size, dir, rest @ ..] = args else {
        return Err("usage: cargo bench --bench perf -- gen PACK SIZE DIR [SEED]".into());
    };
    let seed = rest.first().map(|s| parse_u64(s)).transpose()?.unwrap_or(Options::default().seed);
    let dir = PathBuf::from(dir);
    let home = dir.join("home");
    let _ = fs::remove_dir_all(&home);
    fs::create_dir_all(&home)?;
    let started = Instant::now();
    let g = corpus::generate(pack, &home, seed, parse_size(size)?)?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "gen: {pack}: {} files, {} in {secs:.2} s ({:.0} MB/s)",
        g.files,
        fmt_bytes(g.bytes),
        g.bytes as f64 / 1e6 / secs
    );
    let files = list_jsonl(&home)?;
    let on_disk: u64 = files.iter().map(|p| fs::metadata(p).map_or(0, |m| m.len())).sum();
    if on_disk != g.bytes {
        return Err(format!("{} bytes on disk, the generator says {}", on_disk, g.bytes).into());
    }
    let opts = Options::default();
    let bin = locate_binary(&opts)?;
    let state = dir.join("state");
    let _ = fs::remove_dir_all(&state);
    fs::create_dir_all(&state)?;
    let config = dir.join("config.yaml");
    fs::write(&config, b"")?;
    let r = run_child(telemetron(&bin, &home, &state, &config).arg("--dry-run"), true)?;
    expect_success("telemetron scan --dry-run", &r)?;
    let v: Value = serde_json::from_slice(&r.stdout)?;
    let got = observed(&otlp_points(&v)?, &g.expected);
    assert_counts(&format!("{pack} corpus"), &g.expected, &got)?;
    eprintln!(
        "gen: telemetron matched all {} expected totals in {} ({:.0} MB/s, peak RSS {})",
        g.expected.len(),
        fmt_secs(r.wall.as_secs_f64()),
        g.bytes as f64 / 1e6 / r.wall.as_secs_f64(),
        fmt_bytes(r.max_rss_kib * KIB)
    );
    println!("{}", serde_json::to_string_pretty(&g.expected)?);
    Ok(())
}

fn main() {
    if let Some(report) = std::env::var_os(MEASURE_ENV) {
        measure_main(report);
    }
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.first().is_some_and(|a| a == "gen") {
        if let Err(e) = gen_command(&args[1..]) {
            eprintln!("gen: FAILED: {e}");
            std::process::exit(1);
        }
        std::process::exit(0);
    }
    let code = match run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("\nbench perf: FAILED: {e}");
            1
        }
    };
    std::process::exit(code);
}
