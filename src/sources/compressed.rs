//! Compressed sources, read whole: a zstd file (Codex's older rollouts,
//! `rollout-*.jsonl.zst`) is decompressed into an unlinked temporary file,
//! so that it is read and recognised exactly like a plain file holding the
//! same bytes ([`super::identity`]): the archive of a transcript already
//! counted adds nothing, and only what it holds beyond what was counted
//! counts.
//!
//! Decoding is libzstd's (the `zstd` crate, compiled in): the pure-Rust
//! decoder measured at about a third of `zstd -dc`'s speed here.
//!
//! An archive does not grow, so its state records the compressed file's
//! stat: an unchanged archive is never decompressed again. The temporary
//! file lives in the system's temporary directory (`TMPDIR`), is created
//! with mode 0600 and removed from the directory at once, and is gone when
//! the run ends.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::Path;

/// The most a compressed source may expand to (a larger one is reported
/// and skipped: it is not a transcript, or it is a decompression bomb).
pub const MAX_DECOMPRESSED: u64 = 4 << 30;

/// True for a file name whose content is compressed (`*.zst`).
pub fn is_compressed(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "zst")
}

/// Decompresses a zstd stream into `out`: every frame, one after the
/// other, as `zstd -d` reads them; skippable frames are skipped. Returns
/// the decompressed length. A damaged stream is an `InvalidData` error
/// saying so; an error writing `out` is returned as it is.
pub fn decompress<R: Read, W: Write>(input: R, out: &mut W, max: u64) -> io::Result<u64> {
    let mut decoder = decoder(input)?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(invalid(e)),
        };
        total += n as u64;
        if total > max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("decompresses to more than {} bytes", max),
            ));
        }
        out.write_all(&buf[..n])?;
    }
}

/// A compressed stream's content, decoded as it is read (every frame, one
/// after the other; a whole file is read through [`open_whole_file`]).
pub fn decoder<R: Read>(input: R) -> io::Result<impl Read> {
    zstd::stream::read::Decoder::new(input)
}

/// The whole content of a compressed file, in an unlinked temporary file
/// positioned at its start.
pub fn open_whole(path: &Path) -> io::Result<File> {
    open_whole_file(File::open(path)?)
}

/// [`open_whole`] of a file already open.
pub fn open_whole_file(input: File) -> io::Result<File> {
    let mut out = tempfile::tempfile()?;
    {
        let mut w = io::BufWriter::with_capacity(256 * 1024, &mut out);
        decompress(input, &mut w, MAX_DECOMPRESSED)?;
        w.flush()?;
    }
    out.rewind()?;
    Ok(out)
}

/// A zstd error as an I/O error that says what it is.
fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("not a valid zstd file ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zstd(bytes: &[u8]) -> Vec<u8> {
        zstd::encode_all(bytes, 3).unwrap()
    }

    fn unzstd(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decompress(bytes, &mut out, MAX_DECOMPRESSED)?;
        Ok(out)
    }

    #[test]
    fn one_frame_round_trips() {
        let text: Vec<u8> =
            (0..5000).flat_map(|i| format!("{{\"n\":{i}}}\n").into_bytes()).collect();
        let z = zstd(&text);
        assert!(z.len() < text.len());
        assert_eq!(unzstd(&z).unwrap(), text);
    }

    #[test]
    fn frames_one_after_the_other_are_one_stream_and_skippable_frames_are_skipped() {
        let mut z = zstd(b"a\n");
        // A skippable frame: magic 0x184D2A50..5F, little-endian length.
        z.extend_from_slice(&0x184D_2A53u32.to_le_bytes());
        z.extend_from_slice(&3u32.to_le_bytes());
        z.extend_from_slice(b"xyz");
        z.extend(zstd::encode_all(&b"b\n"[..], 0).unwrap());
        assert_eq!(unzstd(&z).unwrap(), b"a\nb\n");
    }

    #[test]
    fn a_zstd_cli_file_decodes() {
        // Written by the `zstd` CLI 1.5 at level 19.
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/demo-home/.codex/archived_sessions")
            .read_dir()
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| is_compressed(p))
            .expect("the demo home holds a compressed rollout");
        let mut out = Vec::new();
        let n = decompress(File::open(&fixture).unwrap(), &mut out, MAX_DECOMPRESSED).unwrap();
        assert_eq!(n as usize, out.len());
        assert!(out.starts_with(b"{\"timestamp\""), "{:?}", String::from_utf8_lossy(&out[..40]));
        assert!(out.ends_with(b"\n"));
    }

    #[test]
    fn damage_and_bombs_are_errors_not_panics() {
        let z = zstd(b"hello\n");
        for cut in [1, 4, 8, z.len() - 1] {
            let _ = unzstd(&z[..cut]); // an error or a shorter text, never a panic
        }
        let e = unzstd(b"not zstd at all").unwrap_err();
        assert!(e.to_string().contains("not a valid zstd file"), "{e}");
        let big = vec![b'x'; 10_000];
        let z = zstd(&big);
        let mut out = Vec::new();
        let e = decompress(&z[..], &mut out, 1000).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
