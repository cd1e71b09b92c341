//! Direct writes: a TCP connection shared by its connection task and the tasks that send to
//! it, so that a broadcast writes each recipient's frame from the sending task, as it loops
//! over the recipients, instead of queueing it and waking the recipient's task to write it.
//!
//! The connection task reads and writes through [`Stream`]; a sender holds the same socket
//! (in the recipient's outbox, `hub/outbox.rs`) and calls [`send_frame`], which never waits:
//! the outbox lets it only while nothing is queued and the connection task is not writing,
//! under the outbox's lock, so frames keep their order. Connections behind TLS (or any stream
//! other than hyper's plain TCP) are served as before, through the queue.

use super::frame;
use bytes::{Buf, Bytes};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
#[cfg(feature = "testing")]
use tokio::io::DuplexStream;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// Frames of up to this many bytes (header included) are copied into one buffer on the stack
/// and sent whole, as the connection task sends its small writes.
const STACK_SEND: usize = 2048;

/// An upgraded connection: plain TCP, which senders can write to directly, or any other.
#[derive(Debug)]
pub(crate) enum Stream {
    /// Plain TCP, shared with senders.
    Tcp(SharedTcp),
    /// Anything else hyper upgraded (a TLS stream, say).
    Other(TokioIo<Upgraded>),
    /// An in-memory pipe (the `testing` module's clients).
    #[cfg(feature = "testing")]
    Memory(DuplexStream),
}

impl Stream {
    /// The upgraded connection, as plain TCP if it is.
    pub(crate) fn new(upgraded: Upgraded) -> Self {
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => Self::Tcp(SharedTcp {
                target: Target::new(Arc::new(no_delay(parts.io.into_inner()))),
                // Copied: the slice would keep hyper's whole read buffer (8 KiB) alive.
                early: Bytes::copy_from_slice(&parts.read_buf),
            }),
            Err(upgraded) => Self::Other(TokioIo::new(upgraded)),
        }
    }

    /// The TCP socket, for senders to write to, if it is one.
    pub(crate) fn tcp(&self) -> Option<Target> {
        match self {
            Self::Tcp(tcp) => Some(tcp.target.clone()),
            Self::Other(_) => None,
            #[cfg(feature = "testing")]
            Self::Memory(_) => None,
        }
    }
}

/// The socket with Nagle's algorithm off: a message goes out when it is written, not after
/// the peer acknowledges the one before (up to its delayed ACK, 40 ms on Linux).
fn no_delay(stream: TcpStream) -> TcpStream {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
    stream
}

/// A TCP stream shared with senders: the connection task reads and writes through it with
/// readiness and non-blocking calls, which take `&TcpStream`.
#[derive(Debug)]
pub(crate) struct SharedTcp {
    target: Target,
    /// Bytes hyper read past the upgrade request: the client's first frames, read first.
    early: Bytes,
}

impl AsyncRead for SharedTcp {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.early.is_empty() {
            let n = this.early.len().min(buf.remaining());
            buf.put_slice(&this.early[..n]);
            this.early.advance(n);
            if this.early.is_empty() {
                this.early = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        loop {
            ready!(this.target.stream.poll_read_ready(cx))?;
            let room = buf.remaining();
            let mut drained = false;
            // A read shorter than its room took all the socket held, so it clears the socket's
            // readiness as a `WouldBlock` would: the next read waits for more to arrive instead
            // of making a `recv` that finds nothing (a syscall per message received, at one
            // message per read). Readiness that arrived since this read began is kept (tokio
            // clears only the readiness it read before), and so is a closed peer's.
            let read = this.target.stream.try_io(Interest::READABLE, || {
                // Into the buffer's unfilled part as it is: `try_read` would take a slice, which
                // the connection's 4 KiB stack buffer would have to be zeroed for on every read.
                let n = this.target.stream.try_read_buf(buf)?;
                if n > 0 && n < room {
                    drained = true;
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            });
            match read {
                Ok(_) => return Poll::Ready(Ok(())),
                Err(_) if drained => return Poll::Ready(Ok(())),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.target.poll_send(cx, || send(&self.target, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.target.poll_send(cx, || send_vectored(&self.target, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Senders let go of the socket before the connection closes it; if one still holds
        // it, the socket closes when the last holder drops it.
        match Arc::get_mut(&mut self.get_mut().target.stream) {
            Some(stream) => Pin::new(stream).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Self::Other(io) => Pin::new(io).poll_read(cx, buf),
            #[cfg(feature = "testing")]
            Self::Memory(io) => Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Self::Other(io) => Pin::new(io).poll_write(cx, buf),
            #[cfg(feature = "testing")]
            Self::Memory(io) => Pin::new(io).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Self::Other(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            #[cfg(feature = "testing")]
            Self::Memory(io) => Pin::new(io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(tcp) => tcp.is_write_vectored(),
            Self::Other(io) => io.is_write_vectored(),
            #[cfg(feature = "testing")]
            Self::Memory(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_flush(cx),
            Self::Other(io) => Pin::new(io).poll_flush(cx),
            #[cfg(feature = "testing")]
            Self::Memory(io) => Pin::new(io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Self::Other(io) => Pin::new(io).poll_shutdown(cx),
            #[cfg(feature = "testing")]
            Self::Memory(io) => Pin::new(io).poll_shutdown(cx),
        }
    }
}

/// A socket senders write to directly, as a recipient's outbox holds it.
///
/// On Linux it keeps a copy of the socket's descriptor beside the `Arc` that keeps the socket
/// open: a fan-out sends to each recipient's descriptor as read from the outbox, whose lock it
/// has just taken, instead of reading it out of the shared socket (a cache miss per recipient,
/// 3% of the server's CPU in a fan-out to 100).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The socket's descriptor, valid while `stream` is held.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fd: std::os::fd::RawFd,
    /// The socket, which keeps `fd` open.
    stream: Arc<TcpStream>,
}

impl Target {
    /// Senders' handle on `stream`.
    pub(crate) fn new(stream: Arc<TcpStream>) -> Self {
        Self {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            fd: std::os::fd::AsRawFd::as_raw_fd(&*stream),
            stream,
        }
    }

    /// The connection's own write: `send` straight to the socket first, as senders write (see
    /// [`send`]), so the readiness, a line the reactor's thread writes, is read only once a send
    /// finds the buffer full (a miss per write otherwise: 1.6% of the server's CPU in
    /// `broadcast`, where connections write queued frames one by one). Then `send` again each
    /// time tokio reports room, through `try_io`, which clears the readiness when the buffer is
    /// still full.
    fn poll_send(&self, cx: &mut Context<'_>, send: impl Fn() -> io::Result<usize>) -> Poll<io::Result<usize>> {
        match send() {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            written => return Poll::Ready(written),
        }
        loop {
            ready!(self.stream.poll_write_ready(cx))?;
            match self.stream.try_io(Interest::WRITABLE, &send) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                written => return Poll::Ready(written),
            }
        }
    }
}

/// What became of a direct send.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sent {
    /// The whole frame went to the kernel.
    All,
    /// Only part of it did: these bytes (the rest of the frame, header included) must be
    /// written before anything else.
    Part(Bytes),
    /// Nothing went: the socket's buffer is full (or the connection failed, which its task
    /// finds on its own). The frame is to be queued.
    Nothing,
}

/// Writes `payload` as one final frame of `opcode` to `target`, without waiting.
pub(crate) fn send_frame(target: &Target, opcode: u8, payload: &[u8]) -> Sent {
    let mut header = [0u8; frame::MAX_HEADER];
    let len = frame::header(&mut header, opcode, payload.len());
    let head = &header[..len];
    let total = head.len() + payload.len();
    let written = if total <= STACK_SEND {
        let mut stack = [MaybeUninit::<u8>::uninit(); STACK_SEND];
        let mut whole = ReadBuf::uninit(&mut stack);
        whole.put_slice(head);
        whole.put_slice(payload);
        send(target, whole.filled())
    } else {
        send_vectored(target, &[IoSlice::new(head), IoSlice::new(payload)])
    };
    match written {
        Ok(n) if n == total => Sent::All,
        Ok(0) | Err(_) => Sent::Nothing,
        Ok(n) => Sent::Part(rest(head, payload, n)),
    }
}

/// Frames written by one [`send_frames`] call at most (a `sendmsg` of two slices each).
const MANY: usize = 16;

/// Writes each of `payloads` as one final frame of `opcode` to `target`, in order and without
/// waiting, in as few `sendmsg` calls as fit them ([`MANY`] frames each): what a cork queued
/// for one client (`hub/cork.rs`). Returns how many frames went whole, and the rest of the
/// frame after them if the socket took only part of it (header included, due before
/// anything else).
pub(crate) fn send_frames<'a>(
    target: &Target,
    opcode: u8,
    payloads: impl ExactSizeIterator<Item = &'a Bytes>,
) -> (usize, Option<Bytes>) {
    let mut payloads = payloads.peekable();
    if payloads.len() == 1 {
        let payload = payloads.next().expect("one");
        return match send_frame(target, opcode, payload) {
            Sent::All => (1, None),
            Sent::Part(rest) => (0, Some(rest)),
            Sent::Nothing => (0, None),
        };
    }
    let mut done = 0;
    while payloads.peek().is_some() {
        let mut headers = [[0u8; frame::MAX_HEADER]; MANY];
        let mut lens = [0usize; MANY];
        let mut chunk: [&[u8]; MANY] = [&[]; MANY];
        let mut count = 0;
        while count < MANY {
            let Some(payload) = payloads.next() else { break };
            lens[count] = frame::header(&mut headers[count], opcode, payload.len());
            chunk[count] = payload;
            count += 1;
        }
        let mut slices = [IoSlice::new(&[]); 2 * MANY];
        for i in 0..count {
            slices[2 * i] = IoSlice::new(&headers[i][..lens[i]]);
            slices[2 * i + 1] = IoSlice::new(chunk[i]);
        }
        let total: usize = slices[..2 * count].iter().map(|slice| slice.len()).sum();
        let mut written = match send_vectored(target, &slices[..2 * count]) {
            Ok(n) if n == total => {
                done += count;
                continue;
            }
            Ok(0) | Err(_) => return (done, None),
            Ok(n) => n,
        };
        // The socket is full: count the frames that went whole, and keep the rest of the next.
        for i in 0..count {
            let (head, payload) = (&headers[i][..lens[i]], chunk[i]);
            if written < head.len() + payload.len() {
                return (done, (written > 0).then(|| rest(head, payload, written)));
            }
            written -= head.len() + payload.len();
            done += 1;
        }
        return (done, None);
    }
    (done, None)
}

/// The bytes of a frame (`head`, then `payload`) after the first `written`.
fn rest(head: &[u8], payload: &[u8], written: usize) -> Bytes {
    let mut rest = Vec::with_capacity(head.len() + payload.len() - written);
    if written < head.len() {
        rest.extend_from_slice(&head[written..]);
        rest.extend_from_slice(payload);
    } else {
        rest.extend_from_slice(&payload[written - head.len()..]);
    }
    Bytes::from(rest)
}

/// One `send` to `stream`, straight to the socket: a sender writes to many sockets in a row,
/// and tokio's `try_write` would first read each one's readiness, a cache line the reactor's
/// thread last wrote (a miss per recipient: 5% of the server's CPU in a fan-out to 100). A
/// stale readiness does no harm: if this send finds the buffer full, the frame is queued, and
/// the connection's own write clears the readiness and waits for the socket.
///
/// It sends to the descriptor kept in `target`, open while `target` holds the socket.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn send(target: &Target, bytes: &[u8]) -> io::Result<usize> {
    use nix::sys::socket::{MsgFlags, send};
    send(target.fd, bytes, MsgFlags::MSG_NOSIGNAL).map_err(io::Error::from)
}

/// [`send`] of several slices (`sendmsg`).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_vectored(target: &Target, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    use nix::sys::socket::{MsgFlags, SockaddrStorage, sendmsg};
    sendmsg::<SockaddrStorage>(target.fd, slices, &[], MsgFlags::MSG_NOSIGNAL, None).map_err(io::Error::from)
}

/// One non-blocking send through tokio (where `MSG_NOSIGNAL` is not to be had).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send(target: &Target, bytes: &[u8]) -> io::Result<usize> {
    target.stream.try_write(bytes)
}

/// [`send`] of several slices.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_vectored(target: &Target, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    target.stream.try_write_vectored(slices)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::frame::opcode;
    use futures_util::FutureExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, Target) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, Target::new(Arc::new(server)))
    }

    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut whole = frame::FrameBuf::new();
        whole.payload().extend_from_slice(payload);
        whole.finish(opcode::TEXT).to_vec()
    }

    #[tokio::test]
    async fn an_upgraded_socket_sends_without_waiting_for_acknowledgements() {
        let (_client, server) = pair().await;
        let stream = Arc::into_inner(server.stream).unwrap();
        assert!(
            !stream.nodelay().unwrap(),
            "an accepted socket starts with Nagle's algorithm on"
        );
        assert!(no_delay(stream).nodelay().unwrap());
    }

    #[tokio::test]
    async fn a_frame_sent_whole_or_in_part_then_queued_arrives_intact() {
        let (mut client, server) = pair().await;
        let small = vec![b'a'; 100];
        assert_eq!(send_frame(&server, opcode::TEXT, &small), Sent::All);
        let mut got = vec![0; framed(&small).len()];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, framed(&small));

        // Sends until the socket's buffer fills: a part, then nothing.
        let large = vec![b'b'; 300_000];
        let mut expected = Vec::new();
        let rest = loop {
            match send_frame(&server, opcode::TEXT, &large) {
                Sent::All => expected.extend(framed(&large)),
                Sent::Part(rest) => break rest,
                Sent::Nothing => panic!("a full buffer takes part of a frame first"),
            }
        };
        expected.extend(framed(&large));
        assert_eq!(send_frame(&server, opcode::TEXT, &small), Sent::Nothing);
        arrives_after(client, server, &rest, expected).await;
    }

    /// Writes `rest` through the connection's own writes, which wait for room, and checks that
    /// `client` reads `expected` in all.
    async fn arrives_after(mut client: TcpStream, server: Target, rest: &[u8], expected: Vec<u8>) {
        let reader = tokio::spawn(async move {
            let mut got = vec![0; expected.len()];
            client.read_exact(&mut got).await.unwrap();
            got == expected
        });
        let mut tcp = SharedTcp {
            target: server,
            early: Bytes::new(),
        };
        tcp.write_all(rest).await.unwrap();
        assert!(reader.await.unwrap(), "the bytes on the wire differ");
    }

    #[tokio::test]
    async fn several_frames_go_in_order_and_a_full_socket_keeps_the_rest_of_one() {
        let (mut client, server) = pair().await;
        // More frames than one `sendmsg` takes, and sizes whose headers differ.
        let payloads: Vec<Bytes> = (0..MANY + 5)
            .map(|i| Bytes::from(vec![b'a' + (i % 26) as u8; i * 20]))
            .collect();
        assert_eq!(
            send_frames(&server, opcode::TEXT, payloads.iter()),
            (payloads.len(), None)
        );
        let expected: Vec<u8> = payloads.iter().flat_map(|payload| framed(payload)).collect();
        let mut got = vec![0; expected.len()];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, expected);

        // Until the socket's buffer fills: the frames that went whole, then the rest of one.
        let large: Vec<Bytes> = (0..64)
            .map(|i| Bytes::from(vec![b'A' + (i % 26) as u8; 100_000]))
            .collect();
        let (whole, rest) = send_frames(&server, opcode::TEXT, large.iter());
        assert!(whole < large.len(), "a loopback socket takes less than 6.4 MB at once");
        // (Almost always part of a frame; the buffer may end between two.)
        let begun = whole + usize::from(rest.is_some());
        let expected: Vec<u8> = large[..begun].iter().flat_map(|payload| framed(payload)).collect();
        arrives_after(client, server, &rest.unwrap_or_default(), expected).await;
    }

    #[tokio::test]
    async fn a_short_read_waits_for_more_without_another_recv() {
        let (mut client, server) = pair().await;
        let stream = server.stream.clone();
        let mut tcp = SharedTcp {
            target: server,
            early: Bytes::new(),
        };
        let mut got = [0u8; 64];
        client.write_all(b"one").await.unwrap();
        let n = tcp.read(&mut got).await.unwrap();
        assert_eq!(&got[..n], b"one");
        // The short read cleared the readiness: the next read waits, with no `recv` first.
        assert!(
            stream.ready(Interest::READABLE).now_or_never().is_none(),
            "still marked readable after the socket was drained"
        );
        // What arrives later is read (no wake-up lost), and so is the end after it.
        client.write_all(b"two").await.unwrap();
        let n = timeout(tcp.read(&mut got)).await.unwrap();
        assert_eq!(&got[..n], b"two");
        client.write_all(b"three").await.unwrap();
        client.shutdown().await.unwrap();
        let n = timeout(tcp.read(&mut got)).await.unwrap();
        assert_eq!(&got[..n], b"three");
        assert_eq!(timeout(tcp.read(&mut got)).await.unwrap(), 0, "the peer's end is seen");
    }

    async fn timeout<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(std::time::Duration::from_secs(5), future)
            .await
            .expect("a read waited for data that had arrived")
    }

    #[tokio::test]
    async fn reads_what_hyper_read_early_first() {
        let (mut client, server) = pair().await;
        let mut tcp = SharedTcp {
            target: server,
            early: Bytes::from_static(b"early "),
        };
        client.write_all(b"late").await.unwrap();
        let mut got = vec![0; 10];
        tcp.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"early late");
        tcp.shutdown().await.unwrap();
        assert_eq!(client.read(&mut got).await.unwrap(), 0, "shut down");
    }
}
