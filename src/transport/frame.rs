//! WebSocket frames (RFC 6455, section 5) as a server writes and reads them.
//!
//! A server's frames are never masked, so a frame's wire bytes are the same for every
//! recipient: an outgoing message is framed once and the same [`Bytes`] are written to each.

use bytes::{Buf, Bytes, BytesMut};

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

    /// The whole frame, final, with this opcode.
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

/// Writes the header of a final, unmasked frame with this opcode and `len` payload bytes into
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
    let mut payload = code.to_be_bytes().to_vec();
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    control(opcode::CLOSE, &payload)
}

/// One frame read from a client, unmasked.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) fin: bool,
    pub(crate) opcode: u8,
    pub(crate) payload: BytesMut,
}

/// Why a client's bytes are not acceptable; each maps to a close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation {
    /// Not a valid frame for a server to receive (1002).
    Protocol(&'static str),
    /// Larger than the connection accepts (1009).
    TooBig,
}

/// What [`parse`] found at the front of `buf`.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A whole frame, taken out of the buffer.
    Frame(Frame),
    /// Not enough bytes yet; at least this many in all are needed.
    Need(usize),
}

/// Takes the first frame out of `buf` if it is complete. `max_payload` bounds one data frame's
/// payload, checked from its header before any of it is read.
pub(crate) fn parse(buf: &mut BytesMut, max_payload: usize) -> Result<Parsed, Violation> {
    if buf.len() < 2 {
        return Ok(Parsed::Need(2));
    }
    let (b0, b1) = (buf[0], buf[1]);
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    if b0 & 0x70 != 0 {
        return Err(Violation::Protocol("reserved bits set"));
    }
    if b1 & 0x80 == 0 {
        return Err(Violation::Protocol("client frames must be masked"));
    }
    let is_control = opcode & 0x8 != 0;
    match opcode {
        opcode::CONTINUATION | opcode::TEXT | opcode::BINARY | opcode::CLOSE | opcode::PING | opcode::PONG => {}
        _ => return Err(Violation::Protocol("unknown opcode")),
    }
    let (len, ext) = match b1 & 0x7F {
        126 => {
            if buf.len() < 4 {
                return Ok(Parsed::Need(4));
            }
            (u16::from_be_bytes([buf[2], buf[3]]) as u64, 2)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(Parsed::Need(10));
            }
            let len = u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes"));
            if len >> 63 != 0 {
                return Err(Violation::Protocol("frame length out of range"));
            }
            (len, 8)
        }
        short => (u64::from(short), 0),
    };
    if is_control && (!fin || len > 125) {
        return Err(Violation::Protocol("control frames must be whole and short"));
    }
    if len > max_payload as u64 {
        return Err(Violation::TooBig);
    }
    let header = 2 + ext + 4;
    let total = header + len as usize;
    if buf.len() < total {
        return Ok(Parsed::Need(total));
    }
    let mask: [u8; 4] = buf[header - 4..header].try_into().expect("4 bytes");
    buf.advance(header);
    let mut payload = buf.split_to(len as usize);
    unmask(&mut payload, mask);
    Ok(Parsed::Frame(Frame { fin, opcode, payload }))
}

/// XORs `data` with the client's masking key.
fn unmask(data: &mut [u8], mask: [u8; 4]) {
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
    fn parses_and_unmasks_frames_of_every_length() {
        for len in [0, 1, 7, 8, 9, 125, 126, 1000, 65535, 65536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let wire = client_frame(true, opcode::BINARY, &payload);
            let mut buf = BytesMut::from(&wire[..wire.len() - 1]);
            assert!(matches!(parse(&mut buf, 1 << 20), Ok(Parsed::Need(n)) if n == wire.len()));
            buf.extend_from_slice(&wire[wire.len() - 1..]);
            let Ok(Parsed::Frame(frame)) = parse(&mut buf, 1 << 20) else {
                panic!("a whole frame of {len}")
            };
            assert_eq!(&frame.payload[..], &payload[..]);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn refuses_what_a_server_must_not_accept() {
        let cases: [(Vec<u8>, Violation); 5] = [
            (
                vec![0x81, 0x01, b'a'],
                Violation::Protocol("client frames must be masked"),
            ),
            (client_frame(true, 0x3, b""), Violation::Protocol("unknown opcode")),
            (
                client_frame(false, opcode::PING, b""),
                Violation::Protocol("control frames must be whole and short"),
            ),
            (client_frame(true, opcode::TEXT, &[b'a'; 300]), Violation::TooBig),
            (
                {
                    let mut f = client_frame(true, opcode::TEXT, b"a");
                    f[0] |= 0x40;
                    f
                },
                Violation::Protocol("reserved bits set"),
            ),
        ];
        for (wire, expected) in cases {
            let mut buf = BytesMut::from(&wire[..]);
            assert_eq!(parse(&mut buf, 200).unwrap_err(), expected);
        }
    }
}
