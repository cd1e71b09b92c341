//! Closing (RFC 6455, sections 5.5.1, 7 and 7.4): which close codes are valid, what a client's
//! close frame says, why the server fails a connection, and the closing handshake itself.

use super::Socket;
use super::decode::Incoming;
use super::frame::{self, opcode};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Why the server fails a connection: what the client sent that it must not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// Not a valid frame, or frame sequence, for a server to receive (close 1002).
    Protocol(&'static str),
    /// A text message, or a close frame's reason, that is not UTF-8 (close 1007).
    NotUtf8,
    /// A message larger than the connection accepts (close 1009).
    TooBig,
    /// A message that began but did not arrive whole within the server's deadline (close 1008).
    Stalled,
}

impl Violation {
    /// The close code the server sends for it.
    pub fn code(self) -> u16 {
        match self {
            Self::Protocol(_) => 1002,
            Self::NotUtf8 => 1007,
            Self::TooBig => 1009,
            Self::Stalled => 1008,
        }
    }

    /// The close reason the server sends for it.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Protocol(reason) => reason,
            Self::NotUtf8 => "invalid UTF-8",
            Self::TooBig => "message too big",
            Self::Stalled => "message not completed in time",
        }
    }
}

/// Whether `code` may appear in a close frame: the codes RFC 6455 defines for use on the wire
/// (1000-1003, 1007-1011), those IANA has registered since (1012-1014), and the ranges for
/// libraries and applications (3000-4999). Never 1004 (reserved), 1005, 1006 or 1015 (only
/// ever reported locally), nor anything unassigned.
pub fn is_valid(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The close code of a client's close frame, if it has one, once checked: a one-byte payload
/// or an invalid code is a protocol error, a reason that is not UTF-8 is refused with 1007.
pub(crate) fn parse(payload: &[u8]) -> Result<Option<u16>, Violation> {
    match *payload {
        [] => Ok(None),
        [_] => Err(Violation::Protocol("a close frame with half a code")),
        [high, low, ref reason @ ..] => {
            // The reason first, as tungstenite does: a frame wrong twice fails the same way.
            if std::str::from_utf8(reason).is_err() {
                return Err(Violation::NotUtf8);
            }
            let code = u16::from_be_bytes([high, low]);
            if !is_valid(code) {
                return Err(Violation::Protocol("invalid close code"));
            }
            Ok(Some(code))
        }
    }
}

/// How a connection ends on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// The client sent a close frame (with this code, if any, already checked): the reply
    /// echoes it, then the server closes the TCP connection.
    Echo(Option<u16>),
    /// The server closes with this code and reason, then waits for the client's close frame.
    Close(u16, &'static str),
    /// The client broke a rule: the server sends the violation's close code, closes its
    /// sending side, and discards whatever the client still sends until it hangs up.
    Fail(Violation),
    /// The connection is gone: nothing can be sent.
    Gone,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Socket<IO> {
    /// Ends the connection as `closing` says, within `grace` in all: a client that does not
    /// play its part is not waited for longer.
    pub(crate) async fn close(&mut self, closing: Closing, grace: Duration) {
        let _ = tokio::time::timeout(grace, self.closing(closing)).await;
    }

    async fn closing(&mut self, closing: Closing) -> std::io::Result<()> {
        match closing {
            Closing::Echo(code) => {
                let reply = match code {
                    Some(code) => frame::close(code, ""),
                    None => frame::control(opcode::CLOSE, &[]),
                };
                self.send_control(&reply).await?;
                // The server closes the TCP connection first (section 7.1.1).
                self.io.shutdown().await
            }
            Closing::Close(code, reason) => {
                self.send_control(&frame::close(code, reason)).await?;
                // Messages still arriving are dropped; the client's close ends the handshake.
                while !matches!(self.read().await, Ok(Incoming::Close(_)) | Err(_)) {}
                self.io.shutdown().await
            }
            Closing::Fail(violation) => {
                self.send_control(&frame::close(violation.code(), violation.reason()))
                    .await?;
                self.io.shutdown().await?;
                // Nothing more can be parsed, yet the client may still be sending (the rest of
                // an oversized message, its close reply): closing with unread bytes would reset
                // the connection and could lose the close frame. They are read and dropped
                // until the client, seeing the close, hangs up.
                self.discard().await
            }
            Closing::Gone => Ok(()),
        }
    }

    /// Writes one control frame and flushes.
    async fn send_control(&mut self, frame: &[u8]) -> std::io::Result<()> {
        self.io.write_all(frame).await?;
        self.io.flush().await
    }

    /// Reads and drops everything until the end of the stream, holding no buffer.
    async fn discard(&mut self) -> std::io::Result<()> {
        loop {
            let read = std::future::poll_fn(|cx| {
                let mut stack = [MaybeUninit::<u8>::uninit(); 4096];
                let mut read = ReadBuf::uninit(&mut stack);
                ready!(Pin::new(&mut self.io).poll_read(cx, &mut read))?;
                Poll::Ready(Ok::<_, std::io::Error>(read.filled().len()))
            })
            .await?;
            if read == 0 {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_codes_meant_for_the_wire_are_valid() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999,
        ] {
            assert!(is_valid(code), "{code}");
        }
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, u16::MAX] {
            assert!(!is_valid(code), "{code}");
        }
    }

    #[test]
    fn a_close_payload_is_checked_whole() {
        assert_eq!(parse(b""), Ok(None));
        assert_eq!(parse(b"\x03\xe8"), Ok(Some(1000)));
        assert_eq!(parse(&[b"\x0f\xa0", "çà va".as_bytes()].concat()), Ok(Some(4000)));
        assert_eq!(
            parse(b"\x03"),
            Err(Violation::Protocol("a close frame with half a code"))
        );
        assert_eq!(parse(b"\x03\xed"), Err(Violation::Protocol("invalid close code")));
        assert_eq!(parse(b"\x03\xe8\xce"), Err(Violation::NotUtf8));
        // Wrong twice: the reason is judged first.
        assert_eq!(parse(b"\x03\xee\xff"), Err(Violation::NotUtf8));
    }
}
