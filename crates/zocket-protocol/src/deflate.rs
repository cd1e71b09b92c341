//! permessage-deflate (RFC 7692) as bytes in, bytes out: one message's compression and
//! decompression, and the pieces of a `Sec-WebSocket-Extensions` value. The server (for its
//! side of each connection) and the Rust client share it; negotiating is theirs.
//!
//! ```
//! use zocket_protocol::deflate::{Compressor, Decompressor};
//!
//! let message = br#"{"type":"chat","payload":{"text":"hello hello hello hello"}}"#;
//! let compressed = Compressor::new(false, true).compress(message);
//! assert!(compressed.len() < message.len());
//! let inflated = Decompressor::new().inflate(&compressed, 1024).unwrap();
//! assert_eq!(inflated, message);
//! ```

use miniz_oxide::deflate::core::deflate_flags::TDEFL_FORCE_ALL_STATIC_BLOCKS;
use miniz_oxide::deflate::core::{CompressorOxide, create_comp_flags_from_zip_params};
use miniz_oxide::inflate::stream::InflateState;
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};
use std::fmt;

/// The deflate level: 1, the fastest (miniz's greedy parsing). JSON compresses well at it.
const LEVEL: i32 = 1;

/// The four bytes a sender removes from the end of a compressed message (the empty stored
/// block of a sync flush) and the receiver appends back (RFC 7692, section 7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Messages shorter than this are best compressed with deflate's fixed Huffman codes: miniz
/// spends about 15 us building the dynamic codes of a block, several times what compressing a
/// chat message costs, and on a short message the fixed codes are as small (measured on a
/// 150-byte chat message: 2 us instead of 22 us with context takeover, 9 bytes instead of 20).
/// Longer messages get dynamic codes (a third smaller on 16 KiB of JSON).
pub const FIXED_CODES_BELOW: usize = 2048;

/// A deflate compressor for message payloads. With context takeover keep one per connection
/// and direction; without, [`reset`](Self::reset) it before each message.
pub struct Compressor(Box<CompressorOxide>);

impl Compressor {
    /// `narrow`: the peer limited the window (`*_max_window_bits` under 15); `fixed`: fixed
    /// Huffman codes (see [`FIXED_CODES_BELOW`]).
    pub fn new(narrow: bool, fixed: bool) -> Self {
        // RLE (strategy 3): matches of distance 1 only, valid for any window the peer allows.
        // At level 2, not 1: miniz 0.8's fast path (one probe, greedy) ignores the RLE flag and
        // finds matches as far back as 32 KiB (Autobahn 13.3 caught it).
        let (level, strategy) = if narrow { (2, 3) } else { (LEVEL, 0) };
        let mut flags = create_comp_flags_from_zip_params(level, -15, strategy);
        if fixed {
            flags |= TDEFL_FORCE_ALL_STATIC_BLOCKS;
        }
        Self(Box::new(CompressorOxide::new(flags)))
    }

    /// Forgets every message compressed so far.
    pub fn reset(&mut self) {
        self.0.reset();
    }

    /// Deflates `input` with a sync flush and without its last four bytes: a message's payload.
    pub fn compress(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len() / 2 + 64);
        let mut consumed = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(64));
            }
            let len = out.len();
            out.resize(out.capacity(), 0);
            let result =
                miniz_oxide::deflate::stream::deflate(&mut self.0, &input[consumed..], &mut out[len..], MZFlush::Sync);
            consumed += result.bytes_consumed;
            let room = out.len() - len;
            out.truncate(len + result.bytes_written);
            // Done once everything is in and flushed: the flush ends with the tail. miniz can
            // return with all input taken and room left but part of it still in its lookahead,
            // unflushed (Autobahn 12.2.9 and 12.5.*: 64 KiB messages came back 4 KiB short), so
            // room left is not enough. (Compressed data that is not the flush ends in these four
            // bytes at a call boundary with odds of 2^-32; then one more call flushes again,
            // which is still valid.)
            if consumed == input.len() && result.bytes_written < room && out.ends_with(&TAIL) {
                break;
            }
            // Cannot fail with a valid compressor and room in the output; never loop on it.
            if result.status.is_err() {
                break;
            }
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        out
    }
}

impl fmt::Debug for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Compressor")
    }
}

/// Why a compressed message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// It inflates past the limit (close code 1009).
    TooBig,
    /// It is not valid deflate data (close code 1002), with what is wrong.
    Invalid(&'static str),
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooBig => f.write_str("a compressed message inflates past the size limit"),
            Self::Invalid(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for InflateError {}

/// A deflate decompressor for message payloads. With context takeover keep one per
/// connection and direction; without, [`reset`](Self::reset) it before each message.
pub struct Decompressor(Box<InflateState>);

impl Default for Decompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl Decompressor {
    /// The bytes a decompressor holds.
    pub const SIZE: usize = std::mem::size_of::<InflateState>();

    /// A decompressor with a full (32 KiB) window, which inflates data of any window size.
    pub fn new() -> Self {
        Self(InflateState::new_boxed(DataFormat::Raw))
    }

    /// Forgets every message decompressed so far.
    pub fn reset(&mut self) {
        self.0.reset(DataFormat::Raw);
    }

    /// Decompresses one message's payload, refusing as soon as it would pass `max` bytes: at
    /// most `max + 1` bytes are ever allocated for it.
    pub fn inflate(&mut self, payload: &[u8], max: usize) -> Result<Vec<u8>, InflateError> {
        let state = &mut self.0;
        let bound = max.saturating_add(1);
        let mut out: Vec<u8> = Vec::new();
        // The payload, then the tail the sender removed.
        for (part, input) in [payload, &TAIL[..]].into_iter().enumerate() {
            let mut consumed = 0;
            loop {
                if out.len() == out.capacity() {
                    if out.len() >= bound {
                        return Err(InflateError::TooBig);
                    }
                    let want = (out.len() * 2).max(payload.len() * 2).max(256).min(bound);
                    out.reserve_exact(want - out.len());
                }
                let len = out.len();
                let room = out.capacity().min(bound) - len;
                out.resize(len + room, 0);
                let result =
                    miniz_oxide::inflate::stream::inflate(state, &input[consumed..], &mut out[len..], MZFlush::None);
                consumed += result.bytes_consumed;
                out.truncate(len + result.bytes_written);
                if out.len() > max {
                    return Err(InflateError::TooBig);
                }
                match result.status {
                    Ok(MZStatus::StreamEnd) => {
                        // A final block: what follows it in this message must be the tail alone.
                        let rest_is_tail = part == 1 || (consumed == input.len());
                        if !rest_is_tail {
                            return Err(InflateError::Invalid("data after the end of a deflate stream"));
                        }
                        state.reset(DataFormat::Raw);
                        return Ok(out);
                    }
                    Ok(_) | Err(MZError::Buf) => {
                        if consumed == input.len() && result.bytes_written < room {
                            break;
                        }
                        if result.bytes_consumed == 0 && result.bytes_written == 0 && room > 0 {
                            return Err(InflateError::Invalid("invalid compressed data"));
                        }
                    }
                    Err(_) => return Err(InflateError::Invalid("invalid compressed data")),
                }
            }
        }
        if out.capacity() - out.len() > out.len() / 8 + 1024 {
            out.shrink_to_fit();
        }
        Ok(out)
    }
}

impl fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Decompressor")
    }
}

/// The parameters of one `permessage-deflate` element of a `Sec-WebSocket-Extensions` value
/// (`permessage-deflate; client_max_window_bits=10`), as `(name, value)` with quotes removed;
/// `None` if the element is another extension or a value is badly quoted.
///
/// ```
/// let params = zocket_protocol::deflate::params("permessage-deflate; server_max_window_bits=\"10\"").unwrap();
/// assert_eq!(params, [("server_max_window_bits", Some("10"))]);
/// assert!(zocket_protocol::deflate::params("x-webkit-deflate-frame").is_none());
/// ```
pub fn params(element: &str) -> Option<Vec<(&str, Option<&str>)>> {
    let mut parts = split_quoted(element, ';');
    if parts.next().is_none_or(|name| name.trim() != "permessage-deflate") {
        return None;
    }
    parts
        .map(|param| match param.split_once('=') {
            Some((name, value)) => Some((name.trim(), Some(unquote(value.trim())?))),
            None => Some((param.trim(), None)),
        })
        .collect()
}

/// The elements of a `Sec-WebSocket-Extensions` value: split at commas outside quotes.
pub fn elements(value: &str) -> impl Iterator<Item = &str> {
    split_quoted(value, ',')
}

/// A window size: `8` to `15`, digits only, no leading zero (RFC 7692, section 7.1.2).
pub fn window_bits(value: &str) -> Option<u8> {
    if value.starts_with('0') || value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

/// A parameter value as a token or a quoted string (RFC 6455, section 9.1): quotes removed,
/// escapes refused (no valid value needs one).
fn unquote(value: &str) -> Option<&str> {
    match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').filter(|inner| !inner.contains(['"', '\\'])),
        None => Some(value),
    }
}

/// Splits at `separator` outside double quotes.
fn split_quoted(value: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let text = rest?;
        let mut quoted = false;
        for (i, c) in text.char_indices() {
            match c {
                '"' => quoted = !quoted,
                c if c == separator && !quoted => {
                    rest = Some(&text[i + 1..]);
                    return Some(&text[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_alone_and_with_context() {
        let messages: Vec<Vec<u8>> = (0..20)
            .map(|i| {
                format!(
                    r#"{{"type":"chat","payload":{{"n":{i},"text":"{}"}}}}"#,
                    "ab".repeat(i * 300)
                )
                .into_bytes()
            })
            .collect();
        let mut compressor = Compressor::new(false, false);
        let mut decompressor = Decompressor::new();
        for message in &messages {
            let compressed = compressor.compress(message);
            assert!(!compressed.ends_with(&TAIL));
            assert_eq!(&decompressor.inflate(&compressed, 1 << 20).unwrap(), message);
        }
        let mut narrow = Compressor::new(true, true);
        for message in &messages {
            narrow.reset();
            let compressed = narrow.compress(message);
            assert_eq!(&Decompressor::new().inflate(&compressed, 1 << 20).unwrap(), message);
        }
    }

    #[test]
    fn inflating_stops_at_the_limit_and_at_bad_data() {
        let big = vec![b'a'; 100_000];
        let compressed = Compressor::new(false, false).compress(&big);
        assert_eq!(
            Decompressor::new().inflate(&compressed, 99_999),
            Err(InflateError::TooBig)
        );
        assert_eq!(
            Decompressor::new().inflate(&compressed, 100_000).unwrap().len(),
            100_000
        );
        assert!(matches!(
            Decompressor::new().inflate(&[0xff, 0xff, 0xff], 1000),
            Err(InflateError::Invalid(_))
        ));
    }

    #[test]
    fn extension_values_split_outside_quotes() {
        let value = r#"permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits="1,0""#;
        let found: Vec<_> = elements(value).filter_map(params).collect();
        assert_eq!(found[0], [("client_max_window_bits", None)]);
        assert_eq!(found[1], [("server_max_window_bits", Some("1,0"))]);
        assert_eq!(params(r#"permessage-deflate; a="b\"c""#), None);
        assert_eq!(window_bits("10"), Some(10));
        assert_eq!(window_bits("010"), None);
        assert_eq!(window_bits("16"), None);
    }
}
