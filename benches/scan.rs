//! Benchmark of `telemetron scan` on a generated, realistic pi-format corpus.
//!
//! # Method
//!
//! 1. **Corpus.** A seeded generator (splitmix64; no `rand`) writes a home
//!    directory in the layout the scanner discovers:
//!    `.pi/agent/sessions/--home-dev-proj<N>--/<timestamp>_<uuid>.jsonl`
//!    (most files), `.openclaw/agents/main/sessions/<uuid>.jsonl` (with a
//!    `sessions.json` index marking some sessions subagent or cron) and
//!    `.roundhouse/sessions/{main,cron_c…}/…jsonl`. Every file starts with a
//!    `session` header, then `model_change`, `thinking_level_change`, user
//!    prompts (some with pasted code or base64 screenshots), assistant
//!    messages (thinking with signatures, text, `toolCall` blocks with
//!    arguments, `usage`), `toolResult` messages (the bulk of the bytes:
//!    from ~100 bytes to ~6 MB, some `isError`), `custom_message`,
//!    `compaction`, OpenClaw `custom` records and delivery mirrors. Entries
//!    carry an 8-hex `id`, `parentId` and an ISO `timestamp` that strictly
//!    increases within a file. A few files have one truncated (malformed)
//!    line or end in a partial line, as live transcripts do. Text is
//!    escaped JSON with quotes, backslashes, tabs, ANSI escapes and non-ASCII.
//!    The generator returns the **exact** counts the corpus must produce
//!    (sessions by pack and type, prompts, turns by outcome, tool calls,
//!    errors, tokens by type, lines by result); every measured run is checked
//!    against them, so a fast but wrong scanner fails the benchmark (as in
//!    memchr's rebar). The naive baseline is checked too, which also checks
//!    the generator's bookkeeping with an independent parser.
//! 2. **Cold scan.** The release binary runs as a child process,
//!    `telemetron scan --dry-run --home H --state-dir <empty> --threads T`,
//!    for each T (default 1 and 2), `--runs` times (default 3). Wall time,
//!    throughput (MB = 10^6 bytes of corpus on disk) and the child's peak
//!    RSS and CPU time (`wait4` rusage) are reported as min and median.
//!    Children are started through a small helper process (this binary
//!    again), because Linux folds the peak RSS of the process that spawns a
//!    child into the child's `ru_maxrss`, and this one is large. The
//!    OTLP/JSON the dry run prints is parsed and its totals asserted.
//!    "Cold" means an empty state (first run); the page cache is warm: the
//!    corpus is read once before any timing, since caches cannot be dropped
//!    here. All baselines run on the same cached files.
//! 3. **Floor.** Reading every file to nowhere in-process with a 1 MiB
//!    buffer (one thread), `xargs -0 cat > /dev/null` and `xargs -0 wc -l`
//!    as child processes (the `wc -l` total is asserted too).
//! 4. **Naive baseline.** In-process, one thread: read each file, split on
//!    `\n`, parse every complete line into a `serde_json::Value` and count
//!    the same things.
//! 5. **Idle and incremental runs.** A second corpus of `--small-files`
//!    (default 10,000) small files, and a loopback HTTP collector in this
//!    process that answers `200 OK` and records every request. One real run
//!    commits state (JSON encoding, totals asserted from the body); one
//!    checked no-new-bytes run (must send only the heartbeat); then
//!    `--idle-runs` (default 10) timed no-new-bytes runs of the whole
//!    process. Then 1 MiB of complete lines is appended over 100 files and
//!    a real run counts it (body asserted against the appended counts), and
//!    `--idle-runs` timed rounds of append + run follow. Timed real runs use
//!    the default protobuf encoding; each must reach the collector exactly
//!    once.
//! 6. The binary's size in bytes.
//!
//! Results are printed as a table and appended as one JSON line to
//! `target/bench-results.jsonl`.
//!
//! # Options
//!
//! - `--size SIZE` corpus size (`1GiB` default; `64MiB`, `500MB`, bytes)
//! - `--files N` number of corpus files (default: drawn log-uniformly
//!   between 16 KiB and 32 MiB until the size is reached)
//! - `--small-files N` files of the idle corpus (default 10000)
//! - `--seed N` generator seed (decimal or 0x hex)
//! - `--keep DIR` put the corpus in DIR and keep it; a corpus there with a
//!   matching manifest (same generator, seed, size, files) is reused
//! - `--only cold|floor|naive|idle` run only these (repeatable or
//!   comma-separated)
//! - `--runs N` runs of each cold/floor/naive measurement (default 3)
//! - `--idle-runs N` timed idle and incremental runs (default 10)
//! - `--threads LIST` thread counts of the cold scan (default `1,2`)
//! - `--quiet-wait SECS` before each measurement, wait for other processes
//!   to leave the CPUs alone, SECS in total at most (default 60, or 0 for
//!   corpora under 256 MiB so that smoke tests stay quick); the CPU they
//!   use during every measurement is reported either way (column `others`,
//!   in CPUs), since other work on the machine distorts the timings
//! - `--bin PATH` the telemetron binary (default: the one cargo built for
//!   this bench, `target/release/telemetron`; built with
//!   `cargo build --release` if missing)
//!
//! # Reproduce
//!
//! ```text
//! cargo bench --bench scan                       # 1 GiB, everything
//! cargo bench --bench scan -- --size 64MiB       # quick smoke test
//! cargo bench --bench scan -- --keep /tmp/tcorp --only cold
//! ```
//!
//! `cargo bench` builds `target/release/telemetron` with the `bench`
//! profile, which inherits `release` (fat LTO, one codegen unit, stripped):
//! the binary measured is the release binary.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use telemetron::util::SplitMix64;

use rayon::prelude::*;
use serde_json::{json, Map, Value};

/// Errors end the benchmark with a message.
type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Bumped whenever the generator's output changes, so kept corpora made by
/// an older generator are not reused.
const GENERATOR_VERSION: u64 = 2;
const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;
/// 2026-01-01T00:00:00Z in Unix milliseconds.
const EPOCH_2026_MS: u64 = 1_767_225_600_000;
/// Bytes appended per incremental round, and over how many files.
const APPEND_BYTES: u64 = MIB;
const APPEND_FILES: usize = 100;

// ---------------------------------------------------------------------------
// Options

/// The measurements that can be selected with `--only`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Cold,
    Floor,
    Naive,
    Idle,
}

/// Command-line options of the benchmark.
#[derive(Debug)]
struct Options {
    size: u64,
    files: Option<usize>,
    small_files: usize,
    seed: u64,
    keep: Option<PathBuf>,
    only: Vec<Stage>,
    runs: usize,
    idle_runs: usize,
    threads: Vec<usize>,
    bin: Option<PathBuf>,
    quiet_wait: Option<u64>,
    help: bool,
}

impl Default for Options {
    /// The defaults documented in the module docs.
    fn default() -> Options {
        Options {
            size: GIB,
            files: None,
            small_files: 10_000,
            seed: 0x7E1E_3E70_2026,
            keep: None,
            only: Vec::new(),
            runs: 3,
            idle_runs: 10,
            threads: vec![1, 2],
            bin: None,
            quiet_wait: None,
            help: false,
        }
    }
}

/// Usage text for `--help`.
const USAGE: &str = "usage: cargo bench --bench scan -- [--size 1GiB] [--files N] \
[--small-files 10000] [--seed N] [--keep DIR] [--only cold|floor|naive|idle] [--runs 3] \
[--idle-runs 10] [--threads 1,2] [--bin PATH] [--quiet-wait SECS]";

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
                "--files" => o.files = Some(value()?.parse()?),
                "--small-files" => o.small_files = value()?.parse()?,
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
                "--only" => {
                    for s in value()?.split(',') {
                        o.only.push(match s.trim() {
                            "cold" => Stage::Cold,
                            "floor" => Stage::Floor,
                            "naive" => Stage::Naive,
                            "idle" => Stage::Idle,
                            other => return Err(format!("--only: unknown stage `{other}`").into()),
                        });
                    }
                }
                other => return Err(format!("unknown option `{other}`\n{USAGE}").into()),
            }
        }
        if o.size < 64 * KIB {
            return Err("--size must be at least 64KiB".into());
        }
        if o.files == Some(0) || o.small_files == 0 || o.threads.is_empty() {
            return Err("--files, --small-files and --threads must not be zero/empty".into());
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
// Random numbers

/// A splitmix64 generator: tiny, fast, statistically fine for test data,
/// and the same sequence on every platform.
#[derive(Clone, Debug)]
struct Rng(SplitMix64);

impl Rng {
    /// A generator for `seed`, on an independent stream `stream` (one per
    /// file, so files can be generated in parallel and still reproducibly).
    fn new(seed: u64, stream: u64) -> Rng {
        let mut r =
            Rng(SplitMix64(seed ^ stream.wrapping_add(1).wrapping_mul(0xA076_1D64_78BD_642F)));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.0.below(n)
    }

    /// Uniform in `lo..hi` (`hi > lo`).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Log-uniform in `lo..=hi`: as many values between 1 and 10 KB as
    /// between 10 and 100 KB, the usual shape of sizes.
    fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let (l, h) = (lo.max(1) as f64, hi.max(1) as f64);
        ((l * (h / l).powf(self.unit())) as u64).clamp(lo, hi)
    }

    /// One element of a slice.
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }

    /// A value from a `(value, weight)` table.
    fn weighted<T: Copy>(&mut self, table: &[(T, u32)]) -> T {
        let total: u64 = table.iter().map(|&(_, w)| u64::from(w)).sum();
        let mut x = self.below(total);
        for &(v, w) in table {
            if x < u64::from(w) {
                return v;
            }
            x -= u64::from(w);
        }
        table[table.len() - 1].0
    }

    /// A random version-4 style UUID.
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            8 + (b >> 62),
            (b >> 48) & 0xfff,
            b & 0xffff_ffff_ffff
        )
    }
}

// ---------------------------------------------------------------------------
// Text pools

/// Words of prose.
#[rustfmt::skip]
const WORDS: &[&str] = &[
    "the", "a", "function", "module", "error", "value", "config", "update", "refactor", "test",
    "build", "parser", "scanner", "state", "file", "line", "offset", "because", "should", "we",
    "I'll", "now", "then", "check", "fix", "returns", "handles", "case", "edge", "async", "stream",
    "buffer", "request", "response", "token", "cache", "session", "thread", "lock", "index", "path",
    "format", "JSON", "field", "type", "struct", "trait", "option", "result", "bytes", "read",
    "write", "commit", "branch", "merge", "deploy", "cluster", "pod", "service", "latency",
    "throughput", "benchmark", "memory", "CPU", "disk", "network", "retry", "timeout", "budget",
    "and", "of", "to", "in", "is", "it", "that", "this", "with", "for", "on", "not", "but", "so",
];
/// Identifiers for code.
#[rustfmt::skip]
const IDENTS: &[&str] = &[
    "scan_file", "read_lines", "ctx", "buf", "offset", "state", "cfg", "session_id",
    "handle_request", "parse_entry", "tokenCount", "userId", "fetchData", "render", "items", "idx",
    "len", "result", "opts", "writer", "reader", "client", "server", "router", "payload", "metrics",
    "counter", "histogram", "logger", "span", "queue", "worker", "pool", "db", "tx",
];
/// Type names for code.
#[rustfmt::skip]
const TYPES: &[&str] = &[
    "Vec<u8>", "String", "Result<()>", "Option<&str>", "HashMap<String, u64>", "Promise<void>",
    "Config", "Session", "Request", "Response", "Error", "Arc<Mutex<State>>", "number", "boolean",
];

/// Appends `n_words` random words.
fn sentence(rng: &mut Rng, s: &mut String, n_words: u64) {
    for i in 0..n_words {
        if i > 0 {
            s.push(' ');
        }
        match rng.below(40) {
            0 => {
                let _ = write!(s, "`{}`", rng.pick(IDENTS));
            }
            1 => {
                let _ = write!(s, "**{}**", rng.pick(WORDS));
            }
            2 => {
                let _ = write!(s, "\"{}\"", rng.pick(WORDS));
            }
            _ => s.push_str(rng.pick(WORDS)),
        }
    }
}

/// One raw line of code, logs or command output.
fn code_line(rng: &mut Rng, s: &mut String) {
    let indent = "    ".repeat(rng.below(4) as usize);
    let n = rng.below(10_000);
    let (a, b) = (rng.pick(IDENTS), rng.pick(IDENTS));
    let t = rng.pick(TYPES);
    let _ = match rng.below(20) {
        0 => write!(s, "{indent}let {a} = {b}.{a}(&{b}, {n})?;"),
        1 => write!(s, "{indent}fn {a}(&self, {b}: {t}) -> {t} {{"),
        2 => write!(s, "{indent}}}"),
        3 => {
            s.push_str(&indent);
            s.push_str("// ");
            let k = rng.range(3, 12);
            sentence(rng, s, k);
            Ok(())
        }
        4 => write!(s, "import {{ {a}, {b} }} from \"./{a}\";"),
        5 => write!(s, "{indent}if (!{a}) throw new Error(\"{b} is not defined: \" + {n});"),
        6 => write!(
            s,
            "2026-01-{:02}T{:02}:{:02}:{:02}.{:03}Z INFO  {a}: handled {b} (took {n} ms)",
            1 + n % 28,
            n % 24,
            n % 60,
            (n / 7) % 60,
            n % 1000
        ),
        7 => write!(s, "test {a}::{b}_{n} ... ok"),
        8 => write!(s, "\u{1b}[32m✓\u{1b}[0m {a} handles {b} ({n}ms)"),
        9 => write!(
            s,
            "/home/dev/proj{}/src/{a}/{b}.rs:{}:{}: warning: unused variable: `{a}`",
            n % 40,
            n % 900,
            n % 80
        ),
        10 => write!(s, "  \"{a}\": \"{b}-{n}\","),
        11 => write!(s, "C:\\Users\\dev\\{a}\\{b}.txt"),
        12 => write!(s, "{n}\t{a}\t{}\t{b}", n * 7),
        13 => write!(s, "résumé — naïve café “{a}” ✓ 日本語テキスト 🚀 {b}"),
        14 => Ok(()),
        15 => write!(s, "{indent}return {a}.map(|x| x * {n}).collect::<{t}>();"),
        16 => write!(s, "drwxr-xr-x  2 dev dev  4096 Jan {:2} 10:{:02} {a}", 1 + n % 28, n % 60),
        17 => write!(s, "{indent}<div className=\"{a}\">{{{b}}}</div>"),
        18 => write!(s, "{indent}match {a} {{ Some(v) => v, None => return Err({b}.into()) }}"),
        _ => write!(s, "{indent}{a}.push_str(\"{b}\\n\"); // {n}"),
    };
}

/// One raw line of prose (assistant answers, prompts, summaries).
fn prose_line(rng: &mut Rng, s: &mut String) {
    match rng.below(12) {
        0 => {
            s.push_str("- ");
            let k = rng.range(4, 16);
            sentence(rng, s, k);
        }
        1 => {
            s.push_str("## ");
            let k = rng.range(2, 6);
            sentence(rng, s, k);
        }
        2 => code_line(rng, s),
        3 => {}
        _ => {
            for _ in 0..rng.range(1, 5) {
                let k = rng.range(6, 25);
                sentence(rng, s, k);
                s.push_str(". ");
            }
        }
    }
}

/// Escapes `s` as the inside of a JSON string (non-ASCII stays UTF-8, as
/// `JSON.stringify` writes it).
fn escape_into(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 15)]);
            }
            _ => out.push(b),
        }
    }
}

/// Appends `n` random base64 characters (screenshots, signatures).
fn base64_into(rng: &mut Rng, n: u64, out: &mut Vec<u8>) {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut left = n;
    while left > 0 {
        let mut x = rng.next_u64();
        let k = left.min(10);
        for _ in 0..k {
            out.push(A[(x & 63) as usize]);
            x >>= 6;
        }
        left -= k;
    }
}

/// Pre-escaped JSON string content, cut only at line boundaries, that
/// text fields are sliced from (generating 1 GiB character by character
/// would dominate the setup time).
struct Pool {
    text: Vec<u8>,
    starts: Vec<usize>,
}

impl Pool {
    /// Builds about `size` bytes of escaped lines, each ending in `\n`.
    fn build(size: usize, rng: &mut Rng, line: fn(&mut Rng, &mut String)) -> Pool {
        let mut p = Pool { text: Vec::with_capacity(size + 4096), starts: Vec::new() };
        let mut raw = String::new();
        while p.text.len() < size {
            raw.clear();
            line(rng, &mut raw);
            p.starts.push(p.text.len());
            escape_into(&raw, &mut p.text);
            p.text.extend_from_slice(b"\\n");
        }
        p
    }

    /// Appends at least `n` bytes of whole lines from a random starting
    /// line, wrapping around.
    fn take(&self, rng: &mut Rng, n: u64, out: &mut Vec<u8>) {
        let mut pos = self.starts[rng.below(self.starts.len() as u64) as usize];
        let mut need = n as usize;
        loop {
            let avail = self.text.len() - pos;
            if need >= avail {
                out.extend_from_slice(&self.text[pos..]);
                need -= avail;
                pos = 0;
                if need == 0 {
                    return;
                }
                continue;
            }
            let want = pos + need;
            let i = self.starts.partition_point(|&s| s < want);
            let end = self.starts.get(i).copied().unwrap_or(self.text.len());
            out.extend_from_slice(&self.text[pos..end]);
            return;
        }
    }
}

/// The two text pools of a corpus.
struct Pools {
    code: Pool,
    prose: Pool,
}

impl Pools {
    /// Builds the pools for a seed.
    fn new(seed: u64) -> Pools {
        let mut rng = Rng::new(seed, u64::MAX);
        Pools {
            code: Pool::build(2 * MIB as usize, &mut rng, code_line),
            prose: Pool::build(MIB as usize, &mut rng, prose_line),
        }
    }
}

// ---------------------------------------------------------------------------
// Expected counts

/// Declares [`Tally`] with its counters, merging and JSON form.
macro_rules! tally {
    ($($(#[$m:meta])* $f:ident),* $(,)?) => {
        /// Exact counts of a corpus (or of what a scanner found in it).
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        struct Tally {
            $($(#[$m])* $f: u64,)*
            /// Lines per size bucket (see [`bucket`]).
            hist_lines: [u64; 9],
            /// Bytes per line size bucket.
            hist_bytes: [u64; 9],
        }

        impl Tally {
    /// Counts one session start of `agent`, of the given kind.
    fn session(&mut self, agent: Agent, kind: Kind) {
        match agent {
            Agent::Pi => self.sessions_pi += 1,
            Agent::Openclaw => self.sessions_openclaw += 1,
            Agent::Roundhouse => self.sessions_roundhouse += 1,
        }
        match kind {
            Kind::Main => {}
            Kind::Subagent => self.sessions_subagent += 1,
            Kind::Cron => self.sessions_cron += 1,
        }
    }

            /// Adds another tally to this one.
            fn add(&mut self, o: &Tally) {
                $(self.$f += o.$f;)*
                for i in 0..9 {
                    self.hist_lines[i] += o.hist_lines[i];
                    self.hist_bytes[i] += o.hist_bytes[i];
                }
            }

            /// The tally as a JSON object.
            fn to_json(&self) -> Value {
                let mut m = Map::new();
                $(m.insert(stringify!($f).into(), self.$f.into());)*
                m.insert("hist_lines".into(), json!(self.hist_lines));
                m.insert("hist_bytes".into(), json!(self.hist_bytes));
                Value::Object(m)
            }

            /// Reads a tally written by [`Tally::to_json`].
            fn from_json(v: &Value) -> Option<Tally> {
                let hist = |k: &str| -> Option<[u64; 9]> {
                    let a = v.get(k)?.as_array()?;
                    let mut h = [0u64; 9];
                    for (i, x) in a.iter().enumerate().take(9) {
                        h[i] = x.as_u64()?;
                    }
                    Some(h)
                };
                Some(Tally {
                    $($f: v.get(stringify!($f))?.as_u64()?,)*
                    hist_lines: hist("hist_lines")?,
                    hist_bytes: hist("hist_bytes")?,
                })
            }
        }
    };
}

tally!(
    /// Transcript files.
    files,
    /// Bytes on disk.
    bytes,
    /// Newline characters (complete lines).
    newlines,
    sessions_pi,
    sessions_openclaw,
    sessions_roundhouse,
    sessions_subagent,
    sessions_cron,
    prompts,
    turns,
    turns_error,
    turns_aborted,
    tool_calls,
    errors,
    errors_tool,
    tok_input,
    tok_output,
    tok_cache_read,
    tok_cache_write,
    lines_parsed,
    lines_ignored,
    lines_malformed,
    /// Lines that cannot be rejected by their bytes alone (everything but
    /// successful tool results, `custom_message`, `compaction` and
    /// `thinking_level_change`): a scanner must parse them.
    json_lines,
    /// Bytes of those lines.
    json_bytes,
    /// Trailing partial lines (no newline yet; never counted).
    fragments,
);

/// Upper bounds of the line size buckets (the last bucket is open).
const BUCKETS: [u64; 8] = [256, KIB, 4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, MIB, 4 * MIB];
/// Labels of the line size buckets.
const BUCKET_NAMES: [&str; 9] =
    ["<256B", "<1K", "<4K", "<16K", "<64K", "<256K", "<1M", "<4M", ">=4M"];

/// The size bucket of a line of `n` bytes.
fn bucket(n: u64) -> usize {
    BUCKETS.iter().position(|&b| n < b).unwrap_or(8)
}

impl Tally {
    /// The totals a scanner must report, keyed `metric` (sum of every
    /// point) or `metric{attr=value}` (sum of the points with that
    /// attribute value).
    fn checks(&self) -> BTreeMap<String, u64> {
        let sessions = self.sessions_pi + self.sessions_openclaw + self.sessions_roundhouse;
        [
            ("pack.session.start", sessions),
            ("pack.session.start{pack=pi}", self.sessions_pi),
            ("pack.session.start{pack=openclaw}", self.sessions_openclaw),
            ("pack.session.start{pack=roundhouse}", self.sessions_roundhouse),
            ("pack.session.start{session.type=subagent}", self.sessions_subagent),
            ("pack.session.start{session.type=cron}", self.sessions_cron),
            ("pack.user.prompt", self.prompts),
            ("pack.agent.turn", self.turns),
            ("pack.agent.turn{outcome=error}", self.turns_error),
            ("pack.agent.turn{outcome=aborted}", self.turns_aborted),
            ("pack.tool.call", self.tool_calls),
            ("pack.error", self.errors),
            ("pack.error{error.type=tool}", self.errors_tool),
            ("pack.token.usage{token.type=input}", self.tok_input),
            ("pack.token.usage{token.type=output}", self.tok_output),
            ("pack.token.usage{token.type=cache_read}", self.tok_cache_read),
            ("pack.token.usage{token.type=cache_write}", self.tok_cache_write),
            ("pack.emitter.lines{result=parsed}", self.lines_parsed),
            ("pack.emitter.lines{result=ignored}", self.lines_ignored),
            ("pack.emitter.lines{result=malformed}", self.lines_malformed),
            ("pack.emitter.lines{result=oversized}", 0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

// ---------------------------------------------------------------------------
// Corpus generation

/// Which agent wrote a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Agent {
    Pi,
    Openclaw,
    Roundhouse,
}

/// How a session was started (`session.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Main,
    Subagent,
    Cron,
}

/// How a line must be classified by the scanner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Parsed,
    Ignored,
    Malformed,
}

/// What an assistant message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Tools,
    Final,
    Error,
    Aborted,
    Mirror,
}

/// Models as `(provider, model id)`, and how often each is used.
const MODELS: &[((&str, &str), u32)] = &[
    (("anthropic", "claude-sonnet-4-5-20250929"), 35),
    (("anthropic", "claude-opus-4-6"), 20),
    (("openai", "gpt-5-codex"), 15),
    (("openai", "gpt-5"), 8),
    (("google", "gemini-2.5-pro"), 8),
    (("xai", "grok-4"), 5),
    (("amazon-bedrock", "us.anthropic.claude-opus-4-6-v1"), 5),
    (("deepseek", "deepseek-chat"), 4),
];
/// Tools pi calls, with weights.
const PI_TOOLS: &[(&str, u32)] = &[
    ("read", 30),
    ("bash", 30),
    ("edit", 15),
    ("write", 6),
    ("grep", 8),
    ("find", 4),
    ("ls", 4),
    ("web_fetch", 2),
    ("mcp__github__create_issue", 1),
];
/// Tools OpenClaw calls, with weights.
const OPENCLAW_TOOLS: &[(&str, u32)] = &[
    ("exec", 30),
    ("read", 20),
    ("edit", 10),
    ("write", 5),
    ("web_fetch", 10),
    ("memory_search", 8),
    ("message", 6),
    ("sessions_spawn", 3),
    ("browser", 3),
];
/// `errorMessage`s of failed model calls.
const ERROR_MESSAGES: &[&str] = &[
    "429 rate_limit_error: This request would exceed your organization's rate limit",
    "529 overloaded_error: Overloaded",
    "401 authentication_error: invalid x-api-key",
    "Request timed out after 600000ms",
    "400 invalid_request_error: prompt is too long: 210345 tokens > 200000 maximum",
    "terminated",
];

/// Shape of a corpus.
#[derive(Clone, Copy, Debug)]
struct Profile {
    /// Largest tool output.
    max_tool_output: u64,
    /// Base64 screenshots in prompts and reads.
    images: bool,
    /// Truncated lines and trailing partial lines.
    defects: bool,
    /// OpenClaw and roundhouse files besides pi.
    mix: bool,
}

/// The 1 GiB corpus: everything.
const BIG: Profile = Profile { max_tool_output: 6_000_000, images: true, defects: true, mix: true };
/// The 10,000-file corpus: small pi sessions, complete lines only.
const SMALL: Profile =
    Profile { max_tool_output: 4 * KIB, images: false, defects: false, mix: false };

/// How big the files of a corpus are.
#[derive(Clone, Copy, Debug)]
enum Sizing {
    /// About `bytes` in total, in `files` files (or as many as it takes).
    Total { bytes: u64, files: Option<usize> },
    /// `count` files, each log-uniform in `lo..hi`.
    PerFile { count: usize, lo: u64, hi: u64 },
}

/// One file to generate.
#[derive(Clone, Debug)]
struct Plan {
    path: PathBuf,
    agent: Agent,
    kind: Kind,
    target: u64,
    start_ms: u64,
    session: String,
    cwd: String,
    stream: u64,
}

/// Where a generated file left off, so that more can be appended.
#[derive(Clone, Debug)]
struct Cursor {
    path: PathBuf,
    agent: Agent,
    ts_ms: u64,
    last_id: Option<u32>,
    model: usize,
    rng: Rng,
}

/// A generated corpus.
struct Corpus {
    home: PathBuf,
    tally: Tally,
    cursors: Vec<Cursor>,
    pools: Pools,
}

/// One tool call an assistant message made.
struct Call {
    id: String,
    tool: &'static str,
}

/// Writes the lines of one file and keeps its exact counts.
struct Gen<'p, W: Write> {
    out: W,
    pools: &'p Pools,
    rng: Rng,
    line: Vec<u8>,
    agent: Agent,
    profile: Profile,
    cap: u64,
    ts_ms: u64,
    last_id: Option<u32>,
    model: usize,
    written: u64,
    limit: u64,
    tally: Tally,
}

/// Appends an ISO timestamp (`2026-01-05T10:22:33.123Z`); with
/// `file_name`, `:` and `.` become `-` as in pi's file names.
fn push_iso(out: &mut Vec<u8>, ms: u64, file_name: bool) {
    let secs = ms / 1000;
    let (y, m, d) = telemetron::util::civil_from_days(secs / 86_400);
    let sod = secs % 86_400;
    let (c, dot) = if file_name { ('-', '-') } else { (':', '.') };
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}{c}{:02}{c}{:02}{dot}{:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        ms % 1000
    );
}

/// Size of one tool output: mostly small, a long tail up to ~6 MB.
fn tool_output_len(rng: &mut Rng) -> u64 {
    let r = rng.unit();
    let (lo, hi) = if r < 0.50 {
        (80, 1_500)
    } else if r < 0.80 {
        (1_500, 12_000)
    } else if r < 0.95 {
        (12_000, 64_000)
    } else if r < 0.995 {
        (64_000, 512_000)
    } else if r < 0.9995 {
        (512_000, 2_000_000)
    } else {
        (2_000_000, 6_000_000)
    };
    rng.log_uniform(lo, hi)
}

impl<W: Write> Gen<'_, W> {
    /// True once the file reached its target size.
    fn full(&self) -> bool {
        self.written >= self.limit
    }

    /// Appends about `lo..hi` bytes (log-uniform) of escaped prose.
    fn prose(&mut self, lo: u64, hi: u64) {
        let n = self.rng.log_uniform(lo, hi);
        self.pools.prose.take(&mut self.rng, n, &mut self.line);
    }

    /// Appends about `lo..hi` bytes (log-uniform) of escaped code.
    fn code(&mut self, lo: u64, hi: u64) {
        let n = self.rng.log_uniform(lo, hi);
        self.pools.code.take(&mut self.rng, n, &mut self.line);
    }

    /// Appends a file path.
    fn path(&mut self) {
        let (a, b) = (self.rng.pick(IDENTS), self.rng.pick(IDENTS));
        let p = self.rng.below(40);
        let _ = write!(self.line, "/home/dev/proj{p}/src/{a}/{b}.rs");
    }

    /// Writes the current line plus `\n` and counts it as `class`.
    fn emit(&mut self, class: Class) -> io::Result<()> {
        self.emit_line(class, true)
    }

    /// Writes an ignored line that a scanner can reject by its bytes alone
    /// (tool output, injected context, summaries), without parsing it.
    fn emit_skippable(&mut self) -> io::Result<()> {
        self.emit_line(Class::Ignored, false)
    }

    /// Writes the current line plus `\n`, counted as `class`; `json` says
    /// whether deciding that needs a JSON parse.
    fn emit_line(&mut self, class: Class, json: bool) -> io::Result<()> {
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        let n = self.line.len() as u64;
        self.written += n;
        let t = &mut self.tally;
        t.bytes += n;
        t.newlines += 1;
        t.hist_lines[bucket(n)] += 1;
        t.hist_bytes[bucket(n)] += n;
        if json {
            t.json_lines += 1;
            t.json_bytes += n;
        }
        match class {
            Class::Parsed => t.lines_parsed += 1,
            Class::Ignored => t.lines_ignored += 1,
            Class::Malformed => t.lines_malformed += 1,
        }
        self.line.clear();
        Ok(())
    }

    /// Starts an entry of type `ty` a little after the previous one: type,
    /// id, parentId, timestamp.
    fn begin(&mut self, ty: &str) -> io::Result<()> {
        self.ts_ms += self.rng.range(30, 3_000);
        self.begin_now(ty)
    }

    /// Starts an entry of type `ty` at the current timestamp (the caller
    /// moved it forward).
    fn begin_now(&mut self, ty: &str) -> io::Result<()> {
        let id = self.rng.next_u64() as u32;
        write!(self.line, "{{\"type\":\"{ty}\",\"id\":\"{id:08x}\",\"parentId\":")?;
        match self.last_id {
            Some(p) => write!(self.line, "\"{p:08x}\"")?,
            None => self.line.extend_from_slice(b"null"),
        }
        self.line.extend_from_slice(b",\"timestamp\":\"");
        push_iso(&mut self.line, self.ts_ms, false);
        self.line.push(b'"');
        self.last_id = Some(id);
        Ok(())
    }

    /// The session header.
    fn header(&mut self, id: &str, cwd: &str, kind: Kind) -> io::Result<()> {
        write!(self.line, "{{\"type\":\"session\",\"version\":3,\"id\":\"{id}\",\"timestamp\":\"")?;
        push_iso(&mut self.line, self.ts_ms, false);
        write!(self.line, "\",\"cwd\":\"{cwd}\"}}")?;
        self.tally.session(self.agent, kind);
        self.emit(Class::Parsed)
    }

    /// A `model_change` to a newly drawn model.
    fn model_change(&mut self) -> io::Result<()> {
        self.model = self.pick_model();
        let (p, m) = MODELS[self.model].0;
        self.begin("model_change")?;
        write!(self.line, ",\"provider\":\"{p}\",\"modelId\":\"{m}\"}}")?;
        self.emit(Class::Ignored)
    }

    /// Draws a model index.
    fn pick_model(&mut self) -> usize {
        let idx: Vec<(usize, u32)> = MODELS.iter().enumerate().map(|(i, m)| (i, m.1)).collect();
        self.rng.weighted(&idx)
    }

    /// A `thinking_level_change`.
    fn thinking_level(&mut self) -> io::Result<()> {
        let level = self.rng.pick(&["low", "medium", "high"]);
        self.begin("thinking_level_change")?;
        write!(self.line, ",\"thinkingLevel\":\"{level}\"}}")?;
        self.emit_skippable()
    }

    /// Builds a user prompt into the line buffer without writing it.
    fn build_user(&mut self) -> io::Result<()> {
        self.ts_ms += self.rng.range(5_000, 900_000);
        self.begin_now("message")?;
        self.line.extend_from_slice(b",\"message\":{\"role\":\"user\",\"content\":");
        if self.rng.chance(0.2) {
            self.line.push(b'"');
            self.prose(20, 2_000);
            self.line.push(b'"');
        } else {
            self.line.extend_from_slice(b"[{\"type\":\"text\",\"text\":\"");
            if self.rng.chance(0.05) {
                self.prose(20, 300);
                self.code(3_000, 40_000);
            } else {
                self.prose(20, 3_000);
            }
            self.line.extend_from_slice(b"\"}");
            if self.profile.images && self.rng.chance(0.015) {
                self.line.extend_from_slice(b",{\"type\":\"image\",\"data\":\"");
                let n = self.rng.log_uniform(30_000, 500_000);
                base64_into(&mut self.rng, n, &mut self.line);
                self.line.extend_from_slice(b"\",\"mimeType\":\"image/png\"}");
            }
            self.line.push(b']');
        }
        write!(self.line, ",\"timestamp\":{}}}}}", self.ts_ms)?;
        Ok(())
    }

    /// A user prompt.
    fn user(&mut self) -> io::Result<()> {
        self.build_user()?;
        self.tally.prompts += 1;
        self.emit(Class::Parsed)
    }

    /// A user line cut short and then continued on a new line, as a crash
    /// mid-write leaves it: malformed JSON.
    fn malformed(&mut self) -> io::Result<()> {
        self.build_user()?;
        let cut = self.rng.range(20, self.line.len() as u64 - 1) as usize;
        self.line.truncate(cut);
        self.emit(Class::Malformed)
    }

    /// A partial last line (the agent is still writing it): no newline, so
    /// it is not a line yet and must not be counted.
    fn fragment(&mut self) -> io::Result<()> {
        self.build_user()?;
        let cut = self.rng.range(20, self.line.len() as u64 - 1) as usize;
        self.line.truncate(cut);
        self.out.write_all(&self.line)?;
        self.written += cut as u64;
        self.tally.bytes += cut as u64;
        self.tally.fragments += 1;
        self.line.clear();
        Ok(())
    }

    /// A tool call block inside an assistant message.
    fn tool_call(&mut self) -> io::Result<Call> {
        let table = if self.agent == Agent::Openclaw { OPENCLAW_TOOLS } else { PI_TOOLS };
        let tool = self.rng.weighted(table);
        let mut id = String::from("toolu_01");
        let mut b = Vec::with_capacity(22);
        base64_into(&mut self.rng, 22, &mut b);
        id.extend(b.iter().map(|&c| if c == b'+' || c == b'/' { 'x' } else { char::from(c) }));
        write!(
            self.line,
            "{{\"type\":\"toolCall\",\"id\":\"{id}\",\"name\":\"{tool}\",\"arguments\":{{"
        )?;
        match tool {
            "bash" | "exec" => {
                self.line.extend_from_slice(b"\"command\":\"");
                self.code(20, 300);
                self.line.extend_from_slice(b"\",\"timeout\":120");
            }
            "read" => {
                self.line.extend_from_slice(b"\"path\":\"");
                self.path();
                self.line.push(b'"');
                if self.rng.chance(0.3) {
                    let (o, l) = (self.rng.range(1, 2000), self.rng.range(50, 400));
                    write!(self.line, ",\"offset\":{o},\"limit\":{l}")?;
                }
            }
            "edit" => {
                self.line.extend_from_slice(b"\"path\":\"");
                self.path();
                self.line.extend_from_slice(b"\",\"oldText\":\"");
                self.code(80, 1_500);
                self.line.extend_from_slice(b"\",\"newText\":\"");
                self.code(80, 3_000);
                self.line.push(b'"');
            }
            "write" => {
                self.line.extend_from_slice(b"\"path\":\"");
                self.path();
                self.line.extend_from_slice(b"\",\"content\":\"");
                self.code(500, 24_000);
                self.line.push(b'"');
            }
            "grep" | "find" | "ls" => {
                let a = self.rng.pick(IDENTS);
                write!(self.line, "\"pattern\":\"{a}\",\"path\":\"src\",\"glob\":\"*.rs\"")?;
            }
            "web_fetch" | "browser" => {
                let (a, b) = (self.rng.pick(IDENTS), self.rng.pick(IDENTS));
                write!(self.line, "\"url\":\"https://docs.example.com/{a}/{b}?v=2\"")?;
            }
            _ => {
                self.line.extend_from_slice(b"\"text\":\"");
                self.prose(20, 1_500);
                self.line.push(b'"');
            }
        }
        self.line.extend_from_slice(b"}}");
        Ok(Call { id, tool })
    }

    /// An assistant message; returns the tool calls it made.
    fn assistant(&mut self, step: Step) -> io::Result<Vec<Call>> {
        self.ts_ms += self.rng.range(800, 60_000);
        self.begin_now("message")?;
        self.line.extend_from_slice(b",\"message\":{\"role\":\"assistant\",\"content\":[");
        let mut calls = Vec::new();
        match step {
            Step::Error => {}
            Step::Mirror => {
                self.line.extend_from_slice(b"{\"type\":\"text\",\"text\":\"");
                self.prose(100, 2_000);
                self.line.extend_from_slice(b"\"}");
            }
            _ => {
                let mut first = true;
                if self.rng.chance(0.6) {
                    self.line.extend_from_slice(b"{\"type\":\"thinking\",\"thinking\":\"");
                    self.prose(100, 5_000);
                    self.line.extend_from_slice(b"\",\"thinkingSignature\":\"");
                    let n = self.rng.range(300, 1_400);
                    base64_into(&mut self.rng, n, &mut self.line);
                    self.line.extend_from_slice(b"\"}");
                    first = false;
                }
                let text = match step {
                    Step::Final => Some((300, 12_000)),
                    Step::Aborted => Some((20, 600)),
                    _ if self.rng.chance(0.5) => Some((40, 1_200)),
                    _ => None,
                };
                if let Some((lo, hi)) = text {
                    if !first {
                        self.line.push(b',');
                    }
                    self.line.extend_from_slice(b"{\"type\":\"text\",\"text\":\"");
                    self.prose(lo, hi);
                    self.line.extend_from_slice(b"\"}");
                    first = false;
                }
                if step == Step::Tools {
                    let n = match self.rng.below(10) {
                        0..=6 => 1,
                        7 | 8 => 2,
                        _ => self.rng.range(3, 6),
                    };
                    for _ in 0..n {
                        if !first {
                            self.line.push(b',');
                        }
                        first = false;
                        calls.push(self.tool_call()?);
                    }
                }
            }
        }
        self.line.push(b']');
        let (provider, model) = if step == Step::Mirror {
            ("openclaw", "delivery-mirror")
        } else {
            MODELS[self.model].0
        };
        let api = match provider {
            "openai" => "openai-responses",
            "google" => "google-generative-ai",
            _ => "anthropic-messages",
        };
        write!(self.line, ",\"api\":\"{api}\",\"provider\":\"{provider}\",\"model\":\"{model}\"")?;
        let (input, output, cache_read, cache_write) = match step {
            Step::Error | Step::Mirror => (0, 0, 0, 0),
            _ => {
                let input = if self.rng.chance(0.1) {
                    self.rng.range(10_000, 80_000)
                } else {
                    self.rng.range(1, 6_000)
                };
                (
                    input,
                    self.rng.range(20, 4_000),
                    self.rng.range(0, 180_000),
                    self.rng.range(0, 20_000),
                )
            }
        };
        let total = input + output + cache_read + cache_write;
        let cost = |n: u64, per_m: f64| n as f64 * per_m / 1e6;
        write!(
            self.line,
            ",\"usage\":{{\"input\":{input},\"output\":{output},\"cacheRead\":{cache_read},\
             \"cacheWrite\":{cache_write},\"totalTokens\":{total},\"cost\":{{\"input\":{:.6},\
             \"output\":{:.6},\"cacheRead\":{:.6},\"cacheWrite\":{:.6},\"total\":{:.6}}}}}",
            cost(input, 3.0),
            cost(output, 15.0),
            cost(cache_read, 0.3),
            cost(cache_write, 3.75),
            cost(input, 3.0) + cost(output, 15.0) + cost(cache_read, 0.3) + cost(cache_write, 3.75)
        )?;
        let stop = match step {
            Step::Tools => "toolUse",
            Step::Final | Step::Mirror => "stop",
            Step::Error => "error",
            Step::Aborted => "aborted",
        };
        write!(self.line, ",\"stopReason\":\"{stop}\",\"timestamp\":{}", self.ts_ms)?;
        if step == Step::Error {
            let msg = self.rng.pick(ERROR_MESSAGES);
            write!(self.line, ",\"errorMessage\":\"{msg}\"")?;
        }
        self.line.extend_from_slice(b"}}");
        if step == Step::Mirror {
            self.emit(Class::Ignored)?;
            return Ok(calls);
        }
        let t = &mut self.tally;
        t.turns += 1;
        t.tool_calls += calls.len() as u64;
        t.tok_input += input;
        t.tok_output += output;
        t.tok_cache_read += cache_read;
        t.tok_cache_write += cache_write;
        match step {
            Step::Error => {
                t.turns_error += 1;
                t.errors += 1;
            }
            Step::Aborted => t.turns_aborted += 1,
            _ => {}
        }
        self.emit(Class::Parsed)?;
        Ok(calls)
    }

    /// The result of one tool call.
    fn tool_result(&mut self, call: &Call) -> io::Result<()> {
        self.ts_ms += self.rng.range(50, 30_000);
        self.begin_now("message")?;
        write!(
            self.line,
            ",\"message\":{{\"role\":\"toolResult\",\"toolCallId\":\"{}\",\"toolName\":\"{}\",\
             \"content\":[",
            call.id, call.tool
        )?;
        let error = self.rng.chance(0.04);
        let mut details = false;
        if error {
            self.line.extend_from_slice(b"{\"type\":\"text\",\"text\":\"");
            self.code(50, 800);
            self.line.extend_from_slice(b"\"}");
        } else if call.tool == "read" && self.profile.images && self.rng.chance(0.02) {
            self.line.extend_from_slice(b"{\"type\":\"image\",\"data\":\"");
            let n = self.rng.log_uniform(20_000, 600_000).min(self.cap);
            base64_into(&mut self.rng, n, &mut self.line);
            self.line.extend_from_slice(b"\",\"mimeType\":\"image/png\"}");
        } else {
            self.line.extend_from_slice(b"{\"type\":\"text\",\"text\":\"");
            match call.tool {
                "write" => {
                    let n = self.rng.range(100, 30_000);
                    write!(self.line, "Successfully wrote {n} bytes to ")?;
                    self.path();
                }
                "edit" => {
                    self.line.extend_from_slice(b"Successfully replaced text in ");
                    self.path();
                    details = true;
                }
                "message" | "sessions_spawn" | "memory_search" => self.prose(50, 1_500),
                _ => {
                    let n = tool_output_len(&mut self.rng).min(self.cap);
                    self.pools.code.take(&mut self.rng, n, &mut self.line);
                }
            }
            self.line.extend_from_slice(b"\"}");
        }
        self.line.push(b']');
        if details {
            self.line.extend_from_slice(b",\"details\":{\"diff\":\"");
            self.code(100, 3_000);
            let l = self.rng.range(1, 900);
            write!(self.line, "\",\"firstChangedLine\":{l}}}")?;
        }
        write!(self.line, ",\"isError\":{error},\"timestamp\":{}}}}}", self.ts_ms)?;
        if error {
            self.tally.errors += 1;
            self.tally.errors_tool += 1;
            self.emit(Class::Parsed)
        } else {
            self.emit_skippable()
        }
    }

    /// A `custom_message` (injected context; never counted).
    fn custom_message(&mut self) -> io::Result<()> {
        self.begin("custom_message")?;
        self.line.extend_from_slice(b",\"customType\":\"pi.context\",\"content\":\"");
        self.prose(200, 6_000);
        self.line.extend_from_slice(b"\",\"display\":false}");
        self.emit_skippable()
    }

    /// A `compaction` with a long summary (never counted).
    fn compaction(&mut self) -> io::Result<()> {
        self.begin("compaction")?;
        self.line.extend_from_slice(b",\"summary\":\"");
        self.prose(1_000, 12_000);
        let (id, before) = (self.rng.next_u64() as u32, self.rng.range(50_000, 200_000));
        write!(self.line, "\",\"firstKeptEntryId\":\"{id:08x}\",\"tokensBefore\":{before}}}")?;
        self.emit_skippable()
    }

    /// An OpenClaw `model-snapshot` custom record (changes the model, not
    /// counted).
    fn snapshot(&mut self) -> io::Result<()> {
        self.model = self.pick_model();
        let (p, m) = MODELS[self.model].0;
        self.begin("custom")?;
        write!(
            self.line,
            ",\"customType\":\"model-snapshot\",\"data\":{{\"timestamp\":{},\"provider\":\"{p}\",\
             \"modelApi\":\"openai-completions\",\"modelId\":\"{m}\"}}}}",
            self.ts_ms
        )?;
        self.emit(Class::Ignored)
    }

    /// An OpenClaw `openclaw:prompt-error` custom record (an error).
    fn custom_error(&mut self) -> io::Result<()> {
        let (p, m) = MODELS[self.model].0;
        let run = self.rng.uuid();
        self.begin("custom")?;
        write!(
            self.line,
            ",\"customType\":\"openclaw:prompt-error\",\"data\":{{\"timestamp\":{},\"runId\":\
             \"{run}\",\"provider\":\"{p}\",\"model\":\"{m}\",\"api\":\"anthropic-messages\",\
             \"error\":\"",
            self.ts_ms
        )?;
        self.prose(40, 400);
        self.line.extend_from_slice(b"\"}}");
        self.tally.errors += 1;
        self.emit(Class::Parsed)
    }

    /// One prompt and everything the agent did about it. Returns false
    /// once the file is full (possibly in the middle of the exchange, as an
    /// interrupted session would be).
    fn round(&mut self) -> io::Result<bool> {
        if self.full() {
            return Ok(false);
        }
        let openclaw = self.agent == Agent::Openclaw;
        if self.rng.chance(0.03) {
            self.model_change()?;
        }
        if self.rng.chance(0.06) {
            self.custom_message()?;
        }
        if openclaw && self.rng.chance(0.05) {
            self.snapshot()?;
        }
        if self.rng.chance(0.015) {
            self.compaction()?;
        }
        if self.profile.defects && self.rng.chance(0.002) {
            self.malformed()?;
        }
        self.user()?;
        let mut steps = 1;
        while steps < 30 && self.rng.chance(0.75) {
            steps += 1;
        }
        for step in 0..steps {
            if self.full() {
                return Ok(false);
            }
            let r = self.rng.unit();
            if r < 0.015 {
                self.assistant(Step::Error)?;
                break;
            }
            if r < 0.025 {
                self.assistant(Step::Aborted)?;
                break;
            }
            if step + 1 == steps {
                self.assistant(Step::Final)?;
                if openclaw && self.rng.chance(0.3) {
                    self.assistant(Step::Mirror)?;
                }
                break;
            }
            for call in self.assistant(Step::Tools)? {
                if self.full() {
                    return Ok(false);
                }
                self.tool_result(&call)?;
            }
        }
        if openclaw && self.rng.chance(0.02) {
            self.custom_error()?;
        }
        Ok(!self.full())
    }

    /// Where this file left off.
    fn cursor(&self, path: &Path) -> Cursor {
        Cursor {
            path: path.to_path_buf(),
            agent: self.agent,
            ts_ms: self.ts_ms,
            last_id: self.last_id,
            model: self.model,
            rng: self.rng.clone(),
        }
    }
}

/// Decides every file of a corpus: path, agent, session type and size.
fn plan_corpus(home: &Path, seed: u64, sizing: Sizing, profile: Profile) -> Vec<Plan> {
    let mut rng = Rng::new(seed, 0);
    let sizes: Vec<u64> = match sizing {
        Sizing::Total { bytes, files: Some(n) } => {
            let w: Vec<f64> = (0..n).map(|_| rng.log_uniform(1_000, 64_000) as f64).collect();
            let sum: f64 = w.iter().sum();
            w.iter().map(|x| ((x / sum) * bytes as f64) as u64).collect()
        }
        Sizing::Total { bytes, files: None } => {
            let mut v = Vec::new();
            let mut sum = 0;
            while sum < bytes {
                let s = rng.log_uniform(16 * KIB, 32 * MIB).min(bytes - sum);
                v.push(s);
                sum += s;
            }
            v
        }
        Sizing::PerFile { count, lo, hi } => (0..count).map(|_| rng.log_uniform(lo, hi)).collect(),
    };
    let projects = (sizes.len() as u64 / 25).clamp(1, 400);
    sizes
        .iter()
        .enumerate()
        .map(|(i, &target)| {
            let start_ms = EPOCH_2026_MS + i as u64 * 7_200_000 + rng.below(3_600_000);
            let session = rng.uuid();
            let mut stamp = Vec::new();
            push_iso(&mut stamp, start_ms, true);
            let stamp = String::from_utf8(stamp).expect("ascii");
            let r = if profile.mix { rng.below(100) } else { 0 };
            let (agent, kind, path, cwd) = if r < 84 {
                let p = rng.below(projects);
                let path = home
                    .join(".pi/agent/sessions")
                    .join(format!("--home-dev-proj{p}--"))
                    .join(format!("{stamp}_{session}.jsonl"));
                (Agent::Pi, Kind::Main, path, format!("/home/dev/proj{p}"))
            } else if r < 94 {
                let kind = match rng.below(20) {
                    0..=4 => Kind::Subagent,
                    5 | 6 => Kind::Cron,
                    _ => Kind::Main,
                };
                let path =
                    home.join(".openclaw/agents/main/sessions").join(format!("{session}.jsonl"));
                (Agent::Openclaw, kind, path, "/home/dev/.openclaw/workspace".to_string())
            } else {
                let (kind, thread) = if rng.chance(0.25) {
                    (Kind::Cron, format!("cron_cnightly_c{}", rng.below(3)))
                } else {
                    (Kind::Main, "main".to_string())
                };
                let path = home
                    .join(".roundhouse/sessions")
                    .join(thread)
                    .join(format!("{stamp}_{session}.jsonl"));
                (Agent::Roundhouse, kind, path, "/home/dev/rh".to_string())
            };
            Plan { path, agent, kind, target, start_ms, session, cwd, stream: i as u64 + 1 }
        })
        .collect()
}

/// Writes one planned file; returns its counts and where it left off.
fn generate_file(
    plan: &Plan,
    pools: &Pools,
    profile: Profile,
    seed: u64,
) -> io::Result<(Tally, Cursor)> {
    if let Some(dir) = plan.path.parent() {
        fs::create_dir_all(dir)?;
    }
    let file = File::create(&plan.path)?;
    let mut g = Gen {
        out: BufWriter::with_capacity(256 * KIB as usize, file),
        pools,
        rng: Rng::new(seed, plan.stream),
        line: Vec::with_capacity(64 * KIB as usize),
        agent: plan.agent,
        profile,
        cap: (plan.target / 3).max(4 * KIB).min(profile.max_tool_output),
        ts_ms: plan.start_ms,
        last_id: None,
        model: 0,
        written: 0,
        limit: plan.target,
        tally: Tally { files: 1, ..Tally::default() },
    };
    g.header(&plan.session, &plan.cwd, plan.kind)?;
    g.model_change()?;
    g.thinking_level()?;
    while g.round()? {}
    if profile.defects && g.rng.chance(0.04) {
        g.fragment()?;
    }
    g.out.flush()?;
    let cursor = g.cursor(&plan.path);
    Ok((g.tally, cursor))
}

/// Generates a whole corpus under `home` (in parallel, one file per task;
/// the result does not depend on scheduling).
fn generate(home: &Path, seed: u64, sizing: Sizing, profile: Profile) -> Res<Corpus> {
    let pools = Pools::new(seed);
    let plans = plan_corpus(home, seed, sizing, profile);
    let results: Vec<io::Result<(Tally, Cursor)>> =
        plans.par_iter().map(|p| generate_file(p, &pools, profile, seed)).collect();
    let mut tally = Tally::default();
    let mut cursors = Vec::with_capacity(plans.len());
    for r in results {
        let (t, c) = r?;
        tally.add(&t);
        cursors.push(c);
    }
    // OpenClaw's index says which sessions are subagents or cron jobs.
    let mut index = Map::new();
    for (i, p) in plans.iter().enumerate().filter(|(_, p)| p.agent == Agent::Openclaw) {
        let key = match p.kind {
            Kind::Main => format!("agent:main:telegram:direct:{i}"),
            Kind::Subagent => format!("agent:main:subagent:{}", p.session),
            Kind::Cron => format!("cron:nightly-{i}"),
        };
        index.insert(key, json!({"sessionId": p.session, "updatedAt": p.start_ms}));
    }
    if !index.is_empty() {
        let dir = home.join(".openclaw/agents/main/sessions");
        fs::write(dir.join("sessions.json"), serde_json::to_vec_pretty(&Value::Object(index))?)?;
    }
    Ok(Corpus { home: home.to_path_buf(), tally, cursors, pools })
}

/// Appends complete exchanges, `budget` bytes or a little more, to the
/// file of `cursor`; returns their exact counts.
fn append_to(
    cursor: &mut Cursor,
    pools: &Pools,
    profile: Profile,
    budget: u64,
) -> io::Result<Tally> {
    let file = OpenOptions::new().append(true).open(&cursor.path)?;
    let mut g = Gen {
        out: BufWriter::new(file),
        pools,
        rng: cursor.rng.clone(),
        line: Vec::new(),
        agent: cursor.agent,
        profile,
        cap: profile.max_tool_output,
        ts_ms: cursor.ts_ms,
        last_id: cursor.last_id,
        model: cursor.model,
        written: 0,
        limit: budget,
        tally: Tally::default(),
    };
    while g.round()? {}
    g.out.flush()?;
    *cursor = g.cursor(&cursor.path);
    Ok(g.tally)
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

/// Session type of an OpenClaw session key (mirrors OpenClaw's naming).
fn openclaw_key_kind(key: &str) -> Kind {
    let parts: Vec<&str> = key.split(':').collect();
    if parts.contains(&"subagent") {
        Kind::Subagent
    } else if parts.contains(&"cron") {
        Kind::Cron
    } else {
        Kind::Main
    }
}

/// Agent and session type of a file, from its path (and OpenClaw's index,
/// cached per directory).
fn classify_path(
    path: &Path,
    indexes: &mut HashMap<PathBuf, HashMap<String, Kind>>,
) -> (Agent, Kind) {
    let s = path.to_string_lossy();
    if s.contains("/.openclaw/") {
        let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        let idx = indexes.entry(dir.clone()).or_insert_with(|| {
            let v: Value = fs::read(dir.join("sessions.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            let mut m = HashMap::new();
            if let Some(o) = v.as_object() {
                for (k, e) in o {
                    if let Some(id) = e.get("sessionId").and_then(Value::as_str) {
                        m.insert(id.to_string(), openclaw_key_kind(k));
                    }
                }
            }
            m
        });
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let id = stem.split_once("-topic-").map_or(stem, |(a, _)| a);
        (Agent::Openclaw, idx.get(id).copied().unwrap_or(Kind::Main))
    } else if s.contains("/.roundhouse/") {
        let kind = if s.contains("/.roundhouse/subagents/") {
            Kind::Subagent
        } else if s.contains("/.roundhouse/sessions/cron_c") {
            Kind::Cron
        } else {
            Kind::Main
        };
        (Agent::Roundhouse, kind)
    } else {
        (Agent::Pi, Kind::Main)
    }
}

/// The naive baseline: every complete line parsed into a
/// `serde_json::Value`, then counted.
fn naive_scan(files: &[PathBuf]) -> Res<Tally> {
    let mut t = Tally::default();
    let mut indexes = HashMap::new();
    for path in files {
        let data = fs::read(path)?;
        t.files += 1;
        t.bytes += data.len() as u64;
        let (agent, kind) = classify_path(path, &mut indexes);
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', &data) {
            let line = &data[start..nl];
            start = nl + 1;
            t.newlines += 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let class = if line.iter().all(u8::is_ascii_whitespace) {
                Class::Ignored
            } else {
                match serde_json::from_slice::<Value>(line) {
                    Ok(v) => naive_entry(&v, agent, kind, &mut t),
                    Err(_) => Class::Malformed,
                }
            };
            match class {
                Class::Parsed => t.lines_parsed += 1,
                Class::Ignored => t.lines_ignored += 1,
                Class::Malformed => t.lines_malformed += 1,
            }
        }
        if start < data.len() {
            t.fragments += 1;
        }
    }
    Ok(t)
}

/// Counts one parsed entry the way the metrics contract defines it.
fn naive_entry(v: &Value, agent: Agent, kind: Kind, t: &mut Tally) -> Class {
    let Some(obj) = v.as_object() else { return Class::Malformed };
    match obj.get("type").and_then(Value::as_str) {
        Some("session") => {
            t.session(agent, kind);
            Class::Parsed
        }
        Some("custom") => {
            let ct = obj.get("customType").and_then(Value::as_str).unwrap_or("");
            if ct.to_ascii_lowercase().contains("error") {
                t.errors += 1;
                Class::Parsed
            } else {
                Class::Ignored
            }
        }
        Some("message") => {
            let m = &obj["message"];
            match m["role"].as_str() {
                Some("user") => {
                    t.prompts += 1;
                    Class::Parsed
                }
                Some("assistant") => {
                    if m["provider"] == "openclaw" && m["model"] == "delivery-mirror" {
                        return Class::Ignored;
                    }
                    t.turns += 1;
                    match m["stopReason"].as_str() {
                        Some("error") => {
                            t.turns_error += 1;
                            t.errors += 1;
                        }
                        Some("aborted") => t.turns_aborted += 1,
                        _ => {}
                    }
                    if let Some(blocks) = m["content"].as_array() {
                        t.tool_calls +=
                            blocks.iter().filter(|b| b["type"] == "toolCall").count() as u64;
                    }
                    let u = &m["usage"];
                    t.tok_input += u["input"].as_u64().unwrap_or(0);
                    t.tok_output += u["output"].as_u64().unwrap_or(0);
                    t.tok_cache_read += u["cacheRead"].as_u64().unwrap_or(0);
                    t.tok_cache_write += u["cacheWrite"].as_u64().unwrap_or(0);
                    Class::Parsed
                }
                Some("toolResult") if m["isError"] == true => {
                    t.errors += 1;
                    t.errors_tool += 1;
                    Class::Parsed
                }
                _ => Class::Ignored,
            }
        }
        _ => Class::Ignored,
    }
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
                    let value = match &dp["asInt"] {
                        Value::String(s) => s.parse::<u64>()?,
                        Value::Number(n) => n.as_u64().ok_or("negative asInt")?,
                        _ => return Err(format!("{metric}: data point without asInt").into()),
                    };
                    out.push(Point { metric: metric.clone(), attrs, value });
                }
            }
        }
    }
    Ok(out)
}

/// The scanner's answer for every key of `expected` (see
/// [`Tally::checks`] for the key syntax).
fn observed(points: &[Point], expected: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    expected
        .keys()
        .map(|key| {
            let (metric, filter) = match key.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}').split_once('=')),
                None => (key.as_str(), None),
            };
            let sum = points
                .iter()
                .filter(|p| p.metric == metric)
                .filter(|p| filter.is_none_or(|(k, v)| p.attrs.get(k).is_some_and(|x| x == v)))
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
    json: Map<String, Value>,
    notes: Vec<String>,
    checks: Vec<String>,
}

impl Report {
    /// The row named `name`, if measured.
    fn row(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.name == name)
    }

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

/// The big corpus: reused from `root/big` when its manifest matches the
/// options, else generated there. Returns the corpus home, its tally and
/// how it was obtained.
fn big_corpus(root: &Path, opts: &Options) -> Res<(PathBuf, Tally, String)> {
    let dir = root.join("big");
    let home = dir.join("home");
    let manifest = dir.join("manifest.json");
    let params = json!({
        "generator": GENERATOR_VERSION,
        "seed": opts.seed,
        "size": opts.size,
        "files": opts.files,
    });
    if let Some(v) = fs::read(&manifest).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    {
        if v["params"] == params && v["complete"] == true {
            if let Some(t) = Tally::from_json(&v["tally"]) {
                let files = list_jsonl(&home)?;
                let bytes: u64 =
                    files.iter().map(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0)).sum();
                if files.len() as u64 == t.files && bytes == t.bytes {
                    return Ok((home, t, format!("reused from {}", dir.display())));
                }
            }
        }
    }
    reset_dir(&dir, "manifest.json")?;
    fs::write(&manifest, serde_json::to_vec(&json!({"params": params, "complete": false}))?)?;
    let started = Instant::now();
    let sizing = Sizing::Total { bytes: opts.size, files: opts.files };
    let corpus = generate(&home, opts.seed, sizing, BIG)?;
    let secs = started.elapsed().as_secs_f64();
    let doc = json!({"params": params, "complete": true, "tally": corpus.tally.to_json()});
    fs::write(&manifest, serde_json::to_vec_pretty(&doc)?)?;
    let how =
        format!("generated in {secs:.1} s ({:.0} MB/s)", corpus.tally.bytes as f64 / 1e6 / secs);
    Ok((home, corpus.tally, how))
}

/// Cold scans: dry runs of the binary on an empty state, asserted.
fn stage_cold(ctx: &Ctx, home: &Path, tally: &Tally, report: &mut Report) -> Res<()> {
    let expected = tally.checks();
    for &t in &ctx.opts.threads {
        wait_quiet(&ctx.quiet, "the cold scan");
        let probe = LoadProbe::start();
        let (mut time, mut cpu, mut rss) = (Samples::default(), Samples::default(), 0);
        for run in 0..ctx.opts.runs {
            let state = ctx.scratch.join(format!("state-cold-t{t}-{run}"));
            fs::create_dir_all(&state)?;
            let mut cmd = telemetron(&ctx.bin, home, &state, &ctx.config);
            cmd.arg("--dry-run").arg("--threads").arg(t.to_string());
            let r = run_child(&mut cmd, true)?;
            expect_success("telemetron scan --dry-run", &r)?;
            let v: Value = serde_json::from_slice(&r.stdout)
                .map_err(|e| format!("dry-run output is not JSON: {e}"))?;
            let got = observed(&otlp_points(&v)?, &expected);
            assert_counts(&format!("cold scan --threads {t} run {}", run + 1), &expected, &got)?;
            eprintln!(
                "bench: cold --threads {t} run {}: {} ({:.0} MB/s), peak RSS {}",
                run + 1,
                fmt_secs(r.wall.as_secs_f64()),
                tally.bytes as f64 / 1e6 / r.wall.as_secs_f64(),
                fmt_bytes(r.max_rss_kib * KIB)
            );
            time.0.push(r.wall.as_secs_f64());
            cpu.0.push(r.cpu.as_secs_f64());
            rss = rss.max(r.max_rss_kib);
        }
        report.rows.push(Row {
            name: format!("cold scan --dry-run --threads {t}"),
            time,
            bytes: Some(tally.bytes),
            rss_kib: Some(rss),
            cpu: Some(cpu),
            others: probe.others(),
        });
    }
    report.checks.push(format!(
        "cold scan: {} dry runs matched all {} expected totals",
        ctx.opts.runs * ctx.opts.threads.len(),
        expected.len()
    ));
    Ok(())
}

/// The floor: in-process read, `cat` and `wc -l` over the same files.
fn stage_floor(ctx: &Ctx, files: &[PathBuf], tally: &Tally, report: &mut Report) -> Res<()> {
    let mut buf = vec![0u8; MIB as usize];
    wait_quiet(&ctx.quiet, "the read floor");
    let probe = LoadProbe::start();
    let mut time = Samples::default();
    for _ in 0..ctx.opts.runs {
        let t = Instant::now();
        let n = read_all(files, &mut buf)?;
        time.0.push(t.elapsed().as_secs_f64());
        if n != tally.bytes {
            return Err(format!("read {n} bytes, the corpus has {}", tally.bytes).into());
        }
    }
    report.rows.push(Row {
        name: "read to /dev/null, 1 MiB buffer (in-process)".into(),
        time,
        bytes: Some(tally.bytes),
        rss_kib: None,
        cpu: None,
        others: probe.others(),
    });
    let list = ctx.scratch.join("files.list");
    let mut l = Vec::new();
    for p in files {
        l.extend_from_slice(p.as_os_str().as_encoded_bytes());
        l.push(0);
    }
    fs::write(&list, l)?;
    for (name, args) in
        [("cat (xargs -0 cat > /dev/null)", "cat"), ("wc -l (xargs -0 wc -l)", "wc")]
    {
        wait_quiet(&ctx.quiet, name);
        let probe = LoadProbe::start();
        let (mut time, mut cpu, mut rss) = (Samples::default(), Samples::default(), 0);
        for _ in 0..ctx.opts.runs {
            let mut cmd = measured("xargs");
            cmd.arg("-0").stdin(File::open(&list)?);
            let capture = args == "wc";
            if capture {
                cmd.args(["wc", "-l"]);
            } else {
                cmd.arg("cat").stdout(File::create("/dev/null")?);
            }
            let r = run_child(&mut cmd, capture)?;
            expect_success(name, &r)?;
            if capture {
                let lines: u64 = String::from_utf8_lossy(&r.stdout)
                    .lines()
                    .filter_map(|l| {
                        let (n, file) = l.trim().split_once(' ')?;
                        (file.trim() != "total").then(|| n.parse::<u64>().ok())?
                    })
                    .sum();
                if lines != tally.newlines {
                    return Err(format!(
                        "wc -l counted {lines} lines, expected {}",
                        tally.newlines
                    )
                    .into());
                }
            }
            time.0.push(r.wall.as_secs_f64());
            cpu.0.push(r.cpu.as_secs_f64());
            rss = rss.max(r.max_rss_kib);
        }
        report.rows.push(Row {
            name: name.into(),
            time,
            bytes: Some(tally.bytes),
            rss_kib: Some(rss),
            cpu: Some(cpu),
            others: probe.others(),
        });
    }
    report.checks.push(format!("wc -l: {} lines, as generated", tally.newlines));
    Ok(())
}

/// The naive baseline, asserted like the scanner.
fn stage_naive(ctx: &Ctx, files: &[PathBuf], tally: &Tally, report: &mut Report) -> Res<()> {
    let expected = tally.checks();
    wait_quiet(&ctx.quiet, "the naive baseline");
    let probe = LoadProbe::start();
    let mut time = Samples::default();
    for run in 0..ctx.opts.runs {
        let t = Instant::now();
        let got = naive_scan(files)?;
        time.0.push(t.elapsed().as_secs_f64());
        assert_counts(&format!("naive baseline run {}", run + 1), &expected, &got.checks())?;
        if (got.newlines, got.fragments) != (tally.newlines, tally.fragments) {
            return Err("naive baseline: line or fragment count differs".into());
        }
    }
    report.rows.push(Row {
        name: "naive serde_json::Value (in-process, 1 thread)".into(),
        time,
        bytes: Some(tally.bytes),
        rss_kib: None,
        cpu: None,
        others: probe.others(),
    });
    report.checks.push(format!(
        "naive baseline: {} runs matched all {} expected totals",
        ctx.opts.runs,
        expected.len()
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

/// One real run against the collector; asserts it succeeded and reached
/// the collector exactly once.
fn real_run(ctx: &Ctx, home: &Path, state: &Path, col: &Collector, json: bool) -> Res<ChildRun> {
    let before = col.count();
    let mut cmd = telemetron(&ctx.bin, home, state, &ctx.config);
    cmd.arg("--endpoint").arg(&col.url);
    if json {
        cmd.arg("--encoding").arg("json");
    }
    let r = run_child(&mut cmd, true)?;
    expect_success("telemetron scan", &r)?;
    let after = col.count();
    if after != before + 1 {
        return Err(format!("expected one request at the collector, got {}", after - before).into());
    }
    Ok(r)
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
fn stage_idle(ctx: &Ctx, root: &Path, report: &mut Report) -> Res<()> {
    let dir = root.join("small");
    reset_dir(&dir, ".telemetron-bench")?;
    let started = Instant::now();
    let n = ctx.opts.small_files;
    let sizing = Sizing::PerFile { count: n, lo: 2 * KIB, hi: 32 * KIB };
    let mut corpus = generate(&dir.join("home"), ctx.opts.seed ^ 0x5111, sizing, SMALL)?;
    let home = corpus.home.clone();
    eprintln!(
        "bench: idle corpus: {} files, {} generated in {:.1} s",
        corpus.tally.files,
        fmt_bytes(corpus.tally.bytes),
        started.elapsed().as_secs_f64()
    );
    let state = ctx.scratch.join("state-idle");
    let col = Collector::start()?;

    // First real run: reads everything and commits the state.
    let first = real_run(ctx, &home, &state, &col, true)?;
    let expected = corpus.tally.checks();
    assert_counts(
        "first real run (idle corpus)",
        &expected,
        &observed(&last_json_points(&col)?, &expected),
    )?;
    eprintln!("bench: first real run over {n} files: {}", fmt_secs(first.wall.as_secs_f64()));

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
    report.rows.push(Row {
        name: format!("incremental +{} over {APPEND_FILES} of {n} files", fmt_bytes(mean_appended)),
        time,
        bytes: Some(mean_appended),
        rss_kib: Some(rss),
        cpu: Some(cpu),
        others: probe.others(),
    });
    report.checks.push(format!(
        "real runs: first run over {n} files and an appended round matched all {} expected \
         totals; a no-new-bytes run sent only the heartbeat; each of {} runs reached the \
         collector exactly once",
        expected.len(),
        col.count()
    ));
    report.json.insert(
        "idle".into(),
        json!({
            "files": n,
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

/// Prints the line-size mix of a corpus.
fn print_mix(t: &Tally) {
    let lines: u64 = t.hist_lines.iter().sum();
    if lines == 0 {
        return;
    }
    let pct = |x: u64, of: u64| 100.0 * x as f64 / of.max(1) as f64;
    let mut a = String::from("         lines by size:      ");
    let mut b = String::from("         bytes by line size: ");
    for (i, name) in BUCKET_NAMES.iter().enumerate() {
        let _ = write!(a, "{name} {:.1}%  ", pct(t.hist_lines[i], lines));
        let _ = write!(b, "{name} {:.1}%  ", pct(t.hist_bytes[i], t.bytes));
    }
    println!("{a}\n{b}");
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
    let ctx = Ctx { quiet: Cell::new(quiet), opts, bin, scratch, config };
    let opts = &ctx.opts;
    let mut report = Report::default();
    let wall = Instant::now();

    let mut corpus_json = Value::Null;
    let mut corpus_line = String::new();
    let mut mix = None;
    if opts.wants(Stage::Cold) || opts.wants(Stage::Floor) || opts.wants(Stage::Naive) {
        let (home, tally, how) = big_corpus(&root, opts)?;
        let files = list_jsonl(&home)?;
        if files.len() as u64 != tally.files {
            return Err(format!("found {} files, generated {}", files.len(), tally.files).into());
        }
        let t = Instant::now();
        let n = read_all(&files, &mut vec![0u8; MIB as usize])?;
        let warm = t.elapsed().as_secs_f64();
        eprintln!(
            "bench: corpus {} in {} files, {how}; warm-up read {:.2} s",
            fmt_bytes(n),
            files.len(),
            warm
        );
        corpus_line = format!(
            "corpus   {} ({} bytes) in {} files, {} lines (mean {}), {} partial last lines, seed \
             {:#x}, {how}",
            fmt_bytes(tally.bytes),
            tally.bytes,
            tally.files,
            tally.newlines,
            fmt_bytes(tally.bytes / tally.newlines.max(1)),
            tally.fragments,
            opts.seed
        );
        corpus_json =
            json!({"path": home, "tally": tally.to_json(), "how": how, "warmup_read_s": warm});
        mix = Some(tally.clone());
        if opts.wants(Stage::Cold) {
            stage_cold(&ctx, &home, &tally, &mut report)?;
        }
        if opts.wants(Stage::Floor) {
            stage_floor(&ctx, &files, &tally, &mut report)?;
        }
        if opts.wants(Stage::Naive) {
            stage_naive(&ctx, &files, &tally, &mut report)?;
        }
    }
    if opts.wants(Stage::Idle) {
        stage_idle(&ctx, &root, &mut report)?;
    }

    // Ratios of median throughputs.
    let mut ratios = Map::new();
    let mut ratio_lines = Vec::new();
    for &t in &opts.threads {
        let Some(tel) =
            report.row(&format!("cold scan --dry-run --threads {t}")).and_then(Row::mbps)
        else {
            continue;
        };
        for (key, name) in [
            ("read", "read to /dev/null, 1 MiB buffer (in-process)"),
            ("cat", "cat (xargs -0 cat > /dev/null)"),
            ("wc_l", "wc -l (xargs -0 wc -l)"),
            ("naive", "naive serde_json::Value (in-process, 1 thread)"),
        ] {
            if let Some(base) = report.row(name).and_then(Row::mbps) {
                let r = tel / base;
                ratios.insert(format!("telemetron_t{t}_over_{key}"), json!(r));
                ratio_lines.push(format!(
                    "telemetron --threads {t} / {key:<5} = {r:>6.3}  ({tel:.0} vs {base:.0} MB/s; {})",
                    if r >= 1.0 {
                        format!("{r:.2}x faster")
                    } else {
                        format!("{:.2}x slower", 1.0 / r)
                    }
                ));
            }
        }
    }

    // The report.
    let git = command_output("git", &["rev-parse", "--short", "HEAD"]);
    let dirty =
        !command_output("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
    let host = host_info();
    println!("\n== telemetron scan benchmark ==");
    println!("binary   {} ({bin_size} bytes)", ctx.bin.display());
    println!("git      {git}{}", if dirty { " (working tree modified)" } else { "" });
    println!(
        "host     {} CPUs, {}, Linux {}, {}",
        host["cpus"],
        host["cpu_model"].as_str().unwrap_or(""),
        host["kernel"].as_str().unwrap_or(""),
        host["mem_total"].as_str().unwrap_or("")
    );
    if !corpus_line.is_empty() {
        println!("{corpus_line}");
    }
    if let Some(t) = &mix {
        print_mix(t);
        println!(
            "         {} lines ({:.1}% of the bytes) cannot be rejected by their bytes alone and \
             need a JSON parse; the rest is tool output, injected context and summaries",
            t.json_lines,
            100.0 * t.json_bytes as f64 / t.bytes.max(1) as f64
        );
    }
    println!(
        "cache    page cache warm: the corpus is read once before timing (caches cannot be \
         dropped here); MB = 10^6 bytes"
    );
    report.print_table();
    if !ratio_lines.is_empty() {
        println!("\nratios of median throughput (scanner / baseline):");
        for l in &ratio_lines {
            println!("  {l}");
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
    record.insert("bench".into(), json!("scan"));
    record.insert(
        "unix_time".into(),
        json!(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)),
    );
    record.insert("git".into(), json!({"rev": git, "dirty": dirty}));
    record.insert("host".into(), host);
    record.insert(
        "options".into(),
        json!({
            "size": opts.size, "files": opts.files, "small_files": opts.small_files,
            "seed": opts.seed, "runs": opts.runs, "idle_runs": opts.idle_runs,
            "threads": opts.threads, "quiet_wait": opts.quiet_wait,
            "only": opts.only.iter().map(|s| format!("{s:?}").to_lowercase()).collect::<Vec<_>>(),
        }),
    );
    record.insert("binary".into(), json!({"path": ctx.bin, "size_bytes": bin_size}));
    record.insert("corpus".into(), corpus_json);
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
fn main() {
    if let Some(report) = std::env::var_os(MEASURE_ENV) {
        measure_main(report);
    }
    let code = match run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("\nbench scan: FAILED: {e}");
            1
        }
    };
    std::process::exit(code);
}
