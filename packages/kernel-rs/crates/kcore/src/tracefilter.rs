//! The trace filter: a small predicate language over trace record fields, compiled to a
//! straight-line stack program and verified before the kernel arms it (eBPF's contract on a
//! much smaller scale: bounded size, no jumps so no loops, a stack that provably never under- or
//! overflows). It runs on every record before the record is written.
//!
//! ```text
//! expr   := and ('||' and)*
//! and    := unary ('&&' unary)*
//! unary  := '!' unary | '(' expr ')' | field op value
//! field  := kind | task | flags | a | b | c | nr (= a) | to (= a) | result (= b) | reason (= b)
//! op     := == | != | < | <= | > | >=
//! value  := decimal | 0xHEX | -decimal | a kind or group name (only after `kind == / !=`:
//!           switch, sys_enter, …, syscall, ipc, lifecycle)
//! ```
//! e.g. `kind == syscall && nr >= 0x1000 || task == 3`. Comparisons are unsigned on the 64-bit
//! field (a negative constant is its two's complement: `result == -6`).
use crate::trace::{kind, Record};

/// At most this many instructions (a 512-byte request cannot say much more anyway).
pub const MAX_INSNS: usize = 48;
/// At most this deep an evaluation stack (and parentheses nest at most this deep).
pub const MAX_STACK: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Field {
    Kind = 0,
    Task,
    Flags,
    A,
    B,
    C,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insn {
    /// Push `field op value`.
    Cmp(Field, Op, u64),
    /// Push whether the record's kind is in the mask.
    KindIn(u32),
    And,
    Or,
    Not,
}

/// A verified program: only `compile` makes one.
#[derive(Clone, Copy, Debug)]
pub struct Filter {
    insns: [Insn; MAX_INSNS],
    len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// Byte offset in the source where it went wrong.
    pub at: usize,
    pub what: &'static str,
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    out: [Insn; MAX_INSNS],
    len: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, what: &'static str) -> FilterError {
        FilterError { at: self.pos, what }
    }
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }
    fn eat(&mut self, tok: &str) -> bool {
        self.skip_ws();
        if self.s[self.pos..].starts_with(tok.as_bytes()) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }
    fn emit(&mut self, i: Insn) -> Result<(), FilterError> {
        if self.len == MAX_INSNS {
            return Err(self.err("filter too long (at most 48 operations)"));
        }
        self.out[self.len] = i;
        self.len += 1;
        Ok(())
    }
    fn word(&mut self) -> &'a str {
        self.skip_ws();
        let start = self.pos;
        while self.pos < self.s.len() && (self.s[self.pos].is_ascii_alphanumeric() || self.s[self.pos] == b'_' || (self.pos == start && self.s[self.pos] == b'-')) {
            self.pos += 1;
        }
        // Only ASCII bytes were taken: valid UTF-8.
        core::str::from_utf8(&self.s[start..self.pos]).unwrap_or("")
    }
    fn expr(&mut self, depth: usize) -> Result<(), FilterError> {
        self.and(depth)?;
        while self.eat("||") {
            self.and(depth)?;
            self.emit(Insn::Or)?;
        }
        Ok(())
    }
    fn and(&mut self, depth: usize) -> Result<(), FilterError> {
        self.unary(depth)?;
        while self.eat("&&") {
            self.unary(depth)?;
            self.emit(Insn::And)?;
        }
        Ok(())
    }
    fn unary(&mut self, depth: usize) -> Result<(), FilterError> {
        if depth >= MAX_STACK {
            return Err(self.err("nested too deep"));
        }
        if self.eat("!=") {
            return Err(self.err("expected a comparison"));
        }
        if self.eat("!") {
            self.unary(depth + 1)?;
            return self.emit(Insn::Not);
        }
        if self.eat("(") {
            self.expr(depth + 1)?;
            if !self.eat(")") {
                return Err(self.err("expected `)`"));
            }
            return Ok(());
        }
        self.cmp()
    }
    fn cmp(&mut self) -> Result<(), FilterError> {
        let at = { self.skip_ws(); self.pos };
        let field = match self.word() {
            "kind" => Field::Kind,
            "task" => Field::Task,
            "flags" => Field::Flags,
            "a" | "nr" | "to" => Field::A,
            "b" | "result" | "reason" => Field::B,
            "c" => Field::C,
            "" => return Err(FilterError { at, what: "expected a field (kind, task, flags, a, b, c, nr, to, result, reason)" }),
            _ => return Err(FilterError { at, what: "unknown field (kind, task, flags, a, b, c, nr, to, result, reason)" }),
        };
        // Two-byte operators first.
        let op = if self.eat("==") {
            Op::Eq
        } else if self.eat("!=") {
            Op::Ne
        } else if self.eat("<=") {
            Op::Le
        } else if self.eat(">=") {
            Op::Ge
        } else if self.eat("<") {
            Op::Lt
        } else if self.eat(">") {
            Op::Gt
        } else {
            return Err(self.err("expected a comparison operator (== != < <= > >=)"));
        };
        let vat = { self.skip_ws(); self.pos };
        let w = self.word();
        if w.is_empty() {
            return Err(FilterError { at: vat, what: "expected a value" });
        }
        if let Some(v) = number(w) {
            return self.emit(Insn::Cmp(field, op, v));
        }
        if field != Field::Kind || !matches!(op, Op::Eq | Op::Ne) {
            return Err(FilterError { at: vat, what: "expected a number (names only in kind == NAME or kind != NAME)" });
        }
        let Some(mask) = kind::mask_of(w) else { return Err(FilterError { at: vat, what: "unknown event kind" }) };
        self.emit(Insn::KindIn(mask))?;
        if op == Op::Ne {
            self.emit(Insn::Not)?;
        }
        Ok(())
    }
}

fn number(w: &str) -> Option<u64> {
    if let Some(h) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        return u64::from_str_radix(h, 16).ok();
    }
    if let Some(d) = w.strip_prefix('-') {
        return d.parse::<u64>().ok().filter(|v| *v <= i64::MAX as u64).map(|v| (v as i64).wrapping_neg() as u64);
    }
    if w.as_bytes()[0].is_ascii_digit() {
        return w.parse::<u64>().ok();
    }
    None
}

/// Parse and verify `src`. The program is checked again after parsing (`verify`), so an
/// evaluation can never run off its stack whatever the parser did.
pub fn compile(src: &str) -> Result<Filter, FilterError> {
    if src.len() > 400 {
        return Err(FilterError { at: 400, what: "filter too long (at most 400 bytes)" });
    }
    let mut p = Parser { s: src.as_bytes(), pos: 0, out: [Insn::Not; MAX_INSNS], len: 0 };
    p.expr(0)?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(p.err("unexpected text (expected && or ||)"));
    }
    let f = Filter { insns: p.out, len: p.len };
    verify(&f.insns[..f.len]).map_err(|what| FilterError { at: 0, what })?;
    Ok(f)
}

/// The verifier: straight-line code whose stack stays within 1..=MAX_STACK and ends at exactly
/// one value.
pub fn verify(insns: &[Insn]) -> Result<(), &'static str> {
    if insns.is_empty() || insns.len() > MAX_INSNS {
        return Err("empty or too long program");
    }
    let mut depth = 0usize;
    for i in insns {
        depth = match i {
            Insn::Cmp(..) | Insn::KindIn(_) => depth + 1,
            Insn::Not if depth >= 1 => depth,
            Insn::And | Insn::Or if depth >= 2 => depth - 1,
            _ => return Err("stack underflow"),
        };
        if depth > MAX_STACK {
            return Err("stack overflow");
        }
    }
    if depth != 1 {
        return Err("program leaves more than one value");
    }
    Ok(())
}

impl Filter {
    pub fn insns(&self) -> &[Insn] {
        &self.insns[..self.len]
    }

    /// Whether `r` passes. Straight-line: at most MAX_INSNS steps. The stack is a word of bits
    /// with the top at bit 0 (the verifier keeps it within MAX_STACK < 64).
    #[inline(always)]
    pub fn eval(&self, r: &Record) -> bool {
        let field = |f: Field| match f {
            Field::Kind => r.kind as u64,
            Field::Task => r.task as u64,
            Field::Flags => r.flags as u64,
            Field::A => r.a,
            Field::B => r.b,
            Field::C => r.c,
        };
        let cmp = |x: u64, op: Op, v: u64| match op {
            Op::Eq => x == v,
            Op::Ne => x != v,
            Op::Lt => x < v,
            Op::Le => x <= v,
            Op::Gt => x > v,
            Op::Ge => x >= v,
        };
        // The commonest filter, one comparison, without the interpreter.
        if let (1, Insn::Cmp(f, op, v)) = (self.len, self.insns[0]) {
            return cmp(field(f), op, v);
        }
        let mut stack = 0u64;
        for i in &self.insns[..self.len] {
            stack = match *i {
                Insn::Cmp(f, op, v) => stack << 1 | cmp(field(f), op, v) as u64,
                Insn::KindIn(m) => stack << 1 | ((m as u64) >> (r.kind & 31) & (r.kind < 32) as u64),
                Insn::Not => stack ^ 1,
                Insn::And => (stack >> 2) << 1 | (stack & stack >> 1 & 1),
                Insn::Or => (stack >> 2) << 1 | ((stack | stack >> 1) & 1),
            };
        }
        stack & 1 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::kind::*;

    fn rec(k: u16, task: u32, a: u64, b: u64) -> Record {
        Record { kind: k, task, a, b, ..Default::default() }
    }

    #[test]
    fn precedence_and_groups() {
        let f = compile("kind == syscall && nr >= 0x1000 || task == 3").unwrap();
        assert!(f.eval(&rec(SYS_ENTER, 1, 0x1003, 0)));
        assert!(f.eval(&rec(SYS_EXIT, 1, 0x1005, 0)));
        assert!(!f.eval(&rec(SYS_ENTER, 1, 0x27, 0)));
        assert!(!f.eval(&rec(SWITCH, 1, 0x2000, 0)));
        assert!(f.eval(&rec(SWITCH, 3, 0, 0)));
    }

    #[test]
    fn parentheses_not_and_negatives() {
        let f = compile("!(kind == switch || kind == irq) && (result == -6 || task != 2)").unwrap();
        assert!(!f.eval(&rec(SWITCH, 1, 0, 0)));
        assert!(f.eval(&rec(SYS_EXIT, 2, 0, (-6i64) as u64)));
        assert!(!f.eval(&rec(SYS_EXIT, 2, 0, 0)));
        assert!(f.eval(&rec(IPC_CALL, 1, 0, 0)));
        let g = compile("kind != ipc").unwrap();
        assert!(!g.eval(&rec(IPC_REPLY, 1, 0, 0)));
        assert!(g.eval(&rec(SWITCH, 1, 0, 0)));
        assert!(compile("kind == 0").unwrap().eval(&rec(0, 0, 0, 0)));
    }

    #[test]
    fn refuses_bad_filters() {
        for (src, what) in [
            ("", "expected a field"),
            ("kind ==", "expected a value"),
            ("kind = switch", "expected a comparison operator"),
            ("bogus == 1", "unknown field"),
            ("kind == nope", "unknown event kind"),
            ("task == switch", "expected a number"),
            ("task == 1 &&", "expected a field"),
            ("(task == 1", "expected `)`"),
            ("task == 1 task == 2", "unexpected text"),
            ("task < 0xZZ", "expected a number"),
        ] {
            let e = compile(src).unwrap_err();
            assert!(e.what.starts_with(what), "{src}: {e:?}");
        }
        let deep = "(".repeat(20) + "task == 1" + &")".repeat(20);
        assert_eq!(compile(&deep).unwrap_err().what, "nested too deep");
        let long = ["task == 1"; 30].join(" || ");
        assert!(compile(&long).unwrap_err().what.starts_with("filter too long"));
        assert!(compile(&"x".repeat(500)).is_err());
    }

    #[test]
    fn verifier_rejects_bad_programs() {
        assert!(verify(&[Insn::And]).is_err());
        assert!(verify(&[Insn::KindIn(1), Insn::Not, Insn::Or]).is_err());
        assert!(verify(&[Insn::KindIn(1), Insn::KindIn(1)]).is_err());
        assert!(verify(&[Insn::KindIn(1); 17]).is_err());
        assert!(verify(&[]).is_err());
        assert!(verify(&[Insn::KindIn(1), Insn::KindIn(2), Insn::Or, Insn::Not]).is_ok());
    }

    #[test]
    fn longest_right_nested_program_stays_in_the_stack() {
        // a && (b && (c && …)) pushes one value per level: bounded by the nesting limit.
        let mut s = alloc_string();
        for _ in 0..14 {
            s.push_str("task == 1 && (");
        }
        s.push_str("task == 1");
        s.push_str(&")".repeat(14));
        let f = compile(&s).unwrap();
        assert!(f.eval(&rec(SWITCH, 1, 0, 0)));
        assert!(!f.eval(&rec(SWITCH, 2, 0, 0)));
    }

    #[test]
    fn random_sources_never_panic_and_every_accepted_program_verifies() {
        // A deterministic fuzz run over the language's own tokens and stray bytes: the kernel
        // compiles whatever the host sends, so nothing may panic, and whatever compiles must
        // pass the verifier and evaluate.
        const TOKENS: [&str; 24] = ["kind", "task", "nr", "result", "c", "==", "!=", "<", "<=", ">", ">=", "&&", "||", "!", "(", ")", "syscall", "ipc_call", "0x1000", "-6", "3", " ", "\u{e9}", "=="];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut src = String::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for _ in 0..(x % 24) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                src.push_str(TOKENS[(x % TOKENS.len() as u64) as usize]);
                if x & 0x100 != 0 {
                    src.push(' ');
                }
            }
            if let Ok(f) = compile(&src) {
                accepted += 1;
                verify(f.insns()).unwrap();
                let _ = f.eval(&rec(SYS_ENTER, 3, 0x1003, 0));
            }
        }
        assert!(accepted > 0);
    }

    fn alloc_string() -> String {
        String::new()
    }
}
