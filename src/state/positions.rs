//! The binary form of the file positions: `positions.bin` and the frames
//! of `positions.log`.
//!
//! A file's position is about 60 bytes of numbers and hashes, its path,
//! and its format's context (a model, a timestamp, a few ids). As JSON that
//! was 865 bytes a file. Here each entry is:
//!
//! - its key, as the bytes it shares with the key before it (a count) and
//!   the rest (paths of one directory share most of their bytes);
//! - device, inode, offset, size, mtime, head and tail lengths and the
//!   line count as LEB128 varints, and the five hashes as 8 bytes each;
//! - for a pi-format file, its session mark (session hash, newest
//!   timestamp, ids counted at it) in binary, so that an entry left out is
//!   read without its JSON part;
//! - its pack, session type and format context as compact JSON (a few
//!   dozen bytes, and the one part whose fields change as formats learn);
//!
//! and entries are packed in blocks of [`BLOCK`], each compressed with zstd
//! (the JSON field names, packs, models and path prefixes all repeat), for
//! about 135 bytes a file. Blocks are decoded in parallel.
//!
//! `positions.bin`: the magic `TLMPOS01`, the state version (u32), the
//! generation (u64) and the entry count (u64), then the blocks, each its
//! entry count (u32), decoded length (u32), compressed length (u32), the
//! xxh3 of the compressed bytes (u64) and those bytes. A file whose counts,
//! lengths or checksums disagree is damaged as a whole (the backup is used).
//!
//! `positions.log`: frames appended by commits, each the magic `TLMPOSLG`,
//! the generation it applies to (u64), the batch (u64), its length (u32),
//! the xxh3 of the payload (u64) and the payload: the removed keys, then
//! the changed positions in blocks as above.

use std::collections::BTreeMap;
use std::io::Read as _;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::agents::claude_code::records::ClaudeState;
use crate::agents::codex::records::CodexState;
use crate::agents::gemini_cli::records::GeminiState;
use crate::agents::hermes::records::HermesState;
use crate::agents::pi::records::{PiState, StoredMark, StoredMarks};
use crate::agents::usage::UsageState;
use crate::state::boxed::Boxed;
use crate::state::bytes::{bytes, varint, Cursor};
use crate::state::FileState;

/// Magic of `positions.bin`.
pub const MAGIC: &[u8; 8] = b"TLMPOS01";
/// Magic of each frame of `positions.log`.
pub const LOG_MAGIC: &[u8; 8] = b"TLMPOSLG";
/// Entries per block.
pub const BLOCK: usize = 512;
/// Entry flag: the pi session mark follows in binary.
const MARK: u8 = 4;
/// Entry flag: the entry has no pi session mark.
const NO_MARK: u8 = 8;
/// zstd level: 3 packs these blocks within a few percent of 19, at
/// several times the speed.
const LEVEL: i32 = 3;

/// The part of an entry kept as JSON: the strings and the formats'
/// contexts.
#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Rest<P, C, X, G, H, U> {
    #[serde(rename = "k")]
    pack: String,
    #[serde(rename = "t")]
    session_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pi: Option<P>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claude: Option<C>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    codex: Option<X>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gemini: Option<G>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hermes: Option<H>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    usage: Option<U>,
}

/// The JSON part as written (borrowed).
type RestOut<'a> = Rest<
    &'a PiState,
    &'a ClaudeState,
    &'a CodexState,
    &'a GeminiState,
    &'a HermesState,
    &'a UsageState,
>;
/// The JSON part as read.
type RestIn = Rest<PiState, ClaudeState, CodexState, GeminiState, HermesState, UsageState>;

/// A present context, or `None` for an empty one.
fn some<T: crate::state::boxed::Empty>(b: &Boxed<T>) -> Option<&T> {
    (**b != T::default()).then_some(&**b)
}

/// Appends one entry (after `prev`, the key of the entry before it in the
/// block, or "").
fn encode_entry(prev: &str, key: &str, st: &FileState, out: &mut Vec<u8>) {
    // Every field, by name: a field added to `FileState` must be added here.
    let FileState {
        pack,
        dev,
        ino,
        offset,
        size,
        mtime_ns,
        head_len,
        head_hash,
        tail_len,
        tail_hash,
        prefix,
        chain,
        first_line,
        session_type,
        lines,
        missing_since_unix_nano,
        pi,
        claude,
        codex,
        gemini,
        hermes,
        usage,
    } = st;
    let shared = prev.bytes().zip(key.bytes()).take_while(|(a, b)| a == b).count();
    // Cut at a character boundary, so that the rest is UTF-8 on its own.
    let shared = (0..=shared).rev().find(|&n| key.is_char_boundary(n)).unwrap_or(0);
    varint(shared as u64, out);
    bytes(&key.as_bytes()[shared..], out);
    for x in [*dev, *ino, *offset, *size, u64::from(*head_len), u64::from(*tail_len), *lines] {
        varint(x, out);
    }
    varint(((*mtime_ns << 1) ^ (*mtime_ns >> 63)) as u64, out);
    for h in [*head_hash, *tail_hash, *chain, *first_line] {
        out.extend_from_slice(&h.to_le_bytes());
    }
    // The pi session mark is also kept in binary (flag 4; 8: none), so
    // that an entry left out is read without its JSON part.
    let session = pi.session.filter(|h| *h != 0);
    let flags = u8::from(prefix.is_some())
        | (u8::from(missing_since_unix_nano.is_some()) << 1)
        | if session.is_some() { MARK } else { NO_MARK };
    out.push(flags);
    if let Some(p) = prefix {
        out.extend_from_slice(&p.to_le_bytes());
    }
    if let Some(t) = missing_since_unix_nano {
        varint(*t, out);
    }
    if let Some(h) = session {
        out.extend_from_slice(&h.to_le_bytes());
        match &pi.high_ts {
            Some(t) => {
                varint(t.len() as u64 + 1, out);
                out.extend_from_slice(t.as_bytes());
            }
            None => varint(0, out),
        }
        varint(pi.high_ids.len() as u64, out);
        for id in &pi.high_ids {
            out.extend_from_slice(&id.to_le_bytes());
        }
    }
    // The mark written in binary is not written again in the JSON part.
    let pi_rest = session.map(|_| crate::agents::pi::records::PiState {
        session: None,
        high_ts: None,
        high_ids: Vec::new(),
        ..(**pi).clone()
    });
    let pi_rest = match &pi_rest {
        Some(p) => (*p != Default::default()).then_some(p),
        None => some(pi),
    };
    let rest: RestOut = Rest {
        pack: pack.clone(),
        session_type: session_type.clone(),
        pi: pi_rest,
        claude: some(claude),
        codex: some(codex),
        gemini: some(gemini),
        hermes: some(hermes),
        usage: some(usage),
    };
    let json = serde_json::to_vec(&rest).expect("a file state serialises");
    bytes(&json, out);
}

/// Reads one entry after the key `prev`.
fn decode_entry(prev: &str, c: &mut Cursor) -> Result<(String, FileState), String> {
    let (key, mut st, mark, rest) = decode_head(prev, c)?;
    add_rest(&mut st, rest, mark)?;
    Ok((key, st))
}

/// How an entry keeps its pi session mark.
enum MarkIn {
    /// In binary (`None`: the entry has none).
    Binary(Option<StoredMark>),
    /// Only in its JSON part (an entry written before the binary mark).
    Rest,
}

/// Reads one entry's key, numbers and pi session mark; its JSON part is
/// returned unread (the state has empty strings and contexts).
fn decode_head<'b>(
    prev: &str,
    c: &mut Cursor<'b>,
) -> Result<(String, FileState, MarkIn, &'b [u8]), String> {
    let shared = c.varint()? as usize;
    let suffix = c.bytes()?;
    let head = prev.get(..shared).ok_or("has a bad key")?;
    let mut key = String::with_capacity(shared + suffix.len());
    key.push_str(head);
    key.push_str(std::str::from_utf8(suffix).map_err(|_| "has a key that is not UTF-8")?);
    let mut n = || c.varint();
    let (dev, ino, offset, size) = (n()?, n()?, n()?, n()?);
    let small = |x: u64| u32::try_from(x).map_err(|_| "has a bad length".to_string());
    let (head_len, tail_len, lines) = (small(n()?)?, small(n()?)?, n()?);
    let z = n()?;
    let mtime_ns = ((z >> 1) as i64) ^ -((z & 1) as i64);
    let (head_hash, tail_hash, chain, first_line) = (c.u64()?, c.u64()?, c.u64()?, c.u64()?);
    let flags = c.u8()?;
    if flags & !0x0f != 0 || flags & (MARK | NO_MARK) == MARK | NO_MARK {
        return Err("has an entry of an unknown form (written by a newer telemetron?)".into());
    }
    let prefix = if flags & 1 != 0 { Some(c.u64()?) } else { None };
    let missing_since_unix_nano = if flags & 2 != 0 { Some(c.varint()?) } else { None };
    let mark = if flags & MARK != 0 {
        let session = c.u64()?;
        let high_ts = match c.varint()? {
            0 => None,
            n => {
                let n = usize::try_from(n - 1).map_err(|_| "has a bad length")?;
                let t = std::str::from_utf8(c.take(n)?).map_err(|_| "has a bad mark")?;
                Some(Box::from(t))
            }
        };
        let n = c.varint()?;
        let high_ids = (0..n).map(|_| c.u64()).collect::<Result<Box<[u64]>, String>>()?;
        MarkIn::Binary(Some(StoredMark { session, high_ts, high_ids }))
    } else if flags & NO_MARK != 0 {
        MarkIn::Binary(None)
    } else {
        MarkIn::Rest
    };
    let st = FileState {
        dev,
        ino,
        offset,
        size,
        mtime_ns,
        head_len,
        head_hash,
        tail_len,
        tail_hash,
        prefix,
        chain,
        first_line,
        lines,
        missing_since_unix_nano,
        ..FileState::default()
    };
    Ok((key, st, mark, c.bytes()?))
}

/// Adds an entry's JSON part (its strings and contexts) to its state.
fn add_rest(st: &mut FileState, rest: &[u8], mark: MarkIn) -> Result<(), String> {
    let rest: RestIn =
        serde_json::from_slice(rest).map_err(|e| format!("has a bad entry ({e})"))?;
    st.pack = rest.pack;
    st.session_type = rest.session_type;
    let mut pi = rest.pi.unwrap_or_default();
    if let MarkIn::Binary(Some(m)) = mark {
        pi.session = Some(m.session);
        pi.high_ts = m.high_ts.map(String::from);
        pi.high_ids = m.high_ids.into_vec();
    }
    st.pi = pi.into();
    st.claude = rest.claude.unwrap_or_default().into();
    st.codex = rest.codex.unwrap_or_default().into();
    st.gemini = rest.gemini.unwrap_or_default().into();
    st.hermes = rest.hermes.unwrap_or_default().into();
    st.usage = rest.usage.unwrap_or_default().into();
    Ok(())
}

/// The pi session mark of an entry's JSON part, read without the rest.
fn mark_of_rest(rest: &[u8]) -> Result<Option<StoredMark>, String> {
    #[derive(Deserialize)]
    struct Only<'a> {
        #[serde(default, borrow)]
        pi: Option<PiOnly<'a>>,
    }
    #[derive(Deserialize)]
    struct PiOnly<'a> {
        #[serde(default)]
        session: Option<u64>,
        #[serde(default, borrow)]
        high_ts: Option<std::borrow::Cow<'a, str>>,
        #[serde(default)]
        high_ids: Vec<u64>,
    }
    let only: Only = serde_json::from_slice(rest).map_err(|e| format!("has a bad entry ({e})"))?;
    Ok(only.pi.and_then(|pi| {
        Some(StoredMark {
            session: pi.session.filter(|h| *h != 0)?,
            high_ts: pi.high_ts.map(|t| Box::from(t.as_ref())),
            high_ids: pi.high_ids.into_boxed_slice(),
        })
    }))
}

/// Appends one block of entries: its header and its compressed bytes.
fn encode_block<'a>(entries: &[(&'a str, &'a FileState)], out: &mut Vec<u8>) {
    let mut raw = Vec::with_capacity(entries.len() * 320);
    let mut prev = "";
    for (k, st) in entries {
        encode_entry(prev, k, st, &mut raw);
        prev = k;
    }
    pack_block(entries.len(), &raw, out);
}

/// Appends a block of `n` entries encoded as `raw`.
fn pack_block(n: usize, raw: &[u8], out: &mut Vec<u8>) {
    let packed = zstd::bulk::compress(raw, LEVEL).expect("zstd compresses in memory");
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    out.extend_from_slice(&(packed.len() as u32).to_le_bytes());
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&packed).to_le_bytes());
    out.extend_from_slice(&packed);
}

/// A block as found in a file, not yet decoded.
struct RawBlock<'a> {
    entries: usize,
    raw_len: usize,
    packed: &'a [u8],
}

/// A block's header ([`BLOCK_HEADER_LEN`] bytes).
struct BlockHeader {
    entries: usize,
    raw_len: usize,
    /// How many bytes follow it.
    len: usize,
    /// The XXH3 of those bytes.
    sum: u64,
}

impl BlockHeader {
    fn read(c: &mut Cursor) -> Result<BlockHeader, String> {
        let (entries, raw_len) = (c.u32()? as usize, c.u32()? as usize);
        let (len, sum) = (c.u32()? as usize, c.u64()?);
        Ok(BlockHeader { entries, raw_len, len, sum })
    }

    /// The block of these bytes, when they are the ones it was written with.
    fn checked<'a>(&self, packed: &'a [u8]) -> Result<RawBlock<'a>, String> {
        if xxhash_rust::xxh3::xxh3_64(packed) != self.sum {
            return Err("is damaged (a block's checksum does not match)".into());
        }
        Ok(RawBlock { entries: self.entries, raw_len: self.raw_len, packed })
    }
}

/// Reads a block's header and bytes, checking its checksum.
fn next_block<'a>(c: &mut Cursor<'a>) -> Result<RawBlock<'a>, String> {
    let h = BlockHeader::read(c)?;
    h.checked(c.take(h.len)?)
}

/// A block's bytes, decompressed.
fn unpack(b: &RawBlock) -> Result<Vec<u8>, String> {
    let raw = zstd::bulk::decompress(b.packed, b.raw_len)
        .map_err(|e| format!("is damaged (a block does not decompress: {e})"))?;
    if raw.len() != b.raw_len {
        return Err("is damaged (a block has the wrong length)".into());
    }
    Ok(raw)
}

/// Decodes a block's entries.
fn decode_block(b: &RawBlock) -> Result<Vec<(String, FileState)>, String> {
    let raw = unpack(b)?;
    let mut c = Cursor::new(&raw);
    let mut out: Vec<(String, FileState)> = Vec::with_capacity(b.entries);
    for _ in 0..b.entries {
        let prev = out.last().map_or("", |(k, _)| k.as_str());
        out.push(decode_entry(prev, &mut c)?);
    }
    if !c.is_empty() {
        return Err("is damaged (a block has bytes past its entries)".into());
    }
    Ok(out)
}

/// The length of a `positions.bin` header: magic, version (u32),
/// generation and entry count (u64 each).
const HEADER_LEN: usize = MAGIC.len() + 4 + 8 + 8;

/// The length of a block's header: entries, raw length, stored length,
/// checksum.
const BLOCK_HEADER_LEN: usize = 4 + 4 + 4 + 8;

/// Blocks per thread in a window: how many are compressed, or read and
/// decoded, before they are written out or added up.
const WINDOW_BLOCKS: usize = 8;

/// The header of a `positions.bin`.
fn header(version: u32, generation: u64, entries: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&entries.to_le_bytes());
}

/// [`PositionsFile::encode`] from its parts.
pub fn encode_file(version: u32, generation: u64, files: &BTreeMap<String, FileState>) -> Vec<u8> {
    let mut out = Vec::new();
    write_file(version, generation, files, &mut out).expect("a Vec takes every byte");
    out
}

/// How a `positions.bin` was written: its length, and where each of its
/// blocks lies (byte offset and length).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Bytes written.
    pub len: u64,
    /// Where each block lies.
    pub spans: Vec<(usize, usize)>,
    /// Each block's keys.
    pub bounds: Vec<BlockKeys>,
}

/// What a rewrite needs of a block to copy it as it is: its first and last
/// keys, and what its header says (checked before a copy: the checksum
/// covers only the block's bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockKeys {
    /// Its first key.
    pub first: String,
    /// Its last key.
    pub last: String,
    /// Its entries.
    pub entries: usize,
    /// Its decoded length.
    pub raw_len: usize,
}

impl BlockKeys {
    /// The keys of a block of `entries` as encoded in `block` (its header
    /// and bytes).
    fn of<K: AsRef<str>, T>(entries: &[(K, T)], block: &[u8]) -> BlockKeys {
        let (first, last) = bounds_of(entries);
        let raw_len = u32::from_le_bytes(block[4..8].try_into().expect("a block header")) as usize;
        BlockKeys { first, last, entries: entries.len(), raw_len }
    }
}

impl Written {
    /// Records a block written next: `block` (its header and bytes), whose
    /// keys are `keys`.
    fn add(&mut self, block: &[u8], keys: BlockKeys) {
        self.spans.push((self.len as usize, block.len()));
        self.bounds.push(keys);
        self.len += block.len() as u64;
    }
}

/// Writes [`encode_file`]'s bytes to `out` as they are made: blocks are
/// compressed in parallel a window at a time and written in order, so
/// that neither the file nor all its blocks are ever held.
pub fn write_file(
    version: u32,
    generation: u64,
    files: &BTreeMap<String, FileState>,
    out: &mut dyn std::io::Write,
) -> std::io::Result<Written> {
    let entries: Vec<(&str, &FileState)> = files.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut head = Vec::new();
    header(version, generation, files.len() as u64, &mut head);
    out.write_all(&head)?;
    let mut written = Written { len: head.len() as u64, ..Written::default() };
    let window = BLOCK * WINDOW_BLOCKS * rayon::current_num_threads().max(1);
    for part in entries.chunks(window) {
        let blocks: Vec<Vec<u8>> = part
            .par_chunks(BLOCK)
            .map(|chunk| {
                let mut out = Vec::new();
                encode_block(chunk, &mut out);
                out
            })
            .collect();
        for (b, chunk) in blocks.iter().zip(part.chunks(BLOCK)) {
            out.write_all(b)?;
            written.add(b, BlockKeys::of(chunk, b));
        }
    }
    Ok(written)
}

/// The first and last keys of a block's entries.
fn bounds_of<K: AsRef<str>, T>(entries: &[(K, T)]) -> (String, String) {
    let key = |e: Option<&(K, T)>| e.map_or_else(String::new, |(k, _)| k.as_ref().to_string());
    (key(entries.first()), key(entries.last()))
}

/// How a batch in flight (`pending.json`) keeps its file states: one
/// base64 string of [`PositionsFile`]'s binary form (a first run's batch
/// holds every file's state). A map of JSON states, as earlier versions
/// wrote it, is read too.
pub mod in_pending {
    use super::*;
    use base64::Engine;

    /// Writes the states.
    pub fn serialize<S: serde::Serializer>(
        files: &BTreeMap<String, FileState>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let bin = encode_file(crate::state::STATE_VERSION, 0, files);
        // Encoded as it is written, not into a string first.
        let engine = &base64::engine::general_purpose::STANDARD;
        s.collect_str(&base64::display::Base64Display::new(&bin, engine))
    }

    /// Reads the states.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, FileState>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Packed(String),
            Json(BTreeMap<String, FileState>),
        }
        match Form::deserialize(d)? {
            Form::Json(m) => Ok(m),
            Form::Packed(b64) => {
                let bin = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(serde::de::Error::custom)?;
                PositionsFile::decode(&bin).map(|f| f.files).map_err(serde::de::Error::custom)
            }
        }
    }
}

/// `positions.bin`: every file's position, as committed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PositionsFile {
    /// Format version (see [`crate::state::STATE_VERSION`]).
    pub version: u32,
    /// Which frames of `positions.log` apply to it: those of the same
    /// generation (one more each time the log is folded in).
    pub generation: u64,
    /// Per-file reading position, keyed by path.
    pub files: BTreeMap<String, FileState>,
}

impl PositionsFile {
    /// The binary form (see the module's documentation). Blocks are
    /// compressed in parallel.
    pub fn encode(&self) -> Vec<u8> {
        encode_file(self.version, self.generation, &self.files)
    }

    /// Parses [`PositionsFile::encode`]'s form; says what is wrong
    /// otherwise (in words that follow the file's name).
    pub fn decode(b: &[u8]) -> Result<PositionsFile, String> {
        Self::decode_leaving_out(b, None).map(|(f, _)| f)
    }

    /// [`PositionsFile::decode`], leaving out the entries `leave` gives a
    /// found file's index for (files found exactly as their entry left
    /// them): of those, only what a run may need is kept ([`Skipped`]).
    pub fn decode_leaving_out(
        b: &[u8],
        leave: Option<&Leave<'_>>,
    ) -> Result<(PositionsFile, Skipped), String> {
        Self::read_leaving_out(&mut &b[..], leave)
    }

    /// [`PositionsFile::decode_leaving_out`] from a reader: the file is
    /// read and decoded a window of blocks at a time (the blocks of a
    /// window in parallel), so that neither the whole file nor every
    /// block's entries are held at once.
    pub fn read_leaving_out(
        r: &mut dyn std::io::Read,
        leave: Option<&Leave<'_>>,
    ) -> Result<(PositionsFile, Skipped), String> {
        let mut head = [0; HEADER_LEN];
        let got = read_up_to(r, &mut head)?;
        if got < MAGIC.len() || &head[..MAGIC.len()] != MAGIC {
            return Err("is not a telemetron positions file".into());
        }
        let mut c = Cursor::new(&head[..got]);
        c.at = MAGIC.len();
        let version = c.u32()?;
        if version != crate::state::STATE_VERSION {
            // Reported as such by the caller.
            return Ok((PositionsFile { version, ..PositionsFile::default() }, Skipped::default()));
        }
        let generation = c.u64()?;
        let count = c.u64()?;
        // Not sized by the header's count: nothing checks it until every
        // block is read (a damaged one must be told, not allocated).
        let mut all = Vec::new();
        let mut skipped = Skipped::default();
        let mut at = HEADER_LEN;
        let mut found = 0u64;
        let mut prev_last: Option<String> = None;
        let window = WINDOW_BLOCKS * rayon::current_num_threads().max(1);
        loop {
            // The next window's blocks, as stored.
            let mut packed: Vec<(BlockHeader, Vec<u8>)> = Vec::with_capacity(window);
            while packed.len() < window {
                let mut bh = [0; BLOCK_HEADER_LEN];
                match read_up_to(r, &mut bh)? {
                    0 => break,
                    BLOCK_HEADER_LEN => {}
                    _ => return Err("is truncated".into()),
                }
                let h = BlockHeader::read(&mut Cursor::new(&bh))?;
                let mut bytes = Vec::new();
                std::io::Read::take(&mut *r, h.len as u64)
                    .read_to_end(&mut bytes)
                    .map_err(|e| format!("cannot be read ({e})"))?;
                if bytes.len() != h.len {
                    return Err("is truncated".into());
                }
                skipped.spans.push((at, BLOCK_HEADER_LEN + h.len));
                at += BLOCK_HEADER_LEN + h.len;
                packed.push((h, bytes));
            }
            if packed.is_empty() {
                break;
            }
            let first = skipped.spans.len() - packed.len();
            let parts: Vec<Part> = packed
                .par_iter()
                .enumerate()
                .map(|(i, (h, bytes))| decode_part(first + i, &h.checked(bytes)?, leave))
                .collect::<Result<_, _>>()?;
            drop(packed);
            for (mut kept, heads, sessions, bounds) in parts {
                if kept.windows(2).any(|w| w[0].0 >= w[1].0)
                    || prev_last.as_ref().zip(kept.first()).is_some_and(|(p, f)| *p >= f.0)
                {
                    return Err("is damaged (its keys are out of order)".into());
                }
                found += (kept.len() + heads.len()) as u64;
                if bounds.entries > 0 {
                    prev_last = Some(bounds.last.clone());
                }
                skipped.bounds.push(bounds);
                all.append(&mut kept);
                skipped.heads.extend(heads);
                skipped.mark_sessions.extend(sessions);
            }
        }
        if found != count {
            return Err("is truncated (fewer entries than its header says)".into());
        }
        skipped.mark_sessions.sort_unstable();
        skipped.mark_sessions.dedup();
        // Grown by doubling, they are kept for the whole run.
        skipped.heads.shrink_to_fit();
        skipped.mark_sessions.shrink_to_fit();
        skipped.spans.shrink_to_fit();
        skipped.bounds.shrink_to_fit();
        // Sorted: a bulk build.
        let file = PositionsFile { version, generation, files: all.into_iter().collect() };
        Ok((file, skipped))
    }
}

/// What a block gives: the entries kept, the heads of those left out and
/// the sessions they have marks of, and its first and last keys.
type Part = (Vec<(String, FileState)>, Vec<(u32, Head)>, Vec<u64>, BlockKeys);

/// Decodes block number `n`; the entries `leave` says are found as they
/// were left are read only as far as needed.
fn decode_part(n: usize, b: &RawBlock, leave: Option<&Leave<'_>>) -> Result<Part, String> {
    let Some(leave) = leave else {
        let entries = decode_block(b)?;
        let (first, last) = bounds_of(&entries);
        let keys = BlockKeys { first, last, entries: b.entries, raw_len: b.raw_len };
        return Ok((entries, Vec::new(), Vec::new(), keys));
    };
    let raw = unpack(b)?;
    let mut c = Cursor::new(&raw);
    let (mut kept, mut heads, mut sessions) = (Vec::new(), Vec::new(), Vec::new());
    let mut prev = String::new();
    let mut first = None;
    for entry in 0..b.entries {
        let (k, mut st, mark, rest) = decode_head(&prev, &mut c)?;
        if first.is_none() {
            first = Some(k.clone());
        }
        match leave(&k, &st) {
            Some(found) => {
                heads.push((found, Head::of(&st, n as u32, entry as u16)));
                let mark = match mark {
                    MarkIn::Binary(m) => m,
                    MarkIn::Rest => mark_of_rest(rest)?,
                };
                sessions.extend(mark.map(|m| m.session));
                prev = k;
            }
            None => {
                add_rest(&mut st, rest, mark)?;
                prev.clone_from(&k);
                kept.push((k, st));
            }
        }
    }
    if !c.is_empty() {
        return Err("is damaged (a block has bytes past its entries)".into());
    }
    let keys = BlockKeys {
        first: first.unwrap_or_default(),
        last: prev,
        entries: b.entries,
        raw_len: b.raw_len,
    };
    Ok((kept, heads, sessions, keys))
}

/// Reads the bytes at `(at, len)` of `f` (a block where a load found it)
/// into `buf`.
fn read_span(
    f: &std::fs::File,
    &(at, len): &(usize, usize),
    buf: &mut Vec<u8>,
) -> Result<(), String> {
    use std::os::unix::fs::FileExt;
    buf.resize(len, 0);
    f.read_exact_at(buf, at as u64).map_err(|e| format!("cannot be read again ({e})"))
}

/// Reads into `buf` until it is full or the reader ends; says how much.
fn read_up_to(r: &mut dyn std::io::Read, buf: &mut [u8]) -> Result<usize, String> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot be read ({e})")),
        }
    }
    Ok(got)
}

/// Says, of an entry (its key and state), the index of the found file it
/// may be left out for, if any.
pub type Leave<'a> = dyn Fn(&str, &FileState) -> Option<u32> + Sync + 'a;

/// What loading left out: the entries of files found exactly as their
/// state left them, which a run reads nothing of. Kept of them is only what
/// other files may need: how to recognise their content (a copy of one is
/// found by its first bytes) and how far each pi session was counted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Skipped {
    /// Where each block of the file lies (byte offset and length).
    pub spans: Vec<(usize, usize)>,
    /// Each block's keys (a block none of whose keys changed is copied as
    /// it is when the file is rewritten).
    pub bounds: Vec<BlockKeys>,
    /// Per entry left out: the found file's index and its identity.
    pub heads: Vec<(u32, Head)>,
    /// The pi sessions the entries left out have marks of, sorted, each
    /// once.
    pub mark_sessions: Vec<u64>,
    /// Their marks, sorted by session (see [`StoredMarks::sort`]), read
    /// again from `path` when a session among `mark_sessions` is first
    /// asked for ([`LeftMarks::marks`]); or why they could not be.
    pub marks: std::sync::OnceLock<Result<StoredMarks, String>>,
    /// The file they were read from (to fetch one whole, rarely).
    pub path: std::path::PathBuf,
    /// Once the found files left out are let go ([`Skipped::detach`]): the
    /// [`crate::hash::key_hash`]es of the keys left out, sorted (the found
    /// files' numbers in `heads` mean nothing since).
    pub detached: Option<Vec<u64>>,
    /// Why an entry left out could not be read again, when one had to be
    /// and could not (see [`Skipped::reread_failed`]).
    pub reread: std::sync::OnceLock<String>,
    /// That file, held open since it was loaded when entries were left
    /// out, and where its blocks lie: the marks, and a whole entry a copy
    /// shares, are read again from it, where [`Head::block`] and
    /// [`Head::entry`] say, whatever replaced `path` since (this run's
    /// commit, or another run's while a dry run, which takes no lock,
    /// reads).
    pub loaded: Loaded,
}

/// The positions file a load read, held open (see [`Skipped::loaded`]).
#[derive(Clone, Debug, Default)]
pub struct Loaded(Option<std::sync::Arc<(std::fs::File, Spans)>>);

/// Where each block of a positions file lies (byte offset and length).
type Spans = Vec<(usize, usize)>;

impl Loaded {
    /// `file`, whose blocks lie at `spans`.
    pub fn new(file: std::fs::File, spans: Vec<(usize, usize)>) -> Loaded {
        Loaded(Some(std::sync::Arc::new((file, spans))))
    }
}

/// What was loaded is compared, not the handle held on its file.
impl PartialEq for Loaded {
    fn eq(&self, _: &Loaded) -> bool {
        true
    }
}

/// What identifies the content of an entry left out.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Head {
    /// The block holding the entry.
    pub block: u32,
    /// See [`FileState::head_len`] (at most [`crate::state::HEAD_LEN`];
    /// a larger one, never written, stays larger).
    pub head_len: u16,
    /// See [`FileState::head_hash`].
    pub head_hash: u64,
    /// See [`FileState::first_line`].
    pub first_line: u64,
    /// See [`FileState::offset`].
    pub offset: u64,
    /// Its place in its block.
    pub entry: u16,
}

// 40 bytes an entry left out, with the found file's index.
const _: () = assert!(std::mem::size_of::<(u32, Head)>() <= 40);

impl Head {
    fn of(st: &FileState, block: u32, entry: u16) -> Head {
        Head {
            block,
            entry,
            head_len: u16::try_from(st.head_len).unwrap_or(u16::MAX),
            head_hash: st.head_hash,
            first_line: st.first_line,
            offset: st.offset,
        }
    }
}

impl crate::agents::pi::records::LeftMarks for Skipped {
    fn sessions(&self) -> &[u64] {
        &self.mark_sessions
    }

    fn marks(&self) -> Option<&StoredMarks> {
        self.marks.get_or_init(|| self.read_marks()).as_ref().ok()
    }
}

impl Skipped {
    /// The file the entries were left out of, opened again.
    fn open_again(&self) -> Result<std::fs::File, String> {
        std::fs::File::open(&self.path).map_err(|e| format!("cannot be read again ({e})"))
    }

    /// Why the marks of the entries left out, or an entry left out, could
    /// not be read again, if they were asked for and could not: a run
    /// that counted without them could count a copied session or file
    /// again, so it sends nothing.
    pub fn reread_failed(&self) -> Option<&str> {
        let marks = self.marks.get().and_then(|r| r.as_ref().err());
        marks.or(self.reread.get()).map(String::as_str)
    }

    /// The pi marks of the entries left out, read again from the file
    /// loaded (held open; else opened again at `path`): the blocks that
    /// hold them, each entry where its head says, checked against its
    /// identity.
    fn read_marks(&self) -> Result<StoredMarks, String> {
        self.with_loaded(|f, spans| self.marks_from(f, spans))?
    }

    /// `read` given the file loaded and its spans: held open when it is
    /// (whatever replaced `path` since), else opened again at `path`.
    fn with_loaded<T>(&self, read: impl FnOnce(&std::fs::File, &Spans) -> T) -> Result<T, String> {
        match &self.loaded.0 {
            Some(held) => Ok(read(&held.0, &held.1)),
            None => Ok(read(&self.open_again()?, &self.spans)),
        }
    }

    /// [`Skipped::read_marks`] from `f`, whose blocks lie at `spans`.
    fn marks_from(&self, f: &std::fs::File, spans: &Spans) -> Result<StoredMarks, String> {
        let changed = || "changed since it was loaded".to_string();
        let mut out = StoredMarks::default();
        let mut buf = Vec::new();
        let mut rest = &self.heads[..];
        while let Some((_, first)) = rest.first() {
            // The entries left out are in key order, so by block.
            let n = rest.iter().take_while(|(_, h)| h.block == first.block).count();
            let (these, after) = rest.split_at(n);
            rest = after;
            let span = spans.get(first.block as usize).ok_or_else(changed)?;
            read_span(f, span, &mut buf)?;
            let b = next_block(&mut Cursor::new(&buf))?;
            let raw = unpack(&b)?;
            let mut c = Cursor::new(&raw);
            let mut want = these.iter().map(|(_, h)| h).peekable();
            let mut prev = String::new();
            for entry in 0..b.entries {
                if want.peek().is_none() {
                    break;
                }
                let (k, st, mark, json) = decode_head(&prev, &mut c)?;
                if let Some(h) = want.next_if(|h| usize::from(h.entry) == entry) {
                    if Head::of(&st, h.block, h.entry) != *h {
                        return Err(changed());
                    }
                    let mark = match mark {
                        MarkIn::Binary(m) => m,
                        MarkIn::Rest => mark_of_rest(json)?,
                    };
                    if let Some(m) = &mark {
                        out.push(m);
                    }
                }
                prev = k;
            }
            if want.next().is_some() {
                return Err(changed());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Which of `found` files (by index) were left out (none, once they
    /// are let go: see [`Skipped::detach`]).
    pub fn left_out(&self, found: usize) -> Vec<bool> {
        let mut out = vec![false; found];
        if self.detached.is_none() {
            for (i, _) in &self.heads {
                out[*i as usize] = true;
            }
        }
        out
    }

    /// Lets the found files left out go: from now on their keys are read
    /// from the positions ([`Skipped::fetch_key`], [`Skipped::entry_at`],
    /// [`Skipped::holds`]), where `key_hash` gives each one's hash by its
    /// found file's number.
    pub fn detach(&mut self, mut key_hash: impl FnMut(u32) -> u64) {
        let mut hashes: Vec<u64> = self.heads.iter().map(|(i, _)| key_hash(*i)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        self.detached = Some(hashes);
    }

    /// True when `key` is an entry left out's, once the found files left
    /// out are let go (before, they are among the files found).
    pub fn holds(&self, key: &str) -> bool {
        let Some(hashes) = &self.detached else { return false };
        let hash = crate::hash::key_hash(key.as_bytes());
        hashes.binary_search(&hash).is_ok() && self.fetch_key(key).is_some()
    }

    /// The whole entry of `key`, if it was left out, read again from its
    /// block (rarely: another file holds a copy of it).
    pub fn fetch_key(&self, key: &str) -> Option<FileState> {
        // Blocks are in key order: the first that ends at or after `key`.
        let block = self.bounds.partition_point(|b| b.last.as_str() < key);
        if self.bounds.get(block).is_none_or(|b| b.first.as_str() > key) {
            return None;
        }
        self.entry_left_out(block as u32, |_, k| k == key).map(|(_, st)| st)
    }

    /// The key and whole entry of entry left out number `i` (in `heads`),
    /// read again from its block.
    pub fn entry_at(&self, i: usize) -> Option<(String, FileState)> {
        let h = self.heads.get(i)?.1;
        self.entry_left_out(h.block, |n, _| n == usize::from(h.entry))
    }

    /// The entry of block `block` that `want` picks (by its place in the
    /// block and its key), if it was left out: read from the file loaded
    /// when it is held open (whatever replaced it since), else from the
    /// file at `path`. An entry loaded is not one (a later commit's, from
    /// the log, may stand for the same key). When the block cannot be read
    /// again, or is not as it was, why is kept ([`Skipped::reread_failed`]).
    fn entry_left_out(
        &self,
        block: u32,
        want: impl Fn(usize, &str) -> bool,
    ) -> Option<(String, FileState)> {
        let read = |f: &std::fs::File, spans: &Spans| -> Result<_, String> {
            let changed = || "changed since it was loaded".to_string();
            let span = spans.get(block as usize).ok_or_else(changed)?;
            let mut buf = Vec::new();
            read_span(f, span, &mut buf)?;
            let b = next_block(&mut Cursor::new(&buf))?;
            let entries = decode_block(&b)?;
            let Some((n, (k, st))) =
                entries.into_iter().enumerate().find(|(n, (k, _))| want(*n, k))
            else {
                return Ok(None);
            };
            let at = self
                .heads
                .binary_search_by_key(&(block, n), |(_, h)| (h.block, usize::from(h.entry)));
            match at {
                Ok(at) if Head::of(&st, block, n as u16) == self.heads[at].1 => Ok(Some((k, st))),
                Ok(_) => Err(changed()),
                Err(_) => Ok(None),
            }
        };
        match self.with_loaded(read).and_then(|r| r) {
            Ok(entry) => entry,
            Err(why) => {
                let _ = self.reread.set(why);
                None
            }
        }
    }

    /// Writes to `out` the new `positions.bin`: the entries of `files`
    /// and, of those of `path` (the file the entries were left out of),
    /// the ones neither in `files` nor in `removed`, block by block as
    /// they are made (one block of `path` read at a time). A write error
    /// is the outer one; the inner says what is wrong with `path`.
    pub fn merge_into<W: std::io::Write + std::io::Seek>(
        &self,
        generation: u64,
        files: &BTreeMap<String, FileState>,
        removed: &std::collections::BTreeSet<String>,
        out: W,
    ) -> std::io::Result<Result<Written, String>> {
        let old = match self.open_again() {
            Ok(f) => f,
            Err(why) => return Ok(Err(why)),
        };
        let mut w = BlockWriter::new(generation, out)?;
        let mut ours = files.iter().peekable();
        let mut buf = Vec::new();
        for (i, span) in self.spans.iter().enumerate() {
            if let Err(why) = read_span(&old, span, &mut buf) {
                return Ok(Err(why));
            }
            let raw = match next_block(&mut Cursor::new(&buf)) {
                Ok(raw) => raw,
                Err(why) => return Ok(Err(why)),
            };
            // A block none of whose keys changed is copied as it is (its
            // checksum checked): a run in batches adds its files after
            // those of the batches before, whose blocks stay.
            // (Only at a block boundary of the new file: copying after a
            // part block would leave ever more small blocks.)
            let keys = self.bounds.get(i).filter(|k| k.entries > 0 && k.first <= k.last);
            if let Some(keys) = keys.filter(|_| w.pending.is_empty()) {
                let (lo, hi) = (keys.first.as_str(), keys.last.as_str());
                let range = (std::ops::Bound::Included(lo), std::ops::Bound::Included(hi));
                let touched = ours.peek().is_some_and(|(k, _)| k.as_str() < lo)
                    || files.range::<str, _>(range).next().is_some()
                    || removed.range::<str, _>(range).next().is_some();
                if !touched {
                    if (raw.entries, raw.raw_len) != (keys.entries, keys.raw_len) {
                        return Ok(Err("is damaged (a block's header changed)".into()));
                    }
                    w.copy(&buf, keys)?;
                    continue;
                }
            }
            let block = match decode_block(&raw) {
                Ok(b) => b,
                Err(why) => return Ok(Err(why)),
            };
            for (k, st) in block {
                while let Some((ok, ov)) = ours.next_if(|(ok, _)| ok.as_str() < k.as_str()) {
                    w.push(ok.clone(), ov.clone())?;
                }
                if !files.contains_key(&k) && !removed.contains(&k) {
                    w.push(k, st)?;
                }
            }
        }
        for (ok, ov) in ours {
            w.push(ok.clone(), ov.clone())?;
        }
        w.finish().map(Ok)
    }
}

/// A `positions.bin` written a block at a time, entries in order, to
/// `out` (its header's entry count is filled in at the end).
struct BlockWriter<W> {
    out: W,
    written: Written,
    pending: Vec<(String, FileState)>,
    /// One block's bytes (reused).
    block: Vec<u8>,
}

impl<W: std::io::Write + std::io::Seek> BlockWriter<W> {
    /// An empty file of generation `generation`.
    fn new(generation: u64, mut out: W) -> std::io::Result<BlockWriter<W>> {
        let mut head = Vec::new();
        header(crate::state::STATE_VERSION, generation, 0, &mut head);
        out.write_all(&head)?;
        let written = Written { len: head.len() as u64, ..Written::default() };
        Ok(BlockWriter { out, written, pending: Vec::with_capacity(BLOCK), block: Vec::new() })
    }

    /// Ends the file.
    fn finish(mut self) -> std::io::Result<Written> {
        use std::io::SeekFrom;
        self.flush()?;
        // The count is the header's last field.
        let count: usize = self.written.bounds.iter().map(|b| b.entries).sum();
        self.out.seek(SeekFrom::Start((HEADER_LEN - 8) as u64))?;
        self.out.write_all(&(count as u64).to_le_bytes())?;
        self.out.seek(SeekFrom::End(0))?;
        Ok(self.written)
    }

    /// Adds the next entry (a full block is written out).
    fn push(&mut self, key: String, st: FileState) -> std::io::Result<()> {
        self.pending.push((key, st));
        if self.pending.len() == BLOCK {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes out the entries pushed since the last block.
    fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let refs: Vec<(&str, &FileState)> =
            self.pending.iter().map(|(k, v)| (k.as_str(), v)).collect();
        self.block.clear();
        encode_block(&refs, &mut self.block);
        self.out.write_all(&self.block)?;
        self.written.add(&self.block, BlockKeys::of(&self.pending, &self.block));
        self.pending.clear();
        Ok(())
    }

    /// Writes out a block of another file as it is (its entries come
    /// next in order): `block`, its header and bytes, whose keys are
    /// `keys`.
    fn copy(&mut self, block: &[u8], keys: &BlockKeys) -> std::io::Result<()> {
        self.flush()?;
        self.out.write_all(block)?;
        self.written.add(block, keys.clone());
        Ok(())
    }
}

/// Where and why a log stopped before its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEnd {
    /// True for a last frame cut short (a commit that died while
    /// appending: its batch is still pending); false for damage.
    pub torn: bool,
    /// The byte the unread frame starts at.
    pub at: usize,
    /// What is wrong, in words that follow the file's name.
    pub why: String,
}

/// One frame of `positions.log`: the positions one commit changed.
/// `removed` is applied before `files`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogFrame {
    /// The generation of `positions.bin` it applies to; frames of an older
    /// generation (left by a run that died while folding the log in) are
    /// skipped.
    pub generation: u64,
    /// The acknowledged batch this commit followed (informational).
    pub seq: u64,
    /// New states of the files that changed.
    pub files: BTreeMap<String, FileState>,
    /// Entries that went away.
    pub removed: Vec<String>,
}

impl LogFrame {
    /// Encodes the frame for the entries `files` (sorted) and `removed`.
    pub fn encode<'a>(
        generation: u64,
        seq: u64,
        files: impl Iterator<Item = (&'a str, &'a FileState)>,
        removed: &[String],
    ) -> Vec<u8> {
        let mut payload = Vec::new();
        varint(removed.len() as u64, &mut payload);
        for k in removed {
            bytes(k.as_bytes(), &mut payload);
        }
        let entries: Vec<_> = files.collect();
        for chunk in entries.chunks(BLOCK) {
            encode_block(chunk, &mut payload);
        }
        let mut out = Vec::with_capacity(36 + payload.len());
        out.extend_from_slice(LOG_MAGIC);
        out.extend_from_slice(&generation.to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Reads the frames of a log in order. Returns them, and how the log
    /// ended when not cleanly.
    pub fn decode_all(b: &[u8]) -> (Vec<LogFrame>, Option<LogEnd>) {
        let mut frames = Vec::new();
        let mut c = Cursor::new(b);
        while !c.is_empty() {
            let at = c.at;
            let header = (|| {
                let magic = c.take(LOG_MAGIC.len())?;
                if magic != LOG_MAGIC {
                    return Err("has a frame that is not a positions frame".to_string());
                }
                Ok((c.u64()?, c.u64()?, c.u32()? as usize, c.u64()?))
            })();
            let (generation, seq, len, sum) = match header {
                Ok(h) => h,
                Err(e) => return (frames, Some(LogEnd { torn: e == "is truncated", at, why: e })),
            };
            let Ok(payload) = c.take(len) else {
                return (frames, Some(LogEnd { torn: true, at, why: "is truncated".into() }));
            };
            if xxhash_rust::xxh3::xxh3_64(payload) != sum {
                // A frame cut short and then appended to cannot happen (a
                // commit that dies leaves the rest of the log alone): a
                // checksum that does not match is damage, unless it is the
                // last frame (a torn write).
                let torn = c.is_empty();
                return (frames, Some(LogEnd { torn, at, why: "has a damaged frame".into() }));
            }
            let frame = (|| {
                let mut p = Cursor::new(payload);
                let n = p.varint()?;
                let mut removed = Vec::new();
                for _ in 0..n {
                    let k = std::str::from_utf8(p.bytes()?).map_err(|_| "has a bad key")?;
                    removed.push(k.to_string());
                }
                let mut files = BTreeMap::new();
                while !p.is_empty() {
                    files.extend(decode_block(&next_block(&mut p)?)?);
                }
                Ok::<_, String>(LogFrame { generation, seq, files, removed })
            })();
            match frame {
                Ok(f) => frames.push(f),
                Err(why) => return (frames, Some(LogEnd { torn: false, at, why })),
            }
        }
        (frames, None)
    }

    /// Applies it to `files`.
    pub fn apply_to(self, files: &mut BTreeMap<String, FileState>) {
        for k in &self.removed {
            files.remove(k);
        }
        files.extend(self.files);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::pi::records::LeftMarks;

    /// The marks of the entries `sk` left out of `bytes`, read again from
    /// a file of those bytes.
    fn left_marks(sk: &mut Skipped, bytes: &[u8]) -> StoredMarks {
        let d = tempfile::tempdir().unwrap();
        sk.path = d.path().join("positions.bin");
        std::fs::write(&sk.path, bytes).unwrap();
        LeftMarks::marks(sk).expect("read again").clone()
    }

    /// The pi marks of every entry of `f`, sorted.
    fn marks_of(f: &PositionsFile) -> StoredMarks {
        let mut m: StoredMarks = (f.files.values())
            .filter_map(|st| {
                Some(StoredMark {
                    session: st.pi.session?,
                    high_ts: st.pi.high_ts.as_deref().map(Box::from),
                    high_ids: st.pi.high_ids.clone().into(),
                })
            })
            .collect();
        m.sort();
        m
    }

    #[test]
    fn the_marks_left_out_are_read_from_the_file_loaded_whatever_replaced_it() {
        let f = sample(1_500);
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("positions.bin");
        std::fs::write(&path, f.encode()).unwrap();
        let every: &Leave = &|_, _| Some(0);
        let Ok(Some((_, sk))) = crate::state::read_positions(&path, Some(every)) else {
            panic!("{} does not load", path.display())
        };
        assert!(sk.marks.get().is_none(), "not read at load");
        // Replaced since, as a commit's fold does (this run's, or another
        // run's while a dry run reads): other blocks, other identities.
        let mut other = f.clone();
        other.files.pop_first();
        for st in other.files.values_mut() {
            st.head_hash ^= 1;
        }
        let new = d.path().join("positions.bin.new");
        std::fs::write(&new, other.encode()).unwrap();
        std::fs::rename(&new, &path).unwrap();
        assert_eq!(LeftMarks::marks(&sk), Some(&marks_of(&f)), "{:?}", sk.reread_failed());
        // A whole entry read again (a copy's) comes from the same file:
        // the one the replacement dropped, and the last with its identity
        // as loaded, not as replaced.
        let (first, last) = (f.files.first_key_value().unwrap(), f.files.last_key_value().unwrap());
        assert_eq!(sk.fetch_key(first.0).map(|st| st.head_hash), Some(first.1.head_hash));
        assert_eq!(sk.fetch_key(last.0).map(|st| st.head_hash), Some(last.1.head_hash));
        let key_at = |i| sk.entry_at(i).map(|(k, _)| k);
        assert_eq!(key_at(sk.heads.len() - 1).as_deref(), Some(last.0.as_str()));
        assert_eq!(sk.reread_failed(), None);
    }

    #[test]
    fn the_marks_left_out_are_read_when_asked_for_and_not_from_another_file() {
        let f = sample(1_500);
        let enc = f.encode();
        let every: &Leave = &|_, _| Some(0);
        let (_, mut sk) = PositionsFile::decode_leaving_out(&enc, Some(every)).unwrap();
        assert!(sk.marks.get().is_none(), "not read at load");
        let want = marks_of(&f);
        assert_eq!(sk.mark_sessions, want.sessions());
        let d = tempfile::tempdir().unwrap();
        sk.path = d.path().join("positions.bin");
        // Gone, or another file at its place: the run is told, not given
        // other marks.
        assert!(LeftMarks::marks(&sk).is_none());
        assert!(
            sk.reread_failed().unwrap().contains("cannot be read again"),
            "{:?}",
            sk.reread_failed()
        );
        // Entries moved (another layout of blocks), or the same layout
        // with other identities: neither is taken for the file loaded.
        let mut moved = f.clone();
        moved.files.pop_first();
        let mut other = f.clone();
        for st in other.files.values_mut() {
            st.head_hash ^= 1;
        }
        for (bytes, ok) in [(moved.encode(), false), (other.encode(), false), (enc.clone(), true)] {
            sk.marks = std::sync::OnceLock::new();
            std::fs::write(&sk.path, &bytes).unwrap();
            match LeftMarks::marks(&sk) {
                Some(m) => assert!(ok && *m == want),
                None if bytes.len() == enc.len() => {
                    assert!(!ok && sk.reread_failed() == Some("changed since it was loaded"))
                }
                None => assert!(!ok, "{:?}", sk.reread_failed()),
            }
        }
        // So is an entry read again (a copy's), by its key or its place.
        let last = f.files.last_key_value().unwrap().0;
        for (bytes, ok) in [(other.encode(), false), (enc.clone(), true)] {
            sk.reread = std::sync::OnceLock::new();
            std::fs::write(&sk.path, &bytes).unwrap();
            assert_eq!(sk.fetch_key(last).is_some(), ok);
            let key_at = sk.entry_at(sk.heads.len() - 1).map(|(k, _)| k);
            assert_eq!(key_at.as_ref() == Some(last), ok);
            assert_eq!(sk.reread_failed().is_none(), ok, "{:?}", sk.reread_failed());
        }
        std::fs::remove_file(&sk.path).unwrap();
        assert_eq!(sk.fetch_key(last), None);
        assert!(sk.reread_failed().unwrap().contains("cannot be read again"));
    }

    /// Where the blocks of a `positions.bin` lie (a file this build wrote).
    fn spans_of(b: &[u8]) -> Vec<(usize, usize)> {
        let mut c = Cursor { b, at: HEADER_LEN };
        let mut spans = Vec::new();
        while !c.is_empty() {
            let at = c.at;
            if next_block(&mut c).is_err() {
                break;
            }
            spans.push((at, c.at - at));
        }
        spans
    }
    use crate::agents::pi::records::{PiState, StoredModel};

    fn pi_state(i: u64) -> FileState {
        let mut st = FileState {
            pack: "pi".into(),
            dev: 65024,
            ino: 10_027_518 + i,
            offset: 2538 + i,
            size: 2538 + i,
            mtime_ns: 1_796_381_680_302_945_907 + i as i64,
            head_len: 1024,
            head_hash: 0x9526_5842_7977_5929 ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            tail_len: 64,
            tail_hash: 0x8425_0277_1086_4758 ^ i.wrapping_mul(0xc2b2_ae3d_27d4_eb4f),
            prefix: Some(0x9223_4558_9143_8447 ^ i.wrapping_mul(0x1656_67b1_9e37_79f9)),
            chain: 8_387_229_063_930_279_026,
            first_line: 0x5841_2823_3402_3017 ^ i.wrapping_mul(0x27d4_eb2f_1656_67c5),
            session_type: "main".into(),
            lines: 5,
            ..FileState::default()
        };
        st.pi.session = Some(0x5592_3077_6882_2156 ^ i.wrapping_mul(0x9e37_79b9));
        st.pi.last_model = Some(StoredModel {
            family: "anthropic".into(),
            name: "claude-sonnet-4-5".into(),
            price: Some("claude-sonnet-4-5-20250929".into()),
        });
        st.pi.high_ts = Some(format!("2026-01-16T04:19:{:02}.766Z", i % 60));
        st.pi.high_ids = vec![0x1321_2071_7208_8312 ^ i.wrapping_mul(0x85eb_ca6b)];
        st
    }

    fn sample(n: u64) -> PositionsFile {
        let files = (0..n)
            .map(|i| {
                let key = format!(
                    "/home/dev/.pi/agent/sessions/--home-dev-proj{}--/2026-01-16T04-07-{:02}-137Z_\
                     {:08x}-e1fb-4f0e-83a1-{:012x}.jsonl",
                    i % 7,
                    i % 60,
                    i.wrapping_mul(0x9e37_79b9) as u32,
                    i.wrapping_mul(0x1656_67b1_9e37) & 0xffff_ffff_ffff
                );
                (key, pi_state(i))
            })
            .collect();
        PositionsFile { version: crate::state::STATE_VERSION, generation: 3, files }
    }

    #[test]
    fn a_file_of_many_windows_is_the_same_bytes_however_many_threads_encode_it() {
        // One thread: windows of 4,096 entries, so 9,000 entries make two
        // whole windows and a part, ending in a part of a block.
        let f = sample(9_000);
        let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
        let one = pool(1).install(|| f.encode());
        let many = pool(4).install(|| f.encode());
        assert_eq!(one, many);
        assert_eq!(PositionsFile::decode(&one).unwrap(), f);
        // Written as it is made, the same bytes, and where each block lies.
        let mut out = Vec::new();
        let w = pool(2).install(|| write_file(f.version, f.generation, &f.files, &mut out));
        let w = w.unwrap();
        assert_eq!(out, one);
        assert_eq!((w.len, &w.spans), (one.len() as u64, &spans_of(&one)));
        let blocks = PositionsFile::decode(&one).unwrap().files.into_iter().collect::<Vec<_>>();
        let keys: Vec<BlockKeys> = (blocks.chunks(BLOCK).zip(&w.spans))
            .map(|(chunk, &(at, len))| BlockKeys::of(chunk, &one[at..at + len]))
            .collect();
        assert_eq!(w.bounds, keys);
    }

    #[test]
    fn a_block_none_of_whose_keys_changed_is_copied_without_being_decoded() {
        let f = sample(3_000);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("positions.bin");
        let good = f.encode();
        std::fs::write(&path, &good).unwrap();
        // Every entry is left out (a later batch of a run: the files of
        // the batches before are found as they were left).
        let mut file = std::fs::File::open(&path).unwrap();
        let (_, mut sk) =
            PositionsFile::read_leaving_out(&mut file, Some(&|_, _| Some(0))).unwrap();
        sk.path = path.clone();
        let spans = sk.spans.clone();
        assert_eq!(spans, spans_of(&good));
        // Then block 2 is made undecodable, its checksum still right: only
        // a copy that never decodes it can go through.
        let mut bytes = good.clone();
        let (at, len) = spans[2];
        let packed = at + BLOCK_HEADER_LEN..at + len;
        bytes[packed.clone()].fill(0xab);
        let sum = xxhash_rust::xxh3::xxh3_64(&bytes[packed]);
        bytes[at + 12..at + 20].copy_from_slice(&sum.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        // New entries after every old one: each old block is copied.
        let new: BTreeMap<String, FileState> = [("/zz/new.jsonl".to_string(), pi_state(9))].into();
        let none = Default::default();
        let mut out = std::io::Cursor::new(Vec::new());
        let w = sk.merge_into(4, &new, &none, &mut out).unwrap().unwrap();
        let out = out.into_inner();
        let end = spans[5].0 + spans[5].1;
        assert_eq!(&out[HEADER_LEN..end], &bytes[HEADER_LEN..end]);
        assert_eq!(w.spans.len(), 7);
        assert_eq!(w.bounds[..6], sk.bounds[..]);
        assert_eq!((w.bounds[6].first.as_str(), w.bounds[6].entries), ("/zz/new.jsonl", 1));
        let count = u64::from_le_bytes(out[HEADER_LEN - 8..HEADER_LEN].try_into().unwrap());
        assert_eq!(count, 3_001);
        let keys: Vec<&String> = f.files.keys().collect();
        // A change inside block 2's keys makes it be decoded, and fail.
        let mut inside = new.clone();
        inside.insert(format!("{}x", keys[2 * BLOCK + 1]), pi_state(8));
        let got = sk.merge_into(4, &inside, &none, std::io::Cursor::new(Vec::new())).unwrap();
        assert!(got.unwrap_err().contains("does not decompress"));
        // So does a removal there.
        let removed = [keys[2 * BLOCK + 3].clone()].into();
        let got = sk.merge_into(4, &new, &removed, std::io::Cursor::new(Vec::new())).unwrap();
        assert!(got.unwrap_err().contains("does not decompress"));
        // A header the checksum does not cover is checked against what was
        // loaded: a changed entry count is damage, never copied.
        let mut bytes = good.clone();
        bytes[at] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let got = sk.merge_into(4, &new, &none, std::io::Cursor::new(Vec::new())).unwrap();
        assert_eq!(got.unwrap_err(), "is damaged (a block's header changed)");
    }

    #[test]
    fn folds_of_a_few_changes_among_copied_blocks_keep_the_file_packed() {
        let mut f = sample(3_000);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("positions.bin");
        std::fs::write(&path, f.encode()).unwrap();
        let mut rng = crate::hash::SplitMix64(7);
        for round in 0..30u64 {
            let mut file = std::fs::File::open(&path).unwrap();
            let (_, mut sk) =
                PositionsFile::read_leaving_out(&mut file, Some(&|_, _| Some(0))).unwrap();
            sk.path = path.clone();
            // New keys between two blocks and inside one, one removed.
            let keys: Vec<String> = f.files.keys().cloned().collect();
            let mut new = BTreeMap::new();
            for _ in 0..2 {
                let b = &sk.bounds[rng.below(sk.bounds.len() as u64 - 1) as usize];
                new.insert(format!("{}~{round}", b.last), pi_state(round));
            }
            let k = &keys[rng.below(keys.len() as u64) as usize];
            new.insert(format!("{k}.{round}"), pi_state(round));
            let gone = keys[rng.below(keys.len() as u64) as usize].clone();
            let removed: std::collections::BTreeSet<String> = [gone.clone()].into();
            let mut out = std::io::Cursor::new(Vec::new());
            let w = sk.merge_into(5, &new, &removed, &mut out).unwrap().unwrap();
            let out = out.into_inner();
            f.files.remove(&gone);
            f.files.extend(new);
            let got = PositionsFile::decode(&out).unwrap();
            assert_eq!(got.files, f.files, "round {round}");
            assert_eq!(w.spans, spans_of(&out));
            std::fs::write(&path, &out).unwrap();
            // No block is left small but the last: copying stops at the
            // first block a change falls in.
            let blocks = w.bounds.iter().map(|b| b.entries).collect::<Vec<_>>();
            let small = blocks[..blocks.len() - 1].iter().filter(|&&n| n < BLOCK).count();
            assert_eq!(small, 0, "round {round}: {blocks:?}");
        }
    }

    #[test]
    fn a_merge_is_written_block_by_block_reading_one_block_at_a_time() {
        let f = sample(3_000);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("positions.bin");
        std::fs::write(&path, f.encode()).unwrap();
        // Every other entry is left out when loading.
        let keys: Vec<&String> = f.files.keys().collect();
        let leave = |k: &str, _: &FileState| {
            let i = keys.binary_search_by(|x| x.as_str().cmp(k)).unwrap();
            (i % 2 == 0).then_some(i as u32)
        };
        let mut file = std::fs::File::open(&path).unwrap();
        let (kept, mut sk) = PositionsFile::read_leaving_out(&mut file, Some(&leave)).unwrap();
        sk.path = path.clone();
        // One loaded entry changes, one left out goes, two are new (before
        // and after every other key).
        let mut files = kept.files.clone();
        let changed = keys[1].clone();
        files.get_mut(&changed).unwrap().offset += 1;
        let removed: std::collections::BTreeSet<String> = [keys[4].clone()].into();
        files.insert("/a/first.jsonl".into(), pi_state(1));
        files.insert("/zz/last.jsonl".into(), pi_state(2));
        let mut out = std::io::Cursor::new(Vec::new());
        let w = sk.merge_into(4, &files, &removed, &mut out).unwrap().unwrap();
        let out = out.into_inner();
        assert_eq!((w.len, &w.spans), (out.len() as u64, &spans_of(&out)));
        let keys_of = |b: &[u8], (at, len): (usize, usize)| {
            let raw = next_block(&mut Cursor::new(&b[at..at + len])).unwrap();
            let block = decode_block(&raw).unwrap();
            BlockKeys::of(&block, &b[at..at + len])
        };
        let bounds: Vec<_> = w.spans.iter().map(|&s| keys_of(&out, s)).collect();
        assert_eq!(w.bounds, bounds);
        let mut want = f.files.clone();
        want.remove(keys[4].as_str());
        want.extend(files.clone());
        let got = PositionsFile::decode(&out).unwrap();
        assert_eq!((got.generation, got.files.len()), (4, 3_001));
        assert_eq!(got.files, want);
        // A block that no longer reads back says so (the write went well).
        let mut bytes = std::fs::read(&path).unwrap();
        let (at, len) = sk.spans[2];
        bytes[at + len - 1] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let got = sk.merge_into(5, &files, &removed, std::io::Cursor::new(Vec::new())).unwrap();
        assert!(got.unwrap_err().contains("damaged"), "a damaged block is named");
    }

    /// Gives at most 7 bytes a read.
    struct Trickle<'a>(&'a [u8]);

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(7);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_file_of_many_windows_reads_back_the_same_a_few_bytes_at_a_time() {
        // One thread reads windows of 8 blocks (4,096 entries): 9,000
        // entries are two whole windows and a part.
        let f = sample(9_000);
        let bytes = f.encode();
        let keys: Vec<&String> = f.files.keys().collect();
        // Every third entry is left out, for the found file of its number.
        let leave = |k: &str, _: &FileState| {
            let i = keys.binary_search_by(|x| x.as_str().cmp(k)).unwrap();
            (i % 3 == 0).then_some(i as u32 * 10)
        };
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let (all, sk) = pool
                .install(|| PositionsFile::read_leaving_out(&mut Trickle(&bytes), None))
                .unwrap();
            assert_eq!(all, f);
            assert_eq!(sk.spans, spans_of(&bytes));
            let (kept, mut sk) = pool
                .install(|| PositionsFile::read_leaving_out(&mut Trickle(&bytes), Some(&leave)))
                .unwrap();
            let want: BTreeMap<String, FileState> = (f.files.iter().enumerate())
                .filter(|(i, _)| i % 3 != 0)
                .map(|(_, (k, v))| (k.clone(), v.clone()))
                .collect();
            assert_eq!(kept.files, want);
            let heads: Vec<(u32, u32)> = sk.heads.iter().map(|(i, h)| (*i, h.block)).collect();
            let want: Vec<(u32, u32)> =
                (0..9_000).step_by(3).map(|i| (i as u32 * 10, (i / BLOCK) as u32)).collect();
            assert_eq!(heads, want);
            let mut marks: StoredMarks = (f.files.values().step_by(3))
                .map(|st| StoredMark {
                    session: st.pi.session.unwrap(),
                    high_ts: st.pi.high_ts.as_deref().map(Box::from),
                    high_ids: st.pi.high_ids.clone().into(),
                })
                .collect();
            marks.sort();
            let left = left_marks(&mut sk, &bytes);
            assert_eq!(left.len(), 3_000);
            assert!(left.iter().eq(marks.iter()));
            assert_eq!(sk.mark_sessions, marks.sessions());
            assert_eq!(sk.spans, spans_of(&bytes));
        }
        // Cut short anywhere, it is never taken for a whole file.
        for cut in [bytes.len() - 1, bytes.len() / 2, HEADER_LEN + BLOCK_HEADER_LEN + 3, 30] {
            let got = PositionsFile::read_leaving_out(&mut Trickle(&bytes[..cut]), None);
            assert!(got.unwrap_err().starts_with("is truncated"), "{cut}");
        }
        let got = PositionsFile::read_leaving_out(&mut Trickle(&bytes[..5]), None);
        assert_eq!(got.unwrap_err(), "is not a telemetron positions file");
    }

    #[test]
    fn a_batch_keeps_its_file_states_as_one_base64_string_of_the_binary_form() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Batch {
            #[serde(with = "in_pending")]
            files_after: BTreeMap<String, FileState>,
        }
        use base64::Engine;
        let b = Batch { files_after: sample(1_500).files };
        let json = serde_json::to_string(&b).unwrap();
        let bin = encode_file(crate::state::STATE_VERSION, 0, &b.files_after);
        let b64 = base64::engine::general_purpose::STANDARD.encode(bin);
        assert_eq!(json, format!("{{\"files_after\":\"{b64}\"}}"));
        assert_eq!(serde_json::from_str::<Batch>(&json).unwrap(), b);
    }

    #[test]
    fn positions_round_trip_in_about_135_bytes_a_file() {
        let f = sample(5000);
        let bytes = f.encode();
        assert_eq!(PositionsFile::decode(&bytes).unwrap(), f);
        let per_file = bytes.len() / 5000;
        assert!(per_file <= 200, "{per_file} bytes a file");
        // Every kind of context and the optional fields survive.
        let mut g = sample(3);
        let st = g.files.values_mut().next().unwrap();
        st.prefix = None;
        st.missing_since_unix_nano = Some(7);
        st.mtime_ns = -5;
        st.codex.totals = [1, 2, 3, 4];
        st.claude.sessions = vec![9];
        st.gemini.header_seen = true;
        st.hermes.cost_picos = 11;
        st.usage.records = 3;
        g.files.insert("é/ü".into(), FileState::default());
        g.files.insert("é/üx".into(), FileState::default());
        assert_eq!(PositionsFile::decode(&g.encode()).unwrap(), g);
        assert_eq!(
            PositionsFile::decode(&PositionsFile::default().encode()).unwrap().files.len(),
            0
        );
    }

    #[test]
    fn the_pi_mark_is_kept_once_in_binary_and_read_from_json_in_older_entries() {
        let f = sample(2);
        let enc = f.encode();
        // The one block's compressed bytes follow the file's header and
        // the block's (20 bytes).
        let raw = zstd::stream::decode_all(&enc[HEADER_LEN + 20..]).unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("high_ts"), "the mark is written once");
        assert_eq!(PositionsFile::decode(&enc).unwrap(), f);
        let mark = |st: &FileState| StoredMark {
            session: st.pi.session.unwrap(),
            high_ts: st.pi.high_ts.as_deref().map(Box::from),
            high_ids: st.pi.high_ids.clone().into_boxed_slice(),
        };
        let every: &Leave = &|_, _| Some(0);
        let (_, mut sk) = PositionsFile::decode_leaving_out(&enc, Some(every)).unwrap();
        let mut want: StoredMarks = f.files.values().map(mark).collect();
        want.sort();
        let left = left_marks(&mut sk, &enc);
        assert_eq!(left.iter().collect::<Vec<_>>(), want.iter().collect::<Vec<_>>());
        // An entry as an earlier build wrote it: no mark flags, the whole
        // pi context in its JSON part.
        let (key, st) = f.files.iter().next().unwrap();
        let mut raw = Vec::new();
        varint(0, &mut raw);
        bytes(key.as_bytes(), &mut raw);
        let lens = [u64::from(st.head_len), u64::from(st.tail_len)];
        for x in [st.dev, st.ino, st.offset, st.size, lens[0], lens[1], st.lines] {
            varint(x, &mut raw);
        }
        varint(((st.mtime_ns << 1) ^ (st.mtime_ns >> 63)) as u64, &mut raw);
        for h in [st.head_hash, st.tail_hash, st.chain, st.first_line] {
            raw.extend_from_slice(&h.to_le_bytes());
        }
        let flags_at = raw.len();
        raw.push(1);
        raw.extend_from_slice(&st.prefix.unwrap().to_le_bytes());
        let json = serde_json::json!({"k": st.pack, "t": st.session_type, "pi": *st.pi});
        bytes(&serde_json::to_vec(&json).unwrap(), &mut raw);
        let mut old = Vec::new();
        header(crate::state::STATE_VERSION, 3, 1, &mut old);
        pack_block(1, &raw, &mut old);
        assert_eq!(PositionsFile::decode(&old).unwrap().files.get(key), Some(st));
        let (_, mut sk) = PositionsFile::decode_leaving_out(&old, Some(every)).unwrap();
        let want: StoredMarks = [mark(st)].into_iter().collect();
        assert_eq!(left_marks(&mut sk, &old), want);
        // A form this build does not know is refused, not misread.
        for bad in [1 | 16, 1 | MARK | NO_MARK] {
            let mut raw = raw.clone();
            raw[flags_at] = bad;
            let mut b = old[..HEADER_LEN].to_vec();
            pack_block(1, &raw, &mut b);
            assert!(PositionsFile::decode(&b).is_err(), "flags {bad:#x}");
        }
    }

    #[test]
    fn marks_of_every_shape_round_trip() {
        let base = pi_state(1);
        let with = |f: fn(&mut PiState)| {
            let mut st = base.clone();
            f(&mut st.pi);
            st
        };
        let states = [
            // Only a session: the JSON part has no pi context at all.
            with(|pi| *pi = PiState { session: Some(5), ..PiState::default() }),
            // A session hash of 0 is no session: kept as it is, in JSON.
            with(|pi| pi.session = Some(0)),
            // No session, but a timestamp and ids: kept in JSON.
            with(|pi| pi.session = None),
            with(|pi| pi.high_ts = Some(String::new())),
            with(|pi| pi.high_ts = None),
            with(|pi| pi.high_ids.clear()),
        ];
        let f = PositionsFile {
            version: crate::state::STATE_VERSION,
            generation: 1,
            files: states.iter().enumerate().map(|(i, st)| (format!("k{i}"), st.clone())).collect(),
        };
        let enc = f.encode();
        assert_eq!(PositionsFile::decode(&enc).unwrap(), f);
        let every: &Leave = &|_, _| Some(0);
        let (_, mut sk) = PositionsFile::decode_leaving_out(&enc, Some(every)).unwrap();
        let left = left_marks(&mut sk, &enc);
        let got: Vec<(u64, Option<&str>)> = left.iter().map(|m| (m.session, m.high_ts)).collect();
        // Only the states with a session (not 0) have a mark; they come
        // sorted by session, then timestamp.
        let b = base.pi.session.unwrap();
        let mut want = [(5, None), (b, Some("")), (b, None), (b, base.pi.high_ts.as_deref())];
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn damage_is_reported_never_misread() {
        let bytes = sample(1200).encode();
        assert_eq!(
            PositionsFile::decode(b"{\"version\":1}").unwrap_err(),
            "is not a telemetron positions file"
        );
        for cut in [bytes.len() - 1, bytes.len() / 2, 30] {
            assert!(PositionsFile::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for at in [40, bytes.len() / 3, bytes.len() - 3] {
            let mut b = bytes.clone();
            b[at] ^= 0x40;
            assert!(PositionsFile::decode(&b).is_err(), "flipped at {at}");
        }
        // The entry count (the header's last 8 bytes) is checked against
        // the blocks, never trusted to size anything.
        for bit in [0, 20, 32, 56, 63] {
            let mut b = bytes.clone();
            b[HEADER_LEN - 8 + bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                PositionsFile::decode(&b).unwrap_err(),
                "is truncated (fewer entries than its header says)",
                "bit {bit}"
            );
        }
    }

    #[test]
    fn log_frames_replay_in_order_and_a_torn_tail_is_told_from_damage() {
        let f = sample(4);
        let mut log = Vec::new();
        let first: Vec<_> = f.files.iter().take(2).map(|(k, v)| (k.as_str(), v)).collect();
        log.extend(LogFrame::encode(3, 8, first.into_iter(), &[]));
        let gone = vec![f.files.keys().next().unwrap().clone()];
        log.extend(LogFrame::encode(3, 9, std::iter::empty(), &gone));
        let (frames, end) = LogFrame::decode_all(&log);
        assert!(end.is_none());
        assert_eq!(frames.len(), 2);
        assert_eq!((frames[0].seq, frames[0].files.len()), (8, 2));
        assert_eq!(frames[1].removed, gone);
        let mut files = BTreeMap::new();
        for fr in frames {
            fr.apply_to(&mut files);
        }
        assert_eq!(files.len(), 1);
        // A frame of many entries is several blocks.
        let big = sample(1200);
        let all: Vec<_> = big.files.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let (frames, end) = LogFrame::decode_all(&LogFrame::encode(1, 2, all.into_iter(), &[]));
        assert!(end.is_none());
        assert_eq!(frames[0].files, big.files);
        // Cut short: torn. Flipped in the middle: damaged.
        let (frames, end) = LogFrame::decode_all(&log[..log.len() - 2]);
        assert_eq!(frames.len(), 1);
        assert!(end.unwrap().torn);
        let mut bad = log.clone();
        bad[50] ^= 1;
        let (frames, end) = LogFrame::decode_all(&bad);
        assert_eq!(frames.len(), 0);
        assert!(!end.unwrap().torn);
    }
}
