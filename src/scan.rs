//! Scanning: for every discovered file, decide where reading resumes, read
//! the complete lines appended since, and count them. Files are scanned in
//! parallel (`rayon`); each file is read by one thread, and per-file counts
//! are merged at the end (merging is addition, so order does not matter).
//!
//! A file is recognised across runs by its path, device and inode, and
//! confirmed by content: a hash of its first bytes (`head`) and of the
//! bytes just before the saved offset (`tail`). When any of them disagree
//! the file was rewritten or replaced and is read again from the start,
//! with the format's own dedupe keeping copied entries from counting
//! twice. A file that moved (same inode and head under a new path, old path
//! gone) keeps its offset.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::discover::{self, Meta, SessionHint, Source};
use crate::formats::{self, claude, codex, gemini, pi};
use crate::metrics::{Counts, LineResult, Pack, Series, SessionType};
use crate::read;
use crate::seen::Claims;
use crate::state::{FileState, HEAD_LEN, TAIL_LEN};
use crate::util::fnv64;

/// How long a vanished file's entry is kept (it may come back, e.g. a
/// restored backup) before it is pruned. Totals are never pruned.
pub const MISSING_GRACE_NANOS: u64 = 7 * 24 * 3600 * 1_000_000_000;

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
}

/// What scanning one file produced.
#[derive(Debug, Default)]
struct FileScan {
    /// True when the file was read from its start (new or rewritten).
    from_start: bool,
    state: Option<FileState>,
    counts: Counts,
    claims: Claims,
    warning: Option<String>,
    bytes: u64,
    moved_from: Option<String>,
}

/// Scans every source against the previous file states; the claims are
/// returned in [`ScanOutput::claims`].
pub fn scan(
    sources: &[Source],
    files: &BTreeMap<String, FileState>,
    opts: &ScanOptions,
) -> ScanOutput {
    let mut claims = Claims::default();
    let mut out = scan_with(sources, files, opts, &mut |c| claims.append(c));
    out.claims = claims;
    out
}

/// Scans every source against the previous file states, handing each
/// file's claims to `settle` in path order as soon as the files before it
/// are done, so that claims are not all held until the end of a large
/// first scan (memory stays bounded whatever the history's size).
pub fn scan_with(
    sources: &[Source],
    files: &BTreeMap<String, FileState>,
    opts: &ScanOptions,
    settle: &mut dyn FnMut(Claims),
) -> ScanOutput {
    // Each path's state key, made once (paths are long and many).
    let keys: Vec<String> = sources.iter().map(|s| key_of(&s.path)).collect();
    let found: std::collections::HashSet<&str> = keys.iter().map(String::as_str).collect();
    let moves = find_moves(sources, &keys, files);
    // Paths whose entry moved away now hold some other file.
    let claimed = moves.values().copied().collect();
    let lineage = Lineage { files, moves, claimed };
    let indexes = IndexCache::default();
    let known = pi::known_sessions(files.values().map(|f| &f.pi));
    let known = &known;
    // Files are scanned in parallel; their results come back in any
    // order and are put back in path order here, where each file's claims
    // are settled as soon as every file before it is done.
    let (tx, rx) = std::sync::mpsc::channel::<(usize, FileScan)>();
    let run = || {
        // The sender moves in (its clones go when the work is done, which
        // ends the loop below); everything else is borrowed.
        let tx = tx;
        sources.par_iter().zip(&keys).enumerate().for_each_with(tx, |tx, (i, (s, key))| {
            let (prev, moved_from) = lineage.previous(key, (s.meta.dev, s.meta.ino));
            let _ = tx.send((i, scan_file(s, prev, moved_from, opts, &indexes, known)));
        })
    };
    let mut slots: Vec<Option<FileScan>> = sources.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        scope.spawn(|| match rayon::ThreadPoolBuilder::new().num_threads(opts.threads).build() {
            Ok(pool) => pool.install(run),
            Err(_) => run(),
        });
        let mut next = 0;
        for (i, r) in rx {
            slots[i] = Some(r);
            while let Some(Some(r)) = slots.get_mut(next) {
                let mut claims = std::mem::take(&mut r.claims);
                if !claims.is_empty() {
                    claims.end_of_file();
                    settle(claims);
                }
                next += 1;
            }
        }
    });
    let mut results: Vec<FileScan> =
        slots.into_iter().map(|r| r.expect("every file scanned")).collect();
    settle_copies(sources, &keys, &lineage, &mut results, opts, &indexes, known);
    let mut out = ScanOutput::default();
    let mut moved = std::collections::HashSet::new();
    for (r, key) in results.into_iter().zip(keys.iter()) {
        out.counts.merge(r.counts);
        out.bytes_read += r.bytes;
        if r.bytes > 0 {
            out.files_read += 1;
        }
        out.warnings.extend(r.warning);
        if let Some(st) = r.state {
            if let Some(old) = r.moved_from {
                moved.insert(old.clone());
                out.files_removed.push(old);
            }
            out.files_after.insert(key.clone(), st);
        }
    }
    for (k, f) in files {
        if found.contains(k.as_str()) || moved.contains(k) {
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

/// Makes copies of one session count once within a run.
///
/// Files are scanned in parallel against the sessions known at the start
/// of the run, so two files of the same session that are both read from
/// their start in one run (a transcript and a copy of it, both new) would
/// both count it. Files resumed from an offset are authoritative; then, in
/// path order, a file read from its start whose session another file of
/// this run already counted is scanned again knowing how far that went.
/// Costs nothing unless such a collision happens.
fn settle_copies(
    sources: &[Source],
    keys: &[String],
    lineage: &Lineage,
    results: &mut [FileScan],
    opts: &ScanOptions,
    indexes: &IndexCache,
    known: &pi::KnownSessions,
) {
    let session_of = |r: &FileScan| r.state.as_ref().and_then(|s| s.pi.session).filter(|h| *h != 0);
    // Sessions counted this run by files resumed from an offset, then by
    // files read from their start, in path order.
    let mut touched: std::collections::HashSet<u64> =
        results.iter().filter(|r| !r.from_start && r.bytes > 0).filter_map(session_of).collect();
    let mut collisions = Vec::new();
    for (i, r) in results.iter().enumerate().filter(|(_, r)| r.from_start) {
        if let Some(h) = session_of(r) {
            if !touched.insert(h) {
                collisions.push(i);
            }
        }
    }
    if collisions.is_empty() {
        return;
    }
    // Rare: re-read each colliding copy knowing how far the files before
    // it counted its session (resumed files first, then path order).
    for i in collisions {
        let mut marks = known.clone();
        let before = results.iter().enumerate().filter(|(j, r)| !r.from_start || *j < i);
        let states: Vec<FileState> = before.filter_map(|(_, r)| r.state.clone()).collect();
        for st in &states {
            pi::raise_mark(&mut marks, &st.pi);
        }
        let id = (sources[i].meta.dev, sources[i].meta.ino);
        let (prev, moved_from) = lineage.previous(&keys[i], id);
        results[i] = scan_file(&sources[i], prev, moved_from, opts, indexes, &marks);
        // Only pi files collide here, and pi files file no claims (their
        // copies are recognised in the file itself).
        debug_assert!(results[i].claims.is_empty());
    }
}

/// Which state entry each discovered path continues from.
struct Lineage<'a> {
    /// The previous file states.
    files: &'a BTreeMap<String, FileState>,
    /// Moved files: new path → old path.
    moves: HashMap<String, &'a str>,
    /// Old paths whose entry moved away (they now hold some other file).
    claimed: std::collections::HashSet<&'a str>,
}

impl<'a> Lineage<'a> {
    /// The state a discovered path (device and inode `id`) continues from:
    /// a moved file's old entry, nothing for a path whose entry moved
    /// away, else the path's own entry; and the old path of a move.
    fn previous(&self, key: &str, id: (u64, u64)) -> (Option<&'a FileState>, Option<String>) {
        match self.moves.get(key) {
            Some(old) => (self.files.get(*old), Some(old.to_string())),
            None if self.claimed.contains(key) => (None, None),
            // The file once here vanished; what is here now is another
            // file (its session, if known, is recognised by its header).
            None => match self.files.get(key) {
                Some(f) if f.missing_since_unix_nano.is_some() && (f.dev, f.ino) != id => {
                    (None, None)
                }
                other => (other, None),
            },
        }
    }
}

/// Finds files that moved: a discovered path whose device and inode belong
/// to a state entry that is no longer at its own path (that path vanished,
/// or now holds another inode). Returns new path → old path. The content
/// check (head and tail hashes) happens when the file is opened; a
/// mismatch there means the inode was reused, and the file is read as new.
fn find_moves<'a>(
    sources: &[Source],
    keys: &[String],
    files: &'a BTreeMap<String, FileState>,
) -> HashMap<String, &'a str> {
    let here: HashMap<&str, (u64, u64)> =
        sources.iter().zip(keys).map(|(s, k)| (k.as_str(), (s.meta.dev, s.meta.ino))).collect();
    let mut displaced: HashMap<(u64, u64), Vec<&str>> = HashMap::new();
    for (k, f) in files {
        if here.get(k.as_str()) != Some(&(f.dev, f.ino)) {
            displaced.entry((f.dev, f.ino)).or_default().push(k.as_str());
        }
    }
    let mut moves = HashMap::new();
    for (s, key) in sources.iter().zip(keys) {
        let id = (s.meta.dev, s.meta.ino);
        let Some(cands) = displaced.get(&id) else { continue };
        // Only when another entry could own this inode is content read
        // here; the common case costs no I/O.
        let own = files.get(key).filter(|f| (f.dev, f.ino) == id);
        if own.is_some_and(|f| same_content(&s.path, f)) {
            continue;
        }
        // Inodes are reused as soon as they are freed: only content proves
        // that this is the same file under a new name.
        if let Some(old) =
            cands.iter().find(|old| **old != key && same_content(&s.path, &files[**old]))
        {
            moves.insert(key.clone(), *old);
        }
    }
    moves
}

/// True when the file at `path` still starts with the bytes `st` was
/// fingerprinted from and is at least as long as its offset.
fn same_content(path: &Path, st: &FileState) -> bool {
    // An empty fingerprint (nothing was read yet) matches anything, so it
    // proves nothing: such an entry is never taken for a moved file.
    if st.head_len == 0 {
        return false;
    }
    let Ok(f) = File::open(path) else { return false };
    let long_enough = f.metadata().is_ok_and(|m| m.len() >= st.offset);
    long_enough
        && hash_range(&f, 0, st.head_len).ok() == Some(st.head_hash)
        && hash_range(&f, st.offset - u64::from(st.tail_len), st.tail_len).ok()
            == Some(st.tail_hash)
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

/// Where reading of one file starts.
#[derive(Debug, PartialEq, Eq)]
enum Start {
    /// Continue after the saved offset.
    Resume(u64),
    /// Read from the start: a new file, or the same path rewritten.
    Fresh { rewritten: bool },
    /// Count nothing already there: start after its last complete line.
    AtEnd,
}

/// Scans one file; never fails: problems become a warning and leave the
/// file's state as it was.
fn scan_file(
    src: &Source,
    prev: Option<&FileState>,
    moved_from: Option<String>,
    opts: &ScanOptions,
    indexes: &IndexCache,
    known: &pi::KnownSessions,
) -> FileScan {
    let mut out = FileScan::default();
    if let Some(p) = prev {
        if moved_from.is_none() && unchanged(p, &src.meta) {
            if p.missing_since_unix_nano.is_some() {
                let mut st = p.clone();
                st.missing_since_unix_nano = None;
                out.state = Some(st);
            }
            return out;
        }
    }
    match scan_changed(src, prev, moved_from.is_some(), opts, indexes, known, &mut out) {
        Ok(()) => {
            if out.state.is_some() {
                out.moved_from = moved_from;
            }
        }
        Err(e) => {
            out.counts = Counts::default();
            out.claims = Claims::default();
            out.state = None;
            out.warning = Some(format!(
                "{}: cannot read: {e}; skipped this run (its other counts are unaffected)",
                src.path.display()
            ));
        }
    }
    out
}

/// Opens and reads a file that may have changed.
fn scan_changed(
    src: &Source,
    prev: Option<&FileState>,
    moved: bool,
    opts: &ScanOptions,
    indexes: &IndexCache,
    known: &pi::KnownSessions,
    out: &mut FileScan,
) -> std::io::Result<()> {
    let mut file = File::open(&src.path)?;
    let meta = Meta::of(&file.metadata()?);
    let start = match prev {
        Some(p) => decide(p, &meta, moved, &file)?,
        None if opts.new_files_at_end => Start::AtEnd,
        None => Start::Fresh { rewritten: false },
    };
    let mut st = match (prev, &start) {
        (Some(p), Start::Resume(_)) => p.clone(),
        (Some(p), Start::Fresh { rewritten: true }) => {
            let mut s = p.clone();
            s.pi.begin_replay();
            s
        }
        _ => FileState {
            pack: src.pack.as_str().to_string(),
            session_type: session_type(src, indexes).as_str().to_string(),
            ..FileState::default()
        },
    };
    st.missing_since_unix_nano = None;
    if st.session_type.is_empty() {
        st.session_type = session_type(src, indexes).as_str().to_string();
    }
    let from = match start {
        Start::Resume(o) => o,
        Start::Fresh { .. } => 0,
        Start::AtEnd => last_line_end(&file, meta.size)?,
    };
    let session_type = parse_session_type(&st.session_type);
    let mut counts = Counts::default();
    let mut results = [0u64; 4];
    file.seek(SeekFrom::Start(from))?;
    let len = if start == Start::AtEnd { 0 } else { meta.size.saturating_sub(from) };
    let mut claims = Claims::default();
    let outcome = {
        let mut d = match src.pack {
            Pack::ClaudeCode => formats::Deriver::Claude(claude::Deriver {
                session_type,
                state: &mut st.claude,
                claims: &mut claims,
            }),
            Pack::Codex => formats::Deriver::Codex(codex::Deriver { state: &mut st.codex }),
            Pack::GeminiCli => {
                formats::Deriver::Gemini(gemini::Deriver { session_type, state: &mut st.gemini })
            }
            _ => formats::Deriver::Pi(pi::Deriver {
                pack: src.pack,
                session_type,
                state: &mut st.pi,
                known,
            }),
        };
        let (chunk, max) = (opts.chunk_bytes, opts.max_line_bytes);
        // A line longer than a read is squeezed (long text cut) as it
        // streams past, so no line is ever held whole.
        read::read_lines(&mut file, from, len, chunk, max, chunk, |line| {
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
    st.dev = meta.dev;
    st.ino = meta.ino;
    st.size = meta.size;
    st.mtime_ns = meta.mtime_ns;
    st.head_len = (HEAD_LEN as u64).min(st.offset) as u32;
    st.head_hash = hash_range(&file, 0, st.head_len)?;
    st.tail_len = (TAIL_LEN as u64).min(st.offset) as u32;
    st.tail_hash = hash_range(&file, st.offset - u64::from(st.tail_len), st.tail_len)?;
    out.bytes = outcome.end - from;
    out.from_start = matches!(start, Start::Fresh { .. });
    out.counts = counts;
    out.claims = claims;
    out.state = Some(st);
    Ok(())
}

/// Decides where to resume a known file from its saved state and what is
/// on disk now.
fn decide(p: &FileState, m: &Meta, moved: bool, file: &File) -> std::io::Result<Start> {
    if (p.dev, p.ino) == (0, 0) {
        // Imported from the Go predecessor: no identity yet, only an
        // offset at a line end, trusted while the file is that long.
        return Ok(if m.size >= p.offset {
            Start::Resume(p.offset)
        } else {
            Start::Fresh { rewritten: false }
        });
    }
    let same_inode = p.dev == m.dev && p.ino == m.ino;
    let intact = m.size >= p.offset
        && hash_range(file, 0, p.head_len)? == p.head_hash
        && hash_range(file, p.offset - u64::from(p.tail_len), p.tail_len)? == p.tail_hash;
    Ok(match (same_inode, intact, moved) {
        (_, true, true) => Start::Resume(p.offset),
        (true, true, false) => Start::Resume(p.offset),
        // A moved path whose content does not match is some other file.
        (_, false, true) => Start::Fresh { rewritten: false },
        _ => Start::Fresh { rewritten: true },
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
        SessionHint::OpenclawIndex(dir) => {
            let idx = indexes.get(dir);
            discover::openclaw_session_id(&src.path)
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
                Arc::new(discover::openclaw_index(&bytes))
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::{Layout, Place};
    use crate::metrics::Pack;
    use std::io::Write;

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
        let out = scan(&sources(root), files, &opts());
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
        assert_eq!(files.len(), 1);
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
        let o = scan(&srcs, &BTreeMap::new(), &opts());
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
        let o = scan(&srcs, &BTreeMap::new(), &opts());
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
        let o = scan(&sources(d.path()), &files, &late);
        assert_eq!(o.files_removed.len(), 1);
    }

    #[test]
    fn after_a_lost_state_files_are_taken_up_from_their_end() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.jsonl");
        std::fs::write(&p, format!("{H}\n{}\n{}", user(1), &user(2)[..9])).unwrap();
        let mut o = opts();
        o.new_files_at_end = true;
        let out = scan(&sources(d.path()), &BTreeMap::new(), &o);
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
        let a = scan(&srcs, &BTreeMap::new(), &one);
        let b = scan(&srcs, &BTreeMap::new(), &opts());
        assert_eq!(a.counts, b.counts);
        assert_eq!(prompts(&a.counts), (0..20).map(|f| (f % 7) as u64).sum::<u64>());
    }
}
