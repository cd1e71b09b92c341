//! [`Outbound`]: a message as one client's socket writes it, with that client's sequence
//! number added (when resume is on) without copying the shared message.
//!
//! An event is encoded once for all its recipients; each recipient's `seq` differs. So the
//! socket writes the shared bytes with a few bytes changed at their ends: in JSON the closing
//! `}` becomes `,"seq":N}`; in MessagePack the map header counts one more entry and the
//! `seq` entry follows the last one.

use crate::transport::Pieces;
use bytes::Bytes;
use zocket_protocol::Codec;

/// The longest tail: `,"seq":` and 20 digits and `}`.
const TAIL: usize = 28;

/// A message to write: shared bytes, and the small change this recipient's copy needs.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    message: Bytes,
    edit: Edit,
}

/// `Edit::tail_len` of bytes that are whole frames already: nothing changes, and no header is
/// added. A value, not a field of its own, which would take `Outbound` past 64 bytes.
const FRAMED: u8 = u8::MAX;

/// What changes at the ends of a message: its first byte replaced (`head`), its last `cut`
/// bytes dropped, and `tail` appended; or nothing, because the bytes are whole frames already
/// (`tail_len` is [`FRAMED`]).
#[derive(Debug, Clone, Copy, Default)]
struct Edit {
    head: Option<u8>,
    cut: u8,
    tail_len: u8,
    tail: [u8; TAIL],
}

impl Outbound {
    /// The message as it is.
    pub(crate) fn plain(message: Bytes) -> Self {
        Self {
            message,
            edit: Edit::default(),
        }
    }

    /// Frames already framed (headers included), written as they are: the broadcasts a
    /// connection reads from the hub's feed, copied out together instead of each holding a
    /// count on the shared frame (`hub/outbox.rs`).
    pub(crate) fn framed(wire: Bytes) -> Self {
        Self {
            message: wire,
            edit: Edit {
                tail_len: FRAMED,
                ..Edit::default()
            },
        }
    }

    /// The event `message` (encoded with `codec`) with `"seq": seq` added to its top-level map.
    pub(crate) fn sequenced(message: Bytes, codec: Codec, seq: u64) -> Self {
        let mut edit = Edit::default();
        let mut tail = Vec::with_capacity(TAIL);
        match codec {
            Codec::Json => {
                if message.last() != Some(&b'}') {
                    debug_assert!(false, "a JSON event is an object");
                    return Self::plain(message);
                }
                edit.cut = 1;
                tail.extend_from_slice(b",\"seq\":");
                tail.extend_from_slice(seq.to_string().as_bytes());
                tail.push(b'}');
            }
            #[cfg(feature = "msgpack")]
            Codec::MsgPack => {
                // Events are encoded as fixmaps of two entries (`0x82`).
                match message.first() {
                    Some(&first) if (0x80..0x8f).contains(&first) => edit.head = Some(first + 1),
                    _ => {
                        debug_assert!(false, "a MessagePack event is a small map");
                        return Self::plain(message);
                    }
                }
                tail.extend_from_slice(b"\xa3seq");
                msgpack_uint(&mut tail, seq);
            }
            #[allow(unreachable_patterns)]
            _ => return Self::plain(message),
        }
        edit.tail_len = tail.len() as u8;
        edit.tail[..tail.len()].copy_from_slice(&tail);
        Self { message, edit }
    }
}

/// Appends `n` as a MessagePack unsigned integer, in its shortest form.
#[cfg(feature = "msgpack")]
fn msgpack_uint(out: &mut Vec<u8>, n: u64) {
    if n < 0x80 {
        out.push(n as u8);
    } else if let Ok(n) = u8::try_from(n) {
        out.extend_from_slice(&[0xcc, n]);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(0xcd);
        out.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = u32::try_from(n) {
        out.push(0xce);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

impl Pieces for Outbound {
    fn pieces(&self) -> [&[u8]; 3] {
        let edit = &self.edit;
        if edit.tail_len == FRAMED {
            return [&[], &self.message, &[]];
        }
        let skip = usize::from(edit.head.is_some());
        let end = self.message.len() - usize::from(edit.cut);
        let head: &[u8] = match &edit.head {
            Some(byte) => std::slice::from_ref(byte),
            None => &[],
        };
        [head, &self.message[skip..end], &edit.tail[..usize::from(edit.tail_len)]]
    }

    fn framed(&self) -> bool {
        self.edit.tail_len == FRAMED
    }

    fn whole(&self) -> Option<&Bytes> {
        let edit = &self.edit;
        (edit.head.is_none() && edit.cut == 0 && edit.tail_len == 0).then_some(&self.message)
    }

    fn replace(&mut self, payload: Bytes) {
        *self = Self::plain(payload);
    }
}

impl From<Bytes> for Outbound {
    fn from(message: Bytes) -> Self {
        Self::plain(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(outbound: &Outbound) -> Vec<u8> {
        outbound.pieces().concat()
    }

    #[test]
    fn json_events_get_seq_as_their_last_field() {
        let mut out = Vec::new();
        zocket_protocol::json::write_event(&mut out, "chat.message", &serde_json::json!({"text": "hi"})).unwrap();
        let message = Bytes::from(out);
        let one = Outbound::sequenced(message.clone(), Codec::Json, 17);
        assert_eq!(
            written(&one),
            br#"{"type":"chat.message","payload":{"text":"hi"},"seq":17}"#
        );
        assert_eq!(one.len(), written(&one).len());
        let max = Outbound::sequenced(message.clone(), Codec::Json, u64::MAX);
        let value: serde_json::Value = serde_json::from_slice(&written(&max)).unwrap();
        assert_eq!(value["seq"], u64::MAX);
        assert_eq!(written(&Outbound::plain(message.clone())), &message[..]);
    }

    #[test]
    fn a_message_to_write_takes_64_bytes() {
        // A batch holds up to 64 of them, and every pipelined call's reply is one.
        assert_eq!(std::mem::size_of::<Outbound>(), 64);
    }

    /// Sequenced messages of every header size, and runs of frames framed already (one larger
    /// than the write's stack buffer), written through a pipe so small that writes stop inside
    /// headers, shared bytes, tails and framed runs alike, arrive whole and in order.
    #[tokio::test]
    async fn the_socket_writes_sequenced_and_framed_messages_whole() {
        use crate::transport::Socket;
        use crate::transport::frame::{self, FrameBuf, opcode};
        use tokio::io::AsyncReadExt;
        let (mut client, server) = tokio::io::duplex(61);
        let mut socket = Socket::new(server, 100, false);
        let mut batch = Vec::new();
        let mut expected = Vec::new();
        let sizes = (0..100usize).map(|i| i % 9).chain([120, 126, 65_530, 70_000]);
        for (seq, size) in (1u64..).zip(sizes) {
            let mut out = Vec::new();
            zocket_protocol::json::write_event(&mut out, "e", &"x".repeat(size)).unwrap();
            let outbound = Outbound::sequenced(Bytes::from(out), Codec::Json, seq * 977);
            let mut whole = FrameBuf::new();
            whole.payload().extend_from_slice(&written(&outbound));
            expected.extend_from_slice(&whole.finish(opcode::TEXT));
            batch.push(outbound);
            if seq % 7 == 0 || seq == 104 {
                // A run of frames framed already, written as it is (a 20 000-byte one too).
                let mut wire = Vec::new();
                for size in [1, 130, if seq == 104 { 20_000 } else { 3 }] {
                    frame::append(&mut wire, opcode::TEXT, "y".repeat(size).as_bytes());
                }
                expected.extend_from_slice(&wire);
                let framed = Outbound::framed(Bytes::from(wire));
                assert!(framed.framed() && framed.whole().is_none());
                batch.push(framed);
            }
            if seq % 3 == 0 {
                batch.push(Outbound::plain(Bytes::from_static(b"{}")));
                let mut plain = FrameBuf::new();
                plain.payload().extend_from_slice(b"{}");
                expected.extend_from_slice(&plain.finish(opcode::TEXT));
            }
        }
        let reader = tokio::spawn(async move {
            let mut got = vec![0; expected.len()];
            client.read_exact(&mut got).await.unwrap();
            assert!(got == expected, "the bytes on the wire differ");
        });
        socket.write(&mut batch).await.unwrap();
        assert!(batch.is_empty());
        reader.await.unwrap();
    }

    #[cfg(feature = "msgpack")]
    #[test]
    fn msgpack_events_get_a_third_entry() {
        #[derive(serde::Deserialize)]
        struct Event {
            r#type: String,
            payload: serde_json::Value,
            seq: u64,
        }
        let mut out = Vec::new();
        Codec::MsgPack
            .write_event(&mut out, "chat.message", &serde_json::json!({"text": "hi"}))
            .unwrap();
        let message = Bytes::from(out);
        for seq in [
            0,
            1,
            127,
            128,
            255,
            256,
            65_535,
            65_536,
            u64::from(u32::MAX) + 1,
            u64::MAX,
        ] {
            let bytes = written(&Outbound::sequenced(message.clone(), Codec::MsgPack, seq));
            let event: Event = rmp_serde::from_slice(&bytes).unwrap();
            assert_eq!((event.r#type.as_str(), event.seq), ("chat.message", seq));
            assert_eq!(event.payload["text"], "hi");
        }
    }
}
