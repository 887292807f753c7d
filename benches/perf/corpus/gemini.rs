//! The Gemini CLI corpus: a `~/.gemini/tmp/<project>/chats/` home of
//! JSONL-era chats, with the exact counts they must produce.
//!
//! Project directories are named by the newer slug (`web-app-3`) or the
//! older sha256 of the project root. Each chat is
//! `chats/session-<YYYY-MM-DDTHH-MM>-<sessionId[..8]>.jsonl`; a few subagent
//! chats live one level down, `chats/<parentSessionId>/<sessionId>.jsonl`,
//! with a header `kind: "subagent"`. A chat is a header line, then `user`
//! prompts, `gemini` responses (model, `tokens`, `thoughts`, `toolCalls`
//! with their results inline, some failed or cancelled, some MCP
//! `server__tool` calls), `info` / `warning` / `error` messages and `$set`
//! patches.
//!
//! It carries the format's traps in modest proportions, so a scanner does
//! its real work: a `gemini` message re-appended once or twice as it grows
//! (tokens, tool calls added, statuses settled; counted once by id with its
//! last values, and a copy that adds nothing is an ignored line), `$set`
//! checkpoints re-stating recent messages (sometimes carrying a message's
//! last version), `$rewindTo` records (counts stay), a model fallback after
//! quota errors, a few truncated lines and trailing partial lines.
//! Re-appends always follow their first copy within a few lines, far
//! inside the 64 ids a scanner remembers per file, and message timestamps
//! strictly increase, so every total is exact.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::common::*;
use crate::{Res, EPOCH_2026_MS, KIB, MIB};

/// Models as `(id in the file, model name on the wire, thinks, weight)`.
const MODELS: &[(&str, &str, bool, u32)] = &[
    ("gemini-2.5-pro", "gemini-2.5-pro", true, 35),
    ("gemini-2.5-flash", "gemini-2.5-flash", true, 25),
    ("gemini-3-pro-preview", "gemini-3-pro", true, 18),
    ("gemini-3-flash-preview", "gemini-3-flash", true, 12),
    ("gemini-2.5-flash-lite", "gemini-2.5-flash-lite", false, 10),
];
/// The model Gemini CLI falls back to after a quota error.
const FALLBACK: usize = 1;

/// Tools as `(name in the file, tool.name on the wire, weight)`: the
/// built-ins, MCP `server__tool` names and a tool telemetron's table lacks.
#[rustfmt::skip]
const TOOLS: &[(&str, &str, u32)] = &[
    ("run_shell_command", "run_shell_command", 28), ("read_file", "read_file", 24),
    ("replace", "replace", 12), ("write_file", "write_file", 5), ("glob", "glob", 5),
    ("search_file_content", "search_file_content", 4), ("grep_search", "grep_search", 4),
    ("list_directory", "list_directory", 4), ("read_many_files", "read_many_files", 3),
    ("google_web_search", "google_web_search", 3), ("web_fetch", "web_fetch", 2),
    ("write_todos", "write_todos", 2), ("save_memory", "save_memory", 1),
    ("codebase_investigator", "codebase_investigator", 1),
    ("delegate_to_agent", "delegate_to_agent", 1), ("activate_skill", "activate_skill", 1),
    ("github__search_issues", "mcp", 2), ("context7__get-library-docs", "mcp", 1),
    ("playwright__browser_navigate", "mcp", 1), ("ask_user", "other", 1),
];

/// API errors as `(HTTP code, message, status, the error.type their
/// fixed markers give, weight)`; code 0 is an error without a response.
#[rustfmt::skip]
const API_ERRORS: &[(u32, &str, &str, &str, u32)] = &[
    (429, "Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED", "quota", 40),
    (503, "The model is overloaded. Please try again later.", "UNAVAILABLE", "transient", 20),
    (500, "An internal error has occurred. Please retry.", "INTERNAL", "transient", 10),
    (401, "API key not valid. Please pass a valid API key.", "UNAUTHENTICATED", "auth", 5),
    (0, "Model stream ended with an invalid chunk or missing finish reason.", "", "unknown", 15),
];
/// The `error.type`s of [`API_ERRORS`], in the order [`Tally::errors`] keeps.
const ERROR_TYPES: &[&str] = &["quota", "transient", "auth", "unknown"];

/// Project slugs (newer Gemini CLI); every third project uses a hash.
const SLUGS: &[&str] = &["telemetron", "web-app", "infra", "api-server", "ml-pipeline", "docs"];

/// Largest message a `$set` checkpoint re-states.
const RING_MAX: usize = 16 * KIB as usize;

/// Exact counts of a Gemini corpus.
#[derive(Clone, Debug, Default)]
struct Tally {
    files: u64,
    bytes: u64,
    sessions: [u64; 2],
    prompts: [u64; 2],
    turns: [u64; 2],
    tools: [u64; TOOLS.len()],
    errors_tool: u64,
    errors: [u64; ERROR_TYPES.len()],
    /// input, cache_read, output, reasoning.
    tokens: [u64; 4],
    tokens_model: [u64; MODELS.len()],
    lines: [u64; 3],
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.files += o.files;
        self.bytes += o.bytes;
        let pairs: [(&mut [u64], &[u64]); 8] = [
            (&mut self.sessions, &o.sessions),
            (&mut self.prompts, &o.prompts),
            (&mut self.turns, &o.turns),
            (&mut self.tools, &o.tools),
            (&mut self.errors, &o.errors),
            (&mut self.tokens, &o.tokens),
            (&mut self.tokens_model, &o.tokens_model),
            (&mut self.lines, &o.lines),
        ];
        for (a, b) in pairs {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
        self.errors_tool += o.errors_tool;
    }

    /// The totals in the keys of [`super::Generated::expected`].
    fn expected(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        let mut put = |k: String, v: u64| *m.entry(k).or_insert(0) += v;
        let p = "pack=gemini_cli";
        put(format!("pack.session.start{{{p}}}"), self.sessions[0] + self.sessions[1]);
        put(format!("pack.session.start{{{p},session.type=main}}"), self.sessions[0]);
        put(format!("pack.session.start{{{p},session.type=subagent}}"), self.sessions[1]);
        put(format!("pack.user.prompt{{{p}}}"), self.prompts[0] + self.prompts[1]);
        put(format!("pack.user.prompt{{{p},session.type=subagent}}"), self.prompts[1]);
        let turns = self.turns[0] + self.turns[1];
        put(format!("pack.agent.turn{{{p}}}"), turns);
        put(format!("pack.agent.turn{{{p},outcome=success}}"), turns);
        put(format!("pack.agent.turn{{{p},model.family=google}}"), turns);
        put(format!("pack.agent.turn{{{p},session.type=subagent}}"), self.turns[1]);
        put(format!("pack.tool.call{{{p}}}"), self.tools.iter().sum());
        for (i, &(_, wire, _)) in TOOLS.iter().enumerate() {
            put(format!("pack.tool.call{{{p},tool.name={wire}}}"), self.tools[i]);
        }
        put(format!("pack.error{{{p}}}"), self.errors_tool + self.errors.iter().sum::<u64>());
        put(format!("pack.error{{{p},error.type=tool}}"), self.errors_tool);
        for (i, t) in ERROR_TYPES.iter().enumerate() {
            put(format!("pack.error{{{p},error.type={t}}}"), self.errors[i]);
        }
        for (i, t) in ["input", "cache_read", "output", "reasoning"].iter().enumerate() {
            put(format!("pack.token.usage{{{p},token.type={t}}}"), self.tokens[i]);
        }
        put(format!("pack.token.usage{{{p},token.type=cache_write}}"), 0);
        for (i, &(_, wire, _, _)) in MODELS.iter().enumerate() {
            put(format!("pack.token.usage{{{p},model={wire}}}"), self.tokens_model[i]);
        }
        for (i, r) in ["parsed", "ignored", "malformed"].iter().enumerate() {
            put(format!("pack.emitter.lines{{{p},result={r}}}"), self.lines[i]);
        }
        put(format!("pack.emitter.lines{{{p},result=oversized}}"), 0);
        m
    }
}

/// How a line must be classified (index into [`Tally::lines`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Parsed = 0,
    Ignored = 1,
    Malformed = 2,
}

/// One file to generate.
struct Plan {
    path: PathBuf,
    sub: bool,
    target: u64,
    start_ms: u64,
    session: String,
    project_hash: String,
    stream: u64,
}

/// One tool call of a `gemini` message.
struct Call {
    id: String,
    tool: usize,
    /// `success`, `error` or `cancelled`.
    status: &'static str,
}

/// Writes the lines of one chat and keeps its exact counts.
struct Gen<'p> {
    out: BufWriter<File>,
    pools: &'p Pools,
    rng: Rng,
    line: Vec<u8>,
    /// Recent small message bodies, for `$set` checkpoints.
    ring: VecDeque<Vec<u8>>,
    sub: bool,
    cap: u64,
    ts_ms: u64,
    model: usize,
    /// Prompt size of the next model call, in tokens.
    context: u64,
    last_user: Option<String>,
    written: u64,
    limit: u64,
    t: Tally,
}

impl Gen<'_> {
    fn full(&self) -> bool {
        self.written >= self.limit
    }

    fn prose(&mut self, lo: u64, hi: u64) {
        self.pools.prose_between(&mut self.rng, lo, hi, &mut self.line);
    }

    fn code(&mut self, n: u64) {
        self.pools.code.take(&mut self.rng, n, &mut self.line);
    }

    fn path(&mut self) {
        let (a, b) = (self.rng.pick(IDENTS), self.rng.pick(IDENTS));
        let p = self.rng.below(40);
        let _ = write!(self.line, "/home/dev/proj{p}/src/{a}/{b}.ts");
    }

    fn iso(&mut self, ms: u64) {
        push_iso(&mut self.line, ms, false);
    }

    /// Writes the current line plus `\n`, counted as `class`.
    fn emit(&mut self, class: Class) -> io::Result<()> {
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        let n = self.line.len() as u64;
        self.written += n;
        self.t.bytes += n;
        self.t.lines[class as usize] += 1;
        self.line.clear();
        Ok(())
    }

    /// Starts a message record a little after the previous one; returns
    /// its id.
    fn begin(&mut self, ty: &str) -> String {
        self.ts_ms += self.rng.range(30, 4_000);
        let id = self.rng.uuid();
        let _ = write!(self.line, "{{\"id\":\"{id}\",\"timestamp\":\"");
        self.iso(self.ts_ms);
        let _ = write!(self.line, "\",\"type\":\"{ty}\"");
        id
    }

    /// Keeps the message body `line[start..]` for later checkpoints.
    fn remember(&mut self, start: usize) {
        if self.line.len() - start <= RING_MAX {
            if self.ring.len() >= 6 {
                self.ring.pop_front();
            }
            self.ring.push_back(self.line[start..].to_vec());
        }
    }

    fn header(&mut self, plan: &Plan) -> io::Result<()> {
        let _ = write!(
            self.line,
            "{{\"sessionId\":\"{}\",\"projectHash\":\"{}\",\"startTime\":\"",
            plan.session, plan.project_hash
        );
        self.iso(plan.start_ms);
        self.line.extend_from_slice(b"\",\"lastUpdated\":\"");
        self.iso(plan.start_ms);
        self.line.push(b'"');
        if plan.sub {
            self.line.extend_from_slice(b",\"kind\":\"subagent\"");
        } else if self.rng.chance(0.7) {
            self.line.extend_from_slice(b",\"kind\":\"main\"");
        }
        self.line.push(b'}');
        self.t.sessions[usize::from(plan.sub)] += 1;
        self.emit(Class::Parsed)
    }

    fn build_user(&mut self) -> String {
        let id = self.begin("user");
        self.line.extend_from_slice(b",\"content\":[{\"text\":\"");
        match self.rng.below(10) {
            0 => {
                let n = self.rng.log_uniform(200, 20_000);
                self.code(n);
            }
            _ => self.prose(20, 2_000),
        }
        self.line.extend_from_slice(b"\"}]}");
        id
    }

    fn user(&mut self) -> io::Result<()> {
        let id = self.build_user();
        self.last_user = Some(id);
        self.remember(0);
        self.t.prompts[usize::from(self.sub)] += 1;
        self.context += self.rng.range(50, 2_000);
        self.emit(Class::Parsed)
    }

    /// A message counted as nothing (`info`, `warning`).
    fn notice(&mut self, ty: &str, text: &str) -> io::Result<()> {
        self.begin(ty);
        let _ = write!(self.line, ",\"content\":\"{text}\"}}");
        self.emit(Class::Ignored)
    }

    /// An API error shown to the user; a quota error makes the CLI fall
    /// back to the flash model.
    fn api_error(&mut self) -> io::Result<()> {
        let i = pick(&mut self.rng, API_ERRORS.iter().map(|e| e.4));
        let (code, msg, status, ty, _) = API_ERRORS[i];
        self.begin("error");
        let _ = match code {
            0 => write!(self.line, r#","content":"[API Error: {msg}]"}}"#),
            _ => write!(
                self.line,
                r#","content":"[API Error: {{\"error\":{{\"code\":{code},\"message\":\"{msg}\","#
            )
            .and_then(|_| write!(self.line, r#"\"status\":\"{status}\"}}}}]"}}"#)),
        };
        self.t.errors[ERROR_TYPES.iter().position(|t| *t == ty).unwrap_or(3)] += 1;
        self.emit(Class::Parsed)?;
        if ty == "quota" && self.model != FALLBACK && self.rng.chance(0.7) {
            self.model = FALLBACK;
            let m = MODELS[FALLBACK].0;
            let text = format!("Switched to fallback model {m} due to quota limits.");
            self.notice("info", &text)?;
        }
        Ok(())
    }

    /// A `$set` patch without messages.
    fn set_patch(&mut self) -> io::Result<()> {
        self.line.extend_from_slice(b"{\"$set\":{\"lastUpdated\":\"");
        self.iso(self.ts_ms);
        self.line.push(b'"');
        if self.rng.chance(0.2) {
            self.line.extend_from_slice(b",\"summary\":\"");
            self.prose(30, 200);
            self.line.push(b'"');
        }
        self.line.extend_from_slice(b"}}");
        self.emit(Class::Ignored)
    }

    /// Starts a `$set` checkpoint re-stating the remembered messages.
    fn checkpoint_open(&mut self) {
        self.line.extend_from_slice(b"{\"$set\":{\"lastUpdated\":\"");
        self.iso(self.ts_ms);
        self.line.extend_from_slice(b"\",\"messages\":[");
        for (i, m) in self.ring.iter().enumerate() {
            if i > 0 {
                self.line.push(b',');
            }
            self.line.extend_from_slice(m);
        }
    }

    /// A user message cut short: a truncated line (a crash mid-write),
    /// or with `partial`, the file's unfinished last line, which is bytes
    /// but not yet a line.
    fn cut(&mut self, partial: bool) -> io::Result<()> {
        self.build_user();
        let cut = self.rng.range(20, self.line.len() as u64 - 1) as usize;
        self.line.truncate(cut);
        if !partial {
            return self.emit(Class::Malformed);
        }
        self.out.write_all(&self.line)?;
        self.written += cut as u64;
        self.t.bytes += cut as u64;
        self.line.clear();
        Ok(())
    }

    /// Appends `"key":"…"`: `lo..hi` bytes (log-uniform) of code or prose.
    fn text(&mut self, key: &str, code: bool, lo: u64, hi: u64) {
        let _ = write!(self.line, "\"{key}\":\"");
        let n = self.rng.log_uniform(lo, hi);
        let pool = if code { &self.pools.code } else { &self.pools.prose };
        pool.take(&mut self.rng, n, &mut self.line);
        self.line.push(b'"');
    }

    /// The arguments of a call to `tool`.
    fn args(&mut self, tool: &str) {
        if tool.contains("file") || tool.contains("dir") || tool == "replace" {
            self.line.extend_from_slice(b"{\"file_path\":\"");
            self.path();
            self.line.extend_from_slice(b"\",");
        } else {
            self.line.push(b'{');
        }
        match tool {
            "run_shell_command" => {
                self.text("command", true, 20, 400);
                self.line.push(b',');
                self.text("description", false, 20, 120);
            }
            "replace" => {
                self.text("old_string", true, 40, 3_000);
                self.line.push(b',');
                self.text("new_string", true, 40, 3_000);
            }
            "write_file" => self.text("content", true, 200, 30_000.min(self.cap)),
            _ => self.text("query", false, 10, 200),
        }
        self.line.push(b'}');
    }

    /// One tool call: settled (`status` and inline result) or in flight.
    fn call(&mut self, c: &Call, at: u64, settled: bool) {
        let name = TOOLS[c.tool].0;
        let _ = write!(self.line, "{{\"id\":\"{}\",\"name\":\"{name}\",\"args\":", c.id);
        self.args(name);
        let status = if settled { c.status } else { "executing" };
        let _ = write!(self.line, ",\"status\":\"{status}\",\"timestamp\":\"");
        self.iso(at);
        self.line.push(b'"');
        if settled {
            let _ = write!(
                self.line,
                ",\"result\":[{{\"functionResponse\":{{\"id\":\"{}\",\"name\":\"{name}\",\
                 \"response\":{{",
                c.id
            );
            match c.status {
                "success" => {
                    self.line.extend_from_slice(b"\"output\":\"");
                    let n = tool_output_len(&mut self.rng).min(self.cap);
                    self.code(n);
                    self.context += n / 4;
                }
                "error" => {
                    self.line.extend_from_slice(b"\"error\":\"Error: ");
                    self.prose(30, 400);
                }
                _ => self.line.extend_from_slice(
                    b"\"error\":\"[Operation Cancelled] Reason: User cancelled the operation.",
                ),
            }
            self.line.extend_from_slice(b"\"}}}]");
        }
        self.line.push(b'}');
    }

    /// One model response: written once, or re-appended as it grows (the
    /// last copy sometimes only inside a `$set` checkpoint). Counts its
    /// last values once.
    fn gemini(&mut self, tools: bool) -> io::Result<()> {
        if self.rng.chance(0.02) {
            self.model = pick(&mut self.rng, MODELS.iter().map(|m| m.3));
        }
        let (model_id, _, thinks, _) = MODELS[self.model];
        self.ts_ms += self.rng.range(500, 30_000);
        let ts = self.ts_ms;
        let id = self.rng.uuid();
        // Final tokens: input (incl. cached), output, cached, thoughts, tool.
        let input = self.context.max(500);
        let cached = if self.rng.chance(0.6) { input * self.rng.range(40, 96) / 100 } else { 0 };
        let output = self.rng.log_uniform(8, 6_000);
        let thoughts =
            if thinks && self.rng.chance(0.8) { self.rng.log_uniform(30, 8_000) } else { 0 };
        let tool = if self.rng.chance(0.1) { self.rng.range(10, 2_000) } else { 0 };
        let fin = [input, output, cached, thoughts, tool];
        let ncalls =
            if tools { self.rng.weighted(&[(1usize, 70), (2, 18), (3, 8), (4, 4)]) } else { 0 };
        let calls: Vec<Call> = (0..ncalls)
            .map(|_| {
                let tool = pick(&mut self.rng, TOOLS.iter().map(|t| t.2));
                let status =
                    self.rng.weighted(&[("success", 950), ("error", 38), ("cancelled", 12)]);
                let id = format!("{}-{}-{:012x}", TOOLS[tool].0, ts, self.rng.next_u64() >> 16);
                Call { id, tool, status }
            })
            .collect();
        // Earlier copies: tokens absent or partial, fewer calls, in flight.
        let copies = self.rng.weighted(&[(1usize, 72), (2, 22), (3, 6)]);
        let in_checkpoint = copies > 1 && self.rng.chance(0.15);
        let mut prev = [0u64; 4];
        let mut prev_calls = 0;
        for k in 0..copies {
            let last = k + 1 == copies;
            let (tok, n) = if last {
                (Some(fin), ncalls)
            } else if k == 0 && self.rng.chance(0.4) {
                (None, 0)
            } else {
                let o =
                    if self.rng.chance(0.5) { output } else { output * self.rng.below(100) / 100 };
                let th = thoughts * self.rng.below(101) / 100;
                let n = prev_calls + self.rng.below((ncalls - prev_calls) as u64 + 1) as usize;
                (Some([input, o.max(prev[2]), cached, th.max(prev[3]), tool]), n)
            };
            let now = tok.map_or([0; 4], |[i, o, c, th, tl]| [i - c + tl, c, o, th]);
            let grows = now.iter().zip(&prev).any(|(a, b)| a > b)
                || n > prev_calls
                || (last && calls.iter().any(|c| c.status == "error"));
            let class = if k == 0 || grows { Class::Parsed } else { Class::Ignored };
            let cp = last && in_checkpoint;
            if cp {
                self.checkpoint_open();
                if !self.ring.is_empty() {
                    self.line.push(b',');
                }
            }
            let start = self.line.len();
            let _ = write!(self.line, "{{\"id\":\"{id}\",\"timestamp\":\"");
            self.iso(ts);
            self.line.extend_from_slice(b"\",\"type\":\"gemini\",\"content\":\"");
            if last || self.rng.chance(0.5) {
                let hi = if self.rng.chance(0.05) { 40_000 } else { 4_000 };
                self.prose(10, hi);
            }
            self.line.extend_from_slice(b"\",\"thoughts\":[");
            for j in 0..if thoughts > 0 { self.rng.below(4) } else { 0 } {
                if j > 0 {
                    self.line.push(b',');
                }
                self.line.push(b'{');
                self.text("subject", false, 10, 60);
                self.line.push(b',');
                self.text("description", false, 60, 1_500);
                self.line.extend_from_slice(b",\"timestamp\":\"");
                self.iso(ts - 400 + j * 100);
                self.line.extend_from_slice(b"\"}");
            }
            self.line.push(b']');
            if let Some([i, o, c, th, tl]) = tok {
                let _ = write!(
                    self.line,
                    ",\"tokens\":{{\"input\":{i},\"output\":{o},\"cached\":{c},\"thoughts\":{th},\
                     \"tool\":{tl},\"total\":{}}}",
                    i + o + th + tl
                );
            }
            let _ = write!(self.line, ",\"model\":\"{model_id}\"");
            if n > 0 {
                self.line.extend_from_slice(b",\"toolCalls\":[");
                for (j, c) in calls[..n].iter().enumerate() {
                    if j > 0 {
                        self.line.push(b',');
                    }
                    self.call(c, ts + 50 + j as u64 * 200, last);
                }
                self.line.push(b']');
            }
            self.line.push(b'}');
            if last {
                self.remember(start);
            }
            if cp {
                self.line.extend_from_slice(b"]}}");
            }
            self.emit(class)?;
            if k == 0 {
                self.t.turns[usize::from(self.sub)] += 1;
            }
            prev = now;
            prev_calls = n;
            if !last && self.rng.chance(0.1) {
                self.set_patch()?;
            }
        }
        for (i, v) in prev.iter().enumerate() {
            self.t.tokens[i] += v;
        }
        self.t.tokens_model[self.model] += prev.iter().sum::<u64>();
        for c in &calls {
            self.t.tools[c.tool] += 1;
            self.t.errors_tool += u64::from(c.status == "error");
        }
        self.context += output + tool;
        if self.context > 900_000 {
            let after = self.context / 8;
            let text = format!("Chat history compressed from {} to {after} tokens.", self.context);
            self.context = after;
            self.notice("info", &text)?;
        }
        Ok(())
    }

    /// One prompt and the model's work on it. False once the file is full.
    fn round(&mut self) -> io::Result<bool> {
        if self.full() {
            return Ok(false);
        }
        if self.rng.chance(0.04) {
            self.set_patch()?;
        }
        if self.rng.chance(0.01) {
            self.notice("warning", "Skipping unreadable directory: node_modules/.cache")?;
        }
        if self.rng.chance(0.015) && !self.ring.is_empty() {
            self.checkpoint_open();
            self.line.extend_from_slice(b"]}}");
            self.emit(Class::Ignored)?;
        }
        if self.rng.chance(0.002) {
            self.cut(false)?;
        }
        self.user()?;
        let steps = self.rng.steps(25, 0.72);
        for step in 0..steps {
            if self.full() {
                return Ok(false);
            }
            if self.rng.chance(0.02) {
                self.api_error()?;
                break;
            }
            self.gemini(step + 1 < steps)?;
        }
        if self.rng.chance(0.03) {
            self.notice("info", "Request cancelled.")?;
        }
        if self.rng.chance(0.012) {
            if let Some(u) = self.last_user.take() {
                let _ = write!(self.line, "{{\"$rewindTo\":\"{u}\"}}");
                self.emit(Class::Ignored)?;
            }
        }
        Ok(!self.full())
    }
}

/// An index into a table, by the table's `weights`.
fn pick(rng: &mut Rng, weights: impl Iterator<Item = u32> + Clone) -> usize {
    let total: u64 = weights.clone().map(u64::from).sum();
    let mut x = rng.below(total);
    let mut last = 0;
    for (i, w) in weights.enumerate() {
        if x < u64::from(w) {
            return i;
        }
        x -= u64::from(w);
        last = i;
    }
    last
}

/// Decides every chat: path, main or subagent, size, session and project.
fn plan_corpus(home: &Path, seed: u64, bytes: u64) -> Vec<Plan> {
    let mut rng = Rng::new(seed, 0);
    let mut kinds = Vec::new();
    let mut sum = 0;
    while sum < bytes {
        let sub = !kinds.is_empty() && rng.chance(0.08);
        let s = if sub {
            rng.log_uniform(8 * KIB, 2 * MIB)
        } else {
            rng.log_uniform(16 * KIB, 32 * MIB)
        };
        let s = s.min(bytes - sum);
        kinds.push((sub, s));
        sum += s;
    }
    let projects = (kinds.len() as u64 / 25).clamp(1, 300);
    let names: Vec<(String, String)> = (0..projects)
        .map(|p| {
            let mut hash = String::with_capacity(64);
            for _ in 0..4 {
                hash.push_str(&format!("{:016x}", rng.next_u64()));
            }
            let slug = SLUGS[(p % SLUGS.len() as u64) as usize];
            let dir = match (p % 3, p / SLUGS.len() as u64) {
                (0, _) => hash.clone(),
                (_, 0) => slug.to_string(),
                (_, k) => format!("{slug}-{k}"),
            };
            (dir, hash)
        })
        .collect();
    let chats = |p: usize| home.join(".gemini/tmp").join(&names[p].0).join("chats");
    let mut mains: Vec<(usize, u64, String)> = Vec::new();
    let mut plans = Vec::with_capacity(kinds.len());
    for (i, &(sub, target)) in kinds.iter().enumerate() {
        let session = rng.uuid();
        let (project, start_ms, path) = if sub {
            let back = rng.below((mains.len() as u64).min(5)) as usize;
            let (p, parent_ms, parent) = &mains[mains.len() - 1 - back];
            let path = chats(*p).join(parent).join(format!("{session}.jsonl"));
            (*p, parent_ms + rng.range(10_000, 1_800_000), path)
        } else {
            let p = rng.below(projects) as usize;
            let start_ms = EPOCH_2026_MS + i as u64 * 7_200_000 + rng.below(3_600_000);
            let mut stamp = Vec::new();
            push_iso(&mut stamp, start_ms, true);
            let stamp = std::str::from_utf8(&stamp[..16]).expect("ascii");
            mains.push((p, start_ms, session.clone()));
            (p, start_ms, chats(p).join(format!("session-{stamp}-{}.jsonl", &session[..8])))
        };
        let (project_hash, stream) = (names[project].1.clone(), i as u64 + 1);
        plans.push(Plan { path, sub, target, start_ms, session, project_hash, stream });
    }
    plans
}

/// Writes one planned chat; returns its counts.
fn generate_file(plan: &Plan, pools: &Pools, seed: u64) -> io::Result<Tally> {
    if let Some(dir) = plan.path.parent() {
        fs::create_dir_all(dir)?;
    }
    let file = File::create(&plan.path)?;
    let mut rng = Rng::new(seed, plan.stream);
    let model = pick(&mut rng, MODELS.iter().map(|m| m.3));
    let mut g = Gen {
        out: BufWriter::with_capacity(256 * KIB as usize, file),
        pools,
        rng,
        line: Vec::with_capacity(64 * KIB as usize),
        ring: VecDeque::new(),
        sub: plan.sub,
        cap: (plan.target / 3).clamp(4 * KIB, 6_000_000),
        ts_ms: plan.start_ms,
        model,
        context: 6_000,
        last_user: None,
        written: 0,
        limit: plan.target,
        t: Tally { files: 1, ..Tally::default() },
    };
    g.header(plan)?;
    while g.round()? {}
    if g.rng.chance(0.04) {
        g.cut(true)?;
    }
    g.out.flush()?;
    Ok(g.t)
}

/// Writes a Gemini CLI home of about `bytes` under `home`.
pub(crate) fn generate(home: &Path, seed: u64, bytes: u64) -> Res<super::Generated> {
    let pools = Pools::new(seed);
    let plans = plan_corpus(home, seed, bytes);
    let results: Vec<io::Result<Tally>> =
        plans.par_iter().map(|p| generate_file(p, &pools, seed)).collect();
    let mut t = Tally::default();
    for r in results {
        t.add(&r?);
    }
    Ok(super::Generated { files: t.files, bytes: t.bytes, expected: t.expected(), unread_lines: 0 })
}
