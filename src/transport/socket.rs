//! [`Socket`]: one WebSocket connection's reads and writes, with no buffer held while idle.
//!
//! An idle connection holds no read buffer: a read lands in a buffer on the stack of the poll
//! that finds data, and only the bytes read are copied to the heap; a buffer is kept only while
//! a frame is arriving, and freed once it is consumed. Writes take a batch of shared message
//! bytes, frame them on the fly and hand them to the kernel in one vectored write.

use super::frame::{self, Parsed, Violation, opcode};
use bytes::{Bytes, BytesMut};
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Poll, ready};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Bytes read at most through the stack buffer (when little is awaited).
const STACK_READ: usize = 4096;

/// Frames per vectored write at most.
const IOV: usize = 64;

/// A whole message (or control frame) from the client.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A text or binary message; text is valid UTF-8.
    Data(Bytes),
    /// A ping, to answer with a pong carrying the same bytes.
    Ping(Bytes),
    /// A pong.
    Pong,
    /// The client is closing, with this code if it gave one.
    Close(Option<u16>),
}

/// Why reading stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The client broke the protocol (close 1002) or sent too much (close 1009).
    Violation(Violation),
    /// A text message that is not UTF-8 (close 1007).
    NotUtf8,
    /// The connection failed or ended.
    Io(io::Error),
}

impl From<Violation> for ReadError {
    fn from(violation: Violation) -> Self {
        Self::Violation(violation)
    }
}

/// The server end of a WebSocket connection over any byte stream.
pub(crate) struct Socket<IO> {
    io: IO,
    /// Bytes read and not yet parsed; empty (and unallocated) between frames.
    buf: BytesMut,
    /// A fragmented message being assembled: its opcode and the bytes so far.
    partial: Option<(u8, BytesMut)>,
    /// The largest message accepted; a larger one is refused from its header.
    max_message: usize,
    /// The opcode of the data frames written: text or binary.
    opcode: u8,
    /// A control frame to write ahead of the next messages.
    control: Option<Bytes>,
}

impl<IO> std::fmt::Debug for Socket<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Socket<IO> {
    /// A socket over `io` that accepts messages up to `max_message` bytes and writes its
    /// messages as binary frames if `binary`, text frames if not.
    pub(crate) fn new(io: IO, max_message: usize, binary: bool) -> Self {
        Self {
            io,
            buf: BytesMut::new(),
            partial: None,
            max_message,
            opcode: if binary { opcode::BINARY } else { opcode::TEXT },
            control: None,
        }
    }

    /// The next message. Cancel-safe: dropping the future loses nothing already read.
    pub(crate) async fn read(&mut self) -> Result<Incoming, ReadError> {
        loop {
            match self.parse()? {
                Ok(message) => return Ok(message),
                Err(total) => self.fill(total).await?,
            }
        }
    }

    /// The next message if it was already read (a client that pipelines sends several per
    /// read), without waiting.
    pub(crate) fn read_buffered(&mut self) -> Option<Result<Incoming, ReadError>> {
        match self.parse() {
            Ok(Ok(message)) => Some(Ok(message)),
            Ok(Err(_)) => None,
            Err(error) => Some(Err(error)),
        }
    }

    /// A whole message from what is buffered, or how many bytes in all the next frame needs.
    fn parse(&mut self) -> Result<Result<Incoming, usize>, ReadError> {
        loop {
            let room = self.max_message - self.partial.as_ref().map_or(0, |(_, bytes)| bytes.len());
            match frame::parse(&mut self.buf, room)? {
                Parsed::Frame(frame) => {
                    if self.buf.is_empty() {
                        // Between frames nothing is kept: an idle connection holds no buffer.
                        self.buf = BytesMut::new();
                    }
                    if let Some(message) = self.assemble(frame)? {
                        return Ok(Ok(message));
                    }
                }
                Parsed::Need(total) => return Ok(Err(total)),
            }
        }
    }

    async fn fill(&mut self, total: usize) -> Result<(), ReadError> {
        let wanted = total - self.buf.len();
        let read = if wanted <= STACK_READ {
            // The buffer lives on this poll's stack, never in the connection's task.
            std::future::poll_fn(|cx| {
                let mut stack = [MaybeUninit::<u8>::uninit(); STACK_READ];
                let mut read = ReadBuf::uninit(&mut stack);
                ready!(Pin::new(&mut self.io).poll_read(cx, &mut read))?;
                self.buf.extend_from_slice(read.filled());
                Poll::Ready(Ok::<_, io::Error>(read.filled().len()))
            })
            .await
            .map_err(ReadError::Io)?
        } else {
            self.buf.reserve(wanted);
            self.io.read_buf(&mut self.buf).await.map_err(ReadError::Io)?
        };
        if read == 0 {
            return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        Ok(())
    }

    fn assemble(&mut self, frame: frame::Frame) -> Result<Option<Incoming>, ReadError> {
        let message = match frame.opcode {
            opcode::TEXT | opcode::BINARY => {
                if self.partial.is_some() {
                    return Err(Violation::Protocol("a new message began before the last one ended").into());
                }
                if !frame.fin {
                    self.partial = Some((frame.opcode, frame.payload));
                    return Ok(None);
                }
                data(frame.opcode, frame.payload)?
            }
            opcode::CONTINUATION => {
                let Some((first, mut bytes)) = self.partial.take() else {
                    return Err(Violation::Protocol("a continuation with no message to continue").into());
                };
                bytes.extend_from_slice(&frame.payload);
                if !frame.fin {
                    self.partial = Some((first, bytes));
                    return Ok(None);
                }
                data(first, bytes)?
            }
            opcode::PING => Incoming::Ping(frame.payload.freeze()),
            opcode::PONG => Incoming::Pong,
            _ => {
                if frame.payload.len() == 1 {
                    return Err(Violation::Protocol("a close frame with half a code").into());
                }
                let code = frame
                    .payload
                    .get(..2)
                    .map(|code| u16::from_be_bytes([code[0], code[1]]));
                Incoming::Close(code)
            }
        };
        Ok(Some(message))
    }

    /// Queues a whole control frame (ping, pong) to go out first with the next
    /// [`write`](Self::write); it replaces one still waiting, so a flood of pings leaves at
    /// most one pong pending.
    pub(crate) fn queue_control(&mut self, frame: Bytes) {
        self.control = Some(frame);
    }

    /// Whether [`write`](Self::write) has anything to send.
    pub(crate) fn has_control(&self) -> bool {
        self.control.is_some()
    }

    /// Writes the queued control frame, if any, then every message of `messages` (emptying it)
    /// as a final data frame of the socket's data opcode, and flushes.
    ///
    /// Messages are framed here: each frame's header is built on the stack of the poll that
    /// writes it, beside the shared message bytes, so a message is never copied.
    pub(crate) async fn write(&mut self, messages: &mut Vec<Bytes>) -> io::Result<()> {
        if let Some(control) = self.control.as_deref() {
            self.io.write_all(control).await?;
            self.control = None;
        }
        let opcode = self.opcode;
        let mut first = 0;
        // Bytes of `messages[first]`, header included, already written.
        let mut sent = 0;
        while first < messages.len() {
            // Headers and slices live on the stack of each poll, not in the connection's task.
            let written = std::future::poll_fn(|cx| {
                let mut heads = [[0u8; frame::MAX_HEADER]; IOV / 2];
                let count = (messages.len() - first).min(IOV / 2);
                let mut lens = [0usize; IOV / 2];
                for ((head, len), message) in heads.iter_mut().zip(&mut lens).zip(&messages[first..first + count]) {
                    *len = frame::header(head, opcode, message.len());
                }
                let mut slices = [IoSlice::new(&[]); IOV];
                let mut used = 0;
                for (i, message) in messages[first..first + count].iter().enumerate() {
                    let skip = if i == 0 { sent } else { 0 };
                    let head = &heads[i][..lens[i]];
                    if skip < head.len() {
                        slices[used] = IoSlice::new(&head[skip..]);
                        slices[used + 1] = IoSlice::new(message);
                        used += 2;
                    } else {
                        slices[used] = IoSlice::new(&message[skip - head.len()..]);
                        used += 1;
                    }
                }
                Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..used])
            })
            .await?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            let mut left = written;
            while left > 0 {
                let len = messages[first].len();
                let whole = frame::header_len(len) + len - sent;
                if left >= whole {
                    left -= whole;
                    first += 1;
                    sent = 0;
                } else {
                    sent += left;
                    left = 0;
                }
            }
        }
        messages.clear();
        self.io.flush().await
    }

    /// Writes one frame and flushes.
    pub(crate) async fn write_one(&mut self, frame: Bytes) -> io::Result<()> {
        self.io.write_all(&frame).await?;
        self.io.flush().await
    }
}

fn data(opcode: u8, bytes: BytesMut) -> Result<Incoming, ReadError> {
    if opcode == opcode::TEXT && std::str::from_utf8(&bytes).is_err() {
        return Err(ReadError::NotUtf8);
    }
    Ok(Incoming::Data(bytes.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::frame::tests::client_frame;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    #[tokio::test]
    async fn reads_fragmented_messages_between_control_frames() {
        let (mut client, server) = duplex(1 << 16);
        let mut socket = Socket::new(server, 1 << 20, false);
        let mut wire = client_frame(false, opcode::TEXT, "héllo ".as_bytes());
        wire.extend(client_frame(true, opcode::PING, b"p"));
        wire.extend(client_frame(true, opcode::CONTINUATION, "wörld".as_bytes()));
        wire.extend(client_frame(true, opcode::BINARY, &[0xff; 2000]));
        wire.extend(client_frame(true, opcode::CLOSE, &1000u16.to_be_bytes()));
        client.write_all(&wire).await.unwrap();
        assert!(matches!(socket.read().await.unwrap(), Incoming::Ping(p) if &p[..] == b"p"));
        assert!(matches!(socket.read().await.unwrap(), Incoming::Data(d) if &d[..] == "héllo wörld".as_bytes()));
        assert!(matches!(socket.read().await.unwrap(), Incoming::Data(d) if d.len() == 2000));
        assert!(matches!(socket.read().await.unwrap(), Incoming::Close(Some(1000))));
        assert!(socket.buf.capacity() == 0, "no buffer kept between messages");
    }

    #[tokio::test]
    async fn refuses_bad_text_and_oversized_messages() {
        let (mut client, server) = duplex(1 << 16);
        let mut socket = Socket::new(server, 100, false);
        client
            .write_all(&client_frame(true, opcode::TEXT, &[0xff, 0xfe]))
            .await
            .unwrap();
        assert!(matches!(socket.read().await, Err(ReadError::NotUtf8)));

        let (mut client, server) = duplex(1 << 16);
        let mut socket = Socket::new(server, 100, false);
        let mut wire = client_frame(false, opcode::TEXT, &[b'a'; 60]);
        wire.extend(client_frame(true, opcode::CONTINUATION, &[b'a'; 60]));
        client.write_all(&wire).await.unwrap();
        assert!(matches!(
            socket.read().await,
            Err(ReadError::Violation(Violation::TooBig))
        ));
    }

    #[tokio::test]
    async fn writes_a_batch_whole_framed_and_in_order() {
        // A small pipe, so writes stop part-way through headers and payloads alike.
        let (mut client, server) = duplex(61);
        let mut socket = Socket::new(server, 100, true);
        let sizes = (0..200usize)
            .map(|i| i % 7 + 1)
            .chain([125, 126, 127, 65_535, 65_536, 70_000]);
        let messages: Vec<Bytes> = sizes.enumerate().map(|(i, n)| Bytes::from(vec![i as u8; n])).collect();
        let ping = frame::control(opcode::PING, b"p");
        // What a frame built whole, header in front, looks like.
        let mut expected = ping.to_vec();
        for message in &messages {
            let mut whole = frame::FrameBuf::new();
            whole.payload().extend_from_slice(message);
            expected.extend_from_slice(&whole.finish(opcode::BINARY));
        }
        let reader = tokio::spawn(async move {
            let mut got = vec![0; expected.len()];
            client.read_exact(&mut got).await.unwrap();
            assert!(got == expected, "the bytes on the wire differ");
        });
        let mut batch = messages;
        socket.queue_control(frame::control(opcode::PONG, b"old"));
        socket.queue_control(ping);
        socket.write(&mut batch).await.unwrap();
        assert!(batch.is_empty());
        reader.await.unwrap();
    }
}
