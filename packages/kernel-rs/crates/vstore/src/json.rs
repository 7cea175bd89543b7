//! A minimal JSON reader for payloads: one flat object whose values are strings, numbers,
//! booleans or null. Nested objects and arrays are refused.
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

/// A parsed payload: fields in the order given (a repeated key keeps its last value).
pub type Payload = Box<[(String, Value)]>;

pub fn get<'a>(p: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    p.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Parse a flat object; Err(byte offset) where it stops making sense. Empty input is `{}`.
pub fn parse(s: &[u8]) -> Result<Payload, usize> {
    let mut p = Parser { s, at: 0 };
    let mut fields = Vec::new();
    p.ws();
    if p.at == s.len() {
        return Ok(fields.into_boxed_slice());
    }
    p.expect(b'{')?;
    p.ws();
    if p.peek() == Some(b'}') {
        p.at += 1;
    } else {
        loop {
            p.ws();
            let k = p.string()?;
            p.ws();
            p.expect(b':')?;
            p.ws();
            let v = p.value()?;
            fields.push((k, v));
            p.ws();
            match p.peek() {
                Some(b',') => p.at += 1,
                Some(b'}') => {
                    p.at += 1;
                    break;
                }
                _ => return Err(p.at),
            }
        }
    }
    p.ws();
    if p.at != s.len() {
        return Err(p.at);
    }
    Ok(fields.into_boxed_slice())
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }
    fn expect(&mut self, c: u8) -> Result<(), usize> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.at)
        }
    }
    fn lit(&mut self, word: &[u8]) -> Result<(), usize> {
        if self.s[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            Err(self.at)
        }
    }
    fn value(&mut self) -> Result<Value, usize> {
        match self.peek() {
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') => self.lit(b"true").map(|_| Value::Bool(true)),
            Some(b'f') => self.lit(b"false").map(|_| Value::Bool(false)),
            Some(b'n') => self.lit(b"null").map(|_| Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.at),
        }
    }
    fn number(&mut self) -> Result<Value, usize> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.at;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.at += 1;
            }
            p.at > s
        };
        if !digits(self) {
            return Err(self.at);
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !digits(self) {
                return Err(self.at);
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !digits(self) {
                return Err(self.at);
            }
        }
        let text = core::str::from_utf8(&self.s[start..self.at]).map_err(|_| start)?;
        let v: f64 = text.parse().map_err(|_| start)?;
        if !v.is_finite() {
            return Err(start);
        }
        Ok(Value::Num(v))
    }
    fn hex4(&mut self) -> Result<u32, usize> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.at),
            };
            v = v * 16 + d as u32;
            self.at += 1;
        }
        Ok(v)
    }
    fn string(&mut self) -> Result<String, usize> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let c = self.peek().ok_or(self.at)?;
            self.at += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.peek().ok_or(self.at)?;
                    self.at += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let at = self.at;
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) {
                                self.lit(b"\\u")?;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(at);
                                }
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            }
                            char::from_u32(cp).ok_or(at)?
                        }
                        _ => return Err(self.at - 1),
                    };
                    let mut b = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                }
                c if c < 0x20 => return Err(self.at - 1),
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn flat_objects_parse() {
        let p = parse(br#" {"city": "Paris", "n": -12, "x": 1.5e3, "ok": true, "no": false, "z": null, "e": "a\"b\u00e9\n"} "#).unwrap();
        assert_eq!(get(&p, "city"), Some(&Value::Str("Paris".to_string())));
        assert_eq!(get(&p, "n"), Some(&Value::Num(-12.0)));
        assert_eq!(get(&p, "x"), Some(&Value::Num(1500.0)));
        assert_eq!(get(&p, "ok"), Some(&Value::Bool(true)));
        assert_eq!(get(&p, "no"), Some(&Value::Bool(false)));
        assert_eq!(get(&p, "z"), Some(&Value::Null));
        assert_eq!(get(&p, "e"), Some(&Value::Str("a\"bé\n".to_string())));
        assert_eq!(parse(b"").unwrap().len(), 0);
        assert_eq!(parse(b"{}").unwrap().len(), 0);
    }

    #[test]
    fn bad_input_is_refused_with_an_offset() {
        assert_eq!(parse(b"{\"a\": [1]}"), Err(6));
        assert_eq!(parse(b"{\"a\": {}}"), Err(6));
        assert_eq!(parse(b"{\"a\": 1,}"), Err(8));
        assert_eq!(parse(b"{\"a\" 1}"), Err(5));
        assert_eq!(parse(b"{\"a\": 01x}"), Err(8));
        assert_eq!(parse(b"{\"a\": 1} x"), Err(9));
        assert!(parse(b"{\"a\": \"\\ud800\"}").is_err());
        assert!(parse(b"[1]").is_err());
        assert!(parse(b"{\"a\": -}").is_err());
        assert!(parse(b"{\"a").is_err());
        assert!(parse(b"{\"a\": tru}").is_err());
        assert!(parse(b"{\"a\": 1e999}").is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut r = crate::rng::Rng::new(7);
        let alphabet = b"{}[]\":,.-+eE0123456789abtrufalsn\\u ";
        for _ in 0..20000 {
            let n = r.below(24) as usize;
            let s: Vec<u8> = (0..n).map(|_| alphabet[r.below(alphabet.len() as u64) as usize]).collect();
            let _ = parse(&s);
        }
    }
}
