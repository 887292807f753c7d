//! Claude Code transcripts (`~/.claude/projects/<cwd>/<session>.jsonl`).
//!
//! Flat JSONL: `user`, `assistant`, `system`, `progress`, `summary`, … One
//! API response is written as several `assistant` lines (one per content
//! block) sharing `message.id` and `requestId`, the early ones with partial
//! `output_tokens`; resumed, forked and sidechain files copy earlier lines
//! verbatim. So this parser counts nothing that can be copied: it files
//! claims ([`crate::state::claims::Claims`]) that are settled across files and runs
//! after the scan. It counts directly only what has no id (a prompt or a
//! response without one).

use std::sync::LazyLock;

use memchr::memmem::Finder;
use serde::Deserialize;

use crate::agents::json::{is_object, skimmed, Blocks, Flag, Reads, StrOrSkip, Tokens};
use crate::classify::{errors, models, tools};
use crate::metrics::{Counts, ErrorType, LineResult, Outcome, Pack, Series, SessionType};
use crate::state::claims::{self, Claims, Response};

/// Per-file context kept between runs: the sessions this file already
/// filed a start for (hashes; a file normally holds one).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClaudeState {
    /// Session keys claimed by this file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<u64>,
}

/// How many session keys a file remembers (more only re-files a claim,
/// which the table settles).
const MAX_SESSIONS: usize = 8;

/// What [`Record`] (and the [`Blocks`] of its message) may read: the rest
/// is skimmed off long lines before they are parsed.
const READS: Reads = Reads {
    values: &[
        "type",
        "sessionId",
        "agentId",
        "uuid",
        "timestamp",
        "requestId",
        "error",
        "id",
        "model",
        "name",
        "tool_use_id",
        "status",
    ],
    whole: &[],
};

/// One line, reduced to its metadata.
#[derive(Deserialize, Default)]
struct Record<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: StrOrSkip<'a>,
    #[serde(rename = "sessionId", borrow, default)]
    session_id: StrOrSkip<'a>,
    #[serde(rename = "agentId", borrow, default)]
    agent_id: StrOrSkip<'a>,
    #[serde(borrow, default)]
    uuid: StrOrSkip<'a>,
    #[serde(borrow, default)]
    timestamp: StrOrSkip<'a>,
    #[serde(rename = "requestId", borrow, default)]
    request_id: StrOrSkip<'a>,
    #[serde(rename = "isSidechain", default)]
    is_sidechain: Flag,
    #[serde(rename = "isMeta", default)]
    is_meta: Flag,
    #[serde(rename = "isCompactSummary", default)]
    is_compact_summary: Flag,
    #[serde(rename = "isVisibleInTranscriptOnly", default)]
    transcript_only: Flag,
    #[serde(rename = "isApiErrorMessage", default)]
    is_api_error: Flag,
    #[serde(rename = "apiErrorStatus", default)]
    api_error_status: Tokens,
    #[serde(borrow, default)]
    error: StrOrSkip<'a>,
    #[serde(borrow, default)]
    message: Option<Message<'a>>,
}

/// The `message` of a `user` or `assistant` line.
#[derive(Deserialize, Default)]
struct Message<'a> {
    #[serde(borrow, default)]
    id: StrOrSkip<'a>,
    #[serde(borrow, default)]
    model: StrOrSkip<'a>,
    #[serde(borrow, default)]
    content: Blocks<'a>,
    #[serde(default)]
    usage: Option<Usage>,
}

/// Anthropic's usage record.
#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    input_tokens: Tokens,
    #[serde(default)]
    output_tokens: Tokens,
    #[serde(default)]
    cache_creation_input_tokens: Tokens,
    #[serde(default)]
    cache_read_input_tokens: Tokens,
    #[serde(default)]
    cache_creation: Option<CacheCreation>,
}

/// How the cache writes split between the 5-minute and the 1-hour cache.
#[derive(Deserialize, Default)]
struct CacheCreation {
    #[serde(default)]
    ephemeral_1h_input_tokens: Tokens,
}

/// Key kinds of [`claims::key`].
const SESSION: u8 = b's';
const PROMPT: u8 = b'u';
const TOOL: u8 = b't';
const TOOL_ERROR: u8 = b'e';
const API_ERROR: u8 = b'a';
const MESSAGE: u8 = b'm';
const REQUEST: u8 = b'r';

/// The key of a record's type.
const TYPE_KEY: &[u8] = b"\"type\":";

/// The key of a tool result block; only present on tool-result lines.
const TOOL_USE_ID: &[u8] = b"\"tool_use_id\"";
/// The error flag of a tool result, and its only value that lets a line
/// be skipped.
const IS_ERROR: &[u8] = b"\"is_error\"";
const IS_ERROR_FALSE: &[u8] = b"\"is_error\":false";

/// Decides by bytes alone that a line cannot count: a tool-result line
/// (the bulk of the bytes: tool outputs) without an error flag set. Claude
/// Code writes compact JSON; a key's quotes cannot occur raw inside a
/// string, so `"tool_use_id"` means a tool-result block. Anything the bytes
/// do not settle is left to the parser.
///
/// Progress lines (hook and tool progress, and subagents' progress with
/// their own nested messages and usage) never count either: Claude Code
/// writes the record's `type` before any object-valued key, so the first
/// `"type":` of the line is the record's own.
pub fn cannot_matter(line: &[u8]) -> bool {
    static ID: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(TOOL_USE_ID));
    static FLAG: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(IS_ERROR));
    static TYPE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(TYPE_KEY));
    if let Some(at) = TYPE.find(line) {
        let before = &line[..at];
        // Only scalar keys before it: no `{` or `[` outside strings, which
        // compact JSON cannot hold raw but inside strings.
        let value = &line[at + TYPE_KEY.len()..];
        if line.first() == Some(&b'{')
            && value.starts_with(b"\"progress\"")
            && !before.get(1..).unwrap_or_default().iter().any(|&b| b == b'{' || b == b'[')
        {
            return true;
        }
    }
    if ID.find(line).is_none() {
        return false;
    }
    FLAG.find_iter(line).all(|i| line[i..].starts_with(IS_ERROR_FALSE))
}

/// Turns lines of one Claude Code file into counts and claims.
pub struct Deriver<'s> {
    /// The file's session type from its path (`subagents/`, `agent-*`).
    pub session_type: SessionType,
    /// The file's persistent context.
    pub state: &'s mut ClaudeState,
    /// Claims filed this run, settled after the scan.
    pub claims: &'s mut Claims,
}

impl Deriver<'_> {
    /// Counts or files one complete line and says how it was classified.
    /// The byte pre-filter applies once the file's session is known (a
    /// tool-result line could otherwise be a session's first record).
    pub fn line(&mut self, line: &[u8], counts: &mut Counts) -> LineResult {
        if !self.state.sessions.is_empty() && cannot_matter(line) {
            return LineResult::Ignored;
        }
        self.line_unfiltered(line, counts)
    }

    /// [`Deriver::line`] without the byte pre-filter.
    pub fn line_unfiltered(&mut self, line: &[u8], counts: &mut Counts) -> LineResult {
        if !is_object(line) {
            return LineResult::Malformed;
        }
        skimmed(line, &READS, |line| match serde_json::from_slice::<Record>(line) {
            Ok(rec) => self.record(&rec, counts),
            Err(_) => LineResult::Malformed,
        })
    }

    /// Counts or files one parsed line.
    fn record(&mut self, rec: &Record, counts: &mut Counts) -> LineResult {
        if let Some(ts) = rec.timestamp.0.as_deref() {
            counts.set_timestamp(ts);
        }
        let hour = counts.hour();
        let before = (counts.additions(), self.claims.once.len(), self.claims.responses.len());
        let sidechain = rec.is_sidechain.0 == Some(true);
        let session_type = if sidechain { SessionType::Subagent } else { self.session_type };
        match rec.kind.0.as_deref() {
            Some("user") => {
                self.session(rec, session_type, hour);
                self.user(rec, sidechain, session_type, counts);
            }
            Some("assistant") => {
                self.session(rec, session_type, hour);
                self.assistant(rec, sidechain, session_type, counts);
            }
            _ => {}
        }
        let after = (counts.additions(), self.claims.once.len(), self.claims.responses.len());
        if after != before {
            LineResult::Parsed
        } else {
            LineResult::Ignored
        }
    }

    /// Counts `series` once per `id` (a claim settled across files and
    /// runs); a record without an id has no copies to recognise and is
    /// counted as it is.
    fn once(&mut self, kind: u8, id: Option<&str>, series: Series, counts: &mut Counts) {
        match id {
            Some(id) => self.claims.once(claims::key(kind, &[id]), series, counts.hour()),
            None => counts.incr(series),
        }
    }

    /// Files a session start for the first record of a session (a
    /// sidechain file is its own session: the parent's id plus its agent
    /// id).
    fn session(&mut self, rec: &Record, session_type: SessionType, hour: crate::metrics::Hour) {
        let Some(sid) = rec.session_id.0.as_deref().filter(|s| !s.is_empty()) else { return };
        let agent = if session_type == SessionType::Subagent {
            rec.agent_id.0.as_deref().unwrap_or("")
        } else {
            ""
        };
        let k = claims::key(SESSION, &[sid, agent]);
        if self.state.sessions.contains(&k) {
            return;
        }
        if self.state.sessions.len() >= MAX_SESSIONS {
            self.state.sessions.remove(0);
        }
        self.state.sessions.push(k);
        self.claims.once(k, Series::SessionStart { pack: Pack::ClaudeCode, session_type }, hour);
    }

    /// A `user` line: tool errors from its tool results, else a prompt
    /// (unless injected: meta, compaction summary, or a sidechain's brief).
    fn user(
        &mut self,
        rec: &Record,
        sidechain: bool,
        session_type: SessionType,
        counts: &mut Counts,
    ) {
        let pack = Pack::ClaudeCode;
        let Some(msg) = &rec.message else { return };
        let results =
            || msg.content.blocks.iter().filter(|b| b.kind.as_deref() == Some("tool_result"));
        if results().next().is_some() {
            for b in results().filter(|b| b.is_error == Some(true)) {
                let series = Series::Error { pack, error_type: ErrorType::Tool };
                self.once(
                    TOOL_ERROR,
                    b.tool_use_id.as_deref().or(rec.uuid.0.as_deref()),
                    series,
                    counts,
                );
            }
            return;
        }
        let injected = rec.is_meta.0 == Some(true)
            || rec.is_compact_summary.0 == Some(true)
            || rec.transcript_only.0 == Some(true)
            || sidechain;
        let empty = !msg.content.is_string && msg.content.blocks.is_empty();
        if injected || empty {
            return;
        }
        let series = Series::UserPrompt { pack, session_type };
        self.once(PROMPT, rec.uuid.0.as_deref(), series, counts);
    }

    /// An `assistant` line: an API error (synthetic), or part of a model
    /// response with its tool calls and usage.
    fn assistant(
        &mut self,
        rec: &Record,
        sidechain: bool,
        session_type: SessionType,
        counts: &mut Counts,
    ) {
        let pack = Pack::ClaudeCode;
        let Some(msg) = &rec.message else { return };
        let model_name = msg.model.0.as_deref();
        if rec.is_api_error.0 == Some(true) {
            let error_type = api_error_type(rec);
            let series = Series::Error { pack, error_type };
            self.once(API_ERROR, msg.id.0.as_deref().or(rec.uuid.0.as_deref()), series, counts);
            return;
        }
        if model_name == Some("<synthetic>") {
            return;
        }
        for b in msg.content.blocks.iter().filter(|b| b.kind.as_deref() == Some("tool_use")) {
            let (tool, class) = tools::classify(pack, b.name.as_deref().unwrap_or(""));
            self.once(TOOL, b.id.as_deref(), Series::ToolCall { pack, tool, class }, counts);
        }
        let model = models::classify(Some("anthropic"), model_name);
        let turn = Series::AgentTurn {
            pack,
            outcome: Outcome::Success,
            family: model.family,
            session_type,
        };
        let u = msg.usage.as_ref();
        let usage = u.map_or([0; 4], |u| {
            [
                u.input_tokens.0,
                u.cache_read_input_tokens.0,
                u.cache_creation_input_tokens.0,
                u.output_tokens.0,
            ]
        });
        let cache_write_1h =
            u.and_then(|u| u.cache_creation.as_ref()).map_or(0, |c| c.ephemeral_1h_input_tokens.0);
        let Some(id) = msg.id.0.as_deref().filter(|i| !i.is_empty()) else {
            // No id to recognise copies by: counted as it is.
            counts.incr(turn);
            claims::add_usage(counts, pack, model, usage, cache_write_1h);
            return;
        };
        let req = rec.request_id.0.as_deref().map_or(0, |r| claims::key(REQUEST, &[r]) as u32);
        self.claims.response(Response {
            msg: claims::key(MESSAGE, &[id]),
            req,
            sidechain,
            usage,
            cache_write_1h,
            hour: counts.hour(),
            turn,
            model,
            pack,
            open: false,
        });
    }
}

/// The `error.type` of a synthetic API-error message: from its HTTP status
/// when given, else from its error kind (`rate_limit`, …).
fn api_error_type(rec: &Record) -> ErrorType {
    let status = rec.api_error_status.0;
    if status != 0 {
        let t = errors::from_status(status);
        if t != ErrorType::Unknown {
            return t;
        }
    }
    rec.error.0.as_deref().map(errors::from_text).unwrap_or(ErrorType::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::json;

    /// Every line of the demo home's Claude Code files, and the later ones.
    #[test]
    fn the_byte_prefilter_skips_only_tool_results_without_an_error() {
        assert!(cannot_matter(br#"{"type":"user","message":{"content":[{"tool_use_id":"t","type":"tool_result","content":"x"}]}}"#));
        assert!(cannot_matter(
            br#"{"message":{"content":[{"tool_use_id":"t","is_error":false}]}}"#
        ));
        assert!(!cannot_matter(
            br#"{"message":{"content":[{"tool_use_id":"t","is_error":true}]}}"#
        ));
        assert!(!cannot_matter(
            br#"{"message":{"content":[{"tool_use_id":"t","is_error": true}]}}"#
        ));
        assert!(!cannot_matter(br#"{"type":"user","message":{"content":"a prompt"}}"#));
        // Progress records, however much they nest, by their own type.
        assert!(cannot_matter(
            br#"{"parentUuid":null,"cwd":"/p","type":"progress","data":{"message":{"type":"assistant","message":{"usage":{"output_tokens":9}}}}}"#
        ));
        assert!(!cannot_matter(
            br#"{"parentUuid":null,"data":{"type":"progress"},"type":"assistant","message":{}}"#
        ));
        assert!(!cannot_matter(br#""type":"progress""#));
    }

    #[test]
    fn the_prefilter_never_changes_a_count_on_the_fixtures() {
        let lines = crate::agents::fixture_lines(".claude");
        let run = |filtered: bool| {
            let mut st = ClaudeState::default();
            let mut claims = Claims::default();
            let mut counts = Counts::default();
            let mut d =
                Deriver { session_type: SessionType::Main, state: &mut st, claims: &mut claims };
            for l in &lines {
                if filtered {
                    d.line(l, &mut counts);
                } else {
                    d.line_unfiltered(l, &mut counts);
                }
            }
            (counts.keyed(), claims.once, claims.responses)
        };
        assert_eq!(run(true), run(false));
    }

    #[test]
    fn skimming_never_changes_a_count_on_the_fixtures() {
        let run = |lines: &[Vec<u8>]| {
            let mut st = ClaudeState::default();
            let mut claims = Claims::default();
            let mut counts = Counts::default();
            let mut d =
                Deriver { session_type: SessionType::Main, state: &mut st, claims: &mut claims };
            let results: Vec<_> = lines.iter().map(|l| d.line(l, &mut counts)).collect();
            (results, counts.keyed(), claims.once, claims.responses)
        };
        // An API error told by its long text, which the fixtures do not have.
        let error = format!(
            r#"{{"type":"assistant","sessionId":"s","uuid":"u","isApiErrorMessage":true,"error":"{} rate limit","message":{{"id":"m","model":"<synthetic>","content":[{{"type":"text","text":"{}"}}]}}}}"#,
            "e".repeat(100),
            "y".repeat(5000)
        );
        let lines = [error.into_bytes()];
        assert_eq!(run(&lines), json::tests::without_skimming(|| run(&lines)));
        let series = Series::Error { pack: Pack::ClaudeCode, error_type: ErrorType::Quota };
        assert!(run(&lines).2.iter().any(|(_, s, _)| *s == series), "{:?}", run(&lines).2);
        json::tests::skimming_changes_nothing(".claude", 20, run);
    }

    #[test]
    fn a_split_response_is_one_claim_with_its_largest_usage() {
        let a = br#"{"type":"assistant","sessionId":"s","requestId":"r","message":{"id":"m","model":"claude-sonnet-4-5","content":[{"type":"text","text":"x"}],"usage":{"input_tokens":3,"output_tokens":1}}}"#;
        let b = br#"{"type":"assistant","sessionId":"s","requestId":"r","message":{"id":"m","model":"claude-sonnet-4-5","content":[{"type":"tool_use","id":"t1","name":"Bash"}],"usage":{"input_tokens":3,"output_tokens":90}}}"#;
        let mut st = ClaudeState::default();
        let mut claims = Claims::default();
        let mut counts = Counts::default();
        let mut d =
            Deriver { session_type: SessionType::Main, state: &mut st, claims: &mut claims };
        assert_eq!(d.line(a, &mut counts), LineResult::Parsed);
        assert_eq!(d.line(b, &mut counts), LineResult::Parsed);
        assert_eq!(claims.responses.len(), 1);
        assert_eq!(claims.responses[0].usage, [3, 0, 0, 90]);
        // One session start and one tool call filed; nothing counted directly.
        assert_eq!(claims.once.len(), 2);
        assert!(counts.is_empty());
    }
}
