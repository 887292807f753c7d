//! Content identity: a file is what it holds, not its path or inode.
//!
//! Every file state records, beside its offset, the hash of the bytes up to
//! that offset ([`Prefix`]). A file whose bytes up to a known state's
//! offset hash to that state's prefix holds exactly what that state
//! counted, wherever it now lives and whatever its inode: it continues
//! from that offset. So a file replaced by an identical copy, restored
//! from a backup, moved to another directory or to an archive, or
//! rewritten atomically with new lines after the old ones, counts only
//! what it adds; an identical copy in a second place adds nothing.
//!
//! The prefix hash must be extendable without reading history again: the
//! next run reads only the appended bytes. It is a chain of XXH3 hashes
//! over fixed blocks of [`BLOCK`] bytes, each block's hash seeded with the
//! chain so far, and a last hash over the partial block at the end. A
//! state keeps the chain at the last block boundary before its offset and
//! the prefix hash at the offset; a run that resumes the file re-reads the
//! partial block (less than [`BLOCK`] bytes, which also proves the bytes
//! before the offset are still there) and hashes on from there.
//!
//! The hash is not cryptographic: it tells copies apart from other files
//! that a user or an agent wrote, not from files crafted to collide
//! (nothing is gained by such a file but a wrong count on one's own
//! machine).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Block size of the chained prefix hash.
pub const BLOCK: usize = 4096;

/// The seed of an empty chain.
const SEED: u64 = 0x7465_6c65_6d65_7472; // "telemetr"

/// The identity of a file's bytes up to an offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    /// Chain over the full blocks before `boundary(offset)`.
    pub chain: u64,
    /// Hash of the bytes `[0, offset)`.
    pub hash: u64,
}

/// The last block boundary at or before `offset`.
pub fn boundary(offset: u64) -> u64 {
    offset - offset % BLOCK as u64
}

/// Hashes a stream of bytes from offset 0 (or from a known chain at a block
/// boundary) in blocks; [`Hasher::prefix`] gives the identity of what was
/// fed so far.
#[derive(Clone, Debug)]
pub struct Hasher {
    chain: u64,
    /// Bytes of the current, partial block.
    partial: Vec<u8>,
}

impl Default for Hasher {
    fn default() -> Hasher {
        Hasher { chain: SEED, partial: Vec::new() }
    }
}

impl Hasher {
    /// A hasher positioned at a block boundary whose chain is `chain`.
    pub fn at_boundary(chain: u64) -> Hasher {
        Hasher { chain, partial: Vec::new() }
    }

    /// Feeds the next bytes.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        if !self.partial.is_empty() {
            let take = (BLOCK - self.partial.len()).min(bytes.len());
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.partial.len() < BLOCK {
                return;
            }
            self.chain = xxh3_64_with_seed(&self.partial, self.chain);
            self.partial.clear();
        }
        // Whole blocks straight from the input, without copying.
        let mut blocks = bytes.chunks_exact(BLOCK);
        for b in &mut blocks {
            self.chain = xxh3_64_with_seed(b, self.chain);
        }
        self.partial.extend_from_slice(blocks.remainder());
    }

    /// The identity of everything fed so far.
    pub fn prefix(&self) -> Prefix {
        Prefix { chain: self.chain, hash: xxh3_64_with_seed(&self.partial, self.chain) }
    }
}

/// The identity of `file`'s bytes `[0, len)`, read in full (a file found
/// in a new place, checked once against a known state). `None` when the
/// file is shorter than `len`.
pub fn prefix_of(file: &File, len: u64) -> io::Result<Option<Prefix>> {
    let mut h = Hasher::default();
    let mut buf = vec![0u8; 256 * 1024];
    let mut at = 0u64;
    while at < len {
        let want = buf.len().min((len - at) as usize);
        let n = file.read_at(&mut buf[..want], at)?;
        if n == 0 {
            return Ok(None);
        }
        h.feed(&buf[..n]);
        at += n as u64;
    }
    Ok(Some(h.prefix()))
}

/// Re-reads the partial block before `offset` and checks it against a
/// state's identity; on success returns the hasher positioned at `offset`,
/// ready to hash the bytes read after it.
pub fn resume(file: &File, offset: u64, known: Prefix) -> io::Result<Option<Hasher>> {
    let from = boundary(offset);
    let mut buf = vec![0u8; (offset - from) as usize];
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], from + n as u64)? {
            0 => return Ok(None),
            k => n += k,
        }
    }
    let mut h = Hasher::at_boundary(known.chain);
    h.feed(&buf);
    Ok((h.prefix() == known).then_some(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn feeding_in_pieces_gives_the_same_identity() {
        let d = data(3 * BLOCK + 123);
        let mut whole = Hasher::default();
        whole.feed(&d);
        for piece in [1, 7, 100, BLOCK - 1, BLOCK, BLOCK + 1, 10_000] {
            let mut h = Hasher::default();
            for c in d.chunks(piece) {
                h.feed(c);
            }
            assert_eq!(h.prefix(), whole.prefix(), "pieces of {piece}");
        }
    }

    #[test]
    fn different_bytes_or_lengths_differ() {
        let d = data(2 * BLOCK + 5);
        let p = |b: &[u8]| {
            let mut h = Hasher::default();
            h.feed(b);
            h.prefix().hash
        };
        let mut other = d.clone();
        other[10] ^= 1;
        assert_ne!(p(&d), p(&other));
        assert_ne!(p(&d), p(&d[..d.len() - 1]));
        assert_ne!(p(&d[..BLOCK]), p(&d[..BLOCK + 1]));
        assert_ne!(p(b""), p(b"\0"));
    }

    #[test]
    fn a_file_resumes_from_its_partial_block() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        let bytes = data(2 * BLOCK + 700);
        std::fs::write(&p, &bytes).unwrap();
        let f = File::open(&p).unwrap();
        for cut in [0, 1, BLOCK as u64, BLOCK as u64 + 9, 2 * BLOCK as u64 + 700] {
            let known = prefix_of(&f, cut).unwrap().unwrap();
            let mut h = resume(&f, cut, known).unwrap().expect("same bytes");
            h.feed(&bytes[cut as usize..]);
            assert_eq!(h.prefix(), prefix_of(&f, bytes.len() as u64).unwrap().unwrap());
        }
        let known = prefix_of(&f, 100).unwrap().unwrap();
        let mut changed = bytes.clone();
        changed[50] ^= 1;
        std::fs::write(&p, &changed).unwrap();
        let f = File::open(&p).unwrap();
        assert!(resume(&f, 100, known).unwrap().is_none(), "the partial block changed");
        assert!(prefix_of(&f, 1 << 20).unwrap().is_none(), "shorter than asked");
    }
}
