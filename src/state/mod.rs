//! The state directory: offsets, totals and the batch in flight.
//!
//! Two JSON files live there, both replaced atomically (temp file in the
//! same directory, fsync, rename, fsync of the directory):
//!
//! - `state.json` is what has been acknowledged: per-file offsets and
//!   fingerprints, the running total of every series, and the time of the
//!   last acknowledged export. It only changes after a 2xx.
//! - `pending.json` is the batch built but not yet acknowledged: the exact
//!   points sent and what `state.json` becomes once they are. It is written
//!   before the request goes out, so a run killed at any moment leaves
//!   either nothing in flight (the bytes are read again) or a batch the
//!   next run re-sends unchanged.
//!
//! A third file, `telemetron.lock`, is only ever locked, never written.

pub mod boxed;
pub mod bytes;
pub mod claims;
pub mod go_import;
pub mod history;
pub mod install_id;
pub mod positions;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::agents::claude_code::records::ClaudeState;
use crate::agents::codex::records::CodexState;
use crate::agents::gemini_cli::records::GeminiState;
use crate::agents::pi::records::PiState;
use crate::metrics::SeriesKey;
use crate::state::positions::PositionsFile;

/// Version of the files written by this build.
pub const STATE_VERSION: u32 = 1;

/// `state.json`: everything acknowledged so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Format version; see [`STATE_VERSION`].
    pub version: u32,
    /// When this state was first created (the start of the first window).
    pub created_unix_nano: u64,
    /// Time of the last acknowledged export (start of the next delta
    /// window).
    pub last_ack_unix_nano: u64,
    /// Sequence number of the last acknowledged batch.
    pub last_ack_seq: u64,
    /// Acknowledged running total of every series.
    pub series: BTreeMap<SeriesKey, SeriesTotal>,
    /// Per-file reading position, keyed by path. Kept in `files.json`,
    /// which is rewritten only when a file's position changed.
    #[serde(skip)]
    pub files: BTreeMap<String, FileState>,
    /// True when `files.json` must be rewritten whole at the next commit
    /// (first run, recovery, imported positions, a damaged `files.log`);
    /// ordinary changes go to `files.log` instead (see [`State::files_delta`]).
    #[serde(skip)]
    pub files_dirty: bool,
    /// Changes to `files` since the last commit, appended to `files.log` by
    /// the next commit.
    #[serde(skip)]
    pub files_delta: FilesDelta,
    /// Where `files.json` and `files.log` stand on disk.
    #[serde(skip)]
    pub files_store: FilesStore,
    /// True when an applied batch carries a new seen table
    /// (`seen.next.bin`) that the commit must put in place.
    #[serde(skip)]
    pub promote_seen: bool,
    /// Points the collector refused for good (a 400/413/422 answer, or the
    /// rejected points of a `partialSuccess`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub dropped_points: u64,
    /// Batches dropped whole because the collector refused them for good.
    #[serde(default, skip_serializing_if = "is_default")]
    pub dropped_batches: u64,
    /// What the last committed run found on disk, when its positions
    /// cover every session file exactly as found: a run that finds the
    /// same need not load `files.json` at all (see [`Unchanged`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<Unchanged>,
    /// The fingerprint of the session files this run found, when the
    /// positions about to be committed cover all of them as found; the
    /// next commit records it as [`State::unchanged`].
    #[serde(skip)]
    pub covered: Option<u64>,
    /// False when `files` was not loaded (nothing changed since the last
    /// run); nothing may then be written to the positions.
    #[serde(skip)]
    pub files_unloaded: bool,
    /// The history rows of the batches applied since the last commit, by
    /// sequence number: the commit adds them to the history.
    #[serde(skip)]
    pub history_batches: Vec<(u64, Vec<history::Row>)>,
    /// The entries of `positions.bin` left out of `files` when loading
    /// (files found exactly as their entry left them), and what was kept
    /// of them; the commit that rewrites `positions.bin` copies them over.
    #[serde(skip)]
    pub skipped: Option<positions::Skipped>,
    /// Keys removed since `positions.bin` was written (by the frames of
    /// `positions.log` and by the batches applied since): its entries of
    /// these keys are not copied over.
    #[serde(skip)]
    pub removed_since_base: std::collections::BTreeSet<String>,
}

/// The session files a run found and the position files it committed, in
/// a few numbers: when a later run finds the same, no file has new bytes,
/// and the positions need not be loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unchanged {
    /// [`sources_fingerprint`] of the files found.
    pub sources: u64,
    /// Length and modification time of `files.json` and of `files.log`
    /// (zeros when absent) as committed: any other writer shows.
    pub files: [u64; 4],
}

/// A fingerprint of the session files found: every path with its device,
/// inode, size and modification time. A path comes in two parts (its
/// directory and its name, or the whole path and nothing), hashed as one.
pub fn sources_fingerprint<'a>(found: impl Iterator<Item = ([&'a [u8]; 2], [u64; 4])>) -> u64 {
    // Fed through a buffer: the hash of the same bytes, without a call
    // into the hasher for each small piece.
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = Vec::with_capacity(1 << 16);
    for ([dir, name], meta) in found {
        buf.extend_from_slice(dir);
        buf.extend_from_slice(name);
        buf.push(0);
        for m in meta {
            buf.extend_from_slice(&m.to_le_bytes());
        }
        if buf.len() >= 1 << 16 {
            h.update(&buf);
            buf.clear();
        }
    }
    h.update(&buf);
    h.digest()
}

/// A series' acknowledged running total and the fixed start of its
/// cumulative stream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesTotal {
    /// Start of the cumulative stream; never changes once set.
    pub start_unix_nano: u64,
    /// Total counted since then.
    pub total: u64,
}

/// Where reading of one file stopped, and how to recognise the file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileState {
    /// Pack that owns the file.
    pub pack: String,
    /// Device and inode when last read (a hint: see `scan`).
    pub dev: u64,
    /// Inode number when last read.
    pub ino: u64,
    /// Byte just past the last complete line counted.
    pub offset: u64,
    /// File size when last read.
    pub size: u64,
    /// Modification time when last read, in nanoseconds.
    pub mtime_ns: i64,
    /// Length of the fingerprinted head (at most [`HEAD_LEN`]).
    pub head_len: u32,
    /// FNV-1a of the first `head_len` bytes.
    pub head_hash: u64,
    /// Length of the fingerprinted bytes just before `offset`.
    pub tail_len: u32,
    /// FNV-1a of the `tail_len` bytes before `offset`.
    pub tail_hash: u64,
    /// Content identity of the bytes before `offset`: their chained hash
    /// (see [`crate::sources::identity`]). Absent in states written before
    /// it existed; computed when such a file next changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<u64>,
    /// The identity's chain at the last block boundary before `offset`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub chain: u64,
    /// FNV-1a of the file's first line (at most [`HEAD_LEN`] bytes; 0 when
    /// unknown): a file that starts with the same line but no longer holds
    /// what was counted is this file rewritten or restored from an older
    /// copy.
    #[serde(default, skip_serializing_if = "is_default")]
    pub first_line: u64,
    /// Session type decided when the file was first seen.
    pub session_type: String,
    /// Complete lines counted from this file so far.
    pub lines: u64,
    /// When the file was first found missing (pruned after a grace period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_since_unix_nano: Option<u64>,
    /// Context of the pi format.
    #[serde(default, skip_serializing_if = "is_default")]
    pub pi: boxed::Boxed<PiState>,
    /// Context of the Claude Code format.
    #[serde(default, skip_serializing_if = "is_default")]
    pub claude: boxed::Boxed<ClaudeState>,
    /// Context of the Codex format.
    #[serde(default, skip_serializing_if = "is_default")]
    pub codex: boxed::Boxed<CodexState>,
    /// Context of the Gemini CLI format.
    #[serde(default, skip_serializing_if = "is_default")]
    pub gemini: boxed::Boxed<GeminiState>,
    /// What was counted of a Hermes session.
    #[serde(default, skip_serializing_if = "is_default")]
    pub hermes: boxed::Boxed<crate::agents::hermes::records::HermesState>,
    /// Context of the agents of usage records ([`crate::agents::usage`]).
    #[serde(default, skip_serializing_if = "is_default")]
    pub usage: boxed::Boxed<crate::agents::usage::UsageState>,
}

/// True for a value equal to its type's default.
fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// How many bytes of a file's start identify it.
pub const HEAD_LEN: u32 = 1024;
/// How many bytes before the offset must still match on the next run.
pub const TAIL_LEN: u32 = 64;

/// `pending.json`: a batch that was built and maybe sent, but not
/// acknowledged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    /// Format version; see [`STATE_VERSION`].
    pub version: u32,
    /// Sequence number (one more than the state's `last_ack_seq` when
    /// built).
    pub seq: u64,
    /// `delta` or `cumulative`: the mode the points were built in.
    pub temporality: String,
    /// `timeUnixNano` of every point.
    pub time_unix_nano: u64,
    /// The points exactly as sent.
    pub points: Vec<Point>,
    /// Series totals once acknowledged (only the series that changed).
    pub series_after: BTreeMap<SeriesKey, SeriesTotal>,
    /// File states once acknowledged (only the files that changed), in
    /// the binary form of the positions (see [`positions::in_pending`]).
    #[serde(default, with = "positions::in_pending")]
    pub files_after: BTreeMap<String, FileState>,
    /// Files whose state entries go once acknowledged.
    pub files_removed: Vec<String>,
    /// True when `seen.next.bin` holds the seen table this batch commits.
    #[serde(default, skip_serializing_if = "is_default")]
    pub seen: bool,
    /// What the batch adds to the local history (hourly rollups).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<history::Row>,
    /// The `created_unix_nano` of the state it was built on (a first run
    /// killed before its first commit takes it up again, so that the
    /// history knows the batch).
    #[serde(default, skip_serializing_if = "is_default")]
    pub epoch: u64,
}

/// `files.json`: per-file reading positions (see [`State::files`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesFile {
    /// Format version; see [`STATE_VERSION`].
    pub version: u32,
    /// Which `files.log` lines apply to this file: those of the same
    /// generation (one more each time the log is folded in).
    #[serde(default, skip_serializing_if = "is_default")]
    pub generation: u64,
    /// Per-file reading position, keyed by path.
    pub files: BTreeMap<String, FileState>,
}

impl FilesFile {
    /// Serialises it with one entry per line, so that [`FilesFile::decode`]
    /// can parse the entries on several threads. Still one JSON document.
    pub fn encode(&self) -> serde_json::Result<Vec<u8>> {
        let mut out = format!(
            "{{\"version\":{},\"generation\":{},\"files\":{{\n",
            self.version, self.generation
        )
        .into_bytes();
        for (i, (k, v)) in self.files.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b",\n");
            }
            serde_json::to_writer(&mut out, k)?;
            out.push(b':');
            serde_json::to_writer(&mut out, v)?;
        }
        out.extend_from_slice(b"\n}}\n");
        Ok(out)
    }

    /// Parses a `files.json`: the layout [`FilesFile::encode`] writes is
    /// split into line ranges parsed in parallel; anything else (an older
    /// layout, a damaged file) is parsed whole, which also explains errors.
    pub fn decode(bytes: &[u8]) -> serde_json::Result<FilesFile> {
        Self::decode_lines(bytes).map_or_else(|| serde_json::from_slice(bytes), Ok)
    }

    /// The parallel path of [`FilesFile::decode`]; `None` when the layout
    /// is not the one written by [`FilesFile::encode`] or does not parse.
    fn decode_lines(bytes: &[u8]) -> Option<FilesFile> {
        use rayon::prelude::*;
        let first = memchr::memchr(b'\n', bytes)?;
        let head = bytes[..first].strip_suffix(b"\"files\":{")?;
        // `{"version":1,"generation":7,` read with the closing brace added.
        let mut probe = head.to_vec();
        *probe.last_mut()? = b'}';
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Head {
            version: u32,
            generation: u64,
        }
        let h: Head = serde_json::from_slice(&probe).ok()?;
        let body = bytes[first + 1..].strip_suffix(b"\n}}\n")?;
        if body.is_empty() {
            return Some(FilesFile {
                version: h.version,
                generation: h.generation,
                ..Default::default()
            });
        }
        let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
        // Chunks of whole entries; each becomes `{entry,entry,...}`.
        let per = lines.len().div_ceil(rayon::current_num_threads().max(1) * 2).max(256);
        let parts: Vec<Option<Entries>> = lines
            .par_chunks(per)
            .map(|chunk| {
                let mut doc =
                    Vec::with_capacity(chunk.iter().map(|l| l.len() + 1).sum::<usize>() + 2);
                doc.push(b'{');
                for (i, l) in chunk.iter().enumerate() {
                    let l = l.strip_suffix(b",").unwrap_or(l);
                    if i > 0 {
                        doc.push(b',');
                    }
                    doc.extend_from_slice(l);
                }
                doc.push(b'}');
                serde_json::from_slice(&doc).ok()
            })
            .collect();
        let mut all = Vec::with_capacity(lines.len());
        for p in parts {
            all.append(&mut p?.0);
        }
        // Sorted already (it was written from a map): a linear build.
        let files = all.into_iter().collect();
        Some(FilesFile { version: h.version, generation: h.generation, files })
    }
}

/// The entries of a JSON object of file states, in file order (cheaper to
/// gather from several threads than maps).
struct Entries(Vec<(String, FileState)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Entries, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of file states")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Entries, A::Error> {
                let mut v = Vec::with_capacity(m.size_hint().unwrap_or(0));
                while let Some(e) = m.next_entry()? {
                    v.push(e);
                }
                Ok(Entries(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// Where `files.json` and `files.log` stand on disk, as loaded or last
/// committed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilesStore {
    /// The generation of `files.json` (see [`FilesFile::generation`]).
    pub generation: u64,
    /// Bytes of `files.json`.
    pub base_len: u64,
    /// Bytes of `files.log` (whole lines of this generation or not).
    pub log_len: u64,
}

/// The longest `positions.log` a commit leaves: about 8,000 entries,
/// which a run loads whole (see [`FilesStore::should_fold`]).
pub const LOG_MAX: u64 = 1 << 20;

impl FilesStore {
    /// True when appending `more` bytes to the log makes it worth folding
    /// into `positions.bin`: past a quarter of it (so loading costs at
    /// most a quarter more than it must) or past [`LOG_MAX`] (a run holds
    /// the log's entries whole: about a kilobyte each, where those of
    /// `positions.bin` found unchanged are left out), and past 64 KiB (so
    /// small states are not rewritten on every run).
    fn should_fold(&self, more: u64) -> bool {
        self.log_len + more > (self.base_len / 4).clamp(64 << 10, LOG_MAX)
    }
}

/// The positions changed since the last commit: what the next frame of
/// `positions.log` holds (the states themselves are those of
/// [`State::files`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FilesDelta {
    /// The acknowledged batch this commit follows (informational).
    pub seq: u64,
    /// The keys whose state changed.
    pub changed: std::collections::BTreeSet<String>,
    /// Entries that went away.
    pub removed: Vec<String>,
}

impl FilesDelta {
    /// True when it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.removed.is_empty()
    }
}

/// One line of the legacy `files.log` (before `positions.log`): read once,
/// when a state directory of an older telemetron is taken over.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyDelta {
    /// The generation of `files.json` this line applies to.
    pub generation: u64,
    /// The acknowledged batch this commit followed.
    #[serde(default)]
    pub seq: u64,
    /// New states of the files that changed.
    #[serde(default)]
    pub files: BTreeMap<String, FileState>,
    /// Entries that went away.
    #[serde(default)]
    pub removed: Vec<String>,
}

/// One data point of a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// The series.
    pub key: SeriesKey,
    /// `startTimeUnixNano`.
    pub start_unix_nano: u64,
    /// `asInt`.
    pub value: u64,
}

impl State {
    /// A fresh state for a first run at `now`.
    pub fn new(now: u64) -> State {
        State {
            version: STATE_VERSION,
            created_unix_nano: now,
            last_ack_unix_nano: now,
            ..State::default()
        }
    }

    /// Applies an acknowledged batch.
    pub fn apply(&mut self, p: &Pending) {
        self.apply_owned(p.clone());
    }

    /// Applies an acknowledged batch, taking its file states (a first
    /// run's batch holds one per file: they are moved, not copied).
    pub fn apply_owned(&mut self, p: Pending) {
        self.series.extend(p.series_after);
        let delta = &mut self.files_delta;
        for k in p.files_removed {
            self.files.remove(&k);
            delta.changed.remove(&k);
            self.removed_since_base.insert(k.clone());
            delta.removed.push(k);
        }
        for (k, v) in p.files_after {
            // (All positions are written anyway when they are dirty.)
            if !self.files_dirty {
                delta.changed.insert(k.clone());
            }
            self.files.insert(k, v);
        }
        delta.seq = p.seq;
        if !p.history.is_empty() {
            self.history_batches.push((p.seq, p.history));
        }
        self.last_ack_unix_nano = p.time_unix_nano;
        self.last_ack_seq = p.seq;
        self.promote_seen |= p.seen;
    }
}

/// The paths of the files in a state directory.
#[derive(Clone, Debug)]
pub struct StateDir {
    /// The directory itself.
    pub dir: PathBuf,
}

/// What loading the state directory found.
#[derive(Debug)]
pub struct Loaded {
    /// The acknowledged state (fresh on a first run).
    pub state: State,
    /// The batch in flight, if any.
    pub pending: Option<Pending>,
    /// True when no state existed yet.
    pub first_run: bool,
    /// What was wrong and how it was recovered from, for the operator.
    pub recovered: Vec<String>,
    /// True when the state was lost beyond repair: files not in the state
    /// must then be read from their current end, so that history already
    /// delivered is not sent again.
    pub start_at_end: bool,
}

/// Why a state file could not be used.
enum LoadError {
    /// It could not be read (permissions, I/O): not something to repair.
    Io(anyhow::Error),
    /// It was read but is not a usable state (corrupt, truncated, empty,
    /// from a future version).
    Invalid(String),
}

impl StateDir {
    /// The state directory at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> StateDir {
        StateDir { dir: dir.into() }
    }

    /// `state.json`.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// `pending.json`.
    pub fn pending_path(&self) -> PathBuf {
        self.dir.join("pending.json")
    }

    /// `telemetron.lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join("telemetron.lock")
    }

    /// `install-id`.
    pub fn install_id_path(&self) -> PathBuf {
        self.dir.join("install-id")
    }

    /// `state.bak.json`: a copy of the last committed `state.json`.
    pub fn backup_path(&self) -> PathBuf {
        self.dir.join("state.bak.json")
    }

    /// `positions.bin`: per-file reading positions (see
    /// [`positions`]).
    pub fn positions_path(&self) -> PathBuf {
        self.dir.join("positions.bin")
    }

    /// `positions.log`: positions changed since `positions.bin` was
    /// written, one frame per commit.
    pub fn positions_log_path(&self) -> PathBuf {
        self.dir.join("positions.log")
    }

    /// `positions.bak.bin`: a copy of the last committed `positions.bin`.
    pub fn positions_backup_path(&self) -> PathBuf {
        self.dir.join("positions.bak.bin")
    }

    /// `files.json`: the positions as earlier versions kept them (JSON),
    /// read once to take such a state directory over.
    pub fn files_path(&self) -> PathBuf {
        self.dir.join("files.json")
    }

    /// `files.log`: the earlier versions' log of changed positions.
    pub fn files_log_path(&self) -> PathBuf {
        self.dir.join("files.log")
    }

    /// `files.bak.json`: the earlier versions' copy of `files.json`.
    pub fn files_backup_path(&self) -> PathBuf {
        self.dir.join("files.bak.json")
    }

    /// The seen table (records counted across files; see [`crate::state::claims`]).
    pub fn seen_path(&self) -> PathBuf {
        self.dir.join("seen.bin")
    }

    /// The seen table of the batch in flight.
    pub fn seen_next_path(&self) -> PathBuf {
        self.dir.join("seen.next.bin")
    }

    /// The last good copy of the seen table.
    pub fn seen_backup_path(&self) -> PathBuf {
        self.dir.join("seen.bak.bin")
    }

    /// Loads the seen table: the one of an applied but uncommitted batch
    /// when `next`, else the committed one, else its backup. A missing
    /// table is empty; an unusable one is reported (in `recovered`) and
    /// replaced by its backup or an empty table, so that at worst copies
    /// of old records are counted again, never a run lost.
    pub fn load_seen(&self, next: bool, recovered: &mut Vec<String>) -> crate::state::claims::Seen {
        use crate::state::claims::Seen;
        let mut paths = vec![self.seen_path(), self.seen_backup_path()];
        if next {
            paths.insert(0, self.seen_next_path());
        }
        let mut why = Vec::new();
        for p in &paths {
            match fs::read(p) {
                Ok(b) => match Seen::decode(&b) {
                    Ok((seen, _)) => {
                        if !why.is_empty() {
                            recovered.push(format!(
                                "{}; recovered from {}",
                                why.join("; "),
                                p.display()
                            ));
                        }
                        return seen;
                    }
                    Err(e) => why.push(format!("{}: {e}", p.display())),
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => why.push(format!("{}: {e}", p.display())),
            }
        }
        if !why.is_empty() {
            recovered.push(format!(
                "{}; starting an empty seen table (copied Claude Code records older than this run \
                 may be counted again)",
                why.join("; ")
            ));
        }
        Seen::default()
    }

    /// Durably writes the seen table of the batch `seq` about to be sent.
    pub fn write_seen_next(
        &self,
        seen: &crate::state::claims::Seen,
        seq: u64,
    ) -> anyhow::Result<()> {
        write_atomic(&self.seen_next_path(), &seen.encode(seq))
    }

    /// Loads the state, the file positions and the pending batch.
    ///
    /// Neither file existing is a first run. An unusable file (corrupt,
    /// truncated, empty, from a future version) is recovered from its
    /// backup when that is usable. Without one: lost totals start over
    /// (cumulative series restart), and lost file positions make every
    /// file be taken up from its current end ([`Loaded::start_at_end`]),
    /// so that history is not sent twice. With `repair` (a real run,
    /// holding the lock) unusable files are moved aside as
    /// `<name>.corrupt-<time>` for inspection; a dry run leaves them alone.
    /// A pending batch already covered by the state (the run died between
    /// committing and removing it) is dropped.
    pub fn load(&self, now: u64, repair: bool) -> anyhow::Result<Loaded> {
        self.load_unless_unchanged(now, repair, None, None)
    }

    /// True when `state.json` says the last run found exactly the session
    /// files fingerprinted `sources` and committed positions covering
    /// them, and nothing is pending: then
    /// [`StateDir::load_unless_unchanged`], which reads the same file
    /// first, loads no positions.
    pub fn unchanged_since(&self, sources: u64) -> bool {
        read_json::<State>(&self.state_path())
            .ok()
            .flatten()
            .is_some_and(|s| self.unchanged(&s, sources))
    }

    /// See [`StateDir::unchanged_since`].
    fn unchanged(&self, s: &State, sources: u64) -> bool {
        s.unchanged == Some(Unchanged { sources, files: self.files_stamp() })
            && !self.pending_path().exists()
    }

    /// [`StateDir::load`], but when the state says the last run found
    /// exactly the session files fingerprinted `sources` and committed
    /// positions covering them, and nothing is pending, the positions are
    /// not loaded ([`State::files_unloaded`]): no file has new bytes.
    /// Otherwise, with `leave`, the entries it gives a found file for
    /// (files found exactly as their entry left them) are left out of
    /// [`State::files`] ([`State::skipped`]).
    pub fn load_unless_unchanged(
        &self,
        now: u64,
        repair: bool,
        sources: Option<u64>,
        leave: Option<&positions::Leave<'_>>,
    ) -> anyhow::Result<Loaded> {
        let mut recovered = Vec::new();
        let (st, stb) = (self.state_path(), self.backup_path());
        let state = self.read_recovering::<State>(&st, &stb, now, repair, &mut recovered)?;
        let unchanged = |s: &State| sources.is_some_and(|h| self.unchanged(s, h));
        let state = match state {
            Got::Found(mut s) if recovered.is_empty() && unchanged(&s) => {
                s.files_unloaded = true;
                s.covered = sources;
                return Ok(Loaded {
                    state: s,
                    pending: None,
                    first_run: false,
                    recovered,
                    start_at_end: false,
                });
            }
            other => other,
        };
        let (pp, ppb) = (self.positions_path(), self.positions_backup_path());
        // The log first: the entries it changes are never left out.
        let log = read_if_there(&self.positions_log_path())?;
        let (frames, log_end) =
            log.as_deref().map_or((Vec::new(), None), positions::LogFrame::decode_all);
        let logged: std::collections::HashSet<&str> = frames
            .iter()
            .flat_map(|f| f.files.keys().chain(&f.removed))
            .map(String::as_str)
            .collect();
        let leave_unlogged =
            |k: &str, st: &FileState| leave.filter(|_| !logged.contains(k)).and_then(|l| l(k, st));
        let read = |p: &Path| read_positions(p, Some(&leave_unlogged));
        let (got, read_from) =
            self.read_recovering_with(&pp, &ppb, now, repair, &mut recovered, &read)?;
        let mut skipped = None;
        let mut files = match got {
            Got::Found((f, mut sk)) => {
                if !sk.heads.is_empty() {
                    sk.path = read_from;
                    skipped = Some(sk);
                }
                Got::Found(f)
            }
            Got::Missing => Got::Missing,
            Got::Lost => Got::Lost,
        };
        drop(logged);
        // A state directory of an earlier version: its JSON positions are
        // read once and written in the binary form by the next commit.
        let mut legacy = false;
        if matches!(files, Got::Missing) {
            let (fp, fpb) = (self.files_path(), self.files_backup_path());
            files =
                match self.read_recovering::<FilesFile>(&fp, &fpb, now, repair, &mut recovered)? {
                    Got::Found(f) => {
                        legacy = true;
                        Got::Found(PositionsFile {
                            version: f.version,
                            generation: f.generation,
                            files: f.files,
                        })
                    }
                    Got::Missing => Got::Missing,
                    Got::Lost => Got::Lost,
                };
        }
        let first_run = matches!((&state, &files), (Got::Missing, Got::Missing));
        let mut start_at_end = false;
        // A first run writes files.json even when no file was found, so
        // that a missing files.json later means it was lost.
        let fresh = !matches!(state, Got::Found(_));
        let mut st = match state {
            Got::Found(s) => s,
            Got::Missing if first_run => State::new(now),
            Got::Missing | Got::Lost => {
                recovered.push(format!(
                    "totals start over (cumulative series restart from now); file positions \
                     are {}",
                    if matches!(files, Got::Found(_)) { "intact" } else { "lost too" }
                ));
                State::new(now)
            }
        };
        match files {
            Got::Found(f) => {
                st.files = f.files;
                st.files_store.generation = f.generation;
                st.files_store.base_len = fs::metadata(&pp).map_or(0, |m| m.len());
            }
            Got::Missing if first_run => st.files_dirty = true,
            Got::Missing | Got::Lost => {
                start_at_end = true;
                st.files_dirty = true;
                recovered.push(format!(
                    "{} is unusable and has no usable backup, so every file is taken up from \
                     its current end: lines written meanwhile are not counted, and nothing \
                     already sent is sent again",
                    self.positions_path().display()
                ));
            }
        }
        if legacy {
            self.replay_legacy_log(&mut st, &mut recovered)?;
            st.files_dirty = true;
        } else {
            st.files_store.log_len = log.as_ref().map_or(0, |l| l.len() as u64);
            self.replay_positions_log(&mut st, frames, log_end, &mut recovered);
            st.skipped = skipped;
        }
        let pending = match read_json::<Pending>(&self.pending_path()) {
            Ok(Some(_)) if start_at_end => {
                recovered.push(format!(
                    "{} holds an unacknowledged batch whose file positions are lost; it is \
                     given up",
                    self.pending_path().display()
                ));
                None
            }
            Ok(Some(p)) if p.seq > st.last_ack_seq || first_run => {
                // A state started again takes up the epoch of the batch in
                // flight, which the history may already hold.
                if fresh && p.epoch != 0 {
                    st.created_unix_nano = p.epoch;
                }
                Some(p)
            }
            Ok(_) => None,
            Err(LoadError::Io(e)) => return Err(e),
            Err(LoadError::Invalid(why)) => {
                let aside = self.move_aside(&self.pending_path(), now, repair);
                recovered.push(format!(
                    "{why}{aside}; the unacknowledged batch in it is given up and its lines are \
                     read again"
                ));
                None
            }
        };
        Ok(Loaded { state: st, pending, first_run, recovered, start_at_end })
    }

    /// Applies the frames of `positions.log` of the loaded generation, in
    /// order. A frame cut short (a run died while appending it; that
    /// commit never completed, and its batch is still pending) or a
    /// damaged frame ends the replay, and the next commit folds what was
    /// read into a new `positions.bin`.
    fn replay_positions_log(
        &self,
        st: &mut State,
        frames: Vec<positions::LogFrame>,
        end: Option<positions::LogEnd>,
        recovered: &mut Vec<String>,
    ) {
        let path = self.positions_log_path();
        for f in frames {
            if f.generation == st.files_store.generation {
                st.removed_since_base.extend(f.removed.iter().cloned());
                f.apply_to(&mut st.files);
            }
        }
        if let Some(end) = end {
            st.files_dirty = true;
            if !end.torn {
                recovered.push(format!(
                    "{} {} at byte {}; the positions recorded from there on are lost, so \
                     those files are read again from the positions before",
                    path.display(),
                    end.why,
                    end.at
                ));
            }
        }
    }

    /// Applies the lines of the legacy `files.log` of the loaded
    /// generation, in order (see [`StateDir::replay_positions_log`]).
    fn replay_legacy_log(&self, st: &mut State, recovered: &mut Vec<String>) -> anyhow::Result<()> {
        let path = self.files_log_path();
        let Some(bytes) = read_if_there(&path)? else { return Ok(()) };
        for (n, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
            if !line.ends_with(b"\n") {
                break;
            }
            match serde_json::from_slice::<LegacyDelta>(line) {
                Ok(d) if d.generation == st.files_store.generation => {
                    for k in &d.removed {
                        st.files.remove(k);
                    }
                    st.files.extend(d.files);
                }
                Ok(_) => {}
                Err(e) => {
                    recovered.push(format!(
                        "{} line {} is corrupt ({e}); the positions recorded from there on are \
                         lost, so those files are read again from the positions before",
                        path.display(),
                        n + 1
                    ));
                    break;
                }
            }
        }
        Ok(())
    }

    /// Reads `path`, falling back to its backup `bak`; says what was wrong.
    fn read_recovering<T: Versioned>(
        &self,
        path: &Path,
        bak: &Path,
        now: u64,
        repair: bool,
        recovered: &mut Vec<String>,
    ) -> anyhow::Result<Got<T>> {
        self.read_recovering_with(path, bak, now, repair, recovered, &read_json).map(|(got, _)| got)
    }

    /// [`StateDir::read_recovering`] with its own parser; also says which
    /// file was read.
    fn read_recovering_with<T: Versioned>(
        &self,
        path: &Path,
        bak: &Path,
        now: u64,
        repair: bool,
        recovered: &mut Vec<String>,
        read: &dyn Fn(&Path) -> Result<Option<T>, LoadError>,
    ) -> anyhow::Result<(Got<T>, PathBuf)> {
        let why = match read(path) {
            Ok(Some(v)) => return Ok((Got::Found(v), path.to_path_buf())),
            Ok(None) => None,
            Err(LoadError::Io(e)) => return Err(e),
            Err(LoadError::Invalid(why)) => Some(why),
        };
        let aside = if why.is_some() { self.move_aside(path, now, repair) } else { String::new() };
        let got = match (read(bak), why) {
            (Ok(Some(v)), why) => {
                let what = why.unwrap_or_else(|| format!("{} is missing", path.display()));
                recovered.push(format!("{what}{aside}; recovered from {}", bak.display()));
                return Ok((Got::Found(v), bak.to_path_buf()));
            }
            (_, None) => Got::Missing,
            (_, Some(why)) => {
                recovered.push(format!("{why}{aside}"));
                Got::Lost
            }
        };
        Ok((got, path.to_path_buf()))
    }

    /// Renames an unusable file out of the way (when `repair`), returning
    /// words for the message.
    fn move_aside(&self, path: &Path, now: u64, repair: bool) -> String {
        if !repair {
            return String::new();
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
        let secs = now / 1_000_000_000;
        let aside = (0..)
            .map(|n| match n {
                0 => self.dir.join(format!("{name}.corrupt-{secs}")),
                n => self.dir.join(format!("{name}.corrupt-{secs}-{n}")),
            })
            .find(|p| !p.exists())
            .expect("an unused name");
        match fs::rename(path, &aside) {
            Ok(()) => format!(" (kept as {})", aside.display()),
            Err(_) => String::new(),
        }
    }

    /// Removes temp files left by a run that died while writing. Only call
    /// this while holding the run lock: another run's temp file is live.
    pub fn remove_stray_temp_files(&self) -> usize {
        let Ok(rd) = fs::read_dir(&self.dir) else { return 0 };
        let mut n = 0;
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let ours = name.starts_with(".state.json.")
                || name.starts_with(".state.bak.json.")
                || name.starts_with(".positions.bin.")
                || name.starts_with(".positions.bak.bin.")
                || name.starts_with(".pending.json.")
                || name.starts_with(".seen.next.bin.")
                || name.starts_with(".status.json.")
                || name.starts_with(".install-id.");
            if ours && name.ends_with(".tmp") && fs::remove_file(e.path()).is_ok() {
                n += 1;
            }
        }
        // And the history's (`.<month>.bin.<random>.tmp`).
        let history = history::HistoryDir::new(&self.dir).dir;
        for e in fs::read_dir(&history).into_iter().flatten().flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.')
                && name.contains(".bin.")
                && name.ends_with(".tmp")
                && fs::remove_file(e.path()).is_ok()
            {
                n += 1;
            }
        }
        n
    }

    /// Durably records a batch as in flight.
    pub fn write_pending(&self, p: &Pending) -> anyhow::Result<()> {
        write_json_atomic(&self.pending_path(), p)?;
        crate::failpoint::hit("after-pending");
        Ok(())
    }

    /// Durably commits the acknowledged state and clears the batch in
    /// flight. `files.json` is rewritten only when a file position changed
    /// (an idle run writes a few hundred bytes, not one entry per file).
    /// Each file is written before `state.json`: should the run die
    /// between the two, the pending batch is still there and applying it
    /// again is idempotent. Copies go to `*.bak.json` (best effort, not
    /// synced: they only matter if a main file is later found unusable).
    pub fn commit(&self, state: &mut State) -> anyhow::Result<()> {
        if state.files_unloaded && (state.files_dirty || !state.files_delta.is_empty()) {
            anyhow::bail!("internal error: file positions changed but were never loaded");
        }
        if state.promote_seen {
            // Put the batch's seen table in place before the state says
            // the batch was acknowledged. Already gone: a run that died
            // after this step promoted it.
            let next = self.seen_next_path();
            match fs::rename(&next, self.seen_path()) {
                Ok(()) => {
                    sync_dir(&self.dir).map_err(|e| with_path(e, &self.dir))?;
                    let _ = fs::copy(self.seen_path(), self.seen_backup_path());
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(with_path(e, &next)),
            }
            state.promote_seen = false;
        }
        self.commit_files(state)?;
        // The history before the state that acknowledges its batches: a
        // batch added there whose commit is cut short is recognised when
        // it is applied again (see `history`).
        let history = history::HistoryDir::new(&self.dir);
        for (seq, rows) in std::mem::take(&mut state.history_batches) {
            history.apply(state.created_unix_nano, seq, &rows)?;
        }
        crate::failpoint::hit("after-history");
        state.unchanged =
            state.covered.map(|sources| Unchanged { sources, files: self.files_stamp() });
        let bytes = serde_json::to_vec(state)?;
        write_atomic(&self.state_path(), &bytes)?;
        crate::failpoint::hit("after-commit");
        let _ = write_file_replace(&self.backup_path(), &bytes, false);
        match fs::remove_file(self.pending_path()) {
            Ok(()) => sync_dir(&self.dir).map_err(|e| with_path(e, &self.dir)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(with_path(e, &self.pending_path())),
        }
    }
}

impl StateDir {
    /// Length and modification time of `positions.bin` and
    /// `positions.log`.
    fn files_stamp(&self) -> [u64; 4] {
        let stamp = |p: PathBuf| {
            fs::metadata(p).map_or((0, 0), |m| {
                use std::os::unix::fs::MetadataExt;
                (
                    m.len(),
                    (m.mtime() as u64)
                        .wrapping_mul(1_000_000_000)
                        .wrapping_add(m.mtime_nsec() as u64),
                )
            })
        };
        let (a, b) = (stamp(self.positions_path()), stamp(self.positions_log_path()));
        [a.0, a.1, b.0, b.1]
    }

    /// Makes the file positions durable: the changes since the last commit
    /// are appended to `positions.log` as one frame, unless
    /// `positions.bin` must be rewritten anyway or the log has grown
    /// enough to be folded into it. Folding writes `positions.bin` with the
    /// next generation, which retires every frame of the log at once; the
    /// log is then removed (and so are the JSON positions of an earlier
    /// version, once taken over).
    fn commit_files(&self, state: &mut State) -> anyhow::Result<()> {
        static COMMITTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        let first = !COMMITTED.swap(true, std::sync::atomic::Ordering::Relaxed);
        let store = state.files_store;
        // Rewritten whole anyway: no frame.
        let frame = if state.files_delta.is_empty() || state.files_dirty {
            None
        } else {
            let d = &state.files_delta;
            let changed = d
                .changed
                .iter()
                .filter_map(|k| state.files.get_key_value(k))
                .map(|(k, v)| (k.as_str(), v));
            Some(positions::LogFrame::encode(store.generation, d.seq, changed, &d.removed))
        };
        let fold =
            state.files_dirty || frame.as_ref().is_some_and(|l| store.should_fold(l.len() as u64));
        if fold {
            let generation = store.generation + 1;
            // Written as it is made, never held whole (a first run's file
            // holds every file's position).
            let path = self.positions_path();
            let mut damaged = None;
            let mut written = positions::Written::default();
            write_replace_with(&path, true, &mut |f| {
                written = match &state.skipped {
                    // Entries were left out: they are copied from the file
                    // they were read from.
                    Some(sk) => {
                        let removed = &state.removed_since_base;
                        match sk.merge_into(generation, &state.files, removed, &mut *f)? {
                            Ok(w) => w,
                            Err(why) => {
                                damaged = Some(why);
                                return Err(io::Error::other("not written"));
                            }
                        }
                    }
                    None => positions::write_file(STATE_VERSION, generation, &state.files, f)?,
                };
                Ok(())
            })
            .map_err(|e| match (&damaged, &state.skipped) {
                (Some(why), Some(sk)) => {
                    anyhow::anyhow!("{} {why}; run again", sk.path.display())
                }
                _ => e,
            })?;
            if let Some(sk) = &mut state.skipped {
                sk.spans = std::mem::take(&mut written.spans);
                sk.bounds = std::mem::take(&mut written.bounds);
                sk.path = path.clone();
            }
            state.removed_since_base.clear();
            let _ = copy_replace(&path, &self.positions_backup_path());
            for old in [
                self.positions_log_path(),
                self.files_path(),
                self.files_log_path(),
                self.files_backup_path(),
            ] {
                match fs::remove_file(&old) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(with_path(e, &old)),
                }
            }
            state.files_store =
                FilesStore { generation: store.generation + 1, base_len: written.len, log_len: 0 };
        } else if let Some(frame) = frame {
            let path = self.positions_log_path();
            let mut f = private_append().open(&path).map_err(|e| with_path(e, &path))?;
            if crate::failpoint::armed("mid-positions-log") && first {
                // The run's first commit dies halfway through its frame.
                f.write_all(&frame[..frame.len() / 2]).map_err(|e| with_path(e, &path))?;
                f.sync_data().map_err(|e| with_path(e, &path))?;
                crate::failpoint::hit("mid-positions-log");
            }
            f.write_all(&frame).map_err(|e| with_path(e, &path))?;
            f.sync_data().map_err(|e| with_path(e, &path))?;
            if store.log_len == 0 {
                // The log may be new: make its name durable too.
                sync_dir(&self.dir).map_err(|e| with_path(e, &self.dir))?;
            }
            state.files_store.log_len += frame.len() as u64;
        }
        state.files_dirty = false;
        state.files_delta = FilesDelta::default();
        Ok(())
    }
}

/// What reading a file with a backup found.
enum Got<T> {
    /// A usable file (maybe the backup).
    Found(T),
    /// Neither the file nor its backup exists.
    Missing,
    /// The file is unusable and no usable backup exists.
    Lost,
}

/// Reads and parses a JSON file; `Ok(None)` when it does not exist.
fn read_json<T: Versioned>(path: &Path) -> Result<Option<T>, LoadError> {
    read_json_with(path, &T::decode)
}

/// [`read_json`] with its own parser.
fn read_json_with<T: Versioned>(
    path: &Path,
    decode: &dyn Fn(&[u8]) -> Result<T, String>,
) -> Result<Option<T>, LoadError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LoadError::Io(cannot_read(path, e))),
    };
    let invalid = |what: String| LoadError::Invalid(format!("{} {what}", path.display()));
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid("is empty".into()));
    }
    // One parse in the common case; the version is only probed to explain
    // a failure.
    of_version(path, decode(&bytes)).map(Some)
}

/// A parsed state file, refused when another version wrote it; or why it
/// does not parse, in words that follow its name.
fn of_version<T: Versioned>(path: &Path, got: Result<T, String>) -> Result<T, LoadError> {
    let invalid = |what: String| LoadError::Invalid(format!("{} {what}", path.display()));
    match got {
        Ok(v) if v.version() != STATE_VERSION => Err(invalid(format!(
            "was written with state version {} (this telemetron reads {STATE_VERSION})",
            v.version()
        ))),
        Ok(v) => Ok(v),
        Err(why) => Err(invalid(why)),
    }
}

/// Reads `positions.bin` (see [`PositionsFile::read_leaving_out`]): a
/// window of blocks at a time, never the whole file at once; `Ok(None)`
/// when it does not exist.
fn read_positions(
    path: &Path,
    leave: Option<&positions::Leave<'_>>,
) -> Result<Option<(PositionsFile, positions::Skipped)>, LoadError> {
    let cannot = |e| LoadError::Io(cannot_read(path, e));
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(cannot(e)),
    };
    if file.metadata().map_err(cannot)?.len() == 0 {
        return Err(LoadError::Invalid(format!("{} is empty", path.display())));
    }
    let (f, mut sk) = positions_from(path, io::BufReader::with_capacity(1 << 16, &file), leave)?;
    if !sk.heads.is_empty() {
        // Entries were left out: their marks, or a whole entry a copy
        // turns out to share, may be read again. The file is kept open
        // (read at offsets, not from its cursor), so they come from the
        // file loaded whatever is renamed over `positions.bin` since.
        sk.loaded = positions::Loaded::new(file, sk.spans.clone());
    }
    Ok(Some((f, sk)))
}

/// [`read_positions`] from an open file.
fn positions_from(
    path: &Path,
    r: impl io::Read,
    leave: Option<&positions::Leave<'_>>,
) -> Result<(PositionsFile, positions::Skipped), LoadError> {
    // A failed read is the disk's problem, not damage to the file (which
    // would be moved aside): it is kept to be told as such.
    let mut r = KeepError { r, error: None };
    let got = PositionsFile::read_leaving_out(&mut r, leave);
    match r.error {
        Some(e) => Err(LoadError::Io(cannot_read(path, e))),
        None => of_version(path, got),
    }
}

/// A reader that keeps the first error it gives.
struct KeepError<R> {
    r: R,
    error: Option<io::Error>,
}

impl<R: io::Read> io::Read for KeepError<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.r.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted && self.error.is_none() {
                self.error = Some(io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}

/// Why a JSON state file does not parse, in words that follow its name.
fn explain_json(bytes: &[u8], e: serde_json::Error) -> String {
    match serde_json::from_slice::<VersionProbe>(bytes) {
        Ok(p) if p.version != STATE_VERSION => format!(
            "was written with state version {} (this telemetron reads {STATE_VERSION})",
            p.version
        ),
        Ok(_) => format!("is corrupt ({e})"),
        Err(_) => format!("is not a telemetron state file ({e})"),
    }
}

/// The contents of `path`, or `None` when it does not exist.
fn read_if_there(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(cannot_read(path, e)),
    }
}

/// A state file that cannot be read (permissions, I/O), said with its name
/// and what to check.
fn cannot_read(path: &Path, e: io::Error) -> anyhow::Error {
    anyhow::anyhow!("cannot read {}: {e}; check the state directory's permissions", path.display())
}

/// The files of the state directory carry a format version.
trait Versioned: Sized {
    /// The version the file was written with.
    fn version(&self) -> u32;

    /// Parses the file; says what is wrong otherwise.
    fn decode(bytes: &[u8]) -> Result<Self, String>;
}

/// The JSON files of the state directory.
macro_rules! json_versioned {
    ($($t:ty),*) => {$(
        impl Versioned for $t {
            fn version(&self) -> u32 {
                self.version
            }
            fn decode(bytes: &[u8]) -> Result<Self, String> {
                serde_json::from_slice(bytes).map_err(|e| explain_json(bytes, e))
            }
        }
    )*};
}

json_versioned!(State, Pending);

impl Versioned for (PositionsFile, positions::Skipped) {
    fn version(&self) -> u32 {
        self.0.version
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        PositionsFile::decode_leaving_out(bytes, None)
    }
}

impl Versioned for PositionsFile {
    fn version(&self) -> u32 {
        self.version
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        PositionsFile::decode(bytes)
    }
}

impl Versioned for FilesFile {
    fn version(&self) -> u32 {
        self.version
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        FilesFile::decode(bytes).map_err(|e| explain_json(bytes, e))
    }
}

/// Just the version field of a state file.
#[derive(Deserialize)]
struct VersionProbe {
    version: u32,
}

/// Options to append to (or create) a file of the state directory: mode
/// 0600, and never through a symbolic link (a link there was planted).
pub fn private_append() -> fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = fs::OpenOptions::new();
    o.create(true).append(true).mode(0o600).custom_flags(libc::O_NOFOLLOW);
    o
}

/// Creates a directory of telemetron's (and its missing parents) with mode
/// 0700; an existing one is left as it is.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Serialises `value` and atomically replaces `path` with it: a temp file
/// in the same directory, fsync, rename, fsync of the directory.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    // Streamed to the temp file: a first run's batch is large.
    write_replace_with(path, true, &mut |w| {
        let mut w = io::BufWriter::new(w);
        serde_json::to_writer(&mut w, value).map_err(io::Error::other)?;
        w.flush()
    })
}

/// Atomically and durably replaces `path` with `bytes` (see
/// [`write_json_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_file_replace(path, bytes, true)
}

/// Replaces an informational file (not synced: losing it loses nothing).
pub fn write_informational(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_file_replace(path, bytes, false)
}

/// Replaces `path` with `bytes` through a temp file and a rename; with
/// `durable`, the temp file and the directory are fsynced too.
fn write_file_replace(path: &Path, bytes: &[u8], durable: bool) -> anyhow::Result<()> {
    write_replace_with(path, durable, &mut |w| w.write_all(bytes))
}

/// Replaces `to` with a copy of `from` (not synced: for backups).
fn copy_replace(from: &Path, to: &Path) -> anyhow::Result<()> {
    let mut src = File::open(from).map_err(|e| with_path(e, from))?;
    write_replace_with(to, false, &mut |w| io::copy(&mut src, w).map(|_| ()))
}

/// [`write_file_replace`] of what `write` writes.
fn write_replace_with(
    path: &Path,
    durable: bool,
    write: &mut dyn FnMut(&mut File) -> io::Result<()>,
) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| with_path(e, dir))?;
    write(tmp.as_file_mut()).map_err(|e| with_path(e, tmp.path()))?;
    if !durable {
        tmp.persist(path).map_err(|e| with_path(e.error, path))?;
        return Ok(());
    }
    tmp.as_file().sync_all().map_err(|e| with_path(e, tmp.path()))?;
    crate::failpoint::hit("before-rename");
    tmp.persist(path).map_err(|e| with_path(e.error, path))?;
    sync_dir(dir).map_err(|e| with_path(e, dir))
}

/// Makes a rename inside `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Wraps an I/O error with the path it happened on.
fn with_path(e: io::Error, path: &Path) -> anyhow::Error {
    anyhow::anyhow!("{}: {e}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_positions_file_that_fails_to_read_is_a_read_error_not_damage() {
        // Half of a good file, then the disk fails: not to be moved aside
        // as corrupt (a truncated file is).
        let mut files = BTreeMap::new();
        for i in 0..2_000 {
            files.insert(
                format!("/h/s/{i:05}.jsonl"),
                FileState { offset: i, ..Default::default() },
            );
        }
        let bytes = positions::encode_file(STATE_VERSION, 1, &files);
        struct Fails<'a>(&'a [u8]);
        impl io::Read for Fails<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Err(io::Error::other("an I/O error"));
                }
                let n = buf.len().min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let path = Path::new("/s/positions.bin");
        let half = &bytes[..bytes.len() / 2];
        match positions_from(path, Fails(half), None) {
            Err(LoadError::Io(e)) => {
                let e = e.to_string();
                assert!(e.contains("cannot read /s/positions.bin: an I/O error"), "{e}");
            }
            Err(LoadError::Invalid(why)) => panic!("taken for damage: {why}"),
            Ok(_) => panic!("read whole"),
        }
        match positions_from(path, half, None) {
            Err(LoadError::Invalid(why)) => assert!(why.contains("is truncated"), "{why}"),
            Err(LoadError::Io(e)) => panic!("{e}"),
            Ok(_) => panic!("read whole"),
        }
        let (got, _) = positions_from(path, &bytes[..], None).map_err(|_| ()).unwrap();
        assert_eq!(got.files, files);
    }

    #[test]
    fn the_sources_fingerprint_is_one_xxh3_of_every_path_and_stat() {
        let found: Vec<(Vec<u8>, [u64; 4])> = (0..3000u64)
            .map(|i| {
                (
                    format!("/home/u/.pi/agent/sessions/p{}/s{i}.jsonl", i % 9).into_bytes(),
                    [1, i, i * 7, i << 20],
                )
            })
            .collect();
        let mut whole = Vec::new();
        for (p, m) in &found {
            whole.extend_from_slice(p);
            whole.push(0);
            for x in m {
                whole.extend_from_slice(&x.to_le_bytes());
            }
        }
        assert!(whole.len() > 2 << 16, "past the buffer, more than once");
        let got = sources_fingerprint(found.iter().map(|(p, m)| ([p.as_slice(), &[]], *m)));
        assert_eq!(got, xxhash_rust::xxh3::xxh3_64(&whole));
        // Split anywhere, the same.
        let split = sources_fingerprint(found.iter().map(|(p, m)| {
            let (a, b) = p.split_at(p.len() / 2);
            ([a, b], *m)
        }));
        assert_eq!(split, got);
    }

    fn sample() -> State {
        let mut s = State::new(5);
        s.series.insert(
            SeriesKey("pack.emitter.heartbeat{pack=telemetron}".into()),
            SeriesTotal { start_unix_nano: 5, total: 2 },
        );
        s.files.insert(
            "/h/.pi/agent/sessions/a.jsonl".into(),
            FileState {
                pack: "pi".into(),
                offset: 10,
                session_type: "main".into(),
                ..FileState::default()
            },
        );
        s.files_dirty = true;
        s
    }

    /// Commits and returns what a fresh load sees (dirty flag cleared).
    fn committed(sd: &StateDir, mut s: State) -> State {
        sd.commit(&mut s).unwrap();
        s
    }

    #[test]
    fn round_trips_through_disk() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        let s = committed(&sd, sample());
        let loaded = sd.load(99, true).unwrap();
        assert!(!loaded.first_run);
        assert_eq!(loaded.state, s);
        assert!(loaded.pending.is_none());
        assert!(loaded.recovered.is_empty());
    }

    #[test]
    fn missing_state_is_a_first_run() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = StateDir::new(dir.path()).load(7, true).unwrap();
        assert!(loaded.first_run);
        assert!(loaded.state.files_dirty, "a first run writes positions.bin");
        assert_eq!(loaded.state.created_unix_nano, 7);
        assert_eq!(loaded.state.last_ack_unix_nano, 7);
    }

    #[test]
    fn an_idle_commit_leaves_the_positions_alone() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        let mut s = committed(&sd, sample());
        let before = fs::metadata(sd.positions_path()).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        s.last_ack_seq += 1;
        sd.commit(&mut s).unwrap();
        assert_eq!(fs::metadata(sd.positions_path()).unwrap().modified().unwrap(), before);
        assert!(!sd.positions_log_path().exists());
        assert_eq!(sd.load(0, true).unwrap().state.last_ack_seq, s.last_ack_seq);
    }

    #[test]
    fn the_v1_format_is_pinned() {
        // Files written by this version must keep loading forever.
        let state = r#"{"version":1,"created_unix_nano":5,"last_ack_unix_nano":5,"last_ack_seq":0,
            "series":{"pack.emitter.heartbeat{pack=telemetron}":{"start_unix_nano":5,"total":2}}}"#;
        let files = r#"{"version":1,"files":{"/h/.pi/agent/sessions/a.jsonl":{"pack":"pi","dev":0,
            "ino":0,"offset":10,"size":0,"mtime_ns":0,"head_len":0,"head_hash":0,"tail_len":0,
            "tail_hash":0,"session_type":"main","lines":0}}}"#;
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        fs::write(sd.state_path(), state).unwrap();
        fs::write(sd.files_path(), files).unwrap();
        // The JSON positions of earlier versions are taken over: loaded,
        // then written as positions.bin by the next commit, which removes
        // them.
        fs::write(sd.files_log_path(), b"").unwrap();
        let mut want = sample();
        want.files_dirty = true;
        let mut got = sd.load(0, true).unwrap().state;
        assert_eq!(got, want);
        sd.commit(&mut got).unwrap();
        assert!(!sd.files_path().exists() && !sd.files_log_path().exists());
        let f = PositionsFile::decode(&fs::read(sd.positions_path()).unwrap()).unwrap();
        assert_eq!((f.version, f.generation), (1, 1));
        assert_eq!(f.files, want.files);
        let back: serde_json::Value =
            serde_json::from_slice(&fs::read(sd.state_path()).unwrap()).unwrap();
        assert_eq!(back, serde_json::from_str::<serde_json::Value>(state).unwrap());
        assert_eq!(sd.load(0, true).unwrap().state.files, want.files);
    }

    #[test]
    fn a_legacy_log_is_replayed_when_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        write_json_atomic(&sd.state_path(), &State::new(1)).unwrap();
        let files = FilesFile { version: 1, generation: 4, files: sample().files };
        fs::write(sd.files_path(), files.encode().unwrap()).unwrap();
        let line = LegacyDelta {
            generation: 4,
            seq: 2,
            files: [("/h/b.jsonl".to_string(), FileState { offset: 3, ..FileState::default() })]
                .into(),
            removed: vec!["/h/.pi/agent/sessions/a.jsonl".into()],
        };
        let old = LegacyDelta { generation: 3, ..line.clone() };
        let mut log = serde_json::to_vec(&old).unwrap();
        log.push(b'\n');
        log.extend(serde_json::to_vec(&line).unwrap());
        log.extend(b"\n{\"generation\":4,\"fi");
        fs::write(sd.files_log_path(), log).unwrap();
        let l = sd.load(0, true).unwrap();
        assert_eq!(l.state.files.keys().collect::<Vec<_>>(), ["/h/b.jsonl"]);
        assert!(l.state.files_dirty && l.recovered.is_empty(), "{:?}", l.recovered);
    }

    #[test]
    fn pending_is_kept_until_committed_and_dropped_when_stale() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        let mut s = committed(&sd, sample());
        let p = Pending { version: 1, seq: 1, time_unix_nano: 9, ..Pending::default() };
        sd.write_pending(&p).unwrap();
        assert_eq!(sd.load(0, true).unwrap().pending, Some(p.clone()));
        // Died after committing state.json but before removing pending.json.
        s.apply(&p);
        write_json_atomic(&sd.state_path(), &s).unwrap();
        assert!(sd.pending_path().exists());
        assert!(sd.load(0, true).unwrap().pending.is_none());
    }

    #[test]
    fn unusable_files_are_recovered_from_their_backups() {
        let bads: [&[u8]; 5] =
            [b"{\"version\":1,\"files\":", b"", b"\0\0\0", b"{\"version\":9}", b"[]"];
        for which in ["state.json", "positions.bin"] {
            for bad in bads {
                let dir = tempfile::tempdir().unwrap();
                let sd = StateDir::new(dir.path());
                let s = committed(&sd, sample());
                fs::write(dir.path().join(which), bad).unwrap();
                let mut l = sd.load(1_000_000_000_000, true).unwrap();
                // Only where the recovered positions.bin stands differs.
                l.state.files_store = s.files_store;
                assert_eq!(l.state, s, "{which} {bad:?}");
                assert!(!l.start_at_end);
                assert!(l.recovered[0].contains(which), "{:?}", l.recovered);
                assert!(dir.path().join(format!("{which}.corrupt-1000")).exists(), "moved aside");
            }
        }
    }

    #[test]
    fn lost_totals_restart_but_positions_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        let s = committed(&sd, sample());
        fs::write(sd.state_path(), b"garbage").unwrap();
        fs::remove_file(sd.backup_path()).unwrap();
        let l = sd.load(3, true).unwrap();
        assert!(!l.start_at_end);
        assert!(l.state.series.is_empty());
        assert_eq!(l.state.files, s.files);
        assert!(l.recovered.iter().any(|m| m.contains("totals start over")), "{:?}", l.recovered);
    }

    #[test]
    fn lost_positions_start_over_at_the_end_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        committed(&sd, sample());
        fs::write(sd.positions_path(), b"garbage").unwrap();
        fs::remove_file(sd.positions_backup_path()).unwrap();
        write_json_atomic(
            &sd.pending_path(),
            &Pending { version: 1, seq: 5, ..Pending::default() },
        )
        .unwrap();
        let l = sd.load(3, true).unwrap();
        assert!(l.start_at_end);
        assert!(!l.first_run);
        assert!(l.pending.is_none());
        assert!(l.state.files_dirty);
        let all = l.recovered.join("\n");
        assert!(all.contains("current end") && all.contains("given up"), "{all}");
    }

    #[test]
    fn corrupt_files_set_aside_in_the_same_second_do_not_overwrite_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        for _ in 0..3 {
            fs::write(sd.state_path(), b"garbage").unwrap();
            sd.load(5_000_000_000, true).unwrap();
        }
        let n = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("corrupt-5"))
            .count();
        assert_eq!(n, 3);
    }

    #[test]
    fn a_dry_run_does_not_move_anything_aside() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        fs::write(sd.state_path(), b"garbage").unwrap();
        sd.load(3, false).unwrap();
        assert_eq!(fs::read(sd.state_path()).unwrap(), b"garbage");
    }

    #[test]
    fn a_corrupt_pending_batch_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        committed(&sd, sample());
        fs::write(sd.pending_path(), b"{\"version\":1,\"seq\":").unwrap();
        let l = sd.load(3_000_000_000, true).unwrap();
        assert!(l.pending.is_none());
        assert_eq!(l.recovered.len(), 1);
        assert!(!sd.pending_path().exists());
    }

    /// A batch that moves file `name` to `offset`.
    fn moved_to(name: &str, offset: u64, seq: u64) -> Pending {
        let st = FileState { pack: "pi".into(), offset, ..FileState::default() };
        Pending {
            version: 1,
            seq,
            files_after: [(name.to_string(), st)].into(),
            ..Pending::default()
        }
    }

    #[test]
    fn changed_positions_are_appended_to_the_positions_log() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        let mut s = committed(&sd, sample());
        let base = fs::read(sd.positions_path()).unwrap();
        s.apply(&moved_to("/h/b.jsonl", 7, 1));
        sd.commit(&mut s).unwrap();
        let mut p = moved_to("/h/b.jsonl", 9, 2);
        p.files_removed.push("/h/.pi/agent/sessions/a.jsonl".into());
        s.apply(&p);
        sd.commit(&mut s).unwrap();
        assert_eq!(fs::read(sd.positions_path()).unwrap(), base, "positions.bin is not rewritten");
        let (frames, end) =
            positions::LogFrame::decode_all(&fs::read(sd.positions_log_path()).unwrap());
        assert!(end.is_none());
        assert_eq!(
            frames.iter().map(|f| (f.seq, f.files.len(), f.removed.len())).collect::<Vec<_>>(),
            [(1, 1, 0), (2, 1, 1)]
        );
        let loaded = sd.load(0, true).unwrap().state;
        assert_eq!(loaded.files, s.files);
        assert_eq!(loaded.files.keys().collect::<Vec<_>>(), ["/h/b.jsonl"]);
        assert_eq!(loaded.files["/h/b.jsonl"].offset, 9);
    }

    #[test]
    fn a_long_log_is_folded_into_a_new_generation() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        let mut s = committed(&sd, sample());
        assert_eq!(s.files_store.generation, 1);
        let mut seq = 0;
        while s.files_store.generation == 1 {
            seq += 1;
            s.apply(&moved_to(&format!("/h/{seq:04}-{}.jsonl", "x".repeat(200)), seq, seq));
            sd.commit(&mut s).unwrap();
            assert!(seq < 10_000, "never folded");
        }
        assert!(seq > 100, "folded after {seq} commits: too early");
        assert!(!sd.positions_log_path().exists(), "the log goes once folded in");
        let f = PositionsFile::decode(&fs::read(sd.positions_path()).unwrap()).unwrap();
        assert_eq!(f.generation, 2);
        assert_eq!(f.files, s.files);
        assert_eq!(sd.load(0, true).unwrap().state.files, s.files);
    }

    #[test]
    fn the_log_is_folded_past_a_quarter_of_the_positions_or_a_mebibyte() {
        let store = |base_len: u64, log_len: u64| FilesStore { generation: 1, base_len, log_len };
        // Small: 64 KiB at least.
        assert!(!store(1_000, 0).should_fold(60 << 10));
        assert!(store(1_000, 0).should_fold(70 << 10));
        // A quarter of the positions.
        assert!(!store(1 << 20, 200 << 10).should_fold(50 << 10));
        assert!(store(1 << 20, 200 << 10).should_fold(60 << 10));
        // Large: a mebibyte, not a quarter (a run holds the log's entries
        // whole).
        assert!(!store(40 << 20, 0).should_fold(LOG_MAX));
        assert!(store(40 << 20, 1).should_fold(LOG_MAX));
    }

    #[test]
    fn log_lines_of_an_older_generation_are_skipped() {
        // A run died after writing the new files.json, before removing the
        // log: replaying it would move positions back.
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        let mut s = committed(&sd, sample());
        s.apply(&moved_to("/h/b.jsonl", 7, 1));
        sd.commit(&mut s).unwrap();
        let log = fs::read(sd.positions_log_path()).unwrap();
        s.apply(&moved_to("/h/b.jsonl", 9, 2));
        s.files_dirty = true;
        sd.commit(&mut s).unwrap();
        fs::write(sd.positions_log_path(), log).unwrap();
        assert_eq!(sd.load(0, true).unwrap().state.files["/h/b.jsonl"].offset, 9);
    }

    #[test]
    fn a_torn_or_corrupt_log_line_ends_the_replay_and_is_folded_away() {
        for (tail, warned) in [(&b"TLMPOSLG\x01\0"[..], false), (b"garbage\n", true)] {
            let dir = tempfile::tempdir().unwrap();
            let sd = StateDir::new(dir.path());
            let mut s = committed(&sd, sample());
            s.apply(&moved_to("/h/b.jsonl", 7, 1));
            sd.commit(&mut s).unwrap();
            let first = fs::read(sd.positions_log_path()).unwrap();
            let mut log = first.clone();
            log.extend_from_slice(tail);
            if warned {
                // Frames after a damaged one are not applied either.
                log.extend_from_slice(&first);
            }
            fs::write(sd.positions_log_path(), &log).unwrap();
            let mut l = sd.load(0, true).unwrap();
            assert_eq!(l.state.files["/h/b.jsonl"].offset, 7);
            assert!(l.state.files_dirty, "the next commit folds the log");
            let at = format!(
                "positions.log has a frame that is not a positions frame at byte {}",
                first.len()
            );
            assert_eq!(l.recovered.iter().any(|m| m.contains(&at)), warned, "{:?}", l.recovered);
            sd.commit(&mut l.state).unwrap();
            assert!(!sd.positions_log_path().exists());
            assert_eq!(sd.load(0, true).unwrap().state.files["/h/b.jsonl"].offset, 7);
        }
    }

    #[test]
    fn files_json_is_parsed_in_parallel_line_ranges_and_older_layouts_still_load() {
        let mut f = FilesFile { version: 1, generation: 3, files: BTreeMap::new() };
        for i in 0..5000 {
            let st = FileState { pack: "pi".into(), offset: i, ..FileState::default() };
            f.files.insert(format!("/h/{i}\n\"é.jsonl"), st);
        }
        let bytes = f.encode().unwrap();
        assert_eq!(FilesFile::decode_lines(&bytes), Some(f.clone()));
        assert_eq!(serde_json::from_slice::<FilesFile>(&bytes).unwrap(), f, "still one document");
        let compact = serde_json::to_vec(&f).unwrap();
        assert_eq!(FilesFile::decode_lines(&compact), None);
        assert_eq!(FilesFile::decode(&compact).unwrap(), f);
        let empty = FilesFile { version: 1, ..FilesFile::default() };
        assert_eq!(FilesFile::decode(&empty.encode().unwrap()).unwrap(), empty);
        // A damaged entry is reported by the whole-document parse.
        let bad = String::from_utf8(bytes).unwrap().replacen("\"offset\":7,", "\"offset\":x,", 1);
        assert!(FilesFile::decode(bad.as_bytes()).is_err());
    }

    #[test]
    fn positions_are_not_loaded_when_the_same_files_are_found_again() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        let mut s = sample();
        s.covered = Some(42);
        sd.commit(&mut s).unwrap();
        let fast = sd.load_unless_unchanged(0, true, Some(42), None).unwrap().state;
        assert!(fast.files_unloaded && fast.files.is_empty());
        // An idle commit keeps the fingerprint; writing positions then is a bug.
        let mut idle = fast.clone();
        sd.commit(&mut idle).unwrap();
        assert!(sd.load_unless_unchanged(0, true, Some(42), None).unwrap().state.files_unloaded);
        idle.apply(&moved_to("/h/b.jsonl", 7, 1));
        assert!(sd.commit(&mut idle).is_err());
        // Other files found, or positions written by anyone else: loaded.
        let other = sd.load_unless_unchanged(0, true, Some(43), None).unwrap().state;
        assert!(!other.files_unloaded && other.files.len() == 1);
        fs::write(sd.positions_log_path(), b"").unwrap();
        let touched = sd.load_unless_unchanged(0, true, Some(42), None).unwrap().state;
        assert!(!touched.files_unloaded && touched.files.len() == 1);
        // Nor while a batch is pending.
        fs::remove_file(sd.positions_log_path()).unwrap();
        assert!(sd.load_unless_unchanged(0, true, Some(42), None).unwrap().state.files_unloaded);
        sd.write_pending(&moved_to("/h/b.jsonl", 7, 1)).unwrap();
        assert!(!sd.load_unless_unchanged(0, true, Some(42), None).unwrap().state.files_unloaded);
    }

    #[test]
    fn entries_left_out_are_copied_over_when_the_positions_are_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        let mut s = sample();
        for (i, name) in ["/h/b.jsonl", "/h/c.jsonl", "/h/d.jsonl"].iter().enumerate() {
            let st = FileState {
                pack: "pi".into(),
                offset: 5 + i as u64,
                head_len: 5,
                ..FileState::default()
            };
            s.files.insert(name.to_string(), st);
        }
        let all = committed(&sd, s).files;
        // d is logged (a later commit): never left out.
        let mut s = sd.load(0, true).unwrap().state;
        s.apply(&moved_to("/h/d.jsonl", 20, 1));
        sd.commit(&mut s).unwrap();
        let leave = |k: &str, _: &FileState| match k {
            "/h/b.jsonl" => Some(0),
            "/h/c.jsonl" => Some(1),
            "/h/d.jsonl" => Some(2),
            _ => None,
        };
        let l = sd.load_unless_unchanged(0, true, None, Some(&leave)).unwrap();
        let mut s = l.state;
        assert_eq!(
            s.files.keys().collect::<Vec<_>>(),
            ["/h/.pi/agent/sessions/a.jsonl", "/h/d.jsonl"]
        );
        let sk = s.skipped.clone().unwrap();
        assert_eq!(
            sk.heads.iter().map(|(i, h)| (*i, h.offset)).collect::<Vec<_>>(),
            [(0, 5), (1, 6)]
        );
        assert_eq!(sk.fetch_key("/h/c.jsonl").unwrap(), all["/h/c.jsonl"]);
        assert_eq!(sk.fetch_key("/h/x.jsonl"), None);
        // d's entry in the blocks is older than the log's, and was loaded.
        assert_eq!(sk.fetch_key("/h/d.jsonl"), None);
        assert_eq!(sk.fetch_key("/h/.pi/agent/sessions/a.jsonl"), None);
        assert_eq!(sk.left_out(3), [true, true, false]);
        assert_eq!(sk.entry_at(1).map(|(k, _)| k).as_deref(), Some("/h/c.jsonl"));
        // Once the found files left out are let go, their keys are
        // looked up in the positions.
        let mut detached = sk.clone();
        let key_of = |i: u32| ["/h/b.jsonl", "/h/c.jsonl", "/h/d.jsonl"][i as usize];
        assert!(!detached.holds("/h/b.jsonl"), "not before they are let go");
        detached.detach(|i| crate::hash::key_hash(key_of(i).as_bytes()));
        assert_eq!(detached.left_out(3), [false; 3]);
        assert!(detached.holds("/h/b.jsonl") && detached.holds("/h/c.jsonl"));
        assert!(!detached.holds("/h/d.jsonl") && !detached.holds("/h/x.jsonl"));
        assert_eq!(detached.reread_failed(), None);
        // c goes, e comes, and the positions are rewritten: b is copied over.
        let mut p = moved_to("/h/e.jsonl", 3, 2);
        p.files_removed.push("/h/c.jsonl".into());
        s.apply(&p);
        s.files_dirty = true;
        sd.commit(&mut s).unwrap();
        let back = sd.load(0, true).unwrap().state.files;
        assert_eq!(
            back.iter().map(|(k, v)| (k.as_str(), v.offset)).collect::<Vec<_>>(),
            [
                ("/h/.pi/agent/sessions/a.jsonl", 10),
                ("/h/b.jsonl", 5),
                ("/h/d.jsonl", 20),
                ("/h/e.jsonl", 3)
            ]
        );
        assert_eq!(back["/h/b.jsonl"], all["/h/b.jsonl"]);
        // A second rewrite in the same run reads the new file.
        s.apply(&moved_to("/h/f.jsonl", 4, 3));
        s.files_dirty = true;
        sd.commit(&mut s).unwrap();
        assert_eq!(sd.load(0, true).unwrap().state.files.len(), 5);
    }

    #[test]
    fn stray_temp_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        fs::write(dir.path().join(".state.json.Ab12.tmp"), b"{").unwrap();
        fs::write(dir.path().join(".positions.bin.x.tmp"), b"{").unwrap();
        fs::write(dir.path().join(".pending.json.x.tmp"), b"{").unwrap();
        fs::write(dir.path().join("keep.tmp"), b"").unwrap();
        assert_eq!(sd.remove_stray_temp_files(), 3);
        assert!(dir.path().join("keep.tmp").exists());
    }

    #[test]
    fn atomic_write_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        write_atomic(&p, b"1").unwrap();
        write_atomic(&p, b"2").unwrap();
        let names: Vec<_> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.json")]);
        assert_eq!(fs::read(&p).unwrap(), b"2");
    }
}
