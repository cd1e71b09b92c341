//! The permessage-deflate read path under arbitrary bytes: compressed frames inflate to the
//! same messages whatever the chunking, never past the limit, and never panic; and a message
//! compressed as a client would (sync flush, tail removed, cut into fragments) comes back
//! exactly, or is refused with 1009 when it inflates past the limit.
//!
//! Input: `[limit low, limit high, flags, client bytes...]`: the largest message accepted
//! (0 to 65535 bytes; compressed payloads are inflated against it), and flags: bit 0 context
//! takeover on the client's side, bits 1-7 a seed for the sizes of the reads and fragments.

use crate::frames::chunks;
use crate::miniz_oxide::deflate::core::{CompressorOxide, create_comp_flags_from_zip_params};
use crate::miniz_oxide::{MZFlush, deflate::stream::deflate};
use zocket::transport::{Agreed, Decoder, Incoming};

/// Runs every check on one input; panics on a failure.
pub fn check(data: &[u8]) {
    let [low, high, flags, ref bytes @ ..] = *data else {
        return;
    };
    let max = usize::from(u16::from_le_bytes([low, high]));
    let agreed = Agreed {
        server_no_context_takeover: true,
        client_no_context_takeover: flags & 1 == 0,
        server_max_window_bits: None,
        threshold: 0,
    };
    let seed = flags >> 1;

    // 1. The bytes as frames: compressed ones may be anything (RSV1 set where the fuzzer put
    //    it), so only the decoder's own invariants hold, whole and chunked alike.
    let whole = decode(bytes, max, &agreed, &mut std::iter::once(bytes.len()));
    let chunked = decode(bytes, max, &agreed, &mut chunks(seed));
    assert_eq!(whole, chunked, "the same messages however the bytes arrive");

    // 2. The bytes as a message a client compresses (with a window the server accepts), sent as
    //    fragments: it comes back whole, or 1009 if it is larger than the limit.
    let compressed = compress(bytes);
    let mut wire = Vec::new();
    let mut cuts = chunks(seed);
    let mut rest = &compressed[..];
    let mut first = true;
    loop {
        let size = cuts.next().unwrap_or(rest.len()).min(rest.len());
        let (piece, after) = rest.split_at(size);
        rest = after;
        wire.extend(frame(rest.is_empty(), first, piece));
        first = false;
        if rest.is_empty() {
            break;
        }
    }
    let (messages, end) = decode(&wire, max, &agreed, &mut std::iter::once(wire.len()));
    if bytes.len() <= max {
        assert_eq!(end, None, "a valid compressed message is accepted");
        assert_eq!(messages, [(0x2, bytes.to_vec())], "and inflates to what was sent");
    } else {
        assert_eq!(end, Some(1009), "a message inflating past the limit is refused");
        assert!(messages.is_empty());
    }
}

/// Messages (`(opcode, payload)`) and the close code the decoder fails with, if it does.
type Outcome = (Vec<(u8, Vec<u8>)>, Option<u16>);

fn decode(wire: &[u8], max: usize, agreed: &Agreed, sizes: &mut dyn Iterator<Item = usize>) -> Outcome {
    let mut decoder = Decoder::with_deflate(max, agreed);
    let mut messages = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        let size = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (read, after) = rest.split_at(size);
        rest = after;
        decoder.feed(read);
        loop {
            match decoder.decode() {
                Ok(Some(Incoming::Text(text))) => {
                    assert!(std::str::from_utf8(&text).is_ok(), "text is UTF-8");
                    assert!(text.len() <= max, "within the limit");
                    messages.push((0x1, text.to_vec()));
                }
                Ok(Some(Incoming::Binary(bytes))) => {
                    assert!(bytes.len() <= max, "within the limit");
                    messages.push((0x2, bytes.to_vec()));
                }
                Ok(Some(Incoming::Close(_))) => return (messages, None),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(violation) => return (messages, Some(violation.code())),
            }
        }
    }
    (messages, None)
}

/// Deflates `input` as a browser does: a sync flush, without the last four bytes.
fn compress(input: &[u8]) -> Vec<u8> {
    let mut compressor = Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(6, -15, 0)));
    let mut out = vec![0; input.len() + input.len() / 10 + 1024];
    let result = deflate(&mut compressor, input, &mut out, MZFlush::Sync);
    assert_eq!(result.bytes_consumed, input.len());
    out.truncate(result.bytes_written);
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// A masked client frame: binary (RSV1 set) if `first`, a continuation otherwise.
fn frame(fin: bool, first: bool, payload: &[u8]) -> Vec<u8> {
    let mask = [0xa5, 0x5a, 0x0f, 0xf0];
    let opcode = if first { 0x42 } else { 0x00 };
    let mut out = vec![(u8::from(fin) << 7) | opcode];
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
