//! The pi session format, written by pi, OpenClaw and roundhouse.
//!
//! A pi transcript is one JSON object per line: a `session` header, then
//! entries (`message`, `model_change`, `custom`, …) that each carry an 8-hex
//! `id` and an ISO `timestamp`. This module turns one complete line into
//! counts ([`Deriver::line`]); it does no I/O and keeps only the small
//! per-file context that must survive between runs ([`PiState`]).
//!
//! Two byte-level shortcuts keep the hot path cheap: lines whose record type
//! can never count are rejected by prefix, and tool results without an
//! error (the bulk of the bytes) are rejected by a fixed marker, both
//! before any JSON parsing. Records that are parsed borrow their few
//! string fields from the line; text fields are skipped, never copied.

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use serde::de::Deserializer;
use serde::Deserialize;

use crate::agents::json::{is_object, skimmed, Blocks, Reads, StrOrSkip, Tokens};
use crate::agents::mark::line_key;

use crate::classify::{errors, models, tools};
use crate::hash::fnv64;
use crate::metrics::{Counts, ErrorType, LineResult, ModelRef, Outcome, Pack, Series, SessionType};

/// Per-file context that outlives a run: what later lines need to know
/// about earlier ones, and what lets a rewritten or forked file be read
/// again without counting its copied entries twice.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PiState {
    /// Hash of the session header's `id`, once the header was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u64>,
    /// Model from the session header (`provider`/`modelId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_model: Option<StoredModel>,
    /// Model from the last `model_change` or `model-snapshot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_model: Option<StoredModel>,
    /// For a forked file, until its copies end: the fork's header
    /// timestamp. The entries right after the header are verbatim copies
    /// of the parent session's; while this is set, an entry found in the
    /// parent file is a copy (without the parent file: one stamped before
    /// this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fork_cutoff: Option<String>,
    /// The parent session file a fork's header names (`parentSession`),
    /// kept while its copies may go on (a path on this machine; never
    /// sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fork_parent: Option<String>,
    /// The newest entry timestamp counted in this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_ts: Option<String>,
    /// Hashes of the entry ids counted at exactly `high_ts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub high_ids: Vec<u64>,
    /// True while re-reading a file rewritten in place: entries at or
    /// before the high-water mark are copies that were counted already.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replay: bool,
}

/// How far the entries of a session have been counted, whichever file they
/// were read from (borrowed from the file states it was collected from).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionMark<'a> {
    /// The newest entry timestamp counted.
    pub high_ts: Option<&'a str>,
    /// Hashes of the entry ids counted at exactly `high_ts`, by any of the
    /// states (borrowed from one; owned when several reached the same
    /// timestamp with different entries).
    pub high_ids: std::borrow::Cow<'a, [u64]>,
}

/// How far a session was counted by a file state that is not loaded (see
/// `Skipped` in the state's positions), as decoded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoredMark {
    /// The session's hash.
    pub session: u64,
    /// The newest entry timestamp counted.
    pub high_ts: Option<Box<str>>,
    /// Hashes of the entry ids counted at exactly `high_ts`.
    pub high_ids: Box<[u64]>,
}

/// Many [`StoredMark`]s, kept as rows of a fixed size and the timestamps and
/// ids they point into (a run may hold hundreds of thousands: not two
/// allocations each).
#[derive(Clone, Debug, Default)]
pub struct StoredMarks {
    rows: Vec<MarkRow>,
    ts: String,
    ids: Vec<u64>,
}

/// One mark of [`StoredMarks`].
#[derive(Clone, Copy, Debug, PartialEq)]
struct MarkRow {
    session: u64,
    /// Where its timestamp lies in `ts` (`NO_TS` long: it has none).
    ts_at: u32,
    ts_len: u32,
    /// Where its ids lie in `ids`.
    ids_at: u32,
    ids_len: u32,
}

/// The `ts_len` of a mark without a timestamp.
const NO_TS: u32 = u32::MAX;

/// A mark of [`StoredMarks`], borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MarkRef<'a> {
    /// The session's hash.
    pub session: u64,
    /// The newest entry timestamp counted.
    pub high_ts: Option<&'a str>,
    /// Hashes of the entry ids counted at exactly `high_ts`.
    pub high_ids: &'a [u64],
}

impl StoredMarks {
    /// Adds a mark at the end.
    pub fn push(&mut self, m: &StoredMark) {
        self.push_ref(MarkRef {
            session: m.session,
            high_ts: m.high_ts.as_deref(),
            high_ids: &m.high_ids,
        });
    }

    /// Adds a copy of each of `other`'s marks at the end.
    pub fn extend_from(&mut self, other: &StoredMarks) {
        self.rows.reserve(other.rows.len());
        for m in other.iter() {
            self.push_ref(m);
        }
    }

    /// Adds a mark at the end.
    fn push_ref(&mut self, m: MarkRef) {
        // Offsets and lengths under 4 GiB (`NO_TS` is no length).
        let small =
            |n: usize| u32::try_from(n).ok().filter(|n| *n != NO_TS).expect("marks under 4 GiB");
        let (ts_at, ts_len) = match m.high_ts {
            Some(t) => (small(self.ts.len()), small(t.len())),
            None => (0, NO_TS),
        };
        self.ts.push_str(m.high_ts.unwrap_or(""));
        let (ids_at, ids_len) = (small(self.ids.len()), small(m.high_ids.len()));
        self.ids.extend_from_slice(m.high_ids);
        self.rows.push(MarkRow { session: m.session, ts_at, ts_len, ids_at, ids_len });
    }

    /// How many marks.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Mark number `i`.
    pub fn get(&self, i: usize) -> MarkRef<'_> {
        self.view(&self.rows[i])
    }

    /// The mark a row points to.
    fn view(&self, r: &MarkRow) -> MarkRef<'_> {
        let high_ts = (r.ts_len != NO_TS)
            .then(|| &self.ts[r.ts_at as usize..r.ts_at as usize + r.ts_len as usize]);
        let high_ids = &self.ids[r.ids_at as usize..][..r.ids_len as usize];
        MarkRef { session: r.session, high_ts, high_ids }
    }

    /// The marks, in order.
    pub fn iter(&self) -> impl Iterator<Item = MarkRef<'_>> {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Sorts the marks by session, then by the mark itself (so that raising
    /// a session's marks in order gives the same whatever order they were
    /// found in). In place.
    pub fn sort(&mut self) {
        // `MarkRef`'s order: session, timestamp, ids.
        let mut rows = std::mem::take(&mut self.rows);
        rows.sort_unstable_by(|a, b| self.view(a).cmp(&self.view(b)));
        self.rows = rows;
    }

    /// The sessions they are of, sorted, each once.
    pub fn sessions(&self) -> Vec<u64> {
        let mut out: Vec<u64> = self.rows.iter().map(|r| r.session).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// True when sorted as [`StoredMarks::sort`] leaves them.
    #[cfg(test)]
    fn is_sorted(&self) -> bool {
        (1..self.len()).all(|i| self.get(i - 1) <= self.get(i))
    }

    /// The marks of session `h`.
    fn of_session(&self, h: u64) -> impl Iterator<Item = MarkRef<'_>> {
        let from = self.rows.partition_point(|r| r.session < h);
        (from..self.len()).map(|i| self.get(i)).take_while(move |m| m.session == h)
    }
}

/// The same marks in the same order (however they are laid out).
impl PartialEq for StoredMarks {
    fn eq(&self, other: &StoredMarks) -> bool {
        self.iter().eq(other.iter())
    }
}

impl FromIterator<StoredMark> for StoredMarks {
    fn from_iter<I: IntoIterator<Item = StoredMark>>(marks: I) -> StoredMarks {
        let mut out = StoredMarks::default();
        for m in marks {
            out.push(&m);
        }
        out
    }
}

/// The marks of the states left out at load: which sessions they are of,
/// and the marks themselves, read only when a session among those is
/// asked for (most runs read no file of a session another file holds).
pub trait LeftMarks: Sync + std::fmt::Debug {
    /// The sessions of the marks, sorted, each once.
    fn sessions(&self) -> &[u64];
    /// The marks, sorted ([`StoredMarks::sort`]); `None` when they could
    /// not be read (the run must then not go on: see
    /// `Skipped::reread_failed` in `state/positions.rs`).
    fn marks(&self) -> Option<&StoredMarks>;
}

/// The sessions the state knows, by hash of their header id: the marks of
/// the states loaded (and those a run raises) in a map, and the marks of
/// the states left out at load as they were loaded, sorted by session (a
/// run may know hundreds of thousands: they are not copied into the map).
#[derive(Clone, Debug, Default)]
pub struct KnownSessions<'a> {
    map: crate::hash::FastMap<u64, SessionMark<'a>>,
    left: Option<&'a dyn LeftMarks>,
}

impl<'a> KnownSessions<'a> {
    /// Adds the marks of the states left out (it replaces any given
    /// before).
    pub fn with_left_out(mut self, left: &'a dyn LeftMarks) -> KnownSessions<'a> {
        self.left = Some(left);
        self
    }

    /// How far session `h` was counted, by any state.
    pub fn get(&self, h: &u64) -> Option<SessionMark<'a>> {
        if *h == 0 {
            return None;
        }
        let mut mark = self.map.get(h).cloned();
        let left = self.left.filter(|l| l.sessions().binary_search(h).is_ok());
        for m in left.and_then(|l| l.marks()).into_iter().flat_map(|l| l.of_session(*h)) {
            raise(mark.get_or_insert_default(), m.high_ts, m.high_ids);
        }
        mark
    }
}

/// Collects the high-water mark of every session that some file state
/// (live or recently vanished) has counted.
pub fn known_sessions<'a>(states: impl Iterator<Item = &'a PiState>) -> KnownSessions<'a> {
    let mut out = KnownSessions::default();
    for st in states {
        raise_mark(&mut out, st);
    }
    out
}

/// Raises the mark of `st`'s session to `st`'s high-water mark if that is
/// further; at the same timestamp, the entries counted there by either
/// count as counted.
pub fn raise_mark<'a>(marks: &mut KnownSessions<'a>, st: &'a PiState) {
    let Some(h) = st.session else { return };
    raise_parts(marks, h, st.high_ts.as_deref(), &st.high_ids);
}

/// [`raise_mark`] from the parts of a state: its session's hash, its
/// newest timestamp and the ids counted at it.
pub fn raise_parts<'a>(
    marks: &mut KnownSessions<'a>,
    session: u64,
    high_ts: Option<&'a str>,
    high_ids: &'a [u64],
) {
    if session == 0 {
        return;
    }
    raise(marks.map.entry(session).or_default(), high_ts, high_ids);
}

/// Raises `mark` to (`high_ts`, `high_ids`) if that is further; at the same
/// timestamp, the entries counted there by either count as counted.
fn raise<'a>(mark: &mut SessionMark<'a>, high_ts: Option<&'a str>, high_ids: &'a [u64]) {
    if high_ts > mark.high_ts {
        mark.high_ts = high_ts;
        mark.high_ids = std::borrow::Cow::Borrowed(high_ids);
    } else if high_ts.is_some() && high_ts == mark.high_ts {
        let more: Vec<u64> =
            high_ids.iter().filter(|i| !mark.high_ids.contains(i)).copied().collect();
        if !more.is_empty() {
            mark.high_ids.to_mut().extend(more);
        }
    }
}

/// Before reading on from where a session's own state stopped: when
/// another source counted further in the session (the same session written
/// to a second place, then copied in again), the entries up to that mark
/// are copies; replay up to it.
pub fn catch_up(st: &mut PiState, known: &KnownSessions) {
    let Some(mark) = st.session.and_then(|h| known.get(&h)) else { return };
    let further = mark.high_ts > st.high_ts.as_deref()
        || (mark.high_ts.is_some()
            && mark.high_ts == st.high_ts.as_deref()
            && mark.high_ids.iter().any(|i| !st.high_ids.contains(i)));
    if further {
        st.high_ts = mark.high_ts.map(str::to_owned);
        st.high_ids = mark.high_ids.to_vec();
        st.replay = true;
    }
}

/// How many ids sharing one millisecond we remember; more is harmless (the
/// extra entries would only be re-counted after a rewrite).
const MAX_HIGH_IDS: usize = 64;

/// The keys of a parent session file's entries (see [`entry_key`]): a
/// fork's copies are the entries found there.
pub type ParentEntries = std::collections::HashSet<u64>;

/// Finds the entries of the parent session file a fork names (I/O stays
/// with the caller: the scanner reads only files it discovered).
pub type ParentLookup<'s> = &'s (dyn Fn(&str) -> Option<std::sync::Arc<ParentEntries>> + Sync);

/// What a deriver knows of a fork's parent.
#[derive(Default)]
pub struct Fork<'s> {
    /// How to find a parent's entries (none: copies are recognised by
    /// their timestamps alone).
    pub lookup: Option<ParentLookup<'s>>,
    /// The parent's entries, once looked up.
    loaded: Option<Option<std::sync::Arc<ParentEntries>>>,
}

impl<'s> Fork<'s> {
    /// Parents are found through `lookup`.
    pub fn with(lookup: ParentLookup<'s>) -> Fork<'s> {
        Fork { lookup: Some(lookup), loaded: None }
    }
}

/// The key of an entry, as a fork's copy of it has it too: its id and
/// timestamp, or for an entry without an id (pi's original layout) its
/// bytes.
pub fn entry_key(id: Option<&str>, ts: Option<&str>, line: &[u8]) -> u64 {
    match id {
        Some(id) => {
            let mut h = crate::hash::Fnv64::default();
            h.write(id.as_bytes());
            h.write(&[0]);
            h.write(ts.unwrap_or("").as_bytes());
            h.finish()
        }
        None => line_key(line),
    }
}

/// The key of an entry at a high-water mark: its id's hash, or for an
/// entry without an id the hash of its bytes.
fn mark_key(id: Option<&str>, line: &[u8]) -> u64 {
    id.map_or_else(|| line_key(line), |i| fnv64(i.as_bytes()))
}

/// The keys of every entry of a session file (its bytes), for recognising
/// a fork's copies of them.
pub fn parent_entries(bytes: &[u8]) -> ParentEntries {
    /// Only what identifies an entry.
    #[derive(Deserialize)]
    struct Key<'a> {
        #[serde(rename = "type", borrow, default)]
        kind: StrOrSkip<'a>,
        #[serde(borrow, default)]
        id: StrOrSkip<'a>,
        #[serde(borrow, default)]
        timestamp: StrOrSkip<'a>,
    }
    let mut out = ParentEntries::new();
    for line in bytes.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !is_object(line) {
            continue;
        }
        let Ok(k) = serde_json::from_slice::<Key>(line) else { continue };
        if k.kind.0.as_deref() != Some("session") {
            out.insert(entry_key(k.id.0.as_deref(), k.timestamp.0.as_deref(), line));
        }
    }
    out
}

impl PiState {
    /// Prepares the state for reading the file again from its start after
    /// it was rewritten in place (new inode or shrunk, same path).
    pub fn begin_replay(&mut self) {
        if self.session.is_some() || self.high_ts.is_some() {
            self.replay = true;
        }
    }
}

/// A model as stored in the state file: both parts are enumeration values,
/// never raw strings from a session file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredModel {
    /// `model.family` value.
    pub family: String,
    /// `model` value.
    pub name: String,
    /// The name of its entry in the price table (a key of the price list,
    /// never a raw name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
}

impl StoredModel {
    /// Stores a classified model.
    pub(crate) fn from_ref(m: ModelRef) -> StoredModel {
        StoredModel {
            family: m.family.as_str().into(),
            name: m.name.into(),
            price: crate::pricing::table().name(m.price).map(str::to_owned),
        }
    }

    /// Maps the stored strings back onto the closed tables; anything that
    /// does not match (a hand-edited state) becomes `other`/`unknown`.
    pub(crate) fn to_ref(&self) -> ModelRef {
        models::from_stored(&self.family, &self.name, self.price.as_deref())
    }
}

/// Line prefixes of record types that never count. pi writes `type` as the
/// first key, so these are exact.
const IGNORED_PREFIXES: &[&[u8]] = &[
    b"{\"type\":\"custom_message\"",
    b"{\"type\":\"thinking_level_change\"",
    b"{\"type\":\"compaction\"",
    b"{\"type\":\"branch_summary\"",
    b"{\"type\":\"label\"",
    b"{\"type\":\"session_info\"",
];

/// The start of a `message` record: pi serialises `type` first.
const MESSAGE_PREFIX: &[u8] = b"{\"type\":\"message\",";

/// The start of a message object. The first occurrence in a `message`
/// record is the record's own message: the envelope keys before it (`id`,
/// `parentId`, `timestamp`) are scalars, and pi writes `role` first.
const ROLE_MARK: &[u8] = b"\"message\":{\"role\":\"";

/// The error flag's key, and its only value that lets a line be skipped.
const IS_ERROR_KEY: &[u8] = b"\"isError\"";
const IS_ERROR_FALSE: &[u8] = b"\"isError\":false";

/// Decides by bytes alone that a line cannot count: a record type that
/// never counts, or a tool result that is certainly not an error. Anything
/// the bytes do not settle (other spacing, a duplicated flag, a tool-result
/// object nested somewhere else) is left to the parser, so skipping never
/// changes a count (a property test and a fuzz target check this).
pub fn cannot_matter(line: &[u8]) -> bool {
    if IGNORED_PREFIXES.iter().any(|p| line.starts_with(p)) {
        return true;
    }
    if !line.starts_with(MESSAGE_PREFIX) {
        return false;
    }
    static ROLE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(ROLE_MARK));
    static FLAG: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(IS_ERROR_KEY));
    let Some(at) = ROLE.find(line) else { return false };
    if !line[at + ROLE_MARK.len()..].starts_with(b"toolResult\"") {
        return false;
    }
    let mut flags = FLAG.find_iter(line);
    match (flags.next(), flags.next()) {
        (None, _) => true,
        (Some(i), None) => line[i..].starts_with(IS_ERROR_FALSE),
        (Some(_), Some(_)) => false,
    }
}

/// What [`Entry`] (and the [`Blocks`] of its message) may read: the rest
/// is skimmed off long lines before they are parsed.
const READS: Reads = Reads {
    values: &[
        "type",
        "id",
        "timestamp",
        "parentSession",
        "provider",
        "modelId",
        "customType",
        "role",
        "model",
        "stopReason",
        "errorMessage",
        "name",
        "tool_use_id",
        "status",
    ],
    whole: &[],
};

/// One line of a pi transcript, reduced to the fields that can count.
#[derive(Deserialize, Default)]
struct Entry<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(default)]
    timestamp: Timestamp<'a>,
    #[serde(rename = "parentSession", default)]
    parent_session: Option<ParentSession<'a>>,
    #[serde(borrow, default)]
    provider: Option<Cow<'a, str>>,
    #[serde(rename = "modelId", borrow, default)]
    model_id: Option<Cow<'a, str>>,
    #[serde(rename = "customType", borrow, default)]
    custom_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<CustomData<'a>>,
    #[serde(borrow, default)]
    message: Option<Message<'a>>,
}

/// The `data` of a `custom` record; only `model-snapshot` is read.
#[derive(Deserialize, Default)]
struct CustomData<'a> {
    #[serde(borrow, default)]
    provider: Option<Cow<'a, str>>,
    #[serde(rename = "modelId", borrow, default)]
    model_id: Option<Cow<'a, str>>,
}

/// An agent message (`message` entries).
#[derive(Deserialize, Default)]
struct Message<'a> {
    #[serde(borrow, default)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    provider: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(rename = "stopReason", borrow, default)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(rename = "errorMessage", borrow, default)]
    error_message: Option<Cow<'a, str>>,
    #[serde(rename = "isError", default)]
    is_error: Option<bool>,
    #[serde(borrow, default)]
    content: Blocks<'a>,
    #[serde(default)]
    usage: Option<Usage>,
}

/// pi's normalised usage record.
#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    input: Tokens,
    #[serde(default)]
    output: Tokens,
    #[serde(rename = "cacheRead", default)]
    cache_read: Tokens,
    #[serde(rename = "cacheWrite", default)]
    cache_write: Tokens,
    #[serde(default)]
    cost: Option<UsageCost>,
}

/// The cost pi worked out for a call (`usage.cost`, USD).
#[derive(Deserialize, Default)]
struct UsageCost {
    #[serde(default)]
    total: Option<f64>,
}

/// A header's `parentSession`: present (a fork), with the parent file's
/// path when it is a string.
struct ParentSession<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for ParentSession<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ParentSession(StrOrSkip::deserialize(d)?.0))
    }
}

/// An entry timestamp: kept only when it is a string (pi writes ISO
/// strings, whose fixed width makes byte order equal time order).
#[derive(Default)]
struct Timestamp<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Timestamp<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Timestamp(StrOrSkip::deserialize(d)?.0))
    }
}

/// True for a record that counts or sets context: a session header, a model
/// change, a `custom` record, a user or assistant message, or a tool result
/// flagged as an error.
fn can_count(e: &Entry) -> bool {
    match e.kind.as_deref() {
        Some("session" | "model_change" | "custom") => true,
        Some("message") => e.message.as_ref().is_some_and(|m| match m.role.as_deref() {
            Some("user" | "assistant") => true,
            Some("toolResult") => m.is_error == Some(true),
            _ => false,
        }),
        _ => false,
    }
}

/// Turns lines of one pi-format file into counts.
pub struct Deriver<'s> {
    /// The pack the file belongs to (`openclaw`, `roundhouse` or `pi`).
    pub pack: Pack,
    /// The file's session type, from its path and metadata.
    pub session_type: SessionType,
    /// The file's persistent context, updated as lines are read.
    pub state: &'s mut PiState,
    /// Sessions already counted from other files (a file renamed and
    /// rewritten between two runs keeps only its session id).
    pub known: &'s KnownSessions<'s>,
    /// A fork's parent entries.
    pub fork: Fork<'s>,
}

impl Deriver<'_> {
    /// Counts one complete line (without its line terminator) into
    /// `counts` and says how the line was classified.
    ///
    /// Lines that [`cannot_matter`] are `ignored` without being parsed (so
    /// a broken tool-result line is `ignored`, not `malformed`).
    pub fn line(&mut self, line: &[u8], counts: &mut Counts) -> LineResult {
        if cannot_matter(line) {
            return LineResult::Ignored;
        }
        self.line_unfiltered(line, counts)
    }

    /// [`Deriver::line`] without the byte pre-filter: every line is parsed.
    /// The property tests and the fuzz target use it to show that the
    /// pre-filter never changes a count.
    pub fn line_unfiltered(&mut self, line: &[u8], counts: &mut Counts) -> LineResult {
        // serde would map a JSON array onto the struct by position: only an
        // object is a record.
        if !is_object(line) {
            return LineResult::Malformed;
        }
        skimmed(line, &READS, |skim| match serde_json::from_slice::<Entry>(skim) {
            Ok(entry) => self.entry(&entry, line, counts),
            Err(_) => LineResult::Malformed,
        })
    }

    /// Counts one parsed entry; `line` is the whole line (its bytes are a
    /// copy's key).
    fn entry(&mut self, entry: &Entry, line: &[u8], counts: &mut Counts) -> LineResult {
        // Records that can never count take no part in dedupe either (the
        // byte pre-filter skips some of them, and both paths must agree).
        if !can_count(entry) {
            return LineResult::Ignored;
        }
        if self.is_copy(entry, line) {
            return LineResult::Ignored;
        }
        if let Some(ts) = entry.timestamp.0.as_deref() {
            counts.set_timestamp(ts);
        }
        let before = counts.additions();
        match entry.kind.as_deref() {
            Some("session") => self.header(entry, counts),
            Some("model_change") => {
                let m = models::classify(entry.provider.as_deref(), entry.model_id.as_deref());
                self.state.last_model = Some(StoredModel::from_ref(m));
            }
            Some("custom") => self.custom(entry, counts),
            Some("message") => {
                if let Some(msg) = &entry.message {
                    self.message(msg, counts);
                }
            }
            _ => {}
        }
        self.advance_high_water(entry, line);
        if counts.additions() > before {
            LineResult::Parsed
        } else {
            LineResult::Ignored
        }
    }

    /// True for an entry that is a verbatim copy of one counted before: in
    /// a fork, an entry of the parent session (or, without the parent
    /// file, one stamped before the fork); while replaying a rewritten
    /// file, anything at or below the high-water mark.
    fn is_copy(&mut self, e: &Entry, line: &[u8]) -> bool {
        if e.kind.as_deref() == Some("session") {
            return false;
        }
        let ts = e.timestamp.0.as_deref();
        if self.state.fork_cutoff.is_some() {
            let copy = match self.parent() {
                Some(keys) => keys.contains(&entry_key(e.id.as_deref(), ts, line)),
                None => ts.zip(self.state.fork_cutoff.as_deref()).is_some_and(|(t, cut)| t < cut),
            };
            if copy {
                return true;
            }
            self.state.fork_cutoff = None;
            self.state.fork_parent = None;
        }
        let Some(ts) = ts else { return false };
        if self.state.replay {
            if let Some(high) = &self.state.high_ts {
                let seen = ts < high.as_str()
                    || (ts == high.as_str()
                        && self.state.high_ids.contains(&mark_key(e.id.as_deref(), line)));
                if seen {
                    return true;
                }
            }
            self.state.replay = false;
        }
        false
    }

    /// The entries of this fork's parent file, looked up once.
    fn parent(&mut self) -> Option<&ParentEntries> {
        if self.fork.loaded.is_none() {
            let found = match (self.fork.lookup, self.state.fork_parent.as_deref()) {
                (Some(lookup), Some(path)) => lookup(path),
                _ => None,
            };
            self.fork.loaded = Some(found);
        }
        self.fork.loaded.as_ref().and_then(|p| p.as_deref())
    }

    /// Moves the high-water mark forward past a counted entry.
    fn advance_high_water(&mut self, e: &Entry, line: &[u8]) {
        let Some(ts) = e.timestamp.0.as_deref() else { return };
        if e.kind.as_deref() == Some("session") {
            return;
        }
        let id = mark_key(e.id.as_deref(), line);
        match self.state.high_ts.as_deref() {
            Some(h) if ts < h => {}
            Some(h) if ts == h => {
                if self.state.high_ids.len() < MAX_HIGH_IDS && !self.state.high_ids.contains(&id) {
                    self.state.high_ids.push(id);
                }
            }
            _ => {
                self.state.high_ts = Some(ts.to_owned());
                self.state.high_ids = vec![id];
            }
        }
    }

    /// The session header: a session start, unless this is the same
    /// session read again after a rewrite.
    fn header(&mut self, e: &Entry, counts: &mut Counts) {
        let id = e.id.as_deref().map(|i| fnv64(i.as_bytes()));
        if id.is_some() && id == self.state.session {
            // The same session read again: replay up to the furthest mark
            // any file of it reached (another file may be further along).
            if let Some(mark) = id.and_then(|h| self.known.get(&h)) {
                if mark.high_ts > self.state.high_ts.as_deref() {
                    self.state.high_ts = mark.high_ts.map(str::to_owned);
                    self.state.high_ids = mark.high_ids.to_vec();
                    self.state.replay = true;
                }
            }
            return;
        }
        if self.state.session.is_some() {
            // A different session now lives at this path: start over.
            *self.state = PiState::default();
        }
        self.state.session = id.or(Some(0));
        if e.provider.is_some() || e.model_id.is_some() {
            let m = models::classify(e.provider.as_deref(), e.model_id.as_deref());
            self.state.header_model = Some(StoredModel::from_ref(m));
        }
        if let Some(mark) = id.and_then(|h| self.known.get(&h)) {
            // A session counted before under another file: not a new
            // session, and its entries up to the mark are copies.
            self.state.high_ts = mark.high_ts.map(str::to_owned);
            self.state.high_ids = mark.high_ids.to_vec();
            self.state.replay = mark.high_ts.is_some();
            return;
        }
        if let Some(parent) = &e.parent_session {
            self.state.fork_cutoff = e.timestamp.0.as_deref().map(str::to_owned);
            self.state.fork_parent = parent.0.as_deref().map(str::to_owned);
            self.fork.loaded = None;
        }
        counts.incr(Series::SessionStart { pack: self.pack, session_type: self.session_type });
    }

    /// `custom` records: model snapshots and error events.
    fn custom(&mut self, e: &Entry, counts: &mut Counts) {
        let Some(t) = e.custom_type.as_deref() else { return };
        if t == "model-snapshot" {
            if let Some(d) = &e.data {
                let m = models::classify(d.provider.as_deref(), d.model_id.as_deref());
                self.state.last_model = Some(StoredModel::from_ref(m));
            }
        } else if errors::names_an_error(t) {
            let error_type = errors::from_record_type(t);
            counts.incr(Series::Error { pack: self.pack, error_type });
        }
    }

    /// `message` entries by role.
    fn message(&mut self, m: &Message, counts: &mut Counts) {
        let pack = self.pack;
        match m.role.as_deref() {
            Some("user") => {
                counts.incr(Series::UserPrompt { pack, session_type: self.session_type })
            }
            Some("assistant") => self.assistant(m, counts),
            Some("toolResult") if m.is_error == Some(true) => {
                counts.incr(Series::Error { pack, error_type: ErrorType::Tool })
            }
            _ => {}
        }
    }

    /// One assistant message: a turn, its tool calls, its tokens, and an
    /// error when the call failed.
    fn assistant(&mut self, m: &Message, counts: &mut Counts) {
        let pack = self.pack;
        if m.provider.as_deref() == Some("openclaw")
            && m.model.as_deref() == Some("delivery-mirror")
        {
            return;
        }
        let model = self.model_for(m);
        let outcome = match m.stop_reason.as_deref() {
            Some("error") => Outcome::Error,
            Some("aborted") => Outcome::Aborted,
            _ => Outcome::Success,
        };
        counts.incr(Series::AgentTurn {
            pack,
            outcome,
            family: model.family,
            session_type: self.session_type,
        });
        if outcome == Outcome::Error {
            let error_type =
                m.error_message.as_deref().map(errors::from_text).unwrap_or(ErrorType::Unknown);
            counts.incr(Series::Error { pack, error_type });
        }
        for b in m.content.blocks.iter().filter(|b| b.kind.as_deref() == Some("toolCall")) {
            let (tool, class) = tools::classify(pack, b.name.as_deref().unwrap_or(""));
            counts.incr(Series::ToolCall { pack, tool, class });
        }
        if let Some(u) = &m.usage {
            let usage = crate::agents::usage::Usage {
                input: u.input.0,
                cache_read: u.cache_read.0,
                cache_write: u.cache_write.0,
                output: u.output.0,
                reasoning: 0,
            };
            // The cost pi recorded wins over the price table.
            let cost = match u.cost.as_ref().and_then(|c| c.total) {
                Some(usd) => crate::pricing::Cost::Recorded(usd),
                None => crate::pricing::Cost::CALL,
            };
            crate::agents::usage::add_tokens(counts, pack, model, &usage, cost);
        }
    }

    /// The model of an assistant message: its own provider/model, else the
    /// last model change, else the session header's.
    fn model_for(&self, m: &Message) -> ModelRef {
        if m.provider.is_some() || m.model.is_some() {
            let r = models::classify(m.provider.as_deref(), m.model.as_deref());
            if r != ModelRef::UNKNOWN {
                return r;
            }
        }
        self.state
            .last_model
            .as_ref()
            .or(self.state.header_model.as_ref())
            .map(StoredModel::to_ref)
            .unwrap_or(ModelRef::UNKNOWN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Family, TokenType, ToolClass};
    use std::sync::Arc;

    #[test]
    fn skimming_never_changes_a_count_on_the_fixtures() {
        use crate::agents::json::tests::{skimming_changes_nothing, without_skimming};
        let scan = |lines: &[Vec<u8>]| {
            let mut st = PiState::default();
            let (counts, results) = run(lines, &mut st);
            (results, counts.keyed(), st)
        };
        // Long values the fixtures do not have: a fork's parent path.
        let parent = format!("/home/u/.pi/agent/sessions/{}/parent.jsonl", "p".repeat(80));
        let fork = format!(
            r#"{{"type":"session","version":3,"id":"s-2","timestamp":"2026-01-02T00:00:00.000Z","parentSession":"{parent}","pad":"{}"}}"#,
            "y".repeat(5000)
        );
        let lines = [fork.into_bytes()];
        assert_eq!(scan(&lines), without_skimming(|| scan(&lines)));
        assert_eq!(scan(&lines).2.fork_parent.as_deref(), Some(parent.as_str()));
        for dir in [".pi", ".openclaw", ".roundhouse"] {
            skimming_changes_nothing(dir, 10, scan);
        }
    }

    fn run(lines: &[impl AsRef<[u8]>], state: &mut PiState) -> (Counts, Vec<LineResult>) {
        run_known(lines, state, &KnownSessions::default())
    }

    fn run_known(
        lines: &[impl AsRef<[u8]>],
        state: &mut PiState,
        known: &KnownSessions,
    ) -> (Counts, Vec<LineResult>) {
        let mut counts = Counts::default();
        let fork = Fork::default();
        let mut d = Deriver { pack: Pack::Pi, session_type: SessionType::Main, state, known, fork };
        let results = lines.iter().map(|l| d.line(l.as_ref(), &mut counts)).collect();
        (counts, results)
    }

    const HEADER: &str = r#"{"type":"session","version":3,"id":"s-1","timestamp":"2026-01-01T00:00:00.000Z","cwd":"/x"}"#;
    const USER: &str = r#"{"type":"message","id":"a1","parentId":null,"timestamp":"2026-01-01T00:00:01.000Z","message":{"role":"user","content":"hi"}}"#;
    const ASSIST: &str = r#"{"type":"message","id":"a2","parentId":"a1","timestamp":"2026-01-01T00:00:02.000Z","message":{"role":"assistant","content":[{"type":"text","text":"t"},{"type":"toolCall","id":"c","name":"bash","arguments":{"cmd":"ls"}}],"provider":"anthropic","model":"claude-sonnet-4-5-20250929","usage":{"input":10,"output":20,"cacheRead":30,"cacheWrite":40,"totalTokens":100},"stopReason":"toolUse"}}"#;

    fn model() -> ModelRef {
        ModelRef::new(Family::Anthropic, "claude-sonnet-4-5")
    }

    /// Marks left out, in memory.
    #[derive(Debug)]
    struct InMemory {
        sessions: Vec<u64>,
        marks: StoredMarks,
    }

    impl LeftMarks for InMemory {
        fn sessions(&self) -> &[u64] {
            &self.sessions
        }
        fn marks(&self) -> Option<&StoredMarks> {
            Some(&self.marks)
        }
    }

    /// Marks left out that cannot be read.
    #[derive(Debug)]
    struct Unreadable(Vec<u64>, std::sync::atomic::AtomicUsize);

    impl LeftMarks for Unreadable {
        fn sessions(&self) -> &[u64] {
            &self.0
        }
        fn marks(&self) -> Option<&StoredMarks> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            None
        }
    }

    #[test]
    fn the_marks_left_out_are_read_only_for_a_session_they_have() {
        let left = Unreadable(vec![3, 9], Default::default());
        let known = KnownSessions::default().with_left_out(&left);
        assert_eq!(known.get(&4), None);
        assert_eq!(known.get(&10), None);
        assert_eq!(left.1.load(std::sync::atomic::Ordering::Relaxed), 0, "not asked for");
        assert_eq!(known.get(&9), None);
        assert_eq!(left.1.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn the_marks_of_states_left_out_are_found_as_if_raised_into_the_map() {
        // Marks of sessions 0..5 at timestamps "a".."c" with ids 0..4, in
        // many combinations: looked up in the sorted list beside a map of
        // some, or all raised into one map, they say the same (ids as sets).
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        for _ in 0..200 {
            let stored: Vec<StoredMark> = (0..next(12))
                .map(|_| StoredMark {
                    session: next(5),
                    high_ts: ["a", "b", "c"].get(next(4) as usize).map(|t| (*t).into()),
                    high_ids: (0..next(3)).map(|_| next(4)).collect(),
                })
                .collect();
            let (loaded, left_out) = stored.split_at(next(stored.len() as u64 + 1) as usize);
            let mut left = StoredMarks::default();
            for m in left_out {
                left.push(m);
            }
            left.sort();
            assert!(left.is_sorted());
            let back: Vec<StoredMark> = left
                .iter()
                .map(|m| StoredMark {
                    session: m.session,
                    high_ts: m.high_ts.map(Box::from),
                    high_ids: m.high_ids.into(),
                })
                .collect();
            let mut want = left_out.to_vec();
            want.sort_by(|a, b| {
                (a.session, &a.high_ts, &a.high_ids).cmp(&(b.session, &b.high_ts, &b.high_ids))
            });
            assert_eq!(back, want);
            let mut known = KnownSessions::default();
            for m in loaded {
                raise_parts(&mut known, m.session, m.high_ts.as_deref(), &m.high_ids);
            }
            let left = InMemory { sessions: left.sessions(), marks: left };
            let known = known.with_left_out(&left);
            let mut all = KnownSessions::default();
            for m in &stored {
                raise_parts(&mut all, m.session, m.high_ts.as_deref(), &m.high_ids);
            }
            for h in 0..6 {
                let set = |m: Option<SessionMark>| {
                    m.map(|m| {
                        let mut ids = m.high_ids.to_vec();
                        ids.sort_unstable();
                        (m.high_ts.map(str::to_owned), ids)
                    })
                };
                assert_eq!(set(known.get(&h)), set(all.get(&h)), "session {h}: {stored:?}");
            }
            assert_eq!(known.get(&0), None);
        }
    }

    #[test]
    fn header_user_and_assistant() {
        let mut st = PiState::default();
        let (c, r) = run(&[HEADER, USER, ASSIST], &mut st);
        assert_eq!(r, vec![LineResult::Parsed; 3]);
        let p = Pack::Pi;
        assert_eq!(c.get(&Series::SessionStart { pack: p, session_type: SessionType::Main }), 1);
        assert_eq!(c.get(&Series::UserPrompt { pack: p, session_type: SessionType::Main }), 1);
        let turn = Series::AgentTurn {
            pack: p,
            outcome: Outcome::Success,
            family: Family::Anthropic,
            session_type: SessionType::Main,
        };
        assert_eq!(c.get(&turn), 1);
        assert_eq!(c.get(&Series::ToolCall { pack: p, tool: "bash", class: ToolClass::Shell }), 1);
        let tok = |t| Series::TokenUsage { pack: p, token_type: t, model: model() };
        assert_eq!(c.get(&tok(TokenType::Input)), 10);
        assert_eq!(c.get(&tok(TokenType::Output)), 20);
        assert_eq!(c.get(&tok(TokenType::CacheRead)), 30);
        assert_eq!(c.get(&tok(TokenType::CacheWrite)), 40);
    }

    #[test]
    fn tool_results_without_error_are_rejected_before_parsing() {
        let ok = r#"{"type":"message","id":"a3","timestamp":"2026-01-01T00:00:03.000Z","message":{"role":"toolResult","toolCallId":"c","toolName":"bash","content":[{"type":"text","text":"x"}],"isError":false}}"#;
        assert!(cannot_matter(ok.as_bytes()));
        let bad = ok.replace("\"isError\":false", "\"isError\":true");
        assert!(!cannot_matter(bad.as_bytes()));
        let mut st = PiState::default();
        let (c, r) = run(&[&bad], &mut st);
        assert_eq!(r, vec![LineResult::Parsed]);
        assert_eq!(c.get(&Series::Error { pack: Pack::Pi, error_type: ErrorType::Tool }), 1);
    }

    #[test]
    fn the_prefilter_only_skips_what_certainly_cannot_count() {
        let tr = |rest: &str| {
            format!(
                r#"{{"type":"message","id":"x","timestamp":"t","message":{{"role":"toolResult","content":"c"{rest}}}}}"#
            )
        };
        assert!(cannot_matter(tr(r#","isError":false"#).as_bytes()));
        assert!(cannot_matter(tr("").as_bytes()));
        assert!(!cannot_matter(tr(r#","isError":true"#).as_bytes()));
        assert!(!cannot_matter(tr(r#","isError": true"#).as_bytes()), "other spacing is parsed");
        assert!(!cannot_matter(tr(r#","isError":false,"isError":true"#).as_bytes()));
        // Found by fuzzing: a tool-result object spliced into another
        // record type must not hide that record.
        let spliced = r#"{"type":"model_change","provider":"p","modelId":"m","message":{"role":"toolResult"}}"#;
        assert!(!cannot_matter(spliced.as_bytes()));
        // A tool result nested in an assistant's tool-call arguments.
        let nested = r#"{"type":"message","id":"x","message":{"role":"assistant","content":[{"type":"toolCall","name":"sessions_send","arguments":{"message":{"role":"toolResult"}}}]}}"#;
        assert!(!cannot_matter(nested.as_bytes()));
        let mut st = PiState::default();
        let (c, _) = run(&[nested], &mut st);
        assert_eq!(
            c.get(&Series::ToolCall {
                pack: Pack::Pi,
                tool: "sessions_send",
                class: ToolClass::Agent
            }),
            1
        );
    }

    #[test]
    fn records_that_never_count_take_no_part_in_dedupe() {
        // Found by fuzzing: an ignored record with an out-of-order
        // timestamp cleared a fork's cutoff when parsed, but not when the
        // byte pre-filter skipped it.
        let fork = r#"{"type":"session","version":3,"id":"s-2","timestamp":"2026-01-02T00:00:00.000Z","parentSession":"/p"}"#;
        let odd = r#"{"type":"thinking_level_change","id":"t1","timestamp":"2026-01-03T00:00:00.000Z","thinkingLevel":"high"}"#;
        let copy = USER.to_string();
        for filtered in [true, false] {
            let mut st = PiState::default();
            let known = KnownSessions::default();
            let mut d = Deriver {
                pack: Pack::Pi,
                session_type: SessionType::Main,
                state: &mut st,
                known: &known,
                fork: Fork::default(),
            };
            let mut c = Counts::default();
            for l in [fork, odd, &copy] {
                if filtered {
                    d.line(l.as_bytes(), &mut c);
                } else {
                    d.line_unfiltered(l.as_bytes(), &mut c);
                }
            }
            let p = c.get(&Series::UserPrompt { pack: Pack::Pi, session_type: SessionType::Main });
            assert_eq!(p, 0, "filtered={filtered}: the copied prompt stays a copy");
        }
    }

    #[test]
    fn a_forks_copies_are_the_parents_entries_whatever_their_timestamps() {
        // The last copied entry has the fork header's timestamp.
        let fork = r#"{"type":"session","version":3,"id":"s-2","timestamp":"2026-01-01T00:00:01.000Z","parentSession":"/p/parent.jsonl"}"#;
        let copied = r#"{"type":"message","id":"u1","parentId":null,"timestamp":"2026-01-01T00:00:01.000Z","message":{"role":"user","content":"x"}}"#;
        let new = r#"{"type":"message","id":"u2","parentId":"u1","timestamp":"2026-01-01T00:00:01.000Z","message":{"role":"user","content":"y"}}"#;
        let parent = format!("{HEADER}\n{copied}\n");
        let entries = Arc::new(parent_entries(parent.as_bytes()));
        let lookup = |p: &str| (p == "/p/parent.jsonl").then(|| entries.clone());
        let mut st = PiState::default();
        let known = KnownSessions::default();
        let mut d = Deriver {
            pack: Pack::Pi,
            session_type: SessionType::Main,
            state: &mut st,
            known: &known,
            fork: Fork::with(&lookup),
        };
        let mut c = Counts::default();
        for l in [fork, copied, new] {
            d.line(l.as_bytes(), &mut c);
        }
        let prompts = Series::UserPrompt { pack: Pack::Pi, session_type: SessionType::Main };
        assert_eq!(c.get(&prompts), 1, "only the fork's own prompt");
        assert_eq!(
            c.get(&Series::SessionStart { pack: Pack::Pi, session_type: SessionType::Main }),
            1
        );
        assert!(st.fork_cutoff.is_none() && st.fork_parent.is_none(), "the copies ended");
    }

    #[test]
    fn a_rewritten_file_without_entry_ids_replays_by_content() {
        // pi's original layout: entries carry no id.
        let u = |n: u32, t: &str| {
            format!(
                r#"{{"type":"message","timestamp":"{t}","message":{{"role":"user","content":"{n}"}}}}"#
            )
        };
        let t = "2026-01-01T00:00:05.000Z";
        let (a, b, c2) = (u(1, t), u(2, t), u(3, t));
        let mut st = PiState::default();
        let (first, _) = run(&[HEADER, &a, &b], &mut st);
        let prompts = Series::UserPrompt { pack: Pack::Pi, session_type: SessionType::Main };
        assert_eq!(first.get(&prompts), 2);
        st.begin_replay();
        let (again, _) = run(&[HEADER, &a, &b, &c2], &mut st);
        assert_eq!(again.get(&prompts), 1, "the two copies at the same time are recognised");
    }

    #[test]
    fn error_stop_reason_is_an_error_turn_and_an_error() {
        let l = r#"{"type":"message","id":"a4","timestamp":"2026-01-01T00:00:04.000Z","message":{"role":"assistant","content":[],"provider":"anthropic","model":"claude-sonnet-4-5","stopReason":"error","errorMessage":"429 rate_limit_error"}}"#;
        let mut st = PiState::default();
        let (c, _) = run(&[l], &mut st);
        assert_eq!(c.get(&Series::Error { pack: Pack::Pi, error_type: ErrorType::Quota }), 1);
        let turn = Series::AgentTurn {
            pack: Pack::Pi,
            outcome: Outcome::Error,
            family: Family::Anthropic,
            session_type: SessionType::Main,
        };
        assert_eq!(c.get(&turn), 1);
    }

    #[test]
    fn model_falls_back_to_model_change_then_header() {
        let header = r#"{"type":"session","id":"s","timestamp":"2026-01-01T00:00:00.000Z","provider":"openai","modelId":"gpt-5"}"#;
        let bare = r#"{"type":"message","id":"b","timestamp":"2026-01-01T00:00:05.000Z","message":{"role":"assistant","content":[],"usage":{"input":1}}}"#;
        let change = r#"{"type":"model_change","id":"m","timestamp":"2026-01-01T00:00:06.000Z","provider":"xai","modelId":"grok-4"}"#;
        let bare2 = bare.replace("\"id\":\"b\"", "\"id\":\"c\"").replace("00:05", "00:07");
        let mut st = PiState::default();
        let (c, _) = run(&[header, bare, change, &bare2], &mut st);
        let tok = |f, n| Series::TokenUsage {
            pack: Pack::Pi,
            token_type: TokenType::Input,
            model: ModelRef::new(f, n),
        };
        assert_eq!(c.get(&tok(Family::Openai, "gpt-5")), 1);
        assert_eq!(c.get(&tok(Family::Xai, "grok-4")), 1);
    }

    #[test]
    fn delivery_mirror_rows_are_not_turns() {
        let l = r#"{"type":"message","id":"d","timestamp":"2026-01-01T00:00:08.000Z","message":{"role":"assistant","content":[{"type":"text","text":"x"}],"provider":"openclaw","model":"delivery-mirror","usage":{"input":0,"output":0}}}"#;
        let mut st = PiState::default();
        let (c, r) = run(&[l], &mut st);
        assert!(c.is_empty());
        assert_eq!(r, vec![LineResult::Ignored]);
    }

    #[test]
    fn a_line_that_only_adds_to_existing_series_is_parsed() {
        let mut st = PiState::default();
        let (_, r) = run(&[USER, &USER.replace("\"a1\"", "\"a5\"")], &mut st);
        assert_eq!(r, vec![LineResult::Parsed, LineResult::Parsed]);
    }

    #[test]
    fn malformed_lines() {
        let mut st = PiState::default();
        let (_, r) = run(
            &[
                "not json",
                "[1,2]",
                "42",
                "null",
                "{\"type\":",
                "{\"type\":\"message\",\"message\":{\"role\":\"user\",\"isError\":\"x\"}}",
            ],
            &mut st,
        );
        assert_eq!(r, vec![LineResult::Malformed; 6]);
    }

    #[test]
    fn bad_token_counts_do_not_lose_the_turn() {
        let l = r#"{"type":"message","id":"e","timestamp":"2026-01-01T00:00:09.000Z","message":{"role":"assistant","content":[],"provider":"openai","model":"gpt-5","usage":{"input":-5,"output":1e300,"cacheRead":"x","cacheWrite":2.7}}}"#;
        let mut st = PiState::default();
        let (c, r) = run(&[l], &mut st);
        assert_eq!(r, vec![LineResult::Parsed]);
        let m = ModelRef::new(Family::Openai, "gpt-5");
        let tok = |t| Series::TokenUsage { pack: Pack::Pi, token_type: t, model: m };
        assert_eq!(c.get(&tok(TokenType::Input)), 0);
        assert_eq!(c.get(&tok(TokenType::Output)), u64::MAX);
        assert_eq!(c.get(&tok(TokenType::CacheWrite)), 2);
    }

    #[test]
    fn custom_error_events() {
        let l = r#"{"type":"custom","customType":"openclaw:prompt-error","data":{"error":"CANARY"},"id":"f","timestamp":"2026-01-01T00:00:10.000Z"}"#;
        let mut st = PiState::default();
        let (c, _) = run(&[l], &mut st);
        assert_eq!(c.get(&Series::Error { pack: Pack::Pi, error_type: ErrorType::Prompt }), 1);
    }

    #[test]
    fn rewritten_file_counts_only_new_entries() {
        let mut st = PiState::default();
        let (c1, _) = run(&[HEADER, USER, ASSIST], &mut st);
        st.begin_replay();
        let new_user = USER.replace("\"a1\"", "\"a9\"").replace("00:01.000", "00:30.000");
        // Rewrite keeps the header and the assistant message (the user
        // message before it was dropped), then a new entry is appended.
        let (c2, r2) = run(&[HEADER, ASSIST, &new_user], &mut st);
        assert_eq!(
            c1.get(&Series::SessionStart { pack: Pack::Pi, session_type: SessionType::Main }),
            1
        );
        assert_eq!(r2, vec![LineResult::Ignored, LineResult::Ignored, LineResult::Parsed]);
        assert_eq!(
            c2.get(&Series::UserPrompt { pack: Pack::Pi, session_type: SessionType::Main }),
            1
        );
        assert!(!st.replay);
    }

    #[test]
    fn a_session_known_from_another_file_is_not_counted_again() {
        let mut first = PiState::default();
        run(&[HEADER, USER, ASSIST], &mut first);
        let known = known_sessions(std::iter::once(&first));
        // Renamed and rewritten: a new file state, the same session.
        let mut st = PiState::default();
        let later = USER.replace("\"a1\"", "\"a7\"").replace("00:01.000", "00:40.000");
        let (c, r) = run_known(&[HEADER, ASSIST, &later], &mut st, &known);
        assert_eq!(r, vec![LineResult::Ignored, LineResult::Ignored, LineResult::Parsed]);
        assert_eq!(
            c.get(&Series::SessionStart { pack: Pack::Pi, session_type: SessionType::Main }),
            0
        );
        assert_eq!(
            c.get(&Series::UserPrompt { pack: Pack::Pi, session_type: SessionType::Main }),
            1
        );
    }

    #[test]
    fn fork_skips_entries_copied_from_the_parent() {
        let fork = r#"{"type":"session","version":3,"id":"s-2","timestamp":"2026-01-02T00:00:00.000Z","cwd":"/x","parentSession":"/p/s-1.jsonl"}"#;
        let later = USER.replace("2026-01-01", "2026-01-02");
        let mut st = PiState::default();
        let (c, r) = run(&[fork, USER, ASSIST, &later], &mut st);
        assert_eq!(
            r,
            vec![LineResult::Parsed, LineResult::Ignored, LineResult::Ignored, LineResult::Parsed]
        );
        assert_eq!(
            c.get(&Series::UserPrompt { pack: Pack::Pi, session_type: SessionType::Main }),
            1
        );
    }

    #[test]
    fn escaped_strings_still_parse() {
        let l = r#"{"type":"message","id":"g","timestamp":"2026-01-01T00:00:11.000Z","message":{"role":"assistant","content":[{"type":"toolCall","name":"re\u0061d","arguments":{}}],"provider":"anthropic","model":"claude-sonnet-4-5"}}"#;
        let mut st = PiState::default();
        let (c, _) = run(&[l], &mut st);
        assert_eq!(
            c.get(&Series::ToolCall { pack: Pack::Pi, tool: "read", class: ToolClass::File }),
            1
        );
    }
}
