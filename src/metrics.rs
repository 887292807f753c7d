//! The wire contract's vocabulary: metric names, closed enumerations and
//! the series keys that counts are aggregated under.
//!
//! Everything that can end up in a payload is defined here, as a Rust enum
//! or a `&'static str` drawn from a table in `classify`. Nothing in this
//! module can hold a string read from a session file, which is how the
//! privacy rules of `docs/metrics.md` are enforced by construction: a
//! [`Series`] can only be built from these types.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Declares a closed enumeration whose variants render as fixed strings.
macro_rules! closed_enum {
    ($(#[$m:meta])* $name:ident { $($var:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($var),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The value as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }
        }
    };
}

closed_enum!(
    /// Which agent a count came from (`pack`); `Telemetron` is for the
    /// heartbeat only.
    Pack {
        Openclaw => "openclaw",
        Roundhouse => "roundhouse",
        Pi => "pi",
        ClaudeCode => "claude_code",
        Codex => "codex",
        GeminiCli => "gemini_cli",
        Hermes => "hermes",
        Opencode => "opencode",
        CopilotCli => "copilot_cli",
        QwenCode => "qwen_code",
        Goose => "goose",
        Amp => "amp",
        Droid => "droid",
        Kimi => "kimi",
        Kilo => "kilo",
        Codebuff => "codebuff",
        Antigravity => "antigravity",
        GrokBuild => "grok_build",
        Zcode => "zcode",
        Telemetron => "telemetron",
    }
);

closed_enum!(
    /// `session.type`: how a session was started, from paths and metadata.
    SessionType {
        Main => "main",
        Subagent => "subagent",
        Cron => "cron",
        Heartbeat => "heartbeat",
        Ephemeral => "ephemeral",
        Unknown => "unknown",
    }
);

closed_enum!(
    /// `outcome` of a model response.
    Outcome {
        Success => "success",
        Error => "error",
        Aborted => "aborted",
        Timeout => "timeout",
        Unknown => "unknown",
    }
);

closed_enum!(
    /// `model.family`: who made the model.
    Family {
        Anthropic => "anthropic",
        Openai => "openai",
        Google => "google",
        Xai => "xai",
        Meta => "meta",
        Mistral => "mistral",
        Deepseek => "deepseek",
        Qwen => "qwen",
        Moonshot => "moonshot",
        Zhipu => "zhipu",
        Amazon => "amazon",
        Other => "other",
        Unknown => "unknown",
    }
);

closed_enum!(
    /// `tool.class`: what kind of thing a tool does.
    ToolClass {
        Shell => "shell",
        File => "file",
        Search => "search",
        Http => "http",
        Browser => "browser",
        Agent => "agent",
        Memory => "memory",
        Message => "message",
        Planning => "planning",
        Media => "media",
        System => "system",
        Mcp => "mcp",
        Other => "other",
    }
);

closed_enum!(
    /// `error.type`: why something failed.
    ErrorType {
        Transient => "transient",
        Quota => "quota",
        Auth => "auth",
        Config => "config",
        Prompt => "prompt",
        Permanent => "permanent",
        Tool => "tool",
        Aborted => "aborted",
        Unknown => "unknown",
    }
);

closed_enum!(
    /// `token.type`: the five types partition the tokens processed.
    TokenType {
        Input => "input",
        CacheRead => "cache_read",
        CacheWrite => "cache_write",
        Output => "output",
        Reasoning => "reasoning",
    }
);

closed_enum!(
    /// `result` of reading one complete line.
    LineResult {
        Parsed => "parsed",
        Ignored => "ignored",
        Malformed => "malformed",
        Oversized => "oversized",
    }
);

/// A model as far as the payload is concerned: its family and a name from
/// the bounded list in `classify::models` (or `other`/`unknown`).
///
/// It also carries the entry of the price table the raw model name matched
/// ([`crate::pricing`]), so that tokens can be priced where they are
/// counted. The price is not part of the model's identity (equality,
/// order, hash): two raw names that classify alike are one series however
/// each is priced.
#[derive(Clone, Copy, Debug)]
pub struct ModelRef {
    /// Who made it.
    pub family: Family,
    /// A name from the documented list, `"other"` or `"unknown"`.
    pub name: &'static str,
    /// Its price (or none).
    pub price: crate::pricing::PriceId,
}

impl ModelRef {
    /// Nothing is known about the model.
    pub const UNKNOWN: ModelRef = ModelRef::new(Family::Unknown, "unknown");

    /// A model with no price.
    pub const fn new(family: Family, name: &'static str) -> ModelRef {
        ModelRef { family, name, price: crate::pricing::PriceId::NONE }
    }

    /// The same model priced as `price`.
    pub fn priced(self, price: crate::pricing::PriceId) -> ModelRef {
        ModelRef { price, ..self }
    }
}

impl PartialEq for ModelRef {
    fn eq(&self, other: &ModelRef) -> bool {
        (self.family, self.name) == (other.family, other.name)
    }
}

impl Eq for ModelRef {}

impl PartialOrd for ModelRef {
    fn partial_cmp(&self, other: &ModelRef) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ModelRef {
    fn cmp(&self, other: &ModelRef) -> std::cmp::Ordering {
        (self.family, self.name).cmp(&(other.family, other.name))
    }
}

impl std::hash::Hash for ModelRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.family, self.name).hash(state);
    }
}

/// One counter series: a metric with all of its attributes. Every field is
/// a closed value, so a `Series` can never carry text from a session file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Series {
    /// `pack.session.start`
    SessionStart { pack: Pack, session_type: SessionType },
    /// `pack.user.prompt`
    UserPrompt { pack: Pack, session_type: SessionType },
    /// `pack.agent.turn`
    AgentTurn { pack: Pack, outcome: Outcome, family: Family, session_type: SessionType },
    /// `pack.tool.call`; `tool` comes from a per-pack table.
    ToolCall { pack: Pack, tool: &'static str, class: ToolClass },
    /// `pack.error`
    Error { pack: Pack, error_type: ErrorType },
    /// `pack.token.usage`
    TokenUsage { pack: Pack, token_type: TokenType, model: ModelRef },
    /// `pack.cost.usage`, in pico-dollars (sent as a double in USD).
    CostUsage { pack: Pack, model: ModelRef },
    /// Tokens that no price covered. Kept for the local history (a report
    /// says such a model is unpriced); never sent ([`Series::is_sent`]).
    Unpriced { pack: Pack, model: ModelRef },
    /// `pack.emitter.heartbeat` (`pack` is always `telemetron`).
    Heartbeat,
    /// `pack.emitter.lines`
    Lines { pack: Pack, result: LineResult },
}

/// Static description of one metric of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricInfo {
    /// Metric name on the wire.
    pub name: &'static str,
    /// UCUM-style unit.
    pub unit: &'static str,
    /// One-line description sent with the metric.
    pub description: &'static str,
}

/// The nine metrics of the contract, in payload order.
pub const METRICS: [MetricInfo; 9] = [
    MetricInfo {
        name: "pack.session.start",
        unit: "{session}",
        description: "Sessions seen for the first time",
    },
    MetricInfo {
        name: "pack.user.prompt",
        unit: "{prompt}",
        description: "Prompts typed by the person",
    },
    MetricInfo {
        name: "pack.agent.turn",
        unit: "{turn}",
        description: "Model responses (one per LLM call)",
    },
    MetricInfo {
        name: "pack.tool.call",
        unit: "{call}",
        description: "Tool invocations requested by the model",
    },
    MetricInfo {
        name: "pack.error",
        unit: "{error}",
        description: "Failed model calls, failed tool results and error events",
    },
    MetricInfo {
        name: "pack.token.usage",
        unit: "{token}",
        description: "Tokens processed, by type",
    },
    MetricInfo {
        name: "pack.cost.usage",
        unit: "USD",
        description: "Cost of the tokens processed, recorded by the agent or priced offline",
    },
    MetricInfo {
        name: "pack.emitter.heartbeat",
        unit: "{run}",
        description: "Scan runs that reached the export step",
    },
    MetricInfo {
        name: "pack.emitter.lines",
        unit: "{line}",
        description: "Complete session-file lines read, by result",
    },
];

/// The history's own series of tokens no price covered: not a metric of
/// the contract, never sent.
const UNPRICED: MetricInfo = MetricInfo {
    name: "telemetron.unpriced",
    unit: "{token}",
    description: "Tokens no price covered (local history only)",
};

/// Pico-dollars in a dollar: `pack.cost.usage` is kept as integer
/// pico-dollars and sent as a double in USD. Every price of the list is a
/// whole number of pico-dollars per token, so a cost is exact and the same
/// however its tokens are split across files, runs and increments.
pub const PICOS_PER_USD: f64 = 1e12;

/// Looks up a metric of the contract by name.
pub fn metric_info(name: &str) -> Option<&'static MetricInfo> {
    METRICS.iter().find(|m| m.name == name)
}

impl Series {
    /// The metric this series belongs to.
    pub fn metric(&self) -> &'static MetricInfo {
        let i = match self {
            Series::SessionStart { .. } => 0,
            Series::UserPrompt { .. } => 1,
            Series::AgentTurn { .. } => 2,
            Series::ToolCall { .. } => 3,
            Series::Error { .. } => 4,
            Series::TokenUsage { .. } => 5,
            Series::CostUsage { .. } => 6,
            Series::Heartbeat => 7,
            Series::Lines { .. } => 8,
            Series::Unpriced { .. } => return &UNPRICED,
        };
        &METRICS[i]
    }

    /// True for the series of the contract (everything but
    /// [`Series::Unpriced`]).
    pub fn is_sent(&self) -> bool {
        !matches!(self, Series::Unpriced { .. })
    }

    /// True for the series the local history keeps by hour (everything a
    /// record counts; not the scanner's own heartbeat and line counts).
    pub fn is_dated(&self) -> bool {
        !matches!(self, Series::Heartbeat | Series::Lines { .. })
    }

    /// The attributes, `pack` first and the rest sorted by key.
    pub fn attributes(&self) -> Vec<(&'static str, &'static str)> {
        let mut v = match *self {
            Series::SessionStart { pack, session_type }
            | Series::UserPrompt { pack, session_type } => {
                vec![("pack", pack.as_str()), ("session.type", session_type.as_str())]
            }
            Series::AgentTurn { pack, outcome, family, session_type } => vec![
                ("pack", pack.as_str()),
                ("model.family", family.as_str()),
                ("outcome", outcome.as_str()),
                ("session.type", session_type.as_str()),
            ],
            Series::ToolCall { pack, tool, class } => {
                vec![("pack", pack.as_str()), ("tool.class", class.as_str()), ("tool.name", tool)]
            }
            Series::Error { pack, error_type } => {
                vec![("pack", pack.as_str()), ("error.type", error_type.as_str())]
            }
            Series::TokenUsage { pack, token_type, model } => vec![
                ("pack", pack.as_str()),
                ("model", model.name),
                ("model.family", model.family.as_str()),
                ("token.type", token_type.as_str()),
            ],
            Series::CostUsage { pack, model } | Series::Unpriced { pack, model } => vec![
                ("pack", pack.as_str()),
                ("model", model.name),
                ("model.family", model.family.as_str()),
            ],
            Series::Heartbeat => vec![("pack", Pack::Telemetron.as_str())],
            Series::Lines { pack, result } => {
                vec![("pack", pack.as_str()), ("result", result.as_str())]
            }
        };
        v[1..].sort();
        v
    }

    /// The stable textual key under which this series is kept in the
    /// state file: `name{k=v,k=v}` with `pack` first.
    pub fn key(&self) -> SeriesKey {
        let mut s = String::with_capacity(64);
        s.push_str(self.metric().name);
        s.push('{');
        for (i, (k, v)) in self.attributes().iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{k}={v}");
        }
        s.push('}');
        SeriesKey(s)
    }
}

/// A series in its stable textual form (see [`Series::key`]); this is what
/// the state file stores and what the exporter turns into a data point.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct SeriesKey(pub String);

impl SeriesKey {
    /// Splits the key into the metric name and its attributes. Returns
    /// `None` for a key that is not of the `name{k=v,...}` form or names a
    /// metric outside the contract (a hand-edited or future state file).
    pub fn parse(&self) -> Option<(&str, Vec<(&str, &str)>)> {
        let (name, rest) = self.0.split_once('{')?;
        let body = rest.strip_suffix('}')?;
        metric_info(name)?;
        let mut attrs = Vec::new();
        for kv in body.split(',').filter(|s| !s.is_empty()) {
            attrs.push(kv.split_once('=')?);
        }
        Some((name, attrs))
    }
}

/// An hour of UTC time: hours since the Unix epoch. `0` stands for "not
/// known" (no record is from the first hour of 1970).
pub type Hour = u32;

/// The hour of a Unix time in nanoseconds.
pub fn hour_of_nanos(unix_nano: u64) -> Hour {
    u32::try_from(unix_nano / 3_600_000_000_000).unwrap_or(u32::MAX)
}

/// Counts per series, as produced by scanning one file or a whole run.
///
/// Every count a record makes is also filed under the hour the record is
/// from (the counts' [`Counts::set_hour`], which parsers move as they meet
/// records' timestamps): that is what the local history is made of. The
/// scanner's own series (heartbeat, lines) are not dated.
///
/// Merging is plain addition, so it is associative and commutative and the
/// parallel scan can combine per-file counts in any order.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    map: BTreeMap<(Series, Hour), u64>,
    /// How many non-zero additions were made (lets a caller tell whether a
    /// step counted anything; not part of equality).
    additions: u64,
    /// The hour of the record being counted.
    hour: Hour,
}

impl PartialEq for Counts {
    fn eq(&self, other: &Counts) -> bool {
        self.map == other.map
    }
}

impl Eq for Counts {}

impl Counts {
    /// Empty counts whose records are from `hour`.
    pub fn at(hour: Hour) -> Counts {
        Counts { hour, ..Counts::default() }
    }

    /// Empty counts dated like these (for one record's counts).
    pub fn fresh(&self) -> Counts {
        Counts::at(self.hour)
    }

    /// Dates what is counted from now on: the records are from `hour`
    /// (ignored when `0`, unknown).
    pub fn set_hour(&mut self, hour: Hour) {
        if hour != 0 {
            self.hour = hour;
        }
    }

    /// Dates what is counted from now on by a Unix time in seconds,
    /// milliseconds or nanoseconds (told apart by size).
    pub fn set_time(&mut self, unix: u64) {
        self.set_hour(crate::time::hour_of_unix(unix));
    }

    /// Dates what is counted from now on by a timestamp (RFC 3339, or a
    /// date and time read as UTC; left alone when it does not parse).
    pub fn set_timestamp(&mut self, stamp: &str) {
        if let Some(h) = crate::time::hour_of_stamp(stamp) {
            self.hour = h;
        }
    }

    /// The hour records are counted under now.
    pub fn hour(&self) -> Hour {
        self.hour
    }

    /// Counts what `f` counts under `hour` (`0`, unknown, included), as
    /// [`Counts::at`] then [`Counts::merge`] would, without a map of its
    /// own; the hour is put back after.
    pub fn under_hour<R>(&mut self, hour: Hour, f: impl FnOnce(&mut Counts) -> R) -> R {
        let before = std::mem::replace(&mut self.hour, hour);
        let r = f(self);
        self.hour = before;
        r
    }

    /// Adds `n` to `series` (saturating, so hostile token counts cannot
    /// wrap around), under the current hour.
    pub fn add(&mut self, series: Series, n: u64) {
        self.add_at(series, self.hour, n);
    }

    /// Adds `n` to `series` under `hour`.
    pub fn add_at(&mut self, series: Series, hour: Hour, n: u64) {
        if n == 0 {
            return;
        }
        self.additions += 1;
        let hour = if series.is_dated() { hour } else { 0 };
        let e = self.map.entry((series, hour)).or_insert(0);
        *e = e.saturating_add(n);
    }

    /// Adds one to `series`.
    pub fn incr(&mut self, series: Series) {
        self.add(series, 1);
    }

    /// Adds every count of `other` into `self`, each under its own hour.
    pub fn merge(&mut self, other: Counts) {
        self.merge_ref(&other);
    }

    /// [`Counts::merge`] from a borrowed `other`.
    pub fn merge_ref(&mut self, other: &Counts) {
        for (&(s, h), &n) in &other.map {
            self.add_at(s, h, n);
        }
    }

    /// Takes back counts merged before (a file read again this run
    /// replaces what its first read counted).
    pub fn subtract(&mut self, other: &Counts) {
        for (k, &n) in &other.map {
            if let Some(v) = self.map.get_mut(k) {
                *v = v.saturating_sub(n);
                if *v == 0 {
                    self.map.remove(k);
                }
            }
        }
    }

    /// The count of one series over every hour (0 when absent).
    pub fn get(&self, series: &Series) -> u64 {
        self.map
            .range((*series, 0)..=(*series, Hour::MAX))
            .fold(0u64, |a, (_, n)| a.saturating_add(*n))
    }

    /// How many non-zero additions have been made so far.
    pub fn additions(&self) -> u64 {
        self.additions
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The non-zero series with their counts over every hour, in order.
    pub fn iter(&self) -> impl Iterator<Item = (Series, u64)> + '_ {
        let mut it = self.map.iter().peekable();
        std::iter::from_fn(move || {
            let (&(s, _), &n) = it.next()?;
            let mut total = n;
            while let Some((_, &m)) = it.next_if(|((t, _), _)| *t == s) {
                total = total.saturating_add(m);
            }
            Some((s, total))
        })
    }

    /// Every count with the hour it is filed under.
    pub fn dated(&self) -> impl Iterator<Item = (Series, Hour, u64)> + '_ {
        self.map.iter().map(|(&(s, h), &n)| (s, h, n))
    }

    /// The counts of the contract's series keyed by their stable textual
    /// key (what is sent and kept as totals).
    pub fn keyed(&self) -> BTreeMap<SeriesKey, u64> {
        self.iter().filter(|(s, _)| s.is_sent()).map(|(s, n)| (s.key(), n)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_key_has_pack_first_and_sorted_attributes() {
        let s = Series::TokenUsage {
            pack: Pack::Pi,
            token_type: TokenType::CacheRead,
            model: ModelRef::new(Family::Anthropic, "claude-sonnet-4-5"),
        };
        assert_eq!(
            s.key().0,
            "pack.token.usage{pack=pi,model=claude-sonnet-4-5,model.family=anthropic,token.type=cache_read}"
        );
    }

    #[test]
    fn series_key_parses_back() {
        let key = Series::Lines { pack: Pack::Openclaw, result: LineResult::Malformed }.key();
        let (name, attrs) = key.parse().unwrap();
        assert_eq!(name, "pack.emitter.lines");
        assert_eq!(attrs, vec![("pack", "openclaw"), ("result", "malformed")]);
    }

    #[test]
    fn unknown_metric_keys_do_not_parse() {
        assert!(SeriesKey("secret.metric{pack=pi}".into()).parse().is_none());
        assert!(SeriesKey("pack.error".into()).parse().is_none());
        assert!(SeriesKey("pack.error{pack}".into()).parse().is_none());
    }

    #[test]
    fn heartbeat_is_pack_telemetron() {
        assert_eq!(Series::Heartbeat.key().0, "pack.emitter.heartbeat{pack=telemetron}");
    }

    #[test]
    fn counting_under_an_hour_is_counting_apart_then_merging() {
        let turn = Series::Heartbeat;
        let prompt = Series::UserPrompt { pack: Pack::Pi, session_type: SessionType::Main };
        for hour in [0, 7, 500_000] {
            let mut apart = Counts::at(3);
            apart.incr(prompt);
            let mut c = Counts::at(hour);
            c.add(prompt, 2);
            c.incr(turn);
            apart.merge(c);
            let mut under = Counts::at(3);
            under.incr(prompt);
            let n = under.under_hour(hour, |c| {
                assert_eq!(c.hour(), hour);
                c.add(prompt, 2);
                c.incr(turn);
                c.additions()
            });
            assert_eq!(n, 3);
            assert_eq!(under.hour(), 3);
            assert_eq!(under.dated().collect::<Vec<_>>(), apart.dated().collect::<Vec<_>>());
        }
    }

    #[test]
    fn merge_is_associative() {
        let a = Series::Heartbeat;
        let b = Series::Error { pack: Pack::Pi, error_type: ErrorType::Tool };
        let mk = |x: u64, y: u64| {
            let mut c = Counts::default();
            c.add(a, x);
            c.add(b, y);
            c
        };
        let (x, y, z) = (mk(1, 2), mk(3, 0), mk(0, 5));
        let mut left = x.clone();
        let mut yz = y.clone();
        yz.merge(z.clone());
        left.merge(yz);
        let mut right = x;
        right.merge(y);
        right.merge(z);
        assert_eq!(left, right);
        assert_eq!(left.get(&a), 4);
        assert_eq!(left.get(&b), 7);
    }

    #[test]
    fn adding_saturates() {
        let mut c = Counts::default();
        c.add(Series::Heartbeat, u64::MAX);
        c.add(Series::Heartbeat, 5);
        assert_eq!(c.get(&Series::Heartbeat), u64::MAX);
    }
}
