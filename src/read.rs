//! Reading the bytes appended to a file since the last run, one complete
//! line at a time.
//!
//! Only newline-terminated lines are handed out. A trailing fragment is not
//! consumed: the returned end offset stops before it, so the next run reads
//! it again once its newline has arrived. Lines longer than the configured
//! maximum are skipped as they stream past, without ever being held whole
//! in memory. Memory use is bounded by the read buffer plus the longest
//! line accepted.

use std::io::{self, Read};

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

/// Reads at most `len` bytes from `reader` (positioned at file offset
/// `from`) and hands every complete line to `on_line`. Lines longer than
/// `max_line` bytes are counted in [`ReadOutcome::oversized`] instead.
/// `chunk` is the read size; the buffer grows beyond it only to hold a
/// line longer than a chunk (up to `max_line`).
pub fn read_lines<R: Read>(
    reader: &mut R,
    from: u64,
    len: u64,
    chunk: usize,
    max_line: usize,
    mut on_line: impl FnMut(&[u8]),
) -> io::Result<ReadOutcome> {
    let chunk = chunk.max(1);
    let mut out = ReadOutcome { end: from, ..ReadOutcome::default() };
    // `buf[..filled]` holds unread bytes. The buffer's length never
    // shrinks, so each byte is zeroed once, not once per chunk read.
    let mut buf: Vec<u8> = Vec::with_capacity(chunk.min(len as usize).max(1));
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
        for nl in memchr::memchr_iter(b'\n', &buf[old..filled]).map(|i| i + old) {
            let line = trim_cr(&buf[start..nl]);
            if skipping || line.len() > max_line {
                skipping = false;
                out.oversized += 1;
            } else {
                out.lines += 1;
                on_line(line);
            }
            start = nl + 1;
            out.end = base + start as u64;
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        base += start as u64;
        // One byte of slack: the fragment may end in the `\r` of a CRLF.
        if filled > max_line.saturating_add(1) {
            // Too long to be accepted whatever follows: stop holding it.
            skipping = true;
            base += filled as u64;
            filled = 0;
        }
    }
    Ok(out)
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
        let mut lines = Vec::new();
        let out = read_lines(&mut &data[..], 0, data.len() as u64, chunk, max, |l| {
            lines.push(String::from_utf8_lossy(l).into_owned())
        })
        .unwrap();
        (lines, out)
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
        let out = read_lines(&mut &data[..], 100, 5, 2, 10, |_| n += 1).unwrap();
        assert_eq!(n, 1);
        assert_eq!(out.end, 104);
    }
}
