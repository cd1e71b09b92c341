//! [`Decoder`]: a client's bytes in, whole messages out, with no I/O (RFC 6455, sections 5
//! and 8.1).
//!
//! Every rule is checked as early as the bytes allow: a header is judged (masking, opcode,
//! control frame rules, order of fragments, size against the budget) before its payload is
//! read, and a text payload is unmasked and checked for UTF-8 as it arrives, so an invalid
//! sequence fails the connection before the rest of its frame, or message, is sent. The same
//! bytes give the same result however they are cut into reads.

use super::close::{self, Violation};
use super::deflate::{Agreed, Inflate};
use super::frame::{Head, Parsed, opcode, unmask};
use super::utf8::Utf8;
use bytes::{Buf, Bytes, BytesMut};

/// A whole message, or control frame, from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A text message, valid UTF-8.
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping, to answer with a pong carrying the same bytes.
    Ping(Bytes),
    /// A pong, with its payload.
    Pong(Bytes),
    /// The client is closing, with this (valid) close code if it gave one.
    Close(Option<u16>),
}

/// Assembles a client's frames into messages. Feed it bytes as they arrive with
/// [`feed`](Self::feed), take messages with
/// [`decode`](Self::decode). After an error every further call gives the same error.
#[derive(Debug)]
pub struct Decoder {
    /// Bytes not yet taken into a message. The front of it is the payload of `current`, if
    /// any, of which the first `current.done` bytes are unmasked (and checked, for text).
    /// Empty and unallocated between frames.
    buf: BytesMut,
    /// The frame whose header is read and whose payload is arriving.
    current: Option<Current>,
    /// A fragmented message being assembled.
    partial: Option<Partial>,
    /// The UTF-8 state of the text message being received.
    utf8: Utf8,
    /// The largest message accepted; a larger one is refused from its header, and a
    /// compressed one as soon as it inflates past it.
    max_message: usize,
    failed: Option<Violation>,
    /// Decompression, if permessage-deflate was agreed.
    inflate: Option<Box<Inflate>>,
}

#[derive(Debug)]
struct Current {
    head: Head,
    /// Payload bytes at the front of the buffer already unmasked.
    done: usize,
    /// Whether the payload is checked for UTF-8 as it arrives: text that is not compressed
    /// (a compressed message is checked once inflated).
    text: bool,
}

#[derive(Debug)]
struct Partial {
    text: bool,
    compressed: bool,
    bytes: BytesMut,
}

impl Decoder {
    /// A decoder refusing messages longer than `max_message` bytes (1009).
    pub fn new(max_message: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            current: None,
            partial: None,
            utf8: Utf8::default(),
            max_message,
            failed: None,
            inflate: None,
        }
    }

    /// A decoder for a connection that agreed on permessage-deflate: RSV1 marks a compressed
    /// message, whose inflated size counts against `max_message`.
    pub fn with_deflate(max_message: usize, agreed: &Agreed) -> Self {
        Self {
            inflate: Some(Box::new(Inflate::new(agreed))),
            ..Self::new(max_message)
        }
    }

    /// The largest message accepted.
    pub(crate) fn max_message(&self) -> usize {
        self.max_message
    }

    /// Adds bytes read from the client.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Where to read the client's next bytes into (appending).
    pub(crate) fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Whether nothing of a message has arrived: between messages, with nothing buffered.
    pub(crate) fn is_idle(&self) -> bool {
        self.buf.is_empty() && self.current.is_none() && self.partial.is_none()
    }

    /// Whether a fragmented message is being assembled.
    pub(crate) fn is_mid_message(&self) -> bool {
        self.partial.is_some()
    }

    /// How many bytes in all the buffer needs before [`decode`](Self::decode) can make progress.
    pub(crate) fn wanted(&self) -> usize {
        match &self.current {
            Some(current) => current.head.len,
            None => match Head::parse(&self.buf, self.inflate.is_some()) {
                Ok(Parsed::Need(total)) => total,
                // A whole header: the next call takes it.
                _ => self.buf.len() + 1,
            },
        }
    }

    /// The next whole message from what was fed, `Ok(None)` if more bytes are needed first.
    pub fn decode(&mut self) -> Result<Option<Incoming>, Violation> {
        if let Some(violation) = self.failed {
            return Err(violation);
        }
        let next = self.step();
        if let Err(violation) = next {
            self.failed = Some(violation);
        }
        next
    }

    fn step(&mut self) -> Result<Option<Incoming>, Violation> {
        loop {
            if self.current.is_none() {
                let Parsed::Head(head, size) = Head::parse(&self.buf, self.inflate.is_some())? else {
                    return Ok(None);
                };
                let text = self.admit(&head)?;
                self.buf.advance(size);
                self.current = Some(Current { head, done: 0, text });
            }
            let current = self.current.as_mut().expect("set above");
            let arrived = self.buf.len().min(current.head.len);
            if arrived > current.done {
                let fresh = &mut self.buf[current.done..arrived];
                unmask(fresh, current.head.mask, current.done);
                if current.text {
                    self.utf8.feed(fresh).map_err(|_| Violation::NotUtf8)?;
                }
                current.done = arrived;
            }
            if current.done < current.head.len {
                return Ok(None);
            }
            let Current { head, .. } = self.current.take().expect("set above");
            let payload = self.buf.split_to(head.len);
            if self.buf.is_empty() {
                // Between frames nothing is kept: an idle connection holds no buffer.
                self.buf = BytesMut::new();
            }
            if let Some(message) = self.assemble(head, payload)? {
                return Ok(Some(message));
            }
        }
    }

    /// Checks a data frame's place in the message sequence and its size against what the
    /// message may still take, from its header; tells whether its payload is text.
    fn admit(&mut self, head: &Head) -> Result<bool, Violation> {
        match head.opcode {
            opcode::TEXT | opcode::BINARY => {
                if self.partial.is_some() {
                    return Err(Violation::Protocol("a new message began before the last one ended"));
                }
                if head.len > self.budget(head.rsv1) {
                    return Err(Violation::TooBig);
                }
                let text = head.opcode == opcode::TEXT && !head.rsv1;
                if text {
                    self.utf8 = Utf8::default();
                }
                Ok(text)
            }
            opcode::CONTINUATION => {
                let Some(partial) = &self.partial else {
                    return Err(Violation::Protocol("a continuation with no message to continue"));
                };
                if head.len > self.budget(partial.compressed) - partial.bytes.len() {
                    return Err(Violation::TooBig);
                }
                Ok(partial.text && !partial.compressed)
            }
            // Control frames: only the rules `Head::parse` checked (whole, at most 125 bytes);
            // never the data message's budget.
            _ => Ok(false),
        }
    }

    /// The most bytes a message may take on the wire: the limit, or for a compressed one a
    /// little more, since deflate makes incompressible data slightly longer (stored blocks: 5
    /// bytes per 64 KiB) and its inflated size is what the limit holds (the fuzzer found a
    /// 2-byte message refused at a limit of 3 once compressed).
    fn budget(&self, compressed: bool) -> usize {
        if compressed {
            self.max_message.saturating_add(self.max_message / 1024 + 64)
        } else {
            self.max_message
        }
    }

    fn assemble(&mut self, head: Head, payload: BytesMut) -> Result<Option<Incoming>, Violation> {
        let (text, compressed, bytes) = match head.opcode {
            opcode::TEXT | opcode::BINARY => {
                let text = head.opcode == opcode::TEXT;
                if !head.fin {
                    self.partial = Some(Partial {
                        text,
                        compressed: head.rsv1,
                        bytes: payload,
                    });
                    return Ok(None);
                }
                (text, head.rsv1, payload)
            }
            opcode::CONTINUATION => {
                let partial = self.partial.as_mut().expect("admitted");
                if partial.bytes.is_empty() {
                    partial.bytes = payload;
                } else {
                    partial.bytes.extend_from_slice(&payload);
                }
                if !head.fin {
                    return Ok(None);
                }
                let mut partial = self.partial.take().expect("admitted");
                if partial.bytes.capacity() - partial.bytes.len() > partial.bytes.len() / 8 + 1024 {
                    // Growing by doubling left much unused: the message keeps only its size.
                    partial.bytes = BytesMut::from(&partial.bytes[..]);
                }
                (partial.text, partial.compressed, partial.bytes)
            }
            opcode::PING => return Ok(Some(Incoming::Ping(payload.freeze()))),
            opcode::PONG => return Ok(Some(Incoming::Pong(payload.freeze()))),
            _ => return close::parse(&payload).map(|code| Some(Incoming::Close(code))),
        };
        if compressed {
            let inflate = self.inflate.as_mut().expect("RSV1 is refused without deflate");
            let inflated = Bytes::from(inflate.inflate(&bytes, self.max_message)?);
            drop(bytes);
            if text {
                if std::str::from_utf8(&inflated).is_err() {
                    return Err(Violation::NotUtf8);
                }
                return Ok(Some(Incoming::Text(inflated)));
            }
            return Ok(Some(Incoming::Binary(inflated)));
        }
        if text {
            if !self.utf8.is_complete() {
                return Err(Violation::NotUtf8);
            }
            return Ok(Some(Incoming::Text(bytes.freeze())));
        }
        Ok(Some(Incoming::Binary(bytes.freeze())))
    }

    /// Bytes of memory held: read and not yet taken, a fragmented message's so far, and a
    /// decompressor kept for context takeover. Zero between messages otherwise.
    pub fn held(&self) -> usize {
        self.buf.capacity()
            + self.partial.as_ref().map_or(0, |partial| partial.bytes.capacity())
            + self.inflate.as_ref().map_or(0, |inflate| inflate.held())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::frame::tests::client_frame;

    fn decode_all(decoder: &mut Decoder) -> Result<Vec<Incoming>, (Vec<Incoming>, Violation)> {
        let mut messages = Vec::new();
        loop {
            match decoder.decode() {
                Ok(Some(message)) => messages.push(message),
                Ok(None) => return Ok(messages),
                Err(violation) => return Err((messages, violation)),
            }
        }
    }

    #[test]
    fn control_frames_interleave_and_are_not_held_to_the_message_budget() {
        let mut decoder = Decoder::new(100);
        let mut wire = client_frame(false, opcode::TEXT, &[b'a'; 90]);
        wire.extend(client_frame(true, opcode::PING, &[b'p'; 125]));
        wire.extend(client_frame(true, opcode::CONTINUATION, &[b'b'; 10]));
        wire.extend(client_frame(true, opcode::CLOSE, &1000u16.to_be_bytes()));
        decoder.feed(&wire);
        let messages = decode_all(&mut decoder).unwrap();
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0], Incoming::Ping(Bytes::from(vec![b'p'; 125])));
        assert!(matches!(&messages[1], Incoming::Text(t) if t.len() == 100));
        assert_eq!(messages[2], Incoming::Close(Some(1000)));
        assert_eq!(decoder.held(), 0, "nothing kept between messages");
    }

    #[test]
    fn invalid_utf8_fails_in_the_first_fragment_and_mid_frame() {
        // In a first fragment whose message is not finished.
        let mut decoder = Decoder::new(1 << 20);
        decoder.feed(&client_frame(false, opcode::TEXT, b"ok\xff"));
        assert_eq!(decoder.decode(), Err(Violation::NotUtf8));
        assert_eq!(decoder.decode(), Err(Violation::NotUtf8), "stays failed");
        // In the first bytes of a frame whose rest has not arrived.
        let mut decoder = Decoder::new(1 << 20);
        let mut payload = "κόσμε".as_bytes().to_vec();
        payload.extend_from_slice(b"\xed\xa0\x80");
        payload.extend_from_slice(&[b'a'; 1000]);
        let wire = client_frame(true, opcode::TEXT, &payload);
        decoder.feed(&wire[..wire.len() - 1000]);
        assert_eq!(decoder.decode(), Err(Violation::NotUtf8));
        // A character cut between fragments is fine; one left cut at the end is not.
        let mut decoder = Decoder::new(1 << 20);
        let mut wire = client_frame(false, opcode::TEXT, b"\xce");
        wire.extend(client_frame(true, opcode::CONTINUATION, b"\xba"));
        wire.extend(client_frame(true, opcode::TEXT, b"\xce"));
        decoder.feed(&wire);
        let (messages, violation) = decode_all(&mut decoder).unwrap_err();
        assert_eq!(messages, [Incoming::Text(Bytes::from_static("κ".as_bytes()))]);
        assert_eq!(violation, Violation::NotUtf8);
    }

    #[test]
    fn fragments_are_checked_for_order_and_size_from_their_headers() {
        let cases: [(Vec<u8>, Vec<u8>, Violation); 3] = [
            (
                vec![],
                client_frame(true, opcode::CONTINUATION, b"x"),
                Violation::Protocol("a continuation with no message to continue"),
            ),
            (
                client_frame(false, opcode::TEXT, b"a"),
                client_frame(true, opcode::BINARY, b"b"),
                Violation::Protocol("a new message began before the last one ended"),
            ),
            (
                client_frame(false, opcode::BINARY, &[0; 60]),
                client_frame(true, opcode::CONTINUATION, &[0; 41]),
                Violation::TooBig,
            ),
        ];
        for (before, offending, expected) in cases {
            let mut decoder = Decoder::new(100);
            decoder.feed(&before);
            // Only the header of the offending frame: it is refused from that alone.
            decoder.feed(&offending[..6]);
            assert_eq!(decode_all(&mut decoder).unwrap_err().1, expected);
        }
    }

    #[test]
    fn any_chunking_gives_the_same_messages() {
        let mut wire = client_frame(false, opcode::TEXT, "héllo ".as_bytes());
        wire.extend(client_frame(true, opcode::PING, b"p"));
        wire.extend(client_frame(true, opcode::CONTINUATION, "wörld".as_bytes()));
        wire.extend(client_frame(true, opcode::BINARY, &[7; 300]));
        wire.extend(client_frame(true, opcode::CLOSE, b"\x0f\xa0bye"));
        let mut whole = Decoder::new(1000);
        whole.feed(&wire);
        let expected = decode_all(&mut whole).unwrap();
        assert_eq!(expected.len(), 4);
        assert_eq!(expected[3], Incoming::Close(Some(4000)));
        for chunk in [1, 2, 3, 5, 7, 64] {
            let mut decoder = Decoder::new(1000);
            let mut got = Vec::new();
            for piece in wire.chunks(chunk) {
                decoder.feed(piece);
                got.extend(decode_all(&mut decoder).unwrap());
            }
            assert_eq!(got, expected, "chunks of {chunk}");
        }
    }
}
