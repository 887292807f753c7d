//! Model-based test of content identity, over every pack: random
//! sequences of file operations (new session, append, partial line and its
//! completion, copy to a second directory, replace by an identical copy,
//! back up and restore (the backup may be older than the file), atomic
//! rewrite that grows, truncate and write another session, move to another
//! directory or archive, rename, delete, a pi-format session copied into
//! another pi-format pack's place, a Codex rollout compressed to
//! `*.jsonl.zst`, kept beside it or not, Qwen Code chats and Copilot CLI
//! spans (records counted by id), an OpenClaw transcript imported
//! into its SQLite store, renamed away or not, and records written on in
//! the store) and scans, checked after every scan
//! against an oracle over every counted metric.
//!
//! The oracle is the issue's rule: after any sequence, everything counted
//! must equal one scan of the untouched home: a clean home that holds each
//! logical session once, at the path it was created in, with exactly the
//! records that some scan saw whole in one of its files. Sessions, prompts,
//! turns, tool calls, errors and tokens by type and model are compared
//! (the reading-side `pack.emitter.*` counters are not: a copy that is not
//! read reads no lines). A session copied into another pi-format pack's
//! place counts under the pack whose file was read first, so the three
//! pi-format packs are compared as one (without `session.type` and tool
//! attributes, which depend on the place).
//!
//! Scans run in the library (discover, scan, the seen table, the state
//! update), so thousands of sequences take seconds; delivery faults and
//! kills are the binary-level `model.rs`'s. CI runs 2,000 sequences; a
//! soak:
//! `TELEMETRON_MODEL_ID_CASES=100000 TELEMETRON_MODEL_ID_SEED=1 cargo test --release --test integration model_identity -- --nocapture`
//! (`TELEMETRON_MODEL_ID_KEEP=DIR` keeps the home of a failure).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use telemetron::metrics::{Counts, Pack};
use telemetron::pipeline::count::{self as scan, ScanOptions};
use telemetron::pipeline::discover::{self, Place};
use telemetron::state::claims::{self as seen, Seen};
use telemetron::state::{FileState, State, StateDir};

/// The library's SplitMix64.
struct Rng(telemetron::hash::SplitMix64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0.below(n.max(1))
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The on-disk formats, with the pack each session is created under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// pi v3 (entries with ids), under one of the three pi-format packs.
    PiV3(Pack),
    /// pi's original layout (entries without ids).
    PiOriginal(Pack),
    Claude,
    Codex,
    Gemini,
    /// Qwen Code (a usage-records agent: every record counts by its id).
    Qwen,
    /// Copilot CLI's OpenTelemetry spans.
    Copilot,
}

impl Format {
    fn pack(self) -> Pack {
        match self {
            Format::PiV3(p) | Format::PiOriginal(p) => p,
            Format::Claude => Pack::ClaudeCode,
            Format::Codex => Pack::Codex,
            Format::Gemini => Pack::GeminiCli,
            Format::Qwen => Pack::QwenCode,
            Format::Copilot => Pack::CopilotCli,
        }
    }
}

/// Two directories of each pack's place, relative to the home (a file
/// moves or is copied between them).
fn dirs(pack: Pack) -> [&'static str; 2] {
    match pack {
        Pack::Openclaw => [".openclaw/agents/main/sessions", ".openclaw/agents/ops/sessions"],
        Pack::Roundhouse => [".roundhouse/sessions/main", ".roundhouse/sessions/main/CANARY-b"],
        Pack::Pi => [".pi/agent/sessions/--CANARY-a--", ".pi/agent/sessions/--CANARY-b--"],
        Pack::ClaudeCode => [".claude/projects/-CANARY-a", ".claude/projects/-CANARY-b"],
        Pack::Codex => [".codex/sessions/2026/11/05", ".codex/archived_sessions"],
        Pack::GeminiCli => [".gemini/tmp/CANARY-a/chats", ".gemini/tmp/CANARY-b/chats"],
        Pack::QwenCode => [".qwen/projects/CANARY-a/chats", ".qwen/projects/CANARY-b/chats"],
        Pack::CopilotCli => [".copilot/otel", ".copilot/otel/CANARY-b"],
        _ => unreachable!("no such pack in this test"),
    }
}

/// The file name of a session's transcript (`n` tells copies apart).
fn file_name(f: Format, session: usize, n: u64) -> String {
    match f {
        Format::Codex => format!("rollout-2026-11-05T10-00-00-CANARY-{session}-{n}.jsonl"),
        Format::Gemini => format!("session-2026-11-06T09-00-CANARY{session}-{n}.jsonl"),
        _ => format!("CANARY-{session}-{n}.jsonl"),
    }
}

/// A logical session: every complete record ever written to it, in order.
struct Session {
    format: Format,
    lines: Vec<String>,
    /// Records seen whole by some scan (always a prefix of `lines`).
    counted: usize,
    /// Codex's cumulative token totals so far.
    totals: u64,
}

/// A file on disk: which session it holds, and how much of it.
#[derive(Clone)]
struct Disk {
    session: usize,
    /// Complete records of the session it holds (a prefix).
    n: usize,
    /// A line written in part: its bytes on disk.
    partial: Option<(String, usize)>,
}

struct Model {
    home: tempfile::TempDir,
    rng: Rng,
    clock: u64,
    sessions: Vec<Session>,
    /// Files in the agents' places, by path relative to the home.
    files: BTreeMap<String, Disk>,
    /// Backups outside the places.
    backups: Vec<(String, Disk)>,
    /// Compressed copies (`*.jsonl.zst`, Codex), which never change.
    archives: BTreeMap<String, Disk>,
    /// Sessions in OpenClaw's SQLite store: session → rows (a prefix of
    /// its records).
    store: BTreeMap<usize, usize>,
    /// Hermes's store: the rows now in `state.db`, and the most of each
    /// session's totals some scan saw.
    hermes: Hermes,
    /// How often a step is a Hermes operation (percent): a quarter of the
    /// sequences are mostly Hermes's, so its longer chains happen.
    hermes_rate: u64,
    /// Amp's threads (JSON documents rewritten as they grow) and opencode's
    /// database (rows completed in place).
    docs: Docs,
    /// How often a step is an Amp or opencode operation (percent).
    docs_rate: u64,
    /// telemetron's side: positions, seen table, everything counted.
    state: BTreeMap<String, FileState>,
    seen: Seen,
    delivered: BTreeMap<String, u64>,
    log: Vec<String>,
}

/// An ISO timestamp `t` milliseconds after a fixed origin.
fn ts(t: u64) -> String {
    let s = t / 1000;
    format!("2026-11-05T{:02}:{:02}:{:02}.{:03}Z", 10 + s / 3600, s / 60 % 60, s % 60, t % 1000)
}

impl Model {
    fn tick(&mut self) -> u64 {
        // Sometimes the same millisecond twice (ties must be told apart).
        if !self.rng.chance(20) {
            self.clock += 1 + self.rng.below(3);
        }
        self.clock
    }

    /// The header of a new session.
    fn header(&mut self, f: Format, id: usize) -> String {
        let t = ts(self.tick());
        match f {
            Format::PiV3(_) | Format::PiOriginal(_) => format!(
                r#"{{"type":"session","version":3,"id":"CANARY-s{id}","timestamp":"{t}","cwd":"/CANARY"}}"#
            ),
            Format::Claude => format!(
                r#"{{"type":"user","sessionId":"CANARY-s{id}","uuid":"h{id}","timestamp":"{t}","message":{{"role":"user","content":"CANARY hello"}}}}"#
            ),
            Format::Codex => format!(
                r#"{{"timestamp":"{t}","type":"session_meta","payload":{{"id":"CANARY-s{id}","timestamp":"{t}","cwd":"/CANARY","source":"cli","model_provider":"openai"}}}}"#
            ),
            Format::Gemini => format!(
                r#"{{"sessionId":"CANARY-s{id}","projectHash":"CANARY","startTime":"{t}","lastUpdated":"{t}","kind":"main"}}"#
            ),
            Format::Qwen => format!(
                r#"{{"uuid":"h{id}","sessionId":"CANARY-s{id}","timestamp":"{t}","type":"user","message":{{"role":"user","parts":[{{"text":"CANARY hello"}}]}}}}"#
            ),
            Format::Copilot => format!(
                r#"{{"traceId":"CANARY{id}","spanId":"root{id}","name":"invoke_agent copilot","attributes":{{"gen_ai.operation.name":"invoke_agent","gen_ai.conversation.id":"CANARY-s{id}"}},"status":{{"code":0}}}}"#
            ),
        }
    }

    /// A new record of session `s`: a prompt, a model turn with a tool call
    /// and tokens, or an error, in its format.
    fn record(&mut self, s: usize) -> String {
        let t = ts(self.tick());
        let k = self.clock * 1000 + self.rng.below(1000);
        let sid = format!("CANARY-s{s}");
        let kind = self.rng.below(3);
        let tok = 1 + self.rng.below(50);
        match self.sessions[s].format {
            Format::PiV3(_) | Format::PiOriginal(_) => {
                let id = match self.sessions[s].format {
                    Format::PiV3(_) => format!(r#""id":"{k:08x}","parentId":null,"#),
                    _ => String::new(),
                };
                match kind {
                    0 => format!(
                        r#"{{"type":"message",{id}"timestamp":"{t}","message":{{"role":"user","content":"CANARY {k}"}}}}"#
                    ),
                    1 => format!(
                        r#"{{"type":"message",{id}"timestamp":"{t}","message":{{"role":"assistant","content":[{{"type":"toolCall","id":"c{k}","name":"read","arguments":{{}}}}],"provider":"anthropic","model":"claude-sonnet-4-5","usage":{{"input":{tok},"output":2,"cacheRead":3,"cacheWrite":4}},"stopReason":"toolUse"}}}}"#
                    ),
                    _ => format!(
                        r#"{{"type":"message",{id}"timestamp":"{t}","message":{{"role":"toolResult","toolCallId":"c{k}","toolName":"read","content":"CANARY","isError":true}}}}"#
                    ),
                }
            }
            Format::Claude => match kind {
                0 => format!(
                    r#"{{"type":"user","sessionId":"{sid}","uuid":"u{k}","timestamp":"{t}","message":{{"role":"user","content":"CANARY {k}"}}}}"#
                ),
                1 => format!(
                    r#"{{"type":"assistant","sessionId":"{sid}","uuid":"a{k}","timestamp":"{t}","requestId":"req_{k}","message":{{"id":"msg_{k}","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{{"type":"tool_use","id":"toolu_{k}","name":"Bash","input":{{}}}}],"usage":{{"input_tokens":{tok},"output_tokens":2,"cache_read_input_tokens":3,"cache_creation_input_tokens":4}}}}}}"#
                ),
                _ => format!(
                    r#"{{"type":"user","sessionId":"{sid}","uuid":"r{k}","timestamp":"{t}","message":{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_{k}","content":"CANARY","is_error":true}}]}}}}"#
                ),
            },
            Format::Codex => match kind {
                0 => format!(
                    r#"{{"timestamp":"{t}","type":"event_msg","payload":{{"type":"user_message","message":"CANARY {k}"}}}}"#
                ),
                1 => {
                    self.sessions[s].totals += tok;
                    let total = self.sessions[s].totals;
                    format!(
                        r#"{{"timestamp":"{t}","type":"event_msg","payload":{{"type":"token_count","info":{{"total_token_usage":{{"input_tokens":{total},"cached_input_tokens":0,"output_tokens":{total},"reasoning_output_tokens":0,"total_tokens":{total}}},"model":"gpt-5-codex"}}}}}}"#
                    )
                }
                _ => format!(
                    r#"{{"timestamp":"{t}","type":"response_item","payload":{{"type":"function_call","name":"shell","arguments":"CANARY","call_id":"c{k}"}}}}"#
                ),
            },
            Format::Gemini => match kind {
                0 => format!(
                    r#"{{"id":"m{k}","timestamp":"{t}","type":"user","content":[{{"text":"CANARY {k}"}}]}}"#
                ),
                1 => format!(
                    r#"{{"id":"m{k}","timestamp":"{t}","type":"gemini","content":"CANARY","model":"gemini-2.5-pro","tokens":{{"input":{tok},"output":2,"cached":1,"thoughts":1,"tool":0,"total":4}},"toolCalls":[{{"id":"tc{k}","name":"run_shell_command","args":{{}},"status":"success"}}]}}"#
                ),
                _ => format!(
                    r#"{{"id":"m{k}","timestamp":"{t}","type":"error","content":"CANARY 429 rate limit"}}"#
                ),
            },
            Format::Qwen => match kind {
                0 => format!(
                    r#"{{"uuid":"u{k}","sessionId":"{sid}","timestamp":"{t}","type":"user","message":{{"role":"user","parts":[{{"text":"CANARY {k}"}}]}}}}"#
                ),
                1 => format!(
                    r#"{{"uuid":"a{k}","sessionId":"{sid}","timestamp":"{t}","type":"assistant","model":"qwen3-coder-plus","message":{{"role":"model","parts":[{{"functionCall":{{"id":"c{k}","name":"read_file","args":{{}}}}}}]}},"usageMetadata":{{"promptTokenCount":{},"cachedContentTokenCount":3,"candidatesTokenCount":2,"thoughtsTokenCount":1}}}}"#,
                    tok + 3
                ),
                _ => format!(
                    r#"{{"uuid":"r{k}","sessionId":"{sid}","timestamp":"{t}","type":"tool_result","toolCallResult":{{"callId":"c{k}","status":"error"}}}}"#
                ),
            },
            Format::Copilot => match kind {
                0 => format!(
                    r#"{{"traceId":"T{k}","spanId":"x{k}","name":"execute_tool bash","attributes":{{"gen_ai.operation.name":"execute_tool","gen_ai.tool.name":"bash","gen_ai.conversation.id":"{sid}"}},"status":{{"code":2}}}}"#
                ),
                _ => format!(
                    r#"{{"traceId":"T{k}","spanId":"c{k}","name":"chat gpt-5","attributes":{{"gen_ai.operation.name":"chat","gen_ai.response.model":"gpt-5","gen_ai.conversation.id":"{sid}","gen_ai.usage.input_tokens":{},"gen_ai.usage.cache_read.input_tokens":3,"gen_ai.usage.output_tokens":2}},"status":{{"code":0}}}}"#,
                    tok + 3
                ),
            },
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.home.path().join(rel)
    }

    /// The bytes of a file as the model has it.
    fn bytes(&self, d: &Disk) -> String {
        let mut s: String =
            self.sessions[d.session].lines[..d.n].iter().map(|l| format!("{l}\n")).collect();
        if let Some((l, cut)) = &d.partial {
            s.push_str(&l[..*cut]);
        }
        s
    }

    /// Writes a file whole, through a temp file and a rename (a new inode).
    fn write(&mut self, rel: &str, d: Disk) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let tmp = p.with_file_name(".CANARY-tmp");
        std::fs::write(&tmp, self.bytes(&d)).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        self.files.insert(rel.to_string(), d);
    }

    fn append(&self, rel: &str, text: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(self.path(rel)).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn new_session(&mut self, dir: usize) {
        let formats = [
            Format::PiV3(Pack::Pi),
            Format::PiV3(Pack::Openclaw),
            Format::PiV3(Pack::Roundhouse),
            Format::PiOriginal(Pack::Pi),
            Format::PiOriginal(Pack::Openclaw),
            Format::Claude,
            Format::Codex,
            Format::Gemini,
            Format::Qwen,
            Format::Copilot,
        ];
        let format = formats[self.rng.below(formats.len() as u64) as usize];
        let id = self.sessions.len();
        let header = self.header(format, id);
        self.sessions.push(Session { format, lines: vec![header], counted: 0, totals: 0 });
        let rec = self.record(id);
        self.sessions[id].lines.push(rec);
        let rel = format!("{}/{}", dirs(format.pack())[dir], file_name(format, id, 0));
        self.write(&rel, Disk { session: id, n: 2, partial: None });
        self.log.push(format!("new {rel}"));
    }

    /// One random operation on a random file.
    fn step(&mut self) {
        if self.rng.chance(self.hermes_rate) {
            return self.hermes_step();
        }
        if self.rng.chance(self.docs_rate) {
            let what = self.docs.step(&mut self.rng, self.home.path());
            self.log.extend(what);
            return;
        }
        if self.files.is_empty() || self.rng.chance(10) {
            let dir = self.rng.below(2) as usize;
            return self.new_session(dir);
        }
        let names: Vec<String> = self.files.keys().cloned().collect();
        let rel = names[self.rng.below(names.len() as u64) as usize].clone();
        let d = self.files[&rel].clone();
        let s = d.session;
        let tip = d.n == self.sessions[s].lines.len();
        let pack = self.sessions[s].format.pack();
        let op = self.rng.below(100);
        let what = match op {
            // Append complete records (completing a partial one first).
            0..=29 if tip => {
                let mut text = String::new();
                let mut n = d.n;
                if let Some((l, cut)) = &d.partial {
                    text.push_str(&l[*cut..]);
                    text.push('\n');
                    self.sessions[s].lines.push(l.clone());
                    n += 1;
                }
                for _ in 0..1 + self.rng.below(3) {
                    let r = self.record(s);
                    text.push_str(&r);
                    text.push('\n');
                    self.sessions[s].lines.push(r);
                    n += 1;
                }
                self.append(&rel, &text);
                self.files.insert(rel.clone(), Disk { session: s, n, partial: None });
                "append"
            }
            30..=37 if tip && d.partial.is_none() => {
                let r = self.record(s);
                let cut = 1 + self.rng.below(r.len() as u64 - 1) as usize;
                self.append(&rel, &r[..cut]);
                self.files.insert(rel.clone(), Disk { partial: Some((r, cut)), ..d });
                "partial"
            }
            // Copy to the same name in the pack's other directory.
            38..=45 if d.partial.is_none() => {
                let other = sibling(&rel, pack);
                if self.files.contains_key(&other) {
                    return;
                }
                self.write(&other, d);
                self.log.push(format!("copy {rel} -> {other}"));
                return;
            }
            // Replaced by an identical copy.
            46..=51 => {
                self.write(&rel, d);
                "replace by identical copy"
            }
            52..=57 if d.partial.is_none() => {
                self.backups.push((rel.clone(), d));
                "back up"
            }
            58..=63 => {
                let Some(i) = (0..self.backups.len()).rev().find(|i| self.backups[*i].0 == rel)
                else {
                    return;
                };
                let b = self.backups[i].1.clone();
                self.write(&rel, b);
                "restore backup"
            }
            // Atomic rewrite: the old records and new ones after them.
            64..=69 if tip && d.partial.is_none() => {
                let r = self.record(s);
                self.sessions[s].lines.push(r);
                self.write(&rel, Disk { session: s, n: d.n + 1, partial: None });
                "atomic rewrite that grows"
            }
            // Truncated and rewritten with another session (same path).
            70..=73 => {
                let id = self.sessions.len();
                let format = self.sessions[s].format;
                let header = self.header(format, id);
                self.sessions.push(Session { format, lines: vec![header], counted: 0, totals: 0 });
                let rec = self.record(id);
                self.sessions[id].lines.push(rec);
                self.write(&rel, Disk { session: id, n: 2, partial: None });
                "truncate and write another session"
            }
            // Move to the other directory (Codex: to archived_sessions).
            74..=79 => {
                let other = sibling(&rel, pack);
                if self.files.contains_key(&other) {
                    return;
                }
                std::fs::create_dir_all(self.path(&other).parent().unwrap()).unwrap();
                std::fs::rename(self.path(&rel), self.path(&other)).unwrap();
                let d = self.files.remove(&rel).unwrap();
                self.files.insert(other.clone(), d);
                self.log.push(format!("move {rel} -> {other}"));
                return;
            }
            80..=83 => {
                let other = renamed(&rel);
                if self.files.contains_key(&other) {
                    return;
                }
                std::fs::rename(self.path(&rel), self.path(&other)).unwrap();
                let d = self.files.remove(&rel).unwrap();
                self.files.insert(other.clone(), d);
                self.log.push(format!("rename {rel} -> {other}"));
                return;
            }
            84..=86 => {
                std::fs::remove_file(self.path(&rel)).unwrap();
                self.files.remove(&rel);
                "delete"
            }
            // A pi-format session copied into another pi-format pack's place.
            87..=89 if d.partial.is_none() && matches!(pack, Pack::Pi | Pack::Openclaw) => {
                let to = if pack == Pack::Pi { Pack::Openclaw } else { Pack::Pi };
                let name = rel.rsplit('/').next().unwrap();
                let other = format!("{}/{name}", dirs(to)[0]);
                if self.files.contains_key(&other) {
                    return;
                }
                self.write(&other, d);
                self.log.push(format!("copy {rel} -> {other} (other pack)"));
                return;
            }
            // Codex compresses a rollout (`zstd`): the archive appears
            // beside it, and mostly the rollout then goes.
            90..=94 if pack == Pack::Codex && d.partial.is_none() => {
                let archive = format!("{rel}.zst");
                let z = zstd::encode_all(self.bytes(&d).as_bytes(), 3).unwrap();
                std::fs::write(self.path(&archive), z).unwrap();
                self.archives.insert(archive, d);
                if self.rng.chance(70) {
                    std::fs::remove_file(self.path(&rel)).unwrap();
                    self.files.remove(&rel);
                    "compress, and delete"
                } else {
                    "compress, and keep"
                }
            }
            95..=96 if !self.archives.is_empty() => {
                let names: Vec<String> = self.archives.keys().cloned().collect();
                let archive = names[self.rng.below(names.len() as u64) as usize].clone();
                std::fs::remove_file(self.path(&archive)).unwrap();
                self.archives.remove(&archive);
                self.log.push(format!("delete {archive}"));
                return;
            }
            // OpenClaw imports a transcript into its SQLite store (`doctor
            // --session-sqlite import`), and mostly renames the file away.
            97..=98 if pack == Pack::Openclaw && d.partial.is_none() => {
                let from = self.store.get(&s).copied().unwrap_or(0);
                self.store_rows(s, from, d.n);
                if self.rng.chance(70) {
                    let gone = self.path(&format!("{rel}.deleted.2026-11-05T10-00-00.000Z"));
                    std::fs::rename(self.path(&rel), gone).unwrap();
                    self.files.remove(&rel);
                    "import into the store, and rename"
                } else {
                    "import into the store, and keep"
                }
            }
            // The agent writes on in its store.
            99 if !self.store.is_empty() => {
                let ids: Vec<usize> = self.store.keys().copied().collect();
                let s = ids[self.rng.below(ids.len() as u64) as usize];
                let n = self.store[&s];
                if n != self.sessions[s].lines.len() {
                    return; // the store is not the session's tip
                }
                let r = self.record(s);
                self.sessions[s].lines.push(r);
                self.store_rows(s, n, n + 1);
                self.log.push(format!("append to session {s} in the store"));
                return;
            }
            _ => return,
        };
        self.log.push(format!("{what} {rel}"));
    }

    /// One operation on Hermes's `state.db`: a new session (sometimes the
    /// continuation of a split one), a session's totals growing in place, a
    /// session deleted, the store replaced by an identical copy, backed up,
    /// or restored from its (possibly older) backup.
    fn hermes_step(&mut self) {
        let h = &mut self.hermes;
        let ids: Vec<usize> = h.rows.keys().copied().collect();
        let pick = |rng: &mut Rng| ids[rng.below(ids.len() as u64) as usize];
        let what = match self.rng.below(10) {
            0..=2 => {
                let id = h.next;
                h.next += 1;
                let parent = !ids.is_empty() && self.rng.chance(20);
                let model = ["claude-sonnet-4-5", "gpt-5"][self.rng.below(2) as usize];
                let t = [1, 2, 3, 4, 5].map(|k: u64| self.rng.below(100 * k));
                h.rows.insert(id, HermesRow { model, parent, totals: t });
                format!("hermes: new session {id}{}", if parent { " (split)" } else { "" })
            }
            3..=5 if !ids.is_empty() => {
                let id = pick(&mut self.rng);
                let row = h.rows.get_mut(&id).expect("picked");
                for t in &mut row.totals {
                    *t += self.rng.below(50);
                }
                format!("hermes: session {id} grows")
            }
            6 if !ids.is_empty() => {
                let id = pick(&mut self.rng);
                h.rows.remove(&id);
                format!("hermes: session {id} deleted")
            }
            7 => {
                h.backup = Some(h.rows.clone());
                "hermes: back up state.db".into()
            }
            8 if h.backup.is_some() => {
                h.rows = h.backup.clone().expect("a backup");
                "hermes: restore state.db from its backup".into()
            }
            9 => "hermes: state.db replaced by an identical copy".into(),
            _ => return,
        };
        let rows = self.hermes.rows.clone();
        write_hermes(self.home.path(), &rows);
        self.log.push(what);
    }

    /// Writes records `from..to` of session `s` into OpenClaw's store as
    /// rows (seq = record index), as a writer in WAL mode.
    fn store_rows(&mut self, s: usize, from: usize, to: usize) {
        let p = self.path(".openclaw/agents/main/agent/openclaw-agent.sqlite");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let c = rusqlite::Connection::open(&p).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE IF NOT EXISTS transcript_events (session_id TEXT NOT NULL,
               seq INTEGER NOT NULL, event_json TEXT NOT NULL, created_at INTEGER NOT NULL,
               PRIMARY KEY (session_id, seq)) STRICT;",
        )
        .unwrap();
        for i in from..to {
            c.execute(
                "INSERT INTO transcript_events VALUES (?1, ?2, ?3, 0)",
                rusqlite::params![format!("CANARY-s{s}"), i as i64, self.sessions[s].lines[i]],
            )
            .unwrap();
        }
        let n = self.store.entry(s).or_default();
        *n = (*n).max(to);
    }

    /// Scans the home as a run that is acknowledged does, and marks what
    /// it saw whole as counted.
    fn scan(&mut self) {
        // Half the runs read their files in batches of one to three (a
        // run over a backlog sends it as several batches in a row).
        let batch = if self.rng.chance(50) { 1 + self.rng.below(3) as usize } else { usize::MAX };
        let out = run_scan(self.home.path(), &mut self.state, &mut self.seen, batch);
        let turns: u64 =
            out.iter().filter(|(k, _)| k.starts_with("pack.agent.turn")).map(|(_, v)| v).sum();
        let prompts: u64 =
            out.iter().filter(|(k, _)| k.starts_with("pack.user.prompt")).map(|(_, v)| v).sum();
        let batches =
            if batch == usize::MAX { String::new() } else { format!(" (batches of {batch})") };
        self.log.push(format!("scan{batches}: {turns} turns, {prompts} prompts"));
        for (k, v) in out {
            *self.delivered.entry(k).or_default() += v;
        }
        for d in self.files.values().chain(self.archives.values()) {
            let s = &mut self.sessions[d.session];
            s.counted = s.counted.max(d.n);
        }
        for (s, n) in &self.store {
            let s = &mut self.sessions[*s];
            s.counted = s.counted.max(*n);
        }
        self.docs.scanned(self.home.path());
        for (id, row) in &self.hermes.rows {
            let seen =
                self.hermes.seen.entry(*id).or_insert_with(|| HermesRow { totals: [0; 5], ..*row });
            for (s, t) in seen.totals.iter_mut().zip(row.totals) {
                *s = (*s).max(t);
            }
        }
    }

    /// One scan of the untouched home: each session once, where it was
    /// created, with the records counted.
    fn oracle(&self) -> BTreeMap<String, u64> {
        let clean = tempfile::tempdir().unwrap();
        for (i, s) in self.sessions.iter().enumerate().filter(|(_, s)| s.counted > 0) {
            let dir = clean.path().join(dirs(s.format.pack())[0]);
            std::fs::create_dir_all(&dir).unwrap();
            let body: String = s.lines[..s.counted].iter().map(|l| format!("{l}\n")).collect();
            std::fs::write(dir.join(file_name(s.format, i, 0)), body).unwrap();
        }
        if !self.hermes.seen.is_empty() {
            write_hermes(clean.path(), &self.hermes.seen);
        }
        self.docs.untouched(clean.path());
        run_scan(clean.path(), &mut BTreeMap::new(), &mut Seen::default(), usize::MAX)
    }
}

/// A message of an Amp thread or a row of opencode's database: a prompt,
/// or a model turn (`tokens`), complete or still being written.
#[derive(Clone, Copy, Debug)]
struct Msg {
    user: bool,
    tokens: u64,
    complete: bool,
}

/// Amp's threads and opencode's messages.
#[derive(Default)]
struct Docs {
    /// Every thread's messages as Amp last wrote them.
    threads: Vec<Vec<Msg>>,
    /// Thread documents on disk: file name → (thread, its messages).
    files: BTreeMap<String, (usize, Vec<Msg>)>,
    /// Backups: file name → what it held.
    backups: Vec<(String, (usize, Vec<Msg>))>,
    /// Per thread, the messages some scan saw complete (a prefix).
    counted: BTreeMap<usize, usize>,
    /// opencode's `message` rows as the database holds them now, with
    /// their message ids (unique, as opencode's are).
    rows: Vec<(usize, Msg)>,
    /// The next message id.
    next_id: usize,
    /// The database's backup.
    db_backup: Option<Vec<(usize, Msg)>>,
    /// Each message's tokens once complete (a message completes once).
    finals: BTreeMap<usize, u64>,
    /// The messages some scan saw complete, by id.
    rows_counted: BTreeMap<usize, Msg>,
    /// Some scan saw the database (its session).
    db_seen: bool,
}

impl Docs {
    fn msg(rng: &mut Rng, user: bool, complete: bool) -> Msg {
        Msg { user, tokens: 1 + rng.below(50), complete }
    }

    /// One operation on Amp's threads or opencode's database.
    fn step(&mut self, rng: &mut Rng, home: &Path) -> Option<String> {
        let what = match rng.below(12) {
            0 | 1 => {
                let id = self.threads.len();
                let done = rng.chance(70);
                let mut m = vec![Self::msg(rng, true, true), Self::msg(rng, false, done)];
                if !m[1].complete {
                    m[1].tokens = 0;
                }
                self.threads.push(m.clone());
                let name = format!("T-CANARY-{id}.json");
                self.write_thread(home, &name, id, m);
                format!("amp: new thread {name}")
            }
            2 | 3 if !self.files.is_empty() => {
                // Amp rewrites a thread: a streaming message completes, or
                // a prompt and an answer (maybe streaming) are appended.
                let name = self.pick(rng);
                let (id, on_disk) = self.files[&name].clone();
                if on_disk.len() != self.threads[id].len() {
                    return None; // an older copy: Amp writes the live file
                }
                let mut m = self.threads[id].clone();
                let last = m.len() - 1;
                if !m[last].complete {
                    m[last] = Self::msg(rng, false, true);
                } else {
                    m.push(Self::msg(rng, true, true));
                    let done = rng.chance(70);
                    m.push(Msg {
                        tokens: if done { 1 + rng.below(50) } else { 0 },
                        ..Self::msg(rng, false, done)
                    });
                }
                self.threads[id] = m.clone();
                self.write_thread(home, &name, id, m);
                format!("amp: thread {name} rewritten")
            }
            4 if !self.files.is_empty() => {
                let name = self.pick(rng);
                let copy = format!("T-CANARY-copy-{}.json", self.files.len() + self.backups.len());
                let (id, m) = self.files[&name].clone();
                self.write_thread(home, &copy, id, m);
                format!("amp: {name} copied to {copy}")
            }
            5 if !self.files.is_empty() => {
                let name = self.pick(rng);
                self.backups.push((name.clone(), self.files[&name].clone()));
                format!("amp: back up {name}")
            }
            6 if !self.backups.is_empty() => {
                let (name, (id, m)) =
                    self.backups[rng.below(self.backups.len() as u64) as usize].clone();
                self.write_thread(home, &name, id, m);
                format!("amp: restore {name} from a backup")
            }
            7 if !self.files.is_empty() => {
                let name = self.pick(rng);
                std::fs::remove_file(Self::thread_path(home, &name)).unwrap();
                self.files.remove(&name);
                format!("amp: delete {name}")
            }
            8 | 9 => {
                // opencode: a new message row (a prompt, or an answer still
                // streaming), or a streaming one completed in place.
                let open: Vec<usize> =
                    (0..self.rows.len()).filter(|i| !self.rows[*i].1.complete).collect();
                if !open.is_empty() && rng.chance(60) {
                    let i = open[rng.below(open.len() as u64) as usize];
                    let id = self.rows[i].0;
                    let tokens = *self.finals.entry(id).or_insert(1 + rng.below(50));
                    self.rows[i].1 = Msg { user: false, tokens, complete: true };
                    self.write_db(home);
                    format!("opencode: message {id} completed")
                } else {
                    let user = rng.chance(40);
                    let done = user || rng.chance(50);
                    let id = self.next_id;
                    self.next_id += 1;
                    let tokens =
                        if done { *self.finals.entry(id).or_insert(1 + rng.below(50)) } else { 0 };
                    self.rows.push((id, Msg { user, tokens, complete: done }));
                    self.write_db(home);
                    format!("opencode: message {id} added")
                }
            }
            10 => {
                self.db_backup = Some(self.rows.clone());
                "opencode: back up opencode.db".into()
            }
            11 if self.db_backup.is_some() => {
                // An older copy restored: the rows since are gone from the
                // database (the agent writes on after them).
                self.rows = self.db_backup.clone().expect("a backup");
                self.write_db(home);
                "opencode: restore opencode.db from its backup".into()
            }
            _ => return None,
        };
        Some(what)
    }

    fn pick(&self, rng: &mut Rng) -> String {
        let names: Vec<&String> = self.files.keys().collect();
        names[rng.below(names.len() as u64) as usize].clone()
    }

    fn thread_path(home: &Path, name: &str) -> PathBuf {
        home.join(".local/share/amp/threads").join(name)
    }

    /// A thread's JSON, as Amp writes it.
    fn thread_json(id: usize, msgs: &[Msg]) -> String {
        let m: Vec<serde_json::Value> = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| {
                if m.user {
                    serde_json::json!({"role": "user", "messageId": i, "content": [{"type": "text", "text": "CANARY"}]})
                } else if m.complete {
                    serde_json::json!({"role": "assistant", "messageId": i, "state": {"type": "complete"},
                        "content": [{"type": "tool_use", "id": format!("toolu_{id}_{i}"), "name": "Bash"}],
                        "usage": {"model": "claude-sonnet-4-5", "inputTokens": m.tokens, "outputTokens": 2}})
                } else {
                    serde_json::json!({"role": "assistant", "messageId": i, "state": {"type": "streaming"},
                        "content": [{"type": "text", "text": "CANARY"}]})
                }
            })
            .collect();
        serde_json::json!({"v": 1, "id": format!("T-CANARY-{id}"), "messages": m}).to_string()
    }

    /// Writes a thread document through a temp file and a rename.
    fn write_thread(&mut self, home: &Path, name: &str, id: usize, msgs: Vec<Msg>) {
        let p = Self::thread_path(home, name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let tmp = p.with_file_name(".CANARY-tmp");
        std::fs::write(&tmp, Self::thread_json(id, &msgs)).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        self.files.insert(name.to_string(), (id, msgs));
    }

    /// Writes opencode's database with `rows`, through a temp file and a
    /// rename (a restore or a copy makes a new inode).
    fn write_db(&self, home: &Path) {
        write_opencode(home, &self.rows, ".local/share/opencode");
    }

    /// What a scan saw complete.
    fn scanned(&mut self, home: &Path) {
        for (id, m) in self.files.values() {
            let n = m.iter().take_while(|m| m.complete).count();
            let c = self.counted.entry(*id).or_default();
            *c = (*c).max(n);
        }
        self.db_seen |= home.join(".local/share/opencode/opencode.db").exists();
        for (id, m) in &self.rows {
            if m.complete {
                self.rows_counted.entry(*id).or_insert(*m);
            }
        }
    }

    /// The untouched home: each thread once with what was counted, and a
    /// database of the rows counted.
    fn untouched(&self, clean: &Path) {
        for (id, n) in &self.counted {
            if *n == 0 {
                continue;
            }
            let p = Self::thread_path(clean, &format!("T-CANARY-{id}.json"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, Self::thread_json(*id, &self.threads[*id][..*n])).unwrap();
        }
        if self.db_seen {
            let rows: Vec<(usize, Msg)> = self.rows_counted.iter().map(|(i, m)| (*i, *m)).collect();
            write_opencode(clean, &rows, ".local/share/opencode");
        }
    }
}

/// Writes an opencode database holding `rows` (index → message) under
/// `dir`, through a temp file and a rename.
fn write_opencode(home: &Path, rows: &[(usize, Msg)], dir: &str) {
    let db = home.join(dir).join("opencode.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let tmp = db.with_file_name(".CANARY-oc.tmp");
    let _ = std::fs::remove_file(&tmp);
    let c = rusqlite::Connection::open(&tmp).unwrap();
    c.execute_batch(
        "CREATE TABLE session (id TEXT PRIMARY KEY, parent_id TEXT);
         CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT, data TEXT);
         INSERT INTO session VALUES ('ses_CANARY', NULL);",
    )
    .unwrap();
    for (i, m) in rows {
        let data = if m.user {
            serde_json::json!({"id": format!("msg_{i}"), "role": "user", "sessionID": "ses_CANARY"})
        } else if m.complete {
            serde_json::json!({"id": format!("msg_{i}"), "role": "assistant", "sessionID": "ses_CANARY",
                "time": {"created": 1, "completed": 2}, "providerID": "anthropic", "modelID": "claude-sonnet-4-5",
                "tokens": {"input": m.tokens, "output": 2, "reasoning": 0, "cache": {"read": 0, "write": 0}}})
        } else {
            serde_json::json!({"id": format!("msg_{i}"), "role": "assistant", "sessionID": "ses_CANARY",
                "time": {"created": 1}, "tokens": {"input": 0, "output": 0}})
        };
        c.execute(
            "INSERT INTO message VALUES (?1, 'ses_CANARY', ?2)",
            rusqlite::params![format!("msg_{i}"), data.to_string()],
        )
        .unwrap();
    }
    drop(c);
    std::fs::rename(&tmp, &db).unwrap();
}

/// Hermes's side of the model.
#[derive(Default)]
struct Hermes {
    next: usize,
    rows: BTreeMap<usize, HermesRow>,
    backup: Option<BTreeMap<usize, HermesRow>>,
    seen: BTreeMap<usize, HermesRow>,
}

/// A `sessions` row.
#[derive(Clone, Copy)]
struct HermesRow {
    model: &'static str,
    parent: bool,
    totals: [u64; 5],
}

/// Writes Hermes's `state.db` holding `rows`, through a temp file and a
/// rename (a new inode, as a restore or a copy makes).
fn write_hermes(home: &Path, rows: &BTreeMap<usize, HermesRow>) {
    let db = home.join(".hermes/state.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let tmp = home.join(".hermes/.CANARY-state.db.tmp");
    let _ = std::fs::remove_file(&tmp);
    let c = rusqlite::Connection::open(&tmp).unwrap();
    c.execute_batch(
        "CREATE TABLE sessions (id TEXT PRIMARY KEY, source TEXT, model TEXT,
           parent_session_id TEXT, input_tokens INTEGER, output_tokens INTEGER,
           cache_read_tokens INTEGER, cache_write_tokens INTEGER, reasoning_tokens INTEGER,
           billing_provider TEXT)",
    )
    .unwrap();
    for (id, r) in rows {
        let t = r.totals.map(|x| x as i64);
        c.execute(
            "INSERT INTO sessions VALUES (?1, 'cli', ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL)",
            rusqlite::params![
                format!("CANARY-h{id}"),
                r.model,
                r.parent.then_some("CANARY-parent"),
                t[0],
                t[1],
                t[2],
                t[3],
                t[4]
            ],
        )
        .unwrap();
    }
    drop(c);
    std::fs::rename(&tmp, &db).unwrap();
}

/// The same file name in the pack's other directory.
fn sibling(rel: &str, pack: Pack) -> String {
    let [a, b] = dirs(pack);
    let (dir, name) = rel.rsplit_once('/').unwrap();
    format!("{}/{name}", if dir == a { b } else { a })
}

/// Another name the pack still discovers.
fn renamed(rel: &str) -> String {
    let stem = rel.strip_suffix(".jsonl").unwrap();
    let (base, n) = stem.rsplit_once('-').unwrap();
    format!("{base}-{}.jsonl", n.parse::<u64>().unwrap() + 1)
}

/// A scan of every pack's default places under `home`, its claims settled
/// against `seen`, its positions applied to `files`, reading at most
/// `batch` files with new data a batch (each batch's positions applied
/// before the next); returns what it counted, in the form compared (see
/// the module documentation).
fn run_scan(
    home: &Path,
    files: &mut BTreeMap<String, FileState>,
    seen: &mut Seen,
    batch: usize,
) -> BTreeMap<String, u64> {
    let places: Vec<Place> =
        Pack::ALL.iter().flat_map(|p| discover::default_places(*p, home, &|_| None)).collect();
    let mut opts = ScanOptions {
        max_line_bytes: 1 << 20,
        chunk_bytes: 64 * 1024,
        threads: 1,
        now: 1_800_000_000_000_000_000,
        new_files_at_end: false,
        batch: scan::Batch { max_files: batch, first: 0 },
    };
    // As a run does: the positions committed are loaded leaving out the
    // entries of files found as they were left (which are let go when one
    // batch reads all the others: their keys are then read again from the
    // positions, when a copy, a move or a fork needs them).
    let state_dir = tempfile::tempdir().unwrap();
    let sd = StateDir::new(state_dir.path());
    let mut committed = State::new(0);
    committed.files = files.clone();
    committed.files_dirty = true;
    sd.commit(&mut committed).unwrap();
    let mut found = discover::discover_listed(&places);
    let loaded = scan::load_leaving_out(
        &mut found,
        |leave| sd.load_unless_unchanged(opts.now, true, None, Some(leave)).unwrap(),
        |l| l.state.skipped.as_mut(),
        |others| others <= batch,
    );
    let loaded = loaded.unwrap_or_else(|| sd.load(opts.now, true).unwrap()).state;
    found.materialize();
    let mut counts = Counts::default();
    // As a run does: the found files' heads are read once, for every
    // batch.
    let keys = scan::keys_of(&found.sources);
    let heads = std::sync::OnceLock::new();
    // (A later batch goes on from every position: the test keeps them
    // all in `files`.)
    let mut first = Some((&loaded.files, loaded.skipped.as_ref()));
    loop {
        let index = std::sync::OnceLock::new();
        let mut claims = seen::Claims::default();
        let keyed = scan::Keys { list: &keys, index: &index, heads: &heads };
        let (known, skipped) = first.take().unwrap_or((&*files, None));
        let mut out = scan::scan_known(
            &found.sources,
            keyed,
            &found.stores,
            known,
            skipped,
            &opts,
            &mut |c| claims.append(c),
        );
        out.claims = claims;
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        if let Some(why) = skipped.and_then(|sk| sk.reread_failed()) {
            panic!("the positions left out could not be read again: {why}");
        }
        let mut batch_counts: Counts = std::mem::take(&mut out.counts);
        seen::resolve(&out.claims, seen, &mut batch_counts, seen::day_of(opts.now));
        counts.merge(batch_counts);
        for k in &out.files_removed {
            files.remove(k);
        }
        files.extend(out.files_after);
        match out.next_batch {
            Some((first, _)) => opts.batch.first = first,
            None => break,
        }
    }
    compared(&counts)
}

/// Every counted series but the reading-side ones, with the three
/// pi-format packs as one.
fn compared(c: &Counts) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (key, n) in c.keyed() {
        let (name, attrs) = key.parse().expect("a contract series");
        if name.starts_with("pack.emitter.") {
            continue;
        }
        let pi_family = attrs
            .iter()
            .any(|(k, v)| *k == "pack" && matches!(*v, "pi" | "openclaw" | "roundhouse"));
        let attrs: Vec<String> = attrs
            .iter()
            .filter(|(k, _)| {
                !(pi_family && matches!(*k, "session.type" | "tool.name" | "tool.class"))
            })
            .map(|(k, v)| {
                if pi_family && *k == "pack" {
                    "pack=pi-format".into()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        *out.entry(format!("{name}{{{}}}", attrs.join(","))).or_default() += n;
    }
    out
}

/// Runs one sequence; panics with its log on the first disagreement.
fn run_sequence(seed: u64, steps: usize) -> usize {
    let mut m = Model {
        home: tempfile::tempdir().unwrap(),
        rng: Rng(telemetron::hash::SplitMix64(seed)),
        clock: 0,
        sessions: Vec::new(),
        files: BTreeMap::new(),
        backups: Vec::new(),
        archives: BTreeMap::new(),
        store: BTreeMap::new(),
        hermes: Hermes::default(),
        hermes_rate: 0,
        docs: Docs::default(),
        docs_rate: 0,
        state: BTreeMap::new(),
        seen: Seen::default(),
        delivered: BTreeMap::new(),
        log: Vec::new(),
    };
    m.hermes_rate = if m.rng.chance(25) { 60 } else { 5 };
    m.docs_rate = if m.rng.chance(25) { 60 } else { 5 };
    let mut scans = 0;
    for i in 0..=steps {
        if i == steps || m.rng.chance(25) {
            m.scan();
            scans += 1;
            let want = m.oracle();
            if m.delivered != want {
                if let Ok(keep) = std::env::var("TELEMETRON_MODEL_ID_KEEP") {
                    crate::util::copy_tree(m.home.path(), Path::new(&keep));
                }
                let keys: std::collections::BTreeSet<&String> =
                    m.delivered.keys().chain(want.keys()).collect();
                let diff: Vec<String> = keys
                    .into_iter()
                    .filter(|k| m.delivered.get(*k) != want.get(*k))
                    .map(|k| {
                        format!(
                            "  {k}: counted {:?}, untouched home {:?}",
                            m.delivered.get(k),
                            want.get(k)
                        )
                    })
                    .collect();
                panic!("seed {seed}: after\n{}\n{}", m.log.join("\n"), diff.join("\n"));
            }
        } else {
            m.step();
        }
    }
    scans
}

fn env_or(var: &str, default: u64) -> u64 {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn every_file_operation_counts_every_record_once_in_every_pack() {
    let seed = env_or("TELEMETRON_MODEL_ID_SEED", 20_261_203);
    let cases = env_or("TELEMETRON_MODEL_ID_CASES", 2000);
    let steps = env_or("TELEMETRON_MODEL_ID_STEPS", 24) as usize;
    let threads = 2u64;
    let scans: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (0..cases)
                        .filter(|c| c % threads == t)
                        .map(|c| run_sequence(seed.wrapping_add(c), steps))
                        .sum::<usize>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a sequence failed")).sum()
    });
    eprintln!(
        "model_identity: {cases} sequences of {steps} steps (seeds {seed}..{}), {scans} scans: all exact",
        seed.wrapping_add(cases)
    );
    assert!(scans as u64 >= cases);
}
