//! [`RawSocket`]: a bare WebSocket over this crate's transport, with no Zocket protocol on top,
//! for the Autobahn echo server (`examples/echo.rs`).

use super::close::Closing;
use super::decode::Incoming;
use super::frame::{self, FrameBuf, opcode};
use super::socket::{ReadError, Socket};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// The server end of a WebSocket: messages in, messages out, then the closing handshake. The
/// same reading, framing and closing code as a Zocket connection's.
#[derive(Debug)]
pub struct RawSocket<IO>(Socket<IO>);

impl<IO: AsyncRead + AsyncWrite + Unpin> RawSocket<IO> {
    /// A socket over `io` (an upgraded connection) accepting messages of up to
    /// `max_message` bytes.
    pub fn new(io: IO, max_message: usize) -> Self {
        // Messages go out through `write_one`, each in a frame of its own type.
        Self(Socket::new(io, max_message, false))
    }

    /// The next message or control frame. Cancel-safe.
    pub async fn read(&mut self) -> Result<Incoming, ReadError> {
        self.0.read().await
    }

    /// Sends a text (`binary == false`) or binary message in one frame.
    pub async fn send(&mut self, binary: bool, payload: &[u8]) -> io::Result<()> {
        let mut frame = FrameBuf::new();
        frame.payload().extend_from_slice(payload);
        let opcode = if binary { opcode::BINARY } else { opcode::TEXT };
        self.0.write_one(frame.finish(opcode)).await
    }

    /// Answers a ping with a pong carrying its payload (at most 125 bytes, as any ping's).
    pub async fn pong(&mut self, payload: &[u8]) -> io::Result<()> {
        if payload.len() > 125 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a pong carries at most 125 bytes",
            ));
        }
        self.0.write_one(frame::control(opcode::PONG, payload)).await
    }

    /// Ends the connection as `closing` says, within `grace`.
    pub async fn close(mut self, closing: Closing, grace: Duration) {
        self.0.close(closing, grace).await;
    }
}
