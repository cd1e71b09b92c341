//! The WebSocket transport: the opening handshake, frames, messages, closing, and a
//! connection's socket.
//!
//! Written for this server's needs rather than taken from a general WebSocket library: an idle
//! connection holds no read or write buffer, outgoing messages are shared bytes framed as they
//! are written, and a batch of them leaves in one vectored write.
//!
//! **Low level, not a stable API**: what is public here serves the Autobahn echo server
//! (`examples/echo.rs`) and the fuzz targets (`fuzz/`), which test this layer on its own. Apps
//! use [`Zocket`](crate::Zocket).

pub(crate) mod close;
mod decode;
pub mod deflate;
pub(crate) mod direct;
pub(crate) mod frame;
pub mod handshake;
mod raw;
mod socket;
mod utf8;

pub use crate::Compression;
pub use close::{Closing, Violation, is_valid as is_valid_close_code};
pub use decode::{Decoder, Incoming};
pub use deflate::Agreed;
pub use raw::RawSocket;
pub use socket::ReadError;
pub(crate) use socket::{Pieces, Socket, footprint};
