//! The pi-format corpus: pi, OpenClaw and roundhouse homes with the exact
//! counts they must produce (a [`Tally`]), and the naive baseline that
//! reads them back with `serde_json::Value`.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::{json, Map, Value};

use super::common::*;
use crate::{Res, EPOCH_2026_MS, KIB, MIB};

/// One year, in milliseconds.
const YEAR_MS: u64 = 365 * 86_400_000;

// ---------------------------------------------------------------------------
// Expected counts

/// Declares [`Tally`] with its counters, merging and JSON form.
macro_rules! tally {
    ($($(#[$m:meta])* $f:ident),* $(,)?) => {
        /// Exact counts of a corpus (or of what a scanner found in it).
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub(crate) struct Tally {
            $($(#[$m])* pub(crate) $f: u64,)*
            /// Lines per size bucket (see [`bucket`]).
            pub(crate) hist_lines: [u64; 9],
            /// Bytes per line size bucket.
            pub(crate) hist_bytes: [u64; 9],
        }

        impl Tally {
    /// Counts one session start of `agent`, of the given kind.
    pub(crate) fn session(&mut self, agent: Agent, kind: Kind) {
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
            pub(crate) fn add(&mut self, o: &Tally) {
                $(self.$f += o.$f;)*
                for i in 0..9 {
                    self.hist_lines[i] += o.hist_lines[i];
                    self.hist_bytes[i] += o.hist_bytes[i];
                }
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
pub(crate) const BUCKETS: [u64; 8] =
    [256, KIB, 4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, MIB, 4 * MIB];
/// The size bucket of a line of `n` bytes.
pub(crate) fn bucket(n: u64) -> usize {
    BUCKETS.iter().position(|&b| n < b).unwrap_or(8)
}

impl Tally {
    /// The totals a scanner must report, keyed `metric` (sum of every
    /// point) or `metric{attr=value}` (sum of the points with that
    /// attribute value).
    pub(crate) fn checks(&self) -> BTreeMap<String, u64> {
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

/// The pi corpus's totals in the keys of [`super::Generated::expected`]:
/// every key filters on the three packs that write pi-format files.
pub(crate) fn expected(t: &Tally) -> BTreeMap<String, u64> {
    const PACKS: &str = "pack=pi|openclaw|roundhouse";
    t.checks()
        .into_iter()
        .map(|(k, v)| {
            let k = match k.split_once('{') {
                _ if k.contains("{pack=") => k,
                Some((m, rest)) => format!("{m}{{{PACKS},{rest}"),
                None => format!("{k}{{{PACKS}}}"),
            };
            (k, v)
        })
        .collect()
}

/// Writes a pi corpus of about `bytes` under `home` (the big-corpus
/// profile: tool outputs up to ~6 MB, images, defects).
pub(crate) fn generate_home(home: &Path, seed: u64, bytes: u64) -> Res<super::Generated> {
    let c = generate(home, seed, Sizing::Total { bytes, files: None }, BIG)?;
    Ok(super::Generated {
        files: c.tally.files,
        bytes: c.tally.bytes,
        expected: expected(&c.tally),
        unread_lines: 0,
    })
}

// ---------------------------------------------------------------------------
// Corpus generation

/// Which agent wrote a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Agent {
    Pi,
    Openclaw,
    Roundhouse,
}

/// How a session was started (`session.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Main,
    Subagent,
    Cron,
}

/// How a line must be classified by the scanner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Parsed,
    Ignored,
    Malformed,
}

/// What an assistant message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Tools,
    Final,
    Error,
    Aborted,
    Mirror,
}

/// Models as `(provider, model id)`, and how often each is used.
pub(crate) const MODELS: &[((&str, &str), u32)] = &[
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
pub(crate) const PI_TOOLS: &[(&str, u32)] = &[
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
pub(crate) const OPENCLAW_TOOLS: &[(&str, u32)] = &[
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
pub(crate) const ERROR_MESSAGES: &[&str] = &[
    "429 rate_limit_error: This request would exceed your organization's rate limit",
    "529 overloaded_error: Overloaded",
    "401 authentication_error: invalid x-api-key",
    "Request timed out after 600000ms",
    "400 invalid_request_error: prompt is too long: 210345 tokens > 200000 maximum",
    "terminated",
];

/// Shape of a corpus.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Profile {
    /// Largest tool output.
    pub(crate) max_tool_output: u64,
    /// Base64 screenshots in prompts and reads.
    pub(crate) images: bool,
    /// Truncated lines and trailing partial lines.
    pub(crate) defects: bool,
    /// OpenClaw and roundhouse files besides pi.
    pub(crate) mix: bool,
}

/// The 1 GiB corpus: everything.
pub(crate) const BIG: Profile =
    Profile { max_tool_output: 6_000_000, images: true, defects: true, mix: true };
/// The 10,000-file corpus: small pi sessions, complete lines only.
pub(crate) const SMALL: Profile =
    Profile { max_tool_output: 4 * KIB, images: false, defects: false, mix: false };

/// How big the files of a corpus are.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Sizing {
    /// About `bytes` in total, in `files` files (or as many as it takes).
    Total { bytes: u64, files: Option<usize> },
    /// `count` files, each log-uniform in `lo..hi`.
    PerFile { count: usize, lo: u64, hi: u64 },
}

/// One file to generate.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) path: PathBuf,
    pub(crate) agent: Agent,
    pub(crate) kind: Kind,
    pub(crate) target: u64,
    pub(crate) start_ms: u64,
    pub(crate) session: String,
    pub(crate) cwd: String,
    pub(crate) stream: u64,
}

/// Where a generated file left off, so that more can be appended.
#[derive(Clone, Debug)]
pub(crate) struct Cursor {
    pub(crate) path: PathBuf,
    pub(crate) agent: Agent,
    pub(crate) ts_ms: u64,
    pub(crate) last_id: Option<u32>,
    pub(crate) model: usize,
    pub(crate) rng: Rng,
}

/// A generated corpus.
pub(crate) struct Corpus {
    pub(crate) home: PathBuf,
    pub(crate) tally: Tally,
    pub(crate) cursors: Vec<Cursor>,
    pub(crate) pools: Pools,
}

/// One tool call an assistant message made.
pub(crate) struct Call {
    pub(crate) id: String,
    pub(crate) tool: &'static str,
}

/// Writes the lines of one file and keeps its exact counts.
pub(crate) struct Gen<'p, W: Write> {
    pub(crate) out: W,
    pub(crate) pools: &'p Pools,
    pub(crate) rng: Rng,
    pub(crate) line: Vec<u8>,
    pub(crate) agent: Agent,
    pub(crate) profile: Profile,
    pub(crate) cap: u64,
    pub(crate) ts_ms: u64,
    pub(crate) last_id: Option<u32>,
    pub(crate) model: usize,
    pub(crate) written: u64,
    pub(crate) limit: u64,
    pub(crate) tally: Tally,
}

impl<W: Write> Gen<'_, W> {
    /// True once the file reached its target size.
    pub(crate) fn full(&self) -> bool {
        self.written >= self.limit
    }

    /// Appends about `lo..hi` bytes (log-uniform) of escaped prose.
    pub(crate) fn prose(&mut self, lo: u64, hi: u64) {
        self.pools.prose_between(&mut self.rng, lo, hi, &mut self.line);
    }

    /// Appends about `lo..hi` bytes (log-uniform) of escaped code.
    pub(crate) fn code(&mut self, lo: u64, hi: u64) {
        self.pools.code_between(&mut self.rng, lo, hi, &mut self.line);
    }

    /// Appends a file path.
    pub(crate) fn path(&mut self) {
        let (a, b) = (self.rng.pick(IDENTS), self.rng.pick(IDENTS));
        let p = self.rng.below(40);
        let _ = write!(self.line, "/home/dev/proj{p}/src/{a}/{b}.rs");
    }

    /// Writes the current line plus `\n` and counts it as `class`.
    pub(crate) fn emit(&mut self, class: Class) -> io::Result<()> {
        self.emit_line(class, true)
    }

    /// Writes an ignored line that a scanner can reject by its bytes alone
    /// (tool output, injected context, summaries), without parsing it.
    pub(crate) fn emit_skippable(&mut self) -> io::Result<()> {
        self.emit_line(Class::Ignored, false)
    }

    /// Writes the current line plus `\n`, counted as `class`; `json` says
    /// whether deciding that needs a JSON parse.
    pub(crate) fn emit_line(&mut self, class: Class, json: bool) -> io::Result<()> {
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
    pub(crate) fn begin(&mut self, ty: &str) -> io::Result<()> {
        self.ts_ms += self.rng.range(30, 3_000);
        self.begin_now(ty)
    }

    /// Starts an entry of type `ty` at the current timestamp (the caller
    /// moved it forward).
    pub(crate) fn begin_now(&mut self, ty: &str) -> io::Result<()> {
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
    pub(crate) fn header(&mut self, id: &str, cwd: &str, kind: Kind) -> io::Result<()> {
        write!(self.line, "{{\"type\":\"session\",\"version\":3,\"id\":\"{id}\",\"timestamp\":\"")?;
        push_iso(&mut self.line, self.ts_ms, false);
        write!(self.line, "\",\"cwd\":\"{cwd}\"}}")?;
        self.tally.session(self.agent, kind);
        self.emit(Class::Parsed)
    }

    /// A `model_change` to a newly drawn model.
    pub(crate) fn model_change(&mut self) -> io::Result<()> {
        self.model = self.pick_model();
        let (p, m) = MODELS[self.model].0;
        self.begin("model_change")?;
        write!(self.line, ",\"provider\":\"{p}\",\"modelId\":\"{m}\"}}")?;
        self.emit(Class::Ignored)
    }

    /// Draws a model index.
    pub(crate) fn pick_model(&mut self) -> usize {
        let idx: Vec<(usize, u32)> = MODELS.iter().enumerate().map(|(i, m)| (i, m.1)).collect();
        self.rng.weighted(&idx)
    }

    /// A `thinking_level_change`.
    pub(crate) fn thinking_level(&mut self) -> io::Result<()> {
        let level = self.rng.pick(&["low", "medium", "high"]);
        self.begin("thinking_level_change")?;
        write!(self.line, ",\"thinkingLevel\":\"{level}\"}}")?;
        self.emit_skippable()
    }

    /// Builds a user prompt into the line buffer without writing it.
    pub(crate) fn build_user(&mut self) -> io::Result<()> {
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
    pub(crate) fn user(&mut self) -> io::Result<()> {
        self.build_user()?;
        self.tally.prompts += 1;
        self.emit(Class::Parsed)
    }

    /// A user line cut short and then continued on a new line, as a crash
    /// mid-write leaves it: malformed JSON.
    pub(crate) fn malformed(&mut self) -> io::Result<()> {
        self.build_user()?;
        let cut = self.rng.range(20, self.line.len() as u64 - 1) as usize;
        self.line.truncate(cut);
        self.emit(Class::Malformed)
    }

    /// A partial last line (the agent is still writing it): no newline, so
    /// it is not a line yet and must not be counted.
    pub(crate) fn fragment(&mut self) -> io::Result<()> {
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
    pub(crate) fn tool_call(&mut self) -> io::Result<Call> {
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
    pub(crate) fn assistant(&mut self, step: Step) -> io::Result<Vec<Call>> {
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
    pub(crate) fn tool_result(&mut self, call: &Call) -> io::Result<()> {
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
    pub(crate) fn custom_message(&mut self) -> io::Result<()> {
        self.begin("custom_message")?;
        self.line.extend_from_slice(b",\"customType\":\"pi.context\",\"content\":\"");
        self.prose(200, 6_000);
        self.line.extend_from_slice(b"\",\"display\":false}");
        self.emit_skippable()
    }

    /// A `compaction` with a long summary (never counted).
    pub(crate) fn compaction(&mut self) -> io::Result<()> {
        self.begin("compaction")?;
        self.line.extend_from_slice(b",\"summary\":\"");
        self.prose(1_000, 12_000);
        let (id, before) = (self.rng.next_u64() as u32, self.rng.range(50_000, 200_000));
        write!(self.line, "\",\"firstKeptEntryId\":\"{id:08x}\",\"tokensBefore\":{before}}}")?;
        self.emit_skippable()
    }

    /// An OpenClaw `model-snapshot` custom record (changes the model, not
    /// counted).
    pub(crate) fn snapshot(&mut self) -> io::Result<()> {
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
    pub(crate) fn custom_error(&mut self) -> io::Result<()> {
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
    pub(crate) fn round(&mut self) -> io::Result<bool> {
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
        let steps = self.rng.steps(30, 0.75);
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
    pub(crate) fn cursor(&self, path: &Path) -> Cursor {
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
pub(crate) fn plan_corpus(home: &Path, seed: u64, sizing: Sizing, profile: Profile) -> Vec<Plan> {
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
            // Files start two hours apart within one year (many files
            // share an hour past 4,380 files): a home's history is
            // bounded by its hours, and 300,000 files two hours apart
            // would span 68 years.
            let start_ms = EPOCH_2026_MS + (i as u64 * 7_200_000) % YEAR_MS + rng.below(3_600_000);
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
pub(crate) fn generate_file(
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
pub(crate) fn generate(home: &Path, seed: u64, sizing: Sizing, profile: Profile) -> Res<Corpus> {
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
pub(crate) fn append_to(
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
