//! Finding the quotes of JSON text, for the scans that pass over
//! transcript text without parsing it: skimming a line
//! ([`crate::agents::json`]) and squeezing one too long to hold
//! ([`crate::sources::growing`]).

/// The offsets of the `"` bytes of a line, in order.
///
/// A transcript's text holds a quote every few dozen bytes (escaped
/// quotes, the keys of JSON inside strings), where `memchr`'s cost per
/// call outweighs its speed per byte. On x86_64 the quotes of 64 bytes at
/// a time are found at once as a bit mask (SSE2, which every x86_64 target
/// but the soft-float ones has; the gate checks it) and handed out from
/// it; elsewhere `memchr` finds them one by one.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
pub struct Quotes<'a> {
    line: &'a [u8],
    /// Offset of the 64 bytes `mask` covers.
    base: usize,
    /// The quotes among them not yet handed out, one bit each.
    mask: u64,
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
impl<'a> Quotes<'a> {
    /// The quotes of `line`.
    pub fn of(line: &'a [u8]) -> Quotes<'a> {
        Quotes { line, base: 0, mask: quote_mask(line) }
    }
}

/// The `"` bytes among the first 64 bytes of `bytes`, one bit each.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn quote_mask(bytes: &[u8]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    let Some(block) = bytes.first_chunk::<64>() else {
        return bytes.iter().enumerate().fold(0, |m, (i, &b)| m | u64::from(b == b'"') << i);
    };
    let mut mask = 0;
    for (i, lane) in block.chunks_exact(16).enumerate() {
        // SAFETY: SSE2 is enabled (the `cfg` gate), and `lane` holds
        // the 16 bytes the unaligned load reads.
        let bits = unsafe {
            let v = _mm_loadu_si128(lane.as_ptr().cast::<__m128i>());
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)))
        };
        mask |= u64::from(bits as u16) << (i * 16);
    }
    mask
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
impl Iterator for Quotes<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.base += 64;
            if self.base >= self.line.len() {
                return None;
            }
            self.mask = quote_mask(&self.line[self.base..]);
        }
        let at = self.base + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

/// [`Quotes`] by `memchr`, one call a quote: what other targets use
/// (compiled and tested on every target).
pub struct QuotesByMemchr<'a>(memchr::Memchr<'a>);

impl<'a> QuotesByMemchr<'a> {
    /// The quotes of `line`.
    pub fn of(line: &'a [u8]) -> QuotesByMemchr<'a> {
        QuotesByMemchr(memchr::memchr_iter(b'"', line))
    }
}

impl Iterator for QuotesByMemchr<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        self.0.next()
    }
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
pub use QuotesByMemchr as Quotes;

/// Where the JSON string whose text begins `bytes` ends: the offset of
/// its closing quote, the first quote after an even run of backslashes.
/// `bytes[0]` must not be escaped by a backslash before it. When the
/// string goes on past `bytes`, `Err(escape)` tells whether the last byte
/// is a backslash that escapes the first byte of what follows.
pub fn string_end(bytes: &[u8]) -> Result<usize, bool> {
    Quotes::of(bytes).find(|&q| !escaped(bytes, q)).ok_or_else(|| escaped(bytes, bytes.len()))
}

/// True when `bytes[at]` follows an odd run of backslashes that begins in
/// `bytes` (it is escaped; `at` may be `bytes.len()`).
pub fn escaped(bytes: &[u8], at: usize) -> bool {
    bytes[..at].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::SplitMix64;

    /// A string's end found byte by byte, escape by escape.
    fn string_end_byte_by_byte(bytes: &[u8]) -> Result<usize, bool> {
        let mut escape = false;
        for (i, &b) in bytes.iter().enumerate() {
            match (escape, b) {
                (true, _) => escape = false,
                (false, b'\\') => escape = true,
                (false, b'"') => return Ok(i),
                _ => {}
            }
        }
        Err(escape)
    }

    #[test]
    fn a_string_ends_at_its_first_quote_not_escaped() {
        let mut r = SplitMix64(0x5e_0e5c);
        for len in (0..200).chain([1000, 4096]) {
            for _ in 0..20 {
                let odds = 2 + r.below(60);
                let text: Vec<u8> = (0..len)
                    .map(|_| match r.below(odds) {
                        0 => b'"',
                        1 | 2 => b'\\',
                        _ => b'x',
                    })
                    .collect();
                assert_eq!(string_end(&text), string_end_byte_by_byte(&text), "{text:?}");
            }
        }
        assert_eq!(string_end(br#"ab\\"c"#), Ok(4));
        assert_eq!(string_end(br#"ab\"c"#), Err(false));
        assert_eq!(string_end(br#"ab\\\"#), Err(true));
    }

    #[test]
    fn quotes_are_found_at_every_offset_and_length() {
        let mut r = SplitMix64(0x71_0735);
        for len in (0..300).chain([511, 512, 513, 4096 + 17]) {
            for _ in 0..8 {
                // Dense, sparse and absent quotes, at block edges too.
                let odds = 1 + r.below(40);
                let line: Vec<u8> = (0..len)
                    .map(|_| if r.below(odds) == 0 { b'"' } else { b"a\\ {:"[r.below(5) as usize] })
                    .collect();
                let want: Vec<usize> = (0..len).filter(|&i| line[i] == b'"').collect();
                assert_eq!(Quotes::of(&line).collect::<Vec<_>>(), want, "{len} bytes");
                assert_eq!(QuotesByMemchr::of(&line).collect::<Vec<_>>(), want, "{len} bytes");
                // A line that begins inside a longer buffer.
                let mut shifted = vec![b'"'; 3];
                shifted.extend_from_slice(&line);
                let got: Vec<usize> = Quotes::of(&shifted[3..]).collect();
                assert_eq!(got, want, "{len} bytes, shifted");
            }
        }
    }
}
