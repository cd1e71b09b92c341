//! What nodes publish to each other: a small, versioned binary envelope.
//!
//! ```text
//! "zk" VERSION(u8) ORIGIN(str) KIND(u8) BODY
//!   KIND 1, a message:  TARGET(u8: 0 all, 1 rooms, 2 clients) NAMES(list) EXCEPT(list)
//!                        MID COUNT(u8) COUNT x [CODEC(u8: 0 JSON, 1 MessagePack) BYTES]
//!   KIND 2, a question: ID(u64) QUESTION(u8) then
//!                        1 room members, 2 locate a client: SUBJECT(str)
//!                        3 claim a session: KEY(16 bytes) SECRET(16 bytes) SEQ(u64) CODEC(u8)
//!   KIND 3, an answer:  ID(u64) ANSWER(u8) then
//!                        1 members: NAMES(list); 2 located: FOUND(u8)
//!                        3 claimed: FOUND(u8) [HANDOVER(u64) CLIENT(str) ROOMS(list)]
//!   KIND 4, a probe:    ID(u64)                                  (to the sender itself)
//!   KIND 5, a marker:   HANDOVER(u64)                            (to the session's holder)
//!   KIND 6, a transfer: HANDOVER(u64) OK(u8) [CLIENT(str) CONTEXT(BYTES) ROOMS(list)
//!                        COUNT(u32) COUNT x [MID BYTES] OLDER(u32 count + count x MID) BEFORE(MID)]
//! str  = u32 length + UTF-8; list = u32 count + count x str; BYTES = u32 length + bytes;
//! MID = NODE(u64) N(u64) (a message id); integers big-endian.
//! ```
//!
//! A message carries the event already encoded (without any WebSocket header), JSON always and
//! MessagePack when the sender had encoded it anyway, so nothing is encoded again per node or
//! per recipient. A node that reads an unknown version skips it (mixed versions during a rolling
//! deploy fail safe); anything malformed is an error, never a panic.

use super::MessageId;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::fmt;

/// The version this build writes and reads.
/// 2: message ids and session handovers (resume across nodes).
pub(crate) const VERSION: u8 = 2;
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
    /// Its id, given where it was sent.
    pub(crate) id: MessageId,
}

/// A cluster-wide question a node asks all the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Question {
    /// The ids of a room's members on the node that answers.
    Members(Box<str>),
    /// Whether the node that answers holds this client id.
    Locate(Box<str>),
    /// Hand over the session of this token, if the node that answers holds it.
    Claim(Claim),
}

/// A resume request for a session another node may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claim {
    /// The token: the key half, then the secret half.
    pub(crate) token: [u8; 32],
    /// The client's `__seq`.
    pub(crate) seen: u64,
    /// The codec of the resuming connection (0 JSON, 1 MessagePack).
    pub(crate) codec: u8,
}

/// The holder's answer to a [`Claim`]: it took the session out of its map for this handover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claimed {
    pub(crate) handover: u64,
    pub(crate) client: Box<str>,
    pub(crate) rooms: Vec<Box<str>>,
}

/// The session itself, from its old node to its new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transfer {
    pub(crate) handover: u64,
    /// `None`: the old node could not hand it over (the new one gives a fresh session).
    pub(crate) session: Option<Moved>,
}

/// What a session is made of, as it moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Moved {
    /// The client's id.
    pub(crate) client: Box<str>,
    /// The context, serialized in JSON.
    pub(crate) context: Bytes,
    pub(crate) rooms: Vec<Box<str>>,
    /// The frames after the client's `__seq`, encoded in the session's codec, with their ids.
    pub(crate) frames: Vec<(MessageId, Bytes)>,
    /// The ids of frames the old node still kept up to `__seq`.
    pub(crate) older: Vec<MessageId>,
    /// The old node's next message id as the client left it: every message it sent with a
    /// smaller one was sent while the client was there (delivered there, or trimmed).
    pub(crate) before: MessageId,
}

/// One node's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    Members(Vec<Box<str>>),
    Located(bool),
    Claimed(Option<Claimed>),
}

/// What travels between nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    Message(Message),
    Question {
        id: u64,
        question: Question,
    },
    Answer {
        id: u64,
        answer: Answer,
    },
    /// Published by a node to itself on a channel, to learn that it is subscribed.
    Probe(u64),
    /// A session's new node is ready: its old node hands it over.
    Marker(u64),
    Transfer(Transfer),
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
                put_id(&mut out, m.id);
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
                match question {
                    Question::Members(room) => {
                        out.put_u8(1);
                        put_str(&mut out, room);
                    }
                    Question::Locate(client) => {
                        out.put_u8(2);
                        put_str(&mut out, client);
                    }
                    Question::Claim(claim) => {
                        out.put_u8(3);
                        out.put_slice(&claim.token);
                        out.put_u64(claim.seen);
                        out.put_u8(claim.codec);
                    }
                }
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
                    Answer::Claimed(claimed) => {
                        out.put_u8(3);
                        out.put_u8(u8::from(claimed.is_some()));
                        if let Some(claimed) = claimed {
                            out.put_u64(claimed.handover);
                            put_str(&mut out, &claimed.client);
                            put_list(&mut out, &claimed.rooms);
                        }
                    }
                }
            }
            Body::Probe(id) => {
                out.put_u8(4);
                out.put_u64(*id);
            }
            Body::Marker(handover) => {
                out.put_u8(5);
                out.put_u64(*handover);
            }
            Body::Transfer(transfer) => {
                out.put_u8(6);
                out.put_u64(transfer.handover);
                out.put_u8(u8::from(transfer.session.is_some()));
                if let Some(moved) = &transfer.session {
                    put_str(&mut out, &moved.client);
                    put_bytes(&mut out, &moved.context);
                    put_list(&mut out, &moved.rooms);
                    out.put_u32(moved.frames.len() as u32);
                    for (id, frame) in &moved.frames {
                        put_id(&mut out, *id);
                        put_bytes(&mut out, frame);
                    }
                    out.put_u32(moved.older.len() as u32);
                    for id in &moved.older {
                        put_id(&mut out, *id);
                    }
                    put_id(&mut out, moved.before);
                }
            }
        }
        out.freeze()
    }

    fn payload_len(&self) -> usize {
        match &self.body {
            Body::Message(m) => m.json.len() + m.msgpack.as_ref().map_or(0, Bytes::len),
            Body::Transfer(Transfer {
                session: Some(moved), ..
            }) => moved.context.len() + moved.frames.iter().map(|(_, f)| 20 + f.len()).sum::<usize>(),
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
                let id = get_id(b)?;
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
                    id,
                })
            }
            2 => {
                let id = get_u64(b)?;
                let question = match get_u8(b)? {
                    1 => Question::Members(get_str(b)?),
                    2 => Question::Locate(get_str(b)?),
                    3 => {
                        if b.len() < 32 {
                            return Err(Unreadable::Malformed("cut short"));
                        }
                        let mut token = [0; 32];
                        b.copy_to_slice(&mut token);
                        let seen = get_u64(b)?;
                        let codec = get_u8(b)?;
                        Question::Claim(Claim { token, seen, codec })
                    }
                    _ => return Err(Unreadable::Malformed("unknown question")),
                };
                Body::Question { id, question }
            }
            3 => {
                let id = get_u64(b)?;
                let answer = match get_u8(b)? {
                    1 => Answer::Members(get_list(b)?),
                    2 => Answer::Located(get_u8(b)? != 0),
                    3 => Answer::Claimed(match get_u8(b)? {
                        0 => None,
                        _ => Some(Claimed {
                            handover: get_u64(b)?,
                            client: get_str(b)?,
                            rooms: get_list(b)?,
                        }),
                    }),
                    _ => return Err(Unreadable::Malformed("unknown answer")),
                };
                Body::Answer { id, answer }
            }
            4 => Body::Probe(get_u64(b)?),
            5 => Body::Marker(get_u64(b)?),
            6 => {
                let handover = get_u64(b)?;
                let session = match get_u8(b)? {
                    0 => None,
                    _ => {
                        let client = get_str(b)?;
                        let context = get_bytes(b)?;
                        let rooms = get_list(b)?;
                        let count = get_u32(b)? as usize;
                        // Every frame takes at least 20 bytes: refuse a larger count unread.
                        if count > b.len() / 20 {
                            return Err(Unreadable::Malformed("cut short"));
                        }
                        let mut frames = Vec::with_capacity(count);
                        for _ in 0..count {
                            frames.push((get_id(b)?, get_bytes(b)?));
                        }
                        let count = get_u32(b)? as usize;
                        if count > b.len() / 16 {
                            return Err(Unreadable::Malformed("cut short"));
                        }
                        let older = (0..count).map(|_| get_id(b)).collect::<Result<_, _>>()?;
                        let before = get_id(b)?;
                        Some(Moved {
                            client,
                            context,
                            rooms,
                            frames,
                            older,
                            before,
                        })
                    }
                };
                Body::Transfer(Transfer { handover, session })
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

fn put_bytes(out: &mut BytesMut, bytes: &[u8]) {
    out.put_u32(bytes.len() as u32);
    out.put_slice(bytes);
}

fn put_id(out: &mut BytesMut, id: MessageId) {
    out.put_u64(id.node);
    out.put_u64(id.n);
}

fn get_bytes(b: &mut Bytes) -> Result<Bytes, Unreadable> {
    let len = get_u32(b)? as usize;
    if b.len() < len {
        return Err(Unreadable::Malformed("cut short"));
    }
    Ok(b.split_to(len))
}

fn get_id(b: &mut Bytes) -> Result<MessageId, Unreadable> {
    Ok(MessageId {
        node: get_u64(b)?,
        n: get_u64(b)?,
    })
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
            id: MessageId { node: 9, n: 1 << 40 },
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
            Body::Question {
                id: 9,
                question: Question::Claim(Claim {
                    token: [7; 32],
                    seen: 12,
                    codec: 1,
                }),
            },
            Body::Answer {
                id: 9,
                answer: Answer::Claimed(None),
            },
            Body::Answer {
                id: 9,
                answer: Answer::Claimed(Some(Claimed {
                    handover: 3,
                    client: "c1".into(),
                    rooms: names(&["lobby"]),
                })),
            },
            Body::Probe(4),
            Body::Marker(5),
            Body::Transfer(Transfer {
                handover: 5,
                session: None,
            }),
            Body::Transfer(Transfer {
                handover: 5,
                session: Some(Moved {
                    client: "c1".into(),
                    context: Bytes::from_static(b"{\"name\":\"x\"}"),
                    rooms: names(&["lobby", "b"]),
                    frames: vec![
                        (MessageId { node: 1, n: 2 }, Bytes::from_static(b"{}")),
                        (MessageId::NONE, Bytes::from_static(b"{\"a\":1}")),
                    ],
                    older: vec![MessageId { node: 3, n: 4 }],
                    before: MessageId { node: 5, n: 6 },
                }),
            }),
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
        bytes[2] = 1;
        assert_eq!(Envelope::decode(bytes.into()), Err(Unreadable::Version(1)));
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
        let mut huge = b"zk\x02\x00\x00\x00\x01n\x01\x01\xff\xff\xff\xff".to_vec();
        huge.extend_from_slice(&[0; 8]);
        assert_eq!(Envelope::decode(huge.into()), Err(Unreadable::Malformed("cut short")));
    }
}
