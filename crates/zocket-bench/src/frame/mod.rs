//! Zocket v1 frames, both ways, in either codec: building the few frames the generator sends, and a
//! cheap single pass over received frames that picks out only the fields the scenarios check
//! (no tree is built, nothing is allocated).

mod json;
mod msgpack;

use tokio_tungstenite::tungstenite::Message;

/// The WebSocket subprotocol a client offers to speak MessagePack.
pub(crate) const MSGPACK_PROTOCOL: &str = "zocket.v1.msgpack";

/// How frames are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    /// Text frames holding JSON objects.
    Json,
    /// Binary frames holding MessagePack maps with string keys (subprotocol [`MSGPACK_PROTOCOL`]).
    Msgpack,
}

impl Codec {
    /// The name used on the command line and in results.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Codec::Json => "json",
            Codec::Msgpack => "msgpack",
        }
    }
}

/// A payload field value the generator sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    /// A string.
    Str(&'a str),
    /// An integer.
    Int(i64),
    /// A float (always a float64 in MessagePack).
    Float(f64),
}

/// Builds `{"type": route, "payload": {fields...}, "rpcId"?: rpc_id}` as a frame.
pub(crate) fn encode(codec: Codec, route: &str, payload: &[(&str, Value<'_>)], rpc_id: Option<&str>) -> Message {
    match codec {
        Codec::Json => Message::Text(json::encode(route, payload, rpc_id).into()),
        Codec::Msgpack => Message::Binary(msgpack::encode(route, payload, rpc_id).into()),
    }
}

/// What a received frame is, from its `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `__rpc_res`: a call's result.
    Reply,
    /// `__rpc_err`: a call failed.
    RpcError,
    /// `__error`: a message without `rpcId` failed.
    Error,
    /// `bench.shouted`.
    Shouted,
    /// Any other type, or none.
    Other,
}

impl Kind {
    fn of(route: Option<&[u8]>) -> Self {
        match route {
            Some(b"__rpc_res") => Kind::Reply,
            Some(b"__rpc_err") => Kind::RpcError,
            Some(b"__error") => Kind::Error,
            Some(b"bench.shouted") => Kind::Shouted,
            _ => Kind::Other,
        }
    }
}

/// The payload fields the scenarios look at. Strings are raw: JSON escapes are left as they are
/// (the generator only sends strings that need none).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Payload<'a> {
    /// `seq`, if an integer.
    pub(crate) seq: Option<i64>,
    /// `ts`, if a number.
    pub(crate) ts: Option<f64>,
    /// `data`, if a string.
    pub(crate) data: Option<&'a [u8]>,
    /// Whether the payload is the literal `true` (a join's reply).
    pub(crate) is_true: bool,
}

/// A received frame, as far as the scenarios care.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Frame<'a> {
    /// From `type`.
    pub(crate) kind: Kind,
    /// `rpcId`, if a string.
    pub(crate) rpc_id: Option<&'a [u8]>,
    /// From `payload`.
    pub(crate) payload: Payload<'a>,
}

/// Reads a received frame's bytes; `None` if they are not an object/map in `codec`.
pub(crate) fn decode(codec: Codec, bytes: &[u8]) -> Option<Frame<'_>> {
    match codec {
        Codec::Json => json::decode(bytes),
        Codec::Msgpack => msgpack::decode(bytes),
    }
}

/// The bytes of a text or binary message.
pub(crate) fn data_of(msg: &Message) -> Option<&[u8]> {
    match msg {
        Message::Text(text) => Some(text.as_bytes()),
        Message::Binary(bytes) => Some(bytes),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[(&str, Value<'static>)] = &[("seq", Value::Int(7)), ("data", Value::Str("c1-7"))];

    #[test]
    fn json_frames_are_text_and_msgpack_frames_are_binary() {
        assert!(matches!(
            encode(Codec::Json, "bench.echo", FIELDS, Some("7")),
            Message::Text(_)
        ));
        assert!(matches!(
            encode(Codec::Msgpack, "bench.echo", FIELDS, Some("7")),
            Message::Binary(_)
        ));
    }

    #[test]
    fn every_codec_reads_back_what_it_builds() {
        for codec in [Codec::Json, Codec::Msgpack] {
            let msg = encode(codec, "__rpc_res", FIELDS, Some("7"));
            let frame = decode(codec, data_of(&msg).unwrap()).unwrap();
            assert_eq!(frame.kind, Kind::Reply, "{codec:?}");
            assert_eq!(frame.rpc_id, Some(&b"7"[..]));
            assert_eq!(frame.payload.seq, Some(7));
            assert_eq!(frame.payload.data, Some(&b"c1-7"[..]));
            let shout = encode(
                codec,
                "bench.shouted",
                &[("ts", Value::Float(12.75)), ("data", Value::Str("x"))],
                None,
            );
            let frame = decode(codec, data_of(&shout).unwrap()).unwrap();
            assert_eq!(frame.kind, Kind::Shouted);
            assert_eq!(frame.rpc_id, None);
            assert_eq!(frame.payload.ts, Some(12.75));
        }
    }

    #[test]
    fn kinds_come_from_the_type() {
        assert_eq!(Kind::of(Some(b"__rpc_err")), Kind::RpcError);
        assert_eq!(Kind::of(Some(b"__error")), Kind::Error);
        assert_eq!(Kind::of(Some(b"bench.shout")), Kind::Other);
        assert_eq!(Kind::of(None), Kind::Other);
    }
}
