//! Shared pieces of the corpus generators: a seeded random number
//! generator, text pools of escaped prose and code, timestamps and sizes.

use std::fmt::Write as _;
use std::io::Write as _;

use telemetron::hash::SplitMix64;

use super::super::MIB;

/// A splitmix64 generator: tiny, fast, statistically fine for test data,
/// and the same sequence on every platform.
#[derive(Clone, Debug)]
pub(crate) struct Rng(pub(crate) SplitMix64);

impl Rng {
    /// A generator for `seed`, on an independent stream `stream` (one per
    /// file, so files can be generated in parallel and still reproducibly).
    pub(crate) fn new(seed: u64, stream: u64) -> Rng {
        let mut r =
            Rng(SplitMix64(seed ^ stream.wrapping_add(1).wrapping_mul(0xA076_1D64_78BD_642F)));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0.below(n)
    }

    /// Uniform in `lo..hi` (`hi > lo`).
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Log-uniform in `lo..=hi`: as many values between 1 and 10 KB as
    /// between 10 and 100 KB, the usual shape of sizes.
    pub(crate) fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let (l, h) = (lo.max(1) as f64, hi.max(1) as f64);
        ((l * (h / l).powf(self.unit())) as u64).clamp(lo, hi)
    }

    /// How many steps a run of steps takes: one, then one more with
    /// probability `p` each time, at most `max`.
    pub(crate) fn steps(&mut self, max: u64, p: f64) -> u64 {
        let mut n = 1;
        while n < max && self.chance(p) {
            n += 1;
        }
        n
    }

    /// One element of a slice.
    pub(crate) fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }

    /// A value from a `(value, weight)` table.
    pub(crate) fn weighted<T: Copy>(&mut self, table: &[(T, u32)]) -> T {
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
    pub(crate) fn uuid(&mut self) -> String {
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
pub(crate) const WORDS: &[&str] = &[
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
pub(crate) const IDENTS: &[&str] = &[
    "scan_file", "read_lines", "ctx", "buf", "offset", "state", "cfg", "session_id",
    "handle_request", "parse_entry", "tokenCount", "userId", "fetchData", "render", "items", "idx",
    "len", "result", "opts", "writer", "reader", "client", "server", "router", "payload", "metrics",
    "counter", "histogram", "logger", "span", "queue", "worker", "pool", "db", "tx",
];
/// Type names for code.
#[rustfmt::skip]
pub(crate) const TYPES: &[&str] = &[
    "Vec<u8>", "String", "Result<()>", "Option<&str>", "HashMap<String, u64>", "Promise<void>",
    "Config", "Session", "Request", "Response", "Error", "Arc<Mutex<State>>", "number", "boolean",
];

/// Appends `n_words` random words.
pub(crate) fn sentence(rng: &mut Rng, s: &mut String, n_words: u64) {
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
pub(crate) fn code_line(rng: &mut Rng, s: &mut String) {
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
pub(crate) fn prose_line(rng: &mut Rng, s: &mut String) {
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

/// Escapes `s` as the inside of a JSON string, with serde_json (non-ASCII
/// stays UTF-8, as `JSON.stringify` writes it).
pub(crate) fn escape_into(s: &str, out: &mut Vec<u8>) {
    let start = out.len();
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
    // serde_json writes a whole string: drop its quotes.
    out.pop();
    out.remove(start);
}

/// Appends `n` random base64 characters (screenshots, signatures).
pub(crate) fn base64_into(rng: &mut Rng, n: u64, out: &mut Vec<u8>) {
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
pub(crate) struct Pool {
    pub(crate) text: Vec<u8>,
    pub(crate) starts: Vec<usize>,
}

impl Pool {
    /// Builds about `size` bytes of escaped lines, each ending in `\n`.
    pub(crate) fn build(size: usize, rng: &mut Rng, line: fn(&mut Rng, &mut String)) -> Pool {
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
    pub(crate) fn take(&self, rng: &mut Rng, n: u64, out: &mut Vec<u8>) {
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
pub(crate) struct Pools {
    pub(crate) code: Pool,
    pub(crate) prose: Pool,
}

impl Pools {
    /// Appends about `lo..hi` bytes (log-uniform) of escaped prose.
    pub(crate) fn prose_between(&self, rng: &mut Rng, lo: u64, hi: u64, out: &mut Vec<u8>) {
        let n = rng.log_uniform(lo, hi);
        self.prose.take(rng, n, out);
    }

    /// Appends about `lo..hi` bytes (log-uniform) of escaped code.
    pub(crate) fn code_between(&self, rng: &mut Rng, lo: u64, hi: u64, out: &mut Vec<u8>) {
        let n = rng.log_uniform(lo, hi);
        self.code.take(rng, n, out);
    }

    /// Builds the pools for a seed.
    pub(crate) fn new(seed: u64) -> Pools {
        let mut rng = Rng::new(seed, u64::MAX);
        Pools {
            code: Pool::build(2 * MIB as usize, &mut rng, code_line),
            prose: Pool::build(MIB as usize, &mut rng, prose_line),
        }
    }
}

/// Appends an ISO timestamp (`2026-01-05T10:22:33.123Z`); with
/// `file_name`, `:` and `.` become `-` as in pi's file names.
pub(crate) fn push_iso(out: &mut Vec<u8>, ms: u64, file_name: bool) {
    let secs = ms / 1000;
    let (y, m, d) = telemetron::time::civil_from_days(secs / 86_400);
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
pub(crate) fn tool_output_len(rng: &mut Rng) -> u64 {
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
