//! Records already counted, across files and runs.
//!
//! Claude Code copies records between files: a resumed or forked session
//! starts with verbatim copies of earlier lines, and a sidechain can replay
//! its parent's responses. It also splits one API response over several
//! lines (one per content block) whose usage grows, and the lines of one
//! response may be split across two runs. So its parser does not count
//! keyed records itself: it files [`Claims`], and after the parallel scan
//! [`resolve`] settles them, in path order, against the [`Seen`] table:
//!
//! - a keyed record (session start, prompt, tool call, tool error, API
//!   error) counts the first time its id is seen, anywhere, ever;
//! - a response counts one turn the first time it is seen, and its usage
//!   counts as much as the largest copy carried: a later, larger copy adds
//!   the difference, type by type (counters never go down). Only a
//!   response that may still grow (the last one of its file so far) keeps
//!   its usage in the table; once its file goes on past it, it is
//!   complete and copies of it add nothing.
//!
//! The table is bounded: ids are 64-bit hashes (no text is kept), an entry
//! not seen for [`KEEP_DAYS`] days is dropped (Claude Code deletes
//! transcripts after 30 days by default), and the usage of a response is
//! kept only while it may still grow, and at most [`USAGE_DAYS`] days. At
//! most [`MAX_ENTRIES`] entries are kept, the oldest dropped first. It is
//! stored as a compact binary file (see [`Seen::encode`]): 10 bytes per
//! keyed record, 15 per response (31 while its usage is kept).

use std::collections::HashMap;

use crate::agents::usage::{add_tokens, Usage};
use crate::hash::fnv64;
use crate::metrics::{Counts, Hour, ModelRef, Pack, Series, TokenType};
use crate::pricing::Cost;

/// Entries not seen for this many days are dropped.
pub const KEEP_DAYS: u16 = 45;
/// A response's counted usage is kept this many days after it was last
/// seen (afterwards a larger copy adds nothing).
pub const USAGE_DAYS: u16 = 2;
/// The most entries kept; beyond, the least recently seen go first.
pub const MAX_ENTRIES: usize = 600_000;

/// The id of a keyed record: a hash of its kind and its id in the file.
pub fn key(kind: u8, parts: &[&str]) -> u64 {
    let mut buf = Vec::with_capacity(64);
    buf.push(kind);
    for p in parts {
        buf.push(0);
        buf.extend_from_slice(p.as_bytes());
    }
    fnv64(&buf)
}

/// One model response as one file saw it this run (its lines merged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Hash of the message id.
    pub msg: u64,
    /// Hash of the request id (low 32 bits; 0 when absent).
    pub req: u32,
    /// True when every line of it was a sidechain copy.
    pub sidechain: bool,
    /// The largest usage among its lines, in [`TOKEN_ORDER`].
    pub usage: [u64; 4],
    /// The part of its cache writes kept an hour (priced apart).
    pub cache_write_1h: u64,
    /// The hour it is from.
    pub hour: Hour,
    /// The turn it counts (with its attributes).
    pub turn: Series,
    /// The model its tokens count under.
    pub model: ModelRef,
    /// The pack.
    pub pack: Pack,
    /// True for the last response of its file this run: the only one that
    /// can still grow (its remaining lines not written yet). Only such a
    /// response's usage is kept in the table.
    pub open: bool,
}

/// Token types of [`Response::usage`], in order.
pub const TOKEN_ORDER: [TokenType; 4] =
    [TokenType::Input, TokenType::CacheRead, TokenType::CacheWrite, TokenType::Output];

/// Adds a usage array (in [`TOKEN_ORDER`]) of one call to the token series
/// of a model, with its cost.
pub fn add_usage(
    counts: &mut Counts,
    pack: Pack,
    model: ModelRef,
    usage: [u64; 4],
    cache_write_1h: u64,
) {
    let [input, cache_read, cache_write, output] = usage;
    let u = Usage { input, cache_read, cache_write, output, reasoning: 0 };
    add_tokens(counts, pack, model, &u, Cost::Table { cache_write_1h, per_call: true });
}

/// What one file filed this run, in line order.
#[derive(Debug, Default)]
pub struct Claims {
    /// Keyed records: the id, the series it counts once and its hour.
    pub once: Vec<(u64, Series, Hour)>,
    /// Responses, one per (message id, request id).
    pub responses: Vec<Response>,
    /// Complete records of the agents of usage records
    /// ([`crate::agents::usage`]): the id and everything the record
    /// counts, counted the first time the id is seen.
    pub records: Vec<(u64, Counts)>,
    index: HashMap<(u64, u32), usize>,
}

impl Claims {
    /// True when nothing was filed.
    pub fn is_empty(&self) -> bool {
        self.once.is_empty() && self.responses.is_empty() && self.records.is_empty()
    }

    /// Files a complete record: everything it counts, once by its id.
    pub fn record(&mut self, id: u64, counts: Counts) {
        self.records.push((id, counts));
    }

    /// Files a keyed record from `hour`.
    pub fn once(&mut self, id: u64, series: Series, hour: Hour) {
        self.once.push((id, series, hour));
    }

    /// Files one line of a response; lines of the same response merge
    /// (the largest usage wins, and a non-sidechain line makes it a main
    /// response).
    pub fn response(&mut self, r: Response) {
        match self.index.get(&(r.msg, r.req)) {
            Some(&i) => {
                let have = &mut self.responses[i];
                if total(&r.usage) > total(&have.usage) {
                    have.usage = r.usage;
                    have.cache_write_1h = r.cache_write_1h;
                }
                if have.sidechain && !r.sidechain {
                    have.sidechain = false;
                    have.turn = r.turn;
                }
            }
            None => {
                self.index.insert((r.msg, r.req), self.responses.len());
                self.responses.push(r);
            }
        }
    }

    /// Marks these claims as all of one file's: its last response is
    /// open (it may still grow in a later run).
    pub fn end_of_file(&mut self) {
        if let Some(last) = self.responses.last_mut() {
            last.open = true;
        }
    }

    /// Appends another file's claims (keeps line order within each). The
    /// other file's last response is marked open. Different files' copies
    /// of a response stay apart here and are settled by the table.
    pub fn append(&mut self, mut other: Claims) {
        other.end_of_file();
        self.once.extend(other.once);
        self.responses.extend(other.responses);
        self.records.extend(other.records);
    }
}

fn total(u: &[u64; 4]) -> u64 {
    u.iter().fold(0u64, |a, b| a.saturating_add(*b))
}

/// A response known to the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Known {
    /// Request id hash (low 32 bits).
    req: u32,
    /// Only sidechain copies were seen.
    sidechain: bool,
    /// Day last seen (days since the Unix epoch).
    day: u16,
    /// Usage counted so far (while kept), saturating at `u32::MAX`.
    usage: Option<[u32; 4]>,
}

/// The table of records counted so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Keyed record id → day last seen.
    once: HashMap<u64, u16>,
    /// Response key → what was counted.
    responses: HashMap<u64, Known>,
    /// True when something changed since loading.
    pub dirty: bool,
}

/// What the table says about a response.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Never seen: count a turn and its usage.
    New,
    /// Seen: count this much more usage (all zero for a plain copy).
    Known([u64; 4]),
}

impl Seen {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.once.len() + self.responses.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records a keyed record; true when it was new.
    fn once(&mut self, id: u64, day: u16) -> bool {
        self.dirty = true;
        self.once.insert(id, day).is_none()
    }

    /// Settles one response copy (see the module docs for the matching:
    /// the message id with the same request id, or with any request id
    /// when either copy is a sidechain replay).
    fn response(&mut self, r: &Response, day: u16) -> Verdict {
        self.dirty = true;
        let alt = r.msg ^ u64::from(r.req).rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15;
        let primary = self.responses.get(&r.msg).copied();
        let slot = match primary {
            Some(k) if k.req == r.req || k.sidechain || r.sidechain => Some(r.msg),
            _ if self.responses.contains_key(&alt) => Some(alt),
            _ => None,
        };
        let usage = r.usage.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        let kept = r.open.then_some(usage);
        let Some(slot) = slot else {
            let at = if primary.is_none() { r.msg } else { alt };
            self.responses
                .insert(at, Known { req: r.req, sidechain: r.sidechain, day, usage: kept });
            return Verdict::New;
        };
        let k = self.responses.get_mut(&slot).expect("slot exists");
        k.day = day;
        if k.sidechain && !r.sidechain {
            k.sidechain = false;
            k.req = r.req;
        }
        let mut more = [0u64; 4];
        if let Some(have) = &mut k.usage {
            for i in 0..4 {
                more[i] = u64::from(usage[i].saturating_sub(have[i]));
                have[i] = have[i].max(usage[i]);
            }
        }
        if !r.open && !r.sidechain {
            // Its file went on past it: it is complete.
            k.usage = None;
        }
        Verdict::Known(more)
    }

    /// Drops what is too old to matter and forgets usage past its days.
    pub fn prune(&mut self, today: u16) {
        let before = self.len();
        let keep = |d: u16| today.saturating_sub(d) <= KEEP_DAYS;
        self.once.retain(|_, d| keep(*d));
        self.responses.retain(|_, k| keep(k.day));
        for k in self.responses.values_mut() {
            if k.usage.is_some() && today.saturating_sub(k.day) > USAGE_DAYS {
                k.usage = None;
                self.dirty = true;
            }
        }
        if self.len() > MAX_ENTRIES {
            let mut days: Vec<u16> =
                self.once.values().copied().chain(self.responses.values().map(|k| k.day)).collect();
            days.sort_unstable();
            let cut = days[self.len() - MAX_ENTRIES];
            self.once.retain(|_, d| *d > cut);
            self.responses.retain(|_, k| k.day > cut);
        }
        self.dirty |= self.len() != before;
    }

    /// The binary form: a magic, the batch sequence number it belongs to,
    /// the two entry counts, the entries sorted by key, and an FNV-1a
    /// checksum of everything before it. Little-endian throughout.
    pub fn encode(&self, seq: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.once.len() * 10 + self.responses.len() * 31);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&(self.once.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.responses.len() as u64).to_le_bytes());
        let mut once: Vec<(&u64, &u16)> = self.once.iter().collect();
        once.sort_unstable();
        for (k, d) in once {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&d.to_le_bytes());
        }
        let mut resp: Vec<(&u64, &Known)> = self.responses.iter().collect();
        resp.sort_unstable_by_key(|(k, _)| **k);
        for (k, v) in resp {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&v.req.to_le_bytes());
            out.extend_from_slice(&v.day.to_le_bytes());
            out.push(u8::from(v.sidechain) | if v.usage.is_some() { 2 } else { 0 });
            if let Some(u) = v.usage {
                for n in u {
                    out.extend_from_slice(&n.to_le_bytes());
                }
            }
        }
        let sum = fnv64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Parses [`Seen::encode`]'s form; returns the table and its sequence
    /// number, or why the bytes are unusable.
    pub fn decode(bytes: &[u8]) -> Result<(Seen, u64), String> {
        if bytes.len() < MAGIC.len() + 32 || !bytes.starts_with(MAGIC) {
            return Err("not a telemetron seen table (bad magic or too short)".into());
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        if fnv64(body) != u64::from_le_bytes(sum.try_into().expect("8 bytes")) {
            return Err("checksum mismatch (truncated or damaged)".into());
        }
        let mut r = Reader { b: body, at: MAGIC.len() };
        let seq = r.u64()?;
        let n_once = r.u64()?;
        let n_resp = r.u64()?;
        let mut seen = Seen::default();
        for _ in 0..n_once {
            let k = r.u64()?;
            let d = r.u16()?;
            seen.once.insert(k, d);
        }
        for _ in 0..n_resp {
            let k = r.u64()?;
            let req = r.u32()?;
            let day = r.u16()?;
            let flags = r.u8()?;
            let usage =
                if flags & 2 != 0 { Some([r.u32()?, r.u32()?, r.u32()?, r.u32()?]) } else { None };
            seen.responses.insert(k, Known { req, sidechain: flags & 1 != 0, day, usage });
        }
        if r.at != body.len() {
            return Err("trailing bytes".into());
        }
        Ok((seen, seq))
    }
}

/// File magic and format version of the seen table.
const MAGIC: &[u8; 8] = b"TLMSEEN1";

/// A bounds-checked little-endian reader.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let s = self.b.get(self.at..self.at + N).ok_or("truncated entry")?;
        self.at += N;
        Ok(s.try_into().expect("N bytes"))
    }
    fn u64(&mut self) -> Result<u64, String> {
        self.take::<8>().map(u64::from_le_bytes)
    }
    fn u32(&mut self) -> Result<u32, String> {
        self.take::<4>().map(u32::from_le_bytes)
    }
    fn u16(&mut self) -> Result<u16, String> {
        self.take::<2>().map(u16::from_le_bytes)
    }
    fn u8(&mut self) -> Result<u8, String> {
        self.take::<1>().map(|b| b[0])
    }
}

/// Settles the claims of one run against the table, adding what is new to
/// `counts`. Claims must come in path order (files resumed and new alike),
/// so that the result does not depend on thread timing.
///
/// What one file's claims count is added up apart first, then into
/// `counts` at once: a file's thousands of responses name a few series and
/// hours, and `counts` (the run's, of every hour) is the larger map to
/// search: a cold scan of the Claude Code home took 4% less time so, the
/// settling being on the thread that waits for the files' results.
pub fn resolve(claims: &Claims, seen: &mut Seen, counts: &mut Counts, today: u16) {
    let mut file = Counts::default();
    for (id, series, hour) in &claims.once {
        if seen.once(*id, today) {
            file.add_at(*series, *hour, 1);
        }
    }
    for (id, record) in &claims.records {
        if seen.once(*id, today) {
            file.merge_ref(record);
        }
    }
    for r in &claims.responses {
        file.under_hour(r.hour, |c| {
            let more = match seen.response(r, today) {
                Verdict::New => {
                    c.incr(r.turn);
                    r.usage
                }
                Verdict::Known(more) => more,
            };
            add_usage(c, r.pack, r.model, more, r.cache_write_1h.min(more[2]));
        });
    }
    counts.merge(file);
}

/// Days since the Unix epoch of a Unix time in nanoseconds.
pub fn day_of(unix_nano: u64) -> u16 {
    u16::try_from(unix_nano / 86_400_000_000_000).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Family, Outcome, SessionType};

    fn resp(msg: &str, req: &str, side: bool, out: u64) -> Response {
        Response {
            msg: key(b'm', &[msg]),
            req: key(b'r', &[req]) as u32,
            sidechain: side,
            usage: [10, 0, 0, out],
            cache_write_1h: 0,
            hour: 0,
            turn: Series::AgentTurn {
                pack: Pack::ClaudeCode,
                outcome: Outcome::Success,
                family: Family::Anthropic,
                session_type: if side { SessionType::Subagent } else { SessionType::Main },
            },
            model: ModelRef::UNKNOWN,
            pack: Pack::ClaudeCode,
            open: false,
        }
    }

    fn settle(seen: &mut Seen, rs: &[Response]) -> u64 {
        let mut file = Claims::default();
        for r in rs {
            file.response(r.clone());
        }
        let mut c = Claims::default();
        c.append(file);
        let mut counts = Counts::default();
        resolve(&c, seen, &mut counts, 20_000);
        counts.iter().filter(|(s, _)| matches!(s, Series::TokenUsage { .. })).map(|(_, n)| n).sum()
    }

    #[test]
    fn split_response_counts_its_largest_copy_once_across_runs() {
        let mut seen = Seen::default();
        assert_eq!(settle(&mut seen, &[resp("m1", "r1", false, 1)]), 11);
        assert_eq!(settle(&mut seen, &[resp("m1", "r1", false, 500)]), 499);
        assert_eq!(settle(&mut seen, &[resp("m1", "r1", false, 500)]), 0);
        assert_eq!(settle(&mut seen, &[resp("m1", "r1", false, 3)]), 0);
    }

    #[test]
    fn sidechain_replays_with_new_request_ids_are_copies() {
        let mut seen = Seen::default();
        assert_eq!(settle(&mut seen, &[resp("m1", "r1", false, 5)]), 15);
        assert_eq!(settle(&mut seen, &[resp("m1", "r9", true, 5)]), 0);
        // Without a sidechain on either side, another request id is
        // another response.
        assert_eq!(settle(&mut seen, &[resp("m1", "r2", false, 5)]), 15);
        assert_eq!(settle(&mut seen, &[resp("m1", "r2", false, 5)]), 0);
    }

    #[test]
    fn encode_decode_round_trips_and_detects_damage() {
        let mut seen = Seen::default();
        settle(&mut seen, &[resp("a", "b", false, 7), resp("c", "d", true, 1)]);
        seen.once(key(b't', &["toolu_1"]), 19_000);
        seen.dirty = false;
        let bytes = seen.encode(42);
        let (back, seq) = Seen::decode(&bytes).unwrap();
        assert_eq!((back, seq), (seen.clone(), 42));
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(Seen::decode(&bad).is_err());
        assert!(Seen::decode(&bytes[..bytes.len() - 3]).is_err());
        assert!(Seen::decode(b"garbage").is_err());
    }

    #[test]
    fn prune_forgets_old_entries_and_old_usage() {
        let mut seen = Seen::default();
        seen.once(1, 100);
        seen.once(2, 200);
        seen.response(&Response { open: true, ..resp("m", "r", false, 1) }, 190);
        seen.prune(200);
        assert_eq!(seen.once.len(), 1);
        assert!(seen.responses.values().all(|k| k.usage.is_none()));
        assert_eq!(settle(&mut seen, &[resp("m", "r", false, 900)]), 0);
    }

    #[test]
    fn a_complete_response_keeps_no_usage_and_its_copies_add_nothing() {
        let mut seen = Seen::default();
        // Two responses in one file: the first is complete, the last open.
        assert_eq!(settle(&mut seen, &[resp("a", "r", false, 5), resp("b", "r", false, 1)]), 26);
        assert_eq!(seen.responses.values().filter(|k| k.usage.is_some()).count(), 1);
        assert_eq!(settle(&mut seen, &[resp("a", "r", false, 50)]), 0);
        assert_eq!(settle(&mut seen, &[resp("b", "r", false, 9)]), 8);
    }

    #[test]
    fn month_of_heavy_use_fits_in_four_mib() {
        // 100,000 responses (usage kept), one tool call each, 20,000
        // prompts and 2,000 sessions: the README's figure.
        let mut seen = Seen::default();
        for i in 0..100_000u32 {
            let r = resp(&format!("msg_{i}"), &format!("req_{i}"), false, 100);
            seen.response(&r, 20_000);
            seen.once(key(b't', &[&format!("toolu_{i}")]), 20_000);
        }
        for i in 0..22_000u32 {
            seen.once(key(b'u', &[&format!("uuid-{i}")]), 20_000);
        }
        // One open response per file (2,000 files).
        for i in 0..2_000u32 {
            let r = Response { open: true, ..resp(&format!("open_{i}"), "r", false, 1) };
            seen.response(&r, 20_000);
        }
        let n = seen.encode(1).len();
        // README: "about 2.8 MB".
        assert!((2_600_000..3_000_000).contains(&n), "{n} bytes: update the README figure");
    }
}
