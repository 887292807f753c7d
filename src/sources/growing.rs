//! Reading the bytes appended to a file since the last run, one complete
//! line at a time.
//!
//! Only newline-terminated lines are handed out. A trailing fragment is not
//! consumed: the returned end offset stops before it, so the next run reads
//! it again once its newline has arrived. Lines longer than the configured
//! maximum are skipped as they stream past, without ever being held whole
//! in memory.
//!
//! A long line (a tool output of many megabytes) is not held whole either:
//! once it outgrows `squeeze_at` it is *squeezed* as it streams past.
//! Every JSON string in it is cut to its first [`KEEP`] bytes (at a
//! character boundary, never inside an escape), and everything else is
//! kept, so the result is still the same JSON document, with the same
//! keys, ids, numbers and flags; only long text is shortened, and counting
//! never reads text. Memory use is bounded by the read buffer, `squeeze_at`
//! and the squeezed size of the longest line, whatever the lines' lengths.

use std::io::{self, Read};

use crate::sources::identity::Hasher;

/// How a read ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Offset just past the last complete line handed out or skipped; the
    /// next run starts here.
    pub end: u64,
    /// Complete lines handed to the callback.
    pub lines: u64,
    /// Complete lines skipped because they exceeded the maximum length.
    pub oversized: u64,
}

/// Removes one trailing carriage return (CRLF line ends).
fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// How many bytes of each JSON string a squeezed line keeps.
pub const KEEP: usize = 4096;

/// Cuts the JSON strings of a line that streams past in pieces (see the
/// module documentation). Bytes outside strings pass unchanged, so text
/// that is not JSON at all comes out as it went in, but for long runs
/// after an unbalanced quote.
#[derive(Debug, Default)]
struct Squeezer {
    /// The squeezed line so far.
    out: Vec<u8>,
    /// Bytes fed so far (the line's real length).
    raw: usize,
    /// The last byte fed.
    last: u8,
    in_str: bool,
    /// Bytes of the current string kept so far.
    kept: usize,
    /// True once the rest of the current string is being dropped.
    dropping: bool,
    /// Just after a backslash inside a string.
    escape: bool,
    /// Hex digits of a `\u` escape still to come.
    hex_left: u8,
    /// The digits of the last `\u` escape (a high surrogate must not be
    /// parted from the low one after it).
    hex: [u8; 4],
}

impl Squeezer {
    /// The real length of the line, without a CR before its newline.
    fn len(&self) -> usize {
        self.raw - usize::from(self.last == b'\r')
    }

    /// The squeezed line, without a CR before its newline.
    fn line(&self) -> &[u8] {
        if self.last == b'\r' {
            trim_cr(&self.out)
        } else {
            &self.out
        }
    }

    /// True when the last escape was the first half of a surrogate pair.
    fn after_high_surrogate(&self) -> bool {
        self.hex[0].eq_ignore_ascii_case(&b'd')
            && matches!(self.hex[1], b'8'..=b'9' | b'a'..=b'b' | b'A'..=b'B')
    }

    /// Feeds the next bytes of the line (no newline among them).
    fn feed(&mut self, mut bytes: &[u8]) {
        self.raw += bytes.len();
        if let Some(&b) = bytes.last() {
            self.last = b;
        }
        while let Some((&b, rest)) = bytes.split_first() {
            if self.in_str && self.dropping {
                if self.escape {
                    // The escaped byte cannot end the string.
                    self.escape = false;
                    bytes = rest;
                    continue;
                }
                // Skip to the string's end without copying.
                match crate::quotes::string_end(bytes) {
                    Err(escape) => {
                        self.escape = escape;
                        return;
                    }
                    Ok(i) => {
                        self.out.push(b'"');
                        self.in_str = false;
                        bytes = &bytes[i + 1..];
                    }
                }
                continue;
            }
            // Runs of plain bytes are copied whole; the bytes that decide
            // something (quotes, escapes, the cut) go one by one below.
            if !self.in_str && b != b'"' {
                let run = memchr::memchr(b'"', bytes).unwrap_or(bytes.len());
                self.out.extend_from_slice(&bytes[..run]);
                bytes = &bytes[run..];
                continue;
            }
            if self.in_str && !self.escape && self.hex_left == 0 && self.kept < KEEP {
                let run = memchr::memchr2(b'"', b'\\', bytes).unwrap_or(bytes.len());
                let n = run.min(KEEP - self.kept);
                if n > 0 {
                    self.out.extend_from_slice(&bytes[..n]);
                    self.kept += n;
                    bytes = &bytes[n..];
                    continue;
                }
            }
            bytes = rest;
            if !self.in_str {
                self.out.push(b);
                if b == b'"' {
                    (self.in_str, self.kept, self.dropping) = (true, 0, false);
                }
                continue;
            }
            if self.escape {
                self.escape = false;
                self.hex_left = if b == b'u' { 4 } else { 0 };
            } else if self.hex_left > 0 {
                self.hex[4 - usize::from(self.hex_left)] = b;
                self.hex_left -= 1;
            } else if b == b'"' {
                self.in_str = false;
            } else if self.kept >= KEEP
                && b & 0xC0 != 0x80
                && !(b == b'\\' && self.after_high_surrogate())
            {
                // A cut here leaves no escape or character in halves.
                self.dropping = true;
                if b == b'\\' {
                    self.escape = true;
                }
                continue;
            } else if b == b'\\' {
                self.escape = true;
            }
            self.kept += 1;
            self.out.push(b);
        }
    }
}

/// Reads at most `len` bytes from `reader` (positioned at file offset
/// `from`) and hands every complete line to `on_line`. Lines longer than
/// `max_line` bytes are counted in [`ReadOutcome::oversized`] instead.
/// `chunk` is the read size. A line that outgrows `squeeze_at` bytes is
/// squeezed as it streams past (see the module documentation), so the
/// buffer never holds more than `squeeze_at` plus a chunk.
pub fn read_lines<R: Read>(
    reader: &mut R,
    from: u64,
    len: u64,
    chunk: usize,
    max_line: usize,
    squeeze_at: usize,
    on_line: impl FnMut(&[u8]),
) -> io::Result<ReadOutcome> {
    let limits = Limits { chunk, max_line, squeeze_at };
    read_lines_hashed(reader, from, len, &limits, None, on_line)
}

/// How [`read_lines_hashed`] reads: the read size, the longest line
/// accepted, and the length past which a line is squeezed.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Read size.
    pub chunk: usize,
    /// Lines longer than this are skipped as oversized.
    pub max_line: usize,
    /// Lines longer than this are squeezed as they stream past.
    pub squeeze_at: usize,
}

/// [`read_lines`], also feeding `hasher` with exactly the bytes consumed
/// (up to [`ReadOutcome::end`]; a trailing fragment is not hashed), so that
/// a file's content identity moves forward with its offset without a
/// second read (see [`crate::sources::identity`]).
pub fn read_lines_hashed<R: Read>(
    reader: &mut R,
    from: u64,
    len: u64,
    limits: &Limits,
    mut hasher: Option<&mut Hasher>,
    mut on_line: impl FnMut(&[u8]),
) -> io::Result<ReadOutcome> {
    let Limits { chunk, max_line, squeeze_at } = *limits;
    let chunk = chunk.max(1);
    let squeeze_at = squeeze_at.max(1);
    // The hash of a long line let go while it streams past, taken in
    // only once its newline arrives.
    let mut tentative: Option<Hasher> = None;
    // The long line being squeezed, if any.
    let mut squeezer: Option<Squeezer> = None;
    let mut out = ReadOutcome { end: from, ..ReadOutcome::default() };
    // `buf[..filled]` holds unread bytes. The buffer's length never
    // shrinks, so each byte is zeroed once, not once per chunk read; and
    // it is the thread's buffer of the files read before (see [`Spare`]).
    let mut spare = Spare::take();
    let buf = &mut spare.0;
    buf.reserve_exact(chunk.min(len as usize).max(1).saturating_sub(buf.len()));
    let mut filled = 0;
    // File offset of buf[0].
    let mut base = from;
    let mut remaining = len;
    // True while discarding the rest of an oversized line.
    let mut skipping = false;
    while remaining > 0 {
        let want = (chunk as u64).min(remaining) as usize;
        if filled + want > buf.len() {
            if filled + want > buf.capacity() {
                // Grow by doubling, but never past what the longest
                // accepted line needs: a huge line must not double the
                // memory used (`reserve_exact`, as `resize` may double).
                let cap =
                    (buf.capacity() * 2).min(max_line.saturating_add(chunk) + 1).max(filled + want);
                buf.reserve_exact(cap - buf.len());
            }
            // Zero only the bytes about to be used for the first time.
            buf.resize(filled + want, 0);
        }
        let n = read_full(reader, &mut buf[filled..filled + want])?;
        if n == 0 {
            break; // The file shrank while we read it.
        }
        let old = filled;
        filled += n;
        remaining -= n as u64;
        // Only the new bytes can hold a newline we have not seen.
        let mut start = 0;
        // Bytes of `buf` consumed and hashed so far.
        let mut hashed = 0;
        for nl in memchr::memchr_iter(b'\n', &buf[old..filled]).map(|i| i + old) {
            if let (Some(h), Some(mut t)) = (hasher.as_deref_mut(), tentative.take()) {
                // The end of a line let go: its hash is taken in whole.
                t.feed(&buf[..=nl]);
                *h = t;
                hashed = nl + 1;
            }
            if let Some(mut sq) = squeezer.take() {
                // The end of a long line.
                sq.feed(&buf[start..nl]);
                if sq.len() > max_line {
                    out.oversized += 1;
                } else {
                    out.lines += 1;
                    on_line(sq.line());
                }
            } else {
                let line = trim_cr(&buf[start..nl]);
                if skipping || line.len() > max_line {
                    out.oversized += 1;
                } else {
                    out.lines += 1;
                    on_line(line);
                }
            }
            skipping = false;
            start = nl + 1;
            out.end = base + start as u64;
        }
        if let Some(h) = hasher.as_deref_mut() {
            h.feed(&buf[hashed.min(start)..start]);
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        base += start as u64;
        // What is left is the start of a line whose newline has not come.
        if let Some(sq) = squeezer.as_mut() {
            sq.feed(&buf[..filled]);
            if sq.len() > max_line.saturating_add(1) {
                squeezer = None;
                skipping = true;
            }
        } else if !skipping && filled > squeeze_at && filled <= max_line.saturating_add(1) {
            let mut sq = Squeezer::default();
            sq.feed(&buf[..filled]);
            squeezer = Some(sq);
        } else if filled > max_line.saturating_add(1) {
            // One byte of slack: the fragment may end in the `\r` of a
            // CRLF. Too long to be accepted whatever follows: drop it.
            skipping = true;
        } else if !skipping {
            continue;
        }
        // The fragment was squeezed or is being skipped: let it go (its
        // hash waits for its newline).
        if let Some(h) = hasher.as_deref() {
            tentative.get_or_insert_with(|| h.clone()).feed(&buf[..filled]);
        }
        base += filled as u64;
        filled = 0;
    }
    Ok(out)
}

/// The read buffer a thread keeps from one file to the next: a scan reads
/// thousands of files, and a buffer of its own for each (up to 256 KiB,
/// past glibc's first threshold for a mapping of its own) was allocated,
/// zeroed and freed every time: 2% of the CPU of a cold scan of Claude
/// Code's many files. Its bytes past what a read fills are never looked
/// at. A buffer grown past [`Spare::MAX`] for a long line is not kept.
struct Spare(Vec<u8>);

thread_local! {
    static SPARE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Spare {
    /// The largest buffer kept: a read of 256 KiB and a line of up to
    /// three times that.
    const MAX: usize = 1 << 20;

    /// The thread's buffer (an empty one when a read is already using it).
    fn take() -> Spare {
        Spare(SPARE.take())
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        if self.0.capacity() <= Spare::MAX {
            SPARE.set(std::mem::take(&mut self.0));
        }
    }
}

/// Fills `buf` as far as the reader allows (short only at end of file).
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(data: &[u8], chunk: usize, max: usize) -> (Vec<String>, ReadOutcome) {
        squeezed(data, chunk, max, usize::MAX)
    }

    fn squeezed(
        data: &[u8],
        chunk: usize,
        max: usize,
        squeeze: usize,
    ) -> (Vec<String>, ReadOutcome) {
        let mut lines = Vec::new();
        let out = read_lines(&mut &data[..], 0, data.len() as u64, chunk, max, squeeze, |l| {
            lines.push(String::from_utf8_lossy(l).into_owned())
        })
        .unwrap();
        (lines, out)
    }

    #[test]
    fn a_read_after_others_on_the_thread_sees_only_its_own_bytes() {
        // The first read leaves its buffer full of lines and a fragment.
        let first = b"aaaaaaaaaa\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\ncccccccccc".repeat(40);
        let (lines, _) = collect(&first, 64, 1000);
        assert_eq!(lines.len(), 80);
        for (data, chunk) in [(&b"x\ny\nzz"[..], 64), (b"x\ny\nzz", 1), (b"", 8)] {
            let (lines, out) = collect(data, chunk, 1000);
            let expected: Vec<String> =
                if data.is_empty() { vec![] } else { vec!["x".into(), "y".into()] };
            assert_eq!((lines, out.end), (expected, data.len().min(4) as u64), "{chunk}");
        }
        // An oversized line after a long fragment is still skipped whole.
        let (lines, out) = collect(b"0123456789012345678901234\nok\n", 4, 20);
        assert_eq!((lines, out.oversized), (vec!["ok".to_string()], 1));
    }

    #[test]
    fn a_buffer_grown_for_a_long_line_is_not_kept() {
        let long = [vec![b'x'; 3 * Spare::MAX], b"\n".to_vec()].concat();
        let (lines, _) = collect(&long, 1 << 16, 4 * Spare::MAX);
        assert_eq!(lines[0].len(), 3 * Spare::MAX);
        assert!(SPARE.take().capacity() <= Spare::MAX);
        let (lines, _) = collect(b"a\nb\n", 1 << 16, 100);
        assert_eq!(lines, ["a", "b"]);
        let kept = SPARE.take();
        assert!(kept.capacity() >= 4 && kept.capacity() <= Spare::MAX, "{}", kept.capacity());
    }

    #[test]
    fn partial_last_line_is_kept_for_later() {
        let (lines, out) = collect(b"a\nbb\ncc", 4, 100);
        assert_eq!(lines, vec!["a", "bb"]);
        assert_eq!(out.end, 5);
    }

    #[test]
    fn crlf_lines_are_trimmed() {
        let (lines, out) = collect(b"a\r\nb\r\n", 3, 100);
        assert_eq!(lines, vec!["a", "b"]);
        assert_eq!(out.end, 6);
    }

    #[test]
    fn blank_lines_are_lines() {
        let (lines, _) = collect(b"\n\nx\n", 2, 100);
        assert_eq!(lines, vec!["", "", "x"]);
    }

    #[test]
    fn every_chunk_size_gives_the_same_lines() {
        let data = b"first line\nsecond\n\nthird is longer than most\nfrag";
        let (want, want_out) = collect(data, 1 << 20, 1000);
        for chunk in 1..data.len() + 2 {
            let (got, out) = collect(data, chunk, 1000);
            assert_eq!(got, want, "chunk {chunk}");
            assert_eq!(out, want_out, "chunk {chunk}");
        }
    }

    #[test]
    fn oversized_lines_are_skipped_and_counted() {
        let data = b"ok\n0123456789abcdef\nok2\n";
        for chunk in 1..8 {
            let (lines, out) = collect(data, chunk, 8);
            assert_eq!(lines, vec!["ok", "ok2"], "chunk {chunk}");
            assert_eq!(out.oversized, 1);
            assert_eq!(out.end, data.len() as u64);
        }
    }

    #[test]
    fn a_crlf_line_of_exactly_the_maximum_is_accepted() {
        // The `\r` arrives in one chunk and the `\n` in the next.
        let (lines, out) = collect(b"12345678\r\nok\n", 9, 8);
        assert_eq!(lines, vec!["12345678", "ok"]);
        assert_eq!(out.oversized, 0);
    }

    #[test]
    fn an_oversized_fragment_does_not_advance_the_offset() {
        let (lines, out) = collect(b"ok\n0123456789abcdef", 4, 8);
        assert_eq!(lines, vec!["ok"]);
        assert_eq!(out.end, 3);
        assert_eq!(out.oversized, 0);
    }

    #[test]
    fn starts_at_the_given_offset() {
        let data = b"bbb\nc";
        let mut n = 0;
        let out = read_lines(&mut &data[..], 100, 5, 2, 10, 10, |_| n += 1).unwrap();
        assert_eq!(n, 1);
        assert_eq!(out.end, 104);
    }

    /// A JSON line with a string of `n` characters of `c` in it.
    fn long_line(n: usize, c: &str) -> String {
        format!("{{\"id\":\"x1\",\"text\":\"{}\",\"isError\":true}}", c.repeat(n))
    }

    #[test]
    fn a_long_line_is_squeezed_to_the_same_json_with_short_strings() {
        for unit in ["a", "é", "\\n", "\\u00e9", "\\ud83d\\ude00", "\\\"", "日本"] {
            let line = long_line(3 * KEEP, unit);
            let want: serde_json::Value = serde_json::from_str(&line).unwrap();
            let data = format!("{{\"short\":1}}\n{line}\n{{\"after\":2}}\n");
            for chunk in [1, 7, 100, 4096, 1 << 20] {
                let (lines, out) = squeezed(data.as_bytes(), chunk, 1 << 30, 64);
                assert_eq!(out.lines, 3);
                assert_eq!(out.end, data.len() as u64);
                assert_eq!(lines[0], "{\"short\":1}");
                assert_eq!(lines[2], "{\"after\":2}");
                let got: serde_json::Value = serde_json::from_str(&lines[1])
                    .unwrap_or_else(|e| panic!("{unit} chunk {chunk}: {e}: {}", &lines[1]));
                assert_eq!(got["id"], want["id"]);
                assert_eq!(got["isError"], true);
                let text = got["text"].as_str().unwrap();
                let full = want["text"].as_str().unwrap();
                assert!(full.starts_with(text), "{unit}: a prefix is kept");
                if chunk < line.len() {
                    assert!(text.len() >= KEEP / 6 && lines[1].len() <= KEEP + 100, "{unit}");
                } else {
                    // Read whole in one go: no need to squeeze it.
                    assert_eq!(lines[1], line);
                }
            }
        }
    }

    #[test]
    fn squeezing_leaves_short_strings_and_other_text_alone() {
        let line = format!(
            "{{\"a\":[1,2.5,null,{{\"b\":\"q\\\"uote\"}}],\"pad\":\"{}\"}}  not json \"",
            "z".repeat(KEEP)
        );
        let (lines, _) = squeezed(format!("{line}\r\n").as_bytes(), 3, 1 << 20, 16);
        assert_eq!(lines, vec![line]);
    }

    #[test]
    fn a_line_of_hundreds_of_megabytes_is_never_held_whole() {
        // A reader that makes a 300 MB line up as it is read.
        struct Huge(u64);
        impl Read for Huge {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                const HEAD: &[u8] = b"{\"type\":\"message\",\"content\":\"";
                const TAIL: &[u8] = b"\",\"isError\":true}\n";
                let total = 300_000_000u64;
                let mut n = 0;
                while n < buf.len() && self.0 < total {
                    let i = self.0;
                    buf[n] = if i < HEAD.len() as u64 {
                        HEAD[i as usize]
                    } else if i >= total - TAIL.len() as u64 {
                        TAIL[(i - (total - TAIL.len() as u64)) as usize]
                    } else {
                        b"ab\\\"c"[(i % 5) as usize]
                    };
                    n += 1;
                    self.0 += 1;
                }
                Ok(n)
            }
        }
        let mut got = Vec::new();
        let out = read_lines(&mut Huge(0), 0, 300_000_000, 1 << 20, 1 << 30, 1 << 20, |l| {
            got.push(l.to_vec())
        })
        .unwrap();
        assert_eq!((out.lines, out.end), (1, 300_000_000));
        assert!(got[0].len() < 2 * KEEP, "{} bytes handed out", got[0].len());
        let v: serde_json::Value = serde_json::from_slice(&got[0]).unwrap();
        assert_eq!(v["isError"], true);
        // Over the maximum, it is skipped instead.
        let out = read_lines(&mut Huge(0), 0, 300_000_000, 1 << 20, 100 << 20, 1 << 20, |_| {
            panic!("an oversized line was handed out")
        })
        .unwrap();
        assert_eq!((out.lines, out.oversized, out.end), (0, 1, 300_000_000));
    }

    #[test]
    fn the_hash_covers_exactly_the_bytes_consumed() {
        let long = long_line(3 * KEEP, "a");
        let frag = long_line(2 * KEEP, "b");
        for data in [
            format!("ok\n{long}\nshort\n{frag}"),
            format!("{long}\n{long}\nx"),
            "a\nbb\n".to_string(),
        ] {
            for chunk in [1, 5, 64, 4096, 1 << 20] {
                for max in [100, 1 << 20] {
                    let mut h = Hasher::default();
                    let limits = Limits { chunk, max_line: max, squeeze_at: 64 };
                    let out = read_lines_hashed(
                        &mut data.as_bytes(),
                        0,
                        data.len() as u64,
                        &limits,
                        Some(&mut h),
                        |_| {},
                    )
                    .unwrap();
                    let mut want = Hasher::default();
                    want.feed(&data.as_bytes()[..out.end as usize]);
                    assert_eq!(h.prefix(), want.prefix(), "chunk {chunk} max {max}");
                }
            }
        }
    }

    #[test]
    fn a_squeezed_line_without_its_newline_is_left_for_later() {
        let data = format!("ok\n{}", long_line(2 * KEEP, "a"));
        let (lines, out) = squeezed(data.as_bytes(), 50, 1 << 20, 64);
        assert_eq!(lines, vec!["ok"]);
        assert_eq!(out.end, 3);
    }
}
