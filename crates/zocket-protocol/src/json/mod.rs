//! The JSON codec of the v1 protocol: what the original Zocket client speaks.

mod envelope;

use crate::{BadFrame, ERROR, EncodeError, ErrorPayload, Incoming, RPC_ERROR, RPC_RESULT};
use envelope::Token;
use serde::Serialize;
use std::borrow::Cow;

/// Reads one client frame.
///
/// Binary frames are read the same way as text frames: as UTF-8 JSON.
///
/// ```
/// use zocket_protocol::json;
/// let bad = json::decode(br#"{"type":5,"rpcId":"1"}"#).unwrap_err();
/// assert_eq!(bad.rpc_id.unwrap(), br#""1""#);
/// assert!(json::decode(b"[1,2]").unwrap_err().rpc_id.is_none());
/// ```
pub fn decode(frame: &[u8]) -> Result<Incoming<'_>, BadFrame<'_>> {
    let fields = envelope::scan(frame).ok_or(BadFrame {
        rpc_id: None,
        message: "a message must be a JSON object with a string \"type\"",
    })?;
    if fields.rpc_id.is_some_and(|raw| raw.first() != Some(&b'"')) {
        return Err(BadFrame {
            rpc_id: None,
            message: "\"rpcId\" must be a string",
        });
    }
    let rpc_id = fields.rpc_id;
    let route = fields
        .route
        .filter(Token::is_string)
        .and_then(route_name)
        .ok_or(BadFrame {
            rpc_id,
            message: "a message must have a string \"type\"",
        })?;
    Ok(Incoming {
        route,
        payload: fields.payload,
        rpc_id,
    })
}

/// The route a `type` string names: borrowed from the frame unless it holds escapes.
fn route_name(token: Token<'_>) -> Option<Cow<'_, str>> {
    if token.escaped {
        serde_json::from_slice::<String>(token.raw).ok().map(Cow::Owned)
    } else {
        std::str::from_utf8(&token.raw[1..token.raw.len() - 1])
            .ok()
            .map(Cow::Borrowed)
    }
}

/// Appends a server event `{"type": route, "payload": payload}` to `out`.
///
/// ```
/// let mut out = Vec::new();
/// zocket_protocol::json::write_event(&mut out, "system.tick", &serde_json::json!({"n": 1})).unwrap();
/// assert_eq!(out, br#"{"type":"system.tick","payload":{"n":1}}"#);
/// ```
pub fn write_event<P: Serialize + ?Sized>(out: &mut Vec<u8>, route: &str, payload: &P) -> Result<(), EncodeError> {
    out.extend_from_slice(br#"{"type":"#);
    serde_json::to_writer(&mut *out, route)?;
    out.extend_from_slice(br#","payload":"#);
    serde_json::to_writer(&mut *out, payload)?;
    out.push(b'}');
    Ok(())
}

/// Appends a call's reply of type `kind` (`__rpc_res` or `__rpc_err`); `rpc_id` is the raw
/// JSON string token the call carried, echoed byte for byte.
fn write_rpc<P: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    kind: &str,
    rpc_id: &[u8],
    payload: &P,
) -> Result<(), EncodeError> {
    out.extend_from_slice(br#"{"type":""#);
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(br#"","payload":"#);
    serde_json::to_writer(&mut *out, payload)?;
    out.extend_from_slice(br#","rpcId":"#);
    out.extend_from_slice(rpc_id);
    out.push(b'}');
    Ok(())
}

/// Appends a call's success reply to `out`. `rpc_id` is the raw JSON string token the call
/// carried (quotes included).
///
/// ```
/// let mut out = Vec::new();
/// zocket_protocol::json::write_reply(&mut out, br#""7""#, &"Hello!").unwrap();
/// assert_eq!(out, br#"{"type":"__rpc_res","payload":"Hello!","rpcId":"7"}"#);
/// ```
pub fn write_reply<P: Serialize + ?Sized>(out: &mut Vec<u8>, rpc_id: &[u8], payload: &P) -> Result<(), EncodeError> {
    write_rpc(out, RPC_RESULT, rpc_id, payload)
}

/// Appends a call's failure reply to `out`. `rpc_id` is the raw JSON string token the call
/// carried.
///
/// ```
/// use zocket_protocol::{json, ErrorCode, ErrorPayload};
/// let err = ErrorPayload { code: ErrorCode::NotFound, message: "no route".into(), route: None, issues: vec![] };
/// let mut out = Vec::new();
/// json::write_rpc_error(&mut out, br#""9""#, &err);
/// assert_eq!(out, br#"{"type":"__rpc_err","payload":{"code":"NOT_FOUND","message":"no route"},"rpcId":"9"}"#);
/// ```
pub fn write_rpc_error(out: &mut Vec<u8>, rpc_id: &[u8], error: &ErrorPayload) {
    // An ErrorPayload holds only strings, integers and enums: serializing it cannot fail.
    write_rpc(out, RPC_ERROR, rpc_id, error).expect("an error payload always serializes");
}

/// Appends an `__error` frame for a failed message that carried no `rpcId`.
pub fn write_error(out: &mut Vec<u8>, error: &ErrorPayload) {
    write_event(out, ERROR, error).expect("an error payload always serializes");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorCode, Issue};

    #[test]
    fn decodes_a_call() {
        let msg = decode(br#"{"rpcId":"a\"b","payload":[1,2],"type":"math.add"}"#).unwrap();
        assert_eq!(msg.route, "math.add");
        assert!(matches!(msg.route, Cow::Borrowed(_)));
        assert_eq!(msg.payload.unwrap(), b"[1,2]");
        assert_eq!(msg.rpc_id.unwrap(), br#""a\"b""#);
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        let msg =
            decode(br#"{"type":"x","payload":1,"payload":{"name":"b"},"rpcId":"7","extra":[1,{"a":2}]}"#).unwrap();
        assert_eq!(msg.payload.unwrap(), br#"{"name":"b"}"#);
        assert_eq!(msg.rpc_id.unwrap(), br#""7""#);
    }

    #[test]
    fn null_and_absent_payloads_are_none() {
        assert!(decode(br#"{"type":"whoami"}"#).unwrap().payload.is_none());
        assert!(
            decode(br#"{"type":"whoami","payload":null}"#)
                .unwrap()
                .payload
                .is_none()
        );
    }

    #[test]
    fn escaped_route_names_are_unescaped() {
        let msg = decode(br#"{"type":"gr\u0065et"}"#).unwrap();
        assert_eq!(msg.route, "greet");
    }

    #[test]
    fn bad_frames_keep_a_string_rpc_id() {
        for frame in [
            &br#"{"payload":1,"rpcId":"x"}"#[..],
            br#"{"type":null,"rpcId":"x"}"#,
            br#"{"type":["a"],"rpcId":"x"}"#,
        ] {
            let bad = decode(frame).unwrap_err();
            assert_eq!(bad.rpc_id, Some(&br#""x""#[..]), "{}", String::from_utf8_lossy(frame));
        }
    }

    #[test]
    fn non_objects_and_broken_json_are_bad_without_id() {
        for frame in [
            &b"42"[..],
            b"\"x\"",
            b"[]",
            b"{",
            b"",
            b"\xff\xfe",
            br#"{"type":"a","rpcId":5}"#,
            br#"["greet",{"name":"array"},"id"]"#,
            br#"  ["chat.message",{"text":"x"}]"#,
        ] {
            let bad = decode(frame).unwrap_err();
            assert!(bad.rpc_id.is_none(), "{}", String::from_utf8_lossy(frame));
        }
    }

    #[test]
    fn encodes_errors_with_issues_and_route() {
        let err = ErrorPayload {
            code: ErrorCode::InvalidInput,
            message: "invalid input".into(),
            route: Some("math.add".into()),
            issues: vec![
                Issue::new(["a"], "expected a number"),
                Issue::new(["list".into(), crate::PathSegment::Index(2)], "bad"),
            ],
        };
        let mut out = Vec::new();
        write_error(&mut out, &err);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            r#"{"type":"__error","payload":{"code":"INVALID_INPUT","message":"invalid input","route":"math.add","issues":[{"path":["a"],"message":"expected a number"},{"path":["list",2],"message":"bad"}]}}"#
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["payload"]["issues"][1]["path"][1], 2);
    }

    #[test]
    fn replies_are_valid_json() {
        let mut reply = Vec::new();
        write_reply(&mut reply, br#""id-1""#, &serde_json::json!({"x": [1, "two"]})).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&reply).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"type": "__rpc_res", "payload": {"x": [1, "two"]}, "rpcId": "id-1"})
        );
        let mut unit = Vec::new();
        write_reply(&mut unit, br#""2""#, &()).unwrap();
        assert_eq!(unit, br#"{"type":"__rpc_res","payload":null,"rpcId":"2"}"#);
        let mut event = Vec::new();
        write_event(&mut event, "a\"b", &1).unwrap();
        assert_eq!(event, br#"{"type":"a\"b","payload":1}"#);
    }
}
