//! What nodes publish to each other: a small, versioned binary envelope.
//!
//! ```text
//! "zk" VERSION(u8) ORIGIN(str) KIND(u8) BODY
//!   KIND 1, a message:  TARGET(u8: 0 all, 1 rooms, 2 clients) NAMES(list) EXCEPT(list)
//!                        COUNT(u8) COUNT x [CODEC(u8: 0 JSON, 1 MessagePack) BYTES(u32 len + bytes)]
//!   KIND 2, a question: ID(u64) QUESTION(u8: 1 room members, 2 locate a client) SUBJECT(str)
//!   KIND 3, an answer:  ID(u64) ANSWER(u8: 1 members, 2 located) then NAMES(list) or FOUND(u8)
//! str  = u32 length + UTF-8; list = u32 count + count x str; integers big-endian.
//! ```
//!
//! A message carries the event already encoded (without any WebSocket header), JSON always and
//! MessagePack when the sender had encoded it anyway, so nothing is encoded again per node or
//! per recipient. A node that reads an unknown version skips it (mixed versions during a rolling
//! deploy fail safe); anything malformed is an error, never a panic.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::fmt;

/// The version this build writes and reads.
pub(crate) const VERSION: u8 = 1;
const MAGIC: &[u8; 2] = b"zk";
/// Codec numbers on the wire (whatever this build's `Codec` has).
const JSON: u8 = 0;
const MSGPACK: u8 = 1;

/// Who a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum To {
    /// Every client.
    All,
    /// Members of these rooms.
    Rooms,
    /// These client ids.
    Clients,
}

/// A message for clients, already encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) to: To,
    /// Room names or client ids (empty for `All`).
    pub(crate) names: Vec<Box<str>>,
    pub(crate) except: Vec<Box<str>>,
    /// The event in JSON (always present when encoded by this version).
    pub(crate) json: Bytes,
    /// The event in MessagePack, when the sender had it.
    pub(crate) msgpack: Option<Bytes>,
}

/// A cluster-wide question a node asks all the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Question {
    /// The ids of a room's members on the node that answers.
    Members(Box<str>),
    /// Whether the node that answers holds this client id.
    Locate(Box<str>),
}

/// One node's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    Members(Vec<Box<str>>),
    Located(bool),
}

/// What travels between nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    Message(Message),
    Question { id: u64, question: Question },
    Answer { id: u64, answer: Answer },
}

/// One publication: who sent it and what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Envelope {
    pub(crate) origin: Box<str>,
    pub(crate) body: Body,
}

/// Why a publication was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unreadable {
    /// Written by another version of zocket (or not zocket at all when the magic is wrong).
    Version(u8),
    /// Cut short or inconsistent.
    Malformed(&'static str),
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Version(v) => write!(f, "envelope version {v}, this node reads version {VERSION}"),
            Self::Malformed(why) => write!(f, "malformed envelope: {why}"),
        }
    }
}

impl Envelope {
    /// The envelope's bytes.
    pub(crate) fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(64 + self.payload_len());
        out.put_slice(MAGIC);
        out.put_u8(VERSION);
        put_str(&mut out, &self.origin);
        match &self.body {
            Body::Message(m) => {
                out.put_u8(1);
                out.put_u8(match m.to {
                    To::All => 0,
                    To::Rooms => 1,
                    To::Clients => 2,
                });
                put_list(&mut out, &m.names);
                put_list(&mut out, &m.except);
                let codecs = [(JSON, Some(&m.json)), (MSGPACK, m.msgpack.as_ref())];
                out.put_u8(codecs.iter().filter(|(_, b)| b.is_some()).count() as u8);
                for (codec, bytes) in codecs {
                    if let Some(bytes) = bytes {
                        out.put_u8(codec);
                        out.put_u32(bytes.len() as u32);
                        out.put_slice(bytes);
                    }
                }
            }
            Body::Question { id, question } => {
                out.put_u8(2);
                out.put_u64(*id);
                let (kind, subject) = match question {
                    Question::Members(room) => (1, room),
                    Question::Locate(client) => (2, client),
                };
                out.put_u8(kind);
                put_str(&mut out, subject);
            }
            Body::Answer { id, answer } => {
                out.put_u8(3);
                out.put_u64(*id);
                match answer {
                    Answer::Members(ids) => {
                        out.put_u8(1);
                        put_list(&mut out, ids);
                    }
                    Answer::Located(found) => {
                        out.put_u8(2);
                        out.put_u8(u8::from(*found));
                    }
                }
            }
        }
        out.freeze()
    }

    fn payload_len(&self) -> usize {
        match &self.body {
            Body::Message(m) => m.json.len() + m.msgpack.as_ref().map_or(0, Bytes::len),
            _ => 0,
        }
    }

    /// Reads an envelope; the encoded events are slices of `bytes`, not copies.
    pub(crate) fn decode(mut bytes: Bytes) -> Result<Self, Unreadable> {
        if bytes.len() < 3 || &bytes[..2] != MAGIC {
            return Err(Unreadable::Malformed("not a zocket envelope"));
        }
        let version = bytes[2];
        if version != VERSION {
            return Err(Unreadable::Version(version));
        }
        bytes.advance(3);
        let b = &mut bytes;
        let origin = get_str(b)?;
        let body = match get_u8(b)? {
            1 => {
                let to = match get_u8(b)? {
                    0 => To::All,
                    1 => To::Rooms,
                    2 => To::Clients,
                    _ => return Err(Unreadable::Malformed("unknown target")),
                };
                let names = get_list(b)?;
                let except = get_list(b)?;
                let (mut json, mut msgpack) = (None, None);
                for _ in 0..get_u8(b)? {
                    let codec = get_u8(b)?;
                    let len = get_u32(b)? as usize;
                    if b.len() < len {
                        return Err(Unreadable::Malformed("cut short"));
                    }
                    let encoded = b.split_to(len);
                    match codec {
                        JSON => json = Some(encoded),
                        MSGPACK => msgpack = Some(encoded),
                        // A codec a later version added: this node's clients cannot speak it.
                        _ => {}
                    }
                }
                let json = json.ok_or(Unreadable::Malformed("no JSON encoding"))?;
                Body::Message(Message {
                    to,
                    names,
                    except,
                    json,
                    msgpack,
                })
            }
            2 => {
                let id = get_u64(b)?;
                let question = match get_u8(b)? {
                    1 => Question::Members(get_str(b)?),
                    2 => Question::Locate(get_str(b)?),
                    _ => return Err(Unreadable::Malformed("unknown question")),
                };
                Body::Question { id, question }
            }
            3 => {
                let id = get_u64(b)?;
                let answer = match get_u8(b)? {
                    1 => Answer::Members(get_list(b)?),
                    2 => Answer::Located(get_u8(b)? != 0),
                    _ => return Err(Unreadable::Malformed("unknown answer")),
                };
                Body::Answer { id, answer }
            }
            _ => return Err(Unreadable::Malformed("unknown kind")),
        };
        if !bytes.is_empty() {
            return Err(Unreadable::Malformed("trailing bytes"));
        }
        Ok(Self { origin, body })
    }
}

fn put_str(out: &mut BytesMut, s: &str) {
    out.put_u32(s.len() as u32);
    out.put_slice(s.as_bytes());
}

fn put_list(out: &mut BytesMut, items: &[Box<str>]) {
    out.put_u32(items.len() as u32);
    for item in items {
        put_str(out, item);
    }
}

fn get_u8(b: &mut Bytes) -> Result<u8, Unreadable> {
    b.try_get_u8().map_err(|_| Unreadable::Malformed("cut short"))
}

fn get_u32(b: &mut Bytes) -> Result<u32, Unreadable> {
    b.try_get_u32().map_err(|_| Unreadable::Malformed("cut short"))
}

fn get_u64(b: &mut Bytes) -> Result<u64, Unreadable> {
    b.try_get_u64().map_err(|_| Unreadable::Malformed("cut short"))
}

fn get_str(b: &mut Bytes) -> Result<Box<str>, Unreadable> {
    let len = get_u32(b)? as usize;
    if b.len() < len {
        return Err(Unreadable::Malformed("cut short"));
    }
    let raw = b.split_to(len);
    std::str::from_utf8(&raw)
        .map(Into::into)
        .map_err(|_| Unreadable::Malformed("a name is not UTF-8"))
}

fn get_list(b: &mut Bytes) -> Result<Vec<Box<str>>, Unreadable> {
    let count = get_u32(b)? as usize;
    // Every entry takes at least its 4-byte length, so a count past that is a lie: refuse it
    // before allocating for it.
    if count > b.len() / 4 {
        return Err(Unreadable::Malformed("cut short"));
    }
    (0..count).map(|_| get_str(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(items: &[&str]) -> Vec<Box<str>> {
        items.iter().map(|s| (*s).into()).collect()
    }

    fn samples() -> Vec<Envelope> {
        let message = Message {
            to: To::Rooms,
            names: names(&["lobby", "ünïcode"]),
            except: names(&["c1"]),
            json: Bytes::from_static(br#"{"type":"a","payload":1}"#),
            msgpack: Some(Bytes::from_static(b"\x82\xa4type")),
        };
        let bodies = [
            Body::Message(message.clone()),
            Body::Message(Message {
                to: To::All,
                names: vec![],
                msgpack: None,
                ..message
            }),
            Body::Question {
                id: 7,
                question: Question::Members("lobby".into()),
            },
            Body::Question {
                id: u64::MAX,
                question: Question::Locate("c9".into()),
            },
            Body::Answer {
                id: 7,
                answer: Answer::Members(names(&["a", "b"])),
            },
            Body::Answer {
                id: 8,
                answer: Answer::Located(true),
            },
        ];
        bodies
            .into_iter()
            .map(|body| Envelope {
                origin: "node-1".into(),
                body,
            })
            .collect()
    }

    #[test]
    fn every_kind_round_trips() {
        for envelope in samples() {
            assert_eq!(Envelope::decode(envelope.encode()), Ok(envelope));
        }
    }

    #[test]
    fn another_version_is_refused_by_its_number() {
        let mut bytes = samples()[0].encode().to_vec();
        bytes[2] = 2;
        assert_eq!(Envelope::decode(bytes.into()), Err(Unreadable::Version(2)));
    }

    #[test]
    fn every_truncation_and_garbage_is_an_error_not_a_panic() {
        for envelope in samples() {
            let bytes = envelope.encode();
            for cut in 0..bytes.len() {
                assert!(Envelope::decode(bytes.slice(..cut)).is_err(), "cut at {cut}");
            }
            let mut longer = bytes.to_vec();
            longer.push(0);
            assert!(Envelope::decode(longer.into()).is_err());
        }
        assert!(Envelope::decode(Bytes::from_static(b"hello world")).is_err());
        // A list that claims four billion entries is refused before anything is allocated.
        let mut huge = b"zk\x01\x00\x00\x00\x01n\x01\x01\xff\xff\xff\xff".to_vec();
        huge.extend_from_slice(&[0; 8]);
        assert_eq!(Envelope::decode(huge.into()), Err(Unreadable::Malformed("cut short")));
    }
}
