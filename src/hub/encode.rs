//! A message encoded into bytes of its own.
//!
//! A message is encoded into its thread's buffer, then copied into an allocation of exactly
//! its size. That costs one allocation per message, where encoding straight into a fresh
//! `Vec` cost two: `Bytes` takes a `Vec` with spare capacity only by allocating a reference
//! count beside it (a malloc and a free per reply, 3% of a call).

use super::Message;
use bytes::Bytes;
use std::cell::Cell;
use zocket_protocol::EncodeError;

/// A thread's buffer keeps at most this much memory; a message that needed more leaves with
/// the buffer it grew (and the thread's buffer starts again empty).
const KEPT: usize = 16 * 1024;

thread_local! {
    static BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Encodes one message with `write`.
pub(crate) fn encode(write: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>) -> Result<Message, EncodeError> {
    // Taken out while in use: a message encoded meanwhile (by a `Serialize` that sends) finds
    // the thread's buffer empty and grows one of its own.
    let mut out = BUFFER.try_with(Cell::take).unwrap_or_default();
    out.clear();
    let written = write(&mut out);
    if out.capacity() > KEPT {
        return written.map(|()| owned(out));
    }
    let encoded = written.map(|()| Bytes::copy_from_slice(&out));
    // Gone only in a thread's last destructors.
    let _ = BUFFER.try_with(|buffer| buffer.set(out));
    encoded
}

/// `out` as a message. Queues count a message at its length: what the buffer's doubling left
/// unused is given back.
fn owned(mut out: Vec<u8>) -> Message {
    if out.capacity() - out.len() > out.len() / 8 + 1024 {
        out.shrink_to_fit();
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(message: &[u8]) -> impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError> + '_ {
        move |out| {
            out.extend_from_slice(message);
            Ok(())
        }
    }

    /// The capacity of the thread's buffer.
    fn kept() -> usize {
        BUFFER.with(|buffer| {
            let out = buffer.take();
            let capacity = out.capacity();
            buffer.set(out);
            capacity
        })
    }

    #[test]
    fn each_message_has_its_own_bytes() {
        let first = encode(text(b"first")).unwrap();
        let second = encode(text(b"second")).unwrap();
        assert_eq!((&first[..], &second[..]), (&b"first"[..], &b"second"[..]));
    }

    #[test]
    fn a_large_message_takes_the_buffer_and_the_next_starts_small() {
        let large = vec![7u8; 3 * KEPT];
        assert_eq!(encode(text(&large)).unwrap(), large);
        assert!(kept() <= KEPT);
        assert_eq!(encode(text(b"small")).unwrap(), &b"small"[..]);
    }

    #[test]
    fn an_error_keeps_no_large_buffer() {
        let failed = encode(|out| {
            out.resize(2 * KEPT, 0);
            Err(<serde_json::Error as serde::ser::Error>::custom("no").into())
        });
        assert!(failed.is_err());
        assert!(kept() <= KEPT);
    }

    #[test]
    fn a_message_encoded_while_encoding_another_gets_a_buffer_of_its_own() {
        let outer = encode(|out| {
            out.extend_from_slice(b"outer ");
            let inner = encode(text(b"inner")).unwrap();
            out.extend_from_slice(&inner);
            Ok(())
        })
        .unwrap();
        assert_eq!(outer, &b"outer inner"[..]);
    }
}
