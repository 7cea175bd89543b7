//! The sandbox call encoding: one definition for the host side (`agent_rt::sandbox`, the
//! kernel's control command) and the guest side (`sandbox-guest`). The kernel only copies these
//! bytes; the guest decodes them, so a malformed call is the guest's problem, never the kernel's.
//!
//! call   = name_len:u8 name[name_len] argc:u8 value*argc
//! result = value
//! value  = tag:u8 payload — little-endian; str and bytes carry a u32 length first.
//!
//! Signatures: a guest image carries its exports' signatures as text in the ELF section
//! `.tars_sbsig` (written by `sandbox_main!` in Rust, `TARS_SB_MAIN` in C, read by the image
//! builder into the module's manifest entry; trailing NULs ignored):
//!
//! table = "TARSSIG1\n" line*
//! line  = name (" " type)* " -> " type "\n"   — name [A-Za-z_][A-Za-z0-9_]*, words split on blanks
//! type  = void | i32 | u32 | i64 | u64 | f32 | f64 | bool | string | bytes (void only as a result)

pub const TAG_VOID: u8 = 0;
pub const TAG_I32: u8 = 1;
pub const TAG_U32: u8 = 2;
pub const TAG_I64: u8 = 3;
pub const TAG_U64: u8 = 4;
pub const TAG_F32: u8 = 5;
pub const TAG_F64: u8 = 6;
pub const TAG_BOOL: u8 = 7;
pub const TAG_STR: u8 = 8;
pub const TAG_BYTES: u8 = 9;

/// Guest statuses (the `sb_return` status; 0 = success).
pub const GUEST_OK: u64 = 0;
pub const GUEST_NO_SUCH_FUNCTION: u64 = 1;
pub const GUEST_BAD_ARGS: u64 = 2;
pub const GUEST_RESULT_TOO_LARGE: u64 = 3;
/// The function returned a value of another type than its signature declares.
pub const GUEST_BAD_RESULT: u64 = 4;
/// Function-defined errors start here.
pub const GUEST_USER_ERROR: u64 = 16;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Void,
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    F32(f32),
    F64(f64),
    Bool(bool),
    Str(&'a str),
    Bytes(&'a [u8]),
}

impl Value<'_> {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Void => "void",
            Value::I32(_) => "i32",
            Value::U32(_) => "u32",
            Value::I64(_) => "i64",
            Value::U64(_) => "u64",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::Bool(_) => "bool",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
        }
    }
}

/// A value's tag (its type on the wire).
pub fn tag_of(v: &Value) -> u8 {
    match v {
        Value::Void => TAG_VOID,
        Value::I32(_) => TAG_I32,
        Value::U32(_) => TAG_U32,
        Value::I64(_) => TAG_I64,
        Value::U64(_) => TAG_U64,
        Value::F32(_) => TAG_F32,
        Value::F64(_) => TAG_F64,
        Value::Bool(_) => TAG_BOOL,
        Value::Str(_) => TAG_STR,
        Value::Bytes(_) => TAG_BYTES,
    }
}

/// Writes into a fixed buffer; `None` when it does not fit.
pub struct Writer<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> Writer<'b> {
    pub fn new(buf: &'b mut [u8]) -> Self {
        Writer { buf, len: 0 }
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn bytes(&mut self, b: &[u8]) -> Option<()> {
        let end = self.len.checked_add(b.len())?;
        self.buf.get_mut(self.len..end)?.copy_from_slice(b);
        self.len = end;
        Some(())
    }
    pub fn value(&mut self, v: &Value) -> Option<()> {
        match *v {
            Value::Void => self.bytes(&[TAG_VOID]),
            Value::I32(x) => self.bytes(&[TAG_I32]).and_then(|_| self.bytes(&x.to_le_bytes())),
            Value::U32(x) => self.bytes(&[TAG_U32]).and_then(|_| self.bytes(&x.to_le_bytes())),
            Value::I64(x) => self.bytes(&[TAG_I64]).and_then(|_| self.bytes(&x.to_le_bytes())),
            Value::U64(x) => self.bytes(&[TAG_U64]).and_then(|_| self.bytes(&x.to_le_bytes())),
            Value::F32(x) => self.bytes(&[TAG_F32]).and_then(|_| self.bytes(&x.to_le_bytes())),
            Value::F64(x) => self.bytes(&[TAG_F64]).and_then(|_| self.bytes(&x.to_le_bytes())),
            Value::Bool(x) => self.bytes(&[TAG_BOOL, x as u8]),
            Value::Str(s) => self.blob(TAG_STR, s.as_bytes()),
            Value::Bytes(b) => self.blob(TAG_BYTES, b),
        }
    }
    fn blob(&mut self, tag: u8, b: &[u8]) -> Option<()> {
        let n = u32::try_from(b.len()).ok()?;
        self.bytes(&[tag])?;
        self.bytes(&n.to_le_bytes())?;
        self.bytes(b)
    }
}

/// Encode a call of `name` with `args` into `buf`; returns its length.
pub fn encode_call(buf: &mut [u8], name: &str, args: &[Value]) -> Option<usize> {
    let mut w = Writer::new(buf);
    w.bytes(&[u8::try_from(name.len()).ok()?])?;
    w.bytes(name.as_bytes())?;
    w.bytes(&[u8::try_from(args.len()).ok()?])?;
    for a in args {
        w.value(a)?;
    }
    Some(w.len())
}

/// Reads values out of an encoded buffer; every read is checked.
#[derive(Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn arr<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    pub fn value(&mut self) -> Option<Value<'a>> {
        let tag = self.arr::<1>()?[0];
        Some(match tag {
            TAG_VOID => Value::Void,
            TAG_I32 => Value::I32(i32::from_le_bytes(self.arr()?)),
            TAG_U32 => Value::U32(u32::from_le_bytes(self.arr()?)),
            TAG_I64 => Value::I64(i64::from_le_bytes(self.arr()?)),
            TAG_U64 => Value::U64(u64::from_le_bytes(self.arr()?)),
            TAG_F32 => Value::F32(f32::from_le_bytes(self.arr()?)),
            TAG_F64 => Value::F64(f64::from_le_bytes(self.arr()?)),
            TAG_BOOL => match self.arr::<1>()?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                _ => return None,
            },
            TAG_STR => {
                let n = u32::from_le_bytes(self.arr()?) as usize;
                Value::Str(core::str::from_utf8(self.take(n)?).ok()?)
            }
            TAG_BYTES => {
                let n = u32::from_le_bytes(self.arr()?) as usize;
                Value::Bytes(self.take(n)?)
            }
            _ => return None,
        })
    }
    pub fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }
}

/// Decode a call: (function name, argument count, a reader positioned at the first argument).
pub fn decode_call(buf: &[u8]) -> Option<(&str, usize, Reader<'_>)> {
    let (name, argc, r) = decode_call_bytes(buf)?;
    Some((core::str::from_utf8(name).ok()?, argc, r))
}

/// `decode_call` with the name's bytes unchecked: for a lookup among known (valid UTF-8) names,
/// where a match proves the bytes valid (the guest's dispatch skips the UTF-8 pass).
pub fn decode_call_bytes(buf: &[u8]) -> Option<(&[u8], usize, Reader<'_>)> {
    let mut r = Reader::new(buf);
    let n = r.arr::<1>()?[0] as usize;
    let name = r.take(n)?;
    let argc = r.arr::<1>()?[0] as usize;
    Some((name, argc, r))
}

/// Most arguments a host function receives.
pub const MAX_HOST_ARGS: usize = 16;

/// A host function's error: a GUEST_* code (GUEST_USER_ERROR and up for its own) and a message
/// the guest receives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HostError<'a> {
    pub code: u64,
    pub message: &'a str,
}

pub type HostResult<'a> = Result<Value<'a>, HostError<'a>>;

/// Decode a guest's host call (`sb_host_call`) into its function name and `args`; returns the
/// name and the argument count, or the GUEST_* code and message the guest gets back. Any bytes
/// at all are answered, never a panic: the request comes from untrusted guest code.
pub fn decode_host_call<'r>(request: &'r [u8], args: &mut [Value<'r>; MAX_HOST_ARGS]) -> Result<(&'r str, usize), HostError<'static>> {
    let bad = |message| HostError { code: GUEST_BAD_ARGS, message };
    let (name, argc, mut r) = decode_call(request).ok_or(bad("malformed host call"))?;
    if argc > MAX_HOST_ARGS {
        return Err(bad("too many arguments for a host function"));
    }
    for a in args.iter_mut().take(argc) {
        *a = r.value().ok_or(bad("malformed host call arguments"))?;
    }
    if !r.at_end() {
        return Err(bad("trailing bytes after the host call's arguments"));
    }
    Ok((name, argc))
}

/// Encode a host function's answer (None: no function of that name) into `reply`; returns
/// (status, length) for `sb_host_reply`: 0 and the value, or a GUEST_* code and a string message.
pub fn encode_host_answer(reply: &mut [u8], answer: Option<HostResult>) -> (u64, usize) {
    let fail = |reply: &mut [u8], code: u64, msg: &str| {
        let mut w = Writer::new(reply);
        (code, w.value(&Value::Str(msg)).map_or(0, |_| w.len()))
    };
    match answer {
        None => fail(reply, GUEST_NO_SUCH_FUNCTION, "no such host function"),
        Some(Ok(v)) => {
            let mut w = Writer::new(reply);
            match w.value(&v) {
                Some(()) => (GUEST_OK, w.len()),
                None => fail(reply, GUEST_RESULT_TOO_LARGE, "host result too large"),
            }
        }
        Some(Err(e)) => fail(reply, if e.code == GUEST_OK { GUEST_USER_ERROR } else { e.code }, e.message),
    }
}

/// The host's whole side of a host call: decode `request`, ask `handler`, encode its answer.
pub fn serve_host_call(request: &[u8], reply: &mut [u8], handler: &mut dyn for<'r> FnMut(&'r str, &[Value<'r>]) -> Option<HostResult<'r>>) -> (u64, usize) {
    let mut args = [Value::Void; MAX_HOST_ARGS];
    let answer = match decode_host_call(request, &mut args) {
        Ok((name, n)) => handler(name, &args[..n]),
        Err(e) => Some(Err(e)),
    };
    encode_host_answer(reply, answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_round_trips_with_every_type() {
        let args = [Value::I32(-3), Value::U32(7), Value::I64(-1 << 40), Value::U64(u64::MAX), Value::F32(1.5), Value::F64(-2.25), Value::Bool(true), Value::Str("héllo"), Value::Bytes(&[1, 2, 3]), Value::Void];
        let mut buf = [0u8; 256];
        let n = encode_call(&mut buf, "sum", &args).unwrap();
        let (name, argc, mut r) = decode_call(&buf[..n]).unwrap();
        assert_eq!((name, argc), ("sum", args.len()));
        for a in &args {
            assert_eq!(r.value().as_ref(), Some(a));
        }
        assert!(r.at_end());
    }

    #[test]
    fn truncated_and_malformed_input_is_refused_never_panics() {
        let mut buf = [0u8; 64];
        let n = encode_call(&mut buf, "reverse", &[Value::Str("abc"), Value::Bool(false)]).unwrap();
        for cut in 0..n {
            if let Some((_, argc, mut r)) = decode_call(&buf[..cut]) {
                let mut ok = 0;
                while ok < argc && r.value().is_some() {
                    ok += 1;
                }
                assert!(ok < argc, "a truncated call decoded whole at {cut}");
            }
        }
        // A length past the end, a bad bool, an unknown tag, invalid UTF-8.
        for bad in [&[TAG_STR, 0xff, 0xff, 0xff, 0xff, b'a'][..], &[TAG_BOOL, 2], &[42], &[TAG_STR, 1, 0, 0, 0, 0xff]] {
            assert_eq!(Reader::new(bad).value(), None);
        }
        // A pseudo-random fuzz loop over the decoder.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut b = [0u8; 24];
            for v in b.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *v = (x % 12) as u8;
            }
            if let Some((_, argc, mut r)) = decode_call(&b) {
                for _ in 0..argc {
                    if r.value().is_none() {
                        break;
                    }
                }
            }
        }
    }

    #[test]
    fn shared_vector_matches_typescript() {
        // The same bytes are asserted in packages/deploy/src/hyperlight.test.ts.
        let hex = |b: &[u8]| b.iter().map(|x| format!("{:02x}", x)).collect::<String>();
        let mut buf = [0u8; 64];
        let n = encode_call(&mut buf, "sum", &[Value::I64(2), Value::I64(40)]).unwrap();
        assert_eq!(hex(&buf[..n]), "0373756d02030200000000000000032800000000000000");
        let n = encode_call(&mut buf, "reverse", &[Value::Str("hé"), Value::Bool(true)]).unwrap();
        assert_eq!(hex(&buf[..n]), "077265766572736502080300000068c3a90701");
    }

    #[test]
    fn encoding_past_the_buffer_fails() {
        let mut buf = [0u8; 8];
        assert_eq!(encode_call(&mut buf, "f", &[Value::Str("too long for eight bytes")]), None);
    }

    /// The fuzz loop of the sandbox boundary: a deterministic PRNG (splitmix64: no crates here)
    /// drives random and mutated buffers through the call decoder and the host-call path.
    /// Bounded (a fixed seed and count) so that it runs in CI in about a second, and replayable:
    /// a failure names its round.
    mod fuzz {
        use super::*;

        struct Rng(u64);
        impl Rng {
            fn next(&mut self) -> u64 {
                self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = self.0;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            }
            fn below(&mut self, n: u64) -> u64 {
                self.next() % n.max(1)
            }
        }

        const ROUNDS: u32 = 60_000;
        const STRS: [&str; 6] = ["", "a", "héllo", "日本語", "add", "\u{10ffff}x"];

        fn random_value<'a>(r: &mut Rng, bytes: &'a [u8]) -> Value<'a> {
            match r.below(10) {
                0 => Value::Void,
                1 => Value::I32(r.next() as i32),
                2 => Value::U32(r.next() as u32),
                3 => Value::I64(r.next() as i64),
                4 => Value::U64(r.next()),
                5 => Value::F32(f32::from_bits(r.next() as u32 & 0x7f7f_ffff)),
                6 => Value::F64(f64::from_bits(r.next() & 0x7fef_ffff_ffff_ffff)),
                7 => Value::Bool(r.next() & 1 == 1),
                8 => Value::Str(STRS[r.below(STRS.len() as u64) as usize]),
                _ => Value::Bytes(&bytes[..r.below(bytes.len() as u64 + 1) as usize]),
            }
        }

        /// Decode a whole call the way the guest's dispatch does; never panics.
        fn decode_all(buf: &[u8]) -> Option<usize> {
            let (_, argc, mut r) = decode_call(buf)?;
            for _ in 0..argc {
                r.value()?;
            }
            Some(argc)
        }

        /// The host's side, checked on every input: an answer that fits the reply buffer and
        /// decodes as exactly one value — the handler's (status 0) or a string message.
        fn serve_checked(round: u32, req: &[u8], reply: &mut [u8]) -> u64 {
            fn handler<'r>(name: &'r str, args: &[Value<'r>]) -> Option<HostResult<'r>> {
                match name {
                    "add" => Some(match args {
                        [Value::I64(a), Value::I64(b)] => Ok(Value::I64(a.wrapping_add(*b))),
                        _ => Err(HostError { code: GUEST_BAD_ARGS, message: "add: two i64" }),
                    }),
                    "echo" => Some(args.first().copied().ok_or(HostError { code: 0, message: "echo: one argument" })),
                    _ => None,
                }
            }
            let (status, len) = serve_host_call(req, reply, &mut handler);
            assert!(len <= reply.len(), "round {round}: reply length {len} past the buffer");
            let mut r = Reader::new(&reply[..len]);
            let v = r.value();
            assert!(r.at_end(), "round {round}: trailing bytes after the answer");
            if status != GUEST_OK {
                assert!(matches!(v, Some(Value::Str(_))) || len == 0, "round {round}: an error without a message: {v:?}");
                assert!(status != GUEST_OK, "round {round}");
            } else {
                assert!(v.is_some(), "round {round}: status 0 without a value");
            }
            status
        }

        #[test]
        fn random_buffers_never_panic_the_decoder_or_the_host_call_path() {
            let mut r = Rng(0x5eed_0026);
            let mut reply = [0u8; 512];
            let mut decoded = 0;
            for round in 0..ROUNDS {
                let len = r.below(96) as usize;
                let mut b = [0u8; 96];
                for v in b.iter_mut().take(len) {
                    // Small bytes half the time: valid tags and short lengths are likelier.
                    *v = if r.next() & 1 == 0 { r.below(12) as u8 } else { r.next() as u8 };
                }
                if decode_all(&b[..len]).is_some() {
                    decoded += 1;
                }
                serve_checked(round, &b[..len], &mut reply);
                // A reply buffer too small for any answer: the length is 0, never past it.
                let mut tiny = [0u8; 3];
                let (_, n) = serve_host_call(&b[..len], &mut tiny, &mut |_, _| None);
                assert!(n <= tiny.len(), "round {round}");
            }
            // The generator reaches the decoder's success paths, not only its first checks.
            assert!(decoded > 100, "only {decoded} random buffers decoded");
        }

        #[test]
        fn mutated_valid_calls_decode_to_the_same_values_or_are_refused() {
            let mut r = Rng(0x5eed_0027);
            let bytes = [0xa5u8; 40];
            let names = ["add", "echo", "missing", "", "日本"];
            let mut reply = [0u8; 512];
            let (mut ok, mut refused) = (0u32, 0u32);
            for round in 0..ROUNDS {
                let argc = r.below(5) as usize;
                let mut args = [Value::Void; 4];
                for a in args.iter_mut().take(argc) {
                    *a = random_value(&mut r, &bytes);
                }
                let name = names[r.below(names.len() as u64) as usize];
                let mut buf = [0u8; 256];
                let n = encode_call(&mut buf, name, &args[..argc]).expect("fits");
                // Unmutated: decodes to exactly what was encoded (NaN-free floats compare equal).
                let (dn, dargc, mut rd) = decode_call(&buf[..n]).expect("valid call");
                assert_eq!((dn, dargc), (name, argc), "round {round}");
                for a in &args[..argc] {
                    assert_eq!(rd.value().as_ref(), Some(a), "round {round}");
                }
                assert!(rd.at_end(), "round {round}");
                let status = serve_checked(round, &buf[..n], &mut reply);
                if name == "add" && argc == 2 && matches!(args[..2], [Value::I64(_), Value::I64(_)]) {
                    assert_eq!(status, GUEST_OK, "round {round}");
                }
                // Then mutate: flip bits, overwrite a byte, cut, or extend; the decoder answers.
                let mut m = buf;
                let mut mlen = n;
                for _ in 0..1 + r.below(3) {
                    match r.below(4) {
                        0 if mlen > 0 => { let i = r.below(mlen as u64) as usize; m[i] ^= 1 << r.below(8); }
                        1 if mlen > 0 => { let i = r.below(mlen as u64) as usize; m[i] = r.next() as u8; }
                        2 => mlen = r.below(mlen as u64 + 1) as usize,
                        _ => { let k = r.below(8) as usize; for v in m.iter_mut().skip(mlen).take(k) { *v = r.next() as u8; } mlen = (mlen + k).min(m.len()); }
                    }
                }
                match decode_all(&m[..mlen]) {
                    Some(_) => ok += 1,
                    None => refused += 1,
                }
                serve_checked(round, &m[..mlen], &mut reply);
            }
            assert!(ok > 1000 && refused > 1000, "mutations too tame or too wild: {ok} decoded, {refused} refused");
        }
    }
}
