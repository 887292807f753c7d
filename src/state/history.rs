//! The local history: hourly rollups of everything counted, kept after the
//! agents delete their transcripts.
//!
//! Each acknowledged batch adds its counts to the history, filed under the
//! UTC hour its records are from, per pack and model: tokens by type, cost,
//! tokens no price covered, and (per pack) sessions, prompts, turns, tool
//! calls and errors. It grows with hours × packs × models, not with
//! records, and holds only the bounded values that are sent.
//!
//! One file per UTC month (`history/2026-12.bin`), binary (see
//! [`MonthFile::encode`]), replaced atomically with a backup copy. It is
//! written in the same commit as the file positions, before `state.json`,
//! and says which batch it has up to (the state's epoch and the batch's
//! sequence number) and what that batch added to it:
//!
//! - a batch applied again (the run died after writing the history but
//!   before `state.json`, and the batch is re-sent) is recognised by its
//!   sequence number and not added twice;
//! - a month that holds a batch the state never acknowledged and no pending
//!   batch will re-send is read without that batch (its rows are kept
//!   apart for exactly that), so that no day is ever counted twice.
//!
//! A batch is first appended to `history/journal.bin` (one synced append
//! a run, however many months its records fall in) and folded into its
//! months once the journal passes [`JOURNAL_FOLD`] bytes, or before
//! `report --rebuild` replaces rows. Reading the history reads the journal
//! too. Each frame is a month file's encoding of the batch (its stamp, its
//! rows, a checksum) after a magic and a length: a frame cut short (a run
//! died while appending) is dropped and the rest of the journal kept; a
//! frame whose batch a month already holds (a run died between writing
//! the months and removing the journal) is not read twice.

use crate::state::bytes::{varint, Cursor};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::metrics::{Counts, Hour, Series, TokenType};
use crate::time::civil_from_days;

/// The columns of a row, in order.
pub const COLUMNS: [&str; 12] = [
    "input",
    "cache_read",
    "cache_write",
    "output",
    "reasoning",
    "cost_picos",
    "unpriced_tokens",
    "sessions",
    "prompts",
    "turns",
    "tool_calls",
    "errors",
];

/// Column indices.
pub mod col {
    /// First token column (input), then cache read, cache write, output,
    /// reasoning.
    pub const TOKENS: usize = 0;
    /// Cost in pico-dollars.
    pub const COST: usize = 5;
    /// Tokens no price covered.
    pub const UNPRICED: usize = 6;
    /// Sessions started.
    pub const SESSIONS: usize = 7;
    /// Prompts.
    pub const PROMPTS: usize = 8;
    /// Model turns.
    pub const TURNS: usize = 9;
    /// Tool calls.
    pub const TOOLS: usize = 10;
    /// Errors.
    pub const ERRORS: usize = 11;
}

/// The values of a row.
pub type Values = [u64; 12];

/// What a row is about: an hour, a pack and a model (`family`/`model`
/// empty for the pack's own counts: sessions, prompts, turns, tool calls,
/// errors). Every name is a bounded value of the contract.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key {
    /// UTC hours since the epoch.
    #[serde(rename = "h")]
    pub hour: Hour,
    /// `pack`.
    #[serde(rename = "p")]
    pub pack: String,
    /// `model.family` (empty on a pack row).
    #[serde(rename = "f", default, skip_serializing_if = "String::is_empty")]
    pub family: String,
    /// `model` (empty on a pack row).
    #[serde(rename = "m", default, skip_serializing_if = "String::is_empty")]
    pub model: String,
}

/// Rows of the history (or of one batch's part of it).
pub type Rows = BTreeMap<Key, Values>;

/// One row as `pending.json` carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// What it is about.
    #[serde(flatten)]
    pub key: Key,
    /// Its values, in [`COLUMNS`]' order.
    #[serde(rename = "v")]
    pub values: Values,
}

/// Rolls counts up by hour, pack and model; counts of unknown hour are
/// filed under `fallback` (the run's hour).
pub fn rollup(counts: &Counts, fallback: Hour) -> Vec<Row> {
    let mut rows = Rows::new();
    for (series, hour, n) in counts.dated() {
        let hour = if hour == 0 { fallback } else { hour };
        let (pack, model, column) = match series {
            Series::TokenUsage { pack, token_type, model } => {
                let i = match token_type {
                    TokenType::Input => 0,
                    TokenType::CacheRead => 1,
                    TokenType::CacheWrite => 2,
                    TokenType::Output => 3,
                    TokenType::Reasoning => 4,
                };
                (pack, Some(model), col::TOKENS + i)
            }
            Series::CostUsage { pack, model } => (pack, Some(model), col::COST),
            Series::Unpriced { pack, model } => (pack, Some(model), col::UNPRICED),
            Series::SessionStart { pack, .. } => (pack, None, col::SESSIONS),
            Series::UserPrompt { pack, .. } => (pack, None, col::PROMPTS),
            Series::AgentTurn { pack, .. } => (pack, None, col::TURNS),
            Series::ToolCall { pack, .. } => (pack, None, col::TOOLS),
            Series::Error { pack, .. } => (pack, None, col::ERRORS),
            Series::Heartbeat | Series::Lines { .. } => continue,
        };
        let key = Key {
            hour,
            pack: pack.as_str().to_string(),
            family: model.map_or("", |m| m.family.as_str()).to_string(),
            model: model.map_or("", |m| m.name).to_string(),
        };
        let v = rows.entry(key).or_insert([0; 12]);
        v[column] = v[column].saturating_add(n);
    }
    rows.into_iter().map(|(key, values)| Row { key, values }).collect()
}

/// Adds `b` into `a`.
pub fn add(a: &mut Values, b: &Values) {
    for (x, y) in a.iter_mut().zip(b) {
        *x = x.saturating_add(*y);
    }
}

/// Takes `b` out of `a` (never below zero).
pub fn sub(a: &mut Values, b: &Values) {
    for (x, y) in a.iter_mut().zip(b) {
        *x = x.saturating_sub(*y);
    }
}

/// The month (`YYYY-MM`) of a UTC hour.
pub fn month_of(hour: Hour) -> String {
    let (y, m, _) = civil_from_days(u64::from(hour) / 24);
    format!("{y:04}-{m:02}")
}

/// Which batch a month file holds up to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    /// The state's `created_unix_nano`: the sequence numbers of another
    /// state (one lost and started again) mean nothing here.
    pub epoch: u64,
    /// The sequence number of the last batch added.
    pub seq: u64,
}

impl Stamp {
    /// True when this stamp names a batch that the state of epoch `epoch`,
    /// having acknowledged batch `acked`, never acknowledged and that is
    /// not the batch in flight (`pending`): its rows must be given back.
    fn holds_unacknowledged(self, epoch: u64, acked: u64, pending: Option<u64>) -> bool {
        self.epoch == epoch && self.seq > acked && pending != Some(self.seq)
    }
}

/// One month of history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MonthFile {
    /// The last batch added.
    pub stamp: Stamp,
    /// Every row.
    pub rows: Rows,
    /// What the last batch added (taken out again if that batch turns out
    /// never to have been acknowledged).
    pub last: Rows,
}

impl MonthFile {
    /// Takes the last batch's rows back out of the month.
    fn give_back(&mut self) {
        for (k, v) in std::mem::take(&mut self.last) {
            if let Some(have) = self.rows.get_mut(&k) {
                sub(have, &v);
            }
        }
    }
}

/// Rows grouped by the month of their hour, the same key's values added.
fn by_month<'a>(rows: impl Iterator<Item = (&'a Key, &'a Values)>) -> BTreeMap<String, Rows> {
    let mut out: BTreeMap<String, Rows> = BTreeMap::new();
    for (k, v) in rows {
        add(out.entry(month_of(k.hour)).or_default().entry(k.clone()).or_insert([0; 12]), v);
    }
    out
}

/// Prints what reading the months found wrong.
fn warn(warnings: Vec<String>) {
    for w in warnings {
        eprintln!("telemetron: warning: history: {w}");
    }
}

/// File magic and format version.
const MAGIC: &[u8; 8] = b"TLMHIST1";

/// Magic of each frame of the journal.
const JOURNAL_MAGIC: &[u8; 8] = b"TLMHJRN1";

/// A batch as a frame of the journal: the magic, the length, and the
/// batch encoded as a month file (its stamp, its rows, a checksum).
fn journal_frame(batch: &MonthFile) -> Vec<u8> {
    let body = batch.encode();
    let mut frame = JOURNAL_MAGIC.to_vec();
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// The journal is folded into its months past this many bytes.
pub const JOURNAL_FOLD: u64 = 256 << 10;

impl MonthFile {
    /// The binary form: magic, epoch and seq (u64 LE), a table of the
    /// names used (u16 count, then each as u8 length and bytes), the rows
    /// and then the last batch's rows (each a u32 count, then per row the
    /// hour as u32 LE, pack, family and model as u16 indices into the
    /// names, and the 12 values as LEB128 varints), and an xxh3 checksum of
    /// everything before it (u64 LE).
    pub fn encode(&self) -> Vec<u8> {
        let mut names: Vec<&str> = Vec::new();
        let mut index: BTreeMap<&str, u16> = BTreeMap::new();
        for k in self.rows.keys().chain(self.last.keys()) {
            for n in [k.pack.as_str(), k.family.as_str(), k.model.as_str()] {
                if !index.contains_key(n) {
                    index.insert(n, names.len() as u16);
                    names.push(n);
                }
            }
        }
        let mut out = Vec::with_capacity(64 + self.rows.len() * 24);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.stamp.epoch.to_le_bytes());
        out.extend_from_slice(&self.stamp.seq.to_le_bytes());
        out.extend_from_slice(&(names.len() as u16).to_le_bytes());
        for n in &names {
            let b = &n.as_bytes()[..n.len().min(255)];
            out.push(b.len() as u8);
            out.extend_from_slice(b);
        }
        for rows in [&self.rows, &self.last] {
            out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
            for (k, v) in rows {
                out.extend_from_slice(&k.hour.to_le_bytes());
                for n in [&k.pack, &k.family, &k.model] {
                    out.extend_from_slice(&index[n.as_str()].to_le_bytes());
                }
                for x in v {
                    varint(*x, &mut out);
                }
            }
        }
        let sum = xxhash_rust::xxh3::xxh3_64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Parses [`MonthFile::encode`]'s form; says what is wrong otherwise.
    pub fn decode(b: &[u8]) -> Result<MonthFile, String> {
        if b.len() < MAGIC.len() + 8 || &b[..8] != MAGIC {
            return Err("is not a telemetron history file".into());
        }
        let (body, sum) = b.split_at(b.len() - 8);
        if xxhash_rust::xxh3::xxh3_64(body).to_le_bytes() != sum {
            return Err("is damaged (its checksum does not match)".into());
        }
        let mut r = Cursor { b: body, at: 8 };
        let stamp = Stamp { epoch: r.u64()?, seq: r.u64()? };
        let n = r.u16()? as usize;
        let mut names = Vec::with_capacity(n);
        for _ in 0..n {
            let len = r.u8()? as usize;
            let s =
                std::str::from_utf8(r.take(len)?).map_err(|_| "has a name that is not UTF-8")?;
            names.push(s.to_string());
        }
        let read_rows = |r: &mut Cursor| -> Result<Rows, String> {
            let count = r.u32()? as usize;
            // Written in order: collected in one pass (a bulk build).
            let mut rows = Vec::with_capacity(count.min(1 << 20));
            for _ in 0..count {
                let hour = r.u32()?;
                let mut name = || -> Result<String, String> {
                    names
                        .get(r.u16()? as usize)
                        .cloned()
                        .ok_or_else(|| "has a bad name index".into())
                };
                let key = Key { hour, pack: name()?, family: name()?, model: name()? };
                let mut v = [0u64; 12];
                for x in &mut v {
                    *x = r.varint()?;
                }
                rows.push((key, v));
            }
            Ok(rows.into_iter().collect())
        };
        let rows = read_rows(&mut r)?;
        let last = read_rows(&mut r)?;
        Ok(MonthFile { stamp, rows, last })
    }
}

/// The history directory of a state directory.
#[derive(Clone, Debug)]
pub struct HistoryDir {
    /// `<state dir>/history`.
    pub dir: PathBuf,
}

impl HistoryDir {
    /// The history of the state directory `state_dir`.
    pub fn new(state_dir: &Path) -> HistoryDir {
        HistoryDir { dir: state_dir.join("history") }
    }

    fn path(&self, month: &str) -> PathBuf {
        self.dir.join(format!("{month}.bin"))
    }

    fn backup(&self, month: &str) -> PathBuf {
        self.dir.join(format!("{month}.bak.bin"))
    }

    /// `journal.bin`: batches not yet folded into their months.
    pub fn journal_path(&self) -> PathBuf {
        self.dir.join("journal.bin")
    }

    /// The journal's whole frames, in order, and the bytes they take (a
    /// frame cut short after them is a write that died; a damaged one
    /// ends the reading with a warning).
    fn read_journal(&self, warnings: &mut Vec<String>) -> (Vec<MonthFile>, u64) {
        let path = self.journal_path();
        let b = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return (Vec::new(), 0),
            Err(e) => {
                warnings.push(format!("cannot read {}: {e}", path.display()));
                return (Vec::new(), 0);
            }
        };
        let mut out = Vec::new();
        let mut c = Cursor::new(&b);
        loop {
            let at = c.at;
            if c.is_empty() {
                return (out, at as u64);
            }
            let frame = (|| {
                if c.take(JOURNAL_MAGIC.len())? != JOURNAL_MAGIC {
                    return Err("has a damaged frame".to_string());
                }
                let len = c.u32()? as usize;
                MonthFile::decode(c.take(len)?)
            })();
            match frame {
                Ok(f) => out.push(f),
                Err(e) if e == "is truncated" => return (out, at as u64),
                Err(e) => {
                    warnings.push(format!(
                        "{} {e} at byte {at}; the batches from there on are not in the \
                         history (`telemetron report --rebuild` recounts what is still on disk)",
                        path.display()
                    ));
                    return (out, at as u64);
                }
            }
        }
    }

    /// Folds the journal into its months and removes it.
    pub fn fold_journal(&self) -> anyhow::Result<()> {
        let mut warnings = Vec::new();
        let (batches, _) = self.read_journal(&mut warnings);
        self.fold(&batches, &mut warnings)?;
        warn(warnings);
        self.remove_journal()
    }

    /// Removes the journal (once folded), durably.
    fn remove_journal(&self) -> anyhow::Result<()> {
        match fs::remove_file(self.journal_path()) {
            Ok(()) => crate::state::sync_dir(&self.dir)
                .map_err(|e| anyhow::anyhow!("{}: {e}", self.dir.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", self.journal_path().display())),
        }
    }

    /// Adds batches (each a stamp and its rows, in order) to their months,
    /// a month at a time; a month that already holds a batch is left
    /// alone for it.
    fn fold(&self, batches: &[MonthFile], warnings: &mut Vec<String>) -> anyhow::Result<()> {
        // Each month's keys, batch by batch (in the batches' order).
        let mut months: BTreeMap<String, Vec<(usize, &Key)>> = BTreeMap::new();
        for (i, b) in batches.iter().enumerate() {
            for k in b.rows.keys() {
                months.entry(month_of(k.hour)).or_default().push((i, k));
            }
        }
        let mut changed = Vec::new();
        for (month, keys) in months {
            let mut f = self.read(&month, warnings);
            let mut touched = false;
            for of_batch in keys.chunk_by(|a, b| a.0 == b.0) {
                let b = &batches[of_batch[0].0];
                if f.stamp.epoch == b.stamp.epoch && f.stamp.seq >= b.stamp.seq {
                    continue;
                }
                let batch: Rows =
                    of_batch.iter().map(|(_, k)| ((*k).clone(), b.rows[*k])).collect();
                for (k, v) in &batch {
                    add(f.rows.entry(k.clone()).or_insert([0; 12]), v);
                }
                f.stamp = b.stamp;
                f.last = batch;
                touched = true;
            }
            if touched {
                changed.push((month, f.encode()));
            }
        }
        self.write_encoded(&changed)
    }

    /// The months kept, in order.
    pub fn months(&self) -> Vec<String> {
        let Ok(rd) = fs::read_dir(&self.dir) else { return Vec::new() };
        let mut out: Vec<String> = rd
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let m = name.strip_suffix(".bin")?;
                let b = m.as_bytes();
                let month = b.len() == 7
                    && b[4] == b'-'
                    && b.iter().enumerate().all(|(i, c)| i == 4 || c.is_ascii_digit());
                month.then(|| m.to_string())
            })
            .collect();
        out.sort();
        out
    }

    /// Reads a month: the file, else its backup (`warnings` says so), else
    /// empty.
    pub fn read(&self, month: &str, warnings: &mut Vec<String>) -> MonthFile {
        let main = self.path(month);
        let why = match fs::read(&main) {
            Ok(b) => match MonthFile::decode(&b) {
                Ok(f) => return f,
                Err(e) => format!("{} {e}", main.display()),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => return MonthFile::default(),
            Err(e) => format!("cannot read {}: {e}", main.display()),
        };
        match fs::read(self.backup(month)).map(|b| MonthFile::decode(&b)) {
            Ok(Ok(f)) => {
                warnings.push(format!(
                    "{why}; read its backup instead (the last batch before it may be missing: \
                     `telemetron report --rebuild` recounts what is still on disk)"
                ));
                f
            }
            _ => {
                warnings.push(format!(
                    "{why} and has no usable backup; that month starts empty (`telemetron \
                     report --rebuild` recounts what is still on disk)"
                ));
                MonthFile::default()
            }
        }
    }

    /// Durably replaces several months: each through a synced temp file
    /// and a rename (the previous good copy kept as its backup), then one
    /// sync of the directory for every rename.
    pub fn write_all(&self, months: &[(String, MonthFile)]) -> anyhow::Result<()> {
        let encoded: Vec<(String, Vec<u8>)> =
            months.iter().map(|(m, f)| (m.clone(), f.encode())).collect();
        self.write_encoded(&encoded)
    }

    /// [`HistoryDir::write_all`] of months already encoded.
    fn write_encoded(&self, months: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
        use std::io::Write as _;
        if months.is_empty() {
            return Ok(());
        }
        let ctx = |e: std::io::Error, p: &Path| anyhow::anyhow!("{}: {e}", p.display());
        crate::state::private_dir(&self.dir).map_err(|e| {
            anyhow::anyhow!("cannot create {}: {e}; check the state directory", self.dir.display())
        })?;
        for (month, f) in months {
            let main = self.path(month);
            if main.exists() {
                let _ = fs::copy(&main, self.backup(month));
            }
            let mut tmp = tempfile::Builder::new()
                .prefix(&format!(".{month}.bin."))
                .suffix(".tmp")
                .tempfile_in(&self.dir)
                .map_err(|e| ctx(e, &self.dir))?;
            tmp.write_all(f).map_err(|e| ctx(e, tmp.path()))?;
            tmp.as_file().sync_data().map_err(|e| ctx(e, tmp.path()))?;
            tmp.persist(&main).map_err(|e| ctx(e.error, &main))?;
        }
        crate::state::sync_dir(&self.dir).map_err(|e| ctx(e, &self.dir))
    }

    /// The stamp of a month, from its first bytes only (`None` when it
    /// cannot be read; a full read then says why).
    fn stamp(&self, month: &str) -> Option<Stamp> {
        use std::io::Read as _;
        let mut head = [0u8; 24];
        fs::File::open(self.path(month)).ok()?.read_exact(&mut head).ok()?;
        (&head[..8] == MAGIC).then(|| Stamp {
            epoch: u64::from_le_bytes(head[8..16].try_into().expect("8 bytes")),
            seq: u64::from_le_bytes(head[16..24].try_into().expect("8 bytes")),
        })
    }

    /// Adds batch `seq` of the state of epoch `epoch` to the months its
    /// rows fall in; a month that already holds it is left alone.
    pub fn apply(&self, epoch: u64, seq: u64, rows: &[Row]) -> anyhow::Result<()> {
        use std::io::Write as _;
        let mut warnings = Vec::new();
        let stamp = Stamp { epoch, seq };
        let (mut batches, good) = self.read_journal(&mut warnings);
        if batches.iter().any(|b| b.stamp == stamp) {
            // Applied again (its commit was cut short): nothing more.
            warn(warnings);
            return Ok(());
        }
        let mut batch = MonthFile { stamp, ..MonthFile::default() };
        for r in rows {
            add(batch.rows.entry(r.key.clone()).or_insert([0; 12]), &r.values);
        }
        let frame = journal_frame(&batch);
        if good + frame.len() as u64 <= JOURNAL_FOLD {
            crate::state::private_dir(&self.dir).map_err(|e| {
                anyhow::anyhow!(
                    "cannot create {}: {e}; check the state directory",
                    self.dir.display()
                )
            })?;
            let path = self.journal_path();
            let ctx = |e: io::Error| anyhow::anyhow!("{}: {e}", path.display());
            let mut f = crate::state::private_append().open(&path).map_err(ctx)?;
            // A frame cut short by a run that died goes.
            f.set_len(good).map_err(ctx)?;
            f.write_all(&frame).map_err(ctx)?;
            f.sync_data().map_err(ctx)?;
            if good == 0 {
                crate::state::sync_dir(&self.dir).map_err(ctx)?;
            }
            warn(warnings);
            return Ok(());
        }
        // Folded with the batches before it, a month at a time.
        drop(frame);
        batches.push(batch);
        self.fold(&batches, &mut warnings)?;
        warn(warnings);
        self.remove_journal()
    }

    /// Every row of the months `from..=to` (all when `None`) as of the
    /// acknowledged batch `acked` of the state of epoch `epoch`: a month
    /// holding a later batch that `pending` (the batch in flight, if any)
    /// is not is read without it.
    pub fn load(
        &self,
        range: Option<(&str, &str)>,
        epoch: u64,
        acked: u64,
        pending: Option<u64>,
        warnings: &mut Vec<String>,
    ) -> Rows {
        let mut out = Rows::new();
        let in_range = |month: &str| range.is_none_or(|(a, b)| month >= a && month <= b);
        let mut stamps = BTreeMap::new();
        for month in self.months() {
            if !in_range(&month) {
                continue;
            }
            let mut f = self.read(&month, warnings);
            stamps.insert(month, f.stamp);
            if f.stamp.holds_unacknowledged(epoch, acked, pending) {
                f.give_back();
            }
            if out.is_empty() {
                out = f.rows;
            } else {
                out.append(&mut f.rows);
            }
        }
        // The batches not folded yet, unless a month holds them already.
        let (batches, _) = self.read_journal(warnings);
        for b in batches.iter().filter(|b| !b.stamp.holds_unacknowledged(epoch, acked, pending)) {
            for (k, v) in &b.rows {
                let month = month_of(k.hour);
                let folded = stamps
                    .get(&month)
                    .is_some_and(|s: &Stamp| s.epoch == b.stamp.epoch && s.seq >= b.stamp.seq);
                if in_range(&month) && !folded {
                    add(out.entry(k.clone()).or_insert([0; 12]), v);
                }
            }
        }
        out
    }

    /// Makes every month agree with the acknowledged state: a month holding
    /// a batch the state never acknowledged, which no pending batch will
    /// bring again, gives it back (see the module docs). Run under the
    /// lock, before a scan.
    pub fn settle(&self, epoch: u64, acked: u64, pending: Option<u64>) -> anyhow::Result<()> {
        let mut warnings = Vec::new();
        let mut changed = Vec::new();
        let unsettled = |s: Stamp| s.holds_unacknowledged(epoch, acked, pending);
        for month in self.months() {
            // Nearly always settled already: the first bytes say so.
            if self.stamp(&month).is_some_and(|s| !unsettled(s)) {
                continue;
            }
            let mut f = self.read(&month, &mut warnings);
            if !unsettled(f.stamp) {
                continue;
            }
            f.give_back();
            f.rows.retain(|_, v| v.iter().any(|x| *x > 0));
            f.stamp.seq = acked;
            changed.push((month, f));
        }
        self.write_all(&changed)?;
        // And the journal's frames of such batches go.
        let (batches, _) = self.read_journal(&mut warnings);
        if batches.iter().any(|b| unsettled(b.stamp)) {
            let mut kept = Vec::new();
            for b in batches.iter().filter(|b| !unsettled(b.stamp)) {
                kept.extend(journal_frame(b));
            }
            crate::state::write_atomic(&self.journal_path(), &kept)?;
        }
        warn(warnings);
        Ok(())
    }

    /// Replaces the rows of the given (UTC day, pack) pairs by `rows`
    /// (`report --rebuild`), keeping every other row and the stamp.
    pub fn replace(&self, rows: &Rows, stamp: Stamp) -> anyhow::Result<()> {
        self.fold_journal()?;
        let mut warnings = Vec::new();
        let mut changed = Vec::new();
        for (month, new) in by_month(rows.iter()) {
            let mut f = self.read(&month, &mut warnings);
            let covered: std::collections::BTreeSet<(u32, &str)> =
                new.keys().map(|k| (k.hour / 24, k.pack.as_str())).collect();
            f.rows.retain(|k, _| !covered.contains(&(k.hour / 24, k.pack.as_str())));
            f.rows.extend(new.iter().map(|(k, v)| (k.clone(), *v)));
            f.last.clear();
            f.stamp = stamp;
            changed.push((month, f));
        }
        self.write_all(&changed)?;
        warn(warnings);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Family, ModelRef, Pack, SessionType};

    fn key(hour: Hour, pack: &str, model: &str) -> Key {
        Key {
            hour,
            pack: pack.into(),
            family: if model.is_empty() { String::new() } else { "openai".into() },
            model: model.into(),
        }
    }

    fn row(hour: Hour, model: &str, input: u64) -> Row {
        let mut values = [0; 12];
        values[0] = input;
        Row { key: key(hour, "codex", model), values }
    }

    #[test]
    fn counts_roll_up_by_hour_pack_and_model() {
        let m = ModelRef::new(Family::Openai, "gpt-5");
        let mut c = Counts::at(500_000);
        c.add(Series::TokenUsage { pack: Pack::Codex, token_type: TokenType::Output, model: m }, 7);
        c.add(Series::CostUsage { pack: Pack::Codex, model: m }, 1_000);
        c.incr(Series::SessionStart { pack: Pack::Codex, session_type: SessionType::Main });
        c.set_hour(500_001);
        c.add(Series::TokenUsage { pack: Pack::Codex, token_type: TokenType::Input, model: m }, 3);
        c.incr(Series::Heartbeat);
        let mut unknown = Counts::default();
        unknown.incr(Series::UserPrompt { pack: Pack::Codex, session_type: SessionType::Main });
        c.merge(unknown);
        let rows = rollup(&c, 777);
        let get =
            |h, model: &str| rows.iter().find(|r| r.key == key(h, "codex", model)).unwrap().values;
        assert_eq!(get(500_000, "gpt-5")[col::TOKENS + 3], 7);
        assert_eq!(get(500_000, "gpt-5")[col::COST], 1_000);
        assert_eq!(get(500_000, "")[col::SESSIONS], 1);
        assert_eq!(get(500_001, "gpt-5")[col::TOKENS], 3);
        assert_eq!(get(777, "")[col::PROMPTS], 1, "an unknown hour is the run's");
        assert_eq!(rows.len(), 4, "the heartbeat is not history");
    }

    #[test]
    fn a_month_file_round_trips_and_damage_is_named() {
        let mut f = MonthFile { stamp: Stamp { epoch: 9, seq: 4 }, ..MonthFile::default() };
        f.rows.insert(key(491_000, "codex", "gpt-5"), [1, 2, 3, 4, 5, u64::MAX, 0, 0, 0, 0, 0, 0]);
        f.rows.insert(key(491_001, "pi", ""), [0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5]);
        f.last.insert(key(491_001, "pi", ""), [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        let b = f.encode();
        assert_eq!(MonthFile::decode(&b).unwrap(), f);
        let mut bad = b.clone();
        bad[30] ^= 1;
        assert!(MonthFile::decode(&bad).unwrap_err().contains("damaged"));
        assert!(MonthFile::decode(&b[..b.len() - 3]).is_err());
        assert!(MonthFile::decode(b"hello").unwrap_err().contains("not a telemetron history"));
    }

    #[test]
    fn a_batch_is_added_once_and_given_back_if_never_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let h = HistoryDir::new(dir.path());
        let hour = 491_000; // 2026-01
        h.apply(1, 1, &[row(hour, "gpt-5", 10)]).unwrap();
        h.apply(1, 2, &[row(hour, "gpt-5", 5), row(hour + 24 * 40, "gpt-5", 1)]).unwrap();
        // Batch 2 applied again (its commit was cut short): nothing more.
        h.apply(1, 2, &[row(hour, "gpt-5", 5), row(hour + 24 * 40, "gpt-5", 1)]).unwrap();
        let mut w = Vec::new();
        let all = h.load(None, 1, 2, None, &mut w);
        assert_eq!(all[&key(hour, "codex", "gpt-5")][0], 15);
        // In the journal so far: no month written.
        assert_eq!(h.months().len(), 0);
        // Seen from a state that acknowledged only batch 1, with nothing
        // pending: batch 2 is not there.
        let back = h.load(None, 1, 1, None, &mut w);
        assert_eq!(back[&key(hour, "codex", "gpt-5")][0], 10);
        assert_eq!(back.get(&key(hour + 24 * 40, "codex", "gpt-5")).map_or(0, |v| v[0]), 0);
        // ... unless it is the batch in flight.
        assert_eq!(h.load(None, 1, 1, Some(2), &mut w)[&key(hour, "codex", "gpt-5")][0], 15);
        // Settling gives it back for good; the batch can come again.
        h.settle(1, 1, None).unwrap();
        assert_eq!(h.load(None, 1, 1, None, &mut w)[&key(hour, "codex", "gpt-5")][0], 10);
        h.apply(1, 2, &[row(hour, "gpt-5", 5)]).unwrap();
        assert_eq!(h.load(None, 1, 2, None, &mut w)[&key(hour, "codex", "gpt-5")][0], 15);
        // Another state's batch numbers start over: they are added.
        h.apply(2, 1, &[row(hour, "gpt-5", 1)]).unwrap();
        assert_eq!(h.load(None, 2, 1, None, &mut w)[&key(hour, "codex", "gpt-5")][0], 16);
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn batches_are_journaled_then_folded_into_their_months_once() {
        let dir = tempfile::tempdir().unwrap();
        let h = HistoryDir::new(dir.path());
        let (jan, mar) = (491_000, 491_000 + 24 * 60);
        h.apply(1, 1, &[row(jan, "gpt-5", 10), row(mar, "gpt-5", 1)]).unwrap();
        h.apply(1, 2, &[row(jan, "gpt-5", 5)]).unwrap();
        assert!(h.journal_path().exists() && h.months().is_empty());
        let mut w = Vec::new();
        let want = h.load(None, 1, 2, None, &mut w);
        assert_eq!(want[&key(jan, "codex", "gpt-5")][0], 15);
        // Only the months in range.
        assert!(h
            .load(Some(("2026-03", "2026-03")), 1, 2, None, &mut w)
            .keys()
            .all(|k| k.hour == mar));
        // A run that died after writing the months, before removing the
        // journal: what the months hold is not read twice, nor added twice.
        let journal = fs::read(h.journal_path()).unwrap();
        h.fold_journal().unwrap();
        assert_eq!(h.months(), ["2026-01", "2026-03"]);
        fs::write(h.journal_path(), &journal).unwrap();
        assert_eq!(h.load(None, 1, 2, None, &mut w), want);
        h.fold_journal().unwrap();
        assert!(!h.journal_path().exists());
        assert_eq!(h.load(None, 1, 2, None, &mut w), want);
        // The month files keep the last batch apart, as before.
        let f = h.read("2026-01", &mut w);
        assert_eq!((f.stamp.seq, f.last[&key(jan, "codex", "gpt-5")][0]), (2, 5));
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn a_torn_journal_frame_goes_and_a_long_journal_is_folded() {
        let dir = tempfile::tempdir().unwrap();
        let h = HistoryDir::new(dir.path());
        h.apply(1, 1, &[row(491_000, "gpt-5", 10)]).unwrap();
        let whole = fs::read(h.journal_path()).unwrap();
        h.apply(1, 2, &[row(491_000, "gpt-5", 5)]).unwrap();
        // Cut short inside batch 2's frame: it is not there, and applying
        // it again (its batch is still pending) replaces the torn bytes.
        let len = fs::metadata(h.journal_path()).unwrap().len();
        let f = fs::OpenOptions::new().write(true).open(h.journal_path()).unwrap();
        f.set_len(len - 3).unwrap();
        let mut w = Vec::new();
        assert_eq!(h.load(None, 1, 2, None, &mut w)[&key(491_000, "codex", "gpt-5")][0], 10);
        assert!(w.is_empty(), "a torn frame is not damage: {w:?}");
        h.apply(1, 2, &[row(491_000, "gpt-5", 5)]).unwrap();
        assert_eq!(h.load(None, 1, 2, None, &mut w)[&key(491_000, "codex", "gpt-5")][0], 15);
        assert_eq!(fs::metadata(h.journal_path()).unwrap().len(), len);
        // Damage in the middle is told.
        let mut bad = fs::read(h.journal_path()).unwrap();
        bad[whole.len() + 2] ^= 1;
        fs::write(h.journal_path(), &bad).unwrap();
        h.load(None, 1, 2, None, &mut w);
        assert!(w[0].contains("journal.bin") && w[0].contains("damaged"), "{w:?}");
        // Past the threshold the journal is folded into the months.
        fs::write(h.journal_path(), &whole).unwrap();
        let mut seq = 1;
        while h.journal_path().exists() {
            seq += 1;
            let rows: Vec<Row> = (0..50).map(|i| row(491_000 + i * 24, "gpt-5", 1)).collect();
            h.apply(1, seq, &rows).unwrap();
            assert!(seq < 10_000, "never folded");
        }
        assert!(seq > 10, "folded after {seq} batches");
        let mut w = Vec::new();
        let all = h.load(None, 1, seq, None, &mut w);
        let total: u64 = all.values().map(|v| v[0]).sum();
        assert_eq!(total, 10 + 50 * (seq - 1));
    }

    #[test]
    fn a_damaged_month_is_read_from_its_backup_loudly() {
        let dir = tempfile::tempdir().unwrap();
        let h = HistoryDir::new(dir.path());
        h.apply(1, 1, &[row(491_000, "gpt-5", 10)]).unwrap();
        h.fold_journal().unwrap();
        h.apply(1, 2, &[row(491_000, "gpt-5", 5)]).unwrap();
        h.fold_journal().unwrap();
        fs::write(h.path("2026-01"), b"TLMHIST1garbage").unwrap();
        let mut w = Vec::new();
        let rows = h.load(None, 1, 2, None, &mut w);
        assert_eq!(rows[&key(491_000, "codex", "gpt-5")][0], 10);
        assert!(w[0].contains("2026-01.bin") && w[0].contains("--rebuild"), "{w:?}");
    }
}
