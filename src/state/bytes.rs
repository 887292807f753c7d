//! Little-endian numbers and LEB128 varints, written and read back with
//! bounds checks: the binary files of the state directory share them.

/// Appends `x` as an LEB128 varint.
pub fn varint(mut x: u64, out: &mut Vec<u8>) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

/// Appends `b` with its length before it (a varint).
pub fn bytes(b: &[u8], out: &mut Vec<u8>) {
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

/// A bounds-checked reader; errors say what is wrong in words that follow
/// a file's name ("is truncated").
pub struct Cursor<'a> {
    /// What is read.
    pub b: &'a [u8],
    /// Where the next read starts.
    pub at: usize,
}

impl<'a> Cursor<'a> {
    /// A reader at the start of `b`.
    pub fn new(b: &'a [u8]) -> Cursor<'a> {
        Cursor { b, at: 0 }
    }

    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.at >= self.b.len()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let s = self.b.get(self.at..self.at.saturating_add(n)).ok_or("is truncated")?;
        self.at += n;
        Ok(s)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    /// An LEB128 varint.
    pub fn varint(&mut self) -> Result<u64, String> {
        let mut x = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            x |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(x);
            }
        }
        Err("has a bad number".into())
    }

    /// Bytes written by [`bytes`].
    pub fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.varint()?;
        self.take(usize::try_from(n).map_err(|_| "has a bad length")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_short_input_is_an_error() {
        let mut out = Vec::new();
        for x in [0, 1, 127, 128, 300, u64::MAX] {
            varint(x, &mut out);
        }
        bytes(b"abc", &mut out);
        let mut c = Cursor::new(&out);
        for x in [0, 1, 127, 128, 300, u64::MAX] {
            assert_eq!(c.varint().unwrap(), x);
        }
        assert_eq!(c.bytes().unwrap(), b"abc");
        assert!(c.is_empty());
        assert_eq!(c.u8().unwrap_err(), "is truncated");
        assert!(Cursor::new(&[0xff; 11]).varint().is_err());
    }
}
