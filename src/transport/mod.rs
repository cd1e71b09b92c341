//! The WebSocket transport: the opening handshake, frames, and a connection's socket.
//!
//! Written for this server's needs rather than taken from a general WebSocket library: an idle
//! connection holds no read or write buffer, every outgoing frame is framed once and its bytes
//! shared by all recipients, and a batch of frames leaves in one vectored write.

pub(crate) mod frame;
pub(crate) mod handshake;
mod socket;

pub(crate) use socket::{Incoming, ReadError, Socket};

use bytes::Bytes;
use zocket_protocol::{Codec, EncodeError};

/// Encodes one message with `write` into a whole frame for a connection speaking `codec`.
pub(crate) fn encode(
    codec: Codec,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<Bytes, EncodeError> {
    let mut frame = frame::FrameBuf::new();
    write(frame.payload())?;
    let opcode = if codec.is_binary() {
        frame::opcode::BINARY
    } else {
        frame::opcode::TEXT
    };
    Ok(frame.finish(opcode))
}
