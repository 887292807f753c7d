//! The Codex CLI corpus: a `~/.codex` home of rollouts, with the exact
//! counts they must produce.
//!
//! Rollouts live in `sessions/YYYY/MM/DD/rollout-<time>-<uuid>.jsonl` (a few
//! older ones flat in `archived_sessions/`). Each is a `session_meta` line
//! (with the long base instructions real rollouts carry), then turns: a
//! `turn_context` naming the model, the prompt as a `response_item` message
//! and an `event_msg` `user_message`, then model calls — encrypted
//! `reasoning`, `function_call`s with JSON-string arguments,
//! `custom_tool_call` `apply_patch`es, `local_shell_call`s,
//! `web_search_call`s, MCP `server__tool` calls, assistant messages and
//! `agent_message`s — each followed by a `token_count` with the thread's
//! cumulative `total_token_usage` and the call's `last_token_usage`, and
//! the tool outputs (up to several MB).
//!
//! It carries the format's traps in modest proportions, so a scanner does
//! its real work: `token_count` rows with `info: null` and rows re-emitting
//! unchanged totals (add nothing), `turn_aborted` and `error` events,
//! context compactions, a few truncated lines and trailing partial lines,
//! and a few forked and subagent rollouts. A fork starts with a verbatim
//! copy of a prefix of its parent (stamped before the fork); a subagent
//! replays it with every row re-stamped into the second it was spawned.
//! Their copied rows count nothing, but their totals are the baseline the
//! child's own rows grow from. Malformed lines are never `token_count` or
//! `turn_context` rows, so the totals are the same for any reader that
//! skips them (see [`ccusage_check`]).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::{json, Value};

use super::common::*;
use crate::{Res, EPOCH_2026_MS, KIB, MIB};

// ---------------------------------------------------------------------------
// Expected counts

/// Declares the counter indices and the expected-total key of each.
macro_rules! counters {
    ($($name:ident = $key:literal,)*) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms, dead_code)]
        #[derive(Clone, Copy)]
        #[repr(usize)]
        enum C { $($name,)* }
        /// The key of each counter, in [`C`]'s order.
        const KEYS: &[&str] = &[$($key,)*];
    };
}

counters! {
    SESSIONS = "pack.session.start{pack=codex}",
    SESSIONS_MAIN = "pack.session.start{pack=codex,session.type=main}",
    SESSIONS_SUB = "pack.session.start{pack=codex,session.type=subagent}",
    PROMPTS = "pack.user.prompt{pack=codex}",
    PROMPTS_SUB = "pack.user.prompt{pack=codex,session.type=subagent}",
    TURNS = "pack.agent.turn{pack=codex}",
    TURNS_SUCCESS = "pack.agent.turn{pack=codex,outcome=success}",
    TURNS_SUB = "pack.agent.turn{pack=codex,session.type=subagent}",
    TOOLS = "pack.tool.call{pack=codex}",
    T_SHELL = "pack.tool.call{pack=codex,tool.class=shell}",
    T_FILE = "pack.tool.call{pack=codex,tool.class=file}",
    T_SEARCH = "pack.tool.call{pack=codex,tool.class=search}",
    T_PLANNING = "pack.tool.call{pack=codex,tool.class=planning}",
    T_MEDIA = "pack.tool.call{pack=codex,tool.class=media}",
    T_AGENT = "pack.tool.call{pack=codex,tool.class=agent}",
    T_MCP = "pack.tool.call{pack=codex,tool.class=mcp}",
    T_OTHER = "pack.tool.call{pack=codex,tool.class=other}",
    T_APPLY_PATCH = "pack.tool.call{pack=codex,tool.name=apply_patch}",
    ERRORS = "pack.error{pack=codex}",
    E_ABORTED = "pack.error{pack=codex,error.type=aborted}",
    E_QUOTA = "pack.error{pack=codex,error.type=quota}",
    E_TRANSIENT = "pack.error{pack=codex,error.type=transient}",
    E_PROMPT = "pack.error{pack=codex,error.type=prompt}",
    E_UNKNOWN = "pack.error{pack=codex,error.type=unknown}",
    TOK_INPUT = "pack.token.usage{pack=codex,token.type=input}",
    TOK_CACHE_READ = "pack.token.usage{pack=codex,token.type=cache_read}",
    TOK_CACHE_WRITE = "pack.token.usage{pack=codex,token.type=cache_write}",
    TOK_OUTPUT = "pack.token.usage{pack=codex,token.type=output}",
    TOK_REASONING = "pack.token.usage{pack=codex,token.type=reasoning}",
    PARSED = "pack.emitter.lines{pack=codex,result=parsed}",
    IGNORED = "pack.emitter.lines{pack=codex,result=ignored}",
    MALFORMED = "pack.emitter.lines{pack=codex,result=malformed}",
    OVERSIZED = "pack.emitter.lines{pack=codex,result=oversized}",
}

/// Exact counts of part of a corpus.
#[derive(Clone, Debug)]
struct Tally {
    files: u64,
    bytes: u64,
    c: [u64; KEYS.len()],
}

impl Tally {
    fn new(files: u64) -> Tally {
        Tally { files, bytes: 0, c: [0; KEYS.len()] }
    }

    fn add(&mut self, o: &Tally) {
        self.files += o.files;
        self.bytes += o.bytes;
        for (a, b) in self.c.iter_mut().zip(o.c) {
            *a += b;
        }
    }

    fn expected(&self) -> BTreeMap<String, u64> {
        KEYS.iter().zip(self.c).map(|(k, v)| (k.to_string(), v)).collect()
    }
}

// ---------------------------------------------------------------------------
// Vocabulary

/// Models named by `turn_context`, with weights.
const MODELS: &[(&str, u32)] = &[
    ("gpt-5-codex", 25),
    ("gpt-5.1-codex", 20),
    ("gpt-5.1-codex-max", 14),
    ("gpt-5.2-codex", 12),
    ("gpt-5.1-codex-mini", 8),
    ("gpt-5", 8),
    ("gpt-5.1", 6),
    ("gpt-5.3-codex", 6),
];

/// How a tool call is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    Function,
    Custom,
    LocalShell,
    WebSearch,
}

/// Tools as `(name, item, tool.class counter)`, with weights: Codex's
/// built-ins, MCP `server__tool` names and one telemetron does not know.
const TOOL_TABLE: &[((&str, Item, C), u32)] = &[
    (("shell", Item::Function, C::T_SHELL), 22),
    (("exec_command", Item::Function, C::T_SHELL), 18),
    (("shell_command", Item::Function, C::T_SHELL), 4),
    (("write_stdin", Item::Function, C::T_SHELL), 2),
    (("local_shell", Item::LocalShell, C::T_SHELL), 2),
    (("apply_patch", Item::Custom, C::T_FILE), 14),
    (("read_file", Item::Function, C::T_FILE), 6),
    (("list_dir", Item::Function, C::T_FILE), 3),
    (("grep_files", Item::Function, C::T_SEARCH), 4),
    (("web_search", Item::WebSearch, C::T_SEARCH), 2),
    (("update_plan", Item::Function, C::T_PLANNING), 5),
    (("view_image", Item::Function, C::T_MEDIA), 1),
    (("spawn_agent", Item::Function, C::T_AGENT), 1),
    (("wait", Item::Function, C::T_AGENT), 1),
    (("github__create_pull_request", Item::Function, C::T_MCP), 2),
    (("linear__search_issues", Item::Function, C::T_MCP), 1),
    (("playwright__browser_navigate", Item::Function, C::T_MCP), 1),
    (("repo_lint", Item::Function, C::T_OTHER), 1),
];

/// `event_msg` `error` payload tails (`codex_error_info`) and the
/// `error.type` each must be classified as.
const ERROR_INFOS: &[(&str, C)] = &[
    (
        r#""message":"You've hit your usage limit.","codex_error_info":"usage_limit_exceeded""#,
        C::E_QUOTA,
    ),
    (
        r#""message":"stream disconnected before completion","codex_error_info":{"http_connection_failed":{"http_status_code":null}}"#,
        C::E_TRANSIENT,
    ),
    (
        r#""message":"context window exceeded","codex_error_info":"context_window_exceeded""#,
        C::E_PROMPT,
    ),
    (r#""message":"unexpected status","codex_error_info":"other""#, C::E_UNKNOWN),
    (r#""message":"unexpected status""#, C::E_UNKNOWN),
];

// ---------------------------------------------------------------------------
// Writing one rollout

/// One tool call a model call made, awaiting its output.
struct Call {
    id: String,
    name: &'static str,
    item: Item,
}

/// Where a parent rollout was forked: its first `bytes` are copied.
#[derive(Clone, Copy, Debug)]
struct Snap {
    bytes: u64,
    meta_len: u64,
    lines: u64,
    malformed: u64,
    ts_ms: u64,
    model: &'static str,
    totals: [u64; 4],
    ctx: u64,
}

/// Writes the lines of one rollout and keeps its exact counts.
struct Gen<'p> {
    out: BufWriter<File>,
    pools: &'p Pools,
    rng: Rng,
    line: Vec<u8>,
    scratch: Vec<u8>,
    ts_ms: u64,
    model: &'static str,
    /// Cumulative input (with cached), cached input, output (with
    /// reasoning), reasoning.
    totals: [u64; 4],
    /// Context size of the next model call.
    ctx: u64,
    project: u64,
    subagent: bool,
    cap: u64,
    written: u64,
    limit: u64,
    lines: u64,
    t: Tally,
}

impl<'p> Gen<'p> {
    fn create(path: &Path, pools: &'p Pools, rng: Rng, ts_ms: u64, limit: u64) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let out = BufWriter::with_capacity(256 * KIB as usize, File::create(path)?);
        Ok(Gen {
            out,
            pools,
            rng,
            line: Vec::with_capacity(64 * KIB as usize),
            scratch: Vec::new(),
            ts_ms,
            model: MODELS[0].0,
            totals: [0; 4],
            ctx: 0,
            project: 0,
            subagent: false,
            cap: (limit / 3).clamp(4 * KIB, 6_000_000),
            written: 0,
            limit,
            lines: 0,
            t: Tally::new(1),
        })
    }

    fn full(&self) -> bool {
        self.written >= self.limit
    }

    fn count(&mut self, c: C, n: u64) {
        self.t.c[c as usize] += n;
    }

    fn prose(&mut self, lo: u64, hi: u64) {
        self.pools.prose_between(&mut self.rng, lo, hi, &mut self.line);
    }

    fn code(&mut self, lo: u64, hi: u64) {
        self.pools.code_between(&mut self.rng, lo, hi, &mut self.line);
    }

    fn path(&mut self) -> String {
        let (a, b) = (self.rng.pick(IDENTS), self.rng.pick(IDENTS));
        format!("/home/dev/proj{}/src/{a}/{b}.rs", self.project)
    }

    /// Writes the current line plus `\n`, counted as `class`.
    fn emit(&mut self, class: C) -> io::Result<()> {
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        let n = self.line.len() as u64;
        self.written += n;
        self.t.bytes += n;
        self.lines += 1;
        self.count(class, 1);
        self.line.clear();
        Ok(())
    }

    /// Starts an envelope of type `ty` `lo..hi` ms after the previous line.
    fn begin(&mut self, ty: &str, lo: u64, hi: u64) {
        self.ts_ms += self.rng.range(lo, hi);
        self.line.extend_from_slice(b"{\"timestamp\":\"");
        push_iso(&mut self.line, self.ts_ms, false);
        let _ = write!(self.line, "\",\"type\":\"{ty}\",\"payload\":{{");
    }

    /// Starts an `event_msg` of payload type `ty`.
    fn event(&mut self, ty: &str, lo: u64, hi: u64) {
        self.begin("event_msg", lo, hi);
        let _ = write!(self.line, "\"type\":\"{ty}\"");
    }

    /// The `session_meta` line: a session start.
    fn meta(&mut self, id: &str, source: &str, forked_from: Option<&str>) -> io::Result<()> {
        self.begin("session_meta", 0, 1);
        let _ = write!(self.line, "\"id\":\"{id}\",");
        if let Some(p) = forked_from {
            let _ = write!(self.line, "\"forked_from_id\":\"{p}\",");
        }
        self.line.extend_from_slice(b"\"timestamp\":\"");
        push_iso(&mut self.line, self.ts_ms, false);
        let originator = match source {
            "\"exec\"" => "codex_exec",
            "\"vscode\"" => "codex_vscode",
            _ => "codex_cli_rs",
        };
        let (p, v) = (self.project, self.rng.range(44, 64));
        let _ = write!(
            self.line,
            "\",\"cwd\":\"/home/dev/proj{p}\",\"originator\":\"{originator}\",\"cli_version\":\
             \"0.{v}.0\",\"source\":{source},\"model_provider\":\"openai\",\
             \"base_instructions\":{{\"text\":\""
        );
        self.prose(3_000, 16_000);
        let (h1, h2, h3) = (self.rng.next_u64(), self.rng.next_u64(), self.rng.next_u64() >> 32);
        let _ = write!(
            self.line,
            "\"}},\"git\":{{\"commit_hash\":\"{h1:016x}{h2:016x}{h3:08x}\",\"branch\":\"main\",\
             \"repository_url\":\"https://github.com/dev/proj{p}.git\"}}}}}}"
        );
        self.count(C::SESSIONS, 1);
        self.count(if self.subagent { C::SESSIONS_SUB } else { C::SESSIONS_MAIN }, 1);
        self.emit(C::PARSED)
    }

    /// A `turn_context` naming the model.
    fn turn_context(&mut self) -> io::Result<()> {
        self.begin("turn_context", 2, 200);
        let effort = self.rng.pick(&["low", "medium", "high"]);
        let _ = write!(
            self.line,
            "\"cwd\":\"/home/dev/proj{}\",\"approval_policy\":\"on-request\",\"sandbox_policy\":\
             {{\"type\":\"workspace-write\",\"network_access\":false,\"exclude_tmpdir_env_var\":\
             false,\"exclude_slash_tmp\":false}},\"model\":\"{}\",\"effort\":\"{effort}\",\
             \"summary\":\"auto\"}}}}",
            self.project, self.model
        );
        self.emit(C::IGNORED)
    }

    /// The injected environment context and AGENTS.md of a session's
    /// first turn (a user `response_item`, not a prompt).
    fn environment(&mut self) -> io::Result<()> {
        self.begin("response_item", 1, 50);
        let _ = write!(
            self.line,
            "\"type\":\"message\",\"role\":\"user\",\"content\":[{{\"type\":\"input_text\",\
             \"text\":\"<user_instructions>\\n\\n"
        );
        self.prose(500, 8_000);
        let _ = write!(
            self.line,
            "\\n\\n</user_instructions>\"}},{{\"type\":\"input_text\",\"text\":\
             \"<environment_context>\\n  <cwd>/home/dev/proj{}</cwd>\\n  <approval_policy>\
             on-request</approval_policy>\\n  <sandbox_mode>workspace-write</sandbox_mode>\\n  \
             <shell>bash</shell>\\n</environment_context>\"}}]}}}}",
            self.project
        );
        self.emit(C::IGNORED)
    }

    /// Builds a prompt text into `scratch` (sometimes with pasted code).
    fn prompt_text(&mut self) {
        self.scratch.clear();
        let paste = self.rng.chance(0.05);
        let n = self.rng.log_uniform(20, if paste { 300 } else { 3_000 });
        self.pools.prose.take(&mut self.rng, n, &mut self.scratch);
        if paste {
            let n = self.rng.log_uniform(3_000, 40_000);
            self.pools.code.take(&mut self.rng, n, &mut self.scratch);
        }
    }

    /// Builds a `user_message` event line (not yet written).
    fn build_user_message(&mut self) {
        self.event("user_message", 1, 30);
        self.line.extend_from_slice(b",\"message\":\"");
        self.line.extend_from_slice(&self.scratch);
        self.line.extend_from_slice(b"\",\"images\":[]}}");
    }

    /// A prompt: the `response_item` message and the `user_message` event.
    fn prompt(&mut self) -> io::Result<()> {
        self.prompt_text();
        self.begin("response_item", 5_000, 900_000);
        self.line.extend_from_slice(
            b"\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"",
        );
        self.line.extend_from_slice(&self.scratch);
        self.line.extend_from_slice(b"\"}]}}");
        self.emit(C::IGNORED)?;
        self.build_user_message();
        self.count(C::PROMPTS, 1);
        if self.subagent {
            self.count(C::PROMPTS_SUB, 1);
        }
        self.emit(C::PARSED)
    }

    /// A `user_message` line cut short (a crash mid-write): malformed.
    fn malformed(&mut self) -> io::Result<()> {
        self.prompt_text();
        self.build_user_message();
        let cut = self.rng.range(20, self.line.len() as u64 - 1) as usize;
        self.line.truncate(cut);
        self.emit(C::MALFORMED)
    }

    /// A partial last line (Codex is still writing it): no newline, not a
    /// line yet, never counted.
    fn fragment(&mut self) -> io::Result<()> {
        self.begin("response_item", 100, 5_000);
        self.line.extend_from_slice(
            b"\"type\":\"function_call_output\",\"call_id\":\"call_x\",\"output\":\"",
        );
        self.code(200, 20_000);
        let cut = self.rng.range(20, self.line.len() as u64 - 1) as usize;
        self.out.write_all(&self.line[..cut])?;
        self.written += cut as u64;
        self.t.bytes += cut as u64;
        self.line.clear();
        Ok(())
    }

    /// Encrypted reasoning, sometimes with its summary event.
    fn reasoning(&mut self) -> io::Result<()> {
        self.begin("response_item", 300, 20_000);
        self.line.extend_from_slice(
            b"\"type\":\"reasoning\",\"summary\":[{\"type\":\"summary_text\",\"text\":\"**",
        );
        let start = self.line.len();
        self.prose(40, 600);
        let summary = self.line[start..].to_vec();
        self.line.extend_from_slice(b"**\"}],\"content\":null,\"encrypted_content\":\"gAAAAAB");
        let n = self.rng.log_uniform(600, 9_000);
        base64_into(&mut self.rng, n, &mut self.line);
        self.line.extend_from_slice(b"\"}}");
        self.emit(C::IGNORED)?;
        if self.rng.chance(0.5) {
            self.event("agent_reasoning", 1, 20);
            self.line.extend_from_slice(b",\"text\":\"**");
            self.line.extend_from_slice(&summary);
            self.line.extend_from_slice(b"**\"}}");
            self.emit(C::IGNORED)?;
        }
        Ok(())
    }

    /// The final answer of a turn: assistant message and `agent_message`.
    fn answer(&mut self) -> io::Result<()> {
        self.begin("response_item", 500, 40_000);
        self.line.extend_from_slice(
            b"\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"",
        );
        let start = self.line.len();
        self.prose(200, 14_000);
        let text = self.line[start..].to_vec();
        self.line.extend_from_slice(b"\"}]}}");
        self.emit(C::IGNORED)?;
        self.event("agent_message", 1, 20);
        self.line.extend_from_slice(b",\"message\":\"");
        self.line.extend_from_slice(&text);
        self.line.extend_from_slice(b"\"}}");
        self.emit(C::IGNORED)
    }

    /// Raw JSON arguments of a function call.
    fn arguments(&mut self, name: &str) -> String {
        let file = self.path();
        let cwd = format!("/home/dev/proj{}", self.project);
        let r = &mut self.rng;
        let (a, b) = (r.pick(IDENTS), r.pick(IDENTS));
        let cmd = match r.below(6) {
            0 => format!("rg -n \"{a}\" src"),
            1 => format!("cargo test {a}::{b} -- --nocapture"),
            2 => format!("sed -n '1,{}p' src/{a}/{b}.rs", r.range(40, 400)),
            3 => "git status --short && git diff --stat".to_string(),
            4 => format!("npm run build -- --filter {a}"),
            _ => format!("ls -la src/{a}"),
        };
        let mut words = String::new();
        let n = r.range(4, 40);
        sentence(r, &mut words, n);
        let v = match name {
            "shell" => {
                json!({"command": ["bash", "-lc", cmd], "workdir": cwd, "timeout_ms": 120000})
            }
            "exec_command" => json!({"cmd": cmd, "workdir": cwd, "yield_time_ms": 10000}),
            "shell_command" => json!({"command": cmd, "workdir": cwd}),
            "write_stdin" => json!({"session_id": r.below(20), "chars": "y\n"}),
            "read_file" => json!({"file_path": file, "offset": 1, "limit": 200}),
            "list_dir" => json!({"dir_path": format!("{cwd}/src/{a}"), "depth": 2}),
            "grep_files" => json!({"pattern": a, "path": cwd, "include": "*.rs"}),
            "update_plan" => json!({"explanation": words, "plan": [
                {"step": format!("Inspect {a}"), "status": "completed"},
                {"step": format!("Refactor {b}"), "status": "in_progress"}]}),
            "view_image" => json!({"path": format!("{cwd}/docs/{a}.png")}),
            "spawn_agent" => json!({"message": words, "agent_type": "worker"}),
            "wait" => json!({"ids": [format!("agent-{}", r.below(9))], "timeout_ms": 30000}),
            _ => json!({"title": format!("{a}: {b}"), "body": words}),
        };
        v.to_string()
    }

    /// One tool call item.
    fn tool_call(&mut self) -> io::Result<Call> {
        let (name, item, class) = self.rng.weighted(TOOL_TABLE);
        let mut id = String::from("call_");
        let mut b = Vec::with_capacity(24);
        base64_into(&mut self.rng, 24, &mut b);
        id.extend(b.iter().map(|&c| if c.is_ascii_alphanumeric() { char::from(c) } else { 'x' }));
        match item {
            Item::Function => {
                let args = self.arguments(name);
                self.begin("response_item", 200, 8_000);
                let _ = write!(
                    self.line,
                    "\"type\":\"function_call\",\"name\":\"{name}\",\"arguments\":\""
                );
                escape_into(&args, &mut self.line);
                let _ = write!(self.line, "\",\"call_id\":\"{id}\"}}}}");
            }
            Item::Custom => {
                let path = self.path();
                self.begin("response_item", 500, 20_000);
                let _ = write!(
                    self.line,
                    "\"type\":\"custom_tool_call\",\"status\":\"completed\",\"call_id\":\"{id}\",\
                     \"name\":\"apply_patch\",\"input\":\"*** Begin Patch\\n*** Update File: {path}\\n@@\\n"
                );
                self.code(100, 9_000);
                self.line.extend_from_slice(b"*** End Patch\"}}");
            }
            Item::LocalShell => {
                let args = self.arguments("shell");
                let cmd: Value = serde_json::from_str(&args).unwrap_or(Value::Null);
                self.begin("response_item", 200, 8_000);
                let _ = write!(
                    self.line,
                    "\"type\":\"local_shell_call\",\"call_id\":\"{id}\",\"status\":\"completed\",\
                     \"action\":{{\"type\":\"exec\",\"command\":{},\"timeout_ms\":120000}}}}}}",
                    cmd["command"]
                );
            }
            Item::WebSearch => {
                let (a, b) = (self.rng.pick(IDENTS), self.rng.pick(WORDS));
                self.begin("response_item", 200, 8_000);
                let _ = write!(
                    self.line,
                    "\"type\":\"web_search_call\",\"status\":\"completed\",\"action\":\
                     {{\"type\":\"search\",\"query\":\"rust {a} {b}\"}}}}}}"
                );
            }
        }
        self.count(C::TOOLS, 1);
        self.count(class, 1);
        if name == "apply_patch" {
            self.count(C::T_APPLY_PATCH, 1);
        }
        self.emit(C::PARSED)?;
        Ok(Call { id, name, item })
    }

    /// The output of a tool call (a web search has none).
    fn tool_output(&mut self, call: &Call) -> io::Result<()> {
        if call.item == Item::WebSearch {
            return Ok(());
        }
        self.begin("response_item", 50, 30_000);
        let kind = if call.item == Item::Custom {
            "custom_tool_call_output"
        } else {
            "function_call_output"
        };
        let _ = write!(self.line, "\"type\":\"{kind}\",\"call_id\":\"{}\",\"output\":\"", call.id);
        let exit = if self.rng.chance(0.08) { 1 } else { 0 };
        let secs = self.rng.below(30_000) as f64 / 1000.0;
        if call.item == Item::Custom {
            let path = self.path();
            let _ = write!(
                self.line,
                "{{\\\"output\\\":\\\"Success. Updated the following files:\\\\nM {path}\\\\n\\\",\
                 \\\"metadata\\\":{{\\\"exit_code\\\":0,\\\"duration_seconds\\\":{secs}}}}}"
            );
        } else if call.name == "update_plan" {
            self.line.extend_from_slice(b"Plan updated");
        } else if !matches!(call.name, "shell" | "exec_command" | "shell_command" | "local_shell") {
            self.prose(50, 4_000);
        } else if self.rng.chance(0.3) {
            // The older form: a JSON document in the string.
            self.scratch.clear();
            self.scratch.extend_from_slice(b"{\"output\":\"");
            let n = tool_output_len(&mut self.rng).min(2_000);
            self.pools.code.take(&mut self.rng, n, &mut self.scratch);
            let _ = write!(
                self.scratch,
                "\",\"metadata\":{{\"exit_code\":{exit},\"duration_seconds\":{secs}}}}}"
            );
            escape_into(std::str::from_utf8(&self.scratch).unwrap_or(""), &mut self.line);
            self.ctx += n / 4;
        } else {
            let _ = write!(self.line, "Exit code: {exit}\\nWall time: {secs} seconds\\nOutput:\\n");
            let n = tool_output_len(&mut self.rng).min(self.cap);
            self.pools.code.take(&mut self.rng, n, &mut self.line);
            self.ctx += (n / 4).min(60_000);
        }
        self.line.extend_from_slice(b"\"}}");
        self.emit(C::IGNORED)
    }

    /// Writes a `token_count` row with `totals` and, if given, `last`.
    fn token_row(&mut self, last: Option<[u64; 4]>) {
        self.event("token_count", 20, 2_000);
        let usage = |out: &mut Vec<u8>, u: [u64; 4]| {
            let _ = write!(
                out,
                "{{\"input_tokens\":{},\"cached_input_tokens\":{},\"output_tokens\":{},\
                 \"reasoning_output_tokens\":{},\"total_tokens\":{}}}",
                u[0],
                u[1],
                u[2],
                u[3],
                u[0] + u[2]
            );
        };
        self.line.extend_from_slice(b",\"info\":{\"total_token_usage\":");
        usage(&mut self.line, self.totals);
        if let Some(l) = last {
            self.line.extend_from_slice(b",\"last_token_usage\":");
            usage(&mut self.line, l);
        }
        self.line.extend_from_slice(b",\"model_context_window\":272000}");
        self.rate_limits();
    }

    /// Closes a `token_count` with its `rate_limits`.
    fn rate_limits(&mut self) {
        let (p, s) = (self.rng.below(1000) as f64 / 10.0, self.rng.below(1000) as f64 / 10.0);
        let at = self.ts_ms / 1000;
        let _ = write!(
            self.line,
            ",\"rate_limits\":{{\"primary\":{{\"used_percent\":{p},\"window_minutes\":300,\
             \"resets_at\":{}}},\"secondary\":{{\"used_percent\":{s},\"window_minutes\":10080,\
             \"resets_at\":{}}}}}}}}}",
            at + 9_000,
            at + 400_000
        );
    }

    /// One model call's `token_count`: totals grow, one turn. Returns the
    /// call's usage (`last_token_usage`).
    fn usage(&mut self) -> io::Result<[u64; 4]> {
        let input = self.ctx;
        let cached = if self.totals[0] == 0 { 0 } else { input * self.rng.range(40, 98) / 100 };
        let output = if self.rng.chance(0.1) {
            self.rng.range(3_000, 16_000)
        } else {
            self.rng.range(20, 3_000)
        };
        let reasoning =
            if self.model.contains("mini") { 0 } else { output * self.rng.below(80) / 100 };
        let d = [input, cached, output, reasoning];
        for (t, d) in self.totals.iter_mut().zip(d) {
            *t += d;
        }
        self.ctx += output + self.rng.range(100, 2_000);
        self.token_row(Some(d));
        self.count(C::TURNS, 1);
        self.count(C::TURNS_SUCCESS, 1);
        if self.subagent {
            self.count(C::TURNS_SUB, 1);
        }
        self.count(C::TOK_INPUT, input - cached);
        self.count(C::TOK_CACHE_READ, cached);
        self.count(C::TOK_OUTPUT, output - reasoning);
        self.count(C::TOK_REASONING, reasoning);
        self.emit(C::PARSED)?;
        Ok(d)
    }

    /// A `token_count` with `info: null` (a rate-limit update only).
    fn token_null(&mut self) -> io::Result<()> {
        self.event("token_count", 20, 2_000);
        self.line.extend_from_slice(b",\"info\":null");
        self.rate_limits();
        self.emit(C::IGNORED)
    }

    /// A context compaction (counts nothing).
    fn compaction(&mut self) -> io::Result<()> {
        self.begin("compacted", 2_000, 30_000);
        self.line.extend_from_slice(b"\"message\":\"");
        self.prose(1_000, 12_000);
        self.line.extend_from_slice(b"\"}}");
        self.emit(C::IGNORED)?;
        self.event("context_compacted", 1, 50);
        self.line.extend_from_slice(b"}}");
        self.emit(C::IGNORED)?;
        self.ctx = self.rng.range(8_000, 30_000);
        Ok(())
    }

    /// One prompt and what the agent did about it. Returns false once the
    /// file is full (possibly mid-turn, as an interrupted session is).
    fn round(&mut self, first: bool) -> io::Result<bool> {
        if self.full() {
            return Ok(false);
        }
        if self.rng.chance(0.004) {
            self.malformed()?;
        }
        if self.rng.chance(0.05) {
            self.model = self.rng.weighted(MODELS);
        }
        let started = self.rng.chance(0.7);
        if started {
            self.event("task_started", 1, 50);
            self.line.extend_from_slice(b",\"model_context_window\":272000}}");
            self.emit(C::IGNORED)?;
        }
        self.turn_context()?;
        if first {
            self.environment()?;
        }
        self.prompt()?;
        let steps = self.rng.steps(40, 0.8);
        for step in 0..steps {
            if self.full() {
                return Ok(false);
            }
            if self.rng.chance(0.012) {
                self.event("turn_aborted", 100, 20_000);
                self.line.extend_from_slice(b",\"reason\":\"interrupted\"}}");
                self.count(C::ERRORS, 1);
                self.count(C::E_ABORTED, 1);
                return self.emit(C::PARSED).map(|()| !self.full());
            }
            if self.rng.chance(0.005) {
                let (tail, class) = ERROR_INFOS[self.rng.below(ERROR_INFOS.len() as u64) as usize];
                self.event("error", 100, 20_000);
                let _ = write!(self.line, ",{tail}}}}}");
                self.count(C::ERRORS, 1);
                self.count(class, 1);
                return self.emit(C::PARSED).map(|()| !self.full());
            }
            if self.rng.chance(0.6) {
                self.reasoning()?;
            }
            let mut calls = Vec::new();
            if step + 1 == steps {
                self.answer()?;
            } else {
                let n = match self.rng.below(10) {
                    0..=6 => 1,
                    7 | 8 => 2,
                    _ => self.rng.range(3, 6),
                };
                for _ in 0..n {
                    calls.push(self.tool_call()?);
                }
            }
            if self.rng.chance(0.04) {
                self.token_null()?;
            }
            let last = self.usage()?;
            if self.rng.chance(0.05) {
                // The same totals again, with or without the last usage.
                let l = if self.rng.chance(0.5) { Some(last) } else { None };
                self.token_row(l);
                self.emit(C::IGNORED)?;
            }
            for call in &calls {
                if self.full() {
                    return Ok(false);
                }
                self.tool_output(call)?;
            }
            if self.ctx > 240_000 {
                self.compaction()?;
            }
        }
        if started {
            self.event("task_complete", 100, 2_000);
            self.line.extend_from_slice(b",\"last_agent_message\":\"");
            self.prose(20, 400);
            self.line.extend_from_slice(b"\"}}");
            self.emit(C::IGNORED)?;
        }
        Ok(!self.full())
    }

    /// Where a fork of this rollout would start.
    fn snap(&self, meta_len: u64) -> Snap {
        Snap {
            bytes: self.written,
            meta_len,
            lines: self.lines,
            malformed: self.t.c[C::MALFORMED as usize],
            ts_ms: self.ts_ms,
            model: self.model,
            totals: self.totals,
            ctx: self.ctx,
        }
    }

    /// Writes rounds until the file is full; with `fork_at`, returns where
    /// a child forks (the end of the first round past `fork_at` bytes,
    /// once some usage was recorded).
    fn rounds(&mut self, fork_at: Option<u64>, meta_len: u64) -> io::Result<Option<Snap>> {
        let mut snap = None;
        let mut first = true;
        loop {
            let more = self.round(first)?;
            first = false;
            if let Some(at) = fork_at {
                if snap.is_none() && self.written >= at && self.totals[0] > 0 {
                    snap = Some(self.snap(meta_len));
                }
            }
            if !more {
                break;
            }
        }
        if fork_at.is_some() && snap.is_none() && self.totals[0] > 0 {
            snap = Some(self.snap(meta_len));
        }
        if self.rng.chance(0.04) {
            self.fragment()?;
        }
        self.out.flush()?;
        Ok(snap)
    }
}

// ---------------------------------------------------------------------------
// The corpus

/// A fork or subagent of a planned rollout.
#[derive(Clone, Debug)]
struct Child {
    subagent: bool,
    id: String,
    target: u64,
    fork_at: u64,
}

/// One rollout to write (with its child, if any).
#[derive(Clone, Debug)]
struct Plan {
    id: String,
    start_ms: u64,
    target: u64,
    stream: u64,
    project: u64,
    source: &'static str,
    archived: bool,
    child: Option<Child>,
}

/// The path of a rollout started at `ms`.
fn rollout_path(home: &Path, ms: u64, id: &str, archived: bool) -> PathBuf {
    let mut stamp = Vec::new();
    push_iso(&mut stamp, ms, true);
    let stamp = String::from_utf8_lossy(&stamp[..19]).into_owned();
    let name = format!("rollout-{stamp}-{id}.jsonl");
    let codex = home.join(".codex");
    if archived {
        codex.join("archived_sessions").join(name)
    } else {
        codex.join("sessions").join(&stamp[..4]).join(&stamp[5..7]).join(&stamp[8..10]).join(name)
    }
}

/// Decides every rollout: size, start, project and children.
fn plan_corpus(seed: u64, bytes: u64) -> Vec<Plan> {
    let mut rng = Rng::new(seed, 0);
    let mut plans = Vec::new();
    let mut sum = 0;
    while sum < bytes {
        let i = plans.len() as u64;
        let target = rng.log_uniform(16 * KIB, 32 * MIB).min(bytes - sum);
        sum += target;
        let start_ms = EPOCH_2026_MS + i * 7_200_000 + rng.below(3_600_000);
        let id = rng.uuid();
        let r = rng.below(100);
        let child = (target >= 64 * KIB && (i == 1 || i == 2 || r < 16)).then(|| {
            let ct = rng.log_uniform(8 * KIB, MIB);
            let hi = (target / 2).clamp(8 * KIB + 1, 4 * MIB);
            let fork_at = rng.log_uniform(8 * KIB, hi);
            // The child's own rounds and the copy of its parent's start.
            sum += ct + fork_at;
            Child { subagent: i == 1 || (i != 2 && r < 10), id: rng.uuid(), target: ct, fork_at }
        });
        let source = match rng.below(20) {
            0..=2 => "\"exec\"",
            3..=5 => "\"vscode\"",
            _ => "\"cli\"",
        };
        let archived = child.is_none() && rng.chance(0.1);
        let project = rng.below((i / 10).clamp(1, 60));
        plans.push(Plan { id, start_ms, target, stream: i + 1, project, source, archived, child });
    }
    plans
}

/// Writes one planned rollout and its child; returns their counts.
fn generate_file(home: &Path, plan: &Plan, pools: &Pools, seed: u64) -> io::Result<Tally> {
    let path = rollout_path(home, plan.start_ms, &plan.id, plan.archived);
    let rng = Rng::new(seed, plan.stream);
    let mut g = Gen::create(&path, pools, rng, plan.start_ms, plan.target)?;
    g.project = plan.project;
    g.model = g.rng.weighted(MODELS);
    g.ctx = g.rng.range(6_000, 16_000);
    g.meta(&plan.id, plan.source, None)?;
    let meta_len = g.written;
    let snap = g.rounds(plan.child.as_ref().map(|c| c.fork_at), meta_len)?;
    let mut t = g.t;
    if let (Some(child), Some(snap)) = (&plan.child, snap) {
        t.add(&generate_child(home, plan, child, &path, &snap, pools, seed)?);
    }
    Ok(t)
}

/// Writes a fork (a verbatim copy of the parent's first lines) or a
/// subagent (the same lines re-stamped into the second it was spawned),
/// then the child's own rounds.
fn generate_child(
    home: &Path,
    plan: &Plan,
    child: &Child,
    parent: &Path,
    snap: &Snap,
    pools: &Pools,
    seed: u64,
) -> io::Result<Tally> {
    let mut prefix = vec![0; snap.bytes as usize];
    File::open(parent)?.read_exact(&mut prefix)?;
    let prefix = &prefix[snap.meta_len as usize..];
    let mut rng = Rng::new(seed, plan.stream | 1 << 40);
    let start_ms = if child.subagent {
        (snap.ts_ms / 1000 + rng.range(1, 30)) * 1000 + rng.below(150)
    } else {
        snap.ts_ms + rng.range(60_000, 6 * 3_600_000)
    };
    let path = rollout_path(home, start_ms, &child.id, false);
    let mut g = Gen::create(&path, pools, rng, start_ms, child.target)?;
    g.project = plan.project;
    g.subagent = child.subagent;
    if child.subagent {
        let source = format!(
            "{{\"subagent\":{{\"thread_spawn\":{{\"parent_thread_id\":\"{}\",\"depth\":1}}}}}}",
            plan.id
        );
        g.meta(&child.id, &source, None)?;
        let mut stamp = Vec::with_capacity(24);
        let mut start = 0;
        for (i, nl) in memchr::memchr_iter(b'\n', prefix).enumerate() {
            g.line.extend_from_slice(&prefix[start..=nl]);
            start = nl + 1;
            if g.line.starts_with(b"{\"timestamp\":\"") && g.line.len() >= 38 {
                stamp.clear();
                push_iso(&mut stamp, start_ms + 1 + (i as u64).min(800), false);
                g.line[14..38].copy_from_slice(&stamp);
            }
            g.out.write_all(&g.line)?;
            g.line.clear();
        }
        // The child's own rows start in a later second.
        g.ts_ms = (start_ms / 1000 + 1) * 1000;
    } else {
        g.meta(&child.id, "\"cli\"", Some(&plan.id))?;
        g.out.write_all(prefix)?;
    }
    let copied = snap.lines - 1;
    g.count(C::IGNORED, copied - snap.malformed);
    g.count(C::MALFORMED, snap.malformed);
    g.written += prefix.len() as u64;
    g.t.bytes += prefix.len() as u64;
    g.limit += g.written;
    g.model = snap.model;
    g.totals = snap.totals;
    g.ctx = snap.ctx;
    g.rounds(None, 0)?;
    Ok(g.t)
}

/// Writes a Codex corpus of about `bytes` under `home`.
pub(crate) fn generate(home: &Path, seed: u64, bytes: u64) -> Res<super::Generated> {
    let pools = Pools::new(seed);
    let plans = plan_corpus(seed, bytes);
    let results: Vec<io::Result<Tally>> =
        plans.par_iter().map(|p| generate_file(home, p, &pools, seed)).collect();
    let mut t = Tally::new(0);
    for r in results {
        t.add(&r?);
    }
    Ok(super::Generated { files: t.files, bytes: t.bytes, expected: t.expected(), unread_lines: 0 })
}

/// Checks ccusage's `codex session --json` report against the corpus's
/// token totals.
///
/// ccusage's totals map onto telemetron's token types as: `inputTokens` =
/// `input` (it subtracts the cached part itself), `cacheReadTokens` =
/// `cache_read`, `outputTokens` = `output + reasoning` (Codex counts
/// reasoning inside output), `reasoningOutputTokens` = `reasoning`,
/// `cacheCreationTokens` = `cache_write` (0) and `totalTokens` = the sum
/// of the four (Codex's `total_tokens` = input + output).
///
/// Where ccusage 20.0.24 counts differently from telemetron, and how the
/// corpus stays where both agree:
/// - ccusage takes a row's `last_token_usage` when its totals moved (else
///   the difference of totals), and takes any new totals as its baseline;
///   telemetron counts only the growth of the totals, and its baseline
///   never goes back. They agree while `last_token_usage` equals the growth
///   and totals only grow, as here. A malformed `token_count` would differ
///   (telemetron folds its growth into the next row, ccusage loses it), so
///   truncated lines here are never usage rows.
/// - Forks and subagents: ccusage finds the parent by `forked_from_id` or
///   `source.subagent.thread_spawn.parent_thread_id` and skips the child's
///   leading usage while it equals the parent's, falling back to skipping a
///   first-second burst; telemetron skips by timestamp. They agree when the
///   parent rollout is present and the copy is verbatim, as here; a fork
///   whose parent is gone would be counted in full by ccusage.
/// - ccusage drops usage without a model and de-duplicates identical rows
///   (same session, time, model and usage); every usage row here follows a
///   `turn_context` and has its own timestamp.
/// - ccusage reports no prompts, turns, tools or errors; only tokens are
///   compared.
pub(crate) fn ccusage_check(stdout: &[u8], g: &super::Generated) -> Res<()> {
    let e = |tt: &str| -> u64 {
        let key = format!("pack.token.usage{{pack=codex,token.type={tt}}}");
        g.expected.get(&key).copied().unwrap_or(0)
    };
    let (input, cache_read, cache_write) = (e("input"), e("cache_read"), e("cache_write"));
    let (output, reasoning) = (e("output"), e("reasoning"));
    let want = [
        ("inputTokens", input),
        ("cacheReadTokens", cache_read),
        ("cacheCreationTokens", cache_write),
        ("outputTokens", output + reasoning),
        ("reasoningOutputTokens", reasoning),
        ("totalTokens", input + cache_read + output + reasoning),
    ];
    let v: Value = match serde_json::from_slice(stdout) {
        Ok(v) => v,
        Err(_) if want.iter().all(|&(_, n)| n == 0) => return Ok(()),
        Err(err) => {
            let head = String::from_utf8_lossy(&stdout[..stdout.len().min(300)]).into_owned();
            return Err(format!("ccusage output is not JSON ({err}): {head}").into());
        }
    };
    let totals = &v["totals"];
    let mut diffs = Vec::new();
    for (k, want) in want {
        let got = totals[k].as_u64().or_else(|| totals[k].as_f64().map(|f| f.round() as u64));
        if got != Some(want) {
            let got = got.map_or("nothing".to_string(), |n| n.to_string());
            diffs.push(format!("{k}: ccusage {got}, expected {want}"));
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(format!("ccusage codex totals differ: {}", diffs.join("; ")).into())
    }
}
