//! WebSocket frames (RFC 6455, section 5) as a server writes and reads them.
//!
//! A server's frames are never masked, so a frame's wire bytes are the same for every
//! recipient: an outgoing message is framed once and the same [`Bytes`] are written to each.

use super::close::Violation;
use bytes::{Buf, Bytes};

/// The longest header a server frame may need (2 bytes, 8 of extended length).
pub(crate) const MAX_HEADER: usize = 10;

/// Frame opcodes.
pub(crate) mod opcode {
    pub(crate) const CONTINUATION: u8 = 0x0;
    pub(crate) const TEXT: u8 = 0x1;
    pub(crate) const BINARY: u8 = 0x2;
    pub(crate) const CLOSE: u8 = 0x8;
    pub(crate) const PING: u8 = 0x9;
    pub(crate) const PONG: u8 = 0xA;
}

/// The RSV1 bit, added to an opcode: the frame's message is compressed (permessage-deflate).
pub(crate) const RSV1: u8 = 0x40;

/// An outgoing frame being written: the payload goes after room for the longest header, which
/// [`finish`](Self::finish) fills in front of it, so nothing is copied.
#[derive(Debug)]
pub(crate) struct FrameBuf(Vec<u8>);

impl FrameBuf {
    pub(crate) fn new() -> Self {
        let mut bytes = Vec::with_capacity(128);
        bytes.resize(MAX_HEADER, 0);
        Self(bytes)
    }

    /// Where the payload is written.
    pub(crate) fn payload(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }

    /// The whole frame, final, with this opcode (and [`RSV1`] if its payload is compressed).
    pub(crate) fn finish(self, opcode: u8) -> Bytes {
        let mut bytes = self.0;
        let len = bytes.len() - MAX_HEADER;
        let start = match len {
            0..=125 => {
                bytes[MAX_HEADER - 1] = len as u8;
                MAX_HEADER - 2
            }
            126..=0xFFFF => {
                bytes[MAX_HEADER - 2..MAX_HEADER].copy_from_slice(&(len as u16).to_be_bytes());
                bytes[MAX_HEADER - 3] = 126;
                MAX_HEADER - 4
            }
            _ => {
                bytes[2..MAX_HEADER].copy_from_slice(&(len as u64).to_be_bytes());
                bytes[1] = 127;
                0
            }
        };
        bytes[start] = 0x80 | opcode;
        let mut frame = Bytes::from(bytes);
        frame.advance(start);
        frame
    }
}

/// Writes the header of a final, unmasked frame with this opcode (and [`RSV1`] if its payload
/// is compressed) and `len` payload bytes into
/// `out`; returns the header's length. Messages are framed this way as they are written, so the
/// same message bytes serve every recipient.
pub(crate) fn header(out: &mut [u8; MAX_HEADER], opcode: u8, len: usize) -> usize {
    out[0] = 0x80 | opcode;
    match len {
        0..=125 => {
            out[1] = len as u8;
            2
        }
        126..=0xFFFF => {
            out[1] = 126;
            out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        }
        _ => {
            out[1] = 127;
            out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        }
    }
}

/// Appends a final frame of `opcode` carrying `payload` (unmasked, as a server sends it).
pub(crate) fn append(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    let mut head = [0u8; MAX_HEADER];
    let len = header(&mut head, opcode, payload.len());
    out.reserve(len + payload.len());
    out.extend_from_slice(&head[..len]);
    out.extend_from_slice(payload);
}

/// The length of the header [`header`] writes for `len` payload bytes.
pub(crate) fn header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    }
}

/// A whole control frame (close, ping, pong) with a short payload.
pub(crate) fn control(opcode: u8, payload: &[u8]) -> Bytes {
    debug_assert!(payload.len() <= 125);
    let mut frame = FrameBuf::new();
    frame.payload().extend_from_slice(payload);
    frame.finish(opcode)
}

/// A close frame with this code and reason (cut to fit a control frame).
pub(crate) fn close(code: u16, reason: &str) -> Bytes {
    debug_assert!(super::close::is_valid(code), "{code} must never be sent");
    let mut payload = code.to_be_bytes().to_vec();
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    control(opcode::CLOSE, &payload)
}

/// The header of a frame read from a client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    pub(crate) fin: bool,
    /// RSV1: the message is compressed (permessage-deflate; on its first frame only).
    pub(crate) rsv1: bool,
    pub(crate) opcode: u8,
    /// The payload's length.
    pub(crate) len: usize,
    pub(crate) mask: [u8; 4],
}

/// What [`Head::parse`] found at the front of a buffer.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A whole header, this many bytes long.
    Head(Head, usize),
    /// Not enough bytes yet; at least this many in all are needed.
    Need(usize),
}

impl Head {
    /// Reads the header at the front of `buf` if it is all there, checking what can be checked
    /// from the header alone, as soon as its bytes are there: reserved bits, masking, opcode,
    /// control frames whole and at most 125 bytes. RSV1 is allowed on the first frame of a
    /// data message (a text or binary frame) if `deflate` (permessage-deflate was agreed).
    /// Limits on data frames and the order of frames are the caller's.
    pub(crate) fn parse(buf: &[u8], deflate: bool) -> Result<Parsed, Violation> {
        let [b0, b1, ..] = *buf else {
            return Ok(Parsed::Need(2));
        };
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0F;
        let rsv1 = b0 & 0x40 != 0;
        let first_data = matches!(opcode, opcode::TEXT | opcode::BINARY);
        if b0 & 0x30 != 0 || (rsv1 && !(deflate && first_data)) {
            return Err(Violation::Protocol("reserved bits set"));
        }
        if b1 & 0x80 == 0 {
            return Err(Violation::Protocol("client frames must be masked"));
        }
        match opcode {
            opcode::CONTINUATION | opcode::TEXT | opcode::BINARY => {}
            opcode::CLOSE | opcode::PING | opcode::PONG => {
                if !fin {
                    return Err(Violation::Protocol("control frames must be whole and short"));
                }
            }
            _ => return Err(Violation::Protocol("unknown opcode")),
        }
        let (len, ext) = match b1 & 0x7F {
            126 => match buf.get(2..4) {
                Some(bytes) => (u64::from(u16::from_be_bytes([bytes[0], bytes[1]])), 2),
                None => return Ok(Parsed::Need(4)),
            },
            127 => match buf.get(2..10) {
                Some(bytes) => (u64::from_be_bytes(bytes.try_into().expect("8 bytes")), 8),
                None => return Ok(Parsed::Need(10)),
            },
            short => (u64::from(short), 0),
        };
        if len >> 63 != 0 {
            return Err(Violation::Protocol("frame length out of range"));
        }
        // The length's value, however it is encoded (tungstenite does not insist on the
        // shortest encoding either).
        if opcode & 0x8 != 0 && len > 125 {
            return Err(Violation::Protocol("control frames must be whole and short"));
        }
        let header = 2 + ext + 4;
        let Some(mask) = buf.get(header - 4..header) else {
            return Ok(Parsed::Need(header));
        };
        // Past `usize` (on 32-bit targets) is past any limit too.
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let mask = mask.try_into().expect("4 bytes");
        Ok(Parsed::Head(
            Head {
                fin,
                rsv1,
                opcode,
                len,
                mask,
            },
            header,
        ))
    }
}

/// XORs `data`, the bytes of a payload from byte `offset` on, with the client's masking key.
pub(crate) fn unmask(data: &mut [u8], mask: [u8; 4], offset: usize) {
    let mask: [u8; 4] = std::array::from_fn(|i| mask[(i + offset) % 4]);
    let wide = u64::from_ne_bytes([mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes((&*chunk).try_into().expect("8 bytes")) ^ wide;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    for (byte, key) in chunks.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *byte ^= key;
    }
}

/// A client's frame (masked with `mask`), as a browser would send it: for test clients.
#[cfg(any(test, feature = "testing"))]
pub(crate) fn client_frame(fin: bool, opcode: u8, mask: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push((u8::from(fin) << 7) | opcode);
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A masked client frame with an arbitrary key.
    pub(crate) fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        super::client_frame(fin, opcode, [0x37, 0xfa, 0x21, 0x3d], payload)
    }

    #[test]
    fn server_frames_have_the_shortest_header() {
        for (len, header) in [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)] {
            let mut frame = FrameBuf::new();
            frame.payload().resize(MAX_HEADER + len, b'a');
            let bytes = frame.finish(opcode::TEXT);
            assert_eq!(bytes.len(), header + len, "payload of {len}");
            assert_eq!(bytes[0], 0x81);
            assert_eq!(bytes[1] & 0x80, 0, "never masked");
        }
        assert_eq!(&close(1001, "bye")[..], &[0x88, 5, 0x03, 0xE9, b'b', b'y', b'e']);
    }

    #[test]
    fn reads_headers_of_every_length_and_unmasks_from_any_offset() {
        for len in [0, 1, 7, 8, 9, 125, 126, 1000, 65535, 65536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let wire = client_frame(true, opcode::BINARY, &payload);
            let header = wire.len() - len;
            assert!(matches!(Head::parse(&wire[..header - 1], false), Ok(Parsed::Need(n)) if n <= header));
            let Ok(Parsed::Head(head, size)) = Head::parse(&wire, false) else {
                panic!("a whole header for {len}")
            };
            assert_eq!(
                (head.len, size, head.fin, head.opcode),
                (len, header, true, opcode::BINARY)
            );
            // Unmasked in two pieces cut anywhere, as a payload arriving in two reads is.
            let mut body = wire[header..].to_vec();
            let cut = len / 3;
            let (first, second) = body.split_at_mut(cut);
            unmask(first, head.mask, 0);
            unmask(second, head.mask, cut);
            assert_eq!(body, payload);
        }
    }

    #[test]
    fn refuses_headers_a_server_must_not_accept() {
        let cases: [(Vec<u8>, &str); 5] = [
            (vec![0x81, 0x01, b'a'], "client frames must be masked"),
            (client_frame(true, 0x3, b""), "unknown opcode"),
            (
                client_frame(false, opcode::PING, b""),
                "control frames must be whole and short",
            ),
            (
                client_frame(true, opcode::PING, &[0; 126]),
                "control frames must be whole and short",
            ),
            (
                {
                    let mut f = client_frame(true, opcode::TEXT, b"a");
                    f[0] |= 0x40;
                    f
                },
                "reserved bits set",
            ),
        ];
        for (wire, expected) in cases {
            assert_eq!(Head::parse(&wire, false).unwrap_err(), Violation::Protocol(expected));
        }
        // A control frame's length is judged by its value, not by how it is encoded.
        // RSV1 only where permessage-deflate was agreed, and only on a message's first frame.
        let mut compressed = client_frame(true, opcode::BINARY, b"a");
        compressed[0] |= 0x40;
        assert!(matches!(Head::parse(&compressed, true), Ok(Parsed::Head(head, _)) if head.rsv1));
        for (fin, op) in [
            (true, opcode::CONTINUATION),
            (true, opcode::PING),
            (true, opcode::CLOSE),
        ] {
            let mut wire = client_frame(fin, op, b"");
            wire[0] |= 0x40;
            assert_eq!(
                Head::parse(&wire, true).unwrap_err(),
                Violation::Protocol("reserved bits set")
            );
        }
        for bit in [0x20, 0x10] {
            let mut wire = client_frame(true, opcode::TEXT, b"a");
            wire[0] |= bit;
            assert_eq!(
                Head::parse(&wire, true).unwrap_err(),
                Violation::Protocol("reserved bits set")
            );
        }
        let long_encoded = [0x8A, 0xFE, 0, 5, 1, 2, 3, 4];
        assert!(matches!(Head::parse(&long_encoded, false), Ok(Parsed::Head(head, 8)) if head.len == 5));
        let mut huge = vec![0x82, 0xFF];
        huge.extend_from_slice(&(1u64 << 63).to_be_bytes());
        huge.extend_from_slice(&[0; 4]);
        assert_eq!(
            Head::parse(&huge, false).unwrap_err(),
            Violation::Protocol("frame length out of range")
        );
    }
}
