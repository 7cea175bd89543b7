//! A small, allocation-free JSON reader for control requests: validates a document and looks up
//! object members by key. Strings are returned raw (escapes are only validated), which is enough
//! for command names, module names and base64/hex payloads. Depth is bounded.

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    /// Raw number text.
    Num(&'a str),
    /// Raw string contents between the quotes.
    Str(&'a str),
    /// Raw object text including braces.
    Object(&'a str),
    Array(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError {
    pub at: usize,
    pub what: &'static str,
}

const MAX_DEPTH: usize = 16;

struct P<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> P<'a> {
    fn err<T>(&self, what: &'static str) -> Result<T, JsonError> {
        Err(JsonError { at: self.i, what })
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn text(&self, from: usize) -> &'a str {
        // The input was checked to be UTF-8 up front.
        core::str::from_utf8(&self.s[from..self.i]).unwrap_or("")
    }
    fn lit(&mut self, word: &[u8]) -> Result<(), JsonError> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            self.err("invalid literal")
        }
    }
    fn string(&mut self) -> Result<&'a str, JsonError> {
        self.i += 1; // opening quote
        let start = self.i;
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'"' => {
                    let t = self.text(start);
                    self.i += 1;
                    return Ok(t);
                }
                b'\\' => {
                    self.i += 1;
                    match self.s.get(self.i) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                        Some(b'u') => {
                            if self.i + 4 >= self.s.len() || !self.s[self.i + 1..self.i + 5].iter().all(u8::is_ascii_hexdigit) {
                                return self.err("bad \\u escape");
                            }
                            self.i += 5;
                        }
                        _ => return self.err("bad escape"),
                    }
                }
                c if c < 0x20 => return self.err("control character in string"),
                _ => self.i += 1,
            }
        }
        self.err("unterminated string")
    }
    fn number(&mut self) -> Result<&'a str, JsonError> {
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.i;
            while p.i < p.s.len() && p.s[p.i].is_ascii_digit() {
                p.i += 1;
            }
            p.i > s
        };
        if !digits(self) {
            return self.err("bad number");
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !digits(self) {
                return self.err("bad fraction");
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return self.err("bad exponent");
            }
        }
        Ok(self.text(start))
    }
    fn value(&mut self, depth: usize) -> Result<Value<'a>, JsonError> {
        if depth > MAX_DEPTH {
            return self.err("too deeply nested");
        }
        self.ws();
        let start = self.i;
        match self.s.get(self.i) {
            None => self.err("unexpected end"),
            Some(b'n') => self.lit(b"null").map(|_| Value::Null),
            Some(b't') => self.lit(b"true").map(|_| Value::Bool(true)),
            Some(b'f') => self.lit(b"false").map(|_| Value::Bool(false)),
            Some(b'"') => self.string().map(Value::Str),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Num),
            Some(b'{') => {
                self.i += 1;
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Value::Object(self.text(start)));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return self.err("expected key");
                    }
                    self.string()?;
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return self.err("expected ':'");
                    }
                    self.i += 1;
                    self.value(depth + 1)?;
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::Object(self.text(start)));
                        }
                        _ => return self.err("expected ',' or '}'"),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Value::Array(self.text(start)));
                }
                loop {
                    self.value(depth + 1)?;
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::Array(self.text(start)));
                        }
                        _ => return self.err("expected ',' or ']'"),
                    }
                }
            }
            Some(_) => self.err("unexpected character"),
        }
    }
}

pub struct Items<'a> {
    p: P<'a>,
    done: bool,
}

impl<'a> Iterator for Items<'a> {
    type Item = Value<'a>;
    fn next(&mut self) -> Option<Value<'a>> {
        if self.done {
            return None;
        }
        self.p.ws();
        if self.p.s.get(self.p.i) == Some(&b']') {
            self.done = true;
            return None;
        }
        let v = self.p.value(1).ok();
        self.p.ws();
        match self.p.s.get(self.p.i) {
            Some(b',') => self.p.i += 1,
            _ => self.done = true,
        }
        v
    }
}

/// Parse and validate a whole document.
pub fn parse(input: &[u8]) -> Result<Value<'_>, JsonError> {
    if core::str::from_utf8(input).is_err() {
        return Err(JsonError { at: 0, what: "not UTF-8" });
    }
    let mut p = P { s: input, i: 0 };
    let v = p.value(0)?;
    p.ws();
    if p.i != input.len() {
        return p.err("trailing characters");
    }
    Ok(v)
}

impl<'a> Value<'a> {
    /// Member `key` of an object (first match), or None.
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        let Value::Object(text) = *self else { return None };
        let mut p = P { s: text.as_bytes(), i: 1 };
        loop {
            p.ws();
            if p.s.get(p.i) != Some(&b'"') {
                return None;
            }
            let k = p.string().ok()?;
            p.ws();
            p.i += 1; // ':'
            let v = p.value(1).ok()?;
            if k == key {
                return Some(v);
            }
            p.ws();
            if p.s.get(p.i) != Some(&b',') {
                return None;
            }
            p.i += 1;
        }
    }
    /// Elements of an array (empty for anything else).
    pub fn items(&self) -> Items<'a> {
        match *self {
            Value::Array(text) => Items { p: P { s: text.as_bytes(), i: 1 }, done: false },
            _ => Items { p: P { s: b"", i: 0 }, done: true },
        }
    }
    pub fn as_str(&self) -> Option<&'a str> {
        if let Value::Str(s) = *self { Some(s) } else { None }
    }
    pub fn as_u64(&self) -> Option<u64> {
        let Value::Num(n) = *self else { return None };
        n.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_request() {
        let v = parse(br#" {"id": 42, "cmd":"swap_chunk", "args": {"module":"pong","seq":3,"data":"aGk=","ok":true,"x":[1,{"y":null}]}} "#).unwrap();
        assert_eq!(v.get("id").and_then(|v| v.as_u64()), Some(42));
        assert_eq!(v.get("cmd").and_then(|v| v.as_str()), Some("swap_chunk"));
        let args = v.get("args").unwrap();
        assert_eq!(args.get("module").and_then(|v| v.as_str()), Some("pong"));
        assert_eq!(args.get("seq").and_then(|v| v.as_u64()), Some(3));
        assert_eq!(args.get("ok"), Some(Value::Bool(true)));
        assert_eq!(args.get("missing"), None);
        assert_eq!(v.get("nope"), None);
    }

    #[test]
    fn rejects_malformed_documents() {
        for bad in [&b"{"[..], b"{\"a\"}", b"{\"a\":}", b"[1,]", b"\"abc", b"{\"a\":1}x", b"-", b"1.", b"tru", b"\"\\q\"", b"\xff"] {
            assert!(parse(bad).is_err(), "{:?}", core::str::from_utf8(bad));
        }
        let deep = "[".repeat(40) + &"]".repeat(40);
        assert_eq!(parse(deep.as_bytes()).unwrap_err().what, "too deeply nested");
    }

    #[test]
    fn fuzz_never_panics() {
        let seedtext = br#"{"id":1,"cmd":"ping","args":{"a":[1,2.5e3,-0,"s\"\u00e9",true,false,null]}}"#;
        let mut seed = 99u64;
        for _ in 0..5000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mut v = seedtext.to_vec();
            let i = (seed >> 33) as usize % v.len();
            v[i] = (seed >> 20) as u8;
            let cut = (seed >> 40) as usize % (v.len() + 1);
            if let Ok(doc) = parse(&v[..cut]) {
                let _ = doc.get("id");
                let _ = doc.get("args").and_then(|a| a.get("a"));
            }
        }
    }
}
