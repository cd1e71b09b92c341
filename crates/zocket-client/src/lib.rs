//! A typed Rust client for [zocket](https://docs.rs/zocket) servers (Zocket v1, JSON or
//! MessagePack), typed by the same route declarations as the server.
//!
//! - **Calls** to declared routes ([`Route`], derived on the input type) return the declared
//!   reply type: `client.call(Add { a: 1.0, b: 2.0 }).await` is a `Result<f64, ClientError>`.
//!   A call with an undeclared input, or whose reply is read as another type, does not
//!   compile. [`ClientError`] carries the server's code, message and issues, or says the
//!   connection dropped ([`Disconnected`](ClientError::Disconnected)) or the call timed out.
//! - **Events** are the server's outgoing enum (`#[derive(Outgoing)]` also decodes it), as
//!   [`Stream`](futures_core::Stream)s: every event, or one route's.
//! - **Resilience**: reconnects with exponential backoff and jitter ([`Backoff`], on by
//!   default), runs a re-join hook after each reconnection to a fresh session, fails calls in
//!   flight at once when the connection drops, times calls out (10 s by default, per call with
//!   [`Call::timeout`]), queues messages made while reconnecting in a bounded outbox (a full
//!   one refuses new messages with [`ClientError::OutboxFull`]), and replaces a connection
//!   whose server went silent ([`Heartbeat`]: WebSocket pings, a deadline). Every queue is
//!   bounded.
//! - **Resume**: with a server that has resume on, a reconnect after a drop asks for the same
//!   session back and, within the server's window, keeps its context and rooms and receives
//!   every event missed meanwhile, once and in order; the re-join hook runs only when the
//!   session is a fresh one ([`ClientBuilder::resume`]).
//! - **State**: [`ConnectionState`] (`Open { resumed }`, `Closed { code, reason }`,
//!   `Reconnecting { attempt, delay }`) now, as a `watch`, or every change as a stream;
//!   [`Client::close`], [`Client::reconnect`], [`Client::last_error`].
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use serde::{Deserialize, Serialize};
//! use zocket_client::{Client, ClientError, Outgoing, Route};
//!
//! // Usually in a crate the server shares (it derives Deserialize, Validate and TS too).
//! #[derive(Serialize, Deserialize, Route)]
//! #[zocket(route = "math.add", reply = f64)]
//! struct Add { a: f64, b: f64 }
//!
//! #[derive(Debug, Clone, Outgoing)]
//! enum Out {
//!     #[zocket(route = "system.tick")]
//!     Tick { n: i64 },
//! }
//!
//! #[derive(Serialize)]
//! struct Headers { token: String }
//!
//! # async fn run() -> Result<(), ClientError> {
//! let client = Client::<Out>::connect("ws://127.0.0.1:3000/")
//!     .headers(Headers { token: "secret".into() })
//!     .await?;
//! let mut ticks = client.events_on("system.tick");
//! let sum = client.call(Add { a: 1.0, b: 2.0 }).await?; // f64
//! while let Some(Out::Tick { n }) = ticks.next().await {
//!     println!("tick {n}, sum {sum}");
//! }
//! # Ok(()) }
//! ```
//!
//! TLS (`wss://`) uses rustls with the `ring` provider and the public roots of `webpki-roots`
//! ([`ClientBuilder::root_certificate`] adds more). permessage-deflate is offered when asked
//! for ([`ClientBuilder::compression`]).

mod backoff;
mod builder;
mod call;
mod client;
mod connect;
mod deflate;
mod driver;
mod error;
mod session;
mod state;
mod stream;
mod wire;

pub use backoff::Backoff;
pub use builder::{ClientBuilder, Heartbeat};
pub use call::Call;
pub use client::{Client, ServerEvents};
pub use error::ClientError;
pub use state::ConnectionState;
pub use stream::Subscription;
pub use wire::RawEvent;
pub use zocket_core::{DecodeOutgoing, Outgoing, PayloadOf, Route};
pub use zocket_protocol::{Codec, ErrorCode, ErrorPayload, Issue, PathSegment};

/// What the derives' generated code names when a crate depends on `zocket-client` alone.
#[doc(hidden)]
pub use zocket_core as __core;
