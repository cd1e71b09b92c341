//! The frame parser under arbitrary bytes and limits: the same messages and the same close
//! whatever the chunking, and the same as tungstenite's in server role.
//!
//! Input: `[limit low, limit high, chunking, client bytes...]`: the largest message accepted
//! (0 to 65535 bytes) and a seed for the sizes of the reads the bytes arrive in.

use crate::tungstenite::protocol::{Message, Role, WebSocket, WebSocketConfig};
use crate::tungstenite::{Error, error::ProtocolError};
use std::io::{self, Read, Write};
use zocket::transport::{Decoder, Incoming};

/// What the server got from a stream of client bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Every message and control frame but a close, in order: `(opcode, payload)`.
    pub messages: Vec<(u8, Vec<u8>)>,
    /// How it ends.
    pub end: End,
}

/// How a stream ends, as the server answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// More bytes are needed.
    Incomplete,
    /// The client closed; the reply carries this code (none: an empty close frame).
    Closed(Option<u16>),
    /// The server fails the connection with this close code.
    Failed(u16),
}

impl End {
    /// The close frame the server sends, if any: its code, `Some(None)` for an empty one.
    fn reply(self) -> Option<Option<u16>> {
        match self {
            Self::Incomplete => None,
            Self::Closed(code) => Some(code),
            Self::Failed(code) => Some(Some(code)),
        }
    }
}

/// Zero bytes added to complete a frame that tungstenite is still waiting for when the decoder
/// has already failed it (more than any frame a 16-bit limit allows).
const PAD: usize = 70_000;

/// tungstenite's frame size limit: without one it reserves whatever length a header declares
/// (and aborts on 2^62). Checked from the header before its other rules.
const TUNGSTENITE_MAX_FRAME: usize = 1 << 20;

/// Runs every check on one input; panics on a disagreement.
pub fn check(data: &[u8]) {
    let [low, high, chunking, ref wire @ ..] = *data else {
        return;
    };
    let max = usize::from(u16::from_le_bytes([low, high]));
    let whole = ours(wire, max, &mut std::iter::once(wire.len()));
    let chunked = ours(wire, max, &mut chunks(chunking));
    assert_eq!(
        whole, chunked,
        "the same bytes in reads of other sizes (chunking {chunking})"
    );
    let theirs = tungstenite(wire, max);
    if whole == theirs {
        return;
    }
    let differs = || format!("zocket: {whole:?}\ntungstenite: {theirs:?}");
    assert_eq!(whole.messages, theirs.messages, "{}", differs());
    // A frame declaring more than tungstenite's frame limit: its size check comes first, the
    // decoder's protocol rules (masking, order, control frames, length range) before its size.
    let size_first = |wire: &[u8]| pending_frame_len(wire).is_some_and(|len| len > TUNGSTENITE_MAX_FRAME as u64);
    match (whole.end, theirs.end) {
        // The decoder fails a frame from its header, or from the first bad bytes of its
        // payload; tungstenite waits for the whole frame. Given the rest, it must agree.
        (End::Failed(code), End::Incomplete) => {
            let wire = complete(wire);
            let padded = tungstenite(&wire, max);
            assert_eq!(padded.messages, whole.messages, "{}", differs());
            assert!(
                matches!(padded.end, End::Incomplete)
                    || padded.end == End::Failed(code)
                    || (padded.end == End::Failed(1009) && size_first(&wire)),
                "once the frame is complete tungstenite ends with {:?}\n{}",
                padded.end,
                differs()
            );
        }
        (End::Failed(1002), End::Failed(1009)) if size_first(wire) => {}
        // 1014 (Bad Gateway) is registered with IANA; tungstenite 0.29 does not know it and
        // answers 1002.
        (End::Closed(Some(1014)), End::Closed(Some(1002))) => {}
        _ => assert_eq!(whole.end.reply(), theirs.end.reply(), "{}", differs()),
    }
}

/// Where the first frame not whole in `wire` starts, if one is cut.
fn pending_frame(wire: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    while at < wire.len() {
        let end = match pending_header(&wire[at..]) {
            Ok((header, len)) => ((at + header) as u64).saturating_add(len),
            Err(()) => return Some(at),
        };
        if end > wire.len() as u64 {
            return Some(at);
        }
        at = end as usize;
    }
    None
}

/// The header length and declared payload length of the frame `frame` starts with, from the
/// header alone; `Err` if the header is cut.
fn pending_header(frame: &[u8]) -> Result<(usize, u64), ()> {
    let second = *frame.get(1).ok_or(())?;
    let (len, extended) = match second & 0x7F {
        126 => (
            u64::from(u16::from_be_bytes(frame.get(2..4).ok_or(())?.try_into().unwrap())),
            2,
        ),
        127 => (u64::from_be_bytes(frame.get(2..10).ok_or(())?.try_into().unwrap()), 8),
        short => (u64::from(short), 0),
    };
    let header = 2 + extended + if second & 0x80 != 0 { 4 } else { 0 };
    if frame.len() < header {
        return Err(());
    }
    Ok((header, len))
}

/// The length the first frame not whole in `wire` declares, if its header is there.
fn pending_frame_len(wire: &[u8]) -> Option<u64> {
    pending_header(&wire[pending_frame(wire)?..]).ok().map(|(_, len)| len)
}

/// `wire` with its last frame completed: a cut header finished with the fewest assumptions (a
/// masked empty frame; an extended length that needed its encoding; a zero mask), then
/// [`PAD`] zero bytes of payload.
fn complete(wire: &[u8]) -> Vec<u8> {
    let mut wire = wire.to_vec();
    if let Some(at) = pending_frame(&wire) {
        if wire.len() == at + 1 {
            wire.push(0x80);
        }
        let extended = match wire[at + 1] & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let present = wire.len() - (at + 2);
        if present < extended {
            // 0xFF bytes keep a 16-bit length at 255 or more (so it needed 16 bits); a 64-bit
            // one has its top bit clear.
            for i in present..extended {
                wire.push(if extended == 8 && i == 0 { 0x7F } else { 0xFF });
            }
        }
        if wire[at + 1] & 0x80 != 0 {
            let mask_end = at + 2 + extended + 4;
            wire.resize(wire.len().max(mask_end), 0);
        }
    }
    wire.resize(wire.len() + PAD, 0);
    wire
}

/// Read sizes from a seed: all ones for 0, otherwise a repeating pattern of 1 to 64 bytes.
pub(crate) fn chunks(seed: u8) -> impl Iterator<Item = usize> {
    let span = usize::from(seed % 64) + 1;
    let mut state = u32::from(seed) | 1;
    std::iter::repeat_with(move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        1 + state as usize % span
    })
}

/// The decoder fed `wire` in reads of the sizes `sizes` gives.
pub fn ours(wire: &[u8], max: usize, sizes: &mut dyn Iterator<Item = usize>) -> Outcome {
    let mut decoder = Decoder::new(max);
    let mut messages = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        let size = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (read, after) = rest.split_at(size);
        rest = after;
        decoder.feed(read);
        loop {
            let message = match decoder.decode() {
                Ok(Some(message)) => message,
                Ok(None) => break,
                Err(violation) => {
                    assert_eq!(decoder.decode(), Err(violation), "a failed decoder stays failed");
                    return Outcome {
                        messages,
                        end: End::Failed(violation.code()),
                    };
                }
            };
            let (opcode, payload) = match message {
                Incoming::Text(text) => {
                    assert!(std::str::from_utf8(&text).is_ok(), "text is UTF-8");
                    (0x1, text)
                }
                Incoming::Binary(bytes) => (0x2, bytes),
                Incoming::Ping(bytes) => (0x9, bytes),
                Incoming::Pong(bytes) => (0xA, bytes),
                Incoming::Close(code) => {
                    assert!(code.is_none_or(zocket::transport::is_valid_close_code));
                    return Outcome {
                        messages,
                        end: End::Closed(code),
                    };
                }
            };
            assert!(opcode > 2 || payload.len() <= max, "within the limit");
            assert!(opcode < 8 || payload.len() <= 125, "a control frame is short");
            messages.push((opcode, payload.to_vec()));
        }
    }
    Outcome {
        messages,
        end: End::Incomplete,
    }
}

/// tungstenite in server role reading `wire`, with the same message limit.
pub fn tungstenite(wire: &[u8], max: usize) -> Outcome {
    let config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(TUNGSTENITE_MAX_FRAME));
    let mut socket = WebSocket::from_raw_socket(Stream(wire), Role::Server, Some(config));
    let mut messages = Vec::new();
    let end = loop {
        let (opcode, payload) = match socket.read() {
            Ok(Message::Text(text)) => (0x1, text.as_bytes().to_vec()),
            Ok(Message::Binary(bytes)) => (0x2, bytes.to_vec()),
            Ok(Message::Ping(bytes)) => (0x9, bytes.to_vec()),
            Ok(Message::Pong(bytes)) => (0xA, bytes.to_vec()),
            // The frame tungstenite returns is the one it replies with (1002 for a code it
            // does not allow).
            Ok(Message::Close(frame)) => break End::Closed(frame.map(|frame| frame.code.into())),
            Ok(Message::Frame(_)) => unreachable!("raw frames are never read"),
            Err(Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) | Error::Io(_)) => {
                break End::Incomplete;
            }
            Err(Error::Protocol(_)) => break End::Failed(1002),
            Err(Error::Utf8(_)) => break End::Failed(1007),
            Err(Error::Capacity(_)) => break End::Failed(1009),
            Err(other) => panic!("tungstenite: unexpected {other}"),
        };
        messages.push((opcode, payload));
    };
    Outcome { messages, end }
}

/// Client bytes to read; whatever is written (pongs) is dropped.
struct Stream<'a>(&'a [u8]);

impl Read for Stream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Stream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
