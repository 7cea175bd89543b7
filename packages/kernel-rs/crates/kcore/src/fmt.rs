//! Formatting without an allocator: a writer over a byte buffer, and JSON string escaping.

use core::fmt;

/// Writes into a fixed buffer; output that does not fit is dropped and `overflowed` is set.
pub struct BufWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
    pub overflowed: bool,
}

impl<'a> BufWriter<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0, overflowed: false }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    pub fn len(&self) -> usize {
        self.len
    }
    /// Drop the last `n` bytes written (to reopen a JSON object just closed).
    pub fn truncate_last(&mut self, n: usize) {
        self.len = self.len.saturating_sub(n);
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn push_bytes(&mut self, b: &[u8]) {
        let room = self.buf.len() - self.len;
        let n = b.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
        if n < b.len() {
            self.overflowed = true;
        }
    }
}

impl fmt::Write for BufWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_bytes(s.as_bytes());
        Ok(())
    }
}

/// Displays a string as a JSON string literal (with quotes).
pub struct JsonStr<'a>(pub &'a str);

impl fmt::Display for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        // Runs of characters that need no escape go out in one write (the kernel formats
        // events on hot paths: a spawn's task_start).
        let s = self.0;
        let mut run = 0;
        for (i, c) in s.char_indices() {
            let esc = match c {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                c if (c as u32) < 0x20 => "",
                _ => continue,
            };
            f.write_str(&s[run..i])?;
            if esc.is_empty() {
                write!(f, "\\u{:04x}", c as u32)?;
            } else {
                f.write_str(esc)?;
            }
            run = i + c.len_utf8();
        }
        f.write_str(&s[run..])?;
        f.write_str("\"")
    }
}

/// Lower-case hex of a byte string.
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for chunk in self.0.chunks(32) {
            let mut out = [0u8; 64];
            for (i, b) in chunk.iter().enumerate() {
                out[2 * i] = DIGITS[(b >> 4) as usize];
                out[2 * i + 1] = DIGITS[(b & 15) as usize];
            }
            f.write_str(core::str::from_utf8(&out[..2 * chunk.len()]).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;
    #[test]
    fn escapes_and_truncates() {
        let mut buf = [0u8; 64];
        let mut w = BufWriter::new(&mut buf);
        write!(w, "{}", JsonStr("a\"b\\c\n\u{1}")).unwrap();
        assert_eq!(core::str::from_utf8(w.as_bytes()).unwrap(), "\"a\\\"b\\\\c\\n\\u0001\"");
        let mut small = [0u8; 4];
        let mut w = BufWriter::new(&mut small);
        write!(w, "{}", "hello").unwrap();
        assert!(w.overflowed);
        assert_eq!(w.as_bytes(), b"hell");
        let mut buf = [0u8; 8];
        let mut w = BufWriter::new(&mut buf);
        write!(w, "{}", Hex(&[0xde, 0xad])).unwrap();
        assert_eq!(w.as_bytes(), b"dead");
    }
}
