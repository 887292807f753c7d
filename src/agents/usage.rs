//! Usage records: how the agents that write one record per model call
//! (opencode, Copilot CLI, Qwen Code, Goose, Amp, Droid, Kimi, Kilo,
//! Codebuff, Antigravity, Grok Build, ZCode) count.
//!
//! Their parsers take bytes (a JSONL line, a whole JSON document, a row)
//! and report what a record is through a [`Recorder`]: a session start, a
//! prompt, a tool call, a model turn with its [`Usage`]. A record that
//! has an id is filed as a claim ([`crate::state::claims`]): it counts the
//! first time its id is seen, in whichever file, copy or database row,
//! and never again. A record still being written (a message without its
//! final usage) is not reported until it is complete.
//!
//! A JSON document the agent rewrites as it grows (an Amp thread, a
//! Codebuff chat) is read whole when it changed; its state keeps how many
//! leading complete records were counted and a hash of their ids, so a
//! rewrite that only appends files claims for the new records alone.

use crate::classify::tools;
use crate::hash::fnv64;
use crate::metrics::{
    Counts, ErrorType, LineResult, ModelRef, Outcome, Pack, Series, SessionType, TokenType,
};
use crate::pricing::{self, Cost};
use crate::state::claims::{self, Claims};

/// Tokens of one model call, partitioned as the contract's `token.type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Input not read from a cache.
    pub input: u64,
    /// Input read from a cache.
    pub cache_read: u64,
    /// Input written to a cache.
    pub cache_write: u64,
    /// Output, reasoning excluded.
    pub output: u64,
    /// Reasoning (thinking) output.
    pub reasoning: u64,
}

impl Usage {
    /// The sum of every type.
    pub fn total(&self) -> u64 {
        [self.input, self.cache_read, self.cache_write, self.output, self.reasoning]
            .iter()
            .fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// True when nothing was used.
    pub fn is_zero(&self) -> bool {
        self.total() == 0
    }

    /// Applies a declared total larger than the parts, as ccusage does:
    /// the rest is output when no output was given, else reasoning (the
    /// agents that declare a total leave thinking out of the parts).
    pub fn with_total(mut self, total: u64) -> Usage {
        let missing = total.saturating_sub(self.total());
        if missing > 0 {
            if self.output == 0 {
                self.output = missing;
            } else {
                self.reasoning = self.reasoning.saturating_add(missing);
            }
        }
        self
    }

    /// The types in order, with their counts.
    pub fn by_type(&self) -> [(TokenType, u64); 5] {
        [
            (TokenType::Input, self.input),
            (TokenType::CacheRead, self.cache_read),
            (TokenType::CacheWrite, self.cache_write),
            (TokenType::Output, self.output),
            (TokenType::Reasoning, self.reasoning),
        ]
    }

    /// The growth from `before` to `self`, type by type (counters never go
    /// down: a smaller value adds nothing).
    pub fn growth(&self, before: &[u64; 5]) -> Usage {
        let now = self.as_array();
        let [input, cache_read, cache_write, output, reasoning] =
            std::array::from_fn(|i| now[i].saturating_sub(before[i]));
        Usage { input, cache_read, cache_write, output, reasoning }
    }

    /// The types in order as an array (for states).
    pub fn as_array(&self) -> [u64; 5] {
        [self.input, self.cache_read, self.cache_write, self.output, self.reasoning]
    }
}

/// What a source (a file, a document, a database's cursor) keeps between
/// runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UsageState {
    /// The session start was counted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub started: bool,
    /// A document's leading complete records counted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub records: u64,
    /// The chained hash of those records' ids.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub chain: u64,
    /// Running totals counted (the agents that keep per-session totals),
    /// in [`Usage::as_array`]'s order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totals: Option<[u64; 5]>,
    /// The key of the session last started in this file (a file rewritten
    /// with another session starts that one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Where a parser reports what its records count.
pub struct Recorder<'a> {
    /// The pack counted under.
    pub pack: Pack,
    /// The source's session type.
    pub session_type: SessionType,
    /// The source's state.
    pub state: &'a mut UsageState,
    /// Counts of records without ids.
    pub counts: &'a mut Counts,
    /// Claims of records with ids.
    pub claims: &'a mut Claims,
    /// Set for a whole document: its records in order (see the module
    /// docs).
    doc: Option<DocOrder>,
    /// A document's name where it lives (`<parent dir>/<file name>`), for
    /// records that have no id of their own (keyed by position).
    pub scope: String,
}

/// A document's records in order.
#[derive(Default)]
struct DocOrder {
    /// Each complete record's id and counts, until the first one still
    /// being written.
    leading: Vec<(u64, Counts)>,
    /// A record still being written was met: later ones are not leading.
    broken: bool,
}

impl<'a> Recorder<'a> {
    /// A recorder for a line of a file, or a row of a database.
    pub fn new(
        pack: Pack,
        session_type: SessionType,
        state: &'a mut UsageState,
        counts: &'a mut Counts,
        claims: &'a mut Claims,
    ) -> Recorder<'a> {
        Recorder { pack, session_type, state, counts, claims, doc: None, scope: String::new() }
    }

    /// Dates the records reported from now on by a JSON value: an RFC 3339
    /// timestamp, or a Unix time in seconds, milliseconds or nanoseconds
    /// (left alone when it is neither).
    pub fn at(&mut self, when: Option<&serde_json::Value>) {
        match when {
            Some(serde_json::Value::String(s)) => match s.trim().parse::<u64>() {
                Ok(n) => self.counts.set_time(n),
                Err(_) => self.counts.set_timestamp(s),
            },
            // OpenTelemetry's `[seconds, nanoseconds]`.
            Some(serde_json::Value::Array(a)) => self.counts.set_time(uint(a.first())),
            Some(v) => self.counts.set_time(uint(Some(v))),
            None => {}
        }
    }

    /// The key of an id in this pack.
    pub fn key(&self, kind: u8, id: &str) -> u64 {
        claims::key(kind, &[self.pack.as_str(), id])
    }

    /// Counts the source's session start once (a file's or a document's
    /// first read; a database reports each session's own).
    pub fn session_start(&mut self) {
        if !self.state.started {
            self.state.started = true;
            self.counts
                .incr(Series::SessionStart { pack: self.pack, session_type: self.session_type });
        }
    }

    /// Counts the start of the session a record belongs to, once: when the
    /// file's (or document's) records name a session other than the last
    /// one started there, and only if no other file (a copy) counted it (by
    /// `id`).
    pub fn session(&mut self, id: &str) {
        let key = self.key(b'S', id);
        if self.state.session != Some(key) {
            self.state.session = Some(key);
            self.state.started = true;
            self.session_start_once(id, self.session_type);
        }
    }

    /// Counts a session start once by its id (databases and files of many
    /// sessions).
    pub fn session_start_once(&mut self, session: &str, session_type: SessionType) {
        let key = self.key(b'S', session);
        let mut c = self.counts.fresh();
        c.incr(Series::SessionStart { pack: self.pack, session_type });
        self.file(Some(key), c);
    }

    /// Counts a user prompt (once by its id, when it has one).
    pub fn prompt(&mut self, id: Option<&str>) {
        let key = id.map(|i| self.key(b'P', i));
        let mut c = self.counts.fresh();
        c.incr(Series::UserPrompt { pack: self.pack, session_type: self.session_type });
        self.file(key, c);
    }

    /// Counts a tool call by its raw name (classified on the pack's table;
    /// the raw name never leaves), once by its id.
    pub fn tool(&mut self, id: Option<&str>, raw_name: &str) {
        let key = id.map(|i| self.key(b'T', i));
        let (tool, class) = tools::classify(self.pack, raw_name);
        let mut c = self.counts.fresh();
        c.incr(Series::ToolCall { pack: self.pack, tool, class });
        self.file(key, c);
    }

    /// Counts an error, once by its id.
    pub fn error(&mut self, id: Option<&str>, error_type: ErrorType) {
        let key = id.map(|i| self.key(b'E', i));
        let mut c = self.counts.fresh();
        c.incr(Series::Error { pack: self.pack, error_type });
        self.file(key, c);
    }

    /// Counts one complete model turn and its tokens, once by its id.
    pub fn turn(&mut self, id: Option<&str>, model: ModelRef, usage: Usage, outcome: Outcome) {
        self.turn_costing(id, model, usage, outcome, Cost::CALL);
    }

    /// [`Recorder::turn`] with the cost the agent recorded, when it did.
    pub fn turn_costing(
        &mut self,
        id: Option<&str>,
        model: ModelRef,
        usage: Usage,
        outcome: Outcome,
        cost: Cost,
    ) {
        let key = id.map(|i| self.key(b'U', i));
        let mut c = self.counts.fresh();
        c.incr(Series::AgentTurn {
            pack: self.pack,
            outcome,
            family: model.family,
            session_type: self.session_type,
        });
        add_tokens(&mut c, self.pack, model, &usage, cost);
        self.file(key, c);
    }

    /// Counts how far a session's running totals grew since last counted
    /// (the agents that keep per-session totals): each type's growth
    /// beyond the most counted, under the current model. A lower total (an
    /// older copy restored) counts nothing and does not lower the base.
    /// Tokens alone: totals carry no turns.
    pub fn running_totals(&mut self, model: ModelRef, now: &Usage) {
        let before = self.state.totals.unwrap_or_default();
        let grew = now.growth(&before);
        let mut after = before;
        for (a, n) in after.iter_mut().zip(now.as_array()) {
            *a = (*a).max(n);
        }
        self.state.totals = Some(after);
        add_tokens(self.counts, self.pack, model, &grew, Cost::SUM);
    }

    /// Notes a record still being written: it counts once complete, and
    /// the records after it are read again until then.
    pub fn pending(&mut self) {
        if let Some(d) = &mut self.doc {
            d.broken = true;
        }
    }

    /// Files a record: a claim when it has an id, else counted.
    fn file(&mut self, key: Option<u64>, c: Counts) {
        match (key, &mut self.doc) {
            (Some(k), Some(d)) if !d.broken => d.leading.push((k, c)),
            (Some(k), _) => self.claims.record(k, c),
            (None, _) => self.counts.merge(c),
        }
    }
}

/// Adds a usage's token series under a model, and what they cost: the
/// cost the agent recorded, else the model's price from the table, else
/// the tokens are counted as unpriced (see [`crate::pricing`]).
pub fn add_tokens(c: &mut Counts, pack: Pack, model: ModelRef, usage: &Usage, cost: Cost) {
    for (token_type, n) in usage.by_type() {
        c.add(Series::TokenUsage { pack, token_type, model }, n);
    }
    let (cache_write_1h, per_call) = match cost {
        Cost::Recorded(usd) if usd > 0.0 => {
            c.add(Series::CostUsage { pack, model }, pricing::picos(usd));
            return;
        }
        Cost::Picos(n) => {
            c.add(Series::CostUsage { pack, model }, n);
            return;
        }
        Cost::Recorded(_) => (0, true),
        Cost::Table { cache_write_1h, per_call } => (cache_write_1h, per_call),
    };
    if usage.is_zero() {
        return;
    }
    match pricing::table().rates(model.price) {
        Some(r) => c.add(
            Series::CostUsage { pack, model },
            pricing::cost_picos(r, usage, cache_write_1h, per_call),
        ),
        None => c.add(Series::Unpriced { pack, model }, usage.total()),
    }
}

/// Counts one JSONL line of an agent of usage records.
pub type LineParser = fn(&[u8], &mut Recorder<'_>) -> LineResult;

/// The line parser of an agent that keeps no transcripts: a file named
/// as one of its places counts nothing.
pub fn ignore_line(_line: &[u8], _rec: &mut Recorder<'_>) -> LineResult {
    LineResult::Ignored
}

/// Counts one whole JSON document of an agent (`Err` with why it cannot
/// be read, e.g. caught half-written).
pub type DocParser = fn(&[u8], &mut Recorder<'_>) -> Result<(), String>;

/// The line deriver of [`crate::agents::Format::Usage`].
pub struct LineDeriver<'s> {
    /// The agent's parser.
    pub parse: LineParser,
    /// The pack.
    pub pack: Pack,
    /// The file's session type.
    pub session_type: SessionType,
    /// The file's state.
    pub state: &'s mut UsageState,
    /// Claims filed.
    pub claims: &'s mut Claims,
}

impl LineDeriver<'_> {
    /// Counts one complete line.
    pub fn line(&mut self, line: &[u8], counts: &mut Counts) -> LineResult {
        let mut rec = Recorder::new(self.pack, self.session_type, self.state, counts, self.claims);
        (self.parse)(line, &mut rec)
    }
}

/// Reads a whole document: its records after those its state says were
/// counted (the arguments are the document and where its results go). With `quiet` (the state was lost: what is there was delivered
/// before) nothing is counted, only the state kept.
#[allow(clippy::too_many_arguments)]
pub fn read_document(
    parse: DocParser,
    bytes: &[u8],
    scope: &str,
    pack: Pack,
    state: &mut UsageState,
    counts: &mut Counts,
    claims: &mut Claims,
    quiet: bool,
) -> Result<(), String> {
    let mut mine = counts.fresh();
    let mut my_claims = Claims::default();
    let mut st = state.clone();
    let leading = {
        let mut rec = Recorder::new(pack, SessionType::Main, &mut st, &mut mine, &mut my_claims);
        rec.doc = Some(DocOrder::default());
        rec.scope = scope.to_string();
        parse(bytes, &mut rec)?;
        rec.doc.take().map(|d| d.leading).unwrap_or_default()
    };
    // The leading records the state counted, if they are still the same.
    let n = usize::try_from(state.records).unwrap_or(usize::MAX);
    let mut chain = 0u64;
    let mut skip = 0;
    if n <= leading.len() && n > 0 {
        for (k, _) in &leading[..n] {
            chain = chain_with(chain, *k);
        }
        if chain == state.chain {
            skip = n;
        }
    }
    let mut chain = if skip > 0 { chain } else { 0 };
    for (k, c) in leading.iter().skip(skip) {
        chain = chain_with(chain, *k);
        my_claims.record(*k, c.clone());
    }
    st.records = leading.len() as u64;
    st.chain = chain;
    *state = st;
    if !quiet {
        counts.merge(mine);
        claims.append(my_claims);
    }
    Ok(())
}

/// The chain of record ids, one more.
fn chain_with(chain: u64, key: u64) -> u64 {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&chain.to_le_bytes());
    b[8..].copy_from_slice(&key.to_le_bytes());
    fnv64(&b)
}

/// A JSON value's non-negative integer (numbers or numeric strings; 0
/// otherwise).
pub fn uint(v: Option<&serde_json::Value>) -> u64 {
    match v {
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite() && *f > 0.0).map(|f| f as u64))
            .unwrap_or(0),
        Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

/// A JSON value's non-empty trimmed string.
pub fn text(v: Option<&serde_json::Value>) -> Option<&str> {
    v.and_then(serde_json::Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// True when a line holds one of `needles` (a cheap test before parsing:
/// lines that cannot count, the bulk of some agents' logs, are not
/// parsed).
pub fn mentions_any(line: &[u8], needles: &[&str]) -> bool {
    needles.iter().any(|n| memchr::memmem::find(line, n.as_bytes()).is_some())
}

/// A JSON object parsed from a line, or the line's result when it is not
/// one.
pub fn object(line: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, LineResult> {
    match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err(LineResult::Ignored),
        Err(_) => Err(LineResult::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Family;

    fn doc_parser(bytes: &[u8], rec: &mut Recorder<'_>) -> Result<(), String> {
        // "a,b,-c" : records a and b complete, c pending.
        let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
        let m = ModelRef::new(Family::Openai, "gpt-5");
        for id in text.split(',').filter(|s| !s.is_empty()) {
            match id.strip_prefix('-') {
                Some(_) => rec.pending(),
                None => {
                    rec.turn(Some(id), m, Usage { input: 1, ..Usage::default() }, Outcome::Success)
                }
            }
        }
        Ok(())
    }

    fn read(bytes: &str, st: &mut UsageState, seen: &mut claims::Seen) -> u64 {
        let (mut counts, mut cl) = (Counts::default(), Claims::default());
        read_document(
            doc_parser,
            bytes.as_bytes(),
            "t/a.json",
            Pack::Amp,
            st,
            &mut counts,
            &mut cl,
            false,
        )
        .unwrap();
        claims::resolve(&cl, seen, &mut counts, 1);
        counts.iter().filter(|(s, _)| matches!(s, Series::AgentTurn { .. })).map(|(_, n)| n).sum()
    }

    #[test]
    fn a_rewritten_document_counts_each_record_once_when_complete() {
        let (mut st, mut seen) = (UsageState::default(), claims::Seen::default());
        assert_eq!(read("a,b,-c", &mut st, &mut seen), 2);
        assert_eq!(st.records, 2);
        // Rewritten: c completed, d pending.
        assert_eq!(read("a,b,c,-d", &mut st, &mut seen), 1);
        // Rewritten again, nothing new; then d completes.
        assert_eq!(read("a,b,c,-d", &mut st, &mut seen), 0);
        assert_eq!(read("a,b,c,d,e", &mut st, &mut seen), 2);
        // The leading records skip the table: with it forgotten, a rewrite
        // that only appends still counts the new record alone.
        let mut forgotten = claims::Seen::default();
        assert_eq!(read("a,b,c,d,e,f", &mut st, &mut forgotten), 1);
        // A document whose head changed falls back on the table.
        assert_eq!(read("x,b,c,d,e,f", &mut st, &mut seen), 2);
    }

    #[test]
    fn a_declared_total_fills_output_then_reasoning() {
        let u = Usage { input: 10, ..Usage::default() }.with_total(15);
        assert_eq!((u.output, u.reasoning), (5, 0));
        let u = Usage { input: 10, output: 3, ..Usage::default() }.with_total(15);
        assert_eq!((u.output, u.reasoning), (3, 2));
        assert_eq!(Usage { input: 10, ..Usage::default() }.with_total(4).total(), 10);
    }
}
