//! [`Codec`]: the encoding of a connection's frames, chosen once when it opens.

#[cfg(feature = "msgpack")]
use crate::msgpack;
use crate::{BadFrame, ErrorPayload, Incoming, json};
use serde::Serialize;
use std::borrow::Cow;
use std::fmt;

/// How a connection's frames are encoded. JSON is the default and the only codec the original
/// client speaks; MessagePack (with the `msgpack` feature, on by default) is chosen by a client
/// that offers the WebSocket subprotocol [`Codec::MSGPACK_SUBPROTOCOL`]. Non-exhaustive, so the
/// feature adds its variant without breaking a `match`.
///
/// ```
/// # #[cfg(feature = "msgpack")] {
/// use zocket_protocol::Codec;
///
/// assert_eq!(Codec::from_subprotocols("x, zocket.v1.msgpack"), Codec::MsgPack);
/// assert_eq!(Codec::from_subprotocols(""), Codec::Json);
///
/// let mut out = Vec::new();
/// Codec::MsgPack.write_event(&mut out, "system.tick", &7).unwrap();
/// let msg = Codec::MsgPack.decode(&out).unwrap();
/// assert_eq!(msg.route, "system.tick");
/// assert_eq!(Codec::MsgPack.payload_to_json(msg.payload.unwrap()).unwrap().as_ref(), b"7");
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// Zocket v1 JSON in text frames.
    #[default]
    Json,
    /// The same frames as MessagePack maps (string keys) in binary frames.
    #[cfg(feature = "msgpack")]
    MsgPack,
}

impl Codec {
    /// The WebSocket subprotocol a client offers to speak MessagePack.
    pub const MSGPACK_SUBPROTOCOL: &'static str = "zocket.v1.msgpack";
    /// The WebSocket subprotocol a client may offer to ask for JSON explicitly.
    pub const JSON_SUBPROTOCOL: &'static str = "zocket.v1.json";
    /// Every codec built in, the default first.
    pub const ALL: &'static [Codec] = &[
        Codec::Json,
        #[cfg(feature = "msgpack")]
        Codec::MsgPack,
    ];

    /// The codec for a `Sec-WebSocket-Protocol` request header (a comma-separated list):
    /// MessagePack when offered, JSON otherwise.
    pub fn from_subprotocols(offered: &str) -> Self {
        #[cfg(feature = "msgpack")]
        if offered.split(',').any(|name| name.trim() == Self::MSGPACK_SUBPROTOCOL) {
            return Self::MsgPack;
        }
        let _ = offered;
        Self::Json
    }

    /// The subprotocol to confirm in the handshake response, given what the client offered.
    pub fn subprotocol(self, offered: &str) -> Option<&'static str> {
        let name = match self {
            Self::Json => Self::JSON_SUBPROTOCOL,
            #[cfg(feature = "msgpack")]
            Self::MsgPack => Self::MSGPACK_SUBPROTOCOL,
        };
        offered.split(',').any(|offer| offer.trim() == name).then_some(name)
    }

    /// Whether frames go in binary WebSocket messages (text otherwise).
    pub const fn is_binary(self) -> bool {
        !matches!(self, Self::Json)
    }

    /// A small index for per-codec tables.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Reads one client frame.
    pub fn decode(self, frame: &[u8]) -> Result<Incoming<'_>, BadFrame<'_>> {
        match self {
            Self::Json => json::decode(frame),
            #[cfg(feature = "msgpack")]
            Self::MsgPack => msgpack::decode(frame),
        }
    }

    /// Appends a server event `{type: route, payload}` to `out`.
    pub fn write_event<P: Serialize + ?Sized>(
        self,
        out: &mut Vec<u8>,
        route: &str,
        payload: &P,
    ) -> Result<(), EncodeError> {
        match self {
            Self::Json => json::write_event(out, route, payload),
            #[cfg(feature = "msgpack")]
            Self::MsgPack => msgpack::write_event(out, route, payload),
        }
    }

    /// Appends a client message `{type: route, payload?, rpcId?}`: what clients send. `payload`
    /// `None` leaves the field out (a route without input); `rpc_id` makes it a call.
    ///
    /// ```
    /// use zocket_protocol::Codec;
    ///
    /// let mut out = Vec::new();
    /// Codec::Json.write_message(&mut out, "math.add", Some(&[1, 2]), Some("7")).unwrap();
    /// assert_eq!(out, br#"{"type":"math.add","payload":[1,2],"rpcId":"7"}"#);
    /// let msg = Codec::Json.decode(&out).unwrap();
    /// assert_eq!((msg.route.as_ref(), msg.rpc_id), ("math.add", Some(&br#""7""#[..])));
    /// ```
    pub fn write_message<P: Serialize + ?Sized>(
        self,
        out: &mut Vec<u8>,
        route: &str,
        payload: Option<&P>,
        rpc_id: Option<&str>,
    ) -> Result<(), EncodeError> {
        #[derive(Serialize)]
        struct Message<'a, P: ?Sized> {
            #[serde(rename = "type")]
            route: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            payload: Option<&'a P>,
            #[serde(rename = "rpcId", skip_serializing_if = "Option::is_none")]
            rpc_id: Option<&'a str>,
        }
        let message = Message { route, payload, rpc_id };
        match self {
            Self::Json => serde_json::to_writer(out, &message)?,
            // Structs as maps with their field names, as the server reads them.
            #[cfg(feature = "msgpack")]
            Self::MsgPack => rmp_serde::encode::write_named(out, &message)?,
        }
        Ok(())
    }

    /// Appends a call's success reply; `rpc_id` is the call's encoded id, echoed as it came.
    pub fn write_reply<P: Serialize + ?Sized>(
        self,
        out: &mut Vec<u8>,
        rpc_id: &[u8],
        payload: &P,
    ) -> Result<(), EncodeError> {
        match self {
            Self::Json => json::write_reply(out, rpc_id, payload),
            #[cfg(feature = "msgpack")]
            Self::MsgPack => msgpack::write_reply(out, rpc_id, payload),
        }
    }

    /// Appends a call's failure reply.
    pub fn write_rpc_error(self, out: &mut Vec<u8>, rpc_id: &[u8], error: &ErrorPayload) {
        match self {
            Self::Json => json::write_rpc_error(out, rpc_id, error),
            #[cfg(feature = "msgpack")]
            Self::MsgPack => msgpack::write_rpc_error(out, rpc_id, error),
        }
    }

    /// Appends an `__error` frame for a failed message that carried no `rpcId`.
    pub fn write_error(self, out: &mut Vec<u8>, error: &ErrorPayload) {
        match self {
            Self::Json => json::write_error(out, error),
            #[cfg(feature = "msgpack")]
            Self::MsgPack => msgpack::write_error(out, error),
        }
    }

    /// A payload of this codec as JSON bytes (borrowed when it already is JSON), so payloads
    /// are validated the same way, with the same error paths, whatever the codec.
    pub fn payload_to_json(self, payload: &[u8]) -> Result<Cow<'_, [u8]>, EncodeError> {
        match self {
            Self::Json => Ok(Cow::Borrowed(payload)),
            #[cfg(feature = "msgpack")]
            Self::MsgPack => msgpack::to_json(payload).map(Cow::Owned),
        }
    }
}

/// A value could not be encoded (a map with non-string keys in JSON, say), or a MessagePack
/// payload could not be turned into JSON.
#[derive(Debug)]
pub struct EncodeError(Box<dyn std::error::Error + Send + Sync>);

impl EncodeError {
    pub(crate) fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Box::new(error))
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl From<serde_json::Error> for EncodeError {
    fn from(error: serde_json::Error) -> Self {
        Self::new(error)
    }
}

#[cfg(feature = "msgpack")]
impl From<rmp_serde::encode::Error> for EncodeError {
    fn from(error: rmp_serde::encode::Error) -> Self {
        Self::new(error)
    }
}
