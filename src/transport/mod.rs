//! The WebSocket transport: the opening handshake, frames, and a connection's socket.
//!
//! Written for this server's needs rather than taken from a general WebSocket library: an idle
//! connection holds no read or write buffer, outgoing messages are shared bytes framed as they
//! are written, and a batch of them leaves in one vectored write.

pub(crate) mod frame;
pub(crate) mod handshake;
mod socket;

pub(crate) use socket::{Incoming, ReadError, Socket};
