//! OpenAI Codex CLI rollouts (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl`).
//!
//! Every line is an envelope `{timestamp, type, payload}`. Usage comes
//! from the growth of the thread's cumulative `total_token_usage` (a row
//! re-emitting unchanged totals, or with `info: null`, adds nothing); the
//! model from the latest `turn_context`. A forked rollout starts with
//! verbatim copies of its parent's rows (stamped before the fork), and a
//! spawned subagent's rollout replays its parent's rows (all stamped in
//! the second it was spawned): those rows count nothing, but their totals
//! become the baseline the new rows grow from.

use serde::Deserialize;

use crate::agents::json::{is_object, skimmed, Reads, StrOrSkip, Tokens};
use crate::agents::mark::{line_key, Mark};
use crate::agents::pi::records::StoredModel;
use crate::agents::usage::{self, add_tokens};
use crate::classify::{errors, models, tools};
use crate::hash::fnv64;
use crate::metrics::{Counts, ErrorType, LineResult, Outcome, Pack, Series, SessionType};
use crate::pricing::Cost;

/// Per-file context kept between runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodexState {
    /// The rollout's `session_meta` was read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub meta_seen: bool,
    /// The rollout belongs to a spawned subagent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub subagent: bool,
    /// Model of the latest `turn_context`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<StoredModel>,
    /// Last cumulative totals: input, cached input, output, reasoning.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub totals: [u64; 4],
    /// While set, rows are replayed history: stamped before this time (a
    /// fork) or within this second (a subagent; 19 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_until: Option<String>,
    /// `replay_until` is a second (subagent) rather than a cutoff (fork).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replay_second: bool,
    /// Hash of the session id (`session_meta.payload.id`): another id read
    /// at this path is another session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u64>,
    /// The newest row counted: after the file is rewritten in place (an
    /// older copy restored), rows up to it are not counted again.
    #[serde(default, skip_serializing_if = "is_default")]
    pub mark: Mark,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl CodexState {
    /// Prepares a read of the rollout again from its start (it was
    /// rewritten in place): rows up to the mark are copies.
    pub fn begin_replay(&mut self) {
        self.mark.begin_replay();
    }
}

fn is_zero(t: &[u64; 4]) -> bool {
    *t == [0; 4]
}

/// What [`Envelope`] may read: the rest is skimmed off long lines before
/// they are parsed. A session's `source` is read whole.
const READS: Reads = Reads {
    values: &["timestamp", "type", "id", "model", "name", "codex_error_info"],
    whole: &["source"],
};

/// One envelope line.
#[derive(Deserialize, Default)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    timestamp: StrOrSkip<'a>,
    #[serde(rename = "type", borrow, default)]
    kind: StrOrSkip<'a>,
    #[serde(borrow, default)]
    payload: Option<Payload<'a>>,
}

/// The fields of any payload that matter.
#[derive(Deserialize, Default)]
struct Payload<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: StrOrSkip<'a>,
    #[serde(borrow, default)]
    timestamp: StrOrSkip<'a>,
    #[serde(default)]
    source: Option<serde_json::Value>,
    #[serde(default)]
    forked_from_id: Option<serde::de::IgnoredAny>,
    #[serde(borrow, default)]
    id: StrOrSkip<'a>,
    #[serde(borrow, default)]
    model: StrOrSkip<'a>,
    #[serde(borrow, default)]
    name: StrOrSkip<'a>,
    #[serde(default)]
    info: Option<Info<'a>>,
    #[serde(default)]
    codex_error_info: Option<serde_json::Value>,
}

/// `token_count.info`.
#[derive(Deserialize, Default)]
struct Info<'a> {
    #[serde(default)]
    total_token_usage: Option<Usage>,
    #[serde(borrow, default)]
    model: StrOrSkip<'a>,
}

/// Codex's token usage record.
#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    input_tokens: Tokens,
    #[serde(default)]
    cached_input_tokens: Tokens,
    #[serde(default)]
    output_tokens: Tokens,
    #[serde(default)]
    reasoning_output_tokens: Tokens,
}

/// The rollout line prefix Codex writes (`RolloutLine` serialises
/// `timestamp`, then the item's `type` tag, then `payload`, whose own
/// `type` tag comes first).
const TIMESTAMP_PREFIX: &[u8] = b"{\"timestamp\":\"";

/// Decides by bytes alone that a line cannot count: a `response_item` or
/// `event_msg` whose payload type never counts (messages, reasoning, tool
/// outputs: the bulk of the bytes). Returns the line's timestamp, which
/// still ends a replay; `None` leaves the line to the parser. Anything the
/// bytes do not settle (other key order, spacing or escapes) is parsed, so
/// skipping never changes a count.
pub fn cannot_matter(line: &[u8]) -> Option<&str> {
    let (ts, rest) = split_word(line.strip_prefix(TIMESTAMP_PREFIX)?)?;
    let rest = rest.strip_prefix(b",\"type\":\"")?;
    let (env, rest) = split_word(rest)?;
    let rest = rest.strip_prefix(b",\"payload\":{\"type\":\"")?;
    let (kind, _) = split_word(rest)?;
    let counted: &[&[u8]] = match env {
        b"response_item" => {
            &[b"function_call", b"custom_tool_call", b"local_shell_call", b"web_search_call"]
        }
        b"event_msg" => &[b"user_message", b"token_count", b"turn_aborted", b"error"],
        _ => return None,
    };
    if counted.contains(&kind) {
        return None;
    }
    std::str::from_utf8(ts).ok()
}

/// Splits `word"rest` (a short plain string value and what follows its
/// closing quote).
fn split_word(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = memchr::memchr2(b'"', b'\\', &b[..b.len().min(64)])?;
    (b[end] == b'"').then(|| (&b[..end], &b[end + 1..]))
}

/// Turns lines of one rollout into counts.
pub struct Deriver<'s> {
    /// The file's persistent context.
    pub state: &'s mut CodexState,
}

impl Deriver<'_> {
    /// Counts one complete line and says how it was classified.
    pub fn line(&mut self, line: &[u8], counts: &mut Counts) -> LineResult {
        if let Some(ts) = cannot_matter(line) {
            self.replaying(Some(ts));
            return LineResult::Ignored;
        }
        self.line_unfiltered(line, counts)
    }

    /// [`Deriver::line`] without the byte pre-filter (the pre-filter's
    /// tests compare the two).
    pub fn line_unfiltered(&mut self, line: &[u8], counts: &mut Counts) -> LineResult {
        if !is_object(line) {
            return LineResult::Malformed;
        }
        skimmed(line, &READS, |skim| match serde_json::from_slice::<Envelope>(skim) {
            Ok(env) => self.envelope(&env, line, counts),
            Err(_) => LineResult::Malformed,
        })
    }

    /// Counts one parsed line; `line` is the whole line (its bytes are a
    /// copy's key).
    fn envelope(&mut self, env: &Envelope, line: &[u8], counts: &mut Counts) -> LineResult {
        let Some(p) = &env.payload else { return LineResult::Ignored };
        let before = counts.additions();
        let ts = env.timestamp.0.as_deref();
        if let Some(t) = ts {
            counts.set_timestamp(t);
        }
        if env.kind.0.as_deref() == Some("session_meta") {
            self.session_meta(ts, p, counts);
            return self.counted(before, ts, line, counts);
        }
        // A rewritten rollout read again: rows counted before are copies.
        let copy = ts.is_some_and(|t| self.state.mark.is_copy(t, || line_key(line)));
        if copy || self.replaying(ts) {
            // Replayed history: keep its context, count nothing.
            match env.kind.0.as_deref() {
                Some("turn_context") => self.turn_context(p),
                Some("event_msg") if p.kind.0.as_deref() == Some("token_count") => {
                    if let Some(t) = totals(p) {
                        self.raise_totals(t);
                    }
                }
                _ => {}
            }
            return LineResult::Ignored;
        }
        match (env.kind.0.as_deref(), p.kind.0.as_deref()) {
            (Some("turn_context"), _) => self.turn_context(p),
            (Some("event_msg"), Some("user_message")) => counts
                .incr(Series::UserPrompt { pack: Pack::Codex, session_type: self.session_type() }),
            (Some("event_msg"), Some("token_count")) => self.token_count(p, counts),
            (Some("event_msg"), Some("turn_aborted")) => {
                counts.incr(Series::Error { pack: Pack::Codex, error_type: ErrorType::Aborted })
            }
            (Some("event_msg"), Some("error")) => {
                let error_type = p
                    .codex_error_info
                    .as_ref()
                    .map(|v| errors::from_text(&error_info_name(v)))
                    .unwrap_or(ErrorType::Unknown);
                counts.incr(Series::Error { pack: Pack::Codex, error_type })
            }
            (
                Some("response_item"),
                Some(
                    k @ ("function_call" | "custom_tool_call" | "local_shell_call"
                    | "web_search_call"),
                ),
            ) => {
                let name = match k {
                    "local_shell_call" => "local_shell",
                    "web_search_call" => "web_search",
                    _ => p.name.0.as_deref().unwrap_or(""),
                };
                let (tool, class) = tools::classify(Pack::Codex, name);
                counts.incr(Series::ToolCall { pack: Pack::Codex, tool, class });
            }
            _ => {}
        }
        self.counted(before, ts, line, counts)
    }

    /// Classifies a line by whether it counted, and moves the mark past it
    /// if so.
    fn counted(
        &mut self,
        before: u64,
        ts: Option<&str>,
        line: &[u8],
        counts: &Counts,
    ) -> LineResult {
        if counts.additions() == before {
            return LineResult::Ignored;
        }
        if let Some(ts) = ts {
            self.state.mark.advance(ts, line_key(line));
        }
        LineResult::Parsed
    }

    /// True while rows are replayed history; ends the replay at the first
    /// row past it.
    fn replaying(&mut self, ts: Option<&str>) -> bool {
        let Some(until) = &self.state.replay_until else { return false };
        let Some(ts) = ts else { return true };
        let inside = if self.state.replay_second {
            ts.get(..19) == Some(until.as_str())
        } else {
            ts < until.as_str()
        };
        if !inside {
            self.state.replay_until = None;
            self.state.replay_second = false;
        }
        inside
    }

    fn session_type(&self) -> SessionType {
        if self.state.subagent {
            SessionType::Subagent
        } else {
            SessionType::Main
        }
    }

    /// The first `session_meta`: a session start; a fork or subagent
    /// starts its replay window.
    fn session_meta(&mut self, ts: Option<&str>, p: &Payload, counts: &mut Counts) {
        let id = p.id.0.as_deref().map(|i| fnv64(i.as_bytes()));
        if self.state.meta_seen {
            if id.is_none() || self.state.session.is_none() || id == self.state.session {
                // The same session (a resume repeats it, a rewrite starts
                // with it).
                return;
            }
            // Another session now lives at this path: it counts in full.
            *self.state = CodexState::default();
        }
        self.state.meta_seen = true;
        self.state.session = id;
        self.state.subagent = p.source.as_ref().is_some_and(names_subagent);
        let at = p.timestamp.0.as_deref().or(ts);
        if p.forked_from_id.is_some() {
            self.state.replay_until = at.map(str::to_owned);
        } else if self.state.subagent {
            self.state.replay_until = ts.and_then(|t| t.get(..19)).map(str::to_owned);
            self.state.replay_second = self.state.replay_until.is_some();
        }
        counts.incr(Series::SessionStart { pack: Pack::Codex, session_type: self.session_type() });
    }

    fn turn_context(&mut self, p: &Payload) {
        if let Some(m) = p.model.0.as_deref() {
            self.state.model =
                Some(StoredModel::from_ref(models::classify(Some("openai"), Some(m))));
        }
    }

    /// Raises the baseline to `now` and returns how much each total grew.
    /// Totals only grow within a thread: the baseline never goes back (a
    /// rewritten file read again from its start adds nothing).
    fn raise_totals(&mut self, now: [u64; 4]) -> [u64; 4] {
        let mut grew = [0; 4];
        for ((have, now), grew) in self.state.totals.iter_mut().zip(now).zip(&mut grew) {
            *grew = now.saturating_sub(*have);
            *have = (*have).max(now);
        }
        grew
    }

    /// A `token_count`: when the totals grew, one turn and the growth.
    fn token_count(&mut self, p: &Payload, counts: &mut Counts) {
        let Some(now) = totals(p) else { return };
        let d = self.raise_totals(now);
        if d == [0; 4] {
            return;
        }
        let model = match &self.state.model {
            Some(m) => m.to_ref(),
            None => {
                models::classify(Some("openai"), p.info.as_ref().and_then(|i| i.model.0.as_deref()))
            }
        };
        let pack = Pack::Codex;
        counts.incr(Series::AgentTurn {
            pack,
            outcome: Outcome::Success,
            family: model.family,
            session_type: self.session_type(),
        });
        let (input, cached, output, reasoning) = (d[0], d[1].min(d[0]), d[2], d[3].min(d[2]));
        let usage = usage::Usage {
            input: input - cached,
            cache_read: cached,
            cache_write: 0,
            output: output - reasoning,
            reasoning,
        };
        add_tokens(counts, pack, model, &usage, Cost::CALL);
    }
}

/// The cumulative totals of a `token_count` row with non-null `info`.
fn totals(p: &Payload) -> Option<[u64; 4]> {
    let u = p.info.as_ref()?.total_token_usage.as_ref()?;
    Some([
        u.input_tokens.0,
        u.cached_input_tokens.0,
        u.output_tokens.0,
        u.reasoning_output_tokens.0,
    ])
}

/// True when a `session_meta.source` names a subagent or a thread spawn
/// (`{"subagent": {"thread_spawn": {…}}}`, or a string saying so).
fn names_subagent(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains("subagent") || s.contains("thread_spawn"),
        serde_json::Value::Object(m) => {
            m.keys().any(|k| k == "subagent" || k == "thread_spawn")
                || m.values().any(names_subagent)
        }
        _ => false,
    }
}

/// The kind named by `codex_error_info` (a string, or the key of a
/// one-key object such as `{"http_connection_failed": {…}}`): a fixed
/// enumeration of Codex's, never message text.
fn error_info_name(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(m) => m.keys().cloned().collect::<Vec<_>>().join(" "),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(st: &mut CodexState, lines: &[String]) -> Counts {
        let mut c = Counts::default();
        let mut d = Deriver { state: st };
        for l in lines {
            d.line(l.as_bytes(), &mut c);
        }
        c
    }

    fn meta(id: &str) -> String {
        format!(
            r#"{{"timestamp":"2026-01-01T00:00:00.000Z","type":"session_meta","payload":{{"id":"{id}","timestamp":"2026-01-01T00:00:00.000Z","source":"cli"}}}}"#
        )
    }

    fn prompt(t: u32) -> String {
        format!(
            r#"{{"timestamp":"2026-01-01T00:00:{t:02}.000Z","type":"event_msg","payload":{{"type":"user_message","message":"x"}}}}"#
        )
    }

    const PROMPTS: Series =
        Series::UserPrompt { pack: Pack::Codex, session_type: SessionType::Main };
    const STARTS: Series =
        Series::SessionStart { pack: Pack::Codex, session_type: SessionType::Main };

    #[test]
    fn a_rewritten_rollout_counts_only_rows_past_what_it_counted() {
        let mut st = CodexState::default();
        // Two prompts in the same millisecond, told apart by their bytes.
        let twin = prompt(2).replace("\"x\"", "\"y\"");
        let first = rows(&mut st, &[meta("s1"), prompt(1), prompt(2), twin.clone()]);
        assert_eq!((first.get(&STARTS), first.get(&PROMPTS)), (1, 3));
        // An older copy restored, then a new row.
        st.begin_replay();
        let again = rows(&mut st, &[meta("s1"), prompt(1), prompt(2), twin, prompt(3)]);
        assert_eq!((again.get(&STARTS), again.get(&PROMPTS)), (0, 1));
    }

    #[test]
    fn another_session_at_the_same_path_counts_in_full() {
        let mut st = CodexState::default();
        rows(&mut st, &[meta("s1"), prompt(1), prompt(2)]);
        st.begin_replay();
        let other = rows(&mut st, &[meta("s2"), prompt(1)]);
        assert_eq!((other.get(&STARTS), other.get(&PROMPTS)), (1, 1));
    }

    #[test]
    fn the_prefilter_skips_only_payloads_that_never_count() {
        let line = |env: &str, kind: &str| {
            format!(
                r#"{{"timestamp":"2026-01-01T00:00:00.000Z","type":"{env}","payload":{{"type":"{kind}","output":"x"}}}}"#
            )
        };
        for (env, kind) in [
            ("response_item", "message"),
            ("response_item", "reasoning"),
            ("response_item", "function_call_output"),
            ("event_msg", "agent_message"),
            ("event_msg", "exec_command_end"),
        ] {
            assert_eq!(cannot_matter(line(env, kind).as_bytes()), Some("2026-01-01T00:00:00.000Z"));
        }
        for (env, kind) in [
            ("response_item", "function_call"),
            ("response_item", "custom_tool_call"),
            ("event_msg", "token_count"),
            ("event_msg", "user_message"),
            ("event_msg", "error"),
            ("turn_context", "x"),
            ("session_meta", "x"),
        ] {
            assert_eq!(cannot_matter(line(env, kind).as_bytes()), None, "{env} {kind}");
        }
        // Another key order or spacing is left to the parser.
        assert_eq!(
            cannot_matter(
                br#"{"type":"response_item","timestamp":"t","payload":{"type":"message"}}"#
            ),
            None
        );
        assert_eq!(
            cannot_matter(
                br#"{"timestamp": "t","type":"response_item","payload":{"type":"message"}}"#
            ),
            None
        );
        assert_eq!(
            cannot_matter(
                br#"{"timestamp":"t\"","type":"response_item","payload":{"type":"message"}}"#
            ),
            None
        );
    }

    #[test]
    fn skimming_never_changes_a_count_on_the_fixtures() {
        use crate::agents::json::tests::{skimming_changes_nothing, without_skimming};
        let run = |lines: &[Vec<u8>]| {
            let mut st = CodexState::default();
            let mut counts = Counts::default();
            let mut d = Deriver { state: &mut st };
            let results: Vec<_> = lines.iter().map(|l| d.line(l, &mut counts)).collect();
            (results, counts.keyed(), serde_json::to_string(&st).unwrap())
        };
        // A source read whole: a long text in it may name a subagent.
        let text = format!("spawned by a subagent {}", "x".repeat(100));
        let meta = format!(
            r#"{{"timestamp":"2026-01-01T00:00:00.000Z","type":"session_meta","payload":{{"id":"s","source":{{"kind":"{text}"}},"base_instructions":"{}"}}}}"#,
            "y".repeat(5000)
        );
        let lines = [meta.into_bytes()];
        assert_eq!(run(&lines), without_skimming(|| run(&lines)));
        assert!(run(&lines).2.contains(r#""subagent":true"#), "{}", run(&lines).2);
        // A session without a source: its long id is read.
        let id = "i".repeat(100);
        let meta = format!(
            r#"{{"timestamp":"2026-01-01T00:00:00.000Z","type":"session_meta","payload":{{"id":"{id}","base_instructions":"{}"}}}}"#,
            "y".repeat(5000)
        );
        let turn = r#"{"timestamp":"2026-01-01T00:00:01.000Z","type":"event_msg","payload":{"type":"user_message","message":"hi"}}"#;
        let lines = [meta.into_bytes(), turn.as_bytes().to_vec()];
        assert_eq!(run(&lines), without_skimming(|| run(&lines)));
        skimming_changes_nothing(".codex", 10, run);
    }

    #[test]
    fn the_prefilter_never_changes_a_count_on_the_fixtures() {
        let lines = crate::agents::fixture_lines(".codex");
        assert!(lines.len() > 20);
        let run = |filtered: bool| {
            let mut st = CodexState::default();
            let mut counts = Counts::default();
            let mut results = Vec::new();
            for l in &lines {
                let mut d = Deriver { state: &mut st };
                results.push(if filtered {
                    d.line(l, &mut counts)
                } else {
                    d.line_unfiltered(l, &mut counts)
                });
            }
            (counts.keyed(), st)
        };
        let (a, b) = (run(true), run(false));
        assert_eq!(a.0, b.0);
        assert_eq!(serde_json::to_string(&a.1).unwrap(), serde_json::to_string(&b.1).unwrap());
    }
}
