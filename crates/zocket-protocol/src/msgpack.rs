//! The MessagePack codec: the v1 frames as MessagePack maps with string keys
//! (`{"type", "payload", "rpcId"?}`), in binary WebSocket messages.
//!
//! ```
//! use zocket_protocol::msgpack;
//!
//! let mut frame = Vec::new();
//! msgpack::write_reply(&mut frame, &[0xa1, b'7'], &"hi").unwrap(); // rpcId "7"
//! let back: std::collections::BTreeMap<String, String> = rmp_serde::from_slice(&frame).unwrap();
//! assert_eq!(back["type"], "__rpc_res");
//! assert_eq!(back["payload"], "hi");
//! assert_eq!(back["rpcId"], "7");
//! ```

use crate::{BadFrame, ERROR, EncodeError, ErrorPayload, Incoming, RPC_ERROR, RPC_RESULT};
use serde::Serialize;
use std::borrow::Cow;

/// How deeply arrays and maps may nest in a frame.
const MAX_DEPTH: u32 = 128;

/// How many arrays and maps a plain value may hold inside one another: what serde_json reads
/// of its JSON form (it refuses deeper nesting).
const JSON_NESTING: u32 = 127;

const NOT_A_MAP: &str = "a message must be a MessagePack map with a string \"type\"";

/// Reads one client frame: a map whose `type` is a string, `rpcId` (if any) a string.
pub fn decode(frame: &[u8]) -> Result<Incoming<'_>, BadFrame<'_>> {
    let bad = |message| BadFrame { rpc_id: None, message };
    let (count, mut at) = map_len(frame, 0).ok_or(bad(NOT_A_MAP))?;
    let (mut route, mut payload, mut rpc_id) = (None, None, None);
    for _ in 0..count {
        let key_end = value_end(frame, at, 0).ok_or(bad(NOT_A_MAP))?;
        let value_start = key_end;
        let end = value_end(frame, value_start, 0).ok_or(bad(NOT_A_MAP))?;
        let value = &frame[value_start..end];
        // The last of a repeated key wins, as in the JSON codec.
        match str_at(&frame[at..key_end]) {
            Some("type") => route = Some(value),
            Some("payload") => payload = Some(value),
            Some("rpcId") => rpc_id = Some(value),
            _ => {}
        }
        at = end;
    }
    if at != frame.len() {
        return Err(bad(NOT_A_MAP));
    }
    let rpc_id = match rpc_id {
        Some(raw) if str_at(raw).is_none() => return Err(bad("\"rpcId\" must be a string")),
        other => other,
    };
    let route = route.and_then(str_at).ok_or(BadFrame {
        rpc_id,
        message: "a message must have a string \"type\"",
    })?;
    Ok(Incoming {
        route: Cow::Borrowed(route),
        payload: payload.filter(|raw| *raw != [0xc0]),
        rpc_id,
    })
}

/// Appends a server event.
pub fn write_event<P: Serialize + ?Sized>(out: &mut Vec<u8>, route: &str, payload: &P) -> Result<(), EncodeError> {
    map(out, 2, route, payload)
}

/// Appends a call's success reply; `rpc_id` is the encoded string the call carried.
pub fn write_reply<P: Serialize + ?Sized>(out: &mut Vec<u8>, rpc_id: &[u8], payload: &P) -> Result<(), EncodeError> {
    map(out, 3, RPC_RESULT, payload)?;
    rpc_id_field(out, rpc_id);
    Ok(())
}

/// Appends a call's failure reply.
pub fn write_rpc_error(out: &mut Vec<u8>, rpc_id: &[u8], error: &ErrorPayload) {
    map(out, 3, RPC_ERROR, error).expect("an error payload always serializes");
    rpc_id_field(out, rpc_id);
}

/// Appends an `__error` frame.
pub fn write_error(out: &mut Vec<u8>, error: &ErrorPayload) {
    map(out, 2, ERROR, error).expect("an error payload always serializes");
}

/// Re-encodes one MessagePack value as JSON.
pub fn to_json(value: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(value.len() * 2);
    let mut from = rmp_serde::Deserializer::from_read_ref(value);
    serde_transcode::transcode(&mut from, &mut serde_json::Serializer::new(&mut out))?;
    Ok(out)
}

fn map<P: Serialize + ?Sized>(out: &mut Vec<u8>, len: u32, route: &str, payload: &P) -> Result<(), EncodeError> {
    // Writing into a Vec cannot fail.
    let _ = rmp::encode::write_map_len(out, len);
    let _ = rmp::encode::write_str(out, "type");
    let _ = rmp::encode::write_str(out, route);
    let _ = rmp::encode::write_str(out, "payload");
    payload.serialize(&mut rmp_serde::Serializer::new(&mut *out).with_struct_map())?;
    Ok(())
}

fn rpc_id_field(out: &mut Vec<u8>, rpc_id: &[u8]) {
    let _ = rmp::encode::write_str(out, "rpcId");
    out.extend_from_slice(rpc_id);
}

/// The entry count of the map at `at`, and where its first key starts.
fn map_len(b: &[u8], at: usize) -> Option<(usize, usize)> {
    match *b.get(at)? {
        m @ 0x80..=0x8f => Some(((m & 0x0f) as usize, at + 1)),
        0xde => Some((be(b, at + 1, 2)?, at + 3)),
        0xdf => Some((be(b, at + 1, 4)?, at + 5)),
        _ => None,
    }
}

/// The string a whole encoded value holds, if it is one (valid UTF-8).
fn str_at(value: &[u8]) -> Option<&str> {
    let mut at = 0;
    let body = str_body(value, &mut at)?;
    if at != value.len() {
        return None;
    }
    std::str::from_utf8(body).ok()
}

/// The bytes of the string whose marker is at `at` (`None` if it is no string or is cut
/// short), moving `at` past it. Not checked for UTF-8.
fn str_body<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let marker = *b.get(*at)?;
    *at += 1;
    let len = match marker {
        0xa0..=0xbf => (marker & 0x1f) as usize,
        0xd9 => length(b, at, 1)?,
        0xda => length(b, at, 2)?,
        0xdb => length(b, at, 4)?,
        _ => return None,
    };
    let body = b.get(*at..at.checked_add(len)?)?;
    *at += len;
    Some(body)
}

/// Whether `value` (one whole MessagePack value) reads the same as its JSON form: only nil,
/// booleans, integers, finite 64-bit floats, UTF-8 strings, arrays, and maps with string keys,
/// nested no deeper than serde_json reads JSON (127 arrays and maps).
/// (A 32-bit float's JSON form is its shortest decimal, 0.1 for the float nearest 0.1, which
/// reads as a different 64-bit float than the value itself. A 64-bit float read from its JSON
/// form may differ in its last bits, serde_json's parsing being fast rather than exact; read
/// directly, it is the float sent.)
///
/// A server may then read such a payload straight into a type instead of through [`to_json`].
///
/// ```
/// use zocket_protocol::msgpack;
///
/// let plain = rmp_serde::to_vec_named(&serde_json::json!({"a": [1, 2.5, "x", null]})).unwrap();
/// assert!(msgpack::is_plain(&plain));
/// assert!(!msgpack::is_plain(&[0x81, 0x01, 0x02])); // {1: 2}: an integer key
/// assert!(!msgpack::is_plain(&[0xc4, 0x01, 0x00])); // binary
/// ```
pub fn is_plain(value: &[u8]) -> bool {
    let mut at = 0;
    plain(value, &mut at, 0).is_some() && at == value.len()
}

/// Reads the plain value at `at` (see [`is_plain`]) and moves `at` past it; `None` if it is
/// not plain, is cut short or is too deep. One pass, no second look at what it skips.
fn plain(b: &[u8], at: &mut usize, depth: u32) -> Option<()> {
    let marker = *b.get(*at)?;
    if matches!(marker, 0xa0..=0xbf | 0xd9..=0xdb) {
        return plain_str(b, at);
    }
    *at += 1;
    let (items, is_map) = match marker {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => return Some(()),
        0xcc | 0xd0 => return skip(b, at, 1),
        0xcd | 0xd1 => return skip(b, at, 2),
        0xce | 0xd2 => return skip(b, at, 4),
        0xcf | 0xd3 => return skip(b, at, 8),
        0xcb => {
            let bits = u64::from_be_bytes(b.get(*at..*at + 8)?.try_into().ok()?);
            *at += 8;
            return f64::from_bits(bits).is_finite().then_some(());
        }
        0x90..=0x9f => ((marker & 0x0f) as usize, false),
        0x80..=0x8f => ((marker & 0x0f) as usize, true),
        0xdc | 0xde => (length(b, at, 2)?, marker == 0xde),
        0xdd | 0xdf => (length(b, at, 4)?, marker == 0xdf),
        // Binary, extensions, 32-bit floats, and the unused marker.
        _ => return None,
    };
    if depth >= JSON_NESTING {
        return None;
    }
    for _ in 0..items {
        if is_map {
            // Each key a string.
            plain_str(b, at)?;
        }
        plain(b, at, depth + 1)?;
    }
    Some(())
}

/// Reads the string at `at` (see [`str_body`]): valid UTF-8.
fn plain_str(b: &[u8], at: &mut usize) -> Option<()> {
    let body = str_body(b, at)?;
    (body.is_ascii() || std::str::from_utf8(body).is_ok()).then_some(())
}

/// Skips `n` bytes, if there are that many.
fn skip(b: &[u8], at: &mut usize, n: usize) -> Option<()> {
    let end = at.checked_add(n).filter(|&end| end <= b.len())?;
    *at = end;
    Some(())
}

/// Reads a big-endian length of `n` bytes.
fn length(b: &[u8], at: &mut usize, n: usize) -> Option<usize> {
    let len = be(b, *at, n)?;
    *at += n;
    Some(len)
}

/// A big-endian unsigned integer of `n` bytes at `at`.
fn be(b: &[u8], at: usize, n: usize) -> Option<usize> {
    let bytes = b.get(at..at + n)?;
    Some(bytes.iter().fold(0usize, |acc, &x| (acc << 8) | x as usize))
}

/// Where the value starting at `at` ends; `None` if it is cut short, malformed or too deep.
fn value_end(b: &[u8], at: usize, depth: u32) -> Option<usize> {
    if depth > MAX_DEPTH {
        return None;
    }
    let marker = *b.get(at)?;
    let i = at + 1;
    // (bytes after the marker before the body, body length, nested values)
    let (head, body, items): (usize, usize, usize) = match marker {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0, 0),
        0x80..=0x8f => (0, 0, 2 * (marker & 0x0f) as usize),
        0x90..=0x9f => (0, 0, (marker & 0x0f) as usize),
        0xa0..=0xbf => (0, (marker & 0x1f) as usize, 0),
        0xc4 | 0xd9 => (1, be(b, i, 1)?, 0),
        0xc5 | 0xda => (2, be(b, i, 2)?, 0),
        0xc6 | 0xdb => (4, be(b, i, 4)?, 0),
        0xc7 => (2, be(b, i, 1)?, 0),
        0xc8 => (3, be(b, i, 2)?, 0),
        0xc9 => (5, be(b, i, 4)?, 0),
        0xca | 0xce | 0xd2 => (0, 4, 0),
        0xcb | 0xcf | 0xd3 => (0, 8, 0),
        0xcc | 0xd0 => (0, 1, 0),
        0xcd | 0xd1 => (0, 2, 0),
        0xd4 => (1, 1, 0),
        0xd5 => (1, 2, 0),
        0xd6 => (1, 4, 0),
        0xd7 => (1, 8, 0),
        0xd8 => (1, 16, 0),
        0xdc => (2, 0, be(b, i, 2)?),
        0xdd => (4, 0, be(b, i, 4)?),
        0xde => (2, 0, 2 * be(b, i, 2)?),
        0xdf => (4, 0, 2 * be(b, i, 4)?),
        0xc1 => return None,
    };
    let mut end = i.checked_add(head)?.checked_add(body)?;
    if end > b.len() {
        return None;
    }
    for _ in 0..items {
        // Each nested value takes at least one byte, so this loop is bounded by the frame.
        end = value_end(b, end, depth + 1)?;
    }
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorCode, Issue};
    use serde_json::json;

    fn pack(value: &serde_json::Value) -> Vec<u8> {
        rmp_serde::to_vec_named(value).unwrap()
    }

    #[test]
    fn decodes_a_call_and_echoes_its_id() {
        let frame = pack(&json!({"type": "math.add", "payload": {"a": 1, "b": [2.5, "x"]}, "rpcId": "r-1"}));
        let msg = decode(&frame).unwrap();
        assert_eq!(msg.route, "math.add");
        assert_eq!(to_json(msg.payload.unwrap()).unwrap(), br#"{"a":1,"b":[2.5,"x"]}"#);
        let mut reply = Vec::new();
        write_reply(&mut reply, msg.rpc_id.unwrap(), &3.5).unwrap();
        let back: serde_json::Value = rmp_serde::from_slice(&reply).unwrap();
        assert_eq!(back, json!({"type": "__rpc_res", "payload": 3.5, "rpcId": "r-1"}));
    }

    #[test]
    fn nil_and_absent_payloads_are_none_and_the_last_key_wins() {
        assert!(decode(&pack(&json!({"type": "a"}))).unwrap().payload.is_none());
        assert!(
            decode(&pack(&json!({"type": "a", "payload": null})))
                .unwrap()
                .payload
                .is_none()
        );
        // {"type": "a", "type": "b"}, by hand: a map of two entries.
        let mut frame = vec![0x82];
        for route in ["a", "b"] {
            rmp::encode::write_str(&mut frame, "type").unwrap();
            rmp::encode::write_str(&mut frame, route).unwrap();
        }
        assert_eq!(decode(&frame).unwrap().route, "b");
    }

    #[test]
    fn bad_frames_keep_a_string_rpc_id_only() {
        let frame = pack(&json!({"type": 5, "rpcId": "x"}));
        let bad = decode(&frame).unwrap_err();
        assert_eq!(bad.rpc_id, Some(&[0xa1, b'x'][..]));
        for frame in [
            pack(&json!([1, 2])),
            pack(&json!("x")),
            pack(&json!({"type": "a", "rpcId": 5})),
            vec![],
            vec![0x81],
            vec![0xc1],
            vec![0x81, 0xa4, b't', b'y', b'p', b'e', 0xa1, b'a', 0x00],
            vec![0xdf, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(decode(&frame).unwrap_err().rpc_id.is_none(), "{frame:?}");
        }
    }

    #[test]
    fn plain_values_are_those_with_a_faithful_json_form() {
        let plain = json!({"a": [1, -2, 2.5, "x", null, true], "b": {"c": {}}, "d": []});
        assert!(is_plain(&pack(&plain)));
        for (bytes, why) in [
            (vec![0x81, 0x01, 0x02], "an integer key"),
            (vec![0x91, 0xc4, 0x01, 0x00], "binary in an array"),
            (vec![0xd4, 0x01, 0x00], "an extension"),
            (vec![0xa2, 0xff, 0xfe], "a string that is not UTF-8"),
            (vec![0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0], "NaN"),
            (vec![0xca, 0x3d, 0xcc, 0xcc, 0xcd], "a 32-bit float (0.1)"),
            (vec![0x92, 0x01], "an array cut short"),
            (vec![0x81, 0xa1, b'a'], "a map missing its value"),
            (vec![0xc1], "the unused marker"),
        ] {
            assert!(!is_plain(&bytes), "{why}");
        }
        // One value, whole: nothing may follow it.
        assert!(!is_plain(&[0x01, 0x02]));
        // As deep as serde_json reads the JSON form, and no deeper.
        for nesting in [JSON_NESTING as usize, JSON_NESTING as usize + 1] {
            let mut deep = vec![0x91; nesting];
            deep.push(0xc0);
            let json = to_json(&deep).unwrap();
            let reads = serde_json::from_slice::<serde_json::Value>(&json).is_ok();
            assert_eq!(is_plain(&deep), reads, "{nesting} arrays");
            assert_eq!(reads, nesting == JSON_NESTING as usize);
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut frame = vec![0x82, 0xa4, b't', b'y', b'p', b'e', 0xa1, b'a', 0xa7];
        frame.extend_from_slice(b"payload");
        frame.extend(std::iter::repeat_n(0x91, 10_000));
        frame.push(0xc0);
        assert!(decode(&frame).is_err());
    }

    #[test]
    fn errors_and_events_are_maps_with_string_keys() {
        let err = ErrorPayload {
            code: ErrorCode::InvalidInput,
            message: "invalid input".into(),
            route: Some("math.add".into()),
            issues: vec![Issue::new(["a"], "expected a number")],
        };
        let mut out = Vec::new();
        write_error(&mut out, &err);
        let back: serde_json::Value = rmp_serde::from_slice(&out).unwrap();
        assert_eq!(
            back,
            json!({"type": "__error", "payload": {"code": "INVALID_INPUT", "message": "invalid input",
                "route": "math.add", "issues": [{"path": ["a"], "message": "expected a number"}]}})
        );
        let mut out = Vec::new();
        write_event(&mut out, "chat.onMessage", &json!({"text": "hi"})).unwrap();
        let back: serde_json::Value = rmp_serde::from_slice(&out).unwrap();
        assert_eq!(back, json!({"type": "chat.onMessage", "payload": {"text": "hi"}}));
    }
}
