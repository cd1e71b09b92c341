//! The JSON codec of the v1 protocol: what the original Zocket client speaks.

use crate::{ERROR, ErrorPayload, RPC_ERROR, RPC_RESULT};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// A decoded client message, borrowing from the frame it was read from.
#[derive(Debug)]
pub struct Incoming<'a> {
    /// The route the message names, e.g. `"chat.message"`.
    pub route: Cow<'a, str>,
    /// The raw JSON payload; `None` when absent or `null`.
    pub payload: Option<&'a RawValue>,
    /// The raw JSON string token of the call id (quotes included); `None` for fire-and-forget.
    pub rpc_id: Option<&'a RawValue>,
}

/// A frame that is not a v1 message: not a JSON object, or without a string `type`.
#[derive(Debug, Clone)]
pub struct BadFrame<'a> {
    /// The raw JSON string token of the `rpcId`, when the frame still carried a string one.
    pub rpc_id: Option<&'a RawValue>,
    /// What is wrong, for people.
    pub message: &'static str,
}

/// The three fields of a frame; other keys are skipped. A repeated key keeps its last value,
/// as `JSON.parse` does, so a client never loses its `rpcId` to a duplicate.
struct Envelope<'a> {
    route: Option<&'a RawValue>,
    payload: Option<&'a RawValue>,
    rpc_id: Option<&'a RawValue>,
}

enum Field {
    Route,
    Payload,
    RpcId,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Field, E> {
                Ok(match name {
                    "type" => Field::Route,
                    "payload" => Field::Payload,
                    "rpcId" => Field::RpcId,
                    _ => Field::Other,
                })
            }
        }
        deserializer.deserialize_identifier(Name)
    }
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = Envelope<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope<'de>, A::Error> {
                let mut envelope = Envelope {
                    route: None,
                    payload: None,
                    rpc_id: None,
                };
                while let Some(field) = map.next_key::<Field>()? {
                    match field {
                        Field::Route => envelope.route = map.next_value()?,
                        Field::Payload => envelope.payload = map.next_value()?,
                        Field::RpcId => envelope.rpc_id = map.next_value()?,
                        Field::Other => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(envelope)
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

fn is_json_string(raw: &RawValue) -> bool {
    raw.get().starts_with('"')
}

/// Reads one client frame.
///
/// Binary frames are read the same way as text frames: as UTF-8 JSON.
///
/// ```
/// use zocket_protocol::json;
/// let bad = json::decode(br#"{"type":5,"rpcId":"1"}"#).unwrap_err();
/// assert_eq!(bad.rpc_id.unwrap().get(), r#""1""#);
/// assert!(json::decode(b"[1,2]").unwrap_err().rpc_id.is_none());
/// ```
pub fn decode(frame: &[u8]) -> Result<Incoming<'_>, BadFrame<'_>> {
    let not_an_object = BadFrame {
        rpc_id: None,
        message: "a message must be a JSON object with a string \"type\"",
    };
    let envelope: Envelope<'_> = serde_json::from_slice(frame).map_err(|_| not_an_object)?;
    let rpc_id = match envelope.rpc_id {
        Some(raw) if !is_json_string(raw) => {
            return Err(BadFrame {
                rpc_id: None,
                message: "\"rpcId\" must be a string",
            });
        }
        other => other,
    };
    let route = envelope
        .route
        .filter(|raw| is_json_string(raw))
        .and_then(|raw| {
            serde_json::from_str::<&str>(raw.get())
                .map(Cow::Borrowed)
                .or_else(|_| serde_json::from_str::<String>(raw.get()).map(Cow::Owned))
                .ok()
        })
        .ok_or(BadFrame {
            rpc_id,
            message: "a message must have a string \"type\"",
        })?;
    Ok(Incoming {
        route,
        payload: envelope.payload,
        rpc_id,
    })
}

#[derive(Serialize)]
struct Frame<'a, P: ?Sized> {
    #[serde(rename = "type")]
    route: &'a str,
    payload: &'a P,
    #[serde(rename = "rpcId", skip_serializing_if = "Option::is_none")]
    rpc_id: Option<&'a RawValue>,
}

fn encode<P: Serialize + ?Sized>(route: &str, payload: &P, rpc_id: Option<&RawValue>) -> serde_json::Result<String> {
    serde_json::to_string(&Frame { route, payload, rpc_id })
}

/// Encodes a server event `{"type": route, "payload": payload}`.
///
/// ```
/// let text = zocket_protocol::json::encode_event("system.tick", &serde_json::json!({"n": 1})).unwrap();
/// assert_eq!(text, r#"{"type":"system.tick","payload":{"n":1}}"#);
/// ```
pub fn encode_event<P: Serialize + ?Sized>(route: &str, payload: &P) -> serde_json::Result<String> {
    encode(route, payload, None)
}

/// Encodes a call's success reply. `rpc_id` is the raw JSON string token the call carried.
pub fn encode_reply<P: Serialize + ?Sized>(rpc_id: &RawValue, payload: &P) -> serde_json::Result<String> {
    encode(RPC_RESULT, payload, Some(rpc_id))
}

/// Encodes a call's failure reply. `rpc_id` is the raw JSON string token the call carried.
///
/// ```
/// use zocket_protocol::{json, ErrorCode, ErrorPayload};
/// let err = ErrorPayload { code: ErrorCode::NotFound, message: "no route".into(), route: None, issues: vec![] };
/// let id = serde_json::from_str(r#""9""#).unwrap();
/// assert_eq!(
///     json::encode_rpc_error(id, &err),
///     r#"{"type":"__rpc_err","payload":{"code":"NOT_FOUND","message":"no route"},"rpcId":"9"}"#
/// );
/// ```
pub fn encode_rpc_error(rpc_id: &RawValue, error: &ErrorPayload) -> String {
    // An ErrorPayload holds only strings, integers and enums: serializing it cannot fail.
    encode(RPC_ERROR, error, Some(rpc_id)).expect("an error payload always serializes")
}

/// Encodes an `__error` frame for a failed message that carried no `rpcId`.
pub fn encode_error(error: &ErrorPayload) -> String {
    encode(ERROR, error, None).expect("an error payload always serializes")
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
        assert_eq!(msg.payload.unwrap().get(), "[1,2]");
        assert_eq!(msg.rpc_id.unwrap().get(), r#""a\"b""#);
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        let msg =
            decode(br#"{"type":"x","payload":1,"payload":{"name":"b"},"rpcId":"7","extra":[1,{"a":2}]}"#).unwrap();
        assert_eq!(msg.payload.unwrap().get(), r#"{"name":"b"}"#);
        assert_eq!(msg.rpc_id.unwrap().get(), r#""7""#);
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
            assert_eq!(
                bad.rpc_id.map(RawValue::get),
                Some(r#""x""#),
                "{}",
                String::from_utf8_lossy(frame)
            );
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
        let text = encode_error(&err);
        assert_eq!(
            text,
            r#"{"type":"__error","payload":{"code":"INVALID_INPUT","message":"invalid input","route":"math.add","issues":[{"path":["a"],"message":"expected a number"},{"path":["list",2],"message":"bad"}]}}"#
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["payload"]["issues"][1]["path"][1], 2);
    }

    #[test]
    fn replies_are_valid_json() {
        let id: &RawValue = serde_json::from_str(r#""id-1""#).unwrap();
        let reply = encode_reply(id, &serde_json::json!({"x": [1, "two"]})).unwrap();
        let value: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"type": "__rpc_res", "payload": {"x": [1, "two"]}, "rpcId": "id-1"})
        );
        let id: &RawValue = serde_json::from_str(r#""2""#).unwrap();
        let unit = encode_reply(id, &()).unwrap();
        assert_eq!(unit, r#"{"type":"__rpc_res","payload":null,"rpcId":"2"}"#);
    }
}
