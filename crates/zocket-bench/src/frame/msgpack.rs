//! The MessagePack codec: the same envelope as JSON, as a map with string keys (what
//! `rmp_serde::to_vec_named` writes), built by hand and read by a small forward walker.

use super::{Frame, Kind, Payload, Value};

/// Builds a frame's MessagePack bytes.
pub(super) fn encode(route: &str, payload: &[(&str, Value<'_>)], rpc_id: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(80);
    put_map(&mut out, if rpc_id.is_some() { 3 } else { 2 });
    put_str(&mut out, "type");
    put_str(&mut out, route);
    put_str(&mut out, "payload");
    put_map(&mut out, payload.len());
    for (key, value) in payload {
        put_str(&mut out, key);
        match *value {
            Value::Str(s) => put_str(&mut out, s),
            Value::Int(n) => put_int(&mut out, n),
            Value::Float(f) => {
                out.push(0xcb);
                out.extend_from_slice(&f.to_be_bytes());
            }
        }
    }
    if let Some(id) = rpc_id {
        put_str(&mut out, "rpcId");
        put_str(&mut out, id);
    }
    out
}

fn put_map(out: &mut Vec<u8>, len: usize) {
    match len {
        0..=15 => out.push(0x80 | len as u8),
        16..=0xffff => {
            out.push(0xde);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdf);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let len = s.len();
    match len {
        0..=31 => out.push(0xa0 | len as u8),
        32..=0xff => out.extend_from_slice(&[0xd9, len as u8]),
        0x100..=0xffff => {
            out.push(0xda);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdb);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
    out.extend_from_slice(s.as_bytes());
}

/// The smallest encoding of an integer, as MessagePack writers do.
fn put_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        let u = n as u64;
        match u {
            0..=0x7f => out.push(u as u8),
            0x80..=0xff => out.extend_from_slice(&[0xcc, u as u8]),
            0x100..=0xffff => {
                out.push(0xcd);
                out.extend_from_slice(&(u as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(0xce);
                out.extend_from_slice(&(u as u32).to_be_bytes());
            }
            _ => {
                out.push(0xcf);
                out.extend_from_slice(&u.to_be_bytes());
            }
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= i8::MIN.into() {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= i16::MIN.into() {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= i32::MIN.into() {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Reads a received frame.
pub(super) fn decode(bytes: &[u8]) -> Option<Frame<'_>> {
    let mut r = Reader { s: bytes, i: 0 };
    let Item::Map(len) = r.item()? else { return None };
    let mut route = None;
    let mut rpc_id = None;
    let mut payload = Payload::default();
    for _ in 0..len {
        let Item::Str(key) = r.value()? else {
            r.value()?;
            continue;
        };
        match key {
            b"payload" => payload = r.payload()?,
            b"type" => route = r.value()?.str(),
            b"rpcId" => rpc_id = r.value()?.str(),
            _ => r.skip()?,
        }
    }
    (r.i == bytes.len()).then_some(Frame {
        kind: Kind::of(route),
        rpc_id,
        payload,
    })
}

/// One MessagePack item; a map or array stands for its header only.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Item<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a [u8]),
    /// An array of this many items.
    Array(usize),
    /// A map of this many pairs.
    Map(usize),
    /// Binary or extension data.
    Opaque,
}

impl<'a> Item<'a> {
    fn str(self) -> Option<&'a [u8]> {
        match self {
            Item::Str(s) => Some(s),
            _ => None,
        }
    }
}

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.s.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(out)
    }

    fn be<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn len8(&mut self) -> Option<usize> {
        Some(self.be::<1>()?[0] as usize)
    }

    fn len16(&mut self) -> Option<usize> {
        Some(u16::from_be_bytes(self.be()?) as usize)
    }

    fn len32(&mut self) -> Option<usize> {
        Some(u32::from_be_bytes(self.be()?) as usize)
    }

    /// Reads one item's header and, for scalars, its data.
    fn item(&mut self) -> Option<Item<'a>> {
        let marker = self.be::<1>()?[0];
        Some(match marker {
            0x00..=0x7f => Item::Int(marker.into()),
            0x80..=0x8f => Item::Map((marker & 0x0f).into()),
            0x90..=0x9f => Item::Array((marker & 0x0f).into()),
            0xa0..=0xbf => Item::Str(self.take((marker & 0x1f).into())?),
            0xc0 => Item::Nil,
            0xc1 => return None,
            0xc2 => Item::Bool(false),
            0xc3 => Item::Bool(true),
            0xc4..=0xc6 => {
                let len = [Self::len8, Self::len16, Self::len32][usize::from(marker - 0xc4)](self)?;
                self.take(len)?;
                Item::Opaque
            }
            0xc7..=0xc9 => {
                let len = [Self::len8, Self::len16, Self::len32][usize::from(marker - 0xc7)](self)?;
                self.take(len.checked_add(1)?)?;
                Item::Opaque
            }
            0xca => Item::Float(f32::from_be_bytes(self.be()?).into()),
            0xcb => Item::Float(f64::from_be_bytes(self.be()?)),
            0xcc => Item::Int(u8::from_be_bytes(self.be()?).into()),
            0xcd => Item::Int(u16::from_be_bytes(self.be()?).into()),
            0xce => Item::Int(u32::from_be_bytes(self.be()?).into()),
            0xcf => Item::Int(i64::try_from(u64::from_be_bytes(self.be()?)).ok()?),
            0xd0 => Item::Int(i8::from_be_bytes(self.be()?).into()),
            0xd1 => Item::Int(i16::from_be_bytes(self.be()?).into()),
            0xd2 => Item::Int(i32::from_be_bytes(self.be()?).into()),
            0xd3 => Item::Int(i64::from_be_bytes(self.be()?)),
            0xd4..=0xd8 => {
                self.take((1usize << (marker - 0xd4)) + 1)?;
                Item::Opaque
            }
            0xd9 => {
                let len = self.len8()?;
                Item::Str(self.take(len)?)
            }
            0xda => {
                let len = self.len16()?;
                Item::Str(self.take(len)?)
            }
            0xdb => {
                let len = self.len32()?;
                Item::Str(self.take(len)?)
            }
            0xdc => Item::Array(self.len16()?),
            0xdd => Item::Array(self.len32()?),
            0xde => Item::Map(self.len16()?),
            0xdf => Item::Map(self.len32()?),
            0xe0..=0xff => Item::Int((marker as i8).into()),
        })
    }

    /// Skips one whole value, containers included.
    fn skip(&mut self) -> Option<()> {
        let mut left = 1usize;
        while left > 0 {
            left -= 1;
            match self.item()? {
                Item::Array(n) => left = left.checked_add(n)?,
                Item::Map(n) => left = left.checked_add(n.checked_mul(2)?)?,
                _ => {}
            }
        }
        Some(())
    }

    /// Reads one whole value; a container's contents are skipped.
    fn value(&mut self) -> Option<Item<'a>> {
        let item = self.item()?;
        let inner = match item {
            Item::Array(n) => n,
            Item::Map(n) => n.checked_mul(2)?,
            _ => 0,
        };
        for _ in 0..inner {
            self.skip()?;
        }
        Some(item)
    }

    /// Reads the payload value: the fields of a map, or a `true`.
    fn payload(&mut self) -> Option<Payload<'a>> {
        let mut p = Payload::default();
        let start = self.i;
        let Item::Map(len) = self.item()? else {
            self.i = start;
            p.is_true = self.value()? == Item::Bool(true);
            return Some(p);
        };
        for _ in 0..len {
            let key = self.value()?;
            let value = self.value()?;
            match (key, value) {
                (Item::Str(b"seq"), Item::Int(n)) => p.seq = Some(n),
                (Item::Str(b"ts"), Item::Float(f)) => p.ts = Some(f),
                (Item::Str(b"ts"), Item::Int(n)) => p.ts = Some(n as f64),
                (Item::Str(b"data"), Item::Str(s)) => p.data = Some(s),
                _ => {}
            }
        }
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Envelope<P> {
        #[serde(rename = "type")]
        route: String,
        payload: P,
        #[serde(rename = "rpcId", skip_serializing_if = "Option::is_none", default)]
        rpc_id: Option<String>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Echo {
        seq: i64,
        data: String,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct RoomShout {
        room: String,
        ts: f64,
        data: String,
    }

    #[test]
    fn rmp_serde_reads_what_we_build() {
        for seq in [
            0,
            1,
            127,
            128,
            255,
            256,
            65_535,
            65_536,
            4_294_967_296,
            -1,
            -32,
            -33,
            -129,
            -40_000,
            i64::MIN,
        ] {
            let data = "d".repeat(seq.unsigned_abs() as usize % 300);
            let bytes = encode(
                "bench.echo",
                &[("seq", Value::Int(seq)), ("data", Value::Str(&data))],
                Some("42"),
            );
            let back: Envelope<Echo> = rmp_serde::from_slice(&bytes).unwrap();
            assert_eq!(back.route, "bench.echo");
            assert_eq!(back.payload, Echo { seq, data });
            assert_eq!(back.rpc_id.as_deref(), Some("42"));
        }
        let bytes = encode(
            "bench.roomShout",
            &[
                ("room", Value::Str("room1")),
                ("ts", Value::Float(1.25)),
                ("data", Value::Str("room1")),
            ],
            None,
        );
        let back: Envelope<RoomShout> = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back.payload.ts, 1.25);
        assert_eq!(back.rpc_id, None);
        // `ts` is a float64 even when whole.
        let whole = encode("x", &[("ts", Value::Float(3.0))], None);
        assert!(whole.windows(9).any(|w| w[0] == 0xcb && w[1..] == 3.0f64.to_be_bytes()));
    }

    #[test]
    fn we_read_what_rmp_serde_writes() {
        let reply = Envelope {
            route: "__rpc_res".into(),
            payload: Echo {
                seq: 300,
                data: "c2-300".repeat(10),
            },
            rpc_id: Some("300".into()),
        };
        let bytes = rmp_serde::to_vec_named(&reply).unwrap();
        let frame = decode(&bytes).unwrap();
        assert_eq!(frame.kind, Kind::Reply);
        assert_eq!(frame.rpc_id, Some(&b"300"[..]));
        assert_eq!(frame.payload.seq, Some(300));
        assert_eq!(frame.payload.data, Some("c2-300".repeat(10).as_bytes()));

        let shouted = Envelope {
            route: "bench.shouted".into(),
            payload: RoomShout {
                room: "ignored".into(),
                ts: 98765.4321,
                data: "all".into(),
            },
            rpc_id: None,
        };
        let bytes = rmp_serde::to_vec_named(&shouted).unwrap();
        let frame = decode(&bytes).unwrap();
        assert_eq!(frame.kind, Kind::Shouted);
        assert_eq!(frame.payload.ts, Some(98765.4321));
        assert_eq!(frame.payload.data, Some(&b"all"[..]));

        let join = Envelope {
            route: "__rpc_res".into(),
            payload: true,
            rpc_id: Some("j".into()),
        };
        assert!(
            decode(&rmp_serde::to_vec_named(&join).unwrap())
                .unwrap()
                .payload
                .is_true
        );
    }

    #[test]
    fn unknown_members_of_any_shape_are_skipped() {
        #[derive(Serialize)]
        struct Noisy {
            #[serde(rename = "type")]
            route: &'static str,
            extra: (Vec<u8>, Vec<Option<f32>>, std::collections::BTreeMap<&'static str, i8>),
            #[serde(with = "serde_bytes_like")]
            blob: Vec<u8>,
            payload: Echo,
        }
        mod serde_bytes_like {
            pub(super) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(v)
            }
        }
        let noisy = Noisy {
            route: "__rpc_err",
            extra: (vec![1, 2], vec![Some(1.5), None], [("k", -5)].into_iter().collect()),
            blob: vec![0; 300],
            payload: Echo {
                seq: -7,
                data: "x".into(),
            },
        };
        let bytes = rmp_serde::to_vec_named(&noisy).unwrap();
        let frame = decode(&bytes).unwrap();
        assert_eq!(frame.kind, Kind::RpcError);
        assert_eq!(frame.rpc_id, None);
        assert_eq!(frame.payload.seq, Some(-7));
    }

    #[test]
    fn truncated_or_foreign_bytes_are_refused() {
        let bytes = encode("bench.echo", &[("seq", Value::Int(1))], Some("1"));
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
        }
        assert_eq!(decode(&[0xc1]), None);
        assert_eq!(decode(&[0x93, 1, 2, 3]), None);
        assert_eq!(decode(br#"{"type":"x"}"#), None);
    }
}
