//! The client's side of the v1 protocol: encoding calls and sends, reading replies, errors and
//! events (the same frame shape, `{type, payload, rpcId?}`, which `zocket_protocol` decodes).

use crate::ClientError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zocket_core::DecodeOutgoing;
use zocket_protocol::{Codec, ERROR, ErrorPayload, RPC_ERROR, RPC_RESULT};

/// The first frame a server with resume on sends on every connection.
pub(crate) const SESSION: &str = "__session";

/// Encodes a message to `route`; `payload` `None` leaves it out (a route without input);
/// `rpc_id` makes it a call.
pub(crate) fn encode<P: Serialize>(
    codec: Codec,
    route: &str,
    payload: Option<&P>,
    rpc_id: Option<u64>,
) -> Result<Vec<u8>, ClientError> {
    let id = rpc_id.map(|id| id.to_string());
    let mut out = Vec::new();
    codec
        .write_message(&mut out, route, payload, id.as_deref())
        .map_err(|e| ClientError::Encode(format!("{route}: {e}")))?;
    Ok(out)
}

/// What a server frame is.
#[derive(Debug)]
pub(crate) enum Inbound<'a> {
    /// A call's reply: its id and payload (`None`: absent or null).
    Reply(u64, Option<&'a [u8]>),
    /// A call's error.
    Failed(u64, ErrorPayload),
    /// A failed message that had no id (`__error`).
    Error(ErrorPayload),
    /// A server event.
    Event(&'a str, Option<&'a [u8]>),
    /// `__session`: the session's token for a resume, and whether this connection resumed one.
    Session(SessionFrame),
}

/// The payload of `__session`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct SessionFrame {
    pub(crate) token: String,
    pub(crate) resumed: bool,
}

/// Reads one server frame.
pub(crate) fn decode(codec: Codec, frame: &[u8]) -> Result<Inbound<'_>, ClientError> {
    let bad = |message: String| ClientError::Decode {
        route: "(frame)".into(),
        message,
    };
    let message = codec.decode(frame).map_err(|e| bad(e.message.to_owned()))?;
    let id = || -> Result<u64, ClientError> {
        let raw = message.rpc_id.ok_or_else(|| bad("a reply without rpcId".into()))?;
        let id: String = read(codec, Some(raw)).map_err(|e| bad(format!("rpcId: {e}")))?;
        id.parse()
            .map_err(|_| bad(format!("an rpcId this client did not send: {id:?}")))
    };
    let error = |payload| -> Result<ErrorPayload, ClientError> {
        read(codec, payload).map_err(|e| bad(format!("an error payload: {e}")))
    };
    match &*message.route {
        RPC_RESULT => Ok(Inbound::Reply(id()?, message.payload)),
        RPC_ERROR => Ok(Inbound::Failed(id()?, error(message.payload)?)),
        ERROR => Ok(Inbound::Error(error(message.payload)?)),
        SESSION => read(codec, message.payload)
            .map(Inbound::Session)
            .map_err(|e| bad(format!("a __session payload: {e}"))),
        _ => match message.route {
            std::borrow::Cow::Borrowed(route) => Ok(Inbound::Event(route, message.payload)),
            // Only JSON with escapes in the route gets here; no declared route needs them.
            std::borrow::Cow::Owned(route) => Err(ClientError::Decode {
                route,
                message: "an escaped route name".into(),
            }),
        },
    }
}

/// The `seq` of an event frame (resume on: 1, 2, ... per session), if it has one.
pub(crate) fn seq(codec: Codec, frame: &[u8]) -> Option<u64> {
    /// Only `seq`; everything else in the frame is skipped.
    #[derive(Deserialize)]
    struct Seq {
        seq: Option<u64>,
    }
    let read = match codec {
        Codec::MsgPack => rmp_serde::from_slice::<Seq>(frame).ok(),
        _ => serde_json::from_slice::<Seq>(frame).ok(),
    };
    read.and_then(|s| s.seq)
}

/// The payload `raw` (`None`: absent, read as null) as a `T`.
pub(crate) fn read<T: DeserializeOwned>(codec: Codec, raw: Option<&[u8]>) -> Result<T, String> {
    match codec {
        Codec::MsgPack => rmp_serde::from_slice(raw.unwrap_or(&[0xc0])).map_err(|e| e.to_string()),
        _ => serde_json::from_slice(raw.unwrap_or(b"null")).map_err(|e| e.to_string()),
    }
}

/// The event on `route` as an `O`.
pub(crate) fn event<O>(codec: Codec, route: &str, raw: Option<&[u8]>) -> Result<O, ClientError>
where
    O: for<'de> DecodeOutgoing<'de>,
{
    let failed = |message: String| ClientError::Decode {
        route: route.to_owned(),
        message,
    };
    let unknown = || failed("not a route of the client's outgoing type".into());
    match codec {
        Codec::MsgPack => {
            let mut de = rmp_serde::Deserializer::from_read_ref(raw.unwrap_or(&[0xc0]));
            O::decode(route, &mut de)
                .ok_or_else(unknown)?
                .map_err(|e| failed(e.to_string()))
        }
        _ => {
            let mut de = serde_json::Deserializer::from_slice(raw.unwrap_or(b"null"));
            let value = O::decode(route, &mut de).ok_or_else(unknown)?;
            let value = value.map_err(|e| failed(e.to_string()))?;
            de.end().map_err(|e| failed(e.to_string()))?;
            Ok(value)
        }
    }
}

/// Every event, untyped: its route and its payload as JSON. The client's events when it is
/// given no outgoing type (`Client<RawEvent>`, the default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawEvent {
    /// The event's route, e.g. `"system.tick"`.
    pub route: String,
    /// Its payload (`null` when absent).
    pub payload: serde_json::Value,
}

impl<'de> DecodeOutgoing<'de> for RawEvent {
    fn decode<D: serde::Deserializer<'de>>(route: &str, payload: D) -> Option<Result<Self, D::Error>> {
        Some(serde_json::Value::deserialize(payload).map(|payload| Self {
            route: route.to_owned(),
            payload,
        }))
    }

    fn has_route(_: &str) -> bool {
        true
    }
}

impl zocket_core::Outgoing for RawEvent {
    fn route(&self) -> std::borrow::Cow<'static, str> {
        self.route.clone().into()
    }

    fn serialize_payload<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.payload.serialize(serializer)
    }

    /// Any route: none in particular.
    fn routes() -> Vec<std::borrow::Cow<'static, str>> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn calls_and_sends_are_v1_frames_in_both_codecs() {
        let call = encode(Codec::Json, "math.add", Some(&json!({"a": 1})), Some(7)).unwrap();
        assert_eq!(call, br#"{"type":"math.add","payload":{"a":1},"rpcId":"7"}"#);
        let send = encode::<()>(Codec::Json, "whoami", None, None).unwrap();
        assert_eq!(send, br#"{"type":"whoami"}"#);
        let packed = encode(Codec::MsgPack, "greet", Some(&json!({"name": "x"})), Some(1)).unwrap();
        let incoming = Codec::MsgPack.decode(&packed).unwrap();
        assert_eq!(incoming.route, "greet");
        assert_eq!(incoming.rpc_id.unwrap(), [0xa1, b'1']);
    }

    #[test]
    fn replies_errors_and_events_are_told_apart() {
        for &codec in Codec::ALL {
            let mut out = Vec::new();
            let id = match codec {
                Codec::MsgPack => vec![0xa2, b'1', b'2'],
                _ => br#""12""#.to_vec(),
            };
            codec.write_reply(&mut out, &id, &3.5).unwrap();
            match decode(codec, &out).unwrap() {
                Inbound::Reply(12, payload) => assert_eq!(read::<f64>(codec, payload).unwrap(), 3.5),
                other => panic!("{other:?}"),
            }
            let error = ErrorPayload {
                code: zocket_protocol::ErrorCode::BadRequest,
                message: "bad".into(),
                route: None,
                issues: vec![],
            };
            let mut out = Vec::new();
            codec.write_rpc_error(&mut out, &id, &error);
            assert!(matches!(decode(codec, &out).unwrap(), Inbound::Failed(12, e) if e == error));
            let mut out = Vec::new();
            codec.write_error(&mut out, &error);
            assert!(matches!(decode(codec, &out).unwrap(), Inbound::Error(e) if e == error));
            let mut out = Vec::new();
            codec.write_event(&mut out, "system.tick", &json!({"n": 1})).unwrap();
            let Inbound::Event(route, payload) = decode(codec, &out).unwrap() else {
                panic!("not an event")
            };
            let raw: RawEvent = event(codec, route, payload).unwrap();
            assert_eq!(
                raw,
                RawEvent {
                    route: "system.tick".into(),
                    payload: json!({"n": 1})
                }
            );
        }
    }

    #[test]
    fn session_frames_and_event_seqs_are_read_in_both_codecs() {
        let session = json!({"type": "__session", "payload": {"token": "t-1", "resumed": true}});
        let tick = json!({"type": "system.tick", "payload": {"n": 7, "seq": 99}, "seq": 42});
        for &codec in Codec::ALL {
            let encode = |value: &serde_json::Value| match codec {
                Codec::MsgPack => rmp_serde::to_vec_named(value).unwrap(),
                _ => serde_json::to_vec(value).unwrap(),
            };
            let frame = encode(&session);
            let Inbound::Session(read) = decode(codec, &frame).unwrap() else {
                panic!("not a session frame")
            };
            assert_eq!(
                read,
                SessionFrame {
                    token: "t-1".into(),
                    resumed: true
                }
            );
            let frame = encode(&tick);
            assert_eq!(seq(codec, &frame), Some(42), "the top-level seq, not the payload's");
            let Inbound::Event(route, payload) = decode(codec, &frame).unwrap() else {
                panic!("not an event")
            };
            // The payload is the event's alone: `seq` is not part of it.
            let raw: RawEvent = event(codec, route, payload).unwrap();
            assert_eq!(raw.payload, json!({"n": 7, "seq": 99}));
            let plain = encode(&json!({"type": "system.tick", "payload": {"n": 1}}));
            assert_eq!(seq(codec, &plain), None);
            let broken = encode(&json!({"type": "__session", "payload": {"token": 1}}));
            assert!(matches!(decode(codec, &broken), Err(ClientError::Decode { .. })));
        }
    }

    #[test]
    fn foreign_ids_and_broken_frames_are_decode_errors() {
        let foreign = br#"{"type":"__rpc_res","payload":1,"rpcId":"x9"}"#;
        assert!(matches!(decode(Codec::Json, foreign), Err(ClientError::Decode { .. })));
        assert!(decode(Codec::Json, b"[1]").is_err());
        assert!(decode(Codec::MsgPack, b"\x91\x01").is_err());
    }
}
