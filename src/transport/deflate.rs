//! permessage-deflate (RFC 7692): what a server offers, how an offer is answered, and the
//! compression of messages both ways.
//!
//! Off unless [`Config::compression`](crate::Config::compression) turns it on. With
//! [`no_context_takeover`](Compression::no_context_takeover) (the default) the server answers
//! every offer with `server_no_context_takeover; client_no_context_takeover`: each message is
//! compressed on its own, so a connection keeps no compression state between messages and a
//! message sent to many (a broadcast) is compressed once, its compressed bytes shared by every
//! recipient (see `shared` below). With context takeover each connection keeps a compressor and a
//! decompressor (about 355 KiB together, measured in tests/compression_memory.rs) for as long as it lives.
//!
//! Inflating is bounded: the decompressed size counts against the message limit, and a message
//! that inflates past it fails the connection with 1009 without its output being allocated.

use super::close::Violation;
use super::socket::Pieces;
use crate::Compression;
use axum::http::{HeaderMap, HeaderValue, header};
use bytes::Bytes;
use parking_lot::Mutex;
use std::cell::RefCell;
use std::collections::VecDeque;
use zocket_protocol::deflate::{self as codec, Compressor, Decompressor, FIXED_CODES_BELOW, InflateError};

/// What a server agreed with one client in the opening handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed {
    /// The server compresses each message on its own.
    pub server_no_context_takeover: bool,
    /// The client compresses each message on its own.
    pub client_no_context_takeover: bool,
    /// The client asked the server to use a window of at most 2^this bytes (8 to 15);
    /// `None` when it did not.
    pub server_max_window_bits: Option<u8>,
    /// Messages shorter than this go out uncompressed.
    pub threshold: usize,
}

impl Agreed {
    /// The `Sec-WebSocket-Extensions` value of the response.
    pub fn header(&self) -> HeaderValue {
        let mut value = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            value.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            value.push_str("; client_no_context_takeover");
        }
        if let Some(bits) = self.server_max_window_bits {
            value.push_str(&format!("; server_max_window_bits={bits}"));
        }
        HeaderValue::from_str(&value).expect("ASCII")
    }

    /// Whether the server must not refer further back than its window allows, which miniz
    /// cannot bound: such a connection's messages are compressed with run-length matches only
    /// (distance 1), valid for any window.
    fn narrow(&self) -> bool {
        self.server_max_window_bits.is_some_and(|bits| bits < 15)
    }
}

/// The first permessage-deflate offer in `headers` the server can accept, answered (RFC 7692,
/// sections 5 and 7.1): `None` if there is none. An offer with an unknown parameter, a
/// parameter twice, or a bad value is declined (the next one is tried); the connection goes on
/// without compression.
pub fn negotiate(headers: &HeaderMap, config: &Compression) -> Option<Agreed> {
    let values = headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS);
    values
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(codec::elements)
        .filter_map(codec::params)
        .find_map(|params| accept(params, config))
}

/// Answers one offer's parameters, or declines it.
fn accept(params: Vec<(&str, Option<&str>)>, config: &Compression) -> Option<Agreed> {
    let mut agreed = Agreed {
        server_no_context_takeover: config.no_context_takeover,
        client_no_context_takeover: config.no_context_takeover,
        server_max_window_bits: None,
        threshold: config.threshold,
    };
    let mut seen = [false; 4];
    for (name, value) in params {
        let index = match name {
            "server_no_context_takeover" => 0,
            "client_no_context_takeover" => 1,
            "server_max_window_bits" => 2,
            "client_max_window_bits" => 3,
            _ => return None,
        };
        if std::mem::replace(&mut seen[index], true) {
            return None;
        }
        match (index, value) {
            (0, None) => agreed.server_no_context_takeover = true,
            (1, None) => agreed.client_no_context_takeover = true,
            (2, Some(value)) => agreed.server_max_window_bits = Some(codec::window_bits(value)?),
            // The server decompresses with a full window whatever the client uses, so it never
            // answers with client_max_window_bits; the value, if given, must still be valid.
            (3, None) => {}
            (3, Some(value)) => {
                codec::window_bits(value)?;
            }
            _ => return None,
        }
    }
    Some(agreed)
}

thread_local! {
    /// Compressors for messages compressed on their own, per worker thread: (wide, narrow) x
    /// (dynamic codes, fixed codes).
    static COMPRESSORS: RefCell<[Option<Compressor>; 4]> = const { RefCell::new([None, None, None, None]) };
    /// A decompressor for messages compressed on their own, per worker thread.
    static INFLATER: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
}

/// Compresses `input` on its own (no context), with this thread's compressor.
fn compress_alone(input: &[u8], narrow: bool) -> Vec<u8> {
    COMPRESSORS.with(|cell| {
        let mut compressors = cell.borrow_mut();
        let fixed = input.len() < FIXED_CODES_BELOW;
        let slot = usize::from(narrow) * 2 + usize::from(fixed);
        let compressor = compressors[slot].get_or_insert_with(|| Compressor::new(narrow, fixed));
        compressor.reset();
        compressor.compress(input)
    })
}

pub(crate) mod shared {
    //! Messages compressed without context, shared by every connection that sends them.
    //!
    //! A broadcast reaches each recipient's queue as a clone of the same [`Bytes`]; the first
    //! connection to write it compresses it and leaves the result here, keyed by the message's
    //! address and length, and the others take it. The cache holds a clone of each message it
    //! keys, so the address cannot be reused by another message while the entry lives. Bounded:
    //! [`ENTRIES`] messages of at most [`LARGEST`] bytes each.

    use super::*;

    /// Entries kept.
    pub(crate) const ENTRIES: usize = 64;
    /// The largest message cached; a larger one is compressed by each connection that sends it.
    pub(crate) const LARGEST: usize = 64 * 1024;

    struct Entry {
        message: Bytes,
        narrow: bool,
        /// The compressed payload, or `None` where compressing did not make it shorter.
        compressed: Option<Bytes>,
    }

    static CACHE: Mutex<VecDeque<Entry>> = Mutex::new(VecDeque::new());

    /// `message` compressed on its own, or `None` if that would not make it shorter.
    pub(crate) fn compressed(message: &Bytes, narrow: bool) -> Option<Bytes> {
        if message.len() > LARGEST {
            return shorter(message, narrow);
        }
        let found = CACHE
            .lock()
            .iter()
            .rev()
            .find(|entry| {
                entry.narrow == narrow
                    && entry.message.as_ptr() == message.as_ptr()
                    && entry.message.len() == message.len()
            })
            .map(|entry| entry.compressed.clone());
        if let Some(compressed) = found {
            return compressed;
        }
        let compressed = shorter(message, narrow);
        let mut cache = CACHE.lock();
        if cache.len() >= ENTRIES {
            cache.pop_front();
        }
        cache.push_back(Entry {
            message: message.clone(),
            narrow,
            compressed: compressed.clone(),
        });
        compressed
    }

    fn shorter(message: &[u8], narrow: bool) -> Option<Bytes> {
        let compressed = compress_alone(message, narrow);
        (compressed.len() < message.len()).then(|| Bytes::from(compressed))
    }

    /// How many entries are cached (for tests).
    #[cfg(test)]
    pub(crate) fn len() -> usize {
        CACHE.lock().len()
    }
}

/// The sending half of a connection's permessage-deflate.
pub(crate) struct Deflate {
    agreed: Agreed,
    /// The connection's own compressor, with context takeover; made on first use.
    compressor: Option<Compressor>,
    /// Which messages of the batch being written are compressed.
    marks: Vec<bool>,
}

impl std::fmt::Debug for Deflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflate")
            .field("agreed", &self.agreed)
            .field("compressor", &self.compressor.is_some())
            .finish()
    }
}

impl Deflate {
    pub(crate) fn new(agreed: Agreed) -> Self {
        Self {
            agreed,
            compressor: None,
            marks: Vec::new(),
        }
    }

    /// Swaps each message of `batch` of the threshold or more for its compressed payload, in
    /// order (a compressor with context takeover must see them in the order the client will),
    /// and remembers which for [`is_compressed`](Self::is_compressed).
    pub(crate) fn compress_batch<M: Pieces>(&mut self, batch: &mut [M]) {
        self.marks.clear();
        for message in batch {
            // Frames framed already are never taken for a connection that compresses
            // (`Outbox::take`): its headers could not be marked.
            debug_assert!(!message.framed(), "framed frames on a compressing connection");
            let compressed = if message.framed() || message.len() < self.agreed.threshold {
                None
            } else if let Some(whole) = message.whole() {
                self.outgoing(whole)
            } else {
                // A message changed at its ends for this recipient (a sequence number added):
                // its own bytes, compressed for it alone.
                self.outgoing(&Bytes::from(message.pieces().concat()))
            };
            self.marks.push(compressed.is_some());
            if let Some(payload) = compressed {
                message.replace(payload);
            }
        }
    }

    /// Whether message `i` of the batch [`compress_batch`](Self::compress_batch) saw goes out
    /// compressed (RSV1).
    pub(crate) fn is_compressed(&self, i: usize) -> bool {
        self.marks.get(i).copied().unwrap_or(false)
    }

    /// The payload to send for `message`, and whether it is compressed (RSV1).
    pub(crate) fn outgoing(&mut self, message: &Bytes) -> Option<Bytes> {
        if message.len() < self.agreed.threshold {
            return None;
        }
        let narrow = self.agreed.narrow();
        if self.agreed.server_no_context_takeover {
            return shared::compressed(message, narrow);
        }
        // With context takeover every message from here on is compressed: the client's window
        // must see every byte the compressor saw.
        // Fixed codes: context takeover is for streams of small similar messages (chat), where
        // the context, not the codes, does the work.
        let compressor = self.compressor.get_or_insert_with(|| Compressor::new(narrow, true));
        Some(Bytes::from(compressor.compress(message)))
    }
}

/// The receiving half of a connection's permessage-deflate.
pub(crate) struct Inflate {
    /// Whether the client compresses each message on its own.
    no_context: bool,
    /// The connection's own decompressor, with context takeover; made on first use.
    state: Option<Decompressor>,
}

impl std::fmt::Debug for Inflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflate")
            .field("no_context", &self.no_context)
            .field("state", &self.state.is_some())
            .finish()
    }
}

impl Inflate {
    pub(crate) fn new(agreed: &Agreed) -> Self {
        Self {
            no_context: agreed.client_no_context_takeover,
            state: None,
        }
    }

    /// Decompresses one message's payload, refusing (1009) as soon as it would pass `max`
    /// bytes: at most `max + 1` bytes are ever allocated for it.
    pub(crate) fn inflate(&mut self, payload: &[u8], max: usize) -> Result<Vec<u8>, Violation> {
        if self.no_context {
            INFLATER.with(|cell| {
                let mut cell = cell.borrow_mut();
                let state = cell.get_or_insert_with(Decompressor::new);
                state.reset();
                state.inflate(payload, max).map_err(violation)
            })
        } else {
            let state = self.state.get_or_insert_with(Decompressor::new);
            let inflated = state.inflate(payload, max).map_err(violation);
            if inflated.is_err() {
                // The connection fails; nothing more is decompressed with this state.
                self.state = None;
            }
            inflated
        }
    }

    /// Bytes held between messages.
    pub(crate) fn held(&self) -> usize {
        self.state.as_ref().map_or(0, |_| Decompressor::SIZE)
    }
}

/// The close a refused compressed message gets.
fn violation(error: InflateError) -> Violation {
    match error {
        InflateError::TooBig => Violation::TooBig,
        InflateError::Invalid(what) => Violation::Protocol(what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::SEC_WEBSOCKET_EXTENSIONS, value.parse().unwrap());
        }
        headers
    }

    fn answer(values: &[&str], config: Compression) -> Option<String> {
        negotiate(&headers(values), &config).map(|agreed| agreed.header().to_str().unwrap().to_owned())
    }

    #[test]
    fn offers_are_answered_with_what_the_server_accepts() {
        let shared = Compression::default();
        let takeover = Compression::default().no_context_takeover(false);
        assert_eq!(
            answer(&["permessage-deflate"], shared).as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        );
        assert_eq!(
            answer(&["permessage-deflate"], takeover).as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(
            answer(&["permessage-deflate; client_max_window_bits"], takeover).as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(
            answer(
                &["permessage-deflate; server_no_context_takeover; server_max_window_bits=\"9\""],
                takeover
            )
            .as_deref(),
            Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=9")
        );
        assert_eq!(answer(&["x-webkit-deflate-frame"], takeover), None);
        assert_eq!(answer(&[], takeover), None);
    }

    #[test]
    fn malformed_offers_are_declined_and_the_next_is_tried() {
        let takeover = Compression::default().no_context_takeover(false);
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=abc",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; unknown_parameter",
            "permessage-deflate; server_max_window_bits=\"1\\0\"",
        ] {
            assert_eq!(answer(&[bad], takeover), None, "{bad}");
            // Another offer after it, in the same header or another one, is taken.
            let fallback = format!("{bad}, permessage-deflate; client_no_context_takeover");
            assert_eq!(
                answer(&[&fallback], takeover).as_deref(),
                Some("permessage-deflate; client_no_context_takeover"),
                "{bad}"
            );
            assert_eq!(
                answer(&[bad, "permessage-deflate"], takeover).as_deref(),
                Some("permessage-deflate"),
                "{bad}"
            );
        }
    }

    fn round_trip(agreed: Agreed, messages: &[&[u8]]) {
        let mut deflate = Deflate::new(agreed);
        let mut inflate = Inflate::new(&agreed);
        for message in messages {
            let message = Bytes::copy_from_slice(message);
            match deflate.outgoing(&message) {
                Some(compressed) => assert_eq!(inflate.inflate(&compressed, 1 << 20).unwrap(), message),
                None => assert!(
                    message.len() < agreed.threshold || agreed.server_no_context_takeover,
                    "only below the threshold, or without context, does a message go raw"
                ),
            }
        }
    }

    #[test]
    fn messages_round_trip_with_and_without_context_and_narrow_windows() {
        let json = br#"{"event":"chat.message","data":{"room":"lobby","text":"hello hello hello"}}"#.repeat(20);
        let binary: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let messages: [&[u8]; 4] = [&json, &binary, b"", &json];
        for (server_no_context_takeover, bits) in [(true, None), (false, None), (true, Some(9)), (false, Some(8))] {
            let agreed = Agreed {
                server_no_context_takeover,
                client_no_context_takeover: server_no_context_takeover,
                server_max_window_bits: bits,
                threshold: 0,
            };
            round_trip(agreed, &messages);
        }
    }

    #[test]
    fn context_takeover_makes_a_repeated_message_nearly_free() {
        let agreed = Agreed {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            threshold: 0,
        };
        let mut deflate = Deflate::new(agreed);
        let message = Bytes::from_static(br#"{"event":"chat.message","data":{"text":"the same words again"}}"#);
        let first = deflate.outgoing(&message).unwrap();
        let second = deflate.outgoing(&message).unwrap();
        assert!(second.len() < first.len() / 3, "{} then {}", first.len(), second.len());
    }

    #[test]
    fn a_shared_message_is_compressed_once_and_a_short_one_not_at_all() {
        let agreed = Agreed {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: None,
            threshold: 100,
        };
        let message = Bytes::from(br#"{"event":"news","data":"all of you"}"#.repeat(10));
        let first = Deflate::new(agreed).outgoing(&message).unwrap();
        let second = Deflate::new(agreed).outgoing(&message.clone()).unwrap();
        assert_eq!(first.as_ptr(), second.as_ptr(), "the same compressed bytes");
        assert!(shared::len() >= 1);
        // An equal message in another buffer is compressed again (and gives the same bytes).
        let other = Bytes::from(message.to_vec());
        let third = Deflate::new(agreed).outgoing(&other).unwrap();
        assert_ne!(first.as_ptr(), third.as_ptr());
        assert_eq!(first, third);
        assert_eq!(Deflate::new(agreed).outgoing(&Bytes::from_static(b"short")), None);
        // Incompressible bytes are sent as they are.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        assert_eq!(Deflate::new(agreed).outgoing(&Bytes::from(noise)), None);
    }

    #[test]
    fn large_messages_are_flushed_whole() {
        // Like Autobahn 12.2 (a bitmap): smooth bytes that compress to about a quarter. miniz can
        // take all the input in one call, fill the output, and on the next call return with room
        // left and part of the flush still pending; a compressor that stopped there sent 64 KiB
        // messages 4 KiB short.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut level = 128i32;
        let data: Vec<u8> = (0..300_000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                level = (level + (seed % 5) as i32 - 2).clamp(0, 255);
                level as u8
            })
            .collect();
        for shared in [true, false] {
            let agreed = Agreed {
                server_no_context_takeover: shared,
                client_no_context_takeover: shared,
                server_max_window_bits: None,
                threshold: 0,
            };
            let mut deflate = Deflate::new(agreed);
            let mut inflate = Inflate::new(&agreed);
            let mut compressed = 0;
            for (i, start) in (0..data.len() - 65536).step_by(7919).enumerate() {
                let message = Bytes::copy_from_slice(&data[start..start + 65536]);
                let Some(payload) = deflate.outgoing(&message) else {
                    continue;
                };
                compressed += 1;
                let back = inflate.inflate(&payload, 1 << 20).unwrap();
                assert!(back == message, "message {i} ({shared}): {} bytes of 65536", back.len());
            }
            assert!(compressed > 20, "{compressed} messages compressed");
        }
    }

    #[test]
    fn a_bomb_is_refused_without_allocating_its_size() {
        let agreed = Agreed {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: None,
            threshold: 0,
        };
        let zeros = vec![0u8; 64 << 20];
        let bomb = compress_alone(&zeros, false);
        assert!(
            bomb.len() < (64 << 20) / 200,
            "64 MiB of zeros deflate to {} bytes",
            bomb.len()
        );
        let mut inflate = Inflate::new(&agreed);
        assert_eq!(inflate.inflate(&bomb, 1 << 20), Err(Violation::TooBig));
        // Exactly at the limit is fine.
        let exact = compress_alone(&zeros[..1 << 20], false);
        assert_eq!(inflate.inflate(&exact, 1 << 20).unwrap().len(), 1 << 20);
        assert_eq!(inflate.inflate(&exact, (1 << 20) - 1), Err(Violation::TooBig));
        assert!(matches!(inflate.inflate(&[0xff; 16], 100), Err(Violation::Protocol(_))));
    }
}
