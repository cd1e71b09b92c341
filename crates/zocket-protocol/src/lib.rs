//! The Zocket v1 wire protocol: frame shapes, error codes and the JSON codec. No I/O.
//!
//! A client sends `{"type": ROUTE, "payload": ANY, "rpcId"?: STRING}`. A message carrying an
//! `rpcId` gets exactly one reply, `__rpc_res` or `__rpc_err`; a failed message without one gets
//! an `__error` frame. The server pushes events as `{"type": ROUTE, "payload": ANY}`.
//!
//! ```
//! use zocket_protocol::json;
//!
//! let frame = br#"{"type":"greet","payload":{"name":"Ada"},"rpcId":"7"}"#;
//! let msg = json::decode(frame).unwrap();
//! assert_eq!(msg.route, "greet");
//! assert_eq!(msg.payload.unwrap(), br#"{"name":"Ada"}"#);
//!
//! let mut reply = Vec::new();
//! json::write_reply(&mut reply, msg.rpc_id.unwrap(), &"Hello, Ada!").unwrap();
//! assert_eq!(reply, br#"{"type":"__rpc_res","payload":"Hello, Ada!","rpcId":"7"}"#);
//! ```
//!
//! [`Codec`] picks the JSON codec or the MessagePack one (same frames, as MessagePack maps).

mod codec;
#[cfg(feature = "deflate")]
pub mod deflate;
mod error;
pub mod json;
#[cfg(feature = "msgpack")]
pub mod msgpack;
mod route_name;

pub use codec::{Codec, EncodeError};
pub use error::{ErrorCode, ErrorPayload, Issue, PathSegment};
pub use route_name::{RouteNameError, check_route_name};

use std::borrow::Cow;

/// A decoded client message, borrowing from the frame it was read from.
#[derive(Debug)]
pub struct Incoming<'a> {
    /// The route the message names, e.g. `"chat.message"`.
    pub route: Cow<'a, str>,
    /// The payload, still encoded in the frame's codec; `None` when absent or null.
    pub payload: Option<&'a [u8]>,
    /// The encoded call id (for JSON the string token, quotes included), echoed as it came in
    /// replies; `None` for fire-and-forget.
    pub rpc_id: Option<&'a [u8]>,
}

/// A frame that is not a v1 message: not an object (map), or without a string `type`.
#[derive(Debug, Clone)]
pub struct BadFrame<'a> {
    /// The encoded `rpcId`, when the frame still carried a string one.
    pub rpc_id: Option<&'a [u8]>,
    /// What is wrong, for people.
    pub message: &'static str,
}

/// The frame type of a successful call's reply.
pub const RPC_RESULT: &str = "__rpc_res";
/// The frame type of a failed call's reply.
pub const RPC_ERROR: &str = "__rpc_err";
/// The frame type that reports a failed message sent without an `rpcId`.
pub const ERROR: &str = "__error";
