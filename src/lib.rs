//! # Zocket
//!
//! Type-safe WebSocket routing for Rust, wire-compatible with the Zocket v1 JSON protocol.
//!
//! - **Incoming routes** are plain async functions whose arguments are extractors
//!   ([`Ctx`], [`Input`], [`State`], [`Sender`], [`Rooms`], [`ClientId`], or your own
//!   [`FromCall`] middleware) and whose return value is the reply.
//! - **Outgoing messages** are a type deriving [`Outgoing`]: sending anything undeclared does
//!   not compile.
//! - **Headers** are a typed struct validated with `garde` before the upgrade; `on_connect`
//!   builds the typed context for each connection.
//! - **Rooms, broadcast and targeted sends** from handlers, hooks or a [`Handle`] held anywhere.
//! - **Every failure is answered**: `__rpc_err` or `__error` frames with a code, and every
//!   failing field for invalid input. Panics in handlers are caught.
//!
//! ```no_run
//! use garde::Validate;
//! use serde::Deserialize;
//! use zocket::{Input, Outgoing, Sender, Zocket, NoHeaders, CallError, TS};
//!
//! #[derive(Outgoing)]
//! enum Out {
//!     #[zocket(route = "system.announcement")]
//!     Announcement { text: String },
//! }
//!
//! #[derive(Deserialize, Validate, TS)]
//! struct Announce {
//!     #[garde(length(chars, min = 1, max = 500))]
//!     text: String,
//! }
//!
//! async fn announce(send: Sender<Out>, Input(a): Input<Announce>) -> Result<(), CallError> {
//!     send.emit(Out::Announcement { text: a.text }).broadcast()?;
//!     Ok(())
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let zo = Zocket::<NoHeaders, Out>::new();
//!     let router = zo.router().route("system.announce", announce);
//!     zocket::serve("127.0.0.1:3000", zo.server(router)).await
//! }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate self as zocket;

mod call;
mod client_id;
pub mod cluster;
mod compression;
mod config;
mod connection;
mod error;
mod extract;
mod handle;
mod handler;
mod hooks;
mod hub;
mod instance;
mod lifecycle;
mod metrics;
mod middleware;
mod rooms;
mod router;
mod send;
mod server;
mod state;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
#[doc(hidden)]
pub mod transport;
pub mod typescript;
mod validate;

pub use call::Call;
pub use client_id::ClientId;
pub use compression::Compression;
pub use config::{Config, Heartbeat, RateLimit, Resume};
pub use error::CallError;
pub use extract::{Ctx, FromCall, FromInput, Input};
pub use handle::Handle;
pub use handler::{Handler, IntoReply, Json, Reply};
pub use hooks::{ConnectHook, DisconnectHook, Disconnected, MoveHook, Moved, Reject};
pub use hub::Delivery;
pub use hub::{Cluster, Location};
pub use instance::{NoHeaders, NoOutgoing, Zocket};
pub use middleware::Next;
pub use rooms::Rooms;
pub use router::{ReplyAs, RouteName, Router, Serves};
pub use send::{ClientIds, Emit, EmitError, Outgoing, RoomNames, Sender};
pub use server::{IntoListener, Serve, Server, listen, serve};
pub use state::{FromRef, State};
pub use zocket_core::Route;
pub use zocket_protocol::{Codec, ErrorCode, Issue, PathSegment};

/// TypeScript types for Rust types: derive it on everything that crosses the wire (see
/// [`typescript`]). The derive expands to paths in `ts_rs`: depend on `ts-rs` yourself, or add
/// `#[ts(crate = "zocket::ts_rs")]` to each type.
pub use ts_rs::TS;

/// The `ts-rs` crate zocket uses, for `#[ts(crate = "zocket::ts_rs")]`.
pub use ts_rs;

/// The wire protocol: frame shapes and the JSON codec.
pub use zocket_protocol as protocol;

/// What the derives' generated code names when a crate depends on `zocket` alone.
#[doc(hidden)]
pub use zocket_core as __core;

#[doc(hidden)]
pub mod __private {
    pub use serde;

    /// Marks a [`FromInput`](crate::FromInput) implementation that reads the payload.
    #[derive(Debug)]
    pub enum ViaInput {}

    /// Marks a [`FromCall`](crate::FromCall) type used as a handler's last argument.
    #[derive(Debug)]
    pub enum ViaCall {}
    pub use ts_rs;
}

/// The README's code, compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
