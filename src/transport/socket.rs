//! [`Socket`]: one WebSocket connection's reads and writes, with no buffer held while idle.
//!
//! An idle connection holds no read buffer: a read lands in a buffer on the stack of the poll
//! that finds data, and only the bytes read are copied to the heap; a buffer is kept only while
//! a frame is arriving, and freed once it is consumed. Writes take a batch of shared message
//! bytes, frame them on the fly into a buffer on the stack and hand them to the kernel in one
//! `send` (a message too large for that buffer goes as slices, in a vectored write).

use super::close::Violation;
use super::decode::{Decoder, Incoming};
use super::deflate::{Agreed, Deflate};
use super::frame::{self, opcode};
use bytes::{Bytes, BytesMut};
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

/// Bytes read at most through the stack buffer (when little is awaited).
const STACK_READ: usize = 4096;

/// Messages are copied together into a buffer of this size on the stack and sent whole, as
/// many as fit; only a message larger than that is written with a vectored write.
const STACK_WRITE: usize = 16 * 1024;

/// The largest allocation messages read together share: a frame of up to [`STACK_READ`]
/// bytes is read with its neighbours into one buffer of at most this size; a larger frame gets
/// a buffer of exactly its size, shared with nothing.
const SHARED_READ: usize = 2 * STACK_READ;

/// The most memory a message of `len` bytes returned by [`Socket::read`] can keep alive while
/// it (or any slice of it) lives: its allocation's size, not its length.
pub(crate) fn footprint(len: usize) -> usize {
    (len + len / 8 + 1024).max(SHARED_READ)
}

/// Slices per vectored write at most, for messages of one piece (messages of more pieces
/// take up to twice as many).
const IOV: usize = 64;

/// The non-empty parts of a frame (`head`, then the pieces of `message`) after its first
/// `skip` bytes, already written.
fn unsent<'a, M: Pieces>(head: &'a [u8], message: &'a M, mut skip: usize) -> impl Iterator<Item = &'a [u8]> {
    let [a, b, c] = message.pieces();
    [head, a, b, c].into_iter().filter_map(move |piece| {
        if skip >= piece.len() {
            skip -= piece.len();
            None
        } else {
            let rest = &piece[skip..];
            skip = 0;
            Some(rest)
        }
    })
}

/// The bytes `message` takes on the wire: its header (none if it is framed already) and its
/// payload.
fn wire_len<M: Pieces>(message: &M) -> usize {
    let len = message.len();
    if message.framed() {
        len
    } else {
        frame::header_len(len) + len
    }
}

/// A message to write, in up to three pieces written back to back as one frame's payload:
/// a shared message with a few bytes changed at its ends (a sequence number added) is
/// written without copying it.
pub(crate) trait Pieces {
    /// The payload's pieces, in order (some may be empty).
    fn pieces(&self) -> [&[u8]; 3];

    /// The payload's length.
    fn len(&self) -> usize {
        self.pieces().iter().map(|piece| piece.len()).sum()
    }

    /// Whether the pieces are whole frames already, headers included: written as they are,
    /// with no header of their own.
    fn framed(&self) -> bool {
        false
    }

    /// The message as one shared buffer, if it is one (nothing changed at its ends): with
    /// permessage-deflate and no context takeover, all the recipients of such a message share
    /// its compressed bytes.
    fn whole(&self) -> Option<&Bytes> {
        None
    }

    /// Replaces the message with `payload`, its compressed form.
    fn replace(&mut self, payload: Bytes);
}

impl Pieces for Bytes {
    fn pieces(&self) -> [&[u8]; 3] {
        [self, &[], &[]]
    }

    fn whole(&self) -> Option<&Bytes> {
        Some(self)
    }

    fn replace(&mut self, payload: Bytes) {
        *self = payload;
    }

    fn len(&self) -> usize {
        Bytes::len(self)
    }
}

/// Why reading stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The client broke a rule; the connection is failed with the violation's close code.
    Violation(Violation),
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
    pub(super) io: IO,
    /// What was read and not yet taken as messages; holds no buffer between frames.
    decoder: Decoder,
    /// The opcode of the data frames written: text or binary.
    opcode: u8,
    /// A control frame to write ahead of the next messages (after the rest of a frame begun
    /// elsewhere, if any: see [`queue_unfinished`](Self::queue_unfinished)).
    control: Option<Bytes>,
    /// How long a message may take from its first byte to its last.
    message_timeout: Option<Duration>,
    /// When the message being received began to arrive, once a read had to wait for more.
    started: Option<Instant>,
    /// Bytes read so far, wrapping.
    received: u64,
    /// Compression of outgoing messages, if permessage-deflate was agreed.
    deflate: Option<Box<Deflate>>,
}

impl<IO> std::fmt::Debug for Socket<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("decoder", &self.decoder)
            .finish_non_exhaustive()
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Socket<IO> {
    /// A socket over `io` that accepts messages up to `max_message` bytes and writes its
    /// messages as binary frames if `binary`, text frames if not.
    pub(crate) fn new(io: IO, max_message: usize, binary: bool) -> Self {
        Self {
            io,
            decoder: Decoder::new(max_message),
            opcode: if binary { opcode::BINARY } else { opcode::TEXT },
            control: None,
            message_timeout: None,
            started: None,
            received: 0,
            deflate: None,
        }
    }

    /// Turns on permessage-deflate as agreed in the handshake (before the first read or
    /// write): compressed messages are read, and messages of at least the threshold are sent
    /// compressed.
    pub(crate) fn set_deflate(&mut self, agreed: Agreed) {
        let max = self.decoder.max_message();
        self.decoder = Decoder::with_deflate(max, &agreed);
        self.deflate = Some(Box::new(Deflate::new(agreed)));
    }

    /// The payload of one message as it is to be sent: compressed (RSV1) or not.
    pub(crate) fn outgoing(&mut self, message: &Bytes) -> Option<Bytes> {
        self.deflate.as_mut()?.outgoing(message)
    }

    /// Fails the connection ([`Violation::Stalled`], close 1008) when a message takes longer
    /// than `limit` to arrive once its first byte has, however slowly its bytes trickle in.
    pub(crate) fn set_message_timeout(&mut self, limit: Duration) {
        self.message_timeout = Some(limit);
    }

    /// How many bytes have been read so far (wrapping): progress, even mid-message.
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// The next message. Cancel-safe: dropping the future loses nothing already read.
    pub(crate) async fn read(&mut self) -> Result<Incoming, ReadError> {
        loop {
            if let Some(message) = self.decode()? {
                return Ok(message);
            }
            let wanted = self.decoder.wanted();
            let Some(limit) = self.message_timeout.filter(|_| !self.decoder.is_idle()) else {
                self.fill(wanted).await?;
                continue;
            };
            // Part of a message is here: the rest has a deadline, counted from when the first
            // read had to wait for more (control frames between fragments do not restart it).
            // Boxed, and made only then, so idle connections pay nothing for it.
            let since = *self.started.get_or_insert_with(Instant::now);
            match Box::pin(tokio::time::timeout_at(since + limit, self.fill(wanted))).await {
                Ok(filled) => filled?,
                Err(_) => return Err(Violation::Stalled.into()),
            }
        }
    }

    /// The next message if it was already read (a client that pipelines sends several per
    /// read), without waiting.
    pub(crate) fn read_buffered(&mut self) -> Option<Result<Incoming, ReadError>> {
        self.decode().transpose()
    }

    /// Whether bytes of another message were read already: a client that sends several at a
    /// time.
    pub(crate) fn has_buffered(&self) -> bool {
        !self.decoder.is_idle()
    }

    fn decode(&mut self) -> Result<Option<Incoming>, ReadError> {
        let message = self.decoder.decode()?;
        if message.is_some() && !self.decoder.is_mid_message() {
            self.started = None;
        }
        Ok(message)
    }

    /// Reads at least one byte towards `total` buffered bytes in all.
    async fn fill(&mut self, total: usize) -> Result<(), ReadError> {
        let buf = self.decoder.buffer();
        let read = if total <= STACK_READ {
            // The buffer lives on this poll's stack, never in the connection's task.
            std::future::poll_fn(|cx| {
                let mut stack = [MaybeUninit::<u8>::uninit(); STACK_READ];
                let mut read = ReadBuf::uninit(&mut stack);
                ready!(Pin::new(&mut self.io).poll_read(cx, &mut read))?;
                let filled = read.filled();
                if buf.capacity() - buf.len() < filled.len() {
                    // Exactly what is needed (never a doubling): messages read together share
                    // at most `SHARED_READ` bytes.
                    let mut fresh = BytesMut::with_capacity(buf.len() + filled.len());
                    fresh.extend_from_slice(buf);
                    *buf = fresh;
                }
                buf.extend_from_slice(filled);
                Poll::Ready(Ok::<_, io::Error>(filled.len()))
            })
            .await
            .map_err(ReadError::Io)?
        } else {
            if buf.capacity() < total {
                // A large frame gets an allocation of its own size, and the read stops at its
                // end: a small message read after it would otherwise keep all of it alive.
                let mut exact = BytesMut::with_capacity(total);
                exact.extend_from_slice(buf);
                *buf = exact;
            }
            self.io.read_buf(buf).await.map_err(ReadError::Io)?
        };
        if read == 0 {
            return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        self.received = self.received.wrapping_add(read as u64);
        Ok(())
    }

    /// Queues a whole control frame (ping, pong) to go out first with the next
    /// [`write`](Self::write); it replaces one still waiting, so a flood of pings leaves at
    /// most one pong pending.
    pub(crate) fn queue_control(&mut self, frame: Bytes) {
        self.control = Some(frame);
    }

    /// Queues the rest of a frame a sender began writing directly (`direct.rs`): bytes already
    /// framed, written as they are before anything else by the next [`write`](Self::write).
    /// It goes with the control frame, in front: nothing queues a control frame between this and
    /// that write.
    pub(crate) fn queue_unfinished(&mut self, rest: Bytes) {
        self.control = Some(match self.control.take() {
            None => rest,
            Some(control) => [rest, control].concat().into(),
        });
    }

    /// Whether [`write`](Self::write) has anything to send besides messages.
    pub(crate) fn has_control(&self) -> bool {
        self.control.is_some()
    }

    /// Writes the queued control frame (and the rest of a frame begun elsewhere), if any, then
    /// every message of `messages` (emptying it) as a final data frame of the socket's data
    /// opcode, and flushes.
    ///
    /// Messages are framed here, on the stack of the poll that writes them: each frame's
    /// header and the shared message bytes (in up to three [`Pieces`]) are copied into one
    /// buffer there, never into the heap; a message too large for it is written in place.
    ///
    /// Not an `async fn`, which would keep a second copy of its arguments: every connection's
    /// task keeps room for this future.
    #[allow(
        clippy::manual_async_fn,
        reason = "an `async fn` keeps a copy of its arguments in its future"
    )]
    pub(crate) fn write<'a, M: Pieces>(
        &'a mut self,
        messages: &'a mut Vec<M>,
    ) -> impl Future<Output = io::Result<()>> + 'a {
        async move {
            if let Some(control) = self.control.as_deref() {
                self.io.write_all(control).await?;
                self.control = None;
            }
            let opcode = self.opcode;
            // With permessage-deflate, messages of the threshold or more are swapped for their
            // compressed payload and marked (RSV1) here, in order (a compressor with context
            // takeover must see them in the order the client will). Without it, nothing changes.
            if let Some(deflate) = self.deflate.as_deref_mut() {
                deflate.compress_batch(messages);
            }
            let deflate = self.deflate.as_deref();
            let mut first = 0;
            // Bytes of `messages[first]`, header included, already written.
            let mut sent = 0;
            while first < messages.len() {
                // Buffers live on the stack of each poll, not in the connection's task.
                let written = std::future::poll_fn(|cx| {
                    // The header of `messages[first + i]`, and its length.
                    let head = |i: usize, message: &M| {
                        let mut head = [0u8; frame::MAX_HEADER];
                        if message.framed() {
                            return (head, 0);
                        }
                        let compressed = deflate.is_some_and(|deflate| deflate.is_compressed(first + i));
                        let rsv1 = if compressed { frame::RSV1 } else { 0 };
                        let len = frame::header(&mut head, opcode | rsv1, message.len());
                        (head, len)
                    };
                    // Messages are framed and copied together, as many as fit, and go out in one
                    // `send`: a socket's `send` of one buffer costs the kernel far less than a
                    // `writev` of two slices per message (the file layer, and a check and a copy
                    // per slice). A batch of 64 broadcast frames is one `send`.
                    let mut stack = [MaybeUninit::<u8>::uninit(); STACK_WRITE];
                    let mut gathered = ReadBuf::uninit(&mut stack);
                    for (i, message) in messages[first..].iter().enumerate() {
                        let (head, len) = head(i, message);
                        let skip = if i == 0 { sent } else { 0 };
                        if len + message.len() - skip > gathered.remaining() {
                            break;
                        }
                        for piece in unsent(&head[..len], message, skip) {
                            gathered.put_slice(piece);
                        }
                    }
                    if !gathered.filled().is_empty() {
                        return Pin::new(&mut self.io).poll_write(cx, gathered.filled());
                    }
                    // The next message is larger than the buffer: it goes out as slices (its header
                    // and its pieces), with those after it.
                    let count = (messages.len() - first).min(IOV / 2);
                    let mut heads = [([0u8; frame::MAX_HEADER], 0); IOV / 2];
                    for (i, (head_of, message)) in heads.iter_mut().zip(&messages[first..first + count]).enumerate() {
                        *head_of = head(i, message);
                    }
                    // A header and up to three pieces per message.
                    let mut slices = [IoSlice::new(&[]); 2 * IOV];
                    let mut used = 0;
                    for (i, ((head, len), message)) in heads.iter().zip(&messages[first..first + count]).enumerate() {
                        for piece in unsent(&head[..*len], message, if i == 0 { sent } else { 0 }) {
                            slices[used] = IoSlice::new(piece);
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
                    let whole = wire_len(&messages[first]) - sent;
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
    }

    /// Writes one frame and flushes.
    pub(crate) async fn write_one(&mut self, frame: Bytes) -> io::Result<()> {
        self.io.write_all(&frame).await?;
        self.io.flush().await
    }
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
        assert!(matches!(socket.read().await.unwrap(), Incoming::Text(d) if &d[..] == "héllo wörld".as_bytes()));
        assert!(matches!(socket.read().await.unwrap(), Incoming::Binary(d) if d.len() == 2000));
        assert!(matches!(socket.read().await.unwrap(), Incoming::Close(Some(1000))));
        assert_eq!(socket.decoder.held(), 0, "no buffer kept between messages");
    }

    #[tokio::test]
    async fn refuses_bad_text_and_oversized_messages() {
        let (mut client, server) = duplex(1 << 16);
        let mut socket = Socket::new(server, 100, false);
        client
            .write_all(&client_frame(true, opcode::TEXT, &[0xff, 0xfe]))
            .await
            .unwrap();
        assert!(matches!(
            socket.read().await,
            Err(ReadError::Violation(Violation::NotUtf8))
        ));

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
    async fn a_large_frame_arriving_in_pieces_is_read_whole() {
        let (mut client, server) = duplex(1000);
        let mut socket = Socket::new(server, 1 << 20, true);
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let wire = client_frame(true, opcode::BINARY, &payload);
        let writer = tokio::spawn(async move { client.write_all(&wire).await.map(|()| client) });
        assert!(matches!(socket.read().await.unwrap(), Incoming::Binary(d) if d[..] == payload[..]));
        assert_eq!(socket.decoder.held(), 0);
        drop(writer.await.unwrap().unwrap());
        assert!(
            matches!(socket.read().await, Err(ReadError::Io(_))),
            "the end of the stream"
        );
    }

    #[tokio::test]
    async fn writes_a_batch_whole_framed_and_in_order() {
        // A small pipe, so writes stop part-way through headers and payloads alike; and a
        // large one, so each write gathers as many messages as fit.
        for pipe in [61, 1 << 20] {
            let (mut client, server) = duplex(pipe);
            let mut socket = Socket::new(server, 100, true);
            // Small messages, then messages around each header size, and around what one
            // gathered write holds (a 4-byte header: STACK_WRITE - 4 fits exactly).
            let sizes = (0..200usize).map(|i| i % 7 + 1).chain([
                125,
                126,
                127,
                65_535,
                65_536,
                70_000,
                3,
                STACK_WRITE - 4,
                STACK_WRITE - 3,
                STACK_WRITE,
                5,
                STACK_WRITE - 100,
                200,
            ]);
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
                assert!(got == expected, "the bytes on the wire differ (pipe of {pipe})");
            });
            let mut batch = messages;
            socket.queue_control(frame::control(opcode::PONG, b"old"));
            socket.queue_control(ping);
            socket.write(&mut batch).await.unwrap();
            assert!(batch.is_empty());
            reader.await.unwrap();
        }
    }
}
