//! The JSON codec: frames built by hand into one string, and a single forward scan over received
//! frames that notes where the interesting members are without building a tree.

use std::fmt::Write;

use super::{Frame, Kind, Payload, Value};

/// Builds a frame's JSON text.
pub(super) fn encode(route: &str, payload: &[(&str, Value<'_>)], rpc_id: Option<&str>) -> String {
    let mut out = String::with_capacity(96);
    out.push_str("{\"type\":");
    push_str(&mut out, route);
    out.push_str(",\"payload\":{");
    for (i, (key, value)) in payload.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(&mut out, key);
        out.push(':');
        match *value {
            Value::Str(s) => push_str(&mut out, s),
            Value::Int(n) => write!(out, "{n}").expect("writing to a String"),
            // Display prints the shortest text that reads back as the same f64, never an exponent.
            Value::Float(f) if f.is_finite() => write!(out, "{f}").expect("writing to a String"),
            Value::Float(_) => out.push_str("null"),
        }
    }
    out.push('}');
    if let Some(id) = rpc_id {
        out.push_str(",\"rpcId\":");
        push_str(&mut out, id);
    }
    out.push('}');
    out
}

/// Appends `s` as a JSON string.
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32).expect("writing to a String"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Reads a received frame.
pub(super) fn decode(bytes: &[u8]) -> Option<Frame<'_>> {
    let mut route = None;
    let mut rpc_id = None;
    let mut payload = None;
    Scanner::new(bytes).members(|key, value| match (key, value) {
        (b"type", Json::Str(s)) => route = Some(s),
        (b"rpcId", Json::Str(s)) => rpc_id = Some(s),
        (b"payload", v) => payload = Some(v),
        _ => {}
    })?;
    let payload = match payload {
        Some(Json::Object(raw)) => {
            let mut p = Payload::default();
            Scanner::new(raw).members(|key, value| match (key, value) {
                (b"seq", Json::Other(n)) => p.seq = number(n),
                (b"ts", Json::Other(n)) => p.ts = number(n),
                (b"data", Json::Str(s)) => p.data = Some(s),
                _ => {}
            })?;
            p
        }
        Some(Json::Other(b"true")) => Payload {
            is_true: true,
            ..Payload::default()
        },
        _ => Payload::default(),
    };
    Some(Frame {
        kind: Kind::of(route),
        rpc_id,
        payload,
    })
}

fn number<T: std::str::FromStr>(raw: &[u8]) -> Option<T> {
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// A JSON value as the scanner saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Json<'a> {
    /// A string's raw content, between the quotes.
    Str(&'a [u8]),
    /// An object, braces included.
    Object(&'a [u8]),
    /// Anything else: a number, `true`, `false`, `null` or an array.
    Other(&'a [u8]),
}

/// A forward scan over JSON text that skips values by their delimiters. It trusts well-formed input
/// (brackets are counted, not matched) and fails (`None`) on anything it cannot step over.
struct Scanner<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn new(s: &'a [u8]) -> Self {
        Self { s, i: 0 }
    }

    fn skip_ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match *self.s.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(&self.s[start..self.i - 1]);
                }
                b'\\' => self.i += 2,
                _ => self.i += 1,
            }
        }
    }

    fn value(&mut self) -> Option<Json<'a>> {
        let first = self.peek()?;
        let start = self.i;
        match first {
            b'"' => self.string().map(Json::Str),
            open @ (b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    match *self.s.get(self.i)? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
                let raw = &self.s[start..self.i];
                Some(if open == b'{' {
                    Json::Object(raw)
                } else {
                    Json::Other(raw)
                })
            }
            _ => {
                while let Some(c) = self.s.get(self.i) {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                        break;
                    }
                    self.i += 1;
                }
                (self.i > start).then(|| Json::Other(&self.s[start..self.i]))
            }
        }
    }

    /// Calls `f` with each member of the object at the cursor.
    fn members(&mut self, mut f: impl FnMut(&'a [u8], Json<'a>)) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            let value = self.value()?;
            f(key, value);
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_compact_json() {
        let text = encode(
            "bench.roomShout",
            &[
                ("room", Value::Str("room3")),
                ("ts", Value::Float(1.5)),
                ("n", Value::Int(-2)),
            ],
            None,
        );
        assert_eq!(
            text,
            r#"{"type":"bench.roomShout","payload":{"room":"room3","ts":1.5,"n":-2}}"#
        );
        let call = encode("bench.echo", &[("data", Value::Str("a\"b\\c\n"))], Some("12"));
        assert_eq!(
            call,
            r#"{"type":"bench.echo","payload":{"data":"a\"b\\c\u000a"},"rpcId":"12"}"#
        );
        let v: serde_json::Value = serde_json::from_str(&call).unwrap();
        assert_eq!(v["payload"]["data"], "a\"b\\c\n");
    }

    #[test]
    fn floats_read_back_exactly() {
        for f in [0.0, 1.0, 1234.5678901234, 1e-7, 98765432.123] {
            let text = encode("x", &[("ts", Value::Float(f))], None);
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["payload"]["ts"].as_f64(), Some(f), "{text}");
            assert_eq!(decode(text.as_bytes()).unwrap().payload.ts, Some(f));
        }
    }

    #[test]
    fn members_are_found_in_any_order_with_whitespace_and_nesting() {
        let text = br#" { "payload" : { "extra": {"a": [1, {"b": "}"}]}, "data" : "c3-9", "seq" : 9 } ,
            "other": [ "]", {"x": null} ], "rpcId": "9", "type": "__rpc_res" } "#;
        let frame = decode(text).unwrap();
        assert_eq!(frame.kind, Kind::Reply);
        assert_eq!(frame.rpc_id, Some(&b"9"[..]));
        assert_eq!(frame.payload.seq, Some(9));
        assert_eq!(frame.payload.data, Some(&b"c3-9"[..]));
        assert!(!frame.payload.is_true);
    }

    #[test]
    fn escaped_quotes_do_not_end_strings() {
        let frame = decode(br#"{"type":"bench.shouted","payload":{"data":"say \"hi\" \\","ts":3}}"#).unwrap();
        assert_eq!(frame.kind, Kind::Shouted);
        assert_eq!(frame.payload.data, Some(&br#"say \"hi\" \\"#[..]));
        assert_eq!(frame.payload.ts, Some(3.0));
    }

    #[test]
    fn literal_payloads() {
        let join = decode(br#"{"type":"__rpc_res","payload":true,"rpcId":"j"}"#).unwrap();
        assert!(join.payload.is_true);
        let null = decode(br#"{"type":"__rpc_res","payload":null,"rpcId":"j"}"#).unwrap();
        assert_eq!(null.payload, Payload::default());
        let err = decode(br#"{"type":"__error","payload":{"code":"NOT_FOUND","message":"x"}}"#).unwrap();
        assert_eq!(err.kind, Kind::Error);
        assert_eq!(err.rpc_id, None);
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            &b""[..],
            b"[]",
            b"{",
            b"{\"type\"",
            b"{\"type\":\"x\" \"a\":1}",
            b"{\"a\":}",
            b"\"str\"",
        ] {
            assert_eq!(decode(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(decode(b"{}").unwrap().kind, Kind::Other);
    }
}
