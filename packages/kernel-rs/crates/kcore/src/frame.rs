//! Control-channel framing (PROTOCOL.md §Frames):
//! `!` + 8 hex digits payload length + 8 hex digits CRC-32 of the payload + ` ` + payload + `\n`.
//! The decoder is a byte-at-a-time state machine over a caller-provided buffer; garbage
//! between frames is skipped and reported, never fatal.

use crate::crc32::crc32;

pub const HEADER_LEN: usize = 1 + 8 + 8 + 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Bytes outside a frame (anything but whitespace before `!`).
    Garbage,
    /// Length or checksum field is not 8 hex digits, or the separator is missing.
    BadHeader,
    /// Declared length exceeds the decoder's buffer.
    TooLong,
    /// The payload's CRC-32 differs from the header's.
    BadChecksum,
    /// The byte after the payload is not `\n`.
    MissingTerminator,
    /// The frame ended before its declared length: a `\n` inside the payload (payloads are
    /// compact JSON and never contain one), or the sender went quiet mid-frame (`reset`).
    /// Decoding resumes at the next `!`, so a lying header costs at most one request.
    Truncated,
}

impl FrameError {
    pub fn code(self) -> &'static str {
        match self {
            FrameError::Garbage => "GARBAGE",
            FrameError::BadHeader => "BAD_HEADER",
            FrameError::TooLong => "TOO_LONG",
            FrameError::BadChecksum => "BAD_CHECKSUM",
            FrameError::MissingTerminator => "MISSING_TERMINATOR",
            FrameError::Truncated => "TRUNCATED",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    Frame(&'a [u8]),
    Error(FrameError),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Idle,
    Garbage,
    Header,
    Payload,
    Terminator,
}

pub struct Decoder<'b> {
    buf: &'b mut [u8],
    state: State,
    header: [u8; HEADER_LEN - 1],
    hlen: usize,
    len: usize,
    crc: u32,
    pos: usize,
}

fn hex8(b: &[u8]) -> Option<u32> {
    if b.len() != 8 {
        return None;
    }
    let mut v = 0u32;
    for &c in b {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = (v << 4) | d as u32;
    }
    Some(v)
}

impl<'b> Decoder<'b> {
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, state: State::Idle, header: [0; HEADER_LEN - 1], hlen: 0, len: 0, crc: 0, pos: 0 }
    }

    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Whether a frame has started and not ended.
    pub fn mid_frame(&self) -> bool {
        matches!(self.state, State::Header | State::Payload | State::Terminator)
    }

    /// Abandon a partial frame (the caller's timeout); the next `!` starts a new one.
    pub fn reset(&mut self) {
        self.state = State::Idle;
        self.hlen = 0;
        self.pos = 0;
    }

    /// Feed one byte; returns a complete frame's payload or an error when one is detected.
    pub fn push(&mut self, byte: u8) -> Option<Event<'_>> {
        match self.state {
            State::Idle | State::Garbage => {
                if byte == b'!' {
                    self.state = State::Header;
                    self.hlen = 0;
                    None
                } else if byte.is_ascii_whitespace() || self.state == State::Garbage {
                    None
                } else {
                    self.state = State::Garbage;
                    Some(Event::Error(FrameError::Garbage))
                }
            }
            State::Header => {
                self.header[self.hlen] = byte;
                self.hlen += 1;
                if self.hlen < self.header.len() {
                    return None;
                }
                let len = hex8(&self.header[0..8]);
                let crc = hex8(&self.header[8..16]);
                match (len, crc, self.header[16]) {
                    (Some(len), Some(crc), b' ') => {
                        if len as usize > self.buf.len() {
                            self.state = State::Garbage;
                            return Some(Event::Error(FrameError::TooLong));
                        }
                        self.len = len as usize;
                        self.crc = crc;
                        self.pos = 0;
                        self.state = if self.len == 0 { State::Terminator } else { State::Payload };
                        None
                    }
                    _ => {
                        self.state = State::Garbage;
                        Some(Event::Error(FrameError::BadHeader))
                    }
                }
            }
            State::Payload => {
                if byte == b'\n' {
                    self.state = State::Idle;
                    return Some(Event::Error(FrameError::Truncated));
                }
                self.buf[self.pos] = byte;
                self.pos += 1;
                if self.pos == self.len {
                    self.state = State::Terminator;
                }
                None
            }
            State::Terminator => {
                self.state = State::Idle;
                if byte != b'\n' {
                    self.state = if byte == b'!' { State::Header } else { State::Garbage };
                    self.hlen = 0;
                    return Some(Event::Error(FrameError::MissingTerminator));
                }
                let payload = &self.buf[..self.len];
                if crc32(payload) != self.crc {
                    return Some(Event::Error(FrameError::BadChecksum));
                }
                Some(Event::Frame(payload))
            }
        }
    }
}

/// Write the frame header for `payload` into `out` (HEADER_LEN bytes).
pub fn encode_header(payload: &[u8], out: &mut [u8; HEADER_LEN]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out[0] = b'!';
    let len = payload.len() as u32;
    let crc = crc32(payload);
    for i in 0..8 {
        out[1 + i] = HEX[((len >> (28 - 4 * i)) & 0xF) as usize];
        out[9 + i] = HEX[((crc >> (28 - 4 * i)) & 0xF) as usize];
    }
    out[17] = b' ';
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(payload: &[u8]) -> Vec<u8> {
        let mut h = [0u8; HEADER_LEN];
        encode_header(payload, &mut h);
        let mut v = h.to_vec();
        v.extend_from_slice(payload);
        v.push(b'\n');
        v
    }

    fn decode_all(bytes: &[u8], cap: usize) -> Vec<Result<Vec<u8>, FrameError>> {
        let mut buf = vec![0u8; cap];
        let mut d = Decoder::new(&mut buf);
        let mut out = Vec::new();
        for &b in bytes {
            match d.push(b) {
                Some(Event::Frame(p)) => out.push(Ok(p.to_vec())),
                Some(Event::Error(e)) => out.push(Err(e)),
                None => {}
            }
        }
        out
    }

    #[test]
    fn round_trip() {
        let f = encode(br#"{"id":1,"cmd":"ping"}"#);
        assert_eq!(decode_all(&f, 64), vec![Ok(br#"{"id":1,"cmd":"ping"}"#.to_vec())]);
        let mut two = encode(b"a");
        two.extend(encode(b""));
        assert_eq!(decode_all(&two, 8), vec![Ok(b"a".to_vec()), Ok(vec![])]);
    }

    #[test]
    fn shared_vector() {
        // The same vector is asserted by the TypeScript codec's tests (PROTOCOL.md).
        let expected = b"!000000157caf384a {\"id\":1,\"cmd\":\"ping\"}\n";
        assert_eq!(encode(br#"{"id":1,"cmd":"ping"}"#), expected.to_vec());
    }

    /// JSON string unescape for the test vectors (\" \\ \n only).
    fn unescape(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut it = s.bytes();
        while let Some(b) = it.next() {
            if b == b'\\' {
                match it.next() {
                    Some(b'n') => out.push(b'\n'),
                    Some(c) => out.push(c),
                    None => {}
                }
            } else {
                out.push(b);
            }
        }
        out
    }

    #[test]
    fn shared_vectors_file() {
        let text = include_str!("../../../protocol-vectors.json");
        let doc = crate::json::parse(text.as_bytes()).unwrap();
        let mut n = 0;
        for v in doc.get("frames").unwrap().items() {
            let payload = unescape(v.get("payload").unwrap().as_str().unwrap());
            let wire = unescape(v.get("wire").unwrap().as_str().unwrap());
            assert_eq!(encode(&payload), wire);
            assert_eq!(decode_all(&wire, 256), vec![Ok(payload)]);
            n += 1;
        }
        assert_eq!(n, 3);
        let mut m = 0;
        for v in doc.get("bad_frames").unwrap().items() {
            let wire = unescape(v.get("wire").unwrap().as_str().unwrap());
            let code = v.get("error").unwrap().as_str().unwrap();
            let got = decode_all(&wire, 256);
            assert_eq!(got.first().map(|r| r.clone().unwrap_err().code()), Some(code), "{:?}", String::from_utf8_lossy(&wire));
            m += 1;
        }
        assert_eq!(m, 5);
    }

    #[test]
    fn errors_are_reported_and_decoding_resumes() {
        let mut bytes = b"hello ".to_vec();
        bytes.extend(encode(b"ok"));
        assert_eq!(decode_all(&bytes, 8), vec![Err(FrameError::Garbage), Ok(b"ok".to_vec())]);

        let mut bad = encode(b"abc");
        bad[20] ^= 1; // flip a payload bit
        bad.extend(encode(b"x"));
        assert_eq!(decode_all(&bad, 8), vec![Err(FrameError::BadChecksum), Ok(b"x".to_vec())]);

        let mut hdr = b"!zzzzzzzz00000000 ".to_vec();
        hdr.extend(encode(b"y"));
        assert_eq!(decode_all(&hdr, 8), vec![Err(FrameError::BadHeader), Ok(b"y".to_vec())]);

        assert_eq!(decode_all(&encode(b"0123456789"), 4), vec![Err(FrameError::TooLong)]);

        let mut noterm = encode(b"ab");
        let last = noterm.len() - 1;
        noterm[last] = b'X';
        noterm.extend(encode(b"z"));
        assert_eq!(decode_all(&noterm, 8), vec![Err(FrameError::MissingTerminator), Ok(b"z".to_vec())]);
    }

    #[test]
    fn a_lying_length_costs_at_most_the_next_frame() {
        // A header declaring far more than follows: the next frame's newline ends it.
        let mut bytes = b"!00003e8000000000 {\"id\":1".to_vec();
        bytes.extend(encode(b"lost"));
        bytes.extend(encode(b"kept"));
        assert_eq!(decode_all(&bytes, 16 * 1024), vec![Err(FrameError::Truncated), Ok(b"kept".to_vec())]);
        // A newline as the frame's own terminator before its length: truncated, then resync.
        let mut short = b"!0000000a00000000 abc\n".to_vec();
        short.extend(encode(b"x"));
        assert_eq!(decode_all(&short, 64), vec![Err(FrameError::Truncated), Ok(b"x".to_vec())]);
    }

    #[test]
    fn reset_abandons_a_partial_frame() {
        let mut buf = vec![0u8; 64];
        let mut d = Decoder::new(&mut buf);
        for &b in b"!0000002000000000 ab" {
            let _ = d.push(b);
        }
        assert!(d.mid_frame());
        d.reset();
        assert!(!d.mid_frame());
        let mut got = None;
        for &b in encode(b"ok").iter() {
            if let Some(Event::Frame(p)) = d.push(b) {
                got = Some(p.to_vec());
            }
        }
        assert_eq!(got, Some(b"ok".to_vec()));
    }

    #[test]
    fn fuzz_random_and_truncated_input_never_panics() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..2000 {
            let mut bytes = encode(format!("{{\"id\":{}}}", round).as_bytes());
            let n = (next() % 64) as usize;
            for _ in 0..n {
                let i = (next() as usize) % (bytes.len() + 1);
                let b = next() as u8;
                if i < bytes.len() && next() % 2 == 0 {
                    bytes[i] = b;
                } else {
                    bytes.insert(i.min(bytes.len()), b);
                }
            }
            let cut = (next() as usize) % (bytes.len() + 1);
            let _ = decode_all(&bytes[..cut], 32);
        }
    }
}
