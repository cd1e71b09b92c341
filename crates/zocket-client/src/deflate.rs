//! permessage-deflate (RFC 7692) for the client, under tungstenite, which has no extensions.
//!
//! [`Deflating`] sits between tungstenite and the connection (after TLS). When the client asks
//! for compression it offers `permessage-deflate; client_max_window_bits` in the handshake and
//! reads the server's answer from the response as it passes by. If the server agreed, frames
//! are rewritten on their way through: the server's compressed messages (RSV1) are inflated
//! into plain frames before tungstenite reads them, and the client's messages of
//! [`THRESHOLD`] bytes or more are compressed as tungstenite writes them. Everything else
//! (control frames, plain messages, a frame with bits tungstenite will refuse) passes as it
//! is, so tungstenite still does the protocol: pings, closing, UTF-8, its limits.
//!
//! Bounded: a frame is held whole before it is rewritten, up to the message limit; inflating
//! stops at that limit too. Without compression asked for, or refused by the server, bytes
//! pass straight through.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use zocket_protocol::deflate::{self, Compressor, Decompressor, FIXED_CODES_BELOW};

/// The offer the client sends.
pub(crate) const OFFER: &str = "permessage-deflate; client_max_window_bits";

/// The client's messages shorter than this go out uncompressed (the same default as the
/// server's): deflate's few bytes of overhead outweigh what it saves on them.
pub(crate) const THRESHOLD: usize = 256;

/// The longest handshake response read.
const MAX_RESPONSE: usize = 64 * 1024;

/// Bytes written out ahead of the socket before a write waits.
const WRITE_AHEAD: usize = 64 * 1024;

/// Buffer capacity kept once a buffer is empty: more (after a large message) is freed.
const KEPT: usize = 64 * 1024;

/// What the server answered to the offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Agreed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    /// The server limited the client's window (`client_max_window_bits` under 15).
    narrow: bool,
}

/// The agreement in a handshake response's head, `None` if the server did not accept the offer
/// (or did not switch protocols). An answer the client cannot have asked for fails.
fn answer(head: &[u8]) -> io::Result<Option<Agreed>> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("permessage-deflate: {what}"));
    let text = std::str::from_utf8(head).map_err(|_| bad("a response head that is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    if !lines.next().is_some_and(|status| status.starts_with("HTTP/1.1 101")) {
        return Ok(None);
    }
    let mut agreed = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("sec-websocket-extensions") {
            continue;
        }
        for element in deflate::elements(value).filter(|element| !element.trim().is_empty()) {
            let params = deflate::params(element).ok_or_else(|| bad("an extension that was not offered"))?;
            if agreed.is_some() {
                return Err(bad("accepted twice"));
            }
            let mut found = Agreed::default();
            let mut seen = Vec::new();
            for (name, value) in params {
                if seen.contains(&name) {
                    return Err(bad("a parameter given twice"));
                }
                seen.push(name);
                match (name, value) {
                    ("server_no_context_takeover", None) => found.server_no_context_takeover = true,
                    ("client_no_context_takeover", None) => found.client_no_context_takeover = true,
                    // The client inflates with a full window, which reads any smaller one.
                    ("server_max_window_bits", Some(bits)) => {
                        deflate::window_bits(bits).ok_or_else(|| bad("a bad server_max_window_bits"))?;
                    }
                    ("client_max_window_bits", Some(bits)) => {
                        found.narrow =
                            deflate::window_bits(bits).ok_or_else(|| bad("a bad client_max_window_bits"))? < 15;
                    }
                    _ => return Err(bad("a parameter that was not offered")),
                }
            }
            agreed = Some(found);
        }
    }
    Ok(agreed)
}

/// Where the connection is.
#[derive(Debug)]
enum Mode {
    /// Bytes pass as they are.
    Off,
    /// Compression was offered; the response has not been read yet.
    Offered,
    /// The server agreed: frames are rewritten.
    On(Box<Codec>),
}

/// The compression state of a connection whose server agreed.
#[derive(Debug)]
struct Codec {
    agreed: Agreed,
    /// Compressors made on first use: with context takeover only the first (fixed codes, as the
    /// context does the work); without, by the message's size.
    compressors: [Option<Compressor>; 2],
    decompressor: Option<Decompressor>,
    /// The opcode and the compressed payload so far of a message from the server.
    incoming: Option<(u8, Vec<u8>)>,
    /// The client is sending a fragmented message (tungstenite's own): it passes as it is.
    outgoing_fragmented: bool,
}

/// A connection that compresses and inflates messages as tungstenite writes and reads them.
#[derive(Debug)]
pub(crate) struct Deflating<S> {
    inner: S,
    mode: Mode,
    max_message: usize,
    /// Bytes read from the connection, not yet rewritten: from `raw_at`.
    raw: Vec<u8>,
    raw_at: usize,
    /// Rewritten bytes for tungstenite to read, from `ready_at`.
    ready: Vec<u8>,
    ready_at: usize,
    /// The connection has no more to read.
    eof: bool,
    /// Bytes tungstenite wrote that do not make a whole frame yet.
    written: Vec<u8>,
    /// Rewritten bytes for the connection, from `out_at`.
    out: Vec<u8>,
    out_at: usize,
}

impl<S> Deflating<S> {
    /// `offered`: whether the request offers permessage-deflate ([`OFFER`]).
    pub(crate) fn new(inner: S, offered: bool, max_message: usize) -> Self {
        Self {
            inner,
            mode: if offered { Mode::Offered } else { Mode::Off },
            max_message,
            raw: Vec::new(),
            raw_at: 0,
            ready: Vec::new(),
            ready_at: 0,
            eof: false,
            written: Vec::new(),
            out: Vec::new(),
            out_at: 0,
        }
    }

    /// Whether the server agreed to compress.
    #[cfg(test)]
    fn is_compressed(&self) -> bool {
        matches!(self.mode, Mode::On(_))
    }

    /// Rewrites what `raw` holds as far as it can; `false` when it needs more bytes.
    fn rewrite_incoming(&mut self) -> io::Result<bool> {
        match &mut self.mode {
            Mode::Off => {
                let moved = self.raw_at < self.raw.len();
                self.ready.extend_from_slice(&self.raw[self.raw_at..]);
                self.raw.clear();
                self.raw_at = 0;
                Ok(moved)
            }
            Mode::Offered => {
                let Some(end) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                    if self.raw.len() > MAX_RESPONSE {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "handshake response too long",
                        ));
                    }
                    return Ok(false);
                };
                let head: Vec<u8> = self.raw.drain(..end + 4).collect();
                self.mode = match answer(&head)? {
                    Some(agreed) => Mode::On(Box::new(Codec {
                        agreed,
                        compressors: [None, None],
                        decompressor: None,
                        incoming: None,
                        outgoing_fragmented: false,
                    })),
                    None => Mode::Off,
                };
                self.ready.extend_from_slice(&head);
                Ok(true)
            }
            Mode::On(codec) => {
                let raw = &self.raw[self.raw_at..];
                let Some(head) = Head::parse(raw, self.max_message)? else {
                    return Ok(false);
                };
                let frame = head.header_len + head.len;
                if raw.len() < frame {
                    return Ok(false);
                }
                let payload = &raw[head.header_len..frame];
                let is_data = head.opcode & 0x8 == 0;
                match (&mut codec.incoming, head.opcode) {
                    (None, 1 | 2) if head.rsv1 && !head.masked => {
                        codec.incoming = Some((head.opcode, payload.to_vec()));
                    }
                    (Some((_, message)), 0) if is_data && !head.rsv1 => {
                        if message.len() + payload.len() > self.max_message.saturating_add(1024) {
                            return Err(too_big());
                        }
                        message.extend_from_slice(payload);
                    }
                    // Control frames, plain messages, and frames tungstenite will refuse.
                    _ => {
                        self.ready.extend_from_slice(&raw[..frame]);
                        self.raw_at += frame;
                        return Ok(true);
                    }
                }
                if head.fin {
                    let (opcode, compressed) = codec.incoming.take().expect("a message in progress");
                    let decompressor = codec.decompressor.get_or_insert_with(Decompressor::new);
                    if codec.agreed.server_no_context_takeover {
                        decompressor.reset();
                    }
                    let message = decompressor
                        .inflate(&compressed, self.max_message)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    push_header(&mut self.ready, 0x80 | opcode, message.len(), None);
                    self.ready.extend_from_slice(&message);
                }
                self.raw_at += frame;
                Ok(true)
            }
        }
    }

    /// Rewrites the whole frames tungstenite wrote into `out`.
    fn rewrite_outgoing(&mut self) -> io::Result<()> {
        let Mode::On(codec) = &mut self.mode else {
            self.out.append(&mut self.written);
            return Ok(());
        };
        let limit = self.max_message.saturating_mul(2);
        let mut at = 0;
        while let Some(head) = Head::parse(&self.written[at..], limit)? {
            let frame = head.header_len + head.len;
            let written = &self.written[at..];
            if written.len() < frame {
                break;
            }
            let whole_message = matches!(head.opcode, 1 | 2) && head.fin && !codec.outgoing_fragmented;
            if head.opcode & 0x8 == 0 {
                // A data frame: a fragmented message ends with a final continuation.
                codec.outgoing_fragmented = !head.fin;
            }
            match head.mask {
                Some(mask) if whole_message && !head.rsv1 && head.len >= THRESHOLD => {
                    let mut payload = written[head.header_len..frame].to_vec();
                    apply_mask(&mut payload, mask);
                    let compressed = codec.compress(&payload);
                    let (rsv1, mut body) = match compressed {
                        Some(compressed) => (0x40, compressed),
                        None => (0, payload),
                    };
                    apply_mask(&mut body, mask);
                    push_header(&mut self.out, 0x80 | rsv1 | head.opcode, body.len(), Some(mask));
                    self.out.extend_from_slice(&body);
                }
                _ => self.out.extend_from_slice(&written[..frame]),
            }
            at += frame;
        }
        self.written.drain(..at);
        reclaim(&mut self.written);
        Ok(())
    }
}

impl Codec {
    /// `payload` compressed, or `None` to send it as it is (compressing did not make it
    /// shorter, and no context depends on it).
    fn compress(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        let takeover = !self.agreed.client_no_context_takeover;
        let fixed = takeover || payload.len() < FIXED_CODES_BELOW;
        let narrow = self.agreed.narrow;
        let compressor = self.compressors[usize::from(!fixed)].get_or_insert_with(|| Compressor::new(narrow, fixed));
        if !takeover {
            compressor.reset();
        }
        let compressed = compressor.compress(payload);
        // With context takeover the server's window must see what the compressor saw.
        (takeover || compressed.len() < payload.len()).then_some(compressed)
    }
}

fn too_big() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "a compressed message passes the size limit")
}

/// A frame's header.
#[derive(Debug)]
struct Head {
    fin: bool,
    rsv1: bool,
    opcode: u8,
    masked: bool,
    mask: Option<[u8; 4]>,
    header_len: usize,
    len: usize,
}

impl Head {
    /// The header at the start of `buf`, `None` if it is not all there; a payload over `limit`
    /// fails.
    fn parse(buf: &[u8], limit: usize) -> io::Result<Option<Head>> {
        let [first, second, ..] = *buf else { return Ok(None) };
        let masked = second & 0x80 != 0;
        let (len, at) = match second & 0x7f {
            126 => match buf.get(2..4) {
                Some(bytes) => (u64::from(u16::from_be_bytes([bytes[0], bytes[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(bytes) => (u64::from_be_bytes(bytes.try_into().expect("8 bytes")), 10),
                None => return Ok(None),
            },
            short => (u64::from(short), 2),
        };
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= limit)
            .ok_or_else(too_big)?;
        let header_len = at + if masked { 4 } else { 0 };
        if buf.len() < header_len {
            return Ok(None);
        }
        Ok(Some(Head {
            fin: first & 0x80 != 0,
            rsv1: first & 0x40 != 0,
            opcode: first & 0x0f,
            masked,
            mask: masked.then(|| buf[at..at + 4].try_into().expect("4 bytes")),
            header_len,
            len,
        }))
    }
}

/// Appends a frame header: `first` (FIN, RSV1, opcode), the length, the mask if any.
fn push_header(out: &mut Vec<u8>, first: u8, len: usize, mask: Option<[u8; 4]>) {
    let masked = if mask.is_some() { 0x80 } else { 0 };
    out.push(first);
    match len {
        0..=125 => out.push(masked | len as u8),
        126..=0xffff => {
            out.push(masked | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(masked | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend(mask.into_iter().flatten());
}

/// Frees an empty buffer's capacity past [`KEPT`].
fn reclaim(buffer: &mut Vec<u8>) {
    if buffer.is_empty() && buffer.capacity() > KEPT {
        *buffer = Vec::new();
    }
}

fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

impl<S: AsyncWrite + Unpin> Deflating<S> {
    /// Writes `out` to the connection until at most `keep` bytes are left.
    fn poll_drain(&mut self, cx: &mut Context<'_>, keep: usize) -> Poll<io::Result<()>> {
        while self.out.len() - self.out_at > keep {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.out_at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_at += n;
        }
        if self.out_at == self.out.len() {
            self.out.clear();
            self.out_at = 0;
            reclaim(&mut self.out);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deflating<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.ready_at < this.ready.len() {
                let n = buf.remaining().min(this.ready.len() - this.ready_at);
                buf.put_slice(&this.ready[this.ready_at..this.ready_at + n]);
                this.ready_at += n;
                if this.ready_at == this.ready.len() {
                    this.ready.clear();
                    this.ready_at = 0;
                    reclaim(&mut this.ready);
                }
                return Poll::Ready(Ok(()));
            }
            if matches!(this.mode, Mode::Off) && this.raw_at == this.raw.len() {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            if this.rewrite_incoming()? {
                continue;
            }
            if this.eof {
                // A truncated frame: tungstenite reports it.
                this.ready.extend_from_slice(&this.raw[this.raw_at..]);
                this.raw.clear();
                this.raw_at = 0;
                if this.ready.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            // Room for more: what was rewritten goes first.
            this.raw.drain(..this.raw_at);
            this.raw_at = 0;
            reclaim(&mut this.raw);
            let mut chunk = [0u8; 8192];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                this.eof = true;
            }
            this.raw.extend_from_slice(read.filled());
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deflating<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !matches!(this.mode, Mode::On(_)) && this.out.is_empty() {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        ready!(this.poll_drain(cx, WRITE_AHEAD))?;
        this.written.extend_from_slice(data);
        this.rewrite_outgoing()?;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx, 0))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx, 0))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn response(extensions: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Extensions: {extensions}\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn answers_are_read_and_checked() {
        let plain = answer(&response("permessage-deflate")).unwrap().unwrap();
        assert_eq!(plain, Agreed::default());
        let all = answer(&response(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=10; server_max_window_bits=9",
        ))
        .unwrap()
        .unwrap();
        assert!(all.server_no_context_takeover && all.client_no_context_takeover && all.narrow);
        assert_eq!(answer(b"HTTP/1.1 101 OK\r\n\r\n").unwrap(), None);
        assert_eq!(
            answer(&b"HTTP/1.1 401 No\r\nsec-websocket-extensions: x\r\n\r\n"[..]).unwrap(),
            None
        );
        for bad in [
            "x-webkit-deflate-frame",
            "permessage-deflate, permessage-deflate",
            "permessage-deflate; mystery",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; server_no_context_takeover=1",
        ] {
            assert!(answer(&response(bad)).is_err(), "{bad}");
        }
    }

    fn server_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        push_header(&mut frame, first, payload.len(), None);
        frame.extend_from_slice(payload);
        frame
    }

    #[tokio::test]
    async fn the_servers_compressed_messages_are_read_as_plain_frames() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let mut deflating = Deflating::new(client, true, 1 << 20);
        let text = "hello, compressed world ".repeat(100);
        let compressed = Compressor::new(false, false).compress(text.as_bytes());
        let (a, b) = compressed.split_at(compressed.len() / 2);
        let mut wire = response("permessage-deflate; server_no_context_takeover");
        wire.extend(server_frame(0x41, a)); // text, RSV1, not final
        wire.extend(server_frame(0x89, b"ping")); // a ping between fragments
        wire.extend(server_frame(0x80, b)); // the final continuation
        wire.extend(server_frame(0x82, b"plain")); // an uncompressed binary message
        server.write_all(&wire).await.unwrap();
        drop(server);
        let mut read = Vec::new();
        deflating.read_to_end(&mut read).await.unwrap();
        assert!(deflating.is_compressed());
        let mut expected = response("permessage-deflate; server_no_context_takeover");
        expected.extend(server_frame(0x89, b"ping"));
        expected.extend(server_frame(0x81, text.as_bytes()));
        expected.extend(server_frame(0x82, b"plain"));
        assert_eq!(read, expected);
    }

    #[tokio::test]
    async fn frames_read_with_a_response_that_refuses_come_through_at_once() {
        // The response and the first frame in one read, and the server sends nothing more: the
        // frame must not wait for more bytes (Autobahn's 1.* caught it).
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let mut deflating = Deflating::new(client, true, 1 << 20);
        let mut wire = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec();
        let head = wire.len();
        wire.extend(server_frame(0x81, b"hello"));
        server.write_all(&wire).await.unwrap();
        let mut read = vec![0; wire.len()];
        let within = std::time::Duration::from_secs(1);
        let started = std::time::Instant::now();
        tokio::time::timeout(within, deflating.read_exact(&mut read[..head]))
            .await
            .unwrap()
            .unwrap();
        tokio::time::timeout(within, deflating.read_exact(&mut read[head..]))
            .await
            .unwrap()
            .unwrap();
        // (A timeout polls its future once more when it fires, which would find the frame.)
        assert!(started.elapsed() < within / 2, "waited {:?}", started.elapsed());
        assert_eq!(read, wire);
        assert!(!deflating.is_compressed());
    }

    #[tokio::test]
    async fn the_clients_large_messages_are_compressed_and_masked() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let mut deflating = Deflating::new(client, true, 1 << 20);
        server.write_all(&response("permessage-deflate")).await.unwrap();
        let mut head = vec![0; response("permessage-deflate").len()];
        deflating.read_exact(&mut head).await.unwrap();
        let mask = [1, 2, 3, 4];
        let text = "a long message that repeats ".repeat(40);
        for payload in [text.as_bytes(), b"short"] {
            let mut masked = payload.to_vec();
            apply_mask(&mut masked, mask);
            let mut frame = Vec::new();
            push_header(&mut frame, 0x81, masked.len(), Some(mask));
            frame.extend_from_slice(&masked);
            // Written in two pieces, as a partial write leaves it.
            deflating.write_all(&frame[..7]).await.unwrap();
            deflating.write_all(&frame[7..]).await.unwrap();
        }
        deflating.flush().await.unwrap();
        drop(deflating);
        let mut wire = Vec::new();
        server.read_to_end(&mut wire).await.unwrap();
        let first = Head::parse(&wire, 1 << 20).unwrap().unwrap();
        assert!(first.rsv1 && first.fin && first.opcode == 1 && first.mask == Some(mask));
        assert!(first.len < text.len() / 4, "{} bytes", first.len);
        let mut body = wire[first.header_len..first.header_len + first.len].to_vec();
        apply_mask(&mut body, mask);
        assert_eq!(Decompressor::new().inflate(&body, 1 << 20).unwrap(), text.as_bytes());
        let rest = &wire[first.header_len + first.len..];
        let second = Head::parse(rest, 1 << 20).unwrap().unwrap();
        assert!(!second.rsv1 && second.len == 5, "short messages go as they are");
    }

    #[tokio::test]
    async fn a_message_that_inflates_past_the_limit_fails_the_read() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let mut deflating = Deflating::new(client, true, 64 * 1024);
        let bomb = Compressor::new(false, false).compress(&vec![b'a'; 1 << 20]);
        let mut wire = response("permessage-deflate");
        wire.extend(server_frame(0xc2, &bomb));
        server.write_all(&wire).await.unwrap();
        let mut head = vec![0; response("permessage-deflate").len()];
        deflating.read_exact(&mut head).await.unwrap();
        let error = deflating.read(&mut [0; 16]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
