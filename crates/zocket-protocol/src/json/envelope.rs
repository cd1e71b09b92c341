//! One forward pass over a JSON frame that checks it is well-formed JSON and picks out the raw
//! `type`, `payload` and `rpcId` values of its top-level object, without building anything.
//!
//! It accepts what `JSON.parse` accepts (RFC 8259: no trailing commas, no comments, strict
//! numbers and escapes, valid UTF-8) at any depth, with no recursion and no allocation below 64
//! levels of nesting. The fuzz target `protocol` holds it to serde_json's `Value` parser.

/// The raw values of the three fields; a repeated key keeps its last value, as `JSON.parse`
/// does, and a `null` value reads as absent.
#[derive(Debug, Default)]
pub(super) struct Fields<'a> {
    pub(super) route: Option<Token<'a>>,
    pub(super) payload: Option<&'a [u8]>,
    pub(super) rpc_id: Option<&'a [u8]>,
}

/// A raw JSON value, and whether it is a string holding escapes (so it must be unescaped).
#[derive(Debug, Clone, Copy)]
pub(super) struct Token<'a> {
    pub(super) raw: &'a [u8],
    pub(super) escaped: bool,
}

impl Token<'_> {
    pub(super) fn is_string(&self) -> bool {
        self.raw.first() == Some(&b'"')
    }
}

/// The fields of a frame, or `None` if it is not one well-formed JSON object.
pub(super) fn scan(frame: &[u8]) -> Option<Fields<'_>> {
    let mut s = Scanner { bytes: frame, at: 0 };
    let mut fields = Fields::default();
    s.skip_whitespace();
    s.expect(b'{')?;
    s.skip_whitespace();
    if s.peek() == Some(b'}') {
        s.at += 1;
    } else {
        loop {
            s.skip_whitespace();
            let key = s.string()?;
            s.skip_whitespace();
            s.expect(b':')?;
            s.skip_whitespace();
            let value = s.value()?;
            match Key::of(key)? {
                Key::Type => fields.route = non_null(value.raw).map(|_| value),
                Key::Payload => fields.payload = non_null(value.raw),
                Key::RpcId => fields.rpc_id = non_null(value.raw),
                Key::Other => {}
            }
            s.skip_whitespace();
            match s.next()? {
                b',' => {}
                b'}' => break,
                _ => return None,
            }
        }
    }
    s.skip_whitespace();
    (s.at == frame.len()).then_some(fields)
}

fn non_null(raw: &[u8]) -> Option<&[u8]> {
    (raw != b"null").then_some(raw)
}

enum Key {
    Type,
    Payload,
    RpcId,
    Other,
}

impl Key {
    /// The field a key names; `None` if it holds an escape that does not decode (as
    /// `JSON.parse` refuses a lone surrogate in a key).
    fn of(key: Token<'_>) -> Option<Self> {
        let name = |name: &[u8]| match name {
            b"type" => Self::Type,
            b"payload" => Self::Payload,
            b"rpcId" => Self::RpcId,
            _ => Self::Other,
        };
        if key.escaped {
            let unescaped: String = serde_json::from_slice(key.raw).ok()?;
            Some(name(unescaped.as_bytes()))
        } else {
            Some(name(&key.raw[1..key.raw.len() - 1]))
        }
    }
}

/// Whether the innermost open container is an object or an array: a bit per level for the
/// first 64 levels, a vector past them.
#[derive(Default)]
struct Nesting {
    depth: usize,
    bits: u64,
    deeper: Vec<bool>,
}

impl Nesting {
    fn push(&mut self, object: bool) {
        if self.depth < 64 {
            self.bits = (self.bits & !(1 << self.depth)) | (u64::from(object) << self.depth);
        } else {
            self.deeper.push(object);
        }
        self.depth += 1;
    }

    /// `Some(true)` in an object, `Some(false)` in an array, `None` at the top.
    fn innermost(&self) -> Option<bool> {
        let level = self.depth.checked_sub(1)?;
        Some(if level < 64 {
            self.bits >> level & 1 == 1
        } else {
            self.deeper[level - 64]
        })
    }

    fn pop(&mut self) {
        self.depth -= 1;
        if self.depth >= 64 {
            self.deeper.pop();
        }
    }
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.at += 1;
        }
    }

    /// One whole value (nested ones included), from its first byte.
    fn value(&mut self) -> Option<Token<'a>> {
        let start = self.at;
        let mut escaped = false;
        let mut nesting = Nesting::default();
        loop {
            // At the start of a value.
            match self.peek()? {
                open @ (b'{' | b'[') => {
                    self.at += 1;
                    self.skip_whitespace();
                    let object = open == b'{';
                    if self.peek() == Some(if object { b'}' } else { b']' }) {
                        self.at += 1;
                    } else {
                        nesting.push(object);
                        if object {
                            self.member_key()?;
                        }
                        continue;
                    }
                }
                b'"' => escaped = self.string()?.escaped,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return None,
            }
            // After a value: close what it ends, or go on to the next one.
            loop {
                let Some(object) = nesting.innermost() else {
                    return Some(Token {
                        raw: &self.bytes[start..self.at],
                        escaped,
                    });
                };
                self.skip_whitespace();
                match self.next()? {
                    b',' => {
                        if object {
                            self.skip_whitespace();
                            self.member_key()?;
                        } else {
                            self.skip_whitespace();
                        }
                        break;
                    }
                    b'}' if object => nesting.pop(),
                    b']' if !object => nesting.pop(),
                    _ => return None,
                }
            }
        }
    }

    /// `"key" :` inside an object, up to the start of the member's value.
    fn member_key(&mut self) -> Option<()> {
        self.string()?;
        self.skip_whitespace();
        self.expect(b':')?;
        self.skip_whitespace();
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.digit()?;
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.digit()?;
            self.digits();
        }
        Some(())
    }

    fn digit(&mut self) -> Option<()> {
        self.next()?.is_ascii_digit().then_some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    /// A string, quotes included: escapes well-formed, no control characters, valid UTF-8.
    fn string(&mut self) -> Option<Token<'a>> {
        let start = self.at;
        self.expect(b'"')?;
        // Most strings are one plain run up to their closing quote.
        self.at += plain_run(&self.bytes[self.at..]);
        if self.peek() == Some(b'"') {
            self.at += 1;
            return Some(Token {
                raw: &self.bytes[start..self.at],
                escaped: false,
            });
        }
        let mut escaped = false;
        let mut ascii = true;
        loop {
            self.at += plain_run(&self.bytes[self.at..]);
            match self.next()? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    match self.next()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            for _ in 0..4 {
                                self.next()?.is_ascii_hexdigit().then_some(())?;
                            }
                        }
                        _ => return None,
                    }
                }
                0..0x20 => return None,
                _ => ascii = false,
            }
        }
        let raw = &self.bytes[start..self.at];
        if !ascii {
            std::str::from_utf8(raw).ok()?;
        }
        Some(Token { raw, escaped })
    }
}

/// How many bytes at the start of `bytes` are printable ASCII other than `"` and `\`: the
/// run a string's scan skips in one go, eight bytes per step.
fn plain_run(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let mut run = 0;
    while let Some(chunk) = bytes.get(run..run + 8) {
        let mut eight = [0; 8];
        eight.copy_from_slice(chunk);
        let x = u64::from_le_bytes(eight);
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        // A high bit per byte that is `"`, `\`, below 0x20 or above 0x7f; the lowest one is
        // exact (a borrow only ever sets bits above a byte that really matches).
        let special = (quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash
            | x.wrapping_sub(ONES * 0x20) & !x
            | x)
            & HIGH;
        if special != 0 {
            return run + (special.trailing_zeros() / 8) as usize;
        }
        run += 8;
    }
    run + bytes[run..]
        .iter()
        .take_while(|&&b| (0x20..0x80).contains(&b) && b != b'"' && b != b'\\')
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> bool {
        let mut s = Scanner {
            bytes: text.as_bytes(),
            at: 0,
        };
        s.skip_whitespace();
        s.value().is_some() && {
            s.skip_whitespace();
            s.at == text.len()
        }
    }

    #[test]
    fn accepts_what_json_accepts() {
        for text in [
            "0",
            "-0",
            "1.5e+3",
            "-12.25E-2",
            "true",
            "false",
            "null",
            r#""""#,
            r#""a\"\\\/\b\f\n\r\t\u00e9z""#,
            "\"é ✓ 😀\"",
            "[]",
            "{}",
            "[1, [2, [3, {}]], {\"a\": [ ]}]",
            " { \"a\" : 1 , \"b\" : [ true ] } ",
        ] {
            assert!(ok(text), "{text}");
            assert!(serde_json::from_str::<serde_json::Value>(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn refuses_what_json_refuses() {
        for text in [
            "",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "1e+",
            "+1",
            "tru",
            "nul",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{1:2}",
            "[1 2]",
            "\"\\x\"",
            "\"\\u12g4\"",
            "\"a\u{1}\"",
            "\"abc",
            "[",
            "{",
            "]",
            "[}",
            "{]",
            "{\"a\":}",
            "NaN",
            "[1]]",
        ] {
            assert!(!ok(text), "{text:?}");
            assert!(serde_json::from_str::<serde_json::Value>(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn nesting_past_64_levels_is_tracked() {
        let deep = format!("{}{}", "[{\"a\":".repeat(100), "}]".repeat(100));
        assert!(!ok(&deep));
        let deep = format!("{}1{}", "[{\"a\":".repeat(100), "}]".repeat(100));
        assert!(ok(&deep));
        let crossed = format!("{}1{}", "[".repeat(70), "}".repeat(70));
        assert!(!ok(&crossed));
    }

    #[test]
    fn plain_runs_stop_at_the_first_special_byte() {
        let plain = "abcdefghijklmnopqrstuvwxyz 0123456789";
        for special in ["\"", "\\", "\u{1f}", "\u{7f}é", "\n"] {
            for at in 0..plain.len() {
                let text = format!("{}{special}{}", &plain[..at], &plain[at..]);
                let expected = if special.starts_with('\u{7f}') { at + 1 } else { at };
                assert_eq!(plain_run(text.as_bytes()), expected, "{text:?}");
            }
        }
        assert_eq!(plain_run(plain.as_bytes()), plain.len());
        assert_eq!(plain_run(b""), 0);
    }

    #[test]
    fn invalid_utf8_in_a_string_is_refused() {
        let mut s = Scanner {
            bytes: b"\"a\xff\"",
            at: 0,
        };
        assert!(s.string().is_none());
    }
}
