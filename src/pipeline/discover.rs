//! Finding session files: each pack's places under the home directory (or
//! where its environment variables or the config put them), walked for
//! `*.jsonl` transcripts.
//!
//! Discovery only lists and stats; it never opens a transcript. Sidecars,
//! backups, temp files and archives of live files are left out by name
//! (see [`is_transcript_name`]). Symlinked directories are not followed, so
//! a symlink loop cannot trap the walk; a symlink to a regular file is.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::metrics::{Pack, SessionType};

/// A place to look for one pack's sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The pack whose sessions live there.
    pub pack: Pack,
    /// The directory.
    pub root: PathBuf,
    /// How sessions are laid out below it.
    pub layout: Layout,
}

/// Directory layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `root/<agentId>/sessions/*.jsonl` (OpenClaw's `agents` dir).
    OpenclawAgents,
    /// Every `*.jsonl` below `root`.
    Tree,
    /// `root/<project>/chats/**/*.jsonl` (Gemini CLI's `tmp` dir).
    GeminiProjects,
    /// Only these directories under the root, each walked whole; `"."`
    /// stands for the stores directly in the root (opencode's
    /// `opencode.db` beside `storage/message/`), not its subdirectories.
    Only(&'static [&'static str]),
    /// A Hermes home: no transcripts to walk, only its stores.
    HermesHomes,
}

impl Place {
    /// The agent whose place this is.
    pub fn agent(&self) -> &'static crate::agents::Agent {
        crate::agents::agent(self.pack).expect("a place belongs to a registered agent")
    }

    /// The directories to walk for `*.jsonl`: the root of a tree, else
    /// `root/<child>/<sessions or chats>` for every child that has one,
    /// in name order (OpenClaw's agents, Gemini CLI's projects).
    pub fn dirs(&self) -> Vec<PathBuf> {
        let sub = match self.layout {
            Layout::Tree => return vec![self.root.clone()],
            Layout::HermesHomes => return Vec::new(),
            Layout::Only(rel) => {
                return rel
                    .iter()
                    .filter(|r| **r != ".")
                    .map(|r| self.root.join(r))
                    .filter(|d| d.is_dir())
                    .collect()
            }
            Layout::OpenclawAgents => "sessions",
            Layout::GeminiProjects => "chats",
        };
        let Ok(rd) = fs::read_dir(&self.root) else { return Vec::new() };
        let mut dirs: Vec<PathBuf> =
            rd.flatten().map(|e| e.path().join(sub)).filter(|d| d.is_dir()).collect();
        // In byte order, the order of the files' paths.
        dirs.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        dirs
    }
}

/// Stat data of a discovered file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Device id.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time in nanoseconds.
    pub mtime_ns: i64,
}

impl Meta {
    /// Empty counts dated by the last change: the hour of the records
    /// that carry no time of their own.
    pub fn dated(&self) -> crate::metrics::Counts {
        crate::metrics::Counts::at(crate::metrics::hour_of_nanos(self.mtime_ns.max(0) as u64))
    }

    /// Extracts what we keep from `std` metadata.
    pub fn of(m: &fs::Metadata) -> Meta {
        Meta {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m.mtime().saturating_mul(1_000_000_000).saturating_add(m.mtime_nsec()),
        }
    }
}

/// How a file's session type is decided.
/// (A byte: a run may find hundreds of thousands of files.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionHint {
    /// Known from the path alone.
    Known(SessionType),
    /// Look the file's session id up in OpenClaw's `sessions.json` in the
    /// file's directory (read only for files seen for the first time).
    OpenclawIndex,
}

/// One session file found.
#[derive(Clone, Debug)]
pub struct Source {
    /// Its path, as found.
    pub path: FoundPath,
    /// Its pack.
    pub pack: Pack,
    /// Stat data at discovery.
    pub meta: Meta,
    /// How to decide its session type.
    pub session: SessionHint,
    /// When scanning as root a place that belongs to a user: that user's
    /// uid, which the file must belong to (see [`owner_of_place`]; never
    /// root's, so 4 bytes where an `Option<u32>` takes 8).
    pub owner: Option<std::num::NonZeroU32>,
}

impl Source {
    /// See [`Source::owner`].
    pub fn owner(&self) -> Option<u32> {
        self.owner.map(std::num::NonZeroU32::get)
    }
}

// A run may hold hundreds of thousands (see `docs/performance.md`).
const _: () = assert!(std::mem::size_of::<Source>() <= 56);
const _: () = assert!(std::mem::size_of::<ListedFile>() <= 32);

/// The uid a place's files must belong to, as a [`Source`] keeps it.
fn kept_owner(owner: Option<u32>) -> Option<std::num::NonZeroU32> {
    owner.and_then(std::num::NonZeroU32::new)
}

/// A found file's path. The files found in one directory share one
/// buffer of their paths: a run may hold hundreds of thousands, and one
/// allocation a file would cost its allocator's overhead and leave the
/// heap in pieces (see `docs/performance.md`).
#[derive(Clone)]
pub struct FoundPath {
    /// The paths of the files found with it, one after the other (behind
    /// a thin pointer: 16 bytes a path, where `Arc<[u8]>` takes 24).
    buf: std::sync::Arc<Box<[u8]>>,
    /// Where its own bytes start in `buf`.
    at: u32,
    /// How many bytes it has.
    len: u32,
}

impl FoundPath {
    /// The path.
    pub fn as_path(&self) -> &Path {
        use std::os::unix::ffi::OsStrExt;
        let bytes = &self.buf[self.at as usize..][..self.len as usize];
        Path::new(std::ffi::OsStr::from_bytes(bytes))
    }

    /// The paths, in order, sharing buffers of at most 64 KiB (one when
    /// they fit).
    #[cfg(test)]
    fn shared(paths: &[PathBuf]) -> Vec<FoundPath> {
        let mut packer = PathPacker::default();
        for p in paths {
            packer.push(p.as_os_str().as_encoded_bytes(), &[]);
        }
        packer.finish()
    }
}

impl From<PathBuf> for FoundPath {
    fn from(p: PathBuf) -> FoundPath {
        use std::os::unix::ffi::OsStringExt;
        let bytes = p.into_os_string().into_vec();
        let len = u32::try_from(bytes.len()).expect("a path shorter than 4 GiB");
        FoundPath { buf: std::sync::Arc::new(bytes.into_boxed_slice()), at: 0, len }
    }
}

impl std::ops::Deref for FoundPath {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.as_path()
    }
}

impl AsRef<Path> for FoundPath {
    fn as_ref(&self) -> &Path {
        self.as_path()
    }
}

impl std::fmt::Debug for FoundPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_path().fmt(f)
    }
}

impl PartialEq for FoundPath {
    fn eq(&self, other: &FoundPath) -> bool {
        self.as_path() == other.as_path()
    }
}

impl Eq for FoundPath {}

/// The uid the files of a place must belong to when telemetron runs as
/// root: the owner of the place's root (of the link itself when the root is
/// one, or of its nearest existing ancestor), unless that is root. A user
/// can plant links in their own agent directories; a root scan then reads
/// only files that user owns, so a link to a root-only file or to another
/// user's transcript counts nothing. `None` when not root (the kernel
/// already limits what is read) or the place is root's own.
pub fn owner_of_place(root: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let mut p = Some(root);
    while let Some(dir) = p {
        if let Ok(m) = fs::symlink_metadata(dir) {
            return (m.uid() != 0).then_some(m.uid());
        }
        p = dir.parent();
    }
    None
}

/// Why a file may not be read for a place owned by `owner` (see
/// [`owner_of_place`]), or `None` when it may.
pub fn foreign(meta: &fs::Metadata, owner: Option<u32>) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let want = owner?;
    (meta.uid() != want).then(|| {
        format!(
            "belongs to uid {}, not to uid {want} who owns the agent's directory (a link planted \
             there?); skipped: a root scan reads each home's files only when that home's user \
             owns them",
            meta.uid()
        )
    })
}

impl Source {
    /// Empty counts dated by the source's last change: the hour of the
    /// records that carry no time of their own.
    pub fn dated(&self) -> crate::metrics::Counts {
        self.meta.dated()
    }
}

/// What a walk found besides the sources.
#[derive(Debug, Default)]
pub struct Found {
    /// Session files, sorted by path (once [`Found::materialize`]d; until
    /// then they are in `listed`).
    pub sources: Vec<Source>,
    /// Session files as listed, in the same order: each directory's path
    /// once and its files' names (about 120 bytes a file, where a
    /// [`Source`] with its path takes 200). A run that finds every file as
    /// the last one left them needs no more than their fingerprint.
    listed: Vec<Segment>,
    /// SQLite stores (each holding many sessions), sorted by path; their
    /// stat is the database's with its write-ahead log's.
    pub stores: Vec<Source>,
    /// Problems worth telling the operator about (unreadable directories,
    /// non-regular files named `*.jsonl`).
    pub warnings: Vec<String>,
}

/// True for the name of a live transcript: ends in `.jsonl` and is not a
/// sidecar, backup, temp file or archive.
pub fn is_transcript_name(name: &str) -> bool {
    if !name.ends_with(".jsonl") || name.starts_with('.') {
        return false;
    }
    let stem = &name[..name.len() - ".jsonl".len()];
    !(stem.ends_with(".trajectory")
        || stem.contains(".checkpoint.")
        || name.contains(".bak-")
        || name.contains(".tmp")
        || name.contains(".unreadable-")
        || name.contains(".jsonl.reset.")
        || name.contains(".jsonl.deleted."))
}

/// True for the name of a compressed transcript: a live transcript's name
/// followed by `.zst` (Codex compresses older rollouts so).
pub fn is_compressed_transcript_name(name: &str) -> bool {
    name.strip_suffix(".zst").is_some_and(is_transcript_name)
}

/// The default places of a pack, given the home directory and an
/// environment lookup (the agents' own variables): its agent's `places`.
pub fn default_places(pack: Pack, home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    crate::agents::agent(pack).map_or_else(Vec::new, |a| (a.places)(home, env))
}

/// Walks every place and returns the session files found, sorted by path
/// and without duplicates (two places may overlap).
pub fn discover(places: &[Place]) -> Found {
    let mut found = discover_listed(places);
    found.materialize();
    found
}

/// [`discover`], with the session files left as listed (see
/// [`Found::materialize`]).
pub fn discover_listed(places: &[Place]) -> Found {
    let mut found = Found::default();
    for place in places {
        let agent = place.agent();
        let owner = owner_of_place(&place.root);
        let root_name = place.root.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if place.root.is_file() {
            if let Some(store) = crate::agents::store_named(agent, root_name) {
                // A place that names a database itself (as `detect` writes).
                add_store(place, owner, place.root.clone(), store, &mut found);
            } else if let Ok(meta) = fs::metadata(&place.root) {
                if let Some(why) = foreign(&meta, owner) {
                    found.warnings.push(format!("{}: {why}", place.root.display()));
                    continue;
                }
                // A place that names a transcript (Copilot CLI's
                // `COPILOT_OTEL_FILE_EXPORTER_PATH`).
                let session = (agent.session_hint)(place, &place.root);
                let file = (0, Meta::of(&meta), session);
                found.listed.push(Segment::whole(std::sync::Arc::new(Listed::new(
                    place.root.as_os_str().as_encoded_bytes().into(),
                    [file].into_iter(),
                    Box::default(),
                    place.pack,
                    kept_owner(owner),
                ))));
            }
            continue;
        }
        for dir in place.dirs() {
            walk(place, owner, &dir, &mut found);
        }
        if let Layout::Only(rel) = place.layout {
            if rel.contains(&".") {
                stores_in(place, owner, &mut found);
            }
        }
        if place.layout != Layout::Tree {
            for store in agent.stores {
                for path in (store.databases)(place) {
                    add_store(place, owner, path, store, &mut found);
                }
            }
        }
    }
    let by_path = |a: &Source, b: &Source| a.path.as_os_str().cmp(b.path.as_os_str());
    found.stores.sort_by(by_path);
    found.stores.dedup_by(|a, b| a.path.as_os_str() == b.path.as_os_str());
    // Byte order (not `Path`'s component order): several times cheaper for
    // thousands of paths, and the order the state file keeps its keys in.
    // Each walk gives its files in that order already; only places out of
    // order or overlapping need a sort (which would take room for half of
    // them again).
    if !found.listed_in_order() {
        found.materialize();
        found.sources.sort_by(by_path);
        found.sources.dedup_by(|a, b| a.path.as_os_str() == b.path.as_os_str());
    }
    found.listed.shrink_to_fit();
    found
}

/// The transcripts of one directory as listed: the path of the directory
/// once (up to and with its last `/`), the names one after the other.
#[derive(Debug)]
struct Listed {
    prefix: Box<[u8]>,
    names: Box<[u8]>,
    files: Vec<ListedFile>,
    pack: Pack,
    owner: Option<std::num::NonZeroU32>,
    /// The device its files are on (that of the first: 8 bytes a file
    /// less, where a run may find hundreds of thousands).
    dev: u64,
    /// The files on another device (a file mounted over, an overlay's
    /// layers), by number in order, with theirs.
    devs: Vec<(u32, u64)>,
}

/// One file of a [`Listed`] directory: its name's end and its stat but
/// the device (see [`Listed::meta`]).
#[derive(Debug)]
struct ListedFile {
    /// Where its name ends in `names` (it starts where the one before
    /// ends).
    name_end: u32,
    session: SessionHint,
    ino: u64,
    size: u64,
    mtime_ns: i64,
}

impl Listed {
    /// `files` (their paths' parts, stat and session hint, in order) as
    /// listed in the directory whose path (up to and with its last `/`)
    /// is `prefix`.
    fn new(
        prefix: Box<[u8]>,
        files: impl ExactSizeIterator<Item = (usize, Meta, SessionHint)>,
        names: Box<[u8]>,
        pack: Pack,
        owner: Option<std::num::NonZeroU32>,
    ) -> Listed {
        let mut l = Listed {
            prefix,
            names,
            files: Vec::with_capacity(files.len()),
            pack,
            owner,
            dev: 0,
            devs: Vec::new(),
        };
        for (n, (name_end, m, session)) in files.enumerate() {
            if n == 0 {
                l.dev = m.dev;
            } else if m.dev != l.dev {
                l.devs.push((n as u32, m.dev));
            }
            let name_end = u32::try_from(name_end).expect("a directory's names under 4 GiB");
            let (ino, size, mtime_ns) = (m.ino, m.size, m.mtime_ns);
            l.files.push(ListedFile { name_end, session, ino, size, mtime_ns });
        }
        l
    }

    /// File `i`'s stat.
    fn meta(&self, i: usize) -> Meta {
        let f = &self.files[i];
        let at = |(n, _): &(u32, u64)| *n;
        let dev = match self.devs.binary_search_by_key(&(i as u32), at) {
            Ok(d) => self.devs[d].1,
            Err(_) => self.dev,
        };
        Meta { dev, ino: f.ino, size: f.size, mtime_ns: f.mtime_ns }
    }

    /// The two parts of file `i`'s path: the directory's, and its name.
    fn path(&self, i: usize) -> [&[u8]; 2] {
        let from = i.checked_sub(1).map_or(0, |j| self.files[j].name_end as usize);
        [&self.prefix, &self.names[from..self.files[i].name_end as usize]]
    }
}

/// Some files of a [`Listed`] directory, in order (the others' paths sort
/// around a subdirectory's).
#[derive(Debug)]
struct Segment {
    listed: std::sync::Arc<Listed>,
    from: usize,
    to: usize,
}

impl Segment {
    fn whole(listed: std::sync::Arc<Listed>) -> Segment {
        Segment { to: listed.files.len(), listed, from: 0 }
    }

    /// Its files: each's index in the listing and the parts of its path.
    fn paths(&self) -> impl Iterator<Item = (usize, [&[u8]; 2])> {
        (self.from..self.to).map(|i| (i, self.listed.path(i)))
    }
}

impl Found {
    /// How many session files.
    pub fn len(&self) -> usize {
        self.sources.len() + self.listed.iter().map(|s| s.to - s.from).sum::<usize>()
    }

    /// True when no session file was found.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes [`Found::sources`] of the files as listed: a path each, the
    /// paths of a directory in one buffer. The listing goes as it is
    /// made into sources.
    pub fn materialize(&mut self) {
        if self.listed.is_empty() {
            return;
        }
        self.sources.reserve_exact(self.len());
        let mut freed = 0;
        for seg in std::mem::take(&mut self.listed) {
            // What the listing frees is given back as it goes: the sources
            // are new memory, and the peak would be both whole.
            freed += seg.to - seg.from;
            if freed >= 16_384 {
                crate::memory::give_back_freed();
                freed = 0;
            }
            let mut packer = PathPacker::default();
            for (_, [dir, name]) in seg.paths() {
                packer.push(dir, name);
            }
            let l = &seg.listed;
            self.sources.extend(packer.finish().into_iter().zip(seg.from..seg.to).map(
                |(path, i)| Source {
                    path,
                    pack: l.pack,
                    meta: l.meta(i),
                    session: l.files[i].session,
                    owner: l.owner,
                },
            ));
        }
    }

    /// Makes [`Found::sources`] of the files as listed but those
    /// `left_out` says (by their number as listed, the order
    /// [`Found::materialize`] keeps), and lets the listing go: a run whose
    /// files are mostly found as they were left holds only the others.
    pub fn materialize_except(&mut self, left_out: &[bool]) {
        let mut n = 0;
        let mut kept: Vec<Segment> = Vec::new();
        for seg in std::mem::take(&mut self.listed) {
            let mut run: Option<usize> = None;
            for i in seg.from..seg.to {
                let keep = !left_out.get(n).copied().unwrap_or(false);
                n += 1;
                match (keep, run) {
                    (true, None) => run = Some(i),
                    (false, Some(from)) => {
                        kept.push(Segment { listed: seg.listed.clone(), from, to: i });
                        run = None;
                    }
                    _ => {}
                }
            }
            if let Some(from) = run {
                kept.push(Segment { listed: seg.listed.clone(), from, to: seg.to });
            }
        }
        self.listed = kept;
        self.materialize();
        crate::memory::give_back_freed();
    }

    /// The files as listed, by number, when none is a source yet and every
    /// path is UTF-8 (each key is then its path's two parts).
    pub fn listed_keys(&self) -> Option<ListedKeys<'_>> {
        if !self.sources.is_empty()
            || self.listed.iter().any(|s| std::str::from_utf8(&s.listed.prefix).is_err())
        {
            return None;
        }
        let mut starts = Vec::with_capacity(self.listed.len());
        let mut n = 0;
        for seg in &self.listed {
            starts.push(n);
            n += seg.to - seg.from;
        }
        Some(ListedKeys { segs: &self.listed, starts, len: n })
    }

    /// The fingerprint of the files found, session files then stores (see
    /// [`crate::state::Unchanged`]): the same listed or materialized.
    pub fn fingerprint(&self) -> u64 {
        use std::os::unix::ffi::OsStrExt;
        let stat = |m: &Meta| [m.dev, m.ino, m.size, m.mtime_ns as u64];
        let listed = self
            .listed
            .iter()
            .flat_map(|seg| seg.paths().map(|(i, path)| (path, stat(&seg.listed.meta(i)))));
        fn whole(s: &Source) -> ([&[u8]; 2], [u64; 4]) {
            let m = &s.meta;
            ([s.path.as_os_str().as_bytes(), &[]], [m.dev, m.ino, m.size, m.mtime_ns as u64])
        }
        crate::state::sources_fingerprint(
            self.sources.iter().map(whole).chain(listed).chain(self.stores.iter().map(whole)),
        )
    }

    /// True when the listed files are in the byte order of their paths,
    /// each once.
    fn listed_in_order(&self) -> bool {
        let (mut prev, mut this) = (Vec::new(), Vec::new());
        for (n, (_, [dir, name])) in self.listed.iter().flat_map(Segment::paths).enumerate() {
            this.clear();
            this.extend_from_slice(dir);
            this.extend_from_slice(name);
            if n > 0 && prev >= this {
                return false;
            }
            std::mem::swap(&mut prev, &mut this);
        }
        true
    }
}

/// The files of a [`Found`] as listed, by number ([`Found::listed_keys`]).
pub struct ListedKeys<'a> {
    segs: &'a [Segment],
    /// The number of each segment's first file.
    starts: Vec<usize>,
    len: usize,
}

impl ListedKeys<'_> {
    /// How many files.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// File `i`'s segment and its number in the segment's listing.
    fn at(&self, i: usize) -> (&Segment, usize) {
        let s = self.starts.partition_point(|&from| from <= i) - 1;
        let seg = &self.segs[s];
        (seg, seg.from + i - self.starts[s])
    }

    /// File `i`'s key in two parts: its directory's (with the `/`) and its
    /// name (both UTF-8: see [`Found::listed_keys`]).
    pub fn parts(&self, i: usize) -> [&str; 2] {
        let (seg, j) = self.at(i);
        // Checked by `listed_keys` (the prefix) and by `list` (every name).
        seg.listed.path(j).map(|b| std::str::from_utf8(b).unwrap_or_default())
    }

    /// File `i`'s stat.
    pub fn meta(&self, i: usize) -> Meta {
        let (seg, j) = self.at(i);
        seg.listed.meta(j)
    }
}

/// Packs paths into shared buffers of 64 KiB at most (at least one path a
/// buffer, however long): see [`FoundPath`].
#[derive(Default)]
struct PathPacker {
    bytes: Vec<u8>,
    spans: Vec<(u32, u32)>,
    out: Vec<FoundPath>,
}

impl PathPacker {
    /// Most bytes a buffer takes more paths to: under glibc's threshold
    /// for a mapping of its own (128 KiB at first), so that buffers made
    /// as a listing is freed reuse its memory.
    const MAX: usize = 64 << 10;

    /// Adds the path made of `dir` and `name`.
    fn push(&mut self, dir: &[u8], name: &[u8]) {
        let len = dir.len() + name.len();
        if !self.bytes.is_empty() && self.bytes.len() + len > Self::MAX {
            self.flush();
        }
        let at = u32::try_from(self.bytes.len()).expect("a buffer under 4 GiB");
        let len = u32::try_from(len).expect("a path shorter than 4 GiB");
        self.bytes.extend_from_slice(dir);
        self.bytes.extend_from_slice(name);
        self.spans.push((at, len));
    }

    fn flush(&mut self) {
        let buf = std::sync::Arc::new(std::mem::take(&mut self.bytes).into_boxed_slice());
        for (at, len) in self.spans.drain(..) {
            self.out.push(FoundPath { buf: buf.clone(), at, len });
        }
    }

    /// The paths, in the order pushed.
    fn finish(mut self) -> Vec<FoundPath> {
        if !self.spans.is_empty() {
            self.flush();
        }
        self.out
    }
}

/// The stores directly in a place's root (not below it).
fn stores_in(place: &Place, owner: Option<u32>, found: &mut Found) {
    let Ok(rd) = fs::read_dir(&place.root) else { return };
    let mut stores: Vec<(PathBuf, &'static crate::agents::Store)> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let store = crate::agents::store_named(place.agent(), e.file_name().to_str()?)?;
            Some((e.path(), store))
        })
        .collect();
    stores.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, store) in stores {
        add_store(place, owner, path, store, found);
    }
}

/// Adds a store with its stat: a SQLite database's with its write-ahead
/// log's (see [`crate::sources::sqlite::stat`]), a document's own.
fn add_store(
    place: &Place,
    owner: Option<u32>,
    path: PathBuf,
    store: &crate::agents::Store,
    found: &mut Found,
) {
    if let Some(why) = fs::metadata(&path).ok().and_then(|m| foreign(&m, owner)) {
        found.warnings.push(format!("{}: {why}", path.display()));
        return;
    }
    let meta = if store.is_sqlite() {
        crate::sources::sqlite::stat(&path)
    } else {
        fs::metadata(&path).map(|m| Meta::of(&m))
    };
    match meta {
        Ok(meta) => found.stores.push(Source {
            path: path.into(),
            pack: place.pack,
            meta,
            session: SessionHint::Known(SessionType::Main),
            owner: kept_owner(owner),
        }),
        Err(e) => found.warnings.push(format!("{}: cannot stat: {e}; skipped", path.display())),
    }
}

/// Collects the transcripts below `dir` (and the agent's stores, by their
/// file name) in the byte order of their paths.
///
/// Directories are entered one after the other, so that every file found
/// goes straight into one list (nothing is gathered per subtree and copied
/// again: a run may find hundreds of thousands); what is parallel is the
/// listing and stat of a few directories ahead (see [`descend`]) and of the
/// files of a large directory.
fn walk(place: &Place, owner: Option<u32>, dir: &Path, found: &mut Found) {
    descend(place, owner, list(place, owner, dir), found);
}

/// One directory's transcripts, stat'ed, and its subdirectories.
#[derive(Default)]
struct Listing {
    /// Its transcripts, in name order (none: `None`).
    files: Option<std::sync::Arc<Listed>>,
    /// Its subdirectories, in name order.
    dirs: Vec<PathBuf>,
    /// Per subdirectory, how many of `files` sort before it: its files'
    /// paths come between those and the rest.
    cuts: Vec<usize>,
    /// The stores among its files, and problems with it or its entries
    /// (its `sources` stay empty).
    other: Found,
}

/// Adds a listed directory's files to `found`, each subdirectory's where its
/// paths sort, entering the subdirectories in order. Their listings are made
/// a few at a time on the pool's threads, ahead of when they are entered.
fn descend(place: &Place, owner: Option<u32>, listing: Listing, found: &mut Found) {
    use rayon::prelude::*;
    let Listing { files, dirs, cuts, other } = listing;
    found.stores.extend(other.stores);
    found.warnings.extend(other.warnings);
    let ahead = 4 * rayon::current_num_threads().max(1);
    let mut taken = 0;
    let mut add = |to: usize, found: &mut Found| {
        if let Some(listed) = files.as_ref().filter(|_| to > taken) {
            found.listed.push(Segment { listed: listed.clone(), from: taken, to });
            taken = to;
        }
    };
    let mut listed = std::collections::VecDeque::new();
    for (i, cut) in cuts.into_iter().enumerate() {
        add(cut, found);
        if listed.is_empty() {
            let window = &dirs[i..dirs.len().min(i + ahead)];
            listed = window.par_iter().map(|d| list(place, owner, d)).collect::<Vec<_>>().into();
        }
        let listing = listed.pop_front().expect("a listing for every directory");
        descend(place, owner, listing, found);
    }
    add(files.as_ref().map_or(0, |l| l.files.len()), found);
}

/// Lists one directory: its transcripts with their stat (on several
/// threads when it has many) and its subdirectories, in the byte order of
/// their paths (a directory's name sorts as if followed by `/`). Empty
/// when it cannot be listed (a warning says so, unless it is gone).
fn list(place: &Place, owner: Option<u32>, dir: &Path) -> Listing {
    use rayon::prelude::*;
    use std::os::unix::ffi::OsStrExt;
    let mut listing = Listing::default();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return listing,
        Err(e) => {
            let why = format!("{}: cannot list directory: {e}; skipped", dir.display());
            listing.other.warnings.push(why);
            return listing;
        }
    };
    let mut entries: Vec<(Vec<u8>, fs::DirEntry, fs::FileType)> = rd
        .flatten()
        .filter_map(|e| {
            let ft = e.file_type().ok()?;
            let mut key = e.file_name().as_bytes().to_vec();
            if ft.is_dir() {
                key.push(b'/');
            }
            Some((key, e, ft))
        })
        .collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let agent = place.agent();
    // Per entry kept, in order: a file to stat (`true`) or a subdirectory.
    let mut kinds = Vec::new();
    let mut to_stat = Vec::new();
    for (key, entry, ft) in entries {
        let name = if ft.is_dir() { &key[..key.len() - 1] } else { &key[..] };
        let Ok(name) = std::str::from_utf8(name) else { continue };
        if ft.is_dir() {
            let path = entry.path();
            if is_transcript_name(name) {
                listing.other.warnings.push(format!(
                    "{}: a directory named like a transcript; skipped",
                    path.display()
                ));
            } else {
                listing.dirs.push(path);
                kinds.push(false);
            }
            continue;
        }
        if let Some(store) = crate::agents::store_named(agent, name) {
            if ft.is_file() {
                add_store(place, owner, entry.path(), store, &mut listing.other);
            }
            continue;
        }
        let named =
            is_transcript_name(name) || (agent.compressed && is_compressed_transcript_name(name));
        if named && (agent.accepts)(name) {
            to_stat.push((entry, ft));
            kinds.push(true);
        }
    }
    // The stat of every file, on several threads when there are many (the
    // kernel's work, one file at a time, is most of a run that finds
    // nothing new); in order.
    let stated: Vec<Result<Stated, String>> = to_stat
        .into_par_iter()
        .with_min_len(256)
        .map(|(entry, ft)| stat_of(place, owner, entry, ft))
        .collect();
    let mut files = Vec::with_capacity(stated.len());
    let mut stated = stated.into_iter();
    for is_file in kinds {
        if !is_file {
            listing.cuts.push(files.len());
            continue;
        }
        match stated.next().expect("a stat for every file") {
            Ok(s) => files.push(s),
            Err(w) => listing.other.warnings.push(w),
        }
    }
    if files.is_empty() {
        return listing;
    }
    // Every path here is the directory's, a `/` and the name.
    let first = files[0].path.as_os_str().as_encoded_bytes();
    let prefix: Box<[u8]> = first[..first.len() - files[0].name_len].into();
    let mut names = Vec::with_capacity(files.iter().map(|f| f.name_len).sum());
    let stats: Vec<(usize, Meta, SessionHint)> = files
        .iter()
        .map(|f| {
            let path = f.path.as_os_str().as_encoded_bytes();
            debug_assert!(path.starts_with(&prefix) && path.len() == prefix.len() + f.name_len);
            names.extend_from_slice(&path[prefix.len()..]);
            (names.len(), f.meta, f.session)
        })
        .collect();
    drop(files);
    listing.files = Some(std::sync::Arc::new(Listed::new(
        prefix,
        stats.into_iter(),
        names.into_boxed_slice(),
        place.pack,
        kept_owner(owner),
    )));
    listing
}

/// A transcript found in a directory listing, with its stat.
struct Stated {
    path: PathBuf,
    /// The length of its name (the end of `path`).
    name_len: usize,
    meta: Meta,
    session: SessionHint,
}

/// The stat of a transcript found in a directory listing; or why it is
/// skipped.
fn stat_of(
    place: &Place,
    owner: Option<u32>,
    entry: fs::DirEntry,
    ft: fs::FileType,
) -> Result<Stated, String> {
    let path = entry.path();
    // A symlink is followed to its target (a dangling one is skipped);
    // anything else is stat'ed through the directory handle, which is
    // cheaper than resolving the whole path again.
    let meta = if ft.is_symlink() { fs::metadata(&path) } else { entry.metadata() };
    let meta = meta.map_err(|e| format!("{}: cannot stat: {e}; skipped", path.display()))?;
    if !meta.is_file() {
        let what = if meta.is_dir() { "a link to a directory" } else { "not a regular file" };
        return Err(format!("{}: {what}; skipped", path.display()));
    }
    if let Some(why) = foreign(&meta, owner) {
        return Err(format!("{}: {why}", path.display()));
    }
    let session = (place.agent().session_hint)(place, &path);
    Ok(Stated { path, name_len: entry.file_name().len(), meta: Meta::of(&meta), session })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecars_and_archives_are_not_transcripts() {
        for name in ["a.jsonl", "2026-01-01T00-00-00-000Z_u.jsonl", "s-topic-3.jsonl"] {
            assert!(is_transcript_name(name), "{name}");
        }
        for name in [
            "a.trajectory.jsonl",
            "a.checkpoint.0f.jsonl",
            "a.jsonl.bak-123",
            "a.bak-123.jsonl",
            "a.jsonl.tmp-1-2",
            "a.tmp.jsonl",
            "a.unreadable-5.jsonl",
            "a.jsonl.reset.2026",
            "a.jsonl.deleted.2026",
            "a.jsonl.zst",
            "sessions.json",
            ".hidden.jsonl",
        ] {
            assert!(!is_transcript_name(name), "{name}");
        }
        assert!(is_compressed_transcript_name("rollout-1.jsonl.zst"));
        for name in ["a.zst", "a.jsonl.tmp.zst", ".a.jsonl.zst", "a.jsonl.zst.part", "a.json.zst"] {
            assert!(!is_compressed_transcript_name(name), "{name}");
        }
    }

    #[test]
    fn walks_each_layout_and_classifies_roundhouse_threads() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let mk = |p: &str| {
            let p = h.join(p);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, b"{}\n").unwrap();
        };
        mk(".openclaw/agents/main/sessions/a.jsonl");
        mk(".openclaw/agents/ops/sessions/b.jsonl");
        mk(".openclaw/agents/ops/sessions/b.trajectory.jsonl");
        mk(".openclaw/agents/ops/agent/other.jsonl");
        mk(".roundhouse/sessions/main/r1.jsonl");
        mk(".roundhouse/sessions/cron_cnightly_c1/r2.jsonl");
        mk(".roundhouse/subagents/run1/r3.jsonl");
        mk(".pi/agent/sessions/--home-x--/p.jsonl");
        let env = |_: &str| None;
        let places: Vec<Place> = [Pack::Openclaw, Pack::Roundhouse, Pack::Pi]
            .into_iter()
            .flat_map(|p| default_places(p, h, &env))
            .collect();
        let found = discover(&places);
        let rel: Vec<(String, Pack, SessionHint)> = found
            .sources
            .iter()
            .map(|s| (s.path.strip_prefix(h).unwrap().display().to_string(), s.pack, s.session))
            .collect();
        let names: Vec<&str> = rel.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(
            names,
            vec![
                ".openclaw/agents/main/sessions/a.jsonl",
                ".openclaw/agents/ops/sessions/b.jsonl",
                ".pi/agent/sessions/--home-x--/p.jsonl",
                ".roundhouse/sessions/cron_cnightly_c1/r2.jsonl",
                ".roundhouse/sessions/main/r1.jsonl",
                ".roundhouse/subagents/run1/r3.jsonl",
            ]
        );
        assert_eq!(rel[3].2, SessionHint::Known(SessionType::Cron));
        assert_eq!(rel[4].2, SessionHint::Known(SessionType::Main));
        assert_eq!(rel[5].2, SessionHint::Known(SessionType::Subagent));
        assert!(found.warnings.is_empty());
    }

    #[test]
    fn agent_env_vars_move_the_default_places() {
        let env = |v: &str| match v {
            "OPENCLAW_STATE_DIR" => Some("/srv/oc".to_string()),
            "PI_CODING_AGENT_DIR" => Some("/srv/pi".to_string()),
            _ => None,
        };
        let h = Path::new("/home/u");
        assert_eq!(
            default_places(Pack::Openclaw, h, &env)[0].root,
            PathBuf::from("/srv/oc/agents")
        );
        assert_eq!(default_places(Pack::Pi, h, &env)[0].root, PathBuf::from("/srv/pi/sessions"));
    }

    #[test]
    fn a_walk_gives_its_files_in_the_byte_order_of_their_paths() {
        // Names around `/` (0x2f): `-` and `.` sort before it, `0` and `_`
        // after; more subdirectories than are listed ahead at once.
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("s");
        let mut made = Vec::new();
        let mut mk = |rel: String| {
            let p = root.join(&rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, b"{}\n").unwrap();
            made.push(p);
        };
        for top in ["a", "a-b", "a.b", "a0", "a_b", "b"] {
            mk(format!("{top}.jsonl"));
            for sub in 0..3 {
                mk(format!("{top}/{sub}.jsonl"));
                mk(format!("{top}/{sub}/x.jsonl"));
            }
        }
        for n in 0..70 {
            mk(format!("many/d{n:02}/f.jsonl"));
        }
        made.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        let place = Place { pack: Pack::Pi, root: root.clone(), layout: Layout::Tree };
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut found = Found::default();
            pool.install(|| walk(&place, None, &root, &mut found));
            found.materialize();
            let paths: Vec<&Path> = found.sources.iter().map(|s| s.path.as_path()).collect();
            assert_eq!(paths, made.iter().map(PathBuf::as_path).collect::<Vec<_>>(), "{threads}");
            assert!(found.warnings.is_empty());
        }
    }

    #[test]
    fn the_files_of_a_directory_share_one_buffer_of_their_paths() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("s");
        for rel in ["a/1.jsonl", "a/2.jsonl", "a/3.jsonl", "b/4.jsonl"] {
            let p = root.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, b"{}\n").unwrap();
        }
        let found = discover(&[Place { pack: Pack::Pi, root: root.clone(), layout: Layout::Tree }]);
        let s = &found.sources;
        assert_eq!(s.len(), 4);
        assert_eq!(s[2].path.as_path(), root.join("a/3.jsonl"));
        assert!(std::sync::Arc::ptr_eq(&s[0].path.buf, &s[2].path.buf));
        assert!(!std::sync::Arc::ptr_eq(&s[2].path.buf, &s[3].path.buf));
        // A buffer holds 64 KiB at most, and at least one path.
        let long: Vec<PathBuf> = ["x", "y", "z"]
            .iter()
            .map(|c| PathBuf::from(format!("/{}", c.repeat(PathPacker::MAX * 6 / 10))))
            .chain([
                PathBuf::from("/short"),
                PathBuf::from(format!("/{}", "w".repeat(2 * PathPacker::MAX))),
            ])
            .collect();
        let shared = FoundPath::shared(&long);
        let got: Vec<&Path> = shared.iter().map(FoundPath::as_path).collect();
        assert_eq!(got, long.iter().map(PathBuf::as_path).collect::<Vec<_>>());
        let same = |a: usize, b: usize| std::sync::Arc::ptr_eq(&shared[a].buf, &shared[b].buf);
        assert!(!same(0, 1) && !same(1, 2) && same(2, 3) && !same(3, 4));
        assert_eq!(FoundPath::from(PathBuf::from("/a/b.jsonl")), shared_one("/a/b.jsonl"));
    }

    #[test]
    fn files_as_listed_are_those_materialized_with_one_fingerprint() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("s");
        // Files around subdirectories (a listing in several segments),
        // an empty directory, a single-file place.
        for rel in ["a.jsonl", "b/1.jsonl", "b/2.jsonl", "b0.jsonl", "c/x/y.jsonl", "e/", "z.jsonl"]
        {
            let p = root.join(rel);
            if rel.ends_with('/') {
                fs::create_dir_all(&p).unwrap();
                continue;
            }
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, rel).unwrap();
        }
        fs::write(d.path().join("t.jsonl"), b"{}\n").unwrap();
        let places = [
            Place { pack: Pack::Pi, root: root.clone(), layout: Layout::Tree },
            Place { pack: Pack::Pi, root: d.path().join("t.jsonl"), layout: Layout::Tree },
        ];
        let mut listed = discover_listed(&places);
        assert!(listed.sources.is_empty(), "left as listed");
        assert_eq!(listed.len(), 7);
        let print = listed.fingerprint();
        let whole = discover(&places);
        assert_eq!(whole.fingerprint(), print);
        listed.materialize();
        assert!(listed.listed.is_empty());
        assert_eq!(listed.fingerprint(), print);
        let paths = |f: &Found| -> Vec<PathBuf> {
            f.sources.iter().map(|s| s.path.to_path_buf()).collect()
        };
        assert_eq!(paths(&listed), paths(&whole));
        let rel: Vec<String> = paths(&whole)
            .iter()
            .map(|p| p.strip_prefix(d.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(
            rel,
            [
                "s/a.jsonl",
                "s/b/1.jsonl",
                "s/b/2.jsonl",
                "s/b0.jsonl",
                "s/c/x/y.jsonl",
                "s/z.jsonl",
                "t.jsonl"
            ]
        );
        for (a, b) in listed.sources.iter().zip(&whole.sources) {
            assert_eq!(
                (a.meta, a.pack, a.owner, &a.session),
                (b.meta, b.pack, b.owner, &b.session)
            );
        }
        // Another stat, another fingerprint.
        fs::write(root.join("b/2.jsonl"), b"longer now").unwrap();
        assert_ne!(discover_listed(&places).fingerprint(), print);

        use std::os::unix::ffi::OsStrExt;
        // The files as listed, by key, before any is a source; then only
        // those not left out are made sources, in order.
        let mut listed = discover_listed(&places);
        let keys = listed.listed_keys().expect("UTF-8 paths, none a source yet");
        let index = crate::pipeline::count::ListedIndex::of(keys);
        let all = paths(&discover(&places));
        for (i, p) in all.iter().enumerate() {
            assert_eq!(index.get(p.to_str().unwrap()), Some(i as u32), "{}", p.display());
            let hash = index.key_hash(i as u32, &mut String::new());
            assert_eq!(hash, crate::hash::key_hash(p.as_os_str().as_bytes()));
        }
        assert_eq!(index.get(&format!("{}/s/b", d.path().display())), None);
        assert_eq!(index.get(&format!("{}/s/b/1.jsonl.x", d.path().display())), None);
        let left_out = [true, false, true, true, false, false, true];
        listed.materialize_except(&left_out);
        assert!(listed.listed_keys().is_none(), "made sources");
        let kept: Vec<PathBuf> =
            all.iter().zip(left_out).filter(|(_, l)| !l).map(|(p, _)| p.clone()).collect();
        assert_eq!(paths(&listed), kept);
        assert_eq!(listed.len(), 3);
    }

    #[test]
    fn a_listing_keeps_each_files_device_whatever_it_is() {
        // A directory's files share a device but for a file mounted over
        // one, or an overlay's layers: each keeps its own.
        let m = |dev, ino| Meta { dev, ino, size: ino * 10, mtime_ns: -(ino as i64) };
        let devs = [7, 7, 9, 7, 3, 3];
        let stats: Vec<(usize, Meta, SessionHint)> = devs
            .iter()
            .enumerate()
            .map(|(i, &d)| (i + 1, m(d, i as u64), SessionHint::Known(SessionType::Main)))
            .collect();
        let l = Listed::new(
            "/d/".as_bytes().into(),
            stats.into_iter(),
            Box::from(&b"abcdef"[..]),
            Pack::Pi,
            None,
        );
        assert_eq!((l.dev, l.devs.len()), (7, 3));
        for (i, &d) in devs.iter().enumerate() {
            assert_eq!(l.meta(i), m(d, i as u64));
            assert_eq!(l.path(i), [&b"/d/"[..], &b"abcdef"[i..=i]]);
        }
    }

    #[test]
    fn the_files_of_an_openclaw_directory_look_up_its_index() {
        let d = tempfile::tempdir().unwrap();
        for rel in ["a/sessions/1.jsonl", "a/sessions/2.jsonl", "b/sessions/3.jsonl"] {
            let p = d.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, b"{}\n").unwrap();
        }
        let place =
            Place { pack: Pack::Openclaw, root: d.path().into(), layout: Layout::OpenclawAgents };
        let found = discover(&[place]);
        assert_eq!(found.sources.len(), 3);
        for s in &found.sources {
            assert_eq!(s.session, SessionHint::OpenclawIndex, "{}", s.path.display());
        }
    }

    fn shared_one(p: &str) -> FoundPath {
        FoundPath::shared(&[PathBuf::from(p)]).remove(0)
    }

    #[test]
    fn a_places_directories_come_in_the_byte_order_of_their_files_paths() {
        // `a-b` sorts before `a/` byte by byte (but after `a` by component).
        let d = tempfile::tempdir().unwrap();
        for agent in ["a", "a-b", "b"] {
            let p = d.path().join(agent).join("sessions/s.jsonl");
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, b"{}\n").unwrap();
        }
        let place =
            Place { pack: Pack::Openclaw, root: d.path().into(), layout: Layout::OpenclawAgents };
        let dirs: Vec<PathBuf> =
            place.dirs().iter().map(|p| p.strip_prefix(d.path()).unwrap().into()).collect();
        assert_eq!(dirs, ["a-b/sessions", "a/sessions", "b/sessions"].map(PathBuf::from));
        let mut found = Found::default();
        for dir in place.dirs() {
            walk(&place, None, &dir, &mut found);
        }
        found.materialize();
        assert!(found.sources.is_sorted_by(|a, b| a.path.as_os_str() < b.path.as_os_str()));
    }

    #[test]
    fn symlink_loops_do_not_trap_the_walk() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("s")).unwrap();
        std::os::unix::fs::symlink(d.path(), d.path().join("s/loop")).unwrap();
        fs::write(d.path().join("s/a.jsonl"), b"\n").unwrap();
        let place = Place { pack: Pack::Pi, root: d.path().join("s"), layout: Layout::Tree };
        let found = discover(&[place]);
        assert_eq!(found.sources.len(), 1);
    }
}
