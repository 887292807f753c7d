//! Scanning: for every discovered file, decide where reading resumes, read
//! the complete lines appended since, and count them. Files are scanned in
//! parallel (`rayon`); each file is read by one thread, and per-file counts
//! are merged at the end (merging is addition, so order does not matter).
//!
//! A file is recognised by its content, not its path or inode (see
//! [`crate::sources::identity`]):
//!
//! - a file as its state left it (same device, inode, size and mtime) is
//!   not opened;
//! - a file that still holds what its own state counted (its first bytes,
//!   the bytes before the offset and, for another inode, the hash of every
//!   byte up to the offset) resumes after the offset, unless
//! - it holds more of another known state (looked up among all states by
//!   its first bytes): then it continues that one, so a renamed, moved,
//!   archived, restored or copied file counts only what it adds;
//! - a file that starts with the first line of a known file but holds less
//!   than it counted (a rewrite, an older copy restored) is read from its
//!   start with that file's replay marks, so that the format's own dedupe
//!   recognises entries counted before;
//! - what is left is a new file, read from its start.
//!
//! The entry of a file displaced from its path by another stays known for
//! the grace period (under a key no path has), so a backup of it restored
//! later is still recognised.
//!
//! Files that hold copies of each other and that both counted bytes in one
//! run are then settled in order (files resuming their own state first,
//! then path order): a later one whose bytes repeat what an earlier one
//! counted is read again from where they part ([`settle_overlaps`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

use crate::agents::pi::records as pi;
use crate::agents::{self, claude_code, codex, gemini_cli, Format};
use crate::hash::{fnv64, Fnv64};
use crate::metrics::{Counts, LineResult, Series, SessionType};
use crate::pipeline::discover::{Meta, SessionHint, Source};
use crate::pipeline::stores;
use crate::sources::compressed;
use crate::sources::growing::{self, Limits};
use crate::sources::identity::{self, Hasher, Prefix};
use crate::state::claims::Claims;
use crate::state::positions::Skipped;
use crate::state::{FileState, HEAD_LEN, TAIL_LEN};

/// How long a vanished file's entry is kept (it may come back, e.g. a
/// restored backup) before it is pruned. Totals are never pruned.
pub const MISSING_GRACE_NANOS: u64 = 7 * 24 * 3600 * 1_000_000_000;

/// The most a file read asks for at once.
const READ_BYTES: usize = 256 << 10;

/// Knobs of a scan.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// Lines longer than this are skipped as `oversized`.
    pub max_line_bytes: usize,
    /// Read size.
    pub chunk_bytes: usize,
    /// Worker threads (0 = one per core).
    pub threads: usize,
    /// Now, in Unix nanoseconds.
    pub now: u64,
    /// Take up files the state does not know from their current end
    /// instead of their start (after the state was lost, so that history
    /// already delivered is not sent again).
    pub new_files_at_end: bool,
    /// How many of the files with new bytes this batch reads, and from
    /// which found file on (see [`Batch`]).
    pub batch: Batch,
}

/// Which files a batch reads. A run over a large backlog (a first run
/// over years of sessions) sends it as several batches in a row, each
/// read, sent and committed before the next, so that what a run holds
/// for the files it reads (their new states, until the commit) is
/// bounded by the batch, not by the backlog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batch {
    /// At most this many files with new bytes are read, the first in path
    /// order (`usize::MAX`: all of them).
    pub max_files: usize,
    /// The found files before this one were taken by an earlier batch of
    /// the run: they are not read again (what was written to them since
    /// is the next run's).
    pub first: usize,
}

impl Batch {
    /// Every file with new bytes, in one batch.
    pub const ALL: Batch = Batch { max_files: usize::MAX, first: 0 };
}

impl Default for Batch {
    fn default() -> Batch {
        Batch::ALL
    }
}

/// The result of scanning every file.
#[derive(Debug, Default)]
pub struct ScanOutput {
    /// Everything counted.
    pub counts: Counts,
    /// New states of the files that changed.
    pub files_after: BTreeMap<String, FileState>,
    /// State entries to drop (moved files' old paths, long-gone files).
    pub files_removed: Vec<String>,
    /// Files that could not be read, one message each.
    pub warnings: Vec<String>,
    /// Bytes read.
    pub bytes_read: u64,
    /// Files that had new bytes.
    pub files_read: usize,
    /// Claims filed by formats whose records are copied across files, in
    /// path order; settled against the seen table after the scan.
    pub claims: Claims,
    /// When files with new bytes were left for another batch (see
    /// [`Batch`]): the first found file that batch starts from, and how
    /// many were left.
    pub next_batch: Option<(usize, usize)>,
}

/// Where reading of one file starts, and which state it continues.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Begin {
    /// The first byte read.
    from: u64,
    /// The identity of the bytes before `from`.
    known: Prefix,
    /// The state continued (its key): the file's own, another file's whose
    /// content this file holds, or, read from the start, the path's old
    /// entry (whose replay marks recognise copied entries).
    pred: Option<String>,
    kind: Kind,
}

/// How a file is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Continue the state `pred` after `from`.
    Resume,
    /// Read from the start.
    Fresh,
    /// Count nothing already there: start after its last complete line.
    AtEnd,
}

impl Begin {
    /// A read from the start.
    fn fresh(pred: Option<String>) -> Begin {
        Begin { from: 0, known: Hasher::default().prefix(), pred, kind: Kind::Fresh }
    }
}

/// What scanning one file produced.
#[derive(Debug, Default)]
struct FileScan {
    /// How it was read (`None` when it was not: unchanged or unreadable).
    begin: Option<Begin>,
    state: Option<FileState>,
    counts: Counts,
    claims: Claims,
    warning: Option<String>,
    bytes: u64,
    /// Hash of its first line (at most [`HEAD_LEN`] bytes): files that may
    /// hold copies of each other share it.
    group: Option<u64>,
    /// Read again by [`settle_overlaps`]: it counts only bytes past those
    /// of another file of this run.
    overlapped: bool,
}

impl FileScan {
    /// True when the file was read from its start.
    fn read_from_start(&self) -> bool {
        self.begin.as_ref().is_some_and(|b| b.kind == Kind::Fresh)
    }

    /// True when the file continued its own state.
    fn resumed_own(&self, key: &str) -> bool {
        self.begin
            .as_ref()
            .is_some_and(|b| b.kind == Kind::Resume && b.pred.as_deref() == Some(key))
    }
}

/// The scans of every found file, by index: most are of files with
/// nothing to read, which take no room (a scan is several hundred bytes,
/// and a run may find hundreds of thousands of files).
#[derive(Default)]
struct Scans(Vec<Option<Box<FileScan>>>);

impl Scans {
    /// The empty scan the files with nothing to read read as.
    fn empty() -> &'static FileScan {
        static EMPTY: OnceLock<FileScan> = OnceLock::new();
        EMPTY.get_or_init(FileScan::default)
    }

    /// Keeps a scan (only if it holds anything).
    fn boxed(r: FileScan) -> Option<Box<FileScan>> {
        let nothing = r.begin.is_none()
            && r.state.is_none()
            && r.warning.is_none()
            && r.bytes == 0
            && r.group.is_none()
            && r.counts.is_empty()
            && r.claims.is_empty();
        (!nothing).then(|| Box::new(r))
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn iter(&self) -> impl Iterator<Item = &FileScan> {
        self.0.iter().map(|r| r.as_deref().unwrap_or_else(|| Scans::empty()))
    }

    fn into_iter(self) -> impl Iterator<Item = FileScan> {
        self.0.into_iter().map(|r| r.map(|b| *b).unwrap_or_default())
    }
}

impl std::ops::Index<usize> for Scans {
    type Output = FileScan;
    fn index(&self, i: usize) -> &FileScan {
        self.0[i].as_deref().unwrap_or_else(|| Scans::empty())
    }
}

impl std::ops::IndexMut<usize> for Scans {
    fn index_mut(&mut self, i: usize) -> &mut FileScan {
        self.0[i].get_or_insert_with(Box::default)
    }
}

/// How many bytes of a file's start [`second_of`] covers.
const SECOND_WINDOW: u64 = 64 * 1024;

/// What every file's scan shares.
struct Ctx<'a> {
    files: &'a BTreeMap<String, FileState>,
    /// The entries left out of `files` (files found as they were left).
    skipped: Option<&'a Skipped>,
    /// Which found files (by index) were left out: nothing to read.
    left_out: Vec<bool>,
    opts: &'a ScanOptions,
    indexes: IndexCache,
    /// Known states by their first bytes: built before the files are read
    /// when any is to be (on all the scan's threads), else when asked.
    content: OnceLock<ContentIndex<'a>>,
    /// How far every pi session was counted.
    known: pi::KnownSessions<'a>,
    /// The discovered files by key (the only files read as a fork's
    /// parent), made on first use unless the load made it.
    discovered: &'a OnceLock<KeyIndex<'a>>,
    /// The found files' keys.
    keys: &'a KeyList<'a>,
    /// Fork parents' entries, each read at most once a run.
    parents: Mutex<HashMap<String, Option<Arc<pi::ParentEntries>>>>,
}

impl<'a> Ctx<'a> {
    /// The state of `key`: loaded, or (rarely: another file holds a copy
    /// of it) read again from the positions it was left out of.
    fn state(&self, key: &str) -> Option<Cow<'a, FileState>> {
        if let Some(st) = self.files.get(key) {
            return Some(Cow::Borrowed(st));
        }
        self.skipped?.fetch_key(key).map(Cow::Owned)
    }

    /// True when `key` is a discovered file's (one of `keys`, or, once
    /// those left out are let go, an entry left out's).
    fn found(&self, key: &str) -> bool {
        self.discovered.get_or_init(|| key_index(self.keys)).contains_key(key)
            || self.skipped.is_some_and(|sk| sk.holds(key))
    }

    /// The entries of a fork's parent session file, when it is one of the
    /// discovered transcripts.
    fn parent_entries(&self, path: &str) -> Option<Arc<pi::ParentEntries>> {
        let cache = || self.parents.lock().unwrap_or_else(|e| e.into_inner());
        // (Asked again for each fork: whether it is found may mean reading
        // an entry left out again.)
        if let Some(entries) = cache().get(path) {
            return entries.clone();
        }
        if !self.found(path) {
            return None;
        }
        cache()
            .entry(path.to_owned())
            .or_insert_with(|| std::fs::read(path).ok().map(|b| Arc::new(pi::parent_entries(&b))))
            .clone()
    }
}

/// Scans every source against the previous file states; the claims are
/// returned in [`ScanOutput::claims`].
pub fn scan(
    sources: &[Source],
    stores: &[Source],
    files: &BTreeMap<String, FileState>,
    opts: &ScanOptions,
) -> ScanOutput {
    let mut claims = Claims::default();
    let mut out = scan_with(sources, stores, files, opts, &mut |c| claims.append(c));
    out.claims = claims;
    out
}

/// Scans every source against the previous file states, handing each
/// file's claims to `settle` in path order as soon as the files before it
/// are done, so that claims are not all held until the end of a large
/// first scan (memory stays bounded whatever the history's size).
pub fn scan_with(
    sources: &[Source],
    stores: &[Source],
    files: &BTreeMap<String, FileState>,
    opts: &ScanOptions,
    settle: &mut dyn FnMut(Claims),
) -> ScanOutput {
    let keys = keys_of(sources);
    let (index, heads) = (OnceLock::new(), OnceLock::new());
    let keys = Keys { list: &keys, index: &index, heads: &heads };
    scan_known(sources, keys, stores, files, None, opts, settle)
}

/// Each found file's state key: its path's text, borrowed (paths are long
/// and many; the rare path that is not UTF-8 is read lossily).
pub fn keys_of(sources: &[Source]) -> KeyList<'_> {
    let lossy = sources
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s.path.to_string_lossy() {
            Cow::Borrowed(_) => None,
            Cow::Owned(k) => Some((i as u32, k)),
        })
        .collect();
    KeyList { sources, lossy }
}

/// The found files' keys ([`keys_of`]): the text of their paths, read
/// where the paths are (no vector of a key a file: a run may find
/// hundreds of thousands), but for the few paths that are not UTF-8,
/// whose lossy text is kept apart.
pub struct KeyList<'a> {
    sources: &'a [Source],
    /// The keys of the paths that are not UTF-8, by file.
    lossy: crate::hash::FastMap<u32, String>,
}

impl<'a> KeyList<'a> {
    /// How many keys (one a found file).
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// True when no file was found.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The key of found file `i`.
    pub fn get(&self, i: usize) -> &str {
        if !self.lossy.is_empty() {
            if let Some(k) = self.lossy.get(&(i as u32)) {
                return k;
            }
        }
        let bytes = self.sources[i].path.as_os_str().as_encoded_bytes();
        // SAFETY: `keys_of` found these bytes to be UTF-8 (the paths it
        // did not are in `lossy`), and a found path is never changed.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// The keys, in the files' order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

impl std::ops::Index<usize> for KeyList<'_> {
    type Output = str;
    fn index(&self, i: usize) -> &str {
        self.get(i)
    }
}

/// Loads the positions with `load`, leaving out the entries of the files
/// found exactly as they were left (looked up in `found` as listed, before
/// any file is made a source); when `one_batch` says one batch reads all
/// the others (given how many), the files left out are let go and only
/// the others are made sources (see [`Skipped::detach`]). `None` (nothing
/// loaded) when `found` is not as listed or a path is not UTF-8.
pub fn load_leaving_out<T>(
    found: &mut crate::pipeline::discover::Found,
    load: impl FnOnce(&crate::state::positions::Leave<'_>) -> T,
    skipped: impl FnOnce(&mut T) -> Option<&mut Skipped>,
    one_batch: impl FnOnce(usize) -> bool,
) -> Option<T> {
    let index = ListedIndex::of(found.listed_keys()?);
    let leave = |k: &str, st: &FileState| {
        let i = index.get(k)?;
        let found_as_left = st.missing_since_unix_nano.is_none() && unchanged(st, &index.meta(i));
        found_as_left.then_some(i)
    };
    let mut loaded = load(&leave);
    let left_out = skipped(&mut loaded).and_then(|sk| {
        one_batch(found.len().saturating_sub(sk.heads.len())).then(|| {
            let left_out = sk.left_out(found.len());
            let mut buf = String::new();
            sk.detach(|i| index.key_hash(i, &mut buf));
            left_out
        })
    });
    drop(index);
    if let Some(left_out) = left_out {
        found.materialize_except(&left_out);
    }
    Some(loaded)
}

/// The found files' indexes by key: a table of their numbers alone, found
/// by each key's hash and compared with the key itself (4 bytes and a
/// control byte a slot, where a map of borrowed keys takes 24 and one: a run
/// may find hundreds of thousands).
pub struct KeyIndex<'a> {
    keys: &'a KeyList<'a>,
    table: hashbrown::HashTable<u32>,
}

impl KeyIndex<'_> {
    /// The number of the found file of key `k` (the last, were two the same).
    pub fn get(&self, k: &str) -> Option<u32> {
        self.table.find(key_hash(k), |&i| &self.keys[i as usize] == k).copied()
    }

    /// True when a found file has key `k`.
    pub fn contains_key(&self, k: &str) -> bool {
        self.get(k).is_some()
    }
}

/// The hash [`KeyIndex`] files keys by.
fn key_hash(k: &str) -> u64 {
    crate::hash::key_hash(k.as_bytes())
}

/// A table of the numbers `0..n` found by the hash of what each stands
/// for (`hash`) and compared with it (`same`); of numbers that stand for
/// the same, the last.
fn number_table(
    n: usize,
    hash: impl Fn(u32) -> u64,
    same: impl Fn(u32, u32) -> bool,
) -> hashbrown::HashTable<u32> {
    let mut table = hashbrown::HashTable::with_capacity(n);
    for i in 0..n as u32 {
        match table.entry(hash(i), |&j| same(i, j), |&j| hash(j)) {
            hashbrown::hash_table::Entry::Occupied(mut o) => *o.get_mut() = i,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(i);
            }
        }
    }
    table
}

/// The files as listed by key ([`crate::pipeline::discover::ListedKeys`]),
/// made before any is a source: a load leaves out the entries of those
/// found as they were left, and only the others are then made sources.
pub struct ListedIndex<'a> {
    keys: crate::pipeline::discover::ListedKeys<'a>,
    table: hashbrown::HashTable<u32>,
}

impl<'a> ListedIndex<'a> {
    /// The index of `keys`.
    pub fn of(keys: crate::pipeline::discover::ListedKeys<'a>) -> ListedIndex<'a> {
        let buf = std::cell::RefCell::new(String::new());
        let hash = |i: u32| Self::hash_of(&keys, i, &mut buf.borrow_mut());
        // (A path is listed once: see `discover_listed`.)
        let same = |i: u32, j: u32| keys.parts(i as usize) == keys.parts(j as usize);
        let table = number_table(keys.len(), hash, same);
        ListedIndex { keys, table }
    }

    /// The number of the file of key `k` (the last, were two the same).
    pub fn get(&self, k: &str) -> Option<u32> {
        let is = |&i: &u32| {
            let [dir, name] = self.keys.parts(i as usize);
            k.len() == dir.len() + name.len() && k.starts_with(dir) && k.ends_with(name)
        };
        self.table.find(key_hash(k), is).copied()
    }

    /// File `i`'s stat.
    pub fn meta(&self, i: u32) -> Meta {
        self.keys.meta(i as usize)
    }

    /// The [`crate::hash::key_hash`] of file `i`'s key, its two parts put
    /// together in `buf`.
    pub fn key_hash(&self, i: u32, buf: &mut String) -> u64 {
        Self::hash_of(&self.keys, i, buf)
    }

    fn hash_of(keys: &crate::pipeline::discover::ListedKeys, i: u32, buf: &mut String) -> u64 {
        buf.clear();
        buf.extend(keys.parts(i as usize));
        key_hash(buf)
    }
}

/// The found files' keys ([`keys_of`]), and their index by key, made on
/// first use (by the load, when it left entries out, or by the scan).
#[derive(Clone, Copy)]
pub struct Keys<'a> {
    /// Each found file's key, in the files' order.
    pub list: &'a KeyList<'a>,
    /// [`key_index`] of `list`.
    pub index: &'a OnceLock<KeyIndex<'a>>,
    /// When a run reads its files in batches: the [`head_key`] of each
    /// found file with new bytes from a first one on (made once a run,
    /// by its first batch that leaves files for another).
    pub heads: &'a OnceLock<(usize, Vec<u64>)>,
}

/// The index of `keys` ([`keys_of`]).
pub fn key_index<'a>(keys: &'a KeyList<'a>) -> KeyIndex<'a> {
    let hash = |i: u32| key_hash(&keys[i as usize]);
    let table = number_table(keys.len(), hash, |i, j| keys[i as usize] == keys[j as usize]);
    KeyIndex { keys, table }
}

/// [`scan_with`], given the found files' keys ([`keys_of`]) and the
/// entries left out of `files` when it was loaded (found as they were
/// left: nothing is read of them).
pub fn scan_known<'a>(
    sources: &'a [Source],
    keys: Keys<'a>,
    stores: &'a [Source],
    files: &'a BTreeMap<String, FileState>,
    skipped: Option<&'a Skipped>,
    opts: &'a ScanOptions,
    settle: &mut dyn FnMut(Claims),
) -> ScanOutput {
    let Keys { list: keys, index: discovered, heads } = keys;
    let known = pi::known_sessions(files.values().map(|f| &*f.pi));
    let known = match skipped {
        Some(sk) => known.with_left_out(sk),
        None => known,
    };
    let mut ctx = Ctx {
        files,
        skipped,
        left_out: skipped
            .map_or_else(|| vec![false; sources.len()], |sk| sk.left_out(sources.len())),
        opts,
        indexes: IndexCache::default(),
        content: OnceLock::new(),
        known,
        discovered,
        keys,
        parents: Mutex::default(),
    };
    // Files are scanned in parallel; their results come back in any
    // order and are put back in path order here, where each file's claims
    // are settled as soon as every file before it is done.
    // The files left out have nothing to read: they are done already.
    let mut to_read: Vec<usize> = (0..sources.len()).filter(|&i| !ctx.left_out[i]).collect();
    // Which files are done, and what those that read anything hold (a
    // byte and a pointer a file: a run may find hundreds of thousands).
    let mut done: Vec<bool> = ctx.left_out.clone();
    let mut scans: Vec<Option<Box<FileScan>>> = (0..sources.len()).map(|_| None).collect();
    let wanted = |i: usize| !files.get(&keys[i]).is_some_and(|p| unchanged(p, &sources[i].meta));
    let deferred = take_batch(&mut to_read, &mut done, opts.batch, wanted, |i| {
        heads.get_or_init(|| {
            let from = opts.batch.first;
            let all = || -> Vec<u64> {
                (from..sources.len())
                    .into_par_iter()
                    .map(|j| if !ctx.left_out[j] && wanted(j) { head_key(&sources[j]) } else { 0 })
                    .collect()
            };
            let keys = match rayon::ThreadPoolBuilder::new().num_threads(opts.threads).build() {
                Ok(pool) => pool.install(all),
                Err(_) => all(),
            };
            (from, keys)
        });
        heads.get().and_then(|(from, keys)| keys.get(i.checked_sub(*from)?)).copied().unwrap_or(0)
    });
    let (tx, rx) = std::sync::mpsc::channel::<(usize, FileScan)>();
    let run = || {
        // The sender moves in (its clones go when the work is done, which
        // ends the loop below); everything else is borrowed.
        let tx = tx;
        // Built before any file asks for it, on all the threads.
        if !to_read.is_empty() {
            ctx.content.get_or_init(|| ContentIndex::new(&ctx, Sort::Parallel));
        }
        // Every thread takes the next file of one list (`par_bridge`): the
        // largest first, so that no thread is left reading one alone at
        // the end, then the others in path order, so that their claims
        // are settled as the scan goes. (Left to rayon's splitting, the
        // second thread started halfway down the list, and the claims of
        // that half waited for the first half to be done.)
        // The pool's threads (`--threads 0`, the default, is one a core).
        let threads = rayon::current_num_threads();
        let order = reading_order(&to_read, |i| sources[i].meta.size, threads);
        order.iter().par_bridge().for_each_with(tx, |tx, &i| {
            let _ = tx.send((i, scan_file(&sources[i], &keys[i], &ctx)));
        })
    };
    let mut total = Counts::default();
    std::thread::scope(|scope| {
        scope.spawn(|| match rayon::ThreadPoolBuilder::new().num_threads(opts.threads).build() {
            Ok(pool) => pool.install(run),
            Err(_) => run(),
        });
        let mut next = 0;
        for (i, r) in rx {
            // Counts are added up as files come in, so that a large
            // first scan does not hold every file's counts (a file read
            // again below gives back what its first read counted).
            let mut r = r;
            total.merge(std::mem::take(&mut r.counts));
            (done[i], scans[i]) = (true, Scans::boxed(r));
            while done.get(next) == Some(&true) {
                let Some(r) = scans[next].as_mut() else {
                    next += 1;
                    continue;
                };
                let mut claims = std::mem::take(&mut r.claims);
                if !claims.is_empty() {
                    claims.end_of_file();
                    settle(claims);
                }
                next += 1;
            }
        }
    });
    let next_batch = deferred.first().map(|&first| (first, deferred.len()));
    assert!(done.iter().all(|&d| d), "every file scanned");
    let mut results = Scans(scans);
    settle_overlaps(sources, keys, &mut results, &ctx, &mut total);
    settle_copies(sources, keys, &mut results, &ctx, &mut total);
    // Stores last, knowing how far this run's files counted each session.
    let from_stores = {
        // The files are done with the marks: raised in place (a copy
        // would hold every session known twice).
        let mut marks = std::mem::take(&mut ctx.known);
        for st in results.iter().filter_map(|r| r.state.as_ref()) {
            pi::raise_mark(&mut marks, &st.pi);
        }
        stores::scan(stores, files, &marks, opts.new_files_at_end, opts.threads)
    };
    let mut from_stores = from_stores;
    let store_claims = std::mem::take(&mut from_stores.claims);
    if !store_claims.is_empty() {
        settle(store_claims);
    }
    let store_keys: crate::hash::FastSet<String> = stores.iter().map(|s| key_of(&s.path)).collect();
    let found = |k: &str| ctx.found(k) || store_keys.contains(k);
    let found = &found;
    let gone: HashSet<&str> = from_stores.sessions_gone.iter().map(String::as_str).collect();
    let in_found_store = |k: &str| stores::store_of(k).is_some_and(found) && !gone.contains(k);
    let mut out = ScanOutput { counts: total, next_batch, ..ScanOutput::default() };
    out.counts.merge(from_stores.counts);
    out.bytes_read += from_stores.rows;
    out.files_read += from_stores.sessions_read;
    out.warnings.extend(from_stores.warnings);
    out.files_after.extend(from_stores.files_after);
    // Entries whose file now lives elsewhere (it continues them) go.
    let mut moved = HashSet::new();
    // Entries another file continues this run (their content lives on).
    let continued: HashSet<String> = results
        .iter()
        .zip(keys.iter())
        .filter_map(|(r, key)| {
            let b = r.begin.as_ref().filter(|b| b.kind == Kind::Resume)?;
            b.pred.clone().filter(|p| p != key)
        })
        .collect();
    for (r, key) in results.into_iter().zip(keys.iter()) {
        out.counts.merge(r.counts);
        out.bytes_read += r.bytes;
        if r.bytes > 0 {
            out.files_read += 1;
        }
        out.warnings.extend(r.warning);
        if let Some(st) = r.state {
            // The path's own lineage: its state resumed, or replayed.
            let own = r.begin.as_ref().is_some_and(|b| b.pred.as_deref() == Some(key));
            let pred = r.begin.filter(|b| b.kind == Kind::Resume).and_then(|b| b.pred);
            if let Some(old) = pred.filter(|p| !found(p)) {
                if moved.insert(old.clone()) {
                    out.files_removed.push(old);
                }
            }
            let expired = |o: &FileState| {
                o.missing_since_unix_nano
                    .is_some_and(|t| opts.now.saturating_sub(t) > MISSING_GRACE_NANOS)
            };
            let retire = files.get(key).filter(|o| {
                (retired(o, &st) || (!own && o.offset > 0))
                    && !continued.contains(key)
                    && !expired(o)
            });
            if let Some(old) = retire {
                // Another file now lives at this path (another session, or
                // another file's lineage moved over it): the one that was
                // here stays known for a while (a backup of it may come
                // back, and its marks say how far its session was
                // counted), under a key no path has.
                let mut old = old.clone();
                old.missing_since_unix_nano.get_or_insert(opts.now);
                out.files_after.insert(format!("{key}\0{:016x}", old.first_line), old);
            }
            out.files_after.insert(key.to_string(), st);
        }
    }
    for (k, f) in files {
        if found(k) || moved.contains(k) || in_found_store(k) {
            continue;
        }
        match f.missing_since_unix_nano {
            None => {
                let mut f = f.clone();
                f.missing_since_unix_nano = Some(opts.now);
                out.files_after.insert(k.clone(), f);
            }
            Some(t) if opts.now.saturating_sub(t) > MISSING_GRACE_NANOS => {
                out.files_removed.push(k.clone());
            }
            Some(_) => {}
        }
    }
    out
}

/// True when `new`, the state now at a path, is another file's than
/// `old`, the one there before (another first line), and `old` counted
/// something.
fn retired(old: &FileState, new: &FileState) -> bool {
    old.offset > 0 && old.first_line != 0 && new.first_line != old.first_line
}

/// The order in which `threads` threads take the files of `to_read` (in
/// path order): first the files of over 1/32 of a thread's share of the
/// bytes, largest first, then the others as they come. Once the large
/// files are done, the file a thread may be left reading alone at the end
/// is a small one.
fn reading_order(to_read: &[usize], size: impl Fn(usize) -> u64, threads: usize) -> Vec<usize> {
    let total: u64 = to_read.iter().map(|&i| size(i)).sum();
    let large = total / (threads.max(1) as u64).saturating_mul(32);
    let (mut order, rest): (Vec<usize>, Vec<usize>) =
        to_read.iter().partition(|&&i| size(i) > large.max(1));
    order.sort_by_key(|&i| std::cmp::Reverse(size(i)));
    order.extend(rest);
    order
}

/// Keeps in `to_read` (found files' numbers, in order) only what `batch`
/// reads: files before its first are not read (a batch before it took
/// them), and of the files with new bytes (`wanted`), the first
/// `max_files` and every other whose first two lines are theirs
/// (`head_of`, see [`head_key`]): copies of one another are read in one
/// batch, where what they share is settled once (`settle_overlaps`).
/// The files left out are done for this batch (marked in `done`).
/// Returns the files with new bytes left for a later batch, in order.
fn take_batch(
    to_read: &mut Vec<usize>,
    done: &mut [bool],
    batch: Batch,
    wanted: impl Fn(usize) -> bool,
    head_of: impl Fn(usize) -> u64,
) -> Vec<usize> {
    if batch.first == 0 && to_read.len() <= batch.max_files {
        return Vec::new();
    }
    to_read.retain(|&i| {
        let keep = i >= batch.first;
        if !keep {
            done[i] = true;
        }
        keep
    });
    let mut want: Vec<usize> = to_read.iter().copied().filter(|&i| wanted(i)).collect();
    if want.len() <= batch.max_files {
        return Vec::new();
    }
    let later = want.split_off(batch.max_files);
    let heads: HashSet<u64> = want.iter().map(|&i| head_of(i)).filter(|&h| h != 0).collect();
    let left: Vec<usize> =
        later.into_iter().filter(|&i| heads.is_empty() || !heads.contains(&head_of(i))).collect();
    for &i in &left {
        done[i] = true;
    }
    to_read.retain(|&i| left.binary_search(&i).is_err());
    left
}

/// What files that may hold copies of each other share: the hash of
/// their first two lines (at most [`SECOND_WINDOW`] bytes) as they are
/// now; 0 when the file cannot be read (it is then nobody's copy).
fn head_key(src: &Source) -> u64 {
    use std::io::{BufRead, Read};
    let Ok(file) = File::open(&src.path) else { return 0 };
    let input: Box<dyn Read> = if compressed::is_compressed(&src.path) {
        match compressed::decoder(file) {
            Ok(d) => Box::new(d),
            Err(_) => return 0,
        }
    } else {
        Box::new(file)
    };
    let mut input = io::BufReader::new(input.take(SECOND_WINDOW));
    let mut head = Vec::new();
    for _ in 0..2 {
        if input.read_until(b'\n', &mut head).is_err() {
            return 0;
        }
    }
    fnv64(&head).max(1)
}

/// Makes files that hold copies of each other count their shared bytes
/// once within a run.
///
/// Two files of one content can both count the same bytes in one run: a
/// transcript and a copy of it that are both new, a copy taken after the
/// original grew, a mirror that a sync tool rewrites as the original
/// grows. Such files share their first line. In order (files resuming
/// their own state first, then path order), each is compared with the
/// files of its group settled before it; where it holds the same bytes as
/// one of them beyond where it started, it is read again from where they
/// part, continuing that file's state there. Costs nothing unless two
/// files of one group both had new bytes.
fn settle_overlaps(
    sources: &[Source],
    keys: &KeyList,
    results: &mut Scans,
    ctx: &Ctx,
    total: &mut Counts,
) {
    let mut members: HashMap<u64, usize> = HashMap::new();
    for r in results.iter().filter(|r| r.bytes > 0) {
        if let Some(g) = r.group {
            *members.entry(g).or_default() += 1;
        }
    }
    let mut order: Vec<usize> = (0..results.len())
        .filter(|&i| results[i].bytes > 0 && results[i].group.is_some_and(|g| members[&g] > 1))
        .collect();
    if order.is_empty() {
        return;
    }
    order.sort_by_key(|&i| (!results[i].resumed_own(&keys[i]), i));
    // Files of a group whose first two lines differ share no more than the
    // first line, so they are not compared (agents that begin every file
    // with the same line, as Kimi's `metadata`, make one group of every
    // session: comparing them all would be quadratic).
    let second: HashMap<usize, u64> =
        order.iter().filter_map(|&i| second_of(&sources[i], &results[i]).map(|h| (i, h))).collect();
    let mut settled: HashMap<u64, Vec<usize>> = HashMap::new();
    for i in order {
        let group = results[i].group.expect("grouped");
        let before = settled.entry(group).or_default().clone();
        settled.get_mut(&group).expect("just made").push(i);
        let from = results[i].begin.as_ref().map_or(0, |b| b.from);
        // The earlier file holding the most of this one's new bytes.
        let mut best: Option<(u64, usize)> = None;
        for j in before {
            if let (Some(a), Some(b)) = (second.get(&i), second.get(&j)) {
                if a != b {
                    // They part within their second line: at most the
                    // first line is shared, which is nobody's to count.
                    continue;
                }
            }
            match shared_until(&sources[i], &results[i], &sources[j], &results[j]) {
                // Bytes shared only with what `j`'s lineage counted in
                // earlier runs are the formats' replay marks' to settle.
                Ok(s) if s > from && s >= begun(&results[j]) && best.is_none_or(|(b, _)| s > b) => {
                    best = Some((s, j))
                }
                Ok(_) => {}
                Err(e) => {
                    results[i].warning.get_or_insert_with(|| read_warning(&sources[i].path, &e));
                }
            }
        }
        let Some((at, j)) = best else { continue };
        let again = state_at(&sources[j], &results[j], at, ctx).and_then(|(known, mut st)| {
            adopt(&mut st, &sources[i], ctx);
            let pred = results[i].begin.as_ref().and_then(|b| b.pred.clone());
            let begin = Begin { from: at, known, pred, kind: Kind::Resume };
            read_from(&sources[i], &open(&sources[i])?, begin, st, ctx, &ctx.known, None)
        });
        let again =
            again.and_then(|r| Ok((give_back(&sources[i], &keys[i], &results[i], ctx)?, r)));
        match again {
            Ok((first, mut r)) => {
                // Its claims were settled by id as the scan went; a copy's
                // claims count nothing more.
                total.subtract(&first);
                r.claims = Claims::default();
                r.overlapped = true;
                results[i] = r;
            }
            Err(e) => {
                // Its first read stands (counted, its state advanced).
                results[i].warning.get_or_insert_with(|| read_warning(&sources[i].path, &e));
            }
        }
    }
}

/// The hash of a file's first two lines as counted (at most
/// [`SECOND_WINDOW`] bytes), or `None` when it cannot be read.
fn second_of(src: &Source, r: &FileScan) -> Option<u64> {
    let offset = r.state.as_ref()?.offset;
    let opened = open(src).ok()?;
    let mut window = vec![0u8; offset.min(SECOND_WINDOW) as usize];
    let n = read_full_at(&opened.file, &mut window, 0).ok()?;
    window.truncate(n);
    let end = memchr::memchr_iter(b'\n', &window).nth(1).map_or(window.len(), |i| i + 1);
    Some(fnv64(&window[..end]))
}

/// Where a file's reading began this run.
fn begun(r: &FileScan) -> u64 {
    r.begin.as_ref().map_or(u64::MAX, |b| b.from)
}

/// How far two files scanned this run hold the same bytes, up to where
/// both were read, at a line end.
fn shared_until(a: &Source, ra: &FileScan, b: &Source, rb: &FileScan) -> io::Result<u64> {
    let (Some(sa), Some(sb), Some(ba), Some(bb)) = (&ra.state, &rb.state, &ra.begin, &rb.begin)
    else {
        return Ok(0);
    };
    let limit = sa.offset.min(sb.offset);
    if ba.from == sb.offset && ba.known == known_of(sb) {
        // `a` starts exactly where `b` ends: nothing of it is `b`'s.
        return Ok(ba.from.min(limit));
    }
    // Where both started from the same bytes, only what follows is read.
    let start = if ba.from == bb.from && ba.known == bb.known { ba.from.min(limit) } else { 0 };
    let (fa, fb) = (open(a)?, open(b)?);
    let mut line_end = start;
    let (mut x, mut y) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    let mut at = start;
    while at < limit {
        let want = x.len().min((limit - at) as usize);
        let n = read_full_at(&fa.file, &mut x[..want], at)?.min(read_full_at(
            &fb.file,
            &mut y[..want],
            at,
        )?);
        let same = x[..n].iter().zip(&y[..n]).position(|(p, q)| p != q).unwrap_or(n);
        if let Some(nl) = memchr::memrchr(b'\n', &x[..same]) {
            line_end = at + nl as u64 + 1;
        }
        if same < want {
            return Ok(line_end);
        }
        at += n as u64;
    }
    Ok(limit)
}

/// Fills `buf` from `at` as far as the file allows.
fn read_full_at(f: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], at + n as u64)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A state's content identity at its offset.
fn known_of(st: &FileState) -> Prefix {
    Prefix { chain: st.chain, hash: st.prefix.unwrap_or_default() }
}

/// The identity and state of a file scanned this run at offset `at` (a
/// line end between where its reading began and ended).
fn state_at(src: &Source, r: &FileScan, at: u64, ctx: &Ctx) -> io::Result<(Prefix, FileState)> {
    let (Some(st), Some(begin)) = (&r.state, &r.begin) else {
        return Err(io::Error::other("not scanned"));
    };
    if at == st.offset {
        return Ok((known_of(st), st.clone()));
    }
    // Read it again up to `at`, counting nothing.
    let start = start_state(src, &key_of(&src.path), begin, ctx);
    let part = read_from(src, &open(src)?, begin.clone(), start, ctx, &ctx.known, Some(at))?;
    let st = part.state.ok_or_else(|| io::Error::other("not scanned"))?;
    if st.offset != at {
        return Err(io::Error::other("changed while being read (shorter than its own state)"));
    }
    Ok((known_of(&st), st))
}

/// What a file's read this run added to the run's total, which is to be
/// replaced: nothing for a file read again before (its counts are still
/// its own, and go with it), else (they were added as it came in) what
/// the same read counts done again, up to where it stopped.
fn give_back(src: &Source, key: &str, r: &FileScan, ctx: &Ctx) -> io::Result<Counts> {
    if r.overlapped {
        return Ok(Counts::default());
    }
    let (Some(st), Some(begin)) = (&r.state, &r.begin) else { return Ok(Counts::default()) };
    let start = start_state(src, key, begin, ctx);
    let again =
        read_from(src, &open(src)?, begin.clone(), start, ctx, &ctx.known, Some(st.offset))?;
    if again.state.as_ref().map(|s| s.offset) != Some(st.offset) {
        return Err(io::Error::other("changed while being read (shorter than its own state)"));
    }
    Ok(again.counts)
}

/// Makes copies of one pi session count once within a run.
///
/// Files are scanned in parallel against the sessions known at the start
/// of the run, so two files of the same session that are both read from
/// their start in one run (a transcript and a rewritten copy of it, both
/// new) would both count it. Files resumed from an offset are
/// authoritative; then, in path order, a file read from its start whose
/// session another file of this run already counted is scanned again
/// knowing how far that went. Costs nothing unless such a collision
/// happens.
fn settle_copies(
    sources: &[Source],
    keys: &KeyList,
    results: &mut Scans,
    ctx: &Ctx,
    total: &mut Counts,
) {
    let session_of = |r: &FileScan| r.state.as_ref().and_then(|s| s.pi.session).filter(|h| *h != 0);
    // Sessions counted this run by files resumed from an offset, then by
    // files read from their start, in path order.
    // (A file read again past another's bytes holds none of its entries.)
    let mut touched: HashSet<u64> = results
        .iter()
        .filter(|r| !r.read_from_start() && r.bytes > 0 && !r.overlapped)
        .filter_map(session_of)
        .collect();
    let mut collisions = Vec::new();
    for (i, r) in results.iter().enumerate().filter(|(_, r)| r.read_from_start()) {
        if let Some(h) = session_of(r) {
            if !touched.insert(h) {
                collisions.push(i);
            }
        }
    }
    // Rare: re-read each colliding copy knowing how far the files before
    // it counted its session (resumed files first, then path order).
    for i in collisions {
        let mut marks = ctx.known.clone();
        let before = results.iter().enumerate().filter(|(j, r)| !r.read_from_start() || *j < i);
        let states: Vec<FileState> = before.filter_map(|(_, r)| r.state.clone()).collect();
        for st in &states {
            pi::raise_mark(&mut marks, &st.pi);
        }
        let Some(begin) = results[i].begin.clone() else { continue };
        let start = start_state(&sources[i], &keys[i], &begin, ctx);
        let again = open(&sources[i])
            .and_then(|f| read_from(&sources[i], &f, begin, start, ctx, &marks, None))
            .and_then(|r| Ok((give_back(&sources[i], &keys[i], &results[i], ctx)?, r)));
        match again {
            Ok((first, r)) => {
                total.subtract(&first);
                results[i] = r;
            }
            Err(e) => {
                results[i].warning.get_or_insert_with(|| read_warning(&sources[i].path, &e));
            }
        }
        // Only pi files collide here, and pi files file no claims (their
        // copies are recognised in the file itself).
        debug_assert!(results[i].claims.is_empty());
    }
}

/// Known states by their first bytes: (head length, head hash) → keys.
/// Only states that counted something are in it. Sorted arrays, built on
/// the scan's threads (a run may know hundreds of thousands of files:
/// 32 bytes a state, in vectors of the exact size).
struct ContentIndex<'a> {
    /// (head length, head hash, state), sorted.
    by_head: Vec<(u32, u64, u32)>,
    /// (first line, state), sorted, one per first line: the state that
    /// counted the most after it (the first of equals in load order).
    by_first: Vec<(u64, u32)>,
    /// `lens[n]`: some state's head is `n` bytes long.
    lens: Vec<bool>,
    /// States are numbered in load order: the loaded ones, then those
    /// left out (by their place in `left`).
    loaded: Vec<(&'a str, &'a FileState)>,
    /// The entries left out (`heads`): the key of one is its found file's
    /// (in `keys`), or is read again once those are let go.
    skipped: Option<&'a Skipped>,
    keys: &'a KeyList<'a>,
}

/// How [`ContentIndex::new`] sorts.
#[derive(Clone, Copy)]
enum Sort {
    /// On the current rayon pool: only where no job of the scan can be
    /// waiting (a thread waiting on a parallel sort runs other jobs, and one
    /// of those could ask for the index being built).
    Parallel,
    /// On this thread.
    Here,
}

/// What [`ContentIndex`] knows of a state: (offset, head length, head
/// hash, first line).
type Known = (u64, u32, u64, u64);

impl<'a> ContentIndex<'a> {
    /// The index of the loaded states and of those left out.
    fn new(ctx: &Ctx<'a>, sort: Sort) -> ContentIndex<'a> {
        ContentIndex::of(ctx.files, ctx.skipped, ctx.keys, sort)
    }

    /// The index of `files` (loaded) and of the entries `skipped` left
    /// out (found file `keys[i]`, its identity).
    fn of(
        files: &'a BTreeMap<String, FileState>,
        skipped: Option<&'a Skipped>,
        keys: &'a KeyList<'a>,
        sort: Sort,
    ) -> ContentIndex<'a> {
        let loaded: Vec<(&'a str, &'a FileState)> =
            files.iter().map(|(k, f)| (k.as_str(), f)).collect();
        let mut index = ContentIndex {
            by_head: Vec::new(),
            by_first: Vec::new(),
            lens: Vec::new(),
            loaded,
            skipped,
            keys,
        };
        let n = (index.loaded.len() + index.left().len()) as u32;
        let counted = |r: &u32| {
            let (offset, head_len, _, _) = index.known(*r);
            offset > 0 && head_len > 0 && head_len <= HEAD_LEN
        };
        let with_first = |r: &u32| counted(r) && index.known(*r).3 != 0;
        // Counted first, then made: a vector grown by doubling would hold
        // up to twice what it needs for as long as the scan.
        let mut by_head = Vec::with_capacity((0..n).filter(counted).count());
        by_head.extend((0..n).filter(counted).map(|r| {
            let (_, len, hash, _) = index.known(r);
            (len, hash, r)
        }));
        let mut by_first = Vec::with_capacity((0..n).filter(with_first).count());
        by_first.extend((0..n).filter(with_first).map(|r| (index.known(r).3, r)));
        // Of one first line, the state that counted the most, then the
        // first in load order.
        // (The offsets are looked up only between states of one first line.)
        let most_first = |&(a, i): &(u64, u32), &(b, j): &(u64, u32)| {
            a.cmp(&b).then_with(|| index.known(j).0.cmp(&index.known(i).0)).then(i.cmp(&j))
        };
        match sort {
            Sort::Parallel => {
                by_head.par_sort_unstable();
                by_first.par_sort_unstable_by(most_first);
            }
            Sort::Here => {
                by_head.sort_unstable();
                by_first.sort_unstable_by(most_first);
            }
        }
        by_first.dedup_by_key(|e| e.0);
        let mut lens = vec![false; HEAD_LEN as usize + 1];
        for (len, _, _) in &by_head {
            lens[*len as usize] = true;
        }
        (index.by_head, index.by_first, index.lens) = (by_head, by_first, lens);
        index
    }

    /// What the index knows of state `r`.
    fn known(&self, r: u32) -> Known {
        let r = r as usize;
        match self.loaded.get(r) {
            Some((_, f)) => (f.offset, f.head_len, f.head_hash, f.first_line),
            None => {
                let h = &self.left()[r - self.loaded.len()].1;
                (h.offset, u32::from(h.head_len), h.head_hash, h.first_line)
            }
        }
    }

    /// The entries left out, numbered after the loaded states.
    fn left(&self) -> &'a [(u32, crate::state::positions::Head)] {
        self.skipped.map_or(&[][..], |sk| &sk.heads[..])
    }

    /// The key of state `r` (`None`: an entry left out that could not be
    /// read again; the run sends nothing, see [`Skipped::reread_failed`]).
    fn key(&self, r: u32) -> Option<Cow<'a, str>> {
        match self.left_at(r) {
            None => Some(Cow::Borrowed(self.loaded[r as usize].0)),
            Some((sk, i)) => match sk.detached {
                Some(_) => sk.entry_at(i).map(|(k, _)| Cow::Owned(k)),
                None => Some(Cow::Borrowed(self.found_key(i))),
            },
        }
    }

    /// The key and the whole state of state `r` (an entry left out is read
    /// again, once: `None` when it cannot be).
    fn entry(&self, r: u32) -> Option<(Cow<'a, str>, Cow<'a, FileState>)> {
        match self.left_at(r) {
            None => {
                let (k, f) = self.loaded[r as usize];
                Some((Cow::Borrowed(k), Cow::Borrowed(f)))
            }
            Some((sk, i)) => match sk.detached {
                Some(_) => sk.entry_at(i).map(|(k, f)| (Cow::Owned(k), Cow::Owned(f))),
                None => {
                    let k = self.found_key(i);
                    Some((Cow::Borrowed(k), Cow::Owned(sk.fetch_key(k)?)))
                }
            },
        }
    }

    /// Where state `r` is among the entries left out, if it is one.
    fn left_at(&self, r: u32) -> Option<(&'a Skipped, usize)> {
        let i = (r as usize).checked_sub(self.loaded.len())?;
        Some((self.skipped?, i))
    }

    /// The key of the found file entry left out `i` was left out for.
    fn found_key(&self, i: usize) -> &'a str {
        let keys: &'a KeyList<'a> = self.keys;
        &keys[self.left()[i].0 as usize]
    }

    /// The state that counted the most after the first line `first`.
    fn first(&self, first: u64) -> Option<(Cow<'a, str>, u64)> {
        let at = self.by_first.binary_search_by_key(&first, |e| e.0).ok()?;
        let (_, r) = self.by_first[at];
        Some((self.key(r)?, self.known(r).0))
    }

    /// The states whose head `head` starts with.
    fn candidates(&self, head: &[u8]) -> Vec<u32> {
        let mut out = Vec::new();
        let mut h = Fnv64::default();
        for n in 1..=head.len() {
            h.write(&head[n - 1..n]);
            if self.lens[n] {
                let at = (n as u32, h.finish());
                let from = self.by_head.partition_point(|e| (e.0, e.1) < at);
                let to = from + self.by_head[from..].partition_point(|e| (e.0, e.1) == at);
                out.extend(self.by_head[from..to].iter().map(|e| e.2));
            }
        }
        out
    }
}

/// True when a file is as its state left it: same device, inode, size and
/// modification time (nothing to read).
pub fn unchanged(st: &FileState, m: &Meta) -> bool {
    (st.dev, st.ino, st.size, st.mtime_ns) == (m.dev, m.ino, m.size, m.mtime_ns)
}

/// The state key of a path (its text; the rare non-UTF-8 path lossily).
pub fn key_of(p: &Path) -> String {
    match p.to_str() {
        Some(s) => s.to_owned(),
        None => p.to_string_lossy().into_owned(),
    }
}

/// The warning for a file that could not be read.
fn read_warning(path: &Path, e: &io::Error) -> String {
    format!(
        "{}: cannot read: {e}; skipped this run (its other counts are unaffected)",
        path.display()
    )
}

/// Scans one file; never fails: problems become a warning and leave the
/// file's state as it was.
fn scan_file(src: &Source, key: &str, ctx: &Ctx) -> FileScan {
    let own = ctx.files.get(key);
    if let Some(p) = own.filter(|p| unchanged(p, &src.meta)) {
        let mut out = FileScan::default();
        if p.missing_since_unix_nano.is_some() {
            let mut st = p.clone();
            st.missing_since_unix_nano = None;
            out.state = Some(st);
        }
        return out;
    }
    let scanned = open(src).and_then(|opened| {
        let meta = Meta::of(&opened.file.metadata()?);
        let begin = decide(key, own, &opened.file, &meta, ctx)?;
        let start = start_state(src, key, &begin, ctx);
        read_from(src, &opened, begin, start, ctx, &ctx.known, None)
    });
    scanned.unwrap_or_else(|e| FileScan {
        warning: Some(read_warning(&src.path, &e)),
        ..FileScan::default()
    })
}

/// A source opened for reading: the file itself, or the content of a
/// compressed file ([`compressed`]) with that file's own stat, which its
/// state records (so an unchanged archive is not decompressed again).
struct Opened {
    /// What is read.
    file: File,
    /// The compressed file's stat, for a compressed source.
    stat: Option<Meta>,
}

/// Opens a source for reading.
fn open(src: &Source) -> io::Result<Opened> {
    // The file opened is the one checked: a link swapped in after
    // discovery is refused here (see `discover::owner_of_place`).
    let file = File::open(&src.path)?;
    let compressed = compressed::is_compressed(&src.path);
    // One stat, and only when needed: scanning as root, or to keep a
    // compressed file's own stat.
    let meta = if src.owner.is_some() || compressed { Some(file.metadata()?) } else { None };
    if let Some(why) =
        meta.as_ref().and_then(|m| crate::pipeline::discover::foreign(m, src.owner()))
    {
        return Err(io::Error::other(why));
    }
    if compressed {
        let stat = meta.as_ref().map(Meta::of);
        Ok(Opened { file: compressed::open_whole_file(file)?, stat })
    } else {
        Ok(Opened { file, stat: None })
    }
}

/// Decides where a file that may have changed is read from.
fn decide(
    key: &str,
    own: Option<&FileState>,
    file: &File,
    meta: &Meta,
    ctx: &Ctx,
) -> io::Result<Begin> {
    // How far its own entry explains it: another known file's state is
    // taken only when this file holds more of it.
    let (mut own_at, mut rewritten, mut floor) = (None, false, 0);
    if let Some(p) = own {
        let here = p.missing_since_unix_nano.is_none();
        if let Some(known) = continues(file, meta, p)? {
            // Even the same inode may be another file now (inodes are
            // reused at once): a longer state elsewhere whose bytes this
            // file holds wins below. Looking costs one index probe.
            let resume =
                Begin { from: p.offset, known, pred: Some(key.to_owned()), kind: Kind::Resume };
            (own_at, floor) = (Some(resume), p.offset);
        } else if here && p.first_line != 0 && first_line_hash(file, meta)? == Some(p.first_line) {
            // Its own start but not all it counted: this file rewritten,
            // or an older copy of it restored. Its own replay marks know
            // how far it was counted; a shorter state elsewhere does not.
            (rewritten, floor) = (true, p.offset);
        }
    }
    if let Some((pred, from, known)) = identify(key, file, meta, ctx, floor)? {
        // Unless a file of the same start counted more than this one holds
        // (an older copy restored): then that file's replay marks know
        // what was counted past the shorter state.
        return Ok(match same_start(key, file, meta, ctx)? {
            Some((further, at)) if at > from => Begin::fresh(Some(further.into_owned())),
            _ => Begin { from, known, pred: Some(pred.into_owned()), kind: Kind::Resume },
        });
    }
    if let Some(b) = own_at {
        return Ok(b);
    }
    if !rewritten {
        // A file that starts as a known one but holds less than it counted
        // (an older copy restored under another name): that file's replay
        // marks recognise what was counted.
        if let Some((pred, _)) = same_start(key, file, meta, ctx)? {
            return Ok(Begin::fresh(Some(pred.into_owned())));
        }
    }
    Ok(match own {
        // The same path rewritten: its old entry's marks recognise what
        // it counted before.
        Some(_) if rewritten => Begin::fresh(Some(key.to_owned())),
        Some(p) if p.missing_since_unix_nano.is_none() => Begin::fresh(Some(key.to_owned())),
        // The file once here vanished; what is here now is another file
        // (its session, if known, is recognised by its header).
        Some(_) => Begin::fresh(None),
        None if ctx.opts.new_files_at_end => Begin {
            from: last_line_end(file, meta.size)?,
            known: Hasher::default().prefix(),
            pred: None,
            kind: Kind::AtEnd,
        },
        None => Begin::fresh(None),
    })
}

/// The identity of the bytes up to `st`'s offset when `file` holds them,
/// so that reading can continue `st` from there.
fn continues(file: &File, meta: &Meta, st: &FileState) -> io::Result<Option<Prefix>> {
    if meta.size < st.offset {
        return Ok(None);
    }
    if (st.dev, st.ino) == (0, 0) && st.prefix.is_none() {
        // Imported from the Go predecessor: only an offset at a line end,
        // trusted while the file is that long.
        return identity::prefix_of(file, st.offset);
    }
    // A hand-edited or damaged entry whose tail lies before the file.
    let Some(tail_at) = st.offset.checked_sub(u64::from(st.tail_len)) else { return Ok(None) };
    if hash_range(file, 0, st.head_len)? != st.head_hash
        || hash_range(file, tail_at, st.tail_len)? != st.tail_hash
    {
        return Ok(None);
    }
    let same_inode = (st.dev, st.ino) == (meta.dev, meta.ino);
    match st.prefix {
        // The same file, grown: the block before the offset still holds
        // what was hashed.
        Some(_) if same_inode => {
            let known = known_of(st);
            Ok(identity::resume(file, st.offset, known)?.map(|_| known))
        }
        // Another inode (a copy, a restore, an atomic rewrite): every byte
        // up to the offset must be the same.
        Some(_) => Ok(identity::prefix_of(file, st.offset)?.filter(|p| *p == known_of(st))),
        // A state from before content identity: the same inode is trusted
        // as it was then, and its identity is computed once.
        None if same_inode => identity::prefix_of(file, st.offset),
        None => Ok(None),
    }
}

/// Finds the known state whose content `file` holds the most of (another
/// path's: a move, a copy, a restore), past `floor` bytes. Returns its
/// key, offset and identity.
fn identify<'a>(
    key: &str,
    file: &File,
    meta: &Meta,
    ctx: &Ctx<'a>,
    floor: u64,
) -> io::Result<Option<(Cow<'a, str>, u64, Prefix)>> {
    let index = ctx.content.get_or_init(|| ContentIndex::new(ctx, Sort::Here));
    if index.by_head.is_empty() || meta.size == 0 {
        return Ok(None);
    }
    let mut head = vec![0u8; (HEAD_LEN as u64).min(meta.size) as usize];
    let n = read_full_at(file, &mut head, 0)?;
    head.truncate(n);
    let mut cands: Vec<(Cow<'a, str>, Cow<'a, FileState>)> = index
        .candidates(&head)
        .into_iter()
        .filter_map(|r| index.entry(r))
        .filter(|(k, _)| k != key)
        .filter(|(_, f)| f.offset > floor && f.offset <= meta.size && f.prefix.is_some())
        .collect();
    // The longest first; a vanished file (a move) before a live one.
    let order = |(k, f): &(Cow<'a, str>, Cow<'a, FileState>)| {
        (std::cmp::Reverse(f.offset), f.missing_since_unix_nano.is_none(), k.clone())
    };
    cands.sort_by(|a, b| order(a).cmp(&order(b)));
    for (k, f) in cands {
        if let Some(known) = continues(file, meta, &f)? {
            return Ok(Some((k, f.offset, known)));
        }
    }
    Ok(None)
}

/// The known state (of another path) that counted the most of a file
/// starting with this file's first line, and how far it counted.
fn same_start<'a>(
    key: &str,
    file: &File,
    meta: &Meta,
    ctx: &Ctx<'a>,
) -> io::Result<Option<(Cow<'a, str>, u64)>> {
    let index = ctx.content.get_or_init(|| ContentIndex::new(ctx, Sort::Here));
    if index.by_first.is_empty() {
        return Ok(None);
    }
    let Some(first) = first_line_hash(file, meta)? else { return Ok(None) };
    Ok(index.first(first).filter(|(k, _)| k != key))
}

/// The hash of a file's first complete line, given its first bytes (at
/// most [`HEAD_LEN`] of them: a longer line is known by those).
fn first_line_of(head: &[u8]) -> u64 {
    fnv64(&head[..memchr::memchr(b'\n', head).map_or(head.len(), |i| i + 1)])
}

/// The hash of a file's first line, when it has a complete one (or at
/// least [`HEAD_LEN`] bytes).
fn first_line_hash(file: &File, meta: &Meta) -> io::Result<Option<u64>> {
    let mut head = vec![0u8; (HEAD_LEN as u64).min(meta.size) as usize];
    let n = read_full_at(file, &mut head, 0)?;
    head.truncate(n);
    let complete = memchr::memchr(b'\n', &head).is_some() || head.len() == HEAD_LEN as usize;
    Ok(complete.then(|| first_line_of(&head)))
}

/// The state a read starts from: the state it continues (under this
/// file's pack), the path's old entry made ready to replay, or a new one.
fn start_state(src: &Source, key: &str, begin: &Begin, ctx: &Ctx) -> FileState {
    let pred = begin.pred.as_deref().and_then(|k| ctx.state(k));
    let mut st = match (begin.kind, pred) {
        (Kind::Resume, Some(p)) => {
            let mut st = p.into_owned();
            if begin.pred.as_deref() != Some(key) {
                adopt(&mut st, src, ctx);
            }
            st
        }
        (Kind::Fresh, Some(p)) => {
            let mut st = p.into_owned();
            if begin.pred.as_deref() != Some(key) {
                adopt(&mut st, src, ctx);
            }
            st.pi.begin_replay();
            st.codex.begin_replay();
            st
        }
        _ => FileState {
            pack: src.pack.as_str().to_string(),
            session_type: session_type(src, &ctx.indexes).as_str().to_string(),
            ..FileState::default()
        },
    };
    st.missing_since_unix_nano = None;
    if st.session_type.is_empty() {
        st.session_type = session_type(src, &ctx.indexes).as_str().to_string();
    }
    st
}

/// Makes another file's state this file's: what it adds counts under this
/// file's pack (and, when that differs, its session type).
fn adopt(st: &mut FileState, src: &Source, ctx: &Ctx) {
    if st.pack != src.pack.as_str() {
        st.pack = src.pack.as_str().to_string();
        st.session_type = session_type(src, &ctx.indexes).as_str().to_string();
    }
}

/// Reads a file from `begin` (up to `limit`, or its size at open) and
/// counts what it holds.
fn read_from(
    src: &Source,
    opened: &Opened,
    begin: Begin,
    mut st: FileState,
    ctx: &Ctx,
    marks: &pi::KnownSessions,
    limit: Option<u64>,
) -> io::Result<FileScan> {
    let file = &opened.file;
    let meta = Meta::of(&file.metadata()?);
    let from = begin.from;
    let mut hasher = match begin.kind {
        Kind::AtEnd => None,
        _ if from == 0 => Some(Hasher::default()),
        _ => Some(identity::resume(file, from, begin.known)?.ok_or_else(|| {
            io::Error::other("changed while being read (the bytes before the offset)")
        })?),
    };
    let session_type = parse_session_type(&st.session_type);
    // Records without a time of their own are dated by the file's last
    // change (parsers move the hour as they meet timestamps).
    let mut counts = meta.dated();
    let mut results = [0u64; 4];
    let mut reader = file;
    reader.seek(SeekFrom::Start(from))?;
    let end = limit.unwrap_or(meta.size).min(meta.size);
    let len = if begin.kind == Kind::AtEnd { 0 } else { end.saturating_sub(from) };
    let mut claims = Claims::default();
    let parents = |path: &str| ctx.parent_entries(path);
    let outcome = {
        let format = agents::agent(src.pack).map_or(Format::Pi, |a| a.format);
        let mut d = match format {
            Format::Claude => agents::Deriver::Claude(claude_code::records::Deriver {
                session_type,
                state: &mut st.claude,
                claims: &mut claims,
            }),
            Format::Codex => {
                agents::Deriver::Codex(codex::records::Deriver { state: &mut st.codex })
            }
            Format::Gemini => agents::Deriver::Gemini(gemini_cli::records::Deriver {
                session_type,
                state: &mut st.gemini,
            }),
            Format::Usage(_) | Format::Stores => {
                agents::Deriver::Usage(agents::usage::LineDeriver {
                    parse: match format {
                        Format::Usage(parse) => parse,
                        _ => agents::usage::ignore_line,
                    },
                    pack: src.pack,
                    session_type,
                    state: &mut st.usage,
                    claims: &mut claims,
                })
            }
            Format::Pi => agents::Deriver::Pi(pi::Deriver {
                pack: src.pack,
                session_type,
                state: &mut st.pi,
                known: marks,
                fork: pi::Fork::with(&parents),
            }),
        };
        // A line longer than `chunk_bytes` is squeezed (long text cut) as
        // it streams past, so no line is ever held whole. Reads are
        // smaller: what was read is hashed, split and parsed while it is
        // still in the core's cache (3% less CPU on the Codex home than
        // reads of 1 MiB).
        let chunk = ctx.opts.chunk_bytes;
        let limits = Limits {
            chunk: chunk.min(READ_BYTES),
            max_line: ctx.opts.max_line_bytes,
            squeeze_at: chunk,
        };
        growing::read_lines_hashed(&mut reader, from, len, &limits, hasher.as_mut(), |line| {
            // A writer that kept its offset across a copy-truncate leaves
            // NUL bytes before its next line: they are padding, not data.
            let line = trim_leading_nuls(line);
            let r = if line.iter().all(u8::is_ascii_whitespace) {
                LineResult::Ignored
            } else {
                d.line(line, &mut counts)
            };
            results[r as usize] += 1;
        })?
    };
    // Tests kill the run here: while files are being read in parallel.
    crate::failpoint::hit("mid-scan");
    results[LineResult::Oversized as usize] += outcome.oversized;
    for r in LineResult::ALL {
        counts.add(Series::Lines { pack: src.pack, result: *r }, results[*r as usize]);
    }
    st.lines += outcome.lines + outcome.oversized;
    st.offset = outcome.end;
    // A compressed source records its own stat, not its content's.
    let stat = opened.stat.unwrap_or(meta);
    st.dev = stat.dev;
    st.ino = stat.ino;
    st.size = stat.size;
    st.mtime_ns = stat.mtime_ns;
    let mut head = vec![0u8; (HEAD_LEN as u64).min(st.offset) as usize];
    let n = read_full_at(file, &mut head, 0)?;
    if n < head.len() {
        return Err(io::Error::other("changed while being read (shrank)"));
    }
    st.head_len = head.len() as u32;
    st.head_hash = if head.is_empty() { 0 } else { fnv64(&head) };
    st.tail_len = (TAIL_LEN as u64).min(st.offset) as u32;
    st.tail_hash = hash_range(file, st.offset - u64::from(st.tail_len), st.tail_len)?;
    (st.prefix, st.chain) = match hasher {
        Some(h) => {
            let p = h.prefix();
            (Some(p.hash), p.chain)
        }
        None => (None, 0),
    };
    let group = (st.offset > 0).then(|| first_line_of(&head));
    st.first_line = group.unwrap_or(0);
    Ok(FileScan {
        group,
        bytes: outcome.end - from,
        begin: Some(begin),
        counts,
        claims,
        state: Some(st),
        warning: None,
        overlapped: false,
    })
}

/// Drops NUL bytes at the start of a line.
fn trim_leading_nuls(line: &[u8]) -> &[u8] {
    let n = line.iter().take_while(|&&b| b == 0).count();
    &line[n..]
}

/// The offset just past the last newline before `size` (0 if none).
fn last_line_end(file: &File, size: u64) -> std::io::Result<u64> {
    const STEP: u64 = 64 * 1024;
    let mut buf = vec![0u8; STEP as usize];
    let mut end = size;
    while end > 0 {
        let start = end.saturating_sub(STEP);
        let chunk = &mut buf[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if let Some(i) = memchr::memrchr(b'\n', chunk) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// FNV-1a of `len` bytes at `at` (0 for an empty range, or when the file is
/// shorter, which then never matches a non-empty range's hash).
fn hash_range(file: &File, at: u64, len: u32) -> std::io::Result<u64> {
    if len == 0 {
        return Ok(0);
    }
    let mut buf = vec![0u8; len as usize];
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], at + n as u64)? {
            0 => return Ok(!fnv64(&buf[..n])),
            k => n += k,
        }
    }
    Ok(fnv64(&buf))
}

/// Parses a stored session type (unknown values stay `unknown`).
fn parse_session_type(s: &str) -> SessionType {
    SessionType::ALL.iter().copied().find(|t| t.as_str() == s).unwrap_or(SessionType::Unknown)
}

/// Decides the session type of a newly seen file.
fn session_type(src: &Source, indexes: &IndexCache) -> SessionType {
    match &src.session {
        SessionHint::Known(t) => *t,
        SessionHint::OpenclawIndex => {
            let idx = indexes.get(src.path.parent().unwrap_or(Path::new("")));
            agents::openclaw::session_id(&src.path)
                .and_then(|id| idx.get(id).copied())
                .unwrap_or(SessionType::Main)
        }
    }
}

/// OpenClaw `sessions.json` indexes, each read at most once per run and
/// only when a new file in its directory needs it.
#[derive(Default)]
struct IndexCache {
    map: Mutex<HashMap<PathBuf, Arc<HashMap<String, SessionType>>>>,
}

impl IndexCache {
    /// The index of `dir` (empty when it has none).
    fn get(&self, dir: &Path) -> Arc<HashMap<String, SessionType>> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(dir.to_path_buf())
            .or_insert_with(|| {
                let bytes = std::fs::read(dir.join("sessions.json")).unwrap_or_default();
                Arc::new(agents::openclaw::index(&bytes))
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_files_are_read_first_and_the_rest_in_path_order() {
        // Of 1,000 bytes over 2 threads, files over 15 bytes go first.
        let sizes = [10, 300, 5, 16, 15, 600, 40, 14];
        let size = |i: usize| sizes[i];
        let all: Vec<usize> = (0..sizes.len()).collect();
        assert_eq!(sizes.iter().sum::<u64>(), 1000);
        assert_eq!(reading_order(&all, size, 2), [5, 1, 6, 3, 0, 2, 4, 7]);
        // Only the files to read are ordered, each once.
        assert_eq!(reading_order(&[7, 2, 3], size, 2), [3, 7, 2]);
        assert_eq!(reading_order(&[], size, 2), Vec::<usize>::new());
        // Equal sizes keep their path order.
        assert_eq!(reading_order(&[0, 1, 2], |_| 9, 1), [0, 1, 2]);
        assert_eq!(reading_order(&[0, 1, 2], |_| 0, 0), [0, 1, 2]);
        // Any number of threads (the scan passes its pool's).
        assert_eq!(reading_order(&[0, 1], |i| [5, 900][i], usize::MAX), [1, 0]);
    }

    #[test]
    fn a_batch_takes_the_first_files_with_new_bytes_and_their_copies() {
        // Ten files: the odd ones have new bytes; 3 and 9 begin alike, as
        // do 5 and 7; 0 cannot be read (nobody's copy).
        let head = |i: usize| match i {
            0 => 0,
            3 | 9 => 39,
            5 | 7 => 57,
            _ => 100 + i as u64,
        };
        let take = |batch: Batch, wanted: &dyn Fn(usize) -> bool| {
            let mut to_read: Vec<usize> = (0..10).collect();
            let mut done = [false; 10];
            let left = take_batch(&mut to_read, &mut done, batch, wanted, head);
            let done: Vec<usize> = (0..10).filter(|&i| done[i]).collect();
            (to_read, left, done)
        };
        let odd = |i: usize| i % 2 == 1;
        // All in one batch: nothing left out.
        let (read, left, done) = take(Batch::ALL, &odd);
        assert_eq!((read.len(), left, done), (10, vec![], vec![]));
        // Two a batch: 1 and 3, and 9 for beginning as 3 does; the files
        // without new bytes are read as ever (they cost a stat).
        let (read, left, done) = take(Batch { max_files: 2, first: 0 }, &odd);
        assert_eq!(read, [0, 1, 2, 3, 4, 6, 8, 9]);
        assert_eq!((left, done), (vec![5, 7], vec![5, 7]));
        // The next batch starts at 5 (what was read is committed): 5 and 7,
        // and nothing before 5 again.
        let rest = |i: usize| i == 5 || i == 7;
        let (read, left, done) = take(Batch { max_files: 2, first: 5 }, &rest);
        assert_eq!(read, [5, 6, 7, 8, 9]);
        assert!(left.is_empty());
        assert_eq!(done, [0, 1, 2, 3, 4]);
        // One a batch: a file that cannot be read takes nothing with it.
        let (read, left, _) = take(Batch { max_files: 1, first: 0 }, &|i| i == 0 || i == 9);
        assert_eq!(left, [9]);
        assert!(read.contains(&0) && !read.contains(&9));
    }
    use crate::metrics::Pack;
    use crate::pipeline::discover::{self, Layout, Place};
    use std::io::Write;

    /// Found files at `paths` (nothing else of them is looked at).
    fn found_at(paths: impl IntoIterator<Item = PathBuf>) -> Vec<Source> {
        paths
            .into_iter()
            .map(|p| Source {
                path: p.into(),
                pack: Pack::Pi,
                meta: Meta::default(),
                session: discover::SessionHint::Known(SessionType::Main),
                owner: None,
            })
            .collect()
    }

    #[test]
    fn the_key_index_finds_every_key_and_only_those() {
        use std::os::unix::ffi::OsStringExt;
        let mut paths: Vec<PathBuf> = (0..5_000)
            .map(|i| PathBuf::from(format!("/h/.pi/agent/sessions/--p{}--/{i}.jsonl", i % 40)))
            .collect();
        // Two paths that are not UTF-8 and read lossily alike: the same key
        // twice, the last wins.
        for b in [0xff, 0xfe] {
            paths.push(
                std::ffi::OsString::from_vec(
                    b"/h/x\x00.jsonl".map(|c| if c == 0 { b } else { c }).to_vec(),
                )
                .into(),
            );
        }
        let found = found_at(paths);
        let keys = keys_of(&found);
        assert_eq!(keys.len(), 5_002);
        assert_eq!(&keys[5_000], "/h/x\u{FFFD}.jsonl");
        assert_eq!(keys[5_000], keys[5_001]);
        assert_eq!(&keys[4_999], "/h/.pi/agent/sessions/--p39--/4999.jsonl");
        let index = key_index(&keys);
        for (i, k) in keys.iter().enumerate().take(5_001) {
            let want = if i == 5_000 { 5_001 } else { i as u32 };
            assert_eq!(index.get(k), Some(want), "{k}");
        }
        for k in
            ["", "/h/.pi/agent/sessions/--p0--/5000.jsonl", "/h/.pi/agent/sessions/--p0--/0.json"]
        {
            assert_eq!(index.get(k), None, "{k}");
            assert!(!index.contains_key(k));
        }
    }

    #[test]
    fn the_content_index_finds_heads_and_first_lines_in_load_order() {
        use crate::state::positions::Head;
        let head = b"{\"type\":\"session\"}";
        let (h3, h4) = (crate::hash::fnv64(&head[..3]), crate::hash::fnv64(&head[..4]));
        let st = |offset, head_len, head_hash, first_line| FileState {
            offset,
            head_len,
            head_hash,
            first_line,
            ..FileState::default()
        };
        let files: BTreeMap<String, FileState> = [
            ("a".to_string(), st(100, 4, h4, 7)),
            ("b".to_string(), st(50, 4, h4, 8)),
            // Counted nothing: not in the index.
            ("c".to_string(), st(0, 4, h4, 7)),
        ]
        .into();
        let found = found_at(["x", "y", "z"].map(PathBuf::from));
        let keys = keys_of(&found);
        let left_head = |offset, head_len, head_hash, first_line| Head {
            block: 0,
            entry: 0,
            head_len,
            head_hash,
            first_line,
            offset,
        };
        let left = Skipped {
            heads: vec![(1, left_head(100, 4, h4, 7)), (2, left_head(200, 3, h3, 8))],
            ..Skipped::default()
        };
        for sort in [Sort::Here, Sort::Parallel] {
            let index = ContentIndex::of(&files, Some(&left), &keys, sort);
            // The most counted after a first line; of equals, the first
            // loaded ("a" before "y", both at 100).
            assert_eq!(index.first(7), Some(("a".into(), 100)));
            assert_eq!(index.first(8), Some(("z".into(), 200)));
            assert_eq!(index.first(9), None);
            // Every state whose head the bytes start with, shortest head
            // first, then in load order.
            let candidates = |head: &[u8]| -> Vec<String> {
                let keys = index.candidates(head).into_iter().map(|r| index.key(r).unwrap());
                keys.map(Cow::into_owned).collect()
            };
            assert_eq!(candidates(head), ["z", "a", "b", "y"]);
            assert_eq!(candidates(b"{\"t"), ["z"]);
            assert!(candidates(b"{\"x").is_empty());
        }
    }

    const H: &str = r#"{"type":"session","version":3,"id":"S1","timestamp":"2026-01-01T00:00:00.000Z","cwd":"/w"}"#;
    fn user(i: u32) -> String {
        format!(
            r#"{{"type":"message","id":"u{i}","timestamp":"2026-01-01T00:00:{i:02}.000Z","message":{{"role":"user","content":"x"}}}}"#
        )
    }

    fn opts() -> ScanOptions {
        ScanOptions {
            max_line_bytes: 1 << 20,
            chunk_bytes: 7,
            threads: 2,
            now: 1,
            new_files_at_end: false,
            batch: Batch::ALL,
        }
    }

    fn sources(root: &Path) -> Vec<Source> {
        discover::discover(&[Place { pack: Pack::Pi, root: root.into(), layout: Layout::Tree }])
            .sources
    }

    fn prompts(c: &Counts) -> u64 {
        c.get(&Series::UserPrompt { pack: Pack::Pi, session_type: SessionType::Main })
    }

    fn run(root: &Path, files: &mut BTreeMap<String, FileState>) -> ScanOutput {
        let out = scan(&sources(root), &[], files, &opts());
        for k in &out.files_removed {
            files.remove(k);
        }
        files.extend(out.files_after.clone());
        out
    }

    #[test]
    fn appends_count_once_and_partial_lines_wait() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.jsonl");
        std::fs::write(&p, format!("{H}\n{}\n{}", user(1), &user(2)[..10])).unwrap();
        let mut files = BTreeMap::new();
        let o1 = run(d.path(), &mut files);
        assert_eq!(prompts(&o1.counts), 1);
        let o2 = run(d.path(), &mut files);
        assert!(o2.counts.is_empty(), "no new bytes, nothing counted");
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        writeln!(f, "{}", &user(2)[10..]).unwrap();
        let o3 = run(d.path(), &mut files);
        assert_eq!(prompts(&o3.counts), 1);
        assert_eq!(o3.counts.get(&Series::Lines { pack: Pack::Pi, result: LineResult::Parsed }), 1);
    }

    #[test]
    fn a_renamed_file_is_not_read_again() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.jsonl"), format!("{H}\n{}\n", user(1))).unwrap();
        let mut files = BTreeMap::new();
        run(d.path(), &mut files);
        std::fs::rename(d.path().join("a.jsonl"), d.path().join("b.jsonl")).unwrap();
        let o = run(d.path(), &mut files);
        assert!(o.counts.is_empty());
        assert_eq!(files.keys().count(), 1);
        assert!(files.keys().next().unwrap().ends_with("b.jsonl"));
    }

    #[test]
    fn a_file_renamed_while_another_takes_its_old_path() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.jsonl"), format!("{H}\n{}\n", user(1))).unwrap();
        let mut files = BTreeMap::new();
        run(d.path(), &mut files);
        std::fs::rename(d.path().join("a.jsonl"), d.path().join("c.jsonl")).unwrap();
        let other = H.replace("S1", "S2");
        std::fs::write(d.path().join("a.jsonl"), format!("{other}\n{}\n", user(2))).unwrap();
        let o = run(d.path(), &mut files);
        assert_eq!(prompts(&o.counts), 1, "only the new file's prompt");
        assert_eq!(files.len(), 2);
        // And two files swapping names count nothing.
        let tmp = d.path().join("t");
        std::fs::rename(d.path().join("a.jsonl"), &tmp).unwrap();
        std::fs::rename(d.path().join("c.jsonl"), d.path().join("a.jsonl")).unwrap();
        std::fs::rename(&tmp, d.path().join("c.jsonl")).unwrap();
        assert!(run(d.path(), &mut files).counts.is_empty());
    }

    #[test]
    fn a_reused_inode_with_other_content_is_a_new_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("new.jsonl"), format!("{H}\n{}\n", user(1))).unwrap();
        let meta = sources(d.path())[0].meta;
        // The state remembers a vanished file that had this inode, with
        // other content and a larger offset.
        let mut files = BTreeMap::new();
        let gone = FileState {
            pack: "pi".into(),
            dev: meta.dev,
            ino: meta.ino,
            offset: 10,
            size: 10,
            head_len: 10,
            head_hash: 12345,
            session_type: "main".into(),
            ..FileState::default()
        };
        files.insert(d.path().join("gone.jsonl").display().to_string(), gone);
        let o = run(d.path(), &mut files);
        assert_eq!(prompts(&o.counts), 1, "read in full, not from the old offset");
    }

    #[test]
    fn a_rewritten_file_whose_old_inode_went_to_a_new_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.jsonl"), format!("{H}\n{}\n", user(1))).unwrap();
        let mut files = BTreeMap::new();
        run(d.path(), &mut files);
        let (dev, ino) = {
            let f = files.values().next().unwrap();
            (f.dev, f.ino)
        };
        // a.jsonl is rewritten (new inode) and c.jsonl, another session,
        // gets a's old inode: pretend so by pointing the state at c's inode.
        std::fs::write(
            d.path().join("c.jsonl"),
            format!("{}\n{}\n", H.replace("S1", "S3"), user(5)),
        )
        .unwrap();
        let tmp = d.path().join("a.jsonl.tmp-1");
        std::fs::write(&tmp, format!("{H}\n{}\n{}\n", user(1), user(2))).unwrap();
        std::fs::rename(&tmp, d.path().join("a.jsonl")).unwrap();
        let c_meta =
            sources(d.path()).into_iter().find(|s| s.path.ends_with("c.jsonl")).unwrap().meta;
        for f in files.values_mut() {
            assert_eq!((f.dev, f.ino), (dev, ino));
            f.dev = c_meta.dev;
            f.ino = c_meta.ino;
        }
        let o = run(d.path(), &mut files);
        assert_eq!(prompts(&o.counts), 2, "a's new entry and c's, nothing of a's old");
        assert_eq!(
            o.counts.get(&Series::SessionStart { pack: Pack::Pi, session_type: SessionType::Main }),
            1,
            "only c's session is new"
        );
    }

    #[test]
    fn a_stale_entry_with_a_reused_inode_does_not_hide_a_move() {
        let d = tempfile::tempdir().unwrap();
        let b = d.path().join("b.jsonl");
        std::fs::write(&b, format!("{H}\n{}\n", user(1))).unwrap();
        let mut files = BTreeMap::new();
        run(d.path(), &mut files);
        // A stale entry for a.jsonl (long gone) that happens to carry the
        // inode b.jsonl has now, with other content.
        let mut stale = files.values().next().unwrap().clone();
        stale.head_hash ^= 1;
        stale.offset = 5;
        stale.missing_since_unix_nano = Some(1);
        files.insert(d.path().join("a.jsonl").display().to_string(), stale);
        // b.jsonl is renamed to a.jsonl and grows by one entry.
        std::fs::rename(&b, d.path().join("a.jsonl")).unwrap();
        let mut f =
            std::fs::OpenOptions::new().append(true).open(d.path().join("a.jsonl")).unwrap();
        writeln!(f, "{}", user(2)).unwrap();
        let o = run(d.path(), &mut files);
        assert_eq!(prompts(&o.counts), 1, "only the appended entry");
        // The stale entry is kept, displaced, for what is left of its grace
        // period; one live entry.
        let live = files.values().filter(|f| f.missing_since_unix_nano.is_none()).count();
        assert_eq!(live, 1);
        assert!(files.values().any(|f| f.missing_since_unix_nano == Some(1)));
    }

    #[test]
    fn a_transcript_and_its_copy_new_in_one_run_count_once() {
        let d = tempfile::tempdir().unwrap();
        let body = format!("{H}\n{}\n{}\n", user(1), user(2));
        std::fs::write(d.path().join("a.jsonl"), &body).unwrap();
        std::fs::write(d.path().join("a-copy.jsonl"), format!("{body}{}\n", user(3))).unwrap();
        let mut files = BTreeMap::new();
        let o = run(d.path(), &mut files);
        assert_eq!(prompts(&o.counts), 3, "the copy adds only its own entry");
        assert_eq!(
            o.counts.get(&Series::SessionStart { pack: Pack::Pi, session_type: SessionType::Main }),
            1
        );
        // And a copy made while the original grows, in a later run.
        let mut f =
            std::fs::OpenOptions::new().append(true).open(d.path().join("a.jsonl")).unwrap();
        writeln!(f, "{}", user(4)).unwrap();
        std::fs::copy(d.path().join("a.jsonl"), d.path().join("b.jsonl")).unwrap();
        let o = run(d.path(), &mut files);
        assert_eq!(prompts(&o.counts), 1);
    }

    #[test]
    fn an_empty_entry_whose_inode_is_reused_is_not_a_move() {
        // Found by the model test: b.jsonl was emptied and rewritten
        // (freeing its inode), then a.jsonl's rewrite got that inode.
        let d = tempfile::tempdir().unwrap();
        // a.jsonl lost its header to a copy-truncate earlier.
        std::fs::write(d.path().join("a.jsonl"), format!("{}\n{}\n", user(1), user(2))).unwrap();
        std::fs::write(d.path().join("b.jsonl"), "").unwrap();
        let mut files = BTreeMap::new();
        run(d.path(), &mut files);
        let a_key = d.path().join("a.jsonl").display().to_string();
        let b_key = d.path().join("b.jsonl").display().to_string();
        // Pretend b's old inode is the one a.jsonl has after its rewrite.
        let tmp = d.path().join("a.jsonl.tmp-1");
        std::fs::write(&tmp, format!("{}\n{}\n{}\n", user(1), user(2), user(3))).unwrap();
        std::fs::rename(&tmp, d.path().join("a.jsonl")).unwrap();
        let new_a =
            sources(d.path()).into_iter().find(|s| s.path.ends_with("a.jsonl")).unwrap().meta;
        let b = files.get_mut(&b_key).unwrap();
        assert_eq!(b.head_len, 0);
        (b.dev, b.ino) = (new_a.dev, new_a.ino);
        std::fs::remove_file(d.path().join("b.jsonl")).unwrap();
        std::fs::write(d.path().join("b.jsonl"), "").unwrap();
        let o = run(d.path(), &mut files);
        assert_eq!(prompts(&o.counts), 1, "a's rewrite is replayed, not read as b moved");
        assert!(files.contains_key(&a_key));
    }

    #[test]
    fn a_stale_entry_at_a_path_does_not_hold_back_a_session_further_along() {
        // Found by the model test: a.jsonl is renamed to b.jsonl and
        // rewritten (a's entry stays behind, vanished, with an old mark);
        // b counts on; then b is rewritten and renamed back to a.jsonl.
        let d = tempfile::tempdir().unwrap();
        let p = |n: &str| d.path().join(n);
        std::fs::write(p("a.jsonl"), format!("{H}\n{}\n", user(1))).unwrap();
        let mut files = BTreeMap::new();
        run(d.path(), &mut files);
        std::fs::write(p("t"), format!("{H}\n{}\n{}\n", user(1), user(2))).unwrap();
        std::fs::rename(p("t"), p("b.jsonl")).unwrap();
        std::fs::remove_file(p("a.jsonl")).unwrap();
        assert_eq!(prompts(&run(d.path(), &mut files).counts), 1);
        std::fs::write(p("t"), format!("{H}\n{}\n{}\n", user(2), user(3))).unwrap();
        std::fs::rename(p("t"), p("a.jsonl")).unwrap();
        std::fs::remove_file(p("b.jsonl")).unwrap();
        assert_eq!(prompts(&run(d.path(), &mut files).counts), 1, "only user(3) is new");
    }

    #[test]
    fn a_file_that_vanishes_after_discovery_is_a_warning() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.jsonl"), format!("{H}\n")).unwrap();
        std::fs::write(d.path().join("b.jsonl"), format!("{H}\n{}\n", user(1))).unwrap();
        let srcs = sources(d.path());
        std::fs::remove_file(d.path().join("a.jsonl")).unwrap();
        let o = scan(&srcs, &[], &BTreeMap::new(), &opts());
        assert_eq!(o.warnings.len(), 1);
        assert!(o.warnings[0].contains("a.jsonl"), "{:?}", o.warnings);
        assert_eq!(prompts(&o.counts), 1);
    }

    #[test]
    fn a_file_growing_during_the_scan_is_read_up_to_its_size_at_open() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.jsonl");
        std::fs::write(&p, format!("{H}\n{}\n", user(1))).unwrap();
        let srcs = sources(d.path());
        let size = srcs[0].meta.size;
        let o = scan(&srcs, &[], &BTreeMap::new(), &opts());
        assert_eq!(o.files_after.values().next().unwrap().offset, size);
    }

    #[test]
    fn a_rewritten_file_counts_only_its_new_entries() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.jsonl");
        std::fs::write(&p, format!("{H}\n{}\n{}\n{}\n", user(1), user(2), user(3))).unwrap();
        let mut files = BTreeMap::new();
        assert_eq!(prompts(&run(d.path(), &mut files).counts), 3);
        // Soft reset: temp file + rename, earlier entries kept verbatim.
        let tmp = d.path().join("a.jsonl.tmp-1-2");
        std::fs::write(&tmp, format!("{H}\n{}\n{}\n", user(3), user(4))).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        let o = run(d.path(), &mut files);
        assert_eq!(prompts(&o.counts), 1);
        assert_eq!(
            o.counts.get(&Series::SessionStart { pack: Pack::Pi, session_type: SessionType::Main }),
            0
        );
    }

    #[test]
    fn a_replaced_file_with_another_session_counts_in_full() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.jsonl");
        std::fs::write(&p, format!("{H}\n{}\n", user(1))).unwrap();
        let mut files = BTreeMap::new();
        run(d.path(), &mut files);
        let other = H.replace("S1", "S2");
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, format!("{other}\n{}\n{}\n{}\n", user(1), user(2), user(3))).unwrap();
        let o = run(d.path(), &mut files);
        assert_eq!(prompts(&o.counts), 3);
    }

    /// A user entry in pi's original layout (no entry id).
    fn plain(i: u32) -> String {
        format!(
            r#"{{"type":"message","timestamp":"2026-01-01T00:00:{i:02}.000Z","message":{{"role":"user","content":"x"}}}}"#
        )
    }

    /// Writes `body` to `path` through a temp file and a rename (a new
    /// inode), as cp + mv, a restore or an atomic rewrite does.
    fn replace(path: &Path, body: &str) {
        let tmp = path.with_extension("tmp-9");
        std::fs::write(&tmp, body).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    #[test]
    fn a_file_replaced_by_an_identical_copy_counts_nothing_again() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.jsonl");
        let body = format!("{H}\n{}\n{}\n", plain(1), plain(2));
        std::fs::write(&p, &body).unwrap();
        let mut files = BTreeMap::new();
        assert_eq!(prompts(&run(d.path(), &mut files).counts), 2);
        let ino = files.values().next().unwrap().ino;
        replace(&p, &body);
        assert_ne!(sources(d.path())[0].meta.ino, ino, "a new inode");
        assert!(run(d.path(), &mut files).counts.is_empty());
        // An atomic rewrite that grows counts only what it adds.
        replace(&p, &format!("{body}{}\n", plain(3)));
        assert_eq!(prompts(&run(d.path(), &mut files).counts), 1);
    }

    #[test]
    fn copies_in_a_second_directory_count_only_what_they_add() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("backup")).unwrap();
        let (a, b) = (d.path().join("a.jsonl"), d.path().join("backup/a.jsonl"));
        let body = format!("{H}\n{}\n", plain(1));
        std::fs::write(&a, &body).unwrap();
        let mut files = BTreeMap::new();
        assert_eq!(prompts(&run(d.path(), &mut files).counts), 1);
        std::fs::copy(&a, &b).unwrap();
        assert!(run(d.path(), &mut files).counts.is_empty(), "an identical copy");
        // The original grows, then is copied over the backup, both before
        // the next run: the new entries count once.
        let grown = format!("{body}{}\n{}\n", plain(2), plain(3));
        std::fs::write(&a, &grown).unwrap();
        replace(&b, &grown);
        assert_eq!(prompts(&run(d.path(), &mut files).counts), 2);
        // A mirror that keeps following the original (a sync tool).
        let more = format!("{grown}{}\n", plain(4));
        std::fs::write(&a, &more).unwrap();
        replace(&b, &more);
        assert_eq!(prompts(&run(d.path(), &mut files).counts), 1);
        // A copy that goes its own way counts its own entries.
        replace(&b, &format!("{more}{}\n", plain(5)));
        assert_eq!(prompts(&run(d.path(), &mut files).counts), 1);
    }

    #[test]
    fn a_copy_of_a_grown_file_new_in_the_same_run_counts_once() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("z")).unwrap();
        let short = format!("{H}\n{}\n", plain(1));
        let long = format!("{short}{}\n", plain(2));
        // An older copy sorts first, the grown file second; and the other
        // way round.
        std::fs::write(d.path().join("a.jsonl"), &short).unwrap();
        std::fs::write(d.path().join("z/b.jsonl"), &long).unwrap();
        let mut files = BTreeMap::new();
        assert_eq!(prompts(&run(d.path(), &mut files).counts), 2);
        let e = tempfile::tempdir().unwrap();
        std::fs::write(e.path().join("a.jsonl"), &long).unwrap();
        std::fs::write(e.path().join("b.jsonl"), &short).unwrap();
        let mut files = BTreeMap::new();
        assert_eq!(prompts(&run(e.path(), &mut files).counts), 2);
        assert_eq!(files.len(), 2);
        // Each keeps its own position: growth of either counts once.
        let mut f =
            std::fs::OpenOptions::new().append(true).open(e.path().join("b.jsonl")).unwrap();
        writeln!(f, "{}", plain(7)).unwrap();
        assert_eq!(prompts(&run(e.path(), &mut files).counts), 1);
    }

    #[test]
    fn a_file_moved_away_and_back_with_other_inodes_counts_nothing() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("x")).unwrap();
        let p = d.path().join("a.jsonl");
        let body = format!("{H}\n{}\n", plain(1));
        std::fs::write(&p, &body).unwrap();
        let mut files = BTreeMap::new();
        run(d.path(), &mut files);
        // Copied elsewhere and deleted (a move across file systems).
        std::fs::write(d.path().join("x/a.jsonl"), &body).unwrap();
        std::fs::remove_file(&p).unwrap();
        assert!(run(d.path(), &mut files).counts.is_empty());
        assert_eq!(files.len(), 1, "the old entry went with the move");
        assert!(files.keys().next().unwrap().ends_with("x/a.jsonl"));
    }

    #[test]
    fn vanished_files_are_pruned_after_the_grace_period() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.jsonl"), format!("{H}\n")).unwrap();
        let mut files = BTreeMap::new();
        run(d.path(), &mut files);
        std::fs::remove_file(d.path().join("a.jsonl")).unwrap();
        run(d.path(), &mut files);
        assert!(files.values().next().unwrap().missing_since_unix_nano.is_some());
        let mut late = opts();
        late.now = 1 + MISSING_GRACE_NANOS + 1;
        let o = scan(&sources(d.path()), &[], &files, &late);
        assert_eq!(o.files_removed.len(), 1);
    }

    #[test]
    fn after_a_lost_state_files_are_taken_up_from_their_end() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.jsonl");
        std::fs::write(&p, format!("{H}\n{}\n{}", user(1), &user(2)[..9])).unwrap();
        let mut o = opts();
        o.new_files_at_end = true;
        let out = scan(&sources(d.path()), &[], &BTreeMap::new(), &o);
        assert!(out.counts.is_empty());
        let st = out.files_after.values().next().unwrap();
        assert_eq!(st.offset, (H.len() + user(1).len() + 2) as u64, "before the partial line");
        let mut files = out.files_after.clone();
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        writeln!(f, "{}", &user(2)[9..]).unwrap();
        assert_eq!(prompts(&run(d.path(), &mut files).counts), 1);
    }

    #[test]
    fn one_thread_and_many_give_the_same_counts() {
        let d = tempfile::tempdir().unwrap();
        for f in 0..20 {
            let body: String = (1..=f % 7).map(|i| user(i) + "\n").collect();
            let h = H.replace("S1", &format!("S{f}"));
            std::fs::write(d.path().join(format!("f{f}.jsonl")), format!("{h}\n{body}")).unwrap();
        }
        let srcs = sources(d.path());
        let mut one = opts();
        one.threads = 1;
        let a = scan(&srcs, &[], &BTreeMap::new(), &one);
        let b = scan(&srcs, &[], &BTreeMap::new(), &opts());
        assert_eq!(a.counts, b.counts);
        assert_eq!(prompts(&a.counts), (0..20).map(|f| (f % 7) as u64).sum::<u64>());
    }
}
