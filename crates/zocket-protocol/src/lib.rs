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
//! assert_eq!(msg.payload.unwrap().get(), r#"{"name":"Ada"}"#);
//!
//! let reply = json::encode_reply(msg.rpc_id.unwrap(), &"Hello, Ada!").unwrap();
//! assert_eq!(reply, r#"{"type":"__rpc_res","payload":"Hello, Ada!","rpcId":"7"}"#);
//! ```

mod error;
pub mod json;

pub use error::{ErrorCode, ErrorPayload, Issue, PathSegment};

/// The frame type of a successful call's reply.
pub const RPC_RESULT: &str = "__rpc_res";
/// The frame type of a failed call's reply.
pub const RPC_ERROR: &str = "__rpc_err";
/// The frame type that reports a failed message sent without an `rpcId`.
pub const ERROR: &str = "__error";
