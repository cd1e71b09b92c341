//! [`RawSocket`]: a bare WebSocket over this crate's transport, with no Zocket protocol on top,
//! for the Autobahn echo server (`examples/echo.rs`).

use super::close::Closing;
use super::decode::Incoming;
use super::deflate::Agreed;
use super::frame::{self, FrameBuf, opcode};
use super::socket::{ReadError, Socket};
use bytes::Bytes;
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

    /// Turns on permessage-deflate as agreed in the handshake
    /// ([`Accepted::compression`](super::handshake::Accepted::compression)), before the first
    /// read or send.
    pub fn set_compression(&mut self, agreed: Agreed) {
        self.0.set_deflate(agreed);
    }

    /// The next message or control frame. Cancel-safe.
    pub async fn read(&mut self) -> Result<Incoming, ReadError> {
        self.0.read().await
    }

    /// Sends a text (`binary == false`) or binary message in one frame, compressed if
    /// permessage-deflate was agreed and the message is at least the threshold.
    pub async fn send(&mut self, binary: bool, payload: &Bytes) -> io::Result<()> {
        let mut opcode = if binary { opcode::BINARY } else { opcode::TEXT };
        let compressed = self.0.outgoing(payload);
        if compressed.is_some() {
            opcode |= frame::RSV1;
        }
        let mut frame = FrameBuf::new();
        frame
            .payload()
            .extend_from_slice(compressed.as_ref().unwrap_or(payload));
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
