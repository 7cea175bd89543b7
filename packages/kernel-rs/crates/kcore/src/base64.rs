//! Standard base64 (RFC 4648, with padding) decoding into a caller's buffer, for module chunks
//! on the control channel.

fn val(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decode `src` into `out`; returns the number of bytes written, or None for bad input or a
/// too-small buffer.
pub fn decode(src: &[u8], out: &mut [u8]) -> Option<usize> {
    if src.len() % 4 != 0 {
        return None;
    }
    let mut n = 0;
    for (ci, chunk) in src.chunks(4).enumerate() {
        let last = ci == src.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = if i >= 4 - pad { 0 } else { val(c)? as u32 };
            acc = (acc << 6) | v;
        }
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        let take = 3 - pad;
        if n + take > out.len() {
            return None;
        }
        out[n..n + take].copy_from_slice(&bytes[..take]);
        n += take;
    }
    Some(n)
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encode `src` as standard base64 with padding into `w` (a reply being written).
pub fn encode_to(src: &[u8], w: &mut impl core::fmt::Write) {
    for chunk in src.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        let mut out = [b'='; 4];
        for (i, o) in out.iter_mut().enumerate().take(chunk.len() + 1) {
            *o = ALPHABET[((n >> (18 - 6 * i)) & 63) as usize];
        }
        let _ = w.write_str(core::str::from_utf8(&out).unwrap_or("===="));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn decodes_rfc4648_vectors_and_rejects_garbage() {
        let cases: [(&str, &str); 7] = [("", ""), ("Zg==", "f"), ("Zm8=", "fo"), ("Zm9v", "foo"), ("Zm9vYg==", "foob"), ("Zm9vYmE=", "fooba"), ("Zm9vYmFy", "foobar")];
        for (enc, dec) in cases {
            let mut out = [0u8; 16];
            let n = decode(enc.as_bytes(), &mut out).unwrap();
            assert_eq!(&out[..n], dec.as_bytes());
        }
        let mut out = [0u8; 16];
        assert_eq!(decode(b"Zm9", &mut out), None);
        assert_eq!(decode(b"Zm=v", &mut out), None);
        assert_eq!(decode(b"Z===", &mut out), None);
        assert_eq!(decode(b"Zg==Zg==", &mut out), None);
        assert_eq!(decode(b"Zm9v!!!!", &mut out), None);
        assert_eq!(decode(b"Zm9vYmFy", &mut out[..5]), None);
    }

    #[test]
    fn encode_round_trips() {
        for len in 0..40usize {
            let data: [u8; 40] = core::array::from_fn(|i| (i * 37 + len) as u8);
            let mut text = [0u8; 64];
            let mut w = crate::fmt::BufWriter::new(&mut text);
            super::encode_to(&data[..len], &mut w);
            let n = w.len();
            assert_eq!(n, len.div_ceil(3) * 4);
            let mut back = [0u8; 40];
            let m = super::decode(&text[..n], &mut back).unwrap();
            assert_eq!(&back[..m], &data[..len]);
        }
    }
}
