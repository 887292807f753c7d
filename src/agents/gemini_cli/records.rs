//! Google Gemini CLI chats (`~/.gemini/tmp/<project>/chats/session-*.jsonl`).
//!
//! A header record (`sessionId`, `projectHash`, …), then message records
//! (`id`, `timestamp`, `type` ∈ user / gemini / info / error / warning).
//! Gemini CLI re-appends a whole message every time it changes (tokens or
//! tool calls added), so a message is counted once by its id, with its last
//! values: a newer copy adds only what grew. `{"$set": {"messages": […]}}`
//! checkpoints re-list messages (upserted the same way); `{"$rewindTo": id}`
//! hides messages from the chat, but their tokens were spent, so counts
//! stay.

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::agents::json::{is_object, skimmed, Block, Reads, StrOrSkip, Tokens};
use crate::agents::pi::records::StoredModel;
use crate::agents::usage::{add_tokens, Usage};
use crate::classify::{errors, models, tools};
use crate::hash::fnv64;
use crate::metrics::{Counts, ErrorType, LineResult, Outcome, Pack, Series, SessionType};
use crate::pricing::Cost;

/// Per-file context kept between runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GeminiState {
    /// The header was read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub header_seen: bool,
    /// Hash of the header's `sessionId`: another id read at this path is
    /// another chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u64>,
    /// The chat is a subagent's (header `kind`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub subagent: bool,
    /// The model last named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<StoredModel>,
    /// The newest message timestamp counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_ts: Option<String>,
    /// The most recent messages counted and what they counted, newest
    /// last: only recent messages are re-appended with newer values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<Counted>,
}

/// What one message counted so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counted {
    /// Hash of the message id.
    pub id: u64,
    /// Tokens counted: input, cache read, output, reasoning.
    #[serde(default)]
    pub tokens: [u64; 4],
    /// Hashes of the tool calls counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<u64>,
    /// Hashes of the tool calls whose failure was counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<u64>,
}

/// How many recent messages a file remembers.
const RECENT: usize = 64;

/// What [`Record`] (and the [`Block`]s of its tool calls) may read: the
/// rest is skimmed off long lines before they are parsed.
const READS: Reads = Reads {
    values: &[
        "sessionId",
        "kind",
        "id",
        "timestamp",
        "startTime",
        "type",
        "model",
        "content",
        "name",
        "status",
        "tool_use_id",
    ],
    whole: &[],
};

/// One record (a line, or a message inside a `$set` checkpoint).
#[derive(Default)]
struct Record<'a> {
    session_id: Option<StrOrSkip<'a>>,
    project_hash: Option<IgnoredAny>,
    kind: StrOrSkip<'a>,
    id: StrOrSkip<'a>,
    timestamp: StrOrSkip<'a>,
    message_type: StrOrSkip<'a>,
    model: StrOrSkip<'a>,
    tokens: Option<GTokens>,
    tool_calls: Option<Vec<Block<'a>>>,
    /// The text of an `error` message (only read for those: the text of
    /// every other message, the bulk of the bytes, is skipped without
    /// being unescaped).
    content: StrOrSkip<'a>,
    set: Option<SetOp<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Record<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Record<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a Gemini CLI record")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Record<'a>, A::Error> {
                let mut r = Record::default();
                while let Some(key) = m.next_key::<StrOrSkip<'de>>()? {
                    match key.0.as_deref() {
                        Some("sessionId") => r.session_id = Some(m.next_value()?),
                        Some("projectHash") => r.project_hash = Some(m.next_value()?),
                        Some("kind") => r.kind = m.next_value()?,
                        Some("id") => r.id = m.next_value()?,
                        Some("timestamp" | "startTime") => r.timestamp = m.next_value()?,
                        Some("type") => r.message_type = m.next_value()?,
                        Some("model") => r.model = m.next_value()?,
                        Some("tokens") => r.tokens = m.next_value()?,
                        Some("toolCalls") => r.tool_calls = m.next_value()?,
                        // Gemini CLI writes `type` before `content`.
                        Some("content")
                            if r.message_type.0.as_deref().is_some_and(|t| t != "error") =>
                        {
                            m.next_value::<IgnoredAny>()?;
                        }
                        Some("content") => r.content = m.next_value()?,
                        Some("$set") => r.set = m.next_value()?,
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(r)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A `$set` patch; only a message checkpoint matters.
#[derive(Deserialize, Default)]
struct SetOp<'a> {
    #[serde(borrow, default)]
    messages: Option<Vec<Record<'a>>>,
}

/// Gemini's token record.
#[derive(Deserialize, Default)]
struct GTokens {
    #[serde(default)]
    input: Tokens,
    #[serde(default)]
    output: Tokens,
    #[serde(default)]
    cached: Tokens,
    #[serde(default)]
    thoughts: Tokens,
    #[serde(default)]
    tool: Tokens,
}

/// Turns lines of one chat file into counts.
pub struct Deriver<'s> {
    /// The file's session type from its path (nested chats are subagents).
    pub session_type: SessionType,
    /// The file's persistent context.
    pub state: &'s mut GeminiState,
}

impl Deriver<'_> {
    /// Counts one complete line and says how it was classified.
    pub fn line(&mut self, line: &[u8], counts: &mut Counts) -> LineResult {
        if !is_object(line) {
            return LineResult::Malformed;
        }
        skimmed(line, &READS, |line| match serde_json::from_slice::<Record>(line) {
            Ok(rec) => self.record(&rec, counts),
            Err(_) => LineResult::Malformed,
        })
    }

    /// Counts one parsed record.
    fn record(&mut self, rec: &Record, counts: &mut Counts) -> LineResult {
        let before = counts.additions();
        if let Some(set) = &rec.set {
            for m in set.messages.iter().flatten() {
                self.message(m, counts);
            }
        } else if rec.message_type.0.is_none()
            && (rec.project_hash.is_some() || rec.session_id.is_some())
        {
            self.header(rec, counts);
        } else {
            self.message(rec, counts);
        }
        if counts.additions() > before {
            LineResult::Parsed
        } else {
            LineResult::Ignored
        }
    }

    fn session_type(&self) -> SessionType {
        if self.state.subagent {
            SessionType::Subagent
        } else {
            self.session_type
        }
    }

    /// The header: one session start per file.
    fn header(&mut self, rec: &Record, counts: &mut Counts) {
        if let Some(t) = rec.timestamp.0.as_deref() {
            counts.set_timestamp(t);
        }
        let id = rec.session_id.as_ref().and_then(|s| s.0.as_deref()).map(|i| fnv64(i.as_bytes()));
        if self.state.header_seen {
            if id.is_none() || self.state.session.is_none() || id == self.state.session {
                return;
            }
            // Another chat now lives at this path: it counts in full.
            *self.state = GeminiState::default();
        }
        self.state.header_seen = true;
        self.state.session = id;
        self.state.subagent = rec.kind.0.as_deref() == Some("subagent");
        counts.incr(Series::SessionStart {
            pack: Pack::GeminiCli,
            session_type: self.session_type(),
        });
    }

    /// One message record, counted once by id with its last values.
    fn message(&mut self, m: &Record, counts: &mut Counts) {
        let Some(kind) = m.message_type.0.as_deref() else { return };
        if !matches!(kind, "user" | "gemini" | "error") {
            return;
        }
        if let Some(name) = m.model.0.as_deref() {
            let r = models::classify(Some("google"), Some(name));
            self.state.model = Some(StoredModel::from_ref(r));
        }
        // A `gemini` message's model: its own, else the chat's last.
        let model = self.model();
        let ts = m.timestamp.0.as_deref();
        if let Some(t) = ts {
            counts.set_timestamp(t);
        }
        let id = m.id.0.as_deref().map(|i| fnv64(i.as_bytes()));
        let mut fresh = Counted { id: id.unwrap_or(0), ..Counted::default() };
        let slot = id.and_then(|h| self.state.recent.iter().position(|c| c.id == h));
        let first = slot.is_none();
        if first {
            // An older message not among the recent ones is a checkpoint's
            // copy of one counted long ago.
            if id.is_some()
                && matches!((ts, self.state.high_ts.as_deref()), (Some(t), Some(h)) if t < h)
            {
                return;
            }
            let pack = Pack::GeminiCli;
            match kind {
                "user" => {
                    counts.incr(Series::UserPrompt { pack, session_type: self.session_type() })
                }
                "error" => {
                    let error_type =
                        m.content.0.as_deref().map(errors::from_text).unwrap_or(ErrorType::Unknown);
                    counts.incr(Series::Error { pack, error_type });
                }
                _ => {
                    counts.incr(Series::AgentTurn {
                        pack,
                        outcome: Outcome::Success,
                        family: model.family,
                        session_type: self.session_type(),
                    });
                }
            }
            if let Some(t) = ts {
                if self.state.high_ts.as_deref().is_none_or(|h| t > h) {
                    self.state.high_ts = Some(t.to_owned());
                }
            }
        }
        let counted = match slot {
            Some(i) => &mut self.state.recent[i],
            None => &mut fresh,
        };
        if kind == "gemini" {
            count_gemini(m, model, counted, counts);
        }
        if first && id.is_some() {
            if self.state.recent.len() >= RECENT {
                self.state.recent.remove(0);
            }
            self.state.recent.push(fresh);
        }
    }

    /// The model last named in this chat.
    fn model(&self) -> crate::metrics::ModelRef {
        match &self.state.model {
            Some(m) => m.to_ref(),
            None => models::classify(Some("google"), None),
        }
    }
}

/// Counts what a `gemini` message adds over what was counted for it:
/// token growth, type by type, and tool calls (and failures) not yet
/// counted.
fn count_gemini(m: &Record, model: crate::metrics::ModelRef, c: &mut Counted, counts: &mut Counts) {
    let pack = Pack::GeminiCli;
    if let Some(t) = &m.tokens {
        let cached = t.cached.0.min(t.input.0);
        let now = [t.input.0 - cached + t.tool.0, cached, t.output.0, t.thoughts.0];
        let mut more = [0u64; 4];
        for (i, m) in more.iter_mut().enumerate() {
            *m = now[i].saturating_sub(c.tokens[i]);
            c.tokens[i] = c.tokens[i].max(now[i]);
        }
        let [input, cache_read, output, reasoning] = more;
        let usage = Usage { input, cache_read, cache_write: 0, output, reasoning };
        add_tokens(counts, pack, model, &usage, Cost::CALL);
    }
    for (n, call) in m.tool_calls.iter().flatten().enumerate() {
        let h = call.id.as_deref().map_or(n as u64, |i| fnv64(i.as_bytes()));
        if !c.tools.contains(&h) {
            c.tools.push(h);
            let (tool, class) = tools::classify(pack, call.name.as_deref().unwrap_or(""));
            counts.incr(Series::ToolCall { pack, tool, class });
        }
        if call.status.as_deref() == Some("error") && !c.failed.contains(&h) {
            c.failed.push(h);
            counts.incr(Series::Error { pack, error_type: ErrorType::Tool });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(st: &mut GeminiState, lines: &[&str]) -> Counts {
        let mut c = Counts::default();
        let mut d = Deriver { session_type: SessionType::Main, state: st };
        for l in lines {
            d.line(l.as_bytes(), &mut c);
        }
        c
    }

    #[test]
    fn skimming_never_changes_a_count_on_the_fixtures() {
        let run = |lines: &[Vec<u8>]| {
            let mut st = GeminiState::default();
            let mut counts = Counts::default();
            let mut d = Deriver { session_type: SessionType::Main, state: &mut st };
            let results: Vec<_> = lines.iter().map(|l| d.line(l, &mut counts)).collect();
            (results, counts.keyed(), st)
        };
        crate::agents::json::tests::skimming_changes_nothing(".gemini", 10, run);
    }

    #[test]
    fn long_lines_skimmed_count_what_they_count_whole() {
        // A text as it is written in JSON: quotes and backslashes escaped.
        let text = "out \"put\" \\ \u{1b}[0m é\n".repeat(300);
        let long = serde_json::to_string(&text).unwrap().trim_matches('"').to_string();
        let err = format!("{long} rate limit exceeded (429)");
        let call = |id: &str, status: &str| {
            format!(
                r#"{{"id":"{id}","name":"run_shell_command","args":{{"command":"{long}"}},"result":[{{"functionResponse":{{"id":"{id}","name":"run_shell_command","response":{{"output":"{long}"}}}}}}],"status":"{status}","resultDisplay":"{long}","description":"{long}"}}"#
            )
        };
        let records = [
            format!(
                r#"{{"sessionId":"s","projectHash":"{long}","startTime":"2026-01-01T00:00:00.000Z","kind":"main"}}"#
            ),
            format!(
                r#"{{"id":"u1","timestamp":"2026-01-01T00:00:01.000Z","type":"user","content":[{{"text":"{long}"}}]}}"#
            ),
            format!(
                r#"{{"id":"g1","timestamp":"2026-01-01T00:00:02.000Z","type":"gemini","content":"{long}","thoughts":[{{"subject":"{long}","description":"{long}"}}],"tokens":{{"input":900,"output":80,"cached":300,"thoughts":20,"tool":5}},"model":"gemini-2.5-pro","toolCalls":[{},{}]}}"#,
                call("c1", "success"),
                call("c2", "error")
            ),
            format!(
                r#"{{"id":"e1","timestamp":"2026-01-01T00:00:03.000Z","type":"error","content":"{err}"}}"#
            ),
            format!(
                r#"{{"$set":{{"messages":[{{"id":"g2","timestamp":"2026-01-01T00:00:04.000Z","type":"gemini","content":"{long}","tokens":{{"input":10,"output":1}},"toolCalls":[{}]}}]}}}}"#,
                call("c3", "error")
            ),
        ];
        let (mut skimmed, mut whole) = (GeminiState::default(), GeminiState::default());
        let (mut a, mut b) = (Counts::default(), Counts::default());
        for r in &records {
            assert!(r.len() > crate::agents::json::SKIM_FROM);
            let mut d = Deriver { session_type: SessionType::Main, state: &mut skimmed };
            let got = d.line(r.as_bytes(), &mut a);
            let rec = serde_json::from_slice::<Record>(r.as_bytes()).expect("valid JSON");
            let mut d = Deriver { session_type: SessionType::Main, state: &mut whole };
            assert_eq!(got, d.record(&rec, &mut b), "{r}");
        }
        assert_eq!(a.iter().collect::<Vec<_>>(), b.iter().collect::<Vec<_>>());
        assert_eq!(skimmed, whole);
        // What the long lines hold was read: the session, the prompt, the
        // turns, their tokens, three calls, and the error told by its text.
        let pack = Pack::GeminiCli;
        let calls: u64 =
            a.iter().filter(|(s, _)| matches!(s, Series::ToolCall { .. })).map(|(_, n)| n).sum();
        assert_eq!(calls, 3, "{a:?}");
        assert_eq!(a.get(&Series::Error { pack, error_type: ErrorType::Quota }), 1, "{a:?}");
        assert_eq!(a.get(&Series::UserPrompt { pack, session_type: SessionType::Main }), 1);
        let turns: u64 =
            a.iter().filter(|(s, _)| matches!(s, Series::AgentTurn { .. })).map(|(_, n)| n).sum();
        assert_eq!(turns, 2);
    }

    #[test]
    fn another_chat_at_the_same_path_counts_in_full() {
        let header = |id: &str| {
            format!(
                r#"{{"sessionId":"{id}","projectHash":"p","startTime":"2026-01-01T00:00:00.000Z"}}"#
            )
        };
        let user =
            r#"{"id":"m1","timestamp":"2026-01-01T00:00:01.000Z","type":"user","content":"x"}"#;
        let starts =
            Series::SessionStart { pack: Pack::GeminiCli, session_type: SessionType::Main };
        let prompts = Series::UserPrompt { pack: Pack::GeminiCli, session_type: SessionType::Main };
        let mut st = GeminiState::default();
        let c = lines(&mut st, &[&header("a"), user]);
        assert_eq!((c.get(&starts), c.get(&prompts)), (1, 1));
        // The same chat read again counts nothing; another chat, all.
        let c = lines(&mut st, &[&header("a"), user]);
        assert_eq!((c.get(&starts), c.get(&prompts)), (0, 0));
        let c = lines(&mut st, &[&header("b"), user]);
        assert_eq!((c.get(&starts), c.get(&prompts)), (1, 1));
    }
}
